/* Fault attribution by median polish; the method is described in
 * analysis.h. */
#include "analysis.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "stats.h"

/* 1 / Phi^-1(3/4): makes the MAD a consistent estimate of a normal
 * distribution's standard deviation. */
#define MAD_TO_SIGMA 1.4826
/* sqrt(pi/2): the standard error of a median of k normal values is about
 * sqrt(pi/2) sigma / sqrt(k) (asymptotic relative efficiency 2/pi). */
#define MEDIAN_SE 1.2533
/* Goodness of a cell that moved nothing (bandwidth 0) or never answered
 * (latency +inf): worse than any measurable value (log(DBL_MIN) ~ -708),
 * yet finite so that medians and sums stay defined. */
#define G_WORST -1000.0
/* Residual degrees of freedom (cells - (2n - 1) fitted effects) needed to
 * estimate the noise from the matrix itself (see noise_scale). */
#define MIN_NOISE_DOF 10
/* Median polish stops when a sweep moves no effect by more than this. */
#define POLISH_EPS 1e-12

void fsc_attrib_params_default(struct fsc_attrib_params *p)
{
	p->bw_node_ratio = 0.5;
	p->bw_link_ratio = 0.5;
	p->lat_node_ratio = 2.0;
	p->lat_link_ratio = 2.0;
	p->min_sigmas = 5.0;
	p->noise_floor = 0.05;
	p->max_sweeps = 10;
	p->candidates = 0;
}

static int params_check(const struct fsc_attrib_params *p)
{
	if (!(p->bw_node_ratio > 0 && p->bw_node_ratio < 1) ||
	    !(p->bw_link_ratio > 0 && p->bw_link_ratio < 1)) {
		fsc_error(
		        "attribution: bandwidth thresholds must lie in (0, 1), got node %g link %g",
		        p->bw_node_ratio, p->bw_link_ratio);
		return -EINVAL;
	}
	if (!(p->lat_node_ratio > 1 && isfinite(p->lat_node_ratio)) ||
	    !(p->lat_link_ratio > 1 && isfinite(p->lat_link_ratio))) {
		fsc_error("attribution: latency thresholds must be > 1, got node %g link %g",
		          p->lat_node_ratio, p->lat_link_ratio);
		return -EINVAL;
	}
	if (!(p->min_sigmas >= 0 && isfinite(p->min_sigmas)) ||
	    !(p->noise_floor >= 0 && isfinite(p->noise_floor)) || p->max_sweeps < 1) {
		fsc_error("attribution: need min_sigmas >= 0, noise_floor >= 0, max_sweeps >= 1 "
		          "(got %g, %g, %d)",
		          p->min_sigmas, p->noise_floor, p->max_sweeps);
		return -EINVAL;
	}
	return 0;
}

/* The goodness of one value (see analysis.h), NaN when not measured;
 * -EINVAL (through *bad) for a value that cannot be a measurement. */
static double goodness(double x, int higher_is_better, int *bad)
{
	if (isnan(x))
		return NAN;
	if (higher_is_better) {
		if (x < 0 || isinf(x)) {
			*bad = 1;
			return NAN;
		}
		return x > 0 ? fmax(log(x), G_WORST) : G_WORST;
	}
	if (!(x > 0)) {
		*bad = 1;
		return NAN;
	}
	return isinf(x) ? G_WORST : fmax(-log(x), G_WORST);
}

/* Goodness difference back to a ratio in the matrix's own units. */
static double to_ratio(double d, int higher_is_better)
{
	return higher_is_better ? exp(d) : exp(-d);
}

struct polish {
	int n;
	double *z;     /* n*n residuals, NaN where not measured */
	double *tmp;   /* n*n scratch */
	double *r, *c; /* row and column effects */
	int *nr, *nc;  /* measured cells per row and column */
	double mu;
};

/* Sweep row (dim 0) or column (dim 1) upper medians out of the residuals
 * into the effects; returns the largest move. */
