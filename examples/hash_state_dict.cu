// Hashes a Llama-shaped BF16 state dict on the GPU in one stream-ordered launch sequence,
// builds a manifest, and checks it against the CPU backend. Without a CUDA device it says so
// and exits 0 (it is an example, not a test).
#include <tensorhash/tensorhash.hpp>

#include <cuda_runtime.h>

#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

namespace th = tensorhash;

namespace {

struct cuda_free {
  void operator()(void* p) const { cudaFree(p); }
};
using device_memory = std::unique_ptr<void, cuda_free>;

device_memory device_alloc(std::size_t bytes) {
  void* p = nullptr;
  TENSORHASH_CUDA_TRY(cudaMalloc(&p, bytes));
  return device_memory(p);
}

struct stream_destroy {
  void operator()(cudaStream_t s) const { cudaStreamDestroy(s); }
};
using stream_owner = std::unique_ptr<std::remove_pointer_t<cudaStream_t>, stream_destroy>;

}  // namespace

int main() {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("no CUDA device: nothing to hash on the GPU\n");
    return 0;
  }
  const std::int64_t hidden = 1024, inter = 2816, vocab = 32000, layers = 4;
  std::vector<std::string> names = {"model.embed_tokens.weight"};
  std::vector<std::vector<std::int64_t>> shapes = {{vocab, hidden}};
  for (std::int64_t l = 0; l < layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    for (const char* n : {"self_attn.qkv_proj.weight", "self_attn.o_proj.weight"}) {
      names.push_back(p + n);
      shapes.push_back({n[10] == 'q' ? 3 * hidden : hidden, hidden});
    }
    names.push_back(p + "mlp.gate_up_proj.weight");
    shapes.push_back({2 * inter, hidden});
    names.push_back(p + "mlp.down_proj.weight");
    shapes.push_back({hidden, inter});
    names.push_back(p + "input_layernorm.weight");
    shapes.push_back({hidden});
  }
  // Host weights, then one device arena with every tensor 256-byte aligned.
  std::mt19937 rng(3);
  std::vector<std::vector<std::uint16_t>> host;
  std::vector<std::uint64_t> offsets;
  std::uint64_t total = 0;
  for (const auto& s : shapes) {
    std::int64_t n = 1;
    for (auto d : s)
      n *= d;
    host.emplace_back(static_cast<std::size_t>(n));
    for (auto& x : host.back())
      x = static_cast<std::uint16_t>(rng());
    offsets.push_back(total);
    total += (static_cast<std::uint64_t>(n) * 2 + 255) / 256 * 256;
  }
  // Owners declared before the plan are released after it (docs/guide.md §3 has the rules): the
  // stream and the tensors outlive it. A graph captured from the plan would be declared after it,
  // to be destroyed first.
  cudaStream_t raw_stream = nullptr;
  TENSORHASH_CUDA_TRY(cudaStreamCreate(&raw_stream));
  const stream_owner owned_stream(raw_stream);
  const cudaStream_t stream = owned_stream.get();
  const device_memory arena_memory = device_alloc(total);
  auto* arena = static_cast<std::uint8_t*>(arena_memory.get());
  std::vector<th::tensor_view> host_views, device_views;
  for (std::size_t i = 0; i < shapes.size(); ++i) {
    TENSORHASH_CUDA_TRY(
        cudaMemcpy(arena + offsets[i], host[i].data(), host[i].size() * 2, cudaMemcpyHostToDevice));
    const int rank = static_cast<int>(shapes[i].size());
    host_views.emplace_back(host[i].data(), th::dtype::BF16, rank, shapes[i].data());
    device_views.emplace_back(arena + offsets[i], th::dtype::BF16, rank, shapes[i].data(), nullptr,
                              th::location::cuda(0));
  }

  // Plan once; each hash is a few launches on `stream` (plan.launches()), no host sync.
  const device_memory digests_memory = device_alloc(names.size() * sizeof(th::digest256));
  auto* d_digests = static_cast<th::digest256*>(digests_memory.get());
  const th::device_plan<th::tree> plan(device_views, th::tree(), stream);
  std::size_t temp_bytes = 0;
  TENSORHASH_CUDA_TRY(plan.hash(nullptr, temp_bytes, nullptr, stream));
  const device_memory temp = device_alloc(temp_bytes);
  TENSORHASH_CUDA_TRY(plan.hash(temp.get(), temp_bytes, d_digests, stream));
  const auto digests = th::copy_digests_to_host(d_digests, names.size(), stream);

  const th::manifest gpu =
      th::make_manifest(th::digest_settings::of<th::tree>(th::tree()), names, host_views, digests);
  th::host_engine<th::tree> cpu_engine;
  const th::manifest cpu = th::make_manifest(cpu_engine, names, host_views);
  std::printf("%zu tensors, %.1f MB, %d launches per hash; GPU aggregate %s\n", names.size(),
              static_cast<double>(total) / 1e6, plan.launches(), gpu.aggregate().to_hex().c_str());
  std::printf("GPU and CPU manifests %s\n", th::compare(cpu, gpu).ok() ? "match" : "DIFFER");
  return th::compare(cpu, gpu).ok() ? 0 : 1;
}
