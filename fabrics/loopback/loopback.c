/* Loopback fabric: N virtual ranks in one process, with a virtual clock and
 * fault injection.  The test bed for patterns, the runner and statistics:
 * results are exact numbers, not measurements.
 *
 * Ranks are the threads of a local bootstrap (src/boot_local.c).  Each rank
 * owns a mailbox; connect() exchanges mailbox pointers with the bootstrap's
 * allgather (valid because every rank lives in this process).  isend copies
 * the payload into a heap message and appends it to the receiver's mailbox
 * under its lock (eager: a send completes at once); a receive is matched by
 * its owner, in posting order, against the messages queued per source, in
 * arrival order, so that messages of one (source, destination, tag) match in
 * posting order.  Self-sends are rejected: they are not part of the fabric
 * contract (patterns copy their own block), and failing here catches a
 * pattern that relies on them before it meets a fabric without them.
 *
 * Virtual clock (README.md; the runner's tests rely on it exactly).  Each
 * rank r has a time vt_r (double, ns, starting at 0).  Link s->d has a
 * latency lat_ns and a bandwidth bw in GB/s (= bytes per ns).
 *   isend of B bytes at the sender's vt_s:
 *	start = max(vt_s, link_free[s][d])
 *	xfer = B / bw
 *	link_free[s][d] = start + xfer
 *	arrival = start + xfer + lat
 *     and vt_s does not move (the send is handed to a "DMA engine");
 *   when test() completes the matched receive on d: vt_d = max(vt_d, arrival);
 *   clock() reads llround(vt_r); sync() (collective) sets every vt_r to the
 *   maximum over ranks.
 * Slow ranks and links scale a link: bw x F, lat / F; factors multiply when
 * several apply (a slow rank at both ends, plus a slow link).
 *
 * Cancel (fabric.h, "Request lifetime"): sends complete at once, so only a
 * posted receive can be withdrawn; it leaves the posted list, and its peer
 * is poisoned: that peer's queued and later messages are freed unread by the
 * next match pass (counted in stats.discarded), other receives posted for it
 * fail, and new operations with it fail with -EIO.
 *
 * One-sided transfers (fabric.h, "One-sided transfers"): a window is the
 * buffer pointers of every rank, allgathered like the mailboxes.  A put
 * copies straight into the target's window and completes at once; the data
 * "arrives" at start + xfer + lat as a message would, and a notified put
 * queues a zero-byte message with that arrival time behind the copy (the
 * mailbox lock orders the copy before the target's match).  A get copies
 * out of the target's window at once and completes, moving the initiator's
 * clock, at start + xfer + 2 lat (request out, data back), modelled on the
 * initiator's own link to the target.  Both count as a message on the link
 * initiator->target for --lb-drop / --lb-corrupt: a dropped put writes
 * nothing and notifies nobody (the put still completes, as a dropped send
 * does); a dropped get never completes, so a wait on it times out and its
 * cancel withdraws it without poisoning the peer; a corrupted put or get
 * has byte OFF of the transfer flipped where it lands.
 *
 * Device-like memory (--lb-mem device): transfer buffers are address ranges
 * reserved with no access rights (PROT_NONE), each backed by a separate
 * host shadow that only this fabric reads and writes (isend/irecv, and the
 * mem_copy/mem_set entries).  A pattern that dereferences a transfer buffer
 * itself instead of going through the fabric faults at once, as a host
 * dereference of GPU memory would; an isend/irecv on memory that is not a
 * device buffer fails, as NCCL rejects a host pointer.
 *
 * Limits: messages are counted per link for --lb-corrupt / --lb-drop
 * whatever their tag; a dropped message still occupies its link.
 */
#include "loopback.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "err.h"
#include "log.h"

#define LB_ITEM_MAX 128 /* longest "S:D:N:OFF" item accepted */

struct lb_msg {
	struct lb_msg *next;
	int tag;
	size_t bytes;
	double arrival_ns;
	unsigned char data[];
};

struct lb_queue {
	struct lb_msg *head, *tail;
};

/* The receive side of one rank, shared with every sender. */
struct lb_mailbox {
	pthread_mutex_t lock;
	/* Bumped under the lock by every enqueue; the owner reads it without
	 * the lock to skip a mailbox that has not changed. */
	atomic_uint_fast64_t deposits;
	/* Ranks still holding this mailbox: the last destroy frees it, so a
	 * late sender never writes into freed memory. */
	atomic_int refs;
	int n;
	struct lb_queue q[]; /* [n]: per source, in arrival order */
};

/* LB_LOST: a get whose reply --lb-drop swallowed; it never completes. */
enum lb_state { LB_POSTED = 1, LB_MATCHED, LB_DONE, LB_LOST };

/* Lives in fsc_req.opaque. */
struct lb_req {
	struct lb_req *next; /* posted-receive list */
	void *buf;
	size_t bytes;
	size_t sent_bytes; /* size of the matched send (mismatch report) */
	double arrival_ns;
	int peer, tag;
	int state;
	int status;
};
_Static_assert(sizeof(struct lb_req) <= sizeof(((struct fsc_req *)0)->opaque),
               "struct lb_req must fit in fsc_req.opaque");

struct lb_fault {
	int dst;
	uint64_t index;  /* n-th message on link rank->dst, 0-based */
	uint64_t offset; /* corrupt only */
	bool drop;
};

