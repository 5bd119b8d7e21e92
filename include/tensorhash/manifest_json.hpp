/**
 * @file manifest_json.hpp
 * @brief Manifest JSON (format "tensorhash.manifest/1") through nlohmann/json, an optional
 *        dependency: only code that includes this header needs it.
 *
 * ```json
 * {"format": "tensorhash.manifest/1", "algorithm": "sha256-tree", "chunk_bytes": 16384,
 *  "canonical_dtype": null,
 *  "tensors": {"w": {"dtype": "BF16", "shape": [4096, 4096], "digest": "<64 hex>"}},
 *  "aggregate": "<64 hex>"}
 * ```
 * `chunk_bytes` is present for tree manifests only; `"nan_rule": "torch-cpu"` (or
 * `"torch-cuda"`) follows `"canonical_dtype": "BF16"` when that rule was used; a tensor may carry
 * `"leaves": [hex, ...]`. Reading is strict: unknown algorithms, bad digests or shapes, and an
 * aggregate that does not match the tensors are errors.
 */
#pragma once

#include <tensorhash/blake3.hpp>
#include <tensorhash/config.hpp>
#include <tensorhash/detail/file_io.hpp>
#include <tensorhash/detail/json_strict.hpp>
#include <tensorhash/error.hpp>
#include <tensorhash/manifest.hpp>
#include <tensorhash/merkle.hpp>

#include <nlohmann/json.hpp>

#include <string>

TENSORHASH_NAMESPACE_BEGIN

/// Value of the manifest's "format" key.
inline constexpr const char* manifest_format = "tensorhash.manifest/1";

/// @return the manifest as a JSON document (tensors in code-point order of their names)
inline nlohmann::ordered_json to_json(const manifest& m) {
  nlohmann::ordered_json j;
  j["format"] = manifest_format;
  j["algorithm"] = m.settings().algorithm;
  if (m.settings().chunk_bytes != 0) {
    j["chunk_bytes"] = m.settings().chunk_bytes;
  }
  j["canonical_dtype"] = m.settings().canonical_dtype
                             ? nlohmann::ordered_json(to_string(*m.settings().canonical_dtype))
                             : nlohmann::ordered_json(nullptr);
  if (m.settings().nan_rule != nan_canonical::name) {
    j["nan_rule"] = m.settings().nan_rule;
  }
  nlohmann::ordered_json tensors = nlohmann::ordered_json::object();
  for (const auto& [name, e] : m.tensors()) {
    nlohmann::ordered_json t;
    t["dtype"] = to_string(e.type);
    t["shape"] = e.shape;
    t["digest"] = digest_hex(e.digest, m.settings().digest_bytes());
    if (!e.leaves.empty()) {
      nlohmann::ordered_json leaves = nlohmann::ordered_json::array();
      for (const auto& l : e.leaves) {
        leaves.push_back(l.to_hex());
      }
      t["leaves"] = std::move(leaves);
    }
    detail::append_new_key(tensors, name, std::move(t));  // names unique and sorted
  }
  j["tensors"] = std::move(tensors);
  j["aggregate"] = m.aggregate().to_hex();
  return j;
}

namespace detail {
template <class J>
const J& require(const J& obj, const char* key, const std::string& where) {
  const auto it = obj.find(key);
  if (it == obj.end()) {
    throw error(errc::parse_error, where + ": missing \"" + key + "\"");
  }
  return *it;
}

/// A digest of `bytes` (32, or 8 for SGLang's algorithms) hex-encoded bytes, as a digest256.
inline digest256 parse_digest(const nlohmann::json& v, const std::string& where,
                              std::uint32_t bytes = 32) {
  if (!v.is_string()) {
    throw error(errc::parse_error, where + ": digest is not a string");
  }
  try {
    if (bytes == 8) {
      const auto short_digest = basic_digest<8>::from_hex(v.get<std::string>());
      digest256 d{};
      std::copy(short_digest.bytes, short_digest.bytes + 8, d.bytes);
      return d;
    }
    return digest256::from_hex(v.get<std::string>());
  } catch (const error& e) {
    throw error(errc::parse_error, where + ": " + e.message());
  }
}
}  // namespace detail

