// Digest values: hex both ways, comparison, and errors on malformed hex.
#include "test_util.hpp"

#include <tensorhash/digest.hpp>

using namespace tensorhash;

TEST_CASE("Digest hex round trip, case-insensitive parse, lowercase print", "[digest]") {
  const std::string hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
  const auto d = digest256::from_hex(hex);
  CHECK(d.to_hex() == hex);
  std::string upper = hex;
  for (auto& c : upper) {
    c = static_cast<char>(std::toupper(c));
  }
  CHECK(digest256::from_hex(upper) == d);
  CHECK(d.bytes[0] == 0xe3);
  CHECK(d.bytes[31] == 0x55);
}

TEST_CASE("Digest comparison is byte-wise and orders like the hex strings", "[digest]") {
  auto a = digest256::from_hex(std::string(64, '0'));
  auto b = a;
  CHECK(a == b);
  b.bytes[31] = 1;
  CHECK(a != b);
  CHECK(a < b);
  CHECK_FALSE(b < a);
}

TEST_CASE("Malformed hex digests are refused with invalid_hex", "[digest][error]") {
  const auto code_of = [](const std::string& s) {
    try {
      digest256::from_hex(s);
    } catch (const error& e) {
      return e.code();
    }
    return errc::invalid_argument;
  };
  CHECK(code_of("abc") == errc::invalid_hex);
  CHECK(code_of(std::string(63, 'a') + "g") == errc::invalid_hex);
  CHECK(code_of(std::string(66, 'a')) == errc::invalid_hex);
  CHECK_THROWS_WITH(digest256::from_hex("xyz"),
                    "tensorhash: invalid_hex: hex digest must have 64 digits, got 3");
}
