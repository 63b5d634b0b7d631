/* pairs: all-pairs bandwidth and latency matrices, and who is to blame.
 *
 * Every ordered pair of "nodes" is measured: a node is a host (its first
 * rank carries the traffic, the others wait) or, with --pairs-per-rank or
 * when the job has a single host, a rank.  The method, thresholds and their
 * reasons are in PAIRS.md beside this file; in short:
 *
 *  - Rounds come from a pair schedule (src/schedule.h): concurrent (circle
 *    method, n-1 or n rounds), serial (one pair at a time) or sample:K.
 *    Nothing is tabulated: each node asks for its partner per round.
 *  - In a round, both nodes of a pair {a, b} (a < b) measure, in order:
 *      bandwidth a->b, bandwidth b->a  (osu_bw's method: --pairs-window
 *          messages of --pairs-bw-size in flight, then a 4-byte ack, so a
 *          repeat covers the delivery of the whole window;
 *          bw = window*bytes / t in GB/s = bytes/ns; the cell is the median
 *          over --pairs-repeats, with min and max);
 *      latency a->b, latency b->a      (ping-pong started by the first
 *          node; samples are half round trips; the cell is p50, with p99).
 *    Each direction starts with one untimed window or ping-pong of seeded
 *    data (fsc_bytes_fill) that the receiver checks: the verification pass,
 *    which also warms the path up.  Tags are specific to the step (round or
 *    re-test) so messages of different steps can never match.
 *  - Ranks with nothing to measure wait in the bootstrap's collectives,
 *    which sleep instead of spinning (src/boot.h).
 *  - After every step the sender's/initiator's figures are gathered to rank
 *    0 (one fixed-size struct per rank), which fills the matrices and
 *    rewrites the results file: a killed run keeps its finished rounds.
 *  - Attribution (src/analysis.h): median polish on each matrix separates a
 *    slow node (row and/or column) from a bad link (one cell, one
 *    direction).  The matrix is a screen, the serial re-test the
 *    instrument: every cell and node past the ratio thresholds is a
 *    candidate, whatever the matrix's noise says of it; the significant
 *    ones (min_sigmas out) are all re-tested, then the worst of the rest,
 *    within a budget that grows with the number of candidates
 *    (retest_budget).  The noise ranks candidates; it never decides
 *    whether an obviously slow cell is looked at, because on a shared
 *    machine healthy cells spread over a factor of 20 and would hide a
 *    0.01x link from a significance test (a 5-host run with one link
 *    throttled to 1% raised no suspect at all before).
 *    Suspects are re-measured serially --pairs-confirm times,
 *    each time together with up to two healthy reference pairs measured the
 *    same way; a re-test compares best repeats (bandwidth max, latency
 *    min), and an anomaly is reported only when a majority of its re-tests
 *    are still beyond the threshold relative to that reference.
 *
 * A ping-pong measures a round trip: a slow direction slows both latency
 * cells of the pair alike.  Two confirmed latency links a->b and b->a are
 * therefore reported as one "a<->b" anomaly with direction "both".
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analysis.h"
#include "boot.h"
#include "err.h"
#include "log.h"
#include "reduce.h"
#include "results.h"
#include "runner.h"
#include "schedule.h"
#include "stats.h"

/* Tags: PAIRS_TAG_BASE + (step % PAIRS_TAG_STEPS) * 8 + 2 * phase (+1 for
 * the ack or pong).  The largest is 1000 + 2047 * 8 + 7 = 17383, inside
 * MPI's guaranteed tag range (0..32767). */
#define PAIRS_TAG_BASE 1000
#define PAIRS_TAG_STEPS 2048
/* Receive memory for a bandwidth window, as in patterns/bandwidth.c. */
#define PAIRS_SLOT_BYTES (64u << 20)
/* Untimed ping-pongs after the verification one, before timing. */
#define PAIRS_LAT_WARMUP 10
/* Most timed windows of one bandwidth cell under --pairs-cell-time. */
#define PAIRS_CELL_MAX_REPEATS 1000
/* Suspects kept per matrix (the most severe first), and links found by
 * the re-tests of node suspects that were not confirmed. */
#define PAIRS_MAX_SUSPECTS 64
#define PAIRS_MAX_DERIVED 64
/* Links re-measured per suspect node, and healthy reference pairs per
 * re-test pass. */
#define PAIRS_NODE_RETESTS 8
#define PAIRS_REF_PAIRS 2
/* Worst links on the terminal; matrices printed up to this many nodes. */
#define PAIRS_WORST 5
#define PAIRS_PRINT_MATRIX 8
/* Large matrices rewrite the results file at most this often (ns). */
#define PAIRS_STREAM_BIG_N 64
#define PAIRS_STREAM_NS 2000000000ull

#define LABEL_MAX (FSC_HOST_MAX + 16)

static const struct fsc_opt pairs_opts[] = {
        {"pairs-schedule", 0, FSC_OPT_STRING, "concurrent",
         "pair schedule: concurrent (1-factorisation: n-1 rounds of disjoint pairs, n for odd n), "
         "serial (one pair at a time, no contention), sample:K (K random rounds)",
         0, 0, 0},
        {"pairs-bw-size", 0, FSC_OPT_SIZE, "1M", "message size of the bandwidth stream", 0, 1,
         1073741824.0},
        {"pairs-lat-size", 0, FSC_OPT_SIZE, "8", "message size of the latency ping-pong", 0, 1,
         1073741824.0},
        {"pairs-window", 0, FSC_OPT_INT, "16", "bandwidth messages in flight per repeat", 0, 1,
         4096},
        {"pairs-repeats", 0, FSC_OPT_INT, "5",
         "timed bandwidth windows per cell (cell = median; min and max kept); the fewest when "
         "--pairs-cell-time asks for more",
         0, 1, 100000},
        {"pairs-cell-time", 0, FSC_OPT_TIME, "20ms",
         "least timed duration of a bandwidth cell: more windows (up to 1000) when they are "
         "shorter, so a cell outlasts scheduler slices; 0: exactly --pairs-repeats",
         0, 0, 3600e9},
        {"pairs-lat-iters", 0, FSC_OPT_INT, "200",
         "timed ping-pongs per latency cell (cell = p50; p99 kept)", 0, 1, 10000000},
        {"pairs-per-rank", 0, FSC_OPT_FLAG, 0,
         "one matrix row per rank (default: per host, its first rank carries the traffic)", 0, 0,
         0},
        {"pairs-bw-ratio", 0, FSC_OPT_DOUBLE, "0.5",
         "a node or link is slow below this x the matrix's robust median bandwidth", 0, 0.01, 0.99},
        {"pairs-lat-ratio", 0, FSC_OPT_DOUBLE, "2",
         "a node or link is slow above this x the matrix's robust median latency", 0, 1.01, 1000},
        {"pairs-confirm", 0, FSC_OPT_INT, "2",
         "serial re-measurements of each suspect; confirmed when a majority is still bad", 0, 1,
         100},
        {"pairs-csv", 0, FSC_OPT_STRING, 0,
         "CSV matrices as <prefix>.<fabric>.bw.csv and .lat.csv (default prefix: the results "
         "path without .json; 'none': no CSV)",
         0, 0, 0},
        {"fail-on-anomaly", 0, FSC_OPT_FLAG, 0,
         "count a confirmed anomaly as a failure (non-zero exit code)", 0, 0, 0},
        {0, 0, 0, 0, 0, 0, 0, 0},
};

struct pairs_opt {
	const char *schedule;
	size_t bw_bytes, lat_bytes, window;
	uint64_t repeats, lat_iters, cell_ns;
	int per_rank, confirm, fail_on_anomaly;
	double bw_ratio, lat_ratio;
	const char *csv;
};

/* What one rank measured in one step, as the sender (bandwidth) and the
 * initiator (latency) towards its partner: cell [node][partner].  Gathered
 * to rank 0 after every step; fixed size, same layout on every rank. */
struct pairs_msg {
	int32_t node;                     /* -1: this rank carries no traffic */
	int32_t partner;                  /* -1: idle in this step */
	double bw_med, bw_min, bw_max;    /* GB/s */
	double lat_min, lat_p50, lat_p99; /* us */
	uint64_t wrong;                   /* bytes received wrong (verification) */
	uint64_t windows;                 /* timed bandwidth windows of the cell */
};

/* One anomaly under re-test. */
struct pairs_anom {
	struct fsc_anomaly a;
	int hib;     /* 1: bandwidth, 0: latency */
	int both;    /* latency link merged with its reverse direction */
	int dropped; /* merged into its reverse */
	int confirmed;
	int partners[PAIRS_NODE_RETESTS]; /* node: the links re-measured */
	int npartners;
	double *values, *refs; /* [confirm]: re-measured value, reference */
	/* node: each re-measured link judged on its own, [partner][0: node ->
	 * partner, 1: partner -> node], and its values, [partner][dir][pass] */
	struct fsc_anomaly links[PAIRS_NODE_RETESTS][2];
	double *link_values;
	char text[512];
};

struct pairs_state {
	struct pairs_opt o;
	struct fsc_runner *r;
	struct fsc_pctx *c;
	struct fsc_boot *b;
	int n;       /* nodes */
	int my_node; /* this rank's node, -1 if it carries no traffic */
	int per_rank;
	int *leader;              /* [n]: the rank of each node */
	char (*label)[LABEL_MAX]; /* [n] */
	const char **labelp;      /* [n] */
	uint64_t step;            /* steps so far (same on every rank) */

