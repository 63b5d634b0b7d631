/* Unit-test harness: run patterns through the runner on N loopback ranks
 * (threads, virtual clock) and hand back rank 0's records.
 *
 * Two modes: a sweep of one pattern as `fabscope run` would do it (set
 * `pattern`), or an explicit list of points (set `points`).  Options are
 * given as command-line words and parsed with the same tables as the CLI,
 * so a test exercises exactly what a user would type.  Header-only: every
 * test is one cmocka executable.
 */
#ifndef FSC_TEST_LB_HARNESS_H
#define FSC_TEST_LB_HARNESS_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "boot.h"
#include "registry.h"
#include "results.h"
#include "runner.h"
#include "session.h"

#define LBH_MAX_ARGS 48
#define LBH_MAX_RANKS 8

struct lbh_point {
	const char *pattern, *impl;
	enum fsc_dtype dt;
	enum fsc_redop op;
	int in_place;
	size_t bytes;
};

struct lbh_job {
	const char *args[LBH_MAX_ARGS];
	int nargs;
	const char *pattern;            /* sweep mode */
	const struct lbh_point *points; /* point mode */
	size_t npoints;
	const char *const *hosts; /* NULL: every rank on this host */
	const char *path;         /* results file; NULL: in memory */
	const char *fabric;       /* NULL: loopback */
	const struct fsc_fabric_ops *ops; /* NULL: the fabric named above */
	/* out, per rank */
	int rc[LBH_MAX_RANKS]; /* sweep's (or first failing point's) return */
	uint64_t failed[LBH_MAX_RANKS], wrong[LBH_MAX_RANKS];
	json_t *records; /* rank 0's */
	struct fsc_config *cfg;
};

#define LBH_ARGS(j, ...)                                                                           \
	do {                                                                                       \
		const char *a_[] = {__VA_ARGS__};                                                  \
		(j)->nargs = (int)(sizeof(a_) / sizeof(a_[0]));                                    \
		memcpy((j)->args, a_, sizeof(a_));                                                 \
	} while (0)

/* Parse `run` options as the CLI does; NULL (and a printed error) if bad. */
static inline struct fsc_config *lbh_config(int nargs, const char *const *args)
{
	struct fsc_opt_group g[FSC_MAX_OPT_GROUPS];
	struct fsc_config *cfg = 0;
	char *argv[LBH_MAX_ARGS + 1];
	char err[256];
	int argc = 0;

	argv[argc++] = (char *)"run";
	for (int i = 0; i < nargs && i < LBH_MAX_ARGS; i++)
		argv[argc++] = (char *)args[i];
	if (fsc_config_parse(&cfg, g, fsc_session_option_groups(g, FSC_MAX_OPT_GROUPS), argc, argv,
	                     0, err, sizeof(err))) {
		print_error("config: %s\n", err);
		return 0;
	}
	return cfg;
}

static inline int lbh_points(struct lbh_job *j, struct fsc_runner *r, struct fsc_fabric *f)
{
	struct fsc_pctx c;
	int rc = 0;

	memset(&c, 0, sizeof(c));
	c.fab = f;
	c.boot = r->boot;
	c.cfg = j->cfg;
	c.rank = r->boot->rank;
	c.size = r->boot->size;
	c.seed = r->seed;
	c.clock = fsc_runner_clock(r, f);
	for (size_t i = 0; i < j->npoints && !rc; i++) {
		const struct lbh_point *p = &j->points[i];
		json_t *rec = 0;

		c.impl = p->impl;
		c.dtype = p->dt;
		c.op = p->op;
		c.in_place = p->in_place;
		c.bytes = p->bytes;
		rc = fsc_runner_point(r, fsc_pattern_find(p->pattern), &c, &rec);
		if (rec)
			fsc_runner_emit(r, rec);
	}
	return rc;
}

static inline int lbh_rank(struct fsc_boot *b, void *arg)
{
	struct lbh_job *j = arg;
	struct fsc_results *res = 0;
	struct fsc_fabric *f = 0;
	struct fsc_runner r;
	char err[256];
	int rc;

	if (b->rank == 0 && fsc_results_create(&res, j->path, err, sizeof(err))) {
		print_error("results: %s\n", err);
		return -1;
	}
	rc = fsc_fabric_create(j->ops ? j->ops : fsc_fabric_find(j->fabric ? j->fabric : "loopback"),
	                       b, j->cfg, &f);
	if (!rc)
		rc = fsc_fabric_connect(f);
	if (rc) {
		fsc_fabric_destroy(f);
		fsc_results_free(res);
		return rc;
	}
	fsc_runner_init(&r, b, j->cfg, res, 0);
	if (j->points)
		j->rc[b->rank] = lbh_points(j, &r, f);
	else
		j->rc[b->rank] = fsc_runner_sweep(&r, f, fsc_pattern_find(j->pattern));
	j->failed[b->rank] = r.failed;
	j->wrong[b->rank] = r.wrong;
	fsc_runner_fini(&r);
	fsc_fabric_destroy(f);
	if (res) {
		j->records = json_incref(json_object_get(fsc_results_doc(res), "records"));
		fsc_results_free(res);
	}
	return 0;
}

/* Run j on n ranks.  Asserts that the options parse and every rank got
 * through set-up; the caller checks j->rc[] and owns the records. */
static inline json_t *lbh_run(struct lbh_job *j, int n)
{
	int rcs[LBH_MAX_RANKS];

	assert_true(n >= 1 && n <= LBH_MAX_RANKS);
	j->records = 0;
	j->cfg = lbh_config(j->nargs, j->args);
	assert_non_null(j->cfg);
	assert_int_equal(fsc_boot_local_run(n, j->hosts, lbh_rank, j, rcs), 0);
	for (int i = 0; i < n; i++)
		assert_int_equal(rcs[i], 0);
	fsc_config_free(j->cfg);
	j->cfg = 0;
	assert_non_null(j->records);
	return j->records;
}

static inline double lbh_num(const json_t *rec, const char *k)
{
	return json_number_value(json_object_get(rec, k));
}

static inline double lbh_tnum(const json_t *rec, const char *k)
{
	return json_number_value(json_object_get(json_object_get(rec, "time_us"), k));
}

static inline const char *lbh_str(const json_t *rec, const char *k)
{
	const char *s = json_string_value(json_object_get(rec, k));

	return s ? s : "";
}

#endif
