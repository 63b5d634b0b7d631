/* Pair schedules: circle-method 1-factorisation, serial, sampled rounds.
 * The construction and its properties are described in schedule.h. */
#include "schedule.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Feistel rounds: four rounds of a pseudo-random function give a
 * pseudo-random permutation (Luby and Rackoff, 1988). */
#define FEISTEL_ROUNDS 4

/* splitmix64's finaliser (Steele, Lea and Flood, 2014): a cheap bijective
 * mixer whose output bits all depend on all input bits. */
static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Smallest h >= 1 with 4^h >= n: the Feistel network permutes 2h bits. */
static unsigned half_bits_for(uint64_t n)
{
	unsigned h = 1;

	while (h < 32 && (1ull << (2 * h)) < n)
		h++;
	return h;
}

static uint64_t feistel_f(uint64_t key, unsigned i, uint64_t v, uint64_t mask)
{
	return mix64(key ^ (v | (uint64_t)i << 40)) & mask;
}

/* One pass of the network over [0, 4^h): (L, R) -> (R, L ^ F_i(R)). */
static uint64_t feistel_fwd(uint64_t key, unsigned h, uint64_t x)
{
	uint64_t mask = (1ull << h) - 1, l = x >> h, r = x & mask, t;

	for (unsigned i = 0; i < FEISTEL_ROUNDS; i++) {
		t = l ^ feistel_f(key, i, r, mask);
		l = r;
		r = t;
	}
	return l << h | r;
}

/* Inverse pass: (L', R') -> (R' ^ F_i(L'), L'), rounds in reverse. */
static uint64_t feistel_inv(uint64_t key, unsigned h, uint64_t y)
{
	uint64_t mask = (1ull << h) - 1, l = y >> h, r = y & mask, t;

	for (unsigned i = FEISTEL_ROUNDS; i-- > 0;) {
		t = r ^ feistel_f(key, i, l, mask);
		r = l;
		l = t;
	}
	return l << h | r;
}

/* Permutation of [0, n) by cycle walking: apply the network until the
 * value falls back inside [0, n).  Terminates because x lies on a cycle of
 * the network's permutation; expected steps 4^h / n < 4. */
static uint64_t perm_fwd(uint64_t key, unsigned h, uint64_t n, uint64_t x)
{
	do
		x = feistel_fwd(key, h, x);
	while (x >= n);
	return x;
}

static uint64_t perm_inv(uint64_t key, unsigned h, uint64_t n, uint64_t y)
{
	do
		y = feistel_inv(key, h, y);
	while (y >= n);
	return y;
}

/* Circle method, round r (0 <= r < ring), position x (0 <= x <= ring, x ==
 * ring being the centre).  Returns the partner position; the caller maps the
 * centre to "idle" when it is the dummy of an odd n.  No division: 2r - x
 * lies in (-ring, 2 ring). */
static int circle_partner(int ring, int r, int x)
{
	int64_t p;

	if (x == ring)
		return r;
	if (x == r)
		return ring;
	p = 2 * (int64_t)r - x;
	if (p < 0)
		p += ring;
	else if (p >= ring)
		p -= ring;
	return (int)p;
}

/* Pair idx of circle round r as positions: {r, centre} first when the
 * centre (position ring) is a real rank (even n), then {r+k, r-k} mod
 * ring for k = 1, 2, ... */
static void circle_pair(const struct fsc_sched *s, int r, int idx, int *a, int *b)
{
	int64_t k, x, y;

	if (s->ring < s->n) {
		if (idx == 0) {
			*a = r;
			*b = s->ring;
			return;
		}
		k = idx;
	} else {
		k = idx + 1;
	}
	x = r + k;
	if (x >= s->ring)
		x -= s->ring;
	y = r - k;
	if (y < 0)
		y += s->ring;
	*a = (int)x;
	*b = (int)y;
}

/* Sample: the circle round that sample round k stands for. */
static int sample_circle_round(const struct fsc_sched *s, uint64_t k)
{
	return (int)perm_fwd(s->round_key, s->round_half_bits, (uint64_t)s->ring, k);
}

static int set_err(char *err, size_t errlen, const char *spec, const char *why)
{
	if (errlen)
		snprintf(err, errlen, "invalid schedule '%s': %s", spec ? spec : "(null)", why);
	return -EINVAL;
}

