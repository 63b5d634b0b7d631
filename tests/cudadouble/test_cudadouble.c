/* The CUDA/NCCL stand-in itself (tests/cudadouble): devices, memory,
 * streams and events, and NCCL over 1-5 ranks on threads and on processes,
 * its rejections and its faults.  The first argument picks a group, each
 * run by ctest with its own environment (the stand-in reads it once). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <cuda_runtime.h>
#include <nccl.h>

#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAXR 5

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---------------------------------------------------------------------------
 * Ranks on threads: each sets its device and runs fn.
 * ------------------------------------------------------------------------- */

struct rank_ctx {
	int rank, nranks, device;
	ncclUniqueId id;
	void *arg;
	int (*fn)(struct rank_ctx *);
	int rc;
	ncclComm_t comm;
	cudaStream_t stream;
};

static void *rank_main(void *p)
{
	struct rank_ctx *c = p;
	if (cudaSetDevice(c->device) != cudaSuccess) {
		c->rc = -100;
		return NULL;
	}
	c->rc = c->fn(c);
	return NULL;
}

/* Run fn on n ranks (device = rank unless devs given); 0 when all returned
 * 0 within the deadline. */
static int run_ranks(int n, const int *devs, int (*fn)(struct rank_ctx *), void *arg,
                     struct rank_ctx *out)
{
	struct rank_ctx c[MAXR];
	pthread_t t[MAXR];
	ncclUniqueId id;
	if (ncclGetUniqueId(&id) != ncclSuccess)
		return -1;
	for (int i = 0; i < n; i++) {
		c[i] = (struct rank_ctx){.rank = i,
		                         .nranks = n,
		                         .device = devs ? devs[i] : i,
		                         .id = id,
		                         .arg = arg,
		                         .fn = fn};
		pthread_create(&t[i], NULL, rank_main, &c[i]);
	}
	int bad = 0;
	struct timespec dl;
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += 60;
	for (int i = 0; i < n; i++) {
		if (pthread_timedjoin_np(t[i], NULL, &dl) != 0) {
			fprintf(stderr, "rank %d did not finish within 60 s\n", i);
			abort();
		}
		if (c[i].rc) {
			fprintf(stderr, "rank %d failed: %d\n", i, c[i].rc);
			bad = 1;
		}
	}
	if (out)
		memcpy(out, c, sizeof(c[0]) * (size_t)n);
	return bad ? -1 : 0;
}

static int init_comm(struct rank_ctx *c, int blocking)
{
	ncclConfig_t cfg = NCCL_CONFIG_INITIALIZER;
	cfg.blocking = blocking;
	ncclResult_t r = ncclCommInitRankConfig(&c->comm, c->nranks, c->id, c->rank, &cfg);
	if (!blocking) {
		double dl = now_s() + 30;
		while (r == ncclInProgress && now_s() < dl) {
			usleep(1000);
			if (ncclCommGetAsyncError(c->comm, &r) != ncclSuccess)
				return -2;
		}
	}
	if (r != ncclSuccess)
		return -3;
	if (cudaStreamCreate(&c->stream) != cudaSuccess)
		return -4;
	return 0;
}

static int fini_comm(struct rank_ctx *c)
{
	int bad = cudaStreamSynchronize(c->stream) != cudaSuccess;
	bad |= ncclCommFinalize(c->comm) != ncclSuccess;
	bad |= ncclCommDestroy(c->comm) != ncclSuccess;
	bad |= cudaStreamDestroy(c->stream) != cudaSuccess;
	return bad ? -50 : 0;
}

/* ---------------------------------------------------------------------------
 * Element helpers: values as doubles, whatever the type.
 * ------------------------------------------------------------------------- */

static const ncclDataType_t all_types[] = {ncclInt8,    ncclUint8,   ncclInt32,   ncclUint32,
                                           ncclInt64,   ncclUint64,  ncclFloat16, ncclFloat32,
                                           ncclFloat64, ncclBfloat16};
#define NTYPES (sizeof(all_types) / sizeof(all_types[0]))

static size_t tsize(ncclDataType_t t)
{
	switch (t) {
	case ncclInt8:
	case ncclUint8: return 1;
	case ncclFloat16:
	case ncclBfloat16: return 2;
	case ncclInt32:
	case ncclUint32:
	case ncclFloat32: return 4;
	default: return 8;
	}
}

/* Small integers are exact in every type, fp16 and bf16 included. */
static uint16_t small_to_half(int v)
{
	if (v == 0)
		return 0;
	uint16_t s = v < 0 ? 0x8000 : 0;
	int a = abs(v), e = 0;
	while ((a >> e) > 1)
		e++;
	return s | (uint16_t)((e + 15) << 10) | (uint16_t)(((a << 10) >> e) & 0x3ff);
}

static void put(void *b, size_t i, ncclDataType_t t, int v)
{
	switch (t) {
	case ncclInt8: ((int8_t *)b)[i] = (int8_t)v; break;
	case ncclUint8: ((uint8_t *)b)[i] = (uint8_t)v; break;
	case ncclInt32: ((int32_t *)b)[i] = v; break;
	case ncclUint32: ((uint32_t *)b)[i] = (uint32_t)v; break;
	case ncclInt64: ((int64_t *)b)[i] = v; break;
	case ncclUint64: ((uint64_t *)b)[i] = (uint64_t)v; break;
	case ncclFloat32: ((float *)b)[i] = (float)v; break;
	case ncclFloat64: ((double *)b)[i] = v; break;
	case ncclFloat16: ((uint16_t *)b)[i] = small_to_half(v); break;
	case ncclBfloat16: {
		float f = (float)v;
		uint32_t u;
		memcpy(&u, &f, 4);
		((uint16_t *)b)[i] = (uint16_t)(u >> 16);
		break;
	}
	default: break;
	}
}

static double get(const void *b, size_t i, ncclDataType_t t)
{
	switch (t) {
	case ncclInt8: return ((const int8_t *)b)[i];
	case ncclUint8: return ((const uint8_t *)b)[i];
	case ncclInt32: return ((const int32_t *)b)[i];
	case ncclUint32: return ((const uint32_t *)b)[i];
	case ncclInt64: return (double)((const int64_t *)b)[i];
	case ncclUint64: return (double)((const uint64_t *)b)[i];
	case ncclFloat32: return ((const float *)b)[i];
	case ncclFloat64: return ((const double *)b)[i];
	case ncclFloat16: {
		uint16_t h = ((const uint16_t *)b)[i];
		int e = (h >> 10) & 0x1f, m = h & 0x3ff;
		double v = e ? ldexp(m + 1024, e - 25) : ldexp(m, -24);
		return h & 0x8000 ? -v : v;
	}
	case ncclBfloat16: {
		uint32_t u = (uint32_t)((const uint16_t *)b)[i] << 16;
		float f;
		memcpy(&f, &u, 4);
		return f;
	}
	default: return NAN;
	}
}

/* Rank r's element i: small, distinct per rank, positive. */
static int val(int r, size_t i)
{
	return (int)((i * 7 + (size_t)r * 3) % 5) + 1;
}

static double expect_reduce(int n, size_t i, ncclRedOp_t op)
{
	double acc = val(0, i);
	for (int r = 1; r < n; r++) {
		double v = val(r, i);
		acc = op == ncclProd  ? acc * v
		      : op == ncclMax ? fmax(acc, v)
		      : op == ncclMin ? fmin(acc, v)
		                      : acc + v;
	}
	if (op == ncclAvg)
		acc = floor(acc / n); /* the values are chosen so ints and floats agree */
	return acc;
}

/* ---------------------------------------------------------------------------
 * Devices, memory, streams, events.
 * ------------------------------------------------------------------------- */

