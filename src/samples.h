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
 */
#ifndef FSC_SAMPLES_H
#define FSC_SAMPLES_H

#include <jansson.h>
#include <stddef.h>

/* Samples a record keeps at most (1024 values: about 8 KiB of JSON). */
#define FSC_SAMPLES_KEEP 1024

/* The "samples" object of `n` ascending times in ns (keep >= 1).  NULL
 * when n == 0 or out of memory. */
json_t *fsc_samples_to_json(const double *sorted_ns, size_t n, size_t keep);

/* The kept values (µs, ascending) of a record's "samples" object: a
 * malloc'd copy in *out (caller frees), count in *n.  -ENOENT when the
 * record holds none, -EINVAL when the object is malformed. */
int fsc_samples_from_json(const json_t *rec, double **out, size_t *n);

#endif
