/* Acceptance specs: what `fabscope accept` runs and what must hold.
 *
 * A spec is one YAML document (format and an annotated example in
 * scripts/specs/README.md).  It is read with libyaml's document API and
 * checked against a fixed schema here: unknown keys, wrong types, values
 * without a unit and YAML syntax errors are reported as
 *   "spec.yaml:12:5: unknown key 'fabirc' in test 'p2p' (expected one of: ...)"
 * with 1-based line and column.  Names that depend on the build (fabrics,
 * patterns, options) are checked later, by accept.c, with the marks kept
 * here.  Defaults are merged into every test while parsing, so a test here
 * is complete.
 *
 * Units (thresholds must carry one; a bare number is an error):
 *   time       ns, us (or µs), ms, s                   -> microseconds
 *   bandwidth  TB/s GB/s MB/s kB/s (bytes, 1 GB = 1e9 B),
 *              Tbit/s Gbit/s Mbit/s, Tb/s Gb/s Mb/s (bits) -> GB/s
 *   relative   "<x>x median" (link checks of the pairs pattern)
 *   sizes      8, 4K, 1M, 1G (x1024, as on the command line)
 */
#ifndef FSC_SPEC_H
#define FSC_SPEC_H

#include <stddef.h>
#include <stdint.h>

/* Largest spec file read (a spec is a page or two of text). */
#define FSC_SPEC_MAX_BYTES (1u << 20)

/* A position in the spec: 1-based line and column; 0 when unknown. */
struct fsc_spec_mark {
	int line, col;
};

enum fsc_check_kind {
	FSC_CHECK_COMPLETED,      /* implicit: every point ran, within the timeout */
	FSC_CHECK_LATENCY_P50,    /* time_us.p50 <= max */
	FSC_CHECK_LATENCY_P99,    /* time_us.p99 <= max */
	FSC_CHECK_BANDWIDTH,      /* algbw_GBps >= min */
	FSC_CHECK_BUSBW,          /* busbw_GBps >= min */
	FSC_CHECK_NO_WRONG_DATA,  /* no record wrong, wrong == 0 */
	FSC_CHECK_NO_ANOMALY,     /* pairs: no confirmed anomaly */
	FSC_CHECK_LINK_BANDWIDTH, /* pairs: every bw_GBps cell >= min */
	FSC_CHECK_LINK_LATENCY,   /* pairs: every lat_us cell <= max */
};

enum fsc_metric { FSC_METRIC_ANY, FSC_METRIC_BANDWIDTH, FSC_METRIC_LATENCY };

struct fsc_spec_check {
	enum fsc_check_kind kind;
	const char *name; /* "latency_p50", ... (static) */
	double limit;     /* us, GB/s, or a ratio when relative */
	int is_max;       /* the limit is a ceiling (else a floor) */
	int relative;     /* limit x the matrix median */
	int has_limit;
	int has_at;
	uint64_t at_bytes;   /* only the points of this size */
	int metric;          /* no_anomaly: FSC_METRIC_* of the anomalies that count */
	char limit_text[64]; /* as written, e.g. "50us" */
	struct fsc_spec_mark mark, at_mark;
};

/* One entry of an `options:` map: --name value. */
struct fsc_spec_opt {
	char *name;
	char *value; /* text; a YAML list is joined with ',' */
	struct fsc_spec_mark mark, value_mark;
};

/* One entry of the top-level `fabrics:` map. */
struct fsc_spec_fabric {
	char *name;
	int required; /* not usable here = a failed check, not a skip */
	struct fsc_spec_opt *opts;
	size_t nopts;
	struct fsc_spec_mark mark;
};

struct fsc_spec_test {
	char *name;
	char *description; /* may be NULL */
	char **fabrics;
	struct fsc_spec_mark *fabric_marks;
	size_t nfabrics;
	char *pattern;
	int has_sizes;
	uint64_t min_bytes, max_bytes, factor;
	char *impl;                /* comma-separated; NULL: the pattern's default */
	int64_t iters, warmup;     /* -1: the runner's default */
	uint64_t timeout_ns;       /* 0: none (operations keep the runner's deadline) */
	struct fsc_spec_opt *opts; /* defaults' options first, then the test's */
	size_t nopts;
	struct fsc_spec_check *checks;
	size_t nchecks;
	int required; /* a fabric of this test not usable = a failed check */
	struct fsc_spec_mark mark, pattern_mark, sizes_mark, impl_mark, iters_mark, warmup_mark,
	        timeout_mark;
};

struct fsc_spec {
	char *path; /* as given, for messages */
	char *name;
	char *description; /* may be NULL */
	struct fsc_spec_test *tests;
	size_t ntests;
	struct fsc_spec_fabric *fabrics;
	size_t nfabrics;
};

/* Read a spec file (at most FSC_SPEC_MAX_BYTES) into a malloc'ed,
 * NUL-terminated buffer.  -errno with a one-line message in err. */
int fsc_spec_read(const char *path, char **text, size_t *len, char *err, size_t errlen);

/* Parse and validate spec text; `path` names it in messages.  On error
 * returns -EINVAL and one line "path:line:col: message" in err; *out is
 * then NULL.  Free the result with fsc_spec_free. */
int fsc_spec_parse(const char *text, size_t len, const char *path, struct fsc_spec **out, char *err,
                   size_t errlen);

/* Accepts NULL. */
void fsc_spec_free(struct fsc_spec *s);

/* The top-level `fabrics:` entry for a fabric, or NULL. */
const struct fsc_spec_fabric *fsc_spec_fabric_find(const struct fsc_spec *s, const char *name);

/* Threshold values.  Each returns 0, or -EINVAL when the number or the unit
 * is missing or wrong (nothing printed). */
int fsc_spec_parse_time_us(const char *s, double *us);
int fsc_spec_parse_bw_GBps(const char *s, double *GBps);
int fsc_spec_parse_ratio(const char *s, double *ratio); /* "0.5x median" */

#endif
