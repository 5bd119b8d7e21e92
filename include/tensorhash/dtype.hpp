/**
 * @file dtype.hpp
 * @brief Element types, named as in the safetensors format.
 */
#pragma once

#include <tensorhash/config.hpp>
#include <tensorhash/error.hpp>

#include <cstdint>
#include <string>
#include <string_view>

TENSORHASH_NAMESPACE_BEGIN

/// @brief Element type of a tensor. Values are stable and may be stored.
enum class dtype : std::uint8_t {
  F64 = 0,
  F32 = 1,
  F16 = 2,
  BF16 = 3,
  F8_E4M3 = 4,  ///< OCP E4M3 "fn": no infinities, NaN = S.1111.111 (torch.float8_e4m3fn)
  F8_E5M2 = 5,  ///< OCP E5M2 (torch.float8_e5m2)
  I64 = 6,
  I32 = 7,
  I16 = 8,
  I8 = 9,
  U64 = 10,
  U32 = 11,
  U16 = 12,
  U8 = 13,
  BOOL = 14,
};

/// Number of dtypes; `dtype` values are `0 .. dtype_count - 1`.
inline constexpr int dtype_count = 15;

/// @return true when `code` is the value of a `dtype` enumerator
TENSORHASH_HD constexpr bool is_valid(dtype t) noexcept {
  return static_cast<std::uint8_t>(t) < dtype_count;
}

/// @return bytes per element (1, 2, 4 or 8); 0 for an invalid value
TENSORHASH_HD constexpr std::uint32_t size_of(dtype t) noexcept {
  switch (t) {
    case dtype::F64:
    case dtype::I64:
    case dtype::U64:
      return 8;
    case dtype::F32:
    case dtype::I32:
    case dtype::U32:
      return 4;
    case dtype::F16:
    case dtype::BF16:
    case dtype::I16:
    case dtype::U16:
      return 2;
    case dtype::F8_E4M3:
    case dtype::F8_E5M2:
    case dtype::I8:
    case dtype::U8:
    case dtype::BOOL:
      return 1;
  }
  return 0;
}

/// @return true for the floating-point dtypes (F64 F32 F16 BF16 F8_E4M3 F8_E5M2)
TENSORHASH_HD constexpr bool is_floating(dtype t) noexcept {
  return t == dtype::F64 || t == dtype::F32 || t == dtype::F16 || t == dtype::BF16 ||
         t == dtype::F8_E4M3 || t == dtype::F8_E5M2;
}

/// @return the safetensors name ("BF16", "F8_E4M3", ...)
/// @throw error (unknown_dtype) for an invalid value
inline const char* to_string(dtype t) {
  constexpr const char* names[dtype_count] = {"F64",     "F32", "F16", "BF16", "F8_E4M3",
                                              "F8_E5M2", "I64", "I32", "I16",  "I8",
                                              "U64",     "U32", "U16", "U8",   "BOOL"};
  if (!is_valid(t)) {
    throw error(errc::unknown_dtype,
                "dtype value " + std::to_string(static_cast<int>(t)) + " is not a known dtype");
  }
  return names[static_cast<int>(t)];
}

/// @return the dtype called `name` in safetensors ("F32", "BOOL", ...)
/// @throw error (unknown_dtype) naming the string when it is not one of the 15 names
inline dtype dtype_from_string(std::string_view name) {
  for (int i = 0; i < dtype_count; ++i) {
    const auto t = static_cast<dtype>(i);
    if (name == to_string(t)) {
      return t;
    }
  }
  throw error(errc::unknown_dtype, "unknown dtype name \"" + std::string(name) + "\"");
}

TENSORHASH_NAMESPACE_END
