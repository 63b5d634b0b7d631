/* Running `fabscope accept` (src/accept.h) on the ranks of a bootstrap:
 * the spec shared, the plan built and agreed, every item run with retries
 * and judged, and the verdict written. */
#ifndef FSC_ACCEPT_RUN_H
#define FSC_ACCEPT_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "boot.h"
#include "options.h"

/* The accept options, read once (fsc_config_fill) after parsing. */
struct fsc_accept_settings {
	const char *output, *junit; /* "auto", "none" or a path */
	int64_t retries, ranks;
	struct fsc_opt_list fabric_filter;
	bool verbose, dry_run;
};

/* What every rank is handed: the command line, parsed. */
struct fsc_accept_ctx {
	int argc;
	char **argv;
	struct fsc_config *acfg;
	struct fsc_accept_settings set; /* filled from acfg */
	int parse_rc;
	char parse_err[512];
	const char *spec_path;
	const char *text; /* preloaded spec text (NULL: rank 0 reads the file) */
	size_t len;
};

/* Run and judge the spec of the ctx (arg, a struct fsc_accept_ctx) on
 * this rank (collective; for fsc_boot_local_run or an MPI bootstrap).
 * Every rank returns the exit code: FSC_EXIT_OK every check passed (skips
 * allowed), FSC_EXIT_FAIL a check failed, FSC_EXIT_USAGE bad input or
 * nothing judged, FSC_EXIT_ABORTED a rank stalled or died; an error is
 * printed once, by one rank. */
int fsc_accept_rank(struct fsc_boot *b, void *arg);

#endif