static double sweep(struct polish *P, int dim)
{
	int n = P->n;
	double *eff = dim ? P->c : P->r, moved = 0, d;
	size_t k;

	for (int a = 0; a < n; a++) {
		k = 0;
		for (int b = 0; b < n; b++) {
			double v = dim ? P->z[(size_t)b * n + a] : P->z[(size_t)a * n + b];

			if (!isnan(v))
				P->tmp[k++] = v;
		}
		if (!k)
			continue;
		d = fsc_upper_median(P->tmp, k);
		eff[a] += d;
		for (int b = 0; b < n; b++) {
			double *v = dim ? &P->z[(size_t)b * n + a] : &P->z[(size_t)a * n + b];

			*v -= d; /* NaN stays NaN */
		}
		if (fabs(d) > moved)
			moved = fabs(d);
	}
	return moved;
}

/* Move the median of one set of effects into the centre (Tukey's
 * convention: effects are centred on their median). */
static void recentre(struct polish *P, int dim)
{
	double *eff = dim ? P->c : P->r, d;
	const int *cnt = dim ? P->nc : P->nr;
	size_t k = 0;

	for (int a = 0; a < P->n; a++)
		if (cnt[a])
			P->tmp[k++] = eff[a];
	if (!k)
		return;
	d = fsc_median(P->tmp, k);
	for (int a = 0; a < P->n; a++)
		if (cnt[a])
			eff[a] -= d;
	P->mu += d;
}

/* Fit mu, r, c by median polish; leaves the residuals in z. */
static void polish_run(struct polish *P, int max_sweeps)
{
	double moved;

	for (int s = 0; s < max_sweeps; s++) {
		moved = sweep(P, 0);
		recentre(P, 1);
		moved = fmax(moved, sweep(P, 1));
		recentre(P, 0);
		if (moved < POLISH_EPS)
			break;
	}
}

/* Robust noise scale of the residuals (see analysis.h, step 3).  The polish
 * fits 2n-1 effects and makes the median cell of every row and column
 * exactly 0; those zeros are artefacts of the fit, not observations of the
 * noise, and would shrink the MAD (to ~0.3 sigma for n = 4).  Up to 2n-1
 * exact zeros are therefore left out (more are real: a clean matrix stays at
 * the floor).  So computed, 1.4826 MAD measured 0.98-1.09 sigma for normal
 * noise and n = 4..64.  With fewer than MIN_NOISE_DOF residual degrees of
 * freedom (n <= 4) the few residuals left are dominated by any bad link
 * itself: the floor is used and the thresholds alone decide. */
static double noise_scale(struct polish *P, size_t ncells, double floor_log)
{
	size_t n2 = (size_t)P->n * P->n, k = 0, npar = 2 * (size_t)P->n - 1, zeros = 0;

	if (ncells < npar + MIN_NOISE_DOF)
		return floor_log;
	for (size_t i = 0; i < n2; i++) {
		if (isnan(P->z[i]))
			continue;
		if (fabs(P->z[i]) <= POLISH_EPS && zeros++ < npar)
			continue;
		P->tmp[k++] = fabs(P->z[i]);
	}
	return fmax(MAD_TO_SIGMA * fsc_median(P->tmp, k), floor_log);
}

static int anomaly_cmp(const void *pa, const void *pb)
{
	const struct fsc_anomaly *a = pa, *b = pb;
	double sa = fabs(log(a->ratio)), sb = fabs(log(b->ratio));

	if (a->kind != b->kind)
		return a->kind == FSC_ANOM_NODE ? -1 : 1;
	if (sa != sb)
		return sa > sb ? -1 : 1;
	if (a->src != b->src)
		return a->src < b->src ? -1 : 1;
	return (a->dst > b->dst) - (a->dst < b->dst);
}

/* Decide every node and link; fills found[] when non-NULL and returns the
 * count.  tn, tl: the node and link thresholds in goodness (< 0); z: the
 * significance asked for; cand: report candidates past the thresholds
 * whatever their significance (fsc_attrib_params.candidates). */
