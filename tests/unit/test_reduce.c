/* Unit tests for src/reduce.c: kernels, bfloat16 conversion, seeded data. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pattern.h"
#include "reduce.h"

#define MAXN 1040

static const enum fsc_dtype all_dtypes[] = {FSC_F32, FSC_F64, FSC_I32, FSC_I64, FSC_BF16, FSC_F16};
#define NDT (sizeof(all_dtypes) / sizeof(all_dtypes[0]))
static const enum fsc_redop all_ops[] = {FSC_SUM, FSC_MAX, FSC_MIN};

static uint32_t f32_bits(float f)
{
	uint32_t u;

	memcpy(&u, &f, 4);
	return u;
}

static float bits_f32(uint32_t u)
{
	float f;

	memcpy(&f, &u, 4);
	return f;
}

/* Store integer v (exact in every type) as element i of dt. */
static void put(void *buf, size_t i, enum fsc_dtype dt, int64_t v)
{
	switch (dt) {
	case FSC_F32: ((float *)buf)[i] = (float)v; break;
	case FSC_F64: ((double *)buf)[i] = (double)v; break;
	case FSC_I32: ((int32_t *)buf)[i] = (int32_t)v; break;
	case FSC_I64: ((int64_t *)buf)[i] = v; break;
	case FSC_BF16: ((uint16_t *)buf)[i] = (uint16_t)(f32_bits((float)v) >> 16); break;
	case FSC_F16: ((uint16_t *)buf)[i] = fsc_f32_to_f16((float)v); break;
	default: fail();
	}
}

/* Element i of dt as an integer; fails the test if it is not one. */
static int64_t get(const void *buf, size_t i, enum fsc_dtype dt)
{
	double d;

	switch (dt) {
	case FSC_F32: d = ((const float *)buf)[i]; break;
	case FSC_F64: d = ((const double *)buf)[i]; break;
	case FSC_I32: return ((const int32_t *)buf)[i];
	case FSC_I64: return ((const int64_t *)buf)[i];
	case FSC_BF16: d = bits_f32((uint32_t)((const uint16_t *)buf)[i] << 16); break;
	case FSC_F16: d = fsc_f16_to_f32(((const uint16_t *)buf)[i]); break;
	default: fail(); return 0;
	}
	assert_true(d == floor(d));
	return (int64_t)d;
}

static int64_t ref_op(enum fsc_redop op, int64_t x, int64_t y)
{
	switch (op) {
	case FSC_SUM: return x + y;
	case FSC_MAX: return x > y ? x : y;
	default: return x < y ? x : y;
	}
}

/* ---- fsc_reduce / fsc_reduce3 ------------------------------------------- */

/* 13 elements: negatives, ties, zeros, one block of 16 never filled. */
static const int64_t va[13] = {1, -2, 3, 0, 5, -7, 7, 100, -100, 42, -1, 0, 128};
static const int64_t vb[13] = {4, -5, 3, 0, -6, -7, -8, 27, 100, -42, 1, -3, -128};
static const int64_t vsum[13] = {5, -7, 6, 0, -1, -14, -1, 127, 0, 0, 0, -3, 0};
static const int64_t vmax[13] = {4, -2, 3, 0, 5, -7, 7, 100, 100, 42, 1, 0, 128};
static const int64_t vmin[13] = {1, -5, 3, 0, -6, -7, -8, 27, -100, -42, -1, -3, -128};

static void fsc_reduce__every_dtype_op_small_vectors(void **state)
{
	const int64_t *want[FSC_REDOP_COUNT] = {vsum, vmax, vmin};
	(void)state;

	for (size_t d = 0; d < NDT; d++)
		for (size_t o = 0; o < 3; o++) {
			enum fsc_dtype dt = all_dtypes[d];
			enum fsc_redop op = all_ops[o];
			uint64_t io[16], in[16], out[16];

			for (size_t i = 0; i < 13; i++) {
				put(io, i, dt, va[i]);
				put(in, i, dt, vb[i]);
			}
			fsc_reduce3(out, io, in, 13, dt, op);
			fsc_reduce(io, in, 13, dt, op);
			for (size_t i = 0; i < 13; i++) {
				assert_int_equal(get(io, i, dt), want[op][i]);
				assert_int_equal(get(out, i, dt), want[op][i]);
				assert_int_equal(get(in, i, dt), vb[i]);
			}
		}
}

