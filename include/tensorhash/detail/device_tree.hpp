/**
 * @file detail/device_tree.hpp
 * @brief The two trees the device's leaf and level kernels build, as policies of those
 *        kernels: tensorhash's tree mode (RFC 6962 over SHA-256 leaves of `chunk` bytes) and
 *        BLAKE3 itself (its chunks of 1024 bytes are the leaves, its parents the nodes).
 *
 * Both trees have the same shape: over n > 1 leaves the left subtree holds the largest power of
 * two smaller than n (RFC 6962 §2.1; BLAKE3 paper §2.1), which is what the level-wise pairing of
 * device_schedule.hpp builds, a last odd node carried up. They differ in the node functions, and
 * BLAKE3 marks its root: the one node computed last for a tensor (its only leaf, the last merge
 * of a warp's or a level block's fold) is compressed with ROOT, and
 * the 32-byte digest is that node's chaining value. A tree policy has:
 * - `node_type`: a node as the kernels store and shuffle it (32 bytes);
 * - `leaf_state`, `begin(index, bytes, root)`, `dense_blocks(bytes)` (its whole 64-byte blocks),
 *   `absorb(state, words, block)` and `finish(state, p, bytes)`: a dense leaf of `bytes` bytes
 *   fed its whole blocks as loaded (16 little-endian words) by the striped loads of
 *   device_agent.hpp, then finished from its tail at `p`;
 * - `leaf<Canon, Loader>(s, t, index, bytes, root)`: leaf `index` of tensor `t` by one thread,
 *   from any layout;
 * - `node(left, right, root)` and `empty_root()`: a parent, and the root of an empty tensor.
 */
#pragma once

#include <tensorhash/config.hpp>
#include <tensorhash/detail/blake3/portable.hpp>
#include <tensorhash/detail/device_schedule.hpp>
#include <tensorhash/digest.hpp>
#include <tensorhash/hasher.hpp>

#include <cstdint>

TENSORHASH_NAMESPACE_BEGIN
namespace detail {

/// Tree mode: RFC 6962 leaves H(0x00 || chunk) and nodes H(0x01 || left || right); no root mark.
template <class Hasher>
struct rfc6962_tree {
  using node_type = typename Hasher::digest_type;
  struct leaf_state {
    typename Hasher::state_type st;
    std::uint32_t carry;  ///< the last byte of the previous block, shifted by the prefix
  };

  TENSORHASH_HD static leaf_state begin(std::uint64_t, std::uint32_t, bool) noexcept {
    return {Hasher::initial_state(), 0};
  }
  TENSORHASH_HD static std::uint32_t dense_blocks(std::uint32_t bytes) noexcept {
    return bytes / 64;
  }
  TENSORHASH_HD static void absorb(leaf_state& x, std::uint32_t (&w)[16], std::uint32_t) noexcept {
    absorb_dense_block<Hasher>(x.st, w, true, x.carry);
  }
  TENSORHASH_HD static node_type finish(const leaf_state& x, const std::uint8_t* p,
                                        std::uint32_t bytes) noexcept {
    return finish_dense<Hasher>(x.st, p, bytes, true, x.carry);
  }
  template <class Canon, class Loader>
  TENSORHASH_HD static node_type leaf(const schedule_view& s, std::uint64_t t, std::uint64_t index,
                                      std::uint32_t bytes, bool) noexcept {
    return hash_span<Hasher, Canon, Loader>(s, t, index * s.chunk, bytes, true);
  }
  TENSORHASH_HD static node_type node(const node_type& left, const node_type& right,
                                      bool) noexcept {
    return node_hash<Hasher>(left, right);
  }
  TENSORHASH_HD static node_type empty_root() noexcept { return hash_bytes<Hasher>(nullptr, 0); }
};

/// BLAKE3's own tree in hash mode: chunk `index` of a tensor is leaf `index`, its counter.
struct blake3_tree {
  using node_type = digest256;  ///< a chaining value, little-endian (the digest at the root)
  struct leaf_state {
    blake3::cv_words cv;
    std::uint64_t counter;
    std::uint32_t end_block;  ///< the whole block that ends the chunk, or ~0 (a tail ends it)
    std::uint32_t end_flags;  ///< CHUNK_END, and ROOT for a tensor of one chunk
  };

