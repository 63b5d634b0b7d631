/* Unit tests for the option parser, the value parsers and message-size
 * ranges (src/options.c). */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "options.h"

#define ARGC(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const struct fsc_opt core_opts[] = {
        {"min", 0, FSC_OPT_SIZE, "8", "smallest message size", 0, 0, 0},
        {"max", 0, FSC_OPT_SIZE, "4M", "largest message size", 0, 0, 0},
        {"factor", 0, FSC_OPT_INT, "2", "size multiplier", 0, 2, 1024},
        {"iters", 'n', FSC_OPT_INT, "1000", "timed iterations", 0, 1, 1e9},
        {"warmup-time", 0, FSC_OPT_TIME, "1s", "warm-up duration", 0, 0, 0},
        {"timeout", 0, FSC_OPT_TIME, "30s", "peer timeout", 0, 1e6, 3600e9},
        {"ratio", 0, FSC_OPT_DOUBLE, "0.5", "a fraction", 0, 0, 1},
        {"offset", 0, FSC_OPT_INT, "-3", "a signed value", 0, 0, 0},
        {"verbose", 'v', FSC_OPT_FLAG, 0, "more output", 0, 0, 0},
        {"fabric", 'f', FSC_OPT_CHOICE, "loopback", "fabric to use", "loopback|mpi|tcp", 0, 0},
        {"pattern", 'p', FSC_OPT_LIST, "latency", "patterns to run", "latency|bandwidth", 0, 0},
        {"hosts", 0, FSC_OPT_LIST, 0, "host names", 0, 0, 0},
        {"output", 'o', FSC_OPT_STRING, 0, "output file", 0, 0, 0},
        {0},
};

static const struct fsc_opt tcp_opts[] = {
        {"tcp-if", 0, FSC_OPT_STRING, "lo", "interface", 0, 0, 0},
        {"tcp-chunk", 0, FSC_OPT_SIZE, "64K", "chunk size", 0, 4096, 1073741824.0},
        {"tcp-nodelay", 0, FSC_OPT_FLAG, "true", "disable Nagle", 0, 0, 0},
        {0},
};

static const struct fsc_opt_group groups[] = {
        {"Core options", core_opts},
        {"TCP options", tcp_opts},
};
#define NGROUPS 2

/* Parse argv (a NULL-free array) expecting success. */
static struct fsc_config *parse_ok(int argc, char **argv, int *next)
{
	struct fsc_config *cfg = (void *)1;
	char err[256] = "";
	int rc = fsc_config_parse(&cfg, groups, NGROUPS, argc, argv, next, err, sizeof(err));

	if (rc)
		print_error("unexpected parse error: %s\n", err);
	assert_int_equal(rc, 0);
	assert_non_null(cfg);
	return cfg;
}

/* Parse expecting -EINVAL with exactly `want` in err (one line). */
static void parse_fails(int argc, char **argv, const char *want)
{
	struct fsc_config *cfg = (void *)1;
	char err[256] = "";
	int rc = fsc_config_parse(&cfg, groups, NGROUPS, argc, argv, 0, err, sizeof(err));

	assert_int_equal(rc, -EINVAL);
	assert_null(cfg);
	assert_null(strchr(err, '\n'));
	if (want)
		assert_string_equal(err, want);
	else
		assert_true(err[0] != 0);
}

/* ---------------------------------------------------------------- */

static void fsc_parse_size__accepts_suffixes(void **state)
{
	static const struct {
		const char *s;
		uint64_t v;
	} good[] = {
	        {"0", 0},
	        {"8", 8},
	        {"4K", 4096},
	        {"4k", 4096},
	        {"4KB", 4096},
	        {"4kb", 4096},
	        {"8B", 8},
	        {"8b", 8},
	        {"1M", 1048576},
	        {"3m", 3145728},
	        {"1G", 1073741824},
	        {"2g", 2147483648ull},
	        {"1T", 1099511627776ull},
	        {"007", 7},
	        {"18446744073709551615", UINT64_MAX},
	        {"16777215T", 16777215ull << 40},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		uint64_t v = 12345;

		assert_int_equal(fsc_parse_size(good[i].s, &v), 0);
		assert_true(v == good[i].v);
	}
}

static void fsc_parse_size__rejects_bad_input(void **state)
{
	static const char *const bad[] = {
	        "",          "-1",  "+5",  "0x10", "12Q", "1.5K",  "18446744073709551616",
	        "16777216T", " 8",  "8 ",  "4 K",  "K",   "B",     "4KK",
	        "4BK",       "4Kx", "1e3", "4KiB", "\t1", "1,024",
	};
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t v = 12345;

		if (fsc_parse_size(bad[i], &v) != -EINVAL)
			print_error("accepted '%s'\n", bad[i]);
		assert_int_equal(fsc_parse_size(bad[i], &v), -EINVAL);
		assert_true(v == 12345); /* untouched on error */
	}
	assert_int_equal(fsc_parse_size(0, &(uint64_t){0}), -EINVAL);
}

static void fsc_parse_time_ns__units(void **state)
{
	static const struct {
		const char *s;
		uint64_t ns;
	} good[] = {
	        {"30", 30000000000ull},
	        {"5s", 5000000000ull},
	        {"200ms", 200000000ull},
	        {"1us", 1000},
	        {"10ns", 10},
	        {"0", 0},
	        {"1.5ms", 1500000},
	        {"0.1s", 100000000},
	        {".5s", 500000000},
	        {"2.25", 2250000000ull},
	        {"1.5ns", 2}, /* rounded to the nearest ns */
	        {"0.000000001s", 1},
	        {"0.0000000004s", 0},
	        {"18446744073709551615ns", UINT64_MAX},
	        {"18446744073s", 18446744073000000000ull},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		uint64_t v = 12345;

		if (fsc_parse_time_ns(good[i].s, &v))
			print_error("rejected '%s'\n", good[i].s);
		assert_int_equal(fsc_parse_time_ns(good[i].s, &v), 0);
		assert_true(v == good[i].ns);
	}
}

static void fsc_parse_time_ns__rejects_bad_input(void **state)
{
	static const char *const bad[] = {
	        "",
	        "-1",
	        "-1s",
	        "1.",
	        ".",
	        "s",
	        "5m",
	        "5 s",
	        " 5s",
	        "1e3",
	        "+5s",
	        "5S",
	        "5sec",
	        "1.5.5s",
	        "ms",
	        "1,5s",
	        "18446744073709551616ns",
	        "18446744074s",
	        "nan",
	        "inf",
	};
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t v = 12345;

		if (fsc_parse_time_ns(bad[i], &v) != -EINVAL)
			print_error("accepted '%s'\n", bad[i]);
		assert_int_equal(fsc_parse_time_ns(bad[i], &v), -EINVAL);
		assert_true(v == 12345);
	}
}

