// Files changed under a mapping (truncated, rewritten, replaced), strict JSON (depth, -0, BOM,
// duplicates) at linear cost, and untrusted text made printable: the hardening of issue 25.
#include "test_util.hpp"

#include <tensorhash/detail/file_io.hpp>
#include <tensorhash/detail/json_strict.hpp>
#include <tensorhash/detail/printable.hpp>
#include <tensorhash/manifest_json.hpp>
#include <tensorhash/safetensors.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

using namespace tensorhash;

namespace {

std::string temp_path(const char* name) {
  return "/tmp/tensorhash-file-io-" + std::to_string(::getpid()) + "-" + name;
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

/// A safetensors file of one U8 tensor of `n` bytes (each byte 1).
std::string safetensors_bytes(std::size_t n) {
  const std::string header = R"({"w":{"dtype":"U8","shape":[)" + std::to_string(n) +
                             R"(],"data_offsets":[0,)" + std::to_string(n) + "]}}";
  std::string out;
  for (int i = 0; i < 8; ++i)
    out.push_back(static_cast<char>((header.size() >> (8 * i)) & 0xFF));
  return out + header + std::string(n, '\x01');
}

std::string error_of_json(const std::string& text) {
  try {
    detail::parse_json_strict(text, "doc.json");
  } catch (const error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("A file truncated under its mapping reads as zeros and says it changed, no SIGBUS",
          "[file_io][error]") {
  const std::string path = temp_path("truncated.safetensors");
  write_bytes(path, safetensors_bytes(1 << 20));
  const safetensors_file f(path);
  CHECK_NOTHROW(f.check_unchanged());
  REQUIRE(::truncate(path.c_str(), 4096) == 0);
  const tensor_view v = f.view(f.tensors().front());
  const auto* p = static_cast<const std::uint8_t*>(v.data());
  unsigned long sum = 0;
  for (std::size_t i = 0; i < v.nbytes(); i += 4096)  // every page, most past the new end
    sum += p[i];
  CHECK(sum < v.nbytes() / 4096);  // the pages past the end read as zeros
  try {
    f.check_unchanged();
    FAIL("no error");
  } catch (const error& e) {
    CHECK(e.code() == errc::io_error);
    CHECK(std::string(e.what()).find(path + ": changed while being read") != std::string::npos);
  }
  std::remove(path.c_str());
}

TEST_CASE("A file rewritten in place changed; one replaced by rename did not", "[file_io]") {
  const std::string path = temp_path("rewritten.safetensors");
  write_bytes(path, safetensors_bytes(8192));
  {
    const safetensors_file f(path);
    std::ofstream(path, std::ios::binary | std::ios::in | std::ios::out).write("x", 1);
    CHECK_THROWS_AS(f.check_unchanged(), error);
  }
  write_bytes(path, safetensors_bytes(8192));
  {
    const safetensors_file f(path);
    const std::string other = temp_path("replacement.safetensors");
    write_bytes(other, safetensors_bytes(16));
    REQUIRE(std::rename(other.c_str(), path.c_str()) == 0);
    CHECK_NOTHROW(f.check_unchanged());  // the mapping keeps the old file, whole
    CHECK(f.tensors().front().end == 8192);
  }
  std::remove(path.c_str());
}

TEST_CASE("A SIGBUS that is not a guarded mapping's still ends the process", "[file_io]") {
  const std::string path = temp_path("guarded.bin");
  write_bytes(path, std::string(4096, 'a'));
  const detail::mapped_file m(path);  // the guard's handler is installed
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // What the guard found installed before it: the default action (Catch2's own handler,
    // installed first in this test program, would report and carry on).
    detail::map_guards().previous = {};
    ::raise(SIGBUS);
    ::_exit(0);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  CHECK(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGBUS);
  const pid_t ignoring = ::fork();  // a sent SIGBUS that was ignored before stays ignored
  REQUIRE(ignoring >= 0);
  if (ignoring == 0) {
    detail::map_guards().previous = {};
    detail::map_guards().previous.sa_handler = SIG_IGN;
    ::raise(SIGBUS);
    ::_exit(3);
  }
  REQUIRE(::waitpid(ignoring, &status, 0) == ignoring);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 3);
  std::remove(path.c_str());
}

TEST_CASE("Every guard of a truncated range is marked", "[file_io]") {
  const std::string path = temp_path("twice.bin");
  write_bytes(path, std::string(1 << 16, 'a'));
  const detail::mapped_file m(path);
  const detail::map_guard again(m.data(), m.size());  // as Python's MapGuard over a mapping
  REQUIRE(::truncate(path.c_str(), 100) == 0);
  CHECK(m.data()[(1 << 16) - 1] == 0);
  CHECK(again.faulted());
  CHECK(m.changed());
  std::remove(path.c_str());
}

TEST_CASE("Strict JSON: nesting bounded, -0 and byte-order marks refused, duplicates named",
          "[file_io][json][error]") {
  const auto nested = [](int depth) { return std::string(depth, '[') + std::string(depth, ']'); };
  CHECK(error_of_json(nested(detail::json_max_depth)).empty());
  CHECK(error_of_json(nested(detail::json_max_depth + 1)) ==
        "tensorhash: parse_error: doc.json: not valid JSON: nested deeper than 64 levels");
  // 100 000 levels as a manifest's algorithm: an error, not a stack overflow in a message
  const std::string deep = R"({"format":"tensorhash.manifest/1","algorithm":)" + nested(100000) +
                           R"(,"tensors":{},"aggregate":""})";
  CHECK_THROWS_WITH(manifest_from_json(deep, "m.json"),
                    Catch::Contains("nested deeper than 64 levels"));
  CHECK(error_of_json("[-0]") ==
        "tensorhash: parse_error: doc.json: not valid JSON: -0 is not an integer this reader "
        "takes (write 0)");
  CHECK(error_of_json("[0, -1, -0.0]").empty());
  CHECK(error_of_json("\xEF\xBB\xBF{}").find("byte-order mark") != std::string::npos);
  CHECK(error_of_json(R"({"a":1,"b":{"a":2},"a":3})") ==
        "tensorhash: duplicate_name: doc.json: key \"a\" appears twice");
  CHECK(error_of_json("[NaN]").find("not valid JSON") != std::string::npos);
  CHECK(error_of_json("[1e400]").find("not valid JSON") != std::string::npos);
  const nlohmann::json j = detail::parse_json_strict(R"({"b":[1,{"c":null}],"a":"x"})", "d");
  CHECK(j.dump() == R"({"a":"x","b":[1,{"c":null}]})");
}

TEST_CASE("An untrusted value in a message is clipped, never whole", "[file_io][error]") {
  const std::string name(300000, 'n');
  const std::string doc = R"({"format":"tensorhash.manifest/1","algorithm":")" + name + "\"}";
  try {
    manifest_from_json(doc, "m.json");
    FAIL("no error");
  } catch (const error& e) {
    CHECK(std::string(e.what()).size() < 400);
    CHECK(std::string(e.what()).find("more bytes)") != std::string::npos);
  }
  CHECK(detail::clip("abc", 3) == "abc");
  CHECK(detail::clip("abcd", 3) == "abc... (1 more bytes)");
  CHECK(detail::clip("a\xC3\xA9", 2) == "a... (2 more bytes)");  // never half a character
}

TEST_CASE("Printable text: controls, separators, overrides and non-UTF-8 bytes escaped",
          "[file_io]") {
  CHECK(detail::printable("model.layers.0.weight") == "model.layers.0.weight");
  CHECK(detail::printable("a\nMISMATCH b") == "a\\nMISMATCH b");
  CHECK(detail::printable("\x1b[31mred\\") == "\\u001b[31mred\\\\");
  CHECK(detail::printable("t\tr\r\x7f") == "t\\tr\\r\\u007f");
  CHECK(detail::printable("\xC2\x9B"
                          "31m") == "\\u009b31m");            // C1 CSI
  CHECK(detail::printable("x\xE2\x80\xAEy") == "x\\u202ey");  // right-to-left override
  CHECK(detail::printable("caf\xC3\xA9 \xE4\xB8\xAD") == "caf\xC3\xA9 \xE4\xB8\xAD");  // kept
  CHECK(detail::printable("\xFF\xC3") == "\\xff\\xc3");                                // not UTF-8
  CHECK(detail::printable("\xED\xA0\x80") == "\\xed\\xa0\\x80");  // a surrogate
  CHECK(detail::printable("abcdef", 4) == "abcd... (2 more bytes)");
}

TEST_CASE("100 000 tensors round-trip (benchmarks/json_bench measures how fast)",
          "[file_io][json]") {
  manifest m(digest_settings::of<exact>(exact()));
  for (int i = 0; i < 100000; ++i) {
    manifest_entry e;
    e.type = dtype::BF16;
    e.shape = {2};
    m.add("model.layers." + std::to_string(i) + ".w", e);
  }
  const std::string text = to_json(m).dump(1);
  const manifest back = manifest_from_json(text, "m.json");
  CHECK(back.size() == 100000);
  CHECK(back.aggregate() == m.aggregate());
}
