/* The runner over the loopback fabric: exact figures from the virtual
 * clock, slowest-rank aggregation, verification and fault handling.
 *
 * Loopback model (fabrics/loopback/README.md): a B-byte message on a link
 * with latency L and bandwidth W GB/s occupies the link B/W ns and arrives
 * L ns after that; sends do not advance the sender's clock.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lb_harness.h"

#define ARGS LBH_ARGS

static void fsc_runner_sweep__latency_exact_on_virtual_clock(void **state)
{
	struct lbh_job j = {.pattern = "latency"};
	json_t *recs, *rec;

	(void)state;
	ARGS(&j, "--fabric", "loopback", "--lb-lat", "1us", "--lb-bw", "1", "--min", "0", "--max",
	     "4096", "--factor", "4096", "--iters", "10", "--warmup", "3");
	recs = lbh_run(&j, 2);
	assert_int_equal(json_array_size(recs), 3); /* 0, 1, 4096 */
	/* one-way = bytes / (1 B/ns) + 1000 ns */
	rec = json_array_get(recs, 0);
	assert_string_equal(json_string_value(json_object_get(rec, "status")), "ok");
	assert_true(lbh_tnum(rec, "p50") == 1.0 && lbh_tnum(rec, "max") == 1.0);
	rec = json_array_get(recs, 1);
	assert_true(lbh_tnum(rec, "p50") == 1.001);
	rec = json_array_get(recs, 2);
	assert_true(lbh_tnum(rec, "min") == 5.096 && lbh_tnum(rec, "p99.9") == 5.096);
	assert_true(lbh_tnum(rec, "stdev") == 0);
	assert_int_equal((int)lbh_num(rec, "iters"), 10);
	{
		/* the per-sample times are kept beside their statistics */
		const json_t *s = json_object_get(rec, "samples");

		assert_string_equal(json_string_value(json_object_get(s, "kept")), "all");
		assert_int_equal(json_integer_value(json_object_get(s, "n")), 10);
		assert_int_equal(json_array_size(json_object_get(s, "values_us")), 10);
		assert_true(json_number_value(json_array_get(json_object_get(s, "values_us"), 9)) ==
		            5.096);
		/* 10 samples are too few for 8 time-ordered blocks of 5 */
		assert_null(json_object_get(s, "blocks_us"));
	}
	assert_int_equal((int)lbh_num(rec, "wrong"), 0);
	/* algbw = 4096 B / 5096 ns */
	assert_float_equal(lbh_num(rec, "algbw_GBps"), 4096.0 / 5096.0, 1e-12);
	json_decref(recs);
}

static void fsc_runner_sweep__bandwidth_uni_and_bi_exact(void **state)
{
	struct lbh_job j = {.pattern = "bandwidth"};
	json_t *recs, *rec;

	(void)state;
	ARGS(&j, "--fabric", "loopback", "--lb-lat", "1us", "--lb-bw", "1", "--min", "4096",
	     "--max", "4096", "--iters", "8", "--window", "4", "--impl", "uni,bi");
	recs = lbh_run(&j, 2);
	assert_int_equal(json_array_size(recs), 2);
	/* uni: 4 x 4096 ns on the link + 1000 ns, then a 4-byte ack: 4 + 1000 */
	rec = json_array_get(recs, 0);
	assert_string_equal(json_string_value(json_object_get(rec, "impl")), "uni");
	assert_true(lbh_tnum(rec, "p50") == 18.388 && lbh_tnum(rec, "max") == 18.388);
	assert_float_equal(lbh_num(rec, "algbw_GBps"), 16384.0 / 18388.0, 1e-12);
	/* bi: both directions at once, no ack: 4 x 4096 + 1000 */
	rec = json_array_get(recs, 1);
	assert_true(lbh_tnum(rec, "p50") == 17.384);
	assert_float_equal(lbh_num(rec, "algbw_GBps"), 2 * 16384.0 / 17384.0, 1e-12);
	json_decref(recs);
}

