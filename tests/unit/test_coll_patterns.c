/* reducescatter, allgather and broadcast over the loopback fabric: exact
 * results on 1 to 8 ranks with uneven and tiny sizes, exact virtual-clock
 * times of the ring phases, the pipelined chain and the binomial tree, and
 * fault injection.  (The shared harness: unit/coll_harness.h.)
 */
#include <errno.h>

#include "unit/coll_harness.h"

static const enum fsc_dtype dtypes[] = {FSC_F32, FSC_F64, FSC_I32, FSC_I64, FSC_BF16, FSC_F16};
static const enum fsc_redop ops[] = {FSC_SUM, FSC_MAX, FSC_MIN};

/* reducescatter, every dtype x op x in-place, total counts 1, n-1, n, n+1
 * and 2n+1 (uneven chunks, empty chunks); allgather and broadcast (both
 * impls) with byte sizes 0, 1, n-1, n+1, 2n+1 and 1000; 1..8 ranks;
 * checked every iteration. */
static void fsc_pattern_coll__every_variant_exact_on_1_to_8_ranks(void **state)
{
	struct lbh_point *pts = calloc(1024, sizeof(*pts));

	(void)state;
	assert_non_null(pts);
	for (int n = 1; n <= 8; n++) {
		size_t counts[] = {1, (size_t)n - 1, (size_t)n, (size_t)n + 1, 2 * (size_t)n + 1};
		size_t sizes[] = {0, 1, (size_t)n - 1, (size_t)n + 1, 2 * (size_t)n + 1, 1000};
		size_t np = 0;
		struct lbh_job j = {0};
		json_t *recs;

		for (size_t d = 0; d < 6; d++)
			for (size_t o = 0; o < 3; o++)
				for (int ip = 0; ip < 2; ip++)
					for (size_t k = 0; k < 5; k++)
						if (counts[k])
							pts[np++] = (struct lbh_point){
							        "reducescatter",
							        "ring",
							        dtypes[d],
							        ops[o],
							        ip,
							        counts[k] * fsc_dtype_size(dtypes[d])};
		for (size_t k = 0; k < 6; k++) {
			for (int ip = 0; ip < 2; ip++)
				pts[np++] = (struct lbh_point){"allgather", "ring", FSC_F32,
				                               FSC_SUM,     ip,     sizes[k]};
			pts[np++] = (struct lbh_point){"broadcast", "chain", FSC_F32,
			                               FSC_SUM,     0,       sizes[k]};
			pts[np++] = (struct lbh_point){"broadcast", "tree", FSC_F32,
			                               FSC_SUM,     0,      sizes[k]};
		}
		LBH_ARGS(&j, "--iters", "2", "--warmup", "1", "--check", "every", "--coll-seg", "8",
		         "--bcast-root", n > 2 ? "2" : "0");
		j.points = pts;
		j.npoints = np;
		recs = ch_run(&j, n);
		ch_assert_all_ok(recs);
		json_decref(recs);
	}
	free(pts);
}

/* 1 MiB + 1 element (or byte) on 5 ranks: uneven chunks of many segments. */
static void fsc_pattern_coll__large_odd_sizes_exact(void **state)
{
	const size_t mib = 1u << 20;
	const struct lbh_point pts[] = {
	        {"reducescatter", "ring", FSC_F32, FSC_SUM, 0, mib + 4},
	        {"reducescatter", "ring", FSC_BF16, FSC_MIN, 1, mib + 2},
	        {"allgather", "ring", FSC_F32, FSC_SUM, 0, mib + 1},
	        {"allgather", "ring", FSC_F32, FSC_SUM, 1, mib + 1},
	        {"broadcast", "chain", FSC_F32, FSC_SUM, 0, mib + 1},
	        {"broadcast", "tree", FSC_F32, FSC_SUM, 0, mib + 1},
	};
	struct lbh_job j = {0};
	json_t *recs;

	(void)state;
	LBH_ARGS(&j, "--iters", "1", "--warmup", "1", "--coll-seg", "64K", "--bcast-root", "3");
	j.points = pts;
	j.npoints = sizeof(pts) / sizeof(pts[0]);
	recs = ch_run(&j, 5);
	ch_assert_all_ok(recs);
	json_decref(recs);
}

