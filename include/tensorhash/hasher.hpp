/**
 * @file hasher.hpp
 * @brief The hasher concept, SHA-256 as its first model, and a streaming front end.
 *
 * A *hasher* is a stateless type `H` that describes a Merkle–Damgård hash function:
 *
 * | member                                   | meaning                                          |
 * |------------------------------------------|--------------------------------------------------|
 * | `H::block_bytes`                         | bytes per compression block (64 for SHA-256)     |
 * | `H::state_type`                          | trivially copyable chaining value                |
 * | `H::digest_type`                         | trivially copyable digest (`basic_digest<N>`)    |
 * | `H::initial_state()`                     | the IV                                           |
 * | `H::compress(state&, blocks, nblocks)`   | absorbs `nblocks` whole blocks                   |
 * | `H::compress_words(state&, w)`           | absorbs one block given as `block_bytes / 4`     |
 * |                                          | big-endian 32-bit words `w` (clobbered); device  |
 * |                                          | agents feed it words built from vector loads     |
 * | `H::finalize(state, tail, len, total)`   | pads the `len < block_bytes` tail bytes of a     |
 * |                                          | message of `total` bytes and returns the digest  |
 *
 * Optional, host only: `H::compress_multi<N>(state* const (&)[N], const uint8_t* const (&)[N],
 * nblocks)` absorbs `nblocks` blocks into each of `N` independent states at once (interleaved
 * streams, multi-buffer lanes), and `H::preferred_streams()` says how many to give it on this
 * CPU; the CPU backend uses them when present and calls `compress` per stream otherwise.
 *
 * The other members are usable in host and device code (`TENSORHASH_HD`). Modes and backends take
 * the hasher as a template parameter and only use these members, so a second hash function can be
 * added without touching them. `is_hasher_v<H>` checks the shape of a candidate.
 */
#pragma once

#include <tensorhash/config.hpp>
#include <tensorhash/detail/sha256_avx512.hpp>
#include <tensorhash/detail/sha256_core.hpp>
#include <tensorhash/detail/sha256_x86.hpp>
#include <tensorhash/digest.hpp>

#include <cstddef>
#include <cstdint>
#include <type_traits>

TENSORHASH_NAMESPACE_BEGIN

/// @brief Which SHA-256 compression a host build uses; device code always uses the portable one.
enum class sha256_impl {
  automatic,  ///< SHA-NI when cpuid reports it, else portable (the default)
  portable,   ///< the shared host/device C++ compression
  shani,      ///< x86 SHA extensions; call only when `basic_sha256<shani>::available()`
  avx512,     ///< AVX-512 16-lane multi-buffer for `compress_multi` (portable otherwise); call
              ///< only when `basic_sha256<avx512>::available()`
};

/**
 * @brief SHA-256 (FIPS 180-4) as a model of the hasher concept.
 * @tparam Impl host compression path; every path gives the same digests
 */
template <sha256_impl Impl = sha256_impl::automatic>
struct basic_sha256 {
  static constexpr std::uint32_t block_bytes = 64;
  using state_type = detail::sha256_state;
  using digest_type = digest256;

  /// @return whether the `Impl` path can run on this CPU (always true for portable/automatic)
  static bool available() noexcept {
    if constexpr (Impl == sha256_impl::shani) {
      return detail::cpu_has_sha_ni();
    } else if constexpr (Impl == sha256_impl::avx512) {
      return detail::host_cpu().avx512;
    } else {
      return true;
    }
  }

  /**
   * @brief Host only: how many messages `compress_multi` should be given at once on this CPU.
   *        Measured on Zen 4 (SHA-NI and AVX-512): 2 SHA-NI streams 3.3 GB/s per core, 16
   *        AVX-512 lanes 2.7 GB/s, one SHA-NI stream 1.8 GB/s. So SHA-NI gets 2 streams, a CPU
   *        with AVX-512 but no SHA-NI (Skylake-SP, Cascade Lake) 16 lanes, any other 1.
   */
  static unsigned preferred_streams() noexcept {
    if constexpr (Impl == sha256_impl::portable) {
      return 1;
    } else if constexpr (Impl == sha256_impl::shani) {
      return 2;
    } else if constexpr (Impl == sha256_impl::avx512) {
      return 16;
    } else {
      return detail::cpu_has_sha_ni() ? 2 : detail::host_cpu().avx512 ? 16 : 1;
    }
  }