static void test_devices(void **state)
{
	(void)state;
	int n = -1, d = -1;
	assert_int_equal(cudaGetDeviceCount(&n), cudaSuccess);
	assert_int_equal(n, 8);
	assert_int_equal(cudaSetDevice(3), cudaSuccess);
	assert_int_equal(cudaGetDevice(&d), cudaSuccess);
	assert_int_equal(d, 3);
	assert_int_equal(cudaSetDevice(8), cudaErrorInvalidDevice);
	assert_int_equal(cudaPeekAtLastError(), cudaErrorInvalidDevice);
	assert_int_equal(cudaGetLastError(), cudaErrorInvalidDevice);
	assert_int_equal(cudaGetLastError(), cudaSuccess);
	assert_int_equal(cudaSetDevice(-1), cudaErrorInvalidDevice);
	cudaGetLastError();
	char bus[32];
	assert_int_equal(cudaDeviceGetPCIBusId(bus, sizeof(bus), 3), cudaSuccess);
	assert_string_equal(bus, "00000000:1B:00.0");
	struct cudaDeviceProp p;
	assert_int_equal(cudaGetDeviceProperties(&p, 3), cudaSuccess);
	assert_int_equal(p.pciBusID, 0x1b);
	assert_int_equal(p.pciDomainID, 0);
	assert_true(p.totalGlobalMem > 0 && p.multiProcessorCount > 0 && p.name[0]);
	assert_int_equal(cudaGetDeviceProperties(&p, 9), cudaErrorInvalidDevice);
	int v = 0;
	assert_int_equal(cudaRuntimeGetVersion(&v), cudaSuccess);
	assert_int_equal(v, 13000);
	assert_int_equal(cudaDriverGetVersion(&v), cudaSuccess);
	assert_true(v >= 13000);
	assert_string_equal(cudaGetErrorName(cudaErrorNotReady), "cudaErrorNotReady");
	assert_string_equal(cudaGetErrorString(cudaErrorInvalidValue), "invalid argument");
	cudaGetLastError();
	cudaSetDevice(0);
}

static void test_memory(void **state)
{
	(void)state;
	cudaSetDevice(2);
	char *d = NULL, *h = NULL, host[64];
	assert_int_equal(cudaMalloc((void **)&d, 64), cudaSuccess);
	assert_int_equal((uintptr_t)d % 256, 0);
	assert_int_equal(cudaMallocHost((void **)&h, 64), cudaSuccess);
	struct cudaPointerAttributes a;
	assert_int_equal(cudaPointerGetAttributes(&a, d + 10), cudaSuccess);
	assert_int_equal(a.type, cudaMemoryTypeDevice);
	assert_int_equal(a.device, 2);
	assert_null(a.hostPointer);
	assert_int_equal(cudaPointerGetAttributes(&a, h), cudaSuccess);
	assert_int_equal(a.type, cudaMemoryTypeHost);
	assert_ptr_equal(a.hostPointer, h);
	assert_int_equal(cudaPointerGetAttributes(&a, host), cudaSuccess);
	assert_int_equal(a.type, cudaMemoryTypeUnregistered);

	memset(host, 7, sizeof(host));
	assert_int_equal(cudaMemcpy(d, host, 64, cudaMemcpyHostToDevice), cudaSuccess);
	assert_int_equal(cudaMemset(d + 32, 9, 32), cudaSuccess);
	assert_int_equal(cudaMemcpy(h, d, 64, cudaMemcpyDeviceToHost), cudaSuccess);
	assert_int_equal(h[0], 7);
	assert_int_equal(h[63], 9);
	assert_int_equal(cudaMemcpy(host, h, 64, cudaMemcpyDefault), cudaSuccess);
	assert_int_equal(host[40], 9);

	/* Rejections: direction, host memory where device memory is due,
	 * past the end, foreign frees. */
	assert_int_equal(cudaMemcpy(d, host, 8, (enum cudaMemcpyKind)7),
	                 cudaErrorInvalidMemcpyDirection);
	assert_int_equal(cudaMemcpy(host, h, 8, cudaMemcpyDeviceToHost), cudaErrorInvalidValue);
	assert_int_equal(cudaMemcpy(host, host + 8, 8, cudaMemcpyHostToDevice),
	                 cudaErrorInvalidValue);
	assert_int_equal(cudaMemcpy(host, d + 32, 64, cudaMemcpyDeviceToHost),
	                 cudaErrorInvalidValue);
	assert_int_equal(cudaMemcpy(host, d + 32, SIZE_MAX - 8, cudaMemcpyDeviceToHost),
	                 cudaErrorInvalidValue);
	void *huge = NULL;
	assert_int_equal(cudaMalloc(&huge, (size_t)17 << 30), cudaErrorMemoryAllocation);
	assert_int_equal(cudaMemset(host, 0, 8), cudaErrorInvalidValue);
	assert_int_equal(cudaFree(host), cudaErrorInvalidValue);
	assert_int_equal(cudaFree(h), cudaErrorInvalidValue);
	assert_int_equal(cudaFreeHost(d), cudaErrorInvalidValue);
	assert_int_equal(cudaGetLastError(), cudaErrorInvalidValue);
	assert_int_equal(cudaFree(d), cudaSuccess);
	assert_int_equal(cudaFree(d), cudaErrorInvalidValue);
	assert_int_equal(cudaFreeHost(h), cudaSuccess);
	assert_int_equal(cudaFree(NULL), cudaSuccess);
	void *z = (void *)1;
	assert_int_equal(cudaMalloc(&z, 0), cudaSuccess);
	assert_null(z);
	cudaGetLastError();
	cudaSetDevice(0);
}

static void test_streams_events(void **state)
{
	(void)state;
	cudaStream_t s, bad;
	cudaEvent_t e0, e1, nt;
	char *d, host[256];
	assert_int_equal(cudaStreamCreateWithFlags(&bad, 0x10), cudaErrorInvalidValue);
	assert_int_equal(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), cudaSuccess);
	assert_int_equal(cudaEventCreate(&e0), cudaSuccess);
	assert_int_equal(cudaEventCreate(&e1), cudaSuccess);
	assert_int_equal(cudaEventCreateWithFlags(&nt, cudaEventDisableTiming), cudaSuccess);
	assert_int_equal(cudaEventQuery(e0), cudaSuccess); /* never recorded */
	assert_int_equal(cudaMalloc((void **)&d, sizeof(host)), cudaSuccess);
	for (int i = 0; i < 256; i++)
		host[i] = (char)i;
	assert_int_equal(cudaEventRecord(e0, s), cudaSuccess);
	assert_int_equal(cudaMemcpyAsync(d, host, sizeof(host), cudaMemcpyHostToDevice, s),
	                 cudaSuccess);
	assert_int_equal(cudaMemsetAsync(d, 0x55, 16, s), cudaSuccess);
	assert_int_equal(cudaEventRecord(e1, s), cudaSuccess);
	assert_int_equal(cudaEventRecord(nt, s), cudaSuccess);
	assert_int_equal(cudaEventSynchronize(e1), cudaSuccess);
	assert_int_equal(cudaEventQuery(e1), cudaSuccess);
	float ms = -1;
	assert_int_equal(cudaEventElapsedTime(&ms, e0, e1), cudaSuccess);
	assert_true(ms >= 0);
	assert_int_equal(cudaEventElapsedTime(&ms, e0, nt), cudaErrorInvalidResourceHandle);
	assert_int_equal(cudaStreamSynchronize(s), cudaSuccess);
	assert_int_equal(cudaStreamQuery(s), cudaSuccess);
	memset(host, 0, sizeof(host));
	assert_int_equal(cudaMemcpy(host, d, sizeof(host), cudaMemcpyDeviceToHost), cudaSuccess);
	assert_int_equal((unsigned char)host[0], 0x55);
	assert_int_equal((unsigned char)host[16], 16);
	assert_int_equal(cudaDeviceSynchronize(), cudaSuccess);
	assert_int_equal(cudaStreamDestroy(s), cudaSuccess);
	assert_int_equal(cudaStreamQuery(s), cudaErrorInvalidResourceHandle);
	assert_int_equal(cudaStreamDestroy(s), cudaErrorInvalidResourceHandle);
	assert_int_equal(cudaMemcpyAsync(d, host, 8, cudaMemcpyHostToDevice, s),
	                 cudaErrorInvalidResourceHandle);
	assert_int_equal(cudaEventDestroy(e0), cudaSuccess);
	assert_int_equal(cudaEventQuery(e0), cudaErrorInvalidResourceHandle);
	assert_int_equal(cudaEventRecord(e0, NULL), cudaErrorInvalidResourceHandle);
	cudaEventDestroy(e1);
	cudaEventDestroy(nt);
	cudaFree(d);
	cudaGetLastError();
}

