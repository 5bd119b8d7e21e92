/**
 * @file sglang.hpp
 * @brief SGLang's 64-bit weight checksums on the CPU, bit for bit: the hash its GPU kernel
 *        computes (`sglang64`) and the one its CPU branch computes (`sglang_cpu64`).
 *
 * SGLang's weight checker reports `f"{h:016x}"` per parameter, `h` from
 * `sglang.srt.managers.mm_utils.tensor_hash`: the Triton kernel `gpu_tensor_hash` for a CUDA
 * tensor, the first 8 bytes of SHA-256 (big-endian) otherwise. Both hash the tensor's row-major
 * bytes without dtype or shape. Here they hash a view's canonical bytes, so strided views,
 * slices, concatenations and canonicalisation apply as everywhere else.
 *
 * ```
 * namespace th = tensorhash;
 * th::sglang_engine<> engine;                                 // sglang64, all cores
 * std::uint64_t h = engine.hash(th::tensor_view(ptr, th::dtype::BF16, {4096, 4096}));
 * std::string hex = th::to_hex16(h);                          // what SGLang prints
 * ```
 * The algorithm is in detail/sglang_core.hpp, shared with the GPU (tensorhash/sglang_device.cuh).
 * The CPU engine splits every tensor into its 32 KiB tiles and spreads the tiles of a batch over
 * a thread pool; the word loop runs 8 (AVX2) or 16 (AVX-512) words per step.
 */
#pragma once

#include <tensorhash/canonical.hpp>
#include <tensorhash/composite.hpp>
#include <tensorhash/config.hpp>
#include <tensorhash/detail/canonical_reader.hpp>
#include <tensorhash/detail/cpu_features.hpp>
#include <tensorhash/detail/sglang_core.hpp>
#include <tensorhash/detail/sha256_core.hpp>
#include <tensorhash/detail/thread_pool.hpp>
#include <tensorhash/digest.hpp>
#include <tensorhash/error.hpp>
#include <tensorhash/host.hpp>
#include <tensorhash/modes.hpp>
#include <tensorhash/view.hpp>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#if TENSORHASH_HAS_X86
#include <immintrin.h>
#endif

TENSORHASH_NAMESPACE_BEGIN

/// SGLang's GPU hash (`gpu_tensor_hash`): 64-bit, tile sums of mixed words
/// (detail/sglang_core.hpp).
struct sglang64 {
  /// Manifest name of the algorithm.
  static constexpr const char* algorithm = "sglang-hash64";
};

/// SGLang's CPU hash: the first 8 bytes of SHA-256 of the canonical bytes, big-endian.
struct sglang_cpu64 {
  static constexpr const char* algorithm = "sha256-prefix64";
};

/// True for the SGLang reduction policies (`sglang64`, `sglang_cpu64`).
template <class M>
inline constexpr bool is_sglang_mode_v =
    std::is_same_v<M, sglang64> || std::is_same_v<M, sglang_cpu64>;

/// @brief The word loop of `sglang64` on the host; every path gives the same hashes.
enum class sglang_impl {
  automatic,  ///< AVX-512 when cpuid reports it, else AVX2, else scalar (the default)
  scalar,     ///< portable C++, one word at a time
  avx2,       ///< 8 words per step; needs AVX2
  avx512,     ///< 16 words per step; needs AVX-512 F and BW
};

/// @return the hash as SGLang prints it: 16 lowercase hex digits, zero-padded (`f"{h:016x}"`)
inline std::string to_hex16(std::uint64_t h) {
  constexpr char digits[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 0; i < 16; ++i) {
    out[static_cast<std::size_t>(i)] = digits[(h >> (60 - 4 * i)) & 15];
  }
  return out;
}

