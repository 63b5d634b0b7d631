/* The stand-in NCCL (libnccl.so.2) of tests/cudadouble: communicators are
 * TCP meshes found through a root address carried in ncclUniqueId, and
 * every operation runs on the stand-in CUDA stream it was issued on, moving
 * the data between ranks for real.  See README.md. */
#include "cudadouble.h"

#include <nccl.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <math.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

#define UID_MAGIC 0x4e434446u /* "FDCN" */
#define COMM_MAGIC 0x4d4d4f43u
#define MAX_RANKS 1024
#define POLL_MS 50

/* ---------------------------------------------------------------------------
 * Last error messages and faults from the environment.
 * ------------------------------------------------------------------------- */

static _Thread_local char t_msg[256];

static ncclResult_t failv(struct ncclComm *c, ncclResult_t r, const char *fmt, va_list ap);

static ncclResult_t fail(struct ncclComm *c, ncclResult_t r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	failv(c, r, fmt, ap);
	va_end(ap);
	return r;
}

struct fault {
	int set;
	int rank; /* -1: every rank */
	long nth; /* 1-based operation count on the communicator */
};
static struct fault g_hang, g_flip;
/* FSC_CUDADOUBLE_NEVER_JOIN and FSC_CUDADOUBLE_STALL_INIT: sets of ranks */
static unsigned char g_never_join[MAX_RANKS], g_stall_init[MAX_RANKS];
static int g_env_error;
static pthread_once_t g_env_once = PTHREAD_ONCE_INIT;

static int parse_fault(const char *name, struct fault *f)
{
	const char *s = getenv(name);
	if (!s)
		return 0;
	char *end;
	long rank, nth = 1;
	if (s[0] == '*') {
		rank = -1;
		end = (char *)s + 1;
	} else {
		errno = 0;
		rank = strtol(s, &end, 10);
		if (errno || end == s || rank < 0)
			goto bad;
	}
	if (*end == ':') {
		const char *p = end + 1;
		errno = 0;
		nth = strtol(p, &end, 10);
		if (errno || end == p || nth < 1)
			goto bad;
	}
	if (*end)
		goto bad;
	f->set = 1;
	f->rank = (int)rank;
	f->nth = nth;
	return 0;
bad:
	fprintf(stderr,
	        "cudadouble: %s=%s is not valid: expected RANK[:NTH] or *[:NTH] (NTH >= 1)\n", name,
	        s);
	return -1;
}

/* A list of ranks, "R[,R...]", into set[]. */
static int parse_ranks(const char *name, unsigned char *set)
{
	const char *s = getenv(name), *p = s;
	if (!s)
		return 0;
	for (;;) {
		char *end;
		errno = 0;
		long r = strtol(p, &end, 10);
		if (errno || end == p || r < 0 || r >= MAX_RANKS || (*end && *end != ',')) {
			fprintf(stderr,
			        "cudadouble: %s=%s is not valid: expected ranks 0..%d separated by "
			        "commas\n",
			        name, s, MAX_RANKS - 1);
			return -1;
		}
		set[r] = 1;
		if (!*end)
			return 0;
		p = end + 1;
	}
}

static void env_once(void)
{
	if (parse_fault("FSC_CUDADOUBLE_HANG", &g_hang) < 0 ||
	    parse_fault("FSC_CUDADOUBLE_FLIP", &g_flip) < 0)
		g_env_error = 1;
	if (parse_ranks("FSC_CUDADOUBLE_NEVER_JOIN", g_never_join) < 0 ||
	    parse_ranks("FSC_CUDADOUBLE_STALL_INIT", g_stall_init) < 0)
		g_env_error = 1;
}

static int env_ok(void)
{
	pthread_once(&g_env_once, env_once);
	return !g_env_error;
}

/* ---------------------------------------------------------------------------
 * Communicators.
 * ------------------------------------------------------------------------- */

struct addr {
	uint16_t family;
	uint16_t port; /* network order */
	uint8_t ip[16];
};

struct uid {
	uint32_t magic;
	uint32_t pad;
	uint64_t nonce;
	struct addr root;
};

enum comm_state { ST_INIT, ST_READY, ST_FINALIZED, ST_DEAD };

struct ncclComm {
	uint32_t magic;
	int nranks, rank, device;
	int blocking;
	struct uid id;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	enum comm_state state;
	int aborted;
	ncclResult_t async; /* ncclInProgress while initializing */
	char msg[256];
	int *fds; /* per peer; -1 for self */
	int listen_fd;
	int init_thread;
	pthread_t init_thr;
	uint64_t issued, executed; /* operation groups, in issue order */
	int running;               /* groups being executed */
	long calls;                /* API operations issued, for the faults */
	struct ncclComm *next;     /* every communicator ever made (g_comms) */
};

/* Every communicator ever made: a handle is checked against the list
 * before it is read, and a destroyed one stays listed (dead) so that a late
 * use is caught rather than read from freed memory. */
static pthread_mutex_t g_comms_mu = PTHREAD_MUTEX_INITIALIZER;
static struct ncclComm *g_comms;

static int known(const struct ncclComm *c)
{
	int found = 0;
	pthread_mutex_lock(&g_comms_mu);
	for (struct ncclComm *k = g_comms; k && !found; k = k->next)
		found = k == c;
	pthread_mutex_unlock(&g_comms_mu);
	return found;
}

/* NCCL_DEBUG and NCCL_DEBUG_FILE, read once per process at the first call
 * that initialises NCCL (ncclGetUniqueId, ncclCommInitRank*), as NCCL
 * reads them: levels VERSION, WARN, INFO, TRACE (ABORT as WARN); lines
 * "host:pid:tid [dev] NCCL INFO ..." to the file NCCL_DEBUG_FILE names
 * (%h the host name up to its first dot, %p the process id, %% a percent sign; opened for
 * writing, so a second run overwrites it), else to stdout.  What it says:
 * the version (VERSION and above), every refusal and failure (WARN), each
 * communicator's set-up (INFO). */
enum { DBG_NONE, DBG_VERSION, DBG_WARN, DBG_INFO };
static int g_dbg_level;
static FILE *g_dbg_out;
static pthread_once_t g_dbg_once = PTHREAD_ONCE_INIT;

static void dbg_once(void)
{
	const char *lv = getenv("NCCL_DEBUG"), *pat = getenv("NCCL_DEBUG_FILE");
	if (!lv)
		return;
	if (!strcasecmp(lv, "VERSION"))
		g_dbg_level = DBG_VERSION;
	else if (!strcasecmp(lv, "WARN") || !strcasecmp(lv, "ABORT"))
		g_dbg_level = DBG_WARN;
	else if (!strcasecmp(lv, "INFO") || !strcasecmp(lv, "TRACE"))
		g_dbg_level = DBG_INFO;
	if (!g_dbg_level)
		return;
	g_dbg_out = stdout;
	if (pat && *pat) {
		char path[4096], host[256] = "";
		size_t n = 0;
		gethostname(host, sizeof(host) - 1);
		host[strcspn(host, ".")] = 0; /* as NCCL: up to the first dot */
		for (const char *q = pat; *q && n + 1 < sizeof(path); q++) {
			if (q[0] == '%' && (q[1] == 'h' || q[1] == 'p' || q[1] == '%')) {
				char part[256];
				if (q[1] == 'h')
					snprintf(part, sizeof(part), "%s", host);
				else if (q[1] == 'p')
					snprintf(part, sizeof(part), "%d", (int)getpid());
				else
					snprintf(part, sizeof(part), "%%");
				n += (size_t)snprintf(path + n, sizeof(path) - n, "%s", part);
				if (n >= sizeof(path))
					n = sizeof(path) - 1;
				q++;
			} else {
				path[n++] = *q;
			}
		}
		path[n] = 0;
		FILE *f = fopen(path, "w");
		if (f) {
			setvbuf(f, NULL, _IOLBF, 0);
			g_dbg_out = f;
		}
	}
	if (g_dbg_level >= DBG_VERSION)
		fprintf(g_dbg_out, "NCCL version %d.%d.%d%s+cudadouble\n", NCCL_MAJOR, NCCL_MINOR,
		        NCCL_PATCH, NCCL_SUFFIX);
	fflush(g_dbg_out);
}

static void dbg(int level, int dev, const char *fmt, ...)
{
	pthread_once(&g_dbg_once, dbg_once);
	if (g_dbg_level < level || level < DBG_WARN)
		return;
	char host[256] = "", line[512];
	gethostname(host, sizeof(host) - 1);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(g_dbg_out, "%s:%d:%ld [%d] NCCL %s %s\n", host, (int)getpid(), (long)gettid(), dev,
	        level == DBG_WARN ? "WARN" : "INFO", line);
	fflush(g_dbg_out);
}

