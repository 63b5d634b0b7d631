/* In-process bootstrap: N ranks as N threads of one process.
 *
 * The threads of one fsc_boot_local_run share a group object.  Every
 * collective is built from two things: a barrier on a mutex + condition
 * variable (blocking, never spinning: virtual ranks outnumber the cores of a
 * test machine), and a slot per rank where a rank publishes a pointer to its
 * buffer.  The shape is always
 *
 *	publish -> barrier -> read the other ranks' buffers -> barrier
 *
 * and the second barrier keeps every published buffer alive (and unchanged)
 * until all ranks have read it.  Reductions combine in rank order 0..n-1 on
 * every rank, so a floating-point sum is bit-identical everywhere.
 *
 * A rank whose function returns while the others still wait in a collective
 * would leave them blocked for ever.  The group therefore counts ranks that
 * have left; a collective that can no longer complete fails with -EIO on
 * every rank still inside it, so a test fails instead of hanging.
 */
#include "boot.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "err.h"
#include "log.h"

/* What a rank publishes for the collective in progress. */
struct local_slot {
	const void *ptr;
	size_t bytes; /* allgather/bcast: bytes; allreduce: count */
	int arg;      /* bcast: root; allreduce: type << 8 | op */
	int err;      /* allreduce: this rank could not compute its result */
};

struct local_group {
	int n;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int arrived;             /* ranks waiting in the current barrier */
	unsigned long gen;       /* barriers completed */
	int left;                /* ranks whose function returned */
	bool broken_logged;      /* the "rank left" error is logged once */
	struct local_slot *slot; /* [n] */
	/* Watchdog control messages, one FIFO per destination rank, under
	 * their own lock (never held while waiting). */
	pthread_mutex_t ctl_lock;
	struct local_ctl **ctl_head, **ctl_tail; /* [n] */
};

struct local_thread {
	struct local_group *g;
	int rank;
	char host[FSC_HOST_MAX];
	int (*fn)(struct fsc_boot *b, void *arg);
	void *arg;
	int rc;
	pthread_t tid;
};

/* How often a waiting rank with an idle hook wakes to run it. */
#define LOCAL_IDLE_NS 200000
/* How often a waiting rank wakes to answer the watchdog. */
#define LOCAL_WD_NS 10000000

/* A watchdog control message between two local ranks. */
struct local_ctl {
	struct local_ctl *next;
	size_t len;
	unsigned char data[];
};

/* Wait on the group's condition (lock held).  With an idle hook or a
 * watchdog, wake periodically to run the hook, answer the watchdog and,
 * past the watchdog's timeout (counted from *since), trip it; all with the
 * lock released.  -ECONNABORTED once the watchdog holds a verdict. */
static int local_wait(struct local_group *g, struct fsc_boot *b, uint64_t *since)
{
	uint64_t tmo = fsc_watchdog_timeout_ns(b);
	struct timespec ts;
	int rc = 0;

	if (!b || (!b->idle && !fsc_watchdog_armed(b))) {
		pthread_cond_wait(&g->cond, &g->lock);
		return 0;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += b->idle ? LOCAL_IDLE_NS : LOCAL_WD_NS;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&g->cond, &g->lock, &ts);
	pthread_mutex_unlock(&g->lock);
	if (b->idle)
		b->idle(b->idle_arg);
	rc = fsc_watchdog_poll(b);
	if (!rc && tmo && fsc_time_real_ns() - *since > tmo) {
		/* Everyone answered: they are busy, wait on. */
		rc = fsc_watchdog_trip(b, -1, "a bootstrap collective");
		*since = fsc_time_real_ns();
	}
	pthread_mutex_lock(&g->lock);
	return rc;
}

