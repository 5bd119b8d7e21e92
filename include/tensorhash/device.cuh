/**
 * @file device.cuh
 * @brief CUDA backend: whole batches of tensors (a state dict) hashed on the GPU in a fixed
 *        number of stream-ordered kernel launches, capturable in a CUDA graph.
 *
 * ```
 * namespace th = tensorhash;
 * th::device_plan<th::tree> plan(views.data(), views.size(), th::tree(), stream);  // once
 * std::size_t temp_bytes = 0;
 * plan.hash(nullptr, temp_bytes, d_digests, stream);            // 1. query temporary storage
 * void* d_temp = my_allocator(temp_bytes);
 * plan.hash(d_temp, temp_bytes, d_digests, stream);             // 2. hash; no host sync
 * auto digests = th::copy_digests_to_host(d_digests, views.size(), stream);  // syncs stream
 * ```
 *
 * **Why a plan.** Checking pointers (`cudaPointerGetAttributes`), building the schedule and
 * uploading the tensor descriptors happen once, when the plan is made. `hash` then only launches
 * kernels: in tree mode one leaf kernel, in which each warp hashes 32 leaves and folds their
 * lowest five tree levels (a tensor of up to 32 leaves, 512 KiB at the default chunk, gets its
 * digest there), then level launches, each folding eight more levels of every tensor at once
 * (ceil(log2(ceil(n / 32)) / 8) for the largest tensor's n leaves, independent of the number of
 * tensors: 2 up to 2^21 leaves, 32 GiB at the default chunk); 1 in exact mode. That is what
 * makes it cheap per
 * step and capturable in a CUDA graph: RL weight updates rewrite the same buffers every step,
 * so one plan (or one captured graph) serves every step.
 *
 * **Temporary storage** follows CUB's two-phase convention: call `hash` with a null
 * `d_temp_storage` to learn the bytes, then again with that much device memory. The engine
 * keeps control of allocation (PyTorch's caching allocator, a graph memory pool), and nothing
 * is allocated on the hot path.
 *
 * **Lifetime.** The constructor uploads the schedule on the stream it is given and waits for
 * that upload, so the plan owes nothing to that stream afterwards: `hash` may run on any stream
 * of the plan's device, or in a graph, and the construction stream may be destroyed at once.
 * The destructor frees the schedule with `cudaFree`, which waits until the device has finished
 * all work queued on it, so a plan may be destroyed right after `hash` calls still in flight on
 * any stream. A graph captured from `hash` reads the schedule each time it is launched, which
 * the plan cannot know of: destroy every graph captured from `hash`, and its executable graphs,
 * before the plan. docs/guide.md §3 lists these rules.
 *
 * **Errors.** Construction throws `tensorhash::error` (bad views, host pointers,
 * `cuda_error` naming the failing call). `hash` returns the `cudaError_t` of the first failing
 * call, as CUB does, so that it can sit on a hot path or inside a capture.
 *
 * **Exact mode** is one sequential SHA-256 stream per tensor, one GPU thread each: fine for
 * many small tensors, slow for one large tensor (see docs/performance.md); use tree mode, or
 * the CPU backend, for that.
 *
 * **BLAKE3** (`device_plan<exact, Canon, blake3>`, the digest `b3sum` prints of each tensor's
 * canonical bytes) is a tree itself, so it runs on the tree-mode kernels: its 1 KiB chunks are
 * the leaves, its parents the nodes (detail/device_tree.hpp), in the same launches.
 */
#pragma once

#if !defined(__CUDACC__)
#error \
    "tensorhash/device.cuh is CUDA C++: compile it with nvcc. Host-only code includes tensorhash/host.hpp."
#endif

