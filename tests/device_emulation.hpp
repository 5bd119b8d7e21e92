// The device plan's launches (tensorhash/device.cuh, device_plan::hash_with) replayed on the
// host: the same agents, the warps of the leaf kernel run lane by lane through host_warp, so the
// tests prove the slot layout, the cooperative loads through the shared tile, the fold and the
// rows without a GPU.
#pragma once

#include <tensorhash/composite.hpp>
#include <tensorhash/detail/device_agent.hpp>
#include <tensorhash/detail/device_schedule.hpp>
#include <tensorhash/hasher.hpp>

#include <cstddef>
#include <initializer_list>
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

/// Leaf-kernel variants of the emulation (the device policy's `load` and `pipeline`).
struct leaf_variant {
  tensorhash::detail::leaf_load load;
  int pipeline;
};

inline const std::vector<leaf_variant>& leaf_variants() {
  using tensorhash::detail::leaf_load;
  static const std::vector<leaf_variant> all = {
      {leaf_load::warp_striped, 2}, {leaf_load::warp_striped, 1}, {leaf_load::direct, 1}};
  return all;
}

template <class Canon, tensorhash::detail::leaf_load Load, int Pipeline>
void emulate_leaf_kernel(const tensorhash::detail::schedule_view& sv, std::uint64_t slots,
                         tensorhash::digest256* fold_out, tensorhash::digest256* out) {
  using namespace tensorhash::detail;
  warp_shared smem{};
  host_warp w{&smem};
  for (std::uint64_t first = 0; first < slots; first += warp_lanes) {
    leaf_warp_agent<device_sha256, Canon, host_loader, Load, Pipeline>(w, sv, slots, first,
                                                                       fold_out, out);
  }
}

/// Digests of `tensors` as device_plan<exact or tree, Canon> computes them (`chunk == 0`: exact).
template <class Canon>
std::vector<tensorhash::digest256> emulate_device(
    const std::vector<tensorhash::composite_view>& tensors, std::uint64_t chunk,
    leaf_variant variant = leaf_variants().front()) {
  using namespace tensorhash::detail;
  const schedule s = make_schedule<Canon>(tensors.data(), tensors.size(), chunk);
  const schedule_view sv = view_of(s, chunk);
  std::vector<tensorhash::digest256> out(s.tensors());
  if (chunk == 0) {
    for (std::uint64_t g = 0; g < s.items(); ++g) {
      out[g] = hash_item<device_sha256, Canon, host_loader>(sv, g);
    }
    return out;
  }
  std::vector<tensorhash::digest256> nodes(s.nodes(1));
  if (variant.load == leaf_load::direct) {
    emulate_leaf_kernel<Canon, leaf_load::direct, 1>(sv, s.items(), nodes.data(), out.data());
  } else if (variant.pipeline == 1) {
    emulate_leaf_kernel<Canon, leaf_load::warp_striped, 1>(sv, s.items(), nodes.data(), out.data());
  } else {
    emulate_leaf_kernel<Canon, leaf_load::warp_striped, 2>(sv, s.items(), nodes.data(), out.data());
  }
  for (int l = 0; l < s.levels; ++l) {
    std::vector<tensorhash::digest256> next(s.nodes(l + 2));
    for (std::uint64_t g = 0; g < next.size(); ++g) {
      next[g] = level_node<device_sha256>(nodes.data(), s.row(l + 1), s.row(l + 2), s.tensors(), g);
    }
    nodes.swap(next);
  }
  if (s.needs_roots) {
    for (std::uint64_t k = 0; k < s.tensors(); ++k) {
      write_root<device_sha256>(sv, nodes.data(), s.row(1 + s.levels), k, out.data());
    }
  }
  return out;
}

}  // namespace test_util
