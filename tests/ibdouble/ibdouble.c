/* ibdouble: a software HCA that stands in for rdma-core's libibverbs.so.1.
 *
 * Test double only: built by the test build, loaded by LD_LIBRARY_PATH,
 * never installed.  It implements the verbs a reliable-connected (RC)
 * application uses -- devices and ports, PDs, MRs with key and access
 * checks, CQs with overrun, RC QPs with the RESET->INIT->RTR->RTS state
 * machine, SEND/RECV, RDMA WRITE (with immediate), RDMA READ, inline data,
 * RNR and transport retries -- and rejects what a real HCA rejects.
 *
 * "Wire": a request packet per work request, answered by an ACK, a NAK or
 * an RDMA READ response.  Between QPs of one process packets are delivered
 * synchronously; between processes they travel over TCP to the peer's
 * listener.  Who the peer is comes only from what the application put in
 * the QP attributes (destination QP number and LID or GID), see README.md.
 *
 * One mutex guards all state; a progress thread (started with the first
 * opened device) accepts and reads connections, writes queued packets and
 * fires RNR and retransmission timers.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <infiniband/verbs.h>

#include "wire.h"

#undef ibv_reg_mr
#undef ibv_query_port
#undef ibv_reg_mr_iova

#define DBL_MAX_DEV 8
#define DBL_MAX_QP 256 /* QP index is the low byte of the QP number */
/* Most bytes queued for the TCP wire to one peer before requests wait. */
#define WIRE_BACKLOG_MAX (32u << 20)
#define DBL_MAX_SGE 16
#define DBL_MAX_INLINE 256
#define DBL_MAX_CQE 65535

/* ---------------------------------------------------------------- config */

struct dbl_dev {
	struct ibv_device ibdev; /* first: handed out as struct ibv_device * */
	int index;
	int eth; /* link layer Ethernet (RoCE) rather than IB */
	enum ibv_port_state state;
	enum ibv_mtu mtu;
	uint8_t width, speed;
	uint32_t ip; /* network order */
	uint64_t guid;
};

static struct {
	pthread_mutex_t lock;
	int inited;
	int ndev;
	struct dbl_dev dev[DBL_MAX_DEV];
	uint32_t max_qp_wr;
	unsigned drop_every;     /* drop every Nth request packet (0: none) */
	uint64_t down_after;     /* ports go DOWN after this many requests (0: never) */
	unsigned long down_base; /* req_count when the configuration was read */
	uint64_t delay_ns;       /* added one-way latency */
	uint64_t min_timeout_ns; /* floor of the transport timeout */
	unsigned long req_count;
	int force_tcp;  /* carry traffic between QPs of this process over TCP too */
	int poll_yield; /* sched_yield() in an empty ibv_poll_cq */
	int open_ctx;
	/* objects */
	struct dbl_qp *qp[DBL_MAX_QP];
	struct dbl_mr **mr;
	int nmr;
	uint32_t next_handle;
	/* transport */
	int listen_fd;
	uint16_t port; /* host order */
	int wake[2];
	pthread_t thread;
	int thread_running;
	struct dbl_conn *conns;
	struct dbl_delayed *delayed;
} g = {.lock = PTHREAD_MUTEX_INITIALIZER, .listen_fd = -1, .wake = {-1, -1}};

