/* UCX fabric: connection, data integrity, ordering, unexpected messages,
 * size mismatches and the transports recorded by describe().
 *
 * Ranks are threads of this process (local bootstrap), each with its own UCP
 * context and worker.  cmocka assertions must run on the main thread, so the
 * rank threads record what they saw in `struct run` and the test body
 * asserts exact values after the join.  Runs once with the environment as
 * given and once with UCX_TLS=tcp set before any context exists, to show
 * that UCX's own variables are honoured and recorded.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <ucp/api/ucp.h>

#include "boot.h"
#include "fabric.h"

extern const struct fsc_fabric_ops fsc_fabric_ucx;

#define MAX_RANKS 4
#define NOUT 8

struct run;
typedef int (*rank_fn)(struct fsc_fabric *f, struct run *r);

struct run {
	rank_fn fn;
	int out[MAX_RANKS][NOUT]; /* per-rank results, asserted by the test */
	json_t *info[MAX_RANKS];  /* describe() output, owned by the test */
};

static int rank_main(struct fsc_boot *b, void *arg)
{
	struct run *r = arg;
	struct fsc_fabric *f = NULL;
	int rc;

	rc = fsc_fabric_create(&fsc_fabric_ucx, b, NULL, &f);
	if (rc)
		return rc;
	rc = fsc_fabric_connect(f);
	if (!rc && r->fn)
		rc = r->fn(f, r);
	/* Nobody tears down while a peer may still need its progress. */
	fsc_boot_barrier(b);
	fsc_fabric_destroy(f);
	return rc;
}

static void run_ranks(int n, struct run *r)
{
	int rcs[MAX_RANKS];

	assert_true(n <= MAX_RANKS);
	memset(rcs, 0x55, sizeof(rcs));
	assert_int_equal(fsc_boot_local_run(n, NULL, rank_main, r, rcs), 0);
	for (int i = 0; i < n; i++)
		assert_int_equal(rcs[i], 0);
}

static uint8_t pattern_byte(int sender, size_t bytes, int seq, size_t i)
{
	return (uint8_t)(sender * 131u + bytes * 7u + (unsigned)seq * 29u + i * 13u + (i >> 12));
}

static void fill(uint8_t *p, int sender, size_t bytes, int seq)
{
	for (size_t i = 0; i < bytes; i++)
		p[i] = pattern_byte(sender, bytes, seq, i);
}

/* Number of wrong bytes. */
static int check(const uint8_t *p, int sender, size_t bytes, int seq)
{
	int bad = 0;

	for (size_t i = 0; i < bytes; i++)
		bad += p[i] != pattern_byte(sender, bytes, seq, i);
	return bad;
}

/* ---------------------------------------------------------------- */

static void probe__usable_here(void **state)
{
	char reason[256] = "untouched";

	(void)state;
	assert_int_equal(fsc_fabric_probe(&fsc_fabric_ucx, NULL, reason, sizeof(reason)), 0);
	assert_string_equal(reason, "");
}

static void probe__unknown_transport_is_enodev(void **state)
{
	char reason[256];
	int rc;

	(void)state;
	setenv("UCX_TLS", "no_such_transport", 1);
	rc = fsc_fabric_probe(&fsc_fabric_ucx, NULL, reason, sizeof(reason));
	unsetenv("UCX_TLS");
	assert_int_equal(rc, -ENODEV);
	assert_non_null(strstr(reason, "ucp_init failed"));
}

static void ops__identity(void **state)
{
	(void)state;
	assert_string_equal(fsc_fabric_ucx.name, "ucx");
	assert_int_equal(fsc_fabric_ucx.caps, FSC_CAP_SEND_RECV | FSC_CAP_RMA);
	assert_true(fsc_fabric_has_rma(&fsc_fabric_ucx));
}

static void connect__ranks(int n)
{
	struct run r = {0};

	run_ranks(n, &r);
}

static void connect__2_ranks(void **state)
{
	(void)state;
	connect__ranks(2);
}
static void connect__3_ranks(void **state)
{
	(void)state;
	connect__ranks(3);
}
static void connect__4_ranks(void **state)
{
	(void)state;
	connect__ranks(4);
}

