/* Unit-test helpers shared by the tests of `fabscope accept`: JSON
 * written in a test, and the one assertion on a link suspect.  Header-only
 * (static inline, so a test that uses one of them only still builds under
 * -Werror).
 */
#ifndef FSC_TEST_ACCEPT_FIXTURES_H
#define FSC_TEST_ACCEPT_FIXTURES_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>

/* The JSON value written in text (the caller owns it); the test fails with
 * the parser's message and column when text is not JSON. */
static inline json_t *load(const char *text)
{
	json_error_t e;
	json_t *v = json_loads(text, 0, &e);

	if (!v)
		print_error("bad JSON in test: %s at %d\n", e.text, e.column);
	assert_non_null(v);
	return v;
}

/* s is a suspect link src -> dst with that direction ("one-way", "both"). */
static inline void assert_link_suspect(const json_t *s, const char *src, const char *dst,
                                       const char *direction)
{
	assert_string_equal(json_string_value(json_object_get(s, "kind")), "link");
	assert_string_equal(json_string_value(json_object_get(s, "src")), src);
	assert_string_equal(json_string_value(json_object_get(s, "dst")), dst);
	assert_string_equal(json_string_value(json_object_get(s, "direction")), direction);
}

#endif
