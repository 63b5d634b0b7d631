/* Per-sample times in records: bounded, ascending, read back. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "samples.h"

static void fsc_samples_to_json__keeps_all_up_to_the_bound(void **state)
{
	double ns[5] = {1000, 1500.4, 2000, 2500.6, 9000};
	json_t *rec = json_object();
	double *v;
	size_t n;

	(void)state;
	json_object_set_new(rec, "samples", fsc_samples_to_json(ns, 5, 8));
	assert_string_equal(
	        json_string_value(json_object_get(json_object_get(rec, "samples"), "kept")), "all");
	assert_int_equal(fsc_samples_from_json(rec, &v, &n), 0);
	assert_int_equal(n, 5);
	/* rounded to the nanosecond, in µs */
	assert_float_equal(v[1], 1.500, 1e-9);
	assert_float_equal(v[3], 2.501, 1e-9);
	assert_float_equal(v[4], 9.0, 1e-9);
	free(v);
	json_decref(rec);
}

static void fsc_samples_to_json__keeps_quantiles_above_the_bound(void **state)
{
	double ns[1000];
	json_t *rec = json_object();
	double *v;
	size_t n;

	(void)state;
	for (int i = 0; i < 1000; i++)
		ns[i] = 1000.0 * (i + 1);
	json_object_set_new(rec, "samples", fsc_samples_to_json(ns, 1000, 10));
	assert_string_equal(
	        json_string_value(json_object_get(json_object_get(rec, "samples"), "kept")),
	        "quantiles");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(rec, "samples"), "n")),
	                 1000);
	assert_int_equal(fsc_samples_from_json(rec, &v, &n), 0);
	assert_int_equal(n, 10);
	/* value i is the sample at floor((i + 0.5) * 1000 / 10) = 50, 150, ... */
	assert_float_equal(v[0], 51.0, 1e-9);
	assert_float_equal(v[5], 551.0, 1e-9);
	assert_float_equal(v[9], 951.0, 1e-9);
	free(v);
	json_decref(rec);
}

static void fsc_samples_from_json__rejects_missing_and_unsorted(void **state)
{
	json_t *rec = json_object();
	double *v;
	size_t n;

	(void)state;
	assert_int_equal(fsc_samples_from_json(rec, &v, &n), -ENOENT);
	json_object_set_new(rec, "samples", json_pack("{s:[f,f]}", "values_us", 2.0, 1.0));
	assert_int_equal(fsc_samples_from_json(rec, &v, &n), -EINVAL);
	json_object_set_new(rec, "samples", json_pack("{s:[f,s]}", "values_us", 2.0, "x"));
	assert_int_equal(fsc_samples_from_json(rec, &v, &n), -EINVAL);
	assert_null(fsc_samples_to_json(0, 0, 8));
	json_decref(rec);
}

static void fsc_samples_blocks_json__medians_of_blocks_in_time_order(void **state)
{
	double ns[40], copy[40];
	json_t *b, *rec;
	double *v;
	size_t n;

	(void)state;
	/* four blocks of ten: levels 1, 2, 4, 3 µs with one outlier each */
	for (int i = 0; i < 40; i++)
		ns[i] = (i / 10 == 0   ? 1000
		         : i / 10 == 1 ? 2000
		         : i / 10 == 2 ? 4000
		                       : 3000) +
		        (i % 10 == 3 ? 50000 : i % 10);
	memcpy(copy, ns, sizeof(ns));
	b = fsc_samples_blocks_json(ns, 40, 4);
	assert_non_null(b);
	assert_memory_equal(ns, copy, sizeof(ns)); /* the time order is left alone */
	assert_int_equal(json_array_size(b), 4);
	/* each block's median: the mean of its 5th and 6th smallest */
	assert_float_equal(json_real_value(json_array_get(b, 0)), 1.006, 1e-9);
	assert_float_equal(json_real_value(json_array_get(b, 2)), 4.006, 1e-9);
	assert_float_equal(json_real_value(json_array_get(b, 3)), 3.006, 1e-9);
	rec = json_pack("{s:{s:o}}", "samples", "blocks_us", b);
	assert_int_equal(fsc_samples_blocks_from_json(rec, &v, &n), 0);
	assert_int_equal(n, 4);
	assert_float_equal(v[1], 2.006, 1e-9);
	free(v);
	json_decref(rec);
	/* fewer than 5 samples per block: none */
	assert_null(fsc_samples_blocks_json(ns, 19, 4));
	assert_null(fsc_samples_blocks_json(ns, 40, 0));
}

static void fsc_samples_blocks_from_json__rejects_missing_and_malformed(void **state)
{
	const char *bad[] = {"{\"samples\": {\"blocks_us\": [1.0]}}",
	                     "{\"samples\": {\"blocks_us\": [1.0, \"x\"]}}",
	                     "{\"samples\": {\"blocks_us\": [1.0, 0]}}",
	                     "{\"samples\": {\"blocks_us\": 3}}"};
	json_t *rec = json_pack("{s:{s:[f]}}", "samples", "values_us", 1.0);
	double *v = (double *)1;
	size_t n = 9;

	(void)state;
	assert_int_equal(fsc_samples_blocks_from_json(rec, &v, &n), -ENOENT);
	assert_null(v);
	assert_int_equal(n, 0);
	json_decref(rec);
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		rec = json_loads(bad[i], 0, 0);
		assert_non_null(rec);
		assert_int_equal(fsc_samples_blocks_from_json(rec, &v, &n), -EINVAL);
		assert_null(v);
		json_decref(rec);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(fsc_samples_to_json__keeps_all_up_to_the_bound),
	        cmocka_unit_test(fsc_samples_to_json__keeps_quantiles_above_the_bound),
	        cmocka_unit_test(fsc_samples_from_json__rejects_missing_and_unsorted),
	        cmocka_unit_test(fsc_samples_blocks_json__medians_of_blocks_in_time_order),
	        cmocka_unit_test(fsc_samples_blocks_from_json__rejects_missing_and_malformed),
	};
	return cmocka_run_group_tests(tests, 0, 0);
}
