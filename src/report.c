/* The HTML report: see report.h. */
#include "report.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "compare.h"
#include "err.h"
#include "history.h"
#include "options.h"
#include "results.h"

/* Above this many nodes a matrix is shown aggregated. */
#define FSC_REPORT_MAX_CELLS_SIDE 64

static void esc(FILE *f, const char *s)
{
	for (; s && *s; s++)
		switch (*s) {
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '&': fputs("&amp;", f); break;
		case '"': fputs("&quot;", f); break;
		default: fputc(*s, f);
		}
}

/* A relative change as "+1.2%", or an en dash when there is none. */
static const char *pct(char *buf, size_t len, double v)
{
	if (isfinite(v))
		snprintf(buf, len, "%+.1f%%", 100 * v);
	else
		snprintf(buf, len, "\u2013");
	return buf;
}

/* One table cell: <td>, or <td class="CLS"> when cls is given ("n": a
 * figure, right-aligned), with the printf-formatted text escaped. */
__attribute__((format(printf, 3, 4))) static void td(FILE *f, const char *cls, const char *fmt, ...)
{
	char text[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (cls)
		fprintf(f, "<td class=\"%s\">", cls);
	else
		fputs("<td>", f);
	esc(f, text);
	fputs("</td>", f);
}

static const char style[] =
        "body{font:14px/1.4 system-ui,sans-serif;margin:0 24px 24px;color:#222}"
        "header.verdict{margin:0 -24px 16px;padding:14px 24px;color:#fff}"
        "header.verdict h1{margin:0;font-size:28px}header.verdict p{margin:4px 0 0}"
        ".v-pass{background:#1b7f3b}.v-fail{background:#b3261e}.v-regression{background:#b3261e}"
        ".v-anomaly{background:#c06000}"
        "table{border-collapse:collapse;margin:8px 0 16px}td,th{border:1px solid #ccc;"
        "padding:3px 8px;text-align:left}th{background:#f2f2f2}td.n{text-align:right;"
        "font-variant-numeric:tabular-nums}tr.regression td:first-child,tr.fail "
        "td:first-child{color:#b3261e;font-weight:bold}tr.improvement "
        "td:first-child{color:#1b7f3b;font-weight:bold}"
        ".charts{display:flex;flex-wrap:wrap;gap:12px}.chart{border:1px solid #ddd;padding:6px}"
        "h2{border-bottom:2px solid #444;margin-top:28px}.meta{color:#555}"
        "svg.heatmap text{font:10px sans-serif}.win{font-weight:bold}";

/* ---- heat maps ---- */

static int suspect_cell(const json_t *rec, int i, int j, int *node)
{
	const json_t *a;
	size_t k;
	int hit = 0;

	*node = 0;
	json_array_foreach(json_object_get(rec, "anomalies"), k, a)
	{
		int s = (int)fsc_json_num(a, "src"), d = json_is_number(json_object_get(a, "dst"))
		                                                 ? (int)fsc_json_num(a, "dst")
		                                                 : -1;

		if (!strcmp(fsc_json_str(a, "kind", ""), "node") && (s == i || s == j))
			*node = 1, hit = 1;
		if (!strcmp(fsc_json_str(a, "kind", ""), "link") &&
		    ((s == i && d == j) ||
		     (s == j && d == i && !strcmp(fsc_json_str(a, "direction", ""), "both"))))
			hit = 1;
	}
	return hit;
}

/* Has node i a confirmed node anomaly? */
static int suspect_node(const json_t *rec, size_t i)
{
	int node;

	return suspect_cell(rec, (int)i, (int)i, &node) && node;
}

static double cellv(const json_t *m, size_t i, size_t j)
{
	const json_t *v = json_array_get(json_array_get(m, i), j);

	return json_is_number(v) ? json_number_value(v) : NAN;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double matrix_median(const json_t *m, size_t n)
{
	double *v = malloc((n * n + 1) * sizeof(*v)), med = NAN;
	size_t k = 0;

	if (!v)
		return NAN;
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < n; j++)
			if (isfinite(cellv(m, i, j)))
				v[k++] = cellv(m, i, j);
	if (k) {
		qsort(v, k, sizeof(*v), cmp_d);
		med = v[(k - 1) / 2];
	}
	free(v);
	return med;
}

/* ratio 0.5 or less red (a dead link at 0.01 as well), 1 or more green;
 * grey only where there is no figure */
static void color(char *buf, size_t len, double ratio)
{
	double t = (ratio - 0.5) / 0.5;

	if (!isfinite(ratio))
		snprintf(buf, len, "#eee");
	else
		snprintf(buf, len, "hsl(%.0f,70%%,%.0f%%)", 120 * fmin(fmax(t, 0), 1),
		         45 + 10 * fmin(fmax(t, 0), 1));
}

/* The heat map's order of nodes: grouped by leaf (the record's `leaves`,
 * with --topology), leaves in their first node's order and nodes outside
 * the topology last; else the record's order.  ord must hold n. */
static void leaf_order(const json_t *rec, size_t n, size_t *ord)
{
	const json_t *lv = json_object_get(rec, "leaves");
	size_t k = 0;

	if (json_array_size(lv) != n) {
		for (size_t i = 0; i < n; i++)
			ord[i] = i;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const char *li = json_string_value(json_array_get(lv, i)), *lp;
		int first = li != NULL;

		for (size_t p = 0; first && p < i; p++)
			first = !(lp = json_string_value(json_array_get(lv, p))) || strcmp(lp, li);
		for (size_t j = i; first && j < n; j++)
			if ((lp = json_string_value(json_array_get(lv, j))) && !strcmp(lp, li))
				ord[k++] = j;
	}
	for (size_t i = 0; i < n; i++)
		if (!json_string_value(json_array_get(lv, i)))
			ord[k++] = i;
}

static void heatmap_full(FILE *f, const json_t *rec, size_t n, double med)
{
	const json_t *labels = json_object_get(rec, "labels"),
	             *bw = json_object_get(rec, "bw_GBps"), *lv = json_object_get(rec, "leaves");
	int cs = n <= 16 ? 28 : n <= 32 ? 16 : 9, off = 70;
	int w = off + cs * (int)n + 10;
	size_t *ord = malloc((n ? n : 1) * sizeof(*ord));

	if (!ord)
		return;
	leaf_order(rec, n, ord);
	fprintf(f,
	        "<svg class=\"heatmap\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
	        "height=\"%d\" role=\"img\"><title>bandwidth src (row) to dst (column), "
	        "relative to the median cell%s</title>",
	        w, w, json_array_size(lv) == n ? ", hosts grouped by leaf" : "");
	for (size_t x = 0; x < n; x++) {
		size_t i = ord[x];
		int any = suspect_node(rec, i);

		fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\"%s>", off - 4,
		        off + cs * (int)x + cs / 2 + 3, any ? " fill=\"#b3261e\"" : "");
		esc(f, json_string_value(json_array_get(labels, i)));
		fprintf(f, "</text><text transform=\"translate(%d,%d) rotate(-60)\"%s>",
		        off + cs * (int)x + cs / 2, off - 4, any ? " fill=\"#b3261e\"" : "");
		esc(f, json_string_value(json_array_get(labels, i)));
		fputs("</text>", f);
	}
	for (size_t x = 0; x < n; x++)
		for (size_t y = 0; y < n; y++) {
			size_t i = ord[x], j = ord[y];
			double v = cellv(bw, i, j);
			char c[48];
			int node, sus = i != j && suspect_cell(rec, (int)i, (int)j, &node);

			color(c, sizeof(c), v / med);
			fprintf(f,
			        "<rect class=\"cell%s\" x=\"%d\" y=\"%d\" width=\"%d\" "
			        "height=\"%d\" "
			        "fill=\"%s\"%s><title>",
			        sus ? " suspect" : "", off + cs * (int)y, off + cs * (int)x, cs, cs,
			        c,
			        sus ? " stroke=\"#000\" stroke-width=\"2\"" : " stroke=\"#fff\"");
			esc(f, json_string_value(json_array_get(labels, i)));
			fputs(" &#8594; ", f);
			esc(f, json_string_value(json_array_get(labels, j)));
			if (isfinite(v))
				fprintf(f, ": %.3g GB/s (%.2f &#215; median)", v, v / med);
			fputs("</title></rect>", f);
		}
	/* a line where one leaf's hosts end and the next's begin, both ways */
	for (size_t x = 1; json_array_size(lv) == n && x < n; x++) {
		const char *a = json_string_value(json_array_get(lv, ord[x - 1])),
		           *b = json_string_value(json_array_get(lv, ord[x]));
		int at = off + cs * (int)x, end = off + cs * (int)n;

		if ((a == NULL) == (b == NULL) && (!a || !strcmp(a, b)))
			continue;
		fprintf(f,
		        "<line class=\"leaf-edge\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" "
		        "stroke=\"#000\"/><line class=\"leaf-edge\" x1=\"%d\" y1=\"%d\" "
		        "x2=\"%d\" y2=\"%d\" stroke=\"#000\"/>",
		        off, at, end, at, at, off, at, end);
	}
	fputs("</svg>\n", f);
	free(ord);
}

