/* In-process bootstrap (src/boot_local.c): collectives over threads, host
 * bookkeeping, and failing instead of hanging when a rank leaves early.
 *
 * Ranks record what they saw; asserts run on the main thread after the
 * join (cmocka cannot assert from other threads).
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "boot.h"

#define MAXR 8

struct rec {
	int rc[MAXR][8];
	int64_t i64[MAXR][8];
	double f64[MAXR][8];
	char names[MAXR][MAXR][FSC_HOST_MAX];
	int rank_host[MAXR][MAXR];
	int nhosts[MAXR], host_index[MAXR], local_rank[MAXR], local_size[MAXR], size[MAXR];
	char host[MAXR][FSC_HOST_MAX];
	int order[MAXR]; /* ticket taken before a barrier */
	int seen[MAXR];  /* tickets visible after it */
	int ticket;
};

static int rank_hosts(struct fsc_boot *b, void *arg)
{
	struct rec *r = arg;

	r->size[b->rank] = b->size;
	r->nhosts[b->rank] = b->nhosts;
	r->host_index[b->rank] = b->host_index;
	r->local_rank[b->rank] = b->local_rank;
	r->local_size[b->rank] = b->local_size;
	memcpy(r->host[b->rank], b->host, FSC_HOST_MAX);
	for (int q = 0; q < b->size; q++) {
		memcpy(r->names[b->rank][q], b->hosts[q], FSC_HOST_MAX);
		r->rank_host[b->rank][q] = b->rank_host[q];
	}
	return 100 + b->rank;
}

static void fsc_boot_local_run__fills_hosts_and_returns_each_rc(void **state)
{
	static const char *const hosts[] = {"h0", "h1", "h0", "h2", "h1"};
	static const int want_host[] = {0, 1, 0, 2, 1};
	static const int want_local[] = {0, 0, 1, 0, 1};
	static const int want_lsize[] = {2, 2, 2, 1, 2};
	struct rec r = {0};
	int rcs[5];

	(void)state;
	assert_int_equal(fsc_boot_local_run(5, hosts, rank_hosts, &r, rcs), 0);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(rcs[i], 100 + i);
		assert_int_equal(r.size[i], 5);
		assert_int_equal(r.nhosts[i], 3);
		assert_string_equal(r.host[i], hosts[i]);
		assert_int_equal(r.host_index[i], want_host[i]);
		assert_int_equal(r.local_rank[i], want_local[i]);
		assert_int_equal(r.local_size[i], want_lsize[i]);
		for (int q = 0; q < 5; q++) {
			assert_string_equal(r.names[i][q], hosts[q]);
			assert_int_equal(r.rank_host[i][q], want_host[q]);
		}
	}
}

static void fsc_boot_local_run__default_host_is_shared(void **state)
{
	struct rec r = {0};

	(void)state;
	assert_int_equal(fsc_boot_local_run(3, NULL, rank_hosts, &r, NULL), 0);
	for (int i = 0; i < 3; i++) {
		assert_true(r.host[i][0] != 0);
		assert_string_equal(r.host[i], r.host[0]);
		assert_int_equal(r.nhosts[i], 1);
		assert_int_equal(r.local_rank[i], i);
		assert_int_equal(r.local_size[i], 3);
	}
}

static void fsc_boot_local_run__rejects_no_ranks(void **state)
{
	struct rec r = {0};

	(void)state;
	assert_int_equal(fsc_boot_local_run(0, NULL, rank_hosts, &r, NULL), -EINVAL);
	assert_int_equal(fsc_boot_local_run(2, NULL, NULL, &r, NULL), -EINVAL);
}

/* Each rank takes a ticket under the barrier's protection: after the
 * barrier every rank must see all n tickets taken. */
static pthread_mutex_t ticket_lock = PTHREAD_MUTEX_INITIALIZER;

