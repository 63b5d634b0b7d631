/* pairs: all-pairs bandwidth and latency matrices, and who is to blame.
 *
 * The matrix driver (src/matrix.h) runs the rounds, collects and streams
 * the cells, re-tests suspects and writes the record, CSV and terminal
 * summary; this file measures one pair in one step.  The method, thresholds
 * and their reasons are in PAIRS.md beside this file; in short:
 *
 *  - In a step, both nodes of a pair {a, b} (a < b) measure, in order:
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
 *  - A serial re-test measures the same way; the driver judges its best
 *    repeat (bandwidth max, latency min).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boot.h"
#include "err.h"
#include "log.h"
#include "matrix.h"
#include "reduce.h"
#include "runner.h"
#include "schedule.h"
#include "stats.h"
#include "topology.h"

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
/* Fewest timed windows of a cell that --pairs-cell-max-time cuts short: a
 * median, a min and a max still mean something. */
#define PAIRS_CELL_MIN_REPEATS 2

/* The pairs options as fsc_config_fill stores them; opt_read derives
 * struct pairs_opt. */
struct pairs_settings {
	const char *schedule, *csv, *topology;
	uint64_t bw_bytes, lat_bytes, cell_ns, cell_max_ns;
	int64_t window, repeats, lat_iters, confirm, full_max;
	bool per_rank, fail_on_anomaly;
	double bw_ratio, lat_ratio;
	int store; /* enum fsc_matrix_store_kind: the order of its choices */
};

