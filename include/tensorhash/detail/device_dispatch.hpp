/**
 * @file detail/device_dispatch.hpp
 * @brief The device backend's dispatch, written once for the GPU and for its host proof: the
 *        two-phase temporary storage, its split, and the launch sequence, through a launcher.
 *
 * As CUB's `DispatchSegmentedReduce<..., KernelSource, KernelLauncherFactory>` takes its kernels
 * and its way of launching them as parameters, these functions take a `Launcher`. The CUDA one
 * (`cuda_launcher`, device_kernels.cuh) launches the `__global__` kernels on a stream; the host
 * one (tests/device_emulation.hpp) runs the same kernel bodies below over the same grid, block
 * by block, warp by warp through a host model of a warp. The host tests therefore prove the
 * dispatch `device_plan::hash` runs, not a copy of it. A launcher has:
 * - `status`, `success`, `invalid_value`: the status type (`cudaError_t` on the device);
 * - `ready()`: checked before the first launch (the plan's device is current);
 * - `item<ItemPolicy, Hasher, Canon>(blocks, threads, ...)`, `leaf<LeafPolicy, Tree, Canon>` and
 *   `level<Tree>`: one launch each of the kernel bodies below, its status.
 *
 * Plain host/device C++: no CUDA API, so g++ compiles it for the host tests.
 */
#pragma once

#include <tensorhash/config.hpp>
#include <tensorhash/detail/device_agent.hpp>
#include <tensorhash/detail/device_schedule.hpp>
#include <tensorhash/detail/device_tree.hpp>

#include <cstddef>
#include <cstdint>

TENSORHASH_NAMESPACE_BEGIN
namespace detail {

/// Tree levels: a block of `level_warps` warps folds level_span nodes into one (eight levels).
struct level_policy {
  static constexpr int threads_per_block = static_cast<int>(level_span);
  static constexpr int min_blocks_per_sm = 1;
};

/// Where a thread is in its launch: what a grid-stride loop needs.
struct grid_coords {
  std::uint64_t block;
  std::uint64_t blocks;
  std::uint32_t thread;
  std::uint32_t threads;

