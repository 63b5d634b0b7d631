/* Acceptance specs: YAML (libyaml's document API) and a schema walk; see
 * spec.h for the format's rules and scripts/specs/README.md for the format.
 *
 * Why the document API rather than a schema library: every error must name
 * the line and column of the offending node, and libyaml keeps both for
 * each node (start_mark, 0-based).  libyaml resolves no implicit types: a
 * plain scalar is text, so numbers, booleans and units are parsed here,
 * and a quoted scalar is taken as a string (a number in quotes is a wrong
 * type, as YAML says).
 */
#include "spec.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "options.h"

#define MAX_FIELDS 16

struct parser {
	yaml_document_t *doc;
	const char *path;
	char *err;
	size_t errlen;
	int failed;
};

static struct fsc_spec_mark mark_of(const yaml_node_t *n)
{
	struct fsc_spec_mark m = {0, 0};

	if (n) {
		m.line = (int)n->start_mark.line + 1;
		m.col = (int)n->start_mark.column + 1;
	}
	return m;
}

/* The first error wins; later ones (consequences) are dropped. */
static int __attribute__((format(printf, 3, 4)))
fail(struct parser *p, const yaml_node_t *n, const char *fmt, ...)
{
	struct fsc_spec_mark m = mark_of(n);
	char msg[768];
	va_list ap;

	if (p->failed)
		return -EINVAL;
	p->failed = 1;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (p->err && p->errlen)
		snprintf(p->err, p->errlen, "%s:%d:%d: %s", p->path, m.line, m.col, msg);
	return -EINVAL;
}

static int nomem(struct parser *p, const yaml_node_t *n)
{
	return fail(p, n, "out of memory");
}

static yaml_node_t *node(struct parser *p, int index)
{
	return yaml_document_get_node(p->doc, index);
}

