/* Comparison of two runs: see compare.h and results/COMPARE.md. */
#include "compare.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "fsc_version.h"
#include "history.h"
#include "options.h"
#include "results.h"
#include "samples.h"
#include "stats.h"

void fsc_compare_opts_default(struct fsc_compare_opts *o)
{
	o->min_effect = 0.05;
	o->confidence = 0.99;
	o->resamples = 2000;
	o->seed = 1;
	o->hosts = FSC_HOSTS_MUST_MATCH;
	o->scatter_k = 3;
}

/* ---- bootstrap ---- */

/* splitmix64: small, fast, and good enough for resampling indices. */
static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static size_t rank_of(size_t n, double p)
{
	double k = ceil(p / 100.0 * (double)n) - 1;

	return k < 0 ? 0 : k > (double)(n - 1) ? n - 1 : (size_t)k;
}

/* The percentile of a resample with replacement of an ascending sample:
 * because `v` is sorted, the k-th smallest resampled value is v at the k-th
 * smallest drawn index, found by counting draws per index (O(n), no sort). */
static double resample_pct(const double *v, size_t n, size_t k, uint32_t *counts, uint64_t *rng)
{
	size_t acc = 0;

	memset(counts, 0, n * sizeof(*counts));
	for (size_t i = 0; i < n; i++)
		counts[(size_t)(((rng_next(rng) >> 11) * 0x1.0p-53) * (double)n)]++;
	for (size_t i = 0; i < n; i++) {
		acc += counts[i];
		if (acc > k)
			return v[i];
	}
	return v[n - 1];
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int fsc_compare_bootstrap(const double *a, size_t na, const double *b, size_t nb, double p,
                          unsigned resamples, double confidence, uint64_t seed, double *ratio,
                          double *lo, double *hi)
{
	size_t ka, kb, nmax = na > nb ? na : nb;
	uint32_t *counts = 0;
	double *r = 0, alpha = (1 - confidence) / 2;
	uint64_t rng = seed;

	if (!na || !nb || !resamples || a[rank_of(na, p)] <= 0)
		return -EINVAL;
	ka = rank_of(na, p);
	kb = rank_of(nb, p);
	*ratio = b[kb] / a[ka];
	counts = malloc(nmax * sizeof(*counts));
	r = malloc(resamples * sizeof(*r));
	if (!counts || !r) {
		free(counts);
		free(r);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < resamples; i++) {
		double qa = resample_pct(a, na, ka, counts, &rng);
		double qb = resample_pct(b, nb, kb, counts, &rng);

		r[i] = qa > 0 ? qb / qa : INFINITY;
	}
	qsort(r, resamples, sizeof(*r), cmp_double);
	*lo = r[rank_of(resamples, 100 * alpha)];
	*hi = r[rank_of(resamples, 100 * (1 - alpha))];
	free(counts);
	free(r);
	return 0;
}

/* ---- noise between runs ---- */

/* P(|T| <= t) of Student's t with df degrees of freedom (integer df, the
 * finite series of Abramowitz & Stegun 26.7.3 and 26.7.4); df <= 0: the
 * normal distribution. */
static double t_central(double t, int df)
{
	double th, c2, term, sum;

	if (df <= 0)
		return erf(t / sqrt(2));
	th = atan(t / sqrt((double)df));
	c2 = cos(th) * cos(th);
	if (df % 2) {
		sum = 0;
		term = 1;
		for (int k = 3; k <= df; k += 2) {
			sum += term;
			term *= (double)(k - 1) / (double)k * c2;
		}
		return 2 / M_PI * (th + (df > 1 ? sin(th) * cos(th) * sum : 0));
	}
	sum = 0;
	term = 1;
	for (int k = 2; k <= df; k += 2) {
		sum += term;
		term *= (double)(k - 1) / (double)k * c2;
	}
	return sin(th) * sum;
}

double fsc_compare_t_quantile(double confidence, int df)
{
	double lo = 0, hi = 1e7;

	if (df > 200)
		df = 0; /* within 0.5% of the normal quantile: the series gets long */
	for (int i = 0; i < 200 && hi - lo > 1e-9 * hi; i++) {
		double mid = (lo + hi) / 2;

		if (t_central(mid, df) < confidence)
			lo = mid;
		else
			hi = mid;
	}
	return (lo + hi) / 2;
}

/* The quantile p of kept ascending samples, interpolated between them. */
static double kept_quantile(const double *v, size_t m, double p)
{
	double x = p * (double)m - 0.5;
	size_t i;

	if (x <= 0)
		return v[0];
	if (x >= (double)(m - 1))
		return v[m - 1];
	i = (size_t)x;
	return v[i] + (x - (double)i) * (v[i + 1] - v[i]);
}

/* Standard error of log(median) of one run's kept samples, distribution-free:
 * the order statistics at ranks n/2 -+ 1.96 sqrt(n)/2 of the n timed samples
 * bound a 95% interval of the median; their log distance over 2 x 1.96. */
static double median_se_log(const double *v, size_t m, double n)
{
	const double z = 1.959964;
	double h = z / (2 * sqrt(n > 1 ? n : 1));
	double lo = kept_quantile(v, m, 0.5 - h), hi = kept_quantile(v, m, 0.5 + h);

	return lo > 0 && hi > 0 ? (log(hi) - log(lo)) / (2 * z) : NAN;
}

/* log(median) and its within-run standard error of a record's samples. */
static int record_level(const json_t *rec, double *lm, double *se)
{
	double *v = 0;
	size_t m = 0;
	double n = fsc_json_num(json_object_get(rec, "samples"), "n");

	if (fsc_samples_from_json(rec, &v, &m))
		return -EINVAL;
	*lm = v[rank_of(m, 50)] > 0 ? log(v[rank_of(m, 50)]) : NAN;
	*se = median_se_log(v, m, isfinite(n) && n >= (double)m ? n : (double)m);
	free(v);
	return isfinite(*lm) && isfinite(*se) ? 0 : -EINVAL;
}

/* The variance of log(level) that one run's time-ordered block medians show
 * beyond their own sampling noise (a block of n/B samples has B times the
 * variance of the whole run's median): the drift of the machine during the
 * point.  *df its degrees of freedom; NAN when the record keeps no blocks. */
static double drift_var(const json_t *rec, int *df)
{
	double *b = 0, lm, se, mean = 0, ss = 0;
	size_t nb = 0;

	*df = 0;
	if (record_level(rec, &lm, &se) || fsc_samples_blocks_from_json(rec, &b, &nb))
		return NAN;
	for (size_t i = 0; i < nb; i++)
		mean += log(b[i]) / (double)nb;
	for (size_t i = 0; i < nb; i++)
		ss += (log(b[i]) - mean) * (log(b[i]) - mean);
	free(b);
	*df = (int)nb - 1;
	return fmax(0, ss / (double)(nb - 1) - (double)nb * se * se);
}

static double cell(const json_t *rec, const char *k, int i, int j);

/* A matrix's cells over several runs: per cell the lowest repeat and the
 * highest repeat of all the runs whose host labels are those of `pick`. */
static json_t *cells_summary(const json_t *pick, const json_t *const *recs, size_t n)
{
	const json_t *labels = json_object_get(pick, "labels");
	size_t nl = json_array_size(labels), runs = 0;
	json_t *mn = json_array(), *mx = json_array();

	for (size_t a = 0; a < nl; a++) {
		json_t *rmin = json_array(), *rmax = json_array();

		for (size_t b = 0; b < nl; b++) {
			double lo = INFINITY, hi = -INFINITY;

			for (size_t r = 0; r < n; r++) {
				double v = cell(recs[r], "bw_GBps", (int)a, (int)b);
				double vmin = cell(recs[r], "bw_min_GBps", (int)a, (int)b);
				double vmax = cell(recs[r], "bw_max_GBps", (int)a, (int)b);

				if (!json_equal(json_object_get(recs[r], "labels"), labels) ||
				    isnan(v))
					continue;
				lo = fmin(lo, isnan(vmin) ? v : vmin);
				hi = fmax(hi, isnan(vmax) ? v : vmax);
			}
			json_array_append_new(rmin, isfinite(lo) ? json_real(lo) : json_null());
			json_array_append_new(rmax, isfinite(hi) ? json_real(hi) : json_null());
		}
		json_array_append_new(mn, rmin);
		json_array_append_new(mx, rmax);
	}
	for (size_t r = 0; r < n; r++)
		runs += json_equal(json_object_get(recs[r], "labels"), labels) ? 1 : 0;
	if (runs < 2) {
		json_decref(mn);
		json_decref(mx);
		return 0;
	}
	return json_pack("{s:I, s:o, s:o}", "n", (json_int_t)runs, "bw_min_GBps", mn, "bw_max_GBps",
	                 mx);
}

json_t *fsc_compare_runs_summary(const json_t *pick, const json_t *const *recs, size_t n)
{
	json_t *lms;

	if (json_is_array(json_object_get(pick, "labels")))
		return cells_summary(pick, recs, n);
	lms = json_array();
	for (size_t i = 0; i < n; i++) {
		double lm, se;

		/* a run whose median has no usable interval is left out */
		if (record_level(recs[i], &lm, &se))
			continue;
		json_array_append_new(lms, json_real(lm));
	}
	if (json_array_size(lms) < 2) {
		json_decref(lms);
		return 0;
	}
	return json_pack("{s:I, s:o}", "n", (json_int_t)json_array_size(lms), "log_p50", lms);
}

/* sigma_b^2 of a runs summary (fsc_compare_runs_summary): the variance of
 * the runs' log medians, var(m_i), as the variance between runs.  It holds
 * the runs' own sampling noise as well (s_i^2), and the random-effects
 * estimators subtract it: var(m_i) - mean(s_i^2) or, weighting each run by
 * its precision, DerSimonian-Laird.  Both go wrong on the runs of a shared
 * machine, where a run whose median is itself uncertain (s_i near 1: half
 * its samples stalled for milliseconds) is a run in another state, not a
 * precise measurement with bad luck: the first lets that one run's s_i^2
 * cancel the spread of all the others (sigma_b = 0, and an 8% change was
 * flagged), the second discounts the run whose level moved (a 35% change
 * flagged after a night at +27%).  Not subtracting is conservative by
 * mean(s_i^2), which for runs in a steady state is 100 times smaller than
 * their spread.  *n the runs.  NAN when there is no usable summary. */
static double runs_var(const json_t *summary, size_t *n)
{
	const json_t *lms = json_object_get(summary, "log_p50");
	double mean = 0, ss = 0;

	*n = json_array_size(lms);
	if (*n < 2)
		return NAN;
	for (size_t i = 0; i < *n; i++)
		mean += json_number_value(json_array_get(lms, i)) / (double)*n;
	for (size_t i = 0; i < *n; i++) {
		double d = json_number_value(json_array_get(lms, i)) - mean;

		ss += d * d;
	}
	return isfinite(ss) ? ss / (double)(*n - 1) : NAN;
}

/* The variance of log(run median / baseline median) that the runs' own
 * variation adds to the within-run interval, with its degrees of freedom
 * (0: normal) and the model it came from:
 * - the baseline is several runs ("baseline_runs", fsc_compare_runs_summary):
 *   sigma_b^2 (runs_var) of those runs.  The run is one more draw and the
 *   baseline's median run another, so the variance added is
 *   sigma_b^2 (1 + pi / 2N); N - 1 degrees of freedom;
 * - the baseline is one run of a history that knows its recent runs
 *   ("history_runs", fsc_history_attach_noise): sigma_b^2 of those N runs.
 *   The run and the baseline are one draw each: 2 sigma_b^2, N - 1
 *   degrees of freedom;
 * - a single run on each side: the drift inside each run (drift_var), as the
 *   stand-in for how far apart two runs land: the sum of both sides';
 * - neither: NAN (the within-run interval alone). */
static double between_var(const json_t *rb, const json_t *rr, int *df, const char **model,
                          int *runs)
{
	size_t n;
	int dfb, dfr;
	double vb, vr, v;

	*runs = 1;
	v = runs_var(json_object_get(rb, "baseline_runs"), &n);
	if (!isnan(v)) {
		*df = (int)n - 1;
		*model = "between baseline runs";
		*runs = (int)n;
		return v * (1 + M_PI / (2 * (double)n));
	}
	v = runs_var(json_object_get(rb, "history_runs"), &n);
	if (!isnan(v)) {
		*df = (int)n - 1;
		*model = "between history runs";
		*runs = (int)n;
		return 2 * v;
	}
	vb = drift_var(rb, &dfb);
	vr = drift_var(rr, &dfr);
	if (isnan(vb) && isnan(vr)) {
		*df = 0;
		*model = "within run";
		return NAN;
	}
	*model = "within-run drift";
	*df = (isnan(vb) ? dfr : dfb) + (isnan(vr) ? dfb : dfr);
	return (isnan(vb) ? vr : vb) + (isnan(vr) ? vb : vr);
}

/* ---- matching ---- */

struct point {
	char key[320];
	const json_t *rec;
	int cell; /* matrix cell: src, dst index into labels; else -1 */
	int src, dst;
	size_t order; /* position in the document: the last attempt wins */
};

struct side {
	struct point *p;
	size_t n, cap;
};

static double cell(const json_t *rec, const char *k, int i, int j)
{
	const json_t *v =
	        json_array_get(json_array_get(json_object_get(rec, k), (size_t)i), (size_t)j);

	return json_is_number(v) ? json_number_value(v) : NAN;
}

static int side_push(struct side *s, const struct point *p)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 64;
		struct point *np = realloc(s->p, cap * sizeof(*np));

		if (!np)
			return -ENOMEM;
		s->p = np;
		s->cap = cap;
	}
	s->p[s->n++] = *p;
	return 0;
}

