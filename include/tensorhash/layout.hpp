/**
 * @file layout.hpp
 * @brief Tensor-parallel layouts: the digest a trainer expects of an engine rank's shard,
 *        computed from full (HF-format) tensors without gathering or copying anything, and
 *        tree digests of full tensors composed from shard leaf digests.
 *
 * docs/layouts.md writes out each mapping. In short, for tensor-parallel size `tp` and rank `r`:
 * - replicated: the whole tensor;
 * - column_parallel: rows [r n/tp, (r+1) n/tp) (dim 0; weights and their biases);
 * - row_parallel: columns [r n/tp, (r+1) n/tp) (dim 1; their biases are replicated);
 * - vocab_parallel: the vocabulary is padded to a multiple of `pad_to`, rank r holds padded rows
 *   [r p/tp, (r+1) p/tp); the digest covers the rows of real tokens only;
 * - fused_qkv: rank r holds its q heads, then its k heads, then its v heads (rows of
 *   head_dim each); with tp > kv heads, kv head r / (tp / kv) is replicated on tp / kv ranks;
 * - fused_gate_up: rank r holds its gate rows, then its up rows.
 */
#pragma once

#include <tensorhash/composite.hpp>
#include <tensorhash/config.hpp>
#include <tensorhash/digest.hpp>
#include <tensorhash/error.hpp>
#include <tensorhash/hasher.hpp>
#include <tensorhash/merkle.hpp>
#include <tensorhash/view.hpp>

#include <cstdint>
#include <string>
#include <vector>

TENSORHASH_NAMESPACE_BEGIN

/// @brief How one engine parameter is split over tensor-parallel ranks.
struct tp_layout {
  enum class kind {
    replicated,
    column_parallel,
    row_parallel,
    vocab_parallel,
    fused_qkv,
    fused_gate_up
  };

  kind type = kind::replicated;
  std::int64_t tp_size = 1;
  std::int64_t rank = 0;
  std::int64_t vocab_size = 0;  ///< vocab_parallel: real tokens
  std::int64_t pad_to = 64;     ///< vocab_parallel: the vocabulary is padded to a multiple of this
  std::int64_t num_heads = 0;   ///< fused_qkv: query heads
  std::int64_t num_kv_heads = 0;  ///< fused_qkv: key/value heads
  std::int64_t head_dim = 0;      ///< fused_qkv: rows per head

  static tp_layout replicated() { return {}; }
  static tp_layout column_parallel(std::int64_t tp, std::int64_t r) {
    return with(kind::column_parallel, tp, r);
  }
  static tp_layout row_parallel(std::int64_t tp, std::int64_t r) {
    return with(kind::row_parallel, tp, r);
  }
  static tp_layout vocab_parallel(std::int64_t tp, std::int64_t r, std::int64_t vocab,
                                  std::int64_t pad_multiple = 64) {
    tp_layout l = with(kind::vocab_parallel, tp, r);
    l.vocab_size = vocab;
    l.pad_to = pad_multiple;
    return l;
  }
  static tp_layout fused_qkv(std::int64_t tp, std::int64_t r, std::int64_t heads,
                             std::int64_t kv_heads, std::int64_t dim) {
    tp_layout l = with(kind::fused_qkv, tp, r);
    l.num_heads = heads;
    l.num_kv_heads = kv_heads;
    l.head_dim = dim;
    return l;
  }
  static tp_layout fused_gate_up(std::int64_t tp, std::int64_t r) {
    return with(kind::fused_gate_up, tp, r);
  }

  /// Vocabulary rows after padding (vocab_parallel).
  std::int64_t padded_vocab() const noexcept { return (vocab_size + pad_to - 1) / pad_to * pad_to; }

 private:
  static tp_layout with(kind k, std::int64_t tp, std::int64_t r) {
    tp_layout l;
    l.type = k;
    l.tp_size = tp;
    l.rank = r;
    return l;
  }
};

