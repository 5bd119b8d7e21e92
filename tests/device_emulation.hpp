// The device plan's dispatch (tensorhash/detail/device_dispatch.hpp, what device_plan::hash
// runs) through a host launcher: the same kernel bodies over the same grids, block by block, the
// warps of the leaf kernel lane by lane through host_warp, so the tests prove the storage split,
// the launch sequence, the slot layout, the cooperative loads through the shared tile, the fold
// and the rows without a GPU.
#pragma once

#include <tensorhash/blake3.hpp>
#include <tensorhash/composite.hpp>
#include <tensorhash/detail/device_agent.hpp>
#include <tensorhash/detail/device_dispatch.hpp>
#include <tensorhash/detail/device_schedule.hpp>
#include <tensorhash/hasher.hpp>

#include <cstddef>
#include <cstring>
#include <initializer_list>
#include <stdexcept>
#include <vector>

namespace test_util {

using device_sha256 = tensorhash::basic_sha256<tensorhash::sha256_impl::portable>;

using tensorhash::detail::warp_lanes;
using tensorhash::detail::warp_shared;

/// Runs a warp's program (tensorhash/detail/device_agent.hpp) on the host, lane after lane:
/// per-lane values are arrays, `each` loops over the lanes in order, the shared tile is an array.
struct host_warp {
  template <class T>
  struct var {
    T v[warp_lanes];
    T& operator[](std::uint32_t lane) noexcept { return v[lane]; }
    const T& operator[](std::uint32_t lane) const noexcept { return v[lane]; }
  };

  warp_shared* smem;

  warp_shared& shared() noexcept { return *smem; }
  template <class F>
  void each(F&& f) {
    for (std::uint32_t lane = 0; lane < warp_lanes; ++lane) {
      f(lane);
    }
  }
  void sync() noexcept {}
  std::uint32_t max(const var<std::uint32_t>& x) const noexcept {
    std::uint32_t m = 0;
    for (std::uint32_t v : x.v) {
      m = v > m ? v : m;
    }
    return m;
  }
  /// out[l] = in[l + delta], or in[l] where l + delta is past the warp (as `__shfl_down_sync`).
  template <class T>
  void shfl_down(const var<T>& in, var<T>& out, std::uint32_t delta) const noexcept {
    for (std::uint32_t lane = 0; lane < warp_lanes; ++lane) {
      out[lane] = in[lane + delta < warp_lanes ? lane + delta : lane];
    }
  }
};

/// Bytes that warp_batch may read from its base (an upper bound).
inline constexpr std::size_t warp_batch_bytes = 3 * 40960 + 48;

/**
 * @brief A batch that takes every path of the leaf kernel, over `warp_batch_bytes` at a 16-byte
 *        aligned `base`: a tensor of more than 32 leaves with a short last one, bases 4- and
 *        1-byte aligned (per-lane paths: in bulk as stored, tiles when converted), a converting
 *        and a strided view, an empty tensor, a tensor of exactly one leaf, and composites: dense
 *        pieces (leaves inside one piece take the dense path, leaves across pieces the per-lane
 *        path), piece boundaries off the 16-byte grid (leaves inside a piece but not 16-byte
 *        aligned take the per-lane path), an empty piece, a concatenation along dim 1 (strided
 *        pieces).
 */
inline std::vector<tensorhash::composite_view> warp_batch(const std::uint8_t* base,
                                                          tensorhash::location loc) {
  using namespace tensorhash;
  const auto view = [&](std::size_t at, dtype t, std::initializer_list<std::int64_t> shape) {
    return tensor_view(base + at, t, shape, {}, loc);
  };
  const tensor_view p1 = view(0, dtype::BF16, {16, 256}), p2 = view(8192, dtype::BF16, {8, 256});
  const tensor_view p3 = view(20000, dtype::BF16, {3, 256});
  const tensor_view matrix = view(0, dtype::BF16, {64, 200});
  return {composite_view(view(0, dtype::BF16, {40960 + 7})),  // 81 leaves of 1 KiB
          composite_view(view(4, dtype::F32, {9000})), composite_view(view(1, dtype::U8, {5000})),
          composite_view(slice(matrix, 1, 3, 150)), composite_view(view(0, dtype::BF16, {0, 5})),
          composite_view(view(16, dtype::BF16, {512})), concat({p1, p2, p3}, 0),
          concat({p3, slice(p1, 0, 1, 2), p2}, 0),
          concat({p1, view(0, dtype::BF16, {0, 256}), p2}, 0),
          concat({slice(p1, 1, 0, 128), slice(p1, 1, 128, 128)}, 1),
          // Leaves inside the second piece start 24, 8, ... bytes past a 16-byte boundary.
          concat({view(0, dtype::U8, {1000}), view(4096, dtype::U8, {5000})}, 0),
          composite_view(view(0, dtype::F32, {3000}))};
}

/// A block of the level kernel on the host: its warps run one after another within each phase
/// of level_block_agent (`each_warp`), so the phases' order is the barrier.
template <class Node>
struct host_block {
  Node shared_partial[tensorhash::detail::level_warps];

