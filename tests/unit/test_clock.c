/* Unit tests for the timer self-test (src/clock.c), with scripted clocks.
 *
 * Virtual clocks are injected through struct fsc_clock.  The real clock
 * path (source "CLOCK_MONOTONIC") reads clock_gettime(); to script it this
 * file defines clock_gettime() itself, a link seam: the definition in the
 * executable takes precedence over libc's for the library's call.  Unless
 * a test installs a script, it forwards to the kernel, so the real clock
 * stays real. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"

/* --- scripted clock_gettime ------------------------------------------ */

struct script {
	uint64_t now;  /* next reading, ns */
	uint64_t step; /* added after each reading */
	uint64_t calls;
};

static struct script *real_script; /* NULL: the kernel's clock */

int clock_gettime(clockid_t id, struct timespec *ts)
{
	if (real_script && id == CLOCK_MONOTONIC) {
		ts->tv_sec = (time_t)(real_script->now / 1000000000ull);
		ts->tv_nsec = (long)(real_script->now % 1000000000ull);
		real_script->now += real_script->step;
		real_script->calls++;
		return 0;
	}
	return (int)syscall(SYS_clock_gettime, id, ts);
}

/* --- virtual clocks ---------------------------------------------------- */

static uint64_t counter_now(void *arg)
{
	struct script *s = arg;
	uint64_t t = s->now;

	s->now += s->step;
	s->calls++;
	return t;
}

/* Steps alternate between two values. */
struct alternating {
	uint64_t now, a, b, calls;
};

static uint64_t alternating_now(void *arg)
{
	struct alternating *s = arg;
	uint64_t t = s->now;

	s->now += s->calls++ % 2 ? s->b : s->a;
	return t;
}

static void fsc_timer_selftest__virtual_counter(void **state)
{
	struct script s = {1000, 7, 0};
	struct fsc_clock c = {counter_now, &s};
	struct fsc_timer_info info;

	(void)state;
	memset(&info, 0xff, sizeof(info));
	assert_int_equal(fsc_timer_selftest(&c, 1000, &info), 0);
	assert_string_equal(info.source, "virtual");
	assert_true(info.resolution_ns == 0); /* unknown for a virtual clock */
	assert_true(info.observed_tick_ns == 7);
	assert_true(info.call_cost_ns == 7);
	assert_int_equal(info.samples, 1000);
	assert_int_equal(s.calls, 1001); /* a first reading, then one per sample */
}

static void fsc_timer_selftest__default_sample_count(void **state)
{
	struct script s = {0, 3, 0};
	struct fsc_clock c = {counter_now, &s};
	struct fsc_timer_info info;

	(void)state;
	assert_int_equal(fsc_timer_selftest(&c, 0, &info), 0);
	assert_int_equal(info.samples, 100000);
	assert_int_equal(s.calls, 100001);
	assert_true(info.observed_tick_ns == 3);
	assert_true(info.call_cost_ns == 3);
}

/* Tick = the smallest non-zero step; cost = the mean step. */
static void fsc_timer_selftest__uneven_steps(void **state)
{
	struct alternating s = {5000, 3, 11, 0};
	struct fsc_clock c = {alternating_now, &s};
	struct fsc_timer_info info;

	(void)state;
	assert_int_equal(fsc_timer_selftest(&c, 1000, &info), 0);
	assert_true(info.observed_tick_ns == 3);
	assert_true(info.call_cost_ns == 7); /* (500 * 3 + 500 * 11) / 1000 */
}

/* A coarse clock: most readings repeat, then it jumps. */
static uint64_t coarse_now(void *arg)
{
	uint64_t *calls = arg;

	return (*calls)++ / 10 * 1000; /* 1 us tick, 10 readings per tick */
}

