/* Unit tests for acceptance specs (src/spec.c): the schema, defaults,
 * units, and every kind of bad input with its exact line:column message. */
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

#include "spec.h"

static struct fsc_spec *parse_ok(const char *text)
{
	struct fsc_spec *s = 0;
	char err[1024];
	int rc = fsc_spec_parse(text, strlen(text), "t.yaml", &s, err, sizeof(err));

	if (rc)
		print_error("unexpected error: %s\n", err);
	assert_int_equal(rc, 0);
	assert_non_null(s);
	return s;
}

/* The error message of a spec that must fail. */
static void expect_error(const char *text, const char *msg)
{
	struct fsc_spec *s = (struct fsc_spec *)1;
	char err[1024] = "";

	assert_int_equal(fsc_spec_parse(text, strlen(text), "t.yaml", &s, err, sizeof(err)),
	                 -EINVAL);
	assert_null(s);
	assert_string_equal(err, msg);
}

#define HEAD "name: q\ntests:\n  - name: p2p\n    fabrics: [tcp]\n    pattern: latency\n"

static const char full_spec[] = "name: quick\n"
                                "description: two tests\n"
                                "defaults:\n"
                                "  fabrics: [mpi, tcp]\n"
                                "  iters: 200\n"
                                "  warmup: 20\n"
                                "  timeout: 30s\n"
                                "  options: {point-time: 500ms}\n"
                                "fabrics:\n"
                                "  mpi: {required: true, options: {peer: 1}}\n"
                                "tests:\n"
                                "  - name: p2p-latency\n"
                                "    pattern: latency\n"
                                "    sizes: 8\n"
                                "    impl: pingpong\n"
                                "    checks:\n"
                                "      - latency_p50: {max: 50us}\n"
                                "      - latency_p99: {max: 2ms, at: 8}\n"
                                "      - no_wrong_data: true\n"
                                "  - name: bw\n"
                                "    fabrics: ucx\n"
                                "    pattern: bandwidth\n"
                                "    sizes: {min: 64K, max: 4M, factor: 4}\n"
                                "    impl: [uni, bi]\n"
                                "    iters: 10\n"
                                "    timeout: 1.5s\n"
                                "    options:\n"
                                "      window: 16\n"
                                "      dtype: [float32, int64]\n"
                                "      point-time: 1s\n"
                                "    checks:\n"
                                "      - bandwidth: {min: 12.5 GB/s, at: 1M}\n"
                                "      - busbw: {min: 100 Gbit/s}\n"
                                "  - name: mat\n"
                                "    pattern: pairs\n"
                                "    checks:\n"
                                "      - no_anomaly: {metric: bandwidth}\n"
                                "      - link_bandwidth: {min: 0.5x median}\n"
                                "      - link_latency: {max: 20 us}\n"
                                "      - no_wrong_data: false\n";

