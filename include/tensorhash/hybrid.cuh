/**
 * @file hybrid.cuh
 * @brief Hybrid exact mode: hashlib-identical digests of a state dict resident on the GPU, the
 *        small tensors hashed on the GPU in one launch while the large ones stream to pinned
 *        host memory and are hashed by host threads.
 *
 * ```
 * namespace th = tensorhash;
 * th::hybrid_exact_plan<> plan(views);                // once: split, pinned staging, threads
 * std::vector<th::digest256> d = plan.hash(stream);   // every step; returns with the digests
 * ```
 *
 * **Why hybrid.** An exact digest is one sequential SHA-256 chain per tensor (docs/format.md
 * §4.1). On the GPU a chain runs on one thread, tens of MB/s; one host core with SHA-NI runs it
 * at about 1.75 GB/s. So a tensor of kilobytes is best hashed where it lies (a launch, no copy),
 * and a tensor of megabytes is best copied to the host, where a thread per tensor hashes it as
 * fast as the link delivers. The split is the cost model's (`hybrid_tuning`, documented in
 * docs/performance.md, "Hybrid exact mode").
 *
 * **How.** Construction splits the batch and builds a `device_plan<exact, Canon, Hasher>` for
 * the GPU's share, allocates its digests and temporary storage, pinned staging (two slices per
 * host thread), a stream per thread and the threads. `hash` launches the GPU's share on the
 * caller's stream, then each host thread copies its tensors slice by slice on its own stream and
 * hashes slice k while slice k + 1 is copied; the tensors are dealt to threads largest first.
 * Canonicalisation of streamed tensors happens on the host after the copy; strided tensors stay
 * on the GPU (detail/hybrid_pipeline.hpp says why).
 *
 * **Lifetime and synchronisation.** `hash` is synchronous: it returns when every digest is on
 * the host, having ordered its copies after the work queued on the caller's stream. The plan
 * owns its device memory, pinned memory, streams and threads; it is neither copyable nor
 * movable (hold it in a `std::unique_ptr` to move it). The tensors must stay alive and
 * unchanged from `hash`'s call to its return. One `hash` at a time per plan.
 */
#pragma once

#if !defined(__CUDACC__)
#error \
    "tensorhash/hybrid.cuh is CUDA C++: compile it with nvcc. Host-only code includes tensorhash/host.hpp."
#endif

#include <tensorhash/canonical.hpp>
#include <tensorhash/composite.hpp>
#include <tensorhash/config.hpp>
#include <tensorhash/detail/cuda_check.cuh>
#include <tensorhash/detail/hybrid_copier.cuh>
#include <tensorhash/detail/hybrid_pipeline.hpp>
#include <tensorhash/detail/policy_checks.hpp>
#include <tensorhash/detail/thread_pool.hpp>
#include <tensorhash/device.cuh>
#include <tensorhash/error.hpp>
#include <tensorhash/hasher.hpp>
#include <tensorhash/modes.hpp>
#include <tensorhash/view.hpp>

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstddef>
#include <memory>
#include <thread>
#include <vector>

TENSORHASH_NAMESPACE_BEGIN

/// Cost-model constants and staging size of the hybrid exact mode (fields documented at
/// `detail::hybrid_costs`; defaults and their sources in docs/performance.md).
using hybrid_tuning = detail::hybrid_costs;

/**
 * @brief A batch of device tensors prepared for exact (hashlib-identical) hashing split between
 *        the GPU and host threads.
 * @tparam Canon  canonicalisation policy (`as_stored`, `to_bf16`, `to_f32`)
 * @tparam Hasher a model of the hasher concept
 *
 * Digests equal `device_plan<exact, Canon, Hasher>`'s and `host_engine<exact, Canon, Hasher>`'s
 * for the same tensors. The plan refers to the tensors' memory, not their values: hash again
 * after the values change.
 */
template <class Canon = as_stored, class Hasher = sha256>
class hybrid_exact_plan {
  static_assert(detail::check_policies<exact, Canon, Hasher>());

 public:
  using digest_type = typename Hasher::digest_type;

  /**
   * @brief Splits the batch, plans the GPU's share and allocates everything `hash` uses.
   * @param tensors      composites (slices, concatenations; a view converts) on the current
   *                     device
   * @param tuning       cost-model constants and staging size
   * @param host_threads host threads, the caller included; 0 means all hardware threads
   * @param stream       stream that orders the GPU plan's upload (device_plan's constructor)
   * @throw error wrong_memory_space for a piece that is not device memory of the current
   *        device, size_overflow, invalid_argument for `tuning.slice_bytes` under 64, cuda_error
   *        naming a failed CUDA call
   */
  explicit hybrid_exact_plan(const std::vector<composite_view>& tensors,
                             const hybrid_tuning& tuning = hybrid_tuning{},
                             unsigned host_threads = 0, cudaStream_t stream = nullptr)
      : threads_(std::min(
            host_threads != 0 ? host_threads : std::max(1u, std::thread::hardware_concurrency()),
            detail::thread_pool::max_threads())),
        size_(tensors.size()),
        split_(detail::split_batch(detail::hybrid_items<Canon>(tensors), tuning, threads_)),
        gpu_(subset(tensors, split_.device), exact{}, stream),
        host_(tensors, split_.host, threads_, tuning.slice_bytes),
        pool_(std::min(threads_, std::max(host_.lanes(), 1u))) {
    TENSORHASH_CUDA_TRY(cudaGetDevice(&device_));
    for (std::size_t i : split_.host) {
      for (const auto& piece : tensors[i].pieces()) {
        detail::check_device_view(piece, i, device_);
      }
    }
    if (!split_.device.empty()) {
      TENSORHASH_CUDA_TRY(gpu_.hash(nullptr, temp_bytes_, nullptr, stream));
      d_temp_ = detail::device_malloc(temp_bytes_, device_);
      d_out_ = detail::device_malloc(split_.device.size() * sizeof(digest_type), device_);
      gpu_digests_.resize(split_.device.size());
    }
    if (host_.lanes() > 0) {
      copier_ = std::make_unique<detail::cuda_copier>(host_.lanes(), host_.slice_bytes(), device_);
    }
  }

