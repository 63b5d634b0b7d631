/* The pairs pattern over the loopback fabric: exact matrices from the
 * virtual clock, injected slow links and slow nodes named end to end,
 * per-host and per-rank matrices, schedules, streaming and CSV.
 *
 * Loopback model (fabrics/loopback/README.md): a B-byte message on a link
 * with latency L and bandwidth W GB/s occupies the link B/W ns and arrives
 * L ns after that; a slow link or rank of factor F has bandwidth W*F and
 * latency L/F.  With L = 1 us, W = 1 GB/s, 64 KiB x window 4:
 *   one bandwidth repeat = 4 * 65536 + 1000 (window) + 4 + 1000 (ack)
 *                        = 264148 ns -> 262144 / 264148 GB/s;
 *   one 8-byte half round trip = 8 + 1000 = 1008 ns.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "json_fields.h"
#include "analysis.h"
#include "matrix.h"

#include "lb_harness.h"

/* Healthy cells on the default loopback model (GB/s as a fraction of
 * 1 GB/s, and us). */
#define BW_OK (262144.0 / 264148.0)
#define LAT_OK 1.008

/* Small, fast matrices on an exactly known loopback model. */
#define ARGS(j, ...)                                                                               \
	LBH_ARGS(j, "--fabric", "loopback", "--lb-lat", "1us", "--lb-bw", "1", "--pairs-bw-size",  \
	         "64K", "--pairs-window", "4", "--pairs-repeats", "3", "--pairs-lat-iters", "10",  \
	         __VA_ARGS__)

static const char *const distinct_hosts[LBH_MAX_RANKS] = {"h0", "h1", "h2", "h3",
                                                          "h4", "h5", "h6", "h7"};

/* One pairs run that must succeed on every rank, the same verdict
 * everywhere; returns its single record. */
static json_t *run_job(struct lbh_job *j, int n)
{
	const char *const *hosts = j->hosts;
	json_t *recs, *rec;

	j->pattern = "pairs";
	if (!j->hosts)
		j->hosts = distinct_hosts;
	recs = lbh_run(j, n);
	j->hosts = hosts;
	for (int i = 0; i < n; i++) {
		assert_int_equal(j->rc[i], 0);
		assert_int_equal(j->failed[i], j->failed[0]);
	}
	assert_int_equal(json_array_size(recs), 1);
	rec = json_incref(json_array_get(recs, 0));
	json_decref(recs);
	return rec;
}

static const char *str(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	assert_non_null(s);
	return s;
}

static double num(json_t *o, const char *k)
{
	return json_number_value(json_object_get(o, k));
}

static json_t *cell(json_t *rec, const char *m, int i, int j)
{
	return json_array_get(json_array_get(json_object_get(rec, m), (size_t)i), (size_t)j);
}

/* Every off-diagonal cell measured, at the exact healthy value except
 * those listed in skip (src * 100 + dst). */
static void assert_matrix_healthy(json_t *rec, int n, const int *skip, size_t nskip)
{
	assert_int_equal(json_array_size(json_object_get(rec, "bw_GBps")), n);
	for (int i = 0; i < n; i++) {
		assert_int_equal(
		        json_array_size(json_array_get(json_object_get(rec, "bw_GBps"), (size_t)i)),
		        n);
		for (int j = 0; j < n; j++) {
			int skipped = 0;

			if (i == j) {
				assert_true(json_is_null(cell(rec, "bw_GBps", i, j)));
				assert_true(json_is_null(cell(rec, "lat_us", i, j)));
				continue;
			}
			for (size_t k = 0; k < nskip; k++)
				skipped |= skip[k] == i * 100 + j;
			if (skipped)
				continue;
			assert_float_equal(json_number_value(cell(rec, "bw_GBps", i, j)), BW_OK,
			                   1e-12);
			assert_float_equal(json_number_value(cell(rec, "lat_us", i, j)), LAT_OK,
			                   1e-12);
		}
	}
}

static void fsc_pattern_pairs__healthy_matrix_exact_and_no_anomaly(void **state)
{
	struct lbh_job j = {0};
	json_t *rec;

	(void)state;
	ARGS(&j, "--seed", "7");
	rec = run_job(&j, 4);
	assert_string_equal(str(rec, "status"), "ok");
	assert_string_equal(str(rec, "granularity"), "host");
	assert_int_equal((int)num(rec, "rounds"), 3); /* n - 1 for even n */
	assert_int_equal((int)num(rec, "rounds_done"), 3);
	assert_int_equal((int)num(rec, "pairs_per_round"), 2);
	assert_int_equal((int)num(rec, "wrong"), 0);
	assert_matrix_healthy(rec, 4, 0, 0);
	/* min and max over repeats equal the median on the virtual clock */
	assert_float_equal(json_number_value(cell(rec, "bw_min_GBps", 1, 3)), BW_OK, 1e-12);
	assert_float_equal(json_number_value(cell(rec, "bw_max_GBps", 3, 1)), BW_OK, 1e-12);
	assert_float_equal(json_number_value(cell(rec, "lat_p99_us", 2, 0)), LAT_OK, 1e-12);
	assert_int_equal(json_array_size(json_object_get(rec, "anomalies")), 0);
	assert_int_equal(json_array_size(json_object_get(rec, "unconfirmed")), 0);
	assert_string_equal(json_string_value(json_array_get(json_object_get(rec, "labels"), 2)),
	                    "h2");
	assert_non_null(strstr(str(rec, "verdict"), "no anomaly (12 cells"));
	/* nothing to re-test */
	assert_int_equal((int)num(json_object_get(rec, "retests"), "steps"), 0);
	assert_int_equal(j.failed[0], 0);
	json_decref(rec);
}

