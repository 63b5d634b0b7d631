/* Unit tests for judging the checks of `fabscope accept`
 * (src/accept_judge.c): checks judged on synthetic records, and suspects. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "accept_fixtures.h"
#include "accept_judge.h"
#include "spec.h"

/* ---- helpers ---- */

static struct fsc_spec_check check(enum fsc_check_kind kind, const char *name, double limit,
                                   int is_max, const char *text)
{
	struct fsc_spec_check c;

	memset(&c, 0, sizeof(c));
	c.kind = kind;
	c.name = name;
	c.limit = limit;
	c.is_max = is_max;
	c.has_limit = 1;
	snprintf(c.limit_text, sizeof(c.limit_text), "%s", text);
	return c;
}

static void eval(const struct fsc_spec_check *c, const char *records, double dur,
                 uint64_t timeout_ns, int required, struct fsc_check_outcome *o)
{
	json_t *recs = load(records);
	struct fsc_accept_attempt a = {
	        .records = recs,
	        .duration_s = dur,
	        .timeout_ns = timeout_ns,
	        .required = required,
	};

	fsc_accept_check_eval(c, &a, o);
	json_decref(recs);
}

static const char lat_records[] =
        "[{\"pattern\":\"latency\",\"impl\":\"pingpong\",\"bytes\":8,\"status\":\"ok\","
        "  \"wrong\":0,\"time_us\":{\"p50\":3.0,\"p99\":4.25}},"
        " {\"pattern\":\"latency\",\"impl\":\"pingpong\",\"bytes\":64,\"status\":\"ok\","
        "  \"wrong\":0,\"time_us\":{\"p50\":7.5,\"p99\":12.0}}]";

/* ---- checks ---- */

static void fsc_accept_check_eval__latency_worst_point(void **state)
{
	struct fsc_spec_check c = check(FSC_CHECK_LATENCY_P50, "latency_p50", 5, 1, "5us");
	struct fsc_check_outcome o;

	(void)state;
	eval(&c, lat_records, 1, 0, 0, &o);
	assert_int_equal(o.status, FSC_CHECK_FAIL);
	assert_float_equal(o.value, 7.5, 1e-12);
	assert_string_equal(o.required, "p50 <= 5us");
	assert_string_equal(o.measured, "7.5 us (pingpong 64B, the worst point)");
	assert_int_equal(json_array_size(o.suspects), 0);
	fsc_check_outcome_fini(&o);

	c.has_at = 1;
	c.at_bytes = 8;
	eval(&c, lat_records, 1, 0, 0, &o);
	assert_int_equal(o.status, FSC_CHECK_PASS);
	assert_float_equal(o.value, 3.0, 1e-12);
	assert_string_equal(o.required, "p50 <= 5us at 8B");
	assert_string_equal(o.measured, "3 us (pingpong 8B)");
	fsc_check_outcome_fini(&o);
}

static void fsc_accept_check_eval__latency_p99_and_missing_size(void **state)
{
	struct fsc_spec_check c = check(FSC_CHECK_LATENCY_P99, "latency_p99", 12, 1, "12us");
	struct fsc_check_outcome o;

	(void)state;
	eval(&c, lat_records, 1, 0, 0, &o);
	assert_int_equal(o.status, FSC_CHECK_PASS); /* 12.0 <= 12: the limit is inclusive */
	assert_float_equal(o.value, 12.0, 1e-12);
	fsc_check_outcome_fini(&o);

	c.has_at = 1;
	c.at_bytes = 1024;
	eval(&c, lat_records, 1, 0, 0, &o);
	assert_int_equal(o.status, FSC_CHECK_SKIP);
	assert_true(isnan(o.value));
	assert_string_equal(o.measured, "no measured point of that size");
	fsc_check_outcome_fini(&o);
}

