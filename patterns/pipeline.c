/* pipeline: the traffic of pipeline-parallel training.
 *
 * Layout.  P stages (--pipe-stages, 0 = one per rank) must divide the n
 * ranks; the ranks form C = n/P independent chains of P stages, all running
 * at once.  --pipe-layout block (default, rank order): chain c is ranks
 * c*P .. c*P+P-1, stage s of chain c is rank c*P+s.  --pipe-layout stride:
 * stage s of chain c is rank c + s*C, so with ranks placed host by host
 * consecutive stages sit on different hosts, as in Megatron-style grids.
 *
 * One iteration pushes M micro-batches (--pipe-microbatches) of `bytes`
 * (S) from the first stage to the last.  There is no compute: a stage
 * forwards a micro-batch as soon as it has received it, from one of two
 * receive slots, so micro-batch m+1 can arrive while m is being sent
 * (double buffering).  Only the first stage's sources and the last stage's
 * sinks have one slot per micro-batch (up to 64 MiB of slots, then they are
 * reused: verification then sees the last micro-batch of each slot).
 *
 * Schedules:
 *  - forward (--pipe-backward off): every stage runs F(0) .. F(M-1); then
 *    the last stage returns an empty flush token to the first, so that an
 *    iteration is the whole fill-stream-drain of a training step and
 *    iterations do not overlap (the token costs one small-message latency).
 *  - 1F1B (--pipe-backward on): after its forward pass a micro-batch flows
 *    back, last stage to first.  Stage s runs w = min(P-1-s, M) forward
 *    steps, then alternates F(w+i), B(i), then the remaining B steps
 *    (PipeDream-Flush's order).  The last stage sends B(m) right after
 *    receiving F(m); a middle stage forwards B(m) as soon as it has it.  The
 *    first stage's iteration ends with B(M-1), which is the flush.
 *  A receive is waited for only at its step of the schedule, so a stage
 *  that is blocked on one flow sees the other flow's arrival late, as a
 *  single-threaded training loop would.
 *
 * Bandwidth: algbw = M*S / t per chain (2*M*S with the backward flow: both
 * flows deliver M*S end to end); busbw = algbw (factor 1: the bytes a chain
 * delivers; every hop carries them once).
 *
 * Figures beyond the runner's (report(); all in the rank-0 record):
 *  - per stage, over the timed iterations (iter >= 1; the runner's
 *    verification and warm-up passes run iteration 0) and the stage's ranks
 *    in all chains: wait = time blocked in receives (the stage's idle time:
 *    with no compute, all of it is bubble), split into fill wait (for the
 *    first micro-batch of each flow, or the flush token: fill and drain)
 *    and stream wait (between micro-batches: starvation by a slower hop
 *    upstream); busy = the stage's iteration time minus its wait (time
 *    in sends: posting them, and waiting for the completion that a
 *    rendezvous protocol holds back until the receiver takes the data);
 *    delivered_GBps = S / the median gap between forward arrivals at the
 *    stage, which no hop can raise above the rate of the hops before it.
 *    These take two clock readings per receive and two per iteration, with
 *    the runner's clock (c->clock).
 *  - per hop, its own time per micro-batch t_h: measured in setup, one hop
 *    at a time (even hops, then odd hops), by the sending stage as the
 *    median round trip "S bytes there, 0 bytes back" minus the median round
 *    trip "0 bytes there and back" over 5 repetitions.  The latencies
 *    cancel whatever the two directions' speeds, so t_h = S / (the hop's
 *    bandwidth), from one clock: valid across hosts.  GBps = S / t_h.
 *  - ideal = (M + H - 1) * t_hop, the pipeline formula (M + P - 1) * t with
 *    the H hops a micro-batch crosses as the pipeline's stages of work
 *    (H = P - 1, or 2(P - 1) with the backward flow; with no compute the
 *    links are the only stages that take time), t_hop = the median t_h over
 *    every hop of every chain; efficiency = ideal / the mean iteration time
 *    (not clamped).  Latency, the flush and an unbalanced hop lower it: a
 *    chain of equal hops of link time x and latency L takes
 *    (M-1)x + H(x+L) (plus the token), (M+H-1)x only at L = 0.  For tiny
 *    S, t_h is lost in noise; a hop time <= 0 counts as unmeasured.
 *  - slowest_hop: the hop with the largest t_h.  slowest_stage: the (chain,
 *    stage) whose hops, in and out, both flows, exceed the fastest hop's
 *    time by most in sum (a slow rank slows every hop it touches; with few
 *    hops it may slow most of them, so the median is no reference), ties to
 *    the larger mean excess (an end stage has one hop per flow), then the
 *    lower stage; null when all hops take the same time.  A single slow
 *    link ties its two stages: slowest_hop names links, slowest_stage ranks.
 * Verification: micro-batch m of chain c in iteration `iter` carries the
 * stream fsc_bytes_fill(seed, first rank of c, m mod slots, iter) forward
 * and (seed, last rank of c, m mod slots, iter) backward; middle stages pass
 * bytes on unchanged; the last stage checks the forward flow and the first
 * stage the backward flow.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pattern.h"
#include "reduce.h"

#define PIPE_TAG_F 51
#define PIPE_TAG_B 52
#define PIPE_TAG_FLUSH 53
#define PIPE_TAG_CAL 54
#define PIPE_SLOT_BYTES ((size_t)64 << 20)
#define PIPE_CAL_REPS 5

/* --pipe-backward and --pipe-layout, in the order of their choices. */
enum pipe_backward { PIPE_BACKWARD_OFF, PIPE_BACKWARD_ON };
enum pipe_layout { PIPE_LAYOUT_BLOCK, PIPE_LAYOUT_STRIDE };

