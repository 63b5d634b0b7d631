#include "log.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "boot.h"

static _Thread_local int log_rank = -1;
static _Thread_local char log_host[FSC_HOST_MAX];
static _Thread_local int log_quiet;
/* Set from a signal handler: process-wide by nature. */
static volatile sig_atomic_t log_silenced;
/* Level is process-wide on purpose: set once by main before threads start. */
static int log_level = -1;

void fsc_log_set_identity(int rank, const char *host)
{
	log_rank = rank;
	snprintf(log_host, sizeof(log_host), "%s", host ? host : "");
}

void fsc_log_set_quiet(int q)
{
	log_quiet = q;
}

void fsc_log_silence(void)
{
	log_silenced = 1;
}

void fsc_log_set_level(enum fsc_log_level level)
{
	log_level = (int)level;
}

enum fsc_log_level fsc_log_get_level(void)
{
	if (log_level < 0) {
		const char *e = getenv("FSC_LOG_LEVEL");
		log_level = FSC_LOG_WARN;
		if (e) {
			if (!strcasecmp(e, "error"))
				log_level = FSC_LOG_ERROR;
			else if (!strcasecmp(e, "info"))
				log_level = FSC_LOG_INFO;
			else if (!strcasecmp(e, "debug"))
				log_level = FSC_LOG_DEBUG;
		}
	}
	return (enum fsc_log_level)log_level;
}

void fsc_log(enum fsc_log_level level, const char *fmt, ...)
{
	static const char *const names[] = {"error", "warning", "info", "debug"};
	char msg[1024];
	va_list ap;

	if (log_quiet || log_silenced || (int)level > (int)fsc_log_get_level())
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* One fprintf so lines from different ranks do not interleave. */
	if (log_rank >= 0)
		fprintf(stderr, "fabscope[%d@%s]: %s: %s\n", log_rank, log_host, names[level], msg);
	else
		fprintf(stderr, "fabscope: %s: %s\n", names[level], msg);
}
