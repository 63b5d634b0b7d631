/* Unit tests for `fabscope accept` (src/accept.c): whole runs of specs
 * over the loopback fabric (in-process ranks, virtual clock, injected
 * faults).  Judging checks: test_accept_judge.c; the verdict and its
 * outputs: test_accept_report.c. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "accept_fixtures.h"
#include "accept.h"
#include "err.h"
#include "spec.h"

/* ---- whole runs over the loopback fabric ---- */

struct run {
	char dir[64];
	char spec[128], out[128], junit[128];
	char err[4096];
	int rc;
	json_t *doc;
};

/* Write `text` as a spec, run `fabscope accept` on it in-process (4 virtual
 * hosts lb0..lb3) with `extra` options, capture stderr and load the
 * results. */
static void accept_run(struct run *r, const char *text, const char *extra)
{
	char *argv[16];
	int argc = 0, saved, fd;
	FILE *f, *errf;
	size_t n;

	memset(r, 0, sizeof(*r));
	snprintf(r->dir, sizeof(r->dir), "/tmp/fsc-accept-XXXXXX");
	assert_non_null(mkdtemp(r->dir));
	snprintf(r->spec, sizeof(r->spec), "%s/spec.yaml", r->dir);
	snprintf(r->out, sizeof(r->out), "%s/r.json", r->dir);
	snprintf(r->junit, sizeof(r->junit), "%s/r.junit.xml", r->dir);
	f = fopen(r->spec, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	argv[argc++] = (char *)"accept";
	argv[argc++] = r->spec;
	argv[argc++] = (char *)"--output";
	argv[argc++] = r->out;
	if (extra)
		argv[argc++] = (char *)extra;
	argv[argc] = 0;

	errf = tmpfile();
	assert_non_null(errf);
	fflush(stdout);
	fflush(stderr);
	saved = dup(2);
	fd = fileno(errf);
	dup2(fd, 2);
	r->rc = fsc_accept_main(argc, argv);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	/* the end of stderr, where the verdict and the last error line are */
	if (fseek(errf, -(long)(sizeof(r->err) - 1), SEEK_END))
		rewind(errf);
	n = fread(r->err, 1, sizeof(r->err) - 1, errf);
	r->err[n] = 0;
	fclose(errf);
	r->doc = json_load_file(r->out, 0, 0);
}

static void run_fini(struct run *r)
{
	json_decref(r->doc);
	unlink(r->spec);
	unlink(r->out);
	unlink(r->junit);
	rmdir(r->dir);
}

static const json_t *acc_check(const struct run *r, const char *test, const char *name)
{
	const json_t *checks = json_object_get(json_object_get(r->doc, "acceptance"), "checks");
	size_t i;
	json_t *c;

	json_array_foreach(
	        checks, i,
	        c) if (!strcmp(json_string_value(json_object_get(c, "test")), test) &&
	               !strcmp(json_string_value(json_object_get(c, "check")), name)) return c;
	fail_msg("no check %s of test %s", name, test);
	return 0;
}

static const char *jstr(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "";
}

static const char healthy_spec[] =
        "name: lb\n"
        "defaults:\n"
        "  fabrics: [loopback]\n"
        "  iters: 20\n"
        "  warmup: 2\n"
        "tests:\n"
        "  - name: lat\n"
        "    pattern: latency\n"
        "    sizes: 8\n"
        "    checks:\n"
        "      - latency_p50: {max: 2us}\n"
        "      - no_wrong_data: true\n"
        "  - name: bw\n"
        "    pattern: bandwidth\n"
        "    sizes: {min: 64K, max: 1M, factor: 16}\n"
        "    options: {window: 4}\n"
        "    checks:\n"
        "      - bandwidth: {min: 5 GB/s, at: 1M}\n"
        "  - name: mat\n"
        "    pattern: pairs\n"
        "    options: {pairs-bw-size: 64K, pairs-repeats: 2, pairs-lat-iters: 10}\n"
        "    checks:\n"
        "      - no_anomaly: true\n"
        "      - link_bandwidth: {min: 0.5x median}\n";

static void fsc_accept_main__healthy_loopback_passes(void **state)
{
	struct run r;
	const json_t *acc, *c, *recs;
	size_t i;
	json_t *rec;

	(void)state;
	accept_run(&r, healthy_spec, 0);
	assert_int_equal(r.rc, FSC_EXIT_OK);
	assert_non_null(r.doc);
	assert_string_equal(jstr(r.doc, "status"), "complete");
	acc = json_object_get(r.doc, "acceptance");
	assert_string_equal(jstr(acc, "verdict"), "PASS");
	assert_string_equal(jstr(acc, "summary"), "PASS: 8 of 8 checks passed, 0 skipped");
	assert_int_equal(json_array_size(json_object_get(acc, "suspects")), 0);
	assert_string_equal(jstr(json_object_get(acc, "spec"), "name"), "lb");
	/* virtual clock: a round trip of 2 x (1 us + 8 B at 10 GB/s) = 2001.6 ns,
	 * read in whole ns (2002), halved */
	c = acc_check(&r, "lat", "latency_p50");
	assert_string_equal(jstr(c, "status"), "pass");
	assert_float_equal(json_real_value(json_object_get(c, "value")), 1.001, 1e-9);
	assert_false(json_is_true(json_object_get(c, "retried")));
	assert_int_equal(json_integer_value(json_object_get(c, "attempts")), 1);
	assert_int_equal(json_integer_value(json_object_get(c, "spec_line")), 11);
	/* every record is tagged with its test and attempt */
	recs = json_object_get(r.doc, "records");
	assert_int_equal(json_array_size(recs), 4); /* 1 latency + 2 bandwidth + 1 pairs */
	json_array_foreach(recs, i, rec)
	        assert_int_equal(json_integer_value(json_object_get(rec, "attempt")), 1);
	assert_string_equal(jstr(json_array_get(recs, 3), "test"), "mat");
	assert_string_equal(jstr(json_array_get(recs, 3), "status"), "ok");
	/* the pairs matrix names the virtual hosts */
	assert_string_equal(json_string_value(json_array_get(
	                            json_object_get(json_array_get(recs, 3), "labels"), 3)),
	                    "lb3");
	assert_int_equal(access(r.junit, R_OK), 0);
	run_fini(&r);
}

/* Rank 2 (host lb2) stops during the first test: that test fails naming
 * lb2, the next one is reported as not run with the reason, the verdict,
 * results ("aborted") and JUnit are still written, exit 3. */
static void fsc_accept_main__stalled_host_fails_its_test_and_stops_the_rest(void **state)
{
	struct run r;
	const json_t *acc, *c, *runs, *cul;
	const char *last;
	size_t n;

	(void)state;
	accept_run(&r,
	           "name: lb\n"
	           "defaults: {fabrics: loopback, iters: 20, warmup: 2}\n"
	           "tests:\n"
	           "  - name: stall\n"
	           "    pattern: allreduce\n"
	           "    sizes: {min: 64, max: 4K}\n"
	           "    timeout: 300ms\n"
	           "    options: {lb-stall: \"2:40:8000\"}\n"
	           "    checks:\n"
	           "      - no_wrong_data: true\n"
	           "  - name: lat\n"
	           "    pattern: latency\n"
	           "    sizes: 8\n"
	           "    checks:\n"
	           "      - latency_p50: {max: 2us}\n",
	           0);
	assert_int_equal(r.rc, FSC_EXIT_ABORTED);
	assert_non_null(r.doc);
	assert_string_equal(jstr(r.doc, "status"), "aborted");
	cul = json_object_get(json_object_get(r.doc, "abort"), "culprits");
	assert_int_equal(json_array_size(cul), 1);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(cul, 0), "rank")), 2);
	assert_string_equal(jstr(json_array_get(cul, 0), "host"), "lb2");
	acc = json_object_get(r.doc, "acceptance");
	assert_string_equal(jstr(acc, "verdict"), "FAIL");
	c = acc_check(&r, "stall", "completed");
	assert_string_equal(jstr(c, "status"), "fail");
	assert_non_null(strstr(jstr(c, "measured"), "rank 2 (host lb2) stopped answering"));
	c = acc_check(&r, "lat", "latency_p50");
	assert_string_equal(jstr(c, "status"), "skip");
	assert_non_null(strstr(jstr(c, "measured"), "not run: rank 2 (host lb2)"));
	runs = json_object_get(acc, "runs");
	assert_string_equal(jstr(json_array_get(runs, 1), "status"), "not run");
	assert_int_equal(access(r.junit, R_OK), 0);
	/* the survivors' last line on stderr names the culprit (the stalled
	 * rank is a thread here that resumes and may still log; in a job it
	 * is a process that MPI_Abort ends) */
	n = strlen(r.err);
	for (;;) {
		while (n && r.err[n - 1] == '\n')
			r.err[--n] = 0;
		last = strrchr(r.err, '\n');
		last = last ? last + 1 : r.err;
		if (strncmp(last, "fabscope[2@", 11) || last == r.err)
			break;
		n = (size_t)(last - r.err);
		r.err[n] = 0;
	}
	assert_non_null(strstr(last, "fabscope: error: rank 2 (host lb2) stopped answering"));
	run_fini(&r);
}