static int rank_barrier(struct fsc_boot *b, void *arg)
{
	struct rec *r = arg;

	for (int round = 0; round < 50; round++) {
		pthread_mutex_lock(&ticket_lock);
		r->ticket++;
		pthread_mutex_unlock(&ticket_lock);
		r->rc[b->rank][0] |= fsc_boot_barrier(b);
		pthread_mutex_lock(&ticket_lock);
		if (r->ticket < (round + 1) * b->size)
			r->seen[b->rank]++; /* someone got through early */
		pthread_mutex_unlock(&ticket_lock);
		r->rc[b->rank][0] |= fsc_boot_barrier(b);
	}
	return 0;
}

static void fsc_boot_barrier__nobody_passes_early(void **state)
{
	struct rec r = {0};

	(void)state;
	assert_int_equal(fsc_boot_local_run(4, NULL, rank_barrier, &r, NULL), 0);
	assert_int_equal(r.ticket, 200);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(r.rc[i][0], 0);
		assert_int_equal(r.seen[i], 0);
	}
}

static int rank_collectives(struct fsc_boot *b, void *arg)
{
	struct rec *r = arg;
	int me = b->rank, n = b->size;
	int64_t v[3] = {me * 10 - 7, me * 10 - 7, me * 10 - 7}, mine = 1000 + me, all[MAXR];
	double d[3] = {me + 0.5, me + 0.5, me + 0.5};
	char text[32] = "";

	r->rc[me][0] = fsc_boot_allreduce(b, &v[0], 1, FSC_BOOT_I64, FSC_BOOT_MAX);
	r->rc[me][1] = fsc_boot_allreduce(b, &v[1], 1, FSC_BOOT_I64, FSC_BOOT_MIN);
	r->rc[me][2] = fsc_boot_allreduce(b, &v[2], 1, FSC_BOOT_I64, FSC_BOOT_SUM);
	r->rc[me][3] = fsc_boot_allreduce(b, d, 1, FSC_BOOT_F64, FSC_BOOT_MAX) |
	               fsc_boot_allreduce(b, &d[1], 1, FSC_BOOT_F64, FSC_BOOT_MIN) |
	               fsc_boot_allreduce(b, &d[2], 1, FSC_BOOT_F64, FSC_BOOT_SUM);
	r->rc[me][4] = fsc_boot_allgather(b, &mine, all, sizeof(mine));
	if (me == n - 1)
		snprintf(text, sizeof(text), "from %d", me);
	r->rc[me][5] = fsc_boot_bcast(b, text, sizeof(text), n - 1);
	memcpy(r->i64[me], v, sizeof(v));
	memcpy(r->f64[me], d, sizeof(d));
	for (int q = 0; q < n; q++)
		r->i64[me][3] += all[q] == 1000 + q;
	snprintf(r->names[me][0], FSC_HOST_MAX, "%s", text);
	return 0;
}

static void fsc_boot_allreduce__max_min_sum_and_gathers(void **state)
{
	(void)state;
	for (int n = 1; n <= MAXR; n++) {
		struct rec r = {0};

		assert_int_equal(fsc_boot_local_run(n, NULL, rank_collectives, &r, NULL), 0);
		for (int i = 0; i < n; i++) {
			char want[32];

			for (int k = 0; k < 6; k++)
				assert_int_equal(r.rc[i][k], 0);
			assert_int_equal(r.i64[i][0], (n - 1) * 10 - 7);
			assert_int_equal(r.i64[i][1], -7);
			assert_int_equal(r.i64[i][2], 10 * n * (n - 1) / 2 - 7 * n);
			assert_int_equal(r.i64[i][3], n); /* every gathered block right */
			assert_true(r.f64[i][0] == n - 0.5);
			assert_true(r.f64[i][1] == 0.5);
			assert_true(r.f64[i][2] == n * (n - 1) / 2.0 + 0.5 * n);
			snprintf(want, sizeof(want), "from %d", n - 1);
			assert_string_equal(r.names[i][0], want);
		}
	}
}

/* A vector longer than the on-stack scratch, reduced many times in a row:
 * also catches a rank racing ahead into the next collective. */
