/* latency: ping-pong between rank 0 and --peer (osu_latency's method).
 *
 * One iteration = one round trip; the runner scales each sample by 1/2, so
 * the figures are half round trips ("one-way latency"), the full
 * distribution of them.  algbw = bytes / latency (a one-way rate; busbw
 * factor 1).  Data: each side sends seeded bytes (seed, src, dst, iter) and
 * checks what it received.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "p2p.h"
#include "reduce.h"

#define LAT_TAG 11
/* Up to this size rank 0 sends then receives; above, it pre-posts. */
#define LAT_PREPOST_MIN 4096

struct lat_state {
	int peer;
	unsigned char *sbuf, *rbuf;
};

static int lat_setup(struct fsc_pctx *c, void **state)
{
	struct lat_state *s = calloc(1, sizeof(*s));

	*state = s;
	if (!s)
		return -ENOMEM;
	s->peer = c->rank == 0 ? fsc_p2p_peer(c) : 0;
	if (!fsc_p2p_active(c))
		return 0;
	s->sbuf = fsc_fabric_buf_alloc(c->fab, c->bytes);
	s->rbuf = fsc_fabric_buf_alloc(c->fab, c->bytes);
	return s->sbuf && s->rbuf ? 0 : -ENOMEM;
}

static int lat_fill(struct fsc_pctx *c, void *state, uint64_t iter)
{
	struct lat_state *s = state;

	fsc_bytes_fill(s->sbuf, c->bytes, c->seed, c->rank, s->peer, iter);
	memset(s->rbuf, 0, c->bytes);
	return 0;
}

static int lat_run(struct fsc_pctx *c, void *state, uint64_t iter)
{
	struct lat_state *s = state;
	struct fsc_req rq[2];
	int rc;

	(void)iter;
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

	*wrong = fsc_bytes_check(s->rbuf, c->bytes, c->seed, s->peer, c->rank, iter);
	return 0;
}

static void lat_teardown(struct fsc_pctx *c, void *state)
{
	struct lat_state *s = state;

	if (!s)
		return;
	fsc_fabric_buf_free(c->fab, s->sbuf);
	fsc_fabric_buf_free(c->fab, s->rbuf);
	free(s);
}

static const char *const lat_impls[] = {"pingpong", 0};

/* A send and a receive buffer on the two ranks that take part. */
static double lat_buf_bytes(const struct fsc_pctx *c)
{
	return fsc_p2p_active(c) ? 2.0 * (double)c->bytes : 0;
}

const struct fsc_pattern_ops fsc_pattern_latency = {
        .name = "latency",
        .desc = "ping-pong between rank 0 and --peer; half round trip per iteration",
        .caps = FSC_CAP_SEND_RECV,
        .min_ranks = 2,
        .flags = FSC_PAT_TIMED_BY_RANK0,
        .impls = lat_impls,
        .bw_formula = "latency = round trip / 2; algbw = bytes / latency; busbw = algbw",
        .time_scale = 0.5,
        .check_args = fsc_p2p_check_args,
        .setup = lat_setup,
        .buf_bytes = lat_buf_bytes,
        .fill = lat_fill,
        .run = lat_run,
        .check = lat_check,
        .teardown = lat_teardown,
        .active = fsc_p2p_active,
};
