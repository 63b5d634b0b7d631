/* Error and exit-code conventions.
 *
 * Functions return int: 0 on success or a negative errno-style code.  The
 * function that detects an error logs it once; callers only propagate.
 *   -EINVAL     bad input (options, sizes, spec)
 *   -ENOTSUP    the fabric/pattern cannot do this (a "skipped" result)
 *   -ETIMEDOUT  a deadline passed (peer never answered)
 *   -EIO        transport failure or data verification failure
 *   -ENOMEM     allocation failure
 *   -ENODEV     no usable device/interface
 *   -ECONNABORTED  the watchdog found a rank stalled or dead; the run stops
 */
#ifndef FSC_ERR_H
#define FSC_ERR_H

/* Process exit codes (main only). */
enum fsc_exit {
	FSC_EXIT_OK = 0,    /* ran, every check passed */
	FSC_EXIT_FAIL = 1,  /* ran, a check failed (wrong data, anomaly, verdict) */
	FSC_EXIT_USAGE = 2, /* bad input, or could not run at all */
	/* a rank stalled or died: the run was aborted (results "aborted") */
	FSC_EXIT_ABORTED = 3,
};

/* Human text for a negative errno-style code (never NULL). */
const char *fsc_strerror(int rc);

#endif
