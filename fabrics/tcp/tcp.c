/* TCP sockets fabric.
 *
 * Connections: one TCP connection per pair of ranks, both directions
 * multiplexed.  Every rank listens on an ephemeral port of the chosen
 * interface's IPv4 address; the addresses are exchanged with one bootstrap
 * allgather (a struct sockaddr_in per rank, port 0 meaning "my listener
 * failed"); then the lower rank of each pair connects to the higher one and
 * each side sends a 16-byte hello naming itself.  Everything after the
 * allgather is point-to-point and bounded by one deadline
 * (--tcp-connect-timeout), so a peer that never shows up is an error naming
 * its rank and host, not a hang.  The hello travels in both directions
 * because a connect() to a live listen queue succeeds even when the process
 * behind it never calls accept().
 *
 * Wire format: each message is a 16-byte header (magic, tag, payload length;
 * big endian) followed by the payload.  The receiver matches each header to
 * the first receive posted for that peer with the same tag, so messages of
 * one (sender, receiver, tag) match in posting order.  Once matched, the rest
 * of a payload is read straight into the user's buffer with readv(), the
 * second iovec catching whatever follows into a per-connection staging
 * buffer, so a small message costs one system call and a large one no extra
 * copy.  A payload that arrives before its receive is posted is kept in a
 * malloc'ed "unexpected" message until a receive claims it.
 *
 * Sends: header and payload go out with one sendmsg() when the connection's
 * send queue is empty; what the socket does not take is queued and written
 * when epoll reports EPOLLOUT (armed only while the queue is non-empty).  A
 * send completes when its last byte is in the kernel's socket buffer.
 * Progress: test() mostly works on its own request's connection directly;
 * every TCP_EPOLL_EVERY-th test() and every progress() poll all connections
 * with one epoll_wait(0) (level-triggered); large transfers wait in epoll
 * rather than spin (see tcp_test).
 *
 * Failures: EOF or a socket error fails every request pending on that
 * connection with -EIO, logged once with the peer's rank and host; an
 * orderly close with nothing pending is not an error.  A live peer that just
 * never sends is caught by fsc_fabric_wait's deadline.
 *
 * Cancel (fabric.h, "Request lifetime") keeps the connection and its
 * framing.  A receive leaves the posted list, or, when its payload is
 * arriving, the rest of the payload is read and dropped.  A send not yet
 * started leaves the send queue; one partly written is finished from a
 * fabric-owned copy of its unsent bytes (the peer expects them), or, when
 * that copy cannot be allocated, the connection is failed.  Then the peer is
 * poisoned: every message it sends from then on is read and dropped, its
 * unexpected messages are freed, its other pending requests fail, and new
 * operations with it fail with -EIO.  The self queue is not poisoned:
 * withdrawing from it cannot disturb matching.
 *
 * Limits: IPv4 only; all ranks must have the same byte order for the
 * allgathered struct sockaddr_in (its address and port are in network
 * order, which is what matters); 64 KiB of staging per connection.
 */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <ifaddrs.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "fabric.h"
#include "log.h"
#include "tcp.h"

#define TCP_MSG_MAGIC 0x46534d31u   /* "FSM1" */
#define TCP_HELLO_MAGIC 0x46534831u /* "FSH1" */
#define TCP_HELLO_VERSION 1u
#define TCP_HDR_BYTES 16u
#define TCP_STAGE_BYTES (64u * 1024u)
#define TCP_MAX_IOV 64    /* send-queue entries gathered per sendmsg (2 each) */
#define TCP_MAX_EVENTS 64 /* epoll events per progress call */
#define TCP_MAX_NAMED 8   /* peers named one per line in a connect error */
#define TCP_RTF_UP 0x0001 /* RTF_UP in /proc/net/route's Flags column */
/* test() works on the one connection its request waits for and polls every
 * connection (epoll) once in this many calls; see tcp_test. */
#define TCP_EPOLL_EVERY 16
/* A test() on a transfer at least this large that moved less than a
 * staging buffer's worth waits in epoll, at most TCP_STREAM_WAIT_NS (see
 * tcp_test). */
#define TCP_STREAM_BYTES (256u * 1024u)
#define TCP_STREAM_WAIT_NS 200000u

struct tcp_hdr {
	uint32_t magic; /* all fields big endian */
	uint32_t tag;
	uint64_t bytes;
};
_Static_assert(sizeof(struct tcp_hdr) == TCP_HDR_BYTES, "wire header is 16 bytes");

struct tcp_hello {
	uint32_t magic; /* all fields big endian */
	uint32_t version;
	uint32_t rank;
	uint32_t size;
};
_Static_assert(sizeof(struct tcp_hello) == 16, "hello is 16 bytes");

/* Per-request state, kept in struct fsc_req's opaque words (no allocation
 * per message). */
struct tcp_op {
	struct fsc_req *next; /* link in a send queue or posted-receive list */
	char *buf;
	size_t off; /* send: payload bytes written */
	int done;
	int rc;
	uint32_t hdr_off;   /* send: header bytes written */
	struct tcp_hdr hdr; /* send: the header in wire order */
};
_Static_assert(sizeof(struct tcp_op) <= sizeof(((struct fsc_req *)0)->opaque),
               "struct tcp_op must fit in fsc_req.opaque");

/* A message that arrived before a receive asked for it. */
struct tcp_umsg {
	struct tcp_umsg *next;
	int tag;
	size_t bytes;
	char data[];
};

struct tcp_peer {
	int rank;
	int fd;                            /* -1: self, not connected, or closed */
	int err;                           /* negative code once the connection failed (logged) */
	int eof;                           /* the peer closed its end with nothing pending */
	int out_armed;                     /* EPOLLOUT is armed */
	int poisoned;                      /* an operation with this peer was cancelled */
	struct fsc_req *sq_head, *sq_tail; /* sends not yet fully written */
	/* A cancelled send's unwritten rest, owned by the fabric (allocated
	 * with its payload behind it); it can only be the head of the send
	 * queue. */
	struct fsc_req *sq_owned;
	struct fsc_req *rq_head, *rq_tail;  /* posted receives, not yet matched */
	struct tcp_umsg *uq_head, *uq_tail; /* unexpected messages, arrival order */
	/* The message being received. */
	int rx_body; /* 0: expecting a header; 1: in a payload */
	int rx_tag;
	uint64_t rx_bytes;
	size_t rx_left;           /* payload bytes still to come */
	char *rx_dst;             /* where they go; NULL: discarded */
	struct fsc_req *rx_req;   /* a matched receive, or */
	struct tcp_umsg *rx_umsg; /* an unexpected message being filled */
	char *stage;              /* TCP_STAGE_BYTES */
	size_t spos, slen;        /* unparsed bytes are stage[spos, slen) */
};

/* --tcp-nodelay and --tcp-yield, in the order of their choices. */
enum tcp_nodelay { TCP_NODELAY_ON, TCP_NODELAY_OFF };
enum tcp_yield { TCP_YIELD_AUTO, TCP_YIELD_ON, TCP_YIELD_OFF };

/* The values of tcp_opts. */
struct tcp_conf {
	const char *ifspec; /* NULL: automatic choice */
	uint64_t sndbuf, rcvbuf;
	enum tcp_nodelay nodelay;
	enum tcp_yield yield;
	uint64_t connect_timeout_ns;
};

struct tcp_iface {
	char name[IF_NAMESIZE];
	struct in_addr addr;
	const char *chosen_by;
};

struct tcp_fab {
	struct fsc_fabric *f;
	struct tcp_conf conf;
	struct tcp_iface iface;
	int lfd;                /* listening socket, during connect only */
	int epfd;               /* -1 until connected */
	struct tcp_peer *peers; /* [size], peers[rank] is the self queue */
	unsigned polls;         /* test() calls, for TCP_EPOLL_EVERY */
	int yield;              /* sched_yield() after a fruitless test() */
	int no_pwait2;          /* epoll_pwait2() is missing (ENOSYS) */
	struct epoll_event events[TCP_MAX_EVENTS];
};

