/* The matrix driver on the simulated fabric; see simdrv.h. */
#include "simdrv.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "boot.h"
#include "options.h"
#include "results.h"
#include "runner.h"
#include "schedule.h"
#include "session.h"

#define RETEST_REPEATS 3
#define LAT_INTRA_US 2.0
#define LAT_CROSS_US 3.0

/* The run in progress (fsc_simdrv_run): the pattern's open has no other
 * way to reach its parameters. */
static const struct fsc_simdrv_params *cur;

struct simdrv {
	const struct fsc_simdrv_params *p;
	const struct fsc_topo *t;
	struct fsc_sim_model *m;
	int *pa, *pb, *up, *dn; /* the round in up/dn (fsc_sim_round) */
	uint64_t seq;           /* ... is this step's */
	int have;
};

static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Latency of one draw of src -> dst, us: no faults, the model's noise
 * level (Irwin-Hall of four 16-bit uniforms, unit variance). */
static double latency(const struct simdrv *x, uint64_t draw, int s, int d)
{
	uint64_t h = mix64(x->p->sim->seed ^ mix64(draw * 0x9e3779b97f4a7c15ull ^ 0x6c6174ull) ^
	                   ((uint64_t)s << 32 | (uint32_t)d));
	double z = 0;

	for (int k = 0; k < 4; k++)
		z += (double)((h >> (16 * k)) & 0xffff) / 65536.0;
	z = (z - 2) * 1.7320508075688772;
	return (x->t->host_leaf[s] == x->t->host_leaf[d] ? LAT_INTRA_US : LAT_CROSS_US) *
	       exp(x->p->sim->noise * z);
}

static void sd_free(struct simdrv *x)
{
	if (!x)
		return;
	fsc_sim_model_free(x->m);
	free(x->pa);
	free(x->pb);
	free(x->up);
	free(x->dn);
	free(x);
}

static int sd_open(struct fsc_runner *r, struct fsc_pctx *c, struct fsc_matrix_settings *set,
                   void **ctx, char *err, size_t len)
{
	const struct fsc_simdrv_params *p = cur;
	struct simdrv *x = calloc(1, sizeof(*x));
	size_t n = (size_t)p->sim->topo->nhosts, nl = (size_t)p->sim->topo->nleaves;

	(void)r;
	(void)c;
	if (!x) {
		snprintf(err, len, "simulated fabric: out of memory");
		return -ENOMEM;
	}
	x->p = p;
	x->t = p->sim->topo;
	x->pa = malloc((n / 2 + 1) * sizeof(*x->pa));
	x->pb = malloc((n / 2 + 1) * sizeof(*x->pb));
	x->up = malloc(2 * nl * sizeof(*x->up));
	x->dn = malloc(2 * nl * sizeof(*x->dn));
	if (!x->pa || !x->pb || !x->up || !x->dn || fsc_sim_model_create(&x->m, p->sim)) {
		sd_free(x);
		snprintf(err, len, "simulated fabric: out of memory for %zu hosts", n);
		return -ENOMEM;
	}
	memset(set, 0, sizeof(*set));
	set->store = p->store;
	set->schedule = p->sim->schedule ? p->sim->schedule : "topology";
	set->topology = p->topology;
	set->confirm = p->confirm > 0 ? p->confirm : 2;
	set->bw_ratio = p->bw_ratio > 0 ? p->bw_ratio : 0.5;
	set->lat_ratio = 2;
	set->csv = "none";
	snprintf(set->method, sizeof(set->method),
	         "simulated fabric (src/sim.h): %d hosts, %d leaves, oversub %g, seed %llu",
	         x->t->nhosts, x->t->nleaves, x->t->oversub, (unsigned long long)p->sim->seed);
	*ctx = x;
	return 0;
}

/* The topology's hosts in order, every one measured by rank 0. */
static int sd_layout(void *ctx, struct fsc_pctx *c, struct fsc_matrix_layout *l)
{
	const struct simdrv *x = ctx;
	int rc = fsc_matrix_layout_alloc(l, x->t->nhosts, "host");

	(void)c;
	for (int i = 0; !rc && i < x->t->nhosts; i++)
		snprintf(l->label[i], FSC_MATRIX_LABEL_MAX, "%s", x->t->hosts[i]);
	return rc;
}

static int sd_setup(void *ctx, struct fsc_pctx *c, const struct fsc_matrix_layout *l)
{
	(void)ctx;
	(void)c;
	(void)l;
	return 0;
}

