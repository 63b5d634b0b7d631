/* Streamed attribution up to the switch; the method is in topoattr.h. */
#include "topoattr.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define MAD_TO_SIGMA 1.4826
#define MEDIAN_SE 1.2533
/* Histogram of goodness: NB bins over [centre + LO, centre + HI), one
 * underflow and one overflow bin. */
#define NB 128
#define NBT (NB + 2)
#define LO (-5.0)
#define HI 1.5
#define BW ((HI - LO) / NB)
/* Absolute residuals: RB bins of RW over [0, RB RW), then overflow. */
#define RB 800
#define RW 0.0025
#define CALIB_MAX 65536
#define LINKS_KEPT 64
/* Leaf-pair blocks (see fit_blocks): kept for 3 to BLOCKS_MAX leaves; a
 * cell's goodness is winsorised to [centre - 3, centre + 1.5] before it is
 * summed, so that a dead host moves its blocks' means by at most 3/k. */
#define BLOCKS_MAX 2048
#define WIN_LO (-3.0)
#define WIN_HI 1.5
#define BLOCK_SWEEPS 10
#define LEAF_MIN_HOSTS 3
/* cells of a class before a host's effect may come from it alone */
#define HOST_MIN_CELLS 4

enum { H_ROW_IN, H_ROW_X, H_COL_IN, H_COL_X, H_N };
enum { L_INTRA, L_OUT, L_IN, L_N };

struct cell {
	int s, d;
	double v;
};

struct link {
	int s, d;
	double v, e, dev;
};

struct fsc_tattr {
	struct fsc_tattr_params p;
	int n, nleaves, topo;
	int *leaf;    /* leaf of each host */
	int *lsize;   /* hosts per leaf */
	uint16_t *hh; /* n x H_N x NBT */
	uint32_t *lh; /* nleaves x L_N x NBT */
	uint64_t gh[2][NBT];
	uint16_t *zrow, *zcol; /* zero cells per host */
	double *bsum;          /* nleaves^2 winsorised goodness sums of cross blocks */
	uint32_t *bcnt;        /* ... and their cell counts */
	/* calibration */
	struct cell *calib;
	size_t ncalib, calib_cap;
	int calibrated, bad_logged;
	double c0; /* histogram origin: the calibration median */
	/* fit */
	int fitted;
	double mu[2];
	double *lin, *lout, *lleaf_in; /* leaf effects I, U, D */
	double *r, *c;                 /* host effects */
	unsigned char *hsusp;          /* host past the node threshold */
	/* pass 2 */
	uint64_t rh[RB + 1];
	struct link links[LINKS_KEPT];
	size_t nlinks, nlink_cand;
	double scale;
};

void fsc_tattr_params_default(struct fsc_tattr_params *p)
{
	p->node_ratio = 0.5;
	p->link_ratio = 0.5;
	p->min_sigmas = 5.0;
	p->noise_floor = 0.05;
	p->candidates = 0;
	p->cross_ratio = 1;
}

