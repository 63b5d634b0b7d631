/* Judging the checks of `fabscope accept` (src/accept.h) on the records
 * of one attempt of one item (a test on a fabric), and the suspects a
 * failing check names. */
#include "accept_judge.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "accept_record.h"
#include "accept_text.h"
#include "results.h"
#include "stats.h"

/* Failing matrix cells named in a link check's measured text. */
#define LINK_CELLS_NAMED 3
/* Distinct implementations judged separately by a bandwidth check. */
#define MAX_IMPLS 16

/* ------------------------------------------------------------------ */
/* Reading records                                                      */
/* ------------------------------------------------------------------ */

static const char *rstr(const json_t *r, const char *k)
{
	return fsc_json_str(r, k, "");
}

/* An attempt's records, typed (fsc_accept_record_read). */
struct recs {
	const struct fsc_accept_record *r;
	size_t n;
};

/* Every record skipped (the fabric is not usable here): the first reason. */
static int all_skipped(const struct recs *rs, const char **reason)
{
	*reason = "no point was run";
	for (size_t i = 0; i < rs->n; i++) {
		if (rs->r[i].status != FSC_REC_SKIPPED)
			return 0;
		if (i == 0 && rs->r[i].reason)
			*reason = rs->r[i].reason;
	}
	return 1;
}

/* "pingpong 8B", "ring 1M float32" for messages. */
static void point_name(char *buf, size_t len, const struct fsc_accept_record *r)
{
	char sz[32];

	fsc_accept_fmt_size(sz, sizeof(sz), r->bytes);
	snprintf(buf, len, "%s %s%s%s", r->impl, sz, r->dtype ? " " : "", r->dtype ? r->dtype : "");
}

/* ------------------------------------------------------------------ */
/* Suspects                                                             */
/* ------------------------------------------------------------------ */

static json_t *suspect_from_anomaly(const struct fsc_accept_anomaly *an)
{
	json_t *s = json_object(), *metric = json_array();
	const char *a = an->host_a, *b = an->host_b;

	json_object_set_new(s, "kind", json_string(an->kind));
	if (!strcmp(an->kind, "node")) {
		json_object_set_new(s, "host", json_string(a ? a : "?"));
	} else {
		json_object_set_new(s, "src", json_string(a ? a : "?"));
		json_object_set_new(s, "dst", json_string(b ? b : "?"));
	}
	json_object_set_new(s, "direction", json_string(an->direction));
	json_array_append_new(metric, json_string(an->metric));
	json_object_set_new(s, "metric", metric);
	json_object_set_new(s, "text", json_string(an->text));
	json_object_set_new(s, "from", json_string("pairs attribution"));
	return s;
}

static json_t *suspect_from_cell(const char *src, const char *dst, const char *metric,
                                 const char *text)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:[s], s:s, s:s}", "kind", "link", "src", src, "dst",
	                 dst, "direction", "one-way", "metric", metric, "text", text, "from",
	                 "matrix cell beyond the threshold");
}

static int str_in(const json_t *arr, const char *s)
{
	size_t i;
	json_t *v;

	json_array_foreach(arr, i, v) if (json_string_value(v) &&
	                                  !strcmp(json_string_value(v), s)) return 1;
	return 0;
}

static void union_into(json_t *dst, const char *key, const json_t *src)
{
	json_t *d = json_object_get(dst, key);
	size_t i;
	json_t *v;

	if (!d) {
		d = json_array();
		json_object_set_new(dst, key, d);
	}
	json_array_foreach(src, i, v) if (json_string_value(v) && !str_in(d, json_string_value(v)))
	        json_array_append(d, v);
}

static int same_suspect(const json_t *a, const json_t *b)
{
	if (strcmp(rstr(a, "kind"), rstr(b, "kind")))
		return 0;
	if (!strcmp(rstr(a, "kind"), "node"))
		return !strcmp(rstr(a, "host"), rstr(b, "host"));
	if (strcmp(rstr(a, "direction"), rstr(b, "direction")))
		return 0;
	if (!strcmp(rstr(a, "src"), rstr(b, "src")) && !strcmp(rstr(a, "dst"), rstr(b, "dst")))
		return 1;
	/* A round-trip link names no direction: a<->b is b<->a. */
	return !strcmp(rstr(a, "direction"), "both") && !strcmp(rstr(a, "src"), rstr(b, "dst")) &&
	       !strcmp(rstr(a, "dst"), rstr(b, "src"));
}

