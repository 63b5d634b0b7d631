/* Agreement across ranks before anything runs: status and configuration. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "boot.h"
#include "registry.h"
#include "session.h"

static struct fsc_config *parse(int argc, const char **argv)
{
	struct fsc_opt_group g[FSC_MAX_OPT_GROUPS];
	struct fsc_config *cfg = 0;
	char err[256];
	size_t n = fsc_session_option_groups(g, FSC_MAX_OPT_GROUPS);

	assert_int_equal(fsc_config_parse(&cfg, g, n, argc, (char **)argv, 0, err, sizeof(err)), 0);
	return cfg;
}

struct agree_case {
	struct fsc_config *cfg[4];
	int rc[4];
	int status_in[4];
	int status_out[4];
	int first[4];
	char err[4][256];
};

static int agree_rank(struct fsc_boot *b, void *arg)
{
	struct agree_case *c = arg;

	c->status_out[b->rank] = fsc_boot_agree(b, c->status_in[b->rank], &c->first[b->rank]);
	c->rc[b->rank] = fsc_session_agree_config(b, c->cfg[b->rank], c->err[b->rank], 256);
	return 0;
}

static void fsc_boot_agree__first_failing_rank_speaks_for_all(void **state)
{
	const char *argv[] = {"run"};
	struct agree_case c = {.status_in = {0, 0, -EINVAL, -ENOTSUP}};
	int rcs[4];

	(void)state;
	for (int i = 0; i < 4; i++)
		c.cfg[i] = parse(1, argv);
	assert_int_equal(fsc_boot_local_run(4, 0, agree_rank, &c, rcs), 0);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(c.status_out[i], -EINVAL);
		assert_int_equal(c.first[i], 2);
		assert_int_equal(c.rc[i], 0); /* same configuration everywhere */
		fsc_config_free(c.cfg[i]);
	}
}

static void fsc_session_agree_config__different_options_fail_everywhere(void **state)
{
	const char *same[] = {"run", "--iters", "10"};
	const char *other[] = {"run", "--iters", "11"};
	static const char *const hosts[] = {"h0", "h1", "h2"};
	struct agree_case c;

	memset(&c, 0, sizeof(c));
	int rcs[3];

	(void)state;
	c.cfg[0] = parse(3, same);
	c.cfg[1] = parse(3, same);
	c.cfg[2] = parse(3, other);
	assert_int_equal(fsc_boot_local_run(3, hosts, agree_rank, &c, rcs), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(c.status_out[i], 0);
		assert_int_equal(c.first[i], -1);
		assert_int_equal(c.rc[i], -EINVAL);
		assert_non_null(strstr(c.err[i], "rank 2 (host h2)"));
		fsc_config_free(c.cfg[i]);
	}
}

/* Rank 0 enters the barrier only once it has seen rank 1 run its idle
 * hook IDLE_CALLS times while waiting there: no timing assumption. */
#define IDLE_CALLS 5

struct idle_case {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int calls[2];
	int timed_out;
};

struct idle_arg {
	struct idle_case *c;
	int rank;
};

static void count_idle(void *arg)
{
	struct idle_arg *a = arg;

	pthread_mutex_lock(&a->c->lock);
	a->c->calls[a->rank]++;
	pthread_cond_broadcast(&a->c->cond);
	pthread_mutex_unlock(&a->c->lock);
}

static int idle_rank(struct fsc_boot *b, void *arg)
{
	struct idle_case *c = arg;
	struct idle_arg a = {c, b->rank};

	b->idle = count_idle;
	b->idle_arg = &a;
	if (b->rank == 0) {
		struct timespec deadline;

		clock_gettime(CLOCK_REALTIME, &deadline);
		deadline.tv_sec += 10;
		pthread_mutex_lock(&c->lock);
		while (c->calls[1] < IDLE_CALLS && !c->timed_out)
			c->timed_out =
			        pthread_cond_timedwait(&c->cond, &c->lock, &deadline) == ETIMEDOUT;
		pthread_mutex_unlock(&c->lock);
	}
	fsc_boot_barrier(b);
	b->idle = 0;
	return 0;
}

