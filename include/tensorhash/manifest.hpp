/**
 * @file manifest.hpp
 * @brief Named digests (manifests), SGLang-compatible aggregates, comparison, merging and
 *        filtering, snapshots, and chunk-level diffs of tree digests. No dependency beyond the
 *        standard library; JSON lives in tensorhash/manifest_json.hpp.
 */
#pragma once

#include <tensorhash/blake3.hpp>
#include <tensorhash/canonical.hpp>
#include <tensorhash/config.hpp>
#include <tensorhash/detail/printable.hpp>
#include <tensorhash/digest.hpp>
#include <tensorhash/dtype.hpp>
#include <tensorhash/error.hpp>
#include <tensorhash/hasher.hpp>
#include <tensorhash/host.hpp>
#include <tensorhash/merkle.hpp>
#include <tensorhash/modes.hpp>
#include <tensorhash/sglang.hpp>
#include <tensorhash/view.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

TENSORHASH_NAMESPACE_BEGIN

/// @brief How every digest of a manifest was computed (docs/format.md).
struct digest_settings {
  /// "sha256" (exact), "sha256-tree", "blake3" (exact with BLAKE3), or SGLang's 64-bit
  /// "sglang-hash64" / "sha256-prefix64"
  std::string algorithm = tree::algorithm;
  std::uint64_t chunk_bytes = tree::default_chunk_bytes;  ///< tree chunk size; 0 for exact
  std::optional<dtype> canonical_dtype;  ///< BF16 or F32 canonicalisation; empty: as stored
  /// NaN rule of conversions to BF16 (canonical.hpp): "canonical", "torch-cpu" or "torch-cuda";
  /// always "canonical" unless canonical_dtype is BF16
  std::string nan_rule = nan_canonical::name;

  /// @return the settings of a mode, canonicalisation policy and hasher
  template <class Mode, class Canon = as_stored, class Hasher = sha256>
  static digest_settings of(const Mode& mode) {
    digest_settings s;
    if constexpr (is_blake3_v<Hasher>) {
      s.algorithm = Hasher::algorithm;
    } else {
      s.algorithm = Mode::algorithm;
    }
    if constexpr (std::is_same_v<Mode, tree>) {
      s.chunk_bytes = mode.chunk_bytes();
    } else {
      s.chunk_bytes = 0;
    }
    if constexpr (Canon::name != nullptr) {
      s.canonical_dtype = dtype_from_string(Canon::name);
      if (*s.canonical_dtype == dtype::BF16) {
        s.nan_rule = nan_rule_t<Canon>::name;
      }
    }
    return s;
  }

  /// @return canonical bytes under each leaf a manifest of these settings may record: the
  /// tree's chunk, BLAKE3's 1 MiB subtree (format.md §4.3a), 0 where there are no leaves
  std::uint64_t leaf_bytes() const noexcept {
    return algorithm == tree::algorithm     ? chunk_bytes
           : algorithm == blake3::algorithm ? blake3_leaf_bytes
                                            : 0;
  }

  /// @return bytes per digest: 8 for SGLang's 64-bit algorithms (sglang.hpp), whose digests a
  ///         manifest keeps in the first 8 bytes of a digest256 (big-endian), else 32
  std::uint32_t digest_bytes() const noexcept {
    return algorithm == sglang64::algorithm || algorithm == sglang_cpu64::algorithm ? 8 : 32;
  }

  /// @return the dtype whose bytes were hashed for a tensor stored as `stored`: the canonical
  ///         dtype for floating-point tensors, the stored one otherwise (as the policies do)
  dtype canonical_dtype_for(dtype stored) const noexcept {
    return canonical_dtype && is_floating(stored) ? *canonical_dtype : stored;
  }

  /// @return "sha256-tree, 16384-byte chunks, as stored" and the like
  std::string describe() const {
    std::string out = algorithm;
    if (chunk_bytes != 0) {
      out += ", " + std::to_string(chunk_bytes) + "-byte chunks";
    }
    out += canonical_dtype ? std::string(", as ") + to_string(*canonical_dtype) : ", as stored";
    if (nan_rule != nan_canonical::name) {
      out += ", NaN rule " + nan_rule;
    }
    return out;
  }

  friend bool operator==(const digest_settings& a, const digest_settings& b) {
    return a.algorithm == b.algorithm && a.chunk_bytes == b.chunk_bytes &&
           a.canonical_dtype == b.canonical_dtype && a.nan_rule == b.nan_rule;
  }
  friend bool operator!=(const digest_settings& a, const digest_settings& b) { return !(a == b); }
};

