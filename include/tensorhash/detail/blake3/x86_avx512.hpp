/**
 * @file detail/blake3/x86_avx512.hpp
 * @brief Host x86-64: BLAKE3 `hash_many` for 16 inputs at once, one input per 32-bit lane of
 *        the AVX-512 registers, selected at run time by cpuid.
 *
 * As the AVX2 path (x86_avx2.hpp), with 16 lanes, a one-instruction rotate (VPRORD) and 32
 * registers, which hold the 16 state words and most of the 16 message words. Each block's
 * 16 × 64 message bytes are loaded one input per register and transposed 16 × 16.
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
#define TENSORHASH_BLAKE3_AVX512 __attribute__((target("avx512f")))
// GCC 12 reports the _mm512_undefined_epi32() pass-through operand of the unmasked AVX-512
// intrinsics as (maybe) uninitialised: a false positive, fixed in GCC 13.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

/// @return whether this CPU runs the AVX-512 path (AVX-512 F with the OS saving ZMM state)
inline bool avx512_available() noexcept {
  return host_cpu().avx512;
}

TENSORHASH_BLAKE3_AVX512 TENSORHASH_FORCEINLINE void g16(__m512i (&v)[16], int a, int b, int c,
                                                         int d, __m512i x, __m512i y) noexcept {
  v[a] = _mm512_add_epi32(_mm512_add_epi32(v[a], v[b]), x);
  v[d] = _mm512_ror_epi32(_mm512_xor_si512(v[d], v[a]), 16);
  v[c] = _mm512_add_epi32(v[c], v[d]);
  v[b] = _mm512_ror_epi32(_mm512_xor_si512(v[b], v[c]), 12);
  v[a] = _mm512_add_epi32(_mm512_add_epi32(v[a], v[b]), y);
  v[d] = _mm512_ror_epi32(_mm512_xor_si512(v[d], v[a]), 8);
  v[c] = _mm512_add_epi32(v[c], v[d]);
  v[b] = _mm512_ror_epi32(_mm512_xor_si512(v[b], v[c]), 7);
}

template <int R>
TENSORHASH_BLAKE3_AVX512 TENSORHASH_FORCEINLINE void round16(__m512i (&v)[16],
                                                             const __m512i (&m)[16]) noexcept {
  __asm__ volatile("" : : "m"(m) : "memory");  // reload the message words from memory
  g16(v, 0, 4, 8, 12, m[schedule(R, 0)], m[schedule(R, 1)]);
  g16(v, 1, 5, 9, 13, m[schedule(R, 2)], m[schedule(R, 3)]);
  g16(v, 2, 6, 10, 14, m[schedule(R, 4)], m[schedule(R, 5)]);
  g16(v, 3, 7, 11, 15, m[schedule(R, 6)], m[schedule(R, 7)]);
  g16(v, 0, 5, 10, 15, m[schedule(R, 8)], m[schedule(R, 9)]);
  g16(v, 1, 6, 11, 12, m[schedule(R, 10)], m[schedule(R, 11)]);
  g16(v, 2, 7, 8, 13, m[schedule(R, 12)], m[schedule(R, 13)]);
  g16(v, 3, 4, 9, 14, m[schedule(R, 14)], m[schedule(R, 15)]);
}

/**
 * @brief Transposes 16 rows of 16 words (`r[i]` word `j` → `r[j]` word `i`): 32-bit and 64-bit
 *        unpacks transpose 4 × 4 blocks inside each 128-bit lane, then two rounds of 128-bit lane
 *        shuffles move the blocks.
 */
TENSORHASH_BLAKE3_AVX512 TENSORHASH_FORCEINLINE void transpose16(__m512i (&r)[16]) noexcept {
  __m512i u[16];  // u[4g + j]: lane L holds word 4L + j of rows 4g .. 4g + 3
  for (int g = 0; g < 4; ++g) {
    const __m512i ab_lo = _mm512_unpacklo_epi32(r[4 * g], r[4 * g + 1]);
    const __m512i ab_hi = _mm512_unpackhi_epi32(r[4 * g], r[4 * g + 1]);
    const __m512i cd_lo = _mm512_unpacklo_epi32(r[4 * g + 2], r[4 * g + 3]);
    const __m512i cd_hi = _mm512_unpackhi_epi32(r[4 * g + 2], r[4 * g + 3]);
    u[4 * g + 0] = _mm512_unpacklo_epi64(ab_lo, cd_lo);
    u[4 * g + 1] = _mm512_unpackhi_epi64(ab_lo, cd_lo);
    u[4 * g + 2] = _mm512_unpacklo_epi64(ab_hi, cd_hi);
    u[4 * g + 3] = _mm512_unpackhi_epi64(ab_hi, cd_hi);
  }
  for (int j = 0; j < 4; ++j) {
    const __m512i g01_lo = _mm512_shuffle_i32x4(u[j], u[4 + j], _MM_SHUFFLE(1, 0, 1, 0));
    const __m512i g01_hi = _mm512_shuffle_i32x4(u[j], u[4 + j], _MM_SHUFFLE(3, 2, 3, 2));
    const __m512i g23_lo = _mm512_shuffle_i32x4(u[8 + j], u[12 + j], _MM_SHUFFLE(1, 0, 1, 0));
    const __m512i g23_hi = _mm512_shuffle_i32x4(u[8 + j], u[12 + j], _MM_SHUFFLE(3, 2, 3, 2));
    r[j] = _mm512_shuffle_i32x4(g01_lo, g23_lo, _MM_SHUFFLE(2, 0, 2, 0));
    r[4 + j] = _mm512_shuffle_i32x4(g01_lo, g23_lo, _MM_SHUFFLE(3, 1, 3, 1));
    r[8 + j] = _mm512_shuffle_i32x4(g01_hi, g23_hi, _MM_SHUFFLE(2, 0, 2, 0));
    r[12 + j] = _mm512_shuffle_i32x4(g01_hi, g23_hi, _MM_SHUFFLE(3, 1, 3, 1));
  }
}

