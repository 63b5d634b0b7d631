/* Unit tests for the plan of `fabscope accept` (src/accept_plan.c): items
 * from a spec, the filter, and errors that point into the spec. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "accept_plan.h"
#include "options.h"

static struct fsc_spec *parse(const char *text)
{
	struct fsc_spec *s = 0;
	char err[512];

	if (fsc_spec_parse(text, strlen(text), "t.yaml", &s, err, sizeof(err)))
		fail_msg("spec: %s", err);
	return s;
}

static const char two_tests[] = "name: p\n"
                                "tests:\n"
                                "  - name: lat\n"
                                "    fabrics: [loopback, tcp]\n"
                                "    pattern: latency\n"
                                "    sizes: {min: 8, max: 64}\n"
                                "    iters: 5\n"
                                "    checks:\n"
                                "      - latency_p50: {max: 50us, at: 16}\n"
                                "  - name: bw\n"
                                "    fabrics: [loopback]\n"
                                "    pattern: bandwidth\n"
                                "    required: true\n";

static void fsc_accept_plan_build__items_in_spec_order(void **state)
{
	struct fsc_spec *s = parse(two_tests);
	struct fsc_accept_plan p;
	char err[1024] = "";

	(void)state;
	assert_int_equal(fsc_accept_plan_build(&p, s, 0, 0, 4, 0, err, sizeof(err)), 0);
	assert_int_equal(p.n, 3);
	assert_string_equal(p.items[0].t->name, "lat");
	assert_string_equal(p.items[0].fabric, "loopback");
	assert_string_equal(p.items[1].fabric, "tcp");
	assert_string_equal(p.items[2].t->name, "bw");
	assert_int_equal(p.items[2].required, 1);
	assert_int_equal(p.items[0].required, 0);
	/* the run configuration says what the spec says */
	assert_string_equal(p.items[0].skip, "");
	assert_non_null(p.items[0].cfg);
	assert_int_equal(fsc_cfg_int(p.items[0].cfg, "iters"), 5);
	assert_int_equal(fsc_cfg_size(p.items[0].cfg, "max"), 64);
	assert_int_equal(fsc_cfg_int(p.items[0].cfg, "lb-ranks"), 4);
	assert_string_equal(fsc_cfg_str(p.items[0].cfg, "output"), "none");
	fsc_accept_plan_free(&p);
	fsc_accept_plan_free(&p); /* zeroed: nothing left */
	fsc_spec_free(s);
}

static void fsc_accept_plan_build__filter_excludes(void **state)
{
	static const char *const filter[] = {"tcp"};
	struct fsc_spec *s = parse(two_tests);
	struct fsc_accept_plan p;
	char err[1024] = "";

	(void)state;
	assert_int_equal(fsc_accept_plan_build(&p, s, filter, 1, 2, 0, err, sizeof(err)), 0);
	assert_int_equal(p.n, 3);
	assert_int_equal(p.items[0].excluded, 1);
	assert_string_equal(p.items[0].skip, "excluded by --fabric-filter");
	assert_null(p.items[0].cfg);
	assert_int_equal(p.items[1].excluded, 0);
	assert_int_equal(p.items[2].excluded, 1);
	fsc_accept_plan_free(&p);
	fsc_spec_free(s);
}

static void fsc_accept_plan_build__errors_point_into_the_spec(void **state)
{
	struct fsc_spec *s;
	struct fsc_accept_plan p;
	char err[1024] = "";

	(void)state;
	s = parse("name: x\ntests:\n  - name: a\n    fabrics: [loopbak]\n    pattern: latency\n");
	assert_int_equal(fsc_accept_plan_build(&p, s, 0, 0, 4, 0, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "t.yaml:4:15: unknown fabric 'loopbak' in test 'a' (expected "
	                            "one of: loopback, "));
	fsc_accept_plan_free(&p);
	fsc_spec_free(s);

	s = parse("name: x\ntests:\n  - name: a\n    fabrics: [loopback]\n    pattern: latency\n"
	          "    sizes: {min: 8, max: 64}\n    checks:\n"
	          "      - latency_p50: {max: 50us, at: 24}\n");
	assert_int_equal(fsc_accept_plan_build(&p, s, 0, 0, 4, 0, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "t.yaml:8:38: 'at: 24B' in check 'latency_p50' of test 'a': the "
	                         "test does not measure that size (its sizes: 8B, 16B, 32B, 64B)");
	fsc_accept_plan_free(&p);
	fsc_spec_free(s);

	s = parse("name: x\ntests:\n  - name: a\n    fabrics: [loopback]\n    pattern: latency\n"
	          "    options: {iters: 3}\n");
	assert_int_equal(fsc_accept_plan_build(&p, s, 0, 0, 4, 0, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "t.yaml:6:15: option 'iters' in test 'a': set it with"));
	fsc_accept_plan_free(&p);
	fsc_spec_free(s);
}

static void fsc_accept_fabric_names__built_and_absent(void **state)
{
	char names[256];

	(void)state;
	fsc_accept_fabric_names(names, sizeof(names));
	assert_non_null(strstr(names, "loopback"));
	assert_true(fsc_accept_fabric_known("loopback"));
	assert_false(fsc_accept_fabric_known("loopbak"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(fsc_accept_plan_build__items_in_spec_order),
	        cmocka_unit_test(fsc_accept_plan_build__filter_excludes),
	        cmocka_unit_test(fsc_accept_plan_build__errors_point_into_the_spec),
	        cmocka_unit_test(fsc_accept_fabric_names__built_and_absent),
	};

	return cmocka_run_group_tests(tests, 0, 0);
}
