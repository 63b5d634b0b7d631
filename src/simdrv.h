/* The matrix driver (src/matrix.h) on the simulated fabric (src/sim.h).
 *
 * `fabscope simulate` drives its own loop over the schedule, the streamed
 * attribution and re-tests.  This runs the real driver instead, on the same
 * model: every host of the topology is a node, all of them measured by
 * rank 0 of a one-rank job in this process, and the driver does what it
 * does on a fabric: the schedule, the rounds, the store (memory or disk),
 * the node and link attribution with its serial re-tests, the leaf
 * attribution with its leaf re-tests, the record and the summary.  Only
 * the measurement is a model, a matrix pattern whose measure callback
 * answers:
 *   - a ROUND step: fsc_sim_cell for cell node -> partner in that round,
 *     the uplinks shared by the flows fsc_sim_round counts in the step's
 *     own schedule round (node < partner: phase 0, else phase 1), noise of
 *     pass 0 and the round's index, as fsc_sim_run's rounds;
 *   - a RETEST step: the pair alone (1 flow up, 1 down), 3 repeats with
 *     fresh noise (pass 1, rounds 3 x the step's sequence number + k):
 *     bw_max the best (what the driver judges), bw_med the median, bw_min
 *     the worst.
 * Latency has no model of faults: 2 us inside a leaf, 3 us across (two
 * more switch hops), x exp(noise z) per draw; p99 1.5 x that.  A slow NIC,
 * link or uplink therefore shows in bandwidth only, as in `simulate`.
 *
 * One run at a time in a process: the pattern reads the parameters of the
 * run in progress. */
#ifndef FSC_SIMDRV_H
#define FSC_SIMDRV_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

#include "matrix.h"
#include "sim.h"

struct fsc_simdrv_params {
	/* The model: sim->topo (loaded from `topology`), its faults, seed,
	 * noise and dips; sim->schedule is the driver's schedule ("topology"
	 * by default; "concurrent" and "sample:K" run too). */
	const struct fsc_sim_params *sim;
	const char *topology; /* the spec sim->topo came from: the driver's --topology */
	enum fsc_matrix_store_kind store;
	int confirm;         /* serial re-tests per suspect (2 when 0) */
	double bw_ratio;     /* slow below this x the median bandwidth (0.5 when 0) */
	const char *results; /* the results file (streamed as a run does); NULL: in memory */
	FILE *out;           /* the terminal summary; NULL: none */
};

/* Run the driver over the model.  On 0, *rec is the driver's record (a new
 * reference: verdict, anomalies, leaf_anomalies, rounds_s, duration_s,
 * retests, ...).  -EINVAL with one line in err (a topology whose host count
 * the model does not match, a run already in progress, a results path that
 * cannot be written), -ENOMEM, or the driver's own error (logged by it). */
int fsc_simdrv_run(const struct fsc_simdrv_params *p, json_t **rec, char *err, size_t errlen);

/* Run one matrix pattern (pat->matrix) on one in-process rank with the
 * default configuration, as fsc_simdrv_run runs the model: the results
 * streamed to `results` (NULL: in memory), the terminal summary to `out`
 * (NULL: none).  On 0, *rec is the pattern's record (a new reference);
 * else err says why. */
int fsc_simdrv_run_pattern(const struct fsc_pattern_ops *pat, const char *results, FILE *out,
                           json_t **rec, char *err, size_t errlen);

/* Does the record name exactly the model's faults, and nothing else?  An
 * uplink:LEAF fault as a confirmed leaf anomaly of LEAF (leaf_anomalies),
 * host:NAME and dead:NAME as a confirmed node anomaly of NAME, and
 * link:SRC->DST as a confirmed link anomaly SRC -> DST (anomalies), each
 * once, and no other confirmed anomaly.  1 yes; 0 no, with why in `why`
 * (the first fault not named, or the first anomaly of no fault). */
int fsc_simdrv_named(const struct fsc_sim_params *sim, json_t *rec, char *why, size_t len);

#endif