#include <tensorhash/blake3.hpp>
#include <tensorhash/canonical.hpp>
#include <tensorhash/composite.hpp>
#include <tensorhash/config.hpp>
#include <tensorhash/detail/cuda_check.cuh>
#include <tensorhash/detail/device_dispatch.hpp>
#include <tensorhash/detail/device_kernels.cuh>
#include <tensorhash/detail/device_schedule.hpp>
#include <tensorhash/detail/device_tuning.cuh>
#include <tensorhash/detail/policy_checks.hpp>
#include <tensorhash/error.hpp>
#include <tensorhash/hasher.hpp>
#include <tensorhash/modes.hpp>
#include <tensorhash/view.hpp>

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>
#include <vector>

TENSORHASH_NAMESPACE_BEGIN

/// Load algorithms of the tree-mode leaf kernel (`device_plan::hash_with`).
using leaf_load = detail::leaf_load;
/// The leaf policy `device_plan::hash` uses (detail/device_tuning.cuh): derive from it to tune.
using leaf_policy_sm90 = detail::leaf_policy_sm90;

/**
 * @brief A batch of device tensors prepared for hashing on one CUDA device.
 * @tparam Mode  `exact` or `tree`
 * @tparam Canon canonicalisation policy (`as_stored`, `to_bf16`, `to_f32`)
 * @tparam Hasher a model of the hasher concept
 *
 * The plan refers to the tensors' memory, not their values: hash again after the values change.
 * Move-only. `hash` may be called concurrently on several streams. Lifetime (file comment):
 * the construction stream is not used after the constructor returns; the plan may be destroyed
 * while `hash` work is in flight (the destructor waits for the device), but only after every
 * graph captured from `hash` has been destroyed; the tensors must outlive the work that reads
 * them.
 */
template <class Mode = tree, class Canon = as_stored, class Hasher = sha256>
class device_plan {
  static_assert(detail::check_policies<Mode, Canon, Hasher, true>());
  /// The plan builds a tree: tree mode, or BLAKE3 (its own tree of 1 KiB chunks) in exact mode.
  static constexpr bool builds_tree = std::is_same_v<Mode, tree> || is_blake3_v<Hasher>;
  using tree_type =
      std::conditional_t<is_blake3_v<Hasher>, detail::blake3_tree, detail::rfc6962_tree<Hasher>>;

 public:
  using digest_type = typename Hasher::digest_type;
  using hasher_type = Hasher;

