// tensorhash._core: the nanobind extension behind the `tensorhash` Python package.
//
// Tensors arrive as anything nanobind's ndarray caster reads zero-copy (objects with __dlpack__,
// DLPack capsules, the buffer protocol); python/tensorhash/__init__.py normalises arguments and
// groups tensors by device, this file turns them into tensorhash views and hashes a whole batch
// in one host_engine call (or one device_plan on a CUDA device), with the GIL released.
//
// Entries of a batch (internal protocol, not public API):
//   obj                                  a tensor
//   (obj, dtype_name | None, shape | None)  a tensor with its dtype reinterpreted (same element
//                                        size), or contiguous bytes read as dtype x shape
//   ("layout", kind, tp, rank, vocab_size, pad_to, num_heads, num_kv_heads, head_dim, [full...])
//                                        the shard a TP rank holds, composed from full tensors
//
// SGLang's weight-checker replies (expected checksums of a checkpoint, comparisons of replies and
// manifests) go through the library's JSON code and need nlohmann-json at build time;
// build_info()["sglang_replies"] says whether this module has them.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <tensorhash/composite.hpp>
#include <tensorhash/config.hpp>
#include <tensorhash/detail/cpu_features.hpp>
#include <tensorhash/detail/map_guard.hpp>
#include <tensorhash/detail/multi_stream.hpp>
#include <tensorhash/error.hpp>
#include <tensorhash/host.hpp>
#include <tensorhash/interop.hpp>
#include <tensorhash/layout.hpp>
#include <tensorhash/merkle.hpp>
#include <tensorhash/progress.hpp>
#include <tensorhash/runtime_policy.hpp>

#if __has_include(<tensorhash/sglang.hpp>)
#include <tensorhash/sglang.hpp>
#define TENSORHASH_PY_WITH_SGLANG 1
#else
#define TENSORHASH_PY_WITH_SGLANG 0
#endif

#if TENSORHASH_PY_WITH_SGLANG && __has_include(<tensorhash/sglang_checksum_json.hpp>) && \
    __has_include(<nlohmann/json.hpp>)
#include <tensorhash/manifest_json.hpp>
#include <tensorhash/sglang_checksum.hpp>
#include <tensorhash/sglang_checksum_json.hpp>
#define TENSORHASH_PY_WITH_SGLANG_REPLIES 1
#else
#define TENSORHASH_PY_WITH_SGLANG_REPLIES 0
#endif

#include "device.hpp"

#include <Python.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <future>
#include <string>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#ifndef TENSORHASH_PY_WITH_CUDA
#define TENSORHASH_PY_WITH_CUDA 0
#endif
#ifndef TENSORHASH_PY_CXX_COMPILER
#define TENSORHASH_PY_CXX_COMPILER "unknown"
#endif

namespace nb = nanobind;
namespace th = tensorhash;

#if !TENSORHASH_PY_WITH_CUDA
// CPU-only build: the device bridge reports no device and refuses device tensors.
namespace tensorhash_py {
int cuda_device_count() noexcept {
  return 0;
}
int cuda_runtime_version() noexcept {
  return 0;
}
std::vector<th::digest256> device_digests(const std::vector<th::composite_view>&,
                                          const std::string&, std::uint64_t, const std::string&,
                                          const std::string&, int, std::uintptr_t) {
  throw th::error(th::errc::wrong_memory_space,
                  "this tensorhash module was built without CUDA (no nvcc at build time): it "
                  "cannot read CUDA memory; rebuild it with nvcc on PATH, or hash a host copy");
}
}  // namespace tensorhash_py
#endif

namespace {

using array = nb::ndarray<nb::ro>;

/// The Python class tensorhash._error.Error, looked up once at import (never released).
PyObject* error_class = nullptr;

// ---- settings --------------------------------------------------------------------------------

/// What to compute: validated once per call.
struct settings {
  std::string mode;  // exact, tree, blake3 (exact mode with BLAKE3), sglang, sglang-cpu
  std::uint64_t chunk_bytes = th::tree::default_chunk_bytes;
  std::string canonical;  // "", "BF16", "F32"
  std::string nan_rule;   // canonical, torch-cpu, torch-cuda

