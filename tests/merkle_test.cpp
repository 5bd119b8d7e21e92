// RFC 6962 tree hashing against the Certificate Transparency reference data.
#include "test_util.hpp"

#include <tensorhash/merkle.hpp>

#include <nlohmann/json.hpp>

using namespace tensorhash;

namespace {
nlohmann::json ct_reference() {
  std::ifstream in(test_util::data_path("ct-reference.json"));
  REQUIRE(in);
  return nlohmann::json::parse(in);
}
}  // namespace

TEST_CASE("Leaf hashes equal the RFC 6962 reference", "[merkle]") {
  const auto ref = ct_reference();
  const auto& inputs = ref.at("leaf_inputs_hex");
  REQUIRE(inputs.size() == 8);
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const auto bytes = test_util::from_hex(
        inputs[i].get<std::string>().empty() ? "-" : inputs[i].get<std::string>());
    CHECK(merkle_leaf_hash(bytes.data(), bytes.size()).to_hex() ==
          ref.at("leaf_hashes_hex")[i].get<std::string>());
  }
}

TEST_CASE("Roots for tree sizes 0 to 8 equal the RFC 6962 reference", "[merkle]") {
  const auto ref = ct_reference();
  const auto& roots = ref.at("root_hashes_by_tree_size_hex");
  REQUIRE(roots.size() == 9);
  std::vector<digest256> leaves;
  for (const auto& h : ref.at("leaf_hashes_hex")) {
    leaves.push_back(digest256::from_hex(h.get<std::string>()));
  }
  for (std::size_t n = 0; n <= 8; ++n) {
    CAPTURE(n);
    const std::vector<digest256> prefix(leaves.begin(), leaves.begin() + n);
    CHECK(merkle_root(prefix).to_hex() == roots[n].get<std::string>());
  }
}

TEST_CASE("Node hash is HASH(0x01 || left || right)", "[merkle]") {
  const auto l = digest256::from_hex(std::string(64, 'a'));
  const auto r = digest256::from_hex(std::string(64, 'b'));
  std::vector<std::uint8_t> msg = {0x01};
  msg.insert(msg.end(), l.bytes, l.bytes + 32);
  msg.insert(msg.end(), r.bytes, r.bytes + 32);
  CHECK(merkle_node_hash(l, r).to_hex() == test_util::openssl_sha256_hex(msg.data(), msg.size()));
}