/* Exactly one bandwidth link, src -> dst, and the pair's round trip. */
static void assert_only_link(json_t *rec, int src, int dst)
{
	json_t *an = json_object_get(rec, "anomalies"), *a;
	json_t *labels = json_object_get(rec, "labels");
	const char *ls = json_string_value(json_array_get(labels, (size_t)src));
	const char *ld = json_string_value(json_array_get(labels, (size_t)dst));
	char text[128];

	assert_string_equal(str(rec, "status"), "anomaly");
	assert_int_equal(json_array_size(an), 2);
	a = json_array_get(an, 0);
	assert_string_equal(str(a, "kind"), "link");
	assert_string_equal(str(a, "metric"), "bandwidth");
	assert_string_equal(str(a, "direction"), "one-way");
	assert_int_equal((int)num(a, "src"), src);
	assert_int_equal((int)num(a, "dst"), dst);
	assert_string_equal(json_string_value(json_array_get(json_object_get(a, "hosts"), 0)), ls);
	assert_string_equal(json_string_value(json_array_get(json_object_get(a, "hosts"), 1)), ld);
	assert_int_equal((int)num(a, "confirmations"), 2);
	assert_int_equal((int)num(a, "retests"), 2);
	assert_true(num(a, "ratio") > 0.09 && num(a, "ratio") < 0.11);
	assert_float_equal(num(a, "expected"), BW_OK, 1e-12);
	snprintf(text, sizeof(text), "link %s->%s slow (0.1x median); confirmed 2/2", ls, ld);
	assert_string_equal(str(a, "text"), text);
	/* a ping-pong slows both latency cells of the pair: one round trip */
	a = json_array_get(an, 1);
	assert_string_equal(str(a, "kind"), "link");
	assert_string_equal(str(a, "metric"), "latency");
	assert_string_equal(str(a, "direction"), "both");
	assert_int_equal((int)num(a, "src"), src < dst ? src : dst);
	assert_int_equal((int)num(a, "dst"), src < dst ? dst : src);
	assert_int_equal(json_array_size(json_object_get(rec, "unconfirmed")), 0);
	/* 2 passes over the suspect pair and the 2 reference pairs */
	assert_int_equal((int)num(json_object_get(rec, "retests"), "steps"), 6);
	assert_true(num(json_object_get(rec, "retests"), "duration_s") > 0);
}

/* 4 ranks with --lb-slow-link 0:2:0.1: that link alone is named, at its
 * figure (0->2: 4 x 655360 + 10000 + ack 4 + 1000 ns), and every other
 * cell is healthy. */
static void assert_slow_link_0_2(json_t *rec)
{
	int skip4[] = {2, 200};

	assert_only_link(rec, 0, 2);
	assert_float_equal(json_number_value(cell(rec, "bw_GBps", 0, 2)),
	                   262144.0 / (2621440 + 10000 + 1004), 1e-12);
	assert_matrix_healthy(rec, 4, skip4, 2);
}

/* The fewest and the most timed windows a cell got. */
static void assert_bw_windows(json_t *rec, long long min, long long max)
{
	json_t *w = json_object_get(rec, "bw_windows");

	assert_int_equal(json_integer_value(json_object_get(w, "min")), min);
	assert_int_equal(json_integer_value(json_object_get(w, "max")), max);
}

static void fsc_pattern_pairs__slow_link_named_with_its_direction(void **state)
{
	struct lbh_job j = {0};
	json_t *rec;
	int skip5[] = {204, 402};

	(void)state;
	ARGS(&j, "--lb-slow-link", "0:2:0.1");
	rec = run_job(&j, 4);
	assert_slow_link_0_2(rec);
	/* half of 80 + 10000 + 8 + 1000 */
	assert_float_equal(json_number_value(cell(rec, "lat_us", 0, 2)), 5.544, 1e-12);
	assert_float_equal(json_number_value(cell(rec, "lat_us", 2, 0)), 5.544, 1e-12);
	assert_non_null(strstr(str(rec, "verdict"), "link h0->h2 slow (0.1x median)"));
	assert_non_null(strstr(str(rec, "verdict"), "link h0<->h2 high latency"));
	assert_int_equal(j.failed[0], 0); /* no --fail-on-anomaly */
	json_decref(rec);

	/* odd n: 5 rounds, one node idle in each */
	ARGS(&j, "--lb-slow-link", "4:2:0.1");
	rec = run_job(&j, 5);
	assert_int_equal((int)num(rec, "rounds"), 5);
	assert_only_link(rec, 4, 2);
	assert_matrix_healthy(rec, 5, skip5, 2);
	json_decref(rec);
}

/* --pairs-cell-time: the receiver counts the timed windows from the pace
 * of the verification window and tells the sender in its ack.  Healthy
 * cells (264 us a window here) get enough windows to fill 2 ms; the link
 * at 0.1x (2.6 ms a window) keeps the floor of --pairs-repeats; figures and
 * the verdict are those of fixed repeats. */
static void fsc_pattern_pairs__cell_time_sets_windows_per_cell(void **state)
{
	struct lbh_job j = {0};
	json_t *rec;

	(void)state;
	ARGS(&j, "--lb-slow-link", "0:2:0.1", "--pairs-cell-time", "2ms");
	rec = run_job(&j, 4);
	assert_int_equal((long long)num(rec, "cell_time_ns"), 2000000);
	assert_bw_windows(rec, 3, 8);
	assert_slow_link_0_2(rec);
	json_decref(rec);

	/* 0: exactly --pairs-repeats everywhere */
	ARGS(&j, "--pairs-cell-time", "0");
	rec = run_job(&j, 3);
	assert_bw_windows(rec, 3, 3);
	assert_int_equal((long long)num(rec, "cell_max_time_ns"), 1000000000);
	json_decref(rec);

	/* --pairs-cell-max-time: the 0.1x link's 3 windows (7.9 ms) would pass
	 * 5 ms, so it gets 2; the healthy cells (0.8 ms) keep 3; the figures
	 * and the verdict stay */
	ARGS(&j, "--lb-slow-link", "0:2:0.1", "--pairs-cell-time", "0", "--pairs-cell-max-time",
	     "5ms");
	rec = run_job(&j, 4);
	assert_bw_windows(rec, 2, 3);
	assert_slow_link_0_2(rec);
	json_decref(rec);
}

