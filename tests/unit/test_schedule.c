/* Pair schedules: exact properties for every n from 2 to 1000, and a
 * lookup benchmark that prints figures when FSC_BENCH=1 (never asserts on
 * time). */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "clock.h"
#include "schedule.h"

#define N_MAX 1000

/* One bit per ordered cell a*n+b (only a < b used): which pairs were met. */
struct bits {
	uint64_t *w;
	size_t nwords;
};

static void bits_reset(struct bits *b, int n)
{
	size_t need = ((size_t)n * n + 63) / 64;

	if (need > b->nwords) {
		free(b->w);
		b->w = malloc(need * sizeof(*b->w));
		assert_non_null(b->w);
		b->nwords = need;
	}
	memset(b->w, 0, need * sizeof(*b->w));
}

/* Sets the bit of pair {a, b}; returns its old value. */
static int bits_set(struct bits *b, int n, int a, int c)
{
	size_t at = (size_t)a * n + c;
	uint64_t m = 1ull << (at % 64);
	int old = !!(b->w[at / 64] & m);

	b->w[at / 64] |= m;
	return old;
}

static struct fsc_sched make(const char *spec, int n, uint64_t seed)
{
	struct fsc_sched s;
	char err[160];

	assert_int_equal(fsc_sched_init(&s, spec, n, seed, err, sizeof(err)), 0);
	return s;
}

/* The hot loops below check with plain conditions and report through
 * fail_msg(): cmocka's assert macros cost a call each, and these loops make
 * ~10^9 checks. */
#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond))                                                                       \
			fail_msg(__VA_ARGS__);                                                     \
	} while (0)

/* Checks every round of a schedule whose rounds are (near-)perfect
 * matchings: partner is an involution with no fixed point, exactly n % 2
 * ranks idle, pair() agrees with partner(), and no pair is met twice.
 * Returns the number of distinct pairs met. */
static uint64_t check_matchings(const struct fsc_sched *s, struct bits *seen, int *p)
{
	int n = s->n, idle, a, b;
	uint64_t met = 0;

	bits_reset(seen, n);
	assert_int_equal(fsc_sched_pairs_per_round(s), n / 2);
	for (uint64_t r = 0; r < fsc_sched_rounds(s); r++) {
		idle = 0;
		for (int x = 0; x < n; x++)
			p[x] = fsc_sched_partner(s, r, x);
		for (int x = 0; x < n; x++) {
			if (p[x] == -1) {
				idle++;
				continue;
			}
			CHECK(p[x] >= 0 && p[x] < n && p[x] != x,
			      "n=%d round %" PRIu64 " rank %d: partner %d", n, r, x, p[x]);
			/* symmetric: in one pair only */
			CHECK(p[p[x]] == x, "n=%d round %" PRIu64 ": %d->%d but %d->%d", n, r, x,
			      p[x], p[x], p[p[x]]);
			if (x < p[x]) {
				CHECK(!bits_set(seen, n, x, p[x]), "n=%d: pair %d-%d twice", n, x,
				      p[x]);
				met++;
			}
		}
		CHECK(idle == n % 2, "n=%d round %" PRIu64 ": %d idle", n, r, idle);
		/* pair() against partner(): every round up to n = 256, then the
		 * first and last rounds (keeps the run to seconds). */
		for (int i = 0; i < n / 2 && (n <= 256 || r == 0 || r + 1 == fsc_sched_rounds(s));
		     i++) {
			CHECK(!fsc_sched_pair(s, r, i, &a, &b) && a < b && p[a] == b,
			      "n=%d round %" PRIu64 ": pair %d = %d-%d disagrees", n, r, i, a, b);
		}
		CHECK(fsc_sched_pair(s, r, n / 2, &a, &b) == -EINVAL, "pair index past the end");
	}
	return met;
}

