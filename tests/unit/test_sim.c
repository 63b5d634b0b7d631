/* The simulated fabric end to end: seeded 1,024- and 4,096-host fat trees
 * with one fault, two faults or none, each named exactly (leaf, host, link
 * with its direction), through the real topology schedule, the streamed
 * attribution and serial re-tests. */
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

#include "schedule.h"
#include "sim.h"

#define T1K "fattree:hosts=1024,leaf=32,oversub=2"

static char err[512];

/* Run `topo` with the faults (NULL-terminated) and return the verdict
 * lines joined by " | " (confirmed only). */
static void run(const char *topo, const char *const *faults, uint64_t seed, int flat,
                const char *schedule, char *out, size_t len, struct fsc_sim_result *keep)
{
	struct fsc_topo *t;
	struct fsc_sim_params p;
	struct fsc_sim_result r;
	size_t used = 0;

	assert_int_equal(fsc_topo_load(&t, topo, err, sizeof(err)), 0);
	fsc_sim_params_default(&p);
	p.topo = t;
	p.seed = seed;
	p.flat = flat;
	if (schedule)
		p.schedule = schedule;
	for (size_t i = 0; faults && faults[i]; i++)
		if (fsc_sim_fault_parse(&p, faults[i], err, sizeof(err)))
			fail_msg("%s", err);
	if (fsc_sim_run(&p, &r, err, sizeof(err)))
		fail_msg("%s", err);
	out[0] = 0;
	for (size_t i = 0; i < r.nconfirmed; i++) {
		char line[256];

		fsc_tsusp_format(&r.confirmed[i], (const char *const *)t->hosts,
		                 (const char *const *)t->leaves, line, sizeof(line));
		used += (size_t)snprintf(out + used, len - used, "%s%s", i ? " | " : "", line);
		if (used >= len)
			used = len - 1;
	}
	if (keep)
		*keep = r;
	else
		fsc_sim_result_fini(&r);
	fsc_topo_free(t);
}

static void expect(const char *got, const char *want)
{
	if (strcmp(got, want))
		fail_msg("verdict\n  got  '%s'\n  want '%s'", got, want);
}

static void sim__healthy_seeds_name_nothing(void **state)
{
	char v[4096];
	struct fsc_sim_result r;

	(void)state;
	for (uint64_t seed = 1; seed <= 10; seed++) {
		run(T1K, NULL, seed, 0, NULL, v, sizeof(v), &r);
		expect(v, "");
		/* the matrix itself is realistic: noise near 5%, the cross-leaf
		 * centre at half the intra-leaf one (oversubscription 2) */
		assert_true(r.noise > 0.04 && r.noise < 0.07);
		assert_true(fabs(r.centre_in - 25) < 1);
		assert_true(fabs(r.centre_x - 12.5) < 0.5);
		assert_int_equal(r.cells, 1024 * 1023);
		fsc_sim_result_fini(&r);
	}
}

static void sim__slow_leaf_uplink(void **state)
{
	char v[4096];

	(void)state;
	run(T1K, (const char *[]){"uplink:leaf3:0.4", NULL}, 7, 0, NULL, v, sizeof(v), NULL);
	expect(v, "leaf3 uplink slow (cross-leaf cells 0.4x, intra-leaf 1.0x); confirmed 2/2");
}

/* Without the topology the same fault is 32 slow hosts: behaviour as
 * before, and why the leaf must be named. */
static void sim__slow_leaf_uplink_flat_is_many_hosts(void **state)
{
	struct fsc_sim_result r;
	char v[8192];
	size_t hosts = 0;

	(void)state;
	run(T1K, (const char *[]){"uplink:leaf3:0.4", NULL}, 7, 1, NULL, v, sizeof(v), &r);
	for (size_t i = 0; i < r.nconfirmed; i++) {
		assert_int_equal(r.confirmed[i].kind, FSC_TS_HOST);
		assert_true(r.confirmed[i].a >= 96 && r.confirmed[i].a < 128);
		hosts++;
	}
	assert_int_equal(hosts, 32);
	fsc_sim_result_fini(&r);
}

