/* Watchdog: liveness queries, agreement on culprits, fail-fast collectives
 * and the aborted results file, on local ranks over the loopback fabric
 * (--lb-stall blocks a rank's thread as SIGSTOP would block a process). */
#include "lb_harness.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "loopback/loopback.h"
#include "watchdog.h"

#define MS 1000000ull
/* Grace of the queries: the default.  A loopback rank waiting for a
 * message yields the CPU between polls and answers the watchdog every 256
 * polls; on a loaded 2-core machine that took over a second (1 s proved
 * too short while the ucx tests ran beside). */
#define GRACE FSC_WD_GRACE_NS
/* How long a stalled rank stays stopped: well past timeout + grace. */
#define STALL_MS "8000"

static const char *const hosts4[] = {"h0", "h1", "h2", "h3"};

struct ring_job {
	struct fsc_config *cfg;
	uint64_t timeout_ns, grace_ns;
	int iters;
	/* out, per rank */
	int rc[4], aborted[4], culprit2[4], ncul[4], barrier_rc[4];
	char text[4][1024];
	json_t *verdict[4];
};

/* Each rank: loopback fabric, then `iters` rounds of a ring exchange. */
static int ring_rank(struct fsc_boot *b, void *arg)
{
	struct ring_job *j = arg;
	struct fsc_fabric *f = 0;
	char sbuf[64] = {0}, rbuf[64];
	int rc;

	fsc_watchdog_configure(b, j->timeout_ns, j->grace_ns);
	rc = fsc_fabric_create(&fsc_fabric_loopback, b, j->cfg, &f);
	if (!rc)
		rc = fsc_fabric_connect(f);
	if (!rc)
		f->timeout_ns = j->timeout_ns;
	for (int i = 0; !rc && i < j->iters; i++)
		rc = fsc_fabric_sendrecv(f, (b->rank + 1) % b->size, sbuf, sizeof(sbuf),
		                         (b->rank + b->size - 1) % b->size, rbuf, sizeof(rbuf), 1);
	j->rc[b->rank] = rc;
	j->aborted[b->rank] = fsc_watchdog_aborted(b);
	j->culprit2[b->rank] = fsc_watchdog_is_culprit(b, 2);
	snprintf(j->text[b->rank], sizeof(j->text[0]), "%s", fsc_watchdog_verdict_text(b));
	j->verdict[b->rank] = fsc_watchdog_verdict_json(b);
	if (j->verdict[b->rank])
		j->ncul[b->rank] =
		        (int)json_array_size(json_object_get(j->verdict[b->rank], "culprits"));
	j->barrier_rc[b->rank] = fsc_boot_barrier(b);
	fsc_fabric_destroy(f);
	return 0;
}

static void ring_run(struct ring_job *j, int n, const char *stall)
{
	int rcs[4];

	j->cfg =
	        stall ? lbh_config(4, (const char *[]){"--fabric", "loopback", "--lb-stall", stall})
	              : lbh_config(2, (const char *[]){"--fabric", "loopback"});
	assert_non_null(j->cfg);
	assert_int_equal(fsc_boot_local_run(n, hosts4, ring_rank, j, rcs), 0);
	fsc_config_free(j->cfg);
}

static void ring_free(struct ring_job *j)
{
	for (int r = 0; r < 4; r++)
		json_decref(j->verdict[r]);
}

/* Rank 2 stops at its 20th send: every survivor names rank 2 (and only
 * it) with its host, and what was being done; the stalled rank, once
 * resumed, learns it was given up on. */
static void trip__stalled_rank_is_named_by_every_survivor(void **state)
{
	struct ring_job j = {.timeout_ns = 200 * MS, .grace_ns = GRACE, .iters = 200};

	(void)state;
	ring_run(&j, 4, "2:20:" STALL_MS);
	for (int r = 0; r < 4; r++) {
		assert_int_equal(j.rc[r], -ECONNABORTED);
		assert_true(j.aborted[r]);
		assert_true(j.culprit2[r]);
		assert_int_equal(j.ncul[r], 1);
		assert_non_null(strstr(j.text[r], "rank 2 (host h2) stopped answering"));
		assert_non_null(strstr(j.text[r], "fabric loopback"));
		/* collectives fail at once after the verdict */
		assert_int_equal(j.barrier_rc[r], -ECONNABORTED);
	}
	ring_free(&j);
}

