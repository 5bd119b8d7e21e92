/**
 * @file detail/device_schedule.hpp
 * @brief What each GPU thread computes, as plain host/device C++ (no CUDA API), so that the
 *        device schedule can be built on the host and proved there.
 *
 * Tensors are composites (tensorhash/composite.hpp): runs of pieces whose canonical bytes follow
 * each other; a plain view is one piece.
 *
 * Exact mode: one item per tensor; row 0 of `level_offsets` is 0, 1, ..., tensors.
 *
 * Tree mode: leaves are hashed by warps (detail/device_agent.hpp), one lane per leaf, and a warp
 * folds the lowest five levels of its leaves itself. For that, each tensor of n >= 1 leaves takes
 * a group of slots aligned to g = min(32, bit_ceil(n)) and rounded up to a multiple of g, so no
 * pair of RFC 6962 siblings below level 5 is split across warps. Tensors are laid out in slot
 * order, by descending g (stable; empty tensors last), which keeps every group aligned without
 * gaps: `order[k]` is the tensor at position k. Rows, all indexed by position k:
 * - row 0: exclusive scan of slots (padded groups);
 * - row 1: exclusive scan of ceil(n / 32) for tensors of more than 32 leaves (their level-5
 *   nodes, written by the leaf kernel), 0 otherwise (a tensor of 1 to 32 leaves gets its root
 *   from the leaf kernel directly, and so does an empty tensor);
 * - row l + 1: ceil(count_l / level_span) nodes per tensor of count_l > 1 nodes, 0 otherwise: one
 *   block of the level kernel folds each aligned run of level_span = 256 nodes of row l, eight
 *   levels of pairing (node i = H(0x01 || n[2i] || n[2i+1]) or n[2i] carried up), into one node;
 *   a tensor left with one node has its root, written to the output (`levels` rows after row 1,
 *   until no tensor has more than one node).
 */
#pragma once

#include <tensorhash/canonical.hpp>
#include <tensorhash/composite.hpp>
#include <tensorhash/config.hpp>
#include <tensorhash/detail/strided.hpp>
#include <tensorhash/error.hpp>
#include <tensorhash/hasher.hpp>
#include <tensorhash/merkle.hpp>
#include <tensorhash/modes.hpp>
#include <tensorhash/view.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

TENSORHASH_NAMESPACE_BEGIN
namespace detail {

/// One tensor as the device agents see it.
struct tensor_desc {
  const std::uint8_t* base = nullptr;  ///< element (0, ..., 0)
  byte_layout layout;                  ///< collapsed byte layout
  std::uint64_t canonical_bytes = 0;   ///< numel * size_of(canonical dtype)
  dtype stored = dtype::U8;
  std::uint32_t in_bytes = 1;   ///< stored element size
  std::uint32_t out_bytes = 1;  ///< canonical element size
  bool plain = false;           ///< canonical bytes are the stored bytes, contiguous
  bool dense_identity = false;  ///< plain, at a 16-byte aligned base
};

/// @return the descriptor of a validated view under canonicalisation `Canon`
template <class Canon>
tensor_desc make_desc(const tensor_view& v) {
  tensor_desc d;
  d.base = static_cast<const std::uint8_t*>(v.data());
  d.layout = collapse(v);
  d.stored = v.dtype();
  d.in_bytes = size_of(v.dtype());
  d.out_bytes = size_of(Canon::target(v.dtype()));
  if (__builtin_mul_overflow(v.numel(), std::uint64_t{d.out_bytes}, &d.canonical_bytes) ||
      d.canonical_bytes > max_message_bytes) {
    throw error(errc::size_overflow, "canonical byte size exceeds SHA-256's 2^61-1 limit");
  }
  d.plain = Canon::target(v.dtype()) == v.dtype() && d.layout.dense(d.in_bytes);
  d.dense_identity = d.plain && reinterpret_cast<std::uintptr_t>(d.base) % 16 == 0;
  return d;
}

/// One tensor of a batch: a run of pieces (one for a plain view) in the descriptor array.
struct composite_desc {
  std::uint64_t first_piece = 0;
  std::uint64_t pieces = 0;
  std::uint64_t canonical_bytes = 0;
  std::uint32_t out_bytes = 1;
};

/// Lanes of a warp: leaves hashed side by side, and the span of the levels folded by a warp.
inline constexpr std::uint64_t warp_lanes = 32;

/// Warps per block of the level kernel, and the nodes one block folds into one (eight levels).
inline constexpr std::uint64_t level_warps = 8;
inline constexpr std::uint64_t level_span = warp_lanes * level_warps;

/// @return the slot group of a tensor of `n` leaves: 0 for none, else min(32, bit_ceil(n))
TENSORHASH_HD constexpr std::uint64_t slot_group(std::uint64_t n) noexcept {
  std::uint64_t g = n == 0 ? 0 : 1;
  while (g < n && g < warp_lanes) {
    g <<= 1;
  }
  return g;
}

/// Host-built schedule of one batch: pieces, tensors, slot order, item scan and level scans.
struct schedule {
  std::vector<tensor_desc> descs;          ///< every piece of every tensor
  std::vector<composite_desc> composites;  ///< one per tensor
  /// Per tensor t, pieces + 1 canonical byte offsets of its pieces, from index first_piece + t.
  std::vector<std::uint64_t> piece_offsets;
  std::vector<std::uint64_t> order;          ///< tensor at each position (identity in exact mode)
  std::vector<std::uint64_t> level_offsets;  ///< rows of tensors() + 1 entries (file comment)
  int levels = 0;                            ///< level-kernel rows after the fold row (tree only)
  std::uint64_t empty_from = 0;              ///< tree: position of the first tensor without leaves

