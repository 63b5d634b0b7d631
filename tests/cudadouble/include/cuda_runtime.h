/* The stand-in's cuda_runtime.h (tests/cudadouble): as the real one, the C
 * API of cuda_runtime_api.h; nothing of the C++ or kernel-launch parts. */
#ifndef FSC_CUDADOUBLE_CUDA_RUNTIME_H
#define FSC_CUDADOUBLE_CUDA_RUNTIME_H

#include "cuda_runtime_api.h"

#endif
