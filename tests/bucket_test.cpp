// Flattened weight-update buckets in both formats: views, digests, and validation errors.
#include "test_util.hpp"

#include <tensorhash/bucket.hpp>
#include <tensorhash/host.hpp>

using namespace tensorhash;
using test_util::code_of;

namespace {

bucket_entry entry(const std::string& name, dtype t, std::vector<std::int64_t> shape,
                   std::uint64_t begin, std::uint64_t end = 0) {
  bucket_entry e;
  e.name = name;
  e.type = t;
  e.shape = std::move(shape);
  e.begin = begin;
  e.end = end;
  return e;
}
}  // namespace

TEST_CASE("Packed (SGLang) buckets give views equal to the tensors packed", "[bucket]") {
  std::vector<std::uint8_t> buf(6 * 2 + 3 * 4 + 1);
  for (std::size_t i = 0; i < buf.size(); ++i)
    buf[i] = static_cast<std::uint8_t>(i * 13);
  const std::vector<bucket_entry> meta = {entry("w", dtype::BF16, {2, 3}, 0, 12),
                                          entry("b", dtype::F32, {3}, 12, 24),
                                          entry("s", dtype::U8, {}, 24, 25)};
  const auto views = bucket_views(buf.data(), buf.size(), meta, bucket_layout::packed);
  REQUIRE(views.size() == 3);
  host_engine<exact> engine;
  const auto digests = engine.hash(views);
  CHECK(digests[0].to_hex() == test_util::openssl_sha256_hex(buf.data(), 12));
  CHECK(digests[1].to_hex() == test_util::openssl_sha256_hex(buf.data() + 12, 12));
  CHECK(digests[2].to_hex() == test_util::openssl_sha256_hex(buf.data() + 24, 1));
}

TEST_CASE("Aligned (checkpoint-engine) buckets: 256-byte offsets, padding skipped", "[bucket]") {
  std::vector<std::uint8_t> buf(256 + 256 + 8, 0xEE);
  for (std::size_t i = 0; i < 10; ++i)
    buf[i] = static_cast<std::uint8_t>(i);
  for (std::size_t i = 0; i < 8; ++i)
    buf[512 + i] = static_cast<std::uint8_t>(100 + i);
  const std::vector<bucket_entry> meta = {entry("a", dtype::U8, {10}, 0),
                                          entry("empty", dtype::F32, {0, 4}, 256),
                                          entry("c", dtype::I64, {1}, 512)};
  const auto views = bucket_views(buf.data(), buf.size(), meta, bucket_layout::aligned);
  host_engine<exact> engine;
  CHECK(engine.hash(views[0]).to_hex() == test_util::openssl_sha256_hex(buf.data(), 10));
  CHECK(engine.hash(views[1]).to_hex() == test_util::openssl_sha256_hex(nullptr, 0));
  CHECK(engine.hash(views[2]).to_hex() == test_util::openssl_sha256_hex(buf.data() + 512, 8));
}

TEST_CASE("Bucket metadata out of bounds or inconsistent is refused, naming the entry",
          "[bucket][error]") {
  std::vector<std::uint8_t> buf(1024);
  const auto packed = [&](std::vector<bucket_entry> meta) {
    return code_of([&] { bucket_views(buf.data(), buf.size(), meta, bucket_layout::packed); });
  };
  const auto aligned = [&](std::vector<bucket_entry> meta) {
    return code_of([&] { bucket_views(buf.data(), buf.size(), meta, bucket_layout::aligned); });
  };
  CHECK(packed({entry("w", dtype::F32, {4}, 0, 12)}) == errc::parse_error);  // size != shape
  CHECK(packed({entry("w", dtype::F32, {4}, 4, 20)}) == errc::parse_error);  // gap at start
  CHECK(packed({entry("w", dtype::U8, {4}, 0, 4), entry("v", dtype::U8, {4}, 2, 6)}) ==
        errc::parse_error);                                                      // overlap
  CHECK(packed({entry("w", dtype::U8, {2000}, 0, 2000)}) == errc::parse_error);  // past end
  CHECK(packed({entry("w", dtype::U8, {4}, 8, 4)}) == errc::parse_error);        // end < begin
  CHECK(packed({entry("w", dtype::U8, {-1}, 0, 0)}) == errc::negative_shape);
  CHECK(aligned({entry("w", dtype::U8, {4}, 100)}) == errc::parse_error);  // unaligned
  CHECK(aligned({entry("w", dtype::U8, {300}, 0), entry("v", dtype::U8, {4}, 256)}) ==
        errc::parse_error);  // overlap
  CHECK(aligned({entry("w", dtype::U8, {4}, ~std::uint64_t{0} - 255)}) == errc::parse_error);
  CHECK_THROWS_WITH(
      bucket_views(buf.data(), buf.size(), {entry("w", dtype::F32, {4}, 0, 12)},
                   bucket_layout::packed),
      "tensorhash: parse_error: bucket entry \"w\": byte range [0, 12) holds 12 bytes but "
      "F32[4] needs 16");
}
