/**
 * @file blake3.hpp
 * @brief BLAKE3 as a second hasher: a tree hash, so one tensor's digest is parallel and still
 *        the standard digest (`b3sum`, Python's `blake3`).
 *
 * ```
 * tensorhash::host_engine<tensorhash::exact, tensorhash::as_stored, tensorhash::blake3> e;
 * std::string hex = e.hash(view).to_hex();               // == b3sum of the canonical bytes
 * tensorhash::device_plan<tensorhash::exact, tensorhash::as_stored, tensorhash::blake3> plan(
 *     device_views, tensorhash::exact{}, stream);        // the same on the GPU (device.cuh)
 * tensorhash::blake3_stream s;                           // or incrementally, host or device
 * s.update(bytes, n);
 * tensorhash::digest256 d = s.digest();
 * ```
 * BLAKE3 is not a Merkle–Damgård hash, so it is not a model of the hasher concept of
 * hasher.hpp: it has its own engine paths (exact mode only; the tree mode of tensorhash exists to
 * make SHA-256 parallel, and BLAKE3's own tree already is): host_engine's SIMD subtrees, and the
 * device's tree kernels with detail/device_tree.hpp's blake3_tree. docs/format.md §4.3a defines
 * its digests.
 */
#pragma once

#include <tensorhash/config.hpp>
#include <tensorhash/detail/blake3/dispatch.hpp>
#include <tensorhash/detail/blake3/portable.hpp>
#include <tensorhash/digest.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

TENSORHASH_NAMESPACE_BEGIN

/**
 * @brief BLAKE3 in its hash mode (256-bit digests), as a hasher policy of `host_engine` and
 *        `device_plan`.
 * @tparam Impl host `hash_many` path; every path gives the same digests
 */
template <blake3_impl Impl = blake3_impl::automatic>
struct basic_blake3 {
  using digest_type = digest256;
  static constexpr blake3_impl impl = Impl;
  /// Manifest name of the algorithm (exact mode).
  static constexpr const char* algorithm = "blake3";
  /// @return whether the `Impl` path can run on this CPU (always true for portable/automatic)
  static bool available() noexcept { return detail::blake3::impl_available<Impl>(); }
};

/// BLAKE3 with the fastest host path this CPU runs.
using blake3 = basic_blake3<>;

/// True for the `basic_blake3` hashers.
template <class H>
struct is_blake3 : std::false_type {};
template <blake3_impl Impl>
struct is_blake3<basic_blake3<Impl>> : std::true_type {};
template <class H>
inline constexpr bool is_blake3_v = is_blake3<H>::value;

/**
 * @brief Incremental BLAKE3 (hash mode), host and device: any split of the input into `update`
 *        calls gives the same digest; `finalize` extends the output to any length (XOF).
 *        One input at a time; for a tensor use `host_engine`, which is parallel and SIMD.
 */
class blake3_stream {
 public:
  TENSORHASH_HD blake3_stream() noexcept { chunk_.reset(detail::blake3::iv_cv(), 0); }

  /// @brief Appends `len` bytes.
  TENSORHASH_HD void update(const void* data, std::size_t len) noexcept {
    const auto* p = static_cast<const std::uint8_t*>(data);
    while (len > 0) {
      if (chunk_.bytes() == detail::blake3::chunk_bytes) {  // more input follows: chunk is done
        const std::uint64_t done = chunk_.counter + 1;
        push_chunk(chunk_.finish().chaining_value(), done);
        chunk_.reset(detail::blake3::iv_cv(), done);
      }
      std::size_t take = detail::blake3::chunk_bytes - chunk_.bytes();
      take = take < len ? take : len;
      chunk_.update(p, take);
      p += take;
      len -= take;
    }
  }

  /// @brief The first `len` output bytes into `out`; the stream is unchanged.
  TENSORHASH_HD void finalize(std::uint8_t* out, std::size_t len) const noexcept {
    detail::blake3::output o = chunk_.finish();
    for (std::uint32_t i = depth_; i-- > 0;) {
      o = detail::blake3::parent_output(detail::blake3::iv_cv(), stack_[i], o.chaining_value());
    }
    o.root_bytes(0, out, len);
  }

  /// @return the 32-byte digest (what `b3sum` prints)
  TENSORHASH_HD digest256 digest() const noexcept {
    digest256 d{};
    finalize(d.bytes, sizeof d.bytes);
    return d;
  }

 private:
  /// Pushes the CV of a finished chunk, `total` chunks finished so far, merging every subtree
  /// it completes (one per trailing zero bit of `total`).
  TENSORHASH_HD void push_chunk(detail::blake3::cv_words cv, std::uint64_t total) noexcept {
    for (; (total & 1) == 0; total >>= 1) {
      cv = detail::blake3::parent_output(detail::blake3::iv_cv(), stack_[--depth_], cv)
               .chaining_value();
    }
    stack_[depth_++] = cv;
  }

  detail::blake3::chunk_state chunk_;
  detail::blake3::cv_words stack_[54];  ///< one CV per level: 2^54 chunks is 2^64 bytes
  std::uint32_t depth_ = 0;
};

/// @return BLAKE3 of `len` bytes at `data` (one thread, portable)
inline digest256 blake3_digest(const void* data, std::size_t len) noexcept {
  blake3_stream s;
  s.update(data, len);
  return s.digest();
}

/// Canonical bytes under each leaf of a BLAKE3 manifest (docs/format.md §4.3a): the aligned
/// subtrees of 1024 chunks, whose chaining values locate a difference to 1 MiB.
inline constexpr std::uint64_t blake3_leaf_bytes = std::uint64_t{1} << 20;

/**
 * @brief A tensor's BLAKE3 digest from its leaves (format.md §4.3a): none for an empty tensor
 *        (BLAKE3 of nothing), the digest itself for a tensor of at most one leaf's bytes, else
 *        the chaining values of its 1 MiB subtrees, whose tree (ROOT on the top parent) this
 *        computes. `host_engine<exact, Canon, blake3>::leaves` gives them.
 */
inline digest256 blake3_root(const std::vector<digest256>& leaves) {
  if (leaves.empty()) {
    return blake3_digest(nullptr, 0);
  }
  if (leaves.size() == 1) {
    return leaves.front();
  }
  std::vector<std::uint8_t> cvs(32 * leaves.size()), scratch(16 * leaves.size() + 32);
  for (std::size_t i = 0; i < leaves.size(); ++i) {
    std::memcpy(cvs.data() + 32 * i, leaves[i].bytes, 32);
  }
  digest256 d{};
  detail::blake3::reduce<blake3_impl::automatic>(cvs.data(), leaves.size(), scratch.data())
      .root_bytes(0, d.bytes, sizeof d.bytes);
  return d;
}

TENSORHASH_NAMESPACE_END
