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

/* The matrix is read a line (row or column) at a time through a source,
 * so that it may live on disk: nothing here is n x n.  The residuals are
 * not stored: a cell's residual is its goodness minus the starting centre
 * and the row and column medians every sweep took out, subtracted in the
 * order the sweeps took them out, so that it is bit for bit what an
 * in-place polish of the whole matrix would hold.  Memory: the effects and
 * each sweep's medians (2 max_sweeps n doubles), two lines, and the
 * streamed medians' bounded buffers (stats.h). */
struct polish {
	int n, hib;
	const struct fsc_attrib_src *src;
	double *line;     /* [n]: one line of the matrix */
	double *tmp;      /* [n] scratch */
	double *r, *c;    /* row and column effects */
	int *nr, *nc;     /* measured cells per row and column */
	double *dr, *dc;  /* [sweep][n]: the medians each sweep took out */
	int srows, scols; /* row and column sweeps done */
	double mu0, mu;   /* the starting centre; the centre */
	size_t ncells;
	double floor_log;
	int err;
	int zmode; /* what cells_emit emits: 0 goodness, 1 |residual| */
	size_t zeros, npar;
};

static int line_read(struct polish *P, int dim, int i)
{
	int rc = P->src->line(P->src->arg, dim, i, P->line);

	P->line[i] = NAN; /* the diagonal */
	return rc;
}

/* The residual of cell (i, j) of goodness g after the sweeps done so far. */
static double resid(const struct polish *P, int i, int j, double g)
{
	double z = g - P->mu0;
	int n = P->n;

	for (int s = 0; s < P->srows; s++) {
		z -= P->dr[(size_t)s * n + i];
		if (s < P->scols)
			z -= P->dc[(size_t)s * n + j];
	}
	return z;
}

static double good_of(const struct polish *P, double x)
{
	int bad = 0;

	return goodness(x, P->hib, &bad);
}

/* Sweep row (dim 0) or column (dim 1) upper medians out of the residuals
 * into the effects; returns the largest move, or -1 when a line could not
 * be read (P->err). */
