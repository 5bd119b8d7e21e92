// SGLang's 64-bit weight hashes (sglang.hpp, detail/sglang_core.hpp): values of SGLang's own
// kernel and of the Python reference, every dtype, strided and composite views,
// canonicalisation, thread counts, the SIMD word loops against the scalar one, the CPU recipe
// against OpenSSL, and the device kernels' tile and segment math run on the host.
#include "test_util.hpp"

#include <tensorhash/sglang.hpp>

#include <openssl/sha.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

using namespace tensorhash;
using test_util::code_of;
using test_util::random_bytes;
namespace sg = tensorhash::detail::sglang;

namespace {

/// Byte k = ((k + seed) * 0x9E3779B1 mod 2^32) >> 24; in Python (for the literals below):
/// `bytes(((((k + seed) * 0x9E3779B1) & 0xFFFFFFFF) >> 24) for k in range(n))`.
std::vector<std::uint8_t> pattern(std::size_t n, std::uint32_t seed) {
  std::vector<std::uint8_t> v(n);
  for (std::size_t k = 0; k < n; ++k) {
    v[k] = static_cast<std::uint8_t>((static_cast<std::uint32_t>(k + seed) * 0x9E3779B1u) >> 24);
  }
  return v;
}

tensor_view bytes_view(const std::vector<std::uint8_t>& b) {
  return tensor_view(b.data(), dtype::U8, {static_cast<std::int64_t>(b.size())});
}

/// The canonical-order bytes of a host view, gathered element by element.
std::vector<std::uint8_t> contiguous_copy(const tensor_view& v) {
  const std::uint32_t e = size_of(v.dtype());
  std::vector<std::uint8_t> out(v.numel() * e);
  std::vector<std::int64_t> index(static_cast<std::size_t>(v.rank()), 0);
  const auto* base = static_cast<const std::uint8_t*>(v.data());
  for (std::uint64_t n = 0; n < v.numel(); ++n) {
    std::int64_t offset = 0;
    for (int d = 0; d < v.rank(); ++d) {
      offset += index[static_cast<std::size_t>(d)] * v.stride(d);
    }
    std::memcpy(out.data() + n * e, base + offset * static_cast<std::int64_t>(e), e);
    for (int d = v.rank() - 1; d >= 0; --d) {
      if (++index[static_cast<std::size_t>(d)] < v.shape(d)) {
        break;
      }
      index[static_cast<std::size_t>(d)] = 0;
    }
  }
  return out;
}

/// The word loops this CPU runs.
std::vector<sglang_impl> impls() {
  std::vector<sglang_impl> out;
  for (auto i : {sglang_impl::scalar, sglang_impl::avx2, sglang_impl::avx512}) {
    if (sg::available(i)) {
      out.push_back(i);
    }
  }
  return out;
}

const char* name(sglang_impl i) {
  return i == sglang_impl::scalar ? "scalar" : i == sglang_impl::avx2 ? "avx2" : "avx512";
}

std::string openssl_prefix16(const std::vector<std::uint8_t>& b) {
  return test_util::openssl_sha256_hex(b.data(), b.size()).substr(0, 16);
}

}  // namespace

TEST_CASE("The algorithm's constants and mixers", "[sglang][core]") {
  // Values from python/tensorhash_ref.py (_fmix32, _splitmix64_finalise) and the research notes.
  static_assert(sg::seed2 == 0x02C74EE7u, "s2 = (s1 * 0x9E3779B1 mod 2^32) ^ 0xDEADBEEF");
  static_assert(sg::fmix32(1) == 0x514E28B7u);
  static_assert(sg::finalize(1) == 0x5692161D100B05E5ull);
  static_assert(sg::finalize(0) == 0, "no tiles: an empty tensor hashes to 0");
  static_assert(sg::rotl32(0x80000001u, 15) == 0x0000C000u);
  static_assert(sg::length_key(1) == 4 && sg::length_key(8) == 8 && sg::length_key(9) == 12);
  static_assert(sg::length_key(std::uint64_t{1} << 32) == 0, "4n is taken mod 2^32");
  static_assert(sg::tile_count(0) == 0 && sg::tile_count(1) == 1 && sg::tile_count(32768) == 1 &&
                sg::tile_count(32769) == 2);
  CHECK(std::string(sglang64::algorithm) == "sglang-hash64");
  CHECK(std::string(sglang_cpu64::algorithm) == "sha256-prefix64");
  CHECK(is_sglang_mode_v<sglang64>);
  CHECK_FALSE(is_sglang_mode_v<exact>);
  CHECK(to_hex16(0) == "0000000000000000");
  CHECK(to_hex16(0x0123456789ABCDEFull) == "0123456789abcdef");
  CHECK(to_hex16(~std::uint64_t{0}) == "ffffffffffffffff");
}

