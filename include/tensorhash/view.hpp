/**
 * @file view.hpp
 * @brief Runtime-rank tensor views and the customisation point that turns an engine's own
 *        tensor type into one.
 */
#pragma once

#include <tensorhash/config.hpp>
#include <tensorhash/dtype.hpp>
#include <tensorhash/error.hpp>

#include <cstdint>
#include <initializer_list>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

TENSORHASH_NAMESPACE_BEGIN

namespace detail {
/// "[4096, 4096]": a shape as error messages and reports print it.
inline std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    s += (i ? ", " : "") + std::to_string(shape[i]);
  }
  return s + "]";
}
}  // namespace detail

/// Most dimensions a view may have.
inline constexpr int max_rank = 8;

/// Largest canonical message SHA-256 can hash: its length field counts bits in 64 bits.
inline constexpr std::uint64_t max_message_bytes = (std::uint64_t{1} << 61) - 1;

/// @brief Where a view's memory lives.
enum class memory_space : std::uint8_t {
  host,  ///< CPU-addressable memory (pageable or pinned)
  cuda,  ///< memory of the CUDA device `location::device`
};

/// @brief Memory space plus CUDA device ordinal (-1 for host memory).
struct location {
  memory_space space = memory_space::host;
  int device = -1;

  /// @return host memory
  static constexpr location host() noexcept { return {memory_space::host, -1}; }
  /// @return memory of CUDA device `ordinal`
  static constexpr location cuda(int ordinal) noexcept { return {memory_space::cuda, ordinal}; }

  friend constexpr bool operator==(location a, location b) noexcept {
    return a.space == b.space && a.device == b.device;
  }
  friend constexpr bool operator!=(location a, location b) noexcept { return !(a == b); }
};

/**
 * @brief A non-owning, validated view of a strided tensor.
 *
 * Shape and strides are in elements (int64). Strides may be zero (broadcast) or negative and
 * describe any layout; a null `strides` means row-major contiguous. A rank-0 view has one element.
 * Construction validates everything (see `errc`), so a view that exists can be hashed; the view
 * is trivially copyable and can be passed to kernels by value.
 */
class tensor_view {
 public:
  /// An empty 1-dim U8 view (shape [0]) in host memory.
  constexpr tensor_view() noexcept = default;

  /**
   * @param data address of element (0, ..., 0); may be null only when the view has no elements
   * @param type element dtype
   * @param rank number of dimensions, 0 to `max_rank`
   * @param shape `rank` extents, each >= 0 (may be null when rank is 0)
   * @param strides `rank` strides in elements, or null for row-major contiguous
   * @param where memory space of `data`
   * @throw error rank_too_large, negative_shape, unknown_dtype, size_overflow or null_data
   */
  tensor_view(const void* data, dtype type, int rank, const std::int64_t* shape,
              const std::int64_t* strides = nullptr, location where = location::host())
      : data_(data), dtype_(type), rank_(rank), location_(where) {
    if (rank < 0 || rank > max_rank) {
      throw error(errc::rank_too_large,
                  "rank " + std::to_string(rank) + " is outside 0.." + std::to_string(max_rank));
    }
    if (!is_valid(type)) {
      throw error(errc::unknown_dtype, "dtype value " + std::to_string(static_cast<int>(type)) +
                                           " is not a known dtype");
    }
    for (int i = 0; i < rank; ++i) {
      if (shape[i] < 0) {
        throw error(errc::negative_shape, "shape[" + std::to_string(i) +
                                              "] = " + std::to_string(shape[i]) + " is negative");
      }
      shape_[i] = shape[i];
    }
    std::int64_t row_major = 1;
    for (int i = rank - 1; i >= 0; --i) {
      strides_[i] = strides != nullptr ? strides[i] : row_major;
      row_major = shape_[i] != 0 ? saturating_mul(row_major, shape_[i]) : row_major;
    }
    validate_sizes();
  }

  /// Convenience constructor from braced lists: `tensor_view(p, dtype::F32, {2, 3})`.
  tensor_view(const void* data, dtype type, std::initializer_list<std::int64_t> shape,
              std::initializer_list<std::int64_t> strides = {}, location where = location::host())
      : tensor_view(data, type, checked_rank(shape, strides), shape.begin(),
                    strides.size() == 0 ? nullptr : strides.begin(), where) {}

  TENSORHASH_HD const void* data() const noexcept { return data_; }
  TENSORHASH_HD tensorhash::dtype dtype() const noexcept { return dtype_; }
  TENSORHASH_HD int rank() const noexcept { return rank_; }
  TENSORHASH_HD std::int64_t shape(int i) const noexcept { return shape_[i]; }
  /// Stride of dimension `i` in elements.
  TENSORHASH_HD std::int64_t stride(int i) const noexcept { return strides_[i]; }
  TENSORHASH_HD tensorhash::location location() const noexcept { return location_; }
  /// Number of elements (1 for rank 0).
  TENSORHASH_HD std::uint64_t numel() const noexcept { return numel_; }
  /// Bytes of the canonical form as stored: numel() * size_of(dtype()).
  TENSORHASH_HD std::uint64_t nbytes() const noexcept { return numel_ * size_of(dtype_); }

