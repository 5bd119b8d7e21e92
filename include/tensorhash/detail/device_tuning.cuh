/**
 * @file detail/device_tuning.cuh
 * @brief Tuning policies per architecture, as constexpr data in the manner of CUB's policies.
 *
 * SHA-256 is a serial chain, so parallelism comes from leaves (tree) or tensors (exact), one per
 * thread, and registers bound occupancy: `min_blocks_per_sm` caps registers per thread through
 * `__launch_bounds__` (65536 / (threads_per_block x min_blocks_per_sm) on sm_80/sm_90).
 *
 * `leaf` policies (tree mode, detail/device_agent.hpp) have the knobs of the warp agent: warps per
 * block (`threads_per_block / 32`), leaves per warp (32, one per lane: fixed, as the fold spans the
 * warp's five lowest levels), `pipeline` (striped loads only; 1: load then compress; 2: the next
 * block's four 16-byte loads in flight while this one is compressed, 16 more registers) and
 * `load` (direct: a lane
 * reads its own leaf; warp_striped: eight leaves per load instruction through a shared tile)
 * and `max_grid_blocks` (0: as many blocks as the slots need; else at most that many, each
 * warp looping over several groups of 32 slots).
 * ptxas (nvcc 13.0, sm_90) compiles the leaf kernel, tile path and fold included, with no spills
 * at 128 registers (4 blocks of 128 threads per SM) and with 350-430 bytes of spills at 80 (6
 * blocks), so 4 it is. These values are otherwise unmeasured: the first GPU run tunes them
 * (benchmarks/device_bench.cu runs both load algorithms).
 * `item` policies (exact mode) keep one tensor per thread with direct 16-byte loads.
 */
#pragma once

#include <tensorhash/config.hpp>

#include <tensorhash/detail/device_agent.hpp>
#include <tensorhash/detail/device_dispatch.hpp>

#include <cub/thread/thread_load.cuh>

TENSORHASH_NAMESPACE_BEGIN
namespace detail {

/// Exact mode on Hopper (sm_90): 64-register budget, read-only path for the 16-byte loads.
struct item_policy_sm90 {
  static constexpr int threads_per_block = 128;
  static constexpr int min_blocks_per_sm = 8;
  static constexpr cub::CacheLoadModifier load_modifier = cub::LOAD_LDG;
};

/// Exact mode on Ampere and older (sm_80 and below): same shape, fewer resident warps per SM.
struct item_policy_sm80 {
  static constexpr int threads_per_block = 128;
  static constexpr int min_blocks_per_sm = 6;
  static constexpr cub::CacheLoadModifier load_modifier = cub::LOAD_LDG;
};

/// Tree leaves on Hopper (sm_90): four warps per block, striped loads, two-deep pipeline.
struct leaf_policy_sm90 {
  static constexpr int threads_per_block = 128;
  static constexpr int min_blocks_per_sm = 4;
  static constexpr int pipeline = 2;
  static constexpr leaf_load load = leaf_load::warp_striped;
  static constexpr cub::CacheLoadModifier load_modifier = cub::LOAD_LDG;
  /// Grid cap (0: one warp per 32 slots); with a cap, warps loop over several slot groups.
  static constexpr unsigned max_grid_blocks = 0;
};

/// Tree leaves on Ampere and older: sm_90's policy (the same 64 K registers per SM) until
/// measured; an alias, so that the dispatch compiles one leaf kernel, not two identical ones.
using leaf_policy_sm80 = leaf_policy_sm90;

/// Checks a leaf policy (a user's own may be passed to `device_plan::hash_with`).
template <class Policy>
constexpr bool check_leaf_policy() {
  static_assert(Policy::threads_per_block % 32 == 0 && Policy::threads_per_block >= 32 &&
                    Policy::threads_per_block <= 1024,
                "leaf policy: threads_per_block must be a multiple of 32 (whole warps) in "
                "[32, 1024]");
  static_assert(Policy::pipeline == 1 || Policy::pipeline == 2,
                "leaf policy: pipeline must be 1 or 2");
  static_assert(Policy::min_blocks_per_sm >= 1, "leaf policy: min_blocks_per_sm must be >= 1");
  static_assert(Policy::load != leaf_load::warp_striped ||
                    Policy::threads_per_block / 32 * sizeof(warp_shared) <= 48 * 1024,
                "leaf policy: warp_striped loads take 2432 bytes of static shared memory per warp, "
                "at most 48 KiB per block: use at most 640 threads_per_block");
  return true;
}

/// Calls `f(policy{})` with the item (exact) policy for compute capability `cc` (e.g. 90).
template <class F>
auto with_item_policy(int cc, F&& f) {
  if (cc >= 90) {
    return f(item_policy_sm90{});
  }
  return f(item_policy_sm80{});
}

/// Calls `f(policy{})` with the leaf (tree) policy for compute capability `cc` (e.g. 90).
template <class F>
auto with_leaf_policy(int cc, F&& f) {
  if (cc >= 90) {
    return f(leaf_policy_sm90{});
  }
  return f(leaf_policy_sm80{});
}

}  // namespace detail
TENSORHASH_NAMESPACE_END
