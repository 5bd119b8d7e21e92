// Differential property tests: thousands of random views per run; the digest of each view must
// equal the digest of its materialised contiguous copy hashed by OpenSSL (exact), or the RFC 6962
// root built here from OpenSSL leaf hashes (tree). The host engine and the device schedule
// (emulated on the host) are both checked. Set TENSORHASH_PROPERTY_SEED to replay a run; the seed
// and the failing case are printed on failure.
#include "device_emulation.hpp"
#include "test_util.hpp"

#include <tensorhash/host.hpp>

#include <openssl/evp.h>

#include <cstdlib>
#include <cstring>
#include <random>

using namespace tensorhash;

namespace {

std::uint64_t run_seed() {
  if (const char* s = std::getenv("TENSORHASH_PROPERTY_SEED")) {
    return std::strtoull(s, nullptr, 10);
  }
  return std::random_device{}();
}

/// SHA-256 with OpenSSL over a list of byte strings.
std::vector<std::uint8_t> openssl(
    std::initializer_list<std::pair<const void*, std::size_t>> parts) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  for (const auto& [p, n] : parts)
    EVP_DigestUpdate(ctx, p, n);
  std::vector<std::uint8_t> md(32);
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx, md.data(), &len);
  EVP_MD_CTX_free(ctx);
  return md;
}

/// RFC 6962 Merkle Tree Hash by its recursive definition (independent of tensorhash).
std::vector<std::uint8_t> mth(const std::vector<std::vector<std::uint8_t>>& leaves, std::size_t lo,
                              std::size_t hi) {
  if (hi - lo == 1)
    return leaves[lo];
  std::size_t k = 1;
  while (k * 2 < hi - lo)
    k *= 2;
  const auto l = mth(leaves, lo, lo + k), r = mth(leaves, lo + k, hi);
  const std::uint8_t one = 1;
  return openssl({{&one, 1}, {l.data(), 32}, {r.data(), 32}});
}

std::string reference_digest(const std::vector<std::uint8_t>& msg, std::uint64_t chunk) {
  if (chunk == 0 || msg.empty()) {
    return test_util::openssl_sha256_hex(msg.data(), msg.size());
  }
  std::vector<std::vector<std::uint8_t>> leaves;
  const std::uint8_t zero = 0;
  for (std::size_t at = 0; at < msg.size(); at += chunk) {
    leaves.push_back(
        openssl({{&zero, 1}, {msg.data() + at, std::min<std::size_t>(chunk, msg.size() - at)}}));
  }
  const auto root = mth(leaves, 0, leaves.size());
  return test_util::to_hex(root.data(), 32);
}

struct random_view {
  std::vector<std::uint8_t> storage;
  tensor_view view;
};

random_view make(std::mt19937_64& rng) {
  random_view r;
  const dtype t = static_cast<dtype>(rng() % dtype_count);
  const int rank = static_cast<int>(rng() % 7);
  std::int64_t shape[max_rank], strides[max_rank];
  std::int64_t lo = 0, hi = 0, numel = 1;
  for (int i = 0; i < rank; ++i) {
    const auto pick = rng() % 10;
    shape[i] = pick == 0  ? 0
               : pick < 3 ? 1
                          : static_cast<std::int64_t>(rng() % (rank > 3 ? 5 : 40));
    const auto s = rng() % 6;
    strides[i] = s == 0   ? 0
                 : s == 1 ? -static_cast<std::int64_t>(rng() % 50)
                          : static_cast<std::int64_t>(rng() % 60);
    numel *= shape[i];
  }
  if (numel > 0) {
    for (int i = 0; i < rank; ++i) {
      lo += std::min<std::int64_t>(0, (shape[i] - 1) * strides[i]);
      hi += std::max<std::int64_t>(0, (shape[i] - 1) * strides[i]);
    }
  }
  const std::int64_t offset = -lo + static_cast<std::int64_t>(rng() % 4);
  const std::size_t elements =
      static_cast<std::size_t>(offset + hi + 1 + static_cast<std::int64_t>(rng() % 4));
  r.storage.resize(elements * size_of(t) + 16);
  for (auto& b : r.storage)
    b = static_cast<std::uint8_t>(rng());
  const std::size_t shift = rng() % 9;  // misaligned bases too
  const auto* base = numel == 0 ? nullptr : r.storage.data() + shift + offset * size_of(t);
  r.view = tensor_view(base, t, rank, shape, strides);
  return r;
}