static int local_barrier_group(struct local_group *g, struct fsc_boot *b)
{
	uint64_t since = fsc_time_real_ns();
	unsigned long gen;
	int rc = 0;
	bool log = false;

	pthread_mutex_lock(&g->lock);
	gen = g->gen;
	if (fsc_watchdog_aborted(b)) {
		rc = -ECONNABORTED;
	} else if (g->left) {
		rc = -EIO;
	} else if (++g->arrived == g->n) {
		g->arrived = 0;
		g->gen++;
		pthread_cond_broadcast(&g->cond);
	} else {
		while (g->gen == gen && !g->left && !rc)
			rc = local_wait(g, b, &since);
		/* Released if the generation moved on, even when a rank
		 * left right after that last barrier. */
		if (g->gen == gen) {
			g->arrived--;
			if (!rc)
				rc = fsc_watchdog_aborted(b) ? -ECONNABORTED : -EIO;
		} else {
			rc = 0;
		}
	}
	if (rc == -EIO && !g->broken_logged) {
		g->broken_logged = true;
		log = true;
	}
	pthread_mutex_unlock(&g->lock);
	if (log)
		fsc_error("local bootstrap: a rank returned while the others were in a "
		          "collective; the collective cannot complete");
	return rc;
}

static struct local_group *group_of(struct fsc_boot *b)
{
	return b->impl;
}

static int local_barrier(struct fsc_boot *b)
{
	return local_barrier_group(group_of(b), b);
}

/* Every rank must pass the same bytes (and root/op): checked after the
 * first barrier, where all slots are visible.  Each rank sees the same
 * slots, so all of them return the same answer. */
static int slots_agree(struct fsc_boot *b, const char *what)
{
	struct local_group *g = group_of(b);

	for (int r = 1; r < g->n; r++)
		if (g->slot[r].bytes != g->slot[0].bytes || g->slot[r].arg != g->slot[0].arg) {
			if (b->rank == 0)
				fsc_error("local bootstrap: %s called with different arguments "
				          "on rank 0 and rank %d",
				          what, r);
			return -EINVAL;
		}
	return 0;
}

/* Publish this rank's arguments.  The err field is left alone: the ranks of
 * the previous allreduce may still be reading it (it is written only between
 * an allreduce's two barriers, when every rank is inside that allreduce). */
static void publish(struct local_group *g, int rank, const void *ptr, size_t bytes, int arg)
{
	g->slot[rank].ptr = ptr;
	g->slot[rank].bytes = bytes;
	g->slot[rank].arg = arg;
}

static int local_allgather(struct fsc_boot *b, const void *send, void *recv, size_t bytes)
{
	struct local_group *g = group_of(b);
	int rc, rc2;

	publish(g, b->rank, send, bytes, 0);
	rc = local_barrier_group(g, b);
	if (rc)
		return rc;
	rc = slots_agree(b, "allgather");
	if (!rc)
		for (int r = 0; r < g->n; r++)
			memcpy((char *)recv + (size_t)r * bytes, g->slot[r].ptr, bytes);
	rc2 = local_barrier_group(g, b);
	return rc ? rc : rc2;
}

static int local_bcast(struct fsc_boot *b, void *buf, size_t bytes, int root)
{
	struct local_group *g = group_of(b);
	int rc, rc2;

	publish(g, b->rank, buf, bytes, root);
	rc = local_barrier_group(g, b);
	if (rc)
		return rc;
	rc = slots_agree(b, "bcast");
	if (!rc && (root < 0 || root >= g->n)) {
		if (b->rank == 0)
			fsc_error("local bootstrap: bcast root %d out of range 0..%d", root,
			          g->n - 1);
		rc = -EINVAL;
	}
	if (!rc && b->rank != root)
		memcpy(buf, g->slot[root].ptr, bytes);
	rc2 = local_barrier_group(g, b);
	return rc ? rc : rc2;
}

static int64_t reduce_i64(int64_t a, int64_t b, enum fsc_boot_op op)
{
	switch (op) {
	case FSC_BOOT_MAX: return a > b ? a : b;
	case FSC_BOOT_MIN: return a < b ? a : b;
	default: return (int64_t)((uint64_t)a + (uint64_t)b); /* wraps, no UB */
	}
}

static double reduce_f64(double a, double b, enum fsc_boot_op op)
{
	switch (op) {
	case FSC_BOOT_MAX: return a > b ? a : b;
	case FSC_BOOT_MIN: return a < b ? a : b;
	default: return a + b;
	}
}

