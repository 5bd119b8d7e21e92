"""SGLang's weight-checker replies (docs/format.md §4.5–4.6): what each tensor-parallel rank of an
SGLang engine reports for a checkpoint, and comparisons of replies with replies or manifests.

The mapping from HF tensors to SGLang's parameters, the hashing, the strict reading of replies
and the comparison are the C++ library's (include/tensorhash/sglang_checksum.hpp and
sglang_checksum_json.hpp, through the compiled core); this module reads the model's HF config,
moves JSON text between Python and the core, and turns the core's report into dataclasses.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, NamedTuple, Optional, Sequence

from . import _core
from . import _manifest as _m
from . import _tensors as _t
from ._error import Error

def require_replies() -> None:
    """Raises Error(invalid_argument) when this build has no SGLang reply support."""
    if not _core.build_info()["sglang_replies"]:
        raise Error("invalid_argument",
                    "SGLang's weight-checker replies are not part of this build (it needs "
                    "tensorhash/sglang.hpp and nlohmann-json at build time; "
                    "build_info()['sglang_replies'] is False)")


# ---- the model's config ---------------------------------------------------------------------

class Config(NamedTuple):
    """An HF config.json's bytes, and the label that names it in messages. The C++ library reads
    the facts SGLang's sharding depends on from it (sglang_model_from_config), as the command
    line does."""
    data: bytes
    label: str


def config_of(config: Any) -> Config:
    """An HF config: a dict like config.json, or the path of a config.json (read here: an
    unreadable file is an ``io_error``)."""
    if isinstance(config, (str, os.PathLike)):
        label = os.fspath(config)
        try:
            with _m.open_regular(config) as f:
                data = f.read()
        except OSError as e:
            raise Error("io_error", "%s: cannot read: %s" % (label, e.strerror or e)) \
                from None
        return Config(data, label)
    try:
        return Config(json.dumps(config, allow_nan=False).encode(), "config")
    except (TypeError, ValueError) as e:
        raise Error("parse_error", "config: not a JSON object: %s" % e) from None


# ---- expected replies -----------------------------------------------------------------------

def check_settings(mode: str, as_dtype: Any, nan_rule: str) -> str:
    """Validates the settings of expected checksums; returns the canonical dtype name."""
    if mode not in ("sglang", "sglang-cpu"):
        raise Error("invalid_argument",
                    "SGLang's expected checksums need mode \"sglang\" (an engine on GPUs) or "
                    "\"sglang-cpu\" (an engine on CPUs), got %r" % (mode,))
    return _t.check_settings(mode, 0, as_dtype, nan_rule)


def check_size(value: Any, what: str) -> int:
    """A parallel size (tp, ep): an int from 1 to 2^63-1."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value < 1 << 63:
        raise Error("invalid_argument",
                    "%s must be an int from 1 to 2^63-1, got %r" % (what, value))
    return value


def expected_text(names: List[str], entries: Sequence[Any], config: Config, tp: int, ep: int,
                  mode: str, canonical: str, nan_rule: str, threads: int) -> str:
    """The expected reply as the C++ command line writes it (JSON text, one-space indent, no
    final newline); host tensors only."""
    require_replies()
    message = "expected by tensorhash: %s, tp %d%s" % (
        _m.describe_settings(_m.settings_header(mode, 0, canonical, nan_rule)), tp,
        ", ep %d" % ep if ep > 1 else "")
    return _core.sglang_expected(names, list(entries), config.data, config.label, tp, ep, mode,
                                 canonical, nan_rule, threads, message)


# ---- comparison -----------------------------------------------------------------------------

@dataclass(frozen=True)
class RankMismatch:
    """A parameter whose checksum differs on one GPU; `rank` reads "tp 2/4" (with dp and pp
    when they are > 1), checksums are 16 hex digits."""
    rank: str
    name: str
    expected: str
    actual: str


@dataclass(frozen=True)
class RankTensor:
    """A parameter expected on a GPU and absent from its reply, or reported and not expected."""
    rank: str
    name: str


@dataclass(frozen=True)
class ChecksumDifference:
    """A ``per_gpu_checksum`` (or, with `rank` "", the ``per_engine_checksum``) that differs."""
    rank: str
    expected: str
    actual: str


