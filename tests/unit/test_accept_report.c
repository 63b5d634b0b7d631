/* Unit tests for the verdict of `fabscope accept` and its outputs
 * (src/accept_report.c): counts and summary, JUnit XML, terminal table. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "accept_fixtures.h"
#include "accept_report.h"
#include "err.h"

/* ---- JUnit ---- */

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = calloc(1, 1 << 16);

	assert_non_null(f);
	assert_non_null(buf);
	assert_true(fread(buf, 1, (1 << 16) - 1, f) > 0);
	fclose(f);
	return buf;
}

static void fsc_accept_junit_write__cases_and_escaping(void **state)
{
	json_t *acc = load(
	        "{\"spec\":{\"name\":\"q<&>\",\"path\":\"s.yaml\"},\"verdict\":\"FAIL\","
	        "\"summary\":\"FAIL: 1 of 3 checks failed; suspects: h0->h2\","
	        " \"start_time\":\"2024-01-01T00:00:00Z\",\"duration_s\":2.5,"
	        " \"counts\":{\"checks\":3,\"passed\":1,\"failed\":1,\"skipped\":1},"
	        " \"checks\":["
	        "  {\"test\":\"p2p\",\"fabric\":\"tcp\",\"check\":\"latency_p50\","
	        "   \"required\":\"p50 <= 5us\",\"measured\":\"7.5 us\",\"status\":\"fail\","
	        "   \"retried\":true,\"first_measured\":\"8 us\",\"duration_s\":1.0,"
	        "   \"suspects\":[{\"kind\":\"node\",\"host\":\"h2\",\"metric\":[\"bandwidth\"]}]},"
	        "  {\"test\":\"p2p\",\"fabric\":\"ucx\",\"check\":\"completed\","
	        "   \"required\":\"every point runs\",\"measured\":\"no \\\"ucx\\\"\","
	        "   \"status\":\"skip\",\"retried\":false,\"duration_s\":0,\"suspects\":[]},"
	        "  {\"test\":\"p2p\",\"fabric\":\"mpi\",\"check\":\"completed\","
	        "   \"required\":\"every point runs\",\"measured\":\"1 point\",\"status\":\"pass\","
	        "   \"retried\":false,\"duration_s\":0.5,\"suspects\":[]}]}");
	char path[] = "/tmp/fsc-junit-XXXXXX", err[256], *xml;
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(fsc_accept_junit_write(acc, path, err, sizeof(err)), 0);
	xml = slurp(path);
	assert_string_equal(
	        xml,
	        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	        "<testsuites name=\"fabscope accept\" tests=\"3\" failures=\"1\" errors=\"0\" "
	        "skipped=\"1\" time=\"2.500\">\n"
	        "  <testsuite name=\"q&lt;&amp;&gt;\" tests=\"3\" failures=\"1\" errors=\"0\" "
	        "skipped=\"1\" time=\"2.500\" timestamp=\"2024-01-01T00:00:00Z\">\n"
	        "    <properties>\n"
	        "      <property name=\"spec\" value=\"s.yaml\"/>\n"
	        "      <property name=\"verdict\" value=\"FAIL\"/>\n"
	        "      <property name=\"summary\" value=\"FAIL: 1 of 3 checks failed; suspects: "
	        "h0-&gt;h2\"/>\n"
	        "    </properties>\n"
	        "    <testcase classname=\"p2p.tcp\" name=\"latency_p50\" time=\"1.000\">\n"
	        "      <failure type=\"fabscope.check\" message=\"p50 &lt;= 5us: measured 7.5 us "
	        "(retried)\">required: p50 &lt;= 5us\n"
	        "measured: 7.5 us\n"
	        "retried: attempt 1 measured 8 us\n"
	        "suspects: h2 (node slow)</failure>\n"
	        "    </testcase>\n"
	        "    <testcase classname=\"p2p.ucx\" name=\"completed\" time=\"0.000\">\n"
	        "      <skipped message=\"no &quot;ucx&quot;\"/>\n"
	        "    </testcase>\n"
	        "    <testcase classname=\"p2p.mpi\" name=\"completed\" time=\"0.500\">\n"
	        "      <system-out>required: every point runs\n"
	        "measured: 1 point</system-out>\n"
	        "    </testcase>\n"
	        "  </testsuite>\n"
	        "</testsuites>\n");
	free(xml);
	unlink(path);
	json_decref(acc);
}

static void fsc_accept_junit_write__unwritable_path(void **state)
{
	json_t *acc = load("{\"checks\":[]}");
	char err[256];

	(void)state;
	assert_int_equal(fsc_accept_junit_write(acc, "/nonexistent/dir/j.xml", err, sizeof(err)),
	                 -ENOENT);
	assert_non_null(strstr(err, "cannot write JUnit file '/nonexistent/dir/j.xml.tmp."));
	assert_non_null(strstr(err, "': No such file or directory"));
	json_decref(acc);
}

/* ---- verdict ---- */

