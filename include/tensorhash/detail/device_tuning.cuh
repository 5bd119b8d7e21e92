/**
 * @file detail/device_tuning.cuh
 * @brief Tuning policies per architecture, as constexpr data in the manner of CUB's policies.
 *
 * `item` kernels hash one leaf (tree) or one tensor (exact) per thread: SHA-256 is a serial
 * chain, so parallelism comes from items, and registers bound occupancy. `min_blocks_per_sm`
 * caps registers through `__launch_bounds__` (128 threads x 8 blocks = 1024 threads/SM leaves 64
 * registers per thread on sm_90, enough for the state, the 16-word schedule and temporaries).
 */
#pragma once

#include <tensorhash/config.hpp>

#include <cub/thread/thread_load.cuh>

TENSORHASH_NAMESPACE_BEGIN
namespace detail {

/// Hopper (sm_90): 64-register budget, read-only path for the 16-byte leaf loads.
struct item_policy_sm90 {
  static constexpr int threads_per_block = 128;
  static constexpr int min_blocks_per_sm = 8;
  static constexpr cub::CacheLoadModifier load_modifier = cub::LOAD_LDG;
};

/// Ampere and older (sm_80 and below): same shape, fewer resident warps per SM.
struct item_policy_sm80 {
  static constexpr int threads_per_block = 128;
  static constexpr int min_blocks_per_sm = 6;
  static constexpr cub::CacheLoadModifier load_modifier = cub::LOAD_LDG;
};

/// Tree levels and roots: two compressions per node, tiny kernels.
struct level_policy {
  static constexpr int threads_per_block = 256;
  static constexpr int min_blocks_per_sm = 1;
};

/// Calls `f(policy{})` with the item policy for compute capability `cc` (e.g. 90).
template <class F>
auto with_item_policy(int cc, F&& f) {
  if (cc >= 90) {
    return f(item_policy_sm90{});
  }
  return f(item_policy_sm80{});
}

}  // namespace detail
TENSORHASH_NAMESPACE_END
