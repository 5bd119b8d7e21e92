// CUDA backend on a real device: device digests == Python reference and CPU backend digests
// (SHA-256 exact and tree, BLAKE3),
// batches of 1 to 5000 tensors, a tensor over 4 GiB, NIST vectors hashed in a kernel, CUDA graph
// capture and replay, concurrent streams, the plan's lifetime rules (docs/guide.md §3), launch
// errors and entry checks. Without a CUDA device the program exits with 77, which ctest reports
// as "Skipped" (never as passed).
#define CATCH_CONFIG_RUNNER
#include "device_emulation.hpp"
#include "device_test_util.cuh"
#include "test_util.hpp"

#include <tensorhash/device.cuh>
#include <tensorhash/host.hpp>

#include <cuda_runtime.h>

#include <map>
#include <memory>
#include <random>

using namespace tensorhash;
using test_util::code_of;

namespace {

using device_test::device_buffer;
using device_test::stream_owner;

/// A captured graph and its executable, destroyed together. Declared after the plan it was
/// captured from, so that it goes first, as the lifetime rules ask.
struct graph_owner {
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  graph_owner() = default;
  ~graph_owner() {
    if (exec != nullptr)
      cudaGraphExecDestroy(exec);
    if (graph != nullptr)
      cudaGraphDestroy(graph);
  }
  graph_owner(const graph_owner&) = delete;
  graph_owner& operator=(const graph_owner&) = delete;
};

/// A view with the same layout as `v` over `base` in device memory.
tensor_view on_device(const tensor_view& v, const void* base) {
  std::int64_t shape[max_rank], strides[max_rank];
  for (int i = 0; i < v.rank(); ++i) {
    shape[i] = v.shape(i);
    strides[i] = v.stride(i);
  }
  return tensor_view(v.numel() == 0 ? nullptr : base, v.dtype(), v.rank(), shape, strides,
                     location::cuda(0));
}

template <class Mode, class Canon, class Hasher = sha256>
std::vector<digest256> hash_on_device(const std::vector<tensor_view>& views, Mode mode) {
  device_buffer out(views.size() * sizeof(digest256));
  auto* d_out = static_cast<digest256*>(out.ptr);
  device_hash<Mode, Canon, Hasher>(views.data(), views.size(), d_out, mode, nullptr);
  return copy_digests_to_host(d_out, views.size(), nullptr);
}

using test_util::reference_case;

template <class Canon>
std::vector<digest256> dispatch_mode(const std::string& mode, std::uint64_t chunk,
                                     const std::vector<tensor_view>& views) {
  if (mode == "exact")
    return hash_on_device<exact, Canon>(views, exact{});
  return hash_on_device<tree, Canon>(views, tree(chunk));
}

std::vector<digest256> dispatch(const std::string& mode, const std::string& canon,
                                std::uint64_t chunk, const std::vector<tensor_view>& views) {
  if (canon == "BF16")
    return dispatch_mode<to_bf16>(mode, chunk, views);
  if (canon == "F32")
    return dispatch_mode<to_f32>(mode, chunk, views);
  return dispatch_mode<as_stored>(mode, chunk, views);
}

__global__ void nist_kernel(const std::uint8_t* msgs, const std::uint64_t* offsets, int count,
                            digest256* out) {
  const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (i < count) {
    out[i] = hash_bytes<sha256>(msgs + offsets[i], offsets[i + 1] - offsets[i]);
  }
}

__global__ void fill_kernel(std::uint64_t* p, std::uint64_t n, std::uint64_t seed) {
  for (std::uint64_t i = blockIdx.x * std::uint64_t{blockDim.x} + threadIdx.x; i < n;
       i += std::uint64_t{gridDim.x} * blockDim.x) {
    std::uint64_t z = (i + seed) * 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    p[i] = z ^ (z >> 27);
  }
}

}  // namespace

