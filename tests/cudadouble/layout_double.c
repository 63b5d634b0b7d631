/* The facts of layout_facts.h under the stand-in's own headers. */
#include <stddef.h>
#include <cuda_runtime.h>
#include <nccl.h>
#include "layout_facts.h"

#define FACT(e) (size_t)(e),
#define NAME(e) #e,
const size_t fsc_layout_double[] = {FSC_CUDADOUBLE_FACTS(FACT)};
const char *const fsc_layout_names[] = {FSC_CUDADOUBLE_FACTS(NAME)};
const size_t fsc_layout_count = sizeof(fsc_layout_double) / sizeof(fsc_layout_double[0]);
