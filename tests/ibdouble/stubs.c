/* Entry points of libibverbs.so.1 that the software HCA does not provide.
 *
 * Debian links perftest and the providers it loads (libmlx5, libefa) with
 * -z now: every symbol they import must exist, under its version node, for
 * the loader to start them at all.  The providers' private entry points
 * (IBVERBS_PRIVATE_34) are never reached, because the double registers no
 * provider and hands out its own contexts; they fail with EOPNOTSUPP if
 * something calls them anyway.  The prototypes are deliberately generic:
 * these functions are only ever resolved, never called with meaning.
 */
#include <errno.h>
#include <stdbool.h>

#define DBL_UNSUPPORTED(name)                                                                      \
	int name(void);                                                                            \
	int name(void)                                                                             \
	{                                                                                          \
		errno = EOPNOTSUPP;                                                                \
		return EOPNOTSUPP;                                                                 \
	}

bool verbs_allow_disassociate_destroy;

DBL_UNSUPPORTED(__verbs_log)
DBL_UNSUPPORTED(_verbs_init_and_alloc_context)
DBL_UNSUPPORTED(execute_ioctl)
DBL_UNSUPPORTED(ibv_cmd_advise_mr)
DBL_UNSUPPORTED(ibv_cmd_alloc_dm)
DBL_UNSUPPORTED(ibv_cmd_alloc_mw)
DBL_UNSUPPORTED(ibv_cmd_alloc_pd)
DBL_UNSUPPORTED(ibv_cmd_attach_mcast)
DBL_UNSUPPORTED(ibv_cmd_close_xrcd)
DBL_UNSUPPORTED(ibv_cmd_create_ah)
DBL_UNSUPPORTED(ibv_cmd_create_counters)
DBL_UNSUPPORTED(ibv_cmd_create_cq_ex)
DBL_UNSUPPORTED(ibv_cmd_create_flow)
DBL_UNSUPPORTED(ibv_cmd_create_flow_action_esp)
DBL_UNSUPPORTED(ibv_cmd_create_qp_ex)
DBL_UNSUPPORTED(ibv_cmd_create_qp_ex2)
DBL_UNSUPPORTED(ibv_cmd_create_rwq_ind_table)
DBL_UNSUPPORTED(ibv_cmd_create_srq)
DBL_UNSUPPORTED(ibv_cmd_create_srq_ex)
DBL_UNSUPPORTED(ibv_cmd_create_wq)
DBL_UNSUPPORTED(ibv_cmd_dealloc_mw)
DBL_UNSUPPORTED(ibv_cmd_dealloc_pd)
DBL_UNSUPPORTED(ibv_cmd_dereg_mr)
DBL_UNSUPPORTED(ibv_cmd_destroy_ah)
DBL_UNSUPPORTED(ibv_cmd_destroy_counters)
DBL_UNSUPPORTED(ibv_cmd_destroy_cq)
DBL_UNSUPPORTED(ibv_cmd_destroy_flow)
DBL_UNSUPPORTED(ibv_cmd_destroy_flow_action)
DBL_UNSUPPORTED(ibv_cmd_destroy_qp)
DBL_UNSUPPORTED(ibv_cmd_destroy_rwq_ind_table)
DBL_UNSUPPORTED(ibv_cmd_destroy_srq)
DBL_UNSUPPORTED(ibv_cmd_destroy_wq)
DBL_UNSUPPORTED(ibv_cmd_detach_mcast)
DBL_UNSUPPORTED(ibv_cmd_free_dm)
DBL_UNSUPPORTED(ibv_cmd_get_context)
DBL_UNSUPPORTED(ibv_cmd_modify_cq)
DBL_UNSUPPORTED(ibv_cmd_modify_flow_action_esp)
DBL_UNSUPPORTED(ibv_cmd_modify_qp)
DBL_UNSUPPORTED(ibv_cmd_modify_qp_ex)
DBL_UNSUPPORTED(ibv_cmd_modify_srq)
DBL_UNSUPPORTED(ibv_cmd_modify_wq)
DBL_UNSUPPORTED(ibv_cmd_open_qp)
DBL_UNSUPPORTED(ibv_cmd_open_xrcd)
DBL_UNSUPPORTED(ibv_cmd_query_context)
DBL_UNSUPPORTED(ibv_cmd_query_device_any)
DBL_UNSUPPORTED(ibv_cmd_query_mr)
DBL_UNSUPPORTED(ibv_cmd_query_port)
DBL_UNSUPPORTED(ibv_cmd_query_qp)
DBL_UNSUPPORTED(ibv_cmd_query_srq)
DBL_UNSUPPORTED(ibv_cmd_read_counters)
DBL_UNSUPPORTED(ibv_cmd_reg_dm_mr)
DBL_UNSUPPORTED(ibv_cmd_reg_dmabuf_mr)
DBL_UNSUPPORTED(ibv_cmd_reg_mr)
DBL_UNSUPPORTED(ibv_cmd_rereg_mr)
DBL_UNSUPPORTED(ibv_cmd_resize_cq)
DBL_UNSUPPORTED(ibv_query_gid_type)
DBL_UNSUPPORTED(verbs_init_cq)
DBL_UNSUPPORTED(verbs_open_device)
DBL_UNSUPPORTED(verbs_set_ops)
DBL_UNSUPPORTED(verbs_uninit_context)
DBL_UNSUPPORTED(ibv_copy_path_rec_from_kern)
DBL_UNSUPPORTED(ibv_copy_path_rec_to_kern)
DBL_UNSUPPORTED(ibv_copy_qp_attr_from_kern)
DBL_UNSUPPORTED(ibv_copy_ah_attr_from_kern)
DBL_UNSUPPORTED(ibv_get_sysfs_path)
DBL_UNSUPPORTED(ibv_read_sysfs_file)
DBL_UNSUPPORTED(ibv_create_ah)
DBL_UNSUPPORTED(ibv_create_ah_from_wc)
DBL_UNSUPPORTED(ibv_destroy_ah)
DBL_UNSUPPORTED(ibv_init_ah_from_wc)
DBL_UNSUPPORTED(ibv_attach_mcast)
DBL_UNSUPPORTED(ibv_detach_mcast)
DBL_UNSUPPORTED(ibv_create_srq)
DBL_UNSUPPORTED(ibv_destroy_srq)
DBL_UNSUPPORTED(ibv_modify_srq)
DBL_UNSUPPORTED(ibv_query_srq)
DBL_UNSUPPORTED(ibv_resize_cq)
DBL_UNSUPPORTED(ibv_rereg_mr)
DBL_UNSUPPORTED(ibv_get_async_event)
DBL_UNSUPPORTED(ibv_resolve_eth_l2_from_gid)
DBL_UNSUPPORTED(ibv_set_ece)
DBL_UNSUPPORTED(ibv_query_ece)

/* Providers call this from their constructors; there is nothing to register
 * with: the double's devices are its own. */
void verbs_register_driver_34(const void *ops);
void verbs_register_driver_34(const void *ops)
{
	(void)ops;
}