  /// @return the SHA-256 initial hash value
  TENSORHASH_HD static constexpr state_type initial_state() noexcept {
    return detail::sha256_initial_state();
  }

  /// @brief Absorbs `nblocks` consecutive 64-byte blocks starting at `blocks` (any alignment).
  TENSORHASH_HD static void compress(state_type& st, const std::uint8_t* blocks,
                                     std::uint64_t nblocks) noexcept {
#if TENSORHASH_HAS_SHA_NI
    if constexpr (Impl == sha256_impl::shani) {
      detail::sha256_compress_shani(st, blocks, nblocks);
      return;
    } else if constexpr (Impl == sha256_impl::automatic) {
      if (detail::cpu_has_sha_ni()) {
        detail::sha256_compress_shani(st, blocks, nblocks);
        return;
      }
    }
#endif
    detail::sha256_compress_portable(st, blocks, nblocks);
  }

  /**
   * @brief Host only: absorbs `nblocks` blocks into each of `N` independent states at once,
   *        state `s` reading `blocks[s]`. SHA-NI interleaves the streams' rounds (about twice one
   *        stream's throughput for N = 2); AVX-512 runs 16 lanes in one register set; the
   *        portable path runs the streams one after another.
   */
  template <std::size_t N>
  static void compress_multi(state_type* const (&st)[N], const std::uint8_t* const (&blocks)[N],
                             std::uint64_t nblocks) noexcept {
#if TENSORHASH_HAS_SHA_NI
    if constexpr (Impl == sha256_impl::shani || Impl == sha256_impl::automatic) {
      if (Impl == sha256_impl::shani || detail::cpu_has_sha_ni()) {
        detail::sha256_compress_shani_lanes<N>(st, blocks, nblocks);
        return;
      }
    }
    if constexpr (Impl == sha256_impl::avx512 || Impl == sha256_impl::automatic) {
      if (Impl == sha256_impl::avx512 || detail::host_cpu().avx512) {
        detail::sha256_compress_avx512_lanes<N>(st, blocks, nblocks);
        return;
      }
    }
#endif
    for (std::size_t s = 0; s < N; ++s) {
      detail::sha256_compress_portable(*st[s], blocks[s], nblocks);
    }
  }

  /// @brief Absorbs one block given as 16 big-endian words; `w` is used as schedule scratch.
  TENSORHASH_HD static void compress_words(state_type& st, std::uint32_t (&w)[16]) noexcept {
    detail::sha256_compress_words(st, w);
  }

  /**
   * @brief Pads and finishes a message.
   * @param st chaining value after all whole blocks
   * @param tail the last `tail_len < 64` bytes of the message
   * @param total_len length of the whole message in bytes
   */
  TENSORHASH_HD static digest_type finalize(state_type st, const std::uint8_t* tail,
                                            std::uint32_t tail_len,
                                            std::uint64_t total_len) noexcept {
    std::uint8_t pad[128] = {};
    for (std::uint32_t i = 0; i < tail_len; ++i) {
      pad[i] = tail[i];
    }
    pad[tail_len] = 0x80;
    const std::uint32_t pad_len = tail_len + 9 <= 64 ? 64 : 128;
    const std::uint64_t bits = total_len << 3;
    for (int i = 0; i < 8; ++i) {
      pad[pad_len - 1 - i] = static_cast<std::uint8_t>(bits >> (8 * i));
    }
    compress(st, pad, pad_len / 64);
    digest_type out{};
    for (int i = 0; i < 8; ++i) {
      detail::store_be32(out.bytes + 4 * i, st.h[i]);
    }
    return out;
  }
};

