/* Fuzz target: a whole `fabscope run` command line through the generic
 * getopt-based parser, with the real option tables of everything built
 * (fsc_session_option_groups), then what main does with a parsed config
 * before any fabric starts: every typed getter, the message sizes from
 * --min/--max/--factor, the JSON echo and the agreement hash.
 *
 * Input: arguments separated by '\n' (a NUL ends the input), argv[0] is
 * "fabscope".  At most 64 arguments are used. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "options.h"
#include "session.h"

#define MAX_ARGS 64

static void read_back(const struct fsc_config *cfg, const struct fsc_opt_group *g, size_t ng)
{
	for (size_t k = 0; k < ng; k++) {
		for (const struct fsc_opt *o = g[k].opts; o && o->name; o++) {
			const char *const *items;

			if (!fsc_cfg_has(cfg, o->name))
				continue;
			switch (o->type) {
			case FSC_OPT_INT: (void)fsc_cfg_int(cfg, o->name); break;
			case FSC_OPT_SIZE: (void)fsc_cfg_size(cfg, o->name); break;
			case FSC_OPT_DOUBLE: (void)fsc_cfg_double(cfg, o->name); break;
			case FSC_OPT_TIME: (void)fsc_cfg_time_ns(cfg, o->name); break;
			case FSC_OPT_FLAG: (void)fsc_cfg_flag(cfg, o->name); break;
			case FSC_OPT_LIST: {
				size_t n = fsc_cfg_list(cfg, o->name, &items);

				for (size_t i = 0; i < n; i++)
					FUZZ_CHECK(items[i] && items[i][0]);
				break;
			}
			default: FUZZ_CHECK(fsc_cfg_str(cfg, o->name) != 0); break;
			}
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fsc_opt_group g[FSC_MAX_OPT_GROUPS];
	size_t ng = fsc_session_option_groups(g, FSC_MAX_OPT_GROUPS);
	char *argv[MAX_ARGS + 2], *text = fuzz_cstring(data, size), *p;
	struct fsc_config *cfg = 0;
	int argc = 0, next = 0;
	char err[1024];

	if (!text)
		return 0;
	argv[argc++] = "fabscope";
	for (p = text; argc <= MAX_ARGS;) {
		char *nl = strchr(p, '\n');

		argv[argc++] = p;
		if (!nl)
			break;
		*nl = 0;
		p = nl + 1;
	}
	argv[argc] = 0;
	err[0] = 0;
	if (fsc_config_parse(&cfg, g, ng, argc, argv, &next, err, sizeof(err))) {
		FUZZ_CHECK(err[0] != 0 && !cfg); /* a refusal says why, and holds nothing */
	} else {
		uint64_t *sizes = 0;
		size_t n = 0;
		json_t *j;

		FUZZ_CHECK(next >= 1 && next <= argc);
		read_back(cfg, g, ng);
		if (!fsc_sizes_build(fsc_cfg_size(cfg, "min"), fsc_cfg_size(cfg, "max"),
		                     (uint64_t)fsc_cfg_int(cfg, "factor"), &sizes, &n, err,
		                     sizeof(err)))
			FUZZ_CHECK(n >= 1);
		free(sizes);
		j = fsc_config_to_json(cfg);
		FUZZ_CHECK(j != 0);
		json_decref(j);
		(void)fsc_config_hash(cfg);
		fsc_config_free(cfg);
	}
	free(text);
	return 0;
}