static int rank_long_vectors(struct fsc_boot *b, void *arg)
{
	struct rec *r = arg;
	int64_t v[100];

	for (int it = 0; it < 200; it++) {
		for (int i = 0; i < 100; i++)
			v[i] = (int64_t)(b->rank + 1) * (i + it);
		r->rc[b->rank][0] |= fsc_boot_allreduce(b, v, 100, FSC_BOOT_I64, FSC_BOOT_SUM);
		for (int i = 0; i < 100; i++)
			r->i64[b->rank][0] +=
			        v[i] != (int64_t)(b->size * (b->size + 1) / 2) * (i + it);
	}
	return 0;
}

static void fsc_boot_allreduce__long_vectors_back_to_back(void **state)
{
	struct rec r = {0};

	(void)state;
	assert_int_equal(fsc_boot_local_run(4, NULL, rank_long_vectors, &r, NULL), 0);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(r.rc[i][0], 0);
		assert_int_equal(r.i64[i][0], 0);
	}
}

static int rank_mismatch(struct fsc_boot *b, void *arg)
{
	struct rec *r = arg;
	char buf[16] = {0}, all[MAXR * 16];

	r->rc[b->rank][0] = fsc_boot_allgather(b, buf, all, b->rank ? 16 : 8);
	r->rc[b->rank][1] = fsc_boot_bcast(b, buf, 8, 5);
	r->rc[b->rank][2] = fsc_boot_allreduce(b, buf, 1, FSC_BOOT_I64, (enum fsc_boot_op)9);
	r->rc[b->rank][3] = fsc_boot_barrier(b); /* still usable afterwards */
	return 0;
}

static void fsc_boot_local__rejects_mismatched_arguments_on_every_rank(void **state)
{
	struct rec r = {0};

	(void)state;
	assert_int_equal(fsc_boot_local_run(3, NULL, rank_mismatch, &r, NULL), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(r.rc[i][0], -EINVAL);
		assert_int_equal(r.rc[i][1], -EINVAL);
		assert_int_equal(r.rc[i][2], -EINVAL);
		assert_int_equal(r.rc[i][3], 0);
	}
}

/* Rank 0 returns at once; the others must get an error, not hang. */
static int rank_leaves_early(struct fsc_boot *b, void *arg)
{
	struct rec *r = arg;
	int64_t v = 1;

	if (b->rank == 0)
		return -EIO;
	r->rc[b->rank][0] = fsc_boot_barrier(b);
	r->rc[b->rank][1] = fsc_boot_allreduce(b, &v, 1, FSC_BOOT_I64, FSC_BOOT_SUM);
	return 0;
}

static void fsc_boot_barrier__fails_when_a_rank_has_left(void **state)
{
	struct rec r = {0};
	int rcs[3];

	(void)state;
	assert_int_equal(fsc_boot_local_run(3, NULL, rank_leaves_early, &r, rcs), 0);
	assert_int_equal(rcs[0], -EIO);
	for (int i = 1; i < 3; i++) {
		assert_int_equal(r.rc[i][0], -EIO);
		assert_int_equal(r.rc[i][1], -EIO);
	}
}

static void fsc_boot_local_run__can_run_many_times(void **state)
{
	(void)state;
	for (int k = 0; k < 20; k++) {
		struct rec r = {0};
		int rcs[2];

		assert_int_equal(fsc_boot_local_run(2, NULL, rank_collectives, &r, rcs), 0);
		assert_int_equal(rcs[0], 0);
		assert_int_equal(r.i64[1][2], 10 - 14);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(fsc_boot_local_run__fills_hosts_and_returns_each_rc),
	        cmocka_unit_test(fsc_boot_local_run__default_host_is_shared),
	        cmocka_unit_test(fsc_boot_local_run__rejects_no_ranks),
	        cmocka_unit_test(fsc_boot_barrier__nobody_passes_early),
	        cmocka_unit_test(fsc_boot_allreduce__max_min_sum_and_gathers),
	        cmocka_unit_test(fsc_boot_allreduce__long_vectors_back_to_back),
	        cmocka_unit_test(fsc_boot_local__rejects_mismatched_arguments_on_every_rank),
	        cmocka_unit_test(fsc_boot_barrier__fails_when_a_rank_has_left),
	        cmocka_unit_test(fsc_boot_local_run__can_run_many_times),
	};

	return cmocka_run_group_tests(tests, 0, 0);
}
