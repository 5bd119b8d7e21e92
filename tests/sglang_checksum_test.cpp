// SGLang's weight-checker replies (sglang_checksum.hpp, sglang_checksum_json.hpp): the
// checksums each tensor-parallel rank reports, predicted from full HF tensors, against shards
// materialised here by plain row and column copies as SGLang's loaders would leave them; reading
// and writing replies; comparing them rank by rank.
#include "test_util.hpp"

#include <tensorhash/sglang_checksum.hpp>
#include <tensorhash/sglang_checksum_json.hpp>

#include <cstdint>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

using namespace tensorhash;
using test_util::code_of;

namespace {

/// A full HF tensor owned by the test: BF16 rows x cols (cols 0: a vector of rows elements).
struct full_tensor {
  std::int64_t rows = 0, cols = 0;
  std::vector<std::uint8_t> bytes;
  tensor_view view() const {
    return cols == 0 ? tensor_view(bytes.data(), dtype::BF16, {rows})
                     : tensor_view(bytes.data(), dtype::BF16, {rows, cols});
  }
  std::size_t row_bytes() const { return 2 * static_cast<std::size_t>(cols == 0 ? 1 : cols); }
};

full_tensor random_tensor(std::int64_t rows, std::int64_t cols, std::mt19937_64& rng) {
  full_tensor t{rows, cols, {}};
  t.bytes.resize(static_cast<std::size_t>(rows) * t.row_bytes());
  for (auto& b : t.bytes) {
    b = static_cast<std::uint8_t>(rng());
  }
  return t;
}

/// Rows [begin, begin + count) of `t`, copied.
std::vector<std::uint8_t> rows_of(const full_tensor& t, std::int64_t begin, std::int64_t count) {
  const auto* p = t.bytes.data() + static_cast<std::size_t>(begin) * t.row_bytes();
  return {p, p + static_cast<std::size_t>(count) * t.row_bytes()};
}

/// Columns [begin, begin + count) of every row of `t`, copied row by row.
std::vector<std::uint8_t> cols_of(const full_tensor& t, std::int64_t begin, std::int64_t count) {
  std::vector<std::uint8_t> out;
  for (std::int64_t r = 0; r < t.rows; ++r) {
    const auto* p = t.bytes.data() + static_cast<std::size_t>(r) * t.row_bytes() + 2 * begin;
    out.insert(out.end(), p, p + 2 * count);
  }
  return out;
}

void append(std::vector<std::uint8_t>& to, const std::vector<std::uint8_t>& more) {
  to.insert(to.end(), more.begin(), more.end());
}

/// A small Qwen2-shaped model (q/k/v biases; 2 layers), by HF name; with `experts`, a
/// Qwen3-MoE-shaped one: q_norm/k_norm, and in each layer a router and `experts` experts of
/// intermediate size 16 instead of the dense MLP.
struct model_fixture {
  std::int64_t hidden = 32, heads = 8, kv_heads = 2, head_dim = 4, inter = 48, vocab = 100;
  std::int64_t experts = 0, moe_inter = 16;
  bool tied = false;
  std::map<std::string, full_tensor> tensors;

