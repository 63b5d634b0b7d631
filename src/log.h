/* Logging to stderr with a "fabscope[rank@host]" prefix.
 *
 * The identity is thread-local so that in-process virtual ranks (loopback
 * fabric, tests) each log under their own rank.  Never call from inside a
 * timed loop.
 */
#ifndef FSC_LOG_H
#define FSC_LOG_H

enum fsc_log_level {
	FSC_LOG_ERROR = 0,
	FSC_LOG_WARN = 1,
	FSC_LOG_INFO = 2,
	FSC_LOG_DEBUG = 3,
};

/* Set this thread's rank (-1: none) and host for the log prefix. */
void fsc_log_set_identity(int rank, const char *host);
/* Messages above this level are dropped (default FSC_LOG_WARN, or
 * FSC_LOG_LEVEL=error|warn|info|debug from the environment). */
void fsc_log_set_level(enum fsc_log_level level);
enum fsc_log_level fsc_log_get_level(void);

/* Silence this thread's messages (all levels) while q != 0: used when
 * every rank would report the same problem and one rank speaks for all. */
void fsc_log_set_quiet(int q);

/* Drop every later message of the process (all threads, all levels):
 * called from a SIGTERM handler, when the launcher is ending the job and
 * further errors are only its consequences.  Async-signal-safe. */
void fsc_log_silence(void);

void fsc_log(enum fsc_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define fsc_error(...) fsc_log(FSC_LOG_ERROR, __VA_ARGS__)
#define fsc_warn(...) fsc_log(FSC_LOG_WARN, __VA_ARGS__)
#define fsc_info(...) fsc_log(FSC_LOG_INFO, __VA_ARGS__)
#define fsc_debug(...) fsc_log(FSC_LOG_DEBUG, __VA_ARGS__)

#endif
