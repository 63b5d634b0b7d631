#include "results.h"

#include <errno.h>
#include <math.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsc_version.h"
#include "log.h"

struct fsc_results {
	json_t *doc;
	json_t *records;
	json_t *tag; /* keys added to every record (fsc_results_tag) */
	char *path;
	char *stream_path; /* path + FSC_RESULTS_STREAM_SUFFIX */
	FILE *stream;      /* open from the first record until finished */
	int stream_rc;     /* the stream's first error, logged once */
};

/* The temporary file beside `path` that atomic writes go through. */
static int tmp_path(const char *path, char *tmp, size_t len)
{
	int n = snprintf(tmp, len, "%s.tmp.%d", path, (int)getpid());

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int fsc_file_check_writable(const char *path)
{
	char tmp[4200];
	int fd, rc = tmp_path(path, tmp, sizeof(tmp));

	if (rc)
		return rc;
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0644);
	if (fd < 0)
		return -errno;
	close(fd);
	unlink(tmp);
	return 0;
}

int fsc_file_write_atomic(const char *path, int (*write)(FILE *f, void *arg), void *arg,
                          char *failed, size_t failed_len)
{
	char tmp[4200];
	FILE *f;
	int rc = tmp_path(path, tmp, sizeof(tmp));

	if (failed && failed_len)
		snprintf(failed, failed_len, "%s", path);
	if (rc)
		return rc;
	f = fopen(tmp, "w");
	if (!f) {
		rc = -errno;
		if (failed && failed_len)
			snprintf(failed, failed_len, "%s", tmp);
		return rc;
	}
	rc = write(f, arg);
	if (!rc && (fflush(f) || fsync(fileno(f)) || ferror(f)))
		rc = -(errno ? errno : EIO);
	if (fclose(f) && !rc)
		rc = -(errno ? errno : EIO);
	if (!rc && rename(tmp, path))
		rc = -errno;
	if (rc)
		unlink(tmp);
	return rc;
}

static int check_writable(const char *path, char *err, size_t errlen)
{
	int rc;

	if (!path[0]) {
		snprintf(err, errlen, "invalid value '' for --output: expected a file path");
		return -EINVAL;
	}
	rc = fsc_file_check_writable(path);
	if (rc == -ENAMETOOLONG) {
		snprintf(err, errlen, "invalid value for --output: path too long");
		return -EINVAL;
	}
	if (rc) {
		snprintf(err, errlen,
		         "cannot write results to '%s': %s (give --output a path in a writable "
		         "directory)",
		         path, strerror(-rc));
		return -EINVAL;
	}
	return 0;
}

