/* Declarative options and the one generic parser.
 *
 * Every module (core, each fabric, each pattern) declares a table of
 * struct fsc_opt; the parser gathers the tables of everything built, builds
 * getopt_long from them, validates values by type and bounds, prints --help
 * with the real defaults, and renders the effective configuration as JSON
 * for the results.  There is no global option state: modules read typed
 * values from the struct fsc_config they are handed.
 *
 * Option names are global (long names, no leading "--"); fabric and pattern
 * options carry their module's prefix (--tcp-if, --lb-lat, --pipe-stages).
 */
#ifndef FSC_OPTIONS_H
#define FSC_OPTIONS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum fsc_opt_type {
	FSC_OPT_FLAG,   /* no argument; true when given */
	FSC_OPT_INT,    /* signed decimal integer */
	FSC_OPT_SIZE,   /* byte count with optional K/M/G/T suffix (x1024) */
	FSC_OPT_DOUBLE, /* floating point */
	FSC_OPT_TIME,   /* duration: number with ns|us|ms|s suffix (bare = s) */
	FSC_OPT_STRING, /* any text */
	FSC_OPT_CHOICE, /* one of `choices` */
	FSC_OPT_LIST,   /* comma-separated; each item in `choices` if set */
};

struct fsc_opt {
	const char *name; /* long name without "--"; NULL ends a table */
	char short_name;  /* 0 if none */
	enum fsc_opt_type type;
	const char *defval; /* default as text; NULL = unset */
	const char *help;
	const char *choices; /* CHOICE/LIST: "a|b|c"; NULL = free */
	double min, max;     /* INT/SIZE/DOUBLE/TIME bounds, inclusive
	                        (SIZE in bytes, TIME in ns); ignored when
	                        min == max == 0.  Every numeric option of
	                        fabscope states its range: --help prints
	                        it and a value outside it is refused. */
};

/* Common bounds for option tables. */
#define FSC_OPT_SIZE_MAX 1099511627776.0 /* 1T: a message size's upper bound */
#define FSC_OPT_TIME_MS 1e6              /* 1 ms in ns */
#define FSC_OPT_TIME_S 1e9               /* 1 s in ns */
#define FSC_OPT_TIME_DAY 86400e9         /* 24 h in ns */

/* A module's table under a heading for --help. */
struct fsc_opt_group {
	const char *title;
	const struct fsc_opt *opts;
};

struct fsc_config;

/* Parse argv (argv[0] is skipped; getopt permutation is disabled so the
 * first non-option ends parsing).  On error returns -EINVAL and writes one
 * line to `err` naming the bad value and what is valid, e.g.
 *   "invalid value '12Q' for --min: expected a size such as 8, 4K, 1M, 1G"
 * Positional arguments left are counted in *optind_out (may be NULL). */
int fsc_config_parse(struct fsc_config **out, const struct fsc_opt_group *groups, size_t ngroups,
                     int argc, char **argv, int *optind_out, char *err, size_t errlen);

/* A config holding only the defaults (for tests and library use). */
int fsc_config_defaults(struct fsc_config **out, const struct fsc_opt_group *groups,
                        size_t ngroups);

/* Override one option programmatically, validated like the command line. */
int fsc_config_set(struct fsc_config *cfg, const char *name, const char *value, char *err,
                   size_t errlen);

void fsc_config_free(struct fsc_config *cfg);

/* Typed getters.  Asking for an option that no table declares is a
 * programming error: it logs and returns 0/NULL/false. */
bool fsc_cfg_is_set(const struct fsc_config *cfg, const char *name); /* given explicitly */
bool fsc_cfg_has(const struct fsc_config *cfg, const char *name);    /* has a value */
const char *fsc_cfg_str(const struct fsc_config *cfg, const char *name);
int64_t fsc_cfg_int(const struct fsc_config *cfg, const char *name);
uint64_t fsc_cfg_size(const struct fsc_config *cfg, const char *name);
double fsc_cfg_double(const struct fsc_config *cfg, const char *name);
uint64_t fsc_cfg_time_ns(const struct fsc_config *cfg, const char *name);
bool fsc_cfg_flag(const struct fsc_config *cfg, const char *name);
/* LIST: number of items; *items points into the config (do not free). */
size_t fsc_cfg_list(const struct fsc_config *cfg, const char *name, const char *const **items);

/* --help text for every group, with defaults and choices. */
void fsc_config_help(FILE *f, const struct fsc_opt_group *groups, size_t ngroups);

/* Effective configuration as a JSON object {name: value-as-text}. */
json_t *fsc_config_to_json(const struct fsc_config *cfg);

/* Stable hash of the effective configuration (for cross-rank agreement). */
uint64_t fsc_config_hash(const struct fsc_config *cfg);

/* Value parsers shared with other modules (spec files).  Return 0 or
 * -EINVAL; never print. */
int fsc_parse_size(const char *s, uint64_t *out);    /* "8", "4K", "1M", "1G", "1T" */
int fsc_parse_time_ns(const char *s, uint64_t *out); /* "30", "5s", "200ms", "1us", "10ns" */

/* Message sizes min, min*factor, ... <= max (max always included when
 * min <= max, as OSU does).  min == 0 gives a first point of 0 bytes, then
 * continues from 1.  -EINVAL (with message) for min > max or factor < 2.
 * *sizes is malloc'ed. */
int fsc_sizes_build(uint64_t min, uint64_t max, uint64_t factor, uint64_t **sizes, size_t *n,
                    char *err, size_t errlen);

#endif
