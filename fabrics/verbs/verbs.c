/* verbs fabric: InfiniBand and RoCE through rdma-core's libibverbs.
 *
 * One RC QP per peer, connected through the bootstrap (QP numbers, PSNs,
 * LIDs and GIDs allgathered; no rdma_cm).  Two-sided tag-matched messages:
 *  - eager (bytes <= --verbs-eager): a 24-byte header and the payload copied
 *    into a registered bounce slot and SENT into one of the receiver's
 *    pre-posted buffers (inline when it fits --verbs-inline);
 *  - rendezvous (larger): the sender's buffer is registered (MR cache) and
 *    announced in an RTS header; the receiver, once matched, RDMA-READs it
 *    straight into the user's buffer and answers FIN, which completes the
 *    send.
 * Credits: a sender only SENDs while it knows the peer has a receive posted
 * (initially --verbs-rx-depth, one reserved for credit returns); receivers
 * return credits in every header and, when they have nothing to say, in a
 * CREDIT message once half the ring was consumed.  So no RNR NAK ever
 * happens in normal operation (the QPs still retry RNR forever as a belt).
 * One-sided transfers: windows are MRs whose (address, rkey) every rank
 * learns through the bootstrap; put is an RDMA WRITE, a notified put an
 * RDMA WRITE WITH IMMEDIATE (the tag), get an RDMA READ (see "one-sided").
 * Everything is progressed from test()/progress() by polling one CQ.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <infiniband/verbs.h>

#include "err.h"
#include "fabric.h"
#include "log.h"
#include "options.h"
#include "vinfo.h"

#define V_HDR 24
#define V_SQ_EXTRA 32 /* send WRs beyond the bounce slots: RDMA READs */
#define V_POLL 16

enum vmsg { VM_EAGER = 1, VM_RTS, VM_FIN, VM_CREDIT };

/* On the wire, host byte order (ranks share one, as the bootstrap's
 * allgather assumes). */
struct vhdr {
	uint8_t type;
	uint8_t status; /* FIN: 0 ok, 1 size mismatch */
	uint16_t credits;
	int32_t tag;
	uint64_t len;
	uint64_t id; /* RTS / FIN: the sender's request */
};
struct vrts {
	struct vhdr h;
	uint64_t addr;
	uint32_t rkey;
	uint32_t pad;
};

enum vstate { VS_PENDING = 0, VS_QUEUED, VS_RTS_SENT, VS_MATCHED, VS_READING, VS_RMA, VS_DONE };

/* Request state, in fsc_req.opaque. */
struct vreq {
	struct fsc_req *next;
	void *buf;
	int state;
	int status;
	/* receive matched to an RTS / send waiting for FIN */
	uint64_t raddr;
	uint32_t rkey;
	uint32_t pad;
	uint64_t rid;
	uint64_t rlen;
	struct ibv_mr *tmp_mr; /* registered for this transfer only */
	int rma_op;            /* VS_RMA: IBV_WR_RDMA_WRITE(_WITH_IMM) or _READ */
};
_Static_assert(sizeof(struct vreq) <= sizeof(((struct fsc_req *)0)->opaque),
               "request state must fit fsc_req.opaque");

static struct vreq *V(struct fsc_req *r)
{
	return (struct vreq *)r->opaque;
}

struct vqueue {
	struct fsc_req *head, *tail;
};

struct vunexp {
	struct vunexp *next;
	int type;
	int tag;
	uint64_t len;
	uint64_t id, addr;
	uint32_t rkey;
	uint8_t data[]; /* eager payload */
};

struct vpeer {
	struct ibv_qp *qp;
	uint32_t rqpn;  /* the peer's QP for us */
	int credits;    /* receives the peer has posted for us, as we know */
	int unreported; /* receives we reposted and have not told the peer about */
	int sq_used;
	int failed;
	/* An operation with this peer was cancelled: tag order can no longer
	 * be trusted, so what it still sends is dropped and new operations
	 * with it fail (the contract's poisoned peer, src/fabric.h). */
	int poisoned;
	uint32_t *free_slots; /* bounce slot stack */
	int nfree;
	struct vqueue pending; /* sends waiting for a credit or slot */
	struct vqueue posted;  /* receives not matched yet */
	struct vqueue rndv;    /* sends waiting for FIN */
	struct vunexp *unexp, **unexp_tail;
};

struct vmr {
	struct vmr *next;
	char *buf;
	size_t bytes;
	struct ibv_mr *mr;
};

struct vconn_info { /* per rank, allgathered */
	uint16_t lid;
	uint8_t gid[16];
	uint8_t pad[6];
};

struct verbs {
	struct fsc_fabric *f;
	/* options */
	char dev_opt[64];
	int port_opt;
	int gid_opt; /* -1 = auto */
	char if_opt[64];
	int mtu_opt; /* 0 = active */
	uint32_t rx_depth, tx_depth;
	size_t eager;
	uint32_t inline_max;
	int sl, tclass;
	int qp_timeout, retry_cnt, rnr_retry;
	/* device */
	struct ibv_device **list;
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	int port;
	struct ibv_port_attr pattr;
	struct ibv_device_attr dattr;
	int gid_index;
	union ibv_gid gid;
	char gid_type[16];
	char selected_by[160];
	enum ibv_mtu mtu;
	/* buffers */
	size_t slot_bytes;
	uint8_t *rx_slab, *tx_slab;
	struct ibv_mr *rx_mr, *tx_mr;
	struct vpeer *peers;
	struct vmr *mrs;
	int connected;
	int cq_failed;
};

/* --verbs-mtu, in the order of its choices. */
enum verbs_mtu { VMTU_ACTIVE, VMTU_256, VMTU_512, VMTU_1024, VMTU_2048, VMTU_4096 };

/* The values of verbs_opts, filled once by fsc_config_fill. */
struct verbs_conf {
	const char *dev; /* "mlx5_0" or "mlx5_0:1"; NULL: automatic */
	const char *gid; /* "auto" or an index */
	const char *ifspec;
	enum verbs_mtu mtu;
	int64_t rx_depth, tx_depth;
	uint64_t eager, inline_max;
	int64_t sl, tclass;
	int64_t qp_timeout, retry_cnt, rnr_retry;
};

static const struct fsc_opt verbs_opts[] = {
        {"verbs-dev", 0, FSC_OPT_STRING, NULL,
         "HCA and port, e.g. mlx5_0 or mlx5_0:1; default: the first ACTIVE port", NULL, 0, 0,
         FSC_AT_STRING(struct verbs_conf, dev)},
        {"verbs-gid", 0, FSC_OPT_STRING, "auto",
         "GID index (RoCE), or auto: a RoCE v2 IPv4-mapped GID (of --verbs-if if given)", NULL, 0,
         0, FSC_AT_STRING(struct verbs_conf, gid)},
        {"verbs-if", 0, FSC_OPT_STRING, NULL,
         "RoCE: interface name, IPv4 subnet (198.18.0.0/24) or address whose GID to use", NULL, 0,
         0, FSC_AT_STRING(struct verbs_conf, ifspec)},
        {"verbs-mtu", 0, FSC_OPT_CHOICE, "active", "path MTU: the port's active MTU or a size",
         "active|256|512|1024|2048|4096", 0, 0, FSC_AT_CHOICE(struct verbs_conf, mtu)},
        {"verbs-rx-depth", 0, FSC_OPT_INT, "64", "receive buffers pre-posted per peer (credits)",
         NULL, 4, 4096, FSC_AT_INT(struct verbs_conf, rx_depth)},
        {"verbs-tx-depth", 0, FSC_OPT_INT, "64", "bounce slots (eager sends in flight) per peer",
         NULL, 4, 4096, FSC_AT_INT(struct verbs_conf, tx_depth)},
        {"verbs-eager", 0, FSC_OPT_SIZE, "8K", "largest message sent eagerly (copied)", NULL, 0,
         1048576, FSC_AT_SIZE(struct verbs_conf, eager)},
        {"verbs-inline", 0, FSC_OPT_SIZE, "64", "largest send posted inline (header included)",
         NULL, 0, 1024, FSC_AT_SIZE(struct verbs_conf, inline_max)},
        {"verbs-sl", 0, FSC_OPT_INT, "0", "service level (IB)", NULL, 0, 15,
         FSC_AT_INT(struct verbs_conf, sl)},
        {"verbs-tclass", 0, FSC_OPT_INT, "0", "traffic class (RoCE GRH)", NULL, 0, 255,
         FSC_AT_INT(struct verbs_conf, tclass)},
        {"verbs-qp-timeout", 0, FSC_OPT_INT, "18",
         "local ACK timeout: retransmit after 4.096 us * 2^N without an acknowledgement "
         "(18 = 1.07 s; 0 = wait forever)",
         NULL, 0, 31, FSC_AT_INT(struct verbs_conf, qp_timeout)},
        {"verbs-retry", 0, FSC_OPT_INT, "7",
         "retransmissions before a QP fails with transport retry counter exceeded", NULL, 0, 7,
         FSC_AT_INT(struct verbs_conf, retry_cnt)},
        {"verbs-rnr-retry", 0, FSC_OPT_INT, "7",
         "RNR retries before a QP fails when the peer has no receive posted (7 = forever; "
         "credits keep RNR from happening, so a lower value turns a receiver that ran out "
         "of receives into an error)",
         NULL, 0, 7, FSC_AT_INT(struct verbs_conf, rnr_retry)},
        {NULL, 0, 0, NULL, NULL, NULL, 0, 0, {0, 0, 0}},
};

