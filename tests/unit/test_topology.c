/* Topology: hostlist expressions, topology.conf parsing with its errors,
 * generated fat trees and the topology pair schedule. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "topology.h"

static char err[512];

static void expect_list(const char *expr, const char *const *want, int nwant)
{
	char **v;
	int n;

	assert_int_equal(fsc_hostlist_expand(expr, &v, &n, 0, err, sizeof(err)), 0);
	assert_int_equal(n, nwant);
	for (int i = 0; i < n; i++)
		assert_string_equal(v[i], want[i]);
	fsc_hostlist_free(v, n);
}

static void expect_bad(const char *expr, const char *needle)
{
	char **v = (char **)1;
	int n = 7;

	err[0] = 0;
	assert_int_equal(fsc_hostlist_expand(expr, &v, &n, 0, err, sizeof(err)), -EINVAL);
	assert_null(v);
	assert_int_equal(n, 0);
	if (!strstr(err, needle))
		fail_msg("error '%s' does not name '%s'", err, needle);
}

static void hostlist__forms(void **state)
{
	(void)state;
	expect_list("h5", (const char *[]){"h5"}, 1);
	expect_list("h[0-3,8]", (const char *[]){"h0", "h1", "h2", "h3", "h8"}, 5);
	expect_list("n[001-003]", (const char *[]){"n001", "n002", "n003"}, 3);
	expect_list("n[08-11]", (const char *[]){"n08", "n09", "n10", "n11"}, 4);
	expect_list("r[1-2]n[1-2]", (const char *[]){"r1n1", "r1n2", "r2n1", "r2n2"}, 4);
	expect_list("h[0-1],login,g[3]x", (const char *[]){"h0", "h1", "login", "g3x"}, 4);
	expect_list("leaf[9-10]", (const char *[]){"leaf9", "leaf10"}, 2);
}

static void hostlist__errors(void **state)
{
	char **v;
	int n;

	(void)state;
	expect_bad("h[3-1]", "3-1");
	expect_bad("h[a-b]", "a-b");
	expect_bad("h[1-]", "1-");
	expect_bad("h[1,]", ",");
	expect_bad("h[]", "empty brackets");
	expect_bad("h[1-2", "without ']'");
	expect_bad("h1-2]", "unexpected ']'");
	expect_bad("h[1[2]]", "nested");
	expect_bad("a,,b", "empty item");
	expect_bad("a,", "empty item");
	expect_bad("", "empty hostlist");
	expect_bad("h 1", "unexpected ' '");
	assert_int_equal(fsc_hostlist_expand("h[0-99999]", &v, &n, 1000, err, sizeof(err)),
	                 -EINVAL);
	assert_non_null(strstr(err, "more than 1000"));
}

static const char conf[] = "# two leaves under one spine\n"
                           "SwitchName=leaf0 Nodes=h[0-2] LinkSpeed=100\n"
                           "\n"
                           "switchname=leaf1 nodes=h[3-4],gpu07   # lower-case keys\n"
                           "SwitchName=spine0 Switches=leaf[0-1]\n"
                           "SwitchName=core Switches=spine0\n";

static void parse__two_leaves(void **state)
{
	struct fsc_topo *t;

	(void)state;
	assert_int_equal(fsc_topo_parse(&t, conf, "t.conf", err, sizeof(err)), 0);
	assert_int_equal(t->nhosts, 6);
	assert_int_equal(t->nleaves, 2);
	assert_int_equal(t->nswitches, 4);
	assert_string_equal(t->leaves[0], "leaf0");
	assert_string_equal(t->leaves[1], "leaf1");
	assert_int_equal(fsc_topo_leaf_size(t, 0), 3);
	assert_int_equal(fsc_topo_leaf_size(t, 1), 3);
	assert_int_equal(t->host_leaf[fsc_topo_host(t, "h2")], 0);
	assert_int_equal(t->host_leaf[fsc_topo_host(t, "gpu07")], 1);
	assert_int_equal(fsc_topo_host(t, "h9"), -1);
	assert_non_null(strstr(t->notes, "LinkSpeed"));
	assert_non_null(strstr(t->notes, "t.conf:2"));
	fsc_topo_free(t);
}

static void expect_conf_bad(const char *text, const char *needle)
{
	struct fsc_topo *t = (struct fsc_topo *)1;

	err[0] = 0;
	assert_int_equal(fsc_topo_parse(&t, text, "x.conf", err, sizeof(err)), -EINVAL);
	assert_null(t);
	if (!strstr(err, needle))
		fail_msg("error '%s' does not hold '%s'", err, needle);
}

static void parse__errors_name_line_and_token(void **state)
{
	(void)state;
	expect_conf_bad("SwitchName=a Nodes=h1\nSwitchName=b Nodes=h[2-x]\n", "x.conf:2:");
	expect_conf_bad("SwitchName=a Nodes=h1\nSwitchName=b Nodes=h[2-x]\n", "2-x");
	expect_conf_bad("\n\nSwitchName=a Nodez=h1\n", "x.conf:3: unknown key in 'Nodez=h1'");
	expect_conf_bad("SwitchName=a Nodes\n", "x.conf:1: bad token 'Nodes'");
	expect_conf_bad("Nodes=h1\n", "x.conf:1: a line with Nodes= or Switches= needs");
	expect_conf_bad("SwitchName=a\n", "x.conf:1: switch 'a' has neither");
	expect_conf_bad("SwitchName=a Nodes=h1\nSwitchName=a Nodes=h2\n",
	                "x.conf:2: switch 'a' defined twice (first on line 1)");
	expect_conf_bad("SwitchName=a Nodes=h1\nSwitchName=s Switches=a,b\n",
	                "x.conf:2: switch 's' lists unknown switch 'b'");
	expect_conf_bad("SwitchName=a Nodes=h[1-3]\n#\nSwitchName=b Nodes=h3\n",
	                "x.conf:3: host 'h3' already hangs from leaf 'a' (line 1)");
	expect_conf_bad("# nothing\nSwitchName=s Switches=s\n", "no switch has Nodes=");
	expect_conf_bad("SwitchName=a Nodes=h1 Nodes=h2\n", "given twice");
}

static void load__file_and_missing(void **state)
{
	char path[] = "/tmp/fsc_topo_XXXXXX";
	struct fsc_topo *t;
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, conf, strlen(conf)), (ssize_t)strlen(conf));
	close(fd);
	assert_int_equal(fsc_topo_load(&t, path, err, sizeof(err)), 0);
	assert_int_equal(t->nhosts, 6);
	fsc_topo_free(t);
	unlink(path);
	assert_true(fsc_topo_load(&t, path, err, sizeof(err)) < 0);
	assert_null(t);
	assert_non_null(strstr(err, path));
	assert_int_equal(fsc_topo_load(&t, "", err, sizeof(err)), -EINVAL);
}

static void fattree__generated(void **state)
{
	struct fsc_topo *t;

	(void)state;
	assert_int_equal(fsc_topo_load(&t, "fattree:hosts=100,leaf=32,oversub=2", err, sizeof(err)),
	                 0);
	assert_int_equal(t->nhosts, 100);
	assert_int_equal(t->nleaves, 4);
	assert_int_equal(fsc_topo_leaf_size(t, 3), 4);
	assert_true(t->oversub == 2);
	assert_string_equal(t->hosts[99], "h99");
	assert_string_equal(t->leaves[3], "leaf3");
	assert_int_equal(t->host_leaf[fsc_topo_host(t, "h64")], 2);
	fsc_topo_free(t);
	assert_int_equal(fsc_topo_load(&t, "fattree:hosts=8,leaf=4", err, sizeof(err)), 0);
	assert_true(t->oversub == 1);
	fsc_topo_free(t);
	const char *bad[] = {"fattree:hosts=8",         "fattree:hosts=8,leaf=9",
	                     "fattree:hosts=1,leaf=1",  "fattree:hosts=8,leaf=4,oversub=0.5",
	                     "fattree:hosts=8,leaf=x",  "fattree:hosts=8,leaf=4,spine=2",
	                     "fattree:hosts=8.5,leaf=4"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(fsc_topo_load(&t, bad[i], err, sizeof(err)), -EINVAL);
		if (!strstr(err, "expected fattree:hosts=N,leaf=K"))
			fail_msg("'%s': %s", bad[i], err);
	}
}

/* Every unordered pair exactly once, each host in at most one pair per
 * round, intra-leaf pairs first, and in cross rounds every leaf of a
 * full-size pair of leaves carries exactly its size in flows. */