static int cmp_point(const void *a, const void *b)
{
	const struct point *x = a, *y = b;
	int c = strcmp(x->key, y->key);

	return c ? c : (x->order > y->order) - (x->order < y->order);
}

static void prefix(char *buf, size_t len, const json_t *rec)
{
	const char *t = fsc_json_str(rec, "test", 0);

	snprintf(buf, len, "%s%s%s %s", t ? t : "", t ? ": " : "", fsc_json_str(rec, "fabric", "?"),
	         fsc_json_str(rec, "pattern", "?"));
}

void fsc_compare_record_key(const json_t *rec, char *buf, size_t len)
{
	char pre[200];

	prefix(pre, sizeof(pre), rec);
	if (json_is_array(json_object_get(rec, "labels"))) {
		snprintf(buf, len, "%s matrix", pre);
		return;
	}
	snprintf(buf, len, "%s %s%s%s%s%s%s %.0fB", pre, fsc_json_str(rec, "impl", ""),
	         json_object_get(rec, "dtype") ? " " : "", fsc_json_str(rec, "dtype", ""),
	         json_object_get(rec, "op") ? " " : "", fsc_json_str(rec, "op", ""),
	         json_is_true(json_object_get(rec, "in_place")) ? " in-place" : "",
	         fsc_json_num(rec, "bytes"));
}

/* Every point of a document, sorted by key, one per key (the last). */
static int collect(const json_t *doc, struct side *s)
{
	const json_t *recs = json_object_get(doc, "records"), *rec;
	size_t i, order = 0;

	json_array_foreach(recs, i, rec)
	{
		struct point pt = {.rec = rec, .cell = -1};
		const json_t *labels = json_object_get(rec, "labels");
		char pre[200];

		prefix(pre, sizeof(pre), rec);
		if (json_is_array(labels) && json_object_get(rec, "bw_GBps")) {
			size_t nl = json_array_size(labels);

			for (size_t a = 0; a < nl; a++)
				for (size_t b = 0; b < nl; b++) {
					if (a == b || isnan(cell(rec, "bw_GBps", (int)a, (int)b)))
						continue;
					pt.cell = 1;
					pt.src = (int)a;
					pt.dst = (int)b;
					pt.order = order++;
					snprintf(pt.key, sizeof(pt.key), "%s %s->%s", pre,
					         json_string_value(json_array_get(labels, a)),
					         json_string_value(json_array_get(labels, b)));
					if (side_push(s, &pt))
						return -ENOMEM;
				}
			continue;
		}
		pt.order = order++;
		fsc_compare_record_key(rec, pt.key, sizeof(pt.key));
		if (side_push(s, &pt))
			return -ENOMEM;
	}
	if (s->n) /* qsort's array may not be NULL, even when empty */
		qsort(s->p, s->n, sizeof(*s->p), cmp_point);
	/* keep the last of equal keys (a retried acceptance attempt) */
	{
		size_t w = 0;

		for (size_t k = 0; k < s->n; k++) {
			if (w && !strcmp(s->p[w - 1].key, s->p[k].key))
				s->p[w - 1] = s->p[k];
			else
				s->p[w++] = s->p[k];
		}
		s->n = w;
	}
	return 0;
}

/* ---- hosts ---- */

static json_t *host_names(const json_t *doc)
{
	json_t *names = json_array(), *h;
	size_t i;

	json_array_foreach(json_object_get(json_object_get(doc, "meta"), "hosts"), i, h)
	        json_array_append_new(names, json_string(fsc_json_str(h, "name", "?")));
	return names;
}

