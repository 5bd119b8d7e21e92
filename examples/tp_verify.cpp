// Trainer <-> engine weight verification under tensor parallelism, simulated on the CPU.
//
// The trainer holds full HF-format tensors (q_proj, k_proj, v_proj, gate_proj, up_proj, ...);
// each engine rank holds its shards, fused as engines fuse them (qkv_proj, gate_up_proj) and a
// padded vocabulary. Every rank hashes what it holds; the trainer computes, from its full tensors
// and the layouts, the digests each rank should have — nothing is gathered or copied. Then a
// one-bit error planted in one rank's shard is located to its tensor, rank and chunk, and the
// embedding's full tree digest is composed from the ranks' leaf digests alone.
//
//   tp_verify            exit 0 when every check behaves as expected
#include <tensorhash/tensorhash.hpp>

#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace th = tensorhash;

namespace {

constexpr std::int64_t hidden = 256, heads = 8, kv_heads = 2, head_dim = 32, inter = 512,
                       vocab = 1000, layers = 2;

/// A dense row-major BF16 matrix (or vector: cols == 0).
struct tensor {
  std::int64_t rows = 0, cols = 0;
  std::vector<std::uint16_t> data;
  th::tensor_view view() const {
    return cols == 0 ? th::tensor_view(data.data(), th::dtype::BF16, {rows})
                     : th::tensor_view(data.data(), th::dtype::BF16, {rows, cols});
  }
};

tensor random_tensor(std::int64_t rows, std::int64_t cols, std::mt19937_64& rng) {
  tensor t{
      rows, cols,
      std::vector<std::uint16_t>(static_cast<std::size_t>(rows * std::max<std::int64_t>(cols, 1)))};
  for (auto& x : t.data)
    x = static_cast<std::uint16_t>(rng());
  return t;
}

/// One engine parameter: its layout and the trainer tensors it is built from.
struct param {
  std::string engine_name;
  std::vector<std::string> trainer_names;
  th::tp_layout::kind kind;
};

std::vector<param> engine_params() {
  using k = th::tp_layout::kind;
  std::vector<param> p = {
      {"model.embed_tokens.weight", {"model.embed_tokens.weight"}, k::vocab_parallel},
      {"lm_head.weight", {"lm_head.weight"}, k::vocab_parallel},
      {"model.norm.weight", {"model.norm.weight"}, k::replicated}};
  for (std::int64_t l = 0; l < layers; ++l) {
    const std::string a = "model.layers." + std::to_string(l) + ".";
    p.push_back({a + "self_attn.qkv_proj.weight",
                 {a + "self_attn.q_proj.weight", a + "self_attn.k_proj.weight",
                  a + "self_attn.v_proj.weight"},
                 k::fused_qkv});
    p.push_back({a + "self_attn.o_proj.weight", {a + "self_attn.o_proj.weight"}, k::row_parallel});
    p.push_back({a + "mlp.gate_up_proj.weight",
                 {a + "mlp.gate_proj.weight", a + "mlp.up_proj.weight"},
                 k::fused_gate_up});
    p.push_back({a + "mlp.down_proj.weight", {a + "mlp.down_proj.weight"}, k::row_parallel});
    p.push_back({a + "input_layernorm.weight", {a + "input_layernorm.weight"}, k::replicated});
    p.push_back({a + "post_attention_layernorm.weight",
                 {a + "post_attention_layernorm.weight"},
                 k::replicated});
  }
  return p;
}

th::tp_layout layout_of(th::tp_layout::kind kind, std::int64_t tp, std::int64_t r) {
  using k = th::tp_layout::kind;
  switch (kind) {
    case k::vocab_parallel:
      return th::tp_layout::vocab_parallel(tp, r, vocab, 64);
    case k::fused_qkv:
      return th::tp_layout::fused_qkv(tp, r, heads, kv_heads, head_dim);
    case k::fused_gate_up:
      return th::tp_layout::fused_gate_up(tp, r);
    case k::row_parallel:
      return th::tp_layout::row_parallel(tp, r);
    case k::column_parallel:
      return th::tp_layout::column_parallel(tp, r);
    case k::replicated:
      break;
  }
  return th::tp_layout::replicated();
}

/// What an engine's loader does: copy the rank's rows (or columns) into its own buffer, and pad
/// the vocabulary with rows that hold no token. (For brevity the rows to copy come from the
/// layout; tests/layout_test.cpp builds every shard without the library and checks the same.)
tensor load_shard(const th::tp_layout& l, const std::vector<const tensor*>& full,
                  std::mt19937_64& rng) {
  const th::composite_view part = th::expected_shard(l, [&] {
    std::vector<th::tensor_view> v;
    for (const auto* t : full)
      v.push_back(t->view());
    return v;
  }());
  tensor out;
  out.cols = full[0]->cols;
  for (const auto& piece : part.pieces()) {
    // Copy the piece row by row (rows of a piece are contiguous runs of `piece.shape(1)`).
    const std::int64_t rows = piece.rank() == 1 ? 1 : piece.shape(0);
    const std::int64_t cols = piece.rank() == 1 ? piece.shape(0) : piece.shape(1);
    const std::int64_t stride = piece.rank() == 1 ? 0 : piece.stride(0);
    const auto* src = static_cast<const std::uint16_t*>(piece.data());
    for (std::int64_t r = 0; r < rows && cols > 0; ++r) {
      out.data.insert(out.data.end(), src + r * stride, src + r * stride + cols);
    }
    if (piece.rank() == 2)
      out.cols = cols;
  }
  if (l.type == th::tp_layout::kind::vocab_parallel) {
    const std::int64_t per = l.padded_vocab() / l.tp_size;
    while (static_cast<std::int64_t>(out.data.size()) < per * out.cols) {
      out.data.push_back(static_cast<std::uint16_t>(rng()));  // padding rows: any bytes
    }
  }
  out.rows = out.cols == 0 ? static_cast<std::int64_t>(out.data.size())
                           : static_cast<std::int64_t>(out.data.size()) / out.cols;
  if (full[0]->cols == 0)
    out.cols = 0;
  return out;
}

}  // namespace