  explicit model_fixture(bool tie, std::int64_t vocab_size = 100, std::int64_t h = 8,
                         std::int64_t kv = 2, std::int64_t moe_experts = 0)
      : heads(h), kv_heads(kv), vocab(vocab_size), experts(moe_experts), tied(tie) {
    std::mt19937_64 rng(7);
    tensors["model.embed_tokens.weight"] = random_tensor(vocab, hidden, rng);
    if (!tied) {
      tensors["lm_head.weight"] = random_tensor(vocab, hidden, rng);
    }
    tensors["model.norm.weight"] = random_tensor(hidden, 0, rng);
    for (int l = 0; l < 2; ++l) {
      const std::string p = "model.layers." + std::to_string(l) + ".";
      tensors[p + "self_attn.q_proj.weight"] = random_tensor(heads * head_dim, hidden, rng);
      tensors[p + "self_attn.k_proj.weight"] = random_tensor(kv_heads * head_dim, hidden, rng);
      tensors[p + "self_attn.v_proj.weight"] = random_tensor(kv_heads * head_dim, hidden, rng);
      tensors[p + "self_attn.q_proj.bias"] = random_tensor(heads * head_dim, 0, rng);
      tensors[p + "self_attn.k_proj.bias"] = random_tensor(kv_heads * head_dim, 0, rng);
      tensors[p + "self_attn.v_proj.bias"] = random_tensor(kv_heads * head_dim, 0, rng);
      tensors[p + "self_attn.o_proj.weight"] = random_tensor(hidden, heads * head_dim, rng);
      if (experts > 0) {
        tensors[p + "self_attn.q_norm.weight"] = random_tensor(head_dim, 0, rng);
        tensors[p + "self_attn.k_norm.weight"] = random_tensor(head_dim, 0, rng);
      }
      if (experts > 0) {
        tensors[p + "mlp.gate.weight"] = random_tensor(experts, hidden, rng);
        for (std::int64_t e = 0; e < experts; ++e) {
          const std::string x = p + "mlp.experts." + std::to_string(e) + ".";
          tensors[x + "gate_proj.weight"] = random_tensor(moe_inter, hidden, rng);
          tensors[x + "up_proj.weight"] = random_tensor(moe_inter, hidden, rng);
          tensors[x + "down_proj.weight"] = random_tensor(hidden, moe_inter, rng);
        }
      } else {
        tensors[p + "mlp.gate_proj.weight"] = random_tensor(inter, hidden, rng);
        tensors[p + "mlp.up_proj.weight"] = random_tensor(inter, hidden, rng);
        tensors[p + "mlp.down_proj.weight"] = random_tensor(hidden, inter, rng);
      }
      tensors[p + "input_layernorm.weight"] = random_tensor(hidden, 0, rng);
      tensors[p + "post_attention_layernorm.weight"] = random_tensor(hidden, 0, rng);
    }
  }

  sglang_model model() const {
    sglang_model m{heads, kv_heads, head_dim, tied};
    m.num_experts = experts;
    return m;
  }
  std::vector<std::string> names() const {
    std::vector<std::string> n;
    for (const auto& [name, t] : tensors) {
      n.push_back(name);
    }
    return n;
  }
  std::vector<tensor_view> views() const {
    std::vector<tensor_view> v;
    for (const auto& [name, t] : tensors) {
      v.push_back(t.view());
    }
    return v;
  }