  host_block() noexcept { std::memset(shared_partial, 0xA5, sizeof shared_partial); }

  Node* partial() noexcept { return shared_partial; }
  template <class F>
  void each_warp(F&& f) {
    for (std::uint32_t w = 0; w < tensorhash::detail::level_warps; ++w) {
      host_warp warp{nullptr};
      f(warp, w);
    }
  }
  void sync() noexcept {}
};

/// Runs the kernel bodies of device_dispatch.hpp on the host, for the dispatch there.
struct host_launcher {
  using status = int;
  static constexpr int success = 0;
  static constexpr int invalid_value = 1;

  /// Blocks a level launch runs at most (0: as many as asked): with 1, the block's grid-stride
  /// loop, and the barrier that ends each of its nodes, are exercised.
  unsigned level_block_cap = 0;

  int ready() const noexcept { return success; }

  template <class Policy, class Hasher, class Canon, class... Args>
  int item(unsigned blocks, int threads, Args... args) {
    return each_thread(blocks, threads, [&](tensorhash::detail::grid_coords c) {
      tensorhash::detail::item_body<Hasher, Canon, tensorhash::detail::host_loader>(c, args...);
    });
  }
  template <class Policy, class Tree, class Canon, class... Args>
  int leaf(unsigned blocks, int threads, Args... args) {
    using namespace tensorhash::detail;
    const std::uint64_t warps = threads / warp_lanes;
    for (std::uint64_t b = 0; b < blocks; ++b) {
      for (std::uint64_t w = 0; w < warps; ++w) {
        warp_shared smem;  // uninitialised on the device: garbage here too
        std::memset(&smem, 0xA5, sizeof smem);
        host_warp hw{&smem};
        leaf_body<Tree, Canon, host_loader, Policy::load, Policy::pipeline>(
            hw, b * warps + w, blocks * warps, args...);
      }
    }
    return success;
  }
  template <class Tree, class... Args>
  int level(unsigned blocks, int threads, Args... args) {
    using node_type = typename Tree::node_type;
    if (threads != static_cast<int>(tensorhash::detail::level_span)) {
      return invalid_value;  // the block model holds level_warps warps
    }
    const unsigned run =
        level_block_cap != 0 && blocks > level_block_cap ? level_block_cap : blocks;
    for (std::uint64_t b = 0; b < run; ++b) {
      host_block<node_type> block;
      tensorhash::detail::level_body<Tree>(block, b, run, args...);
    }
    return success;
  }