static int same_pair(const json_t *a, const json_t *b)
{
	return (!strcmp(rstr(a, "src"), rstr(b, "src")) &&
	        !strcmp(rstr(a, "dst"), rstr(b, "dst"))) ||
	       (!strcmp(rstr(a, "src"), rstr(b, "dst")) && !strcmp(rstr(a, "dst"), rstr(b, "src")));
}

/* Folds a round-trip link b into m, a one-way link between the same hosts:
 * the one-way figure names the direction, the round trip cannot.  Returns
 * 1 when b is folded. */
static int fold_round_trip(json_t *m, const json_t *b)
{
	if (strcmp(rstr(b, "kind"), "link") || strcmp(rstr(b, "direction"), "both") ||
	    strcmp(rstr(m, "kind"), "link") || strcmp(rstr(m, "direction"), "one-way") ||
	    !same_pair(m, b))
		return 0;
	union_into(m, "metric", json_object_get(b, "metric"));
	if (json_object_get(b, "seen_in"))
		union_into(m, "seen_in", json_object_get(b, "seen_in"));
	return 1;
}

/* A slow host slows every link it takes part in: link l at suspect node m
 * is explained by it (noted in the node's "explains").  Returns 1 when l is
 * folded. */
static int fold_link_at_node(json_t *m, const json_t *l)
{
	char t[160];
	json_t *one;

	if (strcmp(rstr(l, "kind"), "link") || strcmp(rstr(m, "kind"), "node") ||
	    (strcmp(rstr(m, "host"), rstr(l, "src")) && strcmp(rstr(m, "host"), rstr(l, "dst"))))
		return 0;
	fsc_accept_suspect_text(l, t, sizeof(t));
	one = json_pack("[s]", t);
	union_into(m, "explains", one);
	json_decref(one);
	return 1;
}

/* Removes from merged every suspect that fold() folds into another one,
 * the first that takes it, keeping the order of the rest. */
static void fold_away(json_t *merged, int (*fold)(json_t *into, const json_t *s))
{
	size_t i = 0, k;
	json_t *m;

	while (i < json_array_size(merged)) {
		json_t *s = json_array_get(merged, i);
		int folded = 0;

		json_array_foreach(merged, k, m)
		{
			if (k != i && fold(m, s)) {
				folded = 1;
				break;
			}
		}
		if (folded)
			json_array_remove(merged, i);
		else
			i++;
	}
}

void fsc_accept_suspects_merge(json_t *merged, const json_t *more, const char *where)
{
	json_t *where_arr = where ? json_pack("[s]", where) : json_array();
	size_t i, k;
	json_t *s, *m;

	json_array_foreach(more, i, s)
	{
		int found = 0;

		json_array_foreach(merged, k, m)
		{
			if (!same_suspect(m, s))
				continue;
			union_into(m, "metric", json_object_get(s, "metric"));
			if (where)
				union_into(m, "seen_in", where_arr);
			found = 1;
			break;
		}
		if (!found) {
			json_t *c = json_deep_copy(s);

			if (where)
				union_into(c, "seen_in", where_arr);
			json_array_append_new(merged, c);
		}
	}
	fold_away(merged, fold_round_trip);
	fold_away(merged, fold_link_at_node);
	json_decref(where_arr);
}

void fsc_accept_suspect_text(const json_t *s, char *buf, size_t len)
{
	const json_t *metric = json_object_get(s, "metric");
	int slow = str_in(metric, "bandwidth"), lat = str_in(metric, "latency");
	char what[64];

	snprintf(what, sizeof(what), "%s%s%s", slow ? "slow" : "", slow && lat ? ", " : "",
	         lat ? "high latency" : "");
	if (!what[0])
		snprintf(what, sizeof(what), "suspect");
	if (!strcmp(rstr(s, "kind"), "node"))
		snprintf(buf, len, "%s (node %s)", rstr(s, "host"), what);
	else
		snprintf(buf, len, "%s%s%s (link %s)", rstr(s, "src"),
		         !strcmp(rstr(s, "direction"), "both") ? "<->" : "->", rstr(s, "dst"),
		         what);
}

/* ------------------------------------------------------------------ */
/* Judging one check                                                    */
/* ------------------------------------------------------------------ */