/* Counts 0, 1, 13 and 1025 (blocks plus a scalar tail); nothing past
 * count is written. */
static void fsc_reduce__counts_and_bounds(void **state)
{
	static const size_t counts[] = {0, 1, 13, 16, 17, 1025};
	(void)state;

	for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++)
		for (size_t d = 0; d < NDT; d++)
			for (size_t o = 0; o < 3; o++) {
				enum fsc_dtype dt = all_dtypes[d];
				enum fsc_redop op = all_ops[o];
				size_t n = counts[c];
				static uint64_t io[MAXN], in[MAXN], out[MAXN];

				for (size_t i = 0; i < n + 4; i++) {
					put(io, i, dt, (int64_t)(i % 17) - 8);
					put(in, i, dt, 5 - (int64_t)(i % 11));
					put(out, i, dt, 99);
				}
				fsc_reduce3(out, io, in, n, dt, op);
				fsc_reduce(io, in, n, dt, op);
				for (size_t i = 0; i < n; i++) {
					int64_t w = ref_op(op, (int64_t)(i % 17) - 8,
					                   5 - (int64_t)(i % 11));

					assert_int_equal(get(io, i, dt), w);
					assert_int_equal(get(out, i, dt), w);
				}
				for (size_t i = n; i < n + 4; i++) {
					assert_int_equal(get(io, i, dt), (int64_t)(i % 17) - 8);
					assert_int_equal(get(out, i, dt), 99);
				}
			}
}

static void fsc_reduce__int_sum_wraps(void **state)
{
	int32_t a32[2] = {INT32_MAX, INT32_MIN}, b32[2] = {1, -1};
	int64_t a64[2] = {INT64_MAX, INT64_MIN}, b64[2] = {1, -1};
	(void)state;

	fsc_reduce(a32, b32, 2, FSC_I32, FSC_SUM);
	fsc_reduce(a64, b64, 2, FSC_I64, FSC_SUM);
	assert_int_equal(a32[0], INT32_MIN);
	assert_int_equal(a32[1], INT32_MAX);
	assert_true(a64[0] == INT64_MIN);
	assert_true(a64[1] == INT64_MAX);
}

/* A NaN in either operand gives a NaN, inside a block and in the tail. */
static void fsc_reduce__float_nan_propagates(void **state)
{
	(void)state;

	for (size_t o = 0; o < 3; o++) {
		enum fsc_redop op = all_ops[o];
		float fa[20], fb[20];
		double da[20], db[20];
		uint16_t ha[20], hb[20];

		for (int i = 0; i < 20; i++) {
			fa[i] = fb[i] = (float)i;
			da[i] = db[i] = i;
			ha[i] = hb[i] = fsc_f32_to_bf16((float)i);
		}
		fa[3] = fb[17] = NAN;
		da[3] = db[17] = NAN;
		ha[3] = hb[17] = 0x7fc0;
		fsc_reduce(fa, fb, 20, FSC_F32, op);
		fsc_reduce(da, db, 20, FSC_F64, op);
		fsc_reduce(ha, hb, 20, FSC_BF16, op);
		for (int i = 0; i < 20; i++) {
			int nan = i == 3 || i == 17;
			float want = op == FSC_SUM ? 2.0f * (float)i : (float)i;

			assert_int_equal(isnan(fa[i]), nan);
			assert_int_equal(isnan(da[i]), nan);
			assert_int_equal(isnan(fsc_bf16_to_f32(ha[i])), nan);
			if (!nan) {
				assert_true(fa[i] == want);
				assert_true(da[i] == want);
				assert_true(fsc_bf16_to_f32(ha[i]) == want);
			}
		}
	}
}

/* bfloat16 sums round to nearest even: 257 and 259 are ties (spacing 2). */
static void fsc_reduce__bf16_sum_rounds_to_even(void **state)
{
	uint16_t a[3], b[3];
	(void)state;

	a[0] = fsc_f32_to_bf16(256.0f);
	b[0] = fsc_f32_to_bf16(1.0f);
	a[1] = fsc_f32_to_bf16(256.0f);
	b[1] = fsc_f32_to_bf16(3.0f);
	a[2] = fsc_f32_to_bf16(-256.0f);
	b[2] = fsc_f32_to_bf16(-5.0f);
	fsc_reduce(a, b, 3, FSC_BF16, FSC_SUM);
	assert_true(fsc_bf16_to_f32(a[0]) == 256.0f);
	assert_true(fsc_bf16_to_f32(a[1]) == 260.0f);
	assert_true(fsc_bf16_to_f32(a[2]) == -260.0f);
}