  std::size_t tensors() const noexcept { return composites.size(); }
  /// Row `l` of the scans; row 0 is the item (exact) or slot (tree) scan.
  const std::uint64_t* row(int l) const noexcept {
    return level_offsets.data() + static_cast<std::size_t>(l) * (composites.size() + 1);
  }
  /// Items of the batch: tensors (exact) or leaf slots, idle padding included (tree).
  std::uint64_t items() const noexcept { return row(0)[composites.size()]; }
  /// Nodes of row `l` over all tensors.
  std::uint64_t nodes(int l) const noexcept { return row(l)[composites.size()]; }
};

/// Pointers to a schedule's arrays, wherever they live; what every kernel receives.
struct schedule_view {
  const tensor_desc* descs;
  const composite_desc* composites;
  const std::uint64_t* piece_offsets;
  const std::uint64_t* order;
  const std::uint64_t* first_item;  ///< row 0
  const std::uint64_t* fold_row;    ///< row 1 (tree), null in exact mode
  std::uint64_t tensors;
  std::uint64_t chunk;       ///< 0 in exact mode
  std::uint64_t empty_from;  ///< tree: tensors at positions [empty_from, tensors) are empty
};

/// Builds the schedule; in exact mode (`chunk == 0`) every tensor is one item.
template <class Canon>
schedule make_schedule(const composite_view* tensors, std::size_t n, std::uint64_t chunk) {
  schedule s;
  s.composites.reserve(n);
  std::vector<std::uint64_t> leaves(n);
  for (std::size_t i = 0; i < n; ++i) {
    composite_desc c;
    c.first_piece = s.descs.size();
    c.out_bytes = size_of(Canon::target(tensors[i].dtype()));
    s.piece_offsets.push_back(0);
    for (const auto& piece : tensors[i].pieces()) {
      s.descs.push_back(make_desc<Canon>(piece));
      if (__builtin_add_overflow(c.canonical_bytes, s.descs.back().canonical_bytes,
                                 &c.canonical_bytes) ||
          c.canonical_bytes > max_message_bytes) {
        throw error(errc::size_overflow, "tensor " + std::to_string(i) +
                                             ": canonical byte size exceeds SHA-256's limit");
      }
      s.piece_offsets.push_back(c.canonical_bytes);
    }
    c.pieces = s.descs.size() - c.first_piece;
    s.composites.push_back(c);
    leaves[i] = chunk == 0 ? 0 : (c.canonical_bytes + chunk - 1) / chunk;
  }
  s.order.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    s.order[i] = i;
  }
  s.empty_from = n;
  if (chunk == 0) {
    for (std::size_t i = 0; i <= n; ++i) {
      s.level_offsets.push_back(i);
    }
    return s;
  }
  std::stable_sort(s.order.begin(), s.order.end(), [&](std::uint64_t a, std::uint64_t b) {
    return slot_group(leaves[a]) > slot_group(leaves[b]);
  });
  const auto push_row = [&](const std::vector<std::uint64_t>& counts) {
    std::uint64_t acc = 0;
    for (std::size_t k = 0; k < n; ++k) {
      s.level_offsets.push_back(acc);
      acc += counts[k];
    }
    s.level_offsets.push_back(acc);
  };
  std::vector<std::uint64_t> counts(n);
  for (std::size_t k = 0; k < n; ++k) {
    const std::uint64_t l = leaves[s.order[k]], g = slot_group(l);
    counts[k] = g == 0 ? 0 : (l + g - 1) / g * g;
    if (l == 0 && s.empty_from == n) {
      s.empty_from = k;  // empty tensors come last in slot order
    }
  }
  push_row(counts);
  bool more = false;
  for (std::size_t k = 0; k < n; ++k) {
    const std::uint64_t l = leaves[s.order[k]];
    counts[k] = l > warp_lanes ? (l + warp_lanes - 1) / warp_lanes : 0;
    more = more || counts[k] > 1;
  }
  push_row(counts);
  while (more) {
    more = false;
    for (auto& c : counts) {
      c = c > 1 ? (c + level_span - 1) / level_span : 0;
      more = more || c > 1;
    }
    push_row(counts);
    ++s.levels;
  }
  return s;
}