/* One table cell: a figure with its ratio to the median, or an en dash
 * where the record has none (a node never measured). */
static void td_fig(FILE *f, double v, double med, const char *unit)
{
	if (isfinite(v))
		td(f, "n", "%.3g %s (%.2f\u00d7)", v, unit, v / med);
	else
		td(f, "n", "\u2013");
}

static void td_ratio(FILE *f, double r)
{
	if (isfinite(r))
		td(f, "n", "%.2f\u00d7", r);
	else
		td(f, "n", "\u2013");
}

static const char *label(const json_t *labels, size_t i)
{
	const char *s = json_string_value(json_array_get(labels, i));

	return s ? s : "?";
}

/* Large matrices: one row per host with its outgoing and incoming figure
 * (the worst cell of its row and column, or in an aggregated record their
 * medians) and the peer of that cell where there is one (-1 otherwise). */
struct hostagg {
	size_t host;
	long out_peer, in_peer;
	double out, in;
};

/* a host's worse figure; hosts without figures last */
static double agg_key(const struct hostagg *h)
{
	double k = fmin(h->out, h->in);

	return isnan(k) ? INFINITY : k;
}

static int cmp_agg(const void *a, const void *b)
{
	const struct hostagg *x = a, *y = b;
	double wx = agg_key(x), wy = agg_key(y);

	if (wx != wy)
		return (wx > wy) - (wx < wy);
	return (x->host > y->host) - (x->host < y->host);
}

/* The hosts worst first: the worst 64 as a strip of two colored cells each
 * (out above, in below), the worst 20 in a table with their leaf when the
 * record has leaves; a host with a confirmed node anomaly outlined and its
 * row marked, as in the full heat map.  how says what the figures are. */
static void host_rows(FILE *f, const json_t *rec, struct hostagg *h, size_t n, double med,
                      const char *how, const char *const what[2])
{
	const json_t *labels = json_object_get(rec, "labels"),
	             *leaves = json_object_get(rec, "leaves");
	size_t show = n < 64 ? n : 64;
	int peers = 0;

	qsort(h, n, sizeof(*h), cmp_agg);
	for (size_t k = 0; k < show; k++)
		peers |= h[k].out_peer >= 0 || h[k].in_peer >= 0;
	fprintf(f,
	        "<p>%zu nodes: aggregated per host, worst %zu hosts first (%s, relative to the "
	        "median cell %.3g GB/s).</p>",
	        n, show, how, med);
	fprintf(f,
	        "<svg class=\"heatmap\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
	        "height=\"%d\" role=\"img\">",
	        (int)show * 12 + 100, 40);
	for (size_t k = 0; k < show; k++) {
		int sus = suspect_node(rec, h[k].host);

		for (int d = 0; d < 2; d++) {
			char c[48];
			double v = d ? h[k].in : h[k].out;

			color(c, sizeof(c), v / med);
			fprintf(f,
			        "<rect class=\"host%s\" x=\"%d\" y=\"%d\" width=\"12\" "
			        "height=\"16\" "
			        "fill=\"%s\"%s><title>",
			        sus ? " suspect" : "", 100 + 12 * (int)k, 4 + 18 * d, c,
			        sus ? " stroke=\"#000\" stroke-width=\"2\"" : " stroke=\"#fff\"");
			esc(f, label(labels, h[k].host));
			fprintf(f, " %s: ", what[d]);
			if (isfinite(v))
				fprintf(f, "%.3g GB/s (%.2f &#215; median)", v, v / med);
			else
				fputs("not measured", f);
			fputs("</title></rect>", f);
		}
	}
	fprintf(f, "<text x=\"0\" y=\"16\">%s</text><text x=\"0\" y=\"34\">%s</text></svg>\n",
	        what[0], what[1]);
	fputs("<table class=\"hosts\"><tr><th>host</th>", f);
	if (leaves)
		fputs("<th>leaf</th>", f);
	fprintf(f, "<th>%s</th>%s<th>%s</th>%s</tr>", what[0], peers ? "<th>to</th>" : "", what[1],
	        peers ? "<th>from</th>" : "");
	for (size_t k = 0; k < show && k < 20; k++) {
		const char *lf = json_string_value(json_array_get(leaves, h[k].host));

		fputs(suspect_node(rec, h[k].host) ? "<tr class=\"fail\">" : "<tr>", f);
		td(f, 0, "%s", label(labels, h[k].host));
		if (leaves)
			td(f, 0, "%s", lf ? lf : "\u2013");
		td_fig(f, h[k].out, med, "GB/s");
		if (peers)
			td(f, 0, "%s",
			   h[k].out_peer >= 0 ? label(labels, (size_t)h[k].out_peer) : "\u2013");
		td_fig(f, h[k].in, med, "GB/s");
		if (peers)
			td(f, 0, "%s",
			   h[k].in_peer >= 0 ? label(labels, (size_t)h[k].in_peer) : "\u2013");
		fputs("</tr>", f);
	}
	fputs("</table>\n", f);
}

