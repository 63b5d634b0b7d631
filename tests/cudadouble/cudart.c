/* The stand-in CUDA runtime (libcudart.so.13) of tests/cudadouble: devices
 * are names, "device" memory is host memory tracked as device allocations,
 * and every stream is a worker thread that runs the stream's work in order
 * and asynchronously to the caller.  See README.md. */
#include "cudadouble.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

#define MAX_DEVICES 16
#define ALIGN 256
#define STREAM_MAGIC 0x57524d53u
#define EVENT_MAGIC 0x544e5645u

/* ---------------------------------------------------------------------------
 * Configuration from the environment, read once.
 * ------------------------------------------------------------------------- */

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static int g_init_error;           /* a bad variable: every call fails */
static int g_ndev;                 /* visible devices */
static int g_phys[MAX_DEVICES];    /* visible ordinal -> physical index */
static unsigned g_delay_us;        /* FSC_CUDADOUBLE_STREAM_DELAY_US */
static unsigned g_timeout_s = 300; /* FSC_CUDADOUBLE_TIMEOUT_S */
static int g_fill = -1;            /* FSC_CUDADOUBLE_FILL */

static int parse_uint(const char *name, const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 0);
	if (errno || end == s || *end || s[0] == '-' || v > max) {
		fprintf(stderr, "cudadouble: %s=%s is not valid: expected an integer 0..%lu\n",
		        name, s, max);
		return -1;
	}
	*out = v;
	return 0;
}

static void config_once(void)
{
	unsigned long v;
	const char *s = getenv("FSC_CUDADOUBLE_DEVICES");
	int nphys = 1;
	if (s) {
		if (parse_uint("FSC_CUDADOUBLE_DEVICES", s, MAX_DEVICES, &v) < 0)
			g_init_error = 1;
		else
			nphys = (int)v;
	}
	s = getenv("FSC_CUDADOUBLE_STREAM_DELAY_US");
	if (s) {
		if (parse_uint("FSC_CUDADOUBLE_STREAM_DELAY_US", s, 10000000, &v) < 0)
			g_init_error = 1;
		else
			g_delay_us = (unsigned)v;
	}
	s = getenv("FSC_CUDADOUBLE_TIMEOUT_S");
	if (s) {
		if (parse_uint("FSC_CUDADOUBLE_TIMEOUT_S", s, 86400, &v) < 0 || v == 0) {
			if (v == 0)
				fprintf(stderr,
				        "cudadouble: FSC_CUDADOUBLE_TIMEOUT_S=%s is not "
				        "valid: expected 1..86400 seconds\n",
				        s);
			g_init_error = 1;
		} else {
			g_timeout_s = (unsigned)v;
		}
	}
	s = getenv("FSC_CUDADOUBLE_FILL");
	if (s) {
		if (parse_uint("FSC_CUDADOUBLE_FILL", s, 255, &v) < 0)
			g_init_error = 1;
		else
			g_fill = (int)v;
	}
	/* CUDA_VISIBLE_DEVICES: indices, comma separated; the list ends at
	 * the first entry that is not a valid, new index (as CUDA does). */
	s = getenv("CUDA_VISIBLE_DEVICES");
	if (!s) {
		g_ndev = nphys;
		for (int i = 0; i < nphys; i++)
			g_phys[i] = i;
		return;
	}
	g_ndev = 0;
	const char *p = s;
	while (*p && g_ndev < MAX_DEVICES) {
		char *end;
		while (*p == ' ')
			p++;
		long idx = strtol(p, &end, 10);
		if (end == p || idx < 0 || idx >= nphys || (*end && *end != ','))
			break;
		int dup = 0;
		for (int i = 0; i < g_ndev; i++)
			dup |= g_phys[i] == idx;
		if (dup)
			break;
		g_phys[g_ndev++] = (int)idx;
		p = *end ? end + 1 : end;
	}
}

static int config(void)
{
	pthread_once(&g_once, config_once);
	return g_init_error ? -1 : 0;
}

EXPORT unsigned fsc_cudadouble_timeout_s(void)
{
	config();
	return g_timeout_s;
}

EXPORT uint64_t fsc_cudadouble_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---------------------------------------------------------------------------
 * Errors: the last error of the calling thread.
 * ------------------------------------------------------------------------- */

static _Thread_local cudaError_t t_last;
static _Thread_local int t_device;

static cudaError_t fail(cudaError_t e, const char *fmt, ...)
{
	if (getenv("FSC_CUDADOUBLE_DEBUG")) {
		va_list ap;
		va_start(ap, fmt);
		fprintf(stderr, "cudadouble: ");
		vfprintf(stderr, fmt, ap);
		fprintf(stderr, "\n");
		va_end(ap);
	}
	t_last = e;
	return e;
}

