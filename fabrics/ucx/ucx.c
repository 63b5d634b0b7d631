/* UCX fabric: UCP tagged messages over whatever transports UCX selects.
 *
 * One UCP context and one worker per fabric, one endpoint per rank (itself
 * included) created from worker addresses exchanged through the bootstrap.
 * Transfers use the non-blocking *_nbx calls; requests are UCX-allocated
 * handles kept in struct fsc_req's opaque words and polled (no callbacks, so
 * UCX never writes into a struct fsc_req behind the caller's back).  The
 * fabric also keeps every outstanding handle in a slot table of its own, so
 * that destroy() can withdraw receives a failed caller left behind before
 * anything could write into buffers that caller may already have freed.
 *
 * Matching: the UCP tag carries the sender's rank in bits 32..62 and the
 * caller's tag in bits 0..31; receives use a full mask, so they match one
 * (sender, tag) pair, and UCP's tag matching keeps posting order between a
 * pair of workers.  Bit 63 marks fabscope's own wire-up messages so they can
 * never match a caller's receive.
 *
 * Cancel (fabric.h, "Request lifetime"): ucp_request_cancel, then the worker
 * is progressed until the request is complete, for UCX_CANCEL_WAIT_NS at
 * most.  Cancelled: the peer is poisoned (new operations with it fail; its
 * late messages stay in UCX's unexpected queue, never in a caller's
 * buffer).  Completed meanwhile: nothing more to do.  Still in progress (a
 * rendezvous transfer UCX will not stop): the handle stays in the slot table
 * (destroy() withdraws it), the peer is poisoned and cancel answers -EBUSY,
 * on which the wrapper abandons the fabric and keeps its buffers.
 *
 * Transfer buffers (buf_alloc) are memory UCX allocates and maps
 * (ucp_mem_map with UCP_MEM_MAP_ALLOCATE), as ucx_perftest's are: see
 * struct ucx_buf.
 *
 * One-sided transfers (fabric.h, "One-sided transfers"): a window is
 * ucp_mem_map'ed (a transfer buffer's own mapping when it lies in one), its
 * rkey packed and allgathered with its address through the bootstrap, and
 * unpacked on every peer's endpoint.  put and get are
 * ucp_put_nbx / ucp_get_nbx, polled like the tagged requests.  A notified
 * put is a chain in one request: ucp_put_nbx (its handle released at once:
 * the flush covers it), ucp_ep_flush_nbx (remote completion of this and
 * every earlier put on the endpoint), then a zero-byte tagged send with the
 * caller's tag, which the target receives as an ordinary message.  UCX
 * cannot stop an RMA operation in flight: cancel waits UCX_CANCEL_WAIT_NS
 * for it to finish, else answers -EBUSY (the wrapper abandons the fabric).
 *
 * Configuration comes from UCX itself: ucp_config_read() reads UCX_TLS,
 * UCX_NET_DEVICES and every other UCX_* variable, and describe() records
 * which of them were set and which transports each endpoint really uses.
 */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ucp/api/ucp.h>

#include "fabric.h"
#include "log.h"

#define UCX_TAG_INTERNAL (1ull << 63)
#define UCX_TAG_FULL_MASK UINT64_MAX
#define UCX_WIREUP_TAG 1u

/* Bound on how long destroy() waits for endpoints to flush before it closes
 * them forcibly: a peer that is gone must not hang the tear-down. */
#define UCX_CLOSE_TIMEOUT_NS (2ull * 1000000000ull)

#define UCX_SLOTS_INITIAL 256

/* How long cancel progresses the worker for a cancelled request to
 * complete: an unmatched receive is withdrawn locally at once. */
#define UCX_CANCEL_WAIT_NS (100ull * 1000000ull)

/* Where the request state lives in struct fsc_req's opaque words. */
enum ucx_req_word {
	RQ_HANDLE = 0, /* UCX request handle; 0 once released */
	RQ_STATE = 1,  /* enum ucx_req_state */
	RQ_RC = 2,     /* negative errno once RQ_FAILED */
	RQ_SLOT = 3,   /* index in struct ucx's slot table while pending */
	RQ_FLUSH = 4,  /* 1: a notified put whose handle is its endpoint flush */
};

enum ucx_req_state {
	RQ_PENDING = 0,
	RQ_DONE = 1,
	RQ_FAILED = 2,
};

/* A transfer buffer that UCX allocated and mapped (ucp_mem_map with
 * UCP_MEM_MAP_ALLOCATE), as ucx_perftest allocates its buffers.  UCX takes
 * the memory from the first source in UCX_MEM_ALLOC_METHOD that works: by
 * default a shared-memory domain (sysv, then posix), whose key lets a peer
 * on the same host map the memory, so that a put or get into a window in it
 * is a copy (UCX's "rma" lanes over sysv/posix).  Heap memory mapped with
 * ucp_mem_map has only a cma registration, and cma serves rendezvous, not
 * put/get: UCX 1.13 then emulates every put and get in software, as active
 * messages of at most 8 KiB that the target's progress copies and
 * acknowledges (measured: 4 MiB puts at 0.3-0.4 GB/s against 2 GB/s for
 * tagged sends of the same size).  Without shared memory (UCX_TLS=tcp) UCX
 * falls back to ordinary pages and nothing changes. */
struct ucx_buf {
	void *buf;      /* what the caller got: UCX_BUF_ALIGN-aligned */
	size_t bytes;   /* what the caller asked for */
	ucp_mem_h memh; /* maps the allocation and owns its memory */
};

/* fabric.h's alignment of transfer buffers. */
#define UCX_BUF_ALIGN 64

struct ucx_peer {
	ucp_ep_h ep;     /* NULL until connect() */
	size_t rndv_min; /* smallest message sent by rendezvous */
	int flushable;   /* ucp_ep_flush needs no software progress remotely */
	int dirty;       /* on the dirty list */
};

struct ucx {
	ucp_context_h ctx;
	ucp_worker_h worker;
	struct ucx_peer *peers; /* [npeers] */
	int npeers;
	int *dirty_list; /* peers to flush before going idle, [ndirty] */
	int ndirty;
	/* Outstanding UCX requests: slots[i] is a handle or NULL; free[]
	 * is a stack of unused indices.  O(1) both ways, and it never reads
	 * a caller's struct fsc_req, which may be gone by destroy(). */
	void **slots;
	int *free;
	int nslots, nfree;
	unsigned char *poisoned; /* [npeers]: an operation with that rank was cancelled */
	struct ucx_buf *bufs;    /* transfer buffers allocated by UCX, [nbufs] */
	int nbufs, capbufs;
};

static uint64_t ucx_tag(int sender, int tag)
{
	return ((uint64_t)(uint32_t)sender << 32) | (uint32_t)tag;
}

