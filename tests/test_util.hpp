// Helpers shared by the host tests: reading test data, hex, OpenSSL digests.
#pragma once

#include <openssl/sha.h>

#include <catch2/catch.hpp>

#include <cstdint>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace test_util {

inline std::vector<std::uint8_t> from_hex(const std::string& hex) {
  if (hex == "-") {
    return {};
  }
  std::vector<std::uint8_t> out(hex.size() / 2);
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[i] = static_cast<std::uint8_t>(std::stoul(hex.substr(2 * i, 2), nullptr, 16));
  }
  return out;
}

inline std::string to_hex(const std::uint8_t* p, std::size_t n) {
  static const char digits[] = "0123456789abcdef";
  std::string s;
  for (std::size_t i = 0; i < n; ++i) {
    s += digits[p[i] >> 4];
    s += digits[p[i] & 15];
  }
  return s;
}

inline std::string openssl_sha256_hex(const void* data, std::size_t n) {
  std::uint8_t md[SHA256_DIGEST_LENGTH];
  SHA256(static_cast<const unsigned char*>(data), n, md);
  return to_hex(md, sizeof(md));
}

inline std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    throw std::runtime_error("cannot open test data file " + path);
  }
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') {
      line.pop_back();
    }
    lines.push_back(line);
  }
  return lines;
}

inline std::string data_path(const std::string& name) {
  return std::string(TENSORHASH_TEST_DATA) + "/" + name;
}

inline std::string reference_path(const std::string& name) {
  return std::string(TENSORHASH_REF_DIR) + "/" + name;
}

}  // namespace test_util
