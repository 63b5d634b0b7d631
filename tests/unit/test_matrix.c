/* The matrix driver with a fake measurement: cells come from a model in
 * this file (no fabric), so every figure the driver records, re-tests and
 * reports is known exactly.  Ranks are threads of the local bootstrap.
 *
 * Model: cell src -> dst has bandwidth 10 GB/s and latency 2 us, times the
 * factor of a slow node (either end) and of a slow link: bandwidth x f
 * (src -> dst only), latency / f (both cells of the pair, as a round trip
 * would).  A round's cell reports the median with
 * min = 0.9x and max = 1.1x of it; a re-test reports exactly the model as
 * its best repeat (bw_max, lat_min), so re-test values tell which callback
 * the driver used.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "json_fields.h"
#include "boot.h"
#include "lb_harness.h"
#include "matrix.h"
#include "options.h"
#include "results.h"
#include "runner.h"
#include "session.h"

#define MAXN 16
#define BW 10.0
#define LAT 2.0

struct fake {
	/* model */
	int sim, sim_n; /* layout hook: sim_n nodes, all on rank 0 */
	int slow_src, slow_dst;
	double link_factor; /* 0: none */
	int slow_node;
	double node_factor; /* 0: none */
	int fail_rank;      /* -1: none */
	uint64_t fail_seq;
	uint64_t wrong; /* reported by node 1 in step 0 */
	int no_retest;  /* no retest callback: measure is used */
	double noise;   /* lognormal noise of the rounds' bandwidth (log sd), 0: none */
	/* bandwidth factors of single cells, 0 = none: in the rounds only,
	 * in the re-tests only */
	double round_bw[MAXN][MAXN], retest_bw[MAXN][MAXN];
	int open_fails;
	/* store hook */
	int store_hook, store_fail_puts, store_no_dense;
	/* settings */
	struct fsc_matrix_settings set;
	/* observed (each cell written by its node's owner only) */
	int rounds_seen[MAXN][MAXN], retests_seen[MAXN][MAXN];
	int bad_step[MAXN];
	int nodes[MAXN]; /* per rank: the layout's */
	int puts, closes[MAXN];
};

static struct fake F;

static double model_factor(int src, int dst, int both_ways)
{
	double f = 1;

	if (F.link_factor > 0 && src == F.slow_src && dst == F.slow_dst)
		f *= F.link_factor;
	else if (F.link_factor > 0 && both_ways && src == F.slow_dst && dst == F.slow_src)
		f *= F.link_factor;
	if (F.node_factor > 0 && (src == F.slow_node || dst == F.slow_node))
		f *= F.node_factor;
	return f;
}

static int fake_open(struct fsc_runner *r, struct fsc_pctx *c, struct fsc_matrix_settings *set,
                     void **ctx, char *err, size_t len)
{
	(void)r;
	(void)c;
	if (F.open_fails) {
		snprintf(err, len, "invalid value 'x' for --fake: valid are y, z");
		return -EINVAL;
	}
	*set = F.set;
	snprintf(set->method, sizeof(set->method), "model cells");
	*ctx = &F;
	return 0;
}

static int fake_layout(void *ctx, struct fsc_pctx *c, struct fsc_matrix_layout *l)
{
	int rc = fsc_matrix_layout_alloc(l, F.sim_n, "host");

	(void)ctx;
	(void)c;
	for (int i = 0; !rc && i < l->n; i++)
		snprintf(l->label[i], FSC_MATRIX_LABEL_MAX, "leaf%d/h%d", i / 4, i);
	return rc;
}

static int fake_setup(void *ctx, struct fsc_pctx *c, const struct fsc_matrix_layout *l)
{
	(void)ctx;
	F.nodes[c->rank] = l->n;
	return 0;
}

static int fake_step(void *ctx, struct fsc_pctx *c, const struct fsc_matrix_step *st)
{
	(void)ctx;
	/* the step's pairs are consistent: partner of partner is the node */
	for (int i = 0; i < F.nodes[c->rank]; i++) {
		int p = fsc_matrix_step_partner(st, i);

		if (p >= 0 && fsc_matrix_step_partner(st, p) != i)
			F.bad_step[c->rank]++;
	}
	return 0;
}

static int cell_fill(struct fsc_pctx *c, const struct fsc_matrix_step *st, int node, int partner,
                     struct fsc_matrix_cell *out, int serial)
{
	double f = model_factor(node, partner, 0), fl = model_factor(node, partner, 1);

	if (F.fail_rank == c->rank && st->seq == F.fail_seq)
		return -EIO;
	if (!isnan(out->bw_med) || out->windows || out->wrong)
		F.bad_step[c->rank]++; /* the driver hands a cleared cell */
	if (serial && F.retest_bw[node][partner] > 0)
		f *= F.retest_bw[node][partner];
	if (!serial && st->kind == FSC_MATRIX_ROUND && F.round_bw[node][partner] > 0)
		f *= F.round_bw[node][partner];
	if (serial) {
		if (st->kind != FSC_MATRIX_RETEST || st->a >= st->b)
			F.bad_step[c->rank]++;
		F.retests_seen[node][partner]++;
		out->bw_max = BW * f;
		out->lat_min = LAT / fl;
		out->bw_med = out->bw_min = BW * f * 0.5;
		out->lat_p50 = out->lat_p99 = LAT / fl * 3;
	} else {
		if (F.noise > 0) {
			/* a fixed draw per cell: the same in every run */
			uint64_t h = (uint64_t)(node * 131 + partner + 1) * 0x9e3779b97f4a7c15ull;
			double u1 = (double)((h >> 11) & 0xfffff) / 1048576.0 + 1e-6,
			       u2 = (double)((h >> 40) & 0xfffff) / 1048576.0;

			f *= exp(F.noise * sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2));
		}
		if (st->kind == FSC_MATRIX_ROUND)
			F.rounds_seen[node][partner]++;
		else
			F.retests_seen[node][partner]++;
		out->bw_med = BW * f;
		out->bw_min = BW * f * 0.9;
		out->bw_max = BW * f * 1.1;
		out->lat_min = LAT / fl * 0.9;
		out->lat_p50 = LAT / fl;
		out->lat_p99 = LAT / fl * 2;
	}
	out->windows = 5;
	if (st->seq == 0 && node == 1)
		out->wrong = F.wrong;
	return 0;
}

static int fake_measure(void *ctx, struct fsc_pctx *c, const struct fsc_matrix_step *st, int node,
                        int partner, struct fsc_matrix_cell *out)
{
	(void)ctx;
	return cell_fill(c, st, node, partner, out, 0);
}

