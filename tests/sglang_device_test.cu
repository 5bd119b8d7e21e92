// SGLang's 64-bit hash on a real device (sglang_device.cuh): a whole batch in two launches equals
// the host engine (sglang.hpp, itself proved against SGLang's own Triton kernel) for empty
// tensors, 1 to 7 bytes, the 8192-word tile boundary, several tiles, thousands of small tensors
// and a 7B-sized layer; CUDA graph capture and replay; the entry checks. Without a CUDA device
// the program exits with 77, which ctest reports as "Skipped" (never as passed).
#define CATCH_CONFIG_RUNNER
#include "device_test_util.cuh"
#include "test_util.hpp"

#include <tensorhash/sglang.hpp>
#include <tensorhash/sglang_device.cuh>

#include <cuda_runtime.h>

#include <random>
#include <vector>

using namespace tensorhash;
using test_util::code_of;

namespace {

using device_test::device_buffer;
using device_test::stream_owner;

/// Byte sizes of a batch, each tensor placed at a 256-byte aligned offset of one arena: the
/// edges of the hash and a spread of ordinary sizes.
struct batch {
  std::vector<std::uint64_t> sizes, offsets;
  std::vector<std::uint8_t> host;  // the arena's contents
  std::uint64_t total = 0;

  explicit batch(std::vector<std::uint64_t> s) : sizes(std::move(s)) {
    for (auto n : sizes) {
      offsets.push_back(total);
      total += (n + 255) / 256 * 256;
    }
    host.resize(total);
    std::mt19937_64 rng(42);
    for (auto& b : host) {
      b = static_cast<std::uint8_t>(rng());
    }
  }

  /// U8 views of the tensors at `base` (the arena on the device or on the host).
  std::vector<tensor_view> views(const std::uint8_t* base, location where) const {
    std::vector<tensor_view> v;
    for (std::size_t i = 0; i < sizes.size(); ++i) {
      const std::int64_t shape[1] = {static_cast<std::int64_t>(sizes[i])};
      v.emplace_back(sizes[i] == 0 ? nullptr : base + offsets[i], dtype::U8, 1, shape, nullptr,
                     where);
    }
    return v;
  }
};

std::vector<std::uint64_t> edge_sizes() {
  std::vector<std::uint64_t> s = {0, 1,     2,     3,     4,     5,     6,     7,
                                  8, 32764, 32766, 32768, 32769, 32772, 98307, (1u << 20) + 3};
  std::mt19937_64 rng(7);
  for (int i = 0; i < 3000; ++i) {
    s.push_back(rng() % 4096);  // many small tensors: a launch each in SGLang's loop
  }
  return s;
}

/// Device hashes of the batch, through the two-phase `hash` on `stream`.
std::vector<std::uint64_t> device_hashes(const sglang_device_plan& plan, cudaStream_t stream) {
  std::size_t temp_bytes = 0;
  CUDA_OK(plan.hash(nullptr, temp_bytes, nullptr, stream));
  device_buffer temp(temp_bytes), out(plan.size() * sizeof(std::uint64_t));
  CUDA_OK(plan.hash(temp.ptr, temp_bytes, static_cast<std::uint64_t*>(out.ptr), stream));
  std::vector<std::uint64_t> h(plan.size());
  CUDA_OK(cudaMemcpyAsync(h.data(), out.ptr, h.size() * sizeof(std::uint64_t),
                          cudaMemcpyDeviceToHost, stream));
  CUDA_OK(cudaStreamSynchronize(stream));
  return h;
}

}  // namespace

TEST_CASE("a batch hashed on the device equals the host engine", "[sglang][device]") {
  const batch b(edge_sizes());
  device_buffer arena(b.total);
  stream_owner stream;
  CUDA_OK(cudaMemcpyAsync(arena.ptr, b.host.data(), b.total, cudaMemcpyHostToDevice, stream.s));
  const sglang_device_plan plan(b.views(arena.bytes(), location::cuda(0)), stream.s);
  CHECK(plan.launches() == 2);
  const std::vector<std::uint64_t> got = device_hashes(plan, stream.s);
  sglang_engine<> host(0);
  const std::vector<std::uint64_t> want = host.hash(b.views(b.host.data(), location::host()));
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    CAPTURE(i, b.sizes[i]);
    CHECK(got[i] == want[i]);
  }
  CHECK(got[0] == 0);  // an empty tensor hashes to 0, as in SGLang
}

