/* The matrix driver (matrix.h): rounds, collection, streaming, serial
 * re-tests, attribution and output of all-pairs matrices.  The method and
 * its reasons are in patterns/PAIRS.md; in short:
 *
 *  - Rounds come from a pair schedule (src/schedule.h): concurrent (circle
 *    method, n-1 or n rounds), serial (one pair at a time) or sample:K.
 *    Nothing is tabulated: each node asks for its partner per round.
 *  - A step (a round, or one re-test) is collective: a barrier, the
 *    pattern's step hook, the measurements of this rank's nodes, status
 *    agreement, then one fixed-size allgather of every rank's cells, which
 *    rank 0 keeps in the store and streams to the results file: a killed
 *    run keeps its finished rounds.
 *  - Attribution (src/analysis.h): median polish on each matrix separates a
 *    slow node (row and/or column) from a bad link (one cell, one
 *    direction).  The matrix is a screen, the serial re-test the
 *    instrument: every cell and node past the ratio thresholds is a
 *    candidate, whatever the matrix's noise says of it; the significant
 *    ones (min_sigmas out) are all re-tested, then the worst of the rest,
 *    within a budget that grows with the number of candidates
 *    (fsc_matrix_retest_budget).  The noise ranks candidates; it never
 *    decides whether an obviously slow cell is looked at, because on a
 *    shared machine healthy cells spread over a factor of 20 and would
 *    hide a 0.01x link from a significance test.
 *    Suspects are re-measured serially `confirm` times, each time together
 *    with up to two healthy reference pairs measured the same way; a
 *    re-test compares best repeats (bandwidth max, latency min), and an
 *    anomaly is reported only when a majority of its re-tests are still
 *    beyond the threshold relative to that reference.
 *
 * A ping-pong measures a round trip: a slow direction slows both latency
 * cells of the pair alike.  Two confirmed latency links a->b and b->a are
 * therefore reported as one "a<->b" anomaly with direction "both".
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "analysis.h"
#include "boot.h"
#include "err.h"
#include "log.h"
#include "matrix.h"
#include "results.h"
#include "runner.h"
#include "schedule.h"
#include "stats.h"
#include "topoattr.h"
#include "topology.h"
#include "watchdog.h"

/* Suspects kept per matrix (the most severe first), and links found by
 * the re-tests of node suspects that were not confirmed. */
#define MX_MAX_SUSPECTS 64
#define MX_MAX_DERIVED 64
/* Links re-measured per suspect node, and healthy reference pairs per
 * re-test pass. */
#define MX_NODE_RETESTS 8
#define MX_REF_PAIRS 2
/* Worst links on the terminal; matrices printed up to this many nodes. */
#define MX_WORST 5
/* Worst cells per metric in the record and the CSV of an aggregated
 * matrix (mx_aggregated). */
#define MX_JSON_WORST 64
#define MX_PRINT_MATRIX 8
/* Large matrices rewrite the results file at most this often (ns). */
#define MX_STREAM_BIG_N 64
#define MX_STREAM_NS 2000000000ull
/* ... and at least this many times the last write's own time apart, so
 * that rewriting a large record takes at most 1/MX_STREAM_DUTY of the run */
#define MX_STREAM_DUTY 20

/* One cell on the wire: what a rank's node measured in a step.  Every rank
 * sends max_local of them per step (node -1: none); fixed size, the same
 * layout on every rank. */
struct mx_msg {
	int32_t node;    /* -1: no node in this slot */
	int32_t partner; /* -1: idle in this step */
	struct fsc_matrix_cell cell;
};

/* Leaf suspects re-tested at most, and per leaf its crossing pairs and
 * the non-crossing reference pairs of a pass; hosts of the topology
 * attribution added to the node suspects at most (topo_hosts_add). */
#define MX_LEAF_SUSPECTS 8
#define MX_LEAF_CROSSING 4
#define MX_HOST_SUSPECTS 8

/* One anomaly under re-test. */

struct mx_anom {
	struct fsc_anomaly a;
	int hib;     /* 1: bandwidth, 0: latency */
	int both;    /* latency link merged with its reverse direction */
	int dropped; /* merged into its reverse */
	int confirmed;
	int partners[MX_NODE_RETESTS]; /* node: the links re-measured */
	int npartners;
	double *values, *refs; /* [confirm]: re-measured value, reference */
	/* node: each re-measured link judged on its own, [partner][0: node ->
	 * partner, 1: partner -> node], and its values, [partner][dir][pass] */
	struct fsc_anomaly links[MX_NODE_RETESTS][2];
	double *link_values;
	/* node: the topology attribution's host suspect (in struct mx's hsus)
	 * that made it a suspect; NULL: the flat attribution's */
	const struct fsc_tsusp *topo;
	char text[512];
};

struct mx {
	struct fsc_runner *r;
	const struct fsc_pattern_ops *p;
	const struct fsc_matrix_pattern *mp;
	struct fsc_pctx *c;
	struct fsc_boot *b;
	void *ctx; /* the pattern's */
	struct fsc_matrix_settings set;
	struct fsc_matrix_layout lay;
	int n;
	int *local; /* [nlocal]: this rank's nodes */
	int nlocal, max_local;
	uint64_t step;             /* steps so far (same on every rank) */
	struct mx_msg *mine, *all; /* [max_local], [size * max_local] */

	/* rank 0 */
	struct fsc_matrix_store st;
	const char *store_kind; /* the record's "store" */
	/* A store error, agreed at the next step's agreement (no collective
	 * of its own; the step after it is measured in vain). */
	int pending;
	uint64_t wrong;
	size_t candidates[2];      /* past the thresholds: [0] latency, [1] bandwidth */
	size_t retest_steps;       /* serial pair steps of the re-tests, all passes */
	double retest_s;           /* their wall time */
	uint64_t win_min, win_max; /* timed windows per bandwidth cell, over the matrix */
	json_t *rec;
	uint64_t last_write_ns, write_gap_ns; /* the last write's start; the gap before the next */
	/* --topology (rank 0): each node's leaf, -1 when its host is not in
	 * the topology */
	struct fsc_topo *topo;
	int *leaf;
	char *leaf_text; /* the terminal's leaf lines */
	struct fsc_tattr *tattr;
	struct fsc_tsusp lsus[MX_LEAF_SUSPECTS]; /* leaf suspects, re-tested */
	size_t nlsus;
	struct fsc_tsusp hsus[MX_HOST_SUSPECTS]; /* host suspects, see topo_hosts_add */
	size_t nhsus;
	size_t leaf_confirmed;
	/* the measurement clock at the start of rounds 0 and 1 (after the
	 * pattern's step hook), for the estimate of the run time */
	struct fsc_clock clk;
	uint64_t round_ns[2];
};

/* ---- the in-memory store ---- */

struct dense {
	int n;
	double *m[FSC_MATRIX_FIGS];
};

static int dense_put(void *impl, int src, int dst, const struct fsc_matrix_cell *c)
{
	struct dense *d = impl;
	size_t at = (size_t)src * (size_t)d->n + (size_t)dst;

	d->m[FSC_MATRIX_BW][at] = c->bw_med;
	d->m[FSC_MATRIX_BW_MIN][at] = c->bw_min;
	d->m[FSC_MATRIX_BW_MAX][at] = c->bw_max;
	d->m[FSC_MATRIX_LAT][at] = c->lat_p50;
	d->m[FSC_MATRIX_LAT_P99][at] = c->lat_p99;
	return 0;
}

static double dense_get(void *impl, int src, int dst, enum fsc_matrix_fig f)
{
	struct dense *d = impl;

	return d->m[f][(size_t)src * (size_t)d->n + (size_t)dst];
}

static const double *dense_dense(void *impl, enum fsc_matrix_fig f)
{
	return ((struct dense *)impl)->m[f];
}

static void dense_destroy(void *impl)
{
	struct dense *d = impl;

	for (int f = 0; d && f < FSC_MATRIX_FIGS; f++)
		free(d->m[f]);
	free(d);
}

static const struct fsc_matrix_store_ops dense_ops = {
        .put = dense_put,
        .get = dense_get,
        .dense = dense_dense,
        .destroy = dense_destroy,
};

int fsc_matrix_store_dense(struct fsc_matrix_store *s, int n)
{
	size_t nn = (size_t)n * (size_t)n;
	struct dense *d = calloc(1, sizeof(*d));

	memset(s, 0, sizeof(*s));
	if (d)
		d->n = n;
	for (int f = 0; d && f < FSC_MATRIX_FIGS; f++) {
		d->m[f] = malloc(nn * sizeof(double));
		if (!d->m[f]) {
			dense_destroy(d);
			d = 0;
			break;
		}
		for (size_t k = 0; k < nn; k++)
			d->m[f][k] = NAN;
	}
	if (!d) {
		fsc_error("matrix: out of memory for %d x %d matrices", n, n);
		return -ENOMEM;
	}
	s->ops = &dense_ops;
	s->impl = d;
	s->n = n;
	return 0;
}

/* ---- the disk store ---- */

/* A cell is a record of its FSC_MATRIX_FIGS figures, cells in row-major
 * order, so that a put is one write (a round of a 10,000-node matrix puts
 * one cell in each row: 10,000 writes of 40 bytes).  Figures are stored as
 * their bits XOR a quiet NaN's, so that a hole of the sparse file (zeros)
 * reads as NaN: not measured. */
#define FILE_NAN_BITS 0x7ff8000000000000ull

/* Lines of one figure are read from planes: a second unlinked file holds,
 * per figure asked for, that figure's cells as n x n doubles row-major
 * and again column-major, built in one pass over the cells when a figure's
 * lines are first read after a put.  A median-polish sweep then reads n^2
 * doubles per direction instead of every cell's FSC_MATRIX_FIGS figures,
 * and a block of columns is one read, not one per row: at 10,000 nodes a
 * sweep reads 1.6 GB in about 10,100 reads, not 8 GB in 1,010,000.  The
 * planes are a cache: without room for them, or after an error in their
 * file, lines are read from the cells. */
struct filestore {
	int n, fd;
	char dir[4096];
	uint64_t *row; /* [FIGS n]: the cached row, encoded */
	uint64_t *io;  /* [FIGS n]: one row read for lines */
	int crow, dirty, last_src;
	int failed; /* an I/O error was logged */
	int pfd;    /* the planes' file; -1 until the first plane (-2: no room) */
	int plane_ok[FSC_MATRIX_FIGS]; /* figure f's planes hold every put */
	double *tbuf;                  /* [rows n]: rows being transposed */
	struct fwin *win;              /* [n]: each row's window */
	uint64_t *wbuf;                /* [n FILE_WIN FIGS]: the windows' cells, encoded */
	int wdirty;                    /* windows holding puts the file has not */
};

/* A row's window: FILE_WIN cells of the row from col0, read from the file
 * and written back in one piece.  A round of the circle schedule puts one
 * cell in each row, and row i's cell in round r is column 2r - i: each
 * row's cells come in ascending columns two apart, so a window takes
 * FILE_WIN / 2 puts for one read and one write where each put was a write
 * of its own (10^8 of them at 10,000 nodes, most of rank 0's time in the
 * rounds).  A row's window opens only when its puts ascend by less than
 * the window; other orders (sampled rounds, re-tests) write each cell as
 * before. */
#define FILE_WIN 32
struct fwin {
	int col0, last; /* the window's first column; the row's last put */
	uint8_t valid, dirty;
};

static uint64_t cell_enc(double v)
{
	uint64_t u;

	memcpy(&u, &v, sizeof(u));
	return u ^ FILE_NAN_BITS;
}

static double cell_dec(uint64_t u)
{
	double v;

	u ^= FILE_NAN_BITS;
	memcpy(&v, &u, sizeof(v));
	return v;
}

static off_t file_at(const struct filestore *fs, int src, int dst)
{
	return (off_t)(((uint64_t)src * (uint64_t)fs->n + (uint64_t)dst) * FSC_MATRIX_FIGS *
	               sizeof(uint64_t));
}

static int file_io_fail(struct filestore *fs, const char *what, int err)
{
	if (!fs->failed)
		fsc_error("matrix: cannot %s the disk store in %s: %s (set TMPDIR to a file system "
		          "with room, or --pairs-store memory)",
		          what, fs->dir, strerror(err));
	fs->failed = 1;
	return -err;
}

/* Whole reads and writes of fd (a short read past the end is a hole:
 * zeros); 0 or -errno. */
static int fd_pread(int fd, void *buf, size_t len, off_t at)
{
	char *p = buf;

	while (len) {
		ssize_t k = pread(fd, p, len, at);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		if (k == 0) {
			memset(p, 0, len);
			return 0;
		}
		p += k;
		len -= (size_t)k;
		at += k;
	}
	return 0;
}

static int fd_pwrite(int fd, const void *buf, size_t len, off_t at)
{
	const char *p = buf;

	while (len) {
		ssize_t k = pwrite(fd, p, len, at);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return k < 0 ? -errno : -ENOSPC;
		p += k;
		len -= (size_t)k;
		at += k;
	}
	return 0;
}

static int file_pread(struct filestore *fs, void *buf, size_t len, off_t at)
{
	int rc = fd_pread(fs->fd, buf, len, at);

	return rc ? file_io_fail(fs, "read", -rc) : 0;
}

static int file_pwrite(struct filestore *fs, const void *buf, size_t len, off_t at)
{
	int rc = fd_pwrite(fs->fd, buf, len, at);

	return rc ? file_io_fail(fs, "write", -rc) : 0;
}

static size_t row_bytes(const struct filestore *fs)
{
	return (size_t)fs->n * FSC_MATRIX_FIGS * sizeof(uint64_t);
}

static int file_flush(struct filestore *fs)
{
	if (!fs->dirty)
		return 0;
	fs->dirty = 0;
	return file_pwrite(fs, fs->row, row_bytes(fs), file_at(fs, fs->crow, 0));
}

static int win_len(const struct filestore *fs, int col0)
{
	return fs->n - col0 < FILE_WIN ? fs->n - col0 : FILE_WIN;
}

static uint64_t *win_cells(const struct filestore *fs, int src)
{
	return fs->wbuf + (size_t)src * FILE_WIN * FSC_MATRIX_FIGS;
}

/* Write row src's window back when it holds puts the file has not. */
static int win_flush(struct filestore *fs, int src)
{
	struct fwin *w = &fs->win[src];

	if (!w->dirty)
		return 0;
	w->dirty = 0;
	fs->wdirty--;
	return file_pwrite(fs, win_cells(fs, src),
	                   (size_t)win_len(fs, w->col0) * FSC_MATRIX_FIGS * sizeof(uint64_t),
	                   file_at(fs, src, w->col0));
}

/* Row src's window from column col0, the old one written back first. */
static int win_open(struct filestore *fs, int src, int col0)
{
	struct fwin *w = &fs->win[src];
	int rc = win_flush(fs, src);

	w->valid = 0;
	if (!rc)
		rc = file_pread(fs, win_cells(fs, src),
		                (size_t)win_len(fs, col0) * FSC_MATRIX_FIGS * sizeof(uint64_t),
		                file_at(fs, src, col0));
	if (!rc) {
		w->col0 = col0;
		w->valid = 1;
	}
	return rc;
}

