/* The simulated fabric and `fabscope simulate`; the model is in sim.h. */
#include "sim.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "err.h"
#include "log.h"
#include "matrix.h"
#include "schedule.h"

#define RETEST_REPEATS 3
#define REF_PAIRS 2
#define RETEST_PARTNERS 8
#define MAX_KEPT 256

void fsc_sim_params_default(struct fsc_sim_params *p)
{
	memset(p, 0, sizeof(*p));
	p->schedule = "topology";
	p->seed = 1;
	p->nic_GBps = 25;
	p->noise = 0.05;
	p->dips = 2e-6;
	p->cell_MB = 16 * 1048576.0 * 5 / 1e6;
	p->confirm = 2;
	fsc_tattr_params_default(&p->attr);
	p->attr.candidates = 1;
}

static int leaf_by_name(const struct fsc_topo *t, const char *name)
{
	for (int l = 0; l < t->nleaves; l++)
		if (!strcmp(t->leaves[l], name))
			return l;
	return -1;
}

static int bad_fault(char *err, size_t errlen, const char *spec, const char *why)
{
	snprintf(err, errlen,
	         "invalid fault '%s': %s (expected host:NAME:F, link:SRC->DST:F, "
	         "uplink:LEAF:F with 0 < F < 1, or dead:NAME)",
	         spec, why);
	return -EINVAL;
}

int fsc_sim_fault_parse(struct fsc_sim_params *p, const char *spec, char *err, size_t errlen)
{
	struct fsc_sim_fault f = {.b = -1, .f = 0};
	char buf[512], *what, *colon, *e;
	const struct fsc_topo *t = p->topo;

	if (p->nfaults >= FSC_SIM_MAX_FAULTS)
		return bad_fault(err, errlen, spec, "too many faults (at most 16)");
	if (strlen(spec) >= sizeof(buf))
		return bad_fault(err, errlen, spec, "too long");
	strcpy(buf, spec);
	what = strchr(buf, ':');
	if (!what)
		return bad_fault(err, errlen, spec, "no kind");
	*what++ = 0;
	if (!strcmp(buf, "dead")) {
		f.kind = FSC_SIM_DEAD;
		f.a = fsc_topo_host(t, what);
		if (f.a < 0)
			return bad_fault(err, errlen, spec, "unknown host");
		p->faults[p->nfaults++] = f;
		return 0;
	}
	colon = strrchr(what, ':');
	if (!colon)
		return bad_fault(err, errlen, spec, "no factor");
	*colon = 0;
	errno = 0;
	f.f = strtod(colon + 1, &e);
	if (errno || *e || colon[1] == 0 || !(f.f > 0 && f.f < 1))
		return bad_fault(err, errlen, spec, "factor not in (0, 1)");
	if (!strcmp(buf, "host")) {
		f.kind = FSC_SIM_HOST;
		f.a = fsc_topo_host(t, what);
		if (f.a < 0)
			return bad_fault(err, errlen, spec, "unknown host");
	} else if (!strcmp(buf, "link")) {
		char *arrow = strstr(what, "->");

		f.kind = FSC_SIM_LINK;
		if (!arrow)
			return bad_fault(err, errlen, spec, "a link is SRC->DST");
		*arrow = 0;
		f.a = fsc_topo_host(t, what);
		f.b = fsc_topo_host(t, arrow + 2);
		if (f.a < 0 || f.b < 0 || f.a == f.b)
			return bad_fault(err, errlen, spec, "unknown host, or SRC == DST");
	} else if (!strcmp(buf, "uplink")) {
		f.kind = FSC_SIM_UPLINK;
		f.a = leaf_by_name(t, what);
		if (f.a < 0)
			return bad_fault(err, errlen, spec, "unknown leaf");
	} else {
		return bad_fault(err, errlen, spec, "unknown kind");
	}
	p->faults[p->nfaults++] = f;
	return 0;
}

/* ---- the model ---- */

