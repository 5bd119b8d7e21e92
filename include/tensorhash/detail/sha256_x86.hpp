/**
 * @file detail/sha256_x86.hpp
 * @brief SHA-256 compression with the x86 SHA extensions (SHA-NI), selected at run time by cpuid.
 *
 * Host-only. The functions carry their own target attributes, so no `-msha` flag is needed and
 * the rest of the program keeps its baseline ISA; they are only called when cpuid reports
 * SHA, SSSE3 and SSE4.1.
 */
#pragma once

#include <tensorhash/config.hpp>
#include <tensorhash/detail/cpu_features.hpp>
#include <tensorhash/detail/sha256_core.hpp>

#if !TENSORHASH_DEVICE_PASS && defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define TENSORHASH_HAS_SHA_NI 1
#include <immintrin.h>
#else
#define TENSORHASH_HAS_SHA_NI 0
#endif

#include <cstddef>
#include <cstdint>
#include <utility>

TENSORHASH_NAMESPACE_BEGIN
namespace detail {

#if TENSORHASH_HAS_SHA_NI

/// @return true when this CPU executes SHA-NI (cpuid leaf 7 EBX bit 29) with SSSE3 and SSE4.1
inline bool cpu_has_sha_ni() noexcept {
  return host_cpu().sha_ni;
}

/// Four rounds of quad `G`: schedule W[G] (for G >= 4), then two SHA256RNDS2.
template <int G>
__attribute__((target("sha,ssse3,sse4.1"))) TENSORHASH_FORCEINLINE void shani_quad(
    __m128i (&w)[4], __m128i& state0, __m128i& state1, const std::uint8_t* block) noexcept {
  if constexpr (G < 4) {
    const __m128i byteswap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
    w[G] = _mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(block + 16 * G)),
                            byteswap);
  } else {
    // W[g] = msg2(msg1(W[g-4], W[g-3]) + alignr(W[g-1], W[g-2], 4), W[g-1]); w[g % 4] is W[g-4].
    const __m128i s0 = _mm_sha256msg1_epu32(w[G % 4], w[(G + 1) % 4]);
    const __m128i t7 = _mm_alignr_epi8(w[(G + 3) % 4], w[(G + 2) % 4], 4);
    w[G % 4] = _mm_sha256msg2_epu32(_mm_add_epi32(s0, t7), w[(G + 3) % 4]);
  }
  const __m128i k =
      _mm_set_epi32(static_cast<int>(sha256_k(4 * G + 3)), static_cast<int>(sha256_k(4 * G + 2)),
                    static_cast<int>(sha256_k(4 * G + 1)), static_cast<int>(sha256_k(4 * G)));
  __m128i msg = _mm_add_epi32(w[G % 4], k);
  state1 = _mm_sha256rnds2_epu32(state1, state0, msg);
  msg = _mm_shuffle_epi32(msg, 0x0E);
  state0 = _mm_sha256rnds2_epu32(state0, state1, msg);
}

/// Quad `G` of each of the streams `S...`.
template <int G, std::size_t... S, std::size_t N>
__attribute__((target("sha,ssse3,sse4.1"))) TENSORHASH_FORCEINLINE void shani_quads(
    __m128i (&w)[N][4], __m128i (&state0)[N], __m128i (&state1)[N],
    const std::uint8_t* const (&block)[N], std::index_sequence<S...>) noexcept {
  (shani_quad<G>(w[S], state0[S], state1[S], block[S]), ...);
}

/// All 64 rounds of one block for each of `N` independent streams, unrolled at compile time.
/// Quad `G` of every stream is issued before quad `G + 1` of any: the streams' SHA256RNDS2 chains
/// are independent, so the core overlaps their 4-cycle latencies (one chain alone is
/// latency-bound at about a quarter of the instruction's throughput).
template <int... G, std::size_t N>
__attribute__((target("sha,ssse3,sse4.1"))) TENSORHASH_FORCEINLINE void shani_blocks(
    __m128i (&state0)[N], __m128i (&state1)[N], const std::uint8_t* const (&block)[N],
    std::integer_sequence<int, G...>) noexcept {
  __m128i w[N][4];
  (shani_quads<G>(w, state0, state1, block, std::make_index_sequence<N>{}), ...);
}