struct lb_impl {
	double vt_ns;
	double lat_ns, bw_GBps; /* base values from the options */
	/* Outgoing links of this rank, [size]. */
	double *link_lat_ns, *link_bw_GBps, *link_free_ns;
	uint64_t *link_sent;
	struct lb_fault *faults;
	size_t nfaults;
	struct lb_mailbox *own;
	struct lb_mailbox **boxes; /* [size] after connect */
	struct lb_req *posted_head, *posted_tail;
	bool *poisoned; /* [size]: a cancelled operation involved that peer */
	int npoisoned;
	uint_fast64_t seen_deposits;
	bool posted_new; /* a receive was posted since the last match pass */
	struct fsc_loopback_stats stats;
	/* --lb-stall: this rank blocks when posting its stall_at-th send
	 * (-1: never) until fsc_loopback_release or LB_STALL_MAX_NS. */
	int64_t stall_at;
	uint64_t stall_ns; /* longest stall */
	uint64_t sends;
	pthread_mutex_t stall_lock;
	pthread_cond_t stall_cond;
	bool released;
	bool devmem; /* --lb-mem device */
};

/* A device-like buffer (--lb-mem device): `base` (no access) stands for
 * `shadow`.  One list for the process: buffers outlive no fabric, but ranks
 * are threads of one process. */
struct lb_dev {
	struct lb_dev *next;
	unsigned char *base, *shadow;
	size_t len;
};
static pthread_mutex_t lb_dev_lock = PTHREAD_MUTEX_INITIALIZER;
static struct lb_dev *lb_devs;

/* Bound on a stall nobody releases: a test that forgets to release fails
 * slowly instead of hanging. */
#define LB_STALL_MAX_NS (60ull * 1000000000ull)

enum lb_mem { LB_MEM_HOST, LB_MEM_DEVICE }; /* --lb-mem, in its order */

/* The loopback options, filled once per fabric by fsc_config_fill. */
struct lb_settings {
	int64_t ranks;
	uint64_t lat_ns;
	double bw_GBps;
	const char *slow_rank, *slow_link, *corrupt, *drop, *stall; /* NULL: none */
	enum lb_mem mem;
};

static const struct fsc_opt lb_opts[] = {
        {"lb-ranks", 0, FSC_OPT_INT, "2", "virtual ranks (threads) for a loopback run", 0, 1, 64,
         FSC_AT_INT(struct lb_settings, ranks)},
        {"lb-lat", 0, FSC_OPT_TIME, "1us", "latency of every loopback link", 0, 0, FSC_OPT_TIME_S,
         FSC_AT_TIME(struct lb_settings, lat_ns)},
        {"lb-bw", 0, FSC_OPT_DOUBLE, "10", "bandwidth of every loopback link, GB/s", 0, 1e-6, 1e6,
         FSC_AT_DOUBLE(struct lb_settings, bw_GBps)},
        {"lb-slow-rank", 0, FSC_OPT_STRING, 0,
         "R:F[,R:F...]: links to and from rank R get bandwidth x F, latency / F", 0, 0, 0,
         FSC_AT_STRING(struct lb_settings, slow_rank)},
        {"lb-slow-link", 0, FSC_OPT_STRING, 0,
         "S:D:F[,...]: link S->D gets bandwidth x F, latency / F", 0, 0, 0,
         FSC_AT_STRING(struct lb_settings, slow_link)},
        {"lb-corrupt", 0, FSC_OPT_STRING, 0,
         "S:D:N:OFF[,...]: the N-th message (0-based) on S->D gets byte OFF flipped", 0, 0, 0,
         FSC_AT_STRING(struct lb_settings, corrupt)},
        {"lb-drop", 0, FSC_OPT_STRING, 0,
         "S:D:N[,...]: the N-th message (0-based) on S->D is never delivered", 0, 0, 0,
         FSC_AT_STRING(struct lb_settings, drop)},
        {"lb-mem", 0, FSC_OPT_CHOICE, "host",
         "memory of transfer buffers: device has no host access (tests that patterns copy "
         "through the fabric)",
         "host|device", 0, 0, FSC_AT_CHOICE(struct lb_settings, mem)},
        {"lb-stall", 0, FSC_OPT_STRING, 0,
         "R:N[:MS]: rank R stops (its thread blocks, as a stopped process) when it posts its "
         "N-th send (0-based, all links), for MS ms (default 60000) or until released",
         0, 0, 0, FSC_AT_STRING(struct lb_settings, stall)},
        {0},
};

static struct lb_impl *impl_of(const struct fsc_fabric *f)
{
	return f->impl;
}

static struct lb_req *lbr(struct fsc_req *req)
{
	return (struct lb_req *)(void *)req->opaque;
}

/* ------------------------------------------------------------------------
 * Options
 * ------------------------------------------------------------------------ */

/* One parsed item of a spec list; kinds name the fields: 'r' a rank,
 * 'n' an integer >= 0, 'f' a factor > 0 (always the last field). */
struct lb_item {
	long long v[4];
	double factor;
};

static int parse_field(const char *s, char kind, int size, long long *iv, double *fv)
{
	char *end;

	if (!*s || *s == '+' || *s == ' ')
		return -EINVAL;
	errno = 0;
	if (kind == 'f') {
		*fv = strtod(s, &end);
		return *end || errno || !isfinite(*fv) || *fv <= 0 ? -EINVAL : 0;
	}
	*iv = strtoll(s, &end, 10);
	if (*end || errno || *iv < 0)
		return -EINVAL;
	return kind == 'r' && *iv >= size ? -EINVAL : 0;
}

/* Parse "a:b:c[,a:b:c...]" into a malloc'ed array.  Two leading rank fields
 * must differ (a link has two ends). */
