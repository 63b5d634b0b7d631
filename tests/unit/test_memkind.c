/* Memory kinds (src/fabric.h): the buffer calls on host memory, and every
 * pattern over the loopback fabric's device-like memory (--lb-mem device),
 * where a transfer buffer has no host access at all: a pattern that
 * dereferenced one would crash these tests, and data that did not go
 * through the fabric's copies would fail verification.
 */
#include "unit/coll_harness.h"

#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "loopback/loopback.h"

/* ---- the wrappers on host memory ---- */

static void fsc_fabric_mem__host_kind_copies_in_place(void **state)
{
	unsigned char *b = fsc_fabric_buf_alloc(0, 100), h[100];

	(void)state;
	assert_non_null(b);
	assert_int_equal(fsc_fabric_mem_kind(0), FSC_MEM_HOST);
	assert_string_equal(fsc_mem_kind_name(FSC_MEM_DEVICE), "device");
	/* the host image of a host buffer is the buffer itself */
	assert_ptr_equal(fsc_fabric_host_alloc(0, b, 100), b);
	assert_int_equal(fsc_fabric_buf_set(0, b, 0x5a, 100), 0);
	assert_int_equal(fsc_fabric_to_host(0, h, b, 100), 0);
	assert_int_equal(h[0], 0x5a);
	assert_int_equal(h[99], 0x5a);
	h[7] = 1;
	assert_int_equal(fsc_fabric_from_host(0, b, h, 100), 0);
	assert_int_equal(b[7], 1);
	assert_int_equal(fsc_fabric_buf_copy(0, b + 50, b, 8), 0);
	assert_int_equal(b[57], 1);
	fsc_fabric_host_free(0, b, b); /* not freed twice below */
	fsc_fabric_buf_free(0, b);
}

/* A fabric that claims device memory without the entries for it. */
static int nodev_create(struct fsc_fabric *f, const struct fsc_config *cfg)
{
	(void)cfg;
	f->mem = FSC_MEM_DEVICE;
	return 0;
}

static const struct fsc_fabric_ops nodev_ops = {.name = "nodev", .create = nodev_create};

static void fsc_fabric_mem__device_kind_without_entries_fails(void **state)
{
	struct fsc_fabric *f = 0;
	unsigned char h[8] = {0};

	(void)state;
	assert_int_equal(fsc_fabric_create(&nodev_ops, 0, 0, &f), 0);
	assert_int_equal(fsc_fabric_mem_kind(f), FSC_MEM_DEVICE);
	assert_null(fsc_fabric_buf_alloc(f, 8));
	assert_int_equal(fsc_fabric_to_host(f, h, h + 4, 4), -ENOTSUP);
	assert_int_equal(fsc_fabric_buf_set(f, h, 0, 4), -ENOTSUP);
	fsc_fabric_destroy(f);
}

/* A host fabric with an allocator of its own (buf_alloc/buf_free) and a
 * registration that must then stay unused. */
static size_t own_bytes;
static int own_allocs, own_frees, own_regs;

static void *own_alloc(struct fsc_fabric *f, size_t bytes)
{
	(void)f;
	own_allocs++;
	own_bytes = bytes;
	return aligned_alloc(64, bytes);
}

static void own_free(struct fsc_fabric *f, void *buf)
{
	(void)f;
	own_frees++;
	free(buf);
}

static int own_reg(struct fsc_fabric *f, void *buf, size_t bytes)
{
	(void)f, (void)buf, (void)bytes;
	own_regs++;
	return 0;
}

static const struct fsc_fabric_ops own_ops = {
        .name = "own", .mem_reg = own_reg, .buf_alloc = own_alloc, .buf_free = own_free};

