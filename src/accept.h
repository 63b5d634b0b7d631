/* `fabscope accept SPEC`: run an acceptance spec (src/spec.h) and judge it.
 *
 * For each test of the spec and each of its fabrics (an "item"), the item's
 * run configuration is built from the spec with the option parser of `run`
 * (every value validated as on the command line), run with
 * fsc_session_run, and every check of the test is judged on rank 0 from the
 * records it produced.  An item with a failing check is run again (once by
 * default, --retries): a check that failed counts only when it fails again,
 * and says that it was retried.  Output: the results JSON (every record
 * tagged with "test" and "attempt", plus an "acceptance" object), a verdict
 * table on the terminal, a JUnit XML file, and the exit code: 0 every check
 * passed (skips allowed), 1 a check failed, 2 bad input or nothing could
 * run.  The format of the acceptance object is in scripts/specs/README.md.
 */
#ifndef FSC_ACCEPT_H
#define FSC_ACCEPT_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

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

/* Write the JUnit XML of an acceptance object (tmp file + rename): one
 * testsuite named after the spec, one testcase per check (classname
 * "test.fabric", name the check), <failure> and <skipped/> as needed.
 * Returns 0 or -errno with a message in err. */
int fsc_accept_junit_write(const json_t *acceptance, const char *path, char *err, size_t errlen);

/* The verdict table, suspects, and final verdict line (rank 0). */
void fsc_accept_print(FILE *f, const json_t *acceptance);

/* The `accept` command: argv[0] is "accept".  Returns the exit code. */
int fsc_accept_main(int argc, char **argv);

#endif
