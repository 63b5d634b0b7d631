/* latency: ping-pong between rank 0 and --peer (osu_latency's method).
 *
 * One iteration = one round trip; the runner scales each sample by 1/2, so
 * the figures are half round trips ("one-way latency"), the full
 * distribution of them.  algbw = bytes / latency (a one-way rate; busbw
 * factor 1).  Data: each side sends seeded bytes (seed, src, dst, iter) and
 * checks what it received.
 *
 * impl "put" (fabrics with one-sided transfers): the same ping-pong with
 * notified puts into the other side's window (src/fabric.h): each side
 * waits for the notification, then puts back.  The window has two halves,
 * iteration i writing half i % 2: rank 0's put of iteration i + 1 may land
 * while the peer still checks iteration i (rank 0 goes on as soon as the
 * reply arrives), but the put of iteration i + 2 into the same half waits
 * for the peer's reply of i + 1, which the peer sends only after checking
 * i.  The window is never zeroed between iterations; a stale iteration's
 * bytes differ from the expected ones all the same.
 * impl "get": rank 0 reads the peer's window twice in a row per iteration,
 * so half an iteration is one get (ib_read_lat's figure), then sends the
 * peer a zero-byte "done" (an eager send: it completes locally, so it adds
 * its posting cost, not a trip).  The peer waits for it, progressing its
 * fabric meanwhile: a library that emulates RMA in software (UCX over
 * shared memory without cma/knem, over TCP) needs the target to progress.
 * The peer's window is filled once in setup with the data of iteration 0,
 * which every iteration checks.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "p2p.h"
#include "reduce.h"

#define LAT_TAG 11
#define LAT_PUT_TAG 12  /* put notifications */
#define LAT_DONE_TAG 13 /* get: rank 0 is done reading */
/* Up to this size rank 0 sends then receives; above, it pre-posts. */
#define LAT_PREPOST_MIN 4096

struct lat_state {
	int peer, rma;
	unsigned char *sbuf, *rbuf; /* rbuf: the window for put and get */
	unsigned char *hs, *hr;     /* host images (fsc_fabric_host_alloc) */
	struct fsc_win *win;
	size_t rbytes; /* rbuf's size: two halves for put */
};

/* Where iteration iter's put lands in the window (see the top of the file). */
static size_t lat_half(const struct fsc_pctx *c, const struct lat_state *s, uint64_t iter)
{
	return s->rma == FSC_REQ_PUT ? (size_t)(iter % 2) * c->bytes : 0;
}

static int lat_setup(struct fsc_pctx *c, void **state)
{
	struct lat_state *s = calloc(1, sizeof(*s));
	int rc = 0;

	*state = s;
	if (!s)
		return -ENOMEM;
	s->peer = c->rank == 0 ? fsc_p2p_peer(c) : 0;
	s->rma = fsc_p2p_rma_impl(c);
	s->rbytes = s->rma == FSC_REQ_PUT ? 2 * c->bytes : c->bytes;
	if (fsc_p2p_active(c)) {
		s->sbuf = fsc_fabric_buf_alloc(c->fab, c->bytes);
		s->rbuf = fsc_fabric_buf_alloc(c->fab, s->rbytes);
		if (s->sbuf && s->rbuf) {
			s->hs = fsc_fabric_host_alloc(c->fab, s->sbuf, c->bytes);
			s->hr = fsc_fabric_host_alloc(c->fab, s->rbuf, s->rbytes);
		}
		if (!s->hs || !s->hr) {
			rc = -ENOMEM;
		} else if (s->rma == FSC_REQ_GET && c->rank != 0) { /* what rank 0 reads */
			fsc_bytes_fill(s->hr, c->bytes, c->seed, c->rank, 0, 0);
			rc = fsc_fabric_from_host(c->fab, s->rbuf, s->hr, c->bytes);
		}
	}
	/* Collective: every rank, the idle ones (and one that failed above)
	 * with an empty window, so all of them hold one or none. */
	if (s->rma) {
		int wrc = fsc_fabric_win_create(c->fab, s->rbuf, !rc && s->rbuf ? s->rbytes : 0,
		                                &s->win);

		rc = rc ? rc : wrc;
	}
	return rc;
}

static int lat_fill(struct fsc_pctx *c, void *state, uint64_t iter)
{
	struct lat_state *s = state;

	int rc;

	fsc_bytes_fill(s->hs, c->bytes, c->seed, c->rank, s->peer, iter);
	rc = fsc_fabric_from_host(c->fab, s->sbuf, s->hs, c->bytes);
	/* a put window is the peer's to write (see the top of this file);
	 * a get's source, on the peer, stays as setup filled it */
	if (!rc && (!s->rma || (s->rma == FSC_REQ_GET && c->rank == 0)))
		rc = fsc_fabric_buf_set(c->fab, s->rbuf, 0, c->bytes);
	return rc;
}

