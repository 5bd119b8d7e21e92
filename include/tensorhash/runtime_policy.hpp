/**
 * @file runtime_policy.hpp
 * @brief From the names a manifest, a command line or a Python call carries to the policy types
 *        of the engines: one place, so that every front end (the CLI on CPU and CUDA, the Python
 *        module on host and device tensors) maps the same names to the same types.
 *
 * ```
 * th::with_canonicalization("BF16", "torch-cpu", [&](auto canon) {
 *   return th::with_digest_mode("blake3", 0, [&](auto mode, auto hasher) {
 *     using Hasher = typename decltype(hasher)::type;
 *     th::host_engine<decltype(mode), decltype(canon), Hasher> engine(mode);
 *     return engine.hash(views);
 *   });
 * });
 * ```
 * The names are those of docs/format.md: canonical dtype `""` (as stored), `"BF16"`, `"F32"`;
 * NaN rules `"canonical"`, `"torch-cpu"`, `"torch-cuda"` (BF16 only); digest modes `"exact"`,
 * `"tree"` (with its chunk size) and `"blake3"` (exact mode with BLAKE3). SGLang's 64-bit modes
 * have their own engines (tensorhash/sglang.hpp) and are not named here.
 */
#pragma once

#include <tensorhash/blake3.hpp>
#include <tensorhash/canonical.hpp>
#include <tensorhash/config.hpp>
#include <tensorhash/error.hpp>
#include <tensorhash/hasher.hpp>
#include <tensorhash/modes.hpp>

#include <cstdint>
#include <string>
#include <utility>

TENSORHASH_NAMESPACE_BEGIN

/// A hasher type carried as a value (`typename decltype(tag)::type`).
template <class Hasher>
struct hasher_tag {
  using type = Hasher;
};

/**
 * @brief Calls `f(Canon{})` with the canonicalisation policy that `canonical` and `nan_rule`
 *        name, and returns what it returns.
 * @throw error invalid_argument for an unknown name, or a NaN rule other than the canonical one
 *        without BF16
 */
template <class F>
decltype(auto) with_canonicalization(const std::string& canonical, const std::string& nan_rule,
                                     F&& f) {
  if (nan_rule != nan_canonical::name && nan_rule != nan_torch_cpu::name &&
      nan_rule != nan_torch_cuda::name) {
    throw error(errc::invalid_argument,
                "nan_rule must be \"canonical\", \"torch-cpu\" or "
                "\"torch-cuda\", got \"" +
                    nan_rule + "\"");
  }
  if (canonical == "BF16") {
    if (nan_rule == nan_torch_cpu::name) {
      return std::forward<F>(f)(to_bf16_torch_cpu{});
    }
    if (nan_rule == nan_torch_cuda::name) {
      return std::forward<F>(f)(to_bf16_torch_cuda{});
    }
    return std::forward<F>(f)(to_bf16{});
  }
  if (nan_rule != nan_canonical::name) {
    throw error(errc::invalid_argument,
                "nan_rule \"" + nan_rule + "\" applies to canonical dtype BF16 only");
  }
  if (canonical == "F32") {
    return std::forward<F>(f)(to_f32{});
  }
  if (!canonical.empty()) {
    throw error(errc::invalid_argument,
                "canonical dtype must be none, \"BF16\" or \"F32\", got \"" + canonical + "\"");
  }
  return std::forward<F>(f)(as_stored{});
}

/**
 * @brief Calls `f(mode, hasher_tag<Hasher>{})` for the digest mode `mode` names: `exact{}` with
 *        SHA-256, `tree(chunk_bytes)` with SHA-256, or `exact{}` with BLAKE3 for `"blake3"`.
 * @throw error invalid_argument for another name; invalid_chunk_size for a bad tree chunk
 */
template <class F>
decltype(auto) with_digest_mode(const std::string& mode, std::uint64_t chunk_bytes, F&& f) {
  if (mode == "exact") {
    return std::forward<F>(f)(exact{}, hasher_tag<sha256>{});
  }
  if (mode == "blake3") {
    return std::forward<F>(f)(exact{}, hasher_tag<blake3>{});
  }
  if (mode == "tree") {
    return std::forward<F>(f)(tree(chunk_bytes), hasher_tag<sha256>{});
  }
  throw error(errc::invalid_argument,
              "digest mode must be \"exact\", \"tree\" or \"blake3\", got \"" + mode + "\"");
}

TENSORHASH_NAMESPACE_END