static void fsc_boot_barrier__waiting_rank_runs_its_idle_hook(void **state)
{
	struct idle_case c;
	int rcs[2];

	(void)state;
	memset(&c, 0, sizeof(c));
	pthread_mutex_init(&c.lock, 0);
	pthread_cond_init(&c.cond, 0);
	assert_int_equal(fsc_boot_local_run(2, 0, idle_rank, &c, rcs), 0);
	/* the waiting rank ran its hook; the late one, which never waited
	 * alone, did not need to */
	assert_false(c.timed_out);
	assert_true(c.calls[1] >= IDLE_CALLS);
	assert_int_equal(c.calls[0], 0);
	pthread_cond_destroy(&c.cond);
	pthread_mutex_destroy(&c.lock);
}

struct skip_case {
	struct fsc_config *cfg;
	uint64_t fabrics_skipped[2], skipped[2], points[2];
	char reasons[2][512];
	int rc[2];
};

static int skip_rank(struct fsc_boot *b, void *arg)
{
	struct skip_case *c = arg;
	struct fsc_runner r;

	fsc_runner_init(&r, b, c->cfg, 0, 0);
	c->rc[b->rank] = fsc_session_run(&r, 0);
	c->fabrics_skipped[b->rank] = r.fabrics_skipped;
	c->skipped[b->rank] = r.skipped;
	c->points[b->rank] = r.points;
	snprintf(c->reasons[b->rank], sizeof(c->reasons[b->rank]), "%s", r.skip_reasons);
	fsc_runner_fini(&r);
	return 0;
}

static void fsc_session_run__skipped_fabrics_are_counted_with_reasons(void **state)
{
	const char *only_tcp[] = {"run",       "--fabric",          "tcp",   "--tcp-if", "nosuch0",
	                          "--pattern", "latency,bandwidth", "--max", "8"};
	const char *both[] = {
	        "run",   "--fabric", "loopback,tcp", "--tcp-if", "nosuch0",  "--pattern", "latency",
	        "--max", "8",        "--iters",      "3",        "--warmup", "0"};
	struct skip_case c;
	int rcs[2];

	(void)state;
	if (!fsc_fabric_find("tcp"))
		skip();
	memset(&c, 0, sizeof(c));
	c.cfg = parse(9, only_tcp);
	assert_int_equal(fsc_boot_local_run(2, 0, skip_rank, &c, rcs), 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(c.rc[i], 0);
		assert_int_equal(c.fabrics_skipped[i], 1);
		assert_int_equal(c.skipped[i], 2); /* one record per pattern */
		assert_int_equal(c.points[i], 0);
		if (strncmp(c.reasons[i], "tcp: no interface named 'nosuch0' (--tcp-if)",
		            strlen("tcp: no interface named 'nosuch0' (--tcp-if)")))
			fail_msg("rank %d: reasons '%s'", i, c.reasons[i]);
	}
	fsc_config_free(c.cfg);

	/* One fabric of two skipped: counted, the other measured. */
	memset(&c, 0, sizeof(c));
	c.cfg = parse(13, both);
	assert_int_equal(fsc_boot_local_run(2, 0, skip_rank, &c, rcs), 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(c.rc[i], 0);
		assert_int_equal(c.fabrics_skipped[i], 1);
		assert_int_equal(c.points[i], 1); /* loopback latency at 8 B */
		assert_non_null(strstr(c.reasons[i], "tcp: "));
		assert_null(strstr(c.reasons[i], "loopback"));
	}
	fsc_config_free(c.cfg);
}

static int is_numeric(enum fsc_opt_type t)
{
	return t == FSC_OPT_INT || t == FSC_OPT_SIZE || t == FSC_OPT_DOUBLE || t == FSC_OPT_TIME;
}

static void fsc_session_option_groups__every_numeric_option_states_a_range(void **state)
{
	struct fsc_opt_group g[FSC_MAX_OPT_GROUPS];
	size_t n = fsc_session_option_groups(g, FSC_MAX_OPT_GROUPS), numeric = 0;

	(void)state;
	assert_true(n >= 1);
	for (size_t i = 0; i < n; i++)
		for (const struct fsc_opt *o = g[i].opts; o && o->name; o++) {
			if (!is_numeric(o->type))
				continue;
			numeric++;
			if (o->min == 0 && o->max == 0)
				fail_msg("--%s (%s) has no stated range", o->name, g[i].title);
			assert_true(o->min < o->max);
		}
	assert_true(numeric >= 10);
}

