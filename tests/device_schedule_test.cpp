// The device backend's work (tensorhash/detail/device_schedule.hpp, device_agent.hpp), run on the
// host exactly as the kernels run it (tests/device_emulation.hpp): leaf warps lane by lane, then
// pairing rows, then roots. Proves the GPU agents' logic (slot groups, cooperative loads through
// the swizzled tile, the fold, dense funnel-shift and tile paths, rows) without a GPU.
#include "device_emulation.hpp"
#include "test_util.hpp"

#include <tensorhash/detail/device_schedule.hpp>
#include <tensorhash/host.hpp>

#include <map>
#include <random>
#include <set>

using namespace tensorhash;
using test_util::device_sha256;  // what device code compiles to

namespace {

// A 16-byte aligned copy of a case's storage, with the view's base shifted by `shift` bytes.
struct placed_case {
  test_util::reference_case c;
  std::vector<std::uint8_t> storage;
  tensor_view view;
};

placed_case place(const test_util::reference_case& c, std::size_t shift) {
  placed_case p;
  p.c = c;
  const std::size_t base_at = static_cast<std::size_t>(c.offset) * size_of(c.type);
  const std::size_t pad = (16 - base_at % 16) % 16 + shift;
  p.storage.assign(pad + c.buffer.size() + 16, 0);
  std::copy(c.buffer.begin(), c.buffer.end(), p.storage.begin() + static_cast<std::ptrdiff_t>(pad));
  p.view = c.view_over(p.storage.data() + pad);
  return p;
}

std::vector<digest256> emulate_device(const std::string& canon,
                                      const std::vector<tensor_view>& views, std::uint64_t chunk,
                                      test_util::leaf_variant variant) {
  using test_util::emulate_device;
  const std::vector<composite_view> tensors(views.begin(), views.end());
  if (canon == "BF16")
    return emulate_device<to_bf16>(tensors, chunk, variant);
  if (canon == "F32")
    return emulate_device<to_f32>(tensors, chunk, variant);
  return emulate_device<as_stored>(tensors, chunk, variant);
}

}  // namespace

TEST_CASE("Device schedule reproduces the Python reference on every case, batched",
          "[device_schedule][reference]") {
  const auto all = test_util::read_reference_cases();
  REQUIRE(all.size() >= 1000);
  for (std::size_t shift : {std::size_t{0}, std::size_t{1}, std::size_t{8}}) {
    CAPTURE(shift);
    // Every leaf-kernel variant on aligned data; the default one on shifted data (tile path).
    const auto variants =
        shift == 0 ? test_util::leaf_variants()
                   : std::vector<test_util::leaf_variant>{test_util::leaf_variants().front()};
    // One batch per (mode, chunk, canon), as an engine would submit a whole state dict.
    std::map<std::string, std::vector<placed_case>> batches;
    for (const auto& c : all) {
      batches[c.batch_key()].push_back(place(c, shift));
    }
    for (const auto& [key, cases] : batches) {
      CAPTURE(key);
      std::vector<tensor_view> views;
      for (const auto& c : cases)
        views.push_back(c.view);
      for (const auto& variant : variants) {
        CAPTURE(static_cast<int>(variant.load), variant.pipeline);
        const auto got = emulate_device(cases[0].c.canon, views,
                                        cases[0].c.mode == "exact" ? 0 : cases[0].c.chunk, variant);
        REQUIRE(got.size() == cases.size());
        for (std::size_t i = 0; i < cases.size(); ++i) {
          CHECK(got[i].to_hex() == cases[i].c.digest);
        }
      }
    }
  }
}

TEST_CASE("Dense path: prefix shift and tails at every length around block edges",
          "[device_schedule]") {
  alignas(16) std::uint8_t data[400];
  for (std::size_t i = 0; i < sizeof(data); ++i)
    data[i] = static_cast<std::uint8_t>(i * 37 + 1);
  for (std::uint64_t n = 0; n <= 300; ++n) {
    CAPTURE(n);
    CHECK(detail::hash_dense<device_sha256, detail::host_loader>(data, n, false).to_hex() ==
          test_util::openssl_sha256_hex(data, n));
    CHECK(detail::hash_dense<device_sha256, detail::host_loader>(data, n, true) ==
          merkle_leaf_hash(data, n));
  }
}

TEST_CASE("Node hash from words equals merkle_node_hash (RFC 6962)", "[device_schedule]") {
  std::mt19937_64 rng(3);
  for (int i = 0; i < 100; ++i) {
    digest256 a, b;
    for (auto& x : a.bytes)
      x = static_cast<std::uint8_t>(rng());
    for (auto& x : b.bytes)
      x = static_cast<std::uint8_t>(rng());
    CHECK(detail::node_hash<device_sha256>(a, b) == merkle_node_hash(a, b));
  }
}

