/* A run session: see session.h. */
#include "session.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "log.h"
#include "registry.h"
#include "runner.h"

/* The run options of cfg, typed; a broken table (a build error in all
 * but name) is logged and leaves the zeroed settings. */
static struct fsc_run_settings *run_settings(const struct fsc_config *cfg,
                                             struct fsc_run_settings *s)
{
	fsc_run_settings_fill(cfg, s, 0, 0);
	return s;
}

size_t fsc_session_option_groups(struct fsc_opt_group *g, size_t max)
{
	size_t n = 0;

	if (max)
		g[n++] = (struct fsc_opt_group){"run options", fsc_run_opts};
	for (size_t i = 0; fsc_fabrics[i] && n < max; i++)
		if (fsc_fabrics[i]->opts)
			g[n++] = (struct fsc_opt_group){fsc_fabrics[i]->name, fsc_fabrics[i]->opts};
	for (size_t i = 0; fsc_patterns[i] && n < max; i++)
		if (fsc_patterns[i]->opts)
			g[n++] = (struct fsc_opt_group){fsc_patterns[i]->name,
			                                fsc_patterns[i]->opts};
	return n;
}

/* The launcher's rank before any bootstrap exists (so that errors found
 * before MPI starts are printed once, not once per rank). */
int fsc_session_launcher_rank(void)
{
	static const char *const vars[] = {"OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK",
	                                   "SLURM_PROCID", 0};

	for (int i = 0; vars[i]; i++) {
		const char *v = getenv(vars[i]);

		if (v)
			return atoi(v);
	}
	return 0;
}

int fsc_session_launcher_size(void)
{
	static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE",
	                                   "SLURM_NTASKS", 0};

	for (int i = 0; vars[i]; i++) {
		const char *v = getenv(vars[i]);

		if (v)
			return atoi(v);
	}
	return 1;
}

int fsc_session_inprocess_ranks_of(const struct fsc_fabric_ops *const *fabrics, size_t n,
                                   const struct fsc_config *cfg,
                                   const struct fsc_fabric_ops **which, char *err, size_t len)
{
	const struct fsc_fabric_ops *first = 0;
	int ranks = 0;

	if (which)
		*which = 0;
	for (size_t i = 0; i < n; i++) {
		const struct fsc_fabric_ops *ops = fabrics[i];
		int r = ops ? fsc_fabric_inprocess_ranks(ops, cfg) : 0;

		if (r <= 0)
			return 0;
		if (first && r != ranks) {
			snprintf(
			        err, len,
			        "invalid value %d for --%s: fabric %s runs %d ranks (--%s) and one "
			        "run has one rank count: expected %d",
			        r, ops->inprocess_ranks, first->name, ranks, first->inprocess_ranks,
			        ranks);
			return -EINVAL;
		}
		if (!first) {
			first = ops;
			ranks = r;
		}
	}
	if (which)
		*which = first;
	return ranks;
}

