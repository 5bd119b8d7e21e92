// The hybrid exact mode's host half, on the host: the streaming pipeline of
// detail/hybrid_pipeline.hpp runs with host memory standing in for device memory and a copier
// that defers each memcpy until the pipeline waits for it (poisoning the slot meanwhile), so a
// read before its wait, or a copy into a slot still being hashed, changes a digest or throws.
// Digests must equal host_engine<exact>'s: sizes around slice boundaries, 0 bytes, tensors many
// times the staging, composites, canonicalisation, strided tensors left to the GPU side, many
// tensors on many lanes; and the cost model's split on a 7B-shaped state dict.
#include "test_util.hpp"

#include <tensorhash/detail/hybrid_pipeline.hpp>
#include <tensorhash/host.hpp>

#include <atomic>
#include <cstring>
#include <mutex>
#include <numeric>
#include <random>
#include <stdexcept>

using namespace tensorhash;
using test_util::code_of;
using test_util::random_bytes;

namespace {

/// A copier whose copies land only when the pipeline waits for them. Between `copy` and `wait`
/// the slot holds poison, as a slot being filled by DMA holds nothing usable; slot states are
/// checked (idle → filling → committed → idle), and a violation throws through the pool.
class deferred_copier {
 public:
  deferred_copier(unsigned lanes, std::uint64_t slice_bytes)
      : slice_bytes_(slice_bytes),
        memory_(std::uint64_t{lanes} * 2 * slice_bytes),
        slots_(std::uint64_t{lanes} * 2) {}

  void enter() {
    std::lock_guard<std::mutex> lock(mutex_);
    ++entered_;
  }
  std::uint8_t* staging(unsigned lane, unsigned slot) {
    return memory_.data() + (std::uint64_t{lane} * 2 + slot) * slice_bytes_;
  }
  void copy(unsigned lane, unsigned slot, std::uint64_t at, const void* src, std::uint64_t bytes) {
    slot_state& s = at_(lane, slot);
    if (s.committed) {
      throw std::logic_error("copy into a slot whose previous copies were never waited for");
    }
    if (at + bytes > slice_bytes_) {
      throw std::logic_error("copy past the end of a staging slot");
    }
    std::memset(staging(lane, slot) + at, 0xCD, bytes);
    s.pending.push_back({at, src, bytes});
    ++copies_;
  }
  void commit(unsigned lane, unsigned slot) { at_(lane, slot).committed = true; }
  void wait(unsigned lane, unsigned slot) {
    slot_state& s = at_(lane, slot);
    if (!s.committed) {
      throw std::logic_error("wait for a slot that was never committed");
    }
    for (const auto& p : s.pending) {
      std::memcpy(staging(lane, slot) + p.at, p.src, p.bytes);
    }
    s.pending.clear();
    s.committed = false;
  }
  std::uint64_t copies() const { return copies_; }
  unsigned entered() const { return entered_; }

 private:
  struct pending_copy {
    std::uint64_t at;
    const void* src;
    std::uint64_t bytes;
  };
  struct slot_state {
    std::vector<pending_copy> pending;
    bool committed = false;
  };
  slot_state& at_(unsigned lane, unsigned slot) { return slots_[std::uint64_t{lane} * 2 + slot]; }