  /// What SGLang's loaders leave on rank r of tp (expert-parallel size ep), parameter by
  /// parameter, as bytes.
  std::map<std::string, std::vector<std::uint8_t>> rank_bytes(std::int64_t tp, std::int64_t r,
                                                              std::int64_t ep = 1) const {
    std::map<std::string, std::vector<std::uint8_t>> out;
    const auto vocab_rows = [&](const full_tensor& t) {
      std::int64_t pad_to = 64;
      if ((vocab + 63) / 64 * 64 % tp != 0) {
        pad_to *= tp;
      }
      const std::int64_t per = (vocab + pad_to - 1) / pad_to * pad_to / tp;
      const std::int64_t begin = std::min(r * per, vocab), end = std::min((r + 1) * per, vocab);
      std::vector<std::uint8_t> b = rows_of(t, begin, end - begin);
      b.resize(static_cast<std::size_t>(per) * t.row_bytes(), 0);  // zero-filled padding rows
      return b;
    };
    out["model.embed_tokens.weight"] = vocab_rows(tensors.at("model.embed_tokens.weight"));
    if (!tied) {
      out["lm_head.weight"] = vocab_rows(tensors.at("lm_head.weight"));
    }
    out["model.norm.weight"] = tensors.at("model.norm.weight").bytes;
    const std::int64_t q_rows = heads / tp * head_dim;
    const std::int64_t kv_count = kv_heads >= tp ? kv_heads / tp : 1;
    const std::int64_t kv_first = kv_heads >= tp ? r * kv_count : r / (tp / kv_heads);
    for (int l = 0; l < 2; ++l) {
      const std::string p = "model.layers." + std::to_string(l) + ".";
      for (const char* kind : {"weight", "bias"}) {
        const auto& q = tensors.at(p + "self_attn.q_proj." + kind);
        const auto& k = tensors.at(p + "self_attn.k_proj." + kind);
        const auto& v = tensors.at(p + "self_attn.v_proj." + kind);
        std::vector<std::uint8_t> qkv = rows_of(q, r * q_rows, q_rows);
        append(qkv, rows_of(k, kv_first * head_dim, kv_count * head_dim));
        append(qkv, rows_of(v, kv_first * head_dim, kv_count * head_dim));
        out[p + "self_attn.qkv_proj." + kind] = qkv;
      }
      out[p + "self_attn.o_proj.weight"] =
          cols_of(tensors.at(p + "self_attn.o_proj.weight"), r * heads / tp * head_dim,
                  heads / tp * head_dim);
      if (experts > 0) {
        out[p + "self_attn.q_norm.weight"] = tensors.at(p + "self_attn.q_norm.weight").bytes;
        out[p + "self_attn.k_norm.weight"] = tensors.at(p + "self_attn.k_norm.weight").bytes;
      }
      if (experts > 0) {
        // FusedMoE: this EP rank's experts, each split over moe_tp = tp / ep.
        const std::int64_t moe_tp = tp / ep, mr = r % moe_tp, n = moe_inter / moe_tp;
        const std::int64_t local = experts / ep;
        std::vector<std::uint8_t> w13, w2;
        for (std::int64_t e = r / moe_tp * local; e < (r / moe_tp + 1) * local; ++e) {
          const std::string x = p + "mlp.experts." + std::to_string(e) + ".";
          append(w13, rows_of(tensors.at(x + "gate_proj.weight"), mr * n, n));
          append(w13, rows_of(tensors.at(x + "up_proj.weight"), mr * n, n));
          append(w2, cols_of(tensors.at(x + "down_proj.weight"), mr * n, n));
        }
        out[p + "mlp.experts.w13_weight"] = w13;
        out[p + "mlp.experts.w2_weight"] = w2;
        out[p + "mlp.gate.weight"] = tensors.at(p + "mlp.gate.weight").bytes;
      } else {
        std::vector<std::uint8_t> gate_up =
            rows_of(tensors.at(p + "mlp.gate_proj.weight"), r * inter / tp, inter / tp);
        append(gate_up, rows_of(tensors.at(p + "mlp.up_proj.weight"), r * inter / tp, inter / tp));
        out[p + "mlp.gate_up_proj.weight"] = gate_up;
        out[p + "mlp.down_proj.weight"] =
            cols_of(tensors.at(p + "mlp.down_proj.weight"), r * inter / tp, inter / tp);
      }
      out[p + "input_layernorm.weight"] = tensors.at(p + "input_layernorm.weight").bytes;
      out[p + "post_attention_layernorm.weight"] =
          tensors.at(p + "post_attention_layernorm.weight").bytes;
    }
    return out;
  }
};

/// The reply an engine of `tp` ranks (expert-parallel size `ep`) holding `f`'s shards would
/// give, hashed from the copies.
sglang_checksums materialised_reply(const model_fixture& f, std::int64_t tp, std::int64_t ep = 1) {
  sglang_engine<> engine(2);
  sglang_checksums reply;
  for (std::int64_t r = 0; r < tp; ++r) {
    sglang_rank_checksums rank;
    for (const auto& [name, bytes] : f.rank_bytes(tp, r, ep)) {
      rank.checksums[name] = engine.hash(
          tensor_view(bytes.data(), dtype::BF16, {static_cast<std::int64_t>(bytes.size() / 2)}));
    }
    rank.per_gpu_checksum = sglang_per_gpu_checksum(rank.checksums);
    rank.parallelism.front().tp_rank = rank.parallelism.front().rank = r;
    rank.parallelism.front().tp_size = rank.parallelism.front().size = tp;
    reply.ranks.push_back(rank);
  }
  reply.per_engine_checksum = sglang_per_engine_checksum(reply.ranks);
  return reply;
}

}  // namespace

TEST_CASE("expected checksums equal those of shards materialised by plain copies", "[sglang]") {
  for (const bool tied : {false, true}) {
    const model_fixture f(tied);
    for (const std::int64_t tp : {1, 2, 4, 8}) {
      CAPTURE(tied, tp);
      sglang_engine<> engine(2);
      const sglang_checksums want = sglang_expected(engine, f.names(), f.views(), f.model(), tp);
      const sglang_checksums got = materialised_reply(f, tp);
      REQUIRE(want.ranks.size() == static_cast<std::size_t>(tp));
      for (std::size_t r = 0; r < want.ranks.size(); ++r) {
        CAPTURE(r);
        CHECK(want.ranks[r].checksums == got.ranks[r].checksums);
        CHECK(want.ranks[r].per_gpu_checksum == got.ranks[r].per_gpu_checksum);
        CHECK(want.ranks[r].parallelism == got.ranks[r].parallelism);
        CHECK(want.ranks[r].checksums.count("lm_head.weight") == (tied ? 0u : 1u));
        CHECK(want.ranks[r].checksums.count("model.layers.1.self_attn.qkv_proj.bias") == 1u);
      }
      CHECK(*want.per_engine_checksum == *got.per_engine_checksum);
      const sglang_comparison c = compare(want, got);
      CHECK(c.ok());
      CHECK(c.ranks_compared == static_cast<std::size_t>(tp));
    }
  }
}