static size_t decide(const struct polish *P, const double *m, int higher_is_better, double tn,
                     double tl, double scale, double z, int cand, struct fsc_anomaly *found)
{
	int n = P->n;
	size_t k = 0;
	double centre = to_ratio(P->mu, higher_is_better);
	/* nodes that are candidates: their links are re-tested with them */
	char *nc = calloc((size_t)n, 1);

	if (!nc)
		return 0;
	for (int i = 0; i < n; i++) {
		/* significance of each side in standard errors of its median */
		double zr = P->nr[i] ? -P->r[i] / (scale * MEDIAN_SE / sqrt((double)P->nr[i])) : 0;
		double zc = P->nc[i] ? -P->c[i] / (scale * MEDIAN_SE / sqrt((double)P->nc[i])) : 0;
		int sr = P->nr[i] && P->r[i] < tn && (cand || zr > z);
		int sc = P->nc[i] && P->c[i] < tn && (cand || zc > z);
		double worst;

		if (!sr && !sc)
			continue;
		nc[i] = 1;
		if (found) {
			double sig = sr && sc ? fmax(zr, zc) : sr ? zr : zc;

			worst = sr && sc ? fmin(P->r[i], P->c[i]) : sr ? P->r[i] : P->c[i];
			found[k] = (struct fsc_anomaly){
			        .kind = FSC_ANOM_NODE,
			        .src = i,
			        .dst = -1,
			        .measured = centre * to_ratio(worst, higher_is_better),
			        .expected = centre,
			        .ratio = to_ratio(worst, higher_is_better),
			        .row_ratio = to_ratio(P->r[i], higher_is_better),
			        .col_ratio = to_ratio(P->c[i], higher_is_better),
			        .slow_row = sr,
			        .slow_col = sc,
			        .ambiguous = n == 3,
			        .sigmas = sig,
			        .significant = sig > z,
			};
		}
		k++;
	}
	for (int i = 0; i < n; i++) {
		for (int j = 0; j < n; j++) {
			size_t at = (size_t)i * n + j;
			double e = P->z[at], dev, se;

			if (i == j || isnan(e))
				continue;
			dev = e + P->r[i] + P->c[j];
			/* e = noise - (r_i and c_j's own estimation errors):
			 * Var(e) ~ s^2 (1 + (pi/2)(1/cells_i + 1/cells_j)). */
			se = scale *
			     sqrt(1 + MEDIAN_SE * MEDIAN_SE * (1.0 / P->nr[i] + 1.0 / P->nc[j]));
			/* A candidate: past the threshold against the centre and
			 * as a residual.  With `cand`, a cell past it against the
			 * centre whose ends are no node candidates is one too, even
			 * when sub-threshold row and column effects of its ends
			 * (noise, or the cell itself pulling its row down) absorb
			 * most of it: nothing else would look at it. */
			if (!(dev < tl && (e < tl || (cand && !nc[i] && !nc[j])) &&
			      (cand || e < -z * se)))
				continue;
			if (found)
				found[k] = (struct fsc_anomaly){
				        .kind = FSC_ANOM_LINK,
				        .src = i,
				        .dst = j,
				        .measured = m[at],
				        .expected = centre,
				        .ratio = to_ratio(dev, higher_is_better),
				        .row_ratio = to_ratio(P->r[i], higher_is_better),
				        .col_ratio = to_ratio(P->c[j], higher_is_better),
				        .sigmas = -e / se,
				        .significant = e < -z * se,
				};
			k++;
		}
	}
	free(nc);
	return k;
}

/* n == 2: only the asymmetry between the two cells is visible. */
static size_t decide_two(const double *m, const double *g, int higher_is_better, double tl,
                         struct fsc_anomaly *found)
{
	double mu, centre;
	size_t k = 0;