/// The canonical bytes of `v`, by an odometer written here (not the library's gather).
template <class Canon>
std::vector<std::uint8_t> materialise(const tensor_view& v) {
  std::vector<std::uint8_t> out;
  const std::uint32_t in = size_of(v.dtype()), outsz = size_of(Canon::target(v.dtype()));
  std::int64_t idx[max_rank] = {};
  for (std::uint64_t e = 0; e < v.numel(); ++e) {
    std::int64_t off = 0;
    for (int d = 0; d < v.rank(); ++d)
      off += idx[d] * v.stride(d);
    std::uint8_t converted[8];
    Canon::convert(v.dtype(), static_cast<const std::uint8_t*>(v.data()) + off * in, converted);
    out.insert(out.end(), converted, converted + outsz);
    for (int d = v.rank() - 1; d >= 0; --d) {
      if (++idx[d] < v.shape(d))
        break;
      idx[d] = 0;
    }
  }
  return out;
}

template <class Canon>
void check(const tensor_view& v, std::uint64_t chunk) {
  const auto msg = materialise<Canon>(v);
  const std::string want = reference_digest(msg, chunk);
  if (chunk == 0) {
    CHECK(host_hash<exact, Canon>(v).to_hex() == want);
  } else {
    CHECK(host_hash<tree, Canon>(v, tree(chunk)).to_hex() == want);
  }
  // The device agents' work for the same view, run on the host (leaf warps lane by lane).
  CHECK(test_util::emulate_device<Canon>({composite_view(v)}, chunk)[0].to_hex() == want);
}

}  // namespace

TEST_CASE("Random views hash like their materialised copies (OpenSSL, RFC 6962 by definition)",
          "[property]") {
  const std::uint64_t seed = run_seed();
  std::mt19937_64 rng(seed);
  for (int i = 0; i < 10000; ++i) {
    const random_view r = make(rng);
    const std::uint64_t chunk = rng() % 2 == 0 ? 0 : std::uint64_t{1024} << (rng() % 3);
    INFO("TENSORHASH_PROPERTY_SEED=" << seed << " case " << i << " dtype "
                                     << to_string(r.view.dtype()) << " rank " << r.view.rank()
                                     << " chunk " << chunk);
    switch (rng() % 3) {
      case 0:
        check<as_stored>(r.view, chunk);
        break;
      case 1:
        check<to_bf16>(r.view, chunk);
        break;
      default:
        check<to_f32>(r.view, chunk);
        break;
    }
  }
}

namespace {
template <class Mode, unsigned Streams, class Hasher = sha256>
std::vector<std::string> batch_hex(const std::vector<tensor_view>& views, Mode mode,
                                   unsigned threads) {
  host_engine<Mode, to_bf16, Hasher, host_tuning<Streams>> engine(mode, threads);
  std::vector<std::string> out;
  for (const auto& d : engine.hash(views))
    out.push_back(d.to_hex());
  return out;
}
}  // namespace

namespace {
std::vector<std::string> hex(const std::vector<digest256>& digests) {
  std::vector<std::string> out;
  for (const auto& d : digests)
    out.push_back(d.to_hex());
  return out;
}
}  // namespace

