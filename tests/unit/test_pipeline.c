/* The pipeline pattern over the loopback fabric: exact virtual times for
 * the forward and 1F1B schedules, per-stage and per-hop figures, a slow
 * link or rank located, several chains (block and stride layouts), data on
 * 2..6 ranks, corruption counted, bad stage counts rejected.
 *
 * Loopback model (fabrics/loopback/README.md): a B-byte message on a link
 * with latency L and bandwidth W GB/s occupies the link B/W ns and arrives
 * L ns after that; sends do not advance the sender's clock; a receive
 * moves the receiver's clock to the arrival.  With L = 1000 ns, W = 1 and
 * S = 4096 a micro-batch occupies a link x = 4096 ns.
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

static json_t *stage(json_t *rec, int s)
{
	return json_array_get(json_object_get(rec, "stages"), (size_t)s);
}

static json_t *hop(json_t *rec, int k)
{
	return json_array_get(json_object_get(rec, "hops"), (size_t)k);
}

/* Forward, P = 3, M = 4.  Micro-batch m reaches stage s (s >= 1) at
 * T + m*x + s*(x + L) (the first link serialises the source's M sends; the
 * second is never busier than the first); the last one reaches stage 2 at
 * T + 5x + 2L; the flush token (0 B) reaches stage 0 at T + 5x + 3L =
 * T + 23480 ns, which is also every stage's period. */
static void fsc_runner_sweep__pipeline_forward_exact_on_virtual_clock(void **state)
{
	struct lbh_job j = {.pattern = "pipeline"};
	json_t *recs, *rec;

	(void)state;
	ARGS(&j, "--fabric", "loopback", "--lb-lat", "1us", "--lb-bw", "1", "--min", "4096",
	     "--max", "4096", "--iters", "6", "--warmup", "2", "--pipe-microbatches", "4");
	recs = run_job(&j, 3);
	assert_int_equal(json_array_size(recs), 1);
	rec = json_array_get(recs, 0);
	assert_string_equal(lbh_str(rec, "status"), "ok");
	assert_int_equal((int)lbh_num(rec, "wrong"), 0);
	assert_true(lbh_tnum(rec, "min") == 23.48 && lbh_tnum(rec, "max") == 23.48);
	assert_float_equal(lbh_num(rec, "algbw_GBps"), 4 * 4096.0 / 23480.0, 1e-12);
	assert_int_equal((int)lbh_num(rec, "pipe_stages"), 3);
	assert_int_equal((int)lbh_num(rec, "chains"), 1);
	assert_int_equal((int)lbh_num(rec, "microbatches"), 4);
	/* stage 0 idles from its last send to the token: the whole period */
	assert_float_equal(lbh_num(stage(rec, 0), "wait_us_mean"), 23.48, 1e-9);
	assert_float_equal(lbh_num(stage(rec, 0), "stream_wait_us_mean"), 0, 1e-9);
	assert_true(json_is_null(json_object_get(stage(rec, 0), "hop_in_GBps")));
	/* stages 1, 2: x between micro-batches, 3 gaps per iteration */
	for (int s = 1; s < 3; s++) {
		assert_float_equal(lbh_num(stage(rec, s), "stream_wait_us_mean"), 12.288, 1e-9);
		assert_float_equal(lbh_num(stage(rec, s), "busy_us_mean"), 0, 1e-9);
		assert_float_equal(lbh_num(stage(rec, s), "hop_in_GBps"), 1.0, 1e-12);
		assert_float_equal(lbh_num(stage(rec, s), "delivered_GBps"), 1.0, 1e-12);
	}
	assert_int_equal(json_array_size(json_object_get(rec, "hops")), 2);
	assert_float_equal(lbh_num(hop(rec, 1), "t_us"), 4.096, 1e-12);
	assert_int_equal((int)lbh_num(hop(rec, 1), "from_rank"), 1);
	assert_int_equal((int)lbh_num(hop(rec, 1), "to_rank"), 2);
	/* ideal = (M + H - 1) x = 5 x */
	assert_float_equal(lbh_num(rec, "t_hop_us"), 4.096, 1e-12);
	assert_float_equal(lbh_num(rec, "ideal_us"), 20.48, 1e-9);
	assert_float_equal(lbh_num(rec, "efficiency"), 20480.0 / 23480.0, 1e-12);
	assert_true(json_is_null(json_object_get(rec, "slowest_stage")));
	json_decref(recs);
}

