/* Unit-test helper: two JSON objects hold the same value under each of the
 * given keys (compared as sorted-key JSON text, so a failure prints both).
 * Header-only: every test is one cmocka executable. */
#ifndef FSC_TEST_JSON_FIELDS_H
#define FSC_TEST_JSON_FIELDS_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>

#include <jansson.h>

static void assert_json_fields_equal(const json_t *a, const json_t *b, const char *const *keys,
                                     size_t nkeys)
{
	for (size_t i = 0; i < nkeys; i++) {
		char *x = json_dumps(json_object_get(a, keys[i]), JSON_SORT_KEYS | JSON_ENCODE_ANY),
		     *y = json_dumps(json_object_get(b, keys[i]), JSON_SORT_KEYS | JSON_ENCODE_ANY);

		assert_non_null(x);
		assert_string_equal(x, y);
		free(x);
		free(y);
	}
}

#endif