int fsc_results_create(struct fsc_results **out, const char *path, char *err, size_t errlen)
{
	struct fsc_results *r;
	int rc;

	*out = 0;
	if (path) {
		rc = check_writable(path, err, errlen);
		if (rc)
			return rc;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		goto nomem;
	r->doc = json_object();
	r->records = json_array();
	r->tag = json_object();
	if (path) {
		size_t n = strlen(path) + sizeof(FSC_RESULTS_STREAM_SUFFIX);

		r->path = strdup(path);
		r->stream_path = malloc(n);
		if (r->stream_path)
			snprintf(r->stream_path, n, "%s%s", path, FSC_RESULTS_STREAM_SUFFIX);
	}
	if (!r->doc || !r->records || !r->tag || (path && (!r->path || !r->stream_path)))
		goto nomem;
	json_object_set_new(r->doc, "schema", json_string(FSC_RESULTS_SCHEMA));
	json_object_set_new(r->doc, "status", json_string("running"));
	json_object_set_new(r->doc, "meta", json_object());
	json_object_set(r->doc, "records", r->records);
	*out = r;
	return 0;
nomem:
	fsc_results_free(r);
	snprintf(err, errlen, "out of memory");
	return -ENOMEM;
}

void fsc_results_free(struct fsc_results *r)
{
	if (!r)
		return;
	/* An unfinished run keeps its stream: it is what the run measured. */
	if (r->stream)
		fclose(r->stream);
	json_decref(r->records);
	json_decref(r->doc);
	json_decref(r->tag);
	free(r->path);
	free(r->stream_path);
	free(r);
}

json_t *fsc_results_doc(struct fsc_results *r)
{
	return r->doc;
}
json_t *fsc_results_meta(struct fsc_results *r)
{
	return json_object_get(r->doc, "meta");
}
const char *fsc_results_path(const struct fsc_results *r)
{
	return r->path;
}

static int json_writer(FILE *f, void *doc)
{
	if (json_dumpf(doc, f, JSON_INDENT(1) | JSON_REAL_PRECISION(10)) || fputc('\n', f) == EOF)
		return -EIO;
	return 0;
}

int fsc_json_write_atomic(json_t *doc, const char *path)
{
	char failed[4200];
	int rc = fsc_file_write_atomic(path, json_writer, doc, failed, sizeof(failed));

	if (rc)
		fsc_error(strcmp(failed, path) ? "cannot write '%s': %s"
		                               : "cannot write results to '%s': %s",
		          failed, strerror(-rc));
	return rc;
}

int fsc_results_tag(struct fsc_results *r, const char *key, json_t *value)
{
	if (!value) {
		json_object_del(r->tag, key);
		return 0;
	}
	return json_object_set_new(r->tag, key, value) ? -ENOMEM : 0;
}

#define STREAM_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(10))

/* One line of the stream, written through to the kernel (a killed process
 * loses nothing written before it died). */
static int stream_line(struct fsc_results *r, const json_t *j)
{
	errno = 0;
	if (json_dumpf(j, r->stream, STREAM_FLAGS) || fputc('\n', r->stream) == EOF ||
	    fflush(r->stream)) {
		int rc = -(errno ? errno : EIO);

		fsc_error("cannot write results to '%s': %s", r->stream_path, strerror(-rc));
		return rc;
	}
	return 0;
}

/* The first record opens the stream with a header line: the document
 * without its records. */
static int stream_open(struct fsc_results *r)
{
	json_t *head;
	int rc;

	r->stream = fopen(r->stream_path, "w");
	if (!r->stream) {
		rc = -errno;
		fsc_error("cannot write results to '%s': %s", r->stream_path, strerror(-rc));
		return rc;
	}
	head = json_deep_copy(r->doc);
	if (!head)
		return -ENOMEM;
	json_object_del(head, "records");
	rc = stream_line(r, head);
	json_decref(head);
	return rc;
}

int fsc_results_add(struct fsc_results *r, json_t *rec)
{
	int rc;

	if (!rec)
		return -ENOMEM;
	if (json_object_size(r->tag) && json_object_update(rec, r->tag)) {
		json_decref(rec);
		return -ENOMEM;
	}
	if (json_array_append_new(r->records, rec))
		return -ENOMEM;
	if (!r->path)
		return 0;
	if (r->stream_rc)
		return r->stream_rc;
	rc = r->stream ? 0 : stream_open(r);
	if (!rc)
		rc = stream_line(r, rec);
	r->stream_rc = rc;
	return rc;
}

int fsc_results_finish(struct fsc_results *r, const char *status)
{
	int rc;

	json_object_set_new(r->doc, "status", json_string(status));
	if (!r->path)
		return 0;
	rc = fsc_json_write_atomic(r->doc, r->path);
	if (rc)
		return rc; /* the stream stays: the run's records are there */
	if (r->stream) {
		fclose(r->stream);
		r->stream = 0;
	}
	if (unlink(r->stream_path) && errno != ENOENT)
		fsc_warn("cannot remove '%s': %s", r->stream_path, strerror(errno));
	return 0;
}

/* A stream (header line, then one record per line) as the document it
 * stands for.  A last line cut short (the process was killed while
 * writing it) is dropped; any other bad line is an error. */
static json_t *stream_load(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	json_t *doc = 0, *records = json_array();
	char *line = 0;
	size_t cap = 0;
	ssize_t len;
	int lineno = 0;

	if (!f || !records) {
		snprintf(err, errlen, "cannot read results '%s': %s", path,
		         f ? "out of memory" : strerror(errno));
		goto fail;
	}
	while ((len = getline(&line, &cap, f)) > 0) {
		json_error_t je;
		json_t *j;

		lineno++;
		j = json_loadb(line, (size_t)len, 0, &je);
		if (!j && line[len - 1] != '\n')
			break; /* cut short by a kill */
		if (!json_is_object(j)) {
			snprintf(err, errlen,
			         "cannot read results '%s': line %d is not a JSON object%s%s", path,
			         lineno, j ? "" : ": ", j ? "" : je.text);
			json_decref(j);
			goto fail;
		}
		if (!doc)
			doc = j;
		else
			json_array_append_new(records, j);
	}
	if (!doc) {
		snprintf(err, errlen, "'%s' is not a fabscope results file (empty stream)", path);
		goto fail;
	}
	json_object_set_new(doc, "records", records);
	free(line);
	fclose(f);
	return doc;
fail:
	json_decref(doc);
	json_decref(records);
	free(line);
	if (f)
		fclose(f);
	return 0;
}

static int len_sfx(const char *s, const char *sfx)
{
	size_t n = strlen(s), m = strlen(sfx);

	return n >= m && !strcmp(s + n - m, sfx);
}

int fsc_results_load(const char *path, json_t **out, char *err, size_t errlen)
{
	json_error_t je;
	json_t *doc, *schema;

	*out = 0;
	if (len_sfx(path, FSC_RESULTS_STREAM_SUFFIX)) {
		doc = stream_load(path, err, errlen);
		if (!doc)
			return -EINVAL;
	} else
		doc = json_load_file(path, 0, &je);
	if (!doc) {
		snprintf(err, errlen, "cannot read results '%s': %s (line %d, column %d)", path,
		         je.text, je.line, je.column);
		return -EINVAL;
	}
	schema = json_object_get(doc, "schema");
	if (!json_is_string(schema) ||
	    strncmp(json_string_value(schema), "fabscope-results/", 17)) {
		snprintf(err, errlen, "'%s' is not a fabscope results file (no \"schema\")", path);
		json_decref(doc);
		return -EINVAL;
	}
	if (strcmp(json_string_value(schema), FSC_RESULTS_SCHEMA)) {
		snprintf(err, errlen, "'%s' has schema %s; this fabscope reads %s", path,
		         json_string_value(schema), FSC_RESULTS_SCHEMA);
		json_decref(doc);
		return -EINVAL;
	}
	*out = doc;
	return 0;
}

json_t *fsc_stats_to_json_us(const struct fsc_stats *s)
{
	return json_pack("{s:I, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f}", "n", (json_int_t)s->n,
	                 "min", s->min / 1e3, "p50", s->p50 / 1e3, "p95", s->p95 / 1e3, "p99",
	                 s->p99 / 1e3, "p99.9", s->p999 / 1e3, "max", s->max / 1e3, "mean",
	                 s->mean / 1e3, "stdev", s->stdev / 1e3);
}

const char *fsc_json_str(const json_t *o, const char *k, const char *def)
{
	const char *v = json_string_value(json_object_get(o, k));

	return v ? v : def;
}

double fsc_json_num(const json_t *o, const char *k)
{
	const json_t *v = json_object_get(o, k);

	return json_is_number(v) ? json_number_value(v) : NAN;
}

static double jnum(const json_t *o, const char *k)
{
	return json_number_value(json_object_get(o, k));
}

void fsc_table_header(FILE *f, const json_t *rec, const char *bw_formula)
{
	fprintf(f, "#\n# fabric %s, pattern %s, %d ranks%s%s\n", fsc_json_str(rec, "fabric", "?"),
	        fsc_json_str(rec, "pattern", "?"), (int)jnum(rec, "ranks"), bw_formula ? "; " : "",
	        bw_formula ? bw_formula : "");
	fprintf(f, "# %10s %10s %8s %4s %-9s %8s %10s %10s %10s %10s %10s %10s %7s\n", "size(B)",
	        "count", "type", "op", "impl", "iters", "min(us)", "p50(us)", "p99(us)", "mean(us)",
	        "algbw", "busbw", "#wrong");
	fprintf(f, "# %10s %10s %8s %4s %-9s %8s %10s %10s %10s %10s %10s %10s %7s\n", "", "", "",
	        "", "", "", "", "", "", "", "(GB/s)", "(GB/s)", "");
}

void fsc_table_row(FILE *f, const json_t *rec)
{
	const json_t *t = json_object_get(rec, "time_us");
	const char *status = fsc_json_str(rec, "status", "?");

	if (strcmp(status, "ok") && strcmp(status, "wrong")) {
		fprintf(f, "  %10.0f %10s %8s %4s %-9s %s: %s\n", jnum(rec, "bytes"), "", "", "",
		        fsc_json_str(rec, "impl", ""), status, fsc_json_str(rec, "reason", ""));
		return;
	}
	fprintf(f,
	        "  %10.0f %10.0f %8s %4s %-9s %8.0f %10.2f %10.2f %10.2f %10.2f %10.3f %10.3f "
	        "%7.0f\n",
	        jnum(rec, "bytes"), jnum(rec, "count"), fsc_json_str(rec, "dtype", "-"),
	        fsc_json_str(rec, "op", "-"), fsc_json_str(rec, "impl", ""), jnum(rec, "iters"),
	        jnum(t, "min"), jnum(t, "p50"), jnum(t, "p99"), jnum(t, "mean"),
	        jnum(rec, "algbw_GBps"), jnum(rec, "busbw_GBps"), jnum(rec, "wrong"));
}