static const char bw_records[] =
        "[{\"impl\":\"uni\",\"bytes\":65536,\"status\":\"ok\",\"algbw_GBps\":1.5,"
        "  \"busbw_GBps\":1.5},"
        " {\"impl\":\"uni\",\"bytes\":1048576,\"status\":\"ok\",\"algbw_GBps\":4.0,"
        "  \"busbw_GBps\":4.0},"
        " {\"impl\":\"bi\",\"bytes\":65536,\"status\":\"ok\",\"algbw_GBps\":2.5,"
        "  \"busbw_GBps\":2.5},"
        " {\"impl\":\"bi\",\"bytes\":1048576,\"status\":\"ok\",\"algbw_GBps\":3.0,"
        "  \"busbw_GBps\":3.0},"
        " {\"impl\":\"native\",\"bytes\":1048576,\"status\":\"skipped\",\"reason\":\"no\"}]";

static void fsc_accept_check_eval__bandwidth_peak_per_impl(void **state)
{
	struct fsc_spec_check c = check(FSC_CHECK_BANDWIDTH, "bandwidth", 3.5, 0, "3.5 GB/s");
	struct fsc_check_outcome o;

	(void)state;
	/* peaks: uni 4.0, bi 3.0; every impl must meet the floor */
	eval(&c, bw_records, 1, 0, 0, &o);
	assert_int_equal(o.status, FSC_CHECK_FAIL);
	assert_float_equal(o.value, 3.0, 1e-12);
	assert_string_equal(o.required, "peak algbw >= 3.5 GB/s");
	assert_string_equal(o.measured, "3 GB/s (bi 1M)");
	fsc_check_outcome_fini(&o);

	/* at 64K: uni 1.5, bi 2.5 */
	c = check(FSC_CHECK_BUSBW, "busbw", 1.5, 0, "1.5 GB/s");
	c.has_at = 1;
	c.at_bytes = 65536;
	eval(&c, bw_records, 1, 0, 0, &o);
	assert_int_equal(o.status, FSC_CHECK_PASS);
	assert_float_equal(o.value, 1.5, 1e-12);
	assert_string_equal(o.required, "busbw >= 1.5 GB/s at 64K");
	assert_string_equal(o.measured, "1.5 GB/s (uni 64K)");
	fsc_check_outcome_fini(&o);
}

static void fsc_accept_check_eval__wrong_data(void **state)
{
	struct fsc_spec_check c = check(FSC_CHECK_NO_WRONG_DATA, "no_wrong_data", 0, 0, "");
	struct fsc_check_outcome o;

	(void)state;
	eval(&c, lat_records, 1, 0, 0, &o);
	assert_int_equal(o.status, FSC_CHECK_PASS);
	assert_string_equal(o.measured, "0 wrong in 2 points");
	assert_float_equal(o.value, 0, 0);
	fsc_check_outcome_fini(&o);

	eval(&c,
	     "[{\"pattern\":\"allreduce\",\"impl\":\"ring\",\"bytes\":4096,\"dtype\":\"float32\","
	     "  \"status\":\"ok\",\"wrong\":0},"
	     " {\"pattern\":\"allreduce\",\"impl\":\"ring\",\"bytes\":65536,\"dtype\":\"float32\","
	     "  \"status\":\"wrong\",\"wrong\":37},"
	     " {\"pattern\":\"allreduce\",\"impl\":\"rd\",\"bytes\":65536,\"status\":\"error\","
	     "  \"reason\":\"run: timed out\"}]",
	     1, 0, 0, &o);
	assert_int_equal(o.status, FSC_CHECK_FAIL);
	assert_float_equal(o.value, 37, 0);
	assert_string_equal(o.measured,
	                    "37 wrong in 1 of 2 points (first: allreduce ring 64K float32)");
	fsc_check_outcome_fini(&o);
}

