/* The real matrix driver (src/matrix.h) on the simulated fabric
 * (src/simdrv.h): 1,024 hosts under 32 leaves of 32, oversub 2, the
 * topology schedule, the memory store, its node and link re-tests and its
 * leaf attribution with leaf re-tests, all over fsc_sim_cell.  Three faults
 * at once are named exactly, and nothing else; a host at 0.3x, which only
 * the topology attribution sees, is re-tested and named, also under a
 * slow uplink of its own leaf; a healthy fabric gives no anomaly. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "simdrv.h"

#define T1K "fattree:hosts=1024,leaf=32,oversub=2"
#define T256 "fattree:hosts=256,leaf=32,oversub=2"

static char err[512];

/* Run the driver over topology spec with the faults (NULL-terminated);
 * returns the record, the model's parameters in *p (topology in *t, to
 * free). */
static json_t *run_on(const char *spec, const char *const *faults, uint64_t seed,
                      struct fsc_sim_params *p, struct fsc_topo **t)
{
	struct fsc_simdrv_params dp = {.topology = spec, .store = FSC_MATRIX_STORE_MEMORY};
	json_t *rec;

	assert_int_equal(fsc_topo_load(t, spec, err, sizeof(err)), 0);
	fsc_sim_params_default(p);
	p->topo = *t;
	p->seed = seed;
	for (size_t i = 0; faults && faults[i]; i++)
		if (fsc_sim_fault_parse(p, faults[i], err, sizeof(err)))
			fail_msg("%s", err);
	dp.sim = p;
	if (fsc_simdrv_run(&dp, &rec, err, sizeof(err)))
		fail_msg("%s", err);
	assert_non_null(rec);
	return rec;
}

static json_t *run(const char *const *faults, uint64_t seed, struct fsc_sim_params *p,
                   struct fsc_topo **t)
{
	return run_on(T1K, faults, seed, p, t);
}

static const char *str(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "(none)";
}

/* The unconfirmed anomalies of rec that leaf3's confirmed uplink explains. */
static size_t explained_by_leaf3(const json_t *rec)
{
	const json_t *un = json_object_get(rec, "unconfirmed");
	size_t n = 0;

	for (size_t i = 0; i < json_array_size(un); i++)
		n += strstr(str(json_array_get(un, i), "text"), "explained by leaf3's uplink") !=
		     NULL;
	return n;
}

/* A slow leaf uplink, a slow host on another leaf and a one-way link
 * between two more leaves: the leaf first, then the host and the link,
 * each confirmed by its serial re-tests; leaf3's own hosts, slow across
 * the leaf, are explained by its uplink and not named. */
static void simdrv__three_faults_named_exactly(void **state)
{
	static const char *const faults[] = {"uplink:leaf3:0.4", "host:h700:0.2",
	                                     "link:h5->h900:0.15", NULL};
	struct fsc_sim_params p;
	struct fsc_topo *t;
	json_t *rec = run(faults, 7, &p, &t);
	char why[512];

	(void)state;
	assert_string_equal(str(rec, "status"), "anomaly");
	assert_string_equal(str(rec, "schedule"), "topology");
	assert_string_equal(str(rec, "store"), "memory");
	assert_string_equal(str(rec, "verdict"),
	                    "leaf3 uplink slow (cross-leaf cells 0.4x, intra-leaf 1.0x); "
	                    "confirmed 2/2 | h700: node slow (row 0.4x median, column 0.4x); "
	                    "confirmed 2/2 | link h5->h900 slow (0.3x median); confirmed 2/2");
	assert_int_equal(json_array_size(json_object_get(rec, "leaf_anomalies")), 1);
	assert_int_equal(json_array_size(json_object_get(rec, "anomalies")), 2);
	if (!fsc_simdrv_named(&p, rec, why, sizeof(why)))
		fail_msg("%s", why);
	assert_true(explained_by_leaf3(rec) > 0);
	/* the rounds were the topology schedule's over 1,024 hosts, 31
	 * inside the leaves and 32 x 31 across */
	assert_int_equal(json_integer_value(json_object_get(rec, "rounds")), 31 + 32 * 31);
	assert_true(json_integer_value(json_object_get(json_object_get(rec, "retests"), "steps")) >
	            0);
	json_decref(rec);
	fsc_topo_free(t);
}

/* A NIC at 0.3x under oversub 2 still fills 0.6x of its contended
 * cross-leaf cells, above the flat attribution's 0.5 threshold: the
 * topology attribution names it, and the driver re-tests it serially as a
 * node suspect, alone (256 hosts, 8 leaves, to keep the test short) and
 * beside a slow uplink (1,024 hosts), and names it exactly, in the
 * topology's words (sends and receives net of its leaf). */