static void fsc_sched_init__specs(void **state)
{
	static const char *const bad[] = {"",           "bogus",     "sample",
	                                  "sample:",    "sample:0",  "sample:-1",
	                                  "sample: 3",  "sample:3x", "serial:2",
	                                  "Concurrent", "sample:+3", "sample:99999999999999999999"};
	struct fsc_sched s;
	char err[160];

	(void)state;
	assert_int_equal(fsc_sched_init(&s, "concurrent", 8, 0, err, sizeof(err)), 0);
	assert_int_equal(s.kind, FSC_SCHED_CONCURRENT);
	assert_int_equal(fsc_sched_init(&s, "serial", 8, 0, err, sizeof(err)), 0);
	assert_int_equal(s.kind, FSC_SCHED_SERIAL);
	assert_int_equal(fsc_sched_init(&s, "sample:3", 8, 7, err, sizeof(err)), 0);
	assert_int_equal(s.kind, FSC_SCHED_SAMPLE);
	assert_int_equal(s.k_sample, 3);
	assert_int_equal(s.seed, 7);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		assert_int_equal(fsc_sched_init(&s, bad[i], 8, 0, err, sizeof(err)), -EINVAL);
		assert_true(strlen(err) > 0);
	}
	assert_int_equal(fsc_sched_init(&s, "sample:0", 8, 0, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "invalid schedule 'sample:0': expected concurrent, serial, "
	                         "sample:K (K >= 1) or topology (with a topology)");
	/* topology needs each rank's leaf: fsc_sched_init_leaves */
	assert_int_equal(fsc_sched_init(&s, "topology", 8, 0, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "leaf"));
	assert_int_equal(fsc_sched_init(&s, NULL, 8, 0, err, sizeof(err)), -EINVAL);
	assert_int_equal(fsc_sched_init(&s, "concurrent", 1, 0, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "schedule 'concurrent' needs at least 2 ranks, got 1");
	assert_int_equal(fsc_sched_init(&s, "serial", 0, 0, err, sizeof(err)), -EINVAL);
	/* A zero-length error buffer is never written. */
	assert_int_equal(fsc_sched_init(&s, "x", 4, 0, NULL, 0), -EINVAL);
}

static void fsc_sched_rounds__counts(void **state)
{
	(void)state;
	assert_int_equal(fsc_sched_rounds(&(struct fsc_sched){0}), 0);
	for (int n = 2; n <= 9; n++) {
		struct fsc_sched c = make("concurrent", n, 0), s = make("serial", n, 0);

		assert_int_equal(fsc_sched_rounds(&c), n % 2 ? n : n - 1);
		assert_int_equal(fsc_sched_rounds(&s), n * (n - 1) / 2);
		assert_int_equal(fsc_sched_pairs_per_round(&s), 1);
	}
	{
		struct fsc_sched a = make("sample:5", 100, 1), b = make("sample:500", 100, 1),
		                 c = make("sample:500", 101, 1);

		assert_int_equal(fsc_sched_rounds(&a), 5);
		assert_int_equal(fsc_sched_rounds(&b), 99); /* clamped */
		assert_int_equal(b.k_sample, 500);
		assert_int_equal(fsc_sched_rounds(&c), 101);
	}
	{
		/* 46341 * 46340 / 2 does not fit in 31 bits. */
		struct fsc_sched s = make("serial", 46341, 0);

		assert_true(fsc_sched_rounds(&s) == 1073720970ull);
	}
}

static void fsc_sched_partner__concurrent_every_n_to_1000(void **state)
{
	struct bits seen = {0};
	int *p = malloc(N_MAX * sizeof(*p));

	(void)state;
	assert_non_null(p);
	for (int n = 2; n <= N_MAX; n++) {
		struct fsc_sched s = make("concurrent", n, 0);

		assert_int_equal(fsc_sched_rounds(&s), n % 2 ? n : n - 1);
		assert_true(check_matchings(&s, &seen, p) == (uint64_t)n * (n - 1) / 2);
		assert_int_equal(fsc_sched_partner(&s, fsc_sched_rounds(&s), 0), -1);
		assert_int_equal(fsc_sched_partner(&s, 0, n), -1);
		assert_int_equal(fsc_sched_partner(&s, 0, -1), -1);
	}
	free(seen.w);
	free(p);
}

/* The circle method's rounds as written in schedule.h, for n = 6: the
 * centre (5) meets r, and x meets 2r - x mod 5. */
static void fsc_sched_partner__concurrent_circle_n6(void **state)
{
	static const int expect[5][6] = {
	        {5, 4, 3, 2, 1, 0}, {2, 5, 0, 4, 3, 1}, {4, 3, 5, 1, 0, 2},
	        {1, 0, 4, 5, 2, 3}, {3, 2, 1, 0, 5, 4},
	};
	struct fsc_sched s = make("concurrent", 6, 0);

	(void)state;
	for (int r = 0; r < 5; r++)
		for (int x = 0; x < 6; x++)
			assert_int_equal(fsc_sched_partner(&s, (uint64_t)r, x), expect[r][x]);
	/* n = 5: the rank facing the dummy centre is idle. */
	s = make("concurrent", 5, 0);
	assert_int_equal(fsc_sched_partner(&s, 2, 2), -1);
	assert_int_equal(fsc_sched_partner(&s, 2, 1), 3);
	assert_int_equal(fsc_sched_partner(&s, 2, 0), 4);
}

static void fsc_sched_pair__serial_every_n_to_1000(void **state)
{
	struct bits seen = {0};

	(void)state;
	for (int n = 2; n <= N_MAX; n++) {
		struct fsc_sched s = make("serial", n, 0);
		uint64_t rounds = fsc_sched_rounds(&s);
		int a, b, c;

		assert_true(rounds == (uint64_t)n * (n - 1) / 2);
		bits_reset(&seen, n);
		for (uint64_t r = 0; r < rounds; r++) {
			CHECK(!fsc_sched_pair(&s, r, 0, &a, &b) && a >= 0 && a < b && b < n,
			      "n=%d round %" PRIu64 ": pair %d-%d", n, r, a, b);
			CHECK(!bits_set(&seen, n, a, b), "n=%d: pair %d-%d twice", n, a, b);
			/* partner() agrees and everybody else idles: checked for
			 * every round up to n = 256 (all ranks up to n = 24), then
			 * every 16th round. */
			if (n > 256 && r % 16)
				continue;
			CHECK(fsc_sched_partner(&s, r, a) == b && fsc_sched_partner(&s, r, b) == a,
			      "n=%d round %" PRIu64 ": partners of %d-%d", n, r, a, b);
			if (n <= 24) {
				for (c = 0; c < n; c++)
					CHECK(c == a || c == b || fsc_sched_partner(&s, r, c) == -1,
					      "n=%d round %" PRIu64 ": %d not idle", n, r, c);
			} else {
				c = (b + 1) % n == a ? (b + 2) % n : (b + 1) % n;
				CHECK(fsc_sched_partner(&s, r, c) == -1,
				      "n=%d round %" PRIu64 ": %d not idle", n, r, c);
			}
		}
		/* rounds distinct pairs out of n(n-1)/2: every pair exactly once. */
		assert_int_equal(fsc_sched_pair(&s, rounds, 0, &a, &b), -EINVAL);
		assert_int_equal(fsc_sched_pair(&s, 0, 1, &a, &b), -EINVAL);
	}
	free(seen.w);
}

/* With K >= the round count, sample covers every pair exactly once. */
static void fsc_sched_partner__sample_full_coverage(void **state)
{
	static const int big[] = {100, 101, 255, 256, 257, 999, 1000};
	struct bits seen = {0};
	int *p = malloc(N_MAX * sizeof(*p));

	(void)state;
	assert_non_null(p);
	for (int i = 0; i < 63 + 7; i++) {
		int n = i < 63 ? i + 2 : big[i - 63];
		struct fsc_sched s = make("sample:1000000", n, 0x5eed + (uint64_t)n);

		assert_int_equal(fsc_sched_rounds(&s), n % 2 ? n : n - 1);
		assert_true(check_matchings(&s, &seen, p) == (uint64_t)n * (n - 1) / 2);
	}
	free(seen.w);
	free(p);
}

/* K < rounds: disjoint pairs per round, no pair twice, the same for the
 * same seed, different for another seed. */
static void fsc_sched_partner__sample_seeded(void **state)
{
	static const int ns[] = {7, 50, 333, 1000};
	struct bits seen = {0};
	int *p = malloc(N_MAX * sizeof(*p));

	(void)state;
	assert_non_null(p);
	for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
		int n = ns[i], differ = 0, differ_round = 0;
		struct fsc_sched s = make("sample:5", n, 42), t = make("sample:5", n, 42),
		                 u = make("sample:5", n, 43);

		assert_int_equal(fsc_sched_rounds(&s), 5);
		assert_true(check_matchings(&s, &seen, p) == 5 * (uint64_t)(n / 2));
		for (uint64_t r = 0; r < 5; r++) {
			for (int x = 0; x < n; x++) {
				int ps = fsc_sched_partner(&s, r, x);

				assert_int_equal(ps, fsc_sched_partner(&t, r, x));
				differ += ps != fsc_sched_partner(&u, r, x);
			}
			/* Rounds differ from one another too. */
			differ_round += fsc_sched_partner(&s, r, 0) != fsc_sched_partner(&s, 0, 0);
		}
		assert_true(differ > 0);
		assert_true(differ_round > 0);
	}
	free(seen.w);
	free(p);
}

