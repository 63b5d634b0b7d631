/* bench_ucx_direct: where the time of a UCX ping-pong goes.
 *
 * Two ranks under mpirun.  Each repeat runs the same ping-pong twice, over a
 * bare UCP loop (tag send/receive on a worker of its own, progress until
 * both requests completed: what ucx_perftest's tag_lat does) and over the
 * ucx fabric (fsc_fabric_irecv/isend/wait: what fabscope's latency pattern
 * does, without the runner and its per-iteration timestamps).  A repeat
 * times -n iterations with two clock reads in all; latency = time / iters /
 * 2 (half round trip).  Printed: median and min over repeats of each, and
 * fabric / bare.  Repeats alternate the two so that machine noise hits both.
 *
 * usage: mpirun -np 2 bench_ucx_direct [-s bytes] [-n iters] [-w warmup]
 *                                      [-r repeats]
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ucp/api/ucp.h>

#include "boot.h"
#include "fabric.h"
#include "log.h"

extern const struct fsc_fabric_ops fsc_fabric_ucx;

#define TAG 77

struct bare {
	ucp_context_h ctx;
	ucp_worker_h worker;
	ucp_ep_h ep;
};

struct opts {
	size_t bytes;
	long iters, warmup;
	int repeats;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void bare_close(struct bare *x)
{
	ucp_request_param_t prm = {.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS,
	                           .flags = UCP_EP_CLOSE_FLAG_FORCE};

	if (x->ep) {
		ucs_status_ptr_t sp = ucp_ep_close_nbx(x->ep, &prm);

		if (sp && !UCS_PTR_IS_ERR(sp))
			ucp_request_free(sp);
	}
	if (x->worker)
		ucp_worker_destroy(x->worker);
	if (x->ctx)
		ucp_cleanup(x->ctx);
}

/* A context, worker and endpoint to the other rank, as the fabric sets
 * them up (same features, same thread mode), addresses exchanged through
 * the bootstrap. */
static int bare_open(struct fsc_boot *b, struct bare *x)
{
	ucp_params_t params = {.field_mask = UCP_PARAM_FIELD_FEATURES, .features = UCP_FEATURE_TAG};
	ucp_worker_params_t wp = {.field_mask = UCP_WORKER_PARAM_FIELD_THREAD_MODE,
	                          .thread_mode = UCS_THREAD_MODE_SINGLE};
	ucp_config_t *config;
	ucp_address_t *addr;
	size_t len;
	int64_t maxlen;
	uint8_t *all = NULL, *mine = NULL;
	ucs_status_t st;
	int rc = -EIO;

	memset(x, 0, sizeof(*x));
	if (ucp_config_read(NULL, NULL, &config) != UCS_OK)
		return -EIO;
	st = ucp_init(&params, config, &x->ctx);
	ucp_config_release(config);
	if (st != UCS_OK || ucp_worker_create(x->ctx, &wp, &x->worker) != UCS_OK ||
	    ucp_worker_get_address(x->worker, &addr, &len) != UCS_OK) {
		fprintf(stderr, "bench_ucx_direct: UCP set-up failed\n");
		return -EIO;
	}
	maxlen = (int64_t)len;
	if (fsc_boot_allreduce(b, &maxlen, 1, FSC_BOOT_I64, FSC_BOOT_MAX))
		goto out;
	mine = calloc(1, (size_t)maxlen);
	all = calloc(2, (size_t)maxlen);
	if (!mine || !all)
		goto out;
	memcpy(mine, addr, len);
	if (fsc_boot_allgather(b, mine, all, (size_t)maxlen))
		goto out;
	{
		ucp_ep_params_t ep = {
		        .field_mask = UCP_EP_PARAM_FIELD_REMOTE_ADDRESS,
		        .address = (ucp_address_t *)(all + (size_t)(1 - b->rank) * maxlen)};

		if (ucp_ep_create(x->worker, &ep, &x->ep) == UCS_OK)
			rc = 0;
	}
out:
	ucp_worker_release_address(x->worker, addr);
	free(mine);
	free(all);
	return rc;
}

static int bare_wait(struct bare *x, void *req)
{
	ucs_status_t st;

	if (req == NULL)
		return 0;
	if (UCS_PTR_IS_ERR(req))
		return -EIO;
	while ((st = ucp_request_check_status(req)) == UCS_INPROGRESS)
		ucp_worker_progress(x->worker);
	ucp_request_free(req);
	return st == UCS_OK ? 0 : -EIO;
}

/* Half round trip in ns over `iters` iterations. */
static double bare_pingpong(struct bare *x, int rank, void *sbuf, void *rbuf, size_t bytes,
                            long iters)
{
	ucp_request_param_t prm = {.op_attr_mask = 0};
	ucp_tag_t stag = ((uint64_t)rank << 32) | TAG, rtag = ((uint64_t)(1 - rank) << 32) | TAG;
	uint64_t t0 = now_ns();

	for (long i = 0; i < iters; i++) {
		if (rank == 0) {
			void *r = ucp_tag_recv_nbx(x->worker, rbuf, bytes, rtag, UINT64_MAX, &prm);
			void *s = ucp_tag_send_nbx(x->ep, sbuf, bytes, stag, &prm);

			if (bare_wait(x, s) || bare_wait(x, r))
				return -1;
		} else {
			void *r = ucp_tag_recv_nbx(x->worker, rbuf, bytes, rtag, UINT64_MAX, &prm);

			if (bare_wait(x, r) ||
			    bare_wait(x, ucp_tag_send_nbx(x->ep, sbuf, bytes, stag, &prm)))
				return -1;
		}
	}
	return (double)(now_ns() - t0) / (double)iters / 2;
}

