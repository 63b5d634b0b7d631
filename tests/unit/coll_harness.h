/* Helpers of the collective pattern tests (test_allreduce.c,
 * test_coll_*.c) on top of the loopback harness (lb_harness.h): run a list
 * of points and insist that every rank got through all of them.
 */
#ifndef FSC_TEST_COLL_HARNESS_H
#define FSC_TEST_COLL_HARNESS_H

#include <stdlib.h>

#include "unit/lb_harness.h"

/* Run j's points on n ranks; asserts that every rank returned 0 and that
 * there is one record per point.  The caller owns the records. */
static inline json_t *ch_run(struct lbh_job *j, int n)
{
	json_t *recs = lbh_run(j, n);

	for (int i = 0; i < n; i++)
		assert_int_equal(j->rc[i], 0);
	assert_int_equal(json_array_size(recs), j->npoints);
	return recs;
}

/* Run the one point p on n ranks; its record, owned by the caller. */
static inline json_t *ch_one(struct lbh_job *j, int n, const struct lbh_point *p)
{
	json_t *recs, *rec;

	j->points = p;
	j->npoints = 1;
	recs = ch_run(j, n);
	rec = json_incref(json_array_get(recs, 0));
	json_decref(recs);
	return rec;
}

/* Every record "ok" with zero wrong elements; prints the first that is not. */
static inline void ch_assert_all_ok(json_t *recs)
{
	size_t i;
	json_t *rec;

	json_array_foreach(recs, i, rec)
	{
		if (strcmp(lbh_str(rec, "status"), "ok") || lbh_num(rec, "wrong") != 0) {
			char *s = json_dumps(rec, JSON_COMPACT);

			print_error("record %zu: %s\n", i, s ? s : "?");
			free(s);
			fail();
		}
	}
}

#endif
