/* MPI fabric: MPI_Isend/MPI_Irecv of MPI_BYTE and MPI's own collectives.
 *
 * Runs on a private duplicate of the MPI bootstrap's communicator, made in
 * connect() (MPI_Comm_dup is collective; create() is not), so measured
 * traffic never matches control traffic.  Requires the MPI bootstrap: the
 * communicator comes from it.
 *
 * Cancel (fabric.h, "Request lifetime"): MPI_Cancel, then MPI_Test until
 * the request is complete, for MPI_CANCEL_WAIT_NS at most.  Complete and
 * cancelled: the peer is poisoned (new operations with it fail; MPI keeps
 * its late messages in its own unexpected queue, never in a caller's
 * buffer).  Complete but not cancelled (it finished meanwhile): nothing to
 * do.  Still incomplete: MPI has matched the operation and will not stop it
 * (Open MPI does not cancel sends at all), so it may still read or write the
 * buffer; the request moves to a list of the fabric's own (the caller's
 * storage is released), the peer is poisoned, and cancel answers -EBUSY, on
 * which the wrapper abandons the fabric and keeps its buffers.
 *
 * Limits: one message, and one collective's element count, is at most
 * INT_MAX bytes/elements (MPI's int counts; splitting large messages is
 * not implemented).  MPI has no bfloat16 type, so bfloat16 reductions are
 * "not supported".  Every entry is called from one thread at a time.
 */
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boot.h"
#include "fabric.h"
#include "log.h"
#include "pattern.h"

/* The MPI_Request lives in the caller's struct fsc_req; it is copied in and
 * out with memcpy (no aliasing of the uint64_t storage). */
static_assert(sizeof(MPI_Request) <= sizeof(((struct fsc_req *)0)->opaque),
              "MPI_Request must fit in fsc_req.opaque");

struct mpi_fab {
	MPI_Comm comm; /* MPI_COMM_NULL until connect() */
	int tag_ub;    /* largest valid tag on comm (MPI_TAG_UB) */
	int bf16_noted;
	unsigned char *poisoned; /* [size]: an operation with that rank was cancelled */
	MPI_Request *orphans;    /* cancelled requests MPI would not stop */
	int norphans;
};

/* How long cancel waits for MPI to complete a cancelled request: a receive
 * MPI has not matched is withdrawn locally at once. */
#define MPI_CANCEL_WAIT_NS (100ull * 1000000ull)

static struct mpi_fab *mpi_of(struct fsc_fabric *f)
{
	return f->impl;
}

/* Log a failed MPI call once, with MPI's own text; returns -EIO. */
static int mpi_fail(int err, const char *what)
{
	char text[MPI_MAX_ERROR_STRING];
	int len = 0;

	if (MPI_Error_string(err, text, &len) != MPI_SUCCESS)
		snprintf(text, sizeof(text), "MPI error code %d", err);
	fsc_error("fabric mpi: %s failed: %s", what, text);
	return -EIO;
}

static const char *mpi_peer_host(struct fsc_fabric *f, int peer)
{
	if (f->boot && f->boot->hosts && peer >= 0 && peer < f->boot->size)
		return f->boot->hosts[peer];
	return "?";
}

static int mpi_probe(const struct fsc_config *cfg, char *reason, size_t len)
{
	/* Built with MPI is enough: a singleton run (no mpirun) is a valid
	 * one-rank MPI job.  create() checks the bootstrap. */
	(void)cfg;
	(void)reason;
	(void)len;
	return 0;
}

static int mpi_create(struct fsc_fabric *f, const struct fsc_config *cfg)
{
	struct mpi_fab *m;
	MPI_Comm bc;

	(void)cfg;
	if (fsc_boot_mpi_comm(f->boot, &bc)) {
		fsc_error("fabric mpi: the mpi fabric needs the MPI bootstrap (launch with "
		          "mpirun)");
		return -ENOTSUP;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		fsc_error("fabric mpi: out of memory");
		return -ENOMEM;
	}
	m->comm = MPI_COMM_NULL;
	f->impl = m;
	m->poisoned = calloc((size_t)f->size, 1);
	if (!m->poisoned) {
		fsc_error("fabric mpi: out of memory");
		return -ENOMEM;
	}
	return 0;
}