static void dbl_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void dbl_log(const char *fmt, ...)
{
	va_list ap;

	if (getenv("IBDOUBLE_QUIET"))
		return;
	va_start(ap, fmt);
	fprintf(stderr, "ibdouble[%d]: ", (int)getpid());
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t env_u64(const char *name, uint64_t dflt)
{
	const char *s = getenv(name);

	return s && *s ? strtoull(s, NULL, 0) : dflt;
}

/* IBDOUBLE_ADDR: an IPv4 address or an interface name; default 127.0.0.1. */
static uint32_t parse_addr(const char *s)
{
	struct in_addr a;
	struct ifaddrs *ifa, *i;
	uint32_t ip = htonl(INADDR_LOOPBACK);

	if (!s || !*s)
		return ip;
	if (inet_pton(AF_INET, s, &a) == 1)
		return a.s_addr;
	if (getifaddrs(&ifa) == 0) {
		for (i = ifa; i; i = i->ifa_next)
			if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET &&
			    !strcmp(i->ifa_name, s)) {
				ip = ((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr;
				break;
			}
		freeifaddrs(ifa);
	}
	if (ip == htonl(INADDR_LOOPBACK))
		dbl_log("IBDOUBLE_ADDR=%s: no such address or IPv4 interface, using 127.0.0.1", s);
	return ip;
}

static void parse_rate(struct dbl_dev *d, const char *s)
{
	static const struct {
		const char *name;
		uint8_t code;
	} widths[] = {{"1x", 1}, {"2x", 16}, {"4x", 2}, {"8x", 4}, {"12x", 8}},
	  speeds[] = {{"sdr", 1},  {"ddr", 2},  {"qdr", 4},  {"fdr10", 8},
	              {"fdr", 16}, {"edr", 32}, {"hdr", 64}, {"ndr", 128}};
	char w[8] = "", sp[8] = "";

	if (sscanf(s, "%7[^_]_%7s", w, sp) != 2)
		return;
	for (size_t i = 0; i < sizeof(widths) / sizeof(widths[0]); i++)
		if (!strcasecmp(w, widths[i].name))
			d->width = widths[i].code;
	for (size_t i = 0; i < sizeof(speeds) / sizeof(speeds[0]); i++)
		if (!strcasecmp(sp, speeds[i].name))
			d->speed = speeds[i].code;
}

/* IBDOUBLE_DEVICES="name[:ib|eth[:active|down[:mtu[:width_speed]]]],..." */
static void config_load(void)
{
	const char *spec = getenv("IBDOUBLE_DEVICES");
	char buf[512], *save = NULL, *tok;
	uint32_t ip = parse_addr(getenv("IBDOUBLE_ADDR"));

	snprintf(buf, sizeof(buf), "%s", spec && *spec ? spec : "ibd0");
	g.ndev = 0;
	for (tok = strtok_r(buf, ",", &save); tok && g.ndev < DBL_MAX_DEV;
	     tok = strtok_r(NULL, ",", &save)) {
		struct dbl_dev *d = &g.dev[g.ndev];
		char *f[5] = {0}, *s2 = NULL;
		int n = 0;

		for (char *p = strtok_r(tok, ":", &s2); p && n < 5; p = strtok_r(NULL, ":", &s2))
			f[n++] = p;
		memset(d, 0, sizeof(*d));
		d->index = g.ndev;
		snprintf(d->ibdev.name, sizeof(d->ibdev.name), "%s", f[0]);
		snprintf(d->ibdev.dev_name, sizeof(d->ibdev.dev_name), "uverbs%d", g.ndev);
		snprintf(d->ibdev.dev_path, sizeof(d->ibdev.dev_path),
		         "/sys/class/infiniband_verbs/uverbs%d", g.ndev);
		/* IBDOUBLE_SYSFS: a folder standing in for /sys/class/infiniband,
		 * so tests can give devices a NUMA node and local CPUs */
		snprintf(d->ibdev.ibdev_path, sizeof(d->ibdev.ibdev_path), "%s/%s",
		         getenv("IBDOUBLE_SYSFS") ? getenv("IBDOUBLE_SYSFS")
		                                  : "/sys/class/infiniband",
		         f[0]);
		d->ibdev.node_type = IBV_NODE_CA;
		d->ibdev.transport_type = IBV_TRANSPORT_IB;
		d->eth = !(f[1] && !strcasecmp(f[1], "ib"));
		d->state = f[2] && !strcasecmp(f[2], "down") ? IBV_PORT_DOWN : IBV_PORT_ACTIVE;
		d->mtu = IBV_MTU_4096;
		if (f[3]) {
			int m = atoi(f[3]);
			d->mtu = m == 256    ? IBV_MTU_256
			         : m == 512  ? IBV_MTU_512
			         : m == 1024 ? IBV_MTU_1024
			         : m == 2048 ? IBV_MTU_2048
			                     : IBV_MTU_4096;
		}
		d->width = 2;  /* 4X */
		d->speed = 64; /* HDR */
		if (f[4])
			parse_rate(d, f[4]);
		d->ip = ip;
		/* GUID: a fixed prefix and the device's address */
		d->guid = 0x0002c90000000000ull | ((uint64_t)(g.ndev & 0xff) << 32) |
		          (uint64_t)ntohl(ip);
		g.ndev++;
	}
	g.max_qp_wr = (uint32_t)env_u64("IBDOUBLE_MAX_QP_WR", 8192);
	g.drop_every = (unsigned)env_u64("IBDOUBLE_DROP_EVERY", 0);
	g.down_after = env_u64("IBDOUBLE_DOWN_AFTER", 0);
	g.down_base = g.req_count;
	g.delay_ns = env_u64("IBDOUBLE_DELAY_US", 0) * 1000ull;
	g.min_timeout_ns = env_u64("IBDOUBLE_MIN_TIMEOUT_MS", 10000) * 1000000ull;
	g.force_tcp = env_u64("IBDOUBLE_FORCE_TCP", 0) != 0;
	g.poll_yield = env_u64("IBDOUBLE_POLL_YIELD", 1) != 0;
}

/* Configuration is read when the device list is asked for while no device
 * is open and no device list is out, so a test can change it between
 * phases, and a thread never sees it rewritten under a list it holds
 * (two ranks of one process ask for the list at the same time). */
static int lists_out;

static void ensure_init(void)
{
	if (g.inited && (g.open_ctx || lists_out))
		return;
	config_load();
	g.inited = 1;
}

/* ------------------------------------------------------------- objects */

struct dbl_ctx {
	struct verbs_context vctx; /* vctx.context is what the application sees */
	struct dbl_dev *dev;
	int refs;
};

struct dbl_pd {
	struct ibv_pd pd;
	int refs;
};

struct dbl_mr {
	struct ibv_mr mr;
	int access;
	int slot;
};

struct dbl_cq {
	struct ibv_cq cq;
	struct ibv_wc *ring;
	int cap, head, count;
	int overrun;
	int armed;
	int refs;
};

struct dbl_channel {
	struct ibv_comp_channel ch;
	int wfd;
};

struct swqe {
	uint64_t wr_id;
	enum ibv_wr_opcode opcode;
	unsigned flags;
	uint32_t imm;
	uint64_t raddr;
	uint32_t rkey;
	int num_sge;
	struct ibv_sge sge[DBL_MAX_SGE];
	uint32_t len;
	int inl; /* data copied at post time into inline_buf */
	uint8_t *inline_buf;
	int rnr_tries;
	int completed;
	int signaled;
};

struct rwqe {
	uint64_t wr_id;
	int num_sge;
	struct ibv_sge sge[DBL_MAX_SGE];
};

struct dbl_qp {
	struct ibv_qp qp;
	struct dbl_ctx *ctx;
	int idx;
	struct ibv_qp_cap cap;
	int sq_sig_all;
	int access;
	int port_num;
	enum ibv_mtu path_mtu;
	uint32_t dest_qpn, peer_ip;
	uint16_t peer_port;
	uint32_t sq_psn, rq_psn; /* rq_psn: next expected request */
	uint8_t timeout, retry_cnt, rnr_retry, min_rnr_timer;
	/* send queue: absolute counters, slot = n % cap.max_send_wr */
	struct swqe *sq;
	uint64_t sq_posted, sq_freed, sq_done, sq_sent;
	/* receive queue */
	struct rwqe *rq;
	uint64_t rq_posted, rq_done;
	/* timers */
	uint64_t rnr_at;  /* retransmit after an RNR NAK (0: none) */
	uint64_t ack_due; /* transport timeout of the oldest unacked request */
	int timeout_retries;
};

static struct dbl_ctx *ctx_of(struct ibv_context *c)
{
	return (struct dbl_ctx *)((char *)c - offsetof(struct dbl_ctx, vctx.context));
}
static struct dbl_cq *cq_of(struct ibv_cq *c)
{
	return (struct dbl_cq *)c;
}
static struct dbl_qp *qp_of(struct ibv_qp *q)
{
	return (struct dbl_qp *)q;
}

/* ---------------------------------------------------------------- CQ */

static void cq_push(struct dbl_cq *cq, const struct ibv_wc *wc)
{
	if (cq->overrun)
		return;
	if (cq->count == cq->cap) {
		__atomic_store_n(&cq->overrun, 1, __ATOMIC_RELEASE);
		dbl_log("CQ overrun: %d entries not polled; the CQ is now in error", cq->cap);
		return;
	}
	cq->ring[(cq->head + cq->count) % cq->cap] = *wc;
	__atomic_store_n(&cq->count, cq->count + 1, __ATOMIC_RELEASE);
	if (cq->armed && cq->cq.channel) {
		struct dbl_channel *ch = (struct dbl_channel *)cq->cq.channel;
		struct ibv_cq *p = &cq->cq;

		cq->armed = 0;
		if (write(ch->wfd, &p, sizeof(p)) != (ssize_t)sizeof(p))
			dbl_log("completion channel write failed: %s", strerror(errno));
	}
}

/* ---------------------------------------------------------------- MR */

static struct dbl_mr *mr_by_key(uint32_t key)
{
	uint32_t slot = (key >> 8) - 1;

	if ((key >> 8) == 0 || slot >= (uint32_t)g.nmr || !g.mr[slot] || g.mr[slot]->mr.lkey != key)
		return NULL;
	return g.mr[slot];
}

/* Is [addr, addr+len) inside an MR of pd with `need` access? */
static int mr_check(uint32_t key, struct ibv_pd *pd, uint64_t addr, uint64_t len, int need)
{
	struct dbl_mr *m = mr_by_key(key);

	if (!m || m->mr.pd != pd)
		return -1;
	if (len && (addr < (uint64_t)(uintptr_t)m->mr.addr ||
	            addr + len > (uint64_t)(uintptr_t)m->mr.addr + m->mr.length))
		return -1;
	if ((m->access & need) != need)
		return -1;
	return 0;
}

/* ---------------------------------------------------------------- wire */

/* The packet header and its types: wire.h. */

struct txbuf {
	struct txbuf *next;
	size_t len, off;
	int prio;     /* an acknowledgement: goes before queued requests */
	uint8_t type; /* the packet's (data holds it unaligned: read it here) */
	uint8_t data[];
};

struct dbl_conn {
	struct dbl_conn *next;
	int fd;
	int outgoing;
	uint32_t ip;
	uint16_t port;
	struct txbuf *txq, **txtail;
	size_t txbytes; /* queued in txq, not yet taken by the kernel */
	/* receive state */
	struct pkt hdr;
	size_t hdr_got;
	uint8_t *payload;
	size_t pay_got;
	int dead;
};

struct dbl_delayed {
	struct dbl_delayed *next;
	uint64_t due;
	uint32_t dst_ip;
	uint16_t dst_port;
	struct pkt h;
	uint8_t data[];
};

static void handle_packet(const struct pkt *h, const uint8_t *data);
static void wire_send_now(uint32_t ip, uint16_t port, struct pkt *h, const void *data, size_t len);

static void wake_progress(void)
{
	char c = 1;

	if (g.wake[1] >= 0 && write(g.wake[1], &c, 1) < 0 && errno != EAGAIN)
		dbl_log("wake-up write failed: %s", strerror(errno));
}

static struct dbl_conn *conn_to(uint32_t ip, uint16_t port)
{
	struct dbl_conn *c;
	struct sockaddr_in sa = {
	        .sin_family = AF_INET, .sin_addr.s_addr = ip, .sin_port = htons(port)};
	int fd, one = 1;

	for (c = g.conns; c; c = c->next)
		if (c->outgoing && !c->dead && c->ip == ip && c->port == port)
			return c;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	/* Blocking connect: the peer's kernel completes it from the listen
	 * backlog, no cooperation of the peer's threads is needed. */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		char a[INET_ADDRSTRLEN];

		inet_ntop(AF_INET, &ip, a, sizeof(a));
		dbl_log("cannot reach the peer HCA at %s:%u: %s", a, port, strerror(errno));
		close(fd);
		return NULL;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return NULL;
	}
	c->fd = fd;
	c->outgoing = 1;
	c->ip = ip;
	c->port = port;
	c->txtail = &c->txq;
	c->next = g.conns;
	g.conns = c;
	wake_progress();
	return c;
}

static void conn_flush(struct dbl_conn *c)
{
	while (c->txq) {
		struct txbuf *b = c->txq;
		ssize_t n = send(c->fd, b->data + b->off, b->len - b->off, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			dbl_log("connection to a peer HCA failed: %s", strerror(errno));
			c->dead = 1;
			return;
		}
		b->off += (size_t)n;
		c->txbytes -= (size_t)n;
		if (b->off < b->len)
			return;
		c->txq = b->next;
		if (!c->txq)
			c->txtail = &c->txq;
		free(b);
	}
}

static int is_local(uint32_t ip, uint16_t port)
{
	if (port != g.port || g.force_tcp)
		return 0;
	if ((ntohl(ip) >> 24) == 127)
		return 1;
	for (int i = 0; i < g.ndev; i++)
		if (g.dev[i].ip == ip)
			return 1;
	return 0;
}

/* Send one packet to (ip, port).  Payload: `len` bytes gathered from
 * `data` (contiguous) -- callers gather first. */
static void wire_send(uint32_t ip, uint16_t port, struct pkt *h, const void *data, size_t len)
{
	h->magic = DBL_MAGIC;
	h->len = (uint32_t)len;
	if (g.delay_ns) {
		struct dbl_delayed *d = malloc(sizeof(*d) + len), **pp;

		if (!d)
			return; /* a lost packet: the transport retries */
		d->due = now_ns() + g.delay_ns;
		d->dst_ip = ip;
		d->dst_port = port;
		d->h = *h;
		if (len)
			memcpy(d->data, data, len);
		d->next = NULL;
		for (pp = &g.delayed; *pp; pp = &(*pp)->next)
			; /* keep order: append */
		*pp = d;
		wake_progress();
		return;
	}
	wire_send_now(ip, port, h, data, len);
}

static void wire_send_now(uint32_t ip, uint16_t port, struct pkt *h, const void *data, size_t len)
{
	if (is_local(ip, port)) {
		handle_packet(h, data);
		return;
	}
	struct dbl_conn *c = conn_to(ip, port);
	struct txbuf *b;

	if (!c)
		return; /* unreachable peer: the request times out */
	b = malloc(sizeof(*b) + sizeof(*h) + len);
	if (!b)
		return;
	b->next = NULL;
	b->len = sizeof(*h) + len;
	b->off = 0;
	/* An acknowledgement (a response without data) is not held behind the
	 * requests this HCA has queued for the same peer: an HCA's responder
	 * answers at once however much its requester has to send, and a
	 * requester waiting for it would otherwise time out behind a gigabyte
	 * of our own traffic.  Acknowledgements keep their order among
	 * themselves, after the buffer being written. */
	b->prio = h->type == PKT_ACK;
	b->type = h->type;
	memcpy(b->data, h, sizeof(*h));
	if (len)
		memcpy(b->data + sizeof(*h), data, len);
	/* ...but never ahead of a response queued before it: responses keep
	 * PSN order, as a responder sends them, and the requester takes them
	 * only in order.  That includes an acknowledgement that was queued
	 * behind a read response: one that jumped it would be dropped as
	 * stale and its request retransmitted after the transport timeout
	 * (10 s by default), a stall no HCA has. */
	for (struct txbuf *q = c->txq ? c->txq->next : NULL; b->prio && q; q = q->next)
		if (!q->prio && q->type != PKT_REQ)
			b->prio = 0;
	c->txbytes += b->len;
	if (b->prio && c->txq) {
		struct txbuf **p = &c->txq->next;

		while (*p && (*p)->prio)
			p = &(*p)->next;
		b->next = *p;
		*p = b;
		if (!b->next)
			c->txtail = &b->next;
	} else {
		*c->txtail = b;
		c->txtail = &b->next;
	}
	if (c->txq == b)
		conn_flush(c);
	if (c->txq)
		wake_progress();
}

static void own_addr(struct dbl_qp *qp, struct pkt *h)
{
	h->src_ip = qp->ctx->dev->ip;
	h->src_port = g.port;
}

/* ---------------------------------------------------------------- QP engine */

static const uint32_t rnr_timer_us[32] = {
        655360, 10,    20,    30,    40,    60,     80,     120,    160,    240,   320,
        480,    640,   960,   1280,  1920,  2560,   3840,   5120,   7680,   10240, 15360,
        20480,  30720, 40960, 61440, 81920, 122880, 163840, 245760, 327680, 491520};

static struct swqe *sq_at(struct dbl_qp *qp, uint64_t n)
{
	return &qp->sq[n % qp->cap.max_send_wr];
}

static enum ibv_wc_opcode send_wc_opcode(enum ibv_wr_opcode op)
{
	switch (op) {
	case IBV_WR_RDMA_WRITE:
	case IBV_WR_RDMA_WRITE_WITH_IMM: return IBV_WC_RDMA_WRITE;
	case IBV_WR_RDMA_READ: return IBV_WC_RDMA_READ;
	default: return IBV_WC_SEND;
	}
}

static void send_cqe(struct dbl_qp *qp, struct swqe *e, enum ibv_wc_status st)
{
	struct ibv_wc wc = {0};

	wc.wr_id = e->wr_id;
	wc.status = st;
	wc.opcode = send_wc_opcode(e->opcode);
	wc.qp_num = qp->qp.qp_num;
	wc.byte_len = e->opcode == IBV_WR_RDMA_READ ? e->len : 0;
	wc.vendor_err = st == IBV_WC_SUCCESS ? 0 : 0x100 + st;
	cq_push(cq_of(qp->qp.send_cq), &wc);
}

static void recv_cqe(struct dbl_qp *qp, struct rwqe *r, enum ibv_wc_status st,
                     enum ibv_wc_opcode op, uint32_t len, int with_imm, uint32_t imm)
{
	struct ibv_wc wc = {0};

	wc.wr_id = r->wr_id;
	wc.status = st;
	wc.opcode = op;
	wc.qp_num = qp->qp.qp_num;
	wc.src_qp = qp->dest_qpn;
	wc.byte_len = len;
	if (with_imm) {
		wc.wc_flags = IBV_WC_WITH_IMM;
		wc.imm_data = imm;
	}
	wc.vendor_err = st == IBV_WC_SUCCESS ? 0 : 0x100 + st;
	cq_push(cq_of(qp->qp.recv_cq), &wc);
}

/* Complete the oldest incomplete send WR; a signaled (or failed) completion
 * releases it and every unsignaled one before it. */
static void sq_complete(struct dbl_qp *qp, enum ibv_wc_status st)
{
	struct swqe *e = sq_at(qp, qp->sq_done);

	e->completed = 1;
	qp->sq_done++;
	if (qp->sq_sent < qp->sq_done)
		qp->sq_sent = qp->sq_done;
	if (e->signaled || st != IBV_WC_SUCCESS) {
		send_cqe(qp, e, st);
		qp->sq_freed = qp->sq_done;
	}
	qp->timeout_retries = 0;
	qp->ack_due = qp->sq_sent > qp->sq_done ? now_ns() : 0;
}

/* Move to the error state: flush everything outstanding. */
static void qp_to_error(struct dbl_qp *qp)
{
	qp->qp.state = IBV_QPS_ERR;
	while (qp->sq_done < qp->sq_posted)
		sq_complete(qp, IBV_WC_WR_FLUSH_ERR);
	while (qp->rq_done < qp->rq_posted) {
		struct rwqe *r = &qp->rq[qp->rq_done % qp->cap.max_recv_wr];

		recv_cqe(qp, r, IBV_WC_WR_FLUSH_ERR, IBV_WC_RECV, 0, 0, 0);
		qp->rq_done++;
	}
	qp->rnr_at = 0;
	qp->ack_due = 0;
}

static void sq_fail(struct dbl_qp *qp, enum ibv_wc_status st)
{
	sq_complete(qp, st);
	qp_to_error(qp);
}

static uint64_t qp_timeout_ns(struct dbl_qp *qp)
{
	uint64_t t;

	if (qp->timeout == 0)
		return 0;           /* infinite */
	t = 4096ull << qp->timeout; /* 4.096 us * 2^timeout */
	return t < g.min_timeout_ns ? g.min_timeout_ns : t;
}

/* Gather a send WR's data (lkey-checked) into *buf; returns a pointer to the
 * bytes (possibly user memory) or NULL on a protection error. */
static const void *gather(struct dbl_qp *qp, struct swqe *e, void **owned)
{
	uint8_t *b;
	uint32_t off = 0;

	*owned = NULL;
	if (e->inl)
		return e->inline_buf;
	for (int i = 0; i < e->num_sge; i++)
		if (e->sge[i].length &&
		    mr_check(e->sge[i].lkey, qp->qp.pd, e->sge[i].addr, e->sge[i].length, 0))
			return NULL;
	if (e->num_sge == 1)
		return (const void *)(uintptr_t)e->sge[0].addr;
	b = malloc(e->len ? e->len : 1);
	if (!b)
		return NULL;
	for (int i = 0; i < e->num_sge; i++) {
		if (e->sge[i].length) /* a 0-B entry may name no memory at all */
			memcpy(b + off, (const void *)(uintptr_t)e->sge[i].addr, e->sge[i].length);
		off += e->sge[i].length;
	}
	*owned = b;
	return b;
}

static int port_up(struct dbl_qp *qp)
{
	return qp->ctx->dev->state == IBV_PORT_ACTIVE;
}

/* Bytes queued for the wire to a peer, not yet taken by the kernel. */
static size_t wire_backlog(uint32_t ip, uint16_t port)
{
	for (struct dbl_conn *c = g.conns; c; c = c->next)
		if (c->outgoing && !c->dead && c->ip == ip && c->port == port)
			return c->txbytes;
	return 0;
}

/* Transmit send WRs not yet on the wire (RTS, no RNR wait pending), while
 * the wire to the peer holds less than WIRE_BACKLOG_MAX: an HCA reads a
 * request's data when it sends it, and one that copied a whole queue of
 * 16 MiB writes at once would hold gigabytes the hardware never does; the
 * rest go when the wire drains (run_timers). */
static void sq_transmit(struct dbl_qp *qp)
{
	while (qp->qp.state == IBV_QPS_RTS && !qp->rnr_at && qp->sq_sent < qp->sq_posted &&
	       wire_backlog(qp->peer_ip, qp->peer_port) < WIRE_BACKLOG_MAX) {
		uint64_t n = qp->sq_sent++;
		struct swqe *e = sq_at(qp, n);
		struct pkt h = {0};
		const void *data = NULL;
		void *owned = NULL;
		size_t len = 0;

		if (e->opcode == IBV_WR_RDMA_READ) {
			for (int i = 0; i < e->num_sge; i++)
				if (e->sge[i].length &&
				    mr_check(e->sge[i].lkey, qp->qp.pd, e->sge[i].addr,
				             e->sge[i].length, IBV_ACCESS_LOCAL_WRITE)) {
					qp->sq_sent = n;
					if (qp->sq_done == n)
						sq_fail(qp, IBV_WC_LOC_PROT_ERR);
					return;
				}
		} else {
			data = gather(qp, e, &owned);
			if (!data) {
				/* Reported in order: complete what precedes first. */
				qp->sq_sent = n;
				if (qp->sq_done == n)
					sq_fail(qp, IBV_WC_LOC_PROT_ERR);
				return;
			}
			len = e->len;
		}
		h.type = PKT_REQ;
		h.opcode = (uint8_t)e->opcode;
		own_addr(qp, &h);
		h.src_qpn = qp->qp.qp_num;
		h.dst_qpn = qp->dest_qpn;
		h.psn = qp->sq_psn + (uint32_t)n;
		h.imm = e->imm;
		h.rkey = e->rkey;
		h.raddr = e->raddr;
		if (!qp->ack_due)
			qp->ack_due = now_ns();
		g.req_count++;
		/* the fault "link went down": from the request after the
		 * configured count on, every port of this process is DOWN */
		if (g.down_after && g.req_count - g.down_base > g.down_after)
			for (int i = 0; i < g.ndev; i++)
				g.dev[i].state = IBV_PORT_DOWN;
		if (!port_up(qp) || (g.drop_every && g.req_count % g.drop_every == 0)) {
			free(owned);
			continue; /* lost on the wire: found by the transport timeout */
		}
		if (e->opcode == IBV_WR_RDMA_READ) {
			h.imm = e->len; /* a READ request carries the length it asks for */
			wire_send(qp->peer_ip, qp->peer_port, &h, NULL, 0);
		} else {
			wire_send(qp->peer_ip, qp->peer_port, &h, data, len);
		}
		free(owned);
		/* a synchronous peer may have moved this QP on */
		if (qp->qp.state != IBV_QPS_RTS)
			return;
	}
}

static void respond(struct dbl_qp *qp, const struct pkt *req, uint8_t type, uint8_t syndrome,
                    const void *data, size_t len)
{
	struct pkt h = {0};

	h.type = type;
	h.syndrome = syndrome;
	h.rnr_timer = qp->min_rnr_timer;
	own_addr(qp, &h);
	h.src_qpn = qp->qp.qp_num;
	h.dst_qpn = req->src_qpn;
	h.psn = req->psn;
	wire_send(req->src_ip, req->src_port, &h, data, len);
}

/* Scatter len bytes into a receive WR; -1: too long, -2: protection. */
static int scatter(struct dbl_qp *qp, struct rwqe *r, const uint8_t *data, uint32_t len)
{
	uint64_t room = 0;
	uint32_t off = 0;

	for (int i = 0; i < r->num_sge; i++)
		room += r->sge[i].length;
	if (len > room)
		return -1;
	for (int i = 0; i < r->num_sge && off < len; i++) {
		uint32_t n = r->sge[i].length < len - off ? r->sge[i].length : len - off;

		if (mr_check(r->sge[i].lkey, qp->qp.pd, r->sge[i].addr, n, IBV_ACCESS_LOCAL_WRITE))
			return -2;
		if (n)
			memcpy((void *)(uintptr_t)r->sge[i].addr, data + off, n);
		off += n;
	}
	return 0;
}

/* A zero-length RDMA request names no memory: as the InfiniBand spec has
 * it, the responder checks neither its R_Key nor its address when the DMA
 * length is zero, so a zero-byte RDMA WRITE WITH IMMEDIATE can carry a
 * notification to a peer that exposes nothing.  The QP's remote access
 * flags still apply. */
static int rkey_ok(struct dbl_qp *qp, uint32_t rkey, uint64_t addr, uint64_t len, int need)
{
	if (!(qp->access & need))
		return 0;
	if (len == 0)
		return 1;
	return mr_check(rkey, qp->qp.pd, addr, len, need) == 0;
}

static void handle_request(struct dbl_qp *qp, const struct pkt *h, const uint8_t *data)
{
	int32_t d = (int32_t)(h->psn - qp->rq_psn);
	int op = h->opcode;

	if (qp->qp.state != IBV_QPS_RTR && qp->qp.state != IBV_QPS_RTS)
		return; /* silently dropped, as a real responder does */
	if (h->src_qpn != qp->dest_qpn)
		return;
	if (d > 0)
		return; /* out of sequence after a NAK: the requester goes back */
	if (d < 0) {    /* duplicate: acknowledge again, re-execute reads */
		if (op == IBV_WR_RDMA_READ &&
		    rkey_ok(qp, h->rkey, h->raddr, h->imm, IBV_ACCESS_REMOTE_READ))
			respond(qp, h, PKT_READ_RESP, ACK_OK, (const void *)(uintptr_t)h->raddr,
			        h->imm);
		else if (op != IBV_WR_RDMA_READ)
			respond(qp, h, PKT_ACK, ACK_OK, NULL, 0);
		return;
	}
	switch (op) {
	case IBV_WR_SEND:
	case IBV_WR_SEND_WITH_IMM: {
		struct rwqe *r;
		int rc;

		if (qp->rq_done == qp->rq_posted) {
			respond(qp, h, PKT_ACK, ACK_RNR, NULL, 0);
			return;
		}
		r = &qp->rq[qp->rq_done % qp->cap.max_recv_wr];
		rc = scatter(qp, r, data, h->len);
		qp->rq_done++;
		if (rc) {
			recv_cqe(qp, r, rc == -1 ? IBV_WC_LOC_LEN_ERR : IBV_WC_LOC_PROT_ERR,
			         IBV_WC_RECV, h->len, 0, 0);
			respond(qp, h, PKT_ACK, rc == -1 ? ACK_REM_INV_REQ : ACK_REM_OP, NULL, 0);
			qp_to_error(qp);
			return;
		}
		recv_cqe(qp, r, IBV_WC_SUCCESS, IBV_WC_RECV, h->len, op == IBV_WR_SEND_WITH_IMM,
		         h->imm);
		break;
	}
	case IBV_WR_RDMA_WRITE:
	case IBV_WR_RDMA_WRITE_WITH_IMM:
		if (!rkey_ok(qp, h->rkey, h->raddr, h->len, IBV_ACCESS_REMOTE_WRITE)) {
			respond(qp, h, PKT_ACK, ACK_REM_ACCESS, NULL, 0);
			return;
		}
		if (op == IBV_WR_RDMA_WRITE_WITH_IMM && qp->rq_done == qp->rq_posted) {
			respond(qp, h, PKT_ACK, ACK_RNR, NULL, 0);
			return;
		}
		if (h->len)
			memcpy((void *)(uintptr_t)h->raddr, data, h->len);
		if (op == IBV_WR_RDMA_WRITE_WITH_IMM) {
			struct rwqe *r = &qp->rq[qp->rq_done % qp->cap.max_recv_wr];

			qp->rq_done++;
			recv_cqe(qp, r, IBV_WC_SUCCESS, IBV_WC_RECV_RDMA_WITH_IMM, h->len, 1,
			         h->imm);
		}
		break;
	case IBV_WR_RDMA_READ:
		if (!rkey_ok(qp, h->rkey, h->raddr, h->imm, IBV_ACCESS_REMOTE_READ)) {
			respond(qp, h, PKT_ACK, ACK_REM_ACCESS, NULL, 0);
			return;
		}
		qp->rq_psn++;
		respond(qp, h, PKT_READ_RESP, ACK_OK, (const void *)(uintptr_t)h->raddr, h->imm);
		return;
	default: respond(qp, h, PKT_ACK, ACK_REM_INV_REQ, NULL, 0); return;
	}
	qp->rq_psn++;
	respond(qp, h, PKT_ACK, ACK_OK, NULL, 0);
}

static void handle_response(struct dbl_qp *qp, const struct pkt *h, const uint8_t *data)
{
	uint64_t n = (uint64_t)(uint32_t)(h->psn - qp->sq_psn);
	struct swqe *e;

	if (qp->qp.state != IBV_QPS_RTS && qp->qp.state != IBV_QPS_SQD)
		return;
	/* n is relative to the start of the queue (mod 2^32) */
	n = (qp->sq_done & ~0xffffffffull) | n;
	if (n != qp->sq_done || qp->sq_done >= qp->sq_sent)
		return; /* duplicate or stale */
	e = sq_at(qp, n);
	switch (h->syndrome) {
	case ACK_OK:
		if (h->type == PKT_READ_RESP) {
			uint32_t off = 0;

			for (int i = 0; i < e->num_sge && off < h->len; i++) {
				uint32_t k = e->sge[i].length < h->len - off ? e->sge[i].length
				                                             : h->len - off;
				if (k)
					memcpy((void *)(uintptr_t)e->sge[i].addr, data + off, k);
				off += k;
			}
		}
		sq_complete(qp, IBV_WC_SUCCESS);
		/* a request held back by a local error is reported in order */
		if (qp->sq_sent < qp->sq_posted && !qp->rnr_at)
			sq_transmit(qp);
		return;
	case ACK_RNR:
		if (qp->rnr_retry != 7 && e->rnr_tries >= qp->rnr_retry) {
			sq_fail(qp, IBV_WC_RNR_RETRY_EXC_ERR);
			return;
		}
		e->rnr_tries++;
		if (getenv("IBDOUBLE_TRACE"))
			dbl_log("QP 0x%x: RNR NAK for PSN 0x%x, retry %d", qp->qp.qp_num, h->psn,
			        e->rnr_tries);
		qp->sq_sent = n; /* go back to the NAKed request */
		qp->rnr_at = now_ns() + 1000ull * rnr_timer_us[h->rnr_timer & 31];
		qp->ack_due = 0;
		wake_progress();
		return;
	case ACK_REM_ACCESS: sq_fail(qp, IBV_WC_REM_ACCESS_ERR); return;
	case ACK_REM_INV_REQ: sq_fail(qp, IBV_WC_REM_INV_REQ_ERR); return;
	default: sq_fail(qp, IBV_WC_REM_OP_ERR); return;
	}
}

static void handle_packet(const struct pkt *h, const uint8_t *data)
{
	uint32_t idx = h->dst_qpn & 0xff;
	struct dbl_qp *qp = g.qp[idx];

	if (h->magic != DBL_MAGIC || !qp || qp->qp.qp_num != h->dst_qpn)
		return;
	if (h->type == PKT_REQ)
		handle_request(qp, h, data);
	else
		handle_response(qp, h, data);
}

/* Timers: RNR back-off and transport timeouts.  Returns the next due time
 * (0: none). */
static uint64_t run_timers(uint64_t now)
{
	uint64_t next = 0;

	for (int i = 0; i < DBL_MAX_QP; i++) {
		struct dbl_qp *qp = g.qp[i];
		uint64_t to;

		if (!qp || qp->qp.state != IBV_QPS_RTS)
			continue;
		if (qp->rnr_at && now >= qp->rnr_at) {
			qp->rnr_at = 0;
			sq_transmit(qp);
		}
		/* requests held back while the wire was full */
		if (!qp->rnr_at && qp->sq_sent < qp->sq_posted)
			sq_transmit(qp);
		/* a request the TCP wire has not taken yet has not left the
		 * HCA: its transport timer runs from when it leaves, as on
		 * hardware */
		to = qp_timeout_ns(qp);
		if (to && qp->ack_due && qp->sq_sent > qp->sq_done &&
		    wire_backlog(qp->peer_ip, qp->peer_port))
			qp->ack_due = now;
		if (to && qp->ack_due && qp->sq_sent > qp->sq_done && now >= qp->ack_due + to) {
			if (qp->timeout_retries >= qp->retry_cnt) {
				sq_fail(qp, IBV_WC_RETRY_EXC_ERR);
				continue;
			}
			qp->timeout_retries++;
			dbl_log("QP 0x%x: no acknowledgement for PSN 0x%x (opcode %d) within %.3f "
			        "s, "
			        "retransmitting %u request(s)",
			        qp->qp.qp_num, (qp->sq_psn + (uint32_t)qp->sq_done) & 0xffffff,
			        sq_at(qp, qp->sq_done)->opcode, (double)to / 1e9,
			        (unsigned)(qp->sq_sent - qp->sq_done));
			qp->sq_sent = qp->sq_done;
			qp->ack_due = now;
			sq_transmit(qp);
		}
		if (qp->rnr_at && (!next || qp->rnr_at < next))
			next = qp->rnr_at;
		if (to && qp->ack_due && qp->sq_sent > qp->sq_done &&
		    (!next || qp->ack_due + to < next))
			next = qp->ack_due + to;
	}
	while (g.delayed && g.delayed->due <= now) {
		struct dbl_delayed *d = g.delayed;

		g.delayed = d->next;
		wire_send_now(d->dst_ip, d->dst_port, &d->h, d->data, d->h.len);
		free(d);
	}
	if (g.delayed && (!next || g.delayed->due < next))
		next = g.delayed->due;
	return next;
}

/* ---------------------------------------------------------------- progress */

static void conn_read(struct dbl_conn *c)
{
	for (;;) {
		ssize_t n;

		if (c->hdr_got < sizeof(c->hdr)) {
			n = recv(c->fd, (char *)&c->hdr + c->hdr_got, sizeof(c->hdr) - c->hdr_got,
			         0);
		} else {
			n = recv(c->fd, c->payload + c->pay_got, c->hdr.len - c->pay_got, 0);
		}
		if (n == 0) {
			c->dead = 1;
			return;
		}
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				c->dead = 1;
			return;
		}
		if (c->hdr_got < sizeof(c->hdr)) {
			c->hdr_got += (size_t)n;
			if (c->hdr_got < sizeof(c->hdr))
				continue;
			if (c->hdr.magic != DBL_MAGIC) {
				dbl_log("a connection sent a foreign header; closing it");
				c->dead = 1;
				return;
			}
			c->payload = malloc(c->hdr.len ? c->hdr.len : 1);
			c->pay_got = 0;
			if (!c->payload) {
				c->dead = 1;
				return;
			}
		} else {
			c->pay_got += (size_t)n;
		}
		if (c->hdr_got == sizeof(c->hdr) && c->pay_got == c->hdr.len) {
			handle_packet(&c->hdr, c->payload);
			free(c->payload);
			c->payload = NULL;
			c->hdr_got = 0;
			c->pay_got = 0;
		}
	}
}