/* A full matrix above FSC_REPORT_MAX_CELLS_SIDE: per host the worst cell
 * of its row and of its column. */
static void heatmap_aggregated(FILE *f, const json_t *rec, size_t n, double med)
{
	static const char *const what[2] = {"worst outgoing", "worst incoming"};
	const json_t *bw = json_object_get(rec, "bw_GBps");
	struct hostagg *h = calloc(n, sizeof(*h));

	if (!h)
		return;
	for (size_t i = 0; i < n; i++) {
		h[i] = (struct hostagg){
		        .host = i, .out_peer = -1, .in_peer = -1, .out = NAN, .in = NAN};
		for (size_t j = 0; j < n; j++) {
			double o = cellv(bw, i, j), in = cellv(bw, j, i);

			if (isfinite(o) && !(o >= h[i].out))
				h[i].out = o, h[i].out_peer = (long)j;
			if (isfinite(in) && !(in >= h[i].in))
				h[i].in = in, h[i].in_peer = (long)j;
		}
	}
	host_rows(f, rec, h, n, med, "worst outgoing and incoming cell", what);
	free(h);
}

/* An aggregated record (no full matrix, above the size limit of full
 * matrices): per host the medians of its row and column from per_node,
 * O(n) however large the matrix. */
static void heatmap_per_node(FILE *f, const json_t *rec, size_t n, double med)
{
	static const char *const what[2] = {"send", "receive"};
	const json_t *per = json_object_get(rec, "per_node");
	struct hostagg *h = calloc(n ? n : 1, sizeof(*h));

	if (!h)
		return;
	for (size_t i = 0; i < n; i++) {
		const json_t *o = json_array_get(per, i);

		h[i] = (struct hostagg){.host = i,
		                        .out_peer = -1,
		                        .in_peer = -1,
		                        .out = fsc_json_num(o, "bw_send_GBps"),
		                        .in = fsc_json_num(o, "bw_recv_GBps")};
	}
	host_rows(f, rec, h, n, med, "median of each host's sends and of its receives", what);
	free(h);
}

/* An aggregated record's worst cells of one metric, worst first, the
 * confirmed suspects marked as in the heat map. */
static void worst_cells_table(FILE *f, const json_t *rec, const char *metric, const char *unit,
                              double med)
{
	const json_t *labels = json_object_get(rec, "labels"),
	             *cells = json_object_get(json_object_get(rec, "worst_cells"), metric), *c;
	double n = (double)json_array_size(labels);
	size_t k;

	if (!json_array_size(cells))
		return;
	fprintf(f,
	        "<table class=\"worst-cells\"><tr><th>worst %s cells (of %zu kept)</th><th>%s</th>"
	        "<th>ratio to the median</th></tr>",
	        metric, json_array_size(cells), unit);
	json_array_foreach(cells, k, c)
	{
		double s = fsc_json_num(c, "src"), d = fsc_json_num(c, "dst"),
		       v = fsc_json_num(c, "value");
		int node, ok = s >= 0 && s < n && d >= 0 && d < n;

		if (k == 20)
			break;
		fputs(ok && suspect_cell(rec, (int)s, (int)d, &node) ? "<tr class=\"fail\">"
		                                                     : "<tr>",
		      f);
		fputs("<td>", f);
		esc(f, ok ? label(labels, (size_t)s) : "?");
		fputs(" &#8594; ", f);
		esc(f, ok ? label(labels, (size_t)d) : "?");
		fputs("</td>", f);
		if (isfinite(v))
			td(f, "n", "%.3g", v);
		else
			td(f, "n", "\u2013");
		td_ratio(f, v / med);
		fputs("</tr>", f);
	}
	fputs("</table>\n", f);
}

/* Is there a confirmed leaf anomaly of this leaf?  Its text starts with
 * the leaf's name (fsc_tsusp_format). */
static int leaf_confirmed(const json_t *rec, const char *leaf)
{
	const json_t *t;
	size_t k, len = strlen(leaf);

	json_array_foreach(json_object_get(rec, "leaf_anomalies"), k, t)
	{
		const char *s = json_string_value(t);

		if (s && !strncmp(s, leaf, len) && s[len] == ' ')
			return 1;
	}
	return 0;
}

/* --topology: per leaf its hosts and its leaf_summary, a leaf with a
 * confirmed anomaly marked.  The hosts are counted in one pass over
 * leaves, not once per leaf. */
static void leaf_table(FILE *f, const json_t *rec)
{
	const json_t *sum = json_object_get(rec, "leaf_summary"), *l;
	json_t *count;
	size_t k;

	if (!json_array_size(sum) || !(count = json_object()))
		return;
	json_array_foreach(json_object_get(rec, "leaves"), k, l)
	{
		const char *s = json_string_value(l);

		if (s)
			json_object_set_new(
			        count, s,
			        json_integer(json_integer_value(json_object_get(count, s)) + 1));
	}
	fputs("<p class=\"meta\">per leaf: bandwidth of the cells within the leaf, and of the "
	      "cells leaving and entering it, as ratios to their centres.</p>",
	      f);
	fputs("<table class=\"leaves\"><tr><th>leaf</th><th>hosts</th><th>intra-leaf</th>"
	      "<th>cross-leaf out</th><th>cross-leaf in</th></tr>",
	      f);
	json_array_foreach(sum, k, l)
	{
		const char *name = fsc_json_str(l, "leaf", "?");

		fputs(leaf_confirmed(rec, name) ? "<tr class=\"fail\">" : "<tr>", f);
		td(f, 0, "%s", name);
		td(f, "n", "%lld", (long long)json_integer_value(json_object_get(count, name)));
		td_ratio(f, fsc_json_num(l, "intra"));
		td_ratio(f, fsc_json_num(l, "cross_out"));
		td_ratio(f, fsc_json_num(l, "cross_in"));
		fputs("</tr>", f);
	}
	fputs("</table>\n", f);
	json_decref(count);
}

/* A pairs record: its full matrix (bw_GBps) as a heat map, aggregated per
 * host above FSC_REPORT_MAX_CELLS_SIDE; an aggregated record (per_node and
 * worst_cells instead of matrices) from those, its median from bw_spread. */
