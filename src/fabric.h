/* Fabric interface: a const ops table plus a capability mask.
 *
 * A fabric moves bytes between ranks with non-blocking, tag-matched
 * point-to-point operations.  Messages between one (sender, receiver, tag)
 * triple match in posting order; a receive of N bytes must be matched by a
 * send of exactly N bytes.  Everything in a fabric's source file is static
 * except its one ops table.
 *
 * Callers never test ops entries for NULL: they call the fsc_fabric_*
 * wrappers below, which answer -ENOTSUP for a missing entry.
 */
#ifndef FSC_FABRIC_H
#define FSC_FABRIC_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "boot.h"
#include "clock.h"
#include "options.h"

enum fsc_cap {
	FSC_CAP_SEND_RECV = 1u << 0,   /* isend/irecv/test */
	FSC_CAP_RMA = 1u << 1,         /* win_create/put/get: "One-sided transfers" */
	FSC_CAP_GPU_MEM = 1u << 2,     /* device buffers */
	FSC_CAP_NATIVE_COLL = 1u << 3, /* coll table */
	/* Declared limits of the point-to-point contract below, for callers
	 * (the conformance suite) that must not ask for what the fabric
	 * cannot give.  FSC_CAP_POSTING_ORDER: messages between two ranks
	 * match in posting order only, tags ignored (NCCL): both sides must
	 * post their operations with a peer in the same order.
	 * FSC_CAP_CANCEL_ABORTS: cancel cannot withdraw one operation; it
	 * aborts the whole fabric, so every later operation with any peer
	 * fails (NCCL's ncclCommAbort). */
	FSC_CAP_POSTING_ORDER = 1u << 4,
	FSC_CAP_CANCEL_ABORTS = 1u << 5,
};

/* Element types and reductions for native collectives and patterns. */
enum fsc_dtype { FSC_F32, FSC_F64, FSC_I32, FSC_I64, FSC_BF16, FSC_F16, FSC_DTYPE_COUNT };

/* Memory kinds.  A fabric's transfer buffers (fsc_fabric_buf_alloc) live in
 * host memory, or in device memory (a GPU's) that the host must never
 * dereference.  Callers fill, clear, verify and reduce a transfer buffer only
 * through the fsc_fabric_buf_* / fsc_fabric_*_host calls below, which copy
 * through the fabric (host staging) when the memory is not host memory. */
enum fsc_mem_kind { FSC_MEM_HOST, FSC_MEM_DEVICE, FSC_MEM_KIND_COUNT };
/* Direction of a fabric copy: host to device, device to host, device to
 * device. */
enum fsc_copy_dir { FSC_COPY_H2D, FSC_COPY_D2H, FSC_COPY_D2D };
enum fsc_redop { FSC_SUM, FSC_MAX, FSC_MIN, FSC_REDOP_COUNT };

/* A request: caller-owned storage that must stay put until the operation
 * completes or is cancelled (fsc_fabric_cancel).  The header is filled by the
 * wrappers; `opaque` belongs to the fabric (e.g. an MPI_Request, a UCX
 * request pointer, a queue link).
 *
 * done: 0 while the fabric may still use the request, 1 once it completed,
 * FSC_REQ_WITHDRAWN once the fabric holds nothing of it any more without a
 * completion: it was cancelled, or its isend/irecv failed (never posted).
 * fsc_fabric_test reports a withdrawn request as done with -ECANCELED. */
#define FSC_REQ_WITHDRAWN 2
/* fsc_req.rma: which one-sided transfer a request is (0: isend/irecv). */
enum fsc_req_rma { FSC_REQ_PUT = 1, FSC_REQ_GET = 2 };
struct fsc_req {
	int peer;
	int tag; /* put: the notification tag, -1 for none; get: -1 */
	size_t bytes;
	int is_recv; /* data arrives here: irecv and get */
	int done;
	int rma; /* enum fsc_req_rma, 0 for isend/irecv */
	uint64_t opaque[14];
};

struct fsc_fabric;

/* A second clock beside the runner's, kept by a fabric for the work of each
 * timed sample as the fabric's own hardware sees it (the nccl fabric: CUDA
 * events on its stream).  The runner stays the one timing loop: it places
 * the marks (right after its own clock readings) and turns the intervals
 * into statistics recorded beside time_us, as "<name>_us"; the fabric only
 * says how long its device took between two marks.  All entries required. */