/* Loaded by name, as the nccl fabric does: the sonames, and the CUDA
 * symbols under the real runtime's version node. */
static void test_dlopen(void **state)
{
	(void)state;
	void *rt = dlopen("libcudart.so.13", RTLD_NOW | RTLD_GLOBAL);
	void *nc = dlopen("libnccl.so.2", RTLD_NOW | RTLD_GLOBAL);
	assert_non_null(rt);
	assert_non_null(nc);
	cudaError_t (*count)(int *) = (cudaError_t(*)(int *))dlsym(rt, "cudaGetDeviceCount");
	assert_ptr_equal((void *)count, dlvsym(rt, "cudaGetDeviceCount", "libcudart.so.13"));
	int n = 0;
	assert_int_equal(count(&n), cudaSuccess);
	assert_int_equal(n, 8);
	ncclResult_t (*ver)(int *) = (ncclResult_t(*)(int *))dlsym(nc, "ncclGetVersion");
	assert_non_null(ver);
	assert_int_equal(ver(&n), ncclSuccess);
	assert_int_equal(n, 22809);
	/* Its own internals stay hidden; the runtime's private entry points
	 * for it sit under their own version node. */
	assert_null(dlsym(nc, "group_run"));
	assert_null(dlsym(rt, "stream_worker"));
	assert_non_null(dlvsym(rt, "fsc_cudadouble_enqueue", "FSC_CUDADOUBLE_PRIVATE"));
	dlclose(nc);
	dlclose(rt);
}

/* ---------------------------------------------------------------------------
 * NCCL on one rank: the API's rejections.
 * ------------------------------------------------------------------------- */

static void test_nccl_basics(void **state)
{
	(void)state;
	int v = 0;
	assert_int_equal(ncclGetVersion(&v), ncclSuccess);
	assert_int_equal(v, NCCL_VERSION_CODE);
	assert_int_equal(v, 22809);
	assert_string_equal(ncclGetErrorString(ncclInProgress), "NCCL operation in progress");
	assert_int_equal(ncclGroupEnd(), ncclInvalidUsage);

	ncclUniqueId id;
	ncclComm_t c;
	assert_int_equal(ncclGetUniqueId(&id), ncclSuccess);
	assert_int_equal(ncclCommInitRank(&c, 0, id, 0), ncclInvalidArgument);
	assert_int_equal(ncclCommInitRank(&c, 2, id, 2), ncclInvalidArgument);
	assert_int_equal(ncclCommInitRank(&c, 2, id, -1), ncclInvalidArgument);
	ncclUniqueId junk;
	memset(&junk, 0x3c, sizeof(junk));
	assert_int_equal(ncclCommInitRank(&c, 1, junk, 0), ncclInvalidArgument);
	assert_int_equal(ncclCommInitRank(&c, 1, id, 0), ncclSuccess);
	int n = 0, d = -1, r = -1;
	assert_int_equal(ncclCommCount(c, &n), ncclSuccess);
	assert_int_equal(ncclCommCuDevice(c, &d), ncclSuccess);
	assert_int_equal(ncclCommUserRank(c, &r), ncclSuccess);
	assert_int_equal(n, 1);
	assert_int_equal(d, 0);
	assert_int_equal(r, 0);

	cudaStream_t s;
	float *a, *b, host[4] = {1, 2, 3, 4}, other[4];
	assert_int_equal(cudaStreamCreate(&s), cudaSuccess);
	assert_int_equal(cudaMalloc((void **)&a, sizeof(host)), cudaSuccess);
	assert_int_equal(cudaMalloc((void **)&b, sizeof(host)), cudaSuccess);
	cudaMemcpy(a, host, sizeof(host), cudaMemcpyHostToDevice);
	assert_int_equal(ncclAllReduce(a, b, 4, ncclFloat32, ncclSum, c, s), ncclSuccess);
	cudaStreamSynchronize(s);
	cudaMemcpy(other, b, sizeof(other), cudaMemcpyDeviceToHost);
	assert_true(other[3] == 4.0f);

	/* Not device memory, past the end, bad type, op, root, peer, stream. */
	assert_int_equal(ncclAllReduce(host, b, 4, ncclFloat32, ncclSum, c, s),
	                 ncclInvalidArgument);
	assert_non_null(strstr(ncclGetLastError(c), "not device memory"));
	assert_int_equal(ncclAllReduce(a, b, 5, ncclFloat32, ncclSum, c, s), ncclInvalidArgument);
	assert_int_equal(ncclAllReduce(a, b, SIZE_MAX / 2, ncclFloat32, ncclSum, c, s),
	                 ncclInvalidArgument);
	assert_int_equal(ncclAllGather(a, b, SIZE_MAX / 4 + 1, ncclUint8, c, s),
	                 ncclInvalidArgument);
	assert_int_equal(ncclAllReduce(a, b, 4, ncclFloat8e4m3, ncclSum, c, s),
	                 ncclInvalidArgument);
	assert_int_equal(ncclAllReduce(a, b, 4, (ncclDataType_t)99, ncclSum, c, s),
	                 ncclInvalidArgument);
	assert_int_equal(ncclAllReduce(a, b, 4, ncclFloat32, (ncclRedOp_t)5, c, s),
	                 ncclInvalidArgument);
	assert_int_equal(ncclBroadcast(a, b, 4, ncclFloat32, 1, c, s), ncclInvalidArgument);
	assert_int_equal(ncclSend(a, 4, ncclFloat32, 1, c, s), ncclInvalidArgument);
	assert_int_equal(ncclRecv(b, 4, ncclFloat32, -1, c, s), ncclInvalidArgument);
	assert_int_equal(ncclAllReduce(a, b, 4, ncclFloat32, ncclSum, NULL, s),
	                 ncclInvalidArgument);
	cudaStream_t dead;
	cudaStreamCreate(&dead);
	cudaStreamDestroy(dead);
	assert_int_equal(ncclAllReduce(a, b, 4, ncclFloat32, ncclSum, c, dead),
	                 ncclInvalidArgument);
	/* A buffer on another device than the communicator's. */
	float *other_dev;
	cudaSetDevice(1);
	cudaMalloc((void **)&other_dev, sizeof(host));
	cudaSetDevice(0);
	assert_int_equal(ncclAllReduce(a, other_dev, 4, ncclFloat32, ncclSum, c, s),
	                 ncclInvalidArgument);
	/* A refused member fails the whole group. */
	assert_int_equal(ncclGroupStart(), ncclSuccess);
	assert_int_equal(ncclSend(a, 4, ncclFloat32, 0, c, s), ncclSuccess);
	assert_int_equal(ncclRecv(host, 4, ncclFloat32, 0, c, s), ncclInvalidArgument);
	assert_int_equal(ncclGroupEnd(), ncclInvalidArgument);
	/* Send to and receive from itself in a group. */
	cudaMemset(b, 0, sizeof(host));
	assert_int_equal(ncclGroupStart(), ncclSuccess);
	assert_int_equal(ncclSend(a, 4, ncclFloat32, 0, c, s), ncclSuccess);
	assert_int_equal(ncclRecv(b, 4, ncclFloat32, 0, c, s), ncclSuccess);
	assert_int_equal(ncclGroupEnd(), ncclSuccess);
	assert_int_equal(ncclGroupEnd(), ncclInvalidUsage);
	cudaStreamSynchronize(s);
	cudaMemcpy(other, b, sizeof(other), cudaMemcpyDeviceToHost);
	assert_true(other[2] == 3.0f);

	/* Used after destroy; after abort. */
	assert_int_equal(ncclCommDestroy(c), ncclSuccess);
	assert_int_equal(ncclAllReduce(a, b, 4, ncclFloat32, ncclSum, c, s), ncclInvalidArgument);
	assert_int_equal(ncclCommCount(c, &n), ncclInvalidArgument);
	assert_int_equal(ncclCommDestroy(c), ncclInvalidArgument);
	assert_int_equal(ncclGetUniqueId(&id), ncclSuccess);
	assert_int_equal(ncclCommInitRank(&c, 1, id, 0), ncclSuccess);
	assert_int_equal(ncclCommAbort(c), ncclSuccess);
	assert_int_equal(ncclSend(a, 4, ncclFloat32, 0, c, s), ncclInvalidArgument);
	ncclResult_t ae;
	assert_int_equal(ncclCommGetAsyncError(c, &ae), ncclInvalidArgument);
	cudaFree(a);
	cudaFree(b);
	cudaSetDevice(1);
	cudaFree(other_dev);
	cudaSetDevice(0);
	cudaStreamDestroy(s);
	cudaGetLastError();
}

