// BLAKE3: the official test vectors (tests/data/blake3_test_vectors.json, from the BLAKE3
// repository's test_vectors/test_vectors.json) on the incremental stream under every split and
// on host_engine through every hash_many path and thread count; then host_engine against the
// stream over subtree edges, composites cut anywhere, strided and canonicalised views; then the
// device plan's dispatch and kernels, run on the host (tests/device_emulation.hpp), against both.
#include "device_emulation.hpp"
#include "test_util.hpp"

#include <tensorhash/blake3.hpp>
#include <tensorhash/host.hpp>

#include <nlohmann/json.hpp>

#include <fstream>
#include <random>

using namespace tensorhash;
using test_util::random_bytes;
using portable_blake3 = basic_blake3<blake3_impl::portable>;
using sse41_blake3 = basic_blake3<blake3_impl::sse41>;
using avx2_blake3 = basic_blake3<blake3_impl::avx2>;
using avx512_blake3 = basic_blake3<blake3_impl::avx512>;

namespace {

struct vector_case {
  std::size_t input_len;
  std::string hash;  ///< 131 bytes of extended output in hex
};

std::vector<vector_case> read_vectors() {
  std::ifstream in(test_util::data_path("blake3_test_vectors.json"));
  REQUIRE(in);
  const auto j = nlohmann::json::parse(in);
  std::vector<vector_case> out;
  for (const auto& c : j.at("cases")) {
    out.push_back({c.at("input_len").get<std::size_t>(), c.at("hash").get<std::string>()});
  }
  REQUIRE(out.size() >= 20);
  return out;
}

/// The input of the official vectors: 0, 1, ..., 250 repeated.
std::vector<std::uint8_t> pattern(std::size_t n) {
  std::vector<std::uint8_t> v(n);
  for (std::size_t i = 0; i < n; ++i) {
    v[i] = static_cast<std::uint8_t>(i % 251);
  }
  return v;
}

std::string stream_hex(const std::vector<std::uint8_t>& bytes) {
  return blake3_digest(bytes.data(), bytes.size()).to_hex();
}

template <class H>
bool runnable() {
  if (!H::available()) {
    WARN(
        "this CPU lacks the path's instructions (SSE4.1, AVX2 or AVX-512): it is not exercised "
        "here");
    return false;
  }
  return true;
}

}  // namespace

TEST_CASE("BLAKE3 stream: official vectors, extended output, every split", "[blake3][vectors]") {
  for (const auto& c : read_vectors()) {
    CAPTURE(c.input_len);
    const auto input = pattern(c.input_len);
    for (std::size_t split :
         {std::size_t{0}, std::size_t{1}, std::size_t{63}, std::size_t{64}, std::size_t{65},
          std::size_t{1023}, std::size_t{1024}, std::size_t{1025}, std::size_t{4096}}) {
      CAPTURE(split);
      blake3_stream s;
      if (split == 0) {
        s.update(input.data(), input.size());
      } else {
        for (std::size_t at = 0; at < input.size(); at += split) {
          s.update(input.data() + at, std::min(split, input.size() - at));
        }
      }
      std::vector<std::uint8_t> xof(c.hash.size() / 2);
      s.finalize(xof.data(), xof.size());
      CHECK(test_util::to_hex(xof.data(), xof.size()) == c.hash);
      CHECK(s.digest().to_hex() == c.hash.substr(0, 64));
    }
  }
}

TEMPLATE_TEST_CASE("BLAKE3 host_engine: official vectors on every path and thread count",
                   "[blake3][vectors]", portable_blake3, sse41_blake3, avx2_blake3, avx512_blake3,
                   blake3) {
  if (!runnable<TestType>()) {
    return;
  }
  const auto cases = read_vectors();
  for (unsigned threads : {1u, 2u}) {
    host_engine<exact, as_stored, TestType> engine(exact{}, threads);
    for (const auto& c : cases) {
      CAPTURE(c.input_len, threads);
      const auto input = pattern(c.input_len);
      const tensor_view v(input.data(), dtype::U8, {static_cast<std::int64_t>(input.size())});
      CHECK(engine.hash(v).to_hex() == c.hash.substr(0, 64));
    }
  }
}