static int has_name(const json_t *names, const char *n)
{
	size_t i;
	json_t *v;

	json_array_foreach(names, i, v) if (!strcmp(json_string_value(v), n)) return 1;
	return 0;
}

/* Hosts of a cell's label: "host" or "host/rN". */
static int label_in(const json_t *names, const char *label)
{
	char h[256];
	const char *slash = strchr(label, '/');
	size_t len = slash ? (size_t)(slash - label) : strlen(label);

	if (len >= sizeof(h))
		return 0;
	memcpy(h, label, len);
	h[len] = 0;
	return has_name(names, h);
}

/* "a, b" of the names in x that are not in y. */
static void names_minus(const json_t *x, const json_t *y, char *buf, size_t len)
{
	size_t i, used = 0;
	json_t *v;

	buf[0] = 0;
	json_array_foreach(x, i, v)
	{
		if (has_name(y, json_string_value(v)))
			continue;
		int w = snprintf(buf + used, len - used, "%s%s", used ? ", " : "",
		                 json_string_value(v));
		if (w < 0 || used + (size_t)w >= len)
			break;
		used += (size_t)w;
	}
	if (!buf[0])
		snprintf(buf, len, "none");
}

/* ---- judging ---- */

static const char *label(const json_t *labels, int i)
{
	const char *l = json_string_value(json_array_get(labels, (size_t)i));

	return l ? l : "?";
}

enum judgement { J_REGRESSION, J_IMPROVEMENT, J_INCONCLUSIVE, J_UNCHANGED, J_N };
static const char *const jname[J_N] = {"regression", "improvement", "inconclusive", "unchanged"};

