/* The generic option parser: declarative tables -> getopt_long, typed and
 * bounds-checked values, --help with the real defaults, JSON echo and a
 * stable hash of the effective configuration.
 *
 * Limits:
 * - getopt keeps its state in process globals (optind, optarg, optopt and
 *   glibc's hidden scan position).  fsc_config_parse serialises its own
 *   callers with a mutex, restores opterr/optarg/optopt and leaves optind
 *   at 0 (a full reset for the next getopt user), but it cannot protect
 *   against other code calling getopt() at the same time: parse from one
 *   thread at a time.
 * - A config refers to the option tables it was built from (names, help,
 *   choices are not copied): the tables must outlive it.  Module tables are
 *   static const data, so in practice they always do.
 * - Long options must be spelt in full: glibc's unambiguous-prefix matching
 *   ("--it" for "--iters") is rejected, so adding an option later can never
 *   silently change what an existing command line means.
 * - When an option is given several times the last value wins.
 */
#include "options.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"

/* A typed value; LIST items point into list_buf. */
struct cfg_parsed {
	union {
		int64_t i;  /* INT */
		uint64_t u; /* SIZE, TIME (ns) */
		double d;   /* DOUBLE */
		bool b;     /* FLAG */
	} v;
	char *list_buf;
	const char **items; /* NULL-terminated */
	size_t nitems;
};

struct cfg_val {
	const struct fsc_opt *opt;
	bool has;    /* has a value (default or set) */
	bool is_set; /* given on the command line or by fsc_config_set */
	char *text;  /* the value as text (FLAG: "true"/"false") */
	struct cfg_parsed p;
};

struct fsc_config {
	size_t n;
	struct cfg_val *vals;
};

#define SIZE_HINT "expected a size such as 8, 4K, 1M, 1G (suffixes K, M, G, T = x1024)"
#define TIME_HINT "expected a duration such as 30, 5s, 200ms, 1us, 10ns (bare number = seconds)"

/* Serialises our use of getopt's process-global state. */
static pthread_mutex_t getopt_lock = PTHREAD_MUTEX_INITIALIZER;

/* One line into err, or to the log when the caller gave no buffer. */
static void __attribute__((format(printf, 3, 4)))
report(char *err, size_t errlen, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (err && errlen)
		snprintf(err, errlen, "%s", buf);
	else
		fsc_error("%s", buf);
}

/* ------------------------------------------------------------------ */
/* Value parsers                                                        */
/* ------------------------------------------------------------------ */

int fsc_parse_size(const char *s, uint64_t *out)
{
	uint64_t v = 0, mult = 1;
	const char *p = s;

	if (!s || !isdigit((unsigned char)*p))
		return -EINVAL; /* empty, sign, space, "." */
	for (; isdigit((unsigned char)*p); p++) {
		unsigned d = (unsigned)(*p - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	switch (*p) {
	case 'k':
	case 'K':
		mult = 1ull << 10;
		p++;
		break;
	case 'm':
	case 'M':
		mult = 1ull << 20;
		p++;
		break;
	case 'g':
	case 'G':
		mult = 1ull << 30;
		p++;
		break;
	case 't':
	case 'T':
		mult = 1ull << 40;
		p++;
		break;
	default: break;
	}
	if (*p == 'B' || *p == 'b')
		p++;
	if (*p)
		return -EINVAL; /* "0x10", "12Q", "1.5K", trailing junk */
	if (v > UINT64_MAX / mult)
		return -EINVAL;
	*out = v * mult;
	return 0;
}

int fsc_parse_time_ns(const char *s, uint64_t *out)
{
	static const struct {
		const char *suffix;
		uint64_t ns;
	} units[] = {{"ns", 1}, {"us", 1000}, {"ms", 1000000}, {"s", 1000000000}, {"", 1000000000}};
	uint64_t ip = 0, frac = 0, fscale = 1, unit = 0, v;
	bool digits = false;
	const char *p = s;

	if (!s)
		return -EINVAL;
	for (; isdigit((unsigned char)*p); p++) {
		unsigned d = (unsigned)(*p - '0');

		if (ip > (UINT64_MAX - d) / 10)
			return -EINVAL;
		ip = ip * 10 + d;
		digits = true;
	}
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return -EINVAL; /* "1.", "1.s", "." */
		/* Nine fractional digits resolve 1 ns at the coarsest unit (s);
		 * further digits cannot change the rounded result meaningfully
		 * and are ignored. */
		for (; isdigit((unsigned char)*p); p++) {
			if (fscale < 1000000000ull) {
				frac = frac * 10 + (uint64_t)(*p - '0');
				fscale *= 10;
			}
		}
		digits = true;
	}
	if (!digits)
		return -EINVAL; /* empty, sign, junk */
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (!strcmp(p, units[i].suffix)) {
			unit = units[i].ns;
			break;
		}
	}
	if (!unit)
		return -EINVAL;
	if (ip > UINT64_MAX / unit)
		return -EINVAL;
	v = ip * unit;
	/* frac < 1e9 and unit <= 1e9: the product fits in 64 bits.  Round to
	 * the nearest nanosecond. */
	frac = (frac * unit + fscale / 2) / fscale;
	if (v > UINT64_MAX - frac)
		return -EINVAL;
	*out = v + frac;
	return 0;
}

