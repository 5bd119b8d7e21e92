// tensorhash: hash safetensors checkpoints into manifests, compare manifests, locate differences.
//
//   tensorhash hash PATH... [--mode exact|tree|sglang|sglang-cpu] [--hasher sha256|blake3]
//                           [--chunk-bytes N] [--as BF16|F32] [--nan-rule R]
//                           [--device auto|cpu|cuda] [--leaves] [--threads N] [-o FILE]
//   tensorhash expect PATH... --engine sglang --tp N [--ep M] [--mode sglang|sglang-cpu]
//                             [--as BF16|F32] [--nan-rule R] [--config config.json]
//                             [--threads N] [-o FILE]
//   tensorhash compare EXPECTED.json ACTUAL.json       (manifests or SGLang replies)
//   tensorhash diff A B [--hasher sha256|blake3] [--chunk-bytes N] [--as BF16|F32] [--all-chunks]
//                       (manifests with leaves, SGLang replies, or safetensors files/directories)
// Exit codes: 0 success or no difference, 1 differences found, 2 bad input or usage.
// On error nothing is written.
#include <tensorhash/detail/file_io.hpp>
#include <tensorhash/detail/json_strict.hpp>
#include <tensorhash/detail/printable.hpp>
#include <tensorhash/manifest.hpp>
#include <tensorhash/manifest_json.hpp>
#include <tensorhash/progress.hpp>
#include <tensorhash/safetensors.hpp>
#include <tensorhash/sglang_checksum.hpp>
#include <tensorhash/sglang_checksum_json.hpp>
#include <tensorhash/tensorhash.hpp>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#if defined(TENSORHASH_CLI_WITH_CUDA)
#include "cli_device.hpp"
#endif

namespace th = tensorhash;
namespace fs = std::filesystem;

namespace {

constexpr int exit_differences = 1;
constexpr int exit_bad_input = 2;
/// An error line names at most this many bytes of its message (a path, a tensor name), escaped.
constexpr std::size_t max_error_bytes = 2000;
constexpr const char* exit_codes =
    "Exit codes: 0 success (compare, diff: no difference), 1 differences found, 2 bad input or "
    "usage (one line on stderr; nothing is written).";
constexpr const char* threads_help =
    "CPU threads (default, or 0: every hardware thread; at most 4 x the hardware threads)";

std::string version_line() {
  return "tensorhash " + std::to_string(TENSORHASH_VERSION_MAJOR) + "." +
         std::to_string(TENSORHASH_VERSION_MINOR) + "." + std::to_string(TENSORHASH_VERSION_PATCH) +
#if defined(TENSORHASH_CLI_WITH_CUDA)
         " (CUDA device backend built in)";
#else
         " (CPU only)";
#endif
}

/// Every tensor of a set of safetensors files (a sharded checkpoint), names unique across files.
struct checkpoint {
  std::vector<std::unique_ptr<th::safetensors_file>> files;
  std::vector<std::string> names;
  std::vector<th::tensor_view> views;
  std::uint64_t bytes = 0;