TEST_CASE("Schedule of a mixed batch: slot groups, fold row, levels, segment search",
          "[device_schedule]") {
  // Leaves per tensor at 1 KiB chunks: 0, 1, 5, 3, 70 (F32 elements: 0, 10, 1200, 768, 17920).
  std::vector<float> a(17920);
  const std::vector<tensor_view> views = {
      tensor_view(nullptr, dtype::F32, {0}), tensor_view(a.data(), dtype::F32, {10}),
      tensor_view(a.data(), dtype::F32, {1200}), tensor_view(a.data(), dtype::F32, {768}),
      tensor_view(a.data(), dtype::F32, {17920})};
  const std::vector<composite_view> tensors(views.begin(), views.end());
  const auto s = detail::make_schedule<as_stored>(tensors.data(), tensors.size(), 1024);
  // Slot order by descending group: 70 leaves (group 32), 5 (8), 3 (4), 1 (1), empty.
  CHECK(s.order == std::vector<std::uint64_t>{4, 2, 3, 1, 0});
  CHECK(s.items() == 96 + 8 + 4 + 1);  // groups rounded up and aligned
  CHECK(s.row(0)[1] == 96);
  CHECK(s.row(0)[2] % 8 == 0);
  CHECK(s.row(0)[3] % 4 == 0);
  CHECK(s.nodes(1) == 3);  // only the 70-leaf tensor leaves the warp: ceil(70 / 32) nodes
  CHECK(s.levels == 1);    // 3 -> 1: one level block folds up to 256 nodes
  CHECK(s.nodes(2) == 1);
  CHECK(s.empty_from == 4);  // the empty tensor comes last
  CHECK(detail::find_segment(s.row(0), 5, 0) == 0);
  CHECK(detail::find_segment(s.row(0), 5, 100) == 1);
  CHECK(detail::find_segment(s.row(0), 5, 108) == 3);
  const auto exact_schedule = detail::make_schedule<as_stored>(tensors.data(), tensors.size(), 0);
  CHECK(exact_schedule.items() == 5);
  CHECK(exact_schedule.levels == 0);
  // A batch of tensors of at most 32 leaves: roots written by the leaf kernel alone.
  const std::vector<composite_view> small(tensors.begin() + 1, tensors.begin() + 4);
  const auto one_launch = detail::make_schedule<as_stored>(small.data(), small.size(), 1024);
  CHECK(one_launch.empty_from == 3);
  CHECK(one_launch.levels == 0);
  CHECK(one_launch.nodes(1) == 0);
}

TEST_CASE("Shared tile: a bijection, and no bank conflicts in the stores or the row reads",
          "[device_schedule][tile]") {
  std::set<std::uint32_t> words;
  for (std::uint32_t r = 0; r < 32; ++r)
    for (std::uint32_t c = 0; c < 16; ++c)
      words.insert(detail::tile_word(r, c));
  CHECK(words.size() == 512);
  CHECK(*words.rbegin() == 511);
  for (std::uint32_t c = 0; c < 16; ++c) {  // lane l reads word c of row l
    std::set<std::uint32_t> banks;
    for (std::uint32_t l = 0; l < 32; ++l)
      banks.insert(detail::tile_word(l, c) % 32);
    CHECK(banks.size() == 32);
  }
  for (std::uint32_t q = 0; q < 4; ++q) {  // round q, word k of lane l's 16-byte load
    for (std::uint32_t k = 0; k < 4; ++k) {
      std::set<std::uint32_t> banks;
      for (std::uint32_t l = 0; l < 32; ++l)
        banks.insert(detail::tile_word(8 * q + l / 4, 4 * (l % 4) + k) % 32);
      CHECK(banks.size() == 32);
    }
  }
}

TEST_CASE("Leaf warps: large, misaligned, mixed and composite batches match the host engine",
          "[device_schedule][warp]") {
  std::vector<std::uint8_t> bytes(test_util::warp_batch_bytes + 16);
  std::mt19937_64 rng(7);
  for (auto& b : bytes)
    b = static_cast<std::uint8_t>(rng());
  const auto address = reinterpret_cast<std::uintptr_t>(bytes.data());
  const auto batch =
      test_util::warp_batch(bytes.data() + (16 - address % 16) % 16, location::host());
  for (const auto& variant : test_util::leaf_variants()) {
    CAPTURE(static_cast<int>(variant.load), variant.pipeline);
    for (std::uint64_t chunk : {std::uint64_t{1024}, std::uint64_t{4096}}) {
      CAPTURE(chunk);
      host_engine<tree, as_stored> engine(tree{chunk});
      const auto got = test_util::emulate_device<as_stored>(batch, chunk, variant);
      for (std::size_t i = 0; i < batch.size(); ++i) {
        CAPTURE(i);
        CHECK(got[i] == engine.hash(batch[i]));
      }
      host_engine<tree, to_bf16> bf16(tree{chunk});
      const auto converted = test_util::emulate_device<to_bf16>(batch, chunk, variant);
      for (std::size_t i = 0; i < batch.size(); ++i) {
        CAPTURE(i);
        CHECK(converted[i] == bf16.hash(batch[i]));
      }
    }
  }
}