  std::uint64_t slice_bytes_;
  std::vector<std::uint8_t> memory_;
  std::vector<slot_state> slots_;  // each touched by the one thread running its lane
  std::mutex mutex_;
  unsigned entered_ = 0;
  std::atomic<std::uint64_t> copies_{0};
};

/// Streams `tensors[which]` through the pipeline with a deferred copier; other digests stay 0.
template <class Canon>
std::vector<digest256> streamed(const std::vector<composite_view>& tensors,
                                const std::vector<std::size_t>& which, unsigned lanes,
                                std::uint64_t slice_bytes) {
  detail::streamed_exact<Canon, sha256> pipeline(tensors, which, lanes, slice_bytes);
  deferred_copier copier(pipeline.lanes(), pipeline.slice_bytes());
  detail::thread_pool pool(lanes);
  std::vector<digest256> out(tensors.size());
  pipeline.run(copier, pool, out.data());
  return out;
}

std::vector<std::size_t> all_of(std::size_t n) {
  std::vector<std::size_t> v(n);
  std::iota(v.begin(), v.end(), std::size_t{0});
  return v;
}

/// The whole hybrid mode with a host stand-in for each side: the cost model splits, host_engine
/// plays device_plan<exact> for the GPU's share, the pipeline streams the rest.
template <class Canon>
std::vector<digest256> hybrid_on_host(const std::vector<composite_view>& tensors,
                                      const detail::hybrid_costs& costs, unsigned threads,
                                      detail::hybrid_split* split_out = nullptr) {
  const detail::hybrid_split split =
      detail::split_batch(detail::hybrid_items<Canon>(tensors), costs, threads);
  std::vector<digest256> out = streamed<Canon>(tensors, split.host, threads, costs.slice_bytes);
  std::vector<composite_view> device_share;
  for (std::size_t i : split.device) {
    device_share.push_back(tensors[i]);
  }
  const auto device_digests = host_engine<exact, Canon>(exact{}, 1).hash(device_share);
  for (std::size_t k = 0; k < split.device.size(); ++k) {
    out[split.device[k]] = device_digests[k];
  }
  if (split_out != nullptr) {
    *split_out = split;
  }
  return out;
}

template <class Canon>
std::vector<digest256> reference(const std::vector<composite_view>& tensors) {
  return host_engine<exact, Canon>(exact{}, 2).hash(tensors);
}

}  // namespace

TEST_CASE("Streamed exact digests equal host_engine's around slice boundaries",
          "[hybrid][pipeline]") {
  const std::uint64_t slice = 256;
  const std::vector<std::uint64_t> sizes = {0,
                                            1,
                                            63,
                                            64,
                                            65,
                                            slice - 1,
                                            slice,
                                            slice + 1,
                                            2 * slice - 1,
                                            2 * slice,
                                            2 * slice + 1,
                                            10 * slice + 7,
                                            100 * slice};
  const auto data = random_bytes(200 * slice, 1);
  std::vector<composite_view> tensors;
  for (std::uint64_t n : sizes) {
    tensors.emplace_back(tensor_view(n == 0 ? nullptr : data.data() + n % 7, dtype::U8,
                                     {static_cast<std::int64_t>(n)}));
  }
  const auto expected = reference<as_stored>(tensors);
  for (unsigned lanes : {1u, 2u, 3u, 7u, 32u}) {
    INFO("lanes " << lanes);
    CHECK(streamed<as_stored>(tensors, all_of(tensors.size()), lanes, slice) == expected);
  }
  // A slot larger than every tensor, and one rounded down to whole blocks (100 -> 64).
  CHECK(streamed<as_stored>(tensors, all_of(tensors.size()), 2, 1 << 20) == expected);
  CHECK(streamed<as_stored>(tensors, all_of(tensors.size()), 2, 100) == expected);
  CHECK(detail::streamed_exact<as_stored, sha256>(tensors, {}, 2, 100).slice_bytes() == 64);
  CHECK(code_of([&] { detail::streamed_exact<as_stored, sha256>(tensors, {}, 2, 63); }) ==
        errc::invalid_argument);
}

TEST_CASE("Slot protocol: each lane enters, copies are packed per slot", "[hybrid][pipeline]") {
  const auto data = random_bytes(4096, 2);
  // 16 rows of 256 bytes concatenated along dim 1 with a second part: 32 pieces.
  const tensor_view a(data.data(), dtype::U8, {16, 128});
  const tensor_view b(data.data() + 2048, dtype::U8, {16, 128});
  const std::vector<composite_view> tensors = {concat({a, b}, 1)};
  detail::streamed_exact<as_stored, sha256> pipeline(tensors, {0}, 4, 1024);
  CHECK(pipeline.lanes() == 1);  // one tensor is one chain
  deferred_copier copier(pipeline.lanes(), pipeline.slice_bytes());
  detail::thread_pool pool(4);
  std::vector<digest256> out(1);
  pipeline.run(copier, pool, out.data());
  CHECK(out == reference<as_stored>(tensors));
  CHECK(copier.copies() == 32);  // one per piece: four 1 KiB slots of eight 128-byte pieces
  CHECK(copier.entered() == 1);
}

