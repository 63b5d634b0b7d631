/* The nccl fabric on the CUDA/NCCL stand-in (tests/cudadouble; ctest puts
 * it first on LD_LIBRARY_PATH with 8 devices), ranks as threads: every
 * pattern with verified data, the fabric's own entries (device memory,
 * describe, placement), and cancel aborting the communicator.
 */
#include "unit/coll_harness.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- every pattern, 1 to 4 ranks ---- */

static const struct lbh_point coll_points[] = {
        {"allreduce", "ring", FSC_F32, FSC_SUM, 0, 4800},
        {"allreduce", "rd", FSC_BF16, FSC_MAX, 1, 960},
        {"allreduce", "native", FSC_F32, FSC_SUM, 0, 4800},
        {"allreduce", "native", FSC_I64, FSC_MIN, 1, 960},
        {"allreduce", "native", FSC_BF16, FSC_SUM, 0, 960},
        {"allreduce", "native", FSC_F16, FSC_SUM, 0, 960},
        {"allreduce", "ring", FSC_F16, FSC_MIN, 0, 960},
        {"reducescatter", "ring", FSC_F32, FSC_SUM, 0, 4800},
        {"reducescatter", "native", FSC_I32, FSC_MAX, 0, 4800},
        {"reducescatter", "native", FSC_F64, FSC_SUM, 1, 4800},
        {"allgather", "ring", FSC_F32, FSC_SUM, 1, 1200},
        {"allgather", "native", FSC_F32, FSC_SUM, 0, 1200},
        {"allgather", "native", FSC_F32, FSC_SUM, 1, 1200},
        {"broadcast", "chain", FSC_F32, FSC_SUM, 0, 3000},
        {"broadcast", "tree", FSC_F32, FSC_SUM, 0, 3000},
        {"broadcast", "native", FSC_F32, FSC_SUM, 0, 3000},
};

static const struct lbh_point p2p_points[] = {
        {"latency", "pingpong", FSC_F32, FSC_SUM, 0, 100},
        {"latency", "pingpong", FSC_F32, FSC_SUM, 0, 0},
        {"latency", "pingpong", FSC_F32, FSC_SUM, 0, 8192},
        {"bandwidth", "uni", FSC_F32, FSC_SUM, 0, 5000},
        {"bandwidth", "bi", FSC_F32, FSC_SUM, 0, 5000},
        {"alltoall", "pairwise", FSC_F32, FSC_SUM, 0, 1200},
        {"alltoall", "native", FSC_F32, FSC_SUM, 0, 1200},
};

static void fsc_nccl__every_pattern_exact(void **state)
{
	(void)state;
	for (int n = 1; n <= 4; n++) {
		struct lbh_job j = {.fabric = "nccl"};
		json_t *recs;

		LBH_ARGS(&j, "--iters", "2", "--warmup", "1", "--check", "every", "--coll-seg",
		         "512", "--bcast-root", n > 2 ? "2" : "0", "--timeout", "60s");
		j.points = coll_points;
		j.npoints = sizeof(coll_points) / sizeof(coll_points[0]);
		recs = ch_run(&j, n);
		ch_assert_all_ok(recs);
		json_decref(recs);
		if (n < 2)
			continue;
		LBH_ARGS(&j, "--iters", "2", "--warmup", "1", "--check", "every", "--window", "4",
		         "--peer", n > 2 ? "2" : "1", "--timeout", "60s");
		j.points = p2p_points;
		j.npoints = sizeof(p2p_points) / sizeof(p2p_points[0]);
		recs = ch_run(&j, n);
		ch_assert_all_ok(recs);
		json_decref(recs);
	}
}

static void fsc_nccl__pipeline_exact(void **state)
{
	struct lbh_job j = {.fabric = "nccl", .pattern = "pipeline"};
	json_t *recs;

	(void)state;
	LBH_ARGS(&j, "--min", "4096", "--max", "4096", "--iters", "3", "--warmup", "1", "--check",
	         "every", "--pipe-microbatches", "4", "--timeout", "60s");
	recs = lbh_run(&j, 3);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(j.rc[i], 0);
		assert_int_equal(j.failed[i], 0);
	}
	ch_assert_all_ok(recs);
	json_decref(recs);
}