struct pipe_settings {
	int64_t stages, microbatches;
	enum pipe_backward backward;
	enum pipe_layout layout;
};

static const struct fsc_opt pipe_opts[] = {
        {"pipe-stages", 0, FSC_OPT_INT, "0",
         "pipeline stages P (0: one per rank); P must divide the ranks, which form ranks/P "
         "independent chains",
         0, 0, 1e6, FSC_AT_INT(struct pipe_settings, stages)},
        {"pipe-microbatches", 0, FSC_OPT_INT, "8", "micro-batches M per pipeline iteration", 0, 1,
         4096, FSC_AT_INT(struct pipe_settings, microbatches)},
        {"pipe-backward", 0, FSC_OPT_CHOICE, "off",
         "backward flow (last stage to first) after each micro-batch's forward pass, 1F1B order",
         "off|on", 0, 0, FSC_AT_CHOICE(struct pipe_settings, backward)},
        {"pipe-layout", 0, FSC_OPT_CHOICE, "block",
         "ranks of a chain: block (chain c = ranks c*P .. c*P+P-1) or stride (stage s of chain c "
         "= rank c + s*ranks/P)",
         "block|stride", 0, 0, FSC_AT_CHOICE(struct pipe_settings, layout)},
        {0, 0, 0, 0, 0, 0, 0, 0},
};

struct pipe_geom {
	int P, M, C; /* stages, micro-batches, chains */
	int backward, stride;
};

/* One rank's figures, gathered by report(). */
enum {
	PV_ITERS,   /* timed iterations accumulated */
	PV_ITER_NS, /* sums over them */
	PV_WAIT_NS,
	PV_FILL_NS,
	PV_FGAP_NS,  /* median forward arrival gap (ns), -1: none */
	PV_OWN_F_NS, /* own time of the hop to the next stage, -1: none */
	PV_OWN_B_NS, /* own time of the backward hop to the previous stage */
	PV_COUNT
};

struct pipe_state {
	struct pipe_geom g;
	int stage, chain;
	int prev, next, first, last; /* ranks; prev, next: -1 at the ends */
	size_t S, fslots, bslots;
	unsigned char *fbuf, *bbuf;                    /* forward / backward slots of S bytes */
	unsigned char *hf, *hb;                        /* their host images */
	struct fsc_req *fsend, *frecv, *bsend, *brecv; /* [M], by micro-batch */
	struct fsc_req flush;
	unsigned char token;
	/* the iteration in progress */
	int timing;
	uint64_t it_wait, it_fill, last_f;
	/* sums over the timed iterations */
	double fig[PV_COUNT];
	double *fgap; /* [M]: gap before forward arrival m */
};

static void pipe_geom(const struct fsc_pctx *c, struct pipe_geom *g)
{
	struct pipe_settings s = {0};

	fsc_config_fill(c->cfg, pipe_opts, &s, 0, 0);
	g->P = (int)s.stages;
	if (g->P == 0)
		g->P = c->size;
	g->M = (int)s.microbatches;
	g->C = g->P > 0 ? c->size / g->P : 0;
	g->backward = s.backward == PIPE_BACKWARD_ON;
	g->stride = s.layout == PIPE_LAYOUT_STRIDE;
}

static int pipe_rank(const struct pipe_geom *g, int chain, int stage)
{
	return g->stride ? chain + stage * g->C : chain * g->P + stage;
}

static int pipe_check_args(const struct fsc_pctx *c, char *err, size_t len)
{
	struct pipe_geom g;

	pipe_geom(c, &g);
	if (g.P < 2 || g.P > c->size) {
		snprintf(err, len,
		         "invalid value '%d' for --pipe-stages: expected 2 to %d (the ranks), or 0 "
		         "for one stage per rank",
		         g.P, c->size);
		return -EINVAL;
	}
	if (c->size % g.P) {
		snprintf(err, len,
		         "--pipe-stages %d does not divide the %d ranks: the ranks form ranks/P "
		         "chains of P stages",
		         g.P, c->size);
		return -EINVAL;
	}
	if (g.M < 1) {
		snprintf(err, len, "invalid value '%d' for --pipe-microbatches: expected >= 1",
		         g.M);
		return -EINVAL;
	}
	return 0;
}