#define CHECK_INIT()                                                                               \
	do {                                                                                       \
		if (config() < 0)                                                                  \
			return fail(cudaErrorInitializationError, "bad FSC_CUDADOUBLE_* setting"); \
	} while (0)

static const struct {
	cudaError_t e;
	const char *name, *text;
} g_errors[] = {
        {cudaSuccess, "cudaSuccess", "no error"},
        {cudaErrorInvalidValue, "cudaErrorInvalidValue", "invalid argument"},
        {cudaErrorMemoryAllocation, "cudaErrorMemoryAllocation", "out of memory"},
        {cudaErrorInitializationError, "cudaErrorInitializationError", "initialization error"},
        {cudaErrorCudartUnloading, "cudaErrorCudartUnloading", "driver shutting down"},
        {cudaErrorInvalidConfiguration, "cudaErrorInvalidConfiguration",
         "invalid configuration argument"},
        {cudaErrorInvalidPitchValue, "cudaErrorInvalidPitchValue", "invalid pitch argument"},
        {cudaErrorInvalidDevicePointer, "cudaErrorInvalidDevicePointer", "invalid device pointer"},
        {cudaErrorInvalidMemcpyDirection, "cudaErrorInvalidMemcpyDirection",
         "invalid copy direction for memcpy"},
        {cudaErrorInsufficientDriver, "cudaErrorInsufficientDriver",
         "CUDA driver version is insufficient for CUDA runtime version"},
        {cudaErrorDevicesUnavailable, "cudaErrorDevicesUnavailable",
         "CUDA-capable device(s) is/are busy or unavailable"},
        {cudaErrorNoDevice, "cudaErrorNoDevice", "no CUDA-capable device is detected"},
        {cudaErrorInvalidDevice, "cudaErrorInvalidDevice", "invalid device ordinal"},
        {cudaErrorInvalidResourceHandle, "cudaErrorInvalidResourceHandle",
         "invalid resource handle"},
        {cudaErrorIllegalState, "cudaErrorIllegalState",
         "the operation cannot be performed in the "
         "present state"},
        {cudaErrorNotReady, "cudaErrorNotReady", "device not ready"},
        {cudaErrorIllegalAddress, "cudaErrorIllegalAddress",
         "an illegal memory access was encountered"},
        {cudaErrorLaunchOutOfResources, "cudaErrorLaunchOutOfResources",
         "too many resources requested for launch"},
        {cudaErrorLaunchTimeout, "cudaErrorLaunchTimeout",
         "the launch timed out and was terminated"},
        {cudaErrorContextIsDestroyed, "cudaErrorContextIsDestroyed", "context is destroyed"},
        {cudaErrorLaunchFailure, "cudaErrorLaunchFailure", "unspecified launch failure"},
        {cudaErrorNotPermitted, "cudaErrorNotPermitted", "operation not permitted"},
        {cudaErrorNotSupported, "cudaErrorNotSupported", "operation not supported"},
        {cudaErrorTimeout, "cudaErrorTimeout", "timeout occurred"},
        {cudaErrorUnknown, "cudaErrorUnknown", "unknown error"},
};

EXPORT const char *cudaGetErrorName(cudaError_t error)
{
	for (size_t i = 0; i < sizeof(g_errors) / sizeof(g_errors[0]); i++)
		if (g_errors[i].e == error)
			return g_errors[i].name;
	return "cudaErrorUnknown";
}

EXPORT const char *cudaGetErrorString(cudaError_t error)
{
	for (size_t i = 0; i < sizeof(g_errors) / sizeof(g_errors[0]); i++)
		if (g_errors[i].e == error)
			return g_errors[i].text;
	return "unrecognized error code";
}

EXPORT cudaError_t cudaGetLastError(void)
{
	cudaError_t e = t_last;
	t_last = cudaSuccess;
	return e;
}

EXPORT cudaError_t cudaPeekAtLastError(void)
{
	return t_last;
}

/* ---------------------------------------------------------------------------
 * Devices.
 * ------------------------------------------------------------------------- */

EXPORT cudaError_t cudaGetDeviceCount(int *count)
{
	CHECK_INIT();
	if (!count)
		return fail(cudaErrorInvalidValue, "cudaGetDeviceCount: count is NULL");
	*count = g_ndev;
	if (g_ndev == 0)
		return fail(cudaErrorNoDevice, "no visible device");
	return cudaSuccess;
}

static cudaError_t check_device(int device)
{
	if (g_ndev == 0)
		return fail(cudaErrorNoDevice, "no visible device");
	if (device < 0 || device >= g_ndev)
		return fail(cudaErrorInvalidDevice, "device %d is not valid: expected 0..%d",
		            device, g_ndev - 1);
	return cudaSuccess;
}

EXPORT cudaError_t cudaSetDevice(int device)
{
	CHECK_INIT();
	cudaError_t e = check_device(device);
	if (e)
		return e;
	t_device = device;
	return cudaSuccess;
}

