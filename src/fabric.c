/* Fabric wrappers: defaults for missing ops entries, blocking helpers and
 * the deadline-checked wait loop. */
#include "fabric.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "log.h"
#include "runner.h"

/* Deadline check every this many polls: a clock read costs ~20 ns, a poll
 * of a shared-memory transport ~50 ns; checking every poll would add a
 * measurable share to the smallest latencies. */
#define FSC_WAIT_CLOCK_EVERY 256

int fsc_fabric_create(const struct fsc_fabric_ops *ops, struct fsc_boot *boot,
                      const struct fsc_config *cfg, struct fsc_fabric **out)
{
	struct fsc_run_settings set;
	struct fsc_fabric *f;
	int rc;

	*out = 0;
	f = calloc(1, sizeof(*f));
	if (!f) {
		fsc_error("fabric %s: out of memory", ops->name);
		return -ENOMEM;
	}
	f->ops = ops;
	f->boot = boot;
	f->rank = boot ? boot->rank : 0;
	f->size = boot ? boot->size : 1;
	/* --timeout, or its default when cfg lacks the run options. */
	rc = fsc_run_settings_fill(cfg, &set, 0, 0);
	if (rc) {
		free(f);
		return rc;
	}
	f->timeout_ns = set.timeout_ns;
	if (!ops->create) {
		*out = f;
		return 0;
	}
	rc = ops->create(f, cfg);
	if (rc) {
		fsc_fabric_destroy(f);
		return rc;
	}
	*out = f;
	return 0;
}

int fsc_fabric_connect(struct fsc_fabric *f)
{
	return f->ops->connect ? f->ops->connect(f) : 0;
}

void fsc_fabric_destroy(struct fsc_fabric *f)
{
	if (!f)
		return;
	if (f->ops->destroy)
		f->ops->destroy(f);
	free(f);
}

int fsc_fabric_probe(const struct fsc_fabric_ops *ops, const struct fsc_config *cfg, char *reason,
                     size_t len)
{
	if (len)
		reason[0] = 0;
	return ops->probe ? ops->probe(cfg, reason, len) : 0;
}

/* The value goes through the fabric's own table entry, filled into a
 * one-option table whose field is `ranks`: the fabric's settings struct is
 * its own business. */
int fsc_fabric_inprocess_ranks(const struct fsc_fabric_ops *ops, const struct fsc_config *cfg)
{
	const struct fsc_opt *o = ops->opts;
	struct fsc_opt one[2] = {{0}, {0}};
	int64_t ranks = 0;
	char err[256];

	if (!ops->inprocess_ranks)
		return 0;
	while (o && o->name && strcmp(o->name, ops->inprocess_ranks))
		o++;
	if (!o || !o->name || o->type != FSC_OPT_INT) {
		fsc_error("fabric %s: its in-process rank count --%s is not an integer option of "
		          "its table",
		          ops->name, ops->inprocess_ranks);
		return 0;
	}
	one[0] = *o;
	one[0].at = (struct fsc_opt_field){0, sizeof(ranks), FSC_OPT_INT};
	one[0].has_at = 0;
	if (fsc_config_fill(cfg, one, &ranks, err, sizeof(err))) {
		fsc_error("fabric %s: %s", ops->name, err);
		return 0;
	}
	return (int)ranks;
}

int fsc_fabric_mem_reg(struct fsc_fabric *f, void *buf, size_t bytes)
{
	return f->ops->mem_reg ? f->ops->mem_reg(f, buf, bytes) : 0;
}

int fsc_fabric_mem_dereg(struct fsc_fabric *f, void *buf)
{
	return f->ops->mem_dereg ? f->ops->mem_dereg(f, buf) : 0;
}

/* An abandoned fabric (see fabric.h, "Request lifetime") takes no traffic;
 * the reason was logged when it was abandoned. */
static int abandoned(const struct fsc_fabric *f, struct fsc_req *req)
{
	if (__builtin_expect(!f->abandoned, 1))
		return 0;
	if (req)
		req->done = FSC_REQ_WITHDRAWN;
	return -EIO;
}

int fsc_fabric_isend(struct fsc_fabric *f, int peer, const void *buf, size_t bytes, int tag,
                     struct fsc_req *req)
{
	int rc;