/* Ring: send every size to rank+1, receive from rank-1; out[rank][k] is
 * the number of wrong bytes for size k (or a negative rc). */
static const size_t ring_sizes[] = {0, 1, 4097, 4u << 20};
#define NSIZES (sizeof(ring_sizes) / sizeof(ring_sizes[0]))

static int ring_fn(struct fsc_fabric *f, struct run *r)
{
	int to = (f->rank + 1) % f->size, from = (f->rank + f->size - 1) % f->size;

	for (size_t k = 0; k < NSIZES; k++) {
		size_t bytes = ring_sizes[k];
		uint8_t *s = malloc(bytes + 1), *d = malloc(bytes + 1);
		int rc;

		if (!s || !d) {
			free(s);
			free(d);
			return -ENOMEM;
		}
		fill(s, f->rank, bytes, (int)k);
		memset(d, 0, bytes + 1);
		rc = fsc_fabric_sendrecv(f, to, s, bytes, from, d, bytes, 100 + (int)k);
		r->out[f->rank][k] = rc ? rc : check(d, from, bytes, (int)k);
		free(s);
		free(d);
		if (rc)
			return rc;
	}
	return 0;
}

static void ring_sizes_verified(int n)
{
	struct run r = {.fn = ring_fn};

	memset(r.out, 0x7f, sizeof(r.out));
	run_ranks(n, &r);
	for (int i = 0; i < n; i++)
		for (size_t k = 0; k < NSIZES; k++)
			assert_int_equal(r.out[i][k], 0);
}

static void isend_irecv__sizes_2_ranks(void **state)
{
	(void)state;
	ring_sizes_verified(2);
}
static void isend_irecv__sizes_3_ranks(void **state)
{
	(void)state;
	ring_sizes_verified(3);
}
static void isend_irecv__sizes_4_ranks(void **state)
{
	(void)state;
	ring_sizes_verified(4);
}

/* Many in flight, to every rank (itself included), two tags interleaved:
 * receives are posted tag 2 first, sends go tag 1 and 2 alternately, and
 * every message carries its sequence number in its data, so a receive that
 * got another message than the one posted in the same order shows up as
 * wrong bytes.  out[rank][0]: wrong bytes, out[rank][1]: rc. */
#define INFLIGHT 32
#define INFLIGHT_BYTES 3000

static int inflight_fn(struct fsc_fabric *f, struct run *r)
{
	int n = f->size, nmsg = n * INFLIGHT;
	size_t bytes = INFLIGHT_BYTES;
	struct fsc_req *reqs = calloc((size_t)(2 * nmsg), sizeof(*reqs));
	uint8_t *sbuf = malloc((size_t)nmsg * bytes), *rbuf = calloc((size_t)nmsg, bytes);
	int rc = 0, bad = 0, k = 0;

	if (!reqs || !sbuf || !rbuf) {
		rc = -ENOMEM;
		goto out;
	}
	/* Receive slot (peer, tag, seq) -> index; tag 2 posted first. */
	for (int tag = 2; tag >= 1 && !rc; tag--)
		for (int p = 0; p < n && !rc; p++)
			for (int s = tag - 1; s < INFLIGHT && !rc; s += 2) {
				int idx = p * INFLIGHT + s;

				rc = fsc_fabric_irecv(f, p, rbuf + (size_t)idx * bytes, bytes, tag,
				                      &reqs[k++]);
			}
	for (int s = 0; s < INFLIGHT && !rc; s++)
		for (int i = 0; i < n && !rc; i++) {
			int p = (f->rank + i) % n, idx = p * INFLIGHT + s;
			uint8_t *b = sbuf + (size_t)idx * bytes;

			fill(b, f->rank, bytes, s);
			rc = fsc_fabric_isend(f, p, b, bytes, 1 + (s & 1), &reqs[k++]);
		}
	if (!rc)
		rc = fsc_fabric_wait(f, reqs, (size_t)k);
	for (int p = 0; p < n && !rc; p++)
		for (int s = 0; s < INFLIGHT; s++)
			bad += check(rbuf + (size_t)(p * INFLIGHT + s) * bytes, p, bytes, s);
out:
	r->out[f->rank][0] = bad;
	r->out[f->rank][1] = rc;
	free(reqs);
	free(sbuf);
	free(rbuf);
	return rc;
}