static int fake_retest(void *ctx, struct fsc_pctx *c, const struct fsc_matrix_step *st, int node,
                       int partner, struct fsc_matrix_cell *out)
{
	(void)ctx;
	return cell_fill(c, st, node, partner, out, 1);
}

static void fake_record(void *ctx, json_t *rec)
{
	(void)ctx;
	json_object_set_new(rec, "fake_model", json_string("10 GB/s, 2 us"));
}

static void fake_close(void *ctx, struct fsc_pctx *c)
{
	(void)ctx;
	F.closes[c->rank]++;
}

/* A store that counts puts and may fail or hold no dense matrix; it keeps
 * its cells in an in-memory store. */
struct counting {
	struct fsc_matrix_store inner;
};

static int counting_put(void *impl, int src, int dst, const struct fsc_matrix_cell *c)
{
	struct counting *s = impl;

	if (F.store_fail_puts && F.puts >= F.store_fail_puts)
		return -ENOSPC;
	F.puts++;
	return s->inner.ops->put(s->inner.impl, src, dst, c);
}

static double counting_get(void *impl, int src, int dst, enum fsc_matrix_fig f)
{
	struct counting *s = impl;

	return s->inner.ops->get(s->inner.impl, src, dst, f);
}

static const double *counting_dense(void *impl, enum fsc_matrix_fig f)
{
	struct counting *s = impl;

	return F.store_no_dense ? 0 : s->inner.ops->dense(s->inner.impl, f);
}

static void counting_destroy(void *impl)
{
	struct counting *s = impl;

	fsc_matrix_store_fini(&s->inner);
	free(s);
}

static const struct fsc_matrix_store_ops counting_ops = {
        .put = counting_put,
        .get = counting_get,
        .dense = counting_dense,
        .destroy = counting_destroy,
};

static int fake_store(void *ctx, int n, struct fsc_matrix_store *st)
{
	struct counting *s = calloc(1, sizeof(*s));
	int rc;

	(void)ctx;
	if (!s)
		return -ENOMEM;
	rc = fsc_matrix_store_dense(&s->inner, n);
	if (rc) {
		free(s);
		return rc;
	}
	st->ops = &counting_ops;
	st->impl = s;
	st->n = n;
	return 0;
}

static struct fsc_matrix_pattern fake_matrix;

static const char *const fake_impls[] = {"model", 0};

static const struct fsc_pattern_ops fake_pattern = {
        .name = "fake",
        .desc = "cells from a model",
        .min_ranks = 1,
        .impls = fake_impls,
        .bw_formula = "model",
        .matrix = &fake_matrix,
};

/* ---- running it ---- */

struct job {
	const char *const *hosts;
	const char *path; /* results file; NULL: in memory */
	int rc[MAXN];
	uint64_t failed[MAXN], wrong[MAXN], points[MAXN];
	json_t *rec; /* rank 0's single record */
	char out[16384];
	struct fsc_config *cfg;
};

static int rank_fn(struct fsc_boot *b, void *arg)
{
	struct job *j = arg;
	struct fsc_results *res = 0;
	struct fsc_runner r;
	FILE *out = 0;
	char err[256];

	if (b->rank == 0) {
		if (fsc_results_create(&res, j->path, err, sizeof(err))) {
			print_error("results: %s\n", err);
			return -1;
		}
		out = tmpfile();
		if (!out) {
			fsc_results_free(res);
			return -1;
		}
	}
	if (fsc_runner_init(&r, b, j->cfg, res, out)) {
		fsc_results_free(res);
		if (out)
			fclose(out);
		return -1;
	}
	j->rc[b->rank] = fsc_runner_sweep(&r, 0, &fake_pattern);
	j->failed[b->rank] = r.failed;
	j->wrong[b->rank] = r.wrong;
	j->points[b->rank] = r.points;
	fsc_runner_fini(&r);
	if (res) {
		json_t *recs = json_object_get(fsc_results_doc(res), "records");

		if (json_array_size(recs) == 1)
			j->rec = json_incref(json_array_get(recs, 0));
		fsc_results_free(res);
	}
	if (out) {
		size_t k;

		rewind(out);
		k = fread(j->out, 1, sizeof(j->out) - 1, out);
		j->out[k] = 0;
		fclose(out);
	}
	return 0;
}

static const char *const distinct_hosts[MAXN] = {"h0", "h1", "h2", "h3", "h4", "h5", "h6", "h7"};

static void run(struct job *j, int nranks)
{
	struct fsc_opt_group g[FSC_MAX_OPT_GROUPS];
	int rcs[MAXN];

	assert_int_equal(
	        fsc_config_defaults(&j->cfg, g, fsc_session_option_groups(g, FSC_MAX_OPT_GROUPS)),
	        0);
	assert_int_equal(
	        fsc_boot_local_run(nranks, j->hosts ? j->hosts : distinct_hosts, rank_fn, j, rcs),
	        0);
	for (int i = 0; i < nranks; i++)
		assert_int_equal(rcs[i], 0);
	fsc_config_free(j->cfg);
}

static void reset(void)
{
	memset(&F, 0, sizeof(F));
	F.fail_rank = -1;
	F.set.schedule = "concurrent";
	F.set.confirm = 2;
	F.set.bw_ratio = 0.5;
	F.set.lat_ratio = 2;
	F.set.csv = "none";
	F.sim_n = MAXN;
	fake_matrix = (struct fsc_matrix_pattern){
	        .open = fake_open,
	        .setup = fake_setup,
	        .step = fake_step,
	        .measure = fake_measure,
	        .retest = fake_retest,
	        .record = fake_record,
	        .close = fake_close,
	};
}

static double cell(json_t *rec, const char *m, int i, int j)
{
	json_t *v = json_array_get(json_array_get(json_object_get(rec, m), (size_t)i), (size_t)j);

	return json_is_number(v) ? json_number_value(v) : NAN;
}

/* Cells of the record's bandwidth matrix with a value. */
static int measured(json_t *rec, int n)
{
	int k = 0;

	for (int i = 0; i < n; i++)
		for (int c = 0; c < n; c++)
			k += !isnan(cell(rec, "bw_GBps", i, c));
	return k;
}

/* Every ordered pair measured exactly once in the rounds. */
static void assert_rounds_cover(int n)
{
	for (int i = 0; i < n; i++)
		for (int k = 0; k < n; k++)
			assert_int_equal(F.rounds_seen[i][k], i != k);
}

