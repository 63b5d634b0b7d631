#include "meta.h"

#include <errno.h>
#include <hwloc.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "fsc_version.h"

extern char **environ;

struct placement {
	int32_t core;
	int32_t numa;
	int32_t pid;
	int32_t ncores; /* host's cores (hwloc) */
	int32_t nnuma;
	int32_t nnics;
	int32_t ngpus;
	char nics[128]; /* comma-separated OS device names (network/openfabrics) */
};

static void topo_probe(struct placement *p)
{
	hwloc_topology_t topo;
	hwloc_obj_t obj = 0;
	int cpu = sched_getcpu();
	size_t used = 0;

	p->numa = -1;
	if (hwloc_topology_init(&topo))
		return;
	hwloc_topology_set_io_types_filter(topo, HWLOC_TYPE_FILTER_KEEP_IMPORTANT);
	if (hwloc_topology_load(topo)) {
		hwloc_topology_destroy(topo);
		return;
	}
	p->ncores = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE);
	p->nnuma = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE);
	if (cpu >= 0) {
		hwloc_obj_t pu = hwloc_get_pu_obj_by_os_index(topo, (unsigned)cpu);

		for (hwloc_obj_t o = pu; o; o = o->parent)
			if (o->memory_arity > 0 || o->type == HWLOC_OBJ_NUMANODE) {
				hwloc_obj_t n =
				        o->type == HWLOC_OBJ_NUMANODE ? o : o->memory_first_child;

				if (n)
					p->numa = (int32_t)n->os_index;
				break;
			}
	}
	while ((obj = hwloc_get_next_osdev(topo, obj))) {
		if (obj->attr->osdev.type == HWLOC_OBJ_OSDEV_NETWORK ||
		    obj->attr->osdev.type == HWLOC_OBJ_OSDEV_OPENFABRICS) {
			int n = snprintf(p->nics + used, sizeof(p->nics) - used, "%s%s",
			                 used ? "," : "", obj->name ? obj->name : "?");
			if (n > 0 && used + (size_t)n < sizeof(p->nics))
				used += (size_t)n;
			p->nnics++;
		} else if (obj->attr->osdev.type == HWLOC_OBJ_OSDEV_GPU ||
		           obj->attr->osdev.type == HWLOC_OBJ_OSDEV_COPROC) {
			p->ngpus++;
		}
	}
	hwloc_topology_destroy(topo);
}

static json_t *env_json(void)
{
	static const char *const prefixes[] = {
	        "OMPI_MCA_", "UCX_", "NCCL_", "FSC_", "SLURM_JOB_", "OMPI_COMM_WORLD_SIZE", 0};
	json_t *o = json_object();

	for (char **e = environ; e && *e; e++) {
		const char *eq = strchr(*e, '=');

		if (!eq)
			continue;
		for (int i = 0; prefixes[i]; i++)
			if (!strncmp(*e, prefixes[i], strlen(prefixes[i]))) {
				char key[256];
				size_t kl = (size_t)(eq - *e);

				if (kl >= sizeof(key))
					break;
				memcpy(key, *e, kl);
				key[kl] = 0;
				json_object_set_new(o, key, json_string(eq + 1));
				break;
			}
	}
	return o;
}

int fsc_meta_collect(struct fsc_boot *b, int argc, char **argv, const struct fsc_timer_info *ti,
                     const struct fsc_config *cfg, json_t *meta)
{
	struct placement mine, *all;
	int rc;

	memset(&mine, 0, sizeof(mine));
	mine.core = sched_getcpu();
	mine.pid = (int32_t)getpid();
	topo_probe(&mine);
	all = calloc((size_t)b->size, sizeof(*all));
	if (!all)
		return -ENOMEM;
	rc = fsc_boot_allgather(b, &mine, all, sizeof(mine));
	if (rc || !meta) {
		free(all);
		return rc;
	}

	{
		json_t *cmd = json_array();
		char when[64];
		time_t now = time(0);
		struct utsname u;

		for (int i = 0; i < argc; i++)
			json_array_append_new(cmd, json_string(argv[i]));
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
		json_object_set_new(
		        meta, "tool",
		        json_pack("{s:s, s:s}", "name", "fabscope", "version", FSC_VERSION));
		json_object_set_new(meta, "command_line", cmd);
		json_object_set_new(meta, "start_time", json_string(when));
		if (!uname(&u))
			json_object_set_new(meta, "kernel",
			                    json_pack("{s:s, s:s}", "release", u.release, "machine",
			                              u.machine));
		json_object_set_new(meta, "bootstrap", json_string(b->ops->name));
		json_object_set_new(meta, "nranks", json_integer(b->size));
		json_object_set_new(meta, "nhosts", json_integer(b->nhosts));
	}
	{
		json_t *hosts = json_array(), *ranks = json_array();
		int *first = calloc((size_t)b->nhosts, sizeof(int));

		for (int h = 0; first && h < b->nhosts; h++)
			first[h] = -1;
		for (int r = 0; r < b->size; r++) {
			int h = b->rank_host[r];

			if (first && first[h] < 0) {
				struct placement *p = &all[r];

				first[h] = r;
				json_array_append_new(hosts,
				                      json_pack("{s:s, s:i, s:i, s:s, s:i}", "name",
				                                b->hosts[r], "cores", p->ncores,
				                                "numa_nodes", p->nnuma, "nics",
				                                p->nics, "gpus", p->ngpus));
			}
			json_array_append_new(ranks,
			                      json_pack("{s:i, s:s, s:i, s:i, s:i}", "rank", r,
			                                "host", b->hosts[r], "core", all[r].core,
			                                "numa", all[r].numa, "pid", all[r].pid));
		}
		free(first);
		json_object_set_new(meta, "hosts", hosts);
		json_object_set_new(meta, "ranks", ranks);
	}
	{
		unsigned hv = hwloc_get_api_version();
		char hwl[32];

		snprintf(hwl, sizeof(hwl), "%u.%u.%u", hv >> 16, (hv >> 8) & 0xff, hv & 0xff);
		json_object_set_new(
		        meta, "libraries",
		        json_pack("{s:s, s:s}", "jansson", JANSSON_VERSION, "hwloc", hwl));
	}
	if (ti)
		json_object_set_new(meta, "timer",
		                    json_pack("{s:s, s:f, s:f, s:f, s:I}", "source", ti->source,
		                              "resolution_ns", ti->resolution_ns,
		                              "observed_tick_ns", ti->observed_tick_ns,
		                              "call_cost_ns", ti->call_cost_ns, "samples",
		                              (json_int_t)ti->samples));
	if (cfg)
		json_object_set_new(meta, "config", fsc_config_to_json(cfg));
	json_object_set_new(meta, "environment", env_json());
	free(all);
	return 0;
}
