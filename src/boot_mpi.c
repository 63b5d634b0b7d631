/* MPI bootstrap: the control plane on a duplicate of MPI_COMM_WORLD.
 *
 * Every collective is started non-blocking and then completed by a test
 * loop that sleeps between tests (20 us, doubling up to 1 ms).  On an
 * oversubscribed node a rank that busy-polls in a barrier steals the CPU
 * from the pair being measured: with four MPI hosts (network namespaces)
 * sharing two cores over TCP, rank 0's bandwidth to each peer read
 * 0.4-1.0 GB/s while the other ranks spun in a barrier and 2.4-3.0 GB/s
 * for the last pair, with nobody left spinning.  So a rank waiting on the
 * control plane must sleep.  The
 * cost is up to ~1 ms of extra latency per control collective, which never
 * falls inside a timed phase.
 *
 * A rank may legitimately wait in a barrier for as long as other ranks
 * measure (serial all-pairs runs take minutes), so the deadline of a wait
 * does not fail it: it trips the watchdog (watchdog.h), which asks every
 * rank whether it is alive over a second duplicate of MPI_COMM_WORLD used
 * for nothing else; the wait goes on when all answer, and fails with
 * -ECONNABORTED once a rank is found stalled.  Between its sleeps every
 * wait answers the watchdog.
 */
#include <errno.h>

#include "boot.h"

#ifndef FSC_HAVE_MPI
/* Built without MPI: the entry points exist and say so, so that callers
 * need no #ifdef (compile this file unconditionally to get them). */
int fsc_boot_mpi_create(struct fsc_boot **out, int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* Not logged: the caller decides whether a run without MPI is an
	 * error (a one-rank run needs none). */
	*out = 0;
	return -ENOTSUP;
}

void fsc_boot_mpi_finalize(void) {}

void fsc_boot_mpi_abort(int code)
{
	(void)code;
}

int fsc_boot_mpi_comm(struct fsc_boot *b, void *comm_out)
{
	(void)b;
	(void)comm_out;
	return -ENOTSUP;
}
#else

#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"

#define BOOT_MPI_SLEEP_MIN_NS 20000ull   /* first sleep between tests */
#define BOOT_MPI_SLEEP_MAX_NS 1000000ull /* backoff ceiling */

/* Watchdog sends in flight (MPI_Isend needs its buffer until done). */
#define BOOT_MPI_CTL_SLOTS 64
#define BOOT_MPI_CTL_MAX 512 /* bytes of one control message */
#define BOOT_MPI_CTL_TAG 7

struct boot_mpi_ctl_slot {
	MPI_Request req; /* MPI_REQUEST_NULL: free */
	unsigned char buf[BOOT_MPI_CTL_MAX];
};

struct boot_mpi {
	struct fsc_boot b; /* first: the container is freed through &b */
	MPI_Comm comm;
	MPI_Comm ctl; /* watchdog messages only */
	struct boot_mpi_ctl_slot slot[BOOT_MPI_CTL_SLOTS];
};

/* Whether fsc_boot_mpi_create called MPI_Init_thread, so that finalize
 * leaves an MPI initialised by the embedding program alone.  Process-wide
 * by nature: MPI itself is initialised once per process. */
static int boot_mpi_initialised_here;

/* Log a failed MPI call once, with MPI's own text; returns -EIO. */
static int boot_mpi_fail(int err, const char *what)
{
	char text[MPI_MAX_ERROR_STRING];
	int len = 0;

	if (MPI_Error_string(err, text, &len) != MPI_SUCCESS)
		snprintf(text, sizeof(text), "MPI error code %d", err);
	fsc_error("MPI bootstrap: %s failed: %s", what, text);
	return -EIO;
}

static MPI_Comm boot_mpi_comm_of(struct fsc_boot *b)
{
	return ((struct boot_mpi *)b->impl)->comm;
}

/* Complete a non-blocking control collective without spinning. */
static int boot_mpi_wait(struct fsc_boot *b, MPI_Request *req, const char *what)
{
	uint64_t sleep_ns = BOOT_MPI_SLEEP_MIN_NS, since = fsc_time_real_ns();
	uint64_t tmo = fsc_watchdog_timeout_ns(b);
	int flag = 0, err, rc;

	for (;;) {
		err = MPI_Test(req, &flag, MPI_STATUS_IGNORE);
		if (err != MPI_SUCCESS)
			return boot_mpi_fail(err, what);
		if (flag)
			return 0;
		if (b->idle)
			b->idle(b->idle_arg);
		rc = fsc_watchdog_poll(b);
		if (!rc && tmo && fsc_time_real_ns() - since > tmo) {
			char why[64];

			snprintf(why, sizeof(why), "a bootstrap %s", what);
			rc = fsc_watchdog_trip(b, -1, why);
			since = fsc_time_real_ns(); /* all alive: wait on */
		}
		if (rc)
			/* The request stays pending on a rank that will
			 * never join; the job ends without completing it. */
			return rc;
		fsc_sleep_ns(sleep_ns);
		if (sleep_ns < BOOT_MPI_SLEEP_MAX_NS)
			sleep_ns *= 2;
		if (sleep_ns > BOOT_MPI_SLEEP_MAX_NS)
			sleep_ns = BOOT_MPI_SLEEP_MAX_NS;
	}
}

