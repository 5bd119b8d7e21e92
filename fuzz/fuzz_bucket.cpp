// libFuzzer target: bucket metadata. The input encodes a buffer size, a layout and entries
// (dtype, rank, extents, begin, end); every view bucket_views accepts is hashed, so a range it
// let through that leaves the buffer shows up under AddressSanitizer.
#include <tensorhash/bucket.hpp>
#include <tensorhash/host.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

namespace {
struct reader {
  const std::uint8_t* p;
  std::size_t n;
  template <class T>
  T take() {
    T v{};
    const std::size_t k = n < sizeof(T) ? n : sizeof(T);
    std::memcpy(&v, p, k);
    p += k;
    n -= k;
    return v;
  }
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace th = tensorhash;
  reader in{data, size};
  const std::size_t buffer_size = in.take<std::uint16_t>();
  const auto layout = in.take<std::uint8_t>() % 2 == 0 ? th::bucket_layout::packed
                                                       : th::bucket_layout::aligned;
  std::vector<th::bucket_entry> entries;
  while (in.n > 0 && entries.size() < 16) {
    th::bucket_entry e;
    e.name = "t" + std::to_string(entries.size());
    e.type = static_cast<th::dtype>(in.take<std::uint8_t>() % (th::dtype_count + 1));
    const int rank = in.take<std::uint8_t>() % 10;
    for (int i = 0; i < rank; ++i) {
      e.shape.push_back(static_cast<std::int64_t>(in.take<std::int32_t>()));
    }
    e.begin = in.take<std::uint32_t>();
    e.end = in.take<std::uint32_t>();
    entries.push_back(e);
  }
  std::vector<std::uint8_t> buffer(buffer_size);
  try {
    const auto views = th::bucket_views(buffer.data(), buffer.size(), entries, layout);
    th::host_engine<th::exact> engine(th::exact{}, 1);
    engine.hash(views);
  } catch (const th::error&) {
  }
  return 0;
}
