"""Errors carry their tensorhash code; hashing releases the GIL and is safe from many threads."""

import ctypes
import hashlib
import pickle
import threading
import time

import numpy as np
import pytest

import tensorhash
from dlpack_raw import RawDLPack


def code_of(f):
    with pytest.raises(tensorhash.Error) as e:
        f()
    return e.value


def test_every_reachable_error_class_has_its_code(tmp_path):
    buf = (ctypes.c_uint8 * 16)()
    cases = {
        "invalid_chunk_size": lambda: tensorhash.digest(b"x", chunk_bytes=3000),
        "invalid_argument": lambda: tensorhash.digest(b"x", mode="md5"),
        "unknown_dtype": lambda: tensorhash.digest(np.zeros(3, np.complex64)),
        "rank_too_large": lambda: tensorhash.digest(np.zeros((1,) * 9, np.uint8)),
        "size_overflow": lambda: tensorhash.digest(np.broadcast_to(np.zeros(1, np.uint8),
                                                                   (1 << 62,))),
        "negative_shape": lambda: tensorhash.digest(RawDLPack(ctypes.addressof(buf), [4, -1])),
        "null_data": lambda: tensorhash.digest(RawDLPack(None, [4])),
        "invalid_hex": lambda: tensorhash.merkle_root(["zz"]),
        "io_error": lambda: tensorhash.load(tmp_path / "absent.json"),
        "parse_error": lambda: tensorhash.loads("{}"),
        "duplicate_name": lambda: tensorhash.loads('{"a": 1, "a": 2}'),
    }
    if not tensorhash.build_info()["cuda"]:
        cases["wrong_memory_space"] = lambda: tensorhash.digest(
            RawDLPack(ctypes.addressof(buf), [4], device_type=2))
    for code, f in cases.items():
        e = code_of(f)
        assert e.code == code, (code, str(e))
        assert code in tensorhash.ERROR_CODES
        assert str(e) == "tensorhash: %s: %s" % (code, e.message)
    e = code_of(lambda: tensorhash.digest(RawDLPack(ctypes.addressof(buf), [4], code=1, bits=8,
                                                    lanes=4)))
    assert e.code == "unknown_dtype" and "lanes" in e.message
    e = code_of(lambda: tensorhash.digest(RawDLPack(ctypes.addressof(buf), [4], device_type=4)))
    assert e.code == "invalid_argument" and "neither CPU nor CUDA" in e.message


def test_errors_name_the_tensor():
    e = code_of(lambda: tensorhash.digests({"good": np.zeros(3), "model.bad": np.zeros(2,
                                                                                   np.complex128)}))
    assert 'tensor "model.bad"' in e.message
    e = code_of(lambda: tensorhash.digests([np.zeros(3), object()]))
    assert e.message.startswith("tensor 1: a value of type object")


def test_batch_functions_refuse_a_single_tensor():
    e = code_of(lambda: tensorhash.digests(np.zeros((4, 4))))
    assert e.code == "invalid_argument" and "use digest()" in e.message


def test_version_matches_the_headers():
    assert tensorhash.__version__ == tensorhash.build_info()["version"]


def test_error_is_an_exception_that_pickles():
    e = tensorhash.Error("io_error", "x: cannot open")
    assert isinstance(e, Exception)
    back = pickle.loads(pickle.dumps(e))
    assert (back.code, back.message, str(back)) == (e.code, e.message, str(e))


def test_settings_are_validated_before_any_tensor_is_read():
    e = code_of(lambda: tensorhash.digest(object(), nan_rule="torch-cpu"))
    assert e.code == "invalid_argument" and "BF16" in e.message
    e = code_of(lambda: tensorhash.digest(object(), as_dtype="F16"))
    assert e.code == "invalid_argument"
    e = code_of(lambda: tensorhash.digest(b"x", threads=-1))
    assert e.code == "invalid_argument"


# ---- threads -------------------------------------------------------------------------------------

def test_gil_is_released_while_hashing():
    data = np.random.default_rng(0).integers(0, 256, 192 << 20, dtype=np.uint8)
    start = time.perf_counter()
    tensorhash.digest(data, mode="exact", threads=1)
    duration = time.perf_counter() - start
    result = {}
    worker = threading.Thread(target=lambda: result.setdefault(
        "d", tensorhash.digest(data, mode="exact", threads=1)))
    gaps, ticks = [], 0
    worker.start()
    last = time.perf_counter()
    while worker.is_alive():
        now = time.perf_counter()
        gaps.append(now - last)
        last = now
        ticks += 1
    worker.join()
    assert result["d"] == hashlib.sha256(data).hexdigest()
    # With the GIL held for the whole hash, this thread would stall for `duration` at once.
    assert ticks > 100
    assert max(gaps) < 0.5 * duration, (max(gaps), duration)


def test_concurrent_calls_from_many_threads():
    gen = np.random.default_rng(1)
    arrays = [gen.integers(0, 256, (1 << 20) + 37 * i, dtype=np.uint8) for i in range(6)]
    want = [(tensorhash.digest(a), tensorhash.digest(a, mode="exact")) for a in arrays]
    got = [None] * 24
    errors = []

    def work(k):
        try:
            a = arrays[k % 6]
            got[k] = (tensorhash.digest(a), tensorhash.digests([a], mode="exact")[0])
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert got == [want[k % 6] for k in range(24)]
