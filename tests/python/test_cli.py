"""The package's `tensorhash` command line (python -m tensorhash and the console script):
hash / compare / diff, exit codes 0 / 1 / 2, manifests equal to the reference's and, when
TENSORHASH_CLI is set, to the C++ command line's output byte for byte."""

import json
import os
import shutil
import subprocess
import sys

import pytest

import tensorhash


def run(*args, **kw):
    return subprocess.run([sys.executable, "-m", "tensorhash"] + [str(a) for a in args],
                          capture_output=True, text=True, **kw)


@pytest.fixture
def checkpoint(ref, tmp_path):
    """A two-shard BF16 checkpoint and its reference tensors."""
    import random
    rng = random.Random(5)
    tensors = {}
    for i, (name, shape) in enumerate([("embed_tokens.weight", (300, 64)),
                                       ("layers.0.mlp.up_proj.weight", (128, 64)),
                                       ("layers.0.input_layernorm.weight", (64,)),
                                       ("lm_head.weight", (300, 64))]):
        n = 1
        for d in shape:
            n *= d
        tensors[name] = ("BF16", shape, rng.randbytes(2 * n))
    names = sorted(tensors)
    d = tmp_path / "ckpt"
    d.mkdir()
    ref.write_safetensors(str(d / "model-00001-of-00002.safetensors"),
                          {n: tensors[n] for n in names[:2]})
    ref.write_safetensors(str(d / "model-00002-of-00002.safetensors"),
                          {n: tensors[n] for n in names[2:]})
    return d, tensors