/* Is `word` (length len) one of the '|'-separated `choices`? */
static bool choice_ok(const char *choices, const char *word, size_t len)
{
	const char *c = choices;

	while (*c) {
		size_t l = strcspn(c, "|");

		if (l == len && !strncmp(c, word, len))
			return true;
		c += l;
		if (*c == '|')
			c++;
	}
	return false;
}

/* Bound as text in the option's natural unit: sizes with the largest exact
 * binary suffix ("1G"), durations with the largest exact unit ("100ms"),
 * counts as integers, doubles with %g. */
static void bound_text(const struct fsc_opt *o, double b, char *buf, size_t len)
{
	if ((o->type == FSC_OPT_SIZE || o->type == FSC_OPT_TIME) && b >= 0 &&
	    b < 18446744073709551616.0 && b == floor(b)) {
		static const char *const ssuf[] = {"T", "G", "M", "K"};
		static const unsigned sshift[] = {40, 30, 20, 10};
		static const char *const tsuf[] = {"s", "ms", "us"};
		static const uint64_t tdiv[] = {1000000000ull, 1000000ull, 1000ull};
		uint64_t u = (uint64_t)b;

		if (!u) {
			snprintf(buf, len, "0");
			return;
		}
		if (o->type == FSC_OPT_SIZE) {
			for (int i = 0; i < 4; i++) {
				uint64_t d = 1ull << sshift[i];

				if (u && u % d == 0) {
					snprintf(buf, len, "%" PRIu64 "%s", u / d, ssuf[i]);
					return;
				}
			}
			snprintf(buf, len, "%" PRIu64, u);
		} else {
			for (int i = 0; i < 3; i++) {
				if (u && u % tdiv[i] == 0) {
					snprintf(buf, len, "%" PRIu64 "%s", u / tdiv[i], tsuf[i]);
					return;
				}
			}
			snprintf(buf, len, "%" PRIu64 "ns", u);
		}
		return;
	}
	if (o->type == FSC_OPT_INT && b == floor(b) && fabs(b) < 9.2e18)
		snprintf(buf, len, "%lld", (long long)b);
	else
		snprintf(buf, len, "%g", b);
}

static bool has_bounds(const struct fsc_opt *o)
{
	return (o->min != 0 || o->max != 0) &&
	       (o->type == FSC_OPT_INT || o->type == FSC_OPT_SIZE || o->type == FSC_OPT_DOUBLE ||
	        o->type == FSC_OPT_TIME);
}

static void parsed_clear(struct cfg_parsed *p)
{
	free(p->list_buf);
	free(p->items);
	memset(p, 0, sizeof(*p));
}

static int parse_bool(const char *s, bool *b)
{
	static const char *const yes[] = {"true", "1", "yes", "on"};
	static const char *const no[] = {"false", "0", "no", "off"};

	for (int i = 0; i < 4; i++) {
		if (!strcasecmp(s, yes[i])) {
			*b = true;
			return 0;
		}
		if (!strcasecmp(s, no[i])) {
			*b = false;
			return 0;
		}
	}
	return -EINVAL;
}

static int parse_list(const struct fsc_opt *o, const char *text, struct cfg_parsed *p, char *msg,
                      size_t msglen)
{
	size_t n = 1;
	char *s;

	for (const char *c = text; *c; c++)
		n += *c == ',';
	p->list_buf = strdup(text);
	p->items = calloc(n + 1, sizeof(*p->items));
	if (!p->list_buf || !p->items) {
		parsed_clear(p);
		snprintf(msg, msglen, "out of memory parsing --%s", o->name);
		return -ENOMEM;
	}
	s = p->list_buf;
	for (size_t i = 0; i < n; i++) {
		size_t l = strcspn(s, ",");

		if (!l || (o->choices && !choice_ok(o->choices, s, l))) {
			if (o->choices)
				snprintf(msg, msglen,
				         "invalid value '%s' for --%s: expected a comma-separated "
				         "list of %s",
				         text, o->name, o->choices);
			else
				snprintf(msg, msglen,
				         "invalid value '%s' for --%s: expected a comma-separated "
				         "list without empty items",
				         text, o->name);
			parsed_clear(p);
			return -EINVAL;
		}
		p->items[i] = s;
		s += l;
		if (*s)
			*s++ = 0;
	}
	p->nitems = n;
	return 0;
}

/* Parse and validate `text` for option `o` into `p`.  On error writes the
 * one-line user message into msg. */
