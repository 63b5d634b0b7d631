/* Watchdog: see watchdog.h for the protocol. */
#include "watchdog.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boot.h"
#include "clock.h"
#include "log.h"

/* Sleep between polls while a query collects answers. */
#define WD_QUERY_SLEEP_NS 1000000ull
/* Wait loops look for messages at most this often: a fabric wait calls
 * fsc_watchdog_poll every 256 polls (tens of us), and each look is a call
 * into the control path (MPI_Iprobe, which drives MPI's progress engine)
 * that the measured path need not pay for so often. */
#define WD_POLL_EVERY_NS 1000000ull

struct fsc_watchdog {
	uint64_t timeout_ns; /* bootstrap waits; 0 = none */
	uint64_t grace_ns;
	int armed; /* configured: deadlines and queries are in force */
	struct fsc_wd_doing doing;
	uint64_t epoch;
	unsigned char *answered; /* [size], the current query */
	int has_verdict;
	struct fsc_wd_msg verdict; /* verdict.from: the reporter */
	char text[1024];
	int last_fault_peer;   /* last peer a fabric wait named; -1 none */
	uint64_t last_poll_ns; /* rate limit of fsc_watchdog_poll */
	int in_poll;           /* re-entrancy guard (idle hooks) */
};

/* Set by a signal handler: the process-wide nature of signals makes this
 * the one piece of process-global state here. */
static volatile sig_atomic_t wd_signal;
/* For the SIGCONT check (fsc_watchdog_note_continue), as signal handlers
 * cannot reach a struct fsc_boot: when this process last polled, and the
 * timeout it was armed with.  Lock-free atomics are async-signal-safe. */
static _Atomic uint64_t wd_alive_ns, wd_timeout_ns;

static struct fsc_watchdog *wd_of(const struct fsc_boot *b)
{
	return b ? b->wd : 0;
}

int fsc_watchdog_create(struct fsc_boot *b)
{
	struct fsc_watchdog *w = calloc(1, sizeof(*w));

	if (w)
		w->answered = calloc((size_t)b->size, 1);
	if (!w || !w->answered) {
		free(w);
		fsc_error("watchdog: out of memory");
		return -ENOMEM;
	}
	w->grace_ns = FSC_WD_GRACE_NS;
	w->last_fault_peer = -1;
	w->doing.iter = -1;
	b->wd = w;
	return 0;
}

void fsc_watchdog_destroy(struct fsc_boot *b)
{
	if (!b || !b->wd)
		return;
	free(b->wd->answered);
	free(b->wd);
	b->wd = 0;
}

void fsc_watchdog_configure(struct fsc_boot *b, uint64_t timeout_ns, uint64_t grace_ns)
{
	struct fsc_watchdog *w = wd_of(b);

	if (!w)
		return;
	w->timeout_ns = timeout_ns;
	wd_timeout_ns = timeout_ns;
	w->grace_ns = grace_ns ? grace_ns : FSC_WD_GRACE_NS;
	w->armed = 1;
}

uint64_t fsc_watchdog_timeout_ns(const struct fsc_boot *b)
{
	const struct fsc_watchdog *w = wd_of(b);

	return w && w->armed ? w->timeout_ns : 0;
}

int fsc_watchdog_armed(const struct fsc_boot *b)
{
	const struct fsc_watchdog *w = wd_of(b);

	return w && w->armed;
}

static void copy_field(char *dst, size_t len, const char *src)
{
	if (src)
		snprintf(dst, len, "%s", src);
}

void fsc_watchdog_doing(struct fsc_boot *b, const char *fabric, const char *pattern,
                        const char *phase, uint64_t bytes, int64_t iter)
{
	struct fsc_watchdog *w = wd_of(b);

	if (!w)
		return;
	copy_field(w->doing.fabric, sizeof(w->doing.fabric), fabric);
	copy_field(w->doing.pattern, sizeof(w->doing.pattern), pattern);
	copy_field(w->doing.phase, sizeof(w->doing.phase), phase);
	w->doing.bytes = bytes;
	w->doing.iter = iter;
}

static const char *host_of(const struct fsc_boot *b, int r)
{
	if (b->hosts && r >= 0 && r < b->size)
		return b->hosts[r];
	return "?";
}

static void send_msg(struct fsc_boot *b, int dst, struct fsc_wd_msg *m)
{
	if (!b->ops->ctl_send || dst == b->rank)
		return;
	m->from = b->rank;
	/* A send to a dead rank may fail: that rank is what we report. */
	b->ops->ctl_send(b, dst, m, sizeof(*m));
}