static const struct fsc_opt tcp_opts[] = {
        {"tcp-if", 0, FSC_OPT_STRING, NULL,
         "interface name (eth0), IPv4 subnet (198.18.0.0/24) or address to use; "
         "default: the interface of the default route, else the first non-loopback "
         "interface that is up, else lo",
         NULL, 0, 0, FSC_AT_STRING(struct tcp_conf, ifspec)},
        {"tcp-sndbuf", 0, FSC_OPT_SIZE, "0",
         "socket send buffer (SO_SNDBUF; the kernel doubles it); 0 = kernel default with "
         "autotuning",
         NULL, 0, 1073741824.0, FSC_AT_SIZE(struct tcp_conf, sndbuf)},
        {"tcp-rcvbuf", 0, FSC_OPT_SIZE, "0",
         "socket receive buffer (SO_RCVBUF; the kernel doubles it); 0 = kernel default with "
         "autotuning",
         NULL, 0, 1073741824.0, FSC_AT_SIZE(struct tcp_conf, rcvbuf)},
        {"tcp-nodelay", 0, FSC_OPT_CHOICE, "on", "TCP_NODELAY (disable Nagle's algorithm)",
         "on|off", 0, 0, FSC_AT_CHOICE(struct tcp_conf, nodelay)},
        {"tcp-yield", 0, FSC_OPT_CHOICE, "auto",
         "sched_yield() after each test() that completes nothing: auto = when this host "
         "runs more ranks than it has cores",
         "auto|on|off", 0, 0, FSC_AT_CHOICE(struct tcp_conf, yield)},
        {"tcp-connect-timeout", 0, FSC_OPT_TIME, "10s",
         "deadline for connecting to every peer (handshake included)", NULL, FSC_OPT_TIME_MS,
         FSC_OPT_TIME_DAY, FSC_AT_TIME(struct tcp_conf, connect_timeout_ns)},
        {NULL, 0, 0, NULL, NULL, NULL, 0, 0},
};

static inline struct tcp_op *op_of(struct fsc_req *r)
{
	return (struct tcp_op *)(void *)r->opaque;
}

static const char *peer_host(const struct tcp_fab *t, int rank)
{
	const struct fsc_boot *b = t->f->boot;

	if (b && b->hosts && rank >= 0 && rank < b->size)
		return b->hosts[rank];
	return "?";
}

/* ------------------------------------------------------------------------
 * Options and interface selection
 * ------------------------------------------------------------------------ */

/* The table's defaults where cfg lacks this fabric's options (a test's
 * config, another fabric's). */
static void conf_read(const struct fsc_config *cfg, struct tcp_conf *c)
{
	memset(c, 0, sizeof(*c));
	fsc_config_fill(cfg, tcp_opts, c, 0, 0);
	if (c->ifspec && !*c->ifspec)
		c->ifspec = NULL;
}

static bool ifa_ipv4_up(const struct ifaddrs *a)
{
	return a->ifa_addr && a->ifa_addr->sa_family == AF_INET && (a->ifa_flags & IFF_UP);
}

static struct in_addr ifa_in(const struct ifaddrs *a)
{
	return ((const struct sockaddr_in *)(const void *)a->ifa_addr)->sin_addr;
}

static void iface_set(struct tcp_iface *out, const struct ifaddrs *a, const char *chosen_by)
{
	snprintf(out->name, sizeof(out->name), "%s", a->ifa_name);
	out->addr = ifa_in(a);
	out->chosen_by = chosen_by;
}

/* "lo 127.0.0.1, eth0 192.0.2.2": what a user could have asked for. */
static void iface_list(const struct ifaddrs *list, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = 0;
	for (const struct ifaddrs *a = list; a && used < len; a = a->ifa_next) {
		char ip[INET_ADDRSTRLEN];
		struct in_addr in;
		int n;

		if (!ifa_ipv4_up(a))
			continue;
		in = ifa_in(a);
		inet_ntop(AF_INET, &in, ip, sizeof(ip));
		n = snprintf(buf + used, len - used, "%s%s %s", used ? ", " : "", a->ifa_name, ip);
		if (n < 0)
			break;
		used += (size_t)n;
	}
	if (!buf[0])
		snprintf(buf, len, "none");
}

/* The interface of the IPv4 default route with the lowest metric, from
 * /proc/net/route (columns: Iface Destination Gateway Flags RefCnt Use
 * Metric Mask ...).  0 or -ENOENT. */
static int default_route_ifname(char *name, size_t len)
{
	char line[512], ifn[64];
	unsigned long dst, gw, mask;
	unsigned flags;
	int metric, best = INT_MAX;
	FILE *fp = fopen("/proc/net/route", "r");

	if (!fp)
		return -ENOENT;
	name[0] = 0;
	while (fgets(line, sizeof(line), fp)) {
		if (sscanf(line, "%63s %lx %lx %x %*d %*d %d %lx", ifn, &dst, &gw, &flags, &metric,
		           &mask) != 6)
			continue; /* the header line, or a malformed one */
		if (dst || mask || !(flags & TCP_RTF_UP) || metric >= best || strlen(ifn) >= len)
			continue;
		best = metric;
		memcpy(name, ifn, strlen(ifn) + 1);
	}
	fclose(fp);
	return name[0] ? 0 : -ENOENT;
}

static int iface_default(const struct ifaddrs *list, struct tcp_iface *out, char *reason,
                         size_t len)
{
	char route_if[IF_NAMESIZE];
	const struct ifaddrs *a;

	if (!default_route_ifname(route_if, sizeof(route_if)))
		for (a = list; a; a = a->ifa_next)
			if (ifa_ipv4_up(a) && !strcmp(a->ifa_name, route_if)) {
				iface_set(out, a, "default route");
				return 0;
			}
	for (a = list; a; a = a->ifa_next)
		if (ifa_ipv4_up(a) && !(a->ifa_flags & IFF_LOOPBACK)) {
			iface_set(out, a, "first non-loopback interface up");
			return 0;
		}
	for (a = list; a; a = a->ifa_next)
		if (ifa_ipv4_up(a)) {
			iface_set(out, a, "loopback (no other interface up)");
			return 0;
		}
	snprintf(reason, len, "no interface with an IPv4 address is up");
	return -ENODEV;
}

/* "a.b.c.d/n" (n = 0..32) or "a.b.c.d" (= /32).  0 or -EINVAL. */
static int parse_subnet(const char *spec, uint32_t *net, uint32_t *mask)
{
	char addr[INET_ADDRSTRLEN];
	const char *slash = strchr(spec, '/');
	size_t alen = slash ? (size_t)(slash - spec) : strlen(spec);
	struct in_addr in;
	long prefix = 32;

	if (alen >= sizeof(addr))
		return -EINVAL;
	memcpy(addr, spec, alen);
	addr[alen] = 0;
	if (inet_pton(AF_INET, addr, &in) != 1)
		return -EINVAL;
	if (slash) {
		char *end;

		errno = 0;
		prefix = strtol(slash + 1, &end, 10);
		if (errno || end == slash + 1 || *end || prefix < 0 || prefix > 32)
			return -EINVAL;
	}
	*mask = prefix ? 0xffffffffu << (32 - prefix) : 0;
	*net = ntohl(in.s_addr) & *mask;
	return 0;
}

static int iface_by_spec(const struct ifaddrs *list, const char *spec, struct tcp_iface *out,
                         char *reason, size_t len)
{
	char avail[256];
	uint32_t net, mask;
	const struct ifaddrs *a;
	bool exists = false, has_v4 = false;

	iface_list(list, avail, sizeof(avail));
	if (strchr(spec, '/') || strspn(spec, "0123456789.") == strlen(spec)) {
		if (parse_subnet(spec, &net, &mask)) {
			snprintf(reason, len,
			         "invalid --tcp-if '%s': expected an interface name (eth0), an "
			         "IPv4 subnet (198.18.0.0/24) or an IPv4 address",
			         spec);
			return -EINVAL;
		}
		for (a = list; a; a = a->ifa_next)
			if (ifa_ipv4_up(a) && (ntohl(ifa_in(a).s_addr) & mask) == net) {
				iface_set(out, a, "--tcp-if");
				return 0;
			}
		snprintf(reason, len, "no IPv4 interface matches --tcp-if %s (up: %s)", spec,
		         avail);
		return -ENODEV;
	}
	if (strlen(spec) >= IF_NAMESIZE) {
		snprintf(reason, len,
		         "invalid --tcp-if '%s': interface names have at most %d characters", spec,
		         IF_NAMESIZE - 1);
		return -EINVAL;
	}
	for (a = list; a; a = a->ifa_next) {
		if (strcmp(a->ifa_name, spec))
			continue;
		exists = true;
		if (a->ifa_addr && a->ifa_addr->sa_family == AF_INET) {
			has_v4 = true;
			if (a->ifa_flags & IFF_UP) {
				iface_set(out, a, "--tcp-if");
				return 0;
			}
		}
	}
	if (has_v4)
		snprintf(reason, len, "interface %s (--tcp-if) is down", spec);
	else if (exists)
		snprintf(reason, len, "interface %s (--tcp-if) has no IPv4 address", spec);
	else
		snprintf(reason, len, "no interface named '%s' (--tcp-if); up: %s", spec, avail);
	return -ENODEV;
}

/* Pick the interface per --tcp-if (or the documented default).  0, -EINVAL
 * (malformed value) or -ENODEV (nothing matches), with `reason` set. */
static int iface_resolve(const char *spec, struct tcp_iface *out, char *reason, size_t len)
{
	struct ifaddrs *list;
	int rc;

	if (getifaddrs(&list)) {
		snprintf(reason, len, "cannot list network interfaces: %s", strerror(errno));
		return -ENODEV;
	}
	rc = spec ? iface_by_spec(list, spec, out, reason, len)
	          : iface_default(list, out, reason, len);
	freeifaddrs(list);
	return rc;
}