static const struct fsc_opt pairs_opts[] = {
        {"pairs-schedule", 0, FSC_OPT_STRING, "concurrent",
         "pair schedule: concurrent (1-factorisation: n-1 rounds of disjoint pairs, n for odd n), "
         "serial (one pair at a time, no contention), sample:K (K random rounds), topology "
         "(with --topology: pairs inside each leaf first, then rounds between leaves that load "
         "every uplink evenly)",
         0, 0, 0, FSC_AT_STRING(struct pairs_settings, schedule)},
        {"pairs-bw-size", 0, FSC_OPT_SIZE, "1M", "message size of the bandwidth stream", 0, 1,
         1073741824.0, FSC_AT_SIZE(struct pairs_settings, bw_bytes)},
        {"pairs-lat-size", 0, FSC_OPT_SIZE, "8", "message size of the latency ping-pong", 0, 1,
         1073741824.0, FSC_AT_SIZE(struct pairs_settings, lat_bytes)},
        {"pairs-window", 0, FSC_OPT_INT, "16", "bandwidth messages in flight per repeat", 0, 1,
         4096, FSC_AT_INT(struct pairs_settings, window)},
        {"pairs-repeats", 0, FSC_OPT_INT, "5",
         "timed bandwidth windows per cell (cell = median; min and max kept); the fewest when "
         "--pairs-cell-time asks for more",
         0, 1, 100000, FSC_AT_INT(struct pairs_settings, repeats)},
        {"pairs-cell-time", 0, FSC_OPT_TIME, "20ms",
         "least timed duration of a bandwidth cell: more windows (up to 1000) when they are "
         "shorter, so a cell outlasts scheduler slices; 0: exactly --pairs-repeats",
         0, 0, 3600e9, FSC_AT_TIME(struct pairs_settings, cell_ns)},
        {"pairs-cell-max-time", 0, FSC_OPT_TIME, "1s",
         "most timed duration of a bandwidth cell: fewer windows (at least 2) when "
         "--pairs-repeats of them would take longer, so a link at 1% of its speed costs "
         "seconds, not minutes; 0: no limit",
         0, 0, 3600e9, FSC_AT_TIME(struct pairs_settings, cell_max_ns)},
        {"pairs-lat-iters", 0, FSC_OPT_INT, "200",
         "timed ping-pongs per latency cell (cell = p50; p99 kept)", 0, 1, 10000000,
         FSC_AT_INT(struct pairs_settings, lat_iters)},
        {"pairs-per-rank", 0, FSC_OPT_FLAG, 0,
         "one matrix row per rank (default: per host, its first rank carries the traffic)", 0, 0, 0,
         FSC_AT_FLAG(struct pairs_settings, per_rank)},
        {"pairs-bw-ratio", 0, FSC_OPT_DOUBLE, "0.5",
         "a node or link is slow below this x the matrix's robust median bandwidth", 0, 0.01, 0.99,
         FSC_AT_DOUBLE(struct pairs_settings, bw_ratio)},
        {"pairs-lat-ratio", 0, FSC_OPT_DOUBLE, "2",
         "a node or link is slow above this x the matrix's robust median latency", 0, 1.01, 1000,
         FSC_AT_DOUBLE(struct pairs_settings, lat_ratio)},
        {"pairs-confirm", 0, FSC_OPT_INT, "2",
         "serial re-measurements of each suspect; confirmed when a majority is still bad", 0, 1,
         100, FSC_AT_INT(struct pairs_settings, confirm)},
        {"pairs-csv", 0, FSC_OPT_STRING, 0,
         "CSV matrices as <prefix>.<fabric>.bw.csv and .lat.csv, above --pairs-full-max nodes "
         "per-node and worst-cell files .nodes.csv and .worst.csv (default prefix: the results "
         "path without .json; 'none': no CSV)",
         0, 0, 0, FSC_AT_STRING(struct pairs_settings, csv)},
        {"pairs-full-max", 0, FSC_OPT_INT, "1024",
         "largest matrix, in nodes, whose every cell goes into the record and the CSV; above it "
         "the record holds per-node medians and the 64 worst cells, and the CSV per-node and "
         "worst-cell files (large matrices stay readable: 10,000 nodes would be 10^8 cells)",
         0, 2, FSC_MATRIX_FULL_MAX_MOST, FSC_AT_INT(struct pairs_settings, full_max)},
        {"pairs-store", 0, FSC_OPT_CHOICE, "auto",
         "where rank 0 keeps the matrix: memory, disk (a file in $TMPDIR, else /tmp, removed at "
         "the end; O(nodes) memory), or auto (disk when the matrices in memory would pass "
         "256 MiB, about 2,590 nodes)",
         "auto|memory|disk", 0, 0, FSC_AT_CHOICE(struct pairs_settings, store)},
        {"topology", 0, FSC_OPT_STRING, 0,
         "network topology: a Slurm topology.conf file or fattree:hosts=N,leaf=K[,oversub=X]; "
         "the record gives each host's leaf, the terminal groups hosts by leaf and shows each "
         "leaf's intra- and cross-leaf bandwidth",
         0, 0, 0, FSC_AT_STRING(struct pairs_settings, topology)},
        {"fail-on-anomaly", 0, FSC_OPT_FLAG, 0,
         "count a confirmed anomaly as a failure (non-zero exit code)", 0, 0, 0,
         FSC_AT_FLAG(struct pairs_settings, fail_on_anomaly)},
        {0, 0, 0, 0, 0, 0, 0, 0},
};

struct pairs_opt {
	const char *schedule;
	size_t bw_bytes, lat_bytes, window;
	uint64_t repeats, lat_iters, cell_ns, cell_max_ns;
	int per_rank, confirm, fail_on_anomaly, full_max;
	double bw_ratio, lat_ratio;
	const char *csv;
	const char *topology;
	enum fsc_matrix_store_kind store;
};

struct pairs_state {
	struct pairs_opt o;
	struct fsc_runner *r;
	struct fsc_pctx *c;
	const int *owner; /* the layout's: the rank of each node */