	/* buffers (nodes only) */
	unsigned char *sbuf, *rbuf, *lsbuf, *lrbuf;
	uint32_t *ack;
	size_t slots;
	struct fsc_req *reqs;  /* window */
	double *samples, *tmp; /* max(repeats, lat_iters) */

	struct pairs_msg *all; /* [size]: the gathered step */

	/* rank 0 */
	double *bw, *bw_min, *bw_max, *lat, *lat99; /* n*n, NaN: not measured */
	uint64_t wrong;
	size_t candidates[2];      /* past the thresholds: [0] latency, [1] bandwidth */
	uint64_t win_min, win_max; /* timed windows per bandwidth cell, over the matrix */
	json_t *rec;
	uint64_t last_write_ns;
};

/* ---- options and nodes ---- */

static void opt_read(struct pairs_opt *o, const struct fsc_config *cfg)
{
	const char *csv = fsc_cfg_str(cfg, "pairs-csv");

	o->schedule = fsc_cfg_str(cfg, "pairs-schedule");
	o->bw_bytes = (size_t)fsc_cfg_size(cfg, "pairs-bw-size");
	o->lat_bytes = (size_t)fsc_cfg_size(cfg, "pairs-lat-size");
	o->window = (size_t)fsc_cfg_int(cfg, "pairs-window");
	o->repeats = (uint64_t)fsc_cfg_int(cfg, "pairs-repeats");
	o->lat_iters = (uint64_t)fsc_cfg_int(cfg, "pairs-lat-iters");
	o->cell_ns = fsc_cfg_time_ns(cfg, "pairs-cell-time");
	o->per_rank = fsc_cfg_flag(cfg, "pairs-per-rank");
	o->bw_ratio = fsc_cfg_double(cfg, "pairs-bw-ratio");
	o->lat_ratio = fsc_cfg_double(cfg, "pairs-lat-ratio");
	o->confirm = (int)fsc_cfg_int(cfg, "pairs-confirm");
	o->csv = csv;
	o->fail_on_anomaly = fsc_cfg_flag(cfg, "fail-on-anomaly");
	if (!o->schedule)
		o->schedule = "concurrent";
	if (!o->bw_bytes)
		o->bw_bytes = 1;
	if (!o->window)
		o->window = 1;
	if (!o->repeats)
		o->repeats = 1;
	if (!o->lat_iters)
		o->lat_iters = 1;
	if (o->confirm < 1)
		o->confirm = 1;
}

/* Per rank when asked, or when there is nothing to tell hosts apart by. */
static int pairs_per_rank(const struct fsc_boot *b, int asked)
{
	return asked || !b->hosts || !b->rank_host || b->nhosts < 2;
}

static int pairs_nodes(const struct fsc_boot *b, int per_rank)
{
	return pairs_per_rank(b, per_rank) ? b->size : b->nhosts;
}

static int pairs_check_args(const struct fsc_pctx *c, char *err, size_t len)
{
	struct pairs_opt o;
	struct fsc_sched s;
	int n;

	if (!c->cfg || !c->boot) {
		snprintf(err, len, "pairs: needs a configuration and a bootstrap");
		return -EINVAL;
	}
	opt_read(&o, c->cfg);
	n = pairs_nodes(c->boot, o.per_rank);
	if (n < 2) {
		snprintf(err, len, "pattern pairs needs at least 2 nodes; this run has %d", n);
		return -EINVAL;
	}
	if (fsc_sched_init(&s, o.schedule, n, 1, err, len)) {
		char why[256];

		snprintf(why, sizeof(why), "%s", err);
		snprintf(err, len, "invalid value '%s' for --pairs-schedule: %s", o.schedule, why);
		return -EINVAL;
	}
	return 0;
}

static int nodes_build(struct pairs_state *s)
{
	struct fsc_boot *b = s->b;

	s->per_rank = pairs_per_rank(b, s->o.per_rank);
	s->n = pairs_nodes(b, s->o.per_rank);
	s->leader = calloc((size_t)s->n, sizeof(*s->leader));
	s->label = calloc((size_t)s->n, sizeof(*s->label));
	s->labelp = calloc((size_t)s->n, sizeof(*s->labelp));
	if (!s->leader || !s->label || !s->labelp)
		return -ENOMEM;
	if (s->per_rank) {
		for (int i = 0; i < s->n; i++) {
			s->leader[i] = i;
			if (b->hosts)
				snprintf(s->label[i], LABEL_MAX, "%s/r%d", b->hosts[i], i);
			else
				snprintf(s->label[i], LABEL_MAX, "r%d", i);
		}
		s->my_node = b->rank;
	} else {
		for (int i = 0; i < s->n; i++)
			s->leader[i] = -1;
		/* The host's first rank (local rank 0) carries its traffic. */
		for (int q = b->size - 1; q >= 0; q--)
			s->leader[b->rank_host[q]] = q;
		for (int i = 0; i < s->n; i++)
			snprintf(s->label[i], LABEL_MAX, "%s", b->hosts[s->leader[i]]);
		s->my_node = s->leader[b->host_index] == b->rank ? b->host_index : -1;
	}
	for (int i = 0; i < s->n; i++)
		s->labelp[i] = s->label[i];
	return 0;
}

static int buffers_setup(struct pairs_state *s)
{
	struct fsc_fabric *f = s->c->fab;
	size_t ns = s->o.repeats > s->o.lat_iters ? s->o.repeats : s->o.lat_iters;

	if (s->o.cell_ns && ns < PAIRS_CELL_MAX_REPEATS)
		ns = PAIRS_CELL_MAX_REPEATS;

	s->all = calloc((size_t)s->b->size, sizeof(*s->all));
	if (!s->all)
		return -ENOMEM;
	if (s->my_node < 0)
		return 0;
	s->slots = PAIRS_SLOT_BYTES / s->o.bw_bytes;
	if (s->slots < 1)
		s->slots = 1;
	if (s->slots > s->o.window)
		s->slots = s->o.window;
	s->sbuf = malloc(s->o.bw_bytes);
	s->rbuf = calloc(s->slots, s->o.bw_bytes);
	s->lsbuf = calloc(1, s->o.lat_bytes);
	s->lrbuf = calloc(1, s->o.lat_bytes);
	s->ack = calloc(16, sizeof(*s->ack));
	s->reqs = calloc(s->o.window, sizeof(*s->reqs));
	s->samples = calloc(ns, sizeof(*s->samples));
	s->tmp = calloc(ns, sizeof(*s->tmp));
	if (!s->sbuf || !s->rbuf || !s->lsbuf || !s->lrbuf || !s->ack || !s->reqs || !s->samples ||
	    !s->tmp) {
		fsc_error("pairs: out of memory for %zu B x %zu receive slots", s->o.bw_bytes,
		          s->slots);
		return -ENOMEM;
	}
	memset(s->sbuf, 0, s->o.bw_bytes);
	if (fsc_fabric_mem_reg(f, s->sbuf, s->o.bw_bytes) ||
	    fsc_fabric_mem_reg(f, s->rbuf, s->slots * s->o.bw_bytes) ||
	    fsc_fabric_mem_reg(f, s->lsbuf, s->o.lat_bytes) ||
	    fsc_fabric_mem_reg(f, s->lrbuf, s->o.lat_bytes) ||
	    fsc_fabric_mem_reg(f, s->ack, 16 * sizeof(*s->ack)))
		return -EIO;
	return 0;
}

static void pairs_state_free(struct pairs_state *s)
{
	struct fsc_fabric *f = s->c ? s->c->fab : 0;

	if (f) {
		if (s->sbuf)
			fsc_fabric_mem_dereg(f, s->sbuf);
		if (s->rbuf)
			fsc_fabric_mem_dereg(f, s->rbuf);
		if (s->lsbuf)
			fsc_fabric_mem_dereg(f, s->lsbuf);
		if (s->lrbuf)
			fsc_fabric_mem_dereg(f, s->lrbuf);
		if (s->ack)
			fsc_fabric_mem_dereg(f, s->ack);
	}
	free(s->sbuf);
	free(s->rbuf);
	free(s->lsbuf);
	free(s->lrbuf);
	free(s->ack);
	free(s->reqs);
	free(s->samples);
	free(s->tmp);
	free(s->all);
	free(s->bw);
	free(s->bw_min);
	free(s->bw_max);
	free(s->lat);
	free(s->lat99);
	free(s->leader);
	free(s->label);
	free(s->labelp);
	json_decref(s->rec);
}

/* ---- measuring one pair ---- */

struct pairs_xfer {
	struct pairs_state *s;
	int peer;   /* fabric rank of the other side */
	int active; /* sender (bandwidth) or initiator (latency) */
	int tag;    /* data or ping; tag + 1: ack or pong */
};

/* One bandwidth window, without its ack. */
static int bw_window(struct fsc_pctx *c, struct pairs_xfer *x)
{
	struct pairs_state *s = x->s;
	size_t bytes = s->o.bw_bytes, n = 0;
	int rc = 0;

	for (size_t k = 0; k < s->o.window && !rc; k++) {
		if (x->active)
			rc = fsc_fabric_isend(c->fab, x->peer, s->sbuf, bytes, x->tag,
			                      &s->reqs[n++]);
		else
			rc = fsc_fabric_irecv(c->fab, x->peer, s->rbuf + (k % s->slots) * bytes,
			                      bytes, x->tag, &s->reqs[n++]);
	}
	if (rc) { /* a post failed: withdraw the ones before it */
		fsc_fabric_cancel_all(c->fab, s->reqs, n);
		return rc;
	}
	return fsc_fabric_wait(c->fab, s->reqs, n);
}

