/**
 * @file detail/sha256_core.hpp
 * @brief The portable SHA-256 compression (FIPS 180-4 §6.2), written once for host and device.
 */
#pragma once

#include <tensorhash/config.hpp>

#include <cstdint>

TENSORHASH_NAMESPACE_BEGIN
namespace detail {

/// SHA-256 chaining value H0..H7 (FIPS 180-4 §5.3.3 for the initial value).
struct sha256_state {
  std::uint32_t h[8];
};

TENSORHASH_HD constexpr sha256_state sha256_initial_state() noexcept {
  return {{0x6a09e667u, 0xbb67ae85u, 0x3c6ef372u, 0xa54ff53au, 0x510e527fu, 0x9b05688cu,
           0x1f83d9abu, 0x5be0cd19u}};
}

/// Round constant K_i (FIPS 180-4 §4.2.2); folds to an immediate in unrolled code.
TENSORHASH_HD TENSORHASH_FORCEINLINE constexpr std::uint32_t sha256_k(int i) noexcept {
  constexpr std::uint32_t k[64] = {
      0x428a2f98u, 0x71374491u, 0xb5c0fbcfu, 0xe9b5dba5u, 0x3956c25bu, 0x59f111f1u, 0x923f82a4u,
      0xab1c5ed5u, 0xd807aa98u, 0x12835b01u, 0x243185beu, 0x550c7dc3u, 0x72be5d74u, 0x80deb1feu,
      0x9bdc06a7u, 0xc19bf174u, 0xe49b69c1u, 0xefbe4786u, 0x0fc19dc6u, 0x240ca1ccu, 0x2de92c6fu,
      0x4a7484aau, 0x5cb0a9dcu, 0x76f988dau, 0x983e5152u, 0xa831c66du, 0xb00327c8u, 0xbf597fc7u,
      0xc6e00bf3u, 0xd5a79147u, 0x06ca6351u, 0x14292967u, 0x27b70a85u, 0x2e1b2138u, 0x4d2c6dfcu,
      0x53380d13u, 0x650a7354u, 0x766a0abbu, 0x81c2c92eu, 0x92722c85u, 0xa2bfe8a1u, 0xa81a664bu,
      0xc24b8b70u, 0xc76c51a3u, 0xd192e819u, 0xd6990624u, 0xf40e3585u, 0x106aa070u, 0x19a4c116u,
      0x1e376c08u, 0x2748774cu, 0x34b0bcb5u, 0x391c0cb3u, 0x4ed8aa4au, 0x5b9cca4fu, 0x682e6ff3u,
      0x748f82eeu, 0x78a5636fu, 0x84c87814u, 0x8cc70208u, 0x90befffau, 0xa4506cebu, 0xbef9a3f7u,
      0xc67178f2u};
  return k[i];
}

/// Rotate right; a funnel shift (SHF) on the device.
TENSORHASH_HD TENSORHASH_FORCEINLINE std::uint32_t rotr(std::uint32_t x, int n) noexcept {
#if TENSORHASH_DEVICE_PASS
  return __funnelshift_r(x, x, n);
#else
  return (x >> n) | (x << (32 - n));
#endif
}

/// Big-endian 32-bit load from any byte address; a byte permute (PRMT) on the device.
TENSORHASH_HD TENSORHASH_FORCEINLINE std::uint32_t load_be32(const std::uint8_t* p) noexcept {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}

/// Big-endian 32-bit store.
TENSORHASH_HD TENSORHASH_FORCEINLINE void store_be32(std::uint8_t* p, std::uint32_t v) noexcept {
  p[0] = static_cast<std::uint8_t>(v >> 24);
  p[1] = static_cast<std::uint8_t>(v >> 16);
  p[2] = static_cast<std::uint8_t>(v >> 8);
  p[3] = static_cast<std::uint8_t>(v);
}

/**
 * @brief One SHA-256 compression of a block given as 16 big-endian message words.
 *
 * This is the primitive that device agents call after assembling words from vector loads; the
 * message schedule is kept in a rolling window of 16 words so that it lives in registers.
 */
TENSORHASH_HD TENSORHASH_FORCEINLINE void sha256_compress_words(sha256_state& st,
                                                                std::uint32_t w[16]) noexcept {
  std::uint32_t a = st.h[0], b = st.h[1], c = st.h[2], d = st.h[3];
  std::uint32_t e = st.h[4], f = st.h[5], g = st.h[6], h = st.h[7];
#if TENSORHASH_DEVICE_PASS
#pragma unroll
#elif !defined(__CUDACC__)  // nvcc's host pass knows neither pragma; SHA-NI serves that host
#pragma GCC unroll 64
#endif
  for (int i = 0; i < 64; ++i) {
    if (i >= 16) {
      const std::uint32_t w15 = w[(i - 15) & 15];
      const std::uint32_t w2 = w[(i - 2) & 15];
      const std::uint32_t s0 = rotr(w15, 7) ^ rotr(w15, 18) ^ (w15 >> 3);
      const std::uint32_t s1 = rotr(w2, 17) ^ rotr(w2, 19) ^ (w2 >> 10);
      w[i & 15] += s0 + w[(i - 7) & 15] + s1;
    }
    const std::uint32_t big_s1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
    const std::uint32_t ch = (e & f) ^ (~e & g);
    const std::uint32_t t1 = h + big_s1 + ch + sha256_k(i) + w[i & 15];
    const std::uint32_t big_s0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
    const std::uint32_t maj = (a & b) ^ (a & c) ^ (b & c);
    const std::uint32_t t2 = big_s0 + maj;
    h = g;
    g = f;
    f = e;
    e = d + t1;
    d = c;
    c = b;
    b = a;
    a = t1 + t2;
  }
  st.h[0] += a;
  st.h[1] += b;
  st.h[2] += c;
  st.h[3] += d;
  st.h[4] += e;
  st.h[5] += f;
  st.h[6] += g;
  st.h[7] += h;
}

/// Portable compression of `nblocks` consecutive 64-byte blocks at any byte alignment.
TENSORHASH_HD inline void sha256_compress_portable(sha256_state& st, const std::uint8_t* blocks,
                                                   std::uint64_t nblocks) noexcept {
  for (std::uint64_t n = 0; n < nblocks; ++n, blocks += 64) {
    std::uint32_t w[16];
    for (int i = 0; i < 16; ++i) {
      w[i] = load_be32(blocks + 4 * i);
    }
    sha256_compress_words(st, w);
  }
}

}  // namespace detail
TENSORHASH_NAMESPACE_END
