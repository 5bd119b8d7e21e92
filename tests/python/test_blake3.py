"""BLAKE3 (hasher="blake3", --hasher blake3) against values nobody here computed: the `blake3`
PyPI package and Debian's `b3sum` (each test skips when its oracle is missing), on random
tensors of every dtype, strided, 0-dim, empty and canonicalised; the stdlib reference against
the same oracle; both command lines byte for byte; the refusals."""

import json
import os
import shutil
import subprocess
import sys

import pytest

import tensorhash

numpy = pytest.importorskip("numpy")
CLI = os.environ.get("TENSORHASH_CLI")
DTYPES = ["float64", "float32", "float16", "int64", "int32", "int16", "int8", "uint64",
          "uint32", "uint16", "uint8", "bool"]


def blake3_hex(data):
    blake3 = pytest.importorskip("blake3")
    return blake3.blake3(bytes(data)).hexdigest()


def random_array(rng, dtype, shape):
    raw = rng.bytes(int(numpy.prod(shape, dtype=numpy.int64)) * numpy.dtype(dtype).itemsize)
    a = numpy.frombuffer(raw, dtype=numpy.uint8).view(dtype if dtype != "bool" else "uint8")
    return (a & 1).astype(bool).reshape(shape) if dtype == "bool" else a.reshape(shape).copy()


@pytest.mark.parametrize("dtype", DTYPES)
def test_every_dtype_and_layout_equals_the_blake3_package(dtype):
    rng = numpy.random.default_rng(abs(hash(dtype)) % 1000)
    for shape in [(), (0,), (1,), (513,), (37, 61), (3, 1024, 5)]:
        a = random_array(rng, dtype, shape)
        assert tensorhash.digest(a, hasher="blake3") == blake3_hex(a.tobytes()), shape
    a = random_array(rng, dtype, (70, 90))
    for view in (a.T, a[::3, 1::2], a[:, ::-1], numpy.broadcast_to(a[:1], (40, 90))):
        assert tensorhash.digest(view, hasher="blake3") == \
            blake3_hex(numpy.ascontiguousarray(view).tobytes())


def test_large_tensors_across_subtrees_and_threads():
    rng = numpy.random.default_rng(3)
    for n in (1 << 20, (1 << 20) + 1, 5 * (1 << 20) - 3):
        a = rng.integers(0, 256, n, dtype=numpy.uint8)
        want = blake3_hex(a.tobytes())
        for threads in (1, 2):
            assert tensorhash.digest(a, hasher="blake3", threads=threads) == want, (n, threads)
    batch = {"t%d" % i: rng.integers(0, 256, 1000 * i + 1, dtype=numpy.uint8) for i in range(40)}
    got = tensorhash.digests(batch, hasher="blake3")
    assert got == {k: blake3_hex(v.tobytes()) for k, v in batch.items()}


def test_canonicalised_tensors_hash_the_converted_bytes():
    torch = pytest.importorskip("torch")
    x = torch.randn(300, 257, dtype=torch.float32)
    x[0, 0] = float("inf")
    for view in (x, x[:, 1::2], x.t()):
        bf16 = view.to(torch.bfloat16).contiguous().view(torch.int16).numpy().tobytes()
        assert tensorhash.digest(view, as_dtype="BF16", hasher="blake3") == blake3_hex(bf16)
        wide = view.to(torch.bfloat16)
        assert tensorhash.digest(wide, as_dtype="F32", hasher="blake3") == \
            blake3_hex(wide.float().contiguous().numpy().tobytes())


def test_the_reference_equals_the_blake3_package(ref):
    rng = numpy.random.default_rng(9)
    for n in (0, 1, 64, 65, 1023, 1024, 1025, 2048, 3072 + 1, 9000):
        data = rng.bytes(n)
        assert ref.blake3_digest(data) == blake3_hex(data), n


def test_manifests_record_blake3_and_do_not_compare_with_sha256(tmp_path):
    a = numpy.arange(5000, dtype=numpy.float32)
    m = tensorhash.manifest({"a": a}, hasher="blake3")
    assert m["algorithm"] == "blake3" and "chunk_bytes" not in m
    assert m["tensors"]["a"]["digest"] == blake3_hex(a.tobytes())
    assert tensorhash.compare(m, tensorhash.loads(tensorhash.dumps(m))).ok
    with pytest.raises(tensorhash.Error, match="different hash functions"):
        tensorhash.compare(m, tensorhash.manifest({"a": a}, "exact"))


