"""Argument normalisation and batching between the public API and the compiled core.

Every tensor goes through `prepare`: PyTorch tensors that require grad are detached (DLPack
refuses them), CUDA tensors are exported with ``__dlpack__(stream=...)`` so that the producer
orders its pending work before the stream tensorhash hashes on, and host tensors are handed to
the core as they are (nanobind reads them through DLPack or the buffer protocol, zero-copy).
`run_digests` groups a batch by device and makes one core call per group.
"""

from __future__ import annotations

import sys
from typing import Any, Dict, List, Optional, Sequence, Tuple

from . import _core
from ._error import Error

DEFAULT_CHUNK_BYTES = 16384
MODES = ("exact", "tree", "sglang", "sglang-cpu")
HASHERS = ("sha256", "blake3")
NAN_RULES = ("canonical", "torch-cpu", "torch-cuda")

_CUDA_DEVICE_TYPES = (2, 13)  # kDLCUDA, kDLCUDAManaged (kDLCUDAHost, 3, is host memory)
_BUILD = _core.build_info()

_AS_DTYPE_NAMES = {
    "bf16": "BF16", "bfloat16": "BF16", "torch.bfloat16": "BF16",
    "f32": "F32", "float32": "F32", "torch.float32": "F32",
}


def canonical_name(as_dtype: Any) -> str:
    """"" (as stored), "BF16" or "F32" for an `as_dtype` argument.

    Accepts None, "BF16"/"F32" (any case, or "bfloat16"/"float32"), torch.bfloat16,
    torch.float32 and numpy.float32.
    """
    if as_dtype is None:
        return ""
    text = as_dtype if isinstance(as_dtype, str) else str(as_dtype)
    if isinstance(as_dtype, type):  # numpy.float32 the class
        text = getattr(as_dtype, "__name__", text)
    name = _AS_DTYPE_NAMES.get(text.lower())
    if name is None:
        raise Error("invalid_argument",
                    "as_dtype must be None, \"BF16\" or \"F32\" (or torch.bfloat16, "
                    "torch.float32), got %r" % (as_dtype,))
    return name


def core_mode(mode: Optional[str], hasher: str, flags: bool = False) -> str:
    """The mode the core computes: `mode` ("tree" when None) with SHA-256, "blake3" (exact mode
    with BLAKE3) with hasher "blake3". `flags`: word the errors as the command line's flags."""
    if hasher not in HASHERS:
        raise Error("invalid_argument", "hasher must be \"sha256\" or \"blake3\", got %r"
                    % (hasher,))
    if mode is not None and mode not in MODES:
        raise Error("invalid_argument",
                    "mode must be \"exact\", \"tree\", \"sglang\" or \"sglang-cpu\", got %r"
                    % (mode,))
    if hasher == "sha256":
        return "tree" if mode is None else mode
    if mode not in (None, "exact"):
        raise Error("invalid_argument",
                    "--hasher blake3 is a tree hash itself, parallel as it is: use --mode exact "
                    "(the default with --hasher blake3), not --mode %s" % mode if flags else
                    "hasher \"blake3\" is a tree hash itself, parallel as it is: use mode "
                    "\"exact\" (the default with hasher \"blake3\"), not mode %r" % (mode,))
    return "blake3"


LEAF_MODES = ("tree", "blake3")  # core modes with leaves (format.md §4.2, §4.3a)


def leaves_refusal(mode: str) -> str:
    """Why leaves=True is refused in `mode` (a core mode without leaves)."""
    return "leaves=True needs mode \"tree\" or hasher \"blake3\", not mode %r" % (mode,)


def public_mode(mode: str) -> str:
    """The API's `mode` argument for a mode `core_mode` returned."""
    return "exact" if mode == "blake3" else mode


def check_settings(mode: str, chunk_bytes: int, as_dtype: Any, nan_rule: str) -> str:
    """Validates the digest settings (`mode` as `core_mode` returns it); returns the canonical
    dtype name ("" as stored)."""
    if mode not in MODES and mode != "blake3":
        raise Error("invalid_argument",
                    "mode must be \"exact\", \"tree\", \"sglang\" or \"sglang-cpu\", got %r"
                    % (mode,))
    if mode.startswith("sglang") and not _BUILD["sglang"]:
        raise Error("invalid_argument", "mode %r is not part of this build" % (mode,))
    if isinstance(chunk_bytes, bool) or not isinstance(chunk_bytes, int):
        raise Error("invalid_chunk_size", "chunk_bytes must be an int, got %r" % (chunk_bytes,))
    if mode == "tree" and (chunk_bytes < 1024 or chunk_bytes > 1 << 24
                           or chunk_bytes & (chunk_bytes - 1)):
        raise Error("invalid_chunk_size",
                    "tree chunk_bytes must be a power of two from 1024 to 16777216, got %d"
                    % chunk_bytes)
    canonical = canonical_name(as_dtype)
    if nan_rule not in NAN_RULES:
        raise Error("invalid_argument",
                    "nan_rule must be \"canonical\", \"torch-cpu\" or \"torch-cuda\", got %r"
                    % (nan_rule,))
    if nan_rule != "canonical" and canonical != "BF16":
        raise Error("invalid_argument", "nan_rule %r applies to as_dtype \"BF16\" only"
                    % (nan_rule,))
    return canonical