static void mpi_destroy(struct fsc_fabric *f)
{
	struct mpi_fab *m = mpi_of(f);
	int finalized = 0;

	if (!m)
		return;
	MPI_Finalized(&finalized);
	/* Pending operations may still be outstanding after an error: MPI
	 * frees the communicator once they complete. */
	/* Orphans are released to MPI, which completes them on its own;
	 * their buffers were kept (the fabric was abandoned). */
	for (int i = 0; i < m->norphans && !finalized; i++)
		MPI_Request_free(&m->orphans[i]);
	free(m->orphans);
	if (m->comm != MPI_COMM_NULL && !finalized)
		MPI_Comm_free(&m->comm);
	free(m->poisoned);
	free(m);
	f->impl = 0;
}

static int mpi_connect(struct fsc_fabric *f)
{
	struct mpi_fab *m = mpi_of(f);
	int *ub = 0, flag = 0, err;
	MPI_Comm bc;

	if (m->comm != MPI_COMM_NULL)
		return 0;
	if (fsc_boot_mpi_comm(f->boot, &bc)) {
		fsc_error("fabric mpi: the mpi fabric needs the MPI bootstrap (launch with "
		          "mpirun)");
		return -ENOTSUP;
	}
	err = MPI_Comm_dup(bc, &m->comm);
	if (err != MPI_SUCCESS) {
		m->comm = MPI_COMM_NULL;
		return mpi_fail(err, "MPI_Comm_dup");
	}
	MPI_Comm_set_errhandler(m->comm, MPI_ERRORS_RETURN);
	/* The standard guarantees at least 32767. */
	m->tag_ub = 32767;
	if (MPI_Comm_get_attr(m->comm, MPI_TAG_UB, &ub, &flag) == MPI_SUCCESS && flag && ub)
		m->tag_ub = *ub;
	return 0;
}

/* Checks shared by isend and irecv (cheap: no call into MPI). */
static int mpi_check_p2p(struct fsc_fabric *f, int peer, size_t bytes, int tag, const char *what)
{
	struct mpi_fab *m = mpi_of(f);

	if (m->comm == MPI_COMM_NULL) {
		fsc_error("fabric mpi: %s before connect", what);
		return -EINVAL;
	}
	if (bytes > INT_MAX) {
		fsc_error("fabric mpi: %s of %zu B %s rank %d: messages above %d B (INT_MAX) "
		          "are not supported",
		          what, bytes, what[0] == 's' ? "to" : "from", peer, INT_MAX);
		return -EINVAL;
	}
	if (peer < 0 || peer >= f->size) {
		fsc_error("fabric mpi: %s: peer rank %d out of range 0..%d", what, peer,
		          f->size - 1);
		return -EINVAL;
	}
	if (tag < 0 || tag > m->tag_ub) {
		fsc_error("fabric mpi: %s: tag %d out of MPI's range 0..%d", what, tag, m->tag_ub);
		return -EINVAL;
	}
	if (m->poisoned[peer]) {
		fsc_error("fabric mpi: %s of %zu B (tag %d) %s rank %d (host %s) refused: an "
		          "earlier operation with that rank was cancelled, so matching can no "
		          "longer be trusted",
		          what, bytes, tag, what[0] == 's' ? "to" : "from", peer,
		          mpi_peer_host(f, peer));
		return -EIO;
	}
	return 0;
}

static int mpi_isend(struct fsc_fabric *f, int peer, const void *buf, size_t bytes, int tag,
                     struct fsc_req *req)
{
	MPI_Request r;
	int err, rc;

	rc = mpi_check_p2p(f, peer, bytes, tag, "send");
	if (rc)
		return rc;
	err = MPI_Isend(buf, (int)bytes, MPI_BYTE, peer, tag, mpi_of(f)->comm, &r);
	if (err != MPI_SUCCESS)
		return mpi_fail(err, "MPI_Isend");
	memcpy(req->opaque, &r, sizeof(r));
	return 0;
}

