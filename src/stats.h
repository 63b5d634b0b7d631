/* Descriptive and robust statistics over samples (doubles), and the
 * engine's one module of order statistics (selection, medians).
 *
 * Percentiles are nearest-rank: for p in (0,100], the value at sorted index
 * ceil(p/100 * n) - 1 (clamped to [0, n-1]); exact over all samples.  stdev
 * is the sample standard deviation (n-1 denominator), 0 for one sample.
 */
#ifndef FSC_STATS_H
#define FSC_STATS_H

#include <stddef.h>
#include <stdint.h>

struct fsc_stats {
	uint64_t n;
	double min, p50, p95, p99, p999, max, mean, stdev;
};

/* Sorts `samples` in place and fills `out`.  -EINVAL if n == 0 or any
 * sample is NaN. */
int fsc_stats_compute(double *samples, size_t n, struct fsc_stats *out);

/* Nearest-rank percentile of already-sorted data (p in (0,100]). */
double fsc_percentile_sorted(const double *sorted, size_t n, double p);

/* Order statistics.  Each reorders v (quickselect: expected O(n), worst
 * case O(n log n)) and answers NaN for n == 0 or when v holds a NaN. */

/* The k-th smallest value (0-based); NaN also for k >= n. */
double fsc_kth_smallest(double *v, size_t n, size_t k);

/* Median: for even n the mean of the two middle values. */
double fsc_median(double *v, size_t n);

/* Upper median: the middle value, for even n the larger middle one (an
 * element of v, as median polish wants). */
double fsc_upper_median(double *v, size_t n);

/* Median absolute deviation around `center`, scaled by 1.4826 so that it
 * estimates the standard deviation of normal data.  Uses `scratch` (n
 * doubles) and leaves v untouched. NaN if n == 0. */
double fsc_mad(const double *v, size_t n, double center, double *scratch);

/* Order statistics of a stream too large to hold (the cells of an n x n
 * matrix on disk), exact, in passes over it.  The source's scan calls
 * emit(sel, v) for every value, the same values each time it is called (no
 * NaN); it returns 0 or a negative errno.
 *
 * Method: radix selection on the doubles' order-preserving 64-bit keys.  A
 * pass counts the values under the current key prefix in 65536 bins of its
 * next 16 bits (512 KiB of counts) and keeps the bin holding the rank; once
 * that bin holds at most `cap` values a last pass collects them and
 * quickselect finishes.  So memory is 512 KiB + 8 cap bytes, whatever the
 * stream's length, and passes are few: 2 or 3 for cells spread over a few
 * octaves (16 bits of key are the sign, the exponent and 4 bits of
 * mantissa), at most 5. */
struct fsc_stream_src {
	int (*scan)(void *arg, void (*emit)(void *sel, double v), void *sel);
	void *arg;
};

/* The median of the stream as fsc_median computes it (for an even count
 * the mean of the two middle values, the upper one found by one more
 * pass), NaN when the stream is empty; *count (may be NULL) = its length.
 * Returns 0, -ENOMEM or the scan's error. */
int fsc_stream_median(const struct fsc_stream_src *s, size_t cap, double *out, uint64_t *count);

#endif
