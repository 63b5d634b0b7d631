/* The matrix driver: all-pairs matrices of nodes, beside the runner.
 *
 * A matrix pattern (patterns/pairs.c) only measures: "this pair, this
 * step".  The driver owns everything around it:
 *  1. rounds from a pair schedule (src/schedule.h): in each step every rank
 *     asks for the partner of each of its local nodes and measures those
 *     pairs concurrently; ranks with nothing to do wait in the bootstrap's
 *     sleeping collectives;
 *  2. collection: after every step one fixed-size allgather brings each
 *     rank's cells to rank 0, which keeps them in a store (below);
 *  3. streaming: rank 0 rewrites the results record as rounds finish, so a
 *     killed run keeps what it measured;
 *  4. attribution (src/analysis.h) and the serial re-tests of candidates,
 *     within a budget that grows with their number, against healthy
 *     reference pairs;
 *  5. output: the results record, CSV matrices, the terminal summary and a
 *     progress line; the runner's tallies.
 *
 * The measurement and the storage are interfaces, so that the measurements
 * of a pair may come from a model instead of from bytes moved (a simulated
 * fabric of thousands of hosts, every node on rank 0) and the matrix may
 * live on disk instead of in memory.
 *
 * Memory: every rank holds the layout (O(n)) and, per step, max_local
 * cells of its own and size x max_local gathered ones, where max_local is
 * the most nodes one rank measures for (1 on a real fabric; n for a model
 * with every node on rank 0: O(n) either way).  Rank 0 also holds the
 * store: in memory (fsc_matrix_store_dense, n x n per figure) or on disk
 * (fsc_matrix_store_file, O(n) in memory), chosen by the settings' `store`.
 * Everything that reads the matrix on rank 0 (the attribution, the spread,
 * the per-node medians, the worst cells, the CSV and the record) reads it
 * a block of rows or columns at a time (fsc_matrix_store_lines), so with
 * the disk store rank 0 holds O(n): the blocks of columns are at most
 * 8 MiB.  Above the settings' full_max nodes (and always above
 * FSC_MATRIX_MEMORY_MAX of dense figures) the record and the CSV carry
 * per-node summaries and the worst cells instead of the n x n matrices.
 */
#ifndef FSC_MATRIX_H
#define FSC_MATRIX_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "boot.h"
#include "pattern.h"
#include "schedule.h"

struct fsc_runner;

/* What one node measured towards its partner: cell [node][partner] (the
 * node is the sender for bandwidth, the initiator for latency).  NaN: not
 * measured. */
struct fsc_matrix_cell {
	double bw_med, bw_min, bw_max;    /* GB/s: median, min and max over repeats */
	double lat_min, lat_p50, lat_p99; /* us: half round trips */
	uint64_t windows;                 /* timed bandwidth windows of the cell */
	/* Bytes the node received wrong while measuring the pair (its
	 * verification pass): a count for the run, not a figure of the cell. */
	uint64_t wrong;
};

/* The figures a store keeps per cell; FSC_MATRIX_BW is the cell's
 * bandwidth (median), FSC_MATRIX_LAT its latency (p50). */
enum fsc_matrix_fig {
	FSC_MATRIX_BW,
	FSC_MATRIX_BW_MIN,
	FSC_MATRIX_BW_MAX,
	FSC_MATRIX_LAT,
	FSC_MATRIX_LAT_P99,
	FSC_MATRIX_FIGS,
};

/* ---- storage of the matrix (rank 0) ---- */

struct fsc_matrix_store_ops {
	/* Keep cell src -> dst (the figures of enum fsc_matrix_fig). */
	int (*put)(void *impl, int src, int dst, const struct fsc_matrix_cell *c);
	/* One figure of cell src -> dst; NaN when not measured. */
	double (*get)(void *impl, int src, int dst, enum fsc_matrix_fig f);
	/* Optional: the whole matrix of figure f in memory, n x n row-major,
	 * NaN where not measured (and on the diagonal).  NULL: the store
	 * holds none (a matrix streamed to disk). */
	const double *(*dense)(void *impl, enum fsc_matrix_fig f);
	/* Optional: `count` lines of figure f from line `first` into out:
	 * rows (dim 0; out[k * n + j] = cell first+k -> j) or columns (dim 1;
	 * out[k * n + i] = cell i -> first+k).  0 or a negative errno (logged).
	 * NULL: read through dense or get. */
	int (*lines)(void *impl, enum fsc_matrix_fig f, int dim, int first, int count, double *out);
	void (*destroy)(void *impl);
};

struct fsc_matrix_store {
	const struct fsc_matrix_store_ops *ops;
	void *impl;
	int n;
};

/* The in-memory store: FSC_MATRIX_FIGS arrays of n x n doubles, all NaN.
 * -ENOMEM (with an error line) when they do not fit. */