EXPORT cudaError_t cudaGetDevice(int *device)
{
	CHECK_INIT();
	if (!device)
		return fail(cudaErrorInvalidValue, "cudaGetDevice: device is NULL");
	if (g_ndev == 0)
		return fail(cudaErrorNoDevice, "no visible device");
	*device = t_device;
	return cudaSuccess;
}

EXPORT int fsc_cudadouble_current_device(void)
{
	return t_device;
}

static void busid_of(int phys, char *out, size_t len)
{
	snprintf(out, len, "00000000:%02X:00.0", 0x18 + phys);
}

EXPORT int fsc_cudadouble_physical(int device, char busid[32])
{
	if (config() < 0 || device < 0 || device >= g_ndev)
		return -1;
	busid_of(g_phys[device], busid, 32);
	return g_phys[device];
}

EXPORT cudaError_t cudaDeviceGetPCIBusId(char *pciBusId, int len, int device)
{
	CHECK_INIT();
	cudaError_t e = check_device(device);
	if (e)
		return e;
	if (!pciBusId || len <= 0)
		return fail(cudaErrorInvalidValue, "cudaDeviceGetPCIBusId: no buffer");
	char id[32];
	busid_of(g_phys[device], id, sizeof(id));
	snprintf(pciBusId, (size_t)len, "%s", id);
	return cudaSuccess;
}

EXPORT cudaError_t cudaGetDeviceProperties(struct cudaDeviceProp *prop, int device)
{
	CHECK_INIT();
	if (!prop)
		return fail(cudaErrorInvalidValue, "cudaGetDeviceProperties: prop is NULL");
	cudaError_t e = check_device(device);
	if (e)
		return e;
	int phys = g_phys[device];
	memset(prop, 0, sizeof(*prop));
	snprintf(prop->name, sizeof(prop->name), "fabscope cudadouble %d", phys);
	memcpy(prop->uuid.bytes, "cudadouble-gpu", 14);
	prop->uuid.bytes[15] = (char)phys;
	prop->totalGlobalMem = (size_t)16 << 30;
	prop->warpSize = 32;
	prop->major = 9;
	prop->minor = 0;
	prop->multiProcessorCount = 4;
	prop->pciDomainID = 0;
	prop->pciBusID = 0x18 + phys;
	prop->pciDeviceID = 0;
	prop->unifiedAddressing = 1;
	prop->concurrentKernels = 1;
	prop->asyncEngineCount = 2;
	return cudaSuccess;
}

EXPORT cudaError_t cudaDriverGetVersion(int *driverVersion)
{
	if (!driverVersion)
		return fail(cudaErrorInvalidValue, "cudaDriverGetVersion: NULL");
	*driverVersion = 13000;
	return cudaSuccess;
}

EXPORT cudaError_t cudaRuntimeGetVersion(int *runtimeVersion)
{
	if (!runtimeVersion)
		return fail(cudaErrorInvalidValue, "cudaRuntimeGetVersion: NULL");
	*runtimeVersion = CUDART_VERSION;
	return cudaSuccess;
}

/* ---------------------------------------------------------------------------
 * The global lock: allocations, streams and events, and one condition
 * variable every state change broadcasts on.
 * ------------------------------------------------------------------------- */

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv;
static pthread_once_t g_cv_once = PTHREAD_ONCE_INIT;

static void cv_init(void)
{
	pthread_condattr_t a;
	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&g_cv, &a);
	pthread_condattr_destroy(&a);
}

static void lock(void)
{
	pthread_once(&g_cv_once, cv_init);
	pthread_mutex_lock(&g_mu);
}

static void unlock(void)
{
	pthread_mutex_unlock(&g_mu);
}

static void deadline_in(struct timespec *ts, unsigned s)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += s;
}

/* Wait on g_cv (held) until the deadline; -1 once it has passed. */
static int wait_until(const struct timespec *dl)
{
	return pthread_cond_timedwait(&g_cv, &g_mu, dl) == ETIMEDOUT ? -1 : 0;
}

/* ---------------------------------------------------------------------------
 * Memory.
 * ------------------------------------------------------------------------- */

struct alloc {
	char *base;
	size_t size;
	int device;
	int host; /* cudaMallocHost */
	struct alloc *next;
};
static struct alloc *g_allocs;

static struct alloc *find_alloc(const void *p)
{
	for (struct alloc *a = g_allocs; a; a = a->next)
		if ((const char *)p >= a->base &&
		    (const char *)p < a->base + (a->size ? a->size : 1))
			return a;
	return NULL;
}

/* [p, p + n) lies inside a (p is already known to be in it). */
static int fits(const struct alloc *a, const void *p, size_t n)
{
	size_t off = (size_t)((const char *)p - a->base);
	return n <= a->size && off <= a->size - n;
}