static void isend_irecv__many_in_flight_keep_order(void **state)
{
	(void)state;
	for (int n = 2; n <= 3; n++) {
		struct run r = {.fn = inflight_fn};

		memset(r.out, 0x7f, sizeof(r.out));
		run_ranks(n, &r);
		for (int i = 0; i < n; i++) {
			assert_int_equal(r.out[i][0], 0);
			assert_int_equal(r.out[i][1], 0);
		}
	}
}

/* Same tag, same pair, sizes that take different protocols (short, eager,
 * rendezvous): matching must still follow posting order.  out[1][k]:
 * wrong bytes of message k. */
static const size_t order_sizes[] = {8, 1u << 20, 100, 70000, 0, 5};
#define NORDER (sizeof(order_sizes) / sizeof(order_sizes[0]))

static int order_fn(struct fsc_fabric *f, struct run *r)
{
	struct fsc_req reqs[NORDER];
	uint8_t *buf[NORDER] = {0};
	int rc = 0;

	if (f->rank > 1)
		return 0;
	for (size_t k = 0; k < NORDER && !rc; k++) {
		buf[k] = calloc(1, order_sizes[k] + 1);
		if (!buf[k]) {
			rc = -ENOMEM;
			break;
		}
		if (f->rank == 0) {
			fill(buf[k], 0, order_sizes[k], (int)k);
			rc = fsc_fabric_isend(f, 1, buf[k], order_sizes[k], 9, &reqs[k]);
		} else {
			rc = fsc_fabric_irecv(f, 0, buf[k], order_sizes[k], 9, &reqs[k]);
		}
	}
	if (!rc)
		rc = fsc_fabric_wait(f, reqs, NORDER);
	for (size_t k = 0; k < NORDER; k++) {
		if (f->rank == 1)
			r->out[1][k] = rc ? rc : check(buf[k], 0, order_sizes[k], (int)k);
		free(buf[k]);
	}
	return rc;
}

static void isend_irecv__same_tag_mixed_protocols_in_order(void **state)
{
	struct run r = {.fn = order_fn};

	(void)state;
	memset(r.out, 0x7f, sizeof(r.out));
	run_ranks(2, &r);
	for (size_t k = 0; k < NORDER; k++)
		assert_int_equal(r.out[1][k], 0);
}

/* Unexpected messages: every send is posted, and the eager ones complete,
 * before the receiver posts anything (the bootstrap barrier separates the
 * two).  out[1][k]: wrong bytes. */
static const size_t unexp_sizes[] = {16, 4097, 4u << 20};
#define NUNEXP (sizeof(unexp_sizes) / sizeof(unexp_sizes[0]))

static int unexpected_fn(struct fsc_fabric *f, struct run *r)
{
	struct fsc_req reqs[NUNEXP];
	uint8_t *buf[NUNEXP] = {0};
	int rc = 0, brc;

	for (size_t k = 0; k < NUNEXP && !rc; k++) {
		buf[k] = calloc(1, unexp_sizes[k]);
		if (!buf[k])
			rc = -ENOMEM;
	}
	if (!rc && f->rank == 0) {
		for (size_t k = 0; k < NUNEXP && !rc; k++) {
			fill(buf[k], 0, unexp_sizes[k], (int)k);
			rc = fsc_fabric_isend(f, 1, buf[k], unexp_sizes[k], 40 + (int)k, &reqs[k]);
		}
		/* Let the small ones leave before the receiver posts. */
		for (int i = 0; i < 1000 && !rc; i++)
			rc = fsc_fabric_progress(f);
	}
	brc = fsc_boot_barrier(f->boot);
	if (!rc)
		rc = brc;
	if (!rc && f->rank == 1) {
		/* Posted in reverse: each finds its message already queued. */
		for (size_t k = NUNEXP; k-- > 0 && !rc;)
			rc = fsc_fabric_irecv(f, 0, buf[k], unexp_sizes[k], 40 + (int)k, &reqs[k]);
	}
	if (!rc && f->rank <= 1)
		rc = fsc_fabric_wait(f, reqs, NUNEXP);
	for (size_t k = 0; k < NUNEXP; k++) {
		if (f->rank == 1)
			r->out[1][k] = rc ? rc : check(buf[k], 0, unexp_sizes[k], (int)k);
		free(buf[k]);
	}
	return rc;
}