static void assert_only_node(json_t *rec, int node)
{
	json_t *an = json_object_get(rec, "anomalies");
	char text[64];
	int seen_bw = 0;

	assert_string_equal(str(rec, "status"), "anomaly");
	assert_true(json_array_size(an) >= 1);
	for (size_t i = 0; i < json_array_size(an); i++) {
		json_t *a = json_array_get(an, i);

		assert_string_equal(str(a, "kind"), "node");
		assert_int_equal((int)num(a, "src"), node);
		assert_true(json_is_null(json_object_get(a, "dst")));
		assert_string_equal(str(a, "direction"), "both");
		assert_int_equal((int)num(a, "confirmations"), 2);
		if (!strcmp(str(a, "metric"), "bandwidth")) {
			seen_bw = 1;
			assert_true(num(a, "row_ratio") > 0.19 && num(a, "row_ratio") < 0.21);
			assert_true(num(a, "col_ratio") > 0.19 && num(a, "col_ratio") < 0.21);
		}
	}
	assert_true(seen_bw);
	snprintf(text, sizeof(text), "h%d: node slow (row 0.2x median, column 0.2x)", node);
	assert_non_null(strstr(str(rec, "verdict"), text));
	assert_false(json_is_true(json_object_get(rec, "ambiguous")));
}

static void fsc_pattern_pairs__slow_node_named_as_a_node(void **state)
{
	struct lbh_job j = {0};
	json_t *rec;

	(void)state;
	ARGS(&j, "--lb-slow-rank", "3:0.2");
	rec = run_job(&j, 4);
	assert_only_node(rec, 3);
	json_decref(rec);

	ARGS(&j, "--lb-slow-rank", "1:0.2");
	rec = run_job(&j, 5);
	assert_only_node(rec, 1);
	json_decref(rec);
}

static void fsc_pattern_pairs__fail_on_anomaly_fails_the_run(void **state)
{
	struct lbh_job j = {0};
	json_t *rec;

	(void)state;
	ARGS(&j, "--lb-slow-link", "1:3:0.1", "--fail-on-anomaly");
	rec = run_job(&j, 4);
	assert_only_link(rec, 1, 3);
	for (int i = 0; i < 4; i++)
		assert_int_equal(j.failed[i], 1);
	json_decref(rec);

	ARGS(&j, "--fail-on-anomaly");
	rec = run_job(&j, 4);
	assert_string_equal(str(rec, "status"), "ok");
	assert_int_equal(j.failed[0], 0);
	json_decref(rec);
}

static const char *const two_per_host[] = {"h0", "h0", "h1", "h1", "h2", "h2"};

static void fsc_pattern_pairs__per_host_matrix_with_host_labels(void **state)
{
	struct lbh_job j = {.hosts = two_per_host};
	json_t *rec, *labels, *ranks;

	(void)state;
	ARGS(&j, "--seed", "3");
	rec = run_job(&j, 6);
	assert_string_equal(str(rec, "status"), "ok");
	assert_string_equal(str(rec, "granularity"), "host");
	assert_int_equal((int)num(rec, "nodes"), 3);
	assert_int_equal((int)num(rec, "rounds"), 3); /* odd n */
	labels = json_object_get(rec, "labels");
	ranks = json_object_get(rec, "node_ranks");
	assert_int_equal(json_array_size(labels), 3);
	for (int i = 0; i < 3; i++) {
		char h[8];

		snprintf(h, sizeof(h), "h%d", i);
		assert_string_equal(json_string_value(json_array_get(labels, (size_t)i)), h);
		/* the host's first rank carries the traffic */
		assert_int_equal((int)json_integer_value(json_array_get(ranks, (size_t)i)), 2 * i);
	}
	assert_matrix_healthy(rec, 3, 0, 0);
	json_decref(rec);
}

static void fsc_pattern_pairs__per_rank_matrix_on_request(void **state)
{
	struct lbh_job j = {.hosts = two_per_host};
	json_t *rec, *labels;

	(void)state;
	ARGS(&j, "--pairs-per-rank", "--lb-slow-link", "5:1:0.1");
	rec = run_job(&j, 6);
	assert_string_equal(str(rec, "granularity"), "rank");
	assert_int_equal((int)num(rec, "nodes"), 6);
	assert_int_equal((int)num(rec, "rounds"), 5);
	labels = json_object_get(rec, "labels");
	assert_string_equal(json_string_value(json_array_get(labels, 0)), "h0/r0");
	assert_string_equal(json_string_value(json_array_get(labels, 3)), "h1/r3");
	assert_string_equal(json_string_value(json_array_get(labels, 5)), "h2/r5");
	assert_only_link(rec, 5, 1);
	assert_non_null(strstr(str(rec, "verdict"), "link h2/r5->h0/r1 slow (0.1x median)"));
	json_decref(rec);
}

static int measured_cells(json_t *rec, int n)
{
	int k = 0;

	for (int i = 0; i < n; i++)
		for (int j = 0; j < n; j++)
			k += json_is_number(cell(rec, "bw_GBps", i, j)) &&
			     json_is_number(cell(rec, "lat_us", i, j));
	return k;
}

static void fsc_pattern_pairs__serial_and_sampled_schedules(void **state)
{
	struct lbh_job j = {0};
	json_t *rec;

	(void)state;
	ARGS(&j, "--pairs-schedule", "serial", "--lb-slow-rank", "2:0.2");
	rec = run_job(&j, 4);
	assert_int_equal((int)num(rec, "rounds"), 6); /* n(n-1)/2 */
	assert_int_equal((int)num(rec, "pairs_per_round"), 1);
	assert_int_equal(measured_cells(rec, 4), 12);
	assert_only_node(rec, 2);
	json_decref(rec);

	/* sample:2 of 5 circle rounds on 6 nodes: 2 x 3 pairs, both ways */
	ARGS(&j, "--pairs-schedule", "sample:2");
	rec = run_job(&j, 6);
	assert_int_equal((int)num(rec, "rounds"), 2);
	assert_int_equal(measured_cells(rec, 6), 12);
	assert_string_equal(str(rec, "status"), "ok");
	json_decref(rec);
}

static void fsc_pattern_pairs__corrupted_byte_is_counted(void **state)
{
	struct lbh_job j = {0};
	json_t *rec;

	(void)state;
	/* message 0 on 0->1 is the first of the pair's verification window */
	ARGS(&j, "--lb-corrupt", "0:1:0:5");
	rec = run_job(&j, 4);
	assert_string_equal(str(rec, "status"), "wrong");
	assert_int_equal((int)num(rec, "wrong"), 1);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(j.failed[i], 1);
		assert_int_equal(j.wrong[i], 1);
	}
	json_decref(rec);
}