static void fsc_accept_check_eval__completed(void **state)
{
	struct fsc_check_outcome o;

	(void)state;
	eval(&(struct fsc_spec_check){.kind = FSC_CHECK_COMPLETED, .name = "completed"},
	     lat_records, 2.25, 0, 0, &o);
	assert_int_equal(o.status, FSC_CHECK_PASS);
	assert_string_equal(o.required, "every point runs");
	assert_string_equal(o.measured, "2 points in 2.2 s");
	fsc_check_outcome_fini(&o);

	eval(&(struct fsc_spec_check){.kind = FSC_CHECK_COMPLETED, .name = "completed"},
	     lat_records, 75.0, 60000000000ull, 0, &o);
	assert_int_equal(o.status, FSC_CHECK_FAIL);
	assert_string_equal(o.required, "every point runs, within 60s");
	assert_string_equal(o.measured, "took 75.0 s, over the 60s timeout");
	fsc_check_outcome_fini(&o);

	eval(&(struct fsc_spec_check){.kind = FSC_CHECK_COMPLETED, .name = "completed"},
	     "[{\"pattern\":\"latency\",\"impl\":\"pingpong\",\"bytes\":8,\"status\":\"ok\"},"
	     " {\"pattern\":\"latency\",\"impl\":\"pingpong\",\"bytes\":16,\"status\":\"error\","
	     "  \"reason\":\"run: timed out\"}]",
	     1, 0, 0, &o);
	assert_int_equal(o.status, FSC_CHECK_FAIL);
	assert_string_equal(o.measured, "1 of 2 points failed: latency pingpong 16B: run: timed "
	                                "out");
	fsc_check_outcome_fini(&o);
}

static const char skipped_records[] =
        "[{\"fabric\":\"ucx\",\"pattern\":\"latency\",\"status\":\"skipped\","
        "  \"reason\":\"no UCX transport\"}]";

static void fsc_accept_check_eval__fabric_not_usable(void **state)
{
	struct fsc_spec_check done = {.kind = FSC_CHECK_COMPLETED, .name = "completed"};
	struct fsc_spec_check lat = check(FSC_CHECK_LATENCY_P50, "latency_p50", 5, 1, "5us");
	struct fsc_check_outcome o;

	(void)state;
	eval(&done, skipped_records, 1, 0, 0, &o);
	assert_int_equal(o.status, FSC_CHECK_SKIP);
	assert_string_equal(o.measured, "no UCX transport");
	fsc_check_outcome_fini(&o);

	/* A required fabric: not usable is a failure of the run itself,
	 * the measurements are skipped. */
	eval(&done, skipped_records, 1, 0, 1, &o);
	assert_int_equal(o.status, FSC_CHECK_FAIL);
	assert_string_equal(o.measured, "required fabric not usable: no UCX transport");
	fsc_check_outcome_fini(&o);
	eval(&lat, skipped_records, 1, 0, 1, &o);
	assert_int_equal(o.status, FSC_CHECK_SKIP);
	fsc_check_outcome_fini(&o);

	eval(&done, "[]", 1, 0, 0, &o);
	assert_int_equal(o.status, FSC_CHECK_SKIP);
	assert_string_equal(o.measured, "no point was run");
	fsc_check_outcome_fini(&o);
}

/* A 3-node pairs record: lb2 receives slowly from lb1 (0.2x). */
static const char pairs_record[] =
        "[{\"pattern\":\"pairs\",\"impl\":\"p2p\",\"status\":\"anomaly\",\"wrong\":0,"
        "  \"labels\":[\"h0\",\"h1\",\"h2\"],"
        "  \"bw_GBps\":[[null,10.0,10.0],[10.0,null,2.0],[10.0,10.0,null]],"
        "  \"lat_us\":[[null,1.0,1.0],[1.0,null,3.0],[1.0,3.0,null]],"
        "  \"bw_spread\":{\"median\":10.0}, \"lat_spread\":{\"median\":1.0},"
        "  \"anomalies\":["
        "   {\"kind\":\"link\",\"metric\":\"bandwidth\",\"direction\":\"one-way\","
        "    \"hosts\":[\"h1\",\"h2\"],\"text\":\"link h1->h2 slow (0.2x median)\"},"
        "   {\"kind\":\"link\",\"metric\":\"latency\",\"direction\":\"both\","
        "    \"hosts\":[\"h1\",\"h2\"],\"text\":\"link h1<->h2 high latency (3x median)\"}]}]";

