/* report: verdict first, heat maps (full and aggregated), bake-off,
 * nothing external; rendering itself is checked in Chromium by
 * tests/integration/report_html.sh. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsc_version.h"
#include "history.h"
#include "report.h"

static char chartjs[] = "/tmp/fsc-test-chartjs-XXXXXX";

static int setup(void **state)
{
	int fd = mkstemp(chartjs);

	(void)state;
	if (fd < 0)
		return -1;
	/* a stand-in: the unit test checks structure, not drawing */
	if (write(fd, "var Chart=function(){};\n", 24) != 24)
		return -1;
	close(fd);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return unlink(chartjs);
}

static json_t *pairs_rec(int n, int slow_src, int slow_dst)
{
	json_t *bw = json_array(), *lab = json_array(), *an = json_array();

	for (int i = 0; i < n; i++) {
		json_t *row = json_array();
		char name[16];

		snprintf(name, sizeof(name), "node%02d", i);
		json_array_append_new(lab, json_string(name));
		for (int j = 0; j < n; j++)
			json_array_append_new(
			        row,
			        i == j ? json_null()
			               : json_real(i == slow_src && j == slow_dst ? 0.3 : 10.0));
		json_array_append_new(bw, row);
	}
	if (slow_src >= 0)
		json_array_append_new(an, json_pack("{s:s, s:i, s:i, s:s, s:s}", "kind", "link",
		                                    "src", slow_src, "dst", slow_dst, "direction",
		                                    "out", "text", "link node02->node01 slow"));
	return json_pack("{s:s, s:s, s:s, s:o, s:o, s:o}", "fabric", "mpi", "pattern", "pairs",
	                 "status", "anomaly", "labels", lab, "bw_GBps", bw, "anomalies", an);
}

/* An aggregated pairs record of n nodes, as the matrix driver writes one
 * above its size limit: per_node, worst_cells and the spreads instead of
 * the matrices.  Node 37 sends at 0.2x, its cells are the worst, and a
 * confirmed node anomaly names it. */
static json_t *agg_rec(int n)
{
	json_t *lab = json_array(), *per = json_array(), *bw = json_array(), *lat = json_array();

	for (int i = 0; i < n; i++) {
		char name[16];

		snprintf(name, sizeof(name), "h%02d", i);
		json_array_append_new(lab, json_string(name));
		/* a little spread, so that the order is not the labels' */
		json_array_append_new(per, json_pack("{s:f, s:f, s:f, s:f}", "bw_send_GBps",
		                                     i == 37 ? 2.0 : 10.0 - (i % 7) * 0.05,
		                                     "bw_recv_GBps", 10.0 - (i % 5) * 0.05,
		                                     "lat_send_us", 2.0, "lat_recv_us", 2.0));
	}
	for (int k = 0; k < 3; k++)
		json_array_append_new(bw, json_pack("{s:i, s:i, s:f}", "src", k < 2 ? 37 : 3, "dst",
		                                    k == 0   ? 5
		                                    : k == 1 ? 12
		                                             : 4,
		                                    "value",
		                                    k == 0   ? 1.5
		                                    : k == 1 ? 1.8
		                                             : 8.0));
	json_array_append_new(lat,
	                      json_pack("{s:i, s:i, s:f}", "src", 37, "dst", 5, "value", 30.0));
	return json_pack("{s:s, s:s, s:s, s:b, s:o, s:o, s:{s:o, s:o}, s:{s:i, s:f, s:f, s:f, "
	                 "s:f}, s:{s:i, s:f, s:f, s:f, s:f}, s:[{s:s, s:s, s:s, s:s, s:i, s:n, "
	                 "s:[s], s:f, s:f, s:f, s:i, s:s}], s:s}",
	                 "fabric", "mpi", "pattern", "pairs", "status", "anomaly", "aggregated", 1,
	                 "labels", lab, "per_node", per, "worst_cells", "bandwidth", bw, "latency",
	                 lat, "bw_spread", "cells", n * (n - 1), "median", 10.0, "min_ratio", 0.15,
	                 "max_ratio", 1.02, "mad_ratio", 0.01, "lat_spread", "cells", n * (n - 1),
	                 "median", 2.0, "min_ratio", 0.9, "max_ratio", 15.0, "mad_ratio", 0.02,
	                 "anomalies", "kind", "node", "metric", "bandwidth", "unit", "GB/s",
	                 "direction", "send", "src", 37, "dst", "hosts", "h37", "measured", 2.0,
	                 "expected", 10.0, "ratio", 0.2, "confirmations", 3, "text",
	                 "node h37 slow sending", "verdict", "node h37 slow sending");
}

