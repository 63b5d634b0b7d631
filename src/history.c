/* Run history in SQLite: see history.h. */
#include "history.h"

#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "compare.h"
#include "err.h"
#include "fsc_version.h"
#include "options.h"
#include "results.h"

struct fsc_history {
	sqlite3 *db;
	char path[4096];
};

static const char schema_sql[] =
        "CREATE TABLE IF NOT EXISTS runs(id INTEGER PRIMARY KEY, added TEXT NOT NULL, "
        "start_time TEXT, status TEXT, label TEXT, hosts TEXT, doc TEXT NOT NULL);"
        "CREATE TABLE IF NOT EXISTS points(run_id INTEGER NOT NULL REFERENCES runs(id), "
        "key TEXT NOT NULL, p50_us REAL, p99_us REAL, bw_GBps REAL);"
        "CREATE INDEX IF NOT EXISTS points_key ON points(key, run_id);"
        "CREATE TABLE IF NOT EXISTS baseline(one INTEGER PRIMARY KEY CHECK (one = 1), "
        "run_id INTEGER NOT NULL, set_at TEXT NOT NULL);"
        "PRAGMA user_version = 1;";

/* One line for an SQLite failure, naming the file and what to do. */
static int db_error(struct fsc_history *h, int src, const char *what, char *err, size_t errlen)
{
	int code = src & 0xff;

	if (code == SQLITE_BUSY || code == SQLITE_LOCKED) {
		snprintf(err, errlen,
		         "history '%s' is locked by another fabscope (%s); nothing was changed, "
		         "try again when it has finished",
		         h->path, what);
		return -EBUSY;
	}
	if (code == SQLITE_NOTADB || code == SQLITE_CORRUPT) {
		snprintf(
		        err, errlen,
		        "history '%s' is not a readable fabscope history database (%s: %s); it was "
		        "left untouched: restore it from a backup or name another file",
		        h->path, what, sqlite3_errstr(src));
		return -EINVAL;
	}
	snprintf(err, errlen, "history '%s': %s failed: %s", h->path, what,
	         h->db ? sqlite3_errmsg(h->db) : sqlite3_errstr(src));
	return -EIO;
}

int fsc_history_open(struct fsc_history **out, const char *path, int busy_ms, char *err,
                     size_t errlen)
{
	struct fsc_history *h = calloc(1, sizeof(*h));
	sqlite3_stmt *st = 0;
	int rc, ver = -1;

	*out = 0;
	if (!h)
		return -ENOMEM;
	snprintf(h->path, sizeof(h->path), "%s", path);
	rc = sqlite3_open_v2(path, &h->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, 0);
	if (rc != SQLITE_OK)
		goto fail_open;
	sqlite3_busy_timeout(h->db, busy_ms);
	/* reading the version is the first touch of the file: a file that is
	 * not a database fails here, before anything is written */
	rc = sqlite3_prepare_v2(h->db, "PRAGMA user_version", -1, &st, 0);
	if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW)
		ver = sqlite3_column_int(st, 0), rc = SQLITE_OK;
	sqlite3_finalize(st);
	if (rc != SQLITE_OK)
		goto fail_open;
	if (ver > 1) {
		snprintf(err, errlen, "history '%s' has schema version %d; this fabscope reads 1",
		         path, ver);
		fsc_history_close(h);
		return -EINVAL;
	}
	if (ver == 0) {
		rc = sqlite3_exec(h->db, schema_sql, 0, 0, 0);
		if (rc != SQLITE_OK)
			goto fail_open;
	}
	*out = h;
	return 0;
fail_open:
	rc = db_error(h, rc, "open", err, errlen);
	fsc_history_close(h);
	return rc;
}

void fsc_history_close(struct fsc_history *h)
{
	if (!h)
		return;
	sqlite3_close(h->db);
	free(h);
}