static void fsc_accept_main__slow_link_named_after_retry(void **state)
{
	struct run r;
	const json_t *acc, *c, *s;

	(void)state;
	accept_run(&r,
	           "name: lb\n"
	           "tests:\n"
	           "  - name: mat\n"
	           "    fabrics: loopback\n"
	           "    pattern: pairs\n"
	           "    options:\n"
	           "      lb-slow-link: \"1:2:0.2\"\n"
	           "      pairs-bw-size: 64K\n"
	           "      pairs-repeats: 2\n"
	           "      pairs-lat-iters: 10\n"
	           "    checks:\n"
	           "      - no_anomaly: true\n"
	           "      - link_bandwidth: {min: 0.5x median}\n"
	           "      - no_wrong_data: true\n",
	           "--junit=none");
	assert_int_equal(r.rc, FSC_EXIT_FAIL);
	assert_non_null(r.doc);
	assert_string_equal(jstr(r.doc, "status"), "failed");
	acc = json_object_get(r.doc, "acceptance");
	assert_string_equal(jstr(acc, "summary"),
	                    "FAIL: 2 of 4 checks failed; suspects: lb1->lb2 (link slow, high "
	                    "latency)");
	c = acc_check(&r, "mat", "no_anomaly");
	assert_string_equal(jstr(c, "status"), "fail");
	assert_true(json_is_true(json_object_get(c, "retried")));
	assert_int_equal(json_integer_value(json_object_get(c, "attempts")), 2);
	c = acc_check(&r, "mat", "link_bandwidth");
	assert_string_equal(jstr(c, "measured"),
	                    "1 of 12 links below: lb1->lb2 1.98 GB/s (0.202x median)");
	c = acc_check(&r, "mat", "no_wrong_data");
	assert_string_equal(jstr(c, "status"), "pass");
	assert_false(json_is_true(json_object_get(c, "retried")));
	/* exactly one suspect: the link, in its direction */
	assert_int_equal(json_array_size(json_object_get(acc, "suspects")), 1);
	s = json_array_get(json_object_get(acc, "suspects"), 0);
	assert_link_suspect(s, "lb1", "lb2", "one-way");
	/* both attempts' records are kept */
	assert_int_equal(json_array_size(json_object_get(r.doc, "records")), 2);
	assert_int_equal(json_integer_value(json_object_get(
	                         json_array_get(json_object_get(r.doc, "records"), 1), "attempt")),
	                 2);
	assert_int_not_equal(access(r.junit, F_OK), 0); /* --junit=none */
	run_fini(&r);
}

