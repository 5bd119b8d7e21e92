// Tensor-parallel layouts: for random full tensors and every layout, the expected shard digest
// equals the digest of the shard materialised by plain row/column copies; tree digests compose
// from shard leaves; conditions that do not hold are refused.
#include "test_util.hpp"

#include <tensorhash/host.hpp>
#include <tensorhash/layout.hpp>

#include <cstring>
#include <map>
#include <random>

using namespace tensorhash;

namespace {

/// A dense row-major BF16 matrix with its own storage.
struct matrix {
  std::int64_t rows = 0, cols = 0;
  std::vector<std::uint16_t> data;
  matrix(std::int64_t r, std::int64_t c, std::mt19937_64& rng)
      : rows(r), cols(c), data(static_cast<std::size_t>(r * c)) {
    for (auto& x : data)
      x = static_cast<std::uint16_t>(rng());
  }
  matrix(std::int64_t r, std::int64_t c)
      : rows(r), cols(c), data(static_cast<std::size_t>(r * c)) {}
  tensor_view view() const { return tensor_view(data.data(), dtype::BF16, {rows, cols}); }
};

/// Copies rows [begin, begin + n) of `m` below the rows already in `out` (the engine's fusing).
void append_rows(matrix& out, const matrix& m, std::int64_t begin, std::int64_t n) {
  if (n == 0) {
    return;  // memcpy from an empty matrix's null data is undefined even for 0 bytes
  }
  const std::size_t at = out.data.size();
  out.data.resize(at + static_cast<std::size_t>(n * m.cols));
  std::memcpy(out.data.data() + at, m.data.data() + begin * m.cols,
              static_cast<std::size_t>(n * m.cols) * 2);
  out.rows += n;
  out.cols = m.cols;
}

matrix column_block(const matrix& m, std::int64_t begin, std::int64_t n) {
  matrix out(m.rows, n);
  for (std::int64_t r = 0; r < m.rows; ++r) {
    std::memcpy(out.data.data() + r * n, m.data.data() + r * m.cols + begin,
                static_cast<std::size_t>(n) * 2);
  }
  return out;
}

template <class Mode>
void check_same(const composite_view& expected, const matrix& shard, Mode mode) {
  host_engine<Mode, to_f32> engine(mode, 2);
  CHECK(engine.hash(expected) == engine.hash(shard.view()));
}

}  // namespace

TEST_CASE("layout: column/row parallel shards equal plainly sliced shards", "[layout][shard]") {
  std::mt19937_64 rng(1);
  const matrix w(64, 48, rng);
  for (std::int64_t tp : {1, 2, 4, 8}) {
    for (std::int64_t r = 0; r < tp; ++r) {
      CAPTURE(tp, r);
      matrix rows(0, w.cols);
      append_rows(rows, w, r * (64 / tp), 64 / tp);
      check_same(expected_shard(tp_layout::column_parallel(tp, r), {w.view()}), rows, tree(1024));
      check_same(expected_shard(tp_layout::column_parallel(tp, r), {w.view()}), rows, exact{});
      const matrix cols = column_block(w, r * (48 / tp), 48 / tp);
      check_same(expected_shard(tp_layout::row_parallel(tp, r), {w.view()}), cols, tree(1024));
      check_same(expected_shard(tp_layout::row_parallel(tp, r), {w.view()}), cols, exact{});
    }
  }
  check_same(expected_shard(tp_layout::replicated(), {w.view()}), w, exact{});
}

TEST_CASE("layout: fused qkv with grouped-query attention, kv heads split or replicated",
          "[layout][fused][shard]") {
  std::mt19937_64 rng(2);
  const std::int64_t heads = 8, kv = 2, d = 4, hidden = 40;
  const matrix q(heads * d, hidden, rng), k(kv * d, hidden, rng), v(kv * d, hidden, rng);
  for (std::int64_t tp : {1, 2, 4, 8}) {
    for (std::int64_t r = 0; r < tp; ++r) {
      CAPTURE(tp, r);
      // The engine's qkv_proj shard, built the way engines load it.
      const std::int64_t qh = heads / tp;
      const std::int64_t kv_first = kv >= tp ? r * (kv / tp) : r / (tp / kv);
      const std::int64_t kv_count = kv >= tp ? kv / tp : 1;
      matrix shard(0, hidden);
      append_rows(shard, q, r * qh * d, qh * d);
      append_rows(shard, k, kv_first * d, kv_count * d);
      append_rows(shard, v, kv_first * d, kv_count * d);
      const auto expected =
          expected_shard(tp_layout::fused_qkv(tp, r, heads, kv, d), {q.view(), k.view(), v.view()});
      check_same(expected, shard, tree(1024));
      check_same(expected, shard, exact{});
    }
  }
}

