/* The one timing loop and the sweep driver (see runner.h for the steps). */
#include "runner.h"
#include "samples.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "log.h"
#include "matrix.h"
#include "registry.h"

/* Fewest timed samples a point keeps when --point-time cuts iterations. */
#define FSC_MIN_SAMPLES 5

const struct fsc_opt fsc_run_opts[] = {
        {"fabric", 0, FSC_OPT_LIST, "mpi", "fabrics to run, comma-separated (see `fabscope list`)",
         0, 0, 0, FSC_AT_LIST(struct fsc_run_settings, fabric)},
        {"pattern", 0, FSC_OPT_LIST, "latency,bandwidth", "patterns to run, comma-separated", 0, 0,
         0, FSC_AT_LIST(struct fsc_run_settings, pattern)},
        {"impl", 0, FSC_OPT_LIST, 0,
         "implementations to run (default: each pattern's first; 'all': every one)", 0, 0, 0,
         FSC_AT_LIST(struct fsc_run_settings, impl)},
        {"min", 'b', FSC_OPT_SIZE, "8", "smallest message size (suffixes K, M, G, T)", 0, 0,
         FSC_OPT_SIZE_MAX, FSC_AT_SIZE(struct fsc_run_settings, min)},
        {"max", 'e', FSC_OPT_SIZE, "4M",
         "largest message size (a point must also fit in the memory of each host)", 0, 0,
         FSC_OPT_SIZE_MAX, FSC_AT_SIZE(struct fsc_run_settings, max)},
        {"factor", 'f', FSC_OPT_INT, "2", "size multiplication factor between points", 0, 2,
         1048576, FSC_AT_INT(struct fsc_run_settings, factor)},
        {"iters", 'n', FSC_OPT_INT, "1000", "timed iterations per point", 0, 1, 1e9,
         FSC_AT_INT(struct fsc_run_settings, iters)},
        {"warmup", 'w', FSC_OPT_INT, "100", "warm-up iterations per point (at most)", 0, 0, 1e9,
         FSC_AT_INT(struct fsc_run_settings, warmup)},
        {"warmup-time", 0, FSC_OPT_TIME, "200ms",
         "time bound on a point's warm-up (0 = no warm-up)", 0, 0, FSC_OPT_TIME_DAY,
         FSC_AT_TIME(struct fsc_run_settings, warmup_ns)},
        {"point-time", 0, FSC_OPT_TIME, "2s",
         "time budget of a point's timed iterations: --iters is cut, alike on every rank, to "
         "fit (at least 5 samples; 0 = no limit)",
         0, 0, FSC_OPT_TIME_DAY, FSC_AT_TIME(struct fsc_run_settings, point_ns)},
        {"batch", 0, FSC_OPT_INT, "1",
         "iterations per timed sample (for operations near the "
         "timer's cost)",
         0, 1, 1000000, FSC_AT_INT(struct fsc_run_settings, batch)},
        {"peer", 0, FSC_OPT_INT, "1", "the rank that rank 0 pairs with in latency and bandwidth", 0,
         1, 1e9, FSC_AT_INT(struct fsc_run_settings, peer)},
        {"seed", 0, FSC_OPT_INT, "1", "seed of the verification data", 0, 0, 1e18,
         FSC_AT_INT(struct fsc_run_settings, seed)},
        {"check", 'c', FSC_OPT_CHOICE, "once",
         "data verification: once (an untimed pass per point), every (after each iteration, "
         "untimed), off",
         "once|every|off", 0, 0, FSC_AT_CHOICE(struct fsc_run_settings, check)},
        {"dtype", 'd', FSC_OPT_LIST, "float32", "element types for reductions",
         "float32|float64|int32|int64|bfloat16|float16", 0, 0,
         FSC_AT_LIST(struct fsc_run_settings, dtype)},
        {"op", 'o', FSC_OPT_LIST, "sum", "reduction operations", "sum|max|min", 0, 0,
         FSC_AT_LIST(struct fsc_run_settings, op)},
        {"inplace", 0, FSC_OPT_CHOICE, "no", "in-place collectives", "no|yes|both", 0, 0,
         FSC_AT_CHOICE(struct fsc_run_settings, inplace)},
        {"output", 0, FSC_OPT_STRING, "auto",
         "results JSON path ('auto': results/runs/fabscope-<time>.json; 'none': no file)", 0, 0, 0,
         FSC_AT_STRING(struct fsc_run_settings, output)},
        {"timeout", 0, FSC_OPT_TIME, "30s", "deadline for any single operation to complete", 0,
         FSC_OPT_TIME_MS, FSC_OPT_TIME_DAY, FSC_AT_TIME(struct fsc_run_settings, timeout_ns)},
        {"quiet", 'q', FSC_OPT_FLAG, 0, "no table on the terminal", 0, 0, 0,
         FSC_AT_FLAG(struct fsc_run_settings, quiet)},
        {0, 0, 0, 0, 0, 0, 0, 0},
};