static json_t *sweep_rec(double bytes, double t_us)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:f, s:{s:f, s:f, s:f, s:f}, s:f}", "fabric", "mpi",
	                 "pattern", "bandwidth", "impl", "uni", "status", "ok", "bytes", bytes,
	                 "time_us", "p50", t_us, "p95", t_us, "p99", t_us, "max", t_us,
	                 "busbw_GBps", bytes / (t_us * 1e3));
}

static json_t *doc(void)
{
	return json_pack("{s:s, s:s, s:{s:s, s:i, s:i}, s:[]}", "schema", FSC_RESULTS_SCHEMA,
	                 "status", "complete", "meta", "start_time", "2026-01-01T00:00:00Z",
	                 "nhosts", 4, "nranks", 4, "records");
}

/* Nothing outside the file: no URL to load, no stylesheet link. */
static void assert_self_contained(const char *html)
{
	assert_null(strstr(html, "src=\"http"));
	assert_null(strstr(html, "<link"));
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = calloc(1, 1 << 22);
	size_t len;

	assert_non_null(f);
	assert_non_null(buf);
	len = fread(buf, 1, (1 << 22) - 1, f);
	fclose(f);
	assert_true(len > 0 && len < (1 << 22) - 1);
	return buf;
}

static char *render(struct fsc_report_input *in, int expect_rc)
{
	char *buf = 0, err[256] = "";
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	in->chartjs = in->chartjs ? in->chartjs : chartjs;
	in->title = "t";
	assert_int_equal(fsc_report_write(f, in, err, sizeof(err)), expect_rc);
	fclose(f);
	return buf;
}

static void fsc_report_write__verdict_first_and_suspect_marked(void **state)
{
	json_t *d = doc();
	const char *labels[] = {"run"};
	struct fsc_report_input in = {.runs = &d, .labels = labels, .nruns = 1};
	char *html, *verdict, *first_table;

	(void)state;
	json_array_append_new(json_object_get(d, "records"), pairs_rec(4, 2, 1));
	for (int k = 0; k < 5; k++)
		json_array_append_new(json_object_get(d, "records"), sweep_rec(1024 << k, 2 + k));
	html = render(&in, 0);
	verdict = strstr(html, "<h1 id=\"verdict\">ANOMALY</h1>");
	first_table = strstr(html, "<table");
	assert_non_null(verdict);
	assert_true(verdict < first_table);
	assert_non_null(strstr(html, "<svg class=\"heatmap\""));
	/* exactly one suspect cell, the slow link */
	assert_non_null(strstr(html, "class=\"cell suspect\""));
	assert_null(strstr(strstr(html, "class=\"cell suspect\"") + 1, "class=\"cell suspect\""));
	assert_non_null(strstr(strstr(html, "class=\"cell suspect\""), "node02 &#8594; node01"));
	/* three curves for the sweep: bandwidth, latency, percentiles */
	assert_non_null(strstr(html, "<canvas id=\"chart2\""));
	assert_null(strstr(html, "<canvas id=\"chart3\""));
	assert_self_contained(html);
	free(html);
	json_decref(d);
}

static int count(const char *hay, const char *needle)
{
	int k = 0;

	for (const char *q = hay; (q = strstr(q, needle)); q++)
		k++;
	return k;
}

/* With --topology the heat map groups hosts by leaf: leaves in the order
 * of their first host, hosts outside the topology last, a line between
 * groups; the cells keep their figures (the slow link stays node02 to
 * node01 wherever it is drawn). */