	req->peer = peer;
	req->tag = tag;
	req->bytes = bytes;
	req->is_recv = 0;
	req->rma = 0;
	req->done = FSC_REQ_WITHDRAWN; /* until posted */
	if (!f->ops->isend)
		return -ENOTSUP;
	if ((rc = abandoned(f, req)))
		return rc;
	req->done = 0;
	rc = f->ops->isend(f, peer, buf, bytes, tag, req);
	if (rc)
		req->done = FSC_REQ_WITHDRAWN;
	return rc;
}

int fsc_fabric_irecv(struct fsc_fabric *f, int peer, void *buf, size_t bytes, int tag,
                     struct fsc_req *req)
{
	int rc;

	req->peer = peer;
	req->tag = tag;
	req->bytes = bytes;
	req->is_recv = 1;
	req->rma = 0;
	req->done = FSC_REQ_WITHDRAWN; /* until posted */
	if (!f->ops->irecv)
		return -ENOTSUP;
	if ((rc = abandoned(f, req)))
		return rc;
	req->done = 0;
	rc = f->ops->irecv(f, peer, buf, bytes, tag, req);
	if (rc)
		req->done = FSC_REQ_WITHDRAWN;
	return rc;
}

int fsc_fabric_test(struct fsc_fabric *f, struct fsc_req *req, int *done)
{
	int rc;

	if (req->done) {
		*done = 1;
		return req->done == FSC_REQ_WITHDRAWN ? -ECANCELED : 0;
	}
	if (!f->ops->test)
		return -ENOTSUP;
	if ((rc = abandoned(f, req))) {
		*done = 1;
		return rc;
	}
	rc = f->ops->test(f, req, done);
	if (!rc && *done)
		req->done = 1;
	return rc;
}

int fsc_fabric_progress(struct fsc_fabric *f)
{
	if (abandoned(f, 0))
		return -EIO;
	return f->ops->progress ? f->ops->progress(f) : 0;
}

int fsc_fabric_cancel(struct fsc_fabric *f, struct fsc_req *req)
{
	int rc = -ENOTSUP;

	if (req->done)
		return 0;
	/* An abandoned fabric is never called again (see abandoned()). */
	if (f->ops->cancel && !f->abandoned)
		rc = f->ops->cancel(f, req);
	req->done = FSC_REQ_WITHDRAWN;
	if (rc && !f->abandoned) {
		f->abandoned = 1;
		fsc_error("fabric %s: a %s of %zu B %s rank %d (tag %d) could not be withdrawn "
		          "(%s); the fabric takes no more traffic and keeps its buffers",
		          f->ops->name, fsc_req_what(req), req->bytes, req->is_recv ? "from" : "to",
		          req->peer, req->tag,
		          rc == -ENOTSUP ? "the fabric cannot cancel" : fsc_strerror(rc));
	}
	return rc;
}

int fsc_fabric_cancel_all(struct fsc_fabric *f, struct fsc_req *reqs, size_t n)
{
	int first = 0;

	for (size_t i = 0; i < n; i++) {
		int rc = fsc_fabric_cancel(f, &reqs[i]);

		if (rc && !first)
			first = rc;
	}
	return first;
}

int fsc_fabric_clock(struct fsc_fabric *f, struct fsc_clock *out)
{
	if (f->ops->clock)
		return f->ops->clock(f, out);
	*out = fsc_clock_monotonic();
	return 0;
}

int fsc_fabric_sync(struct fsc_fabric *f)
{
	return f->ops->sync ? f->ops->sync(f) : 0;
}

int fsc_fabric_describe(struct fsc_fabric *f, json_t *info)
{
	return f->ops->describe ? f->ops->describe(f, info) : 0;
}

/* Cache-line alignment: keeps vector reductions and NIC DMA on whole lines. */
#define FSC_BUF_ALIGN 64

