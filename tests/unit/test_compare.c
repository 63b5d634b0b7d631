/* compare: bootstrap, matching, judgement, refusals. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compare.h"
#include "fsc_version.h"
#include "history.h"
#include "results.h"
#include "samples.h"

/* Deterministic noise: xorshift, uniform in [0, 1). */
static double unif(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return (double)(*s >> 11) * 0x1.0p-53;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* A record of `n` samples around t_ns with +-3% uniform noise and a tail. */
static json_t *point(const char *pattern, double bytes, double t_ns, size_t n, uint64_t seed)
{
	double *v = malloc(n * sizeof(*v));
	json_t *rec;

	for (size_t i = 0; i < n; i++) {
		double u = unif(&seed);

		v[i] = t_ns * (0.97 + 0.06 * unif(&seed)) * (u > 0.98 ? 3 : 1);
	}
	qsort(v, n, sizeof(*v), cmp_d);
	rec = json_pack("{s:s, s:s, s:s, s:f, s:s, s:{s:f, s:f}, s:f}", "fabric", "mpi", "pattern",
	                pattern, "impl", "uni", "bytes", bytes, "status", "ok", "time_us", "p50",
	                v[n / 2] / 1e3, "p99", v[n * 99 / 100] / 1e3, "algbw_GBps",
	                bytes / v[n / 2]);
	json_object_set_new(rec, "samples", fsc_samples_to_json(v, n, FSC_SAMPLES_KEEP));
	free(v);
	return rec;
}

static json_t *doc(const char *schema, int nhosts)
{
	json_t *hosts = json_array();

	for (int i = 0; i < nhosts; i++) {
		char name[16];

		snprintf(name, sizeof(name), "h%d", i);
		json_array_append_new(hosts, json_pack("{s:s}", "name", name));
	}
	return json_pack("{s:s, s:s, s:{s:o, s:s}, s:[]}", "schema", schema, "status", "complete",
	                 "meta", "hosts", hosts, "start_time", "2026-01-01T00:00:00Z", "records");
}

/* A sweep of 8 sizes, each point's times drawn with its own seed. */
static json_t *sweep(uint64_t seed, int slow_index, double slow_factor)
{
	json_t *d = doc(FSC_RESULTS_SCHEMA, 2);

	for (int i = 0; i < 8; i++) {
		double bytes = 1024.0 * (1 << i);
		double t = 2000 + bytes / 5.0;

		if (i == slow_index)
			t /= slow_factor; /* bandwidth x factor */
		json_array_append_new(
		        json_object_get(d, "records"),
		        point("bandwidth", bytes, t, 400, seed * 1000 + (uint64_t)i + 1));
	}
	return d;
}

static json_t *matrix(const char *const *labels, int n, int si, int sj, double factor, double jit)
{
	json_t *bw = json_array(), *mn = json_array(), *mx = json_array(), *lab = json_array();

	for (int i = 0; i < n; i++) {
		json_t *a = json_array(), *b = json_array(), *c = json_array();

		json_array_append_new(lab, json_string(labels[i]));
		for (int j = 0; j < n; j++) {
			/* a little deterministic spread between cells */
			double v = 2.0 * (1 + jit * (((i * 7 + j * 3) % 5) - 2) / 2.0);

			if (i == si && j == sj)
				v *= factor;
			json_array_append_new(a, i == j ? json_null() : json_real(v));
			json_array_append_new(b, i == j ? json_null() : json_real(v * 0.98));
			json_array_append_new(c, i == j ? json_null() : json_real(v * 1.02));
		}
		json_array_append_new(bw, a);
		json_array_append_new(mn, b);
		json_array_append_new(mx, c);
	}
	return json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:i}", "fabric", "mpi",
	                 "pattern", "pairs", "impl", "", "status", "ok", "labels", lab, "bw_GBps",
	                 bw, "bw_min_GBps", mn, "bw_max_GBps", mx, "repeats", 5);
}

static json_t *compare(const json_t *a, const json_t *b, const struct fsc_compare_opts *o)
{
	struct fsc_compare_opts def;
	char err[512];
	json_t *cmp = 0;

	if (!o) {
		fsc_compare_opts_default(&def);
		o = &def;
	}
	assert_int_equal(fsc_compare_docs(a, b, "a", "b", o, &cmp, err, sizeof(err)), 0);
	return cmp;
}

static int count(const json_t *cmp, const char *what)
{
	return (int)json_integer_value(json_object_get(json_object_get(cmp, "counts"), what));
}

static void fsc_compare_bootstrap__same_sample_interval_holds_one(void **state)
{
	double v[200], r, lo, hi;
	uint64_t s = 7;

	(void)state;
	for (int i = 0; i < 200; i++)
		v[i] = 10 + unif(&s);
	qsort(v, 200, sizeof(*v), cmp_d);
	assert_int_equal(fsc_compare_bootstrap(v, 200, v, 200, 50, 1000, 0.95, 1, &r, &lo, &hi), 0);
	assert_true(r == 1.0);
	assert_true(lo < 1.0 && hi > 1.0);
	assert_true(lo > 0.97 && hi < 1.03);
}