void fsc_accept_required_text(const struct fsc_spec_check *c, const struct fsc_accept_attempt *a,
                              char *buf, size_t len)
{
	char at[48] = "", lim[96];

	if (c->has_at) {
		char sz[32];

		fsc_accept_fmt_size(sz, sizeof(sz), c->at_bytes);
		snprintf(at, sizeof(at), " at %s", sz);
	}
	snprintf(lim, sizeof(lim), "%s", c->limit_text);
	switch (c->kind) {
	case FSC_CHECK_COMPLETED:
		snprintf(buf, len, "every point runs");
		if (a && a->timeout_ns)
			fsc_accept_appendf(buf, len, ", within %gs", (double)a->timeout_ns / 1e9);
		break;
	case FSC_CHECK_LATENCY_P50: snprintf(buf, len, "p50 <= %s%s", lim, at); break;
	case FSC_CHECK_LATENCY_P99: snprintf(buf, len, "p99 <= %s%s", lim, at); break;
	case FSC_CHECK_BANDWIDTH:
		snprintf(buf, len, "%salgbw >= %s%s", c->has_at ? "" : "peak ", lim, at);
		break;
	case FSC_CHECK_BUSBW:
		snprintf(buf, len, "%sbusbw >= %s%s", c->has_at ? "" : "peak ", lim, at);
		break;
	case FSC_CHECK_NO_WRONG_DATA: snprintf(buf, len, "no wrong data"); break;
	case FSC_CHECK_NO_ANOMALY:
		snprintf(buf, len, "no confirmed %sanomaly",
		         c->metric == FSC_METRIC_BANDWIDTH ? "bandwidth "
		         : c->metric == FSC_METRIC_LATENCY ? "latency "
		                                           : "");
		break;
	case FSC_CHECK_LINK_BANDWIDTH: snprintf(buf, len, "every link >= %s", lim); break;
	case FSC_CHECK_LINK_LATENCY: snprintf(buf, len, "every link <= %s", lim); break;
	}
}

