/**
 * @file detail/blake3/portable.hpp
 * @brief BLAKE3 (O'Connor, Aumasson, Neves, Wilcox-O'Hearn, "BLAKE3: one function, fast
 *        everywhere", 2020; §2) written once for host and device: the compression function,
 *        chunk and parent nodes, and a many-input loop the SIMD paths are checked against.
 *
 * Notation of the paper: a *chunk* is 1024 input bytes (16 blocks of 64), its chaining value
 * (CV) the first 8 output words of its last block; a *parent* node compresses the two CVs of
 * its children as one 64-byte block. The tree over `n > 1` chunks puts the largest power of two
 * smaller than `n` chunks on the left (§2.1). The root node is compressed with ROOT, and its
 * output extends to any length by the output-block counter (§2.6).
 */
#pragma once

#include <tensorhash/config.hpp>
#include <tensorhash/detail/sha256_core.hpp>

#include <cstddef>
#include <cstdint>

TENSORHASH_NAMESPACE_BEGIN
namespace detail {
namespace blake3 {

constexpr std::uint32_t block_bytes = 64;
constexpr std::uint32_t chunk_bytes = 1024;
constexpr std::uint32_t blocks_per_chunk = chunk_bytes / block_bytes;

/// Domain flags (paper Table 3).
enum flag : std::uint32_t {
  chunk_start = 1u << 0,
  chunk_end = 1u << 1,
  parent = 1u << 2,
  root = 1u << 3,
};

/// A chaining value: 8 little-endian words.
struct cv_words {
  std::uint32_t w[8];
};

/// The IV: SHA-256's initial hash value (paper §2.2); the key of the hash mode.
TENSORHASH_HD TENSORHASH_FORCEINLINE constexpr std::uint32_t iv(int i) noexcept {
  constexpr std::uint32_t v[8] = {0x6A09E667u, 0xBB67AE85u, 0x3C6EF372u, 0xA54FF53Au,
                                  0x510E527Fu, 0x9B05688Cu, 0x1F83D9ABu, 0x5BE0CD19u};
  return v[i];
}

/// @return the hash mode's key (the IV) as a chaining value
TENSORHASH_HD TENSORHASH_FORCEINLINE constexpr cv_words iv_cv() noexcept {
  return cv_words{{iv(0), iv(1), iv(2), iv(3), iv(4), iv(5), iv(6), iv(7)}};
}

/// Message word `i` of round `r`: the permutation of §2.2 applied `r` times.
TENSORHASH_HD TENSORHASH_FORCEINLINE constexpr int schedule(int r, int i) noexcept {
  constexpr std::uint8_t s[7][16] = {
      {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
      {2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8},
      {3, 4, 10, 12, 13, 2, 7, 14, 6, 5, 9, 0, 11, 15, 8, 1},
      {10, 7, 12, 9, 14, 3, 13, 15, 4, 0, 11, 2, 5, 8, 1, 6},
      {12, 13, 9, 11, 15, 10, 14, 8, 7, 2, 5, 3, 0, 1, 6, 4},
      {9, 14, 11, 5, 8, 12, 15, 1, 13, 3, 0, 10, 2, 6, 4, 7},
      {11, 15, 5, 0, 1, 9, 8, 6, 14, 10, 2, 12, 3, 4, 7, 13},
  };
  return s[r][i];
}

TENSORHASH_HD TENSORHASH_FORCEINLINE std::uint32_t load_le32(const std::uint8_t* p) noexcept {
  return std::uint32_t{p[0]} | (std::uint32_t{p[1]} << 8) | (std::uint32_t{p[2]} << 16) |
         (std::uint32_t{p[3]} << 24);
}

TENSORHASH_HD TENSORHASH_FORCEINLINE void store_le32(std::uint8_t* p, std::uint32_t v) noexcept {
  p[0] = static_cast<std::uint8_t>(v);
  p[1] = static_cast<std::uint8_t>(v >> 8);
  p[2] = static_cast<std::uint8_t>(v >> 16);
  p[3] = static_cast<std::uint8_t>(v >> 24);
}

/// The quarter-round G of §2.2 on state words a, b, c, d with message words x, y.
TENSORHASH_HD TENSORHASH_FORCEINLINE void g(std::uint32_t (&v)[16], int a, int b, int c, int d,
                                            std::uint32_t x, std::uint32_t y) noexcept {
  v[a] = v[a] + v[b] + x;
  v[d] = rotr(v[d] ^ v[a], 16);
  v[c] = v[c] + v[d];
  v[b] = rotr(v[b] ^ v[c], 12);
  v[a] = v[a] + v[b] + y;
  v[d] = rotr(v[d] ^ v[a], 8);
  v[c] = v[c] + v[d];
  v[b] = rotr(v[b] ^ v[c], 7);
}

/**
 * @brief The compression function of §2.2: the 16 state words after 7 rounds, before the
 *        feed-forward. `out[i] ^ out[i + 8]` is the new CV; `out[i + 8] ^ cv[i]` the rest of an
 *        extended output block.
 */
TENSORHASH_HD TENSORHASH_FORCEINLINE void compress_rounds(
    std::uint32_t (&v)[16], const cv_words& cv, const std::uint32_t (&m)[16], std::uint64_t counter,
    std::uint32_t block_len, std::uint32_t flags) noexcept {
  for (int i = 0; i < 8; ++i) {
    v[i] = cv.w[i];
  }
  for (int i = 0; i < 4; ++i) {
    v[8 + i] = iv(i);
  }
  v[12] = static_cast<std::uint32_t>(counter);
  v[13] = static_cast<std::uint32_t>(counter >> 32);
  v[14] = block_len;
  v[15] = flags;
  for (int r = 0; r < 7; ++r) {
    g(v, 0, 4, 8, 12, m[schedule(r, 0)], m[schedule(r, 1)]);
    g(v, 1, 5, 9, 13, m[schedule(r, 2)], m[schedule(r, 3)]);
    g(v, 2, 6, 10, 14, m[schedule(r, 4)], m[schedule(r, 5)]);
    g(v, 3, 7, 11, 15, m[schedule(r, 6)], m[schedule(r, 7)]);
    g(v, 0, 5, 10, 15, m[schedule(r, 8)], m[schedule(r, 9)]);
    g(v, 1, 6, 11, 12, m[schedule(r, 10)], m[schedule(r, 11)]);
    g(v, 2, 7, 8, 13, m[schedule(r, 12)], m[schedule(r, 13)]);
    g(v, 3, 4, 9, 14, m[schedule(r, 14)], m[schedule(r, 15)]);
  }
}

/// The 16 message words of a 64-byte block; bytes past `len` read as zero (§2.3 padding).
TENSORHASH_HD TENSORHASH_FORCEINLINE void load_block(std::uint32_t (&m)[16], const std::uint8_t* p,
                                                     std::uint32_t len) noexcept {
  if (len == block_bytes) {
    for (int i = 0; i < 16; ++i) {
      m[i] = load_le32(p + 4 * i);
    }
    return;
  }
  for (int i = 0; i < 16; ++i) {
    m[i] = 0;
  }
  for (std::uint32_t i = 0; i < len; ++i) {
    m[i / 4] |= std::uint32_t{p[i]} << (8 * (i % 4));
  }
}

/// @brief `cv` ← the CV of compressing one block (words `m`).
TENSORHASH_HD TENSORHASH_FORCEINLINE void compress_in_place(cv_words& cv,
                                                            const std::uint32_t (&m)[16],
                                                            std::uint64_t counter,
                                                            std::uint32_t block_len,
                                                            std::uint32_t flags) noexcept {
  std::uint32_t v[16];
  compress_rounds(v, cv, m, counter, block_len, flags);
  for (int i = 0; i < 8; ++i) {
    cv.w[i] = v[i] ^ v[i + 8];
  }
}

/// The last block of a node, kept so that the root can be extended (§2.6).
struct output {
  cv_words cv;
  std::uint32_t m[16];
  std::uint64_t counter;
  std::uint32_t block_len;
  std::uint32_t flags;

  /// @return the node's CV (not the root)
  TENSORHASH_HD cv_words chaining_value() const noexcept {
    cv_words out = cv;
    compress_in_place(out, m, counter, block_len, flags);
    return out;
  }

  /// @brief Root output bytes [64·first_block, 64·first_block + len) into `out` (§2.6).
  TENSORHASH_HD void root_bytes(std::uint64_t first_block, std::uint8_t* out,
                                std::size_t len) const noexcept {
    for (std::uint64_t t = first_block; len > 0; ++t) {
      std::uint32_t v[16];
      compress_rounds(v, cv, m, t, block_len, flags | root);
      std::uint8_t block[64];
      for (int i = 0; i < 8; ++i) {
        store_le32(block + 4 * i, v[i] ^ v[i + 8]);
        store_le32(block + 32 + 4 * i, v[i + 8] ^ cv.w[i]);
      }
      const std::size_t n = len < 64 ? len : 64;
      for (std::size_t i = 0; i < n; ++i) {
        out[i] = block[i];
      }
      out += n;
      len -= n;
    }
  }
};

/**
 * @brief The output node of chunk `index` holding `len <= 1024` bytes at `p` (an empty input is
 *        one chunk of one empty block).
 */
TENSORHASH_HD inline output chunk_output(const cv_words& key, const std::uint8_t* p,
                                         std::uint32_t len, std::uint64_t index) noexcept {
  output o{key, {}, index, 0, chunk_start};
  std::uint32_t done = 0;
  while (len - done > block_bytes) {
    load_block(o.m, p + done, block_bytes);
    compress_in_place(o.cv, o.m, index, block_bytes, o.flags);
    o.flags &= ~std::uint32_t{chunk_start};
    done += block_bytes;
  }
  o.block_len = len - done;
  load_block(o.m, p + done, o.block_len);
  o.flags |= chunk_end;
  return o;
}

/**
 * @brief A chunk fed in pieces of any size (the canonicalising and strided readers of the device
 *        leaves, the chunks of `blake3_stream`): up to 1024 bytes, then `output()`.
 */
struct chunk_state {
  cv_words cv;
  std::uint64_t counter;
  std::uint8_t block[block_bytes];
  std::uint32_t block_len;
  std::uint32_t blocks_done;

  /// @brief Starts chunk `index` under `key`.
  TENSORHASH_HD void reset(const cv_words& key, std::uint64_t index) noexcept {
    cv = key;
    counter = index;
    block_len = 0;
    blocks_done = 0;
  }

  /// @return bytes absorbed so far
  TENSORHASH_HD std::uint32_t bytes() const noexcept {
    return blocks_done * block_bytes + block_len;
  }

  /// @brief Absorbs `len` bytes at `p`, at most `chunk_bytes - bytes()`. A full block stays
  /// buffered until more input shows that it is not the chunk's last.
  TENSORHASH_HD void update(const void* data, std::size_t len) noexcept {
    const auto* p = static_cast<const std::uint8_t*>(data);
    while (len > 0) {
      if (block_len == block_bytes) {
        std::uint32_t m[16];
        load_block(m, block, block_len);
        compress_in_place(cv, m, counter, block_len, start_flag());
        ++blocks_done;
        block_len = 0;
      }
      std::size_t take = block_bytes - block_len;
      take = take < len ? take : len;
      for (std::size_t i = 0; i < take; ++i) {
        block[block_len + i] = p[i];
      }
      block_len += static_cast<std::uint32_t>(take);
      p += take;
      len -= take;
    }
  }

  /// @return the chunk's output node (its last block, not yet compressed)
  TENSORHASH_HD output finish() const noexcept {
    output o{cv, {}, counter, block_len, start_flag() | chunk_end};
    load_block(o.m, block, block_len);
    return o;
  }

 private:
  TENSORHASH_HD std::uint32_t start_flag() const noexcept {
    return blocks_done == 0 ? std::uint32_t{chunk_start} : 0u;
  }
};

/// @return the output node of a parent of CVs `left` and `right`
TENSORHASH_HD inline output parent_output(const cv_words& key, const cv_words& left,
                                          const cv_words& right) noexcept {
  output o{key, {}, 0, block_bytes, parent};
  for (int i = 0; i < 8; ++i) {
    o.m[i] = left.w[i];
    o.m[8 + i] = right.w[i];
  }
  return o;
}

/// CV bytes (little-endian) as words and back: a list of CVs is 32 bytes each, so two adjacent
/// CVs are the 64-byte block of their parent.
TENSORHASH_HD TENSORHASH_FORCEINLINE cv_words load_cv(const std::uint8_t* p) noexcept {
  cv_words c;
  for (int i = 0; i < 8; ++i) {
    c.w[i] = load_le32(p + 4 * i);
  }
  return c;
}

TENSORHASH_HD TENSORHASH_FORCEINLINE void store_cv(std::uint8_t* p, const cv_words& c) noexcept {
  for (int i = 0; i < 8; ++i) {
    store_le32(p + 4 * i, c.w[i]);
  }
}

/**
 * @brief Compresses each of `n` inputs of `blocks` whole blocks into its CV (32 bytes each at
 *        `out`): input `i` with counter `counter + i` when `increment`, else `counter`; the
 *        first block with `flags | flags_start`, the last with `flags | flags_end`. Whole chunks
 *        are `blocks = 16, increment, chunk_start, chunk_end`; parents `blocks = 1, flags =
 *        parent`. The SIMD paths compute the same, several inputs per instruction.
 */
TENSORHASH_HD inline void hash_many_portable(const std::uint8_t* const* inputs, std::size_t n,
                                             std::uint32_t blocks, const cv_words& key,
                                             std::uint64_t counter, bool increment,
                                             std::uint32_t flags, std::uint32_t flags_start,
                                             std::uint32_t flags_end, std::uint8_t* out) noexcept {
  for (std::size_t i = 0; i < n; ++i) {
    cv_words cv = key;
    std::uint32_t f = flags | flags_start;
    for (std::uint32_t b = 0; b < blocks; ++b) {
      if (b + 1 == blocks) {
        f |= flags_end;
      }
      std::uint32_t m[16];
      load_block(m, inputs[i] + b * block_bytes, block_bytes);
      compress_in_place(cv, m, counter + (increment ? i : 0), block_bytes, f);
      f = flags;
    }
    store_cv(out + 32 * i, cv);
  }
}

}  // namespace blake3
}  // namespace detail
TENSORHASH_NAMESPACE_END
