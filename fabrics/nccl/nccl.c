/* nccl fabric: NCCL point-to-point and collectives on GPU memory.
 *
 * Libraries: the CUDA runtime and NCCL are loaded at run time (dlopen), so
 * the fabric builds wherever their headers are (the real ones, or the
 * stand-in's in tests/cudadouble/include) and `fabscope list` can say why
 * it is unusable on a machine without them: no library, no driver, no GPU.
 * libnccl.so.2 (or $FSC_LIBNCCL) and libcudart.so.13, .so.12 or .so (or
 * $FSC_CUDART) are looked up through the ordinary search path, so the
 * stand-in (tests/cudadouble) replaces them by LD_LIBRARY_PATH.
 *
 * Placement: one rank per GPU.  The device is --nccl-dev, or the rank's
 * index among the ranks of its host (its local rank) among the GPUs visible
 * to it (CUDA_VISIBLE_DEVICES applies).  connect() gathers every rank's PCI
 * bus id and refuses two ranks of one host on one GPU before NCCL is
 * called.
 *
 * Communicator: rank 0's ncclGetUniqueId travels through the bootstrap;
 * ncclCommInitRankConfig runs non-blocking (blocking = 0) and is polled
 * against --timeout; past it the communicator is aborted and every rank
 * learns through the bootstrap which ranks never completed their set-up.
 *
 * Memory: transfer buffers are device memory (cudaMalloc); copies and
 * memsets run on a stream of their own and are waited for.
 *
 * Point to point: isend/irecv queue the operation; the first test() of a
 * queued operation issues everything queued as one group (ncclGroupStart,
 * ncclSend/ncclRecv ..., ncclGroupEnd) on the fabric's stream and records
 * an event after it; a request is done when its group's event is.  Grouping
 * what a pattern posted before it waits (a window, a send and a receive, a
 * ring step's receives with the sends of that step) lets NCCL progress all
 * of it together, as the grouped calls of nccl-tests do.  NCCL matches
 * messages between two ranks in order and ignores fabscope's tags, so a
 * pattern must post its operations with one peer in the same order on both
 * sides (all of fabscope's do).  An empty message moves one byte of scratch
 * memory, so it still synchronises the two ranks.
 *
 * Request lifetime: NCCL cannot withdraw one operation.  cancel() of a
 * request not yet complete aborts the communicator (ncclCommAbort: NCCL
 * touches no buffer afterwards); every later operation fails with -EIO (the
 * whole fabric is poisoned, not only the peer).
 *
 * Collectives: NCCL's all-reduce, reduce-scatter, all-gather and broadcast;
 * all-to-all as grouped ncclSend/ncclRecv.  Each call waits for its stream
 * (as nccl-tests times: the runner's clock around the call and the stream
 * synchronisation), polling against --timeout; past it the communicator is
 * aborted.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cuda_runtime.h>
#include <nccl.h>

#include "clock.h"
#include "fabric.h"
#include "log.h"
#include "pattern.h"
#include "runner.h"

extern char **environ;

/* ------------------------------------------------------------------------
 * The libraries, loaded once
 * ------------------------------------------------------------------------ */

#define CUDA_FNS(X)                                                                                \
	X(cudaGetDeviceCount)                                                                      \
	X(cudaSetDevice)                                                                           \
	X(cudaGetDevice)                                                                           \
	X(cudaDeviceGetPCIBusId)                                                                   \
	X(cudaDriverGetVersion)                                                                    \
	X(cudaRuntimeGetVersion)                                                                   \
	X(cudaMalloc)                                                                              \
	X(cudaFree)                                                                                \
	X(cudaMemcpyAsync)                                                                         \
	X(cudaMemsetAsync)                                                                         \
	X(cudaStreamCreateWithFlags)                                                               \
	X(cudaStreamDestroy)                                                                       \
	X(cudaStreamSynchronize)                                                                   \
	X(cudaStreamQuery)                                                                         \
	X(cudaEventCreateWithFlags)                                                                \
	X(cudaEventRecord)                                                                         \
	X(cudaEventQuery)                                                                          \
	X(cudaEventElapsedTime)                                                                    \
	X(cudaEventDestroy)                                                                        \
	X(cudaGetErrorString)                                                                      \
	X(cudaGetLastError)

#define NCCL_FNS(X)                                                                                \
	X(ncclGetVersion)                                                                          \
	X(ncclGetUniqueId)                                                                         \
	X(ncclCommInitRankConfig)                                                                  \
	X(ncclCommGetAsyncError)                                                                   \
	X(ncclCommFinalize)                                                                        \
	X(ncclCommDestroy)                                                                         \
	X(ncclCommAbort)                                                                           \
	X(ncclGetErrorString)                                                                      \
	X(ncclGetLastError)                                                                        \
	X(ncclAllReduce)                                                                           \
	X(ncclReduceScatter)                                                                       \
	X(ncclAllGather)                                                                           \
	X(ncclBroadcast)                                                                           \
	X(ncclSend)                                                                                \
	X(ncclRecv)                                                                                \
	X(ncclGroupStart)                                                                          \
	X(ncclGroupEnd)

#define NC_DECL(name) __typeof__(&name) name;
static struct {
	CUDA_FNS(NC_DECL)
	NCCL_FNS(NC_DECL)
	/* optional: the GPU's name (cudaDeviceProp starts with char name[256]) */
	cudaError_t (*props)(void *prop, int dev);
	void *cudart, *nccl;
	int rc; /* 0 loaded, -ENOENT no library, -ENOSYS a symbol missing */
	char why[256];
} api;
#undef NC_DECL

static pthread_once_t api_once = PTHREAD_ONCE_INIT;

#define NC_STR_(x) #x
#define NC_STR(x) NC_STR_(x)

/* A symbol by its name after the headers' macros (a versioned entry
 * point), else by its plain name. */
static void *sym(void *lib, const char *expanded, const char *plain)
{
	void *p = dlsym(lib, expanded);

	return p ? p : dlsym(lib, plain);
}

