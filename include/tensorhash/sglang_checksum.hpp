/**
 * @file sglang_checksum.hpp
 * @brief SGLang's weight-checker replies: what each tensor-parallel rank of an SGLang engine
 *        reports for a Llama/Qwen2-family model, computed by a trainer from its full HF tensors
 *        (`sglang_expected`), and the comparison of two such replies rank by rank.
 *
 * SGLang's `/weights_checker` action "checksum" (sglang 0.5.23) answers, per GPU, a
 * `ChecksumInfo`: `checksums` maps each parameter SGLang holds (its own names: `qkv_proj`,
 * `gate_up_proj`, ...) to 16 hex digits of `tensor_hash` (sglang.hpp), `per_gpu_checksum` is
 * SHA-256 over the sorted names each followed by its 16 hex digits, and `parallelism_info` says
 * which GPU (one entry per role: the target model and each draft model). The HTTP reply lists the
 * ranks and adds `per_engine_checksum`, SHA-256 over the ranks' `per_gpu_checksum` hex strings in
 * the reply's order. docs/format.md §4.5 writes out the mapping from HF tensors to SGLang's
 * parameters; sglang_checksum_json.hpp reads and writes the JSON.
 *
 * ```
 * namespace th = tensorhash;
 * th::sglang_engine<> engine;
 * th::sglang_model model{14, 2, 64, true};      // heads, kv heads, head_dim, tied embeddings
 * th::sglang_checksums want = th::sglang_expected(engine, names, views, model, 4);  // TP 4
 * th::sglang_comparison c = th::compare(want, th::read_sglang_checksums("reply.json"));
 * ```
 */
#pragma once

#include <tensorhash/composite.hpp>
#include <tensorhash/config.hpp>
#include <tensorhash/detail/printable.hpp>
#include <tensorhash/digest.hpp>
#include <tensorhash/error.hpp>
#include <tensorhash/hasher.hpp>
#include <tensorhash/layout.hpp>
#include <tensorhash/manifest.hpp>
#include <tensorhash/sglang.hpp>
#include <tensorhash/view.hpp>

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

TENSORHASH_NAMESPACE_BEGIN

/// Where one ChecksumInfo was computed: SGLang's `ParallelismInfo`.
struct sglang_parallelism {
  std::string role = "target";  ///< "target", or a draft role ("draft", "draft_step_0", ...)
  std::int64_t tp_rank = 0;
  std::int64_t tp_size = 1;
  std::int64_t dp_rank = 0;
  std::int64_t dp_size = 1;
  std::int64_t pp_rank = 0;
  std::int64_t pp_size = 1;
  std::int64_t rank = 0;  ///< world rank
  std::int64_t size = 1;  ///< world size

  friend bool operator==(const sglang_parallelism& a, const sglang_parallelism& b) {
    return std::tie(a.role, a.tp_rank, a.tp_size, a.dp_rank, a.dp_size, a.pp_rank, a.pp_size,
                    a.rank, a.size) == std::tie(b.role, b.tp_rank, b.tp_size, b.dp_rank, b.dp_size,
                                                b.pp_rank, b.pp_size, b.rank, b.size);
  }
};

/// One GPU's report: SGLang's `ChecksumInfo`.
struct sglang_rank_checksums {
  std::map<std::string, std::uint64_t> checksums;  ///< parameter name -> tensor_hash
  digest256 per_gpu_checksum{};                    ///< as reported (or computed)
  /// One entry per role on this GPU; every entry names the same GPU.
  std::vector<sglang_parallelism> parallelism{sglang_parallelism{}};

  /// @return where this GPU sits, for messages: "tp 1/4", with dp and pp when they are > 1
  std::string describe() const {
    const sglang_parallelism& p = parallelism.front();
    std::string out;
    if (p.dp_size > 1) {
      out += "dp " + std::to_string(p.dp_rank) + "/" + std::to_string(p.dp_size) + " ";
    }
    if (p.pp_size > 1) {
      out += "pp " + std::to_string(p.pp_rank) + "/" + std::to_string(p.pp_size) + " ";
    }
    return out + "tp " + std::to_string(p.tp_rank) + "/" + std::to_string(p.tp_size);
  }
};

/// A whole engine's reply: one entry per GPU, in the engine's order.
struct sglang_checksums {
  std::vector<sglang_rank_checksums> ranks;
  std::optional<digest256> per_engine_checksum;  ///< as reported; absent when not reported
};

/// @return SGLang's `per_gpu_checksum`: SHA-256 over each name (code-point order) followed by its
///         16 lowercase hex digits
inline digest256 sglang_per_gpu_checksum(const std::map<std::string, std::uint64_t>& checksums) {
  hash_stream<sha256> s;
  for (const auto& [name, h] : checksums) {
    const std::string hex = to_hex16(h);
    s.update(name.data(), name.size());
    s.update(hex.data(), hex.size());
  }
  return s.finalize();
}

