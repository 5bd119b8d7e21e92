// Shared by the GPU benchmarks: pseudo-random device data and the Qwen2.5-7B-shaped BF16 state
// dict (339 tensors, 15.2 GB) that device_bench and hybrid_bench hash, in one device allocation.
#pragma once

#include <tensorhash/view.hpp>

#include <cuda_runtime.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace bench {
namespace {

/// p[0..n) = a splitmix64 sequence: incompressible bytes, written on the device.
__global__ void fill(std::uint64_t* p, std::uint64_t n) {
  for (std::uint64_t i = blockIdx.x * std::uint64_t{blockDim.x} + threadIdx.x; i < n;
       i += std::uint64_t{gridDim.x} * blockDim.x) {
    std::uint64_t z = (i + 1) * 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    p[i] = z ^ (z >> 27);
  }
}

}  // namespace

using parameter_list = std::vector<std::pair<std::string, std::vector<std::int64_t>>>;

/// (name, shape) of every parameter of Qwen2.5-7B (hidden 3584, intermediate 18944, 28 heads
/// of 128, 4 kv heads, vocabulary 152064, untied lm_head), with `layers` decoder layers.
inline parameter_list qwen2_5_7b(std::int64_t layers = 28) {
  const std::int64_t vocab = 152064, hidden = 3584, inter = 18944, kv = 512;
  parameter_list p;
  p.push_back({"model.embed_tokens.weight", {vocab, hidden}});
  for (std::int64_t l = 0; l < layers; ++l) {
    const std::string pre = "model.layers." + std::to_string(l) + ".";
    p.push_back({pre + "self_attn.q_proj.weight", {hidden, hidden}});
    p.push_back({pre + "self_attn.q_proj.bias", {hidden}});
    p.push_back({pre + "self_attn.k_proj.weight", {kv, hidden}});
    p.push_back({pre + "self_attn.k_proj.bias", {kv}});
    p.push_back({pre + "self_attn.v_proj.weight", {kv, hidden}});
    p.push_back({pre + "self_attn.v_proj.bias", {kv}});
    p.push_back({pre + "self_attn.o_proj.weight", {hidden, hidden}});
    p.push_back({pre + "mlp.gate_proj.weight", {inter, hidden}});
    p.push_back({pre + "mlp.up_proj.weight", {inter, hidden}});
    p.push_back({pre + "mlp.down_proj.weight", {hidden, inter}});
    p.push_back({pre + "input_layernorm.weight", {hidden}});
    p.push_back({pre + "post_attention_layernorm.weight", {hidden}});
  }
  p.push_back({"model.norm.weight", {hidden}});
  p.push_back({"lm_head.weight", {vocab, hidden}});
  return p;
}

/// BF16 tensors of the given shapes in one device allocation, each 256-byte aligned, filled
/// with pseudo-random bytes. `base` is null (and `views` empty) when it does not fit.
struct device_state_dict {
  void* base = nullptr;
  std::uint64_t bytes = 0;  ///< tensor bytes, without alignment padding
  std::uint64_t span = 0;   ///< bytes of the allocation
  std::vector<tensorhash::tensor_view> views;

  explicit device_state_dict(const parameter_list& params) {
    std::vector<std::uint64_t> at;
    for (const auto& param : params) {
      std::uint64_t n = 2;
      for (auto d : param.second) {
        n *= static_cast<std::uint64_t>(d);
      }
      at.push_back(span);
      bytes += n;
      span += (n + 255) / 256 * 256;
    }
    if (cudaMalloc(&base, span) != cudaSuccess) {
      (void)cudaGetLastError();
      base = nullptr;
      return;
    }
    fill<<<2048, 256>>>(static_cast<std::uint64_t*>(base), span / 8);
    (void)cudaDeviceSynchronize();
    for (std::size_t i = 0; i < params.size(); ++i) {
      const auto& shape = params[i].second;
      views.emplace_back(static_cast<std::uint8_t*>(base) + at[i], tensorhash::dtype::BF16,
                         static_cast<int>(shape.size()), shape.data(), nullptr,
                         tensorhash::location::cuda(0));
    }
  }
  ~device_state_dict() { cudaFree(base); }
  device_state_dict(const device_state_dict&) = delete;
  device_state_dict& operator=(const device_state_dict&) = delete;
};

}  // namespace bench