static ncclResult_t failv(struct ncclComm *c, ncclResult_t r, const char *fmt, va_list ap)
{
	char buf[256];
	vsnprintf(buf, sizeof(buf), fmt, ap);
	snprintf(t_msg, sizeof(t_msg), "%s", buf);
	if (c) {
		pthread_mutex_lock(&c->mu);
		snprintf(c->msg, sizeof(c->msg), "%s", buf);
		pthread_mutex_unlock(&c->mu);
	}
	if (getenv("FSC_CUDADOUBLE_DEBUG"))
		fprintf(stderr, "cudadouble: nccl: %s\n", buf);
	dbg(DBG_WARN, c ? c->device : -1, "%s", buf);
	return r;
}

static void comm_set_error(struct ncclComm *c, ncclResult_t r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	failv(c, r, fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&c->mu);
	if (c->async == ncclSuccess || c->async == ncclInProgress)
		c->async = r;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

static int aborted(struct ncclComm *c)
{
	pthread_mutex_lock(&c->mu);
	int a = c->aborted;
	pthread_mutex_unlock(&c->mu);
	return a;
}

/* A communicator handle the caller may use: not NULL, one of ours, not
 * destroyed or aborted. */
static ncclResult_t check_comm(struct ncclComm *c, const char *what)
{
	if (!c)
		return fail(NULL, ncclInvalidArgument, "%s: comm is NULL", what);
	if (!known(c) || c->magic != COMM_MAGIC)
		return fail(NULL, ncclInvalidArgument, "%s: comm %p is not a communicator", what,
		            (void *)c);
	pthread_mutex_lock(&c->mu);
	enum comm_state st = c->state;
	pthread_mutex_unlock(&c->mu);
	if (st == ST_DEAD)
		return fail(NULL, ncclInvalidArgument, "%s: comm %p was destroyed or aborted", what,
		            (void *)c);
	return ncclSuccess;
}

/* check_comm, and initialized without error. */
static ncclResult_t check_ready(struct ncclComm *c, const char *what)
{
	ncclResult_t r = check_comm(c, what);
	if (r)
		return r;
	pthread_mutex_lock(&c->mu);
	ncclResult_t a = c->async;
	enum comm_state st = c->state;
	pthread_mutex_unlock(&c->mu);
	if (a == ncclInProgress)
		return fail(c, ncclInvalidArgument, "%s: comm %p is still initializing", what,
		            (void *)c);
	if (a != ncclSuccess)
		return fail(c, a, "%s: comm %p has failed (%s); abort it", what, (void *)c,
		            ncclGetErrorString(a));
	if (st == ST_FINALIZED)
		return fail(c, ncclInvalidUsage, "%s: comm %p is finalized", what, (void *)c);
	return ncclSuccess;
}

/* ---------------------------------------------------------------------------
 * Sockets.
 * ------------------------------------------------------------------------- */

static socklen_t to_sockaddr(const struct addr *a, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (a->family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = a->port;
		memcpy(&s6->sin6_addr, a->ip, 16);
		return sizeof(*s6);
	}
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	s4->sin_family = AF_INET;
	s4->sin_port = a->port;
	memcpy(&s4->sin_addr, a->ip, 4);
	return sizeof(*s4);
}

static void from_sockaddr(const struct sockaddr_storage *ss, struct addr *a)
{
	memset(a, 0, sizeof(*a));
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
		a->family = AF_INET6;
		a->port = s6->sin6_port;
		memcpy(a->ip, &s6->sin6_addr, 16);
	} else {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
		a->family = AF_INET;
		a->port = s4->sin_port;
		memcpy(a->ip, &s4->sin_addr, 4);
	}
}

static const char *addr_str(const struct addr *a, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	inet_ntop(a->family == AF_INET6 ? AF_INET6 : AF_INET, a->ip, ip, sizeof(ip));
	snprintf(buf, len, "%s:%u", ip, ntohs(a->port));
	return buf;
}

/* The address the root listens on: NCCL_SOCKET_IFNAME's interface (a name
 * prefix, or =NAME for the exact name), else the first non-loopback IPv4
 * interface that is up, else 127.0.0.1. */
static int pick_address(struct addr *a)
{
	const char *want = getenv("NCCL_SOCKET_IFNAME");
	int exact = want && want[0] == '=';
	if (exact)
		want++;
	struct ifaddrs *ifs, *i;
	memset(a, 0, sizeof(*a));
	a->family = AF_INET;
	a->ip[0] = 127;
	a->ip[3] = 1;
	if (getifaddrs(&ifs) < 0)
		return want ? -1 : 0;
	int found = 0;
	for (i = ifs; i && !found; i = i->ifa_next) {
		if (!i->ifa_addr || !(i->ifa_flags & IFF_UP))
			continue;
		int fam = i->ifa_addr->sa_family;
		if (fam != AF_INET && !(want && fam == AF_INET6))
			continue;
		if (want) {
			if (exact ? strcmp(i->ifa_name, want)
			          : strncmp(i->ifa_name, want, strlen(want)))
				continue;
		} else if (i->ifa_flags & IFF_LOOPBACK) {
			continue;
		}
		from_sockaddr((const struct sockaddr_storage *)i->ifa_addr, a);
		a->port = 0;
		found = 1;
	}
	freeifaddrs(ifs);
	return want && !found ? -1 : 0;
}

static int listen_on(struct addr *a)
{
	struct sockaddr_storage ss;
	socklen_t len = to_sockaddr(a, &ss);
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 128) < 0) {
		close(fd);
		return -1;
	}
	len = sizeof(ss);
	getsockname(fd, (struct sockaddr *)&ss, &len);
	from_sockaddr(&ss, a);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return fd;
}

/* Wait for fd to be ready for ev, polling the abort flag; 0 ready, -1
 * aborted or past the deadline (ns), -2 poll error. */
static int wait_fd(struct ncclComm *c, int fd, short ev, uint64_t deadline)
{
	for (;;) {
		if (c && aborted(c))
			return -1;
		if (fsc_cudadouble_now_ns() > deadline)
			return -1;
		struct pollfd p = {.fd = fd, .events = ev};
		int n = poll(&p, 1, POLL_MS);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -2;
	}
}

static uint64_t deadline_ns(void)
{
	return fsc_cudadouble_now_ns() + (uint64_t)fsc_cudadouble_timeout_s() * 1000000000u;
}

/* Move all n bytes over a non-blocking socket; 0, or -1 (closed, error,
 * abort, deadline). */
static int io_all(struct ncclComm *c, int fd, void *buf, size_t n, int out, uint64_t dl)
{
	char *p = buf;
	while (n) {
		ssize_t k = out ? send(fd, p, n, MSG_NOSIGNAL) : recv(fd, p, n, 0);
		if (k > 0) {
			p += k;
			n -= (size_t)k;
			continue;
		}
		if (k == 0 && !out)
			return -1;
		if (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return -1;
		if (wait_fd(c, fd, out ? POLLOUT : POLLIN, dl))
			return -1;
	}
	return 0;
}

static int connect_to(struct ncclComm *c, const struct addr *a, uint64_t dl)
{
	struct sockaddr_storage ss;
	socklen_t len = to_sockaddr(a, &ss);
	while (!(c && aborted(c)) && fsc_cudadouble_now_ns() < dl) {
		int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0)
			return -1;
		int r = connect(fd, (struct sockaddr *)&ss, len);
		if (r < 0 && errno == EINPROGRESS) {
			if (wait_fd(c, fd, POLLOUT, dl) == 0) {
				int err = 0;
				socklen_t el = sizeof(err);
				getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
				r = err ? -1 : 0;
			}
		}
		if (r == 0) {
			int one = 1;
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			return fd;
		}
		close(fd);
		usleep(20000);
	}
	return -1;
}

static int accept_one(struct ncclComm *c, int lfd, uint64_t dl)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd >= 0) {
			int one = 1;
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			return fd;
		}
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return -1;
		if (wait_fd(c, lfd, POLLIN, dl))
			return -1;
	}
}

/* ---------------------------------------------------------------------------
 * The root: started by ncclGetUniqueId, it gathers every rank's address and
 * device, checks them, and answers each rank with the table.
 * ------------------------------------------------------------------------- */

struct hello {
	uint32_t magic;
	int32_t nranks, rank;
	uint32_t pad;
	uint64_t nonce;
	uint64_t hosthash;
	struct addr addr;
	char busid[32];
};

struct reply {
	int32_t result;
	int32_t bad_rank;
	char msg[192];
};

struct root {
	int lfd;
	uint64_t nonce;
};

