// The hybrid exact mode on a real device: hybrid_exact_plan's digests == host_engine<exact> on
// host copies of the same bytes == device_plan<exact> on the device, with the cost model's split
// and with everything forced to either side; 0 bytes, tensors many times the staging, slice
// boundaries, composites, strided tensors, canonicalisation, many tensors and threads; copies
// ordered after a kernel still writing the tensors on the caller's stream. Without a CUDA device
// the program exits with 77, which ctest reports as "Skipped" (never as passed).
#define CATCH_CONFIG_RUNNER
#include "device_test_util.cuh"
#include "test_util.hpp"

#include <tensorhash/device.cuh>
#include <tensorhash/host.hpp>
#include <tensorhash/hybrid.cuh>

#include <cuda_runtime.h>

#include <random>

using namespace tensorhash;
using test_util::code_of;

namespace {

/// Host bytes and a device copy of them, at the same offsets.
struct mirrored {
  std::vector<std::uint8_t> host;
  std::uint8_t* dev = nullptr;
  explicit mirrored(std::size_t bytes, std::uint64_t seed) : host(bytes) {
    std::mt19937_64 rng(seed);
    for (auto& b : host) {
      b = static_cast<std::uint8_t>(rng());
    }
    CUDA_OK(cudaMalloc(&dev, bytes));
    CUDA_OK(cudaMemcpy(dev, host.data(), bytes, cudaMemcpyHostToDevice));
  }
  ~mirrored() { cudaFree(dev); }
  mirrored(const mirrored&) = delete;
  mirrored& operator=(const mirrored&) = delete;

  /// The same layout as host view `v` (over `host`), over the device copy.
  tensor_view on_device(const tensor_view& v) const {
    std::int64_t shape[max_rank], strides[max_rank];
    for (int i = 0; i < v.rank(); ++i) {
      shape[i] = v.shape(i);
      strides[i] = v.stride(i);
    }
    const void* p =
        v.numel() == 0 ? nullptr : dev + (static_cast<const std::uint8_t*>(v.data()) - host.data());
    return tensor_view(p, v.dtype(), v.rank(), shape, strides, location::cuda(0));
  }
  composite_view on_device(const composite_view& c) const {
    std::vector<tensor_view> pieces;
    for (const auto& p : c.pieces()) {
      pieces.push_back(on_device(p));
    }
    return composite_view(pieces, c.shape(), c.dtype());
  }
};

/// Host tensors over `m.host` of every kind the tests need.
std::vector<composite_view> mixed_batch(const mirrored& m, std::uint64_t slice) {
  const auto* p = m.host.data();
  std::vector<composite_view> t;
  for (std::uint64_t n : {std::uint64_t{0}, std::uint64_t{1}, slice - 1, slice, slice + 1,
                          3 * slice, 10 * slice + 2}) {
    t.emplace_back(
        tensor_view(n == 0 ? nullptr : p + 64, dtype::BF16, {static_cast<std::int64_t>(n / 2)}));
  }
  const tensor_view a(p, dtype::BF16, {300, 64});
  const tensor_view b(p + 100000, dtype::BF16, {300, 32});
  t.emplace_back(concat({a, b}, 1));
  t.emplace_back(concat({a, a}, 0));
  t.emplace_back(tensor_view(p, dtype::BF16, {64, 300}, {1, 64}));  // transposed
  t.emplace_back(tensor_view(p, dtype::F32, {1000}, {3}));          // every third
  return t;
}

template <class Canon>
void check_batch(const std::vector<composite_view>& host, const mirrored& m,
                 const hybrid_tuning& tuning, unsigned threads) {
  std::vector<composite_view> dev;
  for (const auto& c : host) {
    dev.push_back(m.on_device(c));
  }
  const auto expected = host_engine<exact, Canon>(exact{}, 2).hash(host);
  hybrid_exact_plan<Canon> plan(dev, tuning, threads);
  CHECK(plan.on_host().size() + plan.on_device().size() == host.size());
  CHECK(plan.hash(nullptr) == expected);
  CHECK(plan.hash(nullptr) == expected);  // a second call reuses everything
  // device_plan<exact> on the same device tensors.
  digest256* d_out = nullptr;
  CUDA_OK(cudaMalloc(&d_out, (dev.size() + 1) * sizeof(digest256)));
  device_plan<exact, Canon> pure(dev);
  std::size_t temp_bytes = 0;
  CUDA_OK(pure.hash(nullptr, temp_bytes, d_out, nullptr));
  void* temp = nullptr;
  CUDA_OK(cudaMalloc(&temp, temp_bytes));
  CUDA_OK(pure.hash(temp, temp_bytes, d_out, nullptr));
  CHECK(copy_digests_to_host(d_out, dev.size(), nullptr) == expected);
  cudaFree(temp);
  cudaFree(d_out);
}

hybrid_tuning with(std::uint64_t slice, std::uint64_t host_from) {
  hybrid_tuning t;
  t.slice_bytes = slice;
  t.host_from_bytes = host_from;
  return t;
}

__global__ void overwrite(std::uint8_t* p, std::uint64_t n, std::uint8_t value) {
  // One thread, slowly: the hybrid plan's copies must wait for it all the same.
  if (blockIdx.x == 0 && threadIdx.x == 0) {
    for (std::uint64_t i = 0; i < n; ++i) {
      p[i] = static_cast<std::uint8_t>(value + i);
    }
  }
}

}  // namespace