static void matrix_section(FILE *f, const json_t *rec)
{
	const json_t *labels = json_object_get(rec, "labels"), *a;
	size_t n = json_array_size(labels), k;
	int agg = !json_object_get(rec, "bw_GBps");
	double med = agg ? fsc_json_num(json_object_get(rec, "bw_spread"), "median")
	                 : matrix_median(json_object_get(rec, "bw_GBps"), n);

	fprintf(f, "<h3>pairs matrix, %s: %zu nodes, median cell %.3g GB/s</h3>\n",
	        fsc_json_str(rec, "fabric", "?"), n, med);
	if (json_object_get(rec, "verdict")) {
		fputs("<p><b>", f);
		esc(f, fsc_json_str(rec, "verdict", ""));
		fputs("</b></p>", f);
	}
	if (agg) {
		fputs("<p class=\"meta\">each host's median send and receive bandwidth against the "
		      "median cell: green at the median or above, red at half of it or below; a "
		      "black outline marks a host with a confirmed anomaly; hover a cell for its "
		      "figure. The record keeps no full matrix above --pairs-full-max nodes, and "
		      "the run's CSV files hold the same per-node medians and worst cells.</p>",
		      f);
		heatmap_per_node(f, rec, n, med);
		worst_cells_table(f, rec, "bandwidth", "GB/s", med);
		worst_cells_table(f, rec, "latency", "us",
		                  fsc_json_num(json_object_get(rec, "lat_spread"), "median"));
	} else {
		fputs("<p class=\"meta\">bandwidth of each cell (row: sender, column: receiver) "
		      "against the median cell: green at the median or above, red at half of it or "
		      "below; a black outline marks a confirmed suspect; hover a cell for its "
		      "figure.</p>",
		      f);
		if (n <= FSC_REPORT_MAX_CELLS_SIDE)
			heatmap_full(f, rec, n, med);
		else
			heatmap_aggregated(f, rec, n, med);
	}
	leaf_table(f, rec);
	if (!json_array_size(json_object_get(rec, "anomalies")))
		return;
	fputs("<table class=\"anomalies\"><tr><th>anomaly</th><th>kind</th><th>metric</th>"
	      "<th>measured</th><th>expected</th><th>ratio</th><th>confirmations</th></tr>",
	      f);
	json_array_foreach(json_object_get(rec, "anomalies"), k, a)
	{
		fputs("<tr class=\"fail\">", f);
		td(f, 0, "%s", fsc_json_str(a, "text", "?"));
		td(f, 0, "%s", fsc_json_str(a, "kind", ""));
		td(f, 0, "%s", fsc_json_str(a, "metric", ""));
		td(f, "n", "%.3g %s", fsc_json_num(a, "measured"), fsc_json_str(a, "unit", ""));
		td(f, "n", "%.3g", fsc_json_num(a, "expected"));
		td(f, "n", "%.2f", fsc_json_num(a, "ratio"));
		td(f, "n", "%.0f", fsc_json_num(a, "confirmations"));
		fputs("</tr>", f);
	}
	fputs("</table>\n", f);
}

/* ---- curves ---- */

static void group_key(const json_t *rec, char *buf, size_t len)
{
	const char *t = fsc_json_str(rec, "test", 0);

	snprintf(buf, len, "%s%s%s %s %s%s%s%s%s", t ? t : "", t ? ": " : "",
	         fsc_json_str(rec, "fabric", "?"), fsc_json_str(rec, "pattern", "?"),
	         fsc_json_str(rec, "impl", ""), json_object_get(rec, "dtype") ? " " : "",
	         fsc_json_str(rec, "dtype", ""), json_object_get(rec, "op") ? " " : "",
	         fsc_json_str(rec, "op", ""));
}

static int is_point(const json_t *rec)
{
	return json_object_get(rec, "time_us") && !json_object_get(rec, "labels") &&
	       !strcmp(fsc_json_str(rec, "status", ""), "ok");
}

/* The figure a curve shows of a record: busbw (w 0), p50 (w 1) or the
 * percentile pk (w 2). */
static double curve_y(const json_t *rec, int w, const char *pk)
{
	const json_t *t = json_object_get(rec, "time_us");

	return w == 0 ? fsc_json_num(rec, "busbw_GBps") : fsc_json_num(t, w == 1 ? "p50" : pk);
}

/* Is the point of this record judged a regression in the comparison? */
static int regressed(const json_t *cmp, const json_t *rec)
{
	char key[320];
	const json_t *p;
	size_t i;

	fsc_compare_record_key(rec, key, sizeof(key));
	json_array_foreach(json_object_get(cmp, "points"), i, p)
	{
		if (!strcmp(fsc_json_str(p, "key", ""), key))
			return !strcmp(fsc_json_str(p, "judgement", ""), "regression");
	}
	return 0;
}

/* The bandwidth and latency charts' extra datasets: the baseline's curve
 * (dashed) and the run's points judged regressions (marks, no line). */
static void baseline_datasets(const struct fsc_report_input *in, const char *gk, const json_t *g,
                              int w, json_t *ds)
{
	json_t *data = json_array(), *marks = json_array();
	const json_t *rec;
	size_t i;

	json_array_foreach(json_object_get(in->baseline, "records"), i, rec)
	{
		char key[300];
		double y = curve_y(rec, w, 0);

		group_key(rec, key, sizeof(key));
		if (is_point(rec) && !strcmp(key, gk) && isfinite(y) &&
		    fsc_json_num(rec, "bytes") > 0)
			json_array_append_new(data, json_pack("{s:f, s:f}", "x",
			                                      fsc_json_num(rec, "bytes"), "y", y));
	}
	json_array_foreach(json_object_get(g, in->labels[0]), i, rec)
	{
		double y = curve_y(rec, w, 0);

		if (in->cmp && isfinite(y) && regressed(in->cmp, rec))
			json_array_append_new(marks, json_pack("{s:f, s:f}", "x",
			                                       fsc_json_num(rec, "bytes"), "y", y));
	}
	if (json_array_size(data))
		json_array_append_new(ds, json_pack("{s:s, s:s, s:o, s:i}", "label", "baseline",
		                                    "run", "baseline", "data", data, "dash", 1));
	else
		json_decref(data);
	if (json_array_size(marks))
		json_array_append_new(ds, json_pack("{s:s, s:s, s:o, s:i, s:b}", "label",
		                                    "regression", "run", "regression", "data",
		                                    marks, "dash", 0, "marks", 1));
	else
		json_decref(marks);
}

/* charts: [{id, title, ylabel, ylog, datasets: [{label, run, data: [{x, y}],
 * dash, marks}]}] */