static int parse_items(const char *val, const char *kinds, int size, struct lb_item **out,
                       size_t *nout)
{
	size_t nk = strlen(kinds), cap = 1, n = 0;
	struct lb_item *items;
	const char *p = val;

	for (const char *c = val; *c; c++)
		cap += *c == ',';
	items = calloc(cap, sizeof(*items));
	if (!items)
		return -ENOMEM;
	for (;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		char buf[LB_ITEM_MAX], *field = buf;
		size_t k = 0;

		if (!len || len >= sizeof(buf))
			goto bad;
		memcpy(buf, p, len);
		buf[len] = 0;
		for (;;) {
			char *colon = strchr(field, ':');

			if (colon)
				*colon = 0;
			if (k >= nk ||
			    parse_field(field, kinds[k], size, &items[n].v[k], &items[n].factor))
				goto bad;
			k++;
			if (!colon)
				break;
			field = colon + 1;
		}
		if (k != nk || (nk > 1 && kinds[0] == 'r' && kinds[1] == 'r' &&
		                items[n].v[0] == items[n].v[1]))
			goto bad;
		n++;
		if (!comma)
			break;
		p = comma + 1;
	}
	*out = items;
	*nout = n;
	return 0;
bad:
	free(items);
	return -EINVAL;
}

/* Every rank parses the same strings and reaches the same verdict; only
 * rank 0 logs, so a bad value gives one line, not one per virtual rank. */
static int bad_value(const struct fsc_fabric *f, const char *opt, const char *val, const char *form)
{
	if (f->rank == 0)
		fsc_error("loopback: invalid value '%s' for --%s: expected %s (ranks 0..%d)", val,
		          opt, form, f->size - 1);
	return -EINVAL;
}

static int apply_slow(struct fsc_fabric *f, const struct lb_settings *set)
{
	static const char *const form_rank = "R:F[,R:F...] with rank R and factor F > 0";
	static const char *const form_link = "S:D:F[,S:D:F...] with ranks S != D and factor F > 0";
	struct lb_impl *im = impl_of(f);
	const char *val;
	struct lb_item *it;
	size_t n;
	int rc;

	val = set->slow_rank;
	if (val) {
		rc = parse_items(val, "rf", f->size, &it, &n);
		if (rc)
			return rc == -EINVAL ? bad_value(f, "lb-slow-rank", val, form_rank) : rc;
		for (size_t i = 0; i < n; i++)
			for (int d = 0; d < f->size; d++) {
				/* Links out of a slow rank, and links into it. */
				int hit = (it[i].v[0] == f->rank) + (it[i].v[0] == d);

				for (int h = 0; h < hit; h++) {
					im->link_bw_GBps[d] *= it[i].factor;
					im->link_lat_ns[d] /= it[i].factor;
				}
			}
		free(it);
	}
	val = set->slow_link;
	if (val) {
		rc = parse_items(val, "rrf", f->size, &it, &n);
		if (rc)
			return rc == -EINVAL ? bad_value(f, "lb-slow-link", val, form_link) : rc;
		for (size_t i = 0; i < n; i++)
			if (it[i].v[0] == f->rank) {
				im->link_bw_GBps[it[i].v[1]] *= it[i].factor;
				im->link_lat_ns[it[i].v[1]] /= it[i].factor;
			}
		free(it);
	}
	return 0;
}

static int add_faults(struct fsc_fabric *f, const struct lb_settings *set, bool drop)
{
	const char *opt = drop ? "lb-drop" : "lb-corrupt";
	const char *form = drop ? "S:D:N[,S:D:N...] with ranks S != D and message index N >= 0"
	                        : "S:D:N:OFF[,S:D:N:OFF...] with ranks S != D, message index "
	                          "N >= 0 and byte offset OFF >= 0";
	struct lb_impl *im = impl_of(f);
	const char *val = drop ? set->drop : set->corrupt;
	struct lb_fault *grown;
	struct lb_item *it;
	size_t n;
	int rc;

	if (!val)
		return 0;
	rc = parse_items(val, drop ? "rrn" : "rrnn", f->size, &it, &n);
	if (rc)
		return rc == -EINVAL ? bad_value(f, opt, val, form) : rc;
	grown = realloc(im->faults, (im->nfaults + n) * sizeof(*grown));
	if (!grown) {
		free(it);
		fsc_error("loopback: out of memory");
		return -ENOMEM;
	}
	im->faults = grown;
	for (size_t i = 0; i < n; i++) {
		if (it[i].v[0] != f->rank)
			continue; /* faults are applied by the sender */
		im->faults[im->nfaults++] = (struct lb_fault){
		        .dst = (int)it[i].v[1],
		        .index = (uint64_t)it[i].v[2],
		        .offset = drop ? 0 : (uint64_t)it[i].v[3],
		        .drop = drop,
		};
	}
	free(it);
	return 0;
}

static int add_stall(struct fsc_fabric *f, const struct lb_settings *set)
{
	const char *val = set->stall;
	struct lb_item *it;
	size_t n;
	int rc;

	if (!val)
		return 0;
	rc = parse_items(val, "rnn", f->size, &it, &n);
	if (rc == -EINVAL) {
		rc = parse_items(val, "rn", f->size, &it, &n);
		for (size_t i = 0; !rc && i < n; i++)
			it[i].v[2] = (long long)(LB_STALL_MAX_NS / 1000000ull);
	}
	if (rc)
		return rc == -EINVAL ? bad_value(f, "lb-stall", val,
		                                 "R:N[:MS] with rank R, send index N >= 0 and "
		                                 "a duration in ms")
		                     : rc;
	for (size_t i = 0; i < n; i++)
		if (it[i].v[0] == f->rank) {
			impl_of(f)->stall_at = it[i].v[1];
			impl_of(f)->stall_ns = (uint64_t)it[i].v[2] * 1000000ull;
		}
	free(it);
	return 0;
}

/* Block this rank's thread as if its process were stopped: no progress,
 * no answers to anyone, until released. */
