/* reducescatter: the element-wise reduction of all ranks' vectors, each
 * rank keeping one chunk of it.
 *
 * Size: as nccl-tests (doc/PERFORMANCE.md), a point's `bytes` is the whole
 * send buffer, n chunks: count = floor(bytes / sizeof(dtype)) elements in
 * all (the record's `count`), rank r keeping chunk r of the partition in
 * coll.h (chunk sizes differ by at most one element; with fewer elements
 * than ranks some ranks keep nothing).  A size below one element is a
 * recorded skip.
 *
 * Implementations:
 *  - ring: the reduce-scatter phase of the ring all-reduce (coll.h): n-1
 *    steps, each rank sending (n-1)/n of the vector;
 *  - native: the fabric's collective (MPI_Reduce_scatter_block on mpi),
 *    which takes equal chunks: a count that does not split evenly over the
 *    ranks is a recorded skip there.
 * In place: the result chunk stays where it is in the send buffer for ring
 * (nccl-tests' convention, recvbuff = sendbuff + r * chunk); native follows
 * the fabric's convention (MPI_IN_PLACE: the chunk lands at the start).
 *
 * Verification: inputs from fsc_data_fill(seed, rank, iter); each rank
 * checks its own chunk against fsc_data_expected over the chunk's range.
 *
 * Bandwidth (nccl-tests, doc/PERFORMANCE.md, "ReduceScatter"):
 *   algbw = count*sizeof(dtype) / t (the whole send buffer);
 *   busbw = algbw * (n-1)/n.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "coll.h"
#include "reduce.h"

#define RS_RING_TAG 41

enum { RS_RING, RS_NATIVE };
static const char *const rs_impls[] = {"ring", "native", 0};

struct rs_state {
	int impl;
	size_t count, bytes;   /* whole send buffer */
	size_t off, len;       /* this rank's chunk, elements */
	unsigned char *sbuf;   /* count elements */
	unsigned char *rbuf;   /* len elements; in place: sbuf */
	unsigned char *result; /* where this rank's chunk ends up */
	unsigned char *exp;
	unsigned char *hs, *hres; /* host images of sbuf and result */
	struct fsc_coll_ring ring;
};

static int rs_check_args(const struct fsc_pctx *c, char *err, size_t len)
{
	size_t count;
	int rc = fsc_coll_check_typed(c, err, len);

	if (rc)
		return rc;
	if (fsc_coll_impl(c, rs_impls) != RS_NATIVE)
		return 0;
	rc = fsc_coll_check_native(c, "reduce-scatter", err, len);
	if (rc)
		return rc;
	count = c->bytes / fsc_dtype_size(c->dtype);
	if (count % (size_t)c->size) {
		snprintf(err, len,
		         "native reduce-scatter takes equal chunks: %zu elements do not split "
		         "evenly over %d ranks",
		         count, c->size);
		return -ENOTSUP;
	}
	return 0;
}

static int rs_setup(struct fsc_pctx *c, void **state)
{
	struct rs_state *s = calloc(1, sizeof(*s));
	size_t es = fsc_dtype_size(c->dtype);

	*state = s;
	if (!s)
		return -ENOMEM;
	s->impl = fsc_coll_impl(c, rs_impls);
	s->count = c->bytes / es;
	s->bytes = s->count * es;
	s->off = fsc_coll_chunk_off(s->count, c->size, c->rank);
	s->len = fsc_coll_chunk_len(s->count, c->size, c->rank);
	s->sbuf = fsc_fabric_buf_alloc(c->fab, s->bytes);
	s->rbuf = c->in_place ? s->sbuf : fsc_fabric_buf_alloc(c->fab, s->len * es);
	s->exp = fsc_fabric_buf_alloc(0, s->len * es);
	if (!s->sbuf || !s->rbuf || !s->exp)
		return -ENOMEM;
	s->result = s->rbuf;
	if (s->impl == RS_RING && c->in_place)
		s->result = s->sbuf + s->off * es;
	s->hs = fsc_fabric_host_alloc(c->fab, s->sbuf, s->bytes);
	s->hres = fsc_fabric_host_alloc(c->fab, s->result, s->len * es);
	if (!s->hs || !s->hres)
		return -ENOMEM;
	if (s->impl == RS_RING) {
		return fsc_coll_ring_init(&s->ring, c->fab, c->rank, c->size, s->count, es,
		                          c->dtype, c->op, fsc_coll_seg_bytes(c->cfg), RS_RING_TAG,
		                          FSC_RING_REDUCE | (c->in_place ? 0 : FSC_RING_NO_ACC));
	}
	if (s->impl == RS_NATIVE)
		/* an empty call asks the fabric (every rank alike) */
		return fsc_fabric_coll_reduce_scatter(c->fab, s->sbuf, s->rbuf, 0, c->dtype, c->op);
	return -EINVAL;
}