static void fsc_runner_point__slowest_rank_and_idle_ranks(void **state)
{
	struct lbh_job j = {.pattern = "latency"};
	json_t *recs, *rec;

	(void)state;
	/* rank 0 <-> rank 2 over a link slowed to half speed; rank 1 idles */
	ARGS(&j, "--fabric", "loopback", "--lb-lat", "1us", "--lb-bw", "1", "--min", "1000",
	     "--max", "1000", "--iters", "5", "--peer", "2", "--lb-slow-link", "2:0:0.5");
	recs = lbh_run(&j, 3);
	rec = json_array_get(recs, 0);
	/* 0->2: 1000 + 1000; 2->0: 2000 + 2000; half of 6000 ns */
	assert_true(lbh_tnum(rec, "p50") == 3.0);
	assert_int_equal((int)lbh_num(rec, "ranks"), 3);
	json_decref(recs);
}

static void fsc_runner_point__corrupted_byte_is_counted(void **state)
{
	struct lbh_job j = {.pattern = "latency"};
	json_t *recs, *rec;

	(void)state;
	/* message 0 on 0->1 is the verification pass's ping */
	ARGS(&j, "--fabric", "loopback", "--min", "64", "--max", "64", "--iters", "5",
	     "--lb-corrupt", "0:1:0:5");
	recs = lbh_run(&j, 2);
	rec = json_array_get(recs, 0);
	assert_string_equal(json_string_value(json_object_get(rec, "status")), "wrong");
	assert_int_equal((int)lbh_num(rec, "wrong"), 1);
	json_decref(recs);
}

static void fsc_runner_point__check_every_finds_late_corruption(void **state)
{
	struct lbh_job j = {.pattern = "bandwidth"};
	json_t *recs, *rec;

	(void)state;
	/* verification (4 msgs) + warm-up (4) + 3 timed windows: message 18
	 * is inside the 3rd timed window; only --check every can see it */
	ARGS(&j, "--fabric", "loopback", "--min", "64", "--max", "64", "--iters", "4", "--warmup",
	     "1", "--window", "4", "--check", "every", "--lb-corrupt", "0:1:18:0");
	recs = lbh_run(&j, 2);
	rec = json_array_get(recs, 0);
	assert_string_equal(json_string_value(json_object_get(rec, "status")), "wrong");
	assert_int_equal((int)lbh_num(rec, "wrong"), 1);
	json_decref(recs);

	ARGS(&j, "--fabric", "loopback", "--min", "64", "--max", "64", "--iters", "4", "--warmup",
	     "1", "--window", "4", "--check", "once", "--lb-corrupt", "0:1:18:0");
	recs = lbh_run(&j, 2);
	rec = json_array_get(recs, 0);
	assert_string_equal(json_string_value(json_object_get(rec, "status")), "ok");
	json_decref(recs);
}

static void fsc_runner_point__dropped_message_is_an_error_not_a_hang(void **state)
{
	struct lbh_job j = {.pattern = "latency"};
	json_t *recs, *rec;

	(void)state;
	ARGS(&j, "--fabric", "loopback", "--min", "8", "--max", "16", "--iters", "5", "--timeout",
	     "200ms", "--lb-drop", "0:1:2");
	recs = lbh_run(&j, 2);
	/* the first point fails; the sweep stops there */
	assert_int_equal(json_array_size(recs), 1);
	rec = json_array_get(recs, 0);
	assert_string_equal(json_string_value(json_object_get(rec, "status")), "error");
	assert_non_null(strstr(json_string_value(json_object_get(rec, "reason")), "timed out"));
	assert_int_equal(j.rc[0], -ETIMEDOUT);
	assert_int_equal(j.rc[1], -ETIMEDOUT);
	json_decref(recs);
}

/* The run options' table fills the runner's settings: typed values,
 * choices as enums, the table's defaults without a config. */