static void fsc_report_write__full_heat_map_grouped_by_leaf(void **state)
{
	json_t *d = doc(), *rec = pairs_rec(5, 2, 1);
	const char *labels[] = {"run"};
	struct fsc_report_input in = {.runs = &d, .labels = labels, .nruns = 1};
	char *html, *map;
	const char *at[5];
	static const char *const order[5] = {"node00", "node02", "node01", "node03", "node04"};

	(void)state;
	json_object_set_new(rec, "leaves", json_pack("[s, s, s, s, n]", "B", "A", "B", "A"));
	json_array_append_new(json_object_get(d, "records"), rec);
	html = render(&in, 0);
	map = strstr(html, "<svg class=\"heatmap\"");
	assert_non_null(map);
	assert_non_null(strstr(map, "hosts grouped by leaf"));
	/* row labels: leaf B (node00, node02), leaf A (node01, node03), then
	 * node04 outside the topology */
	for (int k = 0; k < 5; k++) {
		char needle[64];

		snprintf(needle, sizeof(needle), "text-anchor=\"end\">%s<", order[k]);
		at[k] = strstr(map, needle);
		assert_non_null(at[k]);
		if (k)
			assert_true(at[k - 1] < at[k]);
	}
	/* two edges (B|A, A|outside), each drawn across and down */
	assert_int_equal(count(map, "class=\"leaf-edge\""), 4);
	assert_non_null(strstr(strstr(map, "class=\"cell suspect\""), "node02 &#8594; node01"));
	free(html);
	json_decref(d);

	/* without leaves: the record's order, no edge */
	d = doc();
	in.runs = &d;
	json_array_append_new(json_object_get(d, "records"), pairs_rec(5, 2, 1));
	html = render(&in, 0);
	assert_null(strstr(html, "leaf-edge"));
	assert_true(strstr(html, ">node01<") < strstr(html, ">node02<"));
	free(html);
	json_decref(d);
}

/* A node anomaly marks that node's labels only, not every label; a cell at
 * a tenth of the median is red, the grey is for cells without a figure. */
static void fsc_report_write__node_suspect_labels_and_dead_cell_colors(void **state)
{
	json_t *d = doc(), *rec = pairs_rec(4, -1, -1);
	const char *labels[] = {"run"};
	struct fsc_report_input in = {.runs = &d, .labels = labels, .nruns = 1};
	char *html;

	(void)state;
	json_array_set_new(json_array_get(json_object_get(rec, "bw_GBps"), 0), 3, json_real(1.0));
	json_array_append_new(json_object_get(rec, "anomalies"),
	                      json_pack("{s:s, s:i, s:n, s:s, s:s}", "kind", "node", "src", 2,
	                                "dst", "direction", "send", "text", "node node02 slow"));
	json_array_append_new(json_object_get(d, "records"), rec);
	html = render(&in, 0);
	/* node02 as a row and as a column label */
	assert_int_equal(count(html, " fill=\"#b3261e\">node02</text>"), 2);
	assert_int_equal(count(html, " fill=\"#b3261e\">"), 2);
	/* the diagonal only is grey; the 0.1x cell is red */
	assert_int_equal(count(html, "fill=\"#eee\""), 4);
	assert_non_null(strstr(html, "fill=\"hsl(0,70%,45%)\" stroke=\"#fff\"><title>node00 "
	                             "&#8594; node03: 1 GB/s (0.10 &#215; median)"));
	free(html);
	json_decref(d);
}

static void fsc_report_write__large_matrix_is_aggregated_per_host(void **state)
{
	json_t *d = doc();
	const char *labels[] = {"big"};
	struct fsc_report_input in = {.runs = &d, .labels = labels, .nruns = 1};
	char *html;

	(void)state;
	json_array_append_new(json_object_get(d, "records"), pairs_rec(80, 2, 1));
	html = render(&in, 0);
	assert_non_null(strstr(html, "80 nodes: aggregated per host"));
	assert_null(strstr(html, "class=\"cell")); /* no 6400-cell grid */
	/* worst host first: node02 (outgoing 0.3) or node01 (incoming 0.3) */
	assert_non_null(strstr(html, "<tr><td>node0"));
	assert_true(strstr(html, "0.3 GB/s") != NULL);
	free(html);
	json_decref(d);
}

/* A record without matrices (above the size limit of full matrices) is
 * shown from its per-node medians and worst cells, read from a file as the
 * command reads it. */
