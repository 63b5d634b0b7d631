/* The conformance suite over every built fabric that runs on in-process
 * ranks (2, 3 and 4 threads of the local bootstrap), plus checks that the
 * suite itself catches broken fabrics.
 *
 * One test per entry of fsc_fabrics[]: a fabric added to the build is
 * covered without editing this file.  A fabric whose probe fails here, or
 * whose create answers -ENOTSUP on the local bootstrap (it needs an MPI
 * launch), is skipped with its reason.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "boot.h"
#include "conformance.h"
#include "err.h"
#include "fabric.h"
#include "loopback/loopback.h"
#include "options.h"
#include "registry.h"

#define MAXR 4

struct suite_run {
	const struct fsc_fabric_ops *ops;
	const struct fsc_config *cfg;
	uint64_t timeout_ns;
	int rc[MAXR];
	struct fsc_conformance_report rep[MAXR];
};

static int rank_suite(struct fsc_boot *b, void *arg)
{
	struct suite_run *s = arg;

	s->rep[b->rank].timeout_ns = s->timeout_ns;
	s->rc[b->rank] = fsc_conformance_run(b, s->ops, s->cfg, &s->rep[b->rank]);
	return 0;
}

/* Run the suite on n threads; every rank must report the same thing. */
static void run_suite(struct suite_run *s, int n)
{
	assert_int_equal(fsc_boot_local_run(n, NULL, rank_suite, s, NULL), 0);
	for (int r = 1; r < n; r++) {
		assert_int_equal(s->rc[r], s->rc[0]);
		assert_int_equal(s->rep[r].checks_run, s->rep[0].checks_run);
		assert_int_equal(s->rep[r].checks_failed, s->rep[0].checks_failed);
		assert_string_equal(s->rep[r].message, s->rep[0].message);
	}
}

static void fsc_conformance_run__fabric(void **state)
{
	const struct fsc_fabric_ops *ops = *state;
	char reason[256];
	int rc;

	rc = fsc_fabric_probe(ops, NULL, reason, sizeof(reason));
	if (rc) {
		print_message("[  SKIP    ] fabric %s: %s\n", ops->name,
		              reason[0] ? reason : fsc_strerror(rc));
		skip();
	}
	for (int n = 2; n <= MAXR; n++) {
		struct suite_run s = {.ops = ops};

		run_suite(&s, n);
		if (s.rc[0] == -ENOTSUP) {
			print_message("[  SKIP    ] fabric %s on in-process ranks: %s\n", ops->name,
			              s.rep[0].message);
			skip();
		}
		if (s.rc[0] || s.rep[0].checks_failed)
			print_message("fabric %s, %d ranks: %u of %u checks failed; first: %s\n",
			              ops->name, n, s.rep[0].checks_failed, s.rep[0].checks_run,
			              s.rep[0].message);
		assert_int_equal(s.rc[0], 0);
		assert_int_equal(s.rep[0].checks_failed, 0);
		assert_int_equal(s.rep[0].checks_run, fsc_conformance_count(ops, n));
		assert_string_equal(s.rep[0].message, "");
	}
}

static struct fsc_config *loopback_cfg(const char *name, const char *value)
{
	const struct fsc_opt_group g = {"loopback", fsc_fabric_loopback.opts};
	struct fsc_config *cfg;
	char err[256];

	assert_int_equal(fsc_config_defaults(&cfg, &g, 1), 0);
	assert_int_equal(fsc_config_set(cfg, name, value, err, sizeof(err)), 0);
	return cfg;
}

static void fsc_conformance_run__single_rank_runs_local_checks(void **state)
{
	struct suite_run s = {.ops = &fsc_fabric_loopback};

	(void)state;
	run_suite(&s, 1);
	assert_int_equal(s.rc[0], 0);
	assert_int_equal(s.rep[0].checks_run, 4);
	assert_int_equal(fsc_conformance_count(&fsc_fabric_loopback, 1), 4);
	assert_int_equal(s.rep[0].checks_failed, 0);
}

/* A fabric that declares it matches in posting order only and that cancel
 * aborts it: the tag checks and the late-message check are skipped, each
 * with its reason, and counted as such; the rest runs and passes.  (The
 * loopback fabric under those declarations.) */
static void fsc_conformance_run__declared_limits_skip_their_checks(void **state)
{
	struct fsc_fabric_ops ops = fsc_fabric_loopback;
	struct suite_run s = {.ops = &ops};

	(void)state;
	ops.caps |= FSC_CAP_POSTING_ORDER | FSC_CAP_CANCEL_ABORTS;
	run_suite(&s, 3);
	assert_int_equal(s.rc[0], 0);
	assert_int_equal(s.rep[0].checks_failed, 0);
	assert_int_equal(s.rep[0].checks_skipped, 3);
	assert_int_equal(s.rep[0].checks_run, fsc_conformance_count(&ops, 3));
	assert_int_equal(s.rep[0].checks_run + 3, fsc_conformance_count(&fsc_fabric_loopback, 3));
	assert_non_null(strstr(s.rep[0].skipped, "64 requests in flight, one tag each: the fabric "
	                                         "matches messages in posting order only"));
	assert_non_null(strstr(s.rep[0].skipped, "two tags interleaved: "));
	assert_non_null(strstr(s.rep[0].skipped, "late message after a cancelled receive: the "
	                                         "fabric cannot withdraw one operation"));
	ops.caps = fsc_fabric_loopback.caps;
	memset(&s, 0, sizeof(s));
	s.ops = &ops;
	run_suite(&s, 2);
	assert_int_equal(s.rep[0].checks_skipped, 0);
	assert_string_equal(s.rep[0].skipped, "");
}