static void isend_irecv__unexpected_messages(void **state)
{
	struct run r = {.fn = unexpected_fn};

	(void)state;
	memset(r.out, 0x7f, sizeof(r.out));
	run_ranks(2, &r);
	for (size_t k = 0; k < NUNEXP; k++)
		assert_int_equal(r.out[1][k], 0);
}

/* A receive must be matched by a send of exactly its size.  Rank 0 sends
 * 100 B, 300 B, 1 MiB, 2 MiB and then 64 B; rank 1 posts 200 B, 200 B,
 * 2 MiB, 1 MiB, 64 B: the first four fail with -EIO (short message, truncated
 * eager, short rendezvous, truncated rendezvous) and the last one, correct,
 * still arrives intact.  out[1][k]: rc of receive k, out[1][5]: wrong bytes
 * of the last. */
static const size_t mm_send[] = {100, 300, 1u << 20, 2u << 20, 64};
static const size_t mm_recv[] = {200, 200, 2u << 20, 1u << 20, 64};
#define NMM 5

static int mismatch_fn(struct fsc_fabric *f, struct run *r)
{
	uint8_t *buf = calloc(1, 2u << 20);
	int rc = 0;

	if (!buf)
		return -ENOMEM;
	if (f->rank > 1)
		goto out;
	for (int k = 0; k < NMM; k++) {
		struct fsc_req req;

		if (f->rank == 0) {
			fill(buf, 0, mm_send[k], k);
			rc = fsc_fabric_isend(f, 1, buf, mm_send[k], 7, &req);
			if (!rc)
				rc = fsc_fabric_wait(f, &req, 1);
			if (rc) {
				r->out[0][k] = rc;
				goto out;
			}
		} else {
			int wrc;

			memset(buf, 0, 2u << 20);
			wrc = fsc_fabric_irecv(f, 0, buf, mm_recv[k], 7, &req);
			if (!wrc)
				wrc = fsc_fabric_wait(f, &req, 1);
			r->out[1][k] = wrc;
			if (k == NMM - 1)
				r->out[1][NMM] = check(buf, 0, mm_send[k], k);
		}
	}
out:
	free(buf);
	return rc;
}

static void irecv__size_mismatch_is_eio(void **state)
{
	struct run r = {.fn = mismatch_fn};

	(void)state;
	memset(r.out, 0x7f, sizeof(r.out));
	run_ranks(2, &r);
	for (int k = 0; k < NMM - 1; k++)
		assert_int_equal(r.out[1][k], -EIO);
	assert_int_equal(r.out[1][NMM - 1], 0);
	assert_int_equal(r.out[1][NMM], 0);
}

/* Both ranks stream a window of rendezvous-sized messages at each other,
 * then wait in the bootstrap (which does not progress UCX) before the next
 * window.  A rank that leaves with a protocol message still owed to its peer
 * (UCX 1.13's rendezvous acknowledgement stuck in a pending queue) stalls
 * the peer: with a 3 s deadline that shows as -ETIMEDOUT instead of a pass.
 * out[rank][0]: rc, out[rank][1]: wrong bytes in the last window. */
#define BIDIR_WINDOW 64
#define BIDIR_BYTES (128u << 10)
#define BIDIR_ITERS 600
#define BIDIR_SLOTS 16

