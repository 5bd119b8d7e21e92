"""Manifests: built from tensors and from safetensors files, equal to the reference's and (when
TENSORHASH_CLI names the C++ command line) byte for byte to the C++ CLI's; strict reading;
comparison; aggregates."""

import hashlib
import json
import os
import subprocess

import numpy as np
import pytest

import tensorhash

NP = {"F32": np.float32, "F16": np.float16, "I64": np.int64, "U8": np.uint8, "BOOL": np.bool_,
      "F64": np.float64, "I8": np.int8}


def arrays(seed=0):
    gen = np.random.default_rng(seed)
    out = {}
    for i, (name, shape) in enumerate([("F32", (40, 33)), ("F16", (1000,)), ("I64", ()),
                                       ("U8", (0, 4)), ("BOOL", (9,)), ("F64", (12, 3)),
                                       ("I8", (5000,))]):
        n = int(np.prod(shape)) if shape else 1
        raw = gen.integers(0, 256, n * np.dtype(NP[name]).itemsize, dtype=np.uint8)
        a = raw.view(np.uint8 if name == "BOOL" else NP[name])
        if name == "BOOL":
            a = (a & 1).astype(np.bool_)
        out["model.layers.%d.%s" % (i, name.lower())] = (name, a.reshape(shape))
    out["é-unicode.weight"] = ("F32", gen.standard_normal((3, 3)).astype(np.float32))
    return out


def as_ref(tensors):
    return {k: (dt, a.shape, np.ascontiguousarray(a).tobytes()) for k, (dt, a) in tensors.items()}


SETTINGS = [
    {}, {"mode": "exact"}, {"chunk_bytes": 1024}, {"as_dtype": "BF16"},
    {"as_dtype": "BF16", "nan_rule": "torch-cpu"}, {"as_dtype": "BF16", "nan_rule": "torch-cuda"},
    {"as_dtype": "F32", "mode": "exact"},
]


def ref_kwargs(kw):
    return {"mode": kw.get("mode", "tree"), "chunk_bytes": kw.get("chunk_bytes", 16384),
            "canon": kw.get("as_dtype"), "nan_rule": kw.get("nan_rule", "canonical")}


@pytest.mark.parametrize("kw", SETTINGS)
def test_manifest_equals_reference(ref, kw):
    tensors = arrays()
    got = tensorhash.manifest({k: a for k, (_, a) in tensors.items()}, **kw)
    want = ref.manifest(as_ref(tensors), **ref_kwargs(kw))
    assert got == want
    assert list(got) == list(want)  # key order
    assert list(got["tensors"]) == sorted(got["tensors"])
    assert tensorhash.dumps(got) == json.dumps(want, indent=1, ensure_ascii=False) + "\n"


@pytest.mark.skipif(not tensorhash.build_info()["sglang"], reason="built without sglang.hpp")
@pytest.mark.parametrize("mode", ["sglang", "sglang-cpu"])
def test_sglang_manifest_equals_reference(ref, mode):
    tensors = {k: v for k, v in arrays().items() if v[1].size < 2000}
    got = tensorhash.manifest({k: a for k, (_, a) in tensors.items()}, mode=mode)
    assert got == ref.manifest(as_ref(tensors), mode=mode)
    assert all(len(e["digest"]) == 16 for e in got["tensors"].values())
    assert tensorhash.loads(tensorhash.dumps(got)) == got


def test_manifest_with_leaves():
    tensors = {k: a for k, (_, a) in arrays().items()}
    plain = tensorhash.manifest(tensors, chunk_bytes=1024)
    with_leaves = tensorhash.manifest(tensors, chunk_bytes=1024, leaves=True)
    assert with_leaves["aggregate"] == plain["aggregate"]
    for name, e in with_leaves["tensors"].items():
        assert e["digest"] == plain["tensors"][name]["digest"]
        assert tensorhash.merkle_root(e.get("leaves", [])) == e["digest"]
        nbytes = tensors[name].nbytes
        assert len(e.get("leaves", [])) == -(-nbytes // 1024)
    with pytest.raises(tensorhash.Error) as err:
        tensorhash.manifest(tensors, mode="exact", leaves=True)
    assert err.value.code == "invalid_argument"


def test_save_load_round_trip(tmp_path):
    m = tensorhash.manifest({k: a for k, (_, a) in arrays().items()}, leaves=True)
    path = tmp_path / "m.json"
    tensorhash.save(m, path)
    assert path.read_text(encoding="utf-8") == tensorhash.dumps(m)
    assert tensorhash.load(path) == m
    assert tensorhash.load(str(path)) == m
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]  # no temporary left behind
    upper = json.loads(path.read_text(encoding="utf-8"))
    upper["aggregate"] = upper["aggregate"].upper()
    for e in upper["tensors"].values():
        e["digest"] = e["digest"].upper()
    assert tensorhash.loads(json.dumps(upper)) == m  # hex is read in either case, kept lowercase


