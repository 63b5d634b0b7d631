/* CPU reduction kernels and seeded verification data (see reduce.h). */
#include "reduce.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pattern.h"

/* Elements per inner block.  GCC 12 at -O2 uses the "very-cheap"
 * vectorisation cost model, which only vectorises a loop whose trip count
 * is a known multiple of the vector length: a plain `for (i < n)` loop stays
 * scalar (checked with -fopt-info-vec).  A fixed-size inner loop qualifies;
 * the scalar tail takes the last count % FSC_RED_BLOCK elements.  16
 * elements fill at least one 16-byte vector for every type and up to two
 * 32-byte ones for float32. */
#define FSC_RED_BLOCK 16

/* x86-64's baseline is SSE2 (16-byte vectors).  glibc's memcpy picks AVX2
 * or AVX-512 at run time, and with 16-byte vectors the kernels reach only
 * ~0.75 of its speed on cache-resident buffers (float32 sum, 64 KiB; equal
 * once memory-bound).  An AVX2 clone, chosen once at load time (ifunc),
 * closes that gap; AVX-512 measured no faster there.  The bfloat16 sum is
 * bound by arithmetic (widen, add, round, narrow: ~40 instructions per 16
 * elements with AVX2, ~4 GB/s) and runs ~1.4x faster in an x86-64-v4
 * (AVX-512) clone, so bfloat16 kernels get one too.  Every clone compiles
 * the same C, so results do not depend on which one runs.
 * -DFSC_RED_NO_CLONES builds the plain code only (for a libc without
 * ifunc, or to test the SSE2 path on a newer machine). */
#if defined(__x86_64__) && defined(__has_attribute) && !defined(FSC_RED_NO_CLONES)
#if __has_attribute(target_clones)
#define FSC_RED_CLONES __attribute__((target_clones("avx2", "default")))
#define FSC_RED_CLONES_WIDE __attribute__((target_clones("arch=x86-64-v4", "avx2", "default")))
#endif
#endif
#ifndef FSC_RED_CLONES
#define FSC_RED_CLONES
#define FSC_RED_CLONES_WIDE
#endif

/* ---- element operations ------------------------------------------------ */

static inline float bf16_widen(uint16_t h)
{
	union {
		uint32_t u;
		float f;
	} c = {.u = (uint32_t)h << 16};
	return c.f;
}

static inline uint32_t f32_to_bits(float f)
{
	union {
		uint32_t u;
		float f;
	} c = {.f = f};
	return c.u;
}

/* Round to nearest even by adding 0x7fff plus the lowest kept bit, then
 * truncating: a carry out of the mantissa bumps the exponent, which is the
 * right result (up to infinity on overflow).  A NaN would be rounded into
 * an infinity or a different NaN, so it is truncated instead with the
 * quiet bit set.  Everything stays in 32-bit lanes with one select, so the
 * loops vectorise with a single narrowing step. */
static inline uint16_t bf16_narrow(float f)
{
	uint32_t u = f32_to_bits(f);
	uint32_t rounded = u + 0x7fffu + ((u >> 16) & 1u);

	return (uint16_t)((f != f ? u | 0x00400000u : rounded) >> 16);
}

/* IEEE binary16 (float16) <-> float32 in software (C11 has no half type).
 * Widening is exact; narrowing rounds to nearest, ties to even: normal
 * results by the bias change and the same carry trick as bf16_narrow,
 * subnormal ones by lrintf of the value scaled to units of 2^-24 (exact in
 * float, rounded in the default mode, nearest even); 65520 and above round
 * to infinity; a NaN stays a NaN, made quiet. */
static inline float f16_widen(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
	union {
		uint32_t u;
		float f;
	} c;

	if (exp == 0x1f) /* infinity, NaN */
		c.u = sign | 0x7f800000u | (man << 13);
	else if (exp) /* normal */
		c.u = sign | ((exp + 112u) << 23) | (man << 13);
	else /* zero, subnormal: man x 2^-24 */
		c.f = (sign ? -1.0f : 1.0f) * (float)man * 0x1p-24f;
	return c.f;
}

