/* Descriptive and robust statistics over samples, and the one home of
 * order statistics (sorting, selection, medians) for the whole engine.
 *
 * Percentiles are nearest-rank (exact, over all samples); sums use
 * compensated (Neumaier) summation and the variance the corrected two-pass
 * formula of Chan, Golub and LeVeque ("Algorithms for computing the sample
 * variance", 1983):
 *   var = (sum d_i^2 - (sum d_i)^2 / n) / (n - 1),  d_i = x_i - mean
 * where the second term removes the rounding error left in the mean.  Both
 * stay accurate when the spread is tiny compared with the values (latencies
 * of a few ns on a clock reading of seconds), where sum x^2 - n mean^2
 * cancels catastrophically.
 */
#include "stats.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* MAD -> standard deviation of normal data: 1 / Phi^-1(3/4). */
#define FSC_MAD_SCALE 1.4826

static void swap(double *a, double *b)
{
	double t = *a;

	*a = *b;
	*b = t;
}

/* Hoare partition of v[lo..hi] (hi - lo >= 2) around the median of
 * v[lo], v[mid], v[hi].  Returns j with lo <= j < hi, every element of
 * [lo, j] <= pivot <= every element of [j+1, hi]; both parts are
 * non-empty, so callers always make progress.  Runs of equal values are
 * split evenly (both scans stop on equality), which keeps all-equal input
 * at O(n log n). */
static size_t partition(double *v, size_t lo, size_t hi)
{
	size_t mid = lo + (hi - lo) / 2, i = lo, j = hi;
	double pivot;

	if (v[mid] < v[lo])
		swap(&v[mid], &v[lo]);
	if (v[hi] < v[lo])
		swap(&v[hi], &v[lo]);
	if (v[hi] < v[mid])
		swap(&v[hi], &v[mid]);
	pivot = v[mid];
	/* v[lo] <= pivot <= v[hi] stop the scans at the ends. */
	for (;;) {
		while (v[i] < pivot)
			i++;
		while (v[j] > pivot)
			j--;
		if (i >= j)
			return j;
		swap(&v[i], &v[j]);
		i++;
		j--;
	}
}

static void insertion_sort(double *v, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		double x = v[i];
		size_t j = i;

		for (; j > 0 && v[j - 1] > x; j--)
			v[j] = v[j - 1];
		v[j] = x;
	}
}

static void sift_down(double *v, size_t root, size_t n)
{
	for (size_t c; (c = 2 * root + 1) < n; root = c) {
		if (c + 1 < n && v[c + 1] > v[c])
			c++;
		if (!(v[c] > v[root]))
			return;
		swap(&v[c], &v[root]);
	}
}

static void heap_sort(double *v, size_t n)
{
	for (size_t i = n / 2; i-- > 0;)
		sift_down(v, i, n);
	for (size_t i = n; i-- > 1;) {
		swap(&v[0], &v[i]);
		sift_down(v, 0, i);
	}
}

/* Introsort (Musser 1997): quicksort with median-of-three pivots,
 * insertion sort for short ranges, heapsort once the depth budget shows
 * that pivots keep going badly.  O(n log n) worst case, in place, and
 * several times faster than qsort() with a comparison callback. */
static void sort_range(double *v, size_t n, unsigned depth)
{
	while (n > 16) {
		size_t j;

		if (!depth--) {
			heap_sort(v, n);
			return;
		}
		j = partition(v, 0, n - 1);
		/* Recurse into the smaller part, loop on the larger: the stack
		 * stays O(log n). */
		if (j + 1 < n - j - 1) {
			sort_range(v, j + 1, depth);
			v += j + 1;
			n -= j + 1;
		} else {
			sort_range(v + j + 1, n - j - 1, depth);
			n = j + 1;
		}
	}
	insertion_sort(v, n);
}

/* About 2 log2(n): a typical run needs fewer than log_{4/3}(n) levels. */
static unsigned depth_budget(size_t n)
{
	unsigned d = 8;

	for (; n; n >>= 1)
		d += 2;
	return d;
}

static void sort_doubles(double *v, size_t n)
{
	sort_range(v, n, depth_budget(n));
}

double fsc_percentile_sorted(const double *sorted, size_t n, double p)
{
	double x, r;
	size_t rank;

	if (!n || isnan(p))
		return NAN;
	if (p <= 0)
		return sorted[0];
	if (p >= 100)
		return sorted[n - 1];
	/* rank = ceil(p/100 * n).  p is usually a decimal such as 99.9 that
	 * binary floating point cannot hold exactly, so p*n/100 may land a
	 * hair above an integer it should equal; such a hair is not a rank. */
	x = p * (double)n / 100.0;
	r = round(x);
	if (fabs(x - r) <= 1e-9 * fmax(1.0, x))
		x = r;
	rank = (size_t)ceil(x);
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return sorted[rank - 1];
}