/* The 4-byte ack that ends a window, receiver to sender. */
static int bw_ack(struct fsc_pctx *c, struct pairs_xfer *x)
{
	struct pairs_state *s = x->s;

	if (x->active)
		return fsc_fabric_recv(c->fab, x->peer, s->ack, sizeof(*s->ack), x->tag + 1);
	return fsc_fabric_send(c->fab, x->peer, s->ack, sizeof(*s->ack), x->tag + 1);
}

/* One bandwidth repeat: the window, then the ack. */
static int bw_body(struct fsc_pctx *c, void *arg, uint64_t iter)
{
	int rc = bw_window(c, arg);

	(void)iter;
	return rc ? rc : bw_ack(c, arg);
}

/* Timed windows of a cell: --pairs-repeats, or under --pairs-cell-time as
 * many as fill that time at the pace of the verification window (t_ns),
 * within [repeats, PAIRS_CELL_MAX_REPEATS].  A slow link gets few long
 * windows and a fast one many short ones, so every cell lasts about as
 * long and none is shorter than a scheduler slice. */
static uint64_t cell_repeats(const struct pairs_opt *o, uint64_t t_ns)
{
	uint64_t n;

	if (!o->cell_ns)
		return o->repeats;
	n = t_ns ? (o->cell_ns + t_ns - 1) / t_ns : PAIRS_CELL_MAX_REPEATS;
	if (n > PAIRS_CELL_MAX_REPEATS)
		n = PAIRS_CELL_MAX_REPEATS;
	return n < o->repeats ? o->repeats : n;
}

/* One round trip. */
static int lat_body(struct fsc_pctx *c, void *arg, uint64_t iter)
{
	struct pairs_xfer *x = arg;
	struct pairs_state *s = x->s;
	struct fsc_req rq[2];
	int rc;

	(void)iter;
	if (x->active) {
		rc = fsc_fabric_irecv(c->fab, x->peer, s->lrbuf, s->o.lat_bytes, x->tag + 1,
		                      &rq[0]);
		if (!rc)
			rc = fsc_fabric_isend(c->fab, x->peer, s->lsbuf, s->o.lat_bytes, x->tag,
			                      &rq[1]);
		if (rc) {
			fsc_fabric_cancel(c->fab, &rq[0]); /* the send was not posted */
			return rc;
		}
		return fsc_fabric_wait(c->fab, rq, 2);
	}
	rc = fsc_fabric_recv(c->fab, x->peer, s->lrbuf, s->o.lat_bytes, x->tag);
	return rc ? rc : fsc_fabric_send(c->fab, x->peer, s->lsbuf, s->o.lat_bytes, x->tag + 1);
}

/* Bandwidth in one direction: a verification window (untimed, checked by
 * the receiver), then the timed repeats; the sender keeps the figures. */
static int phase_bw(struct pairs_state *s, int peer, int sending, int tag, uint64_t data_iter,
                    struct pairs_msg *m)
{
	struct fsc_pctx *c = s->c;
	struct pairs_xfer x = {s, peer, sending, tag};
	int src = sending ? c->rank : peer, dst = sending ? peer : c->rank;
	double bytes = (double)s->o.window * (double)s->o.bw_bytes;
	struct fsc_clock clk = fsc_runner_clock(s->r, c->fab);
	uint64_t nrep, t0;
	int rc;

	if (sending)
		fsc_bytes_fill(s->sbuf, s->o.bw_bytes, c->seed, src, dst, data_iter);
	else
		memset(s->rbuf, 0, s->slots * s->o.bw_bytes);
	/* The verification window; its ack carries the receiver's count of
	 * timed windows, so both sides loop the same number of times. */
	t0 = fsc_clock_now(&clk);
	rc = bw_window(c, &x);
	if (!rc && !sending)
		s->ack[0] = (uint32_t)cell_repeats(&s->o, fsc_clock_now(&clk) - t0);
	if (!rc)
		rc = bw_ack(c, &x);
	if (rc)
		return rc;
	nrep = s->ack[0];
	if (nrep < s->o.repeats || nrep > (s->o.cell_ns ? PAIRS_CELL_MAX_REPEATS : s->o.repeats)) {
		fsc_error("pairs: rank %d announced %llu timed windows, expected %llu..%d", peer,
		          (unsigned long long)nrep, (unsigned long long)s->o.repeats,
		          s->o.cell_ns ? PAIRS_CELL_MAX_REPEATS : (int)s->o.repeats);
		return -EPROTO;
	}
	if (!sending)
		for (size_t k = 0; k < s->slots; k++)
			m->wrong += fsc_bytes_check(s->rbuf + k * s->o.bw_bytes, s->o.bw_bytes,
			                            c->seed, src, dst, data_iter);
	rc = fsc_runner_time(s->r, c, bw_body, &x, nrep, 1.0, s->samples);
	if (rc || !sending)
		return rc;
	/* bytes per ns == GB/s; a zero duration (impossible on a real clock)
	 * is read as 1 ns so that the value stays finite. */
	for (uint64_t k = 0; k < nrep; k++)
		s->tmp[k] = bytes / fmax(s->samples[k], 1.0);
	m->bw_min = m->bw_max = s->tmp[0];
	for (uint64_t k = 1; k < nrep; k++) {
		m->bw_min = fmin(m->bw_min, s->tmp[k]);
		m->bw_max = fmax(m->bw_max, s->tmp[k]);
	}
	m->bw_med = fsc_median(s->tmp, nrep);
	m->windows = nrep;
	return 0;
}

/* Latency started by one side: a verification round trip (both sides
 * check what they received), a short warm-up, then the timed round
 * trips; the initiator keeps p50 and p99 of the half round trips. */
static int phase_lat(struct pairs_state *s, int peer, int initiating, int tag, uint64_t data_iter,
                     struct pairs_msg *m)
{
	struct fsc_pctx *c = s->c;
	struct pairs_xfer x = {s, peer, initiating, tag};
	struct fsc_stats st;
	int rc;

	fsc_bytes_fill(s->lsbuf, s->o.lat_bytes, c->seed, c->rank, peer, data_iter);
	memset(s->lrbuf, 0, s->o.lat_bytes);
	rc = lat_body(c, &x, 0);
	if (rc)
		return rc;
	m->wrong += fsc_bytes_check(s->lrbuf, s->o.lat_bytes, c->seed, peer, c->rank, data_iter);
	for (int k = 0; k < PAIRS_LAT_WARMUP && !rc; k++)
		rc = lat_body(c, &x, 0);
	if (!rc)
		rc = fsc_runner_time(s->r, c, lat_body, &x, s->o.lat_iters, 0.5, s->samples);
	if (rc || !initiating)
		return rc;
	rc = fsc_stats_compute(s->samples, s->o.lat_iters, &st);
	if (rc) {
		fsc_error("pairs: latency samples to rank %d are not numbers", peer);
		return rc;
	}
	m->lat_min = st.min / 1e3;
	m->lat_p50 = st.p50 / 1e3;
	m->lat_p99 = st.p99 / 1e3;
	return 0;
}

/* Both nodes of a pair run this: bandwidth low->high, high->low, then
 * latency started by low, then by high. */
static int pair_measure(struct pairs_state *s, int partner, struct pairs_msg *m)
{
	int peer = s->leader[partner], first = s->my_node < partner, rc;
	int base = PAIRS_TAG_BASE + (int)(s->step % PAIRS_TAG_STEPS) * 8;
	uint64_t it = s->step * 4;

	rc = phase_bw(s, peer, first, base, it, m);
	if (!rc)
		rc = phase_bw(s, peer, !first, base + 2, it + 1, m);
	if (!rc)
		rc = phase_lat(s, peer, first, base + 4, it + 2, m);
	if (!rc)
		rc = phase_lat(s, peer, !first, base + 6, it + 3, m);
	return rc;
}

/* One step (collective): nodes with a partner measure, everyone else waits
 * in the bootstrap (sleeping); then every rank's figures go to everyone. */
static int pairs_step(struct pairs_state *s, int partner)
{
	struct pairs_msg m = {.node = s->my_node, .partner = -1};
	int rc;

	m.bw_med = m.bw_min = m.bw_max = m.lat_min = m.lat_p50 = m.lat_p99 = NAN;
	rc = fsc_boot_barrier(s->b);
	if (!rc)
		rc = fsc_fabric_sync(s->c->fab);
	if (!rc && s->my_node >= 0 && partner >= 0) {
		m.partner = partner;
		rc = pair_measure(s, partner, &m);
	}
	rc = fsc_boot_agree(s->b, rc, 0);
	if (!rc)
		rc = fsc_boot_allgather(s->b, &m, s->all, sizeof(m));
	s->step++;
	return rc;
}

/* A half round trip below the clock's step reads 0: keep latencies
 * positive (1 ns) so that the analysis can take their log; NaN stays. */
static double lat_pos(double us)
{
	return isnan(us) ? us : fmax(us, 1e-3);
}