static const char *scalar(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

static int is_plain(const yaml_node_t *n)
{
	return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

static int is_null(const yaml_node_t *n)
{
	const char *s;

	if (!n)
		return 1;
	if (!is_plain(n))
		return 0;
	s = scalar(n);
	return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
	       !strcmp(s, "NULL");
}

/* What a node is, for "expected X, got Y". */
static const char *describe(const yaml_node_t *n, char *buf, size_t len)
{
	if (is_null(n))
		snprintf(buf, len, "nothing");
	else if (n->type == YAML_SEQUENCE_NODE)
		snprintf(buf, len, "a list");
	else if (n->type == YAML_MAPPING_NODE)
		snprintf(buf, len, "a map");
	else if (!is_plain(n))
		snprintf(buf, len, "the quoted string '%.60s'", scalar(n));
	else
		snprintf(buf, len, "'%.60s'", scalar(n));
	return buf;
}

static int wrong_type(struct parser *p, const yaml_node_t *n, const char *key, const char *what,
                      const char *expected)
{
	char got[96];

	return fail(p, n, "'%s' in %s: expected %s, got %s", key, what, expected,
	            describe(n, got, sizeof(got)));
}

/* ---- the fields of a map ---- */

struct field {
	yaml_node_t *key, *val; /* NULL when absent */
};

/* Collect the entries of a map whose keys must be among `allowed` (NULL
 * terminated); out[i] gets allowed[i]'s key and value. */
static int map_fields(struct parser *p, yaml_node_t *map, const char *what,
                      const char *const *allowed, struct field *out)
{
	size_t nallowed = 0;

	while (allowed[nallowed])
		nallowed++;
	memset(out, 0, nallowed * sizeof(*out));
	for (yaml_node_pair_t *pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top;
	     pr++) {
		yaml_node_t *k = node(p, pr->key), *v = node(p, pr->value);
		size_t i;

		if (!k || k->type != YAML_SCALAR_NODE) {
			char got[96];

			return fail(p, k, "a key in %s must be a name, got %s", what,
			            describe(k, got, sizeof(got)));
		}
		for (i = 0; i < nallowed; i++)
			if (!strcmp(scalar(k), allowed[i]))
				break;
		if (i == nallowed) {
			char list[512];
			size_t used = 0;

			list[0] = 0;
			for (size_t j = 0; j < nallowed && used < sizeof(list); j++) {
				int w = snprintf(list + used, sizeof(list) - used, "%s%s",
				                 j ? ", " : "", allowed[j]);
				if (w > 0)
					used += (size_t)w;
			}
			return fail(p, k, "unknown key '%.60s' in %s (expected one of: %s)",
			            scalar(k), what, list);
		}
		if (out[i].key) {
			struct fsc_spec_mark m = mark_of(out[i].key);

			return fail(p, k, "duplicate key '%s' in %s (first at line %d, column %d)",
			            allowed[i], what, m.line, m.col);
		}
		out[i].key = k;
		out[i].val = v;
	}
	return 0;
}

static int need_map(struct parser *p, yaml_node_t *n, const char *key, const char *what)
{
	if (n && n->type == YAML_MAPPING_NODE)
		return 0;
	return wrong_type(p, n, key, what, "a map");
}

/* ---- scalar values ---- */

static int get_str(struct parser *p, const struct field *f, const char *what, char **out)
{
	const char *key = scalar(f->key);

	if (!f->val || f->val->type != YAML_SCALAR_NODE || is_null(f->val))
		return wrong_type(p, f->val, key, what, "a string");
	free(*out);
	*out = strdup(scalar(f->val));
	return *out ? 0 : nomem(p, f->val);
}

static int get_int(struct parser *p, const struct field *f, const char *what, int64_t min,
                   int64_t max, int64_t *out)
{
	const char *key = scalar(f->key);
	char *end;
	long long v;

	if (!f->val || !is_plain(f->val) || is_null(f->val))
		return wrong_type(p, f->val, key, what, "an integer");
	errno = 0;
	v = strtoll(scalar(f->val), &end, 10);
	if (*end || !isdigit((unsigned char)scalar(f->val)[scalar(f->val)[0] == '-']) ||
	    errno == ERANGE)
		return wrong_type(p, f->val, key, what, "an integer");
	if (v < min || v > max)
		return fail(p, f->val, "'%s' in %s: %lld is out of range (%lld to %lld)", key, what,
		            v, (long long)min, (long long)max);
	*out = v;
	return 0;
}

static int parse_bool(const yaml_node_t *n, int *out)
{
	static const char *const yes[] = {"true", "True", "TRUE", 0};
	static const char *const no[] = {"false", "False", "FALSE", 0};

	if (!n || !is_plain(n))
		return -EINVAL;
	for (int i = 0; yes[i]; i++) {
		if (!strcmp(scalar(n), yes[i])) {
			*out = 1;
			return 0;
		}
		if (!strcmp(scalar(n), no[i])) {
			*out = 0;
			return 0;
		}
	}
	return -EINVAL;
}

static int get_bool(struct parser *p, const struct field *f, const char *what, int *out)
{
	if (parse_bool(f->val, out))
		return wrong_type(p, f->val, scalar(f->key), what, "true or false");
	return 0;
}

static int get_size(struct parser *p, yaml_node_t *v, const char *key, const char *what,
                    uint64_t *out)
{
	if (!v || v->type != YAML_SCALAR_NODE || is_null(v) || fsc_parse_size(scalar(v), out))
		return wrong_type(p, v, key, what, "a size such as 8, 4K, 1M (x1024)");
	return 0;
}

/* ---- units ---- */

/* Split "<number><spaces><unit>"; -EINVAL without a number.  *unit points
 * into s (empty when there is none). */
static int split_number(const char *s, double *v, const char **unit)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	if (!isdigit((unsigned char)*s) && *s != '.')
		return -EINVAL;
	errno = 0;
	*v = strtod(s, &end);
	if (end == s || errno == ERANGE || !isfinite(*v))
		return -EINVAL;
	while (isspace((unsigned char)*end))
		end++;
	*unit = end;
	return 0;
}

struct unit {
	const char *name;
	double scale;
};

static int with_unit(const char *s, const struct unit *units, double *out)
{
	const char *u;
	double v;

	if (!s || split_number(s, &v, &u) || !*u)
		return -EINVAL;
	for (size_t i = 0; units[i].name; i++)
		if (!strcmp(u, units[i].name)) {
			*out = v * units[i].scale;
			return 0;
		}
	return -EINVAL;
}

int fsc_spec_parse_time_us(const char *s, double *us)
{
	static const struct unit units[] = {
	        {"ns", 1e-3}, {"us", 1}, {"\xc2\xb5s", 1}, {"ms", 1e3}, {"s", 1e6}, {0, 0},
	};

	return with_unit(s, units, us);
}

int fsc_spec_parse_bw_GBps(const char *s, double *GBps)
{
	/* GB = 1e9 bytes, as everywhere in fabscope; b = bit, B = byte. */
	static const struct unit units[] = {
	        {"TB/s", 1e3},  {"GB/s", 1},     {"MB/s", 1e-3},    {"kB/s", 1e-6},
	        {"KB/s", 1e-6}, {"Tbit/s", 125}, {"Gbit/s", 0.125}, {"Mbit/s", 1.25e-4},
	        {"Tb/s", 125},  {"Gb/s", 0.125}, {"Mb/s", 1.25e-4}, {0, 0},
	};

	return with_unit(s, units, GBps);
}

int fsc_spec_parse_ratio(const char *s, double *ratio)
{
	const char *u;
	double v;

	if (!s || split_number(s, &v, &u))
		return -EINVAL;
	if (*u != 'x')
		return -EINVAL;
	u++;
	while (isspace((unsigned char)*u))
		u++;
	if (strcmp(u, "median"))
		return -EINVAL;
	*ratio = v;
	return 0;
}

static int bare_number(const char *s)
{
	const char *u;
	double v;

	return !split_number(s, &v, &u) && !*u;
}

#define TIME_HINT "a time such as 50us, 2ms or 1s"
#define BW_HINT "a bandwidth such as 1 GB/s, 800 MB/s or 100 Gbit/s"
#define RATIO_HINT "a ratio such as 0.5x median"

static int get_time_ns(struct parser *p, const struct field *f, const char *what, uint64_t *ns)
{
	const char *key = scalar(f->key);
	double us;

	if (!f->val || f->val->type != YAML_SCALAR_NODE || is_null(f->val))
		return wrong_type(p, f->val, key, what, TIME_HINT);
	if (bare_number(scalar(f->val)))
		return fail(p, f->val, "'%s' in %s: '%s' has no unit: expected %s", key, what,
		            scalar(f->val), TIME_HINT);
	if (fsc_spec_parse_time_us(scalar(f->val), &us) || us <= 0)
		return wrong_type(p, f->val, key, what, TIME_HINT);
	*ns = (uint64_t)llround(us * 1e3);
	return 0;
}

/* ---- options, fabric lists, sizes ---- */

static int opts_append(struct parser *p, yaml_node_t *map, const char *what,
                       struct fsc_spec_opt **opts, size_t *nopts)
{
	size_t n = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
	struct fsc_spec_opt *v = realloc(*opts, (*nopts + n + 1) * sizeof(*v));
	size_t first = *nopts;

	if (!v)
		return nomem(p, map);
	*opts = v;
	for (yaml_node_pair_t *pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top;
	     pr++) {
		yaml_node_t *k = node(p, pr->key), *val = node(p, pr->value);
		struct fsc_spec_opt *o = &v[*nopts];
		char got[96], text[1024];
		size_t used = 0;

		if (!k || k->type != YAML_SCALAR_NODE || is_null(k))
			return fail(p, k, "an option name in %s must be a name, got %s", what,
			            describe(k, got, sizeof(got)));
		for (size_t i = first; i < *nopts; i++)
			if (!strcmp(v[i].name, scalar(k)))
				return fail(p, k,
				            "duplicate option '%s' in %s (first at line %d, "
				            "column %d)",
				            scalar(k), what, v[i].mark.line, v[i].mark.col);
		text[0] = 0;
		if (val && val->type == YAML_SEQUENCE_NODE) {
			for (yaml_node_item_t *it = val->data.sequence.items.start;
			     it < val->data.sequence.items.top; it++) {
				yaml_node_t *e = node(p, *it);
				int w;

				if (!e || e->type != YAML_SCALAR_NODE || is_null(e))
					return fail(p, e,
					            "option '%s' in %s: list items must be "
					            "values, got %s",
					            scalar(k), what, describe(e, got, sizeof(got)));
				w = snprintf(text + used, sizeof(text) - used, "%s%s",
				             used ? "," : "", scalar(e));
				if (w < 0 || (size_t)w >= sizeof(text) - used)
					return fail(p, val, "option '%s' in %s: value too long",
					            scalar(k), what);
				used += (size_t)w;
			}
		} else if (val && val->type == YAML_SCALAR_NODE && !is_null(val)) {
			snprintf(text, sizeof(text), "%s", scalar(val));
		} else {
			return fail(p, val ? val : k,
			            "option '%s' in %s: expected a value (flags: "
			            "true or false), got %s",
			            scalar(k), what, describe(val, got, sizeof(got)));
		}
		o->name = strdup(scalar(k));
		o->value = strdup(text);
		o->mark = mark_of(k);
		o->value_mark = mark_of(val);
		(*nopts)++;
		if (!o->name || !o->value)
			return nomem(p, k);
	}
	return 0;
}

static void opts_free(struct fsc_spec_opt *o, size_t n)
{
	for (size_t i = 0; o && i < n; i++) {
		free(o[i].name);
		free(o[i].value);
	}
	free(o);
}

static int name_ok(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_')
			return 0;
	return 1;
}

/* A name or a list of names (fabrics, impl); *names and *marks are
 * replaced. */
static int get_names(struct parser *p, yaml_node_t *v, const char *key, const char *what,
                     const char *expected, char ***names, struct fsc_spec_mark **marks, size_t *n)
{
	yaml_node_t **items;
	size_t count = 0;
	int rc = 0;

	for (size_t i = 0; i < *n; i++)
		free((*names)[i]);
	free(*names);
	free(*marks);
	*names = 0;
	*marks = 0;
	*n = 0;
	if (v && v->type == YAML_SCALAR_NODE && !is_null(v)) {
		count = 1;
	} else if (v && v->type == YAML_SEQUENCE_NODE) {
		count = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
		if (!count)
			return fail(p, v, "'%s' in %s: the list is empty", key, what);
	} else {
		return wrong_type(p, v, key, what, expected);
	}
	items = calloc(count, sizeof(*items));
	*names = calloc(count, sizeof(**names));
	*marks = calloc(count, sizeof(**marks));
	if (!items || !*names || !*marks) {
		free(items);
		return nomem(p, v);
	}
	if (v->type == YAML_SCALAR_NODE)
		items[0] = v;
	else
		for (size_t i = 0; i < count; i++)
			items[i] = node(p, v->data.sequence.items.start[i]);
	for (size_t i = 0; i < count && !rc; i++) {
		yaml_node_t *e = items[i];
		char got[96];

		if (!e || e->type != YAML_SCALAR_NODE || is_null(e) || !name_ok(scalar(e))) {
			rc = fail(p, e, "'%s' in %s: expected %s, got %s", key, what, expected,
			          describe(e, got, sizeof(got)));
			break;
		}
		for (size_t k = 0; k < *n && !rc; k++)
			if (!strcmp((*names)[k], scalar(e)))
				rc = fail(p, e, "'%s' in %s: '%s' is listed twice", key, what,
				          scalar(e));
		if (rc)
			break;
		(*names)[*n] = strdup(scalar(e));
		(*marks)[*n] = mark_of(e);
		if (!(*names)[(*n)++])
			rc = nomem(p, e);
	}
	free(items);
	return rc;
}

static int get_fabrics(struct parser *p, const struct field *f, const char *what,
                       struct fsc_spec_test *t)
{
	return get_names(p, f->val, "fabrics", what, "a fabric name or a list of them", &t->fabrics,
	                 &t->fabric_marks, &t->nfabrics);
}

/* sizes: one size, or {min, max, factor}. */
static int get_sizes(struct parser *p, const struct field *f, const char *what,
                     struct fsc_spec_test *t)
{
	static const char *const keys[] = {"min", "max", "factor", 0};
	struct field fl[3];
	char sub[160];
	int rc;

	t->sizes_mark = mark_of(f->val);
	t->has_sizes = 1;
	t->factor = 2;
	if (f->val && f->val->type == YAML_SCALAR_NODE && !is_null(f->val)) {
		rc = get_size(p, f->val, "sizes", what, &t->min_bytes);
		t->max_bytes = t->min_bytes;
		return rc;
	}
	if (!f->val || f->val->type != YAML_MAPPING_NODE)
		return wrong_type(p, f->val, "sizes", what,
		                  "a size such as 8 or 1M, or a map {min, max, factor}");
	snprintf(sub, sizeof(sub), "'sizes' of %s", what);
	rc = map_fields(p, f->val, sub, keys, fl);
	if (rc)
		return rc;
	if (!fl[0].key || !fl[1].key)
		return fail(p, f->val, "'sizes' in %s needs both min and max", what);
	rc = get_size(p, fl[0].val, "min", sub, &t->min_bytes);
	if (!rc)
		rc = get_size(p, fl[1].val, "max", sub, &t->max_bytes);
	if (!rc && fl[2].key) {
		int64_t fac;

		rc = get_int(p, &fl[2], sub, 2, 1048576, &fac);
		t->factor = (uint64_t)fac;
	}
	if (!rc && t->min_bytes > t->max_bytes)
		return fail(p, fl[0].val, "'sizes' in %s: min is larger than max", what);
	return rc;
}

/* impl: a name or a list of names, kept comma-separated. */
static int get_impl(struct parser *p, const struct field *f, const char *what,
                    struct fsc_spec_test *t)
{
	char **names = 0, text[512];
	struct fsc_spec_mark *marks = 0;
	size_t n = 0, used = 0;
	int rc = get_names(p, f->val, "impl", what, "an implementation name or a list of them",
	                   &names, &marks, &n);

	text[0] = 0;
	for (size_t i = 0; i < n; i++) {
		int w = snprintf(text + used, sizeof(text) - used, "%s%s", i ? "," : "", names[i]);

		if (!rc && (w < 0 || (size_t)w >= sizeof(text) - used))
			rc = fail(p, f->val, "'impl' in %s: too many names", what);
		else if (w > 0)
			used += (size_t)w;
		free(names[i]);
	}
	free(names);
	free(marks);
	if (rc)
		return rc;
	free(t->impl);
	t->impl = strdup(text);
	t->impl_mark = mark_of(f->val);
	return t->impl ? 0 : nomem(p, f->val);
}

/* ---- checks ---- */

enum limit_class { LIM_NONE, LIM_TIME_MAX, LIM_BW_MIN, LIM_BW_REL_MIN, LIM_TIME_REL_MAX };

static const struct {
	const char *name;
	enum fsc_check_kind kind;
	enum limit_class lim;
	int pairs; /* 1: pairs only, 0: not pairs, -1: any pattern */
} check_table[] = {
        {"latency_p50", FSC_CHECK_LATENCY_P50, LIM_TIME_MAX, 0},
        {"latency_p99", FSC_CHECK_LATENCY_P99, LIM_TIME_MAX, 0},
        {"bandwidth", FSC_CHECK_BANDWIDTH, LIM_BW_MIN, 0},
        {"busbw", FSC_CHECK_BUSBW, LIM_BW_MIN, 0},
        {"no_wrong_data", FSC_CHECK_NO_WRONG_DATA, LIM_NONE, -1},
        {"no_anomaly", FSC_CHECK_NO_ANOMALY, LIM_NONE, 1},
        {"link_bandwidth", FSC_CHECK_LINK_BANDWIDTH, LIM_BW_REL_MIN, 1},
        {"link_latency", FSC_CHECK_LINK_LATENCY, LIM_TIME_REL_MAX, 1},
};
#define NCHECK_KINDS (sizeof(check_table) / sizeof(check_table[0]))

static int get_limit(struct parser *p, const struct field *f, const char *what,
                     enum limit_class lim, struct fsc_spec_check *c)
{
	const char *key = scalar(f->key), *s;
	const char *hint = lim == LIM_TIME_MAX     ? TIME_HINT
	                   : lim == LIM_BW_MIN     ? BW_HINT
	                   : lim == LIM_BW_REL_MIN ? BW_HINT ", or " RATIO_HINT
	                                           : TIME_HINT ", or " RATIO_HINT;
	int time = lim == LIM_TIME_MAX || lim == LIM_TIME_REL_MAX;
	int rel_ok = lim == LIM_BW_REL_MIN || lim == LIM_TIME_REL_MAX;

	if (!f->val || f->val->type != YAML_SCALAR_NODE || is_null(f->val))
		return wrong_type(p, f->val, key, what, hint);
	s = scalar(f->val);
	if (bare_number(s))
		return fail(p, f->val, "'%s' in %s: threshold '%s' has no unit: expected %s", key,
		            what, s, hint);
	if (rel_ok && !fsc_spec_parse_ratio(s, &c->limit))
		c->relative = 1;
	else if (time ? fsc_spec_parse_time_us(s, &c->limit) : fsc_spec_parse_bw_GBps(s, &c->limit))
		return fail(p, f->val, "'%s' in %s: invalid threshold '%s': expected %s", key, what,
		            s, hint);
	if (!(c->limit > 0))
		return fail(p, f->val, "'%s' in %s: threshold '%s' must be above zero", key, what,
		            s);
	c->has_limit = 1;
	snprintf(c->limit_text, sizeof(c->limit_text), "%s", s);
	return 0;
}

static int get_check(struct parser *p, yaml_node_t *item, const char *test_what,
                     const char *pattern, struct fsc_spec_check *c, int *keep)
{
	static const char *const k_time[] = {"max", "at", 0};
	static const char *const k_bw[] = {"min", "at", 0};
	static const char *const k_min[] = {"min", 0};
	static const char *const k_max[] = {"max", 0};
	yaml_node_t *k, *v;
	char what[192], got[96];
	size_t ci;
	struct field fl[2];
	int rc;

	*keep = 1;
	if (!item || item->type != YAML_MAPPING_NODE ||
	    item->data.mapping.pairs.top - item->data.mapping.pairs.start != 1)
		return fail(p, item,
		            "a check in %s must be a map with one key, the check's name "
		            "(e.g. '- latency_p50: {max: 50us}'), got %s",
		            test_what, describe(item, got, sizeof(got)));
	k = node(p, item->data.mapping.pairs.start->key);
	v = node(p, item->data.mapping.pairs.start->value);
	if (!k || k->type != YAML_SCALAR_NODE)
		return fail(p, k, "a check's name in %s must be a name, got %s", test_what,
		            describe(k, got, sizeof(got)));
	for (ci = 0; ci < NCHECK_KINDS; ci++)
		if (!strcmp(scalar(k), check_table[ci].name))
			break;
	if (ci == NCHECK_KINDS) {
		char list[512];
		size_t used = 0;

		list[0] = 0;
		for (size_t j = 0; j < NCHECK_KINDS; j++) {
			int w = snprintf(list + used, sizeof(list) - used, "%s%s", j ? ", " : "",
			                 check_table[j].name);
			if (w > 0 && (size_t)w < sizeof(list) - used)
				used += (size_t)w;
		}
		return fail(p, k, "unknown check '%.60s' in %s (expected one of: %s)", scalar(k),
		            test_what, list);
	}
	memset(c, 0, sizeof(*c));
	c->kind = check_table[ci].kind;
	c->name = check_table[ci].name;
	c->mark = mark_of(k);
	if (pattern && check_table[ci].pairs == 1 && strcmp(pattern, "pairs"))
		return fail(p, k,
		            "check '%s' in %s applies to pattern pairs only (this test runs "
		            "%s)",
		            c->name, test_what, pattern);
	if (pattern && check_table[ci].pairs == 0 && !strcmp(pattern, "pairs"))
		return fail(p, k,
		            "check '%s' in %s does not apply to pattern pairs (use "
		            "link_bandwidth, link_latency, no_anomaly)",
		            c->name, test_what);
	snprintf(what, sizeof(what), "check '%s' of %s", c->name, test_what);
	if (c->kind == FSC_CHECK_NO_ANOMALY && v && v->type == YAML_MAPPING_NODE) {
		/* {metric: bandwidth|latency}: only anomalies of one metric
		 * count (latency cells of a loaded shared machine are noise). */
		static const char *const k_metric[] = {"metric", 0};

		rc = map_fields(p, v, what, k_metric, fl);
		if (!rc && !fl[0].key)
			return fail(p, v, "%s needs 'metric' (bandwidth or latency)", what);
		if (!rc && fl[0].val && is_plain(fl[0].val) &&
		    !strcmp(scalar(fl[0].val), "bandwidth"))
			c->metric = FSC_METRIC_BANDWIDTH;
		else if (!rc && fl[0].val && is_plain(fl[0].val) &&
		         !strcmp(scalar(fl[0].val), "latency"))
			c->metric = FSC_METRIC_LATENCY;
		else if (!rc)
			rc = wrong_type(p, fl[0].val, "metric", what, "bandwidth or latency");
		return rc;
	}
	if (check_table[ci].lim == LIM_NONE) {
		if (parse_bool(v, keep))
			return wrong_type(p, v, c->name, test_what,
			                  c->kind == FSC_CHECK_NO_ANOMALY
			                          ? "true, false or {metric: bandwidth|latency}"
			                          : "true or false");
		return 0;
	}
	if (!v || v->type != YAML_MAPPING_NODE)
		return fail(
		        p, v ? v : k, "check '%s' in %s: expected a map such as {%s: %s}, got %s",
		        c->name, test_what,
		        check_table[ci].lim == LIM_BW_MIN || check_table[ci].lim == LIM_BW_REL_MIN
		                ? "min"
		                : "max",
		        check_table[ci].lim == LIM_TIME_MAX     ? "50us"
		        : check_table[ci].lim == LIM_BW_MIN     ? "1 GB/s"
		        : check_table[ci].lim == LIM_BW_REL_MIN ? "0.5x median"
		                                                : "2x median",
		        describe(v, got, sizeof(got)));
	switch (check_table[ci].lim) {
	case LIM_TIME_MAX: rc = map_fields(p, v, what, k_time, fl); break;
	case LIM_BW_MIN: rc = map_fields(p, v, what, k_bw, fl); break;
	case LIM_BW_REL_MIN: rc = map_fields(p, v, what, k_min, fl); break;
	default: rc = map_fields(p, v, what, k_max, fl); break;
	}
	if (rc)
		return rc;
	c->is_max = check_table[ci].lim == LIM_TIME_MAX || check_table[ci].lim == LIM_TIME_REL_MAX;
	if (!fl[0].key)
		return fail(p, v, "%s needs '%s'", what, c->is_max ? "max" : "min");
	rc = get_limit(p, &fl[0], what, check_table[ci].lim, c);
	if (!rc && (check_table[ci].lim == LIM_TIME_MAX || check_table[ci].lim == LIM_BW_MIN) &&
	    fl[1].key) {
		rc = get_size(p, fl[1].val, "at", what, &c->at_bytes);
		c->has_at = 1;
		c->at_mark = mark_of(fl[1].val);
	}
	return rc;
}

static int get_checks(struct parser *p, const struct field *f, const char *what,
                      struct fsc_spec_test *t)
{
	yaml_node_t *v = f->val;
	size_t n;

	if (!v || v->type != YAML_SEQUENCE_NODE)
		return wrong_type(p, v, "checks", what,
		                  "a list of checks (e.g. '- latency_p50: {max: 50us}')");
	n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
	t->checks = calloc(n + 1, sizeof(*t->checks));
	if (!t->checks)
		return nomem(p, v);
	for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
	     it++) {
		int keep, rc = get_check(p, node(p, *it), what, t->pattern, &t->checks[t->nchecks],
		                         &keep);

		if (rc)
			return rc;
		for (size_t i = 0; keep && i < t->nchecks; i++) {
			const struct fsc_spec_check *a = &t->checks[i], *b = &t->checks[t->nchecks];

			/* one check per kind and size; a link check may have
			 * one relative and one absolute limit */
			if (a->kind == b->kind && a->has_at == b->has_at &&
			    a->at_bytes == b->at_bytes && a->relative == b->relative)
				return fail(p, node(p, *it),
				            "check '%s' appears twice in %s "
				            "(first at line %d)",
				            b->name, what, a->mark.line);
		}
		if (keep)
			t->nchecks++;
	}
	return 0;
}