static void bind_num(sqlite3_stmt *st, int i, double v)
{
	if (isfinite(v))
		sqlite3_bind_double(st, i, v);
	else
		sqlite3_bind_null(st, i);
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Median of the numeric cells of a matrix (NAN when none). */
static double matrix_median(const json_t *m)
{
	size_t n = 0, i, j, cap = 0;
	const json_t *row, *c;
	double *v = 0, med = NAN;

	json_array_foreach(m, i, row) cap += json_array_size(row);
	v = malloc((cap ? cap : 1) * sizeof(*v));
	if (!v)
		return NAN;
	json_array_foreach(m, i, row) json_array_foreach(row, j, c) if (json_is_number(c)) v[n++] =
	        json_number_value(c);
	if (n) {
		qsort(v, n, sizeof(*v), cmp_d);
		med = v[(n - 1) / 2];
	}
	free(v);
	return med;
}

/* p50, p99, bw of a record: a matrix gives its median cell bandwidth. */
static void record_figures(const json_t *rec, double *p50, double *p99, double *bw)
{
	const json_t *t = json_object_get(rec, "time_us");

	*p50 = fsc_json_num(t, "p50");
	*p99 = fsc_json_num(t, "p99");
	*bw = fsc_json_num(rec, "algbw_GBps");
	if (json_object_get(rec, "bw_GBps") && json_is_array(json_object_get(rec, "labels"))) {
		*bw = matrix_median(json_object_get(rec, "bw_GBps"));
		*p50 = matrix_median(json_object_get(rec, "lat_us"));
		*p99 = matrix_median(json_object_get(rec, "lat_p99_us"));
	}
}

static void now_iso(char *buf, size_t len)
{
	time_t t = time(0);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int fsc_history_add(struct fsc_history *h, const json_t *doc, const char *label, int64_t *id,
                    char *err, size_t errlen)
{
	const json_t *meta = json_object_get(doc, "meta"), *rec, *host;
	char *text = 0, *hosts = 0, now[32];
	json_t *hn = json_array();
	sqlite3_stmt *st = 0;
	size_t i;
	int rc;

	if (strcmp(fsc_json_str(doc, "schema", ""), FSC_RESULTS_SCHEMA)) {
		snprintf(err, errlen, "cannot add a document with schema '%s': history keeps %s",
		         fsc_json_str(doc, "schema", "(none)"), FSC_RESULTS_SCHEMA);
		json_decref(hn);
		return -EINVAL;
	}
	json_array_foreach(json_object_get(meta, "hosts"), i, host)
	        json_array_append_new(hn, json_string(fsc_json_str(host, "name", "?")));
	text = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(10));
	hosts = json_dumps(hn, JSON_COMPACT);
	json_decref(hn);
	if (!text || !hosts) {
		free(text);
		free(hosts);
		return -ENOMEM;
	}
	now_iso(now, sizeof(now));
	rc = sqlite3_exec(h->db, "BEGIN IMMEDIATE", 0, 0, 0);
	if (rc != SQLITE_OK)
		goto fail;
	rc = sqlite3_prepare_v2(h->db,
	                        "INSERT INTO runs(added, start_time, status, label, hosts, doc) "
	                        "VALUES (?, ?, ?, ?, ?, ?)",
	                        -1, &st, 0);
	if (rc != SQLITE_OK)
		goto fail_tx;
	sqlite3_bind_text(st, 1, now, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, fsc_json_str(meta, "start_time", ""), -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, fsc_json_str(doc, "status", "?"), -1, SQLITE_TRANSIENT);
	if (label)
		sqlite3_bind_text(st, 4, label, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 5, hosts, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 6, text, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	st = 0;
	if (rc != SQLITE_DONE)
		goto fail_tx;
	*id = sqlite3_last_insert_rowid(h->db);
	rc = sqlite3_prepare_v2(h->db,
	                        "INSERT INTO points(run_id, key, p50_us, p99_us, bw_GBps) "
	                        "VALUES (?, ?, ?, ?, ?)",
	                        -1, &st, 0);
	if (rc != SQLITE_OK)
		goto fail_tx;
	json_array_foreach(json_object_get(doc, "records"), i, rec)
	{
		char key[320];
		double p50, p99, bw;

		if (strcmp(fsc_json_str(rec, "status", ""), "ok") &&
		    strcmp(fsc_json_str(rec, "status", ""), "anomaly"))
			continue;
		fsc_compare_record_key(rec, key, sizeof(key));
		record_figures(rec, &p50, &p99, &bw);
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, *id);
		sqlite3_bind_text(st, 2, key, -1, SQLITE_TRANSIENT);
		bind_num(st, 3, p50);
		bind_num(st, 4, p99);
		bind_num(st, 5, bw);
		rc = sqlite3_step(st);
		if (rc != SQLITE_DONE)
			goto fail_tx;
	}
	sqlite3_finalize(st);
	st = 0;
	rc = sqlite3_exec(h->db, "COMMIT", 0, 0, 0);
	if (rc != SQLITE_OK)
		goto fail_tx;
	free(text);
	free(hosts);
	return 0;
fail_tx : {
	int r2 = db_error(h, rc, "add", err, errlen);

	sqlite3_finalize(st);
	sqlite3_exec(h->db, "ROLLBACK", 0, 0, 0);
	free(text);
	free(hosts);
	return r2;
}
fail:
	free(text);
	free(hosts);
	return db_error(h, rc, "add", err, errlen);
}

int fsc_history_list(struct fsc_history *h, FILE *f, char *err, size_t errlen)
{
	sqlite3_stmt *st = 0;
	int rc = sqlite3_prepare_v2(
	        h->db,
	        "SELECT r.id, r.start_time, r.status, r.hosts, IFNULL(r.label, ''), "
	        "(SELECT COUNT(*) FROM points p WHERE p.run_id = r.id), "
	        "(SELECT COUNT(*) FROM baseline b WHERE b.run_id = r.id) FROM runs r ORDER BY r.id",
	        -1, &st, 0);

	if (rc != SQLITE_OK)
		return db_error(h, rc, "list", err, errlen);
	fprintf(f, "# %4s %-22s %-9s %6s %-8s %s\n", "id", "start_time", "status", "points",
	        "baseline", "hosts / label");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		fprintf(f, "  %4lld %-22s %-9s %6d %-8s %s %s\n",
		        (long long)sqlite3_column_int64(st, 0), sqlite3_column_text(st, 1),
		        sqlite3_column_text(st, 2), sqlite3_column_int(st, 5),
		        sqlite3_column_int(st, 6) ? "*" : "", sqlite3_column_text(st, 3),
		        sqlite3_column_text(st, 4));
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : db_error(h, rc, "list", err, errlen);
}

int fsc_history_baseline_set(struct fsc_history *h, int64_t id, char *err, size_t errlen)
{
	sqlite3_stmt *st = 0;
	char now[32];
	int rc, found;

	rc = sqlite3_prepare_v2(h->db, "SELECT 1 FROM runs WHERE id = ?", -1, &st, 0);
	if (rc != SQLITE_OK)
		return db_error(h, rc, "baseline set", err, errlen);
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	found = rc == SQLITE_ROW;
	sqlite3_finalize(st);
	if (!found && rc != SQLITE_DONE)
		return db_error(h, rc, "baseline set", err, errlen);
	if (!found) {
		snprintf(err, errlen, "history '%s' has no run %lld (see history list)", h->path,
		         (long long)id);
		return -ENOENT;
	}
	now_iso(now, sizeof(now));
	rc = sqlite3_prepare_v2(
	        h->db, "INSERT OR REPLACE INTO baseline(one, run_id, set_at) VALUES (1, ?, ?)", -1,
	        &st, 0);
	if (rc != SQLITE_OK)
		return db_error(h, rc, "baseline set", err, errlen);
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, now, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : db_error(h, rc, "baseline set", err, errlen);
}

int fsc_history_last_good(struct fsc_history *h, int n, int64_t *id, char *err, size_t errlen)
{
	sqlite3_stmt *st = 0;
	int rc =
	        sqlite3_prepare_v2(h->db,
	                           "SELECT id FROM runs WHERE status = 'complete' ORDER BY id DESC "
	                           "LIMIT 1 OFFSET ?",
	                           -1, &st, 0);

	if (rc != SQLITE_OK)
		return db_error(h, rc, "last-good", err, errlen);
	sqlite3_bind_int(st, 1, n - 1);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*id = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (rc == SQLITE_ROW)
		return 0;
	if (rc != SQLITE_DONE)
		return db_error(h, rc, "last-good", err, errlen);
	snprintf(err, errlen, "history '%s' has fewer than %d complete runs", h->path, n);
	return -ENOENT;
}

int fsc_history_doc(struct fsc_history *h, int64_t id, json_t **doc, char *err, size_t errlen)
{
	sqlite3_stmt *st = 0;
	json_error_t je;
	int rc = sqlite3_prepare_v2(h->db, "SELECT doc FROM runs WHERE id = ?", -1, &st, 0);

	*doc = 0;
	if (rc != SQLITE_OK)
		return db_error(h, rc, "read", err, errlen);
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*doc = json_loads((const char *)sqlite3_column_text(st, 0), 0, &je);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_error(h, rc, "read", err, errlen);
	if (!*doc) {
		snprintf(err, errlen, "history '%s': run %lld %s", h->path, (long long)id,
		         rc == SQLITE_ROW ? "holds unreadable JSON" : "does not exist");
		return -ENOENT;
	}
	return 0;
}

/* The records of the n docs whose key is rec's, at most max of them, in
 * *which; their number. */
static int same_key_records(const json_t *rec, json_t *const *docs, int n, const json_t **which,
                            int max)
{
	char key[320];
	int m = 0;

	fsc_compare_record_key(rec, key, sizeof(key));
	for (int d = 0; d < n && m < max; d++) {
		const json_t *r2;
		size_t k;

		json_array_foreach(json_object_get(docs[d], "records"), k, r2)
		{
			char k2[320];

			fsc_compare_record_key(r2, k2, sizeof(k2));
			if (!strcmp(key, k2) && m < max)
				which[m++] = r2;
		}
	}
	return m;
}

json_t *fsc_history_median_doc(json_t *const *docs, int n)
{
	json_t *out = json_deep_copy(docs[0]), *recs = json_array(), *rec;
	size_t i;

	json_array_foreach(json_object_get(docs[0], "records"), i, rec)
	{
		double v[64];
		const json_t *which[64];
		int m = same_key_records(rec, docs, n, which, 64);

		for (int k = 0; k < m; k++) {
			double p50, p99, bw;

			record_figures(which[k], &p50, &p99, &bw);
			/* a matrix by its median cell bandwidth (higher is
			 * better, hence negated), a point by its p50 */
			v[k] = json_is_array(json_object_get(which[k], "labels")) || !isfinite(p50)
			               ? -bw
			               : p50;
		}
		/* selection of the median figure (m is small) */
		for (int a = 0; a < m; a++)
			for (int b = a + 1; b < m; b++)
				if (v[b] < v[a]) {
					double t = v[a];
					const json_t *w = which[a];

					v[a] = v[b];
					v[b] = t;
					which[a] = which[b];
					which[b] = w;
				}
		{
			json_t *pick = json_deep_copy(m ? which[(m - 1) / 2] : rec);
			json_t *spread = fsc_compare_runs_summary(pick, which, (size_t)m);

			/* what the runs say about their own noise, for compare */
			if (spread)
				json_object_set_new(pick, "baseline_runs", spread);
			json_array_append_new(recs, pick);
		}
	}
	json_object_set_new(out, "records", recs);
	return out;
}

/* Is `doc` the run being compared?  A run added to the history keeps its
 * whole document, so its meta (start time, hosts, versions) is its
 * identity. */
static int is_run(const json_t *doc, const json_t *run)
{
	return run && json_equal(json_object_get(doc, "meta"), json_object_get(run, "meta"));
}

/* Up to n of the most recent complete runs, newest first, leaving out
 * `run`; fewer when the history has fewer.  The number loaded in *got (the
 * caller releases them, also on error); a run that cannot be read is an
 * error with one line in err. */
static int last_runs(struct fsc_history *h, int n, const json_t *run, json_t **docs, int *got,
                     char *err, size_t errlen)
{
	*got = 0;
	for (int k = 1; *got < n; k++) {
		int64_t id;
		int rc;

		if (fsc_history_last_good(h, k, &id, err, errlen))
			break; /* no more complete runs */
		rc = fsc_history_doc(h, id, &docs[*got], err, errlen);
		if (rc)
			return rc;
		if (is_run(docs[*got], run))
			json_decref(docs[*got]);
		else
			(*got)++;
	}
	return 0;
}

void fsc_history_attach_noise(json_t *base, json_t *const *docs, int n)
{
	json_t *rec;
	size_t i;

	json_array_foreach(json_object_get(base, "records"), i, rec)
	{
		const json_t *which[64];
		int m = same_key_records(rec, docs, n, which, 64);
		json_t *spread = fsc_compare_runs_summary(rec, which, (size_t)m);

		if (spread)
			json_object_set_new(rec, "history_runs", spread);
	}
}

int fsc_history_baseline_doc(const char *db, const char *spec, const json_t *run, int noise_runs,
                             json_t **doc, char *err, size_t errlen)
{
	struct fsc_history *h = 0;
	const char *what = spec + 8; /* after "history:" */
	json_t *docs[64];
	int rc, got = 0;

	*doc = 0;
	if (strcmp(what, "baseline") && strncmp(what, "median-of-last:", 15)) {
		snprintf(err, errlen,
		         "unknown baseline '%s': expected history:baseline or "
		         "history:median-of-last:N",
		         spec);
		return -EINVAL;
	}
	if (noise_runs < 0 || noise_runs > 64) {
		snprintf(err, errlen, "invalid number of noise runs %d: expected 0 to 64",
		         noise_runs);
		return -EINVAL;
	}
	rc = fsc_history_open(&h, db, 5000, err, errlen);
	if (rc)
		return rc;
	if (!strcmp(what, "baseline")) {
		sqlite3_stmt *st = 0;
		int64_t id = -1;

		rc = sqlite3_prepare_v2(h->db, "SELECT run_id FROM baseline WHERE one = 1", -1, &st,
		                        0);
		if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW)
			id = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			rc = db_error(h, rc, "baseline", err, errlen);
		else if (id < 0) {
			snprintf(err, errlen,
			         "history '%s' has no baseline: set one with `fabscope history "
			         "baseline set RUN|--last-good N`",
			         db);
			rc = -ENOENT;
		} else
			rc = fsc_history_doc(h, id, doc, err, errlen);
		/* one marked run shows nothing of how far two runs land apart:
		 * the recent runs of the history do */
		if (!rc && noise_runs >= 2 &&
		    !(rc = last_runs(h, noise_runs, run, docs, &got, err, errlen)))
			fsc_history_attach_noise(*doc, docs, got);
	} else {
		char *end;
		long n = strtol(what + 15, &end, 10);

		if (*end || n < 1 || n > 64) {
			snprintf(err, errlen,
			         "invalid '%s': expected history:median-of-last:N with N from 1 to "
			         "64",
			         spec);
			fsc_history_close(h);
			return -EINVAL;
		}
		rc = last_runs(h, (int)n, run, docs, &got, err, errlen);
		if (!rc && !got) {
			snprintf(err, errlen, "history '%s' has no complete run%s", db,
			         run ? " besides the run compared" : "");
			rc = -ENOENT;
		}
		if (!rc)
			*doc = fsc_history_median_doc(docs, got);
	}
	for (int k = 0; k < got; k++)
		json_decref(docs[k]);
	if (rc) {
		json_decref(*doc);
		*doc = 0;
	}
	fsc_history_close(h);
	return rc ? (rc == -ENOENT ? -EINVAL : rc) : 0;
}

