"""Issue 25's hardening, through both command lines and the API: files truncated or replaced
while they are hashed, strict and bounded JSON, untrusted names escaped, bounded messages,
no traceback ever. With TENSORHASH_CLI set, every malformed input also goes through the C++
command line, which must give the same exit code and the same first line (past "not valid
JSON:", the two JSON parsers word the syntax error each their own way)."""

import json
import os
import struct
import subprocess
import sys
import time

import pytest

import tensorhash
from tensorhash import cli as pycli

CLI = os.environ.get("TENSORHASH_CLI")


def run_py(*args):
    return subprocess.run([sys.executable, "-m", "tensorhash"] + [str(a) for a in args],
                          capture_output=True, text=True, errors="surrogateescape")


def run_cpp(*args):
    return subprocess.run([CLI] + [str(a) for a in args], capture_output=True, text=True,
                          errors="surrogateescape")


def clis():
    return [run_py] + ([run_cpp] if CLI else [])


def first_line(r):
    line = r.stderr.split("\n", 1)[0]
    cut = line.find("not valid JSON: ")
    return line if cut < 0 or "levels" in line or "-0 is" in line or "mark" in line \
        else line[:cut + len("not valid JSON:")]


def safetensors(path, tensors):
    """tensors: {name: (dtype, shape, bytes)}, written in order."""
    header, offset = {}, 0
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": list(shape),
                        "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
    h = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for _, _, raw in tensors.values():
            f.write(raw)


def manifest_text(algorithm='"sha256"', tensors="{}", extra=""):
    return ('{"format":"tensorhash.manifest/1","algorithm":%s,%s"canonical_dtype":null,'
            '"tensors":%s,"aggregate":"%s"}' % (algorithm, extra, tensors, "0" * 64))


def good_manifest(tmp_path, mode="tree", leaves=True):
    st = tmp_path / "good.safetensors"
    safetensors(st, {"w": ("U8", (40000,), bytes(range(256)) * 156 + bytes(64))})
    out = tmp_path / "good.json"
    args = ["hash", st, "-o", out, "--mode", mode] + (["--leaves"] if leaves else [])
    assert run_py(*args).returncode == 0
    return json.loads(out.read_text())


def malformed_manifests(tmp_path):
    """(label, text or bytes) of manifests both readers must refuse alike."""
    deep = "[" * 100000 + "]" * 100000
    cases = [
        ("deep algorithm", manifest_text(algorithm=deep)),
        ("65 levels", manifest_text(algorithm="[" * 65 + "]" * 65)),
        ("deep dtype", manifest_text(tensors='{"w":{"dtype":%s,"shape":[],"digest":"%s"}}'
                                     % (deep, "0" * 64))),
        ("huge algorithm", manifest_text(algorithm='"%s"' % ("a" * 300000))),
        ("-0 in a shape", manifest_text(tensors='{"w":{"dtype":"U8","shape":[-0],"digest":"%s"}}'
                                        % ("0" * 64))),
        ("NaN", manifest_text(tensors='{"w":{"dtype":"U8","shape":[NaN],"digest":"x"}}')),
        ("Infinity", manifest_text(extra='"x":Infinity,')),
        ("1e400", manifest_text(extra='"x":1e400,')),
        ("lone surrogate", manifest_text(extra='"x":"\\ud800",')),
        ("2^64", manifest_text(tensors='{"w":{"dtype":"U8","shape":[18446744073709551616],'
                                       '"digest":"%s"}}' % ("0" * 64))),
        ("2^63", manifest_text(tensors='{"w":{"dtype":"U8","shape":[9223372036854775808],'
                                       '"digest":"%s"}}' % ("0" * 64))),
        ("2^62 x 8 bytes", manifest_text(tensors='{"w":{"dtype":"F64","shape":[4611686018427387904'
                                                 '],"digest":"%s"}}' % ("0" * 64))),
        ("duplicate", manifest_text(extra='"x":1,"x":2,')),
    ]
    text = json.dumps(good_manifest(tmp_path, leaves=False))
    cases.append(("byte-order mark", b"\xef\xbb\xbf" + text.encode()))
    m = good_manifest(tmp_path)
    few = json.loads(json.dumps(m))
    few["tensors"]["w"]["leaves"] = few["tensors"]["w"]["leaves"][:2]
    cases.append(("too few leaves", json.dumps(few)))
    wrong = json.loads(json.dumps(m))
    wrong["tensors"]["w"]["leaves"][0] = "ab" * 32
    cases.append(("leaves of another tensor", json.dumps(wrong)))
    exact = good_manifest(tmp_path, mode="exact", leaves=False)
    exact["tensors"]["w"]["leaves"] = m["tensors"]["w"]["leaves"]
    cases.append(("leaves in an exact manifest", json.dumps(exact)))
    return cases


