/* bandwidth: windowed streaming between rank 0 and --peer (osu_bw and
 * osu_bibw's method).
 *
 * impl "uni": rank 0 posts --window sends of `bytes`, the peer --window
 * receives; the peer then returns a 4-byte acknowledgement, so one iteration
 * covers the window's delivery.  algbw = window*bytes / t.
 * impl "bi": both sides post --window receives and --window sends at once
 * and wait for all of them; algbw = 2*window*bytes / t.
 * busbw = algbw (factor 1: one link, nccl-tests' send/recv convention).
 *
 * impl "put" (fabrics with one-sided transfers, src/fabric.h): rank 0
 * writes --window puts into the peer's window (the receive slots), the
 * last one notified; the peer waits for the notification, which follows
 * every earlier put's data, and acknowledges as in "uni".  The window holds
 * the receive slots twice, iteration i writing half i % 2: rank 0 starts
 * iteration i + 1 as soon as the acknowledgement of i arrives, while the
 * peer may still check i, but it writes the same half again only after the
 * acknowledgement of i + 1, which the peer sends after checking i.  The
 * window is not zeroed between iterations; stale bytes of another
 * iteration differ from the expected ones anyway.
 * impl "get": rank 0 reads --window times the peer's window (one message,
 * filled once in setup with iteration 0's data) into its receive slots,
 * waits for all of them and sends the peer a zero-byte "done" (eager: it
 * completes locally); the peer waits for it, progressing its fabric for
 * libraries that emulate RMA in software.
 * algbw = window*bytes/t for both.
 *
 * Receive slots: an iteration that will be checked (the verification pass,
 * every iteration with --check every) spreads the window over min(window,
 * 64 MiB / bytes) distinct buffers, message k landing in slot k % slots, so
 * verification sees every message up to 64 MiB of receive memory.  Unchecked
 * (timed) iterations receive every message into one buffer, as osu_bw does:
 * spreading them would measure the receiver's cache misses, not the link.
 *
 * Timed on rank 0 (FSC_PAT_TIMED_BY_RANK0): the sender's loop, which ends
 * when the acknowledgement of the window arrives.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "p2p.h"
#include "reduce.h"

#define BW_TAG 21
#define BW_ACK_TAG 22
#define BW_PUT_TAG 23  /* put notifications */
#define BW_DONE_TAG 24 /* get: rank 0 is done reading */
#define BW_ACK_BYTES 4
#define BW_SLOT_BYTES (64u << 20)

struct bw_settings {
	int64_t window;
};

static const struct fsc_opt bw_opts[] = {
        {"window", 0, FSC_OPT_INT, "64", "messages in flight per bandwidth iteration", 0, 1, 4096,
         FSC_AT_INT(struct bw_settings, window)},
        {0, 0, 0, 0, 0, 0, 0, 0},
};

struct bw_state {
	int peer, bidir, sender, receiver, rma;
	struct fsc_win *win; /* put: the receive slots; get: the send buffer */
	size_t window, slots;
	size_t halves; /* put: the receive slots twice (see the top of the file) */
	int checking; /* this iteration will be checked: use every slot */
	unsigned char *sbuf, *rbuf;
	unsigned char *hs, *hr; /* host images (fsc_fabric_host_alloc) */
	unsigned char *ack;     /* a transfer buffer of BW_ACK_BYTES */
	struct fsc_req *reqs;   /* 2 * window */
};

static size_t bw_window(const struct fsc_pctx *c)
{
	struct bw_settings s = {0};

	fsc_config_fill(c->cfg, bw_opts, &s, 0, 0);
	return (size_t)s.window;
}

