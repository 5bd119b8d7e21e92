// Tensor views: validation errors, contiguity, and adapting an engine's own tensor type.
#include "test_util.hpp"

#include <tensorhash/host.hpp>
#include <tensorhash/view.hpp>

#include <array>

using namespace tensorhash;
using test_util::code_of;

// A made-up engine tensor: the kind of type an engine adapts with one specialisation.
namespace engine {
struct Tensor {
  void* storage;
  int kind;  // 0 = float32, 1 = bfloat16
  std::array<long, 3> sizes;
  bool on_gpu;
};
}  // namespace engine

template <>
struct tensorhash::view_traits<engine::Tensor> {
  static tensor_view to_view(const engine::Tensor& t) {
    const std::int64_t shape[3] = {t.sizes[0], t.sizes[1], t.sizes[2]};
    return tensor_view(t.storage, t.kind == 0 ? dtype::F32 : dtype::BF16, 3, shape, nullptr,
                       t.on_gpu ? location::cuda(0) : location::host());
  }
};

static_assert(is_viewable_v<tensor_view>);
static_assert(is_viewable_v<const engine::Tensor&>);
static_assert(!is_viewable_v<int>);
static_assert(std::is_trivially_copyable_v<tensor_view>);

TEST_CASE("Views record shape, strides, size and contiguity", "[view]") {
  float data[24] = {};
  const tensor_view v(data, dtype::F32, {2, 3, 4});
  CHECK(v.rank() == 3);
  CHECK(v.numel() == 24);
  CHECK(v.nbytes() == 96);
  CHECK(v.stride(0) == 12);
  CHECK(v.stride(2) == 1);
  CHECK(v.is_contiguous());
  CHECK_FALSE(tensor_view(data, dtype::F32, {4, 6}, {1, 4}).is_contiguous());
  CHECK(tensor_view(data, dtype::F32, {1, 6}, {99, 1}).is_contiguous());
  const tensor_view scalar(data, dtype::F64, 0, nullptr);
  CHECK(scalar.numel() == 1);
  CHECK(scalar.nbytes() == 8);
  const tensor_view empty(nullptr, dtype::BF16, {3, 0, 5});
  CHECK(empty.numel() == 0);
  CHECK(tensor_view().numel() == 0);
}

TEST_CASE("Bad views are refused with a named error class", "[view][error]") {
  float data[4] = {};
  CHECK(code_of([] { tensor_view(nullptr, dtype::F32, {2, 2}); }) == errc::null_data);
  CHECK(code_of([&] { tensor_view(data, dtype::F32, {2, -1}); }) == errc::negative_shape);
  const std::int64_t nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
  CHECK(code_of([&] { tensor_view(data, dtype::F32, 9, nine); }) == errc::rank_too_large);
  CHECK(code_of([&] { tensor_view(data, dtype::F32, -1, nine); }) == errc::rank_too_large);
  CHECK(code_of([&] {
          tensor_view(data, dtype::F32, {std::int64_t{1} << 40, std::int64_t{1} << 40});
        }) == errc::size_overflow);
  CHECK(code_of([&] { tensor_view(data, dtype::F64, {std::int64_t{1} << 59}); }) ==
        errc::size_overflow);
  CHECK(code_of([&] { tensor_view(data, dtype::U8, {3}, {std::int64_t{1} << 62}); }) ==
        errc::size_overflow);
  CHECK(code_of([&] { tensor_view(data, static_cast<dtype>(99), {1}); }) == errc::unknown_dtype);
  CHECK(code_of([&] { tensor_view(data, dtype::F32, {2, 2}, {1}); }) == errc::invalid_argument);
  CHECK_THROWS_WITH(tensor_view(nullptr, dtype::F32, {2, 2}),
                    "tensorhash: null_data: data is null but the view has 4 elements");
  CHECK_THROWS_WITH(tensor_view(data, dtype::F32, {2, -1}),
                    "tensorhash: negative_shape: shape[1] = -1 is negative");
}

