/**
 * @file sglang_checksum_json.hpp
 * @brief SGLang's weight-checker replies as JSON (nlohmann/json): read in any of the three forms
 *        SGLang produces, and written as its HTTP reply.
 *
 * Accepted (docs/format.md §4.6):
 * - the HTTP reply of `/weights_checker` with action "checksum":
 *   `{"success": true, "message": ..., "ranks": [ChecksumInfo, ...], "per_engine_checksum": hex}`;
 * - a list of ChecksumInfo (one per GPU, as `TokenizerManager.check_weights` returns them);
 * - one ChecksumInfo: `{"checksums": {name: 16 hex}, "per_gpu_checksum": 64 hex,
 *   "parallelism_info": {...} or [{...}, ...]}` (an object in `WeightChecker`, a list of one per
 *   role on the wire).
 *
 * Reading is strict, like SGLang's own models (`extra="forbid"`): unknown keys, digests that are
 * not lowercase hex of the right length, a `per_gpu_checksum` that is not the SHA-256 of the
 * rank's checksums, or a `per_engine_checksum` that is not the SHA-256 of the ranks' are errors.
 */
#pragma once

#include <tensorhash/config.hpp>
#include <tensorhash/detail/file_io.hpp>
#include <tensorhash/detail/json_strict.hpp>
#include <tensorhash/error.hpp>
#include <tensorhash/manifest_json.hpp>
#include <tensorhash/sglang_checksum.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <variant>
#include <vector>

TENSORHASH_NAMESPACE_BEGIN

namespace detail {
namespace sglang_json {

[[noreturn]] inline void bad(const std::string& where, const std::string& what) {
  throw error(errc::parse_error, where + ": " + what);
}

inline void only_keys(const nlohmann::json& obj, const std::set<std::string>& allowed,
                      const std::string& where) {
  for (const auto& [key, value] : obj.items()) {
    (void)value;
    if (allowed.count(key) == 0) {
      bad(where, "unknown key \"" + key + "\"");
    }
  }
}

/// Lowercase hex of exactly `digits` digits, as SGLang prints it (the checksums hash the text).
inline std::string lower_hex(const nlohmann::json& v, std::size_t digits,
                             const std::string& where) {
  if (!v.is_string()) {
    bad(where, "not a string");
  }
  const std::string s = v.get<std::string>();
  if (s.size() != digits || s.find_first_not_of("0123456789abcdef") != std::string::npos) {
    bad(where, "not " + std::to_string(digits) + " lowercase hex digits");
  }
  return s;
}

inline std::int64_t integer(const nlohmann::json& obj, const char* key, bool required,
                            std::int64_t fallback, const std::string& where) {
  const auto it = obj.find(key);
  if (it == obj.end()) {
    if (required) {
      bad(where, std::string("missing \"") + key + "\"");
    }
    return fallback;
  }
  if (!it->is_number_integer() || it->get<std::int64_t>() < 0) {
    bad(where, std::string("\"") + key + "\" is not a non-negative integer");
  }
  return it->get<std::int64_t>();
}

inline sglang_parallelism parallelism(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object()) {
    bad(where, "parallelism_info is not an object");
  }
  only_keys(
      j, {"role", "tp_rank", "tp_size", "dp_rank", "dp_size", "pp_rank", "pp_size", "rank", "size"},
      where);
  sglang_parallelism p;
  const auto role = j.find("role");
  if (role == j.end() || !role->is_string()) {
    bad(where, "parallelism_info has no \"role\" string");
  }
  p.role = role->get<std::string>();
  p.tp_rank = integer(j, "tp_rank", true, 0, where);
  p.tp_size = integer(j, "tp_size", true, 1, where);
  p.dp_rank = integer(j, "dp_rank", false, 0, where);
  p.dp_size = integer(j, "dp_size", false, 1, where);
  p.pp_rank = integer(j, "pp_rank", false, 0, where);
  p.pp_size = integer(j, "pp_size", false, 1, where);
  p.rank = integer(j, "rank", false, p.tp_rank, where);
  p.size = integer(j, "size", false, p.tp_size, where);
  if (p.tp_rank >= p.tp_size || p.dp_rank >= p.dp_size || p.pp_rank >= p.pp_size ||
      p.rank >= p.size) {
    bad(where, "a rank in parallelism_info is not below its size");
  }
  return p;
}

inline sglang_rank_checksums rank(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object()) {
    bad(where, "not a ChecksumInfo object");
  }
  only_keys(j, {"checksums", "per_gpu_checksum", "parallelism_info"}, where);
  sglang_rank_checksums r;
  const auto checksums = j.find("checksums");
  if (checksums == j.end() || !checksums->is_object()) {
    bad(where, "missing \"checksums\" object");
  }
  for (const auto& [name, hex] : checksums->items()) {
    const std::string h = lower_hex(hex, 16, where + ": checksum of \"" + name + "\"");
    r.checksums.emplace(name, std::stoull(h, nullptr, 16));
  }
  const auto per_gpu = j.find("per_gpu_checksum");
  if (per_gpu == j.end()) {
    bad(where, "missing \"per_gpu_checksum\"");
  }
  r.per_gpu_checksum = digest256::from_hex(lower_hex(*per_gpu, 64, where + ": per_gpu_checksum"));
  if (r.per_gpu_checksum != sglang_per_gpu_checksum(r.checksums)) {
    bad(where, "per_gpu_checksum " + r.per_gpu_checksum.to_hex() +
                   " is not the SHA-256 of this rank's checksums (" +
                   sglang_per_gpu_checksum(r.checksums).to_hex() + ")");
  }
  const auto info = j.find("parallelism_info");
  if (info == j.end()) {
    bad(where, "missing \"parallelism_info\"");
  }
  r.parallelism.clear();
  if (info->is_array()) {
    for (const auto& p : *info) {
      r.parallelism.push_back(parallelism(p, where));
    }
  } else {
    r.parallelism.push_back(parallelism(*info, where));
  }
  if (r.parallelism.empty()) {
    bad(where, "parallelism_info is an empty list");
  }
  for (const auto& p : r.parallelism) {
    const sglang_parallelism& first = r.parallelism.front();
    if (p.tp_rank != first.tp_rank || p.dp_rank != first.dp_rank || p.pp_rank != first.pp_rank ||
        p.tp_size != first.tp_size || p.dp_size != first.dp_size || p.pp_size != first.pp_size) {
      bad(where, "the roles of one ChecksumInfo name different GPUs");
    }
  }
  return r;
}

}  // namespace sglang_json
}  // namespace detail