/* ---------------------------------------------------------------------------
 * NCCL on 2-5 ranks.
 * ------------------------------------------------------------------------- */

#define COUNT 37 /* not a multiple of any rank count: uneven segments */

static int check_buf(const void *dev, size_t n, ncclDataType_t t, double (*want)(size_t, void *),
                     void *arg, const char *what, int rank)
{
	char *h = malloc(n * tsize(t));
	if (cudaMemcpy(h, dev, n * tsize(t), cudaMemcpyDeviceToHost) != cudaSuccess) {
		free(h);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		double w = want(i, arg), g = get(h, i, t);
		if (g != w) {
			fprintf(stderr, "rank %d %s type %d: element %zu is %g, expected %g\n",
			        rank, what, (int)t, i, g, w);
			free(h);
			return -1;
		}
	}
	free(h);
	return 0;
}

struct want_arg {
	int n, rank;
	ncclRedOp_t op;
	size_t count;
	int root;
};

static double want_reduce(size_t i, void *a)
{
	struct want_arg *w = a;
	return expect_reduce(w->n, i, w->op);
}

static double want_rs(size_t i, void *a)
{
	struct want_arg *w = a;
	return expect_reduce(w->n, (size_t)w->rank * w->count + i, w->op);
}

static double want_ag(size_t i, void *a)
{
	struct want_arg *w = a;
	return val((int)(i / w->count), i % w->count);
}

static double want_bcast(size_t i, void *a)
{
	struct want_arg *w = a;
	return val(w->root, i);
}

static double want_ring(size_t i, void *a)
{
	struct want_arg *w = a;
	return val((w->rank + w->n - 1) % w->n, i);
}

static void *dev_filled(int rank, size_t n, ncclDataType_t t)
{
	char *h = malloc(n * tsize(t));
	void *d = NULL;
	for (size_t i = 0; i < n; i++)
		put(h, i, t, val(rank, i));
	if (cudaMalloc(&d, n * tsize(t) + 1) == cudaSuccess)
		cudaMemcpy(d, h, n * tsize(t), cudaMemcpyHostToDevice);
	free(h);
	return d;
}

static int coll_rank(struct rank_ctx *c)
{
	int blocking = c->rank % 2; /* both kinds of init in one communicator */
	int rc = init_comm(c, blocking);
	if (rc)
		return rc;
	int n = c->nranks;
	for (size_t ti = 0; ti < NTYPES; ti++) {
		ncclDataType_t t = all_types[ti];
		size_t es = tsize(t);
		void *snd = dev_filled(c->rank, (size_t)COUNT * (size_t)n, t), *rcv;
		if (cudaMalloc(&rcv, (size_t)COUNT * (size_t)n * es) != cudaSuccess)
			return -10;
		for (int op = ncclSum; op <= ncclAvg; op++) {
			/* ncclAvg: test_rounding_avg.  Products of up to five
			 * values of 1..5 are exact only in the wide types (and
			 * up to 125 in fp16 and bf16). */
			if (op == ncclAvg || (op == ncclProd && (es == 1 || (es == 2 && n > 3))))
				continue;
			struct want_arg w = {n, c->rank, (ncclRedOp_t)op, COUNT, 0};
			if (ncclAllReduce(snd, rcv, COUNT, t, (ncclRedOp_t)op, c->comm, c->stream))
				return -11;
			cudaStreamSynchronize(c->stream);
			if (check_buf(rcv, COUNT, t, want_reduce, &w, "allreduce", c->rank))
				return -12;
			if (ncclReduceScatter(snd, rcv, COUNT, t, (ncclRedOp_t)op, c->comm,
			                      c->stream))
				return -13;
			cudaStreamSynchronize(c->stream);
			if (check_buf(rcv, COUNT, t, want_rs, &w, "reducescatter", c->rank))
				return -14;
		}
		struct want_arg w = {n, c->rank, ncclSum, COUNT, n - 1};
		if (ncclAllGather(snd, rcv, COUNT, t, c->comm, c->stream))
			return -15;
		cudaStreamSynchronize(c->stream);
		if (check_buf(rcv, (size_t)COUNT * (size_t)n, t, want_ag, &w, "allgather", c->rank))
			return -16;
		if (ncclBroadcast(snd, rcv, COUNT, t, n - 1, c->comm, c->stream))
			return -17;
		cudaStreamSynchronize(c->stream);
		if (check_buf(rcv, COUNT, t, want_bcast, &w, "broadcast", c->rank))
			return -18;
		/* A ring shift: send to the next, receive from the previous. */
		ncclGroupStart();
		ncclSend(snd, COUNT, t, (c->rank + 1) % n, c->comm, c->stream);
		ncclRecv(rcv, COUNT, t, (c->rank + n - 1) % n, c->comm, c->stream);
		if (ncclGroupEnd())
			return -19;
		cudaStreamSynchronize(c->stream);
		if (check_buf(rcv, COUNT, t, want_ring, &w, "send/recv", c->rank))
			return -20;
		/* In place: all-reduce and all-gather. */
		if (ncclAllReduce(snd, snd, COUNT, t, ncclMax, c->comm, c->stream))
			return -21;
		cudaStreamSynchronize(c->stream);
		w.op = ncclMax;
		if (check_buf(snd, COUNT, t, want_reduce, &w, "allreduce in place", c->rank))
			return -22;
		cudaFree(snd);
		cudaFree(rcv);
	}
	return fini_comm(c);
}

static void test_collectives(void **state)
{
	(void)state;
	for (int n = 2; n <= 5; n++)
		assert_int_equal(run_ranks(n, NULL, coll_rank, NULL, NULL), 0);
}