/* Blocking MPI_Send only up to this size: far below Open MPI's eager limits
 * (4 KiB for its shared-memory and TCP BTLs), so the call returns without
 * waiting for the receiver and cannot hang on a dead peer. */
#define MPI_BLOCKING_SEND_MAX 1024

static int mpi_send(struct fsc_fabric *f, int peer, const void *buf, size_t bytes, int tag)
{
	int err, rc;

	if (bytes > MPI_BLOCKING_SEND_MAX)
		return -EAGAIN;
	rc = mpi_check_p2p(f, peer, bytes, tag, "send");
	if (rc)
		return rc;
	err = MPI_Send(buf, (int)bytes, MPI_BYTE, peer, tag, mpi_of(f)->comm);
	return err == MPI_SUCCESS ? 0 : mpi_fail(err, "MPI_Send");
}

static int mpi_irecv(struct fsc_fabric *f, int peer, void *buf, size_t bytes, int tag,
                     struct fsc_req *req)
{
	MPI_Request r;
	int err, rc;

	rc = mpi_check_p2p(f, peer, bytes, tag, "receive");
	if (rc)
		return rc;
	err = MPI_Irecv(buf, (int)bytes, MPI_BYTE, peer, tag, mpi_of(f)->comm, &r);
	if (err != MPI_SUCCESS)
		return mpi_fail(err, "MPI_Irecv");
	memcpy(req->opaque, &r, sizeof(r));
	return 0;
}

static int mpi_test(struct fsc_fabric *f, struct fsc_req *req, int *done)
{
	MPI_Status st;
	MPI_Request r;
	int flag = 0, count = 0, err;

	memcpy(&r, req->opaque, sizeof(r));
	err = MPI_Test(&r, &flag, &st);
	memcpy(req->opaque, &r, sizeof(r));
	if (err != MPI_SUCCESS) {
		char what[160];

		/* MPI_ERR_TRUNCATE lands here: the sender sent more. */
		snprintf(what, sizeof(what), "MPI_Test (%s of %zu B %s rank %d, host %s, tag %d)",
		         req->is_recv ? "receive" : "send", req->bytes,
		         req->is_recv ? "from" : "to", req->peer, mpi_peer_host(f, req->peer),
		         req->tag);
		*done = 1;
		return mpi_fail(err, what);
	}
	*done = flag;
	if (!flag || !req->is_recv)
		return 0;
	/* A shorter message is legal MPI but breaks the fabric contract
	 * (a receive of N bytes matches a send of exactly N bytes). */
	if (MPI_Get_count(&st, MPI_BYTE, &count) != MPI_SUCCESS || count < 0 ||
	    (size_t)count != req->bytes) {
		fsc_error("fabric mpi: receive from rank %d (host %s, tag %d) posted for %zu B "
		          "got %d B",
		          req->peer, mpi_peer_host(f, req->peer), req->tag, req->bytes, count);
		return -EIO;
	}
	return 0;
}

static void mpi_poison(struct fsc_fabric *f, int peer)
{
	struct mpi_fab *m = mpi_of(f);

	if (m->poisoned[peer])
		return;
	m->poisoned[peer] = 1;
	fsc_warn("fabric mpi: an operation with rank %d (host %s) was cancelled; new "
	         "operations with it fail",
	         peer, mpi_peer_host(f, peer));
}