static void fsc_matrix__healthy_matrix_every_pair_once(void **state)
{
	struct job j = {0};

	(void)state;
	reset();
	run(&j, 4);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(j.rc[i], 0);
		assert_int_equal(j.failed[i], 0);
		assert_int_equal(j.points[i], 1);
		assert_int_equal(F.closes[i], 1);
		assert_int_equal(F.bad_step[i], 0);
	}
	assert_rounds_cover(4);
	assert_non_null(j.rec);
	assert_string_equal(lbh_str(j.rec, "status"), "ok");
	assert_string_equal(lbh_str(j.rec, "pattern"), "fake");
	assert_string_equal(lbh_str(j.rec, "granularity"), "host");
	assert_string_equal(lbh_str(j.rec, "fake_model"), "10 GB/s, 2 us");
	assert_int_equal((int)lbh_num(j.rec, "rounds"), 3);
	assert_int_equal((int)lbh_num(j.rec, "rounds_done"), 3);
	assert_true(cell(j.rec, "bw_GBps", 2, 1) == BW);
	assert_true(cell(j.rec, "bw_min_GBps", 2, 1) == BW * 0.9);
	assert_true(cell(j.rec, "bw_max_GBps", 2, 1) == BW * 1.1);
	assert_true(cell(j.rec, "lat_us", 0, 3) == LAT);
	assert_true(cell(j.rec, "lat_p99_us", 0, 3) == LAT * 2);
	assert_true(isnan(cell(j.rec, "bw_GBps", 1, 1)));
	assert_int_equal((int)lbh_num(json_object_get(j.rec, "bw_windows"), "max"), 5);
	assert_int_equal(json_array_size(json_object_get(j.rec, "anomalies")), 0);
	assert_non_null(strstr(lbh_str(j.rec, "verdict"), "no anomaly (12 cells"));
	/* the terminal summary */
	assert_non_null(strstr(j.out, "# fabric ?, pattern fake: 4 hosts, schedule concurrent; "
	                              "model cells\n"));
	assert_non_null(strstr(j.out, "# fake verdict: no anomaly (12 cells"));
	json_decref(j.rec);
}