/// @return SGLang's `per_engine_checksum`: SHA-256 over the ranks' `per_gpu_checksum` as 64 hex
///         digits each, in the order given
inline digest256 sglang_per_engine_checksum(const std::vector<sglang_rank_checksums>& ranks) {
  hash_stream<sha256> s;
  for (const auto& r : ranks) {
    const std::string hex = r.per_gpu_checksum.to_hex();
    s.update(hex.data(), hex.size());
  }
  return s.finalize();
}

/**
 * @brief A manifest hashed with an SGLang algorithm as a reply of one GPU (tp 0/1), so that it
 *        compares with a reply.
 * @throw error invalid_argument when the manifest holds other digests than SGLang's 64-bit ones
 */
inline sglang_checksums sglang_checksums_of(const manifest& m) {
  if (m.settings().digest_bytes() != 8) {
    throw error(errc::invalid_argument,
                "a " + m.settings().describe() +
                    " manifest holds no SGLang checksums; hash with --mode sglang or sglang-cpu");
  }
  sglang_rank_checksums r;
  for (const auto& [name, e] : m.tensors()) {
    std::uint64_t h = 0;
    for (int i = 0; i < 8; ++i) {
      h = h << 8 | e.digest.bytes[i];
    }
    r.checksums.emplace(name, h);
  }
  r.per_gpu_checksum = sglang_per_gpu_checksum(r.checksums);
  sglang_checksums out;
  out.ranks.push_back(std::move(r));
  return out;
}

/// @brief The shape facts of a Llama/Qwen2/Qwen3-family model that SGLang's sharding depends on
///        (the HF `config.json`: num_attention_heads, num_key_value_heads, head_dim,
///        tie_word_embeddings; for Qwen3-MoE num_experts).
struct sglang_model {
  std::int64_t num_heads = 0;
  std::int64_t num_kv_heads = 0;
  std::int64_t head_dim = 0;
  bool tie_word_embeddings = false;  ///< no lm_head parameter: SGLang reuses embed_tokens
  std::int64_t num_layers = 0;       ///< num_hidden_layers; 0: not known (highest layer index + 1)
  /// Routed experts of every decoder layer (SGLang 0.5.23's Qwen3MoeForCausalLM builds each
  /// layer with a sparse MoE block: `Qwen3MoeDecoderLayer.stage_facts`); 0: a dense model.
  std::int64_t num_experts = 0;
};

/// @brief One parameter of one SGLang rank: its name and its bytes as views of the HF tensors.
struct sglang_parameter {
  std::string name;
  composite_view view;
};

