/**
 * @file sglang_device.cuh
 * @brief SGLang's 64-bit weight hash (`sglang64`, its Triton kernel's hash) of a whole batch of
 *        device tensors — a state dict — in two stream-ordered kernel launches, whatever the
 *        number of tensors.
 *
 * ```
 * namespace th = tensorhash;
 * th::sglang_device_plan plan(views.data(), views.size(), stream);   // once: check, upload
 * std::size_t temp_bytes = 0;
 * plan.hash(nullptr, temp_bytes, d_hashes, stream);                  // 1. query temporary storage
 * void* d_temp = my_allocator(temp_bytes);
 * plan.hash(d_temp, temp_bytes, d_hashes, stream);                   // 2. hash; no host sync
 * // d_hashes[i] (std::uint64_t, device memory) is SGLang's value; to_hex16 prints it
 * ```
 *
 * **Launches.** Kernel 1 computes one tile value per (tensor, 8192-word tile) of the batch: one
 * block per tile of a flattened tile table built on the host, each thread summing a strided
 * share of the tile's words (detail::sglang::lane_sums), `cub::BlockReduce` adding the shares.
 * Kernel 2 sums each tensor's tile values (one block per tensor, `cub::BlockReduce`) and applies
 * the splitmix64 finaliser. Both are grid-stride loops with a fixed grid, so a `hash` call is
 * two launches for any batch, capturable in a CUDA graph. The arithmetic is that of
 * detail/sglang_core.hpp, which the host tests run on the CPU.
 *
 * **Temporary storage** follows CUB's two-phase convention, as `device_plan` does: the tile
 * values, 8 bytes per 32 KiB of input.
 *
 * **Lifetime** as `device_plan` (docs/guide.md §3): the constructor uploads the tile table on
 * the stream it is given and waits for the upload, so `hash` may run on any stream of the
 * plan's device or in a graph; the destructor's `cudaFree` waits for the device; destroy graphs
 * captured from `hash` before the plan.
 *
 * **Scope of this version.** Tensors must be plain views (`tensor_view`), row-major contiguous,
 * as stored (no canonicalisation) and start at a 4-byte aligned address; the constructor throws
 * `invalid_argument` naming the view otherwise. That covers model parameters, which are separate
 * allocations. Hash anything else (strided, composite, canonicalised) with the host engine
 * (tensorhash/sglang.hpp) or a contiguous device copy. SGLang's CPU recipe (`sglang_cpu64`) is
 * the first 8 bytes of an exact-mode digest (`device_plan<exact>`, tensorhash/device.cuh).
 * Beyond 2^31 words (8 GiB) SGLang's kernel has no defined result; the index is taken mod 2^32
 * here, as on the host (detail/sglang_core.hpp).
 */
#pragma once

#if !defined(__CUDACC__)
#error \
    "tensorhash/sglang_device.cuh is CUDA C++: compile it with nvcc. Host-only code includes tensorhash/sglang.hpp."
#endif

#include <tensorhash/config.hpp>
#include <tensorhash/detail/cuda_check.cuh>
#include <tensorhash/detail/device_dispatch.hpp>
#include <tensorhash/detail/device_kernels.cuh>
#include <tensorhash/detail/sglang_core.hpp>
#include <tensorhash/error.hpp>
#include <tensorhash/view.hpp>

#include <cuda_runtime_api.h>
#include <cub/block/block_reduce.cuh>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

