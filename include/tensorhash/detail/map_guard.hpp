/**
 * @file detail/map_guard.hpp
 * @brief Turns the SIGBUS of a read past the end of a truncated memory-mapped file into a flag.
 *
 * A file shortened while it is mapped (a shard being rewritten, a copy in flight, NFS) makes
 * every read of a page past its new end raise SIGBUS, which kills the process. A guarded range
 * is listed in a fixed table that a process-wide SIGBUS handler reads: a fault inside one maps
 * anonymous zero pages over the rest of that range (so the read completes, with zeros), marks
 * the range, and returns. The owner checks the mark when it has read what it needed and reports
 * the file as changed; the zeros never reach a result that is not refused. Faults outside every
 * range go to the handler that was installed before (the default one kills the process as
 * before). The hot path pays nothing: no read is wrapped, only the fault is handled.
 *
 * The handler is installed once, when the first range is guarded; a SIGBUS handler a program
 * installs later without chaining to the previous one replaces it (the guard then stops
 * working, as if it were not there).
 */
#pragma once

#include <tensorhash/config.hpp>

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <utility>

TENSORHASH_NAMESPACE_BEGIN
namespace detail {

/// The table of guarded ranges: slots claimed and released with atomics, read by the handler.
/// A slot's range is written under a sequence count (odd while it changes), so the handler never
/// pairs one range's begin with another's end.
struct map_guard_table {
  static constexpr std::size_t slots = 16384;
  struct slot {
    std::atomic<std::uint32_t> seq{0};
    std::atomic<std::uintptr_t> begin{0};  ///< 0: free (claimed slots hold a mapping's address)
    std::atomic<std::uintptr_t> end{0};
    std::atomic<bool> faulted{false};
    std::atomic<bool> claimed{false};

    void set(std::uintptr_t b, std::uintptr_t e) noexcept {
      seq.fetch_add(1, std::memory_order_acq_rel);  // odd: changing
      begin.store(b, std::memory_order_release);
      end.store(e, std::memory_order_release);
      seq.fetch_add(1, std::memory_order_acq_rel);
    }
    /// The range, or false while it changes.
    bool get(std::uintptr_t& b, std::uintptr_t& e) const noexcept {
      const std::uint32_t before = seq.load(std::memory_order_acquire);
      b = begin.load(std::memory_order_acquire);
      e = end.load(std::memory_order_acquire);
      std::atomic_thread_fence(std::memory_order_acquire);
      return (before & 1) == 0 && seq.load(std::memory_order_relaxed) == before && b != 0;
    }
  };
  slot table[slots];
  std::atomic<std::size_t> used{0};  ///< slots at or above this were never claimed
  struct sigaction previous {};
  std::once_flag installed;
};

inline map_guard_table& map_guards() {
  static map_guard_table t;  // constructed before the first handler install (call_once below)
  return t;
}

inline void map_guard_handler(int sig, siginfo_t* info, void* context) {
  const int saved_errno = errno;
  map_guard_table& t = map_guards();
  const auto addr = reinterpret_cast<std::uintptr_t>(info->si_addr);
  // Only a fault the kernel raised names an address (a kill() or raise() names a sender).
  const std::size_t n = info->si_code == BUS_ADRERR ? t.used.load(std::memory_order_acquire) : 0;
  bool handled = false;
  for (std::size_t i = 0; i < n; ++i) {  // every guard of the range is marked
    map_guard_table::slot& s = t.table[i];
    std::uintptr_t begin = 0, end = 0;
    if (s.get(begin, end) && addr >= begin && addr < end) {
      const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
      const std::uintptr_t from = addr & ~(page - 1);
      // mmap is a plain system call (async-signal-safe in practice, as the JVM relies on too)
      void* p = ::mmap(reinterpret_cast<void*>(from), end - from, PROT_READ,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
      if (p != MAP_FAILED) {
        s.faulted.store(true, std::memory_order_release);
        handled = true;
      }
    }
  }
  if (handled) {
    errno = saved_errno;
    return;  // the faulting read runs again and finds zeros
  }
  // Not ours: what would have happened without the guard.
  const bool fault = info->si_code > 0;  // raised by the kernel for an instruction
  if (t.previous.sa_handler == SIG_IGN && !fault) {
    errno = saved_errno;
    return;  // a sent SIGBUS, ignored as before
  }
  if (t.previous.sa_handler != SIG_DFL && t.previous.sa_handler != SIG_IGN) {
    errno = saved_errno;
    if ((t.previous.sa_flags & SA_SIGINFO) != 0) {
      t.previous.sa_sigaction(sig, info, context);
    } else {
      t.previous.sa_handler(sig);
    }
    return;
  }
  // The default action (a fault is never ignored: the kernel would force it).
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  ::sigemptyset(&dfl.sa_mask);
  ::sigaction(SIGBUS, &dfl, nullptr);
  ::raise(sig);  // delivered when this returns: the default action ends the process
  errno = saved_errno;
}

/// A guarded range, released by the destructor (before its memory is unmapped).
class map_guard {
 public:
  map_guard() = default;
  /// Guards [p, p + size); with every slot taken, the range stays unguarded.
  map_guard(const void* p, std::uint64_t size) {
    if (p == nullptr || size == 0) {
      return;
    }
    map_guard_table& t = map_guards();
    std::call_once(t.installed, [&t] {
      struct sigaction sa {};
      sa.sa_sigaction = map_guard_handler;
      sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
      ::sigemptyset(&sa.sa_mask);
      ::sigaction(SIGBUS, &sa, &t.previous);
    });
    for (std::size_t i = 0; i < map_guard_table::slots; ++i) {
      map_guard_table::slot& s = t.table[i];
      bool expected = false;
      if (s.claimed.compare_exchange_strong(expected, true, std::memory_order_acq_rel)) {
        s.faulted.store(false, std::memory_order_relaxed);
        s.set(reinterpret_cast<std::uintptr_t>(p), reinterpret_cast<std::uintptr_t>(p) + size);
        std::size_t used = t.used.load(std::memory_order_relaxed);
        while (used < i + 1 &&
               !t.used.compare_exchange_weak(used, i + 1, std::memory_order_acq_rel)) {
        }
        slot_ = &s;
        return;
      }
    }
  }
  map_guard(const map_guard&) = delete;
  map_guard& operator=(const map_guard&) = delete;
  map_guard(map_guard&& o) noexcept : slot_(o.slot_) { o.slot_ = nullptr; }
  map_guard& operator=(map_guard&& o) noexcept {
    std::swap(slot_, o.slot_);
    return *this;
  }
  ~map_guard() {
    if (slot_ != nullptr) {
      slot_->set(0, 0);
      slot_->claimed.store(false, std::memory_order_release);
    }
  }

  /// @return whether a read past the file's end was answered with zeros
  bool faulted() const noexcept {
    return slot_ != nullptr && slot_->faulted.load(std::memory_order_acquire);
  }

 private:
  map_guard_table::slot* slot_ = nullptr;
};

}  // namespace detail
TENSORHASH_NAMESPACE_END