int fsc_run_settings_fill(const struct fsc_config *cfg, struct fsc_run_settings *s, char *err,
                          size_t errlen)
{
	memset(s, 0, sizeof(*s));
	return fsc_config_fill(cfg, fsc_run_opts, s, err, errlen);
}

const struct fsc_run_settings *fsc_pctx_run(const struct fsc_pctx *c,
                                            struct fsc_run_settings *scratch)
{
	if (c->run)
		return c->run;
	fsc_run_settings_fill(c->cfg, scratch, 0, 0);
	return scratch;
}

int fsc_runner_init(struct fsc_runner *r, struct fsc_boot *b, const struct fsc_config *cfg,
                    struct fsc_results *res, FILE *out)
{
	int rc;

	memset(r, 0, sizeof(*r));
	r->boot = b;
	r->cfg = cfg;
	r->res = res;
	r->out = out;
	rc = fsc_run_settings_fill(cfg, &r->set, 0, 0);
	r->iters = (uint64_t)r->set.iters;
	r->warmup = (uint64_t)r->set.warmup;
	r->batch = (uint64_t)r->set.batch;
	r->seed = (uint64_t)r->set.seed;
	r->warmup_ns = r->set.warmup_ns;
	r->point_ns = r->set.point_ns;
	r->check_every = r->set.check == FSC_CHECK_EVERY;
	r->check_off = r->set.check == FSC_CHECK_OFF;
	if (!r->iters)
		r->iters = 1;
	if (!r->batch)
		r->batch = 1;
	return rc;
}

void fsc_runner_fini(struct fsc_runner *r)
{
	free(r->stamps);
	free(r->samples);
	free(r->dev);
	r->stamps = 0;
	r->samples = 0;
	r->dev = 0;
	r->cap = 0;
}

static int grow(struct fsc_runner *r, size_t n)
{
	uint64_t *st;
	double *sa;

	if (n <= r->cap)
		return 0;
	st = realloc(r->stamps, (n + 1) * sizeof(*st));
	if (!st)
		return -ENOMEM;
	r->stamps = st;
	sa = realloc(r->samples, n * sizeof(*sa));
	if (!sa)
		return -ENOMEM;
	r->samples = sa;
	sa = realloc(r->dev, n * sizeof(*sa));
	if (!sa)
		return -ENOMEM;
	r->dev = sa;
	r->cap = n;
	return 0;
}

struct fsc_clock fsc_runner_clock(struct fsc_runner *r, struct fsc_fabric *f)
{
	struct fsc_clock c = fsc_clock_monotonic();

	if (r->clock_override)
		return *r->clock_override;
	if (f)
		fsc_fabric_clock(f, &c);
	return c;
}

/* ---- variants of a sweep ---- */

struct variants {
	const char *impls[16];
	size_t nimpl;
	enum fsc_dtype dtypes[FSC_DTYPE_COUNT];
	size_t ndtype;
	enum fsc_redop ops[FSC_REDOP_COUNT];
	size_t nop;
	int inplace[2];
	size_t ninplace;
	uint64_t *sizes;
	size_t nsizes;
};

static int impl_known(const struct fsc_pattern_ops *p, const char *name)
{
	for (size_t i = 0; p->impls && p->impls[i]; i++)
		if (!strcmp(p->impls[i], name))
			return 1;
	return 0;
}

