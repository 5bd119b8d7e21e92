// The cuda_error class and the entry checks' wording, on a machine without a GPU: the CUDA
// runtime's error strings are available without a device.
#include "test_util.hpp"

#include <tensorhash/detail/cuda_check.cuh>

using namespace tensorhash;

TEST_CASE("A failed CUDA call becomes a cuda_error naming the call", "[error][cuda]") {
  try {
    TENSORHASH_CUDA_TRY(cudaErrorMemoryAllocation);
    FAIL("no error");
  } catch (const error& e) {
    CHECK(e.code() == errc::cuda_error);
    CHECK(std::string(e.what()).find("cudaErrorMemoryAllocation failed") != std::string::npos);
    CHECK(std::string(e.what()).find("(cudaErrorMemoryAllocation)") != std::string::npos);
  }
  CHECK_NOTHROW(TENSORHASH_CUDA_TRY(cudaSuccess));
}

TEST_CASE("A view marked as host memory is refused by the device entry check", "[error][cuda]") {
  float x[4] = {};
  try {
    detail::check_device_view(tensor_view(x, dtype::F32, {4}), 3, 0);
    FAIL("no error");
  } catch (const error& e) {
    CHECK(e.code() == errc::wrong_memory_space);
    CHECK(std::string(e.what()).find("view 3 is marked as host memory") != std::string::npos);
  }
}

TEST_CASE("hash's device check refuses any device but the current one", "[error][cuda]") {
  int current = -1;
  if (cudaGetDevice(&current) != cudaSuccess) {
    // No usable device (a CPU-only machine): the check passes cudaGetDevice's error on and never
    // reports success, so a plan's hash launches nothing.
    (void)cudaGetLastError();
    CHECK(detail::check_current_device(0) != cudaSuccess);
    return;
  }
  CHECK(detail::check_current_device(current) == cudaSuccess);
  CHECK(detail::check_current_device(current + 1) == cudaErrorInvalidDevice);
}
