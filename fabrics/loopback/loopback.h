/* Loopback fabric: N virtual ranks (threads of one process, local bootstrap)
 * with a virtual clock and fault injection.  See README.md in this folder for
 * the clock model and the options.
 *
 * The fabric itself is used through fsc_fabric_loopback and the generic
 * fsc_fabric_* calls; the few functions below let tests look inside.
 */
#ifndef FSC_LOOPBACK_H
#define FSC_LOOPBACK_H

#include <stdint.h>

#include "fabric.h"

extern const struct fsc_fabric_ops fsc_fabric_loopback;

/* This rank's traffic so far. */
struct fsc_loopback_stats {
	uint64_t sent;       /* messages posted by isend (dropped ones included) */
	uint64_t bytes_sent; /* their bytes */
	uint64_t received;   /* receives completed without error */
	uint64_t dropped;    /* sends swallowed by --lb-drop */
	uint64_t corrupted;  /* sends altered by --lb-corrupt */
	uint64_t discarded;  /* messages from a poisoned peer freed unread (cancel) */
};

/* This rank's virtual time in ns (not rounded).  f must be a loopback
 * fabric created on this thread's rank; returns -1.0 otherwise. */
double fsc_loopback_vt_ns(const struct fsc_fabric *f);

/* Move this rank's virtual time forward by ns >= 0 (models local work
 * between operations).  Returns 0, or -EINVAL for a negative ns or a fabric
 * that is not a loopback one. */
int fsc_loopback_advance_ns(struct fsc_fabric *f, double ns);

/* Copy this rank's counters to *out.  0, or -EINVAL (not a loopback
 * fabric). */
int fsc_loopback_get_stats(const struct fsc_fabric *f, struct fsc_loopback_stats *out);

/* Release a rank blocked by --lb-stall (callable from any thread; f is
 * the stalled rank's fabric).  0, or -EINVAL (not a loopback fabric). */
int fsc_loopback_release(struct fsc_fabric *f);

#endif