static json_t *num(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

/* A time ratio r (run / baseline) with its interval: worse when the run is
 * slower by at least the minimum effect and the interval excludes 1. */
static enum judgement judge_time(double r, double lo, double hi, double eff)
{
	int big_worse = r >= 1 + eff, big_better = r <= 1 / (1 + eff);

	if (big_worse && lo > 1)
		return J_REGRESSION;
	if (big_better && hi < 1)
		return J_IMPROVEMENT;
	if (big_worse || big_better)
		return J_INCONCLUSIVE;
	return J_UNCHANGED;
}

static int status_bad(const char *s)
{
	return !strcmp(s, "wrong") || !strcmp(s, "error");
}

/* One non-matrix point. */
static json_t *judge_point(const struct point *pb, const struct point *pr,
                           const struct fsc_compare_opts *o, enum judgement *j)
{
	const char *sb = fsc_json_str(pb->rec, "status", "?"),
	           *sr = fsc_json_str(pr->rec, "status", "?");
	const json_t *tb = json_object_get(pb->rec, "time_us"),
	             *tr = json_object_get(pr->rec, "time_us");
	double *a = 0, *b = 0;
	size_t na = 0, nb = 0;
	json_t *x = json_object();

	json_object_set_new(x, "key", json_string(pr->key));
	{
		/* the sweep the point belongs to: its key without the size */
		char g[sizeof(pr->key)];
		char *sp;

		snprintf(g, sizeof(g), "%s", pr->key);
		sp = strrchr(g, ' ');
		if (sp)
			*sp = 0;
		json_object_set_new(x, "sweep", json_string(g));
	}
	json_object_set_new(x, "fabric", json_string(fsc_json_str(pr->rec, "fabric", "?")));
	json_object_set_new(x, "pattern", json_string(fsc_json_str(pr->rec, "pattern", "?")));
	json_object_set_new(x, "bytes", num(fsc_json_num(pr->rec, "bytes")));
	json_object_set_new(x, "base",
	                    json_pack("{s:s, s:o, s:o, s:o}", "status", sb, "p50_us",
	                              num(fsc_json_num(tb, "p50")), "p99_us",
	                              num(fsc_json_num(tb, "p99")), "bw_GBps",
	                              num(fsc_json_num(pb->rec, "algbw_GBps"))));
	json_object_set_new(x, "run",
	                    json_pack("{s:s, s:o, s:o, s:o}", "status", sr, "p50_us",
	                              num(fsc_json_num(tr, "p50")), "p99_us",
	                              num(fsc_json_num(tr, "p99")), "bw_GBps",
	                              num(fsc_json_num(pr->rec, "algbw_GBps"))));
	if (status_bad(sr) && !status_bad(sb)) {
		*j = J_REGRESSION;
		json_object_set_new(x, "method", json_string("status"));
		json_object_set_new(x, "why", json_sprintf("status %s -> %s", sb, sr));
		goto out;
	}
	if (fsc_samples_from_json(pb->rec, &a, &na) || fsc_samples_from_json(pr->rec, &b, &nb)) {
		*j = J_INCONCLUSIVE;
		json_object_set_new(x, "method", json_string("none"));
		json_object_set_new(x, "why", json_string("no per-sample times on both sides"));
		goto out;
	}
	{
		double r50, lo50, hi50, r99, lo99, hi99;

		if (fsc_compare_bootstrap(a, na, b, nb, 50, o->resamples, o->confidence, o->seed,
		                          &r50, &lo50, &hi50) ||
		    fsc_compare_bootstrap(a, na, b, nb, 99, o->resamples, o->confidence,
		                          o->seed + 1, &r99, &lo99, &hi99)) {
			*j = J_INCONCLUSIVE;
			json_object_set_new(x, "method", json_string("none"));
			json_object_set_new(x, "why", json_string("zero or unusable times"));
			goto out;
		}
		*j = J_N; /* judged once the scatter floor is known */
		json_object_set_new(x, "method", json_string("bootstrap"));
		json_object_set_new(x, "n", json_pack("[I,I]", (json_int_t)na, (json_int_t)nb));
		json_object_set_new(x, "p50_change", num(r50 - 1));
		json_object_set_new(x, "p50_ci_within",
		                    json_pack("[o,o]", num(lo50 - 1), num(hi50 - 1)));
		{
			/* the within-run standard error on the log scale, and this
			 * point's own estimate of the variance between runs; the
			 * interval is widened in pool_between() once every point's
			 * estimate is known */
			double z = fsc_compare_t_quantile(o->confidence, 0);
			double w = (log(hi50) - log(lo50)) / (2 * z), vb;
			const char *model;
			int df, runs;

			vb = between_var(pb->rec, pr->rec, &df, &model, &runs);
			json_object_set_new(x, "noise_model", json_string(model));
			json_object_set_new(x, "within_se", num(w));
			if (!isnan(vb) && isfinite(w)) {
				json_object_set_new(x, "between_var_point", num(vb));
				json_object_set_new(x,
				                    strcmp(model, "between history runs")
				                            ? "baseline_runs"
				                            : "history_runs",
				                    json_integer(runs));
				json_object_set_new(x, "df", json_integer(df));
			}
		}
		json_object_set_new(x, "p50_ci", json_pack("[o,o]", num(lo50 - 1), num(hi50 - 1)));
		json_object_set_new(x, "p99_change", num(r99 - 1));
		json_object_set_new(x, "p99_ci", json_pack("[o,o]", num(lo99 - 1), num(hi99 - 1)));
		/* bandwidth at the median time: bytes / t50, so its ratio is 1/r50 */
		json_object_set_new(x, "bw_change", num(1 / r50 - 1));
		json_object_set_new(x, "bw_ci",
		                    json_pack("[o,o]", num(1 / hi50 - 1), num(1 / lo50 - 1)));
	}
out:
	free(a);
	free(b);
	if (*j != J_N)
		json_object_set_new(x, "judgement", json_string(jname[*j]));
	return x;
}

/* One matrix cell: bandwidth, judged on the repeats' ranges. */
static json_t *judge_cell(const struct point *pb, const struct point *pr,
                          const struct fsc_compare_opts *o, enum judgement *j)
{
	double b = cell(pb->rec, "bw_GBps", pb->src, pb->dst);
	double bmin = cell(pb->rec, "bw_min_GBps", pb->src, pb->dst);
	double bmax = cell(pb->rec, "bw_max_GBps", pb->src, pb->dst);
	double r = cell(pr->rec, "bw_GBps", pr->src, pr->dst);
	double rmin = cell(pr->rec, "bw_min_GBps", pr->src, pr->dst);
	double rmax = cell(pr->rec, "bw_max_GBps", pr->src, pr->dst);
	double lb = cell(pb->rec, "lat_us", pb->src, pb->dst),
	       lr = cell(pr->rec, "lat_us", pr->src, pr->dst);
	double lb99 = cell(pb->rec, "lat_p99_us", pb->src, pb->dst);
	double lr99 = cell(pr->rec, "lat_p99_us", pr->src, pr->dst);
	double kb = fsc_json_num(pb->rec, "repeats"), kr = fsc_json_num(pr->rec, "repeats");
	const json_t *labels = json_object_get(pr->rec, "labels");
	const json_t *br = json_object_get(pb->rec, "baseline_runs");
	const json_t *hr = json_object_get(pb->rec, "history_runs");
	double nruns = fsc_json_num(br, "n"), nhist = fsc_json_num(hr, "n");
	double chg = b > 0 ? r / b - 1 : NAN;
	/* two-sided exact p of a rank-sum test with all of one side above all
	 * of the other: 2 / C(m+n, m) */
	double p = 2;
	json_t *x = json_object();

	/* a baseline of several runs: the run's repeats must all lie outside
	 * every repeat of every baseline run, the rank test over all of them */
	if (nruns >= 2 && !isnan(cell(br, "bw_min_GBps", pb->src, pb->dst)) &&
	    !isnan(cell(br, "bw_max_GBps", pb->src, pb->dst))) {
		bmin = cell(br, "bw_min_GBps", pb->src, pb->dst);
		bmax = cell(br, "bw_max_GBps", pb->src, pb->dst);
		kb *= nruns;
		json_object_set_new(x, "baseline_runs", json_integer((json_int_t)nruns));
	} else if (nhist >= 2 && !isnan(bmin) && !isnan(bmax) &&
	           !isnan(cell(hr, "bw_min_GBps", pb->src, pb->dst)) &&
	           !isnan(cell(hr, "bw_max_GBps", pb->src, pb->dst))) {
		/* one marked run and the recent runs of its history: the run's
		 * repeats must lie outside the marked run's and every recent
		 * run's; the p-value counts the recent runs' repeats only (the
		 * marked run may be one of them) */
		bmin = fmin(bmin, cell(hr, "bw_min_GBps", pb->src, pb->dst));
		bmax = fmax(bmax, cell(hr, "bw_max_GBps", pb->src, pb->dst));
		kb *= nhist;
		json_object_set_new(x, "history_runs", json_integer((json_int_t)nhist));
	}
	if (kb >= 1 && kr >= 1)
		p = 2 * exp(lgamma(kb + 1) + lgamma(kr + 1) - lgamma(kb + kr + 1));
	if (isnan(chg) || isnan(bmin) || isnan(rmax) || isnan(bmax) || isnan(rmin))
		*j = J_INCONCLUSIVE;
	else
		*j = J_N; /* judged once the scatter floor is known */
	(void)o;
	json_object_set_new(x, "key", json_string(pr->key));
	json_object_set_new(x, "fabric", json_string(fsc_json_str(pr->rec, "fabric", "?")));
	json_object_set_new(x, "pattern", json_string("pairs"));
	json_object_set_new(x, "src", json_string(label(labels, pr->src)));
	json_object_set_new(x, "dst", json_string(label(labels, pr->dst)));
	json_object_set_new(x, "method", json_string("range rank test"));
	json_object_set_new(x, "p_value", num(p > 1 ? 1 : p));
	json_object_set_new(x, "base",
	                    json_pack("{s:o, s:o, s:o, s:o, s:o}", "bw_GBps", num(b), "bw_min_GBps",
	                              num(bmin), "bw_max_GBps", num(bmax), "p50_us", num(lb),
	                              "p99_us", num(lb99)));
	json_object_set_new(x, "run",
	                    json_pack("{s:o, s:o, s:o, s:o, s:o}", "bw_GBps", num(r), "bw_min_GBps",
	                              num(rmin), "bw_max_GBps", num(rmax), "p50_us", num(lr),
	                              "p99_us", num(lr99)));
	json_object_set_new(x, "bw_change", num(chg));
	json_object_set_new(x, "p50_change", num(lb > 0 ? lr / lb - 1 : NAN));
	json_object_set_new(x, "p99_change", num(lb99 > 0 ? lr99 / lb99 - 1 : NAN));
	json_object_set_new(x, "disjoint",
	                    json_string(rmax < bmin   ? "below"
	                                : rmin > bmax ? "above"
	                                              : "no"));
	if (*j != J_N)
		json_object_set_new(x, "judgement", json_string(jname[*j]));
	return x;
}

/* Checks that passed in the baseline and fail in the run. */
static void judge_acceptance(const json_t *base, const json_t *run, json_t *pts, size_t *counts)
{
	const json_t *cb = json_object_get(json_object_get(base, "acceptance"), "checks");
	const json_t *cr = json_object_get(json_object_get(run, "acceptance"), "checks");
	const json_t *r, *b;
	size_t i, k;

	json_array_foreach(cr, i, r)
	{
		if (json_is_true(json_object_get(r, "pass")))
			continue;
		json_array_foreach(cb, k, b)
		{
			if (strcmp(fsc_json_str(b, "test", ""), fsc_json_str(r, "test", "")) ||
			    strcmp(fsc_json_str(b, "fabric", ""), fsc_json_str(r, "fabric", "")) ||
			    strcmp(fsc_json_str(b, "check", ""), fsc_json_str(r, "check", "")) ||
			    !json_is_true(json_object_get(b, "pass")))
				continue;
			json_array_append_new(
			        pts,
			        json_pack("{s:s+++++, s:s, s:s, s:s, s:s+++, s:s}", "key",
			                  fsc_json_str(r, "test", "?"), ": ",
			                  fsc_json_str(r, "fabric", "?"), " check '",
			                  fsc_json_str(r, "check", "?"), "'", "fabric",
			                  fsc_json_str(r, "fabric", "?"), "pattern", "acceptance",
			                  "method", "acceptance", "why",
			                  "passed, now fails: ", fsc_json_str(r, "measured", ""),
			                  " (required ", fsc_json_str(r, "required", ""), ")",
			                  "judgement", "regression"));
			counts[J_REGRESSION]++;
			break;
		}
	}
}

/* The robust scatter (1.4826 x MAD) of log(1 + change) over the entries
 * still to be judged of one method: how far matched points of these two
 * runs move apart with no cause but the machines' noise.  0 when fewer than
 * 5 entries. */
static double scatter(const json_t *pts, const char *method, const char *field)
{
	size_t n = 0, i, cap = json_array_size(pts);
	double *v = malloc((cap ? cap : 1) * sizeof(*v)), *tmp, s = 0;
	const json_t *x;

	if (!v)
		return 0;
	json_array_foreach(pts, i, x)
	{
		double c = fsc_json_num(x, field);

		if (!json_object_get(x, "judgement") &&
		    !strcmp(fsc_json_str(x, "method", ""), method) && isfinite(c) && c > -1)
			v[n++] = log1p(c);
	}
	tmp = malloc((n ? n : 1) * sizeof(*tmp));
	if (n >= 5 && tmp)
		s = fsc_mad(v, n, fsc_median(memcpy(tmp, v, n * sizeof(*v)), n), tmp);
	free(tmp);
	free(v);
	return isfinite(s) ? s : 0;
}

/* The number of points a comparison judges on intervals (bootstrap points
 * with a within-run error), the family their confidence is shared by. */
static size_t interval_family(const json_t *pts)
{
	size_t i, m = 0;
	const json_t *x;

	json_array_foreach(pts, i, x) m +=
	        isfinite(fsc_json_num(x, "within_se")) &&
	        json_array_size(json_object_get(x, "p50_ci_within")) == 2;
	return m;
}

/* Widen each point's within-run interval by the variance between runs
 * (variances add on the log scale).  One point's estimate rests on a few
 * runs (N - 1 degrees of freedom) and lands near zero by chance when those
 * few runs happened to agree there, while the level of a whole run moves
 * at every point at once (core, frequency, neighbours).  So a point uses
 * the larger of its own estimate and the median of the estimates of every
 * point of the same fabric under the same model: a point whose baseline
 * runs agreed by luck inherits the noise its neighbours saw, and a point
 * that is noisier than the rest keeps its own.
 *
 * The intervals are simultaneous (Bonferroni): `conf` is each point's
 * confidence, 1 - (1 - confidence) / m for the m points of
 * interval_family(), so that noise alone flags any point of the comparison
 * with a chance of at most 1 - confidence.  At 95% per point, a run of 14
 * points would flag one of them in half of all comparisons of identical
 * runs. */
static void pool_between(json_t *pts, double conf)
{
	size_t n = json_array_size(pts), i, k;
	double *v = malloc((n ? n : 1) * sizeof(*v));
	json_t *x;

	if (!v)
		return;
	json_array_foreach(pts, i, x)
	{
		const json_t *vp = json_object_get(x, "between_var_point");
		const char *fab = fsc_json_str(x, "fabric", ""),
		           *model = fsc_json_str(x, "noise_model", "");
		const json_t *ci = json_object_get(x, "p50_ci_within");
		double own = 0, pooled = 0, r50, lo, hi, w, half, vb = 0;
		size_t m = 0;
		json_t *y;

		w = fsc_json_num(x, "within_se");
		if (!isfinite(w) || json_array_size(ci) != 2)
			continue;
		if (json_is_number(vp)) {
			own = json_number_value(vp);
			json_array_foreach(pts, k, y)
			{
				const json_t *vq = json_object_get(y, "between_var_point");

				if (json_is_number(vq) &&
				    !strcmp(fsc_json_str(y, "fabric", ""), fab) &&
				    !strcmp(fsc_json_str(y, "noise_model", ""), model))
					v[m++] = json_number_value(vq);
			}
			pooled = m >= 3 ? fsc_median(v, m) : own;
			vb = fmax(own, pooled);
		}
		r50 = 1 + fsc_json_num(x, "p50_change");
		half = fsc_compare_t_quantile(conf,
		                              json_is_number(vp) ? (int)fsc_json_num(x, "df") : 0) *
		       sqrt(w * w + vb);
		lo = fmin(1 + json_number_value(json_array_get(ci, 0)), r50 * exp(-half));
		hi = fmax(1 + json_number_value(json_array_get(ci, 1)), r50 * exp(half));
		if (json_is_number(vp)) {
			json_object_set_new(x, "between_sd", num(sqrt(vb)));
			json_object_set_new(x, "between_sd_point", num(sqrt(own)));
			json_object_set_new(x, "between_sd_pooled", num(sqrt(pooled)));
			json_object_del(x, "between_var_point");
		}
		json_object_set_new(x, "p50_ci", json_pack("[o,o]", num(lo - 1), num(hi - 1)));
		json_object_set_new(x, "bw_ci",
		                    json_pack("[o,o]", num(1 / hi - 1), num(1 / lo - 1)));
	}
	/* a point left without an estimate drops its working figure */
	json_array_foreach(pts, i, x) json_object_del(x, "between_var_point");
	free(v);
}

/* Per sweep (same key but the size) of at least 5 points still to be
 * judged: a robust line (Theil-Sen) through log(1 + change) against
 * log(bytes), and the robust scatter of the points around it.  A loss that
 * grows with the size (a bandwidth loss that only large messages feel) lies
 * on such a line and does not count as scatter; points that jump about do.
 * Each point gets "floor": max(min effect, exp(k x scatter) - 1); points
 * of shorter sweeps get `global`. */
static void sweep_floors(json_t *pts, const struct fsc_compare_opts *o, double global)
{
	size_t n = json_array_size(pts), i, k;
	json_t *x;
	const json_t **v = malloc((n ? n : 1) * sizeof(*v));
	double *xs = malloc((n ? n : 1) * sizeof(*xs)), *ys = malloc((n ? n : 1) * sizeof(*ys));
	double *sl = malloc((n * n / 2 + 1) * sizeof(*sl)),
	       *tmp = malloc((n ? n : 1) * sizeof(*tmp));
	char *done = calloc(n ? n : 1, 1);
	double *pool = malloc((n ? n : 1) * sizeof(*pool)),
	       *psc = malloc((n ? n : 1) * sizeof(*psc));
	size_t np = 0;
	double pooled;

	if (!v || !xs || !ys || !sl || !tmp || !done || !pool || !psc)
		goto out;
	json_array_foreach(pts, i, x)
	{
		size_t m = 0, ns = 0;
		double slope, icpt, sc = -1;
		const char *g = fsc_json_str(x, "sweep", 0);

		if (done[i] || !g || json_object_get(x, "judgement") ||
		    strcmp(fsc_json_str(x, "method", ""), "bootstrap"))
			continue;
		for (k = i; k < n; k++) {
			const json_t *y = json_array_get(pts, k);

			if (done[k] || json_object_get(y, "judgement") ||
			    strcmp(fsc_json_str(y, "sweep", ""), g) ||
			    strcmp(fsc_json_str(y, "method", ""), "bootstrap") ||
			    !(fsc_json_num(y, "bytes") > 0) ||
			    !(fsc_json_num(y, "p50_change") > -1))
				continue;
			done[k] = 1;
			v[m] = y;
			xs[m] = log(fsc_json_num(y, "bytes"));
			ys[m++] = log1p(fsc_json_num(y, "p50_change"));
		}
		if (m >= 5) {
			for (size_t a = 0; a < m; a++)
				for (size_t b = a + 1; b < m; b++)
					if (xs[b] != xs[a])
						sl[ns++] = (ys[b] - ys[a]) / (xs[b] - xs[a]);
			slope = ns ? fsc_median(sl, ns) : 0;
			for (size_t a = 0; a < m; a++)
				tmp[a] = ys[a] - slope * xs[a];
			icpt = fsc_median(tmp, m);
			for (size_t a = 0; a < m; a++)
				sl[a] = ys[a] - icpt - slope * xs[a];
			memcpy(pool + np, sl, m * sizeof(*sl));
			np += m;
			sc = fsc_mad(sl, m, 0, tmp);
		}
		/* remembered per point; the floor waits for the pooled scatter */
		for (size_t a = 0; a < m; a++) {
			size_t idx;
			const json_t *y;

			json_array_foreach(pts, idx, y) if (y == v[a]) psc[idx] = sc;
		}
	}
	/* the residuals of every sweep together: a run whose other sweeps
	 * jump about is a noisy run, and one tidy sweep in it is no proof */
	pooled = np >= 5 ? fsc_mad(pool, np, 0, tmp) : -1;
	json_array_foreach(pts, i, x)
	{
		double sc;

		if (!done[i] || json_object_get(x, "judgement") ||
		    strcmp(fsc_json_str(x, "method", ""), "bootstrap"))
			continue;
		sc = fmax(psc[i], pooled);
		json_object_set_new(
		        x, "floor",
		        json_real(psc[i] < 0 || !isfinite(sc)
		                          ? global
		                          : fmax(o->min_effect, expm1(o->scatter_k * sc))));
	}
out:
	free(pool);
	free(psc);
	free(v);
	free(xs);
	free(ys);
	free(sl);
	free(tmp);
	free(done);
}

/* Judge the entries left: a change counts when it passes the test and is at
 * least the effect floor max(min effect, exp(k x scatter) - 1). */
static void finalize(json_t *pts, const struct fsc_compare_opts *o, double fl_pts, double fl_cells,
                     size_t *counts)
{
	size_t i;
	json_t *x;

	json_array_foreach(pts, i, x)
	{
		enum judgement j;

		if (json_object_get(x, "judgement"))
			continue;
		if (!strcmp(fsc_json_str(x, "method", ""), "bootstrap")) {
			const json_t *ci = json_object_get(x, "p50_ci");

			double fl = fsc_json_num(x, "floor");

			j = judge_time(1 + fsc_json_num(x, "p50_change"),
			               1 + json_number_value(json_array_get(ci, 0)),
			               1 + json_number_value(json_array_get(ci, 1)),
			               isfinite(fl) ? fl : fl_pts);
		} else {
			double chg = fsc_json_num(x, "bw_change"), p = fsc_json_num(x, "p_value");
			const char *dis = fsc_json_str(x, "disjoint", "no");
			int sig = p <= 1 - o->confidence;

			if (chg <= -fl_cells / (1 + fl_cells) && !strcmp(dis, "below"))
				j = sig ? J_REGRESSION : J_INCONCLUSIVE;
			else if (chg >= fl_cells && !strcmp(dis, "above"))
				j = sig ? J_IMPROVEMENT : J_INCONCLUSIVE;
			else
				j = J_UNCHANGED;
		}
		json_object_set_new(x, "judgement", json_string(jname[j]));
		counts[j]++;
	}
}

static int severity_cmp(const void *a, const void *b)
{
	const json_t *x = *(const json_t *const *)a, *y = *(const json_t *const *)b;
	int jx = 0, jy = 0;
	double cx, cy;

	for (int k = 0; k < J_N; k++) {
		if (!strcmp(fsc_json_str(x, "judgement", ""), jname[k]))
			jx = k;
		if (!strcmp(fsc_json_str(y, "judgement", ""), jname[k]))
			jy = k;
	}
	if (jx != jy)
		return jx - jy;
	/* worst bandwidth change first among regressions, best first among
	 * improvements; then by key */
	cx = fsc_json_num(x, "bw_change");
	cy = fsc_json_num(y, "bw_change");
	if (isnan(cx))
		cx = 0;
	if (isnan(cy))
		cy = 0;
	if (cx != cy)
		return jx == J_IMPROVEMENT ? (cx < cy) - (cx > cy) : (cx > cy) - (cx < cy);
	return strcmp(fsc_json_str(x, "key", ""), fsc_json_str(y, "key", ""));
}

static void sort_points(json_t *pts)
{
	size_t n = json_array_size(pts);
	json_t **v = malloc((n ? n : 1) * sizeof(*v));

	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		v[i] = json_incref(json_array_get(pts, i));
	qsort(v, n, sizeof(*v), severity_cmp);
	json_array_clear(pts);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(pts, v[i]);
	free(v);
}

static int in_scope(const struct point *p, const json_t *hb, const json_t *hr,
                    enum fsc_hosts_mode m)
{
	const json_t *labels = json_object_get(p->rec, "labels");

	if (m != FSC_HOSTS_INTERSECT || p->cell < 0)
		return 1;
	for (int k = 0; k < 2; k++) {
		const char *l =
		        json_string_value(json_array_get(labels, (size_t)(k ? p->dst : p->src)));

		if (!l || !label_in(hb, l) || !label_in(hr, l))
			return 0;
	}
	return 1;
}

static json_t *side_info(const json_t *doc, const char *name)
{
	const json_t *meta = json_object_get(doc, "meta");

	return json_pack("{s:s, s:s, s:s, s:o}", "name", name, "start_time",
	                 fsc_json_str(meta, "start_time", "?"), "status",
	                 fsc_json_str(doc, "status", "?"), "hosts", host_names(doc));
}

int fsc_compare_docs(const json_t *base, const json_t *run, const char *base_name,
                     const char *run_name, const struct fsc_compare_opts *o, json_t **out,
                     char *err, size_t errlen)
{
	const char *vb = fsc_json_str(base, "schema", "(none)"),
	           *vr = fsc_json_str(run, "schema", "(none)");
	struct side sb = {0}, sr = {0};
	json_t *hb = host_names(base), *hr = host_names(run);
	json_t *cmp = 0, *pts, *miss, *added;
	size_t counts[J_N] = {0}, excluded = 0, i = 0, k = 0;
	int rc = -EINVAL;

	*out = 0;
	if (strcmp(vb, vr)) {
		snprintf(
		        err, errlen,
		        "cannot compare results of different schema versions: baseline '%s' is %s, "
		        "run '%s' is %s",
		        base_name, vb, run_name, vr);
		goto done;
	}
	if (strcmp(vb, FSC_RESULTS_SCHEMA)) {
		snprintf(err, errlen, "'%s' and '%s' have schema %s; this fabscope compares %s",
		         base_name, run_name, vb, FSC_RESULTS_SCHEMA);
		goto done;
	}
	if (o->hosts == FSC_HOSTS_MUST_MATCH && !json_equal(hb, hr)) {
		char only_b[512], only_r[512];

		names_minus(hb, hr, only_b, sizeof(only_b));
		names_minus(hr, hb, only_r, sizeof(only_r));
		snprintf(err, errlen,
		         "the runs have different host sets (only in baseline: %s; only in run: "
		         "%s); "
		         "use --hosts intersect or --hosts ignore to compare anyway",
		         only_b, only_r);
		goto done;
	}
	rc = -ENOMEM;
	if (collect(base, &sb) || collect(run, &sr)) {
		snprintf(err, errlen, "out of memory");
		goto done;
	}
	cmp = json_object();
	pts = json_array();
	miss = json_array();
	added = json_array();
	json_object_set_new(cmp, "schema", json_string(FSC_COMPARE_SCHEMA));
	json_object_set_new(cmp, "baseline", side_info(base, base_name));
	json_object_set_new(cmp, "run", side_info(run, run_name));
	json_object_set_new(
	        cmp, "method",
	        json_pack("{s:s, s:f, s:f, s:I, s:I, s:s, s:s}", "points",
	                  "bootstrap percentile interval of the ratio of medians (run/baseline) "
	                  "over the per-sample times, widened by the variance between runs "
	                  "(noise_model: between baseline runs, between history runs, within-run "
	                  "drift, within run)",
	                  "min_effect", o->min_effect, "confidence", o->confidence, "resamples",
	                  (json_int_t)o->resamples, "seed", (json_int_t)o->seed, "cells",
	                  "exact rank-sum test on the repeats' ranges (disjoint ranges), bandwidth",
	                  "hosts",
	                  o->hosts == FSC_HOSTS_MUST_MATCH  ? "must-match"
	                  : o->hosts == FSC_HOSTS_INTERSECT ? "intersect"
	                                                    : "ignore"));
	/* merge the two sorted key lists */
	while (i < sb.n || k < sr.n) {
		int c = i == sb.n ? 1 : k == sr.n ? -1 : strcmp(sb.p[i].key, sr.p[k].key);
		enum judgement j;

		if (c < 0) {
			if (in_scope(&sb.p[i], hb, hr, o->hosts))
				json_array_append_new(miss, json_string(sb.p[i].key));
			else
				excluded++;
			i++;
			continue;
		}
		if (c > 0) {
			if (in_scope(&sr.p[k], hb, hr, o->hosts))
				json_array_append_new(added, json_string(sr.p[k].key));
			else
				excluded++;
			k++;
			continue;
		}
		if (!in_scope(&sr.p[k], hb, hr, o->hosts)) {
			excluded++;
		} else if (sr.p[k].cell >= 0 && sb.p[i].cell >= 0) {
			json_array_append_new(pts, judge_cell(&sb.p[i], &sr.p[k], o, &j));
			if (j != J_N)
				counts[j]++;
		} else if (!strcmp(fsc_json_str(sr.p[k].rec, "status", ""), "skipped") ||
		           !strcmp(fsc_json_str(sb.p[i].rec, "status", ""), "skipped")) {
			excluded++;
		} else {
			json_array_append_new(pts, judge_point(&sb.p[i], &sr.p[k], o, &j));
			if (j != J_N)
				counts[j]++;
		}
		i++;
		k++;
	}
	{
		double sp = scatter(pts, "bootstrap", "p50_change");
		double sc = scatter(pts, "range rank test", "bw_change");
		double fp = fmax(o->min_effect, expm1(o->scatter_k * sp));
		double fc = fmax(o->min_effect, expm1(o->scatter_k * sc));

		size_t fam = interval_family(pts);
		double conf = 1 - (1 - o->confidence) / (double)(fam ? fam : 1);

		pool_between(pts, conf);
		json_object_set_new(json_object_get(cmp, "method"), "simultaneous",
		                    json_pack("{s:I, s:f}", "points", (json_int_t)fam,
		                              "confidence_point", conf));
		sweep_floors(pts, o, fp);
		finalize(pts, o, fp, fc, counts);
		json_object_set_new(cmp, "noise",
		                    json_pack("{s:f, s:f, s:f, s:f, s:f}", "scatter_k",
		                              o->scatter_k, "points_scatter", expm1(sp),
		                              "points_floor", fp, "cells_scatter", expm1(sc),
		                              "cells_floor", fc));
	}
	judge_acceptance(base, run, pts, counts);
	sort_points(pts);
	json_object_set_new(cmp, "points", pts);
	json_object_set_new(cmp, "missing_in_run", miss);
	json_object_set_new(cmp, "new_in_run", added);
	json_object_set_new(cmp, "counts",
	                    json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "regression",
	                              (json_int_t)counts[J_REGRESSION], "improvement",
	                              (json_int_t)counts[J_IMPROVEMENT], "inconclusive",
	                              (json_int_t)counts[J_INCONCLUSIVE], "unchanged",
	                              (json_int_t)counts[J_UNCHANGED], "missing_in_run",
	                              (json_int_t)json_array_size(miss), "new_in_run",
	                              (json_int_t)json_array_size(added), "excluded",
	                              (json_int_t)excluded));
	json_object_set_new(cmp, "verdict",
	                    json_string(counts[J_REGRESSION] ? "regression" : "ok"));
	*out = cmp;
	rc = 0;
done:
	free(sb.p);
	free(sr.p);
	json_decref(hb);
	json_decref(hr);
	return rc;
}