static json_t *build_charts(const struct fsc_report_input *in, json_t *groups)
{
	json_t *charts = json_array();
	const char *gk;
	json_t *g;
	int id = 0;

	/* groups: key -> {run label -> [records]} */
	for (size_t r = 0; r < in->nruns; r++) {
		const json_t *rec;
		size_t i;

		json_array_foreach(json_object_get(in->runs[r], "records"), i, rec)
		{
			char key[300];
			json_t *byrun;

			if (!is_point(rec))
				continue;
			group_key(rec, key, sizeof(key));
			if (!(byrun = json_object_get(groups, key))) {
				byrun = json_object();
				json_object_set_new(groups, key, byrun);
			}
			if (!json_object_get(byrun, in->labels[r]))
				json_object_set_new(byrun, in->labels[r], json_array());
			json_array_append(json_object_get(byrun, in->labels[r]), (json_t *)rec);
		}
	}
	json_object_foreach(groups, gk, g)
	{
		static const char *const what[3] = {"bandwidth", "latency", "percentiles"};

		for (int w = 0; w < 3; w++) {
			json_t *ds = json_array(), *recs;
			const char *lab;
			char cid[32];

			json_object_foreach(g, lab, recs)
			{
				static const char *const pk[4] = {"p50", "p95", "p99", "max"};
				int nser = w == 2 ? 4 : 1;

				for (int s = 0; s < nser; s++) {
					json_t *data = json_array(), *rec;
					size_t i;
					char name[200];

					json_array_foreach(recs, i, rec)
					{
						double y = curve_y(rec, w, pk[s]);

						if (isfinite(y) && fsc_json_num(rec, "bytes") > 0)
							json_array_append_new(
							        data,
							        json_pack(
							                "{s:f, s:f}", "x",
							                fsc_json_num(rec, "bytes"),
							                "y", y));
					}
					snprintf(name, sizeof(name), "%s%s%s", lab,
					         w == 2 ? " " : "", w == 2 ? pk[s] : "");
					json_array_append_new(
					        ds, json_pack("{s:s, s:s, s:o, s:i}", "label", name,
					                      "run", lab, "data", data, "dash",
					                      w == 2 && in->nruns > 1 ? s : 0));
				}
			}
			if (w < 2 && in->baseline)
				baseline_datasets(in, gk, g, w, ds);
			snprintf(cid, sizeof(cid), "chart%d", id++);
			json_array_append_new(charts,
			                      json_pack("{s:s, s:s+++, s:s, s:b, s:o}", "id", cid,
			                                "title", gk, ": ", what[w],
			                                w == 0   ? " (busbw)"
			                                : w == 1 ? " (p50)"
			                                         : " per size",
			                                "ylabel", w == 0 ? "GB/s" : "µs", "ylog",
			                                w != 0, "datasets", ds));
		}
	}
	/* the history's trend: one chart per point, x = run id */
	{
		const json_t *t;
		size_t i;

		json_array_foreach(in->trend, i, t)
		{
			json_t *data = json_array(), *x;
			size_t k;
			char cid[32];
			const char *m = fsc_json_str(t, "metric", "?");

			if (i >= 24)
				break;
			json_array_foreach(json_object_get(t, "series"), k,
			                   x) if (isfinite(fsc_json_num(x, "value")))
			        json_array_append_new(data, json_pack("{s:f, s:f}", "x",
			                                              fsc_json_num(x, "run"), "y",
			                                              fsc_json_num(x, "value")));
			snprintf(cid, sizeof(cid), "trend%zu", i);
			json_array_append_new(
			        charts,
			        json_pack("{s:s, s:s+, s:s, s:s, s:b, s:[{s:s, s:s, s:o, s:i}]}",
			                  "id", cid, "title",
			                  "trend: ", fsc_json_str(t, "key", "?"), "ylabel",
			                  !strcmp(m, "bw") ? "GB/s" : "µs", "xlabel",
			                  "run (history id)", "ylog", 0, "datasets", "label", m,
			                  "run", "history", "data", data, "dash", 0));
		}
	}
	return charts;
}

/* ---- tables ---- */

static void regression_table(FILE *f, const json_t *cmp)
{
	const json_t *p, *cnt = json_object_get(cmp, "counts"), *v;
	size_t i;

	fprintf(f, "<h2 id=\"regressions\">Compared with the baseline</h2><p class=\"meta\">"
	           "baseline ");
	esc(f, fsc_json_str(json_object_get(cmp, "baseline"), "name", "?"));
	{
		double lo = INFINITY, hi = -INFINITY;

		json_array_foreach(json_object_get(cmp, "points"), i, p)
		{
			double fl = fsc_json_num(p, "floor");

			if (isfinite(fl)) {
				lo = fmin(lo, fl);
				hi = fmax(hi, fl);
			}
		}
		if (!isfinite(lo))
			lo = hi = fsc_json_num(json_object_get(cmp, "noise"), "points_floor");
		fprintf(f,
		        " (%s): %.0f regressions, %.0f improvements, %.0f inconclusive, %.0f "
		        "unchanged; a point must move %.1f%% to %.1f%% to count (noise floor of "
		        "its sweep), a matrix cell %.1f%%.</p>",
		        fsc_json_str(json_object_get(cmp, "baseline"), "start_time", "?"),
		        fsc_json_num(cnt, "regression"), fsc_json_num(cnt, "improvement"),
		        fsc_json_num(cnt, "inconclusive"), fsc_json_num(cnt, "unchanged"), 100 * lo,
		        100 * hi, 100 * fsc_json_num(json_object_get(cmp, "noise"), "cells_floor"));
	}
	fputs("<table class=\"regressions\"><tr><th>judgement</th><th>point</th><th>p50 change "
	      "[CI]</th><th>p99 change</th><th>bandwidth change</th><th>why</th></tr>",
	      f);
	json_array_foreach(json_object_get(cmp, "points"), i, p)
	{
		const json_t *ci = json_object_get(p, "p50_ci");
		const char *j = fsc_json_str(p, "judgement", "");
		char a[32], lo[32], hi[32];

		if (!strcmp(j, "unchanged"))
			continue;
		fputs("<tr class=\"", f);
		esc(f, j);
		fputs("\">", f);
		td(f, 0, "%s", j);
		td(f, 0, "%s", fsc_json_str(p, "key", ""));
		if (json_is_array(ci))
			td(f, "n", "%s [%s, %s]", pct(a, sizeof(a), fsc_json_num(p, "p50_change")),
			   pct(lo, sizeof(lo), json_number_value(json_array_get(ci, 0))),
			   pct(hi, sizeof(hi), json_number_value(json_array_get(ci, 1))));
		else
			td(f, "n", "%s", pct(a, sizeof(a), fsc_json_num(p, "p50_change")));
		td(f, "n", "%s", pct(a, sizeof(a), fsc_json_num(p, "p99_change")));
		td(f, "n", "%s", pct(a, sizeof(a), fsc_json_num(p, "bw_change")));
		td(f, 0, "%s", fsc_json_str(p, "why", ""));
		fputs("</tr>", f);
	}
	fputs("</table>\n", f);
	json_array_foreach(json_object_get(cmp, "missing_in_run"), i, v)
	{
		fputs("<p>missing in run: ", f);
		esc(f, json_string_value(v));
		fputs("</p>", f);
	}
}