/// hash_many_portable for exactly 16 inputs; call only when avx512_available().
TENSORHASH_BLAKE3_AVX512 inline void hash16_avx512(const std::uint8_t* const* inputs,
                                                   std::uint32_t blocks, const cv_words& key,
                                                   std::uint64_t counter, bool increment,
                                                   std::uint32_t flags, std::uint32_t flags_start,
                                                   std::uint32_t flags_end,
                                                   std::uint8_t* out) noexcept {
  __m512i h[8];
  for (int i = 0; i < 8; ++i) {
    h[i] = _mm512_set1_epi32(static_cast<int>(key.w[i]));
  }
  alignas(64) std::uint32_t lo[16], hi[16];
  for (int i = 0; i < 16; ++i) {
    const std::uint64_t c = counter + (increment ? static_cast<std::uint64_t>(i) : 0);
    lo[i] = static_cast<std::uint32_t>(c);
    hi[i] = static_cast<std::uint32_t>(c >> 32);
  }
  const __m512i counter_lo = _mm512_load_si512(lo);
  const __m512i counter_hi = _mm512_load_si512(hi);
  std::uint32_t f = flags | flags_start;
  for (std::uint32_t b = 0; b < blocks; ++b) {
    if (b + 1 == blocks) {
      f |= flags_end;
    }
    const std::size_t at = std::size_t{b} * block_bytes;
    __m512i m[16];
    for (int i = 0; i < 16; ++i) {
      m[i] = _mm512_loadu_si512(inputs[i] + at);
      // The next 16 chunks of a subtree follow these in memory: fetching them now, a line per
      // lane and block, raised a 1 GiB tensor from 4.6 to 5.3 GB/s (one core; 256 bytes ahead
      // in the same chunk gave 4.6). A prefetch past the input never faults.
      _mm_prefetch(reinterpret_cast<const char*>(reinterpret_cast<std::uintptr_t>(inputs[i]) + at +
                                                 16 * chunk_bytes),
                   _MM_HINT_T0);  // an address, not a pointer past the input
    }
    transpose16(m);
    // The message words go to memory once, and every round reads them from there (a compiler
    // barrier between rounds): each is an operand of one VPADDD a round, so the 32 registers
    // hold the 16 state words and temporaries without spilling state (22% fewer instructions
    // per block than letting the compiler keep the message in registers).
    alignas(64) __m512i msg[16];
    for (int i = 0; i < 16; ++i) {
      msg[i] = m[i];
    }
    __m512i v[16] = {h[0],
                     h[1],
                     h[2],
                     h[3],
                     h[4],
                     h[5],
                     h[6],
                     h[7],
                     _mm512_set1_epi32(static_cast<int>(iv(0))),
                     _mm512_set1_epi32(static_cast<int>(iv(1))),
                     _mm512_set1_epi32(static_cast<int>(iv(2))),
                     _mm512_set1_epi32(static_cast<int>(iv(3))),
                     counter_lo,
                     counter_hi,
                     _mm512_set1_epi32(static_cast<int>(block_bytes)),
                     _mm512_set1_epi32(static_cast<int>(f))};
    round16<0>(v, msg);
    round16<1>(v, msg);
    round16<2>(v, msg);
    round16<3>(v, msg);
    round16<4>(v, msg);
    round16<5>(v, msg);
    round16<6>(v, msg);
    for (int i = 0; i < 8; ++i) {
      h[i] = _mm512_xor_si512(v[i], v[i + 8]);
    }
    f = flags;
  }
  __m512i cv[16];  // words 8..15 zero: after the transpose, row `lane` holds its CV in 256 bits
  for (int i = 0; i < 8; ++i) {
    cv[i] = h[i];
    cv[8 + i] = _mm512_setzero_si512();
  }
  transpose16(cv);
  for (int lane = 0; lane < 16; ++lane) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 32 * lane),
                        _mm512_castsi512_si256(cv[lane]));
  }
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#undef TENSORHASH_BLAKE3_AVX512
#endif  // TENSORHASH_HAS_X86

}  // namespace blake3
}  // namespace detail
TENSORHASH_NAMESPACE_END
