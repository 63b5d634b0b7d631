/* Fault attribution for all-pairs matrices: slow nodes versus bad links.
 *
 * Input: an n x n matrix, row = source rank, column = destination rank,
 * NaN on the diagonal and for cells not measured.  Values are bandwidth
 * (higher is better) or latency (lower is better).
 *
 * Method (robust and deterministic):
 *   1. Work in log space on "goodness" g = log x (bandwidth) or -log x
 *      (latency), so that effects are ratios and "worse" is always lower.
 *   2. Median polish (Tukey, "Exploratory Data Analysis", 1977): fit
 *      g_ij = mu + r_i + c_j + e_ij by alternately sweeping row and column
 *      medians out of the cells and moving the medians of the row and column
 *      effects into mu.  mu is the matrix centre (its robust "median"), r_i
 *      the source effect of rank i (its sends), c_j the destination effect of
 *      rank j (its receives), e_ij what no node explains.  Row and column
 *      effects use the upper median, so a node moves only when a strict
 *      majority of its cells does: with 3 ranks, both of its two cells.
 *   3. Noise scale s = 1.4826 MAD of the residuals (a consistent estimate
 *      of the standard deviation for normal noise), leaving out the (up to
 *      2n-1) exact zeros the polish itself creates, and floored at noise_floor (5%) so that a
 *      perfectly clean matrix does not make tiny deviations look
 *      significant.  Below 10 residual degrees of freedom (n <= 4) the
 *      matrix cannot tell its noise from a bad cell: s is the floor and the
 *      thresholds alone decide (re-test suspects, fsc_attrib_confirm).
 *   4. A node is slow when its row effect (sending) and/or its column effect
 *      (receiving) is worse than the node threshold AND more than
 *      min_sigmas standard errors below 0 (the standard error of a median
 *      of k cells: s sqrt(pi/2) / sqrt(k)).  A link i->j is bad when its cell
 *      is worse than the link threshold relative to the centre, AND its
 *      residual e_ij is too (a slow node at either end does not explain
 *      it), AND e_ij is more than min_sigmas standard errors below 0
 *      (s sqrt(1 + (pi/2)(1/k_i + 1/k_j)): the noise of the cell and of the
 *      two fitted effects).  The first condition says the effect matters,
 *      the second who is to blame, the last that it is not noise.
 *      min_sigmas = 5: with lognormal noise of 30% (sigma 0.3), 1000 random
 *      8 x 8 matrices gave no false link at 5 and 8 at 4; a 0.1x link is
 *      then still found 3 times out of 4 at n = 8, always at 15% noise.
 *
 * Thresholds.  ClusterKit flags bandwidth below 0.93x of the best pair and
 * latency above 2.1x of the best on clean dedicated fabrics.  Ours are
 * relative to the robust centre and looser (0.5x bandwidth, 2x latency)
 * because shared and oversubscribed machines make healthy links vary a lot
 * (healthy TCP links between four MPI hosts sharing two cores read
 * 0.4-3.3 GB/s, depending on which ranks spun while they were measured);
 * the best pair would be an outlier to compare with.
 *
 * What small matrices can tell:
 *   n == 2  one cell each way: a slow link, a slow sender and a slow receiver
 *           look alike.  Only an asymmetry between the two directions is
 *           visible; it is reported as a link with `ambiguous` set, and the
 *           centre is the geometric mean of the two cells.
 *   n == 3  a node is slow only when both of its out-links (row) or both of
 *           its in-links (column) are; that is equally explained by two bad
 *           links, so node anomalies carry `ambiguous`.  A single bad link
 *           is unambiguous.
 * A node slow in both directions is found for n >= 3; one slow in one
 * direction only also for n >= 3.  Two bad links out of the same node look
 * like a slow node when they are a majority of its row (n <= 4).
 */
#ifndef FSC_ANALYSIS_H
#define FSC_ANALYSIS_H

#include <stddef.h>

enum fsc_anomaly_kind {
	FSC_ANOM_NODE,
	FSC_ANOM_LINK,
};

struct fsc_anomaly {
	enum fsc_anomaly_kind kind;
	int src, dst;           /* link: src -> dst; node: src = the node, dst = -1 */
	double measured;        /* link: the cell; node: centre x its worse slow effect */
	double expected;        /* the matrix centre (robust median), same units */
	double ratio;           /* measured / expected (latency: > 1 is worse) */
	double row_ratio;       /* node: its sends vs the centre; link: the sender's
	                           send effect.  NaN when n == 2 (not estimable). */
	double col_ratio;       /* node: its receives; link: the receiver's receive
	                           effect.  NaN when n == 2. */
	int slow_row, slow_col; /* node: which sides crossed the thresholds */
	int ambiguous;          /* too few ranks to tell node from link */
	double sigmas;          /* robust standard errors below the centre (the
	                           significance; NaN when n == 2) */
	int significant;        /* sigmas >= min_sigmas (n == 2: always) */
	int retests;            /* re-measurements recorded by fsc_attrib_confirm */
	int confirmations;      /* ... of which were still bad */
};