static void stall(struct lb_impl *im)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)(im->stall_ns / 1000000000ull);
	ts.tv_nsec += (long)(im->stall_ns % 1000000000ull);
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&im->stall_lock);
	while (!im->released)
		if (pthread_cond_timedwait(&im->stall_cond, &im->stall_lock, &ts) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&im->stall_lock);
}

int fsc_loopback_release(struct fsc_fabric *f)
{
	struct lb_impl *im;

	if (!f || f->ops != &fsc_fabric_loopback || !f->impl)
		return -EINVAL;
	im = impl_of(f);
	pthread_mutex_lock(&im->stall_lock);
	im->released = true;
	pthread_cond_broadcast(&im->stall_cond);
	pthread_mutex_unlock(&im->stall_lock);
	return 0;
}

/* ------------------------------------------------------------------------
 * Create / connect / destroy
 * ------------------------------------------------------------------------ */

static int lb_probe(const struct fsc_config *cfg, char *reason, size_t len)
{
	/* Always usable: it needs nothing but threads.  Whether the ranks
	 * really are threads is known only to create(), which sees the
	 * bootstrap. */
	(void)cfg;
	(void)reason;
	(void)len;
	return 0;
}

static void mailbox_free(struct lb_mailbox *mb)
{
	for (int s = 0; s < mb->n; s++) {
		struct lb_msg *m = mb->q[s].head;

		while (m) {
			struct lb_msg *next = m->next;

			free(m);
			m = next;
		}
	}
	pthread_mutex_destroy(&mb->lock);
	free(mb);
}

static void mailbox_put(struct lb_mailbox *mb)
{
	if (mb && atomic_fetch_sub(&mb->refs, 1) == 1)
		mailbox_free(mb);
}

static void lb_destroy(struct fsc_fabric *f)
{
	struct lb_impl *im = impl_of(f);

	if (!im)
		return;
	if (im->boxes) {
		/* Includes our own mailbox. */
		for (int r = 0; r < f->size; r++)
			mailbox_put(im->boxes[r]);
		free(im->boxes);
	}
	free(im->link_lat_ns);
	free(im->link_bw_GBps);
	free(im->link_free_ns);
	free(im->link_sent);
	free(im->faults);
	free(im->poisoned);
	pthread_cond_destroy(&im->stall_cond);
	pthread_mutex_destroy(&im->stall_lock);
	free(im);
	f->impl = 0;
}

static int lb_create(struct fsc_fabric *f, const struct fsc_config *cfg)
{
	struct lb_settings set;
	struct lb_impl *im;
	size_t n = (size_t)f->size;
	char err[256];
	int rc;

	if (!f->boot || strcmp(f->boot->ops->name, "local")) {
		fsc_error("loopback needs in-process ranks (the local bootstrap), not the %s "
		          "bootstrap",
		          f->boot ? f->boot->ops->name : "(none)");
		return -ENOTSUP;
	}
	/* A config without the loopback options (a test's) gives the table's
	 * defaults. */
	rc = fsc_config_fill(cfg, lb_opts, &set, err, sizeof(err));
	if (rc) {
		fsc_error("loopback: %s", err);
		return rc;
	}
	im = calloc(1, sizeof(*im));
	if (!im)
		goto nomem;
	pthread_mutex_init(&im->stall_lock, 0);
	pthread_cond_init(&im->stall_cond, 0);
	im->stall_at = -1;
	f->impl = im;
	im->link_lat_ns = calloc(n, sizeof(double));
	im->link_bw_GBps = calloc(n, sizeof(double));
	im->link_free_ns = calloc(n, sizeof(double));
	im->link_sent = calloc(n, sizeof(uint64_t));
	im->poisoned = calloc(n, sizeof(bool));
	if (!im->link_lat_ns || !im->link_bw_GBps || !im->link_free_ns || !im->link_sent ||
	    !im->poisoned)
		goto nomem;

	im->lat_ns = (double)set.lat_ns;
	im->bw_GBps = set.bw_GBps;
	if (!isfinite(im->bw_GBps) || im->bw_GBps <= 0) {
		if (f->rank == 0)
			fsc_error("loopback: invalid value '%g' for --lb-bw: expected a "
			          "bandwidth in GB/s > 0",
			          im->bw_GBps);
		return -EINVAL;
	}
	for (size_t d = 0; d < n; d++) {
		im->link_lat_ns[d] = im->lat_ns;
		im->link_bw_GBps[d] = im->bw_GBps;
	}
	if (set.mem == LB_MEM_DEVICE) {
		im->devmem = true;
		f->mem = FSC_MEM_DEVICE;
	}
	rc = apply_slow(f, &set);
	if (!rc)
		rc = add_faults(f, &set, false);
	if (!rc)
		rc = add_faults(f, &set, true);
	if (!rc)
		rc = add_stall(f, &set);
	return rc;
nomem:
	fsc_error("loopback: out of memory");
	return -ENOMEM;
}

static struct lb_mailbox *mailbox_create(int n)
{
	struct lb_mailbox *mb = calloc(1, sizeof(*mb) + (size_t)n * sizeof(mb->q[0]));

	if (!mb)
		return 0;
	pthread_mutex_init(&mb->lock, 0);
	atomic_init(&mb->deposits, 0);
	atomic_init(&mb->refs, n); /* one per rank that will hold it */
	mb->n = n;
	return mb;
}