/* Lookup cost.  Without FSC_BENCH=1 it runs silently at n = 1000 so that the
 * code path stays exercised; with it, at n = 100,000 (and 99,999) and prints
 * one line per schedule kind. */
static void fsc_sched_partner__bench(void **state)
{
	static const char *const specs[] = {"concurrent", "sample:1000", "serial"};
	const char *env = getenv("FSC_BENCH");
	int bench = env && !strcmp(env, "1");
	int sizes[2] = {bench ? 100000 : 1000, bench ? 99999 : 999};
	volatile int64_t sink = 0;

	(void)state;
	for (int si = 0; si < 2; si++) {
		for (size_t k = 0; k < sizeof(specs) / sizeof(specs[0]); k++) {
			struct fsc_sched s = make(specs[k], sizes[si], 1);
			uint64_t rounds = fsc_sched_rounds(&s), lookups = 0, t0, t_rank, t_round;
			uint64_t rng = 12345, rank_rounds = rounds < 2000000 ? rounds : 2000000;
			int64_t acc = 0;
			int n = s.n;

			/* One rank's whole schedule (serial: its first 2e6 rounds). */
			t0 = fsc_time_real_ns();
			for (uint64_t r = 0; r < rank_rounds; r++)
				acc += fsc_sched_partner(&s, r, 0);
			t_rank = fsc_time_real_ns() - t0;
			lookups += rank_rounds;
			/* Round 0 plus 8 pseudo-random rounds, every rank. */
			t0 = fsc_time_real_ns();
			for (int q = 0; q < 9; q++) {
				uint64_t r =
				        q ? (rng = rng * 6364136223846793005ull + 1) % rounds : 0;

				for (int x = 0; x < n; x++)
					acc += fsc_sched_partner(&s, r, x);
			}
			t_round = fsc_time_real_ns() - t0;
			sink += acc;
			if (bench) {
				double ns_rank = (double)t_rank / (double)rank_rounds;
				double ns_round = (double)t_round / (9.0 * n);

				/* Serial: a rank's schedule is every round; the figure
				 * that matters is the cost of one decode. */
				printf("bench-schedule: %-11s n=%d: %.1f ns/lookup along one "
				       "rank, %.1f ns/lookup across ranks; ",
				       specs[k], n, ns_rank, ns_round);
				if (s.kind == FSC_SCHED_SERIAL)
					printf("%" PRIu64 " rounds\n", rounds);
				else
					printf("one rank's %" PRIu64 " rounds: %.3f ms, one round "
					       "for all ranks: %.3f ms\n",
					       rounds, ns_rank * (double)rounds / 1e6,
					       ns_round * n / 1e6);
			}
			assert_true(lookups > 0);
		}
	}
	(void)sink;
}

