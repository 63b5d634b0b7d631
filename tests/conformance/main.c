/* fsc-conformance: the fabric conformance suite over MPI-launched ranks.
 *
 *   mpirun -np 3 fsc-conformance [FABRIC] [--timeout=TIME] [--OPTION=VALUE ...]
 *
 * FABRIC defaults to mpi; --OPTION=VALUE sets one of that fabric's own
 * options (e.g. --tcp-if=lo).  Rank 0 prints one summary line:
 *   "fsc-conformance: fabric F, N ranks: C checks, X failed"
 * then the first failure, if any.  Exit status: 0 all passed, 1 a check
 * failed, 2 bad usage or the run broke, 77 the fabric is not built or cannot
 * run here (probe or create said so).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boot.h"
#include "conformance.h"
#include "err.h"
#include "options.h"
#include "registry.h"

#define EXIT_SKIP 77

/* Build the fabric's configuration from --name=value arguments. */
static int make_config(const struct fsc_fabric_ops *ops, int argc, char **argv, int first,
                       struct fsc_config **cfg, uint64_t *timeout_ns)
{
	static const struct fsc_opt none[] = {{0}};
	const struct fsc_opt_group g = {ops->name, ops->opts ? ops->opts : none};
	char err[256] = "";
	int rc;

	rc = fsc_config_defaults(cfg, &g, 1);
	if (rc) {
		fprintf(stderr, "fsc-conformance: cannot build a configuration: %s\n",
		        fsc_strerror(rc));
		return rc;
	}
	for (int i = first; i < argc; i++) {
		char *eq = strchr(argv[i], '=');

		if (strncmp(argv[i], "--", 2) || !eq) {
			fprintf(stderr, "fsc-conformance: expected --OPTION=VALUE, got '%s'\n",
			        argv[i]);
			return -EINVAL;
		}
		*eq = 0;
		if (!strcmp(argv[i] + 2, "timeout"))
			rc = fsc_parse_time_ns(eq + 1, timeout_ns);
		else
			rc = fsc_config_set(*cfg, argv[i] + 2, eq + 1, err, sizeof(err));
		if (rc) {
			fprintf(stderr, "fsc-conformance: --%s=%s: %s\n", argv[i] + 2, eq + 1,
			        rc == -EINVAL && err[0] ? err : fsc_strerror(rc));
			return rc;
		}
		*eq = '=';
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct fsc_conformance_report rep = {0};
	const struct fsc_fabric_ops *ops;
	struct fsc_config *cfg = 0;
	struct fsc_boot *b = 0;
	const char *name = "mpi";
	char reason[256];
	int rc, first = 1, status;

	rc = fsc_boot_mpi_create(&b, &argc, &argv);
	if (rc) {
		fprintf(stderr, "fsc-conformance: no MPI bootstrap: %s\n", fsc_strerror(rc));
		return rc == -ENOTSUP ? EXIT_SKIP : 2;
	}
	if (argc > 1 && strncmp(argv[1], "--", 2)) {
		name = argv[1];
		first = 2;
	}
	ops = fsc_fabric_find(name);
	if (!ops) {
		if (b->rank == 0)
			printf("fsc-conformance: skipped: fabric %s is not built\n", name);
		status = EXIT_SKIP;
		goto out;
	}
	if (make_config(ops, argc, argv, first, &cfg, &rep.timeout_ns)) {
		status = 2;
		goto out;
	}
	rc = fsc_fabric_probe(ops, cfg, reason, sizeof(reason));
	/* Probe is local: agree, so that every rank takes the same path. */
	rc = fsc_boot_agree(b, rc, 0);
	if (rc) {
		if (b->rank == 0)
			printf("fsc-conformance: skipped: fabric %s: %s\n", name,
			       reason[0] ? reason : fsc_strerror(rc));
		status = EXIT_SKIP;
		goto out;
	}
	rc = fsc_conformance_run(b, ops, cfg, &rep);
	if (b->rank == 0) {
		if (rc && rc != -EIO)
			printf("fsc-conformance: fabric %s, %d ranks: could not run: %s\n", name,
			       b->size, rep.message[0] ? rep.message : fsc_strerror(rc));
		else
			printf("fsc-conformance: fabric %s, %d ranks: %u checks, %u failed\n", name,
			       b->size, rep.checks_run, rep.checks_failed);
		if (rep.checks_skipped)
			printf("fsc-conformance: %u skipped: %s\n", rep.checks_skipped,
			       rep.skipped);
		if (rc == -EIO)
			printf("fsc-conformance: first failure: %s\n", rep.message);
		fflush(stdout);
	}
	status = !rc ? 0 : rc == -EIO ? 1 : rc == -ENOTSUP ? EXIT_SKIP : 2;
out:
	fsc_config_free(cfg);
	fsc_boot_destroy(b);
	fsc_boot_mpi_finalize();
	return status;
}