static void *root_main(void *arg)
{
	struct root *rt = arg;
	uint64_t dl = deadline_ns();
	int nranks = -1, joined = 0;
	int *fds = NULL;
	struct hello *hs = NULL;
	struct reply rep = {.result = ncclSuccess, .bad_rank = -1};
	for (;;) {
		int fd = accept_one(NULL, rt->lfd, dl);
		if (fd < 0)
			break;
		struct hello h;
		if (io_all(NULL, fd, &h, sizeof(h), 0, dl) < 0 || h.magic != UID_MAGIC ||
		    h.nonce != rt->nonce) {
			close(fd);
			continue;
		}
		if (nranks < 0) {
			nranks = h.nranks;
			fds = malloc(sizeof(int) * (size_t)nranks);
			hs = calloc((size_t)nranks, sizeof(*hs));
			if (!fds || !hs) {
				close(fd);
				break;
			}
			for (int i = 0; i < nranks; i++)
				fds[i] = -1;
		}
		if (h.nranks != nranks || h.rank < 0 || h.rank >= nranks || fds[h.rank] >= 0) {
			struct reply bad = {.result = ncclInvalidUsage, .bad_rank = h.rank};
			snprintf(bad.msg, sizeof(bad.msg),
			         "rank %d of %d joined a communicator of %d "
			         "ranks%s",
			         h.rank, h.nranks, nranks,
			         h.nranks == nranks && h.rank >= 0 && h.rank < nranks ? " twice"
			                                                              : "");
			if (h.nranks == nranks && rep.result == ncclSuccess) {
				rep = bad;
			}
			io_all(NULL, fd, &bad, sizeof(bad), 1, dl);
			close(fd);
			continue;
		}
		fds[h.rank] = fd;
		hs[h.rank] = h;
		if (++joined == nranks)
			break;
	}
	if (joined == nranks && nranks > 0) {
		for (int i = 0; i < nranks && rep.result == ncclSuccess; i++)
			for (int j = 0; j < i; j++)
				if (hs[i].hosthash == hs[j].hosthash &&
				    !strcmp(hs[i].busid, hs[j].busid)) {
					rep.result = ncclInvalidUsage;
					rep.bad_rank = i;
					snprintf(rep.msg, sizeof(rep.msg),
					         "ranks %d and %d use the same "
					         "device (%s) on one host",
					         j, i, hs[i].busid);
					break;
				}
		for (int i = 0; i < nranks; i++) {
			if (io_all(NULL, fds[i], &rep, sizeof(rep), 1, dl) == 0 &&
			    rep.result == ncclSuccess) {
				for (int j = 0; j < nranks; j++)
					if (io_all(NULL, fds[i], &hs[j].addr, sizeof(hs[j].addr), 1,
					           dl) < 0)
						break;
			}
		}
	}
	for (int i = 0; fds && i < nranks; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(fds);
	free(hs);
	close(rt->lfd);
	free(rt);
	return NULL;
}

EXPORT ncclResult_t ncclGetVersion(int *version)
{
	if (!version)
		return fail(NULL, ncclInvalidArgument, "ncclGetVersion: version is NULL");
	*version = NCCL_VERSION_CODE;
	return ncclSuccess;
}

EXPORT ncclResult_t ncclGetUniqueId(ncclUniqueId *uniqueId)
{
	pthread_once(&g_dbg_once, dbg_once);
	if (!uniqueId)
		return fail(NULL, ncclInvalidArgument, "ncclGetUniqueId: uniqueId is NULL");
	if (!env_ok())
		return fail(NULL, ncclInvalidArgument, "bad FSC_CUDADOUBLE_* fault setting");
	struct uid id = {.magic = UID_MAGIC};
	if (pick_address(&id.root) < 0)
		return fail(NULL, ncclSystemError,
		            "NCCL_SOCKET_IFNAME=%s names no interface that "
		            "is up with an address",
		            getenv("NCCL_SOCKET_IFNAME"));
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || read(fd, &id.nonce, sizeof(id.nonce)) != sizeof(id.nonce)) {
		if (fd >= 0)
			close(fd);
		return fail(NULL, ncclSystemError, "no /dev/urandom for the communicator id");
	}
	close(fd);
	struct root *rt = malloc(sizeof(*rt));
	if (!rt)
		return fail(NULL, ncclSystemError, "out of memory");
	rt->nonce = id.nonce;
	rt->lfd = listen_on(&id.root);
	if (rt->lfd < 0) {
		free(rt);
		return fail(NULL, ncclSystemError, "ncclGetUniqueId: cannot listen: %s",
		            strerror(errno));
	}
	pthread_t t;
	if (pthread_create(&t, NULL, root_main, rt)) {
		close(rt->lfd);
		free(rt);
		return fail(NULL, ncclSystemError, "ncclGetUniqueId: no root thread");
	}
	pthread_detach(t);
	memset(uniqueId, 0, sizeof(*uniqueId));
	memcpy(uniqueId->internal, &id, sizeof(id));
	return ncclSuccess;
}

/* ---------------------------------------------------------------------------
 * Joining: the rank side of the root protocol, then the mesh.
 * ------------------------------------------------------------------------- */

static uint64_t host_hash(void)
{
	char buf[512] = "";
	gethostname(buf, 256);
	/* Each of the virtual cluster's hosts is a network namespace. */
	struct stat st;
	if (stat("/proc/self/ns/net", &st) == 0)
		snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "/%lu",
		         (unsigned long)st.st_ino);
	const char *h = getenv("NCCL_HOSTID");
	if (h)
		snprintf(buf, sizeof(buf), "%s", h);
	uint64_t x = 1469598103934665603ull;
	for (const char *p = buf; *p; p++)
		x = (x ^ (unsigned char)*p) * 1099511628211ull;
	return x;
}

struct link_hello {
	uint32_t magic;
	int32_t rank;
	uint64_t nonce;
};

static ncclResult_t join(struct ncclComm *c)
{
	uint64_t dl = deadline_ns();
	char as[64];
	if (g_never_join[c->rank]) {
		/* The fault: this rank never reaches the root. */
		pthread_mutex_lock(&c->mu);
		while (!c->aborted && fsc_cudadouble_now_ns() < dl) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += POLL_MS * 1000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&c->cv, &c->mu, &ts);
		}
		pthread_mutex_unlock(&c->mu);
		return fail(c, ncclSystemError, "rank %d never joined (FSC_CUDADOUBLE_NEVER_JOIN)",
		            c->rank);
	}
	int rfd = connect_to(c, &c->id.root, dl);
	if (rfd < 0)
		return fail(c, aborted(c) ? ncclInvalidUsage : ncclSystemError,
		            "rank %d: cannot reach the root at %s", c->rank,
		            addr_str(&c->id.root, as, sizeof(as)));
	/* Listen on the address the root is reached through. */
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	getsockname(rfd, (struct sockaddr *)&ss, &sl);
	struct hello h = {.magic = UID_MAGIC,
	                  .nranks = c->nranks,
	                  .rank = c->rank,
	                  .nonce = c->id.nonce,
	                  .hosthash = host_hash()};
	from_sockaddr(&ss, &h.addr);
	h.addr.port = 0;
	c->listen_fd = listen_on(&h.addr);
	if (c->listen_fd < 0) {
		close(rfd);
		return fail(c, ncclSystemError, "rank %d: cannot listen: %s", c->rank,
		            strerror(errno));
	}
	fsc_cudadouble_physical(c->device, h.busid);
	struct reply rep;
	struct addr *table = calloc((size_t)c->nranks, sizeof(*table));
	if (!table) {
		close(rfd);
		return fail(c, ncclSystemError, "out of memory");
	}
	if (io_all(c, rfd, &h, sizeof(h), 1, dl) < 0 ||
	    io_all(c, rfd, &rep, sizeof(rep), 0, dl) < 0) {
		close(rfd);
		free(table);
		if (aborted(c))
			return fail(c, ncclInvalidUsage, "rank %d: aborted during init", c->rank);
		return fail(c, ncclSystemError,
		            "rank %d: the root at %s closed or did not answer "
		            "within %u s: not every rank joined",
		            c->rank, addr_str(&c->id.root, as, sizeof(as)),
		            fsc_cudadouble_timeout_s());
	}
	if (rep.result != ncclSuccess) {
		close(rfd);
		free(table);
		rep.msg[sizeof(rep.msg) - 1] = 0;
		return fail(c, rep.result, "rank %d: init refused: %s", c->rank, rep.msg);
	}
	int bad = io_all(c, rfd, table, sizeof(*table) * (size_t)c->nranks, 0, dl);
	close(rfd);
	if (bad) {
		free(table);
		return fail(c, ncclSystemError, "rank %d: no address table from the root", c->rank);
	}
	/* Connect to every lower rank, accept every higher one. */
	for (int j = 0; j < c->rank; j++) {
		int fd = connect_to(c, &table[j], dl);
		struct link_hello lh = {.magic = UID_MAGIC, .rank = c->rank, .nonce = c->id.nonce};
		if (fd < 0 || io_all(c, fd, &lh, sizeof(lh), 1, dl) < 0) {
			if (fd >= 0)
				close(fd);
			addr_str(&table[j], as, sizeof(as));
			free(table);
			return fail(c, ncclRemoteError, "rank %d: cannot connect to rank %d at %s",
			            c->rank, j, as);
		}
		c->fds[j] = fd;
	}
	free(table);
	for (int k = c->rank + 1; k < c->nranks; k++) {
		int fd = accept_one(c, c->listen_fd, dl);
		struct link_hello lh;
		if (fd < 0 || io_all(c, fd, &lh, sizeof(lh), 0, dl) < 0) {
			if (fd >= 0)
				close(fd);
			return fail(c, ncclRemoteError, "rank %d: not every higher rank connected",
			            c->rank);
		}
		if (lh.magic != UID_MAGIC || lh.nonce != c->id.nonce || lh.rank <= c->rank ||
		    lh.rank >= c->nranks || c->fds[lh.rank] >= 0) {
			close(fd);
			k--;
			continue;
		}
		c->fds[lh.rank] = fd;
	}
	close(c->listen_fd);
	c->listen_fd = -1;
	return ncclSuccess;
}