static int bidir_fn(struct fsc_fabric *f, struct run *r)
{
	int peer = 1 - f->rank, rc = 0, bad = 0;
	struct fsc_req reqs[2 * BIDIR_WINDOW];
	uint8_t *sbuf = malloc(BIDIR_BYTES), *rbuf = malloc((size_t)BIDIR_SLOTS * BIDIR_BYTES);

	f->timeout_ns = 3000000000ull;
	if (!sbuf || !rbuf) {
		rc = -ENOMEM;
		goto out;
	}
	fill(sbuf, f->rank, BIDIR_BYTES, 0);
	for (int it = 0; it < BIDIR_ITERS && !rc; it++) {
		int n = 0, brc;

		for (int k = 0; k < BIDIR_WINDOW && !rc; k++)
			rc = fsc_fabric_irecv(f, peer,
			                      rbuf + (size_t)(k % BIDIR_SLOTS) * BIDIR_BYTES,
			                      BIDIR_BYTES, 5, &reqs[n++]);
		for (int k = 0; k < BIDIR_WINDOW && !rc; k++)
			rc = fsc_fabric_isend(f, peer, sbuf, BIDIR_BYTES, 5, &reqs[n++]);
		if (!rc)
			rc = fsc_fabric_wait(f, reqs, (size_t)n);
		if (it % 10 != 9)
			continue;
		brc = fsc_boot_agree(f->boot, rc, NULL);
		if (!rc)
			rc = brc;
	}
	for (int k = 0; k < BIDIR_SLOTS && !rc; k++)
		bad += check(rbuf + (size_t)k * BIDIR_BYTES, peer, BIDIR_BYTES, 0);
out:
	r->out[f->rank][0] = rc;
	r->out[f->rank][1] = bad;
	free(sbuf);
	free(rbuf);
	return 0; /* reported through out[] */
}

static void isend_irecv__bidirectional_windows_do_not_stall(void **state)
{
	struct run r = {.fn = bidir_fn};

	(void)state;
	memset(r.out, 0x7f, sizeof(r.out));
	run_ranks(2, &r);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(r.out[i][0], 0);
		assert_int_equal(r.out[i][1], 0);
	}
}

static int describe_fn(struct fsc_fabric *f, struct run *r)
{
	json_t *info = json_object();
	int rc;

	if (!info)
		return -ENOMEM;
	rc = fsc_fabric_describe(f, info);
	r->info[f->rank] = info;
	return rc;
}

/* Every endpoint names its peer, host and at least one tl/device; with
 * only_tl set, every transport listed starts with it.  Returns the number of
 * endpoints. */
static size_t assert_described(json_t *info, int n, const char *only_tl)
{
	json_t *eps = json_object_get(info, "endpoints");
	size_t i;
	json_t *ep;

	assert_non_null(info);
	assert_string_equal(json_string_value(json_object_get(info, "ucx_version")),
	                    ucp_get_version_string());
	assert_true(json_is_object(json_object_get(info, "env")));
	assert_true(json_is_array(eps));
	json_array_foreach(eps, i, ep)
	{
		const char *tr = json_string_value(json_object_get(ep, "transports"));
		char *copy, *tok, *save = NULL;

		assert_int_equal(json_integer_value(json_object_get(ep, "peer")), (int)i);
		assert_non_null(json_string_value(json_object_get(ep, "host")));
		assert_non_null(tr);
		assert_string_not_equal(tr, "unknown");
		assert_non_null(strchr(tr, '/'));
		assert_true(json_array_size(json_object_get(ep, "lanes")) >= 1);
		copy = strdup(tr);
		assert_non_null(copy);
		for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
			if (only_tl)
				assert_memory_equal(tok, only_tl, strlen(only_tl));
		free(copy);
	}
	assert_int_equal(json_array_size(eps), (size_t)n);
	return json_array_size(eps);
}

static void describe__lists_transports_per_endpoint(void **state)
{
	struct run r = {.fn = describe_fn};

	(void)state;
	run_ranks(3, &r);
	for (int i = 0; i < 3; i++) {
		assert_described(r.info[i], 3, NULL);
		json_decref(r.info[i]);
	}
}

/* ---------------------------------------------------------------- */
/* Transfer buffers come from UCX (ucp_mem_map with UCP_MEM_MAP_ALLOCATE)
 * and windows in them use their mapping; see struct ucx_buf. */

static const size_t buf_sizes[] = {1, 64, 4097, 4u << 20};
#define NBUFS (sizeof(buf_sizes) / sizeof(buf_sizes[0]))

