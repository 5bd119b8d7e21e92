// The safetensors reader: valid files, and every class of malformed file refused with a one-line
// error naming the file and the tensor.
#include "test_util.hpp"

#include <tensorhash/host.hpp>
#include <tensorhash/safetensors.hpp>

#include <cstdio>

using namespace tensorhash;

namespace {

std::vector<std::uint8_t> file_bytes(const std::string& header, std::size_t data_bytes,
                                     std::uint64_t declared = ~std::uint64_t{0}) {
  const std::uint64_t n = declared == ~std::uint64_t{0} ? header.size() : declared;
  std::vector<std::uint8_t> out;
  out.reserve(8 + header.size() + data_bytes);
  for (int i = 0; i < 8; ++i)
    out.push_back(static_cast<std::uint8_t>(n >> (8 * i)));
  for (char c : header)
    out.push_back(static_cast<std::uint8_t>(c));
  for (std::size_t i = 0; i < data_bytes; ++i)
    out.push_back(static_cast<std::uint8_t>(i));
  return out;
}

std::string error_of(const std::vector<std::uint8_t>& bytes, errc* code = nullptr) {
  try {
    parse_safetensors(bytes.data(), bytes.size(), "model.safetensors");
  } catch (const error& e) {
    if (code)
      *code = e.code();
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("A valid file: tensors in data order, metadata, views over the mapping",
          "[safetensors]") {
  const std::string header =
      R"({"__metadata__":{"format":"pt"},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]},)"
      R"("a":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]},)"
      R"("e":{"dtype":"F16","shape":[0,3],"data_offsets":[12,12]}}   )";
  const auto bytes = file_bytes(header, 12);
  const auto h = parse_safetensors(bytes.data(), bytes.size(), "x");
  REQUIRE(h.tensors.size() == 3);
  CHECK(h.tensors[0].name == "a");
  CHECK(h.tensors[1].name == "b");
  CHECK(h.metadata.at("format") == "pt");
  const std::string path = std::string(TENSORHASH_REF_DIR) + "/../valid.safetensors";
  {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    REQUIRE(f);
    std::fwrite(bytes.data(), 1, bytes.size(), f);
    std::fclose(f);
  }
  const safetensors_file file(path);
  const auto v = file.view(file.tensors()[1]);
  CHECK(v.dtype() == dtype::F32);
  CHECK(host_hash<exact>(v).to_hex() ==
        test_util::openssl_sha256_hex(bytes.data() + 8 + header.size() + 4, 8));
  std::remove(path.c_str());
}

TEST_CASE("Malformed files are refused with a clear one-line error", "[safetensors][error]") {
  const std::string t = R"("w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  errc code{};
  // Truncated: fewer than 8 bytes.
  CHECK(error_of({1, 2, 3}, &code).find("too short") != std::string::npos);
  // Header length over the limit, and past the end of the file.
  CHECK(error_of(file_bytes("{}", 0, 100000001)).find("exceeds the limit") != std::string::npos);
  CHECK(error_of(file_bytes("{}", 0, 50)).find("past the end") != std::string::npos);
  // Bad JSON, not an object, not UTF-8.
  CHECK(error_of(file_bytes("{\"w\":", 0), &code).find("not valid JSON") != std::string::npos);
  CHECK(code == errc::parse_error);
  CHECK(error_of(file_bytes("[1]", 0)).find("does not start with '{'") != std::string::npos);
  CHECK(error_of(file_bytes("{\"\xff\":1}", 0)).find("not valid JSON") != std::string::npos);
  // Unknown dtype names the tensor.
  const auto unknown = error_of(
      file_bytes(R"({"w":{"dtype":"F128","shape":[1],"data_offsets":[0,16]}})", 16), &code);
  CHECK(code == errc::unknown_dtype);
  CHECK(unknown.find("model.safetensors: tensor \"w\"") != std::string::npos);
  // Overlapping offsets, holes, trailing bytes, size mismatch, past the end.
  CHECK(
      error_of(file_bytes("{" + t + R"(,"v":{"dtype":"U8","shape":[4],"data_offsets":[4,8]}})", 8))
          .find("overlaps") != std::string::npos);
  CHECK(error_of(file_bytes(R"({"w":{"dtype":"U8","shape":[4],"data_offsets":[4,8]}})", 8))
            .find("hole") != std::string::npos);
  CHECK(error_of(file_bytes("{" + t + "}", 9)).find("1 trailing bytes") != std::string::npos);
  CHECK(error_of(file_bytes(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8))
            .find("do not hold the 12 bytes") != std::string::npos);
  CHECK(error_of(file_bytes("{" + t + "}", 4)).find("past the 4 data bytes") != std::string::npos);
  // Shape overflow, negative shape, duplicate names, missing keys, bad metadata.
  error_of(file_bytes(
               R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", 8),
           &code);
  CHECK(code == errc::size_overflow);
  CHECK(error_of(file_bytes(R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}})", 0))
            .find("not a size") != std::string::npos);
  error_of(file_bytes("{" + t + "," + t + "}", 8), &code);
  CHECK(code == errc::duplicate_name);
  CHECK(error_of(file_bytes(R"({"w":{"dtype":"F32","shape":[2]}})", 8)).find("data_offsets") !=
        std::string::npos);
  CHECK(error_of(file_bytes(R"({"__metadata__":{"k":1}})", 0)).find("__metadata__") !=
        std::string::npos);
  // Every message is one line.
  CHECK(error_of(file_bytes("{\"w\":", 0)).find('\n') == std::string::npos);
}

TEST_CASE("A missing file is an io_error naming it", "[safetensors][error]") {
  try {
    safetensors_file f("/nonexistent/model.safetensors");
    FAIL("no error");
  } catch (const error& e) {
    CHECK(e.code() == errc::io_error);
    CHECK(std::string(e.what()).find("/nonexistent/model.safetensors") != std::string::npos);
  }
}
