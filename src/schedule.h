/* Pair schedules for all-pairs matrices.
 *
 * A schedule is a sequence of rounds; in each round every rank is in at most
 * one pair.  Nothing is tabulated: the partner of a rank in a round is
 * computed from (round, rank) in O(1), so a schedule for 100,000 ranks costs
 * no memory and each rank enumerates only its own rounds.
 *
 * Within a round, a pair {a, b} with a < b measures both directions: first
 * a -> b (the lower rank is the first sender), then b -> a.  Every rank that
 * evaluates the same (round) therefore agrees on who sends first without
 * exchanging anything.
 *
 * Kinds:
 *   concurrent  A 1-factorisation of the complete graph K_n by the circle
 *               method of round-robin tournaments (Kirkman 1847; Lucas,
 *               "Recreations mathematiques" 1883): for even n, rank n-1 sits
 *               at the centre and ranks 0..n-2 on a circle of c = n-1
 *               places; in round r the centre meets rank r, and every other
 *               rank x meets (2r - x) mod c, i.e. the pairs are
 *               {r+k, r-k} (mod c) for k = 1..c/2.  Because c is odd, 2 is
 *               invertible mod c and every pair {x, y} occurs in exactly one
 *               round (the r with 2r = x + y mod c); {x, n-1} occurs in
 *               round x.  For odd n a dummy rank n is added at the centre;
 *               the rank paired with the dummy is idle in that round.
 *               Rounds: n-1 for even n, n for odd n; every unordered pair
 *               exactly once.
 *   serial      One pair per round (no contention between pairs), for
 *               confirming suspects: n(n-1)/2 rounds.  Round r is pair
 *               r mod floor(n/2) of concurrent round r / floor(n/2).
 *   sample:K    K rounds for clusters too large for all pairs: ranks are
 *               relabelled by a seeded pseudo-random permutation and K
 *               distinct concurrent rounds are picked by a second one.  Each
 *               round is a (near-)perfect matching, no pair is measured
 *               twice, and K >= the concurrent round count gives every pair
 *               once, in random order (K is then clamped to that count).
 *               The permutations are 4-round Feistel networks on the next
 *               power-of-four domain with cycle walking (Black and Rogaway,
 *               "Ciphers with arbitrary finite domains", 2002): O(1)
 *               expected per lookup (fewer than 4 walks on average), no
 *               table.  Every rank must use the same seed.
 *   topology    The leaves' schedule of src/topology.h (fsc_topo_sched):
 *               first the ranks of every leaf meet each other, all leaves
 *               at once, in few rounds; then pairs of leaves meet in rounds
 *               that give every leaf's uplink the same number of flows.
 *               Built by fsc_sched_init_leaves from each rank's leaf: the
 *               ranks are grouped by leaf in a compact topology of their
 *               own (leaves without ranks left out), so a run on a few
 *               hosts of a large topology wastes no round.  O(1) per lookup
 *               after O(n) tables; fsc_sched_fini frees them.
 */
#ifndef FSC_SCHEDULE_H
#define FSC_SCHEDULE_H

#include <stddef.h>
#include <stdint.h>

#include "topology.h"

enum fsc_sched_kind {
	FSC_SCHED_CONCURRENT,
	FSC_SCHED_SERIAL,
	FSC_SCHED_SAMPLE,
	FSC_SCHED_TOPOLOGY,
};

/* Filled by fsc_sched_init or fsc_sched_init_leaves; read-only afterwards.
 * fsc_sched_fini frees what the topology kind allocates (a no-op for the
 * others). */
struct fsc_sched {
	enum fsc_sched_kind kind;
	int n;             /* ranks */
	uint64_t rounds;   /* number of rounds */
	uint64_t k_sample; /* sample: K as requested (rounds may be fewer) */
	uint64_t seed;     /* sample: permutation seed (same on every rank) */
	/* derived */
	int ring;                 /* circle places: n-1 (even n; rank n-1 is the centre) or n
	                             (odd n; the centre is the idle dummy n) */
	unsigned rank_half_bits;  /* sample: Feistel half width over ranks */
	unsigned round_half_bits; /* sample: Feistel half width over rounds */
	uint64_t rank_key, round_key;
	/* topology: the ranks' own topology, its schedule, and the maps
	 * between ranks and its hosts (all owned) */
	struct fsc_topo *topo;
	struct fsc_topo_sched ts;
	int *host_of, *rank_of;
};

/* Parse `spec` ("concurrent", "serial" or "sample:K") for n ranks.
 * Returns 0, or -EINVAL with one line in `err` (not logged: the caller
 * reports it) for an unknown spec, K < 1 or not a number, or n < 2; also
 * for "topology", which needs each rank's leaf (fsc_sched_init_leaves). */
int fsc_sched_init(struct fsc_sched *s, const char *spec, int n, uint64_t seed, char *err,
                   size_t errlen);

/* The topology schedule for n ranks, rank i on leaf leaf[i] (any numbers
 * >= 0: only which ranks share a leaf matters).  0; -EINVAL with one line
 * in err for n < 2 or a negative leaf (naming the rank); -ENOMEM. */
int fsc_sched_init_leaves(struct fsc_sched *s, const int *leaf, int n, char *err, size_t errlen);

/* Free the topology kind's tables; safe on any schedule and on a zeroed
 * one. */
void fsc_sched_fini(struct fsc_sched *s);

/* The run time of a schedule estimated from its first round: the first
 * round's time x the rounds.  Writes one line for the terminal into line
 * ("<who>: first round 0.0123 s x 6 rounds: estimate 0.0738 s"); returns
 * the estimate. */
double fsc_sched_estimate(const char *who, double first_round_s, uint64_t rounds, char *line,
                          size_t len);

/* Number of rounds. */
static inline uint64_t fsc_sched_rounds(const struct fsc_sched *s)
{
	return s->rounds;
}

/* Pairs in every round: 1 for serial, floor(n/2) otherwise (for topology
 * the most: rounds between leaves of unequal size have fewer). */
int fsc_sched_pairs_per_round(const struct fsc_sched *s);

/* Partner of `rank` in `round`, or -1 when the rank is idle in that round
 * (also for an out-of-range round or rank).  O(1); symmetric:
 * partner(partner(x)) == x. */
int fsc_sched_partner(const struct fsc_sched *s, uint64_t round, int rank);

/* Pair number `idx` (0 <= idx < fsc_sched_pairs_per_round) of `round`:
 * *a < *b.  O(1).  -EINVAL for an out-of-range round or idx (not logged),
 * and for the topology kind, whose rounds are enumerated by partner. */
int fsc_sched_pair(const struct fsc_sched *s, uint64_t round, int idx, int *a, int *b);

#endif
