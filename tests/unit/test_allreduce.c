/* allreduce over the loopback fabric: exact results for every impl x dtype
 * x op x in-place on 1 to 8 ranks and awkward counts, exact virtual-clock
 * times that pin down each algorithm's steps, fault injection, bad input;
 * and the chunk partition of patterns/coll.h.
 *
 * Loopback model (fabrics/loopback/README.md): a B-byte message on a link
 * with latency L and bandwidth W (bytes/ns) arrives B/W + L after it
 * leaves; reductions take no virtual time.
 */
#include <errno.h>

#include "unit/coll_harness.h"

#include "../../patterns/coll.h" /* not on the include path */

static const enum fsc_dtype dtypes[] = {FSC_F32, FSC_F64, FSC_I32, FSC_I64, FSC_BF16};
static const enum fsc_redop ops[] = {FSC_SUM, FSC_MAX, FSC_MIN};

static void fsc_coll_chunk__partition_is_balanced_and_complete(void **state)
{
	static const size_t counts[] = {0, 1, 2, 3, 7, 8, 9, 1000003};

	(void)state;
	for (int n = 1; n <= 9; n++)
		for (size_t k = 0; k < sizeof(counts) / sizeof(counts[0]); k++) {
			size_t count = counts[k], next = 0;

			for (int i = 0; i < n; i++) {
				size_t len = fsc_coll_chunk_len(count, n, i);

				assert_int_equal(fsc_coll_chunk_off(count, n, i), next);
				/* sizes differ by at most one, larger first */
				assert_true(len == count / n || len == count / n + 1);
				assert_int_equal(len, count / n + ((size_t)i < count % n));
				next += len;
			}
			assert_int_equal(next, count);
		}
	/* fewer elements than ranks: the first ranks own one each */
	assert_int_equal(fsc_coll_chunk_len(2, 5, 1), 1);
	assert_int_equal(fsc_coll_chunk_len(2, 5, 2), 0);
	assert_int_equal(fsc_coll_chunk_off(2, 5, 4), 2);
	assert_int_equal(fsc_coll_chunk_off(10, 4, 2), 6); /* 3 3 2 2 */
}

/* Every impl over point-to-point x dtype x op x in-place, counts 1, n-1,
 * n+1, 2n+1 and 37 elements, and one size that is not a whole number of
 * elements, on each of 1..8 ranks; checked every iteration. */
static void fsc_pattern_allreduce__every_variant_exact_on_1_to_8_ranks(void **state)
{
	static const char *const impls[] = {"ring", "rd"};
	struct lbh_point *pts = calloc(4096, sizeof(*pts));

	(void)state;
	assert_non_null(pts);
	for (int n = 1; n <= 8; n++) {
		size_t counts[] = {1, (size_t)n + 1, 2 * (size_t)n + 1, 37, (size_t)n - 1};
		size_t np = 0, partial = 0;
		struct lbh_job j = {0};
		json_t *recs;

		for (size_t i = 0; i < 2; i++)
			for (size_t d = 0; d < 5; d++)
				for (size_t o = 0; o < 3; o++)
					for (int ip = 0; ip < 2; ip++) {
						size_t es = fsc_dtype_size(dtypes[d]);

						for (size_t k = 0; k < 5; k++) {
							if (!counts[k])
								continue;
							pts[np++] = (struct lbh_point){
							        "allreduce", impls[i],
							        dtypes[d],   ops[o],
							        ip,          counts[k] * es};
						}
						/* 3 elements and a partial one */
						if (!partial)
							partial = np;
						pts[np++] = (struct lbh_point){
						        "allreduce", impls[i], dtypes[d],
						        ops[o],      ip,       3 * es + es / 2};
					}
		LBH_ARGS(&j, "--iters", "2", "--warmup", "1", "--check", "every", "--seed", "7");
		j.points = pts;
		j.npoints = np;
		recs = ch_run(&j, n);
		ch_assert_all_ok(recs);
		/* the partial element is left out: count = floor(bytes / size) */
		assert_int_equal((int)lbh_num(json_array_get(recs, partial), "bytes"), 14);
		assert_int_equal((int)lbh_num(json_array_get(recs, partial), "count"), 3);
		json_decref(recs);
	}
	free(pts);
}

