/* Unit tests for src/stats.c with hand-computed expected values. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "stats.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* cmocka 1.1 has no floating-point assertion. */
#define assert_near(got, want, tol) assert_near_at((got), (want), (tol), __FILE__, __LINE__)

static void assert_near_at(double got, double want, double tol, const char *file, int line)
{
	if (!(fabs(got - want) <= tol)) {
		print_error("%.17g is not within %g of %.17g\n", got, tol, want);
		_fail(file, line);
	}
}

/* Deterministic shuffle (Fisher-Yates over a 64-bit LCG, Knuth's MMIX
 * constants) so large inputs are not already sorted. */
static void shuffle(double *v, size_t n, uint64_t seed)
{
	for (size_t i = n; i > 1; i--) {
		size_t j;

		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		j = (size_t)((seed >> 33) % i);
		double t = v[i - 1];
		v[i - 1] = v[j];
		v[j] = t;
	}
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void fsc_stats_compute__one_sample(void **state)
{
	double v[] = {3.5};
	struct fsc_stats s;

	(void)state;
	assert_int_equal(fsc_stats_compute(v, 1, &s), 0);
	assert_int_equal(s.n, 1);
	assert_true(s.min == 3.5 && s.p50 == 3.5 && s.p95 == 3.5 && s.p99 == 3.5);
	assert_true(s.p999 == 3.5 && s.max == 3.5 && s.mean == 3.5);
	assert_true(s.stdev == 0);
}

static void fsc_stats_compute__two_samples(void **state)
{
	double v[] = {4, 2};
	struct fsc_stats s;

	(void)state;
	assert_int_equal(fsc_stats_compute(v, 2, &s), 0);
	assert_true(v[0] == 2 && v[1] == 4); /* sorted in place */
	assert_int_equal(s.n, 2);
	assert_true(s.min == 2);
	assert_true(s.p50 == 2); /* rank ceil(0.5 * 2) = 1 */
	assert_true(s.p95 == 4); /* rank ceil(1.9) = 2 */
	assert_true(s.p99 == 4 && s.p999 == 4 && s.max == 4);
	assert_true(s.mean == 3);
	assert_near(s.stdev, 1.4142135623730951, 1e-15); /* sqrt(2) */
}

static void fsc_stats_compute__one_to_ten(void **state)
{
	double v[] = {7, 3, 10, 1, 9, 2, 8, 4, 6, 5};
	struct fsc_stats s;

	(void)state;
	assert_int_equal(fsc_stats_compute(v, 10, &s), 0);
	for (size_t i = 0; i < 10; i++)
		assert_true(v[i] == (double)(i + 1));
	assert_true(s.min == 1);
	assert_true(s.p50 == 5);  /* rank 5 */
	assert_true(s.p95 == 10); /* rank ceil(9.5) = 10 */
	assert_true(s.p99 == 10 && s.p999 == 10 && s.max == 10);
	assert_true(s.mean == 5.5);
	assert_near(s.stdev, 3.0276503540974917, 1e-14); /* sqrt(55/6) */
}

static void fsc_stats_compute__ties(void **state)
{
	double v1[] = {5, 5, 5, 5};
	double v2[] = {2, 3, 2, 1, 2};
	struct fsc_stats s;

	(void)state;
	assert_int_equal(fsc_stats_compute(v1, 4, &s), 0);
	assert_true(s.min == 5 && s.p50 == 5 && s.max == 5 && s.mean == 5);
	assert_true(s.stdev == 0); /* exactly, not a rounding residue */
	assert_int_equal(fsc_stats_compute(v2, 5, &s), 0);
	assert_true(s.min == 1 && s.p50 == 2 && s.p95 == 3 && s.max == 3);
	assert_true(s.mean == 2);
	assert_near(s.stdev, sqrt(0.5), 1e-15);
}

static void fsc_stats_compute__sample_stdev(void **state)
{
	double v[] = {2, 4, 4, 4, 5, 5, 7, 9};
	struct fsc_stats s;

	(void)state;
	assert_int_equal(fsc_stats_compute(v, N(v), &s), 0);
	assert_true(s.mean == 5);
	/* n-1 denominator: sqrt(32/7); the population value would be 2. */
	assert_near(s.stdev, 2.138089935299395, 1e-14);
}

static void fsc_stats_compute__million_samples(void **state)
{
	size_t n = 1000000;
	double *v = malloc(n * sizeof(*v));
	struct fsc_stats s;

	(void)state;
	assert_non_null(v);
	for (size_t i = 0; i < n; i++)
		v[i] = (double)(n - i); /* descending: the sort has work to do */
	assert_int_equal(fsc_stats_compute(v, n, &s), 0);
	assert_int_equal(s.n, n);
	assert_true(s.min == 1);
	assert_true(s.p50 == 500000);
	assert_true(s.p95 == 950000);
	assert_true(s.p99 == 990000);
	assert_true(s.p999 == 999000); /* 99.9 is inexact in binary; rank still 999000 */
	assert_true(s.max == 1000000);
	assert_true(s.mean == 500000.5);
	/* sqrt(n(n+1)/12) for 1..n with n-1 denominator */
	assert_near(s.stdev, 288675.2789323441, 1e-9);
	free(v);
}

/* Small spread on a large offset (timestamps in ns): the naive
 * sum-of-squares formula loses every digit here. */
static void fsc_stats_compute__large_offset_is_stable(void **state)
{
	double v[] = {1e15 + 3, 1e15 + 1, 1e15 + 2};
	double w[1000];
	struct fsc_stats s;

	(void)state;
	assert_int_equal(fsc_stats_compute(v, 3, &s), 0);
	assert_true(s.mean == 1e15 + 2);
	assert_true(s.stdev == 1);
	for (size_t i = 0; i < N(w); i++)
		w[i] = 1e9 + (i % 2 ? 0.5 : -0.5);
	assert_int_equal(fsc_stats_compute(w, N(w), &s), 0);
	assert_true(s.mean == 1e9);
	assert_near(s.stdev, sqrt(0.25 * 1000.0 / 999.0), 1e-12);
}

static void fsc_stats_compute__rejects_empty_and_nan(void **state)
{
	double v[] = {1, NAN, 3};
	struct fsc_stats s;

	(void)state;
	assert_int_equal(fsc_stats_compute(v, 0, &s), -EINVAL);
	assert_int_equal(fsc_stats_compute(v, 3, &s), -EINVAL);
	assert_true(v[0] == 1 && isnan(v[1]) && v[2] == 3); /* left as given */
}

/* The in-place sort must agree with qsort on random data (with and without
 * duplicates) and on orders that defeat naive pivots. */
static void fsc_stats_compute__sorts_like_qsort(void **state)
{
	size_t big = 100000;
	double *v = malloc(big * sizeof(*v)), *w = malloc(big * sizeof(*w));
	uint64_t seed = 99;
	struct fsc_stats s;

	(void)state;
	assert_non_null(v);
	assert_non_null(w);
	for (size_t n = 1; n <= 300; n++) {
		for (int dup = 0; dup < 2; dup++) {
			for (size_t i = 0; i < n; i++) {
				seed = seed * 6364136223846793005ull + 1442695040888963407ull;
				v[i] = (double)((seed >> 33) % (dup ? 7 : 1000000)) - 3.0;
			}
			memcpy(w, v, n * sizeof(*v));
			qsort(w, n, sizeof(*w), cmp);
			assert_int_equal(fsc_stats_compute(v, n, &s), 0);
			assert_memory_equal(v, w, n * sizeof(*v));
		}
	}
	for (int shape = 0; shape < 5; shape++) {
		for (size_t i = 0; i < big; i++) {
			switch (shape) {
			case 0: v[i] = (double)i; break;
			case 1: v[i] = (double)(big - i); break;
			case 2: v[i] = 1; break;
			case 3: v[i] = (double)(i < big / 2 ? i : big - i); break;
			default: v[i] = (double)(i % 2 ? i : big - i); break;
			}
		}
		memcpy(w, v, big * sizeof(*v));
		qsort(w, big, sizeof(*w), cmp);
		assert_int_equal(fsc_stats_compute(v, big, &s), 0);
		assert_memory_equal(v, w, big * sizeof(*v));
	}
	free(v);
	free(w);
}

static void fsc_percentile_sorted__nearest_rank(void **state)
{
	double d[10];
	double *big = malloc(10000 * sizeof(*big));

	(void)state;
	assert_non_null(big);
	for (size_t i = 0; i < 10; i++)
		d[i] = 10.0 * (double)(i + 1);
	assert_true(fsc_percentile_sorted(d, 10, 10) == 10);    /* rank 1 */
	assert_true(fsc_percentile_sorted(d, 10, 10.01) == 20); /* rank ceil(1.001) = 2 */
	assert_true(fsc_percentile_sorted(d, 10, 11) == 20);
	assert_true(fsc_percentile_sorted(d, 10, 50) == 50);
	assert_true(fsc_percentile_sorted(d, 10, 50.5) == 60);
	assert_true(fsc_percentile_sorted(d, 10, 100) == 100);
	assert_true(fsc_percentile_sorted(d, 10, 0.001) == 10);
	/* Clamped outside (0, 100]. */
	assert_true(fsc_percentile_sorted(d, 10, 0) == 10);
	assert_true(fsc_percentile_sorted(d, 10, -5) == 10);
	assert_true(fsc_percentile_sorted(d, 10, 150) == 100);
	assert_true(isnan(fsc_percentile_sorted(d, 0, 50)));
	assert_true(isnan(fsc_percentile_sorted(d, 10, NAN)));
	for (size_t i = 0; i < 10000; i++)
		big[i] = (double)(i + 1);
	assert_true(fsc_percentile_sorted(big, 1000, 99.9) == 999);
	assert_true(fsc_percentile_sorted(big, 1000, 0.1) == 1);
	assert_true(fsc_percentile_sorted(big, 1000, 33.3) == 333);
	assert_true(fsc_percentile_sorted(big, 1000, 33.31) == 334);
	assert_true(fsc_percentile_sorted(big, 10000, 99.99) == 9999);
	assert_true(fsc_percentile_sorted(big, 3, 100.0 / 3.0) == 1);
	assert_true(fsc_percentile_sorted(big, 3, 200.0 / 3.0) == 2);
	assert_true(fsc_percentile_sorted(big, 7, 99) == 7);
	free(big);
}

static void fsc_median__odd_and_even(void **state)
{
	double a[] = {3, 1, 2};
	double b[] = {4, 1, 3, 2};
	double c[] = {7};
	double d[] = {1, 1, 1, 2};
	double e[] = {-5, -1, -3, -2};
	double f[] = {1, NAN, 2};
	double g[] = {0x1p1023, 0x1.8p1023}; /* (a + b) / 2 would overflow */

	(void)state;
	assert_true(fsc_median(a, 3) == 2);
	assert_true(fsc_median(b, 4) == 2.5);
	assert_true(fsc_median(c, 1) == 7);
	assert_true(fsc_median(d, 4) == 1);
	assert_true(fsc_median(e, 4) == -2.5);
	assert_true(isnan(fsc_median(a, 0)));
	assert_true(isnan(fsc_median(f, 3)));
	assert_true(fsc_median(g, 2) == 0x1.4p1023);
}

/* Compare with sorting on many small random arrays, with and without
 * duplicates. */
static void fsc_median__matches_sorting(void **state)
{
	double v[257], w[257];
	uint64_t seed = 12345;

	(void)state;
	for (size_t n = 1; n <= 257; n++) {
		for (int dup = 0; dup < 2; dup++) {
			double want;

			for (size_t i = 0; i < n; i++) {
				seed = seed * 6364136223846793005ull + 1442695040888963407ull;
				v[i] = (double)((seed >> 33) % (dup ? 5 : 1000000));
			}
			memcpy(w, v, n * sizeof(*v));
			qsort(w, n, sizeof(*w), cmp);
			want = n % 2 ? w[n / 2] : (w[n / 2 - 1] + w[n / 2]) / 2;
			assert_true(fsc_median(v, n) == want);
		}
	}
}

static void fsc_median__large_inputs(void **state)
{
	size_t n = 1000001;
	double *v = malloc(n * sizeof(*v));

	(void)state;
	assert_non_null(v);
	for (size_t i = 0; i < n; i++)
		v[i] = (double)(i + 1);
	shuffle(v, n, 42);
	assert_true(fsc_median(v, n) == 500001);
	for (size_t i = 0; i < n - 1; i++)
		v[i] = (double)(i + 1);
	shuffle(v, n - 1, 7);
	assert_true(fsc_median(v, n - 1) == 500000.5);
	/* Orders that defeat naive pivots: sorted, reversed, all equal,
	 * organ pipe. */
	for (size_t i = 0; i < n; i++)
		v[i] = (double)i;
	assert_true(fsc_median(v, n) == 500000);
	for (size_t i = 0; i < n; i++)
		v[i] = (double)(n - i);
	assert_true(fsc_median(v, n) == 500001);
	for (size_t i = 0; i < n; i++)
		v[i] = 3;
	assert_true(fsc_median(v, n) == 3);
	for (size_t i = 0; i < n; i++)
		v[i] = (double)(i < n / 2 ? i : n - i);
	assert_true(fsc_median(v, n) == 250000);
	free(v);
}

/* Every rank of many random arrays against sorting, and the partition
 * property around it; with few distinct values too. */
static void fsc_kth_smallest__every_rank_matches_sorting(void **state)
{
	double v[97], w[97], x[97];
	uint64_t seed = 777;

	(void)state;
	for (size_t n = 1; n <= 97; n += 8) {
		for (int dup = 0; dup < 2; dup++) {
			for (size_t i = 0; i < n; i++) {
				seed = seed * 6364136223846793005ull + 1442695040888963407ull;
				v[i] = (double)((seed >> 33) % (dup ? 3 : 1000)) - 500;
			}
			memcpy(w, v, n * sizeof(*v));
			qsort(w, n, sizeof(*w), cmp);
			for (size_t k = 0; k < n; k++) {
				memcpy(x, v, n * sizeof(*v));
				assert_true(fsc_kth_smallest(x, n, k) == w[k]);
				for (size_t i = 0; i < n; i++)
					assert_true(i < k   ? x[i] <= w[k]
					            : i > k ? x[i] >= w[k]
					                    : 1);
			}
			/* The upper median is the element at rank n/2. */
			memcpy(x, v, n * sizeof(*v));
			assert_true(fsc_upper_median(x, n) == w[n / 2]);
		}
	}
}

static void fsc_kth_smallest__no_answer_for_bad_input(void **state)
{
	double a[] = {2, 1, 3};
	double f[] = {1, NAN, 2};

	(void)state;
	assert_true(isnan(fsc_kth_smallest(a, 3, 3)));
	assert_true(isnan(fsc_kth_smallest(a, 0, 0)));
	assert_true(isnan(fsc_kth_smallest(f, 3, 0)));
	assert_true(isnan(fsc_upper_median(a, 0)));
	assert_true(isnan(fsc_upper_median(f, 3)));
	assert_true(fsc_kth_smallest(a, 3, 2) == 3);
	/* Even n: the larger middle value, an element (not a mean). */
	{
		double b[] = {4, 1, 3, 2};

		assert_true(fsc_upper_median(b, 4) == 3);
	}
}

static void fsc_kth_smallest__large_adversarial_orders(void **state)
{
	size_t n = 200003;
	double *v = malloc(n * sizeof(*v));

	(void)state;
	assert_non_null(v);
	for (size_t i = 0; i < n; i++)
		v[i] = (double)(i < n / 2 ? i : n - i); /* organ pipe */
	assert_true(fsc_kth_smallest(v, n, 0) == 0);
	for (size_t i = 0; i < n; i++)
		v[i] = (double)(i < n / 2 ? i : n - i);
	assert_true(fsc_kth_smallest(v, n, n - 1) == (double)(n - n / 2)); /* at i = n/2 */
	for (size_t i = 0; i < n; i++)
		v[i] = (double)(n - i);
	assert_true(fsc_kth_smallest(v, n, 9) == 10);
	free(v);
}

static void fsc_mad__scaled_and_input_untouched(void **state)
{
	const double v[] = {1, 1, 2, 2, 4, 6, 9};
	double copy[7], scratch[7];

	(void)state;
	memcpy(copy, v, sizeof(v));
	/* |v - 2| = {1,1,0,0,2,4,7}: median 1 */
	assert_near(fsc_mad(v, 7, 2, scratch), 1.4826, 1e-15);
	assert_memory_equal(v, copy, sizeof(v));
	assert_near(fsc_mad(v, 7, 2, 0), 1.4826, 1e-15); /* allocates its own */
	/* |v - 0| = v: median 2 */
	assert_near(fsc_mad(v, 7, 0, scratch), 2 * 1.4826, 1e-15);
	/* Even n: |{1,2,3,4} - 2.5| = {1.5,.5,.5,1.5}: median 1 */
	assert_near(fsc_mad((const double[]){1, 2, 3, 4}, 4, 2.5, scratch), 1.4826, 1e-15);
	assert_true(fsc_mad(v, 1, 1, scratch) == 0);
	assert_true(isnan(fsc_mad(v, 0, 0, scratch)));
}

/* ---- fsc_stream_median ---- */

struct vec_stream {
	const double *v;
	size_t n;
	int scans, fail_at; /* fail the fail_at-th scan (1-based), 0: never */
};

static int vec_scan(void *arg, void (*emit)(void *, double), void *sel)
{
	struct vec_stream *s = arg;

	if (++s->scans == s->fail_at)
		return -EIO;
	for (size_t i = 0; i < s->n; i++)
		emit(sel, s->v[i]);
	return 0;
}

static double stream_median(const double *v, size_t n, size_t cap, int *scans)
{
	struct vec_stream vs = {v, n, 0, 0};
	struct fsc_stream_src src = {vec_scan, &vs};
	double m;
	uint64_t count;

	assert_int_equal(fsc_stream_median(&src, cap, &m, &count), 0);
	assert_int_equal(count, n);
	if (scans)
		*scans = vs.scans;
	return m;
}

/* Exactly fsc_median, whether the stream fits the buffer (one pass) or is
 * narrowed down by radix passes (tiny caps): odd and even lengths, ties,
 * negatives, zeros of both signs, values spanning many octaves. */
static void fsc_stream_median__matches_fsc_median(void **state)
{
	static const size_t lens[] = {1, 2, 3, 10, 101, 1000, 4096};
	static const size_t caps[] = {1, 3, 64, 100000};
	double *v = malloc(4096 * sizeof(*v)), *w = malloc(4096 * sizeof(*w));
	unsigned seed = 7;

	(void)state;
	for (int kind = 0; kind < 4; kind++)
		for (size_t a = 0; a < sizeof(lens) / sizeof(lens[0]); a++) {
			size_t n = lens[a];

			for (size_t i = 0; i < n; i++) {
				seed = seed * 1103515245u + 12345u;
				double u = (double)(seed >> 8) / 16777216.0;

				v[i] = kind == 0   ? u
				       : kind == 1 ? (double)((seed >> 8) % 5) - 2.0 /* ties */
				       : kind == 2 ? exp(40 * (u - 0.5))             /* octaves */
				                   : (i % 2 ? -0.0 : 0.0) + (u < 0.3 ? -u : u);
			}
			memcpy(w, v, n * sizeof(*v));
			double want = fsc_median(w, n);

			for (size_t c = 0; c < sizeof(caps) / sizeof(caps[0]); c++) {
				int scans;
				double got = stream_median(v, n, caps[c], &scans);

				assert_true(got == want);
				if (n <= caps[c])
					assert_int_equal(scans, 1);
			}
		}
	free(v);
	free(w);
}

static void fsc_stream_median__empty_and_errors(void **state)
{
	double one = 1, v[300];
	struct vec_stream vs = {&one, 0, 0, 0};
	struct fsc_stream_src src = {vec_scan, &vs};
	double m = 0;
	uint64_t count = 9;

	(void)state;
	assert_int_equal(fsc_stream_median(&src, 4, &m, &count), 0);
	assert_true(isnan(m));
	assert_int_equal(count, 0);
	/* a scan that fails, in the first pass or a later one */
	for (int i = 0; i < 300; i++)
		v[i] = i;
	for (int at = 1; at <= 3; at++) {
		vs = (struct vec_stream){v, 300, 0, at};
		assert_int_equal(fsc_stream_median(&src, 4, &m, NULL), -EIO);
		assert_true(isnan(m));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(fsc_stats_compute__one_sample),
	        cmocka_unit_test(fsc_stats_compute__two_samples),
	        cmocka_unit_test(fsc_stats_compute__one_to_ten),
	        cmocka_unit_test(fsc_stats_compute__ties),
	        cmocka_unit_test(fsc_stats_compute__sample_stdev),
	        cmocka_unit_test(fsc_stats_compute__million_samples),
	        cmocka_unit_test(fsc_stats_compute__large_offset_is_stable),
	        cmocka_unit_test(fsc_stats_compute__rejects_empty_and_nan),
	        cmocka_unit_test(fsc_stats_compute__sorts_like_qsort),
	        cmocka_unit_test(fsc_percentile_sorted__nearest_rank),
	        cmocka_unit_test(fsc_median__odd_and_even),
	        cmocka_unit_test(fsc_median__matches_sorting),
	        cmocka_unit_test(fsc_median__large_inputs),
	        cmocka_unit_test(fsc_kth_smallest__every_rank_matches_sorting),
	        cmocka_unit_test(fsc_kth_smallest__no_answer_for_bad_input),
	        cmocka_unit_test(fsc_kth_smallest__large_adversarial_orders),
	        cmocka_unit_test(fsc_mad__scaled_and_input_untouched),
	        cmocka_unit_test(fsc_stream_median__matches_fsc_median),
	        cmocka_unit_test(fsc_stream_median__empty_and_errors),
	};

	return cmocka_run_group_tests(tests, 0, 0);
}