/**
 * @brief Reads an SGLang checksum reply (HTTP reply, list of ChecksumInfo, or one ChecksumInfo).
 * @param label names the source in error messages (a file name)
 * @throw error parse_error naming the source, the rank and the key; invalid_argument when the
 *        HTTP reply reports that the engine failed
 */
inline sglang_checksums sglang_checksums_from_json(const nlohmann::json& j,
                                                   const std::string& label = "reply") {
  namespace sj = detail::sglang_json;
  sglang_checksums out;
  const nlohmann::json* ranks = &j;
  if (j.is_object() && j.contains("checksums")) {
    out.ranks.push_back(sj::rank(j, label));
    return out;
  }
  if (j.is_object()) {
    sj::only_keys(j, {"success", "message", "ranks", "per_engine_checksum"}, label);
    const auto success = j.find("success");
    if (success != j.end() && !success->is_boolean()) {
      sj::bad(label, "\"success\" is not true or false");  // "false", a string, is no success
    }
    if (success != j.end() && *success == false) {
      const auto message = j.find("message");
      throw error(errc::invalid_argument,
                  label + ": the engine reported a failure: " +
                      (message != j.end() && message->is_string() ? message->get<std::string>()
                                                                  : std::string("(no message)")));
    }
    const auto r = j.find("ranks");
    if (r == j.end()) {
      sj::bad(label, "neither a manifest nor an SGLang reply (no \"ranks\" or \"checksums\")");
    }
    ranks = &*r;
    const auto engine = j.find("per_engine_checksum");
    if (engine != j.end()) {
      out.per_engine_checksum =
          digest256::from_hex(sj::lower_hex(*engine, 64, label + ": per_engine_checksum"));
    }
  }
  if (!ranks->is_array() || ranks->empty()) {
    sj::bad(label, "the ranks are not a non-empty list of ChecksumInfo");
  }
  // Every (role, pp, dp, tp) a ChecksumInfo names: an exact repeat of one is a GPU listed twice.
  using gpu = std::tuple<std::string, std::int64_t, std::int64_t, std::int64_t>;
  std::set<std::vector<gpu>> gpus;
  for (std::size_t i = 0; i < ranks->size(); ++i) {
    out.ranks.push_back(sj::rank((*ranks)[i], label + ": rank " + std::to_string(i)));
    // One engine's GPUs: the same tp/dp/pp sizes, each GPU once (a repeated or foreign rank
    // would otherwise compare as if it stood for the missing one).
    const sglang_parallelism& p = out.ranks.back().parallelism.front();
    const sglang_parallelism& first = out.ranks.front().parallelism.front();
    if (std::tie(p.tp_size, p.dp_size, p.pp_size) !=
        std::tie(first.tp_size, first.dp_size, first.pp_size)) {
      sj::bad(label, "rank " + std::to_string(i) + " (" + out.ranks.back().describe() +
                         ") and rank 0 (" + out.ranks.front().describe() +
                         ") report different tp/dp/pp sizes: not one engine's reply");
    }
    std::vector<gpu> names;
    for (const sglang_parallelism& q : out.ranks.back().parallelism) {
      names.emplace_back(q.role, q.pp_rank, q.dp_rank, q.tp_rank);
    }
    std::sort(names.begin(), names.end());
    if (!gpus.insert(names).second) {
      sj::bad(label, "rank " + std::to_string(i) + " repeats GPU " + out.ranks.back().describe() +
                         (p.role == "target" ? "" : " " + p.role));
    }
  }
  if (out.per_engine_checksum &&
      *out.per_engine_checksum != sglang_per_engine_checksum(out.ranks)) {
    sj::bad(label, "per_engine_checksum " + out.per_engine_checksum->to_hex() +
                       " is not the SHA-256 of the ranks' per_gpu_checksum (" +
                       sglang_per_engine_checksum(out.ranks).to_hex() + ")");
  }
  return out;
}