/* The ring phases are n-1 steps of one chunk: 16384 B on 4 ranks, lat 1 us,
 * 1 B/ns: 3 x (4096 + 1000) ns; algbw counts the whole buffer (nccl-tests),
 * busbw x 3/4. */
static void fsc_pattern_coll__ring_phases_take_n_minus_1_chunk_steps(void **state)
{
	const struct lbh_point pts[] = {
	        {"reducescatter", "ring", FSC_F32, FSC_SUM, 0, 16384},
	        {"allgather", "ring", FSC_F32, FSC_SUM, 1, 16384},
	};
	struct lbh_job j = {0};
	json_t *recs, *rec;
	size_t i;

	(void)state;
	LBH_ARGS(&j, "--lb-lat", "1us", "--lb-bw", "1", "--iters", "4", "--coll-seg", "0");
	j.points = pts;
	j.npoints = 2;
	recs = ch_run(&j, 4);
	ch_assert_all_ok(recs);
	json_array_foreach(recs, i, rec)
	{
		assert_true(lbh_tnum(rec, "min") == 15.288 && lbh_tnum(rec, "max") == 15.288);
		assert_float_equal(lbh_num(rec, "algbw_GBps"), 16384.0 / 15288.0, 1e-12);
		assert_float_equal(lbh_num(rec, "busbw_GBps"), 16384.0 / 15288.0 * 0.75, 1e-12);
	}
	json_decref(recs);
}

/* Broadcast of 4096 B on 4 ranks, lat 1 us, 1 B/ns, one iteration (the
 * root never waits, so later iterations overlap):
 *  - chain in 4 segments of 1024 B: (n-2+K) x 1024 + (n-1) x 1000 =
 *    6 x 1024 + 3000 = 9144 ns (pipelined);
 *  - chain without segments: 3 x (4096 + 1000) = 15288 ns;
 *  - binomial tree: 2 rounds of 4096 + 1000 = 10192 ns. */
static void fsc_pattern_broadcast__chain_pipelines_and_tree_takes_log2_rounds(void **state)
{
	struct lbh_job j = {0};
	struct lbh_point p = {"broadcast", "chain", FSC_F32, FSC_SUM, 0, 4096};
	json_t *rec;

	(void)state;
	LBH_ARGS(&j, "--lb-lat", "1us", "--lb-bw", "1", "--iters", "1", "--coll-seg", "1K");
	rec = ch_one(&j, 4, &p);
	assert_string_equal(lbh_str(rec, "status"), "ok");
	assert_true(lbh_tnum(rec, "max") == 9.144);
	assert_float_equal(lbh_num(rec, "busbw_GBps"), 4096.0 / 9144.0, 1e-12);
	json_decref(rec);

	LBH_ARGS(&j, "--lb-lat", "1us", "--lb-bw", "1", "--iters", "1", "--coll-seg", "0",
	         "--bcast-root", "1");
	rec = ch_one(&j, 4, &p);
	assert_true(lbh_tnum(rec, "max") == 15.288);
	json_decref(rec);

	p.impl = "tree";
	rec = ch_one(&j, 4, &p);
	assert_string_equal(lbh_str(rec, "status"), "ok");
	assert_true(lbh_tnum(rec, "max") == 10.192);
	json_decref(rec);
}

/* A corrupted byte: in the ring all-gather, rank 0's chunk on its first hop
 * reaches ranks 1, 2 and 3 (3 wrong bytes); in the chain, the first
 * segment likewise; in the binomial tree of 4 ranks the root's message to
 * rank 1 reaches rank 1 only; in reduce-scatter, the element lands in
 * chunk 2, kept by rank 2 only. */