TEST_CASE("Qwen3-MoE: experts stacked per EP rank equal shards materialised by plain copies",
          "[sglang][moe]") {
  const model_fixture f(true, 100, 8, 2, 4);
  sglang_engine<> engine(2);
  for (const std::int64_t tp : {1, 2, 4}) {
    for (const std::int64_t ep : {1, 2, 4}) {
      if (ep > tp) {
        continue;
      }
      CAPTURE(tp, ep);
      const sglang_checksums want =
          sglang_expected(engine, f.names(), f.views(), f.model(), tp, ep);
      const sglang_checksums got = materialised_reply(f, tp, ep);
      const sglang_comparison c = compare(want, got);
      CHECK(c.ok());
      CHECK(c.ranks_compared == static_cast<std::size_t>(tp));
      CHECK(want.ranks[0].checksums.count("model.layers.1.mlp.experts.w13_weight") == 1);
      CHECK(want.ranks[0].checksums.count("model.layers.0.mlp.experts.w2_weight") == 1);
      CHECK(want.ranks[0].checksums.count("model.layers.0.mlp.gate_up_proj.weight") == 0);
      CHECK(want.ranks[0].checksums.count("model.layers.1.self_attn.q_norm.weight") == 1);
    }
  }
  const std::vector<sglang_parameter> params =
      sglang_rank_parameters(f.names(), f.views(), f.model(), 4, 3, 2);
  const auto w13 = std::find_if(params.begin(), params.end(), [](const sglang_parameter& p) {
    return p.name == "model.layers.1.mlp.experts.w13_weight";
  });
  REQUIRE(w13 != params.end());
  CHECK(w13->view.shape() == std::vector<std::int64_t>{2, 2 * 16 / 2, 32});  // [E/ep, 2I/mtp, H]
  SECTION("an engine with another EP size differs in expert weights only, and is told so") {
    const sglang_comparison c =
        compare(sglang_expected(engine, f.names(), f.views(), f.model(), 2, 1),
                materialised_reply(f, 2, 2));
    CHECK_FALSE(c.ok());
    CHECK(c.mismatched.size() == 8);  // w13 and w2 of both layers on both ranks
    CHECK_THAT(c.summary(), Catch::Contains("--ep-size differs from `tensorhash expect --ep`"));
  }
}