  /// @overload for plain views
  explicit hybrid_exact_plan(const std::vector<tensor_view>& views,
                             const hybrid_tuning& tuning = hybrid_tuning{},
                             unsigned host_threads = 0, cudaStream_t stream = nullptr)
      : hybrid_exact_plan(std::vector<composite_view>(views.begin(), views.end()), tuning,
                          host_threads, stream) {}

  hybrid_exact_plan(const hybrid_exact_plan&) = delete;
  hybrid_exact_plan& operator=(const hybrid_exact_plan&) = delete;

  /// Tensors in the batch.
  std::size_t size() const noexcept { return size_; }
  /// Batch indices (ascending) hashed on the GPU.
  const std::vector<std::size_t>& on_device() const noexcept { return split_.device; }
  /// Batch indices (ascending) streamed to the host and hashed there.
  const std::vector<std::size_t>& on_host() const noexcept { return split_.host; }
  /// Host threads that hash streamed tensors (at most one per streamed tensor).
  unsigned host_lanes() const noexcept { return host_.lanes(); }
  /// Seconds the cost model predicts for the GPU's share and for the host's; `hash` takes
  /// about the larger.
  double predicted_device_seconds() const noexcept { return split_.device_s; }
  /// @copydoc predicted_device_seconds
  double predicted_host_seconds() const noexcept { return split_.host_s; }

  /**
   * @brief Hashes every tensor into `out[0 .. size())` (host memory) and returns when all are
   *        there. The GPU's share runs on `stream` while host threads copy and hash the rest;
   *        every copy is ordered after the work queued on `stream` before the call.
   * @throw error cuda_error naming a failed CUDA call (also when the current device is not the
   *        plan's)
   */
  void hash(digest_type* out, cudaStream_t stream) {
    if (size_ != 0 && out == nullptr) {
      throw error(errc::null_data, "out is null with a non-empty batch");
    }
    TENSORHASH_CUDA_TRY(detail::check_current_device(device_));
    // The copies wait for what is queued on `stream` now (the caller's writes), not for the GPU
    // share queued next: the two sides run at once.
    if (copier_) {
      copier_->after(stream);
    }
    if (!split_.device.empty()) {
      TENSORHASH_CUDA_TRY(
          gpu_.hash(d_temp_.get(), temp_bytes_, static_cast<digest_type*>(d_out_.get()), stream));
    }
    if (copier_) {
      host_.run(*copier_, pool_, out);
    }
    if (!split_.device.empty()) {
      TENSORHASH_CUDA_TRY(cudaMemcpyAsync(gpu_digests_.data(), d_out_.get(),
                                          gpu_digests_.size() * sizeof(digest_type),
                                          cudaMemcpyDeviceToHost, stream));
      TENSORHASH_CUDA_TRY(cudaStreamSynchronize(stream));
      for (std::size_t k = 0; k < split_.device.size(); ++k) {
        out[split_.device[k]] = gpu_digests_[k];
      }
    }
  }

  /// @return the digests of every tensor, in order (as `hash(out, stream)`)
  std::vector<digest_type> hash(cudaStream_t stream) {
    std::vector<digest_type> out(size_);
    hash(out.data(), stream);
    return out;
  }

 private:
  static std::vector<composite_view> subset(const std::vector<composite_view>& tensors,
                                            const std::vector<std::size_t>& which) {
    std::vector<composite_view> out;
    out.reserve(which.size());
    for (std::size_t i : which) {
      out.push_back(tensors[i]);
    }
    return out;
  }

  unsigned threads_;
  std::size_t size_;
  detail::hybrid_split split_;
  device_plan<exact, Canon, Hasher> gpu_;  ///< the GPU's share, in `split_.device` order
  detail::streamed_exact<Canon, Hasher> host_;
  detail::thread_pool pool_;
  int device_ = 0;
  std::size_t temp_bytes_ = 0;
  detail::device_memory d_temp_;
  detail::device_memory d_out_;
  std::vector<digest_type> gpu_digests_;
  std::unique_ptr<detail::cuda_copier> copier_;  ///< null when nothing is streamed
};

TENSORHASH_NAMESPACE_END