/// SHA-256 with the fastest host compression this CPU has.
using sha256 = basic_sha256<>;

namespace detail {
template <class H, class = void>
struct is_hasher : std::false_type {};
template <class H>
struct is_hasher<H, std::void_t<decltype(H::block_bytes), typename H::state_type,
                                typename H::digest_type, decltype(H::initial_state()),
                                decltype(H::compress(std::declval<typename H::state_type&>(),
                                                     static_cast<const std::uint8_t*>(nullptr),
                                                     std::uint64_t{})),
                                decltype(H::finalize(std::declval<typename H::state_type>(),
                                                     static_cast<const std::uint8_t*>(nullptr),
                                                     std::uint32_t{}, std::uint64_t{}))>>
    : std::bool_constant<std::is_trivially_copyable_v<typename H::state_type> &&
                         std::is_trivially_copyable_v<typename H::digest_type>> {};
}  // namespace detail

/// True when `H` has the members of the hasher concept (see the file comment).
template <class H>
inline constexpr bool is_hasher_v = detail::is_hasher<H>::value;

/**
 * @brief Streaming front end over any hasher: init on construction, `update`, `finalize`.
 *
 * Lengths are 64-bit. Usable in host and device code; `finalize` leaves the stream unchanged,
 * so a running digest can be taken and the stream continued.
 */
template <class Hasher = sha256>
class hash_stream {
  static_assert(is_hasher_v<Hasher>,
                "tensorhash: Hasher must model the hasher concept (block_bytes, state_type, "
                "digest_type, initial_state, compress, finalize): see tensorhash/hasher.hpp");

 public:
  using digest_type = typename Hasher::digest_type;

  TENSORHASH_HD hash_stream() noexcept : state_(Hasher::initial_state()) {}

  /// @brief Appends `n` bytes at `data` (which may be null when `n == 0`).
  TENSORHASH_HD hash_stream& update(const void* data, std::uint64_t n) noexcept {
    auto p = static_cast<const std::uint8_t*>(data);
    total_ += n;
    if (buffered_ > 0) {
      const std::uint64_t take =
          n < Hasher::block_bytes - buffered_ ? n : Hasher::block_bytes - buffered_;
      for (std::uint64_t i = 0; i < take; ++i) {
        buffer_[buffered_ + i] = p[i];
      }
      buffered_ += static_cast<std::uint32_t>(take);
      p += take;
      n -= take;
      if (buffered_ < Hasher::block_bytes) {
        return *this;
      }
      Hasher::compress(state_, buffer_, 1);
      buffered_ = 0;
    }
    const std::uint64_t whole = n / Hasher::block_bytes;
    if (whole > 0) {
      Hasher::compress(state_, p, whole);
      p += whole * Hasher::block_bytes;
      n -= whole * Hasher::block_bytes;
    }
    for (std::uint64_t i = 0; i < n; ++i) {
      buffer_[i] = p[i];
    }
    buffered_ = static_cast<std::uint32_t>(n);
    return *this;
  }

  /// @return the digest of everything passed to `update` so far
  TENSORHASH_HD digest_type finalize() const noexcept {
    return Hasher::finalize(state_, buffer_, buffered_, total_);
  }

  /// @return bytes passed to `update` so far
  TENSORHASH_HD std::uint64_t size() const noexcept { return total_; }

 private:
  typename Hasher::state_type state_;
  std::uint8_t buffer_[Hasher::block_bytes] = {};
  std::uint32_t buffered_ = 0;
  std::uint64_t total_ = 0;
};

/// @return the digest of `n` bytes at `data` (hashlib.sha256(data).digest() for SHA-256)
template <class Hasher = sha256>
TENSORHASH_HD typename Hasher::digest_type hash_bytes(const void* data, std::uint64_t n) noexcept {
  return hash_stream<Hasher>{}.update(data, n).finalize();
}

TENSORHASH_NAMESPACE_END
