/* `fabscope history`: a local store of runs in one SQLite file.
 *
 * Schema (PRAGMA user_version = 1; see README "Nightly regression"):
 *   runs(id INTEGER PRIMARY KEY, added TEXT, start_time TEXT, status TEXT,
 *        label TEXT, hosts TEXT, doc TEXT)         -- the whole results JSON
 *   points(run_id, key, p50_us, p99_us, bw_GBps)   -- per point, for trends
 *   baseline(one INTEGER PRIMARY KEY CHECK (one = 1), run_id, set_at)
 * Every change is one transaction: a failed or interrupted add leaves the
 * earlier runs as they were.  A file that is not such a database, or one
 * locked by another writer for longer than the busy timeout, is an error
 * with one clear line; the file is never recreated or truncated.
 */
#ifndef FSC_HISTORY_H
#define FSC_HISTORY_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

struct fsc_history;

/* Open (creating when absent) the database at path.  busy_ms: how long to
 * wait for another writer.  -EINVAL/-EBUSY/-EIO with one line in err. */
int fsc_history_open(struct fsc_history **out, const char *path, int busy_ms, char *err,
                     size_t errlen);
void fsc_history_close(struct fsc_history *h); /* accepts NULL */

/* Add a results document; *id receives the run's id. */
int fsc_history_add(struct fsc_history *h, const json_t *doc, const char *label, int64_t *id,
                    char *err, size_t errlen);
/* One line per run: id, start time, status, hosts, points, baseline mark. */
int fsc_history_list(struct fsc_history *h, FILE *f, char *err, size_t errlen);
/* Make run `id` the baseline (-ENOENT when there is no such run). */
int fsc_history_baseline_set(struct fsc_history *h, int64_t id, char *err, size_t errlen);
/* The id of the n-th most recent run with status "complete" (n >= 1). */
int fsc_history_last_good(struct fsc_history *h, int n, int64_t *id, char *err, size_t errlen);
/* A run's results document (new reference). */
int fsc_history_doc(struct fsc_history *h, int64_t id, json_t **doc, char *err, size_t errlen);
/* A baseline document: "history:baseline" (the marked run) or
 * "history:median-of-last:N": per point, the record of whichever of the
 * last N complete runs has the median p50 (for a matrix: the median cell
 * bandwidth), so one unusual night does not become the reference.  `run`
 * (NULL: none) is the run to be compared with it: a run of the history
 * whose meta equals its meta is left out, so a run is never its own
 * baseline.  A marked run also gets, when noise_runs >= 2, what the last
 * noise_runs complete runs (but `run`) say about the noise between runs
 * (fsc_history_attach_noise).  noise_runs from 0 to 64. */
int fsc_history_baseline_doc(const char *db, const char *spec, const json_t *run, int noise_runs,
                             json_t **doc, char *err, size_t errlen);
/* Sets "history_runs" (fsc_compare_runs_summary over the records of the n
 * docs with the same key) on every record of `base` that two or more of
 * the docs hold: the spread of those runs, the noise between two runs that
 * one baseline run cannot show. */
void fsc_history_attach_noise(json_t *base, json_t *const *docs, int n);
/* Per record key of docs[0], the record of the doc with the median figure
 * (a point: p50; a matrix: its median cell bandwidth), carrying
 * "baseline_runs" (fsc_compare_runs_summary) when two or more docs hold the
 * point with samples.  A new document with docs[0]'s meta.  n from 1 to 64. */
json_t *fsc_history_median_doc(json_t *const *docs, int n);
/* A metric ("p50", "p99" or "bw") of every point whose key contains
 * `match` (NULL: all), run by run: [{key, series: [{run, start_time,
 * value}]}]. */
int fsc_history_trend(struct fsc_history *h, const char *metric, const char *match, json_t **out,
                      char *err, size_t errlen);

/* The `history` command: argv[0] is "history". */
int fsc_history_main(int argc, char **argv);

#endif