int fsc_history_trend(struct fsc_history *h, const char *metric, const char *match, json_t **out,
                      char *err, size_t errlen)
{
	const char *col = !strcmp(metric, "p50")   ? "p50_us"
	                  : !strcmp(metric, "p99") ? "p99_us"
	                  : !strcmp(metric, "bw")  ? "bw_GBps"
	                                           : 0;
	char sql[512];
	sqlite3_stmt *st = 0;
	json_t *res = json_array(), *cur = 0;
	int rc;

	*out = 0;
	if (!col) {
		snprintf(err, errlen, "invalid metric '%s': expected p50, p99 or bw", metric);
		json_decref(res);
		return -EINVAL;
	}
	snprintf(sql, sizeof(sql),
	         "SELECT p.key, r.id, r.start_time, p.%s FROM points p JOIN runs r ON r.id = "
	         "p.run_id WHERE instr(p.key, ?) > 0 ORDER BY p.key, r.id",
	         col);
	rc = sqlite3_prepare_v2(h->db, sql, -1, &st, 0);
	if (rc != SQLITE_OK) {
		json_decref(res);
		return db_error(h, rc, "trend", err, errlen);
	}
	sqlite3_bind_text(st, 1, match ? match : "", -1, SQLITE_TRANSIENT);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *key = (const char *)sqlite3_column_text(st, 0);

		if (!cur || strcmp(fsc_json_str(cur, "key", ""), key)) {
			cur = json_pack("{s:s, s:s, s:[]}", "key", key, "metric", metric, "series");
			json_array_append_new(res, cur);
		}
		json_array_append_new(
		        json_object_get(cur, "series"),
		        json_pack("{s:I, s:s, s:o}", "run", (json_int_t)sqlite3_column_int64(st, 1),
		                  "start_time", (const char *)sqlite3_column_text(st, 2), "value",
		                  sqlite3_column_type(st, 3) == SQLITE_NULL
		                          ? json_null()
		                          : json_real(sqlite3_column_double(st, 3))));
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		json_decref(res);
		return db_error(h, rc, "trend", err, errlen);
	}
	*out = res;
	return 0;
}