/* Combine every rank's published vector into out, in rank order. */
static void reduce_all(const struct local_group *g, void *out, size_t count,
                       enum fsc_boot_type type, enum fsc_boot_op op)
{
	for (size_t i = 0; i < count; i++) {
		if (type == FSC_BOOT_I64) {
			int64_t acc = ((const int64_t *)g->slot[0].ptr)[i];

			for (int r = 1; r < g->n; r++)
				acc = reduce_i64(acc, ((const int64_t *)g->slot[r].ptr)[i], op);
			((int64_t *)out)[i] = acc;
		} else {
			double acc = ((const double *)g->slot[0].ptr)[i];

			for (int r = 1; r < g->n; r++)
				acc = reduce_f64(acc, ((const double *)g->slot[r].ptr)[i], op);
			((double *)out)[i] = acc;
		}
	}
}

static int local_allreduce(struct fsc_boot *b, void *buf, size_t count, enum fsc_boot_type type,
                           enum fsc_boot_op op)
{
	struct local_group *g = group_of(b);
	int64_t small[16]; /* int64_t and double are both 8 bytes */
	void *tmp = small;
	int rc, err = 0;

	_Static_assert(sizeof(double) == sizeof(int64_t), "8-byte elements");
	if ((type != FSC_BOOT_I64 && type != FSC_BOOT_F64) ||
	    (op != FSC_BOOT_MAX && op != FSC_BOOT_MIN && op != FSC_BOOT_SUM)) {
		/* Still take part, so that the other ranks fail too. */
		err = -EINVAL;
		fsc_error("local bootstrap: allreduce with unknown type %d or op %d", (int)type,
		          (int)op);
	}
	publish(g, b->rank, buf, count, (int)type << 8 | (int)op);
	rc = local_barrier_group(g, b);
	if (rc)
		return rc;
	if (!err)
		err = slots_agree(b, "allreduce");
	if (!err && count > sizeof(small) / sizeof(small[0])) {
		tmp = malloc(count * sizeof(int64_t));
		if (!tmp) {
			fsc_error("local bootstrap: out of memory for an allreduce of %zu "
			          "elements",
			          count);
			err = -ENOMEM;
		}
	}
	if (!err)
		reduce_all(g, tmp, count, type, op);
	g->slot[b->rank].err = err;
	/* After this barrier nobody reads the published buffers any more, so
	 * each rank may overwrite its own in place. */
	rc = local_barrier_group(g, b);
	if (!rc) {
		for (int r = 0; r < g->n && !err; r++)
			if (g->slot[r].err)
				err = g->slot[r].err;
		if (!err)
			memcpy(buf, tmp, count * sizeof(int64_t));
	}
	if (tmp != small)
		free(tmp);
	return rc ? rc : err;
}

static int local_ctl_send(struct fsc_boot *b, int dst, const void *msg, size_t len)
{
	struct local_group *g = group_of(b);
	struct local_ctl *m;

	if (dst < 0 || dst >= g->n)
		return -EINVAL;
	m = malloc(sizeof(*m) + len);
	if (!m)
		return -ENOMEM;
	m->next = 0;
	m->len = len;
	memcpy(m->data, msg, len);
	pthread_mutex_lock(&g->ctl_lock);
	if (g->ctl_tail[dst])
		g->ctl_tail[dst]->next = m;
	else
		g->ctl_head[dst] = m;
	g->ctl_tail[dst] = m;
	pthread_mutex_unlock(&g->ctl_lock);
	return 0;
}

static int local_ctl_recv(struct fsc_boot *b, void *msg, size_t len)
{
	struct local_group *g = group_of(b);
	struct local_ctl *m;

	pthread_mutex_lock(&g->ctl_lock);
	m = g->ctl_head[b->rank];
	if (m) {
		g->ctl_head[b->rank] = m->next;
		if (!m->next)
			g->ctl_tail[b->rank] = 0;
	}
	pthread_mutex_unlock(&g->ctl_lock);
	if (!m)
		return 0;
	memcpy(msg, m->data, m->len < len ? m->len : len);
	free(m);
	return 1;
}

static void local_destroy(struct fsc_boot *b)
{
	/* The group belongs to fsc_boot_local_run. */
	free(b);
}

static const struct fsc_boot_ops local_ops = {
        .name = "local",
        .barrier = local_barrier,
        .allgather = local_allgather,
        .bcast = local_bcast,
        .allreduce = local_allreduce,
        .destroy = local_destroy,
        .ctl_send = local_ctl_send,
        .ctl_recv = local_ctl_recv,
};

