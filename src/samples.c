/* Per-sample times in records: see samples.h. */
#include "samples.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "stats.h"

json_t *fsc_samples_to_json(const double *sorted_ns, size_t n, size_t keep)
{
	json_t *o, *vals;
	size_t m = n <= keep ? n : keep;

	if (!n || !keep)
		return 0;
	o = json_object();
	vals = json_array();
	if (!o || !vals)
		goto fail;
	for (size_t i = 0; i < m; i++) {
		size_t k = n <= keep ? i : (size_t)(((double)i + 0.5) * (double)n / (double)keep);

		if (k >= n)
			k = n - 1;
		/* nanosecond resolution: the clock's own */
		if (json_array_append_new(vals, json_real(round(sorted_ns[k]) / 1e3)))
			goto fail;
	}
	json_object_set_new(o, "kept", json_string(n <= keep ? "all" : "quantiles"));
	json_object_set_new(o, "n", json_integer((json_int_t)n));
	json_object_set_new(o, "values_us", vals);
	return o;
fail:
	json_decref(vals);
	json_decref(o);
	return 0;
}

int fsc_samples_from_json(const json_t *rec, double **out, size_t *n)
{
	const json_t *s = json_object_get(rec, "samples");
	const json_t *vals = json_object_get(s, "values_us");
	double *v;
	size_t m;

	*out = 0;
	*n = 0;
	if (!s)
		return -ENOENT;
	if (!json_is_array(vals) || !json_array_size(vals))
		return -EINVAL;
	m = json_array_size(vals);
	v = malloc(m * sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < m; i++) {
		const json_t *x = json_array_get(vals, i);

		if (!json_is_number(x) || !isfinite(json_number_value(x))) {
			free(v);
			return -EINVAL;
		}
		v[i] = json_number_value(x);
		/* ascending order is what consumers rely on */
		if (i && v[i] < v[i - 1]) {
			free(v);
			return -EINVAL;
		}
	}
	*out = v;
	*n = m;
	return 0;
}

json_t *fsc_samples_blocks_json(const double *time_ordered_ns, size_t n, size_t blocks)
{
	json_t *arr;
	double *tmp;

	if (!blocks || n < blocks * FSC_SAMPLES_BLOCKS_MIN)
		return 0;
	tmp = malloc(n * sizeof(*tmp));
	arr = json_array();
	if (!tmp || !arr)
		goto fail;
	for (size_t b = 0; b < blocks; b++) {
		size_t from = b * n / blocks, to = (b + 1) * n / blocks;

		memcpy(tmp, time_ordered_ns + from, (to - from) * sizeof(*tmp));
		if (json_array_append_new(arr, json_real(round(fsc_median(tmp, to - from)) / 1e3)))
			goto fail;
	}
	free(tmp);
	return arr;
fail:
	free(tmp);
	json_decref(arr);
	return 0;
}

int fsc_samples_blocks_from_json(const json_t *rec, double **out, size_t *n)
{
	const json_t *b = json_object_get(json_object_get(rec, "samples"), "blocks_us");
	double *v;
	size_t m;

	*out = 0;
	*n = 0;
	if (!b)
		return -ENOENT;
	m = json_array_size(b);
	if (!json_is_array(b) || m < 2)
		return -EINVAL;
	v = malloc(m * sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < m; i++) {
		v[i] = json_number_value(json_array_get(b, i));
		if (!json_is_number(json_array_get(b, i)) || !isfinite(v[i]) || v[i] <= 0) {
			free(v);
			return -EINVAL;
		}
	}
	*out = v;
	*n = m;
	return 0;
}
