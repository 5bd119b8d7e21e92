#!/usr/bin/env python3
"""`tensorhash expect --engine sglang` and SGLang replies in `compare`/`diff`, end to end.

    sglang_expect_test.py PATH/TO/tensorhash

A small Qwen2-shaped checkpoint (q/k/v biases, untied lm_head, 8 heads, 2 kv heads, a vocabulary
that is not a multiple of 64) and a Llama-shaped one with tied embeddings. For TP 1, 2, 4 and 8
the reply `expect` writes must equal, rank by rank, the hashes of shards materialised here by
plain byte slicing and concatenation (the way SGLang's loaders copy them: fused q|k|v and
gate|up rows, o_proj/down_proj columns, vocabulary rows padded with zero rows), and the Python
reference's `sglang_expected`. Replies then go through `compare` and `diff`: a changed tensor is
named with its GPU (exit 1), inconsistent or incomparable replies exit 2.
"""
import copy
import json
import os
import random
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))
import tensorhash_ref as ref  # noqa: E402

CLI = None

HIDDEN, HEADS, KV_HEADS, HEAD_DIM, INTER, VOCAB, LAYERS = 32, 8, 2, 4, 48, 100, 2


def run(*args):
    return subprocess.run([CLI] + [str(a) for a in args], capture_output=True, text=True)


def model(rng, qwen2):
    """{HF name: (dtype, shape, raw)} of a BF16 model; Qwen2 (biases, untied) or Llama (tied)."""
    def t(*shape):
        n = 1
        for d in shape:
            n *= d
        return ("BF16", shape, rng.randbytes(2 * n))
    tensors = {"model.embed_tokens.weight": t(VOCAB, HIDDEN), "model.norm.weight": t(HIDDEN)}
    if qwen2:
        tensors["lm_head.weight"] = t(VOCAB, HIDDEN)
    for layer in range(LAYERS):
        p = "model.layers.%d." % layer
        tensors[p + "self_attn.q_proj.weight"] = t(HEADS * HEAD_DIM, HIDDEN)
        tensors[p + "self_attn.k_proj.weight"] = t(KV_HEADS * HEAD_DIM, HIDDEN)
        tensors[p + "self_attn.v_proj.weight"] = t(KV_HEADS * HEAD_DIM, HIDDEN)
        if qwen2:
            tensors[p + "self_attn.q_proj.bias"] = t(HEADS * HEAD_DIM)
            tensors[p + "self_attn.k_proj.bias"] = t(KV_HEADS * HEAD_DIM)
            tensors[p + "self_attn.v_proj.bias"] = t(KV_HEADS * HEAD_DIM)
        tensors[p + "self_attn.o_proj.weight"] = t(HIDDEN, HEADS * HEAD_DIM)
        tensors[p + "mlp.gate_proj.weight"] = t(INTER, HIDDEN)
        tensors[p + "mlp.up_proj.weight"] = t(INTER, HIDDEN)
        tensors[p + "mlp.down_proj.weight"] = t(HIDDEN, INTER)
        tensors[p + "input_layernorm.weight"] = t(HIDDEN)
        tensors[p + "post_attention_layernorm.weight"] = t(HIDDEN)
    return tensors


def config(qwen2):
    return {"architectures": ["Qwen2ForCausalLM" if qwen2 else "LlamaForCausalLM"],
            "hidden_size": HIDDEN, "num_attention_heads": HEADS, "num_key_value_heads": KV_HEADS,
            "intermediate_size": INTER, "vocab_size": VOCAB, "tie_word_embeddings": not qwen2,
            "torch_dtype": "bfloat16"}


def rows(t, begin, count):
    """Rows [begin, begin + count) of a row-major tensor's bytes."""
    row = len(t[2]) // t[1][0]
    return t[2][begin * row:(begin + count) * row]


def cols(t, begin, count):
    """Columns [begin, begin + count) of a BF16 matrix, row after row."""
    n = t[1][1]
    return b"".join(t[2][(r * n + begin) * 2:(r * n + begin + count) * 2] for r in range(t[1][0]))