/* Neumaier's compensated summation ("Rundungsfehleranalyse einiger
 * Verfahren zur Summation endlicher Summen", 1974): the error of a sum of
 * n terms stays at a few ulps instead of growing with n. */
struct ksum {
	double sum, comp;
};

static void ksum_add(struct ksum *k, double x)
{
	double t = k->sum + x;

	if (fabs(k->sum) >= fabs(x))
		k->comp += (k->sum - t) + x;
	else
		k->comp += (x - t) + k->sum;
	k->sum = t;
}

static double ksum_value(const struct ksum *k)
{
	return k->sum + k->comp;
}

int fsc_stats_compute(double *samples, size_t n, struct fsc_stats *out)
{
	struct ksum sum = {0, 0}, dsum = {0, 0}, d2sum = {0, 0};
	double mean, ds, var;

	if (!n) {
		fsc_error("statistics over no samples");
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		if (isnan(samples[i])) {
			fsc_error("statistics: sample %zu of %zu is NaN", i, n);
			return -EINVAL;
		}
	}
	sort_doubles(samples, n);
	for (size_t i = 0; i < n; i++)
		ksum_add(&sum, samples[i]);
	mean = ksum_value(&sum) / (double)n;
	for (size_t i = 0; i < n; i++) {
		double d = samples[i] - mean;

		ksum_add(&dsum, d);
		ksum_add(&d2sum, d * d);
	}
	ds = ksum_value(&dsum);
	var = n > 1 ? (ksum_value(&d2sum) - ds * ds / (double)n) / (double)(n - 1) : 0;
	out->n = n;
	out->min = samples[0];
	out->max = samples[n - 1];
	out->p50 = fsc_percentile_sorted(samples, n, 50);
	out->p95 = fsc_percentile_sorted(samples, n, 95);
	out->p99 = fsc_percentile_sorted(samples, n, 99);
	out->p999 = fsc_percentile_sorted(samples, n, 99.9);
	out->mean = mean;
	out->stdev = var > 0 ? sqrt(var) : 0;
	return 0;
}

/* Rearrange v so that v[k] holds the k-th smallest value, everything
 * before it is <= and everything after it >= (Hoare's FIND, quickselect).
 * Expected O(n); if partitioning keeps going badly it sorts the remaining
 * range instead, so the worst case is O(n log n).  v must hold no NaN. */
static void select_kth(double *v, size_t n, size_t k)
{
	size_t lo = 0, hi = n - 1;
	unsigned budget = depth_budget(n);

	while (hi > lo) {
		size_t j;

		if (hi - lo < 16 || !budget--) {
			sort_doubles(v + lo, hi - lo + 1);
			return;
		}
		j = partition(v, lo, hi);
		if (k <= j)
			hi = j;
		else
			lo = j + 1;
	}
}

static bool any_nan(const double *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (isnan(v[i]))
			return true;
	return false;
}

double fsc_kth_smallest(double *v, size_t n, size_t k)
{
	if (k >= n || any_nan(v, n))
		return NAN;
	select_kth(v, n, k);
	return v[k];
}

double fsc_upper_median(double *v, size_t n)
{
	return fsc_kth_smallest(v, n, n / 2);
}

double fsc_median(double *v, size_t n)
{
	size_t k;
	double lo, hi;

	if (!n || any_nan(v, n))
		return NAN;
	k = (n - 1) / 2;
	select_kth(v, n, k);
	lo = v[k];
	if (n % 2)
		return lo;
	/* Even n: the upper middle value is the smallest of v[k+1..n-1]. */
	hi = v[k + 1];
	for (size_t i = k + 2; i < n; i++)
		if (v[i] < hi)
			hi = v[i];
	return lo + (hi - lo) / 2;
}

double fsc_mad(const double *v, size_t n, double center, double *scratch)
{
	double *s = scratch, m;

	if (!n)
		return NAN;
	if (!s) {
		s = malloc(n * sizeof(*s));
		if (!s) {
			fsc_error("MAD over %zu samples: out of memory", n);
			return NAN;
		}
	}
	for (size_t i = 0; i < n; i++)
		s[i] = fabs(v[i] - center);
	m = FSC_MAD_SCALE * fsc_median(s, n);
	if (s != scratch)
		free(s);
	return m;
}

/* ---- order statistics of a stream ---- */

#define SEL_BITS 16
#define SEL_BINS (1u << SEL_BITS)

struct sel {
	uint64_t prefix; /* the key's top `bits` bits of the values still in play */
	int bits;
	int mode;       /* 0: count bins; 1: collect; 2: count <= key, least above;
	                 * 3: collect the first cap, count all */
	uint64_t *hist; /* [SEL_BINS] */
	double *buf;    /* [cap] */
	size_t nbuf, cap;
	uint64_t key, le, total;
	double above;
};