/* Large odd counts (1 MiB + 1 element; and 1 MiB + 1 byte): several
 * pipeline segments per chunk, uneven chunks, in place and not. */
static void fsc_pattern_allreduce__large_odd_counts_exact(void **state)
{
	const size_t mib = 1u << 20;
	const struct lbh_point pts[] = {
	        {"allreduce", "ring", FSC_F32, FSC_SUM, 0, mib + 4},
	        {"allreduce", "ring", FSC_BF16, FSC_MAX, 1, mib + 2},
	        {"allreduce", "ring", FSC_I64, FSC_MIN, 0, mib + 1},
	        {"allreduce", "rd", FSC_F32, FSC_SUM, 1, mib + 4},
	        {"allreduce", "rd", FSC_I32, FSC_SUM, 0, mib + 1},
	};
	static const int ranks[] = {3, 8};

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		struct lbh_job j = {0};
		json_t *recs;

		LBH_ARGS(&j, "--iters", "1", "--warmup", "1", "--coll-seg", "64K");
		j.points = pts;
		j.npoints = sizeof(pts) / sizeof(pts[0]);
		recs = ch_run(&j, ranks[i]);
		ch_assert_all_ok(recs);
		assert_int_equal((int)lbh_num(json_array_get(recs, 0), "count"), 262145);
		assert_int_equal((int)lbh_num(json_array_get(recs, 2), "count"), 131072);
		json_decref(recs);
	}
}

/* The ring is 2(n-1) steps of one chunk each: with 4096 B float32 on 4
 * ranks, lat 1 us and 1 B/ns, a step is 1024 + 1000 ns, the iteration 6
 * steps; algbw = 4096 B / 12144 ns, busbw x 2*3/4. */
static void fsc_pattern_allreduce__ring_time_is_2_n_minus_1_chunk_steps(void **state)
{
	struct lbh_job j = {0};
	const struct lbh_point p = {"allreduce", "ring", FSC_F32, FSC_SUM, 0, 4096};
	json_t *rec;

	(void)state;
	LBH_ARGS(&j, "--lb-lat", "1us", "--lb-bw", "1", "--iters", "5", "--coll-seg", "0");
	rec = ch_one(&j, 4, &p);
	assert_string_equal(lbh_str(rec, "status"), "ok");
	assert_string_equal(lbh_str(rec, "impl"), "ring");
	assert_true(lbh_tnum(rec, "min") == 12.144 && lbh_tnum(rec, "max") == 12.144);
	assert_float_equal(lbh_num(rec, "algbw_GBps"), 4096.0 / 12144.0, 1e-12);
	assert_float_equal(lbh_num(rec, "busbw_GBps"), 4096.0 / 12144.0 * 1.5, 1e-12);
	assert_non_null(strstr(lbh_str(rec, "bw_formula"), "2(n-1)/n"));
	json_decref(rec);
}

/* Recursive doubling on 4 ranks: 2 exchanges of the whole vector (4096 +
 * 1000 ns each); on 8 ranks, 3.  With a fold (n = 3: p = 2, r = 1), rank
 * 0's vector reaches rank 1 (one step), rank 1 exchanges with rank 2, whose
 * half of the exchange left at once, and sends the result back: 2 steps on
 * the slowest rank (rank 2 gets rank 1's half at the same time).  n = 5
 * (p = 4, r = 1): fold, two exchanges (the second waits for the first) and
 * the way back: 3 steps.  One iteration from a common start: later ones
 * overlap, since ranks outside the fold start their next one early. */