TEMPLATE_TEST_CASE("BLAKE3 host_engine equals the stream across subtree edges", "[blake3]",
                   portable_blake3, sse41_blake3, avx2_blake3, avx512_blake3, blake3) {
  if (!runnable<TestType>()) {
    return;
  }
  constexpr std::size_t mib = std::size_t{1} << 20;
  const auto data = random_bytes(5 * mib + 4096, 7);
  host_engine<exact, as_stored, TestType> engine(exact{}, 2);
  std::vector<tensor_view> views;
  std::vector<std::string> expected;
  for (std::size_t n :
       {std::size_t{0}, std::size_t{1}, std::size_t{1024}, std::size_t{1025}, std::size_t{2048},
        std::size_t{8 * 1024 + 1}, std::size_t{33 * 1024}, mib - 1, mib, mib + 1, mib + 1024,
        2 * mib, 3 * mib - 7, 4 * mib, 4 * mib + 1, 5 * mib + 4096}) {
    views.push_back(tensor_view(data.data(), dtype::U8, {std::int64_t(n)}));
    expected.push_back(stream_hex({data.begin(), data.begin() + std::ptrdiff_t(n)}));
  }
  const auto got = engine.hash(views);
  for (std::size_t i = 0; i < views.size(); ++i) {
    CAPTURE(views[i].numel());
    CHECK(got[i].to_hex() == expected[i]);
  }
}

TEMPLATE_TEST_CASE("BLAKE3 host_engine: composites cut anywhere, strided and canonicalised",
                   "[blake3]", portable_blake3, sse41_blake3, avx2_blake3, avx512_blake3) {
  if (!runnable<TestType>()) {
    return;
  }
  const auto data = random_bytes((std::size_t{3} << 20) + 999, 11);
  host_engine<exact, as_stored, TestType> engine(exact{}, 2);
  SECTION("a concatenation whose pieces end inside chunks") {
    std::vector<tensor_view> pieces;
    std::size_t at = 0;
    for (std::size_t n : {std::size_t{1000}, std::size_t{3}, std::size_t{70000},
                          std::size_t{1} << 20, std::size_t{1023}, std::size_t{2000000}}) {
      pieces.push_back(tensor_view(data.data() + at, dtype::U8, {std::int64_t(n)}));
      at += n;
    }
    const composite_view c = concat(pieces, 0);
    CHECK(engine.hash(c).to_hex() == stream_hex({data.begin(), data.begin() + std::ptrdiff_t(at)}));
  }
  SECTION("a transposed BF16 matrix hashes its canonical (row-major) order") {
    const std::int64_t rows = 700, cols = 1100;  // stored as cols x rows, read transposed
    const tensor_view t(data.data(), dtype::BF16, {rows, cols}, {1, rows});
    std::vector<std::uint8_t> canonical;
    for (std::int64_t r = 0; r < rows; ++r) {
      for (std::int64_t c = 0; c < cols; ++c) {
        const std::size_t at = 2 * std::size_t(c * rows + r);
        canonical.push_back(data[at]);
        canonical.push_back(data[at + 1]);
      }
    }
    CHECK(engine.hash(t).to_hex() == stream_hex(canonical));
  }
  SECTION("BF16 widened to F32 hashes the F32 bytes") {
    const std::size_t n = 600001;
    const tensor_view t(data.data(), dtype::BF16, {std::int64_t(n)});
    std::vector<std::uint8_t> canonical;
    for (std::size_t i = 0; i < n; ++i) {  // bf16 → f32 is the bits shifted up by 16
      canonical.insert(canonical.end(), {0, 0, data[2 * i], data[2 * i + 1]});
    }
    host_engine<exact, to_f32, TestType> widen(exact{}, 2);
    CHECK(widen.hash(t).to_hex() == stream_hex(canonical));
  }
}

TEST_CASE("BLAKE3 host_engine: a cancelled engine refuses", "[blake3]") {
  host_engine<exact, as_stored, blake3> engine(exact{}, 1);
  engine.cancel();
  const std::uint8_t b = 0;
  CHECK(test_util::code_of([&] { engine.hash(tensor_view(&b, dtype::U8, {1})); }) ==
        errc::cancelled);
}

// The device: device_plan<exact, Canon, blake3> runs the tree kernels with blake3_tree; here its
// dispatch runs on the host through every leaf variant (striped loads pipelined or not, direct
// loads, a grid capped at one block).

