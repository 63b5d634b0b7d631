/* Shared parts of the reduction-family collectives (see coll.h). */
#include "coll.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "runner.h"
#include "reduce.h"

/* ---- chunk partitioning ------------------------------------------------ */

size_t fsc_coll_chunk_off(size_t count, int n, int i)
{
	size_t q = count / (size_t)n, r = count % (size_t)n, k = (size_t)i;

	return k * q + (k < r ? k : r);
}

size_t fsc_coll_chunk_len(size_t count, int n, int i)
{
	return count / (size_t)n + ((size_t)i < count % (size_t)n ? 1 : 0);
}

static int mod(int a, int n)
{
	a %= n;
	return a < 0 ? a + n : a;
}

/* ---- buffers ----------------------------------------------------------- */

int fsc_coll_poison(struct fsc_fabric *f, void *buf, size_t bytes)
{
	return fsc_fabric_buf_set(f, buf, 0x7f, bytes);
}

int fsc_coll_reduce(struct fsc_fabric *f, void *dst, const void *a, const void *b, size_t count,
                    enum fsc_dtype dt, enum fsc_redop op, void *h0, void *h1)
{
	size_t nb = count * fsc_dtype_size(dt);
	int rc;

	if (fsc_fabric_mem_kind(f) == FSC_MEM_HOST) {
		if (dst == a)
			fsc_reduce(dst, b, count, dt, op);
		else if (dst == b)
			fsc_reduce(dst, a, count, dt, op);
		else
			fsc_reduce3(dst, a, b, count, dt, op);
		return 0;
	}
	rc = fsc_fabric_to_host(f, h0, a, nb);
	if (!rc)
		rc = fsc_fabric_to_host(f, h1, b, nb);
	if (rc)
		return rc;
	fsc_reduce(h0, h1, count, dt, op);
	return fsc_fabric_from_host(f, dst, h0, nb);
}

/* ---- the ring ---------------------------------------------------------- */

int fsc_coll_ring_init(struct fsc_coll_ring *g, struct fsc_fabric *f, int rank, int size,
                       size_t count, size_t esize, enum fsc_dtype dt, enum fsc_redop op,
                       size_t seg_bytes, int tag, unsigned flags)
{
	size_t maxchunk = size > 0 ? (count + (size_t)size - 1) / (size_t)size : count;
	int ntmp = !(flags & FSC_RING_REDUCE) ? 0 : (flags & FSC_RING_NO_ACC) ? 2 : 1;

	memset(g, 0, sizeof(*g));
	g->fab = f;
	g->rank = rank;
	g->size = size;
	g->left = mod(rank - 1, size);
	g->right = mod(rank + 1, size);
	g->count = count;
	g->esize = esize;
	g->dt = dt;
	g->op = op;
	g->tag = tag;
	g->seg = seg_bytes ? seg_bytes / esize : maxchunk;
	if (g->seg < 1)
		g->seg = 1;
	g->maxseg = (maxchunk + g->seg - 1) / g->seg;
	for (int i = 0; i < ntmp; i++) {
		g->tmp[i] = fsc_fabric_buf_alloc(f, maxchunk * esize);
		if (!g->tmp[i])
			return -ENOMEM;
	}
	for (int i = 0; ntmp && fsc_fabric_mem_kind(f) != FSC_MEM_HOST && i < 2; i++) {
		g->host[i] = fsc_fabric_buf_alloc(0, g->seg * esize);
		if (!g->host[i])
			return -ENOMEM;
	}
	g->rreq = calloc(g->maxseg ? g->maxseg : 1, sizeof(*g->rreq));
	g->sreq[0] = calloc(g->maxseg ? g->maxseg : 1, sizeof(*g->sreq[0]));
	g->sreq[1] = calloc(g->maxseg ? g->maxseg : 1, sizeof(*g->sreq[1]));
	if (!g->rreq || !g->sreq[0] || !g->sreq[1]) {
		fsc_error("collective: cannot allocate %zu request slots", 3 * g->maxseg);
		return -ENOMEM;
	}
	return 0;
}

void fsc_coll_ring_fini(struct fsc_coll_ring *g)
{
	if (!g)
		return;
	fsc_fabric_buf_free(g->fab, g->tmp[0]);
	fsc_fabric_buf_free(g->fab, g->tmp[1]);
	fsc_fabric_buf_free(0, g->host[0]);
	fsc_fabric_buf_free(0, g->host[1]);
	free(g->rreq);
	free(g->sreq[0]);
	free(g->sreq[1]);
	memset(g, 0, sizeof(*g));
}