TEMPLATE_TEST_CASE("Streamed canonicalisation equals host_engine's", "[hybrid][canonical]",
                   as_stored, to_bf16, to_f32) {
  const auto data = random_bytes(1 << 16, 3);
  std::vector<composite_view> tensors;
  for (dtype t : {dtype::F64, dtype::F32, dtype::F16, dtype::BF16, dtype::F8_E4M3, dtype::F8_E5M2,
                  dtype::I32, dtype::U8}) {
    for (std::int64_t n : {0, 1, 31, 32, 33, 4097, 12000}) {
      if (n * size_of(t) <= static_cast<std::int64_t>(data.size())) {
        tensors.emplace_back(tensor_view(n == 0 ? nullptr : data.data(), t, {n}));
      }
    }
  }
  const auto expected = reference<TestType>(tensors);
  // 128-byte slots: F8 elements become four times as many F32 bytes, F64 a quarter as many BF16.
  for (unsigned lanes : {1u, 3u}) {
    CHECK(streamed<TestType>(tensors, all_of(tensors.size()), lanes, 128) == expected);
  }
  CHECK(hybrid_on_host<TestType>(tensors, detail::hybrid_costs{}, 2) == expected);
}

TEST_CASE("Composites stream piece after piece across slot boundaries", "[hybrid][composite]") {
  const auto data = random_bytes(1 << 16, 4);
  const auto* p = data.data();
  const tensor_view a(p, dtype::BF16, {7, 33});
  const tensor_view b(p + 1000, dtype::BF16, {5, 33});
  const tensor_view c(p + 3000, dtype::BF16, {7, 5});
  const tensor_view empty(nullptr, dtype::BF16, {0, 33});
  const std::vector<composite_view> tensors = {
      concat({a, b}, 0),         concat({a, empty, b}, 0), concat({a, c}, 1),
      concat({a, a, a, a}, 0),   composite_view(a),        concat({c}, 1),
      concat({empty, empty}, 0),
  };
  const auto all = all_of(tensors.size());
  for (std::uint64_t slice : {64u, 128u, 192u, 4096u}) {
    INFO("slice " << slice);
    CHECK(streamed<as_stored>(tensors, all, 2, slice) == reference<as_stored>(tensors));
    CHECK(streamed<to_f32>(tensors, all, 3, slice) == reference<to_f32>(tensors));
  }
}

TEST_CASE("Strided tensors stay on the GPU side; the whole split hashes like host_engine",
          "[hybrid][split]") {
  const auto data = random_bytes(1 << 20, 5);
  const auto* p = data.data();
  const tensor_view dense(p, dtype::BF16, {512, 256});
  const tensor_view transposed(p, dtype::BF16, {256, 512}, {1, 256});
  const tensor_view every_other(p, dtype::F32, {1000}, {2});
  const tensor_view broadcast(p, dtype::F32, {64, 64}, {0, 1});
  const std::vector<composite_view> tensors = {dense, transposed, every_other, broadcast,
                                               concat({dense, dense}, 1)};
  detail::hybrid_costs costs;
  costs.host_from_bytes = 1;  // every streamable tensor to the host
  costs.slice_bytes = 4096;
  detail::hybrid_split split;
  CHECK(hybrid_on_host<as_stored>(tensors, costs, 3, &split) == reference<as_stored>(tensors));
  CHECK(split.host == std::vector<std::size_t>{0, 4});
  CHECK(split.device == std::vector<std::size_t>{1, 2, 3});
  CHECK(hybrid_on_host<to_f32>(tensors, costs, 3) == reference<to_f32>(tensors));
  CHECK(code_of([&] { detail::streamed_exact<as_stored, sha256>(tensors, {1}, 1, 4096); }) ==
        errc::invalid_argument);
}

TEST_CASE("Many tensors on many lanes", "[hybrid][batch]") {
  const auto data = random_bytes(1 << 20, 6);
  std::mt19937_64 rng(7);
  std::vector<composite_view> tensors;
  for (int i = 0; i < 400; ++i) {
    const std::int64_t n = static_cast<std::int64_t>(rng() % 40000);
    const std::uint64_t at = rng() % (data.size() - 2 * static_cast<std::uint64_t>(n) - 1);
    tensors.emplace_back(tensor_view(n == 0 ? nullptr : data.data() + at, dtype::BF16, {n}));
  }
  const auto expected = reference<as_stored>(tensors);
  for (unsigned lanes : {1u, 2u, 5u, 16u}) {
    INFO("lanes " << lanes);
    CHECK(streamed<as_stored>(tensors, all_of(tensors.size()), lanes, 8192) == expected);
  }
  // The cost model's own split (default constants: the larger tensors go to the host).
  detail::hybrid_costs costs;
  costs.slice_bytes = 16384;
  detail::hybrid_split split;
  CHECK(hybrid_on_host<as_stored>(tensors, costs, 4, &split) == expected);
  CHECK(!split.host.empty());
  CHECK(!split.device.empty());
  CHECK(split.host.size() + split.device.size() == tensors.size());
}

