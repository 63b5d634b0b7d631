/* A program built against the real CUDA runtime and NCCL (headers and
 * libraries) binds to the stand-in when its folder comes first on
 * LD_LIBRARY_PATH: the loader accepts its symbol versions, the structures
 * come back filled, and a one-rank all-reduce runs.  Built only where the
 * real libraries are installed; exits 0 on success. */
#include <cuda_runtime.h>
#include <nccl.h>
#include <stdio.h>
#include <string.h>

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			printf("failed: %s\n", #cond);                                             \
			return 1;                                                                  \
		}                                                                                  \
	} while (0)

int main(void)
{
	int n = 0, v = 0;
	CHECK(cudaGetDeviceCount(&n) == cudaSuccess && n == 2);
	struct cudaDeviceProp p;
	CHECK(cudaGetDeviceProperties(&p, 1) == cudaSuccess);
	CHECK(!strcmp(p.name, "fabscope cudadouble 1") && p.pciBusID == 0x19);
	CHECK(ncclGetVersion(&v) == ncclSuccess && v == NCCL_VERSION_CODE);
	ncclUniqueId id;
	ncclComm_t comm;
	ncclConfig_t cfg = NCCL_CONFIG_INITIALIZER;
	cfg.blocking = 0;
	CHECK(ncclGetUniqueId(&id) == ncclSuccess);
	ncclResult_t r = ncclCommInitRankConfig(&comm, 1, id, 0, &cfg);
	while (r == ncclInProgress)
		CHECK(ncclCommGetAsyncError(comm, &r) == ncclSuccess);
	CHECK(r == ncclSuccess);
	cudaStream_t s;
	float *d, h[4] = {1, 2, 3, 4};
	CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking) == cudaSuccess);
	CHECK(cudaMalloc((void **)&d, sizeof(h)) == cudaSuccess);
	CHECK(cudaMemcpy(d, h, sizeof(h), cudaMemcpyHostToDevice) == cudaSuccess);
	CHECK(ncclAllReduce(d, d, 4, ncclFloat32, ncclSum, comm, s) == ncclSuccess);
	CHECK(ncclAllReduce(h, d, 4, ncclFloat32, ncclSum, comm, s) == ncclInvalidArgument);
	CHECK(cudaStreamSynchronize(s) == cudaSuccess);
	memset(h, 0, sizeof(h));
	CHECK(cudaMemcpy(h, d, sizeof(h), cudaMemcpyDeviceToHost) == cudaSuccess && h[3] == 4);
	CHECK(ncclCommDestroy(comm) == ncclSuccess);
	printf("bound to the stand-in: %s\n", p.name);
	return 0;
}