EXPORT int fsc_cudadouble_device_of(const void *ptr, size_t bytes)
{
	int dev = -1;
	lock();
	struct alloc *a = ptr ? find_alloc(ptr) : NULL;
	if (a && !a->host && fits(a, ptr, bytes))
		dev = a->device;
	unlock();
	return dev;
}

static cudaError_t do_alloc(void **p, size_t size, int host)
{
	CHECK_INIT();
	if (!p)
		return fail(cudaErrorInvalidValue, "allocation: result pointer is NULL");
	if (g_ndev == 0)
		return fail(cudaErrorNoDevice, "no visible device");
	if (size == 0) {
		*p = NULL;
		return cudaSuccess;
	}
	if (size > ((size_t)16 << 30))
		return fail(cudaErrorMemoryAllocation, "%zu bytes exceed the 16 GiB device", size);
	size_t rounded = (size + ALIGN - 1) / ALIGN * ALIGN;
	struct alloc *a = malloc(sizeof(*a));
	char *base = aligned_alloc(ALIGN, rounded);
	if (!a || !base) {
		free(a);
		free(base);
		return fail(cudaErrorMemoryAllocation, "out of host memory for %zu bytes", size);
	}
	if (g_fill >= 0)
		memset(base, g_fill, rounded);
	a->base = base;
	a->size = size;
	a->device = t_device;
	a->host = host;
	lock();
	a->next = g_allocs;
	g_allocs = a;
	unlock();
	*p = base;
	return cudaSuccess;
}

static cudaError_t do_free(void *p, int host)
{
	CHECK_INIT();
	if (!p)
		return cudaSuccess;
	if (!host) {
		/* cudaFree synchronizes the device. */
		cudaError_t e = cudaDeviceSynchronize();
		if (e)
			return e;
	}
	lock();
	struct alloc **pp = &g_allocs;
	while (*pp && !((*pp)->base == p && (*pp)->host == host))
		pp = &(*pp)->next;
	struct alloc *a = *pp;
	if (a)
		*pp = a->next;
	unlock();
	if (!a)
		return fail(cudaErrorInvalidValue, "%s(%p): not an allocation of %s",
		            host ? "cudaFreeHost" : "cudaFree", p,
		            host ? "cudaMallocHost" : "cudaMalloc");
	free(a->base);
	free(a);
	return cudaSuccess;
}

EXPORT cudaError_t cudaMalloc(void **devPtr, size_t size)
{
	return do_alloc(devPtr, size, 0);
}

EXPORT cudaError_t cudaFree(void *devPtr)
{
	return do_free(devPtr, 0);
}

EXPORT cudaError_t cudaMallocHost(void **ptr, size_t size)
{
	return do_alloc(ptr, size, 1);
}

EXPORT cudaError_t cudaFreeHost(void *ptr)
{
	return do_free(ptr, 1);
}

EXPORT cudaError_t cudaPointerGetAttributes(struct cudaPointerAttributes *attributes,
                                            const void *ptr)
{
	CHECK_INIT();
	if (!attributes)
		return fail(cudaErrorInvalidValue, "cudaPointerGetAttributes: attributes is NULL");
	memset(attributes, 0, sizeof(*attributes));
	lock();
	struct alloc *a = ptr ? find_alloc(ptr) : NULL;
	if (!a) {
		attributes->type = cudaMemoryTypeUnregistered;
		attributes->device = -2;
		attributes->hostPointer = (void *)ptr;
	} else if (a->host) {
		attributes->type = cudaMemoryTypeHost;
		attributes->device = a->device;
		attributes->devicePointer = (void *)ptr;
		attributes->hostPointer = (void *)ptr;
	} else {
		attributes->type = cudaMemoryTypeDevice;
		attributes->device = a->device;
		attributes->devicePointer = (void *)ptr;
	}
	unlock();
	return cudaSuccess;
}

/* Whether [p, p + n) is device memory (1), lies in a device allocation only
 * in part (-1), or is host memory (0). */
static int is_device_range(const void *p, size_t n)
{
	lock();
	struct alloc *a = find_alloc(p);
	int r = 0;
	if (a && !a->host)
		r = fits(a, p, n) ? 1 : -1;
	unlock();
	return r;
}

/* ---------------------------------------------------------------------------
 * Streams and events.
 * ------------------------------------------------------------------------- */

enum op_kind { OP_COPY, OP_SET, OP_EVENT, OP_WAIT, OP_FN };

struct op {
	struct op *next;
	enum op_kind kind;
	void *dst;
	const void *src;
	size_t n;
	int value;
	struct CUevent_st *ev;
	uint64_t gen;
	struct CUstream_st *wait_on;
	uint64_t wait_seq;
	void (*fn)(void *);
	void *arg;
	int sync; /* a synchronous call's work: FSC_CUDADOUBLE_STREAM_DELAY_US spares it */
};

