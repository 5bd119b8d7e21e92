// Weight-update bucket verification: the sender hashes every tensor of a flat bucket, the
// receiver hashes the bucket it got from the same metadata, and a corrupted byte is named.
//
//   bucket_verify        exit 0 when the corruption is found and nothing else differs
#include <tensorhash/tensorhash.hpp>

#include <cstdio>
#include <random>
#include <string>
#include <vector>

namespace th = tensorhash;

namespace {

th::bucket_entry entry(const std::string& name, std::vector<std::int64_t> shape,
                       std::uint64_t offset) {
  th::bucket_entry e;
  e.name = name;
  e.type = th::dtype::BF16;
  e.shape = std::move(shape);
  e.begin = offset;
  return e;
}

th::manifest hash_bucket(const std::vector<std::uint8_t>& bucket,
                         const std::vector<th::bucket_entry>& meta) {
  const auto views =
      th::bucket_views(bucket.data(), bucket.size(), meta, th::bucket_layout::aligned);
  std::vector<std::string> names;
  for (const auto& e : meta)
    names.push_back(e.name);
  th::host_engine<th::tree> engine;
  return th::make_manifest(engine, names, views);
}

}  // namespace

int main() {
  // A checkpoint-engine style bucket: 256-byte aligned tensors with padding between them.
  const std::vector<th::bucket_entry> meta = {
      entry("model.layers.0.self_attn.qkv_proj.weight", {96, 64}, 0),
      entry("model.layers.0.self_attn.o_proj.weight", {64, 64}, 12288),
      entry("model.layers.0.input_layernorm.weight", {64}, 20480),
      entry("model.layers.0.mlp.down_proj.weight", {64, 100}, 20736)};
  std::vector<std::uint8_t> sent(20736 + 64 * 100 * 2);
  std::mt19937 rng(11);
  for (auto& b : sent)
    b = static_cast<std::uint8_t>(rng());

  std::vector<std::uint8_t> received = sent;
  received[12288 + 777] ^= 0x20;  // one flipped bit in o_proj on the way

  const th::manifest expected = hash_bucket(sent, meta);
  const th::manifest actual = hash_bucket(received, meta);
  const th::comparison c = th::compare(expected, actual);
  std::printf("%s", c.summary().c_str());
  const bool found = c.mismatched.size() == 1 &&
                     c.mismatched[0].name == "model.layers.0.self_attn.o_proj.weight" &&
                     c.matched.size() == 3;
  std::printf("%s\n", found ? "the corrupted tensor was named" : "UNEXPECTED RESULT");
  return found ? 0 : 1;
}