static void fsc_pattern_pairs__streams_results_and_writes_csv(void **state)
{
	char dir[] = "/tmp/fsc-pairs-XXXXXX", path[128], csv[160], line[256], err[256];
	struct lbh_job j = {0};
	json_t *rec, *doc, *frec;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/run.json", dir);
	j.path = path;
	ARGS(&j, "--seed", "1");
	rec = run_job(&j, 4);
	/* the file holds the record with its matrices (written every round) */
	assert_int_equal(fsc_results_load(path, &doc, err, sizeof(err)), 0);
	frec = json_array_get(json_object_get(doc, "records"), 0);
	assert_string_equal(str(frec, "pattern"), "pairs");
	assert_int_equal((int)num(frec, "rounds_done"), 3);
	assert_int_equal(measured_cells(frec, 4), 12);
	assert_string_equal(str(frec, "status"), "ok");
	json_decref(doc);
	/* CSV beside it: <results without .json>.<fabric>.bw.csv */
	snprintf(csv, sizeof(csv), "%s/run.loopback.bw.csv", dir);
	assert_string_equal(json_string_value(json_object_get(json_object_get(rec, "csv"), "bw")),
	                    csv);
	f = fopen(csv, "r");
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof(line), f));
	assert_string_equal(line, "src\\dst,h0,h1,h2,h3\n");
	assert_non_null(fgets(line, sizeof(line), f));
	assert_string_equal(line, "h0,,0.992413,0.992413,0.992413\n");
	fclose(f);
	unlink(csv);
	snprintf(csv, sizeof(csv), "%s/run.loopback.lat.csv", dir);
	f = fopen(csv, "r");
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof(line), f));
	assert_non_null(fgets(line, sizeof(line), f));
	assert_string_equal(line, "h0,,1.008,1.008,1.008\n");
	fclose(f);
	unlink(csv);
	unlink(path);
	/* the record stream beside it: the harness never finishes the run */
	snprintf(csv, sizeof(csv), "%s.jsonl", path);
	unlink(csv);
	assert_int_equal(rmdir(dir), 0);
	json_decref(rec);
}

static void fsc_pattern_pairs__threshold_defaults_are_the_analysis_defaults(void **state)
{
	struct fsc_opt_group g[FSC_MAX_OPT_GROUPS];
	struct fsc_attrib_params p;
	struct fsc_config *cfg = 0;

	(void)state;
	assert_int_equal(
	        fsc_config_defaults(&cfg, g, fsc_session_option_groups(g, FSC_MAX_OPT_GROUPS)), 0);
	fsc_attrib_params_default(&p);
	assert_true(fsc_cfg_double(cfg, "pairs-bw-ratio") == p.bw_link_ratio);
	assert_true(fsc_cfg_double(cfg, "pairs-bw-ratio") == p.bw_node_ratio);
	assert_true(fsc_cfg_double(cfg, "pairs-lat-ratio") == p.lat_link_ratio);
	assert_true(fsc_cfg_double(cfg, "pairs-lat-ratio") == p.lat_node_ratio);
	assert_string_equal(fsc_cfg_str(cfg, "pairs-schedule"), "concurrent");
	fsc_config_free(cfg);
}

static void fsc_pattern_pairs__bad_schedule_is_rejected(void **state)
{
	struct lbh_job j = {0};
	struct fsc_boot b = {.rank = 0, .size = 4};
	struct fsc_runner r;
	struct fsc_config *cfg;
	char err[256];

	(void)state;
	ARGS(&j, "--pairs-schedule", "sample:0");
	cfg = lbh_config(j.nargs, j.args);
	fsc_runner_init(&r, &b, cfg, 0, 0);
	assert_int_equal(fsc_runner_validate(&r, fsc_pattern_find("pairs"), err, sizeof(err)),
	                 -EINVAL);
	assert_non_null(strstr(err, "--pairs-schedule"));
	fsc_runner_fini(&r);
	fsc_config_free(cfg);

	ARGS(&j, "--pairs-schedule", "random");
	cfg = lbh_config(j.nargs, j.args);
	fsc_runner_init(&r, &b, cfg, 0, 0);
	assert_int_equal(fsc_runner_validate(&r, fsc_pattern_find("pairs"), err, sizeof(err)),
	                 -EINVAL);
	assert_non_null(strstr(err, "'random'"));
	fsc_runner_fini(&r);
	fsc_config_free(cfg);
}

/* Two leaf switches of three hosts under one spine (topology.conf). */
static const char two_leaves[] = "SwitchName=leafA Nodes=h[0-2]\nSwitchName=leafB Nodes=h[3-5]\n"
                                 "SwitchName=spine Switches=leafA,leafB\n";

/* Writes conf to a new file made from the mkstemp template path, which then
 * names it; the caller unlinks it. */
static void write_topology(char *path, const char *conf)
{
	size_t len = strlen(conf);
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, conf, len), (ssize_t)len);
	close(fd);
}

/* --topology: each host's leaf in the record, the terminal's leaf lines,
 * and every cross-leaf link out of one leaf throttled (what the virtual
 * cluster's uplink test does with tc) shown as that leaf's uplink, not as
 * its three hosts. */