static int boot_mpi_count(size_t n, const char *what)
{
	if (n > INT_MAX) {
		fsc_error("MPI bootstrap: %s of %zu elements exceeds MPI's int count (%d)", what, n,
		          INT_MAX);
		return -EINVAL;
	}
	return 0;
}

static int boot_mpi_barrier(struct fsc_boot *b)
{
	MPI_Request req;
	int err;

	err = MPI_Ibarrier(boot_mpi_comm_of(b), &req);
	if (err != MPI_SUCCESS)
		return boot_mpi_fail(err, "MPI_Ibarrier");
	return boot_mpi_wait(b, &req, "barrier");
}

static int boot_mpi_allgather(struct fsc_boot *b, const void *send, void *recv, size_t bytes)
{
	const void *sbuf = send;
	MPI_Request req;
	int err, rc;

	rc = boot_mpi_count(bytes, "allgather");
	if (rc)
		return rc;
	/* MPI forbids aliased buffers; a send block already in place is
	 * MPI_IN_PLACE. */
	if (send == (const char *)recv + (size_t)b->rank * bytes)
		sbuf = MPI_IN_PLACE;
	err = MPI_Iallgather(sbuf, (int)bytes, MPI_BYTE, recv, (int)bytes, MPI_BYTE,
	                     boot_mpi_comm_of(b), &req);
	if (err != MPI_SUCCESS)
		return boot_mpi_fail(err, "MPI_Iallgather");
	return boot_mpi_wait(b, &req, "allgather");
}

static int boot_mpi_bcast(struct fsc_boot *b, void *buf, size_t bytes, int root)
{
	MPI_Request req;
	int err, rc;

	rc = boot_mpi_count(bytes, "bcast");
	if (rc)
		return rc;
	err = MPI_Ibcast(buf, (int)bytes, MPI_BYTE, root, boot_mpi_comm_of(b), &req);
	if (err != MPI_SUCCESS)
		return boot_mpi_fail(err, "MPI_Ibcast");
	return boot_mpi_wait(b, &req, "bcast");
}

static int boot_mpi_allreduce(struct fsc_boot *b, void *buf, size_t count, enum fsc_boot_type type,
                              enum fsc_boot_op op)
{
	MPI_Datatype dt;
	MPI_Request req;
	MPI_Op mop;
	int err, rc;

	rc = boot_mpi_count(count, "allreduce");
	if (rc)
		return rc;
	switch (type) {
	case FSC_BOOT_I64: dt = MPI_INT64_T; break;
	case FSC_BOOT_F64: dt = MPI_DOUBLE; break;
	default:
		fsc_error("MPI bootstrap: allreduce: unknown element type %d", (int)type);
		return -EINVAL;
	}
	switch (op) {
	case FSC_BOOT_MAX: mop = MPI_MAX; break;
	case FSC_BOOT_MIN: mop = MPI_MIN; break;
	case FSC_BOOT_SUM: mop = MPI_SUM; break;
	default:
		fsc_error("MPI bootstrap: allreduce: unknown operation %d", (int)op);
		return -EINVAL;
	}
	err = MPI_Iallreduce(MPI_IN_PLACE, buf, (int)count, dt, mop, boot_mpi_comm_of(b), &req);
	if (err != MPI_SUCCESS)
		return boot_mpi_fail(err, "MPI_Iallreduce");
	return boot_mpi_wait(b, &req, "allreduce");
}

static int boot_mpi_ctl_send(struct fsc_boot *b, int dst, const void *msg, size_t len)
{
	struct boot_mpi *m = b->impl;
	int flag = 0;

	if (len > BOOT_MPI_CTL_MAX || dst < 0 || dst >= b->size)
		return -EINVAL;
	for (int i = 0; i < BOOT_MPI_CTL_SLOTS; i++) {
		struct boot_mpi_ctl_slot *s = &m->slot[i];

		if (s->req != MPI_REQUEST_NULL) {
			MPI_Test(&s->req, &flag, MPI_STATUS_IGNORE);
			if (!flag)
				continue;
		}
		memcpy(s->buf, msg, len);
		if (MPI_Isend(s->buf, (int)len, MPI_BYTE, dst, BOOT_MPI_CTL_TAG, m->ctl, &s->req) !=
		    MPI_SUCCESS) {
			s->req = MPI_REQUEST_NULL;
			return -EIO;
		}
		return 0;
	}
	/* Every slot is waiting on a rank that does not receive: that rank is
	 * what the watchdog reports; this message is dropped. */
	return -EAGAIN;
}