TEST_CASE("layout: fused gate_up is the rank's gate rows then its up rows", "[layout][fused]") {
  std::mt19937_64 rng(3);
  const matrix gate(96, 32, rng), up(96, 32, rng);
  for (std::int64_t tp : {1, 2, 4, 8}) {
    for (std::int64_t r = 0; r < tp; ++r) {
      matrix shard(0, 32);
      append_rows(shard, gate, r * (96 / tp), 96 / tp);
      append_rows(shard, up, r * (96 / tp), 96 / tp);
      const auto expected =
          expected_shard(tp_layout::fused_gate_up(tp, r), {gate.view(), up.view()});
      check_same(expected, shard, tree(1024));
      check_same(expected, shard, exact{});
    }
  }
}

TEST_CASE("layout: vocab-parallel shards cover the real-token rows only", "[layout][shard]") {
  std::mt19937_64 rng(4);
  const std::int64_t vocab = 1000, hidden = 16;  // padded to 1024: the last rank holds padding
  const matrix embed(vocab, hidden, rng);
  for (std::int64_t tp : {1, 2, 4, 8}) {
    const std::int64_t per = 1024 / tp;
    for (std::int64_t r = 0; r < tp; ++r) {
      CAPTURE(tp, r);
      // The engine's shard: its padded rows, real ones copied, padding filled with garbage.
      matrix shard(0, hidden);
      const std::int64_t real = std::max<std::int64_t>(0, std::min(per, vocab - r * per));
      append_rows(shard, embed, std::min(r * per, vocab), real);
      matrix padding(per - real, hidden, rng);
      append_rows(shard, padding, 0, per - real);
      const auto layout = tp_layout::vocab_parallel(tp, r, vocab, 64);
      const tensor_view covered = covered_part(layout, shard.view());
      CHECK(covered.shape(0) == real);
      host_engine<tree> engine(tree(1024));
      CHECK(engine.hash(expected_shard(layout, {embed.view()})) == engine.hash(covered));
    }
  }
}

TEST_CASE("compose: the full tree digest from dim-0 shard leaves", "[compose][shard]") {
  std::mt19937_64 rng(5);
  const matrix w(256, 64, rng);  // 32 KiB: 8 shards of 4 KiB at tp 8
  host_engine<tree> engine(tree(1024));
  const digest256 full = engine.hash(w.view());
  for (std::int64_t tp : {1, 2, 4, 8}) {
    std::vector<shard_leaves> shards;
    for (std::int64_t r = 0; r < tp; ++r) {
      const composite_view s = expected_shard(tp_layout::column_parallel(tp, r), {w.view()});
      const auto leaves = engine.leaves(s);
      const auto wire = leaves_to_bytes(leaves);  // what a collective would move
      shards.push_back({s.numel() * 2, leaves_from_bytes(wire.data(), wire.size())});
    }
    CHECK(compose_tree(shards, 1024) == full);
  }
  // A last shard may be short; earlier ones must be whole chunks.
  const matrix odd(10, 100, rng);  // 2000 bytes
  const tensor_view ov = odd.view();
  host_engine<tree> e1024(tree(1024));
  const auto head = slice(ov, 0, 0, 5), tail = slice(ov, 0, 5, 5);  // 1000 + 1000 bytes
  CHECK_THROWS_WITH(compose_tree({{1000, e1024.leaves(head)}, {1000, e1024.leaves(tail)}}, 1024),
                    Catch::Matchers::Contains("not a multiple of the 1024-byte chunk"));
  CHECK_THROWS_AS(compose_tree({{2048, {}}}, 1024), error);
}

TEST_CASE("layout: shapes that do not fit a layout are refused", "[layout][shard]") {
  std::mt19937_64 rng(6);
  const matrix w(30, 20, rng), k(8, 20, rng);
  const auto refused = [](const std::function<void()>& f) {
    try {
      f();
    } catch (const error& e) {
      return e.code() == errc::invalid_argument;
    }
    return false;
  };
  CHECK(refused([&] { expected_shard(tp_layout::column_parallel(4, 0), {w.view()}); }));
  CHECK(refused([&] { expected_shard(tp_layout::row_parallel(3, 0), {w.view()}); }));
  CHECK(refused([&] { expected_shard(tp_layout::column_parallel(2, 2), {w.view()}); }));
  CHECK(refused([&] { expected_shard(tp_layout::fused_gate_up(2, 0), {w.view()}); }));
  CHECK(refused([&] {
    expected_shard(tp_layout::fused_qkv(2, 0, 6, 4, 5), {w.view(), k.view(), k.view()});
  }));
  CHECK(refused([&] { expected_shard(tp_layout::vocab_parallel(7, 0, 30, 64), {w.view()}); }));
  // pad_to 0 was a division by zero (SIGFPE), in expected_shard and covered_part alike
  CHECK(refused([&] { expected_shard(tp_layout::vocab_parallel(2, 0, 30, 0), {w.view()}); }));
  CHECK(refused([&] { covered_part(tp_layout::vocab_parallel(2, 0, 30, 0), w.view()); }));
  CHECK(refused([&] { expected_shard(tp_layout::vocab_parallel(2, 0, -30, 64), {w.view()}); }));
  CHECK(refused([&] { concat({w.view(), k.view()}, 1); }));
  CHECK(refused([&] { slice(w.view(), 0, 25, 10); }));
}

