// Helpers shared by the host tests: reading test data, hex, OpenSSL digests.
#pragma once

#include <openssl/sha.h>

#include <tensorhash/dtype.hpp>
#include <tensorhash/error.hpp>
#include <tensorhash/view.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <random>
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

/// `n` pseudo-random bytes (std::mt19937_64 seeded with `seed`).
inline std::vector<std::uint8_t> random_bytes(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::uint8_t> v(n);
  for (auto& b : v) {
    b = static_cast<std::uint8_t>(rng());
  }
  return v;
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

/// `variable` from the environment when set and not empty, else the path compiled in: a test
/// binary moved to another machine (the GPU bundle, scripts/build-bundle) is told where its data
/// went.
inline std::string run_time_dir(const char* variable, const char* compiled_in) {
  const char* set = std::getenv(variable);
  return set != nullptr && *set != '\0' ? set : compiled_in;
}

inline std::string data_path(const std::string& name) {
  return run_time_dir("TENSORHASH_TEST_DATA", TENSORHASH_TEST_DATA) + "/" + name;
}

inline std::string reference_path(const std::string& name) {
  return run_time_dir("TENSORHASH_REF_DIR", TENSORHASH_REF_DIR) + "/" + name;
}

/// The error class `f` throws; fails the test when it throws none.
inline tensorhash::errc code_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const tensorhash::error& e) {
    return e.code();
  }
  FAIL("no tensorhash::error was thrown");
  return tensorhash::errc::invalid_argument;
}

/// One line of the Python reference's reference_cases.txt (see gen_reference_cases.py).
struct reference_case {
  std::string mode, canon, digest, line;
  std::uint64_t chunk = 0;
  tensorhash::dtype type = tensorhash::dtype::U8;
  std::vector<std::int64_t> shape, strides;
  std::int64_t offset = 0;  ///< elements from the buffer's start to the view's base
  std::vector<std::uint8_t> buffer;

  /// The case's view over a copy of `buffer` that starts at `storage`.
  tensorhash::tensor_view view_over(
      const std::uint8_t* storage,
      tensorhash::location where = tensorhash::location::host()) const {
    const auto* base = buffer.empty() ? nullptr : storage + offset * tensorhash::size_of(type);
    return tensorhash::tensor_view(base, type, static_cast<int>(shape.size()), shape.data(),
                                   strides.data(), where);
  }

  /// "mode chunk canon" with chunk 0 in exact mode: one batch per key.
  std::string batch_key() const {
    return mode + " " + (mode == "exact" ? "0" : std::to_string(chunk)) + " " + canon;
  }
};

inline std::vector<reference_case> read_reference_cases(
    const std::string& file = "reference_cases.txt") {
  std::vector<reference_case> cases;
  for (const auto& line : read_lines(reference_path(file))) {
    std::istringstream in(line);
    reference_case c;
    std::string type, buffer;
    int rank = 0;
    in >> c.mode >> c.chunk >> c.canon >> type >> rank;
    c.type = tensorhash::dtype_from_string(type);
    c.shape.resize(static_cast<std::size_t>(rank));
    c.strides.resize(static_cast<std::size_t>(rank));
    for (auto& n : c.shape)
      in >> n;
    for (auto& s : c.strides)
      in >> s;
    in >> c.offset >> buffer >> c.digest;
    c.buffer = from_hex(buffer);
    c.line = line.substr(0, 120);
    cases.push_back(std::move(c));
  }
  return cases;
}

}  // namespace test_util