struct fsc_dev_timer_ops {
	const char *name; /* record key stem, e.g. "gpu_time" */
	/* Before a timed phase, outside it: make room for marks 0..n-1. */
	int (*prepare)(struct fsc_fabric *f, uint64_t n);
	/* Mark k, in the order of the fabric's work (cheap; no wait). */
	int (*mark)(struct fsc_fabric *f, uint64_t k);
	/* After the phase: the time from mark a to mark b, in ns, once the
	 * device reached both (waits for them against the fabric's
	 * deadline).  0, or a negative code (logged). */
	int (*elapsed)(struct fsc_fabric *f, uint64_t a, uint64_t b, double *ns);
};

/* Native collectives, blocking, over all ranks of the fabric. */
struct fsc_coll_ops {
	int (*barrier)(struct fsc_fabric *f);
	int (*allreduce)(struct fsc_fabric *f, const void *sbuf, void *rbuf, size_t count,
	                 enum fsc_dtype dt, enum fsc_redop op); /* sbuf == rbuf: in place */
	int (*alltoall)(struct fsc_fabric *f, const void *sbuf, void *rbuf, size_t bytes_per_peer);
	int (*allgather)(struct fsc_fabric *f, const void *sbuf, void *rbuf, size_t bytes_per_rank);
	int (*reduce_scatter)(struct fsc_fabric *f, const void *sbuf, void *rbuf,
	                      size_t count_per_rank, enum fsc_dtype dt, enum fsc_redop op);
	int (*bcast)(struct fsc_fabric *f, void *buf, size_t bytes, int root);
};

struct fsc_fabric_ops {
	const char *name;
	const char *desc;
	unsigned caps;
	const struct fsc_opt *opts; /* this fabric's options (NULL: none) */
	/* Launch.  NULL: the ranks are processes that mpirun/srun started.
	 * Otherwise the fabric runs every rank as a thread of this one
	 * process (a local bootstrap, no launcher), and this names the INT
	 * option of `opts` that says how many ranks: see
	 * fsc_fabric_inprocess_ranks. */
	const char *inprocess_ranks;

	/* Usable here?  0, or negative with a one-line reason in `reason`
	 * ("no RDMA device found", "requires an MPI launch").  Local check,
	 * not collective. */
	int (*probe)(const struct fsc_config *cfg, char *reason, size_t len);

	/* Allocate f->impl from options; not collective, no peers yet. */
	int (*create)(struct fsc_fabric *f, const struct fsc_config *cfg);
	/* Accepts half-built fabrics; keeps going on errors. */
	void (*destroy)(struct fsc_fabric *f);
	/* Collective: exchange addresses through f->boot and connect every
	 * peer. */
	int (*connect)(struct fsc_fabric *f);

	/* Optional registration of buffers used for transfers (verbs). */
	int (*mem_reg)(struct fsc_fabric *f, void *buf, size_t bytes);
	int (*mem_dereg)(struct fsc_fabric *f, void *buf);

	/* Optional allocator of host transfer buffers (f->mem ==
	 * FSC_MEM_HOST), both or neither, for a fabric whose transports
	 * reach memory it allocates better than heap memory (ucx: memory
	 * from a shared-memory domain, which a peer on the same host maps,
	 * so that a put is a copy rather than RMA emulated in software).
	 * buf_alloc: `bytes` (a positive multiple of 64), zeroed, 64-byte
	 * aligned and ready for every transfer, windows included (mem_reg
	 * is not called for it); NULL (logged) on failure.  buf_free gets
	 * only what buf_alloc returned, before destroy(). */
	void *(*buf_alloc)(struct fsc_fabric *f, size_t bytes);
	void (*buf_free)(struct fsc_fabric *f, void *buf);

	/* Device memory (only a fabric whose create() sets f->mem to
	 * FSC_MEM_DEVICE has these; required then).  mem_alloc: zeroed
	 * device memory, NULL (logged) on failure; mem_free accepts NULL.
	 * mem_copy: complete (synchronous) copy of bytes in direction dir;
	 * mem_set: set bytes of device memory to `byte`. */
	void *(*mem_alloc)(struct fsc_fabric *f, size_t bytes);
	void (*mem_free)(struct fsc_fabric *f, void *buf);
	int (*mem_copy)(struct fsc_fabric *f, void *dst, const void *src, size_t bytes,
	                enum fsc_copy_dir dir);
	int (*mem_set)(struct fsc_fabric *f, void *buf, int byte, size_t bytes);

