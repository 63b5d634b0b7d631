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

/* The buffers of an abandoned fabric are kept, listed and counted; those of
 * a healthy one are freed. */
static void fsc_fabric_buf_free__abandoned_fabric_keeps_its_buffers(void **state)
{
	struct fsc_fabric *f;
	size_t before = fsc_fabric_kept_buffers();
	void *a, *b;

	(void)state;
	reset_fakes();
	assert_int_equal(fsc_fabric_create(&fake_ops, NULL, NULL, &f), 0);
	a = fsc_fabric_buf_alloc(f, 100);
	b = fsc_fabric_buf_alloc(f, 100);
	assert_non_null(a);
	assert_non_null(b);
	fsc_fabric_buf_free(f, a);
	assert_int_equal(fsc_fabric_kept_buffers(), before);
	f->abandoned = 1;
	fsc_fabric_buf_free(f, b);
	fsc_fabric_buf_free(f, NULL);
	assert_int_equal(fsc_fabric_kept_buffers(), before + 1);
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

/* --- one-sided transfers ---------------------------------------------- */

/* A fabric with put/get: win_create hands out a counter; put answers
 * -EAGAIN `put_busy` times (negative: always) before it takes the
 * request; every call that reaches the fabric is counted. */
static int put_busy, puts_seen, gets_seen, progress_calls, win_frees;
static char fake_win_handle;

static int fake_win_create(struct fsc_fabric *f, void *buf, size_t bytes, void **win)
{
	(void)f;
	(void)buf;
	(void)bytes;
	*win = &fake_win_handle;
	return 0;
}

static void fake_win_free(struct fsc_fabric *f, void *win)
{
	(void)f;
	assert_ptr_equal(win, &fake_win_handle);
	win_frees++;
}

static int fake_put(struct fsc_fabric *f, void *win, int peer, size_t offset, const void *buf,
                    size_t bytes, int tag, struct fsc_req *req)
{
	(void)f;
	(void)peer;
	(void)offset;
	(void)buf;
	(void)bytes;
	(void)tag;
	(void)req;
	assert_ptr_equal(win, &fake_win_handle);
	puts_seen++;
	if (put_busy) {
		if (put_busy > 0)
			put_busy--;
		return -EAGAIN;
	}
	return 0;
}

static int fake_get(struct fsc_fabric *f, void *win, int peer, size_t offset, void *buf,
                    size_t bytes, struct fsc_req *req)
{
	(void)f;
	(void)win;
	(void)peer;
	(void)offset;
	(void)buf;
	(void)bytes;
	(void)req;
	gets_seen++;
	return 0;
}

static int fake_progress(struct fsc_fabric *f)
{
	(void)f;
	progress_calls++;
	return 0;
}

static const struct fsc_fabric_ops rma_ops = {
        .name = "fake-rma",
        .caps = FSC_CAP_SEND_RECV | FSC_CAP_RMA,
        .isend = fake_isend,
        .irecv = fake_irecv,
        .test = fake_test,
        .cancel = fake_cancel,
        .progress = fake_progress,
        .win_create = fake_win_create,
        .win_free = fake_win_free,
        .put = fake_put,
        .get = fake_get,
};

/* Three ranks, a 64-byte window each. */
static struct fsc_win *rma_setup(struct fsc_fabric **f)
{
	static char wbuf[64];
	struct fsc_win *w = 0;

	reset_fakes();
	put_busy = puts_seen = gets_seen = progress_calls = win_frees = 0;
	assert_int_equal(fsc_fabric_create(&rma_ops, NULL, NULL, f), 0);
	(*f)->size = 3;
	assert_int_equal(fsc_fabric_win_create(*f, wbuf, sizeof(wbuf), &w), 0);
	assert_non_null(w);
	assert_int_equal(w->sizes[2], 64);
	return w;
}

static void fsc_fabric_rma__missing_entries_are_not_supported(void **state)
{
	struct fsc_fabric *f;
	struct fsc_win *w = (struct fsc_win *)1; /* must be overwritten */
	struct fsc_req r;
	char buf[4];

	(void)state;
	assert_false(fsc_fabric_has_rma(&fake_ops));
	assert_true(fsc_fabric_has_rma(&rma_ops));
	assert_int_equal(fsc_fabric_create(&fake_ops, NULL, NULL, &f), 0);
	assert_int_equal(fsc_fabric_win_create(f, buf, sizeof(buf), &w), -ENOTSUP);
	assert_null(w);
	assert_int_equal(fsc_fabric_put(f, NULL, 1, 0, buf, 4, -1, &r), -ENOTSUP);
	assert_int_equal(r.done, FSC_REQ_WITHDRAWN);
	assert_int_equal(fsc_fabric_get(f, NULL, 1, 0, buf, 4, &r), -ENOTSUP);
	assert_int_equal(fsc_fabric_win_free(NULL), 0);
	fsc_fabric_destroy(f);
}

static void fsc_fabric_put__refuses_bad_peers_ranges_and_tags(void **state)
{
	struct fsc_fabric *f;
	struct fsc_win *w = rma_setup(&f);
	struct fsc_req r;
	char buf[16] = {0};

	(void)state;
	assert_int_equal(fsc_fabric_put(f, w, 3, 0, buf, 8, -1, &r), -EINVAL);
	assert_int_equal(fsc_fabric_put(f, w, -1, 0, buf, 8, -1, &r), -EINVAL);
	assert_int_equal(fsc_fabric_put(f, w, 0, 0, buf, 8, -1, &r), -EINVAL); /* oneself */
	assert_int_equal(fsc_fabric_put(f, w, 1, 60, buf, 8, -1, &r), -EINVAL);
	assert_int_equal(fsc_fabric_put(f, w, 1, 65, buf, 0, -1, &r), -EINVAL);
	assert_int_equal(fsc_fabric_put(f, w, 1, SIZE_MAX, buf, 2, -1, &r), -EINVAL);
	assert_int_equal(fsc_fabric_put(f, w, 1, 0, NULL, 8, -1, &r), -EINVAL);
	assert_int_equal(fsc_fabric_put(f, w, 1, 0, buf, 8, -2, &r), -EINVAL);
	assert_int_equal(fsc_fabric_get(f, w, 2, 57, buf, 8, &r), -EINVAL);
	assert_int_equal(fsc_fabric_get(f, NULL, 2, 0, buf, 8, &r), -EINVAL);
	assert_int_equal(r.done, FSC_REQ_WITHDRAWN);
	assert_int_equal(puts_seen + gets_seen, 0); /* nothing reached the fabric */
	/* the edges are fine */
	assert_int_equal(fsc_fabric_put(f, w, 1, 56, buf, 8, 7, &r), 0);
	assert_int_equal(r.rma, FSC_REQ_PUT);
	assert_int_equal(r.tag, 7);
	assert_int_equal(r.is_recv, 0);
	assert_int_equal(r.done, 0);
	assert_int_equal(fsc_fabric_put(f, w, 2, 64, NULL, 0, -1, &r), 0);
	assert_int_equal(fsc_fabric_get(f, w, 2, 0, buf, 16, &r), 0);
	assert_int_equal(r.rma, FSC_REQ_GET);
	assert_int_equal(r.is_recv, 1);
	assert_string_equal(fsc_req_what(&r), "get");
	assert_int_equal(puts_seen, 2);
	assert_int_equal(gets_seen, 1);
	assert_int_equal(fsc_fabric_win_free(w), 0);
	assert_int_equal(win_frees, 1);
	fsc_fabric_destroy(f);
}

static void fsc_fabric_put__retries_a_full_queue_until_the_deadline(void **state)
{
	struct fsc_fabric *f;
	struct fsc_win *w = rma_setup(&f);
	struct fsc_req r;
	char buf[8] = {0};
	uint64_t t0;

	(void)state;
	put_busy = 5;
	assert_int_equal(fsc_fabric_put(f, w, 1, 0, buf, 8, -1, &r), 0);
	assert_int_equal(puts_seen, 6);
	assert_int_equal(progress_calls, 5);
	assert_int_equal(r.done, 0);
	/* a queue that never drains: -ETIMEDOUT at the deadline */
	put_busy = -1;
	f->timeout_ns = 20000000; /* 20 ms */
	t0 = fsc_time_real_ns();
	assert_int_equal(fsc_fabric_put(f, w, 1, 0, buf, 8, -1, &r), -ETIMEDOUT);
	assert_true(fsc_time_real_ns() - t0 >= 20000000);
	assert_int_equal(r.done, FSC_REQ_WITHDRAWN);
	assert_int_equal(fsc_fabric_win_free(w), 0);
	fsc_fabric_destroy(f);
}

static void fsc_fabric_wait__cancels_a_get_that_never_completes(void **state)
{
	struct fsc_fabric *f;
	struct fsc_win *w = rma_setup(&f);
	struct fsc_req r;
	char buf[8];

	(void)state;
	polls_to_complete = -1;
	f->timeout_ns = 10000000;
	assert_int_equal(fsc_fabric_get(f, w, 1, 0, buf, 8, &r), 0);
	assert_int_equal(fsc_fabric_wait(f, &r, 1), -ETIMEDOUT);
	assert_int_equal(ncancelled, 1);
	assert_ptr_equal(cancelled[0], &r);
	assert_int_equal(r.done, FSC_REQ_WITHDRAWN);
	assert_int_equal(f->abandoned, 0);
	assert_int_equal(fsc_fabric_win_free(w), 0);
	fsc_fabric_destroy(f);
}

static void fsc_fabric_put__abandoned_fabric_takes_no_transfer(void **state)
{
	struct fsc_fabric *f;
	struct fsc_win *w = rma_setup(&f);
	struct fsc_req r;
	char buf[8] = {0};

	(void)state;
	f->abandoned = 1;
	assert_int_equal(fsc_fabric_put(f, w, 1, 0, buf, 8, 3, &r), -EIO);
	assert_int_equal(fsc_fabric_get(f, w, 1, 0, buf, 8, &r), -EIO);
	assert_int_equal(r.done, FSC_REQ_WITHDRAWN);
	assert_int_equal(puts_seen + gets_seen, 0);
	f->abandoned = 0;
	assert_int_equal(fsc_fabric_win_free(w), 0);
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
	        cmocka_unit_test(fsc_fabric_buf_free__abandoned_fabric_keeps_its_buffers),
	        cmocka_unit_test(fsc_fabric_sendrecv__cancels_the_receive_when_the_send_fails),
	        cmocka_unit_test(fsc_fabric_rma__missing_entries_are_not_supported),
	        cmocka_unit_test(fsc_fabric_put__refuses_bad_peers_ranges_and_tags),
	        cmocka_unit_test(fsc_fabric_put__retries_a_full_queue_until_the_deadline),
	        cmocka_unit_test(fsc_fabric_wait__cancels_a_get_that_never_completes),
	        cmocka_unit_test(fsc_fabric_put__abandoned_fabric_takes_no_transfer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