void *fsc_fabric_buf_alloc(struct fsc_fabric *f, size_t bytes)
{
	/* aligned_alloc wants a multiple of the alignment */
	size_t n = (bytes + FSC_BUF_ALIGN - 1) / FSC_BUF_ALIGN * FSC_BUF_ALIGN;
	void *p;

	if (!n)
		n = FSC_BUF_ALIGN;
	if (fsc_fabric_mem_kind(f) != FSC_MEM_HOST) {
		if (!f->ops->mem_alloc) {
			fsc_error("fabric %s has %s memory but no allocator for it", f->ops->name,
			          fsc_mem_kind_name(f->mem));
			return 0;
		}
		return f->ops->mem_alloc(f, n);
	}
	if (f && f->ops->buf_alloc)
		return f->ops->buf_alloc(f, n);
	p = aligned_alloc(FSC_BUF_ALIGN, n);
	if (!p) {
		fsc_error("cannot allocate a %zu-byte transfer buffer", n);
		return 0;
	}
	memset(p, 0, n);
	if (f && fsc_fabric_mem_reg(f, p, n)) {
		fsc_error("cannot register a %zu-byte buffer with fabric %s", n, f->ops->name);
		free(p);
		return 0;
	}
	return p;
}

/* Buffers of abandoned fabrics: the library or the NIC may still write
 * into them, so they are never freed.  They stay listed here, reachable,
 * until the process exits: kept on purpose, not lost (a leak checker sees
 * the difference), and counted. */
struct kept_buf {
	struct kept_buf *next;
	void *buf;
};
static struct kept_buf *kept_bufs;
static size_t kept_count;
static pthread_mutex_t kept_lock = PTHREAD_MUTEX_INITIALIZER;

static void keep_buf(void *buf)
{
	struct kept_buf *k = malloc(sizeof(*k));

	pthread_mutex_lock(&kept_lock);
	if (k) {
		k->buf = buf;
		k->next = kept_bufs;
		kept_bufs = k;
	}
	kept_count++;
	pthread_mutex_unlock(&kept_lock);
}

size_t fsc_fabric_kept_buffers(void)
{
	size_t n;

	pthread_mutex_lock(&kept_lock);
	n = kept_count;
	pthread_mutex_unlock(&kept_lock);
	return n;
}

void fsc_fabric_buf_free(struct fsc_fabric *f, void *buf)
{
	if (!buf)
		return;
	if (f && f->abandoned) {
		fsc_debug("fabric %s: keeping a transfer buffer of an abandoned fabric",
		          f->ops->name);
		keep_buf(buf);
		return;
	}
	if (fsc_fabric_mem_kind(f) != FSC_MEM_HOST) {
		if (f->ops->mem_free)
			f->ops->mem_free(f, buf);
		return;
	}
	if (f && f->ops->buf_free) {
		f->ops->buf_free(f, buf);
		return;
	}
	if (f)
		fsc_fabric_mem_dereg(f, buf);
	free(buf);
}

enum fsc_mem_kind fsc_fabric_mem_kind(const struct fsc_fabric *f)
{
	return f ? f->mem : FSC_MEM_HOST;
}

const char *fsc_mem_kind_name(enum fsc_mem_kind kind)
{
	switch (kind) {
	case FSC_MEM_HOST: return "host";
	case FSC_MEM_DEVICE: return "device";
	default: return "unknown";
	}
}

void *fsc_fabric_host_alloc(struct fsc_fabric *f, void *buf, size_t bytes)
{
	void *h;

	if (fsc_fabric_mem_kind(f) == FSC_MEM_HOST)
		return buf;
	h = fsc_fabric_buf_alloc(0, bytes);
	if (!h)
		fsc_error("fabric %s: cannot allocate a %zu-byte host image of a %s buffer",
		          f->ops->name, bytes, fsc_mem_kind_name(f->mem));
	return h;
}

void fsc_fabric_host_free(struct fsc_fabric *f, void *buf, void *host)
{
	if (host != buf || fsc_fabric_mem_kind(f) != FSC_MEM_HOST)
		fsc_fabric_buf_free(0, host);
}

static int mem_copy(struct fsc_fabric *f, void *dst, const void *src, size_t bytes,
                    enum fsc_copy_dir dir)
{
	int rc;

	if (!bytes || dst == src)
		return 0;
	if (fsc_fabric_mem_kind(f) == FSC_MEM_HOST) {
		memcpy(dst, src, bytes);
		return 0;
	}
	if (!f->ops->mem_copy) {
		fsc_error("fabric %s has %s memory but no copy for it", f->ops->name,
		          fsc_mem_kind_name(f->mem));
		return -ENOTSUP;
	}
	rc = f->ops->mem_copy(f, dst, src, bytes, dir);
	if (rc)
		fsc_error("fabric %s: a %zu-byte copy (%s) failed: %s", f->ops->name, bytes,
		          dir == FSC_COPY_H2D   ? "host to device"
		          : dir == FSC_COPY_D2H ? "device to host"
		                                : "device to device",
		          fsc_strerror(rc));
	return rc;
}