static void fsc_spec_parse__full_spec(void **state)
{
	struct fsc_spec *s = parse_ok(full_spec);
	const struct fsc_spec_test *t;

	(void)state;
	assert_string_equal(s->name, "quick");
	assert_string_equal(s->description, "two tests");
	assert_int_equal(s->ntests, 3);
	assert_int_equal(s->nfabrics, 1);
	assert_string_equal(s->fabrics[0].name, "mpi");
	assert_int_equal(s->fabrics[0].required, 1);
	assert_int_equal(s->fabrics[0].nopts, 1);
	assert_string_equal(s->fabrics[0].opts[0].value, "1");

	t = &s->tests[0];
	assert_string_equal(t->name, "p2p-latency");
	assert_int_equal(t->nfabrics, 2); /* from defaults */
	assert_string_equal(t->fabrics[1], "tcp");
	assert_int_equal(t->fabric_marks[1].line, 4);
	assert_int_equal(t->fabric_marks[1].col, 18);
	assert_int_equal(t->has_sizes, 1);
	assert_int_equal(t->min_bytes, 8);
	assert_int_equal(t->max_bytes, 8);
	assert_string_equal(t->impl, "pingpong");
	assert_int_equal(t->iters, 200);
	assert_int_equal(t->warmup, 20);
	assert_int_equal(t->timeout_ns, 30000000000ull);
	assert_int_equal(t->nopts, 1);
	assert_string_equal(t->opts[0].name, "point-time");
	assert_string_equal(t->opts[0].value, "500ms");
	assert_int_equal(t->nchecks, 3);
	assert_int_equal(t->checks[0].kind, FSC_CHECK_LATENCY_P50);
	assert_true(t->checks[0].is_max);
	assert_float_equal(t->checks[0].limit, 50.0, 1e-12);
	assert_string_equal(t->checks[0].limit_text, "50us");
	assert_int_equal(t->checks[0].mark.line, 17);
	assert_int_equal(t->checks[0].mark.col, 9);
	assert_float_equal(t->checks[1].limit, 2000.0, 1e-9);
	assert_true(t->checks[1].has_at);
	assert_int_equal(t->checks[1].at_bytes, 8);
	assert_int_equal(t->checks[2].kind, FSC_CHECK_NO_WRONG_DATA);

	t = &s->tests[1];
	assert_int_equal(t->nfabrics, 1);
	assert_string_equal(t->fabrics[0], "ucx");
	assert_int_equal(t->min_bytes, 64 * 1024);
	assert_int_equal(t->max_bytes, 4 * 1024 * 1024);
	assert_int_equal(t->factor, 4);
	assert_string_equal(t->impl, "uni,bi");
	assert_int_equal(t->iters, 10);
	assert_int_equal(t->timeout_ns, 1500000000ull);
	/* defaults' options first, then the test's (the last one wins) */
	assert_int_equal(t->nopts, 4);
	assert_string_equal(t->opts[0].name, "point-time");
	assert_string_equal(t->opts[1].name, "window");
	assert_string_equal(t->opts[1].value, "16");
	assert_string_equal(t->opts[2].value, "float32,int64");
	assert_string_equal(t->opts[3].value, "1s");
	assert_int_equal(t->checks[0].kind, FSC_CHECK_BANDWIDTH);
	assert_false(t->checks[0].is_max);
	assert_float_equal(t->checks[0].limit, 12.5, 1e-12);
	assert_int_equal(t->checks[0].at_bytes, 1048576);
	assert_int_equal(t->checks[1].kind, FSC_CHECK_BUSBW);
	assert_float_equal(t->checks[1].limit, 12.5, 1e-12);
	assert_false(t->checks[1].has_at);

	t = &s->tests[2];
	assert_int_equal(t->has_sizes, 0);
	assert_int_equal(t->nchecks, 3); /* no_wrong_data: false is no check */
	assert_int_equal(t->checks[0].kind, FSC_CHECK_NO_ANOMALY);
	assert_int_equal(t->checks[0].metric, FSC_METRIC_BANDWIDTH);
	assert_int_equal(t->checks[1].kind, FSC_CHECK_LINK_BANDWIDTH);
	assert_true(t->checks[1].relative);
	assert_float_equal(t->checks[1].limit, 0.5, 1e-12);
	assert_int_equal(t->checks[2].kind, FSC_CHECK_LINK_LATENCY);
	assert_false(t->checks[2].relative);
	assert_float_equal(t->checks[2].limit, 20.0, 1e-12);
	assert_true(t->checks[2].is_max);
	fsc_spec_free(s);
}

static void fsc_spec_parse__minimal_spec_keeps_runner_defaults(void **state)
{
	struct fsc_spec *s = parse_ok(HEAD);

	(void)state;
	assert_int_equal(s->ntests, 1);
	assert_null(s->description);
	assert_int_equal(s->tests[0].iters, -1);
	assert_int_equal(s->tests[0].warmup, -1);
	assert_int_equal(s->tests[0].timeout_ns, 0);
	assert_int_equal(s->tests[0].has_sizes, 0);
	assert_null(s->tests[0].impl);
	assert_int_equal(s->tests[0].nchecks, 0);
	assert_int_equal(s->tests[0].required, 0);
	assert_null(fsc_spec_fabric_find(s, "tcp"));
	fsc_spec_free(s);
}