@dataclass
class SGLangComparison:
    """How an actual SGLang reply differs from the expected one, GPU by GPU (C++
    ``tensorhash::sglang_comparison``): GPUs are matched by pp, dp and tp rank (a side without
    data parallelism stands for every dp replica). `matched` counts equal parameters over the
    `ranks_compared` GPUs; `per_engine` is set when both sides report a per-engine checksum for
    the same number of ranks and the two differ."""
    ranks_compared: int = 0
    matched: int = 0
    mismatched: List[RankMismatch] = field(default_factory=list)
    missing: List[RankTensor] = field(default_factory=list)
    unexpected: List[RankTensor] = field(default_factory=list)
    per_gpu: List[ChecksumDifference] = field(default_factory=list)
    missing_ranks: List[str] = field(default_factory=list)
    unexpected_ranks: List[str] = field(default_factory=list)
    per_engine: Optional[ChecksumDifference] = None
    text: str = field(default="", repr=False, compare=False)  # the core's summary

    @property
    def ok(self) -> bool:
        return not (self.mismatched or self.missing or self.unexpected or self.per_gpu
                    or self.missing_ranks or self.unexpected_ranks or self.per_engine)

    def summary(self) -> str:
        """One line per difference, then the counts: what ``tensorhash compare`` prints."""
        return self.text

    def to_json(self) -> Dict[str, Any]:
        """The report as a dict: ``json.dumps(c.to_json(), indent=1)`` is what
        ``tensorhash compare --json`` prints."""
        return {
            "ok": self.ok, "ranks_compared": self.ranks_compared, "matched": self.matched,
            "mismatched": [{"rank": d.rank, "name": d.name, "expected": d.expected,
                            "actual": d.actual} for d in self.mismatched],
            "missing": [{"rank": n.rank, "name": n.name} for n in self.missing],
            "unexpected": [{"rank": n.rank, "name": n.name} for n in self.unexpected],
            "per_gpu": [{"rank": d.rank, "expected": d.expected, "actual": d.actual}
                        for d in self.per_gpu],
            "missing_ranks": list(self.missing_ranks),
            "unexpected_ranks": list(self.unexpected_ranks),
            "per_engine": None if self.per_engine is None else {
                "expected": self.per_engine.expected, "actual": self.per_engine.actual}}


class Document(NamedTuple):
    """A checksum document for the core: its label (a file name), its JSON text (None: the
    manifest's), and the validated manifest when it is one (None for an SGLang reply)."""
    label: str
    text: Optional[str]
    manifest: Optional[Dict[str, Any]]


def read_document(path: _m.PathLike) -> Document:
    """A manifest file (a JSON object with "format", validated) or an SGLang reply (validated
    by the core when compared)."""
    label = os.fspath(path)
    data = _m.read_bytes(path)
    doc = _m.parse_json(data, label)
    is_manifest = isinstance(doc, dict) and "format" in doc
    return Document(label, data.decode("utf-8"),
                    _m.validate(doc, label) if is_manifest else None)


def compare_documents(expected: Document, actual: Document) -> SGLangComparison:
    """Compares two documents through the core, as replies (a manifest of SGLang digests
    stands for one GPU, tp 0/1)."""
    require_replies()

    def text(d: Document) -> str:
        return d.text if d.text is not None else json.dumps(d.manifest, ensure_ascii=False)
    summary, report = _core.sglang_compare(text(expected), expected.label, text(actual),
                                           actual.label)
    j = json.loads(report)
    engine = j["per_engine"]
    return SGLangComparison(
        ranks_compared=j["ranks_compared"], matched=j["matched"],
        mismatched=[RankMismatch(**d) for d in j["mismatched"]],
        missing=[RankTensor(**n) for n in j["missing"]],
        unexpected=[RankTensor(**n) for n in j["unexpected"]],
        per_gpu=[ChecksumDifference(**d) for d in j["per_gpu"]],
        missing_ranks=j["missing_ranks"], unexpected_ranks=j["unexpected_ranks"],
        per_engine=None if engine is None else ChecksumDifference("", **engine),
        text=summary)


def _document(x: Any, label: str) -> Document:
    if isinstance(x, (str, os.PathLike)):
        return read_document(x)
    if isinstance(x, (dict, list)):
        return Document(label, json.dumps(x, ensure_ascii=False), None)
    raise Error("invalid_argument", "%s: expected a reply or manifest (a dict or list) or the "
                "path of one, got %s" % (label, type(x).__name__))


def compare_sglang(expected: Any, actual: Any) -> SGLangComparison:
    """Compares SGLang weight-checker replies GPU by GPU, parameter by parameter.

    Each side is a dict or list, or the path of a JSON file, holding an SGLang reply in any
    form SGLang produces (the HTTP reply of ``/weights_checker``, a list of ``ChecksumInfo``, or
    one ``ChecksumInfo``), such as `sglang_expected` returns, or a manifest hashed with mode
    ``"sglang"``/``"sglang-cpu"`` (it stands for one GPU, tp 0/1). Replies are read as strictly
    as SGLang's own models: unknown keys, malformed digests, a ``per_gpu_checksum`` or
    ``per_engine_checksum`` that is not the SHA-256 of what it covers are Error(parse_error).

    :raises Error: unreadable or malformed documents (``io_error``, ``parse_error``,
        ``duplicate_name``); a reply whose engine reported a failure, a manifest of other
        digests, or sides whose tp or pp sizes differ (``invalid_argument``)
    """
    return compare_documents(_document(expected, "expected"), _document(actual, "actual"))
