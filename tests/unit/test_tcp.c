/* The tcp fabric over the in-process bootstrap: N threads of this process,
 * each a rank with its own fabric, connected through 127.0.0.1.
 *
 * Nothing here can hang: every wait goes through fsc_fabric_wait (deadline
 * --timeout 10s), connection set-up runs under a short
 * --tcp-connect-timeout where a peer is meant to be missing, and the local
 * bootstrap fails a collective when a rank has left.  Threads never call
 * cmocka asserts: they record what they saw, the main thread asserts.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "boot.h"
#include "clock.h"
#include "fabric.h"
#include "log.h"
#include "options.h"
#include "stderr_capture.h"

#include "tcp/tcp.h"

#define MAX_RANKS 4
#define MIB (1024u * 1024u)

static const struct fsc_opt core_opts[] = {
        {"timeout", 0, FSC_OPT_TIME, "10s", "per-operation deadline", NULL, 0, 0},
        {NULL, 0, 0, NULL, NULL, NULL, 0, 0},
};

static const char *const hosts[MAX_RANKS] = {"hA", "hB", "hC", "hD"};

struct tcase;
typedef int (*body_fn)(struct fsc_fabric **fp, struct fsc_boot *b, struct tcase *c);

enum fake {
	FAKE_NONE,
	FAKE_SILENT,      /* listens, never answers */
	FAKE_REFUSE,      /* publishes a port nobody listens on */
	FAKE_NO_LISTENER, /* publishes port 0: "my listener failed" */
	FAKE_STRAY,       /* rank 0: a garbage connection first, then a real hello */
};

struct tcase {
	int n;
	const char *opts[6][2]; /* name, value; {NULL} ends */
	body_fn body;
	int fake_rank; /* this rank only pretends (enum fake) */
	enum fake fake;
	struct fsc_config *cfg;
	int connect_rc[MAX_RANKS];
	int body_rc[MAX_RANKS];
	uint64_t wrong[MAX_RANKS]; /* wrong bytes seen by each rank */
	json_t *info[MAX_RANKS];
	size_t close_bytes; /* body_close: message size (0: 64 B) */
	int after[2];       /* body_close: irecv/isend posted after the failure */
	/* Cancel cases: a rank done with its part raises flag; results. */
	atomic_int flag;
	int rc[MAX_RANKS][6];
};

/* ------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------ */

static struct fsc_config *config_make(const char *const (*opts)[2])
{
	const struct fsc_opt_group groups[] = {{"core", core_opts}, {"tcp", fsc_fabric_tcp.opts}};
	struct fsc_config *cfg = NULL;
	char err[256];

	assert_int_equal(fsc_config_defaults(&cfg, groups, 2), 0);
	for (int i = 0; opts && opts[i][0]; i++)
		assert_int_equal(fsc_config_set(cfg, opts[i][0], opts[i][1], err, sizeof(err)), 0);
	return cfg;
}

/* What the test wrote to stderr (stderr_capture.h), echoed to the real
 * stderr as well. */
static char *capture_end_echoed(void)
{
	char *text = capture_end();

	fputs(text, stderr);
	return text;
}

static uint8_t pattern_byte(int src, int dst, int tag, size_t i)
{
	uint32_t x = (uint32_t)i * 2654435761u ^ (uint32_t)src << 24 ^ (uint32_t)dst << 16 ^
	             (uint32_t)tag * 40503u;

	return (uint8_t)(x >> 13 ^ x);
}

static void pattern_fill(uint8_t *buf, size_t bytes, int src, int dst, int tag)
{
	for (size_t i = 0; i < bytes; i++)
		buf[i] = pattern_byte(src, dst, tag, i);
}

static uint64_t pattern_wrong(const uint8_t *buf, size_t bytes, int src, int dst, int tag)
{
	uint64_t wrong = 0;

	for (size_t i = 0; i < bytes; i++)
		wrong += buf[i] != pattern_byte(src, dst, tag, i);
	return wrong;
}

/* Fake rank 0 of 2: connects to rank 1 with 16 bytes of garbage, which
 * rank 1 must drop, then identifies itself with a proper hello (layout in
 * fabrics/tcp/README.md) and checks rank 1's answer. */
static int fake_stray(struct fsc_boot *b, struct tcase *c, const struct sockaddr_in *all)
{
	uint32_t hello[4] = {htonl(0x46534831u), htonl(1), htonl(0), htonl(2)}, reply[4];
	struct timeval tv = {5, 0};
	int fd1 = socket(AF_INET, SOCK_STREAM, 0), fd2 = socket(AF_INET, SOCK_STREAM, 0), rc = 0;
	char junk[16];

	memset(junk, 'x', sizeof(junk));
	c->wrong[0] = 1;
	if (fd1 < 0 || fd2 < 0 || connect(fd1, (const struct sockaddr *)&all[1], sizeof(all[1])) ||
	    send(fd1, junk, sizeof(junk), MSG_NOSIGNAL) != (ssize_t)sizeof(junk) ||
	    connect(fd2, (const struct sockaddr *)&all[1], sizeof(all[1])) ||
	    setsockopt(fd2, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    send(fd2, hello, sizeof(hello), MSG_NOSIGNAL) != (ssize_t)sizeof(hello) ||
	    recv(fd2, reply, sizeof(reply), MSG_WAITALL) != (ssize_t)sizeof(reply))
		rc = -EIO;
	if (!rc && reply[0] == htonl(0x46534831u) && reply[2] == htonl(1) && reply[3] == htonl(2))
		c->wrong[0] = 0;
	if (fsc_boot_barrier(b) && !rc)
		rc = -EIO;
	if (fd1 >= 0)
		close(fd1);
	if (fd2 >= 0)
		close(fd2);
	return rc;
}

/* A rank that publishes an address but is not a working fabscope rank. */
static int fake_peer(struct fsc_boot *b, struct tcase *c)
{
	struct sockaddr_in sa, *all;
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), rc;

	if (fd < 0)
		return -errno;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    getsockname(fd, (struct sockaddr *)&sa, &len)) {
		close(fd);
		return -errno;
	}
	if (c->fake == FAKE_SILENT && listen(fd, 16)) {
		close(fd);
		return -errno;
	}
	if (c->fake == FAKE_REFUSE) { /* the port is free again: refused */
		close(fd);
		fd = -1;
	}
	if (c->fake == FAKE_NO_LISTENER)
		sa.sin_port = 0;
	all = calloc((size_t)b->size, sizeof(*all));
	rc = all ? fsc_boot_allgather(b, &sa, all, sizeof(sa)) : -ENOMEM;
	/* Keep the listener (whose queue accepts connections that nobody
	 * answers) until every real rank is done. */
	if (!rc && c->fake == FAKE_STRAY)
		rc = fake_stray(b, c, all);
	else if (!rc)
		rc = fsc_boot_barrier(b);
	free(all);
	if (fd >= 0)
		close(fd);
	return rc;
}