static void fsc_compare_bootstrap__shift_is_found_with_its_interval(void **state)
{
	double a[300], b[300], r, lo, hi;
	uint64_t s = 11;

	(void)state;
	for (int i = 0; i < 300; i++) {
		a[i] = 10 * (0.97 + 0.06 * unif(&s));
		b[i] = 12 * (0.97 + 0.06 * unif(&s));
	}
	qsort(a, 300, sizeof(*a), cmp_d);
	qsort(b, 300, sizeof(*b), cmp_d);
	assert_int_equal(fsc_compare_bootstrap(a, 300, b, 300, 50, 2000, 0.95, 3, &r, &lo, &hi), 0);
	assert_float_equal(r, 1.2, 0.01);
	assert_true(lo > 1.18 && hi < 1.22 && lo <= r && r <= hi);
	assert_int_equal(fsc_compare_bootstrap(a, 0, b, 300, 50, 10, 0.95, 3, &r, &lo, &hi),
	                 -EINVAL);
}

static void fsc_compare_docs__identical_runs_flag_nothing(void **state)
{
	json_t *a = sweep(1, -1, 1), *cmp;

	json_array_append_new(
	        json_object_get(a, "records"),
	        matrix((const char *const[]){"h0", "h1", "h2", "h3"}, 4, -1, -1, 1, 0.02));
	(void)state;
	cmp = compare(a, a, 0);
	assert_int_equal(count(cmp, "regression"), 0);
	assert_int_equal(count(cmp, "improvement"), 0);
	assert_int_equal(count(cmp, "inconclusive"), 0);
	assert_int_equal(count(cmp, "unchanged"), 8 + 12);
	assert_int_equal(count(cmp, "missing_in_run"), 0);
	assert_string_equal(json_string_value(json_object_get(cmp, "verdict")), "ok");
	json_decref(cmp);
	json_decref(a);
}

static void fsc_compare_docs__independent_noise_flags_nothing(void **state)
{
	(void)state;
	/* ten pairs of independent draws from the same distributions */
	for (uint64_t k = 0; k < 10; k++) {
		json_t *a = sweep(2 * k + 1, -1, 1), *b = sweep(2 * k + 2, -1, 1);
		json_t *cmp = compare(a, b, 0);

		assert_int_equal(count(cmp, "regression"), 0);
		assert_int_equal(count(cmp, "improvement"), 0);
		json_decref(cmp);
		json_decref(a);
		json_decref(b);
	}
}

static void fsc_compare_docs__ten_percent_loss_at_one_size_is_flagged_there(void **state)
{
	json_t *a = sweep(1, -1, 1), *b = sweep(2, 5, 0.9), *cmp, *p;

	(void)state;
	cmp = compare(a, b, 0);
	assert_int_equal(count(cmp, "regression"), 1);
	assert_int_equal(count(cmp, "improvement"), 0);
	p = json_array_get(json_object_get(cmp, "points"), 0); /* regressions first */
	assert_string_equal(json_string_value(json_object_get(p, "judgement")), "regression");
	assert_true(json_number_value(json_object_get(p, "bytes")) == 1024.0 * 32);
	assert_float_equal(json_number_value(json_object_get(p, "bw_change")), -0.10, 0.02);
	assert_string_equal(json_string_value(json_object_get(cmp, "verdict")), "regression");
	json_decref(cmp);
	json_decref(a);
	json_decref(b);
}

static void fsc_compare_docs__slow_matrix_cell_is_flagged_exactly(void **state)
{
	const char *const l[] = {"h0", "h1", "h2", "h3"};
	json_t *a = doc(FSC_RESULTS_SCHEMA, 4), *b = doc(FSC_RESULTS_SCHEMA, 4), *cmp, *p;

	(void)state;
	json_array_append_new(json_object_get(a, "records"), matrix(l, 4, -1, -1, 1, 0.02));
	json_array_append_new(json_object_get(b, "records"), matrix(l, 4, 2, 1, 0.9, 0.02));
	cmp = compare(a, b, 0);
	assert_int_equal(count(cmp, "regression"), 1);
	assert_int_equal(count(cmp, "unchanged"), 11);
	p = json_array_get(json_object_get(cmp, "points"), 0);
	assert_string_equal(json_string_value(json_object_get(p, "src")), "h2");
	assert_string_equal(json_string_value(json_object_get(p, "dst")), "h1");
	assert_float_equal(json_number_value(json_object_get(p, "bw_change")), -0.10, 1e-9);
	json_decref(cmp);
	json_decref(a);
	json_decref(b);
}