int fsc_session_inprocess_ranks(const struct fsc_config *cfg, const struct fsc_fabric_ops **which,
                                char *err, size_t len)
{
	struct fsc_run_settings set;
	const char *const *items = run_settings(cfg, &set)->fabric.items;
	size_t n = set.fabric.n;
	const struct fsc_fabric_ops **ops = calloc(n ? n : 1, sizeof(*ops));
	int rc;

	if (which)
		*which = 0;
	if (!ops) {
		snprintf(err, len, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		ops[i] = fsc_fabric_find(items[i]);
	rc = fsc_session_inprocess_ranks_of(ops, n, cfg, which, err, len);
	free(ops);
	return rc;
}

void fsc_session_inprocess_names(char *buf, size_t len)
{
	size_t used = 0;

	if (len)
		buf[0] = 0;
	for (size_t k = 0; fsc_fabrics[k]; k++) {
		int w;

		if (!fsc_fabrics[k]->inprocess_ranks)
			continue;
		w = snprintf(buf + used, len - used, "%s%s", used ? ", " : "",
		             fsc_fabrics[k]->name);
		if (w > 0 && used + (size_t)w < len)
			used += (size_t)w;
	}
	if (!used)
		snprintf(buf, len, "none in this build");
}

static int names_check(const struct fsc_config *cfg, char *err, size_t len)
{
	struct fsc_run_settings set;
	const char *const *items = run_settings(cfg, &set)->fabric.items;
	size_t n = set.fabric.n;

	for (size_t i = 0; i < n; i++) {
		if (fsc_fabric_find(items[i]))
			continue;
		for (size_t k = 0; fsc_fabrics_absent[k].name; k++)
			if (!strcmp(fsc_fabrics_absent[k].name, items[i])) {
				snprintf(err, len, "fabric '%s' is %s", items[i],
				         fsc_fabrics_absent[k].reason);
				return -EINVAL;
			}
		{
			char names[256] = "";
			size_t used = 0;

			for (size_t k = 0; fsc_fabrics[k]; k++) {
				int w = snprintf(names + used, sizeof(names) - used, "%s%s",
				                 k ? "|" : "", fsc_fabrics[k]->name);
				if (w > 0 && used + (size_t)w < sizeof(names))
					used += (size_t)w;
			}
			snprintf(err, len, "invalid value '%s' for --fabric: expected %s", items[i],
			         names);
		}
		return -EINVAL;
	}
	n = set.pattern.n;
	items = set.pattern.items;
	for (size_t i = 0; i < n; i++) {
		char names[256] = "";
		size_t used = 0;

		if (fsc_pattern_find(items[i]))
			continue;
		for (size_t k = 0; fsc_patterns[k]; k++) {
			int w = snprintf(names + used, sizeof(names) - used, "%s%s", k ? "|" : "",
			                 fsc_patterns[k]->name);
			if (w > 0 && used + (size_t)w < sizeof(names))
				used += (size_t)w;
		}
		snprintf(err, len, "invalid value '%s' for --pattern: expected %s", items[i],
		         names);
		return -EINVAL;
	}
	/* Every --impl must belong to one of the selected patterns. */
	{
		const char *const *impls = set.impl.items;
		size_t ni = set.impl.n;

		for (size_t k = 0; k < ni; k++) {
			int found = !strcmp(impls[k], "all");

			for (size_t i = 0; i < n && !found; i++) {
				const struct fsc_pattern_ops *p = fsc_pattern_find(items[i]);

				for (size_t j = 0; p->impls && p->impls[j] && !found; j++)
					found = !strcmp(p->impls[j], impls[k]);
			}
			if (!found) {
				snprintf(err, len,
				         "invalid value '%s' for --impl: no selected pattern "
				         "has it (see `fabscope list`)",
				         impls[k]);
				return -EINVAL;
			}
		}
	}
	return 0;
}

int fsc_session_output_path(const struct fsc_config *cfg, char *path, size_t len)
{
	struct fsc_run_settings set;
	const char *o = run_settings(cfg, &set)->output;
	char when[32];
	time_t now;

	if (!o || !strcmp(o, "none"))
		return 0;
	if (strcmp(o, "auto")) {
		snprintf(path, len, "%s", o);
		return 1;
	}
	now = time(0);
	strftime(when, sizeof(when), "%Y%m%d-%H%M%S", gmtime(&now));
	mkdir("results", 0755);
	mkdir("results/runs", 0755);
	snprintf(path, len, "results/runs/fabscope-%s-%d.json", when, (int)getpid());
	return 1;
}

static json_t *skip_record(const char *fabric, const char *pattern, const char *status,
                           const char *reason, int nranks)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:i, s:i}", "fabric", fabric, "pattern", pattern,
	                 "status", status, "reason", reason, "ranks", nranks, "bytes", 0);
}

/* "error" records for patterns [from, n) that an abort left unrun. */
static void not_run(struct fsc_runner *r, const char *fabric, const char *const *pats, size_t from,
                    size_t n)
{
	char why[1200];

	snprintf(why, sizeof(why), "not run: %s", fsc_watchdog_verdict_text(r->boot));
	for (size_t k = from; k < n; k++)
		fsc_runner_emit(r, skip_record(fabric, pats[k], "error", why, r->boot->size));
}

/* A rank waiting in the bootstrap keeps its fabric progressing. */
static void fabric_idle(void *arg)
{
	fsc_fabric_progress(arg);
}