/* ---- tests and defaults ---- */

static void test_clear(struct fsc_spec_test *t)
{
	free(t->name);
	free(t->description);
	for (size_t i = 0; i < t->nfabrics; i++)
		free(t->fabrics[i]);
	free(t->fabrics);
	free(t->fabric_marks);
	free(t->pattern);
	free(t->impl);
	opts_free(t->opts, t->nopts);
	free(t->checks);
	memset(t, 0, sizeof(*t));
}

/* Copy what `defaults` sets into a fresh test. */
static int test_from_defaults(struct fsc_spec_test *t, const struct fsc_spec_test *d)
{
	memset(t, 0, sizeof(*t));
	*t = *d;
	t->name = t->description = t->pattern = t->impl = 0;
	t->fabrics = 0;
	t->fabric_marks = 0;
	t->opts = 0;
	t->checks = 0;
	t->nchecks = 0;
	if (d->impl && !(t->impl = strdup(d->impl)))
		return -ENOMEM;
	t->nfabrics = 0;
	if (d->nfabrics) {
		t->fabrics = calloc(d->nfabrics, sizeof(*t->fabrics));
		t->fabric_marks = calloc(d->nfabrics, sizeof(*t->fabric_marks));
		if (!t->fabrics || !t->fabric_marks)
			return -ENOMEM;
		for (size_t i = 0; i < d->nfabrics; i++) {
			t->fabrics[i] = strdup(d->fabrics[i]);
			t->fabric_marks[i] = d->fabric_marks[i];
			if (!t->fabrics[t->nfabrics++])
				return -ENOMEM;
		}
	}
	t->nopts = 0;
	if (d->nopts) {
		t->opts = calloc(d->nopts, sizeof(*t->opts));
		if (!t->opts)
			return -ENOMEM;
		for (size_t i = 0; i < d->nopts; i++) {
			t->opts[i] = d->opts[i];
			t->opts[i].name = strdup(d->opts[i].name);
			t->opts[i].value = strdup(d->opts[i].value);
			t->nopts++;
			if (!t->opts[i].name || !t->opts[i].value)
				return -ENOMEM;
		}
	}
	return 0;
}