static int variants_build(struct fsc_runner *r, const struct fsc_pattern_ops *p, struct variants *v,
                          char *err, size_t errlen)
{
	const char *const *items;
	size_t n;
	int rc;

	memset(v, 0, sizeof(*v));
	/* Implementations: the listed ones this pattern has, else its
	 * default; "all" selects every one. */
	n = r->set.impl.n;
	items = r->set.impl.items;
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(items[i], "all")) {
			v->nimpl = 0;
			for (size_t k = 0; p->impls && p->impls[k] && k < 16; k++)
				v->impls[v->nimpl++] = p->impls[k];
			break;
		}
		if (impl_known(p, items[i]) && v->nimpl < 16)
			v->impls[v->nimpl++] = items[i];
	}
	if (!v->nimpl)
		v->impls[v->nimpl++] = p->impls && p->impls[0] ? p->impls[0] : "default";

	v->ndtype = 1;
	v->dtypes[0] = FSC_F32;
	if (p->flags & FSC_PAT_DTYPE) {
		n = r->set.dtype.n;
		items = r->set.dtype.items;
		v->ndtype = 0;
		for (size_t i = 0; i < n && v->ndtype < FSC_DTYPE_COUNT; i++) {
			if (fsc_dtype_parse(items[i], &v->dtypes[v->ndtype])) {
				snprintf(err, errlen,
				         "invalid value '%s' for --dtype: expected "
				         "float32|float64|int32|int64|bfloat16|float16",
				         items[i]);
				return -EINVAL;
			}
			v->ndtype++;
		}
	}
	v->nop = 1;
	v->ops[0] = FSC_SUM;
	if (p->flags & FSC_PAT_OP) {
		n = r->set.op.n;
		items = r->set.op.items;
		v->nop = 0;
		for (size_t i = 0; i < n && v->nop < FSC_REDOP_COUNT; i++) {
			if (fsc_redop_parse(items[i], &v->ops[v->nop])) {
				snprintf(err, errlen,
				         "invalid value '%s' for --op: expected sum|max|min",
				         items[i]);
				return -EINVAL;
			}
			v->nop++;
		}
	}
	v->ninplace = 1;
	v->inplace[0] = 0;
	if (p->flags & FSC_PAT_INPLACE) {
		if (r->set.inplace == FSC_INPLACE_YES)
			v->inplace[0] = 1;
		else if (r->set.inplace == FSC_INPLACE_BOTH)
			v->inplace[v->ninplace++] = 1;
	}
	rc = fsc_sizes_build(r->set.min, r->set.max, (uint64_t)r->set.factor, &v->sizes, &v->nsizes,
	                     err, errlen);
	return rc;
}

static void pctx_init(struct fsc_pctx *c, struct fsc_runner *r, struct fsc_fabric *f)
{
	memset(c, 0, sizeof(*c));
	c->fab = f;
	c->boot = r->boot;
	c->cfg = r->cfg;
	c->run = &r->set;
	c->rank = r->boot->rank;
	c->size = r->boot->size;
	c->seed = r->seed;
	c->clock = fsc_runner_clock(r, f);
}

int fsc_meminfo_available(const char *path, uint64_t *bytes)
{
	FILE *f = fopen(path ? path : "/proc/meminfo", "r");
	char line[256];
	int rc = -EINVAL;

	if (!f)
		return -ENOENT;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long kb;
		char unit[8] = "";

		if (sscanf(line, "MemAvailable: %llu %7s", &kb, unit) == 2 && !strcmp(unit, "kB") &&
		    kb < UINT64_MAX / 1024) {
			*bytes = (uint64_t)kb * 1024;
			rc = 0;
			break;
		}
	}
	fclose(f);
	return rc;
}

/* Bytes as text with a binary unit, e.g. "1.5 GiB". */
static void bytes_text(double b, char *buf, size_t len)
{
	static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
	int u = 0;

	while (b >= 1024 && u < 6) {
		b /= 1024;
		u++;
	}
	snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", b, unit[u]);
}

static double point_buf_bytes(const struct fsc_pattern_ops *p, const struct fsc_pctx *c)
{
	return p->buf_bytes ? p->buf_bytes(c) : 2.0 * (double)c->bytes;
}