  bool is_tree() const { return mode == "tree"; }
  bool is_sglang() const { return mode == "sglang" || mode == "sglang-cpu"; }
};

settings make_settings(const std::string& mode, std::uint64_t chunk_bytes,
                       const std::string& canonical, const std::string& nan_rule) {
  settings s{mode, chunk_bytes, canonical, nan_rule};
  const bool sglang_mode = mode == "sglang" || mode == "sglang-cpu";
  if (mode != "exact" && mode != "tree" && mode != "blake3" && !sglang_mode) {
    throw th::error(th::errc::invalid_argument,
                    "mode must be \"exact\", \"tree\", \"blake3\", \"sglang\" or \"sglang-cpu\", "
                    "got \"" +
                        mode + "\"");
  }
  if (sglang_mode && !TENSORHASH_PY_WITH_SGLANG) {
    throw th::error(th::errc::invalid_argument,
                    "mode \"" + mode + "\" needs tensorhash/sglang.hpp, absent from this build");
  }
  if (mode == "tree") {
    s.chunk_bytes = th::tree(chunk_bytes).chunk_bytes();  // throws invalid_chunk_size
  }
  if (!canonical.empty() && canonical != "BF16" && canonical != "F32") {
    throw th::error(th::errc::invalid_argument,
                    "as_dtype must be None, \"BF16\" or \"F32\", got \"" + canonical + "\"");
  }
  if (nan_rule != th::nan_canonical::name && nan_rule != th::nan_torch_cpu::name &&
      nan_rule != th::nan_torch_cuda::name) {
    throw th::error(th::errc::invalid_argument,
                    "nan_rule must be \"canonical\", \"torch-cpu\" or \"torch-cuda\", got \"" +
                        nan_rule + "\"");
  }
  if (nan_rule != th::nan_canonical::name && canonical != "BF16") {
    throw th::error(th::errc::invalid_argument,
                    "nan_rule \"" + nan_rule + "\" applies to as_dtype \"BF16\" only");
  }
  return s;
}

/// Calls `f(Canon{})` with the canonicalisation policy the settings name.
template <class F>
decltype(auto) with_canon(const settings& s, F&& f) {
  return th::with_canonicalization(s.canonical, s.nan_rule, std::forward<F>(f));
}

// ---- import ----------------------------------------------------------------------------------

th::dtype dtype_of_dlpack(nb::dlpack::dtype t, const std::string& label) {
  const auto fail = [&]() -> th::dtype {
    throw th::error(th::errc::unknown_dtype,
                    label + ": DLPack dtype (code " + std::to_string(t.code) + ", " +
                        std::to_string(t.bits) + " bits, " + std::to_string(t.lanes) +
                        " lanes) has no tensorhash dtype");
  };
  if (t.lanes != 1) {
    return fail();
  }
  switch (t.code) {
    case 0:  // int
      switch (t.bits) {
        case 8:
          return th::dtype::I8;
        case 16:
          return th::dtype::I16;
        case 32:
          return th::dtype::I32;
        case 64:
          return th::dtype::I64;
      }
      break;
    case 1:  // uint
      switch (t.bits) {
        case 8:
          return th::dtype::U8;
        case 16:
          return th::dtype::U16;
        case 32:
          return th::dtype::U32;
        case 64:
          return th::dtype::U64;
      }
      break;
    case 2:  // float
      switch (t.bits) {
        case 16:
          return th::dtype::F16;
        case 32:
          return th::dtype::F32;
        case 64:
          return th::dtype::F64;
      }
      break;
    case 4:  // bfloat
      if (t.bits == 16)
        return th::dtype::BF16;
      break;
    case 6:  // bool
      if (t.bits == 8)
        return th::dtype::BOOL;
      break;
    case 10:  // float8_e4m3fn
      if (t.bits == 8)
        return th::dtype::F8_E4M3;
      break;
    case 12:  // float8_e5m2
      if (t.bits == 8)
        return th::dtype::F8_E5M2;
      break;
    default:
      break;
  }
  return fail();
}

/// Everything a batch imported: the arrays (kept alive while hashing) and the composites.
struct batch {
  std::vector<array> keep;
  std::vector<th::composite_view> tensors;
  bool any_host = false;
  bool any_cuda = false;
  int cuda_device = -1;
  std::uint64_t bytes = 0;
};

std::string py_type_name(nb::handle h) {
  return Py_TYPE(h.ptr())->tp_name;
}

th::location location_of(const array& a, const std::string& label) {
  switch (a.device_type()) {
    case 1:  // kDLCPU
    case 3:  // kDLCUDAHost (pinned)
      return th::location::host();
    case 2:   // kDLCUDA
    case 13:  // kDLCUDAManaged
      return th::location::cuda(a.device_id());
    default:
      throw th::error(th::errc::invalid_argument, label + ": DLPack device type " +
                                                      std::to_string(a.device_type()) +
                                                      " is neither CPU nor CUDA");
  }
}

/// One plain tensor (with an optional dtype / shape reinterpretation) as a view.
th::tensor_view import_view(batch& b, nb::handle obj, nb::handle dtype_override,
                            nb::handle shape_override, const std::string& label) {
  array a;
  if (!nb::try_cast<array>(obj, a)) {
    throw th::error(th::errc::invalid_argument,
                    label + ": a value of type " + py_type_name(obj) +
                        " is not a tensor tensorhash can read (it needs __dlpack__, a DLPack "
                        "capsule or the buffer protocol, and an export that succeeds)");
  }
  b.keep.push_back(a);
  const th::location where = location_of(a, label);
  const int rank = static_cast<int>(a.ndim());
  if (rank > th::max_rank) {
    throw th::error(th::errc::rank_too_large,
                    label + ": rank " + std::to_string(rank) + " is outside 0..8");
  }
  th::dtype type = dtype_of_dlpack(a.dtype(), label);
  std::int64_t shape[th::max_rank] = {};
  std::int64_t strides[th::max_rank] = {};
  for (int i = 0; i < rank; ++i) {
    shape[i] = static_cast<std::int64_t>(a.shape(static_cast<std::size_t>(i)));
    strides[i] = a.stride(static_cast<std::size_t>(i));
  }
  const void* data = a.data();
  try {
    if (!dtype_override.is_none()) {
      const th::dtype wanted = th::dtype_from_string(nb::cast<std::string>(dtype_override));
      if (shape_override.is_none() && th::size_of(wanted) != th::size_of(type)) {
        throw th::error(th::errc::invalid_argument,
                        std::string("cannot read ") + th::to_string(type) + " elements as " +
                            th::to_string(wanted) + ": element sizes differ");
      }
      if (shape_override.is_none()) {
        type = wanted;
      } else {
        // Contiguous bytes read as a row-major tensor of `wanted` x shape.
        const th::tensor_view raw(data, type, rank, shape, strides, where);
        if (!raw.is_contiguous()) {
          throw th::error(th::errc::invalid_argument,
                          "bytes read with an explicit shape must be contiguous");
        }
        const auto dims = nb::cast<std::vector<std::int64_t>>(shape_override);
        if (dims.size() > static_cast<std::size_t>(th::max_rank)) {
          throw th::error(th::errc::rank_too_large,
                          "rank " + std::to_string(dims.size()) + " is outside 0..8");
        }
        const th::tensor_view v(raw.numel() == 0 ? nullptr : data, wanted,
                                static_cast<int>(dims.size()), dims.data(), nullptr, where);
        if (v.nbytes() != raw.nbytes()) {
          throw th::error(th::errc::invalid_argument,
                          "shape " + th::detail::shape_text(dims) + " of " + th::to_string(wanted) +
                              " needs " + std::to_string(v.nbytes()) + " bytes, the buffer holds " +
                              std::to_string(raw.nbytes()));
        }
        return v;
      }
    }
    std::uint64_t numel = 1;
    for (int i = 0; i < rank; ++i) {
      numel *= static_cast<std::uint64_t>(shape[i] < 0 ? 0 : shape[i]);
    }
    return th::tensor_view(numel == 0 ? nullptr : data, type, rank, shape, strides, where);
  } catch (const th::error& e) {
    throw th::error(e.code(), label + ": " + e.message());
  }
}

th::tp_layout layout_of(const nb::tuple& spec, const std::string& label) {
  if (spec.size() != 10) {
    throw th::error(th::errc::invalid_argument, label + ": malformed layout entry");
  }
  const auto kind = nb::cast<std::string>(spec[1]);
  const auto tp = nb::cast<std::int64_t>(spec[2]);
  const auto rank = nb::cast<std::int64_t>(spec[3]);
  th::tp_layout l;
  if (kind == "replicated") {
    l = th::tp_layout::replicated();
    l.tp_size = tp;
    l.rank = rank;
  } else if (kind == "column_parallel") {
    l = th::tp_layout::column_parallel(tp, rank);
  } else if (kind == "row_parallel") {
    l = th::tp_layout::row_parallel(tp, rank);
  } else if (kind == "vocab_parallel") {
    l = th::tp_layout::vocab_parallel(tp, rank, nb::cast<std::int64_t>(spec[4]),
                                      nb::cast<std::int64_t>(spec[5]));
  } else if (kind == "fused_qkv") {
    l = th::tp_layout::fused_qkv(tp, rank, nb::cast<std::int64_t>(spec[6]),
                                 nb::cast<std::int64_t>(spec[7]), nb::cast<std::int64_t>(spec[8]));
  } else if (kind == "fused_gate_up") {
    l = th::tp_layout::fused_gate_up(tp, rank);
  } else {
    throw th::error(th::errc::invalid_argument, label + ": unknown layout \"" + kind + "\"");
  }
  return l;
}

void note_location(batch& b, const th::composite_view& c, const std::string& label) {
  for (const auto& v : c.pieces()) {
    if (v.location().space == th::memory_space::host) {
      b.any_host = true;
    } else {
      if (b.any_cuda && b.cuda_device != v.location().device) {
        throw th::error(th::errc::invalid_argument,
                        label + ": a batch must be on one CUDA device (found devices " +
                            std::to_string(b.cuda_device) + " and " +
                            std::to_string(v.location().device) + ")");
      }
      b.any_cuda = true;
      b.cuda_device = v.location().device;
    }
  }
  if (b.any_host && b.any_cuda) {
    throw th::error(th::errc::invalid_argument,
                    label + ": a batch must be all host or all CUDA tensors");
  }
}

std::string label_at(nb::handle labels, std::size_t i) {
  if (!labels.is_none()) {
    nb::object l = nb::borrow<nb::sequence>(labels)[i];
    return "tensor \"" + nb::cast<std::string>(nb::str(l)) + "\"";
  }
  return "tensor " + std::to_string(i);
}

/// Imports every entry of `items` (see the file comment).
batch import_batch(nb::handle items, nb::handle labels) {
  batch b;
  const nb::sequence seq = nb::borrow<nb::sequence>(items);
  const std::size_t n = nb::len(seq);
  b.tensors.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    const std::string label = label_at(labels, i);
    nb::object entry = seq[i];
    if (nb::isinstance<nb::tuple>(entry)) {
      const auto spec = nb::borrow<nb::tuple>(entry);
      if (spec.size() == 3) {
        b.tensors.emplace_back(import_view(b, spec[0], spec[1], spec[2], label));
      } else if (spec.size() >= 1 && nb::isinstance<nb::str>(spec[0]) &&
                 nb::cast<std::string>(spec[0]) == "layout") {
        const th::tp_layout l = layout_of(spec, label);
        std::vector<th::tensor_view> full;
        const nb::sequence parts = nb::borrow<nb::sequence>(spec[9]);
        for (std::size_t p = 0; p < nb::len(parts); ++p) {
          nb::object part = parts[p];
          if (nb::isinstance<nb::tuple>(part) && nb::len(part) == 3) {
            const auto t = nb::borrow<nb::tuple>(part);
            full.push_back(import_view(b, t[0], t[1], t[2], label + " part " + std::to_string(p)));
          } else {
            full.push_back(
                import_view(b, part, nb::none(), nb::none(), label + " part " + std::to_string(p)));
          }
        }
        try {
          b.tensors.push_back(th::expected_shard(l, full));
        } catch (const th::error& e) {
          throw th::error(e.code(), label + ": " + e.message());
        }
      } else {
        throw th::error(th::errc::invalid_argument, label + ": malformed entry");
      }
    } else {
      b.tensors.emplace_back(import_view(b, entry, nb::none(), nb::none(), label));
    }
    note_location(b, b.tensors.back(), label);
    b.bytes += b.tensors.back().numel() * th::size_of(b.tensors.back().dtype());
  }
  return b;
}

