// GPU throughput of the CUDA backend, timed with CUDA events (manual time), beside a
// device-to-device copy and CPU OpenSSL in the same run.
//
//   device_bench --benchmark_out=device_bench.json --benchmark_out_format=json
//   python3 benchmarks/gpu_report.py table device_bench.json
//
// scripts/gpu-run runs the headline cases and the rest on a GPU; gpu_report.py sets its figures
// against the copy.
//
// Counters: bytes_per_second (tensor bytes), compressions (SHA-256 or BLAKE3 blocks per second).
#include <tensorhash/device.cuh>
#include <tensorhash/sglang_device.cuh>

#include "bench_util.cuh"

#include <benchmark/benchmark.h>
#include <openssl/sha.h>

#include <cuda_runtime.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace th = tensorhash;

namespace {

constexpr std::int64_t MiB = 1 << 20;

using bench::fill;

/// Device memory filled with pseudo-random bytes; null (and an error) when it does not fit.
struct arena {
  void* ptr = nullptr;
  explicit arena(std::size_t bytes) {
    if (cudaMalloc(&ptr, bytes) != cudaSuccess) {
      (void)cudaGetLastError();
      ptr = nullptr;
      return;
    }
    fill<<<2048, 256>>>(static_cast<std::uint64_t*>(ptr), bytes / 8);
    (void)cudaDeviceSynchronize();
  }
  ~arena() { cudaFree(ptr); }
  arena(const arena&) = delete;
  arena& operator=(const arena&) = delete;
  std::uint8_t* bytes() const { return static_cast<std::uint8_t*>(ptr); }
};

/// True when every arena was allocated; else marks the benchmark as skipped, since timing a
/// kernel that reads or writes a null pointer would report a failure as a speed.
bool allocated(benchmark::State& state, std::initializer_list<const arena*> arenas) {
  for (const arena* a : arenas) {
    if (a->ptr == nullptr) {
      state.SkipWithError("not enough device memory");
      return false;
    }
  }
  return true;
}

/// SHA-256 compressions the plan's batch costs (leaves, nodes; or whole messages in exact mode).
std::uint64_t compressions(const std::vector<std::uint64_t>& bytes, std::uint64_t chunk) {
  std::uint64_t total = 0;
  for (std::uint64_t b : bytes) {
    if (chunk == 0) {
      total += (b + 9 + 63) / 64;
      continue;
    }
    const std::uint64_t leaves = (b + chunk - 1) / chunk;
    total += (b / chunk) * ((chunk + 1 + 9 + 63) / 64);
    if (b % chunk != 0)
      total += (b % chunk + 1 + 9 + 63) / 64;
    if (leaves > 1)
      total += 2 * (leaves - 1);
  }
  return total;
}

/// BLAKE3 compressions of a batch: one per 64-byte block of each 1 KiB chunk (an empty input is
/// one block), one per parent.
std::uint64_t blake3_compressions(const std::vector<std::uint64_t>& bytes) {
  std::uint64_t total = 0;
  for (std::uint64_t b : bytes) {
    const std::uint64_t chunks = b == 0 ? 1 : (b + 1023) / 1024;
    total += b == 0 ? 1 : (b + 63) / 64;
    total += chunks - 1;
  }
  return total;
}

/// Times each `call()` (returning a cudaError_t) with CUDA events on the legacy stream, as the
/// benchmark's manual time; a failed call marks the benchmark as skipped.
template <class Call>
void time_calls(benchmark::State& state, Call&& call) {
  cudaEvent_t start, stop;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  for (auto _ : state) {
    cudaEventRecord(start);
    const cudaError_t status = call();
    cudaEventRecord(stop);
    cudaEventSynchronize(stop);
    if (status != cudaSuccess) {
      state.SkipWithError(cudaGetErrorString(status));
      break;
    }
    float ms = 0;
    cudaEventElapsedTime(&ms, start, stop);
    state.SetIterationTime(ms / 1e3);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
}

/// A leaf policy of sm_90 with another load algorithm, pipeline depth and blocks per SM.
template <th::leaf_load Load, int Pipeline, int MinBlocks>
struct leaf_variant : th::leaf_policy_sm90 {
  static constexpr th::leaf_load load = Load;
  static constexpr int pipeline = Pipeline;
  static constexpr int min_blocks_per_sm = MinBlocks;
};

/// Times `plan.hash` (or `hash_with<LeafPolicy>`) with CUDA events; reports tensor bytes and
/// compressions per second (BLAKE3's, or SHA-256's of tree mode at `chunk`, exact at 0).
template <class LeafPolicy = void, class Plan>
void run_plan(benchmark::State& state, const Plan& plan, const std::vector<std::uint64_t>& bytes,
              std::uint64_t chunk) {
  constexpr bool is_blake3 = th::is_blake3_v<typename Plan::hasher_type>;
  const auto hash = [&](void* temp, std::size_t& temp_bytes, th::digest256* out) {
    if constexpr (std::is_void_v<LeafPolicy>) {
      return plan.hash(temp, temp_bytes, out, nullptr);
    } else {
      return plan.template hash_with<LeafPolicy>(temp, temp_bytes, out, nullptr);
    }
  };
  std::size_t temp_bytes = 0;
  const cudaError_t query = hash(nullptr, temp_bytes, nullptr);
  if (query != cudaSuccess) {
    state.SkipWithError(cudaGetErrorString(query));
    return;
  }
  arena temp(temp_bytes), out(plan.size() * sizeof(th::digest256) + 1);
  if (!allocated(state, {&temp, &out})) {
    return;
  }
  time_calls(state,
             [&] { return hash(temp.ptr, temp_bytes, static_cast<th::digest256*>(out.ptr)); });
  std::uint64_t total = 0;
  for (auto b : bytes)
    total += b;
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * total));
  state.counters["compressions"] = benchmark::Counter(
      static_cast<double>(is_blake3 ? blake3_compressions(bytes) : compressions(bytes, chunk)),
      benchmark::Counter::kIsIterationInvariantRate);
  state.counters["launches"] = plan.launches();
  state.counters["items"] = static_cast<double>(plan.items());
}

