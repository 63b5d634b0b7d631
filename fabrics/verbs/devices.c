/* `fabscope devices`: what libibverbs sees, port by port. */
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include <infiniband/verbs.h>

#include "devices.h"
#include "err.h"
#include "vinfo.h"

static const char *link_layer(uint8_t ll)
{
	return ll == IBV_LINK_LAYER_ETHERNET ? "Ethernet" : "InfiniBand";
}

/* One port as JSON; *active cleared when it is not ACTIVE. */
static json_t *port_json(struct ibv_context *ctx, int port, int *active)
{
	struct ibv_port_attr pa;
	json_t *o = json_object(), *gids = json_array();
	char rate[48];

	if (ibv_query_port(ctx, (uint8_t)port, &pa)) {
		json_object_set_new(o, "port", json_integer(port));
		json_object_set_new(o, "error", json_string(strerror(errno)));
		*active = 0;
		json_decref(gids);
		return o;
	}
	if (pa.state != IBV_PORT_ACTIVE)
		*active = 0;
	vinfo_rate(pa.active_width, pa.active_speed, rate, sizeof(rate));
	json_object_set_new(o, "port", json_integer(port));
	json_object_set_new(o, "state", json_string(ibv_port_state_str(pa.state)));
	json_object_set_new(o, "link_layer", json_string(link_layer(pa.link_layer)));
	json_object_set_new(o, "rate", json_string(rate));
	json_object_set_new(o, "active_mtu", json_integer(vinfo_mtu_bytes(pa.active_mtu)));
	json_object_set_new(o, "max_mtu", json_integer(vinfo_mtu_bytes(pa.max_mtu)));
	json_object_set_new(o, "lid", json_integer(pa.lid));
	for (int i = 0; i < pa.gid_tbl_len; i++) {
		struct ibv_gid_entry e;
		char a[INET6_ADDRSTRLEN];
		json_t *g;

		if (ibv_query_gid_ex(ctx, (uint32_t)port, (uint32_t)i, &e, 0))
			continue;
		inet_ntop(AF_INET6, e.gid.raw, a, sizeof(a));
		g = json_object();
		json_object_set_new(g, "index", json_integer(i));
		json_object_set_new(g, "gid", json_string(a));
		json_object_set_new(g, "type", json_string(vinfo_gid_type(e.gid_type)));
		json_array_append_new(gids, g);
	}
	json_object_set_new(o, "gids", gids);
	return o;
}

static void print_text(json_t *devs)
{
	size_t i, j, k;
	json_t *d, *p, *g;

	json_array_foreach(devs, i, d)
	{
		const char *cpus = json_string_value(json_object_get(d, "local_cpus"));

		printf("%s: firmware %s, NUMA node %lld, nearest cores %s\n",
		       json_string_value(json_object_get(d, "device")),
		       json_string_value(json_object_get(d, "firmware")),
		       json_integer_value(json_object_get(d, "numa_node")),
		       cpus && *cpus ? cpus : "unknown");
		json_array_foreach(json_object_get(d, "ports"), j, p)
		{
			if (json_object_get(p, "error")) {
				printf("  port %lld: cannot query: %s\n",
				       json_integer_value(json_object_get(p, "port")),
				       json_string_value(json_object_get(p, "error")));
				continue;
			}
			printf("  port %lld: %s, %s, %s, MTU %lld (max %lld), LID %lld\n",
			       json_integer_value(json_object_get(p, "port")),
			       json_string_value(json_object_get(p, "state")),
			       json_string_value(json_object_get(p, "link_layer")),
			       json_string_value(json_object_get(p, "rate")),
			       json_integer_value(json_object_get(p, "active_mtu")),
			       json_integer_value(json_object_get(p, "max_mtu")),
			       json_integer_value(json_object_get(p, "lid")));
			json_array_foreach(json_object_get(p, "gids"), k, g)
			        printf("    GID %lld: %-40s %s\n",
			               json_integer_value(json_object_get(g, "index")),
			               json_string_value(json_object_get(g, "gid")),
			               json_string_value(json_object_get(g, "type")));
		}
	}
}

int fsc_devices_main(int argc, char **argv)
{
	int as_json = 0, n = 0, all_active = 1;
	struct ibv_device **list;
	json_t *devs;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			as_json = 1;
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			printf("usage: fabscope devices [--json]\n"
			       "Every RDMA device and port: state, link layer, rate, MTU, LID, "
			       "GIDs "
			       "with type, NUMA node and nearest cores.\n"
			       "Exit status 0 when every port is ACTIVE, 1 otherwise.\n");
			return FSC_EXIT_OK;
		} else {
			fprintf(stderr,
			        "fabscope devices: unknown argument '%s' (expected --json)\n",
			        argv[i]);
			return FSC_EXIT_USAGE;
		}
	}
	list = ibv_get_device_list(&n);
	devs = json_array();
	for (int i = 0; list && i < n; i++) {
		struct ibv_context *ctx = ibv_open_device(list[i]);
		struct ibv_device_attr da;
		json_t *d = json_object(), *ports = json_array();
		char cpus[256];

		vinfo_cpulist(list[i], cpus, sizeof(cpus));
		json_object_set_new(d, "device", json_string(ibv_get_device_name(list[i])));
		json_object_set_new(d, "numa_node", json_integer(vinfo_numa(list[i])));
		json_object_set_new(d, "local_cpus", json_string(cpus));
		if (!ctx || ibv_query_device(ctx, &da)) {
			json_object_set_new(d, "firmware", json_string("?"));
			json_object_set_new(d, "error", json_string(strerror(errno)));
			all_active = 0;
		} else {
			json_object_set_new(d, "firmware", json_string(da.fw_ver));
			for (int p = 1; p <= da.phys_port_cnt; p++)
				json_array_append_new(ports, port_json(ctx, p, &all_active));
		}
		json_object_set_new(d, "ports", ports);
		json_array_append_new(devs, d);
		if (ctx)
			ibv_close_device(ctx);
	}
	if (list)
		ibv_free_device_list(list);
	if (as_json) {
		json_t *top = json_object();

		json_object_set_new(top, "devices", devs);
		json_object_set_new(top, "all_active", json_boolean(n > 0 && all_active));
		json_dumpf(top, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(top);
	} else {
		if (n == 0)
			printf("no RDMA device found\n");
		print_text(devs);
		json_decref(devs);
	}
	return n > 0 && all_active ? FSC_EXIT_OK : FSC_EXIT_FAIL;
}