/// Threads for a batch: small batches stay on the calling thread (no pool to start).
unsigned threads_for(unsigned requested, std::uint64_t bytes) {
  if (requested != 0) {
    return requested;
  }
  return bytes < (std::uint64_t{1} << 20) ? 1u : 0u;
}

// ---- hashing ---------------------------------------------------------------------------------

/// Canonical bytes of a batch under `Canon`: what a progress bar counts to.
template <class Canon>
std::uint64_t canonical_bytes(const std::vector<th::composite_view>& tensors) {
  std::uint64_t total = 0;
  for (const auto& t : tensors) {
    total += t.numel() * th::size_of(Canon::target(t.dtype()));
  }
  return total;
}

/// Batches of at least this many canonical bytes are hashed on a thread of their own while the
/// calling thread watches for Ctrl-C; smaller ones finish before anyone could press it.
constexpr std::uint64_t interruptible_bytes = std::uint64_t{64} << 20;

/// Whether the interpreter is exiting (readable without the GIL).
bool interpreter_finalizing() noexcept {
#if PY_VERSION_HEX >= 0x030D0000
  return Py_IsFinalizing() != 0;
#else
  return _Py_IsFinalizing() != 0;
#endif
}

/// `engine.hash(tensors)`, stopped by Ctrl-C (or any signal handler raising in Python) within
/// 100 ms and a tile: the GIL is taken only to run Python's signal handlers, then the engine is
/// cancelled, its threads join, and the handler's exception (KeyboardInterrupt) propagates.
/// Called with the GIL released.
template <class Engine>
auto interruptible_hash(Engine& engine, const std::vector<th::composite_view>& tensors,
                        std::uint64_t total) {
  using result = decltype(engine.hash(tensors));
  if (total < interruptible_bytes) {
    return engine.hash(tensors);
  }
  std::promise<result> done;
  std::future<result> future = done.get_future();
  std::thread worker([&] {
    try {
      done.set_value(engine.hash(tensors));
    } catch (...) {
      done.set_exception(std::current_exception());
    }
  });
  // However this scope ends (a daemon thread unwound at interpreter exit included), the worker
  // is stopped and joined first: a joinable std::thread would terminate the process.
  struct stop_and_join {
    Engine& engine;
    std::thread& worker;
    ~stop_and_join() {
      if (worker.joinable()) {
        engine.cancel();
        worker.join();
      }
    }
  } joiner{engine, worker};
  while (future.wait_for(std::chrono::milliseconds(100)) != std::future_status::ready) {
    if (interpreter_finalizing()) {
      continue;  // taking the GIL now would end this thread by a forced unwind; exit() ends it
    }
    nb::gil_scoped_acquire gil;
    if (PyErr_CheckSignals() != 0) {
      engine.cancel();
      {
        nb::gil_scoped_release unlocked;  // the workers stop within a tile; others run meanwhile
        worker.join();
      }
      throw nb::python_error();  // the pending KeyboardInterrupt, taken with the GIL held
    }
  }
  worker.join();
  return future.get();
}