struct CUstream_st {
	uint32_t magic;
	int device;
	unsigned flags;
	int is_default;
	int destroyed;
	int refs; /* the handle, the worker, waits queued elsewhere */
	struct op *head, *tail;
	uint64_t enq, done;
	pthread_t thr;
	struct CUstream_st *next;
};

struct CUevent_st {
	uint32_t magic;
	unsigned flags;
	int state; /* 0 never recorded, 1 pending, 2 done */
	uint64_t gen;
	uint64_t t_ns;
	int refs;
	int destroyed;
	struct CUevent_st *next;
};

static struct CUstream_st *g_streams;
static struct CUstream_st *g_default[MAX_DEVICES];
static struct CUevent_st *g_events;

/* Held. */
static void stream_unref(struct CUstream_st *s)
{
	if (--s->refs)
		return;
	struct CUstream_st **pp = &g_streams;
	while (*pp && *pp != s)
		pp = &(*pp)->next;
	if (*pp)
		*pp = s->next;
	s->magic = 0;
	free(s);
}

static void event_unref(struct CUevent_st *e)
{
	if (--e->refs)
		return;
	struct CUevent_st **pp = &g_events;
	while (*pp && *pp != e)
		pp = &(*pp)->next;
	if (*pp)
		*pp = e->next;
	e->magic = 0;
	free(e);
}

static void *stream_worker(void *arg)
{
	struct CUstream_st *s = arg;
	lock();
	for (;;) {
		while (!s->head && !s->destroyed)
			pthread_cond_wait(&g_cv, &g_mu);
		if (!s->head)
			break;
		struct op *op = s->head;
		unlock();
		if (g_delay_us && !op->sync)
			usleep(g_delay_us);
		switch (op->kind) {
		case OP_COPY: memmove(op->dst, op->src, op->n); break;
		case OP_SET: memset(op->dst, op->value, op->n); break;
		case OP_FN: op->fn(op->arg); break;
		default: break;
		}
		lock();
		if (op->kind == OP_WAIT) {
			/* A legacy default-stream dependency: bounded only by the
			 * other stream, whose own waits are bounded. */
			while (op->wait_on->done < op->wait_seq)
				pthread_cond_wait(&g_cv, &g_mu);
			stream_unref(op->wait_on);
		} else if (op->kind == OP_EVENT) {
			if (op->ev->gen == op->gen) {
				op->ev->state = 2;
				op->ev->t_ns = fsc_cudadouble_now_ns();
			}
			event_unref(op->ev);
		}
		s->head = op->next;
		if (!s->head)
			s->tail = NULL;
		s->done++;
		free(op);
		pthread_cond_broadcast(&g_cv);
	}
	pthread_detach(pthread_self());
	stream_unref(s);
	unlock();
	return NULL;
}

/* Held. */
static struct CUstream_st *stream_new(int device, unsigned flags, int is_default)
{
	struct CUstream_st *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->magic = STREAM_MAGIC;
	s->device = device;
	s->flags = flags;
	s->is_default = is_default;
	s->refs = 2;
	if (pthread_create(&s->thr, NULL, stream_worker, s)) {
		free(s);
		return NULL;
	}
	s->next = g_streams;
	g_streams = s;
	return s;
}

/* Held: the live stream a handle names (the default stream for NULL and
 * the legacy and per-thread handles), or NULL. */
static struct CUstream_st *resolve(cudaStream_t h)
{
	if (!h || h == cudaStreamLegacy || h == cudaStreamPerThread) {
		int d = t_device;
		if (!g_default[d])
			g_default[d] = stream_new(d, 0, 1);
		return g_default[d];
	}
	for (struct CUstream_st *s = g_streams; s; s = s->next)
		if (s == h && !s->destroyed && s->magic == STREAM_MAGIC)
			return s;
	return NULL;
}

/* Held. */
static void push(struct CUstream_st *s, struct op *op)
{
	op->next = NULL;
	if (s->tail)
		s->tail->next = op;
	else
		s->head = op;
	s->tail = op;
	s->enq++;
}

/* Held: queue op on s after the legacy default stream's implicit
 * dependencies (blocking streams wait for the default stream and the
 * default stream waits for every blocking stream of its device). */
static cudaError_t submit(struct CUstream_st *s, struct op *op)
{
	int fails = 0;
	if (s->is_default) {
		for (struct CUstream_st *t = g_streams; t; t = t->next) {
			if (t == s || t->device != s->device ||
			    (t->flags & cudaStreamNonBlocking) || t->destroyed || t->done >= t->enq)
				continue;
			struct op *w = calloc(1, sizeof(*w));
			if (!w) {
				fails = 1;
				continue;
			}
			w->kind = OP_WAIT;
			w->wait_on = t;
			w->wait_seq = t->enq;
			t->refs++;
			push(s, w);
		}
	} else if (!(s->flags & cudaStreamNonBlocking)) {
		struct CUstream_st *d = g_default[s->device];
		if (d && d->done < d->enq) {
			struct op *w = calloc(1, sizeof(*w));
			if (w) {
				w->kind = OP_WAIT;
				w->wait_on = d;
				w->wait_seq = d->enq;
				d->refs++;
				push(s, w);
			} else {
				fails = 1;
			}
		}
	}
	if (fails) {
		free(op);
		return cudaErrorMemoryAllocation;
	}
	push(s, op);
	pthread_cond_broadcast(&g_cv);
	return cudaSuccess;
}

