/* Unit tests for the text helpers of `fabscope accept` (src/accept_text.c). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "accept_text.h"

static void fsc_accept_fmt_size__largest_exact_unit(void **state)
{
	char b[32];

	(void)state;
	fsc_accept_fmt_size(b, sizeof(b), 0);
	assert_string_equal(b, "0B");
	fsc_accept_fmt_size(b, sizeof(b), 8);
	assert_string_equal(b, "8B");
	fsc_accept_fmt_size(b, sizeof(b), 1536);
	assert_string_equal(b, "1536B");
	fsc_accept_fmt_size(b, sizeof(b), 65536);
	assert_string_equal(b, "64K");
	fsc_accept_fmt_size(b, sizeof(b), 3ull << 20);
	assert_string_equal(b, "3M");
	fsc_accept_fmt_size(b, sizeof(b), 2ull << 30);
	assert_string_equal(b, "2G");
	fsc_accept_fmt_size(b, sizeof(b), (1ull << 30) + 1024);
	assert_string_equal(b, "1048577K");
}

static void fsc_accept_fmt_num__three_digits(void **state)
{
	char b[32];

	(void)state;
	fsc_accept_fmt_num(b, sizeof(b), NAN);
	assert_string_equal(b, "n/a");
	fsc_accept_fmt_num(b, sizeof(b), 1234.4);
	assert_string_equal(b, "1234");
	fsc_accept_fmt_num(b, sizeof(b), 123.44);
	assert_string_equal(b, "123.4");
	fsc_accept_fmt_num(b, sizeof(b), 12.344);
	assert_string_equal(b, "12.34");
	fsc_accept_fmt_num(b, sizeof(b), 0);
	assert_string_equal(b, "0.00");
	fsc_accept_fmt_num(b, sizeof(b), 1.2345);
	assert_string_equal(b, "1.23");
	fsc_accept_fmt_num(b, sizeof(b), 0.0012345);
	assert_string_equal(b, "0.00123");
	fsc_accept_fmt_num(b, sizeof(b), -250.0);
	assert_string_equal(b, "-250.0");
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