/**
 * @brief Parses a manifest document.
 * @param label names the source in error messages (a file name)
 * @throw error parse_error naming the source and the offending key or tensor
 */
inline manifest manifest_from_json(const std::string& text, const std::string& label = "manifest") {
  const nlohmann::json j = detail::parse_json_strict(text, label);
  if (!j.is_object()) {
    throw error(errc::parse_error, label + ": not a JSON object");
  }
  const auto& format = detail::require(j, "format", label);
  if (format != manifest_format) {
    throw error(errc::parse_error, label + ": format is not \"" + manifest_format + "\"");
  }
  digest_settings s;
  const auto& algorithm = detail::require(j, "algorithm", label);
  if (algorithm == exact::algorithm || algorithm == blake3::algorithm ||
      algorithm == sglang64::algorithm || algorithm == sglang_cpu64::algorithm) {
    s.algorithm = algorithm.get<std::string>();
    s.chunk_bytes = 0;
  } else if (algorithm == tree::algorithm) {
    const auto& chunk = detail::require(j, "chunk_bytes", label);
    if (!chunk.is_number_unsigned()) {
      throw error(errc::parse_error, label + ": chunk_bytes is not a positive integer");
    }
    try {
      s.chunk_bytes = tree(chunk.get<std::uint64_t>()).chunk_bytes();
    } catch (const error& e) {
      throw error(errc::parse_error, label + ": " + e.message());
    }
  } else {
    throw error(errc::parse_error, label + ": unknown algorithm " + detail::json_brief(algorithm));
  }
  const auto canon = j.find("canonical_dtype");
  if (canon != j.end() && !canon->is_null()) {
    if (*canon != "BF16" && *canon != "F32") {
      throw error(errc::parse_error, label + ": canonical_dtype must be null, \"BF16\" or \"F32\"");
    }
    s.canonical_dtype = dtype_from_string(canon->get<std::string>());
  }
  const auto nan_rule = j.find("nan_rule");
  if (nan_rule != j.end()) {
    if (*nan_rule != nan_canonical::name && *nan_rule != nan_torch_cpu::name &&
        *nan_rule != nan_torch_cuda::name) {
      throw error(errc::parse_error,
                  label + ": nan_rule must be \"canonical\", \"torch-cpu\" or \"torch-cuda\"");
    }
    s.nan_rule = nan_rule->get<std::string>();
    if (s.nan_rule != nan_canonical::name && s.canonical_dtype != dtype::BF16) {
      throw error(errc::parse_error, label + ": nan_rule " + detail::json_brief(*nan_rule) +
                                         " applies to canonical_dtype \"BF16\" only");
    }
  }
  manifest m(s);
  const auto& tensors = detail::require(j, "tensors", label);
  if (!tensors.is_object()) {
    throw error(errc::parse_error, label + ": tensors is not an object");
  }
  for (const auto& [name, t] : tensors.items()) {
    const std::string where = label + ": tensor \"" + name + "\"";
    if (!t.is_object()) {
      throw error(errc::parse_error, where + " is not an object");
    }
    manifest_entry e;
    const auto& type = detail::require(t, "dtype", where);
    try {
      e.type = dtype_from_string(type.is_string() ? detail::clip(type.get<std::string>())
                                                  : detail::json_brief(type));
    } catch (const error& err) {
      throw error(errc::parse_error, where + ": " + err.what());
    }
    const auto& shape = detail::require(t, "shape", where);
    if (!shape.is_array() || shape.size() > static_cast<std::size_t>(max_rank)) {
      throw error(errc::parse_error, where + ": shape is not an array of at most 8 dimensions");
    }
    for (const auto& d : shape) {
      if (!d.is_number_integer() || d.get<std::int64_t>() < 0) {
        throw error(errc::parse_error, where + ": shape holds a non-integer or negative value");
      }
      e.shape.push_back(d.get<std::int64_t>());
    }
    // canonical bytes, checked: a shape of more bytes than SHA-256 takes holds no tensor
    std::uint64_t bytes = size_of(s.canonical_dtype_for(e.type));
    for (const std::int64_t d : e.shape) {
      if (__builtin_mul_overflow(bytes, static_cast<std::uint64_t>(d), &bytes) ||
          bytes > max_message_bytes) {
        throw error(errc::parse_error,
                    where + ": shape holds more bytes than the 2^61-1-byte message limit");
      }
    }
    e.digest = detail::parse_digest(detail::require(t, "digest", where), where, s.digest_bytes());
    const auto leaves = t.find("leaves");
    if (leaves != t.end()) {
      if (!leaves->is_array()) {
        throw error(errc::parse_error, where + ": leaves is not an array");
      }
      for (const auto& l : *leaves) {
        e.leaves.push_back(detail::parse_digest(l, where));
      }
    }
    if (!e.leaves.empty()) {
      if (s.leaf_bytes() == 0) {
        throw error(errc::parse_error,
                    where + ": leaves in a manifest that is not sha256-tree or blake3");
      }
      const std::uint64_t chunks = (bytes + s.leaf_bytes() - 1) / s.leaf_bytes();
      if (e.leaves.size() != chunks) {
        throw error(errc::parse_error, where + ": " + std::to_string(e.leaves.size()) +
                                           " leaves, but its " + std::to_string(bytes) +
                                           " bytes make " + std::to_string(chunks) + " chunks");
      }
      if ((s.algorithm == blake3::algorithm ? blake3_root(e.leaves)
                                            : merkle_root<sha256>(e.leaves)) != e.digest) {
        throw error(errc::parse_error, where + ": leaves do not hash to its digest");
      }
    }
    m.add(name, std::move(e));
  }
  const auto& aggregate = detail::require(j, "aggregate", label);
  if (detail::parse_digest(aggregate, label + ": aggregate") != m.aggregate()) {
    throw error(errc::parse_error, label + ": aggregate does not match the tensors' digests");
  }
  return m;
}

