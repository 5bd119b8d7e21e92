/**
 * @file detail/canonical_reader.hpp
 * @brief Host-side producer of a view's canonical bytes, piece by piece, without a full copy.
 */
#pragma once

#include <tensorhash/canonical.hpp>
#include <tensorhash/composite.hpp>
#include <tensorhash/config.hpp>
#include <tensorhash/detail/convert_x86.hpp>
#include <tensorhash/detail/strided.hpp>
#include <tensorhash/view.hpp>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

TENSORHASH_NAMESPACE_BEGIN
namespace detail {

/// Per-thread staging buffers for gathered (raw) and converted (canonical) elements, allocated
/// on first use so that dense as-stored views never pay for them.
struct staging {
  static constexpr std::uint64_t piece_elems = 8192;
  /// Bytes of canonical rows a transposed view is gathered into at once (fits L2).
  static constexpr std::uint64_t block_bytes = std::uint64_t{1} << 20;
  std::vector<std::uint8_t> raw;
  std::vector<std::uint8_t> out;
  /// Canonical bytes of elements [block_first, block_first + block_count) of `block_owner`.
  std::vector<std::uint8_t> block;
  std::vector<std::uint8_t> block_raw;
  const void* block_owner = nullptr;
  std::uint64_t block_first = 0;
  std::uint64_t block_count = 0;