/* Averages and rounding: fp16 and bf16 results are rounded to nearest
 * even, as on the GPU. */
static int round_rank(struct rank_ctx *c)
{
	int rc = init_comm(c, 1);
	if (rc)
		return rc;
	/* fp16: 2048 + 1 = 2049 is a tie -> 2048; 2048 + 3 = 2051 -> 2052.
	 * bf16: 256 + 1 -> 256; 256 + 3 = 259 -> 260. */
	uint16_t h[4], out[4];
	uint16_t half2048 = 0x6800, half1 = 0x3c00, half3 = 0x4200;
	uint16_t bf256 = 0x4380, bf1 = 0x3f80, bf3 = 0x4040;
	h[0] = c->rank ? half1 : half2048;
	h[1] = c->rank ? half3 : half2048;
	h[2] = c->rank ? bf1 : bf256;
	h[3] = c->rank ? bf3 : bf256;
	void *d;
	cudaMalloc(&d, sizeof(h));
	cudaMemcpy(d, h, sizeof(h), cudaMemcpyHostToDevice);
	ncclAllReduce(d, d, 2, ncclFloat16, ncclSum, c->comm, c->stream);
	ncclAllReduce((uint16_t *)d + 2, (uint16_t *)d + 2, 2, ncclBfloat16, ncclSum, c->comm,
	              c->stream);
	cudaStreamSynchronize(c->stream);
	cudaMemcpy(out, d, sizeof(out), cudaMemcpyDeviceToHost);
	if (get(out, 0, ncclFloat16) != 2048 || get(out, 1, ncclFloat16) != 2052 ||
	    get(out, 2, ncclBfloat16) != 256 || get(out, 3, ncclBfloat16) != 260) {
		fprintf(stderr, "rounding: %g %g %g %g\n", get(out, 0, ncclFloat16),
		        get(out, 1, ncclFloat16), get(out, 2, ncclBfloat16),
		        get(out, 3, ncclBfloat16));
		return -30;
	}
	/* Avg over 2 ranks: int32 (7 + 2) / 2 = 4; float 4.5; fp16 4.5. */
	int32_t iv = c->rank ? 2 : 7, io;
	float fv = (float)iv, fo;
	uint16_t hv = small_to_half(iv), ho;
	void *di, *df, *dh;
	cudaMalloc(&di, 4);
	cudaMalloc(&df, 4);
	cudaMalloc(&dh, 2);
	cudaMemcpy(di, &iv, 4, cudaMemcpyHostToDevice);
	cudaMemcpy(df, &fv, 4, cudaMemcpyHostToDevice);
	cudaMemcpy(dh, &hv, 2, cudaMemcpyHostToDevice);
	ncclAllReduce(di, di, 1, ncclInt32, ncclAvg, c->comm, c->stream);
	ncclAllReduce(df, df, 1, ncclFloat32, ncclAvg, c->comm, c->stream);
	ncclAllReduce(dh, dh, 1, ncclFloat16, ncclAvg, c->comm, c->stream);
	cudaStreamSynchronize(c->stream);
	cudaMemcpy(&io, di, 4, cudaMemcpyDeviceToHost);
	cudaMemcpy(&fo, df, 4, cudaMemcpyDeviceToHost);
	cudaMemcpy(&ho, dh, 2, cudaMemcpyDeviceToHost);
	if (io != 4 || fo != 4.5f || get(&ho, 0, ncclFloat16) != 4.5) {
		fprintf(stderr, "avg: %d %g %g\n", io, fo, get(&ho, 0, ncclFloat16));
		return -31;
	}
	cudaFree(d);
	cudaFree(di);
	cudaFree(df);
	cudaFree(dh);
	return fini_comm(c);
}

static void test_rounding_avg(void **state)
{
	(void)state;
	assert_int_equal(run_ranks(2, NULL, round_rank, NULL, NULL), 0);
}

/* Two ranks of one communicator on one device. */
static int same_dev_rank(struct rank_ctx *c)
{
	ncclResult_t r = ncclCommInitRank(&c->comm, c->nranks, c->id, c->rank);
	if (r != ncclInvalidUsage) {
		fprintf(stderr, "rank %d: init answered %d, not ncclInvalidUsage\n", c->rank, r);
		return -40;
	}
	if (!strstr(ncclGetLastError(NULL), "same device"))
		return -41;
	return 0;
}

static void test_same_device(void **state)
{
	(void)state;
	int devs[3] = {4, 5, 4};
	assert_int_equal(run_ranks(3, devs, same_dev_rank, NULL, NULL), 0);
}

/* A rank that joins twice, or with another rank count, is refused at
 * once; the rank it collides with waits on (until aborted). */
static int twice_rank(struct rank_ctx *c)
{
	ncclConfig_t cfg = NCCL_CONFIG_INITIALIZER;
	cfg.blocking = 0;
	if (c->rank == 0) {
		ncclResult_t r = ncclCommInitRankConfig(&c->comm, 2, c->id, 0, &cfg);
		usleep(300000);
		ncclCommGetAsyncError(c->comm, &r);
		if (r != ncclInProgress)
			return -100;
		return ncclCommAbort(c->comm) == ncclSuccess ? 0 : -101;
	}
	usleep(100000);
	ncclComm_t dup, other;
	/* Rank 0 again; then a rank of a 3-rank communicator. */
	if (ncclCommInitRank(&dup, 2, c->id, 0) != ncclInvalidUsage ||
	    !strstr(ncclGetLastError(NULL), "twice"))
		return -102;
	if (ncclCommInitRank(&other, 3, c->id, 1) != ncclInvalidUsage ||
	    !strstr(ncclGetLastError(NULL), "rank 1 of 3 joined a communicator of 2"))
		return -103;
	return 0;
}

static void test_join_twice(void **state)
{
	(void)state;
	assert_int_equal(run_ranks(2, NULL, twice_rank, NULL, NULL), 0);
}

/* A send whose size does not match the receive fails both sides' async
 * error instead of corrupting memory. */
static int mismatch_rank(struct rank_ctx *c)
{
	int rc = init_comm(c, 0);
	if (rc)
		return rc;
	void *b;
	cudaMalloc(&b, 64);
	if (c->rank == 0)
		ncclSend(b, 16, ncclInt32, 1, c->comm, c->stream);
	else
		ncclRecv(b, 8, ncclInt32, 0, c->comm, c->stream);
	cudaStreamSynchronize(c->stream);
	ncclResult_t ae = ncclSuccess;
	double dl = now_s() + 10;
	while (c->rank == 1 && ae == ncclSuccess && now_s() < dl) {
		ncclCommGetAsyncError(c->comm, &ae);
		usleep(1000);
	}
	if (c->rank == 1 && ae != ncclInvalidUsage)
		return -60;
	if (ncclAllReduce(b, b, 1, ncclInt32, ncclSum, c->comm, c->stream) == ncclSuccess &&
	    c->rank == 1)
		return -61;
	if (ncclCommAbort(c->comm) != ncclSuccess)
		return -62;
	cudaFree(b);
	cudaStreamDestroy(c->stream);
	return 0;
}

static void test_mismatch(void **state)
{
	(void)state;
	assert_int_equal(run_ranks(2, NULL, mismatch_rank, NULL, NULL), 0);
}

/* ---------------------------------------------------------------------------
 * Ranks in separate processes.
 * ------------------------------------------------------------------------- */

