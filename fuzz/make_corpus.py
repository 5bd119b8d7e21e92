#!/usr/bin/env python3
"""Writes seed corpora for the fuzz targets from the kinds of files the tests use.

    make_corpus.py OUT_DIR      (OUT_DIR/<target>/seed-*)
"""
import json
import os
import random
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
import tensorhash_ref as ref  # noqa: E402


def write(directory, name, data):
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data)


def main():
    out = sys.argv[1]
    rng = random.Random(1)
    tensors = {"w": ("BF16", (4, 8), rng.randbytes(64)), "b": ("F32", (8,), rng.randbytes(32)),
               "s": ("I64", (), rng.randbytes(8)), "e": ("F16", (0, 3), b""),
               "\u00e9": ("BOOL", (3,), b"\x01\x00\x01")}
    for i, (name, t) in enumerate([("all", tensors), ("one", {"w": tensors["w"]}), ("none", {})]):
        path = os.path.join(out, "tmp.safetensors")
        os.makedirs(out, exist_ok=True)
        ref.write_safetensors(path, t, {"format": "pt"} if i == 0 else None)
        with open(path, "rb") as f:
            write(os.path.join(out, "fuzz_safetensors"), "seed-%s" % name, f.read())
        os.remove(path)
        for mode, canon in (("tree", None), ("exact", "BF16")):
            doc = ref.manifest(t, mode=mode, canon=canon)
            write(os.path.join(out, "fuzz_manifest"), "seed-%s-%s" % (name, mode),
                  json.dumps(doc).encode())
    bucket = struct.pack("<HB", 1024, 0)
    for dtype, shape, begin, end in ((3, (4, 8), 0, 64), (1, (8,), 64, 96)):
        bucket += struct.pack("<BB", dtype, len(shape)) + b"".join(
            struct.pack("<i", d) for d in shape) + struct.pack("<II", begin, end)
    write(os.path.join(out, "fuzz_bucket"), "seed-packed", bucket)
    write(os.path.join(out, "fuzz_bucket"), "seed-aligned", bucket[:2] + b"\x01" + bucket[3:])
    # SGLang replies of a one-layer Qwen2-shaped model at TP 2, in SGLang's three forms.
    hf = {"model.embed_tokens.weight": ("BF16", (3, 4), rng.randbytes(24)),
          "model.norm.weight": ("BF16", (4,), rng.randbytes(8))}
    for m in ("q_proj", "k_proj", "v_proj", "o_proj"):
        hf["model.layers.0.self_attn.%s.weight" % m] = ("BF16", (4, 4), rng.randbytes(32))
    reply = ref.sglang_expected(hf, {"num_attention_heads": 2, "num_key_value_heads": 2,
                                     "hidden_size": 4, "tie_word_embeddings": True}, 2)
    single = dict(reply["ranks"][0], parallelism_info=reply["ranks"][0]["parallelism_info"][0])
    for name, doc in (("http", reply), ("list", reply["ranks"]), ("single", single)):
        write(os.path.join(out, "fuzz_sglang_reply"), "seed-%s" % name, json.dumps(doc).encode())
    # HF configs as `expect` reads them: Qwen2 (untied, layers given), Llama (tied, head_dim).
    for name, doc in (("qwen2", {"architectures": ["Qwen2ForCausalLM"], "hidden_size": 32,
                                 "num_attention_heads": 8, "num_key_value_heads": 2,
                                 "num_hidden_layers": 2, "tie_word_embeddings": False,
                                 "rope_theta": 1000000.0, "torch_dtype": "bfloat16"}),
                      ("llama", {"architectures": ["LlamaForCausalLM"], "head_dim": 4,
                                 "num_attention_heads": 8, "hidden_size": 32,
                                 "tie_word_embeddings": True, "rope_scaling": None})):
        write(os.path.join(out, "fuzz_config"), "seed-%s" % name, json.dumps(doc).encode())
    write(os.path.join(out, "fuzz_hex"), "seed-empty-sha", ref.exact_digest(b"").encode())
    write(os.path.join(out, "fuzz_hex"), "seed-upper", ref.exact_digest(b"x").upper().encode())


if __name__ == "__main__":
    main()