static void fsc_run_settings_fill__typed_from_the_table(void **state)
{
	struct lbh_job j = {.pattern = "latency"};
	struct fsc_boot b = {.rank = 0, .size = 2};
	struct fsc_run_settings s;
	struct fsc_runner r;
	struct fsc_config *cfg;
	char err[256] = "";

	(void)state;
	assert_int_equal(fsc_run_settings_fill(0, &s, err, sizeof(err)), 0);
	assert_int_equal(s.iters, 1000);
	assert_int_equal(s.timeout_ns, 30000000000ull);
	assert_int_equal(s.max, 4194304);
	assert_int_equal(s.check, FSC_CHECK_ONCE);
	assert_int_equal(s.fabric.n, 1);
	assert_string_equal(s.fabric.items[0], "mpi");
	assert_string_equal(s.output, "auto");
	assert_false(s.quiet);
	ARGS(&j, "--check", "off", "--inplace", "both", "--warmup-time", "1ms", "-n", "7", "-q");
	cfg = lbh_config(j.nargs, j.args);
	assert_int_equal(fsc_runner_init(&r, &b, cfg, 0, 0), 0);
	assert_int_equal(r.set.check, FSC_CHECK_OFF);
	assert_true(r.check_off && !r.check_every);
	assert_int_equal(r.set.inplace, FSC_INPLACE_BOTH);
	assert_int_equal(r.warmup_ns, 1000000);
	assert_int_equal(r.iters, 7);
	assert_string_equal(r.set.pattern.items[0], "latency");
	assert_true(r.set.quiet);
	fsc_runner_fini(&r);
	fsc_config_free(cfg);
}

static void fsc_runner_validate__bad_points_are_rejected(void **state)
{
	struct lbh_job j = {.pattern = "latency"};
	struct fsc_boot b = {.rank = 0, .size = 2};
	struct fsc_runner r;
	struct fsc_config *cfg;
	char err[256];

	(void)state;
	ARGS(&j, "--peer", "5");
	cfg = lbh_config(j.nargs, j.args);
	fsc_runner_init(&r, &b, cfg, 0, 0);
	assert_int_equal(fsc_runner_validate(&r, fsc_pattern_find("latency"), err, sizeof(err)),
	                 -EINVAL);
	assert_non_null(strstr(err, "--peer"));
	fsc_runner_fini(&r);
	fsc_config_free(cfg);

	ARGS(&j, "--min", "64", "--max", "8");
	cfg = lbh_config(j.nargs, j.args);
	fsc_runner_init(&r, &b, cfg, 0, 0);
	assert_int_equal(fsc_runner_validate(&r, fsc_pattern_find("latency"), err, sizeof(err)),
	                 -EINVAL);
	assert_non_null(strstr(err, "--min"));
	fsc_runner_fini(&r);
	fsc_config_free(cfg);

	b.size = 1;
	ARGS(&j, "--min", "8");
	cfg = lbh_config(j.nargs, j.args);
	fsc_runner_init(&r, &b, cfg, 0, 0);
	assert_int_equal(fsc_runner_validate(&r, fsc_pattern_find("bandwidth"), err, sizeof(err)),
	                 -EINVAL);
	assert_non_null(strstr(err, "at least 2 ranks"));
	fsc_runner_fini(&r);
	fsc_config_free(cfg);
}

/* Validate pattern `pat` as rank 0 of `size` ranks placed on hosts
 * `rank_host` (this rank on host 0, "h0"), with `avail` bytes available. */
static int validate_mem(const char *pat, int size, int *rank_host, uint64_t avail, char *err,
                        size_t errlen, struct lbh_job *j)
{
	struct fsc_boot b = {.rank = 0, .size = size, .rank_host = rank_host, .host = "h0"};
	struct fsc_runner r;
	struct fsc_config *cfg = lbh_config(j->nargs, j->args);
	int rc;

	fsc_runner_init(&r, &b, cfg, 0, 0);
	r.mem_avail_bytes = avail;
	err[0] = 0;
	rc = fsc_runner_validate(&r, fsc_pattern_find(pat), err, errlen);
	fsc_runner_fini(&r);
	fsc_config_free(cfg);
	return rc;
}

