/* allreduce: every rank ends with the element-wise reduction (sum, max,
 * min) of all ranks' vectors.
 *
 * Size: a point's `bytes` is each rank's buffer (nccl-tests' "size");
 * count = floor(bytes / sizeof(dtype)) elements (the record's `count`).  A
 * size below one element is a recorded skip.  Any count is valid: chunks
 * of uneven counts differ by one element, and with fewer elements than
 * ranks some ranks own empty chunks.
 *
 * Implementations, all over the fabric's point-to-point primitives except
 * `native`:
 *  - ring: reduce-scatter then all-gather around a ring, pipelined in
 *    --coll-seg segments (patterns/coll.h); each rank sends 2(n-1)/n of the
 *    vector: bandwidth-optimal for large vectors;
 *  - rd: recursive doubling, log2(n) exchanges of the whole vector:
 *    latency-optimal for small ones.  Rank counts that are not a power of
 *    two are folded as in MPICH (Thakur, Rabenseifner and Gropp,
 *    "Optimization of Collective Communication Operations in MPICH", IJHPCA
 *    2005, sec. 4.4): with p = 2^floor(log2 n) and r = n - p, the first 2r
 *    ranks pair up, each even rank sends its vector to the odd rank above
 *    it, which reduces; the p remaining ranks run recursive doubling; the
 *    odd ranks then send the result back to their even partners;
 *  - native: the fabric's own collective (MPI_Allreduce on mpi); a recorded
 *    skip where the fabric has none, or none for the dtype (MPI has no
 *    bfloat16).
 * In place (--inplace): the input and result share one buffer.
 *
 * Verification: rank r's input is fsc_data_fill(seed, r, iter); every rank
 * computes the exact expected result itself (fsc_data_expected, small
 * integers: any order of reduction is exact) and counts wrong elements.
 * The timed iterations do not refill the buffers (as nccl-tests): in place,
 * values grow from one iteration to the next, which costs the same.
 *
 * Bandwidth (nccl-tests, doc/PERFORMANCE.md, "AllReduce"):
 *   algbw = count*sizeof(dtype) / t;  busbw = algbw * 2(n-1)/n,
 * the factor being the share of the data each rank must send and receive
 * in any all-reduce, so busbw is comparable with the link bandwidth.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "coll.h"
#include "reduce.h"

#define AR_RING_TAG 31
#define AR_RD_TAG 32
#define AR_RD_PRE_TAG 33
#define AR_RD_POST_TAG 34

enum { AR_RING, AR_RD, AR_NATIVE };
static const char *const ar_impls[] = {"ring", "rd", "native", 0};

struct ar_state {
	int impl;
	size_t count, bytes;
	unsigned char *sbuf, *rbuf; /* the same buffer in place */
	unsigned char *tmp;         /* rd: the partner's vector */
	unsigned char *exp;         /* expected result */
	unsigned char *hs, *hr;     /* host images of sbuf, rbuf (fsc_fabric_host_alloc) */
	unsigned char *h[2];        /* rd on device memory: reduction staging */
	struct fsc_coll_ring ring;
};

static int ar_check_args(const struct fsc_pctx *c, char *err, size_t len)
{
	int rc = fsc_coll_check_typed(c, err, len);

	if (rc)
		return rc;
	if (fsc_coll_impl(c, ar_impls) == AR_NATIVE)
		return fsc_coll_check_native(c, "allreduce", err, len);
	return 0;
}

