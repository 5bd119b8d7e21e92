/**
 * @file detail/device_schedule.hpp
 * @brief What each GPU thread computes, as plain host/device C++ (no CUDA API), so that the
 *        device schedule can be built on the host and proved there.
 *
 * Tensors are composites (tensorhash/composite.hpp): runs of pieces whose canonical bytes follow
 * each other; a plain view is one piece. Work items: in tree mode one item per leaf of every
 * tensor of a batch, in exact mode one item per tensor. `first_item[t]` (an exclusive scan of items
 * per tensor) maps a global item to its tensor by binary search. Tree levels: level 0 holds the
 * leaves; level l+1 holds ceil(count_l / 2) nodes per tensor, node i = H(0x01 || n[2i] || n[2i+1])
 * or n[2i] carried up; `level_offsets` is the exclusive scan of those counts per level, one row per
 * level.
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

#include <cstdint>
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
  bool dense_identity = false;  ///< dense, as-stored canonical bytes at a 16-byte aligned base
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
  d.dense_identity = Canon::target(v.dtype()) == v.dtype() && d.layout.dense(d.in_bytes) &&
                     reinterpret_cast<std::uintptr_t>(d.base) % 16 == 0;
  return d;
}

/// One tensor of a batch: a run of pieces (one for a plain view) in the descriptor array.
struct composite_desc {
  std::uint64_t first_piece = 0;
  std::uint64_t pieces = 0;
  std::uint64_t canonical_bytes = 0;
  std::uint32_t out_bytes = 1;
};

/// Host-built schedule of one batch: pieces, tensors, item scan and level scans.
struct schedule {
  std::vector<tensor_desc> descs;          ///< every piece of every tensor
  std::vector<composite_desc> composites;  ///< one per tensor
  /// Per tensor t, pieces + 1 canonical byte offsets of its pieces, from index first_piece + t.
  std::vector<std::uint64_t> piece_offsets;
  std::vector<std::uint64_t> level_offsets;  ///< (levels + 1) rows of tensors() + 1 entries
  int levels = 0;                            ///< pairing levels after the leaves (tree only)

  std::size_t tensors() const noexcept { return composites.size(); }
  /// Row `l` of the level scans; row 0 is the item scan (`first_item`).
  const std::uint64_t* row(int l) const noexcept {
    return level_offsets.data() + static_cast<std::size_t>(l) * (composites.size() + 1);
  }
  /// Items (leaves, or tensors in exact mode) of the batch.
  std::uint64_t items() const noexcept { return row(0)[composites.size()]; }
  /// Nodes at level `l` over all tensors.
  std::uint64_t nodes(int l) const noexcept { return row(l)[composites.size()]; }
};

/// Pointers to a schedule's arrays, wherever they live; what every kernel receives.
struct schedule_view {
  const tensor_desc* descs;
  const composite_desc* composites;
  const std::uint64_t* piece_offsets;
  const std::uint64_t* first_item;
  std::uint64_t tensors;
  std::uint64_t chunk;  ///< 0 in exact mode
};

/// Builds the schedule; in exact mode (`chunk == 0`) every tensor is one item.
template <class Canon>
schedule make_schedule(const composite_view* tensors, std::size_t n, std::uint64_t chunk) {
  schedule s;
  s.composites.reserve(n);
  std::vector<std::uint64_t> counts(n);
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
    counts[i] =
        chunk == 0 ? 1 : c.canonical_bytes / chunk + (c.canonical_bytes % chunk != 0 ? 1 : 0);
  }
  for (;;) {
    std::uint64_t acc = 0;
    bool more = false;
    for (std::size_t i = 0; i < n; ++i) {
      s.level_offsets.push_back(acc);
      acc += counts[i];
      more = more || counts[i] > 1;
      counts[i] = (counts[i] + 1) / 2;
    }
    s.level_offsets.push_back(acc);
    if (!more || chunk == 0) {
      break;
    }
    ++s.levels;
  }
  return s;
}

/// @return the host-memory view of a schedule (for host emulation and tests)
inline schedule_view view_of(const schedule& s, std::uint64_t chunk) noexcept {
  return {s.descs.data(), s.composites.data(), s.piece_offsets.data(),
          s.row(0),       s.tensors(),         chunk};
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

/// Reads 16 bytes (four little-endian words) on the host; device loaders use vector loads.
struct host_loader {
  static void load(const std::uint8_t* p, std::uint32_t (&out)[4]) noexcept {
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
 * @brief Hash of `[prefix byte] || bytes[0:n]` for 16-byte aligned dense bytes: 64-byte blocks
 *        from four 16-byte loads, shifted by one byte with funnel shifts when there is a prefix.
 */
