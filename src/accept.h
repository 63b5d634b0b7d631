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