/* ---- calibration of each hop's own time (setup, untimed) ---- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double median_u64(uint64_t *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_u64);
	return n % 2 ? (double)v[n / 2] : ((double)v[n / 2 - 1] + (double)v[n / 2]) / 2;
}

/* The sending end of a hop: t_h = median rtt(S there, 0 back) - median
 * rtt(0, 0).  An empty exchange first lines both ends up (on the virtual
 * clock it brings the receiver's time behind the sender's). */
static int cal_send(struct pipe_state *s, struct fsc_pctx *c, int peer, void *buf, double *own)
{
	uint64_t rt_s[PIPE_CAL_REPS], rt_0[PIPE_CAL_REPS], t0, t1, t2;
	struct fsc_fabric *f = c->fab;
	int rc;

	rc = fsc_fabric_send(f, peer, &s->token, 0, PIPE_TAG_CAL);
	if (!rc)
		rc = fsc_fabric_recv(f, peer, &s->token, 0, PIPE_TAG_CAL);
	for (int r = 0; r < PIPE_CAL_REPS && !rc; r++) {
		t0 = fsc_clock_now(&c->clock);
		rc = fsc_fabric_send(f, peer, buf, s->S, PIPE_TAG_CAL);
		if (!rc)
			rc = fsc_fabric_recv(f, peer, &s->token, 0, PIPE_TAG_CAL);
		t1 = fsc_clock_now(&c->clock);
		if (!rc)
			rc = fsc_fabric_send(f, peer, &s->token, 0, PIPE_TAG_CAL);
		if (!rc)
			rc = fsc_fabric_recv(f, peer, &s->token, 0, PIPE_TAG_CAL);
		t2 = fsc_clock_now(&c->clock);
		rt_s[r] = t1 - t0;
		rt_0[r] = t2 - t1;
	}
	if (!rc)
		*own = median_u64(rt_s, PIPE_CAL_REPS) - median_u64(rt_0, PIPE_CAL_REPS);
	return rc;
}

static int cal_recv(struct pipe_state *s, struct fsc_pctx *c, int peer, void *buf)
{
	struct fsc_fabric *f = c->fab;
	int rc;

	rc = fsc_fabric_recv(f, peer, &s->token, 0, PIPE_TAG_CAL);
	if (!rc)
		rc = fsc_fabric_send(f, peer, &s->token, 0, PIPE_TAG_CAL);
	for (int r = 0; r < PIPE_CAL_REPS && !rc; r++) {
		rc = fsc_fabric_recv(f, peer, buf, s->S, PIPE_TAG_CAL);
		if (!rc)
			rc = fsc_fabric_send(f, peer, &s->token, 0, PIPE_TAG_CAL);
		if (!rc)
			rc = fsc_fabric_recv(f, peer, &s->token, 0, PIPE_TAG_CAL);
		if (!rc)
			rc = fsc_fabric_send(f, peer, &s->token, 0, PIPE_TAG_CAL);
	}
	return rc;
}

/* Hop h joins stages h and h+1.  Phase ph measures the hops with
 * h % 2 == ph, so a rank is in at most one hop at a time; chains run side
 * by side.  Direction 0 is forward (stage h sends), 1 backward. */
static int pipe_calibrate(struct pipe_state *s, struct fsc_pctx *c)
{
	int P = s->g.P, st = s->stage, rc = 0;

	for (int dir = 0; dir < (s->g.backward ? 2 : 1) && !rc; dir++) {
		unsigned char *buf = dir ? s->bbuf : s->fbuf;

		for (int ph = 0; ph < 2 && !rc; ph++) {
			if (st < P - 1 && st % 2 == ph) /* lower end of hop st */
				rc = dir ? cal_recv(s, c, s->next, buf)
				         : cal_send(s, c, s->next, buf, &s->fig[PV_OWN_F_NS]);
			else if (st > 0 && (st - 1) % 2 == ph) /* upper end of hop st-1 */
				rc = dir ? cal_send(s, c, s->prev, buf, &s->fig[PV_OWN_B_NS])
				         : cal_recv(s, c, s->prev, buf);
		}
	}
	return rc;
}

/* ---- setup / fill / check / teardown ---- */