def test_refusals_name_the_fix():
    a = numpy.zeros(4, numpy.uint8)
    with pytest.raises(tensorhash.Error, match='use mode "exact"'):
        tensorhash.digest(a, "tree", hasher="blake3")
    with pytest.raises(tensorhash.Error, match='hasher must be "sha256" or "blake3"'):
        tensorhash.digest(a, hasher="sha512")
    with pytest.raises(tensorhash.Error, match='mode must be "exact", "tree"'):
        tensorhash.digest(a, mode="blake3")
    with pytest.raises(tensorhash.Error, match='leaves=True needs mode "tree" or hasher'):
        tensorhash.manifest({"a": a}, leaves=True, mode="exact")


def test_leaves_are_the_reference_subtrees_and_hash_to_the_digest(ref):
    rng = numpy.random.default_rng(8)
    for n in [0, 1, 1 << 20, (1 << 20) + 1, (2 << 20) + 5]:
        a = numpy.frombuffer(rng.bytes(n), numpy.uint8)
        got = tensorhash.leaves(a, hasher="blake3")
        assert got == ref.blake3_leaves(a.tobytes()), n
        assert tensorhash.blake3_root(got) == ref.blake3_root(got) == \
            tensorhash.digest(a, hasher="blake3"), n
    # a manifest with leaves is read back (count and root checked) and its diff names the MiB
    big = numpy.frombuffer(rng.bytes((3 << 20) + 5), numpy.uint8).copy()
    m = tensorhash.manifest({"w": big}, hasher="blake3", leaves=True)
    assert tensorhash.loads(tensorhash.dumps(m)) == m
    big[(2 << 20) + 9] ^= 1
    other = tensorhash.manifest({"w": big}, hasher="blake3", leaves=True)
    d = tensorhash.diff_leaves(m["tensors"]["w"]["leaves"], other["tensors"]["w"]["leaves"],
                               1 << 20, big.nbytes, 1)
    assert [(x.byte_begin, x.byte_end) for x in d] == [(2 << 20, 3 << 20)]
    m["tensors"]["w"]["leaves"].reverse()
    with pytest.raises(tensorhash.Error, match="leaves do not hash to its digest"):
        tensorhash.loads(json.dumps(m))


def _checkpoint(ref, tmp_path):
    rng = numpy.random.default_rng(4)
    tensors = {"embed.weight": ("BF16", (300, 64)), "norm.weight": ("BF16", (64,)),
               "big": ("U8", ((2 << 20) + 5,)), "empty": ("F32", (0, 4))}
    raw = {}
    for name, (dtype, shape) in tensors.items():
        n = int(numpy.prod(shape, dtype=numpy.int64)) * {"BF16": 2, "U8": 1, "F32": 4}[dtype]
        raw[name] = (dtype, shape, rng.bytes(n))
    path = tmp_path / "model.safetensors"
    ref.write_safetensors(str(path), raw)
    return path, raw