static int tcp_probe(const struct fsc_config *cfg, char *reason, size_t len)
{
	struct tcp_conf c;
	struct tcp_iface ifc;
	char why[512];
	int rc;

	conf_read(cfg, &c);
	rc = iface_resolve(c.ifspec, &ifc, why, sizeof(why));
	if (rc && len)
		snprintf(reason, len, "%s", why);
	return rc;
}

/* ------------------------------------------------------------------------
 * Create / destroy
 * ------------------------------------------------------------------------ */

static int tcp_create(struct fsc_fabric *f, const struct fsc_config *cfg)
{
	struct tcp_fab *t;
	char why[512];
	int rc;

	t = calloc(1, sizeof(*t));
	if (!t) {
		fsc_error("fabric tcp: out of memory");
		return -ENOMEM;
	}
	t->f = f;
	t->lfd = -1;
	t->epfd = -1;
	f->impl = t;
	conf_read(cfg, &t->conf);
	if (!t->conf.connect_timeout_ns) {
		fsc_error("fabric tcp: --tcp-connect-timeout must be greater than 0");
		return -EINVAL;
	}
	rc = iface_resolve(t->conf.ifspec, &t->iface, why, sizeof(why));
	if (rc) {
		fsc_error("fabric tcp: %s", why);
		return rc;
	}
	t->peers = calloc((size_t)f->size, sizeof(*t->peers));
	if (!t->peers) {
		fsc_error("fabric tcp: out of memory for %d peers", f->size);
		return -ENOMEM;
	}
	for (int r = 0; r < f->size; r++) {
		t->peers[r].rank = r;
		t->peers[r].fd = -1;
	}
	/* More ranks than cores on this host: a rank spinning on its socket
	 * holds the core that the rank it waits for needs (Open MPI yields in
	 * the same case).  Otherwise ranks spin: a yield on a busy machine can
	 * hand the core to another process for a whole time slice. */
	t->yield = t->conf.yield == TCP_YIELD_ON ||
	           (t->conf.yield == TCP_YIELD_AUTO && f->boot &&
	            f->boot->local_size > sysconf(_SC_NPROCESSORS_ONLN));
	return 0;
}

static void peer_release(struct tcp_peer *p)
{
	struct tcp_umsg *u, *next;

	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
	for (u = p->uq_head; u; u = next) {
		next = u->next;
		free(u);
	}
	p->uq_head = p->uq_tail = NULL;
	free(p->stage);
	p->stage = NULL;
	/* The send queue's other entries are callers' requests, which may be
	 * gone by now: never walked here. */
	free(p->sq_owned);
	p->sq_owned = NULL;
}

static void tcp_destroy(struct fsc_fabric *f)
{
	struct tcp_fab *t = f->impl;

	if (!t)
		return;
	if (t->peers)
		for (int r = 0; r < f->size; r++)
			peer_release(&t->peers[r]);
	free(t->peers);
	if (t->lfd >= 0)
		close(t->lfd);
	if (t->epfd >= 0)
		close(t->epfd);
	free(t);
	f->impl = NULL;
}

/* ------------------------------------------------------------------------
 * Connection set-up
 * ------------------------------------------------------------------------ */

/* Buffer sizes must be set before listen()/connect() to take part in the
 * window-scale negotiation; accepted sockets inherit the listener's. */
static int sock_set_bufs(const struct tcp_fab *t, int fd)
{
	int v;

	if (t->conf.sndbuf) {
		v = (int)t->conf.sndbuf;
		if (setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v)))
			return -errno;
	}
	if (t->conf.rcvbuf) {
		v = (int)t->conf.rcvbuf;
		if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v)))
			return -errno;
	}
	return 0;
}

static int sock_set_nodelay(const struct tcp_fab *t, int fd)
{
	int v = t->conf.nodelay == TCP_NODELAY_ON;

	return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, sizeof(v)) ? -errno : 0;
}

static int listen_open(struct tcp_fab *t, struct sockaddr_in *me)
{
	struct sockaddr_in sa;
	socklen_t salen = sizeof(sa);
	char ip[INET_ADDRSTRLEN];
	int fd, rc;

	inet_ntop(AF_INET, &t->iface.addr, ip, sizeof(ip));
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		fsc_error("fabric tcp: socket(): %s", strerror(-rc));
		return rc;
	}
	rc = sock_set_bufs(t, fd);
	if (rc) {
		fsc_error("fabric tcp: setting socket buffer sizes: %s", strerror(-rc));
		goto fail;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr = t->iface.addr;
	sa.sin_port = 0;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, SOMAXCONN) ||
	    getsockname(fd, (struct sockaddr *)&sa, &salen)) {
		rc = -errno;
		fsc_error("fabric tcp: cannot listen on %s (%s): %s", ip, t->iface.name,
		          strerror(-rc));
		goto fail;
	}
	memset(me, 0, sizeof(*me));
	me->sin_family = AF_INET;
	me->sin_addr = sa.sin_addr;
	me->sin_port = sa.sin_port;
	t->lfd = fd;
	return 0;
fail:
	close(fd);
	return rc;
}

enum conn_state {
	CONN_CONNECTING, /* connect() in progress */
	CONN_SEND_HELLO, /* connector: sending our hello */
	CONN_WAIT_REPLY, /* connector: reading the peer's hello */
	CONN_WAIT_HELLO, /* acceptor: reading the connector's hello */
	CONN_SEND_REPLY, /* acceptor: sending our hello */
	CONN_DONE,
	CONN_DROPPED,
};

struct tcp_conn {
	int fd;
	int peer; /* -1: accepted, not identified yet */
	enum conn_state state;
	size_t io; /* hello bytes moved in the current state */
	struct tcp_hello out, in;
	struct sockaddr_in sa; /* the other end */
};

struct tcp_mesh {
	struct tcp_fab *t;
	const struct sockaddr_in *addrs;
	struct tcp_conn *conns;
	size_t nconns, cap;
	struct pollfd *pfds;
	size_t *pidx; /* pfds[i + 1] watches conns[pidx[i]] */
	int left;     /* peers still to connect */
	int accepted; /* lower ranks identified */
};

static const char *sa_str(const struct sockaddr_in *sa, char *buf, size_t len)
{
	char ip[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &sa->sin_addr, ip, sizeof(ip));
	snprintf(buf, len, "%s:%u", ip, (unsigned)ntohs(sa->sin_port));
	return buf;
}

/* Room for one more connection (and its pollfd); 0 or a logged -ENOMEM. */
static int mesh_grow(struct tcp_mesh *m)
{
	size_t cap = m->cap ? 2 * m->cap : 16;
	struct tcp_conn *c;
	struct pollfd *p;
	size_t *x;

	if (m->pfds && m->nconns < m->cap)
		return 0;
	c = realloc(m->conns, cap * sizeof(*c));
	if (c)
		m->conns = c;
	p = realloc(m->pfds, (cap + 1) * sizeof(*p));
	if (p)
		m->pfds = p;
	x = realloc(m->pidx, cap * sizeof(*x));
	if (x)
		m->pidx = x;
	if (!c || !p || !x) {
		fsc_error("fabric tcp: out of memory while connecting");
		return -ENOMEM;
	}
	m->cap = cap;
	return 0;
}

static struct tcp_conn *mesh_add(struct tcp_mesh *m)
{
	if (mesh_grow(m))
		return NULL;
	memset(&m->conns[m->nconns], 0, sizeof(m->conns[0]));
	m->conns[m->nconns].fd = -1;
	return &m->conns[m->nconns++];
}

static void hello_fill(const struct tcp_fab *t, struct tcp_hello *h)
{
	h->magic = htonl(TCP_HELLO_MAGIC);
	h->version = htonl(TCP_HELLO_VERSION);
	h->rank = htonl((uint32_t)t->f->rank);
	h->size = htonl((uint32_t)t->f->size);
}

/* Start a non-blocking connect to a higher rank.  0 or a logged error. */
static int conn_start(struct tcp_mesh *m, int peer)
{
	struct tcp_fab *t = m->t;
	struct tcp_conn *c = mesh_add(m);
	struct sockaddr_in src;
	char ab[64];
	int fd, rc, one = 1;

	if (!c)
		return -ENOMEM;
	c->peer = peer;
	c->sa = m->addrs[peer];
	hello_fill(t, &c->out);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		fsc_error("fabric tcp: socket() for rank %d: %s", peer, strerror(-rc));
		return rc;
	}
	c->fd = fd;
	rc = sock_set_bufs(t, fd);
	if (rc) {
		fsc_error("fabric tcp: setting socket buffer sizes: %s", strerror(-rc));
		return rc;
	}
	/* Source address = the chosen interface; the port is picked at
	 * connect() time so that many peers do not exhaust bind()'s ports. */