  /// @throw th::error io_error when a file was truncated or rewritten while it was read
  void check_unchanged() const {
    for (const auto& f : files) {
      f->check_unchanged();
    }
  }
};

std::vector<std::string> expand_paths(const std::vector<std::string>& paths) {
  std::vector<std::string> files;
  for (const auto& p : paths) {
    if (fs::is_directory(p)) {
      std::vector<std::string> found;
      for (const auto& e : fs::directory_iterator(p)) {
        if (e.path().extension() == ".safetensors") {
          found.push_back(e.path().string());
        }
      }
      if (found.empty()) {
        throw th::error(th::errc::io_error, p + ": no .safetensors files in this directory");
      }
      std::sort(found.begin(), found.end());
      for (const auto& f : found) {  // a dangling link or a FIFO is no shard to leave out
        std::error_code ec;
        if (!fs::is_regular_file(f, ec)) {
          throw th::error(th::errc::io_error,
                          f + ": not a regular file (a dangling link, FIFO or directory named "
                              "*.safetensors)");
        }
      }
      files.insert(files.end(), found.begin(), found.end());
    } else {
      files.push_back(p);
    }
  }
  return files;
}

/// Refuses an -o that names one of the inputs (a checkpoint file, a config): writing it would
/// destroy what was to be checked.
void refuse_output_among(const std::string& out, const std::vector<std::string>& inputs) {
  if (!out.empty()) {
    th::detail::require_writable_target(out);  // before the hashing, not an hour after it
  }
  for (const auto& in : inputs) {
    if (!out.empty() && th::detail::same_file(out, in)) {
      throw th::error(th::errc::invalid_argument,
                      "-o " + out + " is one of the inputs (" + in +
                          "): it would be overwritten; write the output elsewhere");
    }
  }
}

checkpoint open_checkpoint(const std::vector<std::string>& paths) {
  checkpoint c;
  std::map<std::string, std::string> owner;
  for (const auto& path : expand_paths(paths)) {
    c.files.push_back(std::make_unique<th::safetensors_file>(path));
    const auto& file = *c.files.back();
    for (const auto& t : file.tensors()) {
      const auto [it, fresh] = owner.emplace(t.name, path);
      if (!fresh) {
        throw th::error(th::errc::duplicate_name,
                        "tensor \"" + t.name + "\" is in both " + it->second + " and " + path);
      }
      c.names.push_back(t.name);
      c.views.push_back(file.view(t));
      c.bytes += t.end - t.begin;
    }
  }
  return c;
}

/// An integer option as given: CLI11 would saturate one past 64 bits and report another number.
struct integer_text {
  std::string text;
  /// @return the value, or nullopt when `text` is not a 64-bit integer
  std::optional<std::int64_t> value() const {
    std::int64_t v = 0;
    const char* end = text.data() + text.size();
    const auto [at, err] = std::from_chars(text.data(), end, v);
    return err == std::errc() && at == end && !text.empty() ? std::optional<std::int64_t>(v)
                                                            : std::nullopt;
  }
  /// @return whether `text` is an integer at all (optional '-', then digits), of any size
  bool is_integer() const {
    const std::size_t digits = !text.empty() && text[0] == '-' ? 1 : 0;
    return text.size() > digits &&
           text.find_first_not_of("0123456789", digits) == std::string::npos;
  }
};

struct hash_options {
  std::string mode = "tree";
  bool mode_given = false;        ///< --mode was on the command line
  std::string hasher = "sha256";  ///< --hasher: "sha256" or "blake3"
  integer_text chunk_text{std::to_string(th::tree::default_chunk_bytes)};  ///< --chunk-bytes
  std::string canonical;                                                   // "", "BF16" or "F32"
  std::string nan_rule = th::nan_canonical::name;
  std::string device = "auto";
  bool leaves = false;
  unsigned threads = 0;