	/* buffers (ranks with a node only) */
	unsigned char *sbuf, *rbuf, *lsbuf, *lrbuf; /* transfer buffers */
	uint32_t *ack;                              /* transfer buffer of 16 */
	/* host images (fsc_fabric_host_alloc) of sbuf, rbuf, lsbuf, lrbuf */
	unsigned char *hs, *hr, *hls, *hlr;
	uint32_t hack; /* host image of ack[0] */
	size_t slots;
	struct fsc_req *reqs;  /* window */
	double *samples, *tmp; /* max(repeats, lat_iters) */
};

/* ---- options ---- */

static int opt_read(struct pairs_opt *o, const struct fsc_config *cfg, char *err, size_t len)
{
	struct pairs_settings p;
	int rc = fsc_config_fill(cfg, pairs_opts, &p, err, len);

	if (rc)
		return rc;
	o->schedule = p.schedule;
	o->bw_bytes = (size_t)p.bw_bytes;
	o->lat_bytes = (size_t)p.lat_bytes;
	o->window = (size_t)p.window;
	o->repeats = (uint64_t)p.repeats;
	o->lat_iters = (uint64_t)p.lat_iters;
	o->cell_ns = p.cell_ns;
	o->cell_max_ns = p.cell_max_ns;
	o->per_rank = p.per_rank;
	o->bw_ratio = p.bw_ratio;
	o->lat_ratio = p.lat_ratio;
	o->confirm = (int)p.confirm;
	o->full_max = (int)p.full_max;
	o->csv = p.csv;
	o->topology = p.topology;
	o->fail_on_anomaly = p.fail_on_anomaly;
	o->store = (enum fsc_matrix_store_kind)p.store;
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
	return 0;
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
	if (opt_read(&o, c->cfg, err, len))
		return -EINVAL;
	n = fsc_matrix_nodes(c->boot, o.per_rank);
	if (n < 2) {
		snprintf(err, len, "pattern pairs needs at least 2 nodes; this run has %d", n);
		return -EINVAL;
	}
	if (!strcmp(o.schedule, "topology")) {
		if (!o.topology) {
			snprintf(err, len,
			         "--pairs-schedule topology needs --topology FILE or "
			         "fattree:hosts=N,leaf=K (the leaf switch of every host)");
			return -EINVAL;
		}
	} else if (fsc_sched_init(&s, o.schedule, n, 1, err, len)) {
		char why[256];

		snprintf(why, sizeof(why), "%s", err);
		snprintf(err, len, "invalid value '%s' for --pairs-schedule: %s", o.schedule, why);
		return -EINVAL;
	}
	if (o.topology) {
		struct fsc_topo *t;
		char why[512];

		if (fsc_topo_load(&t, o.topology, why, sizeof(why))) {
			snprintf(err, len, "invalid value for --topology: %s", why);
			return -EINVAL;
		}
		fsc_topo_free(t);
	}
	return 0;
}

/* ---- the matrix driver's callbacks ---- */

static int pairs_open(struct fsc_runner *r, struct fsc_pctx *c, struct fsc_matrix_settings *set,
                      void **ctx, char *err, size_t len)
{
	struct pairs_state *s = calloc(1, sizeof(*s));

	if (!s) {
		snprintf(err, len, "pairs: out of memory");
		return -ENOMEM;
	}
	s->r = r;
	s->c = c;
	if (opt_read(&s->o, c->cfg, err, len)) {
		free(s);
		return -EINVAL;
	}
	c->bytes = s->o.bw_bytes;
	set->schedule = s->o.schedule;
	set->per_rank = s->o.per_rank;
	set->confirm = s->o.confirm;
	set->bw_ratio = s->o.bw_ratio;
	set->lat_ratio = s->o.lat_ratio;
	set->csv = s->o.csv;
	set->topology = s->o.topology;
	set->fail_on_anomaly = s->o.fail_on_anomaly;
	set->store = s->o.store;
	set->full_max = s->o.full_max;
	snprintf(set->method, sizeof(set->method),
	         "bandwidth %zu B x window %zu, median of %llu; latency %zu B, p50 of %llu half "
	         "round trips",
	         s->o.bw_bytes, s->o.window, (unsigned long long)s->o.repeats, s->o.lat_bytes,
	         (unsigned long long)s->o.lat_iters);
	*ctx = s;
	return 0;
}

