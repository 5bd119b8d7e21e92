#!/usr/bin/env python3
"""Writes a small two-shard Llama-shaped BF16 checkpoint for the README's main job.

    make_checkpoint.py OUT_DIR

Standard library only (python/tensorhash_ref.py writes the safetensors files); the data is a
fixed pseudo-random sequence, so the manifest is the same on every machine.
"""
import os
import random
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
import tensorhash_ref as ref  # noqa: E402


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    rng = random.Random(2026)
    hidden, inter, kv, vocab, layers = 256, 688, 64, 1000, 2
    shapes = {"model.embed_tokens.weight": (vocab, hidden), "model.norm.weight": (hidden,),
              "lm_head.weight": (vocab, hidden)}
    for layer in range(layers):
        p = "model.layers.%d." % layer
        shapes.update({p + "self_attn.q_proj.weight": (hidden, hidden),
                       p + "self_attn.k_proj.weight": (kv, hidden),
                       p + "self_attn.v_proj.weight": (kv, hidden),
                       p + "self_attn.o_proj.weight": (hidden, hidden),
                       p + "mlp.gate_proj.weight": (inter, hidden),
                       p + "mlp.up_proj.weight": (inter, hidden),
                       p + "mlp.down_proj.weight": (hidden, inter),
                       p + "input_layernorm.weight": (hidden,)})
    tensors = {}
    for name, shape in shapes.items():
        n = 1
        for d in shape:
            n *= d
        tensors[name] = ("BF16", shape, rng.randbytes(2 * n))
    names = sorted(tensors)
    ref.write_safetensors(os.path.join(out, "model-00001-of-00002.safetensors"),
                          {n: tensors[n] for n in names[: len(names) // 2]})
    ref.write_safetensors(os.path.join(out, "model-00002-of-00002.safetensors"),
                          {n: tensors[n] for n in names[len(names) // 2:]})
    print("wrote %d tensors in 2 shards to %s" % (len(tensors), out))


if __name__ == "__main__":
    main()