/* Notified put of sbuf into the peer's window, then wait for the peer's. */
static int lat_put(struct fsc_pctx *c, struct lat_state *s, uint64_t iter)
{
	struct fsc_req rq[2];
	size_t off = lat_half(c, s, iter);
	int rc;

	if (c->rank != 0) {
		rc = fsc_fabric_recv(c->fab, s->peer, NULL, 0, LAT_PUT_TAG);
		if (!rc)
			rc = fsc_fabric_put(c->fab, s->win, s->peer, off, s->sbuf, c->bytes,
			                    LAT_PUT_TAG, &rq[0]);
		return rc ? rc : fsc_fabric_wait(c->fab, rq, 1);
	}
	rc = fsc_fabric_irecv(c->fab, s->peer, NULL, 0, LAT_PUT_TAG, &rq[0]);
	if (rc)
		return rc;
	rc = fsc_fabric_put(c->fab, s->win, s->peer, off, s->sbuf, c->bytes, LAT_PUT_TAG, &rq[1]);
	if (rc) {
		fsc_fabric_cancel(c->fab, &rq[0]);
		return rc;
	}
	return fsc_fabric_wait(c->fab, rq, 2);
}

/* Two gets of the peer's window, one after the other. */
static int lat_get(struct fsc_pctx *c, struct lat_state *s)
{
	struct fsc_req rq;
	int rc = 0;

	if (c->rank != 0)
		return fsc_fabric_recv(c->fab, s->peer, NULL, 0, LAT_DONE_TAG);
	for (int k = 0; k < 2 && !rc; k++) {
		rc = fsc_fabric_get(c->fab, s->win, s->peer, 0, s->rbuf, c->bytes, &rq);
		if (!rc)
			rc = fsc_fabric_wait(c->fab, &rq, 1);
	}
	return rc ? rc : fsc_fabric_send(c->fab, s->peer, NULL, 0, LAT_DONE_TAG);
}

static int lat_run(struct fsc_pctx *c, void *state, uint64_t iter)
{
	struct lat_state *s = state;
	struct fsc_req rq[2];
	int rc;

	if (s->rma == FSC_REQ_PUT)
		return lat_put(c, s, iter);
	if (s->rma == FSC_REQ_GET)
		return lat_get(c, s);
	if (c->rank == 0 && c->bytes <= LAT_PREPOST_MIN) {
		/* osu_latency's order: send, then receive */
		rc = fsc_fabric_send(c->fab, s->peer, s->sbuf, c->bytes, LAT_TAG);
		return rc ? rc : fsc_fabric_recv(c->fab, s->peer, s->rbuf, c->bytes, LAT_TAG);
	}
	if (c->rank == 0) {
		/* large: the reply's receive is posted first so it never waits
		 * in an unexpected queue */
		rc = fsc_fabric_irecv(c->fab, s->peer, s->rbuf, c->bytes, LAT_TAG, &rq[0]);
		if (!rc)
			rc = fsc_fabric_isend(c->fab, s->peer, s->sbuf, c->bytes, LAT_TAG, &rq[1]);
		if (rc) {
			fsc_fabric_cancel(c->fab, &rq[0]); /* the send was not posted */
			return rc;
		}
		return fsc_fabric_wait(c->fab, rq, 2);
	}
	rc = fsc_fabric_recv(c->fab, s->peer, s->rbuf, c->bytes, LAT_TAG);
	return rc ? rc : fsc_fabric_send(c->fab, s->peer, s->sbuf, c->bytes, LAT_TAG);
}

static int lat_check(struct fsc_pctx *c, void *state, uint64_t iter, uint64_t *wrong)
{
	struct lat_state *s = state;
	size_t off = lat_half(c, s, iter);
	int rc = fsc_fabric_to_host(c->fab, s->hr + off, s->rbuf + off, c->bytes);

	if (rc)
		return rc;
	if (s->rma == FSC_REQ_GET) /* rank 0 only: the peer's window is the source */
		*wrong = c->rank ? 0 : fsc_bytes_check(s->hr, c->bytes, c->seed, s->peer, 0, 0);
	else
		*wrong = fsc_bytes_check(s->hr + off, c->bytes, c->seed, s->peer, c->rank, iter);
	return 0;
}

static void lat_teardown(struct fsc_pctx *c, void *state)
{
	struct lat_state *s = state;

	if (!s)
		return;
	/* Collective, as setup's create; the runner calls teardown on every
	 * rank after agreeing. */
	fsc_fabric_win_free(s->win);
	fsc_fabric_host_free(c->fab, s->sbuf, s->hs);
	fsc_fabric_host_free(c->fab, s->rbuf, s->hr);
	fsc_fabric_buf_free(c->fab, s->sbuf);
	fsc_fabric_buf_free(c->fab, s->rbuf);
	free(s);
}

static const char *const lat_impls[] = {"pingpong", "put", "get", 0};

/* A send and a receive buffer on the two ranks that take part. */
static double lat_buf_bytes(const struct fsc_pctx *c)
{
	double halves = fsc_p2p_rma_impl(c) == FSC_REQ_PUT ? 2.0 : 1.0;

	return fsc_p2p_active(c) ? (1.0 + halves) * (double)c->bytes : 0;
}

const struct fsc_pattern_ops fsc_pattern_latency = {
        .name = "latency",
        .desc = "ping-pong between rank 0 and --peer; half round trip per iteration (put: "
                "notified puts; get: one get)",
        .caps = FSC_CAP_SEND_RECV,
        .min_ranks = 2,
        .flags = FSC_PAT_TIMED_BY_RANK0,
        .impls = lat_impls,
        .bw_formula = "latency = round trip / 2; algbw = bytes / latency; busbw = algbw",
        .time_scale = 0.5,
        .check_args = fsc_p2p_check_rma,
        .setup = lat_setup,
        .buf_bytes = lat_buf_bytes,
        .fill = lat_fill,
        .run = lat_run,
        .check = lat_check,
        .teardown = lat_teardown,
        .active = fsc_p2p_active,
};
