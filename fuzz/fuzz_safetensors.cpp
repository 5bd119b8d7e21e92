// libFuzzer target: safetensors headers and layouts. Anything parse_safetensors accepts must be
// safe to read: every tensor's view is hashed (small files), so an offset it let through that
// leaves the buffer shows up under AddressSanitizer.
#include <tensorhash/host.hpp>
#include <tensorhash/safetensors.hpp>

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace th = tensorhash;
  try {
    const th::safetensors_header h = th::parse_safetensors(data, size, "fuzz.safetensors");
    if (size > (1u << 20)) {
      return 0;
    }
    th::host_engine<th::exact> engine(th::exact{}, 1);
    for (const auto& t : h.tensors) {
      const auto* p = data + h.data_offset + t.begin;
      engine.hash(th::tensor_view(t.end == t.begin ? nullptr : p, t.type,
                                  static_cast<int>(t.shape.size()), t.shape.data()));
    }
  } catch (const th::error&) {
  }
  return 0;
}
