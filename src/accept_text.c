/* Text helpers of `fabscope accept`: see accept_text.h. */
#include "accept_text.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void fsc_accept_fmt_size(char *buf, size_t len, uint64_t b)
{
	if (b && !(b % (1ull << 30)))
		snprintf(buf, len, "%lluG", (unsigned long long)(b >> 30));
	else if (b && !(b % (1ull << 20)))
		snprintf(buf, len, "%lluM", (unsigned long long)(b >> 20));
	else if (b && !(b % 1024))
		snprintf(buf, len, "%lluK", (unsigned long long)(b >> 10));
	else
		snprintf(buf, len, "%lluB", (unsigned long long)b);
}

void fsc_accept_fmt_num(char *buf, size_t len, double v)
{
	double a = fabs(v);

	if (isnan(v))
		snprintf(buf, len, "n/a");
	else if (a >= 1000)
		snprintf(buf, len, "%.0f", v);
	else if (a >= 100)
		snprintf(buf, len, "%.1f", v);
	else if (a >= 10 || a == 0)
		snprintf(buf, len, "%.2f", v);
	else
		snprintf(buf, len, "%.3g", v);
}

void fsc_accept_appendf(char *buf, size_t len, const char *fmt, ...)
{
	size_t used = strlen(buf);
	va_list ap;

	if (used + 1 >= len)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + used, len - used, fmt, ap);
	va_end(ap);
}
