/* Pattern interface: a const ops table, declarative about cost and
 * verification.
 *
 * The runner (src/runner.c) owns timing: it calls setup, then fill/run/check
 * for an untimed verification pass, then warm-up and the timed iterations of
 * run(), then teardown.  A pattern never reads a clock.  Data is seeded from
 * (seed, rank, iteration, index) so every rank checks its own result locally,
 * without extra communication.
 *
 * Every implementation is written against the fabric's point-to-point
 * primitives (fsc_fabric_isend/irecv/wait), so it runs unchanged over every
 * fabric; impl "native" calls the fabric's collectives (fsc_fabric_coll_*).
 */
#ifndef FSC_PATTERN_H
#define FSC_PATTERN_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "fabric.h"
#include "options.h"

struct fsc_runner;
struct fsc_run_settings;
struct fsc_matrix_pattern;

/* What one measurement point looks like to a pattern. */
struct fsc_pctx {
	struct fsc_fabric *fab;
	struct fsc_boot *boot;
	const struct fsc_config *cfg;
	/* The run options, typed (fsc_pctx_run); NULL: read from cfg. */
	const struct fsc_run_settings *run;
	int rank, size;
	const char *impl;     /* one of the pattern's impls */
	size_t bytes;         /* the point's size (pattern-defined, see its doc) */
	enum fsc_dtype dtype; /* patterns with FSC_PAT_DTYPE */
	enum fsc_redop op;    /* patterns with FSC_PAT_OP */
	int in_place;         /* patterns with FSC_PAT_INPLACE */
	uint64_t seed;
	/* The runner's measurement clock.  Patterns time nothing of their own
	 * except figures inside an iteration that only they can see (the
	 * pipeline's per-stage waits), and then only with this clock. */
	struct fsc_clock clock;
};

enum fsc_pattern_flags {
	FSC_PAT_DTYPE = 1u << 0,   /* sweeps --dtype */
	FSC_PAT_OP = 1u << 1,      /* sweeps --op */
	FSC_PAT_INPLACE = 1u << 2, /* sweeps --inplace */
	/* Point-to-point: the initiator's (rank 0's) clock alone times an
	 * iteration, as osu_latency/osu_bw do.  The slowest-rank maximum of
	 * two loops measuring the same round trips would bias every
	 * percentile upward by their jitter. */
	FSC_PAT_TIMED_BY_RANK0 = 1u << 3,
};

struct fsc_pattern_ops {
	const char *name;
	const char *desc;
	unsigned caps; /* fabric capabilities required */
	int min_ranks;
	unsigned flags;
	const char *const *impls; /* NULL-terminated; first is the default */
	const struct fsc_opt *opts;

	/* How bandwidth is derived, stated in every record, e.g.
	 * "algbw = 2*window*bytes/t; busbw = algbw" */
	const char *bw_formula;
	/* Samples are iteration time x time_scale (latency: 0.5 for half a
	 * round trip); 0 means 1. */
	double time_scale;
	/* Bytes an iteration counts for algbw (nccl-tests' S), and the busbw
	 * factor (nccl-tests: all-reduce 2(n-1)/n, ...). NULL: bytes and 1. */
	double (*algbw_bytes)(const struct fsc_pctx *c);
	double (*busbw_factor)(const struct fsc_pctx *c);
	/* Optional: bytes of buffers rank c->rank allocates in setup for a
	 * point of c->bytes over c->size ranks (message, scratch and
	 * expected-result buffers; not bookkeeping of a few KiB).  Before
	 * anything is allocated, the runner sums it over the ranks of each
	 * host and refuses a point that needs more than the host's available
	 * memory (MemAvailable), so a typo such as --max 1T is one error
	 * line, not minutes of swapping.  An upper bound is fine; it must not
	 * be an underestimate.  NULL: 2 * bytes (a send and a receive
	 * buffer).  Matrix patterns (matrix) read their own size options
	 * here. */
	double (*buf_bytes)(const struct fsc_pctx *c);

	/* Optional: reject a point before setup.  -EINVAL: bad input (error
	 * with `err`); -ENOTSUP: a recorded "skipped: err".  Not collective;
	 * must give the same answer on every rank. */
	int (*check_args)(const struct fsc_pctx *c, char *err, size_t len);
	int (*setup)(struct fsc_pctx *c, void **state);
	/* Seed the inputs for iteration `iter` (untimed). */
	int (*fill)(struct fsc_pctx *c, void *state, uint64_t iter);
	/* One timed iteration. */
	int (*run)(struct fsc_pctx *c, void *state, uint64_t iter);
	/* Count wrong elements/bytes of iteration `iter`'s result (untimed). */
	int (*check)(struct fsc_pctx *c, void *state, uint64_t iter, uint64_t *wrong);
	void (*teardown)(struct fsc_pctx *c, void *state);
	/* Optional: does this rank take part (others wait, without spinning)? */
	int (*active)(const struct fsc_pctx *c);
	/* Optional, collective: add pattern-specific figures to the record
	 * (rank 0's `rec`; NULL on other ranks). */
	int (*report)(struct fsc_pctx *c, void *state, json_t *rec);
	/* Optional: an all-pairs matrix pattern (src/matrix.h).  The matrix
	 * driver replaces the size sweep; the pattern measures one pair in one
	 * step. */
	const struct fsc_matrix_pattern *matrix;
};

const char *fsc_dtype_name(enum fsc_dtype dt);
size_t fsc_dtype_size(enum fsc_dtype dt);
const char *fsc_redop_name(enum fsc_redop op);
/* -EINVAL if unknown.  Accepts float|float32|f32, double|float64|f64,
 * int32|i32, int64|i64, bf16|bfloat16; sum|max|min. */
int fsc_dtype_parse(const char *s, enum fsc_dtype *out);
int fsc_redop_parse(const char *s, enum fsc_redop *out);

#endif