enum {
	F_NAME,
	F_DESC,
	F_FABRICS,
	F_PATTERN,
	F_SIZES,
	F_IMPL,
	F_ITERS,
	F_WARMUP,
	F_TIMEOUT,
	F_OPTIONS,
	F_CHECKS,
	F_REQUIRED,
};

static const char *const test_keys[] = {"name",   "description", "fabrics", "pattern", "sizes",
                                        "impl",   "iters",       "warmup",  "timeout", "options",
                                        "checks", "required",    0};
/* defaults: the same keys less those that only make sense per test. */
static const char *const default_keys[] = {"fabrics", "sizes",   "impl",    "iters",
                                           "warmup",  "timeout", "options", 0};

/* The settings shared by tests and defaults; fl indexed by F_*. */
static int get_settings(struct parser *p, struct field *fl, const char *what,
                        struct fsc_spec_test *t)
{
	int rc = 0;

	if (fl[F_FABRICS].key)
		rc = get_fabrics(p, &fl[F_FABRICS], what, t);
	if (!rc && fl[F_SIZES].key)
		rc = get_sizes(p, &fl[F_SIZES], what, t);
	if (!rc && fl[F_IMPL].key)
		rc = get_impl(p, &fl[F_IMPL], what, t);
	if (!rc && fl[F_ITERS].key) {
		rc = get_int(p, &fl[F_ITERS], what, 1, 1000000000, &t->iters);
		t->iters_mark = mark_of(fl[F_ITERS].val);
	}
	if (!rc && fl[F_WARMUP].key) {
		rc = get_int(p, &fl[F_WARMUP], what, 0, 1000000000, &t->warmup);
		t->warmup_mark = mark_of(fl[F_WARMUP].val);
	}
	if (!rc && fl[F_TIMEOUT].key) {
		rc = get_time_ns(p, &fl[F_TIMEOUT], what, &t->timeout_ns);
		t->timeout_mark = mark_of(fl[F_TIMEOUT].val);
	}
	if (!rc && fl[F_OPTIONS].key) {
		rc = need_map(p, fl[F_OPTIONS].val, "options", what);
		if (!rc)
			rc = opts_append(p, fl[F_OPTIONS].val, what, &t->opts, &t->nopts);
	}
	return rc;
}