def test_malformed_manifests_get_one_line_exit_2_alike_in_both_clis(tmp_path):
    good = tmp_path / "g.json"
    good.write_text(json.dumps(good_manifest(tmp_path)))
    for label, text in malformed_manifests(tmp_path):
        bad = tmp_path / "bad.json"
        bad.write_bytes(text if isinstance(text, bytes) else text.encode())
        lines = set()
        for run in clis():
            r = run("compare", bad, good)
            assert r.returncode == 2, (label, run.__name__, r.stderr[:300])
            assert r.stderr.count("\n") == 1 and len(r.stderr) < 2600, (label, r.stderr[:300])
            assert "Traceback" not in r.stderr
            lines.add(first_line(r))
        assert len(lines) == 1, (label, lines)


def test_messages_name_the_problem(tmp_path):
    good = tmp_path / "g.json"
    good.write_text(json.dumps(good_manifest(tmp_path)))
    expect = {
        "deep algorithm": "not valid JSON: nested deeper than 64 levels",
        "65 levels": "not valid JSON: nested deeper than 64 levels",
        "-0 in a shape": "-0 is not an integer this reader takes (write 0)",
        "huge algorithm": "more bytes)",
        "byte-order mark": "it starts with a byte-order mark (remove it)",
        "2^62 x 8 bytes": "shape holds more bytes than the 2^61-1-byte message limit",
        "too few leaves": '"w": 2 leaves, but its 40000 bytes make 3 chunks',
        "leaves of another tensor": '"w": leaves do not hash to its digest',
        "leaves in an exact manifest": '"w": leaves in a manifest that is not sha256-tree',
    }
    for label, text in malformed_manifests(tmp_path):
        if label in expect:
            bad = tmp_path / "bad.json"
            bad.write_bytes(text if isinstance(text, bytes) else text.encode())
            r = run_py("compare", bad, good)
            assert expect[label] in r.stderr, (label, r.stderr[:300])


def test_names_with_newlines_and_escapes_are_printed_escaped(tmp_path):
    name = "evil\nMISMATCH   lm_head.weight\x1b[2K\u202e"
    a, b = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    safetensors(a, {name: ("U8", (4,), b"abcd")})
    safetensors(b, {name: ("U8", (4,), b"abce")})
    ma, mb = tmp_path / "a.json", tmp_path / "b.json"
    assert run_py("hash", a, "-o", ma).returncode == run_py("hash", b, "-o", mb).returncode == 0
    outs = set()
    for run in clis():
        r = run("compare", ma, mb)
        assert r.returncode == 1
        assert r.stdout.splitlines()[0].startswith(
            "MISMATCH   evil\\nMISMATCH   lm_head.weight\\u001b[2K\\u202e  expected ")
        assert "\x1b" not in r.stdout and len(r.stdout.splitlines()) == 2
        d = run("diff", a, b)
        assert d.stdout.startswith("CHUNKS     evil\\nMISMATCH")
        outs.add((r.stdout, d.stdout))
    assert len(outs) == 1