static void fsc_timer_selftest__coarse_clock(void **state)
{
	uint64_t calls = 0;
	struct fsc_clock c = {coarse_now, &calls};
	struct fsc_timer_info info;

	(void)state;
	assert_int_equal(fsc_timer_selftest(&c, 1000, &info), 0);
	assert_true(info.observed_tick_ns == 1000);
	/* readings 0..1000: last = 1000/10*1000 = 100000 ns over 1000 calls */
	assert_true(info.call_cost_ns == 100);
}

/* A virtual clock only moves when the simulation moves it, so a stuck one
 * is not an error (unlike a stuck real clock, below). */
static void fsc_timer_selftest__stuck_virtual_clock(void **state)
{
	struct script s = {42, 0, 0};
	struct fsc_clock c = {counter_now, &s};
	struct fsc_timer_info info;

	(void)state;
	assert_int_equal(fsc_timer_selftest(&c, 100, &info), 0);
	assert_string_equal(info.source, "virtual");
	assert_true(info.observed_tick_ns == 0);
	assert_true(info.call_cost_ns == 0);
	assert_int_equal(info.samples, 100);
}

static void fsc_timer_selftest__real_clock(void **state)
{
	struct fsc_clock c = fsc_clock_monotonic();
	struct fsc_timer_info info;

	(void)state;
	assert_int_equal(fsc_timer_selftest(&c, 1000, &info), 0);
	assert_string_equal(info.source, "CLOCK_MONOTONIC");
	assert_int_equal(info.samples, 1000);
	/* No timing thresholds (shared machine): only that it was measured. */
	assert_true(info.resolution_ns > 0);
	assert_true(info.observed_tick_ns > 0);
	assert_true(info.call_cost_ns > 0);
}

/* The real path with scripted readings gives exact figures. */
static void fsc_timer_selftest__scripted_real_clock(void **state)
{
	struct script s = {5000000000ull, 25, 0};
	struct fsc_clock c = fsc_clock_monotonic();
	struct fsc_timer_info info;
	int rc;

	(void)state;
	real_script = &s;
	rc = fsc_timer_selftest(&c, 400, &info);
	real_script = 0;
	assert_int_equal(rc, 0);
	assert_string_equal(info.source, "CLOCK_MONOTONIC");
	assert_true(info.observed_tick_ns == 25);
	assert_true(info.call_cost_ns == 25);
	assert_int_equal(s.calls, 401);
	assert_true(info.resolution_ns > 0); /* clock_getres is not scripted */
}

static void fsc_timer_selftest__stuck_real_clock(void **state)
{
	struct script s = {123456789, 0, 0};
	struct fsc_clock c = fsc_clock_monotonic();
	struct fsc_timer_info info;
	int rc;

	(void)state;
	real_script = &s;
	rc = fsc_timer_selftest(&c, 50, &info);
	real_script = 0;
	assert_int_equal(rc, -EIO);
	assert_true(info.observed_tick_ns == 0);
	assert_true(info.call_cost_ns == 0);
	assert_int_equal(s.calls, 51);
}

static void fsc_clock_now__reads_injected_clock(void **state)
{
	struct script s = {10, 5, 0};
	struct fsc_clock c = {counter_now, &s};

	(void)state;
	assert_true(fsc_clock_now(&c) == 10);
	assert_true(fsc_clock_now(&c) == 15);
	assert_int_equal(s.calls, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(fsc_timer_selftest__virtual_counter),
	        cmocka_unit_test(fsc_timer_selftest__default_sample_count),
	        cmocka_unit_test(fsc_timer_selftest__uneven_steps),
	        cmocka_unit_test(fsc_timer_selftest__coarse_clock),
	        cmocka_unit_test(fsc_timer_selftest__stuck_virtual_clock),
	        cmocka_unit_test(fsc_timer_selftest__real_clock),
	        cmocka_unit_test(fsc_timer_selftest__scripted_real_clock),
	        cmocka_unit_test(fsc_timer_selftest__stuck_real_clock),
	        cmocka_unit_test(fsc_clock_now__reads_injected_clock),
	};

	return cmocka_run_group_tests(tests, 0, 0);
}
