"""Manifests (docs/format.md §6): build, validate, read, write, compare; aggregates.

A manifest is a plain ``dict`` with the keys, key order and values of the C++ library's
``to_json(manifest)`` (include/tensorhash/manifest_json.hpp), so that ``json.dumps(m, indent=1,
ensure_ascii=False)`` writes what ``tensorhash hash -o`` writes, byte for byte. Reading is as
strict as ``manifest_from_json``: unknown algorithms, malformed digests or shapes, duplicate keys
and an aggregate that does not match the tensors are `Error`\\ s.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tempfile
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Union

from ._error import Error, _clip, _printable

FORMAT = "tensorhash.manifest/1"
ALGORITHMS = {"exact": "sha256", "tree": "sha256-tree", "blake3": "blake3",
              "sglang": "sglang-hash64",
              "sglang-cpu": "sha256-prefix64"}
_MODES_OF = {v: k for k, v in ALGORITHMS.items()}
_SHORT = ("sglang-hash64", "sha256-prefix64")  # 64-bit digests: 16 hex digits
DTYPES = ("F64", "F32", "F16", "BF16", "F8_E4M3", "F8_E5M2", "I64", "I32", "I16", "I8", "U64",
          "U32", "U16", "U8", "BOOL")
DTYPE_SIZES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "F8_E5M2": 1, "I64": 8,
               "I32": 4, "I16": 2, "I8": 1, "U64": 8, "U32": 4, "U16": 2, "U8": 1, "BOOL": 1}
FLOATING = ("F64", "F32", "F16", "BF16", "F8_E4M3", "F8_E5M2")
_HEX = frozenset("0123456789abcdefABCDEF")

PathLike = Union[str, "os.PathLike[str]"]


# ---- aggregates --------------------------------------------------------------------------------

def sglang_rank_aggregate(digests: Mapping[str, str]) -> str:
    """SGLang's per-rank checksum (the manifest's ``aggregate``): SHA-256 over each name (UTF-8)
    then its lowercase hex digest, names in code-point order, no separators."""
    h = hashlib.sha256()
    for name in sorted(digests):
        h.update(name.encode("utf-8"))
        h.update(digests[name].lower().encode("ascii"))
    return h.hexdigest()


def sglang_engine_aggregate(rank_aggregates: Sequence[str]) -> str:
    """SGLang's per-engine checksum: SHA-256 over the per-rank aggregates' hex in rank order."""
    return hashlib.sha256("".join(a.lower() for a in rank_aggregates).encode("ascii")).hexdigest()


# ---- building ----------------------------------------------------------------------------------

def settings_header(mode: str, chunk_bytes: int, canonical: str, nan_rule: str) -> Dict[str, Any]:
    """The manifest's settings keys, in the C++ key order."""
    doc: Dict[str, Any] = {"format": FORMAT, "algorithm": ALGORITHMS[mode]}
    if mode == "tree":
        doc["chunk_bytes"] = chunk_bytes
    doc["canonical_dtype"] = canonical or None
    if nan_rule != "canonical":
        doc["nan_rule"] = nan_rule
    return doc


def build(header: Dict[str, Any], entries: Iterable[tuple]) -> Dict[str, Any]:
    """A manifest from settings keys and (name, dtype, shape, digest, leaves or None) tuples.

    Raises Error(duplicate_name) for a name given twice."""
    tensors: Dict[str, Dict[str, Any]] = {}
    for name, dtype, shape, digest, leaves in entries:
        if name in tensors:
            raise Error("duplicate_name", 'tensor "%s" is already in the manifest' % name)
        entry: Dict[str, Any] = {"dtype": dtype, "shape": [int(d) for d in shape],
                                 "digest": digest}
        if leaves:
            entry["leaves"] = list(leaves)
        tensors[name] = entry
    doc = dict(header)
    doc["tensors"] = {name: tensors[name] for name in sorted(tensors)}
    doc["aggregate"] = sglang_rank_aggregate({n: e["digest"] for n, e in doc["tensors"].items()})
    return doc