static void fsc_pattern_allreduce__rd_time_is_log2_steps_plus_fold(void **state)
{
	struct lbh_job j = {0};
	const struct lbh_point p = {"allreduce", "rd", FSC_F32, FSC_SUM, 1, 4096};
	json_t *rec;

	(void)state;
	LBH_ARGS(&j, "--lb-lat", "1us", "--lb-bw", "1", "--iters", "5");
	rec = ch_one(&j, 4, &p);
	assert_string_equal(lbh_str(rec, "status"), "ok");
	assert_true(lbh_tnum(rec, "min") == 10.192 && lbh_tnum(rec, "max") == 10.192);
	json_decref(rec);

	LBH_ARGS(&j, "--lb-lat", "1us", "--lb-bw", "1", "--iters", "1");
	rec = ch_one(&j, 3, &p);
	assert_string_equal(lbh_str(rec, "status"), "ok");
	assert_true(lbh_tnum(rec, "max") == 10.192);
	json_decref(rec);
	rec = ch_one(&j, 5, &p);
	assert_string_equal(lbh_str(rec, "status"), "ok");
	assert_true(lbh_tnum(rec, "max") == 15.288);
	json_decref(rec);

	/* 8 ranks: 3 exchanges */
	LBH_ARGS(&j, "--lb-lat", "1us", "--lb-bw", "1", "--iters", "3");
	rec = ch_one(&j, 8, &p);
	assert_true(lbh_tnum(rec, "max") == 15.288);
	json_decref(rec);
}

/* One corrupted byte in transit is counted as wrong elements: the first
 * message on 0->1 (byte 3: sign and exponent of element 0) is, for the
 * ring, chunk 2 of rank 0's input in the reduce-scatter, whose reduction
 * then reaches all 3 ranks; for recursive doubling on 4 ranks, rank 0's
 * vector in the first exchange, which reaches ranks 1 and 3 only. */
static void fsc_pattern_allreduce__corrupted_byte_counts_wrong_elements(void **state)
{
	struct lbh_job j = {0};
	struct lbh_point p = {"allreduce", "ring", FSC_F32, FSC_SUM, 0, 12};
	json_t *rec;

	(void)state;
	LBH_ARGS(&j, "--iters", "3", "--lb-corrupt", "0:1:0:3");
	rec = ch_one(&j, 3, &p);
	assert_string_equal(lbh_str(rec, "status"), "wrong");
	assert_int_equal((int)lbh_num(rec, "wrong"), 3);
	json_decref(rec);

	p.impl = "rd";
	p.bytes = 16;
	rec = ch_one(&j, 4, &p);
	assert_string_equal(lbh_str(rec, "status"), "wrong");
	assert_int_equal((int)lbh_num(rec, "wrong"), 2);
	json_decref(rec);
}

/* Ring, 3 ranks, 3 elements: 4 messages per iteration on 0->1.  Message 9
 * is the 2nd of the first timed iteration (after the verification pass and
 * one warm-up): only --check every sees it. */
static void fsc_pattern_allreduce__check_every_finds_a_timed_corruption(void **state)
{
	struct lbh_job j = {0};
	const struct lbh_point p = {"allreduce", "ring", FSC_I32, FSC_SUM, 1, 12};
	json_t *rec;

	(void)state;
	LBH_ARGS(&j, "--iters", "2", "--warmup", "1", "--check", "every", "--lb-corrupt",
	         "0:1:9:0");
	rec = ch_one(&j, 3, &p);
	assert_string_equal(lbh_str(rec, "status"), "wrong");
	assert_int_equal((int)lbh_num(rec, "wrong"), 3);
	json_decref(rec);

	LBH_ARGS(&j, "--iters", "2", "--warmup", "1", "--check", "once", "--lb-corrupt", "0:1:9:0");
	rec = ch_one(&j, 3, &p);
	assert_string_equal(lbh_str(rec, "status"), "ok");
	json_decref(rec);
}

/* A size below one element is a recorded skip (a sweep from 1 B runs on);
 * native is skipped on a fabric without native collectives. */