#ifdef IP_BIND_ADDRESS_NO_PORT
	(void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
#else
	(void)one;
#endif
	memset(&src, 0, sizeof(src));
	src.sin_family = AF_INET;
	src.sin_addr = t->iface.addr;
	if (bind(fd, (struct sockaddr *)&src, sizeof(src))) {
		rc = -errno;
		fsc_error("fabric tcp: bind to %s for rank %d: %s", t->iface.name, peer,
		          strerror(-rc));
		return rc;
	}
	c->state = CONN_CONNECTING;
	if (!connect(fd, (const struct sockaddr *)&c->sa, sizeof(c->sa))) {
		c->state = CONN_SEND_HELLO;
		return 0;
	}
	if (errno == EINPROGRESS || errno == EINTR)
		return 0; /* completes asynchronously; poll reports it */
	rc = -errno;
	fsc_error("fabric tcp: cannot connect to rank %d (host %s) at %s: %s", peer,
	          peer_host(t, peer), sa_str(&c->sa, ab, sizeof(ab)), strerror(-rc));
	return -EIO;
}

static void conn_drop(struct tcp_conn *c, const char *why)
{
	char ab[64];

	fsc_warn("fabric tcp: dropped a connection from %s: %s", sa_str(&c->sa, ab, sizeof(ab)),
	         why);
	close(c->fd);
	c->fd = -1;
	c->state = CONN_DROPPED;
}

/* Move hello bytes.  1: all 16 moved; 0: would block; -EPIPE: the peer
 * closed; another negative errno on a socket error. */
static int hello_io(struct tcp_conn *c, int sending)
{
	char *base = sending ? (char *)&c->out : (char *)&c->in;
	ssize_t n;

	while (c->io < sizeof(struct tcp_hello)) {
		if (sending)
			n = send(c->fd, base + c->io, sizeof(struct tcp_hello) - c->io,
			         MSG_NOSIGNAL);
		else
			n = recv(c->fd, base + c->io, sizeof(struct tcp_hello) - c->io, 0);
		if (n > 0) {
			c->io += (size_t)n;
			continue;
		}
		if (n == 0)
			return -EPIPE;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		return -errno;
	}
	return 1;
}

static void conn_finish(struct tcp_mesh *m, struct tcp_conn *c)
{
	struct tcp_fab *t = m->t;
	int rc = sock_set_nodelay(t, c->fd);

	if (rc)
		fsc_warn("fabric tcp: TCP_NODELAY for rank %d: %s", c->peer, strerror(-rc));
	t->peers[c->peer].fd = c->fd;
	c->fd = -1; /* owned by the peer now */
	c->state = CONN_DONE;
	m->left--;
}

/* Check an acceptor-side hello; NULL if it names a lower rank of this job
 * that is not connected yet, else why not. */
static const char *hello_check(struct tcp_mesh *m, const struct tcp_hello *h)
{
	struct tcp_fab *t = m->t;
	uint32_t r = ntohl(h->rank);

	if (ntohl(h->magic) != TCP_HELLO_MAGIC || ntohl(h->version) != TCP_HELLO_VERSION)
		return "not a fabscope tcp hello";
	if (ntohl(h->size) != (uint32_t)t->f->size)
		return "from a job of another size";
	if (r >= (uint32_t)t->f->rank)
		return "from a rank that should be accepting, not connecting";
	if (t->peers[r].fd >= 0)
		return "from a rank that is already connected";
	for (size_t i = 0; i < m->nconns; i++)
		if (m->conns[i].peer == (int)r && m->conns[i].state != CONN_DROPPED)
			return "from a rank that is already connecting";
	return NULL;
}

/* Advance one connection as far as it goes without blocking.  0, or a
 * logged negative error that ends the whole connect. */
static int conn_step(struct tcp_mesh *m, struct tcp_conn *c)
{
	struct tcp_fab *t = m->t;
	char ab[64];
	const char *why;
	int rc, err = 0;
	socklen_t elen = sizeof(err);

	switch (c->state) {
	case CONN_CONNECTING:
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &elen))
			err = errno;
		if (err == EINPROGRESS || err == EALREADY)
			return 0;
		if (err) {
			fsc_error("fabric tcp: cannot connect to rank %d (host %s) at %s: %s",
			          c->peer, peer_host(t, c->peer), sa_str(&c->sa, ab, sizeof(ab)),
			          strerror(err));
			return -EIO;
		}
		c->state = CONN_SEND_HELLO;
		c->io = 0;
		/* fall through */
	case CONN_SEND_HELLO:
		rc = hello_io(c, 1);
		if (rc < 0)
			goto broken;
		if (!rc)
			return 0;
		c->state = CONN_WAIT_REPLY;
		c->io = 0;
		/* fall through */
	case CONN_WAIT_REPLY:
		rc = hello_io(c, 0);
		if (rc < 0)
			goto broken;
		if (!rc)
			return 0;
		if (ntohl(c->in.magic) != TCP_HELLO_MAGIC ||
		    ntohl(c->in.version) != TCP_HELLO_VERSION ||
		    ntohl(c->in.rank) != (uint32_t)c->peer ||
		    ntohl(c->in.size) != (uint32_t)t->f->size) {
			fsc_error("fabric tcp: rank %d (host %s) at %s answered with an invalid "
			          "hello (rank %u of %u): another process owns that port?",
			          c->peer, peer_host(t, c->peer), sa_str(&c->sa, ab, sizeof(ab)),
			          ntohl(c->in.rank), ntohl(c->in.size));
			return -EIO;
		}
		conn_finish(m, c);
		return 0;
	case CONN_WAIT_HELLO:
		rc = hello_io(c, 0);
		if (rc < 0) {
			conn_drop(c, rc == -EPIPE ? "closed before it identified itself"
			                          : strerror(-rc));
			return 0;
		}
		if (!rc)
			return 0;
		why = hello_check(m, &c->in);
		if (why) {
			conn_drop(c, why);
			return 0;
		}
		c->peer = (int)ntohl(c->in.rank);
		hello_fill(t, &c->out);
		c->state = CONN_SEND_REPLY;
		c->io = 0;
		m->accepted++;
		/* fall through */
	case CONN_SEND_REPLY:
		rc = hello_io(c, 1);
		if (rc < 0)
			goto broken;
		if (!rc)
			return 0;
		conn_finish(m, c);
		return 0;
	case CONN_DONE:
	case CONN_DROPPED: return 0;
	}
	return 0;
broken:
	fsc_error("fabric tcp: connection to rank %d (host %s) at %s broke during the "
	          "handshake: %s",
	          c->peer, peer_host(t, c->peer), sa_str(&c->sa, ab, sizeof(ab)),
	          rc == -EPIPE ? "closed by the peer" : strerror(-rc));
	return -EIO;
}

static int mesh_accept(struct tcp_mesh *m)
{
	struct tcp_fab *t = m->t;

	for (;;) {
		struct sockaddr_in sa;
		socklen_t salen = sizeof(sa);
		struct tcp_conn *c;
		int fd = accept4(t->lfd, (struct sockaddr *)&sa, &salen,
		                 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			fsc_error("fabric tcp: accept(): %s", strerror(errno));
			return -EIO;
		}
		c = mesh_add(m);
		if (!c) {
			close(fd);
			return -ENOMEM;
		}
		c->fd = fd;
		c->peer = -1;
		c->sa = sa;
		c->state = CONN_WAIT_HELLO;
		if (conn_step(m, c))
			return -EIO;
	}
}

/* Name every peer still missing at the deadline, rank and host. */
static void mesh_report_timeout(struct tcp_mesh *m)
{
	struct tcp_fab *t = m->t;
	double s = (double)t->conf.connect_timeout_ns / 1e9;
	int named = 0, missing = 0;
	char ab[64];

	for (int p = 0; p < t->f->size; p++) {
		const struct tcp_conn *c = NULL;

		if (p == t->f->rank || t->peers[p].fd >= 0)
			continue;
		if (++missing > TCP_MAX_NAMED)
			continue;
		named++;
		for (size_t i = 0; i < m->nconns; i++)
			if (m->conns[i].peer == p && m->conns[i].state != CONN_DROPPED)
				c = &m->conns[i];
		if (p > t->f->rank && c && c->state == CONN_CONNECTING)
			fsc_error("fabric tcp: rank %d (host %s) at %s did not accept a "
			          "connection within %.3g s (--tcp-connect-timeout)",
			          p, peer_host(t, p), sa_str(&m->addrs[p], ab, sizeof(ab)), s);
		else if (p > t->f->rank)
			fsc_error("fabric tcp: rank %d (host %s) at %s did not answer the "
			          "connection handshake within %.3g s (--tcp-connect-timeout)",
			          p, peer_host(t, p), sa_str(&m->addrs[p], ab, sizeof(ab)), s);
		else
			fsc_error("fabric tcp: rank %d (host %s) never connected within %.3g s "
			          "(--tcp-connect-timeout)",
			          p, peer_host(t, p), s);
	}
	if (missing > named)
		fsc_error("fabric tcp: ... and %d more peers did not connect", missing - named);
}