static void fsc_fabric_mem__host_allocator_of_the_fabric(void **state)
{
	struct fsc_fabric *f = 0;
	unsigned char *b, *c;

	(void)state;
	own_allocs = own_frees = own_regs = 0;
	assert_int_equal(fsc_fabric_create(&own_ops, 0, 0, &f), 0);
	assert_int_equal(fsc_fabric_mem_kind(f), FSC_MEM_HOST);
	b = fsc_fabric_buf_alloc(f, 100);
	assert_non_null(b);
	assert_int_equal(own_allocs, 1);
	assert_int_equal(own_bytes, 128); /* rounded up to the alignment */
	c = fsc_fabric_buf_alloc(f, 0);   /* a minimal buffer, still the fabric's */
	assert_non_null(c);
	assert_int_equal(own_bytes, 64);
	assert_int_equal(own_regs, 0);
	/* host memory: the host image is the buffer itself */
	assert_ptr_equal(fsc_fabric_host_alloc(f, b, 100), b);
	fsc_fabric_buf_free(f, b);
	assert_int_equal(own_frees, 1);
	/* an abandoned fabric keeps its buffers */
	f->abandoned = 1;
	fsc_fabric_buf_free(f, c);
	assert_int_equal(own_frees, 1);
	f->abandoned = 0;
	fsc_fabric_buf_free(f, c);
	assert_int_equal(own_frees, 2);
	assert_int_equal(own_regs, 0);
	fsc_fabric_destroy(f);
}

/* ---- the loopback fabric's device-like memory, on one rank ---- */

struct one {
	int (*body)(struct fsc_fabric *f);
	int rc;
};

static int one_rank(struct fsc_boot *b, void *arg)
{
	struct one *o = arg;
	const char *args[] = {"--lb-mem", "device"};
	struct fsc_config *cfg = lbh_config(2, args);
	struct fsc_fabric *f = 0;

	if (!cfg)
		return -1;
	o->rc = fsc_fabric_create(&fsc_fabric_loopback, b, cfg, &f);
	if (!o->rc)
		o->rc = fsc_fabric_connect(f);
	if (!o->rc)
		o->rc = o->body(f);
	fsc_fabric_destroy(f);
	fsc_config_free(cfg);
	return 0;
}

static int run_one(int (*body)(struct fsc_fabric *f))
{
	struct one o = {body, -1};
	int rcs[1];

	assert_int_equal(fsc_boot_local_run(1, 0, one_rank, &o, rcs), 0);
	assert_int_equal(rcs[0], 0);
	return o.rc;
}

static int round_trip(struct fsc_fabric *f)
{
	unsigned char *d = fsc_fabric_buf_alloc(f, 64), *e = fsc_fabric_buf_alloc(f, 64);
	unsigned char h[64], back[64];
	int rc;

	if (fsc_fabric_mem_kind(f) != FSC_MEM_DEVICE || !d || !e)
		return -100;
	for (int i = 0; i < 64; i++)
		h[i] = (unsigned char)(i * 7);
	rc = fsc_fabric_from_host(f, d, h, 64);
	if (!rc)
		rc = fsc_fabric_buf_set(f, e, 0xee, 64);
	if (!rc)
		rc = fsc_fabric_buf_copy(f, e + 8, d + 16, 16);
	if (!rc)
		rc = fsc_fabric_to_host(f, back, e, 64);
	if (!rc && (back[0] != 0xee || back[8] != h[16] || back[23] != h[31] || back[24] != 0xee))
		rc = -101;
	/* a range running past the end of a buffer is not device memory */
	if (!rc && fsc_fabric_to_host(f, back, d + 32, 64) != -EINVAL)
		rc = -102;
	fsc_fabric_buf_free(f, d);
	fsc_fabric_buf_free(f, e);
	return rc;
}

static void fsc_loopback_devmem__copies_round_trip(void **state)
{
	(void)state;
	assert_int_equal(run_one(round_trip), 0);
}

static int touch(struct fsc_fabric *f)
{
	volatile unsigned char *d = fsc_fabric_buf_alloc(f, 64);

	if (d)
		d[3] = 1; /* what no pattern may do */
	return -100;
}