namespace detail {
namespace sglang_map {

/// Zero bytes for the padding rows of a vocab-parallel parameter (8 >= every element size).
alignas(8) inline constexpr std::uint8_t zero_element[8] = {};

inline bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

[[noreturn]] inline void refuse(const std::string& what) {
  throw error(errc::invalid_argument, "sglang expected checksums: " + what);
}

/// Rank r's rows of a vocab-parallel parameter as SGLang's VocabParallelEmbedding loads them:
/// the vocabulary padded to a multiple of 64 (of 64 tp when that is not divisible by tp), rank
/// r's share of the padded rows, the rows past the real vocabulary zero-filled.
inline composite_view vocab_rows(const tensor_view& full, std::int64_t tp, std::int64_t r) {
  const std::int64_t vocab = full.shape(0);
  std::int64_t pad_to = 64;
  if ((vocab + pad_to - 1) / pad_to * pad_to % tp != 0) {
    pad_to *= tp;
  }
  const tp_layout l = tp_layout::vocab_parallel(tp, r, vocab, pad_to);
  const composite_view real = expected_shard(l, {full});
  const std::int64_t per = l.padded_vocab() / tp;
  std::vector<tensor_view> pieces = real.pieces();
  std::vector<std::int64_t> shape{per}, zero_strides(static_cast<std::size_t>(full.rank()), 0);
  for (int i = 1; i < full.rank(); ++i) {
    shape.push_back(full.shape(i));
  }
  shape[0] = per - real.shape()[0];
  if (shape[0] != 0) {  // a broadcast view of one zero element stands for the padding rows
    pieces.emplace_back(zero_element, full.dtype(), full.rank(), shape.data(), zero_strides.data(),
                        full.location());
  }
  shape[0] = per;
  return composite_view(std::move(pieces), std::move(shape), full.dtype());
}

/// The decoder layer `name` belongs to ("model.layers.<i>."), or -1 when none (check_layers
/// refuses malformed indices).
inline std::int64_t layer_of(const std::string& name) {
  const std::string prefix = "model.layers.";
  if (name.compare(0, prefix.size(), prefix) != 0) {
    return -1;
  }
  std::size_t end = prefix.size();
  while (end < name.size() && end - prefix.size() < 10 && name[end] >= '0' && name[end] <= '9') {
    ++end;
  }
  return end == prefix.size() || end - prefix.size() > 9 ? -1
                                                         : std::stoll(name.substr(prefix.size()));
}

/// Refuses a checkpoint whose decoder layers are not all there: a layer index at or past the
/// model's layer count, or a layer without a tensor other layers have (a shard left out, a
/// truncated download). SGLang's loader would leave those parameters uninitialised.
inline void check_layers(const std::map<std::string, tensor_view>& hf, std::int64_t num_layers) {
  const std::string prefix = "model.layers.";
  std::map<std::int64_t, std::set<std::string>> layers;
  std::set<std::string> every;
  for (const auto& entry : hf) {
    const std::string& name = entry.first;
    if (name.compare(0, prefix.size(), prefix) != 0) {
      continue;
    }
    std::size_t end = prefix.size();
    while (end < name.size() && name[end] >= '0' && name[end] <= '9') {
      ++end;
    }
    const std::string digits = name.substr(prefix.size(), end - prefix.size());
    if (digits.empty() || end >= name.size() || name[end] != '.' ||
        (digits.size() > 1 && digits[0] == '0') || digits.size() > 9) {
      refuse("tensor \"" + name + "\" has no layer index SGLang's loader takes (digits, no " +
             "leading zero, then a dot)");
    }
    if (name.find("rotary_emb.inv_freq") != std::string::npos) {
      continue;  // not a parameter
    }
    const std::int64_t index = std::stoll(digits);
    if (num_layers > 0 && index >= num_layers) {
      refuse("tensor \"" + name + "\" is past the model's " + std::to_string(num_layers) +
             " layers (num_hidden_layers)");
    }
    layers[index].insert(name.substr(end + 1));
    every.insert(name.substr(end + 1));
  }
  const std::int64_t count = num_layers > 0   ? num_layers
                             : layers.empty() ? 0
                                              : layers.rbegin()->first + 1;
  for (std::int64_t i = 0; i < count; ++i) {
    const auto it = layers.find(i);
    const std::string layer = prefix + std::to_string(i);
    if (it == layers.end()) {
      refuse(layer + " has no tensors (the model has " + std::to_string(count) +
             " layers): is a shard missing?");
    }
    for (const auto& suffix : every) {
      if (it->second.count(suffix) == 0) {
        refuse(layer + " lacks " + layer + "." + suffix + ", which other layers have: is a " +
               "shard missing?");
      }
    }
  }
}

/// An expert weight's name cut in three: "model.layers.3.mlp.experts.", 7, "gate_proj.weight".
struct expert_name {
  std::string base;
  std::int64_t index = 0;
  std::string rest;
};

/// `name` as an expert weight, or nothing when it is not under ".mlp.experts.".
inline std::optional<expert_name> expert_of(const std::string& name) {
  const std::string marker = ".mlp.experts.";
  const std::size_t at = name.find(marker);
  if (at == std::string::npos) {
    return std::nullopt;
  }
  const std::size_t begin = at + marker.size();
  std::size_t end = begin;
  while (end < name.size() && name[end] >= '0' && name[end] <= '9') {
    ++end;
  }
  if (end == begin || end >= name.size() || name[end] != '.' || end - begin > 9 ||
      (end - begin > 1 && name[begin] == '0')) {
    refuse("tensor \"" + name + "\" has no expert index SGLang's loader takes (digits, no " +
           "leading zero, then a dot)");
  }
  return expert_name{name.substr(0, begin), std::stoll(name.substr(begin, end - begin)),
                     name.substr(end + 1)};
}

inline bool same_shape(const tensor_view& a, const tensor_view& b) {
  bool same = a.rank() == b.rank();
  for (int i = 0; same && i < a.rank(); ++i) {
    same = a.shape(i) == b.shape(i);
  }
  return same;
}

/**
 * Rank `rank`'s two FusedMoE parameters of the MoE layer whose experts are named
 * `base` + "<e>.{gate,up,down}_proj.weight" (sglang/srt/layers/moe/fused_moe_triton/layer.py,
 * `FusedMoE._load_w13`/`_load_w2`, the Triton runner's layout): `w13_weight`
 * [E_local, 2·I/moe_tp, H], each local expert's gate rows then its up rows, and `w2_weight`
 * [E_local, H, I/moe_tp], its down_proj columns. moe_tp = tp/ep; the moe-tp rank is
 * rank % moe_tp, the EP rank rank / moe_tp, holding experts [ep_rank·E_local, +E_local).
 */
inline void moe_parameters(const std::map<std::string, tensor_view>& hf, const std::string& base,
                           const sglang_model& model, std::int64_t tp, std::int64_t ep,
                           std::int64_t rank, std::vector<sglang_parameter>& out) {
  const std::string router =
      base.substr(0, base.size() - std::string("experts.").size()) + "gate.weight";
  if (hf.count(router) == 0) {
    refuse("the MoE layer of " + base + "* has no router " + router + ": is a shard missing?");
  }
  const std::int64_t moe_tp = tp / ep, moe_tp_rank = rank % moe_tp, local = model.num_experts / ep;
  const std::int64_t first = rank / moe_tp * local;
  const char* const projections[3] = {"gate_proj", "up_proj", "down_proj"};
  std::vector<composite_view> w13, w2;
  for (std::int64_t e = 0; e < model.num_experts; ++e) {
    std::vector<tensor_view> t;
    for (const char* projection : projections) {
      const std::string name = base + std::to_string(e) + "." + projection + ".weight";
      const auto it = hf.find(name);
      if (it == hf.end()) {
        refuse(base + "* lacks " + name + " (the model has " + std::to_string(model.num_experts) +
               " experts): is a shard missing?");
      }
      const tensor_view& zero = hf.at(base + "0." + projection + ".weight");
      if (!same_shape(it->second, zero) || it->second.dtype() != zero.dtype()) {
        refuse("tensor \"" + name + "\" differs from expert 0's in shape or dtype: FusedMoE " +
               "stacks experts of one shape");
      }
      t.push_back(it->second);
    }
    if (e >= first && e < first + local) {
      w13.push_back(expected_shard(tp_layout::fused_gate_up(moe_tp, moe_tp_rank), {t[0], t[1]}));
      w2.push_back(expected_shard(tp_layout::row_parallel(moe_tp, moe_tp_rank), {t[2]}));
    }
  }
  out.push_back({base + "w13_weight", stack(w13)});
  out.push_back({base + "w2_weight", stack(w2)});
}

}  // namespace sglang_map
}  // namespace detail

