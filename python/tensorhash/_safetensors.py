"""A strict, memory-mapped safetensors reader (standard library only).

As strict as include/tensorhash/safetensors.hpp: header length <= 100 000 000 and within the
file, a JSON object without duplicate keys, known dtypes, at most 8 dimensions, data offsets
that, sorted, start at 0 and follow each other without hole or overlap, sizes that match the
shapes, no trailing bytes, and (across the files of a checkpoint) no name twice. Tensors are
zero-copy ``memoryview`` slices of a read-only ``mmap``.
"""

from __future__ import annotations

import mmap
import os
import struct
from typing import Any, Dict, List, Sequence, Tuple

from . import _manifest as _m
from ._error import Error
from ._manifest import DTYPE_SIZES

MAX_HEADER = 100000000


def parse_header(data: Any, size: int, label: str) -> Tuple[List[tuple], Dict[str, str], int]:
    """([(name, dtype, shape, begin, end)] in data order, metadata, data offset) of a file."""
    if size < 8:
        raise Error("parse_error", "%s: not a safetensors file (%d bytes: too short for the "
                    "8-byte header length)" % (label, size))
    (n,) = struct.unpack("<Q", bytes(data[:8]))
    if n > MAX_HEADER:
        raise Error("parse_error", "%s: not a safetensors file (its header length %d exceeds the "
                    "limit of 100000000 bytes)" % (label, n))
    if n > size - 8:
        raise Error("parse_error", "%s: not a safetensors file (its header length %d runs past "
                    "the end of the file of %d bytes)" % (label, n, size))
    raw = bytes(data[8:8 + n])
    if not raw.startswith(b"{"):
        raise Error("parse_error", "%s: not a safetensors file (its header does not start with "
                    "'{')" % label)
    header = _m.parse_json(raw, label + ": header")
    if not isinstance(header, dict):
        raise Error("parse_error", "%s: header is not a JSON object" % label)
    metadata: Dict[str, str] = {}
    tensors = []
    for name, info in sorted(header.items()):  # name order, as the C++ reader's std::map
        if name == "__metadata__":
            if not isinstance(info, dict):
                raise Error("parse_error", "%s: __metadata__ is not an object" % label)
            for key, value in sorted(info.items()):
                if not isinstance(value, str):
                    raise Error("parse_error", '%s: __metadata__ value of "%s" is not a string'
                                % (label, key))
                metadata[key] = value
            continue
        where = '%s: tensor "%s"' % (label, name)
        if not isinstance(info, dict):
            raise Error("parse_error", "%s: tensor info is not an object" % where)
        if not all(k in info for k in ("dtype", "shape", "data_offsets")):
            raise Error("parse_error", "%s: needs dtype, shape and data_offsets" % where)
        dtype = info["dtype"]
        if not isinstance(dtype, str):
            raise Error("parse_error", "%s: dtype is not a string" % where)
        if dtype not in DTYPE_SIZES:
            raise Error("unknown_dtype", '%s: unknown dtype name "%s"' % (where, dtype))
        shape = info["shape"]
        if not isinstance(shape, list):
            raise Error("parse_error", "%s: shape is not an array" % where)
        if len(shape) > 8:
            raise Error("rank_too_large", "%s: %d dimensions, more than 8" % (where, len(shape)))
        if not all(_m.is_size(d) for d in shape):
            raise Error("parse_error", "%s: shape holds a value that is not a size" % where)
        offsets = info["data_offsets"]
        if (not isinstance(offsets, list) or len(offsets) != 2
                or not all(isinstance(o, int) and not isinstance(o, bool) and o >= 0
                           for o in offsets)):
            raise Error("parse_error", "%s: data_offsets is not a pair of sizes" % where)
        tensors.append((name, dtype, tuple(shape), offsets[0], offsets[1]))
    tensors.sort(key=lambda t: (t[3], t[4]))
    expected_begin = 0
    data_bytes = size - 8 - n
    for name, dtype, shape, begin, end in tensors:
        where = '%s: tensor "%s"' % (label, name)
        numel = 1
        for d in shape:
            numel *= d
        nbytes = numel * DTYPE_SIZES[dtype]
        if nbytes > (1 << 61) - 1:
            raise Error("size_overflow", "%s: byte size of %d elements of %s exceeds the 2^61-1 "
                        "byte limit of SHA-256" % (where, numel, dtype))
        if end < begin:
            raise Error("parse_error", "%s: data_offsets [%d, %d) are reversed: the end is "
                        "before the start" % (where, begin, end))
        if begin != expected_begin:
            raise Error("parse_error", "%s: data starts at %d but %s%d" % (
                where, begin, "overlaps the previous tensor, which ends at "
                if begin < expected_begin else "leaves a hole after byte ", expected_begin))
        if end < begin or end - begin != nbytes:
            raise Error("parse_error", "%s: data_offsets [%d, %d) do not hold the %d bytes of "
                        "its shape" % (where, begin, end, nbytes))
        if end > data_bytes:
            raise Error("parse_error", "%s: data ends at %d, past the %d data bytes of the file"
                        % (where, end, data_bytes))
        expected_begin = end
    if expected_begin != data_bytes:
        raise Error("parse_error", "%s: %d trailing bytes after the last tensor"
                    % (label, data_bytes - expected_begin))
    return tensors, metadata, 8 + n