int fsc_tattr_create(struct fsc_tattr **out, int n, const int *host_leaf, int nleaves,
                     const struct fsc_tattr_params *p)
{
	struct fsc_tattr *a;

	*out = NULL;
	if (n < 2 || n > 65535 || (host_leaf && nleaves < 1)) {
		fsc_error("topology attribution: need 2 to 65535 hosts and at least one leaf, got "
		          "%d hosts, %d leaves",
		          n, nleaves);
		return -EINVAL;
	}
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	if (p)
		a->p = *p;
	else
		fsc_tattr_params_default(&a->p);
	if (!(a->p.node_ratio > 0 && a->p.node_ratio < 1 && a->p.link_ratio > 0 &&
	      a->p.link_ratio < 1 && a->p.min_sigmas >= 0 && a->p.noise_floor >= 0 &&
	      a->p.cross_ratio > 0 && a->p.cross_ratio <= 1)) {
		fsc_error("topology attribution: ratios must lie in (0, 1), min_sigmas and "
		          "noise_floor >= 0, cross_ratio in (0, 1] (got %g, %g, %g, %g, %g)",
		          a->p.node_ratio, a->p.link_ratio, a->p.min_sigmas, a->p.noise_floor,
		          a->p.cross_ratio);
		free(a);
		return -EINVAL;
	}
	a->n = n;
	a->topo = host_leaf != NULL;
	a->nleaves = host_leaf ? nleaves : 1;
	a->leaf = calloc((size_t)n, sizeof(*a->leaf));
	a->lsize = calloc((size_t)a->nleaves, sizeof(*a->lsize));
	a->hh = calloc((size_t)n * H_N * NBT, sizeof(*a->hh));
	a->lh = calloc((size_t)a->nleaves * L_N * NBT, sizeof(*a->lh));
	a->zrow = calloc((size_t)n, sizeof(*a->zrow));
	a->zcol = calloc((size_t)n, sizeof(*a->zcol));
	a->calib_cap = 4 * (size_t)n < CALIB_MAX ? 4 * (size_t)n : CALIB_MAX;
	a->calib = malloc(a->calib_cap * sizeof(*a->calib));
	a->lin = calloc((size_t)a->nleaves, sizeof(double));
	a->lout = calloc((size_t)a->nleaves, sizeof(double));
	a->lleaf_in = calloc((size_t)a->nleaves, sizeof(double));
	a->r = calloc((size_t)n, sizeof(double));
	a->c = calloc((size_t)n, sizeof(double));
	a->hsusp = calloc((size_t)n, 1);
	if (a->topo && nleaves >= 2 && nleaves <= BLOCKS_MAX) {
		a->bsum = calloc((size_t)nleaves * nleaves, sizeof(*a->bsum));
		a->bcnt = calloc((size_t)nleaves * nleaves, sizeof(*a->bcnt));
	}
	if ((a->topo && nleaves >= 2 && nleaves <= BLOCKS_MAX && (!a->bsum || !a->bcnt)) ||
	    !a->leaf || !a->lsize || !a->hh || !a->lh || !a->zrow || !a->zcol || !a->calib ||
	    !a->lin || !a->lout || !a->lleaf_in || !a->r || !a->c || !a->hsusp) {
		fsc_error("topology attribution: out of memory for %d hosts", n);
		fsc_tattr_free(a);
		return -ENOMEM;
	}
	for (int i = 0; i < n; i++) {
		int l = host_leaf ? host_leaf[i] : 0;

		if (l < 0 || l >= a->nleaves) {
			fsc_error("topology attribution: host %d on leaf %d, expected 0..%d", i, l,
			          a->nleaves - 1);
			fsc_tattr_free(a);
			return -EINVAL;
		}
		a->leaf[i] = l;
		a->lsize[l]++;
	}
	*out = a;
	return 0;
}

void fsc_tattr_free(struct fsc_tattr *a)
{
	if (!a)
		return;
	free(a->leaf);
	free(a->lsize);
	free(a->hh);
	free(a->lh);
	free(a->zrow);
	free(a->zcol);
	free(a->calib);
	free(a->lin);
	free(a->lout);
	free(a->lleaf_in);
	free(a->r);
	free(a->c);
	free(a->hsusp);
	free(a->bsum);
	free(a->bcnt);
	free(a);
}

/* Goodness of a cell; a cell that moved nothing sits below every bin. */
static inline double good(const struct fsc_tattr *a, double v)
{
	return v > 0 ? log(v) : a->c0 + LO - 1;
}

static inline int bin_of(const struct fsc_tattr *a, double g)
{
	double x = (g - a->c0 - LO) / BW;

	if (x < 0)
		return 0;
	if (x >= NB)
		return NBT - 1;
	return 1 + (int)x;
}

