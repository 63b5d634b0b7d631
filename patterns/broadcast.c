/* broadcast: the root's buffer onto every rank.
 *
 * Size: a point's `bytes` is the buffer every rank holds (nccl-tests'
 * "size"); the data is untyped.  One buffer per rank, as MPI_Bcast (no
 * --inplace variants).  The root is --bcast-root (default 0).
 *
 * Implementations:
 *  - chain (the default): ranks root, root+1, ..., root+n-1 in a line,
 *    the buffer cut into --coll-seg segments, each rank forwarding a
 *    segment as soon as it has it.  With K segments of s bytes over links
 *    of latency L and bandwidth W the last rank is done after
 *    (n-2+K)*s/W + (n-1)*L: for large buffers every link carries the
 *    buffer once, in parallel with the others, so algbw approaches W -- the
 *    algorithm for which nccl-tests' busbw factor of 1 compares with the
 *    link bandwidth (NCCL broadcasts along its rings the same way).  It is
 *    the ring's all-gather machinery minus one link;
 *  - tree: a binomial tree (MPICH's short-message broadcast, Thakur et
 *    al., IJHPCA 2005, sec. 4.1): ceil(log2 n) rounds of the whole buffer,
 *    latency-optimal for small buffers, where the chain pays n-1 latencies;
 *  - native: the fabric's collective (MPI_Bcast on mpi).
 *
 * Verification: the root's buffer is the byte stream fsc_bytes_fill(seed,
 * root, -1, iter); every rank (the root too) checks its buffer.
 *
 * Bandwidth (nccl-tests, doc/PERFORMANCE.md, "Broadcast"):
 *   algbw = bytes / t; busbw = algbw (factor 1).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "coll.h"
#include "reduce.h"

#define BC_CHAIN_TAG 61
#define BC_TREE_TAG 62
#define BC_ALL -1      /* the "destination rank" of the verification stream */
#define BC_TREE_MAX 64 /* children of one rank in a binomial tree: log2(n) */

enum { BC_CHAIN, BC_TREE, BC_NATIVE };
static const char *const bc_impls[] = {"chain", "tree", "native", 0};

struct bc_settings {
	int64_t root;
};

static const struct fsc_opt bc_opts[] = {
        {"bcast-root", 0, FSC_OPT_INT, "0", "root rank of broadcast", 0, 0, 1e9,
         FSC_AT_INT(struct bc_settings, root)},
        {0, 0, 0, 0, 0, 0, 0, 0},
};

struct bc_state {
	int impl, root;
	size_t seg, nseg;
	unsigned char *buf;
	unsigned char *hbuf;         /* host image (fsc_fabric_host_alloc) */
	struct fsc_req *rreq, *sreq; /* chain: [nseg] each */
	struct fsc_req treq[BC_TREE_MAX];
};

static int bc_root(const struct fsc_pctx *c)
{
	struct bc_settings s = {0};

	fsc_config_fill(c->cfg, bc_opts, &s, 0, 0);
	return (int)s.root;
}

static int bc_check_args(const struct fsc_pctx *c, char *err, size_t len)
{
	int root = bc_root(c);

	if (root < 0 || root >= c->size) {
		snprintf(err, len, "--bcast-root %d is not a rank of this %d-rank run", root,
		         c->size);
		return -EINVAL;
	}
	if (fsc_coll_impl(c, bc_impls) == BC_NATIVE)
		return fsc_coll_check_native(c, "broadcast", err, len);
	return 0;
}

static int bc_setup(struct fsc_pctx *c, void **state)
{
	struct bc_state *s = calloc(1, sizeof(*s));
	size_t seg = fsc_coll_seg_bytes(c->cfg);

	*state = s;
	if (!s)
		return -ENOMEM;
	s->impl = fsc_coll_impl(c, bc_impls);
	s->root = bc_root(c);
	s->buf = fsc_fabric_buf_alloc(c->fab, c->bytes);
	if (!s->buf)
		return -ENOMEM;
	s->hbuf = fsc_fabric_host_alloc(c->fab, s->buf, c->bytes);
	if (!s->hbuf)
		return -ENOMEM;
	switch (s->impl) {
	case BC_CHAIN:
		s->seg = seg && seg < c->bytes ? seg : c->bytes ? c->bytes : 1;
		s->nseg = (c->bytes + s->seg - 1) / s->seg;
		s->rreq = calloc(s->nseg ? s->nseg : 1, sizeof(*s->rreq));
		s->sreq = calloc(s->nseg ? s->nseg : 1, sizeof(*s->sreq));
		return s->rreq && s->sreq ? 0 : -ENOMEM;
	case BC_TREE: return 0;
	case BC_NATIVE:
		/* an empty call asks the fabric (every rank alike) */
		return fsc_fabric_coll_bcast(c->fab, s->buf, 0, s->root);
	}
	return -EINVAL;
}

