/* Loopback fabric: exact virtual times, tag matching, fault injection and
 * option errors (fabrics/loopback/loopback.c).
 *
 * Ranks are threads (fsc_boot_local_run); cmocka asserts must run on the
 * main thread, so every rank records what it saw in a case struct and the
 * test asserts after the join.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "boot.h"
#include "fabric.h"
#include "loopback/loopback.h"
#include "options.h"

#define MAXR 8
#define NOUT 16

struct lb_case {
	int n;
	const char *const *opts; /* name, value, ..., NULL */
	uint64_t timeout_ns;     /* 0: the default */
	void (*body)(struct fsc_fabric *f, struct lb_case *c);
	struct fsc_config *cfg;
	int create_rc[MAXR], connect_rc[MAXR];
	int rc[MAXR][NOUT];       /* return codes a body records */
	double vt[MAXR][NOUT];    /* virtual times a body records */
	uint64_t val[MAXR][NOUT]; /* other numbers a body records */
	struct fsc_loopback_stats stats[MAXR];
};

static struct fsc_config *make_cfg(const char *const *opts)
{
	const struct fsc_opt_group g = {"loopback", fsc_fabric_loopback.opts};
	struct fsc_config *cfg;
	char err[256];

	assert_int_equal(fsc_config_defaults(&cfg, &g, 1), 0);
	for (size_t i = 0; opts && opts[i]; i += 2) {
		int rc = fsc_config_set(cfg, opts[i], opts[i + 1], err, sizeof(err));

		if (rc)
			print_message("fsc_config_set(%s, %s): %s\n", opts[i], opts[i + 1], err);
		assert_int_equal(rc, 0);
	}
	return cfg;
}

static int rank_main(struct fsc_boot *b, void *arg)
{
	struct lb_case *c = arg;
	struct fsc_fabric *f = 0;

	c->create_rc[b->rank] = fsc_fabric_create(&fsc_fabric_loopback, b, c->cfg, &f);
	if (c->create_rc[b->rank])
		return c->create_rc[b->rank];
	if (c->timeout_ns)
		f->timeout_ns = c->timeout_ns;
	c->connect_rc[b->rank] = fsc_fabric_connect(f);
	if (!c->connect_rc[b->rank] && c->body)
		c->body(f, c);
	fsc_loopback_get_stats(f, &c->stats[b->rank]);
	fsc_fabric_destroy(f);
	return c->connect_rc[b->rank];
}

/* Run c on c->n ranks; every rank must have created and connected. */
static void run_case(struct lb_case *c)
{
	int rcs[MAXR];

	c->cfg = make_cfg(c->opts);
	assert_int_equal(fsc_boot_local_run(c->n, NULL, rank_main, c, rcs), 0);
	fsc_config_free(c->cfg);
	for (int r = 0; r < c->n; r++) {
		assert_int_equal(c->create_rc[r], 0);
		assert_int_equal(c->connect_rc[r], 0);
		assert_int_equal(rcs[r], 0);
	}
}

static uint64_t now_ns(struct fsc_fabric *f)
{
	struct fsc_clock clk;

	assert_int_equal(fsc_fabric_clock(f, &clk), 0);
	return fsc_clock_now(&clk);
}

/* --- virtual clock ----------------------------------------------------- */

static const char *const lat1us_bw1[] = {"lb-lat", "1000ns", "lb-bw", "1", 0};

/* 0 -> 1: `val[0][0]` messages of 4096 B; rank 1 records vt after each. */
static void body_stream(struct fsc_fabric *f, struct lb_case *c)
{
	static char buf[4096];
	int k = (int)c->val[0][0];

	if (f->rank == 0) {
		for (int i = 0; i < k; i++)
			c->rc[0][i] = fsc_fabric_send(f, 1, buf, sizeof(buf), 5);
		c->vt[0][0] = fsc_loopback_vt_ns(f);
	} else if (f->rank == 1) {
		for (int i = 0; i < k; i++) {
			c->rc[1][i] = fsc_fabric_recv(f, 0, buf, sizeof(buf), 5);
			c->vt[1][i] = fsc_loopback_vt_ns(f);
			c->val[1][i] = now_ns(f);
		}
	}
}

static void fsc_fabric_loopback__message_arrives_after_xfer_plus_latency(void **state)
{
	struct lb_case c = {.n = 2, .opts = lat1us_bw1, .body = body_stream};

	(void)state;
	c.val[0][0] = 1;
	run_case(&c);
	assert_int_equal(c.rc[0][0], 0);
	assert_int_equal(c.rc[1][0], 0);
	/* 4096 B / 1 B/ns + 1000 ns */
	assert_true(c.vt[1][0] == 5096.0);
	assert_int_equal(c.val[1][0], 5096);
	/* The sender's clock does not move. */
	assert_true(c.vt[0][0] == 0.0);
	assert_int_equal(c.stats[0].sent, 1);
	assert_int_equal(c.stats[0].bytes_sent, 4096);
	assert_int_equal(c.stats[1].received, 1);
}