std::vector<std::string> host_hex(const std::vector<th::composite_view>& tensors, const settings& s,
                                  unsigned threads, bool progress) {
  return with_canon(s, [&](auto canon) {
    using Canon = decltype(canon);
    std::vector<std::string> out;
    out.reserve(tensors.size());
    const std::uint64_t total = canonical_bytes<Canon>(tensors);
    const bool show = progress && th::progress_bar::wanted(total);
    if (!s.is_sglang()) {
      th::with_digest_mode(s.mode, s.chunk_bytes, [&](auto mode, auto hasher) {
        th::host_engine<decltype(mode), Canon, typename decltype(hasher)::type> engine(mode,
                                                                                       threads);
        const th::progress_bar bar(
            total, [&] { return engine.hashed_bytes(); }, show);
        for (const auto& d : interruptible_hash(engine, tensors, total)) {
          out.push_back(d.to_hex());
        }
      });
    } else {
#if TENSORHASH_PY_WITH_SGLANG
      const auto hex = [&](const std::vector<std::uint64_t>& hs) {
        for (const auto h : hs) {
          out.push_back(th::to_hex16(h));
        }
      };
      if (s.mode == "sglang") {
        th::sglang_engine<th::sglang64, Canon> engine(threads);
        const th::progress_bar bar(
            total, [&] { return engine.hashed_bytes(); }, show);
        hex(engine.hash(tensors));
      } else {
        th::sglang_engine<th::sglang_cpu64, Canon> engine(threads);
        const th::progress_bar bar(
            total, [&] { return engine.hashed_bytes(); }, show);
        hex(engine.hash(tensors));
      }
#endif
    }
    return out;
  });
}

