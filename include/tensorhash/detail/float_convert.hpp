/**
 * @file detail/float_convert.hpp
 * @brief Bit-exact float conversions used by canonicalisation, in integer arithmetic only.
 *
 * Integer arithmetic makes the results independent of FTZ/DAZ modes and of host vs device
 * floating-point units. Each function documents the PyTorch (CPU) behaviour it reproduces;
 * docs/format.md is normative.
 */
#pragma once

#include <tensorhash/config.hpp>

#include <cstdint>

TENSORHASH_NAMESPACE_BEGIN
namespace detail {

/// F32 bits → BF16 bits: round to nearest even (c10::round_to_nearest_even); every NaN →
/// `nan` (0x7FC0 in the format's canonical rule; canonical.hpp's NaN rules give the others).
TENSORHASH_HD constexpr std::uint16_t f32_to_bf16(std::uint32_t u,
                                                  std::uint16_t nan = 0x7FC0) noexcept {
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) {
    return nan;
  }
  const std::uint32_t bias = 0x7FFFu + ((u >> 16) & 1u);
  return static_cast<std::uint16_t>((u + bias) >> 16);
}

/// BF16 bits → F32 bits: exact, NaN payloads kept (a 16-bit shift).
TENSORHASH_HD constexpr std::uint32_t bf16_to_f32(std::uint16_t h) noexcept {
  return std::uint32_t{h} << 16;
}

/// F16 bits → F32 bits: exact; a NaN keeps sign and payload and gets the quiet bit (x86 F16C).
TENSORHASH_HD constexpr std::uint32_t f16_to_f32(std::uint16_t h) noexcept {
  const std::uint32_t sign = std::uint32_t{h & 0x8000u} << 16;
  const std::uint32_t exp = (h >> 10) & 0x1Fu;
  std::uint32_t mant = h & 0x3FFu;
  if (exp == 0x1F) {
    return sign | 0x7F800000u | (mant << 13) | (mant != 0 ? 0x00400000u : 0u);
  }
  if (exp != 0) {
    return sign | ((exp + 112u) << 23) | (mant << 13);
  }
  if (mant == 0) {
    return sign;
  }
  // Subnormal: value = mant * 2^-24; normalise so the leading one lands in bit 10.
  std::uint32_t e = 113;  // biased F32 exponent of 2^-14, decremented per shift
  while ((mant & 0x400u) == 0) {
    mant <<= 1;
    --e;
  }
  return sign | (e << 23) | ((mant & 0x3FFu) << 13);
}

/// F8 E5M2 bits → F32 bits: E5M2 is the high byte of an F16 (c10::fp8e5m2_to_fp32_value).
TENSORHASH_HD constexpr std::uint32_t f8e5m2_to_f32(std::uint8_t b) noexcept {
  return f16_to_f32(static_cast<std::uint16_t>(std::uint32_t{b} << 8));
}

/// F8 E4M3FN bits → F32 bits: exact; NaN (S.1111.111) → sign | 0x7FF00000, as
/// c10::fp8e4m3fn_to_fp32_value computes it. E4M3FN has no infinities.
TENSORHASH_HD constexpr std::uint32_t f8e4m3_to_f32(std::uint8_t b) noexcept {
  const std::uint32_t sign = std::uint32_t{b & 0x80u} << 24;
  const std::uint32_t exp = (b >> 3) & 0xFu;
  std::uint32_t mant = b & 0x7u;
  if (exp == 0xF && mant == 0x7) {
    return sign | 0x7FF00000u;
  }
  if (exp != 0) {
    return sign | ((exp + 120u) << 23) | (mant << 20);
  }
  if (mant == 0) {
    return sign;
  }
  std::uint32_t e = 121;  // biased F32 exponent of 2^-6
  while ((mant & 0x8u) == 0) {
    mant <<= 1;
    --e;
  }
  return sign | (e << 23) | ((mant & 0x7u) << 20);
}

/// F64 bits → F32 bits: round to nearest even with gradual underflow and overflow to infinity;
/// a NaN keeps sign and the top 22 payload bits and gets the quiet bit (x86 CVTSD2SS).
TENSORHASH_HD constexpr std::uint32_t f64_to_f32(std::uint64_t u) noexcept {
  const std::uint32_t sign = static_cast<std::uint32_t>(u >> 32) & 0x80000000u;
  const int exp = static_cast<int>((u >> 52) & 0x7FFu);
  const std::uint64_t mant = u & 0xFFFFFFFFFFFFFull;
  if (exp == 0x7FF) {
    return mant == 0 ? (sign | 0x7F800000u)
                     : (sign | 0x7FC00000u | static_cast<std::uint32_t>(mant >> 29));
  }
  if (exp == 0) {
    return sign;  // zero or an F64 subnormal (< 2^-1022): rounds to a signed zero in F32
  }
  const int e = exp - 1023;                                   // unbiased exponent
  const std::uint64_t sig = mant | (std::uint64_t{1} << 52);  // value = sig * 2^(e-52)
  int shift = 29;                                             // 52 - 23 mantissa bits
  if (e < -126) {
    shift += -126 - e;  // F32 subnormal: fewer significant bits survive
  }
  if (shift > 63) {
    return sign;
  }
  std::uint64_t q = sig >> shift;
  const std::uint64_t rem = sig & ((std::uint64_t{1} << shift) - 1);
  const std::uint64_t half = std::uint64_t{1} << (shift - 1);
  if (rem > half || (rem == half && (q & 1u) != 0)) {
    ++q;
  }
  if (e < -126) {
    return sign | static_cast<std::uint32_t>(q);  // q == 2^23 is the smallest normal, as wanted
  }
  if (e > 127) {
    return sign | 0x7F800000u;
  }
  // q in [2^23, 2^24]; a carry to 2^24 moves into the exponent field by the addition.
  const std::uint64_t bits = (static_cast<std::uint64_t>(e + 127) << 23) + (q - (1u << 23));
  return sign | (bits >= 0x7F800000u ? 0x7F800000u : static_cast<std::uint32_t>(bits));
}

}  // namespace detail
TENSORHASH_NAMESPACE_END