TEST_CASE("NIST SHAVS vectors hashed inside a kernel", "[device][nist]") {
  std::vector<std::uint8_t> msgs;
  std::vector<std::uint64_t> offsets = {0};
  std::vector<std::string> expected;
  for (const char* file : {"SHA256ShortMsg.rsp", "SHA256LongMsg.rsp"}) {
    long bits = 0;
    std::string msg;
    for (const auto& line : test_util::read_lines(test_util::data_path(file))) {
      if (line.rfind("Len = ", 0) == 0)
        bits = std::stol(line.substr(6));
      if (line.rfind("Msg = ", 0) == 0)
        msg = line.substr(6);
      if (line.rfind("MD = ", 0) == 0) {
        const auto bytes = bits == 0 ? std::vector<std::uint8_t>{} : test_util::from_hex(msg);
        msgs.insert(msgs.end(), bytes.begin(), bytes.end());
        offsets.push_back(msgs.size());
        expected.push_back(line.substr(5));
      }
    }
  }
  REQUIRE(expected.size() == 129);
  device_buffer d_msgs(msgs.size()), d_offsets(offsets.size() * 8), d_out(expected.size() * 32);
  CUDA_OK(cudaMemcpy(d_msgs.ptr, msgs.data(), msgs.size(), cudaMemcpyHostToDevice));
  CUDA_OK(cudaMemcpy(d_offsets.ptr, offsets.data(), offsets.size() * 8, cudaMemcpyHostToDevice));
  nist_kernel<<<2, 128>>>(d_msgs.bytes(), static_cast<const std::uint64_t*>(d_offsets.ptr),
                          static_cast<int>(expected.size()), static_cast<digest256*>(d_out.ptr));
  CUDA_OK(cudaGetLastError());
  const auto got =
      copy_digests_to_host(static_cast<digest256*>(d_out.ptr), expected.size(), nullptr);
  for (std::size_t i = 0; i < expected.size(); ++i) {
    CHECK(got[i].to_hex() == expected[i]);
  }
}

TEST_CASE("Device digests equal the Python reference on every case", "[device][reference]") {
  const auto all = test_util::read_reference_cases();
  REQUIRE(all.size() >= 1000);
  std::map<std::string, std::vector<reference_case>> batches;
  for (const auto& c : all) {
    batches[c.batch_key()].push_back(c);
  }
  for (const auto& [key, cases] : batches) {
    CAPTURE(key);
    std::vector<std::unique_ptr<device_buffer>> storage;
    std::vector<tensor_view> views;
    for (const auto& c : cases) {
      storage.push_back(std::make_unique<device_buffer>(c.buffer.size()));
      CUDA_OK(cudaMemcpy(storage.back()->ptr, c.buffer.data(), c.buffer.size(),
                         cudaMemcpyHostToDevice));
      const auto* base =
          c.buffer.empty() ? nullptr : storage.back()->bytes() + c.offset * size_of(c.type);
      views.push_back(tensor_view(base, c.type, static_cast<int>(c.shape.size()), c.shape.data(),
                                  c.strides.data(), location::cuda(0)));
    }
    const auto got = dispatch(cases[0].mode, cases[0].canon, cases[0].chunk, views);
    for (std::size_t i = 0; i < cases.size(); ++i) {
      CHECK(got[i].to_hex() == cases[i].digest);
    }
  }
}

TEST_CASE("Batches of 1 to 5000 mixed tensors equal the CPU backend", "[device][batch]") {
  std::mt19937_64 rng(5);
  for (std::size_t count : {1u, 7u, 100u, 1000u, 5000u}) {
    CAPTURE(count);
    std::vector<std::size_t> bytes(count);
    std::size_t total = 0;
    for (auto& b : bytes) {
      b = (rng() % 4 == 0 ? rng() % (1u << 20) : rng() % 20000) / 8 * 8;
      total += (b + 255) / 256 * 256;
    }
    std::vector<std::uint8_t> host(total);
    for (auto& x : host)
      x = static_cast<std::uint8_t>(rng());
    device_buffer dev(total);
    CUDA_OK(cudaMemcpy(dev.ptr, host.data(), total, cudaMemcpyHostToDevice));
    std::vector<tensor_view> host_views, dev_views;
    std::size_t at = 0;
    for (std::size_t i = 0; i < count; ++i) {
      const dtype t = static_cast<dtype>(rng() % dtype_count);
      const auto n = static_cast<std::int64_t>(bytes[i] / size_of(t));
      if (i % 3 == 1 && n >= 4) {  // a transposed view
        host_views.push_back(tensor_view(host.data() + at, t, {2, n / 2}, {1, 2}));
      } else {
        host_views.push_back(tensor_view(host.data() + at, t, {n}));
      }
      dev_views.push_back(on_device(host_views.back(), dev.bytes() + at));
      at += (bytes[i] + 255) / 256 * 256;
    }
    host_engine<tree, to_bf16> cpu_tree(tree(4096));
    CHECK(hash_on_device<tree, to_bf16>(dev_views, tree(4096)) == cpu_tree.hash(host_views));
    host_engine<exact> cpu_exact;
    CHECK(hash_on_device<exact, as_stored>(dev_views, exact{}) == cpu_exact.hash(host_views));
    host_engine<exact, to_bf16, blake3> cpu_blake3(exact{});
    CHECK(hash_on_device<exact, to_bf16, blake3>(dev_views, exact{}) ==
          cpu_blake3.hash(host_views));
  }
}