TENSORHASH_NAMESPACE_BEGIN
namespace detail {
namespace sglang {

/// Threads per block of both kernels: 256 threads read a tile's 8192 words 32 each, one
/// coalesced 1 KiB row per step.
struct device_policy {
  static constexpr int threads_per_block = 256;
};

/// Aligned little-endian word through the read-only data cache (a plain copy in the host pass).
struct ldg_word {
  TENSORHASH_HD static std::uint32_t word(const std::uint8_t* p) noexcept {
#if TENSORHASH_DEVICE_PASS
    return __ldg(reinterpret_cast<const unsigned int*>(p));
#else
    std::uint32_t w = 0;
    std::memcpy(&w, p, 4);
    return w;
#endif
  }
};

/// Kernel 1: `values[g]` = the tile value of global tile g, for every tile of the table.
template <int Threads>
__global__ void __launch_bounds__(Threads)
    tile_kernel(table_view table, std::uint64_t tiles, std::uint64_t* values) {
  using reduce_t = cub::BlockReduce<sums, Threads>;
  __shared__ typename reduce_t::TempStorage temp;
  for (std::uint64_t g = blockIdx.x; g < tiles; g += gridDim.x) {
    const std::uint64_t t = owner(table, g);
    const dense_tensor& d = table.tensors[t];
    const sums s =
        reduce_t(temp).Sum(lane_sums<ldg_word>(d, g - table.first_tile[t], threadIdx.x, Threads));
    if (threadIdx.x == 0) {
      values[g] = tile_value(s, length_key(d.bytes));
    }
    __syncthreads();  // temp is reused by the next tile
  }
}

/// Kernel 2: `out[t]` = the finalised sum of tensor t's tile values (0 for an empty tensor).
template <int Threads>
__global__ void __launch_bounds__(Threads)
    total_kernel(const std::uint64_t* first_tile, std::uint64_t tensors,
                 const std::uint64_t* values, std::uint64_t* out) {
  using reduce_t = cub::BlockReduce<std::uint64_t, Threads>;
  __shared__ typename reduce_t::TempStorage temp;
  for (std::uint64_t t = blockIdx.x; t < tensors; t += gridDim.x) {
    const std::uint64_t total = reduce_t(temp).Sum(
        lane_total(values, first_tile[t], first_tile[t + 1], threadIdx.x, Threads));
    if (threadIdx.x == 0) {
      out[t] = finalize(total);
    }
    __syncthreads();
  }
}

/// Blocks for `work` blocks of work: one each, capped (the kernels loop over any excess).
inline unsigned blocks_for(std::uint64_t work) noexcept {
  constexpr std::uint64_t cap = 1u << 20;
  return static_cast<unsigned>(work == 0 ? 1 : work < cap ? work : cap);
}

}  // namespace sglang
}  // namespace detail

/**
 * @brief A batch of dense device tensors prepared for SGLang's 64-bit hash on one CUDA device.
 *
 * The plan refers to the tensors' memory, not their values: hash again after the values change.
 * Move-only. `hash` may be called concurrently on several streams. Lifetime rules as
 * `device_plan`'s (file comment).
 */
class sglang_device_plan {
 public:
  /**
   * @brief Checks the views, builds the tile table, uploads it on `stream` and waits for the
   *        upload (the host synchronises with `stream`; not while it is captured).
   * @param views  dense, 4-byte aligned views in memory of the current device
   * @param count  number of views
   * @param stream stream that orders the upload after the caller's work; unused afterwards
   * @throw error null_data for a null `views` with a non-zero count, wrong_memory_space for a
   *        view that is not device memory of the current device, invalid_argument for one that
   *        is not contiguous or not 4-byte aligned, cuda_error naming a failed CUDA call
   */
  sglang_device_plan(const tensor_view* views, std::size_t count, cudaStream_t stream = nullptr) {
    TENSORHASH_CUDA_TRY(cudaGetDevice(&device_));
    table_ = detail::sglang::make_tile_table(views, count);
    for (std::size_t i = 0; i < count; ++i) {
      detail::check_device_view(views[i], i, device_);
    }
    upload(stream);
  }

  /// @overload
  explicit sglang_device_plan(const std::vector<tensor_view>& views, cudaStream_t stream = nullptr)
      : sglang_device_plan(views.data(), views.size(), stream) {}

  sglang_device_plan(sglang_device_plan&& other) noexcept { swap(other); }
  sglang_device_plan& operator=(sglang_device_plan&& other) noexcept {
    sglang_device_plan tmp(std::move(other));
    swap(tmp);
    return *this;
  }
  sglang_device_plan(const sglang_device_plan&) = delete;
  sglang_device_plan& operator=(const sglang_device_plan&) = delete;

  /// Frees the table with `cudaFree`, after all work queued on the plan's device.
  ~sglang_device_plan() = default;

  /// Tensors in the batch (hashes written by `hash`).
  std::size_t size() const noexcept { return table_.tensors.size(); }
  /// Tiles of the batch: the blocks of work of kernel 1.
  std::uint64_t tiles() const noexcept { return table_.tiles(); }
  /// Kernel launches per `hash` call (kernel 1 is skipped when no tensor has a byte).
  int launches() const noexcept { return size() == 0 ? 0 : tiles() > 0 ? 2 : 1; }

