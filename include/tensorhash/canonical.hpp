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
 * - optionally `P::nan_rule`: the NaN rule of its conversions to BF16 (`nan_canonical` if absent).
 * Policies are applied on the fly while hashing; no converted copy of a tensor is made.
 * Floating-point conversions follow PyTorch's `.to(dtype)` bit for bit for every non-NaN value;
 * NaNs follow the policy's NaN rule (docs/format.md §3); integer and bool tensors are always
 * hashed as stored.
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

/**
 * @name NaN rules for conversions to BF16
 * Which BF16 a NaN becomes differs between implementations, and PyTorch differs from itself
 * (measured with torch 2.15, docs/format.md §3.2): its scalar CPU path gives 0x7FC0, its
 * vectorised CPU kernels 0xFFFF for F32 and F64 sources, CUDA's `__float2bfloat16` 0x7FFF.
 * A rule is a type with `name` (recorded in manifests as `nan_rule`) and
 * `bf16_nan(dtype source)`, the BF16 bits of every NaN of that source dtype. Non-NaN values
 * convert identically under every rule.
 * @{
 */
/// The format's rule (the default): every NaN → 0x7FC0 (PyTorch's scalar CPU path).
struct nan_canonical {
  static constexpr const char* name = "canonical";
  TENSORHASH_HD static constexpr std::uint16_t bf16_nan(dtype) noexcept { return 0x7FC0; }
};
/// PyTorch's vectorised CPU kernels (AVX2, AVX-512; contiguous tensors): F32 and F64 NaNs →
/// 0xFFFF, F16 and FP8 NaNs → 0x7FC0.
struct nan_torch_cpu {
  static constexpr const char* name = "torch-cpu";
  TENSORHASH_HD static constexpr std::uint16_t bf16_nan(dtype source) noexcept {
    return source == dtype::F32 || source == dtype::F64 ? 0xFFFF : 0x7FC0;
  }
};
/// PyTorch on CUDA (`__float2bfloat16`, sm_80+): every NaN → 0x7FFF.
struct nan_torch_cuda {
  static constexpr const char* name = "torch-cuda";
  TENSORHASH_HD static constexpr std::uint16_t bf16_nan(dtype) noexcept { return 0x7FFF; }
};
/// @}

/// Hash floating-point tensors as `.to(torch.bfloat16)` would store them (BF16 stays as is),
/// NaNs as `NanRule` says.
template <class NanRule = nan_canonical>
struct basic_to_bf16 {
  static constexpr const char* name = "BF16";
  using nan_rule = NanRule;
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
      detail::store_le(
          out,
          detail::f32_to_bf16(detail::float_bits_as_f32(stored, bits), NanRule::bf16_nan(stored)),
          2);
    }
  }
};

/// BF16 canonicalisation with the format's NaN rule.
using to_bf16 = basic_to_bf16<>;
/// BF16 canonicalisation bit for bit as PyTorch's vectorised CPU `.to(torch.bfloat16)`.
using to_bf16_torch_cpu = basic_to_bf16<nan_torch_cpu>;
/// BF16 canonicalisation bit for bit as PyTorch's CUDA `.to(torch.bfloat16)`.
using to_bf16_torch_cuda = basic_to_bf16<nan_torch_cuda>;

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

namespace detail {
template <class P, class = void>
struct nan_rule_of {
  using type = nan_canonical;
};
template <class P>
struct nan_rule_of<P, std::void_t<typename P::nan_rule>> {
  using type = typename P::nan_rule;
};
}  // namespace detail

/// The NaN rule of policy `P` (its `P::nan_rule`; `nan_canonical` when it names none).
template <class P>
using nan_rule_t = typename detail::nan_rule_of<P>::type;

TENSORHASH_NAMESPACE_END
