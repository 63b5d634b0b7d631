/* The plan of `fabscope accept` (src/accept.h): one item per test of a
 * spec and fabric of the test, each with its run configuration built and
 * validated from the spec (errors point into the spec file). */
#include "accept_plan.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "accept_text.h"
#include "err.h"
#include "registry.h"
#include "runner.h"
#include "session.h"

/* ------------------------------------------------------------------ */
/* The plan: one item per test x fabric                                 */
/* ------------------------------------------------------------------ */

void fsc_accept_plan_free(struct fsc_accept_plan *p)
{
	for (size_t i = 0; p->items && i < p->n; i++)
		fsc_config_free(p->items[i].cfg);
	free(p->items);
	p->items = 0;
	p->n = 0;
}

static int __attribute__((format(printf, 5, 6)))
spec_error(char *err, size_t len, const struct fsc_spec *s, struct fsc_spec_mark m, const char *fmt,
           ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(err, len, "%s:%d:%d: %s", s->path, m.line, m.col, msg);
	return -EINVAL;
}

static const struct fsc_opt *opt_find(const struct fsc_opt_group *g, size_t ng, const char *name)
{
	for (size_t i = 0; i < ng; i++)
		for (const struct fsc_opt *o = g[i].opts; o && o->name; o++)
			if (!strcmp(o->name, name))
				return o;
	return 0;
}

static const char *absent_reason(const char *name)
{
	for (size_t k = 0; fsc_fabrics_absent[k].name; k++)
		if (!strcmp(fsc_fabrics_absent[k].name, name))
			return fsc_fabrics_absent[k].reason;
	return 0;
}

void fsc_accept_fabric_names(char *buf, size_t len)
{
	buf[0] = 0;
	for (size_t k = 0; fsc_fabrics[k]; k++)
		fsc_accept_appendf(buf, len, "%s%s", k ? ", " : "", fsc_fabrics[k]->name);
	for (size_t k = 0; fsc_fabrics_absent[k].name; k++)
		fsc_accept_appendf(buf, len, ", %s", fsc_fabrics_absent[k].name);
}

int fsc_accept_fabric_known(const char *name)
{
	return fsc_fabric_find(name) || absent_reason(name);
}

/* Options the spec sets through its own keys, or accept sets itself. */
static const char *const reserved_opts[] = {"fabric",  "pattern", "impl",  "min",
                                            "max",     "factor",  "iters", "warmup",
                                            "timeout", "output",  "quiet", 0};

/* Is this option how some fabric is told its in-process rank count?  (Set
 * by accept from --ranks, so that one run has one count.) */
static int inprocess_ranks_opt(const char *name)
{
	for (size_t k = 0; fsc_fabrics[k]; k++)
		if (fsc_fabrics[k]->inprocess_ranks &&
		    !strcmp(fsc_fabrics[k]->inprocess_ranks, name))
			return 1;
	return 0;
}

static int opt_apply(struct fsc_config *cfg, const struct fsc_opt_group *g, size_t ng,
                     const struct fsc_spec *s, const struct fsc_spec_opt *o, const char *where,
                     char *err, size_t len)
{
	int reserved = inprocess_ranks_opt(o->name);
	char msg[512];

	for (size_t k = 0; reserved_opts[k] && !reserved; k++)
		reserved = !strcmp(reserved_opts[k], o->name);
	if (reserved)
		return spec_error(err, len, s, o->mark,
		                  "option '%s' in %s: set it with the test's own keys "
		                  "(fabrics, pattern, sizes, impl, iters, warmup, timeout) "
		                  "or on the accept command line (--output, --ranks)",
		                  o->name, where);
	if (!opt_find(g, ng, o->name))
		return spec_error(err, len, s, o->mark,
		                  "unknown option '%s' in %s (options are those of `fabscope run "
		                  "--help`, without the leading --)",
		                  o->name, where);
	if (fsc_config_set(cfg, o->name, o->value, msg, sizeof(msg)))
		return spec_error(err, len, s, o->value_mark, "%s in %s", msg, where);
	return 0;
}

