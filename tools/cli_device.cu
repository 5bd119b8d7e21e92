// CUDA side of the command line: upload, device_plan, download.
#include "cli_device.hpp"

#include <tensorhash/device.cuh>
#include <tensorhash/runtime_policy.hpp>

#include <cuda_runtime.h>

#include <cstring>
#include <memory>

namespace th = tensorhash;

namespace cli {

bool cuda_device_present() {
  int devices = 0;
  return cudaGetDeviceCount(&devices) == cudaSuccess && devices > 0;
}

namespace {

/// Frees stream-ordered memory on the stream that allocated it: after the copies and kernels
/// queued there, and also when hashing throws half way.
struct free_on_stream {
  cudaStream_t stream;
  void operator()(void* p) const noexcept { (void)cudaFreeAsync(p, stream); }
};
using stream_memory = std::unique_ptr<void, free_on_stream>;

stream_memory allocate(std::size_t bytes, cudaStream_t stream) {
  void* p = nullptr;
  TENSORHASH_CUDA_TRY(cudaMallocAsync(&p, bytes, stream));
  return stream_memory(p, free_on_stream{stream});
}

template <class Mode, class Canon, class Hasher = th::sha256>
std::vector<th::digest256> run(const std::vector<th::tensor_view>& views, Mode mode,
                               cudaStream_t stream) {
  std::vector<std::uint64_t> offsets;
  std::uint64_t total = 0;
  for (const auto& v : views) {
    offsets.push_back(total);
    total += (v.nbytes() + 255) / 256 * 256;
  }
  int device = 0;
  TENSORHASH_CUDA_TRY(cudaGetDevice(&device));
  const stream_memory arena = allocate(total + 1, stream);
  std::vector<th::tensor_view> on_device;
  for (std::size_t i = 0; i < views.size(); ++i) {
    auto* dst = static_cast<std::uint8_t*>(arena.get()) + offsets[i];
    if (views[i].nbytes() != 0) {  // an empty tensor may have no data pointer at all
      TENSORHASH_CUDA_TRY(
          cudaMemcpyAsync(dst, views[i].data(), views[i].nbytes(), cudaMemcpyHostToDevice, stream));
    }
    std::int64_t shape[th::max_rank];
    for (int d = 0; d < views[i].rank(); ++d)
      shape[d] = views[i].shape(d);
    on_device.emplace_back(views[i].nbytes() == 0 ? nullptr : dst, views[i].dtype(),
                           views[i].rank(), shape, nullptr, th::location::cuda(device));
  }
  const stream_memory out = allocate(views.size() * sizeof(th::digest256) + 1, stream);
  auto* d_out = static_cast<th::digest256*>(out.get());
  th::device_hash<Mode, Canon, Hasher>(on_device.data(), on_device.size(), d_out, mode, stream);
  return th::copy_digests_to_host(d_out, views.size(), stream);
}

}  // namespace

std::vector<th::digest256> hash_on_device(const std::vector<th::tensor_view>& views,
                                          const std::string& mode, std::uint64_t chunk_bytes,
                                          const std::string& canonical,
                                          const std::string& nan_rule) {
  return th::with_canonicalization(canonical, nan_rule, [&](auto canon) {
    return th::with_digest_mode(mode, chunk_bytes, [&](auto m, auto hasher) {
      return run<decltype(m), decltype(canon), typename decltype(hasher)::type>(views, m, nullptr);
    });
  });
}

}  // namespace cli
