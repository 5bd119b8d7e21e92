/**
 * @file safetensors.hpp
 * @brief A strict, memory-mapped safetensors reader (needs nlohmann/json).
 *
 * Layout: an 8-byte little-endian header length N, N bytes of UTF-8 JSON (an object mapping each
 * tensor name to {"dtype", "shape", "data_offsets": [begin, end]}, plus an optional
 * "__metadata__" object of strings), then the data. As strict as the reference implementation:
 * N <= 100 000 000 and within the file; the header a JSON object; known dtypes; offsets that,
 * sorted, start at 0 and follow each other with no hole or overlap; end - begin equal to
 * numel x dtype size (with overflow checks); no bytes after the last tensor; no duplicate names.
 * Every violation is one `tensorhash::error` (parse_error, unknown_dtype, duplicate_name,
 * io_error) whose message names the file and the tensor.
 */
#pragma once

#include <tensorhash/config.hpp>
#include <tensorhash/detail/file_io.hpp>
#include <tensorhash/detail/json_strict.hpp>
#include <tensorhash/dtype.hpp>
#include <tensorhash/error.hpp>
#include <tensorhash/view.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

TENSORHASH_NAMESPACE_BEGIN

/// Largest header the reference implementation accepts.
inline constexpr std::uint64_t safetensors_max_header = 100000000;

/// @brief One tensor of a safetensors file; offsets are relative to the data section.
struct safetensors_tensor {
  std::string name;
  dtype type = dtype::U8;
  std::vector<std::int64_t> shape;
  std::uint64_t begin = 0;
  std::uint64_t end = 0;
};

/// @brief A validated header: tensors in data order, metadata, where the data starts.
struct safetensors_header {
  std::vector<safetensors_tensor> tensors;
  std::map<std::string, std::string> metadata;
  std::uint64_t data_offset = 0;  ///< 8 + N
};

namespace detail {

inline std::int64_t parse_extent(const nlohmann::json& d, const std::string& where) {
  if (!d.is_number_unsigned() || d.get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX)) {
    throw error(errc::parse_error, where + ": shape holds a value that is not a size");
  }
  return d.get<std::int64_t>();
}

inline safetensors_tensor parse_tensor_info(const std::string& name, const nlohmann::json& info,
                                            const std::string& where) {
  if (!info.is_object()) {
    throw error(errc::parse_error, where + ": tensor info is not an object");
  }
  safetensors_tensor t;
  t.name = name;
  const auto type = info.find("dtype");
  const auto shape = info.find("shape");
  const auto offsets = info.find("data_offsets");
  if (type == info.end() || shape == info.end() || offsets == info.end()) {
    throw error(errc::parse_error, where + ": needs dtype, shape and data_offsets");
  }
  if (!type->is_string()) {
    throw error(errc::parse_error, where + ": dtype is not a string");
  }
  try {
    t.type = dtype_from_string(type->get<std::string>());
  } catch (const error& e) {
    throw error(errc::unknown_dtype, where + ": " + e.message());
  }
  if (!shape->is_array()) {
    throw error(errc::parse_error, where + ": shape is not an array");
  }
  if (shape->size() > static_cast<std::size_t>(max_rank)) {
    throw error(errc::rank_too_large, where + ": " + std::to_string(shape->size()) +
                                          " dimensions, more than " + std::to_string(max_rank));
  }
  for (const auto& d : *shape) {
    t.shape.push_back(parse_extent(d, where));
  }
  if (!offsets->is_array() || offsets->size() != 2 || !(*offsets)[0].is_number_unsigned() ||
      !(*offsets)[1].is_number_unsigned()) {
    throw error(errc::parse_error, where + ": data_offsets is not a pair of sizes");
  }
  t.begin = (*offsets)[0].get<std::uint64_t>();
  t.end = (*offsets)[1].get<std::uint64_t>();
  return t;
}

}  // namespace detail

/**
 * @brief Parses and validates the header of a whole safetensors file held in `bytes[0, size)`.
 * @param label names the file in error messages
 */