/* The buffers of point c on this rank and on all ranks of this rank's host
 * (ranks of one host share its memory; in-process ranks of the local
 * bootstrap share one process whatever host names they were given)
 * against what the host has. */
static int point_mem_check(struct fsc_runner *r, const struct fsc_pattern_ops *p,
                           const struct fsc_pctx *c, uint64_t avail, char *err, size_t errlen)
{
	struct fsc_boot *b = r->boot;
	struct fsc_pctx o = *c;
	double mine = point_buf_bytes(p, c), host = 0, most = 0;
	int nlocal = 0, one_process = b->ops && b->ops->name && !strcmp(b->ops->name, "local");
	char need_t[32], most_t[32], avail_t[32];

	for (int k = 0; k < b->size; k++) {
		double x;

		if (k != b->rank && !one_process &&
		    (!b->rank_host || b->rank_host[k] != b->host_index))
			continue;
		o.rank = k;
		x = k == b->rank ? mine : point_buf_bytes(p, &o);
		host += x;
		if (x > most)
			most = x;
		nlocal++;
	}
	if (host <= (double)avail)
		return 0;
	bytes_text(host, need_t, sizeof(need_t));
	bytes_text(most, most_t, sizeof(most_t));
	bytes_text((double)avail, avail_t, sizeof(avail_t));
	snprintf(err, errlen,
	         "pattern %s (impl %s) at %zu bytes needs %s of buffers on host %s (%d rank%s, "
	         "up to %s each), which has %s available (MemAvailable): lower --max",
	         p->name, c->impl, c->bytes, need_t, b->host[0] ? b->host : "?", nlocal,
	         nlocal == 1 ? "" : "s", most_t, avail_t);
	return -EINVAL;
}

int fsc_runner_validate(struct fsc_runner *r, const struct fsc_pattern_ops *p, char *err,
                        size_t errlen)
{
	struct variants v;
	struct fsc_pctx c;
	uint64_t avail = r->mem_avail_bytes;
	int rc;

	rc = variants_build(r, p, &v, err, errlen);
	if (rc)
		return rc;
	if (r->boot->size < p->min_ranks) {
		snprintf(err, errlen, "pattern %s needs at least %d ranks; this run has %d",
		         p->name, p->min_ranks, r->boot->size);
		free(v.sizes);
		return -EINVAL;
	}
	if (!avail && fsc_meminfo_available(0, &avail))
		avail = 0; /* unknown: no memory check */
	pctx_init(&c, r, 0);
	for (size_t i = 0; i < v.nimpl && !rc; i++)
		for (size_t d = 0; d < v.ndtype && !rc; d++)
			for (size_t o = 0; o < v.nop && !rc; o++)
				for (size_t s = 0; s < v.nsizes && !rc; s++) {
					c.impl = v.impls[i];
					c.dtype = v.dtypes[d];
					c.op = v.ops[o];
					c.bytes = v.sizes[s];
					if (p->check_args)
						rc = p->check_args(&c, err, errlen);
					if (rc == -ENOTSUP) {
						rc = 0; /* skipped: allocates nothing */
						continue;
					}
					if (!rc && avail)
						rc = point_mem_check(r, p, &c, avail, err, errlen);
				}
	free(v.sizes);
	return rc;
}

json_t *fsc_record_new(const struct fsc_pattern_ops *p, const struct fsc_pctx *c,
                       const char *status)
{
	json_t *rec = json_object();

	json_object_set_new(rec, "fabric", json_string(c->fab ? c->fab->ops->name : "?"));
	json_object_set_new(rec, "pattern", json_string(p->name));
	json_object_set_new(rec, "impl", json_string(c->impl ? c->impl : ""));
	json_object_set_new(rec, "ranks", json_integer(c->size));
	json_object_set_new(rec, "hosts", json_integer(c->boot ? c->boot->nhosts : 1));
	json_object_set_new(rec, "bytes", json_integer((json_int_t)c->bytes));
	if (p->flags & FSC_PAT_DTYPE) {
		json_object_set_new(rec, "dtype", json_string(fsc_dtype_name(c->dtype)));
		json_object_set_new(
		        rec, "count",
		        json_integer((json_int_t)(c->bytes / fsc_dtype_size(c->dtype))));
	} else {
		json_object_set_new(rec, "count", json_integer((json_int_t)c->bytes));
	}
	if (p->flags & FSC_PAT_OP)
		json_object_set_new(rec, "op", json_string(fsc_redop_name(c->op)));
	if (p->flags & FSC_PAT_INPLACE)
		json_object_set_new(rec, "in_place", json_boolean(c->in_place));
	json_object_set_new(rec, "status", json_string(status));
	return rec;
}

