/**
 * @file detail/device_kernels.cuh
 * @brief Kernels of the device backend: thin grid-stride loops over the agents of
 *        detail/device_schedule.hpp and detail/device_agent.hpp, which the host tests prove on
 *        the CPU, and the device model of a warp those agents are written against.
 */
#pragma once

#include <tensorhash/config.hpp>
#include <tensorhash/detail/cuda_check.cuh>
#include <tensorhash/detail/device_agent.hpp>
#include <tensorhash/detail/device_dispatch.hpp>
#include <tensorhash/detail/device_schedule.hpp>
#include <tensorhash/detail/device_tuning.cuh>

#include <cub/thread/thread_load.cuh>

#include <cuda_runtime.h>

#include <cstdint>
#include <cstring>

TENSORHASH_NAMESPACE_BEGIN
namespace detail {

/// 16-byte vector load through CUB's cache-modified loads (`ld.global.nc.v4` for LOAD_LDG).
template <cub::CacheLoadModifier Modifier>
struct device_loader {
  TENSORHASH_HD static void load(const std::uint8_t* p, std::uint32_t (&out)[4]) noexcept {
#if TENSORHASH_DEVICE_PASS
    const uint4 v = cub::ThreadLoad<Modifier>(reinterpret_cast<const uint4*>(p));
    out[0] = v.x;
    out[1] = v.y;
    out[2] = v.z;
    out[3] = v.w;
#else
    host_loader::load(p, out);
#endif
  }
};

__device__ __forceinline__ std::uint64_t global_thread() {
  return std::uint64_t{blockIdx.x} * blockDim.x + threadIdx.x;
}

__device__ __forceinline__ std::uint64_t grid_threads() {
  return std::uint64_t{gridDim.x} * blockDim.x;
}

/**
 * @brief A warp of the device, as the agents of device_agent.hpp see it: per-lane values are
 *        registers, `each` runs the calling lane, collectives are warp intrinsics. The members
 *        are host-callable only so that host passes of nvcc compile the agents' templates; they
 *        run on the device only.
 */
struct device_warp {
  template <class T>
  struct var {
    T v;
    TENSORHASH_HD T& operator[](std::uint32_t) noexcept { return v; }
    TENSORHASH_HD const T& operator[](std::uint32_t) const noexcept { return v; }
  };

  std::uint32_t lane;
  warp_shared* smem;

  TENSORHASH_HD warp_shared& shared() noexcept { return *smem; }
  template <class F>
  TENSORHASH_HD void each(F&& f) {
    f(lane);
  }
  TENSORHASH_HD void sync() noexcept {
#if TENSORHASH_DEVICE_PASS
    __syncwarp();
#endif
  }
  TENSORHASH_HD std::uint32_t max(const var<std::uint32_t>& x) const noexcept {
    std::uint32_t m = x.v;
#if TENSORHASH_DEVICE_PASS
    for (int d = 16; d > 0; d /= 2) {
      const std::uint32_t o = __shfl_xor_sync(0xFFFFFFFFu, m, d);
      m = o > m ? o : m;
    }
#endif
    return m;
  }
  /// out = in of lane + delta (own value past the warp), word by word.
  template <class T>
  TENSORHASH_HD void shfl_down(const var<T>& in, var<T>& out, std::uint32_t delta) const noexcept {
    static_assert(sizeof(T) % 4 == 0, "shfl_down moves whole 32-bit words");
    std::uint32_t words[sizeof(T) / 4];
    std::memcpy(words, &in.v, sizeof(T));
#if TENSORHASH_DEVICE_PASS
    for (std::size_t i = 0; i < sizeof(T) / 4; ++i) {
      words[i] = __shfl_down_sync(0xFFFFFFFFu, words[i], delta);
    }
#else
    (void)delta;
#endif
    std::memcpy(&out.v, words, sizeof(T));
  }
};

/// Where the calling thread is in its launch.
__device__ __forceinline__ grid_coords this_thread() {
  return {blockIdx.x, gridDim.x, threadIdx.x, blockDim.x};
}

/// Exact mode: one whole tensor per thread.
template <class Policy, class Hasher, class Canon>
__global__ void __launch_bounds__(Policy::threads_per_block, Policy::min_blocks_per_sm)
    item_kernel(schedule_view s, std::uint64_t items, typename Hasher::digest_type* out) {
  item_body<Hasher, Canon, device_loader<Policy::load_modifier>>(this_thread(), s, items, out);
}

/// Tree leaves: 32 leaf slots per warp, the lowest five levels folded (device_agent.hpp).
template <class Policy, class Tree, class Canon>
__global__ void __launch_bounds__(Policy::threads_per_block, Policy::min_blocks_per_sm)
    leaf_kernel(schedule_view s, std::uint64_t slots, typename Tree::node_type* fold_out,
                typename Tree::node_type* out) {
  constexpr std::uint32_t warps = Policy::threads_per_block / warp_lanes;
  constexpr bool striped = Policy::load == leaf_load::warp_striped;  // direct loads use none
  __shared__ warp_shared smem[striped ? warps : 1];
  const std::uint32_t warp = threadIdx.x / warp_lanes;
  device_warp w{static_cast<std::uint32_t>(threadIdx.x % warp_lanes), &smem[striped ? warp : 0]};
  leaf_body<Tree, Canon, device_loader<Policy::load_modifier>, Policy::load, Policy::pipeline>(
      w, std::uint64_t{blockIdx.x} * warps + warp, std::uint64_t{gridDim.x} * warps, s, slots,
      fold_out, out);
}

/**
 * @brief A block of the level kernel as level_block_agent (device_agent.hpp) sees it: the
 *        calling warp, the block's barrier, its shared partial nodes.
 */
template <class Node>
struct device_block {
  device_warp warp;
  std::uint32_t warp_index;
  Node* shared_partial;

