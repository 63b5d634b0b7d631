/* The plan of `fabscope accept` (src/accept.h): one item per test x
 * fabric of a spec (src/spec.h), in the spec's order, each with the run
 * configuration of `fabscope run` built from the spec and validated as the
 * command line is; or why the item does not run. */
#ifndef FSC_ACCEPT_PLAN_H
#define FSC_ACCEPT_PLAN_H

#include <stddef.h>

#include "boot.h"
#include "options.h"
#include "spec.h"

struct fsc_accept_item {
	const struct fsc_spec_test *t;
	const char *fabric;
	struct fsc_spec_mark mark; /* the fabric's name in the test */
	int required;
	int excluded;    /* by --fabric-filter */
	int aborted;     /* not run: a rank stalled or died earlier */
	char skip[1200]; /* not run: why */
	struct fsc_config *cfg;
};

struct fsc_accept_plan {
	struct fsc_accept_item *items;
	size_t n;
};

/* Build the plan of spec s: every name (fabric, pattern, impl), option and
 * check size is checked, every item's configuration built.  Items of a
 * fabric not built here, or (nfilter > 0) not among filter[], are kept
 * with `skip` saying why.  b: the bootstrap, whose size is the rank count
 * every point is validated for; NULL for a dry run, which checks nothing
 * that depends on the rank count and builds for nranks ranks.  Returns 0,
 * or -EINVAL/-ENOMEM with one line in err, "path:line:col: ..." for an
 * error in the spec.  Release with fsc_accept_plan_free, also on error. */
int fsc_accept_plan_build(struct fsc_accept_plan *p, const struct fsc_spec *s,
                          const char *const *filter, size_t nfilter, int nranks, struct fsc_boot *b,
                          char *err, size_t len);
void fsc_accept_plan_free(struct fsc_accept_plan *p); /* accepts a zeroed one */

/* Every fabric name fabscope knows, built or not ("loopback, mpi, ..."). */
void fsc_accept_fabric_names(char *buf, size_t len);
int fsc_accept_fabric_known(const char *name);

#endif