static void fsc_pattern_allreduce__bad_points_are_skipped_with_a_reason(void **state)
{
	const struct lbh_point pts[] = {
	        {"allreduce", "ring", FSC_BF16, FSC_SUM, 0, 1},
	        {"allreduce", "rd", FSC_F64, FSC_MAX, 1, 7},
	        {"allreduce", "native", FSC_F32, FSC_SUM, 0, 64},
	        {"allreduce", "ring", FSC_F32, FSC_SUM, 0, 64},
	};
	struct lbh_job j = {0};
	json_t *recs;

	(void)state;
	LBH_ARGS(&j, "--iters", "1");
	j.points = pts;
	j.npoints = 4;
	recs = ch_run(&j, 2);
	assert_string_equal(lbh_str(json_array_get(recs, 0), "status"), "skipped");
	assert_string_equal(lbh_str(json_array_get(recs, 0), "reason"),
	                    "size 1 B is smaller than one bfloat16 element (2 B)");
	assert_string_equal(lbh_str(json_array_get(recs, 1), "reason"),
	                    "size 7 B is smaller than one float64 element (8 B)");
	assert_string_equal(lbh_str(json_array_get(recs, 2), "status"), "skipped");
	assert_string_equal(lbh_str(json_array_get(recs, 2), "reason"),
	                    "fabric loopback has no native allreduce");
	assert_string_equal(lbh_str(json_array_get(recs, 3), "status"), "ok");
	json_decref(recs);
}

/* Validation (no fabric yet) accepts a sweep from 1 B: small sizes and
 * native are decided per point, later. */
static void fsc_runner_validate__allreduce_sweep_from_one_byte_is_valid(void **state)
{
	struct fsc_boot b = {.rank = 0, .size = 3};
	struct lbh_job j = {0};
	struct fsc_runner r;
	char err[256] = "";

	(void)state;
	LBH_ARGS(&j, "--min", "1", "--max", "1M", "--impl", "ring,rd,native", "--dtype",
	         "bfloat16,float64", "--op", "sum,min");
	j.cfg = lbh_config(j.nargs, j.args);
	assert_non_null(j.cfg);
	fsc_runner_init(&r, &b, j.cfg, 0, 0);
	assert_int_equal(fsc_runner_validate(&r, fsc_pattern_find("allreduce"), err, sizeof(err)),
	                 0);
	fsc_runner_fini(&r);
	fsc_config_free(j.cfg);
}

/* --coll-seg from its one table: the default without a config, the value
 * given with one. */
static void fsc_coll_seg_bytes__default_and_given(void **state)
{
	static const struct fsc_opt_group g = {"coll", fsc_coll_opts};
	char *argv[] = {"x", "--coll-seg", "64K"};
	struct fsc_config *cfg;

	(void)state;
	assert_int_equal(fsc_coll_seg_bytes(0), 262144);
	assert_int_equal(fsc_config_parse(&cfg, &g, 1, 3, argv, 0, 0, 0), 0);
	assert_int_equal(fsc_coll_seg_bytes(cfg), 65536);
	fsc_config_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(fsc_coll_chunk__partition_is_balanced_and_complete),
	        cmocka_unit_test(fsc_coll_seg_bytes__default_and_given),
	        cmocka_unit_test(fsc_pattern_allreduce__every_variant_exact_on_1_to_8_ranks),
	        cmocka_unit_test(fsc_pattern_allreduce__large_odd_counts_exact),
	        cmocka_unit_test(fsc_pattern_allreduce__ring_time_is_2_n_minus_1_chunk_steps),
	        cmocka_unit_test(fsc_pattern_allreduce__rd_time_is_log2_steps_plus_fold),
	        cmocka_unit_test(fsc_pattern_allreduce__corrupted_byte_counts_wrong_elements),
	        cmocka_unit_test(fsc_pattern_allreduce__check_every_finds_a_timed_corruption),
	        cmocka_unit_test(fsc_pattern_allreduce__bad_points_are_skipped_with_a_reason),
	        cmocka_unit_test(fsc_runner_validate__allreduce_sweep_from_one_byte_is_valid),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