/**
 * @brief The parameters SGLang's Llama/Qwen2/Qwen3/Qwen3-MoE models hold on tensor-parallel rank
 *        `rank` of `tp` (expert-parallel size `ep`), as views of the full HF tensors, sorted by
 *        name.
 *
 * `q_proj`/`k_proj`/`v_proj` (weight and bias) become `qkv_proj` (fused_qkv), `gate_proj`/
 * `up_proj` become `gate_up_proj` (fused_gate_up), `o_proj`/`down_proj` weights are split by
 * columns (their biases replicated), `model.embed_tokens.weight` and `lm_head.weight` are
 * vocab-parallel with SGLang's zero padding rows (`lm_head` absent when embeddings are tied),
 * norms (Qwen3's `q_norm`/`k_norm` too) are replicated; `rotary_emb.inv_freq` is not a
 * parameter SGLang checks. A MoE layer's router `mlp.gate.weight` is replicated and its experts
 * `mlp.experts.<e>.{gate,up,down}_proj.weight` become FusedMoE's `mlp.experts.w13_weight` and
 * `mlp.experts.w2_weight` (detail::sglang_map::moe_parameters): the rank's contiguous share of
 * E/ep experts, each split over moe_tp = tp/ep.
 * @param names  HF tensor names (unique)
 * @param views  the full HF tensors, one per name
 * @throw error invalid_argument naming a tensor SGLang's loaders would not take, a partner
 *        missing from a fused group, a decoder layer missing or lacking a tensor other layers of
 *        its kind have (or past `model.num_layers`), an expert missing, shapes that do not split
 *        over `tp`, or an `ep` that does not divide `tp` and the experts
 */
