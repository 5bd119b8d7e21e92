"""Digests of NumPy arrays against hashlib and the stdlib reference: every NumPy dtype, strided,
transposed, negative-stride, broadcast, 0-dim and empty views, every mode and canonicalisation."""

import hashlib
import math
import struct

import numpy as np
import pytest

import tensorhash

NUMPY_DTYPES = {
    "F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32,
    "I16": np.int16, "I8": np.int8, "U64": np.uint64, "U32": np.uint32, "U16": np.uint16,
    "U8": np.uint8, "BOOL": np.bool_,
}


def random_array(dtype, shape, seed=0):
    gen = np.random.default_rng(seed)
    n = int(np.prod(shape)) if shape else 1
    if dtype == np.bool_:
        return (gen.integers(0, 2, n) == 1).reshape(shape)
    itemsize = np.dtype(dtype).itemsize
    raw = gen.integers(0, 256, n * itemsize, dtype=np.uint8)
    return raw.view(dtype).reshape(shape)


def ref_digest(ref, a, name, **kw):
    """The reference digest of `a` from its contiguous copy's bytes."""
    return ref.digest(np.ascontiguousarray(a).tobytes(), name, a.shape, **kw)


# ---- format.md §5 worked examples --------------------------------------------------------------

def test_worked_examples():
    u8 = np.arange(256, dtype=np.uint8)
    assert tensorhash.digest(u8, mode="exact") == \
        "40aff2e9d2d8922e47afd4648e6967497158785fbd1da870e7110266bf944880"
    assert tensorhash.digest(np.tile(u8, 16), chunk_bytes=1024) == \
        "089069244ea88fe30ac0f0057da9f3a7da6d7c0f0a5026348ab42297348be93a"
    f = np.array([[1, -2.5, 3.14159265], [np.inf, np.nan, 1e-40]], dtype=np.float32)
    assert tensorhash.digest(f, mode="exact", as_dtype="BF16") == \
        "4074d6f7dd3be02f41685468beb93054b83f5ee29ac09887169c44518c8e9454"
    storage = f.reshape(-1)
    transposed = np.lib.stride_tricks.as_strided(storage, shape=(3, 2), strides=(4, 12))
    assert tensorhash.digest(transposed, mode="exact") == \
        "0cb67d3a3856d01ca179f187924b87d9e55f43848de7edc1b805263dbaaf22e4"
    assert tensorhash.digest(np.zeros((0,), np.float32)) == \
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert tensorhash.digest(np.array(5, dtype=np.int8)) == \
        "9f1afa4dc124cba73134e82ff50f17c8f7164257c79fed9a13f5943a6acb8e3d"


# ---- every dtype, as stored --------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(NUMPY_DTYPES))
def test_every_dtype_exact_is_hashlib(name):
    for shape in [(), (0,), (1,), (7,), (3, 5), (4, 0, 3), (2, 3, 4, 5)]:
        a = random_array(NUMPY_DTYPES[name], shape, seed=len(shape))
        expected = hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()
        assert tensorhash.digest(a, mode="exact") == expected
        assert tensorhash.hashlib_hex(a) == expected


@pytest.mark.parametrize("name", sorted(NUMPY_DTYPES))
def test_every_dtype_tree_matches_reference(ref, name):
    for shape, chunk in [((), 1024), ((0, 4), 1024), ((3000,), 1024), ((33, 65), 2048),
                         ((130, 70), 16384)]:
        a = random_array(NUMPY_DTYPES[name], shape, seed=7)
        assert tensorhash.digest(a, chunk_bytes=chunk) == \
            ref_digest(ref, a, name, chunk_bytes=chunk)


# ---- views: strided, transposed, negative strides, broadcast, offsets --------------------------

def views_of(base):
    yield base.T
    yield base[::2, 1::3]
    yield base[::-1]
    yield base[:, ::-2]
    yield base[3:17, 5]
    yield base[5]
    yield base[::-3, ::-1].T
    yield np.broadcast_to(base[2:3, 4:5], (6, 9))      # zero strides, read-only
    yield np.broadcast_to(base[0], (4,) + base[0].shape)
    yield base[2:2]


