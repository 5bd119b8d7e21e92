/**
 * @file detail/sglang_core.hpp
 * @brief SGLang's 64-bit weight hash: the per-word, per-tile and final mixing as host/device
 *        C++, and the tile table of a batch of dense tensors that the device kernels walk.
 *
 * The algorithm (`"sglang-hash64"`, the GPU branch of SGLang's weight checker; docs/format.md
 * §4.4 and `sglang_hash64` in python/tensorhash_ref.py, which the project checks against
 * SGLang's own Triton kernel):
 *
 * ```
 * message = canonical bytes, zero-padded to a multiple of 4; n little-endian u32 words w[i]
 * L       = 4n mod 2^32                       (the WHOLE message's padded length, every tile)
 * k1(i)   = fmix32(w[i] ^ ((i * 0x27D4EB2D + s1) ^ rotl32(i, 15)))          all mod 2^32,
 * k2(i)   = fmix32(w[i] ^ ((i * 0x165667B1 + s2) ^ rotl32(i, 13)))          i as u32
 * tile j  = words [8192 j, 8192 j + 8192): h1 = sum k1, h2 = sum k2 (mod 2^32)
 * T_j     = fmix32(h1 ^ L) << 32 | fmix32(h2 ^ L)
 * result  = splitmix64 mixer of (sum of T_j mod 2^64); an empty message gives 0
 * ```
 * with s1 = 0x243F6A88 (SGLang's default seed) and s2 = (s1 * 0x9E3779B1 mod 2^32) ^ 0xDEADBEEF.
 * Every sum is order-free (mod 2^32 within a tile, mod 2^64 across tiles), so words and tiles
 * may be summed in any order and by any number of threads.
 *
 * **Past 2^31 words.** SGLang's kernel indexes words with int32: beyond 2^31 words (8 GiB) its
 * index wraps negative and the kernel reads before the buffer, so SGLang has no defined result.
 * tensorhash takes the word index mod 2^32 there, as the Python reference does; below 2^31
 * words that is exactly SGLang's value.
 */
#pragma once

#include <tensorhash/config.hpp>
#include <tensorhash/detail/device_schedule.hpp>
#include <tensorhash/error.hpp>
#include <tensorhash/view.hpp>

#include <cstdint>
#include <string>
#include <vector>

TENSORHASH_NAMESPACE_BEGIN
namespace detail {
namespace sglang {

/// SGLang's default seed (`gpu_tensor_hash(seed=0x243F6A88)`), the first key.
inline constexpr std::uint32_t seed1 = 0x243F6A88u;
/// The second key: (seed * 0x9E3779B1 mod 2^32) ^ 0xDEADBEEF.
inline constexpr std::uint32_t seed2 =
    static_cast<std::uint32_t>(seed1 * 0x9E3779B1u) ^ 0xDEADBEEFu;
/// Position multipliers of the two keys.
inline constexpr std::uint32_t pos1 = 0x27D4EB2Du;
inline constexpr std::uint32_t pos2 = 0x165667B1u;
/// MurmurHash3 fmix32 multipliers.
inline constexpr std::uint32_t fmix_c1 = 0x85EBCA6Bu;
inline constexpr std::uint32_t fmix_c2 = 0xC2B2AE35u;
/// Words per tile (SGLang's `tile_words`) and bytes per tile; every element size divides the
/// latter, so a tile boundary never splits an element.
inline constexpr std::uint64_t tile_words = 8192;
inline constexpr std::uint64_t tile_bytes = 4 * tile_words;

/// 32-bit rotation left by `r` (0 < r < 32).
TENSORHASH_HD constexpr std::uint32_t rotl32(std::uint32_t x, int r) noexcept {
  return (x << r) | (x >> (32 - r));
}

/// MurmurHash3's 32-bit finaliser.
TENSORHASH_HD constexpr std::uint32_t fmix32(std::uint32_t x) noexcept {
  x ^= x >> 16;
  x *= fmix_c1;
  x ^= x >> 13;
  x *= fmix_c2;
  return x ^ (x >> 16);
}

/// The two position keys of word `i` (its index mod 2^32).
TENSORHASH_HD constexpr std::uint32_t key1(std::uint32_t i) noexcept {
  return (i * pos1 + seed1) ^ rotl32(i, 15);
}
TENSORHASH_HD constexpr std::uint32_t key2(std::uint32_t i) noexcept {
  return (i * pos2 + seed2) ^ rotl32(i, 13);
}

/// A tile's two running sums (or one word's two contributions), each mod 2^32.
struct sums {
  std::uint32_t h1 = 0;
  std::uint32_t h2 = 0;
};

TENSORHASH_HD constexpr sums operator+(sums a, sums b) noexcept {
  return {a.h1 + b.h1, a.h2 + b.h2};
}

/// The contribution of word `w` at index `i`: (k1, k2).
TENSORHASH_HD constexpr sums word(std::uint32_t w, std::uint32_t i) noexcept {
  return {fmix32(w ^ key1(i)), fmix32(w ^ key2(i))};
}

/// The little-endian word of the `count` (< 4) bytes at `p`, zero-padded: a message's last word.
TENSORHASH_HD constexpr std::uint32_t tail_word(const std::uint8_t* p,
                                                std::uint32_t count) noexcept {
  std::uint32_t w = 0;
  for (std::uint32_t k = 0; k < count; ++k) {
    w |= std::uint32_t{p[k]} << (8 * k);
  }
  return w;
}

/// L: the padded byte length of a message of `bytes` bytes, mod 2^32.
TENSORHASH_HD constexpr std::uint32_t length_key(std::uint64_t bytes) noexcept {
  return static_cast<std::uint32_t>((bytes + 3) / 4 * 4);
}

/// Tiles of a message of `bytes` bytes (0 for an empty one).
TENSORHASH_HD constexpr std::uint64_t tile_count(std::uint64_t bytes) noexcept {
  return (bytes + tile_bytes - 1) / tile_bytes;
}

/// T_j: a tile's value from its sums and the message's length key.
TENSORHASH_HD constexpr std::uint64_t tile_value(sums s, std::uint32_t length) noexcept {
  return std::uint64_t{fmix32(s.h1 ^ length)} << 32 | fmix32(s.h2 ^ length);
}

/// splitmix64's mixer (without its increment) of the sum of the tile values: the hash.
/// It maps 0 to 0, so a message without tiles (an empty one) hashes to 0.
TENSORHASH_HD constexpr std::uint64_t finalize(std::uint64_t sum) noexcept {
  sum ^= sum >> 30;
  sum *= 0xBF58476D1CE4E5B9ull;
  sum ^= sum >> 27;
  sum *= 0x94D049BB133111EBull;
  return sum ^ (sum >> 31);
}

/// One dense tensor of a device batch: 4-byte aligned, as-stored bytes.
struct dense_tensor {
  const std::uint8_t* base = nullptr;
  std::uint64_t bytes = 0;
};

/// Host-built table of a batch: tensors and the exclusive scan of their tile counts, so that
/// global tile g belongs to the tensor t with first_tile[t] <= g < first_tile[t + 1].
struct tile_table {
  std::vector<dense_tensor> tensors;
  std::vector<std::uint64_t> first_tile{0};