/* ---- the fabric's entries ---- */

struct job {
	const char *const *args;
	int nargs;
	int (*body)(struct fsc_fabric *f);
	int create_rc[4], connect_rc[4], rc[4];
};

static int job_rank(struct fsc_boot *b, void *arg)
{
	struct job *jb = arg;
	struct fsc_config *cfg = lbh_config(jb->nargs, jb->args);
	struct fsc_fabric *f = 0;

	if (!cfg)
		return -1;
	jb->create_rc[b->rank] = fsc_fabric_create(fsc_fabric_find("nccl"), b, cfg, &f);
	if (!jb->create_rc[b->rank])
		jb->connect_rc[b->rank] = fsc_fabric_connect(f);
	if (!jb->create_rc[b->rank] && !jb->connect_rc[b->rank] && jb->body)
		jb->rc[b->rank] = jb->body(f);
	fsc_fabric_destroy(f);
	fsc_config_free(cfg);
	return 0;
}

static void run_job(struct job *jb, int n)
{
	int rcs[4];

	assert_int_equal(fsc_boot_local_run(n, 0, job_rank, jb, rcs), 0);
	for (int i = 0; i < n; i++)
		assert_int_equal(rcs[i], 0);
}

static int memory_and_describe(struct fsc_fabric *f)
{
	unsigned char *d = fsc_fabric_buf_alloc(f, 256), h[256], back[256];
	json_t *info = json_object();
	int rc;

	if (fsc_fabric_mem_kind(f) != FSC_MEM_DEVICE || !d || !info)
		return -100;
	for (int i = 0; i < 256; i++)
		h[i] = (unsigned char)(i ^ f->rank);
	rc = fsc_fabric_from_host(f, d, h, 256);
	if (!rc)
		rc = fsc_fabric_buf_copy(f, d + 128, d, 64);
	if (!rc)
		rc = fsc_fabric_to_host(f, back, d, 256);
	if (!rc &&
	    (back[0] != h[0] || back[128] != h[0] || back[191] != h[63] || back[192] != h[192]))
		rc = -101;
	if (!rc)
		rc = fsc_fabric_buf_set(f, d, 0xab, 256);
	if (!rc)
		rc = fsc_fabric_to_host(f, back, d, 256);
	if (!rc && (back[0] != 0xab || back[255] != 0xab))
		rc = -102;
	if (!rc)
		rc = fsc_fabric_describe(f, info);
	if (!rc && (!json_is_string(json_object_get(info, "nccl_version")) ||
	            !json_is_string(json_object_get(info, "pci_bus_id")) ||
	            json_integer_value(json_object_get(info, "gpu")) != f->rank ||
	            !json_is_object(json_object_get(info, "nccl_env")) ||
	            !json_is_string(json_object_get(info, "gpu_time"))))
		rc = -103;
	json_decref(info);
	fsc_fabric_buf_free(f, d);
	return rc;
}

static void fsc_nccl__device_memory_and_describe(void **state)
{
	const char *args[] = {"--timeout", "30s"};
	struct job jb = {args, 2, memory_and_describe, {0}, {0}, {0}};

	(void)state;
	run_job(&jb, 2);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(jb.create_rc[i], 0);
		assert_int_equal(jb.connect_rc[i], 0);
		assert_int_equal(jb.rc[i], 0);
	}
}

/* The device timer: marks are timing events on the operations' stream; the
 * time between two around an all-reduce is that of the stream, at least
 * the stand-in's stream delay; a mark never recorded is refused (as
 * cudaEventElapsedTime refuses it), a mark not prepared too. */
static int device_timer(struct fsc_fabric *f)
{
	const struct fsc_dev_timer_ops *dt = f->ops->dev_timer;
	int *d = fsc_fabric_buf_alloc(f, 64);
	double ns = -1;
	int rc;

	if (!dt || strcmp(dt->name, "gpu_time") || !d)
		return -100;
	rc = dt->prepare(f, 3);
	if (!rc)
		rc = dt->mark(f, 0);
	if (!rc)
		rc = fsc_fabric_coll_allreduce(f, d, d, 16, FSC_I32, FSC_SUM);
	if (!rc)
		rc = dt->mark(f, 1);
	if (!rc)
		rc = dt->elapsed(f, 0, 1, &ns);
	if (!rc && !(ns >= 0 && ns < 30e9))
		rc = -101;
	if (!rc && dt->elapsed(f, 0, 2, &ns) != -EIO) /* mark 2 never recorded */
		rc = -102;
	if (!rc && (dt->mark(f, 3) != -EINVAL || dt->elapsed(f, 0, 3, &ns) != -EINVAL))
		rc = -103;
	fsc_fabric_buf_free(f, d);
	return rc;
}