static void *progress_main(void *arg)
{
	struct pollfd *pf = NULL;
	struct dbl_conn **pc = NULL;
	size_t cap = 0;

	(void)arg;
	pthread_mutex_lock(&g.lock);
	for (;;) {
		size_t n = 0, nconn = 0;
		uint64_t next = run_timers(now_ns());
		/* A 10 ms tick finds transport timeouts started by application
		 * threads without a system call on their fast path. */
		int timeout_ms = 10;
		struct dbl_conn *c, **pp;

		/* reap dead connections */
		for (pp = &g.conns; (c = *pp);) {
			if (c->dead) {
				*pp = c->next;
				close(c->fd);
				while (c->txq) {
					struct txbuf *b = c->txq;
					c->txq = b->next;
					free(b);
				}
				free(c->payload);
				free(c);
			} else {
				pp = &c->next;
				nconn++;
			}
		}
		if (cap < nconn + 2) {
			cap = nconn + 16;
			pf = realloc(pf, cap * sizeof(*pf));
			pc = realloc(pc, cap * sizeof(*pc));
			if (!pf || !pc) {
				dbl_log("progress thread out of memory");
				break;
			}
		}
		pf[n++] = (struct pollfd){.fd = g.wake[0], .events = POLLIN};
		pf[n++] = (struct pollfd){.fd = g.listen_fd, .events = POLLIN};
		for (c = g.conns; c; c = c->next) {
			pc[n] = c;
			pf[n++] = (struct pollfd){.fd = c->fd,
			                          .events = POLLIN | (c->txq ? POLLOUT : 0)};
		}
		if (next) {
			uint64_t now = now_ns();
			uint64_t ms = next <= now ? 0 : (next - now + 999999) / 1000000;

			if (ms < (uint64_t)timeout_ms)
				timeout_ms = (int)ms;
		}
		pthread_mutex_unlock(&g.lock);
		poll(pf, n, timeout_ms);
		pthread_mutex_lock(&g.lock);
		if (pf[0].revents & POLLIN) {
			char buf[64];
			while (read(g.wake[0], buf, sizeof(buf)) > 0)
				;
		}
		if (pf[1].revents & POLLIN) {
			int fd = accept4(g.listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
			if (fd >= 0) {
				int one = 1;

				setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
				c = calloc(1, sizeof(*c));
				if (c) {
					c->fd = fd;
					c->txtail = &c->txq;
					c->next = g.conns;
					g.conns = c;
				} else {
					close(fd);
				}
			}
		}
		for (size_t i = 2; i < n; i++) {
			if (pf[i].revents & (POLLIN | POLLHUP | POLLERR))
				conn_read(pc[i]);
			if (!pc[i]->dead && pc[i]->txq)
				conn_flush(pc[i]);
		}
	}
	pthread_mutex_unlock(&g.lock);
	return NULL;
}

/* Listener and progress thread, once per process.  Failure leaves the HCA
 * usable between QPs of this process only. */
static void transport_start(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sa);
	int fd;

	if (g.thread_running)
		return;
	if (pipe2(g.wake, O_NONBLOCK | O_CLOEXEC))
		return;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return;
	sa.sin_addr.s_addr = htonl(INADDR_ANY);
	sa.sin_port = htons((uint16_t)env_u64("IBDOUBLE_PORT", 0));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 128) ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl)) {
		dbl_log("cannot listen for peer HCAs: %s", strerror(errno));
		close(fd);
		return;
	}
	g.listen_fd = fd;
	g.port = ntohs(sa.sin_port);
	if (pthread_create(&g.thread, NULL, progress_main, NULL)) {
		close(fd);
		g.listen_fd = -1;
		return;
	}
	pthread_detach(g.thread);
	g.thread_running = 1;
}

