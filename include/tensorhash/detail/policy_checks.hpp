/**
 * @file detail/policy_checks.hpp
 * @brief The compile-time checks every backend applies to its policy parameters.
 */
#pragma once

#include <tensorhash/canonical.hpp>
#include <tensorhash/config.hpp>
#include <tensorhash/hasher.hpp>
#include <tensorhash/modes.hpp>

TENSORHASH_NAMESPACE_BEGIN
namespace detail {

/// Fails compilation with a message that says how to fix a wrong policy; true otherwise.
template <class Mode, class Canon, class Hasher>
constexpr bool check_policies() {
  static_assert(is_mode_v<Mode>, "tensorhash: Mode must be tensorhash::exact or tensorhash::tree");
  static_assert(
      is_canonicalization_v<Canon>,
      "tensorhash: Canon must be a canonicalisation policy such as tensorhash::as_stored, "
      "tensorhash::to_bf16 or tensorhash::to_f32 (see tensorhash/canonical.hpp)");
  static_assert(is_hasher_v<Hasher>,
                "tensorhash: Hasher must model the hasher concept, e.g. tensorhash::sha256 "
                "(see tensorhash/hasher.hpp)");
  return true;
}

}  // namespace detail
TENSORHASH_NAMESPACE_END
