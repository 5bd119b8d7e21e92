// Interop recipes reproduce values computed with hashlib (python/tensorhash_ref.py).
#include "test_util.hpp"

#include <tensorhash/interop.hpp>

#include <cstring>

using namespace tensorhash;

TEST_CASE("SGLang-diffusion digest: str(dtype) || repr(shape) || bytes", "[interop]") {
  const float f[4] = {1.0f, 2.5f, -3.0f, 0.1f};
  const tensor_view v(f, dtype::F32, {2, 2});
  CHECK(python_shape_repr(v) == "(2, 2)");
  CHECK(sglang_diffusion_digest(v).to_hex() ==
        "78f50ac3035930ae9168e2ca6b0197e57ae10444749e3b9e6c3f2feded3bd679");
  CHECK(sglang_diffusion_digest<to_bf16>(v).to_hex() ==
        "cf481bdff49625eedceae7e49d170929197cffea97d44e2c59642022c9a40062");
  // hashlib.sha256(b"torch.int8()\x05").hexdigest()
  const std::int8_t five = 5;
  const tensor_view scalar(&five, dtype::I8, 0, nullptr);
  CHECK(python_shape_repr(scalar) == "()");
  CHECK(sglang_diffusion_digest(scalar).to_hex() ==
        test_util::openssl_sha256_hex("torch.int8()\x05", 13));
  CHECK(sglang_diffusion_digest(scalar).to_hex() ==
        "9ba6a8c4fca57712baa768d34c8c89b649cdfa0110fc7d9f91c0f3fcc1e9ca48");
  const std::uint8_t flags[3] = {1, 0, 1};
  const tensor_view vec(flags, dtype::BOOL, {3});
  CHECK(python_shape_repr(vec) == "(3,)");
  CHECK(sglang_diffusion_digest(vec).to_hex() ==
        "d6a426a839235407c7f72158bcb3ecdec74a93342b3ceaf9e200f8994ebab8dc");
  CHECK(torch_dtype_name(dtype::F8_E4M3) == "torch.float8_e4m3fn");
}

TEST_CASE("SGLang weights checksum: names in order, each name then its bytes", "[interop]") {
  const float f[4] = {1.0f, 2.5f, -3.0f, 0.1f};
  const char xyz[3] = {'x', 'y', 'z'};
  const std::vector<std::string> names = {"b", "a"};
  const std::vector<tensor_view> views = {tensor_view(f, dtype::F32, {2, 2}),
                                          tensor_view(xyz, dtype::U8, {3})};
  CHECK(sglang_weights_checksum(names, views).to_hex() ==
        "31f29ba479cb70819de5d02275858e0450d663fbd6acc28ef0575fee9dcf8e1d");
  CHECK(sglang_weights_checksum<to_bf16>(names, views).to_hex() ==
        "b18f5ee0c021bb12e59dbb194d3252d71dc9525409113c16ad106f1d59cc3be1");
  std::string message = "axyzb";
  message.insert(5, reinterpret_cast<const char*>(f), sizeof(f));
  CHECK(sglang_weights_checksum(names, views).to_hex() ==
        test_util::openssl_sha256_hex(message.data(), message.size()));
  CHECK_THROWS_AS(sglang_weights_checksum({"a", "a"}, views), error);
}