/* The topology schedule over ranks on leaves given in any order and any
 * numbering: every unordered pair exactly once, partner symmetric, the
 * intra-leaf rounds first, then rounds in which every leaf of a pair of
 * equal leaves sends as many cross flows as the other; and *maxr the round
 * count checked by the caller. */
static void check_leaves(const int *leaf, int n, uint64_t want_rounds)
{
	struct fsc_sched s;
	struct bits seen = {0};
	char err[160];
	int p[64], a, b, intra = 1;
	uint64_t met = 0;

	assert_true(n <= 64);
	assert_int_equal(fsc_sched_init_leaves(&s, leaf, n, err, sizeof(err)), 0);
	assert_int_equal(s.kind, FSC_SCHED_TOPOLOGY);
	assert_int_equal(fsc_sched_rounds(&s), want_rounds);
	bits_reset(&seen, n);
	for (uint64_t r = 0; r < fsc_sched_rounds(&s); r++) {
		int cross = 0, same = 0;

		for (int x = 0; x < n; x++)
			p[x] = fsc_sched_partner(&s, r, x);
		for (int x = 0; x < n; x++) {
			if (p[x] < 0)
				continue;
			assert_true(p[x] < n && p[x] != x);
			assert_int_equal(p[p[x]], x);
			if (x < p[x]) {
				assert_false(bits_set(&seen, n, x, p[x]));
				met++;
				cross += leaf[x] != leaf[p[x]];
				same += leaf[x] == leaf[p[x]];
			}
		}
		/* once a round crosses leaves, no later round stays inside one */
		if (cross)
			intra = 0;
		assert_true(intra ? !cross : !same);
	}
	assert_int_equal(met, (uint64_t)n * (n - 1) / 2);
	assert_int_equal(fsc_sched_partner(&s, fsc_sched_rounds(&s), 0), -1);
	assert_int_equal(fsc_sched_partner(&s, 0, n), -1);
	assert_int_equal(fsc_sched_pair(&s, 0, 0, &a, &b), -EINVAL);
	fsc_sched_fini(&s);
	fsc_sched_fini(&s); /* twice: safe */
	free(seen.w);
}

