/* Every fact the stand-in's headers must share with the real CUDA 13.0
 * runtime and NCCL 2.28.9 headers: structure sizes and offsets, enumerator
 * and macro values.  layout_real.c and layout_double.c each evaluate the
 * list against one set of headers; test_cudadouble_layout compares them. */
#define FSC_CUDADOUBLE_FACTS(X)                                                                    \
	X(sizeof(struct cudaDeviceProp))                                                           \
	X(offsetof(struct cudaDeviceProp, name))                                                   \
	X(offsetof(struct cudaDeviceProp, uuid))                                                   \
	X(offsetof(struct cudaDeviceProp, luid))                                                   \
	X(offsetof(struct cudaDeviceProp, luidDeviceNodeMask))                                     \
	X(offsetof(struct cudaDeviceProp, totalGlobalMem))                                         \
	X(offsetof(struct cudaDeviceProp, sharedMemPerBlock))                                      \
	X(offsetof(struct cudaDeviceProp, regsPerBlock))                                           \
	X(offsetof(struct cudaDeviceProp, warpSize))                                               \
	X(offsetof(struct cudaDeviceProp, memPitch))                                               \
	X(offsetof(struct cudaDeviceProp, maxThreadsPerBlock))                                     \
	X(offsetof(struct cudaDeviceProp, maxThreadsDim))                                          \
	X(offsetof(struct cudaDeviceProp, maxGridSize))                                            \
	X(offsetof(struct cudaDeviceProp, totalConstMem))                                          \
	X(offsetof(struct cudaDeviceProp, major))                                                  \
	X(offsetof(struct cudaDeviceProp, minor))                                                  \
	X(offsetof(struct cudaDeviceProp, textureAlignment))                                       \
	X(offsetof(struct cudaDeviceProp, texturePitchAlignment))                                  \
	X(offsetof(struct cudaDeviceProp, multiProcessorCount))                                    \
	X(offsetof(struct cudaDeviceProp, integrated))                                             \
	X(offsetof(struct cudaDeviceProp, canMapHostMemory))                                       \
	X(offsetof(struct cudaDeviceProp, maxTexture1D))                                           \
	X(offsetof(struct cudaDeviceProp, maxTexture1DMipmap))                                     \
	X(offsetof(struct cudaDeviceProp, maxTexture2D))                                           \
	X(offsetof(struct cudaDeviceProp, maxTexture2DMipmap))                                     \
	X(offsetof(struct cudaDeviceProp, maxTexture2DLinear))                                     \
	X(offsetof(struct cudaDeviceProp, maxTexture2DGather))                                     \
	X(offsetof(struct cudaDeviceProp, maxTexture3D))                                           \
	X(offsetof(struct cudaDeviceProp, maxTexture3DAlt))                                        \
	X(offsetof(struct cudaDeviceProp, maxTextureCubemap))                                      \
	X(offsetof(struct cudaDeviceProp, maxTexture1DLayered))                                    \
	X(offsetof(struct cudaDeviceProp, maxTexture2DLayered))                                    \
	X(offsetof(struct cudaDeviceProp, maxTextureCubemapLayered))                               \
	X(offsetof(struct cudaDeviceProp, maxSurface1D))                                           \
	X(offsetof(struct cudaDeviceProp, maxSurface2D))                                           \
	X(offsetof(struct cudaDeviceProp, maxSurface3D))                                           \
	X(offsetof(struct cudaDeviceProp, maxSurface1DLayered))                                    \
	X(offsetof(struct cudaDeviceProp, maxSurface2DLayered))                                    \
	X(offsetof(struct cudaDeviceProp, maxSurfaceCubemap))                                      \
	X(offsetof(struct cudaDeviceProp, maxSurfaceCubemapLayered))                               \
	X(offsetof(struct cudaDeviceProp, surfaceAlignment))                                       \
	X(offsetof(struct cudaDeviceProp, concurrentKernels))                                      \
	X(offsetof(struct cudaDeviceProp, ECCEnabled))                                             \
	X(offsetof(struct cudaDeviceProp, pciBusID))                                               \
	X(offsetof(struct cudaDeviceProp, pciDeviceID))                                            \
	X(offsetof(struct cudaDeviceProp, pciDomainID))                                            \
	X(offsetof(struct cudaDeviceProp, tccDriver))                                              \
	X(offsetof(struct cudaDeviceProp, asyncEngineCount))                                       \
	X(offsetof(struct cudaDeviceProp, unifiedAddressing))                                      \
	X(offsetof(struct cudaDeviceProp, memoryBusWidth))                                         \
	X(offsetof(struct cudaDeviceProp, l2CacheSize))                                            \
	X(offsetof(struct cudaDeviceProp, persistingL2CacheMaxSize))                               \
	X(offsetof(struct cudaDeviceProp, maxThreadsPerMultiProcessor))                            \
	X(offsetof(struct cudaDeviceProp, streamPrioritiesSupported))                              \
	X(offsetof(struct cudaDeviceProp, globalL1CacheSupported))                                 \
	X(offsetof(struct cudaDeviceProp, localL1CacheSupported))                                  \
	X(offsetof(struct cudaDeviceProp, sharedMemPerMultiprocessor))                             \
	X(offsetof(struct cudaDeviceProp, regsPerMultiprocessor))                                  \
	X(offsetof(struct cudaDeviceProp, managedMemory))                                          \
	X(offsetof(struct cudaDeviceProp, isMultiGpuBoard))                                        \
	X(offsetof(struct cudaDeviceProp, multiGpuBoardGroupID))                                   \
	X(offsetof(struct cudaDeviceProp, hostNativeAtomicSupported))                              \
	X(offsetof(struct cudaDeviceProp, pageableMemoryAccess))                                   \
	X(offsetof(struct cudaDeviceProp, concurrentManagedAccess))                                \
	X(offsetof(struct cudaDeviceProp, computePreemptionSupported))                             \
	X(offsetof(struct cudaDeviceProp, canUseHostPointerForRegisteredMem))                      \
	X(offsetof(struct cudaDeviceProp, cooperativeLaunch))                                      \
	X(offsetof(struct cudaDeviceProp, sharedMemPerBlockOptin))                                 \
	X(offsetof(struct cudaDeviceProp, pageableMemoryAccessUsesHostPageTables))                 \
	X(offsetof(struct cudaDeviceProp, directManagedMemAccessFromHost))                         \
	X(offsetof(struct cudaDeviceProp, maxBlocksPerMultiProcessor))                             \
	X(offsetof(struct cudaDeviceProp, accessPolicyMaxWindowSize))                              \
	X(offsetof(struct cudaDeviceProp, reservedSharedMemPerBlock))                              \
	X(offsetof(struct cudaDeviceProp, hostRegisterSupported))                                  \
	X(offsetof(struct cudaDeviceProp, sparseCudaArraySupported))                               \
	X(offsetof(struct cudaDeviceProp, hostRegisterReadOnlySupported))                          \
	X(offsetof(struct cudaDeviceProp, timelineSemaphoreInteropSupported))                      \
	X(offsetof(struct cudaDeviceProp, memoryPoolsSupported))                                   \
	X(offsetof(struct cudaDeviceProp, gpuDirectRDMASupported))                                 \
	X(offsetof(struct cudaDeviceProp, gpuDirectRDMAFlushWritesOptions))                        \
	X(offsetof(struct cudaDeviceProp, gpuDirectRDMAWritesOrdering))                            \
	X(offsetof(struct cudaDeviceProp, memoryPoolSupportedHandleTypes))                         \
	X(offsetof(struct cudaDeviceProp, deferredMappingCudaArraySupported))                      \
	X(offsetof(struct cudaDeviceProp, ipcEventSupported))                                      \
	X(offsetof(struct cudaDeviceProp, clusterLaunch))                                          \
	X(offsetof(struct cudaDeviceProp, unifiedFunctionPointers))                                \
	X(offsetof(struct cudaDeviceProp, deviceNumaConfig))                                       \
	X(offsetof(struct cudaDeviceProp, deviceNumaId))                                           \
	X(offsetof(struct cudaDeviceProp, mpsEnabled))                                             \
	X(offsetof(struct cudaDeviceProp, hostNumaId))                                             \
	X(offsetof(struct cudaDeviceProp, gpuPciDeviceID))                                         \
	X(offsetof(struct cudaDeviceProp, gpuPciSubsystemID))                                      \
	X(offsetof(struct cudaDeviceProp, hostNumaMultinodeIpcSupported))                          \
	X(offsetof(struct cudaDeviceProp, reserved))                                               \
	X(sizeof(struct cudaPointerAttributes))                                                    \
	X(offsetof(struct cudaPointerAttributes, type))                                            \
	X(offsetof(struct cudaPointerAttributes, device))                                          \
	X(offsetof(struct cudaPointerAttributes, devicePointer))                                   \
	X(offsetof(struct cudaPointerAttributes, hostPointer))                                     \
	X(offsetof(struct cudaPointerAttributes, reserved))                                        \
	X(cudaSuccess)                                                                             \
	X(cudaErrorInvalidValue)                                                                   \
	X(cudaErrorMemoryAllocation)                                                               \
	X(cudaErrorInitializationError)                                                            \
	X(cudaErrorCudartUnloading)                                                                \
	X(cudaErrorInvalidConfiguration)                                                           \
	X(cudaErrorInvalidPitchValue)                                                              \
	X(cudaErrorInvalidDevicePointer)                                                           \
	X(cudaErrorInvalidMemcpyDirection)                                                         \
	X(cudaErrorInsufficientDriver)                                                             \
	X(cudaErrorDevicesUnavailable)                                                             \
	X(cudaErrorNoDevice)                                                                       \
	X(cudaErrorInvalidDevice)                                                                  \
	X(cudaErrorInvalidResourceHandle)                                                          \
	X(cudaErrorIllegalState)                                                                   \
	X(cudaErrorNotReady)                                                                       \
	X(cudaErrorIllegalAddress)                                                                 \
	X(cudaErrorLaunchOutOfResources)                                                           \
	X(cudaErrorLaunchTimeout)                                                                  \
	X(cudaErrorContextIsDestroyed)                                                             \
	X(cudaErrorLaunchFailure)                                                                  \
	X(cudaErrorNotPermitted)                                                                   \
	X(cudaErrorNotSupported)                                                                   \
	X(cudaErrorTimeout)                                                                        \
	X(cudaErrorUnknown)                                                                        \
	X(cudaMemcpyHostToHost)                                                                    \
	X(cudaMemcpyHostToDevice)                                                                  \
	X(cudaMemcpyDeviceToHost)                                                                  \
	X(cudaMemcpyDeviceToDevice)                                                                \
	X(cudaMemcpyDefault)                                                                       \
	X(cudaMemoryTypeUnregistered)                                                              \
	X(cudaMemoryTypeHost)                                                                      \
	X(cudaMemoryTypeDevice)                                                                    \
	X(cudaMemoryTypeManaged)                                                                   \
	X(cudaHostAllocDefault)                                                                    \
	X(cudaStreamDefault)                                                                       \
	X(cudaStreamNonBlocking)                                                                   \
	X((size_t)cudaStreamLegacy)                                                                \
	X((size_t)cudaStreamPerThread)                                                             \
	X(cudaEventDefault)                                                                        \
	X(cudaEventBlockingSync)                                                                   \
	X(cudaEventDisableTiming)                                                                  \
	X(cudaEventInterprocess)                                                                   \
	X(CUDART_VERSION)                                                                          \
	X(sizeof(cudaUUID_t))                                                                      \
	X(sizeof(ncclConfig_t))                                                                    \
	X(offsetof(ncclConfig_t, size))                                                            \
	X(offsetof(ncclConfig_t, magic))                                                           \
	X(offsetof(ncclConfig_t, version))                                                         \
	X(offsetof(ncclConfig_t, blocking))                                                        \
	X(offsetof(ncclConfig_t, cgaClusterSize))                                                  \
	X(offsetof(ncclConfig_t, minCTAs))                                                         \
	X(offsetof(ncclConfig_t, maxCTAs))                                                         \
	X(offsetof(ncclConfig_t, netName))                                                         \
	X(offsetof(ncclConfig_t, splitShare))                                                      \
	X(offsetof(ncclConfig_t, trafficClass))                                                    \
	X(offsetof(ncclConfig_t, commName))                                                        \
	X(offsetof(ncclConfig_t, collnetEnable))                                                   \
	X(offsetof(ncclConfig_t, CTAPolicy))                                                       \
	X(offsetof(ncclConfig_t, shrinkShare))                                                     \
	X(offsetof(ncclConfig_t, nvlsCTAs))                                                        \
	X(offsetof(ncclConfig_t, nChannelsPerNetPeer))                                             \
	X(offsetof(ncclConfig_t, nvlinkCentricSched))                                              \
	X(sizeof(ncclUniqueId))                                                                    \
	X(NCCL_UNIQUE_ID_BYTES)                                                                    \
	X(NCCL_VERSION_CODE)                                                                       \
	X(NCCL_MAJOR)                                                                              \
	X(NCCL_MINOR)                                                                              \
	X(NCCL_PATCH)                                                                              \
	X((size_t)NCCL_CONFIG_UNDEF_INT)                                                           \
	X(sizeof(ncclRedOp_t))                                                                     \
	X(sizeof(ncclDataType_t))                                                                  \
	X(ncclSuccess)                                                                             \
	X(ncclUnhandledCudaError)                                                                  \
	X(ncclSystemError)                                                                         \
	X(ncclInternalError)                                                                       \
	X(ncclInvalidArgument)                                                                     \
	X(ncclInvalidUsage)                                                                        \
	X(ncclRemoteError)                                                                         \
	X(ncclInProgress)                                                                          \
	X(ncclNumResults)                                                                          \
	X(ncclSum)                                                                                 \
	X(ncclProd)                                                                                \
	X(ncclMax)                                                                                 \
	X(ncclMin)                                                                                 \
	X(ncclAvg)                                                                                 \
	X(ncclNumOps)                                                                              \
	X(ncclMaxRedOp)                                                                            \
	X(ncclInt8)                                                                                \
	X(ncclChar)                                                                                \
	X(ncclUint8)                                                                               \
	X(ncclInt32)                                                                               \
	X(ncclInt)                                                                                 \
	X(ncclUint32)                                                                              \
	X(ncclInt64)                                                                               \
	X(ncclUint64)                                                                              \
	X(ncclFloat16)                                                                             \
	X(ncclHalf)                                                                                \
	X(ncclFloat32)                                                                             \
	X(ncclFloat)                                                                               \
	X(ncclFloat64)                                                                             \
	X(ncclDouble)                                                                              \
	X(ncclBfloat16)                                                                            \
	X(ncclFloat8e4m3)                                                                          \
	X(ncclFloat8e5m2)                                                                          \
	X(ncclNumTypes)                                                                            \
	/* end */