static void fsc_runner_validate__point_beyond_host_memory_is_refused(void **state)
{
	struct lbh_job j = {0};
	int two_hosts[4] = {0, 0, 1, 1}, alone[4] = {0, 1, 1, 1};
	const uint64_t MiB = 1 << 20;
	char err[512];

	(void)state;
	/* allreduce rd, 1 MiB, not in place: result, input, expected, scratch
	 * = 4 MiB per rank; two ranks on h0 share 8 MiB. */
	ARGS(&j, "--impl", "rd", "--min", "1M", "--max", "1M");
	assert_int_equal(validate_mem("allreduce", 4, two_hosts, 8 * MiB, err, sizeof(err), &j), 0);
	assert_int_equal(validate_mem("allreduce", 4, two_hosts, 8 * MiB - 1, err, sizeof(err), &j),
	                 -EINVAL);
	assert_null(strchr(err, '\n'));
	assert_string_equal(err, "pattern allreduce (impl rd) at 1048576 bytes needs 8.0 MiB of "
	                         "buffers on host h0 (2 ranks, up to 4.0 MiB each), which has "
	                         "8.0 MiB available (MemAvailable): lower --max");
	/* Ranks of other hosts use other memory. */
	assert_int_equal(validate_mem("allreduce", 4, alone, 4 * MiB, err, sizeof(err), &j), 0);
	assert_int_equal(validate_mem("allreduce", 4, alone, 4 * MiB - 1, err, sizeof(err), &j),
	                 -EINVAL);
	assert_non_null(strstr(err, "(1 rank, up to 4.0 MiB each)"));
	/* In-process ranks share one process's memory whatever their hosts. */
	{
		static const struct fsc_boot_ops local = {.name = "local"};
		struct fsc_boot b = {.ops = &local, .rank = 0, .size = 4, .rank_host = alone};
		struct fsc_runner r;
		struct fsc_config *cfg = lbh_config(j.nargs, j.args);

		fsc_runner_init(&r, &b, cfg, 0, 0);
		r.mem_avail_bytes = 16 * MiB - 1;
		assert_int_equal(
		        fsc_runner_validate(&r, fsc_pattern_find("allreduce"), err, sizeof(err)),
		        -EINVAL);
		assert_non_null(strstr(err, "(4 ranks, up to 4.0 MiB each)"));
		r.mem_avail_bytes = 16 * MiB;
		assert_int_equal(
		        fsc_runner_validate(&r, fsc_pattern_find("allreduce"), err, sizeof(err)),
		        0);
		fsc_runner_fini(&r);
		fsc_config_free(cfg);
	}

	/* bandwidth: one send buffer + --window receive slots, only on the
	 * two ranks that take part (0 and --peer 1, both on h0). */
	ARGS(&j, "--window", "4", "--min", "1M", "--max", "1M");
	assert_int_equal(validate_mem("bandwidth", 4, two_hosts, 10 * MiB, err, sizeof(err), &j),
	                 0);
	assert_int_equal(
	        validate_mem("bandwidth", 4, two_hosts, 10 * MiB - 1, err, sizeof(err), &j),
	        -EINVAL);
	assert_non_null(strstr(err, "needs 10.0 MiB"));
	ARGS(&j, "--window", "4", "--min", "1M", "--max", "1M", "--peer", "2");
	assert_int_equal(validate_mem("bandwidth", 4, two_hosts, 5 * MiB, err, sizeof(err), &j), 0);

	/* The first size that does not fit is named, before any allocation:
	 * --max 1T answers at once. */
	ARGS(&j, "--min", "1K", "--max", "1T");
	assert_int_equal(validate_mem("alltoall", 2, 0, 64 * MiB, err, sizeof(err), &j), -EINVAL);
	assert_non_null(strstr(err, "pattern alltoall (impl pairwise) at 67108864 bytes needs "
	                            "128.0 MiB"));
}