/* ---- command ---- */

/* The history command's options, filled once by fsc_config_fill. */
struct history_settings {
	const char *db, *label, *point, *json; /* label, point, json: NULL when not given */
	int64_t last_good;
	bool has_last_good;
};

static const struct fsc_opt history_opts[] = {
        {"db", 0, FSC_OPT_STRING, "fabscope-history.db", "the history database file", 0, 0, 0,
         FSC_AT_STRING(struct history_settings, db)},
        {"label", 0, FSC_OPT_STRING, 0, "add: a label for the run (e.g. a commit)", 0, 0, 0,
         FSC_AT_STRING(struct history_settings, label)},
        {"last-good", 0, FSC_OPT_INT, 0,
         "baseline set: the N-th most recent complete run (1 = latest)", 0, 1, 100000,
         FSC_AT_INT(struct history_settings, last_good),
         FSC_HAS(struct history_settings, has_last_good)},
        {"point", 0, FSC_OPT_STRING, 0, "trend: points whose key contains this text", 0, 0, 0,
         FSC_AT_STRING(struct history_settings, point)},
        {"json", 0, FSC_OPT_STRING, 0, "trend: also write the series as JSON here", 0, 0, 0,
         FSC_AT_STRING(struct history_settings, json)},
        {0},
};

static void history_usage(FILE *f)
{
	fprintf(f, "usage: fabscope history [--db FILE] add RUN.json [--label TEXT]\n"
	           "       fabscope history [--db FILE] list\n"
	           "       fabscope history [--db FILE] baseline set ID | --last-good N\n"
	           "       fabscope history [--db FILE] trend p50|p99|bw [--point TEXT]\n");
}