TEST_CASE("Level rows: tensors past one level block's 256 x 32 leaves match the host engine",
          "[device_schedule][levels]") {
  // At 1 KiB leaves: 8192 leaves fill one level block; 8193 and 9000 need a second level row,
  // whose nodes go to the second temporary region, then a third that writes the roots.
  const auto data = test_util::random_bytes((std::size_t{9000} << 10) + 16, 17);
  const auto address = reinterpret_cast<std::uintptr_t>(data.data());
  const std::uint8_t* base = data.data() + (16 - address % 16) % 16;
  std::vector<composite_view> batch;
  for (std::int64_t leaves : {8192, 8193, 9000, 40}) {
    batch.push_back(composite_view(tensor_view(base, dtype::U8, {leaves * 1024 - 5})));
  }
  const auto s = detail::make_schedule<as_stored>(batch.data(), batch.size(), 1024);
  CHECK(s.levels == 2);
  host_engine<tree, as_stored> engine(tree{1024});
  for (const auto& variant : test_util::leaf_variants()) {
    CAPTURE(static_cast<int>(variant.load), variant.pipeline, variant.max_grid_blocks);
    const auto got = test_util::emulate_device<as_stored>(batch, 1024, variant);
    for (std::size_t i = 0; i < batch.size(); ++i) {
      CAPTURE(i);
      CHECK(got[i] == engine.hash(batch[i]));
    }
  }
}

TEST_CASE("Level rows: a third row returns to the first region", "[device_schedule][levels]") {
  // Leaves of one byte (a chunk size the schedule takes, though tree mode does not), so that
  // 2^21 + 1 leaves, past two level rows of 256 x 32, fit in 2 MiB: row 3 is written into region
  // A again, row 4 is the root.
  const std::size_t n = (std::size_t{1} << 21) + 1;
  const auto data = test_util::random_bytes(n, 19);
  const std::vector<composite_view> batch = {
      composite_view(tensor_view(data.data(), dtype::U8, {std::int64_t(n)})),
      composite_view(tensor_view(data.data(), dtype::U8, {300000})),
      composite_view(tensor_view(data.data(), dtype::U8, {0}))};
  const auto s = detail::make_schedule<as_stored>(batch.data(), batch.size(), 1);
  CHECK(s.levels == 3);
  std::vector<digest256> want;
  for (std::size_t size : {n, std::size_t{300000}, std::size_t{0}}) {
    std::vector<digest256> leaves(size);
    for (std::size_t i = 0; i < size; ++i) {
      leaves[i] = merkle_leaf_hash(data.data() + i, 1);
    }
    want.push_back(size == 0 ? hash_bytes<sha256>(nullptr, 0) : merkle_root(leaves));
  }
  for (const auto& variant :
       {test_util::leaf_variants().front(), test_util::leaf_variants().back()}) {
    CAPTURE(variant.max_grid_blocks);
    CHECK(test_util::emulate_device<as_stored>(batch, 1, variant) == want);
  }
}

TEST_CASE("Device schedule hashes concatenations and slices like their materialised copies",
          "[device_schedule][concat]") {
  std::vector<std::uint16_t> a(24 * 40), b(8 * 40), c(16 * 40);
  for (std::size_t i = 0; i < a.size(); ++i)
    a[i] = static_cast<std::uint16_t>(i * 7);
  for (std::size_t i = 0; i < b.size(); ++i)
    b[i] = static_cast<std::uint16_t>(i * 11 + 1);
  for (std::size_t i = 0; i < c.size(); ++i)
    c[i] = static_cast<std::uint16_t>(i * 13 + 2);
  const tensor_view va(a.data(), dtype::BF16, {24, 40}), vb(b.data(), dtype::BF16, {8, 40}),
      vc(c.data(), dtype::BF16, {16, 40});
  const std::vector<composite_view> tensors = {
      concat({va, vb, vc}, 0), concat({slice(va, 1, 0, 8), slice(va, 1, 8, 32)}, 1),
      concat({slice(va, 0, 3, 7, 2), vb}, 0), composite_view(slice(vc, 1, 5, 9, 3))};
  host_engine<tree, to_f32> tree_engine(tree(1024));
  host_engine<exact, to_f32> exact_engine;
  for (std::uint64_t chunk : {std::uint64_t{0}, std::uint64_t{1024}}) {
    CAPTURE(chunk);
    for (const auto& variant : test_util::leaf_variants()) {
      const auto got = test_util::emulate_device<to_f32>(tensors, chunk, variant);
      for (std::size_t i = 0; i < tensors.size(); ++i) {
        CHECK(got[i] ==
              (chunk == 0 ? exact_engine.hash(tensors[i]) : tree_engine.hash(tensors[i])));
      }
    }
  }
}
