/**
 * @file modes.hpp
 * @brief Reduction modes: how a tensor's canonical bytes become one digest.
 *
 * - `exact`: the hash of the canonical bytes as one message (hashlib-identical for SHA-256).
 * - `tree`:  RFC 6962 Merkle Tree Hash over the canonical bytes cut into chunks of
 *            `chunk_bytes()` bytes (docs/format.md §5).
 */
#pragma once

#include <tensorhash/config.hpp>
#include <tensorhash/error.hpp>

#include <cstdint>
#include <string>
#include <type_traits>

TENSORHASH_NAMESPACE_BEGIN

/// One sequential hash of the canonical bytes; identical to `hashlib.sha256(bytes).hexdigest()`.
struct exact {
  /// Manifest name of the algorithm.
  static constexpr const char* algorithm = "sha256";
};

/// RFC 6962 Merkle tree over fixed-size chunks of the canonical bytes.
class tree {
 public:
  static constexpr const char* algorithm = "sha256-tree";
  static constexpr std::uint64_t min_chunk_bytes = std::uint64_t{1} << 10;
  static constexpr std::uint64_t max_chunk_bytes = std::uint64_t{1} << 24;
  /// Default chunk: 16 KiB (docs/format.md §5.3 gives the reasons).
  static constexpr std::uint64_t default_chunk_bytes = std::uint64_t{1} << 14;

  /**
   * @param chunk_bytes leaf size; a power of two in [1 KiB, 16 MiB]
   * @throw error (invalid_chunk_size) naming the value otherwise
   */
  explicit tree(std::uint64_t chunk_bytes = default_chunk_bytes) : chunk_bytes_(chunk_bytes) {
    if (chunk_bytes < min_chunk_bytes || chunk_bytes > max_chunk_bytes ||
        (chunk_bytes & (chunk_bytes - 1)) != 0) {
      throw error(errc::invalid_chunk_size,
                  "tree chunk_bytes must be a power of two from 1024 to 16777216, got " +
                      std::to_string(chunk_bytes));
    }
  }

  /// @return the leaf size in bytes
  TENSORHASH_HD constexpr std::uint64_t chunk_bytes() const noexcept { return chunk_bytes_; }

  /// @return the number of leaves for `bytes` canonical bytes (0 for an empty tensor)
  TENSORHASH_HD constexpr std::uint64_t leaf_count(std::uint64_t bytes) const noexcept {
    return bytes / chunk_bytes_ + (bytes % chunk_bytes_ != 0 ? 1 : 0);
  }

 private:
  std::uint64_t chunk_bytes_;
};

/// True for the reduction modes tensorhash implements (`exact`, `tree`).
template <class M>
inline constexpr bool is_mode_v = std::is_same_v<M, exact> || std::is_same_v<M, tree>;

TENSORHASH_NAMESPACE_END