static void init_done(struct ncclComm *c, ncclResult_t r)
{
	if (r == ncclSuccess)
		dbg(DBG_INFO, c->device, "comm %p rank %d nRanks %d cudaDev %d - Init COMPLETE",
		    (void *)c, c->rank, c->nranks, c->device);
	pthread_mutex_lock(&c->mu);
	c->async = r;
	if (r == ncclSuccess)
		c->state = ST_READY;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

static void *init_main(void *arg)
{
	struct ncclComm *c = arg;
	init_done(c, join(c));
	return NULL;
}

static void close_links(struct ncclComm *c)
{
	for (int i = 0; c->fds && i < c->nranks; i++)
		if (c->fds[i] >= 0) {
			close(c->fds[i]);
			c->fds[i] = -1;
		}
	if (c->listen_fd >= 0) {
		close(c->listen_fd);
		c->listen_fd = -1;
	}
}

EXPORT ncclResult_t ncclCommInitRankConfig(ncclComm_t *comm, int nranks, ncclUniqueId commId,
                                           int rank, ncclConfig_t *config)
{
	pthread_once(&g_dbg_once, dbg_once);
	if (!env_ok())
		return fail(NULL, ncclInvalidArgument, "bad FSC_CUDADOUBLE_* fault setting");
	if (!comm)
		return fail(NULL, ncclInvalidArgument, "ncclCommInitRank: comm is NULL");
	if (nranks < 1 || nranks > MAX_RANKS)
		return fail(NULL, ncclInvalidArgument,
		            "ncclCommInitRank: nranks %d is not valid: "
		            "expected 1..%d",
		            nranks, MAX_RANKS);
	if (rank < 0 || rank >= nranks)
		return fail(NULL, ncclInvalidArgument,
		            "ncclCommInitRank: rank %d is not valid: "
		            "expected 0..%d",
		            rank, nranks - 1);
	int blocking = 1;
	if (config) {
		if (config->magic != 0xcafebeef ||
		    config->size < offsetof(ncclConfig_t, cgaClusterSize))
			return fail(NULL, ncclInvalidArgument,
			            "ncclCommInitRankConfig: config was not "
			            "set from NCCL_CONFIG_INITIALIZER");
		if (config->blocking != NCCL_CONFIG_UNDEF_INT) {
			if (config->blocking != 0 && config->blocking != 1)
				return fail(NULL, ncclInvalidArgument,
				            "ncclCommInitRankConfig: "
				            "blocking %d is not valid: expected 0 or 1",
				            config->blocking);
			blocking = config->blocking;
		}
	}
	if (g_stall_init[rank]) {
		/* The fault: the process is stuck inside the call (as in a hung
		 * driver call) and answers nothing until the stand-in's bound. */
		uint64_t dl = deadline_ns();
		while (fsc_cudadouble_now_ns() < dl)
			usleep(POLL_MS * 1000);
		return fail(NULL, ncclSystemError,
		            "rank %d stalled in ncclCommInitRank (FSC_CUDADOUBLE_STALL_INIT)", rank);
	}
	struct uid id;
	memcpy(&id, commId.internal, sizeof(id));
	if (id.magic != UID_MAGIC)
		return fail(NULL, ncclInvalidArgument,
		            "ncclCommInitRank: the unique id was not made "
		            "by ncclGetUniqueId");
	int dev;
	if (cudaGetDevice(&dev) != cudaSuccess)
		return fail(NULL, ncclUnhandledCudaError, "ncclCommInitRank: no CUDA device");
	struct ncclComm *c = calloc(1, sizeof(*c));
	if (!c)
		return fail(NULL, ncclSystemError, "out of memory");
	c->fds = malloc(sizeof(int) * (size_t)nranks);
	if (!c->fds) {
		free(c);
		return fail(NULL, ncclSystemError, "out of memory");
	}
	for (int i = 0; i < nranks; i++)
		c->fds[i] = -1;
	c->magic = COMM_MAGIC;
	c->nranks = nranks;
	c->rank = rank;
	c->device = dev;
	c->blocking = blocking;
	c->id = id;
	c->listen_fd = -1;
	c->state = ST_INIT;
	c->async = ncclInProgress;
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	pthread_mutex_lock(&g_comms_mu);
	c->next = g_comms;
	g_comms = c;
	pthread_mutex_unlock(&g_comms_mu);
	*comm = c;
	if (!blocking) {
		if (pthread_create(&c->init_thr, NULL, init_main, c) == 0) {
			c->init_thread = 1;
			return ncclInProgress;
		}
		init_done(c, fail(c, ncclSystemError, "no init thread"));
		return ncclSystemError;
	}
	ncclResult_t r = join(c);
	init_done(c, r);
	if (r != ncclSuccess) {
		/* A failed blocking init leaves no communicator behind. */
		close_links(c);
		pthread_mutex_lock(&c->mu);
		c->state = ST_DEAD;
		pthread_mutex_unlock(&c->mu);
		*comm = NULL;
	}
	return r;
}

EXPORT ncclResult_t ncclCommInitRank(ncclComm_t *comm, int nranks, ncclUniqueId commId, int rank)
{
	return ncclCommInitRankConfig(comm, nranks, commId, rank, NULL);
}

EXPORT ncclResult_t ncclCommGetAsyncError(ncclComm_t comm, ncclResult_t *asyncError)
{
	ncclResult_t r = check_comm(comm, "ncclCommGetAsyncError");
	if (r)
		return r;
	if (!asyncError)
		return fail(comm, ncclInvalidArgument, "ncclCommGetAsyncError: asyncError is NULL");
	pthread_mutex_lock(&comm->mu);
	*asyncError = comm->async;
	pthread_mutex_unlock(&comm->mu);
	return ncclSuccess;
}

EXPORT ncclResult_t ncclCommCount(const ncclComm_t comm, int *count)
{
	ncclResult_t r = check_ready(comm, "ncclCommCount");
	if (r)
		return r;
	if (!count)
		return fail(comm, ncclInvalidArgument, "ncclCommCount: count is NULL");
	*count = comm->nranks;
	return ncclSuccess;
}

EXPORT ncclResult_t ncclCommCuDevice(const ncclComm_t comm, int *device)
{
	ncclResult_t r = check_ready(comm, "ncclCommCuDevice");
	if (r)
		return r;
	if (!device)
		return fail(comm, ncclInvalidArgument, "ncclCommCuDevice: device is NULL");
	*device = comm->device;
	return ncclSuccess;
}

EXPORT ncclResult_t ncclCommUserRank(const ncclComm_t comm, int *rank)
{
	ncclResult_t r = check_ready(comm, "ncclCommUserRank");
	if (r)
		return r;
	if (!rank)
		return fail(comm, ncclInvalidArgument, "ncclCommUserRank: rank is NULL");
	*rank = comm->rank;
	return ncclSuccess;
}

EXPORT const char *ncclGetErrorString(ncclResult_t result)
{
	switch (result) {
	case ncclSuccess: return "no error";
	case ncclUnhandledCudaError:
		return "unhandled cuda error (run with NCCL_DEBUG=INFO for details)";
	case ncclSystemError:
		return "unhandled system error (run with NCCL_DEBUG=INFO for details)";
	case ncclInternalError:
		return "internal error - please report this issue to the NCCL developers";
	case ncclInvalidArgument: return "invalid argument (run with NCCL_DEBUG=WARN for details)";
	case ncclInvalidUsage: return "invalid usage (run with NCCL_DEBUG=WARN for details)";
	case ncclRemoteError: return "remote process exited or there was a network error";
	case ncclInProgress: return "NCCL operation in progress";
	default: return "unknown result code";
	}
}

EXPORT const char *ncclGetLastError(ncclComm_t comm)
{
	if (comm && known(comm) && comm->msg[0])
		return comm->msg;
	return t_msg;
}

/* Wait (bounded) until every issued operation group has run. */
static int drain(struct ncclComm *c)
{
	uint64_t dl = deadline_ns();
	pthread_mutex_lock(&c->mu);
	while (c->executed < c->issued && fsc_cudadouble_now_ns() < dl) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += POLL_MS * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&c->cv, &c->mu, &ts);
	}
	int left = c->executed < c->issued;
	pthread_mutex_unlock(&c->mu);
	return left ? -1 : 0;
}