def broken(m, edit):
    doc = json.loads(json.dumps(m))
    edit(doc)
    return json.dumps(doc)


def test_load_is_strict(tmp_path):
    m = tensorhash.manifest({"w": np.arange(10, dtype=np.float32)})
    cases = {
        "parse_error": [
            "not json", "[]", broken(m, lambda d: d.update(format="other/1")),
            broken(m, lambda d: d.update(algorithm="md5")),
            broken(m, lambda d: d.update(chunk_bytes=1000)),
            broken(m, lambda d: d.pop("chunk_bytes")),
            broken(m, lambda d: d.update(canonical_dtype="F16")),
            broken(m, lambda d: d.update(nan_rule="torch-cpu")),
            broken(m, lambda d: d.update(aggregate="0" * 64)),
            broken(m, lambda d: d["tensors"]["w"].update(digest="abc")),
            broken(m, lambda d: d["tensors"]["w"].update(digest="g" * 64)),
            broken(m, lambda d: d["tensors"]["w"].update(shape=[-1])),
            broken(m, lambda d: d["tensors"]["w"].update(shape=[1.5])),
            broken(m, lambda d: d["tensors"]["w"].update(shape=[1] * 9)),
            broken(m, lambda d: d["tensors"]["w"].update(dtype="F128")),
            broken(m, lambda d: d["tensors"]["w"].update(leaves="x")),
            broken(m, lambda d: d["tensors"]["w"].pop("digest")),
            broken(m, lambda d: d.pop("aggregate")),
        ],
        "duplicate_name": [tensorhash.dumps(m).replace('"format"', '"tensors": {}, "format"', 1)],
    }
    for code, texts in cases.items():
        for text in texts:
            with pytest.raises(tensorhash.Error) as e:
                tensorhash.loads(text, label="x.json")
            assert e.value.code == code, text
            assert e.value.message.startswith("x.json"), e.value.message
    with pytest.raises(tensorhash.Error) as e:
        tensorhash.load(tmp_path / "missing.json")
    assert e.value.code == "io_error"
    bad = json.loads(tensorhash.dumps(m))
    bad["aggregate"] = "0" * 64
    with pytest.raises(tensorhash.Error) as e:
        tensorhash.save(bad, tmp_path / "bad.json")
    assert e.value.code == "parse_error"
    assert not (tmp_path / "bad.json").exists()


def test_compare():
    base = {k: a for k, (_, a) in arrays().items()}
    expected = tensorhash.manifest(base)
    same = tensorhash.compare(expected, tensorhash.manifest(dict(base)))
    assert same.ok and not same.mismatched and len(same.matched) == len(base)
    changed = dict(base)
    changed["model.layers.0.f32"] = base["model.layers.0.f32"].copy()
    changed["model.layers.0.f32"][3, 4] += 1
    changed["model.layers.5.f64"] = base["model.layers.5.f64"].T.copy()  # shape differs
    del changed["model.layers.2.i64"]
    changed["extra"] = np.zeros(3, np.int8)
    c = tensorhash.compare(expected, tensorhash.manifest(changed))
    assert not c.ok
    assert [m.name for m in c.mismatched] == ["model.layers.0.f32"]
    assert c.mismatched[0].expected == expected["tensors"]["model.layers.0.f32"]["digest"]
    assert [m.name for m in c.metadata] == ["model.layers.5.f64"]
    assert c.metadata[0].expected == {"dtype": "F64", "shape": [12, 3]}
    assert c.metadata[0].actual == {"dtype": "F64", "shape": [3, 12]}
    assert c.missing == ["model.layers.2.i64"]
    assert c.unexpected == ["extra"]
    summary = c.summary()
    assert "MISMATCH   model.layers.0.f32  expected " in summary
    assert "METADATA   model.layers.5.f64  expected F64[12, 3]  actual F64[3, 12]" in summary
    assert summary.endswith("5 matched, 1 mismatched, 1 dtype/shape differences, 1 missing, "
                            "1 unexpected\n")
    j = c.to_json()
    assert list(j) == ["ok", "settings_differ", "settings_note", "matched", "mismatched",
                       "metadata", "missing", "unexpected"]
    other = tensorhash.compare(expected, tensorhash.manifest(base, mode="exact"))
    assert other.settings_differ and not other.ok and not other.matched and not other.mismatched
    assert other.settings_note == ("expected sha256-tree, 16384-byte chunks, as stored, "
                                   "actual sha256, as stored")