static void fsc_fabric_loopback__back_to_back_messages_queue_on_the_link(void **state)
{
	struct lb_case c = {.n = 2, .opts = lat1us_bw1, .body = body_stream};

	(void)state;
	c.val[0][0] = 3;
	run_case(&c);
	assert_true(c.vt[1][0] == 5096.0);
	assert_true(c.vt[1][1] == 9192.0);
	assert_true(c.vt[1][2] == 13288.0);
	assert_int_equal(c.val[1][2], 13288);
}

static void fsc_fabric_loopback__slow_link_scales_xfer_and_latency(void **state)
{
	static const char *const o[] = {"lb-lat",       "1000ns",  "lb-bw", "1",
	                                "lb-slow-link", "0:1:0.5", 0};
	struct lb_case c = {.n = 2, .opts = o, .body = body_stream};

	(void)state;
	c.val[0][0] = 2;
	run_case(&c);
	/* 4096 / 0.5 + 1000 / 0.5 */
	assert_true(c.vt[1][0] == 10192.0);
	assert_true(c.vt[1][1] == 18384.0);
}

static void fsc_fabric_loopback__slow_ranks_multiply(void **state)
{
	static const char *const o[] = {"lb-lat",       "1000ns",      "lb-bw", "1",
	                                "lb-slow-rank", "0:0.5,1:0.5", 0};
	struct lb_case c = {.n = 2, .opts = o, .body = body_stream};

	(void)state;
	c.val[0][0] = 1;
	run_case(&c);
	/* Both ends slow: factor 0.25 -> 4096 * 4 + 1000 * 4 */
	assert_true(c.vt[1][0] == 20384.0);
}

/* 0 -> 1 -> 0 ping-pong of 4096 B, and a 1 -> 2 message unaffected by a
 * slow link 0->1 in the reverse direction. */
static void body_pingpong(struct fsc_fabric *f, struct lb_case *c)
{
	static char buf[3][4096];

	if (f->rank == 0) {
		c->rc[0][0] = fsc_fabric_send(f, 1, buf[0], 4096, 1);
		c->rc[0][1] = fsc_fabric_recv(f, 1, buf[0], 4096, 2);
		c->vt[0][0] = fsc_loopback_vt_ns(f);
	} else {
		c->rc[1][0] = fsc_fabric_recv(f, 0, buf[1], 4096, 1);
		c->vt[1][0] = fsc_loopback_vt_ns(f);
		c->rc[1][1] = fsc_fabric_send(f, 0, buf[1], 4096, 2);
	}
}

static void fsc_fabric_loopback__ping_pong_adds_both_directions(void **state)
{
	static const char *const o[] = {"lb-lat",       "1000ns",  "lb-bw", "1",
	                                "lb-slow-link", "0:1:0.5", 0};
	struct lb_case c = {.n = 2, .opts = o, .body = body_pingpong};

	(void)state;
	run_case(&c);
	assert_int_equal(c.rc[0][0] | c.rc[0][1] | c.rc[1][0] | c.rc[1][1], 0);
	assert_true(c.vt[1][0] == 10192.0);        /* slow direction */
	assert_true(c.vt[0][0] == 10192.0 + 5096); /* reverse is healthy */
}

/* Rank 0 works 10 us, then sends; sync aligns every clock on the max. */
static void body_advance_sync(struct fsc_fabric *f, struct lb_case *c)
{
	static char buf[3][4096];

	if (f->rank == 0) {
		c->rc[0][0] = fsc_loopback_advance_ns(f, 10000);
		c->rc[0][1] = fsc_fabric_send(f, 1, buf[0], 4096, 1);
	} else if (f->rank == 1) {
		c->rc[1][1] = fsc_fabric_recv(f, 0, buf[1], 4096, 1);
	}
	c->vt[f->rank][0] = fsc_loopback_vt_ns(f);
	c->rc[f->rank][2] = fsc_fabric_sync(f);
	c->vt[f->rank][1] = fsc_loopback_vt_ns(f);
	c->rc[f->rank][3] = fsc_loopback_advance_ns(f, -1);
}

static void fsc_fabric_sync__sets_every_rank_to_the_latest_clock(void **state)
{
	struct lb_case c = {.n = 3, .opts = lat1us_bw1, .body = body_advance_sync};

	(void)state;
	run_case(&c);
	assert_true(c.vt[0][0] == 10000.0);
	assert_true(c.vt[1][0] == 15096.0);
	assert_true(c.vt[2][0] == 0.0);
	for (int r = 0; r < 3; r++) {
		assert_int_equal(c.rc[r][2], 0);
		assert_true(c.vt[r][1] == 15096.0);
		assert_int_equal(c.rc[r][3], -EINVAL);
	}
}

/* 1 B and 2 B at 3 GB/s with no latency: 1/3 ns and 2/3 ns. */
static void body_rounding(struct fsc_fabric *f, struct lb_case *c)
{
	char buf[2] = {0};

	if (f->rank == 0) {
		fsc_fabric_send(f, 1, buf, 1, 1);
		fsc_fabric_send(f, 1, buf, 1, 1);
	} else {
		fsc_fabric_recv(f, 0, buf, 1, 1);
		c->val[1][0] = now_ns(f);
		fsc_fabric_recv(f, 0, buf, 1, 1);
		c->val[1][1] = now_ns(f);
	}
}

