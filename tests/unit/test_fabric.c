/* Fabric wrappers: defaults for missing entries, the wait deadline. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "clock.h"
#include "fabric.h"

/* A fabric that only has isend/irecv/test; test completes a request after
 * `polls_to_complete` polls, or never when negative. */
static int polls_to_complete;
static int polls;

static int fake_isend(struct fsc_fabric *f, int peer, const void *buf, size_t bytes, int tag,
                      struct fsc_req *req)
{
	(void)f;
	(void)peer;
	(void)buf;
	(void)bytes;
	(void)tag;
	(void)req;
	return 0;
}

static int fake_irecv(struct fsc_fabric *f, int peer, void *buf, size_t bytes, int tag,
                      struct fsc_req *req)
{
	(void)f;
	(void)peer;
	(void)buf;
	(void)bytes;
	(void)tag;
	(void)req;
	return 0;
}

static int fake_test(struct fsc_fabric *f, struct fsc_req *req, int *done)
{
	(void)f;
	(void)req;
	polls++;
	*done = polls_to_complete >= 0 && polls >= polls_to_complete;
	return 0;
}

static const struct fsc_fabric_ops fake_ops = {
        .name = "fake",
        .caps = FSC_CAP_SEND_RECV,
        .isend = fake_isend,
        .irecv = fake_irecv,
        .test = fake_test,
};

static const struct fsc_fabric_ops empty_ops = {.name = "empty"};

static void fsc_fabric_wrappers__missing_entries_are_not_supported(void **state)
{
	struct fsc_fabric *f;
	struct fsc_req r;
	struct fsc_clock c;
	char buf[4];
	int done;

	(void)state;
	assert_int_equal(fsc_fabric_create(&empty_ops, NULL, NULL, &f), 0);
	assert_int_equal(fsc_fabric_isend(f, 1, buf, 4, 0, &r), -ENOTSUP);
	assert_int_equal(fsc_fabric_irecv(f, 1, buf, 4, 0, &r), -ENOTSUP);
	r.done = 0;
	assert_int_equal(fsc_fabric_test(f, &r, &done), -ENOTSUP);
	assert_int_equal(fsc_fabric_coll_allreduce(f, buf, buf, 1, FSC_F32, FSC_SUM), -ENOTSUP);
	assert_int_equal(fsc_fabric_coll_alltoall(f, buf, buf, 1), -ENOTSUP);
	assert_int_equal(fsc_fabric_coll_barrier(f), -ENOTSUP);
	/* optional entries default to harmless successes */
	assert_int_equal(fsc_fabric_connect(f), 0);
	assert_int_equal(fsc_fabric_mem_reg(f, buf, 4), 0);
	assert_int_equal(fsc_fabric_sync(f), 0);
	assert_int_equal(fsc_fabric_clock(f, &c), 0);
	assert_ptr_equal(c.now_ns, fsc_clock_monotonic_ns);
	fsc_fabric_destroy(f);
	fsc_fabric_destroy(NULL);
}

static void fsc_fabric_wait__completes_after_polls(void **state)
{
	struct fsc_fabric *f;
	struct fsc_req r[2];
	char buf[4];

	(void)state;
	assert_int_equal(fsc_fabric_create(&fake_ops, NULL, NULL, &f), 0);
	polls = 0;
	polls_to_complete = 1000;
	assert_int_equal(fsc_fabric_isend(f, 1, buf, 4, 3, &r[0]), 0);
	assert_int_equal(fsc_fabric_irecv(f, 1, buf, 4, 3, &r[1]), 0);
	assert_int_equal(r[0].peer, 1);
	assert_int_equal(r[1].is_recv, 1);
	assert_int_equal(fsc_fabric_wait(f, r, 2), 0);
	assert_true(r[0].done && r[1].done);
	fsc_fabric_destroy(f);
}

static void fsc_fabric_wait__times_out_at_deadline(void **state)
{
	struct fsc_fabric *f;
	struct fsc_req r;
	char buf[4];
	uint64_t t0, dt;

	(void)state;
	assert_int_equal(fsc_fabric_create(&fake_ops, NULL, NULL, &f), 0);
	f->timeout_ns = 50 * 1000 * 1000;
	polls = 0;
	polls_to_complete = -1;
	assert_int_equal(fsc_fabric_irecv(f, 1, buf, 4, 0, &r), 0);
	t0 = fsc_time_real_ns();
	assert_int_equal(fsc_fabric_wait(f, &r, 1), -ETIMEDOUT);
	dt = fsc_time_real_ns() - t0;
	/* not before the deadline (an upper bound would be a timing test) */
	assert_true(dt >= f->timeout_ns);
	assert_int_equal(r.done, 0);
	fsc_fabric_destroy(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(fsc_fabric_wrappers__missing_entries_are_not_supported),
	        cmocka_unit_test(fsc_fabric_wait__completes_after_polls),
	        cmocka_unit_test(fsc_fabric_wait__times_out_at_deadline),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
