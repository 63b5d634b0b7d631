/* Shared parts of the reduction-family collectives (allreduce,
 * reducescatter, allgather, broadcast): chunk partitioning for uneven
 * counts, the pipelined ring (reduce-scatter and all-gather phases), and
 * the argument checks, buffers and native-collective probe the patterns
 * have in common.
 *
 * Every algorithm here uses only the fabric's point-to-point primitives
 * (fsc_fabric_isend/irecv/wait), so it runs unchanged over every fabric.
 */
#ifndef FSC_PATTERNS_COLL_H
#define FSC_PATTERNS_COLL_H

#include <stddef.h>
#include <stdint.h>

#include "pattern.h"

/* ---- chunk partitioning ------------------------------------------------ */

/* `count` elements split over n ranks as evenly as possible: the first
 * count % n chunks hold one element more than the others, so chunk sizes
 * differ by at most one and, when count < n, ranks count..n-1 own empty
 * chunks.  Chunk i starts at element fsc_coll_chunk_off(count, n, i). */
size_t fsc_coll_chunk_off(size_t count, int n, int i);
size_t fsc_coll_chunk_len(size_t count, int n, int i);

/* ---- the ring ---------------------------------------------------------- */

/* A ring over all ranks of a fabric (rank r sends to r+1, receives from
 * r-1), with its scratch preallocated so that no call below allocates.
 *
 * Chunk schedule (one formula for both phases): in step t = 0..2n-3, rank r
 * sends chunk (r - t - 1) mod n and receives chunk (r - t - 2) mod n.
 * Steps 0..n-2 are the reduce-scatter (the received chunk is reduced with
 * this rank's input); after them rank r holds the full reduction of chunk
 * r.  Steps n-1..2n-3 are the all-gather (the received chunk is final and
 * is stored in place).  Each step's received chunk is the next step's sent
 * chunk, so chunks are split into segments of `seg` elements and every
 * segment is forwarded as soon as it has been received and reduced: the
 * transfer of segment k+1 overlaps the reduction of segment k, and the
 * reduce-scatter flows into the all-gather without a pause.  Each rank
 * sends 2(n-1)/n of the vector, the bandwidth-optimal amount (Patarasuk
 * and Yuan, "Bandwidth optimal all-reduce algorithms for clusters of
 * workstations", JPDC 2009).
 *
 * Reductions run from the receive staging buffer straight into their
 * destination with fsc_reduce/fsc_reduce3: out of place, each chunk of the
 * result is written once, op(input, received), with no copy of the input. */
struct fsc_coll_ring {
	struct fsc_fabric *fab;
	int rank, size, left, right;
	size_t count;      /* elements of the whole vector */
	size_t esize;      /* bytes per element (1 for untyped data) */
	enum fsc_dtype dt; /* reduce-scatter only */
	enum fsc_redop op; /* reduce-scatter only */
	size_t seg;        /* elements per segment, >= 1 */
	int tag;
	unsigned char *tmp[2];   /* receive staging, one largest chunk each */
	size_t maxseg;           /* segments of the largest chunk */
	struct fsc_req *rreq;    /* [maxseg] */
	struct fsc_req *sreq[2]; /* [maxseg] each: sends of even / odd steps */
	size_t nsend[2];
	/* Host staging of reductions when the fabric's buffers are device
	 * memory (fsc_coll_reduce), one segment each; NULL on host memory. */
	unsigned char *host[2];
};

enum fsc_coll_ring_flags {
	FSC_RING_REDUCE = 1u << 0, /* reduce-scatter phase will be used */
	FSC_RING_NO_ACC = 1u << 1, /* ... without a full-size accumulator */
};

/* Prepare a ring for vectors of `count` elements of `esize` bytes (dt and
 * op are used by the reduce-scatter phase only).  seg_bytes: pipeline
 * segment (rounded down to whole elements, at least one; 0 means no
 * segmentation).  tag: the fabric tag of every message of this ring.
 * flags: FSC_RING_REDUCE allocates one chunk of receive staging,
 * FSC_RING_REDUCE|FSC_RING_NO_ACC two.  Buffers are registered with the
 * fabric.  Returns 0 or -ENOMEM/-EIO (logged).  On failure call
 * fsc_coll_ring_fini(). */