/// @return a comparison as JSON: {"ok", "settings_differ", "settings_note", "matched",
///         "mismatched": [{name, expected, actual}], "metadata": [{name, expected, actual}],
///         "missing", "unexpected"}
inline nlohmann::ordered_json to_json(const comparison& c) {
  const auto meta = [](const manifest_entry& e) {
    return nlohmann::ordered_json{{"dtype", to_string(e.type)}, {"shape", e.shape}};
  };
  nlohmann::ordered_json j;
  j["ok"] = c.ok();
  j["settings_differ"] = c.settings_differ;
  j["settings_note"] = c.settings_note;
  j["matched"] = c.matched;
  j["mismatched"] = nlohmann::ordered_json::array();
  for (const auto& m : c.mismatched) {
    j["mismatched"].push_back({{"name", m.name},
                               {"expected", digest_hex(m.expected, c.digest_bytes)},
                               {"actual", digest_hex(m.actual, c.digest_bytes)}});
  }
  j["metadata"] = nlohmann::ordered_json::array();
  for (const auto& m : c.metadata) {
    j["metadata"].push_back(
        {{"name", m.name}, {"expected", meta(m.expected)}, {"actual", meta(m.actual)}});
  }
  j["missing"] = c.missing;
  j["unexpected"] = c.unexpected;
  return j;
}

/// @brief Reads a manifest file. @throw error io_error, parse_error naming the file
inline manifest read_manifest(const std::string& path) {
  return manifest_from_json(detail::read_whole_file(path), path);
}

/// @brief Writes a manifest file atomically (never half a file). @throw error io_error
inline void write_manifest(const std::string& path, const manifest& m) {
  detail::write_file_atomically(path, to_json(m).dump(1) + "\n");
}

TENSORHASH_NAMESPACE_END