int fsc_fabric_to_host(struct fsc_fabric *f, void *host, const void *buf, size_t bytes)
{
	return mem_copy(f, host, buf, bytes, FSC_COPY_D2H);
}

int fsc_fabric_from_host(struct fsc_fabric *f, void *buf, const void *host, size_t bytes)
{
	return mem_copy(f, buf, host, bytes, FSC_COPY_H2D);
}

int fsc_fabric_buf_copy(struct fsc_fabric *f, void *dst, const void *src, size_t bytes)
{
	return mem_copy(f, dst, src, bytes, FSC_COPY_D2D);
}

int fsc_fabric_buf_set(struct fsc_fabric *f, void *buf, int byte, size_t bytes)
{
	int rc;

	if (!bytes)
		return 0;
	if (fsc_fabric_mem_kind(f) == FSC_MEM_HOST) {
		memset(buf, byte, bytes);
		return 0;
	}
	if (!f->ops->mem_set) {
		fsc_error("fabric %s has %s memory but no memset for it", f->ops->name,
		          fsc_mem_kind_name(f->mem));
		return -ENOTSUP;
	}
	rc = f->ops->mem_set(f, buf, byte, bytes);
	if (rc)
		fsc_error("fabric %s: setting %zu bytes of %s memory failed: %s", f->ops->name,
		          bytes, fsc_mem_kind_name(f->mem), fsc_strerror(rc));
	return rc;
}

static void wait_failed_text(struct fsc_fabric *f, const struct fsc_req *r, char *buf, size_t len)
{
	snprintf(buf, len, "fabric %s: %s of %zu B %s rank %d (tag %d)", f->ops->name,
	         fsc_req_what(r), r->bytes, r->is_recv ? "from" : "to", r->peer, r->tag);
}

static void wait_timeout_log(struct fsc_fabric *f, const struct fsc_req *r)
{
	const char *host = "?";

	if (f->boot && f->boot->hosts && r->peer >= 0 && r->peer < f->boot->size)
		host = f->boot->hosts[r->peer];
	fsc_error("fabric %s: %s of %zu B %s rank %d (host %s, tag %d) did not complete "
	          "within %.1f s",
	          f->ops->name, fsc_req_what(r), r->bytes, r->is_recv ? "from" : "to", r->peer,
	          host, r->tag, f->timeout_ns / 1e9);
}

void fsc_fabric_reqs_init(struct fsc_req *reqs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		reqs[i].done = FSC_REQ_WITHDRAWN;
}

/* A wait failed on request r: the watchdog decides whether a rank stalled
 * (-ECONNABORTED) or the link lost the messages (rc stands). */
static int wait_failed(struct fsc_fabric *f, const struct fsc_req *r, int rc)
{
	char what[160];

	if (!fsc_watchdog_armed(f->boot))
		return rc;
	wait_failed_text(f, r, what, sizeof(what));
	if (rc == -ETIMEDOUT)
		fsc_warn("%s did not complete within %.1f s; asking every rank whether it is "
		         "alive",
		         what, f->timeout_ns / 1e9);
	return fsc_watchdog_link_failed(f->boot, r->peer, r->is_recv, rc, what);
}