static int mpi_cancel(struct fsc_fabric *f, struct fsc_req *req)
{
	struct mpi_fab *m = mpi_of(f);
	uint64_t deadline;
	MPI_Request r, *grown;
	MPI_Status st;
	int flag = 0, cancelled = 1, err;

	memcpy(&r, req->opaque, sizeof(r));
	if (!m || r == MPI_REQUEST_NULL)
		return 0; /* MPI_Test already completed and freed it */
	err = MPI_Cancel(&r);
	if (err != MPI_SUCCESS)
		mpi_fail(err, "MPI_Cancel"); /* and wait for completion all the same */
	deadline = fsc_time_real_ns() + MPI_CANCEL_WAIT_NS;
	while (!flag) {
		err = MPI_Test(&r, &flag, &st);
		if (err != MPI_SUCCESS) {
			/* An erroneous request is complete and freed by MPI. */
			flag = 1;
			cancelled = 0;
			break;
		}
		if (!flag && fsc_time_real_ns() > deadline)
			break;
	}
	memcpy(req->opaque, &(MPI_Request){MPI_REQUEST_NULL}, sizeof(r));
	if (flag) {
		if (cancelled && MPI_Test_cancelled(&st, &cancelled) != MPI_SUCCESS)
			cancelled = 1;
		if (cancelled)
			mpi_poison(f, req->peer);
		return 0;
	}
	mpi_poison(f, req->peer);
	grown = realloc(m->orphans, (size_t)(m->norphans + 1) * sizeof(*grown));
	if (grown) {
		m->orphans = grown;
		m->orphans[m->norphans++] = r;
	} else {
		MPI_Request_free(&r); /* MPI completes it on its own */
	}
	fsc_error("fabric mpi: MPI would not cancel a %s of %zu B %s rank %d (host %s, tag %d) "
	          "within %.1f s",
	          req->is_recv ? "receive" : "send", req->bytes, req->is_recv ? "from" : "to",
	          req->peer, mpi_peer_host(f, req->peer), req->tag, MPI_CANCEL_WAIT_NS / 1e9);
	return -EBUSY;
}

static int mpi_describe(struct fsc_fabric *f, json_t *info)
{
	char lib[MPI_MAX_LIBRARY_VERSION_STRING];
	char ver[16];
	int len = 0, major = 0, minor = 0;

	(void)f;
	if (MPI_Get_library_version(lib, &len) != MPI_SUCCESS)
		snprintf(lib, sizeof(lib), "unknown");
	lib[strcspn(lib, "\r\n")] = 0; /* first line only */
	MPI_Get_version(&major, &minor);
	snprintf(ver, sizeof(ver), "%d.%d", major, minor);
	if (json_object_set_new(info, "library", json_string(lib)) ||
	    json_object_set_new(info, "mpi_version", json_string(ver))) {
		fsc_error("fabric mpi: describe: cannot build the JSON description");
		return -ENOMEM;
	}
	return 0;
}

/* ---- native collectives ----
 *
 * Started non-blocking (MPI_I*) and completed by a busy test loop (they are
 * the measured operation) that checks its deadline, f->timeout_ns, and
 * answers the watchdog every MPI_COLL_CLOCK_EVERY tests.  A blocking
 * MPI_Allreduce would wait for ever on a stalled rank and, not answering
 * the watchdog, would make this rank look stalled too.  The price: Open
 * MPI serves MPI_I* collectives from its libnbc component rather than the
 * tuned blocking algorithms, so "native" measures MPI's non-blocking
 * collectives. */

#define MPI_COLL_CLOCK_EVERY 256

static int mpi_coll_wait(struct fsc_fabric *f, MPI_Request *req, const char *what)
{
	uint64_t deadline = 0, polls = 0;
	int flag = 0, err, rc;

	for (;;) {
		err = MPI_Test(req, &flag, MPI_STATUS_IGNORE);
		if (err != MPI_SUCCESS)
			return mpi_fail(err, what);
		if (flag)
			return 0;
		if (++polls % MPI_COLL_CLOCK_EVERY)
			continue;
		if (fsc_watchdog_poll(f->boot))
			return -ECONNABORTED; /* the request stays pending: the job ends */
		if (!deadline) {
			deadline = fsc_time_real_ns() + f->timeout_ns;
		} else if (fsc_time_real_ns() > deadline) {
			char why[96];

			snprintf(why, sizeof(why), "fabric mpi: %s", what);
			rc = fsc_watchdog_link_failed(f->boot, -1, 0, -ETIMEDOUT, why);
			if (rc == -ECONNABORTED)
				return rc;
			fsc_error("fabric mpi: %s did not complete within %.1f s", what,
			          f->timeout_ns / 1e9);
			return rc;
		}
	}
}

static int mpi_coll_count(size_t n, const char *what)
{
	if (n > INT_MAX) {
		fsc_error("fabric mpi: %s: count %zu exceeds MPI's int counts (%d)", what, n,
		          INT_MAX);
		return -EINVAL;
	}
	return 0;
}

