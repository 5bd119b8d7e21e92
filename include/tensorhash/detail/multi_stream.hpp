/**
 * @file detail/multi_stream.hpp
 * @brief Host: many independent messages hashed `N` at a time with interleaved compressions.
 *
 * Tree leaves, and the tensors of an exact-mode batch, are independent SHA-256 chains. One chain
 * is latency-bound on SHA-NI; `N` chains advanced in lockstep overlap their latencies. Each of
 * the `N` lanes holds one message: an optional RFC 6962 leaf prefix byte followed by a range of
 * a reader's canonical bytes, pulled a tile at a time. A round compresses, in every busy lane,
 * as many whole blocks as the lane with the fewest has ready; a lane whose message ends
 * finalises it and takes the next one.
 */
#pragma once

#include <tensorhash/config.hpp>
#include <tensorhash/detail/canonical_reader.hpp>
#include <tensorhash/error.hpp>
#include <tensorhash/hasher.hpp>
#include <tensorhash/merkle.hpp>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>
#include <vector>

TENSORHASH_NAMESPACE_BEGIN
namespace detail {

template <class H, std::size_t N, class = void>
struct has_compress_multi : std::false_type {};
template <class H, std::size_t N>
struct has_compress_multi<H, N,
                          std::void_t<decltype(H::template compress_multi<N>(
                              std::declval<typename H::state_type* const (&)[N]>(),
                              std::declval<const std::uint8_t* const (&)[N]>(), std::uint64_t{}))>>
    : std::true_type {};

template <class H, class = void>
struct has_preferred_streams : std::false_type {};
template <class H>
struct has_preferred_streams<H, std::void_t<decltype(H::preferred_streams())>> : std::true_type {};

/// @return `H::preferred_streams()` where the hasher has it, else 1
template <class H>
unsigned preferred_streams() noexcept {
  if constexpr (has_preferred_streams<H>::value) {
    return H::preferred_streams();
  } else {
    return 1;
  }
}

/// One message for a lane: `leaf ? 0x00 : nothing` ‖ canonical bytes [offset, offset + bytes).
template <class Reader>
struct stream_job {
  const Reader* reader;
  std::uint64_t offset;  ///< canonical byte offset, a multiple of the element size
  std::uint64_t bytes;   ///< a multiple of the element size
  bool leaf;
};

/**
 * @brief Hashes jobs `N` at a time with `Hasher::compress_multi` (or `compress` per lane).
 * @tparam N lanes, 1 to 16 (host_tuning::streams)
 */
template <class Hasher, std::size_t N, class Reader>
class multi_stream {
  static_assert(N >= 1 && N <= 16, "tensorhash: host_tuning::streams must be 0 (automatic) to 16");

 public:
  /**
   * @brief Calls `emit(i, digest)` for every `i` in `[begin, end)`, the message of `i` being
   *        `job_at(i)` (a `stream_job<Reader>`). Digests come out in completion order.
   * @param stop when set (another thread's host_engine::cancel), the run throws
   *        error(cancelled) before its next tile
   */
  template <class JobAt, class Emit>
  void run(std::uint64_t begin, std::uint64_t end, JobAt&& job_at, Emit&& emit,
           const std::atomic<bool>* stop = nullptr) {
    std::size_t busy = 0;
    std::size_t order[N];
    for (std::size_t s = 0; s < N; ++s) {
      order[s] = s;
    }
    // Gives lane `l` the next job that has a whole block ready; finishes empty-bodied ones.
    const auto start = [&](lane& l) {
      while (begin < end) {
        l.begin(begin, job_at(begin));
        ++begin;
        if (ready(l)) {
          return true;
        }
        emit(l.job, l.finish());
      }
      return false;
    };
    while (busy < N && start(lanes_[order[busy]])) {
      ++busy;
    }
    while (busy > 0) {
      if (stop != nullptr && stop->load(std::memory_order_relaxed)) {
        throw error(errc::cancelled, "hashing cancelled");
      }
      std::uint64_t blocks = ~std::uint64_t{0};
      for (std::size_t s = 0; s < busy; ++s) {
        blocks = std::min(blocks, lanes_[order[s]].ready_blocks());
      }
      compress_busy<N>(busy, order, blocks);
      for (std::size_t s = 0; s < busy;) {
        lane& l = lanes_[order[s]];
        l.consume(blocks);
        if (ready(l)) {
          ++s;
          continue;
        }
        emit(l.job, l.finish());
        if (start(l)) {
          ++s;
          continue;
        }
        std::swap(order[s], order[busy - 1]);  // this lane is idle; a busy one takes its slot
        --busy;
      }
    }
  }

