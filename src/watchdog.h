/* Watchdog: find the rank that stalled or died, agree on it, stop.
 *
 * Every rank of a job carries one watchdog (struct fsc_boot's `wd`).  It
 * talks over the bootstrap's control path (boot ops ctl_send/ctl_recv: a
 * second duplicate of MPI_COMM_WORLD under MPI, shared memory between local
 * ranks), never over the fabric being measured, so a broken fabric cannot
 * hide a live rank.
 *
 * Protocol (messages are struct fsc_wd_msg):
 *  - A rank whose wait passes its deadline (a fabric request, a bootstrap
 *    collective, a native collective) "trips": it sends PING to every rank
 *    not yet known dead and collects PONGs for the grace period
 *    (FSC_WD_GRACE_NS, 3 s).  Ranks answer from inside every wait loop
 *    (fsc_watchdog_poll), and their PONG says what they are doing.
 *  - Ranks that did not answer are the culprits.  The tripping rank sends a
 *    VERDICT (culprits + what it was doing with them) to every rank; a rank
 *    adopts the first verdict it hears, or one from a lower rank than the
 *    one it holds, so the survivors converge on the lowest reporter's view.
 *  - When everyone answered, nothing is decided: a bootstrap wait goes on
 *    waiting (the others are busy, e.g. measuring another pair), a fabric
 *    wait returns its own error naming the link.
 *  - Once a verdict is held, every bootstrap collective and every wait
 *    returns -ECONNABORTED at once; main reports and ends the job.
 *
 * Cost on the measured path: fsc_fabric_wait polls the watchdog only where
 * it already reads the clock (every 256 polls of a wait that has not
 * completed), so a request that completes quickly pays nothing.
 */
#ifndef FSC_WATCHDOG_H
#define FSC_WATCHDOG_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct fsc_boot;
struct fsc_watchdog;

/* How long a tripped rank collects answers before it decides. */
#define FSC_WD_GRACE_NS (3ull * 1000000000ull)
/* Most culprits named in one verdict (the count is always exact). */
#define FSC_WD_MAX_CULPRITS 16

/* What a rank is doing, as reported to the others. */
struct fsc_wd_doing {
	char fabric[16];
	char pattern[24];
	char phase[24]; /* "connect", "verification", "warm-up", "timed", ... */
	uint64_t bytes;
	int64_t iter; /* -1: not known */
};

enum fsc_wd_type { FSC_WD_PING = 1, FSC_WD_PONG = 2, FSC_WD_VERDICT = 3 };

/* One control message (fixed size, plain data). */
struct fsc_wd_msg {
	int32_t type;
	int32_t from;
	uint64_t epoch; /* PING/PONG: the pinger's query number */
	struct fsc_wd_doing doing;
	/* VERDICT */
	int32_t ncul;
	int32_t cul[FSC_WD_MAX_CULPRITS];
	int32_t link_peer; /* -1, or the peer whose link failed though alive */
	char why[96];      /* what the reporter was waiting for */
};

/* Allocate b->wd (called by every bootstrap's create, after the host
 * table exists).  -ENOMEM (logged). */
int fsc_watchdog_create(struct fsc_boot *b);
/* Accepts NULL. */
void fsc_watchdog_destroy(struct fsc_boot *b);

/* Deadline of bootstrap waits (0: none) and grace of a query (0: the
 * default).  Not collective; every rank should pass the same values. */
void fsc_watchdog_configure(struct fsc_boot *b, uint64_t timeout_ns, uint64_t grace_ns);
uint64_t fsc_watchdog_timeout_ns(const struct fsc_boot *b);
/* 1 once configured (b may be NULL). */
int fsc_watchdog_armed(const struct fsc_boot *b);

/* Record what this rank is doing (NULL strings leave a field unchanged;
 * iter -1 = unknown).  Cheap: a few copies, no messages. */
void fsc_watchdog_doing(struct fsc_boot *b, const char *fabric, const char *pattern,
                        const char *phase, uint64_t bytes, int64_t iter);

/* Answer pending PINGs and take in VERDICTs.  Returns 0, or -ECONNABORTED
 * once a verdict is held.  Call from every wait loop. */
int fsc_watchdog_poll(struct fsc_boot *b);

/* A wait passed its deadline.  peer: the rank waited for (-1: unknown,
 * e.g. a collective); what: one phrase ("receive of 64 B from rank 3").
 * Runs the liveness query (up to the grace period).  Returns
 * -ECONNABORTED when culprits were found (verdict held and sent to all),
 * or 0 when every rank answered (nothing decided). */
int fsc_watchdog_trip(struct fsc_boot *b, int peer, const char *what);

/* A fabric wait failed with rc (-ETIMEDOUT, or a transport error such as
 * -EIO from a closed connection) on a request with `peer` (is_recv: a
 * receive).  When the watchdog is armed, trips; returns -ECONNABORTED when
 * culprits were found, else logs that `peer` is alive but the link lost
 * the messages, and returns rc.  Other codes are returned unchanged. */
int fsc_watchdog_link_failed(struct fsc_boot *b, int peer, int is_recv, int rc, const char *what);

/* 1 once a verdict is held (b may be NULL or have no watchdog: 0). */
int fsc_watchdog_aborted(const struct fsc_boot *b);
/* Is rank r named a culprit by the verdict held? */
int fsc_watchdog_is_culprit(const struct fsc_boot *b, int r);
/* The lowest rank not named a culprit (0 without a verdict). */
int fsc_watchdog_lowest_live(const struct fsc_boot *b);

/* The verdict as one line, naming each culprit's rank and host and what
 * it was last seen doing ("" without a verdict). */
const char *fsc_watchdog_verdict_text(const struct fsc_boot *b);
/* The verdict as a JSON object for results: {"reason", "reported_by",
 * "culprits": [{"rank", "host", "last_seen": {...}}]}.  NULL without one.
 * New reference. */
json_t *fsc_watchdog_verdict_json(const struct fsc_boot *b);

/* The launcher ended the job (SIGTERM seen by the caller's handler): the
 * next poll holds a verdict saying so, with the last peer a fabric named
 * as failing (if any) as the culprit.  Async-signal-safe. */
void fsc_watchdog_note_signal(int sig);
/* SIGCONT: a process that was stopped for longer than its timeout has been
 * given up on by the others, who are ending the job; it drops its later
 * messages (a broken connection it now finds is no news).  Async-signal-
 * safe. */
void fsc_watchdog_note_continue(void);

#endif