static int get_defaults(struct parser *p, const struct field *f, struct fsc_spec_test *d)
{
	struct field raw[8], fl[F_REQUIRED + 1];
	int rc;

	d->iters = d->warmup = -1;
	rc = need_map(p, f->val, "defaults", "the spec");
	if (!rc)
		rc = map_fields(p, f->val, "defaults", default_keys, raw);
	if (rc)
		return rc;
	memset(fl, 0, sizeof(fl));
	fl[F_FABRICS] = raw[0];
	fl[F_SIZES] = raw[1];
	fl[F_IMPL] = raw[2];
	fl[F_ITERS] = raw[3];
	fl[F_WARMUP] = raw[4];
	fl[F_TIMEOUT] = raw[5];
	fl[F_OPTIONS] = raw[6];
	return get_settings(p, fl, "defaults", d);
}

static int get_test(struct parser *p, yaml_node_t *n, size_t index, const struct fsc_spec_test *d,
                    struct fsc_spec_test *t)
{
	struct field fl[F_REQUIRED + 1];
	char what[160];
	int rc;

	if (test_from_defaults(t, d))
		return nomem(p, n);
	t->mark = mark_of(n);
	snprintf(what, sizeof(what), "test %zu", index + 1);
	if (!n || n->type != YAML_MAPPING_NODE) {
		char got[96];

		return fail(p, n,
		            "test %zu: expected a map (name, pattern, fabrics, checks, ...), "
		            "got %s",
		            index + 1, describe(n, got, sizeof(got)));
	}
	/* Name the test in messages from the start when it has a name. */
	for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top;
	     pr++) {
		yaml_node_t *k = node(p, pr->key), *v = node(p, pr->value);

		if (k && k->type == YAML_SCALAR_NODE && !strcmp(scalar(k), "name") && v &&
		    v->type == YAML_SCALAR_NODE && !is_null(v) && name_ok(scalar(v)))
			snprintf(what, sizeof(what), "test '%.60s'", scalar(v));
	}
	rc = map_fields(p, n, what, test_keys, fl);
	if (rc)
		return rc;
	if (!fl[F_NAME].key)
		return fail(p, n, "test %zu has no 'name'", index + 1);
	rc = get_str(p, &fl[F_NAME], what, &t->name);
	if (rc)
		return rc;
	if (!name_ok(t->name))
		return fail(p, fl[F_NAME].val,
		            "test name '%.60s': use letters, digits, '-' and '_' "
		            "only",
		            t->name);
	snprintf(what, sizeof(what), "test '%s'", t->name);
	if (fl[F_DESC].key)
		rc = get_str(p, &fl[F_DESC], what, &t->description);
	if (!rc && !fl[F_PATTERN].key)
		return fail(p, n, "%s has no 'pattern'", what);
	if (!rc)
		rc = get_str(p, &fl[F_PATTERN], what, &t->pattern);
	t->pattern_mark = mark_of(fl[F_PATTERN].val);
	if (!rc)
		rc = get_settings(p, fl, what, t);
	if (rc)
		return rc;
	if (!t->nfabrics)
		return fail(p, n, "%s has no 'fabrics' (and defaults set none)", what);
	if (!strcmp(t->pattern, "pairs") && fl[F_SIZES].key)
		return fail(p, fl[F_SIZES].key,
		            "'sizes' in %s: pattern pairs has its own sizes "
		            "(options: {pairs-bw-size: 1M, pairs-lat-size: 8})",
		            what);
	if (!strcmp(t->pattern, "pairs"))
		t->has_sizes = 0;
	if (fl[F_CHECKS].key)
		rc = get_checks(p, &fl[F_CHECKS], what, t);
	if (!rc && fl[F_REQUIRED].key)
		rc = get_bool(p, &fl[F_REQUIRED], what, &t->required);
	return rc;
}

