// CPU backend throughput beside OpenSSL's SHA-256 on the same buffer, in the same run.
//
//   host_bench --benchmark_format=json > cpu.json && python3 benchmarks/report.py cpu.json
//
// Every benchmark reports bytes_per_second of tensor bytes (stored bytes for the converting
// ones); report.py turns them into GB/s and the ratios we track: exact and tree vs OpenSSL per
// core and on all cores, a many-tensor exact batch vs OpenSSL over the same tensors, converting
// and transposed paths vs the same bytes hashed as stored and contiguous; SGLang's 64-bit hash
// per word loop and thread count vs a plain read of the same bytes (the memory ceiling); BLAKE3
// per SIMD path and thread count vs OpenSSL's SHA-256 and the SHA-256 tree on the same buffer.
#include <tensorhash/host.hpp>
#include <tensorhash/sglang.hpp>

#include <benchmark/benchmark.h>
#include <openssl/sha.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <thread>
#include <vector>

namespace th = tensorhash;

namespace {

const std::vector<std::uint8_t>& buffer(std::size_t bytes) {
  static std::vector<std::uint8_t> data;
  if (data.size() < bytes) {
    data.resize(bytes);
    std::mt19937_64 rng(1);
    for (std::size_t i = 0; i < data.size(); i += 8) {
      const std::uint64_t v = rng();
      for (std::size_t j = 0; j < 8 && i + j < data.size(); ++j) {
        data[i + j] = static_cast<std::uint8_t>(v >> (8 * j));
      }
    }
  }
  return data;
}

th::tensor_view bf16_view(std::size_t bytes) {
  return th::tensor_view(buffer(bytes).data(), th::dtype::BF16,
                         {static_cast<std::int64_t>(bytes / 2)});
}

void BM_openssl_sha256(benchmark::State& state) {
  const auto bytes = static_cast<std::size_t>(state.range(0));
  const auto& data = buffer(bytes);
  unsigned char md[SHA256_DIGEST_LENGTH];
  for (auto _ : state) {
    SHA256(data.data(), bytes, md);
    benchmark::DoNotOptimize(md);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes));
}

void BM_exact(benchmark::State& state) {
  const auto bytes = static_cast<std::size_t>(state.range(0));
  th::host_engine<th::exact> engine(th::exact{}, 1);
  const auto v = bf16_view(bytes);
  for (auto _ : state) {
    benchmark::DoNotOptimize(engine.hash(v));
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes));
}

void BM_tree(benchmark::State& state) {
  const auto bytes = static_cast<std::size_t>(state.range(0));
  const auto threads = static_cast<unsigned>(state.range(1));
  th::host_engine<th::tree> engine(th::tree(static_cast<std::uint64_t>(state.range(2))), threads);
  const auto v = bf16_view(bytes);
  for (auto _ : state) {
    benchmark::DoNotOptimize(engine.hash(v));
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes));
}

// BLAKE3 (exact mode) through one hash_many path, on `threads` threads.
template <th::blake3_impl Impl>
void BM_blake3(benchmark::State& state) {
  if (!th::basic_blake3<Impl>::available()) {
    state.SkipWithError("this CPU lacks the path's instructions");
    return;
  }
  const auto bytes = static_cast<std::size_t>(state.range(0));
  th::host_engine<th::exact, th::as_stored, th::basic_blake3<Impl>> engine(
      th::exact{}, static_cast<unsigned>(state.range(1)));
  const auto v = bf16_view(bytes);
  for (auto _ : state) {
    benchmark::DoNotOptimize(engine.hash(v));
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes));
}

// exact through the strided path: a transposed view, gathered piece by piece.
void BM_exact_transposed(benchmark::State& state) {
  const auto bytes = static_cast<std::size_t>(state.range(0));
  const std::int64_t cols = 4096;
  const std::int64_t rows = static_cast<std::int64_t>(bytes / 2) / cols;
  th::host_engine<th::exact> engine(th::exact{}, 1);
  const th::tensor_view v(buffer(bytes).data(), th::dtype::BF16, {cols, rows}, {1, cols});
  for (auto _ : state) {
    benchmark::DoNotOptimize(engine.hash(v));
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes));
}

// exact with on-the-fly F32 -> BF16 canonicalisation (bytes counted as stored F32 input).
void BM_exact_f32_to_bf16(benchmark::State& state) {
  const auto bytes = static_cast<std::size_t>(state.range(0));
  th::host_engine<th::exact, th::to_bf16> engine(th::exact{}, 1);
  const th::tensor_view v(buffer(bytes).data(), th::dtype::F32,
                          {static_cast<std::int64_t>(bytes / 4)});
  for (auto _ : state) {
    benchmark::DoNotOptimize(engine.hash(v));
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes));
}

