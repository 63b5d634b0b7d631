/* Unit tests for running `fabscope accept` on the ranks of a bootstrap
 * (fsc_accept_rank, src/accept_run.c), in-process over the loopback
 * fabric. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "accept_run.h"
#include "err.h"

static const char spec[] = "name: r\n"
                           "tests:\n"
                           "  - name: lat\n"
                           "    fabrics: [loopback]\n"
                           "    pattern: latency\n"
                           "    sizes: 8\n"
                           "    iters: 5\n"
                           "    checks:\n"
                           "      - latency_p50: {max: LIMIT}\n";

static int run(const char *limit, int parse_rc, int *rcs)
{
	static const char *const hosts[] = {"h0", "h1"};
	char text[sizeof(spec) + 16], *argv[] = {(char *)"accept", 0};
	const char *at = strstr(spec, "LIMIT");
	struct fsc_accept_ctx x;
	int rc;

	snprintf(text, sizeof(text), "%.*s%s}\n", (int)(at - spec), spec, limit);
	memset(&x, 0, sizeof(x));
	x.argc = 1;
	x.argv = argv;
	assert_int_equal(fsc_config_defaults(&x.acfg, 0, 0), 0);
	x.set.output = "none";
	x.set.junit = "none";
	x.set.ranks = 2;
	x.parse_rc = parse_rc;
	snprintf(x.parse_err, sizeof(x.parse_err), "bad option (test)");
	x.spec_path = "r.yaml";
	x.text = text;
	x.len = strlen(text);
	rc = fsc_boot_local_run(2, hosts, fsc_accept_rank, &x, rcs);
	fsc_config_free(x.acfg);
	return rc;
}

static void fsc_accept_rank__every_rank_gets_the_exit_code(void **state)
{
	int rcs[2];

	(void)state;
	assert_int_equal(run("1s", 0, rcs), 0);
	assert_int_equal(rcs[0], FSC_EXIT_OK);
	assert_int_equal(rcs[1], FSC_EXIT_OK);
	/* the loopback link's round trip is over 1 us: the check fails */
	assert_int_equal(run("1ns", 0, rcs), 0);
	assert_int_equal(rcs[0], FSC_EXIT_FAIL);
	assert_int_equal(rcs[1], FSC_EXIT_FAIL);
}

static void fsc_accept_rank__parse_error_is_bad_input_everywhere(void **state)
{
	int rcs[2];

	(void)state;
	assert_int_equal(run("1s", -EINVAL, rcs), 0);
	assert_int_equal(rcs[0], FSC_EXIT_USAGE);
	assert_int_equal(rcs[1], FSC_EXIT_USAGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(fsc_accept_rank__every_rank_gets_the_exit_code),
	        cmocka_unit_test(fsc_accept_rank__parse_error_is_bad_input_everywhere),
	};

	return cmocka_run_group_tests(tests, 0, 0);
}
