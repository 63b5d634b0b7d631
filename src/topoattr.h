/* Streamed attribution of a bandwidth matrix up to the switch: host, link
 * and leaf effects, in O(N) memory for N hosts.
 *
 * The n x n matrix is never held.  Cells stream by twice (the caller
 * re-reads its stream: a file, or a simulation that regenerates it bit for
 * bit):
 *
 *   pass 1  every cell goes into fixed-bin histograms of its goodness
 *           g = log(bandwidth): per host its sends and its receives, each
 *           split into intra-leaf and cross-leaf cells; per leaf its
 *           intra-leaf cells, the cross-leaf cells leaving it and those
 *           entering it; and the two global classes.  The bins (128, 0.05
 *           in log, 0.0067x to 4.5x of a centre) are placed on the median of
 *           the first min(4n, 65536) cells, which are held until then.
 *   fit     centres mu_in and mu_x (medians of the intra-leaf and the
 *           cross-leaf cells: an oversubscribed tree makes them differ);
 *           leaf effects I_L (intra), U_L (cross-leaf out, "uplink") and
 *           D_L (cross-leaf in, "downlink") as medians minus the centre;
 *           host effects r_i (sends) and c_i (receives), the median of the
 *           host's larger class of cells minus the centre and minus its
 *           leaf's effect.  So the model is
 *             intra  g_ij = mu_in + I_L + r_i + c_j + e_ij
 *             cross  g_ij = mu_x + U_L(i) + D_L(j) + r_i + c_j + e_ij
 *           A slow leaf uplink moves U_L and D_L, not the 32 hosts under
 *           it; a slow host moves r_i and c_i and not its leaf (one host of
 *           many); a slow one-way link moves one e_ij.  Medians within a
 *           bin are interpolated.  This is one sweep of a median polish,
 *           which is enough when effects are sparse (each leaf and each host
 *           is a small share of the others' cells).
 *   pass 2  every cell's residual e_ij against the fit: their absolute
 *           values go into a histogram (noise scale s = 1.4826 MAD, floored
 *           at noise_floor), and a cell past the link threshold both
 *           against its centre and as a residual is a link candidate; the
 *           64 worst are kept, with a count of all.
 *           With 3 to 2048 leaves the cross-leaf centre and the leaf
 *           effects U_L, D_L come instead from a median polish of the
 *           leaves x leaves matrix of block means (cells winsorised at
 *           0.05x and 4.5x of the calibration centre), since one slow leaf
 *           of a few touches a large share of all cross cells.  With two
 *           leaves the two blocks are judged against the intra-leaf centre
 *           x cross_ratio, each on its sending leaf's uplink: two leaves
 *           cannot tell one's uplink from the other's downlink.
 *   decide  leaves whose U_L or D_L is past the node threshold; hosts whose
 *           r_i or c_i is; links (from pass 2) whose residual is also
 *           min_sigmas standard errors out and whose ends are not
 *           themselves suspects; with `candidates` set, significance only
 *           orders them, as in analysis.h.  Leaves with fewer than 3 hosts
 *           have no leaf effect (a leaf of one host cannot be told from
 *           that host).
 *
 * Without a topology (host_leaf NULL) every host is on one leaf: only
 * intra-leaf cells, host and link effects, as fsc_attrib_analyze finds
 * them.  Memory: 4 x 130 16-bit counts per host (1 KiB), 3 x 130 32-bit
 * counts per leaf, plus O(n) effects: 11 MB at 10,000 hosts.  Time: O(1)
 * per cell per pass, O(n) for the fit. */
#ifndef FSC_TOPOATTR_H
#define FSC_TOPOATTR_H

#include <stddef.h>
#include <stdint.h>

enum fsc_tsusp_kind {
	FSC_TS_LEAF, /* a leaf switch: its uplinks (or the whole switch) */
	FSC_TS_HOST, /* a host (a bad switch port is a host whose every link is slow) */
	FSC_TS_LINK, /* one direction of one pair */
};