static int pipe_alloc(struct pipe_state *s, struct fsc_pctx *c)
{
	size_t M = (size_t)s->g.M, slots;

	/* Sources and sinks: one slot per micro-batch, up to 64 MiB. */
	slots = s->S ? PIPE_SLOT_BYTES / s->S : M;
	if (slots < 2)
		slots = 2;
	if (slots > M)
		slots = M;
	s->fslots = s->prev >= 0 && s->next >= 0 ? 2 : slots;
	s->bslots = !s->g.backward ? 0 : s->prev >= 0 && s->next >= 0 ? 2 : slots;
	s->fbuf = fsc_fabric_buf_alloc(c->fab, s->fslots * s->S);
	if (s->fbuf)
		s->hf = fsc_fabric_host_alloc(c->fab, s->fbuf, s->fslots * s->S);
	if (s->bslots) {
		s->bbuf = fsc_fabric_buf_alloc(c->fab, s->bslots * s->S);
		if (s->bbuf)
			s->hb = fsc_fabric_host_alloc(c->fab, s->bbuf, s->bslots * s->S);
	}
	s->fsend = calloc(M, sizeof(*s->fsend));
	s->frecv = calloc(M, sizeof(*s->frecv));
	s->bsend = calloc(M, sizeof(*s->bsend));
	s->brecv = calloc(M, sizeof(*s->brecv));
	s->fgap = calloc(M, sizeof(*s->fgap));
	if (s->fsend && s->frecv && s->bsend && s->brecv) {
		/* never posted: pipe_run's error path cancels whole arrays */
		fsc_fabric_reqs_init(s->fsend, M);
		fsc_fabric_reqs_init(s->frecv, M);
		fsc_fabric_reqs_init(s->bsend, M);
		fsc_fabric_reqs_init(s->brecv, M);
		fsc_fabric_reqs_init(&s->flush, 1);
	}
	if (!s->fbuf || !s->hf || (s->bslots && (!s->bbuf || !s->hb)) || !s->fsend || !s->frecv ||
	    !s->bsend || !s->brecv || !s->fgap) {
		fsc_error("pipeline: cannot allocate %zu + %zu slots of %zu bytes", s->fslots,
		          s->bslots, s->S);
		return -ENOMEM;
	}
	return 0;
}

static int pipe_setup(struct fsc_pctx *c, void **state)
{
	struct pipe_state *s = calloc(1, sizeof(*s));
	int rc;

	*state = s;
	if (!s)
		return -ENOMEM;
	pipe_geom(c, &s->g);
	s->S = c->bytes;
	/* find this rank's place */
	for (int ch = 0; ch < s->g.C; ch++)
		for (int st = 0; st < s->g.P; st++)
			if (pipe_rank(&s->g, ch, st) == c->rank) {
				s->chain = ch;
				s->stage = st;
			}
	s->prev = s->stage > 0 ? pipe_rank(&s->g, s->chain, s->stage - 1) : -1;
	s->next = s->stage < s->g.P - 1 ? pipe_rank(&s->g, s->chain, s->stage + 1) : -1;
	s->first = pipe_rank(&s->g, s->chain, 0);
	s->last = pipe_rank(&s->g, s->chain, s->g.P - 1);
	s->fig[PV_FGAP_NS] = s->fig[PV_OWN_F_NS] = s->fig[PV_OWN_B_NS] = -1;
	rc = pipe_alloc(s, c);
	/* every rank must be ready before hops are measured, or a peer whose
	 * set-up failed would leave this one waiting for its deadline */
	rc = fsc_boot_agree(c->boot, rc, 0);
	if (!rc)
		rc = pipe_calibrate(s, c);
	return rc;
}

static int pipe_fill(struct fsc_pctx *c, void *state, uint64_t iter)
{
	struct pipe_state *s = state;
	size_t S = s->S;
	int rc;

	memset(s->hf, 0, s->fslots * S);
	if (s->bbuf)
		memset(s->hb, 0, s->bslots * S);
	if (s->prev < 0)
		for (size_t k = 0; k < s->fslots; k++)
			fsc_bytes_fill(s->hf + k * S, S, c->seed, s->first, (int)k, iter);
	if (s->next < 0 && s->bbuf)
		for (size_t k = 0; k < s->bslots; k++)
			fsc_bytes_fill(s->hb + k * S, S, c->seed, s->last, (int)k, iter);
	rc = fsc_fabric_from_host(c->fab, s->fbuf, s->hf, s->fslots * S);
	if (!rc && s->bbuf)
		rc = fsc_fabric_from_host(c->fab, s->bbuf, s->hb, s->bslots * S);
	return rc;
}

static int pipe_check(struct fsc_pctx *c, void *state, uint64_t iter, uint64_t *wrong)
{
	struct pipe_state *s = state;
	size_t S = s->S;
	int rc = 0;

	*wrong = 0;
	if (s->next < 0)
		rc = fsc_fabric_to_host(c->fab, s->hf, s->fbuf, s->fslots * S);
	if (!rc && s->prev < 0 && s->bbuf)
		rc = fsc_fabric_to_host(c->fab, s->hb, s->bbuf, s->bslots * S);
	if (rc)
		return rc;
	if (s->next < 0)
		for (size_t k = 0; k < s->fslots; k++)
			*wrong +=
			        fsc_bytes_check(s->hf + k * S, S, c->seed, s->first, (int)k, iter);
	if (s->prev < 0 && s->bbuf)
		for (size_t k = 0; k < s->bslots; k++)
			*wrong += fsc_bytes_check(s->hb + k * S, S, c->seed, s->last, (int)k, iter);
	return 0;
}