TEST_CASE("BLAKE3 device dispatch: official vectors in one batch, aligned and not",
          "[blake3][device]") {
  const auto cases = read_vectors();
  const auto input = pattern(102400 + 64);
  const auto address = reinterpret_cast<std::uintptr_t>(input.data());
  const std::size_t aligned = (16 - address % 16) % 16;
  for (std::size_t shift : {std::size_t{0}, std::size_t{4}, std::size_t{1}}) {
    std::vector<composite_view> batch;
    std::vector<std::string> expected;
    for (const auto& c : cases) {
      const std::uint8_t* base = input.data() + aligned + shift;
      batch.push_back(
          composite_view(tensor_view(base, dtype::U8, {static_cast<std::int64_t>(c.input_len)})));
      expected.push_back(shift == 0 ? c.hash.substr(0, 64)
                                    : blake3_digest(base, c.input_len).to_hex());
    }
    for (const auto& variant : test_util::leaf_variants()) {
      CAPTURE(shift, static_cast<int>(variant.load), variant.pipeline, variant.max_grid_blocks);
      const auto got = test_util::emulate_device_blake3<as_stored>(batch, variant);
      for (std::size_t i = 0; i < batch.size(); ++i) {
        CAPTURE(cases[i].input_len);
        CHECK(got[i].to_hex() == expected[i]);
      }
    }
  }
}

TEST_CASE("BLAKE3 device dispatch: trees of every fold and level shape", "[blake3][device]") {
  // Around the warp's 32 chunks (the fold's span) and the level block's 256 x 32 (8 MiB, two
  // level rows past it): one batch, so tensors of different slot groups share warps and rows.
  const auto data = random_bytes((std::size_t{8300} << 10) + 16, 13);
  const auto address = reinterpret_cast<std::uintptr_t>(data.data());
  const std::uint8_t* base = data.data() + (16 - address % 16) % 16;
  std::vector<composite_view> batch;
  std::vector<std::string> expected;
  for (std::size_t chunks :
       {0, 1, 2, 3, 31, 32, 33, 63, 64, 65, 96, 200, 1025, 1099, 8191, 8192, 8193, 8298}) {
    for (std::size_t n : {chunks * 1024, chunks * 1024 + 1, chunks * 1024 + 1023}) {
      batch.push_back(composite_view(tensor_view(base, dtype::U8, {std::int64_t(n)})));
      expected.push_back(blake3_digest(base, n).to_hex());
    }
  }
  for (const auto& variant : test_util::leaf_variants()) {
    CAPTURE(static_cast<int>(variant.load), variant.pipeline, variant.max_grid_blocks);
    const auto got = test_util::emulate_device_blake3<as_stored>(batch, variant);
    for (std::size_t i = 0; i < batch.size(); ++i) {
      CAPTURE(batch[i].numel());
      CHECK(got[i].to_hex() == expected[i]);
    }
  }
}

TEST_CASE("BLAKE3 device dispatch: every leaf path of a mixed batch equals host_engine",
          "[blake3][device]") {
  std::vector<std::uint8_t> bytes(test_util::warp_batch_bytes + 16);
  std::mt19937_64 rng(9);
  for (auto& b : bytes) {
    b = static_cast<std::uint8_t>(rng());
  }
  const auto address = reinterpret_cast<std::uintptr_t>(bytes.data());
  const auto batch =
      test_util::warp_batch(bytes.data() + (16 - address % 16) % 16, location::host());
  host_engine<exact, as_stored, blake3> stored(exact{}, 1);
  host_engine<exact, to_bf16, blake3> bf16(exact{}, 1);
  host_engine<exact, to_f32, blake3> f32(exact{}, 1);
  for (const auto& variant : test_util::leaf_variants()) {
    CAPTURE(static_cast<int>(variant.load), variant.pipeline, variant.max_grid_blocks);
    const auto got = test_util::emulate_device_blake3<as_stored>(batch, variant);
    const auto got_bf16 = test_util::emulate_device_blake3<to_bf16>(batch, variant);
    const auto got_f32 = test_util::emulate_device_blake3<to_f32>(batch, variant);
    for (std::size_t i = 0; i < batch.size(); ++i) {
      CAPTURE(i);
      CHECK(got[i] == stored.hash(batch[i]));
      CHECK(got_bf16[i] == bf16.hash(batch[i]));
      CHECK(got_f32[i] == f32.hash(batch[i]));
    }
  }
}