TEST_CASE("Broadcast views past 2^31 elements and 4 GiB need no memory", "[view]") {
  std::uint16_t one = 0x3f80;
  const tensor_view v(&one, dtype::BF16, {std::int64_t{3} << 30, 2}, {0, 0});
  CHECK(v.numel() == (std::uint64_t{6} << 30));
  CHECK(v.nbytes() == (std::uint64_t{12} << 30));
}

TEST_CASE("An engine tensor type adapted with view_traits hashes like the raw view", "[view]") {
  std::vector<float> storage(2 * 3 * 4);
  for (std::size_t i = 0; i < storage.size(); ++i) {
    storage[i] = static_cast<float>(i) * 0.25f;
  }
  const engine::Tensor t{storage.data(), 0, {2, 3, 4}, false};
  const tensor_view v = make_view(t);
  CHECK(v.dtype() == dtype::F32);
  CHECK(v.shape(1) == 3);
  CHECK(host_hash<exact>(t) == host_hash<exact>(tensor_view(storage.data(), dtype::F32, {24})));
  CHECK(host_hash<exact>(t).to_hex() ==
        test_util::openssl_sha256_hex(storage.data(), storage.size() * sizeof(float)));
  const engine::Tensor on_gpu{storage.data(), 0, {2, 3, 4}, true};
  CHECK(code_of([&] { host_hash<exact>(on_gpu); }) == errc::wrong_memory_space);
}

TEST_CASE("Engines hash a std::vector of view_traits tensors as one batch", "[view]") {
  std::vector<float> a(2 * 3 * 4, 1.5f), b(2 * 2 * 2, -2.0f);
  const std::vector<engine::Tensor> batch{{a.data(), 0, {2, 3, 4}, false},
                                          {b.data(), 0, {2, 2, 2}, false}};
  host_engine<tree, to_bf16> engine(tree(), 2);
  const std::vector<digest256> d = engine.hash(batch);
  REQUIRE(d.size() == 2);
  CHECK(d[0] == engine.hash(make_view(batch[0])));
  CHECK(d[1] == engine.hash(make_view(batch[1])));
  // 24 + 8 elements as BF16 (2 bytes), hashed twice: the batch, then each tensor alone above
  CHECK(engine.hashed_bytes() == 2 * (2 * 32));
  host_engine<exact> exact_engine(exact{}, 2);
  CHECK(exact_engine.hash(batch)[1].to_hex() ==
        test_util::openssl_sha256_hex(b.data(), b.size() * sizeof(float)));
  CHECK(exact_engine.hashed_bytes() == (a.size() + b.size()) * sizeof(float));
}

TEST_CASE("dtype names round-trip and unknown names are refused", "[view][dtype]") {
  for (int i = 0; i < dtype_count; ++i) {
    const auto t = static_cast<dtype>(i);
    CHECK(dtype_from_string(to_string(t)) == t);
  }
  CHECK(size_of(dtype::F8_E5M2) == 1);
  CHECK(size_of(dtype::U64) == 8);
  CHECK(code_of([] { dtype_from_string("F128"); }) == errc::unknown_dtype);
}

TEST_CASE("Regression (fuzz_bucket): empty views with huge extents or strides hash safely",
          "[view][fuzz]") {
  // Found by fuzz_bucket under UBSan: an empty view kept saturated row-major strides and the
  // byte layout multiplied them by the element size (signed overflow).
  const std::string empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
  float x = 0;
  const tensor_view huge(&x, dtype::F64, {0, std::int64_t{1} << 40, std::int64_t{1} << 40});
  const tensor_view strided(&x, dtype::F32, {4, 0}, {std::int64_t{1} << 62, 1});
  for (const auto& v : {huge, strided}) {
    CHECK(v.is_contiguous());
    CHECK(host_hash<exact>(v).to_hex() == empty);
    CHECK(host_hash<tree, to_bf16>(v).to_hex() == empty);
  }
}
