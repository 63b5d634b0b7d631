/* history: add/list/baseline/trend on a temporary database; corrupt and
 * locked files. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsc_version.h"
#include "history.h"
#include "samples.h"

static char dir[256], db[300];

static int setup_dir(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/fsc-test-history-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(db, sizeof(db), "%s/h.db", dir);
	return 0;
}

static int remove_dir(void **state)
{
	char cmd[300];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}

/* A run whose one point has median time t_us. */
static json_t *run_doc(const char *status, double t_us, const char *when)
{
	return json_pack("{s:s, s:s, s:{s:s, s:[{s:s}]}, s:[{s:s, s:s, s:s, s:f, s:s, s:{s:f, "
	                 "s:f}, s:f}]}",
	                 "schema", FSC_RESULTS_SCHEMA, "status", status, "meta", "start_time", when,
	                 "hosts", "name", "h0", "records", "fabric", "mpi", "pattern", "latency",
	                 "impl", "pingpong", "bytes", 8.0, "status", "ok", "time_us", "p50", t_us,
	                 "p99", 2 * t_us, "algbw_GBps", 8 / (t_us * 1e3));
}

static int64_t add(struct fsc_history *h, const char *status, double t, const char *when)
{
	json_t *d = run_doc(status, t, when);
	char err[512];
	int64_t id = -1;

	assert_int_equal(fsc_history_add(h, d, 0, &id, err, sizeof(err)), 0);
	json_decref(d);
	return id;
}

static double p50_of(const json_t *doc)
{
	return json_number_value(json_object_get(
	        json_object_get(json_array_get(json_object_get(doc, "records"), 0), "time_us"),
	        "p50"));
}

static void fsc_history_add__list_baseline_trend(void **state)
{
	struct fsc_history *h = 0;
	char err[512], spec[64];
	json_t *tr = 0, *d = 0;
	int64_t id;
	FILE *f = tmpfile();
	char buf[4096] = "";

	(void)state;
	assert_int_equal(fsc_history_open(&h, db, 100, err, sizeof(err)), 0);
	assert_int_equal(add(h, "complete", 10, "2026-01-01T00:00:00Z"), 1);
	assert_int_equal(add(h, "complete", 11, "2026-01-02T00:00:00Z"), 2);
	assert_int_equal(add(h, "failed", 50, "2026-01-03T00:00:00Z"), 3);
	assert_int_equal(add(h, "complete", 30, "2026-01-04T00:00:00Z"), 4);
	assert_int_equal(fsc_history_list(h, f, err, sizeof(err)), 0);
	rewind(f);
	assert_true(fread(buf, 1, sizeof(buf) - 1, f) > 0);
	assert_non_null(strstr(buf, "3 2026-01-03T00:00:00Z   failed"));
	/* the second most recent complete run is 2 */
	assert_int_equal(fsc_history_last_good(h, 2, &id, err, sizeof(err)), 0);
	assert_int_equal(id, 2);
	assert_int_equal(fsc_history_baseline_set(h, id, err, sizeof(err)), 0);
	assert_int_equal(fsc_history_baseline_set(h, 99, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "no run 99"));
	assert_int_equal(fsc_history_trend(h, "p50", "latency", &tr, err, sizeof(err)), 0);
	assert_int_equal(json_array_size(tr), 1);
	assert_int_equal(json_array_size(json_object_get(json_array_get(tr, 0), "series")), 4);
	assert_true(json_number_value(json_object_get(
	                    json_array_get(json_object_get(json_array_get(tr, 0), "series"), 3),
	                    "value")) == 30);
	json_decref(tr);
	assert_int_equal(fsc_history_trend(h, "p42", 0, &tr, err, sizeof(err)), -EINVAL);
	fsc_history_close(h);

	assert_int_equal(
	        fsc_history_baseline_doc(db, "history:baseline", 0, 0, &d, err, sizeof(err)), 0);
	assert_true(p50_of(d) == 11);
	json_decref(d);
	/* median of the last 3 complete runs (10, 11, 30): 11; the 30 of the
	 * latest night does not become the reference */
	assert_int_equal(fsc_history_baseline_doc(db, "history:median-of-last:3", 0, 0, &d, err,
	                                          sizeof(err)),
	                 0);
	assert_true(p50_of(d) == 11);
	json_decref(d);
	snprintf(spec, sizeof(spec), "history:median-of-last:0");
	assert_int_equal(fsc_history_baseline_doc(db, spec, 0, 0, &d, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "from 1 to 64"));
	fclose(f);
}

/* A run whose one point keeps 50 samples from 0.98 t to 1.02 t. */
static json_t *sampled_doc(double t_us, const char *when)
{
	json_t *d = run_doc("complete", t_us, when);
	double v[50];

	for (int i = 0; i < 50; i++)
		v[i] = t_us * 1e3 * (0.98 + 0.04 * i / 49.0);
	json_object_set_new(json_array_get(json_object_get(d, "records"), 0), "samples",
	                    fsc_samples_to_json(v, 50, FSC_SAMPLES_KEEP));
	return d;
}