  TENSORHASH_HD std::uint64_t rank() const noexcept { return block * threads + thread; }
  TENSORHASH_HD std::uint64_t size() const noexcept { return blocks * threads; }
};

/// Exact mode kernel body: one whole tensor per thread.
template <class Hasher, class Canon, class Loader>
TENSORHASH_HD void item_body(grid_coords c, const schedule_view& s, std::uint64_t items,
                             typename Hasher::digest_type* out) noexcept {
  for (std::uint64_t g = c.rank(); g < items; g += c.size()) {
    out[g] = hash_item<Hasher, Canon, Loader>(s, g);
  }
}

/// Leaf kernel body of warp `warp` of `warps` in the grid: groups of 32 slots, grid-stride, and
/// the roots of empty tensors.
template <class Tree, class Canon, class Loader, leaf_load Load, int Pipeline, class Warp>
TENSORHASH_HD void leaf_body(Warp& w, std::uint64_t warp, std::uint64_t warps,
                             const schedule_view& s, std::uint64_t slots,
                             typename Tree::node_type* fold_out, typename Tree::node_type* out) {
  const std::uint64_t slot_warps = (slots + warp_lanes - 1) / warp_lanes;
  for (std::uint64_t g = warp; g < slot_warps; g += warps) {  // uniform across the warp
    leaf_warp_agent<Tree, Canon, Loader, Load, Pipeline>(w, s, slots, g * warp_lanes, fold_out,
                                                         out);
  }
  write_empty_roots<Tree>(w, s, warp, warps, out);
}

/// Level kernel body of block `block` of `blocks`: one node of row l + 1 per block, grid-stride.
template <class Tree, class Block>
TENSORHASH_HD void level_body(Block& b, std::uint64_t block, std::uint64_t blocks,
                              const schedule_view& s, const typename Tree::node_type* in,
                              const std::uint64_t* in_row, const std::uint64_t* out_row,
                              std::uint64_t nodes, typename Tree::node_type* next,
                              typename Tree::node_type* out) {
  for (std::uint64_t g = block; g < nodes; g += blocks) {  // uniform across the block
    level_block_agent<Tree>(b, s, in, in_row, out_row, g, next, out);
  }
}

/// Blocks for `work` items at `threads` per block (grid-stride loops cover any excess).
inline unsigned grid_for(std::uint64_t work, int threads) noexcept {
  const std::uint64_t blocks = (work + threads - 1) / threads;
  return static_cast<unsigned>(blocks < 0x7FFFFFFFu ? (blocks == 0 ? 1 : blocks) : 0x7FFFFFFFu);
}

/// Temporary storage regions start 256-byte aligned, as cudaMalloc's do.
inline std::size_t align_storage(std::size_t bytes) noexcept {
  return (bytes + 255) / 256 * 256;
}

/**
 * @brief CUB's two-phase convention around `launches()`: with a null `d_temp` stores the bytes
 *        needed (at least one, so that 0 always means "not queried"); else checks the storage and
 *        the output, then runs the launches unless there is nothing to hash.
 */
template <class Launcher, class Launches>
typename Launcher::status two_phase(Launcher& launcher, std::size_t needed, void* d_temp,
                                    std::size_t& temp_bytes, const void* d_out, std::size_t outputs,
                                    Launches&& launches) {
  needed = needed == 0 ? 1 : needed;
  if (d_temp == nullptr) {
    temp_bytes = needed;
    return Launcher::success;
  }
  if (temp_bytes < needed || (d_out == nullptr && outputs != 0)) {
    return Launcher::invalid_value;
  }
  if (outputs == 0) {
    return Launcher::success;
  }
  const auto ready = launcher.ready();
  if (ready != Launcher::success) {
    return ready;
  }
  return launches();
}

/// Exact mode: one launch, no temporary storage (one byte, by the convention).
template <class ItemPolicy, class Hasher, class Canon, class Launcher>
typename Launcher::status dispatch_exact(Launcher& launcher, const schedule& s,
                                         const schedule_view& sv, void* d_temp,
                                         std::size_t& temp_bytes,
                                         typename Hasher::digest_type* d_out) {
  return two_phase(launcher, 0, d_temp, temp_bytes, d_out, s.tensors(), [&] {
    constexpr int threads = ItemPolicy::threads_per_block;
    return launcher.template item<ItemPolicy, Hasher, Canon>(grid_for(s.items(), threads), threads,
                                                             sv, s.items(), d_out);
  });
}

/**
 * @brief A tree (`Tree`: rfc6962_tree in tree mode, blake3_tree for BLAKE3): the leaf kernel,
 *        which writes row 1 (level-5 nodes) into the first region and the roots of empty tensors
 *        and of tensors of at most 32 leaves; then one level kernel per further row (eight tree
 *        levels each), alternating between the two regions, each writing the roots its row
 *        completes. A tensor of n leaves is done after 1 + ceil(log2(ceil(n / 32)) / 8) launches:
 *        3 up to 2^21 leaves (2 GiB of BLAKE3 chunks, 32 GiB of 16 KiB leaves).
 */
template <class LeafPolicy, class Tree, class Canon, class Launcher>
typename Launcher::status dispatch_tree(Launcher& launcher, const schedule& s,
                                        const schedule_view& sv, void* d_temp,
                                        std::size_t& temp_bytes, typename Tree::node_type* d_out) {
  using node_type = typename Tree::node_type;
  using status = typename Launcher::status;
  const std::size_t fold_bytes = align_storage(s.nodes(1) * sizeof(node_type));
  // Region A holds rows 1, 3, ..., region B rows 2, 4, ...; the last row is all roots, written
  // to d_out only, so B is needed from two level rows on.
  const std::size_t level_bytes = s.levels > 1 ? align_storage(s.nodes(2) * sizeof(node_type)) : 0;
  return two_phase(launcher, fold_bytes + level_bytes, d_temp, temp_bytes, d_out, s.tensors(), [&] {
    auto* buf_a = static_cast<node_type*>(d_temp);
    auto* buf_b = reinterpret_cast<node_type*>(static_cast<char*>(d_temp) + fold_bytes);
    const auto d_row = [&](int l) -> const std::uint64_t* {
      return sv.first_item + static_cast<std::size_t>(l) * (s.tensors() + 1);
    };
    constexpr int leaf_threads = LeafPolicy::threads_per_block;
    constexpr unsigned cap = LeafPolicy::max_grid_blocks;
    const unsigned leaf_blocks = grid_for(s.items(), leaf_threads);
    status st = launcher.template leaf<LeafPolicy, Tree, Canon>(
        cap != 0 && leaf_blocks > cap ? cap : leaf_blocks, leaf_threads, sv, s.items(), buf_a,
        d_out);
    for (int l = 0; l < s.levels && st == Launcher::success; ++l) {
      const node_type* in = l % 2 == 0 ? buf_a : buf_b;
      node_type* next = l % 2 == 0 ? buf_b : buf_a;
      st = launcher.template level<Tree>(grid_for(s.nodes(l + 2), 1),
                                         level_policy::threads_per_block, sv, in, d_row(l + 1),
                                         d_row(l + 2), s.nodes(l + 2), next, d_out);
    }
    return st;
  });
}

}  // namespace detail
TENSORHASH_NAMESPACE_END