static int sd_measure(void *ctx, struct fsc_pctx *c, const struct fsc_matrix_step *st, int node,
                      int partner, struct fsc_matrix_cell *out)
{
	struct simdrv *x = ctx;
	const int *leaf = x->t->host_leaf;

	(void)c;
	if (st->kind == FSC_MATRIX_ROUND) {
		int ph = node < partner ? 0 : 1, nl = x->t->nleaves;
		double v, lat;

		/* the round's flows once, at its first cell */
		if (!x->have || x->seq != st->seq) {
			fsc_sim_round(x->m, st->sched, st->index, x->pa, x->pb, x->up, x->dn);
			x->seq = st->seq;
			x->have = 1;
		}
		v = fsc_sim_cell(x->m, 0, st->index, node, partner, x->up[ph * nl + leaf[node]],
		                 x->dn[ph * nl + leaf[partner]]);
		lat = latency(x, st->seq, node, partner);
		out->bw_med = out->bw_min = out->bw_max = v;
		out->lat_min = out->lat_p50 = lat;
		out->lat_p99 = 1.5 * lat;
		out->windows = 1;
		return 0;
	}
	{
		double v[RETEST_REPEATS], l[RETEST_REPEATS];

		for (int k = 0; k < RETEST_REPEATS; k++) {
			uint64_t draw = st->seq * RETEST_REPEATS + (uint64_t)k;

			v[k] = fsc_sim_cell(x->m, 1, draw, node, partner, 1, 1);
			l[k] = latency(x, draw, node, partner);
		}
		/* sort the three */
		for (int i = 1; i < RETEST_REPEATS; i++)
			for (int j = i; j > 0 && v[j - 1] > v[j]; j--) {
				double t = v[j];

				v[j] = v[j - 1];
				v[j - 1] = t;
			}
		out->bw_min = v[0];
		out->bw_med = v[1];
		out->bw_max = v[2];
		out->lat_min = fmin(l[0], fmin(l[1], l[2]));
		out->lat_p50 = l[1];
		out->lat_p99 = 1.5 * fmax(l[0], fmax(l[1], l[2]));
		out->windows = RETEST_REPEATS;
	}
	return 0;
}

static void sd_close(void *ctx, struct fsc_pctx *c)
{
	(void)c;
	sd_free(ctx);
}

static const struct fsc_matrix_pattern sd_matrix = {
        .open = sd_open,
        .layout = sd_layout,
        .setup = sd_setup,
        .measure = sd_measure,
        .close = sd_close,
};

static const char *const sd_impls[] = {"model", 0};

static const struct fsc_pattern_ops sd_pattern = {
        .name = "pairs-sim",
        .desc = "all-pairs matrix over the simulated fabric",
        .min_ranks = 1,
        .impls = sd_impls,
        .bw_formula = "modelled (src/sim.h)",
        .matrix = &sd_matrix,
};

struct job {
	struct fsc_config *cfg;
	const struct fsc_pattern_ops *pat;
	const char *results;
	FILE *out;
	json_t *rec;
	int rc;
	char err[512];
};

static int rank_fn(struct fsc_boot *b, void *arg)
{
	struct job *j = arg;
	struct fsc_results *res = 0;
	struct fsc_runner r;
	json_t *recs;

	if (fsc_results_create(&res, j->results, j->err, sizeof(j->err))) {
		j->rc = -EINVAL;
		return 0;
	}
	j->rc = fsc_runner_init(&r, b, j->cfg, res, j->out);
	if (j->rc) {
		snprintf(j->err, sizeof(j->err), "%s: the runner did not start", j->pat->name);
		fsc_results_free(res);
		return 0;
	}
	j->rc = fsc_runner_sweep(&r, 0, j->pat);
	fsc_runner_fini(&r);
	recs = json_object_get(fsc_results_doc(res), "records");
	if (json_array_size(recs) == 1)
		j->rec = json_incref(json_array_get(recs, 0));
	fsc_results_free(res);
	return 0;
}

int fsc_simdrv_run_pattern(const struct fsc_pattern_ops *pat, const char *results, FILE *out,
                           json_t **rec, char *err, size_t errlen)
{
	static const char *const hosts[] = {"sim"};
	struct fsc_opt_group g[FSC_MAX_OPT_GROUPS];
	struct job j = {.pat = pat, .results = results, .out = out};
	int rcs[1] = {0}, rc;

	*rec = NULL;
	if (fsc_config_defaults(&j.cfg, g, fsc_session_option_groups(g, FSC_MAX_OPT_GROUPS))) {
		snprintf(err, errlen, "%s: no default configuration", pat->name);
		return -ENOMEM;
	}
	rc = fsc_boot_local_run(1, hosts, rank_fn, &j, rcs);
	fsc_config_free(j.cfg);
	if (!rc)
		rc = rcs[0] ? rcs[0] : j.rc;
	if (!rc && !j.rec) {
		snprintf(err, errlen, "%s: the driver left no record", pat->name);
		rc = -EINVAL;
	}
	if (rc) {
		if (j.err[0])
			snprintf(err, errlen, "%s", j.err);
		else
			snprintf(err, errlen, "%s: the driver failed (%s)", pat->name,
			         strerror(rc < 0 ? -rc : rc));
		json_decref(j.rec);
		return rc;
	}
	*rec = j.rec;
	return 0;
}

