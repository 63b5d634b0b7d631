/* `fabscope accept SPEC`: see accept.h.  The command line, the choice
 * between in-process ranks and MPI, and --dry-run; the run itself is in
 * accept_run.c. */
#include "accept.h"
#include "accept_judge.h"
#include "accept_plan.h"
#include "accept_run.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boot.h"
#include "err.h"
#include "fabric.h"
#include "options.h"
#include "registry.h"
#include "session.h"

static const struct fsc_opt accept_opts[] = {
        {"output", 0, FSC_OPT_STRING, "auto",
         "results JSON path ('auto': results/runs/accept-<spec name>-<time>.json; 'none': no "
         "file)",
         0, 0, 0, FSC_AT_STRING(struct fsc_accept_settings, output)},
        {"junit", 0, FSC_OPT_STRING, "auto",
         "JUnit XML path ('auto': the results path with .junit.xml for .json; 'none': no file)", 0,
         0, 0, FSC_AT_STRING(struct fsc_accept_settings, junit)},
        {"retries", 0, FSC_OPT_INT, "1",
         "re-runs of a test whose check failed; a check fails only when it fails every time", 0, 0,
         10, FSC_AT_INT(struct fsc_accept_settings, retries)},
        {"fabric-filter", 0, FSC_OPT_LIST, 0,
         "run only these fabrics (comma-separated); the spec's other fabrics are skipped", 0, 0, 0,
         FSC_AT_LIST(struct fsc_accept_settings, fabric_filter)},
        {"ranks", 0, FSC_OPT_INT, "4",
         "ranks of an in-process run (a spec whose fabrics all run their ranks in one process, "
         "without mpirun); each is its own virtual host lb<N>",
         0, 2, 64, FSC_AT_INT(struct fsc_accept_settings, ranks)},
        {"verbose", 'v', FSC_OPT_FLAG, 0, "print every test's result tables as `run` does", 0, 0, 0,
         FSC_AT_FLAG(struct fsc_accept_settings, verbose)},
        {"dry-run", 0, FSC_OPT_FLAG, 0,
         "check the spec (syntax, schema, names, option values) and print the plan; run nothing", 0,
         0, 0, FSC_AT_FLAG(struct fsc_accept_settings, dry_run)},
        {0, 0, 0, 0, 0, 0, 0, 0},
};

/* ------------------------------------------------------------------ */
/* The command                                                          */
/* ------------------------------------------------------------------ */

static void accept_usage(FILE *f)
{
	struct fsc_opt_group g = {"accept options", accept_opts};

	fprintf(f, "usage: fabscope accept SPEC [options]\n\n"
	           "Run the acceptance spec SPEC (YAML; see scripts/specs/README.md) under\n"
	           "mpirun/srun, or without a launcher for a spec whose fabrics all run their\n"
	           "ranks in one process.\n"
	           "Exit codes: 0 every check passed, 1 a check failed, 2 bad input or nothing "
	           "could run.\n\n");
	fsc_config_help(f, &g, 1);
}

/* Would this spec run nothing but fabrics that run their ranks in one
 * process?  (Decides, before any bootstrap, between in-process ranks and
 * MPI.)  Fabrics that are not built, not usable here (their probe fails:
 * no GPU, no RDMA device) or filtered out run nowhere and do not count; a
 * spec left with nothing to run is judged in-process too, without starting
 * MPI. */
static int only_inprocess(const struct fsc_spec *s, const struct fsc_accept_settings *set,
                          const struct fsc_config *acfg)
{
	const char *const *filter = set->fabric_filter.items;
	size_t nfilter = set->fabric_filter.n;

	for (size_t i = 0; i < s->ntests; i++)
		for (size_t f = 0; f < s->tests[i].nfabrics; f++) {
			const char *name = s->tests[i].fabrics[f];
			size_t k;

			for (k = 0; k < nfilter && strcmp(filter[k], name); k++)
				;
			char why[256];

			if ((nfilter && k == nfilter) || !fsc_fabric_find(name) ||
			    fsc_fabric_probe(fsc_fabric_find(name), acfg, why, sizeof(why)))
				continue;
			if (!fsc_fabric_find(name)->inprocess_ranks)
				return 0;
		}
	return 1;
}