/* Held: wait for s to have done everything queued up to seq. */
static cudaError_t wait_stream(struct CUstream_st *s, uint64_t seq, const char *what)
{
	struct timespec dl;
	deadline_in(&dl, g_timeout_s);
	while (s->done < seq)
		if (wait_until(&dl) < 0 && s->done < seq) {
			fprintf(stderr,
			        "cudadouble: %s: stream work still running after %u s "
			        "(FSC_CUDADOUBLE_TIMEOUT_S)\n",
			        what, g_timeout_s);
			return fail(cudaErrorLaunchTimeout, "%s timed out", what);
		}
	return cudaSuccess;
}

static cudaError_t enqueue_op(cudaStream_t h, struct op *op, int sync, const char *what)
{
	op->sync = sync;
	lock();
	struct CUstream_st *s = resolve(h);
	if (!s) {
		unlock();
		free(op);
		return fail(cudaErrorInvalidResourceHandle, "%s: stream %p is not live", what,
		            (void *)h);
	}
	cudaError_t e = submit(s, op);
	if (!e && sync)
		e = wait_stream(s, s->enq, what);
	unlock();
	return e ? fail(e, "%s failed", what) : cudaSuccess;
}

EXPORT cudaError_t fsc_cudadouble_enqueue(cudaStream_t stream, void (*fn)(void *), void *arg)
{
	if (config() < 0)
		return cudaErrorInitializationError;
	struct op *op = calloc(1, sizeof(*op));
	if (!op)
		return cudaErrorMemoryAllocation;
	op->kind = OP_FN;
	op->fn = fn;
	op->arg = arg;
	return enqueue_op(stream, op, 0, "enqueue");
}

EXPORT int fsc_cudadouble_stream_device(cudaStream_t stream)
{
	if (config() < 0 || g_ndev == 0)
		return -1;
	lock();
	struct CUstream_st *s = resolve(stream);
	int d = s ? s->device : -1;
	unlock();
	return d;
}

static cudaError_t check_copy(void *dst, const void *src, size_t count, enum cudaMemcpyKind kind,
                              const char *what)
{
	if ((unsigned)kind > cudaMemcpyDefault)
		return fail(cudaErrorInvalidMemcpyDirection,
		            "%s: kind %d is not valid: expected 0..4", what, (int)kind);
	if (count == 0)
		return cudaSuccess;
	if (!dst || !src)
		return fail(cudaErrorInvalidValue, "%s: NULL pointer", what);
	int d = is_device_range(dst, count), s = is_device_range(src, count);
	if (d < 0 || s < 0)
		return fail(cudaErrorInvalidValue, "%s: %zu bytes run past a device allocation",
		            what, count);
	int need_d = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
	int need_s = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
	if ((need_d && !d) || (need_s && !s))
		return fail(cudaErrorInvalidValue, "%s: %s is not device memory for kind %d", what,
		            need_d && !d ? "dst" : "src", (int)kind);
	return cudaSuccess;
}

static cudaError_t memcpy_common(void *dst, const void *src, size_t count, enum cudaMemcpyKind kind,
                                 cudaStream_t stream, int sync, const char *what)
{
	CHECK_INIT();
	cudaError_t e = check_copy(dst, src, count, kind, what);
	if (e)
		return e;
	if (count == 0)
		return cudaSuccess;
	struct op *op = calloc(1, sizeof(*op));
	if (!op)
		return fail(cudaErrorMemoryAllocation, "%s: out of memory", what);
	op->kind = OP_COPY;
	op->dst = dst;
	op->src = src;
	op->n = count;
	return enqueue_op(stream, op, sync, what);
}

EXPORT cudaError_t cudaMemcpy(void *dst, const void *src, size_t count, enum cudaMemcpyKind kind)
{
	return memcpy_common(dst, src, count, kind, NULL, 1, "cudaMemcpy");
}

EXPORT cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t count,
                                   enum cudaMemcpyKind kind, cudaStream_t stream)
{
	return memcpy_common(dst, src, count, kind, stream, 0, "cudaMemcpyAsync");
}

