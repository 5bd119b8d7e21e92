/**
 * @file host.hpp
 * @brief CPU backend: digests of one view or many, spread over a thread pool.
 *
 * ```
 * tensorhash::host_engine<tensorhash::tree> engine;            // 16 KiB chunks, all cores
 * tensorhash::digest256 d = engine.hash(tensorhash::tensor_view(ptr, tensorhash::dtype::BF16,
 *                                                                {4096, 4096}));
 * std::string hex = d.to_hex();
 * ```
 * exact mode hashes tensors in parallel (each tensor is one sequential stream); tree mode
 * spreads the leaves of all tensors of a batch over the pool, then reduces each tree.
 */
#pragma once

#include <tensorhash/blake3.hpp>
#include <tensorhash/canonical.hpp>
#include <tensorhash/composite.hpp>
#include <tensorhash/config.hpp>
#include <tensorhash/detail/blake3/subtree.hpp>
#include <tensorhash/detail/canonical_reader.hpp>
#include <tensorhash/detail/multi_stream.hpp>
#include <tensorhash/detail/policy_checks.hpp>
#include <tensorhash/detail/thread_pool.hpp>
#include <tensorhash/error.hpp>
#include <tensorhash/hasher.hpp>
#include <tensorhash/merkle.hpp>
#include <tensorhash/modes.hpp>
#include <tensorhash/view.hpp>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <numeric>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

TENSORHASH_NAMESPACE_BEGIN

namespace detail {

/// A tensor (a `composite_view`, a `tensor_view`, or a type with `view_traits`) as a composite.
template <class Tensor>
composite_view as_composite(const Tensor& tensor) {
  if constexpr (std::is_same_v<Tensor, composite_view>) {
    return tensor;
  } else {
    return composite_view(make_view(tensor));
  }
}

/// `as_composite` of every tensor of a batch (views, composites or `view_traits` types).
template <class Tensor>
std::vector<composite_view> as_composites(const std::vector<Tensor>& tensors) {
  std::vector<composite_view> out;
  out.reserve(tensors.size());
  for (const auto& t : tensors) {
    out.push_back(as_composite(t));
  }
  return out;
}

/**
 * @brief `c`, checked for a host engine: every piece in host memory, and the canonical byte size
 *        (elements of `target`) at most `max_bytes`.
 * @param index  the tensor's position in its batch, for messages
 * @param engine what refuses device memory, and what to use instead, for messages
 * @param limit  what `max_bytes` is, for messages
 * @throw error wrong_memory_space, size_overflow
 */
inline const composite_view& checked_host_tensor(const composite_view& c, std::size_t index,
                                                 dtype target, std::uint64_t max_bytes,
                                                 const char* engine, const char* limit) {
  for (const auto& v : c.pieces()) {
    if (v.location().space != memory_space::host) {
      throw error(errc::wrong_memory_space,
                  "tensor " + std::to_string(index) + " is in CUDA memory of device " +
                      std::to_string(v.location().device) + "; " + engine);
    }
  }
  std::uint64_t bytes = 0;
  if (__builtin_mul_overflow(c.numel(), std::uint64_t{size_of(target)}, &bytes) ||
      bytes > max_bytes) {
    throw error(errc::size_overflow,
                "tensor " + std::to_string(index) + ": canonical byte size exceeds " + limit);
  }
  return c;
}

}  // namespace detail

/**
 * @brief CPU tuning policy.
 * @tparam Streams messages each thread hashes at once (the leaves of tree mode; the tensors of
 *         an exact-mode batch; one huge tensor in exact mode stays one chain). SHA-NI's round
 *         instruction has a 4-cycle latency and issues every cycle, so one chain leaves most of
 *         it idle; AVX-512 holds 16 chains in its lanes. 0 (the default) takes the hasher's
 *         `preferred_streams()` for this CPU (SHA-256: 2 with SHA-NI, else 16 with AVX-512,
 *         else 1); 1 to 16 force a count (1 turns interleaving off).
 */
template <unsigned Streams = 0>
struct host_tuning {
  static_assert(Streams <= 16,
                "tensorhash: host_tuning<Streams>: 0 (automatic) or 1 to 16 streams");
  static constexpr unsigned streams = Streams;
};