/* bfloat16 max/min (computed on the bits) agree with float32 max/min of the
 * widened values, rounded back: same bits, except that of -0 and +0 either
 * may come back.  Every y against a spread of x including the specials. */
static void fsc_reduce__bf16_max_min_match_float32(void **state)
{
	static const uint16_t special[] = {0x0000, 0x8000, 0x0001, 0x8001, 0x7f7f, 0xff7f,
	                                   0x7f80, 0xff80, 0x7f81, 0x7fc0, 0xffc1, 0xffff,
	                                   0x3f80, 0xbf80, 0x3f81, 0xbf81};
	static uint16_t x[0x10000], y[0x10000], r[0x10000];
	const size_t ns = sizeof(special) / sizeof(special[0]);
	(void)state;

	for (size_t k = 0; k < ns + 0x10000 / 251; k++) {
		uint16_t xv = k < ns ? special[k] : (uint16_t)((k - ns) * 251);

		for (size_t o = 1; o < 3; o++) {
			enum fsc_redop op = all_ops[o];

			for (uint32_t i = 0; i < 0x10000; i++) {
				x[i] = xv;
				y[i] = (uint16_t)i;
			}
			fsc_reduce3(r, x, y, 0x10000, FSC_BF16, op);
			for (uint32_t i = 0; i < 0x10000; i++) {
				float fx = fsc_bf16_to_f32(xv), fy = fsc_bf16_to_f32((uint16_t)i);
				float w = op == FSC_MAX ? (fx > fy || fx != fx ? fx : fy)
				                        : (fx < fy || fx != fx ? fx : fy);
				uint16_t want = fsc_f32_to_bf16(w);

				if (r[i] != want && !(w == 0 && fsc_bf16_to_f32(r[i]) == 0))
					fail_msg("%s(0x%04x, 0x%04x) = 0x%04x, want 0x%04x",
					         fsc_redop_name(op), xv, i, r[i], want);
			}
		}
	}
}

/* out may be a or b itself. */
static void fsc_reduce3__aliased_output(void **state)
{
	float a[5] = {1, 2, 3, 4, 5}, b[5] = {10, 20, 30, 40, 50};
	(void)state;

	fsc_reduce3(a, a, b, 5, FSC_F32, FSC_SUM);
	for (int i = 0; i < 5; i++)
		assert_true(a[i] == 11.0f * (float)(i + 1));
	fsc_reduce3(b, a, b, 5, FSC_F32, FSC_MIN);
	for (int i = 0; i < 5; i++)
		assert_true(b[i] == 10.0f * (float)(i + 1));
}

static void fsc_reduce__invalid_type_leaves_data(void **state)
{
	int32_t a[2] = {1, 2}, b[2] = {3, 4};
	(void)state;

	fsc_reduce(a, b, 2, FSC_DTYPE_COUNT, FSC_SUM);
	fsc_reduce(a, b, 2, FSC_I32, FSC_REDOP_COUNT);
	assert_int_equal(a[0], 1);
	assert_int_equal(a[1], 2);
}

/* ---- bfloat16 conversion ------------------------------------------------- */