namespace {

/// Qwen2.5-7B's tensors (bf16, untied lm_head), as the cost model sees them: 15.2 GB.
std::vector<detail::hybrid_item> qwen2_5_7b_items() {
  const std::uint64_t vocab = 152064, hidden = 3584, inter = 18944, kv = 512;
  std::vector<std::uint64_t> elems = {vocab * hidden, hidden, vocab * hidden};
  for (int l = 0; l < 28; ++l) {
    for (std::uint64_t n :
         {hidden * hidden, hidden, kv * hidden, kv, kv * hidden, kv, hidden * hidden,
          inter * hidden, inter * hidden, hidden * inter, hidden, hidden}) {
      elems.push_back(n);
    }
  }
  std::vector<detail::hybrid_item> items;
  for (std::uint64_t n : elems) {
    items.push_back({2 * n, 2 * n, 1, true});
  }
  return items;
}

}  // namespace

TEST_CASE("Cost model on a 7B-shaped state dict", "[hybrid][cost]") {
  auto items = qwen2_5_7b_items();
  REQUIRE(items.size() == 339);
  const detail::hybrid_costs costs;
  const detail::hybrid_split split = detail::split_batch(items, costs, 16);
  // The matrices of 25 MB and more are streamed. The vectors (<= 37 KB) are hashed where they
  // lie, and so are k_proj and v_proj (3.7 MB): at 40 MB/s a GPU chain hashes one in 0.09 s,
  // well inside the host side's time, which they would only lengthen.
  for (std::size_t i : split.host) {
    CHECK(items[i].canonical_bytes >= 3584 * 3584 * 2);
  }
  for (std::size_t i : split.device) {
    CHECK(items[i].canonical_bytes <= 512 * 3584 * 2);
  }
  CHECK(split.host.size() == 2 + 28 * 5);
  // 15.2 GB at 25 GB/s of link: the host side predicts about 0.6 s, the GPU side far less.
  CHECK(split.host_s > 0.55);
  CHECK(split.host_s < 1.0);
  CHECK(split.device_s < split.host_s);

  SECTION("one host thread: the GPU takes more, beating the host alone") {
    const auto one = detail::split_batch(items, costs, 1);
    CHECK(one.device.size() > split.device.size());
    CHECK(std::max(one.host_s, one.device_s) < 15.2e9 / costs.host_chain_bytes_per_s);
  }
  SECTION("a GPU chain as fast as a host one keeps more on the GPU") {
    detail::hybrid_costs fast = costs;
    fast.gpu_chain_bytes_per_s = 1.75e9;
    CHECK(detail::split_batch(items, fast, 16).device.size() > split.device.size());
  }
  SECTION("host_from_bytes replaces the model") {
    detail::hybrid_costs fixed = costs;
    fixed.host_from_bytes = 100u << 20;
    const auto s = detail::split_batch(items, fixed, 16);
    CHECK(s.host.size() == 2 + 28 * 3);  // embed, lm_head, gate/up/down: 136 MB each
  }
  SECTION("strided tensors are hashed on the GPU, whatever their size") {
    items[0].streamable = false;
    const auto s = detail::split_batch(items, costs, 16);
    CHECK(s.device.front() == 0);
    CHECK(s.device_s > 1.0);  // a 1.09 GB chain on one GPU thread
  }
  SECTION("a batch of small tensors is one launch") {
    const std::vector<detail::hybrid_item> small(10000, {4096, 4096, 1, true});
    const auto s = detail::split_batch(small, costs, 16);
    CHECK(s.host.empty());
    CHECK(s.device_s < 1e-3);
  }
  SECTION("an empty batch costs nothing") {
    const auto s = detail::split_batch({}, costs, 16);
    CHECK(s.host.empty());
    CHECK(s.device.empty());
    CHECK(s.device_s == 0);
  }
}