static int lb_connect(struct fsc_fabric *f)
{
	struct lb_impl *im = impl_of(f);
	struct lb_mailbox *mb, **boxes;
	int rc = 0;

	if (im->boxes) {
		fsc_error("loopback: connect called twice");
		return -EINVAL;
	}
	mb = mailbox_create(f->size);
	boxes = calloc((size_t)f->size, sizeof(*boxes));
	if (!mb || !boxes) {
		fsc_error("loopback: out of memory for a mailbox");
		rc = -ENOMEM;
	}
	/* Every rank must hold every mailbox, or nobody may keep any. */
	rc = fsc_boot_agree(f->boot, rc, 0);
	if (!rc) {
		/* The out-of-band address exchange: mailbox pointers,
		 * meaningful because every rank is a thread of this process. */
		rc = fsc_boot_allgather(f->boot, &mb, boxes, sizeof(mb));
	}
	if (rc) {
		if (mb)
			mailbox_free(mb);
		free(boxes);
		return rc;
	}
	im->own = mb;
	im->boxes = boxes;
	return 0;
}

/* ------------------------------------------------------------------------
 * Device-like memory (--lb-mem device)
 * ------------------------------------------------------------------------ */

static void *lb_mem_alloc(struct fsc_fabric *f, size_t bytes)
{
	struct lb_dev *d = calloc(1, sizeof(*d));
	void *base;

	if (d) {
		d->len = bytes ? bytes : 1;
		d->shadow = calloc(1, d->len);
	}
	base = mmap(0, d ? d->len : 1, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1,
	            0);
	if (!d || !d->shadow || base == MAP_FAILED) {
		fsc_error("loopback: rank %d: cannot allocate %zu bytes of device-like memory",
		          f->rank, bytes);
		if (base != MAP_FAILED)
			munmap(base, d ? d->len : 1);
		if (d)
			free(d->shadow);
		free(d);
		return 0;
	}
	d->base = base;
	pthread_mutex_lock(&lb_dev_lock);
	d->next = lb_devs;
	lb_devs = d;
	pthread_mutex_unlock(&lb_dev_lock);
	return base;
}

static void lb_mem_free(struct fsc_fabric *f, void *buf)
{
	struct lb_dev **pp, *d = 0;

	(void)f;
	if (!buf)
		return;
	pthread_mutex_lock(&lb_dev_lock);
	for (pp = &lb_devs; *pp; pp = &(*pp)->next)
		if ((*pp)->base == buf) {
			d = *pp;
			*pp = d->next;
			break;
		}
	pthread_mutex_unlock(&lb_dev_lock);
	if (!d) {
		fsc_error("loopback: freeing %p, which is not device-like memory", buf);
		return;
	}
	munmap(d->base, d->len);
	free(d->shadow);
	free(d);
}

/* The shadow of [p, p + bytes) when that range lies in one device-like
 * buffer; NULL otherwise (logged, naming what). */
static unsigned char *dev_shadow(const struct fsc_fabric *f, const void *p, size_t bytes,
                                 const char *what)
{
	const unsigned char *c = p;
	unsigned char *out = 0;

	pthread_mutex_lock(&lb_dev_lock);
	for (struct lb_dev *d = lb_devs; d; d = d->next)
		if (c >= d->base && c <= d->base + d->len &&
		    bytes <= d->len - (size_t)(c - d->base)) {
			out = d->shadow + (c - d->base);
			break;
		}
	pthread_mutex_unlock(&lb_dev_lock);
	if (!out)
		fsc_error("loopback: rank %d: %s of %zu bytes at %p: not device memory of this "
		          "fabric (--lb-mem device)",
		          f->rank, what, bytes, p);
	return out;
}

static int lb_mem_copy(struct fsc_fabric *f, void *dst, const void *src, size_t bytes,
                       enum fsc_copy_dir dir)
{
	unsigned char *d = dst;
	const unsigned char *s = src;

	if (dir != FSC_COPY_D2H && !(d = dev_shadow(f, dst, bytes, "copy destination")))
		return -EINVAL;
	if (dir != FSC_COPY_H2D && !(s = dev_shadow(f, src, bytes, "copy source")))
		return -EINVAL;
	memmove(d, s, bytes);
	return 0;
}

static int lb_mem_set(struct fsc_fabric *f, void *buf, int byte, size_t bytes)
{
	unsigned char *d = dev_shadow(f, buf, bytes, "memset");

	if (!d)
		return -EINVAL;
	memset(d, byte, bytes);
	return 0;
}

/* ------------------------------------------------------------------------
 * Point to point
 * ------------------------------------------------------------------------ */

static int check_args(struct fsc_fabric *f, const char *op, int peer, const void *buf, size_t bytes,
                      int tag)
{
	if (!impl_of(f)->boxes) {
		fsc_error("loopback: %s before connect", op);
		return -EINVAL;
	}
	if (peer < 0 || peer >= f->size || peer == f->rank) {
		fsc_error("loopback: %s with invalid peer %d (ranks 0..%d; sending to oneself "
		          "is not supported)",
		          op, peer, f->size - 1);
		return -EINVAL;
	}
	if (tag < 0 || (bytes && !buf)) {
		fsc_error("loopback: %s with %s", op, tag < 0 ? "a negative tag" : "a NULL buffer");
		return -EINVAL;
	}
	if (impl_of(f)->poisoned[peer]) {
		fsc_error("loopback: rank %d: %s with rank %d refused: an earlier operation "
		          "with that rank was cancelled, so matching can no longer be trusted",
		          f->rank, op, peer);
		return -EIO;
	}
	return 0;
}

static const struct lb_fault *find_fault(const struct lb_impl *im, int dst, uint64_t index,
                                         bool drop)
{
	for (size_t i = 0; i < im->nfaults; i++)
		if (im->faults[i].dst == dst && im->faults[i].index == index &&
		    im->faults[i].drop == drop)
			return &im->faults[i];
	return 0;
}

/* Append m to the queue of source rank src in mailbox mb (the receiver's)
 * and bump its deposit count, so the owner's next progress looks.  m is
 * the mailbox's from here on. */