static int get_fabric_entries(struct parser *p, const struct field *f, struct fsc_spec *s)
{
	static const char *const keys[] = {"required", "options", 0};
	yaml_node_t *m = f->val;
	size_t n;
	int rc = need_map(p, m, "fabrics", "the spec");

	if (rc)
		return rc;
	n = (size_t)(m->data.mapping.pairs.top - m->data.mapping.pairs.start);
	s->fabrics = calloc(n + 1, sizeof(*s->fabrics));
	if (!s->fabrics)
		return nomem(p, m);
	for (yaml_node_pair_t *pr = m->data.mapping.pairs.start; pr < m->data.mapping.pairs.top;
	     pr++) {
		yaml_node_t *k = node(p, pr->key), *v = node(p, pr->value);
		struct fsc_spec_fabric *fe = &s->fabrics[s->nfabrics];
		struct field fl[2];
		char what[128], got[96];

		if (!k || k->type != YAML_SCALAR_NODE || !name_ok(scalar(k)))
			return fail(p, k, "a key of 'fabrics' must be a fabric name, got %s",
			            describe(k, got, sizeof(got)));
		for (size_t i = 0; i < s->nfabrics; i++)
			if (!strcmp(s->fabrics[i].name, scalar(k)))
				return fail(p, k,
				            "duplicate key '%s' in fabrics (first at line "
				            "%d, column %d)",
				            scalar(k), s->fabrics[i].mark.line,
				            s->fabrics[i].mark.col);
		fe->name = strdup(scalar(k));
		fe->mark = mark_of(k);
		s->nfabrics++;
		if (!fe->name)
			return nomem(p, k);
		snprintf(what, sizeof(what), "fabric '%s'", fe->name);
		rc = need_map(p, v, fe->name, "fabrics");
		if (!rc)
			rc = map_fields(p, v, what, keys, fl);
		if (!rc && fl[0].key)
			rc = get_bool(p, &fl[0], what, &fe->required);
		if (!rc && fl[1].key) {
			rc = need_map(p, fl[1].val, "options", what);
			if (!rc)
				rc = opts_append(p, fl[1].val, what, &fe->opts, &fe->nopts);
		}
		if (rc)
			return rc;
	}
	return 0;
}