int fsc_fabric_wait(struct fsc_fabric *f, struct fsc_req *reqs, size_t n)
{
	uint64_t deadline = 0;
	size_t left = n, polls = 0;
	int rc;

	for (size_t i = 0; i < n; i++)
		if (reqs[i].done)
			left--;
	while (left) {
		for (size_t i = 0; i < n; i++) {
			int done = 0;

			if (reqs[i].done)
				continue;
			rc = fsc_fabric_test(f, &reqs[i], &done);
			if (rc) {
				rc = wait_failed(f, &reqs[i], rc);
				goto cancel;
			}
			if (done)
				left--;
		}
		if (!left)
			break;
		if (++polls % FSC_WAIT_CLOCK_EVERY == 0) {
			uint64_t now = fsc_time_real_ns();

			if (fsc_watchdog_poll(f->boot)) {
				rc = -ECONNABORTED;
				goto cancel;
			}
			if (!deadline) {
				deadline = now + f->timeout_ns;
			} else if (now > deadline) {
				rc = -ETIMEDOUT;
				for (size_t i = 0; i < n; i++)
					if (!reqs[i].done) {
						if (!fsc_watchdog_armed(f->boot))
							wait_timeout_log(f, &reqs[i]);
						rc = wait_failed(f, &reqs[i], -ETIMEDOUT);
						break;
					}
				goto cancel;
			}
		}
	}
	return 0;
cancel:
	/* Nothing the caller gave up on may complete into its memory later. */
	fsc_fabric_cancel_all(f, reqs, n);
	return rc;
}

int fsc_fabric_send(struct fsc_fabric *f, int peer, const void *buf, size_t bytes, int tag)
{
	struct fsc_req r;
	int rc;

	if (f->ops->send && !f->abandoned) {
		rc = f->ops->send(f, peer, buf, bytes, tag);
		if (rc != -EAGAIN)
			return rc;
	}
	rc = fsc_fabric_isend(f, peer, buf, bytes, tag, &r);
	return rc ? rc : fsc_fabric_wait(f, &r, 1);
}

int fsc_fabric_recv(struct fsc_fabric *f, int peer, void *buf, size_t bytes, int tag)
{
	struct fsc_req r;
	int rc = fsc_fabric_irecv(f, peer, buf, bytes, tag, &r);

	return rc ? rc : fsc_fabric_wait(f, &r, 1);
}

int fsc_fabric_sendrecv(struct fsc_fabric *f, int dst, const void *sbuf, size_t sbytes, int src,
                        void *rbuf, size_t rbytes, int tag)
{
	struct fsc_req r[2];
	int rc;

	rc = fsc_fabric_irecv(f, src, rbuf, rbytes, tag, &r[0]);
	if (rc)
		return rc;
	rc = fsc_fabric_isend(f, dst, sbuf, sbytes, tag, &r[1]);
	if (rc) {
		fsc_fabric_cancel(f, &r[0]);
		return rc;
	}
	return fsc_fabric_wait(f, r, 2);
}

/* ---- one-sided transfers ---- */

const char *fsc_req_what(const struct fsc_req *r)
{
	if (r->rma == FSC_REQ_PUT)
		return "put";
	if (r->rma == FSC_REQ_GET)
		return "get";
	return r->is_recv ? "receive" : "send";
}

int fsc_fabric_has_rma(const struct fsc_fabric_ops *ops)
{
	return ops->win_create && ops->win_free && ops->put && ops->get;
}

int fsc_fabric_win_create(struct fsc_fabric *f, void *buf, size_t bytes, struct fsc_win **out)
{
	struct fsc_win *w;
	uint64_t mine = bytes, *all;
	int rc = 0;

	*out = 0;
	if (!fsc_fabric_has_rma(f->ops)) {
		fsc_error("fabric %s has no one-sided transfers (put/get)", f->ops->name);
		return -ENOTSUP;
	}
	if (bytes && !buf) {
		fsc_error("fabric %s: a window of %zu B needs a buffer, not NULL", f->ops->name,
		          bytes);
		rc = -EINVAL;
	}
	w = calloc(1, sizeof(*w));
	all = calloc((size_t)f->size, sizeof(*all));
	if (!rc && (!w || !all)) {
		fsc_error("fabric %s: out of memory for a window", f->ops->name);
		rc = -ENOMEM;
	}
	if (f->boot) {
		/* Nobody goes on to the fabric's exchange alone. */
		rc = fsc_boot_agree(f->boot, rc, 0);
		if (!rc)
			rc = fsc_boot_allgather(f->boot, &mine, all, sizeof(mine));
	} else if (!rc) {
		/* no bootstrap (test doubles): every rank's window as ours */
		for (int r = 0; r < f->size; r++)
			all[r] = mine;
	}
	if (!rc) {
		w->sizes = calloc((size_t)f->size, sizeof(*w->sizes));
		rc = w->sizes ? 0 : -ENOMEM;
		for (int r = 0; !rc && r < f->size; r++)
			w->sizes[r] = (size_t)all[r];
	}
	if (f->boot)
		rc = fsc_boot_agree(f->boot, rc, 0);
	if (!rc)
		rc = f->ops->win_create(f, buf, bytes, &w->impl);
	free(all);
	if (rc) {
		if (w)
			free(w->sizes);
		free(w);
		return rc;
	}
	w->f = f;
	w->buf = buf;
	w->bytes = bytes;
	*out = w;
	return 0;
}