/* ---------------------------------------------------------------- */

static void expect_sizes(uint64_t min, uint64_t max, uint64_t factor, const uint64_t *want,
                         size_t nwant)
{
	uint64_t *s = 0;
	size_t n = 99;
	char err[128] = "";

	assert_int_equal(fsc_sizes_build(min, max, factor, &s, &n, err, sizeof(err)), 0);
	assert_int_equal(n, nwant);
	for (size_t i = 0; i < n; i++)
		assert_true(s[i] == want[i]);
	free(s);
}

static void fsc_sizes_build__powers_of_two(void **state)
{
	(void)state;
	expect_sizes(8, 64, 2, (const uint64_t[]){8, 16, 32, 64}, 4);
	expect_sizes(1, 4096, 4, (const uint64_t[]){1, 4, 16, 64, 256, 1024, 4096}, 7);
	expect_sizes(4096, 4096, 2, (const uint64_t[]){4096}, 1);
}

static void fsc_sizes_build__max_always_included(void **state)
{
	(void)state;
	expect_sizes(8, 100, 2, (const uint64_t[]){8, 16, 32, 64, 100}, 5);
	expect_sizes(3, 10, 10, (const uint64_t[]){3, 10}, 2);
	expect_sizes(1000, 1001, 2, (const uint64_t[]){1000, 1001}, 2);
}

static void fsc_sizes_build__min_zero(void **state)
{
	(void)state;
	expect_sizes(0, 8, 2, (const uint64_t[]){0, 1, 2, 4, 8}, 5);
	expect_sizes(0, 0, 2, (const uint64_t[]){0}, 1);
	expect_sizes(0, 1, 2, (const uint64_t[]){0, 1}, 2);
	expect_sizes(0, 5, 2, (const uint64_t[]){0, 1, 2, 4, 5}, 5);
}

static void fsc_sizes_build__no_overflow(void **state)
{
	uint64_t *s = 0;
	size_t n = 0;

	(void)state;
	expect_sizes(1ull << 63, UINT64_MAX, 2, (const uint64_t[]){1ull << 63, UINT64_MAX}, 2);
	expect_sizes(UINT64_MAX, UINT64_MAX, 1000, (const uint64_t[]){UINT64_MAX}, 1);
	assert_int_equal(fsc_sizes_build(1, UINT64_MAX, 2, &s, &n, 0, 0), 0);
	assert_int_equal(n, 65); /* 2^0 .. 2^63, then UINT64_MAX */
	assert_true(s[63] == 1ull << 63);
	assert_true(s[64] == UINT64_MAX);
	free(s);
}