nb::tuple shape_tuple(const std::vector<std::int64_t>& shape) {
  nb::list l;
  for (auto d : shape) {
    l.append(d);
  }
  return nb::tuple(l);
}

/// Stored dtype name and shape of every tensor of a batch, as Python objects.
std::vector<std::pair<std::string, std::vector<std::int64_t>>> describe(const batch& b) {
  std::vector<std::pair<std::string, std::vector<std::int64_t>>> out;
  out.reserve(b.tensors.size());
  for (const auto& c : b.tensors) {
    out.emplace_back(th::to_string(c.dtype()), c.shape());
  }
  return out;
}

std::vector<std::string> hash_batch(const batch& b, const settings& s, unsigned threads,
                                    std::uintptr_t stream, bool progress) {
  if (b.any_cuda) {
    if (s.is_sglang()) {
      throw th::error(th::errc::wrong_memory_space,
                      "mode \"" + s.mode +
                          "\" is computed on the host: pass host tensors (SGLang's own GPU "
                          "kernel is not part of this module)");
    }
    std::vector<std::string> out;
    for (const auto& d :
         tensorhash_py::device_digests(b.tensors, s.mode, s.chunk_bytes, s.canonical, s.nan_rule,
                                       b.cuda_device, stream == 0 ? 1 : stream)) {
      out.push_back(d.to_hex());
    }
    return out;
  }
  return host_hex(b.tensors, s, threads_for(threads, b.bytes), progress);
}

/// digests(items, mode, chunk_bytes, canonical, nan_rule, threads, stream, labels, progress)
///   -> list of (hex, dtype, shape); progress: a bar on stderr (a terminal, 1 GiB or more)
nb::list py_digests(nb::handle items, const std::string& mode, std::uint64_t chunk_bytes,
                    const std::string& canonical, const std::string& nan_rule, unsigned threads,
                    std::uintptr_t stream, nb::handle labels, bool progress) {
  const settings s = make_settings(mode, chunk_bytes, canonical, nan_rule);
  batch b = import_batch(items, labels);
  const auto meta = describe(b);
  std::vector<std::string> hex;
  {
    nb::gil_scoped_release release;
    hex = hash_batch(b, s, threads, stream, progress);
  }
  nb::list out;
  for (std::size_t i = 0; i < hex.size(); ++i) {
    out.append(nb::make_tuple(hex[i], meta[i].first, shape_tuple(meta[i].second)));
  }
  return out;
}

