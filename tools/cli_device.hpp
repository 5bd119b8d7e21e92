// The command line's bridge to the CUDA backend, compiled by nvcc when CUDA is available.
#pragma once

#include <tensorhash/digest.hpp>
#include <tensorhash/view.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace cli {

/// True when this build has the CUDA backend and a CUDA device is present.
bool cuda_device_present();

/// Digests of host `views`, hashed on the current CUDA device: the tensors are copied to the
/// device (each 256-byte aligned) and hashed by one device_plan. `mode`: "exact", "tree" (of
/// `chunk_bytes` leaves) or "blake3"; `canonical` and `nan_rule` as the command line's --as and
/// --nan-rule.
std::vector<tensorhash::digest256> hash_on_device(const std::vector<tensorhash::tensor_view>& views,
                                                  const std::string& mode,
                                                  std::uint64_t chunk_bytes,
                                                  const std::string& canonical,
                                                  const std::string& nan_rule);

}  // namespace cli