def test_aggregates(ref):
    digests = {"b": "1" * 64, "a": "2" * 64, "é": "3" * 64}
    assert tensorhash.sglang_rank_aggregate(digests) == ref.rank_aggregate(digests)
    want = hashlib.sha256(b"a" + b"2" * 64 + b"b" + b"1" * 64 + "é".encode() + b"3" * 64)
    assert tensorhash.sglang_rank_aggregate(digests) == want.hexdigest()
    ranks = [tensorhash.sglang_rank_aggregate(digests), "f" * 64]
    assert tensorhash.sglang_engine_aggregate(ranks) == ref.engine_aggregate(ranks)


# ---- safetensors checkpoints -------------------------------------------------------------------

def write_checkpoint(ref, directory, tensors, shards=2):
    os.makedirs(directory, exist_ok=True)
    names = sorted(tensors)
    raw = as_ref(tensors)
    per = -(-len(names) // shards)
    for s in range(shards):
        part = {n: raw[n] for n in names[s * per:(s + 1) * per]}
        ref.write_safetensors(os.path.join(directory, "model-%05d-of-%05d.safetensors"
                                           % (s + 1, shards)), part, metadata={"format": "pt"})
    return raw


def test_checkpoint_manifest_equals_reference(ref, tmp_path):
    raw = write_checkpoint(ref, tmp_path / "ckpt", arrays())
    for kw in SETTINGS[:4]:
        got = tensorhash.checkpoint_manifest(tmp_path / "ckpt", **kw)
        assert got == ref.manifest(raw, **ref_kwargs(kw))
    files = sorted(str(p) for p in (tmp_path / "ckpt").iterdir())
    assert tensorhash.checkpoint_manifest(files) == tensorhash.checkpoint_manifest(
        str(tmp_path / "ckpt"))


def test_safetensors_reader_is_strict(ref, tmp_path):
    good = tmp_path / "good.safetensors"
    ref.write_safetensors(str(good), {"a": ("F32", (2,), b"\0" * 8), "b": ("U8", (3,), b"abc")})
    data = good.read_bytes()
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + n])

    def variant(name, edit=None, tail=b"", body=None):
        h = json.loads(json.dumps(header))
        if edit:
            edit(h)
        text = json.dumps(h).encode()
        path = tmp_path / name
        path.write_bytes(len(text).to_bytes(8, "little") + text +
                         (data[8 + n:] if body is None else body) + tail)
        return path

    cases = [
        (variant("trailing.safetensors", tail=b"x"), "parse_error", "trailing bytes"),
        (variant("hole.safetensors", lambda h: h["b"].update(data_offsets=[9, 12]),
                 body=data[8 + n:] + b"x"), "parse_error", "hole"),
        (variant("size.safetensors", lambda h: h["a"].update(shape=[3])), "parse_error", "bytes"),
        (variant("dtype.safetensors", lambda h: h["a"].update(dtype="F128")), "unknown_dtype",
         "F128"),
        (variant("rank.safetensors", lambda h: h["a"].update(shape=[1] * 9)), "rank_too_large",
         "dimensions"),
    ]
    short = tmp_path / "short.safetensors"
    short.write_bytes(b"\1\0")
    cases.append((short, "parse_error", "too short"))
    dup = tmp_path / "dup.safetensors"
    text = data[8:8 + n].replace(b'"b"', b'"a"')
    dup.write_bytes(data[:8] + text + data[8 + n:])
    cases.append((dup, "duplicate_name", "appears twice"))
    cases.append((tmp_path / "absent.safetensors", "io_error", "cannot open"))
    for path, code, words in cases:
        with pytest.raises(tensorhash.Error) as e:
            tensorhash.checkpoint_manifest(path)
        assert e.value.code == code, (path, e.value)
        assert words in e.value.message and str(path) in e.value.message
    with pytest.raises(tensorhash.Error) as e:
        tensorhash.checkpoint_manifest([good, good])
    assert e.value.code == "duplicate_name"
    (tmp_path / "empty").mkdir()
    with pytest.raises(tensorhash.Error) as e:
        tensorhash.checkpoint_manifest(tmp_path / "empty")
    assert e.value.code == "io_error"