/// @brief Parses a reply from text. @throw error as sglang_checksums_from_json
inline sglang_checksums sglang_checksums_from_json(const std::string& text,
                                                   const std::string& label = "reply") {
  return sglang_checksums_from_json(detail::parse_json_strict(text, label), label);
}

/// A checksum document: a tensorhash manifest or an SGLang reply.
using manifest_or_reply = std::variant<manifest, sglang_checksums>;

/**
 * @brief Reads a manifest (an object with "format") or else an SGLang reply.
 * @throw error io_error, parse_error naming the file
 */
inline manifest_or_reply read_manifest_or_reply(const std::string& path) {
  const std::string text = detail::read_whole_file(path);
  const nlohmann::json j = detail::parse_json_strict(text, path);
  if (j.is_object() && j.contains("format")) {
    return manifest_from_json(text, path);
  }
  return sglang_checksums_from_json(j, path);
}

/// @return the reply as SGLang's HTTP server writes it (names sorted, per_engine_checksum
///         computed when absent)
inline nlohmann::ordered_json to_json(const sglang_checksums& c,
                                      const std::string& message = "Success.") {
  nlohmann::ordered_json j;
  j["success"] = true;
  j["message"] = message;
  j["ranks"] = nlohmann::ordered_json::array();
  for (const auto& r : c.ranks) {
    nlohmann::ordered_json rank;
    nlohmann::ordered_json checksums = nlohmann::ordered_json::object();
    for (const auto& [name, h] : r.checksums) {
      detail::append_new_key(checksums, name, to_hex16(h));  // names unique and sorted
    }
    rank["checksums"] = std::move(checksums);
    rank["per_gpu_checksum"] = r.per_gpu_checksum.to_hex();
    rank["parallelism_info"] = nlohmann::ordered_json::array();
    for (const auto& p : r.parallelism) {
      rank["parallelism_info"].push_back({{"role", p.role},
                                          {"tp_rank", p.tp_rank},
                                          {"tp_size", p.tp_size},
                                          {"dp_rank", p.dp_rank},
                                          {"dp_size", p.dp_size},
                                          {"pp_rank", p.pp_rank},
                                          {"pp_size", p.pp_size},
                                          {"rank", p.rank},
                                          {"size", p.size}});
    }
    j["ranks"].push_back(std::move(rank));
  }
  j["per_engine_checksum"] =
      c.per_engine_checksum.value_or(sglang_per_engine_checksum(c.ranks)).to_hex();
  return j;
}