def materialised(tensors, tp, rank):
    """{SGLang name: bytes} that rank `rank` of `tp` holds, by slicing (SGLang's loaders)."""
    out = {}
    q_rows = HEADS // tp * HEAD_DIM
    kv_count = KV_HEADS // tp if KV_HEADS >= tp else 1
    kv_first = rank * kv_count if KV_HEADS >= tp else rank // (tp // KV_HEADS)
    padded = -(-VOCAB // 64) * 64
    per = (padded if padded % tp == 0 else -(-VOCAB // (64 * tp)) * 64 * tp) // tp
    for name, t in tensors.items():
        base, _, param = name.rpartition(".")
        parent, _, module = base.rpartition(".")
        if module == "q_proj":
            k, v = (tensors["%s.%s.%s" % (parent, m, param)] for m in ("k_proj", "v_proj"))
            out["%s.qkv_proj.%s" % (parent, param)] = (
                rows(t, rank * q_rows, q_rows) + rows(k, kv_first * HEAD_DIM, kv_count * HEAD_DIM)
                + rows(v, kv_first * HEAD_DIM, kv_count * HEAD_DIM))
        elif module == "gate_proj":
            up = tensors["%s.up_proj.%s" % (parent, param)]
            n = INTER // tp
            out["%s.gate_up_proj.%s" % (parent, param)] = rows(t, rank * n, n) + rows(up, rank * n, n)
        elif module in ("o_proj", "down_proj"):
            n = t[1][1] // tp
            out[name] = cols(t, rank * n, n)
        elif module in ("embed_tokens", "lm_head"):
            begin, end = min(rank * per, VOCAB), min((rank + 1) * per, VOCAB)
            out[name] = rows(t, begin, end - begin) + b"\x00" * ((per - (end - begin)) * HIDDEN * 2)
        elif module not in ("k_proj", "v_proj", "up_proj"):
            out[name] = t[2]
    return out


class SglangExpectTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="tensorhash-expect-")
        cls.models = {}
        for qwen2 in (True, False):
            name = "qwen2" if qwen2 else "llama"
            path = os.path.join(cls.dir, name)
            os.makedirs(path)
            tensors = model(random.Random(11 if qwen2 else 12), qwen2)
            items = sorted(tensors.items())
            half = len(items) // 2  # a two-file sharded checkpoint
            ref.write_safetensors(os.path.join(path, "model-00001-of-00002.safetensors"),
                                  dict(items[:half]))
            ref.write_safetensors(os.path.join(path, "model-00002-of-00002.safetensors"),
                                  dict(items[half:]))
            with open(os.path.join(path, "config.json"), "w") as f:
                json.dump(config(qwen2), f)
            cls.models[name] = (path, tensors)

    def path(self, name):
        return os.path.join(self.dir, name)

    def expect(self, model_name, tp, *extra):
        out = self.path("%s-tp%d%s.json" % (model_name, tp, "".join(extra).replace("-", "")))
        r = run("expect", self.models[model_name][0], "--engine", "sglang", "--tp", tp,
                "--threads", 2, "-o", out, *extra)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(out) as f:
            return out, json.load(f)

    def test_expected_equals_materialised_shards_and_reference(self):
        for model_name in ("qwen2", "llama"):
            tensors = self.models[model_name][1]
            for tp in (1, 2, 4, 8):
                with self.subTest(model=model_name, tp=tp):
                    _, reply = self.expect(model_name, tp)
                    self.assertEqual(len(reply["ranks"]), tp)
                    per_gpu = []
                    for rank, got in enumerate(reply["ranks"]):
                        want = {n: "%016x" % ref.sglang_hash64(b)
                                for n, b in materialised(tensors, tp, rank).items()}
                        self.assertEqual(got["checksums"], want)
                        self.assertEqual(got["per_gpu_checksum"], ref.rank_aggregate(want))
                        info = got["parallelism_info"][0]
                        self.assertEqual((info["tp_rank"], info["tp_size"]), (rank, tp))
                        per_gpu.append(ref.rank_aggregate(want))
                    self.assertEqual(reply["per_engine_checksum"], ref.engine_aggregate(per_gpu))
                    self.assertEqual(
                        reply["ranks"],
                        ref.sglang_expected(tensors, config(model_name == "qwen2"), tp)["ranks"])
                    names = reply["ranks"][0]["checksums"]
                    self.assertIn("model.layers.1.self_attn.qkv_proj.weight", names)
                    self.assertIn("model.layers.1.mlp.gate_up_proj.weight", names)
                    self.assertEqual("lm_head.weight" in names, model_name == "qwen2")
                    self.assertEqual("model.layers.0.self_attn.qkv_proj.bias" in names,
                                     model_name == "qwen2")

    def test_cpu_recipe_and_canonicalisation(self):
        tensors = self.models["qwen2"][1]
        _, reply = self.expect("qwen2", 2, "--mode", "sglang-cpu", "--as", "F32")
        want = ref.sglang_expected(tensors, config(True), 2, mode="sglang-cpu", canon="F32")
        self.assertEqual(reply["ranks"], want["ranks"])
        self.assertEqual(reply["per_engine_checksum"], want["per_engine_checksum"])

    def test_compare_and_diff_replies(self):
        expected, reply = self.expect("qwen2", 4)
        same = self.path("reply-same.json")
        # As SGLang's HTTP server writes it: parallelism_info lists, other key order.
        with open(same, "w") as f:
            json.dump({"ranks": reply["ranks"], "success": True, "message": "Success.",
                       "per_engine_checksum": reply["per_engine_checksum"]}, f)
        r = run("compare", expected, same)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("4 rank(s) compared", r.stdout)

        # One tensor changed on GPU 2, as an engine with a bad shard would report it.
        bad = copy.deepcopy(reply)
        name = "model.layers.1.mlp.down_proj.weight"
        rank = bad["ranks"][2]
        rank["checksums"][name] = "%016x" % (int(rank["checksums"][name], 16) ^ 1)
        rank["per_gpu_checksum"] = ref.rank_aggregate(rank["checksums"])
        bad["per_engine_checksum"] = ref.engine_aggregate(
            [x["per_gpu_checksum"] for x in bad["ranks"]])
        changed = self.path("reply-changed.json")
        with open(changed, "w") as f:
            json.dump(bad, f)
        for verb in ("compare", "diff"):
            r = run(verb, expected, changed)
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
            self.assertIn("MISMATCH   %s  [tp 2/4]" % name, r.stdout)
            self.assertIn("PER_GPU    [tp 2/4]", r.stdout)
            self.assertIn("PER_ENGINE", r.stdout)
        r = run("compare", "--json", expected, changed)
        self.assertEqual(r.returncode, 1)
        report = json.loads(r.stdout)
        self.assertEqual(report["mismatched"][0]["name"], name)
        self.assertEqual(report["mismatched"][0]["rank"], "tp 2/4")

        # The ranks as a bare list of ChecksumInfo (no per-engine checksum) compare too.
        bare = self.path("reply-list.json")
        with open(bare, "w") as f:
            json.dump(bad["ranks"], f)
        r = run("compare", expected, bare)
        self.assertEqual(r.returncode, 1)
        self.assertNotIn("PER_ENGINE", r.stdout)

    def test_bad_replies_exit_2(self):
        expected, reply = self.expect("qwen2", 2)
        _, tp4 = self.expect("qwen2", 4)
        cases = {
            "tp-size.json": tp4,
            "per-gpu.json": dict(reply, ranks=[dict(reply["ranks"][0], per_gpu_checksum="0" * 64),
                                               reply["ranks"][1]]),
            "per-engine.json": dict(reply, per_engine_checksum="f" * 64),
            "failed.json": {"success": False, "message": "weights checker: boom"},
            "unknown-key.json": dict(reply, extra=1),
        }
        for name, doc in cases.items():
            with self.subTest(case=name):
                path = self.path(name)
                with open(path, "w") as f:
                    json.dump(doc, f)
                r = run("compare", expected, path)
                self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
                self.assertEqual(r.stdout, "")
                self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        # A tree manifest holds no SGLang checksums.
        manifest = self.path("tree.json")
        self.assertEqual(run("hash", self.models["qwen2"][0], "--device", "cpu", "-o",
                             manifest).returncode, 0)
        r = run("compare", manifest, expected)
        self.assertEqual(r.returncode, 2)
        self.assertIn("--mode sglang", r.stderr)

    def test_engine_dump_manifest_compares_with_expectation(self):
        # What a TP 1 engine holds, saved under SGLang's names and hashed with --mode sglang,
        # compares equal to the expectation: a manifest stands for one GPU.
        tensors = self.models["llama"][1]
        dump = {}
        for name, raw in materialised(tensors, 1, 0).items():
            dump[name] = ("BF16", (len(raw) // 2,), raw)
        path = self.path("engine-dump.safetensors")
        ref.write_safetensors(path, dump)
        manifest = self.path("engine-dump.json")
        r = run("hash", path, "--mode", "sglang", "-o", manifest)
        self.assertEqual(r.returncode, 0, r.stderr)
        expected, _ = self.expect("llama", 1)
        r = run("compare", expected, manifest)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_config_head_dim(self):
        # head_dim given: hidden_size is not needed; neither given nor divisible: bad input.
        path, _ = self.models["qwen2"]
        cfg = dict(config(True), head_dim=HEAD_DIM)
        del cfg["hidden_size"]
        other = self.path("config-head-dim.json")
        with open(other, "w") as f:
            json.dump(cfg, f)
        _, want = self.expect("qwen2", 2)
        r = run("expect", path, "--tp", 2, "--config", other)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["ranks"], want["ranks"])
        with open(other, "w") as f:
            json.dump(dict(config(True), hidden_size=33), f)
        r = run("expect", path, "--tp", 2, "--config", other)
        self.assertEqual(r.returncode, 2)
        self.assertIn("hidden_size 33", r.stderr)

    def test_bad_checkpoints_exit_2_without_output(self):
        path, tensors = self.models["qwen2"]
        out = self.path("never.json")
        r = run("expect", path, "--tp", 3, "-o", out)  # 8 heads do not split over 3 ranks
        self.assertEqual(r.returncode, 2)
        self.assertIn("divisible", r.stderr)
        r = run("expect", path, "--tp", 2, "--mode", "tree", "-o", out)
        self.assertEqual(r.returncode, 2)
        other = self.path("moe")
        os.makedirs(other)
        ref.write_safetensors(os.path.join(other, "m.safetensors"),
                              {"model.layers.0.mlp.experts.0.w1.weight": ("BF16", (2, 2), b"\0" * 8)})
        r = run("expect", other, "--tp", 1, "-o", out)
        self.assertEqual(r.returncode, 2)
        self.assertIn("config.json", r.stderr)
        with open(os.path.join(other, "config.json"), "w") as f:
            json.dump(dict(config(True), architectures=["MixtralForCausalLM"]), f)
        r = run("expect", other, "--tp", 1, "-o", out)
        self.assertEqual(r.returncode, 2)
        self.assertIn("MixtralForCausalLM", r.stderr)
        with open(os.path.join(other, "config.json"), "w") as f:
            json.dump(config(True), f)
        r = run("expect", other, "--tp", 1, "-o", out)
        self.assertEqual(r.returncode, 2)
        self.assertIn("experts", r.stderr)
        self.assertFalse(os.path.exists(out))


if __name__ == "__main__":
    CLI = os.path.abspath(sys.argv.pop(1))
    unittest.main()