static int bw_setup(struct fsc_pctx *c, void **state)
{
	struct bw_state *s = calloc(1, sizeof(*s));
	size_t n = c->bytes ? c->bytes : 1;
	int rc;

	*state = s;
	if (!s)
		return -ENOMEM;
	s->rma = fsc_p2p_rma_impl(c);
	if (!fsc_p2p_active(c))
		/* Collective: the idle ranks expose an empty window. */
		return s->rma ? fsc_fabric_win_create(c->fab, NULL, 0, &s->win) : 0;
	s->peer = c->rank == 0 ? fsc_p2p_peer(c) : 0;
	s->bidir = !strcmp(c->impl, "bi");
	/* a get moves data from the peer to rank 0 */
	s->sender = s->bidir || (c->rank == 0) == (s->rma != FSC_REQ_GET);
	s->receiver = s->bidir || !s->sender;
	s->window = bw_window(c);
	s->slots = BW_SLOT_BYTES / n;
	if (s->slots < 1)
		s->slots = 1;
	if (s->slots > s->window)
		s->slots = s->window;
	s->halves = s->rma == FSC_REQ_PUT ? 2 : 1;
	s->reqs = calloc(2 * s->window + 1, sizeof(*s->reqs));
	s->sbuf = fsc_fabric_buf_alloc(c->fab, c->bytes);
	s->rbuf = fsc_fabric_buf_alloc(c->fab, s->halves * s->slots * c->bytes);
	s->ack = fsc_fabric_buf_alloc(c->fab, BW_ACK_BYTES);
	rc = s->reqs && s->sbuf && s->rbuf && s->ack ? 0 : -ENOMEM;
	if (!rc) {
		s->hs = fsc_fabric_host_alloc(c->fab, s->sbuf, c->bytes);
		s->hr = fsc_fabric_host_alloc(c->fab, s->rbuf, s->halves * s->slots * c->bytes);
		rc = s->hs && s->hr ? 0 : -ENOMEM;
	}
	if (!rc && s->rma == FSC_REQ_GET && s->sender) { /* what rank 0 reads */
		fsc_bytes_fill(s->hs, c->bytes, c->seed, c->rank, s->peer, 0);
		rc = fsc_fabric_from_host(c->fab, s->sbuf, s->hs, c->bytes);
	}
	if (s->rma) {
		/* Collective; a rank that failed above exposes nothing, so
		 * that every rank holds a window or none. */
		void *wbuf = s->rma == FSC_REQ_PUT ? (void *)s->rbuf : (void *)s->sbuf;
		size_t wbytes = s->rma == FSC_REQ_PUT ? s->halves * s->slots * c->bytes : c->bytes;
		int wrc = fsc_fabric_win_create(c->fab, rc ? NULL : wbuf, rc ? 0 : wbytes, &s->win);

		rc = rc ? rc : wrc;
	}
	return rc;
}

static int bw_fill(struct fsc_pctx *c, void *state, uint64_t iter)
{
	struct bw_state *s = state;
	int rc = 0;

	if (s->sender && s->rma != FSC_REQ_GET) { /* a get's source keeps setup's data */
		fsc_bytes_fill(s->hs, c->bytes, c->seed, c->rank, s->peer, iter);
		rc = fsc_fabric_from_host(c->fab, s->sbuf, s->hs, c->bytes);
	}
	if (s->receiver && s->rma != FSC_REQ_PUT && !rc) /* a put window is rank 0's to write */
		rc = fsc_fabric_buf_set(c->fab, s->rbuf, 0, s->slots * c->bytes);
	s->checking = 1;
	return rc;
}

/* impl put / get: see the top of this file. */
static int bw_run_rma(struct fsc_pctx *c, struct bw_state *s, size_t slots, uint64_t iter)
{
	struct fsc_req *rq = s->reqs;
	size_t n = 0, half = (size_t)(iter % s->halves) * s->slots * c->bytes;
	int rc = 0;

	if (s->rma == FSC_REQ_GET) {
		if (!s->receiver) /* the peer */
			return fsc_fabric_recv(c->fab, s->peer, NULL, 0, BW_DONE_TAG);
		for (size_t k = 0; k < s->window && !rc; k++)
			rc = fsc_fabric_get(c->fab, s->win, s->peer, 0,
			                    s->rbuf + (k % slots) * c->bytes, c->bytes, &rq[n++]);
		if (rc)
			fsc_fabric_cancel_all(c->fab, rq, n);
		else
			rc = fsc_fabric_wait(c->fab, rq, n);
		return rc ? rc : fsc_fabric_send(c->fab, s->peer, NULL, 0, BW_DONE_TAG);
	}
	if (s->receiver) {
		rc = fsc_fabric_recv(c->fab, s->peer, NULL, 0, BW_PUT_TAG);
		return rc ? rc : fsc_fabric_send(c->fab, s->peer, s->ack, BW_ACK_BYTES, BW_ACK_TAG);
	}
	rc = fsc_fabric_irecv(c->fab, s->peer, s->ack, BW_ACK_BYTES, BW_ACK_TAG, &rq[n++]);
	for (size_t k = 0; k < s->window && !rc; k++)
		rc = fsc_fabric_put(c->fab, s->win, s->peer, half + (k % slots) * c->bytes, s->sbuf,
		                    c->bytes, k + 1 == s->window ? BW_PUT_TAG : -1, &rq[n++]);
	if (rc)
		fsc_fabric_cancel_all(c->fab, rq, n);
	return rc ? rc : fsc_fabric_wait(c->fab, rq, n);
}