/* ---------------------------------------------------------------- devices */

static struct ibv_device **dev_list;

struct ibv_device **ibv_get_device_list(int *num)
{
	struct ibv_device **l;

	pthread_mutex_lock(&g.lock);
	ensure_init();
	l = calloc((size_t)g.ndev + 1, sizeof(*l));
	if (l)
		lists_out++;
	pthread_mutex_unlock(&g.lock);
	if (!l) {
		errno = ENOMEM;
		return NULL;
	}
	for (int i = 0; i < g.ndev; i++)
		l[i] = &g.dev[i].ibdev;
	if (num)
		*num = g.ndev;
	dev_list = l;
	return l;
}

void ibv_free_device_list(struct ibv_device **list)
{
	if (!list)
		return;
	pthread_mutex_lock(&g.lock);
	lists_out--;
	pthread_mutex_unlock(&g.lock);
	free(list);
}

const char *ibv_get_device_name(struct ibv_device *device)
{
	return device->name;
}

__be64 ibv_get_device_guid(struct ibv_device *device)
{
	return htobe64(((struct dbl_dev *)device)->guid);
}

int ibv_get_device_index(struct ibv_device *device)
{
	return ((struct dbl_dev *)device)->index;
}

static int dbl_query_port(struct ibv_context *c, uint8_t port, struct ibv_port_attr *a, size_t sz);
static int dbl_poll_cq(struct ibv_cq *cq, int n, struct ibv_wc *wc);
static int dbl_req_notify(struct ibv_cq *cq, int solicited);
static int dbl_post_send(struct ibv_qp *qp, struct ibv_send_wr *wr, struct ibv_send_wr **bad);
static int dbl_post_recv(struct ibv_qp *qp, struct ibv_recv_wr *wr, struct ibv_recv_wr **bad);
static int dbl_post_srq_recv(struct ibv_srq *srq, struct ibv_recv_wr *wr, struct ibv_recv_wr **bad)
{
	(void)srq;
	*bad = wr;
	return EOPNOTSUPP;
}

