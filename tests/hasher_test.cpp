// SHA-256 core: NIST SHAVS byte vectors and Monte Carlo on every host path, streaming splits,
// and random data against OpenSSL.
#include "test_util.hpp"

#include <tensorhash/hasher.hpp>

#include <random>

using namespace tensorhash;
using portable_sha256 = basic_sha256<sha256_impl::portable>;
using shani_sha256 = basic_sha256<sha256_impl::shani>;

static_assert(is_hasher_v<sha256>);
static_assert(is_hasher_v<portable_sha256>);
static_assert(!is_hasher_v<int>);
static_assert(std::is_trivially_copyable_v<hash_stream<sha256>>);

namespace {

struct shavs_vector {
  std::vector<std::uint8_t> msg;
  std::string md;
};

std::vector<shavs_vector> read_shavs(const std::string& file) {
  std::vector<shavs_vector> out;
  long bits = -1;
  std::string msg;
  for (const auto& line : test_util::read_lines(test_util::data_path(file))) {
    if (line.rfind("Len = ", 0) == 0) {
      bits = std::stol(line.substr(6));
    } else if (line.rfind("Msg = ", 0) == 0) {
      msg = line.substr(6);
    } else if (line.rfind("MD = ", 0) == 0) {
      shavs_vector v;
      v.msg = bits == 0 ? std::vector<std::uint8_t>{} : test_util::from_hex(msg);
      REQUIRE(v.msg.size() * 8 == static_cast<std::size_t>(bits));
      v.md = line.substr(5);
      out.push_back(v);
    }
  }
  return out;
}

template <class H>
bool runnable() {
  if (!H::available()) {
    WARN("this CPU has no SHA-NI: the SHA-NI path is not exercised here");
    return false;
  }
  return true;
}

}  // namespace

TEMPLATE_TEST_CASE("NIST SHAVS byte vectors (ShortMsg + LongMsg)", "[sha256][nist]",
                   portable_sha256, shani_sha256, sha256) {
  if (!runnable<TestType>()) {
    return;
  }
  const auto short_msgs = read_shavs("SHA256ShortMsg.rsp");
  const auto long_msgs = read_shavs("SHA256LongMsg.rsp");
  REQUIRE(short_msgs.size() == 65);
  REQUIRE(long_msgs.size() == 64);
  for (const auto* set : {&short_msgs, &long_msgs}) {
    for (const auto& v : *set) {
      CAPTURE(v.msg.size());
      CHECK(hash_bytes<TestType>(v.msg.data(), v.msg.size()).to_hex() == v.md);
    }
  }
}

TEMPLATE_TEST_CASE("NIST SHAVS Monte Carlo procedure against hashlib checkpoints", "[sha256][nist]",
                   portable_sha256, shani_sha256) {
  if (!runnable<TestType>()) {
    return;
  }
  const auto lines = test_util::read_lines(test_util::data_path("sha256_monte.txt"));
  REQUIRE(lines.size() == 101);
  auto seed = digest256::from_hex(lines[0].substr(7));
  for (int j = 0; j < 100; ++j) {
    digest256 md[3] = {seed, seed, seed};
    for (int i = 3; i < 1003; ++i) {
      hash_stream<TestType> s;
      for (const auto& m : md) {
        s.update(m.bytes, sizeof(m.bytes));
      }
      md[0] = md[1];
      md[1] = md[2];
      md[2] = s.finalize();
    }
    seed = md[2];
    const std::string expected = lines[static_cast<std::size_t>(j) + 1];
    REQUIRE(expected.substr(expected.find("MD = ") + 5) == seed.to_hex());
  }
}

TEST_CASE("A 300-byte message streamed in two updates split at every offset", "[sha256]") {
  std::vector<std::uint8_t> msg(300);
  for (std::size_t i = 0; i < msg.size(); ++i) {
    msg[i] = static_cast<std::uint8_t>(i * 7 + 3);
  }
  const std::string expected = test_util::openssl_sha256_hex(msg.data(), msg.size());
  for (std::size_t split = 0; split <= msg.size(); ++split) {
    CAPTURE(split);
    hash_stream<portable_sha256> a;
    a.update(msg.data(), split).update(msg.data() + split, msg.size() - split);
    hash_stream<sha256> b;
    b.update(msg.data(), split).update(msg.data() + split, msg.size() - split);
    CHECK(a.finalize().to_hex() == expected);
    CHECK(b.finalize().to_hex() == expected);
  }
}

TEST_CASE("finalize leaves the stream usable", "[sha256]") {
  const char text[] = "tensorhash streams";
  hash_stream<> s;
  s.update(text, 6);
  CHECK(s.finalize().to_hex() == test_util::openssl_sha256_hex(text, 6));
  s.update(text + 6, sizeof(text) - 1 - 6);
  CHECK(s.size() == sizeof(text) - 1);
  CHECK(s.finalize().to_hex() == test_util::openssl_sha256_hex(text, sizeof(text) - 1));
}

TEST_CASE("Random messages in random pieces equal OpenSSL on every path", "[sha256][openssl]") {
  std::mt19937_64 rng(1234);
  for (int round = 0; round < 300; ++round) {
    const std::size_t n = round < 200 ? rng() % 2000 : rng() % (3u << 20);
    std::vector<std::uint8_t> msg(n);
    for (auto& b : msg) {
      b = static_cast<std::uint8_t>(rng());
    }
    CAPTURE(round, n);
    const std::string expected = test_util::openssl_sha256_hex(msg.data(), n);
    hash_stream<portable_sha256> p;
    hash_stream<sha256> a;
    for (std::size_t at = 0; at < n;) {
      const std::size_t take = std::min<std::size_t>(n - at, rng() % 300);
      p.update(msg.data() + at, take);
      a.update(msg.data() + at, take);
      at += take;
    }
    CHECK(p.finalize().to_hex() == expected);
    CHECK(a.finalize().to_hex() == expected);
    if (shani_sha256::available()) {
      CHECK(hash_bytes<shani_sha256>(msg.data(), n).to_hex() == expected);
    }
  }
}
