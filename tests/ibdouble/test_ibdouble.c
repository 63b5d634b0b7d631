/* The software HCA against what a real one does: attributes, key and
 * access checks, the QP state machine, data movement, error completions.
 * Linked against the double itself (as libibverbs.so.1). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <infiniband/verbs.h>

#include "wire.h"

#define BUF 65536

struct pair {
	struct ibv_device **list;
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	struct ibv_cq *cq[2];
	struct ibv_qp *qp[2];
	struct ibv_mr *mr[2];
	uint8_t *buf[2];
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Poll one completion, failing the test after 5 s. */
static struct ibv_wc poll_one(struct ibv_cq *cq)
{
	struct ibv_wc wc;
	uint64_t deadline = now_ms() + 5000;
	int n;

	while ((n = ibv_poll_cq(cq, 1, &wc)) == 0 && now_ms() < deadline)
		;
	assert_int_equal(n, 1);
	return wc;
}

static void assert_cq_empty(struct ibv_cq *cq)
{
	struct ibv_wc wc;

	assert_int_equal(ibv_poll_cq(cq, 1, &wc), 0);
}

static int to_init(struct ibv_qp *qp, unsigned access)
{
	struct ibv_qp_attr a = {.qp_state = IBV_QPS_INIT, .port_num = 1, .qp_access_flags = access};

	return ibv_modify_qp(qp, &a,
	                     IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS);
}

static int to_rtr(struct pair *p, int i, uint8_t min_rnr_timer)
{
	struct ibv_qp_attr a = {0};

	a.qp_state = IBV_QPS_RTR;
	a.path_mtu = IBV_MTU_1024;
	a.dest_qp_num = p->qp[1 - i]->qp_num;
	a.rq_psn = 100 + (uint32_t)(1 - i);
	a.max_dest_rd_atomic = 1;
	a.min_rnr_timer = min_rnr_timer;
	a.ah_attr.is_global = 1;
	a.ah_attr.port_num = 1;
	a.ah_attr.grh.sgid_index = 3;
	a.ah_attr.grh.hop_limit = 1;
	assert_int_equal(ibv_query_gid(p->ctx, 1, 3, &a.ah_attr.grh.dgid), 0);
	return ibv_modify_qp(p->qp[i], &a,
	                     IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
	                             IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC |
	                             IBV_QP_MIN_RNR_TIMER);
}

static int to_rts(struct pair *p, int i, uint8_t timeout, uint8_t retry, uint8_t rnr_retry)
{
	struct ibv_qp_attr a = {0};

	a.qp_state = IBV_QPS_RTS;
	a.sq_psn = 100 + (uint32_t)i;
	a.timeout = timeout;
	a.retry_cnt = retry;
	a.rnr_retry = rnr_retry;
	a.max_rd_atomic = 1;
	return ibv_modify_qp(p->qp[i], &a,
	                     IBV_QP_STATE | IBV_QP_SQ_PSN | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT |
	                             IBV_QP_RNR_RETRY | IBV_QP_MAX_QP_RD_ATOMIC);
}

