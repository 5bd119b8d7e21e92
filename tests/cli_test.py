#!/usr/bin/env python3
"""End-to-end tests of the tensorhash command line against python/tensorhash_ref.py.

    cli_test.py PATH/TO/tensorhash

Generates safetensors files (every dtype, 0-dim, empty, unicode names, a two-file sharded
checkpoint), checks manifests equal the reference's, that a one-bit flip is reported under the
right tensor and chunk, and that malformed files exit 2 with a clear message and no manifest.
"""
import json
import os
import random
import stat
import struct
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))
import tensorhash_ref as ref  # noqa: E402

CLI = None


def run(*args):  # a timeout: a refusal that regresses into a wait (a FIFO) fails, not hangs
    return subprocess.run([CLI] + [str(a) for a in args], capture_output=True, text=True,
                          timeout=120)


def checkpoint(rng):
    tensors = {}
    for i, dtype in enumerate(ref.DTYPE_SIZES):
        rows = rng.randint(1, 40)
        cols = rng.choice([1, 7, 300, 2049])
        tensors["layers.%d.%s.weight" % (i, dtype.lower())] = (
            dtype, (rows, cols), rng.randbytes(rows * cols * ref.DTYPE_SIZES[dtype]))
    tensors["scalar.step"] = ("I64", (), rng.randbytes(8))
    tensors["empty.bias"] = ("F16", (0, 16), b"")
    tensors["\u00e9mbed.\u6f22\u5b57"] = ("BF16", (3, 5), rng.randbytes(30))
    tensors["big"] = ("BF16", (128, 1024), rng.randbytes(128 * 1024 * 2))
    return tensors


class CliTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="tensorhash-cli-")
        cls.tensors = checkpoint(random.Random(7))
        cls.file = os.path.join(cls.dir, "model.safetensors")
        ref.write_safetensors(cls.file, cls.tensors, {"format": "pt"})

    def path(self, name):
        return os.path.join(self.dir, name)

    def hash_to(self, out, *args):
        r = run("hash", *args, "-o", out, "--device", "cpu")
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(out) as f:
            return json.load(f)

    def test_manifests_equal_reference(self):
        for mode, chunk, canon, rule in [
                ("tree", 16384, None, None), ("exact", None, None, None),
                ("tree", 1024, "BF16", None), ("exact", None, "F32", None),
                ("exact", None, "BF16", "torch-cpu"), ("tree", 1024, "BF16", "torch-cuda"),
                ("sglang", None, None, None), ("sglang-cpu", None, "BF16", None)]:
            args = [self.file, "--mode", mode]
            if chunk:
                args += ["--chunk-bytes", chunk]
            if canon:
                args += ["--as", canon]
            if rule:
                args += ["--nan-rule", rule]
            with self.subTest(mode=mode, canon=canon, rule=rule):
                got = self.hash_to(self.path("m.json"), *args)
                want = ref.manifest(self.tensors, mode, chunk or 16384, canon,
                                    rule or "canonical")
                self.assertEqual(got, want)

    def test_nan_rules_change_only_tensors_with_nans_and_do_not_compare(self):
        a = self.hash_to(self.path("a.json"), self.file, "--as", "BF16")
        b = self.hash_to(self.path("b.json"), self.file, "--as", "BF16", "--nan-rule",
                         "torch-cpu")
        self.assertEqual(b["nan_rule"], "torch-cpu")
        differ = {n for n in a["tensors"] if a["tensors"][n] != b["tensors"][n]}
        self.assertIn("layers.1.f32.weight", differ)  # random F32 bits hold NaNs
        self.assertTrue(all(".f32." in n or ".f64." in n for n in differ), differ)
        r = run("compare", self.path("a.json"), self.path("b.json"))
        self.assertEqual(r.returncode, 2)  # settings that cannot be compared are bad input
        self.assertIn("hashed differently", r.stderr)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)

    def test_sharded_directory_and_stdout(self):
        shard_dir = self.path("sharded")
        os.makedirs(shard_dir, exist_ok=True)
        names = sorted(self.tensors)
        ref.write_safetensors(os.path.join(shard_dir, "model-00001-of-00002.safetensors"),
                              {n: self.tensors[n] for n in names[::2]})
        ref.write_safetensors(os.path.join(shard_dir, "model-00002-of-00002.safetensors"),
                              {n: self.tensors[n] for n in names[1::2]})
        r = run("hash", shard_dir, "--device", "cpu")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout), ref.manifest(self.tensors))
        self.assertIn("2 file(s)", r.stderr)
        # The same name in two shards is refused.
        ref.write_safetensors(os.path.join(shard_dir, "dup.safetensors"),
                              {names[0]: self.tensors[names[0]]})
        r = run("hash", shard_dir, "-o", self.path("dup.json"))
        self.assertEqual(r.returncode, 2)
        self.assertIn("duplicate_name", r.stderr)
        self.assertFalse(os.path.exists(self.path("dup.json")))

    def test_bit_flip_is_located(self):
        flipped = dict(self.tensors)
        dtype, shape, raw = flipped["big"]
        raw = bytearray(raw)
        raw[100000] ^= 0x10  # chunk 100001 // 16384 = 6 of the tree (element 50000)
        flipped["big"] = (dtype, shape, bytes(raw))
        other = self.path("flipped.safetensors")
        ref.write_safetensors(other, flipped)
        a = self.path("a.json")
        b = self.path("b.json")
        self.hash_to(a, self.file, "--leaves")
        self.hash_to(b, other, "--leaves")
        r = run("compare", a, b)
        self.assertEqual(r.returncode, 1)
        self.assertIn("MISMATCH   big", r.stdout)
        self.assertIn("1 mismatched", r.stdout)
        for args in ([a, b], [self.file, other]):
            r = run("diff", *args)
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertIn("MISMATCH   big", r.stdout)
            self.assertIn("chunk 6: bytes [98304, 114688), elements [49152, 57344)", r.stdout)
        r = run("compare", a, b, "--json")
        self.assertEqual(r.returncode, 1)
        report = json.loads(r.stdout)
        self.assertFalse(report["ok"])
        self.assertEqual([m["name"] for m in report["mismatched"]], ["big"])
        self.assertEqual(len(report["matched"]), len(self.tensors) - 1)
        self.assertEqual(run("compare", a, a).returncode, 0)
        self.assertEqual(run("diff", self.file, self.file).returncode, 0)

    def test_malformed_files_exit_2_without_output(self):
        with open(self.file, "rb") as f:
            good = f.read()
        (n,) = struct.unpack("<Q", good[:8])
        header = json.loads(good[8:8 + n])

        def with_header(h, data=b"", pad=True):
            text = json.dumps(h).encode()
            return struct.pack("<Q", len(text)) + text + data

        w = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}
        cases = {
            "truncated": (good[:5], "too short"),
            "header_too_long": (struct.pack("<Q", 100000001) + b"{}", "exceeds the limit"),
            "header_past_end": (struct.pack("<Q", 500) + b"{}", "past the end"),
            "overlap": (with_header({"w": w, "v": {"dtype": "U8", "shape": [4],
                                                   "data_offsets": [4, 8]}}, bytes(8)), "overlaps"),
            "trailing": (with_header({"w": w}, bytes(9)), "trailing bytes"),
            "unknown_dtype": (with_header({"w": dict(w, dtype="F4")}, bytes(8)), "tensor \"w\""),
            "bad_json": (struct.pack("<Q", 5) + b'{"w":', "not valid JSON"),
            "shape_overflow": (with_header({"w": dict(w, shape=[2 ** 40, 2 ** 40])}, bytes(8)),
                               "overflows"),
            "duplicate": (struct.pack("<Q", 2 * len(json.dumps({"w": w})) - 1)
                          + b"{" + json.dumps({"w": w})[1:-1].encode() + b","
                          + json.dumps({"w": w})[1:].encode() + bytes(8), "appears twice"),
            "truncated_data": (good[:len(good) - 1], "past the"),
        }
        self.assertTrue(header)
        for name, (blob, message) in cases.items():
            with self.subTest(case=name):
                path = self.path(name + ".safetensors")
                with open(path, "wb") as f:
                    f.write(blob)
                out = self.path(name + ".json")
                r = run("hash", path, "-o", out)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertIn(message, r.stderr)
                self.assertIn(path, r.stderr)
                self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
                self.assertEqual(r.stderr.count("tensorhash:"), 1, r.stderr)  # one prefix
                self.assertFalse(os.path.exists(out))

    def test_diff_lists_16_chunks_then_says_how_many_more(self):
        changed = dict(self.tensors)
        dtype, shape, raw = changed["big"]
        raw = bytearray(raw)
        for chunk in range(16):  # every one of big's 16 chunks
            raw[chunk * 16384] ^= 1
        changed["big"] = (dtype, shape, bytes(raw))
        wide = ("BF16", (16, 16384), bytes(16 * 16384 * 2))  # 32 chunks
        wide_changed = ("BF16", (16, 16384), bytes([1]) * (16 * 16384 * 2))
        a, b = self.path("many-a.safetensors"), self.path("many-b.safetensors")
        ref.write_safetensors(a, {"big": self.tensors["big"], "wide": wide})
        ref.write_safetensors(b, {"big": changed["big"], "wide": wide_changed})
        r = run("diff", a, b)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertNotIn("... and", r.stdout.split("CHUNKS     wide")[0])  # exactly 16: all shown
        self.assertIn("  ... and 16 more chunks (--all-chunks lists them)", r.stdout)  # 32 in wide
        r = run("diff", a, b, "--all-chunks")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertNotIn("... and", r.stdout)
        self.assertEqual(r.stdout.count("  chunk "), 16 + 32)

    def test_version_help_and_plain_messages(self):
        r = run("--version")
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"^tensorhash 0\.1\.\d+ \((CUDA device backend built in|CPU only)\)")
        for verb in ("hash", "expect", "compare", "diff"):
            r = run(verb, "--help")
            self.assertEqual(r.returncode, 0)
            self.assertIn("Example:\n  tensorhash " + verb, r.stdout)
            self.assertIn("Exit codes: 0 success", r.stdout)
        config = self.path("config.json")
        with open(config, "w") as f:
            json.dump({"architectures": ["LlamaForCausalLM"], "hidden_size": 64}, f)
        r = run("hash", config)
        self.assertEqual(r.returncode, 2)
        self.assertIn("config.json: not a safetensors file (its header length", r.stderr)
        r = run("expect", self.file)
        self.assertEqual(r.returncode, 2)
        self.assertIn("--tp", r.stderr)
        r = run("expect", self.file, "--tp", 1, "--config", self.path("none.json"))
        self.assertEqual(r.returncode, 2)
        self.assertIn("none.json: cannot open: No such file or directory", r.stderr)
        # inputs that are not regular files are refused at once, never waited on
        d = tempfile.mkdtemp(prefix="tensorhash-in-", dir=self.dir)
        fifo = os.path.join(d, "x.safetensors")
        os.mkfifo(fifo)
        for args, text in [(("hash", fifo), "x.safetensors: not a regular file"),
                           (("hash", d), "x.safetensors: not a regular file (a dangling link"),
                           (("compare", fifo, fifo), "not a regular file"),
                           (("expect", self.file, "--tp", 1, "--config", fifo),
                            "not a regular file")]:
            r = subprocess.run([CLI] + [str(a) for a in args], capture_output=True, text=True,
                               timeout=20)
            self.assertEqual(r.returncode, 2, args)
            self.assertIn(text, r.stderr)
        os.unlink(fifo)
        os.symlink(os.path.join(d, "gone"), fifo)
        r = run("hash", d)
        self.assertEqual(r.returncode, 2)
        self.assertIn("x.safetensors: not a regular file (a dangling link", r.stderr)

    def test_outputs_never_replace_what_they_must_not(self):
        d = tempfile.mkdtemp(prefix="tensorhash-out-", dir=self.dir)
        fifo = os.path.join(d, "fifo")
        os.mkfifo(fifo)
        r = run("hash", self.file, "-o", fifo)
        self.assertEqual(r.returncode, 2)
        self.assertIn("fifo: exists and is not a regular file", r.stderr)
        self.assertTrue(stat.S_ISFIFO(os.stat(fifo).st_mode))
        for target in (self.file, os.path.join(self.dir, ".", "model.safetensors")):
            with open(self.file, "rb") as f:
                before = f.read()
            r = run("hash", self.file, "-o", target)
            self.assertEqual(r.returncode, 2)
            self.assertIn("is one of the inputs", r.stderr)
            with open(self.file, "rb") as f:
                self.assertEqual(f.read(), before)
        # a symlink planted where the old fixed temporary name was is never followed
        out = os.path.join(d, "m.json")
        victim = os.path.join(d, "victim")
        with open(victim, "w") as f:
            f.write("keep")
        os.symlink(victim, out + ".tmp-tensorhash")
        self.hash_to(out, self.file)
        with open(victim) as f:
            self.assertEqual(f.read(), "keep")
        # an existing manifest keeps its permissions; writers racing on one -o both succeed
        os.chmod(out, 0o640)
        self.hash_to(out, self.file)
        self.assertEqual(stat.S_IMODE(os.stat(out).st_mode), 0o640)
        for _ in range(8):
            procs = [subprocess.Popen([CLI, "hash", self.file, "-o", out, "--device", "cpu"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                     for _ in range(2)]
            for p in procs:
                _, err = p.communicate()
                self.assertEqual(p.returncode, 0, err)
        self.assertEqual(sorted(os.listdir(d)), sorted(["fifo", "m.json", "m.json.tmp-tensorhash",
                                                        "victim"]))

    def test_usage_errors_exit_2(self):
        out = self.path("usage.json")
        self.assertEqual(run("hash", self.file, "--chunk-bytes", 1000, "-o", out).returncode, 2)
        self.assertFalse(os.path.exists(out))
        self.assertEqual(run("hash", self.file, "--mode", "fast").returncode, 2)
        r = run("hash", self.file, "--nan-rule", "torch-cpu", "-o", out)
        self.assertEqual(r.returncode, 2)
        self.assertIn("--nan-rule torch-cpu applies to --as BF16 only", r.stderr)
        self.assertFalse(os.path.exists(out))
        self.assertEqual(run().returncode, 2)
        self.assertEqual(run("compare", self.file, self.file).returncode, 2)
        tree_m = self.hash_to(self.path("t.json"), self.file)
        exact_m = self.hash_to(self.path("e.json"), self.file, "--mode", "exact")
        self.assertNotEqual(tree_m["algorithm"], exact_m["algorithm"])
        r = run("compare", self.path("t.json"), self.path("e.json"), "--json")
        self.assertEqual(r.returncode, 2)
        self.assertIn("sha256-tree, 16384-byte chunks, as stored vs sha256, as stored", r.stderr)
        self.assertEqual(run("hash", self.path("missing.safetensors")).returncode, 2)


if __name__ == "__main__":
    CLI = sys.argv.pop(1)
    unittest.main()
