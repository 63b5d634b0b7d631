/* The fabric conformance suite (see conformance.h for the contract).
 *
 * Every check ends with an agreement over the bootstrap, so all ranks count
 * the same checks and report the same first failure.  A check whose posting
 * or waiting failed leaves the fabric in an unknown state (requests may
 * still point at freed buffers): the suite then runs no further traffic on
 * that fabric and only destroys it.
 *
 * Data is seeded from (check, source, destination, index) through the
 * splitmix64 finaliser (Steele, Lea, Flood, "Fast splittable pseudorandom
 * number generators", OOPSLA 2014), so each receiver checks what it got
 * without extra communication.
 */
#include "conformance.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

#define CONF_SEED 0x5eedfab5c0de0001ull
#define CONF_GUARD 16 /* bytes after each receive buffer */
#define CONF_GUARD_BYTE 0xA5
#define CONF_FRESH_BYTE 0x5A           /* receive buffers before delivery */
#define CONF_MANY 64                   /* requests in flight to one peer */
#define CONF_INTERLEAVE 16             /* messages per tag, interleaved check */
#define CONF_MISMATCH_NS 3000000000ull /* waits of the size-mismatch checks */
#define CONF_LATE_BYTES 64             /* the late-message check */
#define CONF_LATE_WAIT_NS 100000000ull /* its receive's deadline */
#define CONF_LATE_POLLS 1000           /* progress calls after the late send */

static const size_t conf_sizes[] = {0, 1, 4097, 4u << 20};
#define CONF_NSIZES (sizeof(conf_sizes) / sizeof(conf_sizes[0]))

struct conf {
	struct fsc_boot *b;
	const struct fsc_fabric_ops *ops;
	const struct fsc_config *cfg;
	struct fsc_conformance_report *rep;
	struct fsc_fabric *f;
	int rank, size;
	char check[64];
	int failed; /* this rank failed the current check */
	int broken; /* this rank cannot trust the fabric any more */
	int stop;   /* agreed: some rank is broken, no more traffic */
	char msg[FSC_CONFORMANCE_MSG_MAX];
};

/* One operation of an exchange. */
struct xop {
	int send;
	int peer;
	int tag;
	int phase; /* 0: before the optional barrier, 1: after it */
	size_t bytes;
	uint64_t key; /* data seed (a receive: what must arrive) */
};

static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static uint64_t data_key(int check_id, int src, int dst, uint64_t index)
{
	uint64_t k = mix64(CONF_SEED ^ (uint64_t)check_id);

	k = mix64(k ^ (uint64_t)(unsigned)src);
	return mix64(k ^ ((uint64_t)(unsigned)dst << 32 | index));
}

/* Bytes [8w, 8w + 8) of the stream for `key`, little-endian whatever the
 * host order, so that ranks on different machines agree. */
static void data_word(uint64_t key, size_t w, unsigned char out[8])
{
	uint64_t x = mix64(key + w);

	for (int k = 0; k < 8; k++)
		out[k] = (unsigned char)(x >> (8 * k));
}

/* Bytes [from, from + bytes) of the stream for `key`; from is a multiple
 * of 8. */
static void data_fill_at(unsigned char *p, size_t bytes, uint64_t key, size_t from)
{
	unsigned char word[8];
	size_t i = 0;

	for (; i + 8 <= bytes; i += 8) {
		uint64_t x = mix64(key + (from + i) / 8);

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
		memcpy(p + i, &x, 8); /* the same bytes, one store */
#else
		for (int k = 0; k < 8; k++)
			p[i + k] = (unsigned char)(x >> (8 * k));
#endif
	}
	if (i < bytes) {
		data_word(key, (from + i) / 8, word);
		memcpy(p + i, word, bytes - i);
	}
}

static void data_fill(unsigned char *p, size_t bytes, uint64_t key)
{
	data_fill_at(p, bytes, key, 0);
}