TEST_CASE("A tensor over 4 GiB and a broadcast view past 2^31 elements", "[device][large]") {
  std::size_t free_bytes = 0, total_bytes = 0;
  CUDA_OK(cudaMemGetInfo(&free_bytes, &total_bytes));
  const std::size_t n = (std::size_t{9} << 29);  // 4.5 GiB
  if (free_bytes < n + (std::size_t{1} << 30)) {
    WARN("not enough device memory for the 4.5 GiB tensor: not run");
    return;
  }
  device_buffer dev(n);
  fill_kernel<<<1024, 256>>>(static_cast<std::uint64_t*>(dev.ptr), n / 8, 3);
  CUDA_OK(cudaDeviceSynchronize());
  std::vector<std::uint8_t> host(n);
  CUDA_OK(cudaMemcpy(host.data(), dev.ptr, n, cudaMemcpyDeviceToHost));
  const tensor_view hv(host.data(), dtype::BF16, {static_cast<std::int64_t>(n / 2)});
  host_engine<tree> cpu;
  CHECK(hash_on_device<tree, as_stored>({on_device(hv, dev.ptr)}, tree()) ==
        std::vector<digest256>{cpu.hash(hv)});
  // 3 * 2^30 x 2 broadcast BF16 elements: 12 GiB of canonical bytes from 2 bytes of memory.
  const tensor_view bh(host.data(), dtype::BF16, {std::int64_t{3} << 30, 2}, {0, 1});
  CHECK(hash_on_device<tree, as_stored>({on_device(bh, dev.ptr)}, tree()) ==
        std::vector<digest256>{cpu.hash(bh)});
  host_engine<exact, as_stored, blake3> cpu_blake3(exact{});
  CHECK(hash_on_device<exact, as_stored, blake3>({on_device(hv, dev.ptr)}, exact{}) ==
        std::vector<digest256>{cpu_blake3.hash(hv)});
}

namespace {
template <leaf_load Load, int Pipeline>
struct leaf_variant : leaf_policy_sm90 {
  static constexpr leaf_load load = Load;
  static constexpr int pipeline = Pipeline;
};

struct one_block : leaf_policy_sm90 {
  static constexpr unsigned max_grid_blocks = 1;
};

template <class Canon, class Policy, class Mode = tree, class Hasher = sha256>
std::vector<digest256> hash_batch_with(const std::vector<composite_view>& batch, Mode mode) {
  const device_plan<Mode, Canon, Hasher> plan(batch, mode);
  std::size_t temp_bytes = 0;
  CUDA_OK(plan.template hash_with<Policy>(nullptr, temp_bytes, nullptr, nullptr));
  device_buffer temp(temp_bytes), out(batch.size() * sizeof(digest256));
  auto* d_out = static_cast<digest256*>(out.ptr);
  CUDA_OK(plan.template hash_with<Policy>(temp.ptr, temp_bytes, d_out, nullptr));
  return copy_digests_to_host(d_out, batch.size(), nullptr);
}

/// Every leaf policy on the device against the CPU backend, tree mode (`Mode = tree`) or BLAKE3.
template <class Canon, class Mode, class Hasher>
void check_warp_batch(const std::vector<composite_view>& host_batch,
                      const std::vector<composite_view>& dev_batch, Mode mode) {
  host_engine<Mode, Canon, Hasher> cpu(mode);
  std::vector<digest256> want;
  for (const auto& c : host_batch)
    want.push_back(cpu.hash(c));
  CHECK(hash_batch_with<Canon, leaf_policy_sm90, Mode, Hasher>(dev_batch, mode) == want);
  CHECK(hash_batch_with<Canon, leaf_variant<leaf_load::warp_striped, 1>, Mode, Hasher>(
            dev_batch, mode) == want);
  CHECK(hash_batch_with<Canon, leaf_variant<leaf_load::direct, 1>, Mode, Hasher>(dev_batch, mode) ==
        want);
  // One block: each warp loops over several slot groups, reusing its shared tile and table.
  CHECK(hash_batch_with<Canon, one_block, Mode, Hasher>(dev_batch, mode) == want);
}
}  // namespace