static void sim__slow_host(void **state)
{
	char v[4096];

	(void)state;
	run(T1K, (const char *[]){"host:h100:0.3", NULL}, 3, 0, NULL, v, sizeof(v), NULL);
	expect(v, "h100: node slow (sends 0.3x, receives 0.3x); confirmed 2/2");
}

static void sim__dead_port(void **state)
{
	char v[4096];

	(void)state;
	run(T1K, (const char *[]){"dead:h513", NULL}, 4, 0, NULL, v, sizeof(v), NULL);
	expect(v, "h513: dead port (no cell moved a byte); confirmed 2/2");
}

static void sim__slow_one_way_links(void **state)
{
	char v[4096];

	(void)state;
	/* inside a leaf, and across leaves; only the direction that is slow */
	run(T1K, (const char *[]){"link:h3->h9:0.2", NULL}, 5, 0, NULL, v, sizeof(v), NULL);
	expect(v, "link h3->h9 slow (0.2x expected); confirmed 2/2");
	run(T1K, (const char *[]){"link:h900->h5:0.15", NULL}, 6, 0, NULL, v, sizeof(v), NULL);
	expect(v, "link h900->h5 slow (0.31x expected); confirmed 2/2");
}

static void sim__two_faults(void **state)
{
	char v[4096];

	(void)state;
	run(T1K, (const char *[]){"uplink:leaf5:0.4", "host:h700:0.3", NULL}, 8, 0, NULL, v,
	    sizeof(v), NULL);
	expect(v, "leaf5 uplink slow (cross-leaf cells 0.4x, intra-leaf 1.0x); confirmed 2/2 | "
	          "h700: node slow (sends 0.3x, receives 0.3x); confirmed 2/2");
	/* a link across the slow leaf is not blamed on the leaf alone */
	run(T1K, (const char *[]){"uplink:leaf3:0.4", "link:h5->h900:0.15", NULL}, 9, 0, NULL, v,
	    sizeof(v), NULL);
	expect(v, "leaf3 uplink slow (cross-leaf cells 0.4x, intra-leaf 1.0x); confirmed 2/2 | "
	          "link h5->h900 slow (0.29x expected); confirmed 2/2");
}

static void sim__4k_two_faults(void **state)
{
	char v[4096];

	(void)state;
	run("fattree:hosts=4096,leaf=32,oversub=2",
	    (const char *[]){"uplink:leaf100:0.4", "link:h17->h4000:0.15", NULL}, 11, 0, NULL, v,
	    sizeof(v), NULL);
	expect(v, "leaf100 uplink slow (cross-leaf cells 0.4x, intra-leaf 1.0x); confirmed 2/2 | "
	          "link h17->h4000 slow (0.29x expected); confirmed 2/2");
}

/* Two leaves of 3 hosts (the virtual cluster's shape): every cross-leaf
 * link out of leaf0 throttled, as tc would on its hosts, is leaf0's uplink
 * (two leaves cannot tell it from leaf1's downlink; the sender is named). */
static void sim__two_leaves_one_way(void **state)
{
	const char *f[10];
	char specs[9][32], v[4096];
	int k = 0;

	(void)state;
	for (int a = 0; a < 3; a++)
		for (int b = 3; b < 6; b++) {
			snprintf(specs[k], sizeof(specs[k]), "link:h%d->h%d:0.3", a, b);
			f[k] = specs[k];
			k++;
		}
	f[k] = NULL;
	run("fattree:hosts=6,leaf=3", f, 1, 0, NULL, v, sizeof(v), NULL);
	expect(v, "leaf0 uplink slow upward (cross-leaf out 0.3x, in 1.0x, intra-leaf 0.99x); "
	          "confirmed 2/2");
	run("fattree:hosts=6,leaf=3", NULL, 1, 0, NULL, v, sizeof(v), NULL);
	expect(v, "");
}