struct ibv_context *ibv_open_device(struct ibv_device *device)
{
	struct dbl_ctx *x;
	int known = 0;

	for (int i = 0; i < g.ndev; i++)
		known |= device == &g.dev[i].ibdev;
	if (!known) {
		errno = ENODEV;
		return NULL;
	}
	x = calloc(1, sizeof(*x));
	if (!x) {
		errno = ENOMEM;
		return NULL;
	}
	x->dev = (struct dbl_dev *)device;
	x->vctx.sz = sizeof(x->vctx);
	x->vctx.query_port = dbl_query_port;
	x->vctx.context.device = device;
	x->vctx.context.cmd_fd = -1;
	x->vctx.context.async_fd = -1;
	x->vctx.context.num_comp_vectors = 1;
	x->vctx.context.abi_compat = __VERBS_ABI_IS_EXTENDED;
	pthread_mutex_init(&x->vctx.context.mutex, NULL);
	x->vctx.context.ops.poll_cq = dbl_poll_cq;
	x->vctx.context.ops.req_notify_cq = dbl_req_notify;
	x->vctx.context.ops.post_send = dbl_post_send;
	x->vctx.context.ops.post_recv = dbl_post_recv;
	x->vctx.context.ops.post_srq_recv = dbl_post_srq_recv;
	pthread_mutex_lock(&g.lock);
	transport_start();
	g.open_ctx++;
	pthread_mutex_unlock(&g.lock);
	return &x->vctx.context;
}

int ibv_close_device(struct ibv_context *context)
{
	struct dbl_ctx *x = ctx_of(context);

	/* rdma-core closes the device regardless (the kernel reclaims what is
	 * left), and perftest relies on it; say what leaked. */
	pthread_mutex_lock(&g.lock);
	g.open_ctx--;
	pthread_mutex_unlock(&g.lock);
	if (x->refs) {
		/* its objects may still receive packets: keep it (a leak) */
		dbl_log("ibv_close_device with %d objects still allocated on it", x->refs);
		return 0;
	}
	pthread_mutex_destroy(&context->mutex);
	free(x);
	return 0;
}

int ibv_query_device(struct ibv_context *context, struct ibv_device_attr *a)
{
	struct dbl_dev *d = ctx_of(context)->dev;
	const char *fw = getenv("IBDOUBLE_FW");

	memset(a, 0, sizeof(*a));
	snprintf(a->fw_ver, sizeof(a->fw_ver), "%s", fw && *fw ? fw : "1.0.0-ibdouble");
	a->node_guid = htobe64(d->guid);
	a->sys_image_guid = htobe64(d->guid);
	a->max_mr_size = ~0ull;
	a->page_size_cap = 0xfffff000;
	a->vendor_id = 0;
	a->hw_ver = 1;
	a->max_qp = DBL_MAX_QP - 1;
	a->max_qp_wr = (int)g.max_qp_wr;
	a->device_cap_flags = IBV_DEVICE_RC_RNR_NAK_GEN | IBV_DEVICE_PORT_ACTIVE_EVENT;
	a->max_sge = DBL_MAX_SGE;
	a->max_sge_rd = DBL_MAX_SGE;
	a->max_cq = 1024;
	a->max_cqe = DBL_MAX_CQE;
	a->max_mr = 1 << 20;
	a->max_pd = 1024;
	a->max_qp_rd_atom = 16;
	a->max_qp_init_rd_atom = 16;
	a->max_res_rd_atom = 16 * (DBL_MAX_QP - 1);
	a->atomic_cap = IBV_ATOMIC_NONE;
	a->max_pkeys = 1;
	a->local_ca_ack_delay = 16;
	a->phys_port_cnt = 1;
	return 0;
}

static int dbl_query_port(struct ibv_context *c, uint8_t port, struct ibv_port_attr *a, size_t sz)
{
	struct dbl_dev *d = ctx_of(c)->dev;
	struct ibv_port_attr p = {0};

	if (port != 1)
		return EINVAL;
	p.state = d->state;
	p.max_mtu = IBV_MTU_4096;
	p.active_mtu = d->mtu;
	p.gid_tbl_len = d->eth ? 4 : 1;
	p.port_cap_flags = d->eth ? 0 : IBV_PORT_SM;
	p.max_msg_sz = 0x80000000u;
	p.pkey_tbl_len = 1;
	p.lid = d->eth ? 0 : (uint16_t)(ntohl(d->ip) & 0xffff);
	p.sm_lid = d->eth ? 0 : 1;
	p.max_vl_num = 4;
	p.subnet_timeout = 18;
	p.active_width = d->width;
	p.active_speed = d->speed;
	p.phys_state = d->state == IBV_PORT_ACTIVE ? 5 /* LinkUp */ : 3 /* Disabled */;
	p.link_layer = d->eth ? IBV_LINK_LAYER_ETHERNET : IBV_LINK_LAYER_INFINIBAND;
	memcpy(a, &p, sz < sizeof(p) ? sz : sizeof(p));
	return 0;
}