static void mailbox_deposit(struct lb_mailbox *mb, int src, struct lb_msg *m)
{
	struct lb_queue *q = &mb->q[src];

	m->next = 0;
	pthread_mutex_lock(&mb->lock);
	if (q->tail)
		q->tail->next = m;
	else
		q->head = m;
	q->tail = m;
	atomic_fetch_add(&mb->deposits, 1);
	pthread_mutex_unlock(&mb->lock);
}

static int lb_isend(struct fsc_fabric *f, int peer, const void *buf, size_t bytes, int tag,
                    struct fsc_req *req)
{
	struct lb_impl *im = impl_of(f);
	struct lb_req *r = lbr(req);
	const struct lb_fault *corrupt;
	struct lb_msg *m = 0;
	double start, xfer;
	uint64_t index;
	bool drop;
	int rc;

	rc = check_args(f, "isend", peer, buf, bytes, tag);
	if (rc)
		return rc;
	if (im->devmem && bytes && !(buf = dev_shadow(f, buf, bytes, "isend")))
		return -EINVAL;
	if (im->stall_at >= 0 && im->sends++ == (uint64_t)im->stall_at)
		stall(im);
	index = im->link_sent[peer];
	drop = find_fault(im, peer, index, true);
	if (!drop) {
		m = malloc(sizeof(*m) + bytes);
		if (!m) {
			fsc_error("loopback: out of memory for a %zu B message", bytes);
			return -ENOMEM;
		}
	}
	/* The clock model: see the top of this file. */
	start = fmax(im->vt_ns, im->link_free_ns[peer]);
	xfer = (double)bytes / im->link_bw_GBps[peer];
	im->link_free_ns[peer] = start + xfer;
	im->link_sent[peer]++;
	im->stats.sent++;
	im->stats.bytes_sent += bytes;
	*r = (struct lb_req){.peer = peer, .tag = tag, .bytes = bytes, .state = LB_DONE};
	if (drop) {
		im->stats.dropped++;
		return 0;
	}
	m->tag = tag;
	m->bytes = bytes;
	m->arrival_ns = start + xfer + im->link_lat_ns[peer];
	if (bytes)
		memcpy(m->data, buf, bytes);
	corrupt = find_fault(im, peer, index, false);
	if (corrupt && bytes) {
		m->data[corrupt->offset < bytes ? corrupt->offset : bytes - 1] ^= 0xFF;
		im->stats.corrupted++;
	}
	mailbox_deposit(im->boxes[peer], f->rank, m);
	return 0;
}

static int lb_irecv(struct fsc_fabric *f, int peer, void *buf, size_t bytes, int tag,
                    struct fsc_req *req)
{
	struct lb_impl *im = impl_of(f);
	struct lb_req *r = lbr(req);
	int rc;

	rc = check_args(f, "irecv", peer, buf, bytes, tag);
	if (rc)
		return rc;
	if (im->devmem && bytes && !(buf = dev_shadow(f, buf, bytes, "irecv")))
		return -EINVAL;
	*r = (struct lb_req){
	        .buf = buf, .bytes = bytes, .peer = peer, .tag = tag, .state = LB_POSTED};
	if (im->posted_tail)
		im->posted_tail->next = r;
	else
		im->posted_head = r;
	im->posted_tail = r;
	im->posted_new = true;
	return 0;
}

/* Unlink the first message from q with this tag. */
static struct lb_msg *queue_take(struct lb_queue *q, int tag)
{
	struct lb_msg *prev = 0;

	for (struct lb_msg *m = q->head; m; prev = m, m = m->next) {
		if (m->tag != tag)
			continue;
		if (prev)
			prev->next = m->next;
		else
			q->head = m->next;
		if (q->tail == m)
			q->tail = prev;
		return m;
	}
	return 0;
}

/* Free every message of q unread; called with the mailbox locked. */
static void queue_discard(struct lb_impl *im, struct lb_queue *q)
{
	while (q->head) {
		struct lb_msg *m = q->head;

		q->head = m->next;
		free(m);
		im->stats.discarded++;
	}
	q->tail = 0;
}

/* Match posted receives, in posting order, with queued messages; discard
 * what poisoned peers sent. */
static void lb_match(struct lb_impl *im)
{
	struct lb_mailbox *mb = im->own;
	struct lb_req *prev = 0, *r;

	if ((!im->posted_head && !im->npoisoned) ||
	    (!im->posted_new && atomic_load(&mb->deposits) == im->seen_deposits))
		return;
	pthread_mutex_lock(&mb->lock);
	im->seen_deposits = atomic_load(&mb->deposits);
	im->posted_new = false;
	for (int s = 0; im->npoisoned && s < mb->n; s++)
		if (im->poisoned[s])
			queue_discard(im, &mb->q[s]);
	for (r = im->posted_head; r;) {
		struct lb_req *next = r->next;
		struct lb_msg *m = queue_take(&mb->q[r->peer], r->tag);

		if (!m) {
			prev = r;
			r = next;
			continue;
		}
		r->arrival_ns = m->arrival_ns;
		r->sent_bytes = m->bytes;
		if (m->bytes == r->bytes) {
			if (r->bytes)
				memcpy(r->buf, m->data, r->bytes);
			r->status = 0;
		} else {
			r->status = -EIO; /* logged by test(), on this rank */
		}
		free(m);
		r->state = LB_MATCHED;
		r->next = 0;
		if (prev)
			prev->next = next;
		else
			im->posted_head = next;
		if (im->posted_tail == r)
			im->posted_tail = prev;
		r = next;
	}
	pthread_mutex_unlock(&mb->lock);
}

