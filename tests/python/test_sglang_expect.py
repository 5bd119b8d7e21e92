"""SGLang's weight-checker replies: `sglang_expected` (what each TP rank of an SGLang engine
reports for a checkpoint) equal to the reference's, `compare_sglang` on replies and manifests,
and the command line's `expect` and reply-aware `compare`/`diff` — equal, when TENSORHASH_CLI
names the C++ command line, to its output byte for byte."""

import copy
import json
import os
import random
import subprocess
import sys

import numpy as np
import pytest

import tensorhash

pytestmark = pytest.mark.skipif(not tensorhash.build_info()["sglang_replies"],
                                reason="built without SGLang replies (nlohmann-json)")

HIDDEN, HEADS, KV_HEADS, HEAD_DIM, INTER, VOCAB, LAYERS = 32, 8, 2, 4, 48, 100, 2
CLI = os.environ.get("TENSORHASH_CLI")
needs_cli = pytest.mark.skipif(not CLI, reason="set TENSORHASH_CLI to the C++ tensorhash binary")


def model(seed, qwen2, dtype="F32"):
    """{HF name: (dtype, shape, raw)} of a small model: Qwen2 (q/k/v biases, untied lm_head) or
    Llama (tied embeddings); 8 heads, 2 kv heads, a vocabulary that is not a multiple of 64."""
    rng = random.Random(seed)
    size = {"F32": 4, "BF16": 2}[dtype]

    def t(*shape):
        n = 1
        for d in shape:
            n *= d
        return (dtype, shape, rng.randbytes(size * n))
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
            "intermediate_size": INTER, "vocab_size": VOCAB, "tie_word_embeddings": not qwen2}


EXPERTS, MOE_INTER = 4, 16


def moe_model(seed):
    """{HF name: (dtype, shape, raw)} of a small F32 Qwen3-MoE model: q_norm/k_norm, and in
    every layer a router and EXPERTS experts (SGLang builds no dense layer in a Qwen3-MoE)."""
    rng = random.Random(seed)

    def t(*shape):
        n = 1
        for d in shape:
            n *= d
        return ("F32", shape, rng.randbytes(4 * n))
    tensors = {n: v for n, v in model(seed, True).items() if ".mlp." not in n}
    tensors = {n: v for n, v in tensors.items() if not n.endswith("_proj.bias")}
    for layer in range(LAYERS):
        p = "model.layers.%d." % layer
        tensors[p + "self_attn.q_norm.weight"] = t(HEAD_DIM)
        tensors[p + "self_attn.k_norm.weight"] = t(HEAD_DIM)
        tensors[p + "mlp.gate.weight"] = t(EXPERTS, HIDDEN)
        for e in range(EXPERTS):
            x = p + "mlp.experts.%d." % e
            tensors[x + "gate_proj.weight"] = t(MOE_INTER, HIDDEN)
            tensors[x + "up_proj.weight"] = t(MOE_INTER, HIDDEN)
            tensors[x + "down_proj.weight"] = t(HIDDEN, MOE_INTER)
    return tensors


def moe_config():
    return {"architectures": ["Qwen3MoeForCausalLM"], "hidden_size": HIDDEN,
            "num_attention_heads": HEADS, "num_key_value_heads": KV_HEADS, "head_dim": HEAD_DIM,
            "intermediate_size": INTER, "moe_intermediate_size": MOE_INTER, "vocab_size": VOCAB,
            "num_experts": EXPERTS, "num_experts_per_tok": 2, "decoder_sparse_step": 1,
            "mlp_only_layers": [], "tie_word_embeddings": False}


def arrays(tensors):
    """The reference's F32 tensors as NumPy arrays (views of the bytes)."""
    return {n: np.frombuffer(raw, dtype=np.float32).reshape(shape)
            for n, (_, shape, raw) in tensors.items()}


@pytest.fixture(scope="module")
def qwen2():
    return model(11, True)


@pytest.fixture(scope="module")
def llama():
    return model(12, False)


@pytest.fixture(scope="module")
def qwen3_moe():
    return moe_model(13)