/* ---- printing ---- */

static void pct(char *buf, size_t len, double v)
{
	if (isnan(v))
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%+.1f%%", 100 * v);
}

void fsc_compare_print(FILE *f, const json_t *cmp)
{
	const json_t *pts = json_object_get(cmp, "points"), *p, *m = json_object_get(cmp, "method");
	const json_t *cnt = json_object_get(cmp, "counts"), *v;
	size_t i;

	fprintf(f, "# compare: baseline %s (%s) vs run %s (%s)\n",
	        fsc_json_str(json_object_get(cmp, "baseline"), "name", "?"),
	        fsc_json_str(json_object_get(cmp, "baseline"), "start_time", "?"),
	        fsc_json_str(json_object_get(cmp, "run"), "name", "?"),
	        fsc_json_str(json_object_get(cmp, "run"), "start_time", "?"));
	fprintf(f,
	        "# points: %.0f%% bootstrap CI of the ratio of medians (%.0f resamples), "
	        "simultaneous over %.0f points (%.2f%% each); matrix cells: rank test on the "
	        "repeats; min effect %.1f%%\n",
	        100 * fsc_json_num(m, "confidence"), fsc_json_num(m, "resamples"),
	        fsc_json_num(json_object_get(m, "simultaneous"), "points"),
	        100 * fsc_json_num(json_object_get(m, "simultaneous"), "confidence_point"),
	        100 * fsc_json_num(m, "min_effect"));
	json_array_foreach(pts, i, p)
	{
		const char *model = fsc_json_str(p, "noise_model", 0);

		if (!model)
			continue;
		if (!strcmp(model, "between baseline runs"))
			fprintf(f,
			        "# between runs: the CI is widened by the spread of the %.0f "
			        "baseline runs\n",
			        fsc_json_num(p, "baseline_runs"));
		else if (!strcmp(model, "between history runs"))
			fprintf(f,
			        "# between runs: one baseline run; the CI is widened by the spread "
			        "of the last %.0f runs of the history\n",
			        fsc_json_num(p, "history_runs"));
		else if (!strcmp(model, "within-run drift"))
			fprintf(f,
			        "# between runs: one baseline run; the CI is widened by the drift "
			        "inside the runs (a baseline of several runs sees more)\n");
		else
			fprintf(f,
			        "# between runs: not seen (no time-ordered blocks; a baseline of "
			        "several runs would see it)\n");
		break;
	}
	{
		const json_t *nz = json_object_get(cmp, "noise");
		double lo = INFINITY, hi = -INFINITY;

		json_array_foreach(pts, i, p)
		{
			double fl = fsc_json_num(p, "floor");

			if (isfinite(fl)) {
				lo = fmin(lo, fl);
				hi = fmax(hi, fl);
			}
		}
		if (isfinite(lo))
			fprintf(f,
			        "# noise: a point must move %.1f%% to %.1f%% to count (per sweep: "
			        "minimum "
			        "effect, or %g x the scatter of the run's points around each "
			        "sweep's "
			        "trend)",
			        100 * lo, 100 * hi, fsc_json_num(nz, "scatter_k"));
		else
			fprintf(f, "# noise: points must move %.1f%% to count",
			        100 * fsc_json_num(nz, "points_floor"));
		fprintf(f, "; matrix cells %.1f%%\n", 100 * fsc_json_num(nz, "cells_floor"));
	}
	fprintf(f, "# %-12s %-46s %22s %9s %9s\n", "judgement", "point", "p50 change [CI]", "p99",
	        "bw");
	json_array_foreach(pts, i, p)
	{
		const char *j = fsc_json_str(p, "judgement", "?");
		const json_t *ci = json_object_get(p, "p50_ci");
		char a[32], b[32], c[32], lo[32], hi[32], col[112];

		if (!strcmp(j, "unchanged"))
			continue;
		pct(a, sizeof(a), fsc_json_num(p, "p50_change"));
		pct(b, sizeof(b), fsc_json_num(p, "p99_change"));
		pct(c, sizeof(c), fsc_json_num(p, "bw_change"));
		if (json_is_array(ci)) {
			pct(lo, sizeof(lo), json_number_value(json_array_get(ci, 0)));
			pct(hi, sizeof(hi), json_number_value(json_array_get(ci, 1)));
			snprintf(col, sizeof(col), "%s [%s,%s]", a, lo, hi);
		} else {
			snprintf(col, sizeof(col), "%s", a);
		}
		fprintf(f, "  %-12s %-46s %22s %9s %9s", j, fsc_json_str(p, "key", "?"), col, b, c);
		if (json_object_get(p, "why"))
			fprintf(f, "  %s", fsc_json_str(p, "why", ""));
		fputc('\n', f);
	}
	fprintf(f, "# unchanged: %.0f points within noise or below the minimum effect\n",
	        fsc_json_num(cnt, "unchanged"));
	if (fsc_json_num(cnt, "excluded") > 0)
		fprintf(f,
		        "# not compared: %.0f (skipped on a side, or outside the common hosts)\n",
		        fsc_json_num(cnt, "excluded"));
	json_array_foreach(json_object_get(cmp, "missing_in_run"), i, v)
	        fprintf(f, "# missing in run: %s\n", json_string_value(v));
	json_array_foreach(json_object_get(cmp, "new_in_run"), i, v)
	        fprintf(f, "# new in run (not in baseline): %s\n", json_string_value(v));
	fprintf(f, "# verdict: %s (%.0f regressions, %.0f improvements, %.0f inconclusive)\n",
	        strcmp(fsc_json_str(cmp, "verdict", ""), "regression") ? "OK" : "REGRESSION",
	        fsc_json_num(cnt, "regression"), fsc_json_num(cnt, "improvement"),
	        fsc_json_num(cnt, "inconclusive"));
}