static void fsc_matrix__slow_link_confirmed_by_the_retest_callback(void **state)
{
	struct job j = {0};
	json_t *an, *a;

	(void)state;
	reset();
	F.slow_src = 0;
	F.slow_dst = 2;
	F.link_factor = 0.1;
	run(&j, 4);
	assert_int_equal(j.rc[0], 0);
	assert_string_equal(lbh_str(j.rec, "status"), "anomaly");
	an = json_object_get(j.rec, "anomalies");
	assert_int_equal(json_array_size(an), 2);
	a = json_array_get(an, 0);
	assert_string_equal(lbh_str(a, "kind"), "link");
	assert_string_equal(lbh_str(a, "metric"), "bandwidth");
	assert_int_equal((int)lbh_num(a, "src"), 0);
	assert_int_equal((int)lbh_num(a, "dst"), 2);
	assert_int_equal((int)lbh_num(a, "retests"), 2);
	assert_int_equal((int)lbh_num(a, "confirmations"), 2);
	/* judged on the re-test's best repeat (bw_max of fake_retest), against
	 * the reference pairs' */
	for (size_t k = 0; k < 2; k++) {
		assert_true(json_number_value(json_array_get(json_object_get(a, "retest_values"),
		                                             k)) == BW * 0.1);
		assert_true(json_number_value(json_array_get(
		                    json_object_get(a, "retest_references"), k)) == BW);
	}
	assert_string_equal(lbh_str(a, "text"), "link h0->h2 slow (0.1x median); confirmed 2/2");
	/* the round trip of the pair: one latency anomaly, both directions */
	a = json_array_get(an, 1);
	assert_string_equal(lbh_str(a, "metric"), "latency");
	assert_string_equal(lbh_str(a, "direction"), "both");
	/* the suspect pair and a reference pair were re-measured, both sides,
	 * confirm times; nothing in a re-test went through measure */
	assert_int_equal(F.retests_seen[0][2], 2);
	assert_int_equal(F.retests_seen[2][0], 2);
	/* the references: the first pairs without a suspect link or node */
	assert_int_equal(F.retests_seen[0][1], 2);
	assert_int_equal(F.retests_seen[1][0], 2);
	assert_int_equal(F.retests_seen[0][3], 2);
	assert_int_equal(F.retests_seen[1][2] + F.retests_seen[1][3] + F.retests_seen[2][3], 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(F.bad_step[i], 0);
	assert_non_null(strstr(j.out, "# fake verdict: link h0->h2 slow (0.1x median)"));
	assert_int_equal(j.failed[0], 0);
	json_decref(j.rec);

	/* without a retest callback the re-test measures with measure */
	reset();
	F.slow_src = 0;
	F.slow_dst = 2;
	F.link_factor = 0.1;
	fake_matrix.retest = 0;
	j = (struct job){0};
	run(&j, 4);
	assert_int_equal(F.retests_seen[0][2], 2);
	a = json_array_get(json_object_get(j.rec, "anomalies"), 0);
	assert_true(json_number_value(json_array_get(json_object_get(a, "retest_values"), 0)) ==
	            BW * 0.1 * 1.1);
	json_decref(j.rec);
}

/* Every node on one rank, from a layout of the pattern's own, as a
 * simulated fabric lays them out: both ends of each pair are measured on
 * rank 0 and the slow host is named as a node. */
/* Bandwidth anomalies of the record, as "node N" or "link S->D". */
static void bw_anomalies(json_t *rec, char *buf, size_t len)
{
	json_t *an = json_object_get(rec, "anomalies"), *a;
	size_t i, off = 0;

	buf[0] = 0;
	json_array_foreach(an, i, a)
	{
		if (strcmp(lbh_str(a, "metric"), "bandwidth"))
			continue;
		if (!strcmp(lbh_str(a, "kind"), "node"))
			off += (size_t)snprintf(buf + off, len - off, "%snode %d", off ? ", " : "",
			                        (int)lbh_num(a, "src"));
		else
			off += (size_t)snprintf(buf + off, len - off, "%slink %d->%d",
			                        off ? ", " : "", (int)lbh_num(a, "src"),
			                        (int)lbh_num(a, "dst"));
	}
}

/* A host whose column looks slow in the matrix because of one slow link
 * into it plus noise on two more: the re-tests clear the host, and the
 * slow link, bad in the matrix and in its re-tests, is named on its own. */
static void fsc_matrix__slow_link_found_through_a_cleared_node(void **state)
{
	struct job j = {0};
	char got[256];

	(void)state;
	reset();
	F.round_bw[1][3] = 0.1;
	F.retest_bw[1][3] = 0.1;
	F.round_bw[0][3] = F.round_bw[2][3] = 0.2; /* noise in the rounds only */
	run(&j, 5);
	bw_anomalies(j.rec, got, sizeof(got));
	assert_string_equal(got, "link 1->3");
	assert_int_equal(F.retests_seen[1][3], 2);
	json_decref(j.rec);
}

/* Three hosts: a host suspect has two partners to re-test.  One is the
 * slow link (0.1x), the other healthy but re-tested low (0.7x, a busy
 * machine): the host is slow on one link of two, not slow, so the link
 * is named and the host is not.  (The mean of the two, 0.4x, is past
 * the 0.5x threshold and named the host.) */
static void fsc_matrix__one_slow_link_of_two_does_not_make_a_slow_node(void **state)
{
	struct job j = {0};
	char got[256];

	(void)state;
	reset();
	F.round_bw[0][2] = F.retest_bw[0][2] = 0.1;
	F.round_bw[0][1] = 0.25; /* noise in the rounds: host 0's row looks slow */
	F.retest_bw[0][1] = 0.7;
	run(&j, 3);
	bw_anomalies(j.rec, got, sizeof(got));
	assert_string_equal(got, "link 0->2");
	json_decref(j.rec);

	/* Both links slow in the re-tests: the host is slow. */
	reset();
	F.round_bw[0][2] = F.retest_bw[0][2] = 0.1;
	F.round_bw[0][1] = F.retest_bw[0][1] = 0.1;
	j = (struct job){0};
	run(&j, 3);
	bw_anomalies(j.rec, got, sizeof(got));
	assert_string_equal(got, "node 0");
	json_decref(j.rec);
}

/* The same host suspect, but the link that reads slow in its re-tests
 * was healthy in the matrix: a serial best that dipped is not a link
 * anomaly, and nothing is named. */
static void fsc_matrix__link_slow_only_in_a_retest_is_not_named(void **state)
{
	struct job j = {0};
	char got[256];

	(void)state;
	reset();
	F.round_bw[0][3] = F.round_bw[2][3] = F.round_bw[4][3] = 0.2;
	F.retest_bw[1][3] = 0.1; /* healthy in the matrix */
	run(&j, 5);
	bw_anomalies(j.rec, got, sizeof(got));
	assert_string_equal(got, "");
	/* it was re-tested, and read slow there */
	assert_int_equal(F.retests_seen[1][3], 2);
	json_decref(j.rec);
}

static void fsc_matrix__all_nodes_on_one_rank_from_a_layout_hook(void **state)
{
	struct job j = {0};
	json_t *an, *a;

	(void)state;
	reset();
	fake_matrix.layout = fake_layout;
	F.sim = 1;
	F.sim_n = 12;
	F.slow_node = 7;
	F.node_factor = 0.2;
	run(&j, 1);
	assert_int_equal(j.rc[0], 0);
	assert_int_equal(F.bad_step[0], 0);
	assert_rounds_cover(12);
	assert_int_equal((int)lbh_num(j.rec, "nodes"), 12);
	assert_int_equal((int)lbh_num(j.rec, "rounds"), 11);
	assert_int_equal((int)lbh_num(j.rec, "pairs_per_round"), 6);
	assert_string_equal(json_string_value(json_array_get(json_object_get(j.rec, "labels"), 7)),
	                    "leaf1/h7");
	an = json_object_get(j.rec, "anomalies");
	assert_true(json_array_size(an) >= 1);
	a = json_array_get(an, 0);
	assert_string_equal(lbh_str(a, "kind"), "node");
	assert_int_equal((int)lbh_num(a, "src"), 7);
	assert_string_equal(lbh_str(a, "direction"), "both");
	for (size_t k = 0; k < json_array_size(an); k++)
		assert_int_equal((int)lbh_num(json_array_get(an, k), "src"), 7);
	/* 12 nodes: only the summary table, no matrix on the terminal */
	assert_null(strstr(j.out, "# bandwidth GB/s"));
	assert_non_null(strstr(j.out, "leaf1/h7"));
	json_decref(j.rec);
}

static void fsc_matrix__failed_measure_fails_every_rank(void **state)
{
	struct job j = {0};

	(void)state;
	reset();
	F.fail_rank = 2;
	F.fail_seq = 1; /* the second round */
	run(&j, 4);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(j.rc[i], -EIO);
		assert_int_equal(j.failed[i], 1);
		assert_int_equal(F.closes[i], 1);
	}
	assert_string_equal(lbh_str(j.rec, "status"), "error");
	assert_int_equal((int)lbh_num(j.rec, "rounds_done"), 1);
	/* the first round's cells are kept: 2 pairs, both ways */
	assert_int_equal(measured(j.rec, 4), 4);
	json_decref(j.rec);

	/* in a re-test */
	reset();
	F.slow_src = 0;
	F.slow_dst = 2;
	F.link_factor = 0.1;
	F.fail_rank = 0;
	F.fail_seq = 4; /* 3 rounds, then the first re-test's second pair */
	j = (struct job){0};
	run(&j, 4);
	for (int i = 0; i < 4; i++)
		assert_int_equal(j.rc[i], -EIO);
	assert_string_equal(lbh_str(j.rec, "status"), "error");
	assert_int_equal((int)lbh_num(j.rec, "rounds_done"), 3);
	json_decref(j.rec);
}

static void fsc_matrix__wrong_bytes_and_anomalies_count_as_failures(void **state)
{
	struct job j = {0};

	(void)state;
	reset();
	F.wrong = 3;
	run(&j, 4);
	assert_string_equal(lbh_str(j.rec, "status"), "wrong");
	assert_int_equal((int)lbh_num(j.rec, "wrong"), 3);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(j.rc[i], 0);
		assert_int_equal(j.wrong[i], 3);
		assert_int_equal(j.failed[i], 1);
	}
	json_decref(j.rec);

	reset();
	F.slow_node = 3;
	F.node_factor = 0.2;
	F.set.fail_on_anomaly = 1;
	j = (struct job){0};
	run(&j, 4);
	assert_string_equal(lbh_str(j.rec, "status"), "anomaly");
	for (int i = 0; i < 4; i++)
		assert_int_equal(j.failed[i], 1);
	json_decref(j.rec);
}