static void fsc_runner_validate__pairs_counts_its_own_sizes(void **state)
{
	struct lbh_job j = {0};
	int one_host[4] = {0, 0, 0, 0};
	const uint64_t MiB = 1 << 20;
	char err[512];

	(void)state;
	/* One rank per host carries traffic: 1 send + 16 slots of 1 MiB +
	 * 2 x 8 bytes, whatever --max says. */
	ARGS(&j, "--max", "8");
	assert_int_equal(validate_mem("pairs", 4, one_host, 17 * MiB + 16, err, sizeof(err), &j),
	                 0);
	assert_int_equal(validate_mem("pairs", 4, one_host, 17 * MiB + 15, err, sizeof(err), &j),
	                 -EINVAL);
	ARGS(&j, "--max", "8", "--pairs-per-rank");
	assert_int_equal(
	        validate_mem("pairs", 4, one_host, 4 * (17 * MiB + 16) - 1, err, sizeof(err), &j),
	        -EINVAL);
	assert_non_null(strstr(err, "(4 ranks, up to 17.0 MiB each)"));
}

static void fsc_meminfo_available__reads_memavailable(void **state)
{
	char path[] = "/tmp/fsc-meminfo-XXXXXX";
	int fd = mkstemp(path);
	FILE *f;
	uint64_t b = 0;

	(void)state;
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	fputs("MemTotal:       24000000 kB\nMemFree:         1000 kB\n"
	      "MemAvailable:   12345678 kB\nBuffers: 1 kB\n",
	      f);
	fclose(f);
	assert_int_equal(fsc_meminfo_available(path, &b), 0);
	assert_int_equal(b, 12345678ull * 1024);
	f = fopen(path, "w");
	fputs("MemTotal:       24000000 kB\n", f);
	fclose(f);
	assert_int_equal(fsc_meminfo_available(path, &b), -EINVAL);
	unlink(path);
	assert_int_equal(fsc_meminfo_available(path, &b), -ENOENT);
	/* This machine's own: some memory is available. */
	b = 0;
	assert_int_equal(fsc_meminfo_available(0, &b), 0);
	assert_true(b > 0);
}

/* One-sided impls on the loopback clock: a notified put times like a send,
 * a get costs its bytes plus a latency each way. */
static void fsc_runner_sweep__put_and_get_latency_exact(void **state)
{
	struct lbh_job j = {.pattern = "latency"};
	json_t *recs, *rec;

	(void)state;
	ARGS(&j, "--fabric", "loopback", "--lb-lat", "1us", "--lb-bw", "1", "--min", "4096",
	     "--max", "4096", "--iters", "6", "--impl", "put,get");
	recs = lbh_run(&j, 2);
	assert_int_equal(json_array_size(recs), 2);
	rec = json_array_get(recs, 0);
	assert_string_equal(json_string_value(json_object_get(rec, "impl")), "put");
	assert_string_equal(json_string_value(json_object_get(rec, "status")), "ok");
	assert_true(lbh_tnum(rec, "p50") == 5.096 && lbh_tnum(rec, "max") == 5.096);
	rec = json_array_get(recs, 1);
	assert_string_equal(json_string_value(json_object_get(rec, "impl")), "get");
	assert_string_equal(json_string_value(json_object_get(rec, "status")), "ok");
	assert_true(lbh_tnum(rec, "p50") == 6.096 && lbh_tnum(rec, "max") == 6.096);
	json_decref(recs);
}