def test_error_lines_are_escaped_and_bounded(tmp_path):
    weird = tmp_path.joinpath("x\x1b[31m", *["y" * 200] * 12)  # 2 400 bytes, no file name >255
    weird.mkdir(parents=True)
    lines = set()
    for run in clis():
        r = run("hash", weird)
        assert r.returncode == 2
        assert "\x1b" not in r.stderr and r.stderr.count("\n") == 1
        assert r.stderr.rstrip("\n").endswith("more bytes)") and len(r.stderr) < 2600
        lines.add(r.stderr)
    assert len(lines) == 1


def test_wrong_numbers_are_reported_as_given(tmp_path):
    st = tmp_path / "m.safetensors"
    safetensors(st, {"w": ("U8", (4,), b"abcd")})
    for run in clis():
        for given in ("-1", str(2 ** 64)):
            r = run("hash", st, "--chunk-bytes", given)
            assert r.returncode == 2
            assert "power of two from 1024 to 16777216, got %s\n" % given in r.stderr, r.stderr
        for given in (str(2 ** 63), str(-2 ** 63 - 1)):  # not saturated to another number
            r = run("expect", st, "--tp", given)
            assert r.returncode == 2
            assert "--tp %s is out of range (1 to 2^63-1)" % given in r.stderr, r.stderr