static inline uint16_t f16_narrow(float f)
{
	uint32_t u = f32_to_bits(f), sign = (u >> 16) & 0x8000u, a = u & 0x7fffffffu;

	if (a > 0x7f800000u) /* NaN */
		return (uint16_t)(sign | 0x7e00u | ((a >> 13) & 0x3ffu));
	if (a >= 0x477ff000u) /* >= 65520: infinity */
		return (uint16_t)(sign | 0x7c00u);
	if (a >= 0x38800000u) { /* >= 2^-14: normal */
		uint32_t r = a - 0x38000000u;

		r += 0xfffu + ((r >> 13) & 1u);
		return (uint16_t)(sign | (r >> 13));
	}
	return (uint16_t)(sign | (uint16_t)lrintf(fabsf(f) * 0x1p24f));
}

/* NaN-propagating max/min: `x > y ? x : y` is exactly the SSE/AVX max
 * instruction, which returns y (so a NaN in y) when the compare is
 * unordered; `x != x` then keeps a NaN in x.  Three instructions per
 * vector (max, unordered compare, blend). */
#define FLOAT_OPS(name, type)                                                                      \
	static inline type name##_sum(type x, type y)                                              \
	{                                                                                          \
		return x + y;                                                                      \
	}                                                                                          \
	static inline type name##_max(type x, type y)                                              \
	{                                                                                          \
		type m = x > y ? x : y;                                                            \
		return x != x ? x : m;                                                             \
	}                                                                                          \
	static inline type name##_min(type x, type y)                                              \
	{                                                                                          \
		type m = x < y ? x : y;                                                            \
		return x != x ? x : m;                                                             \
	}

/* Sums wrap: unsigned arithmetic is defined on overflow; converting back
 * is modulo 2^N in GCC and Clang (implementation-defined in C11). */
#define INT_OPS(name, type, utype)                                                                 \
	static inline type name##_sum(type x, type y)                                              \
	{                                                                                          \
		return (type)((utype)x + (utype)y);                                                \
	}                                                                                          \
	static inline type name##_max(type x, type y)                                              \
	{                                                                                          \
		return x > y ? x : y;                                                              \
	}                                                                                          \
	static inline type name##_min(type x, type y)                                              \
	{                                                                                          \
		return x < y ? x : y;                                                              \
	}

FLOAT_OPS(f32, float)
FLOAT_OPS(f64, double)
INT_OPS(i32, int32_t, uint32_t)
INT_OPS(i64, int64_t, uint64_t)

/* bfloat16 and float16 max/min compare the bits, without widening (16
 * lanes per 256-bit vector instead of 8: measured 2x faster).  Both are
 * sign-magnitude; flipping the magnitude bits of a negative one gives an
 * int16 that orders like the value (-0 just below +0).  A NaN (magnitude
 * above the infinity's `inf`) wins as in f32_max, made quiet (its `quiet`
 * bit set).  Relies on int16 conversion and >> being modulo and
 * arithmetic, as in GCC and Clang. */
static inline int16_t half_key(uint16_t h)
{
	int16_t s = (int16_t)h;

	return (int16_t)(s ^ ((s >> 15) & 0x7fff));
}

static inline uint16_t half_nan_wins(uint16_t x, uint16_t y, uint16_t r, int16_t inf,
                                     uint16_t quiet)
{
	r = (int16_t)(y & 0x7fff) > inf ? (uint16_t)(y | quiet) : r;
	return (int16_t)(x & 0x7fff) > inf ? (uint16_t)(x | quiet) : r;
}

static inline uint16_t half_max(uint16_t x, uint16_t y, int16_t inf, uint16_t quiet)
{
	return half_nan_wins(x, y, half_key(x) > half_key(y) ? x : y, inf, quiet);
}

static inline uint16_t half_min(uint16_t x, uint16_t y, int16_t inf, uint16_t quiet)
{
	return half_nan_wins(x, y, half_key(x) < half_key(y) ? x : y, inf, quiet);
}

/* sum widens to float, adds and rounds back; max/min compare the bits with
 * the type's infinity and quiet bit. */
#define HALF_OPS(name, inf, quiet)                                                                 \
	static inline uint16_t name##_sum(uint16_t x, uint16_t y)                                  \
	{                                                                                          \
		return name##_narrow(f32_sum(name##_widen(x), name##_widen(y)));                   \
	}                                                                                          \
	static inline uint16_t name##_max(uint16_t x, uint16_t y)                                  \
	{                                                                                          \
		return half_max(x, y, inf, quiet);                                                 \
	}                                                                                          \
	static inline uint16_t name##_min(uint16_t x, uint16_t y)                                  \
	{                                                                                          \
		return half_min(x, y, inf, quiet);                                                 \
	}

