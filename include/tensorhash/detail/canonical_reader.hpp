/**
 * @file detail/canonical_reader.hpp
 * @brief Host-side producer of a view's canonical bytes, piece by piece, without a full copy.
 */
#pragma once

#include <tensorhash/canonical.hpp>
#include <tensorhash/composite.hpp>
#include <tensorhash/config.hpp>
#include <tensorhash/detail/strided.hpp>
#include <tensorhash/view.hpp>

#include <algorithm>
#include <cstdint>
#include <vector>

TENSORHASH_NAMESPACE_BEGIN
namespace detail {

/// Per-thread staging buffers for gathered (raw) and converted (canonical) elements, allocated
/// on first use so that dense as-stored views never pay for them.
struct staging {
  static constexpr std::uint64_t piece_elems = 8192;
  std::vector<std::uint8_t> raw;
  std::vector<std::uint8_t> out;

  void reserve() {
    if (raw.empty()) {
      raw.resize(piece_elems * 8);
      out.resize(piece_elems * 8);
    }
  }
};

/// Converts `n` elements stored as `D`; `D` is a constant here, so `Canon::convert` folds to
/// the one conversion it needs.
template <class Canon, dtype D>
void convert_run(const std::uint8_t* in, std::uint8_t* out, std::uint64_t n) noexcept {
  constexpr std::uint32_t in_bytes = size_of(D);
  constexpr std::uint32_t out_bytes = size_of(Canon::target(D));
  for (std::uint64_t i = 0; i < n; ++i) {
    Canon::convert(D, in + i * in_bytes, out + i * out_bytes);
  }
}

/// Converts `n` elements stored as `stored` with the dtype dispatch outside the loop.
template <class Canon>
void convert_run(dtype stored, const std::uint8_t* in, std::uint8_t* out,
                 std::uint64_t n) noexcept {
  switch (stored) {
    case dtype::F64:
      convert_run<Canon, dtype::F64>(in, out, n);
      break;
    case dtype::F32:
      convert_run<Canon, dtype::F32>(in, out, n);
      break;
    case dtype::F16:
      convert_run<Canon, dtype::F16>(in, out, n);
      break;
    case dtype::BF16:
      convert_run<Canon, dtype::BF16>(in, out, n);
      break;
    case dtype::F8_E4M3:
      convert_run<Canon, dtype::F8_E4M3>(in, out, n);
      break;
    case dtype::F8_E5M2:
      convert_run<Canon, dtype::F8_E5M2>(in, out, n);
      break;
    default: {
      const std::uint32_t bytes = size_of(stored);
      for (std::uint64_t i = 0; i < n; ++i) {
        Canon::convert(stored, in + i * bytes, out + i * bytes);
      }
    }
  }
}

/**
 * @brief Canonical bytes of one view under policy `Canon`.
 *
 * A dense view whose canonical dtype is its stored dtype is read in place; any other view is
 * gathered into `staging` and converted there, `staging::piece_elems` elements at a time.
 */
template <class Canon>
class canonical_reader {
 public:
  explicit canonical_reader(const tensor_view& v)
      : view_(v),
        layout_(collapse(v)),
        in_bytes_(size_of(v.dtype())),
        out_bytes_(size_of(Canon::target(v.dtype()))),
        converts_(Canon::target(v.dtype()) != v.dtype()) {}

  /// Bytes per canonical element.
  std::uint32_t element_bytes() const noexcept { return out_bytes_; }
  /// Total canonical bytes.
  std::uint64_t size() const noexcept { return view_.numel() * out_bytes_; }

  /// Calls `sink(const uint8_t*, uint64_t)` with the canonical bytes of elements
  /// `[first, first + count)` in order.
  template <class Sink>
  void read(std::uint64_t first, std::uint64_t count, staging& buf, Sink&& sink) const {
    const auto* base = static_cast<const std::uint8_t*>(view_.data());
    if (!converts_ && layout_.dense(in_bytes_)) {
      sink(base + first * in_bytes_, count * in_bytes_);
      return;
    }
    buf.reserve();
    while (count > 0) {
      const std::uint64_t n = count < staging::piece_elems ? count : staging::piece_elems;
      gather(layout_, base, in_bytes_, first, n, buf.raw.data());
      if (converts_) {
        convert_run<Canon>(view_.dtype(), buf.raw.data(), buf.out.data(), n);
        sink(buf.out.data(), n * out_bytes_);
      } else {
        sink(buf.raw.data(), n * in_bytes_);
      }
      first += n;
      count -= n;
    }
  }

 private:
  tensor_view view_;
  byte_layout layout_;
  std::uint32_t in_bytes_;
  std::uint32_t out_bytes_;
  bool converts_;
};

/// Canonical bytes of a composite: its pieces' readers one after the other.
template <class Canon>
class composite_reader {
 public:
  explicit composite_reader(const composite_view& c)
      : out_bytes_(size_of(Canon::target(c.dtype()))) {
    first_.push_back(0);
    for (const auto& piece : c.pieces()) {
      parts_.emplace_back(piece);
      first_.push_back(first_.back() + piece.numel());
    }
  }

  std::uint32_t element_bytes() const noexcept { return out_bytes_; }
  std::uint64_t size() const noexcept { return first_.back() * out_bytes_; }

  /// As canonical_reader::read, across piece boundaries.
  template <class Sink>
  void read(std::uint64_t first, std::uint64_t count, staging& buf, Sink&& sink) const {
    auto p = static_cast<std::size_t>(std::upper_bound(first_.begin(), first_.end(), first) -
                                      first_.begin() - 1);
    while (count > 0 && p < parts_.size()) {
      const std::uint64_t take = std::min(count, first_[p + 1] - first);
      if (take > 0) {
        parts_[p].read(first - first_[p], take, buf, sink);
      }
      first += take;
      count -= take;
      ++p;
    }
  }

 private:
  std::vector<canonical_reader<Canon>> parts_;
  std::vector<std::uint64_t> first_;  ///< element index of each piece's first element
  std::uint32_t out_bytes_;
};

}  // namespace detail
TENSORHASH_NAMESPACE_END