static int boot_mpi_ctl_recv(struct fsc_boot *b, void *msg, size_t len)
{
	struct boot_mpi *m = b->impl;
	MPI_Status st;
	int flag = 0, n = 0;

	if (MPI_Iprobe(MPI_ANY_SOURCE, BOOT_MPI_CTL_TAG, m->ctl, &flag, &st) != MPI_SUCCESS)
		return -EIO;
	if (!flag)
		return 0;
	MPI_Get_count(&st, MPI_BYTE, &n);
	if (n < 0 || (size_t)n > len) {
		/* Not ours to read whole: take it off the queue and drop it. */
		unsigned char junk[BOOT_MPI_CTL_MAX];

		MPI_Recv(junk, BOOT_MPI_CTL_MAX, MPI_BYTE, st.MPI_SOURCE, BOOT_MPI_CTL_TAG, m->ctl,
		         MPI_STATUS_IGNORE);
		return 0;
	}
	if (MPI_Recv(msg, n, MPI_BYTE, st.MPI_SOURCE, BOOT_MPI_CTL_TAG, m->ctl,
	             MPI_STATUS_IGNORE) != MPI_SUCCESS)
		return -EIO;
	return 1;
}

static void boot_mpi_destroy(struct fsc_boot *b)
{
	struct boot_mpi *m;
	int finalized = 0;

	if (!b)
		return;
	m = (struct boot_mpi *)b->impl;
	/* A communicator cannot be freed once MPI is finalised. */
	MPI_Finalized(&finalized);
	if (m && !finalized) {
		/* Answers still in flight to ranks that stopped listening
		 * are let go (MPI completes them on its own). */
		for (int i = 0; i < BOOT_MPI_CTL_SLOTS; i++)
			if (m->slot[i].req != MPI_REQUEST_NULL)
				MPI_Request_free(&m->slot[i].req);
		if (m->ctl != MPI_COMM_NULL)
			MPI_Comm_free(&m->ctl);
		if (m->comm != MPI_COMM_NULL)
			MPI_Comm_free(&m->comm);
	}
	free(b); /* b is the first member of the container */
}

static const struct fsc_boot_ops boot_mpi_ops = {
        .name = "mpi",
        .barrier = boot_mpi_barrier,
        .allgather = boot_mpi_allgather,
        .bcast = boot_mpi_bcast,
        .allreduce = boot_mpi_allreduce,
        .destroy = boot_mpi_destroy,
        .ctl_send = boot_mpi_ctl_send,
        .ctl_recv = boot_mpi_ctl_recv,
};

static const char *boot_mpi_thread_name(int level)
{
	if (level == MPI_THREAD_SINGLE)
		return "MPI_THREAD_SINGLE";
	if (level == MPI_THREAD_FUNNELED)
		return "MPI_THREAD_FUNNELED";
	if (level == MPI_THREAD_SERIALIZED)
		return "MPI_THREAD_SERIALIZED";
	return "MPI_THREAD_MULTIPLE";
}

/* The thread level to ask for.  fabscope calls MPI from its main thread
 * only (other threads, such as a UCX progress thread, never call MPI), and
 * Open MPI 4.1 charges every level above MPI_THREAD_SINGLE about 0.1 us per
 * shared-memory message (0.42 vs 0.52 us half round trip measured here with
 * a bare Irecv/Test ping-pong), a quarter of the latency being measured.
 * So SINGLE, as osu_latency's MPI_Init; FSC_MPI_THREAD_LEVEL=funneled,
 * serialized or multiple asks for more where a library needs it. */
static int boot_mpi_thread_level(void)
{
	const char *e = getenv("FSC_MPI_THREAD_LEVEL");

	if (!e || !strcmp(e, "single"))
		return MPI_THREAD_SINGLE;
	if (!strcmp(e, "funneled"))
		return MPI_THREAD_FUNNELED;
	if (!strcmp(e, "serialized"))
		return MPI_THREAD_SERIALIZED;
	if (!strcmp(e, "multiple"))
		return MPI_THREAD_MULTIPLE;
	fsc_warn("MPI bootstrap: FSC_MPI_THREAD_LEVEL=%s is not single, funneled, serialized "
	         "or multiple; using single",
	         e);
	return MPI_THREAD_SINGLE;
}