static void fsc_f32_to_bf16__rounding(void **state)
{
	(void)state;

	assert_int_equal(fsc_f32_to_bf16(1.0f), 0x3f80);
	/* 1 + 2^-8: halfway between 1.0 and 1.0078125, tie to even 1.0 */
	assert_int_equal(fsc_f32_to_bf16(1.00390625f), 0x3f80);
	/* 1 + 3*2^-8: halfway between 1.0078125 and 1.015625 (even) */
	assert_int_equal(fsc_f32_to_bf16(1.01171875f), 0x3f82);
	/* just above and below the first halfway point */
	assert_int_equal(fsc_f32_to_bf16(bits_f32(0x3f808001)), 0x3f81);
	assert_int_equal(fsc_f32_to_bf16(bits_f32(0x3f807fff)), 0x3f80);
	assert_int_equal(fsc_f32_to_bf16(-1.00390625f), 0xbf80);
	assert_int_equal(fsc_f32_to_bf16(-1.01171875f), 0xbf82);
	/* a carry out of the mantissa bumps the exponent */
	assert_int_equal(fsc_f32_to_bf16(bits_f32(0x3fffffff)), 0x4000);
	/* overflow rounds to infinity; the largest bfloat16 stays finite */
	assert_int_equal(fsc_f32_to_bf16(bits_f32(0x7f7fffff)), 0x7f80);
	assert_int_equal(fsc_f32_to_bf16(bits_f32(0x7f7f0000)), 0x7f7f);
	assert_int_equal(fsc_f32_to_bf16(INFINITY), 0x7f80);
	assert_int_equal(fsc_f32_to_bf16(-INFINITY), 0xff80);
	assert_int_equal(fsc_f32_to_bf16(0.0f), 0x0000);
	assert_int_equal(fsc_f32_to_bf16(-0.0f), 0x8000);
	/* subnormals */
	assert_int_equal(fsc_f32_to_bf16(bits_f32(0x00010000)), 0x0001);
	assert_int_equal(fsc_f32_to_bf16(bits_f32(0x00000001)), 0x0000);
	assert_int_equal(fsc_f32_to_bf16(bits_f32(0x00018000)), 0x0002);
}

static void fsc_f32_to_bf16__nan_stays_quiet_nan(void **state)
{
	(void)state;

	assert_int_equal(fsc_f32_to_bf16(bits_f32(0x7fc00000)), 0x7fc0);
	assert_int_equal(fsc_f32_to_bf16(bits_f32(0xffc00000)), 0xffc0);
	/* signalling NaN with only low payload bits: would truncate to inf */
	assert_int_equal(fsc_f32_to_bf16(bits_f32(0x7f800001)), 0x7fc0);
	/* all-ones payload: rounding would carry into the sign */
	assert_int_equal(fsc_f32_to_bf16(bits_f32(0x7fffffff)), 0x7fff);
	/* top payload bits kept */
	assert_int_equal(fsc_f32_to_bf16(bits_f32(0x7fa00000)), 0x7fe0);
}

static void fsc_bf16_to_f32__exact(void **state)
{
	(void)state;

	assert_true(fsc_bf16_to_f32(0x3f80) == 1.0f);
	assert_true(fsc_bf16_to_f32(0xc000) == -2.0f);
	assert_true(fsc_bf16_to_f32(0x3f82) == 1.015625f);
	assert_true(fsc_bf16_to_f32(0x4380) == 256.0f);
	assert_int_equal(f32_bits(fsc_bf16_to_f32(0x8000)), 0x80000000u);
	assert_true(isinf(fsc_bf16_to_f32(0x7f80)) && fsc_bf16_to_f32(0x7f80) > 0);
	assert_true(isnan(fsc_bf16_to_f32(0x7fc1)));
	for (uint32_t h = 0; h < 0x10000; h++)
		assert_int_equal(f32_bits(fsc_bf16_to_f32((uint16_t)h)), h << 16);
}

/* ---- seeded data ----------------------------------------------------------- */

static void fsc_data_fill__range_and_slices(void **state)
{
	(void)state;

	for (size_t d = 0; d < NDT; d++) {
		enum fsc_dtype dt = all_dtypes[d];
		int half = dt == FSC_BF16 || dt == FSC_F16;
		int lo = half ? -3 : -128, hi = half ? 3 : 127;
		static uint64_t full[1000], part[1000];
		int seen[256] = {0}, distinct = 0;

		fsc_data_fill(full, 1000, dt, 42, 3, 7, 0);
		for (size_t i = 0; i < 1000; i++) {
			int64_t v = get(full, i, dt);

			assert_in_range(v + 128, lo + 128, hi + 128);
			distinct += !seen[v + 128]++;
		}
		/* bfloat16: all 7 values; others: most of 256 */
		assert_true(distinct >= (half ? 7 : 200));
		/* a slice from a global index equals that part of the whole */
		fsc_data_fill(part, 991, dt, 42, 3, 7, 9);
		assert_memory_equal(part, (char *)full + 9 * fsc_dtype_size(dt),
		                    991 * fsc_dtype_size(dt));
		fsc_data_fill(part, 1, dt, 42, 3, 7, 13);
		assert_int_equal(get(part, 0, dt), get(full, 13, dt));
		/* deterministic; every key component matters */
		fsc_data_fill(part, 1000, dt, 42, 3, 7, 0);
		assert_int_equal(fsc_data_check(part, 1000, dt, full), 0);
		fsc_data_fill(part, 1000, dt, 43, 3, 7, 0);
		assert_true(fsc_data_check(part, 1000, dt, full) > 500);
		fsc_data_fill(part, 1000, dt, 42, 4, 7, 0);
		assert_true(fsc_data_check(part, 1000, dt, full) > 500);
		fsc_data_fill(part, 1000, dt, 42, 3, 8, 0);
		assert_true(fsc_data_check(part, 1000, dt, full) > 500);
	}
}