static void fsc_compare_docs__loss_growing_with_size_is_flagged(void **state)
{
	json_t *a = sweep(1, -1, 1), *b = sweep(2, -1, 1), *cmp, *p;
	size_t i;
	json_t *rec;

	(void)state;
	/* large messages lost up to 10% of their bandwidth, small ones
	 * nothing: a ramp over the sizes, not scatter */
	json_array_foreach(json_object_get(b, "records"), i, rec)
	{
		json_t *v = json_object_get(json_object_get(rec, "samples"), "values_us");
		double f = 1 + 0.11 * (double)i / 7;
		size_t k;
		json_t *x;

		json_array_foreach(v, k, x) json_real_set(x, json_real_value(x) * f);
	}
	cmp = compare(a, b, 0);
	/* the sizes whose loss reaches the 5% minimum effect: i >= 4 */
	assert_int_equal(count(cmp, "regression"), 4);
	p = json_array_get(json_object_get(cmp, "points"), 0);
	assert_true(json_number_value(json_object_get(p, "bytes")) == 1024.0 * 128);
	json_decref(cmp);
	json_decref(a);
	json_decref(b);
}

static void fsc_compare_docs__machine_wide_scatter_raises_the_floor(void **state)
{
	json_t *a = sweep(1, -1, 1), *b = sweep(2, -1, 1), *cmp;
	size_t i;
	json_t *rec;

	(void)state;
	/* the run's points scatter by +-20% (a loaded machine): a 10% move of
	 * one of them is inside that noise */
	json_array_foreach(json_object_get(b, "records"), i, rec)
	{
		json_t *v = json_object_get(json_object_get(rec, "samples"), "values_us");
		double f = (i % 2 ? 1.2 : 0.83) * (i == 3 ? 1.0 / 0.9 : 1);
		size_t k;
		json_t *x;

		json_array_foreach(v, k, x) json_real_set(x, json_real_value(x) * f);
	}
	cmp = compare(a, b, 0);
	assert_true(json_number_value(
	                    json_object_get(json_object_get(cmp, "noise"), "points_floor")) > 0.3);
	assert_int_equal(count(cmp, "regression"), 0);
	json_decref(cmp);
	json_decref(a);
	json_decref(b);
}

static void fsc_compare_t_quantile__matches_the_tables(void **state)
{
	(void)state;
	assert_float_equal(fsc_compare_t_quantile(0.95, 0), 1.95996, 1e-4);
	assert_float_equal(fsc_compare_t_quantile(0.95, 1), 12.7062, 1e-3);
	assert_float_equal(fsc_compare_t_quantile(0.95, 2), 4.3027, 1e-3);
	assert_float_equal(fsc_compare_t_quantile(0.95, 4), 2.7764, 1e-3);
	assert_float_equal(fsc_compare_t_quantile(0.99, 5), 4.0321, 1e-3);
	assert_float_equal(fsc_compare_t_quantile(0.95, 10), 2.2281, 1e-3);
	assert_float_equal(fsc_compare_t_quantile(0.90, 30), 1.6973, 1e-3);
	assert_float_equal(fsc_compare_t_quantile(0.95, 100000), 1.95996, 1e-4);
}

/* Every sample of every point of d times f: a run whose whole level moved. */
static json_t *scaled(json_t *d, double f)
{
	size_t i, k;
	json_t *rec, *x;

	json_array_foreach(json_object_get(d, "records"), i, rec)
	{
		json_array_foreach(json_object_get(json_object_get(rec, "samples"), "values_us"), k,
		                   x) json_real_set(x, json_real_value(x) * f);
	}
	return d;
}

/* Block medians (time order) around each point's median, wandering by
 * `amp` the way a shared machine's level wanders during a run. */
static json_t *with_blocks(json_t *d, double amp)
{
	static const double wave[8] = {0, 1, -0.9, 0.7, -0.6, 0.8, -0.8, 0.1};
	size_t i;
	json_t *rec;

	json_array_foreach(json_object_get(d, "records"), i, rec)
	{
		json_t *s = json_object_get(rec, "samples"), *b = json_array();
		const json_t *v = json_object_get(s, "values_us");
		double med = json_real_value(json_array_get(v, json_array_size(v) / 2));

		for (int k = 0; k < 8; k++)
			json_array_append_new(b, json_real(med * (1 + amp * wave[k])));
		json_object_set_new(s, "blocks_us", b);
	}
	return d;
}

/* The baseline of several runs, as history:median-of-last:N builds it. */
static json_t *baseline_of(json_t **runs, int n)
{
	json_t *m = fsc_history_median_doc(runs, n);

	for (int i = 0; i < n; i++)
		json_decref(runs[i]);
	return m;
}