	if (isnan(g[1]) || isnan(g[2]))
		return 0;
	mu = (g[1] + g[2]) / 2;
	centre = to_ratio(mu, higher_is_better);
	for (int at = 1; at <= 2; at++) {
		if (!(g[at] - mu < tl))
			continue;
		if (found)
			found[k] = (struct fsc_anomaly){
			        .kind = FSC_ANOM_LINK,
			        .src = at == 1 ? 0 : 1,
			        .dst = at == 1 ? 1 : 0,
			        .measured = m[at],
			        .expected = centre,
			        .ratio = to_ratio(g[at] - mu, higher_is_better),
			        .row_ratio = NAN,
			        .col_ratio = NAN,
			        .ambiguous = 1,
			        .sigmas = NAN,
			        .significant = 1,
			};
		k++;
	}
	return k;
}

int fsc_attrib_analyze(const double *m, int n, int higher_is_better,
                       const struct fsc_attrib_params *p, struct fsc_anomaly *out, size_t max_out,
                       size_t *nout, int *ambiguous)
{
	struct fsc_attrib_params defp;
	struct polish P = {.n = n};
	struct fsc_anomaly *found = NULL;
	int bad = 0, rc = 0;
	size_t n2, ncells = 0, k, nfound;
	double tn, tl, scale = 0;

	*nout = 0;
	if (ambiguous)
		*ambiguous = 0;
	if (!p) {
		fsc_attrib_params_default(&defp);
		p = &defp;
	}
	if (!m || n < 2 || (!out && max_out)) {
		fsc_error("attribution: need a matrix of at least 2 x 2 ranks (n = %d)", n);
		return -EINVAL;
	}
	rc = params_check(p);
	if (rc)
		return rc;
	tn = higher_is_better ? log(p->bw_node_ratio) : -log(p->lat_node_ratio);
	tl = higher_is_better ? log(p->bw_link_ratio) : -log(p->lat_link_ratio);

	n2 = (size_t)n * n;
	P.z = malloc(n2 * sizeof(*P.z));
	P.tmp = malloc(n2 * sizeof(*P.tmp));
	P.r = calloc((size_t)n, sizeof(*P.r));
	P.c = calloc((size_t)n, sizeof(*P.c));
	P.nr = calloc((size_t)n, sizeof(*P.nr));
	P.nc = calloc((size_t)n, sizeof(*P.nc));
	if (!P.z || !P.tmp || !P.r || !P.c || !P.nr || !P.nc) {
		fsc_error("attribution: out of memory for a %d x %d matrix", n, n);
		rc = -ENOMEM;
		goto out_free;
	}
	for (int i = 0; i < n; i++) {
		for (int j = 0; j < n; j++) {
			size_t at = (size_t)i * n + j;

			P.z[at] = i == j ? NAN : goodness(m[at], higher_is_better, &bad);
			if (bad) {
				fsc_error("attribution: cell %d->%d = %g is not a valid %s", i, j,
				          m[at],
				          higher_is_better ? "bandwidth (>= 0)" : "latency (> 0)");
				rc = -EINVAL;
				goto out_free;
			}
			if (!isnan(P.z[at])) {
				P.tmp[ncells++] = P.z[at];
				P.nr[i]++;
				P.nc[j]++;
			}
		}
	}
	if (!ncells)
		goto out_free;

	if (n == 2) {
		nfound = decide_two(m, P.z, higher_is_better, tl, NULL);
	} else {
		P.mu = fsc_median(P.tmp, ncells);
		for (size_t i = 0; i < n2; i++)
			P.z[i] -= P.mu;
		polish_run(&P, p->max_sweeps);
		scale = noise_scale(&P, ncells, log1p(p->noise_floor));
		nfound = decide(&P, m, higher_is_better, tn, tl, scale, p->min_sigmas,
		                p->candidates, NULL);
	}
	if (!nfound)
		goto out_free;
	if (!out) {
		*nout = nfound;
		goto out_free;
	}
	found = malloc(nfound * sizeof(*found));
	if (!found) {
		fsc_error("attribution: out of memory for %zu anomalies", nfound);
		rc = -ENOMEM;
		goto out_free;
	}
	if (n == 2)
		decide_two(m, P.z, higher_is_better, tl, found);
	else
		decide(&P, m, higher_is_better, tn, tl, scale, p->min_sigmas, p->candidates, found);
	qsort(found, nfound, sizeof(*found), anomaly_cmp);
	k = nfound < max_out ? nfound : max_out;
	memcpy(out, found, k * sizeof(*found));
	*nout = k;
	if (k < nfound)
		fsc_warn("attribution: %zu anomalies found, only the %zu most severe reported",
		         nfound, k);
	for (size_t i = 0; ambiguous && i < k; i++)
		if (out[i].ambiguous)
			*ambiguous = 1;
out_free:
	free(found);
	free(P.nc);
	free(P.nr);
	free(P.c);
	free(P.r);
	free(P.tmp);
	free(P.z);
	return rc;
}