static const char *host_of(struct fsc_fabric *f, int rank)
{
	return f->boot && f->boot->hosts ? f->boot->hosts[rank] : "?";
}

/* ---------------------------------------------------------------- options */

/* A decimal integer in [min, max] filling the whole of s. */
static int parse_uint(const char *s, long min, long max, int *out)
{
	char *end;
	long n;

	if (!s || !*s || *s == '-' || *s == '+')
		return -EINVAL;
	errno = 0;
	n = strtol(s, &end, 10);
	if (errno || *end || n < min || n > max)
		return -EINVAL;
	*out = (int)n;
	return 0;
}

/* Fill v's options from cfg (the table's defaults where cfg lacks them).
 * A bad --verbs-dev port or --verbs-gid is -EINVAL with one line in err
 * naming the value and what is valid. */
static int read_options(struct verbs *v, const struct fsc_config *cfg, char *err, size_t len)
{
	static const int mtus[] = {0, 256, 512, 1024, 2048, 4096};
	struct verbs_conf c;
	int rc;

	memset(&c, 0, sizeof(c));
	rc = fsc_config_fill(cfg, verbs_opts, &c, err, len);
	if (rc)
		return rc;
	v->gid_opt = -1;
	if (c.dev && *c.dev) {
		const char *colon = strchr(c.dev, ':');
		size_t n = colon ? (size_t)(colon - c.dev) : strlen(c.dev);

		if (n == 0 || n >= sizeof(v->dev_opt) ||
		    (colon && parse_uint(colon + 1, 1, 255, &v->port_opt))) {
			snprintf(err, len,
			         "invalid value '%s' for --verbs-dev: expected an HCA name with an "
			         "optional port from 1 to 255, e.g. mlx5_0 or mlx5_0:1",
			         c.dev);
			return -EINVAL;
		}
		snprintf(v->dev_opt, sizeof(v->dev_opt), "%.*s", (int)n, c.dev);
	}
	if (c.gid && strcmp(c.gid, "auto") && parse_uint(c.gid, 0, 255, &v->gid_opt)) {
		snprintf(err, len,
		         "invalid value '%s' for --verbs-gid: expected auto or a GID index from 0 "
		         "to 255",
		         c.gid);
		return -EINVAL;
	}
	if (c.ifspec)
		snprintf(v->if_opt, sizeof(v->if_opt), "%s", c.ifspec);
	v->mtu_opt = c.mtu >= VMTU_ACTIVE && c.mtu <= VMTU_4096 ? mtus[c.mtu] : 0;
	v->rx_depth = (uint32_t)c.rx_depth;
	v->tx_depth = (uint32_t)c.tx_depth;
	v->eager = (size_t)c.eager;
	v->inline_max = (uint32_t)c.inline_max;
	v->sl = (int)c.sl;
	v->tclass = (int)c.tclass;
	v->qp_timeout = (int)c.qp_timeout;
	v->retry_cnt = (int)c.retry_cnt;
	v->rnr_retry = (int)c.rnr_retry;
	return 0;
}

/* ---------------------------------------------------------------- device */

/* Pick the device and port: --verbs-dev; else, among ACTIVE ports, the HCA
 * whose local CPUs (sysfs, what hwloc reads too) hold most of the cores
 * this rank may run on; else the first ACTIVE port.  Fills v->ctx,
 * v->port, v->pattr, v->dattr and v->selected_by; a reason on failure. */
static int open_device(struct verbs *v, char *reason, size_t len)
{
	int n = 0, best_near = -1, any_near = 0;
	char seen[256] = "";
	cpu_set_t mine;

	CPU_ZERO(&mine);
	if (sched_getaffinity(0, sizeof(mine), &mine))
		CPU_ZERO(&mine);
	v->list = ibv_get_device_list(&n);
	if (!v->list || n == 0) {
		snprintf(reason, len, "no RDMA device found");
		return -ENODEV;
	}
	for (int i = 0; i < n; i++) {
		const char *name = ibv_get_device_name(v->list[i]);
		struct ibv_context *ctx;
		struct ibv_device_attr da;
		int near = vinfo_near_cpus(v->list[i], &mine), kept = 0;

		any_near |= near > 0;
		if (v->dev_opt[0] && strcmp(name, v->dev_opt))
			continue;
		if (v->ctx && near <= best_near)
			continue; /* cannot beat the one chosen */
		ctx = ibv_open_device(v->list[i]);
		if (!ctx)
			continue;
		if (ibv_query_device(ctx, &da)) {
			ibv_close_device(ctx);
			continue;
		}
		for (int p = 1; p <= da.phys_port_cnt && !kept; p++) {
			struct ibv_port_attr pa;

			if (v->port_opt && p != v->port_opt)
				continue;
			if (ibv_query_port(ctx, (uint8_t)p, &pa))
				continue;
			if (pa.state != IBV_PORT_ACTIVE) {
				size_t l = strlen(seen);

				snprintf(seen + l, sizeof(seen) - l, "%s%s port %d: %s",
				         l ? ", " : "", name, p, ibv_port_state_str(pa.state));
				continue;
			}
			if (v->ctx)
				ibv_close_device(v->ctx);
			v->ctx = ctx;
			v->port = p;
			v->pattr = pa;
			v->dattr = da;
			best_near = near;
			kept = 1;
			if (v->dev_opt[0])
				snprintf(v->selected_by, sizeof(v->selected_by), "--verbs-dev");
			else if (near > 0)
				snprintf(v->selected_by, sizeof(v->selected_by),
				         "nearest to this rank's cores (%d of them local to %s, "
				         "NUMA node %d)",
				         near, name, vinfo_numa(v->list[i]));
			else
				snprintf(v->selected_by, sizeof(v->selected_by),
				         "first ACTIVE port");
		}
		if (!kept)
			ibv_close_device(ctx);
		if (v->dev_opt[0] && v->ctx)
			break;
	}
	if (v->ctx) {
		if (!v->dev_opt[0] && best_near <= 0 && any_near) {
			size_t l = strlen(v->selected_by);

			snprintf(v->selected_by + l, sizeof(v->selected_by) - l,
			         " (no ACTIVE HCA local to this rank's cores)");
		}
		return 0;
	}
	if (v->dev_opt[0] && !seen[0]) {
		size_t l = 0;

		for (int i = 0; i < n && l < sizeof(seen); i++)
			l += (size_t)snprintf(seen + l, sizeof(seen) - l, "%s%s", i ? ", " : "",
			                      ibv_get_device_name(v->list[i]));
		snprintf(reason, len, "no RDMA device %s%s%.0d (have: %s)", v->dev_opt,
		         v->port_opt ? " port " : "", v->port_opt, seen);
		return -ENODEV;
	}
	snprintf(reason, len, "no ACTIVE RDMA port (%s)", seen);
	return -ENETDOWN;
}

