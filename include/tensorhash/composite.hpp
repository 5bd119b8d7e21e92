/**
 * @file composite.hpp
 * @brief Slices and concatenations of views, hashable in every mode on the host and the device
 *        without materialising them.
 *
 * A slice of a strided view is again a strided view (`slice`). A concatenation generally is not:
 * `concat` returns a `composite_view`, an ordered list of pieces whose canonical bytes, one after
 * the other, are the canonical bytes of the concatenated tensor. Concatenating along dim 0 gives
 * one piece per part; along dim d > 0, the row-major order interleaves the parts, so each part
 * contributes one piece per index of the leading d dims.
 */
#pragma once

#include <tensorhash/config.hpp>
#include <tensorhash/dtype.hpp>
#include <tensorhash/error.hpp>
#include <tensorhash/view.hpp>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

TENSORHASH_NAMESPACE_BEGIN

/**
 * @brief Elements `start, start + step, ...` (`length` of them) of dimension `dim`.
 * @throw error invalid_argument naming the dimension when the range leaves the view
 */
inline tensor_view slice(const tensor_view& v, int dim, std::int64_t start, std::int64_t length,
                         std::int64_t step = 1) {
  if (dim < 0 || dim >= v.rank()) {
    throw error(errc::invalid_argument, "slice dim " + std::to_string(dim) + " is outside a rank-" +
                                            std::to_string(v.rank()) + " view");
  }
  const std::int64_t extent = v.shape(dim);
  if (step < 1 || start < 0 || length < 0 ||
      (length > 0 && (start >= extent || (extent - 1 - start) / step < length - 1))) {
    throw error(errc::invalid_argument, "slice [" + std::to_string(start) + " : +" +
                                            std::to_string(length) + " : " + std::to_string(step) +
                                            "] leaves dim " + std::to_string(dim) + " of extent " +
                                            std::to_string(extent));
  }
  std::int64_t shape[max_rank], strides[max_rank];
  for (int i = 0; i < v.rank(); ++i) {
    shape[i] = v.shape(i);
    strides[i] = v.stride(i);
  }
  shape[dim] = length;
  strides[dim] = v.stride(dim) * step;
  const auto* base = static_cast<const std::uint8_t*>(v.data());
  const bool empty = v.numel() == 0 || length == 0;
  const auto* data =
      empty ? nullptr
            : base + start * v.stride(dim) * static_cast<std::int64_t>(size_of(v.dtype()));
  return tensor_view(data, v.dtype(), v.rank(), shape, strides, v.location());
}

/// @brief A tensor whose canonical bytes are its pieces' canonical bytes in order.
class composite_view {
 public:
  /// A composite of one view.
  composite_view(const tensor_view& v)  // NOLINT: a view is a composite of one piece
      : pieces_{v}, dtype_(v.dtype()) {
    for (int i = 0; i < v.rank(); ++i) {
      shape_.push_back(v.shape(i));
    }
  }

  /**
   * @param pieces views of one dtype and memory location
   * @param shape  the logical shape (numel must equal the pieces' total)
   * @throw error invalid_argument when dtypes, locations or element counts disagree
   */
  composite_view(std::vector<tensor_view> pieces, std::vector<std::int64_t> shape, dtype type)
      : pieces_(std::move(pieces)), shape_(std::move(shape)), dtype_(type) {
    std::uint64_t numel = 1, total = 0;
    for (auto d : shape_) {
      numel *= static_cast<std::uint64_t>(d);
    }
    for (const auto& p : pieces_) {
      if (p.dtype() != dtype_ || p.location() != pieces_.front().location()) {
        throw error(errc::invalid_argument,
                    "composite pieces must share one dtype and one memory location");
      }
      total += p.numel();
    }
    if (total != numel) {
      throw error(errc::invalid_argument, "composite pieces hold " + std::to_string(total) +
                                              " elements but the shape has " +
                                              std::to_string(numel));
    }
  }