/* Order-preserving key of a double: negative values flipped, positive
 * ones above them. */
static uint64_t sel_key(double v)
{
	uint64_t u;

	memcpy(&u, &v, sizeof(u));
	return (u >> 63) ? ~u : u | (1ull << 63);
}

static double sel_value(uint64_t k)
{
	uint64_t u = (k >> 63) ? k & ~(1ull << 63) : ~k;
	double v;

	memcpy(&v, &u, sizeof(v));
	return v;
}

static void sel_emit(void *arg, double v)
{
	struct sel *s = arg;
	uint64_t k = sel_key(v);

	if (s->mode == 3) {
		if (s->total++ < s->cap)
			s->buf[s->total - 1] = v;
		return;
	}
	if (s->mode == 2) {
		s->total++;
		if (k <= s->key)
			s->le++;
		else if (isnan(s->above) || v < s->above)
			s->above = v;
		return;
	}
	if (s->bits && (k >> (64 - s->bits)) != s->prefix)
		return;
	if (s->mode == 0)
		s->hist[(k >> (64 - s->bits - SEL_BITS)) & (SEL_BINS - 1)]++;
	else if (s->nbuf < s->cap)
		s->buf[s->nbuf++] = v;
}

/* The k-th smallest value (k < 0: the lower median, k = (count - 1) / 2). */
static int sel_kth(const struct fsc_stream_src *src, struct sel *s, int64_t k, double *out)
{
	uint64_t kk = 0, total = 0;
	int rc;

	s->prefix = 0;
	s->bits = 0;
	for (;;) {
		uint64_t below = 0, b = 0;

		s->mode = 0;
		memset(s->hist, 0, SEL_BINS * sizeof(*s->hist));
		rc = src->scan(src->arg, sel_emit, s);
		if (rc)
			return rc;
		if (!s->bits) {
			for (b = 0; b < SEL_BINS; b++)
				total += s->hist[b];
			s->total = total;
			if (!total) {
				*out = NAN;
				return 0;
			}
			kk = k < 0 ? (total - 1) / 2 : (uint64_t)k;
			if (kk >= total)
				return -ERANGE;
		}
		for (b = 0; below + s->hist[b] <= kk; b++)
			below += s->hist[b];
		kk -= below;
		s->prefix = (s->prefix << SEL_BITS) | b;
		s->bits += SEL_BITS;
		if (s->bits == 64) {
			*out = sel_value(s->prefix);
			return 0;
		}
		if (s->hist[b] <= s->cap)
			break;
	}
	s->mode = 1;
	s->nbuf = 0;
	rc = src->scan(src->arg, sel_emit, s);
	if (rc)
		return rc;
	*out = fsc_kth_smallest(s->buf, s->nbuf, kk);
	return 0;
}

int fsc_stream_median(const struct fsc_stream_src *src, size_t cap, double *out, uint64_t *count)
{
	struct sel s = {.cap = cap ? cap : 1};
	double lo = NAN, hi;
	int rc;

	*out = NAN;
	if (count)
		*count = 0;
	s.buf = malloc(s.cap * sizeof(*s.buf));
	if (!s.buf) {
		fsc_error("median of a stream: out of memory for %zu values", s.cap);
		return -ENOMEM;
	}
	/* a stream that fits: one pass, fsc_median */
	s.mode = 3;
	rc = src->scan(src->arg, sel_emit, &s);
	if (rc || s.total <= s.cap) {
		if (!rc) {
			*out = s.total ? fsc_median(s.buf, (size_t)s.total) : NAN;
			if (count)
				*count = s.total;
		}
		free(s.buf);
		return rc;
	}
	s.hist = malloc(SEL_BINS * sizeof(*s.hist));
	if (!s.hist) {
		free(s.buf);
		fsc_error("median of a stream: out of memory for its bins");
		return -ENOMEM;
	}
	rc = sel_kth(src, &s, -1, &lo);
	if (!rc && count)
		*count = s.total;
	if (!rc && s.total % 2 == 0 && s.total) {
		/* the upper middle value: lo again when it repeats, else the
		 * least value above it */
		uint64_t need = (s.total - 1) / 2 + 2;

		s.mode = 2;
		s.key = sel_key(lo);
		s.le = s.total = 0;
		s.above = NAN;
		rc = src->scan(src->arg, sel_emit, &s);
		hi = s.le >= need ? lo : s.above;
		if (!rc)
			lo = lo + (hi - lo) / 2;
	}
	if (!rc)
		*out = lo;
	free(s.hist);
	free(s.buf);
	return rc;
}
