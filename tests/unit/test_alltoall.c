/* The alltoall pattern over the loopback fabric: exact virtual times,
 * correct data on 2..5 ranks (odd sizes, sizes below one byte per peer,
 * sizes not divisible by the rank count), native skipped, corruption
 * counted.
 *
 * Loopback model (fabrics/loopback/README.md): a B-byte message on a link
 * with latency L and bandwidth W GB/s occupies the link B/W ns and arrives
 * L ns after that; sends do not advance the sender's clock.  Pairwise step
 * k sends on the links r -> r+k, all distinct, so every step costs
 * blk/W + L and an iteration (n-1)(blk/W + L).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "lb_harness.h"

#define ARGS LBH_ARGS

/* A sweep that must succeed on every rank. */
static json_t *run_job(struct lbh_job *j, int nranks)
{
	json_t *recs = lbh_run(j, nranks);

	for (int i = 0; i < nranks; i++)
		assert_int_equal(j->rc[i], 0);
	return recs;
}

static void fsc_runner_sweep__alltoall_pairwise_exact_on_virtual_clock(void **state)
{
	struct lbh_job j = {.pattern = "alltoall"};
	json_t *recs, *rec;

	(void)state;
	ARGS(&j, "--fabric", "loopback", "--lb-lat", "1us", "--lb-bw", "1", "--min", "4096",
	     "--max", "4096", "--iters", "6", "--warmup", "2");
	recs = run_job(&j, 4);
	assert_int_equal(json_array_size(recs), 1);
	rec = json_array_get(recs, 0);
	assert_string_equal(lbh_str(rec, "status"), "ok");
	assert_string_equal(lbh_str(rec, "impl"), "pairwise");
	/* blk = 1024: 3 steps of 1024 ns + 1000 ns */
	assert_true(lbh_tnum(rec, "min") == 6.072 && lbh_tnum(rec, "max") == 6.072);
	assert_int_equal((int)lbh_num(rec, "wrong"), 0);
	assert_float_equal(lbh_num(rec, "algbw_GBps"), 4096.0 / 6072.0, 1e-12);
	assert_float_equal(lbh_num(rec, "busbw_GBps"), 4096.0 / 6072.0 * 3 / 4, 1e-12);
	assert_float_equal(lbh_num(rec, "busbw_factor"), 0.75, 1e-12);
	json_decref(recs);
}

static void fsc_runner_sweep__alltoall_size_not_divisible_drops_the_rest(void **state)
{
	struct lbh_job j = {.pattern = "alltoall"};
	json_t *recs, *rec;

	(void)state;
	/* 1000 B over 3 ranks: 333 B per peer, 1 B unsent */
	ARGS(&j, "--fabric", "loopback", "--lb-lat", "1us", "--lb-bw", "1", "--min", "1000",
	     "--max", "1000", "--iters", "4", "--warmup", "1", "--check", "every");
	recs = run_job(&j, 3);
	rec = json_array_get(recs, 0);
	assert_string_equal(lbh_str(rec, "status"), "ok");
	assert_true(lbh_tnum(rec, "p50") == 2.666); /* 2 x (333 + 1000) ns */
	assert_float_equal(lbh_num(rec, "algbw_GBps"), 999.0 / 2666.0, 1e-12);
	json_decref(recs);
}

/* Every size from 1 to 1000 B by x3 (1, 3, 9, ..., 729, 1000) and exactly n
 * bytes (one byte per peer), checked after every iteration. */
static void fsc_runner_sweep__alltoall_data_on_2_to_5_ranks(void **state)
{
	(void)state;
	for (int n = 2; n <= 5; n++) {
		struct lbh_job j = {.pattern = "alltoall"};
		char nb[16];
		json_t *recs;
		size_t i;

		ARGS(&j, "--fabric", "loopback", "--min", "1", "--max", "1000", "--factor", "3",
		     "--iters", "3", "--warmup", "1", "--check", "every");
		recs = run_job(&j, n);
		assert_int_equal(json_array_size(recs), 8);
		for (i = 0; i < json_array_size(recs); i++) {
			json_t *rec = json_array_get(recs, i);
			int bytes = (int)lbh_num(rec, "bytes");

			if (bytes < n) {
				assert_string_equal(lbh_str(rec, "status"), "skipped");
				assert_non_null(strstr(lbh_str(rec, "reason"),
				                       "less than one byte per peer"));
			} else {
				assert_string_equal(lbh_str(rec, "status"), "ok");
				assert_int_equal((int)lbh_num(rec, "wrong"), 0);
				assert_float_equal(lbh_num(rec, "busbw_factor"),
				                   (double)(n - 1) / n, 1e-12);
			}
		}
		json_decref(recs);

		snprintf(nb, sizeof(nb), "%d", n);
		ARGS(&j, "--fabric", "loopback", "--min", nb, "--max", nb, "--iters", "3",
		     "--warmup", "1", "--check", "every");
		recs = run_job(&j, n);
		assert_string_equal(lbh_str(json_array_get(recs, 0), "status"), "ok");
		assert_int_equal((int)lbh_num(json_array_get(recs, 0), "wrong"), 0);
		json_decref(recs);
	}
}