/* --dry-run: parse, validate what needs no bootstrap, print the plan. */
static int dry_run(struct fsc_accept_ctx *x, int speak)
{
	struct fsc_spec *spec = 0;
	struct fsc_accept_plan plan = {0};
	char *text = 0, err[1024];
	size_t len;
	int rc;

	rc = fsc_spec_read(x->spec_path, &text, &len, err, sizeof(err));
	if (!rc)
		rc = fsc_spec_parse(text, len, x->spec_path, &spec, err, sizeof(err));
	if (!rc)
		rc = fsc_accept_plan_build(&plan, spec, x->set.fabric_filter.items,
		                           x->set.fabric_filter.n, (int)x->set.ranks, 0, err,
		                           sizeof(err));
	if (rc && speak)
		fprintf(stderr, "fabscope: error: %s\n", err);
	if (!rc && speak) {
		printf("# spec '%s' (%s): %zu tests, %zu test x fabric runs\n", spec->name,
		       spec->path, spec->ntests, plan.n);
		for (size_t i = 0; i < plan.n; i++) {
			const struct fsc_accept_item *it = &plan.items[i];
			char req[160];

			printf("%s on %s: pattern %s", it->t->name, it->fabric, it->t->pattern);
			if (it->skip[0])
				printf(": %s", it->skip);
			if (it->required)
				printf(" (required)");
			printf("\n  check completed");
			for (size_t k = 0; k < it->t->nchecks; k++) {
				fsc_accept_required_text(&it->t->checks[k], 0, req, sizeof(req));
				printf(", %s: %s", it->t->checks[k].name, req);
			}
			printf("\n");
		}
	}
	fsc_accept_plan_free(&plan);
	fsc_spec_free(spec);
	free(text);
	return rc ? FSC_EXIT_USAGE : FSC_EXIT_OK;
}

static int local_run(struct fsc_accept_ctx *x)
{
	int n = (int)x->set.ranks, rc;
	char(*names)[16] = calloc((size_t)n, sizeof(*names));
	const char **hosts = calloc((size_t)n, sizeof(*hosts));
	int *rcs = calloc((size_t)n, sizeof(*rcs));

	if (!names || !hosts || !rcs) {
		fprintf(stderr, "fabscope: error: out of memory\n");
		rc = FSC_EXIT_USAGE;
		goto out;
	}
	/* Each virtual rank is its own virtual host, so that patterns and
	 * suspects name hosts as they would on a cluster. */
	for (int i = 0; i < n; i++) {
		snprintf(names[i], sizeof(names[i]), "lb%d", i);
		hosts[i] = names[i];
	}
	rc = fsc_boot_local_run(n, hosts, fsc_accept_rank, x, rcs);
	rc = rc ? FSC_EXIT_USAGE : rcs[0];
out:
	free(names);
	free(hosts);
	free(rcs);
	return rc;
}