inline std::vector<sglang_parameter> sglang_rank_parameters(const std::vector<std::string>& names,
                                                            const std::vector<tensor_view>& views,
                                                            const sglang_model& model,
                                                            std::int64_t tp, std::int64_t rank,
                                                            std::int64_t ep = 1) {
  namespace m = detail::sglang_map;
  if (names.size() != views.size()) {
    m::refuse("names and views differ in number");
  }
  if (tp < 1 || rank < 0 || rank >= tp) {
    m::refuse("rank " + std::to_string(rank) + " is outside tp size " + std::to_string(tp));
  }
  if (ep < 1 || tp % ep != 0) {
    m::refuse("ep " + std::to_string(ep) + " does not divide tp " + std::to_string(tp) +
              " (SGLang's expert-parallel groups split the tensor-parallel group)");
  }
  if (model.num_experts > 0 && model.num_experts % ep != 0) {
    m::refuse("the model's " + std::to_string(model.num_experts) +
              " experts are not divisible by ep " + std::to_string(ep));
  }
  if (model.num_experts > 0 && tp / ep > model.num_experts) {
    m::refuse("the MoE tensor-parallel size tp/ep = " + std::to_string(tp / ep) +
              " is greater than the model's " + std::to_string(model.num_experts) +
              " experts (SGLang refuses it)");
  }
  std::map<std::string, tensor_view> hf;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (!hf.emplace(names[i], views[i]).second) {
      throw error(errc::duplicate_name, "tensor \"" + names[i] + "\" appears twice");
    }
  }
  // Checked before any layout: a tp past the heads would overflow the vocabulary's padding first.
  if (model.num_heads <= 0 || model.num_heads % tp != 0) {
    m::refuse("the model's " + std::to_string(model.num_heads) +
              " attention heads are not divisible by tp " + std::to_string(tp));
  }
  const auto renamed = [](const std::string& name, const std::string& from, const std::string& to) {
    const std::size_t at = name.rfind(from);
    return name.substr(0, at) + to + name.substr(at + from.size());
  };
  // The tensor fused with `name` (its module `from` replaced by `to`), which must exist.
  const auto partner = [&](const std::string& name, const std::string& from,
                           const std::string& to) -> const tensor_view& {
    const std::string other = renamed(name, from, to);
    const auto it = hf.find(other);
    if (it == hf.end()) {
      m::refuse(name + " has no " + other + " to fuse with");
    }
    return it->second;
  };

  std::vector<sglang_parameter> out;
  std::set<std::string> moe_layers_done, routers;
  for (const auto& entry : hf) {
    // Named, not bound: C++17 lambdas cannot capture a structured binding.
    const std::string& name = entry.first;
    const tensor_view& v = entry.second;
    try {
      const std::int64_t layer = m::layer_of(name);
      const bool moe_layer = layer >= 0 && model.num_experts > 0;
      if (const std::optional<m::expert_name> x = m::expert_of(name)) {
        if (!moe_layer) {
          m::refuse("tensor \"" + name + "\" is an expert weight, but SGLang builds " +
                    (model.num_experts == 0
                         ? std::string("this model without experts (its config has no "
                                       "num_experts)")
                         : std::string("no MoE block outside the decoder layers")));
        }
        if (x->index >= model.num_experts) {
          m::refuse("tensor \"" + name + "\": expert " + std::to_string(x->index) +
                    " is past the model's " + std::to_string(model.num_experts) + " experts");
        }
        if (x->rest != "gate_proj.weight" && x->rest != "up_proj.weight" &&
            x->rest != "down_proj.weight") {
          m::refuse("tensor \"" + name + "\" is not a parameter of SGLang's FusedMoE (which " +
                    "loads an expert's gate_proj, up_proj and down_proj weights)");
        }
        if (moe_layers_done.insert(x->base).second) {
          m::moe_parameters(hf, x->base, model, tp, ep, rank, out);
        }
        continue;
      }
      const bool weight = m::ends_with(name, ".weight");
      const bool bias = m::ends_with(name, ".bias");
      const auto module_is = [&](const char* module) {
        return m::ends_with(name, std::string(".") + module + ".weight") ||
               m::ends_with(name, std::string(".") + module + ".bias");
      };
      if (name.find("rotary_emb.inv_freq") != std::string::npos) {
        continue;
      }
      if (moe_layer && (module_is("gate_proj") || module_is("up_proj") || module_is("down_proj"))) {
        m::refuse("tensor \"" + name + "\" is a dense MLP weight, but SGLang's Qwen3-MoE " +
                  "builds every decoder layer with a sparse MoE block, which would not load it");
      }
      if (m::ends_with(name, ".mlp.gate.weight")) {
        if (!moe_layer) {
          m::refuse("tensor \"" + name + "\" is a MoE router, but SGLang builds " +
                    (layer < 0 ? std::string("no MoE block outside the decoder layers")
                               : std::string("this model without experts (its config has no "
                                             "num_experts)")));
        }
        routers.insert(name.substr(0, name.size() - std::string("gate.weight").size()) +
                       "experts.");
        out.push_back({name, v});  // ReplicatedLinear
        continue;
      }
      if (module_is("q_proj")) {
        out.push_back({renamed(name, ".q_proj.", ".qkv_proj."),
                       expected_shard(tp_layout::fused_qkv(tp, rank, model.num_heads,
                                                           model.num_kv_heads, model.head_dim),
                                      {v, partner(name, ".q_proj.", ".k_proj."),
                                       partner(name, ".q_proj.", ".v_proj.")})});
      } else if (module_is("k_proj") || module_is("v_proj")) {
        partner(name, module_is("k_proj") ? ".k_proj." : ".v_proj.", ".q_proj.");
      } else if (module_is("gate_proj")) {
        out.push_back({renamed(name, ".gate_proj.", ".gate_up_proj."),
                       expected_shard(tp_layout::fused_gate_up(tp, rank),
                                      {v, partner(name, ".gate_proj.", ".up_proj.")})});
      } else if (module_is("up_proj")) {
        partner(name, ".up_proj.", ".gate_proj.");
      } else if ((module_is("o_proj") || module_is("down_proj")) && weight) {
        out.push_back({name, expected_shard(tp_layout::row_parallel(tp, rank), {v})});
      } else if ((module_is("o_proj") || module_is("down_proj")) && bias) {
        out.push_back({name, v});  // RowParallelLinear adds its bias once, after the reduction
      } else if (name == "model.embed_tokens.weight" || name == "lm_head.weight") {
        if (v.rank() != 2) {
          m::refuse(name + " is not a matrix");
        }
        if (name == "lm_head.weight" && model.tie_word_embeddings) {
          continue;  // SGLang's lm_head is embed_tokens itself: one parameter, one name
        }
        out.push_back({name, m::vocab_rows(v, tp, rank)});
      } else if (weight && m::ends_with(name, "norm.weight")) {
        out.push_back({name, v});
      } else {
        m::refuse("tensor \"" + name +
                  "\" is not a parameter of SGLang's Llama/Qwen2/Qwen3 models (which SGLang "
                  "layer would hold it is not known here)");
      }
    } catch (const error& e) {
      // A layout's own message names a dimension, not the tensor: say which, and where.
      if (e.message().find(name) != std::string::npos) {
        throw;
      }
      throw error(e.code(), "tensor \"" + name + "\" (tp " + std::to_string(tp) + ", rank " +
                                std::to_string(rank) + "): " + e.message());
    }
  }
  m::check_layers(hf, model.num_layers);  // after the mapping: an unknown tensor is named first
  for (const auto& base : routers) {
    if (moe_layers_done.count(base) == 0) {
      m::refuse("the MoE layer of " + base + "* has a router but no experts: is a shard missing?");
    }
  }
  if (!model.tie_word_embeddings && hf.count("model.embed_tokens.weight") != 0 &&
      hf.count("lm_head.weight") == 0) {
    m::refuse("lm_head.weight is missing and the model does not tie its word embeddings");
  }
  std::sort(out.begin(), out.end(),
            [](const sglang_parameter& a, const sglang_parameter& b) { return a.name < b.name; });
  return out;
}

