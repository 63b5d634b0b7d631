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
 *
 * A module's table is the single source of truth for its options: each
 * entry names the field of the module's settings struct that holds the
 * value (FSC_AT_INT(struct x, iters), ...), and fsc_config_fill copies
 * typed values into that struct once.  Modules then read fields, never
 * names, so a misspelt option is a build error; choices arrive as the index
 * of the value in `choices` (an enum declared in the same order).
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

/* Where fsc_config_fill stores an option's value; size 0: nowhere (the
 * option is read by string lookup, or by nobody). */
struct fsc_opt_field {
	size_t offset;
	size_t size;            /* sizeof the field */
	enum fsc_opt_type type; /* must equal the option's type */
};

/* A LIST option's value in a settings struct; items point into the config
 * (NULL-terminated; NULL and n == 0 when the option has no value). */
struct fsc_opt_list {
	size_t n;
	const char *const *items;
};

struct fsc_opt {
	const char *name; /* long name without "--"; NULL ends a table */
	char short_name;  /* 0 if none */
	enum fsc_opt_type type;
	const char *defval; /* default as text; NULL = unset */
	const char *help;
	const char *choices;     /* CHOICE/LIST: "a|b|c"; NULL = free */
	double min, max;         /* INT/SIZE/DOUBLE/TIME bounds, inclusive
	                            (SIZE in bytes, TIME in ns); ignored when
	                            min == max == 0.  Every numeric option of
	                            fabscope states its range: --help prints
	                            it and a value outside it is refused. */
	struct fsc_opt_field at; /* FSC_AT_*(): the settings field */
	size_t has_at;           /* FSC_HAS(): the settings bool recording whether
	                            the option has a value; 0 = none */
};

/* The field of settings struct `st` that holds an option, type-checked at
 * build time: FLAG bool, INT int64_t, SIZE and TIME (ns) uint64_t, DOUBLE
 * double, STRING const char * (into the config or the table; NULL when
 * unset), LIST struct fsc_opt_list, CHOICE an int-sized enum whose
 * enumerators follow the order of `choices`. */
#define FSC_AT_(st, f, T, k)                                                                       \
	{                                                                                          \
		offsetof(st, f) + 0 * sizeof(char[_Generic(((st *)0)->f, T : 1)]), sizeof(T), k    \
	}
#define FSC_AT_FLAG(st, f) FSC_AT_(st, f, bool, FSC_OPT_FLAG)
#define FSC_AT_INT(st, f) FSC_AT_(st, f, int64_t, FSC_OPT_INT)
#define FSC_AT_SIZE(st, f) FSC_AT_(st, f, uint64_t, FSC_OPT_SIZE)
#define FSC_AT_DOUBLE(st, f) FSC_AT_(st, f, double, FSC_OPT_DOUBLE)
#define FSC_AT_TIME(st, f) FSC_AT_(st, f, uint64_t, FSC_OPT_TIME)
#define FSC_AT_STRING(st, f) FSC_AT_(st, f, const char *, FSC_OPT_STRING)
#define FSC_AT_LIST(st, f) FSC_AT_(st, f, struct fsc_opt_list, FSC_OPT_LIST)
#define FSC_AT_CHOICE(st, f)                                                                       \
	{                                                                                          \
		offsetof(st, f) + 0 * sizeof(char[sizeof(((st *)0)->f) == sizeof(int) ? 1 : -1]),  \
		        sizeof(int), FSC_OPT_CHOICE                                                \
	}

/* A bool of settings struct `st` that fsc_config_fill sets when the option
 * has a value (its default or one given) and clears when it has none: for
 * an option without a default whose field cannot tell "no value" from a
 * value (a CHOICE's first item, an INT whose range holds 0).  Follows the
 * FSC_AT_*() of the entry. */
#define FSC_HAS(st, f) (offsetof(st, f) + 1 + 0 * sizeof(char[_Generic(((st *)0)->f, bool : 1)]))

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

/* Typed getters by name, for tests and tools that inspect a config.
 * Modules do not read options by name: they fill their settings struct with
 * fsc_config_fill.  Asking for an option that no table declares is a
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

/* Fill the settings struct `dst` from the fields of `table` (entries
 * without a field are left alone), and each FSC_HAS() bool.  An option the config does not hold
 * (NULL cfg, or one built without this table) gets the table's default,
 * or zero/NULL when it has none (a list default is parsed once and kept
 * for the life of the process).  Checks the table: a field whose
 * type differs from its option's, a default that does not parse, or
 * a config option of the same name with another type is -EINVAL with one
 * line in err.  Strings and list items point into cfg or the table: they
 * live as long as both. */
int fsc_config_fill(const struct fsc_config *cfg, const struct fsc_opt *table, void *dst, char *err,
                    size_t errlen);

/* The text of choice `index` of option `o` (NULL when out of range), for
 * printing an enum filled by fsc_config_fill. */
const char *fsc_opt_choice_name(const struct fsc_opt *o, int index, char *buf, size_t len);

/* --help text for every group, with defaults and choices. */
void fsc_config_help(FILE *f, const struct fsc_opt_group *groups, size_t ngroups);

/* Effective configuration as a JSON object {name: value}: integers as
 * JSON integers, sizes as integers of bytes, durations as integers of
 * nanoseconds, numbers as reals, flags as booleans, lists as arrays of
 * strings, strings and choices as strings. */
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
