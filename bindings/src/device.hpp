// The module's bridge to the CUDA backend: a plain C++ interface (no nanobind, no CUDA types),
// implemented by device.cu under nvcc when the module is built with CUDA.
#pragma once

#include <tensorhash/composite.hpp>
#include <tensorhash/digest.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace tensorhash_py {

/// Number of CUDA devices visible (0 when none, or when the driver is missing).
int cuda_device_count() noexcept;

/// CUDA runtime version this module was built with (e.g. 13000).
int cuda_runtime_version() noexcept;

/**
 * @brief Digests of composites in memory of CUDA device `device`, hashed by one device_plan on
 *        `stream` (a cudaStream_t as an integer: 1 legacy default, 2 per-thread default, else the
 *        handle); only the digests are copied to the host (the call waits for `stream`).
 * @param mode "exact", "tree" (of `chunk_bytes` leaves) or "blake3" (BLAKE3's exact digest)
 * @param canonical "", "BF16" or "F32"; @param nan_rule "canonical", "torch-cpu", "torch-cuda"
 * @throw tensorhash::error (wrong_memory_space, cuda_error, ...)
 */
std::vector<tensorhash::digest256> device_digests(
    const std::vector<tensorhash::composite_view>& tensors, const std::string& mode,
    std::uint64_t chunk_bytes, const std::string& canonical, const std::string& nan_rule,
    int device, std::uintptr_t stream);

}  // namespace tensorhash_py