int fsc_accept_main(int argc, char **argv)
{
	struct fsc_opt_group g = {"accept options", accept_opts};
	struct fsc_accept_ctx x = {.argc = argc, .argv = argv};
	char **av = calloc((size_t)argc + 1, sizeof(*av));
	char *text = 0, err[1024];
	struct fsc_spec *spec = 0;
	int rc, ac = 0, next = 0, launched = fsc_session_launcher_size() > 1;
	int speak = fsc_session_launcher_rank() == 0;

	if (!av)
		return FSC_EXIT_USAGE;
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			if (speak)
				accept_usage(stdout);
			free(av);
			return FSC_EXIT_OK;
		}
	/* SPEC may come before or after the options: parse up to the first
	 * positional argument, take it as SPEC, and parse again without it. */
	x.parse_rc = fsc_config_parse(&x.acfg, &g, 1, argc, argv, &next, x.parse_err,
	                              sizeof(x.parse_err));
	if (!x.parse_rc && next >= argc) {
		snprintf(x.parse_err, sizeof(x.parse_err),
		         "no spec given: fabscope accept SPEC [options] (see --help)");
		x.parse_rc = -EINVAL;
	}
	if (!x.parse_rc) {
		x.spec_path = argv[next];
		for (int i = 0; i < argc; i++)
			if (i != next)
				av[ac++] = argv[i];
		fsc_config_free(x.acfg);
		x.acfg = 0;
		x.parse_rc = fsc_config_parse(&x.acfg, &g, 1, ac, av, &next, x.parse_err,
		                              sizeof(x.parse_err));
		if (!x.parse_rc && next < ac) {
			snprintf(x.parse_err, sizeof(x.parse_err),
			         "unexpected argument '%s' (one spec per run; options start with "
			         "--)",
			         av[next]);
			x.parse_rc = -EINVAL;
		}
	}
	/* Typed values, read once: a broken table is a programming error,
	 * reported as bad input rather than run with wrong values. */
	if (!x.parse_rc)
		x.parse_rc = fsc_config_fill(x.acfg, accept_opts, &x.set, x.parse_err,
		                             sizeof(x.parse_err));
	if (!x.parse_rc) {
		const char *const *filter = x.set.fabric_filter.items;
		size_t n = x.set.fabric_filter.n;
		char names[256];

		fsc_accept_fabric_names(names, sizeof(names));
		for (size_t i = 0; i < n && !x.parse_rc; i++)
			if (!fsc_accept_fabric_known(filter[i])) {
				snprintf(x.parse_err, sizeof(x.parse_err),
				         "invalid value '%s' for --fabric-filter: expected fabrics "
				         "among %s",
				         filter[i], names);
				x.parse_rc = -EINVAL;
			}
	}
	if (x.parse_rc && !launched) {
		fprintf(stderr, "fabscope: error: %s\n", x.parse_err);
		rc = FSC_EXIT_USAGE;
		goto out;
	}
	if (!x.parse_rc && x.set.dry_run) {
		rc = dry_run(&x, speak);
		goto out;
	}
	/* Not launched: one process, so it may read the spec itself and
	 * decide between in-process ranks and MPI. */
	if (!launched) {
		size_t len;

		rc = fsc_spec_read(x.spec_path, &text, &len, err, sizeof(err));
		if (!rc)
			rc = fsc_spec_parse(text, len, x.spec_path, &spec, err, sizeof(err));
		if (rc) {
			fprintf(stderr, "fabscope: error: %s\n", err);
			rc = FSC_EXIT_USAGE;
			goto out;
		}
		x.text = text;
		x.len = len;
		if (only_inprocess(spec, &x.set, x.acfg)) {
			rc = local_run(&x);
			goto out;
		}
	}
#ifdef FSC_HAVE_MPI
	{
		struct fsc_boot *b = 0;

		rc = fsc_boot_mpi_create(&b, &argc, &argv);
		if (rc) {
			if (speak)
				fprintf(stderr, "fabscope: error: MPI bootstrap failed: %s\n",
				        fsc_strerror(rc));
			rc = FSC_EXIT_USAGE;
			goto out;
		}
		fsc_session_catch_term();
		rc = fsc_accept_rank(b, &x);
		if (rc == FSC_EXIT_ABORTED)
			/* MPI_Finalize would wait for the stalled rank. */
			fsc_session_abort_job(b, FSC_WD_GRACE_NS);
		fsc_boot_destroy(b);
		fsc_boot_mpi_finalize();
	}
#else
	if (speak) {
		char names[256];

		fsc_session_inprocess_names(names, sizeof(names));
		if (x.parse_rc)
			fprintf(stderr, "fabscope: error: %s\n", x.parse_err);
		else
			fprintf(stderr,
			        "fabscope: error: this build has no MPI: only specs whose fabrics "
			        "run their ranks in one process can run (%s)\n",
			        names);
	}
	rc = FSC_EXIT_USAGE;
#endif
out:
	fsc_spec_free(spec);
	free(text);
	fsc_config_free(x.acfg);
	free(av);
	return rc;
}