	int (*isend)(struct fsc_fabric *f, int peer, const void *buf, size_t bytes, int tag,
	             struct fsc_req *req);
	int (*irecv)(struct fsc_fabric *f, int peer, void *buf, size_t bytes, int tag,
	             struct fsc_req *req);
	/* Optional blocking send for messages the fabric completes locally
	 * at once (eager: no wait on the peer, so no deadline is needed).
	 * Return -EAGAIN to decline (e.g. above the eager limit): the
	 * caller falls back to isend + wait.  Exists because a fabric's
	 * blocking path can be cheaper than a request (MPI_Send's inline
	 * eager path allocates no request), and ping-pong latency is
	 * measured in those nanoseconds. */
	int (*send)(struct fsc_fabric *f, int peer, const void *buf, size_t bytes, int tag);
	/* Set *done when req completed; must make progress itself. */
	int (*test)(struct fsc_fabric *f, struct fsc_req *req, int *done);
	/* Withdraw a request that test() has not reported complete (it may
	 * have finished or failed inside the fabric meanwhile).  Whatever it
	 * returns, from then on the fabric never reads or writes req's
	 * storage or the operation's buffer: see "Request lifetime" below.
	 * 0 (also when the operation had already finished), or -EBUSY when
	 * the buffer could not be detached in time (the request storage is
	 * released all the same; the wrapper then abandons the fabric). */
	int (*cancel)(struct fsc_fabric *f, struct fsc_req *req);
	/* Drive progress without a particular request (optional). */
	int (*progress)(struct fsc_fabric *f);

	/* One-sided transfers, optional, all four or none (FSC_CAP_RMA):
	 * see "One-sided transfers" below for what the wrappers check before
	 * calling them and what they must guarantee.
	 * win_create: collective; expose [buf, buf+bytes) of this rank to
	 * every peer, exchanging what peers need to reach it (addresses,
	 * keys) through f->boot; *win is the fabric's handle.
	 * win_free: local; called after every rank is done with the window.
	 * put/get: post a transfer into / out of the peer's window at
	 * `offset`; completes through test() like a send.  Return -EAGAIN to
	 * decline for now (queue full): the wrapper progresses and retries
	 * until the deadline. */
	int (*win_create)(struct fsc_fabric *f, void *buf, size_t bytes, void **win);
	void (*win_free)(struct fsc_fabric *f, void *win);
	int (*put)(struct fsc_fabric *f, void *win, int peer, size_t offset, const void *buf,
	           size_t bytes, int tag, struct fsc_req *req);
	int (*get)(struct fsc_fabric *f, void *win, int peer, size_t offset, void *buf,
	           size_t bytes, struct fsc_req *req);

	/* Optional: a clock other than CLOCK_MONOTONIC for measurements
	 * (the loopback fabric's virtual clock). */
	int (*clock)(struct fsc_fabric *f, struct fsc_clock *out);
	/* Optional, collective: called right after the runner's barrier,
	 * before every timed phase (loopback aligns virtual clocks). */
	int (*sync)(struct fsc_fabric *f);
	/* Optional: add what was really used (transports, devices,
	 * interface, versions) to `info` (a JSON object). */
	int (*describe)(struct fsc_fabric *f, json_t *info);

	const struct fsc_coll_ops *coll; /* NULL: no native collectives */
	const struct fsc_dev_timer_ops *dev_timer; /* NULL: none */
};

struct fsc_fabric {
	const struct fsc_fabric_ops *ops;
	struct fsc_boot *boot;
	int rank, size;
	uint64_t timeout_ns; /* per-operation deadline used by fsc_fabric_wait */
	/* Set by fsc_fabric_cancel when the fabric could not withdraw a
	 * request (no cancel entry, or -EBUSY): no more traffic, see below. */
	int abandoned;
	/* Where this fabric's transfer buffers live: FSC_MEM_HOST (the
	 * default) unless create() says otherwise (FSC_CAP_GPU_MEM). */
	enum fsc_mem_kind mem;
	void *impl;
};

