/* Per-sample times kept in a record, so that two runs can be compared with
 * statistics that see their noise (src/compare.h).
 *
 * A record's "samples" object (results/SCHEMA.md):
 *   { "kept": "all" | "quantiles", "n": <timed samples>,
 *     "values_us": [ ascending times in µs, rounded to the nanosecond ] }
 * Up to `keep` samples are stored as they are.  A longer run keeps `keep`
 * evenly spaced order statistics instead: value i is the sorted sample at
 * index floor((i + 0.5) * n / keep), i.e. the quantile (i + 0.5) / keep,
 * which preserves the distribution's shape (and so medians, percentiles and
 * bootstrap resamples of them) while bounding the record's size.
 *
 * The sorted values lose the time order, so the object also keeps
 *   "blocks_us": [ the median of each of FSC_SAMPLES_BLOCKS consecutive
 *                  blocks of the samples, in the order they were timed ]
 * which shows how far the level of the times wandered during the point:
 * what one run can tell about the drift that sets two runs apart
 * (results/COMPARE.md).
 */
#ifndef FSC_SAMPLES_H
#define FSC_SAMPLES_H

#include <jansson.h>
#include <stddef.h>

/* Samples a record keeps at most (1024 values: about 8 KiB of JSON). */
#define FSC_SAMPLES_KEEP 1024

/* Time-ordered blocks a record keeps the medians of (fewer samples than
 * FSC_SAMPLES_BLOCKS_MIN per block: none). */
#define FSC_SAMPLES_BLOCKS 8
#define FSC_SAMPLES_BLOCKS_MIN 5

/* The "samples" object of `n` ascending times in ns (keep >= 1).  NULL
 * when n == 0 or out of memory. */
json_t *fsc_samples_to_json(const double *sorted_ns, size_t n, size_t keep);

/* The "blocks_us" array of `n` times in ns in the order they were timed:
 * the median of each of `blocks` consecutive blocks of (nearly) equal
 * length, in µs.  NULL when n < blocks x FSC_SAMPLES_BLOCKS_MIN, blocks ==
 * 0 or out of memory.  `time_ordered_ns` is left as it is. */
json_t *fsc_samples_blocks_json(const double *time_ordered_ns, size_t n, size_t blocks);

/* The block medians (µs, time order) of a record's "samples" object: a
 * malloc'd copy in *out, count in *n.  -ENOENT when there are none,
 * -EINVAL when they are malformed (not positive finite numbers). */
int fsc_samples_blocks_from_json(const json_t *rec, double **out, size_t *n);

/* The kept values (µs, ascending) of a record's "samples" object: a
 * malloc'd copy in *out (caller frees), count in *n.  -ENOENT when the
 * record holds none, -EINVAL when the object is malformed. */
int fsc_samples_from_json(const json_t *rec, double **out, size_t *n);

#endif