static int run_fabric(struct fsc_runner *r, const struct fsc_fabric_ops *ops,
                      const char *const *pats, size_t npat, json_t *fabinfo)
{
	struct fsc_boot *b = r->boot;
	struct fsc_fabric *f = 0;
	char reason[256] = "";
	int rc, first;

	if (fsc_watchdog_aborted(b)) {
		not_run(r, ops->name, pats, 0, npat);
		return -ECONNABORTED;
	}
	fsc_watchdog_doing(b, ops->name, "", "connect", 0, -1);
	rc = fsc_fabric_probe(ops, r->cfg, reason, sizeof(reason));
	if (!rc) {
		rc = fsc_fabric_create(ops, b, r->cfg, &f);
		if (rc && !reason[0])
			snprintf(reason, sizeof(reason), "create failed: %s", fsc_strerror(rc));
	}
	rc = fsc_boot_agree(b, rc, &first);
	if (!rc) {
		rc = fsc_fabric_connect(f);
		if (rc)
			snprintf(reason, sizeof(reason), "connect failed: %s", fsc_strerror(rc));
		rc = fsc_boot_agree(b, rc, &first);
	}
	if (rc == -ECONNABORTED) {
		not_run(r, ops->name, pats, 0, npat);
		fsc_fabric_destroy(f);
		return rc;
	}
	if (rc) {
		/* The first failing rank's reason stands for all.  A fabric
		 * that cannot run here is skipped; one given invalid options
		 * is bad input (the fabric logged which value). */
		int bad_input = rc == -EINVAL;

		fsc_boot_bcast(b, reason, sizeof(reason), first);
		if (bad_input)
			snprintf(reason, sizeof(reason), "invalid options for fabric %s",
			         ops->name);
		for (size_t i = 0; i < npat; i++)
			fsc_runner_emit(r, skip_record(ops->name, pats[i],
			                               bad_input ? "error" : "skipped", reason,
			                               b->size));
		if (bad_input) {
			r->failed += npat;
		} else {
			size_t used = strlen(r->skip_reasons);

			r->skipped += npat;
			r->fabrics_skipped++;
			if (used < sizeof(r->skip_reasons))
				snprintf(r->skip_reasons + used, sizeof(r->skip_reasons) - used,
				         "%s%s: %s", used ? "; " : "", ops->name, reason);
		}
		fsc_fabric_destroy(f);
		return bad_input ? -EINVAL : 0;
	}
	if (ops->progress) {
		b->idle = fabric_idle;
		b->idle_arg = f;
	}
	if (fabinfo) {
		json_t *info = json_object();

		fsc_fabric_describe(f, info);
		json_object_set_new(fabinfo, ops->name, info);
	} else {
		json_t *scratch = json_object();

		fsc_fabric_describe(f, scratch); /* collective for some fabrics */
		json_decref(scratch);
	}
	for (size_t i = 0; i < npat; i++) {
		const struct fsc_pattern_ops *p = fsc_pattern_find(pats[i]);

		if ((p->caps & ops->caps) != p->caps) {
			fsc_runner_emit(r, skip_record(ops->name, p->name, "skipped",
			                               "the fabric lacks a capability the "
			                               "pattern needs",
			                               b->size));
			r->skipped++;
			continue;
		}
		rc = fsc_runner_sweep(r, f, p);
		if (rc) {
			/* The fabric is in an unknown state: record and stop
			 * using it, keep what was measured. */
			if (rc == -ECONNABORTED) {
				not_run(r, ops->name, pats, i + 1, npat);
				break;
			}
			for (size_t k = i + 1; k < npat; k++)
				fsc_runner_emit(r, skip_record(ops->name, pats[k], "error",
				                               "not run: an earlier point on this "
				                               "fabric failed",
				                               b->size));
			break;
		}
	}
	b->idle = 0;
	b->idle_arg = 0;
	fsc_fabric_destroy(f);
	return rc;
}

/* A fabric's create() parses its options: a malformed value is -EINVAL
 * (any other failure is the fabric being unusable here, recorded later as
 * "skipped" with its reason, so it is not logged here).  The first rank
 * that found a malformed value speaks, once. */
static int fabric_options_check(const struct fsc_config *cfg, struct fsc_boot *b, char *err,
                                size_t errlen)
{
	struct fsc_run_settings set;
	const char *const *fabs = run_settings(cfg, &set)->fabric.items;
	size_t nfab = set.fabric.n;

	for (size_t i = 0; i < nfab; i++) {
		const struct fsc_fabric_ops *ops = fsc_fabric_find(fabs[i]);
		struct fsc_fabric *f = 0;
		int rc, first;

		fsc_log_set_quiet(1);
		rc = fsc_fabric_create(ops, b, cfg, &f);
		fsc_fabric_destroy(f);
		fsc_log_set_quiet(0);
		rc = fsc_boot_agree(b, rc == -EINVAL ? rc : 0, &first);
		if (rc) {
			if (b->rank == first) {
				fsc_fabric_create(ops, b, cfg, &f);
				fsc_fabric_destroy(f);
			}
			if (errlen)
				err[0] = 0;
			return rc;
		}
	}
	return 0;
}

