/* alltoall: every rank sends a distinct block to every rank (the traffic of
 * mixture-of-experts token dispatch).
 *
 * Sizes follow nccl-tests: `bytes` is the per-rank send buffer; each peer
 * (this rank included) gets blk = floor(bytes / n) bytes, and the leftover
 * bytes % n are not sent.  A size below n bytes has no byte per peer and is
 * recorded as skipped.
 *
 * impl "pairwise": n - 1 steps; at step k a rank sends its block for
 * (rank + k) % n and receives the block of (rank - k + n) % n, both posted
 * at once and waited for together; its own block is a local copy.  Every
 * rank is in exactly one send and one receive per step, so no link carries
 * two messages at once.
 * impl "native": the fabric's own all-to-all (MPI_Alltoall); a fabric
 * without one records the point as skipped.
 *
 * Bandwidth (nccl-tests): algbw = n*blk / t (the bytes a rank sends, its own
 * block included); busbw = algbw * (n-1)/n, since of n*blk bytes only
 * (n-1)*blk cross a link.
 *
 * Data: the block from rank i to rank j in iteration `iter` is the stream
 * fsc_bytes_fill(seed, i, j, iter); each rank checks the n blocks it
 * received and counts wrong bytes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pattern.h"
#include "reduce.h"

#define A2A_TAG 41

struct a2a_state {
	int native;
	size_t blk;                 /* bytes per peer */
	unsigned char *sbuf, *rbuf; /* n * blk each; block j at j * blk */
	unsigned char *hs, *hr;     /* host images (fsc_fabric_host_alloc) */
	struct fsc_req rq[2];
};

/* The fabric offers a native all-to-all (tested ahead so that a point on a
 * fabric without one is a clean "skipped" record, not a failed run). */
static int a2a_has_native(const struct fsc_fabric *f)
{
	return f && (f->ops->caps & FSC_CAP_NATIVE_COLL) && f->ops->coll && f->ops->coll->alltoall;
}

static int a2a_check_args(const struct fsc_pctx *c, char *err, size_t len)
{
	if (c->bytes < (size_t)c->size) {
		snprintf(err, len,
		         "%zu bytes per rank is less than one byte per peer for %d ranks "
		         "(alltoall sends bytes/ranks to each rank)",
		         c->bytes, c->size);
		return -ENOTSUP;
	}
	/* c->fab is NULL while the runner validates options up front. */
	if (!strcmp(c->impl, "native") && c->fab && !a2a_has_native(c->fab)) {
		snprintf(err, len, "fabric %s has no native alltoall", c->fab->ops->name);
		return -ENOTSUP;
	}
	return 0;
}

static int a2a_setup(struct fsc_pctx *c, void **state)
{
	struct a2a_state *s = calloc(1, sizeof(*s));
	size_t total;

	*state = s;
	if (!s)
		return -ENOMEM;
	s->native = !strcmp(c->impl, "native");
	s->blk = c->bytes / (size_t)c->size;
	total = s->blk * (size_t)c->size;
	s->sbuf = fsc_fabric_buf_alloc(c->fab, total);
	s->rbuf = fsc_fabric_buf_alloc(c->fab, total);
	if (!s->sbuf || !s->rbuf)
		return -ENOMEM;
	s->hs = fsc_fabric_host_alloc(c->fab, s->sbuf, total);
	s->hr = fsc_fabric_host_alloc(c->fab, s->rbuf, total);
	return s->hs && s->hr ? 0 : -ENOMEM;
}

static int a2a_fill(struct fsc_pctx *c, void *state, uint64_t iter)
{
	struct a2a_state *s = state;
	size_t total = s->blk * (size_t)c->size;
	int rc;

	for (int j = 0; j < c->size; j++)
		fsc_bytes_fill(s->hs + (size_t)j * s->blk, s->blk, c->seed, c->rank, j, iter);
	rc = fsc_fabric_from_host(c->fab, s->sbuf, s->hs, total);
	return rc ? rc : fsc_fabric_buf_set(c->fab, s->rbuf, 0, total);
}

static int a2a_run(struct fsc_pctx *c, void *state, uint64_t iter)
{
	struct a2a_state *s = state;
	size_t blk = s->blk;
	int n = c->size, rc;

	(void)iter;
	if (s->native)
		return fsc_fabric_coll_alltoall(c->fab, s->sbuf, s->rbuf, blk);
	rc = fsc_fabric_buf_copy(c->fab, s->rbuf + (size_t)c->rank * blk,
	                         s->sbuf + (size_t)c->rank * blk, blk);
	if (rc)
		return rc;
	for (int k = 1; k < n; k++) {
		int dst = (c->rank + k) % n, src = (c->rank - k + n) % n;

		rc = fsc_fabric_irecv(c->fab, src, s->rbuf + (size_t)src * blk, blk, A2A_TAG,
		                      &s->rq[0]);
		if (!rc)
			rc = fsc_fabric_isend(c->fab, dst, s->sbuf + (size_t)dst * blk, blk,
			                      A2A_TAG, &s->rq[1]);
		if (!rc)
			rc = fsc_fabric_wait(c->fab, s->rq, 2);
		if (rc) {
			/* the receive, if the send could not be posted */
			fsc_fabric_cancel(c->fab, &s->rq[0]);
			return rc;
		}
	}
	return 0;
}

static int a2a_check(struct fsc_pctx *c, void *state, uint64_t iter, uint64_t *wrong)
{
	struct a2a_state *s = state;
	int rc = fsc_fabric_to_host(c->fab, s->hr, s->rbuf, s->blk * (size_t)c->size);

	if (rc)
		return rc;
	*wrong = 0;
	for (int i = 0; i < c->size; i++)
		*wrong += fsc_bytes_check(s->hr + (size_t)i * s->blk, s->blk, c->seed, i, c->rank,
		                          iter);
	return 0;
}

static void a2a_teardown(struct fsc_pctx *c, void *state)
{
	struct a2a_state *s = state;

	if (!s)
		return;
	fsc_fabric_host_free(c->fab, s->sbuf, s->hs);
	fsc_fabric_host_free(c->fab, s->rbuf, s->hr);
	fsc_fabric_buf_free(c->fab, s->sbuf);
	fsc_fabric_buf_free(c->fab, s->rbuf);
	free(s);
}

static double a2a_bytes(const struct fsc_pctx *c)
{
	return (double)(c->bytes / (size_t)c->size * (size_t)c->size);
}

static double a2a_factor(const struct fsc_pctx *c)
{
	return (double)(c->size - 1) / (double)c->size;
}

static const char *const a2a_impls[] = {"pairwise", "native", 0};

/* A send and a receive buffer of `bytes` (size blocks) on every rank. */
static double a2a_buf_bytes(const struct fsc_pctx *c)
{
	return 2.0 * (double)c->bytes;
}

const struct fsc_pattern_ops fsc_pattern_alltoall = {
        .name = "alltoall",
        .desc = "every rank sends bytes/ranks to every rank (pairwise exchange or native)",
        .caps = FSC_CAP_SEND_RECV,
        .min_ranks = 2,
        .impls = a2a_impls,
        .bw_formula = "blk = floor(bytes/n) per peer; algbw = n*blk/t; busbw = algbw*(n-1)/n",
        .algbw_bytes = a2a_bytes,
        .busbw_factor = a2a_factor,
        .check_args = a2a_check_args,
        .setup = a2a_setup,
        .buf_bytes = a2a_buf_bytes,
        .fill = a2a_fill,
        .run = a2a_run,
        .check = a2a_check,
        .teardown = a2a_teardown,
};