static void pipe_teardown(struct fsc_pctx *c, void *state)
{
	struct pipe_state *s = state;

	if (!s)
		return;
	fsc_fabric_host_free(c->fab, s->fbuf, s->hf);
	fsc_fabric_host_free(c->fab, s->bbuf, s->hb);
	fsc_fabric_buf_free(c->fab, s->fbuf);
	fsc_fabric_buf_free(c->fab, s->bbuf);
	free(s->fsend);
	free(s->frecv);
	free(s->bsend);
	free(s->brecv);
	free(s->fgap);
	free(s);
}

/* ---- one iteration ---- */

/* Block on one receive; its wait counts as the stage's idle time. */
static int recv_wait(struct pipe_state *s, struct fsc_pctx *c, struct fsc_req *rq, int first,
                     uint64_t *at)
{
	uint64_t t0 = fsc_clock_now(&c->clock);
	int rc = fsc_fabric_wait(c->fab, rq, 1);

	*at = fsc_clock_now(&c->clock);
	s->it_wait += *at - t0;
	if (first)
		s->it_fill += *at - t0;
	return rc;
}

/* Forward step of micro-batch m on this stage.  A middle stage forwards
 * from slot m % 2, then reuses the slot of m - 1 (once that send is done)
 * for the receive of m + 1. */
static int step_f(struct pipe_state *s, struct fsc_pctx *c, int m)
{
	size_t S = s->S;
	uint64_t at;
	int rc;

	if (s->prev < 0)
		return fsc_fabric_isend(c->fab, s->next, s->fbuf + (size_t)m % s->fslots * S, S,
		                        PIPE_TAG_F, &s->fsend[m]);
	rc = recv_wait(s, c, &s->frecv[m], m == 0, &at);
	if (rc)
		return rc;
	if (m > 0 && s->timing)
		s->fgap[m] += (double)(at - s->last_f);
	s->last_f = at;
	if (s->next >= 0) {
		rc = fsc_fabric_isend(c->fab, s->next, s->fbuf + (size_t)m % s->fslots * S, S,
		                      PIPE_TAG_F, &s->fsend[m]);
		if (!rc && m > 0)
			rc = fsc_fabric_wait(c->fab, &s->fsend[m - 1], 1);
		if (rc)
			return rc;
	}
	if (m + 1 < s->g.M)
		rc = fsc_fabric_irecv(c->fab, s->prev, s->fbuf + (size_t)(m + 1) % s->fslots * S, S,
		                      PIPE_TAG_F, &s->frecv[m + 1]);
	return rc;
}

/* Backward step of micro-batch m: step_f mirrored (last stage sources). */
static int step_b(struct pipe_state *s, struct fsc_pctx *c, int m)
{
	size_t S = s->S;
	uint64_t at;
	int rc;

	if (s->next < 0)
		return fsc_fabric_isend(c->fab, s->prev, s->bbuf + (size_t)m % s->bslots * S, S,
		                        PIPE_TAG_B, &s->bsend[m]);
	rc = recv_wait(s, c, &s->brecv[m], m == 0, &at);
	if (rc)
		return rc;
	if (s->prev >= 0) {
		rc = fsc_fabric_isend(c->fab, s->prev, s->bbuf + (size_t)m % s->bslots * S, S,
		                      PIPE_TAG_B, &s->bsend[m]);
		if (!rc && m > 0)
			rc = fsc_fabric_wait(c->fab, &s->bsend[m - 1], 1);
		if (rc)
			return rc;
	}
	if (m + 1 < s->g.M)
		rc = fsc_fabric_irecv(c->fab, s->next, s->bbuf + (size_t)(m + 1) % s->bslots * S, S,
		                      PIPE_TAG_B, &s->brecv[m + 1]);
	return rc;
}

static int pipe_schedule(struct pipe_state *s, struct fsc_pctx *c)
{
	int M = s->g.M, w, rc = 0;

	if (!s->g.backward) {
		for (int m = 0; m < M && !rc; m++)
			rc = step_f(s, c, m);
		return rc;
	}
	/* 1F1B: warm-up forwards, steady F/B pairs, cool-down backwards */
	w = s->g.P - 1 - s->stage;
	if (w > M)
		w = M;
	for (int i = 0; i < w && !rc; i++)
		rc = step_f(s, c, i);
	for (int i = 0; i < M - w && !rc; i++) {
		rc = step_f(s, c, w + i);
		if (!rc)
			rc = step_b(s, c, i);
	}
	for (int i = M - w; i < M && !rc; i++)
		rc = step_b(s, c, i);
	return rc;
}