static void fsc_accept_main__slow_node_and_faults(void **state)
{
	struct run r;
	const json_t *acc, *c, *s;

	(void)state;
	accept_run(&r,
	           "name: faults\n"
	           "defaults: {fabrics: loopback, iters: 10, warmup: 1}\n"
	           "tests:\n"
	           "  - name: node\n"
	           "    pattern: pairs\n"
	           "    options: {lb-slow-rank: \"2:0.1\", pairs-bw-size: 64K, pairs-repeats: 2,\n"
	           "              pairs-lat-iters: 10}\n"
	           "    checks:\n"
	           "      - no_anomaly: true\n"
	           "  - name: corrupt\n"
	           "    pattern: latency\n"
	           "    sizes: 64\n"
	           "    options: {lb-corrupt: \"0:1:0:3\"}\n"
	           "    checks:\n"
	           "      - no_wrong_data: true\n"
	           "  - name: drop\n"
	           "    pattern: latency\n"
	           "    sizes: 8\n"
	           "    timeout: 100ms\n"
	           "    options: {lb-drop: \"0:1:3\"}\n",
	           "--retries=0");
	assert_int_equal(r.rc, FSC_EXIT_FAIL);
	acc = json_object_get(r.doc, "acceptance");
	assert_int_equal(json_array_size(json_object_get(acc, "suspects")), 1);
	s = json_array_get(json_object_get(acc, "suspects"), 0);
	assert_string_equal(jstr(s, "kind"), "node");
	assert_string_equal(jstr(s, "host"), "lb2");
	c = acc_check(&r, "node", "no_anomaly");
	assert_false(json_is_true(json_object_get(c, "retried"))); /* --retries=0 */
	assert_int_equal(json_integer_value(json_object_get(c, "attempts")), 1);
	c = acc_check(&r, "corrupt", "no_wrong_data");
	assert_string_equal(jstr(c, "status"), "fail");
	assert_string_equal(jstr(c, "measured"),
	                    "1 wrong in 1 of 1 points (first: latency pingpong 64B)");
	c = acc_check(&r, "drop", "completed");
	assert_string_equal(jstr(c, "status"), "fail");
	assert_string_equal(jstr(c, "required"), "every point runs, within 0.1s");
	assert_string_equal(jstr(c, "measured"),
	                    "1 of 1 points failed: latency pingpong 8B: run: timed out");
	assert_string_equal(jstr(acc, "summary"),
	                    "FAIL: 3 of 5 checks failed; suspects: lb2 (node slow, high latency)");
	run_fini(&r);
}