static void api_load(void)
{
	const char *cudart[] = {getenv("FSC_CUDART"), "libcudart.so.13", "libcudart.so.12",
	                        "libcudart.so"};
	const char *nccl = getenv("FSC_LIBNCCL") ? getenv("FSC_LIBNCCL") : "libnccl.so.2";

	for (size_t i = 0; i < sizeof(cudart) / sizeof(cudart[0]) && !api.cudart; i++)
		if (cudart[i] && *cudart[i])
			api.cudart = dlopen(cudart[i], RTLD_NOW | RTLD_GLOBAL);
	if (!api.cudart) {
		snprintf(api.why, sizeof(api.why),
		         "no CUDA runtime (libcudart.so.13/.12 not found; set FSC_CUDART)");
		api.rc = -ENOENT;
		return;
	}
	api.nccl = dlopen(nccl, RTLD_NOW | RTLD_GLOBAL);
	if (!api.nccl) {
		snprintf(api.why, sizeof(api.why),
		         "no NCCL library (%s not found; set FSC_LIBNCCL)", nccl);
		api.rc = -ENOENT;
		return;
	}
#define NC_LOAD(lib, name)                                                                         \
	if (!(*(void **)&api.name = sym(api.lib, NC_STR(name), #name))) {                          \
		snprintf(api.why, sizeof(api.why), "the %s library lacks %s", #lib, #name);        \
		api.rc = -ENOSYS;                                                                  \
		return;                                                                            \
	}
#define NC_LOAD_CUDA(name) NC_LOAD(cudart, name)
#define NC_LOAD_NCCL(name) NC_LOAD(nccl, name)
	CUDA_FNS(NC_LOAD_CUDA)
	NCCL_FNS(NC_LOAD_NCCL)
#undef NC_LOAD
	*(void **)&api.props =
	        sym(api.cudart, NC_STR(cudaGetDeviceProperties), "cudaGetDeviceProperties");
}

/* 0 when the libraries are loaded; otherwise why not, in `why`. */
static int api_get(char *why, size_t len)
{
	pthread_once(&api_once, api_load);
	if (api.rc && why && len)
		snprintf(why, len, "%s", api.why);
	return api.rc;
}

/* ------------------------------------------------------------------------
 * State
 * ------------------------------------------------------------------------ */

/* One issued group of point-to-point operations. */
struct nc_group {
	struct nc_group *next;
	cudaEvent_t ev;
	int refs; /* requests not yet reported done */
};

enum nc_state { NC_QUEUED = 1, NC_ISSUED };

/* Lives in fsc_req.opaque. */
struct nc_req {
	const void *buf;
	size_t bytes;
	struct nc_group *g; /* NC_ISSUED */
	int peer, is_recv, state;
};
_Static_assert(sizeof(struct nc_req) <= sizeof(((struct fsc_req *)0)->opaque),
               "struct nc_req must fit in fsc_req.opaque");

struct nc_impl {
	int dev;
	char pci[32];
	char gpu[64];
	ncclComm_t comm;
	bool comm_ok;                 /* set up completely */
	bool dead;                    /* aborted: no more traffic */
	cudaStream_t stream, cstream; /* operations; copies */
	unsigned char *scratch;       /* 64 bytes of device memory */
	struct fsc_req **queue;       /* queued, not issued */
	size_t nqueue, capqueue;
	struct nc_group *groups;
	cudaEvent_t *tev; /* the device timer's marks (timing events) */
	uint64_t ntev, captev;
	char *debug_level;  /* --nccl-debug (NULL: as the environment says) */
	char *debug_file;   /* --nccl-debug-file */
	char *results_path; /* --output's value: "auto", "none" or a path */
	json_t *debug;      /* what NCCL_DEBUG capture was set up (connect) */
	struct nc_where {   /* the GPU's NUMA node and the nearest NIC (sysfs) */
		int numa;       /* -1: none or not known */
		int nic_numa;   /* -1: none or not known */
		int nic_levels; /* PCI path components shared with the GPU */
		char nic[32];   /* "" when none was found */
		char nic_class[16];
		char why[96]; /* why nothing was found */
	} where;
};

/* The nccl options, filled once per fabric by fsc_config_fill. */
struct nc_settings {
	int64_t dev;            /* -1: the local rank */
	int debug;              /* --nccl-debug: index in nc_debug_levels */
	bool has_debug;         /* --nccl-debug given */
	const char *debug_file; /* --nccl-debug-file; NULL: unset */
};

/* --nccl-debug's choices, in order. */
static const char *const nc_debug_levels[] = {"VERSION", "WARN", "INFO", "ABORT", "TRACE"};

static const struct fsc_opt nc_opts[] = {
        {"nccl-dev", 0, FSC_OPT_INT, "-1",
         "GPU of this rank (-1: its local rank among the GPUs visible to it)", 0, -1, 1024,
         FSC_AT_INT(struct nc_settings, dev)},
        {"nccl-debug", 0, FSC_OPT_CHOICE, 0,
         "set NCCL_DEBUG for this run (unset: as the environment says); its output goes "
         "to a file beside the results unless NCCL_DEBUG_FILE or --nccl-debug-file says where",
         "VERSION|WARN|INFO|ABORT|TRACE", 0, 0, FSC_AT_CHOICE(struct nc_settings, debug),
         FSC_HAS(struct nc_settings, has_debug)},
        {"nccl-debug-file", 0, FSC_OPT_STRING, 0,
         "NCCL_DEBUG_FILE for this run (%h host, %p process id; default when NCCL_DEBUG is "
         "set: beside the results, <results stem>.nccl.%h.%p.log)",
         0, 0, 0, FSC_AT_STRING(struct nc_settings, debug_file)},
        {0, 0, 0, 0, 0, 0, 0, 0},
};

static struct nc_impl *impl_of(const struct fsc_fabric *f)
{
	return f->impl;
}

static struct nc_req *ncr(struct fsc_req *req)
{
	return (struct nc_req *)req->opaque;
}

static const char *cuda_err(cudaError_t e)
{
	return api.cudaGetErrorString ? api.cudaGetErrorString(e) : "?";
}

static const char *nccl_err(ncclResult_t r, ncclComm_t comm)
{
	const char *last = api.ncclGetLastError ? api.ncclGetLastError(comm) : 0;

	if (last && *last)
		return last;
	return api.ncclGetErrorString ? api.ncclGetErrorString(r) : "?";
}

static uint64_t now_ns(void)
{
	return fsc_time_real_ns();
}

/* ------------------------------------------------------------------------
 * Placement: the GPU's NUMA node and the NIC NCCL will most likely use
 * ------------------------------------------------------------------------ */

/* sysfs, or a copy of its shape for tests ($FSC_NCCL_SYSFS). */
static const char *sysfs_root(void)
{
	const char *r = getenv("FSC_NCCL_SYSFS");

	return r && *r ? r : "/sys";
}

static int read_int_file(const char *path, int dflt)
{
	FILE *fp = fopen(path, "r");
	int v = dflt;

	if (fp) {
		if (fscanf(fp, "%d", &v) != 1)
			v = dflt;
		fclose(fp);
	}
	return v;
}

/* Path components two resolved sysfs device paths share. */
static int shared_levels(const char *a, const char *b)
{
	int n = 0;

	for (;;) {
		size_t la = strcspn(a, "/"), lb = strcspn(b, "/");

		if (la != lb || strncmp(a, b, la))
			return n;
		if (la)
			n++;
		if (!a[la] || !b[lb])
			return n;
		a += la + 1;
		b += lb + 1;
	}
}

/* The GPU's NUMA node from /sys/bus/pci/devices/<bus id>/numa_node, and
 * the NIC nearest to it: NCCL asks for no NIC through its API, so this is
 * an estimate made as NCCL's topology search ranks them: an RDMA device
 * (/sys/class/infiniband) when there is one, else a network interface
 * with a PCI device (/sys/class/net), the one sharing the longest PCI path
 * with the GPU (the same switch before the same root port), then the one
 * on the GPU's NUMA node.  NCCL_IB_HCA and NCCL_SOCKET_IFNAME, which
 * restrict NCCL's choice, are not applied (they are in nccl_env). */
static void find_where(const char *busid, struct nc_where *w)
{
	unsigned dom = 0, bus = 0, dev = 0, fn = 0;
	char path[PATH_MAX + 64], gpu[PATH_MAX], id[32];
	const char *classes[] = {"infiniband", "net"};
	int best = -1;

	*w = (struct nc_where){.numa = -1, .nic_numa = -1};
	if (sscanf(busid, "%x:%x:%x.%x", &dom, &bus, &dev, &fn) != 4) {
		snprintf(w->why, sizeof(w->why), "PCI bus id '%s' not understood", busid);
		return;
	}
	snprintf(id, sizeof(id), "%04x:%02x:%02x.%x", dom & 0xffff, bus & 0xff, dev & 0x1f,
	         fn & 7);
	snprintf(path, sizeof(path), "%s/bus/pci/devices/%s", sysfs_root(), id);
	if (!realpath(path, gpu)) {
		snprintf(w->why, sizeof(w->why), "no sysfs entry for the GPU (%s)", id);
		return;
	}
	snprintf(path, sizeof(path), "%s/numa_node", gpu);
	w->numa = read_int_file(path, -1);
	for (size_t c = 0; c < 2 && best < 0; c++) {
		DIR *d;
		struct dirent *e;

		snprintf(path, sizeof(path), "%s/class/%s", sysfs_root(), classes[c]);
		if (!(d = opendir(path)))
			continue;
		while ((e = readdir(d))) {
			char nic[PATH_MAX];
			int lv, numa;

			if (e->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/class/%s/%s/device", sysfs_root(), classes[c],
			         e->d_name);
			if (!realpath(path, nic))
				continue; /* virtual: lo, bridges, tunnels */
			lv = shared_levels(gpu, nic);
			snprintf(path, sizeof(path), "%s/numa_node", nic);
			numa = read_int_file(path, -1);
			if (lv > best ||
			    (lv == best && numa == w->numa && w->nic_numa != w->numa) ||
			    (lv == best && (numa == w->numa) == (w->nic_numa == w->numa) &&
			     strcmp(e->d_name, w->nic) < 0)) {
				best = lv;
				w->nic_levels = lv;
				w->nic_numa = numa;
				snprintf(w->nic, sizeof(w->nic), "%.31s", e->d_name);
				snprintf(w->nic_class, sizeof(w->nic_class), "%s", classes[c]);
			}
		}
		closedir(d);
	}
	if (best < 0)
		snprintf(w->why, sizeof(w->why), "no network device with a PCI device in sysfs");
}

/* ------------------------------------------------------------------------
 * Probe, create, destroy
 * ------------------------------------------------------------------------ */

static int nc_probe(const struct fsc_config *cfg, char *reason, size_t len)
{
	int drv = 0, n = 0;
	cudaError_t e;

	(void)cfg;
	if (api_get(reason, len))
		return -ENODEV;
	e = api.cudaDriverGetVersion(&drv);
	if (e != cudaSuccess || !drv) {
		snprintf(reason, len, "no CUDA driver (cudaDriverGetVersion: %s)",
		         e != cudaSuccess ? cuda_err(e) : "version 0");
		return -ENODEV;
	}
	e = api.cudaGetDeviceCount(&n);
	if (e != cudaSuccess || n < 1) {
		snprintf(reason, len, "no GPU visible (cudaGetDeviceCount: %s)",
		         e != cudaSuccess ? cuda_err(e) : "0 devices");
		return -ENODEV;
	}
	return 0;
}

static void group_free(struct nc_group *g)
{
	if (g->ev)
		api.cudaEventDestroy(g->ev);
	free(g);
}

static void nc_destroy(struct fsc_fabric *f)
{
	struct nc_impl *im = impl_of(f);

	if (!im)
		return;
	if (im->comm) {
		ncclResult_t r = ncclSuccess;

		if (im->comm_ok && !im->dead) {
			uint64_t deadline = now_ns() + f->timeout_ns;

			r = api.ncclCommFinalize(im->comm);
			while (r == ncclSuccess || r == ncclInProgress) {
				if (api.ncclCommGetAsyncError(im->comm, &r) != ncclSuccess ||
				    r != ncclInProgress || now_ns() > deadline)
					break;
			}
		}
		if (!im->comm_ok || im->dead || r != ncclSuccess)
			api.ncclCommAbort(im->comm);
		else
			api.ncclCommDestroy(im->comm);
	}
	for (uint64_t i = 0; i < im->captev; i++)
		api.cudaEventDestroy(im->tev[i]);
	free(im->tev);
	while (im->groups) {
		struct nc_group *g = im->groups;

		im->groups = g->next;
		group_free(g);
	}
	if (im->scratch)
		api.cudaFree(im->scratch);
	if (im->stream)
		api.cudaStreamDestroy(im->stream);
	if (im->cstream)
		api.cudaStreamDestroy(im->cstream);
	free(im->queue);
	free(im->debug_level);
	free(im->debug_file);
	free(im->results_path);
	json_decref(im->debug);
	free(im);
	f->impl = 0;
}

static int nc_create(struct fsc_fabric *f, const struct fsc_config *cfg)
{
	struct nc_settings set;
	struct fsc_run_settings run;
	struct nc_impl *im;
	char why[256];
	int n = 0, want;
	cudaError_t e;

	if (api_get(why, sizeof(why)) || nc_probe(cfg, why, sizeof(why))) {
		fsc_error("nccl: rank %d: %s", f->rank, why);
		return -ENODEV;
	}
	im = calloc(1, sizeof(*im));
	if (!im) {
		fsc_error("nccl: out of memory");
		return -ENOMEM;
	}
	f->impl = im;
	f->mem = FSC_MEM_DEVICE;
	/* A config without the nccl options (a test's): the table's default. */
	if (fsc_config_fill(cfg, nc_opts, &set, why, sizeof(why))) {
		fsc_error("nccl: rank %d: %s", f->rank, why);
		return -EINVAL;
	}
	/* The results path (the core's --output) places NCCL's debug files. */
	if (fsc_run_settings_fill(cfg, &run, why, sizeof(why))) {
		fsc_error("nccl: rank %d: %s", f->rank, why);
		return -EINVAL;
	}
	want = (int)set.dev;
	if ((set.has_debug && !(im->debug_level = strdup(nc_debug_levels[set.debug]))) ||
	    (set.debug_file && !(im->debug_file = strdup(set.debug_file))) ||
	    (run.output && !(im->results_path = strdup(run.output)))) {
		fsc_error("nccl: out of memory");
		return -ENOMEM;
	}
	api.cudaGetDeviceCount(&n);
	im->dev = want >= 0 ? want : f->boot ? f->boot->local_rank : 0;
	if (im->dev >= n) {
		const char *vis = getenv("CUDA_VISIBLE_DEVICES");

		if (want >= 0)
			fsc_error(
			        "nccl: rank %d: invalid value '%d' for --nccl-dev: expected a GPU "
			        "from 0 to %d (CUDA_VISIBLE_DEVICES=%s)",
			        f->rank, want, n - 1, vis ? vis : "(unset)");
		else
			fsc_error("nccl: rank %d is local rank %d of its host but only %d GPU%s "
			          "visible (CUDA_VISIBLE_DEVICES=%s): one rank per GPU, or choose "
			          "with --nccl-dev",
			          f->rank, im->dev, n, n == 1 ? " is" : "s are",
			          vis ? vis : "(unset)");
		return -EINVAL;
	}
	e = api.cudaSetDevice(im->dev);
	if (e == cudaSuccess)
		e = api.cudaDeviceGetPCIBusId(im->pci, sizeof(im->pci), im->dev);
	if (e == cudaSuccess)
		e = api.cudaStreamCreateWithFlags(&im->stream, cudaStreamNonBlocking);
	if (e == cudaSuccess)
		e = api.cudaStreamCreateWithFlags(&im->cstream, cudaStreamNonBlocking);
	if (e == cudaSuccess)
		e = api.cudaMalloc((void **)&im->scratch, 64);
	if (e != cudaSuccess) {
		fsc_error("nccl: rank %d: setting up GPU %d failed: %s", f->rank, im->dev,
		          cuda_err(e));
		return -EIO;
	}
	if (api.props) {
		static _Thread_local union {
			char name[256];
			max_align_t align;
			unsigned char room[16384]; /* any version's cudaDeviceProp */
		} p;

		if (api.props(&p, im->dev) == cudaSuccess)
			snprintf(im->gpu, sizeof(im->gpu), "%.63s", p.name);
	}
	find_where(im->pci, &im->where);
	return 0;
}

/* ------------------------------------------------------------------------
 * Connect: placement check, unique id, non-blocking init
 * ------------------------------------------------------------------------ */

struct nc_place {
	int host;
	char pci[32];
};

/* Two ranks of one host on one GPU: the lower rank's error, on every rank. */
static int check_placement(struct fsc_fabric *f)
{
	struct nc_impl *im = impl_of(f);
	struct nc_place me = {f->boot->host_index, {0}}, *all;
	int rc;

	snprintf(me.pci, sizeof(me.pci), "%s", im->pci);
	all = calloc((size_t)f->size, sizeof(*all));
	if (!all)
		return -ENOMEM;
	rc = fsc_boot_allgather(f->boot, &me, all, sizeof(me));
	for (int a = 0; !rc && a < f->size; a++)
		for (int b = a + 1; !rc && b < f->size; b++)
			if (all[a].host == all[b].host && !strcmp(all[a].pci, all[b].pci)) {
				if (f->rank == a || f->rank == b)
					fsc_error(
					        "nccl: ranks %d and %d both use GPU %s on host %s: "
					        "NCCL needs one rank per GPU (fewer ranks per "
					        "host, "
					        "CUDA_VISIBLE_DEVICES or --nccl-dev)",
					        a, b, all[a].pci, f->boot->hosts[a]);
				rc = -EINVAL;
			}
	free(all);
	return rc;
}

/* Poll a non-blocking call of comm until it is no longer in progress,
 * against the fabric's deadline.  0, -ETIMEDOUT, or -EIO (logged). */
static int settle(struct fsc_fabric *f, ncclResult_t r, const char *what)
{
	struct nc_impl *im = impl_of(f);
	uint64_t deadline = now_ns() + f->timeout_ns;

	while (r == ncclInProgress) {
		if (api.ncclCommGetAsyncError(im->comm, &r) != ncclSuccess)
			break;
		if (r == ncclInProgress && now_ns() > deadline)
			return -ETIMEDOUT;
	}
	if (r != ncclSuccess) {
		fsc_error("nccl: rank %d: %s failed: %s", f->rank, what, nccl_err(r, im->comm));
		return -EIO;
	}
	return 0;
}

/* Append rank r to a comma-separated list. */
static void list_add(char *list, size_t len, int r)
{
	size_t used = strlen(list);

	if (used < len)
		snprintf(list + used, len - used, "%s%d", used ? ", " : "", r);
}

enum { NC_JOIN_OK, NC_JOIN_WAITING, NC_JOIN_FAILED };

/* Set-up failed or timed out somewhere: every rank says through the
 * bootstrap how its set-up ended (completed, still waiting at the
 * deadline, failed).  A rank that never comes to this point (stuck inside
 * NCCL's set-up, or gone) is named by the bootstrap itself: its wait trips
 * the watchdog, whose verdict lists every rank that did not answer.  NCCL
 * says nothing about which rank its set-up waits for, so when every rank
 * came and none completed, the message says exactly that. */
static int report_joins(struct fsc_fabric *f, int rc)
{
	int64_t *st = calloc((size_t)f->size, sizeof(*st));
	int64_t mine = !rc ? NC_JOIN_OK : rc == -ETIMEDOUT ? NC_JOIN_WAITING : NC_JOIN_FAILED;
	char gone[256] = "", failed[256] = "", waiting[256] = "";
	int ngone = 0, nfailed = 0, nwaiting = 0, grc;

	if (!st)
		return rc ? rc : -ENOMEM;
	grc = fsc_boot_allgather(f->boot, &mine, st, sizeof(mine));
	if (grc) {
		free(st);
		if (!fsc_watchdog_aborted(f->boot))
			return rc ? rc : grc;
		for (int r = 0; r < f->size; r++)
			if (fsc_watchdog_is_culprit(f->boot, r)) {
				list_add(gone, sizeof(gone), r);
				ngone++;
			}
		if (ngone)
			fsc_error(
			        "nccl: rank %d: the communicator did not come up: rank%s %s never "
			        "joined (never came back from NCCL's set-up, or gone)",
			        f->rank, ngone > 1 ? "s" : "", gone);
		return rc ? rc : grc;
	}
	for (int r = 0; r < f->size; r++) {
		if (st[r] == NC_JOIN_FAILED) {
			list_add(failed, sizeof(failed), r);
			nfailed++;
		} else if (st[r] == NC_JOIN_WAITING) {
			list_add(waiting, sizeof(waiting), r);
			nwaiting++;
		}
	}
	free(st);
	if (!nfailed && !nwaiting)
		return 0;
	if (f->rank == 0 || rc) {
		if (nfailed)
			fsc_error(
			        "nccl: rank %d: the communicator did not come up: rank%s %s never "
			        "joined (%s set-up failed)",
			        f->rank, nfailed > 1 ? "s" : "", failed,
			        nfailed > 1 ? "their" : "its");
		if (nfailed && nwaiting)
			fsc_error("nccl: rank %d: rank%s %s waited %.1f s in vain", f->rank,
			          nwaiting > 1 ? "s" : "", waiting, f->timeout_ns / 1e9);
		if (!nfailed)
			fsc_error("nccl: rank %d: the communicator did not come up within %.1f s: "
			          "rank%s %s reached NCCL's set-up but never completed it (NCCL "
			          "does not say which rank it waits for; one whose own set-up "
			          "cannot reach NCCL's root looks the same)",
			          f->rank, f->timeout_ns / 1e9, nwaiting > 1 ? "s" : "", waiting);
	}
	return rc ? rc : -ETIMEDOUT;
}

/* NCCL_DEBUG capture.  NCCL reads NCCL_DEBUG and NCCL_DEBUG_FILE once, when
 * it first initialises (ncclGetUniqueId, ncclCommInitRank*; nothing calls
 * NCCL before connect), so they are set here, before any of that.  With
 * NCCL_DEBUG in effect (--nccl-debug, or the environment's) and no file
 * named (--nccl-debug-file, or NCCL_DEBUG_FILE), NCCL's lines would mix
 * with the table on stdout: they go beside the results instead, to
 * <results without .json>.nccl.%h.%p.log (with --output auto, whose name
 * rank 0 chose, results/runs/nccl-<rank 0's pid>.%h.%p.log; with no
 * results file, fabscope-nccl.%h.%p.log here).  NCCL puts the host name
 * (up to the first dot) for %h and the process id for %p; the files each
 * rank's NCCL writes are recorded by describe. */
static int debug_setup(struct fsc_fabric *f)
{
	struct nc_impl *im = impl_of(f);
	const char *level, *pat;
	char made[4096], host[256] = "";
	int64_t pid = getpid(), pid0 = pid, *pids = 0;
	json_t *files;
	int rc;

	/* collective whatever this rank's settings: rank 0's pid names the
	 * file beside an automatic results name */
	rc = fsc_boot_bcast(f->boot, &pid0, sizeof(pid0), 0);
	if (rc)
		return rc;
	if (im->debug_level && setenv("NCCL_DEBUG", im->debug_level, 1)) {
		fsc_error("nccl: rank %d: cannot set NCCL_DEBUG: %s", f->rank, strerror(errno));
		return -ENOMEM;
	}
	level = getenv("NCCL_DEBUG");
	pat = im->debug_file ? im->debug_file : getenv("NCCL_DEBUG_FILE");
	if (level && *level && (!pat || !*pat)) {
		const char *o = im->results_path;
		size_t n;

		if (!o || !strcmp(o, "none"))
			snprintf(made, sizeof(made), "fabscope-nccl.%%h.%%p.log");
		else if (!strcmp(o, "auto"))
			snprintf(made, sizeof(made), "results/runs/nccl-%lld.%%h.%%p.log",
			         (long long)pid0);
		else {
			n = strlen(o);
			if (n > 5 && !strcmp(o + n - 5, ".json"))
				n -= 5;
			snprintf(made, sizeof(made), "%.*s.nccl.%%h.%%p.log", (int)n, o);
		}
		pat = made;
	}
	if (pat && *pat && setenv("NCCL_DEBUG_FILE", pat, 1)) {
		fsc_error("nccl: rank %d: cannot set NCCL_DEBUG_FILE: %s", f->rank,
		          strerror(errno));
		return -ENOMEM;
	}
	pids = calloc((size_t)f->size, sizeof(*pids));
	if (!pids)
		return -ENOMEM;
	rc = fsc_boot_allgather(f->boot, &pid, pids, sizeof(pid));
	if (rc || !level || !*level) {
		free(pids);
		return rc;
	}
	/* the files, as NCCL names them from the pattern on each rank */
	files = json_array();
	for (int r = 0; files && pat && *pat && r < f->size; r++) {
		char path[4096];
		size_t n = 0;

		snprintf(host, sizeof(host), "%s", f->boot->hosts[r]);
		host[strcspn(host, ".")] = 0;
		for (const char *q = pat; *q && n + 1 < sizeof(path); q++) {
			if (q[0] == '%' && (q[1] == 'h' || q[1] == 'p' || q[1] == '%')) {
				if (q[1] == 'h')
					n += (size_t)snprintf(path + n, sizeof(path) - n, "%s",
					                      host);
				else if (q[1] == 'p')
					n += (size_t)snprintf(path + n, sizeof(path) - n, "%lld",
					                      (long long)pids[r]);
				else
					n += (size_t)snprintf(path + n, sizeof(path) - n, "%%");
				if (n >= sizeof(path))
					n = sizeof(path) - 1;
				q++;
			} else {
				path[n++] = *q;
			}
		}
		path[n] = 0;
		json_array_append_new(files, json_string(path));
	}
	free(pids);
	im->debug = json_pack("{s:s, s:s?, s:o?}", "level", level, "file", pat && *pat ? pat : 0,
	                      "files", pat && *pat ? files : 0);
	if (!(pat && *pat))
		json_decref(files);
	return 0;
}

static int nc_connect(struct fsc_fabric *f)
{
	struct nc_impl *im = impl_of(f);
	ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
	ncclUniqueId id;
	ncclResult_t r = ncclSuccess;
	int rc;

	rc = fsc_boot_agree(f->boot, check_placement(f), 0);
	if (!rc)
		rc = fsc_boot_agree(f->boot, debug_setup(f), 0);
	if (rc)
		return rc;
	memset(&id, 0, sizeof(id));
	if (f->rank == 0) {
		r = api.ncclGetUniqueId(&id);
		if (r != ncclSuccess)
			fsc_error("nccl: ncclGetUniqueId failed: %s", nccl_err(r, 0));
	}
	rc = fsc_boot_agree(f->boot, r == ncclSuccess ? 0 : -EIO, 0);
	if (!rc)
		rc = fsc_boot_bcast(f->boot, &id, sizeof(id), 0);
	if (rc)
		return rc;
	config.blocking = 0;
	api.cudaSetDevice(im->dev);
	r = api.ncclCommInitRankConfig(&im->comm, f->size, id, f->rank, &config);
	if (r != ncclSuccess && r != ncclInProgress) {
		fsc_error("nccl: rank %d: ncclCommInitRankConfig failed: %s", f->rank,
		          nccl_err(r, 0));
		rc = -EIO;
	} else {
		rc = settle(f, r, "communicator set-up");
	}
	if (rc && im->comm) {
		api.ncclCommAbort(im->comm);
		im->comm = 0;
	}
	rc = report_joins(f, rc);
	if (!rc)
		im->comm_ok = true;
	return rc;
}

/* ------------------------------------------------------------------------
 * Device memory
 * ------------------------------------------------------------------------ */

/* Wait for a stream, against the fabric's deadline (copies wait on
 * nobody, but every wait has a deadline). */
static int stream_wait(struct fsc_fabric *f, cudaStream_t s, const char *what)
{
	uint64_t deadline = now_ns() + f->timeout_ns;
	cudaError_t e;

	while ((e = api.cudaStreamQuery(s)) == cudaErrorNotReady)
		if (now_ns() > deadline) {
			fsc_error("nccl: rank %d: %s did not complete within %.1f s", f->rank, what,
			          f->timeout_ns / 1e9);
			return -ETIMEDOUT;
		}
	if (e != cudaSuccess) {
		fsc_error("nccl: rank %d: %s failed: %s", f->rank, what, cuda_err(e));
		return -EIO;
	}
	return 0;
}

static void *nc_mem_alloc(struct fsc_fabric *f, size_t bytes)
{
	struct nc_impl *im = impl_of(f);
	void *p = 0;
	cudaError_t e = api.cudaMalloc(&p, bytes);

	if (e == cudaSuccess)
		e = api.cudaMemsetAsync(p, 0, bytes, im->cstream);
	if (e != cudaSuccess) {
		fsc_error("nccl: rank %d: cannot allocate %zu bytes on GPU %d: %s", f->rank, bytes,
		          im->dev, cuda_err(e));
		if (p)
			api.cudaFree(p);
		return 0;
	}
	if (stream_wait(f, im->cstream, "clearing a new buffer")) {
		api.cudaFree(p);
		return 0;
	}
	return p;
}

static void nc_mem_free(struct fsc_fabric *f, void *buf)
{
	cudaError_t e;

	if (!buf)
		return;
	e = api.cudaFree(buf);
	if (e != cudaSuccess)
		fsc_error("nccl: rank %d: cudaFree failed: %s", f->rank, cuda_err(e));
}

static int nc_mem_copy(struct fsc_fabric *f, void *dst, const void *src, size_t bytes,
                       enum fsc_copy_dir dir)
{
	static const enum cudaMemcpyKind kinds[] = {
	        [FSC_COPY_H2D] = cudaMemcpyHostToDevice,
	        [FSC_COPY_D2H] = cudaMemcpyDeviceToHost,
	        [FSC_COPY_D2D] = cudaMemcpyDeviceToDevice,
	};
	struct nc_impl *im = impl_of(f);
	cudaError_t e = api.cudaMemcpyAsync(dst, src, bytes, kinds[dir], im->cstream);

	if (e != cudaSuccess) {
		fsc_error("nccl: rank %d: cudaMemcpyAsync of %zu bytes failed: %s", f->rank, bytes,
		          cuda_err(e));
		return -EIO;
	}
	return stream_wait(f, im->cstream, "a copy");
}

static int nc_mem_set(struct fsc_fabric *f, void *buf, int byte, size_t bytes)
{
	struct nc_impl *im = impl_of(f);
	cudaError_t e = api.cudaMemsetAsync(buf, byte, bytes, im->cstream);

	if (e != cudaSuccess) {
		fsc_error("nccl: rank %d: cudaMemsetAsync of %zu bytes failed: %s", f->rank, bytes,
		          cuda_err(e));
		return -EIO;
	}
	return stream_wait(f, im->cstream, "a memset");
}

/* ------------------------------------------------------------------------
 * Point to point
 * ------------------------------------------------------------------------ */

static int dead(struct fsc_fabric *f, const char *op, int peer)
{
	if (!impl_of(f)->dead && impl_of(f)->comm_ok)
		return 0;
	fsc_error("nccl: rank %d: %s with rank %d refused: the communicator %s", f->rank, op, peer,
	          impl_of(f)->comm_ok ? "was aborted" : "is not set up");
	return -EIO;
}

static int post(struct fsc_fabric *f, int peer, const void *buf, size_t bytes, int is_recv,
                struct fsc_req *req)
{
	struct nc_impl *im = impl_of(f);
	struct nc_req *r = ncr(req);
	int rc;

	if ((rc = dead(f, is_recv ? "irecv" : "isend", peer)))
		return rc;
	if (peer < 0 || peer >= f->size || peer == f->rank) {
		fsc_error("nccl: %s with invalid peer %d (ranks 0..%d, not oneself)",
		          is_recv ? "irecv" : "isend", peer, f->size - 1);
		return -EINVAL;
	}
	if (bytes && !buf) {
		fsc_error("nccl: %s with a NULL buffer", is_recv ? "irecv" : "isend");
		return -EINVAL;
	}
	if (im->nqueue == im->capqueue) {
		size_t cap = im->capqueue ? 2 * im->capqueue : 64;
		struct fsc_req **q = realloc(im->queue, cap * sizeof(*q));

		if (!q) {
			fsc_error("nccl: out of memory for %zu queued operations", cap);
			return -ENOMEM;
		}
		im->queue = q;
		im->capqueue = cap;
	}
	*r = (struct nc_req){
	        .buf = buf, .bytes = bytes, .peer = peer, .is_recv = is_recv, .state = NC_QUEUED};
	im->queue[im->nqueue++] = req;
	return 0;
}

static int nc_isend(struct fsc_fabric *f, int peer, const void *buf, size_t bytes, int tag,
                    struct fsc_req *req)
{
	(void)tag;
	return post(f, peer, buf, bytes, 0, req);
}

static int nc_irecv(struct fsc_fabric *f, int peer, void *buf, size_t bytes, int tag,
                    struct fsc_req *req)
{
	(void)tag;
	return post(f, peer, buf, bytes, 1, req);
}

static void nc_abort(struct fsc_fabric *f, const char *why)
{
	struct nc_impl *im = impl_of(f);

	if (im->dead)
		return;
	im->dead = true;
	fsc_warn("nccl: rank %d: aborting the communicator (%s); the fabric takes no more "
	         "traffic",
	         f->rank, why);
	api.ncclCommAbort(im->comm);
	im->comm = 0;
}

/* Issue every queued operation as one group, with an event after it. */
static int issue(struct fsc_fabric *f)
{
	struct nc_impl *im = impl_of(f);
	struct nc_group *g;
	ncclResult_t r, r2;
	cudaError_t e;
	int rc;

	if (!im->nqueue)
		return 0;
	g = calloc(1, sizeof(*g));
	if (!g) {
		fsc_error("nccl: out of memory");
		return -ENOMEM;
	}
	e = api.cudaEventCreateWithFlags(&g->ev, cudaEventDisableTiming);
	if (e != cudaSuccess) {
		fsc_error("nccl: rank %d: cudaEventCreate failed: %s", f->rank, cuda_err(e));
		free(g);
		return -EIO;
	}
	r = api.ncclGroupStart();
	for (size_t i = 0; i < im->nqueue && r == ncclSuccess; i++) {
		struct nc_req *q = ncr(im->queue[i]);
		void *buf = q->bytes ? (void *)q->buf : im->scratch;
		size_t n = q->bytes ? q->bytes : 1;

		r = q->is_recv ? api.ncclRecv(buf, n, ncclUint8, q->peer, im->comm, im->stream)
		               : api.ncclSend(buf, n, ncclUint8, q->peer, im->comm, im->stream);
	}
	r2 = api.ncclGroupEnd();
	if (r == ncclSuccess)
		r = r2;
	rc = settle(f, r, "a group of sends and receives");
	if (!rc && (e = api.cudaEventRecord(g->ev, im->stream)) != cudaSuccess) {
		fsc_error("nccl: rank %d: cudaEventRecord failed: %s", f->rank, cuda_err(e));
		rc = -EIO;
	}
	if (rc) {
		group_free(g);
		nc_abort(f, "a group could not be issued");
		return rc;
	}
	g->next = im->groups;
	im->groups = g;
	for (size_t i = 0; i < im->nqueue; i++) {
		struct nc_req *q = ncr(im->queue[i]);

		q->state = NC_ISSUED;
		q->g = g;
		g->refs++;
	}
	im->nqueue = 0;
	return 0;
}

/* A request no longer refers to its group. */
static void group_put(struct nc_impl *im, struct nc_req *r)
{
	struct nc_group *g = r->g, **pp;

	r->g = 0;
	if (!g || --g->refs > 0)
		return;
	for (pp = &im->groups; *pp; pp = &(*pp)->next)
		if (*pp == g) {
			*pp = g->next;
			break;
		}
	group_free(g);
}

/* A request's operation failed: one line naming the peer and why. */
static int req_failed(struct fsc_fabric *f, const struct nc_req *r, const char *why)
{
	fsc_error("nccl: rank %d: a %s of %zu B %s rank %d failed: %s", f->rank,
	          r->is_recv ? "receive" : "send", r->bytes, r->is_recv ? "from" : "to", r->peer,
	          why);
	return -EIO;
}

/* 0 while the communicator reports no asynchronous error; else the error
 * for request r. */
static int comm_ok(struct fsc_fabric *f, struct nc_impl *im, const struct nc_req *r)
{
	ncclResult_t ar = ncclSuccess;

	if (api.ncclCommGetAsyncError(im->comm, &ar) == ncclSuccess &&
	    (ar == ncclSuccess || ar == ncclInProgress))
		return 0;
	return req_failed(f, r, nccl_err(ar, im->comm));
}

static int nc_test(struct fsc_fabric *f, struct fsc_req *req, int *done)
{
	struct nc_impl *im = impl_of(f);
	struct nc_req *r = ncr(req);
	cudaError_t e;
	int rc;

	*done = 0;
	if (im->dead) {
		*done = 1;
		return -EIO;
	}
	if (r->state == NC_QUEUED && (rc = issue(f)))
		return rc;
	e = api.cudaEventQuery(r->g->ev);
	if (e == cudaSuccess) {
		/* the stream went past the group, but NCCL may have failed it
		 * (a receive larger than its send): that is an error, not data */
		group_put(im, r);
		*done = 1;
		return comm_ok(f, im, r);
	}
	if (e == cudaErrorNotReady)
		return comm_ok(f, im, r);
	return req_failed(f, r, cuda_err(e));
}

static int nc_cancel(struct fsc_fabric *f, struct fsc_req *req)
{
	struct nc_impl *im = impl_of(f);
	struct nc_req *r = ncr(req);
	char why[96];

	if (r->state == NC_QUEUED) {
		for (size_t i = 0; i < im->nqueue; i++)
			if (im->queue[i] == req) {
				memmove(&im->queue[i], &im->queue[i + 1],
				        (im->nqueue - i - 1) * sizeof(im->queue[0]));
				im->nqueue--;
				break;
			}
	} else if (r->g && api.cudaEventQuery(r->g->ev) == cudaSuccess) {
		group_put(im, r); /* it had finished: nothing to withdraw */
		return 0;
	}
	/* NCCL cannot withdraw one operation, and the peer's matching one
	 * would now pair with the next: abort the whole communicator. */
	snprintf(why, sizeof(why), "a %s of %zu B %s rank %d was cancelled",
	         r->is_recv ? "receive" : "send", r->bytes, r->is_recv ? "from" : "to", r->peer);
	if (!im->dead && im->comm)
		nc_abort(f, why);
	group_put(im, r);
	return 0;
}

/* ------------------------------------------------------------------------
 * Collectives
 * ------------------------------------------------------------------------ */

static int nc_dtype(enum fsc_dtype dt, ncclDataType_t *out)
{
	switch (dt) {
	case FSC_F32: *out = ncclFloat32; return 0;
	case FSC_F64: *out = ncclFloat64; return 0;
	case FSC_I32: *out = ncclInt32; return 0;
	case FSC_I64: *out = ncclInt64; return 0;
	case FSC_BF16: *out = ncclBfloat16; return 0;
	case FSC_F16: *out = ncclFloat16; return 0;
	default: return -ENOTSUP;
	}
}

static int nc_redop(enum fsc_redop op, ncclRedOp_t *out)
{
	switch (op) {
	case FSC_SUM: *out = ncclSum; return 0;
	case FSC_MAX: *out = ncclMax; return 0;
	case FSC_MIN: *out = ncclMin; return 0;
	default: return -ENOTSUP;
	}
}

/* After a collective's call: settle it, then wait for the stream against
 * the deadline; past it, abort. */
static int coll_wait(struct fsc_fabric *f, ncclResult_t r, const char *what)
{
	struct nc_impl *im = impl_of(f);
	uint64_t deadline;
	unsigned polls = 0;
	cudaError_t e;
	int rc = settle(f, r, what);

	if (rc) {
		nc_abort(f, rc == -ETIMEDOUT ? "a collective was not accepted in time"
		                             : "a collective failed");
		return rc;
	}
	deadline = now_ns() + f->timeout_ns;
	while ((e = api.cudaStreamQuery(im->stream)) == cudaErrorNotReady) {
		ncclResult_t ar = ncclSuccess;

		if (++polls % 256)
			continue;
		if (fsc_watchdog_poll(f->boot)) {
			nc_abort(f, "the watchdog stopped the run");
			return -ECONNABORTED;
		}
		if (api.ncclCommGetAsyncError(im->comm, &ar) != ncclSuccess ||
		    (ar != ncclSuccess && ar != ncclInProgress)) {
			fsc_error("nccl: rank %d: %s failed: %s", f->rank, what,
			          nccl_err(ar, im->comm));
			nc_abort(f, "a collective failed");
			return -EIO;
		}
		if (now_ns() > deadline) {
			fsc_error("nccl: rank %d: %s did not complete within %.1f s", f->rank, what,
			          f->timeout_ns / 1e9);
			nc_abort(f, "a collective did not complete");
			return -ETIMEDOUT;
		}
	}
	if (e != cudaSuccess) {
		fsc_error("nccl: rank %d: %s failed: %s", f->rank, what, cuda_err(e));
		return -EIO;
	}
	return 0;
}

/* Point-to-point operations queued before a collective go first. */
static int coll_begin(struct fsc_fabric *f, const char *what)
{
	int rc = dead(f, what, -1);

	return rc ? rc : issue(f);
}

static int nc_allreduce(struct fsc_fabric *f, const void *sbuf, void *rbuf, size_t count,
                        enum fsc_dtype dt, enum fsc_redop op)
{
	struct nc_impl *im = impl_of(f);
	ncclDataType_t t;
	ncclRedOp_t o;
	int rc;

	if (nc_dtype(dt, &t) || nc_redop(op, &o))
		return -ENOTSUP;
	if (!count)
		return 0;
	if ((rc = coll_begin(f, "all-reduce")))
		return rc;
	return coll_wait(f, api.ncclAllReduce(sbuf, rbuf, count, t, o, im->comm, im->stream),
	                 "all-reduce");
}

static int nc_reduce_scatter(struct fsc_fabric *f, const void *sbuf, void *rbuf, size_t count,
                             enum fsc_dtype dt, enum fsc_redop op)
{
	struct nc_impl *im = impl_of(f);
	size_t es = fsc_dtype_size(dt);
	unsigned char *own = (unsigned char *)sbuf + (size_t)f->rank * count * es;
	ncclDataType_t t;
	ncclRedOp_t o;
	cudaError_t e;
	int rc;

	if (nc_dtype(dt, &t) || nc_redop(op, &o))
		return -ENOTSUP;
	if (!count)
		return 0;
	if ((rc = coll_begin(f, "reduce-scatter")))
		return rc;
	/* In place (rbuf == sbuf) NCCL leaves this rank's chunk at its own
	 * offset; the contract wants it at the start. */
	rc = coll_wait(f,
	               api.ncclReduceScatter(sbuf, rbuf == sbuf ? own : rbuf, count, t, o, im->comm,
	                                     im->stream),
	               "reduce-scatter");
	if (rc || rbuf != sbuf || own == rbuf)
		return rc;
	e = api.cudaMemcpyAsync(rbuf, own, count * es, cudaMemcpyDeviceToDevice, im->cstream);
	if (e != cudaSuccess) {
		fsc_error("nccl: rank %d: cudaMemcpyAsync failed: %s", f->rank, cuda_err(e));
		return -EIO;
	}
	return stream_wait(f, im->cstream, "a copy");
}

static int nc_allgather(struct fsc_fabric *f, const void *sbuf, void *rbuf, size_t bytes)
{
	struct nc_impl *im = impl_of(f);
	int rc;

	if (!bytes)
		return 0;
	if ((rc = coll_begin(f, "all-gather")))
		return rc;
	return coll_wait(f, api.ncclAllGather(sbuf, rbuf, bytes, ncclUint8, im->comm, im->stream),
	                 "all-gather");
}

static int nc_bcast(struct fsc_fabric *f, void *buf, size_t bytes, int root)
{
	struct nc_impl *im = impl_of(f);
	int rc;

	if (!bytes)
		return 0;
	if ((rc = coll_begin(f, "broadcast")))
		return rc;
	return coll_wait(f,
	                 api.ncclBroadcast(buf, buf, bytes, ncclUint8, root, im->comm, im->stream),
	                 "broadcast");
}

static int nc_alltoall(struct fsc_fabric *f, const void *sbuf, void *rbuf, size_t bytes)
{
	struct nc_impl *im = impl_of(f);
	const unsigned char *s = sbuf;
	unsigned char *d = rbuf;
	ncclResult_t r, r2;
	cudaError_t e;
	int rc;

	if (!bytes)
		return 0;
	if ((rc = coll_begin(f, "all-to-all")))
		return rc;
	e = api.cudaMemcpyAsync(d + (size_t)f->rank * bytes, s + (size_t)f->rank * bytes, bytes,
	                        cudaMemcpyDeviceToDevice, im->stream);
	if (e != cudaSuccess) {
		fsc_error("nccl: rank %d: cudaMemcpyAsync failed: %s", f->rank, cuda_err(e));
		return -EIO;
	}
	r = api.ncclGroupStart();
	for (int k = 1; k < f->size && r == ncclSuccess; k++) {
		int to = (f->rank + k) % f->size, from = (f->rank - k + f->size) % f->size;

		r = api.ncclSend(s + (size_t)to * bytes, bytes, ncclUint8, to, im->comm,
		                 im->stream);
		if (r == ncclSuccess)
			r = api.ncclRecv(d + (size_t)from * bytes, bytes, ncclUint8, from, im->comm,
			                 im->stream);
	}
	r2 = api.ncclGroupEnd();
	return coll_wait(f, r == ncclSuccess ? r2 : r, "all-to-all");
}

static int nc_barrier(struct fsc_fabric *f)
{
	struct nc_impl *im = impl_of(f);
	int rc;

	if ((rc = coll_begin(f, "barrier")))
		return rc;
	return coll_wait(f,
	                 api.ncclAllReduce(im->scratch, im->scratch, 1, ncclInt32, ncclSum,
	                                   im->comm, im->stream),
	                 "barrier");
}

/* ------------------------------------------------------------------------
 * Device timer: CUDA events on the operations' stream
 * ------------------------------------------------------------------------ */

/* The runner marks its clock readings; each mark is a timing event recorded
 * on the stream every operation runs on, so cudaEventElapsedTime between two
 * marks is the GPU's time from the stream reaching the first (idle, at once
 * after the host's reading) to its finishing the sample's last operation:
 * launches, waits for peers and transfers, without the host's
 * synchronisation.  Events are made before the timed phase, never in it. */
static int nc_dt_prepare(struct fsc_fabric *f, uint64_t n)
{
	struct nc_impl *im = impl_of(f);

	if (n > im->captev) {
		cudaEvent_t *t = realloc(im->tev, n * sizeof(*t));

		if (!t) {
			fsc_error("nccl: out of memory for %llu timing events",
			          (unsigned long long)n);
			return -ENOMEM;
		}
		im->tev = t;
		for (; im->captev < n; im->captev++) {
			cudaError_t e =
			        api.cudaEventCreateWithFlags(&t[im->captev], cudaEventDefault);

			if (e != cudaSuccess) {
				fsc_error("nccl: rank %d: cudaEventCreate failed: %s", f->rank,
				          cuda_err(e));
				return -EIO;
			}
		}
	}
	im->ntev = n;
	return 0;
}

static int nc_dt_mark(struct fsc_fabric *f, uint64_t k)
{
	struct nc_impl *im = impl_of(f);
	cudaError_t e;

	if (k >= im->ntev) {
		fsc_error("nccl: device timer mark %llu out of range (0..%llu prepared)",
		          (unsigned long long)k, (unsigned long long)im->ntev);
		return -EINVAL;
	}
	if (im->dead)
		return -EIO;
	e = api.cudaEventRecord(im->tev[k], im->stream);
	if (e != cudaSuccess) {
		fsc_error("nccl: rank %d: cudaEventRecord failed: %s", f->rank, cuda_err(e));
		return -EIO;
	}
	return 0;
}

static int nc_dt_elapsed(struct fsc_fabric *f, uint64_t a, uint64_t b, double *ns)
{
	struct nc_impl *im = impl_of(f);
	uint64_t deadline = now_ns() + f->timeout_ns;
	float ms = 0;
	cudaError_t e;

	if (a >= im->ntev || b >= im->ntev) {
		fsc_error("nccl: device timer marks %llu, %llu out of range (0..%llu prepared)",
		          (unsigned long long)a, (unsigned long long)b,
		          (unsigned long long)im->ntev);
		return -EINVAL;
	}
	/* both marks follow operations the runner already waited for: the
	 * stream reaches them at once, but every wait has a deadline */
	while ((e = api.cudaEventQuery(im->tev[b])) == cudaErrorNotReady)
		if (now_ns() > deadline) {
			fsc_error("nccl: rank %d: a timing event was not reached within %.1f s",
			          f->rank, f->timeout_ns / 1e9);
			return -ETIMEDOUT;
		}
	if (e == cudaSuccess)
		e = api.cudaEventElapsedTime(&ms, im->tev[a], im->tev[b]);
	if (e != cudaSuccess) {
		fsc_error("nccl: rank %d: cudaEventElapsedTime failed: %s", f->rank, cuda_err(e));
		return -EIO;
	}
	*ns = (double)ms * 1e6;
	return 0;
}

static const struct fsc_dev_timer_ops nc_dev_timer = {
        .name = "gpu_time",
        .prepare = nc_dt_prepare,
        .mark = nc_dt_mark,
        .elapsed = nc_dt_elapsed,
};

static const struct fsc_coll_ops nc_coll = {
        .barrier = nc_barrier,
        .allreduce = nc_allreduce,
        .alltoall = nc_alltoall,
        .allgather = nc_allgather,
        .reduce_scatter = nc_reduce_scatter,
        .bcast = nc_bcast,
};

/* ------------------------------------------------------------------------
 * Describe
 * ------------------------------------------------------------------------ */

/* Every rank's GPU, its NUMA node and the NIC nearest to it (collective:
 * describe runs on every rank). */
static int describe_placement(struct fsc_fabric *f, json_t *info)
{
	struct nc_impl *im = impl_of(f);
	struct row {
		int dev;
		char pci[32];
		struct nc_where w;
	} me = {.dev = im->dev, .w = im->where}, *all;
	json_t *arr;
	int bad = 0;

	snprintf(me.pci, sizeof(me.pci), "%s", im->pci);
	all = calloc((size_t)f->size, sizeof(*all));
	if (!all)
		return -ENOMEM;
	if (fsc_boot_allgather(f->boot, &me, all, sizeof(me))) {
		free(all);
		return -EIO;
	}
	arr = json_array();
	for (int r = 0; arr && r < f->size; r++) {
		const struct nc_where *w = &all[r].w;
		json_t *row = json_pack("{s:i, s:s, s:i, s:s, s:i}", "rank", r, "host",
		                        f->boot->hosts[r], "gpu", all[r].dev, "pci_bus_id",
		                        all[r].pci, "numa_node", w->numa);

		if (row && w->nic[0])
			bad |= json_object_set_new(
			        row, "nic",
			        json_pack("{s:s, s:s, s:i, s:i, s:b, s:s}", "name", w->nic, "class",
			                  w->nic_class, "numa_node", w->nic_numa, "pci_levels_shared",
			                  w->nic_levels, "estimate", 1, "how",
			                  "nearest to the GPU by PCI path, then NUMA node "
			                  "(sysfs); NCCL does not say which it uses"));
		else if (row)
			bad |= json_object_set_new(row, "nic",
			                           json_pack("{s:n, s:s}", "name", "why", w->why));
		bad |= !row || json_array_append_new(arr, row);
	}
	free(all);
	bad |= !arr || json_object_set_new(info, "placement", arr);
	bad |= json_object_set_new(info, "numa_node", json_integer(im->where.numa));
	return bad ? -ENOMEM : 0;
}

static int nc_describe(struct fsc_fabric *f, json_t *info)
{
	struct nc_impl *im = impl_of(f);
	json_t *env = json_object();
	int nv = 0, rt = 0, drv = 0, bad = !env;
	char ver[32];

	api.ncclGetVersion(&nv);
	api.cudaRuntimeGetVersion(&rt);
	api.cudaDriverGetVersion(&drv);
	/* NCCL_VERSION_CODE: major * 10000 + minor * 100 + patch since 2.9 */
	snprintf(ver, sizeof(ver), "%d.%d.%d", nv / 10000, nv / 100 % 100, nv % 100);
	for (char **e = environ; env && *e; e++) {
		const char *eq = strchr(*e, '=');

		if (!strncmp(*e, "NCCL_", 5) && eq) {
			char name[128];

			snprintf(name, sizeof(name), "%.*s", (int)(eq - *e), *e);
			bad |= json_object_set_new(env, name, json_string(eq + 1));
		}
	}
	bad |= json_object_set_new(info, "nccl_version", json_string(ver));
	bad |= json_object_set_new(info, "cuda_runtime", json_integer(rt));
	bad |= json_object_set_new(info, "cuda_driver", json_integer(drv));
	bad |= json_object_set_new(info, "gpu", json_integer(im->dev));
	bad |= json_object_set_new(info, "gpu_name", json_string(im->gpu));
	bad |= json_object_set_new(info, "pci_bus_id", json_string(im->pci));
	bad |= json_object_set_new(info, "memory", json_string("device"));
	bad |= json_object_set_new(info, "nccl_env", env);
	bad |= describe_placement(f, info);
	if (im->debug)
		bad |= json_object_set(info, "nccl_debug", im->debug);
	bad |= json_object_set_new(
	        info, "gpu_time",
	        json_string("cudaEventElapsedTime between events recorded on the operations' "
	                    "stream right after the runner's clock readings"));
	if (bad) {
		fsc_error("nccl: cannot describe the fabric (out of memory)");
		return -ENOMEM;
	}
	return 0;
}

const struct fsc_fabric_ops fsc_fabric_nccl = {
        .name = "nccl",
        .desc = "NCCL send/recv and collectives on GPU memory",
        .caps = FSC_CAP_SEND_RECV | FSC_CAP_GPU_MEM | FSC_CAP_NATIVE_COLL |
                FSC_CAP_POSTING_ORDER | FSC_CAP_CANCEL_ABORTS,
        .opts = nc_opts,
        .probe = nc_probe,
        .create = nc_create,
        .destroy = nc_destroy,
        .connect = nc_connect,
        .mem_alloc = nc_mem_alloc,
        .mem_free = nc_mem_free,
        .mem_copy = nc_mem_copy,
        .mem_set = nc_mem_set,
        .isend = nc_isend,
        .irecv = nc_irecv,
        .test = nc_test,
        .cancel = nc_cancel,
        .describe = nc_describe,
        .coll = &nc_coll,
        .dev_timer = &nc_dev_timer,
};
