// Manifests: SGLang-compatible aggregates (values from hashlib through python/tensorhash_ref.py),
// comparison, merge, filter, snapshots, chunk diffs, and strict JSON.
#include "test_util.hpp"

#include <tensorhash/manifest.hpp>
#include <tensorhash/manifest_json.hpp>

#include <random>

using namespace tensorhash;
using test_util::code_of;

namespace {

manifest_entry entry(dtype t, std::vector<std::int64_t> shape, const std::string& hex) {
  manifest_entry e;
  e.type = t;
  e.shape = std::move(shape);
  e.digest = digest256::from_hex(hex);
  return e;
}

/// `pair` repeated 32 times: a 64-digit hex digest.
std::string rep(const char* pair) {
  std::string s;
  for (int i = 0; i < 32; ++i)
    s += pair;
  return s;
}

manifest sample() {
  manifest m(digest_settings::of<tree>(tree()));
  m.add("model.layers.0.mlp.up_proj.weight", entry(dtype::BF16, {8, 4}, rep("11")));
  m.add("lm_head.weight", entry(dtype::BF16, {4, 4}, rep("ab")));
  m.add("Zeta", entry(dtype::F32, {}, rep("00")));
  m.add("\xc3\xa9mbed", entry(dtype::U8, {0}, rep("ff")));  // "émbed"
  return m;
}

}  // namespace

TEST_CASE("Per-rank and per-engine aggregates equal SGLang's (hashlib values)", "[manifest]") {
  // python/tensorhash_ref.py: rank_aggregate = sha256 over name.encode() + hex for sorted names;
  // engine_aggregate = sha256 over the concatenated per-rank hex digests.
  const manifest m = sample();
  CHECK(m.aggregate().to_hex() ==
        "7339ae5941eb08dc7684623a8fa7d76527389c50a5fc2c40b81ef3a7d7f4ef48");
  CHECK(engine_aggregate({m.aggregate(), digest256::from_hex(rep("12"))}).to_hex() ==
        "796e2cf4636fb282234c4f6ac2056250905fe54bb183708e2c1330415991edc7");
}

TEST_CASE("compare reports matched, mismatched, metadata, missing and unexpected", "[manifest]") {
  const manifest expected = sample();
  manifest actual(expected.settings());
  for (const auto& [name, e] : expected.tensors()) {
    if (name == "Zeta")
      continue;  // missing
    auto copy = e;
    if (name == "lm_head.weight")
      copy.digest.bytes[0] ^= 1;  // mismatched
    if (name == "\xc3\xa9mbed")
      copy.shape = {1};  // metadata
    actual.add(name, copy);
  }
  actual.add("extra", entry(dtype::I32, {2}, rep("cc")));  // unexpected
  const comparison c = compare(expected, actual);
  CHECK_FALSE(c.ok());
  CHECK(c.matched == std::vector<std::string>{"model.layers.0.mlp.up_proj.weight"});
  REQUIRE(c.mismatched.size() == 1);
  CHECK(c.mismatched[0].name == "lm_head.weight");
  REQUIRE(c.metadata.size() == 1);
  CHECK(c.missing == std::vector<std::string>{"Zeta"});
  CHECK(c.unexpected == std::vector<std::string>{"extra"});
  CHECK(c.summary().find("MISMATCH   lm_head.weight") != std::string::npos);
  CHECK(compare(expected, expected).ok());
  const comparison settings = compare(expected, manifest(digest_settings::of<exact>(exact{})));
  CHECK(settings.settings_differ);
  CHECK_FALSE(settings.ok());
}

TEST_CASE("merge under role prefixes refuses collisions; filter skips names", "[manifest]") {
  const manifest a = sample();
  const manifest merged = merge({{"", a}, {"draft.", a}});
  CHECK(merged.size() == 8);
  CHECK(merged.tensors().count("draft.lm_head.weight") == 1);
  CHECK(code_of([&] { merge({{"", a}, {"", a}}); }) == errc::duplicate_name);
  CHECK(code_of([&] {
          merge({{"", a}, {"x.", manifest(digest_settings::of<exact>(exact{}))}});
        }) == errc::invalid_argument);
  skip_rules rules;
  rules.names = {"Zeta"};
  rules.substrings = {"mlp."};
  const manifest kept = filter(a, rules);
  CHECK(kept.size() == 2);
  CHECK(kept.tensors().count("lm_head.weight") == 1);
}