static int value_parse(const struct fsc_opt *o, const char *text, struct cfg_parsed *p, char *msg,
                       size_t msglen)
{
	char lo[48], hi[48];
	double num = 0;
	char *end;

	memset(p, 0, sizeof(*p));
	switch (o->type) {
	case FSC_OPT_FLAG:
		if (parse_bool(text, &p->v.b)) {
			snprintf(msg, msglen, "invalid value '%s' for --%s: expected true or false",
			         text, o->name);
			return -EINVAL;
		}
		return 0;
	case FSC_OPT_INT:
		errno = 0;
		p->v.i = strtoll(text, &end, 10);
		if (!*text || isspace((unsigned char)*text) || *end) {
			snprintf(msg, msglen, "invalid value '%s' for --%s: expected an integer",
			         text, o->name);
			return -EINVAL;
		}
		if (errno == ERANGE) {
			snprintf(msg, msglen, "invalid value '%s' for --%s: integer out of range",
			         text, o->name);
			return -EINVAL;
		}
		num = (double)p->v.i;
		break;
	case FSC_OPT_SIZE:
		if (fsc_parse_size(text, &p->v.u)) {
			snprintf(msg, msglen, "invalid value '%s' for --%s: " SIZE_HINT, text,
			         o->name);
			return -EINVAL;
		}
		num = (double)p->v.u;
		break;
	case FSC_OPT_DOUBLE:
		errno = 0;
		p->v.d = strtod(text, &end);
		if (!*text || isspace((unsigned char)*text) || *end || !isfinite(p->v.d) ||
		    (errno == ERANGE && fabs(p->v.d) == HUGE_VAL)) {
			snprintf(msg, msglen,
			         "invalid value '%s' for --%s: expected a finite number", text,
			         o->name);
			return -EINVAL;
		}
		num = p->v.d;
		break;
	case FSC_OPT_TIME:
		if (fsc_parse_time_ns(text, &p->v.u)) {
			snprintf(msg, msglen, "invalid value '%s' for --%s: " TIME_HINT, text,
			         o->name);
			return -EINVAL;
		}
		num = (double)p->v.u;
		break;
	case FSC_OPT_STRING: return 0;
	case FSC_OPT_CHOICE:
		if (!choice_ok(o->choices, text, strlen(text))) {
			snprintf(msg, msglen, "invalid value '%s' for --%s: expected one of %s",
			         text, o->name, o->choices);
			return -EINVAL;
		}
		return 0;
	case FSC_OPT_LIST: return parse_list(o, text, p, msg, msglen);
	}
	if (has_bounds(o)) {
		/* TIME bounds are in ns, SIZE bounds in bytes. */
		if (num < o->min || num > o->max) {
			bound_text(o, o->min, lo, sizeof(lo));
			bound_text(o, o->max, hi, sizeof(hi));
			snprintf(msg, msglen,
			         "invalid value '%s' for --%s: must be between %s and %s", text,
			         o->name, lo, hi);
			memset(p, 0, sizeof(*p));
			return -EINVAL;
		}
	}
	return 0;
}

/* Replace v's value by text/p (consumed on success). */
static int val_commit(struct cfg_val *v, const char *text, struct cfg_parsed *p, bool is_set)
{
	char *t = strdup(v->opt->type == FSC_OPT_FLAG ? (p->v.b ? "true" : "false") : text);

	if (!t) {
		parsed_clear(p);
		return -ENOMEM;
	}
	free(v->text);
	parsed_clear(&v->p);
	v->text = t;
	v->p = *p;
	memset(p, 0, sizeof(*p));
	v->has = true;
	v->is_set = is_set;
	return 0;
}

static int val_assign(struct cfg_val *v, const char *text, bool is_set, char *msg, size_t msglen)
{
	struct cfg_parsed p;
	int rc;

	rc = value_parse(v->opt, text, &p, msg, msglen);
	if (rc)
		return rc;
	rc = val_commit(v, text, &p, is_set);
	if (rc)
		snprintf(msg, msglen, "out of memory setting --%s", v->opt->name);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Building a config from the tables                                    */
/* ------------------------------------------------------------------ */

static const char *type_name(enum fsc_opt_type t)
{
	switch (t) {
	case FSC_OPT_FLAG: return "flag";
	case FSC_OPT_INT: return "integer";
	case FSC_OPT_SIZE: return "size";
	case FSC_OPT_DOUBLE: return "number";
	case FSC_OPT_TIME: return "duration";
	case FSC_OPT_STRING: return "string";
	case FSC_OPT_CHOICE: return "choice";
	case FSC_OPT_LIST: return "list";
	}
	return "?";
}

void fsc_config_free(struct fsc_config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; cfg->vals && i < cfg->n; i++) {
		free(cfg->vals[i].text);
		parsed_clear(&cfg->vals[i].p);
	}
	free(cfg->vals);
	free(cfg);
}

/* Check one table entry for programming errors (not user errors). */
static int opt_check(const struct fsc_opt *o, const char *title, char *err, size_t errlen)
{
	if (!o->name[0] || o->name[0] == '-' || strchr(o->name, '=')) {
		report(err, errlen, "option table error in '%s': bad option name '%s'",
		       title ? title : "?", o->name);
		return -EINVAL;
	}
	if ((unsigned)o->type > FSC_OPT_LIST) {
		report(err, errlen, "option table error: --%s has an unknown type %d", o->name,
		       (int)o->type);
		return -EINVAL;
	}
	if (o->short_name && (!isalnum((unsigned char)o->short_name) || o->short_name == 'W')) {
		report(err, errlen, "option table error: --%s has an unusable short name '%c'",
		       o->name, o->short_name);
		return -EINVAL;
	}
	if (o->type == FSC_OPT_CHOICE && (!o->choices || !o->choices[0])) {
		report(err, errlen, "option table error: choice option --%s has no choices",
		       o->name);
		return -EINVAL;
	}
	if (has_bounds(o) && !(o->min <= o->max)) {
		report(err, errlen, "option table error: --%s has min %g larger than max %g",
		       o->name, o->min, o->max);
		return -EINVAL;
	}
	if (o->at.size && o->at.type != o->type) {
		report(err, errlen,
		       "option table error: --%s has type %s but its field has type %s", o->name,
		       type_name(o->type), type_name(o->at.type));
		return -EINVAL;
	}
	return 0;
}