static int proc_rank(int rank, int n, int fd_in, const int *fd_out)
{
	/* Rank 0 makes the id and hands it to the others, as a launcher's
	 * broadcast would; nothing is forked after a thread exists. */
	ncclUniqueId id;
	if (rank == 0) {
		if (ncclGetUniqueId(&id) != ncclSuccess)
			return 4;
		for (int i = 1; i < n; i++)
			if (write(fd_out[i], &id, sizeof(id)) != (ssize_t)sizeof(id))
				return 5;
	} else {
		struct pollfd p = {.fd = fd_in, .events = POLLIN};
		if (poll(&p, 1, 30000) != 1 || read(fd_in, &id, sizeof(id)) != (ssize_t)sizeof(id))
			return 6;
	}
	struct rank_ctx c = {.rank = rank, .nranks = n, .device = 0, .id = id};
	/* Each process has device 0 of its own host: NCCL_HOSTID tells them
	 * apart, as hosts of a cluster would be. */
	char host[32];
	snprintf(host, sizeof(host), "host%d", rank);
	setenv("NCCL_HOSTID", host, 1);
	if (init_comm(&c, 1))
		return 1;
	int *d, out[COUNT];
	cudaMalloc((void **)&d, sizeof(out));
	for (int i = 0; i < COUNT; i++)
		out[i] = val(rank, (size_t)i);
	cudaMemcpy(d, out, sizeof(out), cudaMemcpyHostToDevice);
	ncclAllReduce(d, d, COUNT, ncclInt32, ncclSum, c.comm, c.stream);
	cudaMemcpyAsync(out, d, sizeof(out), cudaMemcpyDeviceToHost, c.stream);
	cudaStreamSynchronize(c.stream);
	for (int i = 0; i < COUNT; i++)
		if (out[i] != (int)expect_reduce(n, (size_t)i, ncclSum))
			return 2;
	return fini_comm(&c) ? 3 : 0;
}

static void test_processes(void **state)
{
	(void)state;
	const int n = 3;
	int pipes[3][2], wr[3] = {-1, -1, -1};
	for (int i = 0; i < n; i++) {
		assert_int_equal(pipe(pipes[i]), 0);
		wr[i] = pipes[i][1];
	}
	pid_t pids[3];
	for (int i = 0; i < n; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0)
			_exit(proc_rank(i, n, pipes[i][0], wr));
	}
	for (int i = 0; i < n; i++) {
		close(pipes[i][0]);
		close(pipes[i][1]);
	}
	double dl = now_s() + 60;
	for (int i = 0; i < n; i++) {
		int st = -1;
		while (waitpid(pids[i], &st, WNOHANG) == 0) {
			if (now_s() > dl) {
				for (int j = 0; j < n; j++)
					kill(pids[j], SIGKILL);
				fail_msg("rank processes did not finish within 60 s");
			}
			usleep(10000);
		}
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 0);
	}
}

/* CUDA_VISIBLE_DEVICES=3,1,1,0 over 4 devices: the list ends at the
 * repeated 1, and ordinals name the listed physical devices.  And
 * FSC_CUDADOUBLE_FILL. */
static void test_visible(void **state)
{
	(void)state;
	int n = 0;
	assert_int_equal(cudaGetDeviceCount(&n), cudaSuccess);
	assert_int_equal(n, 2);
	char bus[32];
	assert_int_equal(cudaDeviceGetPCIBusId(bus, sizeof(bus), 0), cudaSuccess);
	assert_string_equal(bus, "00000000:1B:00.0");
	assert_int_equal(cudaDeviceGetPCIBusId(bus, sizeof(bus), 1), cudaSuccess);
	assert_string_equal(bus, "00000000:19:00.0");
	assert_int_equal(cudaSetDevice(2), cudaErrorInvalidDevice);
	/* FSC_CUDADOUBLE_FILL=0xA5: new allocations, device and pinned. */
	unsigned char *d, *h, out[300];
	assert_int_equal(cudaMalloc((void **)&d, sizeof(out)), cudaSuccess);
	assert_int_equal(cudaMallocHost((void **)&h, 3), cudaSuccess);
	assert_int_equal(cudaMemcpy(out, d, sizeof(out), cudaMemcpyDeviceToHost), cudaSuccess);
	assert_int_equal(out[0], 0xa5);
	assert_int_equal(out[299], 0xa5);
	assert_int_equal(h[2], 0xa5);
	cudaFree(d);
	cudaFreeHost(h);
}

/* ---------------------------------------------------------------------------
 * Stream asynchrony (FSC_CUDADOUBLE_STREAM_DELAY_US=200000): work is not
 * done when the call returns, and only synchronization makes it visible.
 * ------------------------------------------------------------------------- */

static void test_async_copy(void **state)
{
	(void)state;
	cudaStream_t nb, bl;
	char *d, host[64], out[64];
	assert_int_equal(cudaStreamCreateWithFlags(&nb, cudaStreamNonBlocking), cudaSuccess);
	assert_int_equal(cudaStreamCreate(&bl), cudaSuccess);
	assert_int_equal(cudaMalloc((void **)&d, 64), cudaSuccess);
	assert_int_equal(cudaMemset(d, 1, 64), cudaSuccess);

	/* A non-blocking stream: a synchronous copy on the default stream does
	 * not wait for it and reads the old data. */
	memset(host, 2, sizeof(host));
	assert_int_equal(cudaMemcpyAsync(d, host, 64, cudaMemcpyHostToDevice, nb), cudaSuccess);
	assert_int_equal(cudaStreamQuery(nb), cudaErrorNotReady);
	assert_int_equal(cudaMemcpy(out, d, 64, cudaMemcpyDeviceToHost), cudaSuccess);
	assert_int_equal(out[0], 1);
	assert_int_equal(cudaStreamSynchronize(nb), cudaSuccess);
	assert_int_equal(cudaMemcpy(out, d, 64, cudaMemcpyDeviceToHost), cudaSuccess);
	assert_int_equal(out[0], 2);

	/* A blocking stream: the default stream waits for it. */
	memset(host, 3, sizeof(host));
	assert_int_equal(cudaMemcpyAsync(d, host, 64, cudaMemcpyHostToDevice, bl), cudaSuccess);
	assert_int_equal(cudaMemcpy(out, d, 64, cudaMemcpyDeviceToHost), cudaSuccess);
	assert_int_equal(out[0], 3);

	/* An asynchronous copy to the host is not there before the event. */
	cudaEvent_t e;
	assert_int_equal(cudaEventCreate(&e), cudaSuccess);
	memset(out, 0, sizeof(out));
	assert_int_equal(cudaMemcpyAsync(out, d, 64, cudaMemcpyDeviceToHost, nb), cudaSuccess);
	assert_int_equal(cudaEventRecord(e, nb), cudaSuccess);
	assert_int_equal(cudaEventQuery(e), cudaErrorNotReady);
	assert_int_equal(out[0], 0);
	assert_int_equal(cudaEventSynchronize(e), cudaSuccess);
	assert_int_equal(out[0], 3);
	cudaEventDestroy(e);
	/* Destroying a stream with work queued: the work still runs. */
	memset(host, 4, sizeof(host));
	assert_int_equal(cudaMemcpyAsync(d, host, 64, cudaMemcpyHostToDevice, nb), cudaSuccess);
	assert_int_equal(cudaStreamDestroy(nb), cudaSuccess);
	assert_int_equal(cudaDeviceSynchronize(), cudaSuccess);
	assert_int_equal(cudaMemcpy(out, d, 64, cudaMemcpyDeviceToHost), cudaSuccess);
	assert_int_equal(out[0], 4);
	cudaStreamDestroy(bl);
	cudaFree(d);
}

