/* Unit tests for the typed fields of a result record that accept judges on
 * (src/accept_record.c). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "accept_fixtures.h"
#include "accept_record.h"

static void fsc_accept_record_read__every_field(void **state)
{
	json_t *rec = load(
	        "{\"pattern\":\"pairs\",\"impl\":\"ring\",\"dtype\":\"float32\",\"bytes\":65536,"
	        " \"status\":\"anomaly\",\"reason\":\"why\",\"wrong\":3,"
	        " \"time_us\":{\"p50\":2.5,\"p99\":7.25},\"algbw_GBps\":1.5,\"busbw_GBps\":2.75,"
	        " \"bw_spread\":{\"median\":9.5},\"lat_spread\":{\"median\":1.25},"
	        " \"labels\":[\"h0\",\"h1\"],\"bw_GBps\":[[null,4],[5.5,null]],"
	        " \"lat_us\":[[null,1],[2,null]],"
	        " \"anomalies\":[{\"kind\":\"link\",\"hosts\":[\"h0\",\"h1\"],"
	        "   \"direction\":\"one-way\",\"metric\":\"bandwidth\",\"text\":\"slow\"},"
	        "  {\"kind\":\"node\",\"hosts\":[\"h1\"],\"metric\":\"latency\"}]}");
	struct fsc_accept_record r;
	struct fsc_accept_anomaly an;

	(void)state;
	fsc_accept_record_read(rec, &r);
	assert_int_equal(r.status, FSC_REC_ANOMALY);
	assert_true(fsc_accept_record_measured(&r));
	assert_string_equal(r.pattern, "pairs");
	assert_string_equal(r.impl, "ring");
	assert_string_equal(r.dtype, "float32");
	assert_string_equal(r.reason, "why");
	assert_int_equal(r.bytes, 65536);
	assert_true(r.p50_us == 2.5 && r.p99_us == 7.25);
	assert_true(r.algbw_GBps == 1.5 && r.busbw_GBps == 2.75);
	assert_true(r.wrong == 3);
	assert_true(r.bw_median_GBps == 9.5 && r.lat_median_us == 1.25);
	assert_int_equal(r.nanomalies, 2);
	fsc_accept_anomaly_read(&r, 0, &an);
	assert_string_equal(an.kind, "link");
	assert_string_equal(an.host_a, "h0");
	assert_string_equal(an.host_b, "h1");
	assert_string_equal(an.direction, "one-way");
	assert_string_equal(an.metric, "bandwidth");
	assert_string_equal(an.text, "slow");
	fsc_accept_anomaly_read(&r, 1, &an);
	assert_string_equal(an.kind, "node");
	assert_null(an.host_b);
	assert_string_equal(an.direction, "");
	assert_string_equal(an.text, "");
	assert_int_equal(fsc_accept_matrix_size(r.bw_GBps), 2);
	assert_true(isnan(fsc_accept_matrix_cell(r.bw_GBps, 0, 0)));
	assert_true(fsc_accept_matrix_cell(r.bw_GBps, 1, 0) == 5.5);
	assert_true(fsc_accept_matrix_cell(r.lat_us, 0, 1) == 1);
	assert_true(isnan(fsc_accept_matrix_cell(r.lat_us, 5, 0)));
	assert_string_equal(fsc_accept_matrix_label(&r, 1), "h1");
	assert_null(fsc_accept_matrix_label(&r, 2));
	json_decref(rec);
}

static void fsc_accept_record_read__absent_fields(void **state)
{
	static const char *const words[] = {"ok",    "wrong",   "anomaly", "skipped",
	                                    "error", "running", "bogus"};
	static const enum fsc_record_status want[] = {
	        FSC_REC_OK,    FSC_REC_WRONG,   FSC_REC_ANOMALY, FSC_REC_SKIPPED,
	        FSC_REC_ERROR, FSC_REC_RUNNING, FSC_REC_OTHER};
	struct fsc_accept_record r;

	(void)state;
	fsc_accept_record_read(0, &r);
	assert_int_equal(r.status, FSC_REC_OTHER);
	assert_false(fsc_accept_record_measured(&r));
	assert_string_equal(r.pattern, "");
	assert_string_equal(r.impl, "");
	assert_null(r.dtype);
	assert_null(r.reason);
	assert_int_equal(r.bytes, 0);
	assert_true(isnan(r.p50_us) && isnan(r.p99_us) && isnan(r.algbw_GBps) &&
	            isnan(r.busbw_GBps) && isnan(r.wrong) && isnan(r.bw_median_GBps) &&
	            isnan(r.lat_median_us));
	assert_null(r.anomalies);
	assert_int_equal(r.nanomalies, 0);
	assert_null(r.labels);
	assert_null(r.bw_GBps);
	assert_int_equal(fsc_accept_matrix_size(r.bw_GBps), 0);
	for (size_t k = 0; k < sizeof(words) / sizeof(words[0]); k++) {
		json_t *rec = json_pack("{s:s, s:s}", "status", words[k], "anomalies", "none");

		fsc_accept_record_read(rec, &r);
		assert_int_equal(r.status, want[k]);
		assert_int_equal(fsc_accept_record_measured(&r), k < 3);
		assert_null(r.anomalies); /* not an array: none */
		json_decref(rec);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(fsc_accept_record_read__every_field),
	        cmocka_unit_test(fsc_accept_record_read__absent_fields),
	};

	return cmocka_run_group_tests(tests, 0, 0);
}