static void put(struct fsc_tattr *a, int s, int d, double v)
{
	int b = bin_of(a, good(a, v)), ls = a->leaf[s], ld = a->leaf[d], x = ls != ld;

	a->hh[((size_t)s * H_N + (x ? H_ROW_X : H_ROW_IN)) * NBT + b]++;
	a->hh[((size_t)d * H_N + (x ? H_COL_X : H_COL_IN)) * NBT + b]++;
	if (x && a->bsum) {
		size_t at = (size_t)ls * a->nleaves + ld;
		double g = good(a, v);

		a->bsum[at] += fmin(fmax(g, a->c0 + WIN_LO), a->c0 + WIN_HI);
		a->bcnt[at]++;
	}
	if (x) {
		a->lh[((size_t)ls * L_N + L_OUT) * NBT + b]++;
		a->lh[((size_t)ld * L_N + L_IN) * NBT + b]++;
	} else {
		a->lh[((size_t)ls * L_N + L_INTRA) * NBT + b]++;
	}
	a->gh[x][b]++;
	if (!(v > 0)) {
		a->zrow[s]++;
		a->zcol[d]++;
	}
}

static int dbl_cmp(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;

	return (a > b) - (a < b);
}

static int calibrate(struct fsc_tattr *a)
{
	double *g = malloc((a->ncalib ? a->ncalib : 1) * sizeof(*g));
	size_t k = 0;

	if (!g)
		return -ENOMEM;
	for (size_t i = 0; i < a->ncalib; i++)
		if (a->calib[i].v > 0)
			g[k++] = log(a->calib[i].v);
	if (k) {
		qsort(g, k, sizeof(*g), dbl_cmp);
		a->c0 = g[k / 2];
	}
	free(g);
	a->calibrated = 1;
	for (size_t i = 0; i < a->ncalib; i++)
		put(a, a->calib[i].s, a->calib[i].d, a->calib[i].v);
	free(a->calib);
	a->calib = NULL;
	return 0;
}

int fsc_tattr_add(struct fsc_tattr *a, int src, int dst, double bw)
{
	if (isnan(bw))
		return 0;
	if (src < 0 || src >= a->n || dst < 0 || dst >= a->n || src == dst || bw < 0 || isinf(bw)) {
		if (!a->bad_logged++)
			fsc_error("topology attribution: cell %d->%d = %g is not a bandwidth "
			          "(>= 0) between two of %d hosts",
			          src, dst, bw, a->n);
		return -EINVAL;
	}
	if (a->calibrated) {
		put(a, src, dst, bw);
		return 0;
	}
	a->calib[a->ncalib++] = (struct cell){src, dst, bw};
	if (a->ncalib == a->calib_cap)
		return calibrate(a);
	return 0;
}

static uint64_t hist_total32(const uint32_t *h)
{
	uint64_t t = 0;

	for (int b = 0; b < NBT; b++)
		t += h[b];
	return t;
}

static uint64_t hist_total16(const uint16_t *h)
{
	uint64_t t = 0;

	for (int b = 0; b < NBT; b++)
		t += h[b];
	return t;
}

/* Median of a histogram, interpolated within its bin (cells spread evenly
 * over the bin); the under- and overflow bins answer their inner edge. */
#define HIST_MEDIAN(name, type)                                                                    \
	static double name(const struct fsc_tattr *a, const type *h, uint64_t total)               \
	{                                                                                          \
		double target = (double)(total - 1) / 2, cum = 0;                                  \
		for (int b = 0; b < NBT; b++) {                                                    \
			if (!h[b])                                                                 \
				continue;                                                          \
			if (cum + h[b] > target) {                                                 \
				if (b == 0)                                                        \
					return a->c0 + LO;                                         \
				if (b == NBT - 1)                                                  \
					return a->c0 + HI;                                         \
				return a->c0 + LO + (b - 1) * BW +                                 \
				       BW * (target - cum + 0.5) / h[b];                           \
			}                                                                          \
			cum += h[b];                                                               \
		}                                                                                  \
		return a->c0;                                                                      \
	}
HIST_MEDIAN(median16, uint16_t)
HIST_MEDIAN(median32, uint32_t)
HIST_MEDIAN(median64, uint64_t)