struct fsc_sim_model {
	const struct fsc_sim_params *p;
	const struct fsc_topo *t;
	int n, nl;
	double *hf;              /* host factor (0: dead) */
	double *uf;              /* leaf uplink factor */
	double *ucap;            /* leaf uplink capacity, GB/s, faults included */
	unsigned char *has_link; /* host is the source of a faulty link */
	int *up, *dn;            /* flows per leaf and phase of the current round */
};

static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Multiplicative noise of one draw, dips included. */
static double noise(const struct fsc_sim_model *m, uint64_t pass, uint64_t round, int s, int d)
{
	uint64_t h = mix64(m->p->seed ^ mix64(pass * 0x9e3779b97f4a7c15ull ^ round) ^
	                   ((uint64_t)s << 32 | (uint32_t)d));
	double z = 0, x;

	/* Irwin-Hall: four 16-bit uniforms, centred, scaled to unit variance */
	for (int k = 0; k < 4; k++)
		z += (double)((h >> (16 * k)) & 0xffff) / 65536.0;
	z = (z - 2) * 1.7320508075688772;
	x = exp(m->p->noise * z);
	if (m->p->dips > 0) {
		uint64_t h2 = mix64(h ^ 0x646970ull);
		double u = (double)(h2 >> 11) / 9007199254740992.0;

		if (u < m->p->dips)
			x *= 0.35 + 0.55 * (u / m->p->dips);
	}
	return x;
}

/* Rate of s -> d with `up`/`dn` flows sharing the two leaves' uplinks. */
static double rate(const struct fsc_sim_model *m, int s, int d, int up, int dn)
{
	double nic = m->p->nic_GBps, r = nic * fmin(m->hf[s], m->hf[d]);
	int ls = m->t->host_leaf[s], ld = m->t->host_leaf[d];

	if (m->has_link[s])
		for (int k = 0; k < m->p->nfaults; k++) {
			const struct fsc_sim_fault *f = &m->p->faults[k];

			if (f->kind == FSC_SIM_LINK && f->a == s && f->b == d)
				r *= f->f;
		}
	if (ls != ld) {
		r = fmin(r, nic * fmin(m->uf[ls], m->uf[ld]));
		r = fmin(r, m->ucap[ls] / (up > 0 ? up : 1));
		r = fmin(r, m->ucap[ld] / (dn > 0 ? dn : 1));
	}
	return r;
}

static void model_fini(struct fsc_sim_model *m)
{
	free(m->hf);
	free(m->uf);
	free(m->ucap);
	free(m->has_link);
	free(m->up);
	free(m->dn);
}

static int model_init(struct fsc_sim_model *m, const struct fsc_sim_params *p)
{
	const struct fsc_topo *t = p->topo;

	memset(m, 0, sizeof(*m));
	m->p = p;
	m->t = t;
	m->n = t->nhosts;
	m->nl = t->nleaves;
	m->hf = malloc((size_t)m->n * sizeof(double));
	m->uf = malloc((size_t)m->nl * sizeof(double));
	m->ucap = malloc((size_t)m->nl * sizeof(double));
	m->has_link = calloc((size_t)m->n, 1);
	m->up = calloc(2 * (size_t)m->nl, sizeof(int));
	m->dn = calloc(2 * (size_t)m->nl, sizeof(int));
	if (!m->hf || !m->uf || !m->ucap || !m->has_link || !m->up || !m->dn) {
		model_fini(m);
		return -ENOMEM;
	}
	for (int i = 0; i < m->n; i++)
		m->hf[i] = 1;
	for (int l = 0; l < m->nl; l++)
		m->uf[l] = 1;
	for (int k = 0; k < p->nfaults; k++) {
		const struct fsc_sim_fault *f = &p->faults[k];

		switch (f->kind) {
		case FSC_SIM_HOST: m->hf[f->a] *= f->f; break;
		case FSC_SIM_DEAD: m->hf[f->a] = 0; break;
		case FSC_SIM_UPLINK: m->uf[f->a] *= f->f; break;
		case FSC_SIM_LINK: m->has_link[f->a] = 1; break;
		}
	}
	for (int l = 0; l < m->nl; l++)
		m->ucap[l] = ceil(fsc_topo_leaf_size(t, l) / t->oversub) * p->nic_GBps * m->uf[l];
	return 0;
}