def test_an_unexpected_exception_is_one_line_and_exit_2(monkeypatch, capsys, tmp_path):
    def boom(args):
        raise RuntimeError("std::bad_cast")
    monkeypatch.setattr(pycli, "_run_compare", boom)
    assert pycli.main(["compare", str(tmp_path / "a"), str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert err == "tensorhash: RuntimeError: std::bad_cast\n"

    def interrupted(args):
        raise KeyboardInterrupt
    monkeypatch.setattr(pycli, "_run_compare", interrupted)
    assert pycli.main(["compare", "a", "b"]) == 130
    assert capsys.readouterr().err == "tensorhash: interrupted\n"


def test_a_file_truncated_under_its_mapping_is_reported_not_a_sigbus(tmp_path):
    from tensorhash._safetensors import SafetensorsFile
    path = tmp_path / "t.safetensors"
    safetensors(path, {"w": ("U8", (1 << 20,), b"\x01" * (1 << 20))})
    f = SafetensorsFile(str(path))
    f.check_unchanged()
    os.truncate(path, 4096)
    view = f.tensors["w"][2]
    assert sum(view[i] for i in range(0, len(view), 4096)) < 2  # zeros past the end
    with pytest.raises(tensorhash.Error, match="t.safetensors: changed while being read"):
        f.check_unchanged()
    f.close()


def test_a_file_replaced_by_rename_keeps_its_old_bytes(tmp_path):
    from tensorhash._safetensors import SafetensorsFile
    path = tmp_path / "t.safetensors"
    safetensors(path, {"w": ("U8", (8192,), b"\x01" * 8192)})
    with SafetensorsFile(str(path)) as f:
        other = tmp_path / "n.safetensors"
        safetensors(other, {"v": ("U8", (4,), b"abcd")})
        os.rename(other, path)
        f.check_unchanged()
        assert bytes(f.tensors["w"][2][:4]) == b"\x01" * 4


def wait_until_mapped(pid, path, timeout=30.0):
    """Until process `pid` has mapped `path` (its hashing is about to start)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with open("/proc/%d/maps" % pid) as f:
                if str(path) in f.read():
                    return
        except OSError:
            return
        time.sleep(0.001)


@pytest.mark.skipif(not os.path.exists("/proc/self/maps"), reason="needs Linux's /proc")
@pytest.mark.parametrize("change", ["truncate", "rewrite", "rename"])
def test_soak_files_changed_while_hashed(tmp_path, change):
    """Hashing a directory while a shard is truncated, rewritten in place or replaced by
    rename: never a signal, never a manifest mixing old and new bytes without saying so (a
    manifest is of the files before the change, or after it when it came first)."""
    size = 48 << 20
    d = tmp_path / "ckpt"
    d.mkdir()
    shard = d / "a.safetensors"
    safetensors(d / "b.safetensors", {"v": ("U8", (4096,), b"\x02" * 4096)})

    def manifest_now():
        r = run_py("hash", d, "--mode", "exact")
        return json.loads(r.stdout) if r.returncode == 0 else None

    def apply():
        if change == "truncate":
            os.truncate(shard, 1 << 20)
        elif change == "rewrite":
            with open(shard, "r+b") as f:
                f.seek(size // 2)
                f.write(b"\x03" * 4096)
        else:
            safetensors(tmp_path / "new.safetensors", {"w": ("U8", (size,), b"\x04" * size)})
            os.rename(tmp_path / "new.safetensors", shard)

    safetensors(shard, {"w": ("U8", (size,), b"\x01" * size)})
    before = manifest_now()
    apply()
    after = manifest_now()
    changed_seen = 0
    for attempt in range(4):
        for run in clis():
            safetensors(shard, {"w": ("U8", (size,), b"\x01" * size)})
            argv = ([CLI] if run is run_cpp else [sys.executable, "-m", "tensorhash"]) + \
                ["hash", str(d), "--mode", "exact", "--threads", "1"]
            p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            wait_until_mapped(p.pid, shard)
            time.sleep(0.002 * attempt)
            apply()
            out, err = p.communicate(timeout=120)
            assert p.returncode in (0, 2), (p.returncode, err[-300:])  # never a signal
            if p.returncode == 2:
                assert b"changed while being read" in err or (
                    change == "truncate" and b"past the" in err), err[-300:]
                assert change != "rename", err[-300:]
                changed_seen += b"changed while being read" in err
            else:
                assert json.loads(out) in (before, after), err[-300:]
    if change == "truncate":
        assert changed_seen > 0  # at least one truncation landed mid-hash and was reported


def mutants(seed: bytes, rng, n):
    """`n` malformed variants of `seed`: cut short, bytes flipped or set, spans duplicated."""
    out = []
    for i in range(n):
        b = bytearray(seed)
        kind = i % 4
        if kind == 0:
            b = b[:rng.randrange(len(b) + 1)]
        elif kind == 1:
            for _ in range(rng.randint(1, 3)):
                if b:
                    b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        elif kind == 2:
            if b:
                b[rng.randrange(len(b))] = rng.choice(b'"{}[],:-0eE.\\\x00\xff')
        else:
            if len(b) > 2:
                at, size = rng.randrange(len(b)), rng.randint(1, 12)
                b[at:at] = b[at:at + size]
        out.append(bytes(b))
    return out


@pytest.mark.skipif(not CLI, reason="set TENSORHASH_CLI to the C++ tensorhash binary")
def test_both_clis_agree_on_the_fuzz_corpora_and_their_mutants(tmp_path, capsys):
    """Every seed of fuzz/make_corpus.py and 250 mutants of each through `hash` (safetensors),
    `compare` (manifests, replies) or `expect --config` (HF configs): the same exit code and
    first line (or output) from both readers."""
    import random
    corpus = tmp_path / "corpus"
    here = os.path.dirname(os.path.abspath(__file__))
    subprocess.run([sys.executable, os.path.join(here, "..", "..", "fuzz", "make_corpus.py"),
                    str(corpus)], check=True)
    rng = random.Random(25)
    checked = 0
    ckpt = tmp_path / "ckpt.safetensors"  # for configs: a Qwen2-shaped model of 2 layers
    sys.path.insert(0, here)
    import test_sglang_expect as se
    hf = se.model(4, True)
    safetensors(ckpt, dict(sorted(hf.items())))
    for target, verb in (("fuzz_safetensors", "hash"), ("fuzz_manifest", "compare"),
                         ("fuzz_sglang_reply", "compare"), ("fuzz_config", "expect")):
        if verb == "expect" and not tensorhash.build_info()["sglang_replies"]:
            continue
        for seed in sorted((corpus / target).iterdir()):
            for k, data in enumerate([seed.read_bytes()] + mutants(seed.read_bytes(), rng, 250)):
                f = tmp_path / ("case.safetensors" if verb == "hash" else "case.json")
                f.write_bytes(data)
                args = [verb, str(f)] + ([str(f)] if verb == "compare" else [])
                if verb == "expect":
                    args = [verb, str(ckpt), "--tp", "2", "--config", str(f)]
                cpp = run_cpp(*args)
                rc = pycli.main(args)
                out, err = capsys.readouterr()
                py = subprocess.CompletedProcess(args, rc, out, err)
                # the output when both succeed (the timing line differs), else the first line
                what = (lambda r: r.stdout) if cpp.returncode == rc == 0 else first_line
                assert (cpp.returncode, what(cpp)) == (py.returncode, what(py)), \
                    (target, seed.name, k, data[:300])
                checked += 1
    assert checked > 2000


def test_expect_refuses_a_checkpoint_missing_a_layers_tensors(ref, tmp_path):
    """A shard left out: `expect` names the layer and the tensor, in both command lines."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import test_sglang_expect as se
    if not tensorhash.build_info()["sglang_replies"]:
        pytest.skip("built without SGLang replies (nlohmann-json)")
    tensors = se.model(3, True)
    cfg = dict(se.config(True), num_hidden_layers=se.LAYERS)
    d = tmp_path / "ckpt"
    d.mkdir()
    ref.write_safetensors(str(d / "model.safetensors"),
                          {n: t for n, t in tensors.items() if "layers.1.mlp.down_proj" not in n})
    (d / "config.json").write_text(json.dumps(cfg))
    for run in clis():
        r = run("expect", d, "--tp", 2)
        assert r.returncode == 2, r.stderr
        assert ("model.layers.1 lacks model.layers.1.mlp.down_proj.weight, which other layers "
                "have: is a shard missing?") in r.stderr
    (d / "config.json").write_text(json.dumps(dict(cfg, num_hidden_layers=3)))
    ref.write_safetensors(str(d / "model.safetensors"), tensors)
    lines = set()
    for run in clis():
        r = run("expect", d, "--tp", 2)
        assert r.returncode == 2 and "model.layers.2 has no tensors (the model has 3 layers)" \
            in r.stderr, r.stderr
        lines.add(r.stderr)
        r = run("expect", d, "--tp", 2 ** 62)
        assert r.returncode == 2 and "are not divisible by tp 4611686018427387904" in r.stderr
    assert len(lines) == 1


def test_numpy_arrays_that_are_no_tensors_say_why():
    np = pytest.importorskip("numpy")
    for a, why in [(np.zeros(4, ">f4"), "a big-endian numpy array (>f4)"),
                   (np.zeros(3, [("a", "<i4"), ("b", "<f4")]), "structured numpy array"),
                   (np.array([1, "x"], dtype=object), "Python objects"),
                   (np.zeros(2, "U3"), "numpy dtype <U3")]:
        with pytest.raises(tensorhash.Error, match="invalid_argument") as e:
            tensorhash.digest(a)
        assert why in str(e.value)


def test_hostile_arguments_raise_tensorhash_errors(tmp_path):
    """Arguments of the wrong type or range: a tensorhash.Error naming the argument, never a
    TypeError from the binding or an AttributeError from inside."""
    np = pytest.importorskip("numpy")
    probes = [
        lambda: tensorhash.digest(np.zeros(4), threads=2 ** 70),
        lambda: tensorhash.loads(5),
        lambda: tensorhash.load(5),
        lambda: tensorhash.load(None),
        lambda: tensorhash.compare(1, 2),
        lambda: tensorhash.checkpoint_manifest(5),
        lambda: tensorhash.checkpoint_manifest([None]),
        lambda: tensorhash.expected_shard_digest(
            tensorhash.Layout.vocab_parallel(2, 0, vocab_size=1000, pad_to=0),
            np.zeros((1000, 4), np.float32)),
        lambda: tensorhash.sglang_expected({"a": np.zeros(2)},
                                           {"num_attention_heads": 2, "hidden_size": 4},
                                           tp=2 ** 70),
        lambda: tensorhash.sglang_expected({"a": np.zeros(2)},
                                           {"num_attention_heads": 2 ** 63, "hidden_size": 4},
                                           tp=2),
        lambda: tensorhash.loads("[" * 100000),
    ]
    for probe in probes:
        with pytest.raises(tensorhash.Error):
            probe()


def test_ctrl_c_stops_a_huge_broadcast_within_a_second():
    """Broadcast views of 2^40 bytes (exact) and 2^37 (tree: 8 M leaves) would take minutes to
    hash: SIGINT raises KeyboardInterrupt within a tile and 100 ms, and every hashing thread
    stops (the engine is cancelled)."""
    pytest.importorskip("numpy")
    script = (
        "import os, signal, threading, time, numpy as np, tensorhash\n"
        "for mode, size in (('tree', 1 << 37), ('exact', 1 << 40)):\n"
        "    x = np.broadcast_to(np.zeros(1, np.uint8), (size,))\n"
        "    threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT)).start()\n"
        "    start = time.monotonic()\n"
        "    try:\n"
        "        tensorhash.digest(x, mode=mode, threads=2)\n"
        "    except KeyboardInterrupt:\n"
        "        print(mode, 'interrupted after %.2f s' % (time.monotonic() - start))\n")
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["tree", "exact"], r.stdout
    for line in lines:
        assert float(line.split()[3]) < 1.5, line


def test_torch_storage_replaced_mid_hash_is_hashed_as_it_was():
    """t.set_() from another thread while t is hashed: the call holds the DLPack export, which
    keeps the old storage alive; no crash, and the digest is of the bytes the call began with."""
    torch = pytest.importorskip("torch")
    import threading
    t = torch.arange(64 << 20, dtype=torch.int32).to(torch.uint8)  # 64 MiB, host
    want = tensorhash.digest(t.clone(), mode="exact")
    started = threading.Event()

    def replace():
        started.wait()
        for _ in range(50):
            t.set_(torch.zeros(16, dtype=torch.uint8))
            time.sleep(0.001)
    other = threading.Thread(target=replace)
    other.start()
    started.set()
    got = tensorhash.digest(t, mode="exact", threads=1)
    other.join()
    assert got == want


def test_symlink_loops_and_dangling_links_in_a_directory_are_named_alike(tmp_path):
    d = tmp_path / "ckpt"
    d.mkdir()
    safetensors(d / "a.safetensors", {"w": ("U8", (4,), b"abcd")})
    os.symlink("c.safetensors", d / "b.safetensors")  # b -> c -> b: a loop
    os.symlink("b.safetensors", d / "c.safetensors")
    lines = set()
    for run in clis():
        r = run("hash", d)
        assert r.returncode == 2
        assert "b.safetensors: not a regular file (a dangling link, FIFO or directory" in r.stderr
        lines.add(r.stderr)
    assert len(lines) == 1


def test_a_daemon_thread_hashing_at_interpreter_exit_does_not_abort():
    """The interpreter exits while a daemon thread hashes 2^40 bytes: its watcher is unwound
    and the hashing threads are stopped and joined (a joinable std::thread would abort)."""
    pytest.importorskip("numpy")
    script = (
        "import threading, time, numpy as np, tensorhash\n"
        "x = np.broadcast_to(np.zeros(1, np.uint8), (1 << 40,))\n"
        "threading.Thread(target=tensorhash.digest, args=(x,), kwargs={'mode': 'exact'},\n"
        "                 daemon=True).start()\n"
        "time.sleep(0.3)\n")
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, (r.returncode, r.stderr[-500:])
