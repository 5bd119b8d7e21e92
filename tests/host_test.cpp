// CPU backend: every reference case of the Python implementation, batches and threads, errors.
#include "test_util.hpp"

#include <tensorhash/host.hpp>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <random>
#include <thread>

using namespace tensorhash;
using test_util::code_of;
using test_util::random_bytes;

namespace {

using test_util::reference_case;

template <class Canon>
digest256 hash_case(const reference_case& c) {
  if (c.mode == "blake3") {
    return host_hash<exact, Canon, blake3>(c.view_over(c.buffer.data()));
  }
  if (c.mode == "exact") {
    return host_hash<exact, Canon>(c.view_over(c.buffer.data()));
  }
  return host_hash<tree, Canon>(c.view_over(c.buffer.data()), tree(c.chunk));
}

digest256 hash_case(const reference_case& c) {
  if (c.canon == "BF16")
    return hash_case<to_bf16>(c);
  if (c.canon == "F32")
    return hash_case<to_f32>(c);
  return hash_case<as_stored>(c);
}

}  // namespace

TEST_CASE("Digests equal the Python reference on 1200 random views", "[host][reference]") {
  const auto cases = test_util::read_reference_cases();
  REQUIRE(cases.size() >= 1000);
  std::map<std::string, int> seen;
  for (const auto& c : cases) {
    INFO(c.line);
    CHECK(hash_case(c).to_hex() == c.digest);
    ++seen[c.mode + "/" + c.canon + "/" + to_string(c.type)];
  }
  CHECK(seen.size() >= 80);  // the cases cover (almost) every mode x canon x dtype
}

TEST_CASE("BLAKE3 digests equal the Python reference's on 300 random views",
          "[host][reference][blake3]") {
  const auto cases = test_util::read_reference_cases("blake3_cases.txt");
  REQUIRE(cases.size() >= 250);
  std::map<std::string, int> seen;
  std::size_t multi_chunk = 0;
  for (const auto& c : cases) {
    INFO(c.line);
    CHECK(hash_case(c).to_hex() == c.digest);
    ++seen[c.canon + "/" + to_string(c.type)];
    multi_chunk += c.view_over(c.buffer.data()).numel() * size_of(c.type) > 1024 ? 1 : 0;
  }
  CHECK(seen.size() >= 30);
  CHECK(multi_chunk >= 30);
}

TEST_CASE("A batch on a thread pool gives the single-thread digests", "[host][reference]") {
  const auto cases = test_util::read_reference_cases();
  std::vector<tensor_view> views;
  std::vector<std::string> expected;
  for (const auto& c : cases) {
    if (c.mode == "tree" && c.chunk == 1024 && c.canon == "-") {
      views.push_back(c.view_over(c.buffer.data()));
      expected.push_back(c.digest);
    }
  }
  REQUIRE(views.size() > 50);
  host_engine<tree> engine(tree(1024), 3);
  const auto got = engine.hash(views);
  for (std::size_t i = 0; i < views.size(); ++i) {
    CHECK(got[i].to_hex() == expected[i]);
  }
}

TEST_CASE("exact mode on contiguous data is plain SHA-256 (OpenSSL)", "[host][openssl]") {
  for (std::size_t n : {0, 1, 55, 56, 64, 1000, 65536, 1234567}) {
    const auto bytes = random_bytes(n, n);
    CHECK(host_hash<exact>(tensor_view(bytes.data(), dtype::U8, {static_cast<std::int64_t>(n)}))
              .to_hex() == test_util::openssl_sha256_hex(bytes.data(), n));
  }
}

TEST_CASE("Tree digests do not depend on the number of threads", "[host]") {
  const auto bytes = random_bytes(std::size_t{9} << 20, 7);
  const tensor_view v(bytes.data(), dtype::BF16, {static_cast<std::int64_t>(bytes.size() / 2)});
  const auto one = host_hash(v, tree(4096));
  for (unsigned threads : {2u, 3u, 8u}) {
    host_engine<tree> engine(tree(4096), threads);
    CHECK(engine.hash(v) == one);
  }
  host_engine<exact> exact_engine(exact{}, 4);
  const std::vector<tensor_view> many(5, v);
  for (const auto& d : exact_engine.hash(many)) {
    CHECK(d.to_hex() == test_util::openssl_sha256_hex(bytes.data(), bytes.size()));
  }
}

TEST_CASE("One engine used from several threads at once gives identical digests", "[host]") {
  const auto bytes = random_bytes(std::size_t{2} << 20, 11);
  const tensor_view v(bytes.data(), dtype::F32, {512, 1024});
  host_engine<tree> engine(tree(1024), 2);
  const auto expected = host_hash(v, tree(1024));
  std::vector<std::thread> callers;
  std::vector<int> ok(4, 0);
  for (int t = 0; t < 4; ++t) {
    callers.emplace_back([&, t] {
      for (int i = 0; i < 5; ++i)
        ok[t] += engine.hash(v) == expected ? 1 : 0;
    });
  }
  for (auto& c : callers)
    c.join();
  for (int n : ok)
    CHECK(n == 5);
}

TEST_CASE("Empty tensors hash to SHA-256 of the empty string in both modes", "[host]") {
  const std::string empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
  const tensor_view v(nullptr, dtype::F32, {4, 0});
  CHECK(host_hash<exact>(v).to_hex() == empty);
  CHECK(host_hash<tree>(v).to_hex() == empty);
  CHECK(host_hash<tree, to_bf16>(v).to_hex() == empty);
}