static void fsc_spec_parse__test_required(void **state)
{
	struct fsc_spec *s = parse_ok(HEAD "    required: true\n");

	(void)state;
	assert_int_equal(s->tests[0].required, 1);
	fsc_spec_free(s);
	s = parse_ok(HEAD "    required: false\n");
	assert_int_equal(s->tests[0].required, 0);
	fsc_spec_free(s);
	expect_error(HEAD "    required: sometimes\n",
	             "t.yaml:6:15: 'required' in test 'p2p': expected true or false, got "
	             "'sometimes'");
	expect_error("name: q\ndefaults: {required: true}\ntests: []\n",
	             "t.yaml:2:12: unknown key 'required' in defaults (expected one of: fabrics, "
	             "sizes, impl, iters, warmup, timeout, options)");
}

static void fsc_spec_parse__yaml_syntax_error(void **state)
{
	(void)state;
	expect_error(HEAD "    checks:\n      - latency_p50: {max: 50us\n",
	             "t.yaml:8:1: YAML syntax error: did not find expected ',' or '}' (while "
	             "parsing a flow mapping at line 7, column 22)");
	expect_error("name: q\n  tests: x\n",
	             "t.yaml:2:8: YAML syntax error: mapping values are not allowed in this "
	             "context");
	expect_error("name: q\ntests:\n\t- name: a\n",
	             "t.yaml:3:1: YAML syntax error: found character that cannot start any "
	             "token (while scanning for the next token at line 3, column 1)");
}

static void fsc_spec_parse__unknown_keys(void **state)
{
	(void)state;
	expect_error("name: q\n    fabirc: [tcp]\n",
	             "t.yaml:2:11: YAML syntax error: mapping values are not allowed in this "
	             "context");
	expect_error("name: q\ntests:\n  - name: p2p\n    fabirc: [tcp]\n    pattern: latency\n",
	             "t.yaml:4:5: unknown key 'fabirc' in test 'p2p' (expected one of: name, "
	             "description, fabrics, pattern, sizes, impl, iters, warmup, timeout, options, "
	             "checks, required)");
	expect_error("name: q\ntest:\n  - name: p2p\n",
	             "t.yaml:2:1: unknown key 'test' in the spec (expected one of: name, "
	             "description, defaults, fabrics, tests)");
	expect_error(
	        "name: q\ndefaults: {name: x}\ntests: []\n",
	        "t.yaml:2:12: unknown key 'name' in defaults (expected one of: fabrics, sizes, "
	        "impl, iters, warmup, timeout, options)");
	expect_error(HEAD "    checks:\n      - bandwidth: {min: 1 GB/s, max: 2 GB/s}\n",
	             "t.yaml:7:34: unknown key 'max' in check 'bandwidth' of test 'p2p' (expected "
	             "one of: min, at)");
	expect_error(HEAD "    checks:\n      - latency: {max: 1us}\n",
	             "t.yaml:7:9: unknown check 'latency' in test 'p2p' (expected one of: "
	             "latency_p50, latency_p99, bandwidth, busbw, no_wrong_data, no_anomaly, "
	             "link_bandwidth, link_latency)");
	expect_error("name: q\nfabrics:\n  tcp: {requried: true}\ntests: []\n",
	             "t.yaml:3:9: unknown key 'requried' in fabric 'tcp' (expected one of: "
	             "required, options)");
	expect_error(HEAD "    sizes: {min: 8, max: 1M, step: 2}\n",
	             "t.yaml:6:30: unknown key 'step' in 'sizes' of test 'p2p' (expected one of: "
	             "min, max, factor)");
}