/// @return the view of schedule `s` whose arrays are copied to the given addresses (`rows`: its
/// level_offsets), on the device (device_plan) or the host (view_of)
inline schedule_view view_at(const schedule& s, std::uint64_t chunk, const tensor_desc* descs,
                             const composite_desc* composites, const std::uint64_t* piece_offsets,
                             const std::uint64_t* order, const std::uint64_t* rows) noexcept {
  return {descs,       composites, piece_offsets,
          order,       rows,       chunk != 0 ? rows + (s.tensors() + 1) : nullptr,
          s.tensors(), chunk,      s.empty_from};
}

/// @return the host-memory view of a schedule (for host emulation and tests)
inline schedule_view view_of(const schedule& s, std::uint64_t chunk) noexcept {
  return view_at(s, chunk, s.descs.data(), s.composites.data(), s.piece_offsets.data(),
                 s.order.data(), s.level_offsets.data());
}

/// @return the tensor whose range of `offsets[0..n]` (an exclusive scan) holds `g`
TENSORHASH_HD inline std::uint64_t find_segment(const std::uint64_t* offsets, std::uint64_t n,
                                                std::uint64_t g) noexcept {
  std::uint64_t lo = 0, hi = n;  // invariant: offsets[lo] <= g < offsets[hi]
  while (hi - lo > 1) {
    const std::uint64_t mid = lo + (hi - lo) / 2;
    if (offsets[mid] <= g) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  return lo;
}

/// Reads 16 bytes (four little-endian words) on the host, for the emulation. Device loaders use
/// vector loads, which fault on an address that is not 16-byte aligned: so does this one.
struct host_loader {
  static void load(const std::uint8_t* p, std::uint32_t (&out)[4]) noexcept {
    if (reinterpret_cast<std::uintptr_t>(p) % 16 != 0) {
      std::fputs(
          "tensorhash: host_loader: 16-byte load from an address that is not 16-byte "
          "aligned (a device vector load would fault)\n",
          stderr);
      std::abort();
    }
    std::memcpy(out, p, 16);
  }
};

TENSORHASH_HD TENSORHASH_FORCEINLINE std::uint32_t byte_swap(std::uint32_t x) noexcept {
#if TENSORHASH_DEVICE_PASS
  return __byte_perm(x, 0, 0x0123);
#else
  return __builtin_bswap32(x);
#endif
}

/**
 * @brief Absorbs one 64-byte block of `[prefix byte] || bytes`, given as the 16 little-endian
 *        words of the 64 source bytes as loaded: to big-endian words, shifted right by one byte
 *        with funnel shifts when there is a prefix (`carry` holds the previous block's last byte).
 */
template <class Hasher>
TENSORHASH_HD TENSORHASH_FORCEINLINE void absorb_dense_block(typename Hasher::state_type& st,
                                                             std::uint32_t (&w)[16], bool prefix,
                                                             std::uint32_t& carry) noexcept {
  for (int k = 0; k < 16; ++k) {
    w[k] = byte_swap(w[k]);
  }
  if (prefix) {
    const std::uint32_t last = w[15] & 0xFFu;
    for (int j = 15; j > 0; --j) {
      w[j] = (w[j - 1] << 24) | (w[j] >> 8);
    }
    w[0] = (carry << 24) | (w[0] >> 8);
    carry = last;
  }
  Hasher::compress_words(st, w);
}

/// Finishes `[prefix byte] || p[0:n]` once its n / 64 whole source blocks are absorbed into `st`
/// (`carry` as absorb_dense_block left it): the tail bytes, the padding and the length.
template <class Hasher>
TENSORHASH_HD typename Hasher::digest_type finish_dense(typename Hasher::state_type st,
                                                        const std::uint8_t* p, std::uint64_t n,
                                                        bool prefix, std::uint32_t carry) noexcept {
  const std::uint64_t blocks = n / 64;
  std::uint8_t tail[Hasher::block_bytes];
  std::uint32_t len = 0;
  if (prefix) {
    tail[len++] = static_cast<std::uint8_t>(carry);
  }
  for (std::uint64_t i = blocks * 64; i < n; ++i) {
    tail[len++] = p[i];
  }
  if (len == Hasher::block_bytes) {  // a prefix byte plus 63 tail bytes fill one more block
    Hasher::compress(st, tail, 1);
    len = 0;
  }
  return Hasher::finalize(st, tail, len, n + (prefix ? 1 : 0));
}

/// The 64 bytes at 16-byte aligned `p` as 16 little-endian words, by four 16-byte loads.
template <class Loader>
TENSORHASH_HD TENSORHASH_FORCEINLINE void load_block_words(const std::uint8_t* p,
                                                           std::uint32_t (&w)[16]) noexcept {
  for (int q = 0; q < 4; ++q) {
    std::uint32_t v[4];
    Loader::load(p + 16 * q, v);
    for (int k = 0; k < 4; ++k) {
      w[4 * q + k] = v[k];
    }
  }
}

/**
 * @brief Hash of `[prefix byte] || bytes[0:n]` for 16-byte aligned dense bytes, read by one
 *        thread: 64-byte blocks from four 16-byte loads.
 */
template <class Hasher, class Loader>
TENSORHASH_HD typename Hasher::digest_type hash_dense(const std::uint8_t* p, std::uint64_t n,
                                                      bool prefix) noexcept {
  auto st = Hasher::initial_state();
  std::uint32_t carry = 0;
  const std::uint64_t blocks = n / 64;
  for (std::uint64_t b = 0; b < blocks; ++b) {
    std::uint32_t w[16];
    load_block_words<Loader>(p + 64 * b, w);
    absorb_dense_block<Hasher>(st, w, prefix, carry);
  }
  return finish_dense<Hasher>(st, p, n, prefix, carry);
}

/**
 * @brief Feeds the canonical bytes of elements `[first, first + count)` of any view into `s`
 *        (a `hash_stream` or a BLAKE3 `chunk_state`: anything with `update(bytes, n)`).
 *
 * A plain piece (canonical bytes = stored bytes, contiguous) is fed in one update, at any
 * alignment (whole blocks compressed straight from memory). Any other piece takes the tile path:
 * a tile of up to 64 canonical bytes is gathered and converted into a 64-byte local buffer, then
 * absorbed by one update, so the stream's buffering runs once per tile, not once per element.
 */
template <class Canon, class Stream>
TENSORHASH_HD void feed_strided(Stream& s, const tensor_desc& d, std::uint64_t first,
                                std::uint64_t count) noexcept {
  if (count == 0) {
    return;  // an empty tensor's layout may hold zero extents: never seek in it
  }
  if (d.plain) {
    s.update(d.base + first * d.in_bytes, count * d.in_bytes);
    return;
  }
  strided_cursor cursor;
  cursor.seek(d.layout, d.base, first);
  const std::uint32_t per_tile = 64 / d.out_bytes;
  while (count > 0) {
    std::uint8_t tile[64];
    const std::uint64_t n = count < per_tile ? count : per_tile;
    for (std::uint64_t i = 0; i < n; ++i) {
      Canon::convert(d.stored, cursor.ptr, tile + i * d.out_bytes);
      if (i + 1 < count) {
        cursor.advance(d.layout, 1);
      }
    }
    s.update(tile, n * d.out_bytes);
    count -= n;
  }
}

/// Feeds canonical bytes `[offset, offset + bytes)` of a tensor made of `n` pieces whose
/// canonical byte offsets are `offsets[0..n]` into `s`.
template <class Canon, class Stream>
TENSORHASH_HD void feed_pieces(Stream& s, const tensor_desc* pieces, const std::uint64_t* offsets,
                               std::uint64_t n, std::uint64_t offset, std::uint64_t bytes,
                               std::uint32_t out_bytes) noexcept {
  const std::uint64_t end = offset + bytes;
  for (std::uint64_t p = find_segment(offsets, n, offset); p < n && offsets[p] < end; ++p) {
    const std::uint64_t lo = offset > offsets[p] ? offset : offsets[p];
    const std::uint64_t hi = end < offsets[p + 1] ? end : offsets[p + 1];
    if (hi > lo) {
      feed_strided<Canon>(s, pieces[p], (lo - offsets[p]) / out_bytes, (hi - lo) / out_bytes);
    }
  }
}

/// Hash of `[prefix byte] || canonical bytes [offset, offset + bytes)` of a tensor made of
/// `n` pieces whose canonical byte offsets are `offsets[0..n]`.
template <class Hasher, class Canon>
TENSORHASH_HD typename Hasher::digest_type hash_pieces(const tensor_desc* pieces,
                                                       const std::uint64_t* offsets,
                                                       std::uint64_t n, std::uint64_t offset,
                                                       std::uint64_t bytes, bool prefix,
                                                       std::uint32_t out_bytes) noexcept {
  hash_stream<Hasher> s;
  if (prefix) {
    const std::uint8_t leaf = merkle_leaf_prefix;
    s.update(&leaf, 1);
  }
  feed_pieces<Canon>(s, pieces, offsets, n, offset, bytes, out_bytes);
  return s.finalize();
}

/**
 * @brief The address of canonical bytes `[offset, offset + bytes)` of tensor `t` when they lie
 *        in one piece whose canonical bytes are its stored bytes, contiguous, from a 16-byte
 *        aligned address (what the dense paths read with 16-byte loads); null otherwise.
 */
TENSORHASH_HD inline const std::uint8_t* dense_span(const schedule_view& s, std::uint64_t t,
                                                    std::uint64_t offset,
                                                    std::uint64_t bytes) noexcept {
  const composite_desc& c = s.composites[t];
  if (c.pieces == 0) {
    return nullptr;
  }
  const std::uint64_t* offsets = s.piece_offsets + c.first_piece + t;
  const std::uint64_t p = find_segment(offsets, c.pieces, offset);
  const tensor_desc& d = s.descs[c.first_piece + p];
  const std::uint64_t at = offset - offsets[p];
  if (!d.dense_identity || offset + bytes > offsets[p + 1] || at % 16 != 0) {
    return nullptr;
  }
  return d.base + at;
}

/// Hash of `[prefix byte] || canonical bytes [offset, offset + bytes)` of tensor `t`, by one
/// thread: 16-byte loads where dense_span finds it, else hash_pieces (plain pieces in bulk,
/// others through the tile path).
template <class Hasher, class Canon, class Loader>
TENSORHASH_HD typename Hasher::digest_type hash_span(const schedule_view& s, std::uint64_t t,
                                                     std::uint64_t offset, std::uint64_t bytes,
                                                     bool prefix) noexcept {
  if (const std::uint8_t* p = dense_span(s, t, offset, bytes)) {
    return hash_dense<Hasher, Loader>(p, bytes, prefix);
  }
  const composite_desc& c = s.composites[t];
  return hash_pieces<Hasher, Canon>(s.descs + c.first_piece, s.piece_offsets + c.first_piece + t,
                                    c.pieces, offset, bytes, prefix, c.out_bytes);
}

/// The exact digest of tensor `g` (exact mode: one item per tensor).
template <class Hasher, class Canon, class Loader>
TENSORHASH_HD typename Hasher::digest_type hash_item(const schedule_view& s,
                                                     std::uint64_t g) noexcept {
  return hash_span<Hasher, Canon, Loader>(s, g, 0, s.composites[g].canonical_bytes, false);
}

/// HASH(0x01 || left || right), as merkle_node_hash, with the first block built as words and
/// absorbed by compress_words (no byte stream): what the fold and the level kernel run.
template <class Hasher>
TENSORHASH_HD typename Hasher::digest_type node_hash(
    const typename Hasher::digest_type& left, const typename Hasher::digest_type& right) noexcept {
  static_assert(Hasher::block_bytes == 64 && sizeof(typename Hasher::digest_type) == 32,
                "node_hash lays out SHA-256's first block (64-byte blocks, 32-byte digests): for "
                "a hasher of another shape, use merkle_node_hash in the fold and level kernel");
  const auto byte = [&](int i) -> std::uint32_t {
    if (i == 0) {
      return merkle_node_prefix;  // by value: device code cannot refer to the host variable
    }
    return i <= 32 ? left.bytes[i - 1] : right.bytes[i - 33];
  };
  std::uint32_t w[16];
  for (int j = 0; j < 16; ++j) {
    w[j] = byte(4 * j) << 24 | byte(4 * j + 1) << 16 | byte(4 * j + 2) << 8 | byte(4 * j + 3);
  }
  auto st = Hasher::initial_state();
  Hasher::compress_words(st, w);
  return Hasher::finalize(st, right.bytes + 31, 1, 65);
}

}  // namespace detail
TENSORHASH_NAMESPACE_END
