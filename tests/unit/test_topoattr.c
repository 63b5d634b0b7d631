/* Streamed attribution up to the switch on small synthetic matrices built
 * here cell by cell (exact faults, seeded noise): leaf, host and link
 * effects, the flat mode, bad input, re-test rule and verdict lines. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "topoattr.h"

#define N 64
#define K 8 /* hosts per leaf: 8 leaves */

struct fault {
	int slow_leaf;  /* uplink factor 0.4 on this leaf, -1 none */
	int slow_host;  /* 0.3, -1 none */
	int ls, ld;     /* one slow link ls -> ld at 0.2, -1 none */
	int dead;       /* -1 none */
	int leaf_intra; /* the whole switch: intra cells 0.4 too */
};

/* A cell: 10 GB/s intra, 5 cross (oversubscription 2), faults, and
 * +-4% deterministic noise. */
static double cell(const struct fault *f, int s, int d)
{
	int x = s / K != d / K;
	double v = x ? 5 : 10, z = (double)((s * 7919 + d * 104729) % 1000) / 1000.0 - 0.5;

	if (x && f->slow_leaf >= 0 && (s / K == f->slow_leaf || d / K == f->slow_leaf))
		v *= 0.4;
	if (!x && f->leaf_intra && s / K == f->slow_leaf)
		v *= 0.4;
	if (s == f->slow_host || d == f->slow_host)
		v = fmin(v, 10 * 0.3);
	if (s == f->ls && d == f->ld)
		v *= 0.2;
	if (s == f->dead || d == f->dead)
		return 0;
	return v * (1 + 0.08 * z);
}

static size_t analyse(const struct fault *f, int topo, struct fsc_tsusp *out, size_t max,
                      struct fsc_tattr **keep)
{
	int leaf[N];
	struct fsc_tattr *a;
	size_t n;

	for (int i = 0; i < N; i++)
		leaf[i] = i / K;
	assert_int_equal(fsc_tattr_create(&a, N, topo ? leaf : NULL, N / K, NULL), 0);
	for (int s = 0; s < N; s++)
		for (int d = 0; d < N; d++)
			if (s != d)
				assert_int_equal(fsc_tattr_add(a, s, d, cell(f, s, d)), 0);
	assert_int_equal(fsc_tattr_fit(a), 0);
	/* the second pass in another order: order does not matter */
	for (int d = N - 1; d >= 0; d--)
		for (int s = 0; s < N; s++)
			if (s != d)
				fsc_tattr_add2(a, s, d, cell(f, s, d));
	n = fsc_tattr_decide(a, out, max, NULL);
	if (keep)
		*keep = a;
	else
		fsc_tattr_free(a);
	return n;
}

static const struct fault healthy = {-1, -1, -1, -1, -1, 0};

static void text(const struct fsc_tsusp *s, char *b, size_t len)
{
	fsc_tsusp_format(s, NULL, NULL, b, len);
}

static void decide__healthy(void **state)
{
	struct fsc_tsusp s[8];
	struct fsc_tattr *a;
	double in, out, inn, snd, rcv;

	(void)state;
	assert_int_equal(analyse(&healthy, 1, s, 8, &a), 0);
	assert_true(fabs(fsc_tattr_centre(a, 0) - 10) < 0.3);
	assert_true(fabs(fsc_tattr_centre(a, 1) - 5) < 0.15);
	/* the floor: uniform +-4% noise is below 5% */
	assert_true(fabs(fsc_tattr_noise(a) - 0.05) < 1e-9);
	fsc_tattr_leaf(a, 2, &in, &out, &inn);
	assert_true(fabs(in - 1) < 0.05 && fabs(out - 1) < 0.05 && fabs(inn - 1) < 0.05);
	fsc_tattr_host(a, 9, &snd, &rcv);
	assert_true(fabs(snd - 1) < 0.05 && fabs(rcv - 1) < 0.05);
	fsc_tattr_free(a);
}

static void decide__slow_uplink_is_the_leaf(void **state)
{
	struct fault f = healthy;
	struct fsc_tsusp s[8];
	char b[256];

	(void)state;
	f.slow_leaf = 3;
	assert_int_equal(analyse(&f, 1, s, 8, NULL), 1);
	assert_int_equal(s[0].kind, FSC_TS_LEAF);
	assert_int_equal(s[0].a, 3);
	text(&s[0], b, sizeof(b));
	assert_string_equal(b, "leaf 3 uplink slow (cross-leaf cells 0.4x, intra-leaf 1.0x)");
	/* the whole switch */
	f.leaf_intra = 1;
	assert_int_equal(analyse(&f, 1, s, 8, NULL), 1);
	text(&s[0], b, sizeof(b));
	assert_string_equal(b, "leaf 3 switch slow (cross-leaf cells 0.4x, intra-leaf 0.4x)");
}