/**
 * @brief CPU backend for one choice of policies.
 * @tparam Mode  `exact` or `tree`
 * @tparam Canon canonicalisation policy (`as_stored`, `to_bf16`, `to_f32`)
 * @tparam Hasher a model of the hasher concept (tensorhash/hasher.hpp)
 * @tparam Tuning a `host_tuning`
 *
 * An engine may be used from several threads at once; their loops take turns on its pool.
 */
template <class Mode = tree, class Canon = as_stored, class Hasher = sha256,
          class Tuning = host_tuning<>>
class host_engine {
  static_assert(detail::check_policies<Mode, Canon, Hasher, true>());

 public:
  using mode_type = Mode;
  using canonicalization_type = Canon;
  using hasher_type = Hasher;
  using tuning_type = Tuning;
  using digest_type = typename Hasher::digest_type;

  /**
   * @param mode    mode value (tree carries its chunk size)
   * @param threads threads to use, the caller included; 0 means all hardware threads
   */
  explicit host_engine(Mode mode = Mode{}, unsigned threads = 0)
      : mode_(mode),
        pool_(threads != 0 ? threads : std::max(1u, std::thread::hardware_concurrency())) {}

  /// @return the mode this engine hashes with
  const Mode& mode() const noexcept { return mode_; }
  /// @return the number of threads this engine hashes with
  unsigned threads() const noexcept { return pool_.size(); }
  /// @return the dtype whose bytes are hashed for a tensor stored as `stored`
  static constexpr dtype canonical_dtype(dtype stored) noexcept { return Canon::target(stored); }

  /**
   * @brief Digest of one tensor: a `tensor_view`, a `composite_view` (slices, concatenations),
   *        or any type with `view_traits`.
   * @throw error wrong_memory_space when the view is not in host memory, size_overflow when its
   *        canonical form exceeds SHA-256's message limit
   */
  template <class Tensor>
  digest_type hash(const Tensor& tensor) {
    const composite_view c = detail::as_composite(tensor);
    digest_type out{};
    hash(&c, 1, &out);
    return out;
  }

  /// @brief Digests of `views[0..count)` into `out[0..count)`; nothing is written on error.
  void hash(const tensor_view* views, std::size_t count, digest_type* out) {
    if (count != 0 && views == nullptr) {
      throw error(errc::null_data, "views is null with a non-zero count");
    }
    const std::vector<composite_view> tensors(views, views + count);
    hash(tensors.data(), tensors.size(), out);
  }