  /**
   * @brief Checks the tensors, builds the schedule, uploads it on `stream` and waits for the
   *        upload (so the host synchronises with `stream`; not for use while it is captured).
   * @param tensors composites (slices, concatenations; a view converts) on the current device
   * @param mode    mode value (tree carries its chunk size)
   * @param stream  stream that orders the upload after the caller's work; unused afterwards
   * @throw error wrong_memory_space for a piece that is not device memory of the current
   *        device, size_overflow, cuda_error naming a failed CUDA call
   */
  explicit device_plan(const std::vector<composite_view>& tensors, Mode mode = Mode{},
                       cudaStream_t stream = nullptr) {
    TENSORHASH_CUDA_TRY(cudaGetDevice(&device_));
    int major = 0, minor = 0;
    TENSORHASH_CUDA_TRY(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device_));
    TENSORHASH_CUDA_TRY(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device_));
    cc_ = 10 * major + minor;
    for (std::size_t i = 0; i < tensors.size(); ++i) {
      for (const auto& piece : tensors[i].pieces()) {
        detail::check_device_view(piece, i, device_);
      }
    }
    if constexpr (std::is_same_v<Mode, tree>) {
      chunk_ = mode.chunk_bytes();
    } else if constexpr (builds_tree) {
      chunk_ = detail::blake3_tree::chunk_bytes;
    }
    schedule_ = detail::make_schedule<Canon>(tensors.data(), tensors.size(), chunk_);
    upload(stream);
  }

  /// @overload for plain views
  device_plan(const tensor_view* views, std::size_t count, Mode mode = Mode{},
              cudaStream_t stream = nullptr)
      : device_plan(as_composites(views, count), mode, stream) {}

  /// @overload for plain views
  explicit device_plan(const std::vector<tensor_view>& views, Mode mode = Mode{},
                       cudaStream_t stream = nullptr)
      : device_plan(views.data(), views.size(), mode, stream) {}

  device_plan(device_plan&& other) noexcept { swap(other); }
  device_plan& operator=(device_plan&& other) noexcept {
    device_plan tmp(std::move(other));
    swap(tmp);
    return *this;
  }
  device_plan(const device_plan&) = delete;
  device_plan& operator=(const device_plan&) = delete;
  /// Frees the schedule with `cudaFree`, after all work queued on the plan's device.
  ~device_plan() = default;

  /// Tensors in the batch (digests written by `hash`).
  std::size_t size() const noexcept { return schedule_.tensors(); }
  /// Kernel launches per `hash` call: exact 1; tree and BLAKE3: the leaf kernel (which folds the
  /// lowest five levels and writes the roots of empty tensors and of tensors of at most 32
  /// leaves), then one per level row (eight levels each, writing the roots they complete).
  int launches() const noexcept {
    if constexpr (builds_tree) {
      return size() == 0 ? 0 : 1 + schedule_.levels;
    } else {
      return 1;
    }
  }
  /// Work items: leaf slots (tree and BLAKE3: padding of the aligned slot groups included) or
  /// tensors (exact).
  std::uint64_t items() const noexcept { return schedule_.items(); }

  /**
   * @brief Hashes every tensor of the plan into `d_out[0 .. size())` (device memory), with the
   *        tuning policy the dispatch chose for the plan's device.
   * @param d_temp_storage device memory for intermediate digests, or null to query its size
   * @param temp_storage_bytes in: bytes at `d_temp_storage`; out (query): bytes needed
   * @return cudaSuccess, cudaErrorInvalidValue for too little temporary storage or a null
   *         `d_out`, cudaErrorInvalidDevice when the current device is not the plan's (kernels
   *         launch on the current device), or the error of the first failing launch
   */
  cudaError_t hash(void* d_temp_storage, std::size_t& temp_storage_bytes, digest_type* d_out,
                   cudaStream_t stream) const {
    return detail::with_leaf_policy(cc_, [&](auto policy) {
      return hash_with<decltype(policy)>(d_temp_storage, temp_storage_bytes, d_out, stream);
    });
  }

  /**
   * @brief `hash` with a leaf policy of the caller's, for tuning and benchmarks; digests do not
   *        depend on the policy.
   * @tparam LeafPolicy a struct with the members of `leaf_policy_sm90` (derive from it and
   *         redefine what you change): `threads_per_block` (whole warps; at most 640 with
   *         striped loads), `min_blocks_per_sm`, `load` (`leaf_load`), `pipeline` (1 or 2; striped
   *         loads only), `load_modifier` (a `cub::CacheLoadModifier`) and `max_grid_blocks`
   *         (0: no cap). Exact mode with SHA-256 ignores it.
   * @param d_temp_storage, temp_storage_bytes, d_out, stream as for `hash`
   * @return as `hash`
   */
  template <class LeafPolicy>
  cudaError_t hash_with(void* d_temp_storage, std::size_t& temp_storage_bytes, digest_type* d_out,
                        cudaStream_t stream) const {
    static_assert(detail::check_leaf_policy<LeafPolicy>());
    detail::cuda_launcher launcher{stream, device_};
    if constexpr (builds_tree) {
      return detail::dispatch_tree<LeafPolicy, tree_type, Canon>(
          launcher, schedule_, device_view_, d_temp_storage, temp_storage_bytes, d_out);
    } else {
      return detail::with_item_policy(cc_, [&](auto policy) {
        return detail::dispatch_exact<decltype(policy), Hasher, Canon>(
            launcher, schedule_, device_view_, d_temp_storage, temp_storage_bytes, d_out);
      });
    }
  }

 private:
  static std::vector<composite_view> as_composites(const tensor_view* views, std::size_t count) {
    if (count != 0 && views == nullptr) {
      throw error(errc::null_data, "views is null with a non-zero count");
    }
    return std::vector<composite_view>(views, views + count);
  }

  /// Uploads the schedule's five arrays into one allocation, ordered on `stream`, and waits for
  /// the copies: they read pageable host memory, and `hash` may read the schedule from any stream
  /// (or a graph), which nothing would otherwise order after them.
  void upload(cudaStream_t stream) {
    if (schedule_.tensors() == 0) {
      return;
    }
    const auto& s = schedule_;
    constexpr int arrays = 5;
    const std::size_t sizes[arrays] = {s.descs.size() * sizeof(detail::tensor_desc),
                                       s.composites.size() * sizeof(detail::composite_desc),
                                       s.piece_offsets.size() * sizeof(std::uint64_t),
                                       s.order.size() * sizeof(std::uint64_t),
                                       s.level_offsets.size() * sizeof(std::uint64_t)};
    const void* sources[arrays] = {s.descs.data(), s.composites.data(), s.piece_offsets.data(),
                                   s.order.data(), s.level_offsets.data()};
    std::size_t at[arrays], total = 0;
    for (int i = 0; i < arrays; ++i) {
      at[i] = total;
      total += detail::align_storage(sizes[i]);
    }
    d_schedule_ = detail::device_malloc(total, device_);
    auto* base = static_cast<char*>(d_schedule_.get());
    for (int i = 0; i < arrays; ++i) {
      TENSORHASH_CUDA_TRY(
          cudaMemcpyAsync(base + at[i], sources[i], sizes[i], cudaMemcpyHostToDevice, stream));
    }
    TENSORHASH_CUDA_TRY(cudaStreamSynchronize(stream));
    device_view_ =
        detail::view_at(s, chunk_, reinterpret_cast<const detail::tensor_desc*>(base + at[0]),
                        reinterpret_cast<const detail::composite_desc*>(base + at[1]),
                        reinterpret_cast<const std::uint64_t*>(base + at[2]),
                        reinterpret_cast<const std::uint64_t*>(base + at[3]),
                        reinterpret_cast<const std::uint64_t*>(base + at[4]));
  }

  void swap(device_plan& other) noexcept {
    std::swap(schedule_, other.schedule_);
    std::swap(chunk_, other.chunk_);
    std::swap(device_, other.device_);
    std::swap(cc_, other.cc_);
    std::swap(d_schedule_, other.d_schedule_);
    std::swap(device_view_, other.device_view_);
  }

  detail::schedule schedule_;
  std::uint64_t chunk_ = 0;  // 0 in exact mode
  int device_ = 0;
  int cc_ = 0;
  detail::device_memory d_schedule_;  // descs | composites | piece offsets | order | rows
  detail::schedule_view device_view_{};
};