static double history_runs_of(const json_t *doc)
{
	const json_t *hr =
	        json_object_get(json_array_get(json_object_get(doc, "records"), 0), "history_runs");

	return hr ? json_number_value(json_object_get(hr, "n")) : 0;
}

static void
fsc_history_baseline_doc__recent_runs_give_the_noise_and_never_the_run_itself(void **state)
{
	static const double t[4] = {10, 11, 12, 30};
	static const char *const when[4] = {"2026-02-01T00:00:00Z", "2026-02-02T00:00:00Z",
	                                    "2026-02-03T00:00:00Z", "2026-02-04T00:00:00Z"};
	struct fsc_history *h = 0;
	char err[512], path[400];
	json_t *d = 0, *latest = sampled_doc(t[3], when[3]);

	(void)state;
	snprintf(path, sizeof(path), "%s/noise.db", dir);
	assert_int_equal(fsc_history_open(&h, path, 100, err, sizeof(err)), 0);
	for (int i = 0; i < 4; i++) {
		json_t *r = sampled_doc(t[i], when[i]);
		int64_t id;

		assert_int_equal(fsc_history_add(h, r, 0, &id, err, sizeof(err)), 0);
		json_decref(r);
	}
	assert_int_equal(fsc_history_baseline_set(h, 2, err, sizeof(err)), 0);
	fsc_history_close(h);

	/* the marked run, with the spread of the last 7 (all 4) runs */
	assert_int_equal(
	        fsc_history_baseline_doc(path, "history:baseline", 0, 7, &d, err, sizeof(err)), 0);
	assert_true(p50_of(d) == 11);
	assert_true(history_runs_of(d) == 4);
	json_decref(d);
	/* the run being compared (already added) is never part of its noise */
	assert_int_equal(
	        fsc_history_baseline_doc(path, "history:baseline", latest, 7, &d, err, sizeof(err)),
	        0);
	assert_true(history_runs_of(d) == 3);
	json_decref(d);
	/* 0: the drift inside the runs only */
	assert_int_equal(
	        fsc_history_baseline_doc(path, "history:baseline", 0, 0, &d, err, sizeof(err)), 0);
	assert_true(history_runs_of(d) == 0);
	json_decref(d);
	assert_int_equal(
	        fsc_history_baseline_doc(path, "history:baseline", 0, 65, &d, err, sizeof(err)),
	        -EINVAL);
	assert_non_null(strstr(err, "invalid number of noise runs 65: expected 0 to 64"));
	/* nor of its own baseline: the median of 10, 11 and 12, not of 11, 12
	 * and itself */
	assert_int_equal(fsc_history_baseline_doc(path, "history:median-of-last:3", 0, 0, &d, err,
	                                          sizeof(err)),
	                 0);
	assert_true(p50_of(d) == 12);
	json_decref(d);
	assert_int_equal(fsc_history_baseline_doc(path, "history:median-of-last:3", latest, 0, &d,
	                                          err, sizeof(err)),
	                 0);
	assert_true(p50_of(d) == 11);
	json_decref(d);
	json_decref(latest);
}

static void fsc_history_open__corrupt_file_is_a_clear_error_and_untouched(void **state)
{
	struct fsc_history *h = 0;
	char path[400], err[512], back[64] = "";
	const char junk[] = "this is not a database, it is a text file of 64 bytes or so....";
	FILE *f;

	(void)state;
	snprintf(path, sizeof(path), "%s/corrupt.db", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fwrite(junk, 1, sizeof(junk) - 1, f);
	fclose(f);
	assert_int_equal(fsc_history_open(&h, path, 100, err, sizeof(err)), -EINVAL);
	assert_null(h);
	assert_non_null(strstr(err, "not a readable fabscope history database"));
	assert_non_null(strstr(err, path));
	f = fopen(path, "r");
	assert_int_equal(fread(back, 1, sizeof(back) - 1, f), sizeof(junk) - 1);
	fclose(f);
	assert_string_equal(back, junk);
}

static void fsc_history_add__locked_database_fails_cleanly_and_keeps_runs(void **state)
{
	struct fsc_history *h = 0;
	sqlite3 *other = 0;
	char path[400], err[512];
	json_t *d = run_doc("complete", 5, "2026-02-01T00:00:00Z");
	int64_t id = 0;

	(void)state;
	snprintf(path, sizeof(path), "%s/locked.db", dir);
	assert_int_equal(fsc_history_open(&h, path, 50, err, sizeof(err)), 0);
	assert_int_equal(fsc_history_add(h, d, "first", &id, err, sizeof(err)), 0);
	/* another writer holds the database */
	assert_int_equal(sqlite3_open(path, &other), SQLITE_OK);
	assert_int_equal(sqlite3_exec(other, "BEGIN EXCLUSIVE", 0, 0, 0), SQLITE_OK);
	assert_int_equal(fsc_history_add(h, d, "second", &id, err, sizeof(err)), -EBUSY);
	assert_non_null(strstr(err, "locked by another fabscope"));
	assert_int_equal(sqlite3_exec(other, "ROLLBACK", 0, 0, 0), SQLITE_OK);
	sqlite3_close(other);
	/* the earlier run is still there, and the store works again */
	assert_int_equal(fsc_history_last_good(h, 1, &id, err, sizeof(err)), 0);
	assert_int_equal(id, 1);
	assert_int_equal(fsc_history_add(h, d, "third", &id, err, sizeof(err)), 0);
	assert_int_equal(id, 2);
	fsc_history_close(h);
	json_decref(d);
}

/* The whole file, malloc'd, its size in *n. */
static char *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	char *buf;

	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	*n = (size_t)ftell(f);
	rewind(f);
	buf = malloc(*n ? *n : 1);
	assert_int_equal(fread(buf, 1, *n, f), *n);
	fclose(f);
	return buf;
}

