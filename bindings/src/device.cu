// CUDA side of tensorhash._core: one device_plan per batch, on the caller's stream.
#include "device.hpp"

#include <tensorhash/device.cuh>
#include <tensorhash/runtime_policy.hpp>

#include <cuda_runtime.h>

namespace th = tensorhash;

namespace tensorhash_py {

int cuda_device_count() noexcept {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess) {
    (void)cudaGetLastError();  // clear the sticky-free "no device" error
    return 0;
  }
  return devices;
}

int cuda_runtime_version() noexcept {
  return CUDART_VERSION;
}

namespace {

/// Restores the calling thread's current device (PyTorch and CuPy track theirs).
class device_guard {
 public:
  explicit device_guard(int device) {
    TENSORHASH_CUDA_TRY(cudaGetDevice(&previous_));
    if (previous_ != device) {
      TENSORHASH_CUDA_TRY(cudaSetDevice(device));
    }
    device_ = device;
  }
  ~device_guard() {
    if (previous_ != device_) {
      (void)cudaSetDevice(previous_);
    }
  }
  device_guard(const device_guard&) = delete;
  device_guard& operator=(const device_guard&) = delete;

 private:
  int previous_ = 0;
  int device_ = 0;
};

template <class Mode, class Canon, class Hasher = th::sha256>
std::vector<th::digest256> run(const std::vector<th::composite_view>& tensors, Mode mode,
                               cudaStream_t stream) {
  const th::device_plan<Mode, Canon, Hasher> plan(tensors, mode, stream);
  std::size_t temp_bytes = 0;
  TENSORHASH_CUDA_TRY(plan.hash(nullptr, temp_bytes, nullptr, stream));
  void* temp = nullptr;
  th::digest256* d_out = nullptr;
  TENSORHASH_CUDA_TRY(cudaMallocAsync(&temp, temp_bytes, stream));
  const cudaError_t out_status = cudaMallocAsync(
      reinterpret_cast<void**>(&d_out), tensors.size() * sizeof(th::digest256) + 1, stream);
  if (out_status != cudaSuccess) {
    (void)cudaFreeAsync(temp, stream);
    TENSORHASH_CUDA_TRY(out_status);
  }
  const cudaError_t status = plan.hash(temp, temp_bytes, d_out, stream);
  std::vector<th::digest256> digests;
  if (status == cudaSuccess) {
    try {
      digests = th::copy_digests_to_host(d_out, tensors.size(), stream);  // waits for the stream
    } catch (...) {
      (void)cudaFreeAsync(d_out, stream);
      (void)cudaFreeAsync(temp, stream);
      throw;
    }
  }
  (void)cudaFreeAsync(d_out, stream);
  (void)cudaFreeAsync(temp, stream);
  TENSORHASH_CUDA_TRY(status);
  return digests;
}

}  // namespace

std::vector<th::digest256> device_digests(const std::vector<th::composite_view>& tensors,
                                          const std::string& mode, std::uint64_t chunk_bytes,
                                          const std::string& canonical, const std::string& nan_rule,
                                          int device, std::uintptr_t stream_handle) {
  if (tensors.empty()) {
    return {};
  }
  const device_guard guard(device);
  const auto stream = reinterpret_cast<cudaStream_t>(stream_handle);
  return th::with_canonicalization(canonical, nan_rule, [&](auto canon) {
    return th::with_digest_mode(mode, chunk_bytes, [&](auto m, auto hasher) {
      return run<decltype(m), decltype(canon), typename decltype(hasher)::type>(tensors, m, stream);
    });
  });
}

}  // namespace tensorhash_py
