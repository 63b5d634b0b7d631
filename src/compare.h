/* `fabscope compare BASELINE RUN`: which points got slower, with statistics
 * that know the runs' noise (method and its reasons: results/COMPARE.md).
 *
 * Points are matched by (test, fabric, pattern, impl, dtype, op, in_place,
 * bytes); each cell of a pairs matrix by its (src, dst) host pair.  A
 * point is judged from the per-sample times both sides keep
 * (src/samples.h): a bootstrap percentile confidence interval of the ratio
 * of medians (run / baseline), and a minimum effect size.  A matrix cell
 * is judged on bandwidth from its repeats' range (an exact rank test: see
 * COMPARE.md).  Checks of an acceptance run that passed in the baseline and
 * fail in the run are regressions too.
 */
#ifndef FSC_COMPARE_H
#define FSC_COMPARE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define FSC_COMPARE_SCHEMA "fabscope-compare/1"

/* In the order of the --hosts choices (compare, report). */
enum fsc_hosts_mode { FSC_HOSTS_MUST_MATCH, FSC_HOSTS_INTERSECT, FSC_HOSTS_IGNORE };

struct fsc_compare_opts {
	double min_effect;  /* smallest relative change that matters (0.05) */
	double confidence;  /* that noise flags no point of the comparison (0.99) */
	unsigned resamples; /* bootstrap resamples (2000) */
	uint64_t seed;      /* of the bootstrap's generator: same input, same output */
	enum fsc_hosts_mode hosts;
	/* A change must also exceed exp(scatter_k x s) - 1, s the robust
	 * scatter (1.4826 MAD) of log(1 + change) over all matched points (and
	 * separately over matrix cells): the between-run noise that per-sample
	 * statistics cannot see (3; 0: off). */
	double scatter_k;
};

void fsc_compare_opts_default(struct fsc_compare_opts *o);

/* Bootstrap the ratio q_p(b) / q_p(a) of two samples' nearest-rank
 * percentiles p (50: the median): `a` and `b` ascending, na, nb >= 1.
 * *ratio is the estimate from the data, [*lo, *hi] the percentile interval
 * at `confidence` over `resamples` resamples of both sides.  -EINVAL for
 * empty input or a zero baseline percentile, -ENOMEM. */
int fsc_compare_bootstrap(const double *a, size_t na, const double *b, size_t nb, double p,
                          unsigned resamples, double confidence, uint64_t seed, double *ratio,
                          double *lo, double *hi);

/* The two-sided Student t quantile: t with P(|T| <= t) = confidence for df
 * degrees of freedom (df <= 0: the normal distribution's). */
double fsc_compare_t_quantile(double confidence, int df);

/* What the records of one point in several baseline runs say about the
 * noise between runs, to be set as "baseline_runs" on `pick`, the record
 * that stands for them (fsc_history_median_doc): for a point {"n",
 * "log_p50": [log median per run]} (runs whose median has no usable
 * within-run interval left out); for a pairs matrix {"n", "bw_min_GBps", "bw_max_GBps"}: per
 * cell the lowest and highest repeat over the runs with pick's host labels.
 * NULL when fewer than two of them keep samples (or share the labels). */
json_t *fsc_compare_runs_summary(const json_t *pick, const json_t *const *recs, size_t n);

/* Compare two results documents (fsc_results_load'ed or plain parsed JSON
 * with a "schema").  0 and *out (a "fabscope-compare/1" document: points
 * sorted by severity, counts, what is missing on either side, "verdict"
 * "regression" or "ok"), or -EINVAL with one line in err: different schema
 * versions, a schema this build does not read, different host sets under
 * FSC_HOSTS_MUST_MATCH.  base_name/run_name label the sides. */
int fsc_compare_docs(const json_t *base, const json_t *run, const char *base_name,
                     const char *run_name, const struct fsc_compare_opts *o, json_t **out,
                     char *err, size_t errlen);

/* Terminal table: regressions first (worst first), then improvements,
 * inconclusive points, a one-line summary of the unchanged ones, what is
 * missing, and the verdict. */
void fsc_compare_print(FILE *f, const json_t *cmp);

/* Load a results file, or a baseline from the history ("history:baseline",
 * "history:median-of-last:N" from the history database `db`, leaving out
 * `run`, the run it will be compared with, and with the noise of the last
 * noise_runs runs on a marked baseline: fsc_history_baseline_doc).
 * -EINVAL with one line in err. */
int fsc_compare_load(const char *spec, const char *db, const json_t *run, int noise_runs,
                     json_t **doc, char *err, size_t errlen);
/* --noise-runs' default, as an option string */
#define FSC_COMPARE_NOISE_RUNS_DEFAULT "7"

/* The key that matches a record across runs ("test: fabric pattern impl
 * dtype op bytes"; a pairs record without its cells). */
void fsc_compare_record_key(const json_t *rec, char *buf, size_t len);

/* Write a comparison in Prometheus' text exposition format (atomically, as
 * node_exporter's textfile collector needs): fabscope_compare_* gauges
 * (regression flag, counts, noise floor) and per point
 * fabscope_point_{p50,p99,bw}_change_ratio{point, judgement}; matrix cells
 * only when they moved.  -errno with one line in err. */
int fsc_compare_prom_write(const json_t *cmp, const char *path, char *err, size_t errlen);

/* The `compare` command: argv[0] is "compare".  Exit code: 0, 1 (a
 * confirmed regression under --fail-on regression), 2 (bad input). */
int fsc_compare_main(int argc, char **argv);

#endif