int fsc_simdrv_run(const struct fsc_simdrv_params *p, json_t **rec, char *err, size_t errlen)
{
	struct fsc_topo *t = NULL;
	int rc;

	*rec = NULL;
	if (cur) {
		snprintf(err, errlen, "simulated fabric: a run is already in progress");
		return -EINVAL;
	}
	/* the driver loads the topology again, by its spec: it must be the
	 * model's, host for host */
	rc = fsc_topo_load(&t, p->topology, err, errlen);
	if (rc)
		return rc;
	if (t->nhosts != p->sim->topo->nhosts || t->nleaves != p->sim->topo->nleaves) {
		snprintf(err, errlen,
		         "simulated fabric: topology '%s' has %d hosts on %d leaves, the model %d "
		         "on %d: give the spec the model was loaded from",
		         p->topology, t->nhosts, t->nleaves, p->sim->topo->nhosts,
		         p->sim->topo->nleaves);
		fsc_topo_free(t);
		return -EINVAL;
	}
	fsc_topo_free(t);
	cur = p;
	rc = fsc_simdrv_run_pattern(&sd_pattern, p->results, p->out, rec, err, errlen);
	cur = NULL;
	return rc;
}

/* Fault k's anomaly: is a (a node or link object, or a leaf string) it? */
static int fault_is(const struct fsc_sim_params *sim, const struct fsc_sim_fault *f, json_t *a)
{
	const struct fsc_topo *t = sim->topo;
	json_t *h = json_object_get(a, "hosts");
	const char *kind = json_string_value(json_object_get(a, "kind"));

	if (json_is_string(a)) {
		size_t l;

		if (f->kind != FSC_SIM_UPLINK)
			return 0;
		l = strlen(t->leaves[f->a]);
		return !strncmp(json_string_value(a), t->leaves[f->a], l) &&
		       json_string_value(a)[l] == ' ';
	}
	if (!kind || !json_is_array(h))
		return 0;
	if (f->kind == FSC_SIM_HOST || f->kind == FSC_SIM_DEAD)
		return !strcmp(kind, "node") &&
		       !strcmp(json_string_value(json_array_get(h, 0)) ?: "", t->hosts[f->a]);
	if (f->kind == FSC_SIM_LINK)
		return !strcmp(kind, "link") && json_array_size(h) == 2 &&
		       !strcmp(json_string_value(json_array_get(h, 0)) ?: "", t->hosts[f->a]) &&
		       !strcmp(json_string_value(json_array_get(h, 1)) ?: "", t->hosts[f->b]);
	return 0;
}

static const char *anom_text(json_t *a)
{
	return json_is_string(a) ? json_string_value(a)
	                         : json_string_value(json_object_get(a, "text")) ?: "?";
}

int fsc_simdrv_named(const struct fsc_sim_params *sim, json_t *rec, char *why, size_t len)
{
	json_t *lists[2] = {json_object_get(rec, "leaf_anomalies"),
	                    json_object_get(rec, "anomalies")};
	int named[FSC_SIM_MAX_FAULTS] = {0};

	snprintf(why, len, "named exactly the %d fault%s", sim->nfaults,
	         sim->nfaults == 1 ? "" : "s");
	for (int l = 0; l < 2; l++)
		for (size_t i = 0; i < json_array_size(lists[l]); i++) {
			json_t *a = json_array_get(lists[l], i);
			int k = 0;

			while (k < sim->nfaults && !fault_is(sim, &sim->faults[k], a))
				k++;
			if (k == sim->nfaults || named[k]++) {
				snprintf(why, len, "%s: %s",
				         k == sim->nfaults ? "no such fault" : "twice",
				         anom_text(a));
				return 0;
			}
		}
	for (int k = 0; k < sim->nfaults; k++)
		if (!named[k]) {
			const struct fsc_sim_fault *f = &sim->faults[k];

			snprintf(why, len, "not named: %s %s%s%s",
			         f->kind == FSC_SIM_UPLINK ? "the uplinks of"
			         : f->kind == FSC_SIM_LINK ? "link"
			                                   : "host",
			         f->kind == FSC_SIM_UPLINK ? sim->topo->leaves[f->a]
			                                   : sim->topo->hosts[f->a],
			         f->kind == FSC_SIM_LINK ? "->" : "",
			         f->kind == FSC_SIM_LINK ? sim->topo->hosts[f->b] : "");
			return 0;
		}
	return 1;
}