/* 1F1B, M = 2.
 * P = 2: stage 1 gets F(0) at x+L and returns B(0) at once; F(1) arrives at
 * 2x+L, B(1) leaves then and reaches stage 0 at 3x+2L = 14288 ns.
 * P = 3: F(m) reaches stage 2 at (m+2)x + 2L and B(m) leaves then; B(0)
 * reaches stage 1 at 3x+3L, B(1) at 4x+3L; stage 1 forwards each on
 * arrival, and link 1->0 delivers B(1) at 5x+4L = 24480 ns. */
static void fsc_runner_sweep__pipeline_1f1b_exact_on_virtual_clock(void **state)
{
	struct lbh_job j = {.pattern = "pipeline"};
	json_t *recs, *rec;

	(void)state;
	ARGS(&j, "--fabric", "loopback", "--lb-lat", "1us", "--lb-bw", "1", "--min", "4096",
	     "--max", "4096", "--iters", "5", "--warmup", "2", "--pipe-microbatches", "2",
	     "--pipe-backward", "on");
	recs = run_job(&j, 2);
	rec = json_array_get(recs, 0);
	assert_string_equal(lbh_str(rec, "status"), "ok");
	assert_true(lbh_tnum(rec, "min") == 14.288 && lbh_tnum(rec, "max") == 14.288);
	assert_float_equal(lbh_num(rec, "algbw_GBps"), 2 * 2 * 4096.0 / 14288.0, 1e-12);
	/* H = 2 hops (one each way): ideal 3x */
	assert_int_equal(json_array_size(json_object_get(rec, "hops")), 2);
	assert_float_equal(lbh_num(rec, "efficiency"), 3 * 4096.0 / 14288.0, 1e-12);
	json_decref(recs);

	recs = run_job(&j, 3);
	rec = json_array_get(recs, 0);
	assert_string_equal(lbh_str(rec, "status"), "ok");
	assert_true(lbh_tnum(rec, "min") == 24.48 && lbh_tnum(rec, "max") == 24.48);
	assert_int_equal(json_array_size(json_object_get(rec, "hops")), 4);
	assert_float_equal(lbh_num(rec, "ideal_us"), 20.48, 1e-9); /* (2 + 4 - 1) x */
	assert_float_equal(lbh_num(rec, "efficiency"), 20480.0 / 24480.0, 1e-12);
	assert_string_equal(lbh_str(rec, "schedule"), "1F1B");
	json_decref(recs);
}

/* Link 1->2 at half speed (x' = 2x, L' = 2L), P = 4, M = 4: F(m) reaches
 * stage 2 at (2m+3)x + 3L and stage 3 at (2m+4)x + 4L; the token reaches
 * stage 0 at 10x + 5L = 45960 ns.  Stages 2 and 3 wait 2x between
 * micro-batches, stage 1 x. */