/* out[rank][k]: 0 when buffer k is 64-byte aligned and zeroed; it is then
 * written all over (a short buffer would fault or corrupt the heap). */
static int buf_fn(struct fsc_fabric *f, struct run *r)
{
	uint8_t *b[NBUFS];

	for (size_t k = 0; k < NBUFS; k++) {
		b[k] = fsc_fabric_buf_alloc(f, buf_sizes[k]);
		if (!b[k])
			return -ENOMEM;
		r->out[f->rank][k] = (uintptr_t)b[k] % 64 != 0;
		for (size_t i = 0; i < buf_sizes[k]; i++)
			r->out[f->rank][k] += b[k][i] != 0;
		memset(b[k], 0xa5, buf_sizes[k]);
	}
	for (size_t k = 0; k < NBUFS; k++) /* freed out of order */
		fsc_fabric_buf_free(f, b[(k + 1) % NBUFS]);
	return 0;
}

static void buf_alloc__aligned_and_zeroed(void **state)
{
	struct run r = {.fn = buf_fn};

	(void)state;
	memset(r.out, 0x7f, sizeof(r.out));
	run_ranks(2, &r);
	for (int i = 0; i < 2; i++)
		for (size_t k = 0; k < NBUFS; k++)
			assert_int_equal(r.out[i][k], 0);
}

/* Where a window lives: a whole transfer buffer, part of one (its mapping
 * is shared), or memory that is not the fabric's (mapped for the window). */
enum win_mem { WIN_BUF, WIN_INSIDE_BUF, WIN_HEAP, WIN_NMEM };
#define WIN_BYTES (1u << 20)
#define WIN_NOTE_TAG 40

/* Rank 0 puts into rank 1's window (last put notified), then gets rank 1's
 * window back; out[rank][m]: wrong bytes for window memory m. */
static int rma_fn(struct fsc_fabric *f, struct run *r)
{
	for (int m = 0; m < WIN_NMEM; m++) {
		size_t bytes = WIN_BYTES, half = bytes / 2;
		uint8_t *buf = NULL, *heap = NULL, *wmem, *src, *dst;
		struct fsc_req q[2];
		struct fsc_win *w = NULL;
		int rc, bad = 0;

		if (m == WIN_HEAP)
			wmem = heap = aligned_alloc(64, bytes);
		else
			wmem = buf = fsc_fabric_buf_alloc(f, bytes + 128);
		src = fsc_fabric_buf_alloc(f, bytes);
		dst = fsc_fabric_buf_alloc(f, bytes);
		if (!wmem || !src || !dst)
			return -ENOMEM;
		if (m == WIN_INSIDE_BUF)
			wmem += 64;
		memset(wmem, 0, bytes);
		rc = fsc_fabric_win_create(f, wmem, bytes, &w);
		if (!rc && f->rank == 0) {
			fill(src, 0, bytes, m);
			rc = fsc_fabric_put(f, w, 1, 0, src, half, -1, &q[0]);
			if (!rc)
				rc = fsc_fabric_put(f, w, 1, half, src + half, bytes - half,
				                    WIN_NOTE_TAG, &q[1]);
			if (!rc)
				rc = fsc_fabric_wait(f, q, 2);
			if (!rc)
				rc = fsc_fabric_recv(f, 1, NULL, 0, WIN_NOTE_TAG); /* checked */
			if (!rc)
				rc = fsc_fabric_get(f, w, 1, 0, dst, bytes, &q[0]);
			if (!rc)
				rc = fsc_fabric_wait(f, q, 1);
			if (!rc) {
				bad = check(dst, 0, bytes, m);
				rc = fsc_fabric_send(f, 1, NULL, 0, WIN_NOTE_TAG); /* read */
			}
		} else if (!rc && f->rank == 1) {
			rc = fsc_fabric_recv(f, 0, NULL, 0, WIN_NOTE_TAG);
			if (!rc) {
				bad = check(wmem, 0, bytes, m);
				rc = fsc_fabric_send(f, 0, NULL, 0, WIN_NOTE_TAG);
			}
			if (!rc)
				rc = fsc_fabric_recv(f, 0, NULL, 0, WIN_NOTE_TAG);
		}
		if (w) {
			int frc = fsc_fabric_win_free(w);

			rc = rc ? rc : frc;
		}
		fsc_fabric_buf_free(f, buf);
		fsc_fabric_buf_free(f, src);
		fsc_fabric_buf_free(f, dst);
		free(heap);
		r->out[f->rank][m] = rc ? rc : bad;
		if (rc)
			return rc;
	}
	return 0;
}