static void
fsc_compare_docs__whole_run_shift_inside_the_baseline_runs_spread_flags_nothing(void **state)
{
	static const double level[5] = {1.0, 1.10, 0.92, 1.05, 0.96};
	json_t *runs[5], *base, *run = scaled(sweep(9, -1, 1), 1.12), *cmp, *p;
	json_t *one = sweep(1, -1, 1);

	(void)state;
	for (int i = 0; i < 5; i++)
		runs[i] = scaled(sweep((uint64_t)i + 1, -1, 1), level[i]);
	/* one baseline run cannot tell a run-wide 12% from a loss */
	cmp = compare(one, run, 0);
	assert_int_equal(count(cmp, "regression"), 8);
	json_decref(cmp);
	/* five runs that differ by as much themselves can */
	base = baseline_of(runs, 5);
	cmp = compare(base, run, 0);
	assert_int_equal(count(cmp, "regression"), 0);
	assert_int_equal(count(cmp, "improvement"), 0);
	p = json_array_get(json_object_get(cmp, "points"), 0);
	assert_string_equal(json_string_value(json_object_get(p, "noise_model")),
	                    "between baseline runs");
	assert_int_equal(json_integer_value(json_object_get(p, "baseline_runs")), 5);
	assert_int_equal(json_integer_value(json_object_get(p, "df")), 4);
	assert_float_equal(json_number_value(json_object_get(p, "between_sd")), 0.07, 0.02);
	json_decref(cmp);
	json_decref(base);
	json_decref(run);
	json_decref(one);
}

static void
fsc_compare_docs__ten_percent_loss_against_quiet_baseline_runs_is_flagged_there(void **state)
{
	static const double level[5] = {1.0, 1.01, 0.99, 1.005, 0.995};
	json_t *runs[5], *base, *run = sweep(9, 5, 0.9), *cmp, *p;

	(void)state;
	for (int i = 0; i < 5; i++)
		runs[i] = scaled(sweep((uint64_t)i + 1, -1, 1), level[i]);
	base = baseline_of(runs, 5);
	cmp = compare(base, run, 0);
	assert_int_equal(count(cmp, "regression"), 1);
	assert_int_equal(count(cmp, "improvement"), 0);
	p = json_array_get(json_object_get(cmp, "points"), 0);
	assert_string_equal(json_string_value(json_object_get(p, "judgement")), "regression");
	assert_true(json_number_value(json_object_get(p, "bytes")) == 1024.0 * 32);
	assert_string_equal(json_string_value(json_object_get(p, "noise_model")),
	                    "between baseline runs");
	assert_float_equal(json_number_value(json_object_get(p, "bw_change")), -0.10, 0.02);
	json_decref(cmp);
	json_decref(base);
	json_decref(run);
}

/* Every sample of record `keep` left as it is, every other record's times f. */
static json_t *scaled_but(json_t *d, double f, size_t keep)
{
	size_t i, k;
	json_t *rec, *x;

	json_array_foreach(json_object_get(d, "records"), i, rec)
	{
		if (i == keep)
			continue;
		json_array_foreach(json_object_get(json_object_get(rec, "samples"), "values_us"), k,
		                   x) json_real_set(x, json_real_value(x) * f);
	}
	return d;
}

static void fsc_compare_docs__point_whose_baseline_runs_agreed_by_chance_takes_its_neighbours_noise(
        void **state)
{
	static const double level[5] = {1.0, 1.10, 0.92, 1.05, 0.96};
	json_t *runs[5], *base, *cmp, *p = 0, *x;
	/* the run is 12% slower at 16 KiB only, where the five baseline runs
	 * happened to agree while every other point moved with its run */
	json_t *run = sweep(9, 4, 1 / 1.12);
	size_t i;

	(void)state;
	for (int r = 0; r < 5; r++)
		runs[r] = scaled_but(sweep((uint64_t)r + 1, -1, 1), level[r], 4);
	base = baseline_of(runs, 5);
	cmp = compare(base, run, 0);
	assert_int_equal(count(cmp, "regression"), 0);
	json_array_foreach(json_object_get(cmp, "points"), i,
	                   x) if (fsc_json_num(x, "bytes") == 1024.0 * 16) p = x;
	assert_non_null(p);
	/* its own estimate is near zero; the pooled one is the runs' spread */
	assert_true(fsc_json_num(p, "between_sd_point") < 0.02);
	assert_float_equal(fsc_json_num(p, "between_sd_pooled"), 0.07, 0.02);
	assert_float_equal(fsc_json_num(p, "between_sd"), fsc_json_num(p, "between_sd_pooled"),
	                   1e-12);
	json_decref(cmp);
	json_decref(base);
	json_decref(run);
}

/* The slowest `frac` of every point's samples stalled 1000 times longer: a
 * run whose median is itself uncertain. */
static json_t *stalled(json_t *d, double frac)
{
	size_t i, k;
	json_t *rec, *x;

	json_array_foreach(json_object_get(d, "records"), i, rec)
	{
		json_t *v = json_object_get(json_object_get(rec, "samples"), "values_us");
		size_t n = json_array_size(v);

		json_array_foreach(v, k, x) if ((double)k >= (1 - frac) * (double)n)
		        json_real_set(x, json_real_value(x) * 1000);
	}
	return d;
}