  /// @return true when the elements are dense in row-major order (size-1 dims ignored)
  TENSORHASH_HD bool is_contiguous() const noexcept {
    if (numel_ == 0) {
      return true;
    }
    std::int64_t expected = 1;
    for (int i = rank_ - 1; i >= 0; --i) {
      if (shape_[i] != 1 && strides_[i] != expected) {
        return false;
      }
      expected *= shape_[i];
    }
    return true;
  }

 private:
  static std::int64_t saturating_mul(std::int64_t a, std::int64_t b) noexcept {
    std::int64_t r = 0;
    return __builtin_mul_overflow(a, b, &r) ? std::numeric_limits<std::int64_t>::max() : r;
  }

  static int checked_rank(std::initializer_list<std::int64_t> shape,
                          std::initializer_list<std::int64_t> strides) {
    if (strides.size() != 0 && strides.size() != shape.size()) {
      throw error(errc::invalid_argument, "strides has " + std::to_string(strides.size()) +
                                              " entries but shape has " +
                                              std::to_string(shape.size()));
    }
    return shape.size() > static_cast<std::size_t>(max_rank) ? max_rank + 1
                                                             : static_cast<int>(shape.size());
  }

  void validate_sizes() {
    std::uint64_t n = 1;
    for (int i = 0; i < rank_; ++i) {
      if (__builtin_mul_overflow(n, static_cast<std::uint64_t>(shape_[i]), &n)) {
        throw error(errc::size_overflow, "element count of the shape overflows 64 bits");
      }
    }
    std::uint64_t bytes = 0;
    if (__builtin_mul_overflow(n, std::uint64_t{size_of(dtype_)}, &bytes) ||
        bytes > max_message_bytes) {
      throw error(errc::size_overflow, "byte size of " + std::to_string(n) + " elements of " +
                                           to_string(dtype_) +
                                           " exceeds the 2^61-1 byte limit of SHA-256");
    }
    numel_ = n;
    if (n == 0) {
      return;
    }
    if (data_ == nullptr) {
      throw error(errc::null_data,
                  "data is null but the view has " + std::to_string(n) + " elements");
    }
    // The furthest element must be addressable: sum of |stride| * (extent - 1) * itemsize.
    std::uint64_t span = 0;
    for (int i = 0; i < rank_; ++i) {
      const std::uint64_t mag = strides_[i] < 0 ? 0 - static_cast<std::uint64_t>(strides_[i])
                                                : static_cast<std::uint64_t>(strides_[i]);
      std::uint64_t term = 0;
      if (__builtin_mul_overflow(mag, static_cast<std::uint64_t>(shape_[i] - 1), &term) ||
          __builtin_mul_overflow(term, std::uint64_t{size_of(dtype_)}, &term) ||
          __builtin_add_overflow(span, term, &span) ||
          span > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        throw error(errc::size_overflow,
                    "strides address a span that overflows 63 bits at dim " + std::to_string(i));
      }
    }
  }

  const void* data_ = nullptr;
  tensorhash::dtype dtype_ = dtype::U8;
  int rank_ = 1;
  std::int64_t shape_[max_rank] = {};
  std::int64_t strides_[max_rank] = {1};
  tensorhash::location location_ = location::host();
  std::uint64_t numel_ = 0;
};

/**
 * @brief Customisation point: specialise for an engine's tensor type `T` with
 *        `static tensor_view to_view(const T&)`.
 *
 * The primary template is empty; `tensor_view` itself is the first model.
 */
template <class T, class Enable = void>
struct view_traits {};

template <>
struct view_traits<tensor_view> {
  static tensor_view to_view(const tensor_view& v) noexcept { return v; }
};

namespace detail {
template <class T, class = void>
struct is_viewable : std::false_type {};
template <class T>
struct is_viewable<T, std::void_t<decltype(view_traits<T>::to_view(std::declval<const T&>()))>>
    : std::is_convertible<decltype(view_traits<T>::to_view(std::declval<const T&>())),
                          tensor_view> {};
}  // namespace detail

/// True when `T` (cv/ref removed) has a `view_traits` specialisation.
template <class T>
inline constexpr bool is_viewable_v =
    detail::is_viewable<std::remove_cv_t<std::remove_reference_t<T>>>::value;

/// @return the view of `tensor` through `view_traits`
template <class T>
tensor_view make_view(const T& tensor) {
  static_assert(is_viewable_v<T>,
                "tensorhash: this type is not a tensor view. Specialise "
                "tensorhash::view_traits<YourTensor> with a member "
                "`static tensorhash::tensor_view to_view(const YourTensor&)` (see "
                "tensorhash/view.hpp), or pass a tensorhash::tensor_view.");
  return view_traits<std::remove_cv_t<std::remove_reference_t<T>>>::to_view(tensor);
}

TENSORHASH_NAMESPACE_END