TEST_CASE("a 7B-sized BF16 layer (3584 x 18944) on the device", "[sglang][device]") {
  const std::uint64_t bytes = 3584ull * 18944 * 2;
  const batch b({bytes});
  device_buffer arena(b.total);
  CUDA_OK(cudaMemcpy(arena.ptr, b.host.data(), b.total, cudaMemcpyHostToDevice));
  const std::int64_t shape[2] = {3584, 18944};
  const tensor_view d(arena.ptr, dtype::BF16, 2, shape, nullptr, location::cuda(0));
  const tensor_view h(b.host.data(), dtype::BF16, 2, shape);
  stream_owner stream;
  const sglang_device_plan plan(&d, 1, stream.s);
  CHECK(device_hashes(plan, stream.s) == std::vector<std::uint64_t>{sglang_hash(h)});
}

TEST_CASE("hash captured in a CUDA graph and replayed", "[sglang][device][graph]") {
  const batch b({5, 32768, 70000});
  device_buffer arena(b.total);
  stream_owner stream;
  CUDA_OK(cudaMemcpyAsync(arena.ptr, b.host.data(), b.total, cudaMemcpyHostToDevice, stream.s));
  const sglang_device_plan plan(b.views(arena.bytes(), location::cuda(0)), stream.s);
  std::size_t temp_bytes = 0;
  CUDA_OK(plan.hash(nullptr, temp_bytes, nullptr, stream.s));
  device_buffer temp(temp_bytes), out(plan.size() * sizeof(std::uint64_t));
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  CUDA_OK(cudaStreamBeginCapture(stream.s, cudaStreamCaptureModeThreadLocal));
  const cudaError_t captured =
      plan.hash(temp.ptr, temp_bytes, static_cast<std::uint64_t*>(out.ptr), stream.s);
  CUDA_OK(cudaStreamEndCapture(stream.s, &graph));
  CUDA_OK(captured);
  CUDA_OK(cudaGraphInstantiate(&exec, graph, 0));
  sglang_engine<> host(1);
  const auto want = host.hash(b.views(b.host.data(), location::host()));
  for (int replay = 0; replay < 3; ++replay) {
    CUDA_OK(cudaMemsetAsync(out.ptr, 0, plan.size() * sizeof(std::uint64_t), stream.s));
    CUDA_OK(cudaGraphLaunch(exec, stream.s));
    std::vector<std::uint64_t> got(plan.size());
    CUDA_OK(cudaMemcpyAsync(got.data(), out.ptr, got.size() * sizeof(std::uint64_t),
                            cudaMemcpyDeviceToHost, stream.s));
    CUDA_OK(cudaStreamSynchronize(stream.s));
    CHECK(got == want);
  }
  // Graphs go before the plan (docs/guide.md §3).
  CUDA_OK(cudaGraphExecDestroy(exec));
  CUDA_OK(cudaGraphDestroy(graph));
}

TEST_CASE("entry checks of the device plan", "[sglang][device][error]") {
  device_buffer arena(64);
  const std::int64_t n[1] = {8}, two[2] = {2, 4}, strides[2] = {1, 2};
  SECTION("host memory") {
    std::vector<std::uint8_t> host(8);
    const tensor_view v(host.data(), dtype::U8, 1, n);
    CHECK(code_of([&] { sglang_device_plan(&v, 1); }) == errc::wrong_memory_space);
  }
  SECTION("not 4-byte aligned") {
    const tensor_view v(arena.bytes() + 2, dtype::U8, 1, n, nullptr, location::cuda(0));
    CHECK(code_of([&] { sglang_device_plan(&v, 1); }) == errc::invalid_argument);
  }
  SECTION("not contiguous") {
    const tensor_view v(arena.ptr, dtype::U8, 2, two, strides, location::cuda(0));
    CHECK(code_of([&] { sglang_device_plan(&v, 1); }) == errc::invalid_argument);
  }
  SECTION("too little temporary storage") {
    const tensor_view v(arena.ptr, dtype::U8, 1, n, nullptr, location::cuda(0));
    const sglang_device_plan plan(&v, 1);
    std::size_t bytes = 0;
    CHECK(plan.hash(nullptr, bytes, nullptr, nullptr) == cudaSuccess);
    std::size_t less = bytes - 1;
    device_buffer out(8);
    CHECK(plan.hash(arena.ptr, less, static_cast<std::uint64_t*>(out.ptr), nullptr) ==
          cudaErrorInvalidValue);
  }
}

int main(int argc, char** argv) {
  return device_test::run(argc, argv);
}