@pytest.fixture
def checkpoint(ref, qwen2, tmp_path):
    """The Qwen2 model as a two-file checkpoint with its config.json."""
    d = tmp_path / "qwen2"
    d.mkdir()
    items = sorted(qwen2.items())
    ref.write_safetensors(str(d / "model-00001-of-00002.safetensors"), dict(items[:10]))
    ref.write_safetensors(str(d / "model-00002-of-00002.safetensors"), dict(items[10:]))
    (d / "config.json").write_text(json.dumps(config(True)))
    return d


@pytest.fixture
def moe_checkpoint(ref, qwen3_moe, tmp_path):
    """The Qwen3-MoE model as a one-file checkpoint with its config.json."""
    d = tmp_path / "qwen3-moe"
    d.mkdir()
    ref.write_safetensors(str(d / "model.safetensors"), qwen3_moe)
    (d / "config.json").write_text(json.dumps(moe_config()))
    return d


def changed_on_rank(reply, rank, name):
    """The reply with `name` changed on GPU `rank`, its checksums recomputed as an engine would."""
    bad = copy.deepcopy(reply)
    r = bad["ranks"][rank]
    r["checksums"][name] = "%016x" % (int(r["checksums"][name], 16) ^ 1)
    r["per_gpu_checksum"] = tensorhash.sglang_rank_aggregate(r["checksums"])
    bad["per_engine_checksum"] = tensorhash.sglang_engine_aggregate(
        [x["per_gpu_checksum"] for x in bad["ranks"]])
    return bad


# ---- sglang_expected ------------------------------------------------------------------------

@pytest.mark.parametrize("tp", [1, 2, 4, 8])
def test_expected_equals_the_reference(ref, qwen2, llama, tp):
    for tensors, is_qwen2 in ((qwen2, True), (llama, False)):
        got = tensorhash.sglang_expected(arrays(tensors), config(is_qwen2), tp)
        want = ref.sglang_expected(tensors, config(is_qwen2), tp)
        assert list(got) == ["success", "message", "ranks", "per_engine_checksum"]
        assert got["success"] is True
        assert got["message"] == "expected by tensorhash: sglang-hash64, as stored, tp %d" % tp
        assert got["ranks"] == want["ranks"]
        assert got["per_engine_checksum"] == want["per_engine_checksum"]
        names = got["ranks"][0]["checksums"]
        assert "model.layers.1.self_attn.qkv_proj.weight" in names
        assert ("model.layers.0.self_attn.qkv_proj.bias" in names) == is_qwen2
        assert ("lm_head.weight" in names) == is_qwen2


def test_cpu_recipe_canonicalisation_and_config_file(ref, qwen2, tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config(True)))
    got = tensorhash.sglang_expected(arrays(qwen2), str(path), 2, mode="sglang-cpu",
                                     as_dtype="BF16", nan_rule="torch-cuda", threads=1)
    want = ref.sglang_expected(qwen2, config(True), 2, mode="sglang-cpu", canon="BF16",
                               nan_rule="torch-cuda")
    assert got["ranks"] == want["ranks"]
    assert got["message"] == ("expected by tensorhash: sha256-prefix64, as BF16, NaN rule "
                              "torch-cuda, tp 2")
    # head_dim given, kv heads defaulting to the heads
    cfg = {"num_attention_heads": HEADS, "head_dim": HEAD_DIM}
    mha = dict(qwen2)
    for layer in range(LAYERS):  # k and v with as many heads as q
        for m in ("k_proj", "v_proj"):
            for param in ("weight", "bias"):
                name = "model.layers.%d.self_attn.%s.%s" % (layer, m, param)
                mha[name] = qwen2[name.replace(m, "q_proj")]
    got = tensorhash.sglang_expected(arrays(mha), cfg, 4)
    assert got["ranks"] == ref.sglang_expected(mha, cfg, 4)["ranks"]


