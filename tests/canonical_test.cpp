// dtype canonicalisation: every F16/F8 value and thousands of F32/F64 values against the Python
// reference, hand-checked BF16 rounding cases, and the x86 hardware conversions.
#include "test_util.hpp"

#include <tensorhash/canonical.hpp>

#include <cstring>
#include <random>

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#endif

using namespace tensorhash;

static_assert(is_canonicalization_v<as_stored>);
static_assert(is_canonicalization_v<to_bf16>);
static_assert(!is_canonicalization_v<int>);
static_assert(to_bf16::target(dtype::F64) == dtype::BF16);
static_assert(to_bf16::target(dtype::I32) == dtype::I32);
static_assert(to_f32::target(dtype::F8_E4M3) == dtype::F32);
static_assert(as_stored::target(dtype::F16) == dtype::F16);

TEST_CASE("Element conversions equal the Python reference (F16/BF16/F8 exhaustive)",
          "[canonical][reference]") {
  const auto lines = test_util::read_lines(test_util::reference_path("conversions.txt"));
  REQUIRE(lines.size() > 200000);
  std::size_t mismatches = 0;
  for (const auto& line : lines) {
    std::istringstream in(line);
    std::string type, canon, in_hex, out_hex;
    in >> type >> canon >> in_hex >> out_hex;
    const auto raw = test_util::from_hex(in_hex);
    const dtype t = dtype_from_string(type);
    std::uint8_t out[8] = {};
    if (canon == "BF16") {
      to_bf16::convert(t, raw.data(), out);
    } else {
      to_f32::convert(t, raw.data(), out);
    }
    const std::string got = test_util::to_hex(out, out_hex.size() / 2);
    if (got != out_hex && ++mismatches <= 10) {
      FAIL_CHECK(type << " -> " << canon << " of " << in_hex << ": got " << got << ", reference "
                      << out_hex);
    }
  }
  CHECK(mismatches == 0);
}

TEST_CASE("F32 -> BF16 on zeros, subnormals, infinities, NaN payloads and ties",
          "[canonical][bf16]") {
  const auto bf16 = [](std::uint32_t f32) { return detail::f32_to_bf16(f32); };
  CHECK(bf16(0x00000000u) == 0x0000);  // +0
  CHECK(bf16(0x80000000u) == 0x8000);  // -0
  CHECK(bf16(0x00000001u) == 0x0000);  // smallest subnormal rounds to +0
  CHECK(bf16(0x00008000u) == 0x0000);  // subnormal tie, even is 0
  CHECK(bf16(0x00018000u) == 0x0002);  // subnormal tie, odd rounds up
  CHECK(bf16(0x007FFFFFu) == 0x0080);  // largest subnormal rounds to the smallest normal
  CHECK(bf16(0x3F808000u) == 0x3F80);  // 1 + 2^-8: tie to even (down)
  CHECK(bf16(0x3F818000u) == 0x3F82);  // tie to even (up)
  CHECK(bf16(0x3F808001u) == 0x3F81);  // just above a tie
  CHECK(bf16(0x7F800000u) == 0x7F80);  // +inf
  CHECK(bf16(0xFF800000u) == 0xFF80);  // -inf
  CHECK(bf16(0x7F7FFFFFu) == 0x7F80);  // FLT_MAX overflows to +inf
  CHECK(bf16(0x7FC00000u) == 0x7FC0);  // quiet NaN
  CHECK(bf16(0xFFC12345u) == 0x7FC0);  // negative NaN with payload
  CHECK(bf16(0x7F800001u) == 0x7FC0);  // signalling NaN
}

TEST_CASE("F16 -> F32 equals the F16C hardware conversion for all 65536 values",
          "[canonical][hardware]") {
#if defined(__x86_64__)
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx) || ((ecx >> 29) & 1u) == 0) {  // F16C
    WARN("no F16C on this CPU: hardware comparison not run");
    return;
  }
  struct f16c {
    __attribute__((target("f16c"))) static std::uint32_t convert(std::uint16_t h) {
      const float f = _cvtsh_ss(h);
      std::uint32_t bits;
      std::memcpy(&bits, &f, 4);
      return bits;
    }
  };
  for (std::uint32_t h = 0; h < 65536; ++h) {
    const auto got = detail::f16_to_f32(static_cast<std::uint16_t>(h));
    if (got != f16c::convert(static_cast<std::uint16_t>(h))) {
      FAIL("F16 " << h << " converts to " << got);
    }
  }
#else
  WARN("not an x86-64 host: hardware comparison not run");
#endif
}

TEST_CASE("F64 -> F32 equals static_cast<float> on random bit patterns", "[canonical][hardware]") {
  std::mt19937_64 rng(42);
  for (int i = 0; i < 1000000; ++i) {
    std::uint64_t bits = rng();
    if (i % 4 == 1) {  // concentrate on F32's subnormal and overflow exponents
      bits = (bits & 0x800FFFFFFFFFFFFFull) | (std::uint64_t{0x360 + rng() % 0x30} << 52);
    } else if (i % 4 == 2) {
      bits = (bits & 0x800FFFFFFFFFFFFFull) | (std::uint64_t{0x470 + rng() % 0x10} << 52);
    }
    double d;
    std::memcpy(&d, &bits, 8);
    volatile double vd = d;
    const float f = static_cast<float>(vd);
    std::uint32_t expected;
    std::memcpy(&expected, &f, 4);
    const auto got = detail::f64_to_f32(bits);
    if (got != expected) {
      FAIL("F64 " << std::hex << bits << " converts to " << got << ", hardware " << expected);
    }
  }
}