static int run_rank(struct fsc_boot *b, void *arg)
{
	struct tcase *c = arg;
	struct fsc_fabric *f = NULL;
	int rc;

	if (c->fake != FAKE_NONE && b->rank == c->fake_rank)
		return fake_peer(b, c);
	rc = fsc_fabric_create(&fsc_fabric_tcp, b, c->cfg, &f);
	if (!rc)
		rc = fsc_fabric_connect(f);
	c->connect_rc[b->rank] = rc;
	c->body_rc[b->rank] = rc;
	if (!rc && c->body)
		c->body_rc[b->rank] = c->body(&f, b, c);
	/* Nobody closes a connection while a peer may still read from it. */
	rc = fsc_boot_barrier(b);
	fsc_fabric_destroy(f);
	return rc;
}

/* Run a case on c->n ranks; boot_rc = what every thread returned. */
static void case_run(struct tcase *c)
{
	int rcs[MAX_RANKS];

	c->cfg = config_make(c->opts);
	for (int r = 0; r < MAX_RANKS; r++) {
		c->connect_rc[r] = c->body_rc[r] = -ECANCELED;
		c->wrong[r] = 0;
	}
	assert_int_equal(fsc_boot_local_run(c->n, hosts, run_rank, c, rcs), 0);
	for (int r = 0; r < c->n; r++)
		assert_int_equal(rcs[r], 0);
	fsc_config_free(c->cfg);
	c->cfg = NULL;
}

/* ------------------------------------------------------------------------
 * Probe and create
 * ------------------------------------------------------------------------ */

static int probe_with(const char *ifspec, char *reason, size_t len)
{
	const char *opts[2][2] = {{"tcp-if", ifspec}, {NULL, NULL}};
	struct fsc_config *cfg = config_make(ifspec ? opts : NULL);
	int rc = fsc_fabric_probe(&fsc_fabric_tcp, cfg, reason, len);

	fsc_config_free(cfg);
	return rc;
}

static void tcp_probe__default_finds_interface(void **state)
{
	char reason[256];

	(void)state;
	assert_int_equal(probe_with(NULL, reason, sizeof(reason)), 0);
	assert_int_equal(fsc_fabric_probe(&fsc_fabric_tcp, NULL, reason, sizeof(reason)), 0);
}

static void tcp_probe__loopback_by_name_subnet_address(void **state)
{
	char reason[256];

	(void)state;
	assert_int_equal(probe_with("lo", reason, sizeof(reason)), 0);
	assert_int_equal(probe_with("127.0.0.0/8", reason, sizeof(reason)), 0);
	assert_int_equal(probe_with("127.0.0.1", reason, sizeof(reason)), 0);
	assert_int_equal(probe_with("0.0.0.0/0", reason, sizeof(reason)), 0);
}

static void tcp_probe__malformed_value_einval(void **state)
{
	static const char *const bad[] = {"10.0.0.0/33", "10.0.0/8",  "10.0.0.0/",
	                                  "10.0.0.0/8x", "300.1.1.1", "an-interface-name-too-long"};
	char reason[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(probe_with(bad[i], reason, sizeof(reason)), -EINVAL);
		assert_non_null(strstr(reason, "invalid --tcp-if"));
		assert_non_null(strstr(reason, bad[i]));
	}
}

static void tcp_probe__no_matching_subnet_enodev(void **state)
{
	char reason[256];

	(void)state;
	/* 203.0.113.0/24 is TEST-NET-3 (RFC 5737): never configured. */
	assert_int_equal(probe_with("203.0.113.0/24", reason, sizeof(reason)), -ENODEV);
	assert_ptr_equal(strstr(reason, "no IPv4 interface matches --tcp-if 203.0.113.0/24"),
	                 reason);
}

static void tcp_probe__unknown_interface_enodev(void **state)
{
	char reason[256];

	(void)state;
	assert_int_equal(probe_with("nosuchif0", reason, sizeof(reason)), -ENODEV);
	assert_ptr_equal(strstr(reason, "no interface named 'nosuchif0'"), reason);
}

static void tcp_create__bad_interface_fails_with_reason(void **state)
{
	const char *opts[2][2] = {{"tcp-if", "203.0.113.0/24"}, {NULL, NULL}};
	struct fsc_config *cfg = config_make(opts);
	struct fsc_fabric *f = (struct fsc_fabric *)1;
	char *log;
	int rc;

	(void)state;
	capture_begin();
	rc = fsc_fabric_create(&fsc_fabric_tcp, NULL, cfg, &f);
	log = capture_end_echoed();
	assert_int_equal(rc, -ENODEV);
	assert_null(f);
	assert_non_null(strstr(log, "no IPv4 interface matches --tcp-if 203.0.113.0/24"));
	free(log);
	fsc_config_free(cfg);
}

/* ------------------------------------------------------------------------
 * Data
 * ------------------------------------------------------------------------ */

static const size_t exchange_sizes[] = {0, 1, 4097, 4 * MIB};

/* Every rank sends to every rank (itself included) one message of each
 * size, all in flight at once, and checks what it received. */