/// @return a comparison as JSON: {"ok", "ranks_compared", "matched", "mismatched": [{rank, name,
///         expected, actual}], "missing"/"unexpected": [{rank, name}], "per_gpu": [{rank,
///         expected, actual}], "missing_ranks", "unexpected_ranks", "per_engine": null or
///         {expected, actual}}
inline nlohmann::ordered_json to_json(const sglang_comparison& c) {
  nlohmann::ordered_json j;
  j["ok"] = c.ok();
  j["ranks_compared"] = c.ranks_compared;
  j["matched"] = c.matched;
  j["mismatched"] = nlohmann::ordered_json::array();
  for (const auto& d : c.mismatched) {
    j["mismatched"].push_back({{"rank", d.rank},
                               {"name", d.name},
                               {"expected", to_hex16(d.expected)},
                               {"actual", to_hex16(d.actual)}});
  }
  for (const auto* key : {"missing", "unexpected"}) {
    j[key] = nlohmann::ordered_json::array();
    for (const auto& n : std::string(key) == "missing" ? c.missing : c.unexpected) {
      j[key].push_back({{"rank", n.rank}, {"name", n.name}});
    }
  }
  j["per_gpu"] = nlohmann::ordered_json::array();
  for (const auto& d : c.per_gpu) {
    j["per_gpu"].push_back(
        {{"rank", d.rank}, {"expected", d.expected.to_hex()}, {"actual", d.actual.to_hex()}});
  }
  j["missing_ranks"] = c.missing_ranks;
  j["unexpected_ranks"] = c.unexpected_ranks;
  j["per_engine"] = nullptr;
  if (c.per_engine) {
    j["per_engine"] = {{"expected", c.per_engine->expected.to_hex()},
                       {"actual", c.per_engine->actual.to_hex()}};
  }
  return j;
}

/**
 * @brief The shape facts SGLang's sharding needs, from the text of an HF config.json (Llama,
 *        Mistral, Qwen2, Qwen3 or Qwen3-MoE): `num_attention_heads`; `num_key_value_heads`
 *        (default: the heads); `head_dim` (default: `hidden_size` / heads, which must divide);
 *        `tie_word_embeddings` (default false); `num_hidden_layers` (default: not known);
 *        `architectures`, when present, one of the five. For `Qwen3MoeForCausalLM`:
 *        `num_experts` (required); `decoder_sparse_step` other than 1 and a non-empty
 *        `mlp_only_layers` are refused, as dense layers SGLang would build with experts. The
 *        Python package passes config.json to this function too.
 * @param label names the file in messages
 * @throw error parse_error naming `label` and the key; invalid_argument for another
 *        architecture, a quantization_config or dense layers in a Qwen3-MoE
 */