static void test_async_nccl(void **state)
{
	(void)state;
	ncclUniqueId id;
	ncclComm_t c;
	cudaStream_t s;
	int *a, *b, host[8] = {5, 5, 5, 5, 5, 5, 5, 5}, out[8];
	assert_int_equal(ncclGetUniqueId(&id), ncclSuccess);
	assert_int_equal(ncclCommInitRank(&c, 1, id, 0), ncclSuccess);
	assert_int_equal(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), cudaSuccess);
	cudaMalloc((void **)&a, sizeof(host));
	cudaMalloc((void **)&b, sizeof(host));
	cudaMemcpy(a, host, sizeof(host), cudaMemcpyHostToDevice);
	cudaMemset(b, 0, sizeof(host));
	assert_int_equal(ncclAllReduce(a, b, 8, ncclInt32, ncclSum, c, s), ncclSuccess);
	/* Read without synchronizing the stream: stale. */
	assert_int_equal(cudaMemcpy(out, b, sizeof(out), cudaMemcpyDeviceToHost), cudaSuccess);
	assert_int_equal(out[0], 0);
	assert_int_equal(cudaStreamSynchronize(s), cudaSuccess);
	assert_int_equal(cudaMemcpy(out, b, sizeof(out), cudaMemcpyDeviceToHost), cudaSuccess);
	assert_int_equal(out[7], 5);
	assert_int_equal(ncclCommDestroy(c), ncclSuccess);
	cudaStreamDestroy(s);
	cudaFree(a);
	cudaFree(b);
}

/* ---------------------------------------------------------------------------
 * Faults.
 * ------------------------------------------------------------------------- */

/* FSC_CUDADOUBLE_HANG=1:2: rank 1's second operation never completes; the
 * stream stays busy on both ranks until the abort, which frees it. */
static int hang_rank(struct rank_ctx *c)
{
	int rc = init_comm(c, 0);
	if (rc)
		return rc;
	float *b;
	cudaMalloc((void **)&b, 1024 * sizeof(float));
	if (ncclAllReduce(b, b, 1024, ncclFloat32, ncclSum, c->comm, c->stream) ||
	    cudaStreamSynchronize(c->stream))
		return -70;
	if (ncclAllReduce(b, b, 1024, ncclFloat32, ncclSum, c->comm, c->stream))
		return -71;
	usleep(300000);
	if (cudaStreamQuery(c->stream) != cudaErrorNotReady)
		return -72;
	ncclResult_t ae = ncclInternalError;
	if (ncclCommGetAsyncError(c->comm, &ae) || (c->rank == 1 && ae != ncclSuccess))
		return -73;
	double t0 = now_s();
	if (ncclCommAbort(c->comm) != ncclSuccess)
		return -74;
	if (cudaStreamSynchronize(c->stream) != cudaSuccess)
		return -75;
	if (now_s() - t0 > 5)
		return -76;
	if (ncclAllReduce(b, b, 1, ncclFloat32, ncclSum, c->comm, c->stream) != ncclInvalidArgument)
		return -77;
	if (ncclCommAbort(c->comm) != ncclInvalidArgument)
		return -78;
	cudaStreamDestroy(c->stream);
	cudaFree(b);
	return 0;
}

static void test_hang(void **state)
{
	(void)state;
	assert_int_equal(run_ranks(2, NULL, hang_rank, NULL, NULL), 0);
}

/* FSC_CUDADOUBLE_NEVER_JOIN=2: ranks 0 and 1 stay in progress until the
 * caller gives up and aborts; so does rank 2 itself. */
static int nojoin_rank(struct rank_ctx *c)
{
	ncclConfig_t cfg = NCCL_CONFIG_INITIALIZER;
	cfg.blocking = 0;
	if (ncclCommInitRankConfig(&c->comm, c->nranks, c->id, c->rank, &cfg) != ncclInProgress)
		return -80;
	double dl = now_s() + 0.5;
	ncclResult_t ae = ncclInProgress;
	while (now_s() < dl && ae == ncclInProgress) {
		if (ncclCommGetAsyncError(c->comm, &ae))
			return -81;
		usleep(5000);
	}
	if (ae != ncclInProgress)
		return -82;
	int n;
	if (ncclCommCount(c->comm, &n) != ncclInvalidArgument)
		return -83;
	if (ncclCommDestroy(c->comm) != ncclInvalidArgument)
		return -84;
	double t0 = now_s();
	if (ncclCommAbort(c->comm) != ncclSuccess)
		return -85;
	if (now_s() - t0 > 2)
		return -86;
	if (ncclCommGetAsyncError(c->comm, &ae) != ncclInvalidArgument)
		return -87;
	return 0;
}

static void test_never_join(void **state)
{
	(void)state;
	assert_int_equal(run_ranks(3, NULL, nojoin_rank, NULL, NULL), 0);
}

/* With FSC_CUDADOUBLE_TIMEOUT_S=2, a blocking init missing a rank gives up
 * with ncclSystemError and leaves no communicator. */
static int nojoin_blocking_rank(struct rank_ctx *c)
{
	c->comm = (ncclComm_t)&c->rc;
	ncclResult_t r = ncclCommInitRank(&c->comm, c->nranks, c->id, c->rank);
	if (r != ncclSystemError || c->comm != NULL)
		return -90;
	return 0;
}

static void test_never_join_blocking(void **state)
{
	(void)state;
	double t0 = now_s();
	assert_int_equal(run_ranks(3, NULL, nojoin_blocking_rank, NULL, NULL), 0);
	assert_true(now_s() - t0 < 10);
}

/* FSC_CUDADOUBLE_STALL_INIT=1,2 (FSC_CUDADOUBLE_TIMEOUT_S=1): ranks 1 and 2
 * are stuck inside their init call for the stand-in's bound and then fail
 * with no communicator; ranks 0 and 3 stay in progress meanwhile. */
static int stall_rank(struct rank_ctx *c)
{
	ncclConfig_t cfg = NCCL_CONFIG_INITIALIZER;
	cfg.blocking = 0;
	c->comm = NULL;
	double t0 = now_s();
	ncclResult_t r = ncclCommInitRankConfig(&c->comm, c->nranks, c->id, c->rank, &cfg);
	if (c->rank == 1 || c->rank == 2) {
		if (r != ncclSystemError || c->comm != NULL)
			return -100;
		if (now_s() - t0 < 0.9)
			return -101;
		if (!strstr(ncclGetLastError(NULL), "stalled in ncclCommInitRank"))
			return -102;
		return 0;
	}
	if (r != ncclInProgress)
		return -103;
	ncclResult_t ae = ncclInProgress;
	while (now_s() - t0 < 0.7 && ae == ncclInProgress) {
		if (ncclCommGetAsyncError(c->comm, &ae))
			return -104;
		usleep(5000);
	}
	if (ae != ncclInProgress)
		return -105;
	return ncclCommAbort(c->comm) == ncclSuccess ? 0 : -106;
}

static void test_stall_init(void **state)
{
	(void)state;
	assert_int_equal(run_ranks(4, NULL, stall_rank, NULL, NULL), 0);
}

/* NCCL_DEBUG=INFO, NCCL_DEBUG_FILE=<dir>/cudadouble-debug.%h.%p.log: the
 * version once, each rank's set-up, and a refusal as a WARN line, in the
 * file named with this host (up to its first dot) and process id. */
static int debug_rank(struct rank_ctx *c)
{
	int rc = init_comm(c, 1);
	if (rc)
		return rc;
	if (c->rank == 1 &&
	    ncclAllReduce(NULL, NULL, 4, ncclInt32, ncclSum, c->comm, c->stream) != ncclInvalidArgument)
		return -110;
	return ncclCommDestroy(c->comm) == ncclSuccess ? 0 : -111;
}