/* Buffers for the rank that carries its node's traffic; nothing elsewhere. */
static int pairs_setup(void *ctx, struct fsc_pctx *c, const struct fsc_matrix_layout *l)
{
	struct pairs_state *s = ctx;
	struct fsc_fabric *f = c->fab;
	size_t ns = s->o.repeats > s->o.lat_iters ? s->o.repeats : s->o.lat_iters;
	int mine = 0;

	s->owner = l->owner;
	for (int i = 0; i < l->n; i++)
		mine |= l->owner[i] == c->rank;
	if (!mine)
		return 0;
	if (s->o.cell_ns && ns < PAIRS_CELL_MAX_REPEATS)
		ns = PAIRS_CELL_MAX_REPEATS;
	s->slots = PAIRS_SLOT_BYTES / s->o.bw_bytes;
	if (s->slots < 1)
		s->slots = 1;
	if (s->slots > s->o.window)
		s->slots = s->o.window;
	s->sbuf = fsc_fabric_buf_alloc(f, s->o.bw_bytes);
	s->rbuf = fsc_fabric_buf_alloc(f, s->slots * s->o.bw_bytes);
	s->lsbuf = fsc_fabric_buf_alloc(f, s->o.lat_bytes);
	s->lrbuf = fsc_fabric_buf_alloc(f, s->o.lat_bytes);
	s->ack = fsc_fabric_buf_alloc(f, 16 * sizeof(*s->ack));
	if (s->sbuf)
		s->hs = fsc_fabric_host_alloc(f, s->sbuf, s->o.bw_bytes);
	if (s->rbuf)
		s->hr = fsc_fabric_host_alloc(f, s->rbuf, s->slots * s->o.bw_bytes);
	if (s->lsbuf)
		s->hls = fsc_fabric_host_alloc(f, s->lsbuf, s->o.lat_bytes);
	if (s->lrbuf)
		s->hlr = fsc_fabric_host_alloc(f, s->lrbuf, s->o.lat_bytes);
	s->reqs = calloc(s->o.window, sizeof(*s->reqs));
	s->samples = calloc(ns, sizeof(*s->samples));
	s->tmp = calloc(ns, sizeof(*s->tmp));
	if (!s->hs || !s->hr || !s->hls || !s->hlr || !s->ack || !s->reqs || !s->samples ||
	    !s->tmp) {
		fsc_error("pairs: out of memory for %zu B x %zu receive slots", s->o.bw_bytes,
		          s->slots);
		return -ENOMEM;
	}
	return 0;
}

static void pairs_close(void *ctx, struct fsc_pctx *c)
{
	struct pairs_state *s = ctx;
	struct fsc_fabric *f = c ? c->fab : 0;

	fsc_fabric_host_free(f, s->sbuf, s->hs);
	fsc_fabric_host_free(f, s->rbuf, s->hr);
	fsc_fabric_host_free(f, s->lsbuf, s->hls);
	fsc_fabric_host_free(f, s->lrbuf, s->hlr);
	fsc_fabric_buf_free(f, s->sbuf);
	fsc_fabric_buf_free(f, s->rbuf);
	fsc_fabric_buf_free(f, s->lsbuf);
	fsc_fabric_buf_free(f, s->lrbuf);
	fsc_fabric_buf_free(f, s->ack);
	free(s->reqs);
	free(s->samples);
	free(s->tmp);
	free(s);
}

static int pairs_step(void *ctx, struct fsc_pctx *c, const struct fsc_matrix_step *st)
{
	(void)ctx;
	(void)st;
	return fsc_fabric_sync(c->fab);
}