TEMPLATE_TEST_CASE("Hybrid exact equals host_engine<exact> and device_plan<exact>",
                   "[hybrid][device]", as_stored, to_f32, to_bf16) {
  const mirrored m(1 << 20, 1);
  const std::uint64_t slice = 4096;
  const auto batch = mixed_batch(m, slice);
  SECTION("the cost model's split") {
    check_batch<TestType>(batch, m, with(slice, 0), 4);
  }
  SECTION("every streamable tensor streamed") {
    check_batch<TestType>(batch, m, with(slice, 1), 3);
  }
  SECTION("everything on the GPU") {
    check_batch<TestType>(batch, m, with(slice, ~0ull), 3);
  }
  SECTION("one host thread, 64-byte slices") {
    check_batch<TestType>(batch, m, with(64, 1), 1);
  }
}

TEST_CASE("Hybrid exact on many tensors and threads", "[hybrid][device][batch]") {
  const mirrored m(64 << 20, 2);
  std::mt19937_64 rng(3);
  std::vector<composite_view> batch;
  for (int i = 0; i < 600; ++i) {
    const std::uint64_t n = i % 50 == 0 ? rng() % (8 << 20) : rng() % 100000;
    const std::uint64_t at = rng() % (m.host.size() - 2 * n - 2);
    batch.emplace_back(tensor_view(n == 0 ? nullptr : m.host.data() + at, dtype::BF16,
                                   {static_cast<std::int64_t>(n)}));
  }
  hybrid_tuning fast_gpu = with(1 << 20, 0);
  check_batch<as_stored>(batch, m, fast_gpu, 0);
  check_batch<as_stored>(batch, m, with(1 << 16, 1 << 16), 16);
}

TEST_CASE("Hybrid copies wait for the caller's stream", "[hybrid][device][streams]") {
  const std::uint64_t n = 1 << 16;
  mirrored m(n, 4);
  cudaStream_t s = nullptr;
  CUDA_OK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  const tensor_view v(m.dev, dtype::U8, {static_cast<std::int64_t>(n)}, {}, location::cuda(0));
  hybrid_exact_plan<> plan(std::vector<tensor_view>{v}, with(4096, 1), 2, s);
  REQUIRE(plan.on_host().size() == 1);
  overwrite<<<1, 1, 0, s>>>(m.dev, n, 7);
  const auto got = plan.hash(s);
  for (std::uint64_t i = 0; i < n; ++i) {
    m.host[i] = static_cast<std::uint8_t>(7 + i);
  }
  CHECK(got[0] ==
        host_hash<exact>(tensor_view(m.host.data(), dtype::U8, {static_cast<std::int64_t>(n)})));
  CUDA_OK(cudaStreamDestroy(s));
}

TEST_CASE("Hybrid entry checks", "[hybrid][device][error]") {
  std::vector<float> host(16);
  const tensor_view h(host.data(), dtype::F32, {16});
  CHECK(code_of([&] { hybrid_exact_plan<>(std::vector<tensor_view>{h}, with(4096, 1)); }) ==
        errc::wrong_memory_space);
  const tensor_view lie(host.data(), dtype::F32, {16}, {}, location::cuda(0));
  CHECK(code_of([&] { hybrid_exact_plan<>(std::vector<tensor_view>{lie}, with(4096, 1)); }) ==
        errc::wrong_memory_space);
  hybrid_exact_plan<> none(std::vector<tensor_view>{});
  CHECK(none.size() == 0);
  CHECK(none.hash(nullptr).empty());
}

int main(int argc, char** argv) {
  return device_test::run(argc, argv);
}