static int mpi_coll_ready(struct fsc_fabric *f, const char *what)
{
	if (mpi_of(f)->comm == MPI_COMM_NULL) {
		fsc_error("fabric mpi: %s before connect", what);
		return -EINVAL;
	}
	return 0;
}

/* fsc_dtype/fsc_redop to MPI; -ENOTSUP for bfloat16, which MPI lacks. */
static int mpi_reduce_types(struct fsc_fabric *f, enum fsc_dtype dt, enum fsc_redop op,
                            MPI_Datatype *mdt, MPI_Op *mop, const char *what)
{
	switch (dt) {
	case FSC_F32: *mdt = MPI_FLOAT; break;
	case FSC_F64: *mdt = MPI_DOUBLE; break;
	case FSC_I32: *mdt = MPI_INT32_T; break;
	case FSC_I64: *mdt = MPI_INT64_T; break;
	case FSC_BF16:
	case FSC_F16:
		/* A skip, not an error: note it once. */
		if (!mpi_of(f)->bf16_noted)
			fsc_info("fabric mpi: %s: MPI has no %s type", what, fsc_dtype_name(dt));
		mpi_of(f)->bf16_noted = 1;
		return -ENOTSUP;
	default:
		fsc_error("fabric mpi: %s: unknown element type %d", what, (int)dt);
		return -EINVAL;
	}
	switch (op) {
	case FSC_SUM: *mop = MPI_SUM; break;
	case FSC_MAX: *mop = MPI_MAX; break;
	case FSC_MIN: *mop = MPI_MIN; break;
	default: fsc_error("fabric mpi: %s: unknown reduction %d", what, (int)op); return -EINVAL;
	}
	return 0;
}

static int mpi_coll_barrier(struct fsc_fabric *f)
{
	MPI_Request req;
	int err, rc = mpi_coll_ready(f, "barrier");

	if (rc)
		return rc;
	err = MPI_Ibarrier(mpi_of(f)->comm, &req);
	return err == MPI_SUCCESS ? mpi_coll_wait(f, &req, "MPI_Ibarrier")
	                          : mpi_fail(err, "MPI_Ibarrier");
}

static int mpi_coll_allreduce(struct fsc_fabric *f, const void *sbuf, void *rbuf, size_t count,
                              enum fsc_dtype dt, enum fsc_redop op)
{
	MPI_Request req;
	MPI_Datatype mdt;
	MPI_Op mop;
	int err, rc;

	rc = mpi_coll_ready(f, "allreduce");
	if (!rc)
		rc = mpi_reduce_types(f, dt, op, &mdt, &mop, "allreduce");
	if (!rc)
		rc = mpi_coll_count(count, "allreduce");
	if (rc)
		return rc;
	err = MPI_Iallreduce(sbuf == rbuf ? MPI_IN_PLACE : sbuf, rbuf, (int)count, mdt, mop,
	                     mpi_of(f)->comm, &req);
	return err == MPI_SUCCESS ? mpi_coll_wait(f, &req, "MPI_Iallreduce")
	                          : mpi_fail(err, "MPI_Iallreduce");
}

/* sbuf == rbuf: in place (MPI_IN_PLACE, data in rbuf). */
static int mpi_coll_alltoall(struct fsc_fabric *f, const void *sbuf, void *rbuf,
                             size_t bytes_per_peer)
{
	MPI_Request req;
	int err, rc;

	rc = mpi_coll_ready(f, "alltoall");
	if (!rc)
		rc = mpi_coll_count(bytes_per_peer, "alltoall");
	if (rc)
		return rc;
	if (sbuf == rbuf)
		err = MPI_Ialltoall(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, rbuf, (int)bytes_per_peer,
		                    MPI_BYTE, mpi_of(f)->comm, &req);
	else
		err = MPI_Ialltoall(sbuf, (int)bytes_per_peer, MPI_BYTE, rbuf, (int)bytes_per_peer,
		                    MPI_BYTE, mpi_of(f)->comm, &req);
	return err == MPI_SUCCESS ? mpi_coll_wait(f, &req, "MPI_Ialltoall")
	                          : mpi_fail(err, "MPI_Ialltoall");
}