static void fsc_pattern_pairs__topology_names_the_leaf(void **state)
{
	char path[] = "/tmp/fsc_pairs_topo_XXXXXX";
	struct lbh_job j = {0};
	json_t *rec, *sum, *sus;

	(void)state;
	write_topology(path, two_leaves);
	ARGS(&j, "--topology", path, "--lb-slow-link",
	     "0:3:0.1,0:4:0.1,0:5:0.1,1:3:0.1,1:4:0.1,1:5:0.1,2:3:0.1,2:4:0.1,2:5:0.1");
	rec = run_job(&j, 6);
	assert_string_equal(str(rec, "topology"), path);
	for (int i = 0; i < 6; i++)
		assert_string_equal(json_string_value(json_array_get(json_object_get(rec, "leaves"),
		                                                     (size_t)i)),
		                    i < 3 ? "leafA" : "leafB");
	sum = json_object_get(rec, "leaf_summary");
	assert_int_equal(json_array_size(sum), 2);
	assert_string_equal(str(json_array_get(sum, 0), "leaf"), "leafA");
	assert_float_equal(num(json_array_get(sum, 0), "cross_out"), 0.1, 0.01);
	assert_float_equal(num(json_array_get(sum, 0), "intra"), 1, 0.01);
	/* two leaves: each cross block against the intra-leaf centre; leafB's
	 * way out reads 0.95x on the virtual clock, far from the 0.5x line */
	assert_float_equal(num(json_array_get(sum, 1), "cross_out"), 1, 0.1);
	sus = json_object_get(rec, "leaf_suspects");
	assert_int_equal(json_array_size(sus), 1);
	/* re-tested serially: crossing pairs against non-crossing ones */
	assert_string_equal(json_string_value(json_array_get(sus, 0)),
	                    "leafA uplink slow upward (cross-leaf out 0.098x, in 1.0x, intra-leaf "
	                    "1.0x); confirmed 2/2");
	assert_int_equal(json_array_size(json_object_get(rec, "leaf_anomalies")), 1);
	assert_string_equal(str(rec, "status"), "anomaly");
	assert_string_equal(str(rec, "verdict"), json_string_value(json_array_get(sus, 0)));
	/* its three hosts, slow sending through it, are explained, not named */
	assert_int_equal(json_array_size(json_object_get(rec, "anomalies")), 0);
	assert_int_equal(json_array_size(json_object_get(rec, "unconfirmed")), 3);
	for (size_t i = 0; i < 3; i++)
		assert_non_null(
		        strstr(str(json_array_get(json_object_get(rec, "unconfirmed"), i), "text"),
		               "; explained by leafA's uplink"));
	json_decref(rec);

	/* healthy: no leaf suspect; a slow host stays a host */
	ARGS(&j, "--topology", path);
	rec = run_job(&j, 6);
	assert_string_equal(str(rec, "status"), "ok");
	assert_int_equal(json_array_size(json_object_get(rec, "leaf_suspects")), 0);
	json_decref(rec);
	ARGS(&j, "--topology", path, "--lb-slow-rank", "4:0.1");
	rec = run_job(&j, 6);
	assert_int_equal(json_array_size(json_object_get(rec, "leaf_anomalies")), 0);
	assert_non_null(strstr(str(rec, "verdict"), "h4: node slow"));
	json_decref(rec);
	unlink(path);
	/* a topology that cannot be read is refused before the run */
	{
		struct fsc_boot b = {.rank = 0, .size = 4};
		struct fsc_runner r;
		struct fsc_config *cfg;
		char err[512];

		ARGS(&j, "--topology", path);
		cfg = lbh_config(j.nargs, j.args);
		fsc_runner_init(&r, &b, cfg, 0, 0);
		assert_int_equal(
		        fsc_runner_validate(&r, fsc_pattern_find("pairs"), err, sizeof(err)),
		        -EINVAL);
		assert_non_null(strstr(err, "--topology"));
		assert_non_null(strstr(err, path));
		fsc_runner_fini(&r);
		fsc_config_free(cfg);
	}
}

/* Two leaves on a noisy fabric (the 6-host virtual cluster's figures):
 * healthy cells from 0.55x to 1x, every cell out of leafA at 0.03x.  With
 * two leaves the blocks are judged against the intra-leaf centre, and the
 * leaf is a candidate past the ratio however wide the noise: re-tested,
 * confirmed, and named instead of its three hosts. */
static void fsc_pattern_pairs__two_leaves_on_a_noisy_fabric_name_the_leaf(void **state)
{
	char path[] = "/tmp/fsc_pairs_topo2_XXXXXX";
	struct lbh_job j = {0};
	json_t *rec, *sus;

	(void)state;
	write_topology(path, two_leaves);
	ARGS(&j, "--topology", path, "--lb-slow-link",
	     "0:3:0.03,0:4:0.03,0:5:0.03,1:3:0.03,1:4:0.03,1:5:0.03,2:3:0.03,2:4:0.03,2:5:0.03,"
	     "3:1:0.6,4:0:0.7,5:0:0.55,5:2:0.6,1:0:0.65,4:3:0.7,5:3:0.6,2:1:0.6,0:2:0.7");
	rec = run_job(&j, 6);
	sus = json_object_get(rec, "leaf_suspects");
	assert_int_equal(json_array_size(sus), 1);
	assert_non_null(strstr(json_string_value(json_array_get(sus, 0)),
	                       "leafA uplink slow upward (cross-leaf out 0.03"));
	assert_int_equal(json_array_size(json_object_get(rec, "leaf_anomalies")), 1);
	assert_int_equal(json_array_size(json_object_get(rec, "anomalies")), 0);
	assert_string_equal(str(rec, "verdict"), json_string_value(json_array_get(sus, 0)));
	json_decref(rec);
	unlink(path);
}

/* --pairs-schedule topology on the loopback fabric: two leaves whose hosts
 * interleave the ranks; the rounds pair hosts inside each leaf, then across,
 * every ordered pair measured once per direction at the exact healthy
 * value; a slow cross-leaf link is still named with its direction; the
 * estimate from the first round matches the rounds' time on the virtual
 * clock. */