  TENSORHASH_HD Node* partial() noexcept { return shared_partial; }
  template <class F>
  TENSORHASH_HD void each_warp(F&& f) {
    f(warp, warp_index);
  }
  TENSORHASH_HD void sync() noexcept {
#if TENSORHASH_DEVICE_PASS
    __syncthreads();
#endif
  }
};

/// Tree levels: one block per node of the next row (eight levels folded), for every tensor.
template <class Tree>
__global__ void __launch_bounds__(level_policy::threads_per_block)
    level_kernel(schedule_view s, const typename Tree::node_type* in, const std::uint64_t* in_row,
                 const std::uint64_t* out_row, std::uint64_t nodes, typename Tree::node_type* next,
                 typename Tree::node_type* out) {
  __shared__ typename Tree::node_type partial[level_warps];
  device_block<typename Tree::node_type> b{
      device_warp{static_cast<std::uint32_t>(threadIdx.x % warp_lanes), nullptr},
      static_cast<std::uint32_t>(threadIdx.x / warp_lanes), partial};
  level_body<Tree>(b, blockIdx.x, gridDim.x, s, in, in_row, out_row, nodes, next, out);
}

/**
 * @brief Launches `kernel` on `stream` and returns the status of this launch alone.
 *
 * A `<<<...>>>` launch reports only through cudaGetLastError / cudaPeekAtLastError, which also
 * return an error that any earlier runtime call of the thread left behind (the caller's, say), so
 * a launch that worked would be reported as failed. cudaLaunchKernelEx returns its own status.
 */
template <class... Params, class... Args>
cudaError_t launch(void (*kernel)(Params...), unsigned blocks, int threads, cudaStream_t stream,
                   Args... args) {
  cudaLaunchConfig_t config{};
  config.gridDim = dim3(blocks);
  config.blockDim = dim3(static_cast<unsigned>(threads));
  config.stream = stream;
  return cudaLaunchKernelEx(&config, kernel, args...);
}

/// The launcher of detail/device_dispatch.hpp that runs the kernels above on a CUDA stream.
struct cuda_launcher {
  using status = cudaError_t;
  static constexpr cudaError_t success = cudaSuccess;
  static constexpr cudaError_t invalid_value = cudaErrorInvalidValue;

  cudaStream_t stream;
  int device;  ///< the plan's device, which kernels need current

  cudaError_t ready() const { return check_current_device(device); }
  template <class Policy, class Hasher, class Canon, class... Args>
  cudaError_t item(unsigned blocks, int threads, Args... args) const {
    return launch(item_kernel<Policy, Hasher, Canon>, blocks, threads, stream, args...);
  }
  template <class Policy, class Tree, class Canon, class... Args>
  cudaError_t leaf(unsigned blocks, int threads, Args... args) const {
    return launch(leaf_kernel<Policy, Tree, Canon>, blocks, threads, stream, args...);
  }
  template <class Tree, class... Args>
  cudaError_t level(unsigned blocks, int threads, Args... args) const {
    return launch(level_kernel<Tree>, blocks, threads, stream, args...);
  }
};

}  // namespace detail
TENSORHASH_NAMESPACE_END