// exact on F32 hashed as stored: the reference for the converting benchmarks.
void BM_exact_f32_as_stored(benchmark::State& state) {
  const auto bytes = static_cast<std::size_t>(state.range(0));
  th::host_engine<th::exact> engine(th::exact{}, 1);
  const th::tensor_view v(buffer(bytes).data(), th::dtype::F32,
                          {static_cast<std::int64_t>(bytes / 4)});
  for (auto _ : state) {
    benchmark::DoNotOptimize(engine.hash(v));
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes));
}

// exact with F16 -> F32 canonicalisation (bytes counted as stored F16 input).
void BM_exact_f16_to_f32(benchmark::State& state) {
  const auto bytes = static_cast<std::size_t>(state.range(0));
  th::host_engine<th::exact, th::to_f32> engine(th::exact{}, 1);
  const th::tensor_view v(buffer(bytes).data(), th::dtype::F16,
                          {static_cast<std::int64_t>(bytes / 2)});
  for (auto _ : state) {
    benchmark::DoNotOptimize(engine.hash(v));
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes));
}

// A batch of 1 MiB BF16 tensors (a state dict's many mid-sized tensors), exact mode.
std::vector<th::tensor_view> batch_views(std::size_t bytes) {
  constexpr std::size_t each = std::size_t{1} << 20;
  std::vector<th::tensor_view> views;
  for (std::size_t at = 0; at + each <= bytes; at += each) {
    views.emplace_back(buffer(bytes).data() + at, th::dtype::BF16,
                       std::initializer_list<std::int64_t>{static_cast<std::int64_t>(each / 2)});
  }
  return views;
}

void BM_openssl_batch(benchmark::State& state) {
  const auto bytes = static_cast<std::size_t>(state.range(0));
  const auto views = batch_views(bytes);
  unsigned char md[SHA256_DIGEST_LENGTH];
  for (auto _ : state) {
    for (const auto& v : views) {
      SHA256(static_cast<const unsigned char*>(v.data()), v.nbytes(), md);
      benchmark::DoNotOptimize(md);
    }
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes));
}

void BM_exact_batch(benchmark::State& state) {
  const auto bytes = static_cast<std::size_t>(state.range(0));
  const auto views = batch_views(bytes);
  th::host_engine<th::exact> engine(th::exact{}, static_cast<unsigned>(state.range(1)));
  std::vector<th::digest256> out(views.size());
  for (auto _ : state) {
    engine.hash(views.data(), views.size(), out.data());
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes));
}

// Tree mode on one thread with a forced SHA-256 implementation and stream count: the
// interleaving that host_tuning<0> picks per CPU, measured against its alternatives.
template <th::sha256_impl Impl, unsigned Streams>
void BM_tree_streams(benchmark::State& state) {
  const auto& cpu = th::detail::host_cpu();
  if ((Impl == th::sha256_impl::shani && !cpu.sha_ni) ||
      (Impl == th::sha256_impl::avx512 && !cpu.avx512)) {
    state.SkipWithError("this CPU lacks the instruction set");
    return;
  }
  const auto bytes = static_cast<std::size_t>(state.range(0));
  th::host_engine<th::tree, th::as_stored, th::basic_sha256<Impl>, th::host_tuning<Streams>> engine(
      th::tree(), 1);
  const auto v = bf16_view(bytes);
  for (auto _ : state) {
    benchmark::DoNotOptimize(engine.hash(v));
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes));
}

// SGLang's GPU hash on the CPU (sglang.hpp): range(1) the word loop (sglang_impl), range(2)
// threads. Skipped where the CPU lacks the instruction set.
void BM_sglang64(benchmark::State& state) {
  const auto bytes = static_cast<std::size_t>(state.range(0));
  const auto impl = static_cast<th::sglang_impl>(state.range(1));
  std::unique_ptr<th::sglang_engine<>> engine;
  try {
    engine = std::make_unique<th::sglang_engine<>>(static_cast<unsigned>(state.range(2)), impl);
  } catch (const th::error& e) {
    state.SkipWithError(e.what());
    return;
  }
  const auto v = bf16_view(bytes);
  for (auto _ : state) {
    benchmark::DoNotOptimize(engine->hash(v));
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes));
}