template <class Mode, class Hasher = th::sha256>
void BM_single(benchmark::State& state) {
  const auto bytes = static_cast<std::size_t>(state.range(0));
  arena a(bytes);
  if (!allocated(state, {&a})) {
    return;
  }
  const th::tensor_view v(a.ptr, th::dtype::BF16, {static_cast<std::int64_t>(bytes / 2)}, {},
                          th::location::cuda(0));
  const th::device_plan<Mode, th::as_stored, Hasher> plan(std::vector<th::tensor_view>{v});
  run_plan(state, plan, {bytes}, std::is_same_v<Mode, th::tree> ? th::tree().chunk_bytes() : 0);
}

/// One 1 GiB BF16 tensor in tree mode with each leaf-kernel variant (load algorithm, pipeline,
/// blocks per SM: 4 leaves 128 registers per thread, no spills; 6 leaves 80, with spills).
template <th::leaf_load Load, int Pipeline, int MinBlocks>
void BM_leaf_variant(benchmark::State& state) {
  const std::size_t bytes = std::size_t{1} << 30;
  arena a(bytes);
  if (!allocated(state, {&a})) {
    return;
  }
  const th::tensor_view v(a.ptr, th::dtype::BF16, {static_cast<std::int64_t>(bytes / 2)}, {},
                          th::location::cuda(0));
  const th::device_plan<th::tree> plan(std::vector<th::tensor_view>{v});
  run_plan<leaf_variant<Load, Pipeline, MinBlocks>>(state, plan, {bytes}, th::tree().chunk_bytes());
}

/// The tile path on 1 GiB read: F32 hashed as BF16 (contiguous, converting; 512 MiB hashed), and
/// a transposed BF16 matrix (strided, as stored). Compare with BM_d2d_copy and BM_single.
template <class Canon, bool Transposed>
void BM_tile_path(benchmark::State& state) {
  const std::size_t bytes = std::size_t{1} << 30;
  arena a(bytes);
  if (!allocated(state, {&a})) {
    return;
  }
  const th::dtype stored = Transposed ? th::dtype::BF16 : th::dtype::F32;
  const std::int64_t n = static_cast<std::int64_t>(bytes / th::size_of(stored)), cols = 4096;
  const th::tensor_view v =
      Transposed
          ? th::tensor_view(a.ptr, stored, {cols, n / cols}, {1, cols}, th::location::cuda(0))
          : th::tensor_view(a.ptr, stored, {n}, {}, th::location::cuda(0));
  const th::device_plan<th::tree, Canon> plan(std::vector<th::tensor_view>{v});
  const std::uint64_t hashed = static_cast<std::uint64_t>(n) * th::size_of(Canon::target(stored));
  run_plan(state, plan, {hashed}, th::tree().chunk_bytes());
}

/// The 7B-shaped state dict, or null (and the benchmark skipped) when it does not fit.
const bench::device_state_dict* state_dict(benchmark::State& state) {
  static const bench::device_state_dict dict(bench::qwen2_5_7b());
  if (dict.base == nullptr) {
    state.SkipWithError("not enough device memory");
    return nullptr;
  }
  return &dict;
}