static void
fsc_compare_docs__one_uncertain_baseline_run_does_not_cancel_the_others_spread(void **state)
{
	static const double level[5] = {1.0, 1.06, 0.95, 1.03, 0.97};
	json_t *runs[5], *base, *run = scaled(sweep(9, -1, 1), 1.08), *cmp, *p;

	(void)state;
	for (int i = 0; i < 5; i++)
		runs[i] = scaled(sweep((uint64_t)i + 1, -1, 1), level[i]);
	/* 48% of its samples stalled: its median's interval spans 1000x */
	stalled(runs[1], 0.48);
	base = baseline_of(runs, 5);
	cmp = compare(base, run, 0);
	/* the five nights spread from 0.95 to 1.06: a run-wide 8% is no
	 * evidence, whatever the stalled night's own uncertainty */
	assert_int_equal(count(cmp, "regression"), 0);
	p = json_array_get(json_object_get(cmp, "points"), 0);
	assert_string_equal(fsc_json_str(p, "noise_model", ""), "between baseline runs");
	assert_float_equal(fsc_json_num(p, "between_sd_point"), 0.043, 0.01);
	json_decref(cmp);
	json_decref(base);
	json_decref(run);
}

static void fsc_compare_docs__drift_inside_single_runs_widens_the_interval(void **state)
{
	json_t *a = with_blocks(sweep(1, -1, 1), 0.15);
	json_t *b = with_blocks(scaled(sweep(2, -1, 1), 1.12), 0.15), *cmp, *p;

	(void)state;
	/* both runs' levels wandered by +-15% while they ran: a run-wide 12%
	 * between them is no evidence */
	cmp = compare(a, b, 0);
	assert_int_equal(count(cmp, "regression"), 0);
	p = json_array_get(json_object_get(cmp, "points"), 0);
	assert_string_equal(json_string_value(json_object_get(p, "noise_model")),
	                    "within-run drift");
	assert_int_equal(json_integer_value(json_object_get(p, "df")), 14);
	json_decref(cmp);
	json_decref(a);
	json_decref(b);
	/* steady runs: the same 12% is a regression at every size */
	a = with_blocks(sweep(1, -1, 1), 0);
	b = with_blocks(scaled(sweep(2, -1, 1), 1.12), 0);
	cmp = compare(a, b, 0);
	assert_int_equal(count(cmp, "regression"), 8);
	json_decref(cmp);
	json_decref(a);
	json_decref(b);
}

static void fsc_compare_docs__matrix_cell_judged_against_every_baseline_run(void **state)
{
	const char *const l[] = {"h0", "h1", "h2", "h3"};
	static const double link[5] = {1.0, 0.9, 0.95, 1.02, 0.88};
	json_t *runs[5], *quiet[5], *base, *run, *cmp, *p;

	(void)state;
	/* the link h2->h1 measured 0.88 to 1.02 of its nominal over 5 nights */
	for (int i = 0; i < 5; i++) {
		runs[i] = doc(FSC_RESULTS_SCHEMA, 4);
		json_array_append_new(json_object_get(runs[i], "records"),
		                      matrix(l, 4, 2, 1, link[i], 0.02));
		quiet[i] = doc(FSC_RESULTS_SCHEMA, 4);
		json_array_append_new(json_object_get(quiet[i], "records"),
		                      matrix(l, 4, -1, -1, 1, 0.02));
		/* kept past baseline_of, for the marked night below */
		json_incref(runs[i]);
		json_incref(quiet[i]);
	}
	run = doc(FSC_RESULTS_SCHEMA, 4);
	json_array_append_new(json_object_get(run, "records"), matrix(l, 4, 2, 1, 0.86, 0.02));
	/* one of those nights alone convicts tonight's 0.86 */
	cmp = compare(runs[0], run, 0);
	assert_int_equal(count(cmp, "regression"), 1);
	json_decref(cmp);
	/* all five do not: 0.86 is inside what the link did before */
	base = baseline_of(runs, 5);
	cmp = compare(base, run, 0);
	assert_int_equal(count(cmp, "regression"), 0);
	assert_int_equal(count(cmp, "unchanged"), 12);
	json_decref(cmp);
	json_decref(base);
	/* five steady nights do, exactly on that cell, and more surely */
	base = baseline_of(quiet, 5);
	cmp = compare(base, run, 0);
	assert_int_equal(count(cmp, "regression"), 1);
	p = json_array_get(json_object_get(cmp, "points"), 0);
	assert_string_equal(json_string_value(json_object_get(p, "src")), "h2");
	assert_string_equal(json_string_value(json_object_get(p, "dst")), "h1");
	assert_int_equal(json_integer_value(json_object_get(p, "baseline_runs")), 5);
	/* all 5 of the run below all 25 of the baseline: 2 / C(30, 5) */
	assert_float_equal(json_number_value(json_object_get(p, "p_value")), 2.0 / 142506, 1e-9);
	json_decref(cmp);
	json_decref(base);
	/* one marked night with the five as its history: the same answers */
	base = json_deep_copy(runs[0]);
	fsc_history_attach_noise(base, runs, 5);
	cmp = compare(base, run, 0);
	assert_int_equal(count(cmp, "regression"), 0);
	json_decref(cmp);
	json_decref(base);
	base = json_deep_copy(quiet[0]);
	fsc_history_attach_noise(base, quiet, 5);
	cmp = compare(base, run, 0);
	assert_int_equal(count(cmp, "regression"), 1);
	p = json_array_get(json_object_get(cmp, "points"), 0);
	assert_string_equal(json_string_value(json_object_get(p, "src")), "h2");
	assert_int_equal(json_integer_value(json_object_get(p, "history_runs")), 5);
	json_decref(cmp);
	json_decref(base);
	for (int i = 0; i < 5; i++) {
		json_decref(runs[i]);
		json_decref(quiet[i]);
	}
	json_decref(run);
}

