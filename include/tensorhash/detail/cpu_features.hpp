/**
 * @file detail/cpu_features.hpp
 * @brief Host x86-64: the instruction-set extensions this CPU and OS run, read once by cpuid.
 */
#pragma once

#include <tensorhash/config.hpp>

#if !TENSORHASH_DEVICE_PASS && defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define TENSORHASH_HAS_X86 1
#include <cpuid.h>
#else
#define TENSORHASH_HAS_X86 0
#endif

TENSORHASH_NAMESPACE_BEGIN
namespace detail {

/// Extensions the host code paths select at run time; all false off x86-64.
struct cpu_features {
  bool sha_ni = false;     ///< SHA extensions with SSSE3 and SSE4.1
  bool sse41 = false;      ///< SSE4.1 and SSSE3
  bool avx2_f16c = false;  ///< AVX2 and F16C, with the OS saving YMM state
  bool avx512 = false;     ///< AVX-512 F and BW, with the OS saving ZMM state
};

/// @return this CPU's features, read on first use
inline const cpu_features& host_cpu() noexcept {
  static const cpu_features features = [] {
    cpu_features f;
#if TENSORHASH_HAS_X86
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) {
      return f;
    }
    const unsigned leaf1_ecx = ecx;
    const auto bit = [](unsigned reg, int n) { return ((reg >> n) & 1u) != 0; };
    f.sse41 = bit(leaf1_ecx, 9) && bit(leaf1_ecx, 19);  // leaf 1 only: CPUs without leaf 7 too
    unsigned xcr0 = 0;
    if (bit(leaf1_ecx, 27)) {  // OSXSAVE: XGETBV reads which register states the OS saves
      unsigned xcr0_hi = 0;
      __asm__("xgetbv" : "=a"(xcr0), "=d"(xcr0_hi) : "c"(0));
    }
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) {
      return f;
    }
    const bool ymm = (xcr0 & 0x6u) == 0x6u, zmm = (xcr0 & 0xE6u) == 0xE6u;
    f.sha_ni = f.sse41 && bit(ebx, 29);
    f.avx2_f16c = ymm && bit(leaf1_ecx, 28) && bit(leaf1_ecx, 29) && bit(ebx, 5);
    f.avx512 = f.avx2_f16c && zmm && bit(ebx, 16) && bit(ebx, 30);
#endif
    return f;
  }();
  return features;
}

}  // namespace detail
TENSORHASH_NAMESPACE_END