static int trend_print(FILE *f, const json_t *tr)
{
	const json_t *k, *p;
	size_t i, j;

	json_array_foreach(tr, i, k)
	{
		fprintf(f, "# %s (%s)\n", fsc_json_str(k, "key", "?"),
		        fsc_json_str(k, "metric", "?"));
		json_array_foreach(json_object_get(k, "series"), j, p)
		        fprintf(f, "  run %4.0f  %-22s %12.4g\n", fsc_json_num(p, "run"),
		                fsc_json_str(p, "start_time", ""), fsc_json_num(p, "value"));
	}
	return 0;
}

int fsc_history_main(int argc, char **argv)
{
	struct fsc_opt_group g = {"history options", history_opts};
	struct history_settings set;
	struct fsc_config *cfg = 0;
	struct fsc_history *h = 0;
	char err[1024] = "";
	int rc, first = 0, npos;
	char **pos;
	char *args[64];
	int nargs = 0;

	/* options may come before or after the verb: parse options from a
	 * copy with the positional words moved out */
	args[nargs++] = argv[0];
	for (int i = 1; i < argc && nargs < 63; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			history_usage(stdout);
			fsc_config_help(stdout, &g, 1);
			return FSC_EXIT_OK;
		}
	pos = calloc((size_t)argc, sizeof(*pos));
	if (!pos)
		return FSC_EXIT_USAGE;
	npos = 0;
	for (int i = 1; i < argc && nargs < 63; i++) {
		if (argv[i][0] == '-' && argv[i][1] == '-') {
			args[nargs++] = argv[i];
			if (!strchr(argv[i], '=') && strcmp(argv[i], "--help") && i + 1 < argc)
				args[nargs++] = argv[++i];
		} else {
			pos[npos++] = argv[i];
		}
	}
	args[nargs] = 0;
	rc = fsc_config_parse(&cfg, &g, 1, nargs, args, &first, err, sizeof(err));
	if (!rc)
		rc = fsc_config_fill(cfg, history_opts, &set, err, sizeof(err));
	if (rc)
		goto usage;
	if (npos < 1) {
		snprintf(err, sizeof(err), "history needs a verb: add, list, baseline or trend");
		goto usage;
	}
	if (strcmp(pos[0], "add") && strcmp(pos[0], "list") && strcmp(pos[0], "baseline") &&
	    strcmp(pos[0], "trend")) {
		snprintf(err, sizeof(err),
		         "unknown history verb '%s': expected add, list, baseline or trend",
		         pos[0]);
		goto usage;
	}
	if (!strcmp(pos[0], "add") && npos != 2) {
		snprintf(err, sizeof(err), "history add takes one results file");
		goto usage;
	}
	if (!strcmp(pos[0], "baseline") &&
	    (npos < 2 || strcmp(pos[1], "set") || (npos == 3) == set.has_last_good || npos > 3)) {
		snprintf(err, sizeof(err),
		         "expected: history baseline set ID, or baseline set "
		         "--last-good N");
		goto usage;
	}
	if (!strcmp(pos[0], "trend") && npos != 2) {
		snprintf(err, sizeof(err), "history trend takes one metric: p50, p99 or bw");
		goto usage;
	}
	rc = fsc_history_open(&h, set.db, 5000, err, sizeof(err));
	if (rc)
		goto usage;
	if (!strcmp(pos[0], "add")) {
		json_t *doc = 0;
		int64_t id;

		rc = fsc_results_load(pos[1], &doc, err, sizeof(err));
		if (!rc)
			rc = fsc_history_add(h, doc, set.label, &id, err, sizeof(err));
		json_decref(doc);
		if (rc)
			goto usage;
		printf("history: added run %lld from %s\n", (long long)id, pos[1]);
	} else if (!strcmp(pos[0], "list")) {
		rc = fsc_history_list(h, stdout, err, sizeof(err));
	} else if (!strcmp(pos[0], "baseline")) {
		int64_t id = 0;

		if (npos == 3) {
			char *end;

			id = strtoll(pos[2], &end, 10);
			if (*end || id < 1) {
				snprintf(err, sizeof(err),
				         "invalid run id '%s': expected a number from "
				         "history list",
				         pos[2]);
				goto usage;
			}
		} else {
			rc = fsc_history_last_good(h, (int)set.last_good, &id, err, sizeof(err));
		}
		if (!rc)
			rc = fsc_history_baseline_set(h, id, err, sizeof(err));
		if (!rc)
			printf("history: baseline is run %lld\n", (long long)id);
	} else {
		json_t *tr = 0;

		rc = fsc_history_trend(h, pos[1], set.point, &tr, err, sizeof(err));
		if (!rc) {
			trend_print(stdout, tr);
			if (set.json)
				rc = fsc_json_write_atomic(tr, set.json);
		}
		json_decref(tr);
	}
	if (rc)
		goto usage;
	fsc_history_close(h);
	fsc_config_free(cfg);
	free(pos);
	return FSC_EXIT_OK;
usage:
	if (err[0])
		fprintf(stderr, "fabscope: error: %s\n", err);
	fsc_history_close(h);
	fsc_config_free(cfg);
	free(pos);
	return FSC_EXIT_USAGE;
}