/* sbuf == rbuf + rank * bytes_per_rank: in place. */
static int mpi_coll_allgather(struct fsc_fabric *f, const void *sbuf, void *rbuf,
                              size_t bytes_per_rank)
{
	MPI_Request req;
	int err, rc;

	rc = mpi_coll_ready(f, "allgather");
	if (!rc)
		rc = mpi_coll_count(bytes_per_rank, "allgather");
	if (rc)
		return rc;
	if (sbuf == (const char *)rbuf + (size_t)f->rank * bytes_per_rank)
		err = MPI_Iallgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, rbuf, (int)bytes_per_rank,
		                     MPI_BYTE, mpi_of(f)->comm, &req);
	else
		err = MPI_Iallgather(sbuf, (int)bytes_per_rank, MPI_BYTE, rbuf, (int)bytes_per_rank,
		                     MPI_BYTE, mpi_of(f)->comm, &req);
	return err == MPI_SUCCESS ? mpi_coll_wait(f, &req, "MPI_Iallgather")
	                          : mpi_fail(err, "MPI_Iallgather");
}

/* sbuf == rbuf: in place (input is size * count_per_rank elements in rbuf,
 * this rank's block ends up at its start). */
static int mpi_coll_reduce_scatter(struct fsc_fabric *f, const void *sbuf, void *rbuf,
                                   size_t count_per_rank, enum fsc_dtype dt, enum fsc_redop op)
{
	MPI_Request req;
	MPI_Datatype mdt;
	MPI_Op mop;
	int err, rc;

	rc = mpi_coll_ready(f, "reduce_scatter");
	if (!rc)
		rc = mpi_reduce_types(f, dt, op, &mdt, &mop, "reduce_scatter");
	if (!rc)
		rc = mpi_coll_count(count_per_rank, "reduce_scatter");
	if (rc)
		return rc;
	err = MPI_Ireduce_scatter_block(sbuf == rbuf ? MPI_IN_PLACE : sbuf, rbuf,
	                                (int)count_per_rank, mdt, mop, mpi_of(f)->comm, &req);
	return err == MPI_SUCCESS ? mpi_coll_wait(f, &req, "MPI_Ireduce_scatter_block")
	                          : mpi_fail(err, "MPI_Ireduce_scatter_block");
}

static int mpi_coll_bcast(struct fsc_fabric *f, void *buf, size_t bytes, int root)
{
	MPI_Request req;
	int err, rc;

	rc = mpi_coll_ready(f, "bcast");
	if (!rc)
		rc = mpi_coll_count(bytes, "bcast");
	if (rc)
		return rc;
	err = MPI_Ibcast(buf, (int)bytes, MPI_BYTE, root, mpi_of(f)->comm, &req);
	return err == MPI_SUCCESS ? mpi_coll_wait(f, &req, "MPI_Ibcast")
	                          : mpi_fail(err, "MPI_Ibcast");
}

static const struct fsc_coll_ops mpi_coll = {
        .barrier = mpi_coll_barrier,
        .allreduce = mpi_coll_allreduce,
        .alltoall = mpi_coll_alltoall,
        .allgather = mpi_coll_allgather,
        .reduce_scatter = mpi_coll_reduce_scatter,
        .bcast = mpi_coll_bcast,
};

const struct fsc_fabric_ops fsc_fabric_mpi = {
        .name = "mpi",
        .desc = "MPI point-to-point (MPI_Isend/MPI_Irecv) and MPI's own collectives",
        .caps = FSC_CAP_SEND_RECV | FSC_CAP_NATIVE_COLL,
        .opts = 0,
        .probe = mpi_probe,
        .create = mpi_create,
        .destroy = mpi_destroy,
        .connect = mpi_connect,
        .isend = mpi_isend,
        .send = mpi_send,
        .irecv = mpi_irecv,
        .test = mpi_test,
        .cancel = mpi_cancel,
        .describe = mpi_describe,
        .coll = &mpi_coll,
};
