/**
 * @file detail/blake3/dispatch.hpp
 * @brief Host BLAKE3 `hash_many` picked by cpuid (the SIMD widths of x86_*.hpp, else portable),
 *        and the reduction of a row of CVs to their subtree's node.
 */
#pragma once

#include <tensorhash/config.hpp>
#include <tensorhash/detail/blake3/portable.hpp>
#include <tensorhash/detail/blake3/x86_avx2.hpp>
#include <tensorhash/detail/blake3/x86_avx512.hpp>
#include <tensorhash/detail/blake3/x86_sse41.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>

TENSORHASH_NAMESPACE_BEGIN

/// @brief Which BLAKE3 `hash_many` a host build uses; every path gives the same digests.
enum class blake3_impl {
  automatic,  ///< the widest path cpuid reports: AVX-512, AVX2, SSE4.1, else portable (default)
  portable,   ///< the shared host/device C++ compression, one input at a time
  sse41,      ///< 4 inputs per SSE instruction; call only when `basic_blake3<sse41>::available()`
  avx2,       ///< 8 inputs per AVX2 instruction; call only when `basic_blake3<avx2>::available()`
  avx512,     ///< 16 inputs per AVX-512 instruction; call only when
              ///< `basic_blake3<avx512>::available()`
};

namespace detail {
namespace blake3 {

/// @return whether path `Impl` runs here
template <blake3_impl Impl>
bool impl_available() noexcept {
#if TENSORHASH_HAS_X86
  if constexpr (Impl == blake3_impl::avx2) {
    return avx2_available();
  } else if constexpr (Impl == blake3_impl::avx512) {
    return avx512_available();
  } else if constexpr (Impl == blake3_impl::sse41) {
    return sse41_available();
  }
#else
  if constexpr (Impl == blake3_impl::avx2 || Impl == blake3_impl::avx512 ||
                Impl == blake3_impl::sse41) {
    return false;
  }
#endif
  return true;
}

/// @return the path `blake3_impl::automatic` takes on this CPU: "avx512", "avx2", "sse41" or
///         "portable"
inline const char* automatic_path() noexcept {
#if TENSORHASH_HAS_X86
  if (avx512_available()) {
    return "avx512";
  }
  if (avx2_available()) {
    return "avx2";
  }
  if (sse41_available()) {
    return "sse41";
  }
#endif
  return "portable";
}

/// The signature of the SIMD `hash_many` kernels (hash4_sse41, hash8_avx2, hash16_avx512).
using hash_lanes_fn = void (*)(const std::uint8_t* const*, std::uint32_t, const cv_words&,
                               std::uint64_t, bool, std::uint32_t, std::uint32_t, std::uint32_t,
                               std::uint8_t*) noexcept;

/**
 * @brief Hashes `inputs[0..n)` `Width` at a time with `Kernel`, a rest of `pad_from` or more
 *        padded to a whole call (its padding lanes read `inputs[0]`; only `n` CVs are kept).
 * @return whether every input is done; else `inputs`, `n`, `counter` and `out` have advanced
 *         past the ones done, and fewer than `pad_from` remain
 */
template <std::size_t Width, hash_lanes_fn Kernel>
bool hash_wide(const std::uint8_t* const*& inputs, std::size_t& n, std::uint32_t blocks,
               const cv_words& key, std::uint64_t& counter, bool increment, std::uint32_t flags,
               std::uint32_t flags_start, std::uint32_t flags_end, std::uint8_t*& out,
               std::size_t pad_from) noexcept {
  for (; n >= Width; n -= Width, inputs += Width, out += Width * 32) {
    Kernel(inputs, blocks, key, counter, increment, flags, flags_start, flags_end, out);
    counter += increment ? Width : 0;
  }
  if (n == 0 || n < pad_from) {
    return n == 0;
  }
  const std::uint8_t* padded[Width];
  for (std::size_t i = 0; i < Width; ++i) {
    padded[i] = inputs[i < n ? i : 0];
  }
  std::uint8_t cvs[Width * 32];
  Kernel(padded, blocks, key, counter, increment, flags, flags_start, flags_end, cvs);
  std::memcpy(out, cvs, 32 * n);
  return true;
}

/// hash_many_portable through path `Impl`: 16 inputs a call with AVX-512, 8 with AVX2, 4 with
/// SSE4.1; a rest of 3 or more (2 or more for SSE4.1) is padded to a whole call, cheaper than
/// one input at a time. Automatic takes the widest path the CPU runs.
template <blake3_impl Impl>
void hash_many(const std::uint8_t* const* inputs, std::size_t n, std::uint32_t blocks,
               const cv_words& key, std::uint64_t counter, bool increment, std::uint32_t flags,
               std::uint32_t flags_start, std::uint32_t flags_end, std::uint8_t* out) noexcept {
#if TENSORHASH_HAS_X86
  constexpr bool automatic = Impl == blake3_impl::automatic;
  if constexpr (Impl == blake3_impl::avx512 || automatic) {
    if ((!automatic || avx512_available()) &&
        hash_wide<16, hash16_avx512>(inputs, n, blocks, key, counter, increment, flags, flags_start,
                                     flags_end, out, 3)) {
      return;
    }
  }
  if constexpr (Impl == blake3_impl::avx2 || automatic) {
    if ((!automatic || avx2_available()) &&
        hash_wide<8, hash8_avx2>(inputs, n, blocks, key, counter, increment, flags, flags_start,
                                 flags_end, out, 3)) {
      return;
    }
  }
  if constexpr (Impl == blake3_impl::sse41 || automatic) {
    if ((!automatic || sse41_available()) &&
        hash_wide<4, hash4_sse41>(inputs, n, blocks, key, counter, increment, flags, flags_start,
                                  flags_end, out, 2)) {
      return;
    }
  }
#endif
  hash_many_portable(inputs, n, blocks, key, counter, increment, flags, flags_start, flags_end,
                     out);
}

/**
 * @brief Reduces `n >= 2` CVs (32 bytes each at `cvs`, clobbered; `scratch` holds `n / 2`) to
 *        the output node of their subtree: parents level by level, the last two left for the
 *        caller to compress as a CV or as the root.
 */
template <blake3_impl Impl>
output reduce(std::uint8_t* cvs, std::uint64_t n, std::uint8_t* scratch) noexcept {
  const cv_words key = iv_cv();
  while (n > 2) {
    const std::uint64_t pairs = n / 2;
    const std::uint8_t* inputs[64];
    for (std::uint64_t done = 0; done < pairs; done += 64) {
      const std::uint64_t k = pairs - done < 64 ? pairs - done : 64;
      for (std::uint64_t i = 0; i < k; ++i) {
        inputs[i] = cvs + 64 * (done + i);
      }
      hash_many<Impl>(inputs, k, 1, key, 0, false, parent, 0, 0, scratch + 32 * done);
    }
    if (n % 2 != 0) {
      std::memcpy(scratch + 32 * pairs, cvs + 32 * (n - 1), 32);
    }
    std::memcpy(cvs, scratch, 32 * (pairs + n % 2));
    n = pairs + n % 2;
  }
  return parent_output(key, load_cv(cvs), load_cv(cvs + 32));
}

}  // namespace blake3
}  // namespace detail
TENSORHASH_NAMESPACE_END