/* MPI_Init_thread unless the program already did it. */
static int boot_mpi_init(int *argc, char ***argv)
{
	int initialised = 0, finalized = 0, provided = MPI_THREAD_SINGLE, err;
	int wanted = boot_mpi_thread_level();

	MPI_Finalized(&finalized);
	if (finalized) {
		fsc_error("MPI bootstrap: MPI was already finalised in this process");
		return -ENOTSUP;
	}
	MPI_Initialized(&initialised);
	if (!initialised) {
		err = MPI_Init_thread(argc, argv, wanted, &provided);
		if (err != MPI_SUCCESS)
			return boot_mpi_fail(err, "MPI_Init_thread");
		boot_mpi_initialised_here = 1;
	} else {
		MPI_Query_thread(&provided);
	}
	if (provided < wanted)
		fsc_warn("MPI bootstrap: MPI provides only %s (asked for %s)",
		         boot_mpi_thread_name(provided), boot_mpi_thread_name(wanted));
	return 0;
}

int fsc_boot_mpi_create(struct fsc_boot **out, int *argc, char ***argv)
{
	char host[256];
	struct boot_mpi *m;
	int err, rc;

	*out = 0;
	rc = boot_mpi_init(argc, argv);
	if (rc)
		return rc;
	m = calloc(1, sizeof(*m));
	if (!m) {
		fsc_error("MPI bootstrap: out of memory");
		return -ENOMEM;
	}
	m->comm = MPI_COMM_NULL;
	m->ctl = MPI_COMM_NULL;
	for (int i = 0; i < BOOT_MPI_CTL_SLOTS; i++)
		m->slot[i].req = MPI_REQUEST_NULL;
	m->b.ops = &boot_mpi_ops;
	m->b.impl = m;
	/* Our own communicator: control traffic never matches anything the
	 * program or the MPI fabric sends on other communicators. */
	err = MPI_Comm_dup(MPI_COMM_WORLD, &m->comm);
	if (err != MPI_SUCCESS) {
		rc = boot_mpi_fail(err, "MPI_Comm_dup(MPI_COMM_WORLD)");
		goto free_boot;
	}
	MPI_Comm_set_errhandler(m->comm, MPI_ERRORS_RETURN);
	err = MPI_Comm_dup(MPI_COMM_WORLD, &m->ctl);
	if (err != MPI_SUCCESS) {
		rc = boot_mpi_fail(err, "MPI_Comm_dup(MPI_COMM_WORLD) for the watchdog");
		goto free_boot;
	}
	MPI_Comm_set_errhandler(m->ctl, MPI_ERRORS_RETURN);
	MPI_Comm_rank(m->comm, &m->b.rank);
	MPI_Comm_size(m->comm, &m->b.size);

	if (gethostname(host, sizeof(host))) {
		fsc_warn("MPI bootstrap: gethostname failed; using \"unknown\"");
		snprintf(host, sizeof(host), "unknown");
	}
	host[sizeof(host) - 1] = 0;
	/* Truncated to FSC_HOST_MAX - 1 characters. */
	snprintf(m->b.host, sizeof(m->b.host), "%.*s", FSC_HOST_MAX - 1, host);
	fsc_log_set_identity(m->b.rank, m->b.host);

	rc = fsc_boot_init_hosts(&m->b);
	if (rc) {
		if (rc == -ENOMEM)
			fsc_error("MPI bootstrap: out of memory for the host table");
		goto free_boot;
	}
	*out = &m->b;
	return 0;

free_boot:
	fsc_boot_destroy(&m->b); /* frees hosts, the communicator and m */
	return rc;
}

void fsc_boot_mpi_finalize(void)
{
	int finalized = 0;

	if (!boot_mpi_initialised_here)
		return;
	MPI_Finalized(&finalized);
	if (!finalized)
		MPI_Finalize();
	boot_mpi_initialised_here = 0;
}

void fsc_boot_mpi_abort(int code)
{
	int initialised = 0, finalized = 0;

	MPI_Initialized(&initialised);
	MPI_Finalized(&finalized);
	if (initialised && !finalized)
		MPI_Abort(MPI_COMM_WORLD, code);
}

int fsc_boot_mpi_comm(struct fsc_boot *b, void *comm_out)
{
	if (!b || b->ops != &boot_mpi_ops)
		return -ENOTSUP;
	*(MPI_Comm *)comm_out = boot_mpi_comm_of(b);
	return 0;
}

#endif /* FSC_HAVE_MPI */