/* Longest poll() of the connection set-up: the watchdog is answered in
 * between. */
#define MESH_WD_MS 100

/* Connect to every peer: lower rank connects, both sides send a hello.
 * Bounded by --tcp-connect-timeout. */
static int mesh_run(struct tcp_fab *t, const struct sockaddr_in *addrs)
{
	struct tcp_mesh m = {.t = t, .addrs = addrs, .left = t->f->size - 1};
	uint64_t deadline = fsc_time_real_ns() + t->conf.connect_timeout_ns;
	int rc = mesh_grow(&m); /* pfds[0] exists even with no connection */

	for (int p = t->f->rank + 1; p < t->f->size && !rc; p++)
		rc = conn_start(&m, p);
	for (size_t i = 0; i < m.nconns && !rc; i++)
		rc = conn_step(&m, &m.conns[i]);
	while (!rc && m.left > 0) {
		uint64_t now = fsc_time_real_ns();
		size_t np = 1;
		int n;

		if (now >= deadline) {
			mesh_report_timeout(&m);
			rc = -ETIMEDOUT;
			break;
		}
		/* Answer the watchdog at least every MESH_WD_MS. */
		rc = fsc_watchdog_poll(t->f->boot);
		if (rc)
			break;
		m.pfds[0].fd = m.accepted < t->f->rank ? t->lfd : -1;
		m.pfds[0].events = POLLIN;
		m.pfds[0].revents = 0;
		for (size_t i = 0; i < m.nconns; i++) {
			struct tcp_conn *c = &m.conns[i];
			short ev;

			if (c->state == CONN_DONE || c->state == CONN_DROPPED)
				continue;
			ev = (c->state == CONN_CONNECTING || c->state == CONN_SEND_HELLO ||
			      c->state == CONN_SEND_REPLY)
			             ? POLLOUT
			             : POLLIN;
			m.pfds[np].fd = c->fd;
			m.pfds[np].events = ev;
			m.pfds[np].revents = 0;
			m.pidx[np - 1] = i;
			np++;
		}
		n = poll(m.pfds, np,
		         (int)((deadline - now + 999999) / 1000000 > MESH_WD_MS
		                       ? MESH_WD_MS
		                       : (deadline - now + 999999) / 1000000));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fsc_error("fabric tcp: poll(): %s", strerror(errno));
			rc = -EIO;
			break;
		}
		for (size_t i = 1; i < np && !rc; i++)
			if (m.pfds[i].revents)
				rc = conn_step(&m, &m.conns[m.pidx[i - 1]]);
		if (!rc && m.pfds[0].revents)
			rc = mesh_accept(&m);
	}
	for (size_t i = 0; i < m.nconns; i++)
		if (m.conns[i].fd >= 0)
			close(m.conns[i].fd);
	free(m.conns);
	free(m.pfds);
	free(m.pidx);
	return rc;
}

static int epoll_setup(struct tcp_fab *t)
{
	t->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (t->epfd < 0) {
		fsc_error("fabric tcp: epoll_create1(): %s", strerror(errno));
		return -EIO;
	}
	for (int r = 0; r < t->f->size; r++) {
		struct tcp_peer *p = &t->peers[r];
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = p};

		if (p->fd < 0)
			continue;
		p->stage = malloc(TCP_STAGE_BYTES);
		if (!p->stage) {
			fsc_error("fabric tcp: out of memory for connection buffers");
			return -ENOMEM;
		}
		if (epoll_ctl(t->epfd, EPOLL_CTL_ADD, p->fd, &ev)) {
			fsc_error("fabric tcp: epoll_ctl(): %s", strerror(errno));
			return -EIO;
		}
	}
	return 0;
}

/* Collective (one allgather), then point-to-point under a deadline. */
static int tcp_connect(struct fsc_fabric *f)
{
	struct tcp_fab *t = f->impl;
	struct sockaddr_in me, *all;
	int lrc, rc;

	all = calloc((size_t)f->size, sizeof(*all));
	if (!all) {
		fsc_error("fabric tcp: out of memory for %d addresses", f->size);
		return -ENOMEM;
	}
	/* A failed listener still takes part in the exchange (port 0), so that
	 * the other ranks fail at once instead of waiting for it. */
	memset(&me, 0, sizeof(me));
	lrc = listen_open(t, &me);
	rc = fsc_boot_allgather(f->boot, &me, all, sizeof(me));
	if (rc) {
		fsc_error("fabric tcp: address exchange failed: %s", fsc_strerror(rc));
		goto out;
	}
	rc = lrc;
	if (rc)
		goto out;
	for (int p = 0; p < f->size; p++)
		if (!all[p].sin_port) {
			fsc_error("fabric tcp: rank %d (host %s) published no address (its "
			          "listener failed)",
			          p, peer_host(t, p));
			rc = -EIO;
			goto out;
		}
	fsc_debug("fabric tcp: listening on %s (%s), connecting %d peers", t->iface.name,
	          inet_ntoa(t->iface.addr), f->size - 1);
	rc = mesh_run(t, all);
	if (!rc)
		rc = epoll_setup(t);
out:
	if (t->lfd >= 0)
		close(t->lfd);
	t->lfd = -1;
	free(all);
	return rc;
}

/* ------------------------------------------------------------------------
 * Data path
 * ------------------------------------------------------------------------ */

static void op_init(struct fsc_req *req, const void *buf)
{
	struct tcp_op *op = op_of(req);

	op->next = NULL;
	op->buf = (char *)(uintptr_t)buf;
	op->off = 0;
	op->done = 0;
	op->rc = 0;
	op->hdr_off = 0;
}

static void op_complete(struct fsc_req *req, int rc)
{
	op_of(req)->rc = rc;
	op_of(req)->done = 1;
}

static void req_append(struct fsc_req **head, struct fsc_req **tail, struct fsc_req *r)
{
	op_of(r)->next = NULL;
	if (*tail)
		op_of(*tail)->next = r;
	else
		*head = r;
	*tail = r;
}

/* Unlink r, which follows prev (NULL: r is the head). */
static void req_remove(struct fsc_req **head, struct fsc_req **tail, struct fsc_req *prev,
                       struct fsc_req *r)
{
	if (prev)
		op_of(prev)->next = op_of(r)->next;
	else
		*head = op_of(r)->next;
	if (*tail == r)
		*tail = prev;
	op_of(r)->next = NULL;
}

/* Unlink and return the first request of the list with this tag. */
static struct fsc_req *req_take_tag(struct fsc_req **head, struct fsc_req **tail, int tag)
{
	struct fsc_req *prev = NULL;

	for (struct fsc_req *r = *head; r; prev = r, r = op_of(r)->next) {
		if (r->tag != tag)
			continue;
		req_remove(head, tail, prev, r);
		return r;
	}
	return NULL;
}

/* A send left the queue: complete it, or free it when it is the fabric's
 * own copy of a cancelled send. */
static void send_done(struct tcp_peer *p, struct fsc_req *r, int rc)
{
	if (r == p->sq_owned) {
		free(r);
		p->sq_owned = NULL;
	} else {
		op_complete(r, rc);
	}
}

static void fail_list(struct tcp_peer *p, struct fsc_req **head, struct fsc_req **tail, int rc)
{
	struct fsc_req *r = *head, *next;

	for (; r; r = next) {
		next = op_of(r)->next;
		send_done(p, r, rc);
	}
	*head = *tail = NULL;
}

/* Unlink r from a list; false when it is not there. */
static bool req_unlink(struct fsc_req **head, struct fsc_req **tail, struct fsc_req *r)
{
	struct fsc_req *prev = NULL;

	for (struct fsc_req *x = *head; x; prev = x, x = op_of(x)->next) {
		if (x != r)
			continue;
		req_remove(head, tail, prev, r);
		return true;
	}
	return false;
}

static void umsg_unlink(struct tcp_peer *p, struct tcp_umsg *u)
{
	struct tcp_umsg *prev = NULL;

	for (struct tcp_umsg *x = p->uq_head; x; prev = x, x = x->next) {
		if (x != u)
			continue;
		if (prev)
			prev->next = u->next;
		else
			p->uq_head = u->next;
		if (p->uq_tail == u)
			p->uq_tail = prev;
		return;
	}
}

static void peer_close_fd(struct tcp_fab *t, struct tcp_peer *p)
{
	if (p->fd < 0)
		return;
	if (t->epfd >= 0)
		(void)epoll_ctl(t->epfd, EPOLL_CTL_DEL, p->fd, NULL);
	close(p->fd);
	p->fd = -1;
	p->out_armed = 0;
}

