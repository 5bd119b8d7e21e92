// libFuzzer target: manifest JSON. Accepted manifests must round-trip: write, read, equal.
#include <tensorhash/manifest_json.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace th = tensorhash;
  try {
    const th::manifest m =
        th::manifest_from_json(std::string(reinterpret_cast<const char*>(data), size), "fuzz");
    const th::manifest again = th::manifest_from_json(th::to_json(m).dump(), "round-trip");
    if (!th::compare(m, again).ok() || m.aggregate() != again.aggregate()) {
      std::abort();
    }
  } catch (const th::error&) {
  }
  return 0;
}
