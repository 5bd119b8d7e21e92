// The device backend's per-thread work (tensorhash/detail/device_schedule.hpp), run on the host
// exactly as the kernels run it: items, then pairing levels, then roots. Proves the GPU agents'
// logic (dense funnel-shift path, strided path, item and level mapping) without a GPU.
#include "test_util.hpp"

#include <tensorhash/detail/device_schedule.hpp>
#include <tensorhash/host.hpp>

#include <map>
#include <random>

using namespace tensorhash;
using device_sha256 = basic_sha256<sha256_impl::portable>;  // what device code compiles to

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

template <class Canon>
std::vector<digest256> emulate_device(const std::vector<composite_view>& tensors,
                                      std::uint64_t chunk) {
  using namespace tensorhash::detail;
  const schedule s = make_schedule<Canon>(tensors.data(), tensors.size(), chunk);
  const schedule_view sv = view_of(s, chunk);
  std::vector<digest256> nodes(s.items());
  for (std::uint64_t g = 0; g < nodes.size(); ++g) {
    nodes[g] = hash_item<device_sha256, Canon, host_loader>(sv, g);
  }
  if (chunk == 0) {
    return nodes;
  }
  for (int l = 0; l < s.levels; ++l) {
    std::vector<digest256> next(s.nodes(l + 1));
    for (std::uint64_t g = 0; g < next.size(); ++g) {
      next[g] = level_node<device_sha256>(nodes.data(), s.row(l), s.row(l + 1), s.tensors(), g);
    }
    nodes.swap(next);
  }
  std::vector<digest256> roots(s.tensors());
  for (std::uint64_t t = 0; t < roots.size(); ++t) {
    roots[t] = tree_root<device_sha256>(nodes.data(), s.row(s.levels), t);
  }
  return roots;
}

std::vector<digest256> emulate_device(const std::string& canon,
                                      const std::vector<tensor_view>& views, std::uint64_t chunk) {
  const std::vector<composite_view> tensors(views.begin(), views.end());
  if (canon == "BF16")
    return emulate_device<to_bf16>(tensors, chunk);
  if (canon == "F32")
    return emulate_device<to_f32>(tensors, chunk);
  return emulate_device<as_stored>(tensors, chunk);
}

}  // namespace

TEST_CASE("Device schedule reproduces the Python reference on every case, batched",
          "[device_schedule][reference]") {
  const auto all = test_util::read_reference_cases();
  REQUIRE(all.size() >= 1000);
  for (std::size_t shift : {std::size_t{0}, std::size_t{1}, std::size_t{8}}) {
    CAPTURE(shift);
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
      const auto got = emulate_device(cases[0].c.canon, views,
                                      cases[0].c.mode == "exact" ? 0 : cases[0].c.chunk);
      REQUIRE(got.size() == cases.size());
      for (std::size_t i = 0; i < cases.size(); ++i) {
        CHECK(got[i].to_hex() == cases[i].c.digest);
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

TEST_CASE("Schedule of a mixed batch: levels, scans and segment search", "[device_schedule]") {
  // Leaves per tensor at 1 KiB chunks: 0, 1, 5, 3 (F32 elements: 0, 10, 1200, 768).
  std::vector<float> a(1200);
  const std::vector<tensor_view> views = {
      tensor_view(nullptr, dtype::F32, {0}), tensor_view(a.data(), dtype::F32, {10}),
      tensor_view(a.data(), dtype::F32, {1200}), tensor_view(a.data(), dtype::F32, {768})};
  const std::vector<composite_view> tensors(views.begin(), views.end());
  const auto s = detail::make_schedule<as_stored>(tensors.data(), tensors.size(), 1024);
  CHECK(s.items() == 9);
  CHECK(s.levels == 3);  // 5 -> 3 -> 2 -> 1
  CHECK(s.nodes(1) == 0 + 1 + 3 + 2);
  CHECK(s.nodes(3) == 3);                            // every non-empty tensor holds its root
  CHECK(detail::find_segment(s.row(0), 4, 0) == 1);  // tensor 0 owns no item
  CHECK(detail::find_segment(s.row(0), 4, 1) == 2);
  CHECK(detail::find_segment(s.row(0), 4, 6) == 3);
  const auto exact_schedule = detail::make_schedule<as_stored>(tensors.data(), tensors.size(), 0);
  CHECK(exact_schedule.items() == 4);
  CHECK(exact_schedule.levels == 0);
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
    const auto got = emulate_device<to_f32>(tensors, chunk);
    for (std::size_t i = 0; i < tensors.size(); ++i) {
      CHECK(got[i] == (chunk == 0 ? exact_engine.hash(tensors[i]) : tree_engine.hash(tensors[i])));
    }
  }
}