static void pair_create(struct pair *p, int depth, int connect, uint8_t rnr_retry)
{
	struct ibv_qp_init_attr ia = {0};
	unsigned acc = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ;

	memset(p, 0, sizeof(*p));
	p->list = ibv_get_device_list(NULL);
	assert_non_null(p->list);
	p->ctx = ibv_open_device(p->list[0]);
	assert_non_null(p->ctx);
	p->pd = ibv_alloc_pd(p->ctx);
	assert_non_null(p->pd);
	for (int i = 0; i < 2; i++) {
		p->cq[i] = ibv_create_cq(p->ctx, depth * 2, NULL, NULL, 0);
		assert_non_null(p->cq[i]);
		p->buf[i] = calloc(1, BUF);
		p->mr[i] = ibv_reg_mr(p->pd, p->buf[i], BUF, acc);
		assert_non_null(p->mr[i]);
		ia.send_cq = ia.recv_cq = p->cq[i];
		ia.qp_type = IBV_QPT_RC;
		ia.cap.max_send_wr = (uint32_t)depth;
		ia.cap.max_recv_wr = (uint32_t)depth;
		ia.cap.max_send_sge = 2;
		ia.cap.max_recv_sge = 2;
		ia.cap.max_inline_data = 64;
		ia.sq_sig_all = 0;
		p->qp[i] = ibv_create_qp(p->pd, &ia);
		assert_non_null(p->qp[i]);
	}
	if (!connect)
		return;
	for (int i = 0; i < 2; i++)
		assert_int_equal(to_init(p->qp[i], acc), 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(to_rtr(p, i, 1), 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(to_rts(p, i, 14, 7, rnr_retry), 0);
}

/* Connects a pair made with connect 0 for tests of lost requests: the
 * transport retry gives up soon (timeout 1, retry count 2). */
static void pair_connect_short_retry(struct pair *p)
{
	for (int i = 0; i < 2; i++) {
		assert_int_equal(to_init(p->qp[i], IBV_ACCESS_LOCAL_WRITE), 0);
		assert_int_equal(to_rtr(p, i, 1), 0);
		assert_int_equal(to_rts(p, i, 1, 2, 7), 0);
	}
}

static void pair_destroy(struct pair *p)
{
	for (int i = 0; i < 2; i++) {
		assert_int_equal(ibv_destroy_qp(p->qp[i]), 0);
		assert_int_equal(ibv_dereg_mr(p->mr[i]), 0);
		assert_int_equal(ibv_destroy_cq(p->cq[i]), 0);
		free(p->buf[i]);
	}
	assert_int_equal(ibv_dealloc_pd(p->pd), 0);
	assert_int_equal(ibv_close_device(p->ctx), 0);
	ibv_free_device_list(p->list);
}

static int post_send(struct ibv_qp *qp, enum ibv_wr_opcode op, void *addr, uint32_t len,
                     uint32_t lkey, unsigned flags, uint64_t raddr, uint32_t rkey, uint64_t id)
{
	struct ibv_sge sge = {.addr = (uintptr_t)addr, .length = len, .lkey = lkey};
	struct ibv_send_wr wr = {0}, *bad = NULL;

	wr.wr_id = id;
	wr.opcode = op;
	wr.sg_list = &sge;
	wr.num_sge = 1;
	wr.send_flags = flags;
	wr.imm_data = htobe32(0xabcd);
	wr.wr.rdma.remote_addr = raddr;
	wr.wr.rdma.rkey = rkey;
	return ibv_post_send(qp, &wr, &bad);
}

static int post_recv(struct ibv_qp *qp, void *addr, uint32_t len, uint32_t lkey, uint64_t id)
{
	struct ibv_sge sge = {.addr = (uintptr_t)addr, .length = len, .lkey = lkey};
	struct ibv_recv_wr wr = {.wr_id = id, .sg_list = &sge, .num_sge = 1}, *bad = NULL;

	return ibv_post_recv(qp, &wr, &bad);
}

static void ibv_get_device_list__devices_from_environment(void **state)
{
	struct ibv_device **l;
	int n = 0;

	(void)state;
	setenv("IBDOUBLE_DEVICES", "mlx5_0:eth:active:4096:4x_ndr,mlx5_1:ib:down:2048", 1);
	l = ibv_get_device_list(&n);
	assert_int_equal(n, 2);
	assert_string_equal(ibv_get_device_name(l[0]), "mlx5_0");
	assert_string_equal(ibv_get_device_name(l[1]), "mlx5_1");
	assert_null(l[2]);
	ibv_free_device_list(l);
}

static void ibv_query_port__roce_and_ib_ports(void **state)
{
	struct ibv_device **l = ibv_get_device_list(NULL);
	struct ibv_context *c0 = ibv_open_device(l[0]), *c1 = ibv_open_device(l[1]);
	struct ibv_port_attr pa;
	struct ibv_device_attr da;

	(void)state;
	assert_int_equal(ibv_query_port(c0, 1, &pa), 0);
	assert_int_equal(pa.state, IBV_PORT_ACTIVE);
	assert_int_equal(pa.link_layer, IBV_LINK_LAYER_ETHERNET);
	assert_int_equal(pa.active_mtu, IBV_MTU_4096);
	assert_int_equal(pa.active_width, 2);
	assert_int_equal(pa.active_speed, 128);
	assert_int_equal(pa.lid, 0);
	assert_int_equal(pa.gid_tbl_len, 4);
	assert_int_equal(ibv_query_port(c1, 1, &pa), 0);
	assert_int_equal(pa.state, IBV_PORT_DOWN);
	assert_int_equal(pa.link_layer, IBV_LINK_LAYER_INFINIBAND);
	assert_int_equal(pa.active_mtu, IBV_MTU_2048);
	assert_int_equal(pa.lid, 1); /* 127.0.0.1: low 16 bits */
	assert_int_not_equal(ibv_query_port(c0, 2, &pa), 0);
	assert_int_equal(ibv_query_device(c0, &da), 0);
	assert_int_equal(da.phys_port_cnt, 1);
	assert_true(da.max_qp_wr >= 1024);
	assert_int_equal(ibv_close_device(c0), 0);
	assert_int_equal(ibv_close_device(c1), 0);
	ibv_free_device_list(l);
}

static void ibv_query_gid_ex__roce_v2_ipv4_mapped(void **state)
{
	struct ibv_device **l = ibv_get_device_list(NULL);
	struct ibv_context *c = ibv_open_device(l[0]);
	struct ibv_gid_entry e;
	const uint8_t want[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1};

	(void)state;
	assert_int_equal(ibv_query_gid_ex(c, 1, 3, &e, 0), 0);
	assert_int_equal(e.gid_type, IBV_GID_TYPE_ROCE_V2);
	assert_memory_equal(e.gid.raw, want, 16);
	assert_int_equal(ibv_query_gid_ex(c, 1, 2, &e, 0), 0);
	assert_int_equal(e.gid_type, IBV_GID_TYPE_ROCE_V1);
	assert_int_equal(ibv_query_gid_ex(c, 1, 0, &e, 0), 0);
	assert_int_equal(e.gid.raw[0], 0xfe);
	assert_int_not_equal(ibv_query_gid_ex(c, 1, 4, &e, 0), 0);
	assert_int_equal(ibv_close_device(c), 0);
	ibv_free_device_list(l);
}

static void ibv_reg_mr__remote_write_needs_local_write(void **state)
{
	struct ibv_device **l = ibv_get_device_list(NULL);
	struct ibv_context *c = ibv_open_device(l[0]);
	struct ibv_pd *pd = ibv_alloc_pd(c);
	char buf[64];
	struct ibv_mr *mr;

	(void)state;
	errno = 0;
	assert_null(ibv_reg_mr(pd, buf, sizeof(buf), IBV_ACCESS_REMOTE_WRITE));
	assert_int_equal(errno, EINVAL);
	mr = ibv_reg_mr(pd, buf, sizeof(buf), IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE);
	assert_non_null(mr);
	assert_int_equal(ibv_dealloc_pd(pd), EBUSY); /* still has an MR */
	assert_int_equal(ibv_dereg_mr(mr), 0);
	assert_int_equal(ibv_dealloc_pd(pd), 0);
	assert_int_equal(ibv_close_device(c), 0);
	ibv_free_device_list(l);
}

static void ibv_modify_qp__enforces_the_state_machine(void **state)
{
	struct pair p;
	struct ibv_qp_attr a = {.qp_state = IBV_QPS_RTS};

	(void)state;
	pair_create(&p, 8, 0, 7);
	/* RESET -> RTS is not a transition */
	assert_int_equal(ibv_modify_qp(p.qp[0], &a, IBV_QP_STATE), EINVAL);
	/* RESET -> INIT without the access flags */
	a.qp_state = IBV_QPS_INIT;
	a.port_num = 1;
	assert_int_equal(ibv_modify_qp(p.qp[0], &a, IBV_QP_STATE | IBV_QP_PORT), EINVAL);
	/* posting sends in INIT is refused */
	assert_int_equal(to_init(p.qp[0], IBV_ACCESS_LOCAL_WRITE), 0);
	assert_int_equal(to_init(p.qp[1], IBV_ACCESS_LOCAL_WRITE), 0);
	assert_int_equal(post_send(p.qp[0], IBV_WR_SEND, p.buf[0], 8, p.mr[0]->lkey, 0, 0, 0, 1),
	                 EINVAL);
	/* RTR without a GRH on RoCE */
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTR;
	a.path_mtu = IBV_MTU_1024;
	a.dest_qp_num = p.qp[1]->qp_num;
	assert_int_equal(ibv_modify_qp(p.qp[0], &a,
	                               IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU |
	                                       IBV_QP_DEST_QPN | IBV_QP_RQ_PSN |
	                                       IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER),
	                 EINVAL);
	assert_int_equal(to_rtr(&p, 0, 1), 0);
	assert_int_equal(p.qp[0]->state, IBV_QPS_RTR);
	/* RTR -> RTS without the retry counts */
	a.qp_state = IBV_QPS_RTS;
	assert_int_equal(ibv_modify_qp(p.qp[0], &a, IBV_QP_STATE | IBV_QP_SQ_PSN), EINVAL);
	assert_int_equal(to_rts(&p, 0, 14, 7, 7), 0);
	pair_destroy(&p);
}

static void ibv_post_send__send_recv_write_read(void **state)
{
	struct pair p;
	struct ibv_wc wc;

	(void)state;
	pair_create(&p, 16, 1, 7);
	memcpy(p.buf[0], "hello", 5);
	assert_int_equal(post_recv(p.qp[1], p.buf[1], 64, p.mr[1]->lkey, 7), 0);
	assert_int_equal(post_send(p.qp[0], IBV_WR_SEND_WITH_IMM, p.buf[0], 5, p.mr[0]->lkey,
	                           IBV_SEND_SIGNALED, 0, 0, 1),
	                 0);
	wc = poll_one(p.cq[0]);
	assert_int_equal(wc.status, IBV_WC_SUCCESS);
	assert_int_equal(wc.opcode, IBV_WC_SEND);
	assert_int_equal(wc.wr_id, 1);
	wc = poll_one(p.cq[1]);
	assert_int_equal(wc.status, IBV_WC_SUCCESS);
	assert_int_equal(wc.opcode, IBV_WC_RECV);
	assert_int_equal(wc.wr_id, 7);
	assert_int_equal(wc.byte_len, 5);
	assert_true(wc.wc_flags & IBV_WC_WITH_IMM);
	assert_int_equal(be32toh(wc.imm_data), 0xabcd);
	assert_int_equal(wc.src_qp, p.qp[0]->qp_num);
	assert_memory_equal(p.buf[1], "hello", 5);

	/* inline: the buffer may change right after posting */
	memcpy(p.buf[0], "inl", 3);
	assert_int_equal(post_recv(p.qp[1], p.buf[1] + 100, 64, p.mr[1]->lkey, 8), 0);
	assert_int_equal(post_send(p.qp[0], IBV_WR_SEND, p.buf[0], 3, 0,
	                           IBV_SEND_SIGNALED | IBV_SEND_INLINE, 0, 0, 2),
	                 0);
	memset(p.buf[0], 0, 3);
	assert_int_equal(poll_one(p.cq[0]).status, IBV_WC_SUCCESS);
	assert_int_equal(poll_one(p.cq[1]).byte_len, 3);
	assert_memory_equal(p.buf[1] + 100, "inl", 3);
	/* inline above max_inline_data is refused */
	assert_int_equal(post_send(p.qp[0], IBV_WR_SEND, p.buf[0], 65, 0, IBV_SEND_INLINE, 0, 0, 3),
	                 EINVAL);

	/* RDMA write with immediate consumes a receive */
	memset(p.buf[0], 0x5a, 4096);
	assert_int_equal(post_recv(p.qp[1], NULL, 0, 0, 9), 0);
	assert_int_equal(post_send(p.qp[0], IBV_WR_RDMA_WRITE_WITH_IMM, p.buf[0], 4096,
	                           p.mr[0]->lkey, IBV_SEND_SIGNALED, (uintptr_t)p.buf[1] + 8192,
	                           p.mr[1]->rkey, 4),
	                 0);
	wc = poll_one(p.cq[0]);
	assert_int_equal(wc.opcode, IBV_WC_RDMA_WRITE);
	wc = poll_one(p.cq[1]);
	assert_int_equal(wc.opcode, IBV_WC_RECV_RDMA_WITH_IMM);
	assert_int_equal(wc.byte_len, 4096);
	assert_int_equal(p.buf[1][8192], 0x5a);
	assert_int_equal(p.buf[1][8192 + 4095], 0x5a);
	assert_int_equal(p.buf[1][8192 + 4096], 0);

	/* RDMA read back into another place */
	assert_int_equal(post_send(p.qp[0], IBV_WR_RDMA_READ, p.buf[0] + 20000, 4096, p.mr[0]->lkey,
	                           IBV_SEND_SIGNALED, (uintptr_t)p.buf[1] + 8192, p.mr[1]->rkey, 5),
	                 0);
	wc = poll_one(p.cq[0]);
	assert_int_equal(wc.status, IBV_WC_SUCCESS);
	assert_int_equal(wc.opcode, IBV_WC_RDMA_READ);
	assert_int_equal(wc.byte_len, 4096);
	assert_int_equal(p.buf[0][20000 + 4095], 0x5a);
	assert_cq_empty(p.cq[1]);
	pair_destroy(&p);
}

/* A zero-length RDMA write names no memory: its key and address are not
 * checked, so a write with immediate of 0 B to a peer that registered
 * nothing still delivers the immediate. */
static void ibv_post_send__zero_length_write_with_imm_needs_no_rkey(void **state)
{
	struct pair p;
	struct ibv_send_wr wr = {0}, *bad = NULL;
	struct ibv_wc wc;

	(void)state;
	pair_create(&p, 16, 1, 7);
	assert_int_equal(post_recv(p.qp[1], NULL, 0, 0, 11), 0);
	wr.wr_id = 6;
	wr.opcode = IBV_WR_RDMA_WRITE_WITH_IMM;
	wr.num_sge = 0;
	wr.send_flags = IBV_SEND_SIGNALED;
	wr.imm_data = htobe32(42);
	wr.wr.rdma.remote_addr = 0;
	wr.wr.rdma.rkey = 0;
	assert_int_equal(ibv_post_send(p.qp[0], &wr, &bad), 0);
	wc = poll_one(p.cq[0]);
	assert_int_equal(wc.status, IBV_WC_SUCCESS);
	assert_int_equal(wc.opcode, IBV_WC_RDMA_WRITE);
	wc = poll_one(p.cq[1]);
	assert_int_equal(wc.status, IBV_WC_SUCCESS);
	assert_int_equal(wc.opcode, IBV_WC_RECV_RDMA_WITH_IMM);
	assert_int_equal(wc.wr_id, 11);
	assert_int_equal(wc.byte_len, 0);
	assert_int_equal(be32toh(wc.imm_data), 42);
	/* one byte with that key is a remote access error */
	assert_int_equal(post_send(p.qp[0], IBV_WR_RDMA_WRITE, p.buf[0], 1, p.mr[0]->lkey,
	                           IBV_SEND_SIGNALED, 0, 0, 7),
	                 0);
	assert_int_equal(poll_one(p.cq[0]).status, IBV_WC_REM_ACCESS_ERR);
	pair_destroy(&p);
}

static void ibv_post_send__bad_rkey_is_a_remote_access_error_and_flushes(void **state)
{
	struct pair p;
	struct ibv_wc wc;

	(void)state;
	pair_create(&p, 16, 1, 7);
	assert_int_equal(post_recv(p.qp[0], p.buf[0], 64, p.mr[0]->lkey, 70), 0);
	assert_int_equal(post_send(p.qp[0], IBV_WR_RDMA_WRITE, p.buf[0], 8, p.mr[0]->lkey, 0,
	                           (uintptr_t)p.buf[1], p.mr[1]->rkey + 1, 1),
	                 0);
	wc = poll_one(p.cq[0]); /* unsignaled, but errors always complete */
	assert_int_equal(wc.status, IBV_WC_REM_ACCESS_ERR);
	assert_int_equal(wc.wr_id, 1);
	wc = poll_one(p.cq[0]);
	assert_int_equal(wc.status, IBV_WC_WR_FLUSH_ERR);
	assert_int_equal(wc.wr_id, 70);
	assert_int_equal(p.qp[0]->state, IBV_QPS_ERR);
	/* posting in the error state flushes at once */
	assert_int_equal(post_send(p.qp[0], IBV_WR_SEND, p.buf[0], 8, p.mr[0]->lkey, 0, 0, 0, 2),
	                 0);
	assert_int_equal(poll_one(p.cq[0]).status, IBV_WC_WR_FLUSH_ERR);
	pair_destroy(&p);
}

static void ibv_post_send__out_of_range_lkey_is_a_local_protection_error(void **state)
{
	struct pair p;

	(void)state;
	pair_create(&p, 16, 1, 7);
	assert_int_equal(post_recv(p.qp[1], p.buf[1], 64, p.mr[1]->lkey, 1), 0);
	assert_int_equal(post_send(p.qp[0], IBV_WR_SEND, p.buf[0] + BUF - 4, 8, p.mr[0]->lkey,
	                           IBV_SEND_SIGNALED, 0, 0, 1),
	                 0);
	assert_int_equal(poll_one(p.cq[0]).status, IBV_WC_LOC_PROT_ERR);
	assert_cq_empty(p.cq[1]);
	pair_destroy(&p);
}

static void ibv_post_send__receive_too_small_is_a_length_error(void **state)
{
	struct pair p;

	(void)state;
	pair_create(&p, 16, 1, 7);
	assert_int_equal(post_recv(p.qp[1], p.buf[1], 4, p.mr[1]->lkey, 1), 0);
	assert_int_equal(post_send(p.qp[0], IBV_WR_SEND, p.buf[0], 8, p.mr[0]->lkey,
	                           IBV_SEND_SIGNALED, 0, 0, 1),
	                 0);
	assert_int_equal(poll_one(p.cq[0]).status, IBV_WC_REM_INV_REQ_ERR);
	assert_int_equal(poll_one(p.cq[1]).status, IBV_WC_LOC_LEN_ERR);
	pair_destroy(&p);
}

static void ibv_post_send__no_receive_exceeds_rnr_retry(void **state)
{
	struct pair p;

	(void)state;
	pair_create(&p, 16, 1, 1); /* one RNR retry, 10 us apart */
	assert_int_equal(post_send(p.qp[0], IBV_WR_SEND, p.buf[0], 8, p.mr[0]->lkey,
	                           IBV_SEND_SIGNALED, 0, 0, 1),
	                 0);
	assert_int_equal(poll_one(p.cq[0]).status, IBV_WC_RNR_RETRY_EXC_ERR);
	pair_destroy(&p);
}

static void ibv_post_send__rnr_then_late_receive_delivers_in_order(void **state)
{
	struct pair p;
	struct ibv_wc wc;

	(void)state;
	pair_create(&p, 16, 1, 7); /* infinite RNR retry */
	for (int i = 0; i < 3; i++) {
		p.buf[0][i] = (uint8_t)('a' + i);
		assert_int_equal(post_send(p.qp[0], IBV_WR_SEND, p.buf[0] + i, 1, p.mr[0]->lkey,
		                           IBV_SEND_SIGNALED, 0, 0, (uint64_t)i),
		                 0);
	}
	assert_cq_empty(p.cq[0]);
	for (int i = 0; i < 3; i++)
		assert_int_equal(post_recv(p.qp[1], p.buf[1] + i, 1, p.mr[1]->lkey, (uint64_t)i),
		                 0);
	for (int i = 0; i < 3; i++) {
		wc = poll_one(p.cq[0]);
		assert_int_equal(wc.status, IBV_WC_SUCCESS);
		assert_int_equal(wc.wr_id, (uint64_t)i);
		wc = poll_one(p.cq[1]);
		assert_int_equal(wc.wr_id, (uint64_t)i);
	}
	assert_memory_equal(p.buf[1], "abc", 3);
	pair_destroy(&p);
}

static void ibv_post_send__unsignaled_sends_hold_queue_slots(void **state)
{
	struct pair p;

	(void)state;
	pair_create(&p, 4, 1, 7);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(post_recv(p.qp[1], p.buf[1], 64, p.mr[1]->lkey, 1), 0);
		assert_int_equal(
		        post_send(p.qp[0], IBV_WR_SEND, p.buf[0], 8, p.mr[0]->lkey, 0, 0, 0, 1), 0);
	}
	/* all four completed, none signaled: the queue is still full */
	assert_int_equal(post_send(p.qp[0], IBV_WR_SEND, p.buf[0], 8, p.mr[0]->lkey, 0, 0, 0, 1),
	                 ENOMEM);
	pair_destroy(&p);
}

static void ibv_poll_cq__overrun_puts_the_cq_in_error(void **state)
{
	struct pair p;
	struct ibv_wc wc;

	(void)state;
	pair_create(&p, 4, 1, 7); /* CQs of 8 entries */
	for (int i = 0; i < 4; i++)
		assert_int_equal(post_recv(p.qp[1], p.buf[1], 64, p.mr[1]->lkey, 1), 0);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(post_send(p.qp[0], IBV_WR_SEND, p.buf[0], 8, p.mr[0]->lkey,
		                           IBV_SEND_SIGNALED, 0, 0, 1),
		                 0);
		assert_int_equal(post_recv(p.qp[0], p.buf[0], 64, p.mr[0]->lkey, 1), 0);
		assert_int_equal(post_send(p.qp[1], IBV_WR_SEND, p.buf[1], 8, p.mr[1]->lkey,
		                           IBV_SEND_SIGNALED, 0, 0, 1),
		                 0);
	}
	/* cq[0] got 4 send + 4 receive completions: full.  One more overruns. */
	assert_int_equal(post_recv(p.qp[0], p.buf[0], 64, p.mr[0]->lkey, 1), 0);
	assert_int_equal(post_send(p.qp[1], IBV_WR_SEND, p.buf[1], 8, p.mr[1]->lkey, 0, 0, 0, 1),
	                 0);
	assert_true(ibv_poll_cq(p.cq[0], 1, &wc) < 0);
	pair_destroy(&p);
}

