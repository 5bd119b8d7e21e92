/**
 * @file interop.hpp
 * @brief Digest recipes of other verification tools, bit-compatible, on the host backend.
 *
 * - `sglang_diffusion_digest`: SHA-256 of `str(dtype)` as PyTorch prints it ("torch.bfloat16"),
 *   then `repr(tuple(shape))` ("(4096, 4096)", "(8,)", "()"), then the canonical bytes
 *   (SGLang-diffusion's tensor checker).
 * - `sglang_weights_checksum`: one SHA-256 streamed over the names in code-point order, feeding
 *   each name (UTF-8) and then its tensor's canonical bytes (SGLang's compute_weights_checksum).
 *
 * Both are one sequential stream, hashed on the calling thread.
 */
#pragma once

#include <tensorhash/canonical.hpp>
#include <tensorhash/config.hpp>
#include <tensorhash/detail/canonical_reader.hpp>
#include <tensorhash/error.hpp>
#include <tensorhash/hasher.hpp>
#include <tensorhash/view.hpp>

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

TENSORHASH_NAMESPACE_BEGIN

/// @return the dtype as PyTorch's `str(dtype)` prints it ("torch.float8_e4m3fn", "torch.bool")
inline std::string torch_dtype_name(dtype t) {
  switch (t) {
    case dtype::F64:
      return "torch.float64";
    case dtype::F32:
      return "torch.float32";
    case dtype::F16:
      return "torch.float16";
    case dtype::BF16:
      return "torch.bfloat16";
    case dtype::F8_E4M3:
      return "torch.float8_e4m3fn";
    case dtype::F8_E5M2:
      return "torch.float8_e5m2";
    case dtype::I64:
      return "torch.int64";
    case dtype::I32:
      return "torch.int32";
    case dtype::I16:
      return "torch.int16";
    case dtype::I8:
      return "torch.int8";
    case dtype::U64:
      return "torch.uint64";
    case dtype::U32:
      return "torch.uint32";
    case dtype::U16:
      return "torch.uint16";
    case dtype::U8:
      return "torch.uint8";
    case dtype::BOOL:
      return "torch.bool";
  }
  throw error(errc::unknown_dtype,
              "dtype value " + std::to_string(static_cast<int>(t)) + " is not a known dtype");
}

/// @return Python's `repr(tuple(shape))` of a view: "()", "(8,)", "(4096, 4096)"
inline std::string python_shape_repr(const tensor_view& v) {
  if (v.rank() == 0) {
    return "()";
  }
  std::string s = "(";
  for (int i = 0; i < v.rank(); ++i) {
    s += (i ? ", " : "") + std::to_string(v.shape(i));
  }
  return s + (v.rank() == 1 ? ",)" : ")");
}

namespace detail {
template <class Canon, class Hasher>
void feed_canonical(hash_stream<Hasher>& s, const tensor_view& v) {
  if (v.location().space != memory_space::host) {
    throw error(errc::wrong_memory_space, "interop recipes read host memory only");
  }
  const canonical_reader<Canon> reader(v);
  staging buf;
  reader.read(0, v.numel(), buf, [&](const std::uint8_t* p, std::uint64_t n) { s.update(p, n); });
}
}  // namespace detail

/// @return SHA-256(str(dtype) || repr(tuple(shape)) || canonical bytes); the dtype printed is
///         the canonical one (the tensor's dtype after `.to()`)
template <class Canon = as_stored>
digest256 sglang_diffusion_digest(const tensor_view& v) {
  hash_stream<sha256> s;
  const std::string type = torch_dtype_name(Canon::target(v.dtype()));
  const std::string shape = python_shape_repr(v);
  s.update(type.data(), type.size());
  s.update(shape.data(), shape.size());
  detail::feed_canonical<Canon>(s, v);
  return s.finalize();
}

/// @return one SHA-256 over (name, canonical bytes) pairs in code-point order of the names
/// @throw error invalid_argument when the lists differ in length, duplicate_name
template <class Canon = as_stored>
digest256 sglang_weights_checksum(const std::vector<std::string>& names,
                                  const std::vector<tensor_view>& views) {
  if (names.size() != views.size()) {
    throw error(errc::invalid_argument, "names and views must have the same length");
  }
  std::vector<std::size_t> order(names.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::sort(order.begin(), order.end(),
            [&](std::size_t a, std::size_t b) { return names[a] < names[b]; });
  hash_stream<sha256> s;
  for (std::size_t k = 0; k < order.size(); ++k) {
    const std::string& name = names[order[k]];
    if (k > 0 && name == names[order[k - 1]]) {
      throw error(errc::duplicate_name, "tensor \"" + name + "\" appears twice");
    }
    s.update(name.data(), name.size());
    detail::feed_canonical<Canon>(s, views[order[k]]);
  }
  return s.finalize();
}

TENSORHASH_NAMESPACE_END
