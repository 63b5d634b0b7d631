/* fabscope command line: `run`, `list`, `--help`, `--version`.
 * Everything but argument dispatch lives in the fsc library. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "accept.h"
#include "boot.h"
#include "compare.h"
#include "devices.h"
#include "err.h"
#include "fsc_version.h"
#include "history.h"
#include "log.h"
#include "meta.h"
#include "registry.h"
#include "report.h"
#include "results.h"
#include "runner.h"
#include "session.h"
#include "sim.h"

static void usage(FILE *f)
{
	char inproc[256];

	fsc_session_inprocess_names(inproc, sizeof(inproc));
	fprintf(f, "usage: fabscope run [options]    measure patterns over fabrics\n"
	           "       fabscope list             fabrics and patterns, built and usable\n"
	           "       fabscope accept SPEC      run an acceptance spec (YAML) and judge it\n"
	           "       fabscope compare BASE RUN regressions between two runs, noise-aware\n"
	           "       fabscope history VERB     the run history: add, list, baseline, trend\n"
	           "       fabscope report RUN...    one self-contained HTML report (-o FILE)\n"
	           "       fabscope devices [--json] RDMA devices and ports (exit 1: a port not "
	           "ACTIVE)\n"
	           "       fabscope simulate ...     all-pairs attribution on a simulated fabric "
	           "(--help)\n"
	           "       fabscope --help | --version\n"
	           "Launch `run` under mpirun/srun, except over fabrics that run their ranks in\n"
	           "one process (%s): those run without a launcher.\n",
	           inproc);
}

static void help(void)
{
	struct fsc_opt_group g[FSC_MAX_OPT_GROUPS];
	size_t n = fsc_session_option_groups(g, FSC_MAX_OPT_GROUPS);

	usage(stdout);
	printf("\n");
	fsc_config_help(stdout, g, n);
}

static int cmd_list(void)
{
	struct fsc_opt_group g[FSC_MAX_OPT_GROUPS];
	struct fsc_config *cfg = 0;
	size_t n = fsc_session_option_groups(g, FSC_MAX_OPT_GROUPS);

	if (fsc_session_launcher_rank() != 0)
		return FSC_EXIT_OK;
	if (fsc_config_defaults(&cfg, g, n))
		return FSC_EXIT_USAGE;
	printf("fabrics:\n");
	for (size_t i = 0; fsc_fabrics[i]; i++) {
		char reason[256];
		int rc = fsc_fabric_probe(fsc_fabrics[i], cfg, reason, sizeof(reason));

		if (rc)
			printf("  %-10s built, not usable here: %s%s\n", fsc_fabrics[i]->name,
			       reason[0] ? reason : fsc_strerror(rc),
			       fsc_fabric_has_rma(fsc_fabrics[i]) ? " [put/get]" : "");
		else
			printf("  %-10s built, usable        %s%s\n", fsc_fabrics[i]->name,
			       fsc_fabrics[i]->desc ? fsc_fabrics[i]->desc : "",
			       fsc_fabric_has_rma(fsc_fabrics[i]) ? " [put/get]" : "");
	}
	for (size_t i = 0; fsc_fabrics_absent[i].name; i++)
		printf("  %-10s %s\n", fsc_fabrics_absent[i].name, fsc_fabrics_absent[i].reason);
	printf("patterns:\n");
	for (size_t i = 0; fsc_patterns[i]; i++) {
		const struct fsc_pattern_ops *p = fsc_patterns[i];
		char impls[256] = "";
		size_t used = 0;

		for (size_t k = 0; p->impls && p->impls[k]; k++) {
			int w = snprintf(impls + used, sizeof(impls) - used, "%s%s", k ? "," : "",
			                 p->impls[k]);
			if (w > 0 && used + (size_t)w < sizeof(impls))
				used += (size_t)w;
		}
		printf("  %-13s impl %-22s %s (min %d ranks)\n", p->name, impls,
		       p->desc ? p->desc : "", p->min_ranks);
	}
	fsc_config_free(cfg);
	return FSC_EXIT_OK;
}

/* ---- run ---- */

struct run_ctx {
	int argc;
	char **argv;
	const struct fsc_config *cfg;
	int parse_rc;
	char parse_err[512];
};