  /// The tree chunk size (settings_of refuses, in tree mode, a text that is none or negative).
  std::uint64_t chunk_bytes() const {
    return static_cast<std::uint64_t>(chunk_text.value().value_or(th::tree::default_chunk_bytes));
  }
};

/// The CPU engine of a mode: host_engine (exact, tree) or sglang_engine (SGLang's hashes).
template <class Mode, class Canon, class Hasher>
auto cpu_engine(Mode mode, unsigned threads) {
  if constexpr (th::is_sglang_mode_v<Mode>) {
    return th::sglang_engine<Mode, Canon>(threads);
  } else {
    return th::host_engine<Mode, Canon, Hasher>(mode, threads);
  }
}

th::digest256 as_digest(const th::digest256& d) {
  return d;
}
th::digest256 as_digest(std::uint64_t h) {
  return th::digest_of_u64(h);
}

template <class Mode, class Canon, class Hasher = th::sha256>
th::manifest hash_on_cpu(const checkpoint& c, const hash_options& o, Mode mode) {
  auto engine = cpu_engine<Mode, Canon, Hasher>(mode, o.threads);
  if constexpr (std::is_same_v<Mode, th::tree> || th::is_blake3_v<Hasher>) {
    if (o.leaves) {
      return th::make_manifest(engine, c.names, c.views, true);
    }
  }
  // Exact and SGLang modes: one call over the whole checkpoint, every thread busy until the
  // end (batches cut for a progress bar left threads idle behind each batch's longest chain);
  // the bar polls the engine instead. Tree mode, parallel over leaves anyway, is cut into
  // batches of at most 2^24 leaves, so that its leaf digests (32 bytes each) stay under 512 MiB
  // whatever the checkpoint's size and chunk size.
  std::uint64_t canonical = 0;
  for (const auto& v : c.views)
    canonical += v.numel() * th::size_of(engine.canonical_dtype(v.dtype()));
  std::vector<th::digest256> digests;
  const th::progress_bar bar(canonical, [&] { return engine.hashed_bytes(); });
  for (std::size_t i = 0; i < c.views.size();) {
    std::size_t j = c.views.size();
    if constexpr (std::is_same_v<Mode, th::tree>) {
      std::uint64_t leaves = 0;
      for (j = i; j < c.views.size(); ++j) {
        leaves += mode.leaf_count(c.views[j].numel() *
                                  th::size_of(engine.canonical_dtype(c.views[j].dtype())));
        if (j > i && leaves > (std::uint64_t{1} << 24))
          break;
      }
    }
    const std::vector<th::tensor_view> part(c.views.begin() + static_cast<std::ptrdiff_t>(i),
                                            c.views.begin() + static_cast<std::ptrdiff_t>(j));
    for (const auto& d : engine.hash(part))
      digests.push_back(as_digest(d));
    i = j;
  }
  return th::make_manifest(th::digest_settings::of<Mode, Canon, Hasher>(mode), c.names, c.views,
                           digests);
}

/// The digest mode name of runtime_policy.hpp: "blake3", or --mode's "exact" / "tree".
std::string digest_mode(const hash_options& o) {
  return o.hasher == "blake3" ? "blake3" : o.mode;
}

template <class Canon>
th::manifest hash_on_cpu(const checkpoint& c, const hash_options& o) {
  if (o.mode == "sglang")
    return hash_on_cpu<th::sglang64, Canon>(c, o, th::sglang64{});
  if (o.mode == "sglang-cpu")
    return hash_on_cpu<th::sglang_cpu64, Canon>(c, o, th::sglang_cpu64{});
  return th::with_digest_mode(digest_mode(o), o.chunk_bytes(), [&](auto mode, auto hasher) {
    return hash_on_cpu<decltype(mode), Canon, typename decltype(hasher)::type>(c, o, mode);
  });
}

th::digest_settings settings_of(const hash_options& o) {
  if (o.hasher == "blake3" && o.mode != "exact") {
    throw th::error(th::errc::invalid_argument,
                    "--hasher blake3 is a tree hash itself, parallel as it is: use --mode exact "
                    "(the default with --hasher blake3), not --mode " +
                        o.mode);
  }
  th::digest_settings s;
  s.algorithm = o.hasher == "blake3"     ? th::blake3::algorithm
                : o.mode == "exact"      ? th::exact::algorithm
                : o.mode == "sglang"     ? th::sglang64::algorithm
                : o.mode == "sglang-cpu" ? th::sglang_cpu64::algorithm
                                         : th::tree::algorithm;
  if (o.mode == "tree" && (!o.chunk_text.value() || *o.chunk_text.value() < 0)) {
    throw th::error(
        th::errc::invalid_chunk_size,  // the library's message, the number as given
        "tree chunk_bytes must be a power of two from 1024 to 16777216, got " + o.chunk_text.text);
  }
  s.chunk_bytes = o.mode == "tree" ? th::tree(o.chunk_bytes()).chunk_bytes() : 0;
  if (o.leaves && o.mode != "tree" && o.hasher != "blake3") {
    throw th::error(th::errc::invalid_argument, "--leaves needs --mode tree or --hasher blake3");
  }
  if (!o.canonical.empty())
    s.canonical_dtype = th::dtype_from_string(o.canonical);
  if (o.nan_rule != th::nan_canonical::name && o.canonical != "BF16") {
    throw th::error(th::errc::invalid_argument,
                    "--nan-rule " + o.nan_rule + " applies to --as BF16 only");
  }
  s.nan_rule = o.nan_rule;
  return s;
}

/// Resolves --device: "cpu" or "cuda"; refuses cuda where this build or machine has none.
std::string resolve_device(const hash_options& o) {
#if defined(TENSORHASH_CLI_WITH_CUDA)
  const bool cuda = cli::cuda_device_present();
#else
  const bool cuda = false;
#endif
  if (o.device == "cuda" && !cuda) {
    throw th::error(th::errc::invalid_argument,
                    "--device cuda: no CUDA device (or this tensorhash was built without CUDA)");
  }
  const bool sglang = o.mode == "sglang" || o.mode == "sglang-cpu";
  if (o.device == "cuda" && sglang) {
    throw th::error(th::errc::invalid_argument,
                    "--mode " + o.mode + " is computed on the CPU; use --device cpu");
  }
  if (o.device == "auto")
    return cuda && !o.leaves && !sglang ? "cuda" : "cpu";
  return o.device;
}

th::manifest hash_checkpoint(const checkpoint& c, const hash_options& o,
                             const std::string& device) {
#if defined(TENSORHASH_CLI_WITH_CUDA)
  if (device == "cuda") {
    if (o.leaves) {
      throw th::error(th::errc::invalid_argument,
                      "--leaves is computed on the CPU; use --device cpu");
    }
    return th::make_manifest(
        settings_of(o), c.names, c.views,
        cli::hash_on_device(c.views, digest_mode(o), o.chunk_bytes(), o.canonical, o.nan_rule));
  }
#else
  (void)device;
#endif
  return th::with_canonicalization(o.canonical, o.nan_rule,
                                   [&](auto canon) { return hash_on_cpu<decltype(canon)>(c, o); });
}

int run_hash(const std::vector<std::string>& paths, hash_options o, const std::string& out) {
  if (o.hasher == "blake3" && !o.mode_given)
    o.mode = "exact";
  settings_of(o);  // validates the chunk size and NaN rule before any file is read
  refuse_output_among(out, expand_paths(paths));
  const auto start = std::chrono::steady_clock::now();
  const checkpoint c = open_checkpoint(paths);
  const std::string device = resolve_device(o);
  const th::manifest m = hash_checkpoint(c, o, device);
  c.check_unchanged();  // before anything is written: no manifest of bytes that moved
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (out.empty()) {
    std::cout << th::to_json(m).dump(1) << "\n";
  } else {
    th::write_manifest(out, m);
  }
  std::fprintf(stderr, "%zu tensors, %.3f GB in %zu file(s), %s on %s: %.3f s (%.2f GB/s)\n",
               m.size(), static_cast<double>(c.bytes) / 1e9, c.files.size(),
               m.settings().describe().c_str(), device.c_str(), s,
               static_cast<double>(c.bytes) / 1e9 / s);
  std::fprintf(stderr, "aggregate %s%s%s\n", m.aggregate().to_hex().c_str(),
               out.empty() ? "" : ", manifest written to ", out.c_str());
  return 0;
}

/// A manifest, or an SGLang reply read as one.
th::sglang_checksums as_sglang(const th::manifest_or_reply& doc, const std::string& path) {
  if (const auto* reply = std::get_if<th::sglang_checksums>(&doc)) {
    return *reply;
  }
  try {
    return th::sglang_checksums_of(std::get<th::manifest>(doc));
  } catch (const th::error& e) {
    throw th::error(e.code(), path + ": " + e.message() + " (the other side is an SGLang reply)");
  }
}

/// Compares two documents of which at least one is an SGLang reply: GPU by GPU, tensor by tensor.
int compare_sglang(const th::manifest_or_reply& e, const std::string& expected_path,
                   const th::manifest_or_reply& a, const std::string& actual_path, bool json) {
  const th::sglang_comparison c =
      th::compare(as_sglang(e, expected_path), as_sglang(a, actual_path));
  if (json) {
    std::cout << th::to_json(c).dump(1) << "\n";
  } else {
    std::cout << c.summary();
  }
  return c.ok() ? 0 : exit_differences;
}

int run_compare(const std::string& expected_path, const std::string& actual_path, bool json) {
  const th::manifest_or_reply e = th::read_manifest_or_reply(expected_path);
  const th::manifest_or_reply a = th::read_manifest_or_reply(actual_path);
  if (!std::holds_alternative<th::manifest>(e) || !std::holds_alternative<th::manifest>(a)) {
    return compare_sglang(e, expected_path, a, actual_path, json);
  }
  const th::manifest& expected = std::get<th::manifest>(e);
  const th::manifest& actual = std::get<th::manifest>(a);
  if (expected.settings() != actual.settings()) {
    throw th::error(th::errc::invalid_argument,
                    "the manifests were hashed differently (" + expected.settings().describe() +
                        " vs " + actual.settings().describe() +
                        "): no digest can be compared; hash both the same way");
  }
  const th::comparison c = th::compare(expected, actual);
  if (json) {
    std::cout << th::to_json(c).dump(1) << "\n";
  } else {
    std::cout << c.summary();
  }
  return c.ok() ? 0 : exit_differences;
}

bool is_manifest(const std::string& path) {
  return fs::path(path).extension() == ".json";
}

/// Leaf digests of a checkpoint's tensors, as manifest entries with leaves.
th::manifest leaves_of(const std::string& path, const hash_options& o) {
  hash_options with = o;
  with.mode = o.hasher == "blake3" ? "exact" : "tree";
  with.leaves = true;
  const checkpoint c = open_checkpoint({path});
  th::manifest m = hash_checkpoint(c, with, "cpu");
  c.check_unchanged();
  return m;
}

int run_diff(const std::string& a, const std::string& b, hash_options o, bool all_chunks) {
  if (o.hasher == "blake3")
    o.mode = "exact";
  settings_of(o);  // the chunk size and NaN rule, as hash checks them, before any file is read
  // An SGLang reply holds one hash per tensor and no chunks: its differences are the tensors
  // and GPUs that compare names.
  const auto read = [&](const std::string& path) {
    return is_manifest(path) ? th::read_manifest_or_reply(path)
                             : th::manifest_or_reply(leaves_of(path, o));
  };
  const th::manifest_or_reply doc_a = read(a);
  const th::manifest_or_reply doc_b = read(b);
  if (!std::holds_alternative<th::manifest>(doc_a) ||
      !std::holds_alternative<th::manifest>(doc_b)) {
    return compare_sglang(doc_a, a, doc_b, b, false);
  }
  const th::manifest& expected = std::get<th::manifest>(doc_a);
  const th::manifest& actual = std::get<th::manifest>(doc_b);
  if (expected.settings().leaf_bytes() == 0 || expected.settings() != actual.settings()) {
    throw th::error(th::errc::invalid_argument,
                    "diff needs two tree or BLAKE3 digests with the same settings (" +
                        expected.settings().describe() + " vs " + actual.settings().describe() +
                        ")");
  }
  const th::comparison c = th::compare(expected, actual);
  for (const auto& m : c.mismatched) {
    const auto& e = expected.tensors().at(m.name);
    const auto& g = actual.tensors().at(m.name);
    std::cout << "CHUNKS     " << th::detail::printable(m.name) << "\n";
    if (e.leaves.empty() || g.leaves.empty()) {
      std::cout << "  (no leaf digests recorded: hash with --leaves to locate the chunks)\n";
      continue;
    }
    std::uint64_t numel = 1;
    for (auto d : e.shape)
      numel *= static_cast<std::uint64_t>(d);
    const auto element = th::size_of(expected.settings().canonical_dtype_for(e.type));
    const auto chunks = th::diff_leaves(e.leaves, g.leaves, expected.settings().leaf_bytes(),
                                        numel * element, element, SIZE_MAX);
    const std::size_t shown = all_chunks ? chunks.size() : std::min<std::size_t>(chunks.size(), 16);
    for (std::size_t i = 0; i < shown; ++i) {
      const auto& d = chunks[i];
      std::cout << "  chunk " << d.chunk << ": bytes [" << d.byte_begin << ", " << d.byte_end
                << "), elements [" << d.element_begin << ", " << d.element_end << ")\n";
    }
    if (shown < chunks.size()) {
      std::cout << "  ... and " << chunks.size() - shown
                << " more chunks (--all-chunks lists them)\n";
    }
  }
  std::cout << c.summary();
  return c.ok() ? 0 : exit_differences;
}

struct expect_options {
  std::string engine = "sglang";
  integer_text tp;       ///< --tp, as given
  integer_text ep{"1"};  ///< --ep, as given
  std::string config;    // config.json; default: beside the checkpoint
};

/// The HF config.json of a checkpoint: the first directory given, or the first file's directory.
std::string find_config(const std::vector<std::string>& paths, const expect_options& e) {
  if (!e.config.empty())
    return e.config;
  const fs::path first(paths.front());
  const fs::path config = (fs::is_directory(first) ? first : first.parent_path()) / "config.json";
  if (!fs::exists(config)) {
    throw th::error(th::errc::io_error,
                    config.string() +
                        " does not exist: pass the model's HF config with "
                        "--config (heads, kv heads, head_dim, tied embeddings)");
  }
  return config.string();
}

int run_expect(const std::vector<std::string>& paths, const hash_options& o,
               const expect_options& e, const std::string& out) {
  settings_of(o);
  if (o.mode != "sglang" && o.mode != "sglang-cpu") {
    throw th::error(th::errc::invalid_argument,
                    "expect --engine sglang computes SGLang's checksums: --mode sglang (an engine "
                    "on GPUs) or sglang-cpu (an engine on CPUs)");
  }
  const auto size = [](const integer_text& t, const char* flag) {
    const std::optional<std::int64_t> given = t.value();
    if (!given) {
      throw th::error(
          th::errc::invalid_argument,
          std::string(flag) + " " + t.text +
              (t.is_integer() ? " is out of range (1 to 2^63-1)" : " is not an integer"));
    }
    if (*given < 1) {
      throw th::error(th::errc::invalid_argument, std::string(flag) + " must be at least 1");
    }
    return *given;
  };
  const std::int64_t tp = size(e.tp, "--tp"), ep = size(e.ep, "--ep");
  std::vector<std::string> inputs = expand_paths(paths);
  const std::string config = find_config(paths, e);
  inputs.push_back(config);
  refuse_output_among(out, inputs);
  const checkpoint c = open_checkpoint(paths);
  const th::sglang_model model = th::read_sglang_model_config(config);
  const auto start = std::chrono::steady_clock::now();
  const th::sglang_checksums want =
      th::with_canonicalization(o.canonical, o.nan_rule, [&](auto canon) {
        using Canon = decltype(canon);
        if (o.mode == "sglang-cpu") {
          th::sglang_engine<th::sglang_cpu64, Canon> engine(o.threads);
          return th::sglang_expected(engine, c.names, c.views, model, tp, ep);
        }
        th::sglang_engine<th::sglang64, Canon> engine(o.threads);
        return th::sglang_expected(engine, c.names, c.views, model, tp, ep);
      });
  c.check_unchanged();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const std::string message = "expected by tensorhash: " + settings_of(o).describe() + ", tp " +
                              std::to_string(tp) + (ep > 1 ? ", ep " + std::to_string(ep) : "");
  if (out.empty()) {
    std::cout << th::to_json(want, message).dump(1) << "\n";
  } else {
    th::write_sglang_checksums(out, want, message);
  }
  std::fprintf(stderr, "%zu ranks x %zu parameters, %s: %.3f s\nper_engine_checksum %s%s%s\n",
               want.ranks.size(), want.ranks.front().checksums.size(), message.c_str(), s,
               want.per_engine_checksum->to_hex().c_str(), out.empty() ? "" : ", written to ",
               out.c_str());
  return 0;
}

void add_digest_options(CLI::App* cmd, hash_options& o, bool chunks = true) {
  if (chunks) {
    cmd->add_option("--chunk-bytes", o.chunk_text.text,
                    "tree chunk size (power of two, 1024..16777216)")
        ->capture_default_str();
  }
  cmd->add_option("--as", o.canonical, "canonical dtype for floating-point tensors")
      ->check(CLI::IsMember({"BF16", "F32"}));
  cmd->add_option("--nan-rule", o.nan_rule,
                  "BF16 of a NaN with --as BF16: canonical (0x7FC0), torch-cpu (PyTorch's "
                  "vectorised CPU kernels), torch-cuda (0x7FFF)")
      ->check(CLI::IsMember(
          {th::nan_canonical::name, th::nan_torch_cpu::name, th::nan_torch_cuda::name}))
      ->capture_default_str();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tensorhash: SHA-256 and BLAKE3 digests of tensors and checkpoints"};
  app.require_subcommand(1);
  app.set_version_flag("--version", version_line());
  app.footer(exit_codes);
  hash_options o;
  std::vector<std::string> paths;
  std::string out, expected, actual;
  bool json_report = false;

  auto* hash = app.add_subcommand("hash", "hash every tensor of safetensors files or directories");
  hash->add_option("paths", paths, "safetensors files, or directories of them")->required();
  auto* mode = hash->add_option("--mode", o.mode,
                                "exact (hashlib-identical), tree, sglang (SGLang's GPU weight "
                                "hash, 16 hex) or sglang-cpu (SGLang's CPU recipe: SHA-256's "
                                "first 8 bytes); exact with --hasher blake3")
                   ->check(CLI::IsMember({"exact", "tree", "sglang", "sglang-cpu"}))
                   ->capture_default_str();
  hash->add_option("--hasher", o.hasher,
                   "sha256, or blake3 (b3sum-identical per tensor, parallel in exact mode)")
      ->check(CLI::IsMember({"sha256", "blake3"}))
      ->capture_default_str();
  add_digest_options(hash, o);
  hash->add_option("--device", o.device, "where to hash")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}))
      ->capture_default_str();
  hash->add_flag("--leaves", o.leaves,
                 "also record leaf digests for diff (tree: each chunk's; blake3: each 1 MiB "
                 "subtree's)");
  hash->add_option("--threads", o.threads, threads_help);
  hash->add_option("-o,--output", out, "manifest file to write (default: print to stdout)");
  hash->footer(
      "Example:\n  tensorhash hash ckpt/ --mode exact -o step-100.json\n"
      "  tensorhash hash ckpt/ --hasher blake3 -o step-100.json\n\n" +
      std::string(exit_codes));

  hash_options x;
  x.mode = "sglang";
  expect_options e;
  auto* expect = app.add_subcommand(
      "expect", "what each tensor-parallel rank of an engine will report for a checkpoint");
  expect->add_option("paths", paths, "safetensors files, or directories of them")->required();
  expect->add_option("--engine", e.engine, "the engine whose report to predict")
      ->check(CLI::IsMember({"sglang"}))
      ->capture_default_str();
  expect->add_option("--tp", e.tp.text, "tensor-parallel size of the engine")->required();
  expect
      ->add_option("--ep", e.ep.text,
                   "expert-parallel size of the engine (its --ep-size; MoE models)")
      ->capture_default_str();
  expect
      ->add_option("--mode", x.mode,
                   "sglang (engine on GPUs: its Triton hash) or sglang-cpu (engine on CPUs)")
      ->check(CLI::IsMember({"sglang", "sglang-cpu"}))
      ->capture_default_str();
  add_digest_options(expect, x, false);
  expect->add_option("--config", e.config, "HF config.json (default: beside the checkpoint)");
  expect->add_option("--threads", x.threads, threads_help);
  expect->add_option("-o,--output", out, "reply file to write (default: print to stdout)");
  expect->footer(
      "Example:\n  tensorhash expect hf-ckpt/ --engine sglang --tp 4 -o expected.json\n"
      "  tensorhash expect qwen3-moe/ --engine sglang --tp 8 --ep 4 -o expected.json\n"
      "  tensorhash compare expected.json engine-reply.json\n\n" +
      std::string(exit_codes));

  auto* cmp = app.add_subcommand("compare",
                                 "compare manifests or SGLang replies (exit 1 on any difference)");
  cmp->add_option("expected", expected, "expected manifest or SGLang reply")->required();
  cmp->add_option("actual", actual, "actual manifest or SGLang reply")->required();
  cmp->add_flag("--json", json_report, "print the report as JSON");
  cmp->footer("Example:\n  tensorhash compare trainer.json engine.json\n\n" +
              std::string(exit_codes));

  auto* diff = app.add_subcommand(
      "diff",
      "locate differing chunks of tree or BLAKE3 digests (tensors and GPUs of SGLang replies)");
  diff->add_option("expected", expected,
                   "manifest with leaves, SGLang reply, or safetensors file/dir")
      ->required();
  diff->add_option("actual", actual, "manifest with leaves, SGLang reply, or safetensors file/dir")
      ->required();
  diff->add_option("--hasher", o.hasher,
                   "sha256 (tree leaves of --chunk-bytes) or blake3 (1 MiB subtrees), for "
                   "safetensors inputs")
      ->check(CLI::IsMember({"sha256", "blake3"}))
      ->capture_default_str();
  add_digest_options(diff, o);
  bool all_chunks = false;
  diff->add_flag("--all-chunks", all_chunks, "list every differing chunk (default: the first 16)");
  diff->footer("Example:\n  tensorhash diff trainer-ckpt/ engine-dump/ --as BF16\n\n" +
               std::string(exit_codes));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : exit_bad_input;
  }
  try {
    if (hash->parsed()) {
      o.mode_given = mode->count() > 0;
      return run_hash(paths, o, out);
    }
    if (expect->parsed())
      return run_expect(paths, x, e, out);
    if (cmp->parsed())
      return run_compare(expected, actual, json_report);
    return run_diff(expected, actual, o, all_chunks);
  } catch (const th::error& e) {  // one line, escaped and bounded: names and paths are untrusted
    std::fprintf(stderr, "%s\n", th::detail::printable(e.what(), max_error_bytes).c_str());
    return exit_bad_input;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tensorhash: %s\n",
                 th::detail::printable(e.what(), max_error_bytes).c_str());
    return exit_bad_input;
  }
}