TEST_CASE("Canonical dtype is visible to digest consumers", "[host]") {
  CHECK(host_engine<tree, to_bf16>::canonical_dtype(dtype::F32) == dtype::BF16);
  CHECK(host_engine<tree, to_bf16>::canonical_dtype(dtype::U8) == dtype::U8);
  CHECK(host_engine<exact, to_f32>::canonical_dtype(dtype::BF16) == dtype::F32);
  CHECK(to_bf16::name == std::string("BF16"));
  CHECK(as_stored::name == nullptr);
}

TEST_CASE("Bad arguments give errors and write nothing", "[host][error]") {
  CHECK(code_of([] { tree(1000); }) == errc::invalid_chunk_size);
  CHECK(code_of([] { tree(512); }) == errc::invalid_chunk_size);
  CHECK(code_of([] { tree(std::uint64_t{1} << 25); }) == errc::invalid_chunk_size);
  CHECK(tree(1 << 24).chunk_bytes() == (1u << 24));

  float data[4] = {1, 2, 3, 4};
  const tensor_view good(data, dtype::F32, {4});
  const tensor_view on_device(data, dtype::F32, {4}, {}, location::cuda(0));
  std::vector<tensor_view> views = {good, on_device};
  std::vector<digest256> out(2, digest256::from_hex(std::string(64, 'f')));
  host_engine<tree> engine(tree(), 2);
  CHECK(code_of([&] { engine.hash(views.data(), views.size(), out.data()); }) ==
        errc::wrong_memory_space);
  CHECK(out[0].to_hex() == std::string(64, 'f'));
  CHECK(code_of([&] { engine.hash(static_cast<const tensor_view*>(nullptr), 3, out.data()); }) ==
        errc::null_data);

  // A broadcast F8 view of 2^61-1 bytes is fine as stored but too large as F32.
  std::uint8_t byte = 0;
  const tensor_view huge(&byte, dtype::F8_E4M3, {static_cast<std::int64_t>(max_message_bytes)},
                         {0});
  CHECK(code_of([&] { host_hash<exact, to_f32>(huge); }) == errc::size_overflow);
}

TEST_CASE("Transposed views, gathered a block of rows at a time, hash like their copies",
          "[host][transpose]") {
  // 700 x 3000 F32 in memory, hashed as its 3000 x 700 transpose: canonical rows of 700
  // elements, 1 MiB blocks of them, the last block partial.
  const std::int64_t rows = 700, cols = 3000;
  const auto bytes = random_bytes(static_cast<std::size_t>(rows * cols * 4), 17);
  const tensor_view t(bytes.data(), dtype::F32, {cols, rows}, {1, cols});
  std::vector<std::uint8_t> copy(bytes.size());
  for (std::int64_t i = 0; i < cols; ++i)
    for (std::int64_t j = 0; j < rows; ++j)
      std::memcpy(&copy[static_cast<std::size_t>((i * rows + j) * 4)],
                  &bytes[static_cast<std::size_t>((j * cols + i) * 4)], 4);
  const tensor_view c(copy.data(), dtype::F32, {cols, rows});
  CHECK(host_hash<exact>(t) == host_hash<exact>(c));
  CHECK(host_hash<exact, to_bf16>(t) == host_hash<exact, to_bf16>(c));
  CHECK(host_hash<tree>(t, tree(4096)) == host_hash<tree>(c, tree(4096)));
  host_engine<tree, to_bf16> two(tree(1024), 2);
  CHECK(two.hash(t) == two.hash(c));
  // Negative strides and a one-byte dtype through the same path.
  const tensor_view u8(bytes.data() + (rows - 1) * cols * 4, dtype::U8, {cols * 4, rows},
                       {1, -cols * 4});
  std::vector<std::uint8_t> copy8(bytes.size());
  for (std::int64_t i = 0; i < cols * 4; ++i)
    for (std::int64_t j = 0; j < rows; ++j)
      copy8[static_cast<std::size_t>(i * rows + j)] =
          bytes[static_cast<std::size_t>((rows - 1 - j) * cols * 4 + i)];
  CHECK(host_hash<exact>(u8) ==
        host_hash<exact>(tensor_view(copy8.data(), dtype::U8, {cols * 4, rows})));
}

TEST_CASE("A thread count past 4 x the hardware threads is capped, not started", "[host]") {
  // 100000 threads once failed to start and then deadlocked the pool's destructor.
  const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
  host_engine<exact> engine(exact{}, 100000);
  CHECK(engine.threads() == 4 * hw);
  const char abc[] = "abc";
  CHECK(engine.hash(tensor_view(abc, dtype::U8, {3})).to_hex() ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEMPLATE_TEST_CASE("cancel() stops a running hash on every thread; the engine then refuses",
                   "[host][error]", exact, tree) {
  // A broadcast view of 2^40 bytes (exact) or 2^36 (tree: a 128 MiB leaf table): a minute or
  // more of hashing unless cancel() stops it.
  static const std::uint8_t zero = 0;
  const std::int64_t shape[1] = {std::int64_t{1} << (std::is_same_v<TestType, tree> ? 36 : 40)};
  const std::int64_t strides[1] = {0};
  const tensor_view huge(&zero, dtype::U8, 1, shape, strides);
  host_engine<TestType> engine(TestType{}, 2);
  errc code = errc::null_data;
  std::thread hashing([&] {
    try {
      engine.hash(std::vector<tensor_view>{huge});
    } catch (const error& e) {
      code = e.code();
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  engine.cancel();
  hashing.join();
  CHECK(code == errc::cancelled);
  CHECK(engine.hashed_bytes() < huge.nbytes());
  CHECK(code_of([&] { engine.hash(std::vector<tensor_view>{huge}); }) == errc::cancelled);
}
