// libFuzzer target: HF config.json as `tensorhash expect` reads it. Accepted configs give
// positive heads, kv heads and head_dim.
#include <tensorhash/sglang_checksum_json.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace th = tensorhash;
  try {
    const th::sglang_model m = th::sglang_model_from_config(
        std::string_view(reinterpret_cast<const char*>(data), size), "config.json");
    if (m.num_heads <= 0 || m.num_kv_heads <= 0 || m.head_dim <= 0 || m.num_layers < 0) {
      std::abort();
    }
  } catch (const th::error&) {
  }
  return 0;
}