static int bc_fill(struct fsc_pctx *c, void *state, uint64_t iter)
{
	struct bc_state *s = state;

	if (c->rank != s->root)
		return fsc_fabric_buf_set(c->fab, s->buf, 0, c->bytes);
	fsc_bytes_fill(s->hbuf, c->bytes, c->seed, s->root, BC_ALL, iter);
	return fsc_fabric_from_host(c->fab, s->buf, s->hbuf, c->bytes);
}

static int chain_run(struct fsc_pctx *c, struct bc_state *s)
{
	int n = c->size, pos = (c->rank - s->root + n) % n, rc = 0;
	int prev = (c->rank - 1 + n) % n, next = (c->rank + 1) % n;
	size_t k, nrecv = 0, nsent = 0;

	if (n == 1)
		return 0;
	for (k = 0; pos && k < s->nseg && !rc; k++) {
		size_t e = k * s->seg, m = c->bytes - e < s->seg ? c->bytes - e : s->seg;

		rc = fsc_fabric_irecv(c->fab, prev, s->buf + e, m, BC_CHAIN_TAG, &s->rreq[nrecv++]);
	}
	for (k = 0; k < s->nseg && !rc; k++) {
		size_t e = k * s->seg, m = c->bytes - e < s->seg ? c->bytes - e : s->seg;

		if (pos)
			rc = fsc_fabric_wait(c->fab, &s->rreq[k], 1);
		if (!rc && pos < n - 1)
			rc = fsc_fabric_isend(c->fab, next, s->buf + e, m, BC_CHAIN_TAG,
			                      &s->sreq[nsent++]);
	}
	if (!rc)
		rc = fsc_fabric_wait(c->fab, s->sreq, nsent);
	if (rc) { /* nothing posted here may outlive this call */
		fsc_fabric_cancel_all(c->fab, s->rreq, nrecv);
		fsc_fabric_cancel_all(c->fab, s->sreq, nsent);
	}
	return rc;
}

static int tree_run(struct fsc_pctx *c, struct bc_state *s)
{
	int n = c->size, vr = (c->rank - s->root + n) % n, mask = 1, rc;
	size_t nsent = 0;

	/* receive from the rank that differs in vr's lowest set bit */
	for (; mask < n; mask <<= 1)
		if (vr & mask) {
			rc = fsc_fabric_recv(c->fab, (vr - mask + s->root) % n, s->buf, c->bytes,
			                     BC_TREE_TAG);
			if (rc)
				return rc;
			break;
		}
	/* then send to vr + each lower bit, farthest first */
	for (mask >>= 1; mask > 0; mask >>= 1)
		if (vr + mask < n) {
			rc = fsc_fabric_isend(c->fab, (vr + mask + s->root) % n, s->buf, c->bytes,
			                      BC_TREE_TAG, &s->treq[nsent++]);
			if (rc) {
				fsc_fabric_cancel_all(c->fab, s->treq, nsent);
				return rc;
			}
		}
	return fsc_fabric_wait(c->fab, s->treq, nsent);
}

static int bc_run(struct fsc_pctx *c, void *state, uint64_t iter)
{
	struct bc_state *s = state;

	(void)iter;
	switch (s->impl) {
	case BC_CHAIN: return chain_run(c, s);
	case BC_TREE: return tree_run(c, s);
	case BC_NATIVE: return fsc_fabric_coll_bcast(c->fab, s->buf, c->bytes, s->root);
	}
	return -EINVAL;
}

static int bc_check(struct fsc_pctx *c, void *state, uint64_t iter, uint64_t *wrong)
{
	struct bc_state *s = state;
	int rc = fsc_fabric_to_host(c->fab, s->hbuf, s->buf, c->bytes);

	if (rc)
		return rc;
	*wrong = fsc_bytes_check(s->hbuf, c->bytes, c->seed, s->root, BC_ALL, iter);
	return 0;
}

static void bc_teardown(struct fsc_pctx *c, void *state)
{
	struct bc_state *s = state;

	if (!s)
		return;
	fsc_fabric_host_free(c->fab, s->buf, s->hbuf);
	fsc_fabric_buf_free(c->fab, s->buf);
	free(s->rreq);
	free(s->sreq);
	free(s);
}

/* One buffer of `bytes` on every rank. */
static double bc_buf_bytes(const struct fsc_pctx *c)
{
	return (double)c->bytes;
}

const struct fsc_pattern_ops fsc_pattern_broadcast = {
        .name = "broadcast",
        .desc = "the root's buffer onto every rank: pipelined chain, binomial tree, native",
        .caps = FSC_CAP_SEND_RECV,
        .min_ranks = 1,
        .impls = bc_impls,
        .opts = bc_opts,
        .bw_formula = "algbw = bytes/t_mean; busbw = algbw (nccl-tests doc/PERFORMANCE.md, "
                      "Broadcast)",
        .check_args = bc_check_args,
        .setup = bc_setup,
        .buf_bytes = bc_buf_bytes,
        .fill = bc_fill,
        .run = bc_run,
        .check = bc_check,
        .teardown = bc_teardown,
};