static int config_build(struct fsc_config **out, const struct fsc_opt_group *groups, size_t ngroups,
                        char *err, size_t errlen)
{
	struct fsc_config *cfg;
	const char **owner = 0;
	size_t n = 0, k = 0;
	char msg[512];
	int rc;

	*out = 0;
	for (size_t g = 0; g < ngroups; g++)
		for (const struct fsc_opt *o = groups[g].opts; o && o->name; o++)
			n++;
	cfg = calloc(1, sizeof(*cfg));
	if (cfg)
		cfg->vals = calloc(n ? n : 1, sizeof(*cfg->vals));
	owner = calloc(n ? n : 1, sizeof(*owner));
	if (!cfg || !cfg->vals || !owner) {
		report(err, errlen, "out of memory building the option table");
		rc = -ENOMEM;
		goto fail;
	}
	for (size_t g = 0; g < ngroups; g++) {
		for (const struct fsc_opt *o = groups[g].opts; o && o->name; o++) {
			const char *title = groups[g].title ? groups[g].title : "?";

			rc = opt_check(o, title, err, errlen);
			if (rc)
				goto fail;
			for (size_t j = 0; j < k; j++) {
				if (!strcmp(cfg->vals[j].opt->name, o->name)) {
					report(err, errlen,
					       "option table error: --%s is declared twice (in "
					       "'%s' and '%s')",
					       o->name, owner[j], title);
					rc = -EINVAL;
					goto fail;
				}
				if (o->short_name &&
				    cfg->vals[j].opt->short_name == o->short_name) {
					report(err, errlen,
					       "option table error: -%c is used by both --%s and "
					       "--%s",
					       o->short_name, cfg->vals[j].opt->name, o->name);
					rc = -EINVAL;
					goto fail;
				}
			}
			owner[k] = title;
			cfg->vals[k].opt = o;
			cfg->n = ++k;
			/* A FLAG without a default is false: flags always have a
			 * value, so the results echo them explicitly. */
			if (o->defval || o->type == FSC_OPT_FLAG) {
				rc = val_assign(&cfg->vals[k - 1], o->defval ? o->defval : "false",
				                false, msg, sizeof(msg));
				if (rc) {
					report(err, errlen,
					       "option table error: the default of --%s is invalid "
					       "(%s)",
					       o->name, msg);
					goto fail;
				}
			}
		}
	}
	free(owner);
	*out = cfg;
	return 0;
fail:
	free(owner);
	fsc_config_free(cfg);
	return rc;
}

int fsc_config_defaults(struct fsc_config **out, const struct fsc_opt_group *groups, size_t ngroups)
{
	return config_build(out, groups, ngroups, 0, 0);
}

static struct cfg_val *find_val(const struct fsc_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n; i++)
		if (!strcmp(cfg->vals[i].opt->name, name))
			return &cfg->vals[i];
	return 0;
}