static void fsc_runner_sweep__alltoall_native_skipped_on_loopback(void **state)
{
	struct lbh_job j = {.pattern = "alltoall"};
	json_t *recs, *rec;

	(void)state;
	ARGS(&j, "--fabric", "loopback", "--min", "64", "--max", "128", "--iters", "3", "--warmup",
	     "1", "--impl", "all");
	recs = run_job(&j, 3);
	/* pairwise 64, 128; native 64, 128 */
	assert_int_equal(json_array_size(recs), 4);
	rec = json_array_get(recs, 1);
	assert_string_equal(lbh_str(rec, "impl"), "pairwise");
	assert_string_equal(lbh_str(rec, "status"), "ok");
	for (size_t i = 2; i < 4; i++) {
		rec = json_array_get(recs, i);
		assert_string_equal(lbh_str(rec, "impl"), "native");
		assert_string_equal(lbh_str(rec, "status"), "skipped");
		assert_string_equal(lbh_str(rec, "reason"),
		                    "fabric loopback has no native alltoall");
	}
	json_decref(recs);
}

static void fsc_runner_point__alltoall_corrupted_bytes_are_counted(void **state)
{
	struct lbh_job j = {.pattern = "alltoall"};
	json_t *recs, *rec;

	(void)state;
	/* message 0 of a link is its block in the verification pass */
	ARGS(&j, "--fabric", "loopback", "--min", "300", "--max", "300", "--iters", "3", "--warmup",
	     "1", "--lb-corrupt", "0:1:0:5,2:0:0:0,1:2:0:99");
	recs = run_job(&j, 3);
	rec = json_array_get(recs, 0);
	assert_string_equal(lbh_str(rec, "status"), "wrong");
	assert_int_equal((int)lbh_num(rec, "wrong"), 3);
	json_decref(recs);
}

static void alltoall_check_args__sizes_and_native(void **state)
{
	const struct fsc_pattern_ops *p = fsc_pattern_find("alltoall");
	struct fsc_pctx c = {.size = 4, .impl = "pairwise"};
	char err[256];

	(void)state;
	assert_non_null(p);
	c.bytes = 3;
	assert_int_equal(p->check_args(&c, err, sizeof(err)), -ENOTSUP);
	assert_non_null(strstr(err, "3 bytes per rank is less than one byte per peer for 4"));
	c.bytes = 0;
	assert_int_equal(p->check_args(&c, err, sizeof(err)), -ENOTSUP);
	c.bytes = 4;
	assert_int_equal(p->check_args(&c, err, sizeof(err)), 0);
	/* no fabric yet (option validation): native is not ruled out */
	c.impl = "native";
	assert_int_equal(p->check_args(&c, err, sizeof(err)), 0);
	c.size = 2;
	assert_float_equal(p->busbw_factor(&c), 0.5, 0);
	c.bytes = 5;
	assert_float_equal(p->algbw_bytes(&c), 4.0, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(fsc_runner_sweep__alltoall_pairwise_exact_on_virtual_clock),
	        cmocka_unit_test(fsc_runner_sweep__alltoall_size_not_divisible_drops_the_rest),
	        cmocka_unit_test(fsc_runner_sweep__alltoall_data_on_2_to_5_ranks),
	        cmocka_unit_test(fsc_runner_sweep__alltoall_native_skipped_on_loopback),
	        cmocka_unit_test(fsc_runner_point__alltoall_corrupted_bytes_are_counted),
	        cmocka_unit_test(alltoall_check_args__sizes_and_native),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
