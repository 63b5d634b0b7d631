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
 */
#ifndef FSC_SCHEDULE_H
#define FSC_SCHEDULE_H

#include <stddef.h>
#include <stdint.h>

enum fsc_sched_kind {
	FSC_SCHED_CONCURRENT,
	FSC_SCHED_SERIAL,
	FSC_SCHED_SAMPLE,
};

/* Filled by fsc_sched_init; read-only afterwards.  Nothing to destroy. */
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
};

/* Parse `spec` ("concurrent", "serial" or "sample:K") for n ranks.
 * Returns 0, or -EINVAL with one line in `err` (not logged: the caller
 * reports it) for an unknown spec, K < 1 or not a number, or n < 2. */
int fsc_sched_init(struct fsc_sched *s, const char *spec, int n, uint64_t seed, char *err,
                   size_t errlen);

/* Number of rounds. */
static inline uint64_t fsc_sched_rounds(const struct fsc_sched *s)
{
	return s->rounds;
}

/* Pairs in every round: 1 for serial, floor(n/2) otherwise. */
int fsc_sched_pairs_per_round(const struct fsc_sched *s);

/* Partner of `rank` in `round`, or -1 when the rank is idle in that round
 * (also for an out-of-range round or rank).  O(1); symmetric:
 * partner(partner(x)) == x. */
int fsc_sched_partner(const struct fsc_sched *s, uint64_t round, int rank);

/* Pair number `idx` (0 <= idx < fsc_sched_pairs_per_round) of `round`:
 * *a < *b.  O(1).  -EINVAL for an out-of-range round or idx (not logged). */
int fsc_sched_pair(const struct fsc_sched *s, uint64_t round, int idx, int *a, int *b);

#endif