static void fsc_history_add__damaged_database_is_refused_and_keeps_its_runs(void **state)
{
	struct fsc_history *h = 0;
	char path[400], err[512] = "";
	char *before, *after;
	size_t nb, na;
	json_t *d = run_doc("complete", 5, "2026-03-01T00:00:00Z");
	int64_t id = 0;
	FILE *f;
	int rc;

	(void)state;
	snprintf(path, sizeof(path), "%s/damaged.db", dir);
	assert_int_equal(fsc_history_open(&h, path, 50, err, sizeof(err)), 0);
	add(h, "complete", 10, "2026-01-01T00:00:00Z");
	add(h, "complete", 11, "2026-01-02T00:00:00Z");
	fsc_history_close(h);
	h = 0;
	/* the schema page is damaged after the file header (a bad disk, a
	 * half-copied file): the header and both runs' pages are still there */
	f = fopen(path, "r+b");
	assert_non_null(f);
	fseek(f, 100, SEEK_SET);
	for (int i = 0; i < 400; i++)
		fputc(0xa5, f);
	fclose(f);
	before = slurp(path, &nb);
	rc = fsc_history_open(&h, path, 50, err, sizeof(err));
	if (!rc)
		rc = fsc_history_add(h, d, "third", &id, err, sizeof(err));
	assert_int_equal(rc, -EINVAL);
	assert_non_null(strstr(err, "not a readable fabscope history database"));
	assert_non_null(strstr(err, "left untouched"));
	assert_non_null(strstr(err, path));
	fsc_history_close(h);
	/* nothing was rewritten: what the runs were is still in the file for a
	 * backup or `sqlite3 .recover` */
	after = slurp(path, &na);
	assert_int_equal(na, nb);
	assert_memory_equal(after, before, nb);
	free(before);
	free(after);
	json_decref(d);
}

/* The command: baseline set takes a run id or --last-good N, never both,
 * never neither. */
static void fsc_history_main__baseline_set_by_id_or_last_good(void **state)
{
	char path[400];
	struct fsc_history *h = 0;
	char err[512];
	char *neither[] = {"history", "--db", path, "baseline", "set", 0};
	char *both[] = {"history", "--db", path, "baseline", "set", "1", "--last-good", "1", 0};
	char *by_id[] = {"history", "--db", path, "baseline", "set", "1", 0};
	char *last[] = {"history", "--db", path, "--last-good", "1", "baseline", "set", 0};
	json_t *d = 0;

	(void)state;
	snprintf(path, sizeof(path), "%s/main.db", dir);
	assert_int_equal(fsc_history_open(&h, path, 100, err, sizeof(err)), 0);
	assert_int_equal(add(h, "complete", 10, "2026-01-01T00:00:00Z"), 1);
	assert_int_equal(add(h, "complete", 20, "2026-01-02T00:00:00Z"), 2);
	fsc_history_close(h);
	assert_int_equal(fsc_history_main(5, neither), 2);
	assert_int_equal(fsc_history_main(8, both), 2);
	assert_int_equal(fsc_history_main(6, by_id), 0);
	assert_int_equal(
	        fsc_history_baseline_doc(path, "history:baseline", 0, 0, &d, err, sizeof(err)), 0);
	assert_true(p50_of(d) == 10);
	json_decref(d);
	assert_int_equal(fsc_history_main(7, last), 0);
	assert_int_equal(
	        fsc_history_baseline_doc(path, "history:baseline", 0, 0, &d, err, sizeof(err)), 0);
	assert_true(p50_of(d) == 20);
	json_decref(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(fsc_history_add__list_baseline_trend),
	        cmocka_unit_test(
	                fsc_history_baseline_doc__recent_runs_give_the_noise_and_never_the_run_itself),
	        cmocka_unit_test(fsc_history_open__corrupt_file_is_a_clear_error_and_untouched),
	        cmocka_unit_test(fsc_history_add__locked_database_fails_cleanly_and_keeps_runs),
	        cmocka_unit_test(fsc_history_add__damaged_database_is_refused_and_keeps_its_runs),
	        cmocka_unit_test(fsc_history_main__baseline_set_by_id_or_last_good),
	};
	return cmocka_run_group_tests(tests, setup_dir, remove_dir);
}