static void fsc_runner_sweep__put_and_get_bandwidth_exact(void **state)
{
	struct lbh_job j = {.pattern = "bandwidth"};
	json_t *recs, *rec;

	(void)state;
	ARGS(&j, "--fabric", "loopback", "--lb-lat", "1us", "--lb-bw", "1", "--min", "4096",
	     "--max", "4096", "--iters", "8", "--window", "4", "--impl", "put,get", "--check",
	     "every");
	recs = lbh_run(&j, 2);
	assert_int_equal(json_array_size(recs), 2);
	/* put: as uni, 4 x 4096 + 1000 to the notification, 4 + 1000 ack */
	rec = json_array_get(recs, 0);
	assert_string_equal(json_string_value(json_object_get(rec, "status")), "ok");
	assert_true(lbh_tnum(rec, "p50") == 18.388 && lbh_tnum(rec, "max") == 18.388);
	/* get: 4 x 4096 on rank 0's link, the last back 2 x 1000 later */
	rec = json_array_get(recs, 1);
	assert_string_equal(json_string_value(json_object_get(rec, "status")), "ok");
	assert_true(lbh_tnum(rec, "p50") == 18.384);
	assert_float_equal(lbh_num(rec, "algbw_GBps"), 16384.0 / 18384.0, 1e-12);
	json_decref(recs);
}

/* Data verified on 2 to 5 ranks, --peer the last rank (the others expose
 * empty windows); a corrupted put or get is counted, a dropped notification
 * is an error, not a hang. */
static void fsc_runner_sweep__put_and_get_verified_on_two_to_five_ranks(void **state)
{
	static const char *const pats[] = {"latency", "bandwidth"};
	char peer[8];

	(void)state;
	for (int n = 2; n <= 5; n++)
		for (int p = 0; p < 2; p++) {
			struct lbh_job j = {.pattern = pats[p]};
			json_t *recs;

			snprintf(peer, sizeof(peer), "%d", n - 1);
			ARGS(&j, "--fabric", "loopback", "--min", "1", "--max", "65536", "--factor",
			     "64", "--iters", "3", "--window", "3", "--impl", "put,get", "--peer",
			     peer, "--check", "every");
			recs = lbh_run(&j, n);
			/* 1, 64, 4096, 65536 B, two impls */
			assert_int_equal(json_array_size(recs), 8);
			for (size_t i = 0; i < 8; i++) {
				json_t *rec = json_array_get(recs, i);

				assert_string_equal(
				        json_string_value(json_object_get(rec, "status")), "ok");
				assert_int_equal((int)lbh_num(rec, "wrong"), 0);
			}
			json_decref(recs);
		}
}

static void fsc_runner_point__corrupted_put_and_get_are_counted(void **state)
{
	struct lbh_job j = {.pattern = "latency"};
	json_t *recs, *rec;

	(void)state;
	/* message 0 on 0->1: the verification pass's put, or its first get */
	ARGS(&j, "--fabric", "loopback", "--min", "64", "--max", "64", "--iters", "5", "--impl",
	     "put", "--lb-corrupt", "0:1:0:5");
	recs = lbh_run(&j, 2);
	rec = json_array_get(recs, 0);
	assert_string_equal(json_string_value(json_object_get(rec, "status")), "wrong");
	assert_int_equal((int)lbh_num(rec, "wrong"), 1);
	json_decref(recs);
	/* a get's second read of the iteration lands over the first: message
	 * 1 is the one verified */
	ARGS(&j, "--fabric", "loopback", "--min", "64", "--max", "64", "--iters", "5", "--impl",
	     "get", "--lb-corrupt", "0:1:1:7");
	recs = lbh_run(&j, 2);
	rec = json_array_get(recs, 0);
	assert_string_equal(json_string_value(json_object_get(rec, "status")), "wrong");
	assert_int_equal((int)lbh_num(rec, "wrong"), 1);
	json_decref(recs);
}