/* Parse with the real tables expecting -EINVAL; err must name the value
 * and the valid range. */
static void refused(const char *opt, const char *value, const char *want)
{
	struct fsc_opt_group g[FSC_MAX_OPT_GROUPS];
	size_t n = fsc_session_option_groups(g, FSC_MAX_OPT_GROUPS);
	struct fsc_config *cfg = 0;
	char *argv[] = {"run", (char *)opt, (char *)value};
	char err[256] = "";

	assert_int_equal(fsc_config_parse(&cfg, g, n, 3, argv, 0, err, sizeof(err)), -EINVAL);
	assert_null(cfg);
	assert_null(strchr(err, '\n'));
	if (strcmp(err, want))
		fail_msg("%s %s: got '%s', want '%s'", opt, value, err, want);
}

static void fsc_config_parse__run_options_out_of_range(void **state)
{
	(void)state;
	refused("--timeout", "0",
	        "invalid value '0' for --timeout: must be between 1ms and 86400s");
	refused("--timeout", "500us",
	        "invalid value '500us' for --timeout: must be between 1ms and 86400s");
	refused("--iters", "0", "invalid value '0' for --iters: must be between 1 and 1000000000");
	refused("--batch", "0", "invalid value '0' for --batch: must be between 1 and 1000000");
	refused("--window", "0", "invalid value '0' for --window: must be between 1 and 4096");
	refused("--max", "2T", "invalid value '2T' for --max: must be between 0 and 1T");
	refused("--min", "4T", "invalid value '4T' for --min: must be between 0 and 1T");
	refused("--point-time", "2d",
	        "invalid value '2d' for --point-time: expected a duration such as 30, 5s, 200ms, "
	        "1us, 10ns (bare number = seconds)");
	refused("--point-time", "100000",
	        "invalid value '100000' for --point-time: must be between 0 and 86400s");
	refused("--tcp-connect-timeout", "0",
	        "invalid value '0' for --tcp-connect-timeout: must be between 1ms and 86400s");
	refused("--lb-bw", "0", "invalid value '0' for --lb-bw: must be between 1e-06 and 1e+06");
	refused("--lb-lat", "2s", "invalid value '2s' for --lb-lat: must be between 0 and 1s");
	refused("--coll-seg", "2G", "invalid value '2G' for --coll-seg: must be between 0 and 1G");
}

static void fsc_config_parse__run_options_range_edges_accepted(void **state)
{
	const char *argv[] = {"run",  "--timeout", "1ms", "--iters", "1",   "--window",
	                      "4096", "--max",     "1T",  "--lb-bw", "1e-6"};
	struct fsc_config *cfg;

	(void)state;
	cfg = parse(11, argv);
	assert_int_equal(fsc_cfg_time_ns(cfg, "timeout"), 1000000);
	assert_int_equal(fsc_cfg_int(cfg, "iters"), 1);
	assert_int_equal(fsc_cfg_int(cfg, "window"), 4096);
	assert_int_equal(fsc_cfg_size(cfg, "max"), 1ull << 40);
	fsc_config_free(cfg);
}

/* Launch: fabrics that run their ranks in one process say how many. */
static const struct fsc_opt ta_opts[] = {
        {"ta-ranks", 0, FSC_OPT_INT, "3", "ranks of ta", 0, 1, 64},
        {0, 0, 0, 0, 0, 0, 0, 0},
};
static const struct fsc_opt tb_opts[] = {
        {"tb-ranks", 0, FSC_OPT_INT, "3", "ranks of tb", 0, 1, 64},
        {0, 0, 0, 0, 0, 0, 0, 0},
};
static const struct fsc_fabric_ops threads_a = {
        .name = "ta", .opts = ta_opts, .inprocess_ranks = "ta-ranks"};
static const struct fsc_fabric_ops threads_b = {
        .name = "tb", .opts = tb_opts, .inprocess_ranks = "tb-ranks"};
static const struct fsc_fabric_ops launched = {.name = "procs"};