def threads_arg(threads: Optional[int]) -> int:
    if threads is None:
        return 0
    if isinstance(threads, bool) or not isinstance(threads, int) or not 0 <= threads < 1 << 32:
        raise Error("invalid_argument", "threads must be None or an int >= 0, got %r"
                    % (threads,))
    return threads


def _stream_handle(stream: Any) -> int:
    """An explicit stream argument as the integer DLPack expects (1: legacy default)."""
    if stream is None:
        return 0
    for attr in ("cuda_stream", "ptr"):  # torch.cuda.Stream, cupy.cuda.Stream
        value = getattr(stream, attr, None)
        if isinstance(value, int):
            return value or 1
    if isinstance(stream, int) and not isinstance(stream, bool) and stream >= 0:
        return stream or 1
    raise Error("invalid_argument",
                "stream must be None, an int (a cudaStream_t; 1 legacy default, 2 per-thread "
                "default), a torch.cuda.Stream or a cupy stream, got %r" % (stream,))


def _producer_stream(x: Any, device: int) -> int:
    """The producer's current stream on `device`, as DLPack's consumer stream integer."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(x, torch.Tensor):
        return torch.cuda.current_stream(device).cuda_stream or 1
    cupy = sys.modules.get("cupy")
    if cupy is not None and isinstance(x, cupy.ndarray):
        return cupy.cuda.get_current_stream().ptr or 1
    return 1  # legacy default stream: the producer orders its work before it


class Prepared:
    """A tensor ready for the core: the entry to pass and where it lives."""

    __slots__ = ("entry", "device", "stream")

    def __init__(self, entry: Any, device: Optional[int], stream: int) -> None:
        self.entry = entry
        self.device = device  # None: host memory; else the CUDA device ordinal
        self.stream = stream


def _cuda_device(x: Any) -> Optional[int]:
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(x, torch.Tensor):
        return x.device.index if x.is_cuda else None
    probe = getattr(x, "__dlpack_device__", None)
    if probe is None:
        return None
    try:
        kind, index = probe()
    except Exception:  # leave the error to the import, which names the tensor
        return None
    return int(index) if int(kind) in _CUDA_DEVICE_TYPES else None


def _check_numpy(x: Any, label: str) -> None:
    """Says why a numpy array no DLPack or buffer export gives as a tensor is none."""
    dt = x.dtype
    if dt.fields is not None:
        raise Error("invalid_argument", "%s: a structured numpy array (fields %s) is not a "
                    "tensor of one dtype; hash each field, or x.view(numpy.uint8) for its bytes"
                    % (label, ", ".join(dt.names)))
    if dt.kind == "O":
        raise Error("invalid_argument", "%s: a numpy array of Python objects holds references, "
                    "not values; convert it to a numeric dtype first" % label)
    if dt.kind in "USVMm":
        raise Error("invalid_argument", "%s: numpy dtype %s (strings, bytes or dates) is not a "
                    "number type tensorhash hashes; x.view(numpy.uint8) hashes its bytes"
                    % (label, dt.str))
    if dt.byteorder == ">" or (dt.byteorder == "=" and sys.byteorder == "big"):
        raise Error("invalid_argument", "%s: a big-endian numpy array (%s): tensorhash hashes "
                    "little-endian values (the safetensors byte order); pass "
                    "x.astype(x.dtype.newbyteorder('<'))" % (label, dt.str))


def prepare(x: Any, label: str, stream: Any = None, dtype: Optional[str] = None,
            shape: Optional[Sequence[int]] = None) -> Prepared:
    """Normalises one tensor (see the module comment)."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(x, torch.Tensor):
        # A private alias of the same storage: what the core exports and hashes. Another
        # thread's t.set_() swaps the caller's tensor's storage, which would free the memory
        # under an export of the caller's tensor itself (a crash); the alias keeps it.
        x = x.detach()
        if x.layout != torch.strided:
            raise Error("invalid_argument", "%s: a %s tensor has no strided storage to hash"
                        % (label, x.layout))
        if x.device.type not in ("cpu", "cuda"):
            raise Error("invalid_argument", "%s: tensors on %s are neither host nor CUDA memory"
                        % (label, x.device))
        if x.is_neg() or x.is_conj():  # the memory holds values PyTorch negates when read
            bit, held = ("negative", "un-negated") if x.is_neg() else ("conjugate",
                                                                       "unconjugated")
            raise Error("invalid_argument", "%s: a view with PyTorch's %s bit set (such as "
                        "c.conj().imag): its memory holds the values %s; hash "
                        "x.resolve_neg().resolve_conj() (a copy)" % (label, bit, held))
    numpy = sys.modules.get("numpy")
    if numpy is not None and isinstance(x, numpy.ndarray):
        _check_numpy(x, label)
    device = _cuda_device(x)
    handle = 0
    if device is not None:
        if not _BUILD["cuda"]:
            raise Error("wrong_memory_space",
                        "%s is in CUDA memory (device %d) but this tensorhash was built without "
                        "CUDA (build_info()['cuda'] is False): rebuild it with nvcc on PATH, or "
                        "hash a host copy (digests do not depend on where a tensor lives)"
                        % (label, device))
        handle = _stream_handle(stream) or _producer_stream(x, device)
        try:
            x = x.__dlpack__(stream=handle)
        except TypeError:  # a producer predating the stream keyword
            x = x.__dlpack__()
    entry = x if dtype is None and shape is None else (
        x, dtype, None if shape is None else tuple(shape))
    return Prepared(entry, device, handle)


