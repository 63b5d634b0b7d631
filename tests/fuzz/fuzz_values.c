/* Fuzz target: the value parsers, one per input.
 *
 * Input: the first byte picks the parser, the rest is the text (cut at the
 * first NUL, as a C string from argv or YAML would be):
 *   0 fsc_parse_size            4 fsc_spec_parse_ratio
 *   1 fsc_parse_time_ns         5 a size range "MIN:MAX:FACTOR" -> fsc_sizes_build
 *   2 fsc_spec_parse_time_us    6.. fsc_config_set on one option of a table
 *   3 fsc_spec_parse_bw_GBps        holding every option type (bounded and not)
 * Properties checked beyond "no crash, no sanitizer error": a value the
 * parser accepts prints back and parses to the same number, and a size
 * range is strictly increasing from min to max. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "options.h"
#include "spec.h"

static const struct fsc_opt table[] = {
        {"int", 'i', FSC_OPT_INT, "1", "bounded integer", 0, -5, 1e6},
        {"int-free", 0, FSC_OPT_INT, 0, "integer", 0, 0, 0},
        {"size", 's', FSC_OPT_SIZE, "4K", "bounded size", 0, 1, 1099511627776.0},
        {"size-free", 0, FSC_OPT_SIZE, 0, "size", 0, 0, 0},
        {"dbl", 'd', FSC_OPT_DOUBLE, "0.5", "bounded number", 0, -1.5, 1e300},
        {"dbl-free", 0, FSC_OPT_DOUBLE, 0, "number", 0, 0, 0},
        {"time", 't', FSC_OPT_TIME, "1s", "bounded duration", 0, 1000, 3.6e12},
        {"time-free", 0, FSC_OPT_TIME, 0, "duration", 0, 0, 0},
        {"str", 0, FSC_OPT_STRING, "x", "text", 0, 0, 0},
        {"choice", 'c', FSC_OPT_CHOICE, "ring", "choice", "ring|rd|native", 0, 0},
        {"list", 'l', FSC_OPT_LIST, "mpi", "list of choices", "mpi|tcp|ucx|loopback", 0, 0},
        {"list-free", 0, FSC_OPT_LIST, 0, "free list", 0, 0, 0},
        {"flag", 'f', FSC_OPT_FLAG, 0, "flag", 0, 0, 0},
        {0},
};

static void check_size(const char *s)
{
	uint64_t v, w;
	char back[32];

	if (fsc_parse_size(s, &v))
		return;
	snprintf(back, sizeof(back), "%llu", (unsigned long long)v);
	FUZZ_CHECK(!fsc_parse_size(back, &w) && w == v);
}

static void check_time(const char *s)
{
	uint64_t v, w;
	char back[32];

	if (fsc_parse_time_ns(s, &v))
		return;
	snprintf(back, sizeof(back), "%lluns", (unsigned long long)v);
	FUZZ_CHECK(!fsc_parse_time_ns(back, &w) && w == v);
}

static void check_range(char *s)
{
	char *min_s = s, *max_s = strchr(s, ':'), *fac_s;
	uint64_t min, max, factor, *sizes = 0;
	size_t n = 0;
	char err[256];

	if (!max_s)
		return;
	*max_s++ = 0;
	fac_s = strchr(max_s, ':');
	if (!fac_s)
		return;
	*fac_s++ = 0;
	if (fsc_parse_size(min_s, &min) || fsc_parse_size(max_s, &max) ||
	    fsc_parse_size(fac_s, &factor))
		return;
	if (fsc_sizes_build(min, max, factor, &sizes, &n, err, sizeof(err)))
		return;
	FUZZ_CHECK(n >= 1 && sizes[0] == min && sizes[n - 1] == max);
	for (size_t i = 1; i < n; i++)
		FUZZ_CHECK(sizes[i] > sizes[i - 1]);
	free(sizes);
}

static void check_option(unsigned which, const char *s)
{
	struct fsc_opt_group g = {"fuzz", table};
	size_t nopts = sizeof(table) / sizeof(table[0]) - 1;
	const struct fsc_opt *o = &table[which % nopts];
	struct fsc_config *cfg = 0;
	char err[512];
	json_t *j;

	if (fsc_config_defaults(&cfg, &g, 1))
		return;
	err[0] = 0;
	if (fsc_config_set(cfg, o->name, s, err, sizeof(err)))
		FUZZ_CHECK(err[0] != 0); /* a refusal always says why */
	/* Read everything back, as the runner and the results writer do. */
	for (const struct fsc_opt *p = table; p->name; p++) {
		const char *const *items;

		(void)fsc_cfg_is_set(cfg, p->name);
		if (!fsc_cfg_has(cfg, p->name))
			continue;
		switch (p->type) {
		case FSC_OPT_INT: (void)fsc_cfg_int(cfg, p->name); break;
		case FSC_OPT_SIZE: (void)fsc_cfg_size(cfg, p->name); break;
		case FSC_OPT_DOUBLE: (void)fsc_cfg_double(cfg, p->name); break;
		case FSC_OPT_TIME: (void)fsc_cfg_time_ns(cfg, p->name); break;
		case FSC_OPT_FLAG: (void)fsc_cfg_flag(cfg, p->name); break;
		case FSC_OPT_LIST: {
			size_t n = fsc_cfg_list(cfg, p->name, &items);

			for (size_t i = 0; i < n; i++)
				FUZZ_CHECK(items[i] && items[i][0]);
			break;
		}
		default: (void)fsc_cfg_str(cfg, p->name); break;
		}
	}
	j = fsc_config_to_json(cfg);
	json_decref(j);
	(void)fsc_config_hash(cfg);
	fsc_config_free(cfg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;
	double d;
	unsigned which;

	if (size < 1)
		return 0;
	which = data[0];
	s = fuzz_cstring(data + 1, size - 1);
	if (!s)
		return 0;
	switch (which % 8) {
	case 0: check_size(s); break;
	case 1: check_time(s); break;
	case 2: (void)fsc_spec_parse_time_us(s, &d); break;
	case 3: (void)fsc_spec_parse_bw_GBps(s, &d); break;
	case 4: (void)fsc_spec_parse_ratio(s, &d); break;
	case 5: check_range(s); break;
	default: check_option(which / 8, s); break;
	}
	free(s);
	return 0;
}