static int bw_run(struct fsc_pctx *c, void *state, uint64_t iter)
{
	struct bw_state *s = state;
	struct fsc_req *rq = s->reqs;
	size_t n = 0, slots = s->checking ? s->slots : 1;
	int rc = 0;

	if (s->rma)
		return bw_run_rma(c, s, slots, iter);
	if (s->receiver)
		for (size_t k = 0; k < s->window && !rc; k++)
			rc = fsc_fabric_irecv(c->fab, s->peer, s->rbuf + (k % slots) * c->bytes,
			                      c->bytes, BW_TAG, &rq[n++]);
	if (s->sender)
		for (size_t k = 0; k < s->window && !rc; k++)
			rc = fsc_fabric_isend(c->fab, s->peer, s->sbuf, c->bytes, BW_TAG, &rq[n++]);
	if (rc) /* a post failed: withdraw the ones before it */
		fsc_fabric_cancel_all(c->fab, rq, n);
	else
		rc = fsc_fabric_wait(c->fab, rq, n);
	if (rc || s->bidir)
		return rc;
	if (c->rank == 0)
		return fsc_fabric_recv(c->fab, s->peer, s->ack, BW_ACK_BYTES, BW_ACK_TAG);
	return fsc_fabric_send(c->fab, s->peer, s->ack, BW_ACK_BYTES, BW_ACK_TAG);
}

static int bw_check(struct fsc_pctx *c, void *state, uint64_t iter, uint64_t *wrong)
{
	struct bw_state *s = state;
	size_t half;
	int rc;

	s->checking = 0;
	*wrong = 0;
	if (!s->receiver)
		return 0;
	half = (size_t)(iter % s->halves) * s->slots * c->bytes;
	if (s->rma == FSC_REQ_GET) /* the source holds iteration 0's data */
		iter = 0;
	rc = fsc_fabric_to_host(c->fab, s->hr + half, s->rbuf + half, s->slots * c->bytes);
	if (rc)
		return rc;
	for (size_t k = 0; k < s->slots; k++)
		*wrong += fsc_bytes_check(s->hr + half + k * c->bytes, c->bytes, c->seed, s->peer,
		                          c->rank, iter);
	return 0;
}

static void bw_teardown(struct fsc_pctx *c, void *state)
{
	struct bw_state *s = state;

	if (!s)
		return;
	fsc_fabric_win_free(s->win); /* collective, on every rank */
	fsc_fabric_host_free(c->fab, s->sbuf, s->hs);
	fsc_fabric_host_free(c->fab, s->rbuf, s->hr);
	fsc_fabric_buf_free(c->fab, s->sbuf);
	fsc_fabric_buf_free(c->fab, s->rbuf);
	fsc_fabric_buf_free(c->fab, s->ack);
	free(s->reqs);
	free(s);
}

static double bw_bytes(const struct fsc_pctx *c)
{
	double w = (double)bw_window(c) * (double)c->bytes;

	return c->impl && !strcmp(c->impl, "bi") ? 2 * w : w;
}

static const char *const bw_impls[] = {"uni", "bi", "put", "get", 0};

/* One send buffer and min(window, 64 MiB / bytes) receive slots (at least
 * one), on the two ranks that take part (as bw_setup allocates). */
static double bw_buf_bytes(const struct fsc_pctx *c)
{
	size_t n = c->bytes ? c->bytes : 1, slots = BW_SLOT_BYTES / n, w = bw_window(c);

	if (!fsc_p2p_active(c))
		return 0;
	if (slots < 1)
		slots = 1;
	if (slots > w)
		slots = w;
	if (fsc_p2p_rma_impl(c) == FSC_REQ_PUT)
		slots *= 2; /* two halves */
	return (double)c->bytes * (1.0 + (double)slots);
}

const struct fsc_pattern_ops fsc_pattern_bandwidth = {
        .name = "bandwidth",
        .desc = "windowed streaming between rank 0 and --peer, uni- or bidirectional, or "
                "one-sided (put, get)",
        .caps = FSC_CAP_SEND_RECV,
        .min_ranks = 2,
        .flags = FSC_PAT_TIMED_BY_RANK0,
        .impls = bw_impls,
        .opts = bw_opts,
        .bw_formula = "algbw = window*bytes/t (uni, put, get), 2*window*bytes/t (bi); "
                      "busbw = algbw",
        .algbw_bytes = bw_bytes,
        .check_args = fsc_p2p_check_rma,
        .setup = bw_setup,
        .buf_bytes = bw_buf_bytes,
        .fill = bw_fill,
        .run = bw_run,
        .check = bw_check,
        .teardown = bw_teardown,
        .active = fsc_p2p_active,
};
