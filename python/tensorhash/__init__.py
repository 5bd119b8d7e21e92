"""tensorhash: SHA-256 digests of tensors, for verifying model weights.

    import tensorhash
    tensorhash.digest(w)                            # tree digest (RFC 6962, 16 KiB chunks)
    tensorhash.digest(w, mode="exact")              # == hashlib.sha256(bytes).hexdigest()
    tensorhash.digests(model.state_dict())          # {name: hex}, one batch on all cores
    m = tensorhash.manifest(model.state_dict())     # the command line's manifest, as a dict
    tensorhash.compare(expected, m).ok
    want = tensorhash.sglang_expected(hf_state_dict, "config.json", tp=4)  # SGLang's reply
    tensorhash.compare_sglang(want, engine_reply).ok

Tensors are anything with ``__dlpack__`` (PyTorch, NumPy >= 1.22, JAX, CuPy) or the buffer
protocol, read in place: any strides, 0-dim, empty. CUDA tensors are hashed on their device, on
the producer's current stream, when this build has CUDA (`build_info()`); only digests come
back. The digest format is docs/format.md; python/tensorhash_ref.py reproduces every digest
with the standard library alone. Every error is a `tensorhash.Error` with a ``.code``.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from ._error import ERROR_CODES, Error
from . import _core
from . import _tensors as _t
from ._layout import KINDS as LAYOUT_KINDS
from ._layout import Layout, covered_part
from ._layout import full_tensors as _full_tensors
from ._manifest import (ALGORITHMS, FORMAT, ChunkDifference, Comparison, MetadataDifference,
                        Mismatch, compare, describe_settings, diff_leaves, dumps, load, loads,
                        save, sglang_engine_aggregate, sglang_rank_aggregate, validate)
from ._manifest import build as _build
from ._manifest import settings_header as _settings_header
from . import _sglang as _sg
from ._sglang import (ChecksumDifference, RankMismatch, RankTensor, SGLangComparison,
                      compare_sglang)

__version__ = "0.1.0"

DEFAULT_CHUNK_BYTES = _t.DEFAULT_CHUNK_BYTES
MODES = _t.MODES
NAN_RULES = _t.NAN_RULES

__all__ = [
    "Error", "ERROR_CODES", "build_info", "digest", "digests", "leaves", "merkle_root",
    "blake3_root",
    "compose_tree", "manifest", "checkpoint_manifest", "compare", "Comparison", "Mismatch",
    "MetadataDifference", "ChunkDifference", "diff_leaves", "load", "save", "loads", "dumps",
    "validate", "describe_settings", "Layout", "LAYOUT_KINDS", "covered_part",
    "expected_shard_digest", "expected_shard_digests", "expected_shard_leaves", "shard_digest",
    "hashlib_hex", "sglang_rank_aggregate", "sglang_engine_aggregate",
    "sglang_diffusion_digest", "sglang_weights_checksum", "sglang_expected", "compare_sglang",
    "SGLangComparison", "RankMismatch", "RankTensor", "ChecksumDifference",
    "DEFAULT_CHUNK_BYTES", "MODES", "NAN_RULES", "FORMAT", "ALGORITHMS",
]

AsDtype = Any  # None | "BF16" | "F32" | torch.bfloat16 | torch.float32


def build_info() -> Dict[str, Any]:
    """How this module was built and what it runs on.

    Keys: ``version``; ``cuda`` (True when the CUDA backend is compiled in: CUDA tensors are
    then hashed on their device, else refused), ``cuda_architectures``, ``cuda_runtime``,
    ``cuda_devices`` (visible now); ``sglang`` (SGLang's 64-bit modes compiled in);
    ``sglang_replies`` (`sglang_expected` and `compare_sglang` compiled in); ``compiler``; ``hardware_threads``; the CPU paths ``sha_ni``, ``avx2_f16c``, ``avx512``
    and ``host_streams`` (SHA-256 chains per thread); ``blake3_path``, the BLAKE3 SIMD path
    (``"avx512"``, ``"avx2"``, ``"sse41"`` or ``"portable"``)."""
    info = dict(_core.build_info())
    info["cuda_devices"] = _core.cuda_device_count() if info["cuda"] else 0
    return info


# ---- digests --------------------------------------------------------------------------------------

def digest(x: Any, mode: Optional[str] = None, chunk_bytes: int = DEFAULT_CHUNK_BYTES,
           as_dtype: AsDtype = None, nan_rule: str = "canonical", *, hasher: str = "sha256",
           threads: Optional[int] = None, stream: Any = None) -> str:
    """The digest of one tensor as lowercase hex.

    :param x: a tensor: anything with ``__dlpack__`` or the buffer protocol, any strides
    :param mode: ``"tree"`` (the default with SHA-256: RFC 6962 Merkle tree over `chunk_bytes`
        chunks, parallel, locates a difference to a chunk), ``"exact"`` (one hash of the
        canonical bytes: with SHA-256 equal to
        ``hashlib.sha256(t.contiguous().view(torch.uint8).numpy()).hexdigest()``; the only
        mode, and the default, with BLAKE3), or SGLang's 64-bit ``"sglang"`` / ``"sglang-cpu"``
        (16 hex digits)
    :param chunk_bytes: tree chunk size, a power of two from 1024 to 16 MiB
    :param as_dtype: hash floating-point tensors as stored (None), as ``.to(torch.bfloat16)``
        (``"BF16"``) or as ``.to(torch.float32)`` (``"F32"``) would store them; no copy is made
    :param nan_rule: the BF16 of NaNs with ``as_dtype="BF16"``: ``"canonical"`` (0x7FC0),
        ``"torch-cpu"`` or ``"torch-cuda"`` (docs/format.md §3.3)
    :param hasher: ``"sha256"`` or ``"blake3"`` (``blake3.blake3(bytes).hexdigest()`` and
        ``b3sum`` of the canonical bytes, parallel over cores within one tensor; host tensors)
    :param threads: CPU threads (None: all cores; small tensors use the calling thread)
    :param stream: CUDA tensors: the stream to hash on (default: the producer's current stream)
    :raises Error: bad arguments (``invalid_argument``, ``invalid_chunk_size``), unknown dtypes,
        CUDA tensors in a CPU-only build (``wrong_memory_space``)
    """
    mode = _t.core_mode(mode, hasher)
    canonical = _t.check_settings(mode, chunk_bytes, as_dtype, nan_rule)
    p = _t.prepare(x, "tensor", stream)
    return _t.run_digests([p], None, mode, chunk_bytes, canonical, nan_rule,
                          _t.threads_arg(threads))[0][0]


def digests(tensors: Union[Mapping[str, Any], Sequence[Any]], mode: Optional[str] = None,
            chunk_bytes: int = DEFAULT_CHUNK_BYTES, as_dtype: AsDtype = None,
            nan_rule: str = "canonical", *, hasher: str = "sha256",
            threads: Optional[int] = None,
            stream: Any = None) -> Union[Dict[str, str], List[str]]:
    """Digests of many tensors in one batch: a dict (same keys, same order) for a mapping such
    as a state dict, a list for a sequence. Host tensors are one ``host_engine`` call spread over
    all cores; CUDA tensors one ``device_plan`` per device. Arguments as `digest`."""
    mode = _t.core_mode(mode, hasher)
    canonical = _t.check_settings(mode, chunk_bytes, as_dtype, nan_rule)
    names, values = _t.split_items(tensors)
    prepared = [_t.prepare(v, _t.label_of(names, i), stream) for i, v in enumerate(values)]
    results = _t.run_digests(prepared, names, mode, chunk_bytes, canonical, nan_rule,
                             _t.threads_arg(threads))
    hexes = [r[0] for r in results]
    return dict(zip(names, hexes)) if names is not None else hexes


def leaves(x: Any, chunk_bytes: int = DEFAULT_CHUNK_BYTES, as_dtype: AsDtype = None,
           nan_rule: str = "canonical", *, hasher: str = "sha256",
           threads: Optional[int] = None) -> List[str]:
    """The leaf digests (hex, in order) of a host tensor: with SHA-256 its tree's, 32 bytes per
    chunk, what ranks exchange to locate a difference (`diff_leaves`) or to compose a full
    tensor's digest from dim-0 shards (`compose_tree`), ``merkle_root(leaves(x)) ==
    digest(x)``; with ``hasher="blake3"`` the chaining values of its 1 MiB subtrees
    (format.md §4.3a; chunk_bytes unused), ``blake3_root(leaves(x, hasher="blake3")) ==
    digest(x, hasher="blake3")``."""
    mode = _t.core_mode("tree" if hasher == "sha256" else None, hasher)
    canonical = _t.check_settings(mode, chunk_bytes, as_dtype, nan_rule)
    p = _t.prepare(x, "tensor")
    return list(_t.run_leaves([p], None, mode, chunk_bytes, canonical, nan_rule,
                              _t.threads_arg(threads))[0][1])


def merkle_root(leaf_digests: Sequence[Union[str, bytes]]) -> str:
    """RFC 6962 Merkle Tree Hash over leaf digests (hex strings or 32-byte values), as hex;
    the empty list gives SHA-256 of nothing."""
    return _core.merkle_root(_leaf_bytes(leaf_digests))


def blake3_root(leaf_digests: Sequence[Union[str, bytes]]) -> str:
    """A tensor's BLAKE3 digest (hex) from its leaves (`leaves(x, hasher="blake3")`,
    format.md §4.3a): the empty list gives BLAKE3 of nothing, one leaf is the digest itself,
    more are 1 MiB subtrees' chaining values merged as BLAKE3's tree merges them."""
    return _core.blake3_root(_leaf_bytes(leaf_digests))


def _leaf_bytes(leaf_digests: Sequence[Union[str, bytes]]) -> List[bytes]:
    raw = []
    for i, leaf in enumerate(leaf_digests):
        if isinstance(leaf, str):
            try:
                leaf = bytes.fromhex(leaf)
            except ValueError:
                raise Error("invalid_hex", "leaf %d is not a hex digest" % i) from None
        raw.append(bytes(leaf))
    return raw


def compose_tree(shards: Sequence[Tuple[int, Sequence[str]]],
                 chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> str:
    """The tree digest of a full tensor from its dim-0 shards' ``(canonical_bytes, leaves)``,
    in order (C++ ``compose_tree``). Valid when every shard but the last is a whole number of
    chunks; otherwise Error(invalid_argument) (compare per-shard digests instead)."""
    all_leaves: List[str] = []
    for i, (nbytes, shard_leaves) in enumerate(shards):
        if i + 1 < len(shards) and nbytes % chunk_bytes != 0:
            raise Error("invalid_argument",
                        "compose_tree: shard %d holds %d bytes, not a multiple of the %d-byte "
                        "chunk: compare per-shard digests (expected_shard) instead"
                        % (i, nbytes, chunk_bytes))
        if len(shard_leaves) != -(-nbytes // chunk_bytes):
            raise Error("invalid_argument", "compose_tree: shard %d has %d leaves for %d bytes"
                        % (i, len(shard_leaves), nbytes))
        all_leaves += shard_leaves
    return merkle_root(all_leaves)


# ---- manifests ------------------------------------------------------------------------------------

def manifest(state_dict: Mapping[str, Any], mode: Optional[str] = None,
             chunk_bytes: int = DEFAULT_CHUNK_BYTES, as_dtype: AsDtype = None,
             nan_rule: str = "canonical", *, leaves: bool = False, hasher: str = "sha256",
             threads: Optional[int] = None, stream: Any = None) -> Dict[str, Any]:
    """The manifest of named tensors, as the command line writes it (docs/format.md §6):
    ``{"format", "algorithm", ["chunk_bytes"], "canonical_dtype", ["nan_rule"], "tensors":
    {name: {"dtype", "shape", "digest", ["leaves"]}}, "aggregate"}``, tensors in code-point
    order of their names, ``aggregate`` SGLang's per-rank checksum. `leaves` (host tensors)
    records every tensor's leaves for chunk-level diffs: each chunk's in tree mode, each 1 MiB
    subtree's with BLAKE3 (format.md §4.3a). `hasher` as in `digest`
    (``"algorithm": "blake3"``). Save it with `save`."""
    mode = _t.core_mode(mode, hasher)
    canonical = _t.check_settings(mode, chunk_bytes, as_dtype, nan_rule)
    if leaves and mode not in _t.LEAF_MODES:
        raise Error("invalid_argument", _t.leaves_refusal(mode))
    names, values = _t.split_items(state_dict)
    if names is None:
        raise Error("invalid_argument", "manifest() takes a mapping of names to tensors")
    prepared = [_t.prepare(v, _t.label_of(names, i), stream) for i, v in enumerate(values)]
    return _manifest_of(names, prepared, mode, chunk_bytes, canonical, nan_rule, leaves,
                        _t.threads_arg(threads))


def _manifest_of(names, prepared, mode, chunk_bytes, canonical, nan_rule, with_leaves, threads,
                 progress=False):
    header = _settings_header(mode, chunk_bytes, canonical, nan_rule)
    if with_leaves:
        rows = _t.run_leaves(prepared, names, mode, chunk_bytes, canonical, nan_rule, threads)
        entries = [(n, r[2], r[3], r[0], r[1]) for n, r in zip(names, rows)]
    else:
        rows = _t.run_digests(prepared, names, mode, chunk_bytes, canonical, nan_rule, threads,
                              progress)
        entries = [(n, r[1], r[2], r[0], None) for n, r in zip(names, rows)]
    return _build(header, entries)


def checkpoint_manifest(paths: Union[str, Sequence[Any]], mode: Optional[str] = None,
                        chunk_bytes: int = DEFAULT_CHUNK_BYTES, as_dtype: AsDtype = None,
                        nan_rule: str = "canonical", *, leaves: bool = False,
                        hasher: str = "sha256", threads: Optional[int] = None,
                        progress: bool = False) -> Dict[str, Any]:
    """The manifest of safetensors files or directories of them (``tensorhash hash PATHS``):
    files are memory-mapped and validated as strictly as the C++ reader; names must be unique
    across files. `progress`: a bar on stderr while hashing, when it is a terminal and the
    files hold 1 GiB or more (the command line sets it)."""
    from ._safetensors import Checkpoint
    mode = _t.core_mode(mode, hasher)
    canonical = _t.check_settings(mode, chunk_bytes, as_dtype, nan_rule)
    if leaves and mode not in _t.LEAF_MODES:
        raise Error("invalid_argument", _t.leaves_refusal(mode))
    if isinstance(paths, (str, bytes)) or not isinstance(paths, Sequence):
        paths = [paths]
    with Checkpoint(paths) as ckpt:
        names = list(ckpt.tensors)
        prepared = [_t.Prepared((view, dtype, shape), None, 0)
                    for dtype, shape, view in ckpt.tensors.values()]
        try:
            m = _manifest_of(names, prepared, mode, chunk_bytes, canonical, nan_rule, leaves,
                             _t.threads_arg(threads), progress)
        finally:
            del prepared
        ckpt.check_unchanged()  # no manifest of bytes a writer moved while they were read
        return m


# ---- tensor-parallel layouts ----------------------------------------------------------------------

def _layout_entry(layout: Layout, full: Any, label: str, stream: Any) -> _t.Prepared:
    if not isinstance(layout, Layout):
        raise Error("invalid_argument", "%s: expected a tensorhash.Layout, got %s"
                    % (label, type(layout).__name__))
    parts = [_t.prepare(f, "%s part %d" % (label, i), stream)
             for i, f in enumerate(_full_tensors(layout, full))]
    devices = {p.device for p in parts}
    if len(devices) != 1:
        raise Error("invalid_argument", "%s: the full tensors must be on one device" % label)
    return _t.Prepared(layout.entry(tuple(p.entry for p in parts)), parts[0].device,
                       parts[0].stream)


def expected_shard_digest(layout: Layout, full: Any, mode: Optional[str] = None,
                          chunk_bytes: int = DEFAULT_CHUNK_BYTES, as_dtype: AsDtype = None,
                          nan_rule: str = "canonical", *, hasher: str = "sha256",
                          threads: Optional[int] = None, stream: Any = None) -> str:
    """The digest of what rank ``layout.rank`` holds, computed from the full tensors (one
    tensor, or (q, k, v) for fused_qkv, (gate, up) for fused_gate_up) without copying them:
    equal to ``digest(engine_shard)`` (``digest(covered_part(layout, shard))`` for
    vocab_parallel). Shapes that do not fit the layout raise Error(invalid_argument)."""
    return expected_shard_digests([(layout, full)], mode, chunk_bytes, as_dtype, nan_rule,
                                  hasher=hasher, threads=threads, stream=stream)[0]


def expected_shard_digests(items: Union[Mapping[str, Tuple[Layout, Any]],
                                        Sequence[Tuple[Layout, Any]]],
                           mode: Optional[str] = None, chunk_bytes: int = DEFAULT_CHUNK_BYTES,
                           as_dtype: AsDtype = None, nan_rule: str = "canonical", *,
                           hasher: str = "sha256", threads: Optional[int] = None,
                           stream: Any = None) -> Union[Dict[str, str], List[str]]:
    """`expected_shard_digest` for many ``(layout, full)`` pairs in one batch: a dict for a
    mapping (for example engine parameter name -> (layout, full tensors)), else a list."""
    mode = _t.core_mode(mode, hasher)
    canonical = _t.check_settings(mode, chunk_bytes, as_dtype, nan_rule)
    names, values = _t.split_items(items)
    prepared = []
    for i, item in enumerate(values):
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            raise Error("invalid_argument", "%s: expected a (layout, full tensors) pair"
                        % _t.label_of(names, i))
        prepared.append(_layout_entry(item[0], item[1], _t.label_of(names, i), stream))
    rows = _t.run_digests(prepared, names, mode, chunk_bytes, canonical, nan_rule,
                          _t.threads_arg(threads))
    hexes = [r[0] for r in rows]
    return dict(zip(names, hexes)) if names is not None else hexes


def expected_shard_leaves(layout: Layout, full: Any, chunk_bytes: int = DEFAULT_CHUNK_BYTES,
                          as_dtype: AsDtype = None, nan_rule: str = "canonical", *,
                          threads: Optional[int] = None) -> List[str]:
    """The tree leaves of what rank ``layout.rank`` holds, from the full host tensors: compare
    them with the rank's `leaves` (`diff_leaves`) to name the differing chunk."""
    canonical = _t.check_settings("tree", chunk_bytes, as_dtype, nan_rule)
    p = _layout_entry(layout, full, "layout", None)
    return list(_t.run_leaves([p], None, "tree", chunk_bytes, canonical, nan_rule,
                              _t.threads_arg(threads))[0][1])


def shard_digest(layout: Layout, shard: Any, mode: Optional[str] = None,
                 chunk_bytes: int = DEFAULT_CHUNK_BYTES, as_dtype: AsDtype = None,
                 nan_rule: str = "canonical", *, hasher: str = "sha256",
                 threads: Optional[int] = None, stream: Any = None) -> str:
    """The digest an engine rank computes of the shard it holds: ``digest(covered_part(layout,
    shard))``, to compare with `expected_shard_digest`."""
    return digest(covered_part(layout, shard), mode, chunk_bytes, as_dtype, nan_rule,
                  hasher=hasher, threads=threads, stream=stream)


# ---- drop-ins for existing recipes ------------------------------------------------------------------

def hashlib_hex(x: Any) -> str:
    """Miles' per-tensor digest, ``hashlib.sha256(t.contiguous().view(torch.uint8).numpy())
    .hexdigest()``, without the contiguous copy or the host transfer (exact mode, as stored)."""
    return digest(x, mode="exact")


def sglang_diffusion_digest(x: Any, as_dtype: AsDtype = None) -> str:
    """SGLang-diffusion's tensor check: SHA-256 of ``str(dtype)`` (the canonical dtype as
    PyTorch prints it), ``repr(tuple(shape))`` and the canonical bytes (host tensors)."""
    canonical = _t.check_settings("exact", 0, as_dtype, "canonical")
    p = _t.prepare(x, "tensor")
    if p.device is not None:
        raise Error("wrong_memory_space", "sglang_diffusion_digest reads host tensors")
    return _core.sglang_diffusion_digest(p.entry, canonical, "canonical")


def sglang_weights_checksum(state_dict: Mapping[str, Any], as_dtype: AsDtype = None) -> str:
    """SGLang's ``compute_weights_checksum``: one SHA-256 over each name (UTF-8) then its
    tensor's canonical bytes, names in code-point order (host tensors)."""
    canonical = _t.check_settings("exact", 0, as_dtype, "canonical")
    names, values = _t.split_items(state_dict)
    if names is None:
        raise Error("invalid_argument", "sglang_weights_checksum takes a mapping of names to "
                    "tensors")
    prepared = [_t.prepare(v, _t.label_of(names, i)) for i, v in enumerate(values)]
    if any(p.device is not None for p in prepared):
        raise Error("wrong_memory_space", "sglang_weights_checksum reads host tensors")
    return _core.sglang_weights_checksum(names, [p.entry for p in prepared], canonical,
                                         "canonical")


def sglang_expected(state_dict: Mapping[str, Any], config: Any, tp: int, mode: str = "sglang",
                    as_dtype: AsDtype = None, nan_rule: str = "canonical", *, ep: int = 1,
                    threads: Optional[int] = None) -> Dict[str, Any]:
    """What every tensor-parallel rank of an SGLang engine (target model, dp 1, pp 1) that loads
    these HF tensors reports to ``/weights_checker`` (action "checksum"): the HTTP reply
    ``{"success", "message", "ranks": [ChecksumInfo per GPU], "per_engine_checksum"}``, as
    ``tensorhash expect --engine sglang`` writes it. Compare it with the engine's reply with
    `compare_sglang`.

    The trainer's full tensors are mapped to SGLang's parameters as its Llama/Qwen2/Qwen3/
    Qwen3-MoE loaders shard them (docs/layouts.md, docs/format.md §4.5: fused ``qkv_proj`` and
    ``gate_up_proj``, column-split ``o_proj``/``down_proj``, vocab-parallel ``embed_tokens``/
    ``lm_head`` with zero padding rows, replicated norms and routers, the experts stacked into
    FusedMoE's ``w13_weight``/``w2_weight`` per EP rank) by the C++ library, from views: nothing
    is sliced or copied.

    :param state_dict: HF names to full host tensors (a Llama, Mistral, Qwen2, Qwen3 or
        Qwen3-MoE model)
    :param config: the model's HF config: a dict like config.json, or its path
        (``architectures``, ``num_attention_heads``, ``num_key_value_heads``, ``head_dim`` or
        ``hidden_size``, ``tie_word_embeddings``, ``num_hidden_layers``; for Qwen3-MoE
        ``num_experts``: SGLang gives every layer experts, so dense layers are refused)
    :param tp: the engine's tensor-parallel size
    :param mode: ``"sglang"`` (an engine on GPUs: its Triton hash) or ``"sglang-cpu"`` (an
        engine on CPUs)
    :param as_dtype: the dtype the engine holds the weights in, when it differs from the
        tensors' (None, ``"BF16"``, ``"F32"``); `nan_rule` as in `digest`
    :param ep: the engine's expert-parallel size (``--ep-size``), dividing `tp` and the experts
    :param threads: CPU threads (None: all cores for large models)
    :raises Error: a tensor SGLang's loaders do not take, a fused partner or an expert missing,
        shapes that do not split over `tp`, an `ep` that does not divide `tp` or the experts, a
        bad config (``invalid_argument``, ``parse_error``, ``io_error``), CUDA tensors
        (``wrong_memory_space``)
    """
    canonical = _sg.check_settings(mode, as_dtype, nan_rule)
    cfg = _sg.config_of(config)
    tp = _sg.check_size(tp, "tp")
    ep = _sg.check_size(ep, "ep")
    names, values = _t.split_items(state_dict)
    if names is None:
        raise Error("invalid_argument", "sglang_expected takes a mapping of names to tensors")
    prepared = [_t.prepare(v, _t.label_of(names, i)) for i, v in enumerate(values)]
    if any(p.device is not None for p in prepared):
        raise Error("wrong_memory_space", "sglang_expected reads host tensors")
    return json.loads(_sg.expected_text(names, [p.entry for p in prepared], cfg, tp, ep, mode,
                                        canonical, nan_rule, _t.threads_arg(threads)))
