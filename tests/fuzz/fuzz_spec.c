/* Fuzz target: the acceptance spec reader (YAML through libyaml, then the
 * schema checks of src/spec.c).  The input is the spec file's content; it
 * is handed over NUL-terminated, as fsc_spec_read does.  A rejected spec
 * must say why in one "path:line:col: message" line; an accepted one is
 * walked the way accept.c walks it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fsc_spec *s = 0;
	char err[1024];
	char *text;

	if (size > FSC_SPEC_MAX_BYTES)
		return 0;
	text = malloc(size + 1);
	if (!text)
		return 0;
	if (size)
		memcpy(text, data, size);
	text[size] = 0;
	err[0] = 0;
	if (fsc_spec_parse(text, size, "fuzz.yaml", &s, err, sizeof(err))) {
		FUZZ_CHECK(!s && !strncmp(err, "fuzz.yaml", 9));
	} else {
		FUZZ_CHECK(s && s->name);
		for (size_t i = 0; i < s->ntests; i++) {
			const struct fsc_spec_test *t = &s->tests[i];

			FUZZ_CHECK(t->name && t->pattern);
			for (size_t k = 0; k < t->nfabrics; k++)
				FUZZ_CHECK(t->fabrics[k] != 0);
			for (size_t k = 0; k < t->nopts; k++)
				FUZZ_CHECK(t->opts[k].name && t->opts[k].value);
			for (size_t k = 0; k < t->nchecks; k++)
				FUZZ_CHECK(t->checks[k].name != 0);
		}
		for (size_t i = 0; i < s->nfabrics; i++)
			FUZZ_CHECK(fsc_spec_fabric_find(s, s->fabrics[i].name) != 0);
	}
	fsc_spec_free(s);
	free(text);
	return 0;
}