static int get_spec(struct parser *p, yaml_node_t *root, struct fsc_spec *s)
{
	static const char *const keys[] = {"name",    "description", "defaults",
	                                   "fabrics", "tests",       0};
	struct fsc_spec_test d;
	struct field fl[5];
	yaml_node_t *tests;
	int rc;

	memset(&d, 0, sizeof(d));
	d.iters = d.warmup = -1;
	if (root->type != YAML_MAPPING_NODE) {
		char got[96];

		return fail(p, root,
		            "a spec is a map (name, description, defaults, fabrics, tests), "
		            "got %s",
		            describe(root, got, sizeof(got)));
	}
	rc = map_fields(p, root, "the spec", keys, fl);
	if (rc)
		return rc;
	if (!fl[0].key)
		return fail(p, root, "the spec has no 'name'");
	if (!fl[4].key)
		return fail(p, root, "the spec has no 'tests'");
	rc = get_str(p, &fl[0], "the spec", &s->name);
	if (!rc && fl[1].key)
		rc = get_str(p, &fl[1], "the spec", &s->description);
	if (!rc && fl[2].key)
		rc = get_defaults(p, &fl[2], &d);
	if (!rc && fl[3].key)
		rc = get_fabric_entries(p, &fl[3], s);
	tests = fl[4].val;
	if (!rc && (!tests || tests->type != YAML_SEQUENCE_NODE))
		rc = wrong_type(p, tests, "tests", "the spec", "a list of tests");
	if (!rc && tests->data.sequence.items.top == tests->data.sequence.items.start)
		rc = fail(p, tests, "'tests' is empty");
	if (!rc) {
		size_t n =
		        (size_t)(tests->data.sequence.items.top - tests->data.sequence.items.start);

		s->tests = calloc(n, sizeof(*s->tests));
		if (!s->tests)
			rc = nomem(p, tests);
		for (size_t i = 0; !rc && i < n; i++) {
			yaml_node_t *tn = node(p, tests->data.sequence.items.start[i]);

			rc = get_test(p, tn, i, &d, &s->tests[i]);
			s->ntests = i + 1;
			for (size_t k = 0; !rc && k < i; k++)
				if (!strcmp(s->tests[k].name, s->tests[i].name))
					rc = fail(p, tn,
					          "duplicate test name '%s' (first at line %d)",
					          s->tests[i].name, s->tests[k].mark.line);
		}
	}
	test_clear(&d);
	return rc;
}