TEST_CASE("Qwen3-MoE checkpoints and EP sizes SGLang would not load are refused", "[sglang][moe]") {
  model_fixture f(true, 100, 8, 2, 4);
  sglang_engine<> engine(1);
  const auto refused = [&](std::int64_t tp, std::int64_t ep, const char* what) {
    CHECK_THROWS_WITH(sglang_expected(engine, f.names(), f.views(), f.model(), tp, ep),
                      Catch::Contains(what));
  };
  SECTION("EP sizes") {
    refused(4, 3, "ep 3 does not divide tp 4");
    refused(4, 8, "ep 8 does not divide tp 4");
    model_fixture three(true, 100, 8, 2, 3);
    CHECK_THROWS_WITH(sglang_expected(engine, three.names(), three.views(), three.model(), 2, 2),
                      Catch::Contains("the model's 3 experts are not divisible by ep 2"));
    CHECK_THROWS_WITH(sglang_expected(engine, three.names(), three.views(), three.model(), 4, 1),
                      Catch::Contains("tp/ep = 4 is greater than the model's 3 experts"));
  }
  SECTION("an expert missing, its router missing, an expert of another shape") {
    f.tensors.erase("model.layers.1.mlp.experts.3.up_proj.weight");
    refused(1, 1, "lacks model.layers.1.mlp.experts.3.up_proj.weight (the model has 4 experts)");
    model_fixture g(true, 100, 8, 2, 4);
    g.tensors.erase("model.layers.1.mlp.gate.weight");
    CHECK_THROWS_WITH(sglang_expected(engine, g.names(), g.views(), g.model(), 1, 1),
                      Catch::Contains("has no router model.layers.1.mlp.gate.weight"));
    model_fixture h(true, 100, 8, 2, 4);
    std::mt19937_64 rng(3);
    h.tensors["model.layers.1.mlp.experts.2.down_proj.weight"] = random_tensor(32, 8, rng);
    CHECK_THROWS_WITH(sglang_expected(engine, h.names(), h.views(), h.model(), 1, 1),
                      Catch::Contains("differs from expert 0's in shape or dtype"));
  }
  SECTION("experts past the model's, outside the decoder layers, or in a dense model") {
    f.tensors["model.layers.1.mlp.experts.4.gate_proj.weight"] =
        f.tensors.at("model.layers.1.mlp.experts.0.gate_proj.weight");
    refused(1, 1, "expert 4 is past the model's 4 experts");
    model_fixture g(true, 100, 8, 2, 4);
    g.tensors["model.mlp.experts.0.gate_proj.weight"] =
        g.tensors.at("model.layers.1.mlp.experts.0.gate_proj.weight");
    CHECK_THROWS_WITH(sglang_expected(engine, g.names(), g.views(), g.model(), 1, 1),
                      Catch::Contains("no MoE block outside the decoder layers"));
    model_fixture dense(false);
    dense.tensors["model.layers.0.mlp.experts.0.gate_proj.weight"] =
        dense.tensors.at("model.norm.weight");
    CHECK_THROWS_WITH(sglang_expected(engine, dense.names(), dense.views(), dense.model(), 1),
                      Catch::Contains("this model without experts"));
  }
  SECTION("a dense MLP in a MoE model, a router in a dense model, a MoE layer without experts") {
    f.tensors["model.layers.1.mlp.down_proj.weight"] = f.tensors.at("model.norm.weight");
    refused(1, 1, "is a dense MLP weight, but SGLang's Qwen3-MoE builds every decoder layer");
    model_fixture g(false);
    g.tensors["model.layers.0.mlp.gate.weight"] = g.tensors.at("model.norm.weight");
    CHECK_THROWS_WITH(sglang_expected(engine, g.names(), g.views(), g.model(), 1, 1),
                      Catch::Contains("is a MoE router, but SGLang builds this model without"));
    model_fixture h(true, 100, 8, 2, 4);
    for (auto it = h.tensors.begin(); it != h.tensors.end();) {
      it = it->first.find(".experts.") != std::string::npos ? h.tensors.erase(it) : std::next(it);
    }
    CHECK_THROWS_WITH(sglang_expected(engine, h.names(), h.views(), h.model(), 1, 1),
                      Catch::Contains("has a router but no experts"));
  }
  SECTION("the config's MoE keys") {
    const sglang_model m = sglang_model_from_config(
        R"({"architectures": ["Qwen3MoeForCausalLM"], "num_attention_heads": 8,
            "num_key_value_heads": 2, "head_dim": 4, "num_experts": 4, "decoder_sparse_step": 1,
            "mlp_only_layers": []})",
        "config.json");
    CHECK(m.num_experts == 4);
    // SGLang's Qwen3-MoE gives every layer experts: configs with dense layers are refused.
    for (const char* keys : {R"("decoder_sparse_step": 2)", R"("mlp_only_layers": [5])"}) {
      CAPTURE(keys);
      const std::string text =
          std::string(R"({"num_attention_heads": 8, "head_dim": 4, "num_experts": 4, )") + keys +
          "}";
      CHECK(code_of([&] { sglang_model_from_config(text, "config.json"); }) ==
            errc::invalid_argument);
      CHECK_THROWS_WITH(sglang_model_from_config(text, "config.json"),
                        Catch::Contains("builds every decoder layer with experts"));
    }
    CHECK_THROWS_WITH(sglang_model_from_config(R"({"architectures": ["Qwen3MoeForCausalLM"],
                                     "num_attention_heads": 8, "head_dim": 4})",
                                               "config.json"),
                      Catch::Contains("config.json: missing \"num_experts\""));
    CHECK_THROWS_WITH(
        sglang_model_from_config(R"({"num_attention_heads": 8, "head_dim": 4, "num_experts": 4,
                                     "mlp_only_layers": 3})",
                                 "config.json"),
        Catch::Contains("mlp_only_layers is not an array"));
    CHECK_THROWS_WITH(
        sglang_model_from_config(R"({"num_attention_heads": 8, "head_dim": 4,
                                     "quantization_config": {"quant_method": "fp8"}})",
                                 "config.json"),
        Catch::Contains("config.json: quantization_config: expected checksums of quantised"));
    CHECK(sglang_model_from_config(R"({"architectures": ["Qwen3ForCausalLM"],
                                       "num_attention_heads": 8, "head_dim": 4})",
                                   "c")
              .num_experts == 0);
  }
}

