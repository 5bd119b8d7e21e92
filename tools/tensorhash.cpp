// tensorhash: hash safetensors checkpoints into manifests, compare manifests, locate differences.
//
//   tensorhash hash PATH... [--mode exact|tree] [--chunk-bytes N] [--as BF16|F32]
//                           [--device auto|cpu|cuda] [--leaves] [--threads N] [-o FILE]
//   tensorhash compare EXPECTED.json ACTUAL.json
//   tensorhash diff A B [--chunk-bytes N] [--as BF16|F32]      (manifests with leaves, or
//                                                               safetensors files/directories)
// Exit codes: 0 success or no difference, 1 differences found, 2 bad input or usage.
// On error nothing is written.
#include <tensorhash/manifest.hpp>
#include <tensorhash/manifest_json.hpp>
#include <tensorhash/safetensors.hpp>
#include <tensorhash/tensorhash.hpp>

#include <CLI/CLI.hpp>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#if defined(TENSORHASH_CLI_WITH_CUDA)
#include "cli_device.hpp"
#endif

namespace th = tensorhash;
namespace fs = std::filesystem;

namespace {

constexpr int exit_differences = 1;
constexpr int exit_bad_input = 2;

/// Every tensor of a set of safetensors files (a sharded checkpoint), names unique across files.
struct checkpoint {
  std::vector<std::unique_ptr<th::safetensors_file>> files;
  std::vector<std::string> names;
  std::vector<th::tensor_view> views;
  std::uint64_t bytes = 0;
};

std::vector<std::string> expand_paths(const std::vector<std::string>& paths) {
  std::vector<std::string> files;
  for (const auto& p : paths) {
    if (fs::is_directory(p)) {
      std::vector<std::string> found;
      for (const auto& e : fs::directory_iterator(p)) {
        if (e.is_regular_file() && e.path().extension() == ".safetensors") {
          found.push_back(e.path().string());
        }
      }
      if (found.empty()) {
        throw th::error(th::errc::io_error, p + ": no .safetensors files in this directory");
      }
      std::sort(found.begin(), found.end());
      files.insert(files.end(), found.begin(), found.end());
    } else {
      files.push_back(p);
    }
  }
  return files;
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

struct hash_options {
  std::string mode = "tree";
  std::uint64_t chunk_bytes = th::tree::default_chunk_bytes;
  std::string canonical;  // "", "BF16" or "F32"
  std::string nan_rule = th::nan_canonical::name;
  std::string device = "auto";
  bool leaves = false;
  unsigned threads = 0;
};

/// Shows a progress bar on stderr when it is a terminal and the work is large.
class progress {
 public:
  progress(std::uint64_t total) : total_(total), show_(::isatty(2) && total >= (1ull << 30)) {}
  void advance(std::uint64_t bytes) {
    done_ += bytes;
    if (!show_)
      return;
    const double f = static_cast<double>(done_) / static_cast<double>(total_);
    const int filled = static_cast<int>(f * 40);
    std::fprintf(stderr, "\r[%s%s] %5.1f%%",
                 std::string(static_cast<std::size_t>(filled), '#').c_str(),
                 std::string(static_cast<std::size_t>(40 - filled), ' ').c_str(), 100 * f);
    if (done_ >= total_)
      std::fprintf(stderr, "\n");
  }

 private:
  std::uint64_t total_, done_ = 0;
  bool show_;
};

template <class Mode, class Canon>
th::manifest hash_on_cpu(const checkpoint& c, const hash_options& o, Mode mode) {
  th::host_engine<Mode, Canon> engine(mode, o.threads);
  if (o.leaves) {
    return th::make_manifest(engine, c.names, c.views, true);
  }
  progress bar(c.bytes);
  std::vector<th::digest256> digests;
  // Batches of about 1 GiB let the progress bar move without costing parallelism.
  for (std::size_t i = 0; i < c.views.size();) {
    std::size_t j = i;
    std::uint64_t batch = 0;
    while (j < c.views.size() && (j == i || batch < (1ull << 30)))
      batch += c.views[j++].nbytes();
    const auto part =
        engine.hash(std::vector<th::tensor_view>(c.views.begin() + static_cast<std::ptrdiff_t>(i),
                                                 c.views.begin() + static_cast<std::ptrdiff_t>(j)));
    digests.insert(digests.end(), part.begin(), part.end());
    bar.advance(batch);
    i = j;
  }
  return th::make_manifest(th::digest_settings::of<Mode, Canon>(mode), c.names, c.views, digests);
}

template <class Canon>
th::manifest hash_on_cpu(const checkpoint& c, const hash_options& o) {
  if (o.mode == "exact")
    return hash_on_cpu<th::exact, Canon>(c, o, th::exact{});
  return hash_on_cpu<th::tree, Canon>(c, o, th::tree(o.chunk_bytes));
}

th::digest_settings settings_of(const hash_options& o) {
  th::digest_settings s;
  s.algorithm = o.mode == "exact" ? th::exact::algorithm : th::tree::algorithm;
  s.chunk_bytes = o.mode == "exact" ? 0 : th::tree(o.chunk_bytes).chunk_bytes();
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
  if (o.device == "auto")
    return cuda && !o.leaves ? "cuda" : "cpu";
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
    return th::make_manifest(settings_of(o), c.names, c.views,
                             cli::hash_on_device(c.views, o.mode == "exact" ? 0 : o.chunk_bytes,
                                                 o.canonical, o.nan_rule));
  }
#else
  (void)device;
#endif
  if (o.canonical == "BF16" && o.nan_rule == th::nan_torch_cpu::name)
    return hash_on_cpu<th::to_bf16_torch_cpu>(c, o);
  if (o.canonical == "BF16" && o.nan_rule == th::nan_torch_cuda::name)
    return hash_on_cpu<th::to_bf16_torch_cuda>(c, o);
  if (o.canonical == "BF16")
    return hash_on_cpu<th::to_bf16>(c, o);
  if (o.canonical == "F32")
    return hash_on_cpu<th::to_f32>(c, o);
  return hash_on_cpu<th::as_stored>(c, o);
}

int run_hash(const std::vector<std::string>& paths, const hash_options& o, const std::string& out) {
  settings_of(o);  // validates the chunk size and NaN rule before any file is read
  const auto start = std::chrono::steady_clock::now();
  const checkpoint c = open_checkpoint(paths);
  const std::string device = resolve_device(o);
  const th::manifest m = hash_checkpoint(c, o, device);
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

int run_compare(const std::string& expected_path, const std::string& actual_path, bool json) {
  const th::manifest expected = th::read_manifest(expected_path);
  const th::manifest actual = th::read_manifest(actual_path);
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
  with.mode = "tree";
  with.leaves = true;
  return hash_checkpoint(open_checkpoint({path}), with, "cpu");
}

int run_diff(const std::string& a, const std::string& b, const hash_options& o) {
  const th::manifest expected = is_manifest(a) ? th::read_manifest(a) : leaves_of(a, o);
  const th::manifest actual = is_manifest(b) ? th::read_manifest(b) : leaves_of(b, o);
  if (expected.settings().algorithm != th::tree::algorithm ||
      expected.settings() != actual.settings()) {
    throw th::error(th::errc::invalid_argument,
                    "diff needs two tree digests with the same settings (" +
                        expected.settings().describe() + " vs " + actual.settings().describe() +
                        ")");
  }
  const th::comparison c = th::compare(expected, actual);
  for (const auto& m : c.mismatched) {
    const auto& e = expected.tensors().at(m.name);
    const auto& g = actual.tensors().at(m.name);
    std::cout << "CHUNKS     " << m.name << "\n";
    if (e.leaves.empty() || g.leaves.empty()) {
      std::cout << "  (no leaf digests recorded: hash with --leaves to locate the chunks)\n";
      continue;
    }
    std::uint64_t numel = 1;
    for (auto d : e.shape)
      numel *= static_cast<std::uint64_t>(d);
    const auto element = th::size_of(expected.settings().canonical_dtype_for(e.type));
    for (const auto& d : th::diff_leaves(e.leaves, g.leaves, expected.settings().chunk_bytes,
                                         numel * element, element)) {
      std::cout << "  chunk " << d.chunk << ": bytes [" << d.byte_begin << ", " << d.byte_end
                << "), elements [" << d.element_begin << ", " << d.element_end << ")\n";
    }
  }
  std::cout << c.summary();
  return c.ok() ? 0 : exit_differences;
}

void add_digest_options(CLI::App* cmd, hash_options& o) {
  cmd->add_option("--chunk-bytes", o.chunk_bytes, "tree chunk size (power of two, 1024..16777216)")
      ->capture_default_str();
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
  CLI::App app{"tensorhash: SHA-256 digests of tensors and checkpoints"};
  app.require_subcommand(1);
  hash_options o;
  std::vector<std::string> paths;
  std::string out, expected, actual;
  bool json_report = false;

  auto* hash = app.add_subcommand("hash", "hash every tensor of safetensors files or directories");
  hash->add_option("paths", paths, "safetensors files, or directories of them")->required();
  hash->add_option("--mode", o.mode, "exact (hashlib-identical) or tree")
      ->check(CLI::IsMember({"exact", "tree"}))
      ->capture_default_str();
  add_digest_options(hash, o);
  hash->add_option("--device", o.device, "where to hash")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}))
      ->capture_default_str();
  hash->add_flag("--leaves", o.leaves, "also record tree leaf digests (for diff)");
  hash->add_option("--threads", o.threads, "CPU threads (default: all)");
  hash->add_option("-o,--output", out, "manifest file to write (default: print to stdout)");

  auto* cmp = app.add_subcommand("compare", "compare two manifests (exit 1 on any difference)");
  cmp->add_option("expected", expected, "expected manifest")->required();
  cmp->add_option("actual", actual, "actual manifest")->required();
  cmp->add_flag("--json", json_report, "print the report as JSON");

  auto* diff = app.add_subcommand("diff", "locate differing chunks of tree digests");
  diff->add_option("expected", expected, "manifest with leaves, or safetensors file/dir")
      ->required();
  diff->add_option("actual", actual, "manifest with leaves, or safetensors file/dir")->required();
  add_digest_options(diff, o);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : exit_bad_input;
  }
  try {
    if (hash->parsed())
      return run_hash(paths, o, out);
    if (cmp->parsed())
      return run_compare(expected, actual, json_report);
    return run_diff(expected, actual, o);
  } catch (const th::error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return exit_bad_input;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tensorhash: %s\n", e.what());
    return exit_bad_input;
  }
}