/* Every rank tells every other that it is done with the window, through
 * the fabric: waiting in it keeps the fabric progressing, which a library
 * that emulates one-sided transfers in software needs to serve the peers'
 * last gets.  Then the bootstrap agrees, so that a rank whose exchange
 * failed still meets the others. */
static int win_done_exchange(struct fsc_fabric *f)
{
	int n = f->size, rc = 0;
	struct fsc_req *r = calloc((size_t)(2 * n), sizeof(*r));

	if (!r)
		return -ENOMEM;
	fsc_fabric_reqs_init(r, (size_t)(2 * n));
	for (int i = 1; i < n && !rc; i++)
		rc = fsc_fabric_irecv(f, (f->rank + n - i) % n, NULL, 0, FSC_WIN_DONE_TAG, &r[i]);
	for (int i = 1; i < n && !rc; i++)
		rc = fsc_fabric_isend(f, (f->rank + i) % n, NULL, 0, FSC_WIN_DONE_TAG, &r[n + i]);
	if (rc)
		fsc_fabric_cancel_all(f, r, (size_t)(2 * n));
	else
		rc = fsc_fabric_wait(f, r, (size_t)(2 * n));
	free(r);
	return rc;
}

int fsc_fabric_win_free(struct fsc_win *w)
{
	int rc = 0;

	if (!w)
		return 0;
	if (w->f->boot) {
		rc = w->f->abandoned ? -EIO : win_done_exchange(w->f);
		rc = fsc_boot_agree(w->f->boot, rc, 0);
	}
	w->f->ops->win_free(w->f, w->impl);
	free(w->sizes);
	free(w);
	return rc;
}

static int rma_check(struct fsc_fabric *f, struct fsc_win *w, const char *what, int peer,
                     size_t offset, const void *buf, size_t bytes, int tag)
{
	if (!w || w->f != f) {
		fsc_error("fabric %s: %s without a window of this fabric", f->ops->name, what);
		return -EINVAL;
	}
	if (peer < 0 || peer >= f->size || peer == f->rank) {
		fsc_error("fabric %s: %s with invalid peer %d: expected a rank from 0 to %d other "
		          "than oneself (%d)",
		          f->ops->name, what, peer, f->size - 1, f->rank);
		return -EINVAL;
	}
	if (offset > w->sizes[peer] || bytes > w->sizes[peer] - offset) {
		fsc_error("fabric %s: %s of %zu B at offset %zu is past the end of rank %d's "
		          "window (%zu B)",
		          f->ops->name, what, bytes, offset, peer, w->sizes[peer]);
		return -EINVAL;
	}
	if (bytes && !buf) {
		fsc_error("fabric %s: %s of %zu B from a NULL buffer", f->ops->name, what, bytes);
		return -EINVAL;
	}
	if (tag < -1) {
		fsc_error("fabric %s: %s with notification tag %d: expected a tag >= 0, or -1 "
		          "for none",
		          f->ops->name, what, tag);
		return -EINVAL;
	}
	return 0;
}

/* Post through `post` (a put or a get), retrying while the fabric answers
 * -EAGAIN, until f->timeout_ns. */
