/**
 * @file detail/blake3/x86_avx2.hpp
 * @brief Host x86-64: BLAKE3 `hash_many` for 8 inputs at once, one input per 32-bit lane of
 *        the AVX2 registers (the "many inputs in parallel" SIMD strategy of the BLAKE3 paper,
 *        §5.3), selected at run time by cpuid.
 *
 * The 16 state words of the 8 compressions live in 16 YMM registers, lane `i` holding input
 * `i`'s. Each block's 8 × 64 message bytes are loaded row-wise and transposed 8 × 8 so that
 * register `j` holds message word `j` of every input. The function carries its own target
 * attribute; the rest of the program keeps its baseline ISA.
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
#define TENSORHASH_BLAKE3_AVX2 __attribute__((target("avx2")))

TENSORHASH_BLAKE3_AVX2 TENSORHASH_FORCEINLINE __m256i add(__m256i a, __m256i b) noexcept {
  return _mm256_add_epi32(a, b);
}

TENSORHASH_BLAKE3_AVX2 TENSORHASH_FORCEINLINE __m256i rotr16(__m256i x) noexcept {
  return _mm256_shuffle_epi8(
      x, _mm256_set_epi8(13, 12, 15, 14, 9, 8, 11, 10, 5, 4, 7, 6, 1, 0, 3, 2, 13, 12, 15, 14, 9, 8,
                         11, 10, 5, 4, 7, 6, 1, 0, 3, 2));
}

TENSORHASH_BLAKE3_AVX2 TENSORHASH_FORCEINLINE __m256i rotr8(__m256i x) noexcept {
  return _mm256_shuffle_epi8(
      x, _mm256_set_epi8(12, 15, 14, 13, 8, 11, 10, 9, 4, 7, 6, 5, 0, 3, 2, 1, 12, 15, 14, 13, 8,
                         11, 10, 9, 4, 7, 6, 5, 0, 3, 2, 1));
}

template <int N>
TENSORHASH_BLAKE3_AVX2 TENSORHASH_FORCEINLINE __m256i rotr(__m256i x) noexcept {
  return _mm256_or_si256(_mm256_srli_epi32(x, N), _mm256_slli_epi32(x, 32 - N));
}

TENSORHASH_BLAKE3_AVX2 TENSORHASH_FORCEINLINE void g8(__m256i (&v)[16], int a, int b, int c, int d,
                                                      __m256i x, __m256i y) noexcept {
  v[a] = add(add(v[a], v[b]), x);
  v[d] = rotr16(_mm256_xor_si256(v[d], v[a]));
  v[c] = add(v[c], v[d]);
  v[b] = rotr<12>(_mm256_xor_si256(v[b], v[c]));
  v[a] = add(add(v[a], v[b]), y);
  v[d] = rotr8(_mm256_xor_si256(v[d], v[a]));
  v[c] = add(v[c], v[d]);
  v[b] = rotr<7>(_mm256_xor_si256(v[b], v[c]));
}

template <int R>
TENSORHASH_BLAKE3_AVX2 TENSORHASH_FORCEINLINE void round8(__m256i (&v)[16],
                                                          const __m256i (&m)[16]) noexcept {
  g8(v, 0, 4, 8, 12, m[schedule(R, 0)], m[schedule(R, 1)]);
  g8(v, 1, 5, 9, 13, m[schedule(R, 2)], m[schedule(R, 3)]);
  g8(v, 2, 6, 10, 14, m[schedule(R, 4)], m[schedule(R, 5)]);
  g8(v, 3, 7, 11, 15, m[schedule(R, 6)], m[schedule(R, 7)]);
  g8(v, 0, 5, 10, 15, m[schedule(R, 8)], m[schedule(R, 9)]);
  g8(v, 1, 6, 11, 12, m[schedule(R, 10)], m[schedule(R, 11)]);
  g8(v, 2, 7, 8, 13, m[schedule(R, 12)], m[schedule(R, 13)]);
  g8(v, 3, 4, 9, 14, m[schedule(R, 14)], m[schedule(R, 15)]);
}

/// Transposes 8 rows of 8 words (`r[i]` word `j` → `r[j]` word `i`).
TENSORHASH_BLAKE3_AVX2 TENSORHASH_FORCEINLINE void transpose8(__m256i* r) noexcept {
  const __m256i ab_lo = _mm256_unpacklo_epi32(r[0], r[1]),
                ab_hi = _mm256_unpackhi_epi32(r[0], r[1]);
  const __m256i cd_lo = _mm256_unpacklo_epi32(r[2], r[3]),
                cd_hi = _mm256_unpackhi_epi32(r[2], r[3]);
  const __m256i ef_lo = _mm256_unpacklo_epi32(r[4], r[5]),
                ef_hi = _mm256_unpackhi_epi32(r[4], r[5]);
  const __m256i gh_lo = _mm256_unpacklo_epi32(r[6], r[7]),
                gh_hi = _mm256_unpackhi_epi32(r[6], r[7]);
  // Words (0, 4), (1, 5), (2, 6), (3, 7) of four rows, one pair of 128-bit halves each.
  const __m256i abcd_04 = _mm256_unpacklo_epi64(ab_lo, cd_lo);
  const __m256i abcd_15 = _mm256_unpackhi_epi64(ab_lo, cd_lo);
  const __m256i abcd_26 = _mm256_unpacklo_epi64(ab_hi, cd_hi);
  const __m256i abcd_37 = _mm256_unpackhi_epi64(ab_hi, cd_hi);
  const __m256i efgh_04 = _mm256_unpacklo_epi64(ef_lo, gh_lo);
  const __m256i efgh_15 = _mm256_unpackhi_epi64(ef_lo, gh_lo);
  const __m256i efgh_26 = _mm256_unpacklo_epi64(ef_hi, gh_hi);
  const __m256i efgh_37 = _mm256_unpackhi_epi64(ef_hi, gh_hi);
  r[0] = _mm256_permute2x128_si256(abcd_04, efgh_04, 0x20);
  r[4] = _mm256_permute2x128_si256(abcd_04, efgh_04, 0x31);
  r[1] = _mm256_permute2x128_si256(abcd_15, efgh_15, 0x20);
  r[5] = _mm256_permute2x128_si256(abcd_15, efgh_15, 0x31);
  r[2] = _mm256_permute2x128_si256(abcd_26, efgh_26, 0x20);
  r[6] = _mm256_permute2x128_si256(abcd_26, efgh_26, 0x31);
  r[3] = _mm256_permute2x128_si256(abcd_37, efgh_37, 0x20);
  r[7] = _mm256_permute2x128_si256(abcd_37, efgh_37, 0x31);
}

/// @return whether this CPU runs the AVX2 path (AVX2 with the OS saving YMM state)
inline bool avx2_available() noexcept {
  return host_cpu().avx2_f16c;
}

/// hash_many_portable for exactly 8 inputs; call only when avx2_available().
TENSORHASH_BLAKE3_AVX2 inline void hash8_avx2(const std::uint8_t* const* inputs,
                                              std::uint32_t blocks, const cv_words& key,
                                              std::uint64_t counter, bool increment,
                                              std::uint32_t flags, std::uint32_t flags_start,
                                              std::uint32_t flags_end, std::uint8_t* out) noexcept {
  __m256i h[8];
  for (int i = 0; i < 8; ++i) {
    h[i] = _mm256_set1_epi32(static_cast<int>(key.w[i]));
  }
  alignas(32) std::uint32_t lo[8], hi[8];
  for (int i = 0; i < 8; ++i) {
    const std::uint64_t c = counter + (increment ? static_cast<std::uint64_t>(i) : 0);
    lo[i] = static_cast<std::uint32_t>(c);
    hi[i] = static_cast<std::uint32_t>(c >> 32);
  }
  const __m256i counter_lo = _mm256_load_si256(reinterpret_cast<const __m256i*>(lo));
  const __m256i counter_hi = _mm256_load_si256(reinterpret_cast<const __m256i*>(hi));
  std::uint32_t f = flags | flags_start;
  for (std::uint32_t b = 0; b < blocks; ++b) {
    if (b + 1 == blocks) {
      f |= flags_end;
    }
    const std::size_t at = std::size_t{b} * block_bytes;
    __m256i m[16];
    for (int i = 0; i < 8; ++i) {
      m[i] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(inputs[i] + at));
      m[8 + i] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(inputs[i] + at + 32));
      // The next 8 chunks of a subtree follow these in memory (see x86_avx512.hpp).
      _mm_prefetch(reinterpret_cast<const char*>(reinterpret_cast<std::uintptr_t>(inputs[i]) + at +
                                                 8 * chunk_bytes),
                   _MM_HINT_T0);  // an address, not a pointer past the input
    }
    transpose8(m);
    transpose8(m + 8);
    __m256i v[16] = {h[0],
                     h[1],
                     h[2],
                     h[3],
                     h[4],
                     h[5],
                     h[6],
                     h[7],
                     _mm256_set1_epi32(static_cast<int>(iv(0))),
                     _mm256_set1_epi32(static_cast<int>(iv(1))),
                     _mm256_set1_epi32(static_cast<int>(iv(2))),
                     _mm256_set1_epi32(static_cast<int>(iv(3))),
                     counter_lo,
                     counter_hi,
                     _mm256_set1_epi32(static_cast<int>(block_bytes)),
                     _mm256_set1_epi32(static_cast<int>(f))};
    // After the transposes, m[j] holds word j of the block's first half for j < 8, and
    // m[8 + j] word 8 + j: the message words in order.
    round8<0>(v, m);
    round8<1>(v, m);
    round8<2>(v, m);
    round8<3>(v, m);
    round8<4>(v, m);
    round8<5>(v, m);
    round8<6>(v, m);
    for (int i = 0; i < 8; ++i) {
      h[i] = _mm256_xor_si256(v[i], v[i + 8]);
    }
    f = flags;
  }
  transpose8(h);
  for (int i = 0; i < 8; ++i) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 32 * i), h[i]);
  }
}

#undef TENSORHASH_BLAKE3_AVX2
#endif  // TENSORHASH_HAS_X86

}  // namespace blake3
}  // namespace detail
TENSORHASH_NAMESPACE_END
