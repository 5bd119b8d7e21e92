/**
 * @file progress.hpp
 * @brief A progress bar on stderr for a long `hash` call: a thread of its own polls the engine's
 *        `hashed_bytes()` ten times a second, so the call itself stays one batch (all cores on
 *        the whole checkpoint) while the bar moves.
 *
 * @code
 * tensorhash::host_engine<tensorhash::exact> engine;
 * std::vector<tensorhash::digest256> d;
 * {
 *   tensorhash::progress_bar bar(total_bytes, [&] { return engine.hashed_bytes(); });
 *   d = engine.hash(views);
 * }  // the bar ends at 100 % and its line is closed
 * @endcode
 *
 * The engines count a tensor when it is done in exact mode (one chain each), a piece of at
 * most 1 MiB of leaves in tree mode and a run of tiles in SGLang's hash: in exact mode the bar
 * moves in steps as large as the tensors.
 *
 * Host only, POSIX (isatty): shown when stderr is a terminal and the work is at least 1 GiB,
 * unless the caller decides.
 */
#pragma once

#include <tensorhash/config.hpp>

#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

TENSORHASH_NAMESPACE_BEGIN

class progress_bar {
 public:
  /// @return true when stderr is a terminal and `total` bytes are worth a bar (1 GiB or more)
  static bool wanted(std::uint64_t total) noexcept {
    return ::isatty(2) != 0 && total >= (std::uint64_t{1} << 30);
  }

  /**
   * @param total bytes the work will have hashed when done (canonical bytes)
   * @param done  bytes hashed so far; called from the bar's thread, so it must be thread-safe
   *              (an engine's `hashed_bytes()` is)
   * @param show  draw at all (default: `wanted(total)`)
   */
  progress_bar(std::uint64_t total, std::function<std::uint64_t()> done, bool show)
      : total_(total), done_(std::move(done)), start_(done_()) {
    if (show) {
      thread_ = std::thread([this] { run(); });
    }
  }
  progress_bar(std::uint64_t total, std::function<std::uint64_t()> done)
      : progress_bar(total, std::move(done), wanted(total)) {}

  /// Stops the bar, draws where the work got to (100 % when it finished) and closes the line.
  ~progress_bar() {
    if (!thread_.joinable()) {
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    wake_.notify_one();
    thread_.join();
    draw();
    std::fputc('\n', stderr);
  }

  progress_bar(const progress_bar&) = delete;
  progress_bar& operator=(const progress_bar&) = delete;

 private:
  void run() {
    std::unique_lock<std::mutex> lock(mutex_);
    while (!wake_.wait_for(lock, std::chrono::milliseconds(100), [this] { return stop_; })) {
      draw();
    }
  }

  void draw() const {
    const std::uint64_t done = done_() - start_;
    const double f = total_ == 0 ? 1.0 : static_cast<double>(done) / static_cast<double>(total_);
    const int filled = static_cast<int>((f > 1.0 ? 1.0 : f) * 40);
    std::fprintf(
        stderr, "\r[%s%s] %5.1f%%", std::string(static_cast<std::size_t>(filled), '#').c_str(),
        std::string(static_cast<std::size_t>(40 - filled), ' ').c_str(), 100 * (f > 1.0 ? 1.0 : f));
    std::fflush(stderr);
  }

  std::uint64_t total_;
  std::function<std::uint64_t()> done_;
  std::uint64_t start_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

TENSORHASH_NAMESPACE_END
