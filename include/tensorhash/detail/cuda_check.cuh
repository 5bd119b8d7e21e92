/**
 * @file detail/cuda_check.cuh
 * @brief CUDA error reporting, the entry checks of the device backend and the owner of its
 *        device memory.
 */
#pragma once

#include <tensorhash/config.hpp>
#include <tensorhash/error.hpp>
#include <tensorhash/view.hpp>

#include <cuda_runtime_api.h>

#include <cstddef>
#include <memory>
#include <string>

TENSORHASH_NAMESPACE_BEGIN
namespace detail {

/// Throws `error(cuda_error)` naming `call` and the CUDA error when `status` is not success.
inline void throw_on_cuda_error(cudaError_t status, const char* call) {
  if (status != cudaSuccess) {
    throw error(errc::cuda_error, std::string(call) + " failed: " + cudaGetErrorString(status) +
                                      " (" + cudaGetErrorName(status) + ")");
  }
}

/// Evaluates a CUDA runtime call and throws `tensorhash::error` naming it on failure.
#define TENSORHASH_CUDA_TRY(call) ::tensorhash::detail::throw_on_cuda_error((call), #call)

/// Returns the status of a CUDA runtime call from the enclosing function on failure.
#define TENSORHASH_CUDA_RETURN(call)    \
  do {                                  \
    const cudaError_t status_ = (call); \
    if (status_ != cudaSuccess) {       \
      return status_;                   \
    }                                   \
  } while (0)

/**
 * @brief Checks that view `index` lives in memory the current device `device` reads: its
 *        location says CUDA device `device`, and the runtime agrees (device or managed memory).
 * @throw error wrong_memory_space naming the view and what its pointer is
 */
inline void check_device_view(const tensor_view& v, std::size_t index, int device) {
  if (v.numel() == 0) {
    return;
  }
  const std::string which = "view " + std::to_string(index);
  if (v.location().space != memory_space::cuda) {
    throw error(errc::wrong_memory_space,
                which +
                    " is marked as host memory; the device backend reads CUDA memory "
                    "(hash it with host_engine, or copy it to the device)");
  }
  if (v.location().device != device) {
    throw error(errc::wrong_memory_space,
                which + " is on CUDA device " + std::to_string(v.location().device) +
                    " but the plan runs on device " + std::to_string(device));
  }
  cudaPointerAttributes attr{};
  const cudaError_t status = cudaPointerGetAttributes(&attr, v.data());
  if (status != cudaSuccess) {
    (void)cudaGetLastError();  // clear the error this query left
    throw error(errc::wrong_memory_space,
                which + ": cudaPointerGetAttributes failed (" + cudaGetErrorName(status) + ")");
  }
  if (attr.type == cudaMemoryTypeUnregistered || attr.type == cudaMemoryTypeHost) {
    throw error(errc::wrong_memory_space,
                which + " points to host memory although it is marked as CUDA memory");
  }
  if (attr.type == cudaMemoryTypeDevice && attr.device != device) {
    throw error(errc::wrong_memory_space, which + " points to memory of CUDA device " +
                                              std::to_string(attr.device) + ", not device " +
                                              std::to_string(device));
  }
}

/**
 * @brief cudaSuccess when the calling thread's current device is `device`, else
 *        cudaErrorInvalidDevice (or what cudaGetDevice failed with). Kernels launch on the
 *        current device, whatever device the data lives on, so a plan checks before each launch.
 */
inline cudaError_t check_current_device(int device) noexcept {
  int current = -1;
  const cudaError_t status = cudaGetDevice(&current);
  if (status != cudaSuccess) {
    return status;
  }
  return current == device ? cudaSuccess : cudaErrorInvalidDevice;
}

/// Deleter of memory from cudaMalloc on `device`: waits for all work queued on that device, on
/// every stream (kernels of `hash` calls may still read the memory), then frees it. cudaFree
/// waits so in practice, but its documentation does not promise it: the explicit
/// cudaDeviceSynchronize does.
struct device_free {
  int device = 0;
  void operator()(void* p) const noexcept {
    int current = device;
    (void)cudaGetDevice(&current);
    (void)cudaSetDevice(device);
    (void)cudaDeviceSynchronize();
    (void)cudaFree(p);
    (void)cudaSetDevice(current);
  }
};

/// Device memory owned by one object, freed (after the device's queued work) on destruction.
using device_memory = std::unique_ptr<void, device_free>;

/**
 * @brief `bytes` of memory on the current device `device` (cudaMalloc: usable on every stream
 *        as soon as it returns, unlike stream-ordered memory).
 * @throw error cuda_error naming the failed call
 */
inline device_memory device_malloc(std::size_t bytes, int device) {
  void* p = nullptr;
  TENSORHASH_CUDA_TRY(cudaMalloc(&p, bytes));
  return device_memory(p, device_free{device});
}

}  // namespace detail
TENSORHASH_NAMESPACE_END