struct fsc_tsusp {
	enum fsc_tsusp_kind kind;
	int a, b;           /* leaf: a = leaf; host: a = host; link: a -> b */
	double ratio;       /* the worst effect as a ratio to its centre */
	double out_ratio;   /* leaf: cross-leaf out; host: sends; link: the cell */
	double in_ratio;    /* leaf: cross-leaf in; host: receives */
	double intra_ratio; /* leaf: its intra-leaf cells; host/link: NaN */
	int slow_out, slow_in, slow_intra;
	int dead;        /* host: every measured cell moved nothing */
	double measured; /* link: the cell (GB/s); else the centre x ratio */
	double expected; /* the centre the ratio is against */
	double sigmas;
	int significant;
	int retests, confirmations;
};

struct fsc_tattr_params {
	double node_ratio;  /* host or leaf slow below this x centre (0.5) */
	double link_ratio;  /* link bad below this x its expectation (0.5) */
	double min_sigmas;  /* (5) */
	double noise_floor; /* relative floor of the noise scale (0.05) */
	int candidates;     /* 1: every candidate past the ratios (see above) */
	double cross_ratio; /* two leaves only: the healthy cross-leaf centre over the
	                       intra-leaf one (1; 1/oversubscription under load) */
};

void fsc_tattr_params_default(struct fsc_tattr_params *p);

struct fsc_tattr;

/* n hosts; host_leaf[i] = leaf of host i in [0, nleaves), or NULL for no
 * topology.  host_leaf is copied.  p: NULL for the defaults.  -EINVAL (n <
 * 2, n > 65535 or bad parameters; logged) or -ENOMEM. */
int fsc_tattr_create(struct fsc_tattr **a, int n, const int *host_leaf, int nleaves,
                     const struct fsc_tattr_params *p);

void fsc_tattr_free(struct fsc_tattr *a);

/* Pass 1: one measured cell src -> dst (bandwidth >= 0, finite; NaN is
 * skipped).  -EINVAL for a bad cell (logged once). */
int fsc_tattr_add(struct fsc_tattr *a, int src, int dst, double bw);

/* End of pass 1: fit the centres and effects.  -ENODATA without cells. */
int fsc_tattr_fit(struct fsc_tattr *a);

/* Pass 2: the same cells again, in any order. */
void fsc_tattr_add2(struct fsc_tattr *a, int src, int dst, double bw);

/* End of pass 2: decide.  Writes at most max_out suspects to out (leaves
 * first, then hosts, then links, each by severity) and returns how many were
 * written; *ncand (may be NULL) = how many candidates there were in all. */
size_t fsc_tattr_decide(struct fsc_tattr *a, struct fsc_tsusp *out, size_t max_out, size_t *ncand);

/* Summaries after the fit, as ratios to the centres (NaN: no such cells). */
double fsc_tattr_centre(const struct fsc_tattr *a, int cross);
double fsc_tattr_noise(const struct fsc_tattr *a);
void fsc_tattr_host(const struct fsc_tattr *a, int host, double *send, double *recv);
void fsc_tattr_leaf(const struct fsc_tattr *a, int leaf, double *intra, double *out, double *in);

/* A re-test of a suspect: `value` (the re-measured best bandwidth; for a
 * host or leaf, the median over its re-measured cells on the slow side)
 * against `reference` (healthy pairs measured the same way).  Increments
 * retests, and confirmations when still below the threshold.  Returns 1
 * still bad, 0 not, -EINVAL for a bad value. */
int fsc_tattr_confirm(const struct fsc_tattr *a, struct fsc_tsusp *s, double value,
                      double reference);

/* One verdict line, e.g.
 *   "leaf3 uplink slow (cross-leaf cells 0.4x, intra-leaf 1.0x)"
 *   "leaf3 uplink slow upward (cross-leaf out 0.4x, in 1.0x, intra-leaf 1.0x)"
 *   "leaf3 switch slow (cross-leaf cells 0.4x, intra-leaf 0.4x)"
 *   "h17: node slow (sends 0.3x, receives 0.3x)"
 *   "h17: dead port (no cell moved a byte)"
 *   "link h3->h9 slow (0.2x expected)"
 * plus "; confirmed 2/2" after re-tests.  hosts/leaves: names (NULL: "host
 * N", "leaf N").  Returns what snprintf returns. */
int fsc_tsusp_format(const struct fsc_tsusp *s, const char *const *hosts, const char *const *leaves,
                     char *buf, size_t len);

#endif