void fsc_runner_emit(struct fsc_runner *r, json_t *rec)
{
	if (r->boot->rank == 0) {
		if (r->res)
			fsc_results_add(r->res, json_incref(rec));
		if (r->out) {
			char key[256];

			snprintf(key, sizeof(key), "%s/%s",
			         json_string_value(json_object_get(rec, "fabric")),
			         json_string_value(json_object_get(rec, "pattern")));
			if (strcmp(key, r->last_header)) {
				snprintf(r->last_header, sizeof(r->last_header), "%s", key);
				const struct fsc_pattern_ops *p = fsc_pattern_find(
				        json_string_value(json_object_get(rec, "pattern")));

				fsc_table_header(r->out, rec, p ? p->bw_formula : 0);
			}
			fsc_table_row(r->out, rec);
			fflush(r->out);
		}
	}
	json_decref(rec);
}

int fsc_runner_time(struct fsc_runner *r, struct fsc_pctx *c,
                    int (*body)(struct fsc_pctx *c, void *state, uint64_t iter), void *state,
                    uint64_t iters, double scale, double *samples)
{
	struct fsc_clock clk = fsc_runner_clock(r, c->fab);
	uint64_t prev, now;
	int rc;

	prev = fsc_clock_now(&clk);
	for (uint64_t i = 0; i < iters; i++) {
		rc = body(c, state, i);
		if (rc)
			return rc;
		now = fsc_clock_now(&clk);
		samples[i] = (double)(now - prev) * scale;
		prev = now;
	}
	return 0;
}

/* The fabric's device time of each sample: sample s lies between marks
 * s * step and s * step + 1 (see timed_loop). */
static int dev_read(struct fsc_runner *r, struct fsc_fabric *f, uint64_t nsamples, uint64_t step,
                    double scale)
{
	const struct fsc_dev_timer_ops *dt = f->ops->dev_timer;

	for (uint64_t s = 0; s < nsamples; s++) {
		double ns = 0;
		int rc = dt->elapsed(f, s * step, s * step + 1, &ns);

		if (rc)
			return rc;
		r->dev[s] = ns * scale / (double)r->batch;
	}
	return 0;
}

/* The timed phase of one point on this rank.  Nothing but run() and one
 * clock reading per sample happens inside the loop; with a fabric's device
 * timer, one mark right after each clock reading (its cost falls into the
 * next sample's host time: one cudaEventRecord on the nccl fabric). */
