/**
 * @file detail/blake3/subtree.hpp
 * @brief Host BLAKE3 of an aligned subtree of a reader's canonical bytes, read a tile at a time.
 *
 * A tensor's bytes are cut into subtrees of `subtree_bytes` (a power of two of chunks), which
 * threads hash independently: with every subtree but the last full, the subtrees are exactly
 * the nodes of the BLAKE3 tree at that height (the tree over `n` chunks puts the largest power
 * of two smaller than `n` on the left), so reducing their CVs pairwise, level by level, an odd
 * last CV carried up, gives the standard root.
 */
#pragma once

#include <tensorhash/config.hpp>
#include <tensorhash/detail/blake3/dispatch.hpp>
#include <tensorhash/detail/blake3/portable.hpp>
#include <tensorhash/detail/canonical_reader.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

TENSORHASH_NAMESPACE_BEGIN
namespace detail {
namespace blake3 {

/// Bytes of the subtrees a tensor is cut into for threads: 1 MiB, 1024 chunks.
constexpr std::uint64_t subtree_bytes = std::uint64_t{1} << 20;

/**
 * @brief One thread's BLAKE3 of subtrees of readers' canonical bytes. Whole chunks are hashed
 *        where a tile holds them, 8 at a time; a chunk across two tiles is assembled first.
 */
template <blake3_impl Impl>
class subtree_hasher {
 public:
  /**
   * @brief The output node of canonical bytes `[offset, offset + bytes)` of `reader`, `offset`
   *        a multiple of 1024 and of the element size, `bytes <= subtree_bytes`, every chunk
   *        whole but the last of the tensor. Its CV (`chaining_value()`) when it is a subtree of
   *        a larger input; its `root_bytes` when it is the whole input.
   */
  template <class Reader>
  output hash(const Reader& reader, std::uint64_t offset, std::uint64_t bytes) {
    const std::uint32_t e = reader.element_bytes();
    first_chunk_ = offset / chunk_bytes;
    chunks_ = 0;
    pending_ = 0;
    carried_ = 0;
    if (bytes <= chunk_bytes) {
      reader.read(offset / e, bytes / e, buf_, [&](const std::uint8_t* p, std::uint64_t n) {
        std::memcpy(carry_[0] + carried_, p, n);
        carried_ += static_cast<std::uint32_t>(n);
      });
      return chunk_output(iv_cv(), carry_[0], carried_, first_chunk_);
    }
    const std::uint64_t count = (bytes + chunk_bytes - 1) / chunk_bytes;
    if (cvs_.size() < 32 * count) {
      cvs_.resize(32 * count);
      scratch_.resize(16 * count + 32);
    }
    reader.read(offset / e, bytes / e, buf_,
                [&](const std::uint8_t* p, std::uint64_t n) { absorb(p, n); });
    if (carried_ != 0) {  // the tensor's last chunk, shorter than 1024 bytes
      store_cv(
          cvs_.data() + 32 * chunks_,
          chunk_output(iv_cv(), carry_[slot_], carried_, first_chunk_ + chunks_).chaining_value());
      ++chunks_;
    }
    return reduce<Impl>(cvs_.data(), chunks_, scratch_.data());
  }

 private:
  /// Takes one tile: completes a carried chunk, queues the whole chunks it holds, carries the
  /// rest. The queue is hashed before the tile is given back (its bytes may be reused).
  void absorb(const std::uint8_t* p, std::uint64_t n) {
    if (carried_ != 0) {
      const std::uint64_t take = std::min<std::uint64_t>(chunk_bytes - carried_, n);
      std::memcpy(carry_[slot_] + carried_, p, take);
      carried_ += static_cast<std::uint32_t>(take);
      p += take;
      n -= take;
      if (carried_ < chunk_bytes) {
        return;
      }
      queue(carry_[slot_]);
      slot_ ^= 1;  // the queued chunk keeps its buffer until the queue is hashed
      carried_ = 0;
    }
    for (; n >= chunk_bytes; p += chunk_bytes, n -= chunk_bytes) {
      queue(p);
    }
    flush();
    if (n != 0) {
      std::memcpy(carry_[slot_], p, n);
      carried_ = static_cast<std::uint32_t>(n);
    }
  }

  void queue(const std::uint8_t* chunk) {
    pending_chunks_[pending_++] = chunk;
    if (pending_ == batch) {
      flush();
    }
  }

  void flush() {
    hash_many<Impl>(pending_chunks_, pending_, blocks_per_chunk, iv_cv(), first_chunk_ + chunks_,
                    true, 0, chunk_start, chunk_end, cvs_.data() + 32 * chunks_);
    chunks_ += pending_;
    pending_ = 0;
  }

  static constexpr std::size_t batch = 32;
  staging buf_;
  std::vector<std::uint8_t> cvs_, scratch_;
  std::uint8_t carry_[2][chunk_bytes];
  const std::uint8_t* pending_chunks_[batch];
  std::size_t pending_ = 0;
  std::uint32_t carried_ = 0;
  unsigned slot_ = 0;
  std::uint64_t first_chunk_ = 0, chunks_ = 0;
};

}  // namespace blake3
}  // namespace detail
TENSORHASH_NAMESPACE_END