  void reserve() {
    if (raw.empty()) {
      raw.resize(piece_elems * 8);
      out.resize(piece_elems * 8);
    }
  }
};

/// True for the library's own float policies, whose conversions have vector paths.
template <class Canon>
struct has_simd_convert : std::false_type {};
template <>
struct has_simd_convert<to_f32> : std::true_type {};
template <class NanRule>
struct has_simd_convert<basic_to_bf16<NanRule>> : std::true_type {};

/// `Canon::convert` of each of the 256 one-byte elements stored as `D` (FP8), made once.
template <class Canon, dtype D>
const std::uint8_t* byte_table() noexcept {
  static constexpr std::uint32_t out_bytes = size_of(Canon::target(D));
  static const auto table = [] {
    std::vector<std::uint8_t> t(256 * out_bytes);
    for (std::uint32_t b = 0; b < 256; ++b) {
      const auto in = static_cast<std::uint8_t>(b);
      Canon::convert(D, &in, t.data() + b * out_bytes);
    }
    return t;
  }();
  return table.data();
}

/// Converts `n` elements stored as `D`; `D` is a constant here, so `Canon::convert` folds to
/// the one conversion it needs. FP8 goes through a 256-entry table; F32, F16, F64 and BF16
/// through AVX2/F16C where the CPU has them, the scalar conversion finishing the tail.
template <class Canon, dtype D>
void convert_run(const std::uint8_t* in, std::uint8_t* out, std::uint64_t n) noexcept {
  constexpr std::uint32_t in_bytes = size_of(D);
  constexpr std::uint32_t out_bytes = size_of(Canon::target(D));
  if constexpr (in_bytes == 1 && Canon::target(D) != D) {
    const std::uint8_t* table = byte_table<Canon, D>();
    for (std::uint64_t i = 0; i < n; ++i) {
      std::memcpy(out + i * out_bytes, table + std::uint32_t{in[i]} * out_bytes, out_bytes);
    }
  } else {
    std::uint64_t i = 0;
#if TENSORHASH_HAS_X86_CONVERT
    if constexpr (has_simd_convert<Canon>::value) {
      i = simd_convert<D, Canon::target(D)>(in, out, n, nan_rule_t<Canon>::bf16_nan(D));
    }
#endif
    for (; i < n; ++i) {
      Canon::convert(D, in + i * in_bytes, out + i * out_bytes);
    }
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
        converts_(Canon::target(v.dtype()) != v.dtype()),
        // A transpose: rows contiguous in memory are columns of the canonical order, and a
        // canonical row touches a new cache line per element. Read in blocks of whole rows.
        transposed_(layout_.rank == 2 && layout_.stride[0] == in_bytes_ &&
                    (layout_.stride[1] >= 64 || layout_.stride[1] <= -64)) {}

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
    if (transposed_) {
      read_blocked(first, count, buf, sink);
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
  /// `read` for a transposed layout through `buf.block`: canonical rows gathered a block at a
  /// time, each memory row's cache lines read once per block, then converted once.
  template <class Sink>
  void read_blocked(std::uint64_t first, std::uint64_t count, staging& buf, Sink&& sink) const {
    const auto cols = static_cast<std::uint64_t>(layout_.shape[1]);
    const std::uint64_t pitch = row_pitch();
    while (count > 0) {
      if (buf.block_owner != this || first < buf.block_first ||
          first >= buf.block_first + buf.block_count) {
        fill_block(first / cols, buf);
      }
      // Padded rows are handed out one at a time; unpadded ones as one run.
      const std::uint64_t run_end = pitch == cols * out_bytes_ ? buf.block_first + buf.block_count
                                                               : (first / cols + 1) * cols;
      const std::uint64_t take = std::min(count, run_end - first);
      const std::uint64_t at = first - buf.block_first;
      sink(buf.block.data() + at / cols * pitch + at % cols * out_bytes_, take * out_bytes_);
      first += take;
      count -= take;
    }
  }

  /// Bytes from one canonical row of a block to the next: rows of 4 KiB or more get a cache
  /// line of padding, or the rows a column is written across would share one L1/L2 set.
  std::uint64_t row_pitch() const noexcept {
    const std::uint64_t row_bytes = static_cast<std::uint64_t>(layout_.shape[1]) * out_bytes_;
    return row_bytes >= 4096 ? row_bytes + 64 : row_bytes;
  }

  /// Gathers (and converts) the block of canonical rows that holds row `row` into `buf.block`:
  /// as many rows as make each memory row's read a whole cache line (64 bytes), or as fill
  /// `staging::block_bytes` when rows are short.
  void fill_block(std::uint64_t row, staging& buf) const {
    const auto rows = static_cast<std::uint64_t>(layout_.shape[0]);
    const auto cols = static_cast<std::uint64_t>(layout_.shape[1]);
    const std::uint64_t pitch = row_pitch();
    const std::uint64_t per_block =
        std::max<std::uint64_t>(64 / in_bytes_, staging::block_bytes / pitch);
    const std::uint64_t first_row = row / per_block * per_block;
    const std::uint64_t n = std::min(per_block, rows - first_row);
    const std::uint64_t in_pitch = converts_ ? cols * in_bytes_ : pitch;
    auto& raw = converts_ ? buf.block_raw : buf.block;
    if (raw.size() < n * in_pitch) {
      raw.resize(n * in_pitch);
    }
    const auto* src = static_cast<const std::uint8_t*>(view_.data()) + first_row * in_bytes_;
    switch (in_bytes_) {
      case 1:
        transpose_block<1>(src, n, cols, in_pitch, raw.data());
        break;
      case 2:
        transpose_block<2>(src, n, cols, in_pitch, raw.data());
        break;
      case 4:
        transpose_block<4>(src, n, cols, in_pitch, raw.data());
        break;
      default:
        transpose_block<8>(src, n, cols, in_pitch, raw.data());
        break;
    }
    if (converts_) {
      if (buf.block.size() < n * pitch) {
        buf.block.resize(n * pitch);
      }
      for (std::uint64_t r = 0; r < n; ++r) {
        convert_run<Canon>(view_.dtype(), raw.data() + r * in_pitch, buf.block.data() + r * pitch,
                           cols);
      }
    }
    buf.block_owner = this;
    buf.block_first = first_row * cols;
    buf.block_count = n * cols;
  }

  /// Row r of `out` (rows `pitch` bytes apart) = canonical row first_row + r, for r < n: the
  /// `n` contiguous elements of each memory row `c` (at src + c * stride[1]) become column `c`.
  template <std::uint32_t E>
  void transpose_block(const std::uint8_t* src, std::uint64_t n, std::uint64_t cols,
                       std::uint64_t pitch, std::uint8_t* out) const noexcept {
    const std::int64_t stride = layout_.stride[1];
    // G memory rows at a time, so that each canonical row gets one 8-byte store per group
    // instead of G element stores.
    constexpr std::uint64_t G = 8 / E;
    std::uint64_t c = 0;
    for (; c + G <= cols; c += G, src += static_cast<std::int64_t>(G) * stride) {
      for (std::uint64_t g = 0; g < G; ++g) {  // the hardware prefetchers miss such strides
        __builtin_prefetch(src + static_cast<std::int64_t>(64 + g) * stride);
      }
      std::uint8_t* dst = out + c * E;
      for (std::uint64_t r = 0; r < n; ++r, dst += pitch) {
        std::uint8_t group[8];
        for (std::uint64_t g = 0; g < G; ++g) {
          std::memcpy(group + g * E, src + static_cast<std::int64_t>(g) * stride + r * E, E);
        }
        std::memcpy(dst, group, 8);
      }
    }
    for (; c < cols; ++c, src += stride) {
      std::uint8_t* dst = out + c * E;
      for (std::uint64_t r = 0; r < n; ++r, dst += pitch) {
        std::memcpy(dst, src + r * E, E);
      }
    }
  }

  tensor_view view_;
  byte_layout layout_;
  std::uint32_t in_bytes_;
  std::uint32_t out_bytes_;
  bool converts_;
  bool transposed_;
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