/* Post the sends of step t: `len` elements from `data`, in segments. */
static int ring_post_sends(struct fsc_coll_ring *g, int t, size_t len, const unsigned char *data)
{
	struct fsc_req *rq = g->sreq[t & 1];
	size_t k = 0;
	int rc = 0;

	for (size_t e = 0; e < len && !rc; e += g->seg, k++) {
		size_t m = len - e < g->seg ? len - e : g->seg;

		rc = fsc_fabric_isend(g->fab, g->right, data + e * g->esize, m * g->esize, g->tag,
		                      &rq[k]);
	}
	g->nsend[t & 1] = k;
	if (rc) /* a post failed: withdraw the ones before it */
		fsc_fabric_cancel_all(g->fab, rq, k);
	return rc;
}

/* Steps t0..t1-1 of the schedule in coll.h.
 *
 * src/acc/own: as for fsc_coll_ring_reduce_scatter (reduce-scatter steps);
 * buf: the all-gather destination (all-gather steps); first: the data of
 * the chunk sent in step t0, or NULL when the caller has posted those
 * sends.
 *
 * Per step: post the receives of all its segments, then for each segment in
 * order wait, reduce (reduce-scatter steps) and post it as a send of the
 * next step; finally wait for this step's own sends, which frees their
 * buffers before anything can be received into them (a later step's
 * receive, or the staging buffer two steps on).  Sends of step t+1 are
 * posted during step t, so sends of two steps are in flight: sreq[t & 1]. */
static int ring_steps(struct fsc_coll_ring *g, int t0, int t1, const unsigned char *src,
                      unsigned char *acc, unsigned char *own, unsigned char *buf,
                      const unsigned char *first)
{
	const size_t es = g->esize, seg = g->seg;
	const int n = g->size, r = g->rank;
	int rc = 0;

	if (first)
		rc = ring_post_sends(g, t0, fsc_coll_chunk_len(g->count, n, mod(r - t0 - 1, n)),
		                     first);
	for (int t = t0; t < t1 && !rc; t++) {
		int ci = mod(r - t - 2, n), rs = t < n - 1;
		size_t off = fsc_coll_chunk_off(g->count, n, ci);
		size_t len = fsc_coll_chunk_len(g->count, n, ci);
		/* staging: alternate between two buffers only when partial
		 * results live there (FSC_RING_NO_ACC) */
		unsigned char *stage = g->tmp[1] ? g->tmp[t & 1] : g->tmp[0];
		unsigned char *rdst = rs ? stage : buf + off * es;
		const unsigned char *in = rs ? src + off * es : 0;
		unsigned char *dst = rdst;
		size_t nseg = 0, nnext = 0; /* receives, next step's sends posted */

		if (rs)
			dst = t == n - 2 ? own : acc ? acc + off * es : rdst;
		for (size_t e = 0; e < len && !rc; e += seg, nseg++) {
			size_t m = len - e < seg ? len - e : seg;

			rc = fsc_fabric_irecv(g->fab, g->left, rdst + e * es, m * es, g->tag,
			                      &g->rreq[nseg]);
		}
		if (t + 1 < t1)
			g->nsend[(t + 1) & 1] = nseg;
		for (size_t e = 0, k = 0; e < len && !rc; e += seg, k++) {
			size_t m = len - e < seg ? len - e : seg;
			unsigned char *d = dst + e * es;

			rc = fsc_fabric_wait(g->fab, &g->rreq[k], 1);
			if (rc)
				break;
			/* partial result stays in staging (d == b), in place
			 * (d == a), or out of place: one pass, no copy of the
			 * input */
			if (rs)
				rc = fsc_coll_reduce(g->fab, d, in + e * es, rdst + e * es, m,
				                     g->dt, g->op, g->host[0], g->host[1]);
			if (rc)
				break;
			if (t + 1 < t1) {
				rc = fsc_fabric_isend(g->fab, g->right, d, m * es, g->tag,
				                      &g->sreq[(t + 1) & 1][k]);
				nnext++;
			}
		}
		if (!rc)
			rc = fsc_fabric_wait(g->fab, g->sreq[t & 1], g->nsend[t & 1]);
		if (rc) { /* nothing posted here may outlive this call */
			fsc_fabric_cancel_all(g->fab, g->rreq, nseg);
			fsc_fabric_cancel_all(g->fab, g->sreq[t & 1], g->nsend[t & 1]);
			fsc_fabric_cancel_all(g->fab, g->sreq[(t + 1) & 1], nnext);
		}
	}
	return rc;
}

int fsc_coll_ring_reduce_scatter(struct fsc_coll_ring *g, const void *src, void *acc, void *own)
{
	const unsigned char *s = src;
	int n = g->size, r = g->rank;

	if (n == 1)
		return own != src ? fsc_fabric_buf_copy(g->fab, own, src, g->count * g->esize) : 0;
	return ring_steps(g, 0, n - 1, s, acc, own, 0,
	                  s + fsc_coll_chunk_off(g->count, n, mod(r - 1, n)) * g->esize);
}