int fsc_matrix_store_dense(struct fsc_matrix_store *s, int n);
/* The disk store: the cells in a file, row-major, each cell a record of
 * its FSC_MATRIX_FIGS figures, created in dir (NULL: $TMPDIR, else /tmp)
 * and unlinked at once, so that it goes when the store is destroyed or the
 * process dies.  A put is one write, or, when puts follow one another
 * along a row (a stream row by row), goes to a cached row written once;
 * reads are whole rows, or blocks of columns (a read per row per block).
 * Memory: two rows of records, O(n).  Unmeasured cells (holes in the
 * sparse file) read NaN.  -ENOSPC when the file system has too little room
 * for the whole matrix, or a write fails; -errno when the file cannot be
 * made; one error line each, naming the directory and what to do. */
int fsc_matrix_store_file(struct fsc_matrix_store *s, int n, const char *dir);
/* Bytes of the dense store's figures for n nodes. */
double fsc_matrix_dense_bytes(int n);
/* Above this, --pairs-store auto keeps the matrix on disk and the record
 * holds summaries instead of matrices. */
#define FSC_MATRIX_MEMORY_MAX (256.0 * 1048576.0)
/* The most nodes whose dense figures fit FSC_MATRIX_MEMORY_MAX: the
 * highest full_max (fsc_matrix_settings) can go. */
#define FSC_MATRIX_FULL_MAX_MOST 2590
/* full_max when the settings leave it 0. */
#define FSC_MATRIX_FULL_MAX_DEFAULT 1024
/* `count` lines of figure f of any store (the store's lines, else its
 * dense figure, else get per cell); see fsc_matrix_store_ops.lines. */
int fsc_matrix_store_lines(const struct fsc_matrix_store *s, enum fsc_matrix_fig f, int dim,
                           int first, int count, double *out);
/* Destroy the store's contents (safe on a zeroed store). */
void fsc_matrix_store_fini(struct fsc_matrix_store *s);

/* ---- nodes ---- */

#define FSC_MATRIX_LABEL_MAX (FSC_HOST_MAX + 16)

/* Who the rows are, and which rank measures for each.  Every rank holds
 * the same layout: O(n). */
struct fsc_matrix_layout {
	int n;
	const char *granularity;             /* "host", "rank", ... (the record) */
	int *owner;                          /* [n]: rank that measures for the node */
	char (*label)[FSC_MATRIX_LABEL_MAX]; /* [n] */
	const char **labelp;                 /* [n]: label[i] */
};

/* Per rank when asked or when the job has nothing to tell hosts apart by
 * (a single host); else per host. */
int fsc_matrix_per_rank(const struct fsc_boot *b, int asked);
/* Nodes of the layout fsc_matrix_layout_boot would build. */
int fsc_matrix_nodes(const struct fsc_boot *b, int per_rank);
/* The standard layout: one node per rank (label host/rN, or rN without
 * host names), or one per host measured by its first rank (label: the
 * host name). */
int fsc_matrix_layout_boot(struct fsc_matrix_layout *l, const struct fsc_boot *b, int per_rank);
/* A layout of n nodes, owners and labels to fill in (all owned by rank 0,
 * labelled n0, n1, ...). */
int fsc_matrix_layout_alloc(struct fsc_matrix_layout *l, int n, const char *granularity);
void fsc_matrix_layout_free(struct fsc_matrix_layout *l);

/* ---- steps and the measure callbacks ---- */

enum fsc_matrix_step_kind {
	FSC_MATRIX_ROUND,  /* a round of the schedule: its pairs concurrently */
	FSC_MATRIX_RETEST, /* one pair alone (a serial re-test) */
};

struct fsc_matrix_step {
	enum fsc_matrix_step_kind kind;
	uint64_t seq;                  /* steps so far, the same on every rank (tags, data seeds) */
	uint64_t index;                /* the round, or the re-test's position in its pass */
	const struct fsc_sched *sched; /* ROUND */
	int a, b;                      /* RETEST: the pair, a < b */
};

/* The partner of node in this step, or -1 when it is idle. */
int fsc_matrix_step_partner(const struct fsc_matrix_step *st, int node);

/* Where rank 0 keeps the matrix: auto (memory up to FSC_MATRIX_MEMORY_MAX
 * of dense figures, else disk), memory, disk. */
enum fsc_matrix_store_kind {
	FSC_MATRIX_STORE_AUTO,
	FSC_MATRIX_STORE_MEMORY,
	FSC_MATRIX_STORE_DISK,
};