/* ---- Prometheus text format ---- */

static void prom_label(FILE *f, const char *v)
{
	for (; v && *v; v++) {
		if (*v == '\\' || *v == '"')
			fputc('\\', f);
		if (*v == '\n')
			fputs("\\n", f);
		else
			fputc(*v, f);
	}
}

static void prom_gauge(FILE *f, const char *name, const char *help, double v)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s gauge\n%s %.10g\n", name, help, name, name, v);
}

static int prom_writer(FILE *f, void *arg)
{
	const json_t *cmp = arg, *cnt = json_object_get(cmp, "counts"), *p;
	static const char *const fields[3] = {"p50_change", "p99_change", "bw_change"};
	static const char *const names[3] = {"fabscope_point_p50_change_ratio",
	                                     "fabscope_point_p99_change_ratio",
	                                     "fabscope_point_bw_change_ratio"};
	size_t i;

	prom_gauge(f, "fabscope_compare_regression", "1 when a regression was confirmed",
	           strcmp(fsc_json_str(cmp, "verdict", ""), "regression") ? 0 : 1);
	prom_gauge(f, "fabscope_compare_regressions", "points confirmed slower than the baseline",
	           fsc_json_num(cnt, "regression"));
	prom_gauge(f, "fabscope_compare_improvements", "points confirmed faster than the baseline",
	           fsc_json_num(cnt, "improvement"));
	prom_gauge(f, "fabscope_compare_inconclusive", "points that moved but not surely",
	           fsc_json_num(cnt, "inconclusive"));
	prom_gauge(f, "fabscope_compare_unchanged", "points within noise",
	           fsc_json_num(cnt, "unchanged"));
	prom_gauge(f, "fabscope_compare_missing_points", "baseline points the run lacks",
	           fsc_json_num(cnt, "missing_in_run"));
	prom_gauge(f, "fabscope_compare_noise_floor_ratio",
	           "smallest change of a point that counted in this comparison",
	           fsc_json_num(json_object_get(cmp, "noise"), "points_floor"));
	for (int m = 0; m < 3; m++) {
		fprintf(f,
		        "# HELP %s relative change against the baseline (run / baseline - 1)\n"
		        "# TYPE %s gauge\n",
		        names[m], names[m]);
		json_array_foreach(json_object_get(cmp, "points"), i, p)
		{
			double v = fsc_json_num(p, fields[m]);

			/* every point, but only the matrix cells that moved */
			if (!isfinite(v) ||
			    (json_object_get(p, "src") &&
			     !strcmp(fsc_json_str(p, "judgement", ""), "unchanged")))
				continue;
			fprintf(f, "%s{point=\"", names[m]);
			prom_label(f, fsc_json_str(p, "key", ""));
			fprintf(f, "\",judgement=\"%s\"} %.6g\n", fsc_json_str(p, "judgement", ""),
			        v);
		}
	}
	return ferror(f) ? -EIO : 0;
}