int fsc_sim_model_create(struct fsc_sim_model **out, const struct fsc_sim_params *p)
{
	struct fsc_sim_model *m = malloc(sizeof(*m));
	int rc;

	*out = NULL;
	if (!m)
		return -ENOMEM;
	rc = model_init(m, p);
	if (rc) {
		free(m);
		return rc;
	}
	*out = m;
	return 0;
}

void fsc_sim_model_free(struct fsc_sim_model *m)
{
	if (!m)
		return;
	model_fini(m);
	free(m);
}

size_t fsc_sim_round(const struct fsc_sim_model *m, const struct fsc_sched *s, uint64_t round,
                     int *pa, int *pb, int *up, int *dn)
{
	const int *leaf = m->t->host_leaf;
	int nl = m->nl;
	size_t np = 0;

	for (int h = 0; h < m->n; h++) {
		int q = fsc_sched_partner(s, round, h);

		if (q > h) {
			pa[np] = h;
			pb[np++] = q;
		}
	}
	memset(up, 0, 2 * (size_t)nl * sizeof(*up));
	memset(dn, 0, 2 * (size_t)nl * sizeof(*dn));
	for (size_t i = 0; i < np; i++) {
		int la = leaf[pa[i]], lb = leaf[pb[i]];

		if (la == lb)
			continue;
		/* phase 0: a -> b; phase 1: b -> a */
		up[la]++;
		dn[lb]++;
		up[nl + lb]++;
		dn[nl + la]++;
	}
	return np;
}

double fsc_sim_cell(const struct fsc_sim_model *m, uint64_t pass, uint64_t round, int src, int dst,
                    int up, int dn)
{
	return rate(m, src, dst, up, dn) * noise(m, pass, round, src, dst);
}

/* The best of RETEST_REPEATS serial measurements of s -> d in re-test
 * pass `pass` (>= 1). */
static double retest(const struct fsc_sim_model *m, uint64_t pass, uint64_t id, int s, int d)
{
	double best = 0;

	for (uint64_t k = 0; k < RETEST_REPEATS; k++)
		best = fmax(best, fsc_sim_cell(m, pass, id * RETEST_REPEATS + k, s, d, 1, 1));
	return best;
}

/* ---- schedule ---- */

/* The schedules are src/schedule.h's; a simulation has no use for serial
 * (one pair per round: n^2/2 rounds). */
static int sched_init(struct fsc_sched *s, const struct fsc_sim_params *p, char *err, size_t errlen)
{
	if (!strcmp(p->schedule, "topology"))
		return fsc_sched_init_leaves(s, p->topo->host_leaf, p->topo->nhosts, err, errlen);
	if (fsc_sched_init(s, p->schedule, p->topo->nhosts, p->seed, err, errlen))
		return -EINVAL;
	if (s->kind == FSC_SCHED_SERIAL) {
		snprintf(
		        err, errlen,
		        "invalid schedule 'serial' for a simulation: expected topology, concurrent "
		        "or sample:K");
		return -EINVAL;
	}
	return 0;
}

/* ---- the run ---- */

