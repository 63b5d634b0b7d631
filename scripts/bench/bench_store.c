/* Rank 0's cost of an all-pairs matrix at scale: the matrix driver
 * (src/matrix.h) over a model of N nodes, every node on one rank (no
 * fabric: cells come from the model), so that what is timed is the store,
 * the attribution with its re-tests, the spread, the per-node medians, the
 * worst cells, the record and the terminal summary.  Cells arrive as in a
 * run: a round of the concurrent schedule at a time, one cell per row.
 *
 * Model: bandwidth 10 GB/s x lognormal noise (log sd 0.05, a fixed draw per
 * cell), latency 2 us / the same factor; node N/2 at 0.3x, link 1 -> N-5 at
 * 0.15x; a re-test gives the noiseless model.
 *
 * Usage: bench_store N memory|disk|auto.  Prints one line: nodes, store,
 * wall and CPU seconds of the whole run, the rounds' share, the peak RSS
 * (getrusage), and the verdict.  No CSV (10^8 cells would be 2 GB of text);
 * the results record goes to a temporary file and is removed, with its
 * stream (.jsonl).
 *
 * On the simulated fabric: bench_store N STORE --topology SPEC [--fault F]...
 * [--seed S] runs the same driver with the topology schedule over the model
 * of src/sim.h (src/simdrv.h: cells from fsc_sim_cell, the contention of
 * each round's own flows; serial re-tests uncontended, fresh noise), SPEC's
 * N hosts every one a node, the faults as `fabscope simulate --fault`.  The
 * line adds the attribution with every re-test (the record's duration_s
 * less rounds_s), the node and link attribution with their re-tests alone
 * (retests.duration_s; the rest is the leaf attribution and the leaf
 * re-tests), and whether exactly the faults are named (fsc_simdrv_named). */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "matrix.h"
#include "results.h"
#include "runner.h"
#include "sim.h"
#include "simdrv.h"

static int N;
static enum fsc_matrix_store_kind KIND;

static double factor(int s, int d, int noisy)
{
	double f = 1;

	if (s == N / 2 || d == N / 2)
		f *= 0.3;
	if (s == 1 && d == N - 5)
		f *= 0.15;
	if (noisy) {
		uint64_t h = ((uint64_t)s << 32 | (uint32_t)d) * 0x9e3779b97f4a7c15ull;
		double z = 0;

		h ^= h >> 29;
		h *= 0xbf58476d1ce4e5b9ull;
		for (int k = 0; k < 4; k++)
			z += (double)((h >> (16 * k)) & 0xffff) / 65536.0;
		f *= exp(0.05 * (z - 2) * 1.7320508075688772);
	}
	return f;
}

static int m_open(struct fsc_runner *r, struct fsc_pctx *c, struct fsc_matrix_settings *set,
                  void **ctx, char *err, size_t len)
{
	(void)r;
	(void)c;
	(void)err;
	(void)len;
	memset(set, 0, sizeof(*set));
	set->schedule = "concurrent";
	set->confirm = 2;
	set->bw_ratio = 0.5;
	set->lat_ratio = 2;
	set->csv = "none";
	set->store = KIND;
	snprintf(set->method, sizeof(set->method), "model cells");
	*ctx = &N;
	return 0;
}

static int m_layout(void *ctx, struct fsc_pctx *c, struct fsc_matrix_layout *l)
{
	(void)ctx;
	(void)c;
	return fsc_matrix_layout_alloc(l, N, "host");
}

static int m_setup(void *ctx, struct fsc_pctx *c, const struct fsc_matrix_layout *l)
{
	(void)ctx;
	(void)c;
	(void)l;
	return 0;
}