def test_torch_bf16_state_dict(ref):
    torch = pytest.importorskip("torch")
    tensors = model(13, True, "BF16")
    sd = {n: torch.frombuffer(bytearray(raw), dtype=torch.bfloat16).reshape(shape)
          for n, (_, shape, raw) in tensors.items()}
    sd["model.norm.weight"].requires_grad_(True)
    got = tensorhash.sglang_expected(sd, config(True), 4)
    assert got["ranks"] == ref.sglang_expected(tensors, config(True), 4)["ranks"]


@pytest.mark.parametrize("tp,ep", [(1, 1), (2, 1), (2, 2), (4, 2), (4, 4), (8, 4)])
def test_qwen3_moe_expected_per_ep_rank(ref, qwen3_moe, tp, ep):
    """Experts stacked per EP rank (w13_weight, w2_weight), the router and q/k norms replicated:
    the same reply as the reference's in both SGLang modes."""
    got = tensorhash.sglang_expected(arrays(qwen3_moe), moe_config(), tp, ep=ep)
    assert got["ranks"] == ref.sglang_expected(qwen3_moe, moe_config(), tp, ep=ep)["ranks"]
    names = got["ranks"][0]["checksums"]
    assert "model.layers.1.mlp.experts.w13_weight" in names
    assert "model.layers.1.mlp.gate.weight" in names
    assert "model.layers.0.mlp.experts.w2_weight" in names
    assert not any("gate_up_proj" in n for n in names)
    cpu = tensorhash.sglang_expected(arrays(qwen3_moe), moe_config(), tp, ep=ep,
                                     mode="sglang-cpu")
    assert cpu["ranks"] == ref.sglang_expected(qwen3_moe, moe_config(), tp, ep=ep,
                                               mode="sglang-cpu")["ranks"]


def test_ep_mismatch_is_named(qwen3_moe):
    """An engine run with another --ep differs in the experts only, and the report says so."""
    ep1 = tensorhash.sglang_expected(arrays(qwen3_moe), moe_config(), 4, ep=1)
    ep2 = tensorhash.sglang_expected(arrays(qwen3_moe), moe_config(), 4, ep=2)
    c = tensorhash.compare_sglang(ep1, ep2)
    assert not c.ok and c.mismatched
    assert {m.name.rsplit(".", 1)[-1] for m in c.mismatched} <= {"w13_weight", "w2_weight"}
    assert "only MoE expert weights (w13_weight, w2_weight) differ" in c.summary()


def test_moe_expected_refuses_what_sglang_would_not_load(qwen3_moe):
    sd = arrays(qwen3_moe)
    no_expert = {n: a for n, a in sd.items() if ".experts.3." not in n}
    for state_dict, cfg, tp, ep, code, text in [
            (sd, moe_config(), 4, 3, "invalid_argument", "ep 3 does not divide tp 4"),
            (sd, moe_config(), 8, 8, "invalid_argument", "not divisible by ep 8"),
            (sd, moe_config(), 2, 0, "invalid_argument", "ep must be an int from 1 to 2^63-1"),
            (no_expert, moe_config(), 1, 1, "invalid_argument", "experts.3"),
            (sd, dict(moe_config(), mlp_only_layers=[0]), 1, 1, "invalid_argument",
             "builds every decoder layer with experts"),
            (sd, dict(moe_config(), decoder_sparse_step=2), 1, 1, "invalid_argument",
             "decoder_sparse_step is not 1"),
            (dict(sd, **{"model.layers.0.mlp.down_proj.weight": np.zeros((HIDDEN, INTER))}),
             moe_config(), 1, 1, "invalid_argument", "is a dense MLP weight"),
            (sd, dict(moe_config(), mlp_only_layers=3), 1, 1, "parse_error",
             "mlp_only_layers is not an array"),
            (sd, {n: v for n, v in moe_config().items() if n != "num_experts"}, 1, 1,
             "parse_error", "num_experts")]:
        with pytest.raises(tensorhash.Error) as e:
            tensorhash.sglang_expected(state_dict, cfg, tp, ep=ep)
        assert e.value.code == code and text in e.value.message, e.value