  std::uint64_t tiles() const noexcept { return first_tile.back(); }
};

/// Pointers to a tile table's arrays, wherever they live; what the kernels receive.
struct table_view {
  const dense_tensor* tensors;
  const std::uint64_t* first_tile;
  std::uint64_t count;
};

/**
 * @brief The table of dense, as-stored views `views[0..count)`.
 * @throw error null_data for a null `views` with a non-zero count; invalid_argument naming the
 *        view when one is not row-major contiguous or its address is not a multiple of 4
 */
inline tile_table make_tile_table(const tensor_view* views, std::size_t count) {
  if (count != 0 && views == nullptr) {
    throw error(errc::null_data, "views is null with a non-zero count");
  }
  tile_table table;
  table.tensors.reserve(count);
  table.first_tile.reserve(count + 1);
  for (std::size_t i = 0; i < count; ++i) {
    const tensor_view& v = views[i];
    if (!v.is_contiguous()) {
      throw error(errc::invalid_argument,
                  "view " + std::to_string(i) +
                      " is not row-major contiguous; the device sglang-hash64 path reads dense "
                      "tensors only (hash a contiguous copy, or use the host engine)");
    }
    if (v.numel() != 0 && reinterpret_cast<std::uintptr_t>(v.data()) % 4 != 0) {
      throw error(errc::invalid_argument,
                  "view " + std::to_string(i) +
                      " starts at an address that is not a multiple of 4; the device "
                      "sglang-hash64 path reads aligned 32-bit words");
    }
    table.tensors.push_back({static_cast<const std::uint8_t*>(v.data()), v.nbytes()});
    table.first_tile.push_back(table.first_tile.back() + tile_count(v.nbytes()));
  }
  return table;
}

/// @return the host-memory view of a table (for host emulation and tests)
inline table_view view_of(const tile_table& t) noexcept {
  return {t.tensors.data(), t.first_tile.data(), t.tensors.size()};
}

/// @return the tensor that global tile `g` of a table belongs to
TENSORHASH_HD inline std::uint64_t owner(const table_view& t, std::uint64_t g) noexcept {
  return find_segment(t.first_tile, t.count, g);
}

/**
 * @brief The sums of the words of tile `tile` of `t` that lane `lane` of `lanes` owns: words
 *        tile * 8192 + lane + k * lanes. The lanes of a tile together cover it once, in any
 *        order, so their sums add up to the tile's sums. `Load::word(p)` reads the aligned
 *        little-endian word at `p`; a message's partial last word is read byte by byte.
 */
template <class Load>
TENSORHASH_HD sums lane_sums(const dense_tensor& t, std::uint64_t tile, std::uint32_t lane,
                             std::uint32_t lanes) noexcept {
  const std::uint64_t full = t.bytes / 4;
  const std::uint64_t first = tile * tile_words;
  const std::uint64_t end = first + tile_words < full ? first + tile_words : full;
  sums s;
  std::uint64_t i = first + lane;
  for (; i < end; i += lanes) {
    s = s + word(Load::word(t.base + 4 * i), static_cast<std::uint32_t>(i));
  }
  const auto rest = static_cast<std::uint32_t>(t.bytes % 4);
  if (i == full && rest != 0 && full < first + tile_words) {
    s = s + word(tail_word(t.base + 4 * full, rest), static_cast<std::uint32_t>(full));
  }
  return s;
}

/// The sum of `values[begin + lane], values[begin + lane + lanes], ...` below `end`, mod 2^64:
/// one lane's share of a tensor's tile values.
TENSORHASH_HD inline std::uint64_t lane_total(const std::uint64_t* values, std::uint64_t begin,
                                              std::uint64_t end, std::uint32_t lane,
                                              std::uint32_t lanes) noexcept {
  std::uint64_t total = 0;
  for (std::uint64_t g = begin + lane; g < end; g += lanes) {
    total += values[g];
  }
  return total;
}

}  // namespace sglang
}  // namespace detail
TENSORHASH_NAMESPACE_END