static void fsc_fabric_clock__rounds_virtual_time_to_nearest_ns(void **state)
{
	static const char *const o[] = {"lb-lat", "0ns", "lb-bw", "3", 0};
	struct lb_case c = {.n = 2, .opts = o, .body = body_rounding};

	(void)state;
	run_case(&c);
	assert_int_equal(c.val[1][0], 0); /* 0.333 */
	assert_int_equal(c.val[1][1], 1); /* 0.667 */
}

/* --- matching ---------------------------------------------------------- */

/* 0 sends tags 7 ('A'), 8 ('B'), 7 ('C'); 1 posts 8, 7, 7 and waits for
 * the last receive first: it must still get the second tag-7 message. */
static void body_matching(struct fsc_fabric *f, struct lb_case *c)
{
	if (f->rank == 0) {
		c->rc[0][0] = fsc_fabric_send(f, 1, "A", 1, 7);
		c->rc[0][1] = fsc_fabric_send(f, 1, "B", 1, 8);
		c->rc[0][2] = fsc_fabric_send(f, 1, "C", 1, 7);
	} else {
		struct fsc_req r[3];
		char got[3] = {0};

		c->rc[1][0] = fsc_fabric_irecv(f, 0, &got[0], 1, 8, &r[0]);
		c->rc[1][1] = fsc_fabric_irecv(f, 0, &got[1], 1, 7, &r[1]);
		c->rc[1][2] = fsc_fabric_irecv(f, 0, &got[2], 1, 7, &r[2]);
		c->rc[1][3] = fsc_fabric_wait(f, &r[2], 1);
		c->rc[1][4] = fsc_fabric_wait(f, r, 3);
		for (int i = 0; i < 3; i++)
			c->val[1][i] = (uint64_t)got[i];
	}
}

static void fsc_fabric_loopback__matches_by_tag_in_posting_order(void **state)
{
	struct lb_case c = {.n = 2, .body = body_matching};

	(void)state;
	run_case(&c);
	for (int i = 0; i < 5; i++)
		assert_int_equal(c.rc[1][i], 0);
	assert_int_equal(c.val[1][0], 'B');
	assert_int_equal(c.val[1][1], 'A');
	assert_int_equal(c.val[1][2], 'C');
}

/* Bad arguments and a size mismatch. */
static void body_errors(struct fsc_fabric *f, struct lb_case *c)
{
	struct fsc_req r;
	char buf[16] = {0};
	int k = 0;

	if (f->rank == 0) {
		c->rc[0][k++] = fsc_fabric_isend(f, -1, buf, 1, 0, &r);
		c->rc[0][k++] = fsc_fabric_isend(f, 2, buf, 1, 0, &r);
		c->rc[0][k++] = fsc_fabric_isend(f, 0, buf, 1, 0, &r); /* self */
		c->rc[0][k++] = fsc_fabric_irecv(f, -1, buf, 1, 0, &r);
		c->rc[0][k++] = fsc_fabric_irecv(f, 2, buf, 1, 0, &r);
		c->rc[0][k++] = fsc_fabric_isend(f, 1, buf, 1, -3, &r);
		c->rc[0][k++] = fsc_fabric_isend(f, 1, NULL, 1, 0, &r);
		c->rc[0][k++] = fsc_fabric_send(f, 1, buf, 16, 4);
	} else {
		c->rc[1][0] = fsc_fabric_recv(f, 0, buf, 8, 4);
	}
}

static void fsc_fabric_loopback__rejects_bad_peers_and_size_mismatch(void **state)
{
	struct lb_case c = {.n = 2, .body = body_errors};

	(void)state;
	run_case(&c);
	for (int i = 0; i < 7; i++)
		assert_int_equal(c.rc[0][i], -EINVAL);
	assert_int_equal(c.rc[0][7], 0);    /* eager: the send completes */
	assert_int_equal(c.rc[1][0], -EIO); /* 8 B receive, 16 B send */
	assert_int_equal(c.stats[1].received, 0);
}

/* Every rank sends a distinct pattern to every other rank. */
static void body_all_to_all(struct fsc_fabric *f, struct lb_case *c)
{
	struct fsc_req reqs[2 * MAXR];
	unsigned char out[MAXR][64], in[MAXR][64];
	size_t nr = 0;
	uint64_t wrong = 0;

	for (int p = 0; p < f->size; p++) {
		for (int i = 0; i < 64; i++)
			out[p][i] = (unsigned char)(f->rank * 31 + p * 7 + i);
		memset(in[p], 0, sizeof(in[p]));
		if (p == f->rank)
			continue;
		c->rc[f->rank][0] |= fsc_fabric_irecv(f, p, in[p], 64, 3, &reqs[nr++]);
		c->rc[f->rank][0] |= fsc_fabric_isend(f, p, out[p], 64, 3, &reqs[nr++]);
	}
	c->rc[f->rank][1] = fsc_fabric_wait(f, reqs, nr);
	for (int p = 0; p < f->size; p++)
		for (int i = 0; i < 64 && p != f->rank; i++)
			wrong += in[p][i] != (unsigned char)(p * 31 + f->rank * 7 + i);
	c->val[f->rank][0] = wrong;
	c->rc[f->rank][2] = fsc_fabric_sync(f);
}

