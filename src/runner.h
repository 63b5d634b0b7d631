/* The runner: the one timing loop, sweeps over sizes and variants, and the
 * records it produces.  Fabrics and patterns never read a clock.
 *
 * Per point (pattern x impl x dtype x op x in-place x size), collectively:
 *  1. check_args, setup (all ranks);
 *  2. verification pass, untimed: barrier, sync, fill(0), run(0), check(0);
 *     wrong elements are summed over ranks;
 *  3. warm-up: one iteration is timed and its slowest-rank time decides, on
 *     every rank alike, how many of --warmup iterations fit in
 *     --warmup-time and how many of --iters fit in --point-time;
 *  4. barrier, sync, then the timed iterations: one clock reading per
 *     iteration into a preallocated array (nothing else in the loop); with
 *     --batch B each sample is the mean of B iterations; with --check every,
 *     fill and check run between (untimed) iterations;
 *  5. per sample the slowest rank's time (allreduce max), statistics,
 *     algbw/busbw, one record; teardown; all ranks agree on the outcome.
 * Ranks a pattern marks inactive skip 2-4 and wait in the bootstrap's
 * non-spinning collectives.
 */
#ifndef FSC_RUNNER_H
#define FSC_RUNNER_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

#include "clock.h"
#include "options.h"
#include "pattern.h"
#include "results.h"

/* The core options of `fabscope run` (--fabric, --pattern, --min, ...). */
extern const struct fsc_opt fsc_run_opts[];

/* --check and --inplace, in the order of their choices. */
enum fsc_check_mode { FSC_CHECK_ONCE, FSC_CHECK_EVERY, FSC_CHECK_OFF };
enum fsc_inplace_mode { FSC_INPLACE_NO, FSC_INPLACE_YES, FSC_INPLACE_BOTH };

/* The values of fsc_run_opts (its table is the one source of their
 * names, defaults and bounds). */
struct fsc_run_settings {
	struct fsc_opt_list fabric, pattern, impl, dtype, op;
	uint64_t min, max;
	int64_t factor, iters, warmup, batch, peer, seed;
	uint64_t warmup_ns, point_ns, timeout_ns;
	enum fsc_check_mode check;
	enum fsc_inplace_mode inplace;
	const char *output;
	bool quiet;
};

/* Fill s from cfg (NULL, or a config without the run options: their
 * defaults).  -EINVAL with one line in err only for a broken table. */
int fsc_run_settings_fill(const struct fsc_config *cfg, struct fsc_run_settings *s, char *err,
                          size_t errlen);

struct fsc_runner {
	struct fsc_boot *boot;
	const struct fsc_config *cfg;
	struct fsc_results *res; /* rank 0; NULL elsewhere or for no output */
	FILE *out;               /* rank 0 human table; NULL: quiet */
	/* Override the measurement clock (tests); NULL: the fabric's. */
	const struct fsc_clock *clock_override;

	/* The host's available memory in bytes for the memory check of
	 * fsc_runner_validate (tests); 0: read /proc/meminfo. */
	uint64_t mem_avail_bytes;

	struct fsc_run_settings set; /* the run options, read once */
	uint64_t iters, warmup, batch, seed;
	uint64_t warmup_ns, point_ns;
	int check_every, check_off;

	/* Tallies over the run (same on every rank). */
	uint64_t points, failed, skipped, wrong;
	/* Fabrics that could not start here, and why ("tcp: no interface
	 * ..."; "; "-separated, cut to fit); same on every rank.  A run whose
	 * fabrics all skipped measured nothing and must not pass. */
	uint64_t fabrics_skipped;
	char skip_reasons[512];

	/* Scratch for the timed loop (grown as needed, never inside it). */
	uint64_t *stamps;
	double *samples;
	double *dev; /* the fabric's device time per sample (dev_timer) */
	size_t cap;
	int last_header_key; /* table header de-duplication */
	char last_header[256];
};

/* The run options of a point: c->run, else scratch filled from c->cfg
 * (the table's defaults where cfg lacks them). */
const struct fsc_run_settings *fsc_pctx_run(const struct fsc_pctx *c,
                                            struct fsc_run_settings *scratch);

/* Read the core options; r->res and r->out may be NULL.  -EINVAL (logged)
 * only when the run options' table is broken. */
int fsc_runner_init(struct fsc_runner *r, struct fsc_boot *b, const struct fsc_config *cfg,
                    struct fsc_results *res, FILE *out);
void fsc_runner_fini(struct fsc_runner *r);

/* Check every point a sweep of p would run (impls, dtypes, ops, sizes,
 * rank count, and the buffers its ranks on this rank's host would need
 * against the host's available memory) without running or allocating
 * anything.  -EINVAL with a one-line message.  Not collective: ranks of one
 * host compute the same answer; a host with less memory may refuse alone
 * (callers agree on the outcome). */
int fsc_runner_validate(struct fsc_runner *r, const struct fsc_pattern_ops *p, char *err,
                        size_t errlen);

/* MemAvailable of a meminfo file (NULL: /proc/meminfo) in bytes.  0, or
 * -ENOENT/-EINVAL when it cannot be read (then no memory check is made). */
int fsc_meminfo_available(const char *path, uint64_t *bytes);

/* Run pattern p over fabric f for every variant and size (collective).
 * Records go to r->res / r->out.  Returns 0, or a negative code when the
 * fabric failed (timeout, transport error) and the remaining points of this
 * fabric cannot run; wrong data is not an error here (counted in r->wrong). */
int fsc_runner_sweep(struct fsc_runner *r, struct fsc_fabric *f, const struct fsc_pattern_ops *p);

/* Measure one point (collective).  *rec (rank 0, or every rank when
 * want_all) receives the record, status "ok", "wrong", "skipped" or
 * "error".  Returns 0 or the agreed error. */
int fsc_runner_point(struct fsc_runner *r, const struct fsc_pattern_ops *p, struct fsc_pctx *c,
                     json_t **rec);

/* The timing primitive for matrix patterns (src/matrix.h): run body
 * `iters` times on this rank, storing per-iteration durations (ns, times
 * `scale`) into samples[0..iters).  Not collective; no allocation. */
int fsc_runner_time(struct fsc_runner *r, struct fsc_pctx *c,
                    int (*body)(struct fsc_pctx *c, void *state, uint64_t iter), void *state,
                    uint64_t iters, double scale, double *samples);

/* The clock the runner measures with for fabric f. */
struct fsc_clock fsc_runner_clock(struct fsc_runner *r, struct fsc_fabric *f);

/* A record skeleton with the identifying fields of a point. */
json_t *fsc_record_new(const struct fsc_pattern_ops *p, const struct fsc_pctx *c,
                       const char *status);

/* Add a record: to results (rank 0) and to the human table. Steals rec. */
void fsc_runner_emit(struct fsc_runner *r, json_t *rec);

#endif
