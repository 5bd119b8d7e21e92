/**
 * @file detail/device_agent.hpp
 * @brief The tree agents, for either tree of detail/device_tree.hpp (tensorhash's tree mode,
 *        BLAKE3): the leaf agent, in which one warp hashes 32 leaf slots, one lane per leaf,
 *        loading dense leaves cooperatively through a shared-memory tile, and folds the lowest
 *        five tree levels of its leaves itself; and the level agent, in which a block of
 *        `level_warps` warps folds eight more. Plain host/device C++, written once against a
 *        `Warp` (and `Block`) model so that the host runs the very same program lane by lane
 *        (tests/device_emulation.hpp) and the tests prove the data flow between lanes (the
 *        index maps of the loads, the tile and the folds), not a copy of it. They cannot prove
 *        the synchronisation: on the host each `each` runs every lane to completion, a barrier
 *        by itself; compute-sanitizer's racecheck and synccheck do that on a GPU
 *        (scripts/gpu-run).
 *
 * **Warp model.** `Warp::var<T>` holds one T per lane (one register value on the device, an array
 * of 32 on the host); `each(f)` runs `f(lane)` for the lanes (the calling lane on the device, all
 * 32 in order on the host); `sync()` orders the lanes' shared-memory accesses (`__syncwarp`);
 * `max` and `shfl_down` are the warp collectives; `shared()` is the warp's `warp_shared`. Control
 * flow outside `each` is uniform across the warp. The device model is in device_kernels.cuh, the
 * host model in tests/device_emulation.hpp.
 *
 * **Cooperative loads (`leaf_load::warp_striped`).** Lane l holds leaf l. Per 64-byte block step
 * the warp issues four 16-byte loads per lane: in round q, lane l reads quad l % 4 of leaf
 * 8q + l / 4, so each load instruction covers eight whole 64-byte segments (16 full 32-byte
 * sectors) rather than 32 scattered 16-byte pieces. The words go to a 32 x 16 word tile in shared
 * memory, XOR-swizzled (`tile_word`) so that both the stores and the row reads that follow are free
 * of bank conflicts; then lane l reads row l, its leaf's block. With `Pipeline == 2` the next
 * block's loads are issued before the current block is compressed (register double buffering).
 * cub::WarpExchange is not used: its shared-memory variant (CCCL 3.0,
 * cub/warp/specializations/warp_exchange_smem.cuh) reads 16 items per lane at index 16 * lane +
 * item without the padding it allocates, a 16-way bank conflict for this shape, and its shuffle
 * variant needs as many items per lane as lanes.
 *
 * **Fold.** Slot groups are aligned (device_schedule.hpp), so the RFC 6962 sibling of a node
 * below level 5 is in the same warp: five rounds of `shfl_down` by 1, 2, 4, 8, 16 pair node i with
 * node i + h where i is a multiple of 2h and i + h < n, else carry it up; exactly the level-wise
 * pairing of device_schedule.hpp, which equals RFC 6962's split at the largest power of two.
 */
#pragma once

#include <tensorhash/config.hpp>
#include <tensorhash/detail/device_schedule.hpp>
#include <tensorhash/detail/device_tree.hpp>
#include <tensorhash/modes.hpp>

#include <cstdint>
#include <type_traits>