inline sglang_model sglang_model_from_config(std::string_view text, const std::string& label) {
  const nlohmann::json j = detail::parse_json_strict(text, label);
  if (!j.is_object()) {
    throw error(errc::parse_error, label + ": not a JSON object");
  }
  const auto number = [&](const char* key, std::int64_t fallback) -> std::int64_t {
    const auto it = j.find(key);
    if (it == j.end() || it->is_null()) {
      if (fallback < 0) {
        throw error(errc::parse_error, label + ": missing \"" + std::string(key) + "\"");
      }
      return fallback;
    }
    if (!it->is_number_integer() || it->get<std::int64_t>() <= 0) {
      throw error(errc::parse_error,
                  label + ": \"" + std::string(key) + "\" is not a positive integer");
    }
    return it->get<std::int64_t>();
  };
  const auto arch = j.find("architectures");
  if (arch != j.end()) {
    const std::set<std::string> known{"LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM",
                                      "Qwen3ForCausalLM", "Qwen3MoeForCausalLM"};
    if (!arch->is_array() || arch->size() != 1 || !arch->front().is_string() ||
        known.count(arch->front().get<std::string>()) == 0) {
      throw error(errc::invalid_argument, label + ": architectures " + detail::json_brief(*arch) +
                                              ": expected checksums are known for "
                                              "LlamaForCausalLM, MistralForCausalLM, "
                                              "Qwen2ForCausalLM, Qwen3ForCausalLM and "
                                              "Qwen3MoeForCausalLM only");
    }
  }
  const auto quant = j.find("quantization_config");
  if (quant != j.end() && !quant->is_null()) {
    throw error(errc::invalid_argument,
                label +
                    ": quantization_config: expected checksums of quantised checkpoints are "
                    "not known (SGLang's checker hashes their weights dequantised)");
  }
  sglang_model m;
  // Without "architectures", num_experts alone says Qwen3-MoE.
  if (arch != j.end() ? arch->front() == "Qwen3MoeForCausalLM" : j.count("num_experts") != 0) {
    m.num_experts = number("num_experts", -1);
    // SGLang 0.5.23 builds every Qwen3-MoE decoder layer with experts
    // (Qwen3MoeDecoderLayer.stage_facts), whatever these two keys say.
    const std::string every =
        ", but SGLang's Qwen3MoeForCausalLM builds every decoder layer "
        "with experts: a checkpoint with dense layers would not load";
    if (number("decoder_sparse_step", 1) != 1) {
      throw error(errc::invalid_argument, label + ": decoder_sparse_step is not 1" + every);
    }
    const auto only = j.find("mlp_only_layers");
    if (only != j.end() && !only->is_null()) {
      if (!only->is_array()) {
        throw error(errc::parse_error, label + ": mlp_only_layers is not an array");
      }
      if (!only->empty()) {
        throw error(errc::invalid_argument, label + ": mlp_only_layers " +
                                                detail::json_brief(*only) + " names dense layers" +
                                                every);
      }
    }
  }
  m.num_heads = number("num_attention_heads", -1);
  m.num_kv_heads = number("num_key_value_heads", m.num_heads);
  const auto head_dim = j.find("head_dim");
  if (head_dim != j.end() && !head_dim->is_null()) {
    m.head_dim = number("head_dim", -1);
  } else {
    const std::int64_t hidden = number("hidden_size", -1);
    if (hidden % m.num_heads != 0) {
      throw error(errc::parse_error, label + ": hidden_size " + std::to_string(hidden) +
                                         " is not a multiple of num_attention_heads and no "
                                         "head_dim is given");
    }
    m.head_dim = hidden / m.num_heads;
  }
  const auto tied = j.find("tie_word_embeddings");
  if (tied != j.end() && !tied->is_boolean()) {
    throw error(errc::parse_error, label + ": tie_word_embeddings is not a boolean");
  }
  m.tie_word_embeddings = tied != j.end() && tied->get<bool>();
  m.num_layers = number("num_hidden_layers", 0);  // 0: not given, the checkpoint's own count
  return m;
}

/// @brief Reads an HF config.json (sglang_model_from_config). @throw error io_error as well
inline sglang_model read_sglang_model_config(const std::string& path) {
  return sglang_model_from_config(detail::read_whole_file(path), path);
}

/// @brief Reads a reply file. @throw error io_error, parse_error naming the file
inline sglang_checksums read_sglang_checksums(const std::string& path) {
  return sglang_checksums_from_json(detail::read_whole_file(path), path);
}

/// @brief Writes a reply file atomically (never half a file). @throw error io_error
inline void write_sglang_checksums(const std::string& path, const sglang_checksums& c,
                                   const std::string& message = "Success.") {
  detail::write_file_atomically(path, to_json(c, message).dump(1) + "\n");
}

TENSORHASH_NAMESPACE_END