static int rma_post(struct fsc_fabric *f, struct fsc_win *w, int rma, int peer, size_t offset,
                    const void *cbuf, void *buf, size_t bytes, int tag, struct fsc_req *req)
{
	uint64_t deadline = 0;
	int rc;

	req->done = 0;
	for (;;) {
		rc = rma == FSC_REQ_PUT
		             ? f->ops->put(f, w->impl, peer, offset, cbuf, bytes, tag, req)
		             : f->ops->get(f, w->impl, peer, offset, buf, bytes, req);
		if (rc != -EAGAIN)
			break;
		if (!deadline) {
			deadline = fsc_time_real_ns() + f->timeout_ns;
		} else if (fsc_time_real_ns() > deadline) {
			fsc_error("fabric %s: a %s of %zu B to rank %d could not be posted within "
			          "%.1f s (its queue stayed full)",
			          f->ops->name, fsc_req_what(req), bytes, peer,
			          f->timeout_ns / 1e9);
			rc = -ETIMEDOUT;
			break;
		}
		rc = fsc_fabric_progress(f);
		if (rc)
			break;
	}
	/* The fabric's entries may have rewritten the header: restore it. */
	req->peer = peer;
	req->tag = tag;
	req->bytes = bytes;
	req->is_recv = rma == FSC_REQ_GET;
	req->rma = rma;
	if (rc)
		req->done = FSC_REQ_WITHDRAWN;
	return rc;
}

static void rma_header(struct fsc_req *req, int peer, int tag, size_t bytes, int rma)
{
	req->peer = peer;
	req->tag = tag;
	req->bytes = bytes;
	req->is_recv = rma == FSC_REQ_GET;
	req->rma = rma;
	req->done = FSC_REQ_WITHDRAWN; /* until posted */
}

int fsc_fabric_put(struct fsc_fabric *f, struct fsc_win *w, int peer, size_t offset,
                   const void *buf, size_t bytes, int tag, struct fsc_req *req)
{
	int rc;

	rma_header(req, peer, tag, bytes, FSC_REQ_PUT);
	if (!fsc_fabric_has_rma(f->ops))
		return -ENOTSUP;
	if ((rc = rma_check(f, w, "put", peer, offset, buf, bytes, tag)))
		return rc;
	if ((rc = abandoned(f, req)))
		return rc;
	return rma_post(f, w, FSC_REQ_PUT, peer, offset, buf, 0, bytes, tag, req);
}

int fsc_fabric_get(struct fsc_fabric *f, struct fsc_win *w, int peer, size_t offset, void *buf,
                   size_t bytes, struct fsc_req *req)
{
	int rc;

	rma_header(req, peer, -1, bytes, FSC_REQ_GET);
	if (!fsc_fabric_has_rma(f->ops))
		return -ENOTSUP;
	if ((rc = rma_check(f, w, "get", peer, offset, buf, bytes, -1)))
		return rc;
	if ((rc = abandoned(f, req)))
		return rc;
	return rma_post(f, w, FSC_REQ_GET, peer, offset, 0, buf, bytes, -1, req);
}

#define COLL(f, fn) ((f)->ops->coll && (f)->ops->coll->fn)

int fsc_fabric_coll_barrier(struct fsc_fabric *f)
{
	return COLL(f, barrier) ? f->ops->coll->barrier(f) : -ENOTSUP;
}

int fsc_fabric_coll_allreduce(struct fsc_fabric *f, const void *sbuf, void *rbuf, size_t count,
                              enum fsc_dtype dt, enum fsc_redop op)
{
	return COLL(f, allreduce) ? f->ops->coll->allreduce(f, sbuf, rbuf, count, dt, op)
	                          : -ENOTSUP;
}

int fsc_fabric_coll_alltoall(struct fsc_fabric *f, const void *sbuf, void *rbuf,
                             size_t bytes_per_peer)
{
	return COLL(f, alltoall) ? f->ops->coll->alltoall(f, sbuf, rbuf, bytes_per_peer) : -ENOTSUP;
}

int fsc_fabric_coll_allgather(struct fsc_fabric *f, const void *sbuf, void *rbuf,
                              size_t bytes_per_rank)
{
	return COLL(f, allgather) ? f->ops->coll->allgather(f, sbuf, rbuf, bytes_per_rank)
	                          : -ENOTSUP;
}

int fsc_fabric_coll_reduce_scatter(struct fsc_fabric *f, const void *sbuf, void *rbuf,
                                   size_t count_per_rank, enum fsc_dtype dt, enum fsc_redop op)
{
	return COLL(f, reduce_scatter)
	               ? f->ops->coll->reduce_scatter(f, sbuf, rbuf, count_per_rank, dt, op)
	               : -ENOTSUP;
}

int fsc_fabric_coll_bcast(struct fsc_fabric *f, void *buf, size_t bytes, int root)
{
	return COLL(f, bcast) ? f->ops->coll->bcast(f, buf, bytes, root) : -ENOTSUP;
}
