/* Results document: JSON round trip, atomic streaming, bad paths. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "results.h"
#include "stats.h"

static char dir[256];

static int setup_dir(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/fsc-test-results-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
	char cmd[300];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}

static void fsc_results_create__unwritable_path_is_one_line_error(void **state)
{
	struct fsc_results *r = (void *)1;
	char err[256];

	(void)state;
	assert_int_equal(fsc_results_create(&r, "/nonexistent-dir/x.json", err, sizeof(err)),
	                 -EINVAL);
	assert_null(r);
	assert_non_null(strstr(err, "/nonexistent-dir/x.json"));
	assert_non_null(strstr(err, "--output"));
	assert_null(strchr(err, '\n'));
	assert_int_equal(fsc_results_create(&r, "", err, sizeof(err)), -EINVAL);
}

static void fsc_results_add__streams_running_then_complete(void **state)
{
	struct fsc_results *r;
	char path[300], err[256];
	json_t *doc, *rec;
	struct fsc_stats st;
	double v[4] = {4000, 1000, 3000, 2000};

	(void)state;
	snprintf(path, sizeof(path), "%s/run.json", dir);
	assert_int_equal(fsc_results_create(&r, path, err, sizeof(err)), 0);
	/* nothing written before the first record */
	assert_int_not_equal(access(path, F_OK), 0);

	assert_int_equal(fsc_stats_compute(v, 4, &st), 0);
	rec = json_pack("{s:s, s:i}", "pattern", "latency", "bytes", 8);
	json_object_set_new(rec, "time_us", fsc_stats_to_json_us(&st));
	assert_int_equal(fsc_results_add(r, rec), 0);

	/* a killed run would leave this: valid, "running", one record */
	assert_int_equal(fsc_results_load(path, &doc, err, sizeof(err)), 0);
	assert_string_equal(json_string_value(json_object_get(doc, "status")), "running");
	assert_int_equal(json_array_size(json_object_get(doc, "records")), 1);
	rec = json_array_get(json_object_get(doc, "records"), 0);
	assert_true(json_real_value(json_object_get(json_object_get(rec, "time_us"), "p50")) ==
	            2.0);
	assert_true(json_real_value(json_object_get(json_object_get(rec, "time_us"), "max")) ==
	            4.0);
	json_decref(doc);

	assert_int_equal(fsc_results_finish(r, "complete"), 0);
	assert_int_equal(fsc_results_load(path, &doc, err, sizeof(err)), 0);
	assert_string_equal(json_string_value(json_object_get(doc, "status")), "complete");
	assert_string_equal(json_string_value(json_object_get(doc, "schema")),
	                    "fabscope-results/3");
	json_decref(doc);
	fsc_results_free(r);
	fsc_results_free(NULL);
}

static void fsc_results_load__rejects_foreign_and_broken_files(void **state)
{
	char path[300], err[256];
	json_t *doc = (void *)1;
	FILE *f;

	(void)state;
	snprintf(path, sizeof(path), "%s/other.json", dir);
	f = fopen(path, "w");
	fputs("{\"schema\": \"something-else\"}", f);
	fclose(f);
	assert_int_equal(fsc_results_load(path, &doc, err, sizeof(err)), -EINVAL);
	assert_null(doc);
	assert_non_null(strstr(err, "not a fabscope results file"));

	f = fopen(path, "w");
	fputs("{\"schema\": \"fabscope-results/999\"}", f);
	fclose(f);
	assert_int_equal(fsc_results_load(path, &doc, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "fabscope-results/999"));

	f = fopen(path, "w");
	fputs("{\"schema\": ", f);
	fclose(f);
	assert_int_equal(fsc_results_load(path, &doc, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "line"));
}

static void fsc_json_write_atomic__leaves_no_temporary_file(void **state)
{
	char path[300], cmd[400];
	json_t *doc = json_pack("{s:i}", "a", 1);

	(void)state;
	snprintf(path, sizeof(path), "%s/atomic.json", dir);
	assert_int_equal(fsc_json_write_atomic(doc, path), 0);
	assert_int_equal(fsc_json_write_atomic(doc, path), 0);
	snprintf(cmd, sizeof(cmd), "test $(ls %s | grep -c tmp) -eq 0", dir);
	assert_int_equal(system(cmd), 0);
	json_decref(doc);
}

static void fsc_table_row__prints_reason_for_skipped(void **state)
{
	char buf[512] = "";
	FILE *f = fmemopen(buf, sizeof(buf), "w");
	json_t *rec = json_pack("{s:s, s:s, s:s, s:i, s:s, s:s}", "fabric", "verbs", "pattern",
	                        "latency", "status", "skipped", "bytes", 8, "reason",
	                        "no RDMA device found", "impl", "pingpong");

	(void)state;
	fsc_table_row(f, rec);
	fclose(f);
	assert_non_null(strstr(buf, "skipped: no RDMA device found"));
	json_decref(rec);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(fsc_results_create__unwritable_path_is_one_line_error),
	        cmocka_unit_test(fsc_results_add__streams_running_then_complete),
	        cmocka_unit_test(fsc_results_load__rejects_foreign_and_broken_files),
	        cmocka_unit_test(fsc_json_write_atomic__leaves_no_temporary_file),
	        cmocka_unit_test(fsc_table_row__prints_reason_for_skipped),
	};
	return cmocka_run_group_tests(tests, setup_dir, remove_dir);
}