static int lb_test(struct fsc_fabric *f, struct fsc_req *req, int *done)
{
	struct lb_impl *im = impl_of(f);
	struct lb_req *r = lbr(req);

	if (r->state == LB_POSTED)
		lb_match(im);
	if (r->state == LB_MATCHED) {
		r->state = LB_DONE;
		if (r->status) {
			fsc_error("loopback: receive of %zu B from rank %d (tag %d) matched a "
			          "send of %zu B",
			          r->bytes, r->peer, r->tag, r->sent_bytes);
		} else {
			im->vt_ns = fmax(im->vt_ns, r->arrival_ns);
			im->stats.received++;
		}
	}
	if (r->state == LB_DONE) {
		*done = 1;
		return r->status;
	}
	*done = 0;
	/* Virtual ranks share a few cores: let the sender run. */
	sched_yield();
	return 0;
}

static int lb_progress(struct fsc_fabric *f)
{
	lb_match(impl_of(f));
	return 0;
}

/* Unlink r from the posted-receive list (it must be there). */
static void posted_unlink(struct lb_impl *im, struct lb_req *r)
{
	struct lb_req *prev = 0;

	for (struct lb_req *x = im->posted_head; x; prev = x, x = x->next) {
		if (x != r)
			continue;
		if (prev)
			prev->next = r->next;
		else
			im->posted_head = r->next;
		if (im->posted_tail == r)
			im->posted_tail = prev;
		r->next = 0;
		return;
	}
}

/* See the top of this file: no message from `peer` is delivered any more. */
static void poison(struct fsc_fabric *f, int peer)
{
	struct lb_impl *im = impl_of(f);
	struct lb_req *r, *next;

	if (im->poisoned[peer])
		return;
	im->poisoned[peer] = true;
	im->npoisoned++;
	fsc_warn("loopback: rank %d: an operation with rank %d was cancelled; messages from "
	         "it are discarded and new operations with it fail",
	         f->rank, peer);
	for (r = im->posted_head; r; r = next) {
		next = r->next;
		if (r->peer != peer)
			continue;
		posted_unlink(im, r);
		r->state = LB_DONE;
		r->status = -EIO;
	}
	im->posted_new = true; /* the next match pass drains the queue */
	lb_match(im);
}

static int lb_cancel(struct fsc_fabric *f, struct fsc_req *req)
{
	struct lb_impl *im = impl_of(f);
	struct lb_req *r = lbr(req);

	if (im && r->state == LB_LOST) { /* a get: no part in tag matching */
		r->state = LB_DONE;
		r->status = -ECANCELED;
		return 0;
	}
	if (!im || r->state != LB_POSTED)
		return 0; /* sends, and matched receives, are finished */
	posted_unlink(im, r);
	r->state = LB_DONE;
	r->status = -ECANCELED;
	poison(f, r->peer);
	return 0;
}

/* ------------------------------------------------------------------------
 * One-sided transfers
 * ------------------------------------------------------------------------ */

struct lb_win {
	unsigned char **base; /* [size]: every rank's window */
};

static int lb_win_create(struct fsc_fabric *f, void *buf, size_t bytes, void **win)
{
	struct lb_win *w = calloc(1, sizeof(*w));
	int rc = 0;

	/* the wrapper checks ranges against every rank's size */
	if (w)
		w->base = calloc((size_t)f->size, sizeof(*w->base));
	if (!w || !w->base) {
		fsc_error("loopback: out of memory for a window");
		rc = -ENOMEM;
	}
	/* device-like memory: peers write the shadow */
	if (!rc && impl_of(f)->devmem && bytes && !(buf = dev_shadow(f, buf, bytes, "window")))
		rc = -EINVAL;
	rc = fsc_boot_agree(f->boot, rc, 0);
	if (!rc) /* pointers: every rank is a thread of this process */
		rc = fsc_boot_allgather(f->boot, &buf, w->base, sizeof(buf));
	if (rc) {
		if (w)
			free(w->base);
		free(w);
		return rc;
	}
	*win = w;
	return 0;
}

static void lb_win_free(struct fsc_fabric *f, void *win)
{
	struct lb_win *w = win;

	(void)f;
	if (w)
		free(w->base);
	free(w);
}

/* Fault and clock bookkeeping shared by put and get: the transfer is the
 * next message on link rank->peer.  Returns its start time; *drop and
 * *corrupt say what --lb-drop / --lb-corrupt do to it. */
static double rma_account(struct lb_impl *im, int peer, size_t bytes, bool *drop,
                          const struct lb_fault **corrupt, double *xfer)
{
	uint64_t index = im->link_sent[peer];
	double start;

	if (im->stall_at >= 0 && im->sends++ == (uint64_t)im->stall_at)
		stall(im);
	*drop = find_fault(im, peer, index, true);
	*corrupt = *drop ? 0 : find_fault(im, peer, index, false);
	start = fmax(im->vt_ns, im->link_free_ns[peer]);
	*xfer = (double)bytes / im->link_bw_GBps[peer];
	im->link_free_ns[peer] = start + *xfer;
	im->link_sent[peer]++;
	im->stats.sent++;
	im->stats.bytes_sent += bytes;
	if (*drop)
		im->stats.dropped++;
	if (*corrupt && bytes)
		im->stats.corrupted++;
	return start;
}