/**
 * @brief What every tensor-parallel rank of an SGLang engine (target model, dp 0/1, pp 0/1;
 *        expert-parallel size `ep`) reports for a model loaded from these HF tensors, with the
 *        per-engine checksum.
 *
 * SGLang's `ParallelismInfo` has no EP field: EP ranks are tensor-parallel ranks (moe_ep rank =
 * tp_rank / (tp/ep)), so a reply is told apart by tp_rank as without EP; an engine started with
 * another `--ep-size` differs in every `w13_weight`/`w2_weight` (sglang_comparison::summary says
 * so).
 * @param engine an `sglang_engine`: `sglang64` for engines on GPUs, `sglang_cpu64` on CPUs; its
 *        canonicalisation policy stands for the dtype the engine holds
 * @throw error as sglang_rank_parameters and the engine's hash
 */
template <class Mode, class Canon>
sglang_checksums sglang_expected(sglang_engine<Mode, Canon>& engine,
                                 const std::vector<std::string>& names,
                                 const std::vector<tensor_view>& views, const sglang_model& model,
                                 std::int64_t tp, std::int64_t ep = 1) {
  sglang_checksums out;
  for (std::int64_t r = 0; r < tp; ++r) {
    const std::vector<sglang_parameter> params =
        sglang_rank_parameters(names, views, model, tp, r, ep);
    std::vector<composite_view> tensors;
    tensors.reserve(params.size());
    for (const auto& p : params) {
      tensors.push_back(p.view);
    }
    const std::vector<std::uint64_t> hashes = engine.hash(tensors);
    sglang_rank_checksums rank;
    for (std::size_t i = 0; i < params.size(); ++i) {
      rank.checksums.emplace(params[i].name, hashes[i]);
    }
    rank.per_gpu_checksum = sglang_per_gpu_checksum(rank.checksums);
    sglang_parallelism& p = rank.parallelism.front();
    p.tp_rank = p.rank = r;
    p.tp_size = p.size = tp;
    out.ranks.push_back(std::move(rank));
  }
  out.per_engine_checksum = sglang_per_engine_checksum(out.ranks);
  return out;
}