static void fsc_report_main__aggregated_record_shows_worst_hosts_and_cells(void **state)
{
	char dir[] = "/tmp/fsc-test-report-XXXXXX", run[64], out[64];
	char *argv[] = {"report", "--chartjs", chartjs, "-o", out, run, 0};
	json_t *d = doc();
	char *html, *p, *table;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(run, sizeof(run), "%s/run.json", dir);
	snprintf(out, sizeof(out), "%s/r.html", dir);
	json_array_append_new(json_object_get(d, "records"), agg_rec(100));
	assert_int_equal(json_dump_file(d, run, 0), 0);
	assert_int_equal(fsc_report_main(6, argv), 0);
	html = read_file(out);

	assert_non_null(strstr(html, "<h1 id=\"verdict\">ANOMALY</h1>"));
	assert_non_null(strstr(html, "<h3>pairs matrix, mpi: 100 nodes, median cell 10 GB/s</h3>"));
	assert_non_null(strstr(html, "<p><b>node h37 slow sending</b></p>"));
	assert_non_null(strstr(html, "100 nodes: aggregated per host, worst 64 hosts first"));
	assert_non_null(strstr(html, "no full matrix above --pairs-full-max nodes"));
	assert_null(strstr(html, "hold every cell"));
	/* the strip: h37 first, outlined as a suspect; 64 hosts, two cells each */
	p = strstr(html, "<rect class=\"host");
	assert_non_null(p);
	assert_true(p == strstr(html, "<rect class=\"host suspect\" x=\"100\" y=\"4\" width=\"12\" "
	                              "height=\"16\" fill=\"hsl(0,70%,45%)\""));
	assert_non_null(strstr(p, "<title>h37 send: 2 GB/s (0.20 &#215; median)</title>"));
	assert_true(strstr(p, "<title>h37 send") < strstr(p, "</rect>"));
	{
		int rects = 0;

		for (char *q = p; (q = strstr(q, "<rect class=\"host")); q++)
			rects++;
		assert_int_equal(rects, 128);
	}
	/* the hosts table: h37 first, its row marked, ratios to the median */
	table = strstr(
	        html, "<table class=\"hosts\"><tr><th>host</th><th>send</th><th>receive</th></tr>");
	assert_non_null(table);
	assert_ptr_equal(strstr(table,
	                        "<tr class=\"fail\"><td>h37</td><td class=\"n\">2 GB/s "
	                        "(0.20\u00d7)</td><td class=\"n\">9.9 GB/s (0.99\u00d7)</td>"),
	                 strstr(table, "</tr>") + 5);
	/* 20 rows after the header */
	{
		char *end = strstr(table, "</table>");
		int rows = 0;

		for (char *q = table; (q = strstr(q, "<tr")) && q < end; q++)
			rows++;
		assert_int_equal(rows, 21);
	}
	/* the worst cells: h37's first, marked, with their ratio to the median */
	table = strstr(html, "<table class=\"worst-cells\"><tr><th>worst bandwidth cells");
	assert_non_null(table);
	assert_ptr_equal(strstr(table, "<tr class=\"fail\"><td>h37 &#8594; h05</td><td "
	                               "class=\"n\">1.5</td><td class=\"n\">0.15\u00d7</td></tr>"),
	                 strstr(table, "</tr>") + 5);
	assert_non_null(strstr(table, "<tr class=\"fail\"><td>h37 &#8594; h12</td>"));
	assert_non_null(strstr(table, "<tr><td>h03 &#8594; h04</td><td class=\"n\">8</td>"));
	assert_non_null(strstr(html, "<th>worst latency cells (of 1 kept)</th><th>us</th>"));
	assert_non_null(strstr(html, "<td class=\"n\">15.00\u00d7</td>"));
	/* the anomaly table as for full matrices; no leaves, no leaf table */
	assert_non_null(strstr(html, "<table class=\"anomalies\">"));
	assert_null(strstr(html, "<table class=\"leaves\">"));
	assert_null(strstr(html, "class=\"cell"));
	assert_self_contained(html);
	free(html);
	json_decref(d);
	unlink(run);
	unlink(out);
	rmdir(dir);
}

/* 10,000 hosts on 100 leaves (--topology): the per-leaf table counts each
 * leaf's hosts and marks the leaf with a confirmed anomaly; the host table
 * names each host's leaf.  Nothing here is O(n^2): a pass over 10^8 absent
 * cells would take seconds. */