static void fsc_pattern_pairs__topology_schedule_every_pair_and_a_slow_link(void **state)
{
	char path[] = "/tmp/fsc_pairs_tsched_XXXXXX";
	const char conf[] = "SwitchName=leafA Nodes=h[0,2,4]\nSwitchName=leafB Nodes=h[1,3,5]\n";
	static const int skip[] = {401, 104};
	struct lbh_job j = {0};
	json_t *rec;
	double est, took;

	(void)state;
	write_topology(path, conf);
	ARGS(&j, "--pairs-schedule", "topology", "--topology", path);
	rec = run_job(&j, 6);
	assert_string_equal(str(rec, "schedule"), "topology");
	assert_int_equal((int)num(rec, "rounds"), 6); /* 3 inside the leaves, 3 across */
	assert_int_equal((int)num(rec, "rounds_done"), 6);
	assert_int_equal(measured_cells(rec, 6), 30);
	assert_matrix_healthy(rec, 6, 0, 0);
	assert_string_equal(str(rec, "status"), "ok");
	/* every round moves the same bytes on equal links: the estimate is
	 * the rounds' time on the virtual clock, within rounding */
	est = num(rec, "estimate_s");
	took = num(rec, "rounds_s");
	assert_true(num(rec, "first_round_s") > 0);
	assert_true(est > 0.9 * took && est < 1.1 * took);
	json_decref(rec);

	/* a slow one-way link across the leaves (h4 on leafA -> h1 on leafB) */
	ARGS(&j, "--pairs-schedule", "topology", "--topology", path, "--lb-slow-link", "4:1:0.1");
	rec = run_job(&j, 6);
	assert_int_equal(measured_cells(rec, 6), 30);
	assert_matrix_healthy(rec, 6, skip, 2);
	assert_only_link(rec, 4, 1);
	/* one slow round of six: the estimate stays within a factor of 2 */
	est = num(rec, "estimate_s");
	took = num(rec, "rounds_s");
	assert_true(est > 0.5 * took && est <= took);
	json_decref(rec);
	unlink(path);

	/* without --topology: refused before the run, naming what is missing */
	{
		struct fsc_boot b = {.rank = 0, .size = 4};
		struct fsc_runner r;
		struct fsc_config *cfg;
		char err[512];

		ARGS(&j, "--pairs-schedule", "topology");
		cfg = lbh_config(j.nargs, j.args);
		fsc_runner_init(&r, &b, cfg, 0, 0);
		assert_int_equal(
		        fsc_runner_validate(&r, fsc_pattern_find("pairs"), err, sizeof(err)),
		        -EINVAL);
		assert_non_null(strstr(err, "--pairs-schedule topology needs --topology"));
		assert_null(strchr(err, '\n'));
		fsc_runner_fini(&r);
		fsc_config_free(cfg);
	}
}

/* --pairs-store disk: the matrix in a file instead of memory gives the
 * same record (cells, suspects, verdict) on the loopback model, with a
 * slow link and a slow node; the record says which store held it; a bad
 * value is refused with the valid ones. */
static void fsc_pattern_pairs__disk_store_same_suspects_as_memory(void **state)
{
	static const char *const keys[] = {"bw_GBps", "lat_us",    "anomalies",  "unconfirmed",
	                                   "verdict", "bw_spread", "lat_spread", "candidates"};
	const char *store[2] = {"memory", "disk"};
	struct lbh_job j = {0};
	struct fsc_config *cfg;
	json_t *rec[2];
	char err[256];

	(void)state;
	for (int k = 0; k < 2; k++) {
		ARGS(&j, "--lb-slow-link", "0:2:0.1", "--lb-slow-rank", "4:0.2", "--pairs-store",
		     store[k]);
		rec[k] = run_job(&j, 6);
		assert_string_equal(str(rec[k], "store"), store[k]);
	}
	assert_json_fields_equal(rec[0], rec[1], keys, sizeof(keys) / sizeof(keys[0]));
	assert_non_null(strstr(str(rec[1], "verdict"), "link h0->h2 slow"));
	assert_non_null(strstr(str(rec[1], "verdict"), "h4: node slow"));
	json_decref(rec[0]);
	json_decref(rec[1]);

	{
		struct fsc_opt_group g[FSC_MAX_OPT_GROUPS];
		char *argv[] = {(char *)"run", (char *)"--pairs-store", (char *)"tape"};

		cfg = 0;
		assert_int_not_equal(
		        fsc_config_parse(&cfg, g, fsc_session_option_groups(g, FSC_MAX_OPT_GROUPS),
		                         3, argv, 0, err, sizeof(err)),
		        0);
		assert_non_null(strstr(err, "tape"));
		assert_non_null(strstr(err, "disk"));
		fsc_config_free(cfg);
	}
}

/* The lines of a text file into line[] (fewer than max, each under 256
 * characters); returns how many. */
static int read_lines(const char *path, char (*line)[256], int max)
{
	FILE *f = fopen(path, "r");
	int k = 0;

	assert_non_null(f);
	while (k < max && fgets(line[k], 256, f)) {
		assert_non_null(strchr(line[k], '\n'));
		k++;
	}
	assert_true(k < max);
	fclose(f);
	return k;
}

/* Node `node`'s medians from the record's per_node as the CSV writes
 * them. */
static void per_node_csv(json_t *rec, int node, char *out, size_t len)
{
	static const char *const keys[] = {"bw_send_GBps", "bw_recv_GBps", "lat_send_us",
	                                   "lat_recv_us"};
	json_t *o = json_array_get(json_object_get(rec, "per_node"), (size_t)node);
	size_t at = 0;

	for (int q = 0; q < 4; q++)
		at += (size_t)snprintf(out + at, len - at, ",%.6g", num(o, keys[q]));
	snprintf(out + at, len - at, "\n");
}

/* Remove a run's directory: its results, streamed records and CSV files. */
static void remove_run_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char p[512];

	assert_non_null(d);
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
			assert_int_equal(unlink(p), 0);
		}
	closedir(d);
	assert_int_equal(rmdir(dir), 0);
}

/* --pairs-full-max below the matrix's nodes: the record and the CSV hold
 * per-node medians and the worst cells instead of every cell, the verdict
 * stays that of the full matrix.  5 nodes, link 0->2 at 0.1x, node 4 at
 * 0.2x. */
