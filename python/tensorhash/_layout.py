"""Tensor-parallel layouts (docs/layouts.md): what an engine rank holds of the full tensors.

The trainer holds full HF-format tensors; an engine rank holds a shard, sometimes a fused one.
`expected_shard_digest` hashes, from the full tensors, exactly the bytes a rank holds, without
slicing or concatenating anything in Python (the core composes views of the full tensors, as
``tensorhash::expected_shard`` does); the rank hashes what it holds (`covered_part` of it).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Tuple

from ._error import Error

KINDS = ("replicated", "column_parallel", "row_parallel", "vocab_parallel", "fused_qkv",
         "fused_gate_up")


@dataclass(frozen=True)
class Layout:
    """How one engine parameter is split over `tp_size` tensor-parallel ranks; `rank` is the
    rank this layout describes.

    ==================  ==========================================================  ==============
    kind                rank r of tp holds                                          full tensors
    ==================  ==========================================================  ==============
    replicated          the whole tensor                                            1
    column_parallel     rows [r n/tp, (r+1) n/tp) (dim 0)                           1
    row_parallel        columns [r n/tp, (r+1) n/tp) (dim 1)                        1
    vocab_parallel      padded rows [r p/tp, (r+1) p/tp), p = vocab padded to       1
                        `pad_to`; digests cover real-token rows only
    fused_qkv           its q heads, then its k heads, then its v heads             3 (q, k, v)
    fused_gate_up       its gate rows, then its up rows                             2 (gate, up)
    ==================  ==========================================================  ==============
    """

    kind: str = "replicated"
    tp_size: int = 1
    rank: int = 0
    vocab_size: int = 0
    pad_to: int = 64
    num_heads: int = 0
    num_kv_heads: int = 0
    head_dim: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise Error("invalid_argument", "layout: unknown kind %r (one of %s)"
                        % (self.kind, ", ".join(KINDS)))
        for field in ("tp_size", "rank", "vocab_size", "pad_to", "num_heads", "num_kv_heads",
                      "head_dim"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int):
                raise Error("invalid_argument", "layout: %s must be an int, got %r"
                            % (field, value))
        if self.tp_size < 1 or not 0 <= self.rank < self.tp_size:
            raise Error("invalid_argument", "layout: rank %d is outside tp size %d"
                        % (self.rank, self.tp_size))

    # -- constructors, named as tensorhash::tp_layout's --------------------------------------
    @staticmethod
    def replicated(tp_size: int = 1, rank: int = 0) -> "Layout":
        return Layout("replicated", tp_size, rank)

    @staticmethod
    def column_parallel(tp_size: int, rank: int = 0) -> "Layout":
        return Layout("column_parallel", tp_size, rank)

    @staticmethod
    def row_parallel(tp_size: int, rank: int = 0) -> "Layout":
        return Layout("row_parallel", tp_size, rank)

    @staticmethod
    def vocab_parallel(tp_size: int, rank: int = 0, *, vocab_size: int,
                       pad_to: int = 64) -> "Layout":
        return Layout("vocab_parallel", tp_size, rank, vocab_size=vocab_size, pad_to=pad_to)

    @staticmethod
    def fused_qkv(tp_size: int, rank: int = 0, *, num_heads: int, num_kv_heads: int,
                  head_dim: int) -> "Layout":
        return Layout("fused_qkv", tp_size, rank, num_heads=num_heads,
                      num_kv_heads=num_kv_heads, head_dim=head_dim)

    @staticmethod
    def fused_gate_up(tp_size: int, rank: int = 0) -> "Layout":
        return Layout("fused_gate_up", tp_size, rank)

    # -- helpers ------------------------------------------------------------------------------
    def for_rank(self, rank: int) -> "Layout":
        """The same layout for another rank."""
        return replace(self, rank=rank)

    @property
    def parts(self) -> int:
        """Number of full tensors the layout takes (3 for fused_qkv, 2 for fused_gate_up)."""
        return 3 if self.kind == "fused_qkv" else 2 if self.kind == "fused_gate_up" else 1

    @property
    def padded_vocab(self) -> int:
        """Vocabulary rows after padding (vocab_parallel)."""
        if self.pad_to < 1:
            raise Error("invalid_argument", "layout: pad_to must be >= 1")
        return -(-self.vocab_size // self.pad_to) * self.pad_to

    def real_rows(self) -> int:
        """vocab_parallel: rows of real tokens in this rank's shard."""
        per = self.padded_vocab // self.tp_size
        return max(0, min(per, self.vocab_size - self.rank * per))

    def entry(self, full: Tuple[Any, ...]) -> tuple:
        """The core's batch entry for this layout over prepared full tensors."""
        return ("layout", self.kind, self.tp_size, self.rank, self.vocab_size, self.pad_to,
                self.num_heads, self.num_kv_heads, self.head_dim, list(full))


def full_tensors(layout: Layout, full: Any) -> Tuple[Any, ...]:
    """`full` as a tuple of `layout.parts` tensors (one tensor may be passed bare)."""
    if isinstance(full, (list, tuple)):
        parts = tuple(full)
    else:
        parts = (full,)
    if len(parts) != layout.parts:
        raise Error("invalid_argument", "layout: %s takes %d full tensor(s), got %d"
                    % (layout.kind, layout.parts, len(parts)))
    return parts


def covered_part(layout: Layout, shard: Any) -> Any:
    """The part of an engine rank's shard that expected-shard digests describe: the shard
    itself, except for vocab_parallel, whose padding rows past the real vocabulary are left out
    (``shard[:real]``, a view: nothing is copied)."""
    if layout.kind != "vocab_parallel":
        return shard
    per = layout.padded_vocab // layout.tp_size
    shape = tuple(shard.shape)
    if len(shape) < 1 or shape[0] != per:
        raise Error("invalid_argument",
                    "layout: vocab_parallel: the engine shard must have padded_vocab / tp = %d "
                    "rows, it has shape %s" % (per, list(shape)))
    return shard[: layout.real_rows()]