static void acceptance_table(FILE *f, const json_t *doc)
{
	const json_t *acc = json_object_get(doc, "acceptance"), *c;
	size_t i;

	if (!acc)
		return;
	fputs("<h3>acceptance: ", f);
	esc(f, fsc_json_str(acc, "summary", fsc_json_str(acc, "verdict", "")));
	fputs("</h3><table class=\"acceptance\"><tr><th>status</th><th>test</th><th>fabric</th>"
	      "<th>check</th><th>required</th><th>measured</th></tr>",
	      f);
	json_array_foreach(json_object_get(acc, "checks"), i, c)
	{
		static const char *const col[] = {"status", "test",     "fabric",
		                                  "check",  "required", "measured"};

		fputs("<tr class=\"", f);
		esc(f, fsc_json_str(c, "status", ""));
		fputs("\">", f);
		for (size_t k = 0; k < sizeof(col) / sizeof(*col); k++)
			td(f, 0, "%s", fsc_json_str(c, col[k], ""));
		fputs("</tr>", f);
	}
	fputs("</table>\n", f);
}

/* One table: per point, each cluster's figure, the winner and the ratio of
 * the winner to the runner-up.  Returns the number of points. */
static int bakeoff_table(FILE *f, const struct fsc_report_input *in, json_t *groups, int *wins)
{
	const char *gk;
	json_t *g;
	int rows = 0;

	fputs("<h2 id=\"bakeoff\">Bake-off</h2><table class=\"bakeoff\"><tr><th>point</th><th>"
	      "bytes</th><th>figure</th>",
	      f);
	for (size_t r = 0; r < in->nruns; r++) {
		fputs("<th>", f);
		esc(f, in->labels[r]);
		fputs("</th>", f);
	}
	fputs("<th>winner</th><th>ratio</th></tr>", f);
	json_object_foreach(groups, gk, g)
	{
		const json_t *first = json_object_get(g, in->labels[0]), *rec;
		size_t i;

		json_array_foreach(first, i, rec)
		{
			double bytes = fsc_json_num(rec, "bytes"), v[16];
			int bw = strcmp(fsc_json_str(rec, "pattern", ""), "latency") &&
			         fsc_json_num(rec, "busbw_GBps") > 0;
			int have = 0, best = -1;
			double second = NAN;

			for (size_t r = 0; r < in->nruns && r < 16; r++) {
				const json_t *x, *rr = json_object_get(g, in->labels[r]);
				size_t k;

				v[r] = NAN;
				json_array_foreach(rr, k,
				                   x) if (fsc_json_num(x, "bytes") == bytes) v[r] =
				        bw ? fsc_json_num(x, "busbw_GBps")
				           : fsc_json_num(json_object_get(x, "time_us"), "p50");
				if (isfinite(v[r])) {
					have++;
					if (best < 0 || (bw ? v[r] > v[best] : v[r] < v[best]))
						best = (int)r;
				}
			}
			if (have < 2)
				continue;
			for (size_t r = 0; r < in->nruns && r < 16; r++)
				if ((int)r != best && isfinite(v[r]) &&
				    (isnan(second) || (bw ? v[r] > second : v[r] < second)))
					second = v[r];
			wins[best]++;
			rows++;
			fputs("<tr>", f);
			td(f, 0, "%s", gk);
			td(f, "n", "%.0f", bytes);
			td(f, 0, "%s", bw ? "busbw GB/s" : "p50 µs");
			for (size_t r = 0; r < in->nruns && r < 16; r++)
				td(f, (int)r == best ? "n win" : "n", "%.4g", v[r]);
			td(f, 0, "%s", in->labels[best]);
			td(f, "n", "%.2f\u00d7", bw ? v[best] / second : second / v[best]);
			fputs("</tr>", f);
		}
	}
	fputs("</table>\n", f);
	return rows;
}

/* ---- the page ---- */

static const char script[] =
        "(function(){\n"
        "var st=document.getElementById('fsc-status'),errors=[],made=0;\n"
        "function upd(){st.setAttribute('data-errors',String(errors.length));"
        "st.setAttribute('data-charts',String(made));"
        "st.setAttribute('data-heatmaps',String(document.querySelectorAll('svg.heatmap').length));"
        "st.textContent=made+' charts, '+errors.length+' errors'+(errors.length?': "
        "'+errors.join('; '):'');}\n"
        "window.addEventListener('error',function(e){errors.push(String(e.message));upd();});\n"
        "var "
        "oe=console.error;console.error=function(){errors.push(Array.prototype.join.call(arguments,"
        "' '));"
        "oe.apply(console,arguments);upd();};\n"
        "var D=JSON.parse(document.getElementById('fsc-data').textContent);\n"
        "var "
        "pal=['#1f77b4','#d62728','#2ca02c','#ff7f0e','#9467bd','#8c564b','#e377c2','#17becf'];\n"
        "D.charts.forEach(function(c){\n"
        " var runs={},n=0;\n"
        " c.datasets.forEach(function(d){if(!d.marks&&!(d.run in runs))runs[d.run]=n++;});\n"
        " if(!c.datasets.some(function(d){return !d.marks&&d.data.length>0;}))"
        "errors.push('chart \"'+c.title+'\" has no curve');\n"
        " var ds=c.datasets.map(function(d,i){var "
        "col=d.marks?'#b3261e':pal[(n>1?runs[d.run]:i)%pal.length];"
        "return {label:d.label,data:d.data,borderColor:col,backgroundColor:col,"
        "borderDash:d.dash?[2+2*d.dash,3]:[],pointRadius:d.marks?8:2,"
        "pointStyle:d.marks?'crossRot':'circle',showLine:!d.marks,tension:0};});\n"
        " new Chart(document.getElementById(c.id).getContext('2d'),{type:'line',data:{datasets:ds},"
        "options:{animation:false,responsive:false,plugins:{title:{display:true,text:c.title},"
        "legend:{position:'bottom'}},scales:{x:{type:c.xlabel?'linear':'logarithmic',"
        "title:{display:true,text:c.xlabel||'bytes'}},"
        "y:{type:c.ylog?'logarithmic':'linear',title:{display:true,text:c.ylabel}}}}});\n"
        " made++;});\n"
        "upd();})();\n";

static int copy_file(FILE *f, const char *path)
{
	FILE *in = fopen(path, "r");
	char buf[65536];
	size_t n;

	if (!in)
		return -errno;
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		if (fwrite(buf, 1, n, f) != n) {
			fclose(in);
			return -EIO;
		}
	fclose(in);
	return 0;
}

/* JSON safe inside <script>: no "</" sequence. */
static void put_json(FILE *f, const json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(6));

	for (char *p = s; p && *p; p++) {
		if (p[0] == '<' && p[1] == '/')
			fputs("<\\", f);
		else
			fputc(*p, f);
	}
	free(s);
}