static void fsc_accept_main__bandwidth_floor_fails(void **state)
{
	struct run r;
	const json_t *c;

	(void)state;
	accept_run(&r,
	           "name: lb\n"
	           "tests:\n"
	           "  - name: bw\n"
	           "    fabrics: loopback\n"
	           "    pattern: bandwidth\n"
	           "    sizes: 1M\n"
	           "    iters: 5\n"
	           "    options: {lb-bw: 0.5, window: 2}\n"
	           "    checks:\n"
	           "      - bandwidth: {min: 8 Gbit/s}\n",
	           0);
	assert_int_equal(r.rc, FSC_EXIT_FAIL);
	c = acc_check(&r, "bw", "bandwidth");
	assert_string_equal(jstr(c, "status"), "fail");
	assert_string_equal(jstr(c, "required"), "peak algbw >= 8 Gbit/s");
	assert_true(json_real_value(json_object_get(c, "value")) < 0.5);
	assert_true(json_real_value(json_object_get(c, "value")) > 0.49);
	assert_int_equal(
	        json_array_size(json_object_get(json_object_get(r.doc, "acceptance"), "suspects")),
	        0);
	run_fini(&r);
}

static void fsc_accept_main__filtered_out_is_not_run(void **state)
{
	struct run r;

	(void)state;
	accept_run(&r, healthy_spec, "--fabric-filter=tcp");
	assert_int_equal(r.rc, FSC_EXIT_USAGE);
	assert_string_equal(jstr(json_object_get(r.doc, "acceptance"), "summary"),
	                    "NOT RUN: every check was skipped (8); nothing could be judged "
	                    "(loopback: excluded by --fabric-filter)");
	assert_string_equal(jstr(acc_check(&r, "lat", "latency_p50"), "measured"),
	                    "excluded by --fabric-filter");
	run_fini(&r);
}