HALF_OPS(bf16, 0x7f80, 0x40)
HALF_OPS(f16, 0x7c00, 0x200)

/* ---- kernels ----------------------------------------------------------- */

typedef void (*red2_fn)(void *restrict, const void *restrict, size_t);
typedef void (*red3_fn)(void *restrict, const void *restrict, const void *restrict, size_t);

#define KERNELS(name, type, clones)                                                                \
	clones static void red2_##name(void *restrict io_, const void *restrict in_, size_t n)     \
	{                                                                                          \
		type *restrict io = io_;                                                           \
		const type *restrict in = in_;                                                     \
		size_t i = 0, nb = n - n % FSC_RED_BLOCK;                                          \
		for (; i < nb; i += FSC_RED_BLOCK)                                                 \
			for (size_t j = 0; j < FSC_RED_BLOCK; j++)                                 \
				io[i + j] = name(io[i + j], in[i + j]);                            \
		for (; i < n; i++)                                                                 \
			io[i] = name(io[i], in[i]);                                                \
	}                                                                                          \
	clones static void red3_##name(void *restrict out_, const void *restrict a_,               \
	                               const void *restrict b_, size_t n)                          \
	{                                                                                          \
		type *restrict out = out_;                                                         \
		const type *restrict a = a_;                                                       \
		const type *restrict b = b_;                                                       \
		size_t i = 0, nb = n - n % FSC_RED_BLOCK;                                          \
		for (; i < nb; i += FSC_RED_BLOCK)                                                 \
			for (size_t j = 0; j < FSC_RED_BLOCK; j++)                                 \
				out[i + j] = name(a[i + j], b[i + j]);                             \
		for (; i < n; i++)                                                                 \
			out[i] = name(a[i], b[i]);                                                 \
	}