/// leaves(items, mode, chunk_bytes, canonical, nan_rule, threads, labels)
///   -> list of (root hex, [leaf hex...], dtype, shape); host tensors only. mode "tree": the
///   chunks' leaves; "blake3": the 1 MiB subtrees' chaining values (format.md §4.3a)
nb::list py_leaves(nb::handle items, const std::string& mode, std::uint64_t chunk_bytes,
                   const std::string& canonical, const std::string& nan_rule, unsigned threads,
                   nb::handle labels) {
  if (mode != "tree" && mode != "blake3") {
    throw th::error(
        th::errc::invalid_argument,
        "leaves exist in mode \"tree\" and for hasher \"blake3\", not in mode \"" + mode + "\"");
  }
  const settings s = make_settings(mode, chunk_bytes, canonical, nan_rule);
  batch b = import_batch(items, labels);
  if (b.any_cuda) {
    throw th::error(th::errc::wrong_memory_space,
                    "leaves are computed on the host: pass host tensors (the device "
                    "backend returns roots only)");
  }
  const auto meta = describe(b);
  std::vector<std::pair<std::string, std::vector<std::string>>> result;
  {
    nb::gil_scoped_release release;
    with_canon(s, [&](auto canon) {
      using Canon = decltype(canon);
      const auto run = [&](auto m, auto hasher) {
        using Hasher = typename decltype(hasher)::type;
        th::host_engine<decltype(m), Canon, Hasher> engine(m, threads_for(threads, b.bytes));
        for (const auto& c : b.tensors) {
          const auto leaves = engine.leaves(c);
          std::vector<std::string> hex;
          hex.reserve(leaves.size());
          for (const auto& l : leaves) {
            hex.push_back(l.to_hex());
          }
          const th::digest256 root =
              th::is_blake3_v<Hasher> ? th::blake3_root(leaves) : th::merkle_root(leaves);
          result.emplace_back(root.to_hex(), std::move(hex));
        }
      };
      if (s.mode == "blake3") {
        run(th::exact{}, th::hasher_tag<th::blake3>{});
      } else {
        run(th::tree(s.chunk_bytes), th::hasher_tag<th::sha256>{});
      }
    });
  }
  nb::list out;
  for (std::size_t i = 0; i < result.size(); ++i) {
    nb::list leaves;
    for (const auto& h : result[i].second) {
      leaves.append(h);
    }
    out.append(nb::make_tuple(result[i].first, leaves, meta[i].first, shape_tuple(meta[i].second)));
  }
  return out;
}

const th::tensor_view& single_view(const batch& b, const char* what) {
  if (b.tensors.size() != 1 || b.tensors[0].pieces().size() != 1) {
    throw th::error(th::errc::invalid_argument, std::string(what) + " takes plain tensors");
  }
  return b.tensors[0].pieces()[0];
}

/// sglang_diffusion_digest(item, canonical, nan_rule) -> hex
std::string py_sglang_diffusion_digest(nb::handle item, const std::string& canonical,
                                       const std::string& nan_rule) {
  const settings s = make_settings("exact", 0, canonical, nan_rule);
  nb::list items;
  items.append(item);
  batch b = import_batch(items, nb::none());
  const th::tensor_view v = single_view(b, "sglang_diffusion_digest");
  nb::gil_scoped_release release;
  return with_canon(
      s, [&](auto canon) { return th::sglang_diffusion_digest<decltype(canon)>(v).to_hex(); });
}

/// The plain tensors of a batch (no layout entries) as views.
std::vector<th::tensor_view> plain_views(const batch& b, const char* what) {
  std::vector<th::tensor_view> views;
  for (const auto& c : b.tensors) {
    if (c.pieces().size() != 1) {
      throw th::error(th::errc::invalid_argument, std::string(what) + " takes plain tensors");
    }
    views.push_back(c.pieces()[0]);
  }
  return views;
}

/// sglang_weights_checksum(names, items, canonical, nan_rule) -> hex
std::string py_sglang_weights_checksum(const std::vector<std::string>& names, nb::handle items,
                                       const std::string& canonical, const std::string& nan_rule) {
  const settings s = make_settings("exact", 0, canonical, nan_rule);
  batch b = import_batch(items, nb::none());
  const std::vector<th::tensor_view> views = plain_views(b, "sglang_weights_checksum");
  nb::gil_scoped_release release;
  return with_canon(s, [&](auto canon) {
    return th::sglang_weights_checksum<decltype(canon)>(names, views).to_hex();
  });
}

