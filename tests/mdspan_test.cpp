// Adapter: cuda::std::mdspan (CCCL) against raw views; built only where CCCL is found.
#include "test_util.hpp"

#include <tensorhash/host.hpp>
#include <tensorhash/mdspan.hpp>

using namespace tensorhash;

namespace {
struct my_bf16 {
  std::uint16_t bits;
};
}  // namespace

template <>
struct tensorhash::mdspan_dtype<my_bf16> {
  static constexpr dtype value = dtype::BF16;
};

TEST_CASE("cuda::std::mdspan with layout_right and layout_stride", "[adapters][mdspan]") {
  float data[12];
  for (int i = 0; i < 12; ++i)
    data[i] = static_cast<float>(i) - 3.0f;
  const cuda::std::mdspan<float, cuda::std::dextents<std::int64_t, 2>> m(data, 3, 4);
  CHECK(host_hash<exact>(m) == host_hash<exact>(tensor_view(data, dtype::F32, {3, 4})));
  using ext = cuda::std::dextents<std::int64_t, 2>;
  const cuda::std::layout_stride::mapping<ext> map(ext(4, 3),
                                                   cuda::std::array<std::int64_t, 2>{1, 4});
  const cuda::std::mdspan<const float, ext, cuda::std::layout_stride> t(data, map);
  CHECK(host_hash<exact>(t) == host_hash<exact>(tensor_view(data, dtype::F32, {4, 3}, {1, 4})));
  my_bf16 b[2] = {{0x3f80}, {0x4000}};
  const cuda::std::mdspan<my_bf16, cuda::std::extents<int, 2>> mb(b);
  CHECK(from_mdspan(mb).dtype() == dtype::BF16);
  CHECK(from_mdspan(mb, location::cuda(1)).location() == location::cuda(1));
}