static double median_of(double *v, size_t k)
{
	qsort(v, k, sizeof(*v), dbl_cmp);
	return k % 2 ? v[k / 2] : (v[k / 2 - 1] + v[k / 2]) / 2;
}

/* Median polish (Tukey) of the leaves x leaves matrix of block means: the
 * cross-leaf centre mu_x and each leaf's out (row) and in (column) effect.
 * The leaves' own effects can then be a large share of the cross cells (one
 * slow leaf of four touches half of them), where a median over all cross
 * cells would be pulled between slow and healthy.  Returns 0, or -ENOMEM
 * (the caller keeps the histogram estimate). */
static int fit_blocks(struct fsc_tattr *a)
{
	int L = a->nleaves;

	if (L == 2) {
		/* Two blocks, 0->1 and 1->0: nothing to polish against.  Each is
		 * judged against the intra-leaf centre times the expected
		 * cross-leaf ratio, and put on its sending leaf's uplink: with two
		 * leaves a leaf's uplink cannot be told from the other's
		 * downlink. */
		a->mu[1] = a->mu[0] + log(a->p.cross_ratio);
		for (int l = 0; l < 2; l++) {
			size_t at = (size_t)l * 2 + (1 - l);

			a->lout[l] = a->bcnt[at] ? a->bsum[at] / a->bcnt[at] - a->mu[1] : 0;
			a->lleaf_in[1 - l] = 0;
		}
		return 0;
	}

	size_t LL = (size_t)L * L;
	double *z = malloc(LL * sizeof(*z)), *tmp = malloc((size_t)L * sizeof(*tmp)), mu = 0;
	size_t k = 0;

	if (!z || !tmp) {
		free(z);
		free(tmp);
		return -ENOMEM;
	}
	for (size_t i = 0; i < LL; i++)
		z[i] = a->bcnt[i] ? a->bsum[i] / a->bcnt[i] : NAN;
	for (int l = 0; l < L; l++)
		a->lout[l] = a->lleaf_in[l] = 0;
	for (int s = 0; s < BLOCK_SWEEPS; s++) {
		double moved = 0;

		for (int dim = 0; dim < 2; dim++) {
			double *eff = dim ? a->lleaf_in : a->lout, d;

			for (int x = 0; x < L; x++) {
				k = 0;
				for (int y = 0; y < L; y++) {
					double v =
					        dim ? z[(size_t)y * L + x] : z[(size_t)x * L + y];

					if (!isnan(v))
						tmp[k++] = v;
				}
				if (!k)
					continue;
				d = median_of(tmp, k);
				eff[x] += d;
				for (int y = 0; y < L; y++)
					*(dim ? &z[(size_t)y * L + x] : &z[(size_t)x * L + y]) -= d;
				moved = fmax(moved, fabs(d));
			}
			/* centre the other side's effects on their median */
			eff = dim ? a->lout : a->lleaf_in;
			for (int x = 0; x < L; x++)
				tmp[x] = eff[x];
			d = median_of(tmp, (size_t)L);
			for (int x = 0; x < L; x++)
				eff[x] -= d;
			mu += d;
		}
		if (moved < 1e-9)
			break;
	}
	/* the last column sweep may leave the column effects off centre */
	for (int dim = 0; dim < 2; dim++) {
		double *eff = dim ? a->lleaf_in : a->lout, d;

		for (int x = 0; x < L; x++)
			tmp[x] = eff[x];
		d = median_of(tmp, (size_t)L);
		for (int x = 0; x < L; x++)
			eff[x] -= d;
		mu += d;
	}
	a->mu[1] = mu;
	free(z);
	free(tmp);
	return 0;
}