static void fsc_fabric_loopback__runs_one_to_eight_ranks(void **state)
{
	(void)state;
	for (int n = 1; n <= MAXR; n++) {
		struct lb_case c = {.n = n, .body = body_all_to_all};

		run_case(&c);
		for (int r = 0; r < n; r++) {
			assert_int_equal(c.rc[r][0], 0);
			assert_int_equal(c.rc[r][1], 0);
			assert_int_equal(c.rc[r][2], 0);
			assert_int_equal(c.val[r][0], 0);
			assert_int_equal(c.stats[r].sent, (uint64_t)(n - 1));
			assert_int_equal(c.stats[r].received, (uint64_t)(n - 1));
		}
	}
}

/* --- fault injection --------------------------------------------------- */

/* 0 -> 1: three 4096 B messages then one of 16 B; rank 1 records where the
 * bytes differ from what was sent. */
static void body_corrupt(struct fsc_fabric *f, struct lb_case *c)
{
	unsigned char buf[4096], got[4096];

	for (int i = 0; i < 4096; i++)
		buf[i] = (unsigned char)(i * 13 + 1);
	for (int m = 0; m < 4; m++) {
		size_t bytes = m == 3 ? 16 : 4096;

		if (f->rank == 0) {
			c->rc[0][m] = fsc_fabric_send(f, 1, buf, bytes, 9);
			continue;
		}
		memset(got, 0, sizeof(got));
		c->rc[1][m] = fsc_fabric_recv(f, 0, got, bytes, 9);
		c->val[1][2 * m] = 0;        /* wrong bytes */
		c->val[1][2 * m + 1] = 9999; /* first wrong offset */
		for (size_t i = bytes; i-- > 0;)
			if (got[i] != buf[i]) {
				c->val[1][2 * m]++;
				c->val[1][2 * m + 1] = i;
				c->vt[1][m] = (double)(got[i] ^ buf[i]);
			}
	}
}

static void fsc_fabric_loopback__corrupts_the_chosen_byte(void **state)
{
	static const char *const o[] = {"lb-corrupt", "0:1:1:100,0:1:3:99999", 0};
	struct lb_case c = {.n = 2, .opts = o, .body = body_corrupt};

	(void)state;
	run_case(&c);
	for (int m = 0; m < 4; m++)
		assert_int_equal(c.rc[1][m], 0);
	assert_int_equal(c.val[1][0], 0); /* message 0 intact */
	assert_int_equal(c.val[1][2], 1); /* message 1: one byte ... */
	assert_int_equal(c.val[1][3], 100);
	assert_true(c.vt[1][1] == 255.0);  /* ... XORed with 0xFF */
	assert_int_equal(c.val[1][4], 0);  /* message 2 intact */
	assert_int_equal(c.val[1][6], 1);  /* message 3: offset clamped */
	assert_int_equal(c.val[1][7], 15); /* to its last byte */
	assert_int_equal(c.stats[0].corrupted, 2);
}

static void body_drop(struct fsc_fabric *f, struct lb_case *c)
{
	char buf[8] = {0};

	if (f->rank == 0)
		c->rc[0][0] = fsc_fabric_send(f, 1, buf, 8, 1);
	else
		c->rc[1][0] = fsc_fabric_recv(f, 0, buf, 8, 1);
}

static void fsc_fabric_loopback__dropped_message_times_out(void **state)
{
	static const char *const o[] = {"lb-drop", "0:1:0", 0};
	struct lb_case c = {.n = 2, .opts = o, .timeout_ns = 50000000, .body = body_drop};

	(void)state;
	run_case(&c);
	assert_int_equal(c.rc[0][0], 0); /* the sender never knows */
	assert_int_equal(c.rc[1][0], -ETIMEDOUT);
	assert_int_equal(c.stats[0].sent, 1);
	assert_int_equal(c.stats[0].dropped, 1);
	assert_int_equal(c.stats[1].received, 0);
}

/* A receive that timed out is withdrawn: the message its peer sends late
 * never lands in its buffer, later operations with that peer fail fast, and
 * a third rank is unaffected.  Rank 0 is the late sender, rank 2 a
 * bystander; barriers order the steps, the message is deposited before the
 * second one (loopback sends complete at once). */
#define LATE_BYTES 64
#define LATE_CANARY 0xEE