static void fsc_runner_sweep__pipeline_slow_link_is_located(void **state)
{
	struct lbh_job j = {.pattern = "pipeline"};
	json_t *recs, *rec, *slow;
	double eff;

	(void)state;
	ARGS(&j, "--fabric", "loopback", "--lb-lat", "1us", "--lb-bw", "1", "--min", "4096",
	     "--max", "4096", "--iters", "5", "--warmup", "2", "--pipe-microbatches", "4",
	     "--lb-slow-link", "1:2:0.5");
	recs = run_job(&j, 4);
	rec = json_array_get(recs, 0);
	assert_true(lbh_tnum(rec, "p50") == 45.96);
	slow = json_object_get(rec, "slowest_hop");
	assert_int_equal((int)lbh_num(slow, "from"), 1);
	assert_int_equal((int)lbh_num(slow, "to"), 2);
	assert_float_equal(lbh_num(slow, "GBps"), 0.5, 1e-12);
	assert_float_equal(lbh_num(hop(rec, 0), "GBps"), 1.0, 1e-12);
	assert_float_equal(lbh_num(hop(rec, 2), "GBps"), 1.0, 1e-12);
	assert_float_equal(lbh_num(stage(rec, 1), "stream_wait_us_mean"), 12.288, 1e-9);
	assert_float_equal(lbh_num(stage(rec, 2), "stream_wait_us_mean"), 24.576, 1e-9);
	assert_float_equal(lbh_num(stage(rec, 3), "stream_wait_us_mean"), 24.576, 1e-9);
	assert_float_equal(lbh_num(stage(rec, 2), "hop_in_GBps"), 0.5, 1e-12);
	assert_float_equal(lbh_num(stage(rec, 3), "hop_in_GBps"), 1.0, 1e-12);
	assert_float_equal(lbh_num(stage(rec, 3), "delivered_GBps"), 0.5, 1e-12);
	/* t_hop = median(x, 2x, x) = x; ideal 6x */
	eff = lbh_num(rec, "efficiency");
	assert_float_equal(eff, 6 * 4096.0 / 45960.0, 1e-12);
	assert_true(eff > 0 && eff <= 1);
	/* the link ties its two stages; the lower is named */
	assert_int_equal((int)lbh_num(json_object_get(rec, "slowest_stage"), "rank"), 1);
	json_decref(recs);

	/* a slow rank slows both of its hops: its stage is named */
	ARGS(&j, "--fabric", "loopback", "--lb-lat", "1us", "--lb-bw", "1", "--min", "4096",
	     "--max", "4096", "--iters", "5", "--warmup", "2", "--pipe-microbatches", "4",
	     "--lb-slow-rank", "2:0.5");
	recs = run_job(&j, 4);
	rec = json_array_get(recs, 0);
	slow = json_object_get(rec, "slowest_stage");
	assert_int_equal((int)lbh_num(slow, "stage"), 2);
	assert_int_equal((int)lbh_num(slow, "rank"), 2);
	assert_float_equal(lbh_num(slow, "excess_us"), 2 * 4.096, 1e-9);
	assert_float_equal(lbh_num(stage(rec, 2), "hop_in_GBps"), 0.5, 1e-12);
	assert_float_equal(lbh_num(stage(rec, 3), "hop_in_GBps"), 0.5, 1e-12);
	json_decref(recs);
}

/* 4 ranks, P = 2: two chains.  Block: {0,1}, {2,3}; stride: {0,2}, {1,3}.
 * Healthy, a chain takes (M-1)x + (x+L) + L (token) = 4x + 2L = 18384 ns;
 * with link 1->3 at half speed, chain 1 takes 3(2x) + (2x+2L) + L = 35768. */
static void fsc_runner_sweep__pipeline_chains_block_and_stride(void **state)
{
	struct lbh_job j = {.pattern = "pipeline"};
	json_t *recs, *rec, *slow;

	(void)state;
	ARGS(&j, "--fabric", "loopback", "--lb-lat", "1us", "--lb-bw", "1", "--min", "4096",
	     "--max", "4096", "--iters", "5", "--warmup", "2", "--pipe-microbatches", "4",
	     "--pipe-stages", "2");
	recs = run_job(&j, 4);
	rec = json_array_get(recs, 0);
	assert_string_equal(lbh_str(rec, "status"), "ok");
	assert_true(lbh_tnum(rec, "p50") == 18.384);
	assert_int_equal((int)lbh_num(rec, "chains"), 2);
	assert_string_equal(lbh_str(rec, "layout"), "block");
	assert_int_equal((int)lbh_num(hop(rec, 1), "chain"), 1);
	assert_int_equal((int)lbh_num(hop(rec, 1), "from_rank"), 2);
	assert_int_equal((int)lbh_num(hop(rec, 1), "to_rank"), 3);
	assert_int_equal(
	        (int)json_integer_value(json_array_get(json_object_get(stage(rec, 1), "ranks"), 1)),
	        3);
	json_decref(recs);

	ARGS(&j, "--fabric", "loopback", "--lb-lat", "1us", "--lb-bw", "1", "--min", "4096",
	     "--max", "4096", "--iters", "5", "--warmup", "2", "--pipe-microbatches", "4",
	     "--pipe-stages", "2", "--pipe-layout", "stride", "--lb-slow-link", "1:3:0.5");
	recs = run_job(&j, 4);
	rec = json_array_get(recs, 0);
	assert_true(lbh_tnum(rec, "p50") == 35.768);
	assert_int_equal((int)lbh_num(hop(rec, 0), "to_rank"), 2);
	slow = json_object_get(rec, "slowest_hop");
	assert_int_equal((int)lbh_num(slow, "chain"), 1);
	assert_int_equal((int)lbh_num(slow, "from_rank"), 1);
	assert_int_equal((int)lbh_num(slow, "to_rank"), 3);
	/* stage 1: rank 2 waits x between micro-batches, rank 3 2x */
	assert_float_equal(lbh_num(stage(rec, 1), "wait_us_max") > 0, 1, 0);
	assert_float_equal(lbh_num(stage(rec, 1), "stream_wait_us_mean"),
	                   (3 * 4.096 + 6 * 4.096) / 2, 1e-9);
	json_decref(recs);
}