static int body_all_pairs(struct fsc_fabric **fp, struct fsc_boot *b, struct tcase *c)
{
	struct fsc_fabric *f = *fp;
	const size_t ns = sizeof(exchange_sizes) / sizeof(exchange_sizes[0]);
	size_t nreq = 2 * ns * (size_t)b->size, k = 0;
	struct fsc_req *reqs = calloc(nreq, sizeof(*reqs));
	uint8_t **sbuf = calloc(nreq, sizeof(*sbuf)), **rbuf = calloc(nreq, sizeof(*rbuf));
	int rc = reqs && sbuf && rbuf ? 0 : -ENOMEM;

	for (int p = 0; p < b->size && !rc; p++)
		for (size_t s = 0; s < ns && !rc; s++, k++) {
			size_t bytes = exchange_sizes[s];
			int tag = (int)s;

			sbuf[k] = malloc(bytes + 1);
			rbuf[k] = malloc(bytes + 1);
			if (!sbuf[k] || !rbuf[k]) {
				rc = -ENOMEM;
				break;
			}
			memset(rbuf[k], 0xee, bytes + 1);
			pattern_fill(sbuf[k], bytes, b->rank, p, tag);
			rc = fsc_fabric_irecv(f, p, rbuf[k], bytes, tag, &reqs[2 * k]);
			if (!rc)
				rc = fsc_fabric_isend(f, p, sbuf[k], bytes, tag, &reqs[2 * k + 1]);
		}
	if (!rc)
		rc = fsc_fabric_wait(f, reqs, nreq);
	k = 0;
	for (int p = 0; p < b->size && !rc; p++)
		for (size_t s = 0; s < ns; s++, k++) {
			c->wrong[b->rank] +=
			        pattern_wrong(rbuf[k], exchange_sizes[s], p, b->rank, (int)s);
			c->wrong[b->rank] += rbuf[k][exchange_sizes[s]] != 0xee; /* overrun */
		}
	for (size_t i = 0; i < nreq / 2 && sbuf && rbuf; i++) {
		free(sbuf[i]);
		free(rbuf[i]);
	}
	free(sbuf);
	free(rbuf);
	free(reqs);
	return rc;
}

static void all_pairs_on(int n)
{
	struct tcase c = {.n = n, .body = body_all_pairs};

	case_run(&c);
	for (int r = 0; r < n; r++) {
		assert_int_equal(c.connect_rc[r], 0);
		assert_int_equal(c.body_rc[r], 0);
		assert_int_equal(c.wrong[r], 0);
	}
}

static void tcp_connect__one_rank_sends_to_itself(void **state)
{
	(void)state;
	all_pairs_on(1);
}

static void tcp_connect__two_ranks_exchange_verified(void **state)
{
	(void)state;
	all_pairs_on(2);
}

static void tcp_connect__three_ranks_exchange_verified(void **state)
{
	(void)state;
	all_pairs_on(3);
}

static void tcp_connect__four_ranks_exchange_verified(void **state)
{
	(void)state;
	all_pairs_on(4);
}

#define MANY 120 /* messages per ordered pair */
#define MANY_TAGS 3

static size_t many_bytes(int i)
{
	return (size_t)(i * 997) % 20000;
}

/* Message i from src to dst has tag i % MANY_TAGS.  Sends go out in index
 * order; receives are posted grouped by tag (all of tag 0 first...), so
 * matching must follow posting order within a tag, not arrival order.
 * Receives are posted after the sends, so many messages are unexpected. */
static int body_many(struct fsc_fabric **fp, struct fsc_boot *b, struct tcase *c)
{
	struct fsc_fabric *f = *fp;
	int n = b->size;
	size_t nreq = 2 * (size_t)MANY * (size_t)n;
	struct fsc_req *reqs = calloc(nreq, sizeof(*reqs));
	uint8_t **sbuf = calloc((size_t)MANY * (size_t)n, sizeof(*sbuf));
	uint8_t **rbuf = calloc((size_t)MANY * (size_t)n, sizeof(*rbuf));
	size_t k = 0;
	int rc = reqs && sbuf && rbuf ? 0 : -ENOMEM;

	for (int i = 0; i < MANY && !rc; i++)
		for (int p = 0; p < n && !rc; p++, k++) {
			size_t bytes = many_bytes(i);

			sbuf[k] = malloc(bytes + 1);
			if (!sbuf[k]) {
				rc = -ENOMEM;
				break;
			}
			pattern_fill(sbuf[k], bytes, b->rank, p, i);
			rc = fsc_fabric_isend(f, p, sbuf[k], bytes, i % MANY_TAGS, &reqs[k]);
		}
	for (int tag = 0; tag < MANY_TAGS && !rc; tag++)
		for (int i = tag; i < MANY && !rc; i += MANY_TAGS)
			for (int p = 0; p < n && !rc; p++, k++) {
				size_t bytes = many_bytes(i), j = (size_t)i * (size_t)n + (size_t)p;

				rbuf[j] = malloc(bytes + 1);
				if (!rbuf[j]) {
					rc = -ENOMEM;
					break;
				}
				rc = fsc_fabric_irecv(f, p, rbuf[j], bytes, tag, &reqs[k]);
			}
	if (!rc)
		rc = fsc_fabric_wait(f, reqs, nreq);
	for (int i = 0; i < MANY && !rc; i++)
		for (int p = 0; p < n; p++)
			c->wrong[b->rank] += pattern_wrong(rbuf[(size_t)i * (size_t)n + (size_t)p],
			                                   many_bytes(i), p, b->rank, i);
	for (size_t i = 0; i < (size_t)MANY * (size_t)n && sbuf && rbuf; i++) {
		free(sbuf[i]);
		free(rbuf[i]);
	}
	free(sbuf);
	free(rbuf);
	free(reqs);
	return rc;
}

static void tcp_isend__many_in_flight_match_in_tag_order(void **state)
{
	struct tcase c = {.n = 3, .body = body_many};

	(void)state;
	case_run(&c);
	for (int r = 0; r < c.n; r++) {
		assert_int_equal(c.body_rc[r], 0);
		assert_int_equal(c.wrong[r], 0);
	}
}