static void body_late(struct fsc_fabric *f, struct lb_case *c)
{
	unsigned char sbuf[LATE_BYTES], ok[LATE_BYTES];
	unsigned char *buf = malloc(LATE_BYTES);
	struct fsc_req *r = malloc(sizeof(*r));
	int me = f->rank;

	memset(sbuf, 0x11, sizeof(sbuf));
	if (me == 1) {
		c->rc[1][0] = fsc_fabric_irecv(f, 0, buf, LATE_BYTES, 5, r);
		c->rc[1][1] = fsc_fabric_wait(f, r, 1);
		c->val[1][0] = (uint64_t)r->done;
		/* The request storage goes back to the heap; the buffer is
		 * kept, filled with a canary, to see whether anything lands. */
		free(r);
		r = 0;
		memset(buf, LATE_CANARY, LATE_BYTES);
	}
	fsc_boot_barrier(f->boot);
	if (me == 0)
		c->rc[0][0] = fsc_fabric_send(f, 1, sbuf, LATE_BYTES, 5); /* the late one */
	fsc_boot_barrier(f->boot);
	if (me == 1) {
		struct fsc_req r2;

		c->rc[1][2] = fsc_fabric_progress(f);
		c->val[1][1] = 0;
		for (size_t i = 0; i < LATE_BYTES; i++)
			c->val[1][1] += buf[i] != LATE_CANARY;
		c->rc[1][3] = fsc_fabric_irecv(f, 0, ok, LATE_BYTES, 5, &r2);
		c->rc[1][4] = fsc_fabric_isend(f, 0, sbuf, LATE_BYTES, 6, &r2);
		c->rc[1][5] = fsc_fabric_recv(f, 2, ok, LATE_BYTES, 7);
		c->val[1][2] = ok[0];
	}
	if (me == 2) {
		memset(sbuf, 0x22, sizeof(sbuf));
		c->rc[2][0] = fsc_fabric_send(f, 1, sbuf, LATE_BYTES, 7);
	}
	fsc_boot_barrier(f->boot);
	free(r);
	free(buf);
}

static void fsc_fabric_loopback__late_message_after_cancel_is_discarded(void **state)
{
	struct lb_case c = {.n = 3, .timeout_ns = 50000000, .body = body_late};

	(void)state;
	run_case(&c);
	assert_int_equal(c.rc[1][0], 0);
	assert_int_equal(c.rc[1][1], -ETIMEDOUT);
	assert_int_equal(c.val[1][0], FSC_REQ_WITHDRAWN);
	assert_int_equal(c.rc[0][0], 0); /* the late sender sees no error */
	assert_int_equal(c.rc[1][2], 0);
	assert_int_equal(c.val[1][1], 0); /* canary intact */
	assert_int_equal(c.stats[1].discarded, 1);
	assert_int_equal(c.rc[1][3], -EIO); /* the poisoned peer, both ways */
	assert_int_equal(c.rc[1][4], -EIO);
	assert_int_equal(c.rc[1][5], 0); /* another peer is unaffected */
	assert_int_equal(c.val[1][2], 0x22);
	assert_int_equal(c.rc[2][0], 0);
}

/* Cancel of a receive that has not timed out: the other receives posted
 * for the same peer fail, receives from other peers go on. */
static void body_cancel_direct(struct fsc_fabric *f, struct lb_case *c)
{
	unsigned char a[8], b[8], d[8] = {0};
	struct fsc_req r[3];

	if (f->rank == 1) {
		c->rc[1][0] = fsc_fabric_irecv(f, 0, a, 8, 1, &r[0]);
		c->rc[1][1] = fsc_fabric_irecv(f, 0, b, 8, 2, &r[1]);
		c->rc[1][2] = fsc_fabric_irecv(f, 2, d, 8, 3, &r[2]);
		c->rc[1][3] = fsc_fabric_cancel(f, &r[0]);
		c->rc[1][4] = fsc_fabric_cancel(f, &r[0]); /* twice: no-op */
		c->rc[1][5] = fsc_fabric_wait(f, &r[1], 1);
		c->val[1][0] = (uint64_t)r[1].done;
	}
	fsc_boot_barrier(f->boot);
	if (f->rank == 2)
		c->rc[2][0] = fsc_fabric_send(f, 1, d, 8, 3);
	if (f->rank == 1)
		c->rc[1][6] = fsc_fabric_wait(f, &r[2], 1);
}

static void fsc_fabric_cancel__poisons_only_that_peer(void **state)
{
	struct lb_case c = {.n = 3, .timeout_ns = 2000000000, .body = body_cancel_direct};

	(void)state;
	run_case(&c);
	assert_int_equal(c.rc[1][3], 0);
	assert_int_equal(c.rc[1][4], 0);
	assert_int_equal(c.rc[1][5], -EIO); /* failed by the poisoning */
	assert_int_equal(c.val[1][0], FSC_REQ_WITHDRAWN);
	assert_int_equal(c.rc[1][6], 0);
	assert_int_equal(c.rc[2][0], 0);
}

/* A receive left posted, its request storage and buffer freed, then the
 * fabric destroyed (rank_main) while the peer's message is queued: no crash
 * and nothing touched (the sanitizer build checks the latter). */
static void body_destroy_pending(struct fsc_fabric *f, struct lb_case *c)
{
	unsigned char sbuf[16] = {0};
	unsigned char *buf = malloc(16);
	struct fsc_req *r = malloc(sizeof(*r));

	if (f->rank == 1)
		c->rc[1][0] = fsc_fabric_irecv(f, 0, buf, 16, 3, r);
	free(r);
	free(buf);
	fsc_boot_barrier(f->boot);
	if (f->rank == 0)
		c->rc[0][0] = fsc_fabric_send(f, 1, sbuf, 16, 4); /* another tag: stays queued */
	fsc_boot_barrier(f->boot);
}

static void fsc_fabric_destroy__with_a_receive_still_posted(void **state)
{
	struct lb_case c = {.n = 2, .body = body_destroy_pending};

	(void)state;
	run_case(&c);
	assert_int_equal(c.rc[1][0], 0);
	assert_int_equal(c.rc[0][0], 0);
}