static int run_rank(struct fsc_boot *b, void *arg)
{
	struct run_ctx *x = arg;
	const struct fsc_config *cfg = x->cfg;
	struct fsc_results *res = 0;
	struct fsc_timer_info ti;
	struct fsc_runner r;
	char err[512] = "", path[4096];
	int rc, first, quiet, nothing, unwritten = 0;
	json_t *fabinfo = 0;

	/* 1. everyone validates, all agree, the first failing rank speaks */
	rc = x->parse_rc;
	if (rc)
		snprintf(err, sizeof(err), "%s", x->parse_err);
	/* parse errors are the same on every rank; agree before comparing */
	rc = fsc_boot_agree(b, rc, &first);
	if (!rc)
		rc = fsc_session_agree_config(b, cfg, err, sizeof(err));
	if (!rc)
		rc = fsc_session_validate(cfg, b, err, sizeof(err));
	if (!rc && b->rank == 0 && fsc_session_output_path(cfg, path, sizeof(path)))
		rc = fsc_results_create(&res, path, err, sizeof(err));
	else if (!rc && b->rank == 0)
		rc = fsc_results_create(&res, 0, err, sizeof(err));
	rc = fsc_boot_agree(b, rc, &first);
	if (rc) {
		if (b->rank == first && err[0])
			fprintf(stderr, "fabscope: error: %s\n", err);
		fsc_results_free(res);
		return FSC_EXIT_USAGE;
	}

	fsc_session_watchdog_arm(b, cfg);

	/* 2. timer self-test and metadata: a clock that does not advance
	 * times nothing */
	rc = fsc_session_timer(b, &ti, err, sizeof(err));
	if (rc) {
		if (b->rank == 0)
			fprintf(stderr, "fabscope: error: %s\n", err);
		fsc_results_free(res);
		return FSC_EXIT_USAGE;
	}
	rc = fsc_meta_collect(b, x->argc, x->argv, &ti, cfg, res ? fsc_results_meta(res) : 0);
	if (rc) {
		fsc_results_free(res);
		return FSC_EXIT_USAGE;
	}
	/* 3. fabrics x patterns */
	rc = fsc_runner_init(&r, b, cfg, res, 0);
	if (rc) {
		fsc_runner_fini(&r);
		fsc_results_free(res);
		return FSC_EXIT_USAGE;
	}
	quiet = r.set.quiet;
	r.out = b->rank == 0 && !quiet ? stdout : 0;
	if (b->rank == 0) {
		fabinfo = json_object();
		json_object_set_new(fsc_results_meta(res), "fabrics", fabinfo);
		if (!quiet)
			printf("# fabscope %s: %d ranks on %d hosts; timer %s resolution %.0f ns, "
			       "call cost %.1f ns\n",
			       FSC_VERSION, b->size, b->nhosts, ti.source, ti.resolution_ns,
			       ti.call_cost_ns);
	}

	rc = fsc_session_run(&r, fabinfo);

	/* 4. verdict */
	if (fsc_watchdog_aborted(b)) {
		/* A rank stalled or died: no collective can run any more. */
		if (b->rank == 0 && !quiet)
			printf("#\n# verdict: ABORTED (a rank stopped answering, see the last "
			       "error line)\n");
		fflush(stdout);
		fsc_session_abort_report(b, res, stderr);
		fsc_runner_fini(&r);
		fsc_results_free(res);
		return FSC_EXIT_ABORTED;
	}
	/* A run in which every fabric asked for was skipped measured
	 * nothing, and nothing measured is never a pass. */
	nothing = !rc && !r.failed && r.fabrics_skipped && r.fabrics_skipped == r.set.fabric.n;
	rc = rc == -EINVAL || nothing ? FSC_EXIT_USAGE : r.failed ? FSC_EXIT_FAIL : FSC_EXIT_OK;
	if (b->rank == 0 && nothing)
		fprintf(stderr,
		        "fabscope: error: nothing was measured: every fabric was skipped (%s)\n",
		        r.skip_reasons);
	if (b->rank == 0) {
		/* A run whose results file could not be written (logged) has
		 * not delivered what it was asked for. */
		unwritten = fsc_results_finish(res, r.failed  ? "failed"
		                                    : nothing ? "skipped"
		                                              : "complete");
		if (unwritten && rc == FSC_EXIT_OK)
			rc = FSC_EXIT_USAGE;
		if (!quiet || r.failed || unwritten) {
			printf("#\n# %llu points: %llu failed (%llu wrong elements), %llu "
			       "skipped\n",
			       (unsigned long long)r.points, (unsigned long long)r.failed,
			       (unsigned long long)r.wrong, (unsigned long long)r.skipped);
			if (fsc_results_path(res))
				printf("# results: %s\n", fsc_results_path(res));
			printf("# verdict: %s", nothing ? "ERROR (nothing measured, see above)"
			                        : unwritten
			                                ? "ERROR (results not written, see above)"
			                        : rc == FSC_EXIT_USAGE
			                                ? "ERROR (bad input, see above)"
			                        : r.failed ? "FAIL"
			                                   : "PASS");
			/* A pass says what it did not measure. */
			if (!nothing && r.fabrics_skipped)
				printf(" (fabrics skipped: %s)", r.skip_reasons);
			printf("\n");
		}
		fflush(stdout);
	}
	fsc_runner_fini(&r);
	fsc_results_free(res);
	return rc;
}

