/**
 * @file detail/blake3/x86_sse41.hpp
 * @brief Host x86-64: BLAKE3 `hash_many` for 4 inputs at once, one input per 32-bit lane of
 *        the SSE registers, for CPUs without AVX2; selected at run time by cpuid.
 *
 * As the AVX2 path (x86_avx2.hpp) with 4 lanes: the 16 state words in 16 XMM registers, each
 * block's 4 × 64 message bytes loaded as four 4 × 4 word blocks and transposed.
 */
#pragma once

#include <tensorhash/config.hpp>
#include <tensorhash/detail/blake3/portable.hpp>
#include <tensorhash/detail/cpu_features.hpp>

#if TENSORHASH_HAS_X86
#include <immintrin.h>
#endif

#include <cstddef>
#include <cstdint>

TENSORHASH_NAMESPACE_BEGIN
namespace detail {
namespace blake3 {

#if TENSORHASH_HAS_X86
#define TENSORHASH_BLAKE3_SSE41 __attribute__((target("sse4.1,ssse3")))

/// @return whether this CPU runs the SSE4.1 path (SSE4.1 and SSSE3)
inline bool sse41_available() noexcept {
  return host_cpu().sse41;
}

TENSORHASH_BLAKE3_SSE41 TENSORHASH_FORCEINLINE __m128i rotr16_4(__m128i x) noexcept {
  return _mm_shuffle_epi8(x, _mm_set_epi8(13, 12, 15, 14, 9, 8, 11, 10, 5, 4, 7, 6, 1, 0, 3, 2));
}

TENSORHASH_BLAKE3_SSE41 TENSORHASH_FORCEINLINE __m128i rotr8_4(__m128i x) noexcept {
  return _mm_shuffle_epi8(x, _mm_set_epi8(12, 15, 14, 13, 8, 11, 10, 9, 4, 7, 6, 5, 0, 3, 2, 1));
}

template <int N>
TENSORHASH_BLAKE3_SSE41 TENSORHASH_FORCEINLINE __m128i rotr4(__m128i x) noexcept {
  return _mm_or_si128(_mm_srli_epi32(x, N), _mm_slli_epi32(x, 32 - N));
}

TENSORHASH_BLAKE3_SSE41 TENSORHASH_FORCEINLINE void g4(__m128i (&v)[16], int a, int b, int c, int d,
                                                       __m128i x, __m128i y) noexcept {
  v[a] = _mm_add_epi32(_mm_add_epi32(v[a], v[b]), x);
  v[d] = rotr16_4(_mm_xor_si128(v[d], v[a]));
  v[c] = _mm_add_epi32(v[c], v[d]);
  v[b] = rotr4<12>(_mm_xor_si128(v[b], v[c]));
  v[a] = _mm_add_epi32(_mm_add_epi32(v[a], v[b]), y);
  v[d] = rotr8_4(_mm_xor_si128(v[d], v[a]));
  v[c] = _mm_add_epi32(v[c], v[d]);
  v[b] = rotr4<7>(_mm_xor_si128(v[b], v[c]));
}

template <int R>
TENSORHASH_BLAKE3_SSE41 TENSORHASH_FORCEINLINE void round4(__m128i (&v)[16],
                                                           const __m128i (&m)[16]) noexcept {
  g4(v, 0, 4, 8, 12, m[schedule(R, 0)], m[schedule(R, 1)]);
  g4(v, 1, 5, 9, 13, m[schedule(R, 2)], m[schedule(R, 3)]);
  g4(v, 2, 6, 10, 14, m[schedule(R, 4)], m[schedule(R, 5)]);
  g4(v, 3, 7, 11, 15, m[schedule(R, 6)], m[schedule(R, 7)]);
  g4(v, 0, 5, 10, 15, m[schedule(R, 8)], m[schedule(R, 9)]);
  g4(v, 1, 6, 11, 12, m[schedule(R, 10)], m[schedule(R, 11)]);
  g4(v, 2, 7, 8, 13, m[schedule(R, 12)], m[schedule(R, 13)]);
  g4(v, 3, 4, 9, 14, m[schedule(R, 14)], m[schedule(R, 15)]);
}

/// Transposes 4 rows of 4 words (`r[i]` word `j` → `r[j]` word `i`).
TENSORHASH_BLAKE3_SSE41 TENSORHASH_FORCEINLINE void transpose4(__m128i* r) noexcept {
  const __m128i ab_lo = _mm_unpacklo_epi32(r[0], r[1]), ab_hi = _mm_unpackhi_epi32(r[0], r[1]);
  const __m128i cd_lo = _mm_unpacklo_epi32(r[2], r[3]), cd_hi = _mm_unpackhi_epi32(r[2], r[3]);
  r[0] = _mm_unpacklo_epi64(ab_lo, cd_lo);
  r[1] = _mm_unpackhi_epi64(ab_lo, cd_lo);
  r[2] = _mm_unpacklo_epi64(ab_hi, cd_hi);
  r[3] = _mm_unpackhi_epi64(ab_hi, cd_hi);
}

/// hash_many_portable for exactly 4 inputs; call only when sse41_available().
TENSORHASH_BLAKE3_SSE41 inline void hash4_sse41(const std::uint8_t* const* inputs,
                                                std::uint32_t blocks, const cv_words& key,
                                                std::uint64_t counter, bool increment,
                                                std::uint32_t flags, std::uint32_t flags_start,
                                                std::uint32_t flags_end,
                                                std::uint8_t* out) noexcept {
  __m128i h[8];
  for (int i = 0; i < 8; ++i) {
    h[i] = _mm_set1_epi32(static_cast<int>(key.w[i]));
  }
  alignas(16) std::uint32_t lo[4], hi[4];
  for (int i = 0; i < 4; ++i) {
    const std::uint64_t c = counter + (increment ? static_cast<std::uint64_t>(i) : 0);
    lo[i] = static_cast<std::uint32_t>(c);
    hi[i] = static_cast<std::uint32_t>(c >> 32);
  }
  const __m128i counter_lo = _mm_load_si128(reinterpret_cast<const __m128i*>(lo));
  const __m128i counter_hi = _mm_load_si128(reinterpret_cast<const __m128i*>(hi));
  std::uint32_t f = flags | flags_start;
  for (std::uint32_t b = 0; b < blocks; ++b) {
    if (b + 1 == blocks) {
      f |= flags_end;
    }
    const std::size_t at = std::size_t{b} * block_bytes;
    __m128i m[16];  // m[4q + i]: words 4q .. 4q + 3 of input i, then transposed in place
    for (int q = 0; q < 4; ++q) {
      for (int i = 0; i < 4; ++i) {
        m[4 * q + i] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(inputs[i] + at + 16 * q));
      }
      transpose4(m + 4 * q);
    }
    for (int i = 0; i < 4; ++i) {
      // The next 4 chunks of a subtree follow these in memory (see x86_avx512.hpp).
      _mm_prefetch(reinterpret_cast<const char*>(reinterpret_cast<std::uintptr_t>(inputs[i]) + at +
                                                 4 * chunk_bytes),
                   _MM_HINT_T0);  // an address, not a pointer past the input
    }
    __m128i v[16] = {h[0],
                     h[1],
                     h[2],
                     h[3],
                     h[4],
                     h[5],
                     h[6],
                     h[7],
                     _mm_set1_epi32(static_cast<int>(iv(0))),
                     _mm_set1_epi32(static_cast<int>(iv(1))),
                     _mm_set1_epi32(static_cast<int>(iv(2))),
                     _mm_set1_epi32(static_cast<int>(iv(3))),
                     counter_lo,
                     counter_hi,
                     _mm_set1_epi32(static_cast<int>(block_bytes)),
                     _mm_set1_epi32(static_cast<int>(f))};
    round4<0>(v, m);
    round4<1>(v, m);
    round4<2>(v, m);
    round4<3>(v, m);
    round4<4>(v, m);
    round4<5>(v, m);
    round4<6>(v, m);
    for (int i = 0; i < 8; ++i) {
      h[i] = _mm_xor_si128(v[i], v[i + 8]);
    }
    f = flags;
  }
  transpose4(h);
  transpose4(h + 4);
  for (int i = 0; i < 4; ++i) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 32 * i), h[i]);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 32 * i + 16), h[4 + i]);
  }
}

#undef TENSORHASH_BLAKE3_SSE41
#endif  // TENSORHASH_HAS_X86

}  // namespace blake3
}  // namespace detail
TENSORHASH_NAMESPACE_END
