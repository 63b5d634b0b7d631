/* A simulated fabric for all-pairs runs at scale: links move no bytes; each
 * cell's bandwidth comes from a model of the topology, and the real pair
 * schedule, the streamed attribution (topoattr.h) and serial re-tests run on
 * top of it, in one process.
 *
 * Model of one cell src -> dst in a round (all GB/s):
 *   rate = nic x min(h_src, h_dst)                       host NICs
 *          x f_link(src, dst)                            a slow one-way link
 *   and, when src and dst hang from different leaves,
 *   rate = min(rate, port x u_L,                         one uplink port each
 *              up_L x port x u_L / flows up from L,      fair share of L's uplinks
 *              up_M x port x u_M / flows down into M)    ... and of M's
 *   where up_L = ceil(hosts on L / oversub) uplink ports of the host port
 *   speed, and u_L is 1 or a slow-uplink factor.  The flows of a round are
 *   counted per phase: every pair {a < b} of a round first sends a -> b, all
 *   pairs at once, then b -> a, as the pairs pattern does.  Then noise:
 *   x exp(noise z), z of unit variance (sum of four uniforms), and with
 *   probability `dips` per cell a transient dip to 0.35-0.9x (outside load,
 *   a burst of congestion) that a re-test does not see again.  Every draw is
 *   a hash of (seed, pass, round, src, dst): the same seed gives the same
 *   matrix, and the attribution's second pass regenerates the stream bit for
 *   bit instead of storing it.
 *
 * Faults (factor f in (0, 1)):
 *   host:NAME:F       the host's NIC runs at F (both directions)
 *   link:SRC->DST:F   one direction of one pair runs at F
 *   uplink:LEAF:F     every uplink port of the leaf runs at F
 *   dead:NAME         the host's port moves nothing (a dead switch port)
 *
 * Re-tests are serial (one flow on the fabric), the best of 3 repeats, each
 * against 2 healthy reference pairs measured in the same pass, as the pairs
 * pattern confirms suspects. */
#ifndef FSC_SIM_H
#define FSC_SIM_H

#include <stddef.h>
#include <stdint.h>

#include "topoattr.h"
#include "topology.h"

#define FSC_SIM_MAX_FAULTS 16

enum fsc_sim_fault_kind { FSC_SIM_HOST, FSC_SIM_LINK, FSC_SIM_UPLINK, FSC_SIM_DEAD };

struct fsc_sim_fault {
	enum fsc_sim_fault_kind kind;
	int a, b; /* host, link src and dst, or leaf */
	double f;
};

struct fsc_sim_params {
	const struct fsc_topo *topo;
	const char *schedule; /* "topology" (default), "concurrent" or "sample:K" */
	uint64_t seed;
	double nic_GBps; /* host and switch port speed (25: 200 Gb/s) */
	double noise;    /* relative noise of a cell (0.05) */
	double dips;     /* probability of a transient dip per cell (2e-6) */
	double cell_MB;  /* bytes per cell for the time estimate, MB (83.9: 16 x 1 MiB x 5) */
	int confirm;     /* re-test passes (2) */
	int flat;        /* analyse without the topology (as a plain matrix) */
	struct fsc_tattr_params attr;
	struct fsc_sim_fault faults[FSC_SIM_MAX_FAULTS];
	int nfaults;
};

void fsc_sim_params_default(struct fsc_sim_params *p);

/* Parse one fault spec against the topology into p->faults.  -EINVAL with
 * one line in err naming the bad value and the valid forms. */
int fsc_sim_fault_parse(struct fsc_sim_params *p, const char *spec, char *err, size_t errlen);

/* ---- the model, one cell at a time ----
 *
 * What fsc_sim_run measures its rounds and re-tests with, for a driver of
 * its own over the same model (the matrix driver, src/matrix.h, through a
 * matrix pattern whose nodes are the topology's hosts in order). */

struct fsc_sim_model;
struct fsc_sched;

/* The model of p's topology and faults (p is kept, not copied: it must
 * outlive the model).  0 or -ENOMEM; *m is NULL on failure. */
int fsc_sim_model_create(struct fsc_sim_model **m, const struct fsc_sim_params *p);
/* Accepts NULL. */
void fsc_sim_model_free(struct fsc_sim_model *m);

/* Round `round` of schedule s, whose ranks are the topology's hosts: its
 * pairs {pa[i] < pb[i]} (room for n/2 each; returns their count) and the
 * crossing flows of each phase per leaf: up[ph * nleaves + L] flows leave
 * leaf L, dn[ph * nleaves + L] enter it, phase 0 being every pair's
 * a -> b at once and phase 1 every b -> a (2 x nleaves each).  O(n). */
size_t fsc_sim_round(const struct fsc_sim_model *m, const struct fsc_sched *s, uint64_t round,
                     int *pa, int *pb, int *up, int *dn);

/* Cell src -> dst, GB/s, with `up` flows leaving src's leaf and `dn`
 * entering dst's in its phase (from fsc_sim_round; a serial re-test is
 * 1 and 1), times the noise draw of (seed, pass, round, src, dst).
 * fsc_sim_run's rounds are pass 0, round r; its re-tests pass >= 1, each
 * repeat a round number of its own.  Pure: the same arguments give the
 * same value. */
double fsc_sim_cell(const struct fsc_sim_model *m, uint64_t pass, uint64_t round, int src, int dst,
                    int up, int dn);

#define FSC_SIM_MAX_SUSPECTS 128

struct fsc_sim_result {
	uint64_t rounds, cells;
	double first_round_s, estimate_s; /* fabric time: first round, all rounds */
	double wall_s, attr_s, fit_s;     /* wall clock; attribution (streaming, fit, decide) */
	double cpu_s, attr_cpu_s;         /* the same in CPU time of this thread */
	long peak_rss_kb;
	size_t candidates, retested, cleared;
	struct fsc_tsusp confirmed[FSC_SIM_MAX_SUSPECTS];
	size_t nconfirmed;
	struct fsc_tsusp rejected[FSC_SIM_MAX_SUSPECTS];
	size_t nrejected;
	double centre_in, centre_x, noise;
	struct fsc_tattr *attr; /* kept for summaries; freed by fsc_sim_result_fini */
};

/* Run the whole simulation.  0, -EINVAL (bad schedule: err says why),
 * -ENOMEM. */
int fsc_sim_run(const struct fsc_sim_params *p, struct fsc_sim_result *r, char *err, size_t errlen);

void fsc_sim_result_fini(struct fsc_sim_result *r);

/* `fabscope simulate ...`: the command line (argv[0] = "simulate"). */
int fsc_sim_main(int argc, char **argv);

#endif