static void fsc_report_write__aggregated_record_with_leaves(void **state)
{
	json_t *d = doc(), *rec = agg_rec(10000), *lv = json_array(), *sum = json_array();
	const char *labels[] = {"big"};
	struct fsc_report_input in = {.runs = &d, .labels = labels, .nruns = 1};
	char *html, *table;

	(void)state;
	for (int i = 0; i < 10000; i++) {
		char leaf[16];

		snprintf(leaf, sizeof(leaf), "leaf%02d", i / 100);
		json_array_append_new(lv, i == 9999 ? json_null() : json_string(leaf));
	}
	for (int l = 0; l < 100; l++) {
		char leaf[16];

		snprintf(leaf, sizeof(leaf), "leaf%02d", l);
		json_array_append_new(sum,
		                      json_pack("{s:s, s:f, s:f, s:f}", "leaf", leaf, "intra", 1.0,
		                                "cross_out", l == 7 ? 0.3 : 1.0, "cross_in", 1.0));
	}
	json_object_set_new(rec, "leaves", lv);
	json_object_set_new(rec, "leaf_summary", sum);
	json_object_set_new(rec, "leaf_anomalies",
	                    json_pack("[s]", "leaf07 uplink slow upward (cross-leaf out 0.3x, in "
	                                     "1x, intra-leaf 1x); confirmed 3/3"));
	json_array_append_new(json_object_get(d, "records"), rec);
	html = render(&in, 0);
	assert_non_null(
	        strstr(html, "<h3>pairs matrix, mpi: 10000 nodes, median cell 10 GB/s</h3>"));
	assert_non_null(strstr(html, "<table class=\"hosts\"><tr><th>host</th><th>leaf</th>"));
	assert_non_null(strstr(html, "<tr class=\"fail\"><td>h37</td><td>leaf00</td>"));
	table = strstr(html, "<table class=\"leaves\">");
	assert_non_null(table);
	assert_non_null(strstr(table,
	                       "<tr class=\"fail\"><td>leaf07</td><td class=\"n\">100</td><td "
	                       "class=\"n\">1.00\u00d7</td><td class=\"n\">0.30\u00d7</td><td "
	                       "class=\"n\">1.00\u00d7</td></tr>"));
	/* the last host is on no leaf */
	assert_non_null(strstr(table, "<tr><td>leaf99</td><td class=\"n\">99</td>"));
	assert_null(strstr(table, "<tr class=\"fail\"><td>leaf00</td>"));
	assert_self_contained(html);
	free(html);
	json_decref(d);
}

static void fsc_report_write__bakeoff_names_winner_and_ratio(void **state)
{
	json_t *d[2] = {doc(), doc()};
	const char *labels[] = {"alpha", "beta"};
	struct fsc_report_input in = {.runs = d, .labels = labels, .nruns = 2};
	char *html;

	(void)state;
	for (int k = 0; k < 3; k++) {
		json_array_append_new(json_object_get(d[0], "records"), sweep_rec(1024 << k, 2));
		json_array_append_new(json_object_get(d[1], "records"), sweep_rec(1024 << k, 4));
	}
	html = render(&in, 0);
	assert_non_null(strstr(html, "id=\"bakeoff\""));
	assert_non_null(strstr(html, "alpha wins 3 of 3 points; beta wins 0 of 3 points"));
	assert_non_null(strstr(html, "<td>alpha</td><td class=\"n\">2.00\u00d7</td>"));
	free(html);
	json_decref(d[0]);
	json_decref(d[1]);
}

static void fsc_report_write__baseline_overlaid_and_regression_marked(void **state)
{
	json_t *d = doc(), *base = doc(), *data, *charts, *cmp;
	const char *labels[] = {"run"};
	struct fsc_report_input in = {.runs = &d, .labels = labels, .nruns = 1};
	char *html, *start, *end;
	int overlaid = 0, marked = 0;
	size_t i;
	json_t *c;

	(void)state;
	for (int k = 0; k < 3; k++) {
		json_array_append_new(json_object_get(d, "records"),
		                      sweep_rec(1024 << k, k == 2 ? 4 : 2));
		json_array_append_new(json_object_get(base, "records"), sweep_rec(1024 << k, 2));
	}
	/* the comparison judged the 4 KiB point a regression */
	cmp = json_pack("{s:s, s:{s:i}, s:[{s:s, s:s, s:f}, {s:s, s:s, s:f}]}", "verdict",
	                "regression", "counts", "regression", 1, "points", "key",
	                "mpi bandwidth uni 4096B", "judgement", "regression", "bw_change", -0.5,
	                "key", "mpi bandwidth uni 2048B", "judgement", "unchanged", "bw_change",
	                0.0);
	in.cmp = cmp;
	in.baseline = base;
	html = render(&in, 0);
	start = strstr(html, "<script id=\"fsc-data\" type=\"application/json\">");
	assert_non_null(start);
	start = strchr(start, '>') + 1;
	end = strstr(start, "</script>");
	assert_non_null(end);
	*end = 0;
	data = json_loads(start, 0, 0);
	assert_non_null(data);
	charts = json_object_get(data, "charts");
	json_array_foreach(charts, i, c)
	{
		const json_t *ds;
		size_t k;

		json_array_foreach(json_object_get(c, "datasets"), k, ds)
		{
			const char *run = json_string_value(json_object_get(ds, "run"));
			const json_t *pts = json_object_get(ds, "data");

			if (!strcmp(run, "baseline")) {
				assert_int_equal(json_array_size(pts), 3);
				overlaid++;
			}
			if (!strcmp(run, "regression")) {
				assert_true(json_is_true(json_object_get(ds, "marks")));
				assert_int_equal(json_array_size(pts), 1);
				assert_true(json_number_value(json_object_get(
				                    json_array_get(pts, 0), "x")) == 4096);
				marked++;
			}
		}
	}
	/* on the bandwidth and the latency curve, not the percentiles */
	assert_int_equal(overlaid, 2);
	assert_int_equal(marked, 2);
	json_decref(data);
	free(html);
	json_decref(cmp);
	json_decref(base);
	json_decref(d);
}