static int timed_loop(struct fsc_runner *r, const struct fsc_pattern_ops *p, struct fsc_pctx *c,
                      void *state, uint64_t nsamples, double scale, uint64_t *wrong)
{
	struct fsc_clock clk = fsc_runner_clock(r, c->fab);
	const struct fsc_dev_timer_ops *dt = c->fab ? c->fab->ops->dev_timer : 0;
	uint64_t *st = r->stamps, iter = 1, batch = r->batch;
	int rc = 0;

	if (r->check_every) {
		/* sample s: marks 2s (after t0) and 2s + 1 (after t1) */
		if (dt && (rc = dt->prepare(c->fab, 2 * nsamples)))
			return rc;
		for (uint64_t s = 0; s < nsamples; s++) {
			uint64_t t0, t1, w = 0;

			if (p->fill && (rc = p->fill(c, state, iter)))
				return rc;
			t0 = fsc_clock_now(&clk);
			if (dt)
				rc = dt->mark(c->fab, 2 * s);
			for (uint64_t k = 0; k < batch && !rc; k++)
				rc = p->run(c, state, iter);
			t1 = fsc_clock_now(&clk);
			if (dt && !rc)
				rc = dt->mark(c->fab, 2 * s + 1);
			if (rc)
				return rc;
			if (p->check && (rc = p->check(c, state, iter, &w)))
				return rc;
			*wrong += w;
			iter++;
			r->samples[s] = (double)(t1 - t0) * scale / (double)batch;
		}
		return dt ? dev_read(r, c->fab, nsamples, 2, scale) : 0;
	}
	/* sample s: marks s and s + 1, as its clock readings */
	if (dt && (rc = dt->prepare(c->fab, nsamples + 1)))
		return rc;
	st[0] = fsc_clock_now(&clk);
	if (dt && (rc = dt->mark(c->fab, 0)))
		return rc;
	for (uint64_t s = 0; s < nsamples; s++) {
		for (uint64_t k = 0; k < batch; k++) {
			rc = p->run(c, state, iter++);
			if (rc)
				return rc;
		}
		st[s + 1] = fsc_clock_now(&clk);
		if (dt && (rc = dt->mark(c->fab, s + 1)))
			return rc;
	}
	for (uint64_t s = 0; s < nsamples; s++)
		r->samples[s] = (double)(st[s + 1] - st[s]) * scale / (double)batch;
	return dt ? dev_read(r, c->fab, nsamples, 1, scale) : 0;
}

/* Tell the watchdog what this rank is doing (reported if a peer stalls). */
static void doing(struct fsc_runner *r, const struct fsc_pattern_ops *p, const struct fsc_pctx *c,
                  const char *phase)
{
	fsc_watchdog_doing(r->boot, c->fab ? c->fab->ops->name : 0, p->name, phase, c->bytes, -1);
}

static int agree(struct fsc_runner *r, int rc)
{
	return fsc_boot_agree(r->boot, rc, 0);
}

static json_t *error_record(const struct fsc_pattern_ops *p, const struct fsc_pctx *c, int rc,
                            const char *what)
{
	json_t *rec = fsc_record_new(p, c, rc == -ENOTSUP ? "skipped" : "error");
	char why[1280];

	if (rc == -ECONNABORTED)
		snprintf(why, sizeof(why), "%s: %s", what, fsc_watchdog_verdict_text(c->boot));
	else
		snprintf(why, sizeof(why), "%s: %s", what, fsc_strerror(rc));
	json_object_set_new(rec, "reason", json_string(why));
	return rec;
}

