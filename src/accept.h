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
 *
 * The parts: accept.c (the command line, in-process ranks or MPI, the
 * dry run), accept_run.c (running the items of the plan with retries),
 * accept_plan.c (the items of a spec and their run configurations),
 * accept_judge.c (one check on an attempt's records, suspects),
 * accept_record.c (the typed fields of a result record that checks read),
 * accept_report.c (verdict, JUnit XML, terminal table) and accept_text.c
 * (formatting shared by them).
 */
#ifndef FSC_ACCEPT_H
#define FSC_ACCEPT_H

/* The `accept` command: argv[0] is "accept".  Returns the exit code. */
int fsc_accept_main(int argc, char **argv);

#endif