static void set(struct fsc_check_outcome *o, enum fsc_check_status st, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void set(struct fsc_check_outcome *o, enum fsc_check_status st, const char *fmt, ...)
{
	va_list ap;

	o->status = st;
	va_start(ap, fmt);
	vsnprintf(o->measured, sizeof(o->measured), fmt, ap);
	va_end(ap);
}

static void eval_completed(const struct fsc_accept_attempt *a, const struct recs *rs,
                           struct fsc_check_outcome *o)
{
	size_t n = 0, nerr = 0;
	const struct fsc_accept_record *first = 0;
	char pt[96];

	for (size_t i = 0; i < rs->n; i++) {
		const struct fsc_accept_record *r = &rs->r[i];

		n++;
		if (r->status == FSC_REC_ERROR || r->status == FSC_REC_RUNNING) {
			nerr++;
			if (!first)
				first = r;
		}
	}
	o->value = a->duration_s;
	if (nerr) {
		point_name(pt, sizeof(pt), first);
		set(o, FSC_CHECK_FAIL, "%zu of %zu points failed: %s %s: %s", nerr, n,
		    first->pattern, pt, first->reason ? first->reason : "did not finish");
		return;
	}
	if (a->timeout_ns && a->duration_s * 1e9 > (double)a->timeout_ns) {
		set(o, FSC_CHECK_FAIL, "took %.1f s, over the %gs timeout", a->duration_s,
		    (double)a->timeout_ns / 1e9);
		return;
	}
	set(o, FSC_CHECK_PASS, "%zu point%s in %.1f s", n, n == 1 ? "" : "s", a->duration_s);
}

/* Whether record r's figure x counts for check c: measured, and of the
 * check's size when it names one. */
static int record_counts(const struct fsc_spec_check *c, const struct fsc_accept_record *r,
                         double x)
{
	return fsc_accept_record_measured(r) && !isnan(x) &&
	       (!c->has_at || r->bytes == c->at_bytes);
}

static void eval_latency(const struct fsc_spec_check *c, const struct recs *rs,
                         struct fsc_check_outcome *o)
{
	int p50 = c->kind == FSC_CHECK_LATENCY_P50;
	double worst = -INFINITY;
	const struct fsc_accept_record *wr = 0;
	size_t n = 0;
	char v[32], pt[96];

	for (size_t i = 0; i < rs->n; i++) {
		const struct fsc_accept_record *r = &rs->r[i];
		double x = p50 ? r->p50_us : r->p99_us;

		if (!record_counts(c, r, x))
			continue;
		n++;
		if (x > worst) {
			worst = x;
			wr = r;
		}
	}
	if (!n) {
		set(o, FSC_CHECK_SKIP, "no measured point%s", c->has_at ? " of that size" : "");
		return;
	}
	o->value = worst;
	fsc_accept_fmt_num(v, sizeof(v), worst);
	point_name(pt, sizeof(pt), wr);
	set(o, worst <= c->limit ? FSC_CHECK_PASS : FSC_CHECK_FAIL, "%s us (%s%s)", v, pt,
	    n > 1 ? ", the worst point" : "");
}

static void eval_bandwidth(const struct fsc_spec_check *c, const struct recs *rs,
                           struct fsc_check_outcome *o)
{
	int bus = c->kind == FSC_CHECK_BUSBW;
	struct {
		const char *impl;
		double v;
		const struct fsc_accept_record *r;
	} best[MAX_IMPLS];
	size_t nimpl = 0, k;
	const struct fsc_accept_record *wr = 0;
	double worst = INFINITY;
	char v[32], pt[96];

	/* Per implementation: its value at `at`, or its peak over sizes;
	 * the check holds when every implementation meets the floor. */
	for (size_t i = 0; i < rs->n; i++) {
		const struct fsc_accept_record *r = &rs->r[i];
		double x = bus ? r->busbw_GBps : r->algbw_GBps;

		if (!record_counts(c, r, x))
			continue;
		for (k = 0; k < nimpl; k++)
			if (!strcmp(best[k].impl, r->impl))
				break;
		if (k == nimpl) {
			if (nimpl == MAX_IMPLS)
				continue;
			best[nimpl].impl = r->impl;
			best[nimpl].v = c->has_at ? INFINITY : -INFINITY;
			best[nimpl++].r = r;
		}
		if (c->has_at ? x < best[k].v : x > best[k].v) {
			best[k].v = x;
			best[k].r = r;
		}
	}
	if (!nimpl) {
		set(o, FSC_CHECK_SKIP, "no measured point%s", c->has_at ? " of that size" : "");
		return;
	}
	for (k = 0; k < nimpl; k++)
		if (best[k].v < worst) {
			worst = best[k].v;
			wr = best[k].r;
		}
	o->value = worst;
	fsc_accept_fmt_num(v, sizeof(v), worst);
	point_name(pt, sizeof(pt), wr);
	set(o, worst >= c->limit ? FSC_CHECK_PASS : FSC_CHECK_FAIL, "%s GB/s (%s)", v, pt);
}

static void eval_wrong(const struct recs *rs, struct fsc_check_outcome *o)
{
	size_t n = 0, nbad = 0;
	double total = 0;
	const struct fsc_accept_record *first = 0;
	char pt[96];

	for (size_t i = 0; i < rs->n; i++) {
		const struct fsc_accept_record *r = &rs->r[i];
		double w = r->wrong;

		if (!fsc_accept_record_measured(r))
			continue;
		n++;
		if (r->status == FSC_REC_WRONG || (!isnan(w) && w > 0)) {
			nbad++;
			total += isnan(w) ? 0 : w;
			if (!first)
				first = r;
		}
	}
	if (!n) {
		set(o, FSC_CHECK_SKIP, "no measured point");
		return;
	}
	o->value = total;
	if (!nbad) {
		set(o, FSC_CHECK_PASS, "0 wrong in %zu point%s", n, n == 1 ? "" : "s");
		return;
	}
	point_name(pt, sizeof(pt), first);
	set(o, FSC_CHECK_FAIL, "%.0f wrong in %zu of %zu points (first: %s %s)", total, nbad, n,
	    first->pattern, pt);
}

static int metric_counts(const struct fsc_spec_check *c, const struct fsc_accept_anomaly *an)
{
	return c->metric == FSC_METRIC_ANY ||
	       (c->metric == FSC_METRIC_BANDWIDTH && !strcmp(an->metric, "bandwidth")) ||
	       (c->metric == FSC_METRIC_LATENCY && !strcmp(an->metric, "latency"));
}

static void eval_anomaly(const struct fsc_spec_check *c, const struct recs *rs,
                         struct fsc_check_outcome *o)
{
	size_t n = 0, nanom = 0, nother = 0;

	o->measured[0] = 0;
	for (size_t i = 0; i < rs->n; i++) {
		const struct fsc_accept_record *r = &rs->r[i];

		if (!fsc_accept_record_measured(r) || !r->anomalies)
			continue;
		n++;
		for (size_t k = 0; k < r->nanomalies; k++) {
			struct fsc_accept_anomaly an;

			fsc_accept_anomaly_read(r, k, &an);
			if (!metric_counts(c, &an)) {
				nother++;
				continue;
			}
			json_array_append_new(o->suspects, suspect_from_anomaly(&an));
			fsc_accept_appendf(o->measured, sizeof(o->measured), "%s%s",
			                   nanom ? "; " : "", an.text);
			nanom++;
		}
	}
	if (!n) {
		set(o, FSC_CHECK_SKIP, "no pairs matrix was measured");
		return;
	}
	o->value = (double)nanom;
	o->status = nanom ? FSC_CHECK_FAIL : FSC_CHECK_PASS;
	if (!nanom) {
		const struct fsc_accept_record *last = &rs->r[rs->n - 1];
		double bw = last->bw_median_GBps, lat = last->lat_median_us;
		char b[32], l[32];

		fsc_accept_fmt_num(b, sizeof(b), bw);
		fsc_accept_fmt_num(l, sizeof(l), lat);
		if (!isnan(bw) && !isnan(lat))
			snprintf(o->measured, sizeof(o->measured), "none (median %s GB/s, %s us)",
			         b, l);
		else
			snprintf(o->measured, sizeof(o->measured), "none");
		if (nother)
			fsc_accept_appendf(
			        o->measured, sizeof(o->measured), "; %zu %s anomal%s not counted",
			        nother, c->metric == FSC_METRIC_BANDWIDTH ? "latency" : "bandwidth",
			        nother == 1 ? "y" : "ies");
	}
}

/* One pairs record against a link floor (bandwidth) or ceiling (latency).
 * Returns the cells judged; adds failing cells to *nbad and the text. */
static size_t eval_matrix(const struct fsc_spec_check *c, const struct fsc_accept_record *r,
                          struct fsc_check_outcome *o, size_t *nbad, double *worst_ratio,
                          json_t *cells_suspects)
{
	int bw = c->kind == FSC_CHECK_LINK_BANDWIDTH;
	const json_t *m = bw ? r->bw_GBps : r->lat_us;
	size_t n = fsc_accept_matrix_size(m), ncell = 0;
	double *v, med, thr;
	char unit[8];

	snprintf(unit, sizeof(unit), "%s", bw ? "GB/s" : "us");
	v = malloc((n * n + 1) * sizeof(*v));
	if (!v)
		return 0;
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < n; j++) {
			double x = fsc_accept_matrix_cell(m, i, j);

			if (i != j && !isnan(x))
				v[ncell++] = x;
		}
	if (!ncell) {
		free(v);
		return 0;
	}
	med = fsc_median(v, ncell);
	free(v);
	thr = c->relative ? c->limit * med : c->limit;
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < n; j++) {
			double val = fsc_accept_matrix_cell(m, i, j), ratio;
			const char *src = fsc_accept_matrix_label(r, i);
			const char *dst = fsc_accept_matrix_label(r, j);
			char vt[32], rt[32], text[160];

			if (i == j || isnan(val))
				continue;
			ratio = med > 0 ? val / med : NAN;
			/* the worst ratio in the direction that matters */
			if (isnan(*worst_ratio) ||
			    (bw ? ratio < *worst_ratio : ratio > *worst_ratio))
				*worst_ratio = ratio;
			if (bw ? val >= thr : val <= thr)
				continue;
			fsc_accept_fmt_num(vt, sizeof(vt), val);
			fsc_accept_fmt_num(rt, sizeof(rt), ratio);
			snprintf(text, sizeof(text), "%s->%s %s %s (%sx median)", src ? src : "?",
			         dst ? dst : "?", vt, unit, rt);
			if (*nbad < LINK_CELLS_NAMED)
				fsc_accept_appendf(o->measured, sizeof(o->measured), "%s%s",
				                   *nbad ? ", " : "", text);
			(*nbad)++;
			json_array_append_new(cells_suspects,
			                      suspect_from_cell(src ? src : "?", dst ? dst : "?",
			                                        bw ? "bandwidth" : "latency",
			                                        text));
		}
	return ncell;
}