static void decide__flat_blames_hosts(void **state)
{
	struct fault f = healthy;
	struct fsc_tsusp s[16];
	size_t n;

	(void)state;
	f.slow_leaf = 3;
	n = analyse(&f, 0, s, 16, NULL);
	/* without a topology the leaf's 8 hosts are what the matrix shows */
	assert_int_equal(n, 8);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(s[i].kind, FSC_TS_HOST);
		assert_int_equal(s[i].a / K, 3);
	}
}

static void decide__host_link_dead(void **state)
{
	struct fault f = healthy;
	struct fsc_tsusp s[8];
	char b[256];
	const char *hosts[N];
	char names[N][8];

	(void)state;
	for (int i = 0; i < N; i++) {
		snprintf(names[i], sizeof(names[i]), "n%02d", i);
		hosts[i] = names[i];
	}
	f.slow_host = 20;
	assert_int_equal(analyse(&f, 1, s, 8, NULL), 1);
	fsc_tsusp_format(&s[0], hosts, NULL, b, sizeof(b));
	assert_string_equal(b, "n20: node slow (sends 0.3x, receives 0.3x)");
	f = healthy;
	f.ls = 9;
	f.ld = 40;
	assert_int_equal(analyse(&f, 1, s, 8, NULL), 1);
	fsc_tsusp_format(&s[0], hosts, NULL, b, sizeof(b));
	assert_string_equal(b, "link n09->n40 slow (0.2x expected)");
	assert_true(s[0].significant);
	f = healthy;
	f.dead = 33;
	assert_int_equal(analyse(&f, 1, s, 8, NULL), 1);
	assert_true(s[0].dead);
	fsc_tsusp_format(&s[0], hosts, NULL, b, sizeof(b));
	assert_string_equal(b, "n33: dead port (no cell moved a byte)");
	/* two at once, leaves before hosts before links */
	f = healthy;
	f.slow_leaf = 6;
	f.slow_host = 2;
	f.ls = 10;
	f.ld = 12;
	assert_int_equal(analyse(&f, 1, s, 8, NULL), 3);
	assert_int_equal(s[0].kind, FSC_TS_LEAF);
	assert_int_equal(s[1].kind, FSC_TS_HOST);
	assert_int_equal(s[1].a, 2);
	assert_int_equal(s[2].kind, FSC_TS_LINK);
	assert_int_equal(s[2].a, 10);
	assert_int_equal(s[2].b, 12);
}

static void confirm__majority_rule(void **state)
{
	struct fault f = healthy;
	struct fsc_tsusp s[2];
	struct fsc_tattr *a;
	char b[256];

	(void)state;
	f.slow_leaf = 1;
	assert_int_equal(analyse(&f, 1, s, 2, &a), 1);
	assert_int_equal(fsc_tattr_confirm(a, &s[0], 4, 10), 1);
	assert_int_equal(fsc_tattr_confirm(a, &s[0], 6, 10), 0);
	assert_int_equal(fsc_tattr_confirm(a, &s[0], -1, 10), -EINVAL);
	assert_int_equal(s[0].retests, 2);
	assert_int_equal(s[0].confirmations, 1);
	text(&s[0], b, sizeof(b));
	assert_non_null(strstr(b, "; confirmed 1/2"));
	fsc_tattr_free(a);
}

static void input__bad(void **state)
{
	struct fsc_tattr *a;
	struct fsc_tattr_params p;
	int leaf[4] = {0, 0, 1, 5};

	(void)state;
	assert_int_equal(fsc_tattr_create(&a, 1, NULL, 1, NULL), -EINVAL);
	assert_int_equal(fsc_tattr_create(&a, 70000, NULL, 1, NULL), -EINVAL);
	assert_int_equal(fsc_tattr_create(&a, 4, leaf, 2, NULL), -EINVAL);
	fsc_tattr_params_default(&p);
	p.node_ratio = 1.5;
	assert_int_equal(fsc_tattr_create(&a, 4, NULL, 1, &p), -EINVAL);
	assert_int_equal(fsc_tattr_create(&a, 4, NULL, 1, NULL), 0);
	assert_int_equal(fsc_tattr_fit(a), -ENODATA);
	assert_int_equal(fsc_tattr_add(a, 0, 0, 1), -EINVAL);
	assert_int_equal(fsc_tattr_add(a, 0, 4, 1), -EINVAL);
	assert_int_equal(fsc_tattr_add(a, 0, 1, -1), -EINVAL);
	assert_int_equal(fsc_tattr_add(a, 0, 1, INFINITY), -EINVAL);
	assert_int_equal(fsc_tattr_add(a, 0, 1, NAN), 0);
	assert_int_equal(fsc_tattr_fit(a), -ENODATA);
	fsc_tattr_free(a);
	fsc_tattr_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(decide__healthy),
	        cmocka_unit_test(decide__slow_uplink_is_the_leaf),
	        cmocka_unit_test(decide__flat_blames_hosts),
	        cmocka_unit_test(decide__host_link_dead),
	        cmocka_unit_test(confirm__majority_rule),
	        cmocka_unit_test(input__bad),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