int fsc_report_write(FILE *f, const struct fsc_report_input *in, char *err, size_t errlen)
{
	json_t *groups = json_object(), *charts, *data;
	const char *cls = "v-pass", *word = "PASS";
	char why[1024] = "";
	size_t used = 0, nanom = 0, nfailed = 0, ncheckfail = 0;
	int wins[16] = {0}, rows = 0;
	FILE *probe = fopen(in->chartjs, "r");

	if (!probe) {
		snprintf(err, errlen,
		         "cannot read Chart.js at '%s' (%s): install Debian's libjs-chart.js "
		         "(scripts/setup-deps)",
		         in->chartjs, strerror(errno));
		json_decref(groups);
		return -ENOENT;
	}
	fclose(probe);
	for (size_t r = 0; r < in->nruns; r++) {
		const json_t *rec;
		size_t i;
		double fails;

		if (!strcmp(fsc_json_str(in->runs[r], "status", ""), "failed"))
			nfailed++;
		json_array_foreach(json_object_get(in->runs[r], "records"), i, rec) nanom +=
		        json_array_size(json_object_get(rec, "anomalies"));
		/* NaN (no acceptance) must not reach the conversion */
		fails = fsc_json_num(
		        json_object_get(json_object_get(in->runs[r], "acceptance"), "counts"),
		        "fail");
		ncheckfail += fails > 0 ? (size_t)fails : 0;
	}
#define WHY(...)                                                                                   \
	do {                                                                                       \
		int w_ = snprintf(why + used, sizeof(why) - used, __VA_ARGS__);                    \
		if (w_ > 0 && used + (size_t)w_ < sizeof(why))                                     \
			used += (size_t)w_;                                                        \
	} while (0)
	if (in->cmp && !strcmp(fsc_json_str(in->cmp, "verdict", ""), "regression")) {
		cls = "v-regression";
		word = "REGRESSION";
		WHY("%.0f point(s) slower than the baseline (worst: %s). ",
		    fsc_json_num(json_object_get(in->cmp, "counts"), "regression"),
		    fsc_json_str(json_array_get(json_object_get(in->cmp, "points"), 0), "key",
		                 "?"));
	}
	if (nfailed || ncheckfail) {
		cls = "v-fail";
		word = "FAIL";
		WHY("%zu run(s) failed, %zu acceptance check(s) failed. ", nfailed, ncheckfail);
	}
	if (nanom) {
		if (!strcmp(word, "PASS")) {
			cls = "v-anomaly";
			word = "ANOMALY";
		}
		WHY("%zu confirmed anomal%s in pairs matrices (see the heat maps). ", nanom,
		    nanom == 1 ? "y" : "ies");
	}
	if (!used)
		WHY("every point ran%s; no anomaly%s. ", in->cmp ? ", no regression" : "",
		    in->nruns > 1 ? "" : "");
	charts = build_charts(in, groups);

	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>", f);
	esc(f, in->title);
	fprintf(f, "</title><style>%s</style></head><body>\n", style);
	fprintf(f, "<header class=\"verdict %s\"><h1 id=\"verdict\">%s</h1><p>", cls, word);
	esc(f, why);
	fputs("</p></header>\n<p class=\"meta\">", f);
	esc(f, in->title);
	for (size_t r = 0; r < in->nruns; r++) {
		const json_t *m = json_object_get(in->runs[r], "meta");

		fputs(r ? "; " : ": ", f);
		esc(f, in->labels[r]);
		fprintf(f, " (%s, %.0f hosts, %.0f ranks, %s)", fsc_json_str(m, "start_time", "?"),
		        fsc_json_num(m, "nhosts"), fsc_json_num(m, "nranks"),
		        fsc_json_str(in->runs[r], "status", "?"));
	}
	fputs("</p>\n", f);
	if (in->nruns > 1) {
		rows = bakeoff_table(f, in, groups, wins);
		if (!rows)
			fputs("<p>The runs have no point in common.</p>", f);
		fputs("<p><b>", f);
		for (size_t r = 0; r < in->nruns && r < 16; r++) {
			esc(f, in->labels[r]);
			fprintf(f, " wins %d of %d points%s", wins[r], rows,
			        r + 1 < in->nruns ? "; " : "");
		}
		fputs("</b></p>\n", f);
	}
	if (in->cmp)
		regression_table(f, in->cmp);
	for (size_t r = 0; r < in->nruns; r++) {
		const json_t *rec;
		size_t i;

		fputs("<h2>", f);
		esc(f, in->labels[r]);
		fputs("</h2>\n", f);
		acceptance_table(f, in->runs[r]);
		json_array_foreach(json_object_get(in->runs[r], "records"), i,
		                   rec) if (json_is_array(json_object_get(rec, "labels")) &&
		                            (json_object_get(rec, "bw_GBps") ||
		                             json_object_get(rec, "per_node")))
		        matrix_section(f, rec);
	}
	if (json_array_size(charts)) {
		const json_t *c;
		size_t i;

		fputs("<h2>Curves per size</h2><div class=\"charts\">\n", f);
		json_array_foreach(charts, i, c) fprintf(
		        f,
		        "<div class=\"chart\"><canvas id=\"%s\" width=\"560\" height=\"320\">"
		        "</canvas></div>\n",
		        fsc_json_str(c, "id", "?"));
		fputs("</div>\n", f);
	}
	fputs("<p id=\"fsc-status\" class=\"meta\" data-errors=\"-1\" data-charts=\"0\">charts not "
	      "rendered (JavaScript off?)</p>\n",
	      f);
	data = json_pack("{s:o}", "charts", charts);
	fputs("<script id=\"fsc-data\" type=\"application/json\">", f);
	put_json(f, data);
	fputs("</script>\n<script>\n", f);
	json_decref(data);
	json_decref(groups);
	if (copy_file(f, in->chartjs)) {
		snprintf(err, errlen, "cannot read Chart.js at '%s'", in->chartjs);
		return -ENOENT;
	}
	fprintf(f, "\n</script>\n<script>\n%s</script>\n</body></html>\n", script);
	if (ferror(f)) {
		snprintf(err, errlen, "write error");
		return -EIO;
	}
	return 0;
}

/* ---- command ---- */

/* --trend's metrics, in the order of its choices, as the history names them. */
static const char *const report_trend_metric[] = {"p50", "p99", "bw"};

/* The report command's options, filled once by fsc_config_fill. */
struct report_settings {
	const char *output, *baseline, *labels, *trend_point; /* NULL when not given */
	const char *title, *db, *chartjs;
	double min_effect_pct;
	int64_t noise_runs;
	enum fsc_hosts_mode hosts;
	int trend; /* index into report_trend_metric, when has_trend */
	bool has_trend;
};

