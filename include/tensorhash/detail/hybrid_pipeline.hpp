/**
 * @file detail/hybrid_pipeline.hpp
 * @brief Host half of the hybrid exact mode: the cost model that splits a batch of device
 *        tensors between the GPU and host threads, and the pipeline that streams the host's
 *        share through double-buffered staging slices into one SHA-256 chain per tensor.
 *
 * Nothing here calls CUDA. A *copier* moves the bytes (hybrid_copier.cuh: cudaMemcpyAsync into
 * pinned memory), so a host test runs this very pipeline with memcpy standing in for the copy
 * engine and host memory for device memory. A copier provides, for `lane < lanes` and
 * `slot < 2`:
 *
 * | member                              | meaning                                              |
 * |-------------------------------------|------------------------------------------------------|
 * | `enter()`                           | binds the calling thread before it runs a lane       |
 * | `staging(lane, slot)`               | `slice_bytes` of host memory the slot's copies fill  |
 * | `copy(lane, slot, at, src, bytes)`  | queues `bytes` from `src` to `staging(lane, slot)+at`|
 * | `commit(lane, slot)`                | marks the end of the slot's copies                   |
 * | `wait(lane, slot)`                  | returns when the committed copies have landed        |
 *
 * Canonicalisation happens on the host, after the copy: only dense pieces are streamed (each is
 * one byte range, so a slice is a few large copies), and their raw bytes are converted by the
 * host conversions of canonical_reader.hpp, tile by tile in L1/L2. Strided pieces stay on the
 * GPU, whose plan reads any layout.
 */
#pragma once

#include <tensorhash/composite.hpp>
#include <tensorhash/config.hpp>
#include <tensorhash/detail/canonical_reader.hpp>
#include <tensorhash/detail/thread_pool.hpp>
#include <tensorhash/dtype.hpp>
#include <tensorhash/error.hpp>
#include <tensorhash/hasher.hpp>
#include <tensorhash/view.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

TENSORHASH_NAMESPACE_BEGIN
namespace detail {

/**
 * @brief Constants of the hybrid exact mode's cost model (docs/performance.md, "Hybrid exact
 *        mode"), and its staging size. Public as `tensorhash::hybrid_tuning`: override a field
 *        with a figure measured on your machine.
 */
struct hybrid_costs {
  /// Bytes per second one GPU thread hashes as one chain (exact mode runs a tensor per thread).
  double gpu_chain_bytes_per_s = 40e6;
  /// Bytes per second of the whole GPU in exact mode, when enough tensors fill it.
  double gpu_bytes_per_s = 500e9;
  /// Seconds one launch costs, paid once when any tensor stays on the GPU.
  double gpu_launch_s = 20e-6;
  /// Device-to-pinned-host bandwidth in bytes per second (PCIe Gen5 x16 gives 40-55 GB/s).
  double link_bytes_per_s = 25e9;
  /// Bytes per second one host thread hashes as one chain (one SHA-NI stream).
  double host_chain_bytes_per_s = 1.75e9;
  /// Seconds each queued copy costs the host (one per dense piece per slice).
  double copy_call_s = 4e-6;
  /// Bytes of each of the two staging slices per host thread (pinned memory: 2 per thread).
  std::uint64_t slice_bytes = std::uint64_t{4} << 20;
  /// When non-zero, replaces the model: streamable tensors of at least this many canonical
  /// bytes go to the host, all others to the GPU.
  std::uint64_t host_from_bytes = 0;
};

/// What the cost model knows of one tensor.
struct hybrid_item {
  std::uint64_t canonical_bytes = 0;  ///< bytes hashed
  std::uint64_t raw_bytes = 0;        ///< bytes copied to the host when streamed
  std::uint64_t pieces = 0;           ///< non-empty pieces: copies per pass over the tensor
  bool streamable = false;            ///< every piece dense, so copyable as byte ranges
};

/// The model's choice: batch indices (ascending) per side, and the predicted seconds of each.
struct hybrid_split {
  std::vector<std::size_t> device;
  std::vector<std::size_t> host;
  double device_s = 0;
  double host_s = 0;
};

/// @return what the cost model needs of each tensor under `Canon`
/// @throw error size_overflow when a canonical form exceeds SHA-256's message limit
template <class Canon>
std::vector<hybrid_item> hybrid_items(const std::vector<composite_view>& tensors) {
  std::vector<hybrid_item> items(tensors.size());
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const composite_view& c = tensors[i];
    hybrid_item& item = items[i];
    item.streamable = true;
    for (const tensor_view& v : c.pieces()) {
      if (v.numel() != 0) {
        item.streamable = item.streamable && v.is_contiguous();
        item.raw_bytes += v.nbytes();
        ++item.pieces;
      }
    }
    if (__builtin_mul_overflow(c.numel(), std::uint64_t{size_of(Canon::target(c.dtype()))},
                               &item.canonical_bytes) ||
        item.canonical_bytes > max_message_bytes) {
      throw error(errc::size_overflow, "tensor " + std::to_string(i) +
                                           ": canonical byte size exceeds SHA-256's 2^61-1 limit");
    }
  }
  return items;
}