static void check_sched(const char *spec)
{
	struct fsc_topo *t;
	struct fsc_topo_sched s;
	unsigned char *seen;
	int n, cross_seen = 0;

	assert_int_equal(fsc_topo_load(&t, spec, err, sizeof(err)), 0);
	assert_int_equal(fsc_topo_sched_init(&s, t), 0);
	n = t->nhosts;
	seen = calloc((size_t)n * n, 1);
	assert_non_null(seen);
	for (uint64_t r = 0; r < s.rounds; r++) {
		for (int h = 0; h < n; h++) {
			int p = fsc_topo_sched_partner(&s, r, h);

			if (p < 0)
				continue;
			assert_int_not_equal(p, h);
			assert_int_equal(fsc_topo_sched_partner(&s, r, p), h);
			if (t->host_leaf[p] != t->host_leaf[h])
				cross_seen = 1;
			else if (cross_seen)
				fail_msg("%s: intra-leaf pair %d-%d after cross rounds", spec, h,
				         p);
			if (h < p) {
				assert_int_equal(seen[(size_t)h * n + p], 0);
				seen[(size_t)h * n + p] = 1;
			}
		}
	}
	for (int a = 0; a < n; a++)
		for (int b = a + 1; b < n; b++)
			if (!seen[(size_t)a * n + b])
				fail_msg("%s: pair %d-%d never met", spec, a, b);
	assert_int_equal(fsc_topo_sched_partner(&s, s.rounds, 0), -1);
	assert_int_equal(fsc_topo_sched_partner(&s, 0, n), -1);
	free(seen);
	fsc_topo_free(t);
}