static void fsc_accept_check_eval__anomaly_suspects_merged(void **state)
{
	struct fsc_spec_check c = {.kind = FSC_CHECK_NO_ANOMALY, .name = "no_anomaly"};
	struct fsc_check_outcome o;
	const json_t *metric;

	(void)state;
	eval(&c, pairs_record, 1, 0, 0, &o);
	assert_int_equal(o.status, FSC_CHECK_FAIL);
	assert_float_equal(o.value, 2, 0);
	assert_string_equal(o.required, "no confirmed anomaly");
	assert_string_equal(
	        o.measured,
	        "link h1->h2 slow (0.2x median); link h1<->h2 high latency (3x median)");
	/* the round-trip latency link folds into the one-way bandwidth link */
	assert_int_equal(json_array_size(o.suspects), 1);
	assert_link_suspect(json_array_get(o.suspects, 0), "h1", "h2", "one-way");
	metric = json_object_get(json_array_get(o.suspects, 0), "metric");
	assert_int_equal(json_array_size(metric), 2);
	assert_string_equal(json_string_value(json_array_get(metric, 1)), "latency");
	fsc_check_outcome_fini(&o);

	/* only latency anomalies count */
	c.metric = FSC_METRIC_LATENCY;
	eval(&c, pairs_record, 1, 0, 0, &o);
	assert_int_equal(o.status, FSC_CHECK_FAIL);
	assert_string_equal(o.required, "no confirmed latency anomaly");
	assert_int_equal(json_array_size(o.suspects), 1);
	assert_link_suspect(json_array_get(o.suspects, 0), "h1", "h2", "both");
	fsc_check_outcome_fini(&o);
}

static void fsc_accept_check_eval__no_anomaly_passes(void **state)
{
	struct fsc_spec_check c = {
	        .kind = FSC_CHECK_NO_ANOMALY, .name = "no_anomaly", .metric = FSC_METRIC_BANDWIDTH};
	struct fsc_check_outcome o;

	(void)state;
	eval(&c,
	     "[{\"pattern\":\"pairs\",\"status\":\"anomaly\",\"labels\":[\"a\",\"b\"],"
	     "  \"bw_spread\":{\"median\":2.5}, \"lat_spread\":{\"median\":12.0},"
	     "  \"anomalies\":[{\"kind\":\"node\",\"metric\":\"latency\",\"hosts\":[\"a\"],"
	     "                  \"text\":\"a: node high latency\"}]}]",
	     1, 0, 0, &o);
	assert_int_equal(o.status, FSC_CHECK_PASS);
	assert_string_equal(o.measured, "none (median 2.5 GB/s, 12.00 us); 1 latency anomaly not "
	                                "counted");
	assert_int_equal(json_array_size(o.suspects), 0);
	fsc_check_outcome_fini(&o);

	eval(&c, lat_records, 1, 0, 0, &o);
	assert_int_equal(o.status, FSC_CHECK_SKIP);
	assert_string_equal(o.measured, "no pairs matrix was measured");
	fsc_check_outcome_fini(&o);
}