namespace detail {

inline void require(bool ok, const std::string& what) {
  if (!ok) {
    throw error(errc::invalid_argument, "layout: " + what);
  }
}

/// Rows [r n/tp, (r+1) n/tp) of dim `dim`, refusing n not divisible by tp.
inline tensor_view split(const tensor_view& full, int dim, std::int64_t tp, std::int64_t r,
                         const char* name) {
  require(full.rank() > dim,
          std::string(name) + " needs a tensor of rank > " + std::to_string(dim));
  const std::int64_t n = full.shape(dim);
  require(n % tp == 0, std::string(name) + ": dim " + std::to_string(dim) + " of extent " +
                           std::to_string(n) + " is not divisible by tp " + std::to_string(tp));
  return slice(full, dim, r * (n / tp), n / tp);
}

/// The padded vocabulary of a vocab_parallel layout, its pad_to and vocab_size checked first
/// (padded_vocab() divides by pad_to: a pad_to of 0 was a division by zero).
inline std::int64_t checked_padded_vocab(const tp_layout& l) {
  require(l.tp_size >= 1,
          "vocab_parallel: tp must be at least 1, got " + std::to_string(l.tp_size));
  require(l.pad_to <= (std::int64_t{1} << 40) && l.vocab_size <= (std::int64_t{1} << 48),
          "vocab_parallel: vocab_size " + std::to_string(l.vocab_size) + " or pad_to " +
              std::to_string(l.pad_to) + " is implausibly large");
  require(l.pad_to >= 1,
          "vocab_parallel: pad_to must be at least 1, got " + std::to_string(l.pad_to));
  require(l.vocab_size >= 0,
          "vocab_parallel: vocab_size must not be negative, got " + std::to_string(l.vocab_size));
  return l.padded_vocab();
}

}  // namespace detail

/**
 * @brief What rank `l.rank` holds of the full tensors, as a view the trainer can hash.
 * @param full one tensor, or {q, k, v} for fused_qkv, or {gate, up} for fused_gate_up
 * @throw error invalid_argument naming the layout rule that does not fit the shapes
 */
inline composite_view expected_shard(const tp_layout& l, const std::vector<tensor_view>& full) {
  using kind = tp_layout::kind;
  detail::require(
      l.tp_size >= 1 && l.rank >= 0 && l.rank < l.tp_size,
      "rank " + std::to_string(l.rank) + " is outside tp size " + std::to_string(l.tp_size));
  const std::size_t parts = l.type == kind::fused_qkv ? 3 : l.type == kind::fused_gate_up ? 2 : 1;
  detail::require(full.size() == parts, "this layout takes " + std::to_string(parts) +
                                            " full tensor(s), got " + std::to_string(full.size()));
  const std::int64_t tp = l.tp_size, r = l.rank;
  switch (l.type) {
    case kind::replicated:
      return full[0];
    case kind::column_parallel:
      return detail::split(full[0], 0, tp, r, "column_parallel");
    case kind::row_parallel:
      return detail::split(full[0], 1, tp, r, "row_parallel");
    case kind::vocab_parallel: {
      const std::int64_t padded = detail::checked_padded_vocab(l);
      detail::require(padded % tp == 0, "vocab_parallel: padded vocabulary " +
                                            std::to_string(padded) + " is not divisible by tp " +
                                            std::to_string(tp));
      detail::require(full[0].rank() >= 1 && full[0].shape(0) == l.vocab_size,
                      "vocab_parallel: the full tensor must have vocab_size rows");
      const std::int64_t per = padded / tp;
      const std::int64_t begin = std::min(r * per, l.vocab_size);
      const std::int64_t end = std::min((r + 1) * per, l.vocab_size);
      return slice(full[0], 0, begin, end - begin);
    }
    case kind::fused_qkv: {
      const std::int64_t h = l.num_heads, kv = l.num_kv_heads, d = l.head_dim;
      detail::require(h > 0 && kv > 0 && d > 0 && h % tp == 0 && h % kv == 0,
                      "fused_qkv: heads must be divisible by tp and by kv heads");
      detail::require(kv % tp == 0 || tp % kv == 0,
                      "fused_qkv: kv heads and tp must divide one another");
      detail::require(full[0].rank() >= 1 && full[0].shape(0) == h * d &&
                          full[1].shape(0) == kv * d && full[2].shape(0) == kv * d,
                      "fused_qkv: q must have heads x head_dim rows, k and v kv_heads x head_dim");
      const std::int64_t q_heads = h / tp;
      const std::int64_t kv_per_rank = kv >= tp ? kv / tp : 1;
      const std::int64_t kv_first = kv >= tp ? r * kv_per_rank : r / (tp / kv);
      return concat({slice(full[0], 0, r * q_heads * d, q_heads * d),
                     slice(full[1], 0, kv_first * d, kv_per_rank * d),
                     slice(full[2], 0, kv_first * d, kv_per_rank * d)},
                    0);
    }
    case kind::fused_gate_up:
      return concat({detail::split(full[0], 0, tp, r, "fused_gate_up (gate)"),
                     detail::split(full[1], 0, tp, r, "fused_gate_up (up)")},
                    0);
  }
  throw error(errc::invalid_argument, "layout: unknown kind");
}