/* ---- entry points ---- */

int fsc_spec_read(const char *path, char **text, size_t *len, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n;

	*text = 0;
	*len = 0;
	if (!f) {
		int e = errno;

		snprintf(err, errlen, "cannot read spec '%s': %s", path, strerror(e));
		return -e;
	}
	buf = malloc(FSC_SPEC_MAX_BYTES + 1);
	if (!buf) {
		fclose(f);
		snprintf(err, errlen, "out of memory reading '%s'", path);
		return -ENOMEM;
	}
	n = fread(buf, 1, FSC_SPEC_MAX_BYTES + 1, f);
	if (ferror(f)) {
		int e = errno ? errno : EIO;

		snprintf(err, errlen, "cannot read spec '%s': %s", path, strerror(e));
		fclose(f);
		free(buf);
		return -e;
	}
	fclose(f);
	if (n > FSC_SPEC_MAX_BYTES) {
		snprintf(err, errlen, "spec '%s' is larger than %u bytes", path,
		         FSC_SPEC_MAX_BYTES);
		free(buf);
		return -EFBIG;
	}
	buf[n] = 0;
	*text = buf;
	*len = n;
	return 0;
}

int fsc_spec_parse(const char *text, size_t len, const char *path, struct fsc_spec **out, char *err,
                   size_t errlen)
{
	struct parser p = {.path = path ? path : "spec", .err = err, .errlen = errlen};
	yaml_parser_t yp;
	yaml_document_t doc, extra;
	yaml_node_t *root;
	struct fsc_spec *s;
	int rc;

	*out = 0;
	if (err && errlen)
		err[0] = 0;
	if (memchr(text, 0, len)) {
		snprintf(err, errlen, "%s: not a text file (it contains a NUL byte)", p.path);
		return -EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (!s || !(s->path = strdup(p.path))) {
		free(s);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if (!yaml_parser_initialize(&yp)) {
		fsc_spec_free(s);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&yp, (const unsigned char *)text, len);
	if (!yaml_parser_load(&yp, &doc)) {
		/* problem_mark is where the scanner or parser gave up (0-based). */
		char ctx[256] = "";

		if (yp.context)
			snprintf(ctx, sizeof(ctx), " (%s at line %d, column %d)", yp.context,
			         (int)yp.context_mark.line + 1, (int)yp.context_mark.column + 1);
		snprintf(err, errlen, "%s:%d:%d: YAML syntax error: %s%s", p.path,
		         (int)yp.problem_mark.line + 1, (int)yp.problem_mark.column + 1,
		         yp.problem ? yp.problem : "cannot parse", ctx);
		yaml_parser_delete(&yp);
		fsc_spec_free(s);
		return -EINVAL;
	}
	p.doc = &doc;
	root = yaml_document_get_root_node(&doc);
	if (!root) {
		snprintf(err, errlen, "%s:1:1: the spec is empty", p.path);
		rc = -EINVAL;
	} else {
		rc = get_spec(&p, root, s);
	}
	if (!rc) {
		/* One document per spec: a second one would be silently
		 * ignored otherwise. */
		if (!yaml_parser_load(&yp, &extra)) {
			snprintf(err, errlen, "%s:%d:%d: YAML syntax error: %s", p.path,
			         (int)yp.problem_mark.line + 1, (int)yp.problem_mark.column + 1,
			         yp.problem ? yp.problem : "cannot parse");
			rc = -EINVAL;
		} else {
			yaml_node_t *r2 = yaml_document_get_root_node(&extra);

			if (r2) {
				snprintf(err, errlen,
				         "%s:%d:%d: a spec is one YAML document; a "
				         "second one starts here",
				         p.path, (int)extra.start_mark.line + 1,
				         (int)extra.start_mark.column + 1);
				rc = -EINVAL;
			}
			yaml_document_delete(&extra);
		}
	}
	yaml_document_delete(&doc);
	yaml_parser_delete(&yp);
	if (rc) {
		fsc_spec_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

void fsc_spec_free(struct fsc_spec *s)
{
	if (!s)
		return;
	for (size_t i = 0; s->tests && i < s->ntests; i++)
		test_clear(&s->tests[i]);
	free(s->tests);
	for (size_t i = 0; s->fabrics && i < s->nfabrics; i++) {
		free(s->fabrics[i].name);
		opts_free(s->fabrics[i].opts, s->fabrics[i].nopts);
	}
	free(s->fabrics);
	free(s->path);
	free(s->name);
	free(s->description);
	free(s);
}

const struct fsc_spec_fabric *fsc_spec_fabric_find(const struct fsc_spec *s, const char *name)
{
	for (size_t i = 0; s && i < s->nfabrics; i++)
		if (!strcmp(s->fabrics[i].name, name))
			return &s->fabrics[i];
	return 0;
}