static void eval_links(const struct fsc_spec_check *c, const struct recs *rs,
                       struct fsc_check_outcome *o)
{
	int bw = c->kind == FSC_CHECK_LINK_BANDWIDTH;
	json_t *cells = json_array(), *anoms = json_array();
	size_t ncell = 0, nbad = 0;
	double worst = NAN;
	char list[sizeof(o->measured)], wt[32];

	o->measured[0] = 0;
	for (size_t i = 0; i < rs->n; i++) {
		const struct fsc_accept_record *r = &rs->r[i];

		if (!fsc_accept_record_measured(r) || !r->labels)
			continue;
		ncell += eval_matrix(c, r, o, &nbad, &worst, cells);
		for (size_t k = 0; k < r->nanomalies; k++) {
			struct fsc_accept_anomaly an;

			fsc_accept_anomaly_read(r, k, &an);
			if (!strcmp(an.metric, bw ? "bandwidth" : "latency"))
				json_array_append_new(anoms, suspect_from_anomaly(&an));
		}
	}
	if (!ncell) {
		set(o, FSC_CHECK_SKIP, "no pairs matrix was measured");
	} else if (!nbad) {
		fsc_accept_fmt_num(wt, sizeof(wt), worst);
		set(o, FSC_CHECK_PASS, "%zu links, the worst at %sx median", ncell, wt);
	} else {
		snprintf(list, sizeof(list), "%s", o->measured);
		set(o, FSC_CHECK_FAIL, "%zu of %zu links %s: %s%s", nbad, ncell,
		    bw ? "below" : "above", list, nbad > LINK_CELLS_NAMED ? ", ..." : "");
		/* Attribution names the culprit when it found one; the
		 * failing cells otherwise. */
		json_array_extend(o->suspects, json_array_size(anoms) ? anoms : cells);
	}
	o->value = worst;
	json_decref(cells);
	json_decref(anoms);
}