# ---- validation and files ------------------------------------------------------------------------

BLAKE3_LEAF_BYTES = 1 << 20  # canonical bytes under a BLAKE3 leaf: a 1 MiB subtree (§4.3a)


def leaf_bytes(m: Mapping[str, Any]) -> int:
    """Canonical bytes under each leaf of manifest `m` (C++ digest_settings::leaf_bytes): its
    chunk for a tree manifest, 1 MiB for BLAKE3, 0 for algorithms without leaves."""
    if m["algorithm"] == "sha256-tree":
        return m["chunk_bytes"]
    return BLAKE3_LEAF_BYTES if m["algorithm"] == "blake3" else 0


def _leaves_root(mode: str, leaves: Sequence[str]) -> str:
    if mode == "blake3":
        from . import _core
        return _core.blake3_root([bytes.fromhex(x) for x in leaves])
    return _merkle_root(leaves)


def _merkle_root(leaves: Sequence[str]) -> str:
    """RFC 6962's MTH over leaf hashes in hex (docs/format.md §4.2): pairs hashed level by
    level, an odd last node carried up."""
    level = [bytes.fromhex(x) for x in leaves]
    while len(level) > 1:
        up = [hashlib.sha256(b"\x01" + level[i] + level[i + 1]).digest()
              for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            up.append(level[-1])
        level = up
    return level[0].hex()


def _brief_text(v: Any) -> str:
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if v is None or isinstance(v, bool):
        return json.dumps(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "a number"
    if isinstance(v, list):
        return "[" + ",".join(_brief_text(x) for x in v) + "]"
    return "an object"


def _brief(v: Any) -> str:
    """An untrusted JSON value for a message, as detail::json_brief writes it: strings, integers,
    true/false/null and arrays of them as compact JSON, "a number" for other numbers, "an
    object" for objects (the two JSON libraries print those differently), clipped."""
    return _clip(_brief_text(v))


def is_size(v: Any) -> bool:
    """An int that is a size both readers take: 0 to 2^63-1 (C++ reads sizes as int64)."""
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 1 << 63


def _is_uint(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _digest(v: Any, where: str, digits: int = 64) -> str:
    if not isinstance(v, str):
        raise Error("parse_error", "%s: digest is not a string" % where)
    if len(v) != digits:
        raise Error("parse_error", "%s: hex digest must have %d digits, got %d"
                    % (where, digits, len(v)))
    for i, c in enumerate(v):
        if c not in _HEX:
            raise Error("parse_error", "%s: hex digest has a non-hex character at position %d"
                        % (where, i))
    return v.lower()


def validate(doc: Any, label: str = "manifest") -> Dict[str, Any]:
    """The manifest `doc` normalised (C++ key order, lowercase hex), after every check
    ``manifest_from_json`` makes. Raises Error(parse_error) naming `label` and the key."""
    if not isinstance(doc, dict):
        raise Error("parse_error", "%s: not a JSON object" % label)
    if "format" not in doc:
        raise Error("parse_error", '%s: missing "format"' % label)
    if doc["format"] != FORMAT:
        raise Error("parse_error", '%s: format is not "%s"' % (label, FORMAT))
    if "algorithm" not in doc:
        raise Error("parse_error", '%s: missing "algorithm"' % label)
    algorithm = doc["algorithm"]
    if not isinstance(algorithm, str) or algorithm not in _MODES_OF:
        raise Error("parse_error", "%s: unknown algorithm %s" % (label, _brief(algorithm)))
    mode = _MODES_OF[algorithm]
    chunk = 0
    if mode == "tree":
        if "chunk_bytes" not in doc:
            raise Error("parse_error", '%s: missing "chunk_bytes"' % label)
        chunk = doc["chunk_bytes"]
        if not _is_uint(chunk) or chunk == 0:
            raise Error("parse_error", "%s: chunk_bytes is not a positive integer" % label)
        if chunk < 1024 or chunk > 1 << 24 or chunk & (chunk - 1):
            raise Error("parse_error",
                        "%s: tree chunk_bytes must be a power of two from 1024 to 16777216, "
                        "got %d" % (label, chunk))
    canonical = doc.get("canonical_dtype")
    if canonical not in (None, "BF16", "F32"):
        raise Error("parse_error", '%s: canonical_dtype must be null, "BF16" or "F32"' % label)
    nan_rule = doc.get("nan_rule", "canonical")
    if nan_rule not in ("canonical", "torch-cpu", "torch-cuda"):
        raise Error("parse_error",
                    '%s: nan_rule must be "canonical", "torch-cpu" or "torch-cuda"' % label)
    if nan_rule != "canonical" and canonical != "BF16":
        raise Error("parse_error", '%s: nan_rule %s applies to canonical_dtype "BF16" only'
                    % (label, _brief(nan_rule)))
    if "tensors" not in doc:
        raise Error("parse_error", '%s: missing "tensors"' % label)
    tensors = doc["tensors"]
    if not isinstance(tensors, dict):
        raise Error("parse_error", "%s: tensors is not an object" % label)
    digits = 16 if algorithm in _SHORT else 64
    entries = []
    for name, t in sorted(tensors.items()):  # name order, as the C++ reader's std::map
        where = '%s: tensor "%s"' % (label, name)
        if not isinstance(t, dict):
            raise Error("parse_error", "%s is not an object" % where)
        if "dtype" not in t:  # each key checked where the C++ reader requires it
            raise Error("parse_error", '%s: missing "dtype"' % where)
        if t["dtype"] not in DTYPES:
            raise Error("parse_error", '%s: tensorhash: unknown_dtype: unknown dtype name "%s"'
                        % (where, _clip(t["dtype"]) if isinstance(t["dtype"], str)
                           else _brief(t["dtype"])))
        if "shape" not in t:
            raise Error("parse_error", '%s: missing "shape"' % where)
        shape = t["shape"]
        if not isinstance(shape, list) or len(shape) > 8:
            raise Error("parse_error", "%s: shape is not an array of at most 8 dimensions"
                        % where)
        if not all(is_size(d) for d in shape):
            raise Error("parse_error", "%s: shape holds a non-integer or negative value" % where)
        nbytes = DTYPE_SIZES[canonical if canonical and t["dtype"] in FLOATING else t["dtype"]]
        for d in shape:
            nbytes *= d
            if nbytes > (1 << 61) - 1:
                raise Error("parse_error", "%s: shape holds more bytes than the 2^61-1-byte "
                            "message limit" % where)
        if "digest" not in t:
            raise Error("parse_error", '%s: missing "digest"' % where)
        digest = _digest(t["digest"], where, digits)
        leaves = None
        if "leaves" in t:
            if not isinstance(t["leaves"], list):
                raise Error("parse_error", "%s: leaves is not an array" % where)
            leaves = [_digest(leaf, where) for leaf in t["leaves"]]
            if leaves:
                if mode not in ("tree", "blake3"):
                    raise Error("parse_error", "%s: leaves in a manifest that is not sha256-tree "
                                "or blake3" % where)
                per = chunk if mode == "tree" else BLAKE3_LEAF_BYTES
                chunks = (nbytes + per - 1) // per
                if len(leaves) != chunks:
                    raise Error("parse_error", "%s: %d leaves, but its %d bytes make %d chunks"
                                % (where, len(leaves), nbytes, chunks))
                if _leaves_root(mode, leaves) != digest:
                    raise Error("parse_error", "%s: leaves do not hash to its digest" % where)
        entries.append((name, t["dtype"], shape, digest, leaves))
    if "aggregate" not in doc:
        raise Error("parse_error", '%s: missing "aggregate"' % label)
    aggregate = _digest(doc["aggregate"], label + ": aggregate")
    out = build(settings_header(mode, chunk, canonical or "", nan_rule), entries)
    if out["aggregate"] != aggregate:
        raise Error("parse_error", "%s: aggregate does not match the tensors' digests" % label)
    return out


def _no_duplicates(label: str):
    def hook(pairs):
        seen = {}
        for key, value in pairs:
            if key in seen:
                raise Error("duplicate_name", '%s: key "%s" appears twice' % (label, key))
            seen[key] = value
        return seen
    return hook


#: Deepest nesting of arrays and objects a document may have (detail::json_max_depth).
MAX_JSON_DEPTH = 64


class _Refused(ValueError):
    """A value the C++ reader refuses, raised from inside json.loads."""


def _json_int(s: str) -> Any:
    if s == "-0":  # nlohmann reads it as a signed zero, which the C++ reader refuses
        raise _Refused("-0 is not an integer this reader takes (write 0)")
    v = int(s)
    if v > 0xFFFFFFFFFFFFFFFF or v < -(1 << 63):
        return _json_float(s)  # as nlohmann reads integers past 64 bits (an overflow refused)
    return v


def _json_float(s: str) -> float:
    v = float(s)
    if v in (float("inf"), float("-inf")):
        raise _Refused("number overflow parsing '%s'" % s)
    return v


def _json_constant(name: str) -> Any:
    raise _Refused("%s is not JSON" % name)


def _check_utf8(s: str) -> None:
    if not s.isascii():
        try:
            s.encode("utf-8")
        except UnicodeEncodeError:
            raise _Refused("a string holds a lone surrogate (not UTF-8)") from None


def _check_nesting(doc: Any) -> None:
    """Refuses what json.loads takes and the C++ reader does not: nesting deeper than
    MAX_JSON_DEPTH, strings holding a lone surrogate (not UTF-8). One pass, level by level."""
    if isinstance(doc, str):
        _check_utf8(doc)
    level = [doc] if isinstance(doc, (dict, list)) else []
    depth = 0
    while level:
        depth += 1
        if depth > MAX_JSON_DEPTH:
            raise _Refused("nested deeper than %d levels" % MAX_JSON_DEPTH)
        below = []
        for container in level:
            if isinstance(container, dict):
                for key in container:
                    _check_utf8(key)
                values = container.values()
            else:
                values = container
            for v in values:
                if isinstance(v, str):
                    _check_utf8(v)
                elif isinstance(v, (dict, list)):
                    below.append(v)
        level = below


def parse_json(text: Union[str, bytes], label: str) -> Any:
    """A JSON document as strictly as the C++ reader (detail::parse_json_strict) takes it:
    Error(duplicate_name) for a duplicate key; Error(parse_error) naming `label` for invalid
    JSON or UTF-8, a NUL byte, a byte-order mark, NaN/Infinity, a number past the double range,
    a "-0" integer, or nesting deeper than MAX_JSON_DEPTH."""
    if not isinstance(text, (str, bytes)):
        raise Error("invalid_argument", "%s: expected JSON text (str or bytes), got %s"
                    % (label, type(text).__name__))
    try:
        raw = text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")
        if raw.startswith(b"\xef\xbb\xbf"):
            raise _Refused("it starts with a byte-order mark (remove it)")
        if isinstance(text, bytes):
            try:
                text = text.decode("utf-8")
            except UnicodeDecodeError as e:
                raise _Refused("invalid UTF-8 at offset %d" % e.start) from None
        nul = raw.find(b"\0")
        if nul >= 0:
            raise _Refused("a NUL byte at offset %d" % nul)
        doc = json.loads(text, object_pairs_hook=_no_duplicates(label), parse_int=_json_int,
                         parse_float=_json_float, parse_constant=_json_constant)
        _check_nesting(doc)
        return doc
    except Error:
        raise
    except RecursionError:
        raise Error("parse_error", "%s: not valid JSON: nested deeper than %d levels"
                    % (label, MAX_JSON_DEPTH)) from None
    except (ValueError, UnicodeDecodeError) as e:
        raise Error("parse_error", "%s: not valid JSON: %s" % (label, e)) from None


def loads(text: Union[str, bytes], label: str = "manifest") -> Dict[str, Any]:
    """Parses and validates a manifest document (see `validate`)."""
    return validate(parse_json(text, label), label)


def dumps(m: Mapping[str, Any]) -> str:
    """The manifest's JSON text, as the C++ library writes it (one-space indent, UTF-8 names,
    final newline)."""
    return json.dumps(m, indent=1, ensure_ascii=False) + "\n"


def fspath(path: Any) -> str:
    """os.fspath(path) as a str; Error(invalid_argument) for what is not a path."""
    try:
        p = os.fspath(path)
    except TypeError:
        raise Error("invalid_argument", "expected a path (str, bytes or os.PathLike), got %s"
                    % type(path).__name__) from None
    return os.fsdecode(p)


def open_regular(path: PathLike):
    """`path` opened for reading when it is a regular file. The type is checked before opening
    (opening a FIFO with no writer waits forever, opening a device may act on it) and again on
    what was opened. Raises Error(io_error) naming the file, as the C++ reader does."""
    label = fspath(path)
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise Error("io_error", "%s: not a regular file" % label)
        f = open(path, "rb")
    except OSError as e:
        raise Error("io_error", "%s: cannot open: %s" % (label, e.strerror or e)) from None
    try:
        regular = stat.S_ISREG(os.fstat(f.fileno()).st_mode)
    except OSError as e:
        f.close()
        raise Error("io_error", "%s: cannot open: %s" % (label, e.strerror or e)) from None
    if not regular:  # replaced between the stat and the open
        f.close()
        raise Error("io_error", "%s: not a regular file" % label)
    return f


def read_bytes(path: PathLike) -> bytes:
    """A regular file's bytes. Raises Error(io_error) naming the file."""
    with open_regular(path) as f:
        try:
            return f.read()
        except OSError as e:
            raise Error("io_error", "%s: cannot read: %s" % (os.fspath(path), e.strerror or e)) \
                from None


def load(path: PathLike) -> Dict[str, Any]:
    """Reads a manifest file. Raises Error(io_error) or Error(parse_error) naming the file."""
    return loads(read_bytes(path), fspath(path))


def save(m: Mapping[str, Any], path: PathLike) -> None:
    """Writes a manifest file atomically (a temporary file renamed into place; never half a
    file). The manifest is validated first, so a manifest whose aggregate does not match its
    tensors is refused (Error(parse_error))."""
    write_atomically(dumps(validate(dict(m), "manifest")), path)


def _new_file_mode() -> Optional[int]:
    """The permission bits a new file gets from the umask, read from /proc (os.umask would
    change it, racing other threads); None where /proc does not say, and the temporary file's
    own 0600 then stands."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return None


def require_writable_target(path: PathLike) -> None:
    """Raises Error(io_error) when `path` exists and is not a regular file (a device, FIFO or
    directory): writing a file there would replace it."""
    target = os.fspath(path)
    try:
        st = os.stat(target)
    except OSError:
        return
    if not stat.S_ISREG(st.st_mode):
        raise Error("io_error", "%s: exists and is not a regular file (a device, FIFO or "
                    "directory): refusing to replace it; write to a file" % target)


def write_atomically(text: str, path: PathLike) -> None:
    """Writes `text` (UTF-8) to `path` all or nothing, as the C++ library does: a temporary file
    of its own (a unique name made exclusively in the target's directory), fsynced, renamed into
    place, the directory fsynced; readers see the old file or the whole new one; of two writers
    the last rename wins. The file gets an existing target's permission bits, else the umask's.
    A target that exists and is not a regular file is refused, never replaced."""
    target = os.fspath(path)
    require_writable_target(target)
    data = text.encode("utf-8")
    try:
        mode: Optional[int] = stat.S_IMODE(os.stat(target).st_mode)
    except OSError:
        mode = _new_file_mode()
    directory = os.path.dirname(target) or "."
    try:
        fd, tmp = tempfile.mkstemp(prefix=".tensorhash-", dir=directory)
    except OSError as e:
        raise Error("io_error", "%s: cannot write: %s" % (target, e.strerror or e)) from None
    try:
        with os.fdopen(fd, "wb") as f:
            if mode is not None:
                try:
                    os.fchmod(f.fileno(), mode)
                except OSError:
                    pass  # best effort: FAT refuses the x/w bits
            try:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            except OSError as e:
                raise Error("io_error", "%s: write failed: %s" % (target, e.strerror or e)) \
                    from None
        try:
            os.replace(tmp, target)
        except OSError as e:
            raise Error("io_error", "%s: cannot replace: %s" % (target, e.strerror or e)) \
                from None
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:  # the rename itself on disk; best effort (some file systems refuse)
        d = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(d)
        finally:
            os.close(d)
    except OSError:
        pass


# ---- settings and comparison --------------------------------------------------------------------

def settings_of(m: Mapping[str, Any]) -> tuple:
    """(algorithm, chunk_bytes or 0, canonical dtype or None, nan_rule) of a manifest."""
    return (m["algorithm"], m.get("chunk_bytes", 0) if m["algorithm"] == "sha256-tree" else 0,
            m.get("canonical_dtype"), m.get("nan_rule", "canonical"))


def describe_settings(m: Mapping[str, Any]) -> str:
    """ "sha256-tree, 16384-byte chunks, as stored" and the like (C++ describe())."""
    algorithm, chunk, canonical, nan_rule = settings_of(m)
    out = algorithm
    if chunk:
        out += ", %d-byte chunks" % chunk
    out += ", as %s" % canonical if canonical else ", as stored"
    if nan_rule != "canonical":
        out += ", NaN rule " + nan_rule
    return out


@dataclass
class Mismatch:
    """A tensor with the same dtype and shape on both sides and different digests."""
    name: str
    expected: str
    actual: str


@dataclass
class MetadataDifference:
    """A tensor whose dtype or shape differs; `expected`/`actual` are {"dtype", "shape"}."""
    name: str
    expected: Dict[str, Any]
    actual: Dict[str, Any]


@dataclass
class Comparison:
    """How an actual manifest differs from an expected one (C++ ``tensorhash::comparison``).

    `ok` is true when every expected tensor is present with the same dtype, shape and digest and
    nothing else is. When `settings_differ` the manifests were hashed differently and no digest
    was compared (`settings_note` says how)."""
    settings_differ: bool = False
    settings_note: str = ""
    matched: List[str] = field(default_factory=list)
    mismatched: List[Mismatch] = field(default_factory=list)
    metadata: List[MetadataDifference] = field(default_factory=list)
    missing: List[str] = field(default_factory=list)
    unexpected: List[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.settings_differ or self.mismatched or self.metadata or self.missing
                    or self.unexpected)

    def summary(self) -> str:
        """One line per difference, then the counts (the command line's report)."""
        def describe(e):
            return "%s[%s]" % (e["dtype"], ", ".join(str(d) for d in e["shape"]))
        lines = []
        if self.settings_differ:
            lines.append("settings differ: " + self.settings_note)
        for m in self.mismatched:
            lines.append("MISMATCH   %s  expected %s  actual %s"
                         % (_printable(m.name), m.expected, m.actual))
        for m in self.metadata:
            lines.append("METADATA   %s  expected %s  actual %s"
                         % (_printable(m.name), describe(m.expected), describe(m.actual)))
        lines += ["MISSING    " + _printable(n) for n in self.missing]
        lines += ["UNEXPECTED " + _printable(n) for n in self.unexpected]
        lines.append("%d matched, %d mismatched, %d dtype/shape differences, %d missing, "
                     "%d unexpected" % (len(self.matched), len(self.mismatched),
                                        len(self.metadata), len(self.missing),
                                        len(self.unexpected)))
        return "\n".join(lines) + "\n"

    def __repr__(self) -> str:
        # counts for the matched (a 70B model matches a thousand names), the differences named
        return ("Comparison(ok=%s, matched=%d, mismatched=%r, metadata=%r, missing=%r, "
                "unexpected=%r%s)" % (self.ok, len(self.matched),
                                     [m.name for m in self.mismatched],
                                     [m.name for m in self.metadata], self.missing,
                                     self.unexpected,
                                     ", settings_differ=True" if self.settings_differ else ""))

    def to_json(self) -> Dict[str, Any]:
        """The report as a dict: ``json.dumps(c.to_json(), indent=1)`` is what the command
        line's ``compare --json`` prints."""
        return {
            "ok": self.ok, "settings_differ": self.settings_differ,
            "settings_note": self.settings_note, "matched": list(self.matched),
            "mismatched": [{"name": m.name, "expected": m.expected, "actual": m.actual}
                           for m in self.mismatched],
            "metadata": [{"name": m.name, "expected": m.expected, "actual": m.actual}
                         for m in self.metadata],
            "missing": list(self.missing), "unexpected": list(self.unexpected)}


def _as_manifest(m: Any, label: str) -> Dict[str, Any]:
    if isinstance(m, (str, os.PathLike)):
        return load(m)
    if not isinstance(m, Mapping):
        raise Error("invalid_argument", "%s: expected a manifest (a dict) or a path, got %s"
                    % (label, type(m).__name__))
    return validate(dict(m), label)


def compare(expected: Any, actual: Any) -> Comparison:
    """Compares two manifests (dicts, or paths of manifest files); see `Comparison`."""
    e_doc = _as_manifest(expected, "expected manifest")
    a_doc = _as_manifest(actual, "actual manifest")
    if (e_doc["algorithm"] == "blake3") != (a_doc["algorithm"] == "blake3"):
        raise Error("invalid_argument",
                    "the manifests were hashed with different hash functions (expected %s, "
                    "actual %s): hash both with the same --hasher"
                    % (e_doc["algorithm"], a_doc["algorithm"]))
    c = Comparison()
    if settings_of(e_doc) != settings_of(a_doc):
        c.settings_differ = True
        c.settings_note = "expected %s, actual %s" % (describe_settings(e_doc),
                                                      describe_settings(a_doc))
    e_tensors, a_tensors = e_doc["tensors"], a_doc["tensors"]
    for name, e in e_tensors.items():
        a = a_tensors.get(name)
        if a is None:
            c.missing.append(name)
        elif e["dtype"] != a["dtype"] or e["shape"] != a["shape"]:
            c.metadata.append(MetadataDifference(
                name, {"dtype": e["dtype"], "shape": e["shape"]},
                {"dtype": a["dtype"], "shape": a["shape"]}))
        elif c.settings_differ:
            pass
        elif e["digest"] != a["digest"]:
            c.mismatched.append(Mismatch(name, e["digest"], a["digest"]))
        else:
            c.matched.append(name)
    c.unexpected = [name for name in a_tensors if name not in e_tensors]
    return c


# ---- chunk-level differences ---------------------------------------------------------------------

@dataclass(frozen=True)
class ChunkDifference:
    """A chunk whose leaf digests differ: its index, canonical byte range and element range."""
    chunk: int
    byte_begin: int
    byte_end: int
    element_begin: int
    element_end: int


def diff_leaves(expected: Sequence[str], actual: Sequence[str], chunk_bytes: int,
                canonical_bytes: int, element_bytes: int,
                limit: Optional[int] = 16) -> List[ChunkDifference]:
    """The chunks where two trees of one tensor differ, from their leaf digests alone
    (C++ ``diff_leaves``); at most `limit` of them (None: all), first ones first."""
    out: List[ChunkDifference] = []
    n = max(len(expected), len(actual))
    for i in range(n):
        if limit is not None and len(out) >= limit:
            break
        if i < len(expected) and i < len(actual) and expected[i].lower() == actual[i].lower():
            continue
        begin = i * chunk_bytes
        end = max(begin, min(begin + chunk_bytes, canonical_bytes))
        out.append(ChunkDifference(i, begin, end, begin // element_bytes, end // element_bytes))
    return out


def canonical_element_bytes(m: Mapping[str, Any], stored: str) -> int:
    """Bytes per element of the canonical form of a tensor stored as `stored` in manifest `m`."""
    canonical = m.get("canonical_dtype")
    return DTYPE_SIZES[canonical if canonical and stored in FLOATING else stored]