static void fsc_matrix__store_hook_keeps_the_cells(void **state)
{
	struct job j = {0};

	(void)state;
	reset();
	fake_matrix.store = fake_store;
	run(&j, 4);
	assert_int_equal(j.rc[0], 0);
	assert_int_equal(F.puts, 12);
	assert_true(cell(j.rec, "bw_GBps", 3, 0) == BW);
	json_decref(j.rec);

	/* a store that fails fails the run on every rank */
	reset();
	fake_matrix.store = fake_store;
	F.store_fail_puts = 4; /* the first put of the second round */
	j = (struct job){0};
	run(&j, 4);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(j.rc[i], -ENOSPC);
		assert_int_equal(j.failed[i], 1);
	}
	assert_string_equal(lbh_str(j.rec, "status"), "error");
	assert_int_equal((int)lbh_num(j.rec, "rounds_done"), 1);
	/* the round after the failure was measured, none after it */
	assert_int_equal(F.rounds_seen[0][1] + F.rounds_seen[0][2] + F.rounds_seen[0][3], 3);
	assert_int_equal(measured(j.rec, 4), 4);
	json_decref(j.rec);

	/* a store without a matrix in memory is read through get: the same
	 * cells and verdict */
	reset();
	fake_matrix.store = fake_store;
	F.store_no_dense = 1;
	F.slow_node = 2;
	F.node_factor = 0.2;
	j = (struct job){0};
	run(&j, 4);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(j.rc[i], 0);
		assert_int_equal(F.closes[i], 1);
	}
	assert_string_equal(lbh_str(j.rec, "store"), "pattern");
	assert_true(cell(j.rec, "bw_GBps", 3, 0) == BW);
	assert_true(cell(j.rec, "bw_GBps", 2, 0) == BW * 0.2);
	assert_non_null(strstr(lbh_str(j.rec, "verdict"), "h2: node slow"));
	json_decref(j.rec);
}

static void fsc_matrix__bad_settings_are_one_error_record(void **state)
{
	struct job j = {0};

	(void)state;
	reset();
	F.open_fails = 1;
	run(&j, 2);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(j.rc[i], -EINVAL);
		assert_int_equal(j.failed[i], 1);
		assert_int_equal(F.closes[i], 0); /* nothing was opened */
	}
	assert_string_equal(lbh_str(j.rec, "status"), "error");
	assert_string_equal(lbh_str(j.rec, "reason"),
	                    "invalid value 'x' for --fake: valid are y, z");
	json_decref(j.rec);

	/* a schedule the pattern did not check is refused on every rank */
	reset();
	F.set.schedule = "sometimes";
	j = (struct job){0};
	run(&j, 2);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(j.rc[i], -EINVAL);
		assert_int_equal(F.closes[i], 1);
	}

	/* one node: nothing to pair */
	reset();
	fake_matrix.layout = fake_layout;
	F.sim_n = 1;
	j = (struct job){0};
	run(&j, 1);
	assert_int_equal(j.rc[0], -EINVAL);
}

static void fsc_matrix__serial_schedule_and_csv(void **state)
{
	char dir[] = "/tmp/fsc-matrix-XXXXXX", pre[64], csv[96], line[256];
	struct job j = {0};
	FILE *f;

	(void)state;
	reset();
	assert_non_null(mkdtemp(dir));
	snprintf(pre, sizeof(pre), "%s/m", dir);
	F.set.schedule = "serial";
	F.set.csv = pre;
	run(&j, 3);
	assert_int_equal(j.rc[0], 0);
	assert_int_equal((int)lbh_num(j.rec, "rounds"), 3);
	assert_int_equal((int)lbh_num(j.rec, "pairs_per_round"), 1);
	assert_rounds_cover(3);
	snprintf(csv, sizeof(csv), "%s.fabric.bw.csv", pre);
	assert_string_equal(json_string_value(json_object_get(json_object_get(j.rec, "csv"), "bw")),
	                    csv);
	f = fopen(csv, "r");
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof(line), f));
	assert_string_equal(line, "src\\dst,h0,h1,h2\n");
	assert_non_null(fgets(line, sizeof(line), f));
	assert_string_equal(line, "h0,,10,10\n");
	fclose(f);
	unlink(csv);
	snprintf(csv, sizeof(csv), "%s.fabric.lat.csv", pre);
	assert_int_equal(unlink(csv), 0);
	assert_int_equal(rmdir(dir), 0);
	json_decref(j.rec);
}

static void fsc_matrix__streams_the_record_to_the_results_file(void **state)
{
	char dir[] = "/tmp/fsc-matrix-XXXXXX", path[128], err[256];
	struct job j = {0};
	json_t *doc, *rec;

	(void)state;
	reset();
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/run.json", dir);
	j.path = path;
	run(&j, 4);
	assert_int_equal(fsc_results_load(path, &doc, err, sizeof(err)), 0);
	rec = json_array_get(json_object_get(doc, "records"), 0);
	assert_string_equal(lbh_str(rec, "status"), "ok");
	assert_int_equal((int)lbh_num(rec, "rounds_done"), 3);
	assert_true(cell(rec, "lat_us", 3, 2) == LAT);
	json_decref(doc);
	json_decref(j.rec);
	assert_int_equal(unlink(path), 0);
	/* the run was not finished: its record stream stays beside the file */
	strcat(path, ".jsonl");
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
}

static void fsc_matrix__layouts_per_host_and_per_rank(void **state)
{
	char hosts[4][FSC_HOST_MAX] = {"a", "a", "b", "b"};
	int rank_host[4] = {0, 0, 1, 1};
	struct fsc_boot b = {
	        .rank = 2, .size = 4, .hosts = hosts, .nhosts = 2, .rank_host = rank_host};
	struct fsc_matrix_layout l;

	(void)state;
	assert_int_equal(fsc_matrix_nodes(&b, 0), 2);
	assert_int_equal(fsc_matrix_nodes(&b, 1), 4);
	assert_int_equal(fsc_matrix_layout_boot(&l, &b, 0), 0);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.granularity, "host");
	assert_int_equal(l.owner[1], 2);
	assert_string_equal(l.labelp[1], "b");
	fsc_matrix_layout_free(&l);
	assert_int_equal(fsc_matrix_layout_boot(&l, &b, 1), 0);
	assert_string_equal(l.granularity, "rank");
	assert_int_equal(l.owner[3], 3);
	assert_string_equal(l.labelp[3], "b/r3");
	fsc_matrix_layout_free(&l);
	/* one host: per rank whatever was asked */
	b.nhosts = 1;
	assert_int_equal(fsc_matrix_nodes(&b, 0), 4);
	assert_int_equal(fsc_matrix_layout_alloc(&l, 0, "host"), -EINVAL);
}