struct fsc_attrib_params {
	double bw_node_ratio;  /* node slow below this x centre (0.5) */
	double bw_link_ratio;  /* link bad below this x centre (0.5) */
	double lat_node_ratio; /* node slow above this x centre (2.0) */
	double lat_link_ratio; /* link bad above this x centre (2.0) */
	double min_sigmas;     /* significance in robust standard errors (5.0) */
	double noise_floor;    /* relative floor of the noise scale (0.05) */
	int max_sweeps;        /* median-polish sweeps at most (10) */
	/* 0: report what passes the thresholds AND min_sigmas (the default).
	 * 1: report every candidate past the ratio thresholds, significant or
	 * not, with `significant` saying which passed min_sigmas: for callers
	 * that re-test candidates serially and let the re-test decide, so that
	 * a noisy matrix cannot hide an obviously slow cell. */
	int candidates;
};

/* The documented defaults (in parentheses above). */
void fsc_attrib_params_default(struct fsc_attrib_params *p);

/* Analyse an n x n matrix m (row-major, m[src * n + dst]; the diagonal is
 * ignored; NaN = not measured).  Other values must be >= 0 for bandwidth
 * (0: a link that moved nothing, scored worse than anything measured) and
 * > 0 for latency (+inf: a link that never answered, likewise).
 * p: NULL for the defaults.
 * Writes the most severe min(found, max_out) anomalies to out, in a
 * deterministic order: nodes first, by severity (|log ratio|, largest first)
 * then rank; then links by severity then (src, dst).  *nout = the number
 * written; when more were found a warning is logged.  With out == NULL and
 * max_out == 0, *nout = the number found.  *ambiguous (may be NULL) = 1 when
 * any reported anomaly is ambiguous (see above).
 * Returns 0, -EINVAL (n < 2, bad values or parameters; logged) or -ENOMEM. */
int fsc_attrib_analyze(const double *m, int n, int higher_is_better,
                       const struct fsc_attrib_params *p, struct fsc_anomaly *out, size_t max_out,
                       size_t *nout, int *ambiguous);

/* A matrix read a line at a time (one that may live on disk): line(arg,
 * dim, i, out) fills out[0..n) with row i (dim 0: cells i -> j) or column
 * i (dim 1: cells j -> i), NaN where not measured; 0 or a negative errno
 * (logged by the source). */
struct fsc_attrib_src {
	int n;
	int (*line)(void *arg, int dim, int i, double *out);
	void *arg;
};

/* fsc_attrib_analyze over a source, in O(n) memory (see analysis.c): every
 * anomaly found goes to found(arg, a), unsorted; *nfound = how many.  Each
 * median-polish sweep reads every row and every column once; the centre
 * and the noise scale are exact medians over all cells, streamed in a few
 * more passes over the rows (fsc_stream_median).  The figures are bit for
 * bit those of fsc_attrib_analyze on the same matrix in memory.  Returns
 * as fsc_attrib_analyze does, or the source's error. */
int fsc_attrib_scan(const struct fsc_attrib_src *m, int higher_is_better,
                    const struct fsc_attrib_params *p,
                    void (*found)(void *arg, const struct fsc_anomaly *a), void *arg,
                    size_t *nfound);

/* fsc_attrib_analyze's order of anomalies, for qsort. */
int fsc_anomaly_cmp(const void *a, const void *b);

/* Record a re-measurement of a suspect (serial, no contention): `value` is
 * the re-measured link, or for a node the median of its re-measured links
 * on the slow side (the matrix driver takes the higher middle value of an
 * even count for bandwidth and the lower for latency: a tie between a slow
 * and a healthy link of the node leans towards healthy, so that one slow
 * link does not make its host a slow node).  It is compared with `reference` (a healthy pair
 * measured the same way; <= 0 or NaN: a->expected) against the node or link
 * threshold.  Increments a->retests, and a->confirmations when still bad.
 * Returns 1 still bad, 0 not, -EINVAL for a NaN or negative value. */
int fsc_attrib_confirm(struct fsc_anomaly *a, double value, double reference, int higher_is_better,
                       const struct fsc_attrib_params *p);

/* One verdict line naming hosts (hosts[rank]; NULL or a NULL entry: "rank
 * N"), e.g.
 *   "h2: node slow (row 0.21x median, column 0.19x)"
 *   "h2: node slow sending (row 0.21x median, column 0.98x)"
 *   "link h0->h2 slow (0.11x median)"
 *   "link h0->h2 high latency (4.2x median)"
 * followed by "; ambiguous: ..." and "; confirmed 2/2" when they apply.
 * Returns the length of the full line as snprintf does (it is truncated to
 * len - 1 characters). */
int fsc_anomaly_format(const struct fsc_anomaly *a, const char *const *hosts, int higher_is_better,
                       char *buf, size_t len);

/* A ratio with two significant digits below 10 ("0.11", "4.2", "0.019"),
 * whole numbers above, "?" for NaN: how every verdict line prints ratios. */
void fsc_ratio_format(char *b, size_t len, double r);

#endif