/* Remember an outstanding handle; its slot index goes into the request. */
static int slot_take(struct ucx *u, void *h, struct fsc_req *req)
{
	if (!u->nfree) {
		int n = u->nslots ? 2 * u->nslots : UCX_SLOTS_INITIAL;
		void **slots = realloc(u->slots, (size_t)n * sizeof(*slots));
		int *fr;

		if (!slots)
			return -ENOMEM;
		u->slots = slots;
		fr = realloc(u->free, (size_t)n * sizeof(*fr));
		if (!fr)
			return -ENOMEM;
		u->free = fr;
		/* Pushed in reverse so low indices are handed out first. */
		for (int i = n - 1; i >= u->nslots; i--) {
			u->slots[i] = NULL;
			u->free[u->nfree++] = i;
		}
		u->nslots = n;
	}
	req->opaque[RQ_SLOT] = (uint64_t)u->free[--u->nfree];
	u->slots[req->opaque[RQ_SLOT]] = h;
	req->opaque[RQ_HANDLE] = (uint64_t)(uintptr_t)h;
	return 0;
}

static void slot_give(struct ucx *u, struct fsc_req *req)
{
	int i = (int)req->opaque[RQ_SLOT];

	u->slots[i] = NULL;
	u->free[u->nfree++] = i;
}

/* Withdraw every outstanding request (error paths): pending receives leave
 * the expected queue, so no later progress writes into their buffers. */
static int cancel_outstanding(struct ucx *u)
{
	int n = 0;

	for (int i = 0; i < u->nslots; i++) {
		if (!u->slots[i])
			continue;
		ucp_request_cancel(u->worker, u->slots[i]);
		ucp_request_free(u->slots[i]);
		u->slots[i] = NULL;
		u->free[u->nfree++] = i;
		n++;
	}
	return n;
}

static const char *peer_host(struct fsc_fabric *f, int peer)
{
	if (f->boot && f->boot->hosts && peer >= 0 && peer < f->boot->size)
		return f->boot->hosts[peer];
	return "?";
}

/* Create a context honouring the UCX_* environment.  Used by probe and
 * create; logs nothing (callers decide what the failure means). */
static ucs_status_t ucx_context_open(int nranks, int ppn, ucp_context_h *out)
{
	ucp_params_t params;
	ucp_config_t *config;
	ucs_status_t st;

	st = ucp_config_read(NULL, NULL, &config);
	if (st != UCS_OK)
		return st;
	memset(&params, 0, sizeof(params));
	params.field_mask =
	        UCP_PARAM_FIELD_FEATURES | UCP_PARAM_FIELD_MT_WORKERS_SHARED | UCP_PARAM_FIELD_NAME;
	params.features = UCP_FEATURE_TAG | UCP_FEATURE_RMA;
	params.mt_workers_shared = 0;
	params.name = "fabscope";
	/* Hints only: they tune transport selection for the job's scale. */
	if (nranks > 0) {
		params.field_mask |= UCP_PARAM_FIELD_ESTIMATED_NUM_EPS;
		params.estimated_num_eps = (size_t)nranks;
	}
	if (ppn > 0) {
		params.field_mask |= UCP_PARAM_FIELD_ESTIMATED_NUM_PPN;
		params.estimated_num_ppn = (size_t)ppn;
	}
	st = ucp_init(&params, config, out);
	ucp_config_release(config);
	return st;
}

static int ucx_probe(const struct fsc_config *cfg, char *reason, size_t len)
{
	ucp_context_h ctx;
	ucs_status_t st;

	(void)cfg;
	st = ucx_context_open(0, 0, &ctx);
	if (st != UCS_OK) {
		snprintf(reason, len, "UCX %s: ucp_init failed: %s", ucp_get_version_string(),
		         ucs_status_string(st));
		return -ENODEV;
	}
	ucp_cleanup(ctx);
	return 0;
}

static int ucx_create(struct fsc_fabric *f, const struct fsc_config *cfg)
{
	ucp_worker_params_t wp;
	struct ucx *u;
	ucs_status_t st;

	(void)cfg;
	u = calloc(1, sizeof(*u));
	if (!u) {
		fsc_error("ucx: out of memory");
		return -ENOMEM;
	}
	f->impl = u;
	st = ucx_context_open(f->size, f->boot ? f->boot->local_size : 0, &u->ctx);
	if (st != UCS_OK) {
		u->ctx = NULL;
		fsc_error("ucx: ucp_init failed: %s", ucs_status_string(st));
		return -ENODEV;
	}
	memset(&wp, 0, sizeof(wp));
	wp.field_mask = UCP_WORKER_PARAM_FIELD_THREAD_MODE;
	wp.thread_mode = UCS_THREAD_MODE_SINGLE;
	st = ucp_worker_create(u->ctx, &wp, &u->worker);
	if (st != UCS_OK) {
		u->worker = NULL;
		fsc_error("ucx: ucp_worker_create failed: %s", ucs_status_string(st));
		return -ENODEV;
	}
	u->peers = calloc((size_t)f->size, sizeof(*u->peers));
	u->dirty_list = calloc((size_t)f->size, sizeof(*u->dirty_list));
	u->poisoned = calloc((size_t)f->size, 1);
	if (!u->peers || !u->dirty_list || !u->poisoned) {
		fsc_error("ucx: out of memory");
		return -ENOMEM;
	}
	u->npeers = f->size;
	return 0;
}

/* Close every endpoint.  Normally flush first (delivers what a completed
 * eager send may still hold in a transport buffer, e.g. the tail of a TCP
 * write), forcibly past a deadline.  With `force` (requests were left
 * outstanding: an error path) close without progressing the worker at all,
 * so nothing more is written into memory the caller gave up on. */
static void ucx_close_eps(struct ucx *u, int force)
{
	ucp_request_param_t prm;
	void **reqs;
	uint64_t deadline;
	int left = 0;

	if (!u->peers || !u->worker)
		return;
	reqs = calloc((size_t)u->npeers, sizeof(*reqs));
	memset(&prm, 0, sizeof(prm));
	for (int i = 0; i < u->npeers; i++) {
		ucs_status_ptr_t sp;

		if (!u->peers[i].ep)
			continue;
		prm.op_attr_mask = 0;
		prm.flags = 0;
		if (force || !reqs) { /* no waiting */
			prm.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS;
			prm.flags = UCP_EP_CLOSE_FLAG_FORCE;
		}
		sp = ucp_ep_close_nbx(u->peers[i].ep, &prm);
		u->peers[i].ep = NULL;
		if (sp && !UCS_PTR_IS_ERR(sp)) {
			if (reqs && !force) {
				reqs[i] = sp;
				left++;
			} else {
				ucp_request_free(sp);
			}
		}
	}
	deadline = fsc_time_real_ns() + UCX_CLOSE_TIMEOUT_NS;
	while (left && fsc_time_real_ns() < deadline) {
		ucp_worker_progress(u->worker);
		for (int i = 0; i < u->npeers; i++) {
			if (!reqs[i] || ucp_request_check_status(reqs[i]) == UCS_INPROGRESS)
				continue;
			ucp_request_free(reqs[i]);
			reqs[i] = NULL;
			left--;
		}
	}
	if (left) {
		fsc_warn("ucx: %d endpoint(s) did not flush within %.1f s; closing them anyway",
		         left, UCX_CLOSE_TIMEOUT_NS / 1e9);
		for (int i = 0; i < u->npeers; i++)
			if (reqs[i]) {
				ucp_request_cancel(u->worker, reqs[i]);
				ucp_request_free(reqs[i]);
			}
	}
	free(reqs);
}

