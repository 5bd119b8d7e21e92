/**
 * @file tensorhash.hpp
 * @brief Umbrella header: every public header the compiler in use can compile — the host parts
 *        always, the JSON-based ones when nlohmann/json is on the include path, and the CUDA
 *        backend under nvcc.
 */
#pragma once

#include <tensorhash/bucket.hpp>
#include <tensorhash/canonical.hpp>
#include <tensorhash/composite.hpp>
#include <tensorhash/config.hpp>
#include <tensorhash/digest.hpp>
#include <tensorhash/dtype.hpp>
#include <tensorhash/error.hpp>
#include <tensorhash/hasher.hpp>
#include <tensorhash/host.hpp>
#include <tensorhash/interop.hpp>
#include <tensorhash/layout.hpp>
#include <tensorhash/manifest.hpp>
#include <tensorhash/merkle.hpp>
#include <tensorhash/modes.hpp>
#include <tensorhash/runtime_policy.hpp>
#include <tensorhash/sglang.hpp>
#include <tensorhash/sglang_checksum.hpp>
#include <tensorhash/view.hpp>

#if __has_include(<nlohmann/json.hpp>)
#include <tensorhash/manifest_json.hpp>
#include <tensorhash/safetensors.hpp>
#include <tensorhash/sglang_checksum_json.hpp>
#endif

#if defined(__CUDACC__)
#include <tensorhash/device.cuh>
#endif