int fsc_runner_point(struct fsc_runner *r, const struct fsc_pattern_ops *p, struct fsc_pctx *c,
                     json_t **rec_out)
{
	double scale = p->time_scale > 0 ? p->time_scale : 1.0;
	const struct fsc_dev_timer_ops *dev_timer = c->fab ? c->fab->ops->dev_timer : 0;
	uint64_t wrong = 0, nwarm, nsamples;
	int64_t wrong_all;
	json_t *blocks;
	double t_iter = 0;
	struct fsc_clock clk;
	struct fsc_stats st;
	void *state = 0;
	char why[256] = "";
	int active, rc;
	json_t *rec;

	*rec_out = 0;
	r->points++;
	if (p->check_args) {
		rc = p->check_args(c, why, sizeof(why));
		if (rc) {
			rec = fsc_record_new(p, c, rc == -ENOTSUP ? "skipped" : "error");
			json_object_set_new(rec, "reason", json_string(why));
			if (rc == -ENOTSUP)
				r->skipped++;
			else
				r->failed++;
			*rec_out = rec;
			return rc == -ENOTSUP ? 0 : rc;
		}
	}
	doing(r, p, c, "setup");
	rc = p->setup ? p->setup(c, &state) : 0;
	rc = agree(r, rc);
	if (rc) {
		{
			char what[160];

			snprintf(what, sizeof(what), "%s on fabric %s%s%s",
			         rc == -ENOTSUP ? "not available" : "setup failed",
			         c->fab ? c->fab->ops->name : "?",
			         p->flags & FSC_PAT_DTYPE ? " for " : "",
			         p->flags & FSC_PAT_DTYPE ? fsc_dtype_name(c->dtype) : "");
			*rec_out = error_record(p, c, rc, what);
		}
		if (rc == -ENOTSUP)
			r->skipped++;
		else
			r->failed++;
		if (p->teardown)
			p->teardown(c, state);
		return rc == -ENOTSUP ? 0 : rc;
	}
	active = p->active ? p->active(c) : 1;
	clk = fsc_runner_clock(r, c->fab);

	/* 2. verification pass (untimed) */
	doing(r, p, c, "verification");
	rc = fsc_boot_barrier(r->boot);
	if (!rc)
		rc = fsc_fabric_sync(c->fab);
	if (!rc && active) {
		if (!r->check_off && p->fill)
			rc = p->fill(c, state, 0);
		if (!rc)
			rc = p->run(c, state, 0);
		if (!rc && !r->check_off && p->check)
			rc = p->check(c, state, 0, &wrong);
	}
	rc = agree(r, rc);
	if (rc)
		goto fail_run;

	/* 3. one timed warm-up iteration decides warm-up and timed counts */
	doing(r, p, c, "warm-up");
	rc = fsc_boot_barrier(r->boot);
	if (!rc)
		rc = fsc_fabric_sync(c->fab);
	if (!rc && active) {
		uint64_t t0 = fsc_clock_now(&clk);

		rc = p->run(c, state, 0);
		t_iter = (double)(fsc_clock_now(&clk) - t0);
	}
	rc = agree(r, rc);
	if (rc)
		goto fail_run;
	rc = fsc_boot_allreduce(r->boot, &t_iter, 1, FSC_BOOT_F64, FSC_BOOT_MAX);
	if (rc)
		goto fail_run;
	nwarm = r->warmup ? r->warmup - 1 : 0;
	if (t_iter > 0 && r->warmup_ns && (double)nwarm * t_iter > (double)r->warmup_ns)
		nwarm = (uint64_t)((double)r->warmup_ns / t_iter);
	nsamples = r->iters;
	if (t_iter > 0 && r->point_ns &&
	    (double)nsamples * (double)r->batch * t_iter > (double)r->point_ns) {
		nsamples = (uint64_t)((double)r->point_ns / (t_iter * (double)r->batch));
		if (nsamples < FSC_MIN_SAMPLES)
			nsamples = r->iters < FSC_MIN_SAMPLES ? r->iters : FSC_MIN_SAMPLES;
	}
	rc = grow(r, nsamples);
	for (uint64_t i = 0; !rc && active && i < nwarm; i++)
		rc = p->run(c, state, 0);
	rc = agree(r, rc);
	if (rc)
		goto fail_run;

	/* 4. timed iterations */
	doing(r, p, c, "timed");
	rc = fsc_boot_barrier(r->boot);
	if (!rc)
		rc = fsc_fabric_sync(c->fab);
	if (!rc && active)
		rc = timed_loop(r, p, c, state, nsamples, scale, &wrong);
	else if (!rc) {
		memset(r->samples, 0, nsamples * sizeof(double));
		memset(r->dev, 0, nsamples * sizeof(double));
	}
	rc = agree(r, rc);
	if (rc)
		goto fail_run;
	if ((p->flags & FSC_PAT_TIMED_BY_RANK0) && c->rank != 0) {
		memset(r->samples, 0, nsamples * sizeof(double));
		memset(r->dev, 0, nsamples * sizeof(double));
	}

	/* 5. slowest rank per sample (or rank 0's), statistics, record */
	doing(r, p, c, "statistics");
	rc = fsc_boot_allreduce(r->boot, r->samples, nsamples, FSC_BOOT_F64, FSC_BOOT_MAX);
	if (!rc && dev_timer)
		rc = fsc_boot_allreduce(r->boot, r->dev, nsamples, FSC_BOOT_F64, FSC_BOOT_MAX);
	wrong_all = (int64_t)wrong;
	if (!rc)
		rc = fsc_boot_allreduce(r->boot, &wrong_all, 1, FSC_BOOT_I64, FSC_BOOT_SUM);
	if (rc)
		goto fail_run;
	/* the block medians need the time order, which the statistics sort away */
	blocks = fsc_samples_blocks_json(r->samples, nsamples, FSC_SAMPLES_BLOCKS);
	fsc_stats_compute(r->samples, nsamples, &st);
	rec = fsc_record_new(p, c, wrong_all ? "wrong" : "ok");
	json_object_set_new(rec, "iters", json_integer((json_int_t)nsamples));
	json_object_set_new(rec, "batch", json_integer((json_int_t)r->batch));
	json_object_set_new(rec, "warmup", json_integer((json_int_t)(nwarm + 1)));
	json_object_set_new(rec, "check",
	                    json_string(r->check_off     ? "off"
	                                : r->check_every ? "every"
	                                                 : "once"));
	json_object_set_new(rec, "wrong", json_integer(wrong_all));
	json_object_set_new(rec, "time_us", fsc_stats_to_json_us(&st));
	if (dev_timer) {
		/* the slowest rank's device time per sample, as time_us */
		struct fsc_stats dst;
		char key[64];

		fsc_stats_compute(r->dev, nsamples, &dst);
		snprintf(key, sizeof(key), "%s_us", dev_timer->name);
		json_object_set_new(rec, key, fsc_stats_to_json_us(&dst));
	}
	/* sorted by fsc_stats_compute */
	{
		json_t *kept = fsc_samples_to_json(r->samples, nsamples, FSC_SAMPLES_KEEP);

		if (kept && blocks)
			json_object_set_new(kept, "blocks_us", blocks);
		else
			json_decref(blocks);
		json_object_set_new(rec, "samples", kept);
	}
	{
		double bytes = p->algbw_bytes ? p->algbw_bytes(c) : (double)c->bytes;
		double factor = p->busbw_factor ? p->busbw_factor(c) : 1.0;
		/* bytes per ns == GB/s (GB = 1e9 B) */
		double algbw = st.mean > 0 ? bytes / st.mean : 0;

		json_object_set_new(rec, "algbw_GBps", json_real(algbw));
		json_object_set_new(rec, "busbw_GBps", json_real(algbw * factor));
		json_object_set_new(rec, "busbw_factor", json_real(factor));
		json_object_set_new(rec, "bw_formula",
		                    json_string(p->bw_formula
		                                        ? p->bw_formula
		                                        : "algbw = bytes/t_mean; busbw = algbw"));
	}
	if (p->report) {
		rc = p->report(c, state, c->rank == 0 ? rec : 0);
		if (rc)
			fsc_warn("pattern %s: report failed: %s", p->name, fsc_strerror(rc));
		rc = 0;
	}
	if (wrong_all) {
		r->failed++;
		r->wrong += (uint64_t)wrong_all;
	}
	if (p->teardown)
		p->teardown(c, state);
	*rec_out = rec;
	return 0;

fail_run:
	*rec_out = error_record(p, c, rc, "run");
	r->failed++;
	if (p->teardown)
		p->teardown(c, state);
	return rc;
}