static void pairs_record(void *ctx, json_t *rec)
{
	const struct pairs_state *s = ctx;

	json_object_set_new(rec, "bw_bytes", json_integer((json_int_t)s->o.bw_bytes));
	json_object_set_new(rec, "window", json_integer((json_int_t)s->o.window));
	json_object_set_new(rec, "repeats", json_integer((json_int_t)s->o.repeats));
	json_object_set_new(rec, "cell_time_ns", json_integer((json_int_t)s->o.cell_ns));
	json_object_set_new(rec, "cell_max_time_ns", json_integer((json_int_t)s->o.cell_max_ns));
	json_object_set_new(rec, "lat_bytes", json_integer((json_int_t)s->o.lat_bytes));
	json_object_set_new(rec, "lat_iters", json_integer((json_int_t)s->o.lat_iters));
	json_object_set_new(rec, "check", json_string("once"));
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
 * long and none is shorter than a scheduler slice.  Under
 * --pairs-cell-max-time, as many as fit that time when the count above
 * would not, never fewer than PAIRS_CELL_MIN_REPEATS (nor more than asked). */
static uint64_t cell_repeats(const struct pairs_opt *o, uint64_t t_ns)
{
	uint64_t n;

	if (!o->cell_ns) {
		n = o->repeats;
	} else {
		n = t_ns ? (o->cell_ns + t_ns - 1) / t_ns : PAIRS_CELL_MAX_REPEATS;
		if (n > PAIRS_CELL_MAX_REPEATS)
			n = PAIRS_CELL_MAX_REPEATS;
		if (n < o->repeats)
			n = o->repeats;
	}
	if (o->cell_max_ns && t_ns && t_ns * n > o->cell_max_ns) {
		uint64_t fit = o->cell_max_ns / t_ns;
		uint64_t lo = n < PAIRS_CELL_MIN_REPEATS ? n : PAIRS_CELL_MIN_REPEATS;

		if (fit < n)
			n = fit > lo ? fit : lo;
	}
	return n;
}

/* The fewest timed windows a peer may announce (see cell_repeats). */
static uint64_t cell_repeats_min(const struct pairs_opt *o)
{
	if (o->cell_max_ns && o->repeats > PAIRS_CELL_MIN_REPEATS)
		return PAIRS_CELL_MIN_REPEATS;
	return o->repeats;
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
                    struct fsc_matrix_cell *m)
{
	struct fsc_pctx *c = s->c;
	struct pairs_xfer x = {s, peer, sending, tag};
	int src = sending ? c->rank : peer, dst = sending ? peer : c->rank;
	double bytes = (double)s->o.window * (double)s->o.bw_bytes;
	struct fsc_clock clk = fsc_runner_clock(s->r, c->fab);
	uint64_t nrep, t0;
	int rc;

	if (sending) {
		fsc_bytes_fill(s->hs, s->o.bw_bytes, c->seed, src, dst, data_iter);
		rc = fsc_fabric_from_host(c->fab, s->sbuf, s->hs, s->o.bw_bytes);
	} else {
		rc = fsc_fabric_buf_set(c->fab, s->rbuf, 0, s->slots * s->o.bw_bytes);
	}
	if (rc)
		return rc;
	/* The verification window; its ack carries the receiver's count of
	 * timed windows, so both sides loop the same number of times. */
	t0 = fsc_clock_now(&clk);
	rc = bw_window(c, &x);
	if (!rc && !sending) {
		s->hack = (uint32_t)cell_repeats(&s->o, fsc_clock_now(&clk) - t0);
		rc = fsc_fabric_from_host(c->fab, s->ack, &s->hack, sizeof(s->hack));
	}
	if (!rc)
		rc = bw_ack(c, &x);
	if (!rc && sending)
		rc = fsc_fabric_to_host(c->fab, &s->hack, s->ack, sizeof(s->hack));
	if (rc)
		return rc;
	nrep = s->hack;
	if (nrep < cell_repeats_min(&s->o) ||
	    nrep > (s->o.cell_ns ? PAIRS_CELL_MAX_REPEATS : s->o.repeats)) {
		fsc_error("pairs: rank %d announced %llu timed windows, expected %llu..%d", peer,
		          (unsigned long long)nrep, (unsigned long long)cell_repeats_min(&s->o),
		          s->o.cell_ns ? PAIRS_CELL_MAX_REPEATS : (int)s->o.repeats);
		return -EPROTO;
	}
	if (!sending)
		rc = fsc_fabric_to_host(c->fab, s->hr, s->rbuf, s->slots * s->o.bw_bytes);
	if (rc)
		return rc;
	if (!sending)
		for (size_t k = 0; k < s->slots; k++)
			m->wrong += fsc_bytes_check(s->hr + k * s->o.bw_bytes, s->o.bw_bytes,
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
                     struct fsc_matrix_cell *m)
{
	struct fsc_pctx *c = s->c;
	struct pairs_xfer x = {s, peer, initiating, tag};
	struct fsc_stats st;
	int rc;

	fsc_bytes_fill(s->hls, s->o.lat_bytes, c->seed, c->rank, peer, data_iter);
	rc = fsc_fabric_from_host(c->fab, s->lsbuf, s->hls, s->o.lat_bytes);
	if (!rc)
		rc = fsc_fabric_buf_set(c->fab, s->lrbuf, 0, s->o.lat_bytes);
	if (!rc)
		rc = lat_body(c, &x, 0);
	if (!rc)
		rc = fsc_fabric_to_host(c->fab, s->hlr, s->lrbuf, s->o.lat_bytes);
	if (rc)
		return rc;
	m->wrong += fsc_bytes_check(s->hlr, s->o.lat_bytes, c->seed, peer, c->rank, data_iter);
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

/* Both nodes of a pair run this, in a round or a re-test alike: bandwidth
 * low->high, high->low, then latency started by low, then by high.  The
 * node's own cell (its sends and the ping-pongs it starts) goes to out. */
static int pairs_measure(void *ctx, struct fsc_pctx *c, const struct fsc_matrix_step *st, int node,
                         int partner, struct fsc_matrix_cell *m)
{
	struct pairs_state *s = ctx;
	int peer = s->owner[partner], first = node < partner, rc;
	int base = PAIRS_TAG_BASE + (int)(st->seq % PAIRS_TAG_STEPS) * 8;
	uint64_t it = st->seq * 4;

	(void)c;
	rc = phase_bw(s, peer, first, base, it, m);
	if (!rc)
		rc = phase_bw(s, peer, !first, base + 2, it + 1, m);
	if (!rc)
		rc = phase_lat(s, peer, first, base + 4, it + 2, m);
	if (!rc)
		rc = phase_lat(s, peer, !first, base + 6, it + 3, m);
	return rc;
}

static const struct fsc_matrix_pattern pairs_matrix = {
        .open = pairs_open,
        .setup = pairs_setup,
        .step = pairs_step,
        .measure = pairs_measure,
        .record = pairs_record,
        .close = pairs_close,
};

static const char *const pairs_impls[] = {"p2p", 0};

/* The matrices do not sweep sizes: each rank that carries traffic (every
 * rank with --pairs-per-rank, else the first of each host) holds a send
 * buffer and min(window, 64 MiB / size) receive slots of --pairs-bw-size,
 * and two latency buffers of --pairs-lat-size (as pairs_setup
 * allocates). */
static double pairs_buf_bytes(const struct fsc_pctx *c)
{
	struct pairs_opt o;
	struct fsc_boot *b = c->boot;
	size_t slots;
	char err[256];

	if (opt_read(&o, c->cfg, err, sizeof(err))) {
		fsc_error("pairs: %s", err);
		return 0;
	}
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
        .matrix = &pairs_matrix,
};