/* n latency points of 200 samples spread +-30% around 10 us (a median known
 * to about 2%); point 0's times multiplied by f. */
static json_t *family(int n, double f)
{
	json_t *d = doc(FSC_RESULTS_SCHEMA, 2);

	for (int i = 0; i < n; i++) {
		uint64_t seed = 77 + (uint64_t)i;
		double v[200];
		json_t *rec;

		for (int k = 0; k < 200; k++)
			v[k] = 1e4 * (0.7 + 0.6 * unif(&seed)) * (i == 0 ? f : 1);
		qsort(v, 200, sizeof(*v), cmp_d);
		rec = json_pack("{s:s, s:s, s:s, s:f, s:s, s:{s:f, s:f}}", "fabric", "mpi",
		                "pattern", "latency", "impl", "pingpong", "bytes", 8.0 * (i + 1),
		                "status", "ok", "time_us", "p50", v[100] / 1e3, "p99",
		                v[198] / 1e3);
		json_object_set_new(rec, "samples", fsc_samples_to_json(v, 200, FSC_SAMPLES_KEEP));
		json_array_append_new(json_object_get(d, "records"), rec);
	}
	return d;
}

static const json_t *point_of(const json_t *cmp, double bytes)
{
	size_t i;
	const json_t *x;

	json_array_foreach(json_object_get(cmp, "points"), i,
	                   x) if (fsc_json_num(x, "bytes") == bytes) return x;
	fail_msg("no point of %g bytes", bytes);
	return 0;
}

static void fsc_compare_docs__intervals_are_simultaneous_over_the_points(void **state)
{
	struct fsc_compare_opts o;
	json_t *a1 = family(1, 1), *b1 = family(1, 1.08), *a40 = family(40, 1),
	       *b40 = family(40, 1.08), *b40big = family(40, 1.3), *cmp1, *cmp40;
	const json_t *p1, *p40;
	double h1, h40;

	(void)state;
	fsc_compare_opts_default(&o);
	o.scatter_k = 0;     /* the intervals alone */
	o.confidence = 0.95; /* over the comparison */
	/* alone, an 8% change well outside its 95% interval is a regression */
	cmp1 = compare(a1, b1, &o);
	p1 = point_of(cmp1, 8);
	assert_string_equal(fsc_json_str(p1, "judgement", ""), "regression");
	assert_int_equal(
	        fsc_json_num(json_object_get(json_object_get(cmp1, "method"), "simultaneous"),
	                     "points"),
	        1);
	/* one of 40 points, it needs the 99.875% interval: a 1-in-40 chance at
	 * 95% per point is what noise gives somewhere in every other run */
	cmp40 = compare(a40, b40, &o);
	p40 = point_of(cmp40, 8);
	assert_string_equal(fsc_json_str(p40, "judgement", ""), "inconclusive");
	assert_int_equal(count(cmp40, "regression"), 0);
	assert_int_equal(count(cmp40, "unchanged"), 39);
	assert_float_equal(
	        fsc_json_num(json_object_get(json_object_get(cmp40, "method"), "simultaneous"),
	                     "confidence_point"),
	        1 - 0.05 / 40, 1e-12);
	/* the same point's interval, on the log scale, is wider by the ratio of
	 * the quantiles: 3.227 / 1.960 */
	h1 = log1p(json_number_value(json_array_get(json_object_get(p1, "p50_ci"), 1))) -
	     log1p(json_number_value(json_array_get(json_object_get(p1, "p50_ci"), 0)));
	h40 = log1p(json_number_value(json_array_get(json_object_get(p40, "p50_ci"), 1))) -
	      log1p(json_number_value(json_array_get(json_object_get(p40, "p50_ci"), 0)));
	assert_float_equal(h40 / h1, 3.2272 / 1.9600, 0.15);
	json_decref(cmp40);
	/* a 30% loss is still found among 40 */
	cmp40 = compare(a40, b40big, &o);
	assert_int_equal(count(cmp40, "regression"), 1);
	assert_string_equal(fsc_json_str(point_of(cmp40, 8), "judgement", ""), "regression");
	json_decref(cmp40);
	json_decref(cmp1);
	json_decref(a1);
	json_decref(b1);
	json_decref(a40);
	json_decref(b40);
	json_decref(b40big);
}