static void fsc_matrix__retest_budget_grows_sublinearly(void **state)
{
	(void)state;
	assert_int_equal(fsc_matrix_retest_budget(0), 0);
	assert_int_equal(fsc_matrix_retest_budget(3), 3);
	assert_int_equal(fsc_matrix_retest_budget(10), 10);
	assert_int_equal(fsc_matrix_retest_budget(20), 14);
	assert_int_equal(fsc_matrix_retest_budget(56), 20);
	assert_int_equal(fsc_matrix_retest_budget(100), 24);
}

static void fsc_matrix__dense_store_starts_unmeasured(void **state)
{
	struct fsc_matrix_store s;
	struct fsc_matrix_cell c = {
	        .bw_med = 1, .bw_min = 2, .bw_max = 3, .lat_p50 = 4, .lat_p99 = 5};

	(void)state;
	assert_int_equal(fsc_matrix_store_dense(&s, 3), 0);
	assert_true(isnan(s.ops->get(s.impl, 0, 1, FSC_MATRIX_BW)));
	assert_int_equal(s.ops->put(s.impl, 2, 1, &c), 0);
	assert_true(s.ops->get(s.impl, 2, 1, FSC_MATRIX_BW_MAX) == 3);
	assert_true(s.ops->get(s.impl, 2, 1, FSC_MATRIX_LAT_P99) == 5);
	assert_true(s.ops->dense(s.impl, FSC_MATRIX_LAT)[2 * 3 + 1] == 4);
	assert_true(isnan(s.ops->get(s.impl, 1, 2, FSC_MATRIX_LAT)));
	fsc_matrix_store_fini(&s);
	fsc_matrix_store_fini(&s); /* twice is harmless */
}

/* A topology file in a temporary path (written into path). */
static void topo_file(char *path, const char *conf)
{
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, conf, strlen(conf)), (ssize_t)strlen(conf));
	close(fd);
}

/* --pairs-schedule topology through the driver: the leaf of every node
 * goes from rank 0 to every rank, whose steps pair nodes inside leaves
 * first and across them after; every ordered pair is measured exactly
 * once, and rank 0 prints and records the estimate from the first round. */
static void fsc_matrix__topology_schedule_every_pair_once(void **state)
{
	char path[] = "/tmp/fsc_mx_topo_XXXXXX", part[] = "/tmp/fsc_mx_topo_XXXXXX";
	struct job j = {0};

	(void)state;
	/* the leaves interleave the ranks' hosts */
	topo_file(path, "SwitchName=la Nodes=h[0,2,4]\nSwitchName=lb Nodes=h[1,3,5]\n");
	reset();
	F.set.schedule = "topology";
	F.set.topology = path;
	run(&j, 6);
	for (int i = 0; i < 6; i++) {
		assert_int_equal(j.rc[i], 0);
		assert_int_equal(F.bad_step[i], 0);
	}
	assert_rounds_cover(6);
	assert_string_equal(lbh_str(j.rec, "schedule"), "topology");
	assert_int_equal((int)lbh_num(j.rec, "rounds"), 6); /* 3 intra-leaf + 1 x 3 */
	assert_int_equal((int)lbh_num(j.rec, "rounds_done"), 6);
	assert_string_equal(lbh_str(j.rec, "status"), "ok");
	/* the estimate: printed after the first round, recorded beside the
	 * rounds' measured time */
	assert_true(lbh_num(j.rec, "first_round_s") > 0);
	assert_true(lbh_num(j.rec, "estimate_s") == lbh_num(j.rec, "first_round_s") * 6);
	assert_true(lbh_num(j.rec, "rounds_s") > 0);
	assert_non_null(strstr(j.out, "# fake: first round "));
	assert_non_null(strstr(j.out, " x 6 rounds: estimate "));
	json_decref(j.rec);

	/* 5 ranks on leaves of 3 and 2 */
	reset();
	F.set.schedule = "topology";
	F.set.topology = path;
	j = (struct job){0};
	run(&j, 5);
	assert_int_equal(j.rc[0], 0);
	assert_rounds_cover(5);
	assert_int_equal((int)lbh_num(j.rec, "rounds"), 6);
	json_decref(j.rec);

	/* a host outside the topology: refused on every rank, nothing
	 * measured */
	topo_file(part, "SwitchName=la Nodes=h[0-1]\nSwitchName=lb Nodes=h[2]\n");
	reset();
	F.set.schedule = "topology";
	F.set.topology = part;
	j = (struct job){0};
	run(&j, 4);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(j.rc[i], -EINVAL);
		assert_int_equal(j.failed[i], 1);
		for (int k = 0; k < 4; k++)
			assert_int_equal(F.rounds_seen[i][k], 0);
	}
	json_decref(j.rec);

	/* no topology at all: a one-line error record naming what is missing */
	reset();
	F.set.schedule = "topology";
	j = (struct job){0};
	run(&j, 2);
	for (int i = 0; i < 2; i++)
		assert_int_equal(j.rc[i], -EINVAL);
	assert_string_equal(lbh_str(j.rec, "status"), "error");
	assert_non_null(strstr(lbh_str(j.rec, "reason"), "needs a topology: give --topology"));
	json_decref(j.rec);
	unlink(path);
	unlink(part);
}

/* The estimate on a schedule of one round is the round itself. */
static void fsc_matrix__estimate_of_a_single_round(void **state)
{
	struct job j = {0};

	(void)state;
	reset();
	run(&j, 2);
	assert_int_equal(j.rc[0], 0);
	assert_int_equal((int)lbh_num(j.rec, "rounds"), 1);
	assert_true(lbh_num(j.rec, "estimate_s") == lbh_num(j.rec, "rounds_s"));
	assert_null(strstr(j.out, "first round"));
	json_decref(j.rec);
}

/* ---- the disk store ---- */

static int same_bits(double a, double b)
{
	return (isnan(a) && isnan(b)) || !memcmp(&a, &b, sizeof(a));
}

/* Every figure of the two stores reads the same through get and through
 * lines (rows, and columns in blocks of 3). */
static void assert_stores_same(const struct fsc_matrix_store *d, const struct fsc_matrix_store *f,
                               int n, double *a, double *b)
{
	for (int fig = 0; fig < FSC_MATRIX_FIGS; fig++) {
		for (int i = 0; i < n; i++)
			for (int j = 0; j < n; j++)
				assert_true(same_bits(d->ops->get(d->impl, i, j, fig),
				                      f->ops->get(f->impl, i, j, fig)));
		for (int dim = 0; dim < 2; dim++)
			for (int first = 0; first < n; first += 3) {
				int cnt = n - first < 3 ? n - first : 3;

				assert_int_equal(fsc_matrix_store_lines(d, fig, dim, first, cnt, a),
				                 0);
				assert_int_equal(fsc_matrix_store_lines(f, fig, dim, first, cnt, b),
				                 0);
				for (int k = 0; k < cnt * n; k++)
					assert_true(same_bits(a[k], b[k]));
				/* and what the lines mean */
				for (int k = 0; k < cnt * n; k++) {
					int line = first + k / n, o = k % n;

					assert_true(same_bits(
					        a[k], dim ? d->ops->get(d->impl, o, line, fig)
					                  : d->ops->get(d->impl, line, o, fig)));
				}
			}
	}
}