/// Loads a chaining value into the ABEF / CDGH register pair that SHA256RNDS2 expects.
__attribute__((target("sha,ssse3,sse4.1"))) TENSORHASH_FORCEINLINE void shani_load(
    const sha256_state& st, __m128i& state0, __m128i& state1) noexcept {
  __m128i tmp = _mm_loadu_si128(reinterpret_cast<const __m128i*>(&st.h[0]));  // DCBA
  state1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(&st.h[4]));       // HGFE
  tmp = _mm_shuffle_epi32(tmp, 0xB1);                                         // CDAB
  state1 = _mm_shuffle_epi32(state1, 0x1B);                                   // EFGH
  state0 = _mm_alignr_epi8(tmp, state1, 8);                                   // ABEF
  state1 = _mm_blend_epi16(state1, tmp, 0xF0);                                // CDGH
}

/// Stores an ABEF / CDGH register pair back as a chaining value.
__attribute__((target("sha,ssse3,sse4.1"))) TENSORHASH_FORCEINLINE void shani_store(
    sha256_state& st, __m128i state0, __m128i state1) noexcept {
  const __m128i tmp = _mm_shuffle_epi32(state0, 0x1B);  // FEBA
  state1 = _mm_shuffle_epi32(state1, 0xB1);             // DCHG
  _mm_storeu_si128(reinterpret_cast<__m128i*>(&st.h[0]),
                   _mm_blend_epi16(tmp, state1, 0xF0));                                     // DCBA
  _mm_storeu_si128(reinterpret_cast<__m128i*>(&st.h[4]), _mm_alignr_epi8(state1, tmp, 8));  // HGFE
}

/**
 * @brief Compresses `nblocks` 64-byte blocks into each of `N` independent chaining values at
 *        once with SHA-NI (Intel SHA extensions): stream `s` reads `blocks[s]` (any alignment).
 *
 * `N` is a compile-time stream count. 2 and 3 fit the 16 XMM registers (state, saved state and
 * four schedule words per stream, less what the core renames); 4 spills (measured: slower than
 * 3 on Zen 3). `N == 1` is the plain single-stream compression.
 */
template <std::size_t N>
__attribute__((target("sha,ssse3,sse4.1"))) inline void sha256_compress_shani_multi(
    sha256_state* const (&st)[N], const std::uint8_t* const (&blocks)[N],
    std::uint64_t nblocks) noexcept {
  static_assert(N >= 1 && N <= 4, "tensorhash: 1 to 4 interleaved SHA-NI streams");
  __m128i state0[N], state1[N];
  const std::uint8_t* p[N];
  for (std::size_t s = 0; s < N; ++s) {
    shani_load(*st[s], state0[s], state1[s]);
    p[s] = blocks[s];
  }
  for (std::uint64_t n = 0; n < nblocks; ++n) {
    __m128i save0[N], save1[N];
    for (std::size_t s = 0; s < N; ++s) {
      save0[s] = state0[s];
      save1[s] = state1[s];
    }
    shani_blocks(state0, state1, p, std::make_integer_sequence<int, 16>{});
    for (std::size_t s = 0; s < N; ++s) {
      state0[s] = _mm_add_epi32(state0[s], save0[s]);
      state1[s] = _mm_add_epi32(state1[s], save1[s]);
      p[s] += 64;
    }
  }
  for (std::size_t s = 0; s < N; ++s) {
    shani_store(*st[s], state0[s], state1[s]);
  }
}

/// @brief Compresses `nblocks` 64-byte blocks with SHA-NI (one stream).
__attribute__((target("sha,ssse3,sse4.1"))) inline void sha256_compress_shani(
    sha256_state& st, const std::uint8_t* blocks, std::uint64_t nblocks) noexcept {
  sha256_state* const states[1] = {&st};
  const std::uint8_t* const starts[1] = {blocks};
  sha256_compress_shani_multi<1>(states, starts, nblocks);
}

/// `N` lanes with SHA-NI: interleaved all at once up to 4, in interleaved pairs beyond.
template <std::size_t N>
void sha256_compress_shani_lanes(sha256_state* const (&st)[N],
                                 const std::uint8_t* const (&blocks)[N],
                                 std::uint64_t nblocks) noexcept {
  if constexpr (N <= 4) {
    sha256_compress_shani_multi<N>(st, blocks, nblocks);
  } else {
    for (std::size_t s = 0; s < N; s += 2) {
      if (s + 1 < N) {
        sha256_state* const pair[2] = {st[s], st[s + 1]};
        const std::uint8_t* const starts[2] = {blocks[s], blocks[s + 1]};
        sha256_compress_shani_multi<2>(pair, starts, nblocks);
      } else {
        sha256_compress_shani(*st[s], blocks[s], nblocks);
      }
    }
  }
}

#else

inline bool cpu_has_sha_ni() noexcept {
  return false;
}

#endif

}  // namespace detail
TENSORHASH_NAMESPACE_END