/* --verbs-if as an address range: interface name, a.b.c.d/len or a.b.c.d. */
static int if_range(const char *s, uint32_t *net, uint32_t *mask)
{
	char buf[64];
	char *slash;
	struct in_addr a;
	struct ifaddrs *ifa, *i;
	int found = 0;

	snprintf(buf, sizeof(buf), "%s", s);
	slash = strchr(buf, '/');
	if (slash)
		*slash = 0;
	if (inet_pton(AF_INET, buf, &a) == 1) {
		int bits = slash ? atoi(slash + 1) : 32;

		*mask = bits <= 0 ? 0 : htonl(0xffffffffu << (32 - (bits > 32 ? 32 : bits)));
		*net = a.s_addr & *mask;
		return 0;
	}
	if (getifaddrs(&ifa))
		return -errno;
	for (i = ifa; i; i = i->ifa_next)
		if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET && !strcmp(i->ifa_name, s)) {
			*net = ((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr;
			*mask = 0xffffffffu;
			found = 1;
			break;
		}
	freeifaddrs(ifa);
	return found ? 0 : -ENOENT;
}

static int gid_is_v4mapped(const union ibv_gid *g)
{
	static const uint8_t pre[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	return !memcmp(g->raw, pre, 12);
}

/* RoCE: --verbs-gid N, or the first RoCE v2 IPv4-mapped GID (inside
 * --verbs-if when given).  IB: index 0 (routing by LID). */
static int select_gid(struct verbs *v, char *reason, size_t len)
{
	uint32_t net = 0, mask = 0;
	char have[256] = "";
	size_t hl = 0;

	if (v->pattr.link_layer != IBV_LINK_LAYER_ETHERNET) {
		v->gid_index = v->gid_opt >= 0 ? v->gid_opt : 0;
		snprintf(v->gid_type, sizeof(v->gid_type), "IB");
		return ibv_query_gid(v->ctx, (uint8_t)v->port, v->gid_index, &v->gid) ? -EINVAL : 0;
	}
	if (v->if_opt[0] && if_range(v->if_opt, &net, &mask)) {
		snprintf(reason, len, "--verbs-if %s: no such interface with an IPv4 address",
		         v->if_opt);
		return -EINVAL;
	}
	for (int i = 0; i < v->pattr.gid_tbl_len; i++) {
		struct ibv_gid_entry e;
		uint32_t ip;

		if (ibv_query_gid_ex(v->ctx, (uint32_t)v->port, (uint32_t)i, &e, 0))
			continue;
		if (v->gid_opt >= 0 && i != v->gid_opt)
			continue;
		memcpy(&ip, &e.gid.raw[12], 4);
		if (hl < sizeof(have) && gid_is_v4mapped(&e.gid)) {
			char a[INET_ADDRSTRLEN];

			inet_ntop(AF_INET, &ip, a, sizeof(a));
			hl += (size_t)snprintf(have + hl, sizeof(have) - hl, "%s%d: %s v%d",
			                       hl ? ", " : "", i, a,
			                       e.gid_type == IBV_GID_TYPE_ROCE_V2 ? 2 : 1);
		}
		if (v->gid_opt < 0) {
			if (e.gid_type != IBV_GID_TYPE_ROCE_V2 || !gid_is_v4mapped(&e.gid))
				continue;
			if (v->if_opt[0] && (ip & mask) != net)
				continue;
		}
		v->gid_index = i;
		v->gid = e.gid;
		snprintf(v->gid_type, sizeof(v->gid_type), "%s",
		         e.gid_type == IBV_GID_TYPE_ROCE_V2   ? "RoCE v2"
		         : e.gid_type == IBV_GID_TYPE_ROCE_V1 ? "RoCE v1"
		                                              : "IB");
		return 0;
	}
	if (v->gid_opt >= 0)
		snprintf(reason, len, "GID index %d of %s port %d is empty", v->gid_opt,
		         ibv_get_device_name(v->ctx->device), v->port);
	else
		snprintf(reason, len, "no RoCE v2 IPv4 GID on %s port %d%s%s (IPv4 GIDs: %s)",
		         ibv_get_device_name(v->ctx->device), v->port, v->if_opt[0] ? " for " : "",
		         v->if_opt, have[0] ? have : "none");
	return -EADDRNOTAVAIL;
}

static int verbs_probe(const struct fsc_config *cfg, char *reason, size_t len)
{
	struct verbs v = {0};
	int rc;

	rc = read_options(&v, cfg, reason, len);
	if (rc)
		return rc;
	rc = open_device(&v, reason, len);
	if (!rc)
		rc = select_gid(&v, reason, len);
	if (v.ctx)
		ibv_close_device(v.ctx);
	if (v.list)
		ibv_free_device_list(v.list);
	return rc;
}

/* ---------------------------------------------------------------- MR cache */

static struct vmr *mr_find(struct verbs *v, const void *buf, size_t bytes)
{
	for (struct vmr *m = v->mrs; m; m = m->next)
		if ((const char *)buf >= m->buf && (const char *)buf + bytes <= m->buf + m->bytes)
			return m;
	return NULL;
}

static struct ibv_mr *mr_reg(struct verbs *v, void *buf, size_t bytes)
{
	struct ibv_mr *mr = ibv_reg_mr(v->pd, buf, bytes ? bytes : 1,
	                               IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ |
	                                       IBV_ACCESS_REMOTE_WRITE);

	if (!mr)
		fsc_error("verbs: rank %d: cannot register %zu B at %p on %s: %s", v->f->rank,
		          bytes, buf, ibv_get_device_name(v->ctx->device), strerror(errno));
	return mr;
}

static int verbs_mem_reg(struct fsc_fabric *f, void *buf, size_t bytes)
{
	struct verbs *v = f->impl;
	struct vmr *m;

	if (!v || !v->pd)
		return 0; /* registration is cached lazily once connected */
	if (mr_find(v, buf, bytes))
		return 0;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->mr = mr_reg(v, buf, bytes);
	if (!m->mr) {
		free(m);
		return -EIO;
	}
	m->buf = buf;
	m->bytes = bytes;
	m->next = v->mrs;
	v->mrs = m;
	return 0;
}

static int verbs_mem_dereg(struct fsc_fabric *f, void *buf)
{
	struct verbs *v = f->impl;

	if (!v)
		return 0;
	for (struct vmr **pp = &v->mrs; *pp; pp = &(*pp)->next)
		if ((*pp)->buf == buf) {
			struct vmr *m = *pp;

			*pp = m->next;
			ibv_dereg_mr(m->mr);
			free(m);
			return 0;
		}
	return 0;
}

/* An MR covering [buf, buf+bytes): cached, else registered for this
 * transfer (*tmp set, deregistered at completion). */
static struct ibv_mr *mr_for(struct verbs *v, void *buf, size_t bytes, struct ibv_mr **tmp)
{
	struct vmr *m = mr_find(v, buf, bytes);

	*tmp = NULL;
	if (m)
		return m->mr;
	*tmp = mr_reg(v, buf, bytes);
	return *tmp;
}

/* ---------------------------------------------------------------- queues */

static void q_push(struct vqueue *q, struct fsc_req *r)
{
	V(r)->next = NULL;
	if (q->tail)
		V(q->tail)->next = r;
	else
		q->head = r;
	q->tail = r;
}

static int q_remove(struct vqueue *q, struct fsc_req *r)
{
	struct fsc_req *prev = NULL;

	for (struct fsc_req *c = q->head; c; prev = c, c = V(c)->next)
		if (c == r) {
			if (prev)
				V(prev)->next = V(c)->next;
			else
				q->head = V(c)->next;
			if (q->tail == c)
				q->tail = prev;
			return 1;
		}
	return 0;
}

static void req_finish(struct verbs *v, struct fsc_req *r, int status)
{
	struct vreq *q = V(r);

	if (q->tmp_mr) {
		ibv_dereg_mr(q->tmp_mr);
		q->tmp_mr = NULL;
	}
	(void)v;
	q->status = status;
	q->state = VS_DONE;
}

/* ---------------------------------------------------------------- posting */

static uint8_t *tx_slot(struct verbs *v, int peer, uint32_t slot)
{
	return v->tx_slab + ((size_t)peer * v->tx_depth + slot) * v->slot_bytes;
}

static uint8_t *rx_slot(struct verbs *v, int peer, uint32_t slot)
{
	return v->rx_slab + ((size_t)peer * v->rx_depth + slot) * v->slot_bytes;
}

/* wr_id: low 2 bits kind, the rest a slot number or a request pointer */
enum { WR_TX = 1, WR_RX = 2, WR_READ = 3 };

static int post_rx(struct verbs *v, int peer, uint32_t slot)
{
	struct ibv_sge sge = {.addr = (uintptr_t)rx_slot(v, peer, slot),
	                      .length = (uint32_t)v->slot_bytes,
	                      .lkey = v->rx_mr->lkey};
	struct ibv_recv_wr wr = {0}, *bad;
	int rc;

	wr.wr_id = (((uint64_t)peer * v->rx_depth + slot) << 2) | WR_RX;
	wr.sg_list = &sge;
	wr.num_sge = 1;
	rc = ibv_post_recv(v->peers[peer].qp, &wr, &bad);
	if (rc) {
		fsc_error("verbs: rank %d: posting a receive for rank %d (host %s) failed: %s",
		          v->f->rank, peer, host_of(v->f, peer), strerror(rc));
		return -EIO;
	}
	return 0;
}

/* A notified put: an immediate consumes a receive like a message, but
 * needs no bounce slot. */
static int can_send_imm(struct verbs *v, int peer)
{
	return v->peers[peer].credits > 1;
}

static int can_send(struct verbs *v, int peer, int control)
{
	struct vpeer *p = &v->peers[peer];

	/* one credit stays reserved for credit returns, so both sides can
	 * always tell the other that buffers were freed */
	return p->nfree > 0 && p->sq_used < (int)(v->tx_depth + V_SQ_EXTRA) &&
	       p->credits > (control ? 0 : 1);
}

/* Send a header (and eager payload) from a bounce slot; caller checked
 * can_send(). */
static int post_msg(struct verbs *v, int peer, const struct vhdr *h, size_t hlen, const void *data,
                    size_t len)
{
	struct vpeer *p = &v->peers[peer];
	uint32_t slot = p->free_slots[--p->nfree];
	uint8_t *b = tx_slot(v, peer, slot);
	struct vhdr *bh = (struct vhdr *)b;
	struct ibv_sge sge = {
	        .addr = (uintptr_t)b, .length = (uint32_t)(hlen + len), .lkey = v->tx_mr->lkey};
	struct ibv_send_wr wr = {0}, *bad;
	int rc;

	memcpy(b, h, hlen);
	bh->credits = (uint16_t)p->unreported;
	p->unreported = 0;
	if (len)
		memcpy(b + hlen, data, len);
	wr.wr_id = (((uint64_t)peer * v->tx_depth + slot) << 2) | WR_TX;
	wr.sg_list = &sge;
	wr.num_sge = 1;
	wr.opcode = IBV_WR_SEND;
	wr.send_flags = IBV_SEND_SIGNALED;
	if (hlen + len <= v->inline_max)
		wr.send_flags |= IBV_SEND_INLINE;
	rc = ibv_post_send(p->qp, &wr, &bad);
	if (rc) {
		p->free_slots[p->nfree++] = slot;
		fsc_error("verbs: rank %d: posting a send to rank %d (host %s, QP 0x%x) failed: %s",
		          v->f->rank, peer, host_of(v->f, peer), p->qp->qp_num, strerror(rc));
		return -EIO;
	}
	p->credits--;
	p->sq_used++;
	return 0;
}

static int send_credit(struct verbs *v, int peer)
{
	struct vhdr h = {.type = VM_CREDIT};

	return post_msg(v, peer, &h, sizeof(h), NULL, 0);
}

static int post_read(struct verbs *v, int peer, struct fsc_req *r)
{
	struct vreq *q = V(r);
	struct vpeer *p = &v->peers[peer];
	struct ibv_mr *mr = mr_for(v, q->buf, r->bytes, &q->tmp_mr);
	struct ibv_sge sge;
	struct ibv_send_wr wr = {0}, *bad;
	int rc;

	if (!mr)
		return -EIO;
	sge.addr = (uintptr_t)q->buf;
	sge.length = (uint32_t)r->bytes;
	sge.lkey = mr->lkey;
	wr.wr_id = (uint64_t)(uintptr_t)r | WR_READ;
	wr.sg_list = &sge;
	wr.num_sge = 1;
	wr.opcode = IBV_WR_RDMA_READ;
	wr.send_flags = IBV_SEND_SIGNALED;
	wr.wr.rdma.remote_addr = q->raddr;
	wr.wr.rdma.rkey = q->rkey;
	rc = ibv_post_send(p->qp, &wr, &bad);
	if (rc) {
		fsc_error("verbs: rank %d: posting an RDMA read from rank %d (host %s, QP 0x%x) "
		          "failed: %s",
		          v->f->rank, peer, host_of(v->f, peer), p->qp->qp_num, strerror(rc));
		return -EIO;
	}
	p->sq_used++;
	q->state = VS_READING;
	return 0;
}

/* ---------------------------------------------------------------- protocol */

static void log_mismatch(struct verbs *v, int peer, int tag, uint64_t len, size_t bytes)
{
	fsc_error("verbs: rank %d: message from rank %d (host %s) with tag %d is %" PRIu64
	          " B, the receive posted for it is %zu B",
	          v->f->rank, peer, host_of(v->f, peer), tag, len, bytes);
}

/* Try to move the head of a peer's pending queue; 1 if it moved. */
static int pending_step(struct verbs *v, int peer, int *rc)
{
	struct vpeer *p = &v->peers[peer];
	struct fsc_req *r = p->pending.head;
	struct vreq *q;

	*rc = 0;
	if (!r)
		return 0;
	q = V(r);
	if (!r->is_recv) {
		if (!can_send(v, peer, 0))
			return 0;
		q_remove(&p->pending, r);
		if (r->bytes <= v->eager) {
			struct vhdr h = {.type = VM_EAGER, .tag = r->tag, .len = r->bytes};

			*rc = post_msg(v, peer, &h, sizeof(h), q->buf, r->bytes);
			req_finish(v, r, *rc);
		} else {
			struct vrts m = {0};
			struct ibv_mr *mr = mr_for(v, q->buf, r->bytes, &q->tmp_mr);

			if (!mr) {
				*rc = -EIO;
				req_finish(v, r, *rc);
				return 1;
			}
			m.h.type = VM_RTS;
			m.h.tag = r->tag;
			m.h.len = r->bytes;
			m.h.id = (uint64_t)(uintptr_t)r;
			m.addr = (uintptr_t)q->buf;
			m.rkey = mr->rkey;
			q->state = VS_RTS_SENT;
			q_push(&p->rndv, r);
			*rc = post_msg(v, peer, &m.h, sizeof(m), NULL, 0);
			if (*rc) {
				q_remove(&p->rndv, r);
				req_finish(v, r, *rc);
			}
		}
		return 1;
	}
	if (q->state == VS_MATCHED) { /* a rendezvous receive: read the data */
		if (p->sq_used >= (int)(v->tx_depth + V_SQ_EXTRA))
			return 0;
		q_remove(&p->pending, r);
		*rc = post_read(v, peer, r);
		if (*rc)
			req_finish(v, r, *rc);
		return 1;
	}
	/* VS_READING done or mismatched: tell the sender (FIN) */
	if (!can_send(v, peer, 1))
		return 0;
	{
		struct vhdr h = {.type = VM_FIN, .status = q->status ? 1 : 0, .id = q->rid};
		int st = q->status;

		q_remove(&p->pending, r);
		*rc = post_msg(v, peer, &h, sizeof(h), NULL, 0);
		req_finish(v, r, *rc ? *rc : st);
	}
	return 1;
}

static int drain(struct verbs *v, int peer)
{
	struct vpeer *p = &v->peers[peer];
	int rc = 0, moved;

	do {
		moved = pending_step(v, peer, &rc);
	} while (moved && !p->failed);
	if (!p->failed && p->unreported >= (int)v->rx_depth / 2 && can_send(v, peer, 1))
		rc = send_credit(v, peer);
	return rc;
}

/* A receive matched to an RTS: check the size, then read. */
static void rndv_matched(struct verbs *v, int peer, struct fsc_req *r, uint64_t id, uint64_t addr,
                         uint32_t rkey, uint64_t len)
{
	struct vreq *q = V(r);

	q->rid = id;
	q->raddr = addr;
	q->rkey = rkey;
	q->rlen = len;
	if (len != r->bytes) {
		log_mismatch(v, peer, r->tag, len, r->bytes);
		q->status = -EIO;
		q->state = VS_READING; /* nothing to read: straight to FIN */
	} else {
		q->state = VS_MATCHED;
	}
	q_push(&v->peers[peer].pending, r);
}

static struct fsc_req *match_posted(struct vpeer *p, int tag)
{
	for (struct fsc_req *r = p->posted.head; r; r = V(r)->next)
		if (r->tag == tag) {
			q_remove(&p->posted, r);
			return r;
		}
	return NULL;
}

static int on_recv(struct verbs *v, int peer, uint32_t slot, uint32_t byte_len)
{
	struct vpeer *p = &v->peers[peer];
	const uint8_t *b = rx_slot(v, peer, slot);
	struct vhdr h;
	struct fsc_req *r;

	if (byte_len < sizeof(h)) {
		fsc_error("verbs: rank %d: a %u B message from rank %d (host %s) is shorter than a "
		          "header",
		          v->f->rank, byte_len, peer, host_of(v->f, peer));
		return -EIO;
	}
	memcpy(&h, b, sizeof(h));
	p->credits += h.credits;
	if (p->poisoned && (h.type == VM_EAGER || h.type == VM_RTS)) {
		p->unreported++; /* dropped: the slot goes back to the peer */
		return post_rx(v, peer, slot);
	}
	switch (h.type) {
	case VM_EAGER:
		r = match_posted(p, h.tag);
		if (r) {
			if (h.len != r->bytes) {
				log_mismatch(v, peer, h.tag, h.len, r->bytes);
				req_finish(v, r, -EIO);
			} else {
				if (h.len)
					memcpy(V(r)->buf, b + sizeof(h), h.len);
				req_finish(v, r, 0);
			}
		} else {
			struct vunexp *u = malloc(sizeof(*u) + h.len);

			if (!u)
				return -ENOMEM;
			memset(u, 0, sizeof(*u));
			u->type = VM_EAGER;
			u->tag = h.tag;
			u->len = h.len;
			if (h.len)
				memcpy(u->data, b + sizeof(h), h.len);
			*p->unexp_tail = u;
			p->unexp_tail = &u->next;
		}
		break;
	case VM_RTS: {
		struct vrts m;

		memcpy(&m, b, sizeof(m));
		r = match_posted(p, h.tag);
		if (r) {
			rndv_matched(v, peer, r, h.id, m.addr, m.rkey, h.len);
		} else {
			struct vunexp *u = calloc(1, sizeof(*u));

			if (!u)
				return -ENOMEM;
			u->type = VM_RTS;
			u->tag = h.tag;
			u->len = h.len;
			u->id = h.id;
			u->addr = m.addr;
			u->rkey = m.rkey;
			*p->unexp_tail = u;
			p->unexp_tail = &u->next;
		}
		break;
	}
	case VM_FIN:
		for (r = p->rndv.head; r; r = V(r)->next)
			if ((uint64_t)(uintptr_t)r == h.id)
				break;
		if (r) {
			q_remove(&p->rndv, r);
			req_finish(v, r, h.status ? -EIO : 0);
		}
		break;
	case VM_CREDIT: break;
	default:
		fsc_error("verbs: rank %d: unknown message type %u from rank %d (host %s)",
		          v->f->rank, h.type, peer, host_of(v->f, peer));
		return -EIO;
	}
	p->unreported++;
	return post_rx(v, peer, slot);
}

/* A notified put's immediate (RDMA WRITE WITH IMMEDIATE): its data and
 * that of every earlier write on this QP is in place, so it is delivered
 * as a zero-byte message with the tag it carries. */
static int on_notify(struct verbs *v, int peer, uint32_t slot, uint32_t tag)
{
	struct vpeer *p = &v->peers[peer];
	struct fsc_req *r;

	if (p->poisoned) /* dropped, as its messages are */
		;
	else if ((r = match_posted(p, (int)tag))) {
		if (r->bytes) {
			log_mismatch(v, peer, (int)tag, 0, r->bytes);
			req_finish(v, r, -EIO);
		} else {
			req_finish(v, r, 0);
		}
	} else {
		struct vunexp *u = calloc(1, sizeof(*u));

		if (!u)
			return -ENOMEM;
		u->type = VM_EAGER;
		u->tag = (int)tag;
		*p->unexp_tail = u;
		p->unexp_tail = &u->next;
	}
	p->unreported++;
	return post_rx(v, peer, slot);
}

static void fail_queue(struct verbs *v, struct vqueue *q)
{
	while (q->head) {
		struct fsc_req *r = q->head;

		q_remove(q, r);
		req_finish(v, r, -EIO);
	}
}

static const char *rma_name(int op)
{
	return op == IBV_WR_RDMA_READ             ? "RDMA read (get)"
	       : op == IBV_WR_RDMA_WRITE_WITH_IMM ? "RDMA write with immediate (notified put)"
	                                          : "RDMA write (put)";
}

/* A QP broke: one line naming the peer (rank, host, both QP numbers) and,
 * for a one-sided transfer, what it was; every request on it fails. */
static void peer_failed(struct verbs *v, int peer, const struct ibv_wc *wc, const struct vreq *rma)
{
	struct vpeer *p = &v->peers[peer];
	char what[256] = "";

	if (p->failed)
		return;
	p->failed = 1;
	if (rma)
		snprintf(what, sizeof(what),
		         " on an %s of %" PRIu64 " B at 0x%" PRIx64 " rkey 0x%x",
		         rma_name(rma->rma_op), rma->rlen, rma->raddr, rma->rkey);
	{
		/* a link that went down explains a retry-exceeded error */
		struct ibv_port_attr pa;
		size_t l = strlen(what);

		if (!ibv_query_port(v->ctx, (uint8_t)v->port, &pa) && pa.state != IBV_PORT_ACTIVE)
			snprintf(what + l, sizeof(what) - l, "; %s port %d is %s",
			         ibv_get_device_name(v->ctx->device), v->port,
			         ibv_port_state_str(pa.state));
	}
	fsc_error("verbs: rank %d: QP 0x%x to rank %d (host %s, QP 0x%x): %s (status %d, vendor "
	          "error 0x%x)%s",
	          v->f->rank, wc->qp_num, peer, host_of(v->f, peer), p->rqpn,
	          ibv_wc_status_str(wc->status), (int)wc->status, wc->vendor_err, what);
	fail_queue(v, &p->pending);
	fail_queue(v, &p->posted);
	fail_queue(v, &p->rndv);
}

static int wc_peer(struct verbs *v, const struct ibv_wc *wc)
{
	uint64_t kind = wc->wr_id & 3, idx = wc->wr_id >> 2;

	if (kind == WR_TX)
		return (int)(idx / v->tx_depth);
	if (kind == WR_RX)
		return (int)(idx / v->rx_depth);
	return ((struct fsc_req *)(uintptr_t)(wc->wr_id & ~3ull))->peer;
}

static int on_wc(struct verbs *v, const struct ibv_wc *wc)
{
	int peer = wc_peer(v, wc);
	struct vpeer *p = &v->peers[peer];
	uint64_t kind = wc->wr_id & 3, idx = wc->wr_id >> 2;

	if (kind == WR_TX) {
		p->free_slots[p->nfree++] = (uint32_t)(idx % v->tx_depth);
		p->sq_used--;
	} else if (kind == WR_READ) {
		p->sq_used--;
	}
	if (wc->status != IBV_WC_SUCCESS) {
		const struct vreq *rma = NULL;

		if (kind == WR_READ) {
			struct fsc_req *r = (struct fsc_req *)(uintptr_t)(wc->wr_id & ~3ull);

			if (V(r)->state == VS_RMA)
				rma = V(r);
			req_finish(v, r, -EIO);
		}
		peer_failed(v, peer, wc, rma);
		return 0; /* reported on the requests */
	}
	if (kind == WR_RX && wc->opcode == IBV_WC_RECV_RDMA_WITH_IMM)
		return on_notify(v, peer, (uint32_t)(idx % v->rx_depth), ntohl(wc->imm_data));
	if (kind == WR_RX)
		return on_recv(v, peer, (uint32_t)(idx % v->rx_depth), wc->byte_len);
	if (kind == WR_READ) {
		struct fsc_req *r = (struct fsc_req *)(uintptr_t)(wc->wr_id & ~3ull);
		struct vreq *q = V(r);

		if (q->state == VS_RMA) { /* one-sided: done when the HCA says so */
			req_finish(v, r, 0);
			return 0;
		}
		if (q->tmp_mr) {
			ibv_dereg_mr(q->tmp_mr);
			q->tmp_mr = NULL;
		}
		q->status = 0;
		q_push(&p->pending, r); /* FIN next */
	}
	return 0;
}

static int verbs_progress(struct fsc_fabric *f)
{
	struct verbs *v = f->impl;
	struct ibv_wc wc[V_POLL];
	int n, rc = 0;

	if (!v || !v->connected)
		return 0;
	for (int round = 0; round < 4; round++) {
		n = ibv_poll_cq(v->cq, V_POLL, wc);
		if (n < 0) {
			if (!v->cq_failed)
				fsc_error("verbs: rank %d: polling the CQ of %s failed (%d)",
				          f->rank, ibv_get_device_name(v->ctx->device), n);
			v->cq_failed = 1;
			return -EIO;
		}
		for (int i = 0; i < n; i++) {
			int r = on_wc(v, &wc[i]);

			if (r && !rc)
				rc = r;
		}
		if (n < V_POLL)
			break;
	}
	for (int p = 0; p < f->size; p++)
		if (p != f->rank && !v->peers[p].failed) {
			int r = drain(v, p);

			if (r && !rc)
				rc = r;
		}
	return rc;
}

/* ---------------------------------------------------------------- ops */

static int check_peer(struct fsc_fabric *f, int peer)
{
	struct verbs *v = f->impl;

	if (peer < 0 || peer >= f->size || peer == f->rank)
		return -EINVAL;
	if (!v || !v->connected)
		return -ENOTCONN;
	if (v->peers[peer].failed)
		return -EIO;
	if (v->peers[peer].poisoned) {
		fsc_error("verbs: rank %d: an operation with rank %d (host %s) was cancelled; that "
		          "peer takes no more traffic",
		          f->rank, peer, host_of(f, peer));
		return -EIO;
	}
	return 0;
}

static int verbs_isend(struct fsc_fabric *f, int peer, const void *buf, size_t bytes, int tag,
                       struct fsc_req *req)
{
	struct verbs *v = f->impl;
	struct vreq *q = V(req);
	int rc = check_peer(f, peer);

	(void)bytes; /* in req, as the tag */
	(void)tag;
	if (rc)
		return rc;
	memset(q, 0, sizeof(*q));
	q->buf = (void *)(uintptr_t)buf;
	q->state = VS_QUEUED;
	q_push(&v->peers[peer].pending, req);
	return drain(v, peer);
}

static int verbs_irecv(struct fsc_fabric *f, int peer, void *buf, size_t bytes, int tag,
                       struct fsc_req *req)
{
	struct verbs *v = f->impl;
	struct vpeer *p;
	struct vreq *q = V(req);
	int rc = check_peer(f, peer);

	if (rc)
		return rc;
	p = &v->peers[peer];
	memset(q, 0, sizeof(*q));
	q->buf = buf;
	for (struct vunexp **pp = &p->unexp; *pp; pp = &(*pp)->next) {
		struct vunexp *u = *pp;

		if (u->tag != tag)
			continue;
		*pp = u->next;
		if (p->unexp_tail == &u->next)
			p->unexp_tail = pp;
		if (u->type == VM_EAGER) {
			if (u->len != bytes) {
				log_mismatch(v, peer, tag, u->len, bytes);
				req_finish(v, req, -EIO);
			} else {
				if (bytes)
					memcpy(buf, u->data, bytes);
				req_finish(v, req, 0);
			}
		} else {
			rndv_matched(v, peer, req, u->id, u->addr, u->rkey, u->len);
			rc = drain(v, peer);
		}
		free(u);
		return rc;
	}
	q->state = VS_PENDING;
	q_push(&p->posted, req);
	return 0;
}

static int verbs_test(struct fsc_fabric *f, struct fsc_req *req, int *done)
{
	struct vreq *q = V(req);
	int rc;

	*done = 0;
	if (q->state != VS_DONE) {
		rc = verbs_progress(f);
		if (rc && q->state != VS_DONE)
			return rc;
	}
	if (q->state != VS_DONE)
		return 0;
	*done = 1;
	return q->status;
}

/* The contract's cancel: withdraw an incomplete request so that nothing is
 * written into (or read from) its buffer afterwards.  Possible while no
 * data has moved: a receive not matched yet, a send not handed to the HCA
 * yet.  A request the HCA may still touch (a rendezvous send announced to
 * the peer, a receive being read into) answers -EBUSY, and the wrapper
 * abandons the fabric.  A withdrawal poisons the peer: its other queued
 * sends and posted receives fail with -EIO, what it still sends is
 * dropped, and new operations with it fail.  0 also for a request that had
 * already completed. */
static int verbs_cancel(struct fsc_fabric *f, struct fsc_req *req)
{
	struct verbs *v = f->impl;
	struct vreq *q = V(req);
	struct vpeer *p;

	if (!v || !v->peers || req->peer < 0 || req->peer >= f->size || req->peer == f->rank)
		return -EINVAL;
	if (q->state == VS_DONE)
		return 0;
	p = &v->peers[req->peer];
	if ((req->is_recv && q->state == VS_PENDING && q_remove(&p->posted, req)) ||
	    (!req->is_recv && q->state == VS_QUEUED && q_remove(&p->pending, req))) {
		req_finish(v, req, -ECANCELED);
		req->done = 1;
		p->poisoned = 1;
		fail_queue(v, &p->pending);
		fail_queue(v, &p->posted);
		return 0;
	}
	return -EBUSY;
}

/* ---------------------------------------------------------------- one-sided */

/* One-sided transfers (src/fabric.h, "One-sided transfers").
 *
 * A window is an MR of its own over the caller's buffer (local write,
 * remote write, remote read), whatever mem_reg registered, so it lives
 * exactly as long as the window; its (address, rkey) goes to every rank
 * through the bootstrap.  put is an IBV_WR_RDMA_WRITE, get an
 * IBV_WR_RDMA_READ, both on the peer's RC QP, signaled, completing through
 * test() when the HCA reports them (put: the source may be reused; get:
 * the data is in place).
 *
 * A notified put is one RDMA WRITE WITH IMMEDIATE carrying the tag: on an
 * RC QP the responder executes requests in order and completes the
 * immediate's receive only once the write's data is placed, so when the
 * target sees it, this put's data and that of every earlier put on the QP
 * (every earlier put from this rank to that one: one QP per pair) is in
 * its window, which is the contract's guarantee.  A write followed by a
 * tagged SEND would give the same guarantee with two work requests and a
 * bounce slot; the immediate needs neither.  The immediate consumes one of
 * the target's posted receives, so a notified put takes a credit like a
 * message (and answers -EAGAIN without one: the wrapper progresses and
 * retries until --timeout); the target turns it into a zero-byte message
 * with that tag.
 *
 * Cancel: a transfer handed to the HCA cannot be withdrawn (verbs_cancel
 * answers -EBUSY and the wrapper abandons the fabric); a zero-byte get or
 * silent put completes at once.  One-sided transfers do not poison their
 * peer; a notified put to a poisoned peer is refused, as its messages are. */

struct vwin {
	struct ibv_mr *mr; /* NULL for an empty window */
	uint64_t *raddr;   /* [size]: every rank's window address */
	uint32_t *rkey;    /* [size] */
};

static void verbs_win_free(struct fsc_fabric *f, void *win)
{
	struct vwin *w = win;

	(void)f;
	if (!w)
		return;
	if (w->mr && ibv_dereg_mr(w->mr))
		fsc_warn("verbs: rank %d: deregistering a window failed", f->rank);
	free(w->raddr);
	free(w->rkey);
	free(w);
}

/* Collective: register the window and allgather (address, rkey). */
static int verbs_win_create(struct fsc_fabric *f, void *buf, size_t bytes, void **win)
{
	struct verbs *v = f->impl;
	struct vwin *w = calloc(1, sizeof(*w));
	struct vwkey {
		uint64_t addr;
		uint32_t rkey, pad;
	} mine = {0}, *all = NULL;
	int rc = 0, bad = -1;

	*win = NULL;
	if (w) {
		w->raddr = calloc((size_t)f->size, sizeof(*w->raddr));
		w->rkey = calloc((size_t)f->size, sizeof(*w->rkey));
	}
	all = calloc((size_t)f->size, sizeof(*all));
	if (!w || !w->raddr || !w->rkey || !all) {
		fsc_error("verbs: rank %d: out of memory for a window", f->rank);
		rc = -ENOMEM;
	} else if (!v || !v->connected) {
		fsc_error("verbs: rank %d: a window needs a connected fabric", f->rank);
		rc = -ENOTCONN;
	} else if (bytes) {
		w->mr = ibv_reg_mr(v->pd, buf, bytes,
		                   IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
		                           IBV_ACCESS_REMOTE_READ);
		if (!w->mr) {
			fsc_error("verbs: rank %d: registering a %zu B window at %p on %s failed: "
			          "%s",
			          f->rank, bytes, buf, ibv_get_device_name(v->ctx->device),
			          strerror(errno));
			rc = -EIO;
		} else {
			mine.addr = (uintptr_t)buf;
			mine.rkey = w->mr->rkey;
		}
	}
	rc = fsc_boot_agree(f->boot, rc, &bad);
	if (rc && bad != f->rank)
		fsc_error("verbs: rank %d: rank %d (host %s) could not register its window",
		          f->rank, bad, host_of(f, bad));
	if (!rc)
		rc = fsc_boot_allgather(f->boot, &mine, all, sizeof(mine));
	for (int p = 0; !rc && p < f->size; p++) {
		w->raddr[p] = all[p].addr;
		w->rkey[p] = all[p].rkey;
	}
	free(all);
	if (rc) {
		verbs_win_free(f, w);
		return rc;
	}
	*win = w;
	return 0;
}

/* Post one RDMA write (tag >= 0: with the tag as immediate) or read of
 * [buf, buf+bytes) against the peer's (raddr, rkey). */
static int verbs_rma(struct fsc_fabric *f, int peer, enum ibv_wr_opcode op, void *buf, size_t bytes,
                     uint64_t raddr, uint32_t rkey, int tag, struct fsc_req *req)
{
	struct verbs *v = f->impl;
	struct vreq *q = V(req);
	struct vpeer *p;
	struct ibv_mr *mr = NULL;
	struct ibv_sge sge;
	struct ibv_send_wr wr = {0}, *bad;
	int rc;

	if (!v || !v->connected)
		return -ENOTCONN;
	if (peer < 0 || peer >= f->size || peer == f->rank)
		return -EINVAL;
	p = &v->peers[peer];
	if (p->failed)
		return -EIO;
	if (tag >= 0 && (rc = check_peer(f, peer)))
		return rc; /* a notification is a message: not to a poisoned peer */
	if (bytes > v->pattr.max_msg_sz) {
		fsc_error(
		        "verbs: rank %d: a %s of %zu B with rank %d exceeds the largest message of "
		        "%s port %d (%u B)",
		        f->rank, op == IBV_WR_RDMA_READ ? "get" : "put", bytes, peer,
		        ibv_get_device_name(v->ctx->device), v->port, v->pattr.max_msg_sz);
		return -EMSGSIZE;
	}
	memset(q, 0, sizeof(*q));
	q->buf = buf;
	q->raddr = raddr;
	q->rkey = rkey;
	q->rlen = bytes;
	if (tag >= 0)
		op = IBV_WR_RDMA_WRITE_WITH_IMM;
	q->rma_op = op;
	if (!bytes && tag < 0) { /* nothing to move, nobody to tell */
		req_finish(v, req, 0);
		return 0;
	}
	if (p->sq_used >= (int)(v->tx_depth + V_SQ_EXTRA) || (tag >= 0 && !can_send_imm(v, peer)))
		return -EAGAIN; /* queue full or no credit: progress, then retry */
	if (bytes && !(op != IBV_WR_RDMA_READ && bytes <= v->inline_max)) {
		mr = mr_for(v, buf, bytes, &q->tmp_mr);
		if (!mr)
			return -EIO;
	}
	sge.addr = (uintptr_t)buf;
	sge.length = (uint32_t)bytes;
	sge.lkey = mr ? mr->lkey : 0;
	wr.wr_id = (uint64_t)(uintptr_t)req | WR_READ;
	wr.sg_list = &sge;
	wr.num_sge = bytes ? 1 : 0;
	wr.opcode = op;
	wr.send_flags = IBV_SEND_SIGNALED;
	if (bytes && !mr)
		wr.send_flags |= IBV_SEND_INLINE;
	if (tag >= 0)
		wr.imm_data = htonl((uint32_t)tag);
	wr.wr.rdma.remote_addr = raddr;
	wr.wr.rdma.rkey = rkey;
	rc = ibv_post_send(p->qp, &wr, &bad);
	if (rc) {
		fsc_error("verbs: rank %d: posting an %s of %zu B to rank %d (host %s, QP 0x%x) "
		          "failed: %s",
		          f->rank, rma_name(op), bytes, peer, host_of(f, peer), p->qp->qp_num,
		          strerror(rc));
		req_finish(v, req, -EIO);
		return -EIO;
	}
	p->sq_used++;
	if (tag >= 0)
		p->credits--;
	q->state = VS_RMA;
	return 0;
}

static int verbs_put(struct fsc_fabric *f, void *win, int peer, size_t offset, const void *buf,
                     size_t bytes, int tag, struct fsc_req *req)
{
	struct vwin *w = win;

	return verbs_rma(f, peer, IBV_WR_RDMA_WRITE, (void *)(uintptr_t)buf, bytes,
	                 w->raddr[peer] + offset, w->rkey[peer], tag, req);
}

static int verbs_get(struct fsc_fabric *f, void *win, int peer, size_t offset, void *buf,
                     size_t bytes, struct fsc_req *req)
{
	struct vwin *w = win;

	return verbs_rma(f, peer, IBV_WR_RDMA_READ, buf, bytes, w->raddr[peer] + offset,
	                 w->rkey[peer], -1, req);
}

/* ---------------------------------------------------------------- set-up */

static int verbs_create(struct fsc_fabric *f, const struct fsc_config *cfg)
{
	struct verbs *v = calloc(1, sizeof(*v));

	if (!v)
		return -ENOMEM;
	char err[256] = "";
	int rc;

	v->f = f;
	f->impl = v;
	rc = read_options(v, cfg, err, sizeof(err));
	if (rc)
		fsc_error("verbs: rank %d: %s", f->rank, err);
	return rc;
}

static void verbs_destroy(struct fsc_fabric *f)
{
	struct verbs *v = f ? f->impl : NULL;

	if (!v)
		return;
	if (v->peers) {
		for (int i = 0; i < f->size; i++) {
			struct vpeer *p = &v->peers[i];

			if (p->qp && ibv_destroy_qp(p->qp))
				fsc_warn("verbs: rank %d: destroying the QP to rank %d failed",
				         f->rank, i);
			while (p->unexp) {
				struct vunexp *u = p->unexp;

				p->unexp = u->next;
				free(u);
			}
			free(p->free_slots);
		}
		free(v->peers);
	}
	while (v->mrs) {
		struct vmr *m = v->mrs;

		v->mrs = m->next;
		ibv_dereg_mr(m->mr);
		free(m);
	}
	if (v->rx_mr)
		ibv_dereg_mr(v->rx_mr);
	if (v->tx_mr)
		ibv_dereg_mr(v->tx_mr);
	free(v->rx_slab);
	free(v->tx_slab);
	if (v->cq)
		ibv_destroy_cq(v->cq);
	if (v->pd)
		ibv_dealloc_pd(v->pd);
	if (v->ctx)
		ibv_close_device(v->ctx);
	if (v->list)
		ibv_free_device_list(v->list);
	free(v);
	f->impl = NULL;
}

/* Device, PD, CQ, buffers and one QP per peer in INIT with its receives
 * posted.  Local; logs its own errors. */
static int setup_local(struct fsc_fabric *f, struct verbs *v)
{
	char reason[320];
	int n = f->size, rc;
	size_t rx_bytes, tx_bytes;

	rc = open_device(v, reason, sizeof(reason));
	if (!rc)
		rc = select_gid(v, reason, sizeof(reason));
	if (rc) {
		fsc_error("verbs: rank %d: %s", f->rank, reason);
		return rc;
	}
	v->mtu = v->pattr.active_mtu;
	if (v->mtu_opt) {
		enum ibv_mtu m = v->mtu_opt == 256    ? IBV_MTU_256
		                 : v->mtu_opt == 512  ? IBV_MTU_512
		                 : v->mtu_opt == 1024 ? IBV_MTU_1024
		                 : v->mtu_opt == 2048 ? IBV_MTU_2048
		                                      : IBV_MTU_4096;
		if (m > v->pattr.active_mtu) {
			fsc_error("verbs: rank %d: --verbs-mtu %d exceeds the active MTU %d of %s "
			          "port %d",
			          f->rank, v->mtu_opt, vinfo_mtu_bytes(v->pattr.active_mtu),
			          ibv_get_device_name(v->ctx->device), v->port);
			return -EINVAL;
		}
		v->mtu = m;
	}
	v->pd = ibv_alloc_pd(v->ctx);
	v->cq = ibv_create_cq(v->ctx, n * (int)(v->rx_depth + v->tx_depth + V_SQ_EXTRA) + 16, NULL,
	                      NULL, 0);
	v->slot_bytes = (sizeof(struct vhdr) + v->eager + 63) & ~(size_t)63;
	if (v->slot_bytes < sizeof(struct vrts))
		v->slot_bytes = 64;
	rx_bytes = (size_t)n * v->rx_depth * v->slot_bytes;
	tx_bytes = (size_t)n * v->tx_depth * v->slot_bytes;
	v->rx_slab = aligned_alloc(64, rx_bytes);
	v->tx_slab = aligned_alloc(64, tx_bytes);
	v->peers = calloc((size_t)n, sizeof(*v->peers));
	if (!v->pd || !v->cq || !v->rx_slab || !v->tx_slab || !v->peers) {
		fsc_error("verbs: rank %d: allocating the PD, a %d-entry CQ or %zu B of buffers on "
		          "%s "
		          "failed: %s",
		          f->rank, n * (int)(v->rx_depth + v->tx_depth + V_SQ_EXTRA) + 16,
		          rx_bytes + tx_bytes, ibv_get_device_name(v->ctx->device),
		          strerror(errno));
		return -ENOMEM;
	}
	v->rx_mr = mr_reg(v, v->rx_slab, rx_bytes);
	v->tx_mr = mr_reg(v, v->tx_slab, tx_bytes);
	if (!v->rx_mr || !v->tx_mr)
		return -EIO;
	for (int i = 0; i < n; i++) {
		struct vpeer *p = &v->peers[i];
		struct ibv_qp_init_attr ia = {0};
		struct ibv_qp_attr a = {0};

		p->unexp_tail = &p->unexp;
		if (i == f->rank)
			continue;
		p->free_slots = calloc(v->tx_depth, sizeof(*p->free_slots));
		if (!p->free_slots)
			return -ENOMEM;
		for (uint32_t s = 0; s < v->tx_depth; s++)
			p->free_slots[p->nfree++] = v->tx_depth - 1 - s;
		p->credits = (int)v->rx_depth;
		ia.send_cq = ia.recv_cq = v->cq;
		ia.qp_type = IBV_QPT_RC;
		ia.cap.max_send_wr = v->tx_depth + V_SQ_EXTRA;
		ia.cap.max_recv_wr = v->rx_depth;
		ia.cap.max_send_sge = 1;
		ia.cap.max_recv_sge = 1;
		ia.cap.max_inline_data = v->inline_max;
		p->qp = ibv_create_qp(v->pd, &ia);
		if (!p->qp) {
			fsc_error("verbs: rank %d: creating a QP (%u send, %u receive WRs, %u B "
			          "inline) "
			          "for rank %d on %s failed: %s",
			          f->rank, v->tx_depth + V_SQ_EXTRA, v->rx_depth, v->inline_max, i,
			          ibv_get_device_name(v->ctx->device), strerror(errno));
			return -EIO;
		}
		if (ia.cap.max_inline_data < v->inline_max)
			v->inline_max = ia.cap.max_inline_data;
		a.qp_state = IBV_QPS_INIT;
		a.port_num = (uint8_t)v->port;
		a.qp_access_flags =
		        IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_WRITE;
		rc = ibv_modify_qp(p->qp, &a,
		                   IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT |
		                           IBV_QP_ACCESS_FLAGS);
		if (rc) {
			fsc_error("verbs: rank %d: QP 0x%x for rank %d to INIT: %s", f->rank,
			          p->qp->qp_num, i, strerror(rc));
			return -EIO;
		}
		for (uint32_t s = 0; s < v->rx_depth; s++)
			if ((rc = post_rx(v, i, s)))
				return rc;
	}
	return 0;
}

static int connect_qp(struct fsc_fabric *f, struct verbs *v, int peer, const struct vconn_info *pi,
                      uint32_t qpn, uint32_t their_psn, uint32_t my_psn)
{
	struct ibv_qp *qp = v->peers[peer].qp;
	struct ibv_qp_attr a = {0};
	int rc;

	a.qp_state = IBV_QPS_RTR;
	a.path_mtu = v->mtu;
	a.dest_qp_num = qpn;
	a.rq_psn = their_psn;
	a.max_dest_rd_atomic =
	        (uint8_t)(v->dattr.max_qp_rd_atom < 16 ? v->dattr.max_qp_rd_atom : 16);
	a.min_rnr_timer = 12; /* 0.64 ms */
	a.ah_attr.port_num = (uint8_t)v->port;
	a.ah_attr.sl = (uint8_t)v->sl;
	if (v->pattr.link_layer == IBV_LINK_LAYER_ETHERNET) {
		a.ah_attr.is_global = 1;
		memcpy(a.ah_attr.grh.dgid.raw, pi->gid, 16);
		a.ah_attr.grh.sgid_index = (uint8_t)v->gid_index;
		a.ah_attr.grh.hop_limit = 64;
		a.ah_attr.grh.traffic_class = (uint8_t)v->tclass;
	} else {
		a.ah_attr.dlid = pi->lid;
	}
	rc = ibv_modify_qp(qp, &a,
	                   IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
	                           IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC |
	                           IBV_QP_MIN_RNR_TIMER);
	if (rc) {
		fsc_error("verbs: rank %d: QP 0x%x to rank %d (host %s, QP 0x%x) to RTR: %s",
		          f->rank, qp->qp_num, peer, host_of(f, peer), qpn, strerror(rc));
		return -EIO;
	}
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTS;
	a.sq_psn = my_psn;
	a.timeout = (uint8_t)v->qp_timeout;  /* default 18: 4.096 us * 2^18 = 1.07 s */
	a.retry_cnt = (uint8_t)v->retry_cnt; /* default 7 */
	a.rnr_retry = (uint8_t)v->rnr_retry; /* never in normal operation (credits); 7: wait */
	a.max_rd_atomic =
	        (uint8_t)(v->dattr.max_qp_init_rd_atom < 16 ? v->dattr.max_qp_init_rd_atom : 16);
	rc = ibv_modify_qp(qp, &a,
	                   IBV_QP_STATE | IBV_QP_SQ_PSN | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT |
	                           IBV_QP_RNR_RETRY | IBV_QP_MAX_QP_RD_ATOMIC);
	if (rc) {
		fsc_error("verbs: rank %d: QP 0x%x to rank %d (host %s) to RTS: %s", f->rank,
		          qp->qp_num, peer, host_of(f, peer), strerror(rc));
		return -EIO;
	}
	return 0;
}

static uint32_t psn_for(int from, int to)
{
	return (uint32_t)(0x1000 + from * 4099 + to * 7) & 0xffffff;
}

static int verbs_connect(struct fsc_fabric *f)
{
	struct verbs *v = f->impl;
	int n = f->size, rc, bad = -1;
	size_t rec = sizeof(struct vconn_info) + (size_t)n * 4;
	uint8_t *mine = NULL, *all = NULL;

	rc = setup_local(f, v);
	/* every rank fails the same way rather than some waiting forever */
	rc = fsc_boot_agree(f->boot, rc, &bad);
	if (rc) {
		if (bad != f->rank)
			fsc_error("verbs: rank %d: rank %d (host %s) could not set up its HCA",
			          f->rank, bad, host_of(f, bad));
		return rc;
	}
	mine = calloc(1, rec);
	all = calloc((size_t)n, rec);
	if (!mine || !all) {
		rc = -ENOMEM;
		goto free_bufs;
	}
	{
		struct vconn_info *ci = (struct vconn_info *)mine;
		uint32_t *qpn = (uint32_t *)(mine + sizeof(*ci));

		ci->lid = v->pattr.lid;
		memcpy(ci->gid, v->gid.raw, 16);
		for (int i = 0; i < n; i++)
			qpn[i] = i == f->rank ? 0 : v->peers[i].qp->qp_num;
	}
	rc = fsc_boot_allgather(f->boot, mine, all, rec);
	if (rc)
		goto free_bufs;
	for (int i = 0; i < n && !rc; i++) {
		const uint8_t *r = all + (size_t)i * rec;
		const struct vconn_info *pi = (const struct vconn_info *)r;
		const uint32_t *qpn = (const uint32_t *)(r + sizeof(*pi));

		if (i == f->rank)
			continue;
		rc = connect_qp(f, v, i, pi, qpn[f->rank], psn_for(i, f->rank),
		                psn_for(f->rank, i));
		v->peers[i].rqpn = qpn[f->rank];
	}
	rc = fsc_boot_agree(f->boot, rc, &bad);
	if (!rc) {
		v->connected = 1;
		rc = fsc_boot_barrier(f->boot); /* every peer is in RTR before anyone sends */
	}
free_bufs:
	free(mine);
	free(all);
	return rc;
}

static int verbs_describe(struct fsc_fabric *f, json_t *info)
{
	struct verbs *v = f->impl;
	char gid[INET6_ADDRSTRLEN], rate[48];

	if (!v || !v->ctx)
		return 0;
	vinfo_rate(v->pattr.active_width, v->pattr.active_speed, rate, sizeof(rate));
	inet_ntop(AF_INET6, v->gid.raw, gid, sizeof(gid));
	json_object_set_new(info, "device", json_string(ibv_get_device_name(v->ctx->device)));
	json_object_set_new(info, "port", json_integer(v->port));
	json_object_set_new(info, "selected_by", json_string(v->selected_by));
	json_object_set_new(info, "numa_node", json_integer(vinfo_numa(v->ctx->device)));
	json_object_set_new(info, "firmware", json_string(v->dattr.fw_ver));
	json_object_set_new(info, "link_layer",
	                    json_string(v->pattr.link_layer == IBV_LINK_LAYER_ETHERNET
	                                        ? "Ethernet"
	                                        : "InfiniBand"));
	json_object_set_new(info, "rate", json_string(rate));
	json_object_set_new(info, "active_mtu", json_integer(vinfo_mtu_bytes(v->pattr.active_mtu)));
	json_object_set_new(info, "path_mtu", json_integer(vinfo_mtu_bytes(v->mtu)));
	json_object_set_new(info, "lid", json_integer(v->pattr.lid));
	json_object_set_new(info, "gid_index", json_integer(v->gid_index));
	json_object_set_new(info, "gid", json_string(gid));
	json_object_set_new(info, "gid_type", json_string(v->gid_type));
	json_object_set_new(info, "rx_depth", json_integer(v->rx_depth));
	json_object_set_new(info, "tx_depth", json_integer(v->tx_depth));
	json_object_set_new(info, "eager_bytes", json_integer((json_int_t)v->eager));
	json_object_set_new(info, "inline_bytes", json_integer(v->inline_max));
	json_object_set_new(info, "sl", json_integer(v->sl));
	json_object_set_new(info, "traffic_class", json_integer(v->tclass));
	json_object_set_new(info, "qp_timeout", json_integer(v->qp_timeout));
	json_object_set_new(info, "retry_cnt", json_integer(v->retry_cnt));
	json_object_set_new(info, "rnr_retry", json_integer(v->rnr_retry));
	json_object_set_new(info, "max_qp_wr", json_integer(v->dattr.max_qp_wr));
	return 0;
}

const struct fsc_fabric_ops fsc_fabric_verbs = {
        .name = "verbs",
        .desc = "InfiniBand/RoCE verbs: RC QP per peer, eager + RDMA-read rendezvous, RDMA "
                "write/read one-sided",
        .caps = FSC_CAP_SEND_RECV | FSC_CAP_RMA,
        .opts = verbs_opts,
        .probe = verbs_probe,
        .create = verbs_create,
        .destroy = verbs_destroy,
        .connect = verbs_connect,
        .mem_reg = verbs_mem_reg,
        .mem_dereg = verbs_mem_dereg,
        .isend = verbs_isend,
        .irecv = verbs_irecv,
        .test = verbs_test,
        .cancel = verbs_cancel,
        .progress = verbs_progress,
        .win_create = verbs_win_create,
        .win_free = verbs_win_free,
        .put = verbs_put,
        .get = verbs_get,
        .describe = verbs_describe,
};