/* Random cells, some never measured, some measured twice, put in random
 * order and row by row (the cached row), into a dense and a disk store:
 * every figure reads back the same through get and through lines, at 5,
 * 17 and 64 nodes; and again after more puts once the lines were read
 * (the disk store's planes are rebuilt, not read stale). */
static void fsc_matrix__file_store_same_cells_as_dense(void **state)
{
	static const int sizes[] = {5, 17, 64};
	uint64_t seed = 42;

	(void)state;
	for (size_t z = 0; z < sizeof(sizes) / sizeof(sizes[0]); z++) {
		int n = sizes[z];
		struct fsc_matrix_store d, f;
		double *a = malloc((size_t)n * n * sizeof(double)),
		       *b = malloc((size_t)n * n * sizeof(double));

		assert_non_null(a);
		assert_non_null(b);
		assert_int_equal(fsc_matrix_store_dense(&d, n), 0);
		assert_int_equal(fsc_matrix_store_file(&f, n, NULL), 0);
		assert_null(f.ops->dense);
		assert_int_equal(f.n, n);
		for (int pass = 0; pass < 6; pass++) {
			if (pass == 4) /* read once, then put more */
				assert_stores_same(&d, &f, n, a, b);
			for (int k = 0; k < n * n; k++) {
				/* pass 0: in rounds, row i's cell of round r in column
				 * 2r - i as the circle schedule puts them (the rows'
				 * windows, wrapping at n); 1: scattered cells; 2: row by
				 * row (the cached row); 3: a few again; 4: a third of the
				 * rounds again; 5: a few again */
				int r = k / n, i = k % n, circle = pass == 0 || pass == 4;
				int src = circle      ? i
				          : pass == 2 ? k / n
				                      : (int)((seed >> 20) % (uint64_t)n);
				int dst = circle      ? ((2 * r - i) % n + n) % n
				          : pass == 2 ? k % n
				                      : (int)((seed >> 40) % (uint64_t)n);
				double v = (double)(seed >> 11) / 9007199254740992.0 * 20;
				struct fsc_matrix_cell c = {.bw_med = v,
				                            .bw_min = v * 0.9,
				                            .bw_max = v * 1.1,
				                            .lat_min = 1,
				                            .lat_p50 = 1 / (v + 0.01),
				                            .lat_p99 = 2 / (v + 0.01)};

				seed = seed * 6364136223846793005ull + 1442695040888963407ull;
				if (src == dst || (pass == 2 && (seed >> 60) == 0) ||
				    ((pass == 3 || pass == 5) && k % 7) || (pass == 4 && r % 3))
					continue;
				if ((seed >> 59) == 1)
					c.bw_med = NAN; /* a cell without a bandwidth */
				assert_int_equal(d.ops->put(d.impl, src, dst, &c), 0);
				assert_int_equal(f.ops->put(f.impl, src, dst, &c), 0);
			}
		}
		assert_stores_same(&d, &f, n, a, b);
		/* never measured reads NaN */
		assert_true(isnan(f.ops->get(f.impl, 0, 0, FSC_MATRIX_BW)));
		fsc_matrix_store_fini(&d);
		fsc_matrix_store_fini(&f);
		free(a);
		free(b);
	}
}

/* The store's file is in the directory asked for, yet never seen there
 * (unlinked at once): nothing is left behind, even by a killed run. */
static void fsc_matrix__file_store_leaves_no_file(void **state)
{
	char dir[] = "/tmp/fsc-store-XXXXXX";
	struct fsc_matrix_store f;
	struct fsc_matrix_cell c = {.bw_med = 1, .lat_p50 = 2};
	struct statvfs sv;
	DIR *dd;
	struct dirent *e;
	int entries = 0;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(fsc_matrix_store_file(&f, 40, dir), 0);
	assert_int_equal(f.ops->put(f.impl, 3, 4, &c), 0);
	assert_true(f.ops->get(f.impl, 3, 4, FSC_MATRIX_LAT) == 2);
	dd = opendir(dir);
	assert_non_null(dd);
	while ((e = readdir(dd)))
		entries += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(dd);
	assert_int_equal(entries, 0);
	assert_int_equal(statvfs(dir, &sv), 0);
	fsc_matrix_store_fini(&f);
	fsc_matrix_store_fini(&f); /* twice is harmless */
	assert_int_equal(rmdir(dir), 0);
}

/* stderr into a file while fn runs; the text into out. */
static void capture_stderr(char *out, size_t len, void (*fn)(void *), void *arg)
{
	FILE *t = tmpfile();
	int saved = dup(2);
	size_t k;

	assert_non_null(t);
	fflush(stderr);
	dup2(fileno(t), 2);
	fn(arg);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(t);
	k = fread(out, 1, len - 1, t);
	out[k] = 0;
	fclose(t);
}

struct store_try {
	int n, rc;
	const char *dir;
};

static void store_try(void *arg)
{
	struct store_try *t = arg;
	struct fsc_matrix_store f;

	t->rc = fsc_matrix_store_file(&f, t->n, t->dir);
	assert_null(f.ops);
	fsc_matrix_store_fini(&f);
}

static void run_disk(void *arg)
{
	run(arg, 4);
}

/* A directory that cannot hold the store: one error line naming it and
 * what to do, a clean failure, in the store and in a run. */