int fsc_coll_ring_init(struct fsc_coll_ring *g, struct fsc_fabric *f, int rank, int size,
                       size_t count, size_t esize, enum fsc_dtype dt, enum fsc_redop op,
                       size_t seg_bytes, int tag, unsigned flags);
/* Free what init allocated; accepts a zeroed or half-built ring. */
void fsc_coll_ring_fini(struct fsc_coll_ring *g);

/* Reduce-scatter phase: src holds this rank's count elements.  acc: a
 * count-element accumulator for the partial results (the allreduce's
 * receive buffer; src itself for in place), or NULL to keep them in the
 * staging buffers (needs FSC_RING_NO_ACC).  own: where this rank's reduced
 * chunk r (fsc_coll_chunk_len(count, n, r) elements) is written; it may be
 * src + its offset (in place).  Collective over the ring. */
int fsc_coll_ring_reduce_scatter(struct fsc_coll_ring *g, const void *src, void *acc, void *own);

/* All-gather phase: buf holds count elements, chunk j at its offset; own
 * holds this rank's chunk (it may be buf + its offset, in place; otherwise
 * it is also copied there).  Collective over the ring. */
int fsc_coll_ring_allgather(struct fsc_coll_ring *g, void *buf, const void *own);

/* Reduce-scatter then all-gather, pipelined across the two phases:
 * rbuf = op over ranks of sbuf (count elements; sbuf == rbuf: in place).
 * Needs FSC_RING_REDUCE. */
int fsc_coll_ring_allreduce(struct fsc_coll_ring *g, const void *sbuf, void *rbuf);

/* ---- pattern helpers --------------------------------------------------- */

/* The --coll-seg option (fsc_coll_opts, listed by the allreduce pattern,
 * read by every collective here); its table default when cfg is NULL or
 * lacks it. */
size_t fsc_coll_seg_bytes(const struct fsc_config *cfg);

/* The collectives' options (--coll-seg), listed by the allreduce pattern. */
extern const struct fsc_opt fsc_coll_opts[];

/* Index of c->impl in impls (NULL-terminated), or -1. */
int fsc_coll_impl(const struct fsc_pctx *c, const char *const *impls);

/* check_args of the typed patterns: a size below one element and a rank
 * count beyond exact verification (fsc_data_max_ranks) are -ENOTSUP (a
 * recorded skip: in a size sweep small sizes are expected to be skipped,
 * as nccl-tests does); an invalid dtype or op is -EINVAL. */
int fsc_coll_check_typed(const struct fsc_pctx *c, char *err, size_t len);

/* For impl "native": -ENOTSUP unless the fabric declares native
 * collectives (c->fab may be NULL during validation: then 0). */
int fsc_coll_check_native(const struct fsc_pctx *c, const char *what, char *err, size_t len);

/* Fill a result buffer (a transfer buffer of f) with a value that no
 * correct reduction of the seeded data produces (0x7f bytes: NaN-free huge
 * floats, integers far beyond any sum), so an element an algorithm never
 * writes is counted.  0 or the fabric's error. */
int fsc_coll_poison(struct fsc_fabric *f, void *buf, size_t bytes);

/* dst = op(a, b) over `count` elements of transfer buffers of f (dst may
 * be a or b).  On host memory this is fsc_reduce/fsc_reduce3; on device
 * memory a and b are copied to the host buffers h0 and h1 (count elements
 * each), reduced there and copied back, so the host never dereferences
 * device memory.  0 or the fabric's copy error. */
int fsc_coll_reduce(struct fsc_fabric *f, void *dst, const void *a, const void *b, size_t count,
                    enum fsc_dtype dt, enum fsc_redop op, void *h0, void *h1);

#endif