static void fsc_pattern_pairs__full_max_aggregates_record_and_csv(void **state)
{
	static const char *const keys[] = {"anomalies", "unconfirmed", "verdict",   "status",
	                                   "bw_spread", "lat_spread",  "candidates"};
	static const char *const matrices[] = {"bw_GBps", "bw_min_GBps", "bw_max_GBps", "lat_us",
	                                       "lat_p99_us"};
	char dir[] = "/tmp/fsc-pairs-full-XXXXXX", path[128], csv[160], want[160], err[256];
	char line[48][256];
	struct lbh_job j = {0};
	json_t *full, *rec, *doc, *frec, *per, *bw;
	double lowest_other = INFINITY, prev;
	int k;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/run.json", dir);

	/* the default limit: every cell */
	ARGS(&j, "--lb-slow-link", "0:2:0.1", "--lb-slow-rank", "4:0.2", "--pairs-csv", "none");
	full = run_job(&j, 5);
	assert_true(json_is_false(json_object_get(full, "aggregated")));
	assert_int_equal((int)num(full, "full_max"), FSC_MATRIX_FULL_MAX_DEFAULT);
	assert_int_equal(json_array_size(json_object_get(full, "bw_GBps")), 5);
	assert_null(json_object_get(full, "per_node"));
	assert_null(json_object_get(full, "worst_cells"));

	j.path = path;
	ARGS(&j, "--lb-slow-link", "0:2:0.1", "--lb-slow-rank", "4:0.2", "--pairs-full-max", "4");
	rec = run_job(&j, 5);
	assert_true(json_is_true(json_object_get(rec, "aggregated")));
	assert_int_equal((int)num(rec, "full_max"), 4);
	assert_json_fields_equal(full, rec, keys, sizeof(keys) / sizeof(keys[0]));
	assert_non_null(strstr(str(rec, "verdict"), "link h0->h2 slow"));
	assert_non_null(strstr(str(rec, "verdict"), "h4: node slow"));
	assert_int_equal(json_array_size(json_object_get(rec, "labels")), 5);
	for (size_t m = 0; m < sizeof(matrices) / sizeof(matrices[0]); m++)
		assert_null(json_object_get(rec, matrices[m]));
	/* the results file: a matrix once put in the record stays there, so
	 * none was put in by the rewrites during the rounds either */
	assert_int_equal(fsc_results_load(path, &doc, err, sizeof(err)), 0);
	frec = json_array_get(json_object_get(doc, "records"), 0);
	assert_true(json_is_true(json_object_get(frec, "aggregated")));
	for (size_t m = 0; m < sizeof(matrices) / sizeof(matrices[0]); m++)
		assert_null(json_object_get(frec, matrices[m]));
	assert_int_equal(json_array_size(json_object_get(frec, "per_node")), 5);
	json_decref(doc);

	/* per node: the slow node sends and receives the slowest */
	per = json_object_get(rec, "per_node");
	assert_int_equal(json_array_size(per), 5);
	for (int i = 0; i < 4; i++) {
		lowest_other =
		        fmin(lowest_other, num(json_array_get(per, (size_t)i), "bw_send_GBps"));
		lowest_other =
		        fmin(lowest_other, num(json_array_get(per, (size_t)i), "bw_recv_GBps"));
	}
	assert_true(num(json_array_get(per, 4), "bw_send_GBps") < lowest_other);
	assert_true(num(json_array_get(per, 4), "bw_recv_GBps") < lowest_other);
	assert_float_equal(num(json_array_get(per, 4), "bw_send_GBps"), 0.2 * BW_OK, 0.01);

	/* worst bandwidth cells: the slow link, then the slow node's 8 cells,
	 * then the healthy ones; every measured cell, worst first */
	bw = json_object_get(json_object_get(rec, "worst_cells"), "bandwidth");
	assert_int_equal(json_array_size(bw), 20);
	assert_int_equal(
	        json_array_size(json_object_get(json_object_get(rec, "worst_cells"), "latency")),
	        20);
	assert_int_equal((int)num(json_array_get(bw, 0), "src"), 0);
	assert_int_equal((int)num(json_array_get(bw, 0), "dst"), 2);
	assert_float_equal(num(json_array_get(bw, 0), "value"), 262144.0 / (2621440 + 10000 + 1004),
	                   1e-12);
	prev = 0;
	for (size_t w = 0; w < 20; w++) {
		json_t *c = json_array_get(bw, w);

		assert_true(num(c, "value") >= prev);
		prev = num(c, "value");
		if (w >= 1 && w <= 8) {
			assert_true(num(c, "src") == 4 || num(c, "dst") == 4);
			assert_true(num(c, "value") < 0.25 * BW_OK);
		} else if (w > 8) {
			/* the healthy cells, each above 0.9x the healthy figure */
			assert_true(num(c, "src") != 4 && num(c, "dst") != 4);
			assert_true(num(c, "value") > 0.9 * BW_OK);
		}
	}

	/* the CSV: per-node and worst-cell files instead of the matrices */
	assert_null(json_object_get(json_object_get(rec, "csv"), "bw"));
	snprintf(csv, sizeof(csv), "%s/run.loopback.nodes.csv", dir);
	assert_string_equal(str(json_object_get(rec, "csv"), "nodes"), csv);
	assert_int_equal(read_lines(csv, line, 48), 6);
	assert_string_equal(line[0],
	                    "node,label,leaf,bw_send_GBps,bw_recv_GBps,lat_send_us,lat_recv_us\n");
	for (int i = 0; i < 5; i++) {
		char med[128];

		per_node_csv(rec, i, med, sizeof(med));
		snprintf(want, sizeof(want), "%d,h%d,%s", i, i, med);
		assert_string_equal(line[1 + i], want);
	}
	unlink(csv);
	snprintf(csv, sizeof(csv), "%s/run.loopback.worst.csv", dir);
	assert_string_equal(str(json_object_get(rec, "csv"), "worst"), csv);
	k = read_lines(csv, line, 48);
	assert_int_equal(k, 41); /* header, 20 bandwidth cells, 20 latency cells */
	assert_string_equal(line[0], "metric,src,dst,src_label,dst_label,value,ratio_to_median\n");
	snprintf(want, sizeof(want), "bandwidth,0,2,h0,h2,%.6g,%.6g\n",
	         num(json_array_get(bw, 0), "value"),
	         num(json_array_get(bw, 0), "value") /
	                 num(json_object_get(rec, "bw_spread"), "median"));
	assert_string_equal(line[1], want);
	for (int i = 2; i <= 20; i++) {
		json_t *c = json_array_get(bw, (size_t)i - 1);

		snprintf(want, sizeof(want), "bandwidth,%d,%d,h%d,h%d,", (int)num(c, "src"),
		         (int)num(c, "dst"), (int)num(c, "src"), (int)num(c, "dst"));
		assert_int_equal(strncmp(line[i], want, strlen(want)), 0);
	}
	for (int i = 21; i < 41; i++)
		assert_int_equal(strncmp(line[i], "latency,", 8), 0);
	/* the worst latency: a ping-pong over the slow link, either way */
	assert_true(!strncmp(line[21], "latency,0,2,h0,h2,", 18) ||
	            !strncmp(line[21], "latency,2,0,h2,h0,", 18));
	remove_run_dir(dir);
	json_decref(rec);
	json_decref(full);
}