TEST_CASE("Leaf warps: misaligned, converting, strided and composite views equal the CPU backend",
          "[device][warp]") {
  std::vector<std::uint8_t> host(test_util::warp_batch_bytes);
  std::mt19937_64 rng(7);
  for (auto& b : host)
    b = static_cast<std::uint8_t>(rng());
  device_buffer dev(host.size());  // cudaMalloc: 256-byte aligned
  CUDA_OK(cudaMemcpy(dev.ptr, host.data(), host.size(), cudaMemcpyHostToDevice));
  std::vector<std::uint8_t> aligned(host.size() + 16);
  const auto address = reinterpret_cast<std::uintptr_t>(aligned.data());
  std::uint8_t* host_base = aligned.data() + (16 - address % 16) % 16;
  std::copy(host.begin(), host.end(), host_base);
  const auto host_batch = test_util::warp_batch(host_base, location::host());
  const auto dev_batch = test_util::warp_batch(dev.bytes(), location::cuda(0));
  for (std::uint64_t chunk : {std::uint64_t{1024}, std::uint64_t{4096}}) {
    CAPTURE(chunk);
    check_warp_batch<as_stored, tree, sha256>(host_batch, dev_batch, tree(chunk));
    check_warp_batch<to_bf16, tree, sha256>(host_batch, dev_batch, tree(chunk));
  }
  check_warp_batch<as_stored, exact, blake3>(host_batch, dev_batch, exact{});
  check_warp_batch<to_bf16, exact, blake3>(host_batch, dev_batch, exact{});
  check_warp_batch<to_f32, exact, blake3>(host_batch, dev_batch, exact{});
  // Tensors of at most 32 leaves get their digest from the leaf kernel alone: one launch.
  const std::vector<composite_view> small(dev_batch.begin() + 5, dev_batch.begin() + 7);
  CHECK(device_plan<tree>(small, tree(1024)).launches() == 1);
}

TEST_CASE("A captured CUDA graph replays with the same digests and sees new data",
          "[device][graph]") {
  // Declaration order is the lifetime order: the stream and buffers outlive the plan, and the
  // plan outlives the graph captured from it.
  const stream_owner stream;
  const std::size_t bytes = std::size_t{3} << 20;
  device_buffer data(bytes), out(2 * sizeof(digest256));
  // Filled on the stream that hashes: a non-blocking stream would not wait for the legacy one.
  fill_kernel<<<64, 256, 0, stream.s>>>(static_cast<std::uint64_t*>(data.ptr), bytes / 8, 1);
  CUDA_OK(cudaGetLastError());
  const std::vector<tensor_view> views = {
      tensor_view(data.ptr, dtype::BF16, {1024, 1536}, {}, location::cuda(0)),
      tensor_view(data.ptr, dtype::BF16, {1536, 1024}, {1, 1536}, location::cuda(0))};
  device_plan<tree> plan(views, tree(), stream.s);
  std::size_t temp_bytes = 0;
  CUDA_OK(plan.hash(nullptr, temp_bytes, nullptr, stream.s));
  device_buffer temp(temp_bytes);
  auto* d_out = static_cast<digest256*>(out.ptr);
  CUDA_OK(plan.hash(temp.ptr, temp_bytes, d_out, stream.s));
  const auto direct = copy_digests_to_host(d_out, 2, stream.s);

  graph_owner g;
  CUDA_OK(cudaStreamBeginCapture(stream.s, cudaStreamCaptureModeGlobal));
  CUDA_OK(plan.hash(temp.ptr, temp_bytes, d_out, stream.s));
  CUDA_OK(cudaStreamEndCapture(stream.s, &g.graph));
  CUDA_OK(cudaGraphInstantiate(&g.exec, g.graph, 0));
  for (int replay = 0; replay < 2; ++replay) {
    CUDA_OK(cudaMemsetAsync(d_out, 0, 2 * sizeof(digest256), stream.s));
    CUDA_OK(cudaGraphLaunch(g.exec, stream.s));
    CHECK(copy_digests_to_host(d_out, 2, stream.s) == direct);
  }
  fill_kernel<<<64, 256, 0, stream.s>>>(static_cast<std::uint64_t*>(data.ptr), bytes / 8, 2);
  CUDA_OK(cudaGetLastError());
  CUDA_OK(cudaGraphLaunch(g.exec, stream.s));
  const auto changed = copy_digests_to_host(d_out, 2, stream.s);
  CHECK(changed[0] != direct[0]);
  std::vector<std::uint8_t> host(bytes);
  CUDA_OK(cudaMemcpy(host.data(), data.ptr, bytes, cudaMemcpyDeviceToHost));
  CHECK(changed[0] == host_hash(tensor_view(host.data(), dtype::BF16, {1024, 1536})));
}

