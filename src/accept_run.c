/* Running `fabscope accept` (see accept.h, accept_run.h).
 *
 * Roles: rank 0 reads the spec file and broadcasts its text through the
 * bootstrap (one rank touches the filesystem); every rank parses the same
 * text, builds the same plan and validates it, and all ranks agree on any
 * error (fsc_boot_agree) so that bad input fails every rank alike with exit
 * code 2 and one message.  Records and judgement live on rank 0, which
 * broadcasts each decision (retry or not, the exit code).
 */
#include "accept_run.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "accept_judge.h"
#include "accept_plan.h"
#include "accept_report.h"
#include "accept_text.h"
#include "clock.h"
#include "err.h"
#include "fsc_version.h"
#include "meta.h"
#include "results.h"
#include "runner.h"
#include "session.h"

/* ------------------------------------------------------------------ */
/* Running                                                              */
/* ------------------------------------------------------------------ */

/* The judgement of one check of one item, over its attempts. */
struct verdict {
	struct fsc_check_outcome o;
	int retried;
	char first_measured[512];
	const struct fsc_spec_check *c;
};

static const struct fsc_spec_check completed_check = {
        .kind = FSC_CHECK_COMPLETED,
        .name = "completed",
};

/* Spec text on every rank: rank 0 reads it (unless the caller did) and
 * broadcasts it.  Returns 0 or the agreed error (rank 0 printed it). */
static int spec_text(struct fsc_boot *b, struct fsc_accept_ctx *x, char **text, size_t *len)
{
	char err[512] = "";
	int64_t n = 0;
	int rc = 0;

	*text = 0;
	*len = 0;
	if (b->rank == 0) {
		if (x->text) {
			*text = malloc(x->len + 1);
			if (*text) {
				memcpy(*text, x->text, x->len);
				(*text)[x->len] = 0;
				*len = x->len;
			} else {
				rc = -ENOMEM;
				snprintf(err, sizeof(err), "out of memory");
			}
		} else {
			rc = fsc_spec_read(x->spec_path, text, len, err, sizeof(err));
		}
		n = rc ? rc : (int64_t)*len;
		if (rc)
			fprintf(stderr, "fabscope: error: %s\n", err);
	}
	rc = fsc_boot_bcast(b, &n, sizeof(n), 0);
	if (rc)
		return rc;
	if (n < 0)
		return (int)n;
	if (b->rank != 0) {
		*text = malloc((size_t)n + 1);
		if (!*text)
			rc = -ENOMEM;
	}
	if (fsc_boot_agree(b, rc, 0))
		return -ENOMEM;
	rc = fsc_boot_bcast(b, *text, (size_t)n, 0);
	(*text)[n] = 0;
	*len = (size_t)n;
	return rc;
}