static void fsc_matrix__file_store_errors_are_one_line(void **state)
{
	char err[4096], dir[] = "/tmp/fsc-store-XXXXXX";
	struct store_try t = {.n = 8, .dir = "/nonexistent/fabscope"};
	const char *old = getenv("TMPDIR");
	char *saved = old ? strdup(old) : NULL;
	struct job j = {0};

	(void)state;
	capture_stderr(err, sizeof(err), store_try, &t);
	assert_int_equal(t.rc, -ENOENT);
	assert_non_null(strstr(err, "cannot create the disk store in '/nonexistent/fabscope'"));
	assert_non_null(strstr(err, "TMPDIR"));
	assert_null(strchr(strchr(err, '\n') + 1, '\n')); /* one line */

	/* room for the whole matrix is checked first: 2^20 nodes need 44 TB */
	assert_non_null(mkdtemp(dir));
	t = (struct store_try){.n = 1 << 20, .dir = dir};
	capture_stderr(err, sizeof(err), store_try, &t);
	assert_int_equal(t.rc, -ENOSPC);
	assert_non_null(strstr(err, "needs 4.4e+04 GB"));
	assert_non_null(strstr(err, dir));
	assert_int_equal(rmdir(dir), 0);

	/* a run asked to keep its matrix on disk where it cannot */
	reset();
	F.set.store = FSC_MATRIX_STORE_DISK;
	setenv("TMPDIR", "/nonexistent/fabscope", 1);
	capture_stderr(err, sizeof(err), run_disk, &j);
	if (saved)
		setenv("TMPDIR", saved, 1);
	else
		unsetenv("TMPDIR");
	free(saved);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(j.rc[i], -ENOENT);
		assert_int_equal(j.failed[i], 1);
		assert_int_equal(F.closes[i], 1);
	}
	assert_int_equal(F.rounds_seen[0][1], 0);
	assert_non_null(strstr(err, "cannot create the disk store in '/nonexistent/fabscope'"));
}

/* The text from the summary's header to the end (the lines before it
 * carry timings). */
static const char *summary_of(const char *out)
{
	const char *p = strstr(out, "# fabric ");

	assert_non_null(p);
	return p;
}

/* Every consumer of the matrix reads it from disk as from memory: the
 * same record (cells, spread, candidates, suspects, verdict) and the same
 * terminal summary (per-node medians, worst links, verdict) on noisy
 * matrices with a slow node and a slow link, at 5 nodes on 5 ranks and 16
 * nodes on one rank; auto keeps them in memory at this size. */
static void fsc_matrix__disk_store_same_record_as_memory(void **state)
{
	static const char *const keys[] = {"bw_GBps",    "bw_min_GBps", "bw_max_GBps", "lat_us",
	                                   "lat_p99_us", "anomalies",   "unconfirmed", "verdict",
	                                   "bw_spread",  "lat_spread",  "candidates",  "status"};
	static const enum fsc_matrix_store_kind kinds[3] = {
	        FSC_MATRIX_STORE_MEMORY, FSC_MATRIX_STORE_DISK, FSC_MATRIX_STORE_AUTO};
	static const char *const names[3] = {"memory", "disk", "memory"};

	(void)state;
	for (int big = 0; big < 2; big++) {
		static struct job j[3];

		for (int k = 0; k < 3; k++) {
			reset();
			F.noise = 0.3;
			F.slow_node = 3;
			F.node_factor = 0.2;
			F.slow_src = 1;
			F.slow_dst = 4;
			F.link_factor = 0.1;
			F.set.store = kinds[k];
			if (big) {
				fake_matrix.layout = fake_layout;
				F.sim = 1;
				F.sim_n = 16;
			}
			memset(&j[k], 0, sizeof(j[k]));
			run(&j[k], big ? 1 : 5);
			assert_int_equal(j[k].rc[0], 0);
			assert_string_equal(lbh_str(j[k].rec, "store"), names[k]);
		}
		assert_json_fields_equal(j[0].rec, j[1].rec, keys, sizeof(keys) / sizeof(keys[0]));
		assert_string_equal(summary_of(j[0].out), summary_of(j[1].out));
		assert_non_null(strstr(j[1].out, "# worst links by bandwidth:"));
		assert_non_null(strstr(lbh_str(j[1].rec, "verdict"), "node slow"));
		for (int k = 0; k < 3; k++)
			json_decref(j[k].rec);
	}
}

/* auto: memory while the dense figures fit FSC_MATRIX_MEMORY_MAX (256
 * MiB: 2,590 nodes), disk above; full_max goes no higher. */
static void fsc_matrix__auto_store_threshold(void **state)
{
	(void)state;
	assert_true(fsc_matrix_dense_bytes(2590) <= FSC_MATRIX_MEMORY_MAX);
	assert_true(fsc_matrix_dense_bytes(2591) > FSC_MATRIX_MEMORY_MAX);
	assert_true(fsc_matrix_dense_bytes(FSC_MATRIX_FULL_MAX_MOST) <= FSC_MATRIX_MEMORY_MAX);
	assert_true(fsc_matrix_dense_bytes(FSC_MATRIX_FULL_MAX_MOST + 1) > FSC_MATRIX_MEMORY_MAX);
	assert_true(FSC_MATRIX_FULL_MAX_DEFAULT < FSC_MATRIX_FULL_MAX_MOST);
	assert_true(fsc_matrix_dense_bytes(10000) == 4e9);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(fsc_matrix__healthy_matrix_every_pair_once),
	        cmocka_unit_test(fsc_matrix__slow_link_confirmed_by_the_retest_callback),
	        cmocka_unit_test(fsc_matrix__all_nodes_on_one_rank_from_a_layout_hook),
	        cmocka_unit_test(fsc_matrix__failed_measure_fails_every_rank),
	        cmocka_unit_test(fsc_matrix__wrong_bytes_and_anomalies_count_as_failures),
	        cmocka_unit_test(fsc_matrix__store_hook_keeps_the_cells),
	        cmocka_unit_test(fsc_matrix__bad_settings_are_one_error_record),
	        cmocka_unit_test(fsc_matrix__serial_schedule_and_csv),
	        cmocka_unit_test(fsc_matrix__topology_schedule_every_pair_once),
	        cmocka_unit_test(fsc_matrix__estimate_of_a_single_round),
	        cmocka_unit_test(fsc_matrix__streams_the_record_to_the_results_file),
	        cmocka_unit_test(fsc_matrix__layouts_per_host_and_per_rank),
	        cmocka_unit_test(fsc_matrix__retest_budget_grows_sublinearly),
	        cmocka_unit_test(fsc_matrix__slow_link_found_through_a_cleared_node),
	        cmocka_unit_test(fsc_matrix__one_slow_link_of_two_does_not_make_a_slow_node),
	        cmocka_unit_test(fsc_matrix__link_slow_only_in_a_retest_is_not_named),
	        cmocka_unit_test(fsc_matrix__dense_store_starts_unmeasured),
	        cmocka_unit_test(fsc_matrix__file_store_same_cells_as_dense),
	        cmocka_unit_test(fsc_matrix__file_store_leaves_no_file),
	        cmocka_unit_test(fsc_matrix__file_store_errors_are_one_line),
	        cmocka_unit_test(fsc_matrix__disk_store_same_record_as_memory),
	        cmocka_unit_test(fsc_matrix__auto_store_threshold),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
