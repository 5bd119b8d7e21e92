"""The one exception type of the tensorhash package."""

from __future__ import annotations

__all__ = ["Error", "ERROR_CODES"]

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
