/**
 * @file detail/thread_pool.hpp
 * @brief A fixed pool of worker threads running one parallel loop at a time.
 */
#pragma once

#include <tensorhash/config.hpp>
#include <tensorhash/error.hpp>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

TENSORHASH_NAMESPACE_BEGIN
namespace detail {

/// Owns `threads - 1` workers; the calling thread is the last participant of every loop.
class thread_pool {
 public:
  /// The most threads a pool starts: 4 × the hardware threads (more only contend, and a
  /// mistyped count such as 100000 would exhaust the process).
  static unsigned max_threads() noexcept {
    const unsigned hw = std::thread::hardware_concurrency();
    return 4 * (hw == 0 ? 1 : hw);
  }

  /// @param threads participants, the caller included: 0 means 1, more than max_threads() is
  ///        capped there. @throw error invalid_argument when the system cannot start them
  explicit thread_pool(unsigned threads)
      : size_(threads == 0              ? 1
              : threads < max_threads() ? threads
                                        : max_threads()) {
    try {
      workers_.reserve(size_ - 1);
      for (unsigned i = 1; i < size_; ++i) {
        workers_.emplace_back([this] { work(); });
      }
    } catch (const std::exception& e) {  // system_error, or bad_alloc under memory pressure
      stop();  // the workers already started: destroyed joinable, they would terminate
      throw error(errc::invalid_argument, "cannot start " + std::to_string(size_) + " threads (" +
                                              std::to_string(workers_.size() + 1) +
                                              " started): " + e.what());
    }
  }
  thread_pool(const thread_pool&) = delete;
  thread_pool& operator=(const thread_pool&) = delete;
  ~thread_pool() { stop(); }

  /// Participating threads, the caller included.
  unsigned size() const noexcept { return size_; }

  /**
   * @brief Calls `body(begin, end)` over `[0, n)` in pieces of `grain`, on every thread, and
   *        returns when all pieces are done. Concurrent callers are served one after another.
   *        The first exception a piece throws is rethrown here.
   */
  template <class Body>
  void parallel_for(std::uint64_t n, std::uint64_t grain, Body&& body) {
    if (grain == 0) {
      grain = 1;
    }
    if (size_ == 1 || n <= grain) {
      for (std::uint64_t b = 0; b < n; b += grain) {
        body(b, b + grain < n ? b + grain : n);
      }
      return;
    }
    std::lock_guard<std::mutex> serial(loop_mutex_);
    std::atomic<std::uint64_t> next{0};
    std::exception_ptr failure;
    std::mutex failure_mutex;
    const std::function<void()> job = [&] {
      for (;;) {
        const std::uint64_t b = next.fetch_add(grain);
        if (b >= n) {
          return;
        }
        try {
          body(b, b + grain < n ? b + grain : n);
        } catch (...) {
          std::lock_guard<std::mutex> lock(failure_mutex);
          if (!failure) {
            failure = std::current_exception();
          }
          next.store(n);
        }
      }
    };
    {
      std::lock_guard<std::mutex> lock(mutex_);
      job_ = &job;
      pending_ = size_ - 1;
      ++generation_;
    }
    wake_.notify_all();
    job();
    {
      std::unique_lock<std::mutex> lock(mutex_);
      done_.wait(lock, [&] { return pending_ == 0; });
      job_ = nullptr;
    }
    if (failure) {
      std::rethrow_exception(failure);
    }
  }

 private:
  void stop() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    for (auto& t : workers_) {
      t.join();
    }
  }

  void work() {
    std::uint64_t seen = 0;
    for (;;) {
      const std::function<void()>* job = nullptr;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return stopping_ || generation_ != seen; });
        if (stopping_) {
          return;
        }
        seen = generation_;
        job = job_;
      }
      (*job)();
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (--pending_ == 0) {
          done_.notify_one();
        }
      }
    }
  }

  unsigned size_;
  std::vector<std::thread> workers_;
  std::mutex loop_mutex_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  const std::function<void()>* job_ = nullptr;
  std::uint64_t generation_ = 0;
  unsigned pending_ = 0;
  bool stopping_ = false;
};

}  // namespace detail
TENSORHASH_NAMESPACE_END
