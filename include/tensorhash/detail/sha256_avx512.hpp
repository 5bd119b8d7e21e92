/**
 * @file detail/sha256_avx512.hpp
 * @brief Host: SHA-256 of 16 independent messages at once, one per 32-bit lane of AVX-512
 *        registers (multi-buffer), selected at run time by cpuid.
 *
 * The portable compression's arithmetic (FIPS 180-4 §6.2.2), lane-wise: VPRORD rotates,
 * VPTERNLOGD for Ch, Maj and three-way XORs. Each step loads one 64-byte block per lane and
 * transposes the 16 x 16 words so that register t holds word t of every lane's block.
 */
#pragma once

#include <tensorhash/config.hpp>
#include <tensorhash/detail/cpu_features.hpp>
#include <tensorhash/detail/sha256_core.hpp>

#if TENSORHASH_HAS_X86
#include <immintrin.h>
#endif

#include <cstdint>

TENSORHASH_NAMESPACE_BEGIN
namespace detail {

#if TENSORHASH_HAS_X86

#define TENSORHASH_AVX512 __attribute__((target("avx512f,avx512bw")))

// GCC 12 reports the _mm512_undefined_epi32() pass-through operand of the unmasked AVX-512
// intrinsics as maybe uninitialised (a false positive, fixed in GCC 13).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

/// Word t of each of 16 rows `r` in register t: a 16 x 16 transpose of 32-bit words.
TENSORHASH_AVX512 inline void transpose16(__m512i (&r)[16]) noexcept {
  __m512i t[16], u[16];
  for (int k = 0; k < 8; ++k) {
    t[2 * k] = _mm512_unpacklo_epi32(r[2 * k], r[2 * k + 1]);
    t[2 * k + 1] = _mm512_unpackhi_epi32(r[2 * k], r[2 * k + 1]);
  }
  for (int k = 0; k < 4; ++k) {
    u[4 * k + 0] = _mm512_unpacklo_epi64(t[4 * k], t[4 * k + 2]);
    u[4 * k + 1] = _mm512_unpackhi_epi64(t[4 * k], t[4 * k + 2]);
    u[4 * k + 2] = _mm512_unpacklo_epi64(t[4 * k + 1], t[4 * k + 3]);
    u[4 * k + 3] = _mm512_unpackhi_epi64(t[4 * k + 1], t[4 * k + 3]);
  }
  // u[4k + m], 128-bit lane L, holds word 4L + m of rows 4k .. 4k + 3.
  for (int m = 0; m < 4; ++m) {
    const __m512i v0 = _mm512_shuffle_i32x4(u[m], u[4 + m], 0x88);
    const __m512i v1 = _mm512_shuffle_i32x4(u[m], u[4 + m], 0xDD);
    const __m512i v2 = _mm512_shuffle_i32x4(u[8 + m], u[12 + m], 0x88);
    const __m512i v3 = _mm512_shuffle_i32x4(u[8 + m], u[12 + m], 0xDD);
    r[m] = _mm512_shuffle_i32x4(v0, v2, 0x88);
    r[4 + m] = _mm512_shuffle_i32x4(v1, v3, 0x88);
    r[8 + m] = _mm512_shuffle_i32x4(v0, v2, 0xDD);
    r[12 + m] = _mm512_shuffle_i32x4(v1, v3, 0xDD);
  }
}

/**
 * @brief Compresses `nblocks` 64-byte blocks into each of 16 independent chaining values:
 *        lane `s` reads `blocks[s]` (any alignment). Call only when `host_cpu().avx512`.
 */
TENSORHASH_AVX512 inline void sha256_compress_avx512_x16(sha256_state* const (&st)[16],
                                                         const std::uint8_t* const (&blocks)[16],
                                                         std::uint64_t nblocks) noexcept {
  alignas(64) std::uint32_t lanes[8][16];
  for (int s = 0; s < 16; ++s) {
    for (int i = 0; i < 8; ++i) {
      lanes[i][s] = st[s]->h[i];
    }
  }
  __m512i h[8];
  for (int i = 0; i < 8; ++i) {
    h[i] = _mm512_load_si512(lanes[i]);
  }
  const __m512i byteswap = _mm512_set4_epi32(0x0c0d0e0f, 0x08090a0b, 0x04050607, 0x00010203);
  for (std::uint64_t n = 0; n < nblocks; ++n) {
    __m512i w[16];
    for (int s = 0; s < 16; ++s) {
      w[s] = _mm512_shuffle_epi8(_mm512_loadu_si512(blocks[s] + 64 * n), byteswap);
    }
    transpose16(w);
    __m512i a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
    for (int i = 0; i < 64; ++i) {
      __m512i wi;
      if (i < 16) {
        wi = w[i];
      } else {
        const __m512i w15 = w[(i - 15) & 15], w2 = w[(i - 2) & 15];
        const __m512i s0 = _mm512_ternarylogic_epi32(
            _mm512_ror_epi32(w15, 7), _mm512_ror_epi32(w15, 18), _mm512_srli_epi32(w15, 3), 0x96);
        const __m512i s1 = _mm512_ternarylogic_epi32(
            _mm512_ror_epi32(w2, 17), _mm512_ror_epi32(w2, 19), _mm512_srli_epi32(w2, 10), 0x96);
        wi = _mm512_add_epi32(_mm512_add_epi32(w[i & 15], s0),
                              _mm512_add_epi32(w[(i - 7) & 15], s1));
        w[i & 15] = wi;
      }
      const __m512i s1 = _mm512_ternarylogic_epi32(_mm512_ror_epi32(e, 6), _mm512_ror_epi32(e, 11),
                                                   _mm512_ror_epi32(e, 25), 0x96);
      const __m512i ch = _mm512_ternarylogic_epi32(e, f, g, 0xCA);
      const __m512i t1 = _mm512_add_epi32(
          _mm512_add_epi32(hh, s1),
          _mm512_add_epi32(ch,
                           _mm512_add_epi32(wi, _mm512_set1_epi32(static_cast<int>(sha256_k(i))))));
      const __m512i s0 = _mm512_ternarylogic_epi32(_mm512_ror_epi32(a, 2), _mm512_ror_epi32(a, 13),
                                                   _mm512_ror_epi32(a, 22), 0x96);
      const __m512i maj = _mm512_ternarylogic_epi32(a, b, c, 0xE8);
      hh = g;
      g = f;
      f = e;
      e = _mm512_add_epi32(d, t1);
      d = c;
      c = b;
      b = a;
      a = _mm512_add_epi32(t1, _mm512_add_epi32(s0, maj));
    }
    h[0] = _mm512_add_epi32(h[0], a);
    h[1] = _mm512_add_epi32(h[1], b);
    h[2] = _mm512_add_epi32(h[2], c);
    h[3] = _mm512_add_epi32(h[3], d);
    h[4] = _mm512_add_epi32(h[4], e);
    h[5] = _mm512_add_epi32(h[5], f);
    h[6] = _mm512_add_epi32(h[6], g);
    h[7] = _mm512_add_epi32(h[7], hh);
  }
  for (int i = 0; i < 8; ++i) {
    _mm512_store_si512(lanes[i], h[i]);
  }
  for (int s = 0; s < 16; ++s) {
    for (int i = 0; i < 8; ++i) {
      st[s]->h[i] = lanes[i][s];
    }
  }
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#undef TENSORHASH_AVX512

/// `N` lanes through the 16-lane compression, 16 at a time; a last group of fewer than 16 fills
/// its empty lanes with a scratch state reading the group's first lane's blocks.
template <std::size_t N>
void sha256_compress_avx512_lanes(sha256_state* const (&st)[N],
                                  const std::uint8_t* const (&blocks)[N],
                                  std::uint64_t nblocks) noexcept {
  sha256_state scratch{};
  for (std::size_t g = 0; g < N; g += 16) {
    sha256_state* group_states[16];
    const std::uint8_t* group_blocks[16];
    for (std::size_t s = 0; s < 16; ++s) {
      const bool used = g + s < N;
      group_states[s] = used ? st[g + s] : &scratch;
      group_blocks[s] = used ? blocks[g + s] : blocks[g];
    }
    sha256_compress_avx512_x16(group_states, group_blocks, nblocks);
  }
}

#endif

}  // namespace detail
TENSORHASH_NAMESPACE_END