static void fsc_nccl__device_timer_on_cuda_events(void **state)
{
	const char *args[] = {"--timeout", "30s"};
	struct job jb = {args, 2, device_timer, {0}, {0}, {0}};

	(void)state;
	run_job(&jb, 2);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(jb.connect_rc[i], 0);
		assert_int_equal(jb.rc[i], 0);
	}
}

/* Two ranks of one host on one GPU: refused in connect, before NCCL. */
static void fsc_nccl__two_ranks_on_one_gpu_refused(void **state)
{
	const char *args[] = {"--nccl-dev", "1", "--timeout", "30s"};
	struct job jb = {args, 4, 0, {0}, {0}, {0}};

	(void)state;
	run_job(&jb, 2);
	assert_int_equal(jb.create_rc[0], 0);
	assert_int_equal(jb.connect_rc[0], -EINVAL);
	assert_int_equal(jb.connect_rc[1], -EINVAL);
}

static void fsc_nccl__gpu_beyond_the_visible_refused(void **state)
{
	const char *args[] = {"--nccl-dev", "99"};
	struct job jb = {args, 2, 0, {0}, {0}, {0}};

	(void)state;
	run_job(&jb, 1);
	assert_int_equal(jb.create_rc[0], -EINVAL);
}

/* Rank 0 posts a receive nobody sends, cancels it: the communicator is
 * aborted and every later operation fails at once with -EIO. */
static int cancel_aborts(struct fsc_fabric *f)
{
	unsigned char *d = fsc_fabric_buf_alloc(f, 64);
	struct fsc_req r;
	int done = 0, rc;

	if (!d)
		return -100;
	if (f->rank == 0) {
		rc = fsc_fabric_irecv(f, 1, d, 64, 5, &r);
		if (!rc)
			rc = fsc_fabric_test(f, &r, &done); /* issued, not complete */
		if (!rc && done)
			rc = -101;
		if (!rc)
			rc = fsc_fabric_cancel(f, &r);
		if (!rc && fsc_fabric_isend(f, 1, d, 64, 5, &r) != -EIO)
			rc = -102;
		if (!rc && fsc_fabric_coll_barrier(f) != -EIO)
			rc = -103;
	} else {
		rc = 0;
	}
	/* rank 1 stays until rank 0 is done: its communicator's end must not
	 * be what ends rank 0's receive */
	if (fsc_boot_barrier(f->boot) && !rc)
		rc = -104;
	fsc_fabric_buf_free(f, d);
	return rc;
}

static void fsc_nccl__cancel_aborts_the_communicator(void **state)
{
	const char *args[] = {"--timeout", "5s"};
	struct job jb = {args, 2, cancel_aborts, {0}, {0}, {0}};

	(void)state;
	run_job(&jb, 2);
	assert_int_equal(jb.connect_rc[0], 0);
	assert_int_equal(jb.rc[0], 0);
	assert_int_equal(jb.rc[1], 0);
}

/* Placement on a sysfs of known shape ($FSC_NCCL_SYSFS): the GPUs (bus 18
 * and 19 behind one switch port, NUMA node 1), an RDMA device behind the
 * same port and one on another root (node 0), an Ethernet port near the
 * GPUs and a virtual interface.  Every rank's row names its GPU's NUMA
 * node and the near RDMA device, marked as an estimate. */
static char sysfs_dir[64];
static const char *want_nic;
static int want_numa;

