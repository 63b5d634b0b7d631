/* Patterns withdraw what they posted when a later post fails: a pattern
 * that returns early must not leave a receive posted into the buffers its
 * teardown frees.
 *
 * The fabric is the loopback one with two entries replaced: isend fails on
 * the chosen ranks, and cancel counts the receives it is asked to withdraw
 * before passing them on.  Ranks are threads; they record, the main thread
 * asserts.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "boot.h"
#include "fabric.h"
#include "loopback/loopback.h"
#include "pattern.h"
#include "registry.h"
#include "unit/lb_harness.h"

#define NR 2

static int fail_on[NR];             /* isend fails on these ranks */
static atomic_int recv_cancels[NR]; /* receives handed to cancel */

static int failing_isend(struct fsc_fabric *f, int peer, const void *buf, size_t bytes, int tag,
                         struct fsc_req *req)
{
	if (fail_on[f->rank])
		return -EIO;
	return fsc_fabric_loopback.isend(f, peer, buf, bytes, tag, req);
}

static int counting_cancel(struct fsc_fabric *f, struct fsc_req *req)
{
	if (req->is_recv)
		atomic_fetch_add(&recv_cancels[f->rank], 1);
	return fsc_fabric_loopback.cancel(f, req);
}

struct pc_case {
	const char *pattern;
	const char *impl; /* NULL: the pattern's default */
	size_t bytes;
	int run_rc[NR];
};

static int rank_main(struct fsc_boot *b, void *arg)
{
	struct pc_case *pc = arg;
	struct fsc_fabric_ops ops = fsc_fabric_loopback;
	const struct fsc_pattern_ops *p = fsc_pattern_find(pc->pattern);
	struct fsc_config *cfg = lbh_config(0, 0);
	struct fsc_fabric *f = 0;
	void *st = 0;
	int rc;

	ops.isend = failing_isend;
	ops.cancel = counting_cancel;
	rc = fsc_fabric_create(&ops, b, 0, &f);
	if (!rc)
		rc = fsc_fabric_connect(f);
	if (!rc && p) {
		struct fsc_pctx c = {.fab = f,
		                     .boot = b,
		                     .cfg = cfg,
		                     .rank = b->rank,
		                     .size = b->size,
		                     .impl = pc->impl   ? pc->impl
		                             : p->impls ? p->impls[0]
		                                        : 0,
		                     .bytes = pc->bytes,
		                     .dtype = FSC_F32,
		                     .op = FSC_SUM,
		                     .seed = 1};

		f->timeout_ns = 50000000;
		fsc_fabric_clock(f, &c.clock);
		rc = p->setup(&c, &st);
		if (!rc && p->fill)
			rc = p->fill(&c, st, 0);
		if (!rc)
			pc->run_rc[b->rank] = p->run(&c, st, 0);
		if (!rc)
			p->teardown(&c, st);
	}
	fsc_boot_barrier(b);
	fsc_fabric_destroy(f);
	fsc_config_free(cfg);
	return rc;
}

static void run_pc(struct pc_case *pc)
{
	int rcs[NR];

	for (int r = 0; r < NR; r++) {
		atomic_store(&recv_cancels[r], 0);
	}
	assert_non_null(fsc_pattern_find(pc->pattern));
	assert_int_equal(fsc_boot_local_run(NR, 0, rank_main, pc, rcs), 0);
	for (int r = 0; r < NR; r++)
		assert_int_equal(rcs[r], 0);
}

/* Above 4 KiB rank 0 posts the reply's receive, then the send: the send
 * fails, the receive must be withdrawn.  Rank 1's receive times out (and
 * the wait withdraws it). */
static void lat_run__failed_send_withdraws_the_posted_receive(void **state)
{
	struct pc_case pc = {.pattern = "latency", .bytes = 8192};

	(void)state;
	fail_on[0] = 1;
	fail_on[1] = 0;
	run_pc(&pc);
	assert_int_equal(pc.run_rc[0], -EIO);
	assert_int_equal(atomic_load(&recv_cancels[0]), 1);
	assert_int_equal(pc.run_rc[1], -ETIMEDOUT);
	assert_int_equal(atomic_load(&recv_cancels[1]), 1);
}

/* Every rank posts its receive, then its send fails. */
static void a2a_run__failed_send_withdraws_the_posted_receive(void **state)
{
	struct pc_case pc = {.pattern = "alltoall", .bytes = 64};

	(void)state;
	fail_on[0] = fail_on[1] = 1;
	run_pc(&pc);
	for (int r = 0; r < NR; r++) {
		assert_int_equal(pc.run_rc[r], -EIO);
		assert_int_equal(atomic_load(&recv_cancels[r]), 1);
	}
}

/* Bidirectional: both ranks post their window of 64 receives, then the
 * first send fails: all 64 must be withdrawn. */
static void bw_run__failed_send_withdraws_the_window(void **state)
{
	struct pc_case pc = {.pattern = "bandwidth", .impl = "bi", .bytes = 64};

	(void)state;
	fail_on[0] = fail_on[1] = 1;
	run_pc(&pc);
	for (int r = 0; r < NR; r++) {
		assert_int_equal(pc.run_rc[r], -EIO);
		assert_int_equal(atomic_load(&recv_cancels[r]), 64);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(lat_run__failed_send_withdraws_the_posted_receive),
	        cmocka_unit_test(a2a_run__failed_send_withdraws_the_posted_receive),
	        cmocka_unit_test(bw_run__failed_send_withdraws_the_window),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
