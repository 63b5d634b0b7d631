/* Helpers shared by the reference programs: a monotonic clock in ns, a
 * size parser (K/M/G suffixes, x1024, at most INT_MAX) and a qsort
 * comparator for doubles.  Header-only: each program is one file. */
#ifndef FSC_REF_COMMON_H
#define FSC_REF_COMMON_H

#include <stdlib.h>
#include <time.h>

static inline double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static inline int parse_size(const char *s, size_t *out)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);

	if (end == s)
		return -1;
	switch (*end) {
	case 'K':
	case 'k':
		v <<= 10;
		end++;
		break;
	case 'M':
	case 'm':
		v <<= 20;
		end++;
		break;
	case 'G':
	case 'g':
		v <<= 30;
		end++;
		break;
	default: break;
	}
	if (*end || v > 0x7fffffffull)
		return -1;
	*out = (size_t)v;
	return 0;
}

static inline int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

#endif