/* Create (not connected): f is allocated; options from cfg (may be NULL for
 * defaults).  On failure *out is NULL and the error was logged. */
int fsc_fabric_create(const struct fsc_fabric_ops *ops, struct fsc_boot *boot,
                      const struct fsc_config *cfg, struct fsc_fabric **out);
int fsc_fabric_connect(struct fsc_fabric *f);
void fsc_fabric_destroy(struct fsc_fabric *f); /* accepts NULL */

int fsc_fabric_probe(const struct fsc_fabric_ops *ops, const struct fsc_config *cfg, char *reason,
                     size_t len);
/* How many in-process ranks cfg asks of this fabric (its inprocess_ranks
 * option), or 0 when its ranks are launched processes. */
int fsc_fabric_inprocess_ranks(const struct fsc_fabric_ops *ops, const struct fsc_config *cfg);
int fsc_fabric_mem_reg(struct fsc_fabric *f, void *buf, size_t bytes);
int fsc_fabric_mem_dereg(struct fsc_fabric *f, void *buf);
int fsc_fabric_isend(struct fsc_fabric *f, int peer, const void *buf, size_t bytes, int tag,
                     struct fsc_req *req);
int fsc_fabric_irecv(struct fsc_fabric *f, int peer, void *buf, size_t bytes, int tag,
                     struct fsc_req *req);
int fsc_fabric_test(struct fsc_fabric *f, struct fsc_req *req, int *done);
int fsc_fabric_progress(struct fsc_fabric *f);
int fsc_fabric_clock(struct fsc_fabric *f, struct fsc_clock *out); /* monotonic if none */
int fsc_fabric_sync(struct fsc_fabric *f);                         /* 0 if none */
int fsc_fabric_describe(struct fsc_fabric *f, json_t *info);

/* A transfer buffer: 64-byte aligned, zeroed, registered with f (when f is
 * not NULL) so every fabric can move it; from f's own allocator when it has
 * one (buf_alloc).  NULL (logged) on failure.
 * bytes == 0 gives a minimal buffer, so callers need no special case. */
void *fsc_fabric_buf_alloc(struct fsc_fabric *f, size_t bytes);
/* Deregister and free; accepts NULL.  Keeps the buffer, never freed, when
 * f was abandoned (see "Request lifetime"): it stays listed, reachable,
 * until the process exits. */
void fsc_fabric_buf_free(struct fsc_fabric *f, void *buf);
/* How many buffers fsc_fabric_buf_free kept so far in this process. */
size_t fsc_fabric_kept_buffers(void);

/* The kind of memory fsc_fabric_buf_alloc(f, ...) returns (host for f ==
 * NULL). */
enum fsc_mem_kind fsc_fabric_mem_kind(const struct fsc_fabric *f);
const char *fsc_mem_kind_name(enum fsc_mem_kind kind);
/* A host image of transfer buffer `buf` (bytes long) to fill and check it
 * in: buf itself when f's buffers are host memory, otherwise a zeroed host
 * buffer.  NULL (logged) on failure.  Release with fsc_fabric_host_free. */
void *fsc_fabric_host_alloc(struct fsc_fabric *f, void *buf, size_t bytes);
void fsc_fabric_host_free(struct fsc_fabric *f, void *buf, void *host);
/* Copy between a host buffer and a transfer buffer of f (nothing to do
 * when they are the same memory, as fsc_fabric_host_alloc arranges on host
 * fabrics).  0, or the fabric's error (logged). */
int fsc_fabric_to_host(struct fsc_fabric *f, void *host, const void *buf, size_t bytes);
int fsc_fabric_from_host(struct fsc_fabric *f, void *buf, const void *host, size_t bytes);
/* Copy between two transfer buffers of f; set a transfer buffer's bytes. */
int fsc_fabric_buf_copy(struct fsc_fabric *f, void *dst, const void *src, size_t bytes);
int fsc_fabric_buf_set(struct fsc_fabric *f, void *buf, int byte, size_t bytes);