static void fsc_report_write__missing_chartjs_is_a_clear_error(void **state)
{
	json_t *d = doc();
	const char *labels[] = {"run"};
	struct fsc_report_input in = {
	        .runs = &d, .labels = labels, .nruns = 1, .chartjs = "/nonexistent/chart.min.js"};
	char *html;

	(void)state;
	html = render(&in, -ENOENT);
	assert_int_equal(strlen(html), 0);
	free(html);
	json_decref(d);
}

/* The command: --trend p50 (the first of its choices) adds the history's
 * trend of the runs' points; without --trend there is none. */
static void fsc_report_main__trend_of_the_first_metric(void **state)
{
	char dir[] = "/tmp/fsc-test-report-XXXXXX", db[64], run[64], out[64];
	char *with[] = {"report", "--db", db,  "--chartjs", chartjs, "--trend",
	                "p50",    "-o",   out, run,         0};
	char *without[] = {"report", "--db", db, "--chartjs", chartjs, "-o", out, run, 0};
	struct fsc_history *h = 0;
	json_t *d = doc();
	char err[512], *html;
	size_t len;
	int64_t id;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(db, sizeof(db), "%s/h.db", dir);
	snprintf(run, sizeof(run), "%s/run.json", dir);
	snprintf(out, sizeof(out), "%s/r.html", dir);
	json_array_append_new(json_object_get(d, "records"), sweep_rec(1024, 2));
	assert_int_equal(json_dump_file(d, run, 0), 0);
	assert_int_equal(fsc_history_open(&h, db, 100, err, sizeof(err)), 0);
	assert_int_equal(fsc_history_add(h, d, 0, &id, err, sizeof(err)), 0);
	fsc_history_close(h);

	assert_int_equal(fsc_report_main(10, with), 0);
	f = fopen(out, "r");
	assert_non_null(f);
	html = calloc(1, 1 << 20);
	len = fread(html, 1, (1 << 20) - 1, f);
	fclose(f);
	assert_true(len > 0);
	assert_non_null(strstr(html, "\"trend0\""));
	assert_int_equal(fsc_report_main(8, without), 0);
	f = fopen(out, "r");
	assert_non_null(f);
	memset(html, 0, 1 << 20);
	assert_true(fread(html, 1, (1 << 20) - 1, f) > 0);
	fclose(f);
	assert_null(strstr(html, "\"trend0\""));
	free(html);
	json_decref(d);
	unlink(run);
	unlink(out);
	unlink(db);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(fsc_report_write__verdict_first_and_suspect_marked),
	        cmocka_unit_test(fsc_report_write__node_suspect_labels_and_dead_cell_colors),
	        cmocka_unit_test(fsc_report_write__large_matrix_is_aggregated_per_host),
	        cmocka_unit_test(fsc_report_main__aggregated_record_shows_worst_hosts_and_cells),
	        cmocka_unit_test(fsc_report_write__aggregated_record_with_leaves),
	        cmocka_unit_test(fsc_report_write__full_heat_map_grouped_by_leaf),
	        cmocka_unit_test(fsc_report_write__bakeoff_names_winner_and_ratio),
	        cmocka_unit_test(fsc_report_write__baseline_overlaid_and_regression_marked),
	        cmocka_unit_test(fsc_report_write__missing_chartjs_is_a_clear_error),
	        cmocka_unit_test(fsc_report_main__trend_of_the_first_metric),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