/* --- options and setup ------------------------------------------------- */

struct create_case {
	struct fsc_config *cfg;
	int rc[2];
};

static int rank_create_only(struct fsc_boot *b, void *arg)
{
	struct create_case *cc = arg;
	struct fsc_fabric *f;

	cc->rc[b->rank] = fsc_fabric_create(&fsc_fabric_loopback, b, cc->cfg, &f);
	fsc_fabric_destroy(f);
	return 0;
}

static int create_rc(const char *name, const char *value)
{
	const char *const o[] = {name, value, 0};
	struct create_case cc = {.cfg = make_cfg(o)};

	assert_int_equal(fsc_boot_local_run(2, NULL, rank_create_only, &cc, NULL), 0);
	fsc_config_free(cc.cfg);
	assert_int_equal(cc.rc[0], cc.rc[1]);
	return cc.rc[0];
}

static void fsc_fabric_loopback__rejects_malformed_options(void **state)
{
	static const char *const bad[][2] = {
	        {"lb-drop", "0"},
	        {"lb-drop", "-1"},
	        {"lb-slow-rank", "2:0.5"}, /* rank out of range (2 ranks) */
	        {"lb-slow-rank", "1:0"},   /* factor must be > 0 */
	        {"lb-slow-rank", "1:-0.5"},
	        {"lb-slow-rank", "1"},
	        {"lb-slow-rank", "x:0.5"},
	        {"lb-slow-rank", "1:0.5,"},
	        {"lb-slow-rank", "1:0.5:2"},
	        {"lb-slow-rank", ""},
	        {"lb-slow-link", "0:0:0.5"}, /* a link has two ends */
	        {"lb-slow-link", "0:1"},
	        {"lb-slow-link", "0:1:fast"},
	        {"lb-slow-link", "0:1:nan"},
	        {"lb-corrupt", "0:1:0"},
	        {"lb-corrupt", "0:1:-1:0"},
	        {"lb-corrupt", "0:1:0:+1"},
	        {"lb-drop", "0:1"},
	        {"lb-drop", "0:2:0"},
	        {"lb-drop", "1:1:0"},
	        {"lb-drop", "0:1:0:0"},
	        {"lb-drop", "0::1"},
	};
	static const char *const good[][2] = {
	        {"lb-slow-rank", "1:0.5,0:2"},
	        {"lb-slow-link", "0:1:0.5,1:0:1e-3"},
	        {"lb-corrupt", "0:1:0:0,1:0:7:123456"},
	        {"lb-drop", "1:0:0"},
	        {"lb-bw", "0.001"},
	        {"lb-lat", "0"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = create_rc(bad[i][0], bad[i][1]);

		if (rc != -EINVAL)
			print_message("--%s '%s' gave %d\n", bad[i][0], bad[i][1], rc);
		assert_int_equal(rc, -EINVAL);
	}
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_int_equal(create_rc(good[i][0], good[i][1]), 0);
	/* A bandwidth of 0 or below never reaches create: the option's
	 * stated range refuses it. */
	{
		const struct fsc_opt_group g = {"loopback", fsc_fabric_loopback.opts};
		struct fsc_config *cfg;
		char err[256];

		assert_int_equal(fsc_config_defaults(&cfg, &g, 1), 0);
		assert_int_equal(fsc_config_set(cfg, "lb-bw", "0", err, sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, "'0' for --lb-bw: must be between"));
		assert_int_equal(fsc_config_set(cfg, "lb-bw", "-2", err, sizeof(err)), -EINVAL);
		fsc_config_free(cfg);
	}
}

static const struct fsc_boot_ops other_boot_ops = {.name = "mpi"};

static void fsc_fabric_loopback__needs_the_local_bootstrap(void **state)
{
	struct fsc_boot other = {.ops = &other_boot_ops, .rank = 0, .size = 2};
	struct fsc_fabric *f = (struct fsc_fabric *)1;
	char reason[64];

	(void)state;
	assert_int_equal(fsc_fabric_probe(&fsc_fabric_loopback, NULL, reason, sizeof(reason)), 0);
	assert_int_equal(fsc_fabric_create(&fsc_fabric_loopback, &other, NULL, &f), -ENOTSUP);
	assert_null(f);
	assert_int_equal(fsc_fabric_create(&fsc_fabric_loopback, NULL, NULL, &f), -ENOTSUP);
	assert_null(f);
	assert_true(fsc_loopback_vt_ns(NULL) == -1.0);
}

static void body_describe(struct fsc_fabric *f, struct lb_case *c)
{
	json_t *info = json_object();

	c->rc[f->rank][0] = fsc_fabric_describe(f, info);
	c->vt[f->rank][0] = json_real_value(json_object_get(info, "lat_ns"));
	c->vt[f->rank][1] = json_real_value(json_object_get(info, "bw_GBps"));
	c->val[f->rank][0] =
	        !strcmp(json_string_value(json_object_get(info, "model")), "virtual clock");
	json_decref(info);
}

static void fsc_fabric_describe__reports_the_clock_model(void **state)
{
	static const char *const o[] = {"lb-lat", "2us", "lb-bw", "12.5", 0};
	struct lb_case c = {.n = 2, .opts = o, .body = body_describe};

	(void)state;
	run_case(&c);
	assert_int_equal(c.rc[1][0], 0);
	assert_true(c.vt[1][0] == 2000.0);
	assert_true(c.vt[1][1] == 12.5);
	assert_int_equal(c.val[1][0], 1);
}

/* --- one-sided transfers ------------------------------------------------ */

#define RMA_BYTES 4096

/* Rank 1 exposes a window of 2 x RMA_BYTES whose second half holds 0x5A.
 * Rank 0 puts RMA_BYTES of 0xA5 silently at 0, then notified (tag 9) at
 * RMA_BYTES... no: the notified one also at 0; then gets the second half.
 * Records: rc[1][0] notification receive, val[1][0] bytes of the window's
 * first half that are not 0xA5, vt[1][0] rank 1's clock after it;
 * rc[0][0..1] puts, rc[0][2] get, val[0][0] wrong bytes got, vt[0][0] rank
 * 0's clock after the get. */
static void body_rma(struct fsc_fabric *f, struct lb_case *c)
{
	unsigned char *win = fsc_fabric_buf_alloc(f, 2 * RMA_BYTES);
	unsigned char *src = fsc_fabric_buf_alloc(f, RMA_BYTES);
	struct fsc_win *w = 0;
	struct fsc_req r[2];
	int me = f->rank;

	memset(win + RMA_BYTES, 0x5A, RMA_BYTES);
	memset(src, me == 0 ? 0xA5 : 0, RMA_BYTES);
	c->rc[me][9] = fsc_fabric_win_create(f, win, me == 1 ? 2 * RMA_BYTES : 0, &w);
	if (c->rc[me][9])
		goto out;
	if (me == 0) {
		c->rc[0][0] = fsc_fabric_put(f, w, 1, 0, src, RMA_BYTES, -1, &r[0]);
		c->rc[0][1] = fsc_fabric_put(f, w, 1, 0, src, RMA_BYTES, 9, &r[1]);
		if (!c->rc[0][0] && !c->rc[0][1])
			c->rc[0][3] = fsc_fabric_wait(f, r, 2);
		c->vt[0][1] = fsc_loopback_vt_ns(f); /* puts do not move it */
		memset(src, 0, RMA_BYTES);
		c->rc[0][2] = fsc_fabric_get(f, w, 1, RMA_BYTES, src, RMA_BYTES, &r[0]);
		if (!c->rc[0][2])
			c->rc[0][2] = fsc_fabric_wait(f, r, 1);
		c->vt[0][0] = fsc_loopback_vt_ns(f);
		for (size_t i = 0; i < RMA_BYTES; i++)
			c->val[0][0] += src[i] != 0x5A;
	} else if (me == 1) {
		c->rc[1][0] = fsc_fabric_recv(f, 0, NULL, 0, 9);
		c->vt[1][0] = fsc_loopback_vt_ns(f);
		for (size_t i = 0; i < RMA_BYTES; i++)
			c->val[1][0] += win[i] != 0xA5;
	}
	c->rc[me][10] = fsc_fabric_win_free(w);
out:
	fsc_fabric_buf_free(f, src);
	fsc_fabric_buf_free(f, win);
}

static void fsc_fabric_loopback__put_notifies_and_get_reads_on_the_clock(void **state)
{
	struct lb_case c = {.n = 3, .opts = lat1us_bw1, .body = body_rma};

	(void)state;
	run_case(&c);
	for (int r = 0; r < 3; r++) {
		assert_int_equal(c.rc[r][9], 0);
		assert_int_equal(c.rc[r][10], 0);
	}
	assert_int_equal(c.rc[0][0], 0);
	assert_int_equal(c.rc[0][1], 0);
	assert_int_equal(c.rc[0][3], 0);
	assert_int_equal(c.rc[1][0], 0);
	assert_int_equal(c.val[1][0], 0); /* the data was there with the notification */
	/* two puts back to back on a 1 GB/s link: the second lands at
	 * 2 x 4096 + 1000 */
	assert_true(c.vt[1][0] == 2 * 4096.0 + 1000.0);
	assert_true(c.vt[0][1] == 0.0);
	/* the get queues behind the puts on rank 0's link, then needs a
	 * latency each way */
	assert_int_equal(c.rc[0][2], 0);
	assert_int_equal(c.val[0][0], 0);
	assert_true(c.vt[0][0] == 3 * 4096.0 + 2000.0);
	/* two puts, a get, and win_free's zero-byte message to each peer */
	assert_int_equal(c.stats[0].sent, 3 + 2);
	assert_int_equal(c.stats[0].bytes_sent, 3 * RMA_BYTES);
}

/* Faults on one-sided transfers, on link 0->1: message 0 is a notified put
 * corrupted at byte 5; message 1 a get, dropped (it times out, is
 * withdrawn, and does not poison rank 1: message 2, a send, arrives);
 * message 3 a notified put of 0x22, dropped (nothing written, no
 * notification: rank 1's receive times out).  Records: rc[] per step,
 * val[1][2..3] window bytes 5 and 4, val[1][1] window bytes equal to 0x22. */
static void body_rma_faults(struct fsc_fabric *f, struct lb_case *c)
{
	unsigned char *win = fsc_fabric_buf_alloc(f, 64);
	unsigned char src[64], one = 1;
	struct fsc_win *w = 0;
	struct fsc_req r;
	int me = f->rank;

	memset(src, 0x11, sizeof(src));
	if (fsc_fabric_win_create(f, win, 64, &w))
		goto out;
	if (me == 0) {
		c->rc[0][0] = fsc_fabric_put(f, w, 1, 0, src, 64, 6, &r);
		c->rc[0][1] = fsc_fabric_get(f, w, 1, 0, src, 64, &r);
		if (!c->rc[0][1])
			c->rc[0][1] = fsc_fabric_wait(f, &r, 1);
		c->val[0][1] = (uint64_t)r.done;
		c->rc[0][2] = fsc_fabric_send(f, 1, &one, 1, 5);
		memset(src, 0x22, sizeof(src));
		c->rc[0][3] = fsc_fabric_put(f, w, 1, 0, src, 64, 4, &r);
	} else if (me == 1) {
		uint64_t short_ns = f->timeout_ns;

		f->timeout_ns = 5000000000ull; /* rank 0 first waits out its get */
		c->rc[1][0] = fsc_fabric_recv(f, 0, NULL, 0, 6);
		c->val[1][2] = win[5];
		c->val[1][3] = win[4];
		c->rc[1][2] = fsc_fabric_recv(f, 0, &one, 1, 5);
		f->timeout_ns = short_ns;
		c->rc[1][3] = fsc_fabric_recv(f, 0, NULL, 0, 4);
		for (size_t i = 0; i < 64; i++)
			c->val[1][1] += win[i] == 0x22;
	}
	fsc_fabric_win_free(w);
out:
	fsc_fabric_buf_free(f, win);
}

static void fsc_fabric_loopback__drops_and_corrupts_one_sided_transfers(void **state)
{
	static const char *const o[] = {"lb-drop", "0:1:1,0:1:3", "lb-corrupt", "0:1:0:5", 0};
	struct lb_case c = {.n = 2, .opts = o, .timeout_ns = 50000000, .body = body_rma_faults};

	(void)state;
	run_case(&c);
	assert_int_equal(c.rc[0][0], 0);
	assert_int_equal(c.rc[1][0], 0);
	assert_int_equal(c.val[1][2], 0x11 ^ 0xFF); /* byte 5 flipped */
	assert_int_equal(c.val[1][3], 0x11);
	assert_int_equal(c.rc[0][1], -ETIMEDOUT); /* the dropped get */
	assert_int_equal(c.val[0][1], FSC_REQ_WITHDRAWN);
	assert_int_equal(c.rc[0][2], 0); /* the pair stays usable */
	assert_int_equal(c.rc[1][2], 0);
	assert_int_equal(c.rc[0][3], 0); /* the initiator never knows */
	assert_int_equal(c.rc[1][3], -ETIMEDOUT);
	assert_int_equal(c.val[1][1], 0); /* nothing written */
	assert_int_equal(c.stats[0].dropped, 2);
	assert_int_equal(c.stats[0].corrupted, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(fsc_fabric_loopback__message_arrives_after_xfer_plus_latency),
	        cmocka_unit_test(fsc_fabric_loopback__back_to_back_messages_queue_on_the_link),
	        cmocka_unit_test(fsc_fabric_loopback__slow_link_scales_xfer_and_latency),
	        cmocka_unit_test(fsc_fabric_loopback__slow_ranks_multiply),
	        cmocka_unit_test(fsc_fabric_loopback__ping_pong_adds_both_directions),
	        cmocka_unit_test(fsc_fabric_sync__sets_every_rank_to_the_latest_clock),
	        cmocka_unit_test(fsc_fabric_clock__rounds_virtual_time_to_nearest_ns),
	        cmocka_unit_test(fsc_fabric_loopback__matches_by_tag_in_posting_order),
	        cmocka_unit_test(fsc_fabric_loopback__rejects_bad_peers_and_size_mismatch),
	        cmocka_unit_test(fsc_fabric_loopback__runs_one_to_eight_ranks),
	        cmocka_unit_test(fsc_fabric_loopback__corrupts_the_chosen_byte),
	        cmocka_unit_test(fsc_fabric_loopback__dropped_message_times_out),
	        cmocka_unit_test(fsc_fabric_loopback__late_message_after_cancel_is_discarded),
	        cmocka_unit_test(fsc_fabric_cancel__poisons_only_that_peer),
	        cmocka_unit_test(fsc_fabric_destroy__with_a_receive_still_posted),
	        cmocka_unit_test(fsc_fabric_loopback__rejects_malformed_options),
	        cmocka_unit_test(fsc_fabric_loopback__needs_the_local_bootstrap),
	        cmocka_unit_test(fsc_fabric_describe__reports_the_clock_model),
	        cmocka_unit_test(fsc_fabric_loopback__put_notifies_and_get_reads_on_the_clock),
	        cmocka_unit_test(fsc_fabric_loopback__drops_and_corrupts_one_sided_transfers),
	};

	return cmocka_run_group_tests(tests, 0, 0);
}