static void rx_reset(struct tcp_peer *p)
{
	p->rx_body = 0;
	p->rx_req = NULL;
	p->rx_umsg = NULL;
	p->rx_dst = NULL;
	p->rx_left = 0;
}

/* The connection to p is unusable: log once (rank and host), close it and
 * fail every request pending on it.  Complete unexpected messages stay
 * matchable. */
static void fail_peer(struct tcp_fab *t, struct tcp_peer *p, int rc, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
static void fail_peer(struct tcp_fab *t, struct tcp_peer *p, int rc, const char *fmt, ...)
{
	char why[256];
	va_list ap;

	if (p->err)
		return;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	fsc_error("fabric tcp: connection to rank %d (host %s) failed: %s", p->rank,
	          peer_host(t, p->rank), why);
	p->err = rc;
	peer_close_fd(t, p);
	fail_list(p, &p->sq_head, &p->sq_tail, rc);
	fail_list(p, &p->rq_head, &p->rq_tail, rc);
	if (p->rx_req)
		op_complete(p->rx_req, rc);
	if (p->rx_umsg) {
		umsg_unlink(p, p->rx_umsg);
		free(p->rx_umsg);
	}
	rx_reset(p);
	p->spos = p->slen = 0;
}

/* An operation posted to a peer whose connection is gone. */
static int peer_gone(struct tcp_fab *t, struct tcp_peer *p, const char *what, size_t bytes, int tag)
{
	if (p->err)
		return p->err; /* logged when it failed */
	fsc_error("fabric tcp: %s of %zu B (tag %d) %s rank %d (host %s): %s", what, bytes, tag,
	          strcmp(what, "send") ? "from" : "to", p->rank, peer_host(t, p->rank),
	          p->eof ? "the peer has closed its connection" : "not connected");
	return -EIO;
}

static int poisoned_refuse(struct tcp_fab *t, struct tcp_peer *p, const char *what, size_t bytes,
                           int tag)
{
	fsc_error("fabric tcp: %s of %zu B (tag %d) %s rank %d (host %s) refused: an earlier "
	          "operation with that rank was cancelled, so matching can no longer be trusted",
	          what, bytes, tag, strcmp(what, "send") ? "from" : "to", p->rank,
	          peer_host(t, p->rank));
	return -EIO;
}

static void size_mismatch(struct tcp_fab *t, int peer, int tag, size_t want, uint64_t got)
{
	fsc_error("fabric tcp: receive of %zu B from rank %d (host %s, tag %d) matched a "
	          "message of %llu B; sizes must be equal",
	          want, peer, peer_host(t, peer), tag, (unsigned long long)got);
}

static void rx_finish(struct tcp_peer *p)
{
	if (p->rx_req)
		op_complete(p->rx_req, 0);
	rx_reset(p);
}

/* A header arrived: match it to the first posted receive with its tag, or
 * keep the message as unexpected.  0, or the peer failed (logged). */
static int rx_start(struct tcp_fab *t, struct tcp_peer *p, const struct tcp_hdr *h)
{
	uint64_t bytes = be64toh(h->bytes);
	int tag = (int)(int32_t)be32toh(h->tag);
	struct fsc_req *r;

	if (be32toh(h->magic) != TCP_MSG_MAGIC) {
		fail_peer(t, p, -EIO, "protocol error: bad message header");
		return -EIO;
	}
	rx_reset(p);
	p->rx_body = 1;
	p->rx_tag = tag;
	p->rx_bytes = bytes;
	p->rx_left = (size_t)bytes;
	if (p->poisoned) {
		/* Read and dropped (rx_dst NULL): see the top of this file. */
		fsc_debug("fabric tcp: dropping a %llu B message (tag %d) from rank %d, "
		          "poisoned by a cancel",
		          (unsigned long long)bytes, tag, p->rank);
		if (!bytes)
			rx_finish(p);
		return 0;
	}
	r = req_take_tag(&p->rq_head, &p->rq_tail, tag);
	if (r && r->bytes != bytes) {
		size_mismatch(t, p->rank, tag, r->bytes, bytes);
		op_complete(r, -EIO); /* and the payload is discarded */
	} else if (r) {
		p->rx_req = r;
		p->rx_dst = op_of(r)->buf;
	} else {
		struct tcp_umsg *u = NULL;

		if (bytes <= SIZE_MAX - sizeof(*u))
			u = malloc(sizeof(*u) + (size_t)bytes);
		if (!u) {
			fail_peer(t, p, -ENOMEM,
			          "out of memory for an unexpected message of %llu B (tag %d)",
			          (unsigned long long)bytes, tag);
			return -ENOMEM;
		}
		u->next = NULL;
		u->tag = tag;
		u->bytes = (size_t)bytes;
		if (p->uq_tail)
			p->uq_tail->next = u;
		else
			p->uq_head = u;
		p->uq_tail = u;
		p->rx_umsg = u;
		p->rx_dst = u->data;
	}
	if (!bytes)
		rx_finish(p);
	return 0;
}

/* Parse what the staging buffer holds: headers, and payload bytes that
 * came in behind them. */
static void rx_consume(struct tcp_fab *t, struct tcp_peer *p)
{
	while (p->fd >= 0) {
		size_t avail = p->slen - p->spos, k;

		if (!p->rx_body) {
			struct tcp_hdr h;

			if (avail < TCP_HDR_BYTES)
				break;
			memcpy(&h, p->stage + p->spos, sizeof(h));
			p->spos += sizeof(h);
			if (rx_start(t, p, &h))
				return;
			continue;
		}
		if (!avail)
			break;
		k = avail < p->rx_left ? avail : p->rx_left;
		if (p->rx_dst) {
			memcpy(p->rx_dst, p->stage + p->spos, k);
			p->rx_dst += k;
		}
		p->spos += k;
		p->rx_left -= k;
		if (!p->rx_left)
			rx_finish(p);
	}
	if (p->spos == p->slen) {
		p->spos = p->slen = 0;
	} else if (p->spos) { /* a partial header: keep it at the front */
		memmove(p->stage, p->stage + p->spos, p->slen - p->spos);
		p->slen -= p->spos;
		p->spos = 0;
	}
}

static void peer_eof(struct tcp_fab *t, struct tcp_peer *p)
{
	int nr = 0, ns = 0;

	if (p->rx_body) {
		fail_peer(t, p, -EIO,
		          "closed in the middle of a %llu B message (tag %d, %zu B missing)",
		          (unsigned long long)p->rx_bytes, p->rx_tag, p->rx_left);
		return;
	}
	if (p->slen) {
		fail_peer(t, p, -EIO, "closed in the middle of a message header");
		return;
	}
	for (struct fsc_req *r = p->rq_head; r; r = op_of(r)->next)
		nr++;
	for (struct fsc_req *r = p->sq_head; r; r = op_of(r)->next)
		ns++;
	if (nr || ns) {
		fail_peer(t, p, -EIO, "closed with %d receive(s) and %d send(s) pending", nr, ns);
		return;
	}
	fsc_debug("fabric tcp: rank %d (host %s) closed its connection", p->rank,
	          peer_host(t, p->rank));
	p->eof = 1;
	peer_close_fd(t, p);
}

/* Read what the socket has: the rest of the current payload straight into
 * its destination, whatever follows into the staging buffer.  Returns the
 * bytes read. */
static size_t peer_read(struct tcp_fab *t, struct tcp_peer *p)
{
	size_t total = 0;

	for (;;) {
		struct iovec iov[2];
		size_t direct = 0, want, got;
		int cnt = 0;
		ssize_t n;

		rx_consume(t, p);
		if (p->fd < 0)
			return total;
		if (p->rx_body && p->rx_dst) { /* staging is empty here */
			direct = p->rx_left;
			iov[cnt].iov_base = p->rx_dst;
			iov[cnt++].iov_len = direct;
		}
		iov[cnt].iov_base = p->stage + p->slen;
		iov[cnt++].iov_len = TCP_STAGE_BYTES - p->slen;
		want = direct + TCP_STAGE_BYTES - p->slen;
		n = readv(p->fd, iov, cnt);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				fail_peer(t, p, -EIO, "%s", strerror(errno));
			return total;
		}
		if (!n) {
			peer_eof(t, p);
			return total;
		}
		got = (size_t)n;
		total += got;
		if (direct) {
			size_t k = got < direct ? got : direct;

			p->rx_dst += k;
			p->rx_left -= k;
			if (!p->rx_left)
				rx_finish(p);
			p->slen += got - k;
		} else {
			p->slen += got;
		}
		if (got < want) { /* drained: level-triggered epoll reports more */
			rx_consume(t, p);
			return total;
		}
	}
}

static int peer_arm_out(struct tcp_fab *t, struct tcp_peer *p, int on)
{
	struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = p};

	if (p->out_armed == on)
		return 0;
	if (epoll_ctl(t->epfd, EPOLL_CTL_MOD, p->fd, &ev)) {
		fail_peer(t, p, -EIO, "epoll_ctl(): %s", strerror(errno));
		return -EIO;
	}
	p->out_armed = on;
	return 0;
}