static void fsc_spec_parse__wrong_types(void **state)
{
	(void)state;
	expect_error(HEAD "    iters: [1, 2]\n",
	             "t.yaml:6:12: 'iters' in test 'p2p': expected an integer, got a list");
	expect_error(HEAD "    iters: many\n",
	             "t.yaml:6:12: 'iters' in test 'p2p': expected an integer, got 'many'");
	expect_error(HEAD "    iters: \"200\"\n",
	             "t.yaml:6:12: 'iters' in test 'p2p': expected an integer, got the quoted "
	             "string '200'");
	expect_error(HEAD "    iters: 0\n",
	             "t.yaml:6:12: 'iters' in test 'p2p': 0 is out of range (1 to 1000000000)");
	expect_error("name: q\ntests: {a: 1}\n",
	             "t.yaml:2:8: 'tests' in the spec: expected a list of tests, got a map");
	expect_error("name: [q]\ntests: []\n",
	             "t.yaml:1:7: 'name' in the spec: expected a string, got a list");
	expect_error(
	        "name: q\ntests:\n  - p2p\n",
	        "t.yaml:3:5: test 1: expected a map (name, pattern, fabrics, checks, ...), got "
	        "'p2p'");
	expect_error(HEAD "    checks: {latency_p50: {max: 1us}}\n",
	             "t.yaml:6:13: 'checks' in test 'p2p': expected a list of checks (e.g. '- "
	             "latency_p50: {max: 50us}'), got a map");
	expect_error(HEAD "    checks:\n      - latency_p50: 50us\n",
	             "t.yaml:7:22: check 'latency_p50' in test 'p2p': expected a map such as {max: "
	             "50us}, got '50us'");
	expect_error(HEAD "    checks:\n      - no_wrong_data: yes please\n",
	             "t.yaml:7:24: 'no_wrong_data' in test 'p2p': expected true or false, got 'yes "
	             "please'");
	expect_error(HEAD "    options: [window, 4]\n",
	             "t.yaml:6:14: 'options' in test 'p2p': expected a map, got a list");
	expect_error(HEAD "    options: {window: {a: 1}}\n",
	             "t.yaml:6:23: option 'window' in test 'p2p': expected a value (flags: true or "
	             "false), got a map");
	expect_error("name: q\ntests:\n  - name: p2p\n    fabrics: [tcp, [ucx]]\n    pattern: x\n",
	             "t.yaml:4:20: 'fabrics' in test 'p2p': expected a fabric name or a list of "
	             "them, got a list");
	expect_error("name: q\nfabrics:\n  tcp: {required: 1}\ntests: []\n",
	             "t.yaml:3:19: 'required' in fabric 'tcp': expected true or false, got '1'");
	expect_error(HEAD "    sizes: [8, 16]\n",
	             "t.yaml:6:12: 'sizes' in test 'p2p': expected a size such as 8 or 1M, or a "
	             "map {min, max, factor}, got a list");
	expect_error(HEAD "    sizes: 12Q\n",
	             "t.yaml:6:12: 'sizes' in test 'p2p': expected a size such as 8, 4K, 1M "
	             "(x1024), got '12Q'");
}

static void fsc_spec_parse__thresholds_need_units(void **state)
{
	(void)state;
	expect_error(HEAD "    checks:\n      - latency_p50: {max: 50}\n",
	             "t.yaml:7:28: 'max' in check 'latency_p50' of test 'p2p': threshold '50' has "
	             "no unit: expected a time such as 50us, 2ms or 1s");
	expect_error(HEAD "    checks:\n      - bandwidth: {min: 12.5}\n",
	             "t.yaml:7:26: 'min' in check 'bandwidth' of test 'p2p': threshold '12.5' has "
	             "no unit: expected a bandwidth such as 1 GB/s, 800 MB/s or 100 Gbit/s");
	expect_error(HEAD "    checks:\n      - bandwidth: {min: 5 GB}\n",
	             "t.yaml:7:26: 'min' in check 'bandwidth' of test 'p2p': invalid threshold '5 "
	             "GB': expected a bandwidth such as 1 GB/s, 800 MB/s or 100 Gbit/s");
	expect_error(HEAD "    checks:\n      - latency_p50: {max: 0.5x median}\n",
	             "t.yaml:7:28: 'max' in check 'latency_p50' of test 'p2p': invalid threshold "
	             "'0.5x median': expected a time such as 50us, 2ms or 1s");
	expect_error(HEAD "    checks:\n      - latency_p99: {max: 0us}\n",
	             "t.yaml:7:28: 'max' in check 'latency_p99' of test 'p2p': threshold '0us' "
	             "must be above zero");
	expect_error(HEAD "    timeout: 30\n",
	             "t.yaml:6:14: 'timeout' in test 'p2p': '30' has no unit: expected a time such "
	             "as 50us, 2ms or 1s");
	expect_error(
	        "name: q\ntests:\n  - name: m\n    fabrics: tcp\n    pattern: pairs\n"
	        "    checks:\n      - link_bandwidth: {min: 0.5}\n",
	        "t.yaml:7:31: 'min' in check 'link_bandwidth' of test 'm': threshold '0.5' has "
	        "no unit: expected a bandwidth such as 1 GB/s, 800 MB/s or 100 Gbit/s, or a "
	        "ratio such as 0.5x median");
}