struct cellv {
	int s, d;
	double v;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* CPU time of this thread: on a shared machine wall time measures the
 * other jobs as much as this one. */
static double cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Generate round r's cells into buf (both phases); returns the count and
 * the round's fabric time in *t_s. */
static size_t gen_round(struct fsc_sim_model *m, const struct fsc_sched *s, uint64_t r, int *pa,
                        int *pb, struct cellv *buf, double *t_s)
{
	const int *leaf = m->t->host_leaf;
	size_t np = fsc_sim_round(m, s, r, pa, pb, m->up, m->dn), k = 0;
	double bytes = m->p->cell_MB * 1e6, tmax[2] = {0, 0};

	for (int ph = 0; ph < 2; ph++) {
		const int *up = m->up + ph * m->nl, *dn = m->dn + ph * m->nl;

		for (size_t i = 0; i < np; i++) {
			int a = ph ? pb[i] : pa[i], b = ph ? pa[i] : pb[i];
			double v = fsc_sim_cell(m, 0, r, a, b, up[leaf[a]], dn[leaf[b]]);

			buf[k++] = (struct cellv){a, b, v};
			if (v > 0 && bytes / (v * 1e9) > tmax[ph])
				tmax[ph] = bytes / (v * 1e9);
		}
	}
	*t_s = tmax[0] + tmax[1];
	return k;
}

static int stream(struct fsc_sim_model *m, const struct fsc_sched *s, struct fsc_tattr *a, int pass,
                  struct fsc_sim_result *res, int *pa, int *pb, struct cellv *buf)
{
	double fabric = 0;

