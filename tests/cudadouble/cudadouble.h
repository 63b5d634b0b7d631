/* What the stand-in libcudart.so.13 offers its libnccl.so.2 beyond the CUDA
 * API (tests/cudadouble).  Exported under the version node
 * FSC_CUDADOUBLE_PRIVATE; nothing else may use it. */
#ifndef FSC_CUDADOUBLE_H
#define FSC_CUDADOUBLE_H

#include <stddef.h>
#include <stdint.h>
#include <cuda_runtime.h>

/* The device holding all of [ptr, ptr + bytes) as one cudaMalloc
 * allocation, or -1 when it is not device memory (host, pinned host,
 * unknown, or running past the allocation's end). */
int fsc_cudadouble_device_of(const void *ptr, size_t bytes);

/* The calling thread's current device (cudaSetDevice), 0 by default. */
int fsc_cudadouble_current_device(void);

/* The PCI bus id and the physical index (before CUDA_VISIBLE_DEVICES) of a
 * visible device; -1 when the ordinal is out of range. */
int fsc_cudadouble_physical(int device, char busid[32]);

/* Queue fn(arg) on a stream (NULL, cudaStreamLegacy and
 * cudaStreamPerThread mean the current device's default stream), after
 * everything queued on it before.  The stream's worker runs it.  Fails
 * with cudaErrorInvalidResourceHandle for a stream that is not live. */
cudaError_t fsc_cudadouble_enqueue(cudaStream_t stream, void (*fn)(void *), void *arg);

/* The device a stream belongs to, or -1 when the handle is not live. */
int fsc_cudadouble_stream_device(cudaStream_t stream);

/* The stand-in's bound on any one blocking wait, in seconds
 * (FSC_CUDADOUBLE_TIMEOUT_S, default 300). */
unsigned fsc_cudadouble_timeout_s(void);

/* Monotonic nanoseconds. */
uint64_t fsc_cudadouble_now_ns(void);

#endif