static const struct fsc_opt report_opts[] = {
        {"output", 'o', FSC_OPT_STRING, 0, "the HTML file to write (required)", 0, 0, 0,
         FSC_AT_STRING(struct report_settings, output)},
        {"baseline", 0, FSC_OPT_STRING, 0,
         "compare the first RUN with this baseline (a file or history:...)", 0, 0, 0,
         FSC_AT_STRING(struct report_settings, baseline)},
        {"labels", 0, FSC_OPT_STRING, 0,
         "comma-separated names of the RUNs (clusters in a bake-off); default: file names", 0, 0, 0,
         FSC_AT_STRING(struct report_settings, labels)},
        {"title", 0, FSC_OPT_STRING, "fabscope report", "the page's title", 0, 0, 0,
         FSC_AT_STRING(struct report_settings, title)},
        {"db", 0, FSC_OPT_STRING, "fabscope-history.db", "history database for history:...", 0, 0,
         0, FSC_AT_STRING(struct report_settings, db)},
        {"min-effect", 0, FSC_OPT_DOUBLE, "5", "as for compare", 0, 0.1, 1000,
         FSC_AT_DOUBLE(struct report_settings, min_effect_pct)},
        {"hosts", 0, FSC_OPT_CHOICE, "must-match", "as for compare", "must-match|intersect|ignore",
         0, 0, FSC_AT_CHOICE(struct report_settings, hosts)},
        {"noise-runs", 0, FSC_OPT_INT, FSC_COMPARE_NOISE_RUNS_DEFAULT, "as for compare", 0, 0, 64,
         FSC_AT_INT(struct report_settings, noise_runs)},
        {"trend", 0, FSC_OPT_CHOICE, 0,
         "add the history's trend of this metric (from --db) for the points of the runs",
         "p50|p99|bw", 0, 0, FSC_AT_CHOICE(struct report_settings, trend),
         FSC_HAS(struct report_settings, has_trend)},
        {"trend-point", 0, FSC_OPT_STRING, 0,
         "with --trend: only points whose key contains this text", 0, 0, 0,
         FSC_AT_STRING(struct report_settings, trend_point)},
        {"chartjs", 0, FSC_OPT_STRING, FSC_CHARTJS_PATH, "Chart.js file to inline", 0, 0, 0,
         FSC_AT_STRING(struct report_settings, chartjs)},
        {0},
};

static int write_report(FILE *f, void *arg)
{
	char err[256];

	return fsc_report_write(f, arg, err, sizeof(err));
}

int fsc_report_main(int argc, char **argv)
{
	struct fsc_opt_group g = {"report options", report_opts};
	struct report_settings set;
	struct fsc_config *cfg = 0;
	struct fsc_report_input in = {0};
	json_t *base = 0;
	char err[1200] = "", *labels = 0;
	char **lab = 0;
	int first = 0, rc = FSC_EXIT_USAGE, n;

	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			printf("usage: fabscope report [options] -o report.html RUN.json...\n\n");
			fsc_config_help(stdout, &g, 1);
			return FSC_EXIT_OK;
		}
	if (fsc_config_parse(&cfg, &g, 1, argc, argv, &first, err, sizeof(err)) ||
	    fsc_config_fill(cfg, report_opts, &set, err, sizeof(err)))
		goto out;
	n = argc - first;
	if (n < 1 || n > 16) {
		snprintf(err, sizeof(err), "report takes 1 to 16 results files (got %d)", n);
		goto out;
	}
	if (!set.output) {
		snprintf(err, sizeof(err), "report needs -o FILE.html");
		goto out;
	}
	in.runs = calloc((size_t)n, sizeof(*in.runs));
	lab = calloc((size_t)n, sizeof(*lab));
	if (!in.runs || !lab)
		goto out;
	in.nruns = (size_t)n;
	in.labels = (const char **)lab;
	in.chartjs = set.chartjs;
	in.title = set.title;
	if (set.labels) {
		char *save = 0, *tok;
		int k = 0;

		labels = strdup(set.labels);
		for (tok = strtok_r(labels, ",", &save); tok && k < n;
		     tok = strtok_r(0, ",", &save))
			lab[k++] = strdup(tok);
		if (k != n || tok) {
			snprintf(err, sizeof(err),
			         "invalid value '%s' for --labels: expected %d comma-separated "
			         "names, one "
			         "per RUN",
			         set.labels, n);
			goto out;
		}
	}
	for (int k = 0; k < n; k++) {
		const char *p = argv[first + k], *s = strrchr(p, '/');

		if (fsc_compare_load(p, set.db, 0, 0, &in.runs[k], err, sizeof(err)))
			goto out;
		if (!lab[k]) {
			lab[k] = strdup(s ? s + 1 : p);
			if (strlen(lab[k]) > 5 && !strcmp(lab[k] + strlen(lab[k]) - 5, ".json"))
				lab[k][strlen(lab[k]) - 5] = 0;
		}
	}
	if (set.baseline) {
		struct fsc_compare_opts o;

		fsc_compare_opts_default(&o);
		o.min_effect = set.min_effect_pct / 100;
		o.hosts = set.hosts;
		if (fsc_compare_load(set.baseline, set.db, in.runs[0], (int)set.noise_runs, &base,
		                     err, sizeof(err)) ||
		    fsc_compare_docs(base, in.runs[0], set.baseline, argv[first], &o, &in.cmp, err,
		                     sizeof(err)))
			goto out;
		in.baseline = base;
	}
	if (set.has_trend) {
		struct fsc_history *h = 0;

		if (fsc_history_open(&h, set.db, 5000, err, sizeof(err)))
			goto out;
		n = fsc_history_trend(h, report_trend_metric[set.trend], set.trend_point, &in.trend,
		                      err, sizeof(err));
		fsc_history_close(h);
		if (n)
			goto out;
	}
	{
		FILE *probe = fopen(in.chartjs, "r");

		if (!probe) {
			snprintf(err, sizeof(err),
			         "cannot read Chart.js at '%s' (%s): install Debian's "
			         "libjs-chart.js "
			         "(scripts/setup-deps)",
			         in.chartjs, strerror(errno));
			goto out;
		}
		fclose(probe);
	}
	{
		char failed[900];
		int w = fsc_file_write_atomic(set.output, write_report, &in, failed,
		                              sizeof(failed));

		if (w) {
			snprintf(err, sizeof(err), "cannot write report '%s': %s", failed,
			         strerror(-w));
			goto out;
		}
	}
	printf("report: %s\n", set.output);
	rc = FSC_EXIT_OK;
out:
	if (rc && err[0])
		fprintf(stderr, "fabscope: error: %s\n", err);
	for (size_t k = 0; k < in.nruns; k++) {
		json_decref(in.runs[k]);
		free(lab[k]);
	}
	free(in.runs);
	free(lab);
	free(labels);
	json_decref(in.cmp);
	json_decref(in.trend);
	json_decref(base);
	fsc_config_free(cfg);
	return rc;
}
