/**
 * @file detail/hybrid_copier.cuh
 * @brief The copier of the hybrid exact mode on a real device: pinned staging slots filled by
 *        cudaMemcpyAsync on one non-blocking stream per lane, an event per slot.
 *
 * The copier concept is described in hybrid_pipeline.hpp. Pinned memory is what lets a copy
 * run as DMA while the host thread hashes the other slot; pageable memory would make the driver
 * stage each copy through its own pinned buffer, synchronously.
 */
#pragma once

#include <tensorhash/config.hpp>
#include <tensorhash/detail/cuda_check.cuh>

#include <cuda_runtime_api.h>

#include <cstdint>
#include <vector>

TENSORHASH_NAMESPACE_BEGIN
namespace detail {

/// Two pinned slots of `slice_bytes` per lane, a stream per lane, an event per slot.
class cuda_copier {
 public:
  /**
   * @param lanes       host threads that copy at once
   * @param slice_bytes bytes per slot
   * @param device      the device whose memory is copied (current when this is constructed)
   * @throw error cuda_error naming the failed call
   */
  cuda_copier(unsigned lanes, std::uint64_t slice_bytes, int device)
      : slice_bytes_(slice_bytes), device_(device) {
    try {
      void* p = nullptr;
      TENSORHASH_CUDA_TRY(
          cudaHostAlloc(&p, std::uint64_t{lanes} * 2 * slice_bytes, cudaHostAllocDefault));
      pinned_ = static_cast<std::uint8_t*>(p);
      for (unsigned l = 0; l < lanes; ++l) {
        cudaStream_t s = nullptr;
        TENSORHASH_CUDA_TRY(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
        streams_.push_back(s);
        for (int slot = 0; slot < 2; ++slot) {
          // A hashing thread that waits for its next slice yields its core (it may share it
          // with a hyperthread that is hashing) instead of spinning.
          cudaEvent_t e = nullptr;
          TENSORHASH_CUDA_TRY(
              cudaEventCreateWithFlags(&e, cudaEventDisableTiming | cudaEventBlockingSync));
          events_.push_back(e);
        }
      }
      TENSORHASH_CUDA_TRY(cudaEventCreateWithFlags(&start_, cudaEventDisableTiming));
    } catch (...) {
      release();
      throw;
    }
  }
  cuda_copier(const cuda_copier&) = delete;
  cuda_copier& operator=(const cuda_copier&) = delete;
  /// Waits for every lane's copies (a failed run may leave some queued) before freeing.
  ~cuda_copier() { release(); }

  /**
   * @brief Orders every lane's later copies after the work queued on `stream` so far: the
   *        tensors may still be being written there.
   * @throw error cuda_error naming the failed call
   */
  void after(cudaStream_t stream) {
    TENSORHASH_CUDA_TRY(cudaEventRecord(start_, stream));
    for (cudaStream_t s : streams_) {
      TENSORHASH_CUDA_TRY(cudaStreamWaitEvent(s, start_, 0));
    }
  }

  /// Makes the copier's device current on a pool thread, where streams of it are used.
  void enter() { TENSORHASH_CUDA_TRY(cudaSetDevice(device_)); }

  /// Pinned slot `slot` of lane `lane`.
  std::uint8_t* staging(unsigned lane, unsigned slot) const noexcept {
    return pinned_ + (std::uint64_t{lane} * 2 + slot) * slice_bytes_;
  }

  /// Queues a device-to-host copy into the slot on the lane's stream.
  void copy(unsigned lane, unsigned slot, std::uint64_t at, const void* src, std::uint64_t bytes) {
    TENSORHASH_CUDA_TRY(cudaMemcpyAsync(staging(lane, slot) + at, src, bytes,
                                        cudaMemcpyDeviceToHost, streams_[lane]));
  }

  /// Records the slot's event after its copies.
  void commit(unsigned lane, unsigned slot) {
    TENSORHASH_CUDA_TRY(cudaEventRecord(events_[lane * 2 + slot], streams_[lane]));
  }

  /// Blocks the calling thread until the slot's event has completed.
  void wait(unsigned lane, unsigned slot) {
    TENSORHASH_CUDA_TRY(cudaEventSynchronize(events_[lane * 2 + slot]));
  }

 private:
  void release() noexcept {
    for (cudaStream_t s : streams_) {
      (void)cudaStreamSynchronize(s);
      (void)cudaStreamDestroy(s);
    }
    for (cudaEvent_t e : events_) {
      (void)cudaEventDestroy(e);
    }
    if (start_ != nullptr) {
      (void)cudaEventDestroy(start_);
    }
    if (pinned_ != nullptr) {
      (void)cudaFreeHost(pinned_);
    }
  }

  std::uint64_t slice_bytes_;
  int device_;
  std::uint8_t* pinned_ = nullptr;
  std::vector<cudaStream_t> streams_;
  std::vector<cudaEvent_t> events_;  ///< lane l, slot s at 2 l + s
  cudaEvent_t start_ = nullptr;
};

}  // namespace detail
TENSORHASH_NAMESPACE_END