def split_items(tensors: Any) -> Tuple[Optional[List[Any]], List[Any]]:
    """(names or None, values) of a mapping or a sequence of tensors."""
    if hasattr(tensors, "keys") and hasattr(tensors, "__getitem__"):
        names = list(tensors.keys())
        for n in names:
            if not isinstance(n, str):
                raise Error("invalid_argument", "tensor names must be str, got %r" % (n,))
        return names, [tensors[n] for n in names]
    if hasattr(tensors, "__dlpack__") or hasattr(tensors, "__array_interface__"):
        raise Error("invalid_argument",
                    "expected a mapping of names to tensors or a sequence of tensors, got one "
                    "tensor (%s): use digest() for a single tensor" % type(tensors).__name__)
    if isinstance(tensors, (str, bytes)) or not hasattr(tensors, "__iter__"):
        raise Error("invalid_argument",
                    "expected a mapping of names to tensors or a sequence of tensors, got %s"
                    % type(tensors).__name__)
    return None, list(tensors)


def label_of(names: Optional[List[str]], i: int) -> str:
    return 'tensor "%s"' % names[i] if names is not None else "tensor %d" % i


def run_grouped(prepared: Sequence[Prepared], call) -> List[Any]:
    """Calls `call(entries, indices, stream)` once per device group and reassembles results."""
    groups: Dict[Optional[int], List[int]] = {}
    for i, p in enumerate(prepared):
        groups.setdefault(p.device, []).append(i)
    out: List[Any] = [None] * len(prepared)
    for device, indices in groups.items():
        stream = prepared[indices[0]].stream if device is not None else 0
        results = call([prepared[i].entry for i in indices], indices, stream)
        for i, r in zip(indices, results):
            out[i] = r
    return out


def run_digests(prepared: Sequence[Prepared], names: Optional[List[str]], mode: str,
                chunk_bytes: int, canonical: str, nan_rule: str, threads: int,
                progress: bool = False) -> List[tuple]:
    """(hex, stored dtype, shape) for every prepared tensor: one core call per device;
    `progress`: a bar on stderr while host tensors hash (a terminal, 1 GiB or more)."""
    def call(entries, indices, stream):
        labels = None if names is None else [names[i] for i in indices]
        return _core.digests(entries, mode, chunk_bytes, canonical, nan_rule, threads, stream,
                             labels, progress)
    return run_grouped(prepared, call)


def run_leaves(prepared: Sequence[Prepared], names: Optional[List[str]], mode: str,
               chunk_bytes: int, canonical: str, nan_rule: str, threads: int) -> List[tuple]:
    """(root hex, [leaf hex], stored dtype, shape) for every prepared host tensor; `mode`
    "tree" (chunk leaves) or "blake3" (1 MiB subtree chaining values)."""
    for i, p in enumerate(prepared):
        if p.device is not None:
            raise Error("wrong_memory_space",
                        "%s: leaves are computed on the host; pass a host copy (the device "
                        "backend returns roots only)" % label_of(names, i))
    return _core.leaves([p.entry for p in prepared], mode, chunk_bytes, canonical, nan_rule,
                        threads, names)