/* Stop everything: mark aborted, wake every wait, let running groups
 * leave, close the links.  The struct stays (marked dead) so that a late
 * use is caught and queued groups still find it. */
static void teardown(struct ncclComm *c)
{
	pthread_mutex_lock(&c->mu);
	c->aborted = 1;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	if (c->init_thread) {
		pthread_join(c->init_thr, NULL);
		c->init_thread = 0;
	}
	uint64_t dl = fsc_cudadouble_now_ns() + 10ull * 1000000000u;
	pthread_mutex_lock(&c->mu);
	while (c->running && fsc_cudadouble_now_ns() < dl) {
		pthread_mutex_unlock(&c->mu);
		usleep(1000);
		pthread_mutex_lock(&c->mu);
	}
	int running = c->running;
	c->state = ST_DEAD;
	if (c->async == ncclInProgress)
		c->async = ncclInvalidUsage;
	pthread_mutex_unlock(&c->mu);
	/* A group that is still running keeps its sockets; it leaves on the
	 * abort flag and the links stay open (a leak of a few descriptors). */
	if (!running)
		close_links(c);
}

EXPORT ncclResult_t ncclCommFinalize(ncclComm_t comm)
{
	ncclResult_t r = check_comm(comm, "ncclCommFinalize");
	if (r)
		return r;
	pthread_mutex_lock(&comm->mu);
	ncclResult_t a = comm->async;
	int st = comm->state;
	pthread_mutex_unlock(&comm->mu);
	if (a == ncclInProgress)
		return fail(comm, ncclInvalidArgument,
		            "ncclCommFinalize: comm %p is still "
		            "initializing",
		            (void *)comm);
	if (st == ST_FINALIZED)
		return fail(comm, ncclInvalidUsage,
		            "ncclCommFinalize: comm %p is already finalized", (void *)comm);
	if (drain(comm) < 0)
		return fail(comm, ncclSystemError,
		            "ncclCommFinalize: operations still running after "
		            "%u s",
		            fsc_cudadouble_timeout_s());
	pthread_mutex_lock(&comm->mu);
	comm->state = ST_FINALIZED;
	a = comm->async;
	pthread_mutex_unlock(&comm->mu);
	return a;
}

EXPORT ncclResult_t ncclCommDestroy(ncclComm_t comm)
{
	ncclResult_t r = check_comm(comm, "ncclCommDestroy");
	if (r)
		return r;
	pthread_mutex_lock(&comm->mu);
	int initializing = comm->async == ncclInProgress;
	pthread_mutex_unlock(&comm->mu);
	if (initializing)
		return fail(comm, ncclInvalidArgument,
		            "ncclCommDestroy: comm %p is still "
		            "initializing: abort it",
		            (void *)comm);
	int stuck = drain(comm) < 0;
	teardown(comm);
	if (stuck)
		return fail(comm, ncclSystemError,
		            "ncclCommDestroy: operations still running after "
		            "%u s; aborted them",
		            fsc_cudadouble_timeout_s());
	return ncclSuccess;
}

EXPORT ncclResult_t ncclCommAbort(ncclComm_t comm)
{
	if (!comm)
		return ncclSuccess;
	ncclResult_t r = check_comm(comm, "ncclCommAbort");
	if (r)
		return r;
	teardown(comm);
	return ncclSuccess;
}

/* ---------------------------------------------------------------------------
 * Element types and reductions.
 * ------------------------------------------------------------------------- */

static size_t type_size(ncclDataType_t t)
{
	switch (t) {
	case ncclInt8:
	case ncclUint8: return 1;
	case ncclFloat16:
	case ncclBfloat16: return 2;
	case ncclInt32:
	case ncclUint32:
	case ncclFloat32: return 4;
	case ncclInt64:
	case ncclUint64:
	case ncclFloat64: return 8;
	default: return 0;
	}
}

static double half_to_double(uint16_t h)
{
	int e = (h >> 10) & 0x1f, m = h & 0x3ff;
	double v;
	if (e == 0)
		v = ldexp(m, -24);
	else if (e == 31)
		v = m ? NAN : INFINITY;
	else
		v = ldexp(m + 1024, e - 25);
	return h & 0x8000 ? -v : v;
}

static double bf16_to_double(uint16_t b)
{
	uint32_t u = (uint32_t)b << 16;
	float f;
	memcpy(&f, &u, 4);
	return f;
}

/* Round x to nearest-even in a binary format with mbits fraction bits,
 * exponent bias bias and all-ones exponent for infinity/NaN. */
static uint16_t round_small(double x, int mbits, int ebits)
{
	int bias = (1 << (ebits - 1)) - 1;
	uint16_t sign = signbit(x) ? (uint16_t)(1u << (mbits + ebits)) : 0;
	uint16_t inf = (uint16_t)(((1u << ebits) - 1) << mbits);
	if (isnan(x))
		return (uint16_t)(inf | (1u << (mbits - 1)));
	x = fabs(x);
	if (isinf(x))
		return sign | inf;
	int emin = 1 - bias;
	int e;
	frexp(x, &e);
	e -= 1; /* x = 1.f * 2^e */
	if (x == 0)
		return sign;
	if (e < emin) {
		/* Subnormal: units of 2^(emin - mbits). */
		double q = nearbyint(ldexp(x, mbits - emin));
		return sign | (uint16_t)q; /* q == 2^mbits is the smallest normal */
	}
	double q = nearbyint(ldexp(x, mbits - e)); /* in [2^mbits, 2^(mbits+1)] */
	if (q >= ldexp(1, mbits + 1)) {
		q /= 2;
		e++;
	}
	if (e > bias)
		return sign | inf;
	return sign | (uint16_t)(((unsigned)(e + bias) << mbits) | ((unsigned)q - (1u << mbits)));
}

static double combine(double a, double b, ncclRedOp_t op)
{
	switch (op) {
	case ncclProd: return a * b;
	case ncclMax: return a > b ? a : b;
	case ncclMin: return a < b ? a : b;
	default: return a + b;
	}
}

#define REDUCE_INT(T, UT)                                                                          \
	do {                                                                                       \
		T *d = dst;                                                                        \
		const T *s = src;                                                                  \
		for (size_t i = 0; i < n; i++) {                                                   \
			switch (op) {                                                              \
			case ncclProd: d[i] = (T)((UT)d[i] * (UT)s[i]); break;                     \
			case ncclMax: d[i] = d[i] > s[i] ? d[i] : s[i]; break;                     \
			case ncclMin: d[i] = d[i] < s[i] ? d[i] : s[i]; break;                     \
			default: d[i] = (T)((UT)d[i] + (UT)s[i]); break;                           \
			}                                                                          \
		}                                                                                  \
	} while (0)

/* dst[i] = dst[i] op src[i] (ncclAvg sums here; finish divides). */
static void reduce(void *dst, const void *src, size_t n, ncclDataType_t t, ncclRedOp_t op)
{
	switch (t) {
	case ncclInt8: REDUCE_INT(int8_t, uint8_t); break;
	case ncclUint8: REDUCE_INT(uint8_t, uint8_t); break;
	case ncclInt32: REDUCE_INT(int32_t, uint32_t); break;
	case ncclUint32: REDUCE_INT(uint32_t, uint32_t); break;
	case ncclInt64: REDUCE_INT(int64_t, uint64_t); break;
	case ncclUint64: REDUCE_INT(uint64_t, uint64_t); break;
	case ncclFloat32: {
		float *d = dst;
		const float *s = src;
		for (size_t i = 0; i < n; i++)
			d[i] = op == ncclProd  ? d[i] * s[i]
			       : op == ncclMax ? (d[i] > s[i] ? d[i] : s[i])
			       : op == ncclMin ? (d[i] < s[i] ? d[i] : s[i])
			                       : d[i] + s[i];
		break;
	}
	case ncclFloat64: {
		double *d = dst;
		const double *s = src;
		for (size_t i = 0; i < n; i++)
			d[i] = combine(d[i], s[i], op);
		break;
	}
	case ncclFloat16: {
		uint16_t *d = dst;
		const uint16_t *s = src;
		for (size_t i = 0; i < n; i++)
			d[i] = round_small(combine(half_to_double(d[i]), half_to_double(s[i]), op),
			                   10, 5);
		break;
	}
	case ncclBfloat16: {
		uint16_t *d = dst;
		const uint16_t *s = src;
		for (size_t i = 0; i < n; i++)
			d[i] = round_small(combine(bf16_to_double(d[i]), bf16_to_double(s[i]), op),
			                   7, 8);
		break;
	}
	default: break;
	}
}

