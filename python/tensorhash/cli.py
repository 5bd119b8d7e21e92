"""The ``tensorhash`` command line of the Python package (same commands, flags, manifests,
replies and exit codes as the C++ tools/tensorhash):

    tensorhash hash PATH... [--mode exact|tree|sglang|sglang-cpu] [--chunk-bytes N]
                            [--as BF16|F32] [--nan-rule R] [--device auto|cpu|cuda] [--leaves]
                            [--threads N] [-o FILE]
    tensorhash expect PATH... --engine sglang --tp N [--ep M] [--mode sglang|sglang-cpu]
                              [--as BF16|F32]
                              [--nan-rule R] [--config config.json] [--threads N] [-o FILE]
    tensorhash compare EXPECTED.json ACTUAL.json [--json]   (manifests or SGLang replies)
    tensorhash diff A B [--hasher sha256|blake3] [--chunk-bytes N] [--as BF16|F32] [--nan-rule R]
                        [--all-chunks]
                            (manifests with leaves, SGLang replies, or safetensors
                             files/directories)
    tensorhash --version

Exit codes: 0 success or no difference, 1 differences found, 2 bad input or usage. On error
nothing is written.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import List, Optional

from . import _manifest as _m
from . import _sglang as _sg
from ._error import Error, _printable

EXIT_DIFFERENCES = 1
EXIT_BAD_INPUT = 2
#: An error line names at most this many bytes of its message, escaped (as the C++ CLI).
MAX_ERROR_BYTES = 2000
EXIT_CODES = ("Exit codes: 0 success (compare, diff: no difference), 1 differences found, 2 bad "
              "input or usage (one line on stderr; nothing is written).")
THREADS_HELP = ("CPU threads (default, or 0: every hardware thread; at most 4 x the hardware "
                "threads)")


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # usage errors: exit 2, one line, as CLI11 does
        self.print_usage(sys.stderr)
        sys.stderr.write("%s: error: %s\n" % (self.prog, message))
        sys.exit(EXIT_BAD_INPUT)


def _add_digest_options(p: argparse.ArgumentParser, chunks: bool = True) -> None:
    if chunks:
        p.add_argument("--chunk-bytes", type=int, default=16384,
                       help="tree chunk size (power of two, 1024..16777216; default 16384)")
    p.add_argument("--as", dest="canonical", choices=["BF16", "F32"], default=None,
                   help="canonical dtype for floating-point tensors")
    p.add_argument("--nan-rule", choices=["canonical", "torch-cpu", "torch-cuda"],
                   default="canonical",
                   help="BF16 of a NaN with --as BF16: canonical (0x7FC0), torch-cpu (PyTorch's "
                        "vectorised CPU kernels), torch-cuda (0x7FFF)")


def _epilog(*examples: str) -> str:
    return "".join(["Example:\n"] + ["  %s\n" % e for e in examples] + ["\n", EXIT_CODES])


class _Version(argparse.Action):
    """--version, computed only when asked (build_info counts CUDA devices)."""

    def __init__(self, option_strings, dest, **kw):
        super().__init__(option_strings, dest, nargs=0, help="print the version and exit")

    def __call__(self, parser, namespace, values, option_string=None):
        import tensorhash
        info = tensorhash.build_info()
        sys.stdout.write("tensorhash %s (%s)\n" % (info["version"], "CUDA device backend built "
                                                  "in" if info["cuda"] else "CPU only"))
        parser.exit(0)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="tensorhash",
                     description="tensorhash: SHA-256 and BLAKE3 digests of tensors and checkpoints",
                     epilog=EXIT_CODES)
    parser.add_argument("--version", action=_Version)
    sub = parser.add_subparsers(dest="command", metavar="{hash,expect,compare,diff}",
                                parser_class=_Parser)
    sub.required = True
    raw = argparse.RawDescriptionHelpFormatter
    h = sub.add_parser("hash", help="hash every tensor of safetensors files or directories",
                       formatter_class=raw,
                       epilog=_epilog("tensorhash hash ckpt/ --mode exact -o step-100.json"))
    h.add_argument("paths", nargs="+", help="safetensors files, or directories of them")
    h.add_argument("--mode", choices=["exact", "tree", "sglang", "sglang-cpu"], default=None,
                   help="exact (hashlib-identical), tree (the default), sglang (SGLang's GPU "
                        "weight hash, 16 hex) or sglang-cpu (SGLang's CPU recipe: SHA-256's "
                        "first 8 bytes); exact with --hasher blake3")
    h.add_argument("--hasher", choices=["sha256", "blake3"], default="sha256",
                   help="sha256, or blake3 (b3sum-identical per tensor, parallel in exact mode)")
    _add_digest_options(h)
    h.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                   help="where to hash")
    h.add_argument("--leaves", action="store_true",
                   help="also record leaf digests for diff (tree: each chunk's; blake3: each "
                        "1 MiB subtree's)")
    h.add_argument("--threads", type=int, default=0, help=THREADS_HELP)
    h.add_argument("-o", "--output", default="",
                   help="manifest file to write (default: print to stdout)")
    x = sub.add_parser("expect", help="what each tensor-parallel rank of an engine will report "
                       "for a checkpoint", formatter_class=raw,
                       epilog=_epilog("tensorhash expect hf-ckpt/ --engine sglang --tp 4 -o "
                                      "expected.json",
                                      "tensorhash expect qwen3-moe/ --engine sglang --tp 8 --ep 4 "
                                      "-o expected.json",
                                      "tensorhash compare expected.json engine-reply.json"))
    x.add_argument("paths", nargs="+", help="safetensors files, or directories of them")
    x.add_argument("--engine", choices=["sglang"], default="sglang",
                   help="the engine whose report to predict")
    x.add_argument("--tp", type=int, required=True, help="tensor-parallel size of the engine")
    x.add_argument("--ep", type=int, default=1,
                   help="expert-parallel size of the engine (its --ep-size; MoE models)")
    x.add_argument("--mode", choices=["sglang", "sglang-cpu"], default="sglang",
                   help="sglang (engine on GPUs: its Triton hash) or sglang-cpu (engine on CPUs)")
    _add_digest_options(x, chunks=False)
    x.add_argument("--config", default="",
                   help="HF config.json (default: beside the checkpoint)")
    x.add_argument("--threads", type=int, default=0, help=THREADS_HELP)
    x.add_argument("-o", "--output", default="",
                   help="reply file to write (default: print to stdout)")
    c = sub.add_parser("compare",
                       help="compare manifests or SGLang replies (exit 1 on any difference)",
                       formatter_class=raw,
                       epilog=_epilog("tensorhash compare trainer.json engine.json"))
    c.add_argument("expected", help="expected manifest or SGLang reply")
    c.add_argument("actual", help="actual manifest or SGLang reply")
    c.add_argument("--json", action="store_true", help="print the report as JSON")
    d = sub.add_parser("diff", help="locate differing chunks of tree or BLAKE3 digests (tensors "
                       "and GPUs of SGLang replies)", formatter_class=raw,
                       epilog=_epilog("tensorhash diff trainer-ckpt/ engine-dump/ --as BF16"))
    d.add_argument("expected", help="manifest with leaves, SGLang reply, or safetensors file/dir")
    d.add_argument("actual", help="manifest with leaves, SGLang reply, or safetensors file/dir")
    d.add_argument("--hasher", choices=["sha256", "blake3"], default="sha256",
                   help="sha256 (tree leaves of --chunk-bytes) or blake3 (1 MiB subtrees), for "
                        "safetensors inputs")
    _add_digest_options(d)
    d.add_argument("--all-chunks", action="store_true",
                   help="list every differing chunk (default: the first 16)")
    return parser


def _refuse_output_among(out: str, inputs: List[str]) -> None:
    """An -o that names one of the inputs would destroy what was to be checked; one that is no
    regular file is refused before the hashing, not an hour after it."""
    if out:
        _m.require_writable_target(out)
    for path in inputs:
        try:
            same = bool(out) and os.path.samefile(out, path)
        except OSError:
            same = False
        if same:
            raise Error("invalid_argument", "-o %s is one of the inputs (%s): it would be "
                        "overwritten; write the output elsewhere" % (out, path))


def _check_flags(args, mode: str) -> None:
    """The flag errors, worded in flags (not the API's argument names) and checked in the
    order of the C++ command line's settings_of: chunk size, --leaves, --nan-rule; then
    --threads."""
    from . import _tensors as _t
    if mode == "tree":
        _t.check_settings("tree", args.chunk_bytes, None, "canonical")
    if getattr(args, "leaves", False) and mode not in ("tree", "blake3"):
        raise Error("invalid_argument", "--leaves needs --mode tree or --hasher blake3")
    if args.nan_rule != "canonical" and args.canonical != "BF16":
        raise Error("invalid_argument", "--nan-rule %s applies to --as BF16 only" % args.nan_rule)
    if getattr(args, "threads", 0) < 0:
        raise Error("invalid_argument", "--threads must be >= 0")


def _resolve_device(args) -> str:
    import tensorhash
    info = tensorhash.build_info()
    sglang = args.mode in ("sglang", "sglang-cpu")
    torch_cuda = False
    if info["cuda"] and info["cuda_devices"] > 0 and args.device != "cpu":
        try:
            import torch
            torch_cuda = torch.cuda.is_available()
        except ImportError:
            torch_cuda = False
    if args.device == "cuda":
        if not torch_cuda:
            raise Error("invalid_argument",
                        "--device cuda: no CUDA device (or this tensorhash was built without "
                        "CUDA, or PyTorch, which uploads the files, is missing)")
        if sglang:
            raise Error("invalid_argument",
                        "--mode %s is computed on the CPU; use --device cpu" % args.mode)
        if args.leaves:
            raise Error("invalid_argument", "--leaves is computed on the CPU; use --device cpu")
        return "cuda"
    if args.device == "auto" and torch_cuda and not args.leaves and not sglang:
        return "cuda"
    return "cpu"


def _hash_on_device(paths, args, canonical) -> dict:
    """Uploads the files' tensors with PyTorch and hashes them with one device_plan."""
    import torch

    from . import _tensors as _t
    from ._safetensors import Checkpoint
    with Checkpoint(paths) as ckpt:
        names = list(ckpt.tensors)
        uploaded = {}
        for name, (dtype, shape, view) in ckpt.tensors.items():
            raw = torch.frombuffer(view, dtype=torch.uint8) if len(view) else \
                torch.empty(0, dtype=torch.uint8)
            uploaded[name] = (raw.to("cuda"), dtype, shape)
        torch.cuda.synchronize()  # every byte read from the files before they are checked
        ckpt.check_unchanged()
    prepared = [_t.prepare(t, 'tensor "%s"' % n, None, dtype, shape)
                for n, (t, dtype, shape) in uploaded.items()]
    rows = _t.run_digests(prepared, names, args.mode, args.chunk_bytes, canonical,
                          args.nan_rule, 0)
    header = _m.settings_header(args.mode, args.chunk_bytes, canonical, args.nan_rule)
    return _m.build(header, [(n, r[1], r[2], r[0], None) for n, r in zip(names, rows)])


def _run_hash(args) -> int:
    import tensorhash
    from ._safetensors import Checkpoint, expand_paths
    from . import _tensors as _t
    args.mode = _t.core_mode(args.mode, args.hasher, flags=True)
    _check_flags(args, args.mode)
    canonical = _t.check_settings(args.mode, args.chunk_bytes, args.canonical, args.nan_rule)
    start = time.perf_counter()
    files = expand_paths(args.paths)
    _refuse_output_among(args.output, files)
    with Checkpoint(files) as ckpt:  # validates every file before anything is hashed
        nbytes = ckpt.nbytes
    device = _resolve_device(args)
    if device == "cuda":
        m = _hash_on_device(files, args, canonical)
    else:
        m = tensorhash.checkpoint_manifest(files, _t.public_mode(args.mode), args.chunk_bytes,
                                           args.canonical, args.nan_rule, leaves=args.leaves,
                                           hasher=args.hasher, threads=args.threads,
                                           progress=True)
    seconds = max(time.perf_counter() - start, 1e-9)
    if args.output:
        _m.save(m, args.output)
    else:
        sys.stdout.write(_m.dumps(m))
        sys.stdout.flush()
    sys.stderr.write("%d tensors, %.3f GB in %d file(s), %s on %s: %.3f s (%.2f GB/s)\n" % (
        len(m["tensors"]), nbytes / 1e9, len(files), _m.describe_settings(m), device, seconds,
        nbytes / 1e9 / seconds))
    sys.stderr.write("aggregate %s%s%s\n" % (m["aggregate"], ", manifest written to "
                                             if args.output else "", args.output))
    return 0


def _find_config(args) -> str:
    """The HF config.json: --config, else beside the checkpoint (the first directory given, or
    the first file's directory)."""
    if args.config:
        return args.config
    first = args.paths[0]
    config = os.path.join(first if os.path.isdir(first) else os.path.dirname(first),
                          "config.json")
    if not os.path.exists(config):
        raise Error("io_error", "%s does not exist: pass the model's HF config with --config "
                    "(heads, kv heads, head_dim, tied embeddings)" % config)
    return config


def _run_expect(args) -> int:
    from ._safetensors import Checkpoint, expand_paths
    _check_flags(args, args.mode)
    canonical = _sg.check_settings(args.mode, args.canonical, args.nan_rule)
    for flag, value in (("--tp", args.tp), ("--ep", args.ep)):
        if not -(1 << 63) <= value < 1 << 63:
            raise Error("invalid_argument", "%s %d is out of range (1 to 2^63-1)" % (flag, value))
        if value < 1:
            raise Error("invalid_argument", "%s must be at least 1" % flag)
    files = expand_paths(args.paths)
    config = _find_config(args)
    _refuse_output_among(args.output, files + [config])
    with Checkpoint(files) as ckpt:
        cfg = _sg.config_of(config)
        start = time.perf_counter()
        entries = [(view, dtype, shape) for dtype, shape, view in ckpt.tensors.values()]
        try:
            text = _sg.expected_text(list(ckpt.tensors), entries, cfg, args.tp, args.ep,
                                     args.mode, canonical, args.nan_rule, args.threads)
        finally:
            del entries
        ckpt.check_unchanged()
    seconds = time.perf_counter() - start
    if args.output:
        _m.write_atomically(text + "\n", args.output)
    else:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
    reply = json.loads(text)
    sys.stderr.write("%d ranks x %d parameters, %s: %.3f s\nper_engine_checksum %s%s%s\n" % (
        len(reply["ranks"]), len(reply["ranks"][0]["checksums"]), reply["message"], seconds,
        reply["per_engine_checksum"], ", written to " if args.output else "", args.output))
    return 0


def _report(c, as_json: bool) -> int:
    """Prints a Comparison or SGLangComparison; returns the exit code."""
    if as_json:
        sys.stdout.write(json.dumps(c.to_json(), indent=1, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(c.summary())
    return 0 if c.ok else EXIT_DIFFERENCES


def _run_compare(args) -> int:
    e_doc = _sg.read_document(args.expected)
    a_doc = _sg.read_document(args.actual)
    if e_doc.manifest is None or a_doc.manifest is None:  # GPU by GPU, tensor by tensor
        return _report(_sg.compare_documents(e_doc, a_doc), args.json)
    expected, actual = e_doc.manifest, a_doc.manifest
    if _m.settings_of(expected) != _m.settings_of(actual):
        raise Error("invalid_argument",
                    "the manifests were hashed differently (%s vs %s): no digest can be "
                    "compared; hash both the same way" % (_m.describe_settings(expected),
                                                          _m.describe_settings(actual)))
    return _report(_m.compare(expected, actual), args.json)


def _leaves_of(path: str, args) -> _sg.Document:
    """A manifest or SGLang reply file (.json), or a checkpoint's leaves as a manifest."""
    if path.endswith(".json"):
        return _sg.read_document(path)
    import tensorhash
    mode = "exact" if args.hasher == "blake3" else "tree"
    return _sg.Document(path, None, tensorhash.checkpoint_manifest(
        [path], mode, args.chunk_bytes, args.canonical, args.nan_rule, leaves=True,
        hasher=args.hasher))


def _run_diff(args) -> int:
    from . import _tensors as _t
    mode = "blake3" if args.hasher == "blake3" else "tree"
    _check_flags(args, mode)
    _t.check_settings(mode, args.chunk_bytes, args.canonical, args.nan_rule)
    e_doc = _leaves_of(args.expected, args)
    a_doc = _leaves_of(args.actual, args)
    # An SGLang reply holds one hash per tensor and no chunks: its differences are the tensors
    # and GPUs that compare names.
    if e_doc.manifest is None or a_doc.manifest is None:
        return _report(_sg.compare_documents(e_doc, a_doc), False)
    expected, actual = e_doc.manifest, a_doc.manifest
    if _m.leaf_bytes(expected) == 0 or _m.settings_of(expected) != _m.settings_of(actual):
        raise Error("invalid_argument", "diff needs two tree or BLAKE3 digests with the same "
                    "settings (%s vs %s)" % (_m.describe_settings(expected),
                                             _m.describe_settings(actual)))
    c = _m.compare(expected, actual)
    out = []
    for mm in c.mismatched:
        e = expected["tensors"][mm.name]
        g = actual["tensors"][mm.name]
        out.append("CHUNKS     %s\n" % _printable(mm.name))
        if not e.get("leaves") or not g.get("leaves"):
            out.append("  (no leaf digests recorded: hash with --leaves to locate the chunks)\n")
            continue
        numel = 1
        for d in e["shape"]:
            numel *= d
        element = _m.canonical_element_bytes(expected, e["dtype"])
        chunks = _m.diff_leaves(e["leaves"], g["leaves"], _m.leaf_bytes(expected),
                                numel * element, element, limit=None)
        shown = len(chunks) if args.all_chunks else min(len(chunks), 16)
        for d in chunks[:shown]:
            out.append("  chunk %d: bytes [%d, %d), elements [%d, %d)\n" % (
                d.chunk, d.byte_begin, d.byte_end, d.element_begin, d.element_end))
        if shown < len(chunks):
            out.append("  ... and %d more chunks (--all-chunks lists them)\n"
                       % (len(chunks) - shown))
    sys.stdout.write("".join(out) + c.summary())
    return 0 if c.ok else EXIT_DIFFERENCES


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of the ``tensorhash`` console script; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "hash":
            return _run_hash(args)
        if args.command == "expect":
            return _run_expect(args)
        if args.command == "compare":
            return _run_compare(args)
        return _run_diff(args)
    except Error as e:  # one line, escaped and bounded: names and paths are untrusted
        sys.stderr.write("%s\n" % _printable(str(e), MAX_ERROR_BYTES))
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:  # as a shell reports a process SIGINT ended; nothing was written
        sys.stderr.write("tensorhash: interrupted\n")
        return 130
    except Exception as e:  # never a traceback and exit 1, which compare means "different"
        sys.stderr.write("tensorhash: %s\n" % _printable(
            "%s: %s" % (type(e).__name__, e) if not isinstance(e, OSError) else str(e),
            MAX_ERROR_BYTES))
        return EXIT_BAD_INPUT


def _console() -> None:  # pragma: no cover - used by __main__
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    _console()
