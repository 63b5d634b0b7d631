#include "clock.h"

#include <errno.h>
#include <time.h>

uint64_t fsc_clock_monotonic_ns(void *arg)
{
	struct timespec ts;

	(void)arg;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void fsc_sleep_ns(uint64_t ns)
{
	struct timespec ts = {(time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull)};

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

int fsc_timer_selftest(const struct fsc_clock *c, uint64_t samples, struct fsc_timer_info *out)
{
	struct timespec res;
	uint64_t first, prev, now, tick = 0;

	if (!samples)
		samples = 100000;
	out->source = c->now_ns == fsc_clock_monotonic_ns ? "CLOCK_MONOTONIC" : "virtual";
	out->resolution_ns = 0;
	if (c->now_ns == fsc_clock_monotonic_ns && !clock_getres(CLOCK_MONOTONIC, &res))
		out->resolution_ns = (double)res.tv_sec * 1e9 + (double)res.tv_nsec;
	/* Back-to-back readings: the mean spacing is the call cost, the
	 * smallest non-zero step the observable tick. */
	first = prev = fsc_clock_now(c);
	for (uint64_t i = 0; i < samples; i++) {
		now = fsc_clock_now(c);
		if (now > prev && (!tick || now - prev < tick))
			tick = now - prev;
		prev = now;
	}
	out->samples = samples;
	out->observed_tick_ns = (double)tick;
	out->call_cost_ns = (double)(prev - first) / (double)samples;
	if (prev == first && out->source[0] == 'C')
		return -EIO;
	return 0;
}
