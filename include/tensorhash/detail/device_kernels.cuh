/**
 * @file detail/device_kernels.cuh
 * @brief Kernels of the device backend: thin grid-stride loops over the agents of
 *        detail/device_schedule.hpp, which the host tests prove on the CPU.
 */
#pragma once

#include <tensorhash/config.hpp>
#include <tensorhash/detail/device_schedule.hpp>
#include <tensorhash/detail/device_tuning.cuh>

#include <cub/thread/thread_load.cuh>

#include <cuda_runtime.h>

#include <cstdint>

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

/// One leaf (tree, `chunk > 0`) or one whole tensor (exact, `chunk == 0`) per thread.
template <class Policy, class Hasher, class Canon>
__global__ void __launch_bounds__(Policy::threads_per_block, Policy::min_blocks_per_sm)
    item_kernel(schedule_view s, std::uint64_t items, typename Hasher::digest_type* out) {
  for (std::uint64_t g = global_thread(); g < items; g += grid_threads()) {
    out[g] = hash_item<Hasher, Canon, device_loader<Policy::load_modifier>>(s, g);
  }
}

/// One node of the next tree level per thread, for every tensor of the batch at once.
template <class Hasher>
__global__ void __launch_bounds__(level_policy::threads_per_block)
    level_kernel(const typename Hasher::digest_type* in, const std::uint64_t* in_row,
                 const std::uint64_t* out_row, std::uint64_t tensors, std::uint64_t nodes,
                 typename Hasher::digest_type* out) {
  for (std::uint64_t g = global_thread(); g < nodes; g += grid_threads()) {
    out[g] = level_node<Hasher>(in, in_row, out_row, tensors, g);
  }
}

/// Copies each tensor's root (HASH() for a tensor without bytes) to the output.
template <class Hasher>
__global__ void __launch_bounds__(level_policy::threads_per_block)
    root_kernel(const typename Hasher::digest_type* last, const std::uint64_t* last_row,
                std::uint64_t tensors, typename Hasher::digest_type* out) {
  for (std::uint64_t t = global_thread(); t < tensors; t += grid_threads()) {
    out[t] = tree_root<Hasher>(last, last_row, t);
  }
}

/// Blocks for `work` items at `threads` per block (grid-stride loops cover any excess).
inline unsigned grid_for(std::uint64_t work, int threads) {
  const std::uint64_t blocks = (work + threads - 1) / threads;
  return static_cast<unsigned>(blocks < 0x7FFFFFFFu ? (blocks == 0 ? 1 : blocks) : 0x7FFFFFFFu);
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

}  // namespace detail
TENSORHASH_NAMESPACE_END