/* Request lifetime.
 *
 * A posted request (isend/irecv returned 0) belongs to the fabric until
 * fsc_fabric_test reports it done or fsc_fabric_cancel withdraws it; only
 * then may the caller reuse or free the request and its buffer.
 *
 * fsc_fabric_cancel(f, req): a request already done (completed, failed to
 * post, or cancelled) is left alone: 0.  Otherwise, when cancel returns,
 * whatever it returns, the fabric never reads or writes req's storage nor
 * the operation's buffer again; req->done becomes FSC_REQ_WITHDRAWN.
 *
 * A cancelled operation poisons its peer in that fabric.  Tag matching is
 * by posting order, so after a withdrawn receive a late message would be
 * taken by the next receive of the same tag as if it were that one's data,
 * and after a withdrawn send the peer's receives are one message short.
 * Hence, once an operation with peer P was cancelled before it completed:
 *  - data still arriving from P is drained and discarded, never delivered;
 *  - every other pending request with P fails (test() returns -EIO);
 *  - every later isend/irecv with P fails at once with -EIO, logged with
 *    the peer's rank, until the fabric is destroyed.
 * Other peers are unaffected.  A fresh fabric starts clean.  (A fabric may
 * not poison when withdrawing cannot disturb matching: the loopback and tcp
 * fabrics do not poison for an operation with oneself, tcp's self queue.)
 *
 * A fabric without a cancel entry cannot withdraw anything: the wrapper
 * logs once, returns -ENOTSUP and marks the fabric abandoned; so does a
 * cancel that answers -EBUSY (an MPI or UCX operation already in flight
 * that the library would not stop in time).  An abandoned fabric takes no
 * more traffic: isend/irecv/test/progress return -EIO without calling into
 * it, so no progress can reach the withdrawn request; fsc_fabric_buf_free
 * keeps (leaks) the buffers it is given, since the library may still write
 * one of them; destroy is the only other thing left to do.
 *
 * destroy() with requests still outstanding must not crash, nor touch the
 * callers' request storage (which may be gone by then). */
int fsc_fabric_cancel(struct fsc_fabric *f, struct fsc_req *req);
/* Cancel the first n requests of reqs (done ones are skipped).  Returns
 * the first error of fsc_fabric_cancel, or 0.  For error paths that posted
 * some requests and will not wait for them. */
int fsc_fabric_cancel_all(struct fsc_fabric *f, struct fsc_req *reqs, size_t n);
/* Mark n requests as never posted (done = FSC_REQ_WITHDRAWN), so that
 * fsc_fabric_cancel_all over a whole array is safe whichever of them an
 * error path got round to posting. */
void fsc_fabric_reqs_init(struct fsc_req *reqs, size_t n);

/* Wait for n requests, polling test() (busy: this is the measured path).
 * Past f->timeout_ns of real time it logs which peer and operation never
 * completed (rank and host) and returns -ETIMEDOUT.  On any error, timeout
 * included, it cancels every request of reqs not yet done before it
 * returns, so the caller may free the buffers at once. */
int fsc_fabric_wait(struct fsc_fabric *f, struct fsc_req *reqs, size_t n);
/* Blocking conveniences built on isend/irecv + wait (which cancels on
 * error). */
int fsc_fabric_send(struct fsc_fabric *f, int peer, const void *buf, size_t bytes, int tag);
int fsc_fabric_recv(struct fsc_fabric *f, int peer, void *buf, size_t bytes, int tag);
/* Send to `dst` and receive from `src` concurrently (deadlock-free).  When
 * the send cannot be posted, the posted receive is cancelled. */
int fsc_fabric_sendrecv(struct fsc_fabric *f, int dst, const void *sbuf, size_t sbytes, int src,
                        void *rbuf, size_t rbytes, int tag);