TEST_CASE("A plan serves any stream, needs no construction stream, and may die with work queued",
          "[device][lifetime]") {
  // 5000 tensors: hundreds of KiB of schedule copied from pageable memory, which a hash on another
  // stream would race (memcheck --track-stream-ordered-races all) if the constructor did not wait.
  const std::size_t count = 5000, each = 4096;
  std::mt19937_64 rng(11);
  std::vector<std::uint8_t> host(count * each);
  for (auto& x : host)
    x = static_cast<std::uint8_t>(rng());
  const stream_owner run;
  device_buffer data(host.size()), out(count * sizeof(digest256));
  CUDA_OK(cudaMemcpyAsync(data.ptr, host.data(), host.size(), cudaMemcpyHostToDevice, run.s));
  std::vector<tensor_view> host_views, dev_views;
  for (std::size_t i = 0; i < count; ++i) {
    host_views.push_back(
        tensor_view(host.data() + i * each, dtype::BF16, {2, static_cast<std::int64_t>(each / 4)}));
    dev_views.push_back(on_device(host_views.back(), data.bytes() + i * each));
  }
  std::unique_ptr<device_plan<tree>> plan;
  {
    const stream_owner build;
    plan = std::make_unique<device_plan<tree>>(dev_views, tree(1024), build.s);
  }  // the construction stream is gone: the plan must not need it any more
  std::size_t temp_bytes = 0;
  CUDA_OK(plan->hash(nullptr, temp_bytes, nullptr, run.s));
  device_buffer temp(temp_bytes);
  auto* d_out = static_cast<digest256*>(out.ptr);
  CUDA_OK(plan->hash(temp.ptr, temp_bytes, d_out, run.s));
  plan.reset();  // the hash may still be running on `run`: the destructor waits for it
  CHECK(copy_digests_to_host(d_out, count, run.s) ==
        host_engine<tree>(tree(1024)).hash(host_views));
}

TEST_CASE("hash reports its own launches, not errors left by earlier calls", "[device][launch]") {
  const stream_owner stream;
  device_buffer data(1 << 20), out(sizeof(digest256));
  CUDA_OK(cudaMemsetAsync(data.ptr, 7, 1 << 20, stream.s));
  const tensor_view v(data.ptr, dtype::U8, {1 << 20}, {}, location::cuda(0));
  const device_plan<tree> plan(std::vector<tensor_view>{v}, tree(), stream.s);
  std::size_t temp_bytes = 0;
  CUDA_OK(plan.hash(nullptr, temp_bytes, nullptr, stream.s));
  device_buffer temp(temp_bytes);
  // A failed call of the caller's own leaves its (non-sticky) error as the thread's last error.
  void* huge = nullptr;
  REQUIRE(cudaMalloc(&huge, std::size_t{1} << 62) != cudaSuccess);
  CHECK(plan.hash(temp.ptr, temp_bytes, static_cast<digest256*>(out.ptr), stream.s) == cudaSuccess);
  (void)cudaGetLastError();
  std::vector<std::uint8_t> host(1 << 20, 7);
  CHECK(copy_digests_to_host(static_cast<digest256*>(out.ptr), 1, stream.s)[0] ==
        host_hash(tensor_view(host.data(), dtype::U8, {1 << 20})));
  // Kernels launch on the current device: a plan made for another one refuses to launch.
  int devices = 0;
  CUDA_OK(cudaGetDeviceCount(&devices));
  if (devices < 2) {
    WARN("one CUDA device: the wrong-device check is covered by cuda_check_test only");
    return;
  }
  CUDA_OK(cudaSetDevice(1));
  const cudaError_t other =
      plan.hash(temp.ptr, temp_bytes, static_cast<digest256*>(out.ptr), nullptr);
  CUDA_OK(cudaSetDevice(0));
  CHECK(other == cudaErrorInvalidDevice);
}