/* The same traffic over TCP through this process's own listener, and a
 * lost request found by the transport timeout. */
static void ibv_post_send__over_tcp_and_retry_exceeded(void **state)
{
	struct pair p;
	struct ibv_wc wc;

	(void)state;
	setenv("IBDOUBLE_FORCE_TCP", "1", 1);
	pair_create(&p, 16, 1, 7);
	memset(p.buf[0], 7, BUF);
	assert_int_equal(post_recv(p.qp[1], p.buf[1], BUF, p.mr[1]->lkey, 3), 0);
	assert_int_equal(post_send(p.qp[0], IBV_WR_SEND, p.buf[0], BUF, p.mr[0]->lkey,
	                           IBV_SEND_SIGNALED, 0, 0, 1),
	                 0);
	assert_int_equal(poll_one(p.cq[0]).status, IBV_WC_SUCCESS);
	wc = poll_one(p.cq[1]);
	assert_int_equal(wc.byte_len, BUF);
	assert_int_equal(p.buf[1][BUF - 1], 7);
	pair_destroy(&p);

	setenv("IBDOUBLE_DROP_EVERY", "1", 1);
	setenv("IBDOUBLE_MIN_TIMEOUT_MS", "1", 1);
	pair_create(&p, 16, 0, 7);
	pair_connect_short_retry(&p);
	assert_int_equal(post_recv(p.qp[1], p.buf[1], 64, p.mr[1]->lkey, 3), 0);
	assert_int_equal(post_send(p.qp[0], IBV_WR_SEND, p.buf[0], 8, p.mr[0]->lkey,
	                           IBV_SEND_SIGNALED, 0, 0, 1),
	                 0);
	assert_int_equal(poll_one(p.cq[0]).status, IBV_WC_RETRY_EXC_ERR);
	assert_cq_empty(p.cq[1]);
	pair_destroy(&p);
	unsetenv("IBDOUBLE_DROP_EVERY");
	unsetenv("IBDOUBLE_MIN_TIMEOUT_MS");
	unsetenv("IBDOUBLE_FORCE_TCP");
}