/* No stall: no verdict, no error, collectives work. */
static void trip__healthy_ring_has_no_verdict(void **state)
{
	struct ring_job j = {.timeout_ns = 200 * MS, .grace_ns = GRACE, .iters = 50};

	(void)state;
	ring_run(&j, 4, 0);
	for (int r = 0; r < 4; r++) {
		assert_int_equal(j.rc[r], 0);
		assert_false(j.aborted[r]);
		assert_int_equal(j.barrier_rc[r], 0);
		assert_string_equal(j.text[r], "");
	}
	ring_free(&j);
}

struct busy_job {
	int rc[3], aborted[3];
	uint64_t waited_ns[3];
};

/* Rank 1 is busy (answering the watchdog, as every wait loop does) for
 * 15 timeouts before it joins a barrier the others wait in. */
static int busy_rank(struct fsc_boot *b, void *arg)
{
	struct busy_job *j = arg;
	uint64_t t0;

	fsc_watchdog_configure(b, 100 * MS, GRACE);
	t0 = fsc_time_real_ns();
	if (b->rank == 1)
		while (fsc_time_real_ns() - t0 < 1500 * MS) {
			fsc_watchdog_poll(b);
			fsc_sleep_ns(MS);
		}
	j->rc[b->rank] = fsc_boot_barrier(b);
	j->waited_ns[b->rank] = fsc_time_real_ns() - t0;
	j->aborted[b->rank] = fsc_watchdog_aborted(b);
	return 0;
}

static void barrier__busy_rank_is_not_a_culprit(void **state)
{
	struct busy_job j = {0};
	int rcs[3];

	(void)state;
	assert_int_equal(fsc_boot_local_run(3, hosts4, busy_rank, &j, rcs), 0);
	for (int r = 0; r < 3; r++) {
		assert_int_equal(j.rc[r], 0);
		assert_false(j.aborted[r]);
	}
	/* the waiters did wait far past their 100 ms deadline for rank 1
	 * (less than its 1.5 s: their threads may have started later) */
	assert_true(j.waited_ns[0] >= 1000 * MS);
	assert_true(j.waited_ns[2] >= 1000 * MS);
}

struct link_job {
	struct fsc_config *cfg;
	int rc[2], aborted[2], barrier_rc[2];
};

/* Rank 1's first message to rank 0 is lost; rank 1 is alive (waiting in
 * a barrier).  Rank 0's receive fails with -ETIMEDOUT, nobody is blamed. */
static int link_rank(struct fsc_boot *b, void *arg)
{
	struct link_job *j = arg;
	struct fsc_fabric *f = 0;
	char buf[16] = {0};
	int rc;

	fsc_watchdog_configure(b, 100 * MS, GRACE);
	rc = fsc_fabric_create(&fsc_fabric_loopback, b, j->cfg, &f);
	if (!rc)
		rc = fsc_fabric_connect(f);
	if (!rc) {
		f->timeout_ns = 100 * MS;
		rc = b->rank == 0 ? fsc_fabric_recv(f, 1, buf, sizeof(buf), 3)
		                  : fsc_fabric_send(f, 0, buf, sizeof(buf), 3);
	}
	j->rc[b->rank] = rc;
	j->barrier_rc[b->rank] = fsc_boot_barrier(b);
	j->aborted[b->rank] = fsc_watchdog_aborted(b);
	fsc_fabric_destroy(f);
	return 0;
}