int fsc_compare_prom_write(const json_t *cmp, const char *path, char *err, size_t errlen)
{
	char failed[512];
	int rc = fsc_file_write_atomic(path, prom_writer, (void *)cmp, failed, sizeof(failed));

	if (rc)
		snprintf(err, errlen, "cannot write '%s': %s", failed, strerror(-rc));
	return rc;
}

/* ---- command ---- */

enum compare_fail_on { COMPARE_FAIL_ON_NONE, COMPARE_FAIL_ON_REGRESSION }; /* --fail-on */

/* The compare command's options, filled once by fsc_config_fill. */
struct compare_settings {
	double min_effect_pct, confidence_pct, scatter_k;
	int64_t resamples, seed, noise_runs;
	enum fsc_hosts_mode hosts;
	enum compare_fail_on fail_on;
	const char *json, *db, *prom; /* json, prom: NULL when not asked for */
	bool quiet;
};

static const struct fsc_opt compare_opts[] = {
        {"min-effect", 0, FSC_OPT_DOUBLE, "5",
         "smallest change that counts, in percent of the baseline", 0, 0.1, 1000,
         FSC_AT_DOUBLE(struct compare_settings, min_effect_pct)},
        {"confidence", 0, FSC_OPT_DOUBLE, "99",
         "confidence that noise alone flags nothing in the whole comparison, percent", 0, 50, 99.99,
         FSC_AT_DOUBLE(struct compare_settings, confidence_pct)},
        {"resamples", 0, FSC_OPT_INT, "2000", "bootstrap resamples", 0, 100, 1000000,
         FSC_AT_INT(struct compare_settings, resamples)},
        {"seed", 0, FSC_OPT_INT, "1", "bootstrap seed (same inputs, same answer)", 0, 0, 1e15,
         FSC_AT_INT(struct compare_settings, seed)},
        {"scatter-k", 0, FSC_OPT_DOUBLE, "3",
         "a change must also exceed this many robust scatters of all matched points' "
         "changes (0: off)",
         0, 0, 100, FSC_AT_DOUBLE(struct compare_settings, scatter_k)},
        {"hosts", 0, FSC_OPT_CHOICE, "must-match",
         "runs on different host sets: refuse, compare the common hosts, or compare anyway",
         "must-match|intersect|ignore", 0, 0, FSC_AT_CHOICE(struct compare_settings, hosts)},
        {"fail-on", 0, FSC_OPT_CHOICE, "none", "exit 1 on a confirmed regression",
         "none|regression", 0, 0, FSC_AT_CHOICE(struct compare_settings, fail_on)},
        {"json", 0, FSC_OPT_STRING, 0, "write the comparison as JSON to this file", 0, 0, 0,
         FSC_AT_STRING(struct compare_settings, json)},
        {"db", 0, FSC_OPT_STRING, "fabscope-history.db", "history database for history:...", 0, 0,
         0, FSC_AT_STRING(struct compare_settings, db)},
        {"noise-runs", 0, FSC_OPT_INT, FSC_COMPARE_NOISE_RUNS_DEFAULT,
         "history:baseline: how many recent runs of the history measure the noise between "
         "two runs (0: only the drift inside the runs)",
         0, 0, 64, FSC_AT_INT(struct compare_settings, noise_runs)},
        {"prom", 0, FSC_OPT_STRING, 0,
         "also write the comparison in Prometheus text format to this file (node_exporter "
         "textfile collector)",
         0, 0, 0, FSC_AT_STRING(struct compare_settings, prom)},
        {"quiet", 'q', FSC_OPT_FLAG, 0, "no table on the terminal", 0, 0, 0,
         FSC_AT_FLAG(struct compare_settings, quiet)},
        {0},
};