/* One-sided transfers.
 *
 * A window is a buffer every rank exposes at once (fsc_fabric_win_create is
 * collective; sizes may differ between ranks, 0 included).  The buffer
 * should come from fsc_fabric_buf_alloc, so it is registered; it must stay
 * allocated until fsc_fabric_win_free returns.
 *
 * fsc_fabric_put(f, w, peer, off, buf, bytes, tag, req) writes buf into the
 * peer's window at off; fsc_fabric_get reads the peer's window at off into
 * buf.  Both are non-blocking requests completed by fsc_fabric_test/wait.
 * The wrappers refuse, with one error line and -EINVAL before the fabric
 * sees anything, a peer outside 0..size-1 or oneself, and a range past the
 * end of the peer's window.  A fabric without them answers -ENOTSUP.
 *
 * Completion at the initiator: a put is done when buf may be reused (not
 * that the data is visible at the target: UCX and verbs report local
 * completion); a get is done when the data is in buf.
 *
 * The target learns that data landed only through a notification: a put
 * with tag >= 0 makes a zero-byte message with that tag arrive at the
 * target from the initiator after the data of this put and of every
 * earlier put from the same initiator to the same target is visible in the
 * window.  The target matches it with an ordinary
 * fsc_fabric_irecv(f, initiator, NULL, 0, tag).  (Verbs: RDMA WRITE with
 * immediate, whose receive completion the target turns into that message;
 * UCX: put, endpoint flush, then a tagged zero-byte send; loopback: the
 * message is queued behind the copy.)  Use a tag of its own for
 * notifications: their order against ordinary sends of the same tag is
 * not defined.  A put with tag -1 is silent: pair a window of silent puts
 * with a last notified one.  Nothing tells the target that a get read its
 * window: the initiator says so with a message of its own.
 *
 * Request lifetime: as for isend/irecv, a posted put/get belongs to the
 * fabric until test() reports it done or fsc_fabric_cancel withdraws it.
 * A transfer the fabric has handed to the hardware or library cannot be
 * withdrawn unless it finishes in time: cancel answers -EBUSY, and the
 * wrapper abandons the fabric as it does for an in-flight send (loopback,
 * which copies at once, always withdraws).  Withdrawing a put or get need
 * not poison the peer (one-sided transfers take no part in tag matching);
 * a fabric may poison it all the same when the notification may already
 * be on its way.  fsc_fabric_wait's deadline, its timeout line naming
 * the peer and operation, and its cancel-on-error apply unchanged.
 *
 * fsc_fabric_win_free: collective; first every rank sends every other a
 * zero-byte message with tag FSC_WIN_DONE_TAG through the fabric and waits
 * for theirs (so no peer still transfers into the window, and waiting keeps
 * the fabric progressing for libraries that emulate one-sided transfers in
 * software), then the bootstrap agrees.  Returns the first error of any
 * rank; releases the window in any case.  Accepts NULL; the buffer stays
 * the caller's.  Callers keep FSC_WIN_DONE_TAG for this. */
#define FSC_WIN_DONE_TAG 0x7ffffff0

struct fsc_win {
	struct fsc_fabric *f;
	void *buf;
	size_t bytes;
	size_t *sizes; /* [size]: every rank's window bytes */
	void *impl;    /* the fabric's handle */
};
/* Whether f offers put and get (the four ops present). */
int fsc_fabric_has_rma(const struct fsc_fabric_ops *ops);
int fsc_fabric_win_create(struct fsc_fabric *f, void *buf, size_t bytes, struct fsc_win **out);
int fsc_fabric_win_free(struct fsc_win *w);
int fsc_fabric_put(struct fsc_fabric *f, struct fsc_win *w, int peer, size_t offset,
                   const void *buf, size_t bytes, int tag, struct fsc_req *req);
int fsc_fabric_get(struct fsc_fabric *f, struct fsc_win *w, int peer, size_t offset, void *buf,
                   size_t bytes, struct fsc_req *req);
/* "send", "receive", "put" or "get": for log lines about a request. */
const char *fsc_req_what(const struct fsc_req *r);

/* Native collectives; -ENOTSUP when the fabric has none of that kind. */
int fsc_fabric_coll_barrier(struct fsc_fabric *f);
int fsc_fabric_coll_allreduce(struct fsc_fabric *f, const void *sbuf, void *rbuf, size_t count,
                              enum fsc_dtype dt, enum fsc_redop op);
int fsc_fabric_coll_alltoall(struct fsc_fabric *f, const void *sbuf, void *rbuf,
                             size_t bytes_per_peer);
int fsc_fabric_coll_allgather(struct fsc_fabric *f, const void *sbuf, void *rbuf,
                              size_t bytes_per_rank);
int fsc_fabric_coll_reduce_scatter(struct fsc_fabric *f, const void *sbuf, void *rbuf,
                                   size_t count_per_rank, enum fsc_dtype dt, enum fsc_redop op);
int fsc_fabric_coll_bcast(struct fsc_fabric *f, void *buf, size_t bytes, int root);

#endif