static void fsc_accept_check_eval__link_floor_relative(void **state)
{
	struct fsc_spec_check c =
	        check(FSC_CHECK_LINK_BANDWIDTH, "link_bandwidth", 0.5, 0, "0.5x median");
	struct fsc_check_outcome o;

	(void)state;
	c.relative = 1;
	/* cells: five at 10, one at 2: median 10, floor 5 */
	eval(&c, pairs_record, 1, 0, 0, &o);
	assert_int_equal(o.status, FSC_CHECK_FAIL);
	assert_float_equal(o.value, 0.2, 1e-12);
	assert_string_equal(o.required, "every link >= 0.5x median");
	assert_string_equal(o.measured, "1 of 6 links below: h1->h2 2 GB/s (0.2x median)");
	/* attribution's bandwidth anomaly names the culprit */
	assert_int_equal(json_array_size(o.suspects), 1);
	assert_link_suspect(json_array_get(o.suspects, 0), "h1", "h2", "one-way");
	assert_string_equal(
	        json_string_value(json_object_get(json_array_get(o.suspects, 0), "from")),
	        "pairs attribution");
	fsc_check_outcome_fini(&o);

	c.limit = 0.1;
	snprintf(c.limit_text, sizeof(c.limit_text), "0.1x median");
	eval(&c, pairs_record, 1, 0, 0, &o);
	assert_int_equal(o.status, FSC_CHECK_PASS);
	assert_string_equal(o.measured, "6 links, the worst at 0.2x median");
	fsc_check_outcome_fini(&o);
}

static void fsc_accept_check_eval__link_ceiling_absolute_names_cells(void **state)
{
	struct fsc_spec_check c = check(FSC_CHECK_LINK_LATENCY, "link_latency", 2.0, 1, "2us");
	struct fsc_check_outcome o;

	(void)state;
	/* no latency anomaly in this record: the failing cells are named */
	eval(&c,
	     "[{\"pattern\":\"pairs\",\"status\":\"ok\",\"labels\":[\"h0\",\"h1\",\"h2\"],"
	     "  \"lat_us\":[[null,1.0,1.0],[1.0,null,3.0],[1.0,2.5,null]], \"anomalies\":[]}]",
	     1, 0, 0, &o);
	assert_int_equal(o.status, FSC_CHECK_FAIL);
	assert_float_equal(o.value, 3.0, 1e-12);
	assert_string_equal(o.required, "every link <= 2us");
	assert_string_equal(o.measured, "2 of 6 links above: h1->h2 3 us (3x median), h2->h1 2.5 "
	                                "us (2.5x median)");
	assert_int_equal(json_array_size(o.suspects), 2);
	assert_link_suspect(json_array_get(o.suspects, 0), "h1", "h2", "one-way");
	assert_link_suspect(json_array_get(o.suspects, 1), "h2", "h1", "one-way");
	fsc_check_outcome_fini(&o);
}

/* ---- suspects ---- */

static void fsc_accept_suspects_merge__dedup_fold_and_explain(void **state)
{
	json_t *merged = json_array();
	json_t *a = load("[{\"kind\":\"node\",\"host\":\"h2\",\"metric\":[\"bandwidth\"]},"
	                 " {\"kind\":\"link\",\"src\":\"h0\",\"dst\":\"h3\",\"direction\":\"both\","
	                 "  \"metric\":[\"latency\"]}]");
	json_t *b =
	        load("[{\"kind\":\"node\",\"host\":\"h2\",\"metric\":[\"latency\"]},"
	             " {\"kind\":\"link\",\"src\":\"h2\",\"dst\":\"h1\",\"direction\":\"one-way\","
	             "  \"metric\":[\"bandwidth\"]},"
	             " {\"kind\":\"link\",\"src\":\"h3\",\"dst\":\"h0\",\"direction\":\"one-way\","
	             "  \"metric\":[\"bandwidth\"]}]");
	const json_t *s;
	char text[160];

	(void)state;
	fsc_accept_suspects_merge(merged, a, "pairs/tcp");
	fsc_accept_suspects_merge(merged, b, "pairs/mpi");
	assert_int_equal(json_array_size(merged), 2);

	s = json_array_get(merged, 0);
	assert_string_equal(json_string_value(json_object_get(s, "host")), "h2");
	assert_int_equal(json_array_size(json_object_get(s, "metric")), 2);
	assert_int_equal(json_array_size(json_object_get(s, "seen_in")), 2);
	assert_string_equal(json_string_value(json_array_get(json_object_get(s, "explains"), 0)),
	                    "h2->h1 (link slow)");
	fsc_accept_suspect_text(s, text, sizeof(text));
	assert_string_equal(text, "h2 (node slow, high latency)");

	/* h0<->h3 (round trip) folded into the one-way h3->h0 */
	s = json_array_get(merged, 1);
	assert_link_suspect(s, "h3", "h0", "one-way");
	assert_int_equal(json_array_size(json_object_get(s, "metric")), 2);
	fsc_accept_suspect_text(s, text, sizeof(text));
	assert_string_equal(text, "h3->h0 (link slow, high latency)");
	json_decref(a);
	json_decref(b);
	json_decref(merged);
}