/* The expected result equals a sequential fsc_reduce over every rank's
 * regenerated buffer, bit for bit. */
static void fsc_data_expected__matches_sequential_reduce(void **state)
{
	static uint64_t acc[MAXN], tmp[MAXN], want[MAXN];
	const size_t count = 1025, first = 3;
	(void)state;

	for (int n = 1; n <= 8; n++)
		for (size_t d = 0; d < NDT; d++)
			for (size_t o = 0; o < 3; o++) {
				enum fsc_dtype dt = all_dtypes[d];
				enum fsc_redop op = all_ops[o];

				fsc_data_fill(acc, count, dt, 9, 0, 2, first);
				for (int r = 1; r < n; r++) {
					fsc_data_fill(tmp, count, dt, 9, r, 2, first);
					fsc_reduce(acc, tmp, count, dt, op);
				}
				assert_int_equal(
				        fsc_data_expected(want, count, dt, op, 9, n, 2, first), 0);
				assert_int_equal(fsc_data_check(acc, count, dt, want), 0);
				assert_memory_equal(acc, want, count * fsc_dtype_size(dt));
			}
}

/* bfloat16 sums stay exact at the documented limit, in either order. */
static void fsc_data_expected__bf16_sum_exact_at_limit(void **state)
{
	static uint16_t up[257], down[257], tmp[257], want[257];
	int n = fsc_data_max_ranks(FSC_BF16, FSC_SUM);
	(void)state;

	assert_int_equal(n, 85);
	fsc_data_fill(up, 257, FSC_BF16, 5, 0, 0, 0);
	fsc_data_fill(down, 257, FSC_BF16, 5, n - 1, 0, 0);
	for (int r = 1; r < n; r++) {
		fsc_data_fill(tmp, 257, FSC_BF16, 5, r, 0, 0);
		fsc_reduce(up, tmp, 257, FSC_BF16, FSC_SUM);
		fsc_data_fill(tmp, 257, FSC_BF16, 5, n - 1 - r, 0, 0);
		fsc_reduce(down, tmp, 257, FSC_BF16, FSC_SUM);
	}
	assert_int_equal(fsc_data_expected(want, 257, FSC_BF16, FSC_SUM, 5, n, 0, 0), 0);
	assert_int_equal(fsc_data_check(up, 257, FSC_BF16, want), 0);
	assert_int_equal(fsc_data_check(down, 257, FSC_BF16, want), 0);
}

static void fsc_data_expected__rejects_inexact_and_invalid(void **state)
{
	uint16_t out[4];
	(void)state;

	assert_int_equal(fsc_data_expected(out, 4, FSC_BF16, FSC_SUM, 1, 86, 0, 0), -ERANGE);
	assert_int_equal(fsc_data_expected(out, 4, FSC_BF16, FSC_MAX, 1, 86, 0, 0), 0);
	assert_int_equal(fsc_data_expected(out, 4, FSC_BF16, FSC_SUM, 1, 0, 0, 0), -EINVAL);
	assert_int_equal(fsc_data_expected(out, 4, FSC_DTYPE_COUNT, FSC_SUM, 1, 2, 0, 0), -EINVAL);
	assert_int_equal(fsc_data_expected(out, 4, FSC_F32, FSC_REDOP_COUNT, 1, 2, 0, 0), -EINVAL);
	assert_int_equal(fsc_data_max_ranks(FSC_F32, FSC_SUM), 131072);
	assert_int_equal(fsc_data_max_ranks(FSC_I32, FSC_SUM), 1 << 24);
	assert_int_equal(fsc_data_max_ranks(FSC_F64, FSC_SUM), 1 << 24);
	assert_int_equal(fsc_data_max_ranks(FSC_I64, FSC_SUM), 1 << 24);
	assert_int_equal(fsc_data_max_ranks(FSC_I64, FSC_MAX), INT_MAX);
	assert_int_equal(fsc_data_max_ranks(FSC_BF16, FSC_MIN), INT_MAX);
	assert_int_equal(fsc_data_max_ranks(FSC_DTYPE_COUNT, FSC_SUM), 0);
}