int fsc_tattr_fit(struct fsc_tattr *a)
{
	uint64_t tot[2] = {0, 0};
	double tn = log(a->p.node_ratio);
	int rc, blocks;

	if (!a->calibrated) {
		rc = calibrate(a);
		if (rc)
			return rc;
	}
	for (int x = 0; x < 2; x++)
		for (int b = 0; b < NBT; b++)
			tot[x] += a->gh[x][b];
	if (!tot[0] && !tot[1])
		return -ENODATA;
	for (int x = 0; x < 2; x++)
		a->mu[x] = tot[x] ? median64(a, a->gh[x], tot[x]) : NAN;
	if (!tot[0])
		a->mu[0] = a->mu[1];
	if (!tot[1])
		a->mu[1] = a->mu[0];
	blocks = a->bsum && tot[1] && !fit_blocks(a);
	for (int l = 0; l < a->nleaves; l++) {
		const uint32_t *h = a->lh + (size_t)l * L_N * NBT;
		double *eff[L_N] = {&a->lin[l], &a->lout[l], &a->lleaf_in[l]};

		for (int k = 0; k < L_N; k++) {
			uint64_t t = hist_total32(h + k * NBT);

			if (blocks && k != L_INTRA) {
				if (a->lsize[l] < LEAF_MIN_HOSTS)
					*eff[k] = 0;
				continue;
			}
			*eff[k] = 0;
			if (a->topo && a->lsize[l] >= LEAF_MIN_HOSTS && t)
				*eff[k] = median32(a, h + k * NBT, t) - a->mu[k != L_INTRA];
		}
	}
	for (int i = 0; i < a->n; i++) {
		const uint16_t *h = a->hh + (size_t)i * H_N * NBT;
		int l = a->leaf[i];

		for (int side = 0; side < 2; side++) {
			const uint16_t *hin = h + (side ? H_COL_IN : H_ROW_IN) * NBT;
			const uint16_t *hx = h + (side ? H_COL_X : H_ROW_X) * NBT;
			uint64_t tin = hist_total16(hin), tx = hist_total16(hx);
			double e = 0;

			/* two leaves: the cells into l all left the other leaf, whose
			 * uplink effect carries them (fit_blocks) */
			double lx = side ? (a->nleaves == 2 && a->bsum ? a->lout[1 - l]
			                                               : a->lleaf_in[l])
			                 : a->lout[l];
			double ex = tx ? median16(a, hx, tx) - a->mu[1] - lx : 0;
			double ei = tin ? median16(a, hin, tin) - a->mu[0] - a->lin[l] : 0;

			/* The worse class decides when both have cells enough: under
			 * oversubscription a NIC at 0.3x still fills its share of a
			 * 0.5x cross-leaf path (0.6x of that centre), and only its
			 * intra-leaf cells show it. */
			if (tx >= HOST_MIN_CELLS && tin >= HOST_MIN_CELLS)
				e = fmin(ex, ei);
			else
				e = tx >= tin ? ex : ei;
			if (side)
				a->c[i] = e;
			else
				a->r[i] = e;
		}
		a->hsusp[i] = a->r[i] < tn || a->c[i] < tn;
	}
	a->fitted = 1;
	return 0;
}

static inline double expect(const struct fsc_tattr *a, int s, int d, int *cross)
{
	int ls = a->leaf[s], ld = a->leaf[d];

	*cross = ls != ld;
	if (ls != ld)
		return a->mu[1] + a->lout[ls] + a->lleaf_in[ld] + a->r[s] + a->c[d];
	return a->mu[0] + a->lin[ls] + a->r[s] + a->c[d];
}

void fsc_tattr_add2(struct fsc_tattr *a, int src, int dst, double bw)
{
	double g, e, dev, tl = log(a->p.link_ratio);
	int cross;
	size_t at;

	if (!a->fitted || isnan(bw) || src < 0 || src >= a->n || dst < 0 || dst >= a->n ||
	    src == dst || bw < 0)
		return;
	g = good(a, bw);
	e = g - expect(a, src, dst, &cross);
	at = (size_t)(fabs(e) / RW);
	a->rh[at < RB ? at : RB]++;
	dev = g - a->mu[cross];
	if (!(e < tl && dev < tl) || a->hsusp[src] || a->hsusp[dst])
		return;
	a->nlink_cand++;
	if (a->nlinks < LINKS_KEPT) {
		a->links[a->nlinks++] = (struct link){src, dst, bw, e, dev};
		return;
	}
	/* replace the least severe kept link when this one is worse */
	at = 0;
	for (size_t k = 1; k < LINKS_KEPT; k++)
		if (a->links[k].e > a->links[at].e)
			at = k;
	if (e < a->links[at].e)
		a->links[at] = (struct link){src, dst, bw, e, dev};
}