TEST_CASE("Snapshots report which live tensors changed; leaves locate the chunk", "[manifest]") {
  std::vector<std::uint16_t> w(64 * 1024), b(300);
  std::mt19937 rng(3);
  for (auto& x : w)
    x = static_cast<std::uint16_t>(rng());
  const std::vector<tensor_view> views = {tensor_view(w.data(), dtype::BF16, {64, 1024}),
                                          tensor_view(b.data(), dtype::BF16, {300})};
  host_snapshot<tree> snap({"w", "b"}, views, tree(4096));
  CHECK(snap.changes().ok());
  host_engine<tree> engine(tree(4096));
  const auto before = engine.leaves(views[0]);
  CHECK(merkle_root(before) == engine.hash(views[0]));
  w[40000] ^= 0x0100;  // one bit of element 40000, byte 80001
  const comparison c = snap.changes();
  REQUIRE(c.mismatched.size() == 1);
  CHECK(c.mismatched[0].name == "w");
  const auto d = diff_leaves(before, engine.leaves(views[0]), 4096, w.size() * 2, 2);
  REQUIRE(d.size() == 1);
  CHECK(d[0].chunk == 80001 / 4096);
  CHECK(d[0].byte_begin == 19 * 4096);
  CHECK(d[0].byte_end == 20 * 4096);
  CHECK(d[0].element_begin <= 40000);
  CHECK(d[0].element_end > 40000);
}

TEST_CASE("Manifest JSON round trip, with leaves", "[manifest][json]") {
  manifest m = sample();
  m.add("wide", entry(dtype::U8, {40000}, rep("00")));  // three 16 KiB chunks
  manifest with(m.settings());
  for (const auto& [name, e] : m.tensors()) {
    auto copy = e;  // leaves as many as the chunks, the digest their root (a reader checks both)
    std::uint64_t bytes = size_of(e.type);
    for (const auto d : e.shape)
      bytes *= static_cast<std::uint64_t>(d);
    for (std::uint64_t i = 0; i < (bytes + 16383) / 16384; ++i)
      copy.leaves.push_back(hash_bytes<sha256>(&i, sizeof i));
    if (!copy.leaves.empty())
      copy.digest = merkle_root<sha256>(copy.leaves);
    with.add(name, copy);
  }
  const std::string text = to_json(with).dump();
  const manifest back = manifest_from_json(text, "round-trip");
  CHECK(compare(with, back).ok());
  CHECK(back.tensors().at("Zeta").leaves.size() == 1);
  CHECK(back.tensors().at("wide").leaves.size() == 3);
  CHECK(back.tensors().at("\xc3\xa9mbed").leaves.empty());
  auto fewer = nlohmann::json::parse(text);
  fewer["tensors"]["wide"]["leaves"].erase(0);
  CHECK_THROWS_WITH(
      manifest_from_json(fewer.dump(), "m.json"),
      Catch::Contains("tensor \"wide\": 2 leaves, but its 40000 bytes make 3 chunks"));
  auto other = nlohmann::json::parse(text);
  other["tensors"]["wide"]["leaves"][1] = other["tensors"]["wide"]["leaves"][0];
  CHECK_THROWS_WITH(manifest_from_json(other.dump(), "m.json"),
                    Catch::Contains("tensor \"wide\": leaves do not hash to its digest"));
  CHECK(to_json(back).dump() == text);
  CHECK(text.find("\"chunk_bytes\":16384") != std::string::npos);
  const std::string exact_text =
      to_json(manifest(digest_settings::of<exact, to_bf16>(exact{}))).dump();
  CHECK(exact_text.find("chunk_bytes") == std::string::npos);
  CHECK(exact_text.find("\"canonical_dtype\":\"BF16\"") != std::string::npos);
}

TEST_CASE("Malformed manifest JSON is refused with the source and the key named",
          "[manifest][json][error]") {
  const std::string good = to_json(sample()).dump();
  const auto code = [](const std::string& text) {
    return code_of([&] { manifest_from_json(text, "m.json"); });
  };
  CHECK(code("{") == errc::parse_error);
  CHECK(code("[]") == errc::parse_error);
  CHECK(code("{\"format\": \"other/1\"}") == errc::parse_error);
  std::string bad_agg = good;
  bad_agg.replace(bad_agg.rfind("\"aggregate\":\"") + 13, 1, "0");
  bad_agg.replace(bad_agg.rfind("\"aggregate\":\"") + 14, 1, "0");
  CHECK(code(bad_agg) == errc::parse_error);
  std::string bad_algo = good;
  bad_algo.replace(bad_algo.find("sha256-tree"), 11, "sha512-tree");
  CHECK(code(bad_algo) == errc::parse_error);
  std::string bad_digest = good;
  bad_digest.replace(bad_digest.find("\"digest\":\"") + 10, 2, "zz");
  CHECK(code(bad_digest) == errc::parse_error);
  std::string dup = good;
  dup.replace(dup.find("{\"Zeta\""), 1,
              "{\"Zeta\":{\"dtype\":\"F32\",\"shape\":[],\"digest\":\"" + rep("00") + "\"},");
  CHECK(code(dup) == errc::duplicate_name);
  CHECK_THROWS_WITH(manifest_from_json("{", "m.json"),
                    Catch::Matchers::StartsWith("tensorhash: parse_error: m.json: not valid JSON"));
}