int fsc_sched_init(struct fsc_sched *s, const char *spec, int n, uint64_t seed, char *err,
                   size_t errlen)
{
	static const char expect[] =
	        "expected concurrent, serial, sample:K (K >= 1) or topology (with a topology)";
	unsigned long long k = 0;
	char *end;

	memset(s, 0, sizeof(*s));
	if (errlen)
		err[0] = 0;
	if (!spec)
		return set_err(err, errlen, spec, expect);
	if (!strcmp(spec, "topology"))
		return set_err(err, errlen, spec,
		               "needs the leaf switch of every rank (a topology)");
	if (!strcmp(spec, "concurrent")) {
		s->kind = FSC_SCHED_CONCURRENT;
	} else if (!strcmp(spec, "serial")) {
		s->kind = FSC_SCHED_SERIAL;
	} else if (!strncmp(spec, "sample:", 7)) {
		s->kind = FSC_SCHED_SAMPLE;
		/* strtoull accepts a sign and leading blanks: insist on digits. */
		if (!isdigit((unsigned char)spec[7]))
			return set_err(err, errlen, spec, expect);
		errno = 0;
		k = strtoull(spec + 7, &end, 10);
		if (*end || errno || k < 1)
			return set_err(err, errlen, spec, expect);
	} else {
		return set_err(err, errlen, spec, expect);
	}
	if (n < 2) {
		if (errlen)
			snprintf(err, errlen, "schedule '%s' needs at least 2 ranks, got %d", spec,
			         n);
		return -EINVAL;
	}
	s->n = n;
	s->seed = seed;
	/* The centre sits at position `ring`: rank n-1 for even n, the idle
	 * dummy n for odd n. */
	s->ring = (n % 2 == 0) ? n - 1 : n;
	switch (s->kind) {
	case FSC_SCHED_CONCURRENT: s->rounds = (uint64_t)s->ring; break;
	case FSC_SCHED_SERIAL: s->rounds = (uint64_t)n * (uint64_t)(n - 1) / 2; break;
	case FSC_SCHED_SAMPLE:
		s->k_sample = k;
		s->rounds = k < (uint64_t)s->ring ? k : (uint64_t)s->ring;
		s->rank_half_bits = half_bits_for((uint64_t)n);
		s->round_half_bits = half_bits_for((uint64_t)s->ring);
		s->rank_key = mix64(seed ^ 0x72616e6b73ull);  /* "ranks" */
		s->round_key = mix64(seed ^ 0x726f756e64ull); /* "round" */
		break;
	case FSC_SCHED_TOPOLOGY: break; /* fsc_sched_init_leaves */
	}
	return 0;
}

struct leaf_rank {
	int leaf, rank;
};

static int leaf_rank_cmp(const void *x, const void *y)
{
	const struct leaf_rank *a = x, *b = y;

	if (a->leaf != b->leaf)
		return a->leaf < b->leaf ? -1 : 1;
	return (a->rank > b->rank) - (a->rank < b->rank);
}

int fsc_sched_init_leaves(struct fsc_sched *s, const int *leaf, int n, char *err, size_t errlen)
{
	struct leaf_rank *o = NULL;
	struct fsc_topo *t;
	int nl = 0, rc;

	memset(s, 0, sizeof(*s));
	if (errlen)
		err[0] = 0;
	if (n < 2) {
		if (errlen)
			snprintf(err, errlen, "schedule 'topology' needs at least 2 ranks, got %d",
			         n);
		return -EINVAL;
	}
	for (int i = 0; i < n; i++)
		if (leaf[i] < 0) {
			if (errlen)
				snprintf(err, errlen,
				         "schedule 'topology': rank %d is on no leaf "
				         "(leaf %d; valid: >= 0)",
				         i, leaf[i]);
			return -EINVAL;
		}
	s->kind = FSC_SCHED_TOPOLOGY;
	s->n = n;
	t = s->topo = calloc(1, sizeof(*t));
	s->host_of = malloc((size_t)n * sizeof(*s->host_of));
	s->rank_of = malloc((size_t)n * sizeof(*s->rank_of));
	o = malloc((size_t)n * sizeof(*o));
	if (!t || !s->host_of || !s->rank_of || !o)
		goto nomem;
	/* the ranks' own topology: hosts are the ranks grouped by leaf (in
	 * rank order within a leaf), leaves in the order of their numbers */
	for (int i = 0; i < n; i++)
		o[i] = (struct leaf_rank){leaf[i], i};
	qsort(o, (size_t)n, sizeof(*o), leaf_rank_cmp);
	for (int h = 0; h < n; h++)
		nl += !h || o[h].leaf != o[h - 1].leaf;
	t->nhosts = n;
	t->nleaves = t->nswitches = nl;
	t->oversub = 1;
	t->host_leaf = malloc((size_t)n * sizeof(*t->host_leaf));
	t->leaf_first = malloc(((size_t)nl + 1) * sizeof(*t->leaf_first));
	if (!t->host_leaf || !t->leaf_first)
		goto nomem;
	nl = 0;
	for (int h = 0; h < n; h++) {
		if (h && o[h].leaf != o[h - 1].leaf)
			nl++;
		if (!h || o[h].leaf != o[h - 1].leaf)
			t->leaf_first[nl] = h;
		t->host_leaf[h] = nl;
		s->rank_of[h] = o[h].rank;
		s->host_of[o[h].rank] = h;
	}
	t->leaf_first[t->nleaves] = n;
	free(o);
	o = NULL;
	rc = fsc_topo_sched_init(&s->ts, t);
	if (rc) {
		fsc_sched_fini(s);
		if (errlen)
			snprintf(err, errlen, "schedule 'topology' over %d ranks: %s", n,
			         strerror(-rc));
		return rc;
	}
	s->rounds = s->ts.rounds;
	return 0;
nomem:
	free(o);
	fsc_sched_fini(s);
	if (errlen)
		snprintf(err, errlen, "schedule 'topology': out of memory for %d ranks", n);
	return -ENOMEM;
}