static void put_get__windows_in_and_outside_transfer_buffers(void **state)
{
	struct run r = {.fn = rma_fn};

	(void)state;
	memset(r.out, 0x7f, sizeof(r.out));
	run_ranks(2, &r);
	for (int i = 0; i < 2; i++)
		for (int m = 0; m < WIN_NMEM; m++)
			assert_int_equal(r.out[i][m], 0);
}

/* Over shared memory a window in a transfer buffer is mapped by its peer,
 * so a put is a copy that completes while the target does nothing: rank 1
 * sits in a bootstrap barrier, which never drives UCX, while rank 0's
 * notified put of 1 MiB (flush included) must complete within 2 s.  With
 * heap memory UCX emulates the put in software, the flush waits for the
 * target's progress, and rank 0 times out.  out[0][0]: put rc, out[0][1]:
 * 1 when the endpoint has no shared-memory transport (test skipped);
 * out[1][0]: wrong bytes. */
static int idle_target_fn(struct fsc_fabric *f, struct run *r)
{
	size_t bytes = WIN_BYTES;
	uint8_t *wmem = fsc_fabric_buf_alloc(f, bytes), *src = fsc_fabric_buf_alloc(f, bytes);
	json_t *info = json_object(), *ep;
	const char *tr;
	struct fsc_win *w = NULL;
	struct fsc_req q;
	int rc = wmem && src && info ? 0 : -ENOMEM;

	if (!rc)
		rc = fsc_fabric_describe(f, info);
	ep = json_array_get(json_object_get(info, "endpoints"), 1 - f->rank);
	tr = json_string_value(json_object_get(ep, "transports"));
	r->out[f->rank][1] = !tr || (!strstr(tr, "sysv/") && !strstr(tr, "posix/"));
	json_decref(info);
	f->timeout_ns = 2000000000ull;
	if (!rc)
		rc = fsc_fabric_win_create(f, wmem, bytes, &w);
	if (!rc && f->rank == 0 && !r->out[0][1]) {
		fill(src, 0, bytes, 7);
		rc = fsc_fabric_put(f, w, 1, 0, src, bytes, WIN_NOTE_TAG, &q);
		if (!rc)
			rc = fsc_fabric_wait(f, &q, 1);
		r->out[0][0] = rc;
	}
	fsc_boot_barrier(f->boot); /* rank 1 idles here */
	if (!rc && f->rank == 1 && !r->out[1][1]) {
		rc = fsc_fabric_recv(f, 0, NULL, 0, WIN_NOTE_TAG);
		r->out[1][0] = rc ? rc : check(wmem, 0, bytes, 7);
	}
	if (w)
		fsc_fabric_win_free(w);
	fsc_fabric_buf_free(f, wmem);
	fsc_fabric_buf_free(f, src);
	return 0; /* judged from out[][] */
}

static void put__completes_while_the_target_idles(void **state)
{
	struct run r = {.fn = idle_target_fn};

	(void)state;
	memset(r.out, 0, sizeof(r.out));
	run_ranks(2, &r);
	if (r.out[0][1] || r.out[1][1])
		skip(); /* no shared-memory transport between the ranks */
	assert_int_equal(r.out[0][0], 0);
	assert_int_equal(r.out[1][0], 0);
}

/* UCX_ALLOC_PRIO=heap: UCX allocates transfer buffers from the heap, 16-byte
 * aligned (UCX_MEM_ALLOC_ALIGN), and peers cannot map them. */
static int heap_setup(void **state)
{
	(void)state;
	return setenv("UCX_ALLOC_PRIO", "heap", 1);
}

static int heap_teardown(void **state)
{
	(void)state;
	return unsetenv("UCX_ALLOC_PRIO");
}