TEST_CASE("BLAKE3 manifests: make_manifest, JSON round trip, and compare refuses SHA-256 ones",
          "[manifest][blake3]") {
  const std::vector<std::uint8_t> bytes(5000, 7);
  const std::vector<tensor_view> views = {tensor_view(bytes.data(), dtype::U8, {5000}),
                                          tensor_view(bytes.data(), dtype::BF16, {2, 1000})};
  host_engine<exact, as_stored, blake3> engine(exact{}, 2);
  const manifest m = make_manifest(engine, {"a", "b"}, views);
  CHECK(m.settings().algorithm == "blake3");
  CHECK(m.settings().chunk_bytes == 0);
  CHECK(m.tensors().at("a").digest == blake3_digest(bytes.data(), 5000));
  CHECK(m.tensors().at("b").digest == blake3_digest(bytes.data(), 4000));
  const std::string text = to_json(m).dump();
  CHECK(text.find("\"algorithm\":\"blake3\"") != std::string::npos);
  CHECK(text.find("chunk_bytes") == std::string::npos);
  const manifest back = manifest_from_json(text, "b3.json");
  CHECK(compare(m, back).ok());
  host_engine<exact> sha(exact{}, 1);
  const manifest other = make_manifest(sha, {"a", "b"}, views);
  CHECK_THROWS_WITH(compare(m, other),
                    Catch::Contains("different hash functions (expected blake3, actual sha256)"));
  CHECK(code_of([&] { compare(other, m); }) == errc::invalid_argument);
  auto leaves = nlohmann::json::parse(text);
  leaves["tensors"]["a"]["leaves"] = nlohmann::json::array({rep("00")});
  CHECK(code_of([&] { manifest_from_json(leaves.dump(), "b3.json"); }) == errc::parse_error);
}

TEST_CASE("BLAKE3 manifests with leaves: 1 MiB subtrees, checked on reading, located by diff",
          "[manifest][blake3][leaves]") {
  constexpr std::size_t mib = std::size_t{1} << 20;
  auto bytes = test_util::random_bytes(3 * mib + 100, 23);
  const std::vector<tensor_view> views = {
      tensor_view(bytes.data(), dtype::U8, {std::int64_t(3 * mib + 100)}),
      tensor_view(bytes.data(), dtype::U8, {std::int64_t(mib)}),
      tensor_view(bytes.data(), dtype::U8, {0})};
  host_engine<exact, as_stored, blake3> engine(exact{}, 2);
  const manifest m = make_manifest(engine, {"big", "one", "none"}, views, true);
  CHECK(m.settings().leaf_bytes() == blake3_leaf_bytes);
  const auto& big = m.tensors().at("big");
  REQUIRE(big.leaves.size() == 4);  // ceil((3 MiB + 100) / 1 MiB)
  CHECK(big.digest == blake3_digest(bytes.data(), 3 * mib + 100));
  CHECK(blake3_root(big.leaves) == big.digest);
  // A tensor of at most one subtree records its digest as its one leaf; an empty one none.
  CHECK(m.tensors().at("one").leaves == std::vector<digest256>{blake3_digest(bytes.data(), mib)});
  CHECK(m.tensors().at("none").leaves.empty());
  const manifest back = manifest_from_json(to_json(m).dump(), "b3.json");
  CHECK(back.tensors().at("big").leaves == big.leaves);

  // One byte changed in the third MiB: only leaf 2 differs, and diff_leaves names its bytes.
  bytes[2 * mib + 77] ^= 1;
  const manifest changed = make_manifest(engine, {"big", "one", "none"}, views, true);
  const auto& leaves = changed.tensors().at("big").leaves;
  for (std::size_t j = 0; j < 4; ++j) {
    CHECK((leaves[j] != big.leaves[j]) == (j == 2));
  }
  const auto d = diff_leaves(big.leaves, leaves, blake3_leaf_bytes, 3 * mib + 100, 1, 16);
  REQUIRE(d.size() == 1);
  CHECK(d[0].byte_begin == 2 * mib);
  CHECK(d[0].byte_end == 3 * mib);

  // Reading checks the count and the root.
  auto j = to_json(m);
  j["tensors"]["big"]["leaves"].erase(3);
  CHECK_THROWS_WITH(manifest_from_json(j.dump(), "b3.json"),
                    Catch::Contains("3 leaves, but its 3145828 bytes make 4 chunks"));
  j = to_json(m);
  std::swap(j["tensors"]["big"]["leaves"][0], j["tensors"]["big"]["leaves"][1]);
  CHECK_THROWS_WITH(manifest_from_json(j.dump(), "b3.json"),
                    Catch::Contains("leaves do not hash to its digest"));
}
