/**
 * @file dlpack.hpp
 * @brief `DLTensor` (from whichever `<dlpack/dlpack.h>`, 0.6 or newer, is on the include path)
 *        as a tensorhash view.
 *
 * - NULL strides mean row-major; `byte_offset` is honoured; `lanes` must be 1.
 * - Devices: kDLCPU and kDLCUDAHost (pinned) are host memory; kDLCUDA and kDLCUDAManaged are
 *   memory of CUDA device `device_id`; others are refused.
 * - dtypes by their DLPack codes, which are ABI values and the same in every header version:
 *   int/uint 8-64 bits, float 16/32/64, bfloat 16, bool (code 6, DLPack >= 0.8),
 *   float8_e4m3fn (10) and float8_e5m2 (12) (DLPack >= 1.1). Producers on DLPack < 0.8 export
 *   bool as an 8-bit uint: it then hashes as U8 (the same bytes).
 */
#pragma once

#include <tensorhash/config.hpp>
#include <tensorhash/dtype.hpp>
#include <tensorhash/error.hpp>
#include <tensorhash/view.hpp>

#include <dlpack/dlpack.h>

#include <cstdint>
#include <string>

TENSORHASH_NAMESPACE_BEGIN

namespace detail {

/// @return the dtype of a DLPack (code, bits) pair. @throw error unknown_dtype naming it
inline dtype dtype_of_dlpack(DLDataType t) {
  if (t.lanes != 1) {
    throw error(errc::unknown_dtype,
                "DLPack vector dtypes (lanes = " + std::to_string(t.lanes) + ") are not tensors");
  }
  const unsigned code = t.code;
  switch (code) {
    case 0:  // kDLInt
      switch (t.bits) {
        case 8:
          return dtype::I8;
        case 16:
          return dtype::I16;
        case 32:
          return dtype::I32;
        case 64:
          return dtype::I64;
      }
      break;
    case 1:  // kDLUInt
      switch (t.bits) {
        case 8:
          return dtype::U8;
        case 16:
          return dtype::U16;
        case 32:
          return dtype::U32;
        case 64:
          return dtype::U64;
      }
      break;
    case 2:  // kDLFloat
      switch (t.bits) {
        case 16:
          return dtype::F16;
        case 32:
          return dtype::F32;
        case 64:
          return dtype::F64;
      }
      break;
    case 4:  // kDLBfloat
      if (t.bits == 16)
        return dtype::BF16;
      break;
    case 6:  // kDLBool
      if (t.bits == 8)
        return dtype::BOOL;
      break;
    case 10:  // kDLFloat8_e4m3fn
      if (t.bits == 8)
        return dtype::F8_E4M3;
      break;
    case 12:  // kDLFloat8_e5m2
      if (t.bits == 8)
        return dtype::F8_E5M2;
      break;
    default:
      break;
  }
  throw error(errc::unknown_dtype, "DLPack dtype code " + std::to_string(code) + " with " +
                                       std::to_string(t.bits) + " bits has no tensorhash dtype");
}

}  // namespace detail

/**
 * @brief The view of a DLTensor.
 * @throw error unknown_dtype, invalid_argument for an unsupported device, and the errors of
 *        tensor_view (null data, negative shape, overflow)
 */
inline tensor_view from_dlpack(const DLTensor& t) {
  location where;
  switch (static_cast<int>(t.device.device_type)) {
    case 1:  // kDLCPU
    case 3:  // kDLCUDAHost
      where = location::host();
      break;
    case 2:   // kDLCUDA
    case 13:  // kDLCUDAManaged
      where = location::cuda(t.device.device_id);
      break;
    default:
      throw error(errc::invalid_argument,
                  "DLPack device type " + std::to_string(static_cast<int>(t.device.device_type)) +
                      " is neither CPU nor CUDA");
  }
  const dtype type = detail::dtype_of_dlpack(t.dtype);
  const auto* data = static_cast<const std::uint8_t*>(t.data);
  if (data != nullptr) {
    data += t.byte_offset;
  }
  return tensor_view(data, type, t.ndim, t.shape, t.strides, where);
}

/// DLTensor plugs into every tensorhash entry point (host_engine::hash, make_view, ...).
template <>
struct view_traits<DLTensor> {
  static tensor_view to_view(const DLTensor& t) { return from_dlpack(t); }
};

TENSORHASH_NAMESPACE_END