int main() {
  std::mt19937_64 rng(7);
  std::map<std::string, tensor> trainer;
  trainer["model.embed_tokens.weight"] = random_tensor(vocab, hidden, rng);
  trainer["lm_head.weight"] = random_tensor(vocab, hidden, rng);
  trainer["model.norm.weight"] = random_tensor(hidden, 0, rng);
  for (std::int64_t l = 0; l < layers; ++l) {
    const std::string a = "model.layers." + std::to_string(l) + ".";
    trainer[a + "self_attn.q_proj.weight"] = random_tensor(heads * head_dim, hidden, rng);
    trainer[a + "self_attn.k_proj.weight"] = random_tensor(kv_heads * head_dim, hidden, rng);
    trainer[a + "self_attn.v_proj.weight"] = random_tensor(kv_heads * head_dim, hidden, rng);
    trainer[a + "self_attn.o_proj.weight"] = random_tensor(hidden, heads * head_dim, rng);
    trainer[a + "mlp.gate_proj.weight"] = random_tensor(inter, hidden, rng);
    trainer[a + "mlp.up_proj.weight"] = random_tensor(inter, hidden, rng);
    trainer[a + "mlp.down_proj.weight"] = random_tensor(hidden, inter, rng);
    trainer[a + "input_layernorm.weight"] = random_tensor(hidden, 0, rng);
    trainer[a + "post_attention_layernorm.weight"] = random_tensor(hidden, 0, rng);
  }
  const auto params = engine_params();
  th::host_engine<th::tree> engine(th::tree(1024));
  bool ok = true;

  for (std::int64_t tp : {1, 2, 4, 8}) {
    std::vector<th::digest256> per_rank;
    std::vector<th::shard_leaves> embed_leaves;
    for (std::int64_t r = 0; r < tp; ++r) {
      th::manifest expected(th::digest_settings::of<th::tree>(engine.mode()));
      th::manifest actual(expected.settings());
      for (const auto& p : params) {
        const th::tp_layout l = layout_of(p.kind, tp, r);
        std::vector<const tensor*> full;
        std::vector<th::tensor_view> full_views;
        for (const auto& n : p.trainer_names) {
          full.push_back(&trainer.at(n));
          full_views.push_back(full.back()->view());
        }
        // Engine side: the rank's own shard, as loaded; only its covered part is hashed.
        tensor shard = load_shard(l, full, rng);
        if (tp == 4 && r == 1 && p.engine_name == "model.layers.1.self_attn.qkv_proj.weight") {
          shard.data[3000] ^= 0x0004;  // a one-bit error in one rank's fused shard
        }
        const th::tensor_view covered = th::covered_part(l, shard.view());
        const th::composite_view want = th::expected_shard(l, full_views);
        th::manifest_entry got_entry{covered.dtype(), {}, engine.hash(covered), {}};
        th::manifest_entry want_entry{want.dtype(), {}, engine.hash(want), {}};
        for (int d = 0; d < covered.rank(); ++d)
          got_entry.shape.push_back(covered.shape(d));
        want_entry.shape = want.shape();
        actual.add(p.engine_name, got_entry);
        expected.add(p.engine_name, want_entry);
        if (got_entry.digest != want_entry.digest) {
          // Locate the difference from leaf digests: 32 bytes per 1 KiB chunk cross the wire.
          const auto diff = th::diff_leaves(engine.leaves(want), engine.leaves(covered), 1024,
                                            want.numel() * 2, 2);
          for (const auto& d : diff) {
            std::printf(
                "TP=%lld rank %lld: %s differs in chunk %llu: bytes [%llu, %llu), "
                "elements [%llu, %llu)\n",
                static_cast<long long>(tp), static_cast<long long>(r), p.engine_name.c_str(),
                static_cast<unsigned long long>(d.chunk),
                static_cast<unsigned long long>(d.byte_begin),
                static_cast<unsigned long long>(d.byte_end),
                static_cast<unsigned long long>(d.element_begin),
                static_cast<unsigned long long>(d.element_end));
          }
        }
        if (p.engine_name == "model.embed_tokens.weight") {
          embed_leaves.push_back({covered.nbytes(), engine.leaves(covered)});
        }
      }
      const th::comparison c = th::compare(expected, actual);
      const bool planted = tp == 4 && r == 1;
      if (c.ok() == planted)
        ok = false;  // exactly the planted error must be found
      per_rank.push_back(actual.aggregate());
    }
    const bool composed = th::compose_tree(embed_leaves, 1024) ==
                          engine.hash(trainer.at("model.embed_tokens.weight").view());
    ok = ok && composed;
    std::printf(
        "TP=%lld: %lld ranks x %zu parameters checked; engine aggregate %s; embedding "
        "tree composed from rank leaves: %s\n",
        static_cast<long long>(tp), static_cast<long long>(tp), params.size(),
        th::engine_aggregate(per_rank).to_hex().substr(0, 16).c_str(),
        composed ? "matches" : "DIFFERS");
  }
  std::printf("%s\n", ok ? "all shards match except the planted error, which was located"
                         : "UNEXPECTED RESULT");
  return ok ? 0 : 1;
}