def test_expected_refuses_what_sglang_would_not_load(qwen2):
    sd = arrays(qwen2)
    bad_input = [
        (dict(sd), config(True), 3, {}, "divisible"),          # 8 heads over 3 ranks
        (dict(sd), config(True), 0, {}, "tp must be an int from 1 to 2^63-1"),
        (dict(sd), config(True), True, {}, "tp must be an int from 1 to 2^63-1"),
        (dict(sd), config(True), 2, {"mode": "tree"}, "sglang-cpu"),
        (dict(sd, **{"model.layers.0.mlp.experts.0.w1.weight": np.zeros((2, 2), np.float32)}),
         config(True), 1, {}, "experts"),
        ({n: a for n, a in sd.items() if "k_proj" not in n}, config(True), 1, {}, "k_proj"),
        ({n: a for n, a in sd.items() if n != "lm_head.weight"}, config(True), 1, {},
         "lm_head.weight is missing"),
        (dict(sd), dict(config(True), architectures=["MixtralForCausalLM"]), 1, {},
         "MixtralForCausalLM"),
        (list(sd.values()), config(True), 1, {}, "mapping"),
    ]
    for state_dict, cfg, tp, kw, text in bad_input:
        with pytest.raises(tensorhash.Error) as e:
            tensorhash.sglang_expected(state_dict, cfg, tp, **kw)
        assert e.value.code == "invalid_argument", e.value
        assert text in e.value.message
    for cfg, text in [({"hidden_size": 32}, 'missing "num_attention_heads"'),
                      (dict(config(True), num_key_value_heads=0), "not a positive integer"),
                      (dict(config(True), tie_word_embeddings=1), "not a boolean"),
                      ({"num_attention_heads": 8}, 'missing "hidden_size"'),
                      ([], "not a JSON object")]:
        with pytest.raises(tensorhash.Error) as e:
            tensorhash.sglang_expected(sd, cfg, 1)
        assert e.value.code == "parse_error" and text in e.value.message
    with pytest.raises(tensorhash.Error) as e:
        tensorhash.sglang_expected(sd, "/nonexistent/config.json", 1)
    assert e.value.code == "io_error"


# ---- compare_sglang -------------------------------------------------------------------------

def test_compare_replies(qwen2, tmp_path):
    reply = tensorhash.sglang_expected(arrays(qwen2), config(True), 4)
    c = tensorhash.compare_sglang(reply, copy.deepcopy(reply))
    n = len(reply["ranks"][0]["checksums"])
    assert c.ok and c.ranks_compared == 4 and c.matched == 4 * n
    assert c.summary() == ("4 rank(s) compared: %d matched, 0 mismatched, 0 missing, "
                           "0 unexpected, 0 rank(s) unmatched\n" % (4 * n))

    name = "model.layers.1.mlp.down_proj.weight"
    bad = changed_on_rank(reply, 2, name)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    c = tensorhash.compare_sglang(reply, path)
    assert not c.ok
    e, a = reply["ranks"][2]["checksums"][name], bad["ranks"][2]["checksums"][name]
    assert c.mismatched == [tensorhash.RankMismatch("tp 2/4", name, e, a)]
    assert c.per_gpu == [tensorhash.ChecksumDifference("tp 2/4", reply["ranks"][2]
                                                       ["per_gpu_checksum"],
                                                       bad["ranks"][2]["per_gpu_checksum"])]
    assert c.per_engine == tensorhash.ChecksumDifference("", reply["per_engine_checksum"],
                                                         bad["per_engine_checksum"])
    assert "MISMATCH   %s  [tp 2/4]  expected %s  actual %s\n" % (name, e, a) in c.summary()
    j = c.to_json()
    assert list(j) == ["ok", "ranks_compared", "matched", "mismatched", "missing", "unexpected",
                       "per_gpu", "missing_ranks", "unexpected_ranks", "per_engine"]
    assert j["ok"] is False and j["mismatched"][0] == {"rank": "tp 2/4", "name": name,
                                                       "expected": e, "actual": a}

    # A list of ChecksumInfo (no per-engine checksum), missing and unexpected parameters.
    ranks = copy.deepcopy(reply["ranks"])
    r = ranks[1]
    r["checksums"]["model.extra.weight"] = r["checksums"].pop("model.norm.weight")
    r["per_gpu_checksum"] = tensorhash.sglang_rank_aggregate(r["checksums"])
    c = tensorhash.compare_sglang(reply, ranks)
    assert c.missing == [tensorhash.RankTensor("tp 1/4", "model.norm.weight")]
    assert c.unexpected == [tensorhash.RankTensor("tp 1/4", "model.extra.weight")]
    assert c.per_engine is None and len(c.per_gpu) == 1
    # One ChecksumInfo: a single GPU; the others are missing ranks.
    c = tensorhash.compare_sglang(reply, reply["ranks"][3])
    assert c.ranks_compared == 1 and c.missing_ranks == ["tp 0/4", "tp 1/4", "tp 2/4"]
    assert not c.ok


