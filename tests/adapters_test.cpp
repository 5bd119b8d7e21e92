// Adapters: DLPack DLTensor (Debian's dlpack.h 0.6) against raw views.
#include "test_util.hpp"

#include <tensorhash/dlpack.hpp>
#include <tensorhash/host.hpp>

using namespace tensorhash;

namespace {
DLTensor dl(void* data, DLDataType type, std::int64_t* shape, int ndim, std::int64_t* strides,
            int device_type = 1, std::uint64_t byte_offset = 0) {
  DLTensor t{};
  t.data = data;
  t.device.device_type = static_cast<decltype(t.device.device_type)>(device_type);
  t.device.device_id = 0;
  t.ndim = ndim;
  t.dtype = type;
  t.shape = shape;
  t.strides = strides;
  t.byte_offset = byte_offset;
  return t;
}

DLDataType code(unsigned c, unsigned bits) {
  DLDataType t{};
  t.code = static_cast<std::uint8_t>(c);
  t.bits = static_cast<std::uint8_t>(bits);
  t.lanes = 1;
  return t;
}

}  // namespace

TEST_CASE("DLTensor: NULL strides, explicit strides, byte_offset, devices", "[adapters][dlpack]") {
  float data[12];
  for (int i = 0; i < 12; ++i)
    data[i] = static_cast<float>(i) * 1.5f;
  std::int64_t shape[2] = {3, 4};
  const auto row_major = dl(data, code(kDLFloat, 32), shape, 2, nullptr);
  CHECK(host_hash<exact>(row_major) == host_hash<exact>(tensor_view(data, dtype::F32, {3, 4})));
  std::int64_t tshape[2] = {4, 3}, tstrides[2] = {1, 4};
  const auto transposed = dl(data, code(kDLFloat, 32), tshape, 2, tstrides);
  CHECK(host_hash<exact>(transposed) ==
        host_hash<exact>(tensor_view(data, dtype::F32, {4, 3}, {1, 4})));
  std::int64_t one[1] = {8};
  const auto offset = dl(data, code(kDLFloat, 32), one, 1, nullptr, 1, 16);
  CHECK(host_hash<exact>(offset).to_hex() == test_util::openssl_sha256_hex(data + 4, 32));
  CHECK(from_dlpack(dl(data, code(kDLFloat, 32), one, 1, nullptr, 3)).location() ==
        location::host());  // pinned host memory
  CHECK(from_dlpack(dl(data, code(kDLFloat, 32), one, 1, nullptr, 2)).location() ==
        location::cuda(0));
  CHECK(from_dlpack(dl(data, code(kDLFloat, 32), one, 1, nullptr, 13)).location() ==
        location::cuda(0));
  CHECK_THROWS_AS(from_dlpack(dl(data, code(kDLFloat, 32), one, 1, nullptr, 4)), error);
}

TEST_CASE("DLPack dtype codes map to tensorhash dtypes", "[adapters][dlpack]") {
  using detail::dtype_of_dlpack;
  CHECK(dtype_of_dlpack(code(kDLBfloat, 16)) == dtype::BF16);
  CHECK(dtype_of_dlpack(code(kDLFloat, 16)) == dtype::F16);
  CHECK(dtype_of_dlpack(code(kDLInt, 64)) == dtype::I64);
  CHECK(dtype_of_dlpack(code(kDLUInt, 8)) == dtype::U8);
  CHECK(dtype_of_dlpack(code(6, 8)) == dtype::BOOL);      // kDLBool (DLPack >= 0.8)
  CHECK(dtype_of_dlpack(code(10, 8)) == dtype::F8_E4M3);  // kDLFloat8_e4m3fn (1.1)
  CHECK(dtype_of_dlpack(code(12, 8)) == dtype::F8_E5M2);  // kDLFloat8_e5m2 (1.1)
  CHECK_THROWS_AS(dtype_of_dlpack(code(kDLComplex, 64)), error);
  DLDataType vec = code(kDLFloat, 32);
  vec.lanes = 4;
  CHECK_THROWS_AS(dtype_of_dlpack(vec), error);
}
