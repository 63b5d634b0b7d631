/* Agreement across ranks before anything runs: status and configuration. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "boot.h"
#include "clock.h"
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

struct idle_case {
	int calls[2];
};

static void count_idle(void *arg)
{
	(*(int *)arg)++;
}

static int idle_rank(struct fsc_boot *b, void *arg)
{
	struct idle_case *c = arg;

	b->idle = count_idle;
	b->idle_arg = &c->calls[b->rank];
	if (b->rank == 0)
		fsc_sleep_ns(20 * 1000 * 1000); /* rank 1 waits ~20 ms */
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
	assert_int_equal(fsc_boot_local_run(2, 0, idle_rank, &c, rcs), 0);
	/* woken every 200 us while waiting: many calls, none on the late rank */
	assert_true(c.calls[1] >= 5);
	assert_int_equal(c.calls[0], 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(fsc_boot_agree__first_failing_rank_speaks_for_all),
	        cmocka_unit_test(fsc_session_agree_config__different_options_fail_everywhere),
	        cmocka_unit_test(fsc_boot_barrier__waiting_rank_runs_its_idle_hook),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
