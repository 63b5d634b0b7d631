/* Fault attribution on synthetic matrices with a seeded noise generator. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "analysis.h"

#define NMAX 16
#define BASE_GBS 2.0 /* healthy bandwidth, GB/s */
#define EPS 1e-9

/* splitmix64 (Steele, Lea and Flood, 2014) as the test's random source. */
static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in (0, 1). */
static double rng_unit(uint64_t *s)
{
	return ((double)(rng_next(s) >> 11) + 0.5) / 9007199254740992.0;
}

/* Standard normal by Box-Muller. */
static double rng_normal(uint64_t *s)
{
	double u = rng_unit(s), v = rng_unit(s);

	return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

/* A synthetic fabric: cell i->j = base x noise x min(out_i, in_j) x link_ij,
 * a slow sender or receiver capping every transfer it takes part in. */
struct fabric {
	int n;
	double out[NMAX], in[NMAX], link[NMAX][NMAX];
};

static void fabric_init(struct fabric *f, int n)
{
	f->n = n;
	for (int i = 0; i < n; i++) {
		f->out[i] = f->in[i] = 1;
		for (int j = 0; j < n; j++)
			f->link[i][j] = 1;
	}
}

/* Lognormal noise of log-sd sigma (sigma = 0: exact values). */
static void fabric_matrix(const struct fabric *f, double sigma, uint64_t seed, double *m)
{
	int n = f->n;

	for (int i = 0; i < n; i++)
		for (int j = 0; j < n; j++)
			m[i * n + j] = i == j ? NAN
			                      : BASE_GBS * exp(sigma * rng_normal(&seed)) *
			                                fmin(f->out[i], f->in[j]) * f->link[i][j];
}

static size_t analyze(const double *m, int n, int hib, struct fsc_anomaly *a, size_t max, int *amb)
{
	size_t k = 99;

	assert_int_equal(fsc_attrib_analyze(m, n, hib, NULL, a, max, &k, amb), 0);
	return k;
}

static void fsc_attrib_params_default__values(void **state)
{
	struct fsc_attrib_params p;

	(void)state;
	fsc_attrib_params_default(&p);
	assert_true(p.bw_node_ratio == 0.5 && p.bw_link_ratio == 0.5);
	assert_true(p.lat_node_ratio == 2.0 && p.lat_link_ratio == 2.0);
	assert_true(p.min_sigmas == 5.0 && p.noise_floor == 0.05);
	assert_int_equal(p.max_sweeps, 10);
	assert_int_equal(p.candidates, 0);
}

static void fsc_attrib_analyze__one_slow_node_exact(void **state)
{
	struct fabric f;
	double m[NMAX * NMAX];
	struct fsc_anomaly a[8];
	int amb = -1;

	(void)state;
	fabric_init(&f, 8);
	f.out[3] = f.in[3] = 0.2;
	fabric_matrix(&f, 0, 1, m);
	assert_int_equal(analyze(m, 8, 1, a, 8, &amb), 1);
	assert_int_equal(amb, 0);
	assert_int_equal(a[0].kind, FSC_ANOM_NODE);
	assert_int_equal(a[0].src, 3);
	assert_int_equal(a[0].dst, -1);
	assert_true(a[0].slow_row && a[0].slow_col && !a[0].ambiguous);
	assert_true(fabs(a[0].ratio - 0.2) < EPS);
	assert_true(fabs(a[0].row_ratio - 0.2) < EPS);
	assert_true(fabs(a[0].col_ratio - 0.2) < EPS);
	assert_true(fabs(a[0].expected - BASE_GBS) < EPS);
	assert_true(fabs(a[0].measured - 0.4) < EPS);
	assert_int_equal(a[0].retests, 0);
	assert_int_equal(a[0].confirmations, 0);
}

static void fsc_attrib_analyze__one_slow_node_noisy(void **state)
{
	struct fabric f;
	double m[NMAX * NMAX];
	struct fsc_anomaly a[8];

	(void)state;
	for (int n = 4; n <= NMAX; n *= 2) {
		for (uint64_t seed = 1; seed <= 20; seed++) {
			fabric_init(&f, n);
			f.out[n - 2] = f.in[n - 2] = 0.2;
			fabric_matrix(&f, 0.15, seed, m);
			assert_int_equal(analyze(m, n, 1, a, 8, NULL), 1);
			assert_int_equal(a[0].kind, FSC_ANOM_NODE);
			assert_int_equal(a[0].src, n - 2);
			assert_true(a[0].slow_row && a[0].slow_col);
			assert_true(a[0].row_ratio > 0.1 && a[0].row_ratio < 0.35);
			assert_true(a[0].col_ratio > 0.1 && a[0].col_ratio < 0.35);
		}
	}
}

static void fsc_attrib_analyze__slow_sender_only(void **state)
{
	struct fabric f;
	double m[NMAX * NMAX];
	struct fsc_anomaly a[8];

	(void)state;
	fabric_init(&f, 8);
	f.out[5] = 0.25;
	fabric_matrix(&f, 0, 1, m);
	assert_int_equal(analyze(m, 8, 1, a, 8, NULL), 1);
	assert_int_equal(a[0].kind, FSC_ANOM_NODE);
	assert_int_equal(a[0].src, 5);
	assert_true(a[0].slow_row && !a[0].slow_col);
	assert_true(fabs(a[0].ratio - 0.25) < EPS);
	assert_true(fabs(a[0].col_ratio - 1.0) < EPS);
}

/* One direction of one link at 0.1x: only that link, the right way round. */
static void fsc_attrib_analyze__one_bad_link_one_direction(void **state)
{
	struct fabric f;
	double m[NMAX * NMAX];
	struct fsc_anomaly a[8];
	int amb = -1;

	(void)state;
	fabric_init(&f, 8);
	f.link[2][5] = 0.1;
	fabric_matrix(&f, 0, 1, m);
	assert_int_equal(analyze(m, 8, 1, a, 8, &amb), 1);
	assert_int_equal(amb, 0);
	assert_int_equal(a[0].kind, FSC_ANOM_LINK);
	assert_int_equal(a[0].src, 2);
	assert_int_equal(a[0].dst, 5);
	assert_true(fabs(a[0].ratio - 0.1) < EPS);
	assert_true(fabs(a[0].measured - 0.2) < EPS);
	assert_true(fabs(a[0].expected - BASE_GBS) < EPS);
	assert_true(fabs(a[0].row_ratio - 1) < EPS && fabs(a[0].col_ratio - 1) < EPS);

	for (int n = 4; n <= NMAX; n *= 2) {
		for (uint64_t seed = 1; seed <= 20; seed++) {
			fabric_init(&f, n);
			f.link[n - 1][1] = 0.1;
			fabric_matrix(&f, 0.15, seed, m);
			assert_int_equal(analyze(m, n, 1, a, 8, NULL), 1);
			assert_int_equal(a[0].kind, FSC_ANOM_LINK);
			assert_int_equal(a[0].src, n - 1);
			assert_int_equal(a[0].dst, 1);
		}
	}
}

static void fsc_attrib_analyze__node_and_link_elsewhere(void **state)
{
	struct fabric f;
	double m[NMAX * NMAX];
	struct fsc_anomaly a[8];

	(void)state;
	for (uint64_t seed = 1; seed <= 20; seed++) {
		fabric_init(&f, 8);
		f.out[1] = f.in[1] = 0.2;
		f.link[4][6] = 0.1;
		fabric_matrix(&f, seed == 1 ? 0 : 0.1, seed, m);
		assert_int_equal(analyze(m, 8, 1, a, 8, NULL), 2);
		assert_int_equal(a[0].kind, FSC_ANOM_NODE);
		assert_int_equal(a[0].src, 1);
		assert_int_equal(a[1].kind, FSC_ANOM_LINK);
		assert_int_equal(a[1].src, 4);
		assert_int_equal(a[1].dst, 6);
	}
}

/* A bad link out of a slow node, beyond what the node explains. */
static void fsc_attrib_analyze__link_beyond_slow_node(void **state)
{
	struct fabric f;
	double m[NMAX * NMAX];
	struct fsc_anomaly a[8];

	(void)state;
	fabric_init(&f, 8);
	f.out[1] = f.in[1] = 0.25;
	f.link[1][6] = 0.1; /* 0.025x the centre, 0.1x what node 1 explains */
	fabric_matrix(&f, 0, 1, m);
	assert_int_equal(analyze(m, 8, 1, a, 8, NULL), 2);
	assert_int_equal(a[0].kind, FSC_ANOM_NODE);
	assert_int_equal(a[0].src, 1);
	assert_int_equal(a[1].kind, FSC_ANOM_LINK);
	assert_int_equal(a[1].src, 1);
	assert_int_equal(a[1].dst, 6);
	assert_true(fabs(a[1].ratio - 0.025) < EPS);
	assert_true(fabs(a[1].row_ratio - 0.25) < EPS);
}

static void fsc_attrib_analyze__two_slow_nodes(void **state)
{
	struct fabric f;
	double m[NMAX * NMAX];
	struct fsc_anomaly a[8];

	(void)state;
	for (uint64_t seed = 1; seed <= 20; seed++) {
		fabric_init(&f, 8);
		f.out[6] = f.in[6] = 0.3;
		f.out[2] = f.in[2] = 0.15;
		fabric_matrix(&f, seed == 1 ? 0 : 0.1, seed, m);
		assert_int_equal(analyze(m, 8, 1, a, 8, NULL), 2);
		/* The more severe first. */
		assert_int_equal(a[0].kind, FSC_ANOM_NODE);
		assert_int_equal(a[0].src, 2);
		assert_int_equal(a[1].kind, FSC_ANOM_NODE);
		assert_int_equal(a[1].src, 6);
		if (seed == 1) {
			assert_true(fabs(a[0].ratio - 0.15) < EPS);
			assert_true(fabs(a[1].ratio - 0.3) < EPS);
		}
	}
}

/* Healthy fabrics never produce an anomaly: 200 seeded matrices per case. */
static void fsc_attrib_analyze__noise_no_false_positive(void **state)
{
	struct fabric f;
	double m[NMAX * NMAX];
	struct fsc_anomaly a[8];
	int cases = 0;

	(void)state;
	for (int n = 4; n <= NMAX; n *= 2) {
		for (uint64_t seed = 1; seed <= 200; seed++) {
			uint64_t s = seed * 1000 + (uint64_t)n;

			fabric_init(&f, n);
			/* 1: lognormal, log-sd 0.15: +-15% for one sd, a 30% band. */
			fabric_matrix(&f, 0.15, s, m);
			assert_int_equal(analyze(m, n, 1, a, 8, NULL), 0);
			assert_int_equal(analyze(m, n, 0, a, 8, NULL), 0); /* as latency */
			/* 2: healthy cells spread over 2x (log-uniform 0.71-1.41x). */
			for (int i = 0; i < n * n; i++)
				if (!isnan(m[i]))
					m[i] = BASE_GBS * exp((rng_unit(&s) - 0.5) * log(2.0));
			assert_int_equal(analyze(m, n, 1, a, 8, NULL), 0);
			/* 3: hosts that differ by up to 2x, plus 10% noise. */
			for (int i = 0; i < n; i++)
				f.out[i] = f.in[i] = exp((rng_unit(&s) - 0.5) * log(2.0));
			fabric_matrix(&f, 0.1, s, m);
			assert_int_equal(analyze(m, n, 1, a, 8, NULL), 0);
			/* 4: log-sd 0.3 (below 0.5x one cell in a hundred): the noise is
			 * estimated from n >= 5, so the thresholds adapt.  With 12
			 * cells (n = 4) it cannot be (see analysis.h). */
			if (n >= 8) {
				fabric_init(&f, n);
				fabric_matrix(&f, 0.3, s, m);
				assert_int_equal(analyze(m, n, 1, a, 8, NULL), 0);
			}
			cases++;
		}
	}
	assert_int_equal(cases, 600);
}

/* A shared machine: healthy cells spread over 20x (log-uniform), one link
 * at 1% of the centre.  The noise estimate is so large that the default
 * rule (threshold AND min_sigmas) may stay silent; candidate mode always
 * lists that link, worst first, and says whether it was significant.  The
 * default mode's answer is unchanged by the candidate flag being off. */
/* A 5-host matrix from the virtual cluster with h4->h0 throttled to 0.1x:
 * h4->h1 read as slow too (a starved rank), and column h0 is low, so the
 * polish gives h4's row and h0's column most of the cell (neither past the
 * node threshold) and its residual is not past the link threshold.  As a
 * candidate it is past 0.3x against the centre with no node candidate at
 * either end: it must be among the candidates, the worst first. */
static void fsc_attrib_analyze__cell_absorbed_by_sub_threshold_effects_is_a_candidate(void **state)
{
	const double m[25] = {NAN,   0.603, 0.527, 1.006, 0.902, 0.554, NAN,   1.406, 0.917,
	                      0.091, 0.101, 0.322, NAN,   0.132, 0.605, 0.237, 0.228, 0.053,
	                      NAN,   1.434, 0.047, 0.051, 0.573, 0.166, NAN};
	struct fsc_attrib_params p;
	struct fsc_anomaly a[16];
	size_t k = 0;

	(void)state;
	fsc_attrib_params_default(&p);
	p.bw_node_ratio = p.bw_link_ratio = 0.3;
	p.candidates = 1;
	assert_int_equal(fsc_attrib_analyze(m, 5, 1, &p, a, 16, &k, 0), 0);
	assert_true(k >= 1);
	assert_int_equal(a[0].kind, FSC_ANOM_LINK);
	assert_int_equal(a[0].src, 4);
	assert_int_equal(a[0].dst, 0);
	assert_false(a[0].significant);
	/* without candidates the noise decides, and it is not significant */
	p.candidates = 0;
	assert_int_equal(fsc_attrib_analyze(m, 5, 1, &p, a, 16, &k, 0), 0);
	for (size_t i = 0; i < k; i++)
		assert_false(a[i].src == 4 && a[i].dst == 0);
}

static void fsc_attrib_analyze__candidates_on_noisy_matrix(void **state)
{
	struct fsc_attrib_params p;
	double m[NMAX * NMAX];
	struct fsc_anomaly a[NMAX * NMAX];
	size_t k, silent = 0;
	int n = 5;

	(void)state;
	fsc_attrib_params_default(&p);
	for (uint64_t seed = 1; seed <= 50; seed++) {
		uint64_t s = seed * 7919;
		int bs = (int)(seed % (uint64_t)n), bd = (bs + 1 + (int)(seed % 3)) % n;

		for (int i = 0; i < n * n; i++)
			m[i] = i / n == i % n ? NAN
			                      : BASE_GBS * exp((rng_unit(&s) - 0.5) * log(20.0));
		m[bs * n + bd] = BASE_GBS * 0.01;
		p.candidates = 0;
		assert_int_equal(fsc_attrib_analyze(m, n, 1, &p, a, NMAX * NMAX, &k, NULL), 0);
		silent += k == 0;
		p.candidates = 1;
		assert_int_equal(fsc_attrib_analyze(m, n, 1, &p, a, NMAX * NMAX, &k, NULL), 0);
		assert_true(k >= 1);
		/* the 1% link is the worst link candidate (nodes come first) */
		for (size_t i = 0; i < k; i++) {
			if (a[i].kind != FSC_ANOM_LINK)
				continue;
			assert_int_equal(a[i].src, bs);
			assert_int_equal(a[i].dst, bd);
			assert_true(a[i].sigmas > 0);
			assert_int_equal(a[i].significant, a[i].sigmas > p.min_sigmas);
			break;
		}
		for (size_t i = 0; i < k; i++)
			assert_int_equal(a[i].significant, a[i].sigmas > p.min_sigmas);
	}
	/* the reason candidate mode exists: the default rule misses some */
	assert_true(silent > 0);
}

/* Latency: lower is better; a link 5x slower is "high latency". */
static void fsc_attrib_analyze__latency_one_slow_link(void **state)
{
	struct fabric f;
	double m[NMAX * NMAX];
	struct fsc_anomaly a[8];

	(void)state;
	fabric_init(&f, 8);
	fabric_matrix(&f, 0, 1, m); /* 2.0 us everywhere */
	m[3 * 8 + 1] = 10.0;
	assert_int_equal(analyze(m, 8, 0, a, 8, NULL), 1);
	assert_int_equal(a[0].kind, FSC_ANOM_LINK);
	assert_int_equal(a[0].src, 3);
	assert_int_equal(a[0].dst, 1);
	assert_true(fabs(a[0].ratio - 5.0) < EPS);
	assert_true(fabs(a[0].expected - 2.0) < EPS);
	/* The same matrix read as bandwidth: that link is fast, not bad. */
	assert_int_equal(analyze(m, 8, 1, a, 8, NULL), 0);

	for (uint64_t seed = 1; seed <= 20; seed++) {
		fabric_matrix(&f, 0.15, seed, m);
		m[0 * 8 + 7] *= 4;
		assert_int_equal(analyze(m, 8, 0, a, 8, NULL), 1);
		assert_int_equal(a[0].src, 0);
		assert_int_equal(a[0].dst, 7);
		assert_true(a[0].ratio > 2.0);
	}
}

/* n == 2: a slow direction is reported as an ambiguous link. */
static void fsc_attrib_analyze__two_ranks_ambiguous(void **state)
{
	double m[4] = {NAN, 2.0, 0.2, NAN};
	struct fsc_anomaly a[4];
	int amb = -1;

	(void)state;
	assert_int_equal(analyze(m, 2, 1, a, 4, &amb), 1);
	assert_int_equal(amb, 1);
	assert_int_equal(a[0].kind, FSC_ANOM_LINK);
	assert_int_equal(a[0].src, 1);
	assert_int_equal(a[0].dst, 0);
	assert_int_equal(a[0].ambiguous, 1);
	/* The centre is the geometric mean of the two cells. */
	assert_true(fabs(a[0].expected - sqrt(0.4)) < EPS);
	assert_true(fabs(a[0].ratio - 0.2 / sqrt(0.4)) < EPS);
	assert_true(isnan(a[0].row_ratio) && isnan(a[0].col_ratio));
	/* Both directions equally slow (or fast): nothing to compare with. */
	m[2] = 2.0;
	assert_int_equal(analyze(m, 2, 1, a, 4, &amb), 0);
	assert_int_equal(amb, 0);
	/* One direction not measured. */
	m[2] = NAN;
	assert_int_equal(analyze(m, 2, 1, a, 4, &amb), 0);
}

/* n == 3: a node needs both of its out-links (or in-links); that is
 * ambiguous with two bad links.  One bad link is not. */
static void fsc_attrib_analyze__three_ranks(void **state)
{
	struct fabric f;
	double m[9];
	struct fsc_anomaly a[4];
	int amb = -1;

	(void)state;
	fabric_init(&f, 3);
	f.out[0] = f.in[0] = 0.2;
	fabric_matrix(&f, 0, 1, m);
	assert_int_equal(analyze(m, 3, 1, a, 4, &amb), 1);
	assert_int_equal(amb, 1);
	assert_int_equal(a[0].kind, FSC_ANOM_NODE);
	assert_int_equal(a[0].src, 0);
	assert_true(a[0].ambiguous && a[0].slow_row && a[0].slow_col);
	assert_true(fabs(a[0].ratio - 0.2) < EPS);

	fabric_init(&f, 3);
	f.out[2] = 0.2; /* both out-links of 2 */
	fabric_matrix(&f, 0, 1, m);
	assert_int_equal(analyze(m, 3, 1, a, 4, &amb), 1);
	assert_int_equal(amb, 1);
	assert_int_equal(a[0].kind, FSC_ANOM_NODE);
	assert_true(a[0].slow_row && !a[0].slow_col);

	fabric_init(&f, 3);
	f.link[2][1] = 0.1;
	fabric_matrix(&f, 0, 1, m);
	assert_int_equal(analyze(m, 3, 1, a, 4, &amb), 1);
	assert_int_equal(amb, 0);
	assert_int_equal(a[0].kind, FSC_ANOM_LINK);
	assert_int_equal(a[0].src, 2);
	assert_int_equal(a[0].dst, 1);
	assert_int_equal(a[0].ambiguous, 0);
}

/* Equal severities: links in (src, dst) order; truncation keeps the most
 * severe; counting mode. */
static void fsc_attrib_analyze__order_and_truncation(void **state)
{
	struct fabric f;
	double m[NMAX * NMAX];
	struct fsc_anomaly a[8];
	size_t k;

	(void)state;
	fabric_init(&f, 8);
	f.link[5][1] = 0.1;
	f.link[2][7] = 0.1;
	f.link[6][0] = 0.05;
	f.out[4] = f.in[4] = 0.3;
	fabric_matrix(&f, 0, 1, m);
	assert_int_equal(analyze(m, 8, 1, a, 8, NULL), 4);
	assert_true(a[0].kind == FSC_ANOM_NODE && a[0].src == 4);
	assert_true(a[1].kind == FSC_ANOM_LINK && a[1].src == 6 && a[1].dst == 0);
	assert_true(a[2].src == 2 && a[2].dst == 7);
	assert_true(a[3].src == 5 && a[3].dst == 1);
	assert_int_equal(analyze(m, 8, 1, a, 2, NULL), 2);
	assert_true(a[0].kind == FSC_ANOM_NODE && a[0].src == 4);
	assert_true(a[1].src == 6 && a[1].dst == 0);
	assert_int_equal(fsc_attrib_analyze(m, 8, 1, NULL, NULL, 0, &k, NULL), 0);
	assert_int_equal(k, 4);
}

/* Unmeasured cells are skipped; a bandwidth of 0 is the worst link. */
static void fsc_attrib_analyze__unmeasured_and_dead(void **state)
{
	struct fabric f;
	double m[NMAX * NMAX];
	struct fsc_anomaly a[8];

	(void)state;
	fabric_init(&f, 8);
	fabric_matrix(&f, 0, 1, m);
	m[0 * 8 + 1] = NAN;
	m[3 * 8 + 4] = NAN;
	m[6 * 8 + 2] = 0.0;
	assert_int_equal(analyze(m, 8, 1, a, 8, NULL), 1);
	assert_int_equal(a[0].src, 6);
	assert_int_equal(a[0].dst, 2);
	assert_true(a[0].ratio == 0.0);
	/* Everything unmeasured: nothing to say. */
	for (int i = 0; i < 64; i++)
		m[i] = NAN;
	assert_int_equal(analyze(m, 8, 1, a, 8, NULL), 0);
	/* A latency that never came back (+inf) is the worst link. */
	fabric_matrix(&f, 0, 1, m);
	m[7 * 8 + 3] = INFINITY;
	assert_int_equal(analyze(m, 8, 0, a, 8, NULL), 1);
	assert_true(a[0].src == 7 && a[0].dst == 3 && isinf(a[0].ratio));
}

static void fsc_attrib_analyze__bad_input(void **state)
{
	struct fabric f;
	double m[NMAX * NMAX];
	struct fsc_anomaly a[8];
	struct fsc_attrib_params p;
	size_t k = 7;

	(void)state;
	fabric_init(&f, 4);
	fabric_matrix(&f, 0, 1, m);
	assert_int_equal(fsc_attrib_analyze(m, 1, 1, NULL, a, 8, &k, NULL), -EINVAL);
	assert_int_equal(k, 0);
	assert_int_equal(fsc_attrib_analyze(NULL, 4, 1, NULL, a, 8, &k, NULL), -EINVAL);
	assert_int_equal(fsc_attrib_analyze(m, 4, 1, NULL, NULL, 8, &k, NULL), -EINVAL);
	m[1] = -1.0;
	assert_int_equal(fsc_attrib_analyze(m, 4, 1, NULL, a, 8, &k, NULL), -EINVAL);
	m[1] = INFINITY;
	assert_int_equal(fsc_attrib_analyze(m, 4, 1, NULL, a, 8, &k, NULL), -EINVAL);
	m[1] = 0.0;
	assert_int_equal(fsc_attrib_analyze(m, 4, 0, NULL, a, 8, &k, NULL), -EINVAL);
	m[1] = 2.0;
	fsc_attrib_params_default(&p);
	p.bw_link_ratio = 1.5;
	assert_int_equal(fsc_attrib_analyze(m, 4, 1, &p, a, 8, &k, NULL), -EINVAL);
	fsc_attrib_params_default(&p);
	p.lat_node_ratio = 0.5;
	assert_int_equal(fsc_attrib_analyze(m, 4, 0, &p, a, 8, &k, NULL), -EINVAL);
	fsc_attrib_params_default(&p);
	p.max_sweeps = 0;
	assert_int_equal(fsc_attrib_analyze(m, 4, 1, &p, a, 8, &k, NULL), -EINVAL);
	/* The diagonal is ignored whatever it holds. */
	m[0] = -5.0;
	assert_int_equal(fsc_attrib_analyze(m, 4, 1, NULL, a, 8, &k, NULL), 0);
	assert_int_equal(k, 0);
}

/* Looser thresholds through the parameters. */
static void fsc_attrib_analyze__custom_threshold(void **state)
{
	struct fabric f;
	double m[NMAX * NMAX];
	struct fsc_anomaly a[8];
	struct fsc_attrib_params p;
	size_t k;

	(void)state;
	fabric_init(&f, 8);
	f.link[1][2] = 0.6;
	fabric_matrix(&f, 0, 1, m);
	assert_int_equal(analyze(m, 8, 1, a, 8, NULL), 0); /* 0.6x: above 0.5x */
	fsc_attrib_params_default(&p);
	p.bw_link_ratio = 0.7;
	assert_int_equal(fsc_attrib_analyze(m, 8, 1, &p, a, 8, &k, NULL), 0);
	assert_int_equal(k, 1);
	assert_true(a[0].src == 1 && a[0].dst == 2);
}

static void fsc_attrib_confirm__counts(void **state)
{
	struct fsc_anomaly a = {.kind = FSC_ANOM_LINK, .src = 0, .dst = 2, .expected = 2.0};
	struct fsc_anomaly n = {.kind = FSC_ANOM_NODE, .src = 1, .dst = -1, .expected = 10.0};
	struct fsc_attrib_params p;

	(void)state;
	assert_int_equal(fsc_attrib_confirm(&a, 0.3, 0, 1, NULL), 1);
	assert_int_equal(fsc_attrib_confirm(&a, 1.5, 0, 1, NULL), 0);
	/* Against a reference measured the same way: 1.5 / 4.0 < 0.5. */
	assert_int_equal(fsc_attrib_confirm(&a, 1.5, 4.0, 1, NULL), 1);
	assert_int_equal(fsc_attrib_confirm(&a, 0.0, NAN, 1, NULL), 1);
	assert_int_equal(a.retests, 4);
	assert_int_equal(a.confirmations, 3);
	assert_int_equal(fsc_attrib_confirm(&a, NAN, 0, 1, NULL), -EINVAL);
	assert_int_equal(fsc_attrib_confirm(&a, -1, 0, 1, NULL), -EINVAL);
	assert_int_equal(a.retests, 4);
	/* Latency: bad above 2x; the node threshold for nodes. */
	assert_int_equal(fsc_attrib_confirm(&n, 25.0, 0, 0, NULL), 1);
	assert_int_equal(fsc_attrib_confirm(&n, 15.0, 0, 0, NULL), 0);
	fsc_attrib_params_default(&p);
	p.lat_node_ratio = 1.4;
	assert_int_equal(fsc_attrib_confirm(&n, 15.0, 0, 0, &p), 1);
	assert_int_equal(n.retests, 3);
	assert_int_equal(n.confirmations, 2);
}

static void fsc_anomaly_format__lines(void **state)
{
	static const char *const hosts[] = {"h0", "h1", "h2", NULL};
	struct fsc_anomaly node = {.kind = FSC_ANOM_NODE,
	                           .src = 2,
	                           .dst = -1,
	                           .ratio = 0.19,
	                           .row_ratio = 0.21,
	                           .col_ratio = 0.19,
	                           .slow_row = 1,
	                           .slow_col = 1};
	struct fsc_anomaly link = {.kind = FSC_ANOM_LINK,
	                           .src = 0,
	                           .dst = 2,
	                           .ratio = 0.11,
	                           .row_ratio = 1,
	                           .col_ratio = 1};
	char buf[200];

	(void)state;
	assert_int_equal(fsc_anomaly_format(&node, hosts, 1, buf, sizeof(buf)),
	                 (int)strlen("h2: node slow (row 0.21x median, column 0.19x)"));
	assert_string_equal(buf, "h2: node slow (row 0.21x median, column 0.19x)");
	node.slow_col = 0;
	node.col_ratio = 0.98;
	fsc_anomaly_format(&node, hosts, 1, buf, sizeof(buf));
	assert_string_equal(buf, "h2: node slow sending (row 0.21x median, column 0.98x)");
	node.slow_col = 1;
	node.slow_row = 0;
	node.row_ratio = 4.2;
	node.col_ratio = 13.4;
	fsc_anomaly_format(&node, hosts, 0, buf, sizeof(buf));
	assert_string_equal(buf, "h2: node high latency receiving (row 4.2x median, column 13x)");

	fsc_anomaly_format(&link, hosts, 1, buf, sizeof(buf));
	assert_string_equal(buf, "link h0->h2 slow (0.11x median)");
	link.ratio = 4.2;
	fsc_anomaly_format(&link, hosts, 0, buf, sizeof(buf));
	assert_string_equal(buf, "link h0->h2 high latency (4.2x median)");
	/* No host label: the rank. */
	link.dst = 3;
	link.ratio = 0.019;
	fsc_anomaly_format(&link, hosts, 1, buf, sizeof(buf));
	assert_string_equal(buf, "link h0->rank 3 slow (0.019x median)");
	fsc_anomaly_format(&link, NULL, 1, buf, sizeof(buf));
	assert_string_equal(buf, "link rank 0->rank 3 slow (0.019x median)");
	/* Ambiguity and re-tests. */
	link.dst = 1;
	link.ratio = 0.32;
	link.ambiguous = 1;
	link.retests = 2;
	link.confirmations = 2;
	fsc_anomaly_format(&link, hosts, 1, buf, sizeof(buf));
	assert_string_equal(buf, "link h0->h1 slow (0.32x median); ambiguous: too few ranks to "
	                         "tell a link from a node at either end; confirmed 2/2");
	node.ambiguous = 1;
	node.retests = 1;
	fsc_anomaly_format(&node, hosts, 0, buf, sizeof(buf));
	assert_string_equal(buf, "h2: node high latency receiving (row 4.2x median, column 13x); "
	                         "ambiguous: too few ranks to tell a node from both its links; "
	                         "not confirmed 0/1");
	/* Truncation returns the full length, like snprintf. */
	link.ambiguous = 0;
	link.retests = 0;
	assert_int_equal(fsc_anomaly_format(&link, hosts, 1, buf, 8),
	                 (int)strlen("link h0->h1 slow (0.32x median)"));
	assert_string_equal(buf, "link h0");
}

/* ---- fsc_attrib_scan: the matrix read a line at a time ---- */

/* A source holding the matrix transposed (column-major), so a row of the
 * matrix is a column of what it holds: it must give what the row-major
 * matrix gives.  Counts lines read; fails the fail_at-th read. */
struct tsrc {
	const double *t; /* t[j * n + i] = cell i -> j */
	int n, reads, fail_at;
};

static int tsrc_line(void *arg, int dim, int i, double *out)
{
	struct tsrc *s = arg;

	if (++s->reads == s->fail_at)
		return -EIO;
	for (int j = 0; j < s->n; j++)
		out[j] = dim ? s->t[(size_t)i * s->n + j] : s->t[(size_t)j * s->n + i];
	return 0;
}

struct found {
	struct fsc_anomaly a[4 * NMAX * NMAX];
	size_t n;
};

static void found_add(void *arg, const struct fsc_anomaly *a)
{
	struct found *f = arg;

	f->a[f->n++] = *a;
}

static void fsc_attrib_scan__transposed_source_same_figures(void **state)
{
	static double m[NMAX * NMAX], t[NMAX * NMAX];
	static struct fsc_anomaly want[4 * NMAX * NMAX];
	static struct found got;
	struct fsc_attrib_params p;
	struct fabric f;
	size_t nwant, nf;

	(void)state;
	fsc_attrib_params_default(&p);
	p.candidates = 1;
	for (int n = 3; n <= 12; n += 3)
		for (int hib = 0; hib < 2; hib++) {
			struct tsrc ts = {t, n, 0, 0};
			struct fsc_attrib_src src = {n, tsrc_line, &ts};

			fabric_init(&f, n);
			f.out[1] = 0.3;
			f.link[n - 1][0] = 0.2;
			fabric_matrix(&f, 0.3, 11 + (uint64_t)n, m);
			m[2] = NAN; /* one cell not measured */
			for (int i = 0; i < n; i++)
				for (int j = 0; j < n; j++)
					t[j * n + i] = hib ? m[i * n + j] : 1 / m[i * n + j];
			for (int i = 0; i < n * n; i++)
				m[i] = t[(i % n) * n + i / n];
			assert_int_equal(fsc_attrib_analyze(m, n, hib, &p, want, 4 * NMAX * NMAX,
			                                    &nwant, NULL),
			                 0);
			got.n = 0;
			assert_int_equal(fsc_attrib_scan(&src, hib, &p, found_add, &got, &nf), 0);
			assert_int_equal(nf, nwant);
			assert_int_equal(got.n, nwant);
			assert_true(nwant >= 1);
			qsort(got.a, got.n, sizeof(got.a[0]), fsc_anomaly_cmp);
			/* every figure bit for bit */
			for (size_t k = 0; k < nwant; k++) {
				const struct fsc_anomaly *x = &got.a[k], *y = &want[k];

				assert_int_equal(x->kind, y->kind);
				assert_int_equal(x->src, y->src);
				assert_int_equal(x->dst, y->dst);
				assert_int_equal(x->slow_row * 2 + x->slow_col,
				                 y->slow_row * 2 + y->slow_col);
				assert_int_equal(x->significant, y->significant);
				assert_memory_equal(&x->measured, &y->measured, sizeof(double));
				assert_memory_equal(&x->expected, &y->expected, sizeof(double));
				assert_memory_equal(&x->ratio, &y->ratio, sizeof(double));
				assert_memory_equal(&x->row_ratio, &y->row_ratio, sizeof(double));
				assert_memory_equal(&x->col_ratio, &y->col_ratio, sizeof(double));
				assert_memory_equal(&x->sigmas, &y->sigmas, sizeof(double));
			}
			/* reads are whole passes over lines, never per cell */
			assert_int_equal(ts.reads % n, 0);
		}
}

static void fsc_attrib_scan__source_errors_propagate(void **state)
{
	static double t[NMAX * NMAX];
	static struct found got;
	struct fabric f;
	size_t nf;
	int n = 6;

	(void)state;
	fabric_init(&f, n);
	fabric_matrix(&f, 0.2, 5, t);
	for (int at = 1; at <= 4 * n; at += n - 1) {
		struct tsrc ts = {t, n, 0, at};
		struct fsc_attrib_src src = {n, tsrc_line, &ts};

		got.n = 0;
		assert_int_equal(fsc_attrib_scan(&src, 1, NULL, found_add, &got, &nf), -EIO);
	}
	/* no line reader, or too small */
	{
		struct fsc_attrib_src bad = {n, NULL, NULL}, one = {1, tsrc_line, NULL};

		assert_int_equal(fsc_attrib_scan(&bad, 1, NULL, found_add, &got, &nf), -EINVAL);
		assert_int_equal(fsc_attrib_scan(&one, 1, NULL, found_add, &got, &nf), -EINVAL);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(fsc_attrib_params_default__values),
	        cmocka_unit_test(fsc_attrib_scan__transposed_source_same_figures),
	        cmocka_unit_test(fsc_attrib_scan__source_errors_propagate),
	        cmocka_unit_test(fsc_attrib_analyze__one_slow_node_exact),
	        cmocka_unit_test(fsc_attrib_analyze__one_slow_node_noisy),
	        cmocka_unit_test(fsc_attrib_analyze__slow_sender_only),
	        cmocka_unit_test(fsc_attrib_analyze__one_bad_link_one_direction),
	        cmocka_unit_test(fsc_attrib_analyze__node_and_link_elsewhere),
	        cmocka_unit_test(fsc_attrib_analyze__link_beyond_slow_node),
	        cmocka_unit_test(fsc_attrib_analyze__two_slow_nodes),
	        cmocka_unit_test(fsc_attrib_analyze__noise_no_false_positive),
	        cmocka_unit_test(fsc_attrib_analyze__candidates_on_noisy_matrix),
	        cmocka_unit_test(
	                fsc_attrib_analyze__cell_absorbed_by_sub_threshold_effects_is_a_candidate),
	        cmocka_unit_test(fsc_attrib_analyze__latency_one_slow_link),
	        cmocka_unit_test(fsc_attrib_analyze__two_ranks_ambiguous),
	        cmocka_unit_test(fsc_attrib_analyze__three_ranks),
	        cmocka_unit_test(fsc_attrib_analyze__order_and_truncation),
	        cmocka_unit_test(fsc_attrib_analyze__unmeasured_and_dead),
	        cmocka_unit_test(fsc_attrib_analyze__bad_input),
	        cmocka_unit_test(fsc_attrib_analyze__custom_threshold),
	        cmocka_unit_test(fsc_attrib_confirm__counts),
	        cmocka_unit_test(fsc_anomaly_format__lines),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