/* A marked baseline run with the recent runs of its history: their spread
 * is the noise between two runs. */
static void fsc_compare_docs__marked_baseline_takes_the_noise_of_the_history_runs(void **state)
{
	static const double noisy[5] = {1.0, 1.10, 0.92, 1.05, 0.96},
	                    quiet[5] = {1.0, 1.01, 0.99, 1.005, 0.995};
	const double *levels[2] = {noisy, quiet};

	(void)state;
	for (int q = 0; q < 2; q++) {
		json_t *hist[5], *base = sweep(1, -1, 1), *run = scaled(sweep(9, -1, 1), 1.12);
		json_t *cmp, *p;

		for (int i = 0; i < 5; i++)
			hist[i] = scaled(sweep((uint64_t)i + 2, -1, 1), levels[q][i]);
		fsc_history_attach_noise(base, hist, 5);
		cmp = compare(base, run, 0);
		p = json_array_get(json_object_get(cmp, "points"), 0);
		assert_string_equal(fsc_json_str(p, "noise_model", ""), "between history runs");
		assert_int_equal(fsc_json_num(p, "history_runs"), 5);
		assert_int_equal(fsc_json_num(p, "df"), 4);
		/* nights that spread 0.92 to 1.10 convict nothing of a run-wide
		 * 12%; nights within 1% of each other do, at every size */
		assert_int_equal(count(cmp, "regression"), q ? 8 : 0);
		/* 2 sigma_b^2: the marked run and the run are one night each */
		if (!q)
			assert_float_equal(fsc_json_num(p, "between_sd"), 0.07 * sqrt(2), 0.03);
		json_decref(cmp);
		for (int i = 0; i < 5; i++)
			json_decref(hist[i]);
		json_decref(base);
		json_decref(run);
	}
}

static void fsc_compare_docs__missing_points_are_listed(void **state)
{
	json_t *a = sweep(1, -1, 1), *b = sweep(1, -1, 1), *cmp;

	(void)state;
	json_array_remove(json_object_get(b, "records"), 7);
	cmp = compare(a, b, 0);
	assert_int_equal(count(cmp, "missing_in_run"), 1);
	assert_non_null(
	        strstr(json_string_value(json_array_get(json_object_get(cmp, "missing_in_run"), 0)),
	               "131072B"));
	json_decref(cmp);
	json_decref(a);
	json_decref(b);
}

static void fsc_compare_docs__different_schema_is_refused(void **state)
{
	json_t *a = doc("fabscope-results/1", 2), *b = doc(FSC_RESULTS_SCHEMA, 2), *cmp = 0;
	struct fsc_compare_opts o;
	char err[512];

	(void)state;
	fsc_compare_opts_default(&o);
	assert_int_equal(fsc_compare_docs(a, b, "old.json", "new.json", &o, &cmp, err, sizeof(err)),
	                 -EINVAL);
	assert_null(cmp);
	assert_non_null(strstr(err, "different schema versions"));
	assert_non_null(strstr(err, "fabscope-results/1"));
	assert_non_null(strstr(err, FSC_RESULTS_SCHEMA));
	json_decref(a);
	json_decref(b);
}

static void fsc_compare_docs__different_hosts_refused_unless_asked(void **state)
{
	const char *const l4[] = {"h0", "h1", "h2", "h3"}, *const l3[] = {"h0", "h1", "h2"};
	json_t *a = doc(FSC_RESULTS_SCHEMA, 4), *b = doc(FSC_RESULTS_SCHEMA, 3), *cmp = 0;
	struct fsc_compare_opts o;
	char err[512];

	(void)state;
	json_array_append_new(json_object_get(a, "records"), matrix(l4, 4, -1, -1, 1, 0.02));
	json_array_append_new(json_object_get(b, "records"), matrix(l3, 3, -1, -1, 1, 0.02));
	fsc_compare_opts_default(&o);
	assert_int_equal(fsc_compare_docs(a, b, "a", "b", &o, &cmp, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "only in baseline: h3"));
	assert_non_null(strstr(err, "--hosts intersect"));
	/* intersect: the cells among h0..h2 (6), nothing missing */
	o.hosts = FSC_HOSTS_INTERSECT;
	assert_int_equal(fsc_compare_docs(a, b, "a", "b", &o, &cmp, err, sizeof(err)), 0);
	assert_int_equal(count(cmp, "unchanged"), 6);
	assert_int_equal(count(cmp, "missing_in_run"), 0);
	json_decref(cmp);
	/* ignore: the cells of h3 are missing in the run */
	o.hosts = FSC_HOSTS_IGNORE;
	assert_int_equal(fsc_compare_docs(a, b, "a", "b", &o, &cmp, err, sizeof(err)), 0);
	assert_int_equal(count(cmp, "missing_in_run"), 6);
	json_decref(cmp);
	json_decref(a);
	json_decref(b);
}