void fsc_sched_fini(struct fsc_sched *s)
{
	fsc_topo_free(s->topo);
	free(s->host_of);
	free(s->rank_of);
	s->topo = NULL;
	s->host_of = s->rank_of = NULL;
}

double fsc_sched_estimate(const char *who, double first_round_s, uint64_t rounds, char *line,
                          size_t len)
{
	double e = first_round_s * (double)rounds;

	if (len)
		snprintf(line, len, "%s: first round %.3g s x %" PRIu64 " rounds: estimate %.3g s",
		         who, first_round_s, rounds, e);
	return e;
}

int fsc_sched_pairs_per_round(const struct fsc_sched *s)
{
	return s->kind == FSC_SCHED_SERIAL ? 1 : s->n / 2;
}

__attribute__((noinline)) static int topology_partner(const struct fsc_sched *s, uint64_t round,
                                                      int rank)
{
	int h = fsc_topo_sched_partner(&s->ts, round, s->host_of[rank]);

	return h < 0 ? -1 : s->rank_of[h];
}

/* Kept out of line so that the concurrent path of fsc_sched_partner stays
 * a leaf without a register-saving prologue (~2x faster). */
__attribute__((noinline)) static int serial_partner(const struct fsc_sched *s, uint64_t round,
                                                    int rank)
{
	int a, b;

	if (fsc_sched_pair(s, round, 0, &a, &b))
		return -1;
	return rank == a ? b : rank == b ? a : -1;
}

__attribute__((noinline)) static int sample_partner(const struct fsc_sched *s, uint64_t round,
                                                    int rank)
{
	int x, p;

	x = (int)perm_fwd(s->rank_key, s->rank_half_bits, (uint64_t)s->n, (uint64_t)rank);
	p = circle_partner(s->ring, sample_circle_round(s, round), x);
	if (p == s->n)
		return -1;
	return (int)perm_inv(s->rank_key, s->rank_half_bits, (uint64_t)s->n, (uint64_t)p);
}

int fsc_sched_partner(const struct fsc_sched *s, uint64_t round, int rank)
{
	int p;

	if (rank < 0 || rank >= s->n || round >= s->rounds)
		return -1;
	switch (s->kind) {
	case FSC_SCHED_CONCURRENT:
		p = circle_partner(s->ring, (int)round, rank);
		return p == s->n ? -1 : p; /* the dummy: idle */
	case FSC_SCHED_SERIAL: return serial_partner(s, round, rank);
	case FSC_SCHED_SAMPLE: return sample_partner(s, round, rank);
	case FSC_SCHED_TOPOLOGY: return topology_partner(s, round, rank);
	}
	return -1;
}

int fsc_sched_pair(const struct fsc_sched *s, uint64_t round, int idx, int *a, int *b)
{
	uint64_t per = (uint64_t)(s->n / 2);
	int x, y;

	if (round >= s->rounds || idx < 0 || idx >= fsc_sched_pairs_per_round(s))
		return -EINVAL;
	switch (s->kind) {
	case FSC_SCHED_CONCURRENT: circle_pair(s, (int)round, idx, &x, &y); break;
	case FSC_SCHED_SERIAL:
		/* A 32-bit division is several times cheaper than a 64-bit one,
		 * and covers every round for n <= 92,682. */
		if (round <= UINT32_MAX)
			circle_pair(s, (int)((uint32_t)round / (uint32_t)per),
			            (int)((uint32_t)round % (uint32_t)per), &x, &y);
		else
			circle_pair(s, (int)(round / per), (int)(round % per), &x, &y);
		break;
	case FSC_SCHED_SAMPLE:
		circle_pair(s, sample_circle_round(s, round), idx, &x, &y);
		x = (int)perm_inv(s->rank_key, s->rank_half_bits, (uint64_t)s->n, (uint64_t)x);
		y = (int)perm_inv(s->rank_key, s->rank_half_bits, (uint64_t)s->n, (uint64_t)y);
		break;
	default: return -EINVAL;
	}
	*a = x < y ? x : y;
	*b = x < y ? y : x;
	return 0;
}