/// @brief One tensor of a manifest: stored dtype, shape, digest, and (optionally) its leaves.
struct manifest_entry {
  dtype type = dtype::U8;
  std::vector<std::int64_t> shape;
  digest256 digest{};
  std::vector<digest256> leaves;  ///< leaf digests (tree chunks, BLAKE3 subtrees), or empty
};

/// @return the lowercase hex of the first `bytes` bytes of `d` (a manifest's digest width)
inline std::string digest_hex(const digest256& d, std::uint32_t bytes = 32) {
  return d.to_hex().substr(0, 2 * std::size_t{bytes});
}

/// @return a 64-bit hash as a manifest keeps it: big-endian in the first 8 bytes, zeros after
inline digest256 digest_of_u64(std::uint64_t h) noexcept {
  digest256 d{};
  for (int i = 0; i < 8; ++i) {
    d.bytes[i] = static_cast<std::uint8_t>(h >> (56 - 8 * i));
  }
  return d;
}

/// @return SHA-256 over each name (UTF-8) then its lowercase hex digest (`digest_bytes` wide),
///         names in code-point order, no separators: SGLang's per-rank weights checksum
template <class Entries>
digest256 names_and_digests_aggregate(const Entries& sorted_entries,
                                      std::uint32_t digest_bytes = 32) {
  hash_stream<sha256> s;
  for (const auto& [name, entry] : sorted_entries) {
    const std::string hex = digest_hex(entry.digest, digest_bytes);
    s.update(name.data(), name.size());
    s.update(hex.data(), hex.size());
  }
  return s.finalize();
}

/**
 * @brief Named digests with the settings they were computed with.
 *
 * Names are kept in code-point order (UTF-8 byte order is code-point order), which is the order
 * the aggregate and every listing use.
 */
class manifest {
 public:
  manifest() = default;
  explicit manifest(digest_settings settings) : settings_(std::move(settings)) {}

  const digest_settings& settings() const noexcept { return settings_; }
  const std::map<std::string, manifest_entry>& tensors() const noexcept { return tensors_; }
  std::size_t size() const noexcept { return tensors_.size(); }

  /// @brief Adds a tensor. @throw error duplicate_name naming it when already present
  void add(const std::string& name, manifest_entry entry) {
    if (!tensors_.emplace(name, std::move(entry)).second) {
      throw error(errc::duplicate_name, "tensor \"" + name + "\" is already in the manifest");
    }
  }

  /// @return the per-rank aggregate (SGLang-compatible; see names_and_digests_aggregate)
  digest256 aggregate() const {
    return names_and_digests_aggregate(tensors_, settings_.digest_bytes());
  }

 private:
  digest_settings settings_;
  std::map<std::string, manifest_entry> tensors_;
};

/// @return SHA-256 over the per-rank aggregates' hex digests in rank order (SGLang per-engine)
inline digest256 engine_aggregate(const std::vector<digest256>& per_rank) {
  hash_stream<sha256> s;
  for (const auto& d : per_rank) {
    const std::string hex = d.to_hex();
    s.update(hex.data(), hex.size());
  }
  return s.finalize();
}

/**
 * @brief Builds a manifest from digests computed elsewhere (for example on the device).
 * @param leaves empty, or every tensor's leaf digests (recorded for chunk-level diffs)
 * @throw error invalid_argument when the lists differ in length, duplicate_name
 */
inline manifest make_manifest(const digest_settings& settings,
                              const std::vector<std::string>& names,
                              const std::vector<tensor_view>& views,
                              const std::vector<digest256>& digests,
                              const std::vector<std::vector<digest256>>& leaves = {}) {
  if (names.size() != views.size() || names.size() != digests.size() ||
      (!leaves.empty() && leaves.size() != names.size())) {
    throw error(errc::invalid_argument,
                "names, views, digests (and leaves, if given) must have the same length");
  }
  manifest m(settings);
  for (std::size_t i = 0; i < names.size(); ++i) {
    manifest_entry e;
    e.type = views[i].dtype();
    for (int d = 0; d < views[i].rank(); ++d) {
      e.shape.push_back(views[i].shape(d));
    }
    e.digest = digests[i];
    if (!leaves.empty()) {
      e.leaves = leaves[i];
    }
    m.add(names[i], std::move(e));
  }
  return m;
}

/**
 * @brief Hashes named host tensors with `engine` into a manifest.
 * @param with_leaves also record every tensor's leaf digests (tree mode: its chunks; BLAKE3:
 *        its 1 MiB subtrees), for chunk-level diffs
 */