static cudaError_t memset_common(void *p, int value, size_t count, cudaStream_t stream, int sync,
                                 const char *what)
{
	CHECK_INIT();
	if (count == 0)
		return cudaSuccess;
	if (!p || is_device_range(p, count) != 1)
		return fail(cudaErrorInvalidValue, "%s: %p + %zu is not device memory", what, p,
		            count);
	struct op *op = calloc(1, sizeof(*op));
	if (!op)
		return fail(cudaErrorMemoryAllocation, "%s: out of memory", what);
	op->kind = OP_SET;
	op->dst = p;
	op->value = value;
	op->n = count;
	return enqueue_op(stream, op, sync, what);
}

EXPORT cudaError_t cudaMemset(void *devPtr, int value, size_t count)
{
	return memset_common(devPtr, value, count, NULL, 1, "cudaMemset");
}

EXPORT cudaError_t cudaMemsetAsync(void *devPtr, int value, size_t count, cudaStream_t stream)
{
	return memset_common(devPtr, value, count, stream, 0, "cudaMemsetAsync");
}

EXPORT cudaError_t cudaStreamCreateWithFlags(cudaStream_t *pStream, unsigned int flags)
{
	CHECK_INIT();
	if (!pStream)
		return fail(cudaErrorInvalidValue, "cudaStreamCreate: pStream is NULL");
	if (flags & ~(unsigned)cudaStreamNonBlocking)
		return fail(cudaErrorInvalidValue,
		            "cudaStreamCreateWithFlags: flags 0x%x are not "
		            "valid: expected 0 or cudaStreamNonBlocking",
		            flags);
	if (g_ndev == 0)
		return fail(cudaErrorNoDevice, "no visible device");
	lock();
	struct CUstream_st *s = stream_new(t_device, flags, 0);
	unlock();
	if (!s)
		return fail(cudaErrorMemoryAllocation, "cudaStreamCreate: no worker thread");
	*pStream = s;
	return cudaSuccess;
}

EXPORT cudaError_t cudaStreamCreate(cudaStream_t *pStream)
{
	return cudaStreamCreateWithFlags(pStream, cudaStreamDefault);
}

EXPORT cudaError_t cudaStreamDestroy(cudaStream_t stream)
{
	CHECK_INIT();
	lock();
	struct CUstream_st *s =
	        stream && stream != cudaStreamLegacy && stream != cudaStreamPerThread
	                ? resolve(stream)
	                : NULL;
	if (!s || s->is_default) {
		unlock();
		return fail(cudaErrorInvalidResourceHandle,
		            "cudaStreamDestroy: stream %p is not "
		            "a live stream",
		            (void *)stream);
	}
	/* Work already queued still runs; the worker then ends. */
	s->destroyed = 1;
	pthread_cond_broadcast(&g_cv);
	stream_unref(s);
	unlock();
	return cudaSuccess;
}

EXPORT cudaError_t cudaStreamSynchronize(cudaStream_t stream)
{
	CHECK_INIT();
	lock();
	struct CUstream_st *s = resolve(stream);
	if (!s) {
		unlock();
		return fail(cudaErrorInvalidResourceHandle,
		            "cudaStreamSynchronize: stream %p is "
		            "not live",
		            (void *)stream);
	}
	cudaError_t e = wait_stream(s, s->enq, "cudaStreamSynchronize");
	unlock();
	return e;
}

EXPORT cudaError_t cudaStreamQuery(cudaStream_t stream)
{
	CHECK_INIT();
	lock();
	struct CUstream_st *s = resolve(stream);
	cudaError_t e = !s                 ? cudaErrorInvalidResourceHandle
	                : s->done < s->enq ? cudaErrorNotReady
	                                   : cudaSuccess;
	unlock();
	/* cudaErrorNotReady is not an error: it does not become the last one. */
	if (e == cudaErrorInvalidResourceHandle)
		return fail(e, "cudaStreamQuery: stream %p is not live", (void *)stream);
	return e;
}

EXPORT cudaError_t cudaDeviceSynchronize(void)
{
	CHECK_INIT();
	if (g_ndev == 0)
		return fail(cudaErrorNoDevice, "no visible device");
	struct timespec dl;
	deadline_in(&dl, g_timeout_s);
	lock();
	for (;;) {
		int busy = 0;
		for (struct CUstream_st *s = g_streams; s; s = s->next)
			busy |= s->device == t_device && s->done < s->enq;
		if (!busy)
			break;
		if (wait_until(&dl) < 0) {
			unlock();
			fprintf(stderr,
			        "cudadouble: cudaDeviceSynchronize: stream work still "
			        "running after %u s (FSC_CUDADOUBLE_TIMEOUT_S)\n",
			        g_timeout_s);
			return fail(cudaErrorLaunchTimeout, "cudaDeviceSynchronize timed out");
		}
	}
	unlock();
	return cudaSuccess;
}

/* Held. */
static struct CUevent_st *event_live(cudaEvent_t h)
{
	for (struct CUevent_st *e = g_events; e; e = e->next)
		if (e == h && !e->destroyed && e->magic == EVENT_MAGIC)
			return e;
	return NULL;
}