/* Drive f until `peer` has sent at least n messages that no receive has
 * claimed yet, the last one complete unless `partial_ok`.  This is how a
 * test knows messages arrived before their receive is posted; -ETIMEDOUT
 * after 10 s (then the sender never sent them). */
static int progress_until_unexpected(struct fsc_fabric *f, int peer, size_t n, int partial_ok)
{
	struct timespec t0, now;
	size_t msgs = 0;
	int filling = 0, rc;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		rc = fsc_fabric_progress(f);
		if (!rc)
			rc = fsc_tcp_unexpected(f, peer, &msgs, &filling);
		if (rc)
			return rc;
		if (msgs >= n && (partial_ok || !filling))
			return 0;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - t0.tv_sec > 10) {
			print_error(
			        "rank %d: %zu of %zu unexpected messages from rank %d after 10 s\n",
			        f->rank, msgs, n, peer);
			return -ETIMEDOUT;
		}
	}
}

#define TINY 5000

/* Rank 0 sends everything before rank 1 posts a receive: TINY 1-byte
 * messages (17 B each on the wire, so some header straddles the end of a
 * 64 KiB staging read), then 1 B, 4097 B and 16 MiB.  Rank 1 reads until
 * every message is held as unexpected, the 16 MiB one as soon as its
 * header is in (rank 0 then finds the socket full), and posts its
 * receives in reverse order: the 16 MiB message, usually still arriving,
 * is finished in place. */
static int body_unexpected(struct fsc_fabric **fp, struct fsc_boot *b, struct tcase *c)
{
	static const size_t sizes[] = {1, 4097, 16 * MIB};
	struct fsc_fabric *f = *fp;
	struct fsc_req *reqs = calloc(TINY + 3, sizeof(*reqs));
	uint8_t *buf[3] = {NULL, NULL, NULL}, *tiny = calloc(TINY, 1);
	int rc = reqs && tiny ? 0 : -ENOMEM;

	for (int i = 0; i < 3 && !rc; i++) {
		buf[i] = malloc(sizes[i]);
		if (!buf[i])
			rc = -ENOMEM;
		else if (b->rank == 0)
			pattern_fill(buf[i], sizes[i], 0, 1, i);
	}
	for (int j = 0; j < TINY && !rc && b->rank == 0; j++) {
		tiny[j] = pattern_byte(0, 1, 7, (size_t)j);
		rc = fsc_fabric_isend(f, 1, tiny + j, 1, 7, &reqs[3 + j]);
	}
	for (int i = 0; i < 3 && !rc && b->rank == 0; i++)
		rc = fsc_fabric_isend(f, 1, buf[i], sizes[i], i, &reqs[i]);
	if (fsc_boot_barrier(b) && !rc)
		rc = -EIO;
	if (!rc && b->rank == 1) {
		rc = progress_until_unexpected(f, 0, TINY + 3, 1);
		for (int i = 2; i >= 0 && !rc; i--)
			rc = fsc_fabric_irecv(f, 0, buf[i], sizes[i], i, &reqs[i]);
		for (int j = 0; j < TINY && !rc; j++)
			rc = fsc_fabric_irecv(f, 0, tiny + j, 1, 7, &reqs[3 + j]);
	}
	if (!rc && b->rank <= 1)
		rc = fsc_fabric_wait(f, reqs, TINY + 3);
	for (int i = 0; i < 3 && !rc && b->rank == 1; i++)
		c->wrong[1] += pattern_wrong(buf[i], sizes[i], 0, 1, i);
	for (int j = 0; j < TINY && !rc && b->rank == 1; j++)
		c->wrong[1] += tiny[j] != pattern_byte(0, 1, 7, (size_t)j);
	for (int i = 0; i < 3; i++)
		free(buf[i]);
	free(tiny);
	free(reqs);
	return rc;
}

static void tcp_irecv__unexpected_messages_are_kept(void **state)
{
	struct tcase c = {.n = 2, .body = body_unexpected};

	(void)state;
	case_run(&c);
	assert_int_equal(c.body_rc[0], 0);
	assert_int_equal(c.body_rc[1], 0);
	assert_int_equal(c.wrong[1], 0);
}

/* A 100 B send into a 99 B receive fails that receive with -EIO, whether
 * the receive was posted first (tag 5) or the message arrived first (tag
 * 8); the message after them still arrives intact (the stream stays in
 * step). */
static int body_mismatch(struct fsc_fabric **fp, struct fsc_boot *b, struct tcase *c)
{
	struct fsc_fabric *f = *fp;
	uint8_t big[100], small[10];
	struct fsc_req req;
	int rc = 0, rc5 = 0;

	pattern_fill(big, sizeof(big), 0, 1, 5);
	pattern_fill(small, sizeof(small), 0, 1, 6);
	if (b->rank == 1)
		rc = fsc_fabric_irecv(f, 0, big, 99, 5, &req);
	if (fsc_boot_barrier(b))
		return -EIO;
	if (b->rank == 0) {
		rc = fsc_fabric_send(f, 1, big, sizeof(big), 5);
		if (!rc)
			rc = fsc_fabric_send(f, 1, big, sizeof(big), 8);
	} else if (!rc) {
		rc5 = fsc_fabric_wait(f, &req, 1);
	}
	if (fsc_boot_barrier(b))
		return -EIO;
	if (b->rank == 0)
		return rc ? rc : fsc_fabric_send(f, 1, small, sizeof(small), 6);
	if (rc)
		return rc;
	if (rc5 != -EIO)
		return rc5 ? rc5 : -EINVAL;
	/* The tag 8 message arrives before its receive is posted. */
	rc = progress_until_unexpected(f, 0, 1, 0);
	rc = rc ? rc : fsc_fabric_recv(f, 0, big, 99, 8);
	if (rc != -EIO)
		return rc ? rc : -EINVAL;
	memset(small, 0, sizeof(small));
	rc = fsc_fabric_recv(f, 0, small, sizeof(small), 6);
	c->wrong[1] = pattern_wrong(small, sizeof(small), 0, 1, 6);
	return rc;
}