int fsc_session_validate(const struct fsc_config *cfg, struct fsc_boot *b, char *err, size_t errlen)
{
	struct fsc_runner r;
	int rc = names_check(cfg, err, errlen);

	if (rc)
		return rc;
	rc = fsc_runner_init(&r, b, cfg, 0, 0);
	for (size_t i = 0; i < r.set.pattern.n && !rc; i++)
		rc = fsc_runner_validate(&r, fsc_pattern_find(r.set.pattern.items[i]), err, errlen);
	fsc_runner_fini(&r);
	/* Agree first: the fabric check below is collective. */
	rc = fsc_boot_agree(b, rc, 0);
	return rc ? rc : fabric_options_check(cfg, b, err, errlen);
}

int fsc_session_timer(struct fsc_boot *b, struct fsc_timer_info *ti, char *err, size_t errlen)
{
	struct fsc_clock mono = fsc_clock_monotonic();
	int rc = fsc_timer_selftest(&mono, 0, ti), first, brc;

	if (errlen)
		err[0] = 0;
	if (rc)
		snprintf(err, errlen,
		         "the timer does not work on rank %d (host %s): CLOCK_MONOTONIC did not "
		         "advance over %llu readings, so nothing can be timed",
		         b->rank, b->hosts[b->rank], (unsigned long long)ti->samples);
	rc = fsc_boot_agree(b, rc, &first);
	/* The failing rank's words on every rank (first < 0: the agreement
	 * itself failed, and no rank's words can travel). */
	if (rc && errlen) {
		brc = first >= 0 ? fsc_boot_bcast(b, err, errlen, first) : rc;
		if (brc)
			snprintf(err, errlen, "the timer self-test could not be agreed: %s",
			         fsc_strerror(brc));
	}
	return rc;
}

int fsc_session_run(struct fsc_runner *r, json_t *fabinfo)
{
	const char *const *fabs = r->set.fabric.items, *const *pats = r->set.pattern.items;
	size_t nfab = r->set.fabric.n, npat = r->set.pattern.n;
	int rc = 0;

	for (size_t i = 0; i < nfab; i++) {
		int frc = run_fabric(r, fsc_fabric_find(fabs[i]), pats, npat, fabinfo);

		if (frc && !rc)
			rc = frc;
	}
	return rc;
}

int fsc_session_agree_config(struct fsc_boot *b, const struct fsc_config *cfg, char *err,
                             size_t errlen)
{
	uint64_t mine = fsc_config_hash(cfg);
	uint64_t *all = calloc((size_t)b->size, sizeof(*all));
	int rc;

	if (!all)
		return -ENOMEM;
	rc = fsc_boot_allgather(b, &mine, all, sizeof(mine));
	for (int r = 1; !rc && r < b->size; r++)
		if (all[r] != all[0]) {
			snprintf(err, errlen,
			         "rank %d (host %s) was given different options from rank 0 "
			         "(host %s): launch every rank with the same arguments",
			         r, b->hosts[r], b->hosts[0]);
			rc = -EINVAL;
		}
	free(all);
	return rc;
}

void fsc_session_watchdog_arm(struct fsc_boot *b, const struct fsc_config *cfg)
{
	struct fsc_run_settings set;

	fsc_watchdog_configure(b, run_settings(cfg, &set)->timeout_ns, 0);
}

void fsc_session_abort_report(struct fsc_boot *b, struct fsc_results *res, FILE *err)
{
	if (!fsc_watchdog_aborted(b))
		return;
	if (res) {
		json_object_set_new(fsc_results_doc(res), "abort", fsc_watchdog_verdict_json(b));
		fsc_results_finish(res, "aborted");
	}
	if (err && b->rank == fsc_watchdog_lowest_live(b)) {
		fprintf(err, "fabscope: error: %s\n", fsc_watchdog_verdict_text(b));
		fflush(err);
	}
}

void fsc_session_abort_job(struct fsc_boot *b, uint64_t grace_ns)
{
	fflush(stdout);
	fflush(stderr);
	if (b->rank != fsc_watchdog_lowest_live(b))
		fsc_sleep_ns(grace_ns);
	fsc_boot_mpi_abort(FSC_EXIT_ABORTED);
}

static void on_cont(int sig)
{
	(void)sig;
	fsc_watchdog_note_continue();
}

static void on_term(int sig)
{
	fsc_log_silence();
	fsc_watchdog_note_signal(sig);
}

void fsc_session_catch_term(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, 0);
	sa.sa_handler = on_cont;
	sigaction(SIGCONT, &sa, 0);
}