static int win_has(const struct filestore *fs, int src, int dst)
{
	const struct fwin *w = fs->win ? &fs->win[src] : NULL;

	return w && w->valid && dst >= w->col0 && dst < w->col0 + win_len(fs, w->col0);
}

/* Everything put so far into the file: the cached row and every window
 * (which stay open, now clean). */
static int file_sync(struct filestore *fs)
{
	int rc = file_flush(fs);

	for (int i = 0; !rc && fs->wdirty && i < fs->n; i++)
		rc = win_flush(fs, i);
	return rc;
}

/* Make row src the cached one (written back first when dirty); its window
 * is written back and closed, so that the two never hold the same cell. */
static int file_cache(struct filestore *fs, int src)
{
	int rc = file_flush(fs);

	if (!rc && fs->win) {
		rc = win_flush(fs, src);
		fs->win[src].valid = 0;
	}
	fs->crow = -1;
	if (!rc)
		rc = file_pread(fs, fs->row, row_bytes(fs), file_at(fs, src, 0));
	if (!rc)
		fs->crow = src;
	return rc;
}

static void cell_enc_figs(const struct fsc_matrix_cell *c, uint64_t v[FSC_MATRIX_FIGS])
{
	v[FSC_MATRIX_BW] = cell_enc(c->bw_med);
	v[FSC_MATRIX_BW_MIN] = cell_enc(c->bw_min);
	v[FSC_MATRIX_BW_MAX] = cell_enc(c->bw_max);
	v[FSC_MATRIX_LAT] = cell_enc(c->lat_p50);
	v[FSC_MATRIX_LAT_P99] = cell_enc(c->lat_p99);
}

static int file_put(void *impl, int src, int dst, const struct fsc_matrix_cell *c)
{
	struct filestore *fs = impl;
	uint64_t v[FSC_MATRIX_FIGS];
	int rc = 0;

	cell_enc_figs(c, v);
	memset(fs->plane_ok, 0, sizeof(fs->plane_ok));
	/* a second put in a row to the same row: a row streamed in, cached */
	if (src != fs->crow && src == fs->last_src)
		rc = file_cache(fs, src);
	fs->last_src = src;
	if (rc)
		return rc;
	if (src == fs->crow) {
		memcpy(fs->row + (size_t)dst * FSC_MATRIX_FIGS, v, sizeof(v));
		fs->dirty = 1;
		return 0;
	}
	if (!fs->win) {
		fs->win = malloc((size_t)fs->n * sizeof(*fs->win));
		fs->wbuf = malloc((size_t)fs->n * FILE_WIN * FSC_MATRIX_FIGS * sizeof(uint64_t));
		if (!fs->win || !fs->wbuf) {
			free(fs->win);
			free(fs->wbuf);
			fs->win = NULL;
			fs->wbuf = NULL;
			return file_pwrite(fs, v, sizeof(v), file_at(fs, src, dst));
		}
		for (int i = 0; i < fs->n; i++)
			fs->win[i] = (struct fwin){.last = INT_MIN / 2};
	}
	if (!win_has(fs, src, dst) && dst > fs->win[src].last && dst - fs->win[src].last < FILE_WIN)
		rc = win_open(fs, src, dst);
	fs->win[src].last = dst;
	if (rc)
		return rc;
	if (win_has(fs, src, dst)) {
		memcpy(win_cells(fs, src) + (size_t)(dst - fs->win[src].col0) * FSC_MATRIX_FIGS, v,
		       sizeof(v));
		fs->wdirty += !fs->win[src].dirty;
		fs->win[src].dirty = 1;
		return 0;
	}
	return file_pwrite(fs, v, sizeof(v), file_at(fs, src, dst));
}

static double file_get(void *impl, int src, int dst, enum fsc_matrix_fig f)
{
	struct filestore *fs = impl;
	uint64_t u;

	if (src == fs->crow)
		return cell_dec(fs->row[(size_t)dst * FSC_MATRIX_FIGS + f]);
	if (win_has(fs, src, dst))
		return cell_dec(win_cells(
		        fs, src)[(size_t)(dst - fs->win[src].col0) * FSC_MATRIX_FIGS + f]);
	if (file_pread(fs, &u, sizeof(u), file_at(fs, src, dst) + (off_t)(f * sizeof(u))))
		return NAN;
	return cell_dec(u);
}

/* Where figure f's plane of direction dim starts in the planes' file. */
static off_t plane_at(const struct filestore *fs, enum fsc_matrix_fig f, int dim)
{
	return (off_t)((2 * (uint64_t)f + (uint64_t)dim) * (uint64_t)fs->n * (uint64_t)fs->n *
	               sizeof(double));
}

/* Rows of a plane built at a time: a block of at most MX_PLANE_CELLS. */
#define MX_PLANE_CELLS ((size_t)1 << 20)
static size_t plane_rows(size_t n)
{
	size_t b = MX_PLANE_CELLS / n;

	return b < 1 ? 1 : b > n ? n : b;
}

/* Give up the planes for good (an error in their file is no error of the
 * run: the lines come from the cells). */
static void planes_drop(struct filestore *fs)
{
	if (fs->pfd >= 0)
		close(fs->pfd);
	fs->pfd = -2;
	memset(fs->plane_ok, 0, sizeof(fs->plane_ok));
}

/* The planes' file, made on first use, when the file system has room for
 * two more planes and as much again to spare; 0 when there are none (the
 * lines come from the cells). */
static int planes_file(struct filestore *fs)
{
	char path[4200];
	struct statvfs sv;
	double need = 2.0 * (double)fs->n * (double)fs->n * sizeof(double);

	if (fs->pfd == -2)
		return 0;
	if (fstatvfs(fs->fd, &sv) || (double)sv.f_bavail * (double)sv.f_frsize < 2 * need)
		return 0;
	if (fs->pfd >= 0)
		return 1;
	snprintf(path, sizeof(path), "%s/fabscope-planes-XXXXXX", fs->dir);
	fs->pfd = mkstemp(path);
	if (fs->pfd < 0) {
		fs->pfd = -2;
		return 0;
	}
	unlink(path);
	return 1;
}

/* Figure f's two planes from the cells: rows read one at a time, written
 * as a block of rows, and each column's part of the block written in one
 * piece. */
static int plane_build(struct filestore *fs, enum fsc_matrix_fig f)
{
	size_t n = (size_t)fs->n, b = plane_rows(n);
	int rc = 0, prc = 0;

	if (!fs->tbuf && !(fs->tbuf = malloc(b * n * sizeof(double)))) {
		planes_drop(fs);
		return 0;
	}
	for (size_t i0 = 0; i0 < n && !rc && !prc; i0 += b) {
		size_t k = n - i0 < b ? n - i0 : b;

		for (size_t i = 0; i < k && !rc; i++) {
			rc = file_pread(fs, fs->io, row_bytes(fs), file_at(fs, (int)(i0 + i), 0));
			for (size_t j = 0; !rc && j < n; j++)
				fs->tbuf[i * n + j] = cell_dec(fs->io[j * FSC_MATRIX_FIGS + f]);
		}
		if (rc)
			break;
		prc = fd_pwrite(fs->pfd, fs->tbuf, k * n * sizeof(double),
		                plane_at(fs, f, 0) + (off_t)(i0 * n * sizeof(double)));
		for (size_t j = 0; j < n && !prc; j++) {
			/* column j, rows i0 .. i0 + k - 1 (io, n * FIGS words,
			 * stages the k <= n values) */
			double *c = (double *)fs->io;

			for (size_t i = 0; i < k; i++)
				c[i] = fs->tbuf[i * n + j];
			prc = fd_pwrite(fs->pfd, c, k * sizeof(double),
			                plane_at(fs, f, 1) +
			                        (off_t)((j * n + i0) * sizeof(double)));
		}
	}
	if (prc)
		planes_drop(fs);
	else if (!rc)
		fs->plane_ok[f] = 1;
	return rc;
}

/* Rows: one read of each row's records; columns: one read per row of the
 * block's records; or, once a figure's planes are built, one read of the
 * lines from its plane. */
static int file_lines(void *impl, enum fsc_matrix_fig f, int dim, int first, int count, double *out)
{
	struct filestore *fs = impl;
	size_t n = (size_t)fs->n;
	int rc = file_sync(fs);

	if (!rc && !fs->plane_ok[f] && planes_file(fs))
		rc = plane_build(fs, f);
	if (!rc && fs->plane_ok[f]) {
		int prc = fd_pread(fs->pfd, out, (size_t)count * n * sizeof(double),
		                   plane_at(fs, f, dim) +
		                           (off_t)((size_t)first * n * sizeof(double)));

		if (!prc)
			return 0;
		planes_drop(fs); /* and read the cells */
	}
	for (int k = 0; !dim && !rc && k < count; k++) {
		rc = file_pread(fs, fs->io, row_bytes(fs), file_at(fs, first + k, 0));
		for (size_t j = 0; !rc && j < n; j++)
			out[(size_t)k * n + j] = cell_dec(fs->io[j * FSC_MATRIX_FIGS + f]);
	}
	for (size_t i = 0; dim && i < n && !rc; i++) {
		rc = file_pread(fs, fs->io, (size_t)count * FSC_MATRIX_FIGS * sizeof(uint64_t),
		                file_at(fs, (int)i, first));
		for (int k = 0; !rc && k < count; k++)
			out[(size_t)k * n + i] = cell_dec(fs->io[(size_t)k * FSC_MATRIX_FIGS + f]);
	}
	return rc;
}

static void file_destroy(void *impl)
{
	struct filestore *fs = impl;

	if (!fs)
		return;
	if (fs->fd >= 0)
		close(fs->fd); /* unlinked at creation: this removes it */
	if (fs->pfd >= 0)
		close(fs->pfd);
	free(fs->tbuf);
	free(fs->win);
	free(fs->wbuf);
	free(fs->row);
	free(fs->io);
	free(fs);
}

static const struct fsc_matrix_store_ops file_ops = {
        .put = file_put,
        .get = file_get,
        .lines = file_lines,
        .destroy = file_destroy,
};

double fsc_matrix_dense_bytes(int n)
{
	return (double)FSC_MATRIX_FIGS * (double)n * (double)n * sizeof(double);
}

int fsc_matrix_store_file(struct fsc_matrix_store *s, int n, const char *dir)
{
	struct filestore *fs = calloc(1, sizeof(*fs));
	double need = fsc_matrix_dense_bytes(n), room;
	char path[4200];
	struct statvfs sv;
	int rc = 0;

	memset(s, 0, sizeof(*s));
	if (!dir || !dir[0])
		dir = getenv("TMPDIR");
	if (!dir || !dir[0])
		dir = "/tmp";
	if (!fs) {
		fsc_error("matrix: out of memory for the disk store");
		return -ENOMEM;
	}
	fs->fd = fs->pfd = -1;
	fs->crow = fs->last_src = -1;
	snprintf(fs->dir, sizeof(fs->dir), "%s", dir);
	fs->row = malloc((size_t)n * FSC_MATRIX_FIGS * sizeof(*fs->row));
	fs->io = malloc((size_t)n * FSC_MATRIX_FIGS * sizeof(*fs->io));
	if (!fs->row || !fs->io) {
		fsc_error("matrix: out of memory for the disk store's rows of %d cells", n);
		rc = -ENOMEM;
		goto fail;
	}
	snprintf(path, sizeof(path), "%s/fabscope-matrix-XXXXXX", dir);
	fs->fd = mkstemp(path);
	if (fs->fd < 0) {
		rc = -errno;
		fsc_error("matrix: cannot create the disk store in '%s': %s (set TMPDIR to a "
		          "writable directory, or --pairs-store memory)",
		          dir, strerror(-rc));
		goto fail;
	}
	unlink(path);
	if (fstatvfs(fs->fd, &sv) == 0) {
		room = (double)sv.f_bavail * (double)sv.f_frsize;
		if (room < need) {
			fsc_error("matrix: the disk store of %d x %d cells needs %.3g GB in '%s', "
			          "which has %.3g GB free (set TMPDIR to a larger file system, or "
			          "--pairs-store memory)",
			          n, n, need / 1e9, dir, room / 1e9);
			rc = -ENOSPC;
			goto fail;
		}
	}
	if (ftruncate(fs->fd, (off_t)need)) {
		rc = -errno;
		fsc_error("matrix: cannot size the disk store in '%s' to %.3g GB: %s", dir,
		          need / 1e9, strerror(-rc));
		goto fail;
	}
	fs->n = n;
	s->ops = &file_ops;
	s->impl = fs;
	s->n = n;
	return 0;
fail:
	file_destroy(fs);
	return rc;
}

int fsc_matrix_store_lines(const struct fsc_matrix_store *s, enum fsc_matrix_fig f, int dim,
                           int first, int count, double *out)
{
	size_t n = (size_t)s->n;
	const double *d;

	if (s->ops->lines)
		return s->ops->lines(s->impl, f, dim, first, count, out);
	d = s->ops->dense ? s->ops->dense(s->impl, f) : NULL;
	for (int k = 0; k < count; k++)
		for (size_t j = 0; j < n; j++) {
			size_t a = (size_t)(first + k), at = dim ? j * n + a : a * n + j;

			out[(size_t)k * n + j] = d     ? d[at]
			                         : dim ? s->ops->get(s->impl, (int)j, (int)a, f)
			                               : s->ops->get(s->impl, (int)a, (int)j, f);
		}
	return 0;
}

void fsc_matrix_store_fini(struct fsc_matrix_store *s)
{
	if (s->ops && s->ops->destroy)
		s->ops->destroy(s->impl);
	memset(s, 0, sizeof(*s));
}

/* ---- reading the matrix on rank 0 ---- */

/* Columns read per block: a block is at most this many cells (8 MiB). */
#define MX_BLOCK_CELLS (1 << 20)

/* Lines of one figure of the store for a pass in line order: rows one at
 * a time, columns in blocks (a disk store reads a block of columns with
 * one read per row). */
struct mx_lines {
	const struct fsc_matrix_store *st;
	enum fsc_matrix_fig f;
	int dim, block, first, count;
	double *buf;
};

static int lines_open(struct mx_lines *L, const struct fsc_matrix_store *st, enum fsc_matrix_fig f,
                      int dim)
{
	int n = st->n, b = dim ? MX_BLOCK_CELLS / n : 1;

	if (b < 1)
		b = 1;
	if (b > n)
		b = n;
	*L = (struct mx_lines){st, f, dim, b, 0, 0, malloc((size_t)b * (size_t)n * sizeof(double))};
	if (!L->buf) {
		fsc_error("matrix: out of memory for %d lines of %d cells", b, n);
		return -ENOMEM;
	}
	return 0;
}

static void lines_close(struct mx_lines *L)
{
	free(L->buf);
	L->buf = NULL;
}