static void fsc_tcp_unexpected__rejects_other_fabrics(void **state)
{
	static const struct fsc_fabric_ops other = {.name = "other"};
	struct fsc_fabric f = {.ops = &other, .rank = 0, .size = 2};
	size_t msgs = 7;
	int filling = 7;

	(void)state;
	assert_int_equal(fsc_tcp_unexpected(NULL, 0, &msgs, &filling), -EINVAL);
	assert_int_equal(fsc_tcp_unexpected(&f, 0, &msgs, &filling), -EINVAL);
	assert_int_equal(msgs, 7);
	assert_int_equal(filling, 7);
}

static void tcp_irecv__size_mismatch_is_eio(void **state)
{
	struct tcase c = {.n = 2, .body = body_mismatch};
	char *log;

	(void)state;
	capture_begin();
	case_run(&c);
	log = capture_end_echoed();
	assert_int_equal(c.body_rc[0], 0);
	assert_int_equal(c.body_rc[1], 0);
	assert_int_equal(c.wrong[1], 0);
	assert_non_null(strstr(log, "receive of 99 B from rank 0 (host hA, tag 5) matched a "
	                            "message of 100 B"));
	assert_non_null(strstr(log, "receive of 99 B from rank 0 (host hA, tag 8) matched a "
	                            "message of 100 B"));
	free(log);
}

/* ------------------------------------------------------------------------
 * Cancel: late messages and partly moved ones
 * ------------------------------------------------------------------------ */

#define CANARY 0xEE

/* Drive f until another rank raises c->flag (it finished the transfer this
 * rank must keep draining); 10 s at most. */
static int progress_until_flag(struct fsc_fabric *f, struct tcase *c)
{
	uint64_t deadline = fsc_time_real_ns() + 10000000000ull;
	int rc = 0;

	while (!rc && !atomic_load(&c->flag)) {
		rc = fsc_fabric_progress(f);
		if (fsc_time_real_ns() > deadline)
			rc = -ETIMEDOUT;
		sched_yield();
	}
	return rc;
}

static uint64_t count_not(const uint8_t *buf, size_t bytes, uint8_t v)
{
	uint64_t n = 0;

	for (size_t i = 0; i < bytes; i++)
		n += buf[i] != v;
	return n;
}

/* Rank 0's 64 B receive from rank 1 times out; only then does rank 1 send
 * it, followed by 4 MiB (more than the socket buffers: rank 0 must drain
 * it).  Rank 0's request and buffer are gone from the fabric's view: the
 * request storage is freed, the buffer holds a canary.  Afterwards rank 0
 * refuses rank 1 both ways and still talks to rank 2. */
static int body_late(struct fsc_fabric **fp, struct fsc_boot *b, struct tcase *c)
{
	struct fsc_fabric *f = *fp;
	uint8_t *buf = malloc(64), *big = calloc(1, 4 * MIB), small[16];
	struct fsc_req *req = malloc(sizeof(*req)), r2;
	int rc = buf && big && req ? 0 : -ENOMEM;

	if (!rc && b->rank == 0) {
		f->timeout_ns = 50000000;
		c->rc[0][0] = fsc_fabric_irecv(f, 1, buf, 64, 5, req);
		c->rc[0][1] = fsc_fabric_wait(f, req, 1);
		free(req);
		req = NULL;
		memset(buf, CANARY, 64);
	}
	if (fsc_boot_barrier(b))
		rc = -EIO;
	if (!rc && b->rank == 1) {
		pattern_fill(buf, 64, 1, 0, 5);
		c->rc[1][0] = fsc_fabric_send(f, 0, buf, 64, 5);
		c->rc[1][1] = fsc_fabric_send(f, 0, big, 4 * MIB, 6);
		atomic_store(&c->flag, 1);
	}
	if (!rc && b->rank == 0) {
		c->rc[0][2] = progress_until_flag(f, c);
		c->wrong[0] = count_not(buf, 64, CANARY);
		c->rc[0][3] = fsc_fabric_irecv(f, 1, small, 16, 7, &r2);
		c->rc[0][4] = fsc_fabric_isend(f, 1, small, 16, 7, &r2);
		c->rc[0][5] = fsc_fabric_recv(f, 2, small, 16, 8);
		c->wrong[2] = pattern_wrong(small, 16, 2, 0, 8);
	}
	if (!rc && b->rank == 2) {
		pattern_fill(small, 16, 2, 0, 8);
		rc = fsc_fabric_send(f, 0, small, 16, 8);
	}
	free(req);
	free(buf);
	free(big);
	return rc;
}

static void tcp_cancel__late_message_is_dropped_peer_refused(void **state)
{
	struct tcase c = {.n = 3, .body = body_late};
	char *log;

	(void)state;
	capture_begin();
	case_run(&c);
	log = capture_end_echoed();
	assert_int_equal(c.body_rc[0], 0);
	assert_int_equal(c.body_rc[1], 0);
	assert_int_equal(c.body_rc[2], 0);
	assert_int_equal(c.rc[0][0], 0);
	assert_int_equal(c.rc[0][1], -ETIMEDOUT);
	assert_int_equal(c.rc[1][0], 0); /* the late sender sees no error */
	assert_int_equal(c.rc[1][1], 0); /* its 4 MiB were drained */
	assert_int_equal(c.rc[0][2], 0);
	assert_int_equal(c.wrong[0], 0); /* canary intact */
	assert_int_equal(c.rc[0][3], -EIO);
	assert_int_equal(c.rc[0][4], -EIO);
	assert_int_equal(c.rc[0][5], 0); /* rank 2 is unaffected */
	assert_int_equal(c.wrong[2], 0);
	assert_non_null(strstr(log, "fabscope[0@hA]: warning: fabric tcp: an operation with "
	                            "rank 1 (host hB) was cancelled"));
	assert_non_null(strstr(log, "receive of 16 B (tag 7) from rank 1 (host hB) refused"));
	free(log);
}

/* Rank 0 cancels a 32 MiB receive once its first bytes have landed: the
 * rest is read and dropped, never written into the buffer (refilled with a
 * canary right after the cancel), and the sender's send completes. */