class SafetensorsFile:
    """One validated file, mapped read-only; `tensors` maps names to (dtype, shape, memoryview).
    A file truncated while mapped does not kill the interpreter with SIGBUS (``_core.MapGuard``,
    detail/map_guard.hpp): reads past its new end give zeros, and `check_unchanged` says so.
    No file descriptor of its own stays open."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._map = None
        self._view = None
        self._guard = None
        try:
            with _m.open_regular(path) as f:
                st = os.fstat(f.fileno())
                size = st.st_size
                self._opened = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
                self._real = os.path.realpath(path)  # stat-able after a chdir too
                if size > 0:
                    self._map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except OSError as e:
            self.close()
            raise Error("io_error", "%s: cannot map: %s" % (path, e.strerror or e)) from None
        try:
            if self._map is not None:
                from . import _core
                self._guard = _core.MapGuard(self._map)
            self._view = memoryview(self._map) if self._map is not None else memoryview(b"")
            entries, self.metadata, base = parse_header(self._view, size, path)
        except Error:
            self.check_unchanged()  # a header cut short by a writer: say that, not "malformed"
            self.close()
            raise
        except BaseException:
            self.close()
            raise
        self.tensors: Dict[str, Tuple[str, Tuple[int, ...], memoryview]] = {}
        for name, dtype, shape, begin, end in entries:
            self.tensors[name] = (dtype, shape, self._view[base + begin:base + end])

    def changed(self) -> bool:
        """Whether the file was truncated (a read past its new end gave zeros), or resized or
        rewritten in place (its size, modification or change time moved) since it was mapped,
        as the C++ reader's mapped_file::changed. A file replaced by rename, or deleted, is not
        changed: the mapping keeps the old one, whole."""
        if self._guard is not None and self._guard.faulted:
            return True
        try:
            st = os.stat(self._real)
        except OSError:
            return False
        if (st.st_dev, st.st_ino) != self._opened[:2]:
            return False
        return (st.st_size, st.st_mtime_ns, st.st_ctime_ns) != self._opened[2:]

    def check_unchanged(self) -> None:
        """Call when done reading the views. Raises Error(io_error) "changed while being read"
        naming the file, as the C++ reader does."""
        if self.changed():
            path = self.path
            self.close()
            raise Error("io_error", "%s: changed while being read (truncated or rewritten while "
                        "it was hashed): nothing read from it is trusted; hash it again when "
                        "nothing writes it" % path)

    def close(self) -> None:
        for _, _, view in getattr(self, "tensors", {}).values():
            view.release()
        self.tensors = {}
        if self._view is not None:
            self._view.release()
            self._view = None
        if self._guard is not None:
            self._guard.release()  # unguarded before the mapping can go
            self._guard = None
        if self._map is not None:
            self._map.close()
            self._map = None

    def __enter__(self) -> "SafetensorsFile":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def expand_paths(paths: Sequence[Any]) -> List[str]:
    """Files of a checkpoint: each directory gives its ``*.safetensors`` files, sorted."""
    files: List[str] = []
    for p in paths:
        p = _m.fspath(p)
        if os.path.isdir(p):
            found = sorted(os.path.join(p, e) for e in os.listdir(p) if e.endswith(".safetensors"))
            for f in found:  # a dangling link or a FIFO is no shard to leave out silently
                if not os.path.isfile(f):
                    raise Error("io_error", "%s: not a regular file (a dangling link, FIFO or "
                                "directory named *.safetensors)" % f)
            if not found:
                raise Error("io_error", "%s: no .safetensors files in this directory" % p)
            files += found
        else:
            files.append(p)
    return files


class Checkpoint:
    """Every tensor of a set of safetensors files (a sharded checkpoint), names unique."""

    def __init__(self, paths: Sequence[Any]) -> None:
        self.files: List[SafetensorsFile] = []
        self.tensors: Dict[str, Tuple[str, Tuple[int, ...], memoryview]] = {}
        owner: Dict[str, str] = {}
        try:
            for path in expand_paths(paths):
                f = SafetensorsFile(path)
                self.files.append(f)
                for name, t in f.tensors.items():
                    if name in owner:
                        raise Error("duplicate_name", 'tensor "%s" is in both %s and %s'
                                    % (name, owner[name], path))
                    owner[name] = path
                    self.tensors[name] = t
        except BaseException:
            self.close()
            raise

    def check_unchanged(self) -> None:
        """Raises Error(io_error) when a file was truncated or rewritten while it was read."""
        for f in self.files:
            f.check_unchanged()

    @property
    def nbytes(self) -> int:
        return sum(len(v) for _, _, v in self.tensors.values())

    def close(self) -> None:
        self.tensors = {}
        for f in self.files:
            f.close()
        self.files = []

    def __enter__(self) -> "Checkpoint":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