#define KERNELS3(name, type, clones)                                                               \
	KERNELS(name##_sum, type, clones)                                                          \
	KERNELS(name##_max, type, clones) KERNELS(name##_min, type, clones)

KERNELS3(f32, float, FSC_RED_CLONES)
KERNELS3(f64, double, FSC_RED_CLONES)
KERNELS3(i32, int32_t, FSC_RED_CLONES)
KERNELS3(i64, int64_t, FSC_RED_CLONES)
KERNELS3(bf16, uint16_t, FSC_RED_CLONES_WIDE)
KERNELS3(f16, uint16_t, FSC_RED_CLONES)

static const red2_fn red2_tab[FSC_DTYPE_COUNT][FSC_REDOP_COUNT] = {
        [FSC_F32] = {red2_f32_sum, red2_f32_max, red2_f32_min},
        [FSC_F64] = {red2_f64_sum, red2_f64_max, red2_f64_min},
        [FSC_I32] = {red2_i32_sum, red2_i32_max, red2_i32_min},
        [FSC_I64] = {red2_i64_sum, red2_i64_max, red2_i64_min},
        [FSC_BF16] = {red2_bf16_sum, red2_bf16_max, red2_bf16_min},
        [FSC_F16] = {red2_f16_sum, red2_f16_max, red2_f16_min},
};

static const red3_fn red3_tab[FSC_DTYPE_COUNT][FSC_REDOP_COUNT] = {
        [FSC_F32] = {red3_f32_sum, red3_f32_max, red3_f32_min},
        [FSC_F64] = {red3_f64_sum, red3_f64_max, red3_f64_min},
        [FSC_I32] = {red3_i32_sum, red3_i32_max, red3_i32_min},
        [FSC_I64] = {red3_i64_sum, red3_i64_max, red3_i64_min},
        [FSC_BF16] = {red3_bf16_sum, red3_bf16_max, red3_bf16_min},
        [FSC_F16] = {red3_f16_sum, red3_f16_max, red3_f16_min},
};

static int valid(enum fsc_dtype dt, enum fsc_redop op)
{
	return (unsigned)dt < FSC_DTYPE_COUNT && (unsigned)op < FSC_REDOP_COUNT;
}

void fsc_reduce(void *restrict inout, const void *restrict in, size_t count, enum fsc_dtype dt,
                enum fsc_redop op)
{
	if (valid(dt, op))
		red2_tab[dt][op](inout, in, count);
}

void fsc_reduce3(void *out, const void *a, const void *b, size_t count, enum fsc_dtype dt,
                 enum fsc_redop op)
{
	if (!valid(dt, op))
		return;
	/* The kernels take restrict pointers: route aliasing calls to the
	 * in-place form (every op is commutative in value). */
	if (out == a)
		red2_tab[dt][op](out, b, count);
	else if (out == b)
		red2_tab[dt][op](out, a, count);
	else
		red3_tab[dt][op](out, a, b, count);
}

float fsc_f16_to_f32(uint16_t h)
{
	return f16_widen(h);
}

uint16_t fsc_f32_to_f16(float f)
{
	return f16_narrow(f);
}

float fsc_bf16_to_f32(uint16_t h)
{
	return bf16_widen(h);
}

uint16_t fsc_f32_to_bf16(float f)
{
	return bf16_narrow(f);
}

/* ---- seeded values ----------------------------------------------------- */

#define GOLDEN 0x9e3779b97f4a7c15ull

/* Domain tags so element data and byte streams never share a key. */
#define DOMAIN_DATA 0x6461746100000000ull  /* "data" */
#define DOMAIN_BYTES 0x6279746500000000ull /* "byte" */

/* The splitmix64 output function (Steele, Lea, Flood, "Fast splittable
 * pseudorandom number generators", OOPSLA 2014; constants from Vigna's
 * reference implementation). */
static inline uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t stream_key(uint64_t domain, uint64_t seed, uint64_t a, uint64_t b, uint64_t iter)
{
	uint64_t k = mix64(domain ^ seed);

	k = mix64(k + GOLDEN * (a + 1));
	k = mix64(k + GOLDEN * (b + 1));
	return mix64(k + GOLDEN * (iter + 1));
}

/* Word w of a stream: the splitmix64 sequence started at `key`, so words
 * are independent and any one is computed directly. */
static inline uint64_t stream_word(uint64_t key, uint64_t w)
{
	return mix64(key + GOLDEN * (w + 1));
}

/* Streams are little-endian: byte k of word w is bits 8k..8k+7. */
static inline uint64_t to_le(uint64_t w)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	return __builtin_bswap64(w);
#else
	return w;
#endif
}

/* STREAM_BLOCK consecutive words from word `first`, little-endian.  A fixed
 * count so the loop vectorises; x86-64-v4 has a 64-bit vector multiply
 * (measured 2x the scalar speed, ~12 GB/s in cache), AVX2 has none. */
#define STREAM_BLOCK 64

FSC_RED_CLONES_WIDE static void stream_words(uint64_t key, uint64_t first, uint64_t *out)
{
	for (size_t j = 0; j < STREAM_BLOCK; j++)
		out[j] = to_le(stream_word(key, first + j));
}

static uint64_t data_key(uint64_t seed, int rank, uint64_t iter)
{
	return stream_key(DOMAIN_DATA, seed, (uint64_t)(uint32_t)rank, 0, iter);
}

/* Element index takes byte (index % 8) of word index / 8: one hash per 8
 * elements.  bfloat16 maps a byte to [-3, 3] by multiply-shift (each value
 * 36 or 37 times in 256); the other types read it as int8_t.  Work goes in
 * chunks of fixed size so the byte-to-value and folding loops vectorise. */
#define DATA_CHUNK (8 * STREAM_BLOCK)

/* Values of elements first .. first + DATA_CHUNK - 1 of stream `key`. */
FSC_RED_CLONES static void chunk_values(uint64_t key, size_t first, int is_bf16, int32_t *v)
{
	uint64_t words[STREAM_BLOCK + 1];
	const unsigned char *b = (const unsigned char *)words + first % 8;

	stream_words(key, first / 8, words);
	words[STREAM_BLOCK] = to_le(stream_word(key, first / 8 + STREAM_BLOCK));
	if (is_bf16)
		for (size_t i = 0; i < DATA_CHUNK; i++)
			v[i] = (int32_t)((b[i] * 7u) >> 8) - 3;
	else
		for (size_t i = 0; i < DATA_CHUNK; i++)
			v[i] = (int8_t)b[i];
}

static void store_values(void *buf, size_t n, enum fsc_dtype dt, const int32_t *v)
{
	switch (dt) {
	case FSC_F32:
		for (size_t i = 0; i < n; i++)
			((float *)buf)[i] = (float)v[i];
		break;
	case FSC_F64:
		for (size_t i = 0; i < n; i++)
			((double *)buf)[i] = (double)v[i];
		break;
	case FSC_I32:
		for (size_t i = 0; i < n; i++)
			((int32_t *)buf)[i] = v[i];
		break;
	case FSC_I64:
		for (size_t i = 0; i < n; i++)
			((int64_t *)buf)[i] = v[i];
		break;
	case FSC_BF16:
		for (size_t i = 0; i < n; i++)
			((uint16_t *)buf)[i] = bf16_narrow((float)v[i]);
		break;
	case FSC_F16:
		for (size_t i = 0; i < n; i++)
			((uint16_t *)buf)[i] = f16_narrow((float)v[i]);
		break;
	default: break;
	}
}

/* acc = op(acc, v) over one chunk; exact, as fsc_data_max_ranks() keeps
 * |acc| <= 128 * nranks <= 2^31. */
FSC_RED_CLONES static void chunk_fold(int32_t *restrict acc, const int32_t *restrict v,
                                      enum fsc_redop op)
{
	switch (op) {
	case FSC_SUM:
		for (size_t i = 0; i < DATA_CHUNK; i++)
			acc[i] += v[i];
		break;
	case FSC_MAX:
		for (size_t i = 0; i < DATA_CHUNK; i++)
			acc[i] = v[i] > acc[i] ? v[i] : acc[i];
		break;
	default:
		for (size_t i = 0; i < DATA_CHUNK; i++)
			acc[i] = v[i] < acc[i] ? v[i] : acc[i];
		break;
	}
}

int fsc_data_max_ranks(enum fsc_dtype dt, enum fsc_redop op)
{
	if (!valid(dt, op))
		return 0;
	if (op != FSC_SUM)
		return INT_MAX;
	switch (dt) {
	case FSC_BF16: return 256 / 3; /* |sum| <= 3n <= 256 */
	case FSC_F16: return 2048 / 3; /* |sum| <= 3n <= 2048 */
	case FSC_F32: return 1 << 17;  /* |sum| <= 128n <= 2^24 */
	default: return 1 << 24;       /* |sum| <= 128n <= 2^31 (int32 sums) */
	}
}

void fsc_data_fill(void *buf, size_t count, enum fsc_dtype dt, uint64_t seed, int rank,
                   uint64_t iter, size_t first_index)
{
	uint64_t key = data_key(seed, rank, iter);
	size_t esize = fsc_dtype_size(dt);
	int32_t v[DATA_CHUNK];

	if (!valid(dt, FSC_SUM))
		return;
	for (size_t i = 0; i < count; i += DATA_CHUNK) {
		size_t n = count - i < DATA_CHUNK ? count - i : DATA_CHUNK;

		chunk_values(key, first_index + i, dt == FSC_BF16 || dt == FSC_F16, v);
		store_values((char *)buf + i * esize, n, dt, v);
	}
}

int fsc_data_expected(void *out, size_t count, enum fsc_dtype dt, enum fsc_redop op, uint64_t seed,
                      int nranks, uint64_t iter, size_t first_index)
{
	int32_t acc[DATA_CHUNK], v[DATA_CHUNK];
	uint64_t *keys;
	size_t esize;

	if (!valid(dt, op) || nranks < 1) {
		fsc_error("expected data: invalid dtype %d, op %d or rank count %d", (int)dt,
		          (int)op, nranks);
		return -EINVAL;
	}
	if (nranks > fsc_data_max_ranks(dt, op)) {
		fsc_error("expected data: %s %s over %d ranks is not exact (at most %d ranks)",
		          fsc_redop_name(op), fsc_dtype_name(dt), nranks,
		          fsc_data_max_ranks(dt, op));
		return -ERANGE;
	}
	keys = malloc((size_t)nranks * sizeof(*keys));
	if (!keys) {
		fsc_error("expected data: out of memory for %d rank keys", nranks);
		return -ENOMEM;
	}
	for (int r = 0; r < nranks; r++)
		keys[r] = data_key(seed, r, iter);

	/* Integers are exact here whatever the type; the result is converted
	 * once, and is exact in dt because nranks is within the limit. */
	esize = fsc_dtype_size(dt);
	for (size_t i = 0; i < count; i += DATA_CHUNK) {
		size_t n = count - i < DATA_CHUNK ? count - i : DATA_CHUNK;

		chunk_values(keys[0], first_index + i, dt == FSC_BF16 || dt == FSC_F16, acc);
		for (int r = 1; r < nranks; r++) {
			chunk_values(keys[r], first_index + i, dt == FSC_BF16 || dt == FSC_F16, v);
			chunk_fold(acc, v, op);
		}
		store_values((char *)out + i * esize, n, dt, acc);
	}
	free(keys);
	return 0;
}

/* Value comparison: -0 equals +0, a NaN equals only a NaN. */
static inline int float_differs(double x, double y)
{
	return !(x == y || (x != x && y != y));
}

uint64_t fsc_data_check(const void *buf, size_t count, enum fsc_dtype dt, const void *expected)
{
	uint64_t wrong = 0;

	switch (dt) {
	case FSC_F32:
		for (size_t i = 0; i < count; i++)
			wrong += float_differs(((const float *)buf)[i],
			                       ((const float *)expected)[i]);
		break;
	case FSC_F64:
		for (size_t i = 0; i < count; i++)
			wrong += float_differs(((const double *)buf)[i],
			                       ((const double *)expected)[i]);
		break;
	case FSC_BF16:
		for (size_t i = 0; i < count; i++)
			wrong += float_differs(bf16_widen(((const uint16_t *)buf)[i]),
			                       bf16_widen(((const uint16_t *)expected)[i]));
		break;
	case FSC_F16:
		for (size_t i = 0; i < count; i++)
			wrong += float_differs(f16_widen(((const uint16_t *)buf)[i]),
			                       f16_widen(((const uint16_t *)expected)[i]));
		break;
	case FSC_I32:
		for (size_t i = 0; i < count; i++)
			wrong += ((const int32_t *)buf)[i] != ((const int32_t *)expected)[i];
		break;
	case FSC_I64:
		for (size_t i = 0; i < count; i++)
			wrong += ((const int64_t *)buf)[i] != ((const int64_t *)expected)[i];
		break;
	default: wrong = count; break;
	}
	return wrong;
}

/* ---- byte streams ------------------------------------------------------ */

static uint64_t bytes_key(uint64_t seed, int src_rank, int dst_rank, uint64_t iter)
{
	return stream_key(DOMAIN_BYTES, seed, (uint64_t)(uint32_t)src_rank,
	                  (uint64_t)(uint32_t)dst_rank, iter);
}

void fsc_bytes_fill(void *buf, size_t bytes, uint64_t seed, int src_rank, int dst_rank,
                    uint64_t iter)
{
	uint64_t key = bytes_key(seed, src_rank, dst_rank, iter);
	uint64_t words[STREAM_BLOCK];
	unsigned char *p = buf;

	for (size_t off = 0; off < bytes; off += sizeof(words)) {
		size_t n = bytes - off < sizeof(words) ? bytes - off : sizeof(words);

		stream_words(key, off / 8, words);
		memcpy(p + off, words, n);
	}
}

/* Bytes that differ between two words: 0..8. */
static unsigned bytes_differ(uint64_t x)
{
	unsigned n = 0;

	for (; x; x >>= 8)
		n += (x & 0xffu) != 0;
	return n;
}

uint64_t fsc_bytes_check(const void *buf, size_t bytes, uint64_t seed, int src_rank, int dst_rank,
                         uint64_t iter)
{
	uint64_t key = bytes_key(seed, src_rank, dst_rank, iter);
	uint64_t words[STREAM_BLOCK];
	const unsigned char *p = buf;
	uint64_t wrong = 0;

	for (size_t off = 0; off < bytes; off += sizeof(words)) {
		size_t n = bytes - off < sizeof(words) ? bytes - off : sizeof(words);

		stream_words(key, off / 8, words);
		if (!memcmp(p + off, words, n))
			continue;
		for (size_t k = 0; k < n; k += 8) {
			uint64_t v = 0;

			/* A short last word compares as zero bytes past n. */
			memcpy(&v, p + off + k, n - k < 8 ? n - k : 8);
			v ^= words[k / 8];
			if (n - k < 8)
				v &= to_le((1ull << (8 * (n - k))) - 1);
			wrong += bytes_differ(v);
		}
	}
	return wrong;
}