static int body_cancel_mid_receive(struct fsc_fabric **fp, struct fsc_boot *b, struct tcase *c)
{
	struct fsc_fabric *f = *fp;
	size_t bytes = 32 * MIB;
	uint8_t *buf = malloc(bytes);
	struct fsc_req req;
	int rc = buf ? 0 : -ENOMEM, done = 0;
	uint64_t deadline = fsc_time_real_ns() + 10000000000ull;

	if (!rc && b->rank == 0) {
		memset(buf, CANARY, bytes);
		rc = fsc_fabric_irecv(f, 1, buf, bytes, 1, &req);
	}
	if (fsc_boot_barrier(b) && !rc)
		rc = -EIO;
	if (!rc && b->rank == 1) {
		pattern_fill(buf, bytes, 1, 0, 1);
		rc = fsc_fabric_send(f, 0, buf, bytes, 1);
		atomic_store(&c->flag, 1);
	}
	if (!rc && b->rank == 0) {
		/* Poll until the payload has started; the sender cannot finish
		 * before rank 0 reads the rest. */
		while (!rc && !done && buf[0] == CANARY) {
			rc = fsc_fabric_test(f, &req, &done);
			if (fsc_time_real_ns() > deadline)
				rc = -ETIMEDOUT;
		}
		c->rc[0][0] = done; /* 0: it was cancelled mid-message */
		if (!rc)
			rc = fsc_fabric_cancel(f, &req);
		memset(buf, CANARY, bytes);
		if (!rc)
			rc = progress_until_flag(f, c);
		c->wrong[0] = count_not(buf, bytes, CANARY);
	}
	free(buf);
	return rc;
}

static void tcp_cancel__receive_cancelled_mid_message_drains_the_rest(void **state)
{
	struct tcase c = {.n = 2, .body = body_cancel_mid_receive};

	(void)state;
	case_run(&c);
	assert_int_equal(c.body_rc[0], 0);
	assert_int_equal(c.body_rc[1], 0);
	assert_int_equal(c.rc[0][0], 0);
	assert_int_equal(c.wrong[0], 0);
}

/* Rank 0 cancels a 32 MiB send the socket took only part of (rank 1 is not
 * reading yet), then overwrites and frees its buffer.  Rank 1 still gets
 * the whole message intact: the fabric finished it from its own copy. */
static int body_cancel_mid_send(struct fsc_fabric **fp, struct fsc_boot *b, struct tcase *c)
{
	struct fsc_fabric *f = *fp;
	size_t bytes = 32 * MIB;
	uint8_t *buf = malloc(bytes);
	struct fsc_req req;
	int rc = buf ? 0 : -ENOMEM, done = 0;

	if (!rc && b->rank == 0) {
		pattern_fill(buf, bytes, 0, 1, 1);
		rc = fsc_fabric_isend(f, 1, buf, bytes, 1, &req);
		if (!rc)
			rc = fsc_fabric_test(f, &req, &done);
		c->rc[0][0] = done; /* 0: the socket did not take it all */
		if (!rc)
			rc = fsc_fabric_cancel(f, &req);
		memset(buf, CANARY, bytes);
		free(buf);
		buf = NULL;
	}
	if (fsc_boot_barrier(b) && !rc)
		rc = -EIO;
	if (!rc && b->rank == 1) {
		memset(buf, 0, bytes);
		rc = fsc_fabric_recv(f, 0, buf, bytes, 1);
		c->wrong[1] = pattern_wrong(buf, bytes, 0, 1, 1);
		atomic_store(&c->flag, 1);
	}
	if (!rc && b->rank == 0)
		rc = progress_until_flag(f, c);
	free(buf);
	return rc;
}

static void tcp_cancel__partly_written_send_is_finished_from_a_copy(void **state)
{
	struct tcase c = {.n = 2, .body = body_cancel_mid_send};

	(void)state;
	case_run(&c);
	assert_int_equal(c.body_rc[0], 0);
	assert_int_equal(c.body_rc[1], 0);
	assert_int_equal(c.rc[0][0], 0);
	assert_int_equal(c.wrong[1], 0);
}

/* Destroy with requests outstanding (run_rank destroys after the body):
 * rank 0 leaves a receive posted and a 32 MiB send partly written, both
 * with their storage already freed.  No crash, and nothing of theirs is
 * touched (the sanitizer build checks the latter). */
static int body_destroy_pending(struct fsc_fabric **fp, struct fsc_boot *b, struct tcase *c)
{
	struct fsc_fabric *f = *fp;
	size_t bytes = 32 * MIB;
	uint8_t *big = calloc(1, bytes), *small = malloc(16);
	struct fsc_req *req = malloc(2 * sizeof(*req));
	int rc = big && small && req ? 0 : -ENOMEM;

	(void)c;
	if (!rc && b->rank == 0)
		rc = fsc_fabric_irecv(f, 1, small, 16, 3, &req[0]);
	if (!rc && b->rank == 0)
		rc = fsc_fabric_isend(f, 1, big, bytes, 4, &req[1]);
	free(req);
	free(small);
	free(big);
	return rc;
}

static void tcp_destroy__with_requests_outstanding(void **state)
{
	struct tcase c = {.n = 2, .body = body_destroy_pending};

	(void)state;
	case_run(&c);
	assert_int_equal(c.body_rc[0], 0);
	assert_int_equal(c.body_rc[1], 0);
}

/* ------------------------------------------------------------------------
 * Peers that never come, or go away
 * ------------------------------------------------------------------------ */