/* ncclAvg: the sum divided by the number of ranks. */
static void finish_avg(void *buf, size_t n, ncclDataType_t t, int nranks)
{
	for (size_t i = 0; i < n; i++) {
		switch (t) {
		case ncclInt8: ((int8_t *)buf)[i] /= nranks; break;
		case ncclUint8: ((uint8_t *)buf)[i] /= (unsigned)nranks; break;
		case ncclInt32: ((int32_t *)buf)[i] /= nranks; break;
		case ncclUint32: ((uint32_t *)buf)[i] /= (unsigned)nranks; break;
		case ncclInt64: ((int64_t *)buf)[i] /= nranks; break;
		case ncclUint64: ((uint64_t *)buf)[i] /= (unsigned)nranks; break;
		case ncclFloat32: ((float *)buf)[i] /= (float)nranks; break;
		case ncclFloat64: ((double *)buf)[i] /= nranks; break;
		case ncclFloat16:
			((uint16_t *)buf)[i] =
			        round_small(half_to_double(((uint16_t *)buf)[i]) / nranks, 10, 5);
			break;
		case ncclBfloat16:
			((uint16_t *)buf)[i] =
			        round_small(bf16_to_double(((uint16_t *)buf)[i]) / nranks, 7, 8);
			break;
		default: break;
		}
	}
}

/* ---------------------------------------------------------------------------
 * Data movement: a set of sends and receives run together.
 * ------------------------------------------------------------------------- */

struct xfer {
	int peer;
	char *buf;
	size_t bytes;
	uint64_t hdr; /* the size announced ahead of the data */
	size_t done;  /* of sizeof(hdr) + bytes */
};

/* Progress one transfer; 1 finished, 0 would block, -1 error. */
static int step(struct ncclComm *c, struct xfer *x, int out)
{
	int fd = c->fds[x->peer];
	while (x->done < sizeof(x->hdr) + x->bytes) {
		char *p;
		size_t left;
		if (x->done < sizeof(x->hdr)) {
			p = (char *)&x->hdr + x->done;
			left = sizeof(x->hdr) - x->done;
		} else {
			p = x->buf + (x->done - sizeof(x->hdr));
			left = x->bytes - (x->done - sizeof(x->hdr));
		}
		ssize_t k = out ? send(fd, p, left, MSG_NOSIGNAL) : recv(fd, p, left, 0);
		if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return 0;
		if (k <= 0)
			return -1;
		x->done += (size_t)k;
		if (!out && x->done == sizeof(x->hdr) && x->hdr != x->bytes) {
			comm_set_error(c, ncclInvalidUsage,
			               "rank %d: rank %d sent %llu bytes where "
			               "%zu were expected (mismatched send/recv or collective)",
			               c->rank, x->peer, (unsigned long long)x->hdr, x->bytes);
			return -2;
		}
	}
	return 1;
}

/* Run sends and receives (self-transfers already removed) until all are
 * done; per peer, sends go in order and receives complete in order. */
static ncclResult_t exchange(struct ncclComm *c, struct xfer *s, int ns, struct xfer *r, int nr)
{
	for (int i = 0; i < ns; i++) {
		s[i].hdr = s[i].bytes;
		s[i].done = 0;
	}
	for (int i = 0; i < nr; i++) {
		r[i].done = 0;
		r[i].hdr = 0;
	}
	struct pollfd *pf = calloc((size_t)(ns + nr) + 1, sizeof(*pf));
	if (!pf)
		return ncclSystemError;
	uint64_t dl = deadline_ns();
	ncclResult_t res = ncclSuccess;
	for (;;) {
		int np = 0, pending = 0;
		/* The first unfinished transfer of each peer and direction. */
		for (int dir = 0; dir < 2; dir++) {
			struct xfer *v = dir ? s : r;
			int n = dir ? ns : nr;
			for (int i = 0; i < n; i++) {
				if (v[i].done == sizeof(v[i].hdr) + v[i].bytes)
					continue;
				int first = 1;
				for (int j = 0; j < i; j++)
					if (v[j].peer == v[i].peer &&
					    v[j].done < sizeof(v[j].hdr) + v[j].bytes)
						first = 0;
				if (!first)
					continue;
				pending++;
				int k = step(c, &v[i], dir);
				if (k < 0) {
					if (k == -1)
						comm_set_error(c,
						               aborted(c) ? ncclInvalidUsage
						                          : ncclRemoteError,
						               "rank %d: link to rank %d "
						               "failed%s",
						               c->rank, v[i].peer,
						               aborted(c) ? " (aborted)" : "");
					pthread_mutex_lock(&c->mu);
					res = c->async ? c->async : ncclRemoteError;
					pthread_mutex_unlock(&c->mu);
					goto out;
				}
				if (k == 1) {
					i--; /* the next of this peer may now go */
					continue;
				}
				pf[np].fd = c->fds[v[i].peer];
				pf[np].events = dir ? POLLOUT : POLLIN;
				np++;
			}
		}
		if (!pending)
			break;
		if (aborted(c)) {
			res = ncclInvalidUsage;
			goto out;
		}
		if (fsc_cudadouble_now_ns() > dl) {
			comm_set_error(c, ncclSystemError,
			               "rank %d: no progress for %u s "
			               "(FSC_CUDADOUBLE_TIMEOUT_S)",
			               c->rank, fsc_cudadouble_timeout_s());
			res = ncclSystemError;
			goto out;
		}
		if (np)
			poll(pf, (nfds_t)np, POLL_MS);
	}
out:
	free(pf);
	return res;
}

/* ---------------------------------------------------------------------------
 * Operations.
 * ------------------------------------------------------------------------- */

enum kind { K_ALLREDUCE, K_REDUCESCATTER, K_ALLGATHER, K_BROADCAST, K_SEND, K_RECV };

struct item {
	enum kind kind;
	struct ncclComm *comm;
	const void *sbuf;
	void *rbuf;
	size_t count;
	ncclDataType_t dt;
	ncclRedOp_t op;
	int peer; /* root for broadcast */
	cudaStream_t stream;
	long call; /* 1-based count on the communicator */
};

struct group {
	struct ncclComm *comm;
	uint64_t seq;
	int n;
	struct item *items;
};

static int fault_hits(const struct fault *f, const struct item *it)
{
	return f->set && (f->rank < 0 || f->rank == it->comm->rank) && f->nth == it->call;
}

/* Segment i of a buffer of count elements cut in n pieces. */
static void seg(size_t count, int n, int i, size_t *off, size_t *len)
{
	size_t a = count * (size_t)i / (size_t)n, b = count * (size_t)(i + 1) / (size_t)n;
	*off = a;
	*len = b - a;
}

static int mod(int a, int n)
{
	return ((a % n) + n) % n;
}

/* Ring reduce-scatter over segments given by offs/lens (element units):
 * rank r ends with segment r reduced, written to out. */
static ncclResult_t ring_rs(struct ncclComm *c, const char *src, const size_t *offs,
                            const size_t *lens, char *out, ncclDataType_t dt, ncclRedOp_t op)
{
	int n = c->nranks, r = c->rank;
	size_t es = type_size(dt), maxlen = 0;
	for (int i = 0; i < n; i++)
		maxlen = lens[i] > maxlen ? lens[i] : maxlen;
	char *acc = malloc(maxlen * es + 1), *in = malloc(maxlen * es + 1);
	if (!acc || !in) {
		free(acc);
		free(in);
		return ncclSystemError;
	}
	ncclResult_t res = ncclSuccess;
	int next = mod(r + 1, n), prev = mod(r - 1, n);
	for (int k = 0; k < n - 1 && !res; k++) {
		int ss = mod(r - k - 1, n), rs = mod(r - k - 2, n);
		struct xfer snd = {.peer = next, .bytes = lens[ss] * es};
		snd.buf = k == 0 ? (char *)src + offs[ss] * es : acc;
		struct xfer rcv = {.peer = prev, .buf = in, .bytes = lens[rs] * es};
		res = exchange(c, &snd, 1, &rcv, 1);
		if (res)
			break;
		/* acc = received partial op own contribution */
		memcpy(acc, in, lens[rs] * es);
		reduce(acc, src + offs[rs] * es, lens[rs], dt, op);
	}
	if (!res) {
		if (n == 1)
			memcpy(acc, src + offs[r] * es, lens[r] * es);
		if (op == ncclAvg)
			finish_avg(acc, lens[r], dt, n);
		memcpy(out, acc, lens[r] * es);
	}
	free(acc);
	free(in);
	return res;
}