static void ucx_destroy(struct fsc_fabric *f)
{
	struct ucx *u = f->impl;
	int left;

	if (!u)
		return;
	left = u->worker ? cancel_outstanding(u) : 0;
	if (left)
		fsc_debug("ucx: %d request(s) still outstanding at destroy were cancelled", left);
	ucx_close_eps(u, left > 0);
	free(u->peers);
	free(u->dirty_list);
	free(u->slots);
	free(u->free);
	free(u->poisoned);
	/* Left by a caller that abandoned the fabric (UCX may still write
	 * them) or forgot them: kept, never unmapped under its feet. */
	if (u->nbufs)
		fsc_debug("ucx: %d transfer buffer(s) still allocated at destroy are kept",
		          u->nbufs);
	free(u->bufs);
	if (u->worker)
		ucp_worker_destroy(u->worker);
	if (u->ctx)
		ucp_cleanup(u->ctx);
	free(u);
	f->impl = NULL;
}

/* Note a completed transfer: a rendezvous-sized one can leave UCX owing
 * its peer a protocol message after the request itself has completed. */
static void note_done(struct ucx *u, int peer, size_t bytes)
{
	struct ucx_peer *p;

	if (peer < 0 || peer >= u->npeers)
		return;
	p = &u->peers[peer];
	if (p->dirty || !p->flushable || bytes < p->rndv_min)
		return;
	p->dirty = 1;
	u->dirty_list[u->ndirty++] = peer;
}

/* Called when this rank has no request outstanding any more, i.e. when it
 * may stop progressing the worker (the runner then waits in the bootstrap,
 * which does not drive UCX).  UCX 1.13 can still owe a peer work at that
 * point: after a rendezvous receive by get (cma) completes, the
 * acknowledgement (ATS) that completes the peer's send can sit in the
 * endpoint's pending queue, and the peer's send then never completes (seen
 * here: bidirectional bandwidth, 64 x 128 KiB, sysv + cma, one run in two
 * stalled).  A worker flush does not see that queue (it flushes interfaces),
 * an endpoint flush does.  Endpoint flushes are used only where they need no
 * software progress from the peer (shared memory, RC/DC: see
 * ep_flush_is_local); over TCP a flush waits for the peer's acknowledgement
 * of emulated RMA and can itself deadlock.  Only endpoints that carried a
 * rendezvous-sized message since the last call are flushed, so small-message
 * latency pays nothing. */
static int quiesce(struct fsc_fabric *f)
{
	struct ucx *u = f->impl;
	ucp_request_param_t prm;
	void *pending[64];
	int npending = 0, rc = 0;
	uint64_t deadline = 0, polls = 0;

	prm.op_attr_mask = 0;
	while (u->ndirty && !rc) {
		int peer = u->dirty_list[--u->ndirty];
		ucs_status_ptr_t sp;

		u->peers[peer].dirty = 0;
		sp = ucp_ep_flush_nbx(u->peers[peer].ep, &prm);
		if (UCS_PTR_IS_ERR(sp)) {
			fsc_error("ucx: flushing the endpoint to rank %d (host %s) failed: %s",
			          peer, peer_host(f, peer), ucs_status_string(UCS_PTR_STATUS(sp)));
			rc = -EIO;
		} else if (sp) {
			pending[npending++] = sp;
		}
		/* Wait in batches when many peers are dirty at once. */
		while (npending && (npending == 64 || !u->ndirty || rc)) {
			ucp_worker_progress(u->worker);
			for (int i = 0; i < npending; i++) {
				ucs_status_t st = ucp_request_check_status(pending[i]);

				if (st == UCS_INPROGRESS)
					continue;
				if (st != UCS_OK && !rc) {
					fsc_error("ucx: endpoint flush failed: %s",
					          ucs_status_string(st));
					rc = -EIO;
				}
				ucp_request_free(pending[i]);
				pending[i--] = pending[--npending];
			}
			if (!npending || ++polls % 256)
				continue;
			if (fsc_watchdog_poll(f->boot)) {
				/* a rank stalled: the job ends, UCX frees these */
				for (int i = 0; i < npending; i++)
					ucp_request_free(pending[i]);
				npending = 0;
				rc = -ECONNABORTED;
			} else if (!deadline) {
				deadline = fsc_time_real_ns() + f->timeout_ns;
			} else if (fsc_time_real_ns() > deadline) {
				fsc_error("ucx: %d endpoint flush(es) did not complete within "
				          "%.1f s",
				          npending, f->timeout_ns / 1e9);
				for (int i = 0; i < npending; i++)
					ucp_request_free(pending[i]); /* UCX frees them later */
				npending = 0;
				rc = -ETIMEDOUT;
			}
		}
	}
	return rc;
}

/* A request that completed as asked (the fast path). */
static inline void req_ok(struct fsc_req *req)
{
	req->opaque[RQ_HANDLE] = 0;
	req->opaque[RQ_STATE] = RQ_DONE;
	req->done = 1;
}

/* Record a finished request, checking status and received size; logs a
 * failure once, here. */
static int req_finish(struct fsc_fabric *f, struct fsc_req *req, ucs_status_t st, size_t recv_bytes)
{
	int rc = 0;

	if (st == UCS_ERR_MESSAGE_TRUNCATED) {
		fsc_error("ucx: message from rank %d (host %s, tag %d) is larger than the %zu B "
		          "receive posted for it (UCX: %s)",
		          req->peer, peer_host(f, req->peer), req->tag, req->bytes,
		          ucs_status_string(st));
		rc = -EIO;
	} else if (st != UCS_OK) {
		fsc_error("ucx: %s of %zu B %s rank %d (host %s, tag %d) failed: %s",
		          fsc_req_what(req), req->bytes, req->is_recv ? "from" : "to", req->peer,
		          peer_host(f, req->peer), req->tag, ucs_status_string(st));
		rc = -EIO;
	} else if (req->is_recv && recv_bytes != req->bytes) {
		fsc_error("ucx: received %zu B from rank %d (host %s, tag %d) where %zu B were "
		          "posted: sizes of a send and its receive must be equal",
		          recv_bytes, req->peer, peer_host(f, req->peer), req->tag, req->bytes);
		rc = -EIO;
	}
	req->opaque[RQ_HANDLE] = 0;
	req->opaque[RQ_STATE] = rc ? RQ_FAILED : RQ_DONE;
	req->opaque[RQ_RC] = (uint64_t)(int64_t)rc;
	if (!rc)
		req->done = 1;
	return rc;
}

/* The endpoint to `peer`, or NULL after logging why there is none. */
static ucp_ep_h peer_ep(struct fsc_fabric *f, int peer, const char *what)
{
	struct ucx *u = f->impl;

	if (__builtin_expect((unsigned)peer < (unsigned)u->npeers && u->peers[peer].ep != NULL, 1))
		return u->peers[peer].ep;
	if (peer < 0 || peer >= u->npeers) {
		fsc_error("ucx: %s rank %d: no such rank (size %d)", what, peer, f->size);
		return NULL;
	}
	fsc_error("ucx: %s rank %d: not connected", what, peer);
	return NULL;
}

/* Post a send with a full 64-bit UCP tag (caller's or internal). */
static int post_send(struct fsc_fabric *f, int peer, const void *buf, size_t bytes, uint64_t utag,
                     struct fsc_req *req)
{
	struct ucx *u = f->impl;
	ucp_ep_h ep = peer_ep(f, peer, "send to");
	ucp_request_param_t prm;
	ucs_status_ptr_t sp;
	int rc;