TEST_CASE("concat along inner dims and strided slices equal their materialised copies",
          "[concat]") {
  std::mt19937_64 rng(7);
  const matrix a(6, 10, rng), b(6, 3, rng);
  matrix joined(6, 13);
  for (std::int64_t r = 0; r < 6; ++r) {
    std::memcpy(joined.data.data() + r * 13, a.data.data() + r * 10, 20);
    std::memcpy(joined.data.data() + r * 13 + 10, b.data.data() + r * 3, 6);
  }
  host_engine<exact> engine;
  CHECK(engine.hash(concat({a.view(), b.view()}, 1)) == engine.hash(joined.view()));
  matrix stepped(3, 10);
  for (std::int64_t r = 0; r < 3; ++r) {
    std::memcpy(stepped.data.data() + r * 10, a.data.data() + (1 + 2 * r) * 10, 20);
  }
  CHECK(engine.hash(slice(a.view(), 0, 1, 3, 2)) == engine.hash(stepped.view()));
}

TEST_CASE("stack lays its parts one after another under a new dim 0", "[concat]") {
  std::mt19937_64 rng(8);
  const matrix a(4, 6, rng), b(4, 6, rng), narrow(4, 5, rng);
  // Rows 1..2 of each part, stacked: [2, 2, 6].
  const composite_view s = stack({slice(a.view(), 0, 1, 2), slice(b.view(), 0, 1, 2)});
  CHECK(s.shape() == std::vector<std::int64_t>{2, 2, 6});
  matrix copied(4, 6);
  std::memcpy(copied.data.data(), a.data.data() + 6, 24);
  std::memcpy(copied.data.data() + 12, b.data.data() + 6, 24);
  host_engine<exact> engine;
  CHECK(engine.hash(s) == engine.hash(tensor_view(copied.data.data(), dtype::BF16, {2, 2, 6})));
  CHECK_THROWS_WITH(stack({a.view(), narrow.view()}),
                    Catch::Matchers::Contains("stack part 1 differs from part 0"));
  CHECK_THROWS_AS(stack({}), error);
}

TEST_CASE("layout: expected shard digests equal python/tensorhash_ref.py's shard()",
          "[layout][shard][reference]") {
  const auto lines = test_util::read_lines(test_util::reference_path("layout_cases.txt"));
  REQUIRE(lines.size() > 100);
  const std::map<std::string, tp_layout::kind> kinds = {
      {"replicated", tp_layout::kind::replicated},
      {"column_parallel", tp_layout::kind::column_parallel},
      {"row_parallel", tp_layout::kind::row_parallel},
      {"vocab_parallel", tp_layout::kind::vocab_parallel},
      {"fused_qkv", tp_layout::kind::fused_qkv},
      {"fused_gate_up", tp_layout::kind::fused_gate_up}};
  for (const auto& line : lines) {
    std::istringstream in(line);
    std::string name, mode, type, digest;
    tp_layout l;
    std::size_t parts = 0;
    in >> name >> l.tp_size >> l.rank >> mode >> type >> l.vocab_size >> l.num_heads >>
        l.num_kv_heads >> l.head_dim >> parts;
    l.type = kinds.at(name);
    l.pad_to = 64;
    std::vector<std::vector<std::uint8_t>> storage(parts);
    std::vector<tensor_view> full;
    for (std::size_t p = 0; p < parts; ++p) {
      std::int64_t rows = 0, cols = 0;
      std::string hex;
      in >> rows >> cols >> hex;
      storage[p] = test_util::from_hex(hex);
      full.emplace_back(storage[p].data(), dtype_from_string(type),
                        std::initializer_list<std::int64_t>{rows, cols});
    }
    in >> digest;
    INFO(line.substr(0, 80));
    const composite_view shard = expected_shard(l, full);
    const digest256 got = mode == "exact" ? host_hash<exact>(shard) : host_hash(shard, tree(1024));
    CHECK(got.to_hex() == digest);
  }
}