static void fsc_data_check__counts_injected_errors(void **state)
{
	static uint64_t buf[MAXN], want[MAXN];
	(void)state;

	for (size_t d = 0; d < NDT; d++) {
		enum fsc_dtype dt = all_dtypes[d];

		assert_int_equal(fsc_data_expected(want, 1025, dt, FSC_SUM, 1, 4, 0, 0), 0);
		memcpy(buf, want, 1025 * fsc_dtype_size(dt));
		assert_int_equal(fsc_data_check(buf, 1025, dt, want), 0);
		put(buf, 512, dt, get(want, 512, dt) + 1);
		assert_int_equal(fsc_data_check(buf, 1025, dt, want), 1);
		put(buf, 1024, dt, get(want, 1024, dt) - 1);
		assert_int_equal(fsc_data_check(buf, 1025, dt, want), 2);
		for (size_t i = 0; i < 1025; i++)
			put(buf, i, dt, get(want, i, dt) + 1);
		assert_int_equal(fsc_data_check(buf, 1025, dt, want), 1025);
		assert_int_equal(fsc_data_check(buf, 0, dt, want), 0);
	}
}

static void fsc_data_check__zero_signs_and_nan(void **state)
{
	float f[3] = {-0.0f, NAN, 1.0f}, fw[3] = {0.0f, NAN, NAN};
	double d[3] = {-0.0, NAN, 1.0}, dw[3] = {0.0, NAN, NAN};
	uint16_t h[3] = {0x8000, 0x7fc0, 0x3f80}, hw[3] = {0x0000, 0xffc1, 0x7fc0};
	int32_t i[1] = {0}, iw[1] = {1};
	(void)state;

	assert_int_equal(fsc_data_check(f, 3, FSC_F32, fw), 1);
	assert_int_equal(fsc_data_check(d, 3, FSC_F64, dw), 1);
	assert_int_equal(fsc_data_check(h, 3, FSC_BF16, hw), 1);
	assert_int_equal(fsc_data_check(i, 1, FSC_I32, iw), 1);
	assert_int_equal(fsc_data_check(i, 1, FSC_DTYPE_COUNT, i), 1);
}

/* ---- byte streams ------------------------------------------------------------ */

static void fsc_bytes_check__detects_flipped_bytes(void **state)
{
	static const size_t sizes[] = {1, 7, 8, 9, 1001, 4096};
	static unsigned char buf[4096];
	(void)state;

	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		size_t n = sizes[s];
		size_t where[3] = {0, n / 2, n - 1};

		fsc_bytes_fill(buf, n, 11, 2, 5, 3);
		assert_int_equal(fsc_bytes_check(buf, n, 11, 2, 5, 3), 0);
		for (int w = 0; w < 3; w++) {
			buf[where[w]] ^= 0x10;
			assert_int_equal(fsc_bytes_check(buf, n, 11, 2, 5, 3), 1);
			buf[where[w]] ^= 0x10;
		}
		if (n >= 4) {
			/* two bytes of one word, then one more elsewhere */
			buf[1] ^= 0xff;
			buf[2] ^= 0x01;
			assert_int_equal(fsc_bytes_check(buf, n, 11, 2, 5, 3), 2);
			buf[n - 1] ^= 0x80;
			assert_int_equal(fsc_bytes_check(buf, n, 11, 2, 5, 3), 3);
		}
	}
}

