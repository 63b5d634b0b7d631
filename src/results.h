/* Results: one versioned JSON document per run (schema in results/SCHEMA.md).
 *
 *   { "schema": "fabscope-results/3", "status": "running"|"complete"|"failed",
 *     "meta": {...}, "records": [ {...}, ... ] }
 *
 * The document is the model (jansson objects); writers render it.  When a
 * path is given, every record is appended as it comes to a stream beside
 * it, `<path>.jsonl` (JSON Lines: a header line, the document without its
 * records, then one record per line; O(1) per record), and the document is
 * written once, atomically (temporary file, fsync, rename), when the run
 * finishes; the stream is then removed.  So a killed run leaves the points
 * it finished in the stream, "running" in its header, and never a
 * truncated file that looks complete; fsc_results_load reads either.
 * Only rank 0 holds a struct fsc_results.
 */
#ifndef FSC_RESULTS_H
#define FSC_RESULTS_H

#include <jansson.h>
#include <stdio.h>

#include "stats.h"

struct fsc_results;

/* path NULL: keep in memory only.  Checks that `path` can be written
 * (creates and removes a temporary file beside it); on failure returns
 * -EINVAL with a one-line message in err. */
int fsc_results_create(struct fsc_results **out, const char *path, char *err, size_t errlen);
void fsc_results_free(struct fsc_results *r); /* accepts NULL */

/* The document and its parts (borrowed references). */
json_t *fsc_results_doc(struct fsc_results *r);
json_t *fsc_results_meta(struct fsc_results *r);
const char *fsc_results_path(const struct fsc_results *r);

#define FSC_RESULTS_STREAM_SUFFIX ".jsonl"

/* Append a record (reference stolen) and append it to the stream.  0, or
 * negative (logged) when the stream could not be written. */
int fsc_results_add(struct fsc_results *r, json_t *rec);
/* Add key: value to every record added from now on (value stolen; NULL
 * stops adding key). */
int fsc_results_tag(struct fsc_results *r, const char *key, json_t *value);
/* Set "status", write the final file and remove the stream.  0, or
 * negative (logged) when the file could not be written: the stream then
 * stays, and the caller must not report success. */
int fsc_results_finish(struct fsc_results *r, const char *status);

/* Write a file atomically: `write` fills a temporary file beside `path`,
 * which is then flushed, fsynced and renamed over `path`, so a reader never
 * sees a partial file.  Returns 0, the writer's negative code, or -errno of
 * the step that failed; leaves no temporary file behind.  Logs nothing; on
 * failure `failed` (may be NULL) names the file the failing step was on:
 * the temporary file when it could not be created, else `path`. */
int fsc_file_write_atomic(const char *path, int (*write)(FILE *f, void *arg), void *arg,
                          char *failed, size_t failed_len);
/* 0 if a file can be created beside `path` (tested with a temporary file,
 * removed again), else -errno. */
int fsc_file_check_writable(const char *path);

/* Write any JSON document atomically (tmp + fsync + rename). */
int fsc_json_write_atomic(json_t *doc, const char *path);
/* Load a results file, or the stream of a run that did not finish (a path
 * ending in .jsonl), and check its schema; -EINVAL with message. */
int fsc_results_load(const char *path, json_t **out, char *err, size_t errlen);

/* Reading records: the string at key k of object o, or def when it is
 * absent or not a string; the number at k, or NaN when it is absent or not
 * a number. */
const char *fsc_json_str(const json_t *o, const char *k, const char *def);
double fsc_json_num(const json_t *o, const char *k);

/* Statistics of time samples (ns) as a JSON object in microseconds. */
json_t *fsc_stats_to_json_us(const struct fsc_stats *s);

/* Human table (rank 0): '#' header lines (naming the fabric, the pattern
 * and, when given, its bandwidth formula) then one row per record. */
void fsc_table_header(FILE *f, const json_t *rec, const char *bw_formula);
void fsc_table_row(FILE *f, const json_t *rec);

#endif