def test_manifest_stands_for_one_gpu(ref, llama):
    """A TP 1 engine's parameters hashed with mode "sglang" compare equal to the expectation."""
    engine = {n: np.frombuffer(raw, np.float32).reshape(shape) for n, (_, shape, raw)
              in ref.sglang_rank_parameters(llama, config(False), 1, 0).items()}
    expected = tensorhash.sglang_expected(arrays(llama), config(False), 1)
    m = tensorhash.manifest(engine, mode="sglang")
    assert tensorhash.compare_sglang(expected, m).ok
    assert tensorhash.compare_sglang(m, expected).ok
    with pytest.raises(tensorhash.Error) as e:
        tensorhash.compare_sglang(expected, tensorhash.manifest(engine))
    assert e.value.code == "invalid_argument" and "--mode sglang" in e.value.message
    assert e.value.message.startswith("actual: ")


def test_hf_manifest_against_an_engine_reply_says_why(llama):
    """A manifest of the HF tensors is no engine's parameters: the report says so."""
    expected = tensorhash.sglang_expected(arrays(llama), config(False), 1)
    c = tensorhash.compare_sglang(expected, tensorhash.manifest(arrays(llama), mode="sglang"))
    assert not c.ok and "qkv_proj" in {t.name.split(".")[-2] for t in c.missing}
    assert "the engine side must be the engine's own parameters" in c.summary()


def test_compare_refuses_bad_replies(qwen2):
    reply = tensorhash.sglang_expected(arrays(qwen2), config(True), 2)
    tp4 = tensorhash.sglang_expected(arrays(qwen2), config(True), 4)
    rank0 = dict(reply["ranks"][0], per_gpu_checksum="0" * 64)
    for actual, code, text in [
            (tp4, "invalid_argument", "tp 2"),
            (dict(reply, ranks=[rank0, reply["ranks"][1]]), "parse_error", "per_gpu_checksum"),
            (dict(reply, per_engine_checksum="f" * 64), "parse_error", "per_engine_checksum"),
            ({"success": False, "message": "boom"}, "invalid_argument", "boom"),
            (dict(reply, extra=1), "parse_error", 'unknown key "extra"'),
            ({"ranks": []}, "parse_error", "non-empty"),
            (dict(reply, ranks=[reply["ranks"][0]] * 2), "parse_error", "repeats GPU tp 0/2"),
            (dict(reply, ranks=[reply["ranks"][0], tp4["ranks"][1]]), "parse_error",
             "different tp/dp/pp sizes"),
            (dict(reply, success="false"), "parse_error", '"success" is not true or false'),
            (42, "invalid_argument", "int")]:
        with pytest.raises(tensorhash.Error) as e:
            tensorhash.compare_sglang(reply, actual)
        assert e.value.code == code and text in e.value.message, e.value


# ---- the command line -----------------------------------------------------------------------

def run(*args):
    return subprocess.run([sys.executable, "-m", "tensorhash"] + [str(a) for a in args],
                          capture_output=True, text=True)


