"""Digests of PyTorch tensors: every dtype (bf16 and fp8 included) against Miles' hashlib recipe
and the stdlib reference, views, parameters, canonicalisation against torch's own .to(), and
CUDA tensors (on a GPU build and machine; elsewhere the error they raise)."""

import hashlib

import pytest

import tensorhash
from dlpack_raw import RawDLPack

torch = pytest.importorskip("torch")

TORCH_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "F8_E4M3": torch.float8_e4m3fn, "F8_E5M2": torch.float8_e5m2, "I64": torch.int64,
    "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U64": torch.uint64,
    "U32": torch.uint32, "U16": torch.uint16, "U8": torch.uint8, "BOOL": torch.bool,
}
SIZES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "F8_E5M2": 1, "I64": 8, "I32": 4,
         "I16": 2, "I8": 1, "U64": 8, "U32": 4, "U16": 2, "U8": 1, "BOOL": 1}
UINT_OF_SIZE = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}


def random_tensor(name, shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    n = 1
    for d in shape:
        n *= d
    if name == "BOOL":
        return torch.randint(0, 2, (n,), generator=g, dtype=torch.uint8).bool().reshape(shape)
    raw = torch.randint(0, 256, (n * SIZES[name],), generator=g, dtype=torch.uint8)
    return raw.view(TORCH_DTYPES[name]).reshape(shape)


def raw_bytes(t):
    """Row-major bytes of a tensor's contiguous copy (what the format hashes as stored)."""
    return t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()


def miles(t):
    """Miles' per-tensor digest, verbatim."""
    return hashlib.sha256(t.contiguous().view(torch.uint8).numpy()).hexdigest()


@pytest.mark.parametrize("name", sorted(TORCH_DTYPES))
def test_every_dtype_exact_is_the_miles_recipe(name):
    for shape in [(1,), (7,), (3, 5), (2, 3, 4, 5), (0,), (4, 0)]:
        t = random_tensor(name, shape, seed=len(shape))
        assert tensorhash.hashlib_hex(t) == miles(t)
        assert tensorhash.digest(t, mode="exact") == miles(t)
    scalar = random_tensor(name, (), seed=3)
    assert tensorhash.digest(scalar, mode="exact") == hashlib.sha256(raw_bytes(scalar)).hexdigest()


@pytest.mark.parametrize("name", sorted(TORCH_DTYPES))
def test_every_dtype_tree_matches_reference(ref, name):
    for shape, chunk in [((), 1024), ((0, 3), 1024), ((2500,), 1024), ((31, 67), 2048)]:
        t = random_tensor(name, shape, seed=5)
        assert tensorhash.digest(t, chunk_bytes=chunk) == \
            ref.digest(raw_bytes(t), name, shape, chunk_bytes=chunk)


def views(base):
    yield base.T
    yield base[::2]
    yield base[:, 1::3]
    yield base[3:9, 2]
    yield base.narrow(1, 4, 7)
    yield base[:1, :1].expand(5, 6)                      # zero strides
    yield base.reshape(-1)[:30].as_strided((6, 10), (3, 1))  # overlapping rows
    yield base.unsqueeze(0).transpose(0, 2)
    yield base[2:2]


@pytest.mark.parametrize("name", ["F32", "BF16", "F8_E4M3", "I64", "BOOL"])
def test_views_match_contiguous_copies(ref, name):
    base = random_tensor(name, (24, 16), seed=9)
    for v in views(base):
        c = v.contiguous()
        for mode in ("exact", "tree"):
            assert tensorhash.digest(v, mode=mode, chunk_bytes=1024) == \
                tensorhash.digest(c, mode=mode, chunk_bytes=1024), (tuple(v.shape), v.stride())
        assert tensorhash.digest(v, mode="exact") == hashlib.sha256(raw_bytes(v)).hexdigest()
        assert tensorhash.digest(v, chunk_bytes=1024) == \
            ref.digest(raw_bytes(v), name, tuple(v.shape), chunk_bytes=1024)


def test_parameters_and_tensors_requiring_grad():
    p = torch.nn.Parameter(torch.randn(33, 17))
    assert p.requires_grad
    assert tensorhash.digest(p, mode="exact") == miles(p.detach())
    y = p * 2  # a non-leaf with a grad_fn
    assert tensorhash.digest(y) == tensorhash.digest(y.detach())


def test_state_dict_manifest_matches_reference(ref):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Embedding(100, 32), torch.nn.Linear(32, 64),
                                torch.nn.LayerNorm(64), torch.nn.Linear(64, 100, bias=False))
    model = model.to(torch.bfloat16)
    sd = model.state_dict()
    raw = {k: (name_of(v.dtype), tuple(v.shape), raw_bytes(v)) for k, v in sd.items()}
    for kwargs in [{}, {"mode": "exact"}, {"as_dtype": "F32"}, {"chunk_bytes": 1024},
                   {"mode": "exact", "as_dtype": torch.float32}]:
        got = tensorhash.manifest(sd, **kwargs)
        canon = kwargs.get("as_dtype")
        canon = "F32" if canon in ("F32", torch.float32) else canon
        want = ref.manifest(raw, mode=kwargs.get("mode", "tree"),
                            chunk_bytes=kwargs.get("chunk_bytes", 16384), canon=canon)
        assert got == want
        assert tensorhash.dumps(got) == tensorhash.dumps(want)