TEST_CASE("Several streams hash concurrently with identical results", "[device][streams]") {
  const std::size_t bytes = std::size_t{16} << 20;
  device_buffer data(bytes);
  fill_kernel<<<256, 256>>>(static_cast<std::uint64_t*>(data.ptr), bytes / 8, 9);
  CUDA_OK(cudaDeviceSynchronize());
  const std::vector<tensor_view> views = {
      tensor_view(data.ptr, dtype::F32, {2048, 2048}, {}, location::cuda(0))};
  constexpr std::size_t streams = 4;
  std::vector<stream_owner> s(streams);
  device_plan<tree, to_bf16> plan(views, tree());
  std::size_t temp_bytes = 0;
  CUDA_OK(plan.hash(nullptr, temp_bytes, nullptr, nullptr));
  std::vector<std::unique_ptr<device_buffer>> temps, outs;
  for (std::size_t i = 0; i < streams; ++i) {
    temps.push_back(std::make_unique<device_buffer>(temp_bytes));
    outs.push_back(std::make_unique<device_buffer>(sizeof(digest256)));
  }
  for (std::size_t i = 0; i < streams; ++i) {
    CUDA_OK(plan.hash(temps[i]->ptr, temp_bytes, static_cast<digest256*>(outs[i]->ptr), s[i].s));
  }
  std::vector<std::uint8_t> host(bytes);
  CUDA_OK(cudaMemcpy(host.data(), data.ptr, bytes, cudaMemcpyDeviceToHost));
  const auto expected =
      host_hash<tree, to_bf16>(tensor_view(host.data(), dtype::F32, {2048, 2048}));
  for (std::size_t i = 0; i < streams; ++i) {
    CHECK(copy_digests_to_host(static_cast<digest256*>(outs[i]->ptr), 1, s[i].s)[0] == expected);
  }
}

TEST_CASE("Host pointers and wrong locations are refused on entry", "[device][error]") {
  std::vector<float> host(16);
  device_buffer dev(64);
  // Marked as host memory.
  const tensor_view h(host.data(), dtype::F32, {16});
  CHECK(code_of([&] { device_plan<tree>(std::vector<tensor_view>{h}); }) ==
        errc::wrong_memory_space);
  // Marked as CUDA memory but really a host pointer.
  const tensor_view lie(host.data(), dtype::F32, {16}, {}, location::cuda(0));
  CHECK(code_of([&] { device_plan<tree>(std::vector<tensor_view>{lie}); }) ==
        errc::wrong_memory_space);
  // A device pointer handed to the host backend through its location.
  const tensor_view d(dev.ptr, dtype::F32, {16}, {}, location::cuda(0));
  CHECK(code_of([&] { host_hash(d); }) == errc::wrong_memory_space);
  // Too little temporary storage is an error code, not a crash.
  device_plan<tree> plan(std::vector<tensor_view>{d});
  std::size_t needed = 0;
  CUDA_OK(plan.hash(nullptr, needed, nullptr, nullptr));
  std::size_t too_small = 0;
  CHECK(plan.hash(dev.ptr, too_small, static_cast<digest256*>(dev.ptr), nullptr) ==
        cudaErrorInvalidValue);
  // An empty batch is a no-op.
  device_plan<exact> none(std::vector<tensor_view>{});
  CHECK(none.size() == 0);
}

int main(int argc, char** argv) {
  return device_test::run(argc, argv);
}