/* Ring all-gather in place: rank r holds segment r of buf. */
static ncclResult_t ring_ag(struct ncclComm *c, char *buf, const size_t *offs, const size_t *lens,
                            size_t es)
{
	int n = c->nranks, r = c->rank;
	int next = mod(r + 1, n), prev = mod(r - 1, n);
	for (int k = 0; k < n - 1; k++) {
		int ss = mod(r - k, n), rs = mod(r - k - 1, n);
		struct xfer snd = {
		        .peer = next, .buf = buf + offs[ss] * es, .bytes = lens[ss] * es};
		struct xfer rcv = {
		        .peer = prev, .buf = buf + offs[rs] * es, .bytes = lens[rs] * es};
		ncclResult_t res = exchange(c, &snd, 1, &rcv, 1);
		if (res)
			return res;
	}
	return ncclSuccess;
}

static ncclResult_t run_collective(struct item *it)
{
	struct ncclComm *c = it->comm;
	int n = c->nranks;
	size_t es = type_size(it->dt);
	size_t *offs = malloc(sizeof(size_t) * (size_t)n),
	       *lens = malloc(sizeof(size_t) * (size_t)n);
	ncclResult_t res = ncclSuccess;
	if (!offs || !lens) {
		res = ncclSystemError;
		goto out;
	}
	switch (it->kind) {
	case K_ALLREDUCE:
		for (int i = 0; i < n; i++)
			seg(it->count, n, i, &offs[i], &lens[i]);
		res = ring_rs(c, it->sbuf, offs, lens, (char *)it->rbuf + offs[c->rank] * es,
		              it->dt, it->op);
		if (!res)
			res = ring_ag(c, it->rbuf, offs, lens, es);
		break;
	case K_REDUCESCATTER:
		for (int i = 0; i < n; i++) {
			offs[i] = it->count * (size_t)i;
			lens[i] = it->count;
		}
		res = ring_rs(c, it->sbuf, offs, lens, it->rbuf, it->dt, it->op);
		break;
	case K_ALLGATHER: {
		for (int i = 0; i < n; i++) {
			offs[i] = it->count * (size_t)i;
			lens[i] = it->count;
		}
		char *mine = (char *)it->rbuf + offs[c->rank] * es;
		if (mine != it->sbuf)
			memmove(mine, it->sbuf, it->count * es);
		res = ring_ag(c, it->rbuf, offs, lens, es);
		break;
	}
	case K_BROADCAST: {
		size_t bytes = it->count * es;
		if (c->rank == it->peer) {
			if (it->rbuf != it->sbuf)
				memmove(it->rbuf, it->sbuf, bytes);
			struct xfer *s = calloc((size_t)n, sizeof(*s));
			int ns = 0;
			for (int i = 0; s && i < n; i++)
				if (i != c->rank)
					s[ns++] = (struct xfer){
					        .peer = i, .buf = it->rbuf, .bytes = bytes};
			res = s ? exchange(c, s, ns, NULL, 0) : ncclSystemError;
			free(s);
		} else {
			struct xfer r = {.peer = it->peer, .buf = it->rbuf, .bytes = bytes};
			res = exchange(c, NULL, 0, &r, 1);
		}
		break;
	}
	default: break;
	}
out:
	free(offs);
	free(lens);
	return res;
}

/* The group's sends and receives, together; self pairs copy in order. */
static ncclResult_t run_p2p(struct ncclComm *c, struct item *items, int n)
{
	struct xfer *s = calloc((size_t)n + 1, sizeof(*s)), *r = calloc((size_t)n + 1, sizeof(*r));
	int ns = 0, nr = 0;
	ncclResult_t res = ncclSuccess;
	if (!s || !r) {
		res = ncclSystemError;
		goto out;
	}
	/* Self: the k-th send to self feeds the k-th receive from self. */
	int si = 0;
	for (int i = 0; i < n; i++) {
		if (items[i].kind != K_RECV || items[i].peer != c->rank)
			continue;
		while (si < n && !(items[si].kind == K_SEND && items[si].peer == c->rank))
			si++;
		size_t rb = items[i].count * type_size(items[i].dt);
		size_t sb = si < n ? items[si].count * type_size(items[si].dt) : 0;
		if (si >= n || sb != rb) {
			comm_set_error(c, ncclInvalidUsage,
			               "rank %d: a receive from itself of %zu "
			               "bytes has no matching send in its group",
			               c->rank, rb);
			res = ncclInvalidUsage;
			goto out;
		}
		memmove(items[i].rbuf, items[si].sbuf, rb);
		si++;
	}
	for (int i = 0; i < n; i++) {
		if (items[i].peer == c->rank)
			continue;
		size_t b = items[i].count * type_size(items[i].dt);
		if (items[i].kind == K_SEND)
			s[ns++] = (struct xfer){
			        .peer = items[i].peer, .buf = (char *)items[i].sbuf, .bytes = b};
		else if (items[i].kind == K_RECV)
			r[nr++] = (struct xfer){
			        .peer = items[i].peer, .buf = items[i].rbuf, .bytes = b};
	}
	res = exchange(c, s, ns, r, nr);
out:
	free(s);
	free(r);
	return res;
}

/* Runs on the stream worker: waits for its turn on the communicator, runs
 * the group, applies the faults. */
static void group_run(void *arg)
{
	struct group *g = arg;
	struct ncclComm *c = g->comm;
	uint64_t dl = deadline_ns();
	pthread_mutex_lock(&c->mu);
	while (c->executed != g->seq && !c->aborted && fsc_cudadouble_now_ns() < dl) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += POLL_MS * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&c->cv, &c->mu, &ts);
	}
	int skip = c->aborted || c->async != ncclSuccess || c->executed != g->seq;
	c->running++;
	pthread_mutex_unlock(&c->mu);
	int hang = 0, flip = -1;
	for (int i = 0; i < g->n; i++) {
		hang |= fault_hits(&g_hang, &g->items[i]);
		if (flip < 0 && fault_hits(&g_flip, &g->items[i]) && g->items[i].kind != K_SEND)
			flip = i;
	}
	if (!skip && hang) {
		/* The fault: this group never completes, until the abort. */
		pthread_mutex_lock(&c->mu);
		while (!c->aborted && fsc_cudadouble_now_ns() < dl) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 1;
			pthread_cond_timedwait(&c->cv, &c->mu, &ts);
		}
		pthread_mutex_unlock(&c->mu);
		skip = 1;
	}
	ncclResult_t res = ncclSuccess;
	int np2p = 0;
	for (int i = 0; i < g->n && !skip && !res; i++) {
		if (g->items[i].kind == K_SEND || g->items[i].kind == K_RECV)
			np2p++;
		else
			res = run_collective(&g->items[i]);
	}
	if (!skip && !res && np2p) {
		struct item *p = malloc(sizeof(*p) * (size_t)np2p);
		int k = 0;
		for (int i = 0; p && i < g->n; i++)
			if (g->items[i].kind == K_SEND || g->items[i].kind == K_RECV)
				p[k++] = g->items[i];
		res = p ? run_p2p(c, p, np2p) : ncclSystemError;
		free(p);
	}
	if (!skip && !res && flip >= 0) {
		struct item *it = &g->items[flip];
		size_t bytes = it->count * type_size(it->dt);
		if (it->kind == K_ALLGATHER || it->kind == K_BROADCAST || it->kind == K_ALLREDUCE ||
		    it->kind == K_REDUCESCATTER || it->kind == K_RECV)
			if (bytes)
				((unsigned char *)it->rbuf)[0] ^= 0xff;
	}
	if (res && !skip)
		comm_set_error(c, res, "rank %d: operation %ld failed: %s", c->rank,
		               g->items[0].call, ncclGetErrorString(res));
	pthread_mutex_lock(&c->mu);
	c->running--;
	if (c->executed == g->seq)
		c->executed++;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	free(g->items);
	free(g);
}

/* ---------------------------------------------------------------------------
 * Groups and the API calls.
 * ------------------------------------------------------------------------- */

static _Thread_local int t_depth;
static _Thread_local struct item *t_items;
static _Thread_local int t_nitems, t_cap;
static _Thread_local ncclResult_t t_group_error;

/* Issue items (all of one communicator and one stream or several) as one
 * group per communicator. */