static void fsc_session_inprocess_ranks_of__all_in_process_or_launched(void **state)
{
	const struct fsc_opt_group g[] = {{"ta", ta_opts}, {"tb", tb_opts}};
	const struct fsc_fabric_ops *a[] = {&threads_a}, *ab[] = {&threads_a, &threads_b},
	                            *mixed[] = {&threads_a, &launched},
	                            *unknown[] = {&threads_a, 0}, *which = &launched;
	struct fsc_config *cfg = 0;
	char err[256] = "";

	(void)state;
	assert_int_equal(fsc_config_defaults(&cfg, g, 2), 0);
	assert_int_equal(fsc_session_inprocess_ranks_of(a, 1, cfg, &which, err, sizeof(err)), 3);
	assert_ptr_equal(which, &threads_a);
	assert_int_equal(fsc_session_inprocess_ranks_of(ab, 2, cfg, &which, err, sizeof(err)), 3);
	assert_ptr_equal(which, &threads_a);
	/* One fabric whose ranks are launched processes: a launched run. */
	assert_int_equal(fsc_session_inprocess_ranks_of(mixed, 2, cfg, &which, err, sizeof(err)),
	                 0);
	assert_null(which);
	assert_int_equal(fsc_session_inprocess_ranks_of(unknown, 2, cfg, 0, err, sizeof(err)), 0);
	assert_int_equal(fsc_session_inprocess_ranks_of(a, 0, cfg, 0, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	/* Two counts for one run: refused, naming both. */
	assert_int_equal(fsc_config_set(cfg, "tb-ranks", "5", err, sizeof(err)), 0);
	assert_int_equal(fsc_session_inprocess_ranks_of(ab, 2, cfg, &which, err, sizeof(err)),
	                 -EINVAL);
	assert_string_equal(err, "invalid value 5 for --tb-ranks: fabric ta runs 3 ranks "
	                         "(--ta-ranks) and one run has one rank count: expected 3");
	fsc_config_free(cfg);
}

static void fsc_session_inprocess_ranks__built_fabrics_name_a_rank_option(void **state)
{
	const char *lb[] = {"run", "--fabric", "loopback", "--lb-ranks", "5"};
	const char *lb_tcp[] = {"run", "--fabric", "loopback,tcp"};
	const struct fsc_fabric_ops *which = 0;
	struct fsc_config *cfg;
	char err[256] = "";
	int inprocess = 0;

	(void)state;
	/* Every in-process fabric names an INT option of its own table that
	 * cannot be below one rank. */
	for (size_t k = 0; fsc_fabrics[k]; k++) {
		const struct fsc_fabric_ops *f = fsc_fabrics[k];
		const struct fsc_opt *o = f->opts;

		if (!f->inprocess_ranks)
			continue;
		inprocess++;
		while (o && o->name && strcmp(o->name, f->inprocess_ranks))
			o++;
		if (!o || !o->name)
			fail_msg("fabric %s: inprocess_ranks '%s' is not one of its options",
			         f->name, f->inprocess_ranks);
		assert_int_equal(o->type, FSC_OPT_INT);
		assert_true(o->min >= 1);
	}
	if (!fsc_fabric_find("loopback"))
		skip();
	assert_true(inprocess >= 1);
	cfg = parse(5, lb);
	assert_int_equal(fsc_session_inprocess_ranks(cfg, &which, err, sizeof(err)), 5);
	assert_ptr_equal(which, fsc_fabric_find("loopback"));
	fsc_config_free(cfg);
	if (!fsc_fabric_find("tcp"))
		return;
	cfg = parse(3, lb_tcp);
	assert_int_equal(fsc_session_inprocess_ranks(cfg, &which, err, sizeof(err)), 0);
	assert_null(which);
	fsc_config_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(fsc_session_option_groups__every_numeric_option_states_a_range),
	        cmocka_unit_test(fsc_session_run__skipped_fabrics_are_counted_with_reasons),
	        cmocka_unit_test(fsc_config_parse__run_options_out_of_range),
	        cmocka_unit_test(fsc_config_parse__run_options_range_edges_accepted),
	        cmocka_unit_test(fsc_boot_agree__first_failing_rank_speaks_for_all),
	        cmocka_unit_test(fsc_session_agree_config__different_options_fail_everywhere),
	        cmocka_unit_test(fsc_boot_barrier__waiting_rank_runs_its_idle_hook),
	        cmocka_unit_test(fsc_session_inprocess_ranks_of__all_in_process_or_launched),
	        cmocka_unit_test(fsc_session_inprocess_ranks__built_fabrics_name_a_rank_option),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