TEST_CASE("a vocabulary whose padding does not split over tp is padded to 64 tp", "[sglang]") {
  // 100 tokens pad to 128, which 3 does not divide: SGLang pads to a multiple of 192 instead,
  // 64 rows per rank; rank 1 holds tokens 64..99 and 28 zero rows, rank 2 only zero rows.
  const model_fixture f(false, 100, 6, 3);
  sglang_engine<> engine(1);
  const sglang_checksums want = sglang_expected(engine, f.names(), f.views(), f.model(), 3);
  const sglang_checksums got = materialised_reply(f, 3);
  for (std::size_t r = 0; r < 3; ++r) {
    CHECK(want.ranks[r].checksums == got.ranks[r].checksums);
  }
  const std::vector<std::uint8_t> zeros(64 * 32 * 2, 0);
  CHECK(want.ranks[2].checksums.at("lm_head.weight") ==
        engine.hash(tensor_view(zeros.data(), dtype::BF16, {64, 32})));
}

TEST_CASE("the CPU recipe and canonicalisation apply to expected checksums", "[sglang]") {
  const model_fixture f(false);
  sglang_engine<sglang_cpu64, to_f32> cpu(1);
  const sglang_checksums want = sglang_expected(cpu, f.names(), f.views(), f.model(), 2);
  const auto bytes = f.rank_bytes(2, 1).at("lm_head.weight");
  // SGLang's CPU recipe of the F32 copy: the first 8 bytes of SHA-256, big-endian.
  std::vector<std::uint8_t> widened;
  for (std::size_t i = 0; i < bytes.size(); i += 2) {
    const std::uint8_t f32[4] = {0, 0, bytes[i], bytes[i + 1]};
    widened.insert(widened.end(), f32, f32 + 4);
  }
  const std::string sha = test_util::openssl_sha256_hex(widened.data(), widened.size());
  CHECK(to_hex16(want.ranks[1].checksums.at("lm_head.weight")) == sha.substr(0, 16));
}