int fsc_runner_sweep(struct fsc_runner *r, struct fsc_fabric *f, const struct fsc_pattern_ops *p)
{
	struct variants v;
	struct fsc_pctx c;
	char err[256];
	int rc;

	pctx_init(&c, r, f);
	if (p->matrix) {
		c.impl = p->impls && p->impls[0] ? p->impls[0] : "default";
		doing(r, p, &c, "running");
		return fsc_matrix_run(r, p, &c);
	}
	rc = variants_build(r, p, &v, err, sizeof(err));
	if (rc) {
		fsc_error("%s", err);
		return rc;
	}
	for (size_t i = 0; i < v.nimpl; i++)
		for (size_t d = 0; d < v.ndtype; d++)
			for (size_t o = 0; o < v.nop; o++)
				for (size_t ip = 0; ip < v.ninplace; ip++)
					for (size_t s = 0; s < v.nsizes; s++) {
						json_t *rec = 0;

						c.impl = v.impls[i];
						c.dtype = v.dtypes[d];
						c.op = v.ops[o];
						c.in_place = v.inplace[ip];
						c.bytes = v.sizes[s];
						rc = fsc_runner_point(r, p, &c, &rec);
						if (rec)
							fsc_runner_emit(r, rec);
						if (rc)
							goto out;
					}
out:
	free(v.sizes);
	return rc;
}