static int ar_setup(struct fsc_pctx *c, void **state)
{
	struct ar_state *s = calloc(1, sizeof(*s));
	size_t es = fsc_dtype_size(c->dtype);

	*state = s;
	if (!s)
		return -ENOMEM;
	s->impl = fsc_coll_impl(c, ar_impls);
	s->count = c->bytes / es;
	s->bytes = s->count * es;
	s->rbuf = fsc_fabric_buf_alloc(c->fab, s->bytes);
	s->sbuf = c->in_place ? s->rbuf : fsc_fabric_buf_alloc(c->fab, s->bytes);
	s->exp = fsc_fabric_buf_alloc(0, s->bytes);
	if (!s->rbuf || !s->sbuf || !s->exp)
		return -ENOMEM;
	s->hs = fsc_fabric_host_alloc(c->fab, s->sbuf, s->bytes);
	s->hr = c->in_place ? s->hs : fsc_fabric_host_alloc(c->fab, s->rbuf, s->bytes);
	if (!s->hs || !s->hr)
		return -ENOMEM;
	if (s->impl == AR_RING)
		return fsc_coll_ring_init(&s->ring, c->fab, c->rank, c->size, s->count, es,
		                          c->dtype, c->op, fsc_coll_seg_bytes(c->cfg), AR_RING_TAG,
		                          FSC_RING_REDUCE);
	if (s->impl == AR_RD) {
		s->tmp = fsc_fabric_buf_alloc(c->fab, s->bytes);
		if (!s->tmp)
			return -ENOMEM;
		if (fsc_fabric_mem_kind(c->fab) == FSC_MEM_HOST)
			return 0;
		s->h[0] = fsc_fabric_buf_alloc(0, s->bytes);
		s->h[1] = fsc_fabric_buf_alloc(0, s->bytes);
		return s->h[0] && s->h[1] ? 0 : -ENOMEM;
	}
	if (s->impl == AR_NATIVE)
		/* An empty call, on every rank alike, asks the fabric whether it
		 * has this collective for this dtype and op: -ENOTSUP is a skip. */
		return fsc_fabric_coll_allreduce(c->fab, s->sbuf, s->rbuf, 0, c->dtype, c->op);
	return -EINVAL;
}

static int ar_fill(struct fsc_pctx *c, void *state, uint64_t iter)
{
	struct ar_state *s = state;

	int rc;

	fsc_data_fill(s->hs, s->count, c->dtype, c->seed, c->rank, iter, 0);
	rc = fsc_fabric_from_host(c->fab, s->sbuf, s->hs, s->bytes);
	if (!rc && s->rbuf != s->sbuf)
		rc = fsc_coll_poison(c->fab, s->rbuf, s->bytes);
	return rc;
}

/* rbuf = op(rbuf, tmp), or op(sbuf, tmp) while rbuf does not hold this
 * rank's running value yet (out of place: no copy of the input). */
static int rd_combine(struct fsc_pctx *c, struct ar_state *s, int *have)
{
	const void *a = *have ? s->rbuf : s->sbuf;

	*have = 1;
	return fsc_coll_reduce(c->fab, s->rbuf, a, s->tmp, s->count, c->dtype, c->op, s->h[0],
	                       s->h[1]);
}

/* Recursive doubling with MPICH's folding of non-powers of two (see the top
 * of this file).  Partners exchange whole vectors with sendrecv. */
static int rd_run(struct fsc_pctx *c, struct ar_state *s)
{
	struct fsc_fabric *f = c->fab;
	int n = c->size, rank = c->rank, p = 1, rem, vrank, rc;
	int have = s->sbuf == s->rbuf;
	size_t nb = s->bytes;

	if (n == 1)
		return have ? 0 : fsc_fabric_buf_copy(f, s->rbuf, s->sbuf, nb);
	while (p * 2 <= n)
		p *= 2;
	rem = n - p;
	if (rank < 2 * rem) {
		if (rank % 2 == 0) {
			/* folded out: hand the vector over, get the result back */
			rc = fsc_fabric_send(f, rank + 1, s->sbuf, nb, AR_RD_PRE_TAG);
			return rc ? rc : fsc_fabric_recv(f, rank + 1, s->rbuf, nb, AR_RD_POST_TAG);
		}
		rc = fsc_fabric_recv(f, rank - 1, s->tmp, nb, AR_RD_PRE_TAG);
		if (!rc)
			rc = rd_combine(c, s, &have);
		if (rc)
			return rc;
		vrank = rank / 2;
	} else {
		vrank = rank - rem;
	}
	for (int mask = 1; mask < p; mask <<= 1) {
		int vpeer = vrank ^ mask;
		int peer = vpeer < rem ? vpeer * 2 + 1 : vpeer + rem;

		rc = fsc_fabric_sendrecv(f, peer, have ? s->rbuf : s->sbuf, nb, peer, s->tmp, nb,
		                         AR_RD_TAG);
		if (!rc)
			rc = rd_combine(c, s, &have);
		if (rc)
			return rc;
	}
	if (rank < 2 * rem)
		return fsc_fabric_send(f, rank - 1, s->rbuf, nb, AR_RD_POST_TAG);
	return 0;
}

