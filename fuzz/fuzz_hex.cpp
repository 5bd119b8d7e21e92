// libFuzzer target: hex digests. Accepted strings print back as their lowercase selves.
#include <tensorhash/digest.hpp>

#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace th = tensorhash;
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const th::digest256 d = th::digest256::from_hex(text);
    std::string lower = text;
    for (auto& c : lower) {
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    if (d.to_hex() != lower) {
      std::abort();
    }
  } catch (const th::error&) {
  }
  return 0;
}