def test_cli_expect_compare_diff(ref, qwen2, checkpoint, tmp_path):
    out = tmp_path / "tp4.json"
    r = run("expect", checkpoint, "--engine", "sglang", "--tp", 4, "-o", out, "--threads", 1)
    assert r.returncode == 0, r.stderr
    assert r.stdout == ""
    reply = json.loads(out.read_text())
    assert reply["ranks"] == ref.sglang_expected(qwen2, config(True), 4)["ranks"]
    assert r.stderr.startswith("4 ranks x %d parameters, expected by tensorhash: sglang-hash64, "
                               "as stored, tp 4: " % len(reply["ranks"][0]["checksums"]))
    assert r.stderr.endswith("per_engine_checksum %s, written to %s\n"
                             % (reply["per_engine_checksum"], out))
    files = sorted(str(p) for p in checkpoint.glob("*.safetensors"))
    r = run("expect", *files, "--tp", 4)  # config.json beside the first file
    assert r.returncode == 0 and r.stdout == out.read_text()

    same = tmp_path / "same.json"
    same.write_text(json.dumps({"ranks": reply["ranks"], "success": True,
                                "per_engine_checksum": reply["per_engine_checksum"]}))
    r = run("compare", out, same)
    assert r.returncode == 0 and "4 rank(s) compared" in r.stdout
    name = "model.layers.1.mlp.down_proj.weight"
    changed = tmp_path / "changed.json"
    changed.write_text(json.dumps(changed_on_rank(reply, 2, name)))
    for verb in ("compare", "diff"):
        r = run(verb, out, changed)
        assert r.returncode == 1, r.stderr
        assert "MISMATCH   %s  [tp 2/4]" % name in r.stdout
        assert "PER_GPU    [tp 2/4]" in r.stdout and "PER_ENGINE" in r.stdout
    r = run("compare", "--json", out, changed)
    assert r.returncode == 1 and json.loads(r.stdout)["mismatched"][0]["rank"] == "tp 2/4"