static void fsc_runner_point__dropped_put_is_an_error_not_a_hang(void **state)
{
	struct lbh_job j = {.pattern = "bandwidth"};
	json_t *recs, *rec;

	(void)state;
	/* the window's last, notified put never lands: the peer's wait for
	 * the notification times out */
	ARGS(&j, "--fabric", "loopback", "--min", "64", "--max", "64", "--iters", "3", "--window",
	     "2", "--impl", "put", "--timeout", "100ms", "--lb-drop", "0:1:1");
	recs = lbh_run(&j, 2);
	rec = json_array_get(recs, 0);
	assert_string_equal(json_string_value(json_object_get(rec, "status")), "error");
	json_decref(recs);
}

/* impl put/get on a fabric without one-sided transfers: a recorded skip
 * with the reason, not an error; planning (no fabric yet) lets it through. */
static void fsc_pattern_check_args__put_needs_a_fabric_with_rma(void **state)
{
	static const char *const pats[] = {"latency", "bandwidth"};
	struct fsc_fabric nof = {.ops = fsc_fabric_find("tcp"), .size = 2};
	struct fsc_fabric yes = {.ops = fsc_fabric_find("loopback"), .size = 2};
	struct fsc_pctx c = {.size = 2, .bytes = 8, .impl = "put"};
	char err[256] = "";

	(void)state;
	assert_non_null(nof.ops);
	assert_non_null(yes.ops);
	for (int p = 0; p < 2; p++) {
		const struct fsc_pattern_ops *pat = fsc_pattern_find(pats[p]);

		c.impl = "put";
		c.fab = 0;
		assert_int_equal(pat->check_args(&c, err, sizeof(err)), 0);
		c.fab = &nof;
		assert_int_equal(pat->check_args(&c, err, sizeof(err)), -ENOTSUP);
		assert_non_null(strstr(err, "fabric tcp does not offer"));
		c.impl = "get";
		assert_int_equal(pat->check_args(&c, err, sizeof(err)), -ENOTSUP);
		c.fab = &yes;
		assert_int_equal(pat->check_args(&c, err, sizeof(err)), 0);
		c.fab = &nof;
		c.impl = pat == fsc_pattern_find("latency") ? "pingpong" : "uni";
		assert_int_equal(pat->check_args(&c, err, sizeof(err)), 0);
	}
}

/* A device timer over the loopback fabric: each mark reads the virtual
 * clock, and the "device" sees half the time between two marks, so its
 * statistics are exactly half of time_us. */
#define DT_MARKS 256
static uint64_t dt_marks[LBH_MAX_RANKS][DT_MARKS];
static uint64_t dt_prepared[LBH_MAX_RANKS];

static int dt_prepare(struct fsc_fabric *f, uint64_t n)
{
	if (n > DT_MARKS)
		return -ENOMEM;
	dt_prepared[f->rank] = n;
	return 0;
}

static int dt_mark(struct fsc_fabric *f, uint64_t k)
{
	struct fsc_clock c;

	if (k >= dt_prepared[f->rank])
		return -EINVAL;
	fsc_fabric_clock(f, &c);
	dt_marks[f->rank][k] = fsc_clock_now(&c);
	return 0;
}

static int dt_elapsed(struct fsc_fabric *f, uint64_t a, uint64_t b, double *ns)
{
	if (a >= dt_prepared[f->rank] || b >= dt_prepared[f->rank])
		return -EINVAL;
	*ns = 0.5 * (double)(dt_marks[f->rank][b] - dt_marks[f->rank][a]);
	return 0;
}

static const struct fsc_dev_timer_ops half_timer = {"half_time", dt_prepare, dt_mark, dt_elapsed};