static void wire_request(int fd, uint16_t port, uint32_t qpn, const struct ibv_qp *qp, uint32_t psn,
                         enum ibv_wr_opcode op, uint32_t len, const struct ibv_mr *mr)
{
	struct pkt h = {0};
	uint8_t payload[8] = {0};

	h.magic = DBL_MAGIC;
	h.type = PKT_REQ;
	h.opcode = (uint8_t)op;
	h.src_ip = htonl(INADDR_LOOPBACK);
	h.src_port = port;
	h.src_qpn = qpn;
	h.dst_qpn = qp->qp_num;
	h.psn = psn;
	if (op == IBV_WR_RDMA_READ) {
		h.imm = len; /* the length asked for */
		h.rkey = mr->rkey;
		h.raddr = (uintptr_t)mr->addr;
	} else {
		h.len = sizeof(payload);
	}
	assert_int_equal(write(fd, &h, sizeof(h)), sizeof(h));
	if (h.len)
		assert_int_equal(write(fd, payload, h.len), h.len);
}

/* Read exactly n bytes (into buf, or dropped when buf is NULL). */
static void wire_read(int fd, void *buf, size_t n)
{
	static uint8_t sink[1 << 16];

	while (n) {
		size_t k = buf || n < sizeof(sink) ? n : sizeof(sink);
		ssize_t got = read(fd, buf ? buf : sink, k);

		assert_true(got > 0);
		n -= (size_t)got;
		if (buf)
			buf = (uint8_t *)buf + got;
	}
}