	if (!ep)
		return -EINVAL;
	req->opaque[RQ_FLUSH] = 0;
	prm.op_attr_mask = 0;
	sp = ucp_tag_send_nbx(ep, buf, bytes, utag, &prm);
	if (sp == NULL) { /* eager, already out: nothing owed */
		req_ok(req);
		return 0;
	}
	req->opaque[RQ_STATE] = RQ_PENDING;
	if (UCS_PTR_IS_ERR(sp)) {
		fsc_error("ucx: posting a send of %zu B to rank %d (host %s, tag %d) failed: %s",
		          bytes, peer, peer_host(f, peer), req->tag,
		          ucs_status_string(UCS_PTR_STATUS(sp)));
		return -EIO;
	}
	rc = slot_take(u, sp, req);
	if (rc) {
		fsc_error("ucx: out of memory tracking requests");
		ucp_request_cancel(u->worker, sp);
		ucp_request_free(sp);
	}
	return rc;
}

static int post_recv(struct fsc_fabric *f, int peer, void *buf, size_t bytes, uint64_t utag,
                     struct fsc_req *req)
{
	struct ucx *u = f->impl;
	ucp_request_param_t prm;
	ucs_status_ptr_t sp;
	ucs_status_t st;
	int rc;

	if (!peer_ep(f, peer, "receive from"))
		return -EINVAL;
	req->opaque[RQ_FLUSH] = 0;
	/* No immediate completion: UCX before 1.16 leaves recv_info unset
	 * when a receive completes inside ucp_tag_recv_nbx (openucx/ucx
	 * issue 9425, fixed by PR 9440), and the received length is needed
	 * to check sizes.  The cost is one pooled request per receive. */
	prm.op_attr_mask = UCP_OP_ATTR_FLAG_NO_IMM_CMPL;
	req->opaque[RQ_STATE] = RQ_PENDING;
	sp = ucp_tag_recv_nbx(u->worker, buf, bytes, utag, UCX_TAG_FULL_MASK, &prm);
	if (sp == NULL) { /* NO_IMM_CMPL rules this out; no length to check */
		req_ok(req);
		return 0;
	}
	if (UCS_PTR_IS_ERR(sp)) {
		st = UCS_PTR_STATUS(sp);
		if (st == UCS_ERR_MESSAGE_TRUNCATED) {
			/* A matching message was already there: report the
			 * mismatch where sizes are checked, at completion. */
			req_finish(f, req, st, 0);
			return 0;
		}
		fsc_error("ucx: posting a receive of %zu B from rank %d (host %s, tag %d) "
		          "failed: %s",
		          bytes, peer, peer_host(f, peer), req->tag, ucs_status_string(st));
		return -EIO;
	}
	rc = slot_take(u, sp, req);
	if (rc) {
		fsc_error("ucx: out of memory tracking requests");
		ucp_request_cancel(u->worker, sp);
		ucp_request_free(sp);
	}
	return rc;
}

/* A peer poisoned by a cancel (see the top of this file): refused. */
static int poisoned_refuse(struct fsc_fabric *f, int peer, const char *what, size_t bytes, int tag)
{
	struct ucx *u = f->impl;

	if (__builtin_expect(
	            !u->poisoned || (unsigned)peer >= (unsigned)u->npeers || !u->poisoned[peer], 1))
		return 0;
	fsc_error("ucx: %s of %zu B (tag %d) %s rank %d (host %s) refused: an earlier operation "
	          "with that rank was cancelled, so matching can no longer be trusted",
	          what, bytes, tag, what[0] == 's' ? "to" : "from", peer, peer_host(f, peer));
	return -EIO;
}

static int ucx_isend(struct fsc_fabric *f, int peer, const void *buf, size_t bytes, int tag,
                     struct fsc_req *req)
{
	int rc = poisoned_refuse(f, peer, "send", bytes, tag);

	return rc ? rc : post_send(f, peer, buf, bytes, ucx_tag(f->rank, tag), req);
}

static int ucx_irecv(struct fsc_fabric *f, int peer, void *buf, size_t bytes, int tag,
                     struct fsc_req *req)
{
	int rc = poisoned_refuse(f, peer, "receive", bytes, tag);

	return rc ? rc : post_recv(f, peer, buf, bytes, ucx_tag(peer, tag), req);
}

/* The received length of a completed receive (0 for a send). */
static size_t req_recv_bytes(struct fsc_req *req, void *h)
{
	ucp_tag_recv_info_t info;

	if (!req->is_recv || req->rma)
		return 0;
	info.length = 0;
	ucp_tag_recv_request_test(h, &info);
	return info.length;
}

static int ucx_test(struct fsc_fabric *f, struct fsc_req *req, int *done)
{
	struct ucx *u = f->impl;
	size_t recv_bytes;
	ucs_status_t st;
	void *h;
	int rc;

	*done = 0;
	switch (req->opaque[RQ_STATE]) {
	case RQ_DONE: *done = 1; return 0;
	case RQ_FAILED: return (int)(int64_t)req->opaque[RQ_RC];
	default: break;
	}
	h = (void *)(uintptr_t)req->opaque[RQ_HANDLE];
	st = ucp_request_check_status(h);
	if (st == UCS_INPROGRESS) {
		ucp_worker_progress(u->worker);
		st = ucp_request_check_status(h);
		if (st == UCS_INPROGRESS)
			return 0;
	}
	recv_bytes = req_recv_bytes(req, h);
	ucp_request_free(h);
	slot_give(u, req);
	if (req->opaque[RQ_FLUSH] && st == UCS_OK) {
		/* a notified put's data is in place: the notification next */
		req->opaque[RQ_FLUSH] = 0;
		rc = post_send(f, req->peer, NULL, 0, ucx_tag(f->rank, req->tag), req);
		if (rc)
			return req_finish(f, req, UCS_ERR_IO_ERROR, 0);
		*done = req->opaque[RQ_STATE] == RQ_DONE;
		return 0;
	}
	if (__builtin_expect(
	            st == UCS_OK && (!req->is_recv || req->rma || recv_bytes == req->bytes), 1)) {
		req_ok(req);
		rc = 0;
	} else {
		rc = req_finish(f, req, st, recv_bytes);
	}
	if (!rc) {
		note_done(u, req->peer, req->bytes);
		if (u->ndirty && u->nfree == u->nslots)
			rc = quiesce(f);
	}
	*done = !rc;
	return rc;
}

static void poison(struct fsc_fabric *f, int peer)
{
	struct ucx *u = f->impl;

	if ((unsigned)peer >= (unsigned)u->npeers || u->poisoned[peer])
		return;
	u->poisoned[peer] = 1;
	fsc_warn("ucx: an operation with rank %d (host %s) was cancelled; new operations with "
	         "it fail",
	         peer, peer_host(f, peer));
}