TEST_CASE("tensors SGLang's Llama/Qwen2 loaders do not take are refused", "[sglang]") {
  model_fixture f(false);
  sglang_engine<> engine(1);
  SECTION("an unknown tensor") {
    f.tensors["model.layers.0.mlp.experts.0.w1.weight"] = f.tensors.at("model.norm.weight");
    CHECK(code_of([&] { sglang_expected(engine, f.names(), f.views(), f.model(), 2); }) ==
          errc::invalid_argument);
  }
  SECTION("a fused group with a member missing") {
    f.tensors.erase("model.layers.1.self_attn.v_proj.weight");
    CHECK(code_of([&] { sglang_expected(engine, f.names(), f.views(), f.model(), 2); }) ==
          errc::invalid_argument);
  }
  SECTION("lm_head missing while embeddings are not tied") {
    f.tensors.erase("lm_head.weight");
    CHECK(code_of([&] { sglang_expected(engine, f.names(), f.views(), f.model(), 2); }) ==
          errc::invalid_argument);
  }
  SECTION("heads that do not split over tp") {
    CHECK(code_of([&] { sglang_expected(engine, f.names(), f.views(), f.model(), 3); }) ==
          errc::invalid_argument);
  }
  SECTION("a tp past the heads: said so, not as a vocabulary overflow") {
    CHECK_THROWS_WITH(
        sglang_expected(engine, f.names(), f.views(), f.model(), std::int64_t{1} << 62),
        Catch::Contains("the model's 8 attention heads are not divisible by tp "
                        "4611686018427387904"));
  }
  SECTION("a layer lacking a tensor the others have (a shard left out)") {
    f.tensors.erase("model.layers.1.mlp.down_proj.weight");
    CHECK_THROWS_WITH(sglang_expected(engine, f.names(), f.views(), f.model(), 2),
                      Catch::Contains("model.layers.1 lacks model.layers.1.mlp.down_proj.weight, "
                                      "which other layers have"));
  }
  SECTION("a whole layer missing, or layers past num_hidden_layers") {
    for (auto it = f.tensors.begin(); it != f.tensors.end();) {
      it = it->first.rfind("model.layers.0.", 0) == 0 ? f.tensors.erase(it) : std::next(it);
    }
    CHECK_THROWS_WITH(sglang_expected(engine, f.names(), f.views(), f.model(), 1),
                      Catch::Contains("model.layers.0 has no tensors (the model has 2 layers)"));
    model_fixture g(false);
    sglang_model fewer = g.model();
    fewer.num_layers = 1;
    CHECK_THROWS_WITH(sglang_expected(engine, g.names(), g.views(), fewer, 1),
                      Catch::Contains("is past the model's 1 layers (num_hidden_layers)"));
    sglang_model more = g.model();
    more.num_layers = 3;
    CHECK_THROWS_WITH(sglang_expected(engine, g.names(), g.views(), more, 1),
                      Catch::Contains("model.layers.2 has no tensors (the model has 3 layers)"));
    more.num_layers = 2;
    CHECK(sglang_expected(engine, g.names(), g.views(), more, 1).ranks.size() == 1);
    for (const char* odd :
         {"model.layers.01.mlp.down_proj.weight", "model.layers.99999999999.mlp.down_proj.weight",
          "model.layers.x.mlp.down_proj.weight"}) {
      model_fixture h(false);
      h.tensors[odd] = h.tensors.at("model.layers.1.mlp.down_proj.weight");
      CHECK_THROWS_WITH(sglang_expected(engine, h.names(), h.views(), h.model(), 1),
                        Catch::Contains("has no layer index SGLang's loader takes"));
    }
    model_fixture none(false);
    for (auto it = none.tensors.begin(); it != none.tensors.end();) {
      it = it->first.rfind("model.layers.", 0) == 0 ? none.tensors.erase(it) : std::next(it);
    }
    CHECK_THROWS_WITH(sglang_expected(engine, none.names(), none.views(), more, 1),
                      Catch::Contains("model.layers.0 has no tensors (the model has 2 layers)"));
  }
  SECTION("rotary_emb.inv_freq is not a checked parameter") {
    f.tensors["model.layers.0.self_attn.rotary_emb.inv_freq"] = f.tensors.at("model.norm.weight");
    const auto want = sglang_expected(engine, f.names(), f.views(), f.model(), 1);
    CHECK(want.ranks[0].checksums.size() == 3 + 2 * 7);
  }
}

TEST_CASE("comparisons name the tensor and the GPU", "[sglang]") {
  const model_fixture f(false);
  sglang_engine<> engine(1);
  const sglang_checksums want = sglang_expected(engine, f.names(), f.views(), f.model(), 2);
  sglang_checksums got = want;
  got.ranks[1].checksums["model.layers.0.mlp.down_proj.weight"] ^= 1;
  got.ranks[1].checksums.erase("model.norm.weight");
  got.ranks[1].checksums["model.extra.weight"] = 5;
  got.ranks[1].per_gpu_checksum = sglang_per_gpu_checksum(got.ranks[1].checksums);
  got.per_engine_checksum = sglang_per_engine_checksum(got.ranks);
  const sglang_comparison c = compare(want, got);
  CHECK_FALSE(c.ok());
  REQUIRE(c.mismatched.size() == 1);
  CHECK(c.mismatched[0].name == "model.layers.0.mlp.down_proj.weight");
  CHECK(c.mismatched[0].rank == "tp 1/2");
  REQUIRE(c.missing.size() == 1);
  CHECK(c.missing[0].name == "model.norm.weight");
  REQUIRE(c.unexpected.size() == 1);
  CHECK(c.per_gpu.size() == 1);
  CHECK(c.per_engine.has_value());
  CHECK(c.matched == want.ranks[0].checksums.size() + want.ranks[1].checksums.size() - 2);
  const std::string text = c.summary();
  CHECK(text.find("MISMATCH   model.layers.0.mlp.down_proj.weight  [tp 1/2]") != std::string::npos);

  SECTION("a GPU missing from the reply") {
    got.ranks.pop_back();
    const sglang_comparison m = compare(want, got);
    CHECK(m.missing_ranks == std::vector<std::string>{"tp 1/2"});
    CHECK_FALSE(m.per_engine.has_value());  // different rank counts: not comparable
  }
  SECTION("data-parallel replicas each compare with the tp rank they hold") {
    sglang_checksums dp = want;
    dp.ranks.clear();
    for (std::int64_t d = 0; d < 2; ++d) {
      for (auto r : want.ranks) {
        r.parallelism.front().dp_rank = d;
        r.parallelism.front().dp_size = 2;
        dp.ranks.push_back(r);
      }
    }
    dp.per_engine_checksum = sglang_per_engine_checksum(dp.ranks);
    const sglang_comparison m = compare(want, dp);
    CHECK(m.ok());
    CHECK(m.ranks_compared == 4);
  }
  SECTION("a different tp size is bad input") {
    sglang_engine<> one(1);
    const auto tp4 = sglang_expected(one, f.names(), f.views(), f.model(), 4);
    CHECK(code_of([&] { compare(want, tp4); }) == errc::invalid_argument);
  }
}

