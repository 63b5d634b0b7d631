/* Judging the checks of `fabscope accept` (src/accept.h): one check of a
 * spec (src/spec.h) on the records of one attempt of one item, and the
 * suspects (nodes, links) that explain a failing check. */
#ifndef FSC_ACCEPT_JUDGE_H
#define FSC_ACCEPT_JUDGE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "spec.h"

enum fsc_check_status { FSC_CHECK_PASS, FSC_CHECK_FAIL, FSC_CHECK_SKIP };

/* What one attempt of one item was, beside its records. */
struct fsc_accept_attempt {
	const json_t *records; /* the item's records (array) */
	double duration_s;     /* wall time of the attempt */
	uint64_t timeout_ns;   /* the test's timeout; 0 = none */
	int required;          /* the spec requires this fabric */
};

/* The judgement of one check on one attempt. */
struct fsc_check_outcome {
	enum fsc_check_status status;
	char required[160]; /* "p50 <= 50us at 8 B" */
	char measured[512]; /* "62.1 us at 8 B (pingpong)", or why skipped */
	double value;       /* the figure judged; NAN when none */
	json_t *suspects;   /* array of suspects (see fsc_accept_suspect_key); owned */
};

/* Judge check c on one attempt.  Never fails: a check that cannot be
 * judged (no matching point, fabric not usable) is FSC_CHECK_SKIP with the
 * reason in `measured`.  Release with fsc_check_outcome_fini. */
void fsc_accept_check_eval(const struct fsc_spec_check *c, const struct fsc_accept_attempt *a,
                           struct fsc_check_outcome *o);
void fsc_check_outcome_fini(struct fsc_check_outcome *o); /* accepts a zeroed one */

/* Add suspects to a merged list (array): the same node or link reported by
 * several checks or metrics is one suspect; a round-trip latency link
 * (direction "both") is folded into a one-way bandwidth link between the
 * same hosts, which names the direction; a link at a suspect node is
 * explained by the node (listed in its "explains").  `where` ("test/fabric",
 * or NULL) is noted in each suspect's "seen_in". */
void fsc_accept_suspects_merge(json_t *merged, const json_t *more, const char *where);

/* "h2 (node slow)", "h0->h2 (link slow)" for one suspect. */
void fsc_accept_suspect_text(const json_t *suspect, char *buf, size_t len);

/* What check c requires, as the verdict table says it: "p50 <= 50us at
 * 8B", "every point runs, within 30s" (a NULL: without the timeout). */
void fsc_accept_required_text(const struct fsc_spec_check *c, const struct fsc_accept_attempt *a,
                              char *buf, size_t len);

#endif