EXPORT cudaError_t cudaEventCreateWithFlags(cudaEvent_t *event, unsigned int flags)
{
	CHECK_INIT();
	if (!event)
		return fail(cudaErrorInvalidValue, "cudaEventCreate: event is NULL");
	unsigned valid = cudaEventBlockingSync | cudaEventDisableTiming | cudaEventInterprocess;
	if ((flags & ~valid) ||
	    ((flags & cudaEventInterprocess) && !(flags & cudaEventDisableTiming)))
		return fail(cudaErrorInvalidValue,
		            "cudaEventCreateWithFlags: flags 0x%x are not "
		            "valid",
		            flags);
	struct CUevent_st *e = calloc(1, sizeof(*e));
	if (!e)
		return fail(cudaErrorMemoryAllocation, "cudaEventCreate: out of memory");
	e->magic = EVENT_MAGIC;
	e->flags = flags;
	e->refs = 1;
	lock();
	e->next = g_events;
	g_events = e;
	unlock();
	*event = e;
	return cudaSuccess;
}

EXPORT cudaError_t cudaEventCreate(cudaEvent_t *event)
{
	return cudaEventCreateWithFlags(event, cudaEventDefault);
}

EXPORT cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream)
{
	CHECK_INIT();
	struct op *op = calloc(1, sizeof(*op));
	if (!op)
		return fail(cudaErrorMemoryAllocation, "cudaEventRecord: out of memory");
	lock();
	struct CUevent_st *e = event_live(event);
	struct CUstream_st *s = resolve(stream);
	if (!e || !s) {
		unlock();
		free(op);
		return fail(cudaErrorInvalidResourceHandle, "cudaEventRecord: %s %p is not live",
		            !e ? "event" : "stream", !e ? (void *)event : (void *)stream);
	}
	e->gen++;
	e->state = 1;
	e->refs++;
	op->kind = OP_EVENT;
	op->ev = e;
	op->gen = e->gen;
	cudaError_t r = submit(s, op);
	if (r) {
		e->refs--;
		e->state = 0;
	}
	unlock();
	return r ? fail(r, "cudaEventRecord failed") : cudaSuccess;
}

EXPORT cudaError_t cudaEventQuery(cudaEvent_t event)
{
	CHECK_INIT();
	lock();
	struct CUevent_st *e = event_live(event);
	cudaError_t r = !e              ? cudaErrorInvalidResourceHandle
	                : e->state == 1 ? cudaErrorNotReady
	                                : cudaSuccess;
	unlock();
	if (r == cudaErrorInvalidResourceHandle)
		return fail(r, "cudaEventQuery: event %p is not live", (void *)event);
	return r;
}

EXPORT cudaError_t cudaEventSynchronize(cudaEvent_t event)
{
	CHECK_INIT();
	struct timespec dl;
	deadline_in(&dl, g_timeout_s);
	lock();
	struct CUevent_st *e = event_live(event);
	if (!e) {
		unlock();
		return fail(cudaErrorInvalidResourceHandle,
		            "cudaEventSynchronize: event %p is "
		            "not live",
		            (void *)event);
	}
	while (e->state == 1)
		if (wait_until(&dl) < 0 && e->state == 1) {
			unlock();
			fprintf(stderr,
			        "cudadouble: cudaEventSynchronize: event not reached after "
			        "%u s (FSC_CUDADOUBLE_TIMEOUT_S)\n",
			        g_timeout_s);
			return fail(cudaErrorLaunchTimeout, "cudaEventSynchronize timed out");
		}
	unlock();
	return cudaSuccess;
}

EXPORT cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t start, cudaEvent_t end)
{
	CHECK_INIT();
	if (!ms)
		return fail(cudaErrorInvalidValue, "cudaEventElapsedTime: ms is NULL");
	lock();
	struct CUevent_st *a = event_live(start), *b = event_live(end);
	cudaError_t r = cudaSuccess;
	if (!a || !b || a->state == 0 || b->state == 0 ||
	    ((a->flags | b->flags) & cudaEventDisableTiming))
		r = cudaErrorInvalidResourceHandle;
	else if (a->state != 2 || b->state != 2)
		r = cudaErrorNotReady;
	else
		*ms = (float)(((double)b->t_ns - (double)a->t_ns) / 1e6);
	unlock();
	return r ? fail(r, "cudaEventElapsedTime: events not both recorded and timed") : r;
}

EXPORT cudaError_t cudaEventDestroy(cudaEvent_t event)
{
	CHECK_INIT();
	lock();
	struct CUevent_st *e = event_live(event);
	if (!e) {
		unlock();
		return fail(cudaErrorInvalidResourceHandle,
		            "cudaEventDestroy: event %p is not "
		            "live",
		            (void *)event);
	}
	e->destroyed = 1;
	event_unref(e);
	unlock();
	return cudaSuccess;
}