TEST_CASE(
    "Batches hashed 1 to 16 streams at a time, and by the emulated device, give each view's "
    "own digest",
    "[property][streams]") {
  using avx512 = basic_sha256<sha256_impl::avx512>;
  const bool has_avx512 = avx512::available();
  if (!has_avx512)
    WARN("this CPU has no AVX-512: the 16-lane multi-buffer path is not exercised");
  const std::uint64_t seed = run_seed();
  std::mt19937_64 rng(seed);
  INFO("TENSORHASH_PROPERTY_SEED=" << seed);
  for (int round = 0; round < 40; ++round) {
    // Mixed dtypes, lengths, strides and misalignments side by side in the lanes.
    std::vector<random_view> owned;
    std::vector<tensor_view> views;
    const int n = 1 + static_cast<int>(rng() % 60);
    for (int i = 0; i < n; ++i) {
      if (rng() % 3 == 0) {  // dense and up to several chunks: the lanes read it in place
        random_view r;
        const dtype t = rng() % 2 == 0 ? dtype::BF16 : dtype::U8;
        const auto count = static_cast<std::int64_t>(rng() % 40000);
        r.storage.resize(static_cast<std::size_t>(count) * size_of(t) + 1);
        for (auto& b : r.storage)
          b = static_cast<std::uint8_t>(rng());
        // 16-byte aligned (the device's cooperative dense path) or not (its tile path).
        r.view = tensor_view(r.storage.data() + rng() % 2, t, {count});
        owned.push_back(std::move(r));
      } else {
        owned.push_back(make(rng));
      }
      views.push_back(owned.back().view);
    }
    const std::uint64_t chunk = std::uint64_t{1024} << (rng() % 3);
    std::vector<std::string> want_exact, want_tree;
    for (const auto& v : views) {
      const auto msg = materialise<to_bf16>(v);
      want_exact.push_back(reference_digest(msg, 0));
      want_tree.push_back(reference_digest(msg, chunk));
    }
    for (unsigned threads : {1u, 2u}) {
      INFO("round " << round << " views " << n << " chunk " << chunk << " threads " << threads);
      CHECK(batch_hex<exact, 1>(views, exact{}, threads) == want_exact);
      CHECK(batch_hex<exact, 2>(views, exact{}, threads) == want_exact);
      CHECK(batch_hex<exact, 3>(views, exact{}, threads) == want_exact);
      CHECK(batch_hex<exact, 4>(views, exact{}, threads) == want_exact);
      CHECK(batch_hex<tree, 1>(views, tree(chunk), threads) == want_tree);
      CHECK(batch_hex<tree, 2>(views, tree(chunk), threads) == want_tree);
      CHECK(batch_hex<tree, 3>(views, tree(chunk), threads) == want_tree);
      CHECK(batch_hex<tree, 4>(views, tree(chunk), threads) == want_tree);
      CHECK(batch_hex<exact, 0>(views, exact{}, threads) == want_exact);  // automatic
      CHECK(batch_hex<tree, 0>(views, tree(chunk), threads) == want_tree);
      CHECK(batch_hex<tree, 16>(views, tree(chunk), threads) == want_tree);  // SHA-NI pairs
      if (has_avx512) {
        CHECK(batch_hex<exact, 16, avx512>(views, exact{}, threads) == want_exact);
        CHECK(batch_hex<tree, 16, avx512>(views, tree(chunk), threads) == want_tree);
        CHECK(batch_hex<tree, 7, avx512>(views, tree(chunk), threads) == want_tree);
      }
    }
    // The device plan, emulated: tensors of many sizes share warps and slot groups.
    const std::vector<composite_view> tensors(views.begin(), views.end());
    INFO("round " << round << " views " << n << " chunk " << chunk);
    CHECK(hex(test_util::emulate_device<to_bf16>(tensors, 0)) == want_exact);
    for (const auto& variant : test_util::leaf_variants()) {
      INFO("leaf load " << static_cast<int>(variant.load) << " pipeline " << variant.pipeline);
      CHECK(hex(test_util::emulate_device<to_bf16>(tensors, chunk, variant)) == want_tree);
    }
  }
}
