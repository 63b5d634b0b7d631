# Where the CUDA/NCCL stand-in's headers and libraries are, for any part of
# the build (include() it; the order of add_subdirectory does not matter):
#   FSC_CUDADOUBLE_INCLUDE  cuda_runtime.h and nccl.h of the stand-in
#   FSC_CUDADOUBLE_DIR      folder of libcudart.so.13 and libnccl.so.2 once
#                           built (targets fsc_cudadouble_cudart and
#                           fsc_cudadouble_nccl); put it first on
#                           LD_LIBRARY_PATH
set(FSC_CUDADOUBLE_INCLUDE ${CMAKE_SOURCE_DIR}/tests/cudadouble/include)
set(FSC_CUDADOUBLE_DIR ${CMAKE_BINARY_DIR}/tests/cudadouble)