TEST_CASE("Values of SGLang's own kernel and CPU branch", "[sglang][reference]") {
  // SGLang 0.5.23's gpu_tensor_hash (Triton interpreter) and tensor_hash on the CPU, recorded in
  // tests/python_reference_test.py::test_sglang_hash64: uint8 tensors of these bytes.
  std::vector<std::uint8_t> range256(256);
  for (int i = 0; i < 256; ++i) {
    range256[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(i);
  }
  std::vector<std::uint8_t> one_tile, two_tiles;
  for (int r = 0; r < 128; ++r) {
    one_tile.insert(one_tile.end(), range256.begin(), range256.end());
  }
  two_tiles = one_tile;
  two_tiles.insert(two_tiles.end(), range256.begin(), range256.end());
  two_tiles.insert(two_tiles.end(), {'x', 'y', 'z'});
  struct vector_case {
    std::vector<std::uint8_t> bytes;
    const char* gpu;
    const char* cpu;
  };
  const std::vector<vector_case> cases = {
      {{}, "0000000000000000", "e3b0c44298fc1c14"},
      {{0}, "3d93a6540b54ef2a", "6e340b9cffb37a98"},
      {{'a', 'b', 'c'}, "d8af575884d43b13", "ba7816bf8f01cfea"},
      {{0, 1, 2, 3}, "d5c10aceba95ba56", "054edec1d0211f62"},
      {{0, 1, 2, 3, 4, 5, 6}, "d9e9661b18c29da2", "57355ac3303c148f"},
      {one_tile, "668122ab2b04f371", "e11360251d117365"},
      {two_tiles, "10e7a43449c32915", "c900fee1c80373ad"},
  };
  for (const auto& c : cases) {
    INFO(c.bytes.size() << " bytes");
    const tensor_view v(c.bytes.empty() ? nullptr : c.bytes.data(), dtype::U8,
                        {static_cast<std::int64_t>(c.bytes.size())});
    for (auto impl : impls()) {
      INFO(name(impl));
      CHECK(to_hex16(sglang_engine<>(1, impl).hash(v)) == c.gpu);
    }
    CHECK(to_hex16(sglang_hash<sglang_cpu64>(v)) == c.cpu);
  }
  // torch.arange(6, dtype=torch.float32).reshape(2, 3).t(): a transposed view.
  const float arange[6] = {0, 1, 2, 3, 4, 5};
  const tensor_view t(arange, dtype::F32, {3, 2}, {1, 3});
  CHECK(to_hex16(sglang_hash(t)) == "851ba375603cf6d0");
  CHECK(to_hex16(sglang_hash<sglang_cpu64>(t)) == "0c9d0bb54e4f5a01");
}

TEST_CASE("Empty tensors hash to 0 (GPU recipe) and SHA-256('') (CPU recipe)", "[sglang]") {
  sglang_engine<> engine(2);
  for (const auto& v :
       {tensor_view(nullptr, dtype::F32, {0}), tensor_view(nullptr, dtype::BF16, {3, 0, 5})}) {
    CHECK(engine.hash(v) == 0);
    CHECK(to_hex16(sglang_hash<sglang_cpu64>(v)) == "e3b0c44298fc1c14");
  }
  const std::vector<tensor_view> none;
  CHECK(engine.hash(none).empty());
}

TEST_CASE("Both recipes count the bytes they hashed, for a progress display", "[sglang]") {
  std::vector<std::uint8_t> bytes(3 * 32768 + 5, 7);
  const tensor_view v(bytes.data(), dtype::U8, {static_cast<std::int64_t>(bytes.size())});
  sglang_engine<sglang64> gpu_recipe(2);
  sglang_engine<sglang_cpu64> cpu_recipe(2);
  CHECK(gpu_recipe.hashed_bytes() == 0);
  (void)gpu_recipe.hash(std::vector<tensor_view>{v, v});
  (void)cpu_recipe.hash(v);
  CHECK(gpu_recipe.hashed_bytes() == 2 * bytes.size());
  CHECK(cpu_recipe.hashed_bytes() == bytes.size());
}

TEST_CASE("1 to 8 bytes, tile edges and several tiles equal the Python reference",
          "[sglang][reference]") {
  // "%016x" % tensorhash_ref.sglang_hash64(pattern(n, 0)) (python/tensorhash_ref.py).
  const std::vector<std::pair<std::size_t, const char*>> expected = {
      {1, "3d93a6540b54ef2a"},     {2, "1d5e01f82ed5ff3b"},      {3, "46b5cbe9b2283f98"},
      {4, "7db2747316e3acfe"},     {5, "2f5dd3fa065b641f"},      {6, "1c27c9acabf4a2ac"},
      {7, "d3138eb501a11430"},     {8, "8223a17409a66de9"},      {31, "9c6ea2e46330bd07"},
      {32764, "95b5db8458668f26"}, {32768, "5397b3472012a86a"},  {32772, "280643e6c09b6b30"},
      {98308, "2ce2d524ce077c32"}, {163841, "6820c6b2fab7c198"}, {1048579, "9eb574a35cd4dc6d"},
  };
  for (const auto& [n, hex] : expected) {
    const auto bytes = pattern(n, 0);
    INFO(n << " bytes");
    for (auto impl : impls()) {
      INFO(name(impl));
      CHECK(to_hex16(sglang_engine<>(1, impl).hash(bytes_view(bytes))) == hex);
      CHECK(to_hex16(sglang_engine<>(2, impl).hash(bytes_view(bytes))) == hex);
    }
    CHECK(to_hex16(sglang_hash<sglang_cpu64>(bytes_view(bytes))) == openssl_prefix16(bytes));
  }
}

TEST_CASE("Every dtype hashes its bytes; float canonicalisation", "[sglang][reference]") {
  // Python: digest(buf, dtype, (3, 37), mode="sglang", canon=None / "BF16" / "F32") with
  // buf = pattern(3 * 37 * size, k + 1) (BOOL: each byte & 1), k the dtype's row below.
  struct dtype_case {
    dtype type;
    const char* stored;
    const char* bf16;  // nullptr for integer dtypes (hashed as stored by every policy)
    const char* f32;
  };
  const std::vector<dtype_case> cases = {
      {dtype::F64, "c9f971660aa00188", "011d596c57a80002", "de990f5c5bd348a1"},
      {dtype::F32, "9c9c629f5cea836f", "06cf1040ed75de60", "9c9c629f5cea836f"},
      {dtype::F16, "54561ffd19158e87", "bd6c9b1bb5eb6833", "7aca47fa8d723a6d"},
      {dtype::BF16, "de9dbafdac007b6d", "de9dbafdac007b6d", "b1862c5424465e58"},
      {dtype::F8_E4M3, "8aaaac61d95a2e3e", "6b5f0e5ecccc5304", "318b1b0c6553f831"},
      {dtype::F8_E5M2, "6a4498463eb33cef", "b78394a904b40dc8", "5bdf32b3d92872e6"},
      {dtype::I64, "ea6339b97400cc00", nullptr, nullptr},
      {dtype::I32, "edcbdaa632c2307f", nullptr, nullptr},
      {dtype::I16, "b23e84cd800841d8", nullptr, nullptr},
      {dtype::I8, "bd7f3a0551957d91", nullptr, nullptr},
      {dtype::U64, "5c76734755e5eed4", nullptr, nullptr},
      {dtype::U32, "12a5f5b7052519ea", nullptr, nullptr},
      {dtype::U16, "f01bb9647d2600d1", nullptr, nullptr},
      {dtype::U8, "459bef929e26306e", nullptr, nullptr},
      {dtype::BOOL, "9c265486292837c3", nullptr, nullptr},
  };
  for (std::size_t k = 0; k < cases.size(); ++k) {
    const auto& c = cases[k];
    INFO(to_string(c.type));
    auto buf = pattern(3 * 37 * size_of(c.type), static_cast<std::uint32_t>(k + 1));
    if (c.type == dtype::BOOL) {
      for (auto& b : buf) {
        b &= 1;
      }
    }
    const tensor_view v(buf.data(), c.type, {3, 37});
    CHECK(to_hex16(sglang_hash(v)) == c.stored);
    CHECK(sglang_hash(v) == sglang_hash(bytes_view(buf)));  // no dtype, no shape in the hash
    CHECK(to_hex16(sglang_hash<sglang64, to_bf16>(v)) == (c.bf16 ? c.bf16 : c.stored));
    CHECK(to_hex16(sglang_hash<sglang64, to_f32>(v)) == (c.f32 ? c.f32 : c.stored));
  }
}

TEST_CASE("to_bf16 and to_f32 equal the hash of the converted copy", "[sglang][canonical]") {
  // docs/format.md §5: F32 (2, 3) = [1, -2.5, 3.14159265, +inf, NaN, 1e-40] to BF16 has the
  // canonical bytes 803f20c04940807fc07f0100; Python: digest(..., mode="sglang", canon="BF16").
  const float example[6] = {1.0f, -2.5f, 3.14159265f, INFINITY, NAN, 1e-40f};
  const tensor_view ex(example, dtype::F32, {2, 3});
  CHECK(to_hex16(sglang_hash<sglang64, to_bf16>(ex)) == "02da11939b95563c");
  CHECK(sglang_hash<sglang64, to_bf16>(ex) ==
        sglang_hash(bytes_view(test_util::from_hex("803f20c04940807fc07f0100"))));

  // Several tiles of F32 (row-major and transposed) against an element-wise converted copy.
  const auto raw = random_bytes(4 * 300 * 257, 7);
  const tensor_view dense(raw.data(), dtype::F32, {300, 257});
  const tensor_view transposed(raw.data(), dtype::F32, {257, 300}, {1, 257});
  for (const auto& v : {dense, transposed}) {
    const auto stored = contiguous_copy(v);
    std::vector<std::uint8_t> bf16(v.numel() * 2);
    for (std::uint64_t i = 0; i < v.numel(); ++i) {
      to_bf16::convert(dtype::F32, stored.data() + 4 * i, bf16.data() + 2 * i);
    }
    sglang_engine<sglang64, to_bf16> engine(2);
    CHECK(engine.hash(v) == sglang_hash(bytes_view(bf16)));
    CHECK(sglang_hash<sglang64, to_f32>(v) == sglang_hash(bytes_view(stored)));
    CHECK(sglang_hash<sglang_cpu64, to_bf16>(v) == sglang_hash<sglang_cpu64>(bytes_view(bf16)));
  }
}

TEST_CASE("Strided, transposed, broadcast and reversed views equal their contiguous copies",
          "[sglang][views]") {
  const auto storage = random_bytes(std::size_t{1} << 21, 3);
  const auto* p = storage.data();
  const auto* end = p + storage.size();
  const std::vector<tensor_view> views = {
      tensor_view(p, dtype::F32, {300, 500}, {1, 300}),            // transpose (blocked reads)
      tensor_view(p, dtype::BF16, {400, 700}, {1, 400}),           // transpose, 1400-byte rows
      tensor_view(p, dtype::U8, {4097, 70}, {1, 4097}),            // ...
      tensor_view(p, dtype::U8, {70, 4097}, {1, 70}),              // padded rows of 4097 bytes
      tensor_view(p, dtype::F64, {100, 60}, {120, 2}),             // every other column
      tensor_view(p, dtype::I16, {3, 5000}, {0, 1}),               // broadcast rows
      tensor_view(p + 7, dtype::U8, {33333}, {3}),                 // odd stride, odd length
      tensor_view(end - 2, dtype::BF16, {99999}, {-1}),            // reversed
      tensor_view(p, dtype::F16, {16, 32, 48}, {1, 16 * 48, 16}),  // a permutation
      tensor_view(p + 1, dtype::U8, {5}),                          // misaligned, 5 bytes
  };
  for (std::size_t i = 0; i < views.size(); ++i) {
    INFO("view " << i);
    const auto copy = contiguous_copy(views[i]);
    const auto expected = sglang_hash(bytes_view(copy));
    for (auto impl : impls()) {
      INFO(name(impl));
      CHECK(sglang_engine<>(1, impl).hash(views[i]) == expected);
      CHECK(sglang_engine<>(2, impl).hash(views[i]) == expected);
    }
    CHECK(sglang_hash<sglang_cpu64>(views[i]) == sglang_hash<sglang_cpu64>(bytes_view(copy)));
  }
}

TEST_CASE("Composite views: pieces that end inside a word, concatenations, slices",
          "[sglang][composite]") {
  const auto storage = random_bytes(200000, 11);
  // U8 pieces of odd lengths: every piece boundary falls inside a word.
  std::vector<tensor_view> pieces;
  std::int64_t at = 0;
  for (std::int64_t len : {1, 2, 3, 5, 7, 1, 32765, 4, 3, 40000, 6, 9}) {
    pieces.emplace_back(storage.data() + at, dtype::U8, std::initializer_list<std::int64_t>{len});
    at += len;
  }
  const composite_view odd(pieces, {at}, dtype::U8);
  const std::vector<std::uint8_t> prefix(storage.begin(), storage.begin() + at);
  for (auto impl : impls()) {
    INFO(name(impl));
    CHECK(sglang_engine<>(1, impl).hash(odd) == sglang_hash(bytes_view(prefix)));
    CHECK(sglang_engine<>(2, impl).hash(odd) == sglang_hash(bytes_view(prefix)));
  }
  CHECK(sglang_hash<sglang_cpu64>(odd) == sglang_hash<sglang_cpu64>(bytes_view(prefix)));

  // torch.cat along dims 0 and 1 of BF16 slices of one matrix: the matrix itself.
  const tensor_view m(storage.data(), dtype::BF16, {120, 700});
  const auto whole = sglang_hash(m);
  CHECK(sglang_hash(concat({slice(m, 0, 0, 50), slice(m, 0, 50, 70)}, 0)) == whole);
  CHECK(sglang_hash(concat({slice(m, 1, 0, 3), slice(m, 1, 3, 697)}, 1)) == whole);
  // A concatenation of transposed parts equals its copy.
  const tensor_view a(storage.data(), dtype::F32, {90, 60}, {1, 90});
  const tensor_view b(storage.data() + 30000, dtype::F32, {90, 41}, {1, 90});
  auto copy_a = contiguous_copy(a), copy_b = contiguous_copy(b);
  std::vector<std::uint8_t> cat;
  for (int r = 0; r < 90; ++r) {
    cat.insert(cat.end(), copy_a.begin() + r * 240, copy_a.begin() + (r + 1) * 240);
    cat.insert(cat.end(), copy_b.begin() + r * 164, copy_b.begin() + (r + 1) * 164);
  }
  CHECK(sglang_hash(concat({a, b}, 1)) == sglang_hash(bytes_view(cat)));
}

TEST_CASE("Batches give the single-tensor hashes on 1, 2 and 3 threads", "[sglang][batch]") {
  const auto storage = random_bytes(600000, 5);
  std::vector<tensor_view> views;
  std::vector<composite_view> composites;
  std::mt19937_64 rng(9);
  for (int i = 0; i < 40; ++i) {
    const std::int64_t n = i % 7 == 0 ? 0 : static_cast<std::int64_t>(rng() % 150000);
    const auto* p = n == 0 ? nullptr : storage.data() + rng() % (storage.size() - n);
    views.emplace_back(p, dtype::U8, std::initializer_list<std::int64_t>{n});
    composites.emplace_back(views.back());
  }
  std::vector<std::uint64_t> expected, expected_cpu;
  for (const auto& v : views) {
    expected.push_back(sglang_hash(v));
    expected_cpu.push_back(sglang_hash<sglang_cpu64>(v));
  }
  for (unsigned threads : {1u, 2u, 3u}) {
    INFO(threads << " threads");
    sglang_engine<> engine(threads);
    CHECK(engine.threads() == threads);
    CHECK(engine.hash(views) == expected);
    CHECK(engine.hash(composites) == expected);
    CHECK(sglang_engine<sglang_cpu64>(threads).hash(views) == expected_cpu);
  }
  // A batch of one large tensor spreads its tiles over the threads.
  const tensor_view big(storage.data(), dtype::U8, {600000});
  CHECK(sglang_engine<>(2).hash(big) == sglang_engine<>(1).hash(big));
}

TEST_CASE("The SIMD word loops equal the scalar one", "[sglang][simd]") {
  const auto data = random_bytes(70000, 13);
  std::mt19937_64 rng(17);
  for (int trial = 0; trial < 300; ++trial) {
    const std::uint64_t n = rng() % 9000;
    const std::uint64_t offset = rng() % 64;  // any alignment
    // Start indices anywhere, including just below 2^32, where the index wraps.
    const auto first =
        static_cast<std::uint32_t>(trial % 3 == 0 ? 0xFFFFFFFFu - rng() % 20000 : rng());
    const sg::sums want = sg::words_scalar(data.data() + offset, n, first);
    for (auto impl : impls()) {
      INFO(name(impl) << " n=" << n << " offset=" << offset << " first=" << first);
      const sg::sums got = sg::words_for(impl)(data.data() + offset, n, first);
      CHECK(got.h1 == want.h1);
      CHECK(got.h2 == want.h2);
    }
  }
  // The whole engine on random tensors of random lengths.
  for (int trial = 0; trial < 30; ++trial) {
    const auto bytes = random_bytes(rng() % 300000, 100 + trial);
    const auto want = sglang_engine<>(1, sglang_impl::scalar).hash(bytes_view(bytes));
    for (auto impl : impls()) {
      INFO(name(impl) << " " << bytes.size() << " bytes");
      CHECK(sglang_engine<>(2, impl).hash(bytes_view(bytes)) == want);
    }
  }
  sglang_engine<> automatic(1);
  CHECK(automatic.impl() != sglang_impl::automatic);
  CHECK(sg::available(automatic.impl()));
}

TEST_CASE("Word indices are taken mod 2^32 past 2^32 words", "[sglang][core]") {
  // SGLang's kernel has no defined result past 2^31 words; tensorhash continues with the index
  // mod 2^32, as python/tensorhash_ref.py does: tile 2^19 (word 2^32) keys its words as tile 0.
  const auto bytes = random_bytes(sg::tile_bytes + 6, 21);
  const std::uint32_t length = sg::length_key(std::uint64_t{1} << 40);
  for (auto impl : impls()) {
    std::uint64_t low[2] = {}, high[2] = {};
    sg::tile_stream a(sg::words_for(impl), 0, length, low);
    sg::tile_stream b(sg::words_for(impl), std::uint64_t{1} << 19, length, high);
    a.update(bytes.data(), bytes.size());
    b.update(bytes.data(), bytes.size());
    a.finish();
    b.finish();
    CHECK(low[0] == high[0]);
    CHECK(low[1] == high[1]);
  }
}

TEST_CASE("sglang_cpu64 is the first 8 bytes of OpenSSL's SHA-256", "[sglang][openssl]") {
  for (std::size_t n : {0, 1, 3, 55, 56, 64, 1000, 65536, 1234567}) {
    const auto bytes = random_bytes(n, n + 1);
    const tensor_view v(n == 0 ? nullptr : bytes.data(), dtype::U8, {static_cast<std::int64_t>(n)});
    std::uint8_t md[SHA256_DIGEST_LENGTH];
    SHA256(bytes.data(), n, md);
    std::uint64_t want = 0;
    for (int i = 0; i < 8; ++i) {
      want = want << 8 | md[i];
    }
    CHECK(sglang_engine<sglang_cpu64>(2).hash(v) == want);
  }
}

TEST_CASE("The device kernels' tile and segment math, run on the host", "[sglang][device]") {
  // tile_kernel: one block per global tile, each of `lanes` threads summing lane_sums, the sums
  // added (cub::BlockReduce), thread 0 writing tile_value. total_kernel: lane_total per thread,
  // added, finalize. Any lane count gives the same values.
  std::vector<std::vector<std::uint8_t>> buffers;
  for (std::size_t n : {0, 1, 7, 32768, 32772, 100003, 0, 4, 65536, 3}) {
    buffers.push_back(random_bytes(n, n + 3));
  }
  std::vector<tensor_view> views;
  for (const auto& b : buffers) {
    views.emplace_back(b.empty() ? nullptr : b.data(), dtype::U8,
                       std::initializer_list<std::int64_t>{static_cast<std::int64_t>(b.size())});
  }
  const auto expected = sglang_engine<>(1).hash(views);
  struct host_word {
    static std::uint32_t word(const std::uint8_t* p) { return sg::tail_word(p, 4); }
  };
  const sg::tile_table table = sg::make_tile_table(views.data(), views.size());
  const sg::table_view tv = sg::view_of(table);
  CHECK(table.tiles() == 0 + 1 + 1 + 1 + 2 + 4 + 0 + 1 + 2 + 1);
  for (std::uint32_t lanes : {256u, 96u, 1u}) {
    INFO(lanes << " lanes");
    std::vector<std::uint64_t> values(table.tiles());
    for (std::uint64_t g = 0; g < table.tiles(); ++g) {
      const std::uint64_t t = sg::owner(tv, g);
      sg::sums s;
      for (std::uint32_t lane = 0; lane < lanes; ++lane) {
        s = s + sg::lane_sums<host_word>(tv.tensors[t], g - tv.first_tile[t], lane, lanes);
      }
      values[g] = sg::tile_value(s, sg::length_key(tv.tensors[t].bytes));
    }
    for (std::uint64_t t = 0; t < tv.count; ++t) {
      std::uint64_t total = 0;
      for (std::uint32_t lane = 0; lane < lanes; ++lane) {
        total += sg::lane_total(values.data(), tv.first_tile[t], tv.first_tile[t + 1], lane, lanes);
      }
      CHECK(sg::finalize(total) == expected[t]);
    }
  }
  // The device path's scope: dense, 4-byte aligned views.
  const auto storage = random_bytes(64, 1);
  const tensor_view transposed(storage.data(), dtype::U8, {4, 4}, {1, 4});
  const tensor_view misaligned(storage.data() + 2, dtype::U8, {8});
  CHECK(code_of([&] { sg::make_tile_table(&transposed, 1); }) == errc::invalid_argument);
  CHECK(code_of([&] { sg::make_tile_table(&misaligned, 1); }) == errc::invalid_argument);
  CHECK(code_of([&] { sg::make_tile_table(nullptr, 1); }) == errc::null_data);
}

TEST_CASE("Errors name the problem", "[sglang][errors]") {
  const std::vector<std::uint8_t> bytes(16, 1);
  const tensor_view on_gpu(bytes.data(), dtype::U8, {16}, {}, location::cuda(0));
  sglang_engine<> engine(1);
  CHECK(code_of([&] { engine.hash(on_gpu); }) == errc::wrong_memory_space);
  CHECK(code_of([&] { sglang_engine<sglang_cpu64>(1).hash(on_gpu); }) == errc::wrong_memory_space);
  std::uint64_t out = 0;
  CHECK(code_of([&] { engine.hash(static_cast<const tensor_view*>(nullptr), 1, &out); }) ==
        errc::null_data);
  for (auto impl : {sglang_impl::avx2, sglang_impl::avx512}) {
    if (!sg::available(impl)) {
      CHECK(code_of([&] { sglang_engine<>(1, impl); }) == errc::invalid_argument);
    }
  }
}