static int m_measure(void *ctx, struct fsc_pctx *c, const struct fsc_matrix_step *st, int node,
                     int partner, struct fsc_matrix_cell *out)
{
	int serial = st->kind == FSC_MATRIX_RETEST;
	double f = factor(node, partner, !serial);

	(void)ctx;
	(void)c;
	out->bw_med = 10 * f;
	out->bw_min = 9 * f;
	out->bw_max = 11 * f;
	out->lat_min = 1.8 / f;
	out->lat_p50 = 2 / f;
	out->lat_p99 = 4 / f;
	out->windows = 5;
	return 0;
}

static void m_close(void *ctx, struct fsc_pctx *c)
{
	(void)ctx;
	(void)c;
}

static const struct fsc_matrix_pattern model = {
        .open = m_open,
        .layout = m_layout,
        .setup = m_setup,
        .measure = m_measure,
        .close = m_close,
};

static const char *const impls[] = {"model", 0};

static const struct fsc_pattern_ops pattern = {
        .name = "pairs-model",
        .desc = "cells from a model",
        .min_ranks = 1,
        .impls = impls,
        .bw_formula = "model",
        .matrix = &model,
};

static double secs(clockid_t id)
{
	struct timespec t;

	clock_gettime(id, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* The results file and what the results module leaves beside it: the
 * stream (<path>.jsonl) and a rewrite's temporary (<path>.tmp.<pid>). */
static void remove_results(const char *path)
{
	char p[300];

	unlink(path);
	snprintf(p, sizeof(p), "%s%s", path, FSC_RESULTS_STREAM_SUFFIX);
	unlink(p);
	snprintf(p, sizeof(p), "%s.tmp.%d", path, (int)getpid());
	unlink(p);
}

/* One line: the bad argument and what is valid. */
static int usage(const char *bad)
{
	fprintf(stderr,
	        "bench_store: invalid argument '%s' (usage: bench_store N memory|disk|auto "
	        "[--topology SPEC [--fault F]... [--seed S]], N >= 8, SPEC of N hosts such as "
	        "fattree:hosts=N,leaf=32,oversub=2, F as fabscope simulate --fault)\n",
	        bad);
	return 2;
}

/* The driver on the simulated fabric: one line, as main's plus the
 * attribution's and the re-tests' seconds and the named check. */
static int run_sim(const char *topo, const char *const *faults, int nf, uint64_t seed,
                   const char *path, double w0, double c0)
{
	struct fsc_sim_params sp;
	struct fsc_simdrv_params dp = {.topology = topo, .store = KIND, .results = path};
	struct fsc_topo *t = NULL;
	struct rusage ru;
	char err[512], why[512];
	json_t *rec = NULL;
	int rc, named;
	double dur, rounds;

	fsc_sim_params_default(&sp);
	sp.seed = seed;
	if (fsc_topo_load(&t, topo, err, sizeof(err))) {
		fprintf(stderr, "bench_store: %s\n", err);
		return 2;
	}
	sp.topo = t;
	if (t->nhosts != N) {
		fprintf(stderr, "bench_store: topology '%s' has %d hosts, not N = %d\n", topo,
		        t->nhosts, N);
		fsc_topo_free(t);
		return 2;
	}
	for (int i = 0; i < nf; i++)
		if (fsc_sim_fault_parse(&sp, faults[i], err, sizeof(err))) {
			fprintf(stderr, "bench_store: %s\n", err);
			fsc_topo_free(t);
			return 2;
		}
	dp.sim = &sp;
	dp.out = fopen("/dev/null", "w");
	rc = fsc_simdrv_run(&dp, &rec, err, sizeof(err));
	if (dp.out)
		fclose(dp.out);
	if (rc) {
		fprintf(stderr, "bench_store: %s\n", err);
		fsc_topo_free(t);
		return 1;
	}
	named = fsc_simdrv_named(&sp, rec, why, sizeof(why));
	dur = json_number_value(json_object_get(rec, "duration_s"));
	rounds = json_number_value(json_object_get(rec, "rounds_s"));
	getrusage(RUSAGE_SELF, &ru);
	printf("%-7d %-7s %8.1f %8.1f %9.1f %9.1f %10.1f %8.1f  %-5s %s%s%s%s\n", N,
	       json_string_value(json_object_get(rec, "store")) ?: "?", secs(CLOCK_MONOTONIC) - w0,
	       secs(CLOCK_PROCESS_CPUTIME_ID) - c0, rounds, dur - rounds,
	       json_number_value(json_object_get(json_object_get(rec, "retests"), "duration_s")),
	       (double)ru.ru_maxrss / 1024, named ? "yes" : "no",
	       json_string_value(json_object_get(rec, "verdict")) ?: "?", named ? "" : " [",
	       named ? "" : why, named ? "" : "]");
	json_decref(rec);
	fsc_topo_free(t);
	return 0;
}

int main(int argc, char **argv)
{
	char path[256], err[512];
	struct rusage ru;
	json_t *rec = NULL;
	FILE *out;
	double w0 = secs(CLOCK_MONOTONIC), c0 = secs(CLOCK_PROCESS_CPUTIME_ID);
	const char *topo = NULL, *faults[FSC_SIM_MAX_FAULTS];
	uint64_t seed = 1;
	int fd, nf = 0, rc;

	if (argc < 3 || atoi(argv[1]) < 8 ||
	    (strcmp(argv[2], "memory") && strcmp(argv[2], "disk") && strcmp(argv[2], "auto")))
		return usage(argc < 2                        ? "(none)"
		             : argc < 3 || atoi(argv[1]) < 8 ? argv[1]
		                                             : argv[2]);
	for (int i = 3; i < argc; i += 2) {
		char *e;

		if (i + 1 >= argc)
			return usage(argv[i]);
		if (!strcmp(argv[i], "--topology")) {
			topo = argv[i + 1];
		} else if (!strcmp(argv[i], "--fault") && nf < FSC_SIM_MAX_FAULTS) {
			faults[nf++] = argv[i + 1];
		} else if (!strcmp(argv[i], "--seed")) {
			errno = 0;
			seed = strtoull(argv[i + 1], &e, 10);
			if (errno || *e || !*argv[i + 1])
				return usage(argv[i + 1]);
		} else {
			return usage(argv[i]);
		}
	}
	if (nf && !topo)
		return usage("--fault"); /* faults are the model's */
	N = atoi(argv[1]);
	KIND = !strcmp(argv[2], "memory") ? FSC_MATRIX_STORE_MEMORY
	       : !strcmp(argv[2], "disk") ? FSC_MATRIX_STORE_DISK
	                                  : FSC_MATRIX_STORE_AUTO;
	snprintf(path, sizeof(path), "%s/bench-store-XXXXXX",
	         getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	fd = mkstemp(path);
	if (fd < 0) {
		fprintf(stderr, "bench_store: cannot create '%s': %s\n", path, strerror(errno));
		return 2;
	}
	close(fd);
	if (topo) {
		rc = run_sim(topo, faults, nf, seed, path, w0, c0);
		remove_results(path);
		return rc;
	}
	out = fopen("/dev/null", "w");
	rc = out ? fsc_simdrv_run_pattern(&pattern, path, out, &rec, err, sizeof(err)) : -errno;
	if (out)
		fclose(out);
	remove_results(path);
	if (rc) {
		fprintf(stderr, "bench_store: the run failed: %s\n",
		        out ? err : "cannot open /dev/null");
		return 1;
	}
	getrusage(RUSAGE_SELF, &ru);
	printf("%-7d %-7s %8.1f %8.1f %9.1f %9.1f  %s\n", N,
	       json_string_value(json_object_get(rec, "store")) ?: "?", secs(CLOCK_MONOTONIC) - w0,
	       secs(CLOCK_PROCESS_CPUTIME_ID) - c0,
	       json_number_value(json_object_get(rec, "rounds_s")), (double)ru.ru_maxrss / 1024,
	       json_string_value(json_object_get(rec, "verdict")) ?: "?");
	json_decref(rec);
	return 0;
}
