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

/* The same with cancel (recording which requests it saw), a test that can
 * fail, and an isend that can fail. */
static struct fsc_req *cancelled[8];
static int cancelled_is_recv[8]; /* copied: the request may be gone */
static int ncancelled;
static int test_rc;
static int isend_rc;

static int fake_cancel(struct fsc_fabric *f, struct fsc_req *req)
{
	(void)f;
	if (ncancelled < 8) {
		cancelled[ncancelled] = req;
		cancelled_is_recv[ncancelled] = req->is_recv;
	}
	ncancelled++;
	return 0;
}

static int fake_test_rc(struct fsc_fabric *f, struct fsc_req *req, int *done)
{
	int rc = fake_test(f, req, done);

	if (test_rc && req->is_recv) {
		*done = 0;
		return test_rc;
	}
	return rc;
}

static int fake_isend_rc(struct fsc_fabric *f, int peer, const void *buf, size_t bytes, int tag,
                         struct fsc_req *req)
{
	(void)fake_isend(f, peer, buf, bytes, tag, req);
	return isend_rc;
}

static const struct fsc_fabric_ops cancel_ops = {
        .name = "fake-cancel",
        .caps = FSC_CAP_SEND_RECV,
        .isend = fake_isend_rc,
        .irecv = fake_irecv,
        .test = fake_test_rc,
        .cancel = fake_cancel,
};

static void reset_fakes(void)
{
	polls = 0;
	polls_to_complete = -1;
	ncancelled = 0;
	test_rc = 0;
	isend_rc = 0;
	memset(cancelled, 0, sizeof(cancelled));
}

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
	/* No cancel entry: the request is given up, the fabric abandoned. */
	assert_int_equal(r.done, FSC_REQ_WITHDRAWN);
	assert_int_equal(f->abandoned, 1);
	fsc_fabric_destroy(f);
}

static void fsc_fabric_wait__cancels_incomplete_requests_on_timeout(void **state)
{
	struct fsc_fabric *f;
	struct fsc_req r[3];
	char buf[4];
	int done;

	(void)state;
	reset_fakes();
	assert_int_equal(fsc_fabric_create(&cancel_ops, NULL, NULL, &f), 0);
	f->timeout_ns = 1000000;
	assert_int_equal(fsc_fabric_irecv(f, 1, buf, 4, 0, &r[0]), 0);
	assert_int_equal(fsc_fabric_isend(f, 1, buf, 4, 0, &r[1]), 0);
	assert_int_equal(fsc_fabric_irecv(f, 2, buf, 4, 0, &r[2]), 0);
	r[1].done = 1; /* completed earlier: must not be cancelled */
	assert_int_equal(fsc_fabric_wait(f, r, 3), -ETIMEDOUT);
	assert_int_equal(ncancelled, 2);
	assert_ptr_equal(cancelled[0], &r[0]);
	assert_ptr_equal(cancelled[1], &r[2]);
	assert_int_equal(r[0].done, FSC_REQ_WITHDRAWN);
	assert_int_equal(r[1].done, 1);
	assert_int_equal(r[2].done, FSC_REQ_WITHDRAWN);
	assert_int_equal(f->abandoned, 0);
	/* A withdrawn request tests as done with an error, without the
	 * fabric being asked again. */
	polls = 0;
	assert_int_equal(fsc_fabric_test(f, &r[0], &done), -ECANCELED);
	assert_int_equal(done, 1);
	assert_int_equal(polls, 0);
	fsc_fabric_destroy(f);
}

static void fsc_fabric_wait__cancels_on_a_test_error(void **state)
{
	struct fsc_fabric *f;
	struct fsc_req r[2];
	char buf[4];

	(void)state;
	reset_fakes();
	test_rc = -EIO;
	assert_int_equal(fsc_fabric_create(&cancel_ops, NULL, NULL, &f), 0);
	assert_int_equal(fsc_fabric_isend(f, 1, buf, 4, 0, &r[0]), 0);
	assert_int_equal(fsc_fabric_irecv(f, 1, buf, 4, 0, &r[1]), 0);
	assert_int_equal(fsc_fabric_wait(f, r, 2), -EIO);
	assert_int_equal(ncancelled, 2);
	assert_int_equal(r[0].done, FSC_REQ_WITHDRAWN);
	assert_int_equal(r[1].done, FSC_REQ_WITHDRAWN);
	fsc_fabric_destroy(f);
}

