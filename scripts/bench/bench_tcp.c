/* The tcp fabric between two ranks of one process (threads of the local
 * bootstrap), for scripts/bench-tcp until the CLI's runner can measure it:
 *   - latency: 8-byte ping-pong, p50 of half round trips (each sample is
 *     one round trip / 2, as osu_latency and the latency pattern report);
 *   - bandwidth: rank 0 streams windows of `window` messages of `bytes`
 *     to rank 1, which answers each window with a 1-byte ack (osu_bw
 *     style); GB/s = 1e9 bytes/s over all timed windows.
 *
 * usage: bench_tcp [-i pingpong_iters] [-w window] [-s bytes] [-n windows]
 *                  [-o name=value]...   (tcp fabric options, e.g.
 *                  -o tcp-if=lo -o tcp-sndbuf=1M)
 * Output: one "key value" line per figure.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "boot.h"
#include "clock.h"
#include "err.h"
#include "fabric.h"
#include "options.h"

extern const struct fsc_fabric_ops fsc_fabric_tcp;

struct bench {
	struct fsc_config *cfg;
	long iters, windows, window;
	size_t bytes;
	double lat_p50_us, lat_min_us, bw_gbs;
};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int pingpong(struct fsc_fabric *f, struct bench *bn)
{
	long warm = bn->iters / 10 + 10;
	uint64_t *rtt = calloc((size_t)bn->iters, sizeof(*rtt));
	char buf[8] = {0};
	int rc = rtt ? 0 : -ENOMEM, me = f->rank, peer = 1 - f->rank;

	for (long i = 0; i < warm + bn->iters && !rc; i++) {
		uint64_t t0 = fsc_time_real_ns();

		if (me == 0) {
			rc = fsc_fabric_send(f, peer, buf, sizeof(buf), 1);
			if (!rc)
				rc = fsc_fabric_recv(f, peer, buf, sizeof(buf), 1);
		} else {
			rc = fsc_fabric_recv(f, peer, buf, sizeof(buf), 1);
			if (!rc)
				rc = fsc_fabric_send(f, peer, buf, sizeof(buf), 1);
		}
		if (i >= warm)
			rtt[i - warm] = fsc_time_real_ns() - t0;
	}
	if (!rc && me == 0) {
		qsort(rtt, (size_t)bn->iters, sizeof(*rtt), cmp_u64);
		/* nearest-rank p50 */
		bn->lat_p50_us = (double)rtt[(bn->iters + 1) / 2 - 1] / 2e3;
		bn->lat_min_us = (double)rtt[0] / 2e3;
	}
	free(rtt);
	return rc;
}

static int stream(struct fsc_fabric *f, struct bench *bn)
{
	long warm = 2;
	struct fsc_req *reqs = calloc((size_t)bn->window, sizeof(*reqs));
	/* One buffer for the whole window on each side, as osu_bw does: the
	 * figure is the transport's, not the memory system's. */
	char *buf = malloc(bn->bytes), ack = 0;
	uint64_t t0 = 0;
	int rc = reqs && buf ? 0 : -ENOMEM, me = f->rank, peer = 1 - f->rank;

	if (buf)
		memset(buf, me + 1, bn->bytes);
	for (long w = 0; w < warm + bn->windows && !rc; w++) {
		if (w == warm)
			t0 = fsc_time_real_ns();
		for (long k = 0; k < bn->window && !rc; k++) {
			rc = me == 0 ? fsc_fabric_isend(f, peer, buf, bn->bytes, 2, &reqs[k])
			             : fsc_fabric_irecv(f, peer, buf, bn->bytes, 2, &reqs[k]);
		}
		if (!rc)
			rc = fsc_fabric_wait(f, reqs, (size_t)bn->window);
		if (!rc)
			rc = me == 0 ? fsc_fabric_recv(f, peer, &ack, 1, 3)
			             : fsc_fabric_send(f, peer, &ack, 1, 3);
	}
	if (!rc && me == 0)
		bn->bw_gbs = (double)bn->bytes * (double)bn->window * (double)bn->windows /
		             (double)(fsc_time_real_ns() - t0);
	free(reqs);
	free(buf);
	return rc;
}

static int rank_main(struct fsc_boot *b, void *arg)
{
	struct bench *bn = arg;
	struct fsc_fabric *f = NULL;
	int rc;

	rc = fsc_fabric_create(&fsc_fabric_tcp, b, bn->cfg, &f);
	if (!rc)
		rc = fsc_fabric_connect(f);
	if (!rc)
		rc = fsc_boot_barrier(b);
	if (!rc)
		rc = pingpong(f, bn);
	if (!rc)
		rc = fsc_boot_barrier(b);
	if (!rc)
		rc = stream(f, bn);
	if (!rc)
		rc = fsc_boot_barrier(b);
	if (!rc && b->rank == 0) {
		json_t *info = json_object();

		if (info && !fsc_fabric_describe(f, info)) {
			char *s = json_dumps(info, JSON_COMPACT);

			printf("describe %s\n", s ? s : "{}");
			free(s);
		}
		json_decref(info);
	}
	fsc_fabric_destroy(f);
	return rc;
}

int main(int argc, char **argv)
{
	const struct fsc_opt_group g = {"tcp", fsc_fabric_tcp.opts};
	struct bench bn = {.iters = 20000, .windows = 20, .window = 16, .bytes = 4u << 20};
	char err[256];
	int rcs[2], opt, rc;

	if (fsc_config_defaults(&bn.cfg, &g, 1))
		return 2;
	while ((opt = getopt(argc, argv, "i:w:s:n:o:")) != -1) {
		char *eq;

		switch (opt) {
		case 'i': bn.iters = atol(optarg); break;
		case 'w': bn.window = atol(optarg); break;
		case 's': bn.bytes = (size_t)atol(optarg); break;
		case 'n': bn.windows = atol(optarg); break;
		case 'o':
			eq = strchr(optarg, '=');
			if (!eq) {
				fprintf(stderr, "bench_tcp: -o wants name=value\n");
				return 2;
			}
			*eq = 0;
			if (fsc_config_set(bn.cfg, optarg, eq + 1, err, sizeof(err))) {
				fprintf(stderr, "bench_tcp: %s\n", err);
				return 2;
			}
			break;
		default:
			fprintf(stderr, "usage: bench_tcp [-i iters] [-w window] [-s bytes] "
			                "[-n windows] [-o name=value]...\n");
			return 2;
		}
	}
	if (bn.iters < 1 || bn.window < 1 || bn.windows < 1 || !bn.bytes) {
		fprintf(stderr, "bench_tcp: counts and sizes must be positive\n");
		return 2;
	}
	rc = fsc_boot_local_run(2, NULL, rank_main, &bn, rcs);
	fsc_config_free(bn.cfg);
	if (rc || rcs[0] || rcs[1]) {
		fprintf(stderr, "bench_tcp: failed: %s\n",
		        fsc_strerror(rc       ? rc
		                     : rcs[0] ? rcs[0]
		                              : rcs[1]));
		return 1;
	}
	printf("lat_p50_us %.3f\nlat_min_us %.3f\nbw_GBps %.3f\nbw_bytes %zu\nbw_window %ld\n",
	       bn.lat_p50_us, bn.lat_min_us, bn.bw_gbs, bn.bytes, bn.window);
	return 0;
}