static double noise_scale(const struct fsc_tattr *a)
{
	uint64_t t = 0, cum = 0;
	double target;

	for (int b = 0; b <= RB; b++)
		t += a->rh[b];
	if (!t)
		return log1p(a->p.noise_floor);
	target = (double)(t - 1) / 2;
	for (int b = 0; b <= RB; b++) {
		if (cum + a->rh[b] > target) {
			double mad = b == RB ? RB * RW : (b + (target - cum + 0.5) / a->rh[b]) * RW;

			return fmax(MAD_TO_SIGMA * mad, log1p(a->p.noise_floor));
		}
		cum += a->rh[b];
	}
	return log1p(a->p.noise_floor);
}

static int susp_cmp(const void *x, const void *y)
{
	const struct fsc_tsusp *a = x, *b = y;

	if (a->kind != b->kind)
		return a->kind < b->kind ? -1 : 1;
	if (a->ratio != b->ratio)
		return a->ratio < b->ratio ? -1 : 1;
	if (a->a != b->a)
		return a->a < b->a ? -1 : 1;
	return (a->b > b->b) - (a->b < b->b);
}

/* A leaf's or a host's two sides (out: cross-leaf out or sends; in:
 * cross-leaf in or receives), effects eo and ei over ko and ki cells: which
 * are past the ratio tn (and z standard errors out, unless cand), the worse
 * effect and its standard errors.  Returns whether either side is. */
static int two_sided(double eo, uint64_t ko, double ei, uint64_t ki, double s, double tn, double z,
                     int cand, int *so, int *si, double *worst, double *sig)
{
	double zo = ko ? -eo / (s * MEDIAN_SE / sqrt((double)ko)) : 0;
	double zi = ki ? -ei / (s * MEDIAN_SE / sqrt((double)ki)) : 0;

	*so = ko && eo < tn && (cand || zo > z);
	*si = ki && ei < tn && (cand || zi > z);
	*worst = *so && *si ? fmin(eo, ei) : *so ? eo : ei;
	*sig = *so && *si ? fmax(zo, zi) : *so ? zo : zi;
	return *so || *si;
}

