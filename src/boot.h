/* Bootstrap: the out-of-band control plane.
 *
 * Not a fabric.  Used for address exchange (QP numbers, worker addresses,
 * TCP ports), barriers, option and status agreement, and gathering results
 * to rank 0.  Two implementations: MPI (on its own duplicated communicator)
 * and local (N threads of one process: tests and the loopback fabric).
 *
 * Every call is collective over all ranks.  barrier() never busy-spins: a
 * rank with nothing to measure must leave the CPU to the ranks that are
 * measuring (oversubscribed clusters, 2-core test machines).
 *
 * Every wait answers the watchdog (watchdog.h) and, when the watchdog is
 * armed with a timeout, trips it once the wait is longer than that; once
 * the watchdog holds a verdict, every collective fails at once with
 * -ECONNABORTED instead of waiting on a rank that will never come.
 */
#ifndef FSC_BOOT_H
#define FSC_BOOT_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "watchdog.h"

#define FSC_HOST_MAX 64

enum fsc_boot_type { FSC_BOOT_I64, FSC_BOOT_F64 };
enum fsc_boot_op { FSC_BOOT_MAX, FSC_BOOT_MIN, FSC_BOOT_SUM };

struct fsc_boot;

struct fsc_boot_ops {
	const char *name; /* "mpi", "local" */
	int (*barrier)(struct fsc_boot *b);
	/* recv holds size * bytes; rank r's block at r * bytes. */
	int (*allgather)(struct fsc_boot *b, const void *send, void *recv, size_t bytes);
	int (*bcast)(struct fsc_boot *b, void *buf, size_t bytes, int root);
	/* In place, element-wise over `count` int64_t or double. */
	int (*allreduce)(struct fsc_boot *b, void *buf, size_t count, enum fsc_boot_type type,
	                 enum fsc_boot_op op);
	void (*destroy)(struct fsc_boot *b);
	/* The watchdog's control path, independent of every fabric: send one
	 * small message to rank dst without waiting for it (0 or negative),
	 * and take one received message if any (1: got one, with its length
	 * at most len; 0: none; negative: error).  Point-to-point, not
	 * collective; messages between two ranks arrive in order. */
	int (*ctl_send)(struct fsc_boot *b, int dst, const void *msg, size_t len);
	int (*ctl_recv)(struct fsc_boot *b, void *msg, size_t len);
};

struct fsc_boot {
	const struct fsc_boot_ops *ops;
	int rank, size;
	char host[FSC_HOST_MAX];     /* this rank's host name */
	char (*hosts)[FSC_HOST_MAX]; /* all ranks' host names, [size] */
	int host_index;              /* index of this rank's host in host order */
	int nhosts;                  /* distinct hosts */
	int *rank_host;              /* [size]: host index of each rank */
	int local_rank, local_size;  /* position among the ranks of this host */
	/* Optional: called between the sleeps of a collective's wait, so a
	 * rank that waits still drives its fabric (acknowledgements and
	 * rendezvous its peers are waiting for, a peer's large send to drain)
	 * without spinning.  Set by whoever owns the fabric; NULL if none. */
	void (*idle)(void *arg);
	void *idle_arg;
	struct fsc_watchdog *wd; /* see watchdog.h; NULL: none */
	void *impl;
};

static inline int fsc_boot_barrier(struct fsc_boot *b)
{
	if (fsc_watchdog_aborted(b))
		return -ECONNABORTED;
	return b->ops->barrier(b);
}
static inline int fsc_boot_allgather(struct fsc_boot *b, const void *s, void *r, size_t n)
{
	if (fsc_watchdog_aborted(b))
		return -ECONNABORTED;
	return b->ops->allgather(b, s, r, n);
}
static inline int fsc_boot_bcast(struct fsc_boot *b, void *buf, size_t n, int root)
{
	if (fsc_watchdog_aborted(b))
		return -ECONNABORTED;
	return b->ops->bcast(b, buf, n, root);
}
static inline int fsc_boot_allreduce(struct fsc_boot *b, void *buf, size_t count,
                                     enum fsc_boot_type t, enum fsc_boot_op op)
{
	if (fsc_watchdog_aborted(b))
		return -ECONNABORTED;
	return b->ops->allreduce(b, buf, count, t, op);
}
/* Accepts NULL. */
void fsc_boot_destroy(struct fsc_boot *b);

/* Create the watchdog (b->wd) and fill hosts/host_index/nhosts/rank_host/
 * local_* from b->host by an allgather (called by each implementation's
 * create; collective). */
int fsc_boot_init_hosts(struct fsc_boot *b);

/* Agree on a status: every rank passes its rc (0 or negative); all ranks
 * get back the rc of the lowest-numbered failing rank (0 if none) and, in
 * *first_rank, that rank (-1 if none).  Used so that one bad option fails
 * every rank the same way instead of hanging some of them. */
int fsc_boot_agree(struct fsc_boot *b, int rc, int *first_rank);

/* MPI bootstrap: MPI_Init_thread (if MPI is not initialised yet) and a
 * duplicate of MPI_COMM_WORLD.  -ENOTSUP when built without MPI. */
int fsc_boot_mpi_create(struct fsc_boot **out, int *argc, char ***argv);
/* MPI_Finalize if we initialised MPI (after destroying every boot). */
void fsc_boot_mpi_finalize(void);
/* Write the MPI bootstrap's control communicator (an MPI_Comm, a duplicate
 * of MPI_COMM_WORLD owned by the bootstrap) to *(MPI_Comm *)comm_out, for
 * the mpi fabric and tests.  Callers must not free it; duplicate it to
 * carry their own traffic.  A void pointer, so that this header needs no
 * <mpi.h>.  Returns 0, or -ENOTSUP (not logged) when b is not the MPI
 * bootstrap. */
int fsc_boot_mpi_comm(struct fsc_boot *b, void *comm_out);
/* End the whole job now with exit code `code` (MPI_Abort on
 * MPI_COMM_WORLD): for a job with a stalled rank, where MPI_Finalize would
 * wait for it for ever.  Returns only when MPI is not running (built
 * without MPI, not initialised, or already finalised). */
void fsc_boot_mpi_abort(int code);

/* Local bootstrap: run fn on n threads, each with its own struct fsc_boot
 * (rank 0..n-1).  hosts[i] names rank i's host (NULL: every rank gets this
 * machine's host name), so tests can model several ranks per host.  rcs[i]
 * receives thread i's return value.  Returns 0 once every thread joined. */
int fsc_boot_local_run(int n, const char *const *hosts, int (*fn)(struct fsc_boot *b, void *arg),
                       void *arg, int *rcs);

#endif