/**
 * @brief Copies `count` digests from device memory and waits for `stream` (this helper
 *        synchronises, by design: it is where results reach the host).
 * @throw error cuda_error naming the failed call
 */
template <class Digest>
std::vector<Digest> copy_digests_to_host(const Digest* d_digests, std::size_t count,
                                         cudaStream_t stream) {
  std::vector<Digest> out(count);
  if (count == 0) {
    return out;
  }
  TENSORHASH_CUDA_TRY(cudaMemcpyAsync(out.data(), d_digests, count * sizeof(Digest),
                                      cudaMemcpyDeviceToHost, stream));
  TENSORHASH_CUDA_TRY(cudaStreamSynchronize(stream));
  return out;
}

/**
 * @brief One-shot convenience: plan, temporary storage (`cudaMallocAsync`), hash, free, ordered
 *        on `stream`. It synchronises twice, as the plan does: its constructor waits for the
 *        upload and its destructor for the device. Not for graph capture; capture
 *        `device_plan::hash` instead.
 * @throw error as device_plan's constructor, or cuda_error naming a failed call
 */
template <class Mode = tree, class Canon = as_stored, class Hasher = sha256>
void device_hash(const tensor_view* views, std::size_t count, typename Hasher::digest_type* d_out,
                 Mode mode = Mode{}, cudaStream_t stream = nullptr) {
  const device_plan<Mode, Canon, Hasher> plan(views, count, mode, stream);
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