/* On link 0->1 of 3 ranks, messages 0 and 1 are the empty ring and all
 * pairs messages; message 2 is the 1-byte ring message: its only byte is
 * flipped. */
static void fsc_conformance_run__catches_a_corrupted_byte(void **state)
{
	struct suite_run s = {.ops = &fsc_fabric_loopback};
	struct fsc_config *cfg = loopback_cfg("lb-corrupt", "0:1:2:0");

	(void)state;
	s.cfg = cfg;
	run_suite(&s, 3);
	fsc_config_free(cfg);
	assert_int_equal(s.rc[0], -EIO);
	assert_int_equal(s.rep[0].checks_failed, 1);
	assert_int_equal(s.rep[0].checks_run, fsc_conformance_count(&fsc_fabric_loopback, 3));
	assert_non_null(strstr(s.rep[0].message, "rank 1: ring 1 B: 1 B from rank 0 (tag "));
	assert_non_null(strstr(s.rep[0].message, "1 of 1 bytes wrong, first at offset 0"));
}

/* A lost message: the wait times out, the suite stops its traffic on that
 * fabric (but still runs the size-mismatch checks on fresh ones). */
static void fsc_conformance_run__reports_a_lost_message_and_stops(void **state)
{
	struct suite_run s = {.ops = &fsc_fabric_loopback, .timeout_ns = 100000000};
	struct fsc_config *cfg = loopback_cfg("lb-drop", "1:0:2");

	(void)state;
	s.cfg = cfg;
	run_suite(&s, 2);
	fsc_config_free(cfg);
	assert_int_equal(s.rc[0], -EIO);
	assert_int_equal(s.rep[0].checks_failed, 1);
	/* local checks 4, ring 0 B, all pairs 0 B, ring 1 B (fails), 2 mismatches,
	 * late message after a cancel, cancelled get */
	assert_int_equal(s.rep[0].checks_run, 4 + 3 + 2 + 1 + 1);
	assert_non_null(strstr(s.rep[0].message, "rank 0: ring 1 B: waiting for 2 requests "
	                                         "failed (timed out)"));
}

/* A fabric that accepts a send to a peer that does not exist. */
static int lax_isend(struct fsc_fabric *f, int peer, const void *buf, size_t bytes, int tag,
                     struct fsc_req *req)
{
	if (peer < 0 || peer >= f->size) {
		req->done = 1;
		return 0;
	}
	return fsc_fabric_loopback.isend(f, peer, buf, bytes, tag, req);
}

static void fsc_conformance_run__catches_an_accepted_invalid_peer(void **state)
{
	struct fsc_fabric_ops lax = fsc_fabric_loopback;
	struct suite_run s = {.ops = &lax};

	(void)state;
	lax.name = "lax";
	lax.isend = lax_isend;
	run_suite(&s, 2);
	assert_int_equal(s.rc[0], -EIO);
	assert_int_equal(s.rep[0].checks_failed, 1);
	/* Traffic stops after it; the mismatch, late-message and cancelled
	 * get checks use fresh fabrics. */
	assert_int_equal(s.rep[0].checks_run, 4 + 2 + 1 + 1);
	assert_string_equal(s.rep[0].message,
	                    "rank 0: invalid peer: isend with peer -1 returned 0 (success), "
	                    "expected -EINVAL");
}

/* A fabric that cannot run on threads is reported, not failed. */
static int refuse_create(struct fsc_fabric *f, const struct fsc_config *cfg)
{
	(void)f;
	(void)cfg;
	return -ENOTSUP;
}

static void fsc_conformance_run__passes_on_create_refusal(void **state)
{
	struct fsc_fabric_ops refusing = {.name = "refusing", .create = refuse_create};
	struct suite_run s = {.ops = &refusing};

	(void)state;
	run_suite(&s, 2);
	assert_int_equal(s.rc[0], -ENOTSUP);
	assert_int_equal(s.rep[0].checks_run, 1);
	assert_string_equal(s.rep[0].message, "rank 0: create of fabric refusing: not supported");
}

int main(void)
{
	static const struct CMUnitTest fixed[] = {
	        cmocka_unit_test(fsc_conformance_run__single_rank_runs_local_checks),
	        cmocka_unit_test(fsc_conformance_run__declared_limits_skip_their_checks),
	        cmocka_unit_test(fsc_conformance_run__catches_a_corrupted_byte),
	        cmocka_unit_test(fsc_conformance_run__reports_a_lost_message_and_stops),
	        cmocka_unit_test(fsc_conformance_run__catches_an_accepted_invalid_peer),
	        cmocka_unit_test(fsc_conformance_run__passes_on_create_refusal),
	};
	size_t nfab = 0, nfixed = sizeof(fixed) / sizeof(fixed[0]), n = 0;
	struct CMUnitTest *tests;
	char(*names)[64];
	int rc;

	while (fsc_fabrics[nfab])
		nfab++;
	tests = calloc(nfab + nfixed, sizeof(*tests));
	names = calloc(nfab ? nfab : 1, sizeof(*names));
	if (!tests || !names)
		return 1;
	/* One test per built fabric, named after it. */
	for (size_t i = 0; i < nfab; i++) {
		snprintf(names[i], sizeof(names[i]), "fsc_conformance_run__%s",
		         fsc_fabrics[i]->name);
		tests[n] = (struct CMUnitTest)cmocka_unit_test_prestate(fsc_conformance_run__fabric,
		                                                        (void *)fsc_fabrics[i]);
		tests[n++].name = names[i];
	}
	for (size_t i = 0; i < nfixed; i++)
		tests[n++] = fixed[i];
	rc = _cmocka_run_group_tests("test_conformance", tests, n, 0, 0);
	free(tests);
	free(names);
	return rc;
}