static void fsc_sizes_build__errors(void **state)
{
	uint64_t *s = (void *)1;
	size_t n = 7;
	char err[128] = "";

	(void)state;
	assert_int_equal(fsc_sizes_build(4096, 8, 2, &s, &n, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "--min 4096 is larger than --max 8");
	assert_null(s);
	assert_int_equal(n, 0);
	assert_int_equal(fsc_sizes_build(8, 4096, 1, &s, &n, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "--factor 1: must be at least 2");
	assert_int_equal(fsc_sizes_build(8, 4096, 0, &s, &n, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "--factor 0: must be at least 2");
}

/* ---------------------------------------------------------------- */

static void fsc_config_parse__defaults(void **state)
{
	char *argv[] = {"fabscope"};
	const char *const *items = 0;
	struct fsc_config *cfg;
	int next = -1;

	(void)state;
	cfg = parse_ok(ARGC(argv), argv, &next);
	assert_int_equal(next, 1);
	assert_true(fsc_cfg_size(cfg, "min") == 8);
	assert_true(fsc_cfg_size(cfg, "max") == 4194304);
	assert_int_equal(fsc_cfg_int(cfg, "iters"), 1000);
	assert_int_equal(fsc_cfg_int(cfg, "offset"), -3);
	assert_true(fsc_cfg_time_ns(cfg, "warmup-time") == 1000000000ull);
	assert_true(fsc_cfg_double(cfg, "ratio") == 0.5);
	assert_false(fsc_cfg_flag(cfg, "verbose"));
	assert_true(fsc_cfg_flag(cfg, "tcp-nodelay"));
	assert_string_equal(fsc_cfg_str(cfg, "fabric"), "loopback");
	assert_string_equal(fsc_cfg_str(cfg, "max"), "4M");
	assert_string_equal(fsc_cfg_str(cfg, "tcp-if"), "lo");
	assert_int_equal(fsc_cfg_list(cfg, "pattern", &items), 1);
	assert_string_equal(items[0], "latency");
	assert_null(items[1]);
	/* Defaults count as "has" but not as "set". */
	assert_true(fsc_cfg_has(cfg, "min"));
	assert_false(fsc_cfg_is_set(cfg, "min"));
	assert_true(fsc_cfg_has(cfg, "verbose")); /* flags are always false or true */
	assert_false(fsc_cfg_has(cfg, "output"));
	assert_null(fsc_cfg_str(cfg, "output"));
	assert_int_equal(fsc_cfg_list(cfg, "hosts", &items), 0);
	assert_null(items);
	fsc_config_free(cfg);
}

static void fsc_config_parse__every_type(void **state)
{
	char *argv[] = {"fabscope", "--min",         "4K",    "--max=1M",  "-n",
	                "5",        "--warmup-time", "200ms", "--ratio",   "0.25",
	                "-v",       "--fabric",      "tcp",   "--pattern", "latency,bandwidth",
	                "--hosts",  "h1,h2,h3",      "-o",    "out.json",  "--offset",
	                "-17",      "--tcp-if",      "",      "--timeout", "1ms"};
	const char *const *items = 0;
	struct fsc_config *cfg;
	int next = -1;

	(void)state;
	cfg = parse_ok(ARGC(argv), argv, &next);
	assert_int_equal(next, ARGC(argv));
	assert_true(fsc_cfg_size(cfg, "min") == 4096);
	assert_true(fsc_cfg_size(cfg, "max") == 1048576);
	assert_int_equal(fsc_cfg_int(cfg, "iters"), 5);
	assert_int_equal(fsc_cfg_int(cfg, "offset"), -17);
	assert_true(fsc_cfg_time_ns(cfg, "warmup-time") == 200000000ull);
	assert_true(fsc_cfg_time_ns(cfg, "timeout") == 1000000ull);
	assert_true(fsc_cfg_double(cfg, "ratio") == 0.25);
	assert_true(fsc_cfg_flag(cfg, "verbose"));
	assert_string_equal(fsc_cfg_str(cfg, "fabric"), "tcp");
	assert_string_equal(fsc_cfg_str(cfg, "output"), "out.json");
	assert_string_equal(fsc_cfg_str(cfg, "tcp-if"), "");
	assert_int_equal(fsc_cfg_list(cfg, "pattern", &items), 2);
	assert_string_equal(items[0], "latency");
	assert_string_equal(items[1], "bandwidth");
	assert_int_equal(fsc_cfg_list(cfg, "hosts", &items), 3);
	assert_string_equal(items[2], "h3");
	assert_null(items[3]);
	/* The text keeps what was given. */
	assert_string_equal(fsc_cfg_str(cfg, "pattern"), "latency,bandwidth");
	assert_string_equal(fsc_cfg_str(cfg, "verbose"), "true");
	assert_true(fsc_cfg_is_set(cfg, "min"));
	assert_true(fsc_cfg_is_set(cfg, "verbose"));
	assert_false(fsc_cfg_is_set(cfg, "factor"));
	/* Numeric options read as double. */
	assert_true(fsc_cfg_double(cfg, "iters") == 5.0);
	assert_true(fsc_cfg_double(cfg, "min") == 4096.0);
	fsc_config_free(cfg);
}

static void fsc_config_parse__short_options(void **state)
{
	char *a1[] = {"x", "-vn5", "-fmpi"};
	char *a2[] = {"x", "-n", "-5"}; /* a value may look like an option */
	struct fsc_config *cfg;

	(void)state;
	cfg = parse_ok(ARGC(a1), a1, 0);
	assert_true(fsc_cfg_flag(cfg, "verbose"));
	assert_int_equal(fsc_cfg_int(cfg, "iters"), 5);
	assert_string_equal(fsc_cfg_str(cfg, "fabric"), "mpi");
	fsc_config_free(cfg);
	parse_fails(ARGC(a2), a2,
	            "invalid value '-5' for --iters: must be between 1 and 1000000000");
}

static void fsc_config_parse__stops_at_first_positional(void **state)
{
	char *a1[] = {"fabscope", "-n", "5", "run", "--iters", "7"};
	char *a2[] = {"fabscope", "--", "-n", "7"};
	char *a3[] = {"fabscope", "-v", "-", "-n", "7"};
	struct fsc_config *cfg;
	int next = -1;

	(void)state;
	cfg = parse_ok(ARGC(a1), a1, &next);
	assert_int_equal(next, 3);
	assert_int_equal(fsc_cfg_int(cfg, "iters"), 5);
	fsc_config_free(cfg);
	cfg = parse_ok(ARGC(a2), a2, &next);
	assert_int_equal(next, 2);
	assert_int_equal(fsc_cfg_int(cfg, "iters"), 1000);
	fsc_config_free(cfg);
	cfg = parse_ok(ARGC(a3), a3, &next);
	assert_int_equal(next, 2);
	fsc_config_free(cfg);
	/* The argv order is left alone (no permutation). */
	assert_string_equal(a1[3], "run");
	assert_string_equal(a1[4], "--iters");
}

static void fsc_config_parse__last_value_wins(void **state)
{
	char *argv[] = {"x", "--iters", "5", "-n", "7", "--pattern", "bandwidth"};
	const char *const *items;
	struct fsc_config *cfg;

	(void)state;
	cfg = parse_ok(ARGC(argv), argv, 0);
	assert_int_equal(fsc_cfg_int(cfg, "iters"), 7);
	assert_int_equal(fsc_cfg_list(cfg, "pattern", &items), 1);
	assert_string_equal(items[0], "bandwidth");
	fsc_config_free(cfg);
}

#define FAILS(want, ...)                                                                           \
	do {                                                                                       \
		char *argv_[] = {"fabscope", __VA_ARGS__};                                         \
		parse_fails(ARGC(argv_), argv_, want);                                             \
	} while (0)

static void fsc_config_parse__error_messages(void **state)
{
	(void)state;
	FAILS("invalid value '12Q' for --min: expected a size such as 8, 4K, 1M, 1G "
	      "(suffixes K, M, G, T = x1024)",
	      "--min", "12Q");
	FAILS("invalid value '0' for --iters: must be between 1 and 1000000000", "--iters", "0");
	FAILS("invalid value '1000000001' for --iters: must be between 1 and 1000000000", "-n",
	      "1000000001");
	FAILS("invalid value 'foo' for --pattern: expected a comma-separated list of "
	      "latency|bandwidth",
	      "--pattern", "foo");
	FAILS("unknown option --frobnicate (see --help)", "--frobnicate");
	FAILS("unknown option --frobnicate (see --help)", "--frobnicate=3");
	FAILS("unknown option -x (see --help)", "-x");
	FAILS("unknown option -x (see --help)", "-vx");
	FAILS("option --iters needs a value", "--iters");
	FAILS("option --iters needs a value", "-v", "-n");
	FAILS("option --verbose takes no value", "--verbose=1");
	FAILS("unknown option --it (did you mean --iters? see --help)", "--it", "5");
	FAILS("invalid value '5x' for --iters: expected an integer", "--iters", "5x");
	FAILS("invalid value '' for --iters: expected an integer", "--iters", "");
	FAILS("invalid value ' 5' for --iters: expected an integer", "--iters", " 5");
	FAILS("invalid value '99999999999999999999' for --offset: integer out of range", "--offset",
	      "99999999999999999999");
	FAILS("invalid value 'abc' for --ratio: expected a finite number", "--ratio", "abc");
	FAILS("invalid value 'nan' for --ratio: expected a finite number", "--ratio", "nan");
	FAILS("invalid value 'inf' for --ratio: expected a finite number", "--ratio", "inf");
	FAILS("invalid value '1e999' for --ratio: expected a finite number", "--ratio", "1e999");
	FAILS("invalid value '0.5x' for --ratio: expected a finite number", "--ratio", "0.5x");
	FAILS("invalid value '1.5' for --ratio: must be between 0 and 1", "--ratio", "1.5");
	FAILS("invalid value 'ucx' for --fabric: expected one of loopback|mpi|tcp", "--fabric",
	      "ucx");
	FAILS("invalid value 'mp' for --fabric: expected one of loopback|mpi|tcp", "-f", "mp");
	FAILS("invalid value 'latency,,bandwidth' for --pattern: expected a comma-separated list "
	      "of latency|bandwidth",
	      "--pattern", "latency,,bandwidth");
	FAILS(0, "--pattern", "latency,");
	FAILS(0, "--pattern", "");
	FAILS(0, "--pattern", "latency,Bandwidth");
	FAILS("invalid value 'a,,b' for --hosts: expected a comma-separated list without empty "
	      "items",
	      "--hosts", "a,,b");
	FAILS("invalid value '1K' for --tcp-chunk: must be between 4K and 1G", "--tcp-chunk", "1K");
	FAILS("invalid value '2G' for --tcp-chunk: must be between 4K and 1G", "--tcp-chunk", "2G");
	FAILS("invalid value '0' for --timeout: must be between 1ms and 3600s", "--timeout", "0");
	FAILS("invalid value '5m' for --warmup-time: expected a duration such as 30, 5s, 200ms, "
	      "1us, 10ns (bare number = seconds)",
	      "--warmup-time", "5m");
	FAILS("invalid value '1' for --factor: must be between 2 and 1024", "--factor", "1");
	/* The first error ends parsing even when a later argument is fine. */
	FAILS("invalid value '0' for --iters: must be between 1 and 1000000000", "-n", "0", "-n",
	      "5");
}

static void fsc_config_parse__error_without_buffer_is_logged(void **state)
{
	char *argv[] = {"fabscope", "--iters", "0"};
	struct fsc_config *cfg = (void *)1;

	(void)state;
	assert_int_equal(fsc_config_parse(&cfg, groups, NGROUPS, ARGC(argv), argv, 0, 0, 0),
	                 -EINVAL);
	assert_null(cfg);
}

static void fsc_config_parse__error_truncated_to_buffer(void **state)
{
	char *argv[] = {"fabscope", "--iters", "0"};
	struct fsc_config *cfg;
	char err[8];

	(void)state;
	assert_int_equal(
	        fsc_config_parse(&cfg, groups, NGROUPS, ARGC(argv), argv, 0, err, sizeof(err)),
	        -EINVAL);
	assert_string_equal(err, "invalid");
}

static void fsc_config_parse__bad_default_is_a_table_error(void **state)
{
	static const struct fsc_opt bad_int[] = {
	        {"x", 0, FSC_OPT_INT, "abc", "", 0, 0, 0},
	        {0},
	};
	static const struct fsc_opt bad_bound[] = {
	        {"x", 0, FSC_OPT_SIZE, "1K", "", 0, 4096, 8192},
	        {0},
	};
	static const struct fsc_opt bad_choice[] = {
	        {"x", 0, FSC_OPT_CHOICE, "c", "", "a|b", 0, 0},
	        {0},
	};
	static const struct fsc_opt no_choices[] = {
	        {"x", 0, FSC_OPT_CHOICE, 0, "", 0, 0, 0},
	        {0},
	};
	static const struct fsc_opt min_gt_max[] = {
	        {"x", 0, FSC_OPT_INT, 0, "", 0, 5, 1},
	        {0},
	};
	struct fsc_opt_group g = {"Bad", bad_int};
	struct fsc_config *cfg = (void *)1;
	char *argv[] = {"fabscope"};
	char err[256];

	(void)state;
	assert_int_equal(fsc_config_parse(&cfg, &g, 1, 1, argv, 0, err, sizeof(err)), -EINVAL);
	assert_null(cfg);
	assert_string_equal(err, "option table error: the default of --x is invalid "
	                         "(invalid value 'abc' for --x: expected an integer)");
	assert_int_equal(fsc_config_defaults(&cfg, &g, 1), -EINVAL);
	g.opts = bad_bound;
	assert_int_equal(fsc_config_parse(&cfg, &g, 1, 1, argv, 0, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "option table error: the default of --x is invalid "
	                         "(invalid value '1K' for --x: must be between 4K and 8K)");
	g.opts = bad_choice;
	assert_int_equal(fsc_config_parse(&cfg, &g, 1, 1, argv, 0, err, sizeof(err)), -EINVAL);
	g.opts = no_choices;
	assert_int_equal(fsc_config_parse(&cfg, &g, 1, 1, argv, 0, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "option table error: choice option --x has no choices");
	g.opts = min_gt_max;
	assert_int_equal(fsc_config_defaults(&cfg, &g, 1), -EINVAL);
	assert_null(cfg);
}

static void fsc_config_parse__duplicate_names(void **state)
{
	static const struct fsc_opt dup_long[] = {
	        {"min", 0, FSC_OPT_INT, 0, "", 0, 0, 0},
	        {0},
	};
	static const struct fsc_opt dup_short[] = {
	        {"number", 'n', FSC_OPT_INT, 0, "", 0, 0, 0},
	        {0},
	};
	struct fsc_opt_group g[2] = {{"Core options", core_opts}, {"Dup", dup_long}};
	struct fsc_config *cfg = (void *)1;
	char *argv[] = {"fabscope"};
	char err[256];

	(void)state;
	assert_int_equal(fsc_config_parse(&cfg, g, 2, 1, argv, 0, err, sizeof(err)), -EINVAL);
	assert_null(cfg);
	assert_string_equal(
	        err, "option table error: --min is declared twice (in 'Core options' and 'Dup')");
	g[1].opts = dup_short;
	assert_int_equal(fsc_config_parse(&cfg, g, 2, 1, argv, 0, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "option table error: -n is used by both --iters and --number");
}

static void fsc_config_parse__repeated_in_one_process(void **state)
{
	char *a1[] = {"x", "-vn5", "run"};
	char *a2[] = {"x", "-vxy"};
	char *other[] = {"prog", "-a", "-b"};
	char *a3[] = {"x", "-n", "9", "--fabric", "mpi"};
	char *a4[] = {"x"};

	(void)state;
	for (int round = 0; round < 3; round++) {
		struct fsc_config *cfg;
		int next = -1;

		cfg = parse_ok(ARGC(a1), a1, &next);
		assert_int_equal(next, 2);
		assert_int_equal(fsc_cfg_int(cfg, "iters"), 5);
		fsc_config_free(cfg);
		/* An error in the middle of "-vx" leaves getopt inside a
		 * cluster; the next parse must start afresh. */
		parse_fails(ARGC(a2), a2, "unknown option -x (see --help)");
		/* Nor does it leak into another getopt user. */
		assert_int_equal(getopt(ARGC(other), other, "+ab"), 'a');
		assert_int_equal(getopt(ARGC(other), other, "+ab"), 'b');
		assert_int_equal(getopt(ARGC(other), other, "+ab"), -1);
		optind = 0;
		cfg = parse_ok(ARGC(a3), a3, &next);
		assert_int_equal(next, 5);
		assert_int_equal(fsc_cfg_int(cfg, "iters"), 9);
		assert_false(fsc_cfg_flag(cfg, "verbose"));
		assert_string_equal(fsc_cfg_str(cfg, "fabric"), "mpi");
		fsc_config_free(cfg);
		cfg = parse_ok(ARGC(a4), a4, &next);
		assert_int_equal(next, 1);
		assert_int_equal(fsc_cfg_int(cfg, "iters"), 1000);
		fsc_config_free(cfg);
	}
}

struct thread_arg {
	int iters_value;
	int failures;
};

static void *parse_thread(void *p)
{
	struct thread_arg *a = p;
	char val[16];
	char *argv[] = {"x", "-n", val, "--pattern", "bandwidth", "pos"};

	snprintf(val, sizeof(val), "%d", a->iters_value);
	for (int i = 0; i < 300; i++) {
		struct fsc_config *cfg;
		int next = 0;

		if (fsc_config_parse(&cfg, groups, NGROUPS, 6, argv, &next, 0, 0) || next != 5 ||
		    fsc_cfg_int(cfg, "iters") != a->iters_value)
			a->failures++;
		fsc_config_free(cfg);
	}
	return 0;
}

/* Parses from several threads are serialised, so each sees its own
 * arguments. */
static void fsc_config_parse__concurrent_callers(void **state)
{
	struct thread_arg a[2] = {{11, 0}, {22, 0}};
	pthread_t t[2];

	(void)state;
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], 0, parse_thread, &a[i]), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], 0);
	assert_int_equal(a[0].failures, 0);
	assert_int_equal(a[1].failures, 0);
}

/* ---------------------------------------------------------------- */

static void fsc_config_set__validates(void **state)
{
	struct fsc_config *cfg;
	char err[256] = "";

	(void)state;
	assert_int_equal(fsc_config_defaults(&cfg, groups, NGROUPS), 0);
	assert_int_equal(fsc_config_set(cfg, "iters", "abc", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "invalid value 'abc' for --iters: expected an integer");
	assert_int_equal(fsc_cfg_int(cfg, "iters"), 1000); /* unchanged */
	assert_false(fsc_cfg_is_set(cfg, "iters"));
	assert_int_equal(fsc_config_set(cfg, "iters", "42", err, sizeof(err)), 0);
	assert_int_equal(fsc_cfg_int(cfg, "iters"), 42);
	assert_true(fsc_cfg_is_set(cfg, "iters"));
	assert_int_equal(fsc_config_set(cfg, "nope", "1", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "unknown option --nope");
	assert_int_equal(fsc_config_set(cfg, "verbose", "yes", err, sizeof(err)), 0);
	assert_true(fsc_cfg_flag(cfg, "verbose"));
	assert_string_equal(fsc_cfg_str(cfg, "verbose"), "true");
	assert_int_equal(fsc_config_set(cfg, "tcp-nodelay", "off", err, sizeof(err)), 0);
	assert_false(fsc_cfg_flag(cfg, "tcp-nodelay"));
	assert_int_equal(fsc_config_set(cfg, "verbose", "maybe", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "invalid value 'maybe' for --verbose: expected true or false");
	assert_int_equal(fsc_config_set(cfg, "output", "r.json", err, sizeof(err)), 0);
	assert_true(fsc_cfg_has(cfg, "output"));
	/* NULL removes the value. */
	assert_int_equal(fsc_config_set(cfg, "output", 0, err, sizeof(err)), 0);
	assert_false(fsc_cfg_has(cfg, "output"));
	assert_false(fsc_cfg_is_set(cfg, "output"));
	fsc_config_free(cfg);
}

static void fsc_cfg_getters__unknown_or_mistyped_name(void **state)
{
	struct fsc_config *cfg;
	const char *const *items = (void *)1;

	(void)state;
	assert_int_equal(fsc_config_defaults(&cfg, groups, NGROUPS), 0);
	/* Each logs "no option named --nope" and answers zero. */
	assert_int_equal(fsc_cfg_int(cfg, "nope"), 0);
	assert_true(fsc_cfg_size(cfg, "nope") == 0);
	assert_true(fsc_cfg_time_ns(cfg, "nope") == 0);
	assert_true(fsc_cfg_double(cfg, "nope") == 0);
	assert_false(fsc_cfg_flag(cfg, "nope"));
	assert_null(fsc_cfg_str(cfg, "nope"));
	assert_int_equal(fsc_cfg_list(cfg, "nope", &items), 0);
	assert_null(items);
	/* Queries answer false quietly. */
	assert_false(fsc_cfg_has(cfg, "nope"));
	assert_false(fsc_cfg_is_set(cfg, "nope"));
	/* Reading with the wrong type is also a programming error. */
	assert_int_equal(fsc_cfg_int(cfg, "min"), 0);
	assert_true(fsc_cfg_size(cfg, "iters") == 0);
	assert_false(fsc_cfg_flag(cfg, "iters"));
	fsc_config_free(cfg);
	fsc_config_free(0);
}

static void fsc_config_defaults__empty_and_null_tables(void **state)
{
	static const struct fsc_opt empty[] = {{0}};
	struct fsc_opt_group g[2] = {{"Empty", empty}, {"None", 0}};
	struct fsc_config *cfg;
	json_t *j;

	(void)state;
	assert_int_equal(fsc_config_defaults(&cfg, g, 2), 0);
	j = fsc_config_to_json(cfg);
	assert_int_equal(json_object_size(j), 0);
	json_decref(j);
	assert_true(fsc_config_hash(cfg) == 0xcbf29ce484222325ull); /* FNV offset basis */
	fsc_config_free(cfg);
}

/* ---------------------------------------------------------------- */

static char *help_text(const struct fsc_opt_group *g, size_t n)
{
	char *buf = 0;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	fsc_config_help(f, g, n);
	fclose(f);
	return buf;
}

static void fsc_config_help__shows_defaults_and_choices(void **state)
{
	char *h;

	(void)state;
	h = help_text(groups, NGROUPS);
	assert_true(!strncmp(h, "Core options:\n", 14));
	assert_non_null(strstr(h, "\n  --min SIZE            smallest message size (default 8)\n"));
	assert_non_null(strstr(h, "\n  --max SIZE            largest message size (default 4M)\n"));
	assert_non_null(strstr(h,
	                       "\n  -n, --iters INT       timed iterations (valid 1..1000000000; "
	                       "default 1000)\n"));
	assert_non_null(strstr(h,
	                       "\n  --timeout TIME        peer timeout (valid 1ms..3600s; default "
	                       "30s)\n"));
	assert_non_null(
	        strstr(h, "\n  --ratio NUM           a fraction (valid 0..1; default 0.5)\n"));
	assert_non_null(
	        strstr(h, "\n  --tcp-chunk SIZE      chunk size (valid 4K..1G; default 64K)\n"));
	assert_non_null(strstr(h, "\n  --warmup-time TIME    warm-up duration (default 1s)\n"));
	assert_non_null(strstr(h, "\n  -v, --verbose         more output\n"));
	assert_non_null(strstr(h, "\n  -f, --fabric NAME     fabric to use (one of "
	                          "loopback|mpi|tcp; default loopback)\n"));
	assert_non_null(strstr(h, "\n  -p, --pattern LIST    patterns to run (comma-separated "
	                          "list of latency|bandwidth; default latency)\n"));
	assert_non_null(strstr(h, "\n  --hosts LIST          host names\n"));
	assert_non_null(strstr(h, "\n  -o, --output TEXT     output file\n"));
	assert_non_null(strstr(h, "\n\nTCP options:\n"));
	assert_non_null(strstr(h, "\n  --tcp-nodelay         disable Nagle (default true)\n"));
	/* Long names keep a two-space gap. */
	free(h);
}

static void fsc_config_help__long_names(void **state)
{
	static const struct fsc_opt o[] = {
	        {"a-rather-long-option-name", 0, FSC_OPT_TIME, "5s", "help", 0, 0, 0},
	        {0},
	};
	struct fsc_opt_group g = {0, o};
	char *h;

	(void)state;
	h = help_text(&g, 1);
	assert_string_equal(h, "Options:\n  --a-rather-long-option-name TIME  help (default 5s)\n");
	free(h);
}

/* ---------------------------------------------------------------- */

static void fsc_config_to_json__values(void **state)
{
	static const struct fsc_opt o[] = {
	        {"size", 0, FSC_OPT_SIZE, "4K", "", 0, 0, 0},
	        {"flag", 0, FSC_OPT_FLAG, 0, "", 0, 0, 0},
	        {"on", 0, FSC_OPT_FLAG, "true", "", 0, 0, 0},
	        {"name", 0, FSC_OPT_STRING, 0, "", 0, 0, 0},
	        {"list", 0, FSC_OPT_LIST, "a,b", "", 0, 0, 0},
	        {"n", 0, FSC_OPT_INT, "3", "", 0, 0, 0},
	        {0},
	};
	struct fsc_opt_group g = {"T", o};
	char *argv[] = {"x", "--n", "7", "--name", "caf\xc3\xa9"};
	struct fsc_config *cfg;
	json_t *j;
	char *s;

	(void)state;
	assert_int_equal(fsc_config_parse(&cfg, &g, 1, ARGC(argv), argv, 0, 0, 0), 0);
	j = fsc_config_to_json(cfg);
	assert_non_null(j);
	s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(
	        s, "{\"flag\":false,\"list\":[\"a\",\"b\"],\"n\":7,\"name\":\"caf\xc3\xa9\","
	           "\"on\":true,\"size\":4096}");
	free(s);
	json_decref(j);
	fsc_config_free(cfg);
	/* Text that is not UTF-8 is still echoed. */
	argv[4] = "caf\xe9";
	assert_int_equal(fsc_config_parse(&cfg, &g, 1, ARGC(argv), argv, 0, 0, 0), 0);
	j = fsc_config_to_json(cfg);
	assert_string_equal(json_string_value(json_object_get(j, "name")), "caf?");
	json_decref(j);
	fsc_config_free(cfg);
}

/* Durations are nanoseconds, doubles reals, choices text; a size beyond
 * JSON's exact integers (no bound) is a real. */
static void fsc_config_to_json__typed_numbers(void **state)
{
	static const struct fsc_opt o[] = {
	        {"t", 0, FSC_OPT_TIME, "200ms", "", 0, 0, 0},
	        {"d", 0, FSC_OPT_DOUBLE, "0.25", "", 0, 0, 0},
	        {"c", 0, FSC_OPT_CHOICE, "every", "", "once|every", 0, 0},
	        {"big", 0, FSC_OPT_SIZE, "16777215T", "", 0, 0, 0},
	        {"neg", 0, FSC_OPT_INT, "-3", "", 0, 0, 0},
	        {0},
	};
	struct fsc_opt_group g = {"T", o};
	struct fsc_config *cfg;
	json_t *j;

	(void)state;
	assert_int_equal(fsc_config_defaults(&cfg, &g, 1), 0);
	j = fsc_config_to_json(cfg);
	assert_true(json_is_integer(json_object_get(j, "t")));
	assert_int_equal(json_integer_value(json_object_get(j, "t")), 200000000);
	assert_true(json_is_real(json_object_get(j, "d")));
	assert_true(json_real_value(json_object_get(j, "d")) == 0.25);
	assert_string_equal(json_string_value(json_object_get(j, "c")), "every");
	assert_true(json_is_real(json_object_get(j, "big")));
	assert_int_equal(json_integer_value(json_object_get(j, "neg")), -3);
	json_decref(j);
	fsc_config_free(cfg);
}

/* ---------------------------------------------------------------- */

enum color { RED, GREEN, BLUE };

struct settings {
	bool verbose;
	int64_t n;
	uint64_t size, wait_ns;
	double ratio;
	const char *name, *unset;
	enum color color;
	struct fsc_opt_list list, none;
};

static const struct fsc_opt fill_opts[] = {
        {"verbose", 'v', FSC_OPT_FLAG, 0, "", 0, 0, 0, FSC_AT_FLAG(struct settings, verbose)},
        {"n", 'n', FSC_OPT_INT, "3", "", 0, 0, 0, FSC_AT_INT(struct settings, n)},
        {"size", 0, FSC_OPT_SIZE, "4K", "", 0, 0, 0, FSC_AT_SIZE(struct settings, size)},
        {"wait", 0, FSC_OPT_TIME, "2ms", "", 0, 0, 0, FSC_AT_TIME(struct settings, wait_ns)},
        {"ratio", 0, FSC_OPT_DOUBLE, "0.5", "", 0, 0, 1, FSC_AT_DOUBLE(struct settings, ratio)},
        {"name", 0, FSC_OPT_STRING, "x", "", 0, 0, 0, FSC_AT_STRING(struct settings, name)},
        {"unset", 0, FSC_OPT_STRING, 0, "", 0, 0, 0, FSC_AT_STRING(struct settings, unset)},
        {"color", 0, FSC_OPT_CHOICE, "green", "", "red|green|blue", 0, 0,
         FSC_AT_CHOICE(struct settings, color)},
        {"list", 0, FSC_OPT_LIST, "a,b", "", 0, 0, 0, FSC_AT_LIST(struct settings, list)},
        {"none", 0, FSC_OPT_LIST, 0, "", 0, 0, 0, FSC_AT_LIST(struct settings, none)},
        {"plain", 0, FSC_OPT_INT, "9", "read by name", 0, 0, 0},
        {0},
};

static void fsc_config_fill__every_type(void **state)
{
	struct fsc_opt_group g = {"Fill", fill_opts};
	char *argv[] = {"x",      "-v",    "-n",      "-7",   "--size", "1M",
	                "--wait", "1.5us", "--color", "blue", "--list", "p,q,r"};
	struct settings s;
	struct fsc_config *cfg;
	char err[256] = "";

	(void)state;
	memset(&s, 0xa5, sizeof(s));
	assert_int_equal(fsc_config_parse(&cfg, &g, 1, ARGC(argv), argv, 0, err, sizeof(err)), 0);
	assert_int_equal(fsc_config_fill(cfg, fill_opts, &s, err, sizeof(err)), 0);
	assert_true(s.verbose);
	assert_int_equal(s.n, -7);
	assert_int_equal(s.size, 1048576);
	assert_int_equal(s.wait_ns, 1500);
	assert_true(s.ratio == 0.5);
	assert_string_equal(s.name, "x");
	assert_null(s.unset);
	assert_int_equal(s.color, BLUE);
	assert_int_equal(s.list.n, 3);
	assert_string_equal(s.list.items[0], "p");
	assert_string_equal(s.list.items[2], "r");
	assert_null(s.list.items[3]);
	assert_int_equal(s.none.n, 0);
	assert_null(s.none.items);
	fsc_config_free(cfg);
}

/* No config, or one built from other tables: the table's defaults. */
static void fsc_config_fill__defaults_without_the_table(void **state)
{
	static const struct fsc_opt no_list[] = {
	        {"n", 0, FSC_OPT_INT, "3", "", 0, 0, 0, FSC_AT_INT(struct settings, n)},
	        {"color", 0, FSC_OPT_CHOICE, "green", "", "red|green|blue", 0, 0,
	         FSC_AT_CHOICE(struct settings, color)},
	        {"size", 0, FSC_OPT_SIZE, 0, "", 0, 0, 0, FSC_AT_SIZE(struct settings, size)},
	        {"verbose", 0, FSC_OPT_FLAG, 0, "", 0, 0, 0, FSC_AT_FLAG(struct settings, verbose)},
	        {"name", 0, FSC_OPT_STRING, "x", "", 0, 0, 0, FSC_AT_STRING(struct settings, name)},
	        {"none", 0, FSC_OPT_LIST, 0, "", 0, 0, 0, FSC_AT_LIST(struct settings, none)},
	        {0},
	};
	struct settings s;
	struct fsc_config *cfg;
	char err[256] = "";

	(void)state;
	memset(&s, 0xa5, sizeof(s));
	assert_int_equal(fsc_config_fill(0, no_list, &s, err, sizeof(err)), 0);
	assert_int_equal(s.n, 3);
	assert_int_equal(s.color, GREEN);
	assert_int_equal(s.size, 0);
	assert_false(s.verbose);
	assert_string_equal(s.name, "x");
	assert_int_equal(s.none.n, 0);
	/* A config of the other test tables lacks these options. */
	assert_int_equal(fsc_config_defaults(&cfg, groups + 1, 1), 0);
	memset(&s, 0xa5, sizeof(s));
	assert_int_equal(fsc_config_fill(cfg, no_list, &s, err, sizeof(err)), 0);
	assert_int_equal(s.n, 3);
	assert_int_equal(s.color, GREEN);
	/* A list default is parsed once and outlives the config. */
	assert_int_equal(fsc_config_fill(cfg, fill_opts, &s, err, sizeof(err)), 0);
	fsc_config_free(cfg);
	assert_int_equal(s.list.n, 2);
	assert_string_equal(s.list.items[0], "a");
	assert_string_equal(s.list.items[1], "b");
	assert_null(s.list.items[2]);
	assert_int_equal(fsc_config_fill(0, fill_opts, &s, err, sizeof(err)), 0);
	assert_string_equal(s.list.items[1], "b");
}

/* FSC_HAS: whether an option without a default has a value, where the
 * field alone cannot tell (RED is index 0, 0 a valid count). */
struct has_settings {
	enum color color;
	int64_t n;
	bool has_color, has_n, has_def;
	int64_t def;
};

static const struct fsc_opt has_opts[] = {
        {"hcolor", 0, FSC_OPT_CHOICE, 0, "", "red|green|blue", 0, 0,
         FSC_AT_CHOICE(struct has_settings, color), FSC_HAS(struct has_settings, has_color)},
        {"hn", 0, FSC_OPT_INT, 0, "", 0, 0, 9, FSC_AT_INT(struct has_settings, n),
         FSC_HAS(struct has_settings, has_n)},
        {"hdef", 0, FSC_OPT_INT, "4", "", 0, 0, 9, FSC_AT_INT(struct has_settings, def),
         FSC_HAS(struct has_settings, has_def)},
        {0},
};

static void fsc_config_fill__has_records_a_value(void **state)
{
	struct fsc_opt_group g = {"Has", has_opts};
	char *given[] = {"x", "--hcolor", "red", "--hn", "0"};
	struct has_settings s;
	struct fsc_config *cfg;
	char err[256] = "";

	(void)state;
	memset(&s, 0xa5, sizeof(s));
	assert_int_equal(fsc_config_defaults(&cfg, &g, 1), 0);
	assert_int_equal(fsc_config_fill(cfg, has_opts, &s, err, sizeof(err)), 0);
	assert_false(s.has_color);
	assert_false(s.has_n);
	assert_true(s.has_def);
	assert_int_equal(s.color, RED);
	assert_int_equal(s.n, 0);
	assert_int_equal(s.def, 4);
	fsc_config_free(cfg);

	memset(&s, 0xa5, sizeof(s));
	assert_int_equal(fsc_config_parse(&cfg, &g, 1, ARGC(given), given, 0, err, sizeof(err)), 0);
	assert_int_equal(fsc_config_fill(cfg, has_opts, &s, err, sizeof(err)), 0);
	assert_true(s.has_color);
	assert_true(s.has_n);
	assert_int_equal(s.color, RED);
	assert_int_equal(s.n, 0);
	/* Cleared by fsc_config_set: no value again. */
	assert_int_equal(fsc_config_set(cfg, "hdef", 0, err, sizeof(err)), 0);
	assert_int_equal(fsc_config_fill(cfg, has_opts, &s, err, sizeof(err)), 0);
	assert_false(s.has_def);
	fsc_config_free(cfg);

	/* Without a config: a value exactly when the table has a default. */
	memset(&s, 0xa5, sizeof(s));
	assert_int_equal(fsc_config_fill(0, has_opts, &s, err, sizeof(err)), 0);
	assert_false(s.has_color);
	assert_false(s.has_n);
	assert_true(s.has_def);
	assert_int_equal(s.def, 4);
}

static void fsc_config_fill__table_errors(void **state)
{
	/* A field declared for another type than its option's. */
	static const struct fsc_opt wrong_field[] = {
	        {"size", 0, FSC_OPT_SIZE, "4K", "", 0, 0, 0, FSC_AT_INT(struct settings, n)},
	        {0},
	};
	static const struct fsc_opt bad_choice[] = {
	        {"color", 0, FSC_OPT_CHOICE, "pink", "", "red|green|blue", 0, 0,
	         FSC_AT_CHOICE(struct settings, color)},
	        {0},
	};
	/* "n" as text, while fill_opts reads it as an integer. */
	static const struct fsc_opt n_text[] = {
	        {"n", 0, FSC_OPT_STRING, "3", "", 0, 0, 0},
	        {0},
	};
	struct fsc_opt_group g = {"Text", n_text};
	struct settings s;
	struct fsc_config *cfg;
	char err[256] = "";

	(void)state;
	assert_int_equal(fsc_config_fill(0, wrong_field, &s, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "option table error: --size has type size but its field has "
	                         "type integer");
	assert_int_equal(fsc_config_fill(0, bad_choice, &s, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "option table error: the default of --color is invalid (invalid "
	                         "value 'pink' for --color: expected one of red|green|blue)");
	assert_int_equal(fsc_config_defaults(&cfg, &g, 1), 0);
	assert_int_equal(fsc_config_fill(cfg, fill_opts, &s, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "option table error: --n has type integer here but type string "
	                         "in the configuration");
	fsc_config_free(cfg);
}

static void fsc_opt_choice_name__by_index(void **state)
{
	const struct fsc_opt *o = &fill_opts[7];
	char buf[16];

	(void)state;
	assert_string_equal(fsc_opt_choice_name(o, RED, buf, sizeof(buf)), "red");
	assert_string_equal(fsc_opt_choice_name(o, BLUE, buf, sizeof(buf)), "blue");
	assert_null(fsc_opt_choice_name(o, 3, buf, sizeof(buf)));
	assert_null(fsc_opt_choice_name(o, -1, buf, sizeof(buf)));
	assert_null(fsc_opt_choice_name(&fill_opts[1], 0, buf, sizeof(buf)));
}

static void fsc_config_hash__equal_parses_equal_hashes(void **state)
{
	char *a1[] = {"x", "--min", "4K", "-v", "--pattern", "latency,bandwidth"};
	char *a2[] = {"x", "--min", "4K", "-v", "--pattern", "latency,bandwidth"};
	char *a3[] = {"x", "--min", "8K", "-v", "--pattern", "latency,bandwidth"};
	struct fsc_config *c1, *c2, *c3;
	json_t *j1, *j2, *j3;

	(void)state;
	c1 = parse_ok(ARGC(a1), a1, 0);
	c2 = parse_ok(ARGC(a2), a2, 0);
	c3 = parse_ok(ARGC(a3), a3, 0);
	assert_true(fsc_config_hash(c1) == fsc_config_hash(c2));
	assert_true(fsc_config_hash(c1) != fsc_config_hash(c3));
	j1 = fsc_config_to_json(c1);
	j2 = fsc_config_to_json(c2);
	j3 = fsc_config_to_json(c3);
	assert_true(json_equal(j1, j2));
	assert_false(json_equal(j1, j3));
	/* A programmatic change moves the hash; setting it back restores it. */
	assert_int_equal(fsc_config_set(c2, "iters", "3", 0, 0), 0);
	assert_true(fsc_config_hash(c1) != fsc_config_hash(c2));
	assert_int_equal(fsc_config_set(c2, "iters", "1000", 0, 0), 0);
	assert_true(fsc_config_hash(c1) == fsc_config_hash(c2));
	json_decref(j1);
	json_decref(j2);
	json_decref(j3);
	fsc_config_free(c1);
	fsc_config_free(c2);
	fsc_config_free(c3);
}

static void fsc_config_hash__exact_fnv1a(void **state)
{
	static const struct fsc_opt o[] = {
	        {"a", 0, FSC_OPT_INT, "1", "", 0, 0, 0},
	        {"s", 0, FSC_OPT_STRING, 0, "", 0, 0, 0}, /* no value: not hashed */
	        {"b", 0, FSC_OPT_FLAG, 0, "", 0, 0, 0},
	        {0},
	};
	struct fsc_opt_group g = {"T", o};
	struct fsc_config *cfg;

	(void)state;
	assert_int_equal(fsc_config_defaults(&cfg, &g, 1), 0);
	/* FNV-1a 64 of "a=1\nb=false\n" and "a=1\nb=true\n" */
	assert_int_equal(fsc_config_set(cfg, "b", "true", 0, 0), 0);
	assert_true(fsc_config_hash(cfg) == 0x27360fc3f4ab5c65ull);
	assert_int_equal(fsc_config_set(cfg, "b", 0, 0, 0), 0);
	assert_true(fsc_config_hash(cfg) == 0xed9ed282c45f76f4ull); /* "a=1\n" */
	fsc_config_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(fsc_parse_size__accepts_suffixes),
	        cmocka_unit_test(fsc_parse_size__rejects_bad_input),
	        cmocka_unit_test(fsc_parse_time_ns__units),
	        cmocka_unit_test(fsc_parse_time_ns__rejects_bad_input),
	        cmocka_unit_test(fsc_sizes_build__powers_of_two),
	        cmocka_unit_test(fsc_sizes_build__max_always_included),
	        cmocka_unit_test(fsc_sizes_build__min_zero),
	        cmocka_unit_test(fsc_sizes_build__no_overflow),
	        cmocka_unit_test(fsc_sizes_build__errors),
	        cmocka_unit_test(fsc_config_parse__defaults),
	        cmocka_unit_test(fsc_config_parse__every_type),
	        cmocka_unit_test(fsc_config_parse__short_options),
	        cmocka_unit_test(fsc_config_parse__stops_at_first_positional),
	        cmocka_unit_test(fsc_config_parse__last_value_wins),
	        cmocka_unit_test(fsc_config_parse__error_messages),
	        cmocka_unit_test(fsc_config_parse__error_without_buffer_is_logged),
	        cmocka_unit_test(fsc_config_parse__error_truncated_to_buffer),
	        cmocka_unit_test(fsc_config_parse__bad_default_is_a_table_error),
	        cmocka_unit_test(fsc_config_parse__duplicate_names),
	        cmocka_unit_test(fsc_config_parse__repeated_in_one_process),
	        cmocka_unit_test(fsc_config_parse__concurrent_callers),
	        cmocka_unit_test(fsc_config_set__validates),
	        cmocka_unit_test(fsc_cfg_getters__unknown_or_mistyped_name),
	        cmocka_unit_test(fsc_config_defaults__empty_and_null_tables),
	        cmocka_unit_test(fsc_config_help__shows_defaults_and_choices),
	        cmocka_unit_test(fsc_config_help__long_names),
	        cmocka_unit_test(fsc_config_to_json__values),
	        cmocka_unit_test(fsc_config_to_json__typed_numbers),
	        cmocka_unit_test(fsc_config_fill__every_type),
	        cmocka_unit_test(fsc_config_fill__defaults_without_the_table),
	        cmocka_unit_test(fsc_config_fill__table_errors),
	        cmocka_unit_test(fsc_config_fill__has_records_a_value),
	        cmocka_unit_test(fsc_opt_choice_name__by_index),
	        cmocka_unit_test(fsc_config_hash__equal_parses_equal_hashes),
	        cmocka_unit_test(fsc_config_hash__exact_fnv1a),
	};

	return cmocka_run_group_tests(tests, 0, 0);
}
