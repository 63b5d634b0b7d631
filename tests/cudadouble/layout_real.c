/* The facts of layout_facts.h under the real CUDA and NCCL headers; then
 * the stand-in's prototypes, which the compiler checks against the real
 * declarations (a difference is a "conflicting types" error). */
#include <stddef.h>
#include <cuda_runtime.h>
#include <nccl.h>
#include "layout_facts.h"

#define FACT(e) (size_t)(e),
const size_t fsc_layout_real[] = {FSC_CUDADOUBLE_FACTS(FACT)};

#define FSC_CUDADOUBLE_DECLS_ONLY
#include "include/cuda_runtime_api.h"
#include "include/nccl.h"