def test_the_command_line_equals_b3sum_and_the_reference(ref, tmp_path):
    path, raw = _checkpoint(ref, tmp_path)
    r = subprocess.run([sys.executable, "-m", "tensorhash", "hash", str(path), "--hasher",
                        "blake3"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc == ref.manifest(raw, mode="blake3")
    r = subprocess.run([sys.executable, "-m", "tensorhash", "hash", str(path), "--hasher",
                        "blake3", "--leaves"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == ref.manifest(raw, mode="blake3", leaves=True)
    b3sum = shutil.which("b3sum")
    if b3sum is None:
        pytest.skip("b3sum is not installed (apt-get install b3sum)")
    for name, (_, _, data) in raw.items():
        (tmp_path / "t.bin").write_bytes(data)
        out = subprocess.run([b3sum, "--no-names", str(tmp_path / "t.bin")],
                             capture_output=True, text=True, check=True).stdout.strip()
        assert doc["tensors"][name]["digest"] == out, name


@pytest.mark.skipif(not CLI, reason="set TENSORHASH_CLI to the C++ tensorhash binary")
@pytest.mark.parametrize("flags", [["--hasher", "blake3"], ["--hasher", "blake3", "--as", "F32"],
                                   ["--hasher", "blake3", "--mode", "tree"],
                                   ["--hasher", "blake3", "--leaves"],
                                   ["--hasher", "blake3", "--mode", "sglang"]])
def test_same_output_as_the_cpp_cli(ref, tmp_path, flags):
    path, _ = _checkpoint(ref, tmp_path)
    py = subprocess.run([sys.executable, "-m", "tensorhash", "hash", str(path)] + flags,
                        capture_output=True, text=True)
    cc = subprocess.run([CLI, "hash", str(path)] + flags, capture_output=True, text=True)
    assert (py.returncode, py.stdout) == (cc.returncode, cc.stdout)
    if py.returncode != 0:
        assert py.stderr == cc.stderr


@pytest.mark.parametrize("cli", ["python", "c++"])
def test_diff_of_two_checkpoints_names_the_differing_mib(ref, tmp_path, cli):
    if cli == "c++" and not CLI:
        pytest.skip("set TENSORHASH_CLI to the C++ tensorhash binary")
    path, raw = _checkpoint(ref, tmp_path)
    dtype, shape, data = raw["big"]
    changed = dict(raw)
    changed["big"] = (dtype, shape, data[:(1 << 20) + 3] + bytes([data[(1 << 20) + 3] ^ 1]) +
                      data[(1 << 20) + 4:])
    other = tmp_path / "other.safetensors"
    ref.write_safetensors(str(other), changed)
    command = [sys.executable, "-m", "tensorhash"] if cli == "python" else [CLI]
    r = subprocess.run(command + ["diff", str(path), str(other), "--hasher", "blake3"],
                       capture_output=True, text=True)
    assert r.returncode == 1, r.stderr
    assert "CHUNKS     big\n  chunk 1: bytes [1048576, 2097152), elements [1048576, 2097152)\n" \
        in r.stdout
    # the same from manifests with leaves; a SHA-256 manifest against a BLAKE3 one is refused
    for p in (path, other):
        subprocess.run(command + ["hash", str(p), "--hasher", "blake3", "--leaves", "-o",
                                  str(p) + ".json"], check=True, capture_output=True)
    again = subprocess.run(command + ["diff", str(path) + ".json", str(other) + ".json"],
                           capture_output=True, text=True)
    assert (again.returncode, again.stdout) == (r.returncode, r.stdout)
    sha = subprocess.run(command + ["hash", str(path), "-o", str(tmp_path / "sha.json")],
                         capture_output=True, text=True)
    assert sha.returncode == 0, sha.stderr
    refused = subprocess.run(command + ["diff", str(tmp_path / "sha.json"),
                                        str(other) + ".json"], capture_output=True, text=True)
    assert refused.returncode == 2
    assert "diff needs two tree or BLAKE3 digests with the same settings" in refused.stderr
    for p, out in ((path, "bare-a.json"), (other, "bare-b.json")):  # no leaves: the tensor only
        subprocess.run(command + ["hash", str(p), "--hasher", "blake3", "-o",
                                  str(tmp_path / out)], check=True, capture_output=True)
    bare = subprocess.run(command + ["diff", str(tmp_path / "bare-a.json"),
                                     str(tmp_path / "bare-b.json")], capture_output=True, text=True)
    assert bare.returncode == 1, bare.stderr
    assert "CHUNKS     big\n  (no leaf digests recorded: hash with --leaves to locate the " \
        "chunks)\n" in bare.stdout


def test_tensor_parallel_shards_from_the_full_tensors():
    torch = pytest.importorskip("torch")
    g = torch.Generator().manual_seed(2)
    q, k, v = (torch.randn(n, 96, generator=g).to(torch.bfloat16) for n in (128, 32, 32))
    tp = 2  # kv heads split, not replicated
    for rank in range(tp):
        layout = tensorhash.Layout.fused_qkv(tp, rank, num_heads=8, num_kv_heads=2, head_dim=16)
        shard = torch.cat([q.chunk(tp)[rank], k.chunk(tp)[rank], v.chunk(tp)[rank]])
        want = blake3_hex(shard.view(torch.int16).numpy().tobytes())
        assert tensorhash.expected_shard_digest(layout, (q, k, v), hasher="blake3") == want
        assert tensorhash.shard_digest(layout, shard, hasher="blake3") == want
    up = torch.randn(200, 64, generator=g)
    layout = tensorhash.Layout.row_parallel(2, 1)
    assert tensorhash.expected_shard_digests({"up": (layout, up)}, hasher="blake3") == \
        {"up": blake3_hex(up[:, 32:].contiguous().numpy().tobytes())}


def test_build_info_names_the_simd_path():
    info = tensorhash.build_info()
    assert info["blake3_path"] in ("avx512", "avx2", "sse41", "portable")
    assert (info["blake3_path"] == "avx512") == info["avx512"]
