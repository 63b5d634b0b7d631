/* The fabric conformance suite: one set of checks that every fabric must
 * pass, over any bootstrap (local threads in the unit tests, MPI ranks under
 * mpirun in tests/integration/conformance_mpi.sh).
 *
 * The contract it checks (fabric.h), with the sizes 0, 1, 4097 B and 4 MiB:
 *  - every rank exchanges seeded data with every other rank (ring and all
 *    pairs at once, receives posted before or after the sends arrive), and
 *    the data arrives byte for byte, without a write past the buffer;
 *  - many requests may be in flight (64 small messages to one peer, one tag
 *    each, received in reverse tag order);
 *  - messages of one (source, destination, tag) match in posting order,
 *    also with two tags interleaved;
 *  - isend/irecv to an invalid peer (-1, size) return -EINVAL at once;
 *  - a receive of N bytes matched by a send of M != N bytes is reported as
 *    an error (not a timeout) on one side or the other;
 *  - a receive that timed out is withdrawn: the message its peer sends
 *    afterwards never lands in its buffer (freed request, canary-filled
 *    buffer, progress continued), later operations with that peer fail
 *    with -EIO, and another peer (3 or more ranks) is unaffected;
 *  - fabrics with one-sided transfers (put/get): a ring of puts (a silent
 *    one, then a notified one whose notification must follow both) and
 *    gets into guarded buffers, per size; bad peers and ranges refused
 *    with -EINVAL; a cancelled get withdrawn, or refused with -EBUSY and
 *    the fabric abandoned; a notification receive that times out
 *    withdrawn;
 *  - destroy accepts a fabric that never connected and a half-built one
 *    (impl NULL), and fsc_fabric_destroy(NULL) is harmless.
 * A fabric that declares a limit of the contract skips, with the reason,
 * the checks that need what it cannot give: FSC_CAP_POSTING_ORDER (no tag
 * matching) the reverse-tag and interleaved-tag checks,
 * FSC_CAP_CANCEL_ABORTS (no withdrawing of one operation) the late
 * message after a cancelled receive.  Fabrics on device memory
 * (FSC_CAP_GPU_MEM) exchange their own buffers, filled and verified
 * through host images.
 * Sending to oneself is NOT part of the contract (patterns copy their own
 * block locally) and is not checked; the loopback fabric rejects it.
 */
#ifndef FSC_CONFORMANCE_H
#define FSC_CONFORMANCE_H

#include <stdint.h>

#include "boot.h"
#include "fabric.h"
#include "options.h"

#define FSC_CONFORMANCE_MSG_MAX 512

struct fsc_conformance_report {
	/* In: deadline of each wait (ns); 0 keeps the fabric's own
	 * (f->timeout_ns, from --timeout).  Zero the rest. */
	uint64_t timeout_ns;
	/* Out, identical on every rank.  A check counts once, and fails if it
	 * failed on any rank. */
	unsigned checks_run;
	unsigned checks_failed;
	/* Checks not run because the fabric declares it cannot give what
	 * they need (fabric.h, FSC_CAP_POSTING_ORDER, FSC_CAP_CANCEL_ABORTS),
	 * and "<check>: <reason>; ..." for them. */
	unsigned checks_skipped;
	char skipped[FSC_CONFORMANCE_MSG_MAX];
	/* The first failure, "rank R: <check>: <detail>", or why the suite
	 * could not run; "" when everything passed. */
	char message[FSC_CONFORMANCE_MSG_MAX];
};

/* Number of checks a complete run of fabric `ops` makes on `size` ranks
 * (for tests). */
unsigned fsc_conformance_count(const struct fsc_fabric_ops *ops, int size);

/* Run the suite over fabric `ops` (options from cfg, may be NULL) on every
 * rank of b.  Collective.  Returns 0 when every check passed, -EIO when at
 * least one failed (see rep), or the error that kept the suite from running:
 * the fabric's create() result (-ENOTSUP: it cannot run on this bootstrap),
 * or a bootstrap failure.  The same value on every rank. */
int fsc_conformance_run(struct fsc_boot *b, const struct fsc_fabric_ops *ops,
                        const struct fsc_config *cfg, struct fsc_conformance_report *rep);

#endif