 private:
  template <class F>
  int each_thread(unsigned blocks, int threads, F&& f) {
    for (std::uint64_t b = 0; b < blocks; ++b) {
      for (std::uint32_t t = 0; t < static_cast<std::uint32_t>(threads); ++t) {
        f(tensorhash::detail::grid_coords{b, blocks, t, static_cast<std::uint32_t>(threads)});
      }
    }
    return success;
  }
};

/// Leaf-kernel variants of the emulation (the device policy's `load`, `pipeline` and grid cap;
/// the cap also caps the level launches' blocks, which the device never does, to run their
/// grid-stride loop).
struct leaf_variant {
  tensorhash::detail::leaf_load load;
  int pipeline;
  unsigned max_grid_blocks = 0;
};

inline const std::vector<leaf_variant>& leaf_variants() {
  using tensorhash::detail::leaf_load;
  static const std::vector<leaf_variant> all = {{leaf_load::warp_striped, 2},
                                                {leaf_load::warp_striped, 1},
                                                {leaf_load::direct, 1},
                                                {leaf_load::warp_striped, 2, 1}};
  return all;
}

/// A leaf policy as the dispatch and the host launcher read it (the device's also names a
/// cache load modifier, which the host loader has no use for).
template <tensorhash::detail::leaf_load Load, int Pipeline, unsigned Cap>
struct host_leaf_policy {
  static constexpr int threads_per_block = 128;
  static constexpr tensorhash::detail::leaf_load load = Load;
  static constexpr int pipeline = Pipeline;
  static constexpr unsigned max_grid_blocks = Cap;
};

/// Exact mode's item policy as the dispatch reads it.
struct host_item_policy {
  static constexpr int threads_per_block = 128;
};

/// Runs `dispatch(launcher, temp, bytes)` twice, as a caller of device_plan::hash does: to
/// query the temporary storage, then with that much.
template <class Dispatch>
void run_two_phase(Dispatch&& dispatch, unsigned level_block_cap = 0) {
  host_launcher launcher;
  launcher.level_block_cap = level_block_cap;
  std::size_t bytes = 0;
  if (dispatch(launcher, nullptr, bytes) != host_launcher::success || bytes == 0) {
    throw std::logic_error("device dispatch: storage query failed");
  }
  std::vector<unsigned char> temp(bytes);
  if (dispatch(launcher, temp.data(), bytes) != host_launcher::success) {
    throw std::logic_error("device dispatch failed");
  }
}

/// Digests of `tensors` as the tree dispatch of device_plan computes them: `Tree` is
/// rfc6962_tree (tree mode, leaves of `chunk` bytes) or blake3_tree (BLAKE3, chunk 1024).
template <class Tree, class Canon>
std::vector<tensorhash::digest256> emulate_tree(
    const std::vector<tensorhash::composite_view>& tensors, std::uint64_t chunk,
    leaf_variant variant) {
  using namespace tensorhash::detail;
  const schedule s = make_schedule<Canon>(tensors.data(), tensors.size(), chunk);
  const schedule_view sv = view_of(s, chunk);
  std::vector<tensorhash::digest256> out(s.tensors());
  const auto run = [&](auto policy) {
    run_two_phase(
        [&](host_launcher& l, void* temp, std::size_t& bytes) {
          return dispatch_tree<decltype(policy), Tree, Canon>(l, s, sv, temp, bytes, out.data());
        },
        variant.max_grid_blocks);  // the capped variant caps the level grid too
  };
  if (variant.load == leaf_load::direct) {
    run(host_leaf_policy<leaf_load::direct, 1, 0>{});
  } else if (variant.max_grid_blocks != 0) {
    run(host_leaf_policy<leaf_load::warp_striped, 2, 1>{});
  } else if (variant.pipeline == 1) {
    run(host_leaf_policy<leaf_load::warp_striped, 1, 0>{});
  } else {
    run(host_leaf_policy<leaf_load::warp_striped, 2, 0>{});
  }
  return out;
}

/// Digests of `tensors` as device_plan<exact or tree, Canon> computes them (`chunk == 0`: exact).
template <class Canon>
std::vector<tensorhash::digest256> emulate_device(
    const std::vector<tensorhash::composite_view>& tensors, std::uint64_t chunk,
    leaf_variant variant = leaf_variants().front()) {
  using namespace tensorhash::detail;
  if (chunk != 0) {
    return emulate_tree<rfc6962_tree<device_sha256>, Canon>(tensors, chunk, variant);
  }
  const schedule s = make_schedule<Canon>(tensors.data(), tensors.size(), 0);
  const schedule_view sv = view_of(s, 0);
  std::vector<tensorhash::digest256> out(s.tensors());
  run_two_phase([&](host_launcher& l, void* temp, std::size_t& bytes) {
    return dispatch_exact<host_item_policy, device_sha256, Canon>(l, s, sv, temp, bytes,
                                                                  out.data());
  });
  return out;
}

/// Digests of `tensors` as device_plan<exact, Canon, blake3> computes them.
template <class Canon>
std::vector<tensorhash::digest256> emulate_device_blake3(
    const std::vector<tensorhash::composite_view>& tensors,
    leaf_variant variant = leaf_variants().front()) {
  return emulate_tree<tensorhash::detail::blake3_tree, Canon>(
      tensors, tensorhash::detail::blake3_tree::chunk_bytes, variant);
}

}  // namespace test_util