static void mk(const char *rel, const char *numa)
{
	char p[512], q[600];

	snprintf(p, sizeof(p), "%s/%s", sysfs_dir, rel);
	for (char *s = p + strlen(sysfs_dir) + 1; (s = strchr(s, '/')); s++) {
		*s = 0;
		mkdir(p, 0755);
		*s = '/';
	}
	mkdir(p, 0755);
	if (numa) {
		FILE *fp;

		snprintf(q, sizeof(q), "%s/numa_node", p);
		fp = fopen(q, "w");
		assert_non_null(fp);
		fprintf(fp, "%s\n", numa);
		fclose(fp);
	}
}

static void ln(const char *target, const char *rel)
{
	char t[512], l[512];

	snprintf(t, sizeof(t), "%s/%s", sysfs_dir, target);
	snprintf(l, sizeof(l), "%s/%s", sysfs_dir, rel);
	assert_int_equal(symlink(t, l), 0);
}

static int placement(struct fsc_fabric *f)
{
	json_t *info = json_object(), *rows;
	int rc = fsc_fabric_describe(f, info);

	rows = json_object_get(info, "placement");
	if (!rc && json_array_size(rows) != (size_t)f->size)
		rc = -100;
	for (size_t r = 0; !rc && r < json_array_size(rows); r++) {
		json_t *row = json_array_get(rows, r), *nic = json_object_get(row, "nic");
		const char *name = json_string_value(json_object_get(nic, "name"));

		if (json_integer_value(json_object_get(row, "numa_node")) != want_numa)
			rc = -101;
		else if (want_nic ? !name || strcmp(name, want_nic) ||
		                            !json_is_true(json_object_get(nic, "estimate"))
		                  : !json_is_null(json_object_get(nic, "name")) ||
		                            !json_is_string(json_object_get(nic, "why")))
			rc = -102;
	}
	json_decref(info);
	return rc;
}

static void fsc_nccl__gpu_numa_node_and_nearest_nic(void **state)
{
	const char *args[] = {"--timeout", "30s"};
	struct job jb = {args, 2, placement, {0}, {0}, {0}};

	(void)state;
	snprintf(sysfs_dir, sizeof(sysfs_dir), "/tmp/fsc-sysfs-XXXXXX");
	assert_non_null(mkdtemp(sysfs_dir));
	mk("devices/pci0000:10/0000:10:01.0/0000:18:00.0", "1");
	mk("devices/pci0000:10/0000:10:01.0/0000:19:00.0", "1");
	mk("devices/pci0000:10/0000:10:01.0/0000:1a:00.0", "1");
	mk("devices/pci0000:20/0000:20:01.0/0000:2a:00.0", "0");
	mk("devices/pci0000:10/0000:10:02.0/0000:1b:00.0", "1");
	mk("bus/pci/devices", 0);
	mk("class/infiniband/mlx5_far", 0);
	mk("class/infiniband/mlx5_near", 0);
	mk("class/net/eth0", 0);
	mk("class/net/lo", 0);
	ln("devices/pci0000:10/0000:10:01.0/0000:18:00.0", "bus/pci/devices/0000:18:00.0");
	ln("devices/pci0000:10/0000:10:01.0/0000:19:00.0", "bus/pci/devices/0000:19:00.0");
	ln("devices/pci0000:10/0000:10:01.0/0000:1a:00.0", "class/infiniband/mlx5_near/device");
	ln("devices/pci0000:20/0000:20:01.0/0000:2a:00.0", "class/infiniband/mlx5_far/device");
	ln("devices/pci0000:10/0000:10:02.0/0000:1b:00.0", "class/net/eth0/device");
	setenv("FSC_NCCL_SYSFS", sysfs_dir, 1);
	want_nic = "mlx5_near";
	want_numa = 1;
	run_job(&jb, 2);
	for (int i = 0; i < 2; i++)
		assert_int_equal(jb.rc[i], 0);
	/* without RDMA devices: the Ethernet port with a PCI device */
	assert_int_equal(unlink(strcat(strcpy((char[128]){0}, sysfs_dir),
	                               "/class/infiniband/mlx5_near/device")),
	                 0);
	assert_int_equal(unlink(strcat(strcpy((char[128]){0}, sysfs_dir),
	                               "/class/infiniband/mlx5_far/device")),
	                 0);
	want_nic = "eth0";
	run_job(&jb, 2);
	for (int i = 0; i < 2; i++)
		assert_int_equal(jb.rc[i], 0);
	/* no sysfs entry for the GPU: no NUMA node, no NIC, and why */
	setenv("FSC_NCCL_SYSFS", "/nonexistent", 1);
	want_nic = 0;
	want_numa = -1;
	run_job(&jb, 2);
	for (int i = 0; i < 2; i++)
		assert_int_equal(jb.rc[i], 0);
	unsetenv("FSC_NCCL_SYSFS");
	assert_int_equal(system(strcat(strcpy((char[160]){0}, "rm -rf "), sysfs_dir)), 0);
}