static int ucx_cancel(struct fsc_fabric *f, struct fsc_req *req)
{
	struct ucx *u = f->impl;
	uint64_t deadline;
	ucs_status_t st;
	void *h;

	if (!u || req->opaque[RQ_STATE] != RQ_PENDING)
		return 0; /* finished (or failed) inside the fabric already */
	h = (void *)(uintptr_t)req->opaque[RQ_HANDLE];
	ucp_request_cancel(u->worker, h);
	deadline = fsc_time_real_ns() + UCX_CANCEL_WAIT_NS;
	while ((st = ucp_request_check_status(h)) == UCS_INPROGRESS &&
	       fsc_time_real_ns() <= deadline)
		ucp_worker_progress(u->worker);
	req->opaque[RQ_HANDLE] = 0;
	req->opaque[RQ_STATE] = RQ_FAILED;
	req->opaque[RQ_RC] = (uint64_t)(int64_t)-ECANCELED;
	if (st == UCS_INPROGRESS) {
		/* The handle stays in its slot: destroy() withdraws it. */
		poison(f, req->peer);
		fsc_error("ucx: UCX would not cancel a %s of %zu B %s rank %d (host %s, tag %d) "
		          "within %.1f s",
		          fsc_req_what(req), req->bytes, req->is_recv ? "from" : "to", req->peer,
		          peer_host(f, req->peer), req->tag, UCX_CANCEL_WAIT_NS / 1e9);
		return -EBUSY;
	}
	ucp_request_free(h);
	slot_give(u, req);
	if (st == UCS_ERR_CANCELED)
		poison(f, req->peer);
	return 0;
}

static int ucx_progress(struct fsc_fabric *f)
{
	struct ucx *u = f->impl;

	ucp_worker_progress(u->worker);
	return 0;
}

/* ---- transfer buffers ---- */

/* fabric.h's buf_alloc: see struct ucx_buf. */
static void *ucx_buf_alloc(struct fsc_fabric *f, size_t bytes)
{
	struct ucx *u = f->impl;
	ucp_mem_map_params_t mp;
	ucp_mem_attr_t attr;
	ucp_mem_h memh;
	ucs_status_t st;
	uintptr_t start;

	if (u->nbufs == u->capbufs) {
		int n = u->capbufs ? 2 * u->capbufs : 16;
		struct ucx_buf *b = realloc(u->bufs, (size_t)n * sizeof(*b));

		if (!b) {
			fsc_error("ucx: rank %d: out of memory tracking transfer buffers", f->rank);
			return NULL;
		}
		u->bufs = b;
		u->capbufs = n;
	}
	memset(&mp, 0, sizeof(mp));
	mp.field_mask = UCP_MEM_MAP_PARAM_FIELD_LENGTH | UCP_MEM_MAP_PARAM_FIELD_FLAGS;
	/* Shared-memory and page sources are page-aligned; the heap source
	 * follows UCX_MEM_ALLOC_ALIGN (16 by default): room to align. */
	mp.length = bytes + UCX_BUF_ALIGN;
	mp.flags = UCP_MEM_MAP_ALLOCATE;
	st = ucp_mem_map(u->ctx, &mp, &memh);
	if (st != UCS_OK) {
		fsc_error("ucx: rank %d: UCX could not allocate a %zu B transfer buffer: %s",
		          f->rank, bytes, ucs_status_string(st));
		return NULL;
	}
	attr.field_mask = UCP_MEM_ATTR_FIELD_ADDRESS;
	st = ucp_mem_query(memh, &attr);
	if (st != UCS_OK) {
		fsc_error("ucx: rank %d: querying a %zu B transfer buffer failed: %s", f->rank,
		          bytes, ucs_status_string(st));
		ucp_mem_unmap(u->ctx, memh);
		return NULL;
	}
	start = ((uintptr_t)attr.address + UCX_BUF_ALIGN - 1) & ~(uintptr_t)(UCX_BUF_ALIGN - 1);
	memset((void *)start, 0, bytes);
	u->bufs[u->nbufs++] = (struct ucx_buf){(void *)start, bytes, memh};
	return (void *)start;
}

static void ucx_buf_free(struct fsc_fabric *f, void *buf)
{
	struct ucx *u = f->impl;

	for (int i = 0; u && i < u->nbufs; i++) {
		if (u->bufs[i].buf != buf)
			continue;
		ucp_mem_unmap(u->ctx, u->bufs[i].memh);
		u->bufs[i] = u->bufs[--u->nbufs];
		return;
	}
	fsc_error("ucx: rank %d: %p is not a transfer buffer of this fabric; not freed", f->rank,
	          buf);
}

/* The mapping of the transfer buffer that holds [buf, buf + bytes), or
 * NULL when none does (memory the caller allocated otherwise). */
static ucp_mem_h buf_memh(struct ucx *u, const void *buf, size_t bytes)
{
	uintptr_t a = (uintptr_t)buf;

	for (int i = 0; i < u->nbufs; i++) {
		uintptr_t b = (uintptr_t)u->bufs[i].buf;

		if (a >= b && a - b <= u->bufs[i].bytes && bytes <= u->bufs[i].bytes - (a - b))
			return u->bufs[i].memh;
	}
	return NULL;
}

/* ---- one-sided transfers ---- */

struct ucx_win {
	ucp_mem_h memh;   /* own mapping; NULL: empty, or a transfer buffer's */
	uint64_t *raddr;  /* [size]: every rank's window address */
	ucp_rkey_h *rkey; /* [size]: unpacked on our endpoint to it; NULL: none */
	int n;
};

static void ucx_win_free(struct fsc_fabric *f, void *win)
{
	struct ucx *u = f->impl;
	struct ucx_win *w = win;

	if (!w)
		return;
	for (int p = 0; w->rkey && p < w->n; p++)
		if (w->rkey[p])
			ucp_rkey_destroy(w->rkey[p]);
	if (w->memh)
		ucp_mem_unmap(u->ctx, w->memh);
	free(w->rkey);
	free(w->raddr);
	free(w);
}

/* Map the window and pack its key (nothing for an empty one).  A window in
 * one of our transfer buffers uses that buffer's mapping, whose key peers
 * on this host can map (struct ucx_buf); other memory is mapped here. */
static int win_map(struct fsc_fabric *f, struct ucx_win *w, void *buf, size_t bytes, void **rkbuf,
                   size_t *rklen)
{
	struct ucx *u = f->impl;
	ucp_mem_map_params_t mp;
	ucp_mem_h memh;
	ucs_status_t st;

	*rkbuf = NULL;
	*rklen = 0;
	if (!bytes)
		return 0;
	memh = buf_memh(u, buf, bytes);
	if (!memh) {
		memset(&mp, 0, sizeof(mp));
		mp.field_mask = UCP_MEM_MAP_PARAM_FIELD_ADDRESS | UCP_MEM_MAP_PARAM_FIELD_LENGTH;
		mp.address = buf;
		mp.length = bytes;
		st = ucp_mem_map(u->ctx, &mp, &w->memh);
		if (st != UCS_OK) {
			w->memh = NULL;
			fsc_error("ucx: rank %d: mapping a %zu B window at %p failed: %s", f->rank,
			          bytes, buf, ucs_status_string(st));
			return -EIO;
		}
		memh = w->memh;
	}
	st = ucp_rkey_pack(u->ctx, memh, rkbuf, rklen);
	if (st != UCS_OK) {
		*rkbuf = NULL;
		fsc_error("ucx: rank %d: packing the key of a %zu B window failed: %s", f->rank,
		          bytes, ucs_status_string(st));
		return -EIO;
	}
	return 0;
}

