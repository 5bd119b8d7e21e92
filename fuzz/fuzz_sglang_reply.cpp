// libFuzzer target: SGLang weight-checker replies (three JSON forms). Accepted replies must
// round-trip: write, read, compare equal rank by rank.
#include <tensorhash/sglang_checksum_json.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace th = tensorhash;
  try {
    const th::sglang_checksums r = th::sglang_checksums_from_json(
        std::string(reinterpret_cast<const char*>(data), size), "fuzz");
    const th::sglang_checksums again =
        th::sglang_checksums_from_json(th::to_json(r).dump(), "round-trip");
    if (again.ranks.size() != r.ranks.size()) {
      std::abort();
    }
    for (std::size_t i = 0; i < r.ranks.size(); ++i) {
      if (again.ranks[i].checksums != r.ranks[i].checksums ||
          again.ranks[i].per_gpu_checksum != r.ranks[i].per_gpu_checksum ||
          again.ranks[i].parallelism != r.ranks[i].parallelism) {
        std::abort();
      }
    }
  } catch (const th::error&) {
  }
  return 0;
}
