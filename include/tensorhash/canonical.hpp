/**
 * @file canonical.hpp
 * @brief dtype canonicalisation policies: which bytes stand for each element when hashing.
 *
 * A canonicalisation policy `P` is a stateless type with
 * - `P::name`: the canonical dtype recorded in manifests (`nullptr` for "as stored");
 * - `P::target(dtype stored)`: the dtype whose bytes are hashed for a tensor stored as `stored`;
 * - `P::convert(dtype stored, const uint8_t* in, uint8_t* out)`: one element, little-endian;
 *   it must copy the element unchanged whenever `P::target(stored) == stored`, so that such
 *   tensors are read in place.
 * Policies are applied on the fly while hashing; no converted copy of a tensor is made.
 * Floating-point conversions follow PyTorch's `.to(dtype)` on the CPU bit for bit
 * (docs/format.md §4); integer and bool tensors are always hashed as stored.
 */
#pragma once

#include <tensorhash/config.hpp>
#include <tensorhash/detail/float_convert.hpp>
#include <tensorhash/dtype.hpp>

#include <cstdint>
#include <type_traits>

TENSORHASH_NAMESPACE_BEGIN

namespace detail {

TENSORHASH_HD TENSORHASH_FORCEINLINE std::uint64_t load_le(const std::uint8_t* p,
                                                           std::uint32_t n) noexcept {
  std::uint64_t v = 0;
  for (std::uint32_t i = 0; i < n && i < 8; ++i) {
    v |= std::uint64_t{p[i]} << (8 * i);
  }
  return v;
}

TENSORHASH_HD TENSORHASH_FORCEINLINE void store_le(std::uint8_t* p, std::uint64_t v,
                                                   std::uint32_t n) noexcept {
  for (std::uint32_t i = 0; i < n && i < 8; ++i) {
    p[i] = static_cast<std::uint8_t>(v >> (8 * i));
  }
}

/// F32 bits of a floating-point element of dtype `t` (F64 rounded as static_cast<float>).
TENSORHASH_HD constexpr std::uint32_t float_bits_as_f32(dtype t, std::uint64_t bits) noexcept {
  switch (t) {
    case dtype::F64:
      return f64_to_f32(bits);
    case dtype::F16:
      return f16_to_f32(static_cast<std::uint16_t>(bits));
    case dtype::BF16:
      return bf16_to_f32(static_cast<std::uint16_t>(bits));
    case dtype::F8_E4M3:
      return f8e4m3_to_f32(static_cast<std::uint8_t>(bits));
    case dtype::F8_E5M2:
      return f8e5m2_to_f32(static_cast<std::uint8_t>(bits));
    default:
      return static_cast<std::uint32_t>(bits);  // F32
  }
}

}  // namespace detail

/// Hash every element as stored (the default).
struct as_stored {
  static constexpr const char* name = nullptr;
  TENSORHASH_HD static constexpr dtype target(dtype stored) noexcept { return stored; }
  TENSORHASH_HD static void convert(dtype stored, const std::uint8_t* in,
                                    std::uint8_t* out) noexcept {
    for (std::uint32_t i = 0; i < size_of(stored); ++i) {
      out[i] = in[i];
    }
  }
};

/// Hash floating-point tensors as `.to(torch.bfloat16)` would store them (BF16 stays as is).
struct to_bf16 {
  static constexpr const char* name = "BF16";
  TENSORHASH_HD static constexpr dtype target(dtype stored) noexcept {
    return is_floating(stored) ? dtype::BF16 : stored;
  }
  TENSORHASH_HD static void convert(dtype stored, const std::uint8_t* in,
                                    std::uint8_t* out) noexcept {
    const std::uint32_t n = size_of(stored);
    const std::uint64_t bits = detail::load_le(in, n);
    if (!is_floating(stored) || stored == dtype::BF16) {
      detail::store_le(out, bits, n);
    } else {
      detail::store_le(out, detail::f32_to_bf16(detail::float_bits_as_f32(stored, bits)), 2);
    }
  }
};

/// Hash floating-point tensors as `.to(torch.float32)` would store them (exact but for F64).
struct to_f32 {
  static constexpr const char* name = "F32";
  TENSORHASH_HD static constexpr dtype target(dtype stored) noexcept {
    return is_floating(stored) ? dtype::F32 : stored;
  }
  TENSORHASH_HD static void convert(dtype stored, const std::uint8_t* in,
                                    std::uint8_t* out) noexcept {
    const std::uint32_t n = size_of(stored);
    const std::uint64_t bits = detail::load_le(in, n);
    if (!is_floating(stored)) {
      detail::store_le(out, bits, n);
    } else {
      detail::store_le(out, detail::float_bits_as_f32(stored, bits), 4);
    }
  }
};

namespace detail {
template <class P, class = void>
struct is_canonicalization : std::false_type {};
template <class P>
struct is_canonicalization<P, std::void_t<decltype(P::name), decltype(P::target(dtype::F32)),
                                          decltype(P::convert(dtype::F32, nullptr, nullptr))>>
    : std::true_type {};
}  // namespace detail

/// True when `P` has the members of a canonicalisation policy (see the file comment).
template <class P>
inline constexpr bool is_canonicalization_v = detail::is_canonicalization<P>::value;

TENSORHASH_NAMESPACE_END