/* nccl cannot run here (not built, or no GPU; and a spec with a built
 * fabric other than loopback would need an MPI launch): its checks are
 * skipped, and the verdict says so and why. */
static const char skip_spec[] = "name: sk\n"
                                "defaults:\n"
                                "  fabrics: [loopback, nccl]\n"
                                "  iters: 20\n"
                                "  warmup: 2\n"
                                "tests:\n"
                                "  - name: lat\n"
                                "    pattern: latency\n"
                                "    sizes: 8\n"
                                "    checks:\n"
                                "      - no_wrong_data: true\n";

static void fsc_accept_main__skipped_checks_named_in_verdict(void **state)
{
	struct run r;
	const char *sum;
	char *xml;
	FILE *f;
	long n;

	(void)state;
	accept_run(&r, skip_spec, 0);
	assert_int_equal(r.rc, FSC_EXIT_OK);
	sum = jstr(json_object_get(r.doc, "acceptance"), "summary");
	assert_true(!strncmp(sum, "PASS: 2 of 4 checks passed, 2 skipped (nccl: ",
	                     strlen("PASS: 2 of 4 checks passed, 2 skipped (nccl: ")));
	assert_string_equal(jstr(acc_check(&r, "lat", "completed"), "status"), "pass");
	/* one reason, once, though two checks were skipped for it (the
	 * reason's own text varies by machine and may hold a ';') */
	assert_null(strstr(strstr(sum, "(nccl: ") + strlen("(nccl: "), "nccl: "));
	assert_string_equal(sum + strlen(sum) - 1, ")");
	/* the JUnit file carries the same summary */
	f = fopen(r.junit, "r");
	assert_non_null(f);
	xml = calloc(1, 65536);
	n = (long)fread(xml, 1, 65535, f);
	fclose(f);
	assert_true(n > 0);
	assert_non_null(strstr(xml, "<property name=\"summary\" value=\"PASS: 2 of 4 checks "
	                            "passed, 2 skipped (nccl: "));
	free(xml);
	run_fini(&r);
}

static void fsc_accept_main__required_test_that_skips_fails(void **state)
{
	struct run r;
	char spec[sizeof(skip_spec) + 64];
	const json_t *c, *checks;
	size_t i;
	json_t *x;
	int nccl_completed = 0;

	(void)state;
	snprintf(spec, sizeof(spec), "%s    required: true\n", skip_spec);
	accept_run(&r, spec, 0);
	assert_int_equal(r.rc, FSC_EXIT_FAIL);
	assert_string_equal(jstr(json_object_get(r.doc, "acceptance"), "verdict"), "FAIL");
	assert_string_equal(jstr(json_object_get(r.doc, "acceptance"), "summary"),
	                    "FAIL: 1 of 4 checks failed");
	checks = json_object_get(json_object_get(r.doc, "acceptance"), "checks");
	json_array_foreach(checks, i, x)
	{
		if (strcmp(jstr(x, "fabric"), "nccl") || strcmp(jstr(x, "check"), "completed"))
			continue;
		nccl_completed++;
		assert_string_equal(jstr(x, "status"), "fail");
		assert_true(!strncmp(jstr(x, "measured"), "required fabric not usable: ",
		                     strlen("required fabric not usable: ")));
	}
	assert_int_equal(nccl_completed, 1);
	/* loopback still ran and passed */
	c = acc_check(&r, "lat", "no_wrong_data");
	assert_string_equal(jstr(c, "fabric"), "loopback");
	assert_string_equal(jstr(c, "status"), "pass");
	run_fini(&r);
}

