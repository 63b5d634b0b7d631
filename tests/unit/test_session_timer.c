/* Unit tests for the timer check of a session (fsc_session_timer,
 * src/session.c) and of the commands that rely on it: a CLOCK_MONOTONIC
 * that never advances can time nothing, and says so in one line.
 *
 * This file defines clock_gettime() itself, a link seam (as
 * test_clock.c does): while `stuck` is set, CLOCK_MONOTONIC reads the same
 * instant on every thread; otherwise it forwards to the kernel. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "accept.h"
#include "boot.h"
#include "err.h"
#include "session.h"

static volatile int stuck;           /* CLOCK_MONOTONIC stands still */
static volatile int stuck_rank = -1; /* only on this rank's thread (-1: all) */
static __thread int my_rank = -1;

int clock_gettime(clockid_t id, struct timespec *ts)
{
	if (stuck && id == CLOCK_MONOTONIC && (stuck_rank < 0 || stuck_rank == my_rank)) {
		ts->tv_sec = 1000;
		ts->tv_nsec = 0;
		return 0;
	}
	return (int)syscall(SYS_clock_gettime, id, ts);
}

struct timer_job {
	int rc[4];
	char err[4][512];
	struct fsc_timer_info ti[4];
};

static int timer_rank(struct fsc_boot *b, void *arg)
{
	struct timer_job *j = arg;

	my_rank = b->rank;
	j->rc[b->rank] =
	        fsc_session_timer(b, &j->ti[b->rank], j->err[b->rank], sizeof(j->err[b->rank]));
	return 0;
}

static void fsc_session_timer__working_clock(void **state)
{
	static const char *const hosts[] = {"h0", "h1", "h2"};
	struct timer_job j;
	int rcs[3];

	(void)state;
	memset(&j, 0, sizeof(j));
	assert_int_equal(fsc_boot_local_run(3, hosts, timer_rank, &j, rcs), 0);
	for (int r = 0; r < 3; r++) {
		assert_int_equal(j.rc[r], 0);
		assert_string_equal(j.err[r], "");
		assert_string_equal(j.ti[r].source, "CLOCK_MONOTONIC");
		assert_true(j.ti[r].samples > 0);
	}
}

static void fsc_session_timer__stuck_clock_on_one_rank_fails_all(void **state)
{
	static const char *const hosts[] = {"h0", "h1", "h2"};
	struct timer_job j;
	int rcs[3];

	(void)state;
	memset(&j, 0, sizeof(j));
	stuck_rank = 2;
	stuck = 1;
	assert_int_equal(fsc_boot_local_run(3, hosts, timer_rank, &j, rcs), 0);
	stuck = 0;
	stuck_rank = -1;
	for (int r = 0; r < 3; r++) {
		assert_int_equal(j.rc[r], -EIO);
		assert_string_equal(
		        j.err[r], "the timer does not work on rank 2 (host h2): CLOCK_MONOTONIC "
		                  "did not advance over 100000 readings, so nothing can be timed");
	}
}

/* `fabscope accept` over in-process ranks with a stuck clock: exit 2 and
 * one error line, no verdict. */
static void fsc_accept_main__stuck_clock_is_one_error(void **state)
{
	char dir[] = "/tmp/fsc-timer-XXXXXX", spec[128], out[128], err[4096];
	char *argv[] = {(char *)"accept", spec, (char *)"--output", out, 0};
	FILE *f, *errf;
	int saved, rc;
	size_t n;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(spec, sizeof(spec), "%s/spec.yaml", dir);
	snprintf(out, sizeof(out), "%s/r.json", dir);
	f = fopen(spec, "w");
	assert_non_null(f);
	fputs("name: t\ntests:\n  - name: lat\n    fabrics: [loopback]\n    pattern: latency\n"
	      "    sizes: 8\n    iters: 5\n",
	      f);
	fclose(f);
	errf = tmpfile();
	assert_non_null(errf);
	fflush(stderr);
	saved = dup(2);
	dup2(fileno(errf), 2);
	stuck = 1;
	rc = fsc_accept_main(4, argv);
	stuck = 0;
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(errf);
	n = fread(err, 1, sizeof(err) - 1, errf);
	err[n] = 0;
	fclose(errf);
	assert_int_equal(rc, FSC_EXIT_USAGE);
	assert_string_equal(err, "fabscope: error: the timer does not work on rank 0 (host lb0): "
	                         "CLOCK_MONOTONIC did not advance over 100000 readings, so "
	                         "nothing can be timed\n");
	unlink(out);
	unlink(spec);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(fsc_session_timer__working_clock),
	        cmocka_unit_test(fsc_session_timer__stuck_clock_on_one_rank_fails_all),
	        cmocka_unit_test(fsc_accept_main__stuck_clock_is_one_error),
	};

	return cmocka_run_group_tests(tests, 0, 0);
}