// SGLang's CPU recipe (the first 8 bytes of SHA-256): one chain, like OpenSSL.
void BM_sglang_cpu64(benchmark::State& state) {
  const auto bytes = static_cast<std::size_t>(state.range(0));
  th::sglang_engine<th::sglang_cpu64> engine(1);
  const auto v = bf16_view(bytes);
  for (auto _ : state) {
    benchmark::DoNotOptimize(engine.hash(v));
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes));
}

// The memory ceiling: every 8-byte word of the buffer XORed together on range(1) threads.
void BM_memory_read(benchmark::State& state) {
  const auto bytes = static_cast<std::size_t>(state.range(0));
  const auto threads = static_cast<std::size_t>(state.range(1));
  const auto& data = buffer(bytes);
  const auto read = [&](std::size_t begin, std::size_t end, std::uint64_t* out) {
    std::uint64_t acc = 0;
    for (std::size_t i = begin; i < end; i += 8) {
      std::uint64_t w;
      std::memcpy(&w, data.data() + i, 8);
      acc ^= w;
    }
    *out = acc;
  };
  std::vector<std::uint64_t> sums(threads);
  for (auto _ : state) {
    std::vector<std::thread> pool;
    const std::size_t part = bytes / threads / 8 * 8;
    for (std::size_t t = 1; t < threads; ++t) {
      pool.emplace_back(read, t * part, t + 1 == threads ? bytes : (t + 1) * part, &sums[t]);
    }
    read(0, threads == 1 ? bytes : part, &sums[0]);
    for (auto& th : pool) {
      th.join();
    }
    benchmark::DoNotOptimize(sums.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes));
}

void sglang_args(benchmark::internal::Benchmark* b) {
  for (const auto impl :
       {th::sglang_impl::scalar, th::sglang_impl::avx2, th::sglang_impl::avx512}) {
    for (std::int64_t threads : {1, 2}) {
      b->Args({256 << 20, static_cast<std::int64_t>(impl), threads});
    }
  }
}

constexpr std::int64_t MiB = 1 << 20;

void sizes(benchmark::internal::Benchmark* b) {
  for (std::int64_t m : {1, 16, 256, 1024}) {
    b->Arg(m * MiB);
  }
}

void tree_args(benchmark::internal::Benchmark* b) {
  for (std::int64_t m : {1, 16, 256, 1024}) {
    for (std::int64_t threads : {1, 2}) {
      b->Args({m * MiB, threads, th::tree::default_chunk_bytes});
    }
  }
}

void chunk_sweep(benchmark::internal::Benchmark* b) {
  for (std::int64_t chunk = 1024; chunk <= (16 << 20); chunk *= 4) {
    b->Args({256 * MiB, 1, chunk});
  }
}

}  // namespace

BENCHMARK(BM_openssl_sha256)->Apply(sizes)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_exact)->Apply(sizes)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_tree)->Apply(tree_args)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_tree)
    ->Name("BM_tree_chunk_sweep")
    ->Apply(chunk_sweep)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_exact_transposed)->Arg(256 * MiB)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_exact_f32_to_bf16)->Arg(256 * MiB)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_exact_f32_as_stored)->Arg(256 * MiB)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_exact_f16_to_f32)->Arg(256 * MiB)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_openssl_batch)->Arg(256 * MiB)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_exact_batch)
    ->Args({256 * MiB, 1})
    ->Args({256 * MiB, 2})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

BENCHMARK(BM_tree_streams<th::sha256_impl::shani, 1>)
    ->Arg(256 * MiB)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_tree_streams<th::sha256_impl::shani, 2>)
    ->Arg(256 * MiB)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_tree_streams<th::sha256_impl::shani, 3>)
    ->Arg(256 * MiB)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_tree_streams<th::sha256_impl::avx512, 16>)
    ->Arg(256 * MiB)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_blake3<th::blake3_impl::portable>)
    ->Args({256 * MiB, 1})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_blake3<th::blake3_impl::sse41>)
    ->Args({256 * MiB, 1})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_blake3<th::blake3_impl::avx2>)
    ->Args({256 * MiB, 1})
    ->Args({256 * MiB, 2})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_blake3<th::blake3_impl::avx512>)
    ->Args({256 * MiB, 1})
    ->Args({256 * MiB, 2})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_sglang64)->Apply(sglang_args)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_sglang_cpu64)->Arg(256 * MiB)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_memory_read)
    ->Args({256 * MiB, 1})
    ->Args({256 * MiB, 2})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

BENCHMARK_MAIN();