TENSORHASH_NAMESPACE_BEGIN
namespace detail {

/// How a leaf kernel reads dense leaves.
enum class leaf_load {
  direct,        ///< each lane reads its own leaf with 16-byte loads
  warp_striped,  ///< the warp reads eight leaves' blocks per load, through a shared tile
};

/// Shared memory of one warp of the leaf kernel.
struct warp_shared {
  std::uint32_t tile[warp_lanes * 16];   ///< one 64-byte block of each of 32 leaves
  const std::uint8_t* rows[warp_lanes];  ///< each lane's dense leaf (null if none)
  std::uint32_t row_blocks[warp_lanes];  ///< whole 64-byte blocks of each lane's leaf
};

/// Word `c` of row `r` in the tile: rows r and r + 2 share banks, so word c of row r moves to
/// column c ^ ((r / 2) % 16). A row read (fixed c, r = lane) and a round's stores (r = 8q + l / 4,
/// c = 4 (l % 4) + k) then each touch 32 distinct banks.
TENSORHASH_HD constexpr std::uint32_t tile_word(std::uint32_t r, std::uint32_t c) noexcept {
  return 16 * r + (c ^ ((r >> 1) & 15));
}

static_assert(tree::max_chunk_bytes <= 0xFFFFFFFFu,
              "leaf_slot::bytes and warp_shared::row_blocks hold a leaf's size in 32 bits");

/// One leaf slot as a lane sees it (kept small: it lives in registers through the whole leaf).
struct leaf_slot {
  std::uint64_t k = 0;       ///< position of the tensor in slot order (the tensor: order[k])
  std::uint64_t index = 0;   ///< leaf index in the tensor (canonical offset: index * chunk)
  std::uint64_t leaves = 0;  ///< leaves of the tensor
  std::uint32_t bytes = 0;   ///< canonical bytes of the leaf (a chunk is at most 16 MiB)
  bool active = false;       ///< a leaf, not padding of a slot group or past the last slot
};

/// @return slot `slot` of a tree schedule of `slots` slots
TENSORHASH_HD inline leaf_slot locate_leaf(const schedule_view& s, std::uint64_t slots,
                                           std::uint64_t slot) noexcept {
  leaf_slot x;
  if (slot >= slots) {
    return x;
  }
  x.k = find_segment(s.first_item, s.tensors, slot);
  const std::uint64_t total = s.composites[s.order[x.k]].canonical_bytes;
  x.leaves = (total + s.chunk - 1) / s.chunk;
  x.index = slot - s.first_item[x.k];
  x.active = x.index < x.leaves;
  if (x.active) {
    const std::uint64_t rest = total - x.index * s.chunk;
    x.bytes = static_cast<std::uint32_t>(rest < s.chunk ? rest : s.chunk);
  }
  return x;
}

/// The dense leaves of a warp (lanes with `dense[l]` set), read cooperatively (file comment).
template <class Tree, class Loader, int Pipeline, class Warp>
TENSORHASH_HD void striped_dense_leaves(
    Warp& w, const typename Warp::template var<leaf_slot>& slot,
    const typename Warp::template var<const std::uint8_t*>& dense,
    typename Warp::template var<typename Tree::node_type>& node) {
  warp_shared& sh = w.shared();
  typename Warp::template var<typename Tree::leaf_state> st;
  typename Warp::template var<std::uint32_t> blocks;
  typename Warp::template var<std::uint32_t[16]> staged;  // this lane's four 16-byte loads
  w.each([&](std::uint32_t l) {
    blocks[l] = dense[l] != nullptr ? Tree::dense_blocks(slot[l].bytes) : 0;
    sh.rows[l] = dense[l];
    sh.row_blocks[l] = blocks[l];
    st[l] = Tree::begin(slot[l].index, slot[l].bytes, slot[l].leaves == 1);
  });
  const std::uint32_t steps = w.max(blocks);
  w.sync();
  const auto load = [&](std::uint32_t b) {
    w.each([&](std::uint32_t l) {
      for (std::uint32_t q = 0; q < 4; ++q) {
        const std::uint32_t row = 8 * q + l / 4;
        std::uint32_t v[4] = {0, 0, 0, 0};
        if (b < sh.row_blocks[row]) {
          Loader::load(sh.rows[row] + 64 * std::uint64_t{b} + 16 * (l % 4), v);
        }
        for (std::uint32_t k = 0; k < 4; ++k) {
          staged[l][4 * q + k] = v[k];
        }
      }
    });
  };
  if (steps > 0) {
    load(0);
  }
  for (std::uint32_t b = 0; b < steps; ++b) {
    if (Pipeline == 1 && b > 0) {
      load(b);
    }
    w.each([&](std::uint32_t l) {
      for (std::uint32_t q = 0; q < 4; ++q) {
        for (std::uint32_t k = 0; k < 4; ++k) {
          sh.tile[tile_word(8 * q + l / 4, 4 * (l % 4) + k)] = staged[l][4 * q + k];
        }
      }
    });
    if (Pipeline == 2 && b + 1 < steps) {
      load(b + 1);  // in flight while block b is compressed
    }
    w.sync();
    w.each([&](std::uint32_t l) {
      std::uint32_t words[16];
      for (std::uint32_t c = 0; c < 16; ++c) {
        words[c] = sh.tile[tile_word(l, c)];
      }
      if (b < blocks[l]) {
        Tree::absorb(st[l], words, b);
      }
    });
    w.sync();  // every row read before the next block's stores
  }
  w.each([&](std::uint32_t l) {
    if (dense[l] != nullptr) {
      node[l] = Tree::finish(st[l], dense[l], slot[l].bytes);
    }
  });
}

/**
 * @brief Pairs the warp's nodes level by level over `width` lanes (a power of two, at most 32):
 *        lane l holds node `index[l]` of a row of `count[l]` nodes (0: none), siblings in
 *        lanes l and l + h; node i of each level merges nodes 2i and 2i + 1 or carries the last
 *        up. With `rooted` (the row is its tensor's last) the merge that leaves the row one node
 *        (`count[l] <= 2h`) makes the root.
 */
template <class Tree, class Warp>
TENSORHASH_HD void fold_levels(Warp& w, typename Warp::template var<typename Tree::node_type>& node,
                               const typename Warp::template var<std::uint64_t>& index,
                               const typename Warp::template var<std::uint64_t>& count,
                               std::uint32_t width, bool rooted) {
  typename Warp::template var<typename Tree::node_type> partner;
  for (std::uint32_t h = 1; h < width; h <<= 1) {
    w.shfl_down(node, partner, h);
    w.each([&](std::uint32_t l) {
      if (index[l] % (2 * h) == 0 && index[l] + h < count[l]) {
        node[l] = Tree::node(node[l], partner[l], rooted && count[l] <= 2 * h);
      }
    });
  }
}

/**
 * @brief The leaf kernel's work for one warp: slots `[first_slot, first_slot + 32)` of a tree
 *        schedule of `slots` slots. Writes the root of each tensor of 1 to 32 leaves to
 *        `out[t]`, and each level-5 node of a larger tensor to `fold_out` at row 1's offsets.
 */
template <class Tree, class Canon, class Loader, leaf_load Load, int Pipeline, class Warp>
TENSORHASH_HD void leaf_warp_agent(Warp& w, const schedule_view& s, std::uint64_t slots,
                                   std::uint64_t first_slot, typename Tree::node_type* fold_out,
                                   typename Tree::node_type* out) {
  using node_type = typename Tree::node_type;
  typename Warp::template var<leaf_slot> slot;
  typename Warp::template var<const std::uint8_t*> dense;
  typename Warp::template var<node_type> node;
  w.each([&](std::uint32_t l) {
    slot[l] = locate_leaf(s, slots, first_slot + l);
    dense[l] = Load == leaf_load::warp_striped && slot[l].active
                   ? dense_span(s, s.order[slot[l].k], slot[l].index * s.chunk, slot[l].bytes)
                   : nullptr;
    node[l] = node_type{};
  });
  if constexpr (Load == leaf_load::warp_striped) {
    striped_dense_leaves<Tree, Loader, Pipeline>(w, slot, dense, node);
  }
  w.each([&](std::uint32_t l) {
    const leaf_slot& x = slot[l];
    if (!x.active || dense[l] != nullptr) {
      return;
    }
    node[l] = Tree::template leaf<Canon, Loader>(s, s.order[x.k], x.index, x.bytes, x.leaves == 1);
  });
  typename Warp::template var<std::uint64_t> index, count;
  w.each([&](std::uint32_t l) {
    index[l] = slot[l].index;
    count[l] = slot[l].active ? slot[l].leaves : 0;
  });
  // Rooted: a tensor of at most 32 leaves ends here; a larger one never has count <= 32.
  fold_levels<Tree>(w, node, index, count, warp_lanes, true);
  w.each([&](std::uint32_t l) {
    const leaf_slot& x = slot[l];
    if (!x.active || x.index % warp_lanes != 0) {
      return;
    }
    if (x.leaves <= warp_lanes) {
      out[s.order[x.k]] = node[l];
    } else {
      fold_out[s.fold_row[x.k] + x.index / warp_lanes] = node[l];
    }
  });
}

/// The root of every tensor of a tree schedule without leaves, at positions `[k, tensors)` in
/// steps of `step`: what the leaf kernel's warps write besides their slots.
template <class Tree, class Warp>
TENSORHASH_HD void write_empty_roots(Warp& w, const schedule_view& s, std::uint64_t k,
                                     std::uint64_t step, typename Tree::node_type* out) {
  for (k += s.empty_from; k < s.tensors; k += step) {
    w.each([&](std::uint32_t l) {
      if (l == 0) {
        out[s.order[k]] = Tree::empty_root();
      }
    });
  }
}

/**
 * @brief The level kernel's work for one block: node `g` of row `l + 1` (scans `in_row` and
 *        `out_row`, by position), the fold of the aligned run of up to level_span nodes of row
 *        `l` under it. Each warp folds 32 of them (five levels) into the block's `partial`
 *        array; after the block's barrier warp 0 folds those (three more). The node goes to
 *        `next[g]`, or, when it is its tensor's only node in row l + 1, as the root to `out`.
 *
 * **Block model.** `Block::each_warp(f)` runs `f(warp, w)` for the block's warps (the calling one
 * on the device, all in order on the host), `sync()` is the block's barrier, `partial()` its
 * `level_warps` nodes of shared memory. Control flow outside `each_warp` is uniform.
 */
template <class Tree, class Block>
TENSORHASH_HD void level_block_agent(Block& b, const schedule_view& s,
                                     const typename Tree::node_type* in,
                                     const std::uint64_t* in_row, const std::uint64_t* out_row,
                                     std::uint64_t g, typename Tree::node_type* next,
                                     typename Tree::node_type* out) {
  using node_type = typename Tree::node_type;
  const std::uint64_t k = find_segment(out_row, s.tensors, g);
  const std::uint64_t i = g - out_row[k];
  const std::uint64_t first = in_row[k] + i * level_span;
  const std::uint64_t rest = in_row[k + 1] - first;
  const std::uint64_t m = rest < level_span ? rest : level_span;  // nodes under node g
  const bool root = out_row[k + 1] - out_row[k] == 1;
  // One warp's fold of nodes `source(base + l)` (l < width, those below `count`); returns the
  // result held by lane 0 (each lane's own value on the device, where lane 0 stores it).
  const auto fold = [&](auto& w, std::uint64_t base, std::uint64_t count, std::uint32_t width,
                        const auto& source) {
    using warp_type = std::decay_t<decltype(w)>;
    typename warp_type::template var<node_type> node;
    typename warp_type::template var<std::uint64_t> index, counts;
    w.each([&](std::uint32_t l) {
      index[l] = base + l;
      counts[l] = count;
      node[l] = l < width && index[l] < count ? source(index[l]) : node_type{};
    });
    fold_levels<Tree>(w, node, index, counts, width, root);
    return node[0];
  };
  node_type* partial = b.partial();
  b.each_warp([&](auto& w, std::uint32_t warp) {
    const node_type v =
        fold(w, warp * warp_lanes, m, warp_lanes, [&](std::uint64_t j) { return in[first + j]; });
    w.each([&](std::uint32_t l) {
      if (l == 0) {
        partial[warp] = v;
      }
    });
  });
  b.sync();
  const std::uint64_t groups = (m + warp_lanes - 1) / warp_lanes;
  b.each_warp([&](auto& w, std::uint32_t warp) {
    if (warp != 0) {
      return;
    }
    const node_type v =
        fold(w, 0, groups, level_warps, [&](std::uint64_t j) { return partial[j]; });
    w.each([&](std::uint32_t l) {
      if (l == 0) {
        if (root) {
          out[s.order[k]] = v;
        } else {
          next[g] = v;
        }
      }
    });
  });
  b.sync();  // partial is rewritten by the block's next node
}

}  // namespace detail
TENSORHASH_NAMESPACE_END
