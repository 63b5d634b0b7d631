/* allgather: every rank ends with every rank's chunk, in rank order.
 *
 * Size: as nccl-tests (doc/PERFORMANCE.md), a point's `bytes` is the whole
 * receive buffer, n chunks; rank r contributes chunk r of the byte
 * partition in coll.h (chunk sizes differ by at most one byte; with fewer
 * bytes than ranks some ranks contribute nothing).  The data is untyped
 * (no --dtype): an all-gather moves bytes.
 *
 * Implementations:
 *  - ring: the all-gather phase of the ring all-reduce (coll.h): n-1
 *    steps, each rank sending (n-1)/n of the buffer, pipelined in
 *    --coll-seg segments;
 *  - native: the fabric's collective (MPI_Allgather on mpi), which takes
 *    equal chunks: a size that does not split evenly over the ranks is a
 *    recorded skip there.
 * In place: rank r's chunk starts inside the receive buffer, at its offset
 * (nccl-tests' and MPI's convention).
 *
 * Verification: chunk j is the byte stream fsc_bytes_fill(seed, j, -1,
 * iter) (-1: to every rank); each rank checks all n chunks it holds.
 *
 * Bandwidth (nccl-tests, doc/PERFORMANCE.md, "AllGather"):
 *   algbw = bytes / t (the whole receive buffer); busbw = algbw * (n-1)/n.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "coll.h"
#include "reduce.h"

#define AG_RING_TAG 51
#define AG_ALL -1 /* the "destination rank" of the verification stream */

enum { AG_RING, AG_NATIVE };
static const char *const ag_impls[] = {"ring", "native", 0};

struct ag_state {
	int impl, in_place;
	size_t off, len;        /* this rank's chunk, bytes */
	unsigned char *sbuf;    /* len bytes; in place: rbuf + off */
	unsigned char *rbuf;    /* c->bytes */
	unsigned char *hs, *hr; /* host images (fsc_fabric_host_alloc) */
	struct fsc_coll_ring ring;
};

static int ag_check_args(const struct fsc_pctx *c, char *err, size_t len)
{
	int rc;

	if (fsc_coll_impl(c, ag_impls) != AG_NATIVE)
		return 0;
	rc = fsc_coll_check_native(c, "all-gather", err, len);
	if (rc)
		return rc;
	if (c->bytes % (size_t)c->size) {
		snprintf(err, len,
		         "native all-gather takes equal chunks: %zu B do not split evenly over "
		         "%d ranks",
		         c->bytes, c->size);
		return -ENOTSUP;
	}
	return 0;
}

static int ag_setup(struct fsc_pctx *c, void **state)
{
	struct ag_state *s = calloc(1, sizeof(*s));

	*state = s;
	if (!s)
		return -ENOMEM;
	s->impl = fsc_coll_impl(c, ag_impls);
	s->in_place = c->in_place;
	s->off = fsc_coll_chunk_off(c->bytes, c->size, c->rank);
	s->len = fsc_coll_chunk_len(c->bytes, c->size, c->rank);
	s->rbuf = fsc_fabric_buf_alloc(c->fab, c->bytes);
	if (!s->rbuf)
		return -ENOMEM;
	s->sbuf = c->in_place ? s->rbuf + s->off : fsc_fabric_buf_alloc(c->fab, s->len);
	if (!s->sbuf)
		return -ENOMEM;
	s->hr = fsc_fabric_host_alloc(c->fab, s->rbuf, c->bytes);
	if (!s->hr)
		return -ENOMEM;
	s->hs = c->in_place ? s->hr + s->off : fsc_fabric_host_alloc(c->fab, s->sbuf, s->len);
	if (!s->hs)
		return -ENOMEM;
	if (s->impl == AG_RING)
		return fsc_coll_ring_init(&s->ring, c->fab, c->rank, c->size, c->bytes, 1, FSC_F32,
		                          FSC_SUM, fsc_coll_seg_bytes(c->cfg), AG_RING_TAG, 0);
	if (s->impl == AG_NATIVE)
		/* an empty call, in place on every rank alike, asks the fabric */
		return fsc_fabric_coll_allgather(c->fab, s->rbuf, s->rbuf, 0);
	return -EINVAL;
}

static int ag_fill(struct fsc_pctx *c, void *state, uint64_t iter)
{
	struct ag_state *s = state;

	int rc;

	/* zero first: in place, the own chunk is part of rbuf */
	memset(s->hr, 0, c->bytes);
	fsc_bytes_fill(s->hs, s->len, c->seed, c->rank, AG_ALL, iter);
	rc = fsc_fabric_from_host(c->fab, s->rbuf, s->hr, c->bytes);
	if (!rc && !s->in_place)
		rc = fsc_fabric_from_host(c->fab, s->sbuf, s->hs, s->len);
	return rc;
}

static int ag_run(struct fsc_pctx *c, void *state, uint64_t iter)
{
	struct ag_state *s = state;

	(void)iter;
	if (s->impl == AG_RING)
		return fsc_coll_ring_allgather(&s->ring, s->rbuf, s->sbuf);
	return fsc_fabric_coll_allgather(c->fab, s->sbuf, s->rbuf, c->bytes / (size_t)c->size);
}

static int ag_check(struct fsc_pctx *c, void *state, uint64_t iter, uint64_t *wrong)
{
	struct ag_state *s = state;
	int rc = fsc_fabric_to_host(c->fab, s->hr, s->rbuf, c->bytes);

	if (rc)
		return rc;
	*wrong = 0;
	for (int j = 0; j < c->size; j++)
		*wrong += fsc_bytes_check(s->hr + fsc_coll_chunk_off(c->bytes, c->size, j),
		                          fsc_coll_chunk_len(c->bytes, c->size, j), c->seed, j,
		                          AG_ALL, iter);
	return 0;
}

static void ag_teardown(struct fsc_pctx *c, void *state)
{
	struct ag_state *s = state;

	if (!s)
		return;
	fsc_coll_ring_fini(&s->ring);
	if (!s->in_place) {
		fsc_fabric_host_free(c->fab, s->sbuf, s->hs);
		fsc_fabric_buf_free(c->fab, s->sbuf);
	}
	fsc_fabric_host_free(c->fab, s->rbuf, s->hr);
	fsc_fabric_buf_free(c->fab, s->rbuf);
	free(s);
}

static double ag_factor(const struct fsc_pctx *c)
{
	return c->size > 0 ? (double)(c->size - 1) / c->size : 0;
}

/* Result of `bytes` and this rank's chunk (bytes / ranks) as input. */
static double ag_buf_bytes(const struct fsc_pctx *c)
{
	return (double)c->bytes + (double)c->bytes / (c->size > 0 ? c->size : 1) + 8;
}

const struct fsc_pattern_ops fsc_pattern_allgather = {
        .name = "allgather",
        .desc = "every rank's chunk onto every rank: ring, native (size = whole receive buffer)",
        .caps = FSC_CAP_SEND_RECV,
        .min_ranks = 1,
        .flags = FSC_PAT_INPLACE,
        .impls = ag_impls,
        .bw_formula = "algbw = bytes/t_mean, bytes = whole receive buffer; busbw = algbw * "
                      "(n-1)/n (nccl-tests doc/PERFORMANCE.md, AllGather)",
        .busbw_factor = ag_factor,
        .check_args = ag_check_args,
        .setup = ag_setup,
        .buf_bytes = ag_buf_bytes,
        .fill = ag_fill,
        .run = ag_run,
        .check = ag_check,
        .teardown = ag_teardown,
};
