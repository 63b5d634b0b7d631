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
