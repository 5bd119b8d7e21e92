/**
 * @file detail/strided.hpp
 * @brief Byte-stride layouts with merged dimensions, and the host gather of canonical elements.
 */
#pragma once

#include <tensorhash/config.hpp>
#include <tensorhash/view.hpp>

#include <cstdint>
#include <cstring>

TENSORHASH_NAMESPACE_BEGIN
namespace detail {

/// A view's layout in bytes with size-1 dimensions dropped and mergeable neighbours merged.
struct byte_layout {
  int rank = 0;  ///< 0 means a single element
  std::int64_t shape[max_rank] = {};
  std::int64_t stride[max_rank] = {};  ///< in bytes

  /// True when the elements are dense in row-major order.
  TENSORHASH_HD bool dense(std::uint32_t elem_bytes) const noexcept {
    return rank == 0 || (rank == 1 && stride[0] == static_cast<std::int64_t>(elem_bytes));
  }
};

/// @return the collapsed byte layout of a view (an empty dense layout for an empty view, whose
///         strides are never checked for overflow and never used)
TENSORHASH_HD inline byte_layout collapse(const tensor_view& v) noexcept {
  byte_layout out;
  const std::int64_t esz = size_of(v.dtype());
  if (v.numel() == 0) {
    out.rank = 1;
    out.stride[0] = esz;
    return out;
  }
  for (int i = 0; i < v.rank(); ++i) {
    if (v.shape(i) == 1) {
      continue;
    }
    const std::int64_t stride = v.stride(i) * esz;
    const int last = out.rank - 1;
    if (last >= 0 && out.stride[last] == stride * v.shape(i)) {
      out.shape[last] *= v.shape(i);
      out.stride[last] = stride;
    } else {
      out.shape[out.rank] = v.shape(i);
      out.stride[out.rank] = stride;
      ++out.rank;
    }
  }
  return out;
}

/// Position of one element in a `byte_layout`, advanced along the row-major order.
struct strided_cursor {
  const std::uint8_t* ptr = nullptr;  ///< address of the current element
  std::int64_t idx[max_rank] = {};    ///< its multi-index

  /// Moves to element `first` (row-major linear index) of `layout` starting at `base`.
  TENSORHASH_HD void seek(const byte_layout& layout, const std::uint8_t* base,
                          std::uint64_t first) noexcept {
    ptr = base;
    for (int d = layout.rank - 1; d >= 0; --d) {
      const auto extent = static_cast<std::uint64_t>(layout.shape[d]);
      idx[d] = static_cast<std::int64_t>(first % extent);
      first /= extent;
      ptr += idx[d] * layout.stride[d];
    }
  }

  /// Elements left in the innermost dimension, the current one included.
  TENSORHASH_HD std::int64_t inner_room(const byte_layout& layout) const noexcept {
    return layout.rank == 0 ? 1 : layout.shape[layout.rank - 1] - idx[layout.rank - 1];
  }

  /// Advances by `n <= inner_room()` elements, carrying into outer dimensions.
  TENSORHASH_HD void advance(const byte_layout& layout, std::int64_t n) noexcept {
    const int r = layout.rank;
    if (r == 0) {
      return;
    }
    ptr += n * layout.stride[r - 1];
    idx[r - 1] += n;
    for (int d = r - 1; d > 0 && idx[d] == layout.shape[d]; --d) {
      ptr += layout.stride[d - 1] - layout.shape[d] * layout.stride[d];
      idx[d] = 0;
      ++idx[d - 1];
    }
  }
};

template <std::uint32_t E>
inline void copy_run(std::uint8_t* dst, const std::uint8_t* src, std::int64_t n,
                     std::int64_t stride) noexcept {
  if (stride == static_cast<std::int64_t>(E)) {
    std::memcpy(dst, src, static_cast<std::size_t>(n) * E);
    return;
  }
  if (E == 1 && stride == 0) {  // a broadcast byte
    std::memset(dst, *src, static_cast<std::size_t>(n));
    return;
  }
  for (std::int64_t i = 0; i < n; ++i, dst += E, src += stride) {
    std::memcpy(dst, src, E);
  }
}

/**
 * @brief Copies elements `[first, first + count)` of the row-major order of `layout` at `base`
 *        to `out`, each `elem_bytes` wide, as stored (host).
 */
inline void gather(const byte_layout& layout, const std::uint8_t* base, std::uint32_t elem_bytes,
                   std::uint64_t first, std::uint64_t count, std::uint8_t* out) noexcept {
  strided_cursor cursor;
  cursor.seek(layout, base, first);
  const std::int64_t inner_stride = layout.rank == 0 ? 0 : layout.stride[layout.rank - 1];
  while (count > 0) {
    const auto room = static_cast<std::uint64_t>(cursor.inner_room(layout));
    const std::int64_t n = static_cast<std::int64_t>(room < count ? room : count);
    switch (elem_bytes) {
      case 1:
        copy_run<1>(out, cursor.ptr, n, inner_stride);
        break;
      case 2:
        copy_run<2>(out, cursor.ptr, n, inner_stride);
        break;
      case 4:
        copy_run<4>(out, cursor.ptr, n, inner_stride);
        break;
      default:
        copy_run<8>(out, cursor.ptr, n, inner_stride);
        break;
    }
    out += static_cast<std::uint64_t>(n) * elem_bytes;
    count -= static_cast<std::uint64_t>(n);
    cursor.advance(layout, n);
  }
}

}  // namespace detail
TENSORHASH_NAMESPACE_END