static void failf(struct conf *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Record this rank's first failure of the current check. */
static void failf(struct conf *c, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (c->failed)
		return;
	c->failed = 1;
	n = snprintf(c->msg, sizeof(c->msg), "rank %d: %s: ", c->rank, c->check);
	if (n < 0 || (size_t)n >= sizeof(c->msg))
		return;
	va_start(ap, fmt);
	vsnprintf(c->msg + n, sizeof(c->msg) - (size_t)n, fmt, ap);
	va_end(ap);
}

static void check_begin(struct conf *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void check_begin(struct conf *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->check, sizeof(c->check), fmt, ap);
	va_end(ap);
	c->failed = 0;
	c->msg[0] = 0;
}

/* Not collective: the same on every rank (it depends on the fabric's
 * capabilities only).  Counts the check as skipped, with why. */
static void check_skip(struct conf *c, const char *why)
{
	struct fsc_conformance_report *rep = c->rep;
	size_t used = strlen(rep->skipped);

	rep->checks_skipped++;
	if (used < sizeof(rep->skipped))
		snprintf(rep->skipped + used, sizeof(rep->skipped) - used, "%s%s: %s",
		         used ? "; " : "", c->check, why);
}

#define CONF_WHY_ORDER "the fabric matches messages in posting order only, without tags"
#define CONF_WHY_CANCEL "the fabric cannot withdraw one operation: cancel aborts all of it"

/* Collective: count the check, agree on failure and on whether traffic may
 * go on, and keep the first failure's message (from its lowest rank). */
static int check_end(struct conf *c)
{
	struct fsc_conformance_report *rep = c->rep;
	int64_t v[2] = {c->failed, c->broken};
	int rc;

	rc = fsc_boot_allreduce(c->b, v, 2, FSC_BOOT_I64, FSC_BOOT_MAX);
	if (rc)
		return rc;
	rep->checks_run++;
	c->stop = c->stop || v[1];
	if (!v[0])
		return 0;
	rep->checks_failed++;
	if (!rep->message[0]) {
		int64_t who = c->failed ? c->rank : INT64_MAX;

		rc = fsc_boot_allreduce(c->b, &who, 1, FSC_BOOT_I64, FSC_BOOT_MIN);
		if (!rc)
			rc = fsc_boot_bcast(c->b, c->msg, sizeof(c->msg), (int)who);
		if (rc)
			return rc;
		memcpy(rep->message, c->msg, sizeof(rep->message));
		rep->message[sizeof(rep->message) - 1] = 0;
	}
	return 0;
}

static void verify(struct conf *c, const struct xop *o, const unsigned char *buf)
{
	unsigned char want[4096], got_b = 0, want_b = 0;
	size_t wrong = 0, first = 0;

	/* Compare a block at a time; look at bytes only in a bad block. */
	for (size_t i = 0; i < o->bytes; i += sizeof(want)) {
		size_t len = o->bytes - i < sizeof(want) ? o->bytes - i : sizeof(want);

		data_fill_at(want, len, o->key, i);
		if (!memcmp(buf + i, want, len))
			continue;
		for (size_t k = 0; k < len; k++) {
			if (buf[i + k] == want[k])
				continue;
			if (!wrong++) {
				first = i + k;
				got_b = buf[i + k];
				want_b = want[k];
			}
		}
	}
	if (wrong)
		failf(c,
		      "%zu B from rank %d (tag %d): %zu of %zu bytes wrong, first at offset "
		      "%zu (0x%02x, expected 0x%02x)",
		      o->bytes, o->peer, o->tag, wrong, o->bytes, first, got_b, want_b);
	for (size_t i = 0; i < CONF_GUARD; i++)
		if (buf[o->bytes + i] != CONF_GUARD_BYTE) {
			failf(c,
			      "%zu B from rank %d (tag %d): the fabric wrote past the end of "
			      "the receive buffer",
			      o->bytes, o->peer, o->tag);
			break;
		}
}

static int post_phase(struct conf *c, const struct xop *ops, size_t n, int phase,
                      unsigned char **bufs, struct fsc_req *reqs, size_t *nposted)
{
	for (size_t i = 0; i < n; i++) {
		const struct xop *o = &ops[i];
		int rc;

		if (o->phase != phase)
			continue;
		rc = o->send ? fsc_fabric_isend(c->f, o->peer, bufs[i], o->bytes, o->tag, &reqs[i])
		             : fsc_fabric_irecv(c->f, o->peer, bufs[i], o->bytes, o->tag, &reqs[i]);
		if (rc) {
			failf(c, "%s of %zu B %s rank %d (tag %d) failed: %s",
			      o->send ? "isend" : "irecv", o->bytes, o->send ? "to" : "from",
			      o->peer, o->tag, fsc_strerror(rc));
			c->broken = 1;
			return rc;
		}
		(*nposted)++;
	}
	return 0;
}

/* Post ops (in array order; phase 1 after a bootstrap barrier when
 * `barrier`), wait for all of them, verify every receive.  Collective only
 * through the barrier; failures are recorded in c.  Returns 0 or a
 * bootstrap error. */
static int exchange(struct conf *c, const struct xop *ops, size_t n, int barrier)
{
	int dev = fsc_fabric_mem_kind(c->f) != FSC_MEM_HOST;
	unsigned char **bufs = calloc(n ? n : 1, sizeof(*bufs)), **dbufs = 0;
	struct fsc_req *reqs = calloc(n ? n : 1, sizeof(*reqs));
	size_t nposted = 0;
	int rc = 0, ok = bufs && reqs;

	for (size_t i = 0; ok && i < n; i++) {
		bufs[i] = malloc(ops[i].bytes + CONF_GUARD);
		if (!bufs[i]) {
			ok = 0;
			break;
		}
		if (ops[i].send) {
			data_fill(bufs[i], ops[i].bytes, ops[i].key);
		} else {
			memset(bufs[i], CONF_FRESH_BYTE, ops[i].bytes);
			memset(bufs[i] + ops[i].bytes, CONF_GUARD_BYTE, CONF_GUARD);
		}
	}
	if (ok && dev) {
		/* a fabric on device memory moves only its own buffers: the
		 * host images above are copied in, and back for verifying */
		dbufs = calloc(n ? n : 1, sizeof(*dbufs));
		ok = dbufs != 0;
		for (size_t i = 0; ok && i < n; i++) {
			dbufs[i] = fsc_fabric_buf_alloc(c->f, ops[i].bytes + CONF_GUARD);
			ok = dbufs[i] &&
			     !fsc_fabric_from_host(c->f, dbufs[i], bufs[i], ops[i].bytes + CONF_GUARD);
		}
	}
	if (!ok) {
		failf(c, "out of memory for the test buffers");
		c->broken = 1;
	}
	if (ok)
		ok = !post_phase(c, ops, n, 0, dev ? dbufs : bufs, reqs, &nposted);
	if (barrier)
		rc = fsc_boot_barrier(c->b);
	if (ok && !rc)
		ok = !post_phase(c, ops, n, 1, dev ? dbufs : bufs, reqs, &nposted);
	if (ok && !rc) {
		/* Requests are in array order; every op was posted. */
		int wrc = fsc_fabric_wait(c->f, reqs, n);

		if (wrc) {
			size_t i = 0;

			while (i + 1 < n && reqs[i].done)
				i++;
			failf(c,
			      "waiting for %zu requests failed (%s); first incomplete: %s of "
			      "%zu B %s rank %d, tag %d",
			      n, fsc_strerror(wrc), ops[i].send ? "send" : "receive", ops[i].bytes,
			      ops[i].send ? "to" : "from", ops[i].peer, ops[i].tag);
			c->broken = 1;
		} else {
			for (size_t i = 0; i < n; i++)
				if (!ops[i].send &&
				    (!dev || !fsc_fabric_to_host(c->f, bufs[i], dbufs[i],
				                                 ops[i].bytes + CONF_GUARD)))
					verify(c, &ops[i], bufs[i]);
				else if (!ops[i].send)
					failf(c, "copying a receive buffer back failed");
		}
	}
	for (size_t i = 0; bufs && i < n; i++)
		free(bufs[i]);
	for (size_t i = 0; dbufs && i < n; i++)
		fsc_fabric_buf_free(c->f, dbufs[i]);
	free(dbufs);
	free(bufs);
	free(reqs);
	return rc;
}

static const char *size_label(size_t bytes, char *buf, size_t len)
{
	if (bytes >= (1u << 20) && bytes % (1u << 20) == 0)
		snprintf(buf, len, "%zu MiB", bytes >> 20);
	else
		snprintf(buf, len, "%zu B", bytes);
	return buf;
}

static struct xop xsend(int peer, int tag, size_t bytes, uint64_t key, int phase)
{
	return (struct xop){1, peer, tag, phase, bytes, key};
}

static struct xop xrecv(int peer, int tag, size_t bytes, uint64_t key, int phase)
{
	return (struct xop){0, peer, tag, phase, bytes, key};
}

/* Ring: receive from the previous rank, send to the next.  late: the
 * receive is posted only after a barrier that follows the send (the message
 * is unexpected); early: after a barrier that follows the receive. */
enum ring_mode { RING_PLAIN, RING_LATE_RECV, RING_EARLY_RECV };

static int check_ring(struct conf *c, int id, size_t bytes, enum ring_mode mode)
{
	int next = (c->rank + 1) % c->size, prev = (c->rank + c->size - 1) % c->size;
	int tag = 100 + id;
	struct xop ops[2];

	ops[0] = xrecv(prev, tag, bytes, data_key(id, prev, c->rank, 0), mode == RING_LATE_RECV);
	ops[1] = xsend(next, tag, bytes, data_key(id, c->rank, next, 0), mode == RING_EARLY_RECV);
	return exchange(c, ops, 2, mode != RING_PLAIN);
}

/* All pairs at once: a receive from and a send to every other rank. */
static int check_all_pairs(struct conf *c, int id, size_t bytes)
{
	struct xop *ops = calloc((size_t)c->size * 2, sizeof(*ops));
	size_t n = 0;
	int rc, tag = 100 + id;

	if (!ops) {
		failf(c, "out of memory");
		c->broken = 1;
		return 0;
	}
	for (int p = 0; p < c->size; p++)
		if (p != c->rank)
			ops[n++] = xrecv(p, tag, bytes, data_key(id, p, c->rank, 0), 0);
	for (int p = 0; p < c->size; p++)
		if (p != c->rank)
			ops[n++] = xsend(p, tag, bytes, data_key(id, c->rank, p, 0), 0);
	rc = exchange(c, ops, n, 0);
	free(ops);
	return rc;
}

/* CONF_MANY messages to the next rank, one tag each and sizes 1..190 B; the
 * receives are posted in reverse tag order, so only tags can match them. */
static int check_many_tags(struct conf *c, int id)
{
	int next = (c->rank + 1) % c->size, prev = (c->rank + c->size - 1) % c->size;
	struct xop ops[2 * CONF_MANY];

	for (int i = 0; i < CONF_MANY; i++) {
		int k = CONF_MANY - 1 - i;

		ops[i] = xrecv(prev, 1000 + k, 1 + 3 * (size_t)k,
		               data_key(id, prev, c->rank, (uint64_t)k), 0);
		ops[CONF_MANY + i] = xsend(next, 1000 + i, 1 + 3 * (size_t)i,
		                           data_key(id, c->rank, next, (uint64_t)i), 0);
	}
	return exchange(c, ops, 2 * CONF_MANY, 0);
}

/* CONF_MANY messages of one tag: the i-th send must land in the i-th
 * receive. */
static int check_same_tag(struct conf *c, int id)
{
	int next = (c->rank + 1) % c->size, prev = (c->rank + c->size - 1) % c->size;
	struct xop ops[2 * CONF_MANY];

	for (int i = 0; i < CONF_MANY; i++) {
		ops[i] = xrecv(prev, 2000, 32, data_key(id, prev, c->rank, (uint64_t)i), 0);
		ops[CONF_MANY + i] =
		        xsend(next, 2000, 32, data_key(id, c->rank, next, (uint64_t)i), 0);
	}
	return exchange(c, ops, 2 * CONF_MANY, 0);
}

/* Sends alternate tags A and B (different sizes); the receiver posts all of
 * B, then all of A; each tag's messages must keep their order. */
static int check_interleaved(struct conf *c, int id)
{
	int next = (c->rank + 1) % c->size, prev = (c->rank + c->size - 1) % c->size;
	struct xop ops[4 * CONF_INTERLEAVE];
	size_t n = 0;

	for (int i = 0; i < CONF_INTERLEAVE; i++)
		ops[n++] =
		        xrecv(prev, 3001, 40, data_key(id, prev, c->rank, 1000 + (uint64_t)i), 0);
	for (int i = 0; i < CONF_INTERLEAVE; i++)
		ops[n++] = xrecv(prev, 3000, 24, data_key(id, prev, c->rank, (uint64_t)i), 0);
	for (int i = 0; i < CONF_INTERLEAVE; i++) {
		ops[n++] = xsend(next, 3000, 24, data_key(id, c->rank, next, (uint64_t)i), 0);
		ops[n++] =
		        xsend(next, 3001, 40, data_key(id, c->rank, next, 1000 + (uint64_t)i), 0);
	}
	return exchange(c, ops, n, 0);
}

static void check_invalid_peers(struct conf *c)
{
	static const char *const what[] = {"isend", "irecv"};
	const int peers[2] = {-1, c->size};
	char buf[8] = {0};

	for (int p = 0; p < 2; p++)
		for (int k = 0; k < 2; k++) {
			struct fsc_req r;
			int rc = k ? fsc_fabric_irecv(c->f, peers[p], buf, sizeof(buf), 7, &r)
			           : fsc_fabric_isend(c->f, peers[p], buf, sizeof(buf), 7, &r);

			if (rc != -EINVAL) {
				failf(c, "%s with peer %d returned %d (%s), expected -EINVAL",
				      what[k], peers[p], rc, fsc_strerror(rc));
				if (!rc)
					c->broken = 1; /* something may be in flight */
			}
		}
}

static int create_fabric(struct conf *c, struct fsc_fabric **out)
{
	int rc = fsc_fabric_create(c->ops, c->b, c->cfg, out);

	if (!rc && c->rep->timeout_ns)
		(*out)->timeout_ns = c->rep->timeout_ns;
	return rc;
}

/* On a fresh fabric: rank 0 sends `sbytes`, rank 1 receives `rbytes`. */
static int check_mismatch(struct conf *c, size_t sbytes, size_t rbytes)
{
	struct fsc_fabric *f = 0;
	unsigned char buf[64] = {0};
	struct fsc_req r;
	int64_t v[2] = {0, 0};
	int rc, err;

	rc = create_fabric(c, &f);
	if (rc)
		failf(c, "create: %s", fsc_strerror(rc));
	else if ((rc = fsc_fabric_connect(f)))
		failf(c, "connect: %s", fsc_strerror(rc));
	/* Traffic only when every rank has a connected fabric; a failure
	 * above is this check's failure, not a reason to stop the suite. */
	err = fsc_boot_agree(c->b, rc, 0);
	if (!err && c->rank < 2) {
		/* a fabric on device memory moves only its own buffers */
		unsigned char *p = fsc_fabric_mem_kind(f) != FSC_MEM_HOST
		                           ? fsc_fabric_buf_alloc(f, sizeof(buf))
		                           : buf;

		if (f->timeout_ns > CONF_MISMATCH_NS)
			f->timeout_ns = CONF_MISMATCH_NS;
		rc = !p              ? -ENOMEM
		     : c->rank == 0 ? fsc_fabric_isend(f, 1, p, sbytes, 9000, &r)
		                    : fsc_fabric_irecv(f, 0, p, rbytes, 9000, &r);
		if (!rc)
			rc = fsc_fabric_wait(f, &r, 1);
		v[c->rank] = rc;
		if (p != buf)
			fsc_fabric_buf_free(f, p);
	}
	rc = err ? 0 : fsc_boot_allreduce(c->b, v, 2, FSC_BOOT_I64, FSC_BOOT_SUM);
	if (!err && !rc && c->rank == 1 && !(v[1] && v[1] != -ETIMEDOUT) &&
	    !(v[0] && v[0] != -ETIMEDOUT))
		failf(c,
		      "a %zu B receive matched by a %zu B send was not reported as an "
		      "error (receiver: %s, sender: %s)",
		      rbytes, sbytes, fsc_strerror((int)v[1]), fsc_strerror((int)v[0]));
	/* Everyone is done with the pair before anyone destroys. */
	if (fsc_boot_barrier(c->b) && !rc)
		rc = -EIO;
	fsc_fabric_destroy(f);
	return rc;
}

/* On a fresh fabric: rank 1's receive from rank 0 times out and is
 * withdrawn; its request storage is freed and its buffer refilled with a
 * canary; only then does rank 0 send the message (a late one).  Rank 1
 * keeps making progress: the canary must stay intact, and later operations
 * with rank 0 must fail with -EIO (fabric.h, "Request lifetime").  With 3
 * or more ranks, rank 2 then sends to rank 1: other peers are unaffected. */
static int check_late_after_cancel(struct conf *c)
{
	struct fsc_fabric *f = 0;
	unsigned char *buf = malloc(CONF_LATE_BYTES + CONF_GUARD), small[8] = {0};
	struct fsc_req *req = malloc(sizeof(*req)), r2;
	int rc, err, wrc = 0;

	if (!buf || !req) {
		failf(c, "out of memory for the test buffers");
		free(buf);
		free(req);
		return fsc_boot_barrier(c->b);
	}
	rc = create_fabric(c, &f);
	if (rc)
		failf(c, "create: %s", fsc_strerror(rc));
	else if ((rc = fsc_fabric_connect(f)))
		failf(c, "connect: %s", fsc_strerror(rc));
	err = fsc_boot_agree(c->b, rc, 0);
	if (!err && c->rank == 1) {
		f->timeout_ns = CONF_LATE_WAIT_NS;
		rc = fsc_fabric_irecv(f, 0, buf, CONF_LATE_BYTES, 9100, req);
		wrc = rc ? rc : fsc_fabric_wait(f, req, 1);
		if (rc)
			failf(c, "irecv failed: %s", fsc_strerror(rc));
		else if (wrc != -ETIMEDOUT)
			failf(c, "a receive nobody sent to returned %s, expected a timeout",
			      fsc_strerror(wrc));
		else if (req->done != FSC_REQ_WITHDRAWN)
			failf(c, "the timed-out receive was not withdrawn (done = %d)", req->done);
		free(req); /* the fabric must not touch it again */
		req = 0;
		memset(buf, CONF_FRESH_BYTE, CONF_LATE_BYTES + CONF_GUARD);
	}
	if (!err)
		err = fsc_boot_barrier(c->b);
	if (!err && c->rank == 0) {
		data_fill(buf, CONF_LATE_BYTES, 9100);
		rc = fsc_fabric_send(f, 1, buf, CONF_LATE_BYTES, 9100);
		if (rc)
			failf(c, "the late send failed: %s", fsc_strerror(rc));
	}
	if (!err)
		err = fsc_boot_barrier(c->b);
	if (!err && c->rank == 1) {
		/* The late message is on its way or in: let the fabric take
		 * it (the check cannot fail by missing it, only by letting it
		 * land). */
		for (int i = 0; i < CONF_LATE_POLLS && !rc; i++)
			rc = fsc_fabric_progress(f);
		if (rc && rc != -EIO) /* -EIO: an abandoned fabric */
			failf(c, "progress after the cancel failed: %s", fsc_strerror(rc));
		for (size_t i = 0; i < CONF_LATE_BYTES + CONF_GUARD; i++)
			if (buf[i] != CONF_FRESH_BYTE) {
				failf(c,
				      "the late message was written into the withdrawn "
				      "receive's buffer (offset %zu)",
				      i);
				break;
			}
		rc = fsc_fabric_irecv(f, 0, small, sizeof(small), 9101, &r2);
		if (rc != -EIO)
			failf(c, "a receive from the poisoned peer returned %s, expected -EIO",
			      fsc_strerror(rc));
		if (!rc)
			fsc_fabric_cancel(f, &r2);
		rc = fsc_fabric_isend(f, 0, small, sizeof(small), 9101, &r2);
		if (rc != -EIO)
			failf(c, "a send to the poisoned peer returned %s, expected -EIO",
			      fsc_strerror(rc));
		if (!rc)
			fsc_fabric_cancel(f, &r2);
	}
	if (!err && c->size >= 3) {
		/* Another peer is unaffected (unless the fabric was abandoned:
		 * then it takes no traffic at all). */
		int64_t ab = c->rank == 1 && f->abandoned;

		err = fsc_boot_allreduce(c->b, &ab, 1, FSC_BOOT_I64, FSC_BOOT_MAX);
		if (!err && !ab && c->rank == 2) {
			data_fill(small, sizeof(small), 9102);
			rc = fsc_fabric_send(f, 1, small, sizeof(small), 9102);
			if (rc)
				failf(c, "a send to rank 1 failed: %s", fsc_strerror(rc));
		} else if (!err && !ab && c->rank == 1) {
			struct xop o = {
			        .peer = 2, .tag = 9102, .bytes = sizeof(small), .key = 9102};
			unsigned char got[sizeof(small) + CONF_GUARD];

			memset(got + sizeof(small), CONF_GUARD_BYTE, CONF_GUARD);
			rc = fsc_fabric_recv(f, 2, got, sizeof(small), 9102);
			if (rc)
				failf(c, "a receive from rank 2 after the cancel failed: %s",
				      fsc_strerror(rc));
			else
				verify(c, &o, got);
		}
	}
	/* Everyone is done with the fabric before anyone destroys. */
	if (fsc_boot_barrier(c->b) && !err)
		err = -EIO;
	fsc_fabric_destroy(f);
	free(req);
	free(buf);
	return err;
}

/* ---- one-sided transfers (fabrics with put/get) ---- */

#define CONF_PUT_TAG 9200
#define CONF_RMA_LATE_TAG 9300

/* Compare buf[0, bytes) with data(key); failf naming `what` on a
 * difference. */
static void verify_data(struct conf *c, const char *what, const unsigned char *buf, size_t bytes,
                        uint64_t key)
{
	unsigned char want[4096];

	for (size_t i = 0; i < bytes; i += sizeof(want)) {
		size_t len = bytes - i < sizeof(want) ? bytes - i : sizeof(want);

		data_fill_at(want, len, key, i);
		for (size_t k = 0; k < len; k++)
			if (buf[i + k] != want[k]) {
				failf(c, "%s: byte %zu is 0x%02x, expected 0x%02x", what, i + k,
				      buf[i + k], want[k]);
				return;
			}
	}
}

/* Every rank's window: [0, bytes) is written by the previous rank with a
 * silent put of its first half and a notified put of the rest (the
 * notification must follow both); [bytes, 2 bytes) holds this rank's data,
 * which the previous rank reads with a get into a guarded buffer.  Then
 * everyone is done before the window goes. */
static int check_rma_ring(struct conf *c, int id, size_t bytes)
{
	int next = (c->rank + 1) % c->size, prev = (c->rank + c->size - 1) % c->size;
	unsigned char *win = fsc_fabric_buf_alloc(c->f, 2 * bytes);
	unsigned char *src = fsc_fabric_buf_alloc(c->f, bytes + CONF_GUARD);
	unsigned char *dst = fsc_fabric_buf_alloc(c->f, bytes + CONF_GUARD);
	struct fsc_win *w = 0;
	struct fsc_req r[3];
	size_t half = bytes / 2;
	int rc, wrc;

	fsc_fabric_reqs_init(r, 3);
	if (win && src && dst) {
		memset(win, CONF_FRESH_BYTE, bytes);
		data_fill(win + bytes, bytes, data_key(id, c->rank, c->rank, 1));
		data_fill(src, bytes, data_key(id, c->rank, next, 0));
		memset(dst, CONF_FRESH_BYTE, bytes);
		memset(dst + bytes, CONF_GUARD_BYTE, CONF_GUARD);
	} else {
		failf(c, "out of memory for the test buffers");
	}
	/* collective: a rank without buffers exposes an empty window */
	rc = fsc_fabric_win_create(c->f, win, win && src && dst ? 2 * bytes : 0, &w);
	if (rc) {
		failf(c, "win_create of %zu B: %s", 2 * bytes, fsc_strerror(rc));
		c->broken = 1;
		goto out;
	}
	if (c->failed)
		goto done;
	wrc = fsc_fabric_irecv(c->f, prev, NULL, 0, CONF_PUT_TAG, &r[0]);
	if (!wrc)
		wrc = fsc_fabric_put(c->f, w, next, 0, src, half, -1, &r[1]);
	if (!wrc)
		wrc = fsc_fabric_put(c->f, w, next, half, src + half, bytes - half, CONF_PUT_TAG,
		                     &r[2]);
	if (wrc) {
		failf(c, "posting the notification receive or the puts failed: %s",
		      fsc_strerror(wrc));
		fsc_fabric_cancel_all(c->f, r, 3);
	} else if ((wrc = fsc_fabric_wait(c->f, r, 3))) {
		failf(c, "waiting for the puts to rank %d and the notification from rank %d: %s",
		      next, prev, fsc_strerror(wrc));
	} else {
		verify_data(c, "the window after the notified put", win, bytes,
		            data_key(id, prev, c->rank, 0));
	}
	if (wrc) {
		c->broken = 1;
		goto done;
	}
	wrc = fsc_fabric_get(c->f, w, next, bytes, dst, bytes, &r[0]);
	if (!wrc)
		wrc = fsc_fabric_wait(c->f, r, 1);
	if (wrc) {
		failf(c, "get of %zu B from rank %d: %s", bytes, next, fsc_strerror(wrc));
		c->broken = 1;
		goto done;
	}
	verify_data(c, "the data a get read", dst, bytes, data_key(id, next, next, 1));
	for (size_t i = 0; i < CONF_GUARD; i++)
		if (dst[bytes + i] != CONF_GUARD_BYTE) {
			failf(c, "a get of %zu B wrote past the end of its buffer", bytes);
			break;
		}
done:
	/* collective (a barrier first): nobody still reads this window */
	rc = fsc_fabric_win_free(w);
out:
	fsc_fabric_buf_free(c->f, win);
	fsc_fabric_buf_free(c->f, src);
	fsc_fabric_buf_free(c->f, dst);
	return rc;
}

/* Bad peers and ranges are refused before anything moves. */
static int check_rma_args(struct conf *c)
{
	unsigned char *win = fsc_fabric_buf_alloc(c->f, 64), buf[64] = {0};
	struct fsc_win *w = 0;
	struct fsc_req r;
	int rc = fsc_fabric_win_create(c->f, win, win ? 64 : 0, &w);
	struct {
		const char *what;
		int got;
	} t[5];

	if (rc) {
		failf(c, "win_create of 64 B: %s", fsc_strerror(rc));
		c->broken = 1;
		fsc_fabric_buf_free(c->f, win);
		return 0;
	}
	t[0].what = "put to rank -1";
	t[0].got = fsc_fabric_put(c->f, w, -1, 0, buf, 8, -1, &r);
	t[1].what = "put to rank size";
	t[1].got = fsc_fabric_put(c->f, w, c->size, 0, buf, 8, -1, &r);
	t[2].what = "put of 8 B at offset 60 of a 64 B window";
	t[2].got = fsc_fabric_put(c->f, w, (c->rank + 1) % c->size, 60, buf, 8, -1, &r);
	t[3].what = "get of 65 B from a 64 B window";
	t[3].got = fsc_fabric_get(c->f, w, (c->rank + 1) % c->size, 0, buf, 65, &r);
	t[4].what = "get from oneself";
	t[4].got = fsc_fabric_get(c->f, w, c->rank, 0, buf, 8, &r);
	for (int i = 0; i < 5; i++)
		if (t[i].got != -EINVAL) {
			failf(c, "%s returned %s, expected -EINVAL", t[i].what,
			      fsc_strerror(t[i].got));
			if (!t[i].got)
				c->broken = 1; /* something may be in flight */
		}
	rc = fsc_fabric_win_free(w);
	fsc_fabric_buf_free(c->f, win);
	return rc;
}

/* On a fresh fabric: rank 0 cancels a get of 4 MiB right after posting it:
 * the fabric withdraws it (0, the request withdrawn) or refuses (-EBUSY,
 * and the fabric is abandoned: a later put fails with -EIO without
 * reaching it); a get the fabric completed as it was posted (a copy out of
 * a window mapped into this process: ucx over shared memory) is done, and
 * cancel leaves it alone (0).  Rank 1 waits for a notification rank 0 never sends: the
 * wait times out and withdraws the receive.  Everyone is done with the
 * window before it goes. */
static int check_rma_cancel(struct conf *c)
{
	size_t bytes = 4u << 20;
	struct fsc_fabric *f = 0;
	unsigned char *win = 0, *buf = 0;
	struct fsc_win *w = 0;
	struct fsc_req r;
	int rc, err;

	rc = create_fabric(c, &f);
	if (rc)
		failf(c, "create: %s", fsc_strerror(rc));
	else if ((rc = fsc_fabric_connect(f)))
		failf(c, "connect: %s", fsc_strerror(rc));
	if (!rc) {
		win = fsc_fabric_buf_alloc(f, bytes);
		buf = fsc_fabric_buf_alloc(f, bytes);
		if (!win || !buf) {
			failf(c, "out of memory for the test buffers");
			rc = -ENOMEM;
		}
	}
	err = fsc_boot_agree(c->b, rc, 0);
	if (!err) {
		err = fsc_fabric_win_create(f, win, bytes, &w);
		if (err)
			failf(c, "win_create of %zu B: %s", bytes, fsc_strerror(err));
	}
	if (!err && c->rank == 0) {
		rc = fsc_fabric_get(f, w, 1, 0, buf, bytes, &r);
		if (rc) {
			failf(c, "get of %zu B from rank 1: %s", bytes, fsc_strerror(rc));
		} else {
			int done_at_post = r.done == 1;

			rc = fsc_fabric_cancel(f, &r);
			if (rc == 0 && r.done != FSC_REQ_WITHDRAWN &&
			    !(done_at_post && r.done == 1))
				failf(c, "a get cancel returned 0 but left done = %d", r.done);
			else if (rc == -EBUSY && !f->abandoned)
				failf(c, "a get cancel returned -EBUSY without abandoning the "
				         "fabric");
			else if (rc && rc != -EBUSY)
				failf(c, "a get cancel returned %s, expected 0 or -EBUSY",
				      fsc_strerror(rc));
			if (f->abandoned &&
			    (rc = fsc_fabric_put(f, w, 1, 0, buf, 8, 1, &r)) != -EIO)
				failf(c, "a put on the abandoned fabric returned %s, expected -EIO",
				      fsc_strerror(rc));
		}
	} else if (!err && c->rank == 1) {
		f->timeout_ns = CONF_LATE_WAIT_NS;
		rc = fsc_fabric_irecv(f, 0, NULL, 0, CONF_RMA_LATE_TAG, &r);
		if (!rc)
			rc = fsc_fabric_wait(f, &r, 1);
		if (rc != -ETIMEDOUT)
			failf(c, "a notification nobody sent returned %s, expected a timeout",
			      fsc_strerror(rc));
		else if (r.done != FSC_REQ_WITHDRAWN)
			failf(c, "the timed-out notification receive was not withdrawn (done = %d)",
			      r.done);
	}
	/* Collective.  Its message exchange fails on purpose here: rank 1
	 * withdrew a receive from rank 0 (the peer is poisoned), or rank 0's
	 * fabric was abandoned; the bootstrap still brings everyone through,
	 * and every rank is done with the window afterwards. */
	if (!err) {
		f->timeout_ns = CONF_LATE_WAIT_NS;
		fsc_fabric_win_free(w);
	}
	err = fsc_boot_barrier(c->b);
	fsc_fabric_buf_free(f, win);
	fsc_fabric_buf_free(f, buf);
	fsc_fabric_destroy(f);
	return err;
}

unsigned fsc_conformance_count(const struct fsc_fabric_ops *ops, int size)
{
	/* destroy(NULL), never connected, connect, invalid peers; then per
	 * size ring + all pairs, four unexpected/early rings, many tags,
	 * same tag, interleaved, two mismatches, late message after a
	 * cancel; with put/get a ring per size, the argument checks and the
	 * cancel and timeout check; less what the fabric's declared limits
	 * skip (two tag checks, the late message). */
	if (size < 2)
		return 4;
	return 4 + 2 * CONF_NSIZES + 4 + 3 + 2 + 1 +
	       (fsc_fabric_has_rma(ops) ? CONF_NSIZES + 2 : 0) -
	       (ops->caps & FSC_CAP_POSTING_ORDER ? 2 : 0) -
	       (ops->caps & FSC_CAP_CANCEL_ABORTS ? 1 : 0);
}

/* The checks after a successful create.  Returns 0 or a bootstrap error. */
static int run_checks(struct conf *c)
{
	struct fsc_fabric *f2 = 0;
	char lbl[32];
	int rc, id = 0;

	check_begin(c, "create and destroy without connect");
	rc = create_fabric(c, &f2);
	if (rc)
		failf(c, "second create failed: %s", fsc_strerror(rc));
	fsc_fabric_destroy(f2);
	if ((rc = check_end(c)))
		return rc;

	check_begin(c, "connect");
	rc = fsc_fabric_connect(c->f);
	if (rc) {
		failf(c, "%s", fsc_strerror(rc));
		c->broken = 1;
	}
	if ((rc = check_end(c)) || c->stop)
		return rc;

	check_begin(c, "invalid peer");
	check_invalid_peers(c);
	if ((rc = check_end(c)) || c->stop || c->size < 2)
		return rc;

	for (size_t s = 0; s < CONF_NSIZES; s++) {
		size_label(conf_sizes[s], lbl, sizeof(lbl));
		check_begin(c, "ring %s", lbl);
		if ((rc = check_ring(c, ++id, conf_sizes[s], RING_PLAIN)) || (rc = check_end(c)) ||
		    c->stop)
			return rc;
		check_begin(c, "all pairs %s", lbl);
		if ((rc = check_all_pairs(c, ++id, conf_sizes[s])) || (rc = check_end(c)) ||
		    c->stop)
			return rc;
	}
	for (size_t s = 1; s < CONF_NSIZES; s += 2) {
		size_label(conf_sizes[s], lbl, sizeof(lbl));
		check_begin(c, "ring %s, receive posted after the send", lbl);
		if ((rc = check_ring(c, ++id, conf_sizes[s], RING_LATE_RECV)) ||
		    (rc = check_end(c)) || c->stop)
			return rc;
		check_begin(c, "ring %s, receive posted before the send", lbl);
		if ((rc = check_ring(c, ++id, conf_sizes[s], RING_EARLY_RECV)) ||
		    (rc = check_end(c)) || c->stop)
			return rc;
	}
	check_begin(c, "%d requests in flight, one tag each", CONF_MANY);
	if (c->ops->caps & FSC_CAP_POSTING_ORDER) {
		++id;
		check_skip(c, CONF_WHY_ORDER);
	} else if ((rc = check_many_tags(c, ++id)) || (rc = check_end(c)) || c->stop)
		return rc;
	check_begin(c, "%d messages of one tag in order", CONF_MANY);
	if ((rc = check_same_tag(c, ++id)) || (rc = check_end(c)) || c->stop)
		return rc;
	check_begin(c, "two tags interleaved");
	if (c->ops->caps & FSC_CAP_POSTING_ORDER) {
		++id;
		check_skip(c, CONF_WHY_ORDER);
	} else if ((rc = check_interleaved(c, ++id)) || (rc = check_end(c)) || c->stop)
		return rc;
	if (!fsc_fabric_has_rma(c->ops))
		return 0;
	for (size_t s = 0; s < CONF_NSIZES; s++) {
		size_label(conf_sizes[s], lbl, sizeof(lbl));
		check_begin(c, "put and get ring %s", lbl);
		if ((rc = check_rma_ring(c, ++id, conf_sizes[s])) || (rc = check_end(c)) || c->stop)
			return rc;
	}
	check_begin(c, "put and get argument checks");
	if ((rc = check_rma_args(c)) || (rc = check_end(c)))
		return rc;
	return 0;
}

int fsc_conformance_run(struct fsc_boot *b, const struct fsc_fabric_ops *ops,
                        const struct fsc_config *cfg, struct fsc_conformance_report *rep)
{
	struct conf c = {
	        .b = b, .ops = ops, .cfg = cfg, .rep = rep, .rank = b->rank, .size = b->size};
	int rc, first = -1;

	rep->checks_run = rep->checks_failed = rep->checks_skipped = 0;
	rep->message[0] = 0;
	rep->skipped[0] = 0;

	check_begin(&c, "destroy of NULL and of a half-built fabric");
	fsc_fabric_destroy(NULL);
	if (ops->destroy) {
		struct fsc_fabric half = {.ops = ops, .boot = b, .rank = b->rank, .size = b->size};

		ops->destroy(&half);
	}
	if ((rc = check_end(&c)))
		return rc;

	rc = create_fabric(&c, &c.f);
	rc = fsc_boot_agree(b, rc, &first);
	if (rc) {
		snprintf(rep->message, sizeof(rep->message), "rank %d: create of fabric %s: %s",
		         first, ops->name, fsc_strerror(rc));
		fsc_fabric_destroy(c.f);
		return rc;
	}
	rc = run_checks(&c);
	/* A destroy that is collective (MPI_Comm_free) needs every rank. */
	fsc_fabric_destroy(c.f);
	c.f = 0;
	if (rc)
		return rc;
	if (c.size >= 2) {
		check_begin(&c, "size mismatch, receive smaller than the send");
		if ((rc = check_mismatch(&c, 16, 8)) || (rc = check_end(&c)))
			return rc;
		check_begin(&c, "size mismatch, receive larger than the send");
		if ((rc = check_mismatch(&c, 8, 16)) || (rc = check_end(&c)))
			return rc;
		check_begin(&c, "late message after a cancelled receive");
		if (ops->caps & FSC_CAP_CANCEL_ABORTS)
			check_skip(&c, CONF_WHY_CANCEL);
		else if ((rc = check_late_after_cancel(&c)) || (rc = check_end(&c)))
			return rc;
		if (fsc_fabric_has_rma(ops)) {
			check_begin(&c, "cancelled get, timed-out notification");
			if ((rc = check_rma_cancel(&c)) || (rc = check_end(&c)))
				return rc;
		}
	}
	return rep->checks_failed ? -EIO : 0;
}
