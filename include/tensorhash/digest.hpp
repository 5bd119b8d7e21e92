/**
 * @file digest.hpp
 * @brief Fixed-size digest value with lowercase hex conversion and comparison.
 */
#pragma once

#include <tensorhash/config.hpp>
#include <tensorhash/error.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

TENSORHASH_NAMESPACE_BEGIN

/**
 * @brief A digest of `N` bytes, trivially copyable so it can live in device memory.
 * @tparam N digest size in bytes (32 for SHA-256)
 */
template <std::size_t N>
struct basic_digest {
  static_assert(N > 0, "tensorhash: a digest needs at least one byte");
  /// Number of bytes.
  static constexpr std::size_t size = N;

  std::uint8_t bytes[N];  ///< digest bytes in output order

  /// @return the digest as 2N lowercase hex digits, as Python's `hexdigest()` prints it
  std::string to_hex() const {
    constexpr char digits[] = "0123456789abcdef";
    std::string out(2 * N, '0');
    for (std::size_t i = 0; i < N; ++i) {
      out[2 * i] = digits[bytes[i] >> 4];
      out[2 * i + 1] = digits[bytes[i] & 15];
    }
    return out;
  }

  /**
   * @brief Parses 2N hex digits (either case).
   * @throw error (invalid_hex) naming the length or the first bad character
   */
  static basic_digest from_hex(std::string_view hex) {
    if (hex.size() != 2 * N) {
      throw error(errc::invalid_hex, "hex digest must have " + std::to_string(2 * N) +
                                         " digits, got " + std::to_string(hex.size()));
    }
    basic_digest d{};
    for (std::size_t i = 0; i < 2 * N; ++i) {
      const int v = nibble(hex[i]);
      if (v < 0) {
        throw error(errc::invalid_hex,
                    "hex digest has a non-hex character at position " + std::to_string(i));
      }
      d.bytes[i / 2] = static_cast<std::uint8_t>(d.bytes[i / 2] | (v << (i % 2 == 0 ? 4 : 0)));
    }
    return d;
  }

  /// Byte-wise equality.
  TENSORHASH_HD friend bool operator==(const basic_digest& a, const basic_digest& b) noexcept {
    for (std::size_t i = 0; i < N; ++i) {
      if (a.bytes[i] != b.bytes[i]) {
        return false;
      }
    }
    return true;
  }
  TENSORHASH_HD friend bool operator!=(const basic_digest& a, const basic_digest& b) noexcept {
    return !(a == b);
  }
  /// Lexicographic order of the bytes (the order of the hex strings).
  TENSORHASH_HD friend bool operator<(const basic_digest& a, const basic_digest& b) noexcept {
    for (std::size_t i = 0; i < N; ++i) {
      if (a.bytes[i] != b.bytes[i]) {
        return a.bytes[i] < b.bytes[i];
      }
    }
    return false;
  }

 private:
  static int nibble(char c) noexcept {
    if (c >= '0' && c <= '9')
      return c - '0';
    if (c >= 'a' && c <= 'f')
      return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
      return c - 'A' + 10;
    return -1;
  }
};

/// The SHA-256 digest type.
using digest256 = basic_digest<32>;

TENSORHASH_NAMESPACE_END