int fsc_compare_load(const char *spec, const char *db, const json_t *run, int noise_runs,
                     json_t **doc, char *err, size_t errlen)
{
	json_error_t je;

	size_t n = strlen(spec), m = strlen(FSC_RESULTS_STREAM_SUFFIX);

	if (!strncmp(spec, "history:", 8))
		return fsc_history_baseline_doc(db, spec, run, noise_runs, doc, err, errlen);
	if (n > m && !strcmp(spec + n - m, FSC_RESULTS_STREAM_SUFFIX))
		return fsc_results_load(spec, doc, err, errlen); /* a killed run's stream */
	*doc = json_load_file(spec, 0, &je);
	if (!*doc) {
		snprintf(err, errlen, "cannot read results '%s': %s", spec, je.text);
		return -EINVAL;
	}
	if (!json_is_string(json_object_get(*doc, "schema")) ||
	    strncmp(fsc_json_str(*doc, "schema", ""), "fabscope-results/", 17)) {
		snprintf(err, errlen, "'%s' is not a fabscope results file (no \"schema\")", spec);
		json_decref(*doc);
		*doc = 0;
		return -EINVAL;
	}
	return 0;
}

/* The baseline of `compare B... RUN`: one results file or history spec, or
 * several results files of the same schema merged by
 * fsc_history_median_doc (each point the median run's record, with what
 * all of them say about the noise between runs). */
static int load_baselines(char **specs, int n, const char *db, const json_t *run, int noise_runs,
                          json_t **out, char *err, size_t errlen)
{
	json_t *docs[64];
	int got = 0, rc = 0;

	*out = 0;
	if (n == 1)
		return fsc_compare_load(specs[0], db, run, noise_runs, out, err, errlen);
	for (; got < n && !rc; got++) {
		if (!strncmp(specs[got], "history:", 8)) {
			snprintf(err, errlen,
			         "invalid baseline '%s' among several: give results files, or "
			         "history:median-of-last:N alone",
			         specs[got]);
			rc = -EINVAL;
			break;
		}
		rc = fsc_compare_load(specs[got], db, 0, 0, &docs[got], err, errlen);
		if (rc)
			break;
		if (got && strcmp(fsc_json_str(docs[got], "schema", ""),
		                  fsc_json_str(docs[0], "schema", ""))) {
			snprintf(err, errlen,
			         "cannot merge baselines of different schema versions: '%s' is %s, "
			         "'%s' is %s",
			         specs[0], fsc_json_str(docs[0], "schema", ""), specs[got],
			         fsc_json_str(docs[got], "schema", ""));
			rc = -EINVAL;
			got++;
			break;
		}
	}
	if (!rc)
		*out = fsc_history_median_doc(docs, n);
	for (int k = 0; k < got; k++)
		json_decref(docs[k]);
	return rc;
}

int fsc_compare_main(int argc, char **argv)
{
	struct fsc_opt_group g = {"compare options", compare_opts};
	struct fsc_compare_opts o;
	struct fsc_config *cfg = 0;
	json_t *base = 0, *run = 0, *cmp = 0;
	char err[1024] = "";
	int optind_out = 0, rc = FSC_EXIT_USAGE, nbase;
	char base_name[1100];
	struct compare_settings set;

	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			printf("usage: fabscope compare [options] BASELINE... RUN\n"
			       "BASELINE: a results file, history:baseline or "
			       "history:median-of-last:N (with --db), or several results "
			       "files (a baseline of several runs)\n\n");
			fsc_config_help(stdout, &g, 1);
			return FSC_EXIT_OK;
		}
	if (fsc_config_parse(&cfg, &g, 1, argc, argv, &optind_out, err, sizeof(err)))
		goto usage;
	if (argc - optind_out < 2 || argc - optind_out > 65) {
		snprintf(err, sizeof(err),
		         "compare takes BASELINE... RUN: 1 to 64 baselines and a run (got %d "
		         "results; see compare --help)",
		         argc - optind_out);
		goto usage;
	}
	if (fsc_config_fill(cfg, compare_opts, &set, err, sizeof(err)))
		goto usage;
	fsc_compare_opts_default(&o);
	o.min_effect = set.min_effect_pct / 100;
	o.confidence = set.confidence_pct / 100;
	o.resamples = (unsigned)set.resamples;
	o.seed = (uint64_t)set.seed;
	o.scatter_k = set.scatter_k;
	o.hosts = set.hosts;
	nbase = argc - optind_out - 1;
	if (nbase == 1)
		snprintf(base_name, sizeof(base_name), "%s", argv[optind_out]);
	else
		snprintf(base_name, sizeof(base_name), "%s and %d more runs", argv[optind_out],
		         nbase - 1);
	if (fsc_compare_load(argv[argc - 1], set.db, 0, 0, &run, err, sizeof(err)) ||
	    load_baselines(argv + optind_out, nbase, set.db, run, (int)set.noise_runs, &base, err,
	                   sizeof(err)) ||
	    fsc_compare_docs(base, run, base_name, argv[argc - 1], &o, &cmp, err, sizeof(err)))
		goto usage;
	if (!set.quiet)
		fsc_compare_print(stdout, cmp);
	if (set.json && fsc_json_write_atomic(cmp, set.json)) {
		rc = FSC_EXIT_USAGE;
		goto out;
	}
	if (set.prom && fsc_compare_prom_write(cmp, set.prom, err, sizeof(err)))
		goto usage;
	rc = set.fail_on == COMPARE_FAIL_ON_REGRESSION &&
	                     !strcmp(fsc_json_str(cmp, "verdict", ""), "regression")
	             ? FSC_EXIT_FAIL
	             : FSC_EXIT_OK;
	goto out;
usage:
	fprintf(stderr, "fabscope: error: %s\n", err);
	rc = FSC_EXIT_USAGE;
out:
	json_decref(base);
	json_decref(run);
	json_decref(cmp);
	fsc_config_free(cfg);
	return rc;
}