static int cfg_setf(struct fsc_config *cfg, const char *name, char *err, size_t len,
                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int cfg_setf(struct fsc_config *cfg, const char *name, char *err, size_t len,
                    const char *fmt, ...)
{
	char v[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(v, sizeof(v), fmt, ap);
	va_end(ap);
	return fsc_config_set(cfg, name, v, err, len);
}

/* The run configuration of one item, validated as `run` validates its
 * command line; errors point into the spec.  b NULL (a dry run): no
 * bootstrap, so nothing that depends on the rank count is checked. */
static int item_config(struct fsc_accept_item *it, const struct fsc_spec *s, struct fsc_boot *b,
                       int nranks, char *err, size_t len)
{
	const struct fsc_spec_test *t = it->t;
	const struct fsc_spec_fabric *fe = fsc_spec_fabric_find(s, it->fabric);
	const struct fsc_fabric_ops *ops = fsc_fabric_find(it->fabric);
	struct fsc_opt_group g[FSC_MAX_OPT_GROUPS];
	size_t ng = fsc_session_option_groups(g, FSC_MAX_OPT_GROUPS);
	char where[160], msg[512];
	int rc;

	snprintf(where, sizeof(where), "test '%s'", t->name);
	rc = fsc_config_defaults(&it->cfg, g, ng);
	if (rc) {
		snprintf(err, len, "cannot build a configuration: %s", fsc_strerror(rc));
		return rc;
	}
	rc = fsc_config_set(it->cfg, "fabric", it->fabric, msg, sizeof(msg));
	if (!rc)
		rc = fsc_config_set(it->cfg, "pattern", t->pattern, msg, sizeof(msg));
	if (!rc)
		rc = fsc_config_set(it->cfg, "quiet", "true", msg, sizeof(msg));
	if (!rc)
		rc = fsc_config_set(it->cfg, "output", "none", msg, sizeof(msg));
	/* in-process ranks: the configuration states how many */
	if (!rc && ops && ops->inprocess_ranks)
		rc = cfg_setf(it->cfg, ops->inprocess_ranks, msg, sizeof(msg), "%d", nranks);
	/* CSV files named after the results path would overwrite each other
	 * across tests and attempts; the matrices are in the JSON. */
	if (!rc && opt_find(g, ng, "pairs-csv"))
		rc = fsc_config_set(it->cfg, "pairs-csv", "none", msg, sizeof(msg));
	if (rc)
		return spec_error(err, len, s, t->mark, "%s in %s", msg, where);
	if (t->has_sizes) {
		rc = cfg_setf(it->cfg, "min", msg, sizeof(msg), "%llu",
		              (unsigned long long)t->min_bytes);
		if (!rc)
			rc = cfg_setf(it->cfg, "max", msg, sizeof(msg), "%llu",
			              (unsigned long long)t->max_bytes);
		if (!rc)
			rc = cfg_setf(it->cfg, "factor", msg, sizeof(msg), "%llu",
			              (unsigned long long)t->factor);
		if (rc)
			return spec_error(err, len, s, t->sizes_mark, "%s in %s", msg, where);
	}
	if (t->impl && fsc_config_set(it->cfg, "impl", t->impl, msg, sizeof(msg)))
		return spec_error(err, len, s, t->impl_mark, "%s in %s", msg, where);
	if (t->iters >= 0 &&
	    cfg_setf(it->cfg, "iters", msg, sizeof(msg), "%lld", (long long)t->iters))
		return spec_error(err, len, s, t->iters_mark, "%s in %s", msg, where);
	if (t->warmup >= 0 &&
	    cfg_setf(it->cfg, "warmup", msg, sizeof(msg), "%lld", (long long)t->warmup))
		return spec_error(err, len, s, t->warmup_mark, "%s in %s", msg, where);
	if (t->timeout_ns && cfg_setf(it->cfg, "timeout", msg, sizeof(msg), "%lluns",
	                              (unsigned long long)t->timeout_ns))
		return spec_error(err, len, s, t->timeout_mark, "%s in %s", msg, where);
	/* Fabric-wide options first, so a test can override them. */
	if (fe) {
		char fw[96];

		snprintf(fw, sizeof(fw), "fabric '%s'", fe->name);
		for (size_t i = 0; i < fe->nopts; i++)
			if ((rc = opt_apply(it->cfg, g, ng, s, &fe->opts[i], fw, err, len)))
				return rc;
	}
	for (size_t i = 0; i < t->nopts; i++)
		if ((rc = opt_apply(it->cfg, g, ng, s, &t->opts[i], where, err, len)))
			return rc;
	/* Names, impls, sizes and every point for this many ranks. */
	rc = b ? fsc_session_validate(it->cfg, b, msg, sizeof(msg)) : 0;
	if (rc) {
		struct fsc_spec_mark m = t->mark;

		if (strstr(msg, "--impl") && t->impl)
			m = t->impl_mark;
		else if ((strstr(msg, "--min") || strstr(msg, "--max") || strstr(msg, "size")) &&
		         t->has_sizes)
			m = t->sizes_mark;
		char hint[384] = "";

		if (nranks == 1 && strstr(msg, "ranks")) {
			char names[256];

			fsc_session_inprocess_names(names, sizeof(names));
			snprintf(hint, sizeof(hint),
			         " (launch with mpirun -np N, or use only fabrics that run in one "
			         "process: %s)",
			         names);
		}
		return spec_error(err, len, s, m, "%s on fabric %s: %s%s", where, it->fabric, msg,
		                  hint);
	}
	/* A check `at` a size must name one of the test's sizes. */
	for (size_t i = 0; i < t->nchecks; i++) {
		const struct fsc_spec_check *c = &t->checks[i];
		struct fsc_run_settings run;
		uint64_t *sizes = 0;
		size_t nsizes = 0, k;

		if (!c->has_at)
			continue;
		rc = fsc_run_settings_fill(it->cfg, &run, msg, sizeof(msg));
		if (!rc)
			rc = fsc_sizes_build(run.min, run.max, (uint64_t)run.factor, &sizes,
			                     &nsizes, msg, sizeof(msg));
		if (rc)
			return spec_error(err, len, s, t->mark, "%s: %s", where, msg);
		for (k = 0; k < nsizes && sizes[k] != c->at_bytes; k++)
			;
		if (k == nsizes) {
			char list[256] = "", sz[32];

			for (size_t j = 0; j < nsizes && j < 12; j++) {
				fsc_accept_fmt_size(sz, sizeof(sz), sizes[j]);
				fsc_accept_appendf(list, sizeof(list), "%s%s", j ? ", " : "", sz);
			}
			if (nsizes > 12)
				fsc_accept_appendf(list, sizeof(list), ", ...");
			fsc_accept_fmt_size(sz, sizeof(sz), c->at_bytes);
			free(sizes);
			return spec_error(err, len, s, c->at_mark,
			                  "'at: %s' in check '%s' of %s: the test does not measure "
			                  "that size (its sizes: %s)",
			                  sz, c->name, where, list);
		}
		free(sizes);
	}
	return 0;
}

/* Every name of `impl` must belong to the pattern (or be "all"). */
static int impl_check(const struct fsc_spec *s, const struct fsc_spec_test *t,
                      const struct fsc_pattern_ops *p, char *err, size_t len)
{
	const char *q = t->impl;

	while (q && *q) {
		size_t n = strcspn(q, ","), k;
		int found = n == 3 && !strncmp(q, "all", 3);

		for (k = 0; !found && p->impls && p->impls[k]; k++)
			found = strlen(p->impls[k]) == n && !strncmp(p->impls[k], q, n);
		if (!found) {
			char list[256] = "";

			for (k = 0; p->impls && p->impls[k]; k++)
				fsc_accept_appendf(list, sizeof(list), "%s, ", p->impls[k]);
			return spec_error(
			        err, len, s, t->impl_mark,
			        "unknown impl '%.*s' of pattern %s in test '%s' (expected "
			        "one of: %sall)",
			        (int)n, q, p->name, t->name, list);
		}
		q += n + (q[n] == ',');
	}
	return 0;
}

int fsc_accept_plan_build(struct fsc_accept_plan *p, const struct fsc_spec *s,
                          const char *const *filter, size_t nfilter, int nranks, struct fsc_boot *b,
                          char *err, size_t len)
{
	size_t total = 0;
	char names[256];
	int rc;

	memset(p, 0, sizeof(*p));
	fsc_accept_fabric_names(names, sizeof(names));
	for (size_t i = 0; i < s->nfabrics; i++)
		if (!fsc_accept_fabric_known(s->fabrics[i].name))
			return spec_error(err, len, s, s->fabrics[i].mark,
			                  "unknown fabric '%s' in fabrics (expected one of: %s)",
			                  s->fabrics[i].name, names);
	for (size_t i = 0; i < s->ntests; i++)
		total += s->tests[i].nfabrics;
	p->items = calloc(total ? total : 1, sizeof(*p->items));
	if (!p->items) {
		snprintf(err, len, "out of memory");
		return -ENOMEM;
	}
	/* Names first, everywhere: a misspelt fabric is reported as such,
	 * not as whatever the configuration of an earlier item finds. */
	for (size_t i = 0; i < s->ntests; i++) {
		const struct fsc_spec_test *t = &s->tests[i];

		for (size_t f = 0; f < t->nfabrics; f++)
			if (!fsc_accept_fabric_known(t->fabrics[f]))
				return spec_error(err, len, s, t->fabric_marks[f],
				                  "unknown fabric '%s' in test '%s' (expected one "
				                  "of: %s)",
				                  t->fabrics[f], t->name, names);
	}
	for (size_t i = 0; i < s->ntests; i++) {
		const struct fsc_spec_test *t = &s->tests[i];

		if (!fsc_pattern_find(t->pattern)) {
			char pats[256] = "";

			for (size_t k = 0; fsc_patterns[k]; k++)
				fsc_accept_appendf(pats, sizeof(pats), "%s%s", k ? ", " : "",
				                   fsc_patterns[k]->name);
			return spec_error(err, len, s, t->pattern_mark,
			                  "unknown pattern '%s' in test '%s' (expected one of: %s)",
			                  t->pattern, t->name, pats);
		}
		rc = impl_check(s, t, fsc_pattern_find(t->pattern), err, len);
		if (rc)
			return rc;
		for (size_t f = 0; f < t->nfabrics; f++) {
			struct fsc_accept_item *it = &p->items[p->n++];
			const struct fsc_spec_fabric *fe = fsc_spec_fabric_find(s, t->fabrics[f]);
			const char *why;
			size_t k;

			it->t = t;
			it->fabric = t->fabrics[f];
			it->mark = t->fabric_marks[f];
			it->required = (fe && fe->required) || t->required;
			if (!fsc_fabric_find(it->fabric)) {
				why = absent_reason(it->fabric);
				snprintf(it->skip, sizeof(it->skip), "fabric %s is %s", it->fabric,
				         why);
				continue;
			}
			for (k = 0; k < nfilter && strcmp(filter[k], it->fabric); k++)
				;
			if (nfilter && k == nfilter) {
				it->excluded = 1;
				snprintf(it->skip, sizeof(it->skip), "excluded by --fabric-filter");
				continue;
			}
			rc = item_config(it, s, b, b ? b->size : nranks, err, len);
			if (rc)
				return rc;
		}
	}
	return 0;
}