static void fsc_fabric_cancel__done_or_unposted_request_is_left_alone(void **state)
{
	struct fsc_fabric *f;
	struct fsc_req r;
	char buf[4];

	(void)state;
	reset_fakes();
	assert_int_equal(fsc_fabric_create(&cancel_ops, NULL, NULL, &f), 0);
	assert_int_equal(fsc_fabric_isend(f, 1, buf, 4, 0, &r), 0);
	r.done = 1;
	assert_int_equal(fsc_fabric_cancel(f, &r), 0);
	assert_int_equal(r.done, 1);
	isend_rc = -EINVAL; /* a failed post leaves nothing to cancel */
	assert_int_equal(fsc_fabric_isend(f, 1, buf, 4, 0, &r), -EINVAL);
	assert_int_equal(r.done, FSC_REQ_WITHDRAWN);
	assert_int_equal(fsc_fabric_cancel(f, &r), 0);
	assert_int_equal(ncancelled, 0);
	fsc_fabric_destroy(f);
}

static void fsc_fabric_reqs_init__cancel_all_skips_never_posted_requests(void **state)
{
	struct fsc_fabric *f;
	struct fsc_req r[4];
	char buf[4];

	(void)state;
	reset_fakes();
	memset(r, 0, sizeof(r)); /* as calloc leaves them: "pending" */
	fsc_fabric_reqs_init(r, 4);
	assert_int_equal(fsc_fabric_create(&cancel_ops, NULL, NULL, &f), 0);
	assert_int_equal(fsc_fabric_irecv(f, 1, buf, 4, 0, &r[1]), 0);
	assert_int_equal(fsc_fabric_cancel_all(f, r, 4), 0);
	assert_int_equal(ncancelled, 1);
	assert_ptr_equal(cancelled[0], &r[1]);
	fsc_fabric_destroy(f);
}

static void fsc_fabric_cancel__without_entry_abandons_the_fabric(void **state)
{
	struct fsc_fabric *f;
	struct fsc_req r, r2;
	char buf[4];
	int done = 0;

	(void)state;
	reset_fakes();
	assert_int_equal(fsc_fabric_create(&fake_ops, NULL, NULL, &f), 0);
	assert_int_equal(fsc_fabric_irecv(f, 1, buf, 4, 0, &r), 0);
	assert_int_equal(fsc_fabric_irecv(f, 1, buf, 4, 1, &r2), 0);
	assert_int_equal(fsc_fabric_cancel(f, &r), -ENOTSUP);
	assert_int_equal(f->abandoned, 1);
	/* Nothing reaches the fabric any more: no poll, no post. */
	assert_int_equal(fsc_fabric_test(f, &r2, &done), -EIO);
	assert_int_equal(done, 1);
	assert_int_equal(polls, 0);
	assert_int_equal(fsc_fabric_isend(f, 1, buf, 4, 0, &r), -EIO);
	assert_int_equal(fsc_fabric_progress(f), -EIO);
	assert_int_equal(fsc_fabric_send(f, 1, buf, 4, 0), -EIO);
	fsc_fabric_destroy(f);
}

static void fsc_fabric_sendrecv__cancels_the_receive_when_the_send_fails(void **state)
{
	struct fsc_fabric *f;
	char sbuf[4] = {0}, rbuf[4];

	(void)state;
	reset_fakes();
	isend_rc = -EINVAL;
	assert_int_equal(fsc_fabric_create(&cancel_ops, NULL, NULL, &f), 0);
	assert_int_equal(fsc_fabric_sendrecv(f, 1, sbuf, 4, 1, rbuf, 4, 0), -EINVAL);
	assert_int_equal(ncancelled, 1);
	assert_int_equal(cancelled_is_recv[0], 1);
	fsc_fabric_destroy(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(fsc_fabric_wrappers__missing_entries_are_not_supported),
	        cmocka_unit_test(fsc_fabric_wait__completes_after_polls),
	        cmocka_unit_test(fsc_fabric_wait__times_out_at_deadline),
	        cmocka_unit_test(fsc_fabric_wait__cancels_incomplete_requests_on_timeout),
	        cmocka_unit_test(fsc_fabric_wait__cancels_on_a_test_error),
	        cmocka_unit_test(fsc_fabric_cancel__done_or_unposted_request_is_left_alone),
	        cmocka_unit_test(fsc_fabric_reqs_init__cancel_all_skips_never_posted_requests),
	        cmocka_unit_test(fsc_fabric_cancel__without_entry_abandons_the_fabric),
	        cmocka_unit_test(fsc_fabric_sendrecv__cancels_the_receive_when_the_send_fails),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