static int rs_fill(struct fsc_pctx *c, void *state, uint64_t iter)
{
	struct rs_state *s = state;

	int rc;

	fsc_data_fill(s->hs, s->count, c->dtype, c->seed, c->rank, iter, 0);
	rc = fsc_fabric_from_host(c->fab, s->sbuf, s->hs, s->bytes);
	if (!rc && s->rbuf != s->sbuf)
		rc = fsc_coll_poison(c->fab, s->rbuf, s->len * fsc_dtype_size(c->dtype));
	return rc;
}

static int rs_run(struct fsc_pctx *c, void *state, uint64_t iter)
{
	struct rs_state *s = state;

	(void)iter;
	if (s->impl == RS_RING)
		return fsc_coll_ring_reduce_scatter(&s->ring, s->sbuf, c->in_place ? s->sbuf : 0,
		                                    s->result);
	return fsc_fabric_coll_reduce_scatter(c->fab, s->sbuf, s->rbuf, s->count / c->size,
	                                      c->dtype, c->op);
}

static int rs_check(struct fsc_pctx *c, void *state, uint64_t iter, uint64_t *wrong)
{
	struct rs_state *s = state;
	int rc;

	rc = fsc_data_expected(s->exp, s->len, c->dtype, c->op, c->seed, c->size, iter, s->off);
	if (rc)
		return rc;
	rc = fsc_fabric_to_host(c->fab, s->hres, s->result, s->len * fsc_dtype_size(c->dtype));
	if (rc)
		return rc;
	*wrong = fsc_data_check(s->hres, s->len, c->dtype, s->exp);
	return 0;
}

static void rs_teardown(struct fsc_pctx *c, void *state)
{
	struct rs_state *s = state;

	if (!s)
		return;
	fsc_coll_ring_fini(&s->ring);
	fsc_fabric_host_free(c->fab, s->result, s->hres);
	fsc_fabric_host_free(c->fab, s->sbuf, s->hs);
	if (s->rbuf != s->sbuf)
		fsc_fabric_buf_free(c->fab, s->rbuf);
	fsc_fabric_buf_free(c->fab, s->sbuf);
	fsc_fabric_buf_free(0, s->exp);
	free(s);
}

static double rs_bytes(const struct fsc_pctx *c)
{
	size_t es = fsc_dtype_size(c->dtype);

	return es ? (double)(c->bytes / es * es) : 0;
}

static double rs_factor(const struct fsc_pctx *c)
{
	return c->size > 0 ? (double)(c->size - 1) / c->size : 0;
}

/* Input of `bytes`; result and expected result of one chunk (bytes /
 * ranks); the ring's scratch is at most two chunks. */
static double rs_buf_bytes(const struct fsc_pctx *c)
{
	double chunk = (double)c->bytes / (c->size > 0 ? c->size : 1) + 8;

	return (double)c->bytes + 4 * chunk;
}

const struct fsc_pattern_ops fsc_pattern_reducescatter = {
        .name = "reducescatter",
        .desc = "element-wise reduction, each rank keeping one chunk: ring, native "
                "(size = whole send buffer)",
        .caps = FSC_CAP_SEND_RECV,
        .min_ranks = 1,
        .flags = FSC_PAT_DTYPE | FSC_PAT_OP | FSC_PAT_INPLACE,
        .impls = rs_impls,
        .bw_formula = "algbw = count*sizeof(dtype)/t_mean, count = whole send buffer; "
                      "busbw = algbw * (n-1)/n (nccl-tests doc/PERFORMANCE.md, ReduceScatter)",
        .algbw_bytes = rs_bytes,
        .busbw_factor = rs_factor,
        .check_args = rs_check_args,
        .setup = rs_setup,
        .buf_bytes = rs_buf_bytes,
        .fill = rs_fill,
        .run = rs_run,
        .check = rs_check,
        .teardown = rs_teardown,
};
