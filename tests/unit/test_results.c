/* Results document: JSON round trip, atomic streaming, bad paths. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fsc_version.h"
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

	/* a killed run would leave this: the stream, "running", one record,
	 * and no final document yet */
	assert_int_not_equal(access(path, F_OK), 0);
	strcat(path, ".jsonl");
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
	/* finished: the document, and the stream is gone */
	assert_int_not_equal(access(path, F_OK), 0);
	path[strlen(path) - strlen(".jsonl")] = 0;
	assert_int_equal(fsc_results_load(path, &doc, err, sizeof(err)), 0);
	assert_string_equal(json_string_value(json_object_get(doc, "status")), "complete");
	assert_string_equal(json_string_value(json_object_get(doc, "schema")),
	                    "fabscope-results/3");
	json_decref(doc);
	fsc_results_free(r);
	fsc_results_free(NULL);
}

/* A run killed (SIGKILL, no chance to clean up) after three records, the
 * third tagged: the stream holds all three and the header's meta. */
static void fsc_results_add__killed_run_keeps_its_records(void **state)
{
	char path[300], stream[320], err[256];
	json_t *doc, *recs;
	int status;
	pid_t pid;

	(void)state;
	snprintf(path, sizeof(path), "%s/killed.json", dir);
	snprintf(stream, sizeof(stream), "%s.jsonl", path);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct fsc_results *r;

		if (fsc_results_create(&r, path, err, sizeof(err)))
			_exit(2);
		json_object_set_new(fsc_results_meta(r), "host", json_string("h0"));
		for (int i = 0; i < 3; i++) {
			if (i == 2)
				fsc_results_tag(r, "test", json_string("t2"));
			if (fsc_results_add(r, json_pack("{s:i, s:f}", "bytes", 8 << i, "x", 0.5)))
				_exit(3);
		}
		raise(SIGKILL);
		_exit(4);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	assert_int_not_equal(access(path, F_OK), 0);
	assert_int_equal(fsc_results_load(stream, &doc, err, sizeof(err)), 0);
	assert_string_equal(json_string_value(json_object_get(doc, "status")), "running");
	assert_string_equal(
	        json_string_value(json_object_get(json_object_get(doc, "meta"), "host")), "h0");
	recs = json_object_get(doc, "records");
	assert_int_equal(json_array_size(recs), 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(
		        json_integer_value(json_object_get(json_array_get(recs, i), "bytes")),
		        8 << i);
	assert_null(json_object_get(json_array_get(recs, 1), "test"));
	assert_string_equal(json_string_value(json_object_get(json_array_get(recs, 2), "test")),
	                    "t2");
	json_decref(doc);
}

/* A stream whose last line was cut short by a kill loads without it; a
 * bad line before the end is an error naming the line. */
static void fsc_results_load__stream_cut_short(void **state)
{
	char path[300], err[256];
	json_t *doc = 0;
	FILE *f;

	(void)state;
	snprintf(path, sizeof(path), "%s/cut.json.jsonl", dir);
	f = fopen(path, "w");
	fputs("{\"schema\": \"" FSC_RESULTS_SCHEMA "\", \"status\": \"running\", \"meta\": {}}\n"
	      "{\"bytes\": 8}\n{\"bytes\": 16}\n{\"bytes\": 3",
	      f);
	fclose(f);
	assert_int_equal(fsc_results_load(path, &doc, err, sizeof(err)), 0);
	assert_int_equal(json_array_size(json_object_get(doc, "records")), 2);
	json_decref(doc);

	f = fopen(path, "w");
	fputs("{\"schema\": \"" FSC_RESULTS_SCHEMA "\", \"status\": \"running\", \"meta\": {}}\n"
	      "{\"bytes\": 8\n{\"bytes\": 16}\n",
	      f);
	fclose(f);
	assert_int_equal(fsc_results_load(path, &doc, err, sizeof(err)), -EINVAL);
	assert_null(doc);
	assert_non_null(strstr(err, "line 2"));

	f = fopen(path, "w");
	fclose(f);
	assert_int_equal(fsc_results_load(path, &doc, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "empty stream"));
}

/* A results file that cannot be written at the end is an error the caller
 * sees, and the stream stays.  (A directory in the file's place: the final
 * rename fails, for root too.) */
static void fsc_results_finish__unwritable_is_an_error(void **state)
{
	struct fsc_results *r;
	char path[320], inner[340], err[256];
	json_t *doc;
	FILE *f;

	(void)state;
	snprintf(path, sizeof(path), "%s/taken.json", dir);
	assert_int_equal(fsc_results_create(&r, path, err, sizeof(err)), 0);
	assert_int_equal(fsc_results_add(r, json_pack("{s:i}", "bytes", 8)), 0);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(inner, sizeof(inner), "%s/x", path);
	f = fopen(inner, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_not_equal(fsc_results_finish(r, "complete"), 0);
	fsc_results_free(r);
	strcat(path, ".jsonl");
	assert_int_equal(fsc_results_load(path, &doc, err, sizeof(err)), 0);
	assert_int_equal(json_array_size(json_object_get(doc, "records")), 1);
	json_decref(doc);
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

/* A measured record as the runner makes it: statistics and 200 samples. */
static json_t *bench_record(int i)
{
	json_t *rec = json_pack("{s:s, s:s, s:s, s:i, s:i, s:s}", "fabric", "loopback", "pattern",
	                        "latency", "impl", "pingpong", "bytes", 8 << (i % 20), "iters", 200,
	                        "status", "ok");
	json_t *samples = json_array();
	double v[200];
	struct fsc_stats st;

	for (int k = 0; k < 200; k++) {
		v[k] = 1000.0 + (double)((k * 7919 + i) % 997);
		json_array_append_new(samples, json_real(v[k] / 1e3));
	}
	assert_int_equal(fsc_stats_compute(v, 200, &st), 0);
	json_object_set_new(rec, "time_us", fsc_stats_to_json_us(&st));
	json_object_set_new(rec, "samples", samples);
	return rec;
}

/* Streaming cost.  Without FSC_BENCH=1 it streams 100 records silently so
 * that the path stays exercised; with it, FSC_BENCH_RECORDS records (2,000
 * by default), and prints the rate (scripts/bench-results). */
static void fsc_results_add__bench(void **state)
{
	const char *env = getenv("FSC_BENCH");
	const char *records = getenv("FSC_BENCH_RECORDS");
	int bench = env && !strcmp(env, "1");
	int n = bench ? (records ? atoi(records) : 2000) : 100;
	struct fsc_results *r;
	char path[300], err[256];
	struct timespec t0, t1, t2;
	json_t *doc;
	double add_s, fin_s;

	(void)state;
	snprintf(path, sizeof(path), "%s/bench.json", dir);
	assert_int_equal(fsc_results_create(&r, path, err, sizeof(err)), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < n; i++)
		assert_int_equal(fsc_results_add(r, bench_record(i)), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_int_equal(fsc_results_finish(r, "complete"), 0);
	clock_gettime(CLOCK_MONOTONIC, &t2);
	fsc_results_free(r);
	add_s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	fin_s = (double)(t2.tv_sec - t1.tv_sec) + (double)(t2.tv_nsec - t1.tv_nsec) / 1e9;
	assert_int_equal(fsc_results_load(path, &doc, err, sizeof(err)), 0);
	assert_int_equal(json_array_size(json_object_get(doc, "records")), (size_t)n);
	json_decref(doc);
	if (bench)
		printf("bench-results: %d records streamed in %.3f s (%.0f records/s), final "
		       "write %.3f s\n",
		       n, add_s, n / add_s, fin_s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(fsc_results_create__unwritable_path_is_one_line_error),
	        cmocka_unit_test(fsc_results_add__streams_running_then_complete),
	        cmocka_unit_test(fsc_results_add__killed_run_keeps_its_records),
	        cmocka_unit_test(fsc_results_load__stream_cut_short),
	        cmocka_unit_test(fsc_results_finish__unwritable_is_an_error),
	        cmocka_unit_test(fsc_results_load__rejects_foreign_and_broken_files),
	        cmocka_unit_test(fsc_json_write_atomic__leaves_no_temporary_file),
	        cmocka_unit_test(fsc_table_row__prints_reason_for_skipped),
	        cmocka_unit_test(fsc_results_add__bench),
	};
	return cmocka_run_group_tests(tests, setup_dir, remove_dir);
}