int ibv_query_port(struct ibv_context *c, uint8_t port, struct _compat_ibv_port_attr *a);
int ibv_query_port(struct ibv_context *c, uint8_t port, struct _compat_ibv_port_attr *a)
{
	/* Callers of the old entry point pass the shorter structure of the
	 * original ABI: fill only what every version has. */
	return dbl_query_port(c, port, (struct ibv_port_attr *)(void *)a,
	                      offsetof(struct ibv_port_attr, link_layer) + 1);
}

/* GID table.  RoCE: 0 = v1 link-local, 1 = v2 link-local, 2 = v1
 * IPv4-mapped, 3 = v2 IPv4-mapped (the order mlx5 uses).  IB: 0 = the
 * link-local GID of the port GUID.  The last four bytes of every GID hold
 * the device's IPv4 address: that is how a peer is found. */
static int gid_get(struct dbl_dev *d, unsigned idx, union ibv_gid *gid, uint32_t *type)
{
	memset(gid, 0, sizeof(*gid));
	if (idx >= (d->eth ? 4u : 1u))
		return -1;
	if (!d->eth || idx < 2) {
		uint64_t ifid = d->eth ? (0x000000ff00000000ull | ntohl(d->ip)) : d->guid;

		gid->raw[0] = 0xfe;
		gid->raw[1] = 0x80;
		for (int i = 0; i < 8; i++)
			gid->raw[8 + i] = (uint8_t)(ifid >> (56 - 8 * i));
	} else {
		gid->raw[10] = 0xff;
		gid->raw[11] = 0xff;
		memcpy(&gid->raw[12], &d->ip, 4);
	}
	*type = !d->eth ? IBV_GID_TYPE_IB : (idx & 1) ? IBV_GID_TYPE_ROCE_V2 : IBV_GID_TYPE_ROCE_V1;
	return 0;
}

