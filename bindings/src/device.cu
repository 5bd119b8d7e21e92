// CUDA side of tensorhash._core: one device_plan per batch, on the caller's stream.
#include "device.hpp"

#include <tensorhash/device.cuh>

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

template <class Canon>
std::vector<th::digest256> run_mode(const std::vector<th::composite_view>& tensors,
                                    const std::string& mode, std::uint64_t chunk_bytes,
                                    cudaStream_t stream) {
  if (mode == "blake3") {
    return run<th::exact, Canon, th::blake3>(tensors, th::exact{}, stream);
  }
  if (mode == "exact") {
    return run<th::exact, Canon>(tensors, th::exact{}, stream);
  }
  return run<th::tree, Canon>(tensors, th::tree(chunk_bytes), stream);
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
  if (canonical == "BF16" && nan_rule == th::nan_torch_cpu::name)
    return run_mode<th::to_bf16_torch_cpu>(tensors, mode, chunk_bytes, stream);
  if (canonical == "BF16" && nan_rule == th::nan_torch_cuda::name)
    return run_mode<th::to_bf16_torch_cuda>(tensors, mode, chunk_bytes, stream);
  if (canonical == "BF16")
    return run_mode<th::to_bf16>(tensors, mode, chunk_bytes, stream);
  if (canonical == "F32")
    return run_mode<th::to_f32>(tensors, mode, chunk_bytes, stream);
  return run_mode<th::as_stored>(tensors, mode, chunk_bytes, stream);
}

}  // namespace tensorhash_py