/* "ranks 2 (host h2), 3 (host h3)" */
static void culprit_list(const struct fsc_boot *b, const struct fsc_wd_msg *v, char *buf,
                         size_t len)
{
	size_t used = 0;
	int n = v->ncul < FSC_WD_MAX_CULPRITS ? v->ncul : FSC_WD_MAX_CULPRITS;

	buf[0] = 0;
	for (int i = 0; i < n; i++) {
		int w = snprintf(buf + used, len - used, "%s%s%d (host %s)", i ? ", " : "",
		                 i ? "" : (v->ncul > 1 ? "ranks " : "rank "), v->cul[i],
		                 host_of(b, v->cul[i]));
		if (w < 0 || used + (size_t)w >= len)
			return;
		used += (size_t)w;
	}
	if (v->ncul > n)
		snprintf(buf + used, len - used, " and %d more", v->ncul - n);
}

static void doing_text(const struct fsc_wd_doing *d, char *buf, size_t len)
{
	char iter[32] = "", pat[96] = "";

	if (d->iter >= 0)
		snprintf(iter, sizeof(iter), ", iteration %lld", (long long)d->iter);
	if (d->pattern[0])
		snprintf(pat, sizeof(pat), ", pattern %s, %llu B", d->pattern,
		         (unsigned long long)d->bytes);
	if (!d->fabric[0] && !d->pattern[0]) {
		snprintf(buf, len, "%s", d->phase[0] ? d->phase : "setting up");
		return;
	}
	snprintf(buf, len, "fabric %s%s, %s phase%s", d->fabric[0] ? d->fabric : "?", pat,
	         d->phase[0] ? d->phase : "?", iter);
}

static void verdict_text(struct fsc_boot *b, struct fsc_watchdog *w)
{
	const struct fsc_wd_msg *v = &w->verdict;
	char who[512], seen[160];

	culprit_list(b, v, who, sizeof(who));
	doing_text(&v->doing, seen, sizeof(seen));
	if (v->type == 0 && v->ncul == 0) /* from a signal */
		snprintf(w->text, sizeof(w->text),
		         "the launcher ended the job (%s) while this run was in %s, before any "
		         "rank was found stalled",
		         v->why, seen);
	else if (v->type == 0)
		snprintf(w->text, sizeof(w->text),
		         "%s failed (gone when the launcher ended the job with %s) during %s", who,
		         v->why, seen);
	else
		snprintf(w->text, sizeof(w->text),
		         "%s stopped answering: last seen in %s (rank %d was waiting for %s); "
		         "the run is aborted",
		         who, seen, v->from, v->why);
}

static void adopt(struct fsc_boot *b, const struct fsc_wd_msg *v)
{
	struct fsc_watchdog *w = wd_of(b);

	if (w->has_verdict && w->verdict.from <= v->from)
		return;
	w->verdict = *v;
	w->verdict.why[sizeof(w->verdict.why) - 1] = 0;
	w->has_verdict = 1;
	verdict_text(b, w);
}

static int query(struct fsc_boot *b, uint64_t grace_ns, int suspect);
static void fill_culprits(struct fsc_boot *b, struct fsc_wd_msg *v, int missing);

/* How long a rank that got SIGTERM asks who is still there: Open MPI
 * sends SIGKILL 1 s after SIGTERM, and rank 0 must still write its file. */
#define WD_SIGNAL_GRACE_NS 300000000ull

/* The launcher is ending the job (a rank died, or someone stopped it):
 * name the ranks that do not answer within a short grace, or failing
 * that the last peer a fabric or another rank's query named. */
static void signal_verdict(struct fsc_boot *b, struct fsc_watchdog *w)
{
	struct fsc_wd_msg v;
	int missing = 0;

	memset(&v, 0, sizeof(v));
	if (w->armed && b->ops->ctl_send)
		missing = query(b,
		                WD_SIGNAL_GRACE_NS < w->grace_ns ? WD_SIGNAL_GRACE_NS : w->grace_ns,
		                w->last_fault_peer);
	if (missing == -ECONNABORTED || w->has_verdict)
		return;
	v.from = b->rank;
	v.doing = w->doing;
	v.link_peer = -1;
	if (missing > 0) {
		fill_culprits(b, &v, missing);
	} else if (w->last_fault_peer >= 0) {
		v.ncul = 1;
		v.cul[0] = w->last_fault_peer;
	}
	snprintf(v.why, sizeof(v.why), "signal %d", (int)wd_signal);
	adopt(b, &v);
}