static void fsc_spec_parse__schema_rules(void **state)
{
	(void)state;
	expect_error("tests: []\n", "t.yaml:1:1: the spec has no 'name'");
	expect_error("name: q\n", "t.yaml:1:1: the spec has no 'tests'");
	expect_error("name: q\ntests: []\n", "t.yaml:2:8: 'tests' is empty");
	expect_error("", "t.yaml:1:1: the spec is empty");
	expect_error("- a\n- b\n",
	             "t.yaml:1:1: a spec is a map (name, description, defaults, fabrics, tests), "
	             "got a list");
	expect_error("name: q\ntests:\n  - fabrics: tcp\n    pattern: latency\n",
	             "t.yaml:3:5: test 1 has no 'name'");
	expect_error("name: q\ntests:\n  - name: a\n    pattern: latency\n",
	             "t.yaml:3:5: test 'a' has no 'fabrics' (and defaults set none)");
	expect_error("name: q\ntests:\n  - name: a b\n    fabrics: tcp\n    pattern: latency\n",
	             "t.yaml:3:11: test name 'a b': use letters, digits, '-' and '_' only");
	expect_error(HEAD "  - name: p2p\n    fabrics: tcp\n    pattern: bandwidth\n",
	             "t.yaml:6:5: duplicate test name 'p2p' (first at line 3)");
	expect_error(HEAD "    iters: 5\n    iters: 6\n",
	             "t.yaml:7:5: duplicate key 'iters' in test 'p2p' (first at line 6, column 5)");
	expect_error(HEAD "    options: {window: 4, window: 8}\n",
	             "t.yaml:6:26: duplicate option 'window' in test 'p2p' (first at line 6, "
	             "column 15)");
	expect_error("name: q\ntests:\n  - name: p2p\n    fabrics: [tcp, tcp]\n    pattern: x\n",
	             "t.yaml:4:20: 'fabrics' in test 'p2p': 'tcp' is listed twice");
	expect_error(HEAD "    sizes: {min: 1M, max: 8}\n",
	             "t.yaml:6:18: 'sizes' in test 'p2p': min is larger than max");
	expect_error(HEAD "    sizes: {min: 8}\n",
	             "t.yaml:6:12: 'sizes' in test 'p2p' needs both min and max");
	expect_error(HEAD "    checks:\n      - no_anomaly: true\n",
	             "t.yaml:7:9: check 'no_anomaly' in test 'p2p' applies to pattern pairs only "
	             "(this test runs latency)");
	expect_error("name: q\ntests:\n  - name: m\n    fabrics: tcp\n    pattern: pairs\n"
	             "    checks:\n      - latency_p50: {max: 1ms}\n",
	             "t.yaml:7:9: check 'latency_p50' in test 'm' does not apply to pattern pairs "
	             "(use link_bandwidth, link_latency, no_anomaly)");
	expect_error("name: q\ntests:\n  - name: m\n    fabrics: tcp\n    pattern: pairs\n"
	             "    sizes: 8\n",
	             "t.yaml:6:5: 'sizes' in test 'm': pattern pairs has its own sizes (options: "
	             "{pairs-bw-size: 1M, pairs-lat-size: 8})");
	expect_error(HEAD "    checks:\n      - bandwidth: {at: 1M}\n",
	             "t.yaml:7:20: check 'bandwidth' of test 'p2p' needs 'min'");
	expect_error(HEAD "    checks:\n      - no_wrong_data: true\n      - no_wrong_data: true\n",
	             "t.yaml:8:9: check 'no_wrong_data' appears twice in test 'p2p' (first at line "
	             "7)");
	expect_error(HEAD
	             "    checks:\n      - {latency_p50: {max: 1us}, bandwidth: {min: 1 GB/s}}\n",
	             "t.yaml:7:9: a check in test 'p2p' must be a map with one key, the check's "
	             "name (e.g. '- latency_p50: {max: 50us}'), got a map");
	expect_error(HEAD "---\nname: again\n",
	             "t.yaml:6:1: a spec is one YAML document; a second one starts here");
}

