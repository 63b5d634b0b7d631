/* A run session: what `fabscope run` and `fabscope accept` share.
 *
 * The option groups of everything built, launcher facts known before any
 * bootstrap exists, validation of a run configuration, and the loop over
 * fabrics x patterns that feeds the runner. */
#ifndef FSC_SESSION_H
#define FSC_SESSION_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "clock.h"
#include "fabric.h"
#include "options.h"
#include "runner.h"

#define FSC_MAX_OPT_GROUPS 64

/* The option tables of `run`, every built fabric and every pattern. */
size_t fsc_session_option_groups(struct fsc_opt_group *g, size_t max);

/* The launcher's rank and size (mpirun, srun, PMI) from the environment,
 * before any bootstrap: 0 and 1 when not launched. */
int fsc_session_launcher_rank(void);
int fsc_session_launcher_size(void);

/* Launch: when every --fabric runs its ranks in-process (the fabric's
 * inprocess_ranks option, fabric.h), how many ranks, > 0, and the first
 * such fabric in *which (may be NULL); 0 when some fabric's ranks are
 * launched processes, a name is unknown (validation reports it) or no
 * fabric is named.  -EINVAL with a message when in-process fabrics ask
 * for different rank counts. */
int fsc_session_inprocess_ranks(const struct fsc_config *cfg, const struct fsc_fabric_ops **which,
                                char *err, size_t len);
/* The same over a list of fabrics (NULL entries: unknown names). */
int fsc_session_inprocess_ranks_of(const struct fsc_fabric_ops *const *fabrics, size_t n,
                                   const struct fsc_config *cfg,
                                   const struct fsc_fabric_ops **which, char *err, size_t len);

/* The built fabrics that run in-process, ", "-separated, for messages. */
void fsc_session_inprocess_names(char *buf, size_t len);

/* Collective: do all ranks hold the same effective configuration (hash of
 * every option's value)?  Ranks launched with different arguments or
 * environment-dependent defaults would otherwise measure different things
 * or deadlock.  -EINVAL with a message naming a differing rank. */
int fsc_session_agree_config(struct fsc_boot *b, const struct fsc_config *cfg, char *err,
                             size_t errlen);

/* Check fabric, pattern and impl names, every point of every pattern for
 * b->size ranks, and each fabric's options (by creating and destroying it).
 * Collective.  -EINVAL with a one-line message in err on every rank, or
 * with err empty when a fabric already logged the bad value (once, by the
 * first rank that found it). */
int fsc_session_validate(const struct fsc_config *cfg, struct fsc_boot *b, char *err,
                         size_t errlen);

/* The results path --output asks for (creating results/runs/ for 'auto');
 * 0 when no file is wanted ('none'), 1 with `path` filled. */
int fsc_session_output_path(const struct fsc_config *cfg, char *path, size_t len);

/* Measure the timer (fsc_timer_selftest of CLOCK_MONOTONIC) on every rank
 * and agree (collective).  A clock that never advances on some rank can
 * time nothing: -EIO, with a one-line message naming the first such rank
 * and host in err on every rank (the same errlen on every rank). */
int fsc_session_timer(struct fsc_boot *b, struct fsc_timer_info *ti, char *err, size_t errlen);

/* Run every --pattern over every --fabric (collective).  A fabric that
 * cannot start here gives "skipped" records with the first failing rank's
 * reason (counted in r->fabrics_skipped, named in r->skip_reasons); one
 * that fails mid-way stops with "error" records for what was not run.
 * fabinfo (rank 0; may be NULL): what each fabric really used. */
int fsc_session_run(struct fsc_runner *r, json_t *fabinfo);

/* Arm the watchdog with --timeout as the deadline of bootstrap waits. */
void fsc_session_watchdog_arm(struct fsc_boot *b, const struct fsc_config *cfg);

/* After a run the watchdog aborted (fsc_watchdog_aborted): rank 0 adds the
 * verdict to res (object "abort", may be NULL) and finishes it with status
 * "aborted"; then the lowest live rank prints the verdict as one error
 * line on `err`.  Not collective (the culprits cannot take part). */
void fsc_session_abort_report(struct fsc_boot *b, struct fsc_results *res, FILE *err);

/* Catch SIGTERM (the launcher ending the job, e.g. after a rank died):
 * later messages are dropped and the next wait fails with -ECONNABORTED,
 * so rank 0 can still finish its results file before SIGKILL follows
 * (Open MPI: 1 s later, odls_base_sigkill_timeout).  Also SIGCONT, see
 * fsc_watchdog_note_continue. */
void fsc_session_catch_term(void);

/* End a job the watchdog aborted: the lowest live rank ends it at once
 * (after its report), the others after `grace_ns` in case that rank is
 * gone too.  MPI jobs only; returns where there is no MPI to end. */
void fsc_session_abort_job(struct fsc_boot *b, uint64_t grace_ns);

#endif
