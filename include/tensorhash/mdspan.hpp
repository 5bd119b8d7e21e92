/**
 * @file mdspan.hpp
 * @brief `cuda::std::mdspan` (layout_right, layout_stride) as a tensorhash view. Needs CCCL on
 *        the include path (the CUDA toolkit's `include/cccl`, also for plain g++).
 *
 * Element types map to dtypes through `mdspan_dtype<T>`: the standard arithmetic types are
 * built in; specialise it for engine types (bfloat16, fp8) as
 * `template <> struct tensorhash::mdspan_dtype<my_bf16> { static constexpr dtype value =
 * dtype::BF16; };` An mdspan does not say where its memory is: `view_traits` assumes host memory,
 * and `from_mdspan(m, location::cuda(d))` names device memory.
 */
#pragma once

#include <tensorhash/config.hpp>
#include <tensorhash/dtype.hpp>
#include <tensorhash/view.hpp>

#if !__has_include(<cuda/std/mdspan>)
#error \
    "tensorhash/mdspan.hpp needs CCCL's <cuda/std/mdspan> on the include path: the CUDA toolkit's include/cccl, or CCCL from its repository (link CCCL::CCCL)"
#endif
#include <cuda/std/mdspan>

#include <cstdint>
#include <type_traits>

TENSORHASH_NAMESPACE_BEGIN

/// The dtype of mdspan element type `T`; specialise for types not built in.
template <class T, class = void>
struct mdspan_dtype {};

namespace detail {
template <dtype D>
struct dtype_constant {
  static constexpr dtype value = D;
};
template <class T>
using plain_t = std::remove_cv_t<T>;
template <class T, class = void>
struct has_mdspan_dtype : std::false_type {};
template <class T>
struct has_mdspan_dtype<T, std::void_t<decltype(mdspan_dtype<T>::value)>> : std::true_type {};
}  // namespace detail

template <>
struct mdspan_dtype<double> : detail::dtype_constant<dtype::F64> {};
template <>
struct mdspan_dtype<float> : detail::dtype_constant<dtype::F32> {};
template <>
struct mdspan_dtype<std::int64_t> : detail::dtype_constant<dtype::I64> {};
template <>
struct mdspan_dtype<std::int32_t> : detail::dtype_constant<dtype::I32> {};
template <>
struct mdspan_dtype<std::int16_t> : detail::dtype_constant<dtype::I16> {};
template <>
struct mdspan_dtype<std::int8_t> : detail::dtype_constant<dtype::I8> {};
template <>
struct mdspan_dtype<std::uint64_t> : detail::dtype_constant<dtype::U64> {};
template <>
struct mdspan_dtype<std::uint32_t> : detail::dtype_constant<dtype::U32> {};
template <>
struct mdspan_dtype<std::uint16_t> : detail::dtype_constant<dtype::U16> {};
template <>
struct mdspan_dtype<std::uint8_t> : detail::dtype_constant<dtype::U8> {};
template <>
struct mdspan_dtype<bool> : detail::dtype_constant<dtype::BOOL> {};

/**
 * @brief The view of an mdspan with layout_right or layout_stride.
 * @param where the memory the mdspan points to (host by default)
 */
template <class T, class Extents, class Layout, class Accessor>
tensor_view from_mdspan(const cuda::std::mdspan<T, Extents, Layout, Accessor>& m,
                        location where = location::host()) {
  using element = detail::plain_t<T>;
  static_assert(detail::has_mdspan_dtype<element>::value,
                "tensorhash: no dtype for this mdspan element type; specialise "
                "tensorhash::mdspan_dtype<T> with `static constexpr dtype value`");
  static_assert(std::is_same_v<Layout, cuda::std::layout_right> ||
                    std::is_same_v<Layout, cuda::std::layout_stride>,
                "tensorhash: mdspan views support layout_right and layout_stride; convert "
                "layout_left with a layout_stride mapping");
  static_assert(Extents::rank() <= static_cast<std::size_t>(max_rank),
                "tensorhash: mdspan rank exceeds tensorhash::max_rank (8)");
  constexpr int rank = static_cast<int>(Extents::rank());
  std::int64_t shape[max_rank] = {};
  std::int64_t strides[max_rank] = {};
  for (int i = 0; i < rank; ++i) {
    shape[i] = static_cast<std::int64_t>(m.extent(static_cast<std::size_t>(i)));
    strides[i] = static_cast<std::int64_t>(m.stride(static_cast<std::size_t>(i)));
  }
  return tensor_view(m.data_handle(), mdspan_dtype<element>::value, rank, shape, strides, where);
}

/// An mdspan plugs into every tensorhash entry point as host memory.
template <class T, class Extents, class Layout, class Accessor>
struct view_traits<cuda::std::mdspan<T, Extents, Layout, Accessor>> {
  static tensor_view to_view(const cuda::std::mdspan<T, Extents, Layout, Accessor>& m) {
    return from_mdspan(m);
  }
};

TENSORHASH_NAMESPACE_END