  /// @brief Digests of composites `tensors[0..count)` into `out[0..count)`.
  void hash(const composite_view* tensors, std::size_t count, digest_type* out) {
    if (count != 0 && (tensors == nullptr || out == nullptr)) {
      throw error(errc::null_data, "tensors or out is null with a non-zero count");
    }
    if (stop_.load(std::memory_order_relaxed)) {
      throw error(errc::cancelled, "hashing cancelled: this engine was cancelled; make a new one");
    }
    std::vector<reader_type> readers;
    readers.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
      readers.emplace_back(checked(tensors[i], i));
    }
    if constexpr (is_blake3_v<Hasher>) {
      hash_blake3(readers, out);
    } else if constexpr (std::is_same_v<Mode, exact>) {
      hash_exact(readers, out);
    } else {
      hash_tree(readers, out);
    }
  }

  /// @return digests of every view, composite or `view_traits` tensor, in order
  template <class T>
  std::vector<digest_type> hash(const std::vector<T>& tensors) {
    std::vector<digest_type> out(tensors.size());
    if constexpr (std::is_same_v<T, tensor_view> || std::is_same_v<T, composite_view>) {
      hash(tensors.data(), tensors.size(), out.data());
    } else {
      const std::vector<composite_view> views = detail::as_composites(tensors);
      hash(views.data(), views.size(), out.data());
    }
    return out;
  }

  /**
   * @brief Canonical bytes this engine has hashed so far, over all its calls: a progress
   *        display reads it from another thread while `hash` runs (it grows as tensors and
   *        tree leaves finish).
   */
  std::uint64_t hashed_bytes() const noexcept { return hashed_.load(std::memory_order_relaxed); }

  /**
   * @brief Stops the `hash` running now on another thread (or the next one): every thread
   *        stops before its next tile and the call throws error(cancelled). From then on the
   *        engine refuses to hash (make a new one). What the Python package calls on Ctrl-C.
   */
  void cancel() noexcept { stop_.store(true, std::memory_order_relaxed); }

  /**
   * @brief The ordered leaf digests of one tensor: what ranks exchange to compose a tree from
   *        shards or to locate a difference. Tree mode: one per chunk, `merkle_root(leaves(t))
   *        == hash(t)`. BLAKE3: one per 1 MiB subtree (docs/format.md §4.3a; none for an empty
   *        tensor, the digest itself for one of at most 1 MiB), `blake3_root(leaves(t)) ==
   *        hash(t)`.
   */
  template <class Tensor>
  std::vector<digest_type> leaves(const Tensor& tensor) {
    static_assert(std::is_same_v<Mode, tree> || is_blake3_v<Hasher>,
                  "tensorhash: leaf digests exist in tree mode and for BLAKE3; use "
                  "host_engine<tree, ...> or host_engine<exact, Canon, blake3>");
    if (stop_.load(std::memory_order_relaxed)) {
      throw error(errc::cancelled, "hashing cancelled: this engine was cancelled; make a new one");
    }
    std::vector<reader_type> readers;
    readers.emplace_back(checked(detail::as_composite(tensor), 0));
    if constexpr (is_blake3_v<Hasher>) {
      const blake3_table table = hash_subtrees(readers);
      const std::uint64_t n = table.first[1];
      if (readers[0].size() == 0) {
        return {};
      }
      if (n == 1) {
        return {table.roots[0]};
      }
      std::vector<digest_type> out(n);
      for (std::uint64_t j = 0; j < n; ++j) {
        std::copy_n(table.cvs.data() + 32 * j, 32, out[j].bytes);
      }
      return out;
    } else {
      return hash_leaves(readers).leaves;
    }
  }

 private:
  static const composite_view& checked(const composite_view& c, std::size_t index) {
    return detail::checked_host_tensor(
        c, index, Canon::target(c.dtype()), max_message_bytes,
        "the host backend reads host memory only (use the device backend)",
        "the 2^61-1-byte message limit");
  }

  using reader_type = detail::composite_reader<Canon>;

  /// Messages a thread hashes at once on this CPU.
  static unsigned streams() noexcept {
    if constexpr (Tuning::streams != 0) {
      return Tuning::streams;
    } else {
      const unsigned preferred = detail::preferred_streams<Hasher>();
      return preferred >= 16 ? 16 : preferred >= 2 ? 2 : 1;
    }
  }

  /// multi_stream::run with `streams()` lanes.
  template <class JobAt, class Emit>
  void run_streams(std::uint64_t b, std::uint64_t e, JobAt&& job_at, Emit&& emit) {
    if constexpr (Tuning::streams != 0) {
      detail::multi_stream<Hasher, Tuning::streams, reader_type>().run(b, e, job_at, emit, &stop_);
    } else if (streams() == 16) {
      detail::multi_stream<Hasher, 16, reader_type>().run(b, e, job_at, emit, &stop_);
    } else if (streams() == 2) {
      detail::multi_stream<Hasher, 2, reader_type>().run(b, e, job_at, emit, &stop_);
    } else {
      detail::multi_stream<Hasher, 1, reader_type>().run(b, e, job_at, emit, &stop_);
    }
  }

  /// Tensors longest first, so that the tensors a thread hashes side by side in its lanes are of
  /// similar length and the lanes stay busy; each is one message.
  void hash_exact(const std::vector<reader_type>& readers, digest_type* out) {
    std::vector<std::uint64_t> order(readers.size());
    std::iota(order.begin(), order.end(), std::uint64_t{0});
    std::stable_sort(order.begin(), order.end(), [&](std::uint64_t a, std::uint64_t b) {
      return readers[a].size() > readers[b].size();
    });
    std::vector<digest_type> result(readers.size());
    pool_.parallel_for(readers.size(), streams(), [&](std::uint64_t b, std::uint64_t e) {
      run_streams(
          b, e,
          [&](std::uint64_t i) {
            const auto& r = readers[order[i]];
            return detail::stream_job<reader_type>{&r, 0, r.size(), false};
          },
          [&](std::uint64_t i, const digest_type& d) {
            result[order[i]] = d;
            hashed_.fetch_add(readers[order[i]].size(), std::memory_order_relaxed);
          });
    });
    std::copy(result.begin(), result.end(), out);
  }

  /// BLAKE3 subtrees of a batch: tensor i owns subtrees [first[i], first[i+1]) (an empty tensor
  /// one); `cvs` holds their chaining values, `roots[i]` the digest of a one-subtree tensor.
  struct blake3_table {
    std::vector<std::uint64_t> first;
    std::vector<std::uint8_t> cvs;
    std::vector<digest_type> roots;
  };

  /// Every tensor's bytes cut into 1 MiB subtrees, all subtrees of the batch spread over the pool.
  blake3_table hash_subtrees(const std::vector<reader_type>& readers) {
    namespace b3 = detail::blake3;
    static_assert(b3::subtree_bytes == blake3_leaf_bytes,
                  "the engine's subtrees are the manifests' BLAKE3 leaves");
    blake3_table table;
    table.first.assign(readers.size() + 1, 0);
    for (std::size_t i = 0; i < readers.size(); ++i) {
      const std::uint64_t bytes = readers[i].size();
      table.first[i + 1] =
          table.first[i] +
          std::max<std::uint64_t>(1, bytes / b3::subtree_bytes + (bytes % b3::subtree_bytes != 0));
    }
    const auto& first = table.first;
    table.cvs.resize(32 * first.back());
    table.roots.resize(readers.size());
    const std::uint64_t grain =
        std::clamp<std::uint64_t>(first.back() / (8 * std::uint64_t{pool_.size()}), 1, 8);
    pool_.parallel_for(first.back(), grain, [&](std::uint64_t b, std::uint64_t e) {
      b3::subtree_hasher<Hasher::impl> h;
      std::size_t t = static_cast<std::size_t>(std::upper_bound(first.begin(), first.end(), b) -
                                               first.begin() - 1);
      for (std::uint64_t j = b; j < e; ++j) {
        if (stop_.load(std::memory_order_relaxed)) {
          throw error(errc::cancelled, "hashing cancelled");
        }
        while (first[t + 1] <= j) {
          ++t;
        }
        const auto& r = readers[t];
        const std::uint64_t offset = (j - first[t]) * b3::subtree_bytes;
        const std::uint64_t bytes = std::min(b3::subtree_bytes, r.size() - offset);
        const b3::output node = h.hash(r, offset, bytes);
        if (first[t + 1] - first[t] == 1) {
          node.root_bytes(0, table.roots[t].bytes, sizeof table.roots[t].bytes);
        } else {
          b3::store_cv(table.cvs.data() + 32 * j, node.chaining_value());
        }
        hashed_.fetch_add(bytes, std::memory_order_relaxed);
      }
    });
    return table;
  }

  /// BLAKE3 of each tensor: its subtrees' chaining values reduced to its root.
  void hash_blake3(const std::vector<reader_type>& readers, digest_type* out) {
    namespace b3 = detail::blake3;
    blake3_table table = hash_subtrees(readers);
    std::vector<std::uint8_t> scratch;
    for (std::size_t t = 0; t < readers.size(); ++t) {
      const std::uint64_t n = table.first[t + 1] - table.first[t];
      if (n > 1) {
        scratch.resize(16 * n + 32);
        b3::reduce<Hasher::impl>(table.cvs.data() + 32 * table.first[t], n, scratch.data())
            .root_bytes(0, table.roots[t].bytes, sizeof table.roots[t].bytes);
      }
    }
    std::copy(table.roots.begin(), table.roots.end(), out);
  }

  /// Leaf digests of every tensor of a batch in one array; tensor i owns [first[i], first[i+1]).
  struct leaf_table {
    std::vector<std::uint64_t> first;
    std::vector<digest_type> leaves;
  };

  /// Canonical bytes of leaves [b, e) of a batch (tensor i owns leaves [first[i], first[i+1])).
  static std::uint64_t piece_bytes(const std::vector<reader_type>& readers,
                                   const std::vector<std::uint64_t>& first, std::uint64_t b,
                                   std::uint64_t e, std::uint64_t chunk) {
    std::uint64_t bytes = 0;
    auto t = static_cast<std::size_t>(std::upper_bound(first.begin(), first.end(), b) -
                                      first.begin() - 1);
    for (; t < readers.size() && first[t] < e; ++t) {
      const std::uint64_t lo = std::max(b, first[t]) - first[t];
      const std::uint64_t hi = std::min(e, first[t + 1]) - first[t];
      if (lo < hi) {
        bytes += std::min(hi * chunk, readers[t].size()) - lo * chunk;
      }
    }
    return bytes;
  }

  leaf_table hash_leaves(const std::vector<reader_type>& readers) {
    const std::uint64_t chunk = mode_.chunk_bytes();
    leaf_table table;
    table.first.assign(readers.size() + 1, 0);
    for (std::size_t i = 0; i < readers.size(); ++i) {
      table.first[i + 1] = table.first[i] + mode_.leaf_count(readers[i].size());
    }
    table.leaves.resize(table.first.back());
    const auto& first = table.first;
    // Pieces of at most 1 MiB, and at least four per thread, keep every thread busy without
    // fine-grained contention.
    const std::uint64_t per_thread = table.leaves.size() / (4 * std::uint64_t{pool_.size()});
    const std::uint64_t grain =
        std::max<std::uint64_t>(1, std::min((std::uint64_t{1} << 20) / chunk, per_thread));
    pool_.parallel_for(table.leaves.size(), grain, [&](std::uint64_t b, std::uint64_t e) {
      std::size_t t = static_cast<std::size_t>(std::upper_bound(first.begin(), first.end(), b) -
                                               first.begin() - 1);
      run_streams(
          b, e,
          [&](std::uint64_t leaf) {
            while (first[t + 1] <= leaf) {
              ++t;
            }
            const auto& r = readers[t];
            const std::uint64_t offset = (leaf - first[t]) * chunk;
            return detail::stream_job<reader_type>{&r, offset, std::min(chunk, r.size() - offset),
                                                   true};
          },
          [&](std::uint64_t leaf, const digest_type& d) { table.leaves[leaf] = d; });
      hashed_.fetch_add(piece_bytes(readers, first, b, e, chunk), std::memory_order_relaxed);
    });
    return table;
  }

  void hash_tree(const std::vector<reader_type>& readers, digest_type* out) {
    leaf_table table = hash_leaves(readers);
    std::vector<digest_type> roots(readers.size());
    pool_.parallel_for(readers.size(), 1, [&](std::uint64_t b, std::uint64_t e) {
      for (std::uint64_t i = b; i < e; ++i) {
        roots[i] = merkle_root_in_place<Hasher>(table.leaves.data() + table.first[i],
                                                table.first[i + 1] - table.first[i]);
      }
    });
    std::copy(roots.begin(), roots.end(), out);
  }

  Mode mode_;
  detail::thread_pool pool_;
  std::atomic<std::uint64_t> hashed_{0};
  std::atomic<bool> stop_{false};
};

/**
 * @brief Digest of one tensor on the calling thread alone.
 * @code
 * auto d = tensorhash::host_hash<tensorhash::exact>(view);           // == hashlib
 * auto t = tensorhash::host_hash(view, tensorhash::tree(1 << 20));   // 1 MiB leaves
 * @endcode
 */
template <class Mode = tree, class Canon = as_stored, class Hasher = sha256, class Tensor>
typename Hasher::digest_type host_hash(const Tensor& tensor, Mode mode = Mode{}) {
  return host_engine<Mode, Canon, Hasher>(mode, 1).hash(tensor);
}

TENSORHASH_NAMESPACE_END
