/* A CLOCK_MONOTONIC that never advances, for LD_PRELOAD: the process's
 * calls of clock_gettime(CLOCK_MONOTONIC) all read the same instant; every
 * other clock is the kernel's.  integration/timer_stuck.sh runs `run` and
 * `accept` under it to check that a timer which cannot time anything stops
 * them with one error line. */
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int clock_gettime(clockid_t id, struct timespec *ts)
{
	if (id == CLOCK_MONOTONIC) {
		ts->tv_sec = 1000;
		ts->tv_nsec = 0;
		return 0;
	}
	return (int)syscall(SYS_clock_gettime, id, ts);
}