static void check_all_ok(json_t *recs, size_t npoints)
{
	assert_int_equal(json_array_size(recs), npoints);
	for (size_t i = 0; i < npoints; i++) {
		json_t *rec = json_array_get(recs, i);
		json_t *eff = json_object_get(rec, "efficiency");

		assert_string_equal(lbh_str(rec, "status"), "ok");
		assert_int_equal((int)lbh_num(rec, "wrong"), 0);
		assert_non_null(eff);
		/* null only where a hop's time is below the clock's 1 ns: at
		 * the default 10 GB/s, under 10 B */
		if (json_is_null(eff))
			assert_true(lbh_num(rec, "bytes") < 10);
		else
			assert_true(json_number_value(eff) > 0 && json_number_value(eff) <= 1);
	}
}

/* Every stage count and layout on 2..6 ranks, both schedules, sizes from
 * 0 B by x7 (odd ones), checked after every iteration. */
static void fsc_runner_sweep__pipeline_data_on_2_to_6_ranks(void **state)
{
	static const struct {
		int n;
		const char *stages, *layout;
	} cases[] = {
	        {2, "0", "block"}, {3, "0", "block"},  {4, "0", "block"},  {5, "0", "block"},
	        {4, "2", "block"}, {4, "2", "stride"}, {6, "3", "stride"}, {6, "2", "block"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		for (int bwd = 0; bwd < 2; bwd++) {
			struct lbh_job j = {.pattern = "pipeline"};
			json_t *recs;

			ARGS(&j, "--fabric", "loopback", "--min", "0", "--max", "100000",
			     "--factor", "7", "--iters", "3", "--warmup", "1", "--check", "every",
			     "--pipe-microbatches", "3", "--pipe-stages", cases[i].stages,
			     "--pipe-layout", cases[i].layout, "--pipe-backward",
			     bwd ? "on" : "off");
			recs = run_job(&j, cases[i].n);
			/* 0, 1, 7, 49, 343, 2401, 16807, 100000 */
			check_all_ok(recs, 8);
			json_decref(recs);
		}
}

/* Corruption on a hop is forwarded unchanged and counted at the end of the
 * flow.  Link 0->1 first carries the calibration of hop 0 (an empty
 * exchange, then 5 x (S bytes, 0 bytes)): message 11 is F(0) of the
 * verification pass.  In 1F1B on 2 ranks each link carries 11 messages of
 * the forward calibration and 11 of the backward one (sends or replies):
 * message 22 is F(0) on 0->1 and B(0) on 1->0. */
static void fsc_runner_point__pipeline_corruption_is_counted(void **state)
{
	struct lbh_job j = {.pattern = "pipeline"};
	json_t *recs, *rec;

	(void)state;
	ARGS(&j, "--fabric", "loopback", "--min", "256", "--max", "256", "--iters", "3", "--warmup",
	     "1", "--pipe-microbatches", "4", "--lb-corrupt", "0:1:11:5");
	recs = run_job(&j, 3);
	rec = json_array_get(recs, 0);
	assert_string_equal(lbh_str(rec, "status"), "wrong");
	assert_int_equal((int)lbh_num(rec, "wrong"), 1);
	json_decref(recs);

	ARGS(&j, "--fabric", "loopback", "--min", "256", "--max", "256", "--iters", "3", "--warmup",
	     "1", "--pipe-microbatches", "4", "--pipe-backward", "on", "--lb-corrupt",
	     "1:0:22:7,0:1:22:0");
	recs = run_job(&j, 2);
	rec = json_array_get(recs, 0);
	assert_string_equal(lbh_str(rec, "status"), "wrong");
	assert_int_equal((int)lbh_num(rec, "wrong"), 2);
	json_decref(recs);
}

/* Sources and sinks keep one slot per micro-batch up to 64 MiB: 3 x 24 MiB
 * get 2 slots, F(2) lands on F(0).  Verification sees the slots' last
 * micro-batches: F(2), message 13 of link 0->1 (11 of calibration first),
 * is checked. */
static void fsc_runner_point__pipeline_slots_reused_beyond_64MiB(void **state)
{
	struct lbh_job j = {.pattern = "pipeline"};
	json_t *recs, *rec;

	(void)state;
	ARGS(&j, "--fabric", "loopback", "--min", "24M", "--max", "24M", "--iters", "1", "--warmup",
	     "1", "--check", "every", "--pipe-microbatches", "3", "--lb-corrupt", "0:1:13:100");
	recs = run_job(&j, 2);
	rec = json_array_get(recs, 0);
	assert_string_equal(lbh_str(rec, "status"), "wrong");
	assert_int_equal((int)lbh_num(rec, "wrong"), 1);
	json_decref(recs);

	ARGS(&j, "--fabric", "loopback", "--min", "24M", "--max", "24M", "--iters", "1", "--warmup",
	     "1", "--check", "every", "--pipe-microbatches", "3", "--pipe-backward", "on");
	recs = run_job(&j, 2);
	check_all_ok(recs, 1);
	json_decref(recs);
}

static void pipeline_check_args__stage_counts(void **state)
{
	const struct fsc_pattern_ops *p = fsc_pattern_find("pipeline");
	struct lbh_job j = {.pattern = "pipeline"};
	struct fsc_pctx c = {.size = 6, .impl = "chain", .bytes = 8};
	char err[256];

	(void)state;
	assert_non_null(p);
	ARGS(&j, "--pipe-stages", "4");
	c.cfg = lbh_config(j.nargs, j.args);
	assert_int_equal(p->check_args(&c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "--pipe-stages 4 does not divide the 6 ranks"));
	fsc_config_free((struct fsc_config *)c.cfg);

	ARGS(&j, "--pipe-stages", "1");
	c.cfg = lbh_config(j.nargs, j.args);
	assert_int_equal(p->check_args(&c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "invalid value '1' for --pipe-stages"));
	fsc_config_free((struct fsc_config *)c.cfg);

	ARGS(&j, "--pipe-stages", "7");
	c.cfg = lbh_config(j.nargs, j.args);
	assert_int_equal(p->check_args(&c, err, sizeof(err)), -EINVAL);
	fsc_config_free((struct fsc_config *)c.cfg);

	ARGS(&j, "--pipe-stages", "3", "--pipe-microbatches", "5", "--pipe-backward", "on");
	c.cfg = lbh_config(j.nargs, j.args);
	assert_int_equal(p->check_args(&c, err, sizeof(err)), 0);
	assert_float_equal(p->algbw_bytes(&c), 2 * 5 * 8, 0); /* both flows */
	fsc_config_free((struct fsc_config *)c.cfg);

	/* defaults: one stage per rank, 8 micro-batches */
	c.cfg = 0;
	assert_int_equal(p->check_args(&c, err, sizeof(err)), 0);
	assert_float_equal(p->algbw_bytes(&c), 8 * 8, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(fsc_runner_sweep__pipeline_forward_exact_on_virtual_clock),
	        cmocka_unit_test(fsc_runner_sweep__pipeline_1f1b_exact_on_virtual_clock),
	        cmocka_unit_test(fsc_runner_sweep__pipeline_slow_link_is_located),
	        cmocka_unit_test(fsc_runner_sweep__pipeline_chains_block_and_stride),
	        cmocka_unit_test(fsc_runner_sweep__pipeline_data_on_2_to_6_ranks),
	        cmocka_unit_test(fsc_runner_point__pipeline_corruption_is_counted),
	        cmocka_unit_test(fsc_runner_point__pipeline_slots_reused_beyond_64MiB),
	        cmocka_unit_test(pipeline_check_args__stage_counts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