static void group_leave(struct local_group *g, int nranks)
{
	pthread_mutex_lock(&g->lock);
	g->left += nranks;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
}

static void *local_thread_main(void *p)
{
	struct local_thread *t = p;
	struct fsc_boot *b;
	int rc;

	fsc_log_set_identity(t->rank, t->host);
	b = calloc(1, sizeof(*b));
	if (!b) {
		fsc_error("local bootstrap: out of memory");
		t->rc = -ENOMEM;
		group_leave(t->g, 1);
		return 0;
	}
	b->ops = &local_ops;
	b->rank = t->rank;
	b->size = t->g->n;
	memcpy(b->host, t->host, FSC_HOST_MAX);
	b->impl = t->g;
	rc = fsc_boot_init_hosts(b);
	if (rc)
		fsc_error("local bootstrap: host exchange failed: %s", fsc_strerror(rc));
	else
		rc = t->fn(b, t->arg);
	t->rc = rc;
	group_leave(t->g, 1);
	fsc_boot_destroy(b);
	return 0;
}

static void group_free(struct local_group *g)
{
	if (!g)
		return;
	for (int r = 0; g->ctl_head && r < g->n; r++)
		while (g->ctl_head[r]) {
			struct local_ctl *m = g->ctl_head[r];

			g->ctl_head[r] = m->next;
			free(m);
		}
	free(g->ctl_head);
	free(g->ctl_tail);
	pthread_mutex_destroy(&g->ctl_lock);
	pthread_cond_destroy(&g->cond);
	pthread_mutex_destroy(&g->lock);
	free(g->slot);
	free(g);
}

static struct local_group *group_create(int n)
{
	struct local_group *g = calloc(1, sizeof(*g));

	if (!g)
		return 0;
	g->n = n;
	g->slot = calloc((size_t)n, sizeof(*g->slot));
	g->ctl_head = calloc((size_t)n, sizeof(*g->ctl_head));
	g->ctl_tail = calloc((size_t)n, sizeof(*g->ctl_tail));
	if (!g->slot || !g->ctl_head || !g->ctl_tail) {
		free(g->slot);
		free(g->ctl_head);
		free(g->ctl_tail);
		free(g);
		return 0;
	}
	pthread_mutex_init(&g->ctl_lock, 0);
	pthread_mutex_init(&g->lock, 0);
	pthread_cond_init(&g->cond, 0);
	return g;
}

int fsc_boot_local_run(int n, const char *const *hosts, int (*fn)(struct fsc_boot *b, void *arg),
                       void *arg, int *rcs)
{
	struct local_group *g;
	struct local_thread *t;
	char self[FSC_HOST_MAX] = "localhost";
	int started = 0, rc = 0;

	if (n < 1 || !fn) {
		fsc_error("local bootstrap: need at least one rank and a function (got %d)", n);
		return -EINVAL;
	}
	if (!hosts && gethostname(self, sizeof(self) - 1))
		snprintf(self, sizeof(self), "localhost");
	g = group_create(n);
	t = calloc((size_t)n, sizeof(*t));
	if (!g || !t) {
		fsc_error("local bootstrap: out of memory for %d ranks", n);
		free(t);
		group_free(g);
		return -ENOMEM;
	}
	for (int i = 0; i < n; i++) {
		t[i].g = g;
		t[i].rank = i;
		t[i].fn = fn;
		t[i].arg = arg;
		t[i].rc = -ECANCELED;
		snprintf(t[i].host, FSC_HOST_MAX, "%s", hosts && hosts[i] ? hosts[i] : self);
	}
	for (; started < n; started++) {
		int err = pthread_create(&t[started].tid, 0, local_thread_main, &t[started]);

		if (err) {
			fsc_error("local bootstrap: cannot start thread for rank %d of %d: %s",
			          started, n, strerror(err));
			/* Ranks that never start count as left: the started
			 * ones fail their collectives and return. */
			group_leave(g, n - started);
			rc = -err;
			break;
		}
	}
	for (int i = 0; i < started; i++)
		pthread_join(t[i].tid, 0);
	if (rcs)
		for (int i = 0; i < n; i++)
			rcs[i] = t[i].rc;
	free(t);
	group_free(g);
	return rc;
}