  /**
   * @brief Hashes every tensor of the plan into `d_out[0 .. size())` (device memory).
   * @param d_temp_storage device memory for the tile values, or null to query its size
   * @param temp_storage_bytes in: bytes at `d_temp_storage`; out (query): bytes needed
   * @return cudaSuccess, cudaErrorInvalidValue for too little temporary storage or a null
   *         `d_out`, cudaErrorInvalidDevice when the current device is not the plan's, or the
   *         first failing launch's own status
   */
  cudaError_t hash(void* d_temp_storage, std::size_t& temp_storage_bytes, std::uint64_t* d_out,
                   cudaStream_t stream) const {
    namespace sg = detail::sglang;
    const std::size_t needed =
        tiles() > 0 ? detail::align_storage(tiles() * sizeof(std::uint64_t)) : 0;
    detail::cuda_launcher launcher{stream, device_};
    return detail::two_phase(
        launcher, needed, d_temp_storage, temp_storage_bytes, d_out, size(), [&]() -> cudaError_t {
          constexpr int threads = sg::device_policy::threads_per_block;
          auto* values = static_cast<std::uint64_t*>(d_temp_storage);
          if (tiles() > 0) {
            TENSORHASH_CUDA_RETURN(detail::launch(sg::tile_kernel<threads>, sg::blocks_for(tiles()),
                                                  threads, stream, device_view_, tiles(), values));
          }
          return detail::launch(sg::total_kernel<threads>, sg::blocks_for(size()), threads, stream,
                                device_view_.first_tile, std::uint64_t{size()},
                                static_cast<const std::uint64_t*>(values), d_out);
        });
  }

 private:
  /// Uploads the tensors and the tile scan into one allocation, ordered on `stream`, and waits
  /// for the copies: they read pageable host memory, and `hash` may read the table from any
  /// stream (or a graph), which nothing would otherwise order after them.
  void upload(cudaStream_t stream) {
    if (table_.tensors.empty()) {
      return;
    }
    const std::size_t tensor_bytes = table_.tensors.size() * sizeof(detail::sglang::dense_tensor);
    const std::size_t scan_bytes = table_.first_tile.size() * sizeof(std::uint64_t);
    d_table_ = detail::device_malloc(detail::align_storage(tensor_bytes) + scan_bytes, device_);
    auto* base = static_cast<char*>(d_table_.get());
    TENSORHASH_CUDA_TRY(
        cudaMemcpyAsync(base, table_.tensors.data(), tensor_bytes, cudaMemcpyHostToDevice, stream));
    TENSORHASH_CUDA_TRY(cudaMemcpyAsync(base + detail::align_storage(tensor_bytes),
                                        table_.first_tile.data(), scan_bytes,
                                        cudaMemcpyHostToDevice, stream));
    TENSORHASH_CUDA_TRY(cudaStreamSynchronize(stream));
    device_view_ = {
        reinterpret_cast<const detail::sglang::dense_tensor*>(base),
        reinterpret_cast<const std::uint64_t*>(base + detail::align_storage(tensor_bytes)),
        table_.tensors.size()};
  }

  void swap(sglang_device_plan& other) noexcept {
    std::swap(table_, other.table_);
    std::swap(device_, other.device_);
    std::swap(d_table_, other.d_table_);
    std::swap(device_view_, other.device_view_);
  }

  detail::sglang::tile_table table_;
  int device_ = 0;
  detail::device_memory d_table_;  // tensors | tile scan
  detail::sglang::table_view device_view_{};
};

/**
 * @brief One-shot convenience: plan, temporary storage (`cudaMallocAsync`), hash, free, ordered
 *        on `stream`. It synchronises twice, as the plan does: its constructor waits for the
 *        upload and its destructor for the device. Not for graph capture; capture
 *        `sglang_device_plan::hash` instead.
 * @throw error as sglang_device_plan's constructor, or cuda_error naming a failed call
 */
inline void sglang_device_hash(const tensor_view* views, std::size_t count, std::uint64_t* d_out,
                               cudaStream_t stream = nullptr) {
  const sglang_device_plan plan(views, count, stream);
  std::size_t bytes = 0;
  TENSORHASH_CUDA_TRY(plan.hash(nullptr, bytes, d_out, stream));
  void* d_temp = nullptr;
  TENSORHASH_CUDA_TRY(cudaMallocAsync(&d_temp, bytes, stream));
  const cudaError_t status = plan.hash(d_temp, bytes, d_out, stream);
  const cudaError_t freed = cudaFreeAsync(d_temp, stream);
  TENSORHASH_CUDA_TRY(status);
  TENSORHASH_CUDA_TRY(freed);
}

TENSORHASH_NAMESPACE_END