#if TENSORHASH_PY_WITH_SGLANG_REPLIES
/// sglang_expected(names, items, config, label, tp, ep, mode, canonical, nan_rule, threads,
///                 message) -> the reply's JSON text
/// What every rank of a tp-`tp` (ep-`ep`) SGLang engine reports for the full HF tensors `items`
/// (host); `config` is the model's HF config.json as bytes, named `label` in messages.
std::string py_sglang_expected(const std::vector<std::string>& names, nb::handle items,
                               nb::bytes config, const std::string& label, std::int64_t tp,
                               std::int64_t ep, const std::string& mode,
                               const std::string& canonical, const std::string& nan_rule,
                               unsigned threads, const std::string& message) {
  const settings s = make_settings(mode, 0, canonical, nan_rule);
  if (!s.is_sglang()) {
    throw th::error(th::errc::invalid_argument,
                    "SGLang's expected checksums need mode \"sglang\" (an engine on GPUs) or "
                    "\"sglang-cpu\" (an engine on CPUs), got \"" +
                        mode + "\"");
  }
  const th::sglang_model model =
      th::sglang_model_from_config(std::string_view(config.c_str(), config.size()), label);
  batch b = import_batch(items, nb::cast(names));
  if (b.any_cuda) {
    throw th::error(th::errc::wrong_memory_space,
                    "SGLang's expected checksums are computed on the host: pass host tensors");
  }
  const std::vector<th::tensor_view> views = plain_views(b, "sglang_expected");
  const unsigned n = threads_for(threads, b.bytes);
  nb::gil_scoped_release release;
  const th::sglang_checksums want = with_canon(s, [&](auto canon) {
    using Canon = decltype(canon);
    if (s.mode == "sglang-cpu") {
      th::sglang_engine<th::sglang_cpu64, Canon> engine(n);
      return th::sglang_expected(engine, names, views, model, tp, ep);
    }
    th::sglang_engine<th::sglang64, Canon> engine(n);
    return th::sglang_expected(engine, names, views, model, tp, ep);
  });
  return th::to_json(want, message).dump(1);
}

/// A manifest (an object with "format") or else an SGLang reply, from JSON text.
th::manifest_or_reply read_manifest_or_reply(const std::string& text, const std::string& label) {
  const nlohmann::json j = th::detail::parse_json_strict(text, label);
  if (j.is_object() && j.contains("format")) {
    return th::manifest_from_json(text, label);
  }
  return th::sglang_checksums_from_json(j, label);
}

/// A reply, or a manifest of SGLang digests read as the reply of one GPU (tools/tensorhash.cpp).
th::sglang_checksums as_sglang(const th::manifest_or_reply& doc, const std::string& label,
                               bool other_is_reply) {
  if (const auto* reply = std::get_if<th::sglang_checksums>(&doc)) {
    return *reply;
  }
  try {
    return th::sglang_checksums_of(std::get<th::manifest>(doc));
  } catch (const th::error& e) {
    throw th::error(e.code(), label + ": " + e.message() +
                                  (other_is_reply ? " (the other side is an SGLang reply)" : ""));
  }
}

/// sglang_compare(expected_text, expected_label, actual_text, actual_label)
///   -> (summary, report JSON text); either side a reply or a manifest of SGLang digests
nb::tuple py_sglang_compare(const std::string& expected_text, const std::string& expected_label,
                            const std::string& actual_text, const std::string& actual_label) {
  std::string summary, report;
  {
    nb::gil_scoped_release release;
    const th::manifest_or_reply e = read_manifest_or_reply(expected_text, expected_label);
    const th::manifest_or_reply a = read_manifest_or_reply(actual_text, actual_label);
    const bool e_reply = std::holds_alternative<th::sglang_checksums>(e);
    const bool a_reply = std::holds_alternative<th::sglang_checksums>(a);
    const th::sglang_comparison c =
        th::compare(as_sglang(e, expected_label, a_reply), as_sglang(a, actual_label, e_reply));
    summary = c.summary();
    report = th::to_json(c).dump(1);
  }
  return nb::make_tuple(summary, report);
}
#endif

/// merkle_root(leaves as 32-byte bytes objects) -> hex
/// The 32-byte digests of `leaves` (Python bytes), checked.
std::vector<th::digest256> leaf_digests(const std::vector<nb::bytes>& leaves) {
  std::vector<th::digest256> d(leaves.size());
  for (std::size_t i = 0; i < leaves.size(); ++i) {
    if (leaves[i].size() != 32) {
      throw th::error(th::errc::invalid_argument, "leaf " + std::to_string(i) + " has " +
                                                      std::to_string(leaves[i].size()) +
                                                      " bytes, not 32");
    }
    std::memcpy(d[i].bytes, leaves[i].c_str(), 32);
  }
  return d;
}

std::string py_merkle_root(const std::vector<nb::bytes>& leaves) {
  const auto d = leaf_digests(leaves);
  nb::gil_scoped_release release;
  return th::merkle_root(d).to_hex();
}

std::string py_blake3_root(const std::vector<nb::bytes>& leaves) {
  const auto d = leaf_digests(leaves);
  nb::gil_scoped_release release;
  return th::blake3_root(d).to_hex();
}