  const std::vector<tensor_view>& pieces() const noexcept { return pieces_; }
  const std::vector<std::int64_t>& shape() const noexcept { return shape_; }
  tensorhash::dtype dtype() const noexcept { return dtype_; }
  std::uint64_t numel() const noexcept {
    std::uint64_t n = 0;
    for (const auto& p : pieces_) {
      n += p.numel();
    }
    return n;
  }

 private:
  std::vector<tensor_view> pieces_;
  std::vector<std::int64_t> shape_;
  tensorhash::dtype dtype_;
};

/**
 * @brief The concatenation of `parts` along `dim`, as `torch.cat(parts, dim)` would lay it out.
 * @throw error invalid_argument naming the part and dimension that do not fit
 */
inline composite_view concat(const std::vector<tensor_view>& parts, int dim) {
  if (parts.empty()) {
    throw error(errc::invalid_argument, "concat needs at least one part");
  }
  const tensor_view& first = parts.front();
  if (dim < 0 || dim >= first.rank()) {
    throw error(errc::invalid_argument, "concat dim " + std::to_string(dim) + " is outside rank " +
                                            std::to_string(first.rank()));
  }
  std::vector<std::int64_t> shape;
  for (int i = 0; i < first.rank(); ++i) {
    shape.push_back(first.shape(i));
  }
  shape[static_cast<std::size_t>(dim)] = 0;
  for (std::size_t p = 0; p < parts.size(); ++p) {
    const tensor_view& v = parts[p];
    bool fits = v.rank() == first.rank() && v.dtype() == first.dtype();
    for (int i = 0; fits && i < v.rank(); ++i) {
      fits = i == dim || v.shape(i) == first.shape(i);
    }
    if (!fits) {
      throw error(errc::invalid_argument, "concat part " + std::to_string(p) +
                                              " differs from part 0 in dtype, rank or a dim "
                                              "other than " +
                                              std::to_string(dim));
    }
    shape[static_cast<std::size_t>(dim)] += v.shape(dim);
  }
  std::vector<tensor_view> pieces;
  std::int64_t outer = 1;
  for (int i = 0; i < dim; ++i) {
    outer *= first.shape(i);
  }
  if (dim == 0) {
    pieces = parts;
  } else {
    // One piece per (leading index, part): the part's sub-tensor over dims [dim, rank).
    for (std::int64_t o = 0; o < outer; ++o) {
      for (const auto& v : parts) {
        tensor_view piece = v;
        std::int64_t rest = o;
        for (int i = dim - 1; i >= 0; --i) {
          piece = slice(piece, i, rest % v.shape(i), 1);
          rest /= v.shape(i);
        }
        pieces.push_back(piece);
      }
    }
  }
  return composite_view(std::move(pieces), std::move(shape), first.dtype());
}

/**
 * @brief `parts` stacked along a new dim 0, as `torch.stack(parts)` would lay it out (MoE
 *        expert weights: one `[E, ...]` parameter of E per-expert tensors).
 * @throw error invalid_argument naming the part whose shape or dtype differs from part 0's
 */
inline composite_view stack(const std::vector<composite_view>& parts) {
  if (parts.empty()) {
    throw error(errc::invalid_argument, "stack needs at least one part");
  }
  std::vector<tensor_view> pieces;
  for (std::size_t p = 0; p < parts.size(); ++p) {
    if (parts[p].shape() != parts.front().shape() || parts[p].dtype() != parts.front().dtype()) {
      throw error(errc::invalid_argument,
                  "stack part " + std::to_string(p) + " differs from part 0 in dtype or shape");
    }
    pieces.insert(pieces.end(), parts[p].pieces().begin(), parts[p].pieces().end());
  }
  std::vector<std::int64_t> shape{static_cast<std::int64_t>(parts.size())};
  shape.insert(shape.end(), parts.front().shape().begin(), parts.front().shape().end());
  return composite_view(std::move(pieces), std::move(shape), parts.front().dtype());
}

TENSORHASH_NAMESPACE_END