/* A host write to a device-like buffer is caught (the process faults). */
static void fsc_loopback_devmem__host_dereference_faults(void **state)
{
	int st = 0;
	pid_t pid;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		signal(SIGSEGV, SIG_DFL); /* cmocka's handler would catch it */
		run_one(touch);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGSEGV);
}

struct two {
	int rc[2];
};

static int host_pointer_rank(struct fsc_boot *b, void *arg)
{
	struct two *t = arg;
	const char *args[] = {"--lb-mem", "device"};
	struct fsc_config *cfg = lbh_config(2, args);
	struct fsc_fabric *f = 0;
	struct fsc_req r;
	unsigned char host[16] = {0};

	if (!cfg)
		return -1;
	t->rc[b->rank] = fsc_fabric_create(&fsc_fabric_loopback, b, cfg, &f);
	if (!t->rc[b->rank])
		t->rc[b->rank] = fsc_fabric_connect(f);
	if (!t->rc[b->rank])
		t->rc[b->rank] = b->rank ? fsc_fabric_irecv(f, 0, host, sizeof(host), 1, &r)
		                         : fsc_fabric_isend(f, 1, host, sizeof(host), 1, &r);
	fsc_fabric_destroy(f);
	fsc_config_free(cfg);
	return 0;
}

/* As NCCL refuses host memory, the device-like loopback refuses an
 * isend or irecv on a buffer that is not its device memory. */
static void fsc_loopback_devmem__host_pointer_refused(void **state)
{
	struct two t = {{1, 1}};

	(void)state;
	assert_int_equal(fsc_boot_local_run(2, 0, host_pointer_rank, &t, 0), 0);
	assert_int_equal(t.rc[0], -EINVAL);
	assert_int_equal(t.rc[1], -EINVAL);
}

/* ---- every pattern on device-like memory ---- */

static const struct lbh_point every_point[] = {
        {"allreduce", "ring", FSC_F32, FSC_SUM, 0, 4100},
        {"allreduce", "ring", FSC_BF16, FSC_MAX, 1, 998},
        {"allreduce", "rd", FSC_I32, FSC_SUM, 0, 4100},
        {"allreduce", "rd", FSC_F64, FSC_MIN, 1, 808},
        {"reducescatter", "ring", FSC_F32, FSC_SUM, 0, 4100},
        {"reducescatter", "ring", FSC_I64, FSC_MAX, 1, 808},
        {"allgather", "ring", FSC_F32, FSC_SUM, 0, 1001},
        {"allgather", "ring", FSC_F32, FSC_SUM, 1, 1001},
        {"broadcast", "chain", FSC_F32, FSC_SUM, 0, 3000},
        {"broadcast", "tree", FSC_F32, FSC_SUM, 0, 3000},
};

static const struct lbh_point p2p_point[] = {
        {"latency", "pingpong", FSC_F32, FSC_SUM, 0, 100},
        {"latency", "pingpong", FSC_F32, FSC_SUM, 0, 8192}, /* pre-posted */
        {"bandwidth", "uni", FSC_F32, FSC_SUM, 0, 5000},
        {"bandwidth", "bi", FSC_F32, FSC_SUM, 0, 5000},
        {"latency", "put", FSC_F32, FSC_SUM, 0, 100},
        {"latency", "get", FSC_F32, FSC_SUM, 0, 100},
        {"bandwidth", "put", FSC_F32, FSC_SUM, 0, 5000},
        {"bandwidth", "get", FSC_F32, FSC_SUM, 0, 5000},
        {"alltoall", "pairwise", FSC_F32, FSC_SUM, 0, 4000},
};