/**
 * @brief Splits a batch between one exact-mode launch and `threads` host threads so that the
 *        later of the two is as early as the model predicts possible.
 *
 * GPU: launch + max(largest chain / chain rate, total / GPU rate). Host: max(bytes / link,
 * bytes / (threads × chain rate), largest chain / chain rate) + copy calls + one slice of
 * latency. Both sides run at once, so the batch takes the larger. A GPU chain is far slower than
 * a host chain while the host side is bounded by the link, so the best split sends the largest
 * streamable tensors to the host: the sweep tries every such prefix of the tensors sorted by size.
 */
inline hybrid_split split_batch(const std::vector<hybrid_item>& items, const hybrid_costs& costs,
                                unsigned threads) {
  std::vector<std::size_t> order;
  double forced_max = 0, forced_sum = 0;
  std::size_t forced = 0;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (items[i].streamable) {
      order.push_back(i);
    } else {
      forced_max = std::max(forced_max, static_cast<double>(items[i].canonical_bytes));
      forced_sum += static_cast<double>(items[i].canonical_bytes);
      ++forced;
    }
  }
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return items[a].canonical_bytes > items[b].canonical_bytes;
  });
  const std::size_t m = order.size();
  std::vector<double> rest(m + 1, 0);  // canonical bytes of order[k..m)
  for (std::size_t k = m; k-- > 0;) {
    rest[k] = rest[k + 1] + static_cast<double>(items[order[k]].canonical_bytes);
  }
  const double lanes = threads == 0 ? 1.0 : static_cast<double>(threads);
  const auto device_s = [&](std::size_t k) {
    if (forced + (m - k) == 0) {
      return 0.0;
    }
    const double largest =
        std::max(forced_max, k < m ? static_cast<double>(items[order[k]].canonical_bytes) : 0.0);
    return costs.gpu_launch_s + std::max(largest / costs.gpu_chain_bytes_per_s,
                                         (forced_sum + rest[k]) / costs.gpu_bytes_per_s);
  };
  double raw = 0, canonical = 0, copies = 0;  // of order[0..k), grown with k
  const auto host_s = [&](std::size_t k) {
    if (k == 0) {
      return 0.0;
    }
    const double largest = static_cast<double>(items[order[0]].canonical_bytes);
    const double first_slice = std::min(raw, static_cast<double>(costs.slice_bytes));
    return std::max({raw / costs.link_bytes_per_s,
                     canonical / (lanes * costs.host_chain_bytes_per_s),
                     largest / costs.host_chain_bytes_per_s}) +
           copies * costs.copy_call_s + first_slice / costs.link_bytes_per_s;
  };
  std::size_t best = 0;
  double best_device = device_s(0), best_host = 0;
  for (std::size_t k = 1; k <= m; ++k) {
    const hybrid_item& item = items[order[k - 1]];
    if (costs.host_from_bytes != 0 && item.canonical_bytes < costs.host_from_bytes) {
      break;
    }
    raw += static_cast<double>(item.raw_bytes);
    canonical += static_cast<double>(item.canonical_bytes);
    // Slices hold whole pieces where they fit, so a piece costs at most one extra copy call.
    copies += static_cast<double>(item.pieces) +
              static_cast<double>(item.raw_bytes / std::max<std::uint64_t>(costs.slice_bytes, 1));
    const double d = device_s(k), h = host_s(k);
    if (costs.host_from_bytes != 0 || std::max(d, h) < std::max(best_device, best_host)) {
      best = k;
      best_device = d;
      best_host = h;
    }
  }
  hybrid_split split;
  split.host.assign(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(best));
  std::sort(split.host.begin(), split.host.end());
  std::vector<bool> on_host(items.size(), false);
  for (std::size_t i : split.host) {
    on_host[i] = true;
  }
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (!on_host[i]) {
      split.device.push_back(i);
    }
  }
  split.device_s = best_device;
  split.host_s = best_host;
  return split;
}