static void fsc_sched_init_leaves__every_pair_once_intra_first(void **state)
{
	/* two leaves of 3, interleaved ranks: 3 circle rounds inside the
	 * leaves, then 1 pair of leaves x 3 sub-rounds */
	static const int two3[] = {0, 1, 0, 1, 0, 1};
	/* 5 ranks, leaves 2 and 3 (numbers 7 and 2): 3 + 1 x 3 rounds */
	static const int uneven[] = {7, 2, 7, 2, 2};
	/* four leaves of 2 (numbers sparse, out of order): 1 + 3 x 2 */
	static const int four2[] = {40, 9, 9, 0, 40, 0, 11, 11};
	/* one leaf: the plain circle method, 3 rounds for 4 ranks */
	static const int one[] = {5, 5, 5, 5};
	int lv[64];

	(void)state;
	check_leaves(two3, 6, 6);
	check_leaves(uneven, 5, 6);
	check_leaves(four2, 8, 7);
	check_leaves(one, 4, 3);
	for (int i = 0; i < 64; i++)
		lv[i] = (i * 7) % 5; /* 5 leaves of 12 or 13, scattered */
	check_leaves(lv, 64, 13 + 5 * 13);
}

/* Every cross round loads each leaf's uplink equally: with equal leaves,
 * each leaf of a meeting pair sends exactly as many flows as it has
 * ranks. */
static void fsc_sched_init_leaves__uplinks_evenly_loaded(void **state)
{
	static const int four3[] = {0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3};
	struct fsc_sched s;
	char err[160];

	(void)state;
	assert_int_equal(fsc_sched_init_leaves(&s, four3, 12, err, sizeof(err)), 0);
	for (uint64_t r = 3; r < fsc_sched_rounds(&s); r++) {
		int up[4] = {0, 0, 0, 0};

		for (int x = 0; x < 12; x++) {
			int q = fsc_sched_partner(&s, r, x);

			assert_true(q >= 0 && four3[q] != four3[x]);
			up[four3[x]]++;
		}
		for (int l = 0; l < 4; l++)
			assert_int_equal(up[l], 3);
	}
	fsc_sched_fini(&s);
}

static void fsc_sched_init_leaves__bad_input(void **state)
{
	static const int noleaf[] = {0, 1, -1, 1};
	struct fsc_sched s;
	char err[160];

	(void)state;
	assert_int_equal(fsc_sched_init_leaves(&s, noleaf, 4, err, sizeof(err)), -EINVAL);
	assert_string_equal(err,
	                    "schedule 'topology': rank 2 is on no leaf (leaf -1; valid: >= 0)");
	fsc_sched_fini(&s);
	assert_int_equal(fsc_sched_init_leaves(&s, noleaf, 1, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "schedule 'topology' needs at least 2 ranks, got 1");
	fsc_sched_fini(&s);
}

static void fsc_sched_estimate__first_round_times_rounds(void **state)
{
	char line[128];

	(void)state;
	assert_true(fsc_sched_estimate("pairs", 0.5, 6, line, sizeof(line)) == 3.0);
	assert_string_equal(line, "pairs: first round 0.5 s x 6 rounds: estimate 3 s");
	assert_true(fsc_sched_estimate("x", 2, 0, line, 0) == 0);
}

int main(void)
{
	const char *env = getenv("FSC_BENCH");
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(fsc_sched_init__specs),
	        cmocka_unit_test(fsc_sched_rounds__counts),
	        cmocka_unit_test(fsc_sched_partner__concurrent_circle_n6),
	        cmocka_unit_test(fsc_sched_partner__concurrent_every_n_to_1000),
	        cmocka_unit_test(fsc_sched_pair__serial_every_n_to_1000),
	        cmocka_unit_test(fsc_sched_partner__sample_full_coverage),
	        cmocka_unit_test(fsc_sched_partner__sample_seeded),
	        cmocka_unit_test(fsc_sched_init_leaves__every_pair_once_intra_first),
	        cmocka_unit_test(fsc_sched_init_leaves__uplinks_evenly_loaded),
	        cmocka_unit_test(fsc_sched_init_leaves__bad_input),
	        cmocka_unit_test(fsc_sched_estimate__first_round_times_rounds),
	        cmocka_unit_test(fsc_sched_partner__bench),
	};

	/* FSC_BENCH=1 (scripts/bench-schedule): only the benchmark. */
	if (env && !strcmp(env, "1"))
		cmocka_set_test_filter("*__bench");
	else if (getenv("FSC_TEST_FILTER"))
		cmocka_set_test_filter(getenv("FSC_TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
