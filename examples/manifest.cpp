// A manifest from C++, as an engine writes one after loading weights and a trainer compares it:
// name the tensors, hash them in one batch, write the JSON that `tensorhash compare` reads, read
// it back, and compare it with the manifest of weights that differ in one element.
//
//   manifest [OUT.json]      exit 0 when exactly the planted difference is found
//
// Needs nlohmann-json (find_package(tensorhash COMPONENTS json) when installed).
#include <tensorhash/manifest.hpp>
#include <tensorhash/manifest_json.hpp>
#include <tensorhash/tensorhash.hpp>

#include <cstdint>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

namespace th = tensorhash;

int main(int argc, char** argv) {
  const std::string path = argc > 1 ? argv[1] : "manifest-example.json";

  // The engine's weights: BF16 bit patterns, one matrix and one vector.
  std::vector<std::uint16_t> q_proj(256 * 128), norm(256);
  for (std::size_t i = 0; i < q_proj.size(); ++i)
    q_proj[i] = static_cast<std::uint16_t>(0x3c00 + i % 977);
  for (std::size_t i = 0; i < norm.size(); ++i)
    norm[i] = 0x3f80;  // 1.0
  const std::vector<std::string> names{"model.layers.0.self_attn.q_proj.weight",
                                       "model.norm.weight"};
  const std::vector<th::tensor_view> views{
      th::tensor_view(q_proj.data(), th::dtype::BF16, {256, 128}),
      th::tensor_view(norm.data(), th::dtype::BF16, {256})};

  // Tree digests (RFC 6962 over 16 KiB chunks) on all cores; exact mode would equal hashlib.
  th::host_engine<th::tree> engine;
  th::write_manifest(path, th::make_manifest(engine, names, views));
  const th::manifest expected = th::read_manifest(path);
  std::cout << "wrote " << path << ": " << expected.size() << " tensors, aggregate "
            << expected.aggregate().to_hex() << "\n";

  // The same weights after an update that went wrong in one element.
  q_proj[1000] ^= 1;
  const th::comparison c = th::compare(expected, th::make_manifest(engine, names, views));
  std::cout << c.summary();
  const bool planted_found = !c.ok() && c.mismatched.size() == 1 &&
                             c.mismatched[0].name == names[0] && c.matched.size() == 1;
  return planted_found ? 0 : 1;
}
