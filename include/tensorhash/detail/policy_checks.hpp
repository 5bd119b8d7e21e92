/**
 * @file detail/policy_checks.hpp
 * @brief The compile-time checks every backend applies to its policy parameters.
 */
#pragma once

#include <tensorhash/blake3.hpp>
#include <tensorhash/canonical.hpp>
#include <tensorhash/config.hpp>
#include <tensorhash/hasher.hpp>
#include <tensorhash/modes.hpp>

#include <type_traits>

TENSORHASH_NAMESPACE_BEGIN
namespace detail {

/// Fails compilation with a message that says how to fix a wrong policy; true otherwise.
/// `Blake3Backend`: the backend computes BLAKE3 (host_engine, device_plan).
template <class Mode, class Canon, class Hasher, bool Blake3Backend = false>
constexpr bool check_policies() {
  static_assert(is_mode_v<Mode>, "tensorhash: Mode must be tensorhash::exact or tensorhash::tree");
  static_assert(
      is_canonicalization_v<Canon>,
      "tensorhash: Canon must be a canonicalisation policy such as tensorhash::as_stored, "
      "tensorhash::to_bf16 or tensorhash::to_f32 (see tensorhash/canonical.hpp)");
  static_assert(is_hasher_v<Hasher> || (Blake3Backend && is_blake3_v<Hasher>),
                "tensorhash: Hasher must model the hasher concept, e.g. tensorhash::sha256 "
                "(see tensorhash/hasher.hpp); tensorhash::blake3 runs on host_engine and "
                "device_plan");
  static_assert(!is_blake3_v<Hasher> || std::is_same_v<Mode, exact>,
                "tensorhash: BLAKE3 is a tree hash itself, parallel as it is: use it in exact "
                "mode, host_engine or device_plan<tensorhash::exact, Canon, tensorhash::blake3>");
  return true;
}

}  // namespace detail
TENSORHASH_NAMESPACE_END