 private:
  struct lane {
    typename Hasher::state_type state;
    std::uint8_t carry[64];
    std::uint32_t carried = 0;        ///< bytes waiting in `carry` for a whole block
    const std::uint8_t* p = nullptr;  ///< unconsumed bytes of the current tile
    std::uint64_t left = 0;
    std::uint64_t next = 0, end = 0;  ///< canonical bytes still to read
    std::uint64_t total = 0;          ///< message length
    std::uint64_t job = 0;
    const Reader* reader = nullptr;
    staging buf;
    std::vector<std::uint8_t> tile;  ///< a tile that arrived in several pieces

    void begin(std::uint64_t index, const stream_job<Reader>& j) {
      state = Hasher::initial_state();
      carried = 0;
      if (j.leaf) {
        carry[carried++] = merkle_leaf_prefix;
      }
      left = 0;
      next = j.offset;
      end = j.offset + j.bytes;
      total = carried + j.bytes;
      job = index;
      reader = j.reader;
    }

    /// Reads the next tile (at most one staging piece); false at the end of the message.
    bool fetch() {
      if (next == end) {
        return false;
      }
      const std::uint32_t e = reader->element_bytes();
      const std::uint64_t count = std::min((end - next) / e, staging::piece_elems);
      const std::uint64_t want = count * e;
      const std::uint8_t* direct = nullptr;
      std::uint64_t got = 0;
      reader->read(next / e, count, buf, [&](const std::uint8_t* q, std::uint64_t n) {
        if (got == 0 && n == want) {
          direct = q;
        } else {
          if (tile.empty()) {
            tile.resize(staging::piece_elems * 8);
          }
          std::memcpy(tile.data() + got, q, n);
        }
        got += n;
      });
      p = direct != nullptr ? direct : tile.data();
      left = want;
      next += want;
      return true;
    }

    std::uint64_t ready_blocks() const noexcept { return carried == 64 ? 1 : left / 64; }
    const std::uint8_t* block() const noexcept { return carried == 64 ? carry : p; }

    void consume(std::uint64_t blocks) noexcept {
      if (carried == 64) {
        carried = 0;
      } else {
        p += 64 * blocks;
        left -= 64 * blocks;
      }
    }

    typename Hasher::digest_type finish() const noexcept {
      return Hasher::finalize(state, carry, carried, total);
    }
  };

  /// Makes a whole block ready in `l` (in place, or assembled in `carry` across a tile edge);
  /// false when the message has fewer than 64 bytes left, all of them in `carry`.
  static bool ready(lane& l) {
    for (;;) {
      if (l.carried == 0 && l.left >= 64) {
        return true;
      }
      const std::uint64_t take = std::min<std::uint64_t>(64 - l.carried, l.left);
      if (take > 0) {
        std::memcpy(l.carry + l.carried, l.p, static_cast<std::size_t>(take));
        l.carried += static_cast<std::uint32_t>(take);
        l.p += take;
        l.left -= take;
      }
      if (l.carried == 64) {
        return true;
      }
      if (!l.fetch()) {
        return false;
      }
    }
  }

  /// Compresses `blocks` blocks in the first `busy <= M` lanes of `order`. Up to 4 lanes (SHA-NI
  /// streams) the busy ones are compressed alone; wider lane sets (multi-buffer registers) are
  /// compressed whole, the idle lanes' states and blocks standing in unchanged.
  template <std::size_t M>
  void compress_busy(std::size_t busy, const std::size_t (&order)[N],
                     std::uint64_t blocks) noexcept {
    if constexpr (M <= 4 && M > 1) {
      if (busy < M) {
        compress_busy<M - 1>(busy, order, blocks);
        return;
      }
    }
    compress<M>(order, busy, blocks);
  }

  template <std::size_t M>
  void compress(const std::size_t (&order)[N], std::size_t busy, std::uint64_t blocks) noexcept {
    typename Hasher::state_type* states[M];
    const std::uint8_t* starts[M];
    typename Hasher::state_type scratch{};  // what idle lanes compress into, then drop
    for (std::size_t s = 0; s < M; ++s) {
      const bool idle = s >= busy;  // only when M > 4: they read the first lane's blocks
      states[s] = idle ? &scratch : &lanes_[order[s]].state;
      starts[s] = lanes_[order[idle ? 0 : s]].block();
    }
    if constexpr (has_compress_multi<Hasher, M>::value) {
      Hasher::template compress_multi<M>(states, starts, blocks);
    } else {
      for (std::size_t s = 0; s < M; ++s) {
        Hasher::compress(*states[s], starts[s], blocks);
      }
    }
  }

  lane lanes_[N];
};

}  // namespace detail
TENSORHASH_NAMESPACE_END
