/* CPU reduction kernels and seeded data for verifying collectives.
 *
 * Kernels: fsc_reduce() and fsc_reduce3() pick one specialised loop per
 * (dtype, op) and run it without per-element branches, so the compiler
 * vectorises it.  Semantics, per element:
 *  - integer SUM wraps around (two's complement), as MPI implementations do
 *    in practice;
 *  - float MAX/MIN propagate NaN: if either operand is a NaN the result is a
 *    NaN (unlike fmaxf(), which drops it), so a corrupted element stays
 *    visible whatever the reduction order.  Of -0 and +0 either may be
 *    returned;
 *  - bfloat16 and float16 (stored as uint16_t): SUM is computed in float32
 *    and rounded back to nearest even; MAX/MIN return one operand, as in
 *    float32; a NaN result is a quiet NaN.
 * Buffers must be aligned to the element size.
 *
 * Seeded data: element `index` of rank `rank` in iteration `iter` is a small
 * integer v(seed, rank, iter, index) from a counter-based hash (splitmix64),
 * so any rank can regenerate any other rank's input and compute the exact
 * expected result without communication:
 *  - bfloat16: v in [-3, 3]; a SUM over n ranks stays within 3n, and
 *    bfloat16 holds every integer up to 256 (8 significant bits), so sums are
 *    exact, in any order, for n <= 85.  (Its MAX over many ranks is nearly
 *    always 3, a weak check: the fill does not know the op.)  float16 takes
 *    the same values and holds every integer up to 2048 (11 significant
 *    bits): exact for n <= 682.
 *  - the other types: v in [-128, 127]; float32 sums are exact up to
 *    n = 2^24 / 128 = 131072 ranks, the others up to 2^31 / 128 = 2^24
 *    (the expected sums are accumulated in int32).
 * Because every partial sum is also a small integer, the result is exact
 * whatever order or grouping an algorithm (ring, recursive doubling) uses.
 * fsc_data_max_ranks() states these limits.
 */
#ifndef FSC_REDUCE_H
#define FSC_REDUCE_H

#include <stddef.h>
#include <stdint.h>

#include "fabric.h"

/* inout[i] = op(inout[i], in[i]) for i < count.  inout and in must not
 * overlap.  dt and op must be valid (the option parser checks them); other
 * values leave inout untouched. */
void fsc_reduce(void *restrict inout, const void *restrict in, size_t count, enum fsc_dtype dt,
                enum fsc_redop op);

/* out[i] = op(a[i], b[i]): an out-of-place first step without a copy.  out
 * may be a or b itself (then this is fsc_reduce()); otherwise it must not
 * overlap either. */
void fsc_reduce3(void *out, const void *a, const void *b, size_t count, enum fsc_dtype dt,
                 enum fsc_redop op);

/* bfloat16 <-> float32.  Widening is exact.  Narrowing rounds to nearest,
 * ties to even; infinities stay infinities, a NaN stays a NaN (made quiet,
 * sign and top payload bits kept); overflow rounds to infinity. */
float fsc_bf16_to_f32(uint16_t h);
uint16_t fsc_f32_to_bf16(float f);
/* float16 (IEEE binary16) <-> float32, the same rules. */
float fsc_f16_to_f32(uint16_t h);
uint16_t fsc_f32_to_f16(float f);

/* Largest number of ranks for which fsc_data_expected() is exact for (dt,
 * op) (see the top of this file); INT_MAX when there is no limit, 0 for an
 * invalid dt or op. */
int fsc_data_max_ranks(enum fsc_dtype dt, enum fsc_redop op);

/* Write count elements of type dt: buf[i] = v(seed, rank, iter,
 * first_index + i).  A rank filling a slice of a larger logical buffer
 * passes the slice's first global index.  An invalid dt writes nothing. */
void fsc_data_fill(void *buf, size_t count, enum fsc_dtype dt, uint64_t seed, int rank,
                   uint64_t iter, size_t first_index);

/* out[i] = the reduction with op over ranks 0..nranks-1 of v(seed, r, iter,
 * first_index + i), computed exactly (O(count * nranks / 8) hashes).
 * Returns 0, -EINVAL (bad dt, op or nranks < 1), -ERANGE (nranks above
 * fsc_data_max_ranks(): the result would not be exact) or -ENOMEM; errors
 * are logged. */
int fsc_data_expected(void *out, size_t count, enum fsc_dtype dt, enum fsc_redop op, uint64_t seed,
                      int nranks, uint64_t iter, size_t first_index);

/* Number of elements of buf that differ from expected.  Floats compare by
 * value (-0 equals +0; a NaN equals only a NaN); integers bit for bit.
 * An invalid dt counts every element as wrong. */
uint64_t fsc_data_check(const void *buf, size_t count, enum fsc_dtype dt, const void *expected);

/* Byte stream for patterns that move data without reducing it (all-to-all,
 * all-gather, broadcast, pipeline, bandwidth): byte k of the message from
 * src_rank to dst_rank in iteration iter, 8 bytes per hash step (several
 * GB/s).  The stream is the same on every host (defined little-endian). */
void fsc_bytes_fill(void *buf, size_t bytes, uint64_t seed, int src_rank, int dst_rank,
                    uint64_t iter);
/* Number of bytes of buf that differ from fsc_bytes_fill()'s stream. */
uint64_t fsc_bytes_check(const void *buf, size_t bytes, uint64_t seed, int src_rank, int dst_rank,
                         uint64_t iter);

#endif