static int pipe_run(struct fsc_pctx *c, void *state, uint64_t iter)
{
	struct pipe_state *s = state;
	struct fsc_fabric *f = c->fab;
	int M = s->g.M, rc = 0;
	uint64_t t0, at;

	s->timing = iter > 0;
	s->it_wait = s->it_fill = 0;
	t0 = fsc_clock_now(&c->clock);
	if (s->prev >= 0)
		rc = fsc_fabric_irecv(f, s->prev, s->fbuf, s->S, PIPE_TAG_F, &s->frecv[0]);
	if (!rc && s->g.backward && s->next >= 0)
		rc = fsc_fabric_irecv(f, s->next, s->bbuf, s->S, PIPE_TAG_B, &s->brecv[0]);
	if (!rc && !s->g.backward && s->prev < 0)
		rc = fsc_fabric_irecv(f, s->last, &s->token, 0, PIPE_TAG_FLUSH, &s->flush);
	if (!rc)
		rc = pipe_schedule(s, c);
	if (!rc && !s->g.backward) {
		if (s->prev < 0)
			rc = recv_wait(s, c, &s->flush, 1, &at);
		else if (s->next < 0)
			rc = fsc_fabric_send(f, s->first, &s->token, 0, PIPE_TAG_FLUSH);
	}
	/* sends still in flight: all of a source's, the last of a relay's */
	if (!rc && s->prev < 0)
		rc = fsc_fabric_wait(f, s->fsend, (size_t)M);
	else if (!rc && s->next >= 0)
		rc = fsc_fabric_wait(f, &s->fsend[M - 1], 1);
	if (!rc && s->g.backward && s->next < 0)
		rc = fsc_fabric_wait(f, s->bsend, (size_t)M);
	else if (!rc && s->g.backward && s->prev >= 0)
		rc = fsc_fabric_wait(f, &s->bsend[M - 1], 1);
	if (rc) { /* nothing posted in this iteration may outlive it */
		fsc_fabric_cancel_all(f, s->fsend, (size_t)M);
		fsc_fabric_cancel_all(f, s->frecv, (size_t)M);
		fsc_fabric_cancel_all(f, s->bsend, (size_t)M);
		fsc_fabric_cancel_all(f, s->brecv, (size_t)M);
		fsc_fabric_cancel(f, &s->flush);
	}
	if (!rc && s->timing) {
		s->fig[PV_ITERS] += 1;
		s->fig[PV_ITER_NS] += (double)(fsc_clock_now(&c->clock) - t0);
		s->fig[PV_WAIT_NS] += (double)s->it_wait;
		s->fig[PV_FILL_NS] += (double)s->it_fill;
	}
	return rc;
}