/* Whether a peer's window is mapped into this process (ucp_rkey_ptr: a
 * shared-memory transport reaches it, so UCX can do a put or get as a
 * copy), or reached otherwise: by a zero-copy transport where one serves
 * the key's memory, else by UCX's software emulation over active messages
 * (with shared memory alone: when the window memory was not allocated by a
 * shared-memory domain, e.g. heap memory).  Logged for diagnosis. */
static void win_note_reach(struct fsc_fabric *f, struct ucx_win *w, int p)
{
	void *ptr = NULL;
	ucs_status_t st = ucp_rkey_ptr(w->rkey[p], w->raddr[p], &ptr);

	fsc_debug("ucx: rank %d: the window of rank %d (host %s) is %s", f->rank, p,
	          peer_host(f, p),
	          st == UCS_OK ? "mapped here (shared memory)" : "not mapped here");
}

/* Collective: every rank's (address, packed key), padded to the longest
 * key, through the bootstrap; then each key unpacked on its endpoint. */
static int ucx_win_create(struct fsc_fabric *f, void *buf, size_t bytes, void **win)
{
	struct ucx *u = f->impl;
	struct ucx_win *w = calloc(1, sizeof(*w));
	uint8_t *mine = NULL, *all = NULL;
	void *rkbuf = NULL;
	size_t rklen = 0, stride = 0;
	int64_t maxlen;
	int rc = 0;

	if (w) {
		w->n = f->size;
		w->raddr = calloc((size_t)f->size, sizeof(*w->raddr));
		w->rkey = calloc((size_t)f->size, sizeof(*w->rkey));
	}
	if (!w || !w->raddr || !w->rkey) {
		fsc_error("ucx: out of memory for a window");
		rc = -ENOMEM;
	}
	if (!rc)
		rc = win_map(f, w, buf, bytes, &rkbuf, &rklen);
	maxlen = (int64_t)rklen;
	rc = fsc_boot_agree(f->boot, rc, NULL);
	if (!rc)
		rc = fsc_boot_allreduce(f->boot, &maxlen, 1, FSC_BOOT_I64, FSC_BOOT_MAX);
	if (!rc) {
		stride = 2 * sizeof(uint64_t) + (size_t)maxlen;
		mine = calloc(1, stride);
		all = calloc((size_t)f->size, stride);
		if (!mine || !all) {
			fsc_error("ucx: out of memory for %d window keys", f->size);
			rc = -ENOMEM;
		} else {
			memcpy(mine, &(uint64_t){(uintptr_t)buf}, sizeof(uint64_t));
			memcpy(mine + sizeof(uint64_t), &(uint64_t){rklen}, sizeof(uint64_t));
			if (rklen)
				memcpy(mine + 2 * sizeof(uint64_t), rkbuf, rklen);
		}
		rc = fsc_boot_agree(f->boot, rc, NULL);
	}
	if (!rc)
		rc = fsc_boot_allgather(f->boot, mine, all, stride);
	for (int p = 0; p < f->size && !rc; p++) {
		const uint8_t *blk = all + (size_t)p * stride;
		uint64_t len;
		ucs_status_t st;

		memcpy(&w->raddr[p], blk, sizeof(uint64_t));
		memcpy(&len, blk + sizeof(uint64_t), sizeof(uint64_t));
		if (p == f->rank || !len)
			continue;
		st = ucp_ep_rkey_unpack(u->peers[p].ep, blk + 2 * sizeof(uint64_t), &w->rkey[p]);
		if (st != UCS_OK) {
			w->rkey[p] = NULL;
			fsc_error("ucx: rank %d: unpacking the window key of rank %d (host %s) "
			          "failed: %s",
			          f->rank, p, peer_host(f, p), ucs_status_string(st));
			rc = -EIO;
		} else {
			win_note_reach(f, w, p);
		}
	}
	if (f->boot)
		rc = fsc_boot_agree(f->boot, rc, NULL);
	if (rkbuf)
		ucp_rkey_buffer_release(rkbuf);
	free(mine);
	free(all);
	if (rc) {
		ucx_win_free(f, w);
		return rc;
	}
	*win = w;
	return 0;
}

/* Track what an *_nbx call returned: done at once, failed, or pending. */
static int rma_track(struct fsc_fabric *f, ucs_status_ptr_t sp, const char *what, int peer,
                     size_t bytes, struct fsc_req *req)
{
	int rc;

	if (sp == NULL) {
		req_ok(req);
		return 0;
	}
	req->opaque[RQ_STATE] = RQ_PENDING;
	if (UCS_PTR_IS_ERR(sp)) {
		fsc_error("ucx: posting a %s of %zu B to rank %d (host %s) failed: %s", what, bytes,
		          peer, peer_host(f, peer), ucs_status_string(UCS_PTR_STATUS(sp)));
		return -EIO;
	}
	rc = slot_take(f->impl, sp, req);
	if (rc) {
		fsc_error("ucx: out of memory tracking requests");
		ucp_request_free(sp); /* released when it completes */
	}
	return rc;
}

static int ucx_put(struct fsc_fabric *f, void *win, int peer, size_t offset, const void *buf,
                   size_t bytes, int tag, struct fsc_req *req)
{
	struct ucx_win *w = win;
	ucp_ep_h ep = peer_ep(f, peer, "put to");
	ucp_request_param_t prm;
	ucs_status_ptr_t sp = NULL;
	int rc = tag >= 0 ? poisoned_refuse(f, peer, "send", 0, tag) : 0;

	if (rc)
		return rc;
	if (!ep)
		return -EINVAL;
	req->opaque[RQ_FLUSH] = 0;
	prm.op_attr_mask = 0;
	if (bytes)
		sp = ucp_put_nbx(ep, buf, bytes, w->raddr[peer] + offset, w->rkey[peer], &prm);
	if (tag < 0)
		return rma_track(f, sp, "put", peer, bytes, req);
	if (UCS_PTR_IS_ERR(sp))
		return rma_track(f, sp, "put", peer, bytes, req);
	if (sp)
		ucp_request_free(sp); /* the flush below covers it */
	sp = ucp_ep_flush_nbx(ep, &prm);
	if (sp == NULL) /* nothing outstanding: notify at once */
		return post_send(f, peer, NULL, 0, ucx_tag(f->rank, tag), req);
	rc = rma_track(f, sp, "flush after a put", peer, bytes, req);
	if (!rc)
		req->opaque[RQ_FLUSH] = 1;
	return rc;
}

static int ucx_get(struct fsc_fabric *f, void *win, int peer, size_t offset, void *buf,
                   size_t bytes, struct fsc_req *req)
{
	struct ucx_win *w = win;
	ucp_ep_h ep = peer_ep(f, peer, "get from");
	ucp_request_param_t prm;
	ucs_status_ptr_t sp = NULL;

	if (!ep)
		return -EINVAL;
	req->opaque[RQ_FLUSH] = 0;
	prm.op_attr_mask = 0;
	if (bytes)
		sp = ucp_get_nbx(ep, buf, bytes, w->raddr[peer] + offset, w->rkey[peer], &prm);
	return rma_track(f, sp, "get", peer, bytes, req);
}