static void fsc_spec_parse__same_check_at_two_sizes(void **state)
{
	struct fsc_spec *s = parse_ok(HEAD "    checks:\n"
	                                   "      - latency_p50: {max: 5us, at: 8}\n"
	                                   "      - latency_p50: {max: 9us, at: 64}\n");

	(void)state;
	assert_int_equal(s->tests[0].nchecks, 2);
	assert_int_equal(s->tests[0].checks[1].at_bytes, 64);
	fsc_spec_free(s);
}

static void fsc_spec_parse__anchors_and_aliases(void **state)
{
	struct fsc_spec *s = parse_ok("name: q\n"
	                              "tests:\n"
	                              "  - name: a\n"
	                              "    fabrics: &f [mpi, tcp]\n"
	                              "    pattern: latency\n"
	                              "  - name: b\n"
	                              "    fabrics: *f\n"
	                              "    pattern: bandwidth\n");

	(void)state;
	assert_int_equal(s->tests[1].nfabrics, 2);
	assert_string_equal(s->tests[1].fabrics[1], "tcp");
	fsc_spec_free(s);
}

static void fsc_spec_parse__nul_byte_is_rejected(void **state)
{
	static const char text[] = "name: q\0tests: []\n";
	struct fsc_spec *s = 0;
	char err[256];

	(void)state;
	assert_int_equal(fsc_spec_parse(text, sizeof(text) - 1, "t.yaml", &s, err, sizeof(err)),
	                 -EINVAL);
	assert_string_equal(err, "t.yaml: not a text file (it contains a NUL byte)");
}

static void fsc_spec_parse_time_us__units(void **state)
{
	double v = -1;

	(void)state;
	assert_int_equal(fsc_spec_parse_time_us("50us", &v), 0);
	assert_float_equal(v, 50, 1e-12);
	assert_int_equal(fsc_spec_parse_time_us("2 ms", &v), 0);
	assert_float_equal(v, 2000, 1e-12);
	assert_int_equal(fsc_spec_parse_time_us("1.5s", &v), 0);
	assert_float_equal(v, 1.5e6, 1e-6);
	assert_int_equal(fsc_spec_parse_time_us("250ns", &v), 0);
	assert_float_equal(v, 0.25, 1e-12);
	assert_int_equal(fsc_spec_parse_time_us("3\xc2\xb5s", &v), 0);
	assert_float_equal(v, 3, 1e-12);
	assert_int_equal(fsc_spec_parse_time_us("50", &v), -EINVAL);
	assert_int_equal(fsc_spec_parse_time_us("us", &v), -EINVAL);
	assert_int_equal(fsc_spec_parse_time_us("5 min", &v), -EINVAL);
	assert_int_equal(fsc_spec_parse_time_us("-5us", &v), -EINVAL);
	assert_int_equal(fsc_spec_parse_time_us(0, &v), -EINVAL);
}