def test_console_script_is_installed():
    script = shutil.which("tensorhash", path=os.path.dirname(sys.executable))
    assert script is not None, "pip install . should install the tensorhash console script"
    r = subprocess.run([script, "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "hash" in r.stdout and "compare" in r.stdout


def test_hash_prints_the_reference_manifest(ref, checkpoint):
    d, tensors = checkpoint
    r = run("hash", d)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == ref.manifest(tensors)
    assert r.stdout == tensorhash.dumps(ref.manifest(tensors))
    assert "4 tensors" in r.stderr and "aggregate " in r.stderr
    r = run("hash", d, "--mode", "exact", "--as", "F32")
    assert json.loads(r.stdout) == ref.manifest(tensors, mode="exact", canon="F32")


def test_hash_compare_diff_round_trip(ref, checkpoint, tmp_path):
    d, tensors = checkpoint
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert run("hash", d, "-o", a, "--leaves", "--threads", "1").returncode == 0
    assert tensorhash.load(a)["tensors"]["lm_head.weight"]["leaves"]
    assert run("compare", a, a).returncode == 0
    # plant one flipped bit in lm_head, row 200
    changed = dict(tensors)
    dtype, shape, raw = tensors["lm_head.weight"]
    at = 2 * (200 * 64 + 3)
    changed["lm_head.weight"] = (dtype, shape, raw[:at] + bytes([raw[at] ^ 1]) + raw[at + 1:])
    d2 = tmp_path / "ckpt2"
    d2.mkdir()
    ref.write_safetensors(str(d2 / "all.safetensors"), changed)
    assert run("hash", d2, "-o", b, "--leaves").returncode == 0
    r = run("compare", a, b)
    assert r.returncode == 1
    assert "MISMATCH   lm_head.weight" in r.stdout
    assert r.stdout.endswith("3 matched, 1 mismatched, 0 dtype/shape differences, 0 missing, "
                             "0 unexpected\n")
    r = run("compare", a, b, "--json")
    assert r.returncode == 1 and json.loads(r.stdout)["mismatched"][0]["name"] == "lm_head.weight"
    chunk = at // 16384
    for x, y in [(a, b), (d, d2)]:  # manifests with leaves, or the checkpoints themselves
        r = run("diff", x, y)
        assert r.returncode == 1, r.stderr
        assert "CHUNKS     lm_head.weight\n  chunk %d: bytes [%d, %d), elements [%d, %d)\n" % (
            chunk, chunk * 16384, (chunk + 1) * 16384, chunk * 8192, (chunk + 1) * 8192) in r.stdout
    assert run("diff", d, d).returncode == 0


def test_bad_input_exits_2_and_writes_nothing(checkpoint, tmp_path):
    d, _ = checkpoint
    out = tmp_path / "out.json"
    for args in [("hash", d, "--chunk-bytes", "1000", "-o", out),
                 ("hash", tmp_path / "missing.safetensors", "-o", out),
                 ("hash", d, "--nan-rule", "torch-cpu", "-o", out),
                 ("hash", d, "--mode", "exact", "--leaves", "-o", out),
                 ("hash", d, "--mode", "md5"),
                 ("hash",),
                 ("frobnicate",),
                 ("compare", tmp_path / "missing.json", tmp_path / "missing.json")]:
        r = run(*args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert not out.exists()
    r = run("hash", d, "--chunk-bytes", "1000")
    assert r.stderr.startswith("tensorhash: invalid_chunk_size: ")
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    run("hash", d, "-o", a)
    run("hash", d, "--mode", "exact", "-o", b)
    r = run("compare", a, b)
    assert r.returncode == 2 and "hashed differently" in r.stderr


CLI = os.environ.get("TENSORHASH_CLI")


@pytest.mark.skipif(not CLI, reason="set TENSORHASH_CLI to the C++ tensorhash binary")
@pytest.mark.parametrize("flags", [[], ["--mode", "exact"], ["--as", "BF16", "--leaves"],
                                   ["--chunk-bytes", "65536", "--as", "F32"]])
def test_same_output_as_the_cpp_cli(checkpoint, tmp_path, flags):
    d, _ = checkpoint
    cpp, py = tmp_path / "cpp.json", tmp_path / "py.json"
    assert subprocess.run([CLI, "hash", str(d), "-o", str(cpp), "--device", "cpu"] + flags,
                          capture_output=True).returncode == 0
    assert run("hash", d, "-o", py, *flags).returncode == 0
    assert cpp.read_bytes() == py.read_bytes()
    r_cpp = subprocess.run([CLI, "compare", str(cpp), str(py)], capture_output=True, text=True)
    r_py = run("compare", cpp, py)
    assert (r_cpp.returncode, r_cpp.stdout) == (r_py.returncode, r_py.stdout) == (
        0, "4 matched, 0 mismatched, 0 dtype/shape differences, 0 missing, 0 unexpected\n")


def test_version_help_and_plain_messages(checkpoint, tmp_path):
    d, _ = checkpoint
    r = run("--version")
    assert r.returncode == 0
    assert r.stdout.startswith("tensorhash %s (" % tensorhash.__version__)
    for verb in ("hash", "expect", "compare", "diff"):
        r = run(verb, "--help")
        assert r.returncode == 0 and "Example:\n  tensorhash " + verb in r.stdout, r.stdout
        assert "Exit codes: 0 success" in r.stdout
    config = tmp_path / "config.json"
    config.write_text('{"architectures": ["LlamaForCausalLM"], "hidden_size": 64}')
    r = run("hash", config)
    assert r.returncode == 2
    assert "config.json: not a safetensors file (its header length" in r.stderr
    r = run("hash", d, "--threads", "-1")
    assert r.returncode == 2 and "--threads must be >= 0" in r.stderr


def test_diff_lists_16_chunks_then_says_how_many_more(ref, tmp_path):
    a, b = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    ref.write_safetensors(str(a), {"wide": ("BF16", (16, 16384), bytes(16 * 16384 * 2))})
    ref.write_safetensors(str(b), {"wide": ("BF16", (16, 16384), bytes([1]) * (16 * 16384 * 2))})
    r = run("diff", a, b)
    assert r.returncode == 1 and r.stdout.count("  chunk ") == 16
    assert "  ... and 16 more chunks (--all-chunks lists them)\n" in r.stdout
    r_all = run("diff", a, b, "--all-chunks")
    assert r_all.stdout.count("  chunk ") == 32 and "... and" not in r_all.stdout
    if CLI:
        for flags in ([], ["--all-chunks"]):
            cpp = subprocess.run([CLI, "diff", str(a), str(b)] + flags, capture_output=True,
                                 text=True)
            assert cpp.stdout == run("diff", a, b, *flags).stdout


def test_outputs_never_replace_what_they_must_not(checkpoint, tmp_path):
    import stat
    d, _ = checkpoint
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    r = run("hash", d, "-o", fifo)
    assert r.returncode == 2 and "fifo: exists and is not a regular file" in r.stderr
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    shard = d / "model-00001-of-00002.safetensors"
    before = shard.read_bytes()
    r = run("hash", d, "-o", shard)
    assert r.returncode == 2 and "is one of the inputs" in r.stderr
    assert shard.read_bytes() == before
    out = tmp_path / "m.json"
    assert run("hash", d, "-o", out).returncode == 0
    os.chmod(out, 0o640)
    procs = [subprocess.Popen([sys.executable, "-m", "tensorhash", "hash", str(d), "-o", str(out)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
             for _ in range(4)]
    for p in procs:
        _, err = p.communicate()
        assert p.returncode == 0, err
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o640
    assert sorted(os.listdir(tmp_path)) == ["ckpt", "fifo", "m.json"]


def test_inputs_that_are_not_regular_files_are_refused_at_once(checkpoint, tmp_path):
    d, _ = checkpoint
    other = tmp_path / "other"
    other.mkdir()
    fifo = other / "x.safetensors"
    os.mkfifo(fifo)
    for args in [("hash", fifo), ("hash", other), ("compare", fifo, fifo),
                 ("expect", d, "--tp", 1, "--config", fifo)]:
        r = run(*args, timeout=60)
        assert r.returncode == 2 and "not a regular file" in r.stderr, (args, r.stderr)
    fifo.unlink()
    os.symlink(other / "gone", fifo)
    r = run("hash", other)
    assert r.returncode == 2 and "x.safetensors: not a regular file (a dangling link" in r.stderr
