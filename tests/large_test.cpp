// 64-bit sizes: broadcast views past 4 GiB of canonical bytes and past 2^32 elements, hashed on
// the CPU and checked against digests built independently (OpenSSL, RFC 6962 by definition).
// Broadcast (stride 0) views need almost no memory.
#include "test_util.hpp"

#include <tensorhash/host.hpp>

#include <openssl/evp.h>

using namespace tensorhash;

namespace {

/// SHA-256 of `prefix` (0, 1 byte) then `pattern` repeated to `total` bytes, by OpenSSL.
std::vector<std::uint8_t> sha_of_repeated(const std::vector<std::uint8_t>& prefix,
                                          const std::vector<std::uint8_t>& pattern,
                                          std::uint64_t total) {
  std::vector<std::uint8_t> block(1 << 20);
  for (std::size_t i = 0; i < block.size(); ++i)
    block[i] = pattern[i % pattern.size()];
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  EVP_DigestUpdate(ctx, prefix.data(), prefix.size());
  for (std::uint64_t done = 0; done < total;) {
    const std::uint64_t n = std::min<std::uint64_t>(block.size(), total - done);
    EVP_DigestUpdate(ctx, block.data(), n);
    done += n;
  }
  std::vector<std::uint8_t> md(32);
  unsigned len = 0;
  EVP_DigestFinal_ex(ctx, md.data(), &len);
  EVP_MD_CTX_free(ctx);
  return md;
}

std::vector<std::uint8_t> node(const std::vector<std::uint8_t>& l,
                               const std::vector<std::uint8_t>& r) {
  std::vector<std::uint8_t> msg = {1};
  msg.insert(msg.end(), l.begin(), l.end());
  msg.insert(msg.end(), r.begin(), r.end());
  return sha_of_repeated(msg, {0}, 0);
}

/// Tree root of `total` bytes of a repeated pattern in chunks of `chunk`, where the number of
/// full chunks is a power of two: MTH(2^k equal leaves) is k self-pairings, then the tail leaf.
std::string tree_of_repeated(const std::vector<std::uint8_t>& pattern, std::uint64_t total,
                             std::uint64_t chunk) {
  const std::uint64_t full = total / chunk, tail = total % chunk;
  REQUIRE((full & (full - 1)) == 0);
  auto left = sha_of_repeated({0}, pattern, chunk);
  for (std::uint64_t n = full; n > 1; n /= 2)
    left = node(left, left);
  if (tail != 0)
    left = node(left, sha_of_repeated({0}, pattern, tail));
  return test_util::to_hex(left.data(), 32);
}

}  // namespace

TEST_CASE("A U8 broadcast of 2^32 + 3 elements (4 GiB + 3 bytes) in both modes", "[large]") {
  const std::uint8_t value = 0x5a;
  const auto n = (std::int64_t{1} << 32) + 3;
  const tensor_view v(&value, dtype::U8, {n}, {0});
  CHECK(v.nbytes() == (std::uint64_t{1} << 32) + 3);
  const auto expected_exact = sha_of_repeated({}, {value}, v.nbytes());
  CHECK(host_hash<exact>(v).to_hex() == test_util::to_hex(expected_exact.data(), 32));
  host_engine<tree> engine(tree(), 2);
  CHECK(engine.hash(v).to_hex() ==
        tree_of_repeated({value}, v.nbytes(), tree::default_chunk_bytes));
}

TEST_CASE("An F32 broadcast past 2^31 elements hashed as BF16 (4 GiB + 14 bytes)", "[large]") {
  const float value = 1.00390625f;  // 0x3F808000: a tie that rounds to even, 0x3F80
  const auto n = (std::int64_t{1} << 31) + 7;
  const tensor_view v(&value, dtype::F32, {n}, {0});
  host_engine<tree, to_bf16> engine(tree(), 2);
  CHECK(engine.hash(v).to_hex() == tree_of_repeated({0x80, 0x3F}, static_cast<std::uint64_t>(n) * 2,
                                                    tree::default_chunk_bytes));
}
