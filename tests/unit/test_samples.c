/* Per-sample times in records: bounded, ascending, read back. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>

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

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(fsc_samples_to_json__keeps_all_up_to_the_bound),
	        cmocka_unit_test(fsc_samples_to_json__keeps_quantiles_above_the_bound),
	        cmocka_unit_test(fsc_samples_from_json__rejects_missing_and_unsorted),
	};
	return cmocka_run_group_tests(tests, 0, 0);
}