def test_cli_bad_input_exits_2(checkpoint, tmp_path):
    out = tmp_path / "never.json"
    for args, text in [(("--tp", 3), "divisible"), (("--tp", 0), "--tp must be at least 1"),
                       (("--tp", 1, "--mode", "tree"), "invalid choice"),
                       (("--tp", 1, "--nan-rule", "torch-cpu"),
                        "--nan-rule torch-cpu applies to --as BF16 only"),
                       (("--tp", 1, "--config", tmp_path / "none.json"), "cannot open"),
                       ((), "--tp")]:
        r = run("expect", checkpoint, "-o", out, *args)
        assert r.returncode == 2 and text in r.stderr, (args, r.stderr)
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "m.safetensors").write_bytes((checkpoint / "model-00001-of-00002.safetensors")
                                         .read_bytes())
    r = run("expect", bare, "--tp", 1, "-o", out)
    assert r.returncode == 2 and "config.json does not exist" in r.stderr
    assert not out.exists()

    reply = tmp_path / "tp2.json"
    assert run("expect", checkpoint, "--tp", 2, "-o", reply).returncode == 0
    tree = tmp_path / "tree.json"
    assert run("hash", checkpoint, "-o", tree).returncode == 0
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(dict(json.loads(reply.read_text()), per_engine_checksum="f" * 64)))
    for verb, args in [("compare", (tree, reply)), ("compare", (reply, bad)),
                       ("diff", (checkpoint, reply))]:
        r = run(verb, *args)
        assert r.returncode == 2 and r.stdout == "", (verb, r.stdout, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1
    r = run("compare", tree, reply)
    assert "--mode sglang" in r.stderr and "(the other side is an SGLang reply)" in r.stderr


@needs_cli
@pytest.mark.parametrize("flags", [["--tp", "1"], ["--tp", "4"],
                                   ["--tp", "8", "--mode", "sglang-cpu", "--as", "BF16",
                                    "--nan-rule", "torch-cpu"],
                                   ["--tp", "2", "--as", "F32"]])
def test_expect_same_as_the_cpp_cli(checkpoint, tmp_path, flags):
    cpp, py = tmp_path / "cpp.json", tmp_path / "py.json"
    r = subprocess.run([CLI, "expect", str(checkpoint), "-o", str(cpp)] + flags,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert run("expect", checkpoint, "-o", py, *flags).returncode == 0
    assert cpp.read_bytes() == py.read_bytes()
    r_cpp = subprocess.run([CLI, "expect", str(checkpoint)] + flags, capture_output=True,
                           text=True)
    assert run("expect", checkpoint, *flags).stdout == r_cpp.stdout


def test_cli_expect_ep(ref, qwen3_moe, moe_checkpoint, tmp_path):
    out = tmp_path / "ep2.json"
    r = run("expect", moe_checkpoint, "--tp", 4, "--ep", 2, "-o", out)
    assert r.returncode == 0, r.stderr
    assert ", tp 4, ep 2: " in r.stderr
    reply = json.loads(out.read_text())
    assert reply["ranks"] == ref.sglang_expected(qwen3_moe, moe_config(), 4, ep=2)["ranks"]
    for args, text in [(("--ep", 0), "--ep must be at least 1"),
                       (("--ep", 3), "ep 3 does not divide tp 4")]:
        r = run("expect", moe_checkpoint, "--tp", 4, "-o", tmp_path / "never.json", *args)
        assert r.returncode == 2 and text in r.stderr, (args, r.stderr)
    assert not (tmp_path / "never.json").exists()


@needs_cli
@pytest.mark.parametrize("flags", [["--tp", "4", "--ep", "2"],
                                   ["--tp", "2", "--ep", "2", "--mode", "sglang-cpu"],
                                   ["--tp", "4", "--ep", "3"]])
def test_expect_ep_same_as_the_cpp_cli(moe_checkpoint, flags):
    cpp = subprocess.run([CLI, "expect", str(moe_checkpoint)] + flags, capture_output=True,
                         text=True)
    py = run("expect", moe_checkpoint, *flags)
    assert (py.returncode, py.stdout, py.stderr) == (cpp.returncode, cpp.stdout, cpp.stderr)


@needs_cli
def test_compare_and_diff_same_as_the_cpp_cli(ref, llama, checkpoint, tmp_path):
    expected = tmp_path / "expected.json"
    assert run("expect", checkpoint, "--tp", 4, "-o", expected).returncode == 0
    reply = json.loads(expected.read_text())
    docs = {"changed.json": changed_on_rank(reply, 1, "model.norm.weight"),
            "list.json": changed_on_rank(reply, 3, "lm_head.weight")["ranks"],
            "one.json": reply["ranks"][2],
            "tp2.json": tensorhash.sglang_expected(arrays(model(11, True)), config(True), 2),
            "failed.json": {"success": False, "message": "weights checker: boom"},
            "dup.json": None}
    for name, doc in docs.items():
        (tmp_path / name).write_text(json.dumps(doc) if doc is not None else
                                     '{"ranks": [], "ranks": []}')
    engine = {n: np.frombuffer(raw, np.float32).reshape(shape) for n, (_, shape, raw)
              in ref.sglang_rank_parameters(llama, config(False), 1, 0).items()}
    tensorhash.save(tensorhash.manifest(engine, mode="sglang"), tmp_path / "manifest.json")
    tree = tmp_path / "tree.json"
    assert run("hash", checkpoint, "-o", tree).returncode == 0
    cases = [("compare", expected, expected), ("diff", expected, expected)]
    for name in docs:
        cases += [("compare", expected, tmp_path / name), ("diff", tmp_path / name, expected),
                  ("compare", "--json", tmp_path / name, expected)]
    cases += [("compare", expected, tmp_path / "manifest.json"),
              ("compare", "--json", tmp_path / "manifest.json", expected),
              ("compare", tree, expected), ("diff", checkpoint, expected),
              ("diff", expected, tmp_path / "missing.json")]
    for args in cases:
        r_cpp = subprocess.run([CLI] + [str(a) for a in args], capture_output=True, text=True)
        r_py = run(*args)
        assert (r_py.returncode, r_py.stdout) == (r_cpp.returncode, r_cpp.stdout), args
        assert len(r_py.stderr.splitlines()) == len(r_cpp.stderr.splitlines()), (
            args, r_py.stderr, r_cpp.stderr)