size_t fsc_tattr_decide(struct fsc_tattr *a, struct fsc_tsusp *out, size_t max_out, size_t *ncand)
{
	double tn = log(a->p.node_ratio), s, z = a->p.min_sigmas;
	int cand = a->p.candidates;
	size_t k = 0, nlk = 0, cap = (size_t)a->nleaves + (size_t)a->n + LINKS_KEPT, nout;
	struct fsc_tsusp *all;

	if (ncand)
		*ncand = 0;
	if (!a->fitted)
		return 0;
	s = a->scale = noise_scale(a);
	all = malloc(cap * sizeof(*all));
	if (!all) {
		fsc_error("topology attribution: out of memory for %zu suspects", cap);
		return 0;
	}
	for (int l = 0; l < a->nleaves; l++) {
		const uint32_t *h = a->lh + (size_t)l * L_N * NBT;
		uint64_t ko = hist_total32(h + L_OUT * NBT), ki = hist_total32(h + L_IN * NBT);
		uint64_t kn = hist_total32(h + L_INTRA * NBT);
		int so, si;
		double worst, sig;

		if (!two_sided(a->lout[l], ko, a->lleaf_in[l], ki, s, tn, z, cand, &so, &si, &worst,
		               &sig))
			continue;
		all[k++] = (struct fsc_tsusp){
		        .kind = FSC_TS_LEAF,
		        .a = l,
		        .b = -1,
		        .ratio = exp(worst),
		        .out_ratio = exp(a->lout[l]),
		        .in_ratio = exp(a->lleaf_in[l]),
		        .intra_ratio = kn ? exp(a->lin[l]) : NAN,
		        .slow_out = so,
		        .slow_in = si,
		        .slow_intra = kn && a->lin[l] < tn,
		        .measured = exp(a->mu[1] + worst),
		        .expected = exp(a->mu[1]),
		        .sigmas = sig,
		};
		all[k - 1].significant = all[k - 1].sigmas > z;
	}
	for (int i = 0; i < a->n; i++) {
		const uint16_t *h = a->hh + (size_t)i * H_N * NBT;
		uint64_t kr = hist_total16(h + H_ROW_IN * NBT) + hist_total16(h + H_ROW_X * NBT);
		uint64_t kc = hist_total16(h + H_COL_IN * NBT) + hist_total16(h + H_COL_X * NBT);
		int sr, sc;
		double worst, sig;

		if (!two_sided(a->r[i], kr, a->c[i], kc, s, tn, z, cand, &sr, &sc, &worst, &sig))
			continue;
		all[k++] = (struct fsc_tsusp){
		        .kind = FSC_TS_HOST,
		        .a = i,
		        .b = -1,
		        .ratio = exp(worst),
		        .out_ratio = exp(a->r[i]),
		        .in_ratio = exp(a->c[i]),
		        .intra_ratio = NAN,
		        .slow_out = sr,
		        .slow_in = sc,
		        .dead = a->zrow[i] + a->zcol[i] == kr + kc,
		        .measured = exp(a->mu[0] + worst),
		        .expected = exp(a->mu[0]),
		        .sigmas = sig,
		};
		all[k - 1].significant = all[k - 1].sigmas > z;
	}
	for (size_t j = 0; j < a->nlinks; j++) {
		const struct link *L = &a->links[j];
		uint64_t ks = 0, kd = 0;
		double se, sig;
		int cross;
		const uint16_t *hs = a->hh + (size_t)L->s * H_N * NBT;
		const uint16_t *hd = a->hh + (size_t)L->d * H_N * NBT;

		ks = hist_total16(hs + H_ROW_IN * NBT) + hist_total16(hs + H_ROW_X * NBT);
		kd = hist_total16(hd + H_COL_IN * NBT) + hist_total16(hd + H_COL_X * NBT);
		se = s *
		     sqrt(1 + MEDIAN_SE * MEDIAN_SE *
		                      (1.0 / (double)(ks ? ks : 1) + 1.0 / (double)(kd ? kd : 1)));
		sig = -L->e / se;
		if (!cand && !(sig > z))
			continue;
		nlk++;
		all[k++] = (struct fsc_tsusp){
		        .kind = FSC_TS_LINK,
		        .a = L->s,
		        .b = L->d,
		        .ratio = exp(L->e),
		        .out_ratio = exp(L->dev),
		        .in_ratio = NAN,
		        .intra_ratio = NAN,
		        .measured = L->v,
		        .expected = exp(expect(a, L->s, L->d, &cross)),
		        .sigmas = sig,
		        .significant = sig > z,
		};
	}
	qsort(all, k, sizeof(*all), susp_cmp);
	if (ncand) /* leaves and hosts, and every link candidate, kept or not */
		*ncand = k - nlk + a->nlink_cand;
	nout = k < max_out ? k : max_out;
	if (out && nout)
		memcpy(out, all, nout * sizeof(*all));
	free(all);
	return out ? nout : 0;
}

double fsc_tattr_centre(const struct fsc_tattr *a, int cross)
{
	return a->fitted ? exp(a->mu[!!cross]) : NAN;
}

double fsc_tattr_noise(const struct fsc_tattr *a)
{
	return a->scale > 0 ? expm1(a->scale) : NAN;
}

void fsc_tattr_host(const struct fsc_tattr *a, int host, double *send, double *recv)
{
	*send = a->fitted ? exp(a->r[host]) : NAN;
	*recv = a->fitted ? exp(a->c[host]) : NAN;
}