/* Line i (n cells), or NULL with *rc set. */
static const double *lines_get(struct mx_lines *L, int i, int *rc)
{
	size_t n = (size_t)L->st->n;

	if (i < L->first || i >= L->first + L->count) {
		int k = L->st->n - i < L->block ? L->st->n - i : L->block;

		L->count = 0;
		*rc = fsc_matrix_store_lines(L->st, L->f, L->dim, i, k, L->buf);
		if (*rc)
			return NULL;
		L->first = i;
		L->count = k;
	}
	return L->buf + (size_t)(i - L->first) * n;
}

/* The store as the attribution's source (analysis.h). */
struct mx_src {
	struct mx_lines rows, cols;
	struct fsc_attrib_src src;
};

static int mx_src_line(void *arg, int dim, int i, double *out)
{
	struct mx_src *m = arg;
	int rc = 0;
	const double *l = lines_get(dim ? &m->cols : &m->rows, i, &rc);

	if (l)
		memcpy(out, l, (size_t)m->src.n * sizeof(*out));
	return rc;
}

static int mx_src_open(struct mx_src *m, const struct fsc_matrix_store *st, enum fsc_matrix_fig f)
{
	int rc = lines_open(&m->rows, st, f, 0);

	m->cols.buf = NULL;
	if (!rc)
		rc = lines_open(&m->cols, st, f, 1);
	m->src = (struct fsc_attrib_src){st->n, mx_src_line, m};
	return rc;
}

static void mx_src_close(struct mx_src *m)
{
	lines_close(&m->rows);
	lines_close(&m->cols);
}

/* ---- nodes ---- */

int fsc_matrix_per_rank(const struct fsc_boot *b, int asked)
{
	return asked || !b->hosts || !b->rank_host || b->nhosts < 2;
}

int fsc_matrix_nodes(const struct fsc_boot *b, int per_rank)
{
	return fsc_matrix_per_rank(b, per_rank) ? b->size : b->nhosts;
}

int fsc_matrix_layout_alloc(struct fsc_matrix_layout *l, int n, const char *granularity)
{
	memset(l, 0, sizeof(*l));
	if (n < 1) {
		fsc_error("matrix: invalid node count %d: needs at least 1", n);
		return -EINVAL;
	}
	l->n = n;
	l->granularity = granularity;
	l->owner = calloc((size_t)n, sizeof(*l->owner));
	l->label = calloc((size_t)n, sizeof(*l->label));
	l->labelp = calloc((size_t)n, sizeof(*l->labelp));
	if (!l->owner || !l->label || !l->labelp) {
		fsc_matrix_layout_free(l);
		fsc_error("matrix: out of memory for %d nodes", n);
		return -ENOMEM;
	}
	for (int i = 0; i < n; i++) {
		snprintf(l->label[i], FSC_MATRIX_LABEL_MAX, "n%d", i);
		l->labelp[i] = l->label[i];
	}
	return 0;
}

void fsc_matrix_layout_free(struct fsc_matrix_layout *l)
{
	free(l->owner);
	free(l->label);
	free(l->labelp);
	memset(l, 0, sizeof(*l));
}

int fsc_matrix_layout_boot(struct fsc_matrix_layout *l, const struct fsc_boot *b, int per_rank)
{
	int pr = fsc_matrix_per_rank(b, per_rank);
	int rc = fsc_matrix_layout_alloc(l, fsc_matrix_nodes(b, per_rank), pr ? "rank" : "host");

	if (rc)
		return rc;
	if (pr) {
		for (int i = 0; i < l->n; i++) {
			l->owner[i] = i;
			if (b->hosts)
				snprintf(l->label[i], FSC_MATRIX_LABEL_MAX, "%s/r%d", b->hosts[i],
				         i);
			else
				snprintf(l->label[i], FSC_MATRIX_LABEL_MAX, "r%d", i);
		}
		return 0;
	}
	/* The host's first rank (local rank 0) carries its traffic. */
	for (int q = b->size - 1; q >= 0; q--)
		l->owner[b->rank_host[q]] = q;
	for (int i = 0; i < l->n; i++)
		snprintf(l->label[i], FSC_MATRIX_LABEL_MAX, "%s", b->hosts[l->owner[i]]);
	return 0;
}

/* ---- steps ---- */

int fsc_matrix_step_partner(const struct fsc_matrix_step *st, int node)
{
	if (st->kind == FSC_MATRIX_ROUND)
		return fsc_sched_partner(st->sched, st->index, node);
	return node == st->a ? st->b : node == st->b ? st->a : -1;
}

static void cell_clear(struct fsc_matrix_cell *c)
{
	c->bw_med = c->bw_min = c->bw_max = NAN;
	c->lat_min = c->lat_p50 = c->lat_p99 = NAN;
	c->windows = 0;
	c->wrong = 0;
}

/* One step (collective): every local node with a partner measures, every
 * rank else waits in the bootstrap (sleeping); then every rank's cells go
 * to everyone. */
static int mx_step(struct mx *s, struct fsc_matrix_step *st)
{
	int (*fn)(void *, struct fsc_pctx *, const struct fsc_matrix_step *, int, int,
	          struct fsc_matrix_cell *) = s->mp->measure;
	int rc;

	if (st->kind == FSC_MATRIX_RETEST && s->mp->retest)
		fn = s->mp->retest;
	st->seq = s->step;
	for (int k = 0; k < s->max_local; k++) {
		s->mine[k].node = k < s->nlocal ? s->local[k] : -1;
		s->mine[k].partner = -1;
		cell_clear(&s->mine[k].cell);
	}
	rc = fsc_boot_barrier(s->b);
	if (!rc && s->mp->step)
		rc = s->mp->step(s->ctx, s->c, st);
	if (s->b->rank == 0 && st->kind == FSC_MATRIX_ROUND && st->index < 2)
		s->round_ns[st->index] = fsc_clock_now(&s->clk);
	for (int k = 0; k < s->nlocal && !rc; k++) {
		int partner = fsc_matrix_step_partner(st, s->local[k]);

		if (partner < 0)
			continue;
		s->mine[k].partner = partner;
		rc = fn(s->ctx, s->c, st, s->local[k], partner, &s->mine[k].cell);
	}
	rc = fsc_boot_agree(s->b, rc ? rc : s->pending, 0);
	if (!rc)
		rc = fsc_boot_allgather(s->b, s->mine, s->all,
		                        (size_t)s->max_local * sizeof(*s->mine));
	s->step++;
	return rc;
}

static size_t mx_msgs(const struct mx *s)
{
	return (size_t)s->b->size * (size_t)s->max_local;
}

/* A half round trip below the clock's step reads 0: keep latencies
 * positive (1 ns) so that the analysis can take their log; NaN stays. */
static double lat_pos(double us)
{
	return isnan(us) ? us : fmax(us, 1e-3);
}

/* Rank 0: put a round's cells into the store. */
static int absorb(struct mx *s)
{
	int rc = 0;

	for (size_t q = 0; q < mx_msgs(s) && !rc; q++) {
		const struct mx_msg *m = &s->all[q];
		struct fsc_matrix_cell c = m->cell;

		s->wrong += c.wrong;
		if (m->node < 0 || m->partner < 0 || m->node >= s->n || m->partner >= s->n ||
		    m->node == m->partner)
			continue;
		if (c.windows && (!s->win_min || c.windows < s->win_min))
			s->win_min = c.windows;
		if (c.windows > s->win_max)
			s->win_max = c.windows;
		c.lat_p50 = lat_pos(c.lat_p50);
		c.lat_p99 = lat_pos(c.lat_p99);
		rc = s->st.ops->put(s->st.impl, m->node, m->partner, &c);
	}
	return rc;
}

/* ---- the record ---- */