TEST_CASE("replies round-trip through JSON in SGLang's three forms", "[sglang]") {
  const model_fixture f(true);
  sglang_engine<> engine(1);
  const sglang_checksums want = sglang_expected(engine, f.names(), f.views(), f.model(), 2);
  const nlohmann::ordered_json reply = to_json(want);
  CHECK(reply["ranks"][1]["parallelism_info"][0]["tp_rank"] == 1);
  CHECK(reply["per_engine_checksum"] == want.per_engine_checksum->to_hex());

  const auto back = sglang_checksums_from_json(reply.dump());
  CHECK(compare(want, back).ok());
  // A list of ChecksumInfo, and one ChecksumInfo with an object parallelism_info.
  const auto list = sglang_checksums_from_json(reply["ranks"].dump());
  CHECK(list.ranks.size() == 2);
  CHECK_FALSE(list.per_engine_checksum.has_value());
  nlohmann::ordered_json one = reply["ranks"][0];
  one["parallelism_info"] = one["parallelism_info"][0];
  const auto single = sglang_checksums_from_json(one.dump());
  REQUIRE(single.ranks.size() == 1);
  CHECK(single.ranks[0].checksums == want.ranks[0].checksums);

  const auto code_for = [](const nlohmann::ordered_json& j) {
    return code_of([&] { sglang_checksums_from_json(j.dump()); });
  };
  nlohmann::ordered_json bad = reply;
  bad["ranks"][0]["per_gpu_checksum"] = std::string(64, '0');
  CHECK(code_for(bad) == errc::parse_error);
  bad = reply;
  bad["per_engine_checksum"] = std::string(64, 'a');
  CHECK(code_for(bad) == errc::parse_error);
  bad = reply;
  bad["ranks"][0]["checksums"]["model.norm.weight"] = "ABCDEF0123456789";
  CHECK(code_for(bad) == errc::parse_error);
  bad = reply;
  bad["ranks"][0]["extra"] = 1;
  CHECK(code_for(bad) == errc::parse_error);
  bad = reply;
  bad["ranks"][0]["parallelism_info"][0]["tp_rank"] = 2;
  CHECK(code_for(bad) == errc::parse_error);
  bad = nlohmann::ordered_json{{"success", false}, {"message", "rank 3 failed"}};
  CHECK(code_for(bad) == errc::invalid_argument);
  CHECK(code_for(nlohmann::ordered_json::array()) == errc::parse_error);
}

TEST_CASE("a manifest of SGLang digests reads as one GPU's reply", "[sglang]") {
  digest_settings s;
  s.algorithm = sglang64::algorithm;
  s.chunk_bytes = 0;
  manifest m(s);
  manifest_entry e;
  e.type = dtype::BF16;
  e.shape = {2};
  e.digest = digest_of_u64(0x0123456789abcdefull);
  m.add("w", e);
  const sglang_checksums c = sglang_checksums_of(m);
  REQUIRE(c.ranks.size() == 1);
  CHECK(c.ranks[0].checksums.at("w") == 0x0123456789abcdefull);
  CHECK(c.ranks[0].per_gpu_checksum == m.aggregate());
  CHECK(code_of([] { sglang_checksums_of(manifest(digest_settings{})); }) ==
        errc::invalid_argument);
}