static void wait__lost_message_blames_link_not_rank(void **state)
{
	struct link_job j = {0};
	int rcs[2];

	(void)state;
	j.cfg = lbh_config(4, (const char *[]){"--fabric", "loopback", "--lb-drop", "1:0:0"});
	assert_non_null(j.cfg);
	assert_int_equal(fsc_boot_local_run(2, hosts4, link_rank, &j, rcs), 0);
	assert_int_equal(j.rc[0], -ETIMEDOUT);
	assert_int_equal(j.rc[1], 0);
	for (int r = 0; r < 2; r++) {
		assert_false(j.aborted[r]);
		assert_int_equal(j.barrier_rc[r], 0);
	}
	fsc_config_free(j.cfg);
}

struct session_job {
	struct fsc_config *cfg;
	json_t *doc; /* rank 0's results document */
	int rc[4];
};

/* A whole `fabscope run` session (allreduce over loopback) with rank 3
 * stopped mid-run: rank 0's results say "aborted" and name rank 3. */
static int session_rank(struct fsc_boot *b, void *arg)
{
	struct session_job *j = arg;
	struct fsc_results *res = 0;
	struct fsc_runner r;
	char err[256];

	fsc_session_watchdog_arm(b, j->cfg);
	assert_int_equal(fsc_watchdog_timeout_ns(b), 200 * MS);
	/* a short grace, so the verdict comes long before rank 3 resumes */
	fsc_watchdog_configure(b, 200 * MS, GRACE);
	if (b->rank == 0 && fsc_results_create(&res, 0, err, sizeof(err)))
		return -ENOMEM;
	fsc_runner_init(&r, b, j->cfg, res, 0);
	j->rc[b->rank] = fsc_session_run(&r, 0);
	fsc_session_abort_report(b, res, 0);
	if (res)
		j->doc = json_incref(fsc_results_doc(res));
	fsc_runner_fini(&r);
	fsc_results_free(res);
	return 0;
}

static void session_abort_report__results_aborted_name_culprit(void **state)
{
	struct session_job j = {0};
	json_t *abort, *cul, *recs;
	int rcs[4], errors = 0;

	(void)state;
	j.cfg = lbh_config(14, (const char *[]){"--fabric", "loopback", "--pattern",
	                                        "allreduce,alltoall", "--lb-stall",
	                                        "3:200:" STALL_MS, "--timeout", "200ms", "--min",
	                                        "64", "--max", "4K", "--iters", "50"});
	assert_non_null(j.cfg);
	assert_int_equal(fsc_boot_local_run(4, hosts4, session_rank, &j, rcs), 0);
	for (int r = 0; r < 4; r++)
		assert_int_equal(j.rc[r], -ECONNABORTED);
	assert_non_null(j.doc);
	assert_string_equal(json_string_value(json_object_get(j.doc, "status")), "aborted");
	abort = json_object_get(j.doc, "abort");
	assert_non_null(abort);
	cul = json_object_get(abort, "culprits");
	assert_int_equal(json_array_size(cul), 1);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(cul, 0), "rank")), 3);
	assert_string_equal(json_string_value(json_object_get(json_array_get(cul, 0), "host")),
	                    "h3");
	assert_string_equal(
	        json_string_value(json_object_get(
	                json_object_get(json_array_get(cul, 0), "last_seen"), "pattern")),
	        "allreduce");
	/* the point that was cut short and the pattern never run both say why */
	recs = json_object_get(j.doc, "records");
	for (size_t i = 0; i < json_array_size(recs); i++) {
		json_t *rec = json_array_get(recs, i);
		const char *why = json_string_value(json_object_get(rec, "reason"));

		if (strcmp(json_string_value(json_object_get(rec, "status")), "error"))
			continue;
		errors++;
		assert_non_null(why);
		assert_non_null(strstr(why, "rank 3 (host h3)"));
	}
	assert_true(errors >= 2);
	json_decref(j.doc);
	fsc_config_free(j.cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(trip__stalled_rank_is_named_by_every_survivor),
	        cmocka_unit_test(trip__healthy_ring_has_no_verdict),
	        cmocka_unit_test(barrier__busy_rank_is_not_a_culprit),
	        cmocka_unit_test(wait__lost_message_blames_link_not_rank),
	        cmocka_unit_test(session_abort_report__results_aborted_name_culprit),
	};

	return cmocka_run_group_tests(tests, 0, 0);
}