static void fsc_accept_suspects_merge__fold_then_explain(void **state)
{
	/* h1<->h2 folds into the one-way h2->h1, which node h2 then explains
	 * with both metrics; h0<->h3 has no one-way twin and no slow host. */
	json_t *merged = json_array();
	json_t *a =
	        load("[{\"kind\":\"link\",\"src\":\"h1\",\"dst\":\"h2\",\"direction\":\"both\","
	             "  \"metric\":[\"latency\"]},"
	             " {\"kind\":\"link\",\"src\":\"h0\",\"dst\":\"h3\",\"direction\":\"both\","
	             "  \"metric\":[\"latency\"]},"
	             " {\"kind\":\"link\",\"src\":\"h2\",\"dst\":\"h1\",\"direction\":\"one-way\","
	             "  \"metric\":[\"bandwidth\"]},"
	             " {\"kind\":\"node\",\"host\":\"h2\",\"metric\":[\"bandwidth\"]}]");
	const json_t *s;

	(void)state;
	fsc_accept_suspects_merge(merged, a, NULL);
	assert_int_equal(json_array_size(merged), 2);
	assert_link_suspect(json_array_get(merged, 0), "h0", "h3", "both");
	s = json_array_get(merged, 1);
	assert_string_equal(json_string_value(json_object_get(s, "host")), "h2");
	assert_null(json_object_get(s, "seen_in"));
	assert_int_equal(json_array_size(json_object_get(s, "explains")), 1);
	assert_string_equal(json_string_value(json_array_get(json_object_get(s, "explains"), 0)),
	                    "h2->h1 (link slow, high latency)");
	json_decref(a);
	json_decref(merged);
}

static void fsc_accept_suspect_text__forms(void **state)
{
	json_t *s = load("{\"kind\":\"link\",\"src\":\"a\",\"dst\":\"b\",\"direction\":\"both\","
	                 " \"metric\":[\"latency\"]}");
	char text[160];

	(void)state;
	fsc_accept_suspect_text(s, text, sizeof(text));
	assert_string_equal(text, "a<->b (link high latency)");
	json_decref(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(fsc_accept_check_eval__latency_worst_point),
	        cmocka_unit_test(fsc_accept_check_eval__latency_p99_and_missing_size),
	        cmocka_unit_test(fsc_accept_check_eval__bandwidth_peak_per_impl),
	        cmocka_unit_test(fsc_accept_check_eval__wrong_data),
	        cmocka_unit_test(fsc_accept_check_eval__completed),
	        cmocka_unit_test(fsc_accept_check_eval__fabric_not_usable),
	        cmocka_unit_test(fsc_accept_check_eval__anomaly_suspects_merged),
	        cmocka_unit_test(fsc_accept_check_eval__no_anomaly_passes),
	        cmocka_unit_test(fsc_accept_check_eval__link_floor_relative),
	        cmocka_unit_test(fsc_accept_check_eval__link_ceiling_absolute_names_cells),
	        cmocka_unit_test(fsc_accept_suspects_merge__dedup_fold_and_explain),
	        cmocka_unit_test(fsc_accept_suspects_merge__fold_then_explain),
	        cmocka_unit_test(fsc_accept_suspect_text__forms),
	};

	return cmocka_run_group_tests(tests, 0, 0);
}