template <class Mode, class Canon, class Hasher, class Tuning>
manifest make_manifest(host_engine<Mode, Canon, Hasher, Tuning>& engine,
                       const std::vector<std::string>& names, const std::vector<tensor_view>& views,
                       bool with_leaves = false) {
  static_assert(std::is_same_v<Hasher, sha256> || is_blake3_v<Hasher>,
                "tensorhash: manifests record SHA-256 or BLAKE3 digests; use a host_engine with "
                "tensorhash::sha256 or tensorhash::blake3");
  const digest_settings settings = digest_settings::of<Mode, Canon, Hasher>(engine.mode());
  if constexpr (std::is_same_v<Mode, tree> || is_blake3_v<Hasher>) {
    if (with_leaves) {
      // One pass: each tensor's leaves, and its digest from them (== engine.hash).
      std::vector<std::vector<digest256>> leaves;
      std::vector<digest256> roots;
      for (const auto& v : views) {
        leaves.push_back(engine.leaves(v));
        roots.push_back(is_blake3_v<Hasher> ? blake3_root(leaves.back())
                                            : merkle_root(leaves.back()));
      }
      return make_manifest(settings, names, views, roots, leaves);
    }
  }
  return make_manifest(settings, names, views, engine.hash(views));
}

/// @brief Which tensors a check leaves out: exact names and substrings (SGLang skips rotary
///        caches such as "rotary_emb.inv_freq" this way).
struct skip_rules {
  std::set<std::string> names;
  std::vector<std::string> substrings;

  bool skips(const std::string& name) const {
    if (names.count(name) != 0) {
      return true;
    }
    for (const auto& s : substrings) {
      if (name.find(s) != std::string::npos) {
        return true;
      }
    }
    return false;
  }
};

/// @return the manifest without the tensors `rules` skip
inline manifest filter(const manifest& m, const skip_rules& rules) {
  manifest out(m.settings());
  for (const auto& [name, entry] : m.tensors()) {
    if (!rules.skips(name)) {
      out.add(name, entry);
    }
  }
  return out;
}

/**
 * @brief Merges manifests, each under a role prefix ("", "draft.", ...).
 * @throw error duplicate_name naming a name that two parts produce; invalid_argument when the
 *        parts were computed with different settings
 */
inline manifest merge(const std::vector<std::pair<std::string, manifest>>& parts) {
  if (parts.empty()) {
    return manifest();
  }
  manifest out(parts.front().second.settings());
  for (const auto& [prefix, part] : parts) {
    if (part.settings() != out.settings()) {
      throw error(errc::invalid_argument, "cannot merge manifests with different settings (" +
                                              part.settings().describe() + " vs " +
                                              out.settings().describe() + ")");
    }
    for (const auto& [name, entry] : part.tensors()) {
      out.add(prefix + name, entry);
    }
  }
  return out;
}

/// @brief The outcome of comparing an expected manifest with an actual one.
struct comparison {
  struct mismatch {
    std::string name;
    digest256 expected, actual;
  };
  struct metadata_difference {
    std::string name;
    manifest_entry expected, actual;
  };
  bool settings_differ = false;  ///< digests were computed differently: nothing is comparable
  std::string settings_note;
  std::uint32_t digest_bytes = 32;  ///< width of the digests (8 for SGLang's algorithms)
  std::vector<std::string> matched;
  std::vector<mismatch> mismatched;           ///< same dtype and shape, different digest
  std::vector<metadata_difference> metadata;  ///< dtype or shape differ
  std::vector<std::string> missing;           ///< expected, absent
  std::vector<std::string> unexpected;        ///< present, not expected

  /// True when every expected tensor is present with the same dtype, shape and digest.
  bool ok() const noexcept {
    return !settings_differ && mismatched.empty() && metadata.empty() && missing.empty() &&
           unexpected.empty();
  }

  /// @return a readable report: one line per difference, then the counts
  std::string summary() const {
    std::ostringstream out;
    if (settings_differ) {
      out << "settings differ: " << settings_note << "\n";
    }
    for (const auto& m : mismatched) {
      out << "MISMATCH   " << detail::printable(m.name) << "  expected "
          << digest_hex(m.expected, digest_bytes) << "  actual "
          << digest_hex(m.actual, digest_bytes) << "\n";
    }
    for (const auto& m : metadata) {
      out << "METADATA   " << detail::printable(m.name) << "  expected " << describe(m.expected)
          << "  actual " << describe(m.actual) << "\n";
    }
    for (const auto& n : missing) {
      out << "MISSING    " << detail::printable(n) << "\n";
    }
    for (const auto& n : unexpected) {
      out << "UNEXPECTED " << detail::printable(n) << "\n";
    }
    out << matched.size() << " matched, " << mismatched.size() << " mismatched, " << metadata.size()
        << " dtype/shape differences, " << missing.size() << " missing, " << unexpected.size()
        << " unexpected\n";
    return out.str();
  }

