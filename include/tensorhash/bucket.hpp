/**
 * @file bucket.hpp
 * @brief Views of every tensor packed in a flat byte buffer (a weight-update bucket), from the
 *        metadata of the two formats in use, validated before anything is read.
 *
 * - `bucket_layout::packed`: SGLang's FlattenedTensorMetadata — (name, shape, dtype,
 *   start_idx, end_idx) in bytes, tightly packed: each tensor starts where the previous ended,
 *   the first at 0.
 * - `bucket_layout::aligned`: checkpoint-engine's buckets — (name, dtype, shape, offset) with
 *   every offset a multiple of 256 bytes, tensors in offset order without overlap.
 *
 * The views can be hashed by any backend in one call (host_engine::hash, device_plan).
 */
#pragma once

#include <tensorhash/config.hpp>
#include <tensorhash/dtype.hpp>
#include <tensorhash/error.hpp>
#include <tensorhash/view.hpp>

#include <cstdint>
#include <string>
#include <vector>

TENSORHASH_NAMESPACE_BEGIN

/// @brief One tensor of a bucket; `end` is ignored (computed) for the aligned layout.
struct bucket_entry {
  std::string name;
  dtype type = dtype::U8;
  std::vector<std::int64_t> shape;
  std::uint64_t begin = 0;  ///< byte offset of the first element
  std::uint64_t end = 0;    ///< one past the last byte (packed layout)
};

/// @brief Which packing rules a bucket's metadata follows (see the file comment).
enum class bucket_layout { packed, aligned };

/// Alignment of tensors in checkpoint-engine buckets.
inline constexpr std::uint64_t bucket_alignment = 256;

/**
 * @brief Views of every entry over `base[0 .. size)`.
 * @throw error parse_error naming the entry for a range out of bounds, inconsistent with
 *        shape x dtype, overlapping, unaligned (aligned layout) or not tightly packed (packed
 *        layout); the errors of tensor_view for bad shapes
 */
inline std::vector<tensor_view> bucket_views(const void* base, std::uint64_t size,
                                             const std::vector<bucket_entry>& entries,
                                             bucket_layout layout,
                                             location where = location::host()) {
  if (base == nullptr && size != 0) {
    throw error(errc::null_data, "bucket base is null with a non-zero size");
  }
  std::vector<tensor_view> views;
  views.reserve(entries.size());
  std::uint64_t previous_end = 0;
  for (const auto& e : entries) {
    const std::string which = "bucket entry \"" + e.name + "\"";
    if (e.shape.size() > static_cast<std::size_t>(max_rank)) {
      throw error(errc::rank_too_large,
                  which + " has " + std::to_string(e.shape.size()) + " dimensions");
    }
    const auto* bytes = static_cast<const std::uint8_t*>(base);
    // Validate the shape (and its byte size) before touching offsets.
    const tensor_view shape_only(bytes, e.type, static_cast<int>(e.shape.size()), e.shape.data(),
                                 nullptr, where);
    const std::uint64_t nbytes = shape_only.nbytes();
    std::uint64_t end = 0;
    if (__builtin_add_overflow(e.begin, nbytes, &end)) {
      throw error(errc::parse_error, which + ": offset + size overflows 64 bits");
    }
    if (layout == bucket_layout::packed) {
      if (e.end < e.begin) {
        throw error(errc::parse_error, which + ": end " + std::to_string(e.end) +
                                           " is before start " + std::to_string(e.begin));
      }
      if (e.end != end) {
        throw error(errc::parse_error, which + ": byte range [" + std::to_string(e.begin) + ", " +
                                           std::to_string(e.end) + ") holds " +
                                           std::to_string(e.end - e.begin) + " bytes but " +
                                           to_string(e.type) + detail::shape_text(e.shape) +
                                           " needs " + std::to_string(nbytes));
      }
      if (e.begin != previous_end) {
        throw error(errc::parse_error, which + " starts at byte " + std::to_string(e.begin) +
                                           " but the previous tensor ends at " +
                                           std::to_string(previous_end) +
                                           " (packed buckets have no gaps)");
      }
    } else {
      if (e.begin % bucket_alignment != 0) {
        throw error(errc::parse_error,
                    which + ": offset " + std::to_string(e.begin) + " is not a multiple of 256");
      }
      if (e.begin < previous_end) {
        throw error(errc::parse_error, which + " at byte " + std::to_string(e.begin) +
                                           " overlaps the previous tensor (ends at " +
                                           std::to_string(previous_end) + ")");
      }
    }
    if (end > size) {
      throw error(errc::parse_error, which + ": byte range ends at " + std::to_string(end) +
                                         ", past the bucket's " + std::to_string(size) + " bytes");
    }
    views.emplace_back(nbytes == 0 ? nullptr : bytes + e.begin, e.type,
                       static_cast<int>(e.shape.size()), e.shape.data(), nullptr, where);
    previous_end = end;
  }
  return views;
}

TENSORHASH_NAMESPACE_END