def name_of(dtype):
    return {v: k for k, v in TORCH_DTYPES.items()}[dtype]


# ---- canonicalisation against torch's own conversions -------------------------------------------

@pytest.mark.parametrize("source", ["F64", "F32", "F16", "F8_E4M3", "F8_E5M2", "BF16"])
@pytest.mark.parametrize("target", ["BF16", "F32"])
def test_canonicalisation_equals_torch_to(source, target):
    """For every non-NaN value the canonical bytes are torch's `.to(dtype)` bytes."""
    t = random_tensor(source, (4096,), seed=21)
    if t.dtype.is_floating_point:
        t = t[~torch.isnan(t.to(torch.float64))]
    converted = t.to(TORCH_DTYPES[target])
    assert tensorhash.digest(t, mode="exact", as_dtype=target) == miles(converted)
    assert tensorhash.digest(t, as_dtype=TORCH_DTYPES[target]) == tensorhash.digest(converted)
    strided = t[1::3]
    assert tensorhash.digest(strided, mode="exact", as_dtype=target) == \
        miles(strided.to(TORCH_DTYPES[target]))


def test_nan_rules_scalar_path():
    """A strided F32 column slice converts element by element in ATen (docs/format.md §3.3):
    its NaNs become 0x7FC0, the canonical rule."""
    t = torch.randn(64, 8)
    t[::3, 0] = float("nan")
    column = t[:, 0]
    assert tensorhash.digest(column, mode="exact", as_dtype="BF16") == \
        miles(column.to(torch.bfloat16))


# ---- interop -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["BF16", "F32", "F8_E4M3", "BOOL", "I64"])
def test_sglang_diffusion_digest(ref, name):
    for shape in [(), (8,), (5, 7)]:
        t = random_tensor(name, shape, seed=4)
        want = hashlib.sha256((str(t.dtype) + repr(tuple(t.shape))).encode() +
                              raw_bytes(t)).hexdigest()
        assert tensorhash.sglang_diffusion_digest(t) == want
        assert tensorhash.sglang_diffusion_digest(t) == ref.sglang_diffusion_digest(
            raw_bytes(t), name, shape)
    f = random_tensor("F32", (6, 5), seed=2)
    f = f.nan_to_num()
    assert tensorhash.sglang_diffusion_digest(f, as_dtype="BF16") == ref.sglang_diffusion_digest(
        raw_bytes(f), "F32", (6, 5), canon="BF16")


def test_sglang_weights_checksum(ref):
    sd = {"b.weight": random_tensor("BF16", (9, 4), 1), "a.bias": random_tensor("F32", (4,), 2),
          "z": random_tensor("BOOL", (3,), 3)}
    raw = {k: (name_of(v.dtype), tuple(v.shape), raw_bytes(v)) for k, v in sd.items()}
    assert tensorhash.sglang_weights_checksum(sd) == ref.sglang_weights_checksum(raw)
    h = hashlib.sha256()
    for k in sorted(sd):
        h.update(k.encode())
        h.update(raw_bytes(sd[k]))
    assert tensorhash.sglang_weights_checksum(sd) == h.hexdigest()