static void fsc_bytes_fill__keyed_and_prefix_stable(void **state)
{
	static unsigned char a[4099], b[4099];
	(void)state;

	fsc_bytes_fill(a, 4099, 11, 2, 5, 3);
	fsc_bytes_fill(b, 13, 11, 2, 5, 3);
	assert_memory_equal(a, b, 13);
	/* another key: nearly every byte differs (1/256 match by chance) */
	assert_true(fsc_bytes_check(a, 4099, 12, 2, 5, 3) > 4000);
	assert_true(fsc_bytes_check(a, 4099, 11, 5, 2, 3) > 4000);
	assert_true(fsc_bytes_check(a, 4099, 11, 2, 6, 3) > 4000);
	assert_true(fsc_bytes_check(a, 4099, 11, 2, 5, 4) > 4000);
	/* element data and byte streams use different keys */
	fsc_data_fill(b, 4099 / 4, FSC_I32, 11, 2, 3, 0);
	assert_true(memcmp(a, b, 64) != 0);
	assert_int_equal(fsc_bytes_check(a, 0, 11, 2, 5, 3), 0);
}

/* float16: exact widening, round to nearest even (normal, subnormal,
 * overflow), NaN kept quiet; sums rounded; max/min keep a NaN. */
static void fsc_f16__conversions_and_kernels(void **state)
{
	static const struct {
		float f;
		uint16_t h;
	} to[] = {
	        {1.0f, 0x3c00},     {-2.0f, 0xc000},        {65504.0f, 0x7bff},  {65519.0f, 0x7bff},
	        {65520.0f, 0x7c00}, {1e9f, 0x7c00},         {0x1p-14f, 0x0400},  {0x1p-24f, 0x0001},
	        {0x1p-25f, 0x0000}, {0x3p-25f, 0x0002},     {2049.0f, 0x6800},   {2051.0f, 0x6802},
	        {-0.0f, 0x8000},    {0x1.ffcp-15f, 0x0400}, {-0x1p-24f, 0x8001},
	};
	uint16_t a[4], b[4], n;

	(void)state;
	for (size_t i = 0; i < sizeof(to) / sizeof(to[0]); i++) {
		if (fsc_f32_to_f16(to[i].f) != to[i].h)
			print_error("%a -> 0x%04x, want 0x%04x\n", (double)to[i].f,
			            fsc_f32_to_f16(to[i].f), to[i].h);
		assert_int_equal(fsc_f32_to_f16(to[i].f), to[i].h);
	}
	/* every finite float16 widens exactly and narrows back to itself */
	for (uint32_t h = 0; h < 0x10000; h++)
		if ((h & 0x7c00) != 0x7c00)
			assert_int_equal(fsc_f32_to_f16(fsc_f16_to_f32((uint16_t)h)), h);
	assert_true(fsc_f16_to_f32(0x0001) == 0x1p-24f);
	assert_true(fsc_f16_to_f32(0xfbff) == -65504.0f);
	n = fsc_f32_to_f16(bits_f32(0x7fa00000u)); /* signalling NaN */
	assert_true((n & 0x7c00) == 0x7c00 && (n & 0x0200));
	/* 2048 + 1 rounds to 2048 (ties to even); 3 + 4 is exact */
	a[0] = fsc_f32_to_f16(2048.0f), b[0] = fsc_f32_to_f16(1.0f);
	a[1] = fsc_f32_to_f16(3.0f), b[1] = fsc_f32_to_f16(4.0f);
	a[2] = fsc_f32_to_f16(-1.0f), b[2] = 0x7c01; /* a NaN */
	a[3] = 0x8000, b[3] = 0x0000;
	fsc_reduce(a, b, 4, FSC_F16, FSC_SUM);
	assert_true(fsc_f16_to_f32(a[0]) == 2048.0f);
	assert_true(fsc_f16_to_f32(a[1]) == 7.0f);
	assert_true((a[2] & 0x7c00) == 0x7c00 && (a[2] & 0x3ff));
	a[0] = fsc_f32_to_f16(-3.0f), b[0] = fsc_f32_to_f16(2.0f);
	a[1] = 0x7e00, b[1] = fsc_f32_to_f16(1.0f);
	fsc_reduce(a, b, 2, FSC_F16, FSC_MAX);
	assert_true(fsc_f16_to_f32(a[0]) == 2.0f);
	assert_true((a[1] & 0x7c00) == 0x7c00 && (a[1] & 0x200));
	assert_int_equal(fsc_data_max_ranks(FSC_F16, FSC_SUM), 682);
	assert_string_equal(fsc_dtype_name(FSC_F16), "float16");
}