@pytest.mark.parametrize("name", ["F64", "F32", "F16", "I16", "U8", "BOOL"])
def test_strided_views_match_contiguous_copies(ref, name):
    base = random_array(NUMPY_DTYPES[name], (40, 24), seed=3)
    for v in views_of(base):
        contiguous = np.ascontiguousarray(v)
        for mode in ("exact", "tree"):
            assert tensorhash.digest(v, mode=mode, chunk_bytes=1024) == \
                tensorhash.digest(contiguous, mode=mode, chunk_bytes=1024), (v.shape, v.strides)
        assert tensorhash.digest(v, mode="exact") == hashlib.sha256(contiguous.tobytes()).hexdigest()
        assert tensorhash.digest(v, chunk_bytes=1024) == ref_digest(ref, v, name, chunk_bytes=1024)


def test_reference_strides_and_offset(ref):
    """A negative-stride view with an offset into its storage, described to the reference as
    (storage, strides, offset) rather than as a contiguous copy."""
    storage = random_array(np.float32, (12, 10), seed=11)
    view = storage[10:1:-3, 8:0:-2]
    itemsize = storage.itemsize
    strides = [s // itemsize for s in view.strides]
    offset = 10 * 10 + 8
    expected = ref.digest(storage.tobytes(), "F32", view.shape, strides, offset, mode="exact",
                          canon="BF16")
    assert tensorhash.digest(view, mode="exact", as_dtype="BF16") == expected


def test_readonly_and_non_writeable_arrays():
    a = random_array(np.int32, (64, 33), seed=5)
    a.flags.writeable = False
    assert tensorhash.digest(a, mode="exact") == hashlib.sha256(a.tobytes()).hexdigest()


def test_buffer_protocol_objects():
    data = bytes(range(256)) * 100
    expected = hashlib.sha256(data).hexdigest()
    assert tensorhash.digest(data, mode="exact") == expected
    assert tensorhash.digest(bytearray(data), mode="exact") == expected
    assert tensorhash.digest(memoryview(data)[100:5000], mode="exact") == \
        hashlib.sha256(data[100:5000]).hexdigest()


# ---- canonicalisation ------------------------------------------------------------------------------

SPECIAL_F32 = [0.0, -0.0, 1.0, -2.5, 3.14159265, 1e-40, -1e-45, 3.4e38, float("inf"),
               float("-inf"), float("nan"), 65504.0, 1.00390625, 1.01171875]


def special_f32():
    bits = [struct.unpack("<I", struct.pack("<f", v))[0] for v in SPECIAL_F32]
    bits += [0x7F800001, 0xFFC00000, 0x7FBFFFFF, 0x00000001, 0x807FFFFF, 0x7F7FFFFF, 0x3F808000,
             0x3F818000, 0x3F80FFFF]
    return np.array(bits, dtype=np.uint32).view(np.float32)


@pytest.mark.parametrize("as_dtype,nan_rule", [("BF16", "canonical"), ("BF16", "torch-cpu"),
                                               ("BF16", "torch-cuda"), ("F32", "canonical")])
@pytest.mark.parametrize("name", ["F64", "F32", "F16"])
def test_canonicalisation_matches_reference(ref, name, as_dtype, nan_rule):
    gen = np.random.default_rng(1)
    with np.errstate(invalid="ignore", over="ignore"):
        specials = special_f32().astype(NUMPY_DTYPES[name])
    noise = gen.integers(0, 256, 700 * np.dtype(NUMPY_DTYPES[name]).itemsize,
                         dtype=np.uint8).view(NUMPY_DTYPES[name])
    a = np.concatenate([specials, noise])
    for mode in ("exact", "tree"):
        got = tensorhash.digest(a, mode=mode, chunk_bytes=1024, as_dtype=as_dtype,
                                nan_rule=nan_rule)
        assert got == ref_digest(ref, a, name, mode=mode, chunk_bytes=1024, canon=as_dtype,
                                 nan_rule=nan_rule)
    # a strided view converts element by element just the same
    v = a[::-3]
    assert tensorhash.digest(v, as_dtype=as_dtype, nan_rule=nan_rule, chunk_bytes=1024) == \
        ref_digest(ref, v, name, chunk_bytes=1024, canon=as_dtype, nan_rule=nan_rule)


def test_canonicalisation_leaves_integers_alone():
    a = random_array(np.int16, (50, 7))
    assert tensorhash.digest(a, as_dtype="BF16") == tensorhash.digest(a)
    assert tensorhash.digest(a, as_dtype="F32", mode="exact") == tensorhash.digest(a, mode="exact")


def test_f32_canonicalisation_of_f32_is_identity_and_f16_widens_exactly():
    a = random_array(np.float16, (300,), seed=9)
    a = a[~np.isnan(a)]
    assert tensorhash.digest(a, mode="exact", as_dtype="F32") == \
        hashlib.sha256(a.astype(np.float32).tobytes()).hexdigest()
    b = random_array(np.float32, (300,))
    assert tensorhash.digest(b, as_dtype="F32") == tensorhash.digest(b)


def test_as_dtype_spellings():
    a = random_array(np.float32, (30,))
    expected = tensorhash.digest(a, as_dtype="BF16")
    assert tensorhash.digest(a, as_dtype="bf16") == expected
    assert tensorhash.digest(a, as_dtype="bfloat16") == expected
    f32 = tensorhash.digest(random_array(np.float16, (30,)), as_dtype="F32")
    assert tensorhash.digest(random_array(np.float16, (30,)), as_dtype=np.float32) == f32
    assert tensorhash.digest(random_array(np.float16, (30,)), as_dtype=np.dtype("float32")) == f32


# ---- modes, chunk sizes, leaves ------------------------------------------------------------------------

def test_chunk_sizes_and_leaves(ref):
    a = random_array(np.uint8, (70000,), seed=2)
    for chunk in (1024, 4096, 16384, 65536, 1 << 24):
        d = tensorhash.digest(a, chunk_bytes=chunk)
        assert d == ref.tree_digest(a.tobytes(), chunk)
        leaves = tensorhash.leaves(a, chunk_bytes=chunk)
        assert len(leaves) == math.ceil(a.size / chunk)
        assert leaves[0] == hashlib.sha256(b"\x00" + a[:chunk].tobytes()).hexdigest()
        assert tensorhash.merkle_root(leaves) == d
        assert tensorhash.merkle_root([bytes.fromhex(x) for x in leaves]) == d
    assert tensorhash.leaves(np.zeros((0,), np.float32)) == []
    assert tensorhash.merkle_root([]) == hashlib.sha256(b"").hexdigest()


def test_tree_and_exact_never_share_digests():
    a = random_array(np.uint8, (100,))
    assert tensorhash.digest(a) != tensorhash.digest(a, mode="exact")


def test_digests_batch_forms():
    arrays = [random_array(np.float32, (17, i + 1), seed=i) for i in range(12)]
    singles = [tensorhash.digest(a) for a in arrays]
    assert tensorhash.digests(arrays) == singles
    assert tensorhash.digests(tuple(arrays)) == singles
    named = {"t%02d" % i: a for i, a in enumerate(arrays)}
    got = tensorhash.digests(named)
    assert list(got) == list(named)
    assert list(got.values()) == singles
    assert tensorhash.digests([]) == []
    assert tensorhash.digests({}) == {}
    exact = tensorhash.digests(arrays, mode="exact", threads=1)
    assert exact == [hashlib.sha256(a.tobytes()).hexdigest() for a in arrays]


def test_threads_do_not_change_digests():
    a = random_array(np.uint8, (3 << 20,), seed=4)
    want = tensorhash.digest(a, threads=1)
    for threads in (2, 3, 8, None):
        assert tensorhash.digest(a, threads=threads) == want


def test_compose_tree_from_dim0_shards():
    full = random_array(np.uint16, (256, 64), seed=8)  # 32 KiB
    want = tensorhash.digest(full, chunk_bytes=1024)
    for tp in (1, 2, 4, 8):
        rows = 256 // tp
        shards = [(rows * 64 * 2, tensorhash.leaves(full[r * rows:(r + 1) * rows],
                                                   chunk_bytes=1024)) for r in range(tp)]
        assert tensorhash.compose_tree(shards, chunk_bytes=1024) == want
    odd = random_array(np.uint8, (2000,))
    with pytest.raises(tensorhash.Error) as e:
        tensorhash.compose_tree([(1000, tensorhash.leaves(odd[:1000], chunk_bytes=1024)),
                                 (1000, tensorhash.leaves(odd[1000:], chunk_bytes=1024))],
                                chunk_bytes=1024)
    assert e.value.code == "invalid_argument"
    assert "not a multiple of the 1024-byte chunk" in e.value.message


def test_diff_leaves_names_the_chunk():
    a = random_array(np.float32, (10000,), seed=12)
    b = a.copy()
    b[5000] = -b[5000] if b[5000] != 0 else 1.0
    la, lb = tensorhash.leaves(a, chunk_bytes=4096), tensorhash.leaves(b, chunk_bytes=4096)
    diffs = tensorhash.diff_leaves(la, lb, 4096, a.nbytes, 4)
    assert [d.chunk for d in diffs] == [5000 * 4 // 4096]
    d = diffs[0]
    assert d.element_begin <= 5000 < d.element_end
    assert d.byte_end - d.byte_begin == 4096