/* Account n written bytes to a send; returns how many it took. */
static size_t send_advance(struct fsc_req *r, size_t n)
{
	struct tcp_op *op = op_of(r);
	size_t used = 0, k;

	if (op->hdr_off < TCP_HDR_BYTES) {
		k = TCP_HDR_BYTES - op->hdr_off;
		k = n < k ? n : k;
		op->hdr_off += (uint32_t)k;
		n -= k;
		used += k;
	}
	k = r->bytes - op->off;
	k = n < k ? n : k;
	op->off += k;
	return used + k;
}

static bool send_finished(struct fsc_req *r)
{
	return op_of(r)->hdr_off == TCP_HDR_BYTES && op_of(r)->off == r->bytes;
}

static int send_iov(const struct fsc_req *r, struct iovec *iov)
{
	struct tcp_op *op = op_of((struct fsc_req *)(uintptr_t)r);
	int cnt = 0;

	if (op->hdr_off < TCP_HDR_BYTES) {
		iov[cnt].iov_base = (char *)&op->hdr + op->hdr_off;
		iov[cnt++].iov_len = TCP_HDR_BYTES - op->hdr_off;
	}
	if (op->off < r->bytes) {
		iov[cnt].iov_base = op->buf + op->off;
		iov[cnt++].iov_len = r->bytes - op->off;
	}
	return cnt;
}

/* sendmsg without SIGPIPE; EINTR retried.  Bytes written, 0 when the
 * socket is full, or -errno. */
static ssize_t sock_writev(int fd, struct iovec *iov, int cnt)
{
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)cnt};
	ssize_t n;

	do
		n = sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n >= 0)
		return n;
	return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
}

/* Write as much of the send queue as the socket takes, many sends per
 * system call.  Returns the bytes written. */
static size_t peer_flush(struct tcp_fab *t, struct tcp_peer *p)
{
	size_t total = 0;

	while (p->sq_head) {
		struct iovec iov[TCP_MAX_IOV];
		size_t want = 0, left;
		int cnt = 0;
		ssize_t n;

		for (struct fsc_req *r = p->sq_head; r && cnt + 2 <= TCP_MAX_IOV;
		     r = op_of(r)->next) {
			int c = send_iov(r, iov + cnt);

			for (int i = 0; i < c; i++)
				want += iov[cnt + i].iov_len;
			cnt += c;
		}
		n = sock_writev(p->fd, iov, cnt);
		if (n < 0) {
			fail_peer(t, p, -EIO, "%s", strerror((int)-n));
			return total;
		}
		left = (size_t)n;
		total += left;
		while (p->sq_head) {
			struct fsc_req *r = p->sq_head;

			left -= send_advance(r, left);
			if (!send_finished(r))
				break;
			p->sq_head = op_of(r)->next;
			if (!p->sq_head)
				p->sq_tail = NULL;
			send_done(p, r, 0);
		}
		if ((size_t)n < want)
			break; /* the socket is full */
	}
	(void)peer_arm_out(t, p, p->sq_head != NULL);
	return total;
}

/* Sends to self: delivered at once into a posted receive, or kept as a
 * complete unexpected message.  Either way the send completes now. */
static int self_send(struct tcp_fab *t, struct tcp_peer *p, struct fsc_req *req, const void *buf,
                     size_t bytes, int tag)
{
	struct fsc_req *r = req_take_tag(&p->rq_head, &p->rq_tail, tag);
	struct tcp_umsg *u;

	if (r) {
		if (r->bytes != bytes) {
			size_mismatch(t, p->rank, tag, r->bytes, bytes);
			op_complete(r, -EIO);
		} else {
			if (bytes)
				memcpy(op_of(r)->buf, buf, bytes);
			op_complete(r, 0);
		}
		op_complete(req, 0);
		return 0;
	}
	u = malloc(sizeof(*u) + bytes);
	if (!u) {
		fsc_error("fabric tcp: out of memory for a %zu B message to self", bytes);
		return -ENOMEM;
	}
	u->next = NULL;
	u->tag = tag;
	u->bytes = bytes;
	if (bytes)
		memcpy(u->data, buf, bytes);
	if (p->uq_tail)
		p->uq_tail->next = u;
	else
		p->uq_head = u;
	p->uq_tail = u;
	op_complete(req, 0);
	return 0;
}

static int check_peer(struct fsc_fabric *f, int peer, const char *what)
{
	if (peer >= 0 && peer < f->size && f->impl)
		return 0;
	fsc_error("fabric tcp: %s rank %d: no such rank (size %d)", what, peer, f->size);
	return -EINVAL;
}

static int tcp_isend(struct fsc_fabric *f, int peer, const void *buf, size_t bytes, int tag,
                     struct fsc_req *req)
{
	struct tcp_fab *t = f->impl;
	struct tcp_peer *p;
	struct tcp_op *op = op_of(req);
	struct iovec iov[2];
	ssize_t n;
	int rc;

	rc = check_peer(f, peer, "send to");
	if (rc)
		return rc;
	req->peer = peer;
	req->tag = tag;
	req->bytes = bytes;
	req->is_recv = 0;
	op_init(req, buf);
	p = &t->peers[peer];
	if (peer == f->rank)
		return self_send(t, p, req, buf, bytes, tag);
	if (p->poisoned)
		return poisoned_refuse(t, p, "send", bytes, tag);
	if (p->fd < 0)
		return peer_gone(t, p, "send", bytes, tag);
	op->hdr.magic = htobe32(TCP_MSG_MAGIC);
	op->hdr.tag = htobe32((uint32_t)tag);
	op->hdr.bytes = htobe64((uint64_t)bytes);
	if (!p->sq_head) {
		/* The common case: header and payload in one system call. */
		n = sock_writev(p->fd, iov, send_iov(req, iov));
		if (n < 0) {
			fail_peer(t, p, -EIO, "%s", strerror((int)-n));
			return p->err;
		}
		send_advance(req, (size_t)n);
		if (send_finished(req)) {
			op_complete(req, 0);
			return 0;
		}
	}
	req_append(&p->sq_head, &p->sq_tail, req);
	rc = peer_arm_out(t, p, 1);
	return rc ? p->err : 0;
}

static int tcp_irecv(struct fsc_fabric *f, int peer, void *buf, size_t bytes, int tag,
                     struct fsc_req *req)
{
	struct tcp_fab *t = f->impl;
	struct tcp_peer *p;
	struct tcp_umsg *u;
	int rc;

	rc = check_peer(f, peer, "receive from");
	if (rc)
		return rc;
	req->peer = peer;
	req->tag = tag;
	req->bytes = bytes;
	req->is_recv = 1;
	op_init(req, buf);
	p = &t->peers[peer];
	if (p->poisoned)
		return poisoned_refuse(t, p, "receive", bytes, tag);
	for (u = p->uq_head; u && u->tag != tag; u = u->next)
		;
	if (u) {
		/* The first unexpected message with this tag is this receive's;
		 * it may still be arriving (then the rest goes straight into
		 * buf). */
		size_t got = u == p->rx_umsg ? u->bytes - p->rx_left : u->bytes;

		umsg_unlink(p, u);
		if (u->bytes != bytes) {
			size_mismatch(t, peer, tag, bytes, u->bytes);
			op_complete(req, -EIO);
			if (u == p->rx_umsg) {
				p->rx_umsg = NULL;
				p->rx_dst = NULL; /* discard the rest */
			}
		} else {
			if (got)
				memcpy(buf, u->data, got);
			if (u == p->rx_umsg) {
				p->rx_umsg = NULL;
				p->rx_req = req;
				p->rx_dst = (char *)buf + got;
			} else {
				op_complete(req, 0);
			}
		}
		free(u);
		return 0;
	}
	if (peer != f->rank && p->fd < 0)
		return peer_gone(t, p, "receive", bytes, tag);
	req_append(&p->rq_head, &p->rq_tail, req);
	return 0;
}

/* Poll every connection once and handle what is ready; wait_ns > 0 sleeps
 * up to that long for something to become ready. */
static int tcp_poll(struct tcp_fab *t, uint64_t wait_ns)
{
	struct timespec ts = {(time_t)(wait_ns / 1000000000u), (long)(wait_ns % 1000000000u)};
	int n;

	if (t->epfd < 0)
		return 0;
	if (!wait_ns)
		n = epoll_wait(t->epfd, t->events, TCP_MAX_EVENTS, 0);
	else if (!t->no_pwait2)
		n = epoll_pwait2(t->epfd, t->events, TCP_MAX_EVENTS, &ts, NULL);
	else /* kernels before 5.11: millisecond resolution */
		n = epoll_wait(t->epfd, t->events, TCP_MAX_EVENTS,
		               (int)((wait_ns + 999999u) / 1000000u));
	if (n < 0 && errno == ENOSYS && wait_ns && !t->no_pwait2) {
		t->no_pwait2 = 1;
		return 0;
	}
	if (n < 0) {
		if (errno == EINTR)
			return 0;
		fsc_error("fabric tcp: epoll_wait(): %s", strerror(errno));
		return -EIO;
	}
	for (int i = 0; i < n; i++) {
		struct tcp_peer *p = t->events[i].data.ptr;
		uint32_t ev = t->events[i].events;

		if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP))
			(void)peer_read(t, p);
		if (p->fd >= 0 && (ev & EPOLLOUT))
			(void)peer_flush(t, p);
	}
	return 0;
}