static void tcp_connect__silent_peer_times_out_named(void **state)
{
	/* Rank 1 listens (so connect() itself succeeds) but never answers. */
	struct tcase c = {.n = 3,
	                  .opts = {{"tcp-connect-timeout", "300ms"}, {NULL, NULL}},
	                  .fake_rank = 1,
	                  .fake = FAKE_SILENT};
	char *log;

	(void)state;
	capture_begin();
	case_run(&c);
	log = capture_end_echoed();
	assert_int_equal(c.connect_rc[0], -ETIMEDOUT);
	assert_int_equal(c.connect_rc[2], -ETIMEDOUT);
	/* rank 0 connects to rank 1; rank 2 waits for rank 1 to connect. */
	assert_non_null(strstr(log, "fabscope[0@hA]: error: fabric tcp: rank 1 (host hB) at "
	                            "127.0.0.1:"));
	assert_non_null(strstr(log, "did not answer the connection handshake within 0.3 s"));
	assert_non_null(strstr(log, "fabscope[2@hC]: error: fabric tcp: rank 1 (host hB) never "
	                            "connected within 0.3 s"));
	/* ranks 0 and 2 did connect to each other: only rank 1 is named */
	assert_null(strstr(log, "rank 0 (host hA)"));
	assert_null(strstr(log, "rank 2 (host hC)"));
	free(log);
}

static void tcp_connect__refused_peer_fails_named(void **state)
{
	struct tcase c = {.n = 2, .fake_rank = 1, .fake = FAKE_REFUSE};
	char *log;

	(void)state;
	capture_begin();
	case_run(&c);
	log = capture_end_echoed();
	assert_int_equal(c.connect_rc[0], -EIO);
	assert_non_null(strstr(log, "cannot connect to rank 1 (host hB) at 127.0.0.1:"));
	assert_non_null(strstr(log, "Connection refused"));
	free(log);
}

static void tcp_connect__peer_without_listener_fails_at_once(void **state)
{
	struct tcase c = {.n = 3, .fake_rank = 2, .fake = FAKE_NO_LISTENER};
	char *log;

	(void)state;
	capture_begin();
	case_run(&c);
	log = capture_end_echoed();
	assert_int_equal(c.connect_rc[0], -EIO);
	assert_int_equal(c.connect_rc[1], -EIO);
	assert_non_null(strstr(log, "rank 2 (host hC) published no address"));
	free(log);
}

/* Rank 1 closes its fabric while rank 0 waits for a message from it. */
static int body_close(struct fsc_fabric **fp, struct fsc_boot *b, struct tcase *c)
{
	struct fsc_fabric *f = *fp;
	size_t bytes = c->close_bytes ? c->close_bytes : 64;
	struct fsc_req req;
	uint8_t *buf = calloc(1, bytes);
	int rc = buf ? 0 : -ENOMEM;

	if (!rc && b->rank == 0)
		rc = fsc_fabric_irecv(f, 1, buf, bytes, 1, &req);
	if (!rc && b->rank == 1 && bytes > 64)
		rc = fsc_fabric_isend(f, 0, buf, bytes, 1, &req); /* never completes */
	if (fsc_boot_barrier(b) && !rc)
		rc = -EIO;
	if (!rc && b->rank == 1) {
		fsc_fabric_destroy(f);
		*fp = NULL;
	}
	if (!rc && b->rank == 0)
		rc = fsc_fabric_wait(f, &req, 1);
	if (rc == -EIO && b->rank == 0) {
		/* The connection is gone: new operations fail at once. */
		c->after[0] = fsc_fabric_irecv(f, 1, buf, 1, 2, &req);
		c->after[1] = fsc_fabric_isend(f, 1, buf, 1, 2, &req);
	}
	free(buf);
	return rc;
}