  /// BLAKE3's chunk: the device schedule's leaf size when this tree is built.
  static constexpr std::uint64_t chunk_bytes = blake3::chunk_bytes;

  /// Chunk `index` of `bytes` (1 to 1024) bytes, the tensor's only one when `root`.
  TENSORHASH_HD static leaf_state begin(std::uint64_t index, std::uint32_t bytes,
                                        bool root) noexcept {
    return {blake3::iv_cv(), index, bytes % 64 == 0 ? bytes / 64 - 1 : ~std::uint32_t{0},
            blake3::chunk_end | (root ? std::uint32_t{blake3::root} : 0u)};
  }
  TENSORHASH_HD static std::uint32_t dense_blocks(std::uint32_t bytes) noexcept {
    return bytes / 64;
  }
  /// Whole block `block`; the chunk's last block (a full one) with its end flags, so that no
  /// block is read twice or byte by byte.
  TENSORHASH_HD static void absorb(leaf_state& x, std::uint32_t (&w)[16],
                                   std::uint32_t block) noexcept {
    blake3::compress_in_place(x.cv, w, x.counter, blake3::block_bytes,
                              (block == 0 ? std::uint32_t{blake3::chunk_start} : 0u) |
                                  (block == x.end_block ? x.end_flags : 0u));
  }
  TENSORHASH_HD static node_type finish(leaf_state x, const std::uint8_t* p,
                                        std::uint32_t bytes) noexcept {
    const std::uint32_t done = 64 * dense_blocks(bytes);
    if (done == bytes) {
      return as_node(x.cv);  // absorb compressed the last block with its end flags
    }
    std::uint32_t m[16];
    blake3::load_block(m, p + done, bytes - done);
    const std::uint32_t flags = (done == 0 ? std::uint32_t{blake3::chunk_start} : 0u) | x.end_flags;
    blake3::compress_in_place(x.cv, m, x.counter, bytes - done, flags);
    return as_node(x.cv);
  }
  template <class Canon, class Loader>
  TENSORHASH_HD static node_type leaf(const schedule_view& s, std::uint64_t t, std::uint64_t index,
                                      std::uint32_t bytes, bool root) noexcept {
    const std::uint64_t offset = index * s.chunk;  // s.chunk == chunk_bytes (device_plan)
    if (const std::uint8_t* p = dense_span(s, t, offset, bytes)) {
      leaf_state x = begin(index, bytes, root);
      for (std::uint32_t b = 0; b < dense_blocks(bytes); ++b) {
        std::uint32_t w[16];
        load_block_words<Loader>(p + 64 * b, w);
        absorb(x, w, b);
      }
      return finish(x, p, bytes);
    }
    const composite_desc& c = s.composites[t];
    blake3::chunk_state chunk;
    chunk.reset(blake3::iv_cv(), index);
    feed_pieces<Canon>(chunk, s.descs + c.first_piece, s.piece_offsets + c.first_piece + t,
                       c.pieces, offset, bytes, c.out_bytes);
    return rooted(chunk.finish(), root);
  }
  TENSORHASH_HD static node_type node(const node_type& left, const node_type& right,
                                      bool root) noexcept {
    return rooted(blake3::parent_output(blake3::iv_cv(), blake3::load_cv(left.bytes),
                                        blake3::load_cv(right.bytes)),
                  root);
  }
  TENSORHASH_HD static node_type empty_root() noexcept {
    return rooted(blake3::chunk_output(blake3::iv_cv(), nullptr, 0, 0), true);
  }

 private:
  TENSORHASH_HD static node_type as_node(const blake3::cv_words& cv) noexcept {
    node_type d{};
    blake3::store_cv(d.bytes, cv);
    return d;
  }
  /// The node's CV, or with ROOT its digest: the first 32 bytes of the root output (§2.6).
  TENSORHASH_HD static node_type rooted(blake3::output o, bool root) noexcept {
    if (root) {
      o.flags |= blake3::root;
    }
    return as_node(o.chaining_value());
  }
};

}  // namespace detail
TENSORHASH_NAMESPACE_END