/* bfloat16 and float16 max/min share the NaN rule with their own limits: a
 * NaN (magnitude above the type's infinity) wins, x before y, made quiet
 * (bfloat16 bit 0x40, float16 bit 0x200).  0x7d00 is a NaN in float16 but a
 * finite bfloat16 (about 1.06e37).  Each case fills 20 lanes: a block and
 * the tail, in place and out of place. */
static void fsc_reduce__half_max_min_nan_limits(void **state)
{
	static const struct {
		enum fsc_dtype dt;
		enum fsc_redop op;
		uint16_t x, y, want;
	} cases[] = {
	        {FSC_BF16, FSC_MAX, 0x3f80, 0x7f81, 0x7fc1}, /* 1, signalling NaN */
	        {FSC_BF16, FSC_MIN, 0x7f81, 0x3f80, 0x7fc1},
	        {FSC_BF16, FSC_MAX, 0x7f82, 0xff83, 0x7fc2}, /* two NaNs: x wins */
	        {FSC_BF16, FSC_MAX, 0x7d00, 0x3f80, 0x7d00}, /* finite here */
	        {FSC_BF16, FSC_MIN, 0x7f80, 0x3f80, 0x3f80}, /* +inf is no NaN */
	        {FSC_F16, FSC_MAX, 0x3c00, 0x7c01, 0x7e01},  /* 1, signalling NaN */
	        {FSC_F16, FSC_MIN, 0x7c01, 0x3c00, 0x7e01},
	        {FSC_F16, FSC_MIN, 0x7c02, 0xfc03, 0x7e02}, /* two NaNs: x wins */
	        {FSC_F16, FSC_MAX, 0x7d00, 0x3c00, 0x7f00}, /* a NaN here */
	        {FSC_F16, FSC_MIN, 0x7c00, 0x3c00, 0x3c00}, /* +inf is no NaN */
	        {FSC_F16, FSC_MAX, 0xc000, 0x8000, 0x8000}, /* -2 < -0 */
	};

	(void)state;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		uint16_t a[20], b[20], out[20];

		for (int i = 0; i < 20; i++)
			a[i] = cases[c].x, b[i] = cases[c].y;
		fsc_reduce3(out, a, b, 20, cases[c].dt, cases[c].op);
		fsc_reduce(a, b, 20, cases[c].dt, cases[c].op);
		for (int i = 0; i < 20; i++) {
			if (a[i] != cases[c].want || out[i] != cases[c].want)
				print_error("case %zu lane %d: 0x%04x and 0x%04x, want 0x%04x\n", c,
				            i, a[i], out[i], cases[c].want);
			assert_int_equal(a[i], cases[c].want);
			assert_int_equal(out[i], cases[c].want);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(fsc_reduce__every_dtype_op_small_vectors),
	        cmocka_unit_test(fsc_reduce__counts_and_bounds),
	        cmocka_unit_test(fsc_reduce__int_sum_wraps),
	        cmocka_unit_test(fsc_reduce__float_nan_propagates),
	        cmocka_unit_test(fsc_reduce__half_max_min_nan_limits),
	        cmocka_unit_test(fsc_reduce__bf16_sum_rounds_to_even),
	        cmocka_unit_test(fsc_reduce__bf16_max_min_match_float32),
	        cmocka_unit_test(fsc_reduce3__aliased_output),
	        cmocka_unit_test(fsc_reduce__invalid_type_leaves_data),
	        cmocka_unit_test(fsc_f32_to_bf16__rounding),
	        cmocka_unit_test(fsc_f32_to_bf16__nan_stays_quiet_nan),
	        cmocka_unit_test(fsc_bf16_to_f32__exact),
	        cmocka_unit_test(fsc_f16__conversions_and_kernels),
	        cmocka_unit_test(fsc_data_fill__range_and_slices),
	        cmocka_unit_test(fsc_data_expected__matches_sequential_reduce),
	        cmocka_unit_test(fsc_data_expected__bf16_sum_exact_at_limit),
	        cmocka_unit_test(fsc_data_expected__rejects_inexact_and_invalid),
	        cmocka_unit_test(fsc_data_check__counts_injected_errors),
	        cmocka_unit_test(fsc_data_check__zero_signs_and_nan),
	        cmocka_unit_test(fsc_bytes_check__detects_flipped_bytes),
	        cmocka_unit_test(fsc_bytes_fill__keyed_and_prefix_stable),
	};

	return cmocka_run_group_tests(tests, 0, 0);
}