static void simdrv__host_at_0_3_named_through_topology(void **state)
{
	static const char *const alone[] = {"host:h200:0.3", NULL};
	static const char *const two[] = {"uplink:leaf3:0.4", "host:h700:0.3", NULL};
	static const char *const *const faults[] = {alone, two};
	static const char *const spec[] = {T256, T1K};
	static const char *const want[] = {
	        "h200: node slow (sends 0.3x, receives 0.3x); confirmed 2/2",
	        "leaf3 uplink slow (cross-leaf cells 0.4x, intra-leaf 1.0x); confirmed 2/2 | "
	        "h700: node slow (sends 0.3x, receives 0.3x); confirmed 2/2"};

	(void)state;
	for (int k = 0; k < 2; k++) {
		struct fsc_sim_params p;
		struct fsc_topo *t;
		json_t *rec = run_on(spec[k], faults[k], 7, &p, &t), *an;
		char why[512];

		assert_string_equal(str(rec, "status"), "anomaly");
		assert_string_equal(str(rec, "verdict"), want[k]);
		an = json_object_get(rec, "anomalies");
		assert_int_equal(json_array_size(an), 1);
		assert_string_equal(str(json_array_get(an, 0), "kind"), "node");
		if (!fsc_simdrv_named(&p, rec, why, sizeof(why)))
			fail_msg("%s", why);
		json_decref(rec);
		fsc_topo_free(t);
	}
}

/* A slow host under a slow uplink (256 hosts): the topology attribution
 * names it net of its leaf, so the confirmed leaf does not explain it
 * away, while it still explains its other hosts. */
static void simdrv__slow_host_on_slow_leaf_named(void **state)
{
	static const char *const faults[] = {"uplink:leaf3:0.4", "host:h100:0.3", NULL};
	struct fsc_sim_params p;
	struct fsc_topo *t;
	json_t *rec = run_on(T256, faults, 7, &p, &t);
	char why[512];

	(void)state;
	assert_string_equal(str(rec, "verdict"),
	                    "leaf3 uplink slow (cross-leaf cells 0.4x, intra-leaf 1.0x); "
	                    "confirmed 2/2 | h100: node slow (row 0.4x median, column 0.4x); "
	                    "confirmed 2/2");
	if (!fsc_simdrv_named(&p, rec, why, sizeof(why)))
		fail_msg("%s", why);
	assert_true(explained_by_leaf3(rec) > 0);
	json_decref(rec);
	fsc_topo_free(t);
}

/* Healthy: no confirmed anomaly, no leaf anomaly; and the check of the
 * faults does say so when a fault is not named. */
static void simdrv__healthy_names_nothing(void **state)
{
	struct fsc_sim_params p, q;
	struct fsc_topo *t;
	json_t *rec = run(NULL, 7, &p, &t);
	char why[512];

	(void)state;
	assert_string_equal(str(rec, "status"), "ok");
	assert_non_null(strstr(str(rec, "verdict"), "no anomaly"));
	assert_int_equal(json_array_size(json_object_get(rec, "anomalies")), 0);
	assert_int_equal(json_array_size(json_object_get(rec, "leaf_anomalies")), 0);
	assert_int_equal(fsc_simdrv_named(&p, rec, why, sizeof(why)), 1);
	q = p;
	assert_int_equal(fsc_sim_fault_parse(&q, "link:h5->h900:0.15", err, sizeof(err)), 0);
	assert_int_equal(fsc_simdrv_named(&q, rec, why, sizeof(why)), 0);
	assert_string_equal(why, "not named: link h5->h900");
	json_decref(rec);
	fsc_topo_free(t);
}

/* The driver's topology must be the model's. */
static void simdrv__topology_mismatch(void **state)
{
	struct fsc_sim_params p;
	struct fsc_topo *t;
	struct fsc_simdrv_params dp = {.topology = "fattree:hosts=64,leaf=16"};
	json_t *rec = (json_t *)1;

	(void)state;
	assert_int_equal(fsc_topo_load(&t, "fattree:hosts=64,leaf=8", err, sizeof(err)), 0);
	fsc_sim_params_default(&p);
	p.topo = t;
	dp.sim = &p;
	assert_int_equal(fsc_simdrv_run(&dp, &rec, err, sizeof(err)), -EINVAL);
	assert_null(rec);
	assert_non_null(strstr(err, "fattree:hosts=64,leaf=16"));
	assert_non_null(strstr(err, "64 hosts on 4 leaves, the model 64 on 8"));
	dp.topology = "fattree:hosts=0";
	assert_int_equal(fsc_simdrv_run(&dp, &rec, err, sizeof(err)), -EINVAL);
	fsc_topo_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(simdrv__topology_mismatch),
	        cmocka_unit_test(simdrv__healthy_names_nothing),
	        cmocka_unit_test(simdrv__three_faults_named_exactly),
	        cmocka_unit_test(simdrv__host_at_0_3_named_through_topology),
	        cmocka_unit_test(simdrv__slow_host_on_slow_leaf_named),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
