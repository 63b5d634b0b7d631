/* The verdict of `fabscope accept` (src/accept.h) and its outputs.  An
 * acceptance object (its format: scripts/specs/README.md) holds the spec,
 * every check's judgement ("checks"), the merged suspects, the runs, the
 * counts, the verdict and its one-line summary. */
#ifndef FSC_ACCEPT_REPORT_H
#define FSC_ACCEPT_REPORT_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

/* Complete the acceptance object acc from the judged checks (array of
 * {test, fabric, check, status "pass"|"fail"|"skip", measured, ...}), the
 * merged suspects and the runs (references are taken): "checks",
 * "suspects", "runs", "counts", "verdict" (PASS, FAIL, NOT RUN), "summary"
 * (which names the suspects of a failure and why checks were skipped) and
 * "duration_s".  Returns the exit code: FSC_EXIT_FAIL when a check failed,
 * else FSC_EXIT_OK when one passed, else (every check skipped: nothing
 * judged) FSC_EXIT_USAGE. */
int fsc_accept_verdict(json_t *acc, json_t *checks, json_t *suspects, json_t *runs,
                       double duration_s);

/* Write the JUnit XML of an acceptance object (tmp file + rename): one
 * testsuite named after the spec, one testcase per check (classname
 * "test.fabric", name the check), <failure> and <skipped/> as needed.
 * Returns 0 or -errno with a message in err. */
int fsc_accept_junit_write(const json_t *acceptance, const char *path, char *err, size_t errlen);

/* The verdict table, suspects, and final verdict line (rank 0). */
void fsc_accept_print(FILE *f, const json_t *acceptance);

#endif
