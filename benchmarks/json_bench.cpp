// Reading and writing the JSON of big checkpoints: a safetensors header and a manifest of N
// tensors (an MoE checkpoint has tens of thousands), beside nlohmann-json's own
// plain parse and dump of the same text in the same run (the floor: the strict reader adds the
// duplicate-key, depth and -0 checks, the manifest reader the digest and aggregate checks).
//
//   json_bench --benchmark_counters_tabular=true
//
// items_per_second counts tensors; a linear reader keeps it flat as N grows from 1 000 to
// 100 000 (issue 25: the callback parser and ordered_json's key search made it fall as 1/N).
#include <tensorhash/detail/json_strict.hpp>
#include <tensorhash/manifest_json.hpp>
#include <tensorhash/safetensors.hpp>

#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <vector>

namespace th = tensorhash;

namespace {

std::string name_of(std::int64_t i) {
  return "model.layers." + std::to_string(i / 64) + ".mlp.experts." + std::to_string(i % 64) +
         ".down_proj.weight";
}

/// A safetensors file of n BF16 [2] tensors.
const std::vector<std::uint8_t>& safetensors_bytes(std::int64_t n) {
  static std::int64_t made = -1;
  static std::vector<std::uint8_t> bytes;
  if (made != n) {
    std::string header = "{";
    for (std::int64_t i = 0; i < n; ++i) {
      header += (i ? ",\"" : "\"") + name_of(i) +
                R"(":{"dtype":"BF16","shape":[2],"data_offsets":[)" + std::to_string(4 * i) + "," +
                std::to_string(4 * i + 4) + "]}";
    }
    header += "}";
    bytes.assign(8, 0);
    for (int k = 0; k < 8; ++k)
      bytes[k] = static_cast<std::uint8_t>(header.size() >> (8 * k));
    bytes.insert(bytes.end(), header.begin(), header.end());
    bytes.resize(bytes.size() + 4 * static_cast<std::size_t>(n));
    made = n;
  }
  return bytes;
}

th::manifest manifest_of(std::int64_t n) {
  th::manifest m(th::digest_settings::of<th::tree>(th::tree()));
  for (std::int64_t i = 0; i < n; ++i) {
    th::manifest_entry e;
    e.type = th::dtype::BF16;
    e.shape = {2};
    e.digest = th::hash_bytes<th::sha256>(&i, sizeof i);
    m.add(name_of(i), e);
  }
  return m;
}

void BM_safetensors_header(benchmark::State& state) {
  const auto& bytes = safetensors_bytes(state.range(0));
  for (auto _ : state) {
    benchmark::DoNotOptimize(th::parse_safetensors(bytes.data(), bytes.size(), "bench"));
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

void BM_safetensors_header_plain_nlohmann(benchmark::State& state) {
  const auto& bytes = safetensors_bytes(state.range(0));
  const char* text = reinterpret_cast<const char*>(bytes.data()) + 8;
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        nlohmann::json::parse(text, text + bytes.size() - 8 - 4 * state.range(0)));
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

void BM_manifest_read(benchmark::State& state) {
  const std::string text = th::to_json(manifest_of(state.range(0))).dump(1);
  for (auto _ : state) {
    benchmark::DoNotOptimize(th::manifest_from_json(text, "bench"));
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

void BM_manifest_read_plain_nlohmann(benchmark::State& state) {
  const std::string text = th::to_json(manifest_of(state.range(0))).dump(1);
  for (auto _ : state) {
    benchmark::DoNotOptimize(nlohmann::json::parse(text));
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

void BM_manifest_write(benchmark::State& state) {
  const th::manifest m = manifest_of(state.range(0));
  for (auto _ : state) {
    benchmark::DoNotOptimize(th::to_json(m).dump(1));
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

void BM_manifest_write_plain_nlohmann(benchmark::State& state) {
  const nlohmann::json j = nlohmann::json::parse(th::to_json(manifest_of(state.range(0))).dump());
  for (auto _ : state) {
    benchmark::DoNotOptimize(j.dump(1));
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

}  // namespace

BENCHMARK(BM_safetensors_header)
    ->RangeMultiplier(10)
    ->Range(1000, 100000)
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_safetensors_header_plain_nlohmann)
    ->RangeMultiplier(10)
    ->Range(1000, 100000)
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_manifest_read)
    ->RangeMultiplier(10)
    ->Range(1000, 100000)
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_manifest_read_plain_nlohmann)
    ->RangeMultiplier(10)
    ->Range(1000, 100000)
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_manifest_write)
    ->RangeMultiplier(10)
    ->Range(1000, 100000)
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_manifest_write_plain_nlohmann)
    ->RangeMultiplier(10)
    ->Range(1000, 100000)
    ->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