static int tcp_progress(struct fsc_fabric *f)
{
	return f->impl ? tcp_poll(f->impl, 0) : 0;
}

/* Mostly, test() reads from (or writes to) the connection its request
 * waits on, straight away: an idle poll then costs one readv() that finds
 * nothing, as a bare socket loop's recv() would, and data is read by the
 * call that finds it instead of an epoll_wait() followed by a read.  Every
 * TCP_EPOLL_EVERY-th call polls all connections instead, so traffic from
 * other peers (unexpected messages, EOF, queued sends) never waits for
 * long.
 *
 * Small messages are pure spinning (that is what latency is measured
 * with).  A large transfer that made little progress waits in epoll for up
 * to TCP_STREAM_WAIT_NS instead, as iperf3 waits in select(): polling a
 * socket that delivers a few KiB per call costs a system call per few KiB,
 * and on a busy machine a spinning rank loses its core to the scheduler
 * while a sleeping one gets it back as soon as data arrives.  With
 * --tcp-yield, every fruitless call yields the CPU instead. */
static int tcp_test(struct fsc_fabric *f, struct fsc_req *req, int *done)
{
	struct tcp_fab *t = f->impl;
	struct tcp_op *op = op_of(req);
	struct tcp_peer *p;
	size_t moved = 0;
	int rc = 0;

	if (!op->done) {
		p = &t->peers[req->peer];
		if (p->fd >= 0 && ++t->polls % TCP_EPOLL_EVERY) {
			if (req->is_recv)
				moved = peer_read(t, p);
			else if (p->sq_head)
				moved = peer_flush(t, p);
		} else {
			rc = tcp_poll(t, 0);
		}
		if (!rc && !op->done) {
			if (t->yield)
				sched_yield();
			else if (moved < TCP_STAGE_BYTES && req->bytes >= TCP_STREAM_BYTES)
				rc = tcp_poll(t, TCP_STREAM_WAIT_NS);
		}
		if (rc)
			return rc;
	}
	*done = op->done;
	return op->done ? op->rc : 0;
}

/* Take send r (not complete) out of p's queue without breaking the stream:
 * a send not started just leaves; the partly written head is replaced by a
 * fabric-owned copy of its unwritten bytes, finished by later progress.
 * 0, or -ENOMEM after failing the connection (logged). */
static int send_detach(struct tcp_fab *t, struct tcp_peer *p, struct fsc_req *r)
{
	struct tcp_op *op = op_of(r);
	size_t rest = r->bytes - op->off;
	struct fsc_req *c;

	if (r != p->sq_head || !op->hdr_off) {
		req_unlink(&p->sq_head, &p->sq_tail, r);
		return 0;
	}
	c = malloc(sizeof(*c) + rest);
	if (!c) {
		fail_peer(t, p, -EIO, "out of memory for the %zu unsent bytes of a cancelled send",
		          rest);
		return -ENOMEM;
	}
	*c = *r;
	c->bytes = rest;
	op_of(c)->buf = (char *)(c + 1);
	op_of(c)->off = 0;
	if (rest)
		memcpy(op_of(c)->buf, op->buf + op->off, rest);
	p->sq_head = c;
	if (p->sq_tail == r)
		p->sq_tail = c;
	p->sq_owned = c;
	return 0;
}

/* See the top of this file.  Every pending request with p fails. */
static void poison(struct tcp_fab *t, struct tcp_peer *p)
{
	struct tcp_umsg *u, *next;
	struct fsc_req *r, *rn;

	if (p->poisoned)
		return;
	p->poisoned = 1;
	fsc_warn("fabric tcp: an operation with rank %d (host %s) was cancelled; messages from "
	         "it are dropped and new operations with it fail",
	         p->rank, peer_host(t, p->rank));
	fail_list(p, &p->rq_head, &p->rq_tail, -EIO);
	if (p->rx_req)
		op_complete(p->rx_req, -EIO);
	if (p->rx_umsg) {
		umsg_unlink(p, p->rx_umsg);
		free(p->rx_umsg);
	}
	if (p->rx_req || p->rx_umsg) {
		p->rx_req = NULL;
		p->rx_umsg = NULL;
		p->rx_dst = NULL; /* the rest of the payload is dropped */
	}
	for (u = p->uq_head; u; u = next) {
		next = u->next;
		free(u);
	}
	p->uq_head = p->uq_tail = NULL;
	for (r = p->sq_head; r; r = rn) {
		rn = op_of(r)->next;
		if (r == p->sq_owned)
			continue;
		if (send_detach(t, p, r))
			return; /* the connection failed: every request with it did */
		op_complete(r, -EIO);
	}
}

static int tcp_cancel(struct fsc_fabric *f, struct fsc_req *req)
{
	struct tcp_fab *t = f->impl;
	struct tcp_op *op = op_of(req);
	struct tcp_peer *p;

	if (!t || op->done)
		return 0;
	p = &t->peers[req->peer];
	if (!req->is_recv) {
		/* A failed copy failed the connection, and this request with
		 * it: nothing refers to it either way. */
		(void)send_detach(t, p, req);
	} else if (p->rx_req == req) {
		p->rx_req = NULL;
		p->rx_dst = NULL; /* the rest of its payload is read and dropped */
	} else {
		req_unlink(&p->rq_head, &p->rq_tail, req);
	}
	if (!op->done)
		op_complete(req, -ECANCELED);
	if (req->peer != f->rank)
		poison(t, p);
	return 0;
}

static int tcp_describe(struct fsc_fabric *f, json_t *info)
{
	struct tcp_fab *t = f->impl;
	char ip[INET_ADDRSTRLEN];
	int fd = -1, tmp = -1, snd = 0, rcv = 0, nd = 0;
	socklen_t len;

	if (!t)
		return 0;
	for (int r = 0; r < f->size && fd < 0; r++)
		fd = t->peers && t->peers[r].fd >= 0 ? t->peers[r].fd : -1;
	if (fd < 0) { /* no connection (one rank): what one would get */
		tmp = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (tmp >= 0 && !sock_set_bufs(t, tmp))
			(void)sock_set_nodelay(t, tmp);
		fd = tmp;
	}
	len = sizeof(snd);
	if (fd >= 0)
		(void)getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &snd, &len);
	len = sizeof(rcv);
	if (fd >= 0)
		(void)getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, &len);
	len = sizeof(nd);
	if (fd >= 0)
		(void)getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &nd, &len);
	if (tmp >= 0)
		close(tmp);
	inet_ntop(AF_INET, &t->iface.addr, ip, sizeof(ip));
	json_object_set_new(info, "interface", json_string(t->iface.name));
	json_object_set_new(info, "address", json_string(ip));
	json_object_set_new(info, "selected_by", json_string(t->iface.chosen_by));
	json_object_set_new(info, "sndbuf", json_integer(snd));
	json_object_set_new(info, "rcvbuf", json_integer(rcv));
	json_object_set_new(info, "nodelay", json_boolean(nd != 0));
	json_object_set_new(info, "yield", json_boolean(t->yield));
	return 0;
}

const struct fsc_fabric_ops fsc_fabric_tcp = {
        .name = "tcp",
        .desc = "TCP sockets: one connection per pair of ranks, epoll progress",
        .caps = FSC_CAP_SEND_RECV,
        .opts = tcp_opts,
        .probe = tcp_probe,
        .create = tcp_create,
        .destroy = tcp_destroy,
        .connect = tcp_connect,
        .isend = tcp_isend,
        .irecv = tcp_irecv,
        .test = tcp_test,
        .cancel = tcp_cancel,
        .progress = tcp_progress,
        .describe = tcp_describe,
};

int fsc_tcp_unexpected(const struct fsc_fabric *f, int peer, size_t *msgs, int *filling)
{
	const struct tcp_fab *t = f && f->ops == &fsc_fabric_tcp ? f->impl : NULL;
	const struct tcp_peer *p;
	size_t n = 0;

	if (!t || !t->peers || peer < 0 || peer >= f->size)
		return -EINVAL;
	p = &t->peers[peer];
	for (const struct tcp_umsg *u = p->uq_head; u; u = u->next)
		n++;
	*msgs = n;
	*filling = p->rx_body && p->rx_umsg != NULL;
	return 0;
}