static void default_output(char *path, size_t len, const char *spec_name)
{
	char when[32], name[64];
	time_t now = time(0);
	size_t k = 0;

	strftime(when, sizeof(when), "%Y%m%d-%H%M%S", gmtime(&now));
	for (const char *p = spec_name; *p && k + 1 < sizeof(name); p++)
		name[k++] = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		                            (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'
		                    ? *p
		                    : '_';
	name[k] = 0;
	mkdir("results", 0755);
	mkdir("results/runs", 0755);
	snprintf(path, len, "results/runs/accept-%s-%s.json", name, when);
}

static json_t *check_json(const struct fsc_accept_item *it, const struct verdict *v, int attempts,
                          double duration_s)
{
	static const char *const words[] = {"pass", "fail", "skip"};
	json_t *o = json_object();

	json_object_set_new(o, "test", json_string(it->t->name));
	json_object_set_new(o, "fabric", json_string(it->fabric));
	json_object_set_new(o, "check", json_string(v->c->name));
	json_object_set_new(o, "required", json_string(v->o.required));
	json_object_set_new(o, "measured", json_string(v->o.measured));
	json_object_set_new(o, "value",
	                    isnan(v->o.value) || isinf(v->o.value) ? json_null()
	                                                           : json_real(v->o.value));
	json_object_set_new(o, "status", json_string(words[v->o.status]));
	json_object_set_new(o, "pass", json_boolean(v->o.status != FSC_CHECK_FAIL));
	json_object_set_new(o, "retried", json_boolean(v->retried));
	if (v->retried)
		json_object_set_new(o, "first_measured", json_string(v->first_measured));
	json_object_set_new(o, "attempts", json_integer(attempts));
	json_object_set_new(o, "duration_s", json_real(duration_s));
	json_object_set_new(o, "suspects", json_incref(v->o.suspects));
	if (v->c->mark.line)
		json_object_set_new(o, "spec_line", json_integer(v->c->mark.line));
	return o;
}

struct run_state {
	struct fsc_boot *b;
	struct fsc_accept_ctx *x;
	const struct fsc_spec *spec;
	struct fsc_accept_plan *plan;
	struct fsc_results *res;          /* rank 0 */
	json_t *checks, *suspects, *runs; /* rank 0 */
	int retries, verbose;
	size_t nrun;         /* items that run (for progress) */
	char bad_input[512]; /* rank 0: the first item whose run refused its options */
};

/* Run one attempt of an item (collective); rank 0 gets its records in
 * *recs, and *dur the attempt's wall time.  A point that failed is in the
 * records ("error"), for the checks to judge.  Returns 0; -ECONNABORTED
 * when a rank stalled or died (no collective can run any more); -EINVAL
 * when the run refused its configuration (bad input: the fabric or the
 * runner logged the value). */
static int attempt_run(struct run_state *st, struct fsc_accept_item *it, int attempt, double *dur,
                       json_t **recs)
{
	struct fsc_runner r;
	json_t *all = 0, *fabinfo = 0;
	size_t n0 = 0;
	uint64_t t0;
	int rc;

	*recs = 0;
	*dur = 0;
	if (st->b->rank == 0) {
		all = json_object_get(fsc_results_doc(st->res), "records");
		n0 = json_array_size(all);
		fabinfo = json_object_get(fsc_results_meta(st->res), "fabrics");
		/* streamed records say which test and attempt they belong to */
		fsc_results_tag(st->res, "test", json_string(it->t->name));
		fsc_results_tag(st->res, "attempt", json_integer(attempt));
	}
	rc = fsc_runner_init(&r, st->b, it->cfg, st->res,
	                     st->b->rank == 0 && st->verbose ? stdout : 0);
	if (!rc) {
		fsc_session_watchdog_arm(st->b, it->cfg);
		t0 = fsc_time_real_ns();
		rc = fsc_session_run(&r, fabinfo);
		*dur = (double)(fsc_time_real_ns() - t0) / 1e9;
	}
	fsc_runner_fini(&r);
	if (st->b->rank == 0) {
		fsc_results_tag(st->res, "test", 0);
		fsc_results_tag(st->res, "attempt", 0);
		*recs = json_array();
		for (size_t i = n0; i < json_array_size(all); i++)
			json_array_append(*recs, json_array_get(all, i));
	}
	/* Any other failure stopped the fabric and is in the records. */
	return rc == -ECONNABORTED || rc == -EINVAL ? rc : 0;
}

static void progress(struct run_state *st, size_t k, const struct fsc_accept_item *it, int attempt,
                     double dur, const struct verdict *v, size_t nv, int retry_next)
{
	size_t nfail = 0;
	char failed[256] = "";

	if (st->b->rank != 0)
		return;
	for (size_t i = 0; i < nv; i++)
		if (v[i].o.status == FSC_CHECK_FAIL) {
			fsc_accept_appendf(failed, sizeof(failed), "%s%s", nfail ? ", " : "",
			                   v[i].c->name);
			nfail++;
		}
	printf("# [%zu/%zu] %s on %s", k, st->nrun, it->t->name, it->fabric);
	if (attempt > 1)
		printf(", attempt %d", attempt);
	printf(": %.1f s: ", dur);
	if (v[0].o.status == FSC_CHECK_SKIP)
		printf("skipped: %s\n", v[0].o.measured);
	else if (!nfail)
		printf("pass\n");
	else
		printf("FAIL (%s)%s\n", failed, retry_next ? ", retrying" : "");
	fflush(stdout);
}

/* One item: attempts until every check passes or retries run out. */
static int item_run(struct run_state *st, struct fsc_accept_item *it, size_t k)
{
	size_t nv = it->t->nchecks + 1;
	struct verdict *v = calloc(nv, sizeof(*v));
	int attempt = 0, again = 1, rc = 0, arc = 0;
	double dur = 0, total = 0;

	if (!v)
		rc = -ENOMEM;
	rc = fsc_boot_agree(st->b, rc, 0);
	if (rc) {
		free(v);
		return rc;
	}
	for (size_t i = 0; i < nv; i++)
		v[i].c = i ? &it->t->checks[i - 1] : &completed_check;
	while (again) {
		json_t *recs;
		int32_t decision = 0;

		attempt++;
		arc = attempt_run(st, it, attempt, &dur, &recs);
		total += dur;
		if (st->b->rank == 0) {
			struct fsc_accept_attempt a = {
			        .records = recs,
			        .duration_s = dur,
			        .timeout_ns = it->t->timeout_ns,
			        .required = it->required,
			};

			for (size_t i = 0; i < nv; i++) {
				struct fsc_check_outcome o;

				if (attempt > 1 && v[i].o.status != FSC_CHECK_FAIL)
					continue;
				fsc_accept_check_eval(v[i].c, &a, &o);
				if (attempt == 1) {
					v[i].o = o;
					continue;
				}
				/* A re-run that cannot judge leaves the failure
				 * standing. */
				v[i].retried = 1;
				snprintf(v[i].first_measured, sizeof(v[i].first_measured), "%s",
				         v[i].o.measured);
				if (o.status == FSC_CHECK_SKIP) {
					fsc_accept_appendf(v[i].o.measured, sizeof(v[i].o.measured),
					                   "; the re-run could not judge: %s",
					                   o.measured);
					fsc_check_outcome_fini(&o);
					continue;
				}
				fsc_check_outcome_fini(&v[i].o);
				v[i].o = o;
			}
			for (size_t i = 0; i < nv; i++)
				decision |= v[i].o.status == FSC_CHECK_FAIL;
			/* no retry once a rank is found stalled (nothing can
			 * run) or of a configuration the run refused */
			decision = decision && attempt <= st->retries &&
			           !fsc_watchdog_aborted(st->b) && !arc;
			progress(st, k, it, attempt, dur, v, nv, decision);
		}
		json_decref(recs);
		rc = fsc_boot_bcast(st->b, &decision, sizeof(decision), 0);
		if (rc)
			break;
		again = decision;
	}
	/* A stalled rank stops the items left; a refused configuration is
	 * bad input, reported once the verdict is out. */
	if (!rc && arc == -ECONNABORTED)
		rc = arc;
	if (arc == -EINVAL && st->b->rank == 0 && !st->bad_input[0])
		snprintf(st->bad_input, sizeof(st->bad_input),
		         "test '%s' on fabric %s: the run refused its options (the bad value is "
		         "named above)",
		         it->t->name, it->fabric);
	if (st->b->rank == 0) {
		json_t *run = json_object();
		char where[256];

		snprintf(where, sizeof(where), "%s/%s", it->t->name, it->fabric);
		for (size_t i = 0; i < nv; i++) {
			json_array_append_new(st->checks, check_json(it, &v[i], attempt, total));
			if (v[i].o.status == FSC_CHECK_FAIL)
				fsc_accept_suspects_merge(st->suspects, v[i].o.suspects, where);
		}
		json_object_set_new(run, "test", json_string(it->t->name));
		json_object_set_new(run, "fabric", json_string(it->fabric));
		json_object_set_new(run, "pattern", json_string(it->t->pattern));
		json_object_set_new(run, "status", json_string("ran"));
		json_object_set_new(run, "attempts", json_integer(attempt));
		json_object_set_new(run, "duration_s", json_real(total));
		json_object_set_new(run, "config", fsc_config_to_json(it->cfg));
		json_array_append_new(st->runs, run);
	}
	for (size_t i = 0; i < nv; i++)
		fsc_check_outcome_fini(&v[i].o);
	free(v);
	return rc;
}

/* An item that does not run: every check skipped (the implicit check
 * fails when the spec requires a fabric that is not built). */
static void item_skip(struct run_state *st, struct fsc_accept_item *it, size_t k)
{
	size_t nv = it->t->nchecks + 1;
	json_t *run;

	if (st->b->rank != 0)
		return;
	for (size_t i = 0; i < nv; i++) {
		struct verdict v = {.c = i ? &it->t->checks[i - 1] : &completed_check};

		v.o.value = NAN;
		v.o.suspects = json_array();
		fsc_accept_required_text(v.c, 0, v.o.required, sizeof(v.o.required));
		v.o.status = FSC_CHECK_SKIP;
		/* measured is shorter than skip: cut at its size */
		snprintf(v.o.measured, sizeof(v.o.measured), "%.*s", (int)sizeof(v.o.measured) - 1,
		         it->skip);
		if (i == 0 && it->required && !it->excluded && !it->aborted) {
			v.o.status = FSC_CHECK_FAIL;
			snprintf(v.o.measured, sizeof(v.o.measured),
			         "required fabric not usable: %.*s", (int)sizeof(v.o.measured) - 40,
			         it->skip);
		}
		if (i == 0) {
			printf("# [%zu/%zu] %s on %s: %s: %s\n", k, st->nrun, it->t->name,
			       it->fabric,
			       v.o.status == FSC_CHECK_FAIL ? "FAIL"
			       : it->aborted                ? "not run"
			                                    : "skipped",
			       it->aborted ? it->skip + strlen("not run: ") : it->skip);
			fflush(stdout);
		}
		json_array_append_new(st->checks, check_json(it, &v, 0, 0));
		fsc_check_outcome_fini(&v.o);
	}
	run = json_pack("{s:s, s:s, s:s, s:s, s:s}", "test", it->t->name, "fabric", it->fabric,
	                "pattern", it->t->pattern, "status", it->aborted ? "not run" : "skipped",
	                "reason", it->skip);
	json_array_append_new(st->runs, run);
}

int fsc_accept_rank(struct fsc_boot *b, void *arg)
{
	struct fsc_accept_ctx *x = arg;
	struct fsc_spec *spec = 0;
	struct fsc_accept_plan plan = {0};
	struct run_state st = {.b = b, .x = x, .plan = &plan};
	struct fsc_timer_info ti;
	char err[1024] = "", path[4096] = "", junit[4200] = "", *text = 0;
	const char *o, *j;
	size_t len = 0;
	int rc, first;
	int32_t code = FSC_EXIT_USAGE;
	uint64_t t0 = fsc_time_real_ns();
	json_t *acc = 0;
	time_t now = time(0);
	char when[32];

	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	/* 1. the command line, the spec, the plan: all ranks agree */
	rc = fsc_boot_agree(b, x->parse_rc, &first);
	if (rc) {
		if (b->rank == first)
			fprintf(stderr, "fabscope: error: %s\n", x->parse_err);
		return FSC_EXIT_USAGE;
	}
	rc = spec_text(b, x, &text, &len);
	if (rc)
		return FSC_EXIT_USAGE;
	rc = fsc_spec_parse(text, len, x->spec_path, &spec, err, sizeof(err));
	free(text);
	st.spec = spec;
	if (!rc)
		rc = fsc_accept_plan_build(&plan, spec, x->set.fabric_filter.items,
		                           x->set.fabric_filter.n, (int)x->set.ranks, b, err,
		                           sizeof(err));
	/* Every rank built its plan from the same text; a configuration
	 * that still differs (environment-dependent defaults, different
	 * binaries) would measure different things or deadlock. */
	rc = fsc_boot_agree(b, rc, &first);
	if (!rc)
		rc = fsc_session_agree_config(b, x->acfg, err, sizeof(err));
	for (size_t i = 0; !rc && i < plan.n; i++)
		if (plan.items[i].cfg)
			rc = fsc_session_agree_config(b, plan.items[i].cfg, err, sizeof(err));
	o = x->set.output;
	j = x->set.junit;
	if (!rc && b->rank == 0) {
		if (o && strcmp(o, "none")) {
			if (strcmp(o, "auto"))
				snprintf(path, sizeof(path), "%s", o);
			else
				default_output(path, sizeof(path), spec->name);
		}
		if (j && strcmp(j, "none")) {
			if (strcmp(j, "auto")) {
				snprintf(junit, sizeof(junit), "%s", j);
			} else if (path[0]) {
				size_t l = strlen(path);

				snprintf(junit, sizeof(junit), "%.*s.junit.xml",
				         (int)(l > 5 && !strcmp(path + l - 5, ".json") ? l - 5 : l),
				         path);
			}
		}
		rc = fsc_results_create(&st.res, path[0] ? path : 0, err, sizeof(err));
		if (!rc && junit[0]) {
			rc = fsc_file_check_writable(junit);
			if (rc)
				snprintf(err, sizeof(err), "cannot write '%s': %s", junit,
				         strerror(-rc));
		}
	}
	rc = fsc_boot_agree(b, rc, &first);
	if (rc) {
		if (b->rank == first)
			fprintf(stderr, "fabscope: error: %s\n", err);
		goto out;
	}

	/* 2. timer, metadata */
	rc = fsc_session_timer(b, &ti, err, sizeof(err));
	if (rc) {
		if (b->rank == 0)
			fprintf(stderr, "fabscope: error: %s\n", err);
		goto out;
	}
	rc = fsc_meta_collect(b, x->argc, x->argv, &ti, x->acfg,
	                      st.res ? fsc_results_meta(st.res) : 0);
	if (rc)
		goto out;
	st.retries = (int)x->set.retries;
	st.verbose = x->set.verbose;
	st.nrun = plan.n;
	if (b->rank == 0) {
		json_object_set_new(fsc_results_meta(st.res), "fabrics", json_object());
		st.checks = json_array();
		st.suspects = json_array();
		st.runs = json_array();
		printf("# fabscope %s accept: spec '%s' (%s): %zu tests, %zu test x fabric runs; "
		       "%d ranks on %d hosts\n",
		       FSC_VERSION, spec->name, spec->path, spec->ntests, plan.n, b->size,
		       b->nhosts);
		fflush(stdout);
	}

	/* 3. every item, with retries; after an abort (a rank stalled or
	 * died) the items left are not run, and the verdict is still given */
	for (size_t i = 0; i < plan.n && (!rc || rc == -ECONNABORTED); i++) {
		if (rc == -ECONNABORTED) {
			plan.items[i].aborted = 1;
			snprintf(plan.items[i].skip, sizeof(plan.items[i].skip), "not run: %s",
			         fsc_watchdog_verdict_text(b));
		}
		if (plan.items[i].skip[0])
			item_skip(&st, &plan.items[i], i + 1);
		else
			rc = item_run(&st, &plan.items[i], i + 1);
	}
	if (rc && rc != -ECONNABORTED) {
		if (b->rank == 0)
			fprintf(stderr, "fabscope: error: the run stopped: %s\n", fsc_strerror(rc));
		goto out;
	}

	/* 4. verdict, files, terminal */
	if (b->rank == 0) {
		char jerr[512];

		acc = json_object();
		json_object_set_new(acc, "spec",
		                    json_pack("{s:s, s:s, s:s?}", "name", spec->name, "path",
		                              spec->path, "description", spec->description));
		json_object_set_new(acc, "start_time", json_string(when));
		json_object_set_new(acc, "retries", json_integer(st.retries));
		code = fsc_accept_verdict(acc, st.checks, st.suspects, st.runs,
		                          (double)(fsc_time_real_ns() - t0) / 1e9);
		json_object_set(fsc_results_doc(st.res), "acceptance", acc);
		/* an unwritten results file (logged) is no pass */
		if (fsc_results_finish(st.res, code == FSC_EXIT_OK ? "complete" : "failed") &&
		    code == FSC_EXIT_OK)
			code = FSC_EXIT_USAGE;
		fsc_accept_print(stdout, acc);
		/* A verdict over bad input is no verdict (exit 2, as `run`). */
		if (st.bad_input[0]) {
			fprintf(stderr, "fabscope: error: %s\n", st.bad_input);
			code = FSC_EXIT_USAGE;
		}
		if (junit[0] && fsc_accept_junit_write(acc, junit, jerr, sizeof(jerr))) {
			fprintf(stderr, "fabscope: error: %s\n", jerr);
			code = FSC_EXIT_USAGE;
		}
		if (fsc_results_path(st.res))
			printf("results: %s\n", fsc_results_path(st.res));
		if (junit[0])
			printf("junit: %s\n", junit);
		fflush(stdout);
		json_decref(acc);
	}
	if (rc == -ECONNABORTED) {
		/* No collective can run any more: report, and leave the job
		 * to be ended (exit 3). */
		fsc_session_abort_report(b, st.res, stderr);
		code = FSC_EXIT_ABORTED;
		rc = 0;
		goto out;
	}
	rc = fsc_boot_bcast(b, &code, sizeof(code), 0);
	if (rc)
		code = FSC_EXIT_USAGE;
out:
	json_decref(st.checks);
	json_decref(st.suspects);
	json_decref(st.runs);
	fsc_results_free(st.res);
	fsc_accept_plan_free(&plan);
	fsc_spec_free(spec);
	return rc ? FSC_EXIT_USAGE : code;
}