static void fsc_compare_docs__acceptance_check_that_now_fails_is_a_regression(void **state)
{
	json_t *a = doc(FSC_RESULTS_SCHEMA, 2), *b = doc(FSC_RESULTS_SCHEMA, 2), *cmp;

	(void)state;
	json_object_set_new(a, "acceptance",
	                    json_pack("{s:[{s:s, s:s, s:s, s:b}]}", "checks", "test", "p2p",
	                              "fabric", "mpi", "check", "bw", "pass", 1));
	json_object_set_new(b, "acceptance",
	                    json_pack("{s:[{s:s, s:s, s:s, s:b, s:s, s:s}]}", "checks", "test",
	                              "p2p", "fabric", "mpi", "check", "bw", "pass", 0, "measured",
	                              "1.2 GB/s", "required", ">= 2 GB/s"));
	cmp = compare(a, b, 0);
	assert_int_equal(count(cmp, "regression"), 1);
	assert_non_null(strstr(json_string_value(json_object_get(
	                               json_array_get(json_object_get(cmp, "points"), 0), "key")),
	                       "check 'bw'"));
	json_decref(cmp);
	json_decref(a);
	json_decref(b);
}

static void fsc_compare_prom_write__gauges_and_flagged_point(void **state)
{
	json_t *a = sweep(1, -1, 1), *b = sweep(2, 5, 0.9), *cmp;
	char path[] = "/tmp/fsc-test-prom-XXXXXX", err[256], buf[8192] = "";
	int fd = mkstemp(path);
	FILE *f;

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	cmp = compare(a, b, 0);
	assert_int_equal(fsc_compare_prom_write(cmp, path, err, sizeof(err)), 0);
	f = fopen(path, "r");
	assert_true(fread(buf, 1, sizeof(buf) - 1, f) > 0);
	fclose(f);
	unlink(path);
	assert_non_null(strstr(buf, "# TYPE fabscope_compare_regression gauge\n"
	                            "fabscope_compare_regression 1\n"));
	assert_non_null(strstr(buf, "fabscope_compare_regressions 1\n"));
	assert_non_null(strstr(buf, "fabscope_point_bw_change_ratio{point=\"mpi bandwidth uni "
	                            "32768B\",judgement=\"regression\"} -0.1"));
	json_decref(cmp);
	json_decref(a);
	json_decref(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(fsc_compare_bootstrap__same_sample_interval_holds_one),
	        cmocka_unit_test(fsc_compare_bootstrap__shift_is_found_with_its_interval),
	        cmocka_unit_test(fsc_compare_docs__identical_runs_flag_nothing),
	        cmocka_unit_test(fsc_compare_docs__independent_noise_flags_nothing),
	        cmocka_unit_test(fsc_compare_docs__ten_percent_loss_at_one_size_is_flagged_there),
	        cmocka_unit_test(
	                fsc_compare_docs__point_whose_baseline_runs_agreed_by_chance_takes_its_neighbours_noise),
	        cmocka_unit_test(fsc_compare_docs__slow_matrix_cell_is_flagged_exactly),
	        cmocka_unit_test(fsc_compare_docs__loss_growing_with_size_is_flagged),
	        cmocka_unit_test(fsc_compare_docs__machine_wide_scatter_raises_the_floor),
	        cmocka_unit_test(fsc_compare_t_quantile__matches_the_tables),
	        cmocka_unit_test(
	                fsc_compare_docs__whole_run_shift_inside_the_baseline_runs_spread_flags_nothing),
	        cmocka_unit_test(
	                fsc_compare_docs__ten_percent_loss_against_quiet_baseline_runs_is_flagged_there),
	        cmocka_unit_test(
	                fsc_compare_docs__one_uncertain_baseline_run_does_not_cancel_the_others_spread),
	        cmocka_unit_test(fsc_compare_docs__drift_inside_single_runs_widens_the_interval),
	        cmocka_unit_test(fsc_compare_docs__matrix_cell_judged_against_every_baseline_run),
	        cmocka_unit_test(fsc_compare_docs__intervals_are_simultaneous_over_the_points),
	        cmocka_unit_test(
	                fsc_compare_docs__marked_baseline_takes_the_noise_of_the_history_runs),
	        cmocka_unit_test(fsc_compare_docs__missing_points_are_listed),
	        cmocka_unit_test(fsc_compare_docs__different_schema_is_refused),
	        cmocka_unit_test(fsc_compare_docs__different_hosts_refused_unless_asked),
	        cmocka_unit_test(fsc_compare_docs__acceptance_check_that_now_fails_is_a_regression),
	        cmocka_unit_test(fsc_compare_prom_write__gauges_and_flagged_point),
	};
	return cmocka_run_group_tests(tests, 0, 0);
}