int fsc_attrib_confirm(struct fsc_anomaly *a, double value, double reference, int higher_is_better,
                       const struct fsc_attrib_params *p)
{
	struct fsc_attrib_params defp;
	double ref, thr;
	int still;

	if (!p) {
		fsc_attrib_params_default(&defp);
		p = &defp;
	}
	if (isnan(value) || value < 0) {
		fsc_error("attribution: re-measured value %g is not a measurement", value);
		return -EINVAL;
	}
	ref = reference > 0 ? reference : a->expected;
	if (higher_is_better) {
		thr = a->kind == FSC_ANOM_NODE ? p->bw_node_ratio : p->bw_link_ratio;
		still = value < thr * ref;
	} else {
		thr = a->kind == FSC_ANOM_NODE ? p->lat_node_ratio : p->lat_link_ratio;
		still = value > thr * ref;
	}
	a->retests++;
	a->confirmations += still;
	return still;
}

/* A ratio with two significant digits below 10 ("0.11", "4.2", "0.019"),
 * whole numbers above. */
void fsc_ratio_format(char *b, size_t len, double r)
{
	if (isnan(r))
		snprintf(b, len, "?");
	else if (r >= 10)
		snprintf(b, len, "%.0f", r);
	else
		snprintf(b, len, "%.2g", r);
}

static void fmt_host(char *b, size_t len, const char *const *hosts, int rank)
{
	if (hosts && hosts[rank])
		snprintf(b, len, "%s", hosts[rank]);
	else
		snprintf(b, len, "rank %d", rank);
}

int fsc_anomaly_format(const struct fsc_anomaly *a, const char *const *hosts, int higher_is_better,
                       char *buf, size_t len)
{
	const char *what = higher_is_better ? "slow" : "high latency";
	char h0[128], h1[128], r0[32], r1[32], amb[96] = "", conf[48] = "";
	int w;

	if (a->ambiguous)
		snprintf(amb, sizeof(amb), "; ambiguous: too few ranks to tell %s",
		         a->kind == FSC_ANOM_NODE ? "a node from both its links"
		                                  : "a link from a node at either end");
	if (a->retests)
		snprintf(conf, sizeof(conf), "; %s %d/%d",
		         a->confirmations ? "confirmed" : "not confirmed", a->confirmations,
		         a->retests);
	fmt_host(h0, sizeof(h0), hosts, a->src);
	if (a->kind == FSC_ANOM_NODE) {
		const char *side = a->slow_row && !a->slow_col   ? " sending"
		                   : a->slow_col && !a->slow_row ? " receiving"
		                                                 : "";

		fsc_ratio_format(r0, sizeof(r0), a->row_ratio);
		fsc_ratio_format(r1, sizeof(r1), a->col_ratio);
		w = snprintf(buf, len, "%s: node %s%s (row %sx median, column %sx)%s%s", h0, what,
		             side, r0, r1, amb, conf);
	} else {
		fmt_host(h1, sizeof(h1), hosts, a->dst);
		fsc_ratio_format(r0, sizeof(r0), a->ratio);
		w = snprintf(buf, len, "link %s->%s %s (%sx median)%s%s", h0, h1, what, r0, amb,
		             conf);
	}
	return w;
}