static json_t *checks_of(const char *statuses)
{
	json_t *a = json_array();

	for (const char *p = statuses; *p; p++)
		json_array_append_new(a,
		                      json_pack("{s:s, s:s, s:s, s:s, s:s}", "test", "t", "fabric",
		                                *p == 's' ? "ucx" : "tcp", "check", "c", "status",
		                                *p == 'p'   ? "pass"
		                                : *p == 'f' ? "fail"
		                                            : "skip",
		                                "measured",
		                                *p == 's' ? "fabric ucx not usable here" : "1 us"));
	return a;
}

static int verdict(const char *statuses, const char *suspects, json_t **acc)
{
	json_t *checks = checks_of(statuses), *sus = load(suspects), *runs = json_array();
	int code;

	*acc = json_object();
	code = fsc_accept_verdict(*acc, checks, sus, runs, 1.5);
	json_decref(checks);
	json_decref(sus);
	json_decref(runs);
	return code;
}

static const char *jstr(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static void fsc_accept_verdict__counts_summary_and_exit_code(void **state)
{
	json_t *acc;

	(void)state;
	assert_int_equal(verdict("pfs",
	                         "[{\"kind\":\"node\",\"host\":\"h2\",\"metric\":[\"bandwidth\"]}]",
	                         &acc),
	                 FSC_EXIT_FAIL);
	assert_string_equal(jstr(acc, "verdict"), "FAIL");
	assert_string_equal(jstr(acc, "summary"),
	                    "FAIL: 1 of 3 checks failed; suspects: h2 (node slow)");
	assert_int_equal(
	        json_integer_value(json_object_get(json_object_get(acc, "counts"), "skipped")), 1);
	assert_int_equal(json_array_size(json_object_get(acc, "checks")), 3);
	assert_true(json_real_value(json_object_get(acc, "duration_s")) == 1.5);
	json_decref(acc);

	/* a pass says what it did not judge, each reason once */
	assert_int_equal(verdict("pss", "[]", &acc), FSC_EXIT_OK);
	assert_string_equal(jstr(acc, "verdict"), "PASS");
	assert_string_equal(jstr(acc, "summary"),
	                    "PASS: 1 of 3 checks passed, 2 skipped (ucx: fabric ucx not usable "
	                    "here)");
	json_decref(acc);

	assert_int_equal(verdict("pp", "[]", &acc), FSC_EXIT_OK);
	assert_string_equal(jstr(acc, "summary"), "PASS: 2 of 2 checks passed, 0 skipped");
	json_decref(acc);

	/* nothing judged is never a pass */
	assert_int_equal(verdict("ss", "[]", &acc), FSC_EXIT_USAGE);
	assert_string_equal(jstr(acc, "verdict"), "NOT RUN");
	assert_string_equal(jstr(acc, "summary"),
	                    "NOT RUN: every check was skipped (2); nothing could be judged (ucx: "
	                    "fabric ucx not usable here)");
	json_decref(acc);
}

static void fsc_accept_print__table_failures_and_verdict(void **state)
{
	json_t *acc = load(
	        "{\"summary\":\"FAIL: 1 of 2 checks failed\","
	        " \"checks\":["
	        "  {\"test\":\"p2p\",\"fabric\":\"tcp\",\"check\":\"latency_p50\","
	        "   \"required\":\"p50 <= 5us\",\"measured\":\"7.5 us\",\"status\":\"fail\","
	        "   \"retried\":true,\"first_measured\":\"8 us\","
	        "   \"suspects\":[{\"kind\":\"link\",\"src\":\"h0\",\"dst\":\"h1\","
	        "                 \"direction\":\"one-way\",\"metric\":[\"latency\"]}]},"
	        "  {\"test\":\"p2p\",\"fabric\":\"tcp\",\"check\":\"completed\","
	        "   \"required\":\"every point runs\",\"measured\":\"1 point\",\"status\":\"pass\","
	        "   \"retried\":false,\"suspects\":[]}],"
	        " \"suspects\":[{\"kind\":\"link\",\"src\":\"h0\",\"dst\":\"h1\","
	        "   "
	        "\"direction\":\"one-way\",\"metric\":[\"latency\"],\"seen_in\":[\"p2p/tcp\"]}]}");
	char *buf = 0;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	(void)state;
	assert_non_null(f);
	fsc_accept_print(f, acc);
	fclose(f);
	assert_string_equal(
	        buf,
	        "\n"
	        "test  fabric  check        required          measured  result\n"
	        "p2p   tcp     latency_p50  p50 <= 5us        7.5 us    FAIL (retried)\n"
	        "p2p   tcp     completed    every point runs  1 point   PASS\n"
	        "FAIL p2p/tcp latency_p50: 7.5 us (retried; attempt 1: 8 us); suspects: h0->h1 "
	        "(link high latency)\n"
	        "suspect: h0->h1 (link high latency), seen in p2p/tcp\n"
	        "verdict: FAIL: 1 of 2 checks failed\n");
	free(buf);
	json_decref(acc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(fsc_accept_junit_write__cases_and_escaping),
	        cmocka_unit_test(fsc_accept_junit_write__unwritable_path),
	        cmocka_unit_test(fsc_accept_verdict__counts_summary_and_exit_code),
	        cmocka_unit_test(fsc_accept_print__table_failures_and_verdict),
	};

	return cmocka_run_group_tests(tests, 0, 0);
}