/* The per-node file names each host's leaf with --topology. */
static void fsc_pattern_pairs__full_max_nodes_csv_has_leaves(void **state)
{
	char path[] = "/tmp/fsc_pairs_fmtopo_XXXXXX", dir[] = "/tmp/fsc-pairs-fmleaf-XXXXXX";
	char res[128], csv[160], line[8][256];
	struct lbh_job j = {0};
	json_t *rec;

	(void)state;
	write_topology(path, two_leaves);
	assert_non_null(mkdtemp(dir));
	snprintf(res, sizeof(res), "%s/run.json", dir);
	j.path = res;
	ARGS(&j, "--topology", path, "--pairs-full-max", "5");
	rec = run_job(&j, 6);
	assert_true(json_is_true(json_object_get(rec, "aggregated")));
	assert_string_equal(str(json_array_get(json_object_get(rec, "leaf_summary"), 0), "leaf"),
	                    "leafA");
	snprintf(csv, sizeof(csv), "%s/run.loopback.nodes.csv", dir);
	assert_int_equal(read_lines(csv, line, 8), 7);
	assert_int_equal(strncmp(line[1], "0,h0,leafA,", 11), 0);
	assert_int_equal(strncmp(line[6], "5,h5,leafB,", 11), 0);
	remove_run_dir(dir);
	unlink(path);
	json_decref(rec);
}

/* --pairs-full-max: 2 to FSC_MATRIX_FULL_MAX_MOST (the most nodes whose
 * matrices fit in memory), default FSC_MATRIX_FULL_MAX_DEFAULT; outside,
 * one line naming the value and the range. */
static void fsc_pattern_pairs__full_max_range(void **state)
{
	static const char *const ok[] = {"2", "2590"};
	static const char *const bad[][2] = {
	        {"1", "invalid value '1' for --pairs-full-max: must be between 2 and 2590"},
	        {"2591", "invalid value '2591' for --pairs-full-max: must be between 2 and 2590"},
	};
	struct fsc_opt_group g[FSC_MAX_OPT_GROUPS];
	struct fsc_config *cfg = 0;
	char err[256];

	(void)state;
	assert_int_equal(FSC_MATRIX_FULL_MAX_MOST, 2590);
	assert_int_equal(
	        fsc_config_defaults(&cfg, g, fsc_session_option_groups(g, FSC_MAX_OPT_GROUPS)), 0);
	assert_int_equal(fsc_cfg_int(cfg, "pairs-full-max"), FSC_MATRIX_FULL_MAX_DEFAULT);
	fsc_config_free(cfg);
	for (int k = 0; k < 2; k++) {
		char *argv[] = {(char *)"run", (char *)"--pairs-full-max", (char *)ok[k]};

		cfg = 0;
		assert_int_equal(fsc_config_parse(&cfg, g,
		                                  fsc_session_option_groups(g, FSC_MAX_OPT_GROUPS),
		                                  3, argv, 0, err, sizeof(err)),
		                 0);
		assert_int_equal(fsc_cfg_int(cfg, "pairs-full-max"), atoi(ok[k]));
		fsc_config_free(cfg);
	}
	for (int k = 0; k < 2; k++) {
		char *argv[] = {(char *)"run", (char *)"--pairs-full-max", (char *)bad[k][0]};

		cfg = 0;
		assert_int_not_equal(
		        fsc_config_parse(&cfg, g, fsc_session_option_groups(g, FSC_MAX_OPT_GROUPS),
		                         3, argv, 0, err, sizeof(err)),
		        0);
		assert_string_equal(err, bad[k][1]);
		fsc_config_free(cfg);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(fsc_pattern_pairs__healthy_matrix_exact_and_no_anomaly),
	        cmocka_unit_test(fsc_pattern_pairs__disk_store_same_suspects_as_memory),
	        cmocka_unit_test(fsc_pattern_pairs__slow_link_named_with_its_direction),
	        cmocka_unit_test(fsc_pattern_pairs__cell_time_sets_windows_per_cell),
	        cmocka_unit_test(fsc_pattern_pairs__slow_node_named_as_a_node),
	        cmocka_unit_test(fsc_pattern_pairs__fail_on_anomaly_fails_the_run),
	        cmocka_unit_test(fsc_pattern_pairs__per_host_matrix_with_host_labels),
	        cmocka_unit_test(fsc_pattern_pairs__per_rank_matrix_on_request),
	        cmocka_unit_test(fsc_pattern_pairs__serial_and_sampled_schedules),
	        cmocka_unit_test(fsc_pattern_pairs__corrupted_byte_is_counted),
	        cmocka_unit_test(fsc_pattern_pairs__streams_results_and_writes_csv),
	        cmocka_unit_test(fsc_pattern_pairs__threshold_defaults_are_the_analysis_defaults),
	        cmocka_unit_test(fsc_pattern_pairs__bad_schedule_is_rejected),
	        cmocka_unit_test(fsc_pattern_pairs__topology_names_the_leaf),
	        cmocka_unit_test(fsc_pattern_pairs__two_leaves_on_a_noisy_fabric_name_the_leaf),
	        cmocka_unit_test(fsc_pattern_pairs__topology_schedule_every_pair_and_a_slow_link),
	        cmocka_unit_test(fsc_pattern_pairs__full_max_aggregates_record_and_csv),
	        cmocka_unit_test(fsc_pattern_pairs__full_max_nodes_csv_has_leaves),
	        cmocka_unit_test(fsc_pattern_pairs__full_max_range),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