static void fsc_accept_main__bad_specs_exit_2_with_position(void **state)
{
	static const struct {
		const char *spec, *err;
	} cases[] = {
	        {"name: x\ntests:\n  - name: a\n    fabrics: loopback\n    pattern: latency\n"
	         "    options: {windw: 4}\n",
	         "fabscope: error: SPEC:6:15: unknown option 'windw' in test 'a' (options are "
	         "those of `fabscope run --help`, without the leading --)\n"},
	        {"name: x\ntests:\n  - name: a\n    fabrics: loopback\n    pattern: latency\n"
	         "    options: {window: lots}\n",
	         "fabscope: error: SPEC:6:23: invalid value 'lots' for --window: expected an "
	         "integer in test 'a'\n"},
	        {"name: x\ntests:\n  - name: a\n    fabrics: loopback\n    pattern: latency\n"
	         "    options: {iters: 5}\n",
	         "fabscope: error: SPEC:6:15: option 'iters' in test 'a': set it with the test's "
	         "own keys (fabrics, pattern, sizes, impl, iters, warmup, timeout) or on the "
	         "accept command line (--output, --ranks)\n"},
	        {"name: x\ntests:\n  - name: a\n    fabrics: loopback\n    pattern: latency\n"
	         "    options: {lb-ranks: 3}\n",
	         "fabscope: error: SPEC:6:15: option 'lb-ranks' in test 'a': set it with the "
	         "test's "
	         "own keys (fabrics, pattern, sizes, impl, iters, warmup, timeout) or on the "
	         "accept command line (--output, --ranks)\n"},
	        {"name: x\ntests:\n  - name: a\n    fabrics: [loopback, infiniband]\n"
	         "    pattern: latency\n",
	         "fabscope: error: SPEC:4:25: unknown fabric 'infiniband' in test 'a' (expected "
	         "one of: loopback, mpi, nccl, tcp, ucx"},
	        {"name: x\ntests:\n  - name: a\n    fabrics: loopback\n    pattern: latenc\n",
	         "fabscope: error: SPEC:5:14: unknown pattern 'latenc' in test 'a' (expected one "
	         "of: latency, "},
	        {"name: x\ntests:\n  - name: a\n    fabrics: loopback\n    pattern: latency\n"
	         "    impl: ring\n",
	         "fabscope: error: SPEC:6:11: unknown impl 'ring' of pattern latency in test 'a' "
	         "(expected one of: pingpong, put, get, all)\n"},
	        {"name: x\ntests:\n  - name: a\n    fabrics: loopback\n    pattern: bandwidth\n"
	         "    sizes: {min: 8, max: 64}\n    checks:\n      - bandwidth: {min: 1 GB/s, at: "
	         "1M}\n",
	         "fabscope: error: SPEC:8:38: 'at: 1M' in check 'bandwidth' of test 'a': the test "
	         "does not measure that size (its sizes: 8B, 16B, 32B, 64B)\n"},
	        {"name: x\nfabrics: {infiniband: {required: true}}\ntests:\n  - name: a\n"
	         "    fabrics: loopback\n    pattern: latency\n",
	         "fabscope: error: SPEC:2:11: unknown fabric 'infiniband' in fabrics (expected one "
	         "of: loopback, mpi, nccl, tcp, ucx"},
	        {"name: x\ntests:\n  - name: a\n    fabrics: loopback\n    pattern: latency\n"
	         "    checks:\n      - latency_p50: {max: 50}\n",
	         "fabscope: error: SPEC:7:28: 'max' in check 'latency_p50' of test 'a': threshold "
	         "'50' has no unit: expected a time such as 50us, 2ms or 1s\n"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct run r;
		char want[1024];
		const char *at;

		accept_run(&r, cases[i].spec, 0);
		assert_int_equal(r.rc, FSC_EXIT_USAGE);
		assert_null(r.doc); /* nothing ran, nothing written */
		/* SPEC stands for the temporary spec path */
		at = strstr(cases[i].err, "SPEC");
		snprintf(want, sizeof(want), "%.*s%s%s", (int)(at - cases[i].err), cases[i].err,
		         r.spec, at + 4);
		if (strncmp(r.err, want, strlen(want))) {
			print_error("case %zu:\n got: %s\nwant: %s\n", i, r.err, want);
			fail();
		}
		run_fini(&r);
	}
}

static void fsc_accept_main__dry_run_checks_without_running(void **state)
{
	struct run r;

	(void)state;
	accept_run(&r, healthy_spec, "--dry-run");
	assert_int_equal(r.rc, FSC_EXIT_OK);
	assert_null(r.doc); /* nothing ran */
	assert_string_equal(r.err, "");
	run_fini(&r);
	accept_run(&r,
	           "name: x\ntests:\n  - name: a\n    fabrics: [tcp, verbs, nccl]\n"
	           "    pattern: bandwidth\n    options: {window: 0}\n",
	           "--dry-run");
	assert_int_equal(r.rc, FSC_EXIT_USAGE);
	assert_non_null(strstr(r.err, "spec.yaml:6:23: invalid value '0' for --window: must be "
	                              "between 1 and 4096 in test 'a'\n"));
	run_fini(&r);
}

static void fsc_accept_main__usage_errors(void **state)
{
	struct run r;
	char *argv[] = {(char *)"accept", (char *)"--retries", (char *)"3", 0};

	(void)state;
	accept_run(&r, healthy_spec, "--retries=11");
	assert_int_equal(r.rc, FSC_EXIT_USAGE);
	assert_string_equal(r.err, "fabscope: error: invalid value '11' for --retries: must be "
	                           "between 0 and 10\n");
	run_fini(&r);
	accept_run(&r, healthy_spec, "--fabric-filter=tcp,ib");
	assert_int_equal(r.rc, FSC_EXIT_USAGE);
	assert_non_null(strstr(r.err, "invalid value 'ib' for --fabric-filter: expected fabrics "
	                              "among loopback, mpi, nccl, tcp, ucx"));
	run_fini(&r);
	accept_run(&r, healthy_spec, "second.yaml");
	assert_int_equal(r.rc, FSC_EXIT_USAGE);
	assert_string_equal(r.err, "fabscope: error: unexpected argument 'second.yaml' (one spec "
	                           "per run; options start with --)\n");
	run_fini(&r);
	/* no spec at all */
	assert_int_equal(fsc_accept_main(3, argv), FSC_EXIT_USAGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(fsc_accept_main__healthy_loopback_passes),
	        cmocka_unit_test(fsc_accept_main__stalled_host_fails_its_test_and_stops_the_rest),
	        cmocka_unit_test(fsc_accept_main__slow_link_named_after_retry),
	        cmocka_unit_test(fsc_accept_main__slow_node_and_faults),
	        cmocka_unit_test(fsc_accept_main__bandwidth_floor_fails),
	        cmocka_unit_test(fsc_accept_main__filtered_out_is_not_run),
	        cmocka_unit_test(fsc_accept_main__skipped_checks_named_in_verdict),
	        cmocka_unit_test(fsc_accept_main__required_test_that_skips_fails),
	        cmocka_unit_test(fsc_accept_main__bad_specs_exit_2_with_position),
	        cmocka_unit_test(fsc_accept_main__dry_run_checks_without_running),
	        cmocka_unit_test(fsc_accept_main__usage_errors),
	};

	return cmocka_run_group_tests(tests, 0, 0);
}
