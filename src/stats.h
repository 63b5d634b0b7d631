/* Descriptive and robust statistics over samples (doubles).
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

/* Median of v (reorders v).  For even n the mean of the two middle values.
 * NaN if n == 0. */
double fsc_median(double *v, size_t n);

/* Median absolute deviation around `center`, scaled by 1.4826 so that it
 * estimates the standard deviation of normal data.  Uses `scratch` (n
 * doubles) and leaves v untouched. NaN if n == 0. */
double fsc_mad(const double *v, size_t n, double center, double *scratch);

#endif