/// @brief How one reply differs from the expected one, tensor by tensor and rank by rank.
struct sglang_comparison {
  struct tensor_difference {
    std::string rank;  ///< sglang_rank_checksums::describe() of the GPU
    std::string name;
    std::uint64_t expected = 0;
    std::uint64_t actual = 0;
  };
  struct named {
    std::string rank;
    std::string name;
  };
  struct checksum_difference {
    std::string rank;  ///< empty for the per-engine checksum
    digest256 expected{};
    digest256 actual{};
  };
  std::size_t ranks_compared = 0;
  std::size_t matched = 0;  ///< tensors equal, over all compared ranks
  std::vector<tensor_difference> mismatched;
  std::vector<named> missing;                ///< expected on a rank, absent from the actual one
  std::vector<named> unexpected;             ///< on an actual rank, not expected
  std::vector<checksum_difference> per_gpu;  ///< ranks whose per_gpu_checksum differs
  std::vector<std::string> missing_ranks;    ///< expected GPUs no actual rank stands for
  std::vector<std::string> unexpected_ranks;
  /// Set when both report one for the same number of ranks and the two differ.
  std::optional<checksum_difference> per_engine;

  /// @return true when nothing differs
  bool ok() const noexcept {
    return mismatched.empty() && missing.empty() && unexpected.empty() && per_gpu.empty() &&
           missing_ranks.empty() && unexpected_ranks.empty() && !per_engine;
  }

  /// @return one line per difference, then a one-line count
  std::string summary() const {
    std::ostringstream out;
    for (const auto& d : mismatched) {
      out << "MISMATCH   " << detail::printable(d.name) << "  [" << d.rank << "]  expected "
          << to_hex16(d.expected) << "  actual " << to_hex16(d.actual) << "\n";
    }
    for (const auto& n : missing) {
      out << "MISSING    " << detail::printable(n.name) << "  [" << n.rank << "]\n";
    }
    for (const auto& n : unexpected) {
      out << "UNEXPECTED " << detail::printable(n.name) << "  [" << n.rank << "]\n";
    }
    for (const auto& d : per_gpu) {
      out << "PER_GPU    [" << d.rank << "]  expected " << d.expected.to_hex() << "  actual "
          << d.actual.to_hex() << "\n";
    }
    for (const auto& r : missing_ranks) {
      out << "MISSING    rank [" << r << "]\n";
    }
    for (const auto& r : unexpected_ranks) {
      out << "UNEXPECTED rank [" << r << "]\n";
    }
    if (per_engine) {
      out << "PER_ENGINE expected " << per_engine->expected.to_hex() << "  actual "
          << per_engine->actual.to_hex() << "\n";
    }
    if (hf_names_against_fused()) {
      out << "note: one side names HF checkpoint tensors (q_proj, k_proj, v_proj, gate_proj, "
             "up_proj), the other SGLang's fused parameters (qkv_proj, gate_up_proj): the engine "
             "side must be the engine's own parameters (its /weights_checker reply), and the "
             "trainer side `tensorhash expect` of the checkpoint, not a manifest of HF tensors\n";
    }
    if (only_experts_differ()) {
      out << "note: only MoE expert weights (w13_weight, w2_weight) differ: an engine whose "
             "--ep-size differs from `tensorhash expect --ep` places other experts on each rank; "
             "EP is not in SGLang's reply, so check the engine's launch arguments\n";
    }
    out << ranks_compared << " rank(s) compared: " << matched << " matched, " << mismatched.size()
        << " mismatched, " << missing.size() << " missing, " << unexpected.size() << " unexpected, "
        << missing_ranks.size() + unexpected_ranks.size() << " rank(s) unmatched"
        << (per_engine ? "; per-engine checksum differs" : "") << "\n";
    return out.str();
  }

 private:
  /// True when expert weights and nothing else differ: a wrong EP size, most likely.
  bool only_experts_differ() const {
    return !mismatched.empty() && missing.empty() && unexpected.empty() &&
           std::all_of(mismatched.begin(), mismatched.end(), [](const tensor_difference& d) {
             return detail::sglang_map::ends_with(d.name, ".experts.w13_weight") ||
                    detail::sglang_map::ends_with(d.name, ".experts.w2_weight");
           });
  }