int fsc_coll_ring_allgather(struct fsc_coll_ring *g, void *buf, const void *own)
{
	unsigned char *b = buf;
	size_t off = fsc_coll_chunk_off(g->count, g->size, g->rank) * g->esize;
	size_t len = fsc_coll_chunk_len(g->count, g->size, g->rank) * g->esize;
	int n = g->size, rc;

	if (n == 1)
		return own != b + off ? fsc_fabric_buf_copy(g->fab, b + off, own, len) : 0;
	/* The first sends go out from `own` itself; the local copy into buf
	 * happens while they are in flight (and before any step could
	 * receive into that chunk: rank r never receives chunk r). */
	if (own == b + off)
		return ring_steps(g, n - 1, 2 * n - 2, 0, 0, 0, b, own);
	rc = ring_post_sends(g, n - 1, len / g->esize, own);
	if (rc)
		return rc;
	rc = fsc_fabric_buf_copy(g->fab, b + off, own, len);
	if (rc) {
		fsc_fabric_cancel_all(g->fab, g->sreq[(n - 1) & 1], g->nsend[(n - 1) & 1]);
		return rc;
	}
	return ring_steps(g, n - 1, 2 * n - 2, 0, 0, 0, b, 0);
}

int fsc_coll_ring_allreduce(struct fsc_coll_ring *g, const void *sbuf, void *rbuf)
{
	const unsigned char *s = sbuf;
	unsigned char *b = rbuf;
	int n = g->size, r = g->rank;

	if (n == 1)
		return sbuf != rbuf ? fsc_fabric_buf_copy(g->fab, rbuf, sbuf, g->count * g->esize)
		                    : 0;
	return ring_steps(g, 0, 2 * n - 2, s, b, b + fsc_coll_chunk_off(g->count, n, r) * g->esize,
	                  b, s + fsc_coll_chunk_off(g->count, n, mod(r - 1, n)) * g->esize);
}

/* ---- pattern helpers --------------------------------------------------- */

struct coll_settings {
	uint64_t seg;
};

/* --coll-seg is read by every collective in patterns/; option names are
 * global, so it is declared once, here (the allreduce pattern lists it). */
const struct fsc_opt fsc_coll_opts[] = {
        {"coll-seg", 0, FSC_OPT_SIZE, "256K",
         "pipeline segment of the ring collectives (allreduce, reducescatter, allgather) and "
         "the broadcast chain; 0 = whole chunks",
         0, 0, 1073741824.0, FSC_AT_SIZE(struct coll_settings, seg)},
        {0, 0, 0, 0, 0, 0, 0, 0},
};

size_t fsc_coll_seg_bytes(const struct fsc_config *cfg)
{
	struct coll_settings s = {0};

	fsc_config_fill(cfg, fsc_coll_opts, &s, 0, 0);
	return (size_t)s.seg;
}

int fsc_coll_impl(const struct fsc_pctx *c, const char *const *impls)
{
	for (int i = 0; c->impl && impls[i]; i++)
		if (!strcmp(c->impl, impls[i]))
			return i;
	return -1;
}

int fsc_coll_check_typed(const struct fsc_pctx *c, char *err, size_t len)
{
	size_t es = fsc_dtype_size(c->dtype);
	struct fsc_run_settings rs;
	enum fsc_check_mode check = fsc_pctx_run(c, &rs)->check;
	int max;

	if (!es || (unsigned)c->op >= FSC_REDOP_COUNT) {
		snprintf(err, len, "invalid element type %d or reduction %d", (int)c->dtype,
		         (int)c->op);
		return -EINVAL;
	}
	if (c->bytes < es) {
		snprintf(err, len, "size %zu B is smaller than one %s element (%zu B)", c->bytes,
		         fsc_dtype_name(c->dtype), es);
		return -ENOTSUP;
	}
	max = fsc_data_max_ranks(c->dtype, c->op);
	if (c->size > max && check != FSC_CHECK_OFF) {
		snprintf(err, len,
		         "%s %s over %d ranks cannot be verified exactly (at most %d ranks; "
		         "--check off runs it unverified)",
		         fsc_dtype_name(c->dtype), fsc_redop_name(c->op), c->size, max);
		return -ENOTSUP;
	}
	return 0;
}

int fsc_coll_check_native(const struct fsc_pctx *c, const char *what, char *err, size_t len)
{
	const struct fsc_fabric_ops *ops = c->fab ? c->fab->ops : 0;

	if (ops && (!(ops->caps & FSC_CAP_NATIVE_COLL) || !ops->coll)) {
		snprintf(err, len, "fabric %s has no native %s", ops->name, what);
		return -ENOTSUP;
	}
	return 0;
}