static int lb_put(struct fsc_fabric *f, void *win, int peer, size_t offset, const void *buf,
                  size_t bytes, int tag, struct fsc_req *req)
{
	struct lb_impl *im = impl_of(f);
	struct lb_win *w = win;
	const struct lb_fault *corrupt;
	struct lb_msg *m = 0;
	double start, xfer;
	bool drop;
	int rc;

	rc = check_args(f, "put", peer, buf, bytes, tag < 0 ? 0 : tag);
	if (rc)
		return rc;
	if (im->devmem && bytes && !(buf = dev_shadow(f, buf, bytes, "put")))
		return -EINVAL;
	if (tag >= 0 && !(m = calloc(1, sizeof(*m)))) {
		fsc_error("loopback: out of memory for a put notification");
		return -ENOMEM;
	}
	start = rma_account(im, peer, bytes, &drop, &corrupt, &xfer);
	*lbr(req) = (struct lb_req){.peer = peer, .tag = tag, .bytes = bytes, .state = LB_DONE};
	if (drop) {
		free(m);
		return 0;
	}
	if (bytes) {
		unsigned char *dst = w->base[peer] + offset;

		memcpy(dst, buf, bytes);
		if (corrupt)
			dst[corrupt->offset < bytes ? corrupt->offset : bytes - 1] ^= 0xFF;
	}
	if (m) {
		m->tag = tag;
		m->arrival_ns = start + xfer + im->link_lat_ns[peer];
		mailbox_deposit(im->boxes[peer], f->rank, m);
	}
	return 0;
}

static int lb_get(struct fsc_fabric *f, void *win, int peer, size_t offset, void *buf, size_t bytes,
                  struct fsc_req *req)
{
	struct lb_impl *im = impl_of(f);
	struct lb_win *w = win;
	struct lb_req *r = lbr(req);
	const struct lb_fault *corrupt;
	double start, xfer;
	bool drop;
	int rc;

	rc = check_args(f, "get", peer, buf, bytes, 0);
	if (rc)
		return rc;
	if (im->devmem && bytes && !(buf = dev_shadow(f, buf, bytes, "get")))
		return -EINVAL;
	start = rma_account(im, peer, bytes, &drop, &corrupt, &xfer);
	*r = (struct lb_req){.buf = buf,
	                     .bytes = bytes,
	                     .sent_bytes = bytes,
	                     .peer = peer,
	                     .tag = -1,
	                     .state = drop ? LB_LOST : LB_MATCHED};
	r->arrival_ns = start + xfer + 2 * im->link_lat_ns[peer];
	if (!drop && bytes) {
		memcpy(buf, w->base[peer] + offset, bytes);
		if (corrupt)
			((unsigned char *)
			         buf)[corrupt->offset < bytes ? corrupt->offset : bytes - 1] ^=
			        0xFF;
	}
	return 0;
}

/* ------------------------------------------------------------------------
 * Virtual clock
 * ------------------------------------------------------------------------ */

static uint64_t lb_now_ns(void *arg)
{
	const struct lb_impl *im = arg;

	return (uint64_t)llround(im->vt_ns);
}

static int lb_clock(struct fsc_fabric *f, struct fsc_clock *out)
{
	out->now_ns = lb_now_ns;
	out->arg = impl_of(f);
	return 0;
}

static int lb_sync(struct fsc_fabric *f)
{
	struct lb_impl *im = impl_of(f);
	double vt = im->vt_ns;
	int rc;

	rc = fsc_boot_allreduce(f->boot, &vt, 1, FSC_BOOT_F64, FSC_BOOT_MAX);
	if (!rc)
		im->vt_ns = vt;
	return rc;
}

static int lb_describe(struct fsc_fabric *f, json_t *info)
{
	struct lb_impl *im = impl_of(f);

	if (json_object_set_new(info, "model", json_string("virtual clock")) ||
	    json_object_set_new(info, "lat_ns", json_real(im->lat_ns)) ||
	    json_object_set_new(info, "bw_GBps", json_real(im->bw_GBps)) ||
	    json_object_set_new(info, "memory", json_string(fsc_mem_kind_name(f->mem)))) {
		fsc_error("loopback: cannot describe the fabric (out of memory)");
		return -ENOMEM;
	}
	return 0;
}

const struct fsc_fabric_ops fsc_fabric_loopback = {
        .name = "loopback",
        .desc = "virtual ranks in one process, virtual clock, fault injection (tests)",
        .caps = FSC_CAP_SEND_RECV | FSC_CAP_RMA | FSC_CAP_GPU_MEM,
        .opts = lb_opts,
        .inprocess_ranks = "lb-ranks",
        .probe = lb_probe,
        .create = lb_create,
        .destroy = lb_destroy,
        .connect = lb_connect,
        .mem_alloc = lb_mem_alloc,
        .mem_free = lb_mem_free,
        .mem_copy = lb_mem_copy,
        .mem_set = lb_mem_set,
        .isend = lb_isend,
        .irecv = lb_irecv,
        .test = lb_test,
        .cancel = lb_cancel,
        .progress = lb_progress,
        .win_create = lb_win_create,
        .win_free = lb_win_free,
        .put = lb_put,
        .get = lb_get,
        .clock = lb_clock,
        .sync = lb_sync,
        .describe = lb_describe,
};

/* ------------------------------------------------------------------------
 * Test API (loopback.h)
 * ------------------------------------------------------------------------ */

double fsc_loopback_vt_ns(const struct fsc_fabric *f)
{
	return f && f->ops == &fsc_fabric_loopback && f->impl ? impl_of(f)->vt_ns : -1.0;
}

int fsc_loopback_advance_ns(struct fsc_fabric *f, double ns)
{
	if (!f || f->ops != &fsc_fabric_loopback || !f->impl || !(ns >= 0)) {
		fsc_error("loopback: cannot advance the virtual clock by %g ns", ns);
		return -EINVAL;
	}
	impl_of(f)->vt_ns += ns;
	return 0;
}

int fsc_loopback_get_stats(const struct fsc_fabric *f, struct fsc_loopback_stats *out)
{
	if (!f || f->ops != &fsc_fabric_loopback || !f->impl)
		return -EINVAL;
	*out = impl_of(f)->stats;
	return 0;
}