static void fsc_spec_parse_bw_GBps__units(void **state)
{
	double v = -1;

	(void)state;
	assert_int_equal(fsc_spec_parse_bw_GBps("1 GB/s", &v), 0);
	assert_float_equal(v, 1, 1e-12);
	assert_int_equal(fsc_spec_parse_bw_GBps("800MB/s", &v), 0);
	assert_float_equal(v, 0.8, 1e-12);
	assert_int_equal(fsc_spec_parse_bw_GBps("200 Gbit/s", &v), 0);
	assert_float_equal(v, 25, 1e-12);
	assert_int_equal(fsc_spec_parse_bw_GBps("400 Gb/s", &v), 0);
	assert_float_equal(v, 50, 1e-12);
	assert_int_equal(fsc_spec_parse_bw_GBps("100 Mbit/s", &v), 0);
	assert_float_equal(v, 0.0125, 1e-12);
	assert_int_equal(fsc_spec_parse_bw_GBps("1.2 TB/s", &v), 0);
	assert_float_equal(v, 1200, 1e-9);
	assert_int_equal(fsc_spec_parse_bw_GBps("1", &v), -EINVAL);
	assert_int_equal(fsc_spec_parse_bw_GBps("1 GB", &v), -EINVAL);
	assert_int_equal(fsc_spec_parse_bw_GBps("1 gb/s", &v), -EINVAL);
}

static void fsc_spec_parse_ratio__forms(void **state)
{
	double v = -1;

	(void)state;
	assert_int_equal(fsc_spec_parse_ratio("0.5x median", &v), 0);
	assert_float_equal(v, 0.5, 1e-12);
	assert_int_equal(fsc_spec_parse_ratio("2 x median", &v), 0);
	assert_float_equal(v, 2, 1e-12);
	assert_int_equal(fsc_spec_parse_ratio("0.5x", &v), -EINVAL);
	assert_int_equal(fsc_spec_parse_ratio("0.5 median", &v), -EINVAL);
	assert_int_equal(fsc_spec_parse_ratio("x median", &v), -EINVAL);
	assert_int_equal(fsc_spec_parse_ratio("0.5x mean", &v), -EINVAL);
}

static void fsc_spec_read__missing_file(void **state)
{
	char *text = (char *)1, err[512];
	size_t len = 7;

	(void)state;
	assert_int_equal(fsc_spec_read("/nonexistent/spec.yaml", &text, &len, err, sizeof(err)),
	                 -ENOENT);
	assert_null(text);
	assert_int_equal(len, 0);
	assert_string_equal(err, "cannot read spec '/nonexistent/spec.yaml': No such file or "
	                         "directory");
}

static void fsc_spec_read__reads_whole_file(void **state)
{
	char path[] = "/tmp/fsc-spec-XXXXXX", *text = 0, err[512];
	int fd = mkstemp(path);
	size_t len = 0;

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, HEAD, strlen(HEAD)), (ssize_t)strlen(HEAD));
	close(fd);
	assert_int_equal(fsc_spec_read(path, &text, &len, err, sizeof(err)), 0);
	assert_int_equal(len, strlen(HEAD));
	assert_string_equal(text, HEAD);
	free(text);
	unlink(path);
}

static void fsc_spec_free__accepts_null(void **state)
{
	(void)state;
	fsc_spec_free(0);
	assert_null(fsc_spec_fabric_find(0, "tcp"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(fsc_spec_parse__full_spec),
	        cmocka_unit_test(fsc_spec_parse__minimal_spec_keeps_runner_defaults),
	        cmocka_unit_test(fsc_spec_parse__test_required),
	        cmocka_unit_test(fsc_spec_parse__yaml_syntax_error),
	        cmocka_unit_test(fsc_spec_parse__unknown_keys),
	        cmocka_unit_test(fsc_spec_parse__wrong_types),
	        cmocka_unit_test(fsc_spec_parse__thresholds_need_units),
	        cmocka_unit_test(fsc_spec_parse__schema_rules),
	        cmocka_unit_test(fsc_spec_parse__same_check_at_two_sizes),
	        cmocka_unit_test(fsc_spec_parse__anchors_and_aliases),
	        cmocka_unit_test(fsc_spec_parse__nul_byte_is_rejected),
	        cmocka_unit_test(fsc_spec_parse_time_us__units),
	        cmocka_unit_test(fsc_spec_parse_bw_GBps__units),
	        cmocka_unit_test(fsc_spec_parse_ratio__forms),
	        cmocka_unit_test(fsc_spec_read__missing_file),
	        cmocka_unit_test(fsc_spec_read__reads_whole_file),
	        cmocka_unit_test(fsc_spec_free__accepts_null),
	};

	return cmocka_run_group_tests(tests, 0, 0);
}