/* What UCX chose for an endpoint, as ucp_ep_print_info writes it, e.g.
 *   #  lane[0]:  3:sysv/memory.0 md[2]  -> md[2]/sysv/sysdev[255] am am_bw#0
 *   #  tag_send: 0..<egr/short>..93..<egr/bcopy>..8256..<rndv>..(inf)
 * UCX 1.13 has no query for an endpoint's transports (ucp_ep_query knows
 * names and socket addresses only), so this text is the only source.  It is
 * a debug format: parsing is defensive, and whatever is not recognised
 * falls back to the cautious choice.  Returns malloc'ed text or NULL. */
static char *ep_info_text(ucp_ep_h ep)
{
	char *text = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&text, &len);

	if (!mem)
		return NULL;
	ucp_ep_print_info(ep, mem);
	if (fclose(mem)) {
		free(text);
		return NULL;
	}
	return text;
}

/* The next lane line at or after *cur: `name` gets "tl/device" (resource
 * index and path index stripped), `usage` what the lane is for ("am am_bw#0",
 * "rma_bw#0 wireup").  Returns 0 when there is none. */
static int lane_next(const char **cur, char *name, size_t nlen, char *usage, size_t ulen)
{
	const char *line, *p, *arrow, *eol;

	while ((line = strstr(*cur, "lane[")) != NULL) {
		size_t n;

		eol = line + strcspn(line, "\n");
		*cur = *eol ? eol + 1 : eol;
		p = memchr(line, ':', (size_t)(eol - line));
		if (!p)
			continue;
		p += 1 + strspn(p + 1, " ");
		/* "3:sysv/memory.0": skip the resource index. */
		n = strcspn(p, " \n");
		if (memchr(p, ':', n))
			p = (const char *)memchr(p, ':', n) + 1;
		n = strcspn(p, " \n");
		if (n == 0 || n >= nlen || !memchr(p, '/', n))
			continue;
		memcpy(name, p, n);
		name[n] = 0;
		/* Strip the path index: the digits after the last '.'. */
		{
			char *dot = strrchr(name, '.');

			if (dot && dot[1] && strspn(dot + 1, "0123456789") == strlen(dot + 1))
				*dot = 0;
		}
		usage[0] = 0;
		arrow = strstr(line, "->");
		if (arrow && arrow < eol) {
			arrow += 2 + strspn(arrow + 2, " ");
			arrow += strcspn(arrow, " \n"); /* md[x]/tl/sysdev[y] */
			arrow += strspn(arrow, " ");
			snprintf(usage, ulen, "%.*s", (int)(eol - arrow), arrow);
		}
		return 1;
	}
	return 0;
}

/* The "tag_send:" protocol line (not tag_send_nbr/tag_send_sync), or NULL;
 * *len gets its length. */
static const char *tag_send_line(const char *text, size_t *len)
{
	const char *p = text;

	while ((p = strstr(p, "tag_send:")) != NULL) {
		if (p > text && p[-1] == ' ') {
			p += strlen("tag_send:");
			p += strspn(p, " ");
			*len = strcspn(p, "\n");
			return p;
		}
		p++;
	}
	return NULL;
}

/* Endpoint flushes that need no software progress from the peer: shared
 * memory and cross-memory attach complete locally, RC/DC by hardware
 * acknowledgement.  TCP and UD acknowledge in the peer's progress. */
static int ep_flush_is_local(const char *tl)
{
	static const char *const local[] = {"self",  "sysv",     "posix",   "cma",     "knem",
	                                    "xpmem", "rc_verbs", "rc_mlx5", "dc_mlx5", NULL};
	size_t n = strcspn(tl, "/");

	for (int i = 0; local[i]; i++)
		if (strlen(local[i]) == n && !strncmp(tl, local[i], n))
			return 1;
	return 0;
}

/* From an endpoint's description: the size where tagged sends switch to
 * rendezvous (0 when unknown: every message counts as rendezvous; SIZE_MAX
 * when the endpoint never uses it) and whether it may be flushed (see
 * quiesce). */
static void ep_analyse(const char *text, size_t *rndv_min, int *flushable)
{
	const char *cur = text, *line, *r;
	char name[128], usage[256];
	size_t len = 0;
	int lanes = 0, local = 1;

	while (lane_next(&cur, name, sizeof(name), usage, sizeof(usage))) {
		lanes++;
		local &= ep_flush_is_local(name);
	}
	*flushable = lanes > 0 && local;
	*rndv_min = 0;
	line = tag_send_line(text, &len);
	if (!line)
		return;
	r = strstr(line, "..<rndv>");
	if (!r || r >= line + len) {
		*rndv_min = SIZE_MAX;
		return;
	}
	while (r > line && isdigit((unsigned char)r[-1]))
		r--;
	if (isdigit((unsigned char)*r))
		*rndv_min = (size_t)strtoull(r, NULL, 10);
}

/* Fill `out` (a JSON object) with the endpoint's transports, lanes and
 * tagged-send protocol thresholds. */
static int describe_ep(ucp_ep_h ep, json_t *out)
{
	char *text = ep_info_text(ep);
	const char *cur = text, *line;
	char name[128], usage[256], transports[512] = "";
	json_t *lanes = json_array();
	size_t len = 0;

	if (!text || !lanes) {
		free(text);
		json_decref(lanes);
		fsc_error("ucx: out of memory describing an endpoint");
		return -ENOMEM;
	}
	while (lane_next(&cur, name, sizeof(name), usage, sizeof(usage))) {
		char lane[400];
		size_t nl = strlen(name), tl = strlen(transports);
		const char *q = transports;
		int seen = 0;

		snprintf(lane, sizeof(lane), "%s%s%s", name, usage[0] ? ": " : "", usage);
		json_array_append_new(lanes, json_string(lane));
		/* Distinct tl/device names, in lane order. */
		while (*q) {
			size_t k = strcspn(q, ",");

			seen |= k == nl && !strncmp(q, name, nl);
			q += k + (q[k] == ',');
		}
		if (!seen && tl + nl + 2 < sizeof(transports))
			snprintf(transports + tl, sizeof(transports) - tl, "%s%s", tl ? "," : "",
			         name);
	}
	json_object_set_new(out, "transports", json_string(transports[0] ? transports : "unknown"));
	json_object_set_new(out, "lanes", lanes);
	line = tag_send_line(text, &len);
	if (line)
		json_object_set_new(out, "tag_send", json_stringn(line, len));
	if (!transports[0])
		json_object_set_new(out, "print_info", json_string(text));
	free(text);
	return 0;
}

/* Exchange worker addresses: lengths first (addresses differ in size with
 * the transports a host has), then blocks padded to the longest. */
static int exchange_addresses(struct fsc_fabric *f, uint8_t **all, size_t *stride)
{
	struct ucx *u = f->impl;
	ucp_address_t *addr;
	size_t len;
	int64_t maxlen;
	uint8_t *mine = NULL;
	ucs_status_t st;
	int rc;

	*all = NULL;
	st = ucp_worker_get_address(u->worker, &addr, &len);
	if (st != UCS_OK) {
		fsc_error("ucx: ucp_worker_get_address failed: %s", ucs_status_string(st));
		return -EIO;
	}
	maxlen = (int64_t)len;
	rc = fsc_boot_allreduce(f->boot, &maxlen, 1, FSC_BOOT_I64, FSC_BOOT_MAX);
	if (rc)
		goto release;
	*stride = sizeof(uint64_t) + (size_t)maxlen;
	mine = calloc(1, *stride);
	*all = calloc((size_t)f->size, *stride);
	if (!mine || !*all) {
		fsc_error("ucx: out of memory for %d worker addresses", f->size);
		rc = -ENOMEM;
		goto release;
	}
	memcpy(mine, &(uint64_t){len}, sizeof(uint64_t));
	memcpy(mine + sizeof(uint64_t), addr, len);
	rc = fsc_boot_allgather(f->boot, mine, *all, *stride);
release:
	free(mine);
	ucp_worker_release_address(u->worker, addr);
	if (rc) {
		free(*all);
		*all = NULL;
	}
	return rc;
}

