// Hashes a generated BF16 weight matrix on the CPU in both modes and prints the digests.
//
//   hash_tensor [ROWS COLS]      (default 4096 x 8192, 64 MiB)
//
// The data is a fixed pseudo-random sequence, so the digests printed are the same on every
// machine; python/tensorhash_ref.py reproduces them.
#include <tensorhash/tensorhash.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace th = tensorhash;

namespace {

// splitmix64: a tiny generator with a fixed, documented output.
std::vector<std::uint16_t> make_weights(std::size_t n) {
  std::vector<std::uint16_t> w(n);
  std::uint64_t x = 0;
  for (auto& v : w) {
    std::uint64_t z = (x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    v = static_cast<std::uint16_t>(z ^ (z >> 31));
  }
  return w;
}

template <class Engine>
void report(const char* label, Engine& engine, const th::tensor_view& v) {
  const auto start = std::chrono::steady_clock::now();
  const th::digest256 d = engine.hash(v);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%-28s %s  (%.1f ms, %.2f GB/s)\n", label, d.to_hex().c_str(), s * 1e3,
              static_cast<double>(v.nbytes()) / s / 1e9);
}

}  // namespace

int main(int argc, char** argv) {
  const std::int64_t rows = argc > 2 ? std::atoll(argv[1]) : 4096;
  const std::int64_t cols = argc > 2 ? std::atoll(argv[2]) : 8192;
  try {
    const auto weights = make_weights(static_cast<std::size_t>(rows * cols));
    const th::tensor_view w(weights.data(), th::dtype::BF16, {rows, cols});
    const th::tensor_view wt(weights.data(), th::dtype::BF16, {cols, rows}, {1, cols});
    std::printf("BF16 [%lld, %lld], %.1f MiB, splitmix64 data\n", static_cast<long long>(rows),
                static_cast<long long>(cols), static_cast<double>(w.nbytes()) / (1 << 20));

    th::host_engine<th::exact> exact(th::exact{}, 1);
    th::host_engine<th::tree> tree;  // 16 KiB chunks, every hardware thread
    th::host_engine<th::tree, th::to_f32> tree_f32;
    report("exact (1 thread)", exact, w);
    report("tree 16 KiB", tree, w);
    report("tree 16 KiB, transposed", tree, wt);
    report("tree 16 KiB, as F32", tree_f32, w);
  } catch (const th::error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 2;
  }
  return 0;
}