int ibv_query_gid(struct ibv_context *context, uint8_t port_num, int index, union ibv_gid *gid)
{
	uint32_t t;

	if (port_num != 1 || index < 0 || gid_get(ctx_of(context)->dev, (unsigned)index, gid, &t)) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

int _ibv_query_gid_ex(struct ibv_context *context, uint32_t port_num, uint32_t gid_index,
                      struct ibv_gid_entry *entry, uint32_t flags, size_t entry_size);
int _ibv_query_gid_ex(struct ibv_context *context, uint32_t port_num, uint32_t gid_index,
                      struct ibv_gid_entry *entry, uint32_t flags, size_t entry_size)
{
	struct ibv_gid_entry e = {0};

	if (flags || port_num != 1 || entry_size < sizeof(e))
		return EINVAL;
	if (gid_get(ctx_of(context)->dev, gid_index, &e.gid, &e.gid_type))
		return gid_index < 4 ? ENODATA : EINVAL;
	e.gid_index = gid_index;
	e.port_num = port_num;
	e.ndev_ifindex = ctx_of(context)->dev->eth ? 1 : 0;
	memcpy(entry, &e, sizeof(e));
	return 0;
}

int ibv_query_pkey(struct ibv_context *context, uint8_t port_num, int index, __be16 *pkey)
{
	(void)context;
	if (port_num != 1 || index != 0) {
		errno = EINVAL;
		return -1;
	}
	*pkey = htobe16(0xffff);
	return 0;
}

int ibv_get_pkey_index(struct ibv_context *context, uint8_t port_num, __be16 pkey)
{
	(void)context;
	return port_num == 1 && (be16toh(pkey) & 0x7fff) == 0x7fff ? 0 : -1;
}

/* ---------------------------------------------------------------- PD, MR */

struct ibv_pd *ibv_alloc_pd(struct ibv_context *context)
{
	struct dbl_pd *p = calloc(1, sizeof(*p));

	if (!p) {
		errno = ENOMEM;
		return NULL;
	}
	pthread_mutex_lock(&g.lock);
	p->pd.context = context;
	p->pd.handle = ++g.next_handle;
	ctx_of(context)->refs++;
	pthread_mutex_unlock(&g.lock);
	return &p->pd;
}

int ibv_dealloc_pd(struct ibv_pd *pd)
{
	struct dbl_pd *p = (struct dbl_pd *)pd;

	pthread_mutex_lock(&g.lock);
	if (p->refs) {
		pthread_mutex_unlock(&g.lock);
		return EBUSY;
	}
	ctx_of(pd->context)->refs--;
	pthread_mutex_unlock(&g.lock);
	free(p);
	return 0;
}

#define DBL_ACCESS_KNOWN                                                                           \
	(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ |               \
	 IBV_ACCESS_REMOTE_ATOMIC | IBV_ACCESS_RELAXED_ORDERING)

struct ibv_mr *ibv_reg_mr_iova2(struct ibv_pd *pd, void *addr, size_t length, uint64_t iova,
                                unsigned int access)
{
	struct dbl_mr *m;
	int slot;

	(void)iova;
	if ((access & ~(unsigned)DBL_ACCESS_KNOWN) ||
	    ((access & (IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_ATOMIC)) &&
	     !(access & IBV_ACCESS_LOCAL_WRITE)) ||
	    (!addr && length)) {
		errno = EINVAL;
		return NULL;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		errno = ENOMEM;
		return NULL;
	}
	pthread_mutex_lock(&g.lock);
	for (slot = 0; slot < g.nmr && g.mr[slot]; slot++)
		;
	if (slot == g.nmr) {
		struct dbl_mr **n = realloc(g.mr, (size_t)(g.nmr * 2 + 16) * sizeof(*n));

		if (!n) {
			pthread_mutex_unlock(&g.lock);
			free(m);
			errno = ENOMEM;
			return NULL;
		}
		memset(n + g.nmr, 0, (size_t)(g.nmr + 16) * sizeof(*n));
		g.mr = n;
		g.nmr = g.nmr * 2 + 16;
	}
	m->slot = slot;
	m->access = (int)access;
	m->mr.context = pd->context;
	m->mr.pd = pd;
	m->mr.addr = addr;
	m->mr.length = length;
	m->mr.handle = ++g.next_handle;
	m->mr.lkey = ((uint32_t)(slot + 1) << 8) | (g.next_handle & 0xff);
	m->mr.rkey = m->mr.lkey;
	g.mr[slot] = m;
	((struct dbl_pd *)pd)->refs++;
	pthread_mutex_unlock(&g.lock);
	return &m->mr;
}

struct ibv_mr *ibv_reg_mr(struct ibv_pd *pd, void *addr, size_t length, int access)
{
	return ibv_reg_mr_iova2(pd, addr, length, (uintptr_t)addr, (unsigned)access);
}

struct ibv_mr *ibv_reg_mr_iova(struct ibv_pd *pd, void *addr, size_t length, uint64_t iova,
                               int access)
{
	return ibv_reg_mr_iova2(pd, addr, length, iova, (unsigned)access);
}

int ibv_dereg_mr(struct ibv_mr *mr)
{
	struct dbl_mr *m = (struct dbl_mr *)mr;

	pthread_mutex_lock(&g.lock);
	if (m->slot >= g.nmr || g.mr[m->slot] != m) {
		pthread_mutex_unlock(&g.lock);
		return EINVAL;
	}
	g.mr[m->slot] = NULL;
	((struct dbl_pd *)mr->pd)->refs--;
	pthread_mutex_unlock(&g.lock);
	free(m);
	return 0;
}

/* ---------------------------------------------------------------- CQ */

struct ibv_comp_channel *ibv_create_comp_channel(struct ibv_context *context)
{
	struct dbl_channel *ch = calloc(1, sizeof(*ch));
	int fds[2];

	if (!ch || pipe2(fds, O_CLOEXEC)) {
		free(ch);
		errno = ENOMEM;
		return NULL;
	}
	ch->ch.context = context;
	ch->ch.fd = fds[0];
	ch->wfd = fds[1];
	return &ch->ch;
}

int ibv_destroy_comp_channel(struct ibv_comp_channel *channel)
{
	struct dbl_channel *ch = (struct dbl_channel *)channel;

	if (channel->refcnt)
		return EBUSY;
	close(ch->ch.fd);
	close(ch->wfd);
	free(ch);
	return 0;
}

int ibv_get_cq_event(struct ibv_comp_channel *channel, struct ibv_cq **cq, void **cq_context)
{
	struct ibv_cq *p;

	if (read(channel->fd, &p, sizeof(p)) != (ssize_t)sizeof(p))
		return -1;
	*cq = p;
	*cq_context = p->cq_context;
	return 0;
}

void ibv_ack_cq_events(struct ibv_cq *cq, unsigned int nevents)
{
	pthread_mutex_lock(&g.lock);
	cq->comp_events_completed += nevents;
	pthread_mutex_unlock(&g.lock);
}

struct ibv_cq *ibv_create_cq(struct ibv_context *context, int cqe, void *cq_context,
                             struct ibv_comp_channel *channel, int comp_vector)
{
	struct dbl_cq *cq;

	if (cqe < 1 || cqe > DBL_MAX_CQE || comp_vector < 0 ||
	    comp_vector >= context->num_comp_vectors) {
		errno = EINVAL;
		return NULL;
	}
	cq = calloc(1, sizeof(*cq));
	if (!cq || !(cq->ring = calloc((size_t)cqe, sizeof(*cq->ring)))) {
		free(cq);
		errno = ENOMEM;
		return NULL;
	}
	cq->cap = cqe;
	cq->cq.context = context;
	cq->cq.channel = channel;
	cq->cq.cq_context = cq_context;
	cq->cq.cqe = cqe;
	pthread_mutex_init(&cq->cq.mutex, NULL);
	pthread_cond_init(&cq->cq.cond, NULL);
	pthread_mutex_lock(&g.lock);
	cq->cq.handle = ++g.next_handle;
	ctx_of(context)->refs++;
	if (channel)
		channel->refcnt++;
	pthread_mutex_unlock(&g.lock);
	return &cq->cq;
}

int ibv_destroy_cq(struct ibv_cq *c)
{
	struct dbl_cq *cq = cq_of(c);

	pthread_mutex_lock(&g.lock);
	if (cq->refs) {
		pthread_mutex_unlock(&g.lock);
		return EBUSY;
	}
	ctx_of(c->context)->refs--;
	if (c->channel)
		c->channel->refcnt--;
	pthread_mutex_unlock(&g.lock);
	free(cq->ring);
	free(cq);
	return 0;
}

static int dbl_poll_cq(struct ibv_cq *c, int n, struct ibv_wc *wc)
{
	struct dbl_cq *cq = cq_of(c);
	int k = 0;

	/* Empty: answer without the lock.  An application spinning here would
	 * otherwise take the mutex back at once, every time, and starve the
	 * progress thread (the "wire") that it is waiting for.  Yielding models
	 * the same thing on an oversubscribed machine: the wire is a thread. */
	if (!__atomic_load_n(&cq->count, __ATOMIC_ACQUIRE) &&
	    !__atomic_load_n(&cq->overrun, __ATOMIC_ACQUIRE)) {
		if (g.poll_yield)
			sched_yield();
		return 0;
	}
	pthread_mutex_lock(&g.lock);
	if (cq->overrun) {
		pthread_mutex_unlock(&g.lock);
		return -EOVERFLOW;
	}
	while (k < n && cq->count) {
		wc[k++] = cq->ring[cq->head];
		cq->head = (cq->head + 1) % cq->cap;
		__atomic_store_n(&cq->count, cq->count - 1, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&g.lock);
	return k;
}

static int dbl_req_notify(struct ibv_cq *c, int solicited)
{
	struct dbl_cq *cq = cq_of(c);

	(void)solicited;
	pthread_mutex_lock(&g.lock);
	cq->armed = 1; /* an event for the next completion, not for queued ones */
	pthread_mutex_unlock(&g.lock);
	return 0;
}

/* ---------------------------------------------------------------- QP */

struct ibv_qp *ibv_create_qp(struct ibv_pd *pd, struct ibv_qp_init_attr *a)
{
	struct dbl_qp *qp;
	struct ibv_qp_cap *c = &a->cap;
	int idx;

	if (a->qp_type != IBV_QPT_RC) {
		errno = EOPNOTSUPP;
		return NULL;
	}
	if (!a->send_cq || !a->recv_cq || a->srq || c->max_send_wr < 1 || c->max_recv_wr < 1 ||
	    c->max_send_wr > g.max_qp_wr || c->max_recv_wr > g.max_qp_wr ||
	    c->max_send_sge > DBL_MAX_SGE || c->max_recv_sge > DBL_MAX_SGE ||
	    c->max_inline_data > DBL_MAX_INLINE) {
		errno = EINVAL;
		return NULL;
	}
	qp = calloc(1, sizeof(*qp));
	if (!qp)
		goto nomem;
	qp->cap = *c;
	if (qp->cap.max_send_sge < 1)
		qp->cap.max_send_sge = 1;
	if (qp->cap.max_recv_sge < 1)
		qp->cap.max_recv_sge = 1;
	qp->sq = calloc(c->max_send_wr, sizeof(*qp->sq));
	qp->rq = calloc(c->max_recv_wr, sizeof(*qp->rq));
	if (!qp->sq || !qp->rq)
		goto free_qp;
	if (c->max_inline_data)
		for (uint32_t i = 0; i < c->max_send_wr; i++)
			if (!(qp->sq[i].inline_buf = malloc(c->max_inline_data)))
				goto free_qp;
	pthread_mutex_lock(&g.lock);
	for (idx = 1; idx < DBL_MAX_QP && g.qp[idx]; idx++)
		;
	if (idx == DBL_MAX_QP) {
		pthread_mutex_unlock(&g.lock);
		errno = ENOSPC;
		goto free_qp;
	}
	qp->idx = idx;
	qp->ctx = ctx_of(pd->context);
	qp->sq_sig_all = a->sq_sig_all;
	qp->qp.context = pd->context;
	qp->qp.qp_context = a->qp_context;
	qp->qp.pd = pd;
	qp->qp.send_cq = a->send_cq;
	qp->qp.recv_cq = a->recv_cq;
	qp->qp.handle = ++g.next_handle;
	/* QP number: the TCP port of this process's listener and the index */
	qp->qp.qp_num = ((uint32_t)g.port << 8) | (uint32_t)idx;
	qp->qp.state = IBV_QPS_RESET;
	qp->qp.qp_type = IBV_QPT_RC;
	pthread_mutex_init(&qp->qp.mutex, NULL);
	pthread_cond_init(&qp->qp.cond, NULL);
	cq_of(a->send_cq)->refs++;
	cq_of(a->recv_cq)->refs++;
	((struct dbl_pd *)pd)->refs++;
	qp->ctx->refs++;
	g.qp[idx] = qp;
	pthread_mutex_unlock(&g.lock);
	*c = qp->cap;
	return &qp->qp;
free_qp:
	if (qp && qp->sq)
		for (uint32_t i = 0; i < c->max_send_wr; i++)
			free(qp->sq[i].inline_buf);
	if (qp) {
		free(qp->sq);
		free(qp->rq);
	}
	free(qp);
nomem:
	if (errno != ENOSPC)
		errno = ENOMEM;
	return NULL;
}

int ibv_destroy_qp(struct ibv_qp *q)
{
	struct dbl_qp *qp = qp_of(q);

	pthread_mutex_lock(&g.lock);
	g.qp[qp->idx] = NULL;
	cq_of(q->send_cq)->refs--;
	cq_of(q->recv_cq)->refs--;
	((struct dbl_pd *)q->pd)->refs--;
	qp->ctx->refs--;
	pthread_mutex_unlock(&g.lock);
	for (uint32_t i = 0; i < qp->cap.max_send_wr; i++)
		free(qp->sq[i].inline_buf);
	free(qp->sq);
	free(qp->rq);
	free(qp);
	return 0;
}

static void qp_reset(struct dbl_qp *qp)
{
	qp->sq_posted = qp->sq_freed = qp->sq_done = qp->sq_sent = 0;
	qp->rq_posted = qp->rq_done = 0;
	qp->rnr_at = qp->ack_due = 0;
	qp->timeout_retries = 0;
}

/* The peer's address: the last four bytes of its GID when a GRH is used,
 * else this port's address with the low 16 bits replaced by the LID.  The
 * TCP port is the high 16 bits of the destination QP number. */
static int resolve_peer(struct dbl_qp *qp, const struct ibv_qp_attr *a)
{
	struct dbl_dev *d = qp->ctx->dev;

	if (a->ah_attr.is_global) {
		memcpy(&qp->peer_ip, &a->ah_attr.grh.dgid.raw[12], 4);
		if (d->eth && a->ah_attr.grh.sgid_index >= 4)
			return EINVAL;
	} else {
		if (d->eth || a->ah_attr.dlid == 0)
			return EINVAL; /* RoCE needs a GRH; IB without one needs a LID */
		qp->peer_ip = htonl((ntohl(d->ip) & 0xffff0000u) | a->ah_attr.dlid);
	}
	qp->peer_port = (uint16_t)(a->dest_qp_num >> 8);
	return 0;
}

int ibv_modify_qp(struct ibv_qp *q, struct ibv_qp_attr *a, int mask)
{
	struct dbl_qp *qp = qp_of(q);
	enum ibv_qp_state cur, next;
	int req = 0, opt = 0, rc = 0;

	pthread_mutex_lock(&g.lock);
	cur = q->state;
	if ((mask & IBV_QP_CUR_STATE) && a->cur_qp_state != cur) {
		rc = EINVAL;
		goto out;
	}
	next = (mask & IBV_QP_STATE) ? a->qp_state : cur;
	if (next == IBV_QPS_RESET) {
		qp_reset(qp);
		q->state = IBV_QPS_RESET;
		goto out;
	}
	if (next == IBV_QPS_ERR) {
		qp_to_error(qp);
		goto out;
	}
	if (cur == IBV_QPS_RESET && next == IBV_QPS_INIT) {
		req = IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS;
	} else if (cur == IBV_QPS_INIT && next == IBV_QPS_INIT) {
		opt = IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS;
	} else if (cur == IBV_QPS_INIT && next == IBV_QPS_RTR) {
		req = IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN | IBV_QP_RQ_PSN |
		      IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER;
		opt = IBV_QP_ALT_PATH | IBV_QP_ACCESS_FLAGS | IBV_QP_PKEY_INDEX;
	} else if (cur == IBV_QPS_RTR && next == IBV_QPS_RTS) {
		req = IBV_QP_STATE | IBV_QP_SQ_PSN | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT |
		      IBV_QP_RNR_RETRY | IBV_QP_MAX_QP_RD_ATOMIC;
		opt = IBV_QP_CUR_STATE | IBV_QP_ALT_PATH | IBV_QP_ACCESS_FLAGS |
		      IBV_QP_MIN_RNR_TIMER | IBV_QP_PATH_MIG_STATE;
	} else if (cur == IBV_QPS_RTS && next == IBV_QPS_RTS) {
		opt = IBV_QP_CUR_STATE | IBV_QP_ACCESS_FLAGS | IBV_QP_ALT_PATH |
		      IBV_QP_MIN_RNR_TIMER | IBV_QP_PATH_MIG_STATE;
	} else {
		rc = EINVAL; /* not a transition this state machine has */
		goto out;
	}
	if ((mask & req) != req || (mask & ~(req | opt | IBV_QP_STATE | IBV_QP_CUR_STATE))) {
		rc = EINVAL;
		goto out;
	}
	if (mask & IBV_QP_PORT) {
		if (a->port_num != 1) {
			rc = EINVAL;
			goto out;
		}
		qp->port_num = a->port_num;
	}
	if ((mask & IBV_QP_PKEY_INDEX) && a->pkey_index != 0) {
		rc = EINVAL;
		goto out;
	}
	if (mask & IBV_QP_ACCESS_FLAGS)
		qp->access = (int)a->qp_access_flags;
	if (mask & IBV_QP_PATH_MTU) {
		if (a->path_mtu < IBV_MTU_256 || a->path_mtu > IBV_MTU_4096) {
			rc = EINVAL;
			goto out;
		}
		qp->path_mtu = a->path_mtu;
	}
	if (mask & IBV_QP_AV) {
		if (!(mask & IBV_QP_DEST_QPN) || (rc = resolve_peer(qp, a)))
			goto out;
		qp->dest_qpn = a->dest_qp_num;
	}
	if (mask & IBV_QP_RQ_PSN)
		qp->rq_psn = a->rq_psn & 0xffffff;
	if (mask & IBV_QP_MIN_RNR_TIMER)
		qp->min_rnr_timer = a->min_rnr_timer & 31;
	if (mask & IBV_QP_SQ_PSN)
		qp->sq_psn = a->sq_psn & 0xffffff;
	if (mask & IBV_QP_TIMEOUT)
		qp->timeout = a->timeout & 31;
	if (mask & IBV_QP_RETRY_CNT) {
		if (a->retry_cnt > 7) {
			rc = EINVAL;
			goto out;
		}
		qp->retry_cnt = a->retry_cnt;
	}
	if (mask & IBV_QP_RNR_RETRY) {
		if (a->rnr_retry > 7) {
			rc = EINVAL;
			goto out;
		}
		qp->rnr_retry = a->rnr_retry;
	}
	if ((mask & IBV_QP_MAX_QP_RD_ATOMIC) && a->max_rd_atomic > 16) {
		rc = EINVAL;
		goto out;
	}
	if ((mask & IBV_QP_MAX_DEST_RD_ATOMIC) && a->max_dest_rd_atomic > 16) {
		rc = EINVAL;
		goto out;
	}
	q->state = next;
	if (next == IBV_QPS_RTS)
		sq_transmit(qp);
out:
	pthread_mutex_unlock(&g.lock);
	return rc;
}

int ibv_query_qp(struct ibv_qp *q, struct ibv_qp_attr *a, int mask, struct ibv_qp_init_attr *ia)
{
	struct dbl_qp *qp = qp_of(q);

	(void)mask;
	pthread_mutex_lock(&g.lock);
	memset(a, 0, sizeof(*a));
	a->qp_state = q->state;
	a->cur_qp_state = q->state;
	a->path_mtu = qp->path_mtu;
	a->qp_access_flags = (unsigned)qp->access;
	a->dest_qp_num = qp->dest_qpn;
	a->rq_psn = qp->rq_psn;
	a->sq_psn = qp->sq_psn;
	a->timeout = qp->timeout;
	a->retry_cnt = qp->retry_cnt;
	a->rnr_retry = qp->rnr_retry;
	a->min_rnr_timer = qp->min_rnr_timer;
	a->port_num = (uint8_t)qp->port_num;
	a->cap = qp->cap;
	if (ia) {
		memset(ia, 0, sizeof(*ia));
		ia->qp_context = q->qp_context;
		ia->send_cq = q->send_cq;
		ia->recv_cq = q->recv_cq;
		ia->cap = qp->cap;
		ia->qp_type = IBV_QPT_RC;
		ia->sq_sig_all = qp->sq_sig_all;
	}
	pthread_mutex_unlock(&g.lock);
	return 0;
}

struct ibv_qp_ex *ibv_qp_to_qp_ex(struct ibv_qp *qp)
{
	(void)qp;
	return NULL; /* the extended work-request interface is not provided */
}

static int post_send_one(struct dbl_qp *qp, struct ibv_send_wr *wr)
{
	struct swqe *e;
	uint64_t len = 0;

	switch (wr->opcode) {
	case IBV_WR_SEND:
	case IBV_WR_SEND_WITH_IMM:
	case IBV_WR_RDMA_WRITE:
	case IBV_WR_RDMA_WRITE_WITH_IMM:
	case IBV_WR_RDMA_READ: break;
	default: return EINVAL;
	}
	if (wr->num_sge < 0 || (uint32_t)wr->num_sge > qp->cap.max_send_sge)
		return EINVAL;
	for (int i = 0; i < wr->num_sge; i++)
		len += wr->sg_list[i].length;
	if (len > 0x80000000ull)
		return EINVAL;
	if ((wr->send_flags & IBV_SEND_INLINE) &&
	    (wr->opcode == IBV_WR_RDMA_READ || len > qp->cap.max_inline_data))
		return EINVAL;
	if (qp->sq_posted - qp->sq_freed >= qp->cap.max_send_wr)
		return ENOMEM;
	e = sq_at(qp, qp->sq_posted);
	e->wr_id = wr->wr_id;
	e->opcode = wr->opcode;
	e->flags = wr->send_flags;
	e->imm = wr->imm_data;
	e->raddr = wr->wr.rdma.remote_addr;
	e->rkey = wr->wr.rdma.rkey;
	e->num_sge = wr->num_sge;
	if (wr->num_sge > 0) /* sg_list may be NULL when there is no entry */
		memcpy(e->sge, wr->sg_list, (size_t)wr->num_sge * sizeof(*e->sge));
	e->len = (uint32_t)len;
	e->inl = !!(wr->send_flags & IBV_SEND_INLINE);
	if (e->inl) {
		uint32_t off = 0;

		for (int i = 0; i < wr->num_sge; i++) {
			if (wr->sg_list[i].length)
				memcpy(e->inline_buf + off, (void *)(uintptr_t)wr->sg_list[i].addr,
				       wr->sg_list[i].length);
			off += wr->sg_list[i].length;
		}
	}
	e->rnr_tries = 0;
	e->completed = 0;
	e->signaled = qp->sq_sig_all || (wr->send_flags & IBV_SEND_SIGNALED);
	qp->sq_posted++;
	return 0;
}

static int dbl_post_send(struct ibv_qp *q, struct ibv_send_wr *wr, struct ibv_send_wr **bad)
{
	struct dbl_qp *qp = qp_of(q);
	int rc = 0;

	pthread_mutex_lock(&g.lock);
	if (q->state != IBV_QPS_RTS && q->state != IBV_QPS_ERR) {
		rc = EINVAL; /* posting to a QP that cannot send */
		*bad = wr;
		goto out;
	}
	for (; wr; wr = wr->next) {
		rc = post_send_one(qp, wr);
		if (rc) {
			*bad = wr;
			break;
		}
	}
	if (q->state == IBV_QPS_ERR)
		qp_to_error(qp); /* flush what was just posted */
	else
		sq_transmit(qp);
out:
	pthread_mutex_unlock(&g.lock);
	return rc;
}

static int dbl_post_recv(struct ibv_qp *q, struct ibv_recv_wr *wr, struct ibv_recv_wr **bad)
{
	struct dbl_qp *qp = qp_of(q);
	int rc = 0;

	pthread_mutex_lock(&g.lock);
	if (q->state == IBV_QPS_RESET) {
		rc = EINVAL;
		*bad = wr;
		goto out;
	}
	for (; wr; wr = wr->next) {
		struct rwqe *r;

		if (wr->num_sge < 0 || (uint32_t)wr->num_sge > qp->cap.max_recv_sge) {
			rc = EINVAL;
			*bad = wr;
			break;
		}
		if (qp->rq_posted - qp->rq_done >= qp->cap.max_recv_wr) {
			rc = ENOMEM;
			*bad = wr;
			break;
		}
		r = &qp->rq[qp->rq_posted % qp->cap.max_recv_wr];
		r->wr_id = wr->wr_id;
		r->num_sge = wr->num_sge;
		if (wr->num_sge > 0)
			memcpy(r->sge, wr->sg_list, (size_t)wr->num_sge * sizeof(*r->sge));
		qp->rq_posted++;
	}
	if (q->state == IBV_QPS_ERR)
		qp_to_error(qp);
out:
	pthread_mutex_unlock(&g.lock);
	return rc;
}

/* ---------------------------------------------------------------- misc */

int ibv_fork_init(void)
{
	return 0;
}

int ibv_dontfork_range(void *base, size_t size)
{
	(void)base;
	(void)size;
	return 0;
}

int ibv_dofork_range(void *base, size_t size)
{
	(void)base;
	(void)size;
	return 0;
}

void ibv_ack_async_event(struct ibv_async_event *event)
{
	(void)event;
}

const char *ibv_node_type_str(enum ibv_node_type t)
{
	return t == IBV_NODE_CA ? "InfiniBand channel adapter" : "unknown";
}

const char *ibv_port_state_str(enum ibv_port_state s)
{
	static const char *const n[] = {"PORT_NOP",   "PORT_DOWN",   "PORT_INIT",
	                                "PORT_ARMED", "PORT_ACTIVE", "PORT_ACTIVE_DEFER"};

	return (unsigned)s < 6 ? n[s] : "unknown";
}

const char *ibv_event_type_str(enum ibv_event_type e)
{
	(void)e;
	return "unknown";
}

const char *ibv_wc_status_str(enum ibv_wc_status s)
{
	static const char *const n[] = {
	        [IBV_WC_SUCCESS] = "success",
	        [IBV_WC_LOC_LEN_ERR] = "local length error",
	        [IBV_WC_LOC_QP_OP_ERR] = "local QP operation error",
	        [IBV_WC_LOC_EEC_OP_ERR] = "local EE context operation error",
	        [IBV_WC_LOC_PROT_ERR] = "local protection error",
	        [IBV_WC_WR_FLUSH_ERR] = "Work Request Flushed Error",
	        [IBV_WC_MW_BIND_ERR] = "memory management operation error",
	        [IBV_WC_BAD_RESP_ERR] = "bad response error",
	        [IBV_WC_LOC_ACCESS_ERR] = "local access error",
	        [IBV_WC_REM_INV_REQ_ERR] = "remote invalid request error",
	        [IBV_WC_REM_ACCESS_ERR] = "remote access error",
	        [IBV_WC_REM_OP_ERR] = "remote operation error",
	        [IBV_WC_RETRY_EXC_ERR] = "transport retry counter exceeded",
	        [IBV_WC_RNR_RETRY_EXC_ERR] = "RNR retry counter exceeded",
	        [IBV_WC_LOC_RDD_VIOL_ERR] = "local RDD violation error",
	        [IBV_WC_REM_INV_RD_REQ_ERR] = "remote invalid RD request",
	        [IBV_WC_REM_ABORT_ERR] = "aborted error",
	        [IBV_WC_INV_EECN_ERR] = "invalid EE context number",
	        [IBV_WC_INV_EEC_STATE_ERR] = "invalid EE context state",
	        [IBV_WC_FATAL_ERR] = "fatal error",
	        [IBV_WC_RESP_TIMEOUT_ERR] = "response timeout error",
	        [IBV_WC_GENERAL_ERR] = "general error",
	};

	return (unsigned)s < sizeof(n) / sizeof(n[0]) && n[s] ? n[s] : "unknown";
}

int ibv_rate_to_mult(enum ibv_rate rate)
{
	return (int)rate;
}

enum ibv_rate mult_to_ibv_rate(int mult)
{
	return (enum ibv_rate)mult;
}

int ibv_rate_to_mbps(enum ibv_rate rate)
{
	return (int)rate * 2500;
}

enum ibv_rate mbps_to_ibv_rate(int mbps)
{
	return (enum ibv_rate)(mbps / 2500);
}
