"""The one exception type of the tensorhash package."""

from __future__ import annotations

__all__ = ["Error", "ERROR_CODES"]

_ESCAPES = {0x5C: "\\\\", 0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t"}

#: Every error class tensorhash reports (``tensorhash::errc`` in C++, docs/guide.md §4).
ERROR_CODES = (
    "null_data",
    "negative_shape",
    "rank_too_large",
    "size_overflow",
    "unknown_dtype",
    "invalid_chunk_size",
    "invalid_argument",
    "invalid_hex",
    "wrong_memory_space",
    "cuda_error",
    "parse_error",
    "io_error",
    "duplicate_name",
    "cancelled",
)


class Error(Exception):
    """A tensorhash error: ``.code`` names the class (``"invalid_chunk_size"``, ...), ``.message``
    says what is wrong and names the argument, tensor or file.

    ``str(error)`` reads ``tensorhash: <code>: <message>``, as the C++ library's ``what()``.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return "tensorhash: %s: %s" % (self.code, self.message)

    def __reduce__(self):  # picklable across processes (torch.distributed, multiprocessing)
        return (type(self), (self.code, self.message))


def _utf8_at(b: bytes, i: int):
    """(code point, length) of the well-formed UTF-8 sequence at b[i], or (-1, 1) (RFC 3629:
    no overlong forms, surrogates or values past U+10FFFF); detail::utf8_at in C++."""
    c = b[i]
    if c < 0x80:
        return c, 1
    if c & 0xE0 == 0xC0:
        n, cp, low = 2, c & 0x1F, 0x80
    elif c & 0xF0 == 0xE0:
        n, cp, low = 3, c & 0x0F, 0x800
    elif c & 0xF8 == 0xF0:
        n, cp, low = 4, c & 0x07, 0x10000
    else:
        return -1, 1
    if i + n > len(b):
        return -1, 1
    for k in range(1, n):
        if b[i + k] & 0xC0 != 0x80:
            return -1, 1
        cp = (cp << 6) | (b[i + k] & 0x3F)
    if cp < low or cp > 0x10FFFF or 0xD800 <= cp <= 0xDFFF:
        return -1, 1
    return cp, n


def _as_bytes(s) -> bytes:
    return s if isinstance(s, bytes) else s.encode("utf-8", "surrogateescape")


def _printable(s, limit: int = -1) -> str:
    """`s` as one printable line, as detail::printable (detail/printable.hpp) writes it:
    backslash, newline, carriage return and tab as two characters; other control characters
    (C0, DEL, C1), U+2028/U+2029 and bidirectional overrides as \\uXXXX; bytes that are not
    UTF-8 (surrogate-escaped in a str) as \\xNN; past `limit` bytes, "... (N more bytes)"."""
    try:
        b = _as_bytes(s)
    except UnicodeEncodeError:  # a lone surrogate from JSON: its UTF-8-like bytes, escaped
        b = s.encode("utf-8", "surrogatepass")
    if b.isascii() and not any(c < 0x20 or c in (0x5C, 0x7F) for c in b) and \
            (limit < 0 or len(b) <= limit):
        return b.decode("ascii")
    out = []
    i = 0
    while i < len(b):
        if 0 <= limit <= i:
            out.append("... (%d more bytes)" % (len(b) - i))
            break
        cp, n = _utf8_at(b, i)
        if cp < 0:
            out.append("\\x%02x" % b[i])
        elif cp in _ESCAPES:
            out.append(_ESCAPES[cp])
        elif cp < 0x20 or 0x7F <= cp <= 0x9F or cp in (0x2028, 0x2029) or \
                0x202A <= cp <= 0x202E or 0x2066 <= cp <= 0x2069:
            out.append("\\u%04x" % cp)
        else:
            out.append(b[i:i + n].decode("utf-8"))
        i += n
    return "".join(out)


def _clip(s: str, limit: int = 200) -> str:
    """`s` when its UTF-8 holds at most `limit` bytes, else its first bytes up to `limit` (cut
    before a continuation byte) and "... (N more bytes)", as detail::clip."""
    b = s.encode("utf-8", "surrogatepass")
    if len(b) <= limit:
        return s
    cut = limit
    while cut > 0 and b[cut] & 0xC0 == 0x80:
        cut -= 1
    return b[:cut].decode("utf-8", "surrogatepass") + "... (%d more bytes)" % (len(b) - cut)