nb::dict py_build_info() {
  nb::dict info;
  info["version"] = std::to_string(TENSORHASH_VERSION_MAJOR) + "." +
                    std::to_string(TENSORHASH_VERSION_MINOR) + "." +
                    std::to_string(TENSORHASH_VERSION_PATCH);
  info["cuda"] = bool(TENSORHASH_PY_WITH_CUDA);
#if TENSORHASH_PY_WITH_CUDA
  info["cuda_architectures"] = std::string(TENSORHASH_PY_CUDA_ARCHITECTURES);
  info["cuda_runtime"] = tensorhash_py::cuda_runtime_version();
#else
  info["cuda_architectures"] = nb::none();
  info["cuda_runtime"] = nb::none();
#endif
  info["sglang"] = bool(TENSORHASH_PY_WITH_SGLANG);
  info["sglang_replies"] = bool(TENSORHASH_PY_WITH_SGLANG_REPLIES);
  info["compiler"] = std::string(TENSORHASH_PY_CXX_COMPILER);
  info["hardware_threads"] = std::thread::hardware_concurrency();
  const auto& cpu = th::detail::host_cpu();
  info["sha_ni"] = cpu.sha_ni;
  info["avx2_f16c"] = cpu.avx2_f16c;
  info["avx512"] = cpu.avx512;
  info["host_streams"] = th::detail::preferred_streams<th::sha256>();
  info["blake3_path"] = std::string(th::detail::blake3::automatic_path());
  return info;
}

/// A Python mmap guarded against SIGBUS while a file it maps is truncated
/// (detail/map_guard.hpp): holds the mapping's buffer export, so the mmap cannot be closed
/// while guarded; `faulted` says whether a read past the file's end was answered with zeros.
class py_map_guard {
 public:
  explicit py_map_guard(nb::handle mapping) {
    if (PyObject_GetBuffer(mapping.ptr(), &view_, PyBUF_SIMPLE) != 0) {
      throw nb::python_error();
    }
    held_ = true;
    guard_ = th::detail::map_guard(view_.buf, static_cast<std::uint64_t>(view_.len));
  }
  py_map_guard(const py_map_guard&) = delete;
  py_map_guard& operator=(const py_map_guard&) = delete;
  ~py_map_guard() { release(); }

  bool faulted() const noexcept { return guard_.faulted(); }
  void release() {
    guard_ = th::detail::map_guard();  // unguarded before the mapping can go
    if (held_) {
      PyBuffer_Release(&view_);
      held_ = false;
    }
  }

 private:
  Py_buffer view_{};
  bool held_ = false;
  th::detail::map_guard guard_;
};

}  // namespace

NB_MODULE(_core, m) {
  m.doc() = "tensorhash's compiled core; use the `tensorhash` package, not this module.";

  nb::object cls = nb::module_::import_("tensorhash._error").attr("Error");
  error_class = cls.release().ptr();
  nb::register_exception_translator([](const std::exception_ptr& p, void*) {
    try {
      std::rethrow_exception(p);
    } catch (const th::error& e) {
      PyObject* exc =
          PyObject_CallFunction(error_class, "ss", th::to_string(e.code()), e.message().c_str());
      if (exc != nullptr) {
        PyErr_SetObject(error_class, exc);
        Py_DECREF(exc);
      }
    }
  });

  m.def("digests", &py_digests, nb::arg("items"), nb::arg("mode"), nb::arg("chunk_bytes"),
        nb::arg("canonical"), nb::arg("nan_rule"), nb::arg("threads"), nb::arg("stream"),
        nb::arg("labels").none(), nb::arg("progress") = false);
  m.def("leaves", &py_leaves, nb::arg("items"), nb::arg("mode"), nb::arg("chunk_bytes"),
        nb::arg("canonical"), nb::arg("nan_rule"), nb::arg("threads"), nb::arg("labels").none());
  m.def("sglang_diffusion_digest", &py_sglang_diffusion_digest, nb::arg("item"),
        nb::arg("canonical"), nb::arg("nan_rule"));
  m.def("sglang_weights_checksum", &py_sglang_weights_checksum, nb::arg("names"), nb::arg("items"),
        nb::arg("canonical"), nb::arg("nan_rule"));
#if TENSORHASH_PY_WITH_SGLANG_REPLIES
  m.def("sglang_expected", &py_sglang_expected, nb::arg("names"), nb::arg("items"),
        nb::arg("config"), nb::arg("label"), nb::arg("tp"), nb::arg("ep"), nb::arg("mode"),
        nb::arg("canonical"), nb::arg("nan_rule"), nb::arg("threads"), nb::arg("message"));
  m.def("sglang_compare", &py_sglang_compare, nb::arg("expected_text"), nb::arg("expected_label"),
        nb::arg("actual_text"), nb::arg("actual_label"));
#endif
  m.def("merkle_root", &py_merkle_root, nb::arg("leaves"));
  m.def("blake3_root", &py_blake3_root, nb::arg("leaves"));
  nb::class_<py_map_guard>(m, "MapGuard")
      .def(nb::init<nb::handle>(), nb::arg("mapping"))
      .def_prop_ro("faulted", &py_map_guard::faulted)
      .def("release", &py_map_guard::release);
  m.def("build_info", &py_build_info);
  m.def("cuda_device_count", [] { return tensorhash_py::cuda_device_count(); });
}