int fsc_config_set(struct fsc_config *cfg, const char *name, const char *value, char *err,
                   size_t errlen)
{
	struct cfg_val *v = find_val(cfg, name);
	char msg[512];
	int rc;

	if (!v) {
		report(err, errlen, "unknown option --%s", name);
		return -EINVAL;
	}
	if (!value) {
		/* NULL clears the value (back to "no value", not to the
		 * default). */
		free(v->text);
		v->text = 0;
		parsed_clear(&v->p);
		v->has = v->is_set = false;
		return 0;
	}
	rc = val_assign(v, value, true, msg, sizeof(msg));
	if (rc)
		report(err, errlen, "%s", msg);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Command line                                                         */
/* ------------------------------------------------------------------ */

static struct cfg_val *val_by_code(struct fsc_config *cfg, int c)
{
	if (c >= 256 && (size_t)(c - 256) < cfg->n)
		return &cfg->vals[c - 256];
	for (size_t i = 0; c > 0 && c < 256 && i < cfg->n; i++)
		if (cfg->vals[i].opt->short_name == c)
			return &cfg->vals[i];
	return 0;
}

/* The getopt loop proper; called with getopt_lock held. */
static int parse_argv(struct fsc_config *cfg, struct option *lopts, const char *optstring, int argc,
                      char **argv, int *next, char *err, size_t errlen)
{
	char msg[512];
	int c, rc;

	opterr = 0;
	optind = 0; /* 0, not 1: glibc then also resets its hidden state */
	for (;;) {
		int prev = optind ? optind : 1, li = -1;
		const char *arg;
		struct cfg_val *v;

		c = getopt_long(argc, argv, optstring, lopts, &li);
		if (c == -1)
			break;
		arg = prev < argc ? argv[prev] : "";
		if (c == '?' || c == ':') {
			v = val_by_code(cfg, optopt);
			if (c == ':' && v) {
				report(err, errlen, "option --%s needs a value", v->opt->name);
			} else if (v && v->opt->type == FSC_OPT_FLAG) {
				report(err, errlen, "option --%s takes no value", v->opt->name);
			} else if (optopt > 0 && optopt < 256) {
				report(err, errlen, "unknown option -%c (see --help)", optopt);
			} else {
				/* Unknown or ambiguous long option. */
				report(err, errlen, "unknown option %.*s (see --help)",
				       (int)strcspn(arg, "="), arg);
			}
			return -EINVAL;
		}
		v = val_by_code(cfg, c);
		if (!v) { /* cannot happen: every code comes from our table */
			report(err, errlen, "internal error: getopt returned %d", c);
			return -EINVAL;
		}
		if (li >= 0 && !strncmp(arg, "--", 2)) {
			size_t l = strcspn(arg + 2, "=");

			if (l != strlen(v->opt->name) || strncmp(arg + 2, v->opt->name, l)) {
				report(err, errlen,
				       "unknown option %.*s (did you mean --%s? see --help)",
				       (int)(l + 2), arg, v->opt->name);
				return -EINVAL;
			}
		}
		rc = val_assign(v, v->opt->type == FSC_OPT_FLAG ? "true" : optarg, true, msg,
		                sizeof(msg));
		if (rc) {
			report(err, errlen, "%s", msg);
			return rc;
		}
	}
	*next = optind;
	return 0;
}

int fsc_config_parse(struct fsc_config **out, const struct fsc_opt_group *groups, size_t ngroups,
                     int argc, char **argv, int *optind_out, char *err, size_t errlen)
{
	struct fsc_config *cfg = 0;
	struct option *lopts = 0;
	char *optstring = 0;
	size_t pos = 0;
	int rc, next = argc;

	*out = 0;
	if (err && errlen)
		err[0] = 0;
	rc = config_build(&cfg, groups, ngroups, err, errlen);
	if (rc)
		return rc;
	lopts = calloc(cfg->n + 1, sizeof(*lopts));
	optstring = malloc(3 + 2 * cfg->n + 1);
	if (!lopts || !optstring) {
		report(err, errlen, "out of memory parsing the command line");
		rc = -ENOMEM;
		goto out;
	}
	/* "+": stop at the first positional argument (no permutation);
	 * ":": report a missing value as ':' rather than '?'. */
	optstring[pos++] = '+';
	optstring[pos++] = ':';
	for (size_t i = 0; i < cfg->n; i++) {
		const struct fsc_opt *o = cfg->vals[i].opt;

		lopts[i].name = o->name;
		lopts[i].has_arg = o->type == FSC_OPT_FLAG ? no_argument : required_argument;
		lopts[i].flag = 0;
		lopts[i].val = o->short_name ? o->short_name : (int)(256 + i);
		if (o->short_name) {
			optstring[pos++] = o->short_name;
			if (o->type != FSC_OPT_FLAG)
				optstring[pos++] = ':';
		}
	}
	optstring[pos] = 0;

	if (argc > 0 && argv) {
		int s_opterr, s_optopt;
		char *s_optarg;

		pthread_mutex_lock(&getopt_lock);
		s_opterr = opterr;
		s_optopt = optopt;
		s_optarg = optarg;
		rc = parse_argv(cfg, lopts, optstring, argc, argv, &next, err, errlen);
		/* optind = 0 rather than the old value: an error inside "-vxy"
		 * leaves glibc's hidden scan position pointing into our argv,
		 * and only optind == 0 makes the next getopt user, whoever it
		 * is, discard it. */
		optind = 0;
		opterr = s_opterr;
		optopt = s_optopt;
		optarg = s_optarg;
		pthread_mutex_unlock(&getopt_lock);
		if (rc)
			goto out;
	}
	if (optind_out)
		*optind_out = next;
	*out = cfg;
	cfg = 0;
out:
	free(lopts);
	free(optstring);
	fsc_config_free(cfg);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Getters                                                              */
/* ------------------------------------------------------------------ */

static const struct cfg_val *lookup(const struct fsc_config *cfg, const char *name,
                                    enum fsc_opt_type want, bool numeric_ok)
{
	const struct cfg_val *v;

	if (!cfg || !name) {
		fsc_error("option lookup of --%s in %s", name ? name : "(null)",
		          cfg ? "a config" : "no config");
		return 0;
	}
	v = find_val(cfg, name);
	if (!v) {
		fsc_error("no option named --%s", name);
		return 0;
	}
	if (v->opt->type != want &&
	    !(numeric_ok && (v->opt->type == FSC_OPT_INT || v->opt->type == FSC_OPT_SIZE ||
	                     v->opt->type == FSC_OPT_TIME || v->opt->type == FSC_OPT_DOUBLE))) {
		fsc_error("option --%s (type %s) read as type %s", name, type_name(v->opt->type),
		          type_name(want));
		return 0;
	}
	return v->has ? v : 0;
}

/* is_set/has are queries: an undeclared name answers false without
 * logging, so modules may probe for options another module owns (for
 * example --timeout, which only the CLI's core table declares). */
bool fsc_cfg_is_set(const struct fsc_config *cfg, const char *name)
{
	const struct cfg_val *v = cfg && name ? find_val(cfg, name) : 0;

	return v && v->is_set;
}

bool fsc_cfg_has(const struct fsc_config *cfg, const char *name)
{
	const struct cfg_val *v = cfg && name ? find_val(cfg, name) : 0;

	return v && v->has;
}

const char *fsc_cfg_str(const struct fsc_config *cfg, const char *name)
{
	const struct cfg_val *v = cfg && name ? find_val(cfg, name) : 0;

	if (!v) {
		fsc_error("no option named --%s", name ? name : "(null)");
		return 0;
	}
	return v->has ? v->text : 0;
}

int64_t fsc_cfg_int(const struct fsc_config *cfg, const char *name)
{
	const struct cfg_val *v = lookup(cfg, name, FSC_OPT_INT, false);

	return v ? v->p.v.i : 0;
}

uint64_t fsc_cfg_size(const struct fsc_config *cfg, const char *name)
{
	const struct cfg_val *v = lookup(cfg, name, FSC_OPT_SIZE, false);

	return v ? v->p.v.u : 0;
}

/* Reads DOUBLE, and INT/SIZE/TIME (ns) converted to double. */
double fsc_cfg_double(const struct fsc_config *cfg, const char *name)
{
	const struct cfg_val *v = lookup(cfg, name, FSC_OPT_DOUBLE, true);

	if (!v)
		return 0;
	switch (v->opt->type) {
	case FSC_OPT_INT: return (double)v->p.v.i;
	case FSC_OPT_SIZE:
	case FSC_OPT_TIME: return (double)v->p.v.u;
	default: return v->p.v.d;
	}
}

uint64_t fsc_cfg_time_ns(const struct fsc_config *cfg, const char *name)
{
	const struct cfg_val *v = lookup(cfg, name, FSC_OPT_TIME, false);

	return v ? v->p.v.u : 0;
}

bool fsc_cfg_flag(const struct fsc_config *cfg, const char *name)
{
	const struct cfg_val *v = lookup(cfg, name, FSC_OPT_FLAG, false);

	return v ? v->p.v.b : false;
}

size_t fsc_cfg_list(const struct fsc_config *cfg, const char *name, const char *const **items)
{
	const struct cfg_val *v = lookup(cfg, name, FSC_OPT_LIST, false);

	if (items)
		*items = v ? (const char *const *)v->p.items : 0;
	return v ? v->p.nitems : 0;
}

/* ------------------------------------------------------------------ */
/* Filling a module's settings struct                                   */
/* ------------------------------------------------------------------ */

/* Index of `word` in the '|'-separated choices, or -1. */
static int choice_index(const char *choices, const char *word)
{
	const char *c = choices;
	size_t len = strlen(word);

	for (int i = 0; *c; i++) {
		size_t l = strcspn(c, "|");

		if (l == len && !strncmp(c, word, len))
			return i;
		c += l;
		if (*c == '|')
			c++;
	}
	return -1;
}

const char *fsc_opt_choice_name(const struct fsc_opt *o, int index, char *buf, size_t len)
{
	const char *c = o && o->choices ? o->choices : "";

	for (int i = 0; *c && index >= 0; i++) {
		size_t l = strcspn(c, "|");

		if (i == index) {
			snprintf(buf, len, "%.*s", (int)l, c);
			return buf;
		}
		c += l;
		if (*c == '|')
			c++;
	}
	return 0;
}

/* Store one value into its field; p is NULL for "no value" (zero). */
static int field_store(const struct fsc_opt *o, const char *text, const struct cfg_parsed *p,
                       char *base, char *err, size_t errlen)
{
	char *f = base + o->at.offset;
	struct fsc_opt_list l = {0, 0};
	int idx = 0;

	switch (o->type) {
	case FSC_OPT_FLAG: *(bool *)f = p && p->v.b; break;
	case FSC_OPT_INT: *(int64_t *)f = p ? p->v.i : 0; break;
	case FSC_OPT_SIZE:
	case FSC_OPT_TIME: *(uint64_t *)f = p ? p->v.u : 0; break;
	case FSC_OPT_DOUBLE: *(double *)f = p ? p->v.d : 0; break;
	case FSC_OPT_STRING: *(const char **)f = p ? text : 0; break;
	case FSC_OPT_CHOICE:
		if (p) {
			idx = choice_index(o->choices, text);
			if (idx < 0) { /* cannot happen for a validated value */
				report(err, errlen,
				       "invalid value '%s' for --%s: expected one of %s", text,
				       o->name, o->choices);
				return -EINVAL;
			}
		}
		memcpy(f, &idx, sizeof(idx));
		break;
	case FSC_OPT_LIST:
		if (p) {
			l.n = p->nitems;
			l.items = (const char *const *)p->items;
		}
		memcpy(f, &l, sizeof(l));
		break;
	}
	return 0;
}

/* Parsed list defaults of tables filled without a config that holds them,
 * kept for the life of the process (tables are static data). */
struct list_default {
	const struct fsc_opt *opt;
	struct cfg_parsed p;
	struct list_default *next;
};
static struct list_default *list_defaults;
static pthread_mutex_t list_defaults_lock = PTHREAD_MUTEX_INITIALIZER;

static const struct cfg_parsed *list_default(const struct fsc_opt *o, char *err, size_t errlen)
{
	struct list_default *d;
	char msg[512];

	pthread_mutex_lock(&list_defaults_lock);
	for (d = list_defaults; d && d->opt != o; d = d->next)
		;
	if (!d) {
		d = calloc(1, sizeof(*d));
		if (!d) {
			report(err, errlen, "out of memory filling --%s", o->name);
		} else if (value_parse(o, o->defval, &d->p, msg, sizeof(msg))) {
			report(err, errlen,
			       "option table error: the default of --%s is invalid (%s)", o->name,
			       msg);
			free(d);
			d = 0;
		} else {
			d->opt = o;
			d->next = list_defaults;
			list_defaults = d;
		}
	}
	pthread_mutex_unlock(&list_defaults_lock);
	return d ? &d->p : 0;
}

int fsc_config_fill(const struct fsc_config *cfg, const struct fsc_opt *table, void *dst, char *err,
                    size_t errlen)
{
	char msg[512];
	int rc;

	for (const struct fsc_opt *o = table; o && o->name; o++) {
		const struct cfg_val *v;
		struct cfg_parsed p;

		if (!o->at.size && !o->has_at)
			continue;
		rc = opt_check(o, 0, err, errlen);
		if (rc)
			return rc;
		v = cfg ? find_val(cfg, o->name) : 0;
		if (v && v->opt->type != o->type) {
			report(err, errlen,
			       "option table error: --%s has type %s here but type %s in the "
			       "configuration",
			       o->name, type_name(o->type), type_name(v->opt->type));
			return -EINVAL;
		}
		if (o->has_at) {
			bool has = v ? v->has : o->defval || o->type == FSC_OPT_FLAG;

			memcpy((char *)dst + o->has_at - 1, &has, sizeof(has));
		}
		if (!o->at.size)
			continue;
		if (v) {
			rc = field_store(o, v->text, v->has ? &v->p : 0, dst, err, errlen);
			if (rc)
				return rc;
			continue;
		}
		/* Not in this config: the table's own default. */
		if (!o->defval && o->type != FSC_OPT_FLAG) {
			field_store(o, 0, 0, dst, err, errlen);
			continue;
		}
		if (o->type == FSC_OPT_LIST) {
			const struct cfg_parsed *d = list_default(o, err, errlen);

			if (!d)
				return -EINVAL;
			field_store(o, o->defval, d, dst, err, errlen);
			continue;
		}
		rc = value_parse(o, o->defval ? o->defval : "false", &p, msg, sizeof(msg));
		if (rc) {
			report(err, errlen,
			       "option table error: the default of --%s is invalid (%s)", o->name,
			       msg);
			return rc;
		}
		rc = field_store(o, o->defval, &p, dst, err, errlen);
		parsed_clear(&p);
		if (rc)
			return rc;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Help, JSON, hash                                                     */
/* ------------------------------------------------------------------ */

static const char *metavar(enum fsc_opt_type t)
{
	switch (t) {
	case FSC_OPT_FLAG: return "";
	case FSC_OPT_INT: return " INT";
	case FSC_OPT_SIZE: return " SIZE";
	case FSC_OPT_DOUBLE: return " NUM";
	case FSC_OPT_TIME: return " TIME";
	case FSC_OPT_STRING: return " TEXT";
	case FSC_OPT_CHOICE: return " NAME";
	case FSC_OPT_LIST: return " LIST";
	}
	return "";
}

/* Help column where the description starts. */
#define HELP_COL 24

void fsc_config_help(FILE *f, const struct fsc_opt_group *groups, size_t ngroups)
{
	for (size_t g = 0; g < ngroups; g++) {
		const struct fsc_opt *o = groups[g].opts;

		if (!o || !o->name)
			continue;
		fprintf(f, "%s%s:\n", g ? "\n" : "", groups[g].title ? groups[g].title : "Options");
		for (; o->name; o++) {
			char left[128], extra[512];
			bool off = false;
			size_t el = 0;
			int l;

			if (o->short_name)
				l = snprintf(left, sizeof(left), "  -%c, --%s%s", o->short_name,
				             o->name, metavar(o->type));
			else
				l = snprintf(left, sizeof(left), "  --%s%s", o->name,
				             metavar(o->type));
			extra[0] = 0;
			if (o->choices && (o->type == FSC_OPT_CHOICE || o->type == FSC_OPT_LIST))
				el += (size_t)snprintf(extra, sizeof(extra), "%s %s",
				                       o->type == FSC_OPT_LIST
				                               ? "comma-separated list of"
				                               : "one of",
				                       o->choices);
			if (has_bounds(o) && el < sizeof(extra)) {
				char lo[48], hi[48];

				bound_text(o, o->min, lo, sizeof(lo));
				bound_text(o, o->max, hi, sizeof(hi));
				el += (size_t)snprintf(extra + el, sizeof(extra) - el,
				                       "%svalid %s..%s", el ? "; " : "", lo, hi);
			}
			/* A flag's "default false" says nothing: leave it out. */
			if (o->defval && el < sizeof(extra) &&
			    !(o->type == FSC_OPT_FLAG && !parse_bool(o->defval, &off) && !off))
				snprintf(extra + el, sizeof(extra) - el, "%sdefault %s",
				         el ? "; " : "", o->defval);
			fprintf(f, "%s%*s%s%s%s%s%s\n", left, l < HELP_COL - 1 ? HELP_COL - l : 2,
			        "", o->help ? o->help : "", extra[0] && o->help ? " " : "",
			        extra[0] ? "(" : "", extra, extra[0] ? ")" : "");
		}
	}
}

/* JSON strings must be UTF-8; a command line need not be.  Invalid text is
 * echoed with its non-ASCII bytes replaced by '?'. */
static json_t *json_text(const char *s)
{
	json_t *j = json_string(s);
	char *c;

	if (j)
		return j;
	c = strdup(s);
	if (!c)
		return 0;
	for (char *p = c; *p; p++)
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	j = json_string(c);
	free(c);
	return j;
}

/* One value, typed (see options.h). */
static json_t *value_json(const struct cfg_val *v)
{
	json_t *a;

	switch (v->opt->type) {
	case FSC_OPT_FLAG: return json_boolean(v->p.v.b);
	case FSC_OPT_INT: return json_integer((json_int_t)v->p.v.i);
	case FSC_OPT_SIZE:
	case FSC_OPT_TIME:
		/* Beyond JSON's exact integers only without a bound. */
		return v->p.v.u <= (uint64_t)INT64_MAX ? json_integer((json_int_t)v->p.v.u)
		                                       : json_real((double)v->p.v.u);
	case FSC_OPT_DOUBLE: return json_real(v->p.v.d);
	case FSC_OPT_LIST:
		a = json_array();
		for (size_t i = 0; a && i < v->p.nitems; i++) {
			if (json_array_append_new(a, json_text(v->p.items[i]))) {
				json_decref(a);
				return 0;
			}
		}
		return a;
	case FSC_OPT_STRING:
	case FSC_OPT_CHOICE: break;
	}
	return json_text(v->text);
}

json_t *fsc_config_to_json(const struct fsc_config *cfg)
{
	json_t *o = json_object();

	if (!o || !cfg)
		return o;
	for (size_t i = 0; i < cfg->n; i++) {
		const struct cfg_val *v = &cfg->vals[i];
		json_t *j;

		if (!v->has)
			continue;
		j = value_json(v);
		if (!j || json_object_set_new(o, v->opt->name, j)) {
			fsc_error("out of memory rendering the configuration");
			json_decref(o);
			return 0;
		}
	}
	return o;
}

/* FNV-1a, 64 bit (Fowler, Noll, Vo): offset basis 0xcbf29ce484222325,
 * prime 0x100000001b3. */
static uint64_t fnv1a(uint64_t h, const char *s)
{
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ull;
	}
	return h;
}

uint64_t fsc_config_hash(const struct fsc_config *cfg)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; cfg && i < cfg->n; i++) {
		const struct cfg_val *v = &cfg->vals[i];

		if (!v->has)
			continue;
		h = fnv1a(h, v->opt->name);
		h = fnv1a(h, "=");
		h = fnv1a(h, v->text);
		h = fnv1a(h, "\n");
	}
	return h;
}

/* ------------------------------------------------------------------ */
/* Message-size ranges                                                  */
/* ------------------------------------------------------------------ */

/* Walk the sequence; store into s when non-NULL.  min == 0 yields a first
 * point 0 and the geometric sequence continues from 1 (0 * factor would
 * never grow). */
static size_t sizes_walk(uint64_t min, uint64_t max, uint64_t factor, uint64_t *s)
{
	uint64_t v = min, last = 0;
	size_t n = 0;

	if (v == 0) {
		if (s)
			s[n] = 0;
		n++;
		v = 1;
	}
	while (v <= max) {
		if (s)
			s[n] = v;
		n++;
		last = v;
		if (v > max / factor) /* next exceeds max (also guards overflow) */
			break;
		v *= factor;
	}
	/* OSU-style: the largest size asked for is always measured. */
	if (last < max) {
		if (s)
			s[n] = max;
		n++;
	}
	return n;
}

/* As declared in options.h, with one extension: min == 0 is allowed and
 * gives a first point of 0 bytes (a zero-byte message measures pure
 * overhead); the sequence then continues 1, factor, factor^2, ... */
int fsc_sizes_build(uint64_t min, uint64_t max, uint64_t factor, uint64_t **sizes, size_t *n,
                    char *err, size_t errlen)
{
	size_t count;

	*sizes = 0;
	*n = 0;
	if (factor < 2) {
		report(err, errlen, "--factor %" PRIu64 ": must be at least 2", factor);
		return -EINVAL;
	}
	if (min > max) {
		report(err, errlen, "--min %" PRIu64 " is larger than --max %" PRIu64, min, max);
		return -EINVAL;
	}
	count = sizes_walk(min, max, factor, 0);
	*sizes = malloc(count * sizeof(**sizes));
	if (!*sizes) {
		report(err, errlen, "out of memory building %zu message sizes", count);
		return -ENOMEM;
	}
	sizes_walk(min, max, factor, *sizes);
	*n = count;
	return 0;
}
