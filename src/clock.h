/* Time sources.
 *
 * Measurements read an injected clock (struct fsc_clock) so that tests and
 * the loopback fabric can drive a virtual clock; deadlines always use the
 * real monotonic clock (fsc_time_real_ns) so a stalled virtual clock can
 * never turn a timeout into a hang.
 */
#ifndef FSC_CLOCK_H
#define FSC_CLOCK_H

#include <stdint.h>

struct fsc_clock {
	uint64_t (*now_ns)(void *arg);
	void *arg;
};

/* CLOCK_MONOTONIC in nanoseconds; arg unused. */
uint64_t fsc_clock_monotonic_ns(void *arg);

/* A clock reading CLOCK_MONOTONIC. */
static inline struct fsc_clock fsc_clock_monotonic(void)
{
	struct fsc_clock c = {fsc_clock_monotonic_ns, 0};
	return c;
}

static inline uint64_t fsc_clock_now(const struct fsc_clock *c)
{
	return c->now_ns(c->arg);
}

/* Real monotonic time for deadlines (ns). */
static inline uint64_t fsc_time_real_ns(void)
{
	return fsc_clock_monotonic_ns(0);
}

/* Sleep without spinning (ns). */
void fsc_sleep_ns(uint64_t ns);

struct fsc_timer_info {
	const char *source;      /* "CLOCK_MONOTONIC" or "virtual" */
	double resolution_ns;    /* clock_getres() (0 if unknown) */
	double observed_tick_ns; /* smallest non-zero difference seen */
	double call_cost_ns;     /* mean cost of one reading */
	uint64_t samples;        /* readings taken for the test */
};

/* Measure the clock: resolution, smallest observed tick and the cost of one
 * call, over `samples` back-to-back readings (0 = default 100000).
 * Returns 0, or -EIO if CLOCK_MONOTONIC never advanced (a virtual clock
 * may legitimately stand still between events). */
int fsc_timer_selftest(const struct fsc_clock *c, uint64_t samples, struct fsc_timer_info *out);

#endif