inline safetensors_header parse_safetensors(const std::uint8_t* bytes, std::uint64_t size,
                                            const std::string& label) {
  if (size < 8) {
    throw error(errc::parse_error, label + ": not a safetensors file (" + std::to_string(size) +
                                       " bytes: too short for the 8-byte header length)");
  }
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) {
    n = (n << 8) | bytes[i];
  }
  if (n > safetensors_max_header) {
    throw error(errc::parse_error, label + ": not a safetensors file (its header length " +
                                       std::to_string(n) +
                                       " exceeds the limit of 100000000 bytes)");
  }
  if (n > size - 8) {
    throw error(errc::parse_error, label + ": not a safetensors file (its header length " +
                                       std::to_string(n) + " runs past the end of the file of " +
                                       std::to_string(size) + " bytes)");
  }
  const std::string_view text(reinterpret_cast<const char*>(bytes + 8), n);
  if (text.empty() || text.front() != '{') {
    throw error(errc::parse_error,
                label + ": not a safetensors file (its header does not start with '{')");
  }
  const nlohmann::json j = detail::parse_json_strict(text, label + ": header");
  if (!j.is_object()) {
    throw error(errc::parse_error, label + ": header is not a JSON object");
  }
  safetensors_header h;
  h.data_offset = 8 + n;
  for (const auto& [name, info] : j.items()) {
    if (name == "__metadata__") {
      if (!info.is_object()) {
        throw error(errc::parse_error, label + ": __metadata__ is not an object");
      }
      for (const auto& [key, value] : info.items()) {
        if (!value.is_string()) {
          throw error(errc::parse_error,
                      label + ": __metadata__ value of \"" + key + "\" is not a string");
        }
        h.metadata[key] = value.get<std::string>();
      }
      continue;
    }
    h.tensors.push_back(detail::parse_tensor_info(name, info, label + ": tensor \"" + name + "\""));
  }
  // Data order; ties (empty tensors at one offset) keep name order, as the Python reader's.
  std::stable_sort(h.tensors.begin(), h.tensors.end(),
                   [](const safetensors_tensor& a, const safetensors_tensor& b) {
                     return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
                   });
  std::uint64_t expected_begin = 0;
  const std::uint64_t data_bytes = size - h.data_offset;
  for (const auto& t : h.tensors) {
    const std::string where = label + ": tensor \"" + t.name + "\"";
    // Shape and byte size, with the same overflow checks as any view.
    std::uint64_t nbytes = 0;
    try {
      const tensor_view shape_only(bytes, t.type, static_cast<int>(t.shape.size()), t.shape.data());
      nbytes = shape_only.nbytes();
    } catch (const error& e) {
      throw error(e.code(), where + ": " + e.message());
    }
    if (t.end < t.begin) {
      throw error(errc::parse_error, where + ": data_offsets [" + std::to_string(t.begin) + ", " +
                                         std::to_string(t.end) +
                                         ") are reversed: the end is before the start");
    }
    if (t.begin != expected_begin) {
      throw error(errc::parse_error,
                  where + ": data starts at " + std::to_string(t.begin) + " but " +
                      (t.begin < expected_begin ? "overlaps the previous tensor, which ends at "
                                                : "leaves a hole after byte ") +
                      std::to_string(expected_begin));
    }
    if (t.end < t.begin || t.end - t.begin != nbytes) {
      throw error(errc::parse_error, where + ": data_offsets [" + std::to_string(t.begin) + ", " +
                                         std::to_string(t.end) + ") do not hold the " +
                                         std::to_string(nbytes) + " bytes of its shape");
    }
    if (t.end > data_bytes) {
      throw error(errc::parse_error, where + ": data ends at " + std::to_string(t.end) +
                                         ", past the " + std::to_string(data_bytes) +
                                         " data bytes of the file");
    }
    expected_begin = t.end;
  }
  if (expected_begin != data_bytes) {
    throw error(errc::parse_error, label + ": " + std::to_string(data_bytes - expected_begin) +
                                       " trailing bytes after the last tensor");
  }
  return h;
}

/// @brief A safetensors file mapped read-only and validated; views point into the mapping.
class safetensors_file {
 public:
  /// @throw error io_error, or the errors of parse_safetensors naming the file
  explicit safetensors_file(const std::string& path)
      : path_(path), map_(path), header_(parse(map_, path)) {}

  const std::string& path() const noexcept { return path_; }
  const std::vector<safetensors_tensor>& tensors() const noexcept { return header_.tensors; }
  const std::map<std::string, std::string>& metadata() const noexcept { return header_.metadata; }

  /// Call when done reading the views: a file truncated or rewritten meanwhile gave them bytes
  /// that mix old and new (zeros past a truncation; never a SIGBUS, detail/map_guard.hpp).
  /// @throw error io_error "changed while being read" naming the file
  void check_unchanged() const { map_.require_unchanged(path_); }

  /// @return a host view of tensor `t` of this file
  tensor_view view(const safetensors_tensor& t) const {
    const std::uint8_t* p = map_.data() + header_.data_offset + t.begin;
    return tensor_view(t.end == t.begin ? nullptr : p, t.type, static_cast<int>(t.shape.size()),
                       t.shape.data());
  }

 private:
  static safetensors_header parse(const detail::mapped_file& map, const std::string& path) {
    try {
      return parse_safetensors(map.data(), map.size(), path);
    } catch (const error&) {
      map.require_unchanged(path);  // a header cut short by a writer: say that, not "malformed"
      throw;
    }
  }

  std::string path_;
  detail::mapped_file map_;
  safetensors_header header_;
};

TENSORHASH_NAMESPACE_END