static int cmd_run(int argc, char **argv)
{
	struct fsc_opt_group g[FSC_MAX_OPT_GROUPS];
	struct fsc_config *cfg = 0;
	struct run_ctx x = {.argc = argc, .argv = argv};
	size_t n = fsc_session_option_groups(g, FSC_MAX_OPT_GROUPS);
	const struct fsc_fabric_ops *ops = 0;
	int optind_out = 0, rc, inproc = 0;

	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			if (fsc_session_launcher_rank() == 0)
				help();
			return FSC_EXIT_OK;
		}
	x.parse_rc = fsc_config_parse(&cfg, g, n, argc, argv, &optind_out, x.parse_err,
	                              sizeof(x.parse_err));
	if (!x.parse_rc && optind_out < argc) {
		snprintf(x.parse_err, sizeof(x.parse_err),
		         "unexpected argument '%s' (options start with --; see --help)",
		         argv[optind_out]);
		x.parse_rc = -EINVAL;
	}
	x.cfg = cfg;
	if (!x.parse_rc) {
		inproc = fsc_session_inprocess_ranks(cfg, &ops, x.parse_err, sizeof(x.parse_err));
		if (inproc < 0)
			x.parse_rc = inproc;
	}
	if (inproc > 0 && fsc_session_launcher_size() > 1) {
		if (fsc_session_launcher_rank() == 0)
			fprintf(stderr,
			        "fabscope: error: fabric %s runs its --%s ranks in one process: "
			        "run it without mpirun\n",
			        ops->name, ops->inprocess_ranks);
		fsc_config_free(cfg);
		return FSC_EXIT_USAGE;
	}
	if (inproc > 0) {
		int *rcs = calloc((size_t)inproc, sizeof(int));

		if (!rcs) {
			fsc_config_free(cfg);
			return FSC_EXIT_USAGE;
		}
		rc = fsc_boot_local_run(inproc, 0, run_rank, &x, rcs);
		if (!rc)
			rc = rcs[0];
		else
			rc = FSC_EXIT_USAGE;
		free(rcs);
		fsc_config_free(cfg);
		return rc;
	}
#ifdef FSC_HAVE_MPI
	{
		struct fsc_boot *b = 0;

		rc = fsc_boot_mpi_create(&b, &argc, &argv);
		if (rc) {
			fprintf(stderr, "fabscope: error: MPI bootstrap failed: %s\n",
			        fsc_strerror(rc));
			fsc_config_free(cfg);
			return FSC_EXIT_USAGE;
		}
		fsc_session_catch_term();
		rc = run_rank(b, &x);
		if (rc == FSC_EXIT_ABORTED)
			/* MPI_Finalize would wait for the stalled rank. */
			fsc_session_abort_job(b, FSC_WD_GRACE_NS);
		fsc_boot_destroy(b);
		fsc_boot_mpi_finalize();
	}
#else
	if (fsc_session_launcher_rank() == 0) {
		char names[256];

		fsc_session_inprocess_names(names, sizeof(names));
		if (x.parse_rc)
			fprintf(stderr, "fabscope: error: %s\n", x.parse_err);
		else
			fprintf(stderr,
			        "fabscope: error: this build has no MPI: only fabrics that run "
			        "their ranks in one process can run (%s)\n",
			        names);
	}
	rc = FSC_EXIT_USAGE;
#endif
	fsc_config_free(cfg);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return FSC_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		help();
		return FSC_EXIT_OK;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("fabscope %s (results schema %s)\n", FSC_VERSION, FSC_RESULTS_SCHEMA);
		return FSC_EXIT_OK;
	}
	if (!strcmp(argv[1], "list"))
		return cmd_list();
	if (!strcmp(argv[1], "run"))
		return cmd_run(argc - 1, argv + 1);
	if (!strcmp(argv[1], "accept"))
		return fsc_accept_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "compare"))
		return fsc_compare_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "history"))
		return fsc_history_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "report"))
		return fsc_report_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "devices"))
		return fsc_devices_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "simulate"))
		return fsc_sim_main(argc - 1, argv + 1);
	if (fsc_session_launcher_rank() == 0)
		fprintf(stderr,
		        "fabscope: error: unknown command '%s': expected run, list, accept, "
		        "compare, history, report, devices or simulate "
		        "(see --help)\n",
		        argv[1]);
	return FSC_EXIT_USAGE;
}