/* Responses leave a responder in PSN order, whatever else is queued on the
 * wire.  The test plays the requester over TCP itself and reads the
 * responder's wire only when it chooses: two RDMA READs (16 MiB, then 48
 * MiB, more than a loopback connection's kernel buffers hold) and a SEND,
 * whose acknowledgement queues behind the second read response; once the
 * first response is read, a second SEND.  Its acknowledgement may not
 * overtake the first one: a requester takes responses in order only (the
 * double's own drops the early one as stale and stalls until its
 * transport timeout). */
static void ibv_post_send__acks_keep_order_behind_read_responses(void **state)
{
	const uint32_t len[2] = {16u << 20, 48u << 20};
	unsigned acc = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);
	struct pkt h;
	struct pair p;
	struct ibv_mr *mr;
	struct ibv_qp_attr a = {0};
	uint8_t *buf;
	uint32_t qpn, psn = 101; /* to_rtr: the responder expects 100 + 1 */
	uint16_t port;
	int lfd, out, in;

	(void)state;
	pair_create(&p, 16, 0, 7);
	buf = malloc(len[0] + len[1]);
	assert_non_null(buf);
	memset(buf, 5, len[0] + len[1]);
	mr = ibv_reg_mr(p.pd, buf, len[0] + len[1], acc);
	assert_non_null(mr);
	/* this test's listener stands for the requester's HCA: its port is in
	 * the QP number the responder is connected to */
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 1), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &sl), 0);
	port = ntohs(sa.sin_port);
	qpn = (uint32_t)port << 8 | 1;
	assert_int_equal(to_init(p.qp[0], acc), 0);
	a.qp_state = IBV_QPS_RTR;
	a.path_mtu = IBV_MTU_1024;
	a.dest_qp_num = qpn;
	a.rq_psn = psn;
	a.max_dest_rd_atomic = 1;
	a.ah_attr.is_global = 1;
	a.ah_attr.port_num = 1;
	a.ah_attr.grh.sgid_index = 3;
	a.ah_attr.grh.hop_limit = 1;
	assert_int_equal(ibv_query_gid(p.ctx, 1, 3, &a.ah_attr.grh.dgid), 0);
	assert_int_equal(ibv_modify_qp(p.qp[0], &a,
	                               IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU |
	                                       IBV_QP_DEST_QPN | IBV_QP_RQ_PSN |
	                                       IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER),
	                 0);
	for (uint64_t id = 1; id <= 2; id++)
		assert_int_equal(post_recv(p.qp[0], p.buf[0], 64, p.mr[0]->lkey, id), 0);
	/* the responder's listener: the high bits of its QP number */
	out = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(out >= 0);
	sa.sin_port = htons((uint16_t)(p.qp[0]->qp_num >> 8));
	assert_int_equal(connect(out, (struct sockaddr *)&sa, sizeof(sa)), 0);
	wire_request(out, port, qpn, p.qp[0], psn, IBV_WR_RDMA_READ, len[0], mr);
	wire_request(out, port, qpn, p.qp[0], psn + 1, IBV_WR_RDMA_READ, len[1], mr);
	wire_request(out, port, qpn, p.qp[0], psn + 2, IBV_WR_SEND, 0, NULL);
	in = accept(lfd, NULL, NULL);
	assert_true(in >= 0);
	wire_read(in, &h, sizeof(h));
	assert_int_equal(h.type, PKT_READ_RESP);
	assert_int_equal(h.psn, psn);
	assert_int_equal(h.len, len[0]);
	wire_read(in, NULL, h.len);
	/* both completions are there once the responder has received the
	 * SENDs; the second SEND arrives while the second read response is
	 * still being written */
	assert_int_equal(poll_one(p.cq[0]).wr_id, 1);
	wire_request(out, port, qpn, p.qp[0], psn + 3, IBV_WR_SEND, 0, NULL);
	assert_int_equal(poll_one(p.cq[0]).wr_id, 2);
	for (uint32_t k = 1; k <= 3; k++) {
		wire_read(in, &h, sizeof(h));
		assert_int_equal(h.psn, psn + k);
		assert_int_equal(h.type, k == 1 ? PKT_READ_RESP : PKT_ACK);
		assert_int_equal(h.syndrome, 0);
		wire_read(in, NULL, h.len);
	}
	close(in);
	close(out);
	close(lfd);
	assert_int_equal(ibv_dereg_mr(mr), 0);
	free(buf);
	pair_destroy(&p);
}