static void fsc_pattern__every_pattern_exact_on_device_memory(void **state)
{
	(void)state;
	for (int n = 1; n <= 5; n++) {
		struct lbh_job j = {0};
		json_t *recs;

		LBH_ARGS(&j, "--lb-mem", "device", "--iters", "2", "--warmup", "1", "--check",
		         "every", "--coll-seg", "512", "--bcast-root", n > 2 ? "2" : "0");
		j.points = every_point;
		j.npoints = sizeof(every_point) / sizeof(every_point[0]);
		recs = ch_run(&j, n);
		ch_assert_all_ok(recs);
		json_decref(recs);
		if (n < 2)
			continue;
		LBH_ARGS(&j, "--lb-mem", "device", "--iters", "2", "--warmup", "1", "--check",
		         "every", "--window", "4", "--peer", n > 2 ? "2" : "1");
		j.points = p2p_point;
		j.npoints = sizeof(p2p_point) / sizeof(p2p_point[0]);
		recs = ch_run(&j, n);
		ch_assert_all_ok(recs);
		json_decref(recs);
	}
}

/* The sweep patterns (their own drivers): pipeline and pairs. */
static void fsc_pattern__pipeline_and_pairs_exact_on_device_memory(void **state)
{
	static const char *const hosts[LBH_MAX_RANKS] = {"h0", "h1", "h2", "h3",
	                                                 "h4", "h5", "h6", "h7"};
	struct lbh_job j = {.pattern = "pipeline"};
	json_t *recs;

	(void)state;
	LBH_ARGS(&j, "--lb-mem", "device", "--min", "4096", "--max", "4096", "--iters", "3",
	         "--warmup", "1", "--check", "every", "--pipe-microbatches", "4");
	recs = lbh_run(&j, 3);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(j.rc[i], 0);
		assert_int_equal(j.failed[i], 0);
		assert_int_equal(j.wrong[i], 0);
	}
	ch_assert_all_ok(recs);
	json_decref(recs);

	memset(&j, 0, sizeof(j));
	j.pattern = "pairs";
	j.hosts = hosts;
	LBH_ARGS(&j, "--lb-mem", "device", "--pairs-bw-size", "8K", "--pairs-window", "4",
	         "--pairs-repeats", "2", "--pairs-lat-iters", "4");
	recs = lbh_run(&j, 3);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(j.rc[i], 0);
		assert_int_equal(j.failed[i], 0);
		assert_int_equal(j.wrong[i], 0);
	}
	assert_string_equal(lbh_str(json_array_get(recs, 0), "status"), "ok");
	json_decref(recs);
}

/* Verification reads what really arrived in device memory: a byte
 * corrupted in flight is counted. */
static void fsc_pattern__corruption_counted_on_device_memory(void **state)
{
	static const struct lbh_point pts[] = {
	        {"allreduce", "ring", FSC_I32, FSC_SUM, 0, 4096},
	        {"latency", "pingpong", FSC_F32, FSC_SUM, 0, 64},
	};
	struct lbh_job j = {0};
	json_t *recs;

	(void)state;
	LBH_ARGS(&j, "--lb-mem", "device", "--iters", "1", "--warmup", "0", "--check", "every",
	         "--lb-corrupt", "0:1:0:5");
	j.points = pts;
	j.npoints = 1;
	recs = lbh_run(&j, 3);
	assert_true(lbh_num(json_array_get(recs, 0), "wrong") >= 1);
	json_decref(recs);
	j.points = pts + 1;
	recs = lbh_run(&j, 2);
	assert_true(j.wrong[1] >= 1);
	json_decref(recs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(fsc_fabric_mem__host_kind_copies_in_place),
	        cmocka_unit_test(fsc_fabric_mem__device_kind_without_entries_fails),
	        cmocka_unit_test(fsc_fabric_mem__host_allocator_of_the_fabric),
	        cmocka_unit_test(fsc_loopback_devmem__copies_round_trip),
	        cmocka_unit_test(fsc_loopback_devmem__host_dereference_faults),
	        cmocka_unit_test(fsc_loopback_devmem__host_pointer_refused),
	        cmocka_unit_test(fsc_pattern__every_pattern_exact_on_device_memory),
	        cmocka_unit_test(fsc_pattern__pipeline_and_pairs_exact_on_device_memory),
	        cmocka_unit_test(fsc_pattern__corruption_counted_on_device_memory),
	};

	return cmocka_run_group_tests(tests, 0, 0);
}