  /// True when the unmatched names are HF's unfused projections on one side and SGLang's fused
  /// parameters on the other: an HF manifest compared with an engine's reply.
  bool hf_names_against_fused() const {
    const auto any = [](const std::vector<named>& names, const char* a, const char* b) {
      return std::any_of(names.begin(), names.end(), [&](const named& n) {
        return n.name.find(a) != std::string::npos || n.name.find(b) != std::string::npos;
      });
    };
    return (any(missing, ".qkv_proj.", ".gate_up_proj.") &&
            any(unexpected, ".q_proj.", ".gate_proj.")) ||
           (any(unexpected, ".qkv_proj.", ".gate_up_proj.") &&
            any(missing, ".q_proj.", ".gate_proj."));
  }
};

namespace detail {
namespace sglang_map {

/// The GPU a rank stands for: (pp, dp, tp); dp left out when one side has no data parallelism.
inline std::tuple<std::int64_t, std::int64_t, std::int64_t> gpu_key(const sglang_rank_checksums& r,
                                                                    bool with_dp) {
  const sglang_parallelism& p = r.parallelism.front();
  return {p.pp_rank, with_dp ? p.dp_rank : 0, p.tp_rank};
}

inline void require_same_split(const sglang_checksums& e, const sglang_checksums& a) {
  if (e.ranks.empty() || a.ranks.empty()) {
    throw error(errc::invalid_argument, "an SGLang reply without ranks cannot be compared");
  }
  const sglang_parallelism& pe = e.ranks.front().parallelism.front();
  const sglang_parallelism& pa = a.ranks.front().parallelism.front();
  if (pe.tp_size != pa.tp_size || pe.pp_size != pa.pp_size) {
    throw error(errc::invalid_argument,
                "the expected checksums are for tp " + std::to_string(pe.tp_size) + ", pp " +
                    std::to_string(pe.pp_size) + " but the actual ones come from tp " +
                    std::to_string(pa.tp_size) + ", pp " + std::to_string(pa.pp_size) +
                    ": no rank corresponds; compute the expectation for the engine's tp size");
  }
}

}  // namespace sglang_map
}  // namespace detail

/**
 * @brief Compares an actual engine reply with the expected one, GPU by GPU (matched by pp, dp
 *        and tp rank; a side without data parallelism stands for every dp replica).
 * @throw error invalid_argument when either side holds no rank, or the two differ in tp or pp
 *        size (no GPU corresponds)
 */
inline sglang_comparison compare(const sglang_checksums& expected, const sglang_checksums& actual) {
  namespace m = detail::sglang_map;
  m::require_same_split(expected, actual);
  const auto dp_of = [](const sglang_checksums& c) {
    return c.ranks.front().parallelism.front().dp_size;
  };
  const bool with_dp = dp_of(expected) == dp_of(actual);
  std::map<std::tuple<std::int64_t, std::int64_t, std::int64_t>, const sglang_rank_checksums*> want;
  for (const auto& r : expected.ranks) {
    want.emplace(m::gpu_key(r, with_dp), &r);
  }
  sglang_comparison c;
  std::map<std::tuple<std::int64_t, std::int64_t, std::int64_t>, bool> covered;
  for (const auto& got : actual.ranks) {
    const auto it = want.find(m::gpu_key(got, with_dp));
    if (it == want.end()) {
      c.unexpected_ranks.push_back(got.describe());
      continue;
    }
    covered[it->first] = true;
    const sglang_rank_checksums& exp = *it->second;
    const std::string label = got.describe();
    ++c.ranks_compared;
    for (const auto& [name, h] : exp.checksums) {
      const auto g = got.checksums.find(name);
      if (g == got.checksums.end()) {
        c.missing.push_back({label, name});
      } else if (g->second == h) {
        ++c.matched;
      } else {
        c.mismatched.push_back({label, name, h, g->second});
      }
    }
    for (const auto& [name, h] : got.checksums) {
      if (exp.checksums.count(name) == 0) {
        c.unexpected.push_back({label, name});
      }
    }
    if (exp.per_gpu_checksum != got.per_gpu_checksum) {
      c.per_gpu.push_back({label, exp.per_gpu_checksum, got.per_gpu_checksum});
    }
  }
  for (const auto& [key, r] : want) {
    if (covered.count(key) == 0) {
      c.missing_ranks.push_back(r->describe());
    }
  }
  // The per-engine checksum covers the ranks in order: comparable only rank for rank.
  if (expected.ranks.size() == actual.ranks.size() && expected.per_engine_checksum &&
      actual.per_engine_checksum && *expected.per_engine_checksum != *actual.per_engine_checksum) {
    c.per_engine = sglang_comparison::checksum_difference{"", *expected.per_engine_checksum,
                                                          *actual.per_engine_checksum};
  }
  return c;
}

TENSORHASH_NAMESPACE_END