	for (uint64_t r = 0; r < s->rounds; r++) {
		double t_s, t0, c0;
		size_t k = gen_round(m, s, r, pa, pb, buf, &t_s);

		t0 = now_s();
		c0 = cpu_s();
		for (size_t i = 0; i < k; i++) {
			if (pass == 1) {
				int rc = fsc_tattr_add(a, buf[i].s, buf[i].d, buf[i].v);

				if (rc)
					return rc;
			} else {
				fsc_tattr_add2(a, buf[i].s, buf[i].d, buf[i].v);
			}
		}
		res->attr_s += now_s() - t0;
		res->attr_cpu_s += cpu_s() - c0;
		if (pass == 1) {
			if (r == 0) {
				char line[160];

				res->first_round_s = t_s;
				fsc_sched_estimate("simulate (fabric time)", t_s, s->rounds, line,
				                   sizeof(line));
				fsc_info("%s", line);
			}
			fabric += t_s;
			res->cells += k;
		}
	}
	if (pass == 1)
		res->estimate_s = fabric;
	return 0;
}

static double median_small(double *v, int k)
{
	/* insertion sort: k <= 2 RETEST_PARTNERS */
	for (int i = 1; i < k; i++)
		for (int j = i; j > 0 && v[j - 1] > v[j]; j--) {
			double t = v[j];

			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	return k % 2 ? v[k / 2] : (v[k / 2 - 1] + v[k / 2]) / 2;
}

/* Is host h clear of every suspect (host, link end, and with leaves_too
 * leaf)?  A leaf's crossing partners may sit on another suspect leaf (two
 * leaves both slow leave no other). */
static int clear_host(const struct fsc_topo *t, const struct fsc_tsusp *su, size_t ns, int h,
                      int leaves_too)
{
	for (size_t i = 0; i < ns; i++) {
		if (su[i].kind == FSC_TS_LEAF && leaves_too && t->host_leaf[h] == su[i].a)
			return 0;
		if (su[i].kind != FSC_TS_LEAF && (su[i].a == h || su[i].b == h))
			return 0;
	}
	return 1;
}

/* Serial re-tests of the chosen suspects, `confirm` passes. */
static void confirm_all(const struct fsc_sim_model *m, struct fsc_tattr *a, struct fsc_tsusp *su,
                        size_t ns, double *leaf_ratio)
{
	const struct fsc_topo *t = m->t;
	int n = t->nhosts, refs[REF_PAIRS][2], nref = 0;
	uint64_t id = 0;

	/* reference pairs: healthy hosts on different leaves when there are
	 * several leaves (cross-leaf, like most suspects' pairs) */
	for (int x = 0; x < n && nref < REF_PAIRS; x++) {
		if (!clear_host(t, su, ns, x, 1))
			continue;
		for (int y = (x + n / 2 + nref) % n, k = 0; k < n; k++, y = (y + 1) % n)
			if (y != x && clear_host(t, su, ns, y, 1) &&
			    (t->nleaves < 2 || t->host_leaf[y] != t->host_leaf[x])) {
				refs[nref][0] = x;
				refs[nref++][1] = y;
				break;
			}
		x += n / (REF_PAIRS + 1);
	}
	for (uint64_t pass = 1; pass <= (uint64_t)m->p->confirm; pass++) {
		double rv[REF_PAIRS], ref = 0;

		for (int k = 0; k < nref; k++)
			rv[k] = retest(m, pass, id++, refs[k][0], refs[k][1]);
		if (nref)
			ref = median_small(rv, nref);
		/* leaves first (decide orders them so): their serial ratio
		 * explains links that cross them */
		for (int l = 0; l < t->nleaves; l++)
			leaf_ratio[l] = 1;
		for (size_t i = 0; i < ns; i++) {
			struct fsc_tsusp *s = &su[i];
			double v[2 * RETEST_PARTNERS];
			int k = 0;

			if (s->kind == FSC_TS_LINK) {
				int ls = t->host_leaf[s->a], ld = t->host_leaf[s->b];

				v[k++] = retest(m, pass, id++, s->a, s->b);
				if (ls != ld)
					v[0] /= fmin(1, fmin(leaf_ratio[ls], leaf_ratio[ld]));
			} else {
				/* partners spread over the cluster, clear of suspects, and
				 * for a leaf outside it (crossing pairs) */
				int from = s->kind == FSC_TS_LEAF ? t->leaf_first[s->a] : s->a;
				int size = s->kind == FSC_TS_LEAF ? fsc_topo_leaf_size(t, s->a) : 1;

				for (int j = 0, tries = 0; j < RETEST_PARTNERS && tries < n;
				     tries++) {
					int x = from + j % size;
					int y = (int)(((uint64_t)x + 1 +
					               (uint64_t)tries * n / RETEST_PARTNERS) %
					              (uint64_t)n);

					if (y == x ||
					    t->host_leaf[y] ==
					            (s->kind == FSC_TS_LEAF ? s->a : -1) ||
					    !clear_host(t, su, ns, y, s->kind != FSC_TS_LEAF))
						continue;
					if (s->slow_out || s->dead)
						v[k++] = retest(m, pass, id++, x, y);
					if (s->slow_in || s->dead)
						v[k++] = retest(m, pass, id++, y, x);
					j++;
				}
			}
			if (!k)
				continue;
			v[0] = median_small(v, k);
			if (s->kind == FSC_TS_LEAF && ref > 0)
				leaf_ratio[s->a] = v[0] / ref;
			fsc_tattr_confirm(a, s, v[0], ref);
		}
	}
}

static long peak_rss_kb(void)
{
	struct rusage ru;

	return getrusage(RUSAGE_SELF, &ru) ? -1 : ru.ru_maxrss;
}

int fsc_sim_run(const struct fsc_sim_params *p, struct fsc_sim_result *res, char *err,
                size_t errlen)
{
	struct fsc_sim_model m;
	struct fsc_sched s;
	struct fsc_tattr *a = NULL;
	struct fsc_tattr_params attr;
	struct fsc_tsusp *su = NULL;
	struct cellv *buf = NULL;
	double *lratio = NULL;
	int *pa = NULL, *pb = NULL, rc;
	double t0 = now_s(), t1, c1, cpu0 = cpu_s();
	size_t ns, nsig = 0, budget, nt = 0;

	memset(res, 0, sizeof(*res));
	rc = sched_init(&s, p, err, errlen);
	if (rc)
		return rc;
	rc = model_init(&m, p);
	if (rc) {
		fsc_sched_fini(&s);
		return rc;
	}
	res->rounds = s.rounds;
	attr = p->attr;
	/* the topology schedule loads a leaf's uplinks with as many flows as it
	 * has hosts: cross-leaf cells get 1/oversub of a port */
	if (attr.cross_ratio == 1)
		attr.cross_ratio = 1 / p->topo->oversub;
	rc = fsc_tattr_create(&a, m.n, p->flat ? NULL : p->topo->host_leaf, m.nl, &attr);
	if (rc)
		goto out;
	pa = malloc((size_t)m.n * sizeof(*pa));
	pb = malloc((size_t)m.n * sizeof(*pb));
	buf = malloc((size_t)m.n * sizeof(*buf));
	su = malloc(MAX_KEPT * sizeof(*su));
	lratio = malloc((size_t)m.nl * sizeof(*lratio));
	if (!pa || !pb || !buf || !su || !lratio) {
		rc = -ENOMEM;
		goto out;
	}
	rc = stream(&m, &s, a, 1, res, pa, pb, buf);
	if (rc)
		goto out;
	t1 = now_s();
	c1 = cpu_s();
	rc = fsc_tattr_fit(a);
	res->fit_s += now_s() - t1;
	res->attr_cpu_s += cpu_s() - c1;
	if (rc)
		goto out;
	stream(&m, &s, a, 2, res, pa, pb, buf);
	t1 = now_s();
	c1 = cpu_s();
	ns = fsc_tattr_decide(a, su, MAX_KEPT, &res->candidates);
	res->fit_s += now_s() - t1;
	res->attr_cpu_s += cpu_s() - c1;
	res->attr_s += res->fit_s;
	/* every significant suspect is re-tested, then the worst of the others
	 * within the pairs pattern's budget */
	for (size_t i = 0; i < ns; i++)
		nsig += su[i].significant;
	budget = fsc_matrix_retest_budget(ns - nsig);
	for (size_t i = 0, other = 0; i < ns; i++) {
		if (!su[i].significant && other++ >= budget)
			continue;
		su[nt++] = su[i];
	}
	confirm_all(&m, a, su, nt, lratio);
	res->retested = nt;
	for (size_t i = 0; i < nt; i++) {
		if (2 * su[i].confirmations > su[i].retests) {
			if (res->nconfirmed < FSC_SIM_MAX_SUSPECTS)
				res->confirmed[res->nconfirmed++] = su[i];
		} else {
			res->cleared++;
			if (res->nrejected < FSC_SIM_MAX_SUSPECTS)
				res->rejected[res->nrejected++] = su[i];
		}
	}
	res->centre_in = fsc_tattr_centre(a, 0);
	res->centre_x = fsc_tattr_centre(a, 1);
	res->noise = fsc_tattr_noise(a);
	res->attr = a;
	a = NULL;
out:
	if (rc == -ENOMEM)
		snprintf(err, errlen, "simulate: out of memory for %d hosts", m.n);
	res->wall_s = now_s() - t0;
	res->cpu_s = cpu_s() - cpu0;
	res->peak_rss_kb = peak_rss_kb();
	free(lratio);
	free(su);
	free(buf);
	free(pb);
	free(pa);
	fsc_tattr_free(a);
	model_fini(&m);
	fsc_sched_fini(&s);
	return rc;
}

void fsc_sim_result_fini(struct fsc_sim_result *r)
{
	fsc_tattr_free(r->attr);
	r->attr = NULL;
}

/* ---- command line ---- */

static void sim_usage(FILE *f)
{
	fprintf(f,
	        "usage: fabscope simulate --topology FILE|fattree:hosts=N,leaf=K[,oversub=X]\n"
	        "         [--fault host:NAME:F|link:SRC->DST:F|uplink:LEAF:F|dead:NAME]...\n"
	        "         [--schedule topology|concurrent|sample:K] [--seed N] [--noise F]\n"
	        "         [--dips P] [--nic-GBps R] [--confirm N] [--flat] [--fail-on-anomaly]\n"
	        "All-pairs bandwidth over a simulated fabric (links move no bytes; see PAIRS.md):\n"
	        "schedule, streamed attribution and serial re-tests, in one process.\n");
}

static int num_opt(const char *name, const char *v, double lo, double hi, double *out)
{
	char *e;

	errno = 0;
	*out = strtod(v, &e);
	if (errno || *e || e == v || !(*out >= lo && *out <= hi)) {
		fprintf(stderr, "fabscope: error: --%s '%s': expected a number in [%g, %g]\n", name,
		        v, lo, hi);
		return -EINVAL;
	}
	return 0;
}

static void print_leaves(const struct fsc_sim_result *r, const struct fsc_topo *t)
{
	int show = t->nleaves <= 16;

	printf("# leaves (ratios to the centres: intra-leaf, cross-leaf out, cross-leaf in)%s\n",
	       show ? "" : ": the 5 worst");
	if (show) {
		for (int l = 0; l < t->nleaves; l++) {
			double in, out, inn;

			fsc_tattr_leaf(r->attr, l, &in, &out, &inn);
			printf("#   %-12s %4d hosts  %5.2f %5.2f %5.2f  (%s..%s)\n", t->leaves[l],
			       fsc_topo_leaf_size(t, l), in, out, inn, t->hosts[t->leaf_first[l]],
			       t->hosts[t->leaf_first[l + 1] - 1]);
		}
		return;
	}
	for (int shown = 0, done[5] = {-1, -1, -1, -1, -1}; shown < 5; shown++) {
		int worst = -1;
		double wv = INFINITY;

		for (int l = 0; l < t->nleaves; l++) {
			double in, out, inn, v;
			int seen = 0;

			for (int k = 0; k < shown; k++)
				seen |= done[k] == l;
			if (seen)
				continue;
			fsc_tattr_leaf(r->attr, l, &in, &out, &inn);
			v = fmin(in, fmin(out, inn));
			if (v < wv) {
				wv = v;
				worst = l;
			}
		}
		if (worst < 0)
			break;
		done[shown] = worst;
		{
			double in, out, inn;

			fsc_tattr_leaf(r->attr, worst, &in, &out, &inn);
			printf("#   %-12s %4d hosts  %5.2f %5.2f %5.2f\n", t->leaves[worst],
			       fsc_topo_leaf_size(t, worst), in, out, inn);
		}
	}
}

int fsc_sim_main(int argc, char **argv)
{
	static const struct option opts[] = {
	        {"topology", required_argument, 0, 't'}, {"fault", required_argument, 0, 'f'},
	        {"schedule", required_argument, 0, 's'}, {"seed", required_argument, 0, 'S'},
	        {"noise", required_argument, 0, 'n'},    {"dips", required_argument, 0, 'd'},
	        {"nic-GBps", required_argument, 0, 'r'}, {"confirm", required_argument, 0, 'c'},
	        {"flat", no_argument, 0, 'F'},           {"fail-on-anomaly", no_argument, 0, 'A'},
	        {"help", no_argument, 0, 'h'},           {0, 0, 0, 0}};
	struct fsc_sim_params p;
	struct fsc_sim_result r;
	struct fsc_topo *t = NULL;
	const char *topo = NULL, *faults[FSC_SIM_MAX_FAULTS];
	int nf = 0, fail_on = 0, c, rc = FSC_EXIT_USAGE;
	char err[512], line[512];
	double v;

	fsc_sim_params_default(&p);
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 't': topo = optarg; break;
		case 'f':
			if (nf == FSC_SIM_MAX_FAULTS) {
				fprintf(stderr,
				        "fabscope: error: --fault '%s': at most %d faults\n",
				        optarg, FSC_SIM_MAX_FAULTS);
				return FSC_EXIT_USAGE;
			}
			faults[nf++] = optarg;
			break;
		case 's': p.schedule = optarg; break;
		case 'S':
			if (num_opt("seed", optarg, 0, 9007199254740992.0, &v))
				return FSC_EXIT_USAGE;
			p.seed = (uint64_t)v;
			break;
		case 'n':
			if (num_opt("noise", optarg, 0, 1, &p.noise))
				return FSC_EXIT_USAGE;
			break;
		case 'd':
			if (num_opt("dips", optarg, 0, 1, &p.dips))
				return FSC_EXIT_USAGE;
			break;
		case 'r':
			if (num_opt("nic-GBps", optarg, 1e-3, 1e6, &p.nic_GBps))
				return FSC_EXIT_USAGE;
			break;
		case 'c':
			if (num_opt("confirm", optarg, 1, 15, &v) || v != (int)v)
				return FSC_EXIT_USAGE;
			p.confirm = (int)v;
			break;
		case 'F': p.flat = 1; break;
		case 'A': fail_on = 1; break;
		case 'h': sim_usage(stdout); return FSC_EXIT_OK;
		default:
			fprintf(stderr,
			        "fabscope: error: simulate: unknown or incomplete option '%s' "
			        "(see fabscope simulate --help)\n",
			        argv[optind - 1]);
			return FSC_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr,
		        "fabscope: error: simulate: unexpected argument '%s' (see --help)\n",
		        argv[optind]);
		return FSC_EXIT_USAGE;
	}
	if (!topo) {
		fprintf(stderr, "fabscope: error: simulate needs --topology FILE or "
		                "fattree:hosts=N,leaf=K[,oversub=X]\n");
		return FSC_EXIT_USAGE;
	}
	if (fsc_topo_load(&t, topo, err, sizeof(err))) {
		fprintf(stderr, "fabscope: error: %s\n", err);
		return FSC_EXIT_USAGE;
	}
	p.topo = t;
	for (int i = 0; i < nf; i++)
		if (fsc_sim_fault_parse(&p, faults[i], err, sizeof(err))) {
			fprintf(stderr, "fabscope: error: %s\n", err);
			goto out;
		}
	if (t->notes[0])
		printf("# note: %s\n", t->notes);
	if (fsc_sim_run(&p, &r, err, sizeof(err))) {
		fprintf(stderr, "fabscope: error: %s\n", err);
		goto out;
	}
	printf("# simulate: %s: %d hosts, %d leaves, oversub %g, schedule %s, %" PRIu64
	       " rounds, seed %" PRIu64 "%s\n",
	       topo, t->nhosts, t->nleaves, t->oversub, p.schedule, r.rounds, p.seed,
	       p.flat ? ", analysed without the topology" : "");
	for (int i = 0; i < nf; i++)
		printf("# fault: %s\n", faults[i]);
	printf("# estimate: first round %.3g s of fabric time x %" PRIu64
	       " rounds = %.3g s; whole run %.3g s\n",
	       r.first_round_s, r.rounds, r.first_round_s * (double)r.rounds, r.estimate_s);
	printf("# cells: %" PRIu64 "; centre %.3g GB/s intra-leaf, %.3g GB/s cross-leaf; noise "
	       "%.1f%%\n",
	       r.cells, r.centre_in, r.centre_x, 100 * r.noise);
	if (!p.flat)
		print_leaves(&r, t);
	printf("# suspects: %zu candidates, %zu re-tested, %zu cleared\n", r.candidates, r.retested,
	       r.cleared);
	for (size_t i = 0; i < r.nrejected && i < 5; i++) {
		fsc_tsusp_format(&r.rejected[i], (const char *const *)t->hosts,
		                 (const char *const *)t->leaves, line, sizeof(line));
		printf("# cleared: %s\n", line);
	}
	for (size_t i = 0; i < r.nconfirmed; i++) {
		fsc_tsusp_format(&r.confirmed[i], (const char *const *)t->hosts,
		                 (const char *const *)t->leaves, line, sizeof(line));
		printf("# verdict: %s\n", line);
	}
	if (!r.nconfirmed)
		printf("# verdict: no anomaly (%" PRIu64 " cells)\n", r.cells);
	printf("# time: wall %.2f s (cpu %.2f s), attribution wall %.2f s (cpu %.2f s; fit and "
	       "decide %.3f s), peak RSS %ld KB\n",
	       r.wall_s, r.cpu_s, r.attr_s, r.attr_cpu_s, r.fit_s, r.peak_rss_kb);
	rc = fail_on && r.nconfirmed ? FSC_EXIT_FAIL : FSC_EXIT_OK;
	fsc_sim_result_fini(&r);
out:
	fsc_topo_free(t);
	return rc;
}