static int ar_run(struct fsc_pctx *c, void *state, uint64_t iter)
{
	struct ar_state *s = state;

	(void)iter;
	switch (s->impl) {
	case AR_RING: return fsc_coll_ring_allreduce(&s->ring, s->sbuf, s->rbuf);
	case AR_RD: return rd_run(c, s);
	case AR_NATIVE:
		return fsc_fabric_coll_allreduce(c->fab, s->sbuf, s->rbuf, s->count, c->dtype,
		                                 c->op);
	}
	return -EINVAL;
}

static int ar_check(struct fsc_pctx *c, void *state, uint64_t iter, uint64_t *wrong)
{
	struct ar_state *s = state;
	int rc;

	rc = fsc_data_expected(s->exp, s->count, c->dtype, c->op, c->seed, c->size, iter, 0);
	if (rc)
		return rc;
	rc = fsc_fabric_to_host(c->fab, s->hr, s->rbuf, s->bytes);
	if (rc)
		return rc;
	*wrong = fsc_data_check(s->hr, s->count, c->dtype, s->exp);
	return 0;
}

static void ar_teardown(struct fsc_pctx *c, void *state)
{
	struct ar_state *s = state;

	if (!s)
		return;
	fsc_coll_ring_fini(&s->ring);
	if (s->hr != s->hs)
		fsc_fabric_host_free(c->fab, s->rbuf, s->hr);
	fsc_fabric_host_free(c->fab, s->sbuf, s->hs);
	fsc_fabric_buf_free(0, s->h[0]);
	fsc_fabric_buf_free(0, s->h[1]);
	if (s->sbuf != s->rbuf)
		fsc_fabric_buf_free(c->fab, s->sbuf);
	fsc_fabric_buf_free(c->fab, s->rbuf);
	fsc_fabric_buf_free(c->fab, s->tmp);
	fsc_fabric_buf_free(0, s->exp);
	free(s);
}

static double ar_bytes(const struct fsc_pctx *c)
{
	size_t es = fsc_dtype_size(c->dtype);

	return es ? (double)(c->bytes / es * es) : 0;
}

static double ar_factor(const struct fsc_pctx *c)
{
	return c->size > 0 ? 2.0 * (c->size - 1) / c->size : 0;
}

/* Result, input (unless in place) and expected result of `bytes` each,
 * plus the implementation's scratch: a whole buffer for recursive
 * doubling, one chunk (bytes / ranks) for the ring. */
static double ar_buf_bytes(const struct fsc_pctx *c)
{
	double b = (double)c->bytes, n = (double)(c->in_place ? 2 : 3) * b;

	if (c->impl && !strcmp(c->impl, "rd"))
		n += b;
	else if (c->impl && !strcmp(c->impl, "ring"))
		n += b / (c->size > 0 ? c->size : 1) + 8;
	return n;
}

const struct fsc_pattern_ops fsc_pattern_allreduce = {
        .name = "allreduce",
        .desc = "element-wise reduction onto every rank: ring, recursive doubling, native",
        .caps = FSC_CAP_SEND_RECV,
        .min_ranks = 1,
        .flags = FSC_PAT_DTYPE | FSC_PAT_OP | FSC_PAT_INPLACE,
        .impls = ar_impls,
        .opts = fsc_coll_opts,
        .bw_formula = "algbw = count*sizeof(dtype)/t_mean; busbw = algbw * 2(n-1)/n "
                      "(nccl-tests doc/PERFORMANCE.md, AllReduce)",
        .algbw_bytes = ar_bytes,
        .busbw_factor = ar_factor,
        .check_args = ar_check_args,
        .setup = ar_setup,
        .buf_bytes = ar_buf_bytes,
        .fill = ar_fill,
        .run = ar_run,
        .check = ar_check,
        .teardown = ar_teardown,
};