static json_t *num_or_null(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

static json_t *json_matrix(const struct fsc_matrix_store *st, enum fsc_matrix_fig f)
{
	json_t *rows = json_array();
	struct mx_lines L;
	int rc = lines_open(&L, st, f, 0);

	for (int i = 0; i < st->n && !rc; i++) {
		const double *l = lines_get(&L, i, &rc);
		json_t *row = json_array();

		for (int j = 0; l && j < st->n; j++)
			json_array_append_new(row, i == j ? json_null() : num_or_null(l[j]));
		json_array_append_new(rows, row);
	}
	lines_close(&L);
	return rows;
}

/* A matrix whose dense figures pass FSC_MATRIX_MEMORY_MAX: --pairs-store
 * auto keeps it on disk. */
static int mx_big(int n)
{
	return fsc_matrix_dense_bytes(n) > FSC_MATRIX_MEMORY_MAX;
}

/* The settings' full_max (0: the default), at most FSC_MATRIX_FULL_MAX_MOST
 * so that a matrix too big for memory is never written out in full. */
static int mx_full_max(const struct mx *s)
{
	int m = s->set.full_max > 0 ? s->set.full_max : FSC_MATRIX_FULL_MAX_DEFAULT;

	return m < FSC_MATRIX_FULL_MAX_MOST ? m : FSC_MATRIX_FULL_MAX_MOST;
}

/* A matrix too large to read cell by cell (above full_max nodes): the
 * record and the CSV hold per-node medians and the worst cells instead. */
static int mx_aggregated(const struct mx *s)
{
	return s->n > mx_full_max(s) || mx_big(s->n);
}

struct spread {
	size_t cells;
	double median, min, max, mad;
};

/* The measured off-diagonal cells of a figure, row by row, as a stream
 * (stats.h): their values, or their distances to `centre`. */
struct cell_stream {
	struct mx_lines L;
	int dev;
	double centre;
};

static int cell_scan(void *arg, void (*emit)(void *, double), void *sel)
{
	struct cell_stream *c = arg;
	int n = c->L.st->n, rc = 0;

	for (int i = 0; i < n; i++) {
		const double *l = lines_get(&c->L, i, &rc);

		if (!l)
			return rc;
		for (int j = 0; j < n; j++)
			if (j != i && !isnan(l[j]))
				emit(sel, c->dev ? fabs(l[j] - c->centre) : l[j]);
	}
	return 0;
}

/* Median, min, max and MAD of the measured cells (the MAD scaled as
 * fsc_mad does), streamed: O(n) memory. */
static int spread_of(const struct fsc_matrix_store *st, enum fsc_matrix_fig f, struct spread *sp)
{
	struct cell_stream c = {.dev = 0};
	struct fsc_stream_src src = {cell_scan, &c};
	size_t cap = 4 * (size_t)st->n + 65536;
	uint64_t k = 0;
	int n = st->n, rc = lines_open(&c.L, st, f, 0);

	memset(sp, 0, sizeof(*sp));
	sp->median = sp->min = sp->max = sp->mad = NAN;
	for (int i = 0; i < n && !rc; i++) {
		const double *l = lines_get(&c.L, i, &rc);

		for (int j = 0; l && j < n; j++) {
			if (j == i || isnan(l[j]))
				continue;
			sp->min = sp->cells ? fmin(sp->min, l[j]) : l[j];
			sp->max = sp->cells ? fmax(sp->max, l[j]) : l[j];
			sp->cells++;
		}
	}
	if (!rc && sp->cells) {
		if (cap > sp->cells)
			cap = sp->cells;
		rc = fsc_stream_median(&src, cap, &sp->median, &k);
		c.dev = 1;
		c.centre = sp->median;
		if (!rc)
			rc = fsc_stream_median(&src, cap, &sp->mad, &k);
		sp->mad *= 1.4826; /* as fsc_mad scales it */
	}
	lines_close(&c.L);
	return rc;
}

static json_t *spread_json(const struct spread *sp)
{
	double m = sp->median;

	return json_pack("{s:I, s:o, s:o, s:o, s:o}", "cells", (json_int_t)sp->cells, "median",
	                 num_or_null(m), "min_ratio", num_or_null(sp->min / m), "max_ratio",
	                 num_or_null(sp->max / m), "mad_ratio", num_or_null(sp->mad / m));
}

/* Rank 0: matrices and progress into the record. */
static void record_matrices(struct mx *s, uint64_t done)
{
	json_t *rec = s->rec;

	json_object_set_new(rec, "rounds_done", json_integer((json_int_t)done));
	json_object_set_new(rec, "wrong", json_integer((json_int_t)s->wrong));
	if (mx_aggregated(s))
		return; /* per_node and worst_cells at the end instead */
	json_object_set_new(rec, "bw_GBps", json_matrix(&s->st, FSC_MATRIX_BW));
	json_object_set_new(rec, "bw_min_GBps", json_matrix(&s->st, FSC_MATRIX_BW_MIN));
	json_object_set_new(rec, "bw_max_GBps", json_matrix(&s->st, FSC_MATRIX_BW_MAX));
	json_object_set_new(rec, "lat_us", json_matrix(&s->st, FSC_MATRIX_LAT));
	json_object_set_new(rec, "lat_p99_us", json_matrix(&s->st, FSC_MATRIX_LAT_P99));
}

/* Rank 0: rewrite the results file with the matrices so far (every round
 * for small matrices; for big ones at most every MX_STREAM_NS, and never
 * sooner than MX_STREAM_DUTY times the last rewrite's own time after it;
 * always when forced).  The record's matrices are built only then:
 * rebuilding them every round cost O(n^2) a round, hours at 1,000 nodes,
 * and so did a rewrite every 2 s once one rewrite took longer than that. */
static void stream(struct mx *s, uint64_t done, int force)
{
	const char *path = s->r->res ? fsc_results_path(s->r->res) : 0;
	uint64_t now = fsc_time_real_ns(), took;

	json_object_set_new(s->rec, "rounds_done", json_integer((json_int_t)done));
	if (!path)
		return;
	if (!force && s->n > MX_STREAM_BIG_N && now - s->last_write_ns < s->write_gap_ns)
		return;
	s->last_write_ns = now;
	record_matrices(s, done);
	fsc_json_write_atomic(fsc_results_doc(s->r->res), path);
	took = fsc_time_real_ns() - now;
	s->write_gap_ns =
	        MX_STREAM_DUTY * took > MX_STREAM_NS ? MX_STREAM_DUTY * took : MX_STREAM_NS;
}

static void progress(struct mx *s, const char *what, uint64_t k, uint64_t total, uint64_t t0)
{
	double el, eta;

	if (!s->r->out || !isatty(STDERR_FILENO))
		return;
	el = (double)(fsc_time_real_ns() - t0) / 1e9;
	eta = k ? el / (double)k * (double)(total - k) : 0;
	fprintf(stderr, "\r# %s: %s %llu of %llu, ETA %.0f s   ", s->p->name, what,
	        (unsigned long long)k, (unsigned long long)total, eta);
	if (k == total)
		fprintf(stderr, "\n");
	fflush(stderr);
}

/* ---- attribution and confirmation ---- */

static int node_suspect(const struct mx_anom *v, size_t nv, int node)
{
	for (size_t i = 0; i < nv; i++)
		if (v[i].a.kind == FSC_ANOM_NODE && v[i].a.src == node)
			return 1;
	return 0;
}

static int link_suspect(const struct mx_anom *v, size_t nv, int a, int b)
{
	for (size_t i = 0; i < nv; i++)
		if (v[i].a.kind == FSC_ANOM_LINK &&
		    ((v[i].a.src == a && v[i].a.dst == b) || (v[i].a.src == b && v[i].a.dst == a)))
			return 1;
	return 0;
}

/* Index of the unordered pair {a, b} in list, or -1. */
static long pair_find(const int32_t *list, size_t np, int a, int b)
{
	int lo = a < b ? a : b, hi = a < b ? b : a;

	for (size_t i = 0; i < np; i++)
		if (list[2 * i] == lo && list[2 * i + 1] == hi)
			return (long)i;
	return -1;
}

static int pair_add(int32_t **list, size_t *np, size_t *cap, int a, int b)
{
	if (pair_find(*list, *np, a, b) >= 0)
		return 0;
	if (*np == *cap) {
		size_t nc = *cap ? 2 * *cap : 16;
		int32_t *nl = realloc(*list, 2 * nc * sizeof(**list));

		if (!nl)
			return -ENOMEM;
		*list = nl;
		*cap = nc;
	}
	(*list)[2 * *np] = a < b ? a : b;
	(*list)[2 * *np + 1] = a < b ? b : a;
	(*np)++;
	return 0;
}

/* Rank 0: the pairs to re-measure for the suspects v[0..nv), and up to
 * MX_REF_PAIRS healthy reference pairs (is_ref[i] set): pairs without a
 * suspect node or link, the first in (a, b) order.  The first reference
 * is measured before the suspects and the others after them, so that a
 * burst of load from elsewhere during a pass tends to hit both. */
static int retest_list(struct mx *s, struct mx_anom *v, size_t nv, int32_t **list, size_t *np,
                       char **is_ref)
{
	int ref[MX_REF_PAIRS][2], nref = 0, n = s->n, rc = 0;
	size_t cap = 0;

	*list = 0;
	*np = 0;
	*is_ref = 0;
	for (int a = 0; a < n && nref < MX_REF_PAIRS; a++) {
		if (node_suspect(v, nv, a))
			continue;
		for (int b = a + 1; b < n && nref < MX_REF_PAIRS; b++) {
			if (node_suspect(v, nv, b) || link_suspect(v, nv, a, b))
				continue;
			ref[nref][0] = a;
			ref[nref][1] = b;
			nref++;
		}
	}
	if (nref)
		rc = pair_add(list, np, &cap, ref[0][0], ref[0][1]);
	for (size_t i = 0; i < nv && !rc; i++) {
		struct mx_anom *x = &v[i];

		if (x->a.kind == FSC_ANOM_LINK) {
			rc = pair_add(list, np, &cap, x->a.src, x->a.dst);
			continue;
		}
		/* A node: up to MX_NODE_RETESTS of its links, to nodes
		 * not suspected themselves where there are such. */
		x->npartners = 0;
		for (int pass = 0; pass < 2 && !x->npartners; pass++)
			for (int d = 1; d < n && x->npartners < MX_NODE_RETESTS; d++) {
				int j = (x->a.src + d) % n;

				if (pass == 0 && node_suspect(v, nv, j))
					continue;
				x->partners[x->npartners++] = j;
			}
		for (int k = 0; k < x->npartners && !rc; k++)
			rc = pair_add(list, np, &cap, x->a.src, x->partners[k]);
	}
	for (int k = 1; k < nref && !rc; k++)
		rc = pair_add(list, np, &cap, ref[k][0], ref[k][1]);
	if (!rc) {
		*is_ref = calloc(*np ? *np : 1, 1);
		rc = *is_ref ? 0 : -ENOMEM;
	}
	for (int k = 0; k < nref && !rc; k++) {
		long at = pair_find(*list, *np, ref[k][0], ref[k][1]);

		if (at >= 0)
			(*is_ref)[at] = 1;
	}
	if (rc)
		fsc_error("matrix: out of memory for the re-test list");
	return rc;
}

/* Re-measured figures of one pair {lo, hi}: [0] lo->hi, [1] hi->lo.  The
 * best repeat (bandwidth max, latency min), not the median: contention
 * from elsewhere (a shared or oversubscribed host) spoils some repeats,
 * while a bad link or a slow node limits even the best one. */
struct retest {
	double bw[2], lat[2];
};

static double retest_cell(const struct retest *t, const int32_t *list, long idx, int src, int hib)
{
	int fwd = list[2 * idx] == src;
	const double *v = hib ? t[idx].bw : t[idx].lat;

	return fwd ? v[0] : v[1];
}

/* Rank 0: the re-measured value of suspect x (a link's cell, or the median
 * of a node's re-measured cells on its slow side(s), see below). */
static double retest_value(const struct mx_anom *x, const struct retest *t, const int32_t *list,
                           size_t np, double *scratch)
{
	size_t k = 0;
	long idx;

	if (x->a.kind == FSC_ANOM_LINK) {
		idx = pair_find(list, np, x->a.src, x->a.dst);
		return idx < 0 ? NAN : retest_cell(t, list, idx, x->a.src, x->hib);
	}
	for (int i = 0; i < x->npartners; i++) {
		int j = x->partners[i];

		idx = pair_find(list, np, x->a.src, j);
		if (idx < 0)
			continue;
		if (x->a.slow_row)
			scratch[k++] = retest_cell(t, list, idx, x->a.src, x->hib);
		if (x->a.slow_col)
			scratch[k++] = retest_cell(t, list, idx, j, x->hib);
	}
	for (size_t i = 0; i < k; i++)
		if (isnan(scratch[i]))
			return NAN;
	/* An even count's tie goes to the healthier middle value (the higher
	 * bandwidth, the lower latency), not to their mean: with two partners
	 * the mean of one bad link and one healthy one reads half of healthy,
	 * and a healthy re-test a little low on a busy machine took it past
	 * the threshold (ucx, 4 hosts, load 10: a link at 0.006 GB/s and a
	 * healthy one at 2.3 GB/s gave 0.24x of references at 4.8 GB/s, and
	 * the link was blamed on its host).  A node is slow when most of its
	 * links are; one bad link is still named, by node_links_derive. */
	if (!k)
		return NAN;
	return fsc_kth_smallest(scratch, k, x->hib ? k / 2 : (k - 1) / 2);
}

/* Rank 0: the reference of one pass: the median of the reference pairs'
 * cells (both directions); 0 (use the matrix centre) when there is none. */
static double retest_ref(const struct retest *t, size_t np, const char *is_ref, int hib)
{
	double v[2 * MX_REF_PAIRS];
	size_t k = 0;

	for (size_t i = 0; i < np; i++) {
		if (!is_ref[i])
			continue;
		for (int d = 0; d < 2 && k < 2 * MX_REF_PAIRS; d++) {
			double x = hib ? t[i].bw[d] : t[i].lat[d];

			if (isfinite(x) && x > 0)
				v[k++] = x;
		}
	}
	return k ? fsc_median(v, k) : 0;
}

/* Rank 0: anomaly text; latency links merged with their reverse name both
 * directions, and a host of the topology attribution is worded as it is
 * (its sends and receives net of its leaf). */
static void anom_text(struct mx *s, struct mx_anom *x)
{
	if (x->topo) {
		struct fsc_tsusp u = *x->topo;

		u.retests = x->a.retests;
		u.confirmations = x->a.confirmations;
		fsc_tsusp_format(&u, s->lay.labelp, NULL, x->text, sizeof(x->text));
		return;
	}
	if (x->both) {
		char r[32];

		fsc_ratio_format(r, sizeof(r), x->a.ratio);
		snprintf(x->text, sizeof(x->text),
		         "link %s<->%s high latency (%sx median, round trip: either direction)"
		         "; %s %d/%d",
		         s->lay.labelp[x->a.src], s->lay.labelp[x->a.dst], r,
		         x->a.confirmations ? "confirmed" : "not confirmed", x->a.confirmations,
		         x->a.retests);
		return;
	}
	fsc_anomaly_format(&x->a, s->lay.labelp, x->hib, x->text, sizeof(x->text));
}

/* Non-significant candidates re-tested when there are c candidates in
 * all: 4 + 2 ceil(sqrt(c)), at most c (c = 10: all; 20: 14; 56, every cell
 * of an 8-host matrix: 20; 100: 24).  Sub-linear, so a very noisy matrix
 * costs a bounded number of serial re-tests; at least 4, so a few
 * obviously slow cells are always all looked at. */
size_t fsc_matrix_retest_budget(size_t c)
{
	size_t b = 4 + 2 * (size_t)ceil(sqrt((double)c));

	return b < c ? b : c;
}

/* The most severe MX_MAX_SUSPECTS anomalies of each kind of significance
 * ([0] significant, [1] not) in fsc_attrib_analyze's order: all that
 * suspects_find can keep, whatever the number of candidates. */
struct top_anoms {
	struct fsc_anomaly v[2][MX_MAX_SUSPECTS];
	size_t n[2];
};

static void top_add(void *arg, const struct fsc_anomaly *a)
{
	struct top_anoms *t = arg;
	struct fsc_anomaly *v = t->v[!a->significant];
	size_t *n = &t->n[!a->significant], k;

	if (*n == MX_MAX_SUSPECTS && fsc_anomaly_cmp(a, &v[*n - 1]) >= 0)
		return;
	k = *n < MX_MAX_SUSPECTS ? (*n)++ : MX_MAX_SUSPECTS - 1;
	for (; k > 0 && fsc_anomaly_cmp(a, &v[k - 1]) < 0; k--)
		v[k] = v[k - 1];
	v[k] = *a;
}

/* Rank 0: analyse both matrices into v (capacity 2 * MX_MAX_SUSPECTS):
 * per matrix, every significant candidate, then the worst others within
 * fsc_matrix_retest_budget(), in fsc_attrib_analyze's order (nodes, then links, the
 * most severe first).  The matrices are read from the store (O(n)). */
static int suspects_find(struct mx *s, const struct fsc_attrib_params *prm, struct mx_anom *v,
                         size_t *nv)
{
	struct fsc_attrib_params cp = *prm;
	struct top_anoms *t = malloc(sizeof(*t));
	struct mx_src src;
	size_t k;
	int rc = t ? 0 : -ENOMEM;

	*nv = 0;
	cp.candidates = 1;
	for (int hib = 1; hib >= 0 && !rc; hib--) {
		size_t kept = 0, others = 0, budget;

		t->n[0] = t->n[1] = 0;
		rc = mx_src_open(&src, &s->st, hib ? FSC_MATRIX_BW : FSC_MATRIX_LAT);
		if (!rc)
			rc = fsc_attrib_scan(&src.src, hib, &cp, top_add, t, &k);
		mx_src_close(&src);
		if (rc || !k)
			continue;
		budget = fsc_matrix_retest_budget(k);
		for (int pass = 0; pass < 2; pass++)
			for (size_t i = 0; i < t->n[pass] && kept < MX_MAX_SUSPECTS; i++) {
				if (pass && others++ >= budget)
					break;
				memset(&v[*nv], 0, sizeof(v[*nv]));
				v[*nv].a = t->v[pass][i];
				v[*nv].hib = hib;
				(*nv)++;
				kept++;
			}
		s->candidates[hib] = k;
	}
	if (rc == -ENOMEM)
		fsc_error("matrix: out of memory for the attribution");
	free(t);
	return rc;
}

/* Rank 0: whether the topology attribution names node i (s->hsus). */
static int topo_host(const struct mx *s, int i)
{
	for (size_t k = 0; k < s->nhsus; k++)
		if (s->hsus[k].a == i)
			return 1;
	return 0;
}

/* Rank 0: whether a suspect leaf accounts for host suspect u, slow one way
 * only: it receives slowly while another leaf's uplink is slow upward or
 * its own leaf's is slow downward, or it sends slowly while its own leaf's
 * uplink is slow upward or another leaf's is slow downward.  With two
 * leaves the fit cannot tell those apart (every cross-leaf cell into leafB
 * comes out of leafA), and a host suspect there would take the leaf
 * re-test's partners; the leaf re-test decides instead.  A host slow both
 * ways (its NIC) is never accounted for by a leaf. */
static int topo_host_leaf_explained(const struct mx *s, const struct fsc_tsusp *u)
{
	int own = s->leaf[u->a];

	if (u->slow_in == u->slow_out)
		return 0;
	for (size_t l = 0; l < s->nlsus; l++) {
		const struct fsc_tsusp *f = &s->lsus[l];
		int mine = f->a == own;

		if (u->slow_in && ((!mine && f->slow_out) || (mine && f->slow_in)))
			return 1;
		if (u->slow_out && ((mine && f->slow_out) || (!mine && f->slow_in)))
			return 1;
	}
	return 0;
}

/* Rank 0, --topology: every host that the topology attribution names
 * (mx_leaf_attrib) and that is no bandwidth node suspect yet becomes one,
 * after the leading bandwidth node suspects, to be re-tested and confirmed
 * as they are.  The flat attribution has one centre for a matrix whose
 * cells are mostly cross-leaf at 1/oversub of a port, where a NIC at F
 * still fills F x oversub of its contended cross-leaf cells: it names a
 * host only below 0.5/oversub.  The topology's host effects are net of
 * the leaf and take the worse of its intra- and cross-leaf cells. */
static void topo_hosts_add(struct mx *s, struct mx_anom *v, size_t *nv)
{
	size_t at = 0;

	while (at < *nv && v[at].hib && v[at].a.kind == FSC_ANOM_NODE)
		at++;
	for (size_t k = 0; k < s->nhsus; k++) {
		const struct fsc_tsusp *u = &s->hsus[k];
		int dup = 0;

		for (size_t i = 0; i < *nv; i++)
			dup |= v[i].hib && v[i].a.kind == FSC_ANOM_NODE && v[i].a.src == u->a;
		if (dup || topo_host_leaf_explained(s, u))
			continue;
		memmove(&v[at + 1], &v[at], (*nv - at) * sizeof(*v));
		(*nv)++;
		memset(&v[at], 0, sizeof(v[at]));
		v[at].a = (struct fsc_anomaly){
		        .kind = FSC_ANOM_NODE,
		        .src = u->a,
		        .dst = -1,
		        .measured = u->measured,
		        .expected = u->expected,
		        .ratio = u->ratio,
		        .row_ratio = u->out_ratio,
		        .col_ratio = u->in_ratio,
		        .slow_row = u->slow_out,
		        .slow_col = u->slow_in,
		        .sigmas = u->sigmas,
		        .significant = u->significant,
		};
		v[at].hib = 1;
		v[at++].topo = u;
	}
}

/* A node suspect's re-measured links, each judged on its own as a link
 * would be: a node whose links are mostly healthy is not confirmed, but
 * one bad link among them (which the matrix blamed on the node, its row
 * or column looking slow through that link and noise) must still be
 * found.  Rank 0. */
static int node_links_init(struct mx *s, struct mx_anom *x)
{
	size_t nvals = MX_NODE_RETESTS * 2 * (size_t)s->set.confirm;

	x->link_values = malloc(nvals * sizeof(double));
	if (!x->link_values)
		return -ENOMEM;
	for (size_t k = 0; k < nvals; k++)
		x->link_values[k] = NAN;
	for (int k = 0; k < MX_NODE_RETESTS; k++)
		for (int d = 0; d < 2; d++)
			x->links[k][d] = (struct fsc_anomaly){
			        .kind = FSC_ANOM_LINK,
			        .src = d ? -1 : x->a.src,
			        .dst = d ? x->a.src : -1,
			        .expected = x->a.expected,
			        .row_ratio = NAN,
			        .col_ratio = NAN,
			        .sigmas = NAN,
			};
	return 0;
}

static void node_links_judge(struct mx *s, struct mx_anom *x, const struct retest *t,
                             const int32_t *list, size_t np, int pass, double ref,
                             const struct fsc_attrib_params *prm)
{
	for (int k = 0; k < x->npartners; k++) {
		int j = x->partners[k];
		long idx = pair_find(list, np, x->a.src, j);

		for (int d = 0; d < 2 && idx >= 0; d++) {
			struct fsc_anomaly *l = &x->links[k][d];
			double val = retest_cell(t, list, idx, d ? j : x->a.src, x->hib);

			l->src = d ? j : x->a.src;
			l->dst = d ? x->a.src : j;
			x->link_values[((size_t)k * 2 + (size_t)d) * (size_t)s->set.confirm +
			               (size_t)pass] = val;
			if (!isnan(val))
				fsc_attrib_confirm(l, val, ref, x->hib, prm);
		}
	}
}

/* Rank 0, after the re-tests: for every node suspect not confirmed, each
 * of its re-measured links still bad in a majority of passes, whose matrix
 * cell is past the link threshold as well, becomes a confirmed link
 * anomaly of its own (unless already one), with the matrix's cell as its
 * measured value. */
static int node_links_derive(struct mx *s, struct mx_anom *v, size_t *nv,
                             const struct fsc_attrib_params *prm)
{
	size_t n0 = *nv, added = 0;

	for (size_t i = 0; i < n0; i++) {
		struct mx_anom *x = &v[i];

		if (x->a.kind != FSC_ANOM_NODE || x->confirmed)
			continue;
		for (int k = 0; k < x->npartners; k++)
			for (int d = 0; d < 2; d++) {
				const struct fsc_anomaly *l = &x->links[k][d];
				struct mx_anom *y;
				int dup = 0;

				double cell, r;

				if (!l->retests || 2 * l->confirmations <= l->retests)
					continue;
				/* The matrix must have seen the link bad too: a
				 * serial best can dip below the threshold on a busy
				 * machine (a healthy 1.1x cell re-tested at 0.21x and
				 * 0.29x of its references, 5 hosts, load 16). */
				cell = s->st.ops->get(s->st.impl, l->src, l->dst,
				                      x->hib ? FSC_MATRIX_BW : FSC_MATRIX_LAT);
				r = cell / l->expected;
				if (isnan(r) ||
				    (x->hib ? r >= prm->bw_link_ratio : r <= prm->lat_link_ratio))
					continue;
				for (size_t q = 0; q < *nv; q++)
					dup |= v[q].hib == x->hib && v[q].a.kind == FSC_ANOM_LINK &&
					       v[q].a.src == l->src && v[q].a.dst == l->dst;
				if (dup || added == MX_MAX_DERIVED)
					continue;
				y = &v[(*nv)++];
				added++;
				memset(y, 0, sizeof(*y));
				y->a = *l;
				y->a.measured = cell;
				y->a.ratio = r;
				y->hib = x->hib;
				y->confirmed = 1;
				y->values = calloc((size_t)s->set.confirm, sizeof(double));
				y->refs = calloc((size_t)s->set.confirm, sizeof(double));
				if (!y->values || !y->refs) {
					fsc_error("matrix: out of memory for the attribution");
					return -ENOMEM;
				}
				memcpy(y->values,
				       x->link_values +
				               ((size_t)k * 2 + (size_t)d) * (size_t)s->set.confirm,
				       (size_t)s->set.confirm * sizeof(double));
				memcpy(y->refs, x->refs, (size_t)s->set.confirm * sizeof(double));
			}
	}
	return 0;
}

/* Collective: rank 0's verdict rc is agreed, then its list of *np pairs
 * (a src, dst int32 pair each) is broadcast; the other ranks allocate
 * theirs.  Returns the agreed error. */
static int retest_share(struct mx *s, int rc, int32_t **list, size_t *np)
{
	int64_t hdr = (int64_t)*np;

	rc = fsc_boot_agree(s->b, rc, 0);
	if (!rc)
		rc = fsc_boot_bcast(s->b, &hdr, sizeof(hdr), 0);
	if (rc)
		return rc;
	*np = (size_t)hdr;
	if (s->b->rank != 0 && *np) {
		*list = calloc(2 * *np, sizeof(**list));
		rc = *list ? 0 : -ENOMEM;
	}
	rc = fsc_boot_agree(s->b, rc, 0);
	if (!rc && *np)
		rc = fsc_boot_bcast(s->b, *list, 2 * *np * sizeof(**list), 0);
	return rc;
}

/* Collective: one serial pass over the np pairs of list, each a step of
 * its own; on rank 0, t[i] receives pair i's best repeats (bandwidth max,
 * latency min) of both directions, and the progress line counts from
 * `done` of `total` steps. */
static int retest_pass(struct mx *s, const int32_t *list, size_t np, struct retest *t,
                       uint64_t done, uint64_t total, uint64_t t0)
{
	int rc = 0;

	for (size_t i = 0; !rc && i < np; i++) {
		int a = list[2 * i], b = list[2 * i + 1];
		struct fsc_matrix_step st = {.kind = FSC_MATRIX_RETEST, .index = i, .a = a, .b = b};

		rc = mx_step(s, &st);
		if (rc || s->b->rank)
			continue;
		t[i].bw[0] = t[i].bw[1] = t[i].lat[0] = t[i].lat[1] = NAN;
		for (size_t q = 0; q < mx_msgs(s); q++) {
			const struct mx_msg *m = &s->all[q];

			s->wrong += m->cell.wrong;
			if (m->partner < 0 || m->node < 0 || (m->node != a && m->node != b))
				continue;
			t[i].bw[m->node == a ? 0 : 1] = m->cell.bw_max;
			t[i].lat[m->node == a ? 0 : 1] = lat_pos(m->cell.lat_min);
		}
		progress(s, "re-test", done + i + 1, total, t0);
	}
	return rc;
}

/* Collective: rank 0 finds suspects and the pairs to re-measure, every
 * rank takes part in the serial re-tests, rank 0 decides.  On rank 0,
 * *vout and *nvout receive the suspects with their evidence. */
static int attribute(struct mx *s, const struct fsc_attrib_params *prm, struct mx_anom **vout,
                     size_t *nvout)
{
	struct mx_anom *v = 0;
	struct retest *t = 0;
	int32_t *list = 0;
	char *is_ref = 0;
	size_t nv = 0, np = 0;
	double *scratch = 0;
	uint64_t t0 = fsc_time_real_ns(), total;
	int rc = 0;

	if (s->b->rank == 0) {
		v = calloc(2 * MX_MAX_SUSPECTS + MX_HOST_SUSPECTS + MX_MAX_DERIVED, sizeof(*v));
		rc = v ? suspects_find(s, prm, v, &nv) : -ENOMEM;
		if (!rc)
			topo_hosts_add(s, v, &nv);
		if (!rc && nv)
			rc = retest_list(s, v, nv, &list, &np, &is_ref);
		for (size_t i = 0; !rc && i < nv; i++) {
			v[i].values = calloc((size_t)s->set.confirm, sizeof(double));
			v[i].refs = calloc((size_t)s->set.confirm, sizeof(double));
			if (!v[i].values || !v[i].refs)
				rc = -ENOMEM;
			if (!rc && v[i].a.kind == FSC_ANOM_NODE)
				rc = node_links_init(s, &v[i]);
		}
		t = calloc(np ? np : 1, sizeof(*t));
		scratch = calloc(4 * MX_NODE_RETESTS, sizeof(*scratch));
		if (!rc && (!t || !scratch))
			rc = -ENOMEM;
		if (rc == -ENOMEM)
			fsc_error("matrix: out of memory for the attribution");
	}
	rc = retest_share(s, rc, &list, &np);
	total = (uint64_t)s->set.confirm * np;
	for (int pass = 0; !rc && pass < s->set.confirm && np; pass++) {
		rc = retest_pass(s, list, np, t, (uint64_t)pass * np, total, t0);
		if (rc || s->b->rank)
			continue;
		for (size_t i = 0; i < nv; i++) {
			struct mx_anom *x = &v[i];
			double val = retest_value(x, t, list, np, scratch);
			double ref = retest_ref(t, np, is_ref, x->hib);

			x->values[pass] = val;
			x->refs[pass] = ref > 0 ? ref : x->a.expected;
			if (!isnan(val))
				fsc_attrib_confirm(&x->a, val, ref, x->hib, prm);
			if (x->a.kind == FSC_ANOM_NODE)
				node_links_judge(s, x, t, list, np, pass, ref, prm);
		}
	}
	s->retest_steps = total;
	s->retest_s = (double)(fsc_time_real_ns() - t0) * 1e-9;
	if (!rc && s->b->rank == 0) {
		for (size_t i = 0; i < nv; i++)
			v[i].confirmed =
			        v[i].a.retests && 2 * v[i].a.confirmations > v[i].a.retests;
		rc = node_links_derive(s, v, &nv, prm);
		/* A ping-pong cannot tell the slow direction of a round trip:
		 * merge confirmed a->b and b->a latency links. */
		for (size_t i = 0; i < nv; i++) {
			if (v[i].hib || v[i].a.kind != FSC_ANOM_LINK || !v[i].confirmed ||
			    v[i].dropped)
				continue;
			for (size_t k = i + 1; k < nv; k++)
				if (!v[k].hib && v[k].a.kind == FSC_ANOM_LINK && v[k].confirmed &&
				    !v[k].dropped && v[k].a.src == v[i].a.dst &&
				    v[k].a.dst == v[i].a.src) {
					v[k].dropped = 1;
					v[i].both = 1;
					if (v[k].a.ratio > v[i].a.ratio)
						v[i].a.ratio = v[k].a.ratio;
				}
		}
		for (size_t i = 0; i < nv; i++)
			anom_text(s, &v[i]);
	}
	free(list);
	free(is_ref);
	free(t);
	free(scratch);
	if (rc || s->b->rank) {
		for (size_t i = 0; v && i < nv; i++) {
			free(v[i].values);
			free(v[i].refs);
			free(v[i].link_values);
		}
		free(v);
		v = 0;
		nv = 0;
	}
	*vout = v;
	*nvout = nv;
	return rc;
}

static void anoms_free(struct mx_anom *v, size_t nv)
{
	for (size_t i = 0; v && i < nv; i++) {
		free(v[i].values);
		free(v[i].refs);
		free(v[i].link_values);
	}
	free(v);
}

static json_t *anom_json(const struct mx *s, const struct mx_anom *x, int nconfirm)
{
	const struct fsc_anomaly *a = &x->a;
	json_t *o = json_object(), *hosts = json_array(), *vals = json_array(),
	       *refs = json_array();
	const char *dir;

	if (a->kind == FSC_ANOM_NODE)
		dir = a->slow_row && a->slow_col ? "both" : a->slow_row ? "send" : "receive";
	else
		dir = x->both ? "both" : "one-way";
	json_array_append_new(hosts, json_string(s->lay.labelp[a->src]));
	if (a->kind == FSC_ANOM_LINK)
		json_array_append_new(hosts, json_string(s->lay.labelp[a->dst]));
	for (int i = 0; i < nconfirm && i < a->retests; i++) {
		json_array_append_new(vals, num_or_null(x->values[i]));
		json_array_append_new(refs, num_or_null(x->refs[i]));
	}
	json_object_set_new(o, "kind", json_string(a->kind == FSC_ANOM_NODE ? "node" : "link"));
	json_object_set_new(o, "metric", json_string(x->hib ? "bandwidth" : "latency"));
	json_object_set_new(o, "unit", json_string(x->hib ? "GB/s" : "us"));
	json_object_set_new(o, "direction", json_string(dir));
	json_object_set_new(o, "src", json_integer(a->src));
	json_object_set_new(o, "dst",
	                    a->kind == FSC_ANOM_LINK ? json_integer(a->dst) : json_null());
	json_object_set_new(o, "hosts", hosts);
	json_object_set_new(o, "measured", num_or_null(a->measured));
	json_object_set_new(o, "expected", num_or_null(a->expected));
	json_object_set_new(o, "ratio", num_or_null(a->ratio));
	json_object_set_new(o, "row_ratio", num_or_null(a->row_ratio));
	json_object_set_new(o, "col_ratio", num_or_null(a->col_ratio));
	json_object_set_new(o, "ambiguous", json_boolean(a->ambiguous));
	json_object_set_new(o, "sigmas", num_or_null(a->sigmas));
	json_object_set_new(o, "significant", json_boolean(a->significant));
	json_object_set_new(o, "retests", json_integer(a->retests));
	json_object_set_new(o, "confirmations", json_integer(a->confirmations));
	json_object_set_new(o, "retest_values", vals);
	json_object_set_new(o, "retest_references", refs);
	json_object_set_new(o, "text", json_string(x->text));
	return o;
}

/* ---- CSV and terminal ---- */

struct csv_job {
	const struct mx *s;
	enum fsc_matrix_fig f;
};

static int csv_body(FILE *f, void *arg)
{
	const struct csv_job *j = arg;
	const struct mx *s = j->s;

	fprintf(f, "src\\dst");
	for (int c = 0; c < s->n; c++)
		fprintf(f, ",%s", s->lay.labelp[c]);
	fprintf(f, "\n");
	struct mx_lines L;
	int rc = lines_open(&L, &s->st, j->f, 0);

	for (int i = 0; i < s->n && !rc; i++) {
		const double *l = lines_get(&L, i, &rc);

		fprintf(f, "%s", s->lay.labelp[i]);
		for (int c = 0; l && c < s->n; c++) {
			if (i == c || !isfinite(l[c]))
				fprintf(f, ",");
			else
				fprintf(f, ",%.6g", l[c]);
		}
		fprintf(f, "\n");
	}
	lines_close(&L);
	return rc ? rc : ferror(f) ? -EIO : 0;
}

/* One CSV file, atomically (a reader never sees half of it). */
static int csv_write(const char *path, int (*body)(FILE *f, void *arg), void *arg)
{
	char failed[4200];
	int rc = fsc_file_write_atomic(path, body, arg, failed, sizeof(failed));

	if (rc)
		fsc_error("matrix: cannot write '%s': %s", failed, strerror(-rc));
	return rc;
}

/* CSV prefix: the settings' csv, else the results path without ".json". */
static int csv_prefix(const struct mx *s, char *out, size_t len)
{
	const char *p = s->set.csv;
	size_t l;

	if (p && !strcmp(p, "none"))
		return 0;
	if (!p || !p[0])
		p = s->r->res ? fsc_results_path(s->r->res) : 0;
	if (!p)
		return 0;
	l = strlen(p);
	if (!s->set.csv && l > 5 && !strcmp(p + l - 5, ".json"))
		l -= 5;
	if (l >= len)
		return 0;
	memcpy(out, p, l);
	out[l] = 0;
	return 1;
}

/* Per node, the medians of its row (sends) and column (receives) of
 * bandwidth and latency: NaN where none was measured. */
enum { NM_BW_SEND, NM_BW_RECV, NM_LAT_SEND, NM_LAT_RECV, NM_FIGS };

static int node_medians(const struct mx *s, double (*out)[NM_FIGS])
{
	struct mx_lines L[NM_FIGS];
	double *tmp = malloc((size_t)s->n * sizeof(*tmp));
	int rc = tmp ? 0 : -ENOMEM;

	for (int q = 0; q < NM_FIGS; q++)
		L[q].buf = NULL;
	for (int q = 0; q < NM_FIGS && !rc; q++)
		rc = lines_open(&L[q], &s->st, q < NM_LAT_SEND ? FSC_MATRIX_BW : FSC_MATRIX_LAT,
		                q % 2);
	for (int i = 0; i < s->n && !rc; i++)
		for (int q = 0; q < NM_FIGS && !rc; q++) {
			const double *l = lines_get(&L[q], i, &rc);
			size_t k = 0;

			for (int j = 0; l && j < s->n; j++)
				if (j != i && !isnan(l[j]))
					tmp[k++] = l[j];
			out[i][q] = k ? fsc_median(tmp, k) : NAN;
		}
	for (int q = 0; q < NM_FIGS; q++)
		lines_close(&L[q]);
	free(tmp);
	if (rc == -ENOMEM)
		fsc_error("matrix: out of memory for the per-node medians");
	return rc;
}

/* The k worst cells of a figure (lowest bandwidth, highest latency; ties
 * in row-major order) into at[] (src * n + dst) and val[], worst first;
 * returns how many, -errno on a read error. */
static long worst_cells(const struct mx *s, enum fsc_matrix_fig fig, int hib, size_t k, size_t *at,
                        double *val)
{
	struct mx_lines L;
	size_t got = 0;
	int rc = lines_open(&L, &s->st, fig, 0);

	for (int i = 0; i < s->n && !rc; i++) {
		const double *l = lines_get(&L, i, &rc);

		for (int j = 0; l && j < s->n; j++) {
			double v = l[j];
			size_t p;

			if (j == i || isnan(v))
				continue;
			if (got == k && !(hib ? v < val[k - 1] : v > val[k - 1]))
				continue;
			p = got < k ? got++ : k - 1;
			for (; p > 0 && (hib ? v < val[p - 1] : v > val[p - 1]); p--) {
				at[p] = at[p - 1];
				val[p] = val[p - 1];
			}
			at[p] = (size_t)i * (size_t)s->n + (size_t)j;
			val[p] = v;
		}
	}
	lines_close(&L);
	return rc ? rc : (long)got;
}

/* The MX_JSON_WORST worst cells of a metric, for the record and the CSV
 * of an aggregated matrix: one pass over the store each. */
struct mx_worst {
	long k;
	size_t at[MX_JSON_WORST];
	double val[MX_JSON_WORST];
};

/* w[0] bandwidth, w[1] latency; 0 or -errno. */
static int worst_both(const struct mx *s, struct mx_worst *w)
{
	for (int m = 0; m < 2; m++) {
		w[m].k = worst_cells(s, m ? FSC_MATRIX_LAT : FSC_MATRIX_BW, !m, MX_JSON_WORST,
		                     w[m].at, w[m].val);
		if (w[m].k < 0)
			return (int)w[m].k;
	}
	return 0;
}

/* A CSV number: empty when not measured. */
static void csv_num(FILE *f, double v)
{
	if (isfinite(v))
		fprintf(f, ",%.6g", v);
	else
		fprintf(f, ",");
}

/* What an aggregated matrix's CSV files are made of. */
struct csv_agg {
	const struct mx *s;
	const double (*med)[NM_FIGS];
	const struct mx_worst *w;
	double median[2]; /* of bandwidth, of latency */
};

/* Per node its medians (node_medians), with its label and leaf. */
static int csv_nodes_body(FILE *f, void *arg)
{
	const struct csv_agg *a = arg;
	const struct mx *s = a->s;

	fprintf(f, "node,label,leaf,bw_send_GBps,bw_recv_GBps,lat_send_us,lat_recv_us\n");
	for (int i = 0; i < s->n; i++) {
		fprintf(f, "%d,%s,%s", i, s->lay.labelp[i],
		        s->topo && s->leaf[i] >= 0 ? s->topo->leaves[s->leaf[i]] : "");
		for (int q = 0; q < NM_FIGS; q++)
			csv_num(f, a->med[i][q]);
		fprintf(f, "\n");
	}
	return ferror(f) ? -EIO : 0;
}

/* The worst cells, bandwidth then latency, worst first. */
static int csv_worst_body(FILE *f, void *arg)
{
	const struct csv_agg *a = arg;
	const struct mx *s = a->s;

	fprintf(f, "metric,src,dst,src_label,dst_label,value,ratio_to_median\n");
	for (int m = 0; m < 2; m++)
		for (long w = 0; w < a->w[m].k; w++) {
			int i = (int)(a->w[m].at[w] / (size_t)s->n);
			int j = (int)(a->w[m].at[w] % (size_t)s->n);

			fprintf(f, "%s,%d,%d,%s,%s", m ? "latency" : "bandwidth", i, j,
			        s->lay.labelp[i], s->lay.labelp[j]);
			csv_num(f, a->w[m].val[w]);
			csv_num(f, a->w[m].val[w] / a->median[m]);
			fprintf(f, "\n");
		}
	return ferror(f) ? -EIO : 0;
}

/* The CSV files and their paths in the record: the bandwidth and latency
 * matrices, or for an aggregated matrix (agg: its per-node medians, worst
 * cells and the medians of the matrices) the per-node and worst-cell
 * files. */
static void csv_all(struct mx *s, const struct csv_agg *agg)
{
	char pre[4096], path[4200];
	const char *fab = s->c->fab ? s->c->fab->ops->name : "fabric";
	struct csv_job bw = {s, FSC_MATRIX_BW}, lat = {s, FSC_MATRIX_LAT};
	json_t *o;

	if (!csv_prefix(s, pre, sizeof(pre)))
		return;
	o = json_object();
	if (agg) {
		snprintf(path, sizeof(path), "%s.%s.nodes.csv", pre, fab);
		if (!csv_write(path, csv_nodes_body, (void *)agg))
			json_object_set_new(o, "nodes", json_string(path));
		snprintf(path, sizeof(path), "%s.%s.worst.csv", pre, fab);
		if (!csv_write(path, csv_worst_body, (void *)agg))
			json_object_set_new(o, "worst", json_string(path));
	} else {
		snprintf(path, sizeof(path), "%s.%s.bw.csv", pre, fab);
		if (!csv_write(path, csv_body, &bw))
			json_object_set_new(o, "bw", json_string(path));
		snprintf(path, sizeof(path), "%s.%s.lat.csv", pre, fab);
		if (!csv_write(path, csv_body, &lat))
			json_object_set_new(o, "lat", json_string(path));
	}
	json_object_set_new(s->rec, "csv", o);
}

static void print_matrix(FILE *f, const struct mx *s, enum fsc_matrix_fig fig, const char *what)
{
	fprintf(f, "# %s [row = source, column = destination]\n# %-14s", what, "");
	for (int j = 0; j < s->n; j++)
		fprintf(f, " %10.10s", s->lay.labelp[j]);
	fprintf(f, "\n");
	for (int i = 0; i < s->n; i++) {
		fprintf(f, "# %-14.14s", s->lay.labelp[i]);
		for (int j = 0; j < s->n; j++) {
			double v = s->st.ops->get(s->st.impl, i, j, fig);

			if (i == j || isnan(v))
				fprintf(f, " %10s", "-");
			else
				fprintf(f, " %10.3f", v);
		}
		fprintf(f, "\n");
	}
}

/* The MX_WORST worst cells (lowest bandwidth, highest latency). */
static void print_worst(FILE *f, const struct mx *s, int hib, double median)
{
	size_t at[MX_WORST];
	double val[MX_WORST];
	long k = worst_cells(s, hib ? FSC_MATRIX_BW : FSC_MATRIX_LAT, hib, MX_WORST, at, val);

	fprintf(f, "# worst links by %s:", hib ? "bandwidth" : "latency");
	for (long w = 0; w < k; w++)
		fprintf(f, "%s %s->%s %.3g %s (%.2fx)", w ? "," : "",
		        s->lay.labelp[at[w] / (size_t)s->n], s->lay.labelp[at[w] % (size_t)s->n],
		        val[w], hib ? "GB/s" : "us", val[w] / median);
	fprintf(f, "\n");
}

static void print_summary(struct mx *s, const struct spread *bw, const struct spread *lat,
                          const struct mx_anom *v, size_t nv, const char *verdict,
                          double (*med)[NM_FIGS])
{
	FILE *f = s->r->out;
	const char *what = s->lay.granularity;

	if (!f || !med)
		return;
	fprintf(f, "#\n# fabric %s, pattern %s: %d %ss, schedule %s%s%s\n",
	        s->c->fab ? s->c->fab->ops->name : "?", s->p->name, s->n, what, s->set.schedule,
	        s->set.method[0] ? "; " : "", s->set.method);
	if (s->n <= MX_PRINT_MATRIX) {
		print_matrix(f, s, FSC_MATRIX_BW, "bandwidth GB/s");
		print_matrix(f, s, FSC_MATRIX_LAT, "latency us");
	}
	fprintf(f,
	        "# per %s: medians of its row (sends) and column (receives), x = ratio to "
	        "the matrix median\n",
	        what);
	fprintf(f, "# %-16s %18s %18s %18s %18s\n", what, "bw send GB/s", "bw recv GB/s",
	        "lat send us", "lat recv us");
	/* with a topology: grouped by leaf, hosts in no leaf last */
	for (int g = s->topo ? 0 : -1, shown = -2; g <= (s->topo ? s->topo->nleaves : -1); g++)
		for (int i = 0; i < s->n; i++) {
			double br, bc, lr, lc;

			if (s->topo && (s->leaf[i] < 0 ? s->topo->nleaves : s->leaf[i]) != g)
				continue;
			if (s->topo && g != shown) {
				fprintf(f, "# leaf %s\n",
				        g < s->topo->nleaves ? s->topo->leaves[g]
				                             : "(not in the topology)");
				shown = g;
			}
			br = med[i][NM_BW_SEND];
			bc = med[i][NM_BW_RECV];
			lr = med[i][NM_LAT_SEND];
			lc = med[i][NM_LAT_RECV];

			fprintf(f,
			        "  %-16.16s %9.3f (%5.2fx) %9.3f (%5.2fx) %9.2f (%5.2fx) %9.2f "
			        "(%5.2fx)\n",
			        s->lay.labelp[i], br, br / bw->median, bc, bc / bw->median, lr,
			        lr / lat->median, lc, lc / lat->median);
		}
	print_worst(f, s, 1, bw->median);
	print_worst(f, s, 0, lat->median);
	if (s->leaf_text)
		fputs(s->leaf_text, f);
	for (size_t i = 0, cleared = 0; i <= nv; i++) {
		if (i == nv) {
			if (cleared)
				fprintf(f,
				        "# %zu more candidate(s) past the thresholds, within the "
				        "matrix's noise, re-tested and cleared\n",
				        cleared);
		} else if (!v[i].confirmed && !v[i].dropped) {
			if (v[i].a.significant)
				fprintf(f, "# suspect, not confirmed: %s\n", v[i].text);
			else
				cleared++;
		}
	}
	/* One line per confirmed anomaly (the record joins them with " | "),
	 * confirmed leaves first. */
	size_t any = 0;

	for (size_t k = 0;
	     s->topo && k < json_array_size(json_object_get(s->rec, "leaf_anomalies"));
	     k++, any = 1)
		fprintf(f, "# %s verdict: %s\n", s->p->name,
		        json_string_value(
		                json_array_get(json_object_get(s->rec, "leaf_anomalies"), k)));
	for (size_t i = 0; i <= nv; i++) {
		if (i < nv && (!v[i].confirmed || v[i].dropped))
			continue;
		if (i == nv && any)
			break;
		fprintf(f, "# %s verdict: %s\n", s->p->name, i < nv ? v[i].text : verdict);
		any = 1;
	}
	fflush(f);
}

/* ---- the driver ---- */

static json_t *record_start(struct mx *s, const struct fsc_pattern_ops *p,
                            const struct fsc_sched *sched)
{
	json_t *rec = fsc_record_new(p, s->c, "running"), *labels = json_array(),
	       *ranks = json_array();

	for (int i = 0; i < s->n; i++) {
		json_array_append_new(labels, json_string(s->lay.labelp[i]));
		json_array_append_new(ranks, json_integer(s->lay.owner[i]));
	}
	json_object_set_new(rec, "granularity", json_string(s->lay.granularity));
	json_object_set_new(rec, "nodes", json_integer(s->n));
	json_object_set_new(rec, "labels", labels);
	json_object_set_new(rec, "node_ranks", ranks);
	json_object_set_new(rec, "schedule", json_string(s->set.schedule));
	json_object_set_new(rec, "store", json_string(s->store_kind));
	/* said from the start, so that a reader of a streamed record knows
	 * why it has no matrices */
	json_object_set_new(rec, "aggregated", json_boolean(mx_aggregated(s)));
	json_object_set_new(rec, "full_max", json_integer(mx_full_max(s)));
	json_object_set_new(rec, "rounds", json_integer((json_int_t)fsc_sched_rounds(sched)));
	json_object_set_new(rec, "pairs_per_round", json_integer(fsc_sched_pairs_per_round(sched)));
	if (s->topo) {
		json_t *lv = json_array();

		for (int i = 0; i < s->n; i++)
			json_array_append_new(
			        lv, s->leaf[i] < 0 ? json_null()
			                           : json_string(s->topo->leaves[s->leaf[i]]));
		json_object_set_new(rec, "topology", json_string(s->set.topology));
		json_object_set_new(rec, "leaves", lv);
	}
	if (s->mp->record)
		s->mp->record(s->ctx, rec);
	json_object_set_new(rec, "bw_formula", json_string(p->bw_formula));
	return rec;
}

/* Rank 0, for an aggregated matrix (mx_aggregated): per node its
 * medians, and the MX_JSON_WORST worst cells of bandwidth and latency. */
static void record_summaries(struct mx *s, double (*med)[NM_FIGS], const struct mx_worst *w)
{
	static const char *const keys[NM_FIGS] = {"bw_send_GBps", "bw_recv_GBps", "lat_send_us",
	                                          "lat_recv_us"};
	json_t *per = json_array(), *worst = json_object();

	for (int i = 0; i < s->n; i++) {
		json_t *o = json_object();

		for (int q = 0; q < NM_FIGS; q++)
			json_object_set_new(o, keys[q], num_or_null(med[i][q]));
		json_array_append_new(per, o);
	}
	json_object_set_new(s->rec, "per_node", per);
	for (int m = 0; m < 2; m++) {
		json_t *arr = json_array();

		for (long k = 0; k < w[m].k; k++)
			json_array_append_new(
			        arr, json_pack("{s:I, s:I, s:o}", "src",
			                       (json_int_t)(w[m].at[k] / (size_t)s->n), "dst",
			                       (json_int_t)(w[m].at[k] % (size_t)s->n), "value",
			                       num_or_null(w[m].val[k])));
		json_object_set_new(worst, m ? "latency" : "bandwidth", arr);
	}
	json_object_set_new(s->rec, "worst_cells", worst);
}

static void record_verdict(struct mx *s, const struct fsc_attrib_params *prm,
                           const struct mx_anom *v, size_t nv, size_t nconf,
                           const struct spread *bw, const struct spread *lat, char *verdict,
                           size_t vlen)
{
	json_t *an = json_array(), *un = json_array(), *thr;
	size_t used = 0, nun = 0;
	int amb = 0;

	verdict[0] = 0;
	/* confirmed leaves first (--topology) */
	for (size_t k = 0;
	     s->topo && k < json_array_size(json_object_get(s->rec, "leaf_anomalies")); k++) {
		const char *t = json_string_value(
		        json_array_get(json_object_get(s->rec, "leaf_anomalies"), k));
		int w = snprintf(verdict + used, vlen - used, "%s%s", used ? " | " : "", t);

		if (w > 0 && used + (size_t)w < vlen)
			used += (size_t)w;
	}
	for (size_t i = 0; i < nv; i++) {
		if (v[i].dropped)
			continue;
		if (!v[i].confirmed) {
			json_array_append_new(un, anom_json(s, &v[i], s->set.confirm));
			nun++;
			continue;
		}
		json_array_append_new(an, anom_json(s, &v[i], s->set.confirm));
		amb |= v[i].a.ambiguous;
		if (used < vlen) {
			int w = snprintf(verdict + used, vlen - used, "%s%s", used ? " | " : "",
			                 v[i].text);
			if (w > 0)
				used += (size_t)w;
		}
	}
	if (!nconf) {
		char b1[32], b2[32], l1[32], l2[32];

		fsc_ratio_format(b1, sizeof(b1), bw->min / bw->median);
		fsc_ratio_format(b2, sizeof(b2), bw->max / bw->median);
		fsc_ratio_format(l1, sizeof(l1), lat->min / lat->median);
		fsc_ratio_format(l2, sizeof(l2), lat->max / lat->median);
		snprintf(verdict, vlen,
		         "no anomaly (%zu cells; bandwidth median %.3g GB/s, cells %s-%sx; latency "
		         "median %.3g us, cells %s-%sx)",
		         bw->cells, bw->median, b1, b2, lat->median, l1, l2);
		if (nun) {
			size_t l = strlen(verdict);

			snprintf(verdict + l - 1, vlen - l + 1, "; %zu suspect%s not confirmed)",
			         nun, nun == 1 ? "" : "s");
		}
	}
	thr = json_pack("{s:f, s:f, s:f, s:f, s:f, s:f, s:i, s:s}", "bw_node_ratio",
	                prm->bw_node_ratio, "bw_link_ratio", prm->bw_link_ratio, "lat_node_ratio",
	                prm->lat_node_ratio, "lat_link_ratio", prm->lat_link_ratio, "min_sigmas",
	                prm->min_sigmas, "noise_floor", prm->noise_floor, "confirm", s->set.confirm,
	                "confirmed_when",
	                "a majority of the serial re-tests is still beyond the "
	                "threshold relative to healthy reference pairs");
	json_object_set_new(s->rec, "thresholds", thr);
	json_object_set_new(s->rec, "bw_spread", spread_json(bw));
	json_object_set_new(s->rec, "lat_spread", spread_json(lat));
	json_object_set_new(s->rec, "anomalies", an);
	json_object_set_new(s->rec, "unconfirmed", un);
	json_object_set_new(s->rec, "bw_windows",
	                    json_pack("{s:I, s:I}", "min", (json_int_t)s->win_min, "max",
	                              (json_int_t)s->win_max));
	json_object_set_new(s->rec, "candidates",
	                    json_pack("{s:I, s:I}", "bandwidth", (json_int_t)s->candidates[1],
	                              "latency", (json_int_t)s->candidates[0]));
	json_object_set_new(s->rec, "retests",
	                    json_pack("{s:I, s:f}", "steps", (json_int_t)s->retest_steps,
	                              "duration_s", s->retest_s));
	json_object_set_new(s->rec, "ambiguous", json_boolean(amb));
	json_object_set_new(s->rec, "verdict", json_string(verdict));
}

/* Every rank: the layout, this rank's nodes and the step buffers; rank 0:
 * the store. */
static int mx_topo_sched(const struct mx *s)
{
	return s->set.schedule && !strcmp(s->set.schedule, "topology");
}

/* Rank 0: load --topology and map each node to its leaf by host name. */
static int mx_topology(struct mx *s)
{
	char err[512], host[FSC_MATRIX_LABEL_MAX];

	if (fsc_topo_load(&s->topo, s->set.topology, err, sizeof(err))) {
		fsc_error("%s", err);
		return -EINVAL;
	}
	s->leaf = malloc((size_t)s->n * sizeof(*s->leaf));
	if (!s->leaf)
		return -ENOMEM;
	for (int i = 0; i < s->n; i++) {
		int h;

		snprintf(host, sizeof(host), "%s", s->lay.labelp[i]);
		host[strcspn(host, "/")] = 0;
		h = fsc_topo_host(s->topo, host);
		s->leaf[i] = h < 0 ? -1 : s->topo->host_leaf[h];
		if (h < 0 && mx_topo_sched(s)) {
			fsc_error("host '%s' (node %s) is not in topology %s: the topology "
			          "schedule needs every host on a leaf (add it, or use "
			          "--pairs-schedule concurrent)",
			          host, s->lay.labelp[i], s->set.topology);
			return -EINVAL;
		}
		if (h < 0)
			fsc_warn("topology %s has no host '%s' (node %s): it is in no leaf",
			         s->set.topology, host, s->lay.labelp[i]);
	}
	return 0;
}

/* Rank 0, before attribute(): leaf and host effects of the bandwidth
 * matrix (src/topoattr.h), nodes outside the topology on a leaf of their
 * own: the record's leaf_summary, the leaf suspects (s->lsus, re-tested by
 * leaf_confirm), the host suspects (s->hsus, re-tested with the node
 * suspects, topo_hosts_add), and lines for the terminal in s->leaf_text. */
static void mx_leaf_attrib(struct mx *s, const struct fsc_attrib_params *prm)
{
	struct fsc_tattr_params tp;
	struct mx_lines L = {.buf = NULL};
	int nl = s->topo->nleaves, outside = 0, *lf = malloc((size_t)s->n * sizeof(*lf)), rc = 0;
	struct fsc_tattr *a = NULL;
	struct fsc_tsusp su[64];
	json_t *sum = json_array();
	size_t ns, len = 0, cap = 4096;
	char *t = malloc(cap);

	if (!lf || !t || !sum)
		goto out;
	t[0] = 0;
	for (int i = 0; i < s->n; i++) {
		lf[i] = s->leaf[i] < 0 ? nl : s->leaf[i];
		outside += s->leaf[i] < 0;
	}
	/* the driver's thresholds, and every leaf past them is a candidate:
	 * the serial re-tests decide, as they do for nodes and links, so a
	 * noisy matrix cannot hide a leaf whose crossing cells are 0.03x */
	fsc_tattr_params_default(&tp);
	tp.node_ratio = prm->bw_node_ratio;
	tp.link_ratio = prm->bw_link_ratio;
	tp.min_sigmas = prm->min_sigmas;
	tp.noise_floor = prm->noise_floor;
	tp.candidates = 1;
	/* the leaf of the nodes outside the topology only when there are
	 * some: an empty third leaf would hide that two leaves are two */
	if (fsc_tattr_create(&a, s->n, lf, nl + (outside > 0), &tp))
		goto out;
	if (lines_open(&L, &s->st, FSC_MATRIX_BW, 0))
		goto out;
	for (int pass = 1; pass <= 2; pass++) {
		for (int i = 0; i < s->n; i++)
			for (int j = 0; j < s->n; j++) {
				const double *l = lines_get(&L, i, &rc);
				double v = l ? l[j] : NAN;

				if (i == j || isnan(v))
					continue;
				if (pass == 1)
					fsc_tattr_add(a, i, j, v);
				else
					fsc_tattr_add2(a, i, j, v);
			}
		if (rc || (pass == 1 && fsc_tattr_fit(a)))
			goto out;
	}
	ns = fsc_tattr_decide(a, su, 64, NULL);
	for (int l = 0; l < nl; l++) {
		double in, o, i2;

		fsc_tattr_leaf(a, l, &in, &o, &i2);
		if (l < 32 && len + 160 < cap)
			len += (size_t)snprintf(t + len, cap - len,
			                        "# leaf %s: bandwidth intra-leaf %.2fx, cross-leaf "
			                        "out %.2fx, in %.2fx (ratios to the centres)\n",
			                        s->topo->leaves[l], in, o, i2);
		json_array_append_new(sum,
		                      json_pack("{s:s, s:f, s:f, s:f}", "leaf", s->topo->leaves[l],
		                                "intra", in, "cross_out", o, "cross_in", i2));
	}
	for (size_t k = 0; k < ns; k++)
		if (su[k].kind == FSC_TS_LEAF && su[k].a < nl && s->nlsus < MX_LEAF_SUSPECTS)
			s->lsus[s->nlsus++] = su[k];
		else if (su[k].kind == FSC_TS_HOST && s->nhsus < MX_HOST_SUSPECTS)
			s->hsus[s->nhsus++] = su[k];
	json_object_set(s->rec, "leaf_summary", sum);
	s->leaf_text = t;
	t = NULL;
	s->tattr = a;
	a = NULL;
out:
	lines_close(&L);
	json_decref(sum);
	fsc_tattr_free(a);
	free(lf);
	free(t);
}

/* Rank 0: the pairs that re-test the leaf suspects: per suspect up to
 * MX_LEAF_CROSSING crossing pairs (a node of the leaf and a node of another
 * leaf that is no node suspect), then MX_REF_PAIRS non-crossing reference
 * pairs (two nodes of one leaf that is no suspect where there is one): a
 * crossing pair goes through the uplinks, a non-crossing one does not. */
static int leaf_list(struct mx *s, const struct mx_anom *v, size_t nv, int32_t **list, size_t *np,
                     char **is_ref)
{
	size_t cap = 0;
	int rc = 0, nref = 0, n = s->n;

	for (size_t k = 0; k < s->nlsus && !rc; k++) {
		int L = s->lsus[k].a, got = 0;

		for (int x = 0; x < n && got < MX_LEAF_CROSSING && !rc; x++) {
			/* the leaf's own nodes may be node suspects: the leaf may
			 * be what makes them look slow */
			if (s->leaf[x] != L)
				continue;
			for (int d = 1 + got * (n / (MX_LEAF_CROSSING + 1)); d < n + got; d++) {
				int y = (x + d) % n;

				if (s->leaf[y] == L || s->leaf[y] < 0 || node_suspect(v, nv, y))
					continue;
				rc = pair_add(list, np, &cap, x, y);
				got++;
				break;
			}
		}
	}
	*is_ref = 0;
	for (int pass = 0; pass < 2 && nref < MX_REF_PAIRS && !rc; pass++)
		for (int a = 0; a < n && nref < MX_REF_PAIRS && !rc; a++) {
			int sus = 0;

			for (size_t k = 0; k < s->nlsus; k++)
				sus |= s->lsus[k].a == s->leaf[a];
			if (s->leaf[a] < 0 || (pass == 0 && sus) || node_suspect(v, nv, a))
				continue;
			for (int b = a + 1; b < n && nref < MX_REF_PAIRS; b++)
				if (s->leaf[b] == s->leaf[a] && !node_suspect(v, nv, b) &&
				    pair_find(*list, *np, a, b) < 0) {
					rc = pair_add(list, np, &cap, a, b);
					nref++;
					break;
				}
		}
	if (!rc) {
		*is_ref = calloc(*np ? *np : 1, 1);
		rc = *is_ref ? 0 : -ENOMEM;
	}
	/* the reference pairs are the last nref */
	for (int k = 0; !rc && k < nref; k++)
		(*is_ref)[*np - 1 - (size_t)k] = 1;
	if (rc)
		fsc_error("matrix: out of memory for the leaf re-test list");
	return rc;
}

/* Rank 0: a leaf suspect's re-measured value in one pass: the median of
 * its crossing pairs' best bandwidth on the slow side(s). */
static double leaf_value(const struct mx *s, const struct fsc_tsusp *u, const struct retest *t,
                         const int32_t *list, size_t np, const char *is_ref)
{
	double v[2 * MX_LEAF_CROSSING * MX_LEAF_SUSPECTS];
	size_t k = 0;

	for (size_t i = 0; i < np && k + 2 <= sizeof(v) / sizeof(v[0]); i++) {
		int a = list[2 * i], b = list[2 * i + 1], in_a = s->leaf[a] == u->a,
		    in_b = s->leaf[b] == u->a;

		if (is_ref[i] || in_a == in_b)
			continue;
		/* bw[0] is a->b: out of the leaf when a is on it */
		if (u->slow_out)
			v[k++] = in_a ? t[i].bw[0] : t[i].bw[1];
		if (u->slow_in)
			v[k++] = in_a ? t[i].bw[1] : t[i].bw[0];
	}
	for (size_t i = 0; i < k; i++)
		if (isnan(v[i]))
			return NAN;
	return k ? fsc_median(v, k) : NAN;
}

/* Collective, after attribute(): re-test the leaf suspects of the
 * bandwidth matrix serially (--topology), confirm them by majority as
 * node and link suspects are, and mark the node and link anomalies that a
 * confirmed leaf explains (a node on it, a link leaving or entering it on
 * its slow side) as explained rather than confirmed. */
static int leaf_confirm(struct mx *s, struct mx_anom *v, size_t nv,
                        const struct fsc_attrib_params *prm)
{
	struct retest *t = 0;
	int32_t *list = 0;
	char *is_ref = 0;
	size_t np = 0;
	uint64_t t0 = fsc_time_real_ns();
	int rc = 0;

	if (s->b->rank == 0) {
		if (s->nlsus)
			rc = leaf_list(s, v, nv, &list, &np, &is_ref);
		t = calloc(np ? np : 1, sizeof(*t));
		if (!rc && !t)
			rc = -ENOMEM;
	}
	rc = retest_share(s, rc, &list, &np);
	for (int pass = 0; !rc && pass < s->set.confirm && np; pass++) {
		double ref;

		rc = retest_pass(s, list, np, t, (uint64_t)pass * np, (uint64_t)s->set.confirm * np,
		                 t0);
		s->retest_steps += np;
		if (rc || s->b->rank)
			continue;
		ref = retest_ref(t, np, is_ref, 1);
		for (size_t k = 0; k < s->nlsus; k++) {
			double val = leaf_value(s, &s->lsus[k], t, list, np, is_ref);

			if (!isnan(val))
				fsc_tattr_confirm(s->tattr, &s->lsus[k], val, ref);
		}
	}
	if (rc || s->b->rank)
		goto out;
	{
		json_t *sus = json_array(), *conf = json_array();
		char line[512];
		size_t len = s->leaf_text ? strlen(s->leaf_text) : 0, cap = len + 4096;
		char *txt = realloc(s->leaf_text, cap);

		if (txt)
			s->leaf_text = txt;
		for (size_t k = 0; k < s->nlsus; k++) {
			const struct fsc_tsusp *u = &s->lsus[k];
			int ok = u->retests && 2 * u->confirmations > u->retests;

			fsc_tsusp_format(u, s->lay.labelp, (const char *const *)s->topo->leaves,
			                 line, sizeof(line));
			json_array_append_new(sus, json_string(line));
			if (ok) {
				json_array_append_new(conf, json_string(line));
				s->leaf_confirmed++;
			} else if (txt && len + strlen(line) + 64 < cap) {
				len += (size_t)snprintf(s->leaf_text + len, cap - len,
				                        "# leaf suspect, not confirmed: %s\n",
				                        line);
			}
			for (size_t i = 0; ok && i < nv; i++) {
				struct mx_anom *x = &v[i];
				/* a node that the topology attribution names
				 * is slow net of its leaf: not explained */
				int on = x->a.kind == FSC_ANOM_NODE && s->leaf[x->a.src] == u->a &&
				         !topo_host(s, x->a.src);

				if (x->a.kind == FSC_ANOM_LINK)
					on = (u->slow_out && s->leaf[x->a.src] == u->a &&
					      s->leaf[x->a.dst] != u->a) ||
					     (u->slow_in && s->leaf[x->a.dst] == u->a &&
					      s->leaf[x->a.src] != u->a);
				if (!on || !x->confirmed || !x->hib)
					continue;
				x->confirmed = 0;
				snprintf(x->text + strlen(x->text),
				         sizeof(x->text) - strlen(x->text),
				         "; explained by %s's uplink", s->topo->leaves[u->a]);
			}
		}
		json_object_set_new(s->rec, "leaf_suspects", sus);
		json_object_set_new(s->rec, "leaf_anomalies", conf);
	}
out:
	(void)prm;
	free(list);
	free(is_ref);
	free(t);
	return rc;
}

/* Rank 0: the pattern's store, else memory or disk as the settings ask
 * (auto: disk above FSC_MATRIX_MEMORY_MAX of dense figures). */
static int mx_store(struct mx *s)
{
	int disk = s->set.store == FSC_MATRIX_STORE_DISK ||
	           (s->set.store == FSC_MATRIX_STORE_AUTO && mx_big(s->n));

	if (s->mp->store) {
		s->store_kind = "pattern";
		return s->mp->store(s->ctx, s->n, &s->st);
	}
	s->store_kind = disk ? "disk" : "memory";
	return disk ? fsc_matrix_store_file(&s->st, s->n, NULL)
	            : fsc_matrix_store_dense(&s->st, s->n);
}

static int mx_open(struct mx *s)
{
	int rc = 0;

	if (s->mp->layout)
		rc = s->mp->layout(s->ctx, s->c, &s->lay);
	else
		rc = fsc_matrix_layout_boot(&s->lay, s->b, s->set.per_rank);
	if (rc)
		return rc;
	s->n = s->lay.n;
	if (s->n < 2) {
		fsc_error("pattern %s needs at least 2 nodes; this run has %d", s->p->name, s->n);
		return -EINVAL;
	}
	s->local = calloc((size_t)s->n, sizeof(*s->local));
	if (!s->local)
		return -ENOMEM;
	/* The most nodes any rank measures for sizes the per-step message. */
	for (int q = 0; q < s->b->size; q++) {
		int k = 0;

		for (int i = 0; i < s->n; i++)
			if (s->lay.owner[i] == q)
				k++;
		if (k > s->max_local)
			s->max_local = k;
	}
	for (int i = 0; i < s->n; i++) {
		if (s->lay.owner[i] < 0 || s->lay.owner[i] >= s->b->size) {
			fsc_error("matrix: node %d is owned by rank %d; valid: 0..%d", i,
			          s->lay.owner[i], s->b->size - 1);
			return -EINVAL;
		}
		if (s->lay.owner[i] == s->b->rank)
			s->local[s->nlocal++] = i;
	}
	if (s->max_local < 1)
		s->max_local = 1;
	s->mine = calloc((size_t)s->max_local, sizeof(*s->mine));
	s->all = calloc(mx_msgs(s), sizeof(*s->all));
	if (!s->mine || !s->all) {
		fsc_error("matrix: out of memory for %zu cells per step", mx_msgs(s));
		return -ENOMEM;
	}
	rc = s->mp->setup(s->ctx, s->c, &s->lay);
	if (rc || s->b->rank)
		return rc;
	rc = mx_store(s);
	if (rc)
		return rc;
	if (!s->st.ops || !s->st.ops->put || !s->st.ops->get || s->st.n != s->n) {
		fsc_error("matrix: the store of %d nodes is incomplete", s->n);
		return -EINVAL;
	}
	if (s->set.topology) {
		rc = mx_topology(s);
		if (rc)
			return rc;
	}
	return 0;
}

static void mx_close(struct mx *s)
{
	if (s->ctx && s->mp->close)
		s->mp->close(s->ctx, s->c);
	fsc_matrix_store_fini(&s->st);
	fsc_matrix_layout_free(&s->lay);
	fsc_topo_free(s->topo);
	free(s->leaf);
	free(s->leaf_text);
	fsc_tattr_free(s->tattr);
	free(s->local);
	free(s->mine);
	free(s->all);
	json_decref(s->rec);
}

/* Rank 0, at the start of round 1: print and record the run time of the
 * rounds estimated from the first (fsc_sched_estimate, as simulate
 * does). */
static void mx_estimate(struct mx *s, uint64_t rounds)
{
	double first = (double)(s->round_ns[1] - s->round_ns[0]) / 1e9, e;
	char line[256];

	e = fsc_sched_estimate(s->p->name, first, rounds, line, sizeof(line));
	json_object_set_new(s->rec, "first_round_s", json_real(first));
	json_object_set_new(s->rec, "estimate_s", json_real(e));
	if (s->r->out) {
		fprintf(s->r->out, "# %s (rounds only, before re-tests)\n", line);
		fflush(s->r->out);
	}
}

/* Rank 0, after the rounds: their measured time beside the estimate (a
 * single round is its own estimate). */
static void mx_rounds_time(struct mx *s, uint64_t rounds)
{
	double t = (double)(fsc_clock_now(&s->clk) - s->round_ns[0]) / 1e9;

	json_object_set_new(s->rec, "rounds_s", json_real(t));
	if (rounds == 1) {
		json_object_set_new(s->rec, "first_round_s", json_real(t));
		json_object_set_new(s->rec, "estimate_s", json_real(t));
	}
}

/* The topology schedule (collective, after mx_open returned rc): rank 0's
 * leaf of every node goes to every rank, which builds the same schedule.
 * Returns the agreed error. */
static int mx_sched_leaves(struct mx *s, int rc, struct fsc_sched *sched, char *err, size_t errlen)
{
	int *lv = s->n > 0 ? malloc((size_t)s->n * sizeof(*lv)) : NULL;

	if (!rc && !lv)
		rc = -ENOMEM;
	if (!rc && s->b->rank == 0)
		memcpy(lv, s->leaf, (size_t)s->n * sizeof(*lv));
	rc = fsc_boot_agree(s->b, rc, 0);
	if (!rc)
		rc = fsc_boot_bcast(s->b, lv, (size_t)s->n * sizeof(*lv), 0);
	if (!rc)
		rc = fsc_sched_init_leaves(sched, lv, s->n, err, errlen);
	free(lv);
	return rc;
}

/* An error record for a run that could not start. */
static void mx_refuse(struct mx *s, const char *err)
{
	json_t *rec;

	if (s->b->rank)
		return;
	fsc_error("%s", err);
	if (!s->r->res && !s->r->out)
		return;
	rec = fsc_record_new(s->p, s->c, "error");
	json_object_set_new(rec, "reason", json_string(err));
	fsc_runner_emit(s->r, rec);
}

int fsc_matrix_run(struct fsc_runner *r, const struct fsc_pattern_ops *p, struct fsc_pctx *c)
{
	struct mx s = {.r = r, .p = p, .mp = p->matrix, .c = c, .b = c->boot};
	struct fsc_attrib_params prm;
	struct fsc_sched sched = {0};
	struct mx_anom *v = 0;
	size_t nv = 0, nconf = 0;
	uint64_t rounds, done = 0, t0 = fsc_time_real_ns();
	int64_t outcome[3] = {0, 0, 0};
	char err[256] = "", verdict[2048];
	int rc;

	r->points++;
	c->bytes = 0;
	if (!s.mp || !s.mp->open || !s.mp->setup || !s.mp->measure) {
		snprintf(err, sizeof(err), "pattern %s has no matrix measurement", p->name);
		rc = -EINVAL;
	} else {
		rc = p->check_args ? p->check_args(c, err, sizeof(err)) : 0;
	}
	if (!rc)
		rc = s.mp->open(r, c, &s.set, &s.ctx, err, sizeof(err));
	if (!rc) {
		if (!s.set.schedule)
			s.set.schedule = "concurrent";
		if (s.set.confirm < 1)
			s.set.confirm = 1;
		if (mx_topo_sched(&s) && !s.set.topology) {
			snprintf(err, sizeof(err),
			         "schedule 'topology' needs a topology: give --topology FILE or "
			         "fattree:hosts=N,leaf=K");
			rc = -EINVAL;
		}
	}
	if (rc) {
		if (!err[0])
			snprintf(err, sizeof(err), "%s: %s", p->name, fsc_strerror(rc));
		mx_refuse(&s, err);
		r->failed++;
		mx_close(&s);
		return rc;
	}
	rc = mx_open(&s);
	if (mx_topo_sched(&s))
		rc = mx_sched_leaves(&s, rc, &sched, err, sizeof(err));
	else if (!rc)
		rc = fsc_sched_init(&sched, s.set.schedule, s.n, r->seed, err, sizeof(err));
	if (rc && err[0] && s.b->rank == 0)
		fsc_error("invalid value '%s' for the schedule: %s", s.set.schedule, err);
	rc = fsc_boot_agree(s.b, rc, 0);
	if (rc) {
		r->failed++;
		fsc_sched_fini(&sched);
		mx_close(&s);
		return rc;
	}
	rounds = fsc_sched_rounds(&sched);
	if (s.b->rank == 0) {
		s.rec = record_start(&s, p, &sched);
		record_matrices(&s, 0);
		if (r->res)
			fsc_results_add(r->res, json_incref(s.rec));
	}

	/* 1. the matrix, round by round; the run time estimated from the
	 * first round once it is over */
	s.clk = fsc_runner_clock(r, c->fab);
	for (uint64_t k = 0; k < rounds && !rc; k++) {
		struct fsc_matrix_step st = {.kind = FSC_MATRIX_ROUND, .index = k, .sched = &sched};

		rc = mx_step(&s, &st);
		if (rc || s.b->rank)
			continue;
		if (k == 1)
			mx_estimate(&s, rounds);
		s.pending = absorb(&s);
		if (s.pending)
			continue;
		done = k + 1;
		stream(&s, done, k + 1 == rounds);
		progress(&s, "round", k + 1, rounds, t0);
	}
	/* A store that failed in the last round fails the run on every rank. */
	rc = fsc_boot_agree(s.b, rc ? rc : s.pending, 0);
	/* the rounds' time on the measurement clock: from the start of the
	 * first to every rank's end of the last (a fabric sync aligns a
	 * virtual clock) */
	if (!rc && c->fab)
		rc = fsc_boot_agree(s.b, fsc_fabric_sync(c->fab), 0);
	if (!rc && s.b->rank == 0)
		mx_rounds_time(&s, rounds);

	/* 2. attribution: suspects re-measured serially */
	fsc_attrib_params_default(&prm);
	prm.bw_node_ratio = prm.bw_link_ratio = s.set.bw_ratio;
	prm.lat_node_ratio = prm.lat_link_ratio = s.set.lat_ratio;
	if (!rc && s.set.topology && s.b->rank == 0)
		mx_leaf_attrib(&s, &prm);
	if (!rc)
		rc = attribute(&s, &prm, &v, &nv);
	if (!rc && s.set.topology)
		rc = leaf_confirm(&s, v, nv, &prm);

	/* 3. the record, CSV, terminal */
	if (s.b->rank == 0) {
		json_object_set_new(s.rec, "duration_s",
		                    json_real((double)(fsc_time_real_ns() - t0) / 1e9));
		record_matrices(&s, done);
		if (rc) {
			json_object_set_new(s.rec, "status", json_string("error"));
			json_object_set_new(s.rec, "reason", json_string(fsc_strerror(rc)));
		} else {
			struct spread bw, lat;
			struct mx_worst worst[2];
			struct csv_agg agg = {&s, NULL, worst, {NAN, NAN}};
			double(*med)[NM_FIGS] = NULL;
			int aggregated = mx_aggregated(&s), erc;

			for (size_t i = 0; i < nv; i++)
				nconf += v[i].confirmed && !v[i].dropped;
			nconf += s.leaf_confirmed;
			erc = spread_of(&s.st, FSC_MATRIX_BW, &bw);
			if (!erc)
				erc = spread_of(&s.st, FSC_MATRIX_LAT, &lat);
			if (!erc && (r->out || aggregated)) {
				med = malloc((size_t)s.n * sizeof(*med));
				erc = med ? node_medians(&s, med) : -ENOMEM;
			}
			if (!erc && aggregated)
				erc = worst_both(&s, worst);
			if (!erc && aggregated)
				record_summaries(&s, med, worst);
			if (erc) {
				json_object_set_new(s.rec, "status", json_string("error"));
				json_object_set_new(s.rec, "reason",
				                    json_string(fsc_strerror(erc)));
				outcome[2] = erc;
			} else {
				record_verdict(&s, &prm, v, nv, nconf, &bw, &lat, verdict,
				               sizeof(verdict));
				json_object_set_new(s.rec, "status",
				                    json_string(s.wrong ? "wrong"
				                                : nconf ? "anomaly"
				                                        : "ok"));
				agg.med = (const double(*)[NM_FIGS])med;
				agg.median[0] = bw.median;
				agg.median[1] = lat.median;
				csv_all(&s, aggregated ? &agg : NULL);
				print_summary(&s, &bw, &lat, v, nv, verdict, med);
			}
			free(med);
		}
		stream(&s, done, 1);
		outcome[0] = (int64_t)nconf;
		outcome[1] = (int64_t)s.wrong;
	}
	/* Tallies are the same on every rank, and so is an error in reading
	 * the store back on rank 0. */
	if (!rc)
		rc = fsc_boot_bcast(s.b, outcome, sizeof(outcome), 0);
	if (!rc && outcome[2])
		rc = (int)outcome[2];
	if (rc) {
		r->failed++;
	} else {
		r->wrong += (uint64_t)outcome[1];
		if (outcome[1] || (outcome[0] && s.set.fail_on_anomaly))
			r->failed++;
	}
	anoms_free(v, nv);
	fsc_sched_fini(&sched);
	mx_close(&s);
	return rc;
}