/**
 * @brief The part of an engine rank's shard that `expected_shard` describes: the shard itself,
 *        except for vocab_parallel, where padding rows past the real vocabulary are left out.
 */
inline tensor_view covered_part(const tp_layout& l, const tensor_view& shard) {
  if (l.type != tp_layout::kind::vocab_parallel) {
    return shard;
  }
  const std::int64_t per = detail::checked_padded_vocab(l) / l.tp_size;
  const std::int64_t real = std::max<std::int64_t>(0, std::min(per, l.vocab_size - l.rank * per));
  detail::require(shard.rank() >= 1 && shard.shape(0) == per,
                  "vocab_parallel: the engine shard must have padded_vocab / tp rows");
  return slice(shard, 0, 0, real);
}

/// @brief One shard's tree leaves and canonical size, as a rank sends them (32 bytes a chunk).
struct shard_leaves {
  std::uint64_t canonical_bytes = 0;
  std::vector<digest256> leaves;
};

/**
 * @brief The tree digest of a full tensor from the leaves of its dim-0 shards, in order.
 *
 * Valid when the shards are consecutive byte ranges of the full tensor's canonical bytes (a
 * dim-0 split of a row-major tensor) and every shard but the last is a whole number of chunks:
 * then the full tensor's leaves are the shards' leaves one after the other.
 * @throw error invalid_argument when a shard is not a whole number of chunks or its leaf count
 *        does not match its size (use the shard-digest path, `expected_shard`, instead)
 */
inline digest256 compose_tree(const std::vector<shard_leaves>& shards, std::uint64_t chunk_bytes) {
  std::vector<digest256> leaves;
  for (std::size_t i = 0; i < shards.size(); ++i) {
    const auto& s = shards[i];
    if (i + 1 < shards.size() && s.canonical_bytes % chunk_bytes != 0) {
      throw error(errc::invalid_argument,
                  "compose_tree: shard " + std::to_string(i) + " holds " +
                      std::to_string(s.canonical_bytes) + " bytes, not a multiple of the " +
                      std::to_string(chunk_bytes) +
                      "-byte chunk: compare per-shard digests (expected_shard) instead");
    }
    if (s.leaves.size() != (s.canonical_bytes + chunk_bytes - 1) / chunk_bytes) {
      throw error(errc::invalid_argument, "compose_tree: shard " + std::to_string(i) + " has " +
                                              std::to_string(s.leaves.size()) + " leaves for " +
                                              std::to_string(s.canonical_bytes) + " bytes");
    }
    leaves.insert(leaves.end(), s.leaves.begin(), s.leaves.end());
  }
  return merkle_root(leaves);
}

/// @return leaves as 32 bytes each, for any collective (NCCL, torch.distributed) to move
inline std::vector<std::uint8_t> leaves_to_bytes(const std::vector<digest256>& leaves) {
  std::vector<std::uint8_t> out;
  out.reserve(leaves.size() * 32);
  for (const auto& l : leaves) {
    out.insert(out.end(), l.bytes, l.bytes + 32);
  }
  return out;
}

/// @return leaves from `leaves_to_bytes` output. @throw error invalid_argument on a bad size
inline std::vector<digest256> leaves_from_bytes(const std::uint8_t* bytes, std::size_t size) {
  if (size % 32 != 0) {
    throw error(errc::invalid_argument,
                "leaf bytes must be a multiple of 32, got " + std::to_string(size));
  }
  std::vector<digest256> out(size / 32);
  for (std::size_t i = 0; i < out.size(); ++i) {
    std::copy(bytes + 32 * i, bytes + 32 * i + 32, out[i].bytes);
  }
  return out;
}

TENSORHASH_NAMESPACE_END