static void test_debug_file(void **state)
{
	(void)state;
	const char *pat = getenv("NCCL_DEBUG_FILE");
	assert_non_null(pat);
	assert_int_equal(run_ranks(2, NULL, debug_rank, NULL, NULL), 0);
	char host[256] = "", path[4096], line[512];
	gethostname(host, sizeof(host) - 1);
	host[strcspn(host, ".")] = 0;
	const char *h = strstr(pat, "%h");
	assert_non_null(h);
	snprintf(path, sizeof(path), "%.*s%s.%d.log", (int)(h - pat), pat, host, (int)getpid());
	FILE *fp = fopen(path, "r");
	assert_non_null(fp);
	int version = 0, init = 0, warn = 0;
	while (fgets(line, sizeof(line), fp)) {
		version += !strncmp(line, "NCCL version 2.28.9", 19);
		init += strstr(line, " NCCL INFO ") && strstr(line, "Init COMPLETE");
		warn += strstr(line, " NCCL WARN ") != NULL;
	}
	fclose(fp);
	unlink(path);
	assert_int_equal(version, 1);
	assert_int_equal(init, 2);
	assert_true(warn >= 1);
}

/* FSC_CUDADOUBLE_FLIP=1: rank 1's first result has its first byte
 * inverted; rank 0's is intact, and so is rank 1's second. */
static int flip_rank(struct rank_ctx *c)
{
	int rc = init_comm(c, 1);
	if (rc)
		return rc;
	uint8_t *d, out[16];
	cudaMalloc((void **)&d, 16);
	cudaMemset(d, 1, 16);
	for (int k = 0; k < 2; k++) {
		ncclAllReduce(d, d, 16, ncclUint8, ncclSum, c->comm, c->stream);
		cudaStreamSynchronize(c->stream);
		cudaMemcpy(out, d, 16, cudaMemcpyDeviceToHost);
		/* Rank 1's first result starts 2 ^ 0xff = 253, which its
		 * second sum carries to both ranks: 2 + 253. */
		uint8_t want0 = k == 0 ? (c->rank == 1 ? 253 : 2) : 255;
		if (out[0] != want0 || out[15] != (k == 0 ? 2 : 4)) {
			fprintf(stderr, "flip: rank %d op %d: %u %u\n", c->rank, k, out[0],
			        out[15]);
			return -95;
		}
	}
	cudaFree(d);
	return fini_comm(c);
}

static void test_flip(void **state)
{
	(void)state;
	assert_int_equal(run_ranks(2, NULL, flip_rank, NULL, NULL), 0);
}

/* FSC_CUDADOUBLE_TIMEOUT_S=1 and a stream delay of 1.5 s: every
 * synchronization gives up with cudaErrorLaunchTimeout. */
static void test_sync_timeout(void **state)
{
	(void)state;
	cudaStream_t s;
	cudaEvent_t e;
	char *d;
	assert_int_equal(cudaStreamCreate(&s), cudaSuccess);
	assert_int_equal(cudaEventCreate(&e), cudaSuccess);
	assert_int_equal(cudaMalloc((void **)&d, 8), cudaSuccess);
	assert_int_equal(cudaMemsetAsync(d, 0, 8, s), cudaSuccess);
	assert_int_equal(cudaEventRecord(e, s), cudaSuccess);
	assert_int_equal(cudaStreamSynchronize(s), cudaErrorLaunchTimeout);
	assert_int_equal(cudaEventSynchronize(e), cudaErrorLaunchTimeout);
	assert_int_equal(cudaGetLastError(), cudaErrorLaunchTimeout);
	usleep(1600000);
	assert_int_equal(cudaDeviceSynchronize(), cudaSuccess);
	assert_int_equal(cudaEventQuery(e), cudaSuccess);
}

/* FSC_CUDADOUBLE_DEVICES=abc FSC_CUDADOUBLE_HANG=x: one line each on
 * stderr, and the calls fail. */
static void test_bad_env(void **state)
{
	(void)state;
	FILE *err = tmpfile();
	assert_non_null(err);
	int saved = dup(2);
	dup2(fileno(err), 2);
	int n;
	ncclUniqueId id;
	cudaError_t ce = cudaGetDeviceCount(&n);
	ncclResult_t ne = ncclGetUniqueId(&id);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	assert_int_equal(ce, cudaErrorInitializationError);
	assert_int_equal(ne, ncclInvalidArgument);
	assert_int_equal(cudaMalloc((void **)&id, 8), cudaErrorInitializationError);
	char text[1024] = "";
	rewind(err);
	size_t k = fread(text, 1, sizeof(text) - 1, err);
	text[k] = 0;
	fclose(err);
	assert_non_null(strstr(text, "FSC_CUDADOUBLE_DEVICES=abc is not valid: expected an "
	                             "integer 0..16\n"));
	assert_non_null(strstr(text, "FSC_CUDADOUBLE_HANG=x is not valid: expected RANK[:NTH]"));
	assert_non_null(strstr(text, "FSC_CUDADOUBLE_STALL_INIT=1,x is not valid: expected ranks "
	                             "0..1023 separated by commas\n"));
}

/* ---------------------------------------------------------------------------
 * Groups and main.
 * ------------------------------------------------------------------------- */

static const struct CMUnitTest core_tests[] = {
        cmocka_unit_test(test_devices),        cmocka_unit_test(test_memory),
        cmocka_unit_test(test_streams_events), cmocka_unit_test(test_dlopen),
        cmocka_unit_test(test_nccl_basics),    cmocka_unit_test(test_collectives),
        cmocka_unit_test(test_rounding_avg),   cmocka_unit_test(test_same_device),
        cmocka_unit_test(test_mismatch),       cmocka_unit_test(test_join_twice),
};

static const struct CMUnitTest visible_tests[] = {
        cmocka_unit_test(test_visible),
};

static const struct CMUnitTest procs_tests[] = {
        cmocka_unit_test(test_processes),
};

static const struct CMUnitTest delay_tests[] = {
        cmocka_unit_test(test_async_copy),
        cmocka_unit_test(test_async_nccl),
};

static const struct CMUnitTest hang_tests[] = {
        cmocka_unit_test(test_hang),
};

static const struct CMUnitTest nojoin_tests[] = {
        cmocka_unit_test(test_never_join),
        cmocka_unit_test(test_never_join_blocking),
};

static const struct CMUnitTest debug_tests[] = {
        cmocka_unit_test(test_debug_file),
};

static const struct CMUnitTest stall_tests[] = {
        cmocka_unit_test(test_stall_init),
};

static const struct CMUnitTest flip_tests[] = {
        cmocka_unit_test(test_flip),
};

static const struct CMUnitTest timeout_tests[] = {
        cmocka_unit_test(test_sync_timeout),
};

static const struct CMUnitTest badenv_tests[] = {
        cmocka_unit_test(test_bad_env),
};

static const struct {
	const char *name;
	const struct CMUnitTest *tests;
	size_t n;
} groups[] = {
#define GROUP(g)                                                                                   \
	{                                                                                          \
#g, g##_tests, sizeof(g##_tests) / sizeof(g##_tests[0])                            \
	}
        GROUP(core),   GROUP(procs), GROUP(visible), GROUP(delay),  GROUP(hang),
        GROUP(nojoin), GROUP(stall), GROUP(debug), GROUP(flip),  GROUP(timeout), GROUP(badenv),
};

int main(int argc, char **argv)
{
	const char *g = argc > 1 ? argv[1] : "core";
	for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
		if (!strcmp(g, groups[i].name))
			return _cmocka_run_group_tests(groups[i].name, groups[i].tests, groups[i].n,
			                               NULL, NULL);
	fprintf(stderr,
	        "test_cudadouble: group '%s' is not valid: expected core, procs, "
	        "visible, delay, hang, nojoin, stall, debug, flip, timeout or badenv\n",
	        g);
	return 2;
}