/* The concurrent and sampled schedules also run over the model. */
static void sim__other_schedules(void **state)
{
	char v[4096];
	struct fsc_sim_result r;

	(void)state;
	run("fattree:hosts=256,leaf=16,oversub=1", (const char *[]){"uplink:leaf2:0.3", NULL}, 2, 0,
	    "concurrent", v, sizeof(v), NULL);
	expect(v, "leaf2 uplink slow (cross-leaf cells 0.3x, intra-leaf 1.0x); confirmed 2/2");
	run("fattree:hosts=256,leaf=16,oversub=1", NULL, 2, 0, "sample:40", v, sizeof(v), &r);
	expect(v, "");
	assert_int_equal(r.rounds, 40);
	assert_int_equal(r.cells, 40 * 256);
	fsc_sim_result_fini(&r);
}

static void sim__bad_faults_and_schedules(void **state)
{
	struct fsc_topo *t;
	struct fsc_sim_params p;
	struct fsc_sim_result r;
	const char *bad[] = {"host:h9999:0.3",   "host:h1:1.5",
	                     "host:h1:0",        "host:h1",
	                     "link:h1-h2:0.3",   "link:h1->h1:0.3",
	                     "uplink:spine:0.5", "dead:nobody",
	                     "slow:h1:0.3",      "h1"};

	(void)state;
	assert_int_equal(fsc_topo_load(&t, "fattree:hosts=64,leaf=8", err, sizeof(err)), 0);
	fsc_sim_params_default(&p);
	p.topo = t;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(fsc_sim_fault_parse(&p, bad[i], err, sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, bad[i]));
		assert_non_null(strstr(err, "expected host:NAME:F"));
	}
	assert_int_equal(p.nfaults, 0);
	p.schedule = "serial";
	assert_int_equal(fsc_sim_run(&p, &r, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "serial"));
	p.schedule = "nope";
	assert_int_equal(fsc_sim_run(&p, &r, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "topology"));
	fsc_topo_free(t);
}

/* One cell of the model (fsc_sim_cell) and a round's flows
 * (fsc_sim_round), the figures worked by hand: 64 hosts, 8 per leaf,
 * oversub 2 (4 uplink ports of 25 GB/s a leaf), no noise. */