/* Handle one message: answer a PING, note a PONG, adopt a VERDICT. */
static void handle(struct fsc_boot *b, struct fsc_wd_msg *m)
{
	struct fsc_watchdog *w = wd_of(b);

	if (m->from < 0 || m->from >= b->size)
		return;
	switch (m->type) {
	case FSC_WD_PING: {
		struct fsc_wd_msg pong;

		/* The peer the pinger's fabric named, for a verdict this rank
		 * may have to give alone (SIGTERM). */
		if (m->link_peer >= 0 && m->link_peer < b->size && m->link_peer != b->rank &&
		    w->last_fault_peer < 0)
			w->last_fault_peer = m->link_peer;

		memset(&pong, 0, sizeof(pong));
		pong.type = FSC_WD_PONG;
		pong.epoch = m->epoch;
		pong.doing = w->doing;
		send_msg(b, m->from, &pong);
		break;
	}
	case FSC_WD_PONG:
		if (m->epoch == w->epoch)
			w->answered[m->from] = 1;
		break;
	case FSC_WD_VERDICT:
		m->ncul = m->ncul < 0 ? 0 : m->ncul;
		adopt(b, m);
		break;
	default: break;
	}
}

/* Handle every message waiting. */
static void drain(struct fsc_boot *b)
{
	struct fsc_wd_msg m;

	while (b->ops->ctl_recv && b->ops->ctl_recv(b, &m, sizeof(m)) > 0)
		handle(b, &m);
}

int fsc_watchdog_poll(struct fsc_boot *b)
{
	struct fsc_watchdog *w = wd_of(b);
	uint64_t now;

	if (!w)
		return 0;
	if (w->in_poll) {
		drain(b); /* inside a query: answer, nothing more */
		return w->has_verdict ? -ECONNABORTED : 0;
	}
	now = fsc_time_real_ns();
	if (now - w->last_poll_ns < WD_POLL_EVERY_NS && !wd_signal)
		return w->has_verdict ? -ECONNABORTED : 0;
	w->last_poll_ns = now;
	w->in_poll = 1;
	wd_alive_ns = now;
	drain(b);
	if (wd_signal && !w->has_verdict)
		signal_verdict(b, w);
	w->in_poll = 0;
	return w->has_verdict ? -ECONNABORTED : 0;
}

/* Ping every rank and collect answers for grace_ns (answering others
 * meanwhile).  Returns the number of ranks that did not answer (answered[]
 * says which), or -ECONNABORTED when a verdict arrived meanwhile. */
static int query(struct fsc_boot *b, uint64_t grace_ns, int suspect)
{
	struct fsc_watchdog *w = wd_of(b);
	struct fsc_wd_msg ping;
	uint64_t deadline;
	int missing;

	w->epoch++;
	memset(w->answered, 0, (size_t)b->size);
	w->answered[b->rank] = 1;
	memset(&ping, 0, sizeof(ping));
	ping.type = FSC_WD_PING;
	ping.epoch = w->epoch;
	ping.link_peer = suspect;
	for (int r = 0; r < b->size; r++)
		send_msg(b, r, &ping);
	deadline = fsc_time_real_ns() + grace_ns;
	for (;;) {
		if (w->has_verdict)
			return -ECONNABORTED; /* another rank decided first */
		drain(b);
		missing = 0;
		for (int r = 0; r < b->size; r++)
			missing += !w->answered[r];
		if (!missing || fsc_time_real_ns() > deadline || w->has_verdict)
			break;
		fsc_sleep_ns(WD_QUERY_SLEEP_NS);
	}
	return w->has_verdict ? -ECONNABORTED : missing;
}

static void fill_culprits(struct fsc_boot *b, struct fsc_wd_msg *v, int missing)
{
	struct fsc_watchdog *w = wd_of(b);

	v->ncul = missing;
	for (int r = 0, k = 0; r < b->size && k < FSC_WD_MAX_CULPRITS; r++)
		if (!w->answered[r])
			v->cul[k++] = r;
}