static void sched__every_pair_once(void **state)
{
	(void)state;
	check_sched("fattree:hosts=64,leaf=8");
	check_sched("fattree:hosts=63,leaf=8");
	check_sched("fattree:hosts=45,leaf=7");
	check_sched("fattree:hosts=12,leaf=12");
	check_sched("fattree:hosts=10,leaf=1");
	check_sched("fattree:hosts=97,leaf=32");
}

static void sched__rounds_and_even_uplinks(void **state)
{
	struct fsc_topo *t;
	struct fsc_topo_sched s;

	(void)state;
	assert_int_equal(fsc_topo_load(&t, "fattree:hosts=128,leaf=32", err, sizeof(err)), 0);
	assert_int_equal(fsc_topo_sched_init(&s, t), 0);
	assert_int_equal(s.intra_rounds, 31);
	assert_int_equal(s.rounds, 31 + 3 * 32);
	for (uint64_t r = (uint64_t)s.intra_rounds; r < s.rounds; r++)
		for (int l = 0; l < t->nleaves; l++) {
			int flows = 0;

			for (int h = t->leaf_first[l]; h < t->leaf_first[l + 1]; h++)
				flows += fsc_topo_sched_partner(&s, r, h) >= 0;
			assert_int_equal(flows, 32);
		}
	fsc_topo_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(hostlist__forms),
	        cmocka_unit_test(hostlist__errors),
	        cmocka_unit_test(parse__two_leaves),
	        cmocka_unit_test(parse__errors_name_line_and_token),
	        cmocka_unit_test(load__file_and_missing),
	        cmocka_unit_test(fattree__generated),
	        cmocka_unit_test(sched__every_pair_once),
	        cmocka_unit_test(sched__rounds_and_even_uplinks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