static void dev_timer_halves(const char *check)
{
	struct fsc_fabric_ops ops = *fsc_fabric_find("loopback");
	struct lbh_job j = {.pattern = "latency", .ops = &ops};
	json_t *recs;

	ops.dev_timer = &half_timer;
	ARGS(&j, "--fabric", "loopback", "--lb-lat", "1us", "--lb-bw", "1", "--min", "0", "--max",
	     "4096", "--factor", "4096", "--iters", "10", "--warmup", "3", "--check", check);
	recs = lbh_run(&j, 2);
	assert_int_equal(json_array_size(recs), 3);
	for (size_t i = 0; i < 3; i++) {
		json_t *rec = json_array_get(recs, i);
		const json_t *dev = json_object_get(rec, "half_time_us");

		assert_string_equal(lbh_str(rec, "status"), "ok");
		assert_non_null(dev);
		assert_float_equal(json_number_value(json_object_get(dev, "p50")),
		                   lbh_tnum(rec, "p50") / 2, 1e-9);
		assert_float_equal(json_number_value(json_object_get(dev, "max")),
		                   lbh_tnum(rec, "max") / 2, 1e-9);
		assert_float_equal(json_number_value(json_object_get(dev, "mean")),
		                   lbh_tnum(rec, "mean") / 2, 1e-9);
	}
	assert_float_equal(json_number_value(json_object_get(
	                           json_object_get(json_array_get(recs, 2), "half_time_us"), "p50")),
	                   5.096 / 2, 1e-9);
	json_decref(recs);
}

/* A fabric's device timer is recorded beside time_us, as "<name>_us", with
 * the same scale (one-way latency), batch and slowest-rank rule. */
static void fsc_runner_point__device_timer_beside_the_clock(void **state)
{
	(void)state;
	dev_timer_halves("once");
	dev_timer_halves("every");
}

/* Without a device timer no such key appears. */
static void fsc_runner_point__no_device_timer_no_key(void **state)
{
	struct lbh_job j = {.pattern = "latency"};
	json_t *recs;

	(void)state;
	ARGS(&j, "--fabric", "loopback", "--min", "64", "--max", "64", "--iters", "3");
	recs = lbh_run(&j, 2);
	assert_null(json_object_get(json_array_get(recs, 0), "half_time_us"));
	assert_null(json_object_get(json_array_get(recs, 0), "gpu_time_us"));
	json_decref(recs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(fsc_run_settings_fill__typed_from_the_table),
	        cmocka_unit_test(fsc_runner_sweep__latency_exact_on_virtual_clock),
	        cmocka_unit_test(fsc_runner_point__device_timer_beside_the_clock),
	        cmocka_unit_test(fsc_runner_point__no_device_timer_no_key),
	        cmocka_unit_test(fsc_runner_sweep__bandwidth_uni_and_bi_exact),
	        cmocka_unit_test(fsc_runner_sweep__put_and_get_latency_exact),
	        cmocka_unit_test(fsc_runner_sweep__put_and_get_bandwidth_exact),
	        cmocka_unit_test(fsc_runner_sweep__put_and_get_verified_on_two_to_five_ranks),
	        cmocka_unit_test(fsc_runner_point__corrupted_put_and_get_are_counted),
	        cmocka_unit_test(fsc_runner_point__dropped_put_is_an_error_not_a_hang),
	        cmocka_unit_test(fsc_pattern_check_args__put_needs_a_fabric_with_rma),
	        cmocka_unit_test(fsc_runner_point__slowest_rank_and_idle_ranks),
	        cmocka_unit_test(fsc_runner_point__corrupted_byte_is_counted),
	        cmocka_unit_test(fsc_runner_point__check_every_finds_late_corruption),
	        cmocka_unit_test(fsc_runner_point__dropped_message_is_an_error_not_a_hang),
	        cmocka_unit_test(fsc_runner_validate__bad_points_are_rejected),
	        cmocka_unit_test(fsc_runner_validate__point_beyond_host_memory_is_refused),
	        cmocka_unit_test(fsc_runner_validate__pairs_counts_its_own_sizes),
	        cmocka_unit_test(fsc_meminfo_available__reads_memavailable),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