template <class Mode, class Canon, class Hasher = th::sha256>
void BM_state_dict(benchmark::State& state) {
  const bench::device_state_dict* dict = state_dict(state);
  if (dict == nullptr) {
    return;
  }
  const th::device_plan<Mode, Canon, Hasher> plan(dict->views);
  std::vector<std::uint64_t> bytes;
  for (const auto& v : dict->views) {
    // BF16 stored and hashed as F32: twice the canonical bytes.
    bytes.push_back(std::is_same_v<Canon, th::as_stored> ? v.nbytes() : 2 * v.nbytes());
  }
  run_plan(state, plan, bytes, std::is_same_v<Mode, th::tree> ? th::tree().chunk_bytes() : 0);
  state.counters["tensors"] = static_cast<double>(dict->views.size());
}

// SGLang's 64-bit hash of the whole 7B-shaped state dict: two launches for all 339 tensors.
// SGLang's own path (a Triton launch per tensor, then .item()) is timed on the same shapes by
// benchmarks/sglang_gpu_bench.py in the same scripts/gpu-run; gpu_report.py puts the two together.
void BM_sglang_state_dict(benchmark::State& state) {
  const bench::device_state_dict* dict = state_dict(state);
  if (dict == nullptr) {
    return;
  }
  const th::sglang_device_plan plan(dict->views);
  std::size_t temp_bytes = 0;
  (void)plan.hash(nullptr, temp_bytes, nullptr, nullptr);
  arena temp(temp_bytes), out(plan.size() * sizeof(std::uint64_t));
  if (!allocated(state, {&temp, &out})) {
    return;
  }
  time_calls(state, [&] {
    return plan.hash(temp.ptr, temp_bytes, static_cast<std::uint64_t*>(out.ptr), nullptr);
  });
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * dict->bytes));
  state.counters["tensors"] = static_cast<double>(plan.size());
  state.counters["launches"] = plan.launches();
}

template <class Mode>
void BM_small_tensors(benchmark::State& state) {
  const auto count = static_cast<std::size_t>(state.range(0));
  const std::size_t each = 4096;
  arena a(count * each);
  if (!allocated(state, {&a})) {
    return;
  }
  std::vector<th::tensor_view> views;
  for (std::size_t i = 0; i < count; ++i) {
    views.emplace_back(a.bytes() + i * each, th::dtype::BF16,
                       std::initializer_list<std::int64_t>{static_cast<std::int64_t>(each / 2)},
                       std::initializer_list<std::int64_t>{}, th::location::cuda(0));
  }
  const th::device_plan<Mode> plan(views);
  run_plan(state, plan, std::vector<std::uint64_t>(count, each),
           std::is_same_v<Mode, th::tree> ? th::tree().chunk_bytes() : 0);
}

void BM_d2d_copy(benchmark::State& state) {
  const auto bytes = static_cast<std::size_t>(state.range(0));
  arena src(bytes), dst(bytes);
  if (!allocated(state, {&src, &dst})) {
    return;
  }
  time_calls(state,
             [&] { return cudaMemcpyAsync(dst.ptr, src.ptr, bytes, cudaMemcpyDeviceToDevice); });
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes));
}

void BM_cpu_openssl_sha256(benchmark::State& state) {
  const auto bytes = static_cast<std::size_t>(state.range(0));
  std::vector<unsigned char> data(bytes, 0x5a);
  unsigned char md[SHA256_DIGEST_LENGTH];
  for (auto _ : state) {
    SHA256(data.data(), bytes, md);
    benchmark::DoNotOptimize(md);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes));
  state.counters["compressions"] = benchmark::Counter(
      static_cast<double>((bytes + 72) / 64), benchmark::Counter::kIsIterationInvariantRate);
}

}  // namespace

BENCHMARK(BM_d2d_copy)->Arg(1024 * MiB)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_cpu_openssl_sha256)->Arg(256 * MiB)->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_single, th::tree)
    ->RangeMultiplier(4)
    ->Range(64 * MiB, 16384 * MiB)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_single, th::exact)
    ->Arg(16 * MiB)
    ->Iterations(3)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
// BLAKE3 (b3sum's digest per tensor) on the tree kernels: 1 KiB leaves.
BENCHMARK_TEMPLATE(BM_single, th::exact, th::blake3)
    ->RangeMultiplier(16)
    ->Range(64 * MiB, 4096 * MiB)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_leaf_variant, th::leaf_load::warp_striped, 2, 4)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_leaf_variant, th::leaf_load::warp_striped, 1, 4)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_leaf_variant, th::leaf_load::direct, 1, 4)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_leaf_variant, th::leaf_load::warp_striped, 2, 6)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_tile_path, th::to_bf16, false)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_tile_path, th::as_stored, true)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_state_dict, th::tree, th::as_stored)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_state_dict, th::tree, th::to_f32)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_state_dict, th::exact, th::as_stored, th::blake3)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_small_tensors, th::tree)
    ->Arg(10000)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_TEMPLATE(BM_small_tensors, th::exact)
    ->Arg(10000)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

BENCHMARK(BM_sglang_state_dict)->UseManualTime()->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