/* Rank 0: put a step's figures into the matrices. */
static void absorb(struct pairs_state *s)
{
	for (int q = 0; q < s->b->size; q++) {
		const struct pairs_msg *m = &s->all[q];
		size_t at;

		s->wrong += m->wrong;
		if (m->node < 0 || m->partner < 0 || m->node >= s->n || m->partner >= s->n)
			continue;
		at = (size_t)m->node * (size_t)s->n + (size_t)m->partner;
		s->bw[at] = m->bw_med;
		if (m->windows && (!s->win_min || m->windows < s->win_min))
			s->win_min = m->windows;
		if (m->windows > s->win_max)
			s->win_max = m->windows;
		s->bw_min[at] = m->bw_min;
		s->bw_max[at] = m->bw_max;
		s->lat[at] = lat_pos(m->lat_p50);
		s->lat99[at] = lat_pos(m->lat_p99);
	}
}

/* ---- the record ---- */

static json_t *num_or_null(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

static json_t *json_matrix(const double *m, int n)
{
	json_t *rows = json_array();

	for (int i = 0; i < n; i++) {
		json_t *row = json_array();

		for (int j = 0; j < n; j++)
			json_array_append_new(row, i == j ? json_null()
			                                  : num_or_null(m[(size_t)i * n + j]));
		json_array_append_new(rows, row);
	}
	return rows;
}

/* The measured off-diagonal cells of m into out; returns how many. */
static size_t cells(const double *m, int n, double *out)
{
	size_t k = 0;

	for (int i = 0; i < n; i++)
		for (int j = 0; j < n; j++)
			if (i != j && !isnan(m[(size_t)i * n + j]))
				out[k++] = m[(size_t)i * n + j];
	return k;
}

struct spread {
	size_t cells;
	double median, min, max, mad;
};

static void spread_of(const double *m, int n, struct spread *sp)
{
	size_t nn = (size_t)n * n;
	double *v = malloc(nn * sizeof(*v)), *w = malloc(nn * sizeof(*w));

	memset(sp, 0, sizeof(*sp));
	sp->median = sp->min = sp->max = sp->mad = NAN;
	if (v && w && (sp->cells = cells(m, n, v))) {
		sp->min = sp->max = v[0];
		for (size_t i = 1; i < sp->cells; i++) {
			sp->min = fmin(sp->min, v[i]);
			sp->max = fmax(sp->max, v[i]);
		}
		memcpy(w, v, sp->cells * sizeof(*v));
		sp->median = fsc_median(w, sp->cells);
		sp->mad = fsc_mad(v, sp->cells, sp->median, w);
	}
	free(v);
	free(w);
}

static json_t *spread_json(const struct spread *sp)
{
	double m = sp->median;

	return json_pack("{s:I, s:o, s:o, s:o, s:o}", "cells", (json_int_t)sp->cells, "median",
	                 num_or_null(m), "min_ratio", num_or_null(sp->min / m), "max_ratio",
	                 num_or_null(sp->max / m), "mad_ratio", num_or_null(sp->mad / m));
}

/* Rank 0: matrices and progress into the record. */
static void record_matrices(struct pairs_state *s, uint64_t done)
{
	json_t *rec = s->rec;

	json_object_set_new(rec, "rounds_done", json_integer((json_int_t)done));
	json_object_set_new(rec, "bw_GBps", json_matrix(s->bw, s->n));
	json_object_set_new(rec, "bw_min_GBps", json_matrix(s->bw_min, s->n));
	json_object_set_new(rec, "bw_max_GBps", json_matrix(s->bw_max, s->n));
	json_object_set_new(rec, "lat_us", json_matrix(s->lat, s->n));
	json_object_set_new(rec, "lat_p99_us", json_matrix(s->lat99, s->n));
	json_object_set_new(rec, "wrong", json_integer((json_int_t)s->wrong));
}

/* Rank 0: rewrite the results file (every round for small matrices, at
 * most every PAIRS_STREAM_NS for big ones, always when forced). */
static void stream(struct pairs_state *s, int force)
{
	const char *path = s->r->res ? fsc_results_path(s->r->res) : 0;
	uint64_t now = fsc_time_real_ns();

	if (!path)
		return;
	if (!force && s->n > PAIRS_STREAM_BIG_N && now - s->last_write_ns < PAIRS_STREAM_NS)
		return;
	s->last_write_ns = now;
	fsc_json_write_atomic(fsc_results_doc(s->r->res), path);
}

static void progress(struct pairs_state *s, const char *what, uint64_t k, uint64_t total,
                     uint64_t t0)
{
	double el, eta;

	if (!s->r->out || !isatty(STDERR_FILENO))
		return;
	el = (double)(fsc_time_real_ns() - t0) / 1e9;
	eta = k ? el / (double)k * (double)(total - k) : 0;
	fprintf(stderr, "\r# pairs: %s %llu of %llu, ETA %.0f s   ", what, (unsigned long long)k,
	        (unsigned long long)total, eta);
	if (k == total)
		fprintf(stderr, "\n");
	fflush(stderr);
}

/* ---- attribution and confirmation ---- */

static int node_suspect(const struct pairs_anom *v, size_t nv, int node)
{
	for (size_t i = 0; i < nv; i++)
		if (v[i].a.kind == FSC_ANOM_NODE && v[i].a.src == node)
			return 1;
	return 0;
}

static int link_suspect(const struct pairs_anom *v, size_t nv, int a, int b)
{
	for (size_t i = 0; i < nv; i++)
		if (v[i].a.kind == FSC_ANOM_LINK &&
		    ((v[i].a.src == a && v[i].a.dst == b) || (v[i].a.src == b && v[i].a.dst == a)))
			return 1;
	return 0;
}

/* Index of the unordered pair {a, b} in list, or -1. */
static long pair_find(const int32_t *list, size_t np, int a, int b)
{
	int lo = a < b ? a : b, hi = a < b ? b : a;

	for (size_t i = 0; i < np; i++)
		if (list[2 * i] == lo && list[2 * i + 1] == hi)
			return (long)i;
	return -1;
}

static int pair_add(int32_t **list, size_t *np, size_t *cap, int a, int b)
{
	if (pair_find(*list, *np, a, b) >= 0)
		return 0;
	if (*np == *cap) {
		size_t nc = *cap ? 2 * *cap : 16;
		int32_t *nl = realloc(*list, 2 * nc * sizeof(**list));

		if (!nl)
			return -ENOMEM;
		*list = nl;
		*cap = nc;
	}
	(*list)[2 * *np] = a < b ? a : b;
	(*list)[2 * *np + 1] = a < b ? b : a;
	(*np)++;
	return 0;
}

/* Rank 0: the pairs to re-measure for the suspects v[0..nv), and up to
 * PAIRS_REF_PAIRS healthy reference pairs (is_ref[i] set): pairs without a
 * suspect node or link, the first in (a, b) order.  The first reference
 * is measured before the suspects and the others after them, so that a
 * burst of load from elsewhere during a pass tends to hit both. */
static int retest_list(struct pairs_state *s, struct pairs_anom *v, size_t nv, int32_t **list,
                       size_t *np, char **is_ref)
{
	int ref[PAIRS_REF_PAIRS][2], nref = 0, n = s->n, rc = 0;
	size_t cap = 0;

	*list = 0;
	*np = 0;
	*is_ref = 0;
	for (int a = 0; a < n && nref < PAIRS_REF_PAIRS; a++) {
		if (node_suspect(v, nv, a))
			continue;
		for (int b = a + 1; b < n && nref < PAIRS_REF_PAIRS; b++) {
			if (node_suspect(v, nv, b) || link_suspect(v, nv, a, b))
				continue;
			ref[nref][0] = a;
			ref[nref][1] = b;
			nref++;
		}
	}
	if (nref)
		rc = pair_add(list, np, &cap, ref[0][0], ref[0][1]);
	for (size_t i = 0; i < nv && !rc; i++) {
		struct pairs_anom *x = &v[i];

		if (x->a.kind == FSC_ANOM_LINK) {
			rc = pair_add(list, np, &cap, x->a.src, x->a.dst);
			continue;
		}
		/* A node: up to PAIRS_NODE_RETESTS of its links, to nodes
		 * not suspected themselves where there are such. */
		x->npartners = 0;
		for (int pass = 0; pass < 2 && !x->npartners; pass++)
			for (int d = 1; d < n && x->npartners < PAIRS_NODE_RETESTS; d++) {
				int j = (x->a.src + d) % n;

				if (pass == 0 && node_suspect(v, nv, j))
					continue;
				x->partners[x->npartners++] = j;
			}
		for (int k = 0; k < x->npartners && !rc; k++)
			rc = pair_add(list, np, &cap, x->a.src, x->partners[k]);
	}
	for (int k = 1; k < nref && !rc; k++)
		rc = pair_add(list, np, &cap, ref[k][0], ref[k][1]);
	if (!rc) {
		*is_ref = calloc(*np ? *np : 1, 1);
		rc = *is_ref ? 0 : -ENOMEM;
	}
	for (int k = 0; k < nref && !rc; k++) {
		long at = pair_find(*list, *np, ref[k][0], ref[k][1]);

		if (at >= 0)
			(*is_ref)[at] = 1;
	}
	if (rc)
		fsc_error("pairs: out of memory for the re-test list");
	return rc;
}

/* Re-measured figures of one pair {lo, hi}: [0] lo->hi, [1] hi->lo.  The
 * best repeat (bandwidth max, latency min), not the median: contention
 * from elsewhere (a shared or oversubscribed host) spoils some repeats,
 * while a bad link or a slow node limits even the best one. */
struct retest {
	double bw[2], lat[2];
};

static double retest_cell(const struct retest *t, const int32_t *list, long idx, int src, int hib)
{
	int fwd = list[2 * idx] == src;
	const double *v = hib ? t[idx].bw : t[idx].lat;

	return fwd ? v[0] : v[1];
}

/* Rank 0: the re-measured value of suspect x (a link's cell, or the median
 * of a node's re-measured cells on its slow side(s)). */
static double retest_value(const struct pairs_anom *x, const struct retest *t, const int32_t *list,
                           size_t np, double *scratch)
{
	size_t k = 0;
	long idx;

	if (x->a.kind == FSC_ANOM_LINK) {
		idx = pair_find(list, np, x->a.src, x->a.dst);
		return idx < 0 ? NAN : retest_cell(t, list, idx, x->a.src, x->hib);
	}
	for (int i = 0; i < x->npartners; i++) {
		int j = x->partners[i];

		idx = pair_find(list, np, x->a.src, j);
		if (idx < 0)
			continue;
		if (x->a.slow_row)
			scratch[k++] = retest_cell(t, list, idx, x->a.src, x->hib);
		if (x->a.slow_col)
			scratch[k++] = retest_cell(t, list, idx, j, x->hib);
	}
	for (size_t i = 0; i < k; i++)
		if (isnan(scratch[i]))
			return NAN;
	return k ? fsc_median(scratch, k) : NAN;
}

/* Rank 0: the reference of one pass: the median of the reference pairs'
 * cells (both directions); 0 (use the matrix centre) when there is none. */
static double retest_ref(const struct retest *t, size_t np, const char *is_ref, int hib)
{
	double v[2 * PAIRS_REF_PAIRS];
	size_t k = 0;

	for (size_t i = 0; i < np; i++) {
		if (!is_ref[i])
			continue;
		for (int d = 0; d < 2 && k < 2 * PAIRS_REF_PAIRS; d++) {
			double x = hib ? t[i].bw[d] : t[i].lat[d];

			if (isfinite(x) && x > 0)
				v[k++] = x;
		}
	}
	return k ? fsc_median(v, k) : 0;
}

/* Rank 0: anomaly text; latency links merged with their reverse name both
 * directions. */
static void anom_text(struct pairs_state *s, struct pairs_anom *x)
{
	if (x->both) {
		char r[32];

		fsc_ratio_format(r, sizeof(r), x->a.ratio);
		snprintf(x->text, sizeof(x->text),
		         "link %s<->%s high latency (%sx median, round trip: either direction)"
		         "; %s %d/%d",
		         s->labelp[x->a.src], s->labelp[x->a.dst], r,
		         x->a.confirmations ? "confirmed" : "not confirmed", x->a.confirmations,
		         x->a.retests);
		return;
	}
	fsc_anomaly_format(&x->a, s->labelp, x->hib, x->text, sizeof(x->text));
}

/* Non-significant candidates re-tested when there are c candidates in
 * all: 4 + 2 ceil(sqrt(c)), at most c (c = 10: all; 20: 14; 56, every cell
 * of an 8-host matrix: 20; 100: 24).  Sub-linear, so a very noisy matrix
 * costs a bounded number of serial re-tests; at least 4, so a few
 * obviously slow cells are always all looked at. */
static size_t retest_budget(size_t c)
{
	size_t b = 4 + 2 * (size_t)ceil(sqrt((double)c));

	return b < c ? b : c;
}

/* Rank 0: analyse both matrices into v (capacity 2 * PAIRS_MAX_SUSPECTS):
 * per matrix, every significant candidate, then the worst others within
 * retest_budget(), in fsc_attrib_analyze's order (nodes, then links, the
 * most severe first). */
static int suspects_find(struct pairs_state *s, const struct fsc_attrib_params *prm,
                         struct pairs_anom *v, size_t *nv)
{
	struct fsc_attrib_params cp = *prm;
	struct fsc_anomaly *a = 0;
	size_t c, k;
	int rc = 0;

	*nv = 0;
	cp.candidates = 1;
	for (int hib = 1; hib >= 0 && !rc; hib--) {
		const double *m = hib ? s->bw : s->lat;
		size_t kept = 0, others = 0, budget;

		rc = fsc_attrib_analyze(m, s->n, hib, &cp, 0, 0, &c, 0);
		if (rc || !c)
			continue;
		free(a);
		a = malloc(c * sizeof(*a));
		if (!a) {
			fsc_error("pairs: out of memory for %zu candidates", c);
			return -ENOMEM;
		}
		rc = fsc_attrib_analyze(m, s->n, hib, &cp, a, c, &k, 0);
		budget = retest_budget(k);
		for (int pass = 0; !rc && pass < 2; pass++)
			for (size_t i = 0; i < k && kept < PAIRS_MAX_SUSPECTS; i++) {
				if (a[i].significant != !pass)
					continue;
				if (pass && others++ >= budget)
					break;
				memset(&v[*nv], 0, sizeof(v[*nv]));
				v[*nv].a = a[i];
				v[*nv].hib = hib;
				(*nv)++;
				kept++;
			}
		s->candidates[hib] = k;
	}
	free(a);
	return rc;
}

/* A node suspect's re-measured links, each judged on its own as a link
 * would be: a node whose links are mostly healthy is not confirmed, but
 * one bad link among them (which the matrix blamed on the node, its row
 * or column looking slow through that link and noise) must still be
 * found.  Rank 0. */
static int node_links_init(struct pairs_state *s, struct pairs_anom *x)
{
	size_t nvals = PAIRS_NODE_RETESTS * 2 * (size_t)s->o.confirm;

	x->link_values = malloc(nvals * sizeof(double));
	if (!x->link_values)
		return -ENOMEM;
	for (size_t k = 0; k < nvals; k++)
		x->link_values[k] = NAN;
	for (int k = 0; k < PAIRS_NODE_RETESTS; k++)
		for (int d = 0; d < 2; d++)
			x->links[k][d] = (struct fsc_anomaly){
			        .kind = FSC_ANOM_LINK,
			        .src = d ? -1 : x->a.src,
			        .dst = d ? x->a.src : -1,
			        .expected = x->a.expected,
			        .row_ratio = NAN,
			        .col_ratio = NAN,
			        .sigmas = NAN,
			};
	return 0;
}

static void node_links_judge(struct pairs_state *s, struct pairs_anom *x, const struct retest *t,
                             const int32_t *list, size_t np, int pass, double ref,
                             const struct fsc_attrib_params *prm)
{
	for (int k = 0; k < x->npartners; k++) {
		int j = x->partners[k];
		long idx = pair_find(list, np, x->a.src, j);

		for (int d = 0; d < 2 && idx >= 0; d++) {
			struct fsc_anomaly *l = &x->links[k][d];
			double val = retest_cell(t, list, idx, d ? j : x->a.src, x->hib);

			l->src = d ? j : x->a.src;
			l->dst = d ? x->a.src : j;
			x->link_values[((size_t)k * 2 + (size_t)d) * (size_t)s->o.confirm +
			               (size_t)pass] = val;
			if (!isnan(val))
				fsc_attrib_confirm(l, val, ref, x->hib, prm);
		}
	}
}

/* Rank 0, after the re-tests: for every node suspect not confirmed, each
 * of its re-measured links still bad in a majority of passes becomes a
 * confirmed link anomaly of its own (unless already one), with the
 * matrix's cell as its measured value. */
static int node_links_derive(struct pairs_state *s, struct pairs_anom *v, size_t *nv)
{
	size_t n0 = *nv, added = 0;

	for (size_t i = 0; i < n0; i++) {
		struct pairs_anom *x = &v[i];

		if (x->a.kind != FSC_ANOM_NODE || x->confirmed)
			continue;
		for (int k = 0; k < x->npartners; k++)
			for (int d = 0; d < 2; d++) {
				const struct fsc_anomaly *l = &x->links[k][d];
				const double *m = x->hib ? s->bw : s->lat;
				struct pairs_anom *y;
				int dup = 0;

				if (!l->retests || 2 * l->confirmations <= l->retests)
					continue;
				for (size_t q = 0; q < *nv; q++)
					dup |= v[q].hib == x->hib && v[q].a.kind == FSC_ANOM_LINK &&
					       v[q].a.src == l->src && v[q].a.dst == l->dst;
				if (dup || added == PAIRS_MAX_DERIVED)
					continue;
				y = &v[(*nv)++];
				added++;
				memset(y, 0, sizeof(*y));
				y->a = *l;
				y->a.measured = m[(size_t)l->src * (size_t)s->n + (size_t)l->dst];
				y->a.ratio = y->a.measured / y->a.expected;
				y->hib = x->hib;
				y->confirmed = 1;
				y->values = calloc((size_t)s->o.confirm, sizeof(double));
				y->refs = calloc((size_t)s->o.confirm, sizeof(double));
				if (!y->values || !y->refs) {
					fsc_error("pairs: out of memory for the attribution");
					return -ENOMEM;
				}
				memcpy(y->values,
				       x->link_values +
				               ((size_t)k * 2 + (size_t)d) * (size_t)s->o.confirm,
				       (size_t)s->o.confirm * sizeof(double));
				memcpy(y->refs, x->refs, (size_t)s->o.confirm * sizeof(double));
			}
	}
	return 0;
}

/* Collective: rank 0 finds suspects and the pairs to re-measure, every
 * rank takes part in the serial re-tests, rank 0 decides.  On rank 0,
 * *vout and *nvout receive the suspects with their evidence. */
static int attribute(struct pairs_state *s, const struct fsc_attrib_params *prm,
                     struct pairs_anom **vout, size_t *nvout)
{
	struct pairs_anom *v = 0;
	struct retest *t = 0;
	int32_t *list = 0;
	char *is_ref = 0;
	size_t nv = 0, np = 0;
	int64_t hdr[2] = {0, 0};
	double *scratch = 0;
	uint64_t t0 = fsc_time_real_ns(), total;
	int rc = 0;

	if (s->b->rank == 0) {
		v = calloc(2 * PAIRS_MAX_SUSPECTS + PAIRS_MAX_DERIVED, sizeof(*v));
		rc = v ? suspects_find(s, prm, v, &nv) : -ENOMEM;
		if (!rc && nv)
			rc = retest_list(s, v, nv, &list, &np, &is_ref);
		for (size_t i = 0; !rc && i < nv; i++) {
			v[i].values = calloc((size_t)s->o.confirm, sizeof(double));
			v[i].refs = calloc((size_t)s->o.confirm, sizeof(double));
			if (!v[i].values || !v[i].refs)
				rc = -ENOMEM;
			if (!rc && v[i].a.kind == FSC_ANOM_NODE)
				rc = node_links_init(s, &v[i]);
		}
		t = calloc(np ? np : 1, sizeof(*t));
		scratch = calloc(4 * PAIRS_NODE_RETESTS, sizeof(*scratch));
		if (!rc && (!t || !scratch))
			rc = -ENOMEM;
		if (rc == -ENOMEM)
			fsc_error("pairs: out of memory for the attribution");
		hdr[0] = (int64_t)np;
	}
	rc = fsc_boot_agree(s->b, rc, 0);
	if (!rc)
		rc = fsc_boot_bcast(s->b, hdr, sizeof(hdr), 0);
	if (rc)
		goto out;
	np = (size_t)hdr[0];
	if (s->b->rank != 0 && np) {
		list = calloc(2 * np, sizeof(*list));
		rc = list ? 0 : -ENOMEM;
	}
	rc = fsc_boot_agree(s->b, rc, 0);
	if (!rc && np)
		rc = fsc_boot_bcast(s->b, list, 2 * np * sizeof(*list), 0);
	total = (uint64_t)s->o.confirm * np;
	for (int pass = 0; !rc && pass < s->o.confirm && np; pass++) {
		for (size_t i = 0; !rc && i < np; i++) {
			int a = list[2 * i], b = list[2 * i + 1];
			int partner = s->my_node == a ? b : s->my_node == b ? a : -1;

			rc = pairs_step(s, partner);
			if (rc || s->b->rank)
				continue;
			t[i].bw[0] = t[i].bw[1] = t[i].lat[0] = t[i].lat[1] = NAN;
			for (int q = 0; q < s->b->size; q++) {
				const struct pairs_msg *m = &s->all[q];

				s->wrong += m->wrong;
				if (m->partner < 0 || m->node < 0)
					continue;
				t[i].bw[m->node == a ? 0 : 1] = m->bw_max;
				t[i].lat[m->node == a ? 0 : 1] = lat_pos(m->lat_min);
			}
			progress(s, "re-test", (uint64_t)pass * np + i + 1, total, t0);
		}
		if (rc || s->b->rank)
			continue;
		for (size_t i = 0; i < nv; i++) {
			struct pairs_anom *x = &v[i];
			double val = retest_value(x, t, list, np, scratch);
			double ref = retest_ref(t, np, is_ref, x->hib);

			x->values[pass] = val;
			x->refs[pass] = ref > 0 ? ref : x->a.expected;
			if (!isnan(val))
				fsc_attrib_confirm(&x->a, val, ref, x->hib, prm);
			if (x->a.kind == FSC_ANOM_NODE)
				node_links_judge(s, x, t, list, np, pass, ref, prm);
		}
	}
	if (!rc && s->b->rank == 0) {
		for (size_t i = 0; i < nv; i++)
			v[i].confirmed =
			        v[i].a.retests && 2 * v[i].a.confirmations > v[i].a.retests;
		rc = node_links_derive(s, v, &nv);
		/* A ping-pong cannot tell the slow direction of a round trip:
		 * merge confirmed a->b and b->a latency links. */
		for (size_t i = 0; i < nv; i++) {
			if (v[i].hib || v[i].a.kind != FSC_ANOM_LINK || !v[i].confirmed ||
			    v[i].dropped)
				continue;
			for (size_t k = i + 1; k < nv; k++)
				if (!v[k].hib && v[k].a.kind == FSC_ANOM_LINK && v[k].confirmed &&
				    !v[k].dropped && v[k].a.src == v[i].a.dst &&
				    v[k].a.dst == v[i].a.src) {
					v[k].dropped = 1;
					v[i].both = 1;
					if (v[k].a.ratio > v[i].a.ratio)
						v[i].a.ratio = v[k].a.ratio;
				}
		}
		for (size_t i = 0; i < nv; i++)
			anom_text(s, &v[i]);
	}
out:
	free(list);
	free(is_ref);
	free(t);
	free(scratch);
	if (rc || s->b->rank) {
		for (size_t i = 0; v && i < nv; i++) {
			free(v[i].values);
			free(v[i].refs);
			free(v[i].link_values);
		}
		free(v);
		v = 0;
		nv = 0;
	}
	*vout = v;
	*nvout = nv;
	return rc;
}

static void anoms_free(struct pairs_anom *v, size_t nv)
{
	for (size_t i = 0; v && i < nv; i++) {
		free(v[i].values);
		free(v[i].refs);
		free(v[i].link_values);
	}
	free(v);
}

static json_t *anom_json(const struct pairs_state *s, const struct pairs_anom *x, int nconfirm)
{
	const struct fsc_anomaly *a = &x->a;
	json_t *o = json_object(), *hosts = json_array(), *vals = json_array(),
	       *refs = json_array();
	const char *dir;

	if (a->kind == FSC_ANOM_NODE)
		dir = a->slow_row && a->slow_col ? "both" : a->slow_row ? "send" : "receive";
	else
		dir = x->both ? "both" : "one-way";
	json_array_append_new(hosts, json_string(s->labelp[a->src]));
	if (a->kind == FSC_ANOM_LINK)
		json_array_append_new(hosts, json_string(s->labelp[a->dst]));
	for (int i = 0; i < nconfirm && i < a->retests; i++) {
		json_array_append_new(vals, num_or_null(x->values[i]));
		json_array_append_new(refs, num_or_null(x->refs[i]));
	}
	json_object_set_new(o, "kind", json_string(a->kind == FSC_ANOM_NODE ? "node" : "link"));
	json_object_set_new(o, "metric", json_string(x->hib ? "bandwidth" : "latency"));
	json_object_set_new(o, "unit", json_string(x->hib ? "GB/s" : "us"));
	json_object_set_new(o, "direction", json_string(dir));
	json_object_set_new(o, "src", json_integer(a->src));
	json_object_set_new(o, "dst",
	                    a->kind == FSC_ANOM_LINK ? json_integer(a->dst) : json_null());
	json_object_set_new(o, "hosts", hosts);
	json_object_set_new(o, "measured", num_or_null(a->measured));
	json_object_set_new(o, "expected", num_or_null(a->expected));
	json_object_set_new(o, "ratio", num_or_null(a->ratio));
	json_object_set_new(o, "row_ratio", num_or_null(a->row_ratio));
	json_object_set_new(o, "col_ratio", num_or_null(a->col_ratio));
	json_object_set_new(o, "ambiguous", json_boolean(a->ambiguous));
	json_object_set_new(o, "sigmas", num_or_null(a->sigmas));
	json_object_set_new(o, "significant", json_boolean(a->significant));
	json_object_set_new(o, "retests", json_integer(a->retests));
	json_object_set_new(o, "confirmations", json_integer(a->confirmations));
	json_object_set_new(o, "retest_values", vals);
	json_object_set_new(o, "retest_references", refs);
	json_object_set_new(o, "text", json_string(x->text));
	return o;
}

/* ---- CSV and terminal ---- */

struct csv_job {
	const struct pairs_state *s;
	const double *m;
};

static int csv_body(FILE *f, void *arg)
{
	const struct csv_job *j = arg;
	const struct pairs_state *s = j->s;

	fprintf(f, "src\\dst");
	for (int c = 0; c < s->n; c++)
		fprintf(f, ",%s", s->labelp[c]);
	fprintf(f, "\n");
	for (int i = 0; i < s->n; i++) {
		fprintf(f, "%s", s->labelp[i]);
		for (int c = 0; c < s->n; c++) {
			double v = j->m[(size_t)i * s->n + c];

			if (i == c || !isfinite(v))
				fprintf(f, ",");
			else
				fprintf(f, ",%.6g", v);
		}
		fprintf(f, "\n");
	}
	return ferror(f) ? -EIO : 0;
}

static int csv_write(const struct pairs_state *s, const double *m, const char *path)
{
	struct csv_job j = {s, m};
	char failed[4200];
	int rc = fsc_file_write_atomic(path, csv_body, &j, failed, sizeof(failed));

	if (rc)
		fsc_error("pairs: cannot write '%s': %s", failed, strerror(-rc));
	return rc;
}

/* CSV prefix: --pairs-csv, else the results path without ".json". */
static int csv_prefix(const struct pairs_state *s, char *out, size_t len)
{
	const char *p = s->o.csv;
	size_t l;

	if (p && !strcmp(p, "none"))
		return 0;
	if (!p || !p[0])
		p = s->r->res ? fsc_results_path(s->r->res) : 0;
	if (!p)
		return 0;
	l = strlen(p);
	if (!s->o.csv && l > 5 && !strcmp(p + l - 5, ".json"))
		l -= 5;
	if (l >= len)
		return 0;
	memcpy(out, p, l);
	out[l] = 0;
	return 1;
}

static void csv_all(struct pairs_state *s)
{
	char pre[4096], path[4200];
	const char *fab = s->c->fab ? s->c->fab->ops->name : "fabric";
	json_t *o;

	if (!csv_prefix(s, pre, sizeof(pre)))
		return;
	o = json_object();
	snprintf(path, sizeof(path), "%s.%s.bw.csv", pre, fab);
	if (!csv_write(s, s->bw, path))
		json_object_set_new(o, "bw", json_string(path));
	snprintf(path, sizeof(path), "%s.%s.lat.csv", pre, fab);
	if (!csv_write(s, s->lat, path))
		json_object_set_new(o, "lat", json_string(path));
	json_object_set_new(s->rec, "csv", o);
}

/* Median of row i (dim 0) or column i (dim 1), NaN if none measured. */
static double line_median(const double *m, int n, int i, int dim, double *tmp)
{
	size_t k = 0;

	for (int j = 0; j < n; j++) {
		double v = dim ? m[(size_t)j * n + i] : m[(size_t)i * n + j];

		if (j != i && !isnan(v))
			tmp[k++] = v;
	}
	return k ? fsc_median(tmp, k) : NAN;
}

static void print_matrix(FILE *f, const struct pairs_state *s, const double *m, const char *what)
{
	fprintf(f, "# %s [row = source, column = destination]\n# %-14s", what, "");
	for (int j = 0; j < s->n; j++)
		fprintf(f, " %10.10s", s->labelp[j]);
	fprintf(f, "\n");
	for (int i = 0; i < s->n; i++) {
		fprintf(f, "# %-14.14s", s->labelp[i]);
		for (int j = 0; j < s->n; j++) {
			double v = m[(size_t)i * s->n + j];

			if (i == j || isnan(v))
				fprintf(f, " %10s", "-");
			else
				fprintf(f, " %10.3f", v);
		}
		fprintf(f, "\n");
	}
}

/* The PAIRS_WORST worst cells of m (lowest bandwidth, highest latency). */
static void print_worst(FILE *f, const struct pairs_state *s, const double *m, int hib,
                        double median)
{
	size_t nn = (size_t)s->n * s->n;
	char *used = calloc(nn, 1);

	if (!used)
		return;
	fprintf(f, "# worst links by %s:", hib ? "bandwidth" : "latency");
	for (int w = 0; w < PAIRS_WORST; w++) {
		size_t best = nn;

		for (size_t at = 0; at < nn; at++) {
			double v = m[at];

			if (used[at] || at / s->n == at % s->n || isnan(v))
				continue;
			if (best == nn || (hib ? v < m[best] : v > m[best]))
				best = at;
		}
		if (best == nn)
			break;
		used[best] = 1;
		fprintf(f, "%s %s->%s %.3g %s (%.2fx)", w ? "," : "", s->labelp[best / s->n],
		        s->labelp[best % s->n], m[best], hib ? "GB/s" : "us", m[best] / median);
	}
	fprintf(f, "\n");
	free(used);
}

static void print_summary(struct pairs_state *s, const struct spread *bw, const struct spread *lat,
                          const struct pairs_anom *v, size_t nv, const char *verdict)
{
	FILE *f = s->r->out;
	double *tmp;
	const char *what = s->per_rank ? "rank" : "host";

	if (!f)
		return;
	tmp = malloc((size_t)s->n * sizeof(*tmp));
	if (!tmp)
		return;
	fprintf(f,
	        "#\n# fabric %s, pattern pairs: %d %ss, schedule %s; bandwidth %zu B x window "
	        "%zu, median of %llu; latency %zu B, p50 of %llu half round trips\n",
	        s->c->fab ? s->c->fab->ops->name : "?", s->n, what, s->o.schedule, s->o.bw_bytes,
	        s->o.window, (unsigned long long)s->o.repeats, s->o.lat_bytes,
	        (unsigned long long)s->o.lat_iters);
	if (s->n <= PAIRS_PRINT_MATRIX) {
		print_matrix(f, s, s->bw, "bandwidth GB/s");
		print_matrix(f, s, s->lat, "latency us");
	}
	fprintf(f,
	        "# per %s: medians of its row (sends) and column (receives), x = ratio to "
	        "the matrix median\n",
	        what);
	fprintf(f, "# %-16s %18s %18s %18s %18s\n", what, "bw send GB/s", "bw recv GB/s",
	        "lat send us", "lat recv us");
	for (int i = 0; i < s->n; i++) {
		double br = line_median(s->bw, s->n, i, 0, tmp);
		double bc = line_median(s->bw, s->n, i, 1, tmp);
		double lr = line_median(s->lat, s->n, i, 0, tmp);
		double lc = line_median(s->lat, s->n, i, 1, tmp);

		fprintf(f,
		        "  %-16.16s %9.3f (%5.2fx) %9.3f (%5.2fx) %9.2f (%5.2fx) %9.2f (%5.2fx)\n",
		        s->labelp[i], br, br / bw->median, bc, bc / bw->median, lr,
		        lr / lat->median, lc, lc / lat->median);
	}
	print_worst(f, s, s->bw, 1, bw->median);
	print_worst(f, s, s->lat, 0, lat->median);
	for (size_t i = 0, cleared = 0; i <= nv; i++) {
		if (i == nv) {
			if (cleared)
				fprintf(f,
				        "# %zu more candidate(s) past the thresholds, within the "
				        "matrix's noise, re-tested and cleared\n",
				        cleared);
		} else if (!v[i].confirmed && !v[i].dropped) {
			if (v[i].a.significant)
				fprintf(f, "# suspect, not confirmed: %s\n", v[i].text);
			else
				cleared++;
		}
	}
	/* One line per confirmed anomaly (the record joins them with " | "). */
	for (size_t i = 0, any = 0; i <= nv; i++) {
		if (i < nv && (!v[i].confirmed || v[i].dropped))
			continue;
		if (i == nv && any)
			break;
		fprintf(f, "# pairs verdict: %s\n", i < nv ? v[i].text : verdict);
		any = 1;
	}
	fflush(f);
	free(tmp);
}

/* ---- the driver ---- */

static json_t *record_start(struct pairs_state *s, const struct fsc_pattern_ops *p,
                            const struct fsc_sched *sched)
{
	json_t *rec = fsc_record_new(p, s->c, "running"), *labels = json_array(),
	       *ranks = json_array();

	for (int i = 0; i < s->n; i++) {
		json_array_append_new(labels, json_string(s->labelp[i]));
		json_array_append_new(ranks, json_integer(s->leader[i]));
	}
	json_object_set_new(rec, "granularity", json_string(s->per_rank ? "rank" : "host"));
	json_object_set_new(rec, "nodes", json_integer(s->n));
	json_object_set_new(rec, "labels", labels);
	json_object_set_new(rec, "node_ranks", ranks);
	json_object_set_new(rec, "schedule", json_string(s->o.schedule));
	json_object_set_new(rec, "rounds", json_integer((json_int_t)fsc_sched_rounds(sched)));
	json_object_set_new(rec, "pairs_per_round", json_integer(fsc_sched_pairs_per_round(sched)));
	json_object_set_new(rec, "bw_bytes", json_integer((json_int_t)s->o.bw_bytes));
	json_object_set_new(rec, "window", json_integer((json_int_t)s->o.window));
	json_object_set_new(rec, "repeats", json_integer((json_int_t)s->o.repeats));
	json_object_set_new(rec, "cell_time_ns", json_integer((json_int_t)s->o.cell_ns));
	json_object_set_new(rec, "lat_bytes", json_integer((json_int_t)s->o.lat_bytes));
	json_object_set_new(rec, "lat_iters", json_integer((json_int_t)s->o.lat_iters));
	json_object_set_new(rec, "check", json_string("once"));
	json_object_set_new(rec, "bw_formula", json_string(p->bw_formula));
	return rec;
}

static void record_verdict(struct pairs_state *s, const struct fsc_attrib_params *prm,
                           const struct pairs_anom *v, size_t nv, size_t nconf,
                           const struct spread *bw, const struct spread *lat, char *verdict,
                           size_t vlen)
{
	json_t *an = json_array(), *un = json_array(), *thr;
	size_t used = 0, nun = 0;
	int amb = 0;

	verdict[0] = 0;
	for (size_t i = 0; i < nv; i++) {
		if (v[i].dropped)
			continue;
		if (!v[i].confirmed) {
			json_array_append_new(un, anom_json(s, &v[i], s->o.confirm));
			nun++;
			continue;
		}
		json_array_append_new(an, anom_json(s, &v[i], s->o.confirm));
		amb |= v[i].a.ambiguous;
		if (used < vlen) {
			int w = snprintf(verdict + used, vlen - used, "%s%s", used ? " | " : "",
			                 v[i].text);
			if (w > 0)
				used += (size_t)w;
		}
	}
	if (!nconf) {
		char b1[32], b2[32], l1[32], l2[32];

		fsc_ratio_format(b1, sizeof(b1), bw->min / bw->median);
		fsc_ratio_format(b2, sizeof(b2), bw->max / bw->median);
		fsc_ratio_format(l1, sizeof(l1), lat->min / lat->median);
		fsc_ratio_format(l2, sizeof(l2), lat->max / lat->median);
		snprintf(verdict, vlen,
		         "no anomaly (%zu cells; bandwidth median %.3g GB/s, cells %s-%sx; latency "
		         "median %.3g us, cells %s-%sx)",
		         bw->cells, bw->median, b1, b2, lat->median, l1, l2);
		if (nun) {
			size_t l = strlen(verdict);

			snprintf(verdict + l - 1, vlen - l + 1, "; %zu suspect%s not confirmed)",
			         nun, nun == 1 ? "" : "s");
		}
	}
	thr = json_pack("{s:f, s:f, s:f, s:f, s:f, s:f, s:i, s:s}", "bw_node_ratio",
	                prm->bw_node_ratio, "bw_link_ratio", prm->bw_link_ratio, "lat_node_ratio",
	                prm->lat_node_ratio, "lat_link_ratio", prm->lat_link_ratio, "min_sigmas",
	                prm->min_sigmas, "noise_floor", prm->noise_floor, "confirm", s->o.confirm,
	                "confirmed_when",
	                "a majority of the serial re-tests is still beyond the "
	                "threshold relative to healthy reference pairs");
	json_object_set_new(s->rec, "thresholds", thr);
	json_object_set_new(s->rec, "bw_spread", spread_json(bw));
	json_object_set_new(s->rec, "lat_spread", spread_json(lat));
	json_object_set_new(s->rec, "anomalies", an);
	json_object_set_new(s->rec, "unconfirmed", un);
	json_object_set_new(s->rec, "bw_windows",
	                    json_pack("{s:I, s:I}", "min", (json_int_t)s->win_min, "max",
	                              (json_int_t)s->win_max));
	json_object_set_new(s->rec, "candidates",
	                    json_pack("{s:I, s:I}", "bandwidth", (json_int_t)s->candidates[1],
	                              "latency", (json_int_t)s->candidates[0]));
	json_object_set_new(s->rec, "ambiguous", json_boolean(amb));
	json_object_set_new(s->rec, "verdict", json_string(verdict));
}

static int pairs_execute(struct fsc_runner *r, const struct fsc_pattern_ops *p, struct fsc_pctx *c)
{
	struct pairs_state s = {.r = r, .c = c, .b = c->boot};
	struct fsc_attrib_params prm;
	struct fsc_sched sched;
	struct pairs_anom *v = 0;
	size_t nv = 0, nconf = 0;
	uint64_t rounds, done = 0, t0 = fsc_time_real_ns();
	int64_t outcome[2] = {0, 0};
	char err[256] = "", verdict[2048];
	int rc;

	r->points++;
	c->bytes = 0;
	rc = pairs_check_args(c, err, sizeof(err));
	if (!rc) {
		opt_read(&s.o, c->cfg);
		c->bytes = s.o.bw_bytes;
		rc = fsc_sched_init(&sched, s.o.schedule, pairs_nodes(s.b, s.o.per_rank), r->seed,
		                    err, sizeof(err));
	}
	if (rc) {
		if (s.b->rank == 0)
			fsc_error("%s", err);
		if (s.b->rank == 0 && (r->res || r->out)) {
			json_t *rec = fsc_record_new(p, c, "error");

			json_object_set_new(rec, "reason", json_string(err));
			fsc_runner_emit(r, rec);
		}
		r->failed++;
		return rc;
	}
	rc = nodes_build(&s);
	if (!rc)
		rc = buffers_setup(&s);
	if (!rc && s.b->rank == 0) {
		size_t nn = (size_t)s.n * s.n;
		double **mats[] = {&s.bw, &s.bw_min, &s.bw_max, &s.lat, &s.lat99};

		for (size_t i = 0; i < 5 && !rc; i++) {
			*mats[i] = malloc(nn * sizeof(double));
			if (!*mats[i]) {
				fsc_error("pairs: out of memory for %d x %d matrices", s.n, s.n);
				rc = -ENOMEM;
				break;
			}
			for (size_t k = 0; k < nn; k++)
				(*mats[i])[k] = NAN;
		}
	}
	rc = fsc_boot_agree(s.b, rc, 0);
	if (rc) {
		r->failed++;
		pairs_state_free(&s);
		return rc;
	}
	rounds = fsc_sched_rounds(&sched);
	if (s.b->rank == 0) {
		s.rec = record_start(&s, p, &sched);
		record_matrices(&s, 0);
		if (r->res)
			fsc_results_add(r->res, json_incref(s.rec));
	}

	/* 1. the matrix, round by round */
	for (uint64_t k = 0; k < rounds && !rc; k++) {
		int partner = s.my_node >= 0 ? fsc_sched_partner(&sched, k, s.my_node) : -1;

		rc = pairs_step(&s, partner);
		if (rc || s.b->rank)
			continue;
		absorb(&s);
		done = k + 1;
		record_matrices(&s, done);
		stream(&s, k + 1 == rounds);
		progress(&s, "round", k + 1, rounds, t0);
	}

	/* 2. attribution: suspects re-measured serially */
	fsc_attrib_params_default(&prm);
	prm.bw_node_ratio = prm.bw_link_ratio = s.o.bw_ratio;
	prm.lat_node_ratio = prm.lat_link_ratio = s.o.lat_ratio;
	if (!rc)
		rc = attribute(&s, &prm, &v, &nv);

	/* 3. the record, CSV, terminal */
	if (s.b->rank == 0) {
		json_object_set_new(s.rec, "duration_s",
		                    json_real((double)(fsc_time_real_ns() - t0) / 1e9));
		record_matrices(&s, done);
		if (rc) {
			json_object_set_new(s.rec, "status", json_string("error"));
			json_object_set_new(s.rec, "reason", json_string(fsc_strerror(rc)));
		} else {
			struct spread bw, lat;

			for (size_t i = 0; i < nv; i++)
				nconf += v[i].confirmed && !v[i].dropped;
			spread_of(s.bw, s.n, &bw);
			spread_of(s.lat, s.n, &lat);
			record_verdict(&s, &prm, v, nv, nconf, &bw, &lat, verdict, sizeof(verdict));
			json_object_set_new(s.rec, "status",
			                    json_string(s.wrong ? "wrong"
			                                : nconf ? "anomaly"
			                                        : "ok"));
			csv_all(&s);
			print_summary(&s, &bw, &lat, v, nv, verdict);
		}
		stream(&s, 1);
		outcome[0] = (int64_t)nconf;
		outcome[1] = (int64_t)s.wrong;
	}
	/* Tallies are the same on every rank. */
	if (!rc)
		rc = fsc_boot_bcast(s.b, outcome, sizeof(outcome), 0);
	if (rc) {
		r->failed++;
	} else {
		r->wrong += (uint64_t)outcome[1];
		if (outcome[1] || (outcome[0] && s.o.fail_on_anomaly))
			r->failed++;
	}
	anoms_free(v, nv);
	pairs_state_free(&s);
	return rc;
}

static const char *const pairs_impls[] = {"p2p", 0};

/* The matrices do not sweep sizes: each rank that carries traffic (every
 * rank with --pairs-per-rank, else the first of each host) holds a send
 * buffer and min(window, 64 MiB / size) receive slots of --pairs-bw-size,
 * and two latency buffers of --pairs-lat-size (as buffers_setup
 * allocates). */
static double pairs_buf_bytes(const struct fsc_pctx *c)
{
	struct pairs_opt o;
	struct fsc_boot *b = c->boot;
	size_t slots;

	opt_read(&o, c->cfg);
	if (!o.per_rank && b && b->rank_host)
		for (int k = 0; k < c->rank && k < b->size; k++)
			if (b->rank_host[k] == b->rank_host[c->rank])
				return 0; /* not its host's first rank */
	slots = PAIRS_SLOT_BYTES / o.bw_bytes;
	if (slots < 1)
		slots = 1;
	if (slots > o.window)
		slots = o.window;
	return (double)o.bw_bytes * (1.0 + (double)slots) + 2.0 * (double)o.lat_bytes;
}

const struct fsc_pattern_ops fsc_pattern_pairs = {
        .name = "pairs",
        .desc = "all-pairs bandwidth and latency matrices; names slow nodes and bad links",
        .caps = FSC_CAP_SEND_RECV,
        .min_ranks = 2,
        .impls = pairs_impls,
        .opts = pairs_opts,
        .bw_formula = "cell bw = median over repeats of window*bw_bytes/t (t: window delivered "
                      "+ 4-byte ack); cell latency = p50 of round trip/2",
        .check_args = pairs_check_args,
        .buf_bytes = pairs_buf_bytes,
        .execute = pairs_execute,
};