  /// @return "BF16[4096, 4096]"
  static std::string describe(const manifest_entry& e) {
    return to_string(e.type) + detail::shape_text(e.shape);
  }
};

/**
 * @return how `actual` differs from `expected`
 * @throw error invalid_argument when one manifest is BLAKE3 and the other is not: no digest of
 *        one hash function can ever match one of another, so there is nothing to compare
 */
inline comparison compare(const manifest& expected, const manifest& actual) {
  const bool blake3_expected = expected.settings().algorithm == blake3::algorithm;
  if (blake3_expected != (actual.settings().algorithm == blake3::algorithm)) {
    throw error(errc::invalid_argument,
                "the manifests were hashed with different hash functions (expected " +
                    expected.settings().algorithm + ", actual " + actual.settings().algorithm +
                    "): hash both with the same --hasher");
  }
  comparison c;
  c.digest_bytes = expected.settings().digest_bytes();
  if (expected.settings() != actual.settings()) {
    c.settings_differ = true;
    c.settings_note =
        "expected " + expected.settings().describe() + ", actual " + actual.settings().describe();
  }
  for (const auto& [name, e] : expected.tensors()) {
    const auto it = actual.tensors().find(name);
    if (it == actual.tensors().end()) {
      c.missing.push_back(name);
    } else if (e.type != it->second.type || e.shape != it->second.shape) {
      c.metadata.push_back({name, e, it->second});
    } else if (c.settings_differ || e.digest != it->second.digest) {
      if (!c.settings_differ) {
        c.mismatched.push_back({name, e.digest, it->second.digest});
      }
    } else {
      c.matched.push_back(name);
    }
  }
  for (const auto& [name, a] : actual.tensors()) {
    if (expected.tensors().count(name) == 0) {
      c.unexpected.push_back(name);
    }
  }
  return c;
}

/// @brief A chunk whose leaf digests differ, with the bytes and elements it covers.
struct chunk_difference {
  std::uint64_t chunk;       ///< leaf index
  std::uint64_t byte_begin;  ///< canonical byte range [begin, end)
  std::uint64_t byte_end;
  std::uint64_t element_begin;  ///< row-major element range [begin, end)
  std::uint64_t element_end;
};

/**
 * @brief Locates differences between two trees of one tensor from their leaf digests alone.
 * @param canonical_bytes size of the expected tensor's canonical bytes
 * @param element_bytes   canonical element size
 * @param limit           at most this many differences are returned (first ones first)
 */
inline std::vector<chunk_difference> diff_leaves(const std::vector<digest256>& expected,
                                                 const std::vector<digest256>& actual,
                                                 std::uint64_t chunk_bytes,
                                                 std::uint64_t canonical_bytes,
                                                 std::uint32_t element_bytes,
                                                 std::size_t limit = 16) {
  std::vector<chunk_difference> out;
  const std::size_t n = std::max(expected.size(), actual.size());
  for (std::size_t i = 0; i < n && out.size() < limit; ++i) {
    if (i < expected.size() && i < actual.size() && expected[i] == actual[i]) {
      continue;
    }
    const std::uint64_t begin = i * chunk_bytes;
    const std::uint64_t end = std::max(begin, std::min(begin + chunk_bytes, canonical_bytes));
    out.push_back({i, begin, end, begin / element_bytes, end / element_bytes});
  }
  return out;
}

/**
 * @brief Digests of live host tensors taken now, to learn later which of them changed: the
 *        digest-based replacement of keeping a host copy of every weight.
 */
template <class Mode = tree, class Canon = as_stored>
class host_snapshot {
 public:
  /// Hashes `views` now. The views must stay valid until the last `changes()` call.
  host_snapshot(std::vector<std::string> names, std::vector<tensor_view> views, Mode mode = Mode{})
      : names_(std::move(names)), views_(std::move(views)), engine_(mode) {
    taken_ = make_manifest(engine_, names_, views_);
  }

  /// The manifest taken at construction.
  const manifest& taken() const noexcept { return taken_; }

  /// @return the comparison of the tensors now against the snapshot
  comparison changes() { return compare(taken_, make_manifest(engine_, names_, views_)); }

 private:
  std::vector<std::string> names_;
  std::vector<tensor_view> views_;
  host_engine<Mode, Canon> engine_;
  manifest taken_;
};

TENSORHASH_NAMESPACE_END