/* IBDOUBLE_DOWN_AFTER: the first request goes through, then the port is
 * DOWN (ibv_query_port says so) and the next request is lost until the
 * transport retry counter runs out. */
static void ibv_post_send__port_goes_down_after_n_requests(void **state)
{
	struct pair p;
	struct ibv_port_attr pa;

	(void)state;
	setenv("IBDOUBLE_DOWN_AFTER", "1", 1);
	setenv("IBDOUBLE_MIN_TIMEOUT_MS", "1", 1);
	pair_create(&p, 16, 0, 7);
	pair_connect_short_retry(&p);
	assert_int_equal(ibv_query_port(p.ctx, 1, &pa), 0);
	assert_int_equal(pa.state, IBV_PORT_ACTIVE);
	assert_int_equal(post_recv(p.qp[1], p.buf[1], 64, p.mr[1]->lkey, 3), 0);
	assert_int_equal(post_recv(p.qp[1], p.buf[1], 64, p.mr[1]->lkey, 4), 0);
	assert_int_equal(post_send(p.qp[0], IBV_WR_SEND, p.buf[0], 8, p.mr[0]->lkey,
	                           IBV_SEND_SIGNALED, 0, 0, 1),
	                 0);
	assert_int_equal(poll_one(p.cq[0]).status, IBV_WC_SUCCESS);
	assert_int_equal(poll_one(p.cq[1]).wr_id, 3);
	assert_int_equal(post_send(p.qp[0], IBV_WR_SEND, p.buf[0], 8, p.mr[0]->lkey,
	                           IBV_SEND_SIGNALED, 0, 0, 2),
	                 0);
	assert_int_equal(ibv_query_port(p.ctx, 1, &pa), 0);
	assert_int_equal(pa.state, IBV_PORT_DOWN);
	assert_int_equal(poll_one(p.cq[0]).status, IBV_WC_RETRY_EXC_ERR);
	assert_cq_empty(p.cq[1]);
	pair_destroy(&p);
	unsetenv("IBDOUBLE_DOWN_AFTER");
	unsetenv("IBDOUBLE_MIN_TIMEOUT_MS");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(ibv_get_device_list__devices_from_environment),
	        cmocka_unit_test(ibv_query_port__roce_and_ib_ports),
	        cmocka_unit_test(ibv_query_gid_ex__roce_v2_ipv4_mapped),
	        cmocka_unit_test(ibv_reg_mr__remote_write_needs_local_write),
	        cmocka_unit_test(ibv_modify_qp__enforces_the_state_machine),
	        cmocka_unit_test(ibv_post_send__send_recv_write_read),
	        cmocka_unit_test(ibv_post_send__zero_length_write_with_imm_needs_no_rkey),
	        cmocka_unit_test(ibv_post_send__bad_rkey_is_a_remote_access_error_and_flushes),
	        cmocka_unit_test(ibv_post_send__out_of_range_lkey_is_a_local_protection_error),
	        cmocka_unit_test(ibv_post_send__receive_too_small_is_a_length_error),
	        cmocka_unit_test(ibv_post_send__no_receive_exceeds_rnr_retry),
	        cmocka_unit_test(ibv_post_send__rnr_then_late_receive_delivers_in_order),
	        cmocka_unit_test(ibv_post_send__unsignaled_sends_hold_queue_slots),
	        cmocka_unit_test(ibv_poll_cq__overrun_puts_the_cq_in_error),
	        cmocka_unit_test(ibv_post_send__over_tcp_and_retry_exceeded),
	        cmocka_unit_test(ibv_post_send__acks_keep_order_behind_read_responses),
	        cmocka_unit_test(ibv_post_send__port_goes_down_after_n_requests),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