/* The driver's settings, filled by the pattern's open. */
struct fsc_matrix_settings {
	enum fsc_matrix_store_kind store; /* unless the pattern has its own store */
	const char *schedule; /* src/schedule.h spec: concurrent, serial, sample:K, or topology
	                       * (needs `topology`: every node's host on a leaf) */
	int per_rank;         /* standard layout: one node per rank */
	int confirm;          /* serial re-tests per suspect (>= 1) */
	double bw_ratio;      /* slow below this x the robust median bandwidth */
	double lat_ratio;     /* slow above this x the robust median latency */
	/* CSV prefix; NULL: the results path without .json; "none": no CSV */
	const char *csv;
	int fail_on_anomaly; /* a confirmed anomaly fails the run */
	/* The terminal summary's description of a cell's measurement. */
	char method[256];
	/* Optional (src/topology.h): a topology.conf file or fattree spec.
	 * Rank 0 maps each node to its leaf by host name (the label up to a
	 * '/'); the record gains `topology`, `leaves` (per node, null when the
	 * host is not in the topology) and `leaf_summary` (per leaf: intra-
	 * and cross-leaf bandwidth as ratios to their centres, from
	 * src/topoattr.h over the bandwidth matrix).  Leaf suspects are
	 * re-tested serially after the node and link suspects: up to 4
	 * crossing pairs each against 2 non-crossing reference pairs, confirmed
	 * by a majority of passes (`leaf_suspects`, `leaf_anomalies`); a
	 * confirmed leaf comes first in the verdict, and the node and link
	 * anomalies it explains move to `unconfirmed` ("explained by ...").
	 * The terminal groups nodes by leaf. */
	const char *topology;
	/* The largest matrix, in nodes, whose every cell goes into the record
	 * and the CSV; above it they hold per-node medians and the worst
	 * cells (10,000 nodes would be 10^8 cells).  0: the default
	 * (FSC_MATRIX_FULL_MAX_DEFAULT); never above FSC_MATRIX_FULL_MAX_MOST. */
	int full_max;
};

/* What a matrix pattern provides.  `ctx` is its own state (from open). */
struct fsc_matrix_pattern {
	/* Not collective, the same answer on every rank: read and check the
	 * options, fill the driver's settings, allocate ctx (r: for
	 * fsc_runner_time).  -EINVAL with a
	 * one-line message in err. */
	int (*open)(struct fsc_runner *r, struct fsc_pctx *c, struct fsc_matrix_settings *set,
	            void **ctx, char *err, size_t len);
	/* Optional: the node layout (NULL: fsc_matrix_layout_boot with
	 * set->per_rank). */
	int (*layout)(void *ctx, struct fsc_pctx *c, struct fsc_matrix_layout *l);
	/* Optional: the store for rank 0 (NULL: as the settings' store). */
	int (*store)(void *ctx, int n, struct fsc_matrix_store *s);
	/* Buffers for this rank's local nodes (none: nothing to allocate).
	 * Every rank; the driver agrees on the outcome. */
	int (*setup)(void *ctx, struct fsc_pctx *c, const struct fsc_matrix_layout *l);
	/* Optional, every rank, before each step after the barrier (a fabric
	 * sync, per-step buffers). */
	int (*step)(void *ctx, struct fsc_pctx *c, const struct fsc_matrix_step *st);
	/* Node's side of pair {node, partner} in a round, concurrently with
	 * the other pairs of the round: called on the node's owner for each
	 * of its local nodes with a partner, in node order, so both owners
	 * call it for the pair.  Fills out (cell node -> partner; initialised
	 * to NaN and 0).  A measure that needs both sides at once must not
	 * lay out both nodes of a pair on one rank; a model may. */
	int (*measure)(void *ctx, struct fsc_pctx *c, const struct fsc_matrix_step *st, int node,
	               int partner, struct fsc_matrix_cell *out);
	/* Optional: the same for a serial re-test, the pair alone in the
	 * fabric (NULL: measure).  The re-test judges the best repeat:
	 * bw_max and lat_min. */
	int (*retest)(void *ctx, struct fsc_pctx *c, const struct fsc_matrix_step *st, int node,
	              int partner, struct fsc_matrix_cell *out);
	/* Optional, rank 0: the pattern's own fields of the record. */
	void (*record)(void *ctx, json_t *rec);
	/* Free ctx and its buffers (every rank; also after a failed setup). */
	void (*close)(void *ctx, struct fsc_pctx *c);
};

/* Run the matrix pattern p (p->matrix) over c->fab (collective): the
 * record goes to r->res / r->out, the runner's tallies count one point.
 * Returns 0, or the agreed error. */
int fsc_matrix_run(struct fsc_runner *r, const struct fsc_pattern_ops *p, struct fsc_pctx *c);

/* Non-significant candidates re-tested out of c: 4 + 2 ceil(sqrt(c)), at
 * most c. */
size_t fsc_matrix_retest_budget(size_t c);

#endif