static int count_of(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

static void tcp_irecv__peer_closes_is_eio_named(void **state)
{
	struct tcase c = {.n = 2, .body = body_close};
	char *log;

	(void)state;
	capture_begin();
	case_run(&c);
	log = capture_end_echoed();
	assert_int_equal(c.body_rc[0], -EIO);
	assert_int_equal(c.body_rc[1], 0);
	assert_non_null(strstr(log, "fabscope[0@hA]: error: fabric tcp: connection to rank 1 "
	                            "(host hB) failed: closed with 1 receive(s) and 0 send(s) "
	                            "pending"));
	assert_int_equal(c.after[0], -EIO);
	assert_int_equal(c.after[1], -EIO);
	/* logged once, when it was detected */
	assert_int_equal(count_of(log, "fabscope[0@hA]: error:"), 1);
	free(log);
}

/* Rank 1 closes with nothing pending: not an error until rank 0 asks it
 * for something. */
static int body_orderly(struct fsc_fabric **fp, struct fsc_boot *b, struct tcase *c)
{
	struct fsc_req req;
	uint8_t x = 0;
	int rc = 0;

	if (b->rank == 1) {
		fsc_fabric_destroy(*fp);
		*fp = NULL;
	}
	if (fsc_boot_barrier(b))
		return -EIO;
	if (b->rank == 0) {
		for (int i = 0; i < 10 && !rc; i++)
			rc = fsc_fabric_progress(*fp);
		c->after[0] = fsc_fabric_irecv(*fp, 1, &x, 1, 3, &req);
		c->after[1] = fsc_fabric_isend(*fp, 1, &x, 1, 3, &req);
	}
	return rc;
}

static void tcp_irecv__orderly_close_then_receive_is_eio(void **state)
{
	struct tcase c = {.n = 2, .body = body_orderly};
	char *log;

	(void)state;
	capture_begin();
	case_run(&c);
	log = capture_end_echoed();
	assert_int_equal(c.body_rc[0], 0);
	assert_int_equal(c.after[0], -EIO);
	assert_int_equal(c.after[1], -EIO);
	assert_non_null(strstr(log, "fabscope[0@hA]: error: fabric tcp: receive of 1 B (tag 3) "
	                            "from rank 1 (host hB): the peer has closed its connection"));
	free(log);
}

static void tcp_connect__stray_connection_is_dropped(void **state)
{
	struct tcase c = {.n = 2, .fake_rank = 0, .fake = FAKE_STRAY};
	char *log;

	(void)state;
	capture_begin();
	case_run(&c);
	log = capture_end_echoed();
	assert_int_equal(c.connect_rc[1], 0);
	assert_int_equal(c.wrong[0], 0); /* rank 1 answered the real hello */
	assert_non_null(strstr(log, "fabscope[1@hB]: warning: fabric tcp: dropped a connection "
	                            "from "));
	assert_non_null(strstr(log, ": not a fabscope tcp hello"));
	free(log);
}

static void tcp_irecv__peer_dies_mid_message_is_eio_named(void **state)
{
	/* 32 MiB: more than the socket buffers hold, so closing truncates
	 * the message. */
	struct tcase c = {.n = 2, .body = body_close, .close_bytes = 32 * MIB};
	char *log;

	(void)state;
	capture_begin();
	case_run(&c);
	log = capture_end_echoed();
	assert_int_equal(c.body_rc[0], -EIO);
	assert_int_equal(c.body_rc[1], 0);
	assert_non_null(strstr(log, "fabscope[0@hA]: error: fabric tcp: connection to rank 1 "
	                            "(host hB) failed: closed in the middle of a 33554432 B "
	                            "message (tag 1, "));
	free(log);
}

/* ------------------------------------------------------------------------
 * describe
 * ------------------------------------------------------------------------ */

static int body_describe(struct fsc_fabric **fp, struct fsc_boot *b, struct tcase *c)
{
	c->info[b->rank] = json_object();
	return c->info[b->rank] ? fsc_fabric_describe(*fp, c->info[b->rank]) : -ENOMEM;
}

static void tcp_describe__reports_what_was_used(void **state)
{
	struct tcase c = {.n = 2,
	                  .body = body_describe,
	                  .opts = {{"tcp-if", "lo"},
	                           {"tcp-sndbuf", "64K"},
	                           {"tcp-rcvbuf", "128K"},
	                           {NULL, NULL}}};

	(void)state;
	case_run(&c);
	for (int r = 0; r < 2; r++) {
		json_t *i = c.info[r];

		assert_int_equal(c.body_rc[r], 0);
		assert_string_equal(json_string_value(json_object_get(i, "interface")), "lo");
		assert_string_equal(json_string_value(json_object_get(i, "address")), "127.0.0.1");
		assert_string_equal(json_string_value(json_object_get(i, "selected_by")),
		                    "--tcp-if");
		/* Linux doubles SO_SNDBUF/SO_RCVBUF for its bookkeeping. */
		assert_int_equal(json_integer_value(json_object_get(i, "sndbuf")), 2 * 65536);
		assert_int_equal(json_integer_value(json_object_get(i, "rcvbuf")), 2 * 131072);
		assert_true(json_is_true(json_object_get(i, "nodelay")));
		/* auto: one rank per host (hA, hB) is not oversubscribed */
		assert_true(json_is_false(json_object_get(i, "yield")));
		json_decref(i);
	}
}

static void tcp_describe__single_rank_reports_socket_defaults(void **state)
{
	struct tcase c = {.n = 1, .body = body_describe, .opts = {{"tcp-sndbuf", "64K"}}};

	(void)state;
	case_run(&c);
	assert_int_equal(c.body_rc[0], 0);
	assert_int_equal(json_integer_value(json_object_get(c.info[0], "sndbuf")), 2 * 65536);
	assert_true(json_integer_value(json_object_get(c.info[0], "rcvbuf")) > 0);
	assert_true(json_is_true(json_object_get(c.info[0], "nodelay")));
	json_decref(c.info[0]);
}

static void tcp_describe__nodelay_off_yield_on(void **state)
{
	struct tcase c = {.n = 2,
	                  .body = body_describe,
	                  .opts = {{"tcp-nodelay", "off"}, {"tcp-yield", "on"}}};

	(void)state;
	case_run(&c);
	for (int r = 0; r < 2; r++) {
		assert_int_equal(c.body_rc[r], 0);
		assert_true(json_is_false(json_object_get(c.info[r], "nodelay")));
		assert_true(json_is_true(json_object_get(c.info[r], "yield")));
		assert_non_null(json_string_value(json_object_get(c.info[r], "interface")));
		json_decref(c.info[r]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(tcp_probe__default_finds_interface),
	        cmocka_unit_test(tcp_probe__loopback_by_name_subnet_address),
	        cmocka_unit_test(tcp_probe__malformed_value_einval),
	        cmocka_unit_test(tcp_probe__no_matching_subnet_enodev),
	        cmocka_unit_test(tcp_probe__unknown_interface_enodev),
	        cmocka_unit_test(tcp_create__bad_interface_fails_with_reason),
	        cmocka_unit_test(tcp_connect__one_rank_sends_to_itself),
	        cmocka_unit_test(tcp_connect__two_ranks_exchange_verified),
	        cmocka_unit_test(tcp_connect__three_ranks_exchange_verified),
	        cmocka_unit_test(tcp_connect__four_ranks_exchange_verified),
	        cmocka_unit_test(tcp_isend__many_in_flight_match_in_tag_order),
	        cmocka_unit_test(tcp_irecv__unexpected_messages_are_kept),
	        cmocka_unit_test(tcp_irecv__size_mismatch_is_eio),
	        cmocka_unit_test(fsc_tcp_unexpected__rejects_other_fabrics),
	        cmocka_unit_test(tcp_connect__silent_peer_times_out_named),
	        cmocka_unit_test(tcp_connect__refused_peer_fails_named),
	        cmocka_unit_test(tcp_connect__peer_without_listener_fails_at_once),
	        cmocka_unit_test(tcp_irecv__peer_closes_is_eio_named),
	        cmocka_unit_test(tcp_irecv__peer_dies_mid_message_is_eio_named),
	        cmocka_unit_test(tcp_irecv__orderly_close_then_receive_is_eio),
	        cmocka_unit_test(tcp_connect__stray_connection_is_dropped),
	        cmocka_unit_test(tcp_cancel__late_message_is_dropped_peer_refused),
	        cmocka_unit_test(tcp_cancel__receive_cancelled_mid_message_drains_the_rest),
	        cmocka_unit_test(tcp_cancel__partly_written_send_is_finished_from_a_copy),
	        cmocka_unit_test(tcp_destroy__with_requests_outstanding),
	        cmocka_unit_test(tcp_describe__reports_what_was_used),
	        cmocka_unit_test(tcp_describe__single_rank_reports_socket_defaults),
	        cmocka_unit_test(tcp_describe__nodelay_off_yield_on),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