int fsc_watchdog_trip(struct fsc_boot *b, int peer, const char *what)
{
	struct fsc_watchdog *w = wd_of(b);
	struct fsc_wd_msg v;
	int missing;

	if (!w)
		return 0;
	if (peer >= 0 && peer < b->size && peer != b->rank)
		w->last_fault_peer = peer;
	if (fsc_watchdog_poll(b))
		return -ECONNABORTED;
	if (!w->armed)
		return 0;
	w->in_poll = 1;
	missing = query(b, w->grace_ns, peer);
	w->in_poll = 0;
	if (missing == -ECONNABORTED)
		return missing;
	if (fsc_watchdog_poll(b)) /* a signal during the query */
		return -ECONNABORTED;
	if (!missing)
		return 0;
	memset(&v, 0, sizeof(v));
	v.type = FSC_WD_VERDICT;
	v.from = b->rank;
	v.doing = w->doing;
	v.link_peer = -1;
	fill_culprits(b, &v, missing);
	snprintf(v.why, sizeof(v.why), "%s", what ? what : "a collective");
	adopt(b, &v);
	/* Everyone hears it, culprits too: a stalled rank that resumes
	 * learns it was given up on and stops. */
	for (int r = 0; r < b->size; r++)
		send_msg(b, r, &w->verdict);
	return -ECONNABORTED;
}

int fsc_watchdog_aborted(const struct fsc_boot *b)
{
	const struct fsc_watchdog *w = wd_of(b);

	return w && w->has_verdict;
}

int fsc_watchdog_is_culprit(const struct fsc_boot *b, int r)
{
	const struct fsc_watchdog *w = wd_of(b);

	if (!w || !w->has_verdict)
		return 0;
	for (int i = 0; i < w->verdict.ncul && i < FSC_WD_MAX_CULPRITS; i++)
		if (w->verdict.cul[i] == r)
			return 1;
	return 0;
}

int fsc_watchdog_lowest_live(const struct fsc_boot *b)
{
	for (int r = 0; r < b->size; r++)
		if (!fsc_watchdog_is_culprit(b, r))
			return r;
	return 0;
}

const char *fsc_watchdog_verdict_text(const struct fsc_boot *b)
{
	const struct fsc_watchdog *w = wd_of(b);

	return w && w->has_verdict ? w->text : "";
}

static json_t *doing_json(const struct fsc_wd_doing *d)
{
	json_t *o = json_object();

	if (d->fabric[0])
		json_object_set_new(o, "fabric", json_string(d->fabric));
	if (d->pattern[0])
		json_object_set_new(o, "pattern", json_string(d->pattern));
	if (d->pattern[0])
		json_object_set_new(o, "bytes", json_integer((json_int_t)d->bytes));
	if (d->phase[0])
		json_object_set_new(o, "phase", json_string(d->phase));
	if (d->iter >= 0)
		json_object_set_new(o, "iteration", json_integer((json_int_t)d->iter));
	return o;
}

json_t *fsc_watchdog_verdict_json(const struct fsc_boot *b)
{
	const struct fsc_watchdog *w = wd_of(b);
	json_t *o, *cul;

	if (!w || !w->has_verdict)
		return 0;
	o = json_object();
	cul = json_array();
	for (int i = 0; i < w->verdict.ncul && i < FSC_WD_MAX_CULPRITS; i++) {
		int r = w->verdict.cul[i];

		json_array_append_new(cul,
		                      json_pack("{s:i, s:s, s:o}", "rank", r, "host", host_of(b, r),
		                                "last_seen", doing_json(&w->verdict.doing)));
	}
	json_object_set_new(o, "reason", json_string(w->text));
	json_object_set_new(o, "reported_by", json_integer(w->verdict.from));
	json_object_set_new(o, "waiting_for", json_string(w->verdict.why));
	json_object_set_new(o, "culprits", cul);
	return o;
}

void fsc_watchdog_note_signal(int sig)
{
	wd_signal = sig;
}

int fsc_watchdog_link_failed(struct fsc_boot *b, int peer, int is_recv, int rc, const char *what)
{
	const struct fsc_watchdog *w = wd_of(b);
	int t;

	/* Only failures that a dead or stalled peer explains are worth a
	 * query (a wrong message size is not). */
	if (rc != -ETIMEDOUT && rc != -EIO && rc != -ECONNRESET && rc != -EPIPE && rc != -ENOTCONN)
		return rc;
	if (!w || !w->armed)
		return rc;
	t = fsc_watchdog_trip(b, peer, what);
	if (t)
		return t;
	if (peer >= 0 && peer < b->size && peer != b->rank)
		fsc_error(
		        is_recv ? "rank %d (host %s) is alive but its messages to rank %d never "
		                  "arrived (%s)"
		                : "rank %d (host %s) is alive but never took what rank %d sent it "
		                  "(%s)",
		        peer, host_of(b, peer), b->rank, what ? what : "?");
	return rc;
}

void fsc_watchdog_note_continue(void)
{
	uint64_t alive = wd_alive_ns, tmo = wd_timeout_ns;

	if (tmo && alive && fsc_time_real_ns() - alive > tmo)
		fsc_log_silence();
}