@pytest.mark.skipif(not tensorhash.build_info()["sglang"], reason="built without sglang.hpp")
@pytest.mark.parametrize("mode", ["sglang", "sglang-cpu"])
def test_sglang_64_bit_modes(ref, mode):
    for name, shape in [("BF16", (33, 70)), ("F32", (5,)), ("U8", (7,)), ("I64", ())]:
        t = random_tensor(name, shape, seed=8)
        got = tensorhash.digest(t, mode=mode)
        assert len(got) == 16
        assert got == ref.digest(raw_bytes(t), name, shape, mode=mode)


# ---- CUDA ----------------------------------------------------------------------------------------

def test_cuda_tensor_without_a_usable_device_raises_a_coded_error():
    # claims CUDA device 0 (no GPU needed): the pointer is never read
    fake = RawDLPack(0x1000, [4], code=2, bits=32, device_type=2)
    info = tensorhash.build_info()
    if info["cuda"] and info["cuda_devices"] > 0:
        pytest.skip("a CUDA device is present: the fake pointer would be handed to it")
    with pytest.raises(tensorhash.Error) as e:
        tensorhash.digest(fake)
    if info["cuda"]:
        # CUDA build, no device: exported on the legacy default stream, refused by the runtime
        assert fake.streams == [1]
        assert e.value.code in ("cuda_error", "wrong_memory_space")
    else:
        assert fake.streams == []  # refused before any export
        assert e.value.code == "wrong_memory_space"
        assert "built without CUDA" in e.value.message


def test_negative_and_conjugate_views_are_refused():
    c = torch.complex(torch.arange(4.0), torch.arange(4.0) + 10)
    for view, bit in [(c.conj().imag, "negative"), (c.conj(), "conjugate")]:
        with pytest.raises(tensorhash.Error) as e:
            tensorhash.digest(view)
        assert e.value.code == "invalid_argument" and bit + " bit" in e.value.message
    resolved = c.conj().imag.resolve_neg()
    assert tensorhash.digest(resolved) == tensorhash.digest(-(torch.arange(4.0) + 10))


def test_explicit_stream_argument_reaches_the_producer():
    info = tensorhash.build_info()
    if not info["cuda"] or info["cuda_devices"] > 0:
        pytest.skip("needs a CUDA build without a device (the fake tensor is not real memory)")
    # claims CUDA device 0 (no GPU needed): the pointer is never read
    fake = RawDLPack(0x1000, [4], code=2, bits=32, device_type=2)
    with pytest.raises(tensorhash.Error):
        tensorhash.digest(fake, stream=12345)
    assert fake.streams == [12345]


def cuda_ready(test):
    """Marks a test `cuda` (pytest -m cuda selects them) and skips it without a CUDA device."""
    return pytest.mark.cuda(pytest.mark.skipif(
        not (tensorhash.build_info()["cuda"] and torch.cuda.is_available()),
        reason="needs a CUDA build of tensorhash and a CUDA device")(test))


@cuda_ready
@pytest.mark.parametrize("mode", ["exact", "tree"])
@pytest.mark.parametrize("as_dtype", [None, "BF16", "F32"])
def test_cuda_digests_equal_host_digests(mode, as_dtype):
    sd = {"w%d" % i: random_tensor(n, s, seed=i) for i, (n, s) in enumerate(
        [("BF16", (1024, 96)), ("F32", (333, 7)), ("F8_E4M3", (64, 64)), ("I64", ()),
         ("F16", (0, 5)), ("BOOL", (17,))])}
    host = tensorhash.digests(sd, mode=mode, as_dtype=as_dtype)
    dev = {k: v.cuda() for k, v in sd.items()}
    assert tensorhash.digests(dev, mode=mode, as_dtype=as_dtype) == host
    views = {k: (v.T if v.dim() == 2 else v) for k, v in dev.items()}
    host_views = {k: (v.T if v.dim() == 2 else v) for k, v in sd.items()}
    assert tensorhash.digests(views, mode=mode, as_dtype=as_dtype) == \
        tensorhash.digests(host_views, mode=mode, as_dtype=as_dtype)


@cuda_ready
def test_cuda_hashes_on_the_producers_stream():
    s = torch.cuda.Stream()
    with torch.cuda.stream(s):
        t = torch.arange(1 << 20, device="cuda", dtype=torch.int32)
        got = tensorhash.digest(t)  # ordered after arange on s, no explicit sync
    assert got == tensorhash.digest(t.cpu())
    assert tensorhash.digest(t, stream=torch.cuda.current_stream()) == got