/* One small message each way with every rank, so transport wire-up
 * (TCP connections, shared-memory segment attach) happens here rather than
 * in the first measured iteration; the payload checks the routing. */
static int wireup_exchange(struct fsc_fabric *f)
{
	struct ucx *u = f->impl;
	int n = f->size;
	struct fsc_req *reqs;
	uint64_t *in, out = (uint64_t)f->rank;
	int rc = 0;

	reqs = calloc((size_t)(2 * n), sizeof(*reqs));
	in = calloc((size_t)n, sizeof(*in));
	if (!reqs || !in) {
		fsc_error("ucx: out of memory");
		rc = -ENOMEM;
		goto out;
	}
	for (int p = 0; p < n && !rc; p++) {
		struct fsc_req *r = &reqs[p];

		r->peer = p;
		r->tag = UCX_WIREUP_TAG;
		r->bytes = sizeof(uint64_t);
		r->is_recv = 1;
		in[p] = UINT64_MAX;
		rc = post_recv(f, p, &in[p], sizeof(uint64_t),
		               UCX_TAG_INTERNAL | ucx_tag(p, UCX_WIREUP_TAG), r);
	}
	for (int i = 0; i < n && !rc; i++) {
		/* Start with the next rank so that not everyone hits rank 0. */
		int p = (f->rank + 1 + i) % n;
		struct fsc_req *r = &reqs[n + p];

		r->peer = p;
		r->tag = UCX_WIREUP_TAG;
		r->bytes = sizeof(uint64_t);
		rc = post_send(f, p, &out, sizeof(uint64_t),
		               UCX_TAG_INTERNAL | ucx_tag(f->rank, UCX_WIREUP_TAG), r);
	}
	if (!rc)
		rc = fsc_fabric_wait(f, reqs, (size_t)(2 * n));
	for (int p = 0; p < n && !rc; p++)
		if (in[p] != (uint64_t)p) {
			fsc_error("ucx: wire-up message from rank %d (host %s) carried %llu", p,
			          peer_host(f, p), (unsigned long long)in[p]);
			rc = -EIO;
		}
out:
	/* Withdraw what is still posted before `in` goes: every request
	 * outstanding at this point belongs to this exchange. */
	if (rc)
		cancel_outstanding(u);
	free(reqs);
	free(in);
	return rc;
}

static int ucx_connect(struct fsc_fabric *f)
{
	struct ucx *u = f->impl;
	uint8_t *all = NULL;
	size_t stride = 0;
	int rc;

	if (!f->boot) {
		fsc_error("ucx: connect needs a bootstrap to exchange worker addresses");
		return -EINVAL;
	}
	rc = exchange_addresses(f, &all, &stride);
	for (int p = 0; p < f->size && !rc; p++) {
		const uint8_t *blk = all + (size_t)p * stride;
		ucp_ep_params_t ep;
		ucs_status_t st;

		memset(&ep, 0, sizeof(ep));
		ep.field_mask = UCP_EP_PARAM_FIELD_REMOTE_ADDRESS;
		ep.address = (const ucp_address_t *)(blk + sizeof(uint64_t));
		st = ucp_ep_create(u->worker, &ep, &u->peers[p].ep);
		if (st != UCS_OK) {
			u->peers[p].ep = NULL;
			fsc_error("ucx: no endpoint to rank %d (host %s): %s", p, peer_host(f, p),
			          ucs_status_string(st));
			rc = -ENODEV;
		}
	}
	free(all);
	/* Agree before wiring up: a rank that failed to create its endpoints
	 * would leave the others waiting for its wire-up messages. */
	rc = fsc_boot_agree(f->boot, rc, NULL);
	if (!rc)
		rc = wireup_exchange(f);
	/* Lanes are settled once wire-up is through. */
	for (int p = 0; p < f->size && !rc; p++) {
		struct ucx_peer *pe = &u->peers[p];
		char *text = ep_info_text(pe->ep);

		pe->rndv_min = 0;
		pe->flushable = 0;
		if (text)
			ep_analyse(text, &pe->rndv_min, &pe->flushable);
		free(text);
		fsc_debug("ucx: rank %d: rendezvous from %zu B, flush before idle: %s", p,
		          pe->rndv_min, pe->flushable ? "yes" : "no");
	}
	return rc;
}

static int ucx_describe(struct fsc_fabric *f, json_t *info)
{
	extern char **environ;
	struct ucx *u = f->impl;
	json_t *env = json_object(), *eps = json_array();
	int rc = 0;

	if (!env || !eps) {
		json_decref(env);
		json_decref(eps);
		fsc_error("ucx: out of memory");
		return -ENOMEM;
	}
	json_object_set_new(info, "ucx_version", json_string(ucp_get_version_string()));
	/* UCX_TLS, UCX_NET_DEVICES and friends: what shaped the selection. */
	for (char **e = environ; e && *e; e++) {
		const char *eq = strchr(*e, '=');
		char key[128];

		if (strncmp(*e, "UCX_", 4) || !eq || (size_t)(eq - *e) >= sizeof(key))
			continue;
		memcpy(key, *e, (size_t)(eq - *e));
		key[eq - *e] = 0;
		json_object_set_new(env, key, json_string(eq + 1));
	}
	json_object_set_new(info, "env", env);
	for (int p = 0; p < u->npeers && !rc; p++) {
		json_t *ep;

		if (!u->peers[p].ep)
			continue;
		ep = json_object();
		if (!ep) {
			rc = -ENOMEM;
			break;
		}
		json_object_set_new(ep, "peer", json_integer(p));
		json_object_set_new(ep, "host", json_string(peer_host(f, p)));
		rc = describe_ep(u->peers[p].ep, ep);
		json_array_append_new(eps, ep);
	}
	json_object_set_new(info, "endpoints", eps);
	return rc;
}

const struct fsc_fabric_ops fsc_fabric_ucx = {
        .name = "ucx",
        .desc = "UCX UCP tagged messages and RMA (transports chosen by UCX; set UCX_TLS, "
                "UCX_NET_DEVICES to steer)",
        .caps = FSC_CAP_SEND_RECV | FSC_CAP_RMA,
        .opts = NULL,
        .probe = ucx_probe,
        .create = ucx_create,
        .destroy = ucx_destroy,
        .connect = ucx_connect,
        .isend = ucx_isend,
        .irecv = ucx_irecv,
        .test = ucx_test,
        .cancel = ucx_cancel,
        .progress = ucx_progress,
        .buf_alloc = ucx_buf_alloc,
        .buf_free = ucx_buf_free,
        .win_create = ucx_win_create,
        .win_free = ucx_win_free,
        .put = ucx_put,
        .get = ucx_get,
        .describe = ucx_describe,
};
