/**
 * @file detail/convert_x86.hpp
 * @brief Host: vectorised float conversions for canonicalisation (AVX2 and F16C, chosen at run
 *        time by cpuid), bit for bit the integer conversions of detail/float_convert.hpp.
 *
 * Each function converts a prefix of its input, a multiple of the vector width, and returns how
 * many elements it did; the caller converts the rest with the scalar code. The hardware
 * conversions (F16C's VCVTPH2PS, AVX's VCVTPD2PS) run under the default MXCSR (round to nearest
 * even, no flush-to-zero, no denormals-are-zero), set here and restored after, so a caller's
 * FTZ/DAZ setting (PyTorch's `set_flush_denormal`) cannot change a digest.
 */
#pragma once

#include <tensorhash/config.hpp>
#include <tensorhash/detail/cpu_features.hpp>
#include <tensorhash/dtype.hpp>

#include <cstdint>

#if !TENSORHASH_DEVICE_PASS && defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define TENSORHASH_HAS_X86_CONVERT 1
#include <immintrin.h>
#else
#define TENSORHASH_HAS_X86_CONVERT 0
#endif

TENSORHASH_NAMESPACE_BEGIN
namespace detail {

#if TENSORHASH_HAS_X86_CONVERT

/// @return true when this CPU and OS run AVX2 and F16C
inline bool cpu_has_avx2_f16c() noexcept {
  return host_cpu().avx2_f16c;
}

/// Sets the default MXCSR for its lifetime.
class default_mxcsr {
 public:
  default_mxcsr() noexcept : saved_(_mm_getcsr()) { _mm_setcsr(0x1F80); }
  ~default_mxcsr() { _mm_setcsr(saved_); }
  default_mxcsr(const default_mxcsr&) = delete;
  default_mxcsr& operator=(const default_mxcsr&) = delete;

 private:
  unsigned saved_;
};

/// Eight F32 bit patterns → eight BF16 in the low halves: f32_to_bf16 lane by lane.
__attribute__((target("avx2"))) inline __m256i bf16_round8(__m256i u, __m256i nan) noexcept {
  const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
  const __m256i bias = _mm256_add_epi32(_mm256_set1_epi32(0x7FFF), lsb);
  const __m256i rounded = _mm256_srli_epi32(_mm256_add_epi32(u, bias), 16);
  const __m256i magnitude = _mm256_and_si256(u, _mm256_set1_epi32(0x7FFFFFFF));
  const __m256i is_nan = _mm256_cmpgt_epi32(magnitude, _mm256_set1_epi32(0x7F800000));
  return _mm256_blendv_epi8(rounded, nan, is_nan);
}

/// Stores sixteen BF16 held in the low halves of `a` (elements 0-7) and `b` (8-15).
__attribute__((target("avx2"))) inline void store_bf16x16(std::uint8_t* out, __m256i a,
                                                          __m256i b) noexcept {
  // packus interleaves 128-bit lanes (a0-3 b0-3 a4-7 b4-7); the permute restores the order.
  const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(a, b), 0xD8);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), packed);
}

/// F16 (or, with F16C's exact widening, any source) → F32 bits of eight elements.
__attribute__((target("avx2,f16c"))) inline __m256i f16x8_to_f32(const std::uint8_t* in) noexcept {
  return _mm256_castps_si256(
      _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(in))));
}

/// F64 → F32 bits of eight elements (two VCVTPD2PS, round to nearest even).
__attribute__((target("avx2"))) inline __m256i f64x8_to_f32(const std::uint8_t* in) noexcept {
  const __m128 lo = _mm256_cvtpd_ps(_mm256_loadu_pd(reinterpret_cast<const double*>(in)));
  const __m128 hi = _mm256_cvtpd_ps(_mm256_loadu_pd(reinterpret_cast<const double*>(in + 32)));
  return _mm256_castps_si256(_mm256_set_m128(hi, lo));
}

/// F32 bits of eight elements stored as `D` (F32, F16 or F64) at `in`.
template <dtype D>
__attribute__((target("avx2,f16c"))) inline __m256i load_f32x8(const std::uint8_t* in) noexcept {
  if constexpr (D == dtype::F32) {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in));
  } else if constexpr (D == dtype::F16) {
    return f16x8_to_f32(in);
  } else {
    return f64x8_to_f32(in);
  }
}

/// F32, F16 or F64 → BF16, sixteen elements a step, NaNs → `nan`.
template <dtype D>
__attribute__((target("avx2,f16c"))) std::uint64_t to_bf16_avx2(const std::uint8_t* in,
                                                                std::uint8_t* out, std::uint64_t n,
                                                                std::uint16_t nan) noexcept {
  constexpr std::uint32_t step = 8 * size_of(D);
  const __m256i nan8 = _mm256_set1_epi32(nan);
  const default_mxcsr mxcsr;
  std::uint64_t i = 0;
  for (; i + 16 <= n; i += 16, in += 2 * step, out += 32) {
    store_bf16x16(out, bf16_round8(load_f32x8<D>(in), nan8),
                  bf16_round8(load_f32x8<D>(in + step), nan8));
  }
  return i;
}

/// F16, BF16 or F64 → F32, eight elements a step.
template <dtype D>
__attribute__((target("avx2,f16c"))) std::uint64_t to_f32_avx2(const std::uint8_t* in,
                                                               std::uint8_t* out,
                                                               std::uint64_t n) noexcept {
  const default_mxcsr mxcsr;
  std::uint64_t i = 0;
  for (; i + 8 <= n; i += 8, in += 8 * size_of(D), out += 32) {
    __m256i v;
    if constexpr (D == dtype::BF16) {
      v = _mm256_slli_epi32(
          _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(in))), 16);
    } else {
      v = load_f32x8<D>(in);
    }
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), v);
  }
  return i;
}

/**
 * @brief Converts a prefix of `n` elements stored as `D` to `T` with AVX2/F16C when this CPU
 *        has them; `bf16_nan` is the BF16 of a NaN (the policy's NaN rule).
 * @return elements converted (0 when there is no vector path for `D` → `T` or no AVX2/F16C)
 */
template <dtype D, dtype T>
std::uint64_t simd_convert(const std::uint8_t* in, std::uint8_t* out, std::uint64_t n,
                           std::uint16_t bf16_nan) noexcept {
  constexpr bool bf16 = T == dtype::BF16 && (D == dtype::F32 || D == dtype::F16 || D == dtype::F64);
  constexpr bool f32 = T == dtype::F32 && (D == dtype::F16 || D == dtype::BF16 || D == dtype::F64);
  if constexpr (bf16 || f32) {
    if (!cpu_has_avx2_f16c()) {
      return 0;
    }
    if constexpr (bf16) {
      return to_bf16_avx2<D>(in, out, n, bf16_nan);
    } else {
      (void)bf16_nan;
      return to_f32_avx2<D>(in, out, n);
    }
  } else {
    (void)in, (void)out, (void)n, (void)bf16_nan;
    return 0;
  }
}

#endif

}  // namespace detail
TENSORHASH_NAMESPACE_END