static void sim__cell_and_round_flows(void **state)
{
	struct fsc_topo *t;
	struct fsc_sim_params p;
	struct fsc_sim_model *m;
	struct fsc_sched s;
	int pa[32], pb[32], up[16], dn[16], intra = 0, cross = 0;

	(void)state;
	assert_int_equal(fsc_topo_load(&t, "fattree:hosts=64,leaf=8,oversub=2", err, sizeof(err)),
	                 0);
	fsc_sim_params_default(&p);
	p.topo = t;
	p.noise = 0;
	p.dips = 0;
	assert_int_equal(fsc_sim_fault_parse(&p, "host:h1:0.3", err, sizeof(err)), 0);
	assert_int_equal(fsc_sim_fault_parse(&p, "uplink:leaf2:0.4", err, sizeof(err)), 0);
	assert_int_equal(fsc_sim_fault_parse(&p, "link:h3->h40:0.15", err, sizeof(err)), 0);
	assert_int_equal(fsc_sim_model_create(&m, &p), 0);
	/* intra-leaf: the NICs, whatever the uplinks carry */
	assert_float_equal(fsc_sim_cell(m, 0, 0, 2, 4, 8, 8), 25, 1e-12);
	assert_float_equal(fsc_sim_cell(m, 0, 0, 1, 4, 8, 8), 7.5, 1e-12);
	assert_float_equal(fsc_sim_cell(m, 0, 0, 16, 17, 8, 8), 25, 1e-12);
	/* crossing: 4 ports shared by 8 flows, or one port alone */
	assert_float_equal(fsc_sim_cell(m, 0, 0, 2, 40, 8, 8), 12.5, 1e-12);
	assert_float_equal(fsc_sim_cell(m, 0, 0, 2, 40, 1, 1), 25, 1e-12);
	/* the slow host, slower than its fair share */
	assert_float_equal(fsc_sim_cell(m, 0, 0, 1, 40, 8, 8), 7.5, 1e-12);
	/* leaf2's uplinks at 0.4x: 40 GB/s for 8 flows, a port at 10 alone */
	assert_float_equal(fsc_sim_cell(m, 0, 0, 16, 40, 8, 8), 5, 1e-12);
	assert_float_equal(fsc_sim_cell(m, 0, 0, 40, 16, 8, 8), 5, 1e-12);
	assert_float_equal(fsc_sim_cell(m, 0, 0, 16, 40, 1, 1), 10, 1e-12);
	/* the link, one way */
	assert_float_equal(fsc_sim_cell(m, 0, 0, 3, 40, 1, 1), 3.75, 1e-12);
	assert_float_equal(fsc_sim_cell(m, 0, 0, 40, 3, 1, 1), 25, 1e-12);
	fsc_sim_model_free(m);

	/* noise: a pure function of (seed, pass, round, src, dst) */
	p.noise = 0.05;
	assert_int_equal(fsc_sim_model_create(&m, &p), 0);
	assert_true(fsc_sim_cell(m, 0, 5, 2, 4, 1, 1) == fsc_sim_cell(m, 0, 5, 2, 4, 1, 1));
	assert_true(fsc_sim_cell(m, 0, 5, 2, 4, 1, 1) != fsc_sim_cell(m, 1, 5, 2, 4, 1, 1));
	assert_true(fsc_sim_cell(m, 0, 5, 2, 4, 1, 1) != fsc_sim_cell(m, 0, 6, 2, 4, 1, 1));
	assert_true(fsc_sim_cell(m, 0, 5, 2, 4, 1, 1) != fsc_sim_cell(m, 0, 5, 4, 2, 1, 1));
	assert_true(fabs(log(fsc_sim_cell(m, 0, 5, 2, 4, 1, 1) / 25)) < 0.05 * 3.5);

	/* the topology schedule: rounds inside the leaves carry no crossing
	 * flow; in a round between leaves every host of a leaf crosses, the
	 * lower leaf of each pair of leaves sending its 8 flows up in phase 0
	 * and receiving 8 down in phase 1, the higher one the other way */
	assert_int_equal(fsc_sched_init_leaves(&s, t->host_leaf, t->nhosts, err, sizeof(err)), 0);
	for (uint64_t r = 0; r < s.rounds; r++) {
		size_t np = fsc_sim_round(m, &s, r, pa, pb, up, dn);
		int any = 0;

		assert_int_equal(np, 32);
		for (size_t i = 0; i < np; i++) {
			assert_true(pa[i] < pb[i]);
			assert_int_equal(fsc_sched_partner(&s, r, pa[i]), pb[i]);
		}
		for (int l = 0; l < 16; l++)
			any |= up[l] || dn[l];
		if (!any) {
			intra++;
			continue;
		}
		cross++;
		for (int l = 0; l < 8; l++) {
			assert_true(up[l] == 8 || up[l] == 0);
			assert_int_equal(up[l] + up[8 + l], 8);
			assert_int_equal(dn[l] + dn[8 + l], 8);
			assert_int_equal(up[l], dn[8 + l]);
			assert_int_equal(dn[l], up[8 + l]);
		}
	}
	assert_int_equal(intra, 7);
	assert_int_equal(cross, 7 * 8);
	fsc_sched_fini(&s);
	fsc_sim_model_free(m);
	fsc_topo_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(sim__cell_and_round_flows),
	        cmocka_unit_test(sim__healthy_seeds_name_nothing),
	        cmocka_unit_test(sim__slow_leaf_uplink),
	        cmocka_unit_test(sim__slow_leaf_uplink_flat_is_many_hosts),
	        cmocka_unit_test(sim__slow_host),
	        cmocka_unit_test(sim__dead_port),
	        cmocka_unit_test(sim__slow_one_way_links),
	        cmocka_unit_test(sim__two_faults),
	        cmocka_unit_test(sim__4k_two_faults),
	        cmocka_unit_test(sim__two_leaves_one_way),
	        cmocka_unit_test(sim__other_schedules),
	        cmocka_unit_test(sim__bad_faults_and_schedules),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
