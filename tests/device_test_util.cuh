// Helpers shared by the device tests: CUDA calls checked inside Catch2 tests, owned device
// memory and streams, and the main that reports "Skipped" (exit 77) without a CUDA device.
// Include it after test_util.hpp in a file that defines CATCH_CONFIG_RUNNER.
#pragma once

#include <catch2/catch.hpp>

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>

namespace device_test {

inline void check_cuda(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    FAIL(what << ": " << cudaGetErrorString(e));
  }
}

/// Device memory of `bytes` (at least 1), freed on destruction.
struct device_buffer {
  void* ptr = nullptr;
  explicit device_buffer(std::size_t bytes) {
    check_cuda(cudaMalloc(&ptr, bytes == 0 ? 1 : bytes), "cudaMalloc");
  }
  ~device_buffer() { cudaFree(ptr); }
  device_buffer(const device_buffer&) = delete;
  device_buffer& operator=(const device_buffer&) = delete;
  std::uint8_t* bytes() const { return static_cast<std::uint8_t*>(ptr); }
};

/// A non-blocking stream: it does not wait for the legacy default stream, so every test that
/// uses one orders its own work on it.
struct stream_owner {
  cudaStream_t s = nullptr;
  stream_owner() {
    check_cuda(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreate");
  }
  ~stream_owner() { cudaStreamDestroy(s); }
  stream_owner(const stream_owner&) = delete;
  stream_owner& operator=(const stream_owner&) = delete;
};

/// The device tests' main: exit 77 (ctest: Skipped, never Passed) without a CUDA device.
inline int run(int argc, char** argv) {
  int devices = 0;
  const cudaError_t e = cudaGetDeviceCount(&devices);
  if (e != cudaSuccess || devices == 0) {
    // the reason matters where a GPU is present (a driver older than this CUDA runtime, ...)
    std::printf("no CUDA device (%s): device tests skipped\n",
                e != cudaSuccess ? cudaGetErrorString(e) : "none found");
    return 77;
  }
  return Catch::Session().run(argc, argv);
}

}  // namespace device_test

#define CUDA_OK(call) ::device_test::check_cuda((call), #call)