static ncclResult_t issue(struct item *items, int n)
{
	for (int i = 0; i < n; i++) {
		if (!items[i].comm)
			continue;
		struct ncclComm *c = items[i].comm;
		int m = 0;
		for (int j = i; j < n; j++)
			m += items[j].comm == c;
		struct group *g = malloc(sizeof(*g));
		struct item *mine = malloc(sizeof(*mine) * (size_t)m);
		if (!g || !mine) {
			free(g);
			free(mine);
			return fail(c, ncclSystemError, "out of memory");
		}
		m = 0;
		for (int j = i; j < n; j++)
			if (items[j].comm == c) {
				mine[m++] = items[j];
				if (j != i)
					items[j].comm = NULL;
			}
		items[i].comm = NULL;
		pthread_mutex_lock(&c->mu);
		g->seq = c->issued++;
		pthread_mutex_unlock(&c->mu);
		g->comm = c;
		g->n = m;
		g->items = mine;
		if (fsc_cudadouble_enqueue(mine[0].stream, group_run, g) != cudaSuccess) {
			/* Keep the issue order consistent: run it here as skipped. */
			comm_set_error(c, ncclUnhandledCudaError,
			               "rank %d: cannot queue on stream %p", c->rank,
			               (void *)mine[0].stream);
			group_run(g);
			return ncclUnhandledCudaError;
		}
	}
	return ncclSuccess;
}

static ncclResult_t check_buf(struct ncclComm *c, const char *what, const char *name, const void *p,
                              size_t bytes)
{
	if (bytes == 0)
		return ncclSuccess;
	if (!p)
		return fail(c, ncclInvalidArgument, "%s: %s is NULL", what, name);
	int d = fsc_cudadouble_device_of(p, bytes);
	if (d < 0)
		return fail(c, ncclInvalidArgument,
		            "%s: %s %p (%zu bytes) is not device memory from "
		            "cudaMalloc",
		            what, name, p, bytes);
	if (d != c->device)
		return fail(c, ncclInvalidArgument,
		            "%s: %s %p is on device %d, the communicator on "
		            "device %d",
		            what, name, p, d, c->device);
	return ncclSuccess;
}

static ncclResult_t submit_item(struct item it, const char *what, size_t sbytes, size_t rbytes)
{
	struct ncclComm *c = it.comm;
	ncclResult_t r = check_ready(c, what);
	if (!r && type_size(it.dt) == 0)
		r = fail(c, ncclInvalidArgument,
		         "%s: datatype %d is not valid: expected ncclInt8 .. "
		         "ncclBfloat16 (the stand-in has no fp8)",
		         what, (int)it.dt);
	if (!r && (unsigned)it.op >= ncclNumOps)
		r = fail(c, ncclInvalidArgument,
		         "%s: op %d is not valid: expected ncclSum .. ncclAvg", what, (int)it.op);
	if (!r && (it.peer < 0 || it.peer >= c->nranks))
		r = fail(c, ncclInvalidArgument, "%s: %s %d is not valid: expected 0..%d", what,
		         it.kind == K_BROADCAST ? "root" : "peer", it.peer, c->nranks - 1);
	if (!r)
		r = check_buf(c, what, "sendbuff", it.sbuf, sbytes);
	if (!r)
		r = check_buf(c, what, "recvbuff", it.rbuf, rbytes);
	if (!r) {
		int sd = fsc_cudadouble_stream_device(it.stream);
		if (sd < 0)
			r = fail(c, ncclInvalidArgument, "%s: stream %p is not a live CUDA stream",
			         what, (void *)it.stream);
		else if (sd != c->device)
			r = fail(c, ncclInvalidArgument,
			         "%s: stream %p is on device %d, the "
			         "communicator on device %d",
			         what, (void *)it.stream, sd, c->device);
	}
	if (r) {
		if (t_depth)
			t_group_error = t_group_error ? t_group_error : r;
		return r;
	}
	pthread_mutex_lock(&c->mu);
	it.call = ++c->calls;
	pthread_mutex_unlock(&c->mu);
	if (!t_depth)
		return issue(&it, 1);
	if (t_nitems == t_cap) {
		int cap = t_cap ? t_cap * 2 : 16;
		struct item *n = realloc(t_items, sizeof(*n) * (size_t)cap);
		if (!n)
			return fail(c, ncclSystemError, "out of memory");
		t_items = n;
		t_cap = cap;
	}
	t_items[t_nitems++] = it;
	return ncclSuccess;
}

/* count elements times times, or SIZE_MAX when that overflows (no buffer
 * is that long, so the buffer check refuses it). */
static size_t bytes_of(size_t count, ncclDataType_t dt, size_t times)
{
	size_t unit = type_size(dt) * times;
	if (unit && count > SIZE_MAX / unit)
		return SIZE_MAX;
	return count * unit;
}

EXPORT ncclResult_t ncclAllReduce(const void *sendbuff, void *recvbuff, size_t count,
                                  ncclDataType_t datatype, ncclRedOp_t op, ncclComm_t comm,
                                  cudaStream_t stream)
{
	struct item it = {K_ALLREDUCE, comm, sendbuff, recvbuff, count, datatype, op, 0, stream, 0};
	return submit_item(it, "ncclAllReduce", bytes_of(count, datatype, 1),
	                   bytes_of(count, datatype, 1));
}

EXPORT ncclResult_t ncclReduceScatter(const void *sendbuff, void *recvbuff, size_t recvcount,
                                      ncclDataType_t datatype, ncclRedOp_t op, ncclComm_t comm,
                                      cudaStream_t stream)
{
	struct item it = {K_REDUCESCATTER, comm, sendbuff, recvbuff, recvcount,
	                  datatype,        op,   0,        stream,   0};
	size_t n = comm && known(comm) ? (size_t)comm->nranks : 1;
	return submit_item(it, "ncclReduceScatter", bytes_of(recvcount, datatype, n),
	                   bytes_of(recvcount, datatype, 1));
}

EXPORT ncclResult_t ncclAllGather(const void *sendbuff, void *recvbuff, size_t sendcount,
                                  ncclDataType_t datatype, ncclComm_t comm, cudaStream_t stream)
{
	struct item it = {K_ALLGATHER, comm,    sendbuff, recvbuff, sendcount,
	                  datatype,    ncclSum, 0,        stream,   0};
	size_t n = comm && known(comm) ? (size_t)comm->nranks : 1;
	return submit_item(it, "ncclAllGather", bytes_of(sendcount, datatype, 1),
	                   bytes_of(sendcount, datatype, n));
}

EXPORT ncclResult_t ncclBroadcast(const void *sendbuff, void *recvbuff, size_t count,
                                  ncclDataType_t datatype, int root, ncclComm_t comm,
                                  cudaStream_t stream)
{
	struct item it = {K_BROADCAST, comm,    sendbuff, recvbuff, count,
	                  datatype,    ncclSum, root,     stream,   0};
	/* Only the root's sendbuff is read. */
	int is_root = comm && known(comm) && comm->rank == root;
	return submit_item(it, "ncclBroadcast", is_root ? bytes_of(count, datatype, 1) : 0,
	                   bytes_of(count, datatype, 1));
}

EXPORT ncclResult_t ncclSend(const void *sendbuff, size_t count, ncclDataType_t datatype, int peer,
                             ncclComm_t comm, cudaStream_t stream)
{
	struct item it = {K_SEND, comm, sendbuff, NULL, count, datatype, ncclSum, peer, stream, 0};
	return submit_item(it, "ncclSend", bytes_of(count, datatype, 1), 0);
}

EXPORT ncclResult_t ncclRecv(void *recvbuff, size_t count, ncclDataType_t datatype, int peer,
                             ncclComm_t comm, cudaStream_t stream)
{
	struct item it = {K_RECV, comm, NULL, recvbuff, count, datatype, ncclSum, peer, stream, 0};
	return submit_item(it, "ncclRecv", 0, bytes_of(count, datatype, 1));
}

EXPORT ncclResult_t ncclGroupStart(void)
{
	t_depth++;
	return ncclSuccess;
}

EXPORT ncclResult_t ncclGroupEnd(void)
{
	if (t_depth == 0)
		return fail(NULL, ncclInvalidUsage, "ncclGroupEnd: no matching ncclGroupStart");
	if (--t_depth)
		return ncclSuccess;
	ncclResult_t r = t_group_error;
	t_group_error = ncclSuccess;
	if (r == ncclSuccess)
		r = issue(t_items, t_nitems);
	else
		fail(NULL, r, "ncclGroupEnd: an operation of the group was refused: %s", t_msg);
	/* Nothing stays with the thread between groups. */
	free(t_items);
	t_items = NULL;
	t_nitems = t_cap = 0;
	return r;
}