/* ---- report ---- */

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median_dbl(double *v, size_t n)
{
	if (!n)
		return -1;
	qsort(v, n, sizeof(*v), cmp_dbl);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* S / t as GB/s (bytes per ns), null when t was not measured. */
static json_t *gbps(size_t S, double t_ns)
{
	return t_ns > 0 ? json_real((double)S / t_ns) : json_null();
}

static json_t *us_or_null(double ns, int ok)
{
	return ok ? json_real(ns / 1e3) : json_null();
}

struct pipe_view {
	const struct pipe_geom *g;
	const double *all; /* [size][PV_COUNT] */
	size_t S;
};

static const double *fig_of(const struct pipe_view *v, int chain, int stage)
{
	return v->all + (size_t)pipe_rank(v->g, chain, stage) * PV_COUNT;
}

static double per_iter(const double *f, int k)
{
	return f[PV_ITERS] > 0 ? f[k] / f[PV_ITERS] : 0;
}

static json_t *hop_json(const struct pipe_view *v, int chain, int from, int to, double t_ns)
{
	json_t *h = json_object();

	json_object_set_new(h, "chain", json_integer(chain));
	json_object_set_new(h, "from", json_integer(from));
	json_object_set_new(h, "to", json_integer(to));
	json_object_set_new(h, "from_rank", json_integer(pipe_rank(v->g, chain, from)));
	json_object_set_new(h, "to_rank", json_integer(pipe_rank(v->g, chain, to)));
	json_object_set_new(h, "t_us", us_or_null(t_ns, t_ns > 0));
	json_object_set_new(h, "GBps", gbps(v->S, t_ns));
	return h;
}

static json_t *stage_json(const struct pipe_view *v, int st)
{
	const struct pipe_geom *g = v->g;
	double wait = 0, wait_max = 0, fill = 0, iter = 0, own_in = 0, gap = 0;
	int n_in = 0, n_gap = 0;
	json_t *o = json_object(), *ranks = json_array();

	for (int ch = 0; ch < g->C; ch++) {
		const double *f = fig_of(v, ch, st);
		double w = per_iter(f, PV_WAIT_NS);

		json_array_append_new(ranks, json_integer(pipe_rank(g, ch, st)));
		wait += w;
		wait_max = w > wait_max ? w : wait_max;
		fill += per_iter(f, PV_FILL_NS);
		iter += per_iter(f, PV_ITER_NS);
		if (f[PV_FGAP_NS] > 0) {
			gap += f[PV_FGAP_NS];
			n_gap++;
		}
		if (st > 0 && fig_of(v, ch, st - 1)[PV_OWN_F_NS] > 0) {
			own_in += fig_of(v, ch, st - 1)[PV_OWN_F_NS];
			n_in++;
		}
	}
	json_object_set_new(o, "stage", json_integer(st));
	json_object_set_new(o, "ranks", ranks);
	json_object_set_new(o, "iter_us_mean", json_real(iter / g->C / 1e3));
	json_object_set_new(o, "wait_us_mean", json_real(wait / g->C / 1e3));
	json_object_set_new(o, "wait_us_max", json_real(wait_max / 1e3));
	json_object_set_new(o, "fill_wait_us_mean", json_real(fill / g->C / 1e3));
	json_object_set_new(o, "stream_wait_us_mean", json_real((wait - fill) / g->C / 1e3));
	json_object_set_new(o, "busy_us_mean", json_real((iter - wait) / g->C / 1e3));
	json_object_set_new(o, "hop_in_GBps", n_in ? gbps(v->S, own_in / n_in) : json_null());
	json_object_set_new(o, "delivered_GBps", n_gap ? gbps(v->S, gap / n_gap) : json_null());
	return o;
}

/* Own time of hop h of a chain (h joins stages h and h+1), dir 0 forward,
 * 1 backward; 0 when unmeasured. */
static double hop_ns(const struct pipe_view *v, int chain, int h, int dir)
{
	double t = dir ? fig_of(v, chain, h + 1)[PV_OWN_B_NS] : fig_of(v, chain, h)[PV_OWN_F_NS];

	return t > 0 ? t : 0;
}

/* The slowest stage: the (chain, stage) whose hops, in and out, both
 * flows, exceed the fastest hop (t_min) by most in sum; ties go to the
 * larger mean excess (an end stage has half the hops of a middle one), then
 * to the lower stage.  JSON null when no hop is slower than t_min. */
static json_t *slowest_stage(const struct pipe_view *v, double t_min)
{
	const struct pipe_geom *g = v->g;
	double best_sum = 0, best_mean = 0;
	int best_ch = -1, best_st = -1;
	json_t *o;

	for (int ch = 0; ch < g->C; ch++)
		for (int st = 0; st < g->P; st++) {
			double sum = 0, mean;
			int n = 0;

			for (int dir = 0; dir < (g->backward ? 2 : 1); dir++)
				for (int h = st - 1; h <= st; h++)
					if (h >= 0 && h < g->P - 1) {
						double t = hop_ns(v, ch, h, dir);

						sum += t > t_min ? t - t_min : 0;
						n++;
					}
			mean = n ? sum / n : 0;
			if (sum > best_sum || (sum == best_sum && sum > 0 && mean > best_mean)) {
				best_sum = sum;
				best_mean = mean;
				best_ch = ch;
				best_st = st;
			}
		}
	if (best_st < 0)
		return json_null();
	o = json_object();
	json_object_set_new(o, "chain", json_integer(best_ch));
	json_object_set_new(o, "stage", json_integer(best_st));
	json_object_set_new(o, "rank", json_integer(pipe_rank(g, best_ch, best_st)));
	json_object_set_new(o, "excess_us", json_real(best_sum / 1e3));
	return o;
}

static void pipe_report_json(const struct pipe_view *v, json_t *rec)
{
	const struct pipe_geom *g = v->g;
	int H = (g->P - 1) * (g->backward ? 2 : 1), nh = H * g->C, k = 0, slow = -1;
	double *t = calloc((size_t)nh, sizeof(*t)), slow_t = 0, t_hop, actual_us;
	json_t *stages = json_array(), *hops = json_array();

	if (!t) {
		fsc_error("pipeline: out of memory for the report");
		json_decref(stages);
		json_decref(hops);
		return;
	}
	for (int st = 0; st < g->P; st++)
		json_array_append_new(stages, stage_json(v, st));
	for (int ch = 0; ch < g->C; ch++)
		for (int h = 0; h < g->P - 1; h++)
			for (int dir = 0; dir < (g->backward ? 2 : 1); dir++) {
				double tn = hop_ns(v, ch, h, dir);

				json_array_append_new(hops, dir ? hop_json(v, ch, h + 1, h, tn)
				                                : hop_json(v, ch, h, h + 1, tn));
				if (tn > slow_t) {
					slow_t = tn;
					slow = k;
				}
				t[k++] = tn;
			}
	t_hop = median_dbl(t, (size_t)nh); /* sorts t */
	actual_us = json_number_value(json_object_get(json_object_get(rec, "time_us"), "mean"));
	json_object_set_new(rec, "pipe_stages", json_integer(g->P));
	json_object_set_new(rec, "microbatches", json_integer(g->M));
	json_object_set_new(rec, "chains", json_integer(g->C));
	json_object_set_new(rec, "layout", json_string(g->stride ? "stride" : "block"));
	json_object_set_new(rec, "schedule", json_string(g->backward ? "1F1B" : "forward+flush"));
	json_object_set_new(rec, "stages", stages);
	json_object_set_new(rec, "hops", hops);
	json_object_set_new(rec, "t_hop_us", us_or_null(t_hop, t_hop > 0));
	json_object_set_new(rec, "ideal_us", us_or_null((g->M + H - 1) * t_hop, t_hop > 0));
	json_object_set_new(rec, "ideal_formula",
	                    json_string("(M + H - 1) * t_hop; H = hops crossed per micro-batch "
	                                "(P-1, 2(P-1) with backward); t_hop = median own hop "
	                                "time = rtt(S there, 0 back) - rtt(0, 0)"));
	json_object_set_new(rec, "efficiency",
	                    t_hop > 0 && actual_us > 0
	                            ? json_real((g->M + H - 1) * t_hop / 1e3 / actual_us)
	                            : json_null());
	if (slow >= 0)
		json_object_set(rec, "slowest_hop", json_array_get(hops, (size_t)slow));
	else
		json_object_set_new(rec, "slowest_hop", json_null());
	json_object_set_new(rec, "slowest_stage", slowest_stage(v, t[0]));
	free(t);
}

static int pipe_report(struct fsc_pctx *c, void *state, json_t *rec)
{
	struct pipe_state *s = state;
	double mine[PV_COUNT], *all, *gaps;
	size_t ng = 0;
	int rc;

	memcpy(mine, s->fig, sizeof(mine));
	all = calloc((size_t)c->size * PV_COUNT, sizeof(*all));
	gaps = malloc((size_t)s->g.M * sizeof(*gaps));
	rc = all && gaps ? 0 : -ENOMEM;
	if (rc)
		fsc_error("pipeline: out of memory for the report");
	/* median over micro-batches of the mean gap before each arrival */
	for (int m = 1; !rc && s->prev >= 0 && m < s->g.M && s->fig[PV_ITERS] > 0; m++)
		gaps[ng++] = s->fgap[m] / s->fig[PV_ITERS];
	mine[PV_FGAP_NS] = ng ? median_dbl(gaps, ng) : -1;
	/* agree first: a rank without memory must not leave the others in
	 * the gather */
	rc = fsc_boot_agree(c->boot, rc, 0);
	if (!rc)
		rc = fsc_boot_allgather(c->boot, mine, all, sizeof(mine));
	if (!rc && rec) {
		struct pipe_view v = {&s->g, all, s->S};

		pipe_report_json(&v, rec);
	}
	free(gaps);
	free(all);
	return rc;
}

static double pipe_bytes(const struct fsc_pctx *c)
{
	struct pipe_geom g;

	pipe_geom(c, &g);
	return (double)g.M * (double)c->bytes * (g.backward ? 2 : 1);
}

static const char *const pipe_impls[] = {"chain", 0};

/* Forward (and, with --pipe-backward on, backward) slots of `bytes`:
 * min(M, max(2, 64 MiB / bytes)) at a chain's ends, 2 in between (as
 * pipe_alloc allocates); the ends' count bounds every rank. */
static double pipe_buf_bytes(const struct fsc_pctx *c)
{
	struct pipe_geom g;
	size_t M, slots;

	pipe_geom(c, &g);
	M = g.M > 0 ? (size_t)g.M : 1;
	slots = c->bytes ? PIPE_SLOT_BYTES / c->bytes : M;
	if (slots < 2)
		slots = 2;
	if (slots > M)
		slots = M;
	return (double)slots * (double)c->bytes * (g.backward ? 2 : 1);
}

const struct fsc_pattern_ops fsc_pattern_pipeline = {
        .name = "pipeline",
        .desc = "micro-batches through chains of stages (pipeline parallelism), forward or 1F1B",
        .caps = FSC_CAP_SEND_RECV,
        .min_ranks = 2,
        .impls = pipe_impls,
        .opts = pipe_opts,
        .bw_formula = "algbw = M*bytes/t per chain (2*M*bytes with --pipe-backward on); "
                      "busbw = algbw",
        .algbw_bytes = pipe_bytes,
        .check_args = pipe_check_args,
        .setup = pipe_setup,
        .buf_bytes = pipe_buf_bytes,
        .fill = pipe_fill,
        .run = pipe_run,
        .check = pipe_check,
        .teardown = pipe_teardown,
        .report = pipe_report,
};