/* ---------------------------------------------------------------- */
/* The same with UCX_TLS=tcp: every endpoint, the one to itself included,
 * must then run over tcp, and the variable must be in the record. */

static int tcp_setup(void **state)
{
	(void)state;
	return setenv("UCX_TLS", "tcp", 1);
}

static int tcp_teardown(void **state)
{
	(void)state;
	return unsetenv("UCX_TLS");
}

static void describe__ucx_tls_tcp_honoured_and_recorded(void **state)
{
	struct run r = {.fn = describe_fn};

	(void)state;
	run_ranks(2, &r);
	for (int i = 0; i < 2; i++) {
		assert_described(r.info[i], 2, "tcp/");
		assert_string_equal(json_string_value(json_object_get(
		                            json_object_get(r.info[i], "env"), "UCX_TLS")),
		                    "tcp");
		json_decref(r.info[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(ops__identity),
	        /* First: run after the others it met the stall it looks for
	         * less often (cause unknown).  Without quiesce() it failed 8
	         * runs in 8 here. */
	        cmocka_unit_test(isend_irecv__bidirectional_windows_do_not_stall),
	        cmocka_unit_test(probe__usable_here),
	        cmocka_unit_test(probe__unknown_transport_is_enodev),
	        cmocka_unit_test(connect__2_ranks),
	        cmocka_unit_test(connect__3_ranks),
	        cmocka_unit_test(connect__4_ranks),
	        cmocka_unit_test(isend_irecv__sizes_2_ranks),
	        cmocka_unit_test(isend_irecv__sizes_3_ranks),
	        cmocka_unit_test(isend_irecv__sizes_4_ranks),
	        cmocka_unit_test(isend_irecv__many_in_flight_keep_order),
	        cmocka_unit_test(isend_irecv__same_tag_mixed_protocols_in_order),
	        cmocka_unit_test(isend_irecv__unexpected_messages),
	        cmocka_unit_test(irecv__size_mismatch_is_eio),
	        cmocka_unit_test(describe__lists_transports_per_endpoint),
	        cmocka_unit_test(buf_alloc__aligned_and_zeroed),
	        cmocka_unit_test(put_get__windows_in_and_outside_transfer_buffers),
	        cmocka_unit_test(put__completes_while_the_target_idles),
	        {"buf_alloc__aligned_and_zeroed_heap", buf_alloc__aligned_and_zeroed, heap_setup,
	         heap_teardown, NULL},
	        {"put_get__windows_in_and_outside_transfer_buffers_heap",
	         put_get__windows_in_and_outside_transfer_buffers, heap_setup, heap_teardown, NULL},
	        /* UCX_TLS=tcp from here on (set before any context exists). */
	        {"describe__ucx_tls_tcp_honoured_and_recorded",
	         describe__ucx_tls_tcp_honoured_and_recorded, tcp_setup, tcp_teardown, NULL},
	        {"isend_irecv__sizes_3_ranks_tcp", isend_irecv__sizes_3_ranks, tcp_setup,
	         tcp_teardown, NULL},
	        {"isend_irecv__many_in_flight_keep_order_tcp",
	         isend_irecv__many_in_flight_keep_order, tcp_setup, tcp_teardown, NULL},
	        {"isend_irecv__same_tag_mixed_protocols_in_order_tcp",
	         isend_irecv__same_tag_mixed_protocols_in_order, tcp_setup, tcp_teardown, NULL},
	        {"isend_irecv__unexpected_messages_tcp", isend_irecv__unexpected_messages,
	         tcp_setup, tcp_teardown, NULL},
	        {"irecv__size_mismatch_is_eio_tcp", irecv__size_mismatch_is_eio, tcp_setup,
	         tcp_teardown, NULL},
	        {"isend_irecv__bidirectional_windows_do_not_stall_tcp",
	         isend_irecv__bidirectional_windows_do_not_stall, tcp_setup, tcp_teardown, NULL},
	        {"put_get__windows_in_and_outside_transfer_buffers_tcp",
	         put_get__windows_in_and_outside_transfer_buffers, tcp_setup, tcp_teardown, NULL},
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