void fsc_accept_check_eval(const struct fsc_spec_check *c, const struct fsc_accept_attempt *a,
                           struct fsc_check_outcome *o)
{
	size_t n = json_array_size(a->records);
	struct fsc_accept_record *typed = calloc(n ? n : 1, sizeof(*typed));
	struct recs rs = {typed, n};
	const char *why;

	memset(o, 0, sizeof(*o));
	o->value = NAN;
	o->suspects = json_array();
	fsc_accept_required_text(c, a, o->required, sizeof(o->required));
	if (!typed) {
		set(o, FSC_CHECK_SKIP, "out of memory");
		return;
	}
	/* The records are read here, once; the checks read fields. */
	for (size_t i = 0; i < n; i++)
		fsc_accept_record_read(json_array_get(a->records, i), &typed[i]);
	if (all_skipped(&rs, &why)) {
		if (c->kind == FSC_CHECK_COMPLETED && a->required)
			set(o, FSC_CHECK_FAIL, "required fabric not usable: %s", why);
		else
			set(o, FSC_CHECK_SKIP, "%s", why);
		free(typed);
		return;
	}
	switch (c->kind) {
	case FSC_CHECK_COMPLETED: eval_completed(a, &rs, o); break;
	case FSC_CHECK_LATENCY_P50:
	case FSC_CHECK_LATENCY_P99: eval_latency(c, &rs, o); break;
	case FSC_CHECK_BANDWIDTH:
	case FSC_CHECK_BUSBW: eval_bandwidth(c, &rs, o); break;
	case FSC_CHECK_NO_WRONG_DATA: eval_wrong(&rs, o); break;
	case FSC_CHECK_NO_ANOMALY: eval_anomaly(c, &rs, o); break;
	case FSC_CHECK_LINK_BANDWIDTH:
	case FSC_CHECK_LINK_LATENCY: eval_links(c, &rs, o); break;
	}
	free(typed);
	/* Suspects explain failures only; one per node or link. */
	if (o->status != FSC_CHECK_FAIL) {
		json_array_clear(o->suspects);
	} else if (json_array_size(o->suspects) > 1) {
		json_t *raw = o->suspects;

		o->suspects = json_array();
		fsc_accept_suspects_merge(o->suspects, raw, 0);
		json_decref(raw);
	}
}

void fsc_check_outcome_fini(struct fsc_check_outcome *o)
{
	if (!o)
		return;
	json_decref(o->suspects);
	o->suspects = 0;
}