# ---- the C++ command line, when given ------------------------------------------------------------

CLI = os.environ.get("TENSORHASH_CLI")
needs_cli = pytest.mark.skipif(not CLI, reason="set TENSORHASH_CLI to the C++ tensorhash binary")

CLI_FLAGS = [[], ["--mode", "exact"], ["--chunk-bytes", "1024"], ["--as", "BF16"],
             ["--as", "BF16", "--nan-rule", "torch-cpu"], ["--as", "F32", "--mode", "exact"],
             ["--leaves", "--chunk-bytes", "4096"]]


def cli_kwargs(flags):
    kw = {}
    it = iter(flags)
    for f in it:
        if f == "--leaves":
            kw["leaves"] = True
            continue
        v = next(it)
        key = {"--mode": "mode", "--chunk-bytes": "chunk_bytes", "--as": "as_dtype",
               "--nan-rule": "nan_rule"}[f]
        kw[key] = int(v) if key == "chunk_bytes" else v
    return kw


@needs_cli
@pytest.mark.parametrize("flags", CLI_FLAGS, ids=lambda f: " ".join(f) or "default")
def test_manifest_is_the_cpp_cli_manifest_byte_for_byte(ref, tmp_path, flags):
    write_checkpoint(ref, tmp_path / "ckpt", arrays(1), shards=3)
    out = tmp_path / "cli.json"
    subprocess.run([CLI, "hash", str(tmp_path / "ckpt"), "-o", str(out), "--device", "cpu"]
                   + flags, check=True, capture_output=True)
    ours = tensorhash.checkpoint_manifest(tmp_path / "ckpt", **cli_kwargs(flags))
    assert out.read_text(encoding="utf-8") == tensorhash.dumps(ours)
    assert tensorhash.load(out) == ours
    # the same tensors given as arrays
    arrays_kw = cli_kwargs(flags)
    assert tensorhash.manifest({k: a for k, (_, a) in arrays(1).items()}, **arrays_kw) == ours
    # and manifests saved from Python are read by the C++ compare
    mine = tmp_path / "mine.json"
    tensorhash.save(ours, mine)
    r = subprocess.run([CLI, "compare", str(out), str(mine)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


@needs_cli
@pytest.mark.skipif(not tensorhash.build_info()["sglang"], reason="built without sglang.hpp")
def test_sglang_manifest_is_the_cpp_cli_manifest(ref, tmp_path):
    small = {k: v for k, v in arrays(2).items() if v[1].size < 2000}
    write_checkpoint(ref, tmp_path / "ckpt", small, shards=1)
    for mode in ("sglang", "sglang-cpu"):
        out = tmp_path / ("%s.json" % mode)
        r = subprocess.run([CLI, "hash", str(tmp_path / "ckpt"), "--mode", mode, "-o", str(out)],
                           capture_output=True, text=True)
        if r.returncode != 0 and "--mode" in r.stderr:
            pytest.skip("this C++ CLI has no --mode %s" % mode)
        assert r.returncode == 0, r.stderr
        assert out.read_text(encoding="utf-8") == tensorhash.dumps(
            tensorhash.checkpoint_manifest(tmp_path / "ckpt", mode=mode))


@needs_cli
def test_cpp_cli_compare_exit_codes_on_python_manifests(tmp_path):
    base = {k: a for k, (_, a) in arrays().items()}
    a = tmp_path / "a.json"
    b = tmp_path / "b.json"
    c = tmp_path / "c.json"
    tensorhash.save(tensorhash.manifest(base), a)
    changed = dict(base)
    changed["model.layers.1.f16"] = base["model.layers.1.f16"][::-1].copy()
    tensorhash.save(tensorhash.manifest(changed), b)
    tensorhash.save(tensorhash.manifest(base, mode="exact"), c)
    assert subprocess.run([CLI, "compare", str(a), str(a)], capture_output=True).returncode == 0
    r = subprocess.run([CLI, "compare", str(a), str(b)], capture_output=True, text=True)
    assert r.returncode == 1 and "MISMATCH   model.layers.1.f16" in r.stdout
    ours = tensorhash.compare(tensorhash.load(a), tensorhash.load(b))
    assert r.stdout == ours.summary()
    r = subprocess.run([CLI, "compare", str(a), str(b), "--json"], capture_output=True, text=True)
    assert json.loads(r.stdout) == ours.to_json()
    assert subprocess.run([CLI, "compare", str(a), str(c)], capture_output=True).returncode == 2