namespace detail {
namespace sglang {

/// Sums of the `n` whole words at `p` (any alignment), the first with index `i` (mod 2^32).
inline sums words_scalar(const std::uint8_t* p, std::uint64_t n, std::uint32_t i) noexcept {
  sums s;
  for (std::uint64_t k = 0; k < n; ++k, p += 4, ++i) {
    s = s + word(tail_word(p, 4), i);
  }
  return s;
}

#if TENSORHASH_HAS_X86

__attribute__((target("avx2"))) inline __m256i fmix32x8(__m256i x) noexcept {
  x = _mm256_xor_si256(x, _mm256_srli_epi32(x, 16));
  x = _mm256_mullo_epi32(x, _mm256_set1_epi32(static_cast<int>(fmix_c1)));
  x = _mm256_xor_si256(x, _mm256_srli_epi32(x, 13));
  x = _mm256_mullo_epi32(x, _mm256_set1_epi32(static_cast<int>(fmix_c2)));
  return _mm256_xor_si256(x, _mm256_srli_epi32(x, 16));
}

__attribute__((target("avx2"))) inline std::uint32_t sum8(__m256i v) noexcept {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
  return static_cast<std::uint32_t>(_mm_cvtsi128_si32(s));
}

/// words_scalar, 8 words per step: the index keys advance by 8 * pos (mod 2^32) per step, so
/// only the two fmix32 multiply.
__attribute__((target("avx2"))) inline sums words_avx2(const std::uint8_t* p, std::uint64_t n,
                                                       std::uint32_t i) noexcept {
  const std::uint64_t steps = n / 8;
  __m256i idx = _mm256_add_epi32(_mm256_set1_epi32(static_cast<int>(i)),
                                 _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  __m256i a1 = _mm256_add_epi32(_mm256_mullo_epi32(idx, _mm256_set1_epi32(static_cast<int>(pos1))),
                                _mm256_set1_epi32(static_cast<int>(seed1)));
  __m256i a2 = _mm256_add_epi32(_mm256_mullo_epi32(idx, _mm256_set1_epi32(static_cast<int>(pos2))),
                                _mm256_set1_epi32(static_cast<int>(seed2)));
  const __m256i step = _mm256_set1_epi32(8);
  const __m256i step1 = _mm256_set1_epi32(static_cast<int>(8 * pos1));
  const __m256i step2 = _mm256_set1_epi32(static_cast<int>(8 * pos2));
  __m256i acc1 = _mm256_setzero_si256(), acc2 = _mm256_setzero_si256();
  for (std::uint64_t v = 0; v < steps; ++v, p += 32) {
    const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    const __m256i r15 = _mm256_or_si256(_mm256_slli_epi32(idx, 15), _mm256_srli_epi32(idx, 17));
    const __m256i r13 = _mm256_or_si256(_mm256_slli_epi32(idx, 13), _mm256_srli_epi32(idx, 19));
    acc1 = _mm256_add_epi32(acc1, fmix32x8(_mm256_xor_si256(w, _mm256_xor_si256(a1, r15))));
    acc2 = _mm256_add_epi32(acc2, fmix32x8(_mm256_xor_si256(w, _mm256_xor_si256(a2, r13))));
    idx = _mm256_add_epi32(idx, step);
    a1 = _mm256_add_epi32(a1, step1);
    a2 = _mm256_add_epi32(a2, step2);
  }
  const sums s{sum8(acc1), sum8(acc2)};
  return s + words_scalar(p, n - 8 * steps, i + static_cast<std::uint32_t>(8 * steps));
}

// GCC 12 reports the _mm512_undefined_*() pass-through operand of the unmasked AVX-512
// intrinsics as (maybe) uninitialised: a false positive, fixed in GCC 13.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

__attribute__((target("avx512f,avx512bw"))) inline __m512i fmix32x16(__m512i x) noexcept {
  x = _mm512_xor_si512(x, _mm512_srli_epi32(x, 16));
  x = _mm512_mullo_epi32(x, _mm512_set1_epi32(static_cast<int>(fmix_c1)));
  x = _mm512_xor_si512(x, _mm512_srli_epi32(x, 13));
  x = _mm512_mullo_epi32(x, _mm512_set1_epi32(static_cast<int>(fmix_c2)));
  return _mm512_xor_si512(x, _mm512_srli_epi32(x, 16));
}

/// words_avx2 at 16 words per step, with native rotations and three-way XORs.
__attribute__((target("avx512f,avx512bw"))) inline sums words_avx512(const std::uint8_t* p,
                                                                     std::uint64_t n,
                                                                     std::uint32_t i) noexcept {
  const std::uint64_t steps = n / 16;
  __m512i idx =
      _mm512_add_epi32(_mm512_set1_epi32(static_cast<int>(i)),
                       _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
  __m512i a1 = _mm512_add_epi32(_mm512_mullo_epi32(idx, _mm512_set1_epi32(static_cast<int>(pos1))),
                                _mm512_set1_epi32(static_cast<int>(seed1)));
  __m512i a2 = _mm512_add_epi32(_mm512_mullo_epi32(idx, _mm512_set1_epi32(static_cast<int>(pos2))),
                                _mm512_set1_epi32(static_cast<int>(seed2)));
  const __m512i step = _mm512_set1_epi32(16);
  const __m512i step1 = _mm512_set1_epi32(static_cast<int>(16 * pos1));
  const __m512i step2 = _mm512_set1_epi32(static_cast<int>(16 * pos2));
  __m512i acc1 = _mm512_setzero_si512(), acc2 = _mm512_setzero_si512();
  for (std::uint64_t v = 0; v < steps; ++v, p += 64) {
    const __m512i w = _mm512_loadu_si512(p);
    // 0x96: a ^ b ^ c
    const __m512i x1 = _mm512_ternarylogic_epi32(w, a1, _mm512_rol_epi32(idx, 15), 0x96);
    const __m512i x2 = _mm512_ternarylogic_epi32(w, a2, _mm512_rol_epi32(idx, 13), 0x96);
    acc1 = _mm512_add_epi32(acc1, fmix32x16(x1));
    acc2 = _mm512_add_epi32(acc2, fmix32x16(x2));
    idx = _mm512_add_epi32(idx, step);
    a1 = _mm512_add_epi32(a1, step1);
    a2 = _mm512_add_epi32(a2, step2);
  }
  const sums s{static_cast<std::uint32_t>(_mm512_reduce_add_epi32(acc1)),
               static_cast<std::uint32_t>(_mm512_reduce_add_epi32(acc2))};
  return s + words_avx2(p, n - 16 * steps, i + static_cast<std::uint32_t>(16 * steps));
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#endif  // TENSORHASH_HAS_X86

/// A word loop: the sums of `n` whole words at `p`, the first with index `i`.
using words_fn = sums (*)(const std::uint8_t* p, std::uint64_t n, std::uint32_t i) noexcept;

/// @return whether `impl` runs on this CPU
inline bool available(sglang_impl impl) noexcept {
  switch (impl) {
    case sglang_impl::avx2:
      return host_cpu().avx2_f16c;
    case sglang_impl::avx512:
      return host_cpu().avx512;
    default:
      return true;
  }
}

/// @return the path `automatic` stands for on this CPU, or `impl` itself
inline sglang_impl resolve(sglang_impl impl) noexcept {
  if (impl != sglang_impl::automatic) {
    return impl;
  }
  return host_cpu().avx512      ? sglang_impl::avx512
         : host_cpu().avx2_f16c ? sglang_impl::avx2
                                : sglang_impl::scalar;
}

/// @return the word loop of a resolved, available `impl`
inline words_fn words_for(sglang_impl impl) noexcept {
#if TENSORHASH_HAS_X86
  if (impl == sglang_impl::avx512) {
    return &words_avx512;
  }
  if (impl == sglang_impl::avx2) {
    return &words_avx2;
  }
#else
  (void)impl;
#endif
  return &words_scalar;
}

/**
 * @brief Tile values of consecutive tiles of one message, from its bytes in pieces of any
 *        length: a piece may end inside a word (up to 3 bytes wait for the next piece), and the
 *        last word is zero-padded by `finish`.
 */
class tile_stream {
 public:
  /**
   * @param words      the word loop
   * @param first_tile the tile whose first byte is the first byte `update` receives
   * @param length     the whole message's length key (`length_key(bytes)`)
   * @param out        where the values of the tiles from `first_tile` on are written, in order
   */
  tile_stream(words_fn words, std::uint64_t first_tile, std::uint32_t length,
              std::uint64_t* out) noexcept
      : words_(words), index_(first_tile * tile_words), length_(length), out_(out) {}

  /// Absorbs the next `n` bytes of the message.
  void update(const std::uint8_t* p, std::uint64_t n) noexcept {
    if (carried_ > 0) {
      const auto take = static_cast<std::uint32_t>(std::min<std::uint64_t>(4 - carried_, n));
      std::memcpy(carry_ + carried_, p, take);
      carried_ += take;
      p += take;
      n -= take;
      if (carried_ < 4) {
        return;
      }
      absorb(carry_, 1);
      carried_ = 0;
    }
    absorb(p, n / 4);
    carried_ = static_cast<std::uint32_t>(n % 4);
    std::memcpy(carry_, p + (n - carried_), carried_);
  }

  /// Pads a partial last word with zeros and writes the value of a partial last tile.
  void finish() noexcept {
    if (carried_ > 0) {
      std::memset(carry_ + carried_, 0, 4 - carried_);
      absorb(carry_, 1);
      carried_ = 0;
    }
    if (open_) {
      close_tile();
    }
  }

 private:
  /// `n` whole words, split where tiles end.
  void absorb(const std::uint8_t* p, std::uint64_t n) noexcept {
    while (n > 0) {
      const std::uint64_t take = std::min(n, tile_words - index_ % tile_words);
      sums_ = sums_ + words_(p, take, static_cast<std::uint32_t>(index_));
      open_ = true;
      index_ += take;
      p += 4 * take;
      n -= take;
      if (index_ % tile_words == 0) {
        close_tile();
      }
    }
  }

  void close_tile() noexcept {
    *out_++ = tile_value(sums_, length_);
    sums_ = {};
    open_ = false;
  }

  words_fn words_;
  std::uint64_t index_;  ///< global index of the next word (64-bit; the keys use it mod 2^32)
  std::uint32_t length_;
  std::uint64_t* out_;
  sums sums_;
  bool open_ = false;  ///< the current tile has words
  std::uint8_t carry_[4] = {};
  std::uint32_t carried_ = 0;
};

}  // namespace sglang
}  // namespace detail

/**
 * @brief CPU engine for SGLang's weight hashes of one choice of policies.
 * @tparam Mode  `sglang64` (SGLang's GPU kernel) or `sglang_cpu64` (its CPU branch)
 * @tparam Canon canonicalisation policy (`as_stored`, as SGLang hashes, or `to_bf16`, `to_f32`)
 *
 * Every call returns one `std::uint64_t` per tensor; `to_hex16` prints it as SGLang does. An
 * empty tensor gives 0 under `sglang64` and 0xe3b0c44298fc1c14 under `sglang_cpu64`, as in
 * SGLang. An engine may be used from several threads at once; their loops take turns on its pool.
 *
 * `sglang64` spreads the 32 KiB tiles of all tensors of a batch over the pool (tile sums are
 * independent and add mod 2^64 in any order). `sglang_cpu64` is exact-mode SHA-256
 * (`host_engine<exact, Canon>`), one sequential message per tensor.
 */
template <class Mode = sglang64, class Canon = as_stored>
class sglang_engine {
  static_assert(is_sglang_mode_v<Mode>,
                "tensorhash: sglang_engine's Mode must be tensorhash::sglang64 or "
                "tensorhash::sglang_cpu64");
  static_assert(is_canonicalization_v<Canon>,
                "tensorhash: Canon must be a canonicalisation policy such as "
                "tensorhash::as_stored, tensorhash::to_bf16 or tensorhash::to_f32");

 public:
  using mode_type = Mode;
  using canonicalization_type = Canon;

  /**
   * @param threads threads to use, the caller included; 0 means all hardware threads
   * @param impl    the `sglang64` word loop (`sglang_cpu64` ignores it: SHA-256 picks its own)
   * @throw error invalid_argument when `impl` needs an instruction set this CPU lacks
   */
  explicit sglang_engine(unsigned threads = 0, sglang_impl impl = sglang_impl::automatic)
      : impl_(resolved_impl(impl)),
        words_(detail::sglang::words_for(impl_)),
        backend_(make_backend(threads != 0 ? threads
                                           : std::max(1u, std::thread::hardware_concurrency()))) {}

  /// @return the number of threads this engine hashes with
  unsigned threads() const noexcept {
    if constexpr (std::is_same_v<Mode, sglang64>) {
      return backend_.size();
    } else {
      return backend_.threads();
    }
  }
  /// @return the word loop `sglang64` runs (never `automatic`)
  sglang_impl impl() const noexcept { return impl_; }
  /// @return the dtype whose bytes are hashed for a tensor stored as `stored`
  static constexpr dtype canonical_dtype(dtype stored) noexcept { return Canon::target(stored); }

  /**
   * @brief Hash of one tensor: a `tensor_view`, a `composite_view`, or any type with
   *        `view_traits`.
   * @throw error wrong_memory_space when a piece is not in host memory, size_overflow when the
   *        canonical byte size does not fit (64 bits; SHA-256's 2^61-1 for `sglang_cpu64`)
   */
  template <class Tensor>
  std::uint64_t hash(const Tensor& tensor) {
    const composite_view c = detail::as_composite(tensor);
    std::uint64_t out = 0;
    hash(&c, 1, &out);
    return out;
  }

  /// @brief Hashes of `views[0..count)` into `out[0..count)`; nothing is written on error.
  void hash(const tensor_view* views, std::size_t count, std::uint64_t* out) {
    if (count != 0 && views == nullptr) {
      throw error(errc::null_data, "views is null with a non-zero count");
    }
    const std::vector<composite_view> tensors(views, views + count);
    hash(tensors.data(), tensors.size(), out);
  }

  /// @brief Hashes of composites `tensors[0..count)` into `out[0..count)`.
  void hash(const composite_view* tensors, std::size_t count, std::uint64_t* out) {
    if (count != 0 && (tensors == nullptr || out == nullptr)) {
      throw error(errc::null_data, "tensors or out is null with a non-zero count");
    }
    if constexpr (std::is_same_v<Mode, sglang_cpu64>) {
      std::vector<digest256> digests(count);
      backend_.hash(tensors, count, digests.data());
      for (std::size_t i = 0; i < count; ++i) {
        out[i] = std::uint64_t{detail::load_be32(digests[i].bytes)} << 32 |
                 detail::load_be32(digests[i].bytes + 4);
      }
    } else {
      std::vector<reader_type> readers;
      readers.reserve(count);
      for (std::size_t i = 0; i < count; ++i) {
        readers.emplace_back(checked(tensors[i], i));
      }
      hash_tiles(readers, out);
    }
  }

  /// @return hashes of every view, composite or `view_traits` tensor, in order
  template <class T>
  std::vector<std::uint64_t> hash(const std::vector<T>& tensors) {
    std::vector<std::uint64_t> out(tensors.size());
    if constexpr (std::is_same_v<T, tensor_view> || std::is_same_v<T, composite_view>) {
      hash(tensors.data(), tensors.size(), out.data());
    } else {
      const std::vector<composite_view> views = detail::as_composites(tensors);
      hash(views.data(), views.size(), out.data());
    }
    return out;
  }

  /// @brief Canonical bytes hashed so far over all calls (host_engine::hashed_bytes).
  std::uint64_t hashed_bytes() const noexcept {
    if constexpr (std::is_same_v<Mode, sglang64>) {
      return hashed_.load(std::memory_order_relaxed);
    } else {
      return backend_.hashed_bytes();
    }
  }

 private:
  using reader_type = detail::composite_reader<Canon>;
  using backend_type = std::conditional_t<std::is_same_v<Mode, sglang64>, detail::thread_pool,
                                          host_engine<exact, Canon>>;

  static backend_type make_backend(unsigned threads) {
    if constexpr (std::is_same_v<Mode, sglang64>) {
      return backend_type(threads);
    } else {
      return backend_type(exact{}, threads);
    }
  }

  static sglang_impl resolved_impl(sglang_impl impl) {
    const sglang_impl resolved = detail::sglang::resolve(impl);
    if (!detail::sglang::available(resolved)) {
      throw error(errc::invalid_argument,
                  std::string("sglang_impl::") +
                      (resolved == sglang_impl::avx2 ? "avx2" : "avx512") +
                      " was requested but this CPU (or OS) does not run it");
    }
    return resolved;
  }

  static const composite_view& checked(const composite_view& c, std::size_t index) {
    return detail::checked_host_tensor(
        c, index, Canon::target(c.dtype()), ~std::uint64_t{0},
        "the host engine reads host memory only (use sglang_device.cuh)", "64 bits");
  }

  /// Tile values of every tensor of a batch into one array (tensor t owns tiles
  /// [first[t], first[t+1])), computed in runs of tiles on the pool, then summed per tensor.
  void hash_tiles(const std::vector<reader_type>& readers, std::uint64_t* out) {
    namespace sg = detail::sglang;
    std::vector<std::uint64_t> first(readers.size() + 1, 0);
    for (std::size_t t = 0; t < readers.size(); ++t) {
      first[t + 1] = first[t] + sg::tile_count(readers[t].size());
    }
    std::vector<std::uint64_t> values(first.back());
    // Runs of at most 1 MiB, and at least four per thread, keep every thread busy without
    // fine-grained contention.
    const std::uint64_t per_thread = values.size() / (4 * std::uint64_t{backend_.size()});
    const std::uint64_t grain =
        std::max<std::uint64_t>(1, std::min((std::uint64_t{1} << 20) / sg::tile_bytes, per_thread));
    backend_.parallel_for(values.size(), grain, [&](std::uint64_t b, std::uint64_t e) {
      detail::staging buf;
      auto t = static_cast<std::size_t>(std::upper_bound(first.begin(), first.end(), b) -
                                        first.begin() - 1);
      for (std::uint64_t g = b; g < e;) {
        while (first[t + 1] <= g) {
          ++t;  // past tensors without tiles
        }
        const reader_type& r = readers[t];
        const std::uint64_t end = std::min(e, first[t + 1]);
        const std::uint64_t lo = (g - first[t]) * sg::tile_bytes;
        const std::uint64_t hi = std::min((end - first[t]) * sg::tile_bytes, r.size());
        sg::tile_stream stream(words_, g - first[t], sg::length_key(r.size()), &values[g]);
        r.read(lo / r.element_bytes(), (hi - lo) / r.element_bytes(), buf,
               [&](const std::uint8_t* p, std::uint64_t n) { stream.update(p, n); });
        stream.finish();
        hashed_.fetch_add(hi - lo, std::memory_order_relaxed);
        g = end;
      }
    });
    for (std::size_t t = 0; t < readers.size(); ++t) {
      out[t] = sg::finalize(sg::lane_total(values.data(), first[t], first[t + 1], 0, 1));
    }
  }

  sglang_impl impl_;
  detail::sglang::words_fn words_;
  backend_type backend_;
  std::atomic<std::uint64_t> hashed_{0};  // sglang64's; sglang_cpu64 counts in its backend
};

/**
 * @brief SGLang hash of one tensor on the calling thread alone.
 * @code
 * std::uint64_t h = tensorhash::sglang_hash(view);                          // GPU kernel's
 * std::uint64_t c = tensorhash::sglang_hash<tensorhash::sglang_cpu64>(view);  // CPU branch's
 * @endcode
 */
template <class Mode = sglang64, class Canon = as_stored, class Tensor>
std::uint64_t sglang_hash(const Tensor& tensor) {
  return sglang_engine<Mode, Canon>(1).hash(tensor);
}

TENSORHASH_NAMESPACE_END