/* --nccl-debug INFO with --output DIR/res.json: NCCL's lines go to
 * DIR/res.nccl.<host>.<pid>.log (NCCL_DEBUG_FILE set before NCCL's first
 * call), and describe names that file.  Its own process (NCCL reads the
 * variables once): `test_nccl debug`. */
static char debug_dir[64];
static char debug_file[4096];

static int debug_capture(struct fsc_fabric *f)
{
	json_t *info = json_object(), *files;
	int rc = fsc_fabric_describe(f, info);

	files = json_object_get(json_object_get(info, "nccl_debug"), "files");
	if (!rc && (json_array_size(files) != 1 ||
	            strcmp(json_string_value(json_array_get(files, 0)), debug_file) ||
	            strcmp(json_string_value(json_object_get(
	                           json_object_get(info, "nccl_env"), "NCCL_DEBUG")),
	                   "INFO")))
		rc = -100;
	json_decref(info);
	return rc;
}

static void fsc_nccl__debug_output_beside_the_results(void **state)
{
	char out[128], host[256] = "", line[512];
	const char *args[] = {"--timeout", "30s", "--nccl-debug", "INFO", "--output", out};
	struct job jb = {args, 6, debug_capture, {0}, {0}, {0}};
	int init = 0, version = 0;
	FILE *fp;

	(void)state;
	snprintf(debug_dir, sizeof(debug_dir), "/tmp/fsc-ncdbg-XXXXXX");
	assert_non_null(mkdtemp(debug_dir));
	snprintf(out, sizeof(out), "%s/res.json", debug_dir);
	gethostname(host, sizeof(host) - 1);
	host[strcspn(host, ".")] = 0;
	snprintf(debug_file, sizeof(debug_file), "%s/res.nccl.%s.%d.log", debug_dir, host,
	         (int)getpid());
	unsetenv("NCCL_DEBUG");
	unsetenv("NCCL_DEBUG_FILE");
	run_job(&jb, 1);
	assert_int_equal(jb.connect_rc[0], 0);
	assert_int_equal(jb.rc[0], 0);
	snprintf(line, sizeof(line), "%s/res.nccl.%%h.%%p.log", debug_dir);
	assert_string_equal(getenv("NCCL_DEBUG_FILE"), line);
	fp = fopen(debug_file, "r");
	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp)) {
		version += !strncmp(line, "NCCL version ", 13);
		init += strstr(line, "NCCL INFO") && strstr(line, "Init COMPLETE");
	}
	fclose(fp);
	assert_int_equal(version, 1);
	assert_int_equal(init, 1);
	unlink(debug_file);
	rmdir(debug_dir);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest debug_tests[] = {
	        cmocka_unit_test(fsc_nccl__debug_output_beside_the_results),
	};
	if (argc > 1 && !strcmp(argv[1], "debug"))
		return cmocka_run_group_tests(debug_tests, 0, 0);
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(fsc_nccl__every_pattern_exact),
	        cmocka_unit_test(fsc_nccl__pipeline_exact),
	        cmocka_unit_test(fsc_nccl__device_memory_and_describe),
	        cmocka_unit_test(fsc_nccl__device_timer_on_cuda_events),
	        cmocka_unit_test(fsc_nccl__gpu_numa_node_and_nearest_nic),
	        cmocka_unit_test(fsc_nccl__two_ranks_on_one_gpu_refused),
	        cmocka_unit_test(fsc_nccl__gpu_beyond_the_visible_refused),
	        cmocka_unit_test(fsc_nccl__cancel_aborts_the_communicator),
	};

	return cmocka_run_group_tests(tests, 0, 0);
}