static double sweep(struct polish *P, int dim)
{
	int n = P->n, s = dim ? P->scols : P->srows;
	double *eff = dim ? P->c : P->r, *out = (dim ? P->dc : P->dr) + (size_t)s * n, moved = 0, d;
	size_t k;

	for (int a = 0; a < n; a++) {
		P->err = line_read(P, dim, a);
		if (P->err)
			return -1;
		k = 0;
		for (int b = 0; b < n; b++) {
			double g = good_of(P, P->line[b]);

			if (!isnan(g))
				P->tmp[k++] = dim ? resid(P, b, a, g) : resid(P, a, b, g);
		}
		out[a] = 0;
		if (!k)
			continue;
		d = fsc_upper_median(P->tmp, k);
		eff[a] += d;
		out[a] = d;
		if (fabs(d) > moved)
			moved = fabs(d);
	}
	if (dim)
		P->scols++;
	else
		P->srows++;
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

/* Fit mu, r, c by median polish. */
static int polish_run(struct polish *P, int max_sweeps)
{
	double moved, m2;

	for (int s = 0; s < max_sweeps; s++) {
		moved = sweep(P, 0);
		if (moved < 0)
			return P->err;
		recentre(P, 1);
		m2 = sweep(P, 1);
		if (m2 < 0)
			return P->err;
		moved = fmax(moved, m2);
		recentre(P, 0);
		if (moved < POLISH_EPS)
			break;
	}
	return 0;
}

/* The stream of cells, row by row: goodness (zmode 0) or the absolute
 * residuals less the polish's zeros (zmode 1, see noise_scale). */
static int cells_scan(void *arg, void (*emit)(void *, double), void *sel)
{
	struct polish *P = arg;

	P->zeros = 0;
	for (int i = 0; i < P->n; i++) {
		int rc = line_read(P, 0, i);

		if (rc)
			return rc;
		for (int j = 0; j < P->n; j++) {
			double g = good_of(P, P->line[j]), z;

			if (isnan(g))
				continue;
			if (!P->zmode) {
				emit(sel, g);
				continue;
			}
			z = resid(P, i, j, g);
			if (fabs(z) <= POLISH_EPS && P->zeros++ < P->npar)
				continue;
			emit(sel, fabs(z));
		}
	}
	return 0;
}

/* Values held by a streamed median: O(n), at least 64 Ki, at most the
 * cells. */
static size_t stream_cap(const struct polish *P)
{
	size_t cap = 4 * (size_t)P->n + 65536;

	return P->ncells < cap ? P->ncells : cap;
}

/* Robust noise scale of the residuals (see analysis.h, step 3).  The polish
 * fits 2n-1 effects and makes the median cell of every row and column
 * exactly 0; those zeros are artefacts of the fit, not observations of the
 * noise, and would shrink the MAD (to ~0.3 sigma for n = 4).  Up to 2n-1
 * exact zeros are therefore left out (more are real: a clean matrix stays at
 * the floor), the first ones in row-major order.  So computed, 1.4826 MAD
 * measured 0.98-1.09 sigma for normal noise and n = 4..64.  With fewer than
 * MIN_NOISE_DOF residual degrees of freedom (n <= 4) the few residuals left
 * are dominated by any bad link itself: the floor is used and the
 * thresholds alone decide. */
static int noise_scale(struct polish *P, double *scale)
{
	struct fsc_stream_src src = {cells_scan, P};
	double med;
	int rc;

	P->npar = 2 * (size_t)P->n - 1;
	*scale = P->floor_log;
	if (P->ncells < P->npar + MIN_NOISE_DOF)
		return 0;
	P->zmode = 1;
	rc = fsc_stream_median(&src, stream_cap(P), &med, NULL);
	P->zmode = 0;
	if (!rc)
		*scale = fmax(MAD_TO_SIGMA * med, P->floor_log);
	return rc;
}

int fsc_anomaly_cmp(const void *pa, const void *pb)
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

/* Decide every node and link, giving each to found(arg, a); *k = the
 * count.  tn, tl: the node and link thresholds in goodness (< 0); z: the
 * significance asked for; cand: report candidates past the thresholds
 * whatever their significance (fsc_attrib_params.candidates). */
static int decide(struct polish *P, double tn, double tl, double scale, double z, int cand,
                  void (*found)(void *, const struct fsc_anomaly *), void *arg, size_t *k)
{
	int n = P->n, hib = P->hib, rc = 0;
	double centre = to_ratio(P->mu, hib);
	/* nodes that are candidates: their links are re-tested with them */
	char *nc = calloc((size_t)n, 1);

	*k = 0;
	if (!nc) {
		fsc_error("attribution: out of memory for %d nodes", n);
		return -ENOMEM;
	}
	for (int i = 0; i < n; i++) {
		/* significance of each side in standard errors of its median */
		double zr = P->nr[i] ? -P->r[i] / (scale * MEDIAN_SE / sqrt((double)P->nr[i])) : 0;
		double zc = P->nc[i] ? -P->c[i] / (scale * MEDIAN_SE / sqrt((double)P->nc[i])) : 0;
		int sr = P->nr[i] && P->r[i] < tn && (cand || zr > z);
		int sc = P->nc[i] && P->c[i] < tn && (cand || zc > z);
		double worst, sig;

		if (!sr && !sc)
			continue;
		nc[i] = 1;
		sig = sr && sc ? fmax(zr, zc) : sr ? zr : zc;
		worst = sr && sc ? fmin(P->r[i], P->c[i]) : sr ? P->r[i] : P->c[i];
		found(arg, &(struct fsc_anomaly){
		                   .kind = FSC_ANOM_NODE,
		                   .src = i,
		                   .dst = -1,
		                   .measured = centre * to_ratio(worst, hib),
		                   .expected = centre,
		                   .ratio = to_ratio(worst, hib),
		                   .row_ratio = to_ratio(P->r[i], hib),
		                   .col_ratio = to_ratio(P->c[i], hib),
		                   .slow_row = sr,
		                   .slow_col = sc,
		                   .ambiguous = n == 3,
		                   .sigmas = sig,
		                   .significant = sig > z,
		           });
		(*k)++;
	}
	for (int i = 0; i < n && !rc; i++) {
		rc = line_read(P, 0, i);
		for (int j = 0; j < n && !rc; j++) {
			double x = P->line[j], g = good_of(P, x), e, dev, se;

			if (i == j || isnan(g))
				continue;
			e = resid(P, i, j, g);
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
			found(arg, &(struct fsc_anomaly){
			                   .kind = FSC_ANOM_LINK,
			                   .src = i,
			                   .dst = j,
			                   .measured = x,
			                   .expected = centre,
			                   .ratio = to_ratio(dev, hib),
			                   .row_ratio = to_ratio(P->r[i], hib),
			                   .col_ratio = to_ratio(P->c[j], hib),
			                   .sigmas = -e / se,
			                   .significant = e < -z * se,
			           });
			(*k)++;
		}
	}
	free(nc);
	return rc;
}

/* n == 2: only the asymmetry between the two cells is visible. */
static int decide_two(struct polish *P, double tl,
                      void (*found)(void *, const struct fsc_anomaly *), void *arg, size_t *k)
{
	double m[2], g[2], mu, centre;
	int rc;

	*k = 0;
	for (int i = 0; i < 2; i++) {
		rc = line_read(P, 0, i);
		if (rc)
			return rc;
		m[i] = P->line[1 - i];
		g[i] = good_of(P, m[i]);
	}
	if (isnan(g[0]) || isnan(g[1]))
		return 0;
	mu = (g[0] + g[1]) / 2;
	centre = to_ratio(mu, P->hib);
	for (int i = 0; i < 2; i++) {
		if (!(g[i] - mu < tl))
			continue;
		found(arg, &(struct fsc_anomaly){
		                   .kind = FSC_ANOM_LINK,
		                   .src = i,
		                   .dst = 1 - i,
		                   .measured = m[i],
		                   .expected = centre,
		                   .ratio = to_ratio(g[i] - mu, P->hib),
		                   .row_ratio = NAN,
		                   .col_ratio = NAN,
		                   .ambiguous = 1,
		                   .sigmas = NAN,
		                   .significant = 1,
		           });
		(*k)++;
	}
	return 0;
}

int fsc_attrib_scan(const struct fsc_attrib_src *m, int higher_is_better,
                    const struct fsc_attrib_params *p,
                    void (*found)(void *arg, const struct fsc_anomaly *a), void *arg,
                    size_t *nfound)
{
	struct fsc_attrib_params defp;
	struct polish P = {.n = m ? m->n : 0, .hib = higher_is_better, .src = m};
	struct fsc_stream_src cells = {cells_scan, &P};
	int bad = 0, rc = 0, n = P.n;
	double tn, tl, scale = 0;

	*nfound = 0;
	if (!p) {
		fsc_attrib_params_default(&defp);
		p = &defp;
	}
	if (!m || !m->line || n < 2 || !found) {
		fsc_error("attribution: need a matrix of at least 2 x 2 ranks (n = %d)", n);
		return -EINVAL;
	}
	rc = params_check(p);
	if (rc)
		return rc;
	tn = higher_is_better ? log(p->bw_node_ratio) : -log(p->lat_node_ratio);
	tl = higher_is_better ? log(p->bw_link_ratio) : -log(p->lat_link_ratio);
	P.floor_log = log1p(p->noise_floor);

	P.line = malloc((size_t)n * sizeof(*P.line));
	P.tmp = malloc((size_t)n * sizeof(*P.tmp));
	P.r = calloc((size_t)n, sizeof(*P.r));
	P.c = calloc((size_t)n, sizeof(*P.c));
	P.nr = calloc((size_t)n, sizeof(*P.nr));
	P.nc = calloc((size_t)n, sizeof(*P.nc));
	P.dr = calloc((size_t)n * (size_t)p->max_sweeps, sizeof(*P.dr));
	P.dc = calloc((size_t)n * (size_t)p->max_sweeps, sizeof(*P.dc));
	if (!P.line || !P.tmp || !P.r || !P.c || !P.nr || !P.nc || !P.dr || !P.dc) {
		fsc_error("attribution: out of memory for a %d x %d matrix", n, n);
		rc = -ENOMEM;
		goto out_free;
	}
	for (int i = 0; i < n && !rc; i++) {
		rc = line_read(&P, 0, i);
		for (int j = 0; j < n && !rc; j++) {
			double g = goodness(P.line[j], higher_is_better, &bad);

			if (bad) {
				fsc_error("attribution: cell %d->%d = %g is not a valid %s", i, j,
				          P.line[j],
				          higher_is_better ? "bandwidth (>= 0)" : "latency (> 0)");
				rc = -EINVAL;
			} else if (!isnan(g)) {
				P.ncells++;
				P.nr[i]++;
				P.nc[j]++;
			}
		}
	}
	if (rc || !P.ncells)
		goto out_free;

	if (n == 2) {
		rc = decide_two(&P, tl, found, arg, nfound);
	} else {
		rc = fsc_stream_median(&cells, stream_cap(&P), &P.mu0, NULL);
		P.mu = P.mu0;
		if (!rc)
			rc = polish_run(&P, p->max_sweeps);
		if (!rc)
			rc = noise_scale(&P, &scale);
		if (!rc)
			rc = decide(&P, tn, tl, scale, p->min_sigmas, p->candidates, found, arg,
			            nfound);
	}
out_free:
	free(P.dc);
	free(P.dr);
	free(P.nc);
	free(P.nr);
	free(P.c);
	free(P.r);
	free(P.tmp);
	free(P.line);
	return rc;
}

/* ---- a matrix in memory ---- */

struct dense_src {
	const double *m;
	int n;
};

static int dense_line(void *arg, int dim, int i, double *out)
{
	const struct dense_src *d = arg;
	int n = d->n;

	for (int j = 0; j < n; j++)
		out[j] = dim ? d->m[(size_t)j * n + i] : d->m[(size_t)i * n + j];
	return 0;
}

struct collect {
	struct fsc_anomaly *v;
	size_t n, cap;
	int oom;
};

static void collect_one(void *arg, const struct fsc_anomaly *a)
{
	struct collect *c = arg;

	if (c->n == c->cap) {
		size_t nc = c->cap ? 2 * c->cap : 16;
		struct fsc_anomaly *nv = c->oom ? NULL : realloc(c->v, nc * sizeof(*nv));

		if (!nv) {
			c->oom = 1;
			return;
		}
		c->v = nv;
		c->cap = nc;
	}
	c->v[c->n++] = *a;
}

int fsc_attrib_analyze(const double *m, int n, int higher_is_better,
                       const struct fsc_attrib_params *p, struct fsc_anomaly *out, size_t max_out,
                       size_t *nout, int *ambiguous)
{
	struct dense_src d = {m, n};
	struct fsc_attrib_src src = {n, dense_line, &d};
	struct collect col = {0};
	size_t nfound = 0, k;
	int rc;

	*nout = 0;
	if (ambiguous)
		*ambiguous = 0;
	if (!m || n < 2 || (!out && max_out)) {
		fsc_error("attribution: need a matrix of at least 2 x 2 ranks (n = %d)", n);
		return -EINVAL;
	}
	rc = fsc_attrib_scan(&src, higher_is_better, p, collect_one, &col, &nfound);
	if (!rc && col.oom) {
		fsc_error("attribution: out of memory for %zu anomalies", nfound);
		rc = -ENOMEM;
	}
	if (rc || !nfound)
		goto out;
	if (!out) {
		*nout = nfound;
		goto out;
	}
	qsort(col.v, nfound, sizeof(*col.v), fsc_anomaly_cmp);
	k = nfound < max_out ? nfound : max_out;
	memcpy(out, col.v, k * sizeof(*col.v));
	*nout = k;
	if (k < nfound)
		fsc_warn("attribution: %zu anomalies found, only the %zu most severe reported",
		         nfound, k);
	for (size_t i = 0; ambiguous && i < k; i++)
		if (out[i].ambiguous)
			*ambiguous = 1;
out:
	free(col.v);
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