static double fabric_pingpong(struct fsc_fabric *f, void *sbuf, void *rbuf, size_t bytes,
                              long iters)
{
	int peer = 1 - f->rank;
	uint64_t t0 = now_ns();

	for (long i = 0; i < iters; i++) {
		struct fsc_req rq[2];
		int rc;

		if (f->rank == 0) {
			rc = fsc_fabric_irecv(f, peer, rbuf, bytes, TAG, &rq[0]);
			if (!rc)
				rc = fsc_fabric_isend(f, peer, sbuf, bytes, TAG, &rq[1]);
			if (!rc)
				rc = fsc_fabric_wait(f, rq, 2);
		} else {
			rc = fsc_fabric_recv(f, peer, rbuf, bytes, TAG);
			if (!rc)
				rc = fsc_fabric_send(f, peer, sbuf, bytes, TAG);
		}
		if (rc)
			return -1;
	}
	return (double)(now_ns() - t0) / (double)iters / 2;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static int parse(int argc, char **argv, struct opts *o)
{
	int c;

	o->bytes = 8;
	o->iters = 100000;
	o->warmup = 10000;
	o->repeats = 7;
	while ((c = getopt(argc, argv, "s:n:w:r:")) != -1) {
		switch (c) {
		case 's': o->bytes = strtoull(optarg, NULL, 0); break;
		case 'n': o->iters = strtol(optarg, NULL, 0); break;
		case 'w': o->warmup = strtol(optarg, NULL, 0); break;
		case 'r': o->repeats = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: bench_ucx_direct [-s bytes] [-n iters] "
			                "[-w warmup] [-r repeats]\n");
			return -EINVAL;
		}
	}
	if (o->iters < 1 || o->warmup < 0 || o->repeats < 1 || o->repeats > 99)
		return -EINVAL;
	return 0;
}

static int run(struct fsc_boot *b, const struct opts *o)
{
	struct fsc_fabric *f = NULL;
	struct bare x;
	double bare_ns[99], fab_ns[99];
	void *sbuf = calloc(1, o->bytes + 1), *rbuf = calloc(1, o->bytes + 1);
	int rc;

	if (!sbuf || !rbuf)
		return -ENOMEM;
	rc = bare_open(b, &x);
	if (!rc)
		rc = fsc_fabric_create(&fsc_fabric_ucx, b, NULL, &f);
	if (!rc)
		rc = fsc_fabric_connect(f);
	/* Warm both paths (wire-up, caches) before anything is timed. */
	if (!rc && (bare_pingpong(&x, b->rank, sbuf, rbuf, o->bytes, o->warmup + 1) < 0 ||
	            fabric_pingpong(f, sbuf, rbuf, o->bytes, o->warmup + 1) < 0))
		rc = -EIO;
	for (int i = 0; i < o->repeats && !rc; i++) {
		rc = fsc_boot_barrier(b);
		bare_ns[i] = bare_pingpong(&x, b->rank, sbuf, rbuf, o->bytes, o->iters);
		if (!rc)
			rc = fsc_boot_barrier(b);
		fab_ns[i] = fabric_pingpong(f, sbuf, rbuf, o->bytes, o->iters);
		if (bare_ns[i] < 0 || fab_ns[i] < 0)
			rc = -EIO;
	}
	if (!rc && b->rank == 0) {
		double bm, fm;

		qsort(bare_ns, (size_t)o->repeats, sizeof(double), cmp_double);
		qsort(fab_ns, (size_t)o->repeats, sizeof(double), cmp_double);
		bm = bare_ns[o->repeats / 2];
		fm = fab_ns[o->repeats / 2];
		printf("# bench_ucx_direct: %zu B, %ld iterations x %d repeats; half round trip, "
		       "us (median, min)\n",
		       o->bytes, o->iters, o->repeats);
		printf("bare_ucp   %.4f %.4f\n", bm / 1e3, bare_ns[0] / 1e3);
		printf("fabric     %.4f %.4f\n", fm / 1e3, fab_ns[0] / 1e3);
		printf("ratio      %.3f\n", fm / bm);
	}
	fsc_boot_barrier(b);
	fsc_fabric_destroy(f);
	bare_close(&x);
	free(sbuf);
	free(rbuf);
	return rc;
}

int main(int argc, char **argv)
{
	struct fsc_boot *b = NULL;
	struct opts o;
	int rc;

	if (parse(argc, argv, &o))
		return 2;
	rc = fsc_boot_mpi_create(&b, &argc, &argv);
	if (rc) {
		fprintf(stderr, "bench_ucx_direct: needs an MPI launch (%d)\n", rc);
		return 2;
	}
	if (b->size != 2) {
		if (b->rank == 0)
			fprintf(stderr, "bench_ucx_direct: run on exactly 2 ranks\n");
		rc = -EINVAL;
	} else {
		fsc_log_set_identity(b->rank, b->host);
		rc = run(b, &o);
	}
	fsc_boot_destroy(b);
	fsc_boot_mpi_finalize();
	return rc ? 1 : 0;
}
