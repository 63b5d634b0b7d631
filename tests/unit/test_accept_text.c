/* Unit tests for the text helpers of `fabscope accept` (src/accept_text.c). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "accept_text.h"

/* What fsc_accept_fmt_size() and fsc_accept_fmt_num() write for one value. */
static void assert_fmt_size(uint64_t bytes, const char *want)
{
	char b[32];

	fsc_accept_fmt_size(b, sizeof(b), bytes);
	assert_string_equal(b, want);
}

static void assert_fmt_num(double v, const char *want)
{
	char b[32];

	fsc_accept_fmt_num(b, sizeof(b), v);
	assert_string_equal(b, want);
}

static void fsc_accept_fmt_size__largest_exact_unit(void **state)
{
	(void)state;
	assert_fmt_size(0, "0B");
	assert_fmt_size(8, "8B");
	assert_fmt_size(1536, "1536B");
	assert_fmt_size(65536, "64K");
	assert_fmt_size(3ull << 20, "3M");
	assert_fmt_size(2ull << 30, "2G");
	assert_fmt_size((1ull << 30) + 1024, "1048577K");
}

static void fsc_accept_fmt_num__three_digits(void **state)
{
	(void)state;
	assert_fmt_num(NAN, "n/a");
	assert_fmt_num(1234.4, "1234");
	assert_fmt_num(123.44, "123.4");
	assert_fmt_num(12.344, "12.34");
	assert_fmt_num(0, "0.00");
	assert_fmt_num(1.2345, "1.23");
	assert_fmt_num(0.0012345, "0.00123");
	assert_fmt_num(-250.0, "-250.0");
}

static void fsc_accept_appendf__appends_and_cuts(void **state)
{
	char b[8] = "";

	(void)state;
	fsc_accept_appendf(b, sizeof(b), "%s", "ab");
	fsc_accept_appendf(b, sizeof(b), "%d", 12);
	assert_string_equal(b, "ab12");
	fsc_accept_appendf(b, sizeof(b), "%s", "xyzw");
	assert_string_equal(b, "ab12xyz"); /* cut, terminated */
	fsc_accept_appendf(b, sizeof(b), "%s", "more");
	assert_string_equal(b, "ab12xyz"); /* full: unchanged */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(fsc_accept_fmt_size__largest_exact_unit),
	        cmocka_unit_test(fsc_accept_fmt_num__three_digits),
	        cmocka_unit_test(fsc_accept_appendf__appends_and_cuts),
	};

	return cmocka_run_group_tests(tests, 0, 0);
}
