/**
 * @file config.hpp
 * @brief Version, ABI namespace and host/device annotation macros shared by every header.
 */
#pragma once

#define TENSORHASH_VERSION_MAJOR 0
#define TENSORHASH_VERSION_MINOR 1
#define TENSORHASH_VERSION_PATCH 0

/// Inline ABI namespace: several libraries in one process may each embed a different tensorhash.
#define TENSORHASH_ABI_NAMESPACE v0_1
#define TENSORHASH_NAMESPACE_BEGIN \
  namespace tensorhash {           \
  inline namespace TENSORHASH_ABI_NAMESPACE {
#define TENSORHASH_NAMESPACE_END \
  }                              \
  }

/// Marks code shared by the CPU and the GPU: `__host__ __device__` under nvcc, nothing otherwise.
#if defined(__CUDACC__)
#define TENSORHASH_HD __host__ __device__
#else
#define TENSORHASH_HD
#endif

/// Forces inlining of the hot SHA-256 round code on both compilers.
#if defined(__CUDACC__)
#define TENSORHASH_FORCEINLINE __forceinline__
#elif defined(__GNUC__)
#define TENSORHASH_FORCEINLINE inline __attribute__((always_inline))
#else
#define TENSORHASH_FORCEINLINE inline
#endif

/// True while compiling device code (the nvcc device pass).
#if defined(__CUDA_ARCH__)
#define TENSORHASH_DEVICE_PASS 1
#else
#define TENSORHASH_DEVICE_PASS 0
#endif