void fsc_tattr_leaf(const struct fsc_tattr *a, int leaf, double *intra, double *out, double *in)
{
	*intra = a->fitted ? exp(a->lin[leaf]) : NAN;
	*out = a->fitted ? exp(a->lout[leaf]) : NAN;
	*in = a->fitted ? exp(a->lleaf_in[leaf]) : NAN;
}

int fsc_tattr_confirm(const struct fsc_tattr *a, struct fsc_tsusp *s, double value,
                      double reference)
{
	double thr = s->kind == FSC_TS_LINK ? a->p.link_ratio : a->p.node_ratio;
	double ref = reference > 0 ? reference : s->expected;
	int still;

	if (isnan(value) || value < 0) {
		fsc_error("topology attribution: re-measured value %g is not a bandwidth", value);
		return -EINVAL;
	}
	still = value < thr * ref;
	s->retests++;
	s->confirmations += still;
	return still;
}

static void ratio(char *b, size_t len, double r)
{
	if (isnan(r))
		snprintf(b, len, "?");
	else if (r >= 10)
		snprintf(b, len, "%.0f", r);
	else if (r >= 0.995) /* %.2g would print 0.996 as "1" */
		snprintf(b, len, "%.1f", r);
	else
		snprintf(b, len, "%.2g", r);
}

static void name(char *b, size_t len, const char *const *names, const char *what, int i)
{
	if (names && names[i])
		snprintf(b, len, "%s", names[i]);
	else
		snprintf(b, len, "%s %d", what, i);
}

int fsc_tsusp_format(const struct fsc_tsusp *s, const char *const *hosts, const char *const *leaves,
                     char *buf, size_t len)
{
	char n0[128], n1[128], r0[16], r1[16], r2[16], conf[48] = "";

	if (s->retests)
		snprintf(conf, sizeof(conf), "; %s %d/%d",
		         s->confirmations ? "confirmed" : "not confirmed", s->confirmations,
		         s->retests);
	switch (s->kind) {
	case FSC_TS_LEAF:
		name(n0, sizeof(n0), leaves, "leaf", s->a);
		ratio(r0, sizeof(r0), s->ratio);
		ratio(r2, sizeof(r2), s->intra_ratio);
		if (s->slow_out && s->slow_in)
			return snprintf(buf, len,
			                "%s %s slow (cross-leaf cells %sx, intra-leaf %sx)%s", n0,
			                s->slow_intra ? "switch" : "uplink", r0, r2, conf);
		ratio(r0, sizeof(r0), s->out_ratio);
		ratio(r1, sizeof(r1), s->in_ratio);
		return snprintf(buf, len,
		                "%s %s slow %s (cross-leaf out %sx, in %sx, intra-leaf %sx)%s", n0,
		                s->slow_intra ? "switch" : "uplink",
		                s->slow_out ? "upward" : "downward", r0, r1, r2, conf);
	case FSC_TS_HOST:
		name(n0, sizeof(n0), hosts, "host", s->a);
		if (s->dead)
			return snprintf(buf, len, "%s: dead port (no cell moved a byte)%s", n0,
			                conf);
		ratio(r0, sizeof(r0), s->out_ratio);
		ratio(r1, sizeof(r1), s->in_ratio);
		return snprintf(buf, len, "%s: node slow%s (sends %sx, receives %sx)%s", n0,
		                s->slow_out && !s->slow_in   ? " sending"
		                : s->slow_in && !s->slow_out ? " receiving"
		                                             : "",
		                r0, r1, conf);
	case FSC_TS_LINK:
		name(n0, sizeof(n0), hosts, "host", s->a);
		name(n1, sizeof(n1), hosts, "host", s->b);
		ratio(r0, sizeof(r0), s->ratio);
		return snprintf(buf, len, "link %s->%s slow (%sx expected)%s", n0, n1, r0, conf);
	}
	return snprintf(buf, len, "?");
}