static void fsc_pattern_coll__corrupted_byte_is_counted_where_it_lands(void **state)
{
	const struct lbh_point pts[] = {
	        {"allgather", "ring", FSC_F32, FSC_SUM, 0, 64},
	        {"broadcast", "chain", FSC_F32, FSC_SUM, 0, 64},
	        {"broadcast", "tree", FSC_F32, FSC_SUM, 0, 64},
	        {"reducescatter", "ring", FSC_I64, FSC_SUM, 0, 24},
	};
	static const int ranks[] = {4, 4, 4, 3};
	static const int wrong[] = {3, 3, 1, 1};

	(void)state;
	for (size_t i = 0; i < 4; i++) {
		struct lbh_job j = {0};
		json_t *rec;

		LBH_ARGS(&j, "--iters", "2", "--lb-corrupt", "0:1:0:0");
		rec = ch_one(&j, ranks[i], &pts[i]);
		assert_string_equal(lbh_str(rec, "status"), "wrong");
		assert_int_equal((int)lbh_num(rec, "wrong"), wrong[i]);
		json_decref(rec);
	}
}

/* Bad input: an out-of-range root is an error; native on a fabric without
 * native collectives, and a reduce-scatter size below one element, are
 * recorded skips. */
static void fsc_pattern_coll__bad_points(void **state)
{
	const struct lbh_point pts[] = {
	        {"reducescatter", "ring", FSC_I64, FSC_SUM, 0, 4},
	        {"reducescatter", "native", FSC_F32, FSC_SUM, 0, 64},
	        {"allgather", "native", FSC_F32, FSC_SUM, 0, 64},
	        {"broadcast", "native", FSC_F32, FSC_SUM, 0, 64},
	};
	struct fsc_boot b = {.rank = 0, .size = 2};
	struct fsc_runner r;
	struct lbh_job j = {0};
	char err[256] = "";
	json_t *recs;

	(void)state;
	LBH_ARGS(&j, "--iters", "1");
	j.points = pts;
	j.npoints = 4;
	recs = ch_run(&j, 2);
	assert_string_equal(lbh_str(json_array_get(recs, 0), "reason"),
	                    "size 4 B is smaller than one int64 element (8 B)");
	assert_string_equal(lbh_str(json_array_get(recs, 1), "reason"),
	                    "fabric loopback has no native reduce-scatter");
	assert_string_equal(lbh_str(json_array_get(recs, 2), "reason"),
	                    "fabric loopback has no native all-gather");
	assert_string_equal(lbh_str(json_array_get(recs, 3), "reason"),
	                    "fabric loopback has no native broadcast");
	for (int i = 0; i < 4; i++)
		assert_string_equal(lbh_str(json_array_get(recs, i), "status"), "skipped");
	json_decref(recs);

	/* validation rejects the root before anything runs */
	LBH_ARGS(&j, "--bcast-root", "2", "--pattern", "broadcast");
	j.cfg = lbh_config(j.nargs, j.args);
	assert_non_null(j.cfg);
	fsc_runner_init(&r, &b, j.cfg, 0, 0);
	assert_int_equal(fsc_runner_validate(&r, fsc_pattern_find("broadcast"), err, sizeof(err)),
	                 -EINVAL);
	assert_string_equal(err, "--bcast-root 2 is not a rank of this 2-rank run");
	fsc_runner_fini(&r);
	fsc_config_free(j.cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(fsc_pattern_coll__every_variant_exact_on_1_to_8_ranks),
	        cmocka_unit_test(fsc_pattern_coll__large_odd_sizes_exact),
	        cmocka_unit_test(fsc_pattern_coll__ring_phases_take_n_minus_1_chunk_steps),
	        cmocka_unit_test(fsc_pattern_broadcast__chain_pipelines_and_tree_takes_log2_rounds),
	        cmocka_unit_test(fsc_pattern_coll__corrupted_byte_is_counted_where_it_lands),
	        cmocka_unit_test(fsc_pattern_coll__bad_points),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