template <class Hasher, class Loader>
TENSORHASH_HD typename Hasher::digest_type hash_dense(const std::uint8_t* p, std::uint64_t n,
                                                      bool prefix) noexcept {
  auto st = Hasher::initial_state();
  std::uint32_t carry = 0;  // last byte of the previous block, shifted into the next one
  const std::uint64_t blocks = n / 64;
  for (std::uint64_t b = 0; b < blocks; ++b, p += 64) {
    std::uint32_t w[16];
    for (int q = 0; q < 4; ++q) {
      std::uint32_t v[4];
      Loader::load(p + 16 * q, v);
      for (int k = 0; k < 4; ++k) {
        w[4 * q + k] = byte_swap(v[k]);
      }
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
  std::uint8_t tail[Hasher::block_bytes];
  std::uint32_t len = 0;
  if (prefix) {
    tail[len++] = static_cast<std::uint8_t>(carry);
  }
  for (std::uint64_t i = blocks * 64; i < n; ++i) {
    tail[len++] = p[i - blocks * 64];
  }
  if (len == Hasher::block_bytes) {  // a prefix byte plus 63 tail bytes fill one more block
    Hasher::compress(st, tail, 1);
    len = 0;
  }
  return Hasher::finalize(st, tail, len, n + (prefix ? 1 : 0));
}

/// Feeds the canonical bytes of elements `[first, first + count)` of any view into `s`.
template <class Hasher, class Canon>
TENSORHASH_HD void feed_strided(hash_stream<Hasher>& s, const tensor_desc& d, std::uint64_t first,
                                std::uint64_t count) noexcept {
  if (count == 0) {
    return;  // an empty tensor's layout may hold zero extents: never seek in it
  }
  strided_cursor cursor;
  cursor.seek(d.layout, d.base, first);
  for (std::uint64_t i = 0; i < count; ++i) {
    std::uint8_t in[8], out[8];
    for (std::uint32_t k = 0; k < d.in_bytes; ++k) {
      in[k] = cursor.ptr[k];
    }
    Canon::convert(d.stored, in, out);
    s.update(out, d.out_bytes);
    if (i + 1 < count) {
      cursor.advance(d.layout, 1);
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
  const std::uint64_t end = offset + bytes;
  for (std::uint64_t p = find_segment(offsets, n, offset); p < n && offsets[p] < end; ++p) {
    const std::uint64_t lo = offset > offsets[p] ? offset : offsets[p];
    const std::uint64_t hi = end < offsets[p + 1] ? end : offsets[p + 1];
    if (hi > lo) {
      feed_strided<Hasher, Canon>(s, pieces[p], (lo - offsets[p]) / out_bytes,
                                  (hi - lo) / out_bytes);
    }
  }
  return s.finalize();
}

/**
 * @brief The digest of work item `g`: leaf `g - first_item[t]` of tensor `t` (tree,
 *        `chunk > 0`) or the exact digest of tensor `g` (`chunk == 0`).
 */
template <class Hasher, class Canon, class Loader>
TENSORHASH_HD typename Hasher::digest_type hash_item(const schedule_view& s,
                                                     std::uint64_t g) noexcept {
  const std::uint64_t t = find_segment(s.first_item, s.tensors, g);
  const composite_desc& c = s.composites[t];
  std::uint64_t offset = 0, bytes = c.canonical_bytes;
  if (s.chunk != 0) {
    offset = (g - s.first_item[t]) * s.chunk;
    bytes = bytes - offset < s.chunk ? bytes - offset : s.chunk;
  }
  const bool prefix = s.chunk != 0;
  if (c.pieces != 1) {
    return hash_pieces<Hasher, Canon>(s.descs + c.first_piece, s.piece_offsets + c.first_piece + t,
                                      c.pieces, offset, bytes, prefix, c.out_bytes);
  }
  const tensor_desc& d = s.descs[c.first_piece];
  if (d.dense_identity) {
    return hash_dense<Hasher, Loader>(d.base + offset, bytes, prefix);
  }
  return hash_pieces<Hasher, Canon>(&d, s.piece_offsets + c.first_piece + t, 1, offset, bytes,
                                    prefix, c.out_bytes);
}

/// Node `g` of level `l + 1` from the nodes of level `l` (`in_row`/`out_row` are their scans).
template <class Hasher>
TENSORHASH_HD typename Hasher::digest_type level_node(const typename Hasher::digest_type* in,
                                                      const std::uint64_t* in_row,
                                                      const std::uint64_t* out_row,
                                                      std::uint64_t tensors,
                                                      std::uint64_t g) noexcept {
  const std::uint64_t t = find_segment(out_row, tensors, g);
  const std::uint64_t i = g - out_row[t];
  const std::uint64_t count = in_row[t + 1] - in_row[t];
  const auto* nodes = in + in_row[t];
  return 2 * i + 1 < count ? merkle_node_hash<Hasher>(nodes[2 * i], nodes[2 * i + 1])
                           : nodes[2 * i];
}

/// The root of tensor `t` from the last level (HASH() for a tensor without leaves).
template <class Hasher>
TENSORHASH_HD typename Hasher::digest_type tree_root(const typename Hasher::digest_type* last,
                                                     const std::uint64_t* last_row,
                                                     std::uint64_t t) noexcept {
  return last_row[t + 1] == last_row[t] ? hash_bytes<Hasher>(nullptr, 0) : last[last_row[t]];
}

}  // namespace detail
TENSORHASH_NAMESPACE_END