/**
 * @brief The streamed half of a hybrid batch: tensors dealt to lanes (one host thread each),
 *        each lane's tensors cut into slices, and the double-buffered loop that hashes slice k
 *        while slice k + 1 is copied.
 * @tparam Canon  canonicalisation policy, applied on the host after the copy
 * @tparam Hasher a model of the hasher concept
 *
 * One chain per tensor is serial, so the parallelism is across tensors: the largest go first,
 * each to the lane with the fewest bytes so far (longest-processing-time first), which keeps the
 * lanes within one tensor of each other. A lane's slices run back to back across its tensors,
 * so the copy of the next tensor's first slice overlaps the hashing of the previous tensor's last.
 */
template <class Canon, class Hasher>
class streamed_exact {
 public:
  using digest_type = typename Hasher::digest_type;

  /**
   * @param tensors     the whole batch
   * @param host        indices into `tensors` to stream; every piece of each must be dense
   * @param lanes       host threads to deal the tensors to (at most one per tensor is used)
   * @param slice_bytes bytes per staging slot, rounded down to whole 64-byte blocks
   * @throw error invalid_argument for a strided piece or a slice under 64 bytes
   */
  streamed_exact(const std::vector<composite_view>& tensors, const std::vector<std::size_t>& host,
                 unsigned lanes, std::uint64_t slice_bytes)
      : slice_bytes_(slice_bytes / 64 * 64) {
    if (slice_bytes_ == 0) {
      throw error(errc::invalid_argument, "hybrid slice_bytes must be at least 64");
    }
    std::vector<std::size_t> order(host);
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
      return tensors[a].numel() * size_of(tensors[a].dtype()) >
             tensors[b].numel() * size_of(tensors[b].dtype());
    });
    lanes_.resize(std::min<std::size_t>(std::max(lanes, 1u), order.size()));
    std::vector<std::uint64_t> load(lanes_.size(), 0);
    for (std::size_t i : order) {
      const auto lane =
          static_cast<std::size_t>(std::min_element(load.begin(), load.end()) - load.begin());
      load[lane] += tensors[i].numel() * size_of(tensors[i].dtype());
      add(lanes_[lane], tensors[i], i);
    }
  }

  /// Lanes in use (host threads the batch can keep busy).
  unsigned lanes() const noexcept { return static_cast<unsigned>(lanes_.size()); }
  /// Bytes per staging slot.
  std::uint64_t slice_bytes() const noexcept { return slice_bytes_; }

  /**
   * @brief Streams every lane through `copier` on `pool` and writes each streamed tensor's
   *        digest to `out[index]` (other entries untouched). One run at a time per object.
   * @throw whatever the copier throws (the first error of any lane)
   */
  template <class Copier>
  void run(Copier& copier, thread_pool& pool, digest_type* out) {
    pool.parallel_for(lanes_.size(), 1, [&](std::uint64_t b, std::uint64_t e) {
      copier.enter();
      for (std::uint64_t l = b; l < e; ++l) {
        run_lane(static_cast<unsigned>(l), copier, out);
      }
    });
  }

 private:
  struct segment {
    const void* src;
    std::uint64_t bytes;
  };
  /// Bytes of one tensor that share a staging slot: segments [first, first + count).
  struct slice {
    std::size_t tensor;
    std::size_t first;
    std::size_t count;
    std::uint64_t bytes;
    dtype stored;
    bool begins;  ///< first slice of its tensor: start a new chain
    bool ends;    ///< last slice of its tensor: finalise the chain
  };
  struct lane {
    std::vector<slice> slices;
    std::vector<segment> segments;
    std::vector<std::uint8_t> converted;  ///< one conversion tile, when some tensor converts
  };

  /// Appends tensor `index`'s slices to `l`: its dense pieces' bytes packed slot by slot, so a
  /// composite of many small pieces costs one slot, not one per piece.
  void add(lane& l, const composite_view& c, std::size_t index) {
    slice s{index, l.segments.size(), 0, 0, c.dtype(), true, false};
    for (const tensor_view& v : c.pieces()) {
      if (v.numel() == 0) {
        continue;
      }
      if (!v.is_contiguous()) {
        throw error(errc::invalid_argument,
                    "tensor " + std::to_string(index) +
                        " has a strided piece; only dense pieces are streamed to the host");
      }
      const auto* src = static_cast<const std::uint8_t*>(v.data());
      for (std::uint64_t at = 0, n = v.nbytes(); at < n;) {
        if (s.bytes == slice_bytes_) {
          l.slices.push_back(s);
          s = slice{index, l.segments.size(), 0, 0, c.dtype(), false, false};
        }
        const std::uint64_t take = std::min(n - at, slice_bytes_ - s.bytes);
        l.segments.push_back({src + at, take});
        ++s.count;
        s.bytes += take;
        at += take;
      }
    }
    s.ends = true;
    l.slices.push_back(s);
    if (Canon::target(c.dtype()) != c.dtype() && l.converted.empty()) {
      l.converted.resize(staging::piece_elems * 8);
    }
  }

  template <class Copier>
  void issue(Copier& copier, unsigned l, unsigned slot, const slice& s) const {
    std::uint64_t at = 0;
    for (std::size_t g = s.first; g < s.first + s.count; ++g) {
      const segment& seg = lanes_[l].segments[g];
      copier.copy(l, slot, at, seg.src, seg.bytes);
      at += seg.bytes;
    }
    copier.commit(l, slot);
  }

  /// Slot k % 2 holds slice k. Slice k + 1 is queued into the other slot, whose slice k - 1 was
  /// hashed in the previous step, before slice k is waited for and hashed.
  template <class Copier>
  void run_lane(unsigned l, Copier& copier, digest_type* out) {
    lane& ln = lanes_[l];
    if (ln.slices.empty()) {
      return;
    }
    issue(copier, l, 0, ln.slices[0]);
    hash_stream<Hasher> chain;
    for (std::size_t k = 0; k < ln.slices.size(); ++k) {
      const auto slot = static_cast<unsigned>(k % 2);
      if (k + 1 < ln.slices.size()) {
        issue(copier, l, slot ^ 1u, ln.slices[k + 1]);
      }
      copier.wait(l, slot);
      const slice& s = ln.slices[k];
      if (s.begins) {
        chain = hash_stream<Hasher>{};
      }
      absorb(chain, s, copier.staging(l, slot), ln.converted);
      if (s.ends) {
        out[s.tensor] = chain.finalize();
      }
    }
  }

  /// Feeds a slice's canonical bytes to `chain`, converting a tile at a time where `Canon`
  /// changes the dtype (the same conversions as the host engine, so the same bytes).
  static void absorb(hash_stream<Hasher>& chain, const slice& s, const std::uint8_t* raw,
                     std::vector<std::uint8_t>& converted) {
    if (Canon::target(s.stored) == s.stored) {
      chain.update(raw, s.bytes);
      return;
    }
    const std::uint32_t in = size_of(s.stored), out = size_of(Canon::target(s.stored));
    for (std::uint64_t e = 0, n = s.bytes / in; e < n;) {
      const std::uint64_t take = std::min(n - e, staging::piece_elems);
      convert_run<Canon>(s.stored, raw + e * in, converted.data(), take);
      chain.update(converted.data(), take * out);
      e += take;
    }
  }

  std::uint64_t slice_bytes_;
  std::vector<lane> lanes_;
};

}  // namespace detail
TENSORHASH_NAMESPACE_END
