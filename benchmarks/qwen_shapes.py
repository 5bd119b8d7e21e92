"""The HF state-dict shapes of Qwen2.5 models (their config.json values), for the benchmarks:

    from qwen_shapes import qwen2_5_shapes
    qwen2_5_shapes("0.5B")      # {name: shape}, q/k/v biases; lm_head unless the model ties it
"""

# hidden, intermediate, layers, query heads, kv heads, head_dim, vocabulary, tied embeddings
CONFIGS = {
    "0.5B": (896, 4864, 24, 14, 2, 64, 151936, True),
    "1.5B": (1536, 8960, 28, 12, 2, 128, 151936, True),
    "7B": (3584, 18944, 28, 28, 4, 128, 152064, False),
}


def qwen2_5_shapes(size):
    hidden, inter, layers, heads, kv, head_dim, vocab, tied = CONFIGS[size]
    shapes = {"model.embed_tokens.weight": (vocab, hidden), "model.norm.weight": (hidden,)}
    if not tied:
        shapes["lm_head.weight"] = (vocab, hidden)
    for i in range(layers):
        p = "model.layers.%d." % i
        shapes.update({
            p + "self_attn.q_proj.weight": (heads * head_dim, hidden),
            p + "self_attn.q_proj.bias": (heads * head_dim,),
            p + "self_attn.k_proj.weight": (kv * head_dim, hidden),
            p + "self_attn.k_proj.bias": (kv * head_dim,),
            p + "self_attn.v_proj.weight": (kv * head_dim, hidden),
            p + "self_attn.v_proj.bias": (kv * head_dim,),
            p + "self_attn.o_proj.weight": (hidden, heads * head_dim),
            p + "mlp.gate_proj.weight": (inter, hidden),
            p + "mlp.up_proj.weight": (inter, hidden),
            p + "mlp.down_proj.weight": (hidden, inter),
            p + "input_layernorm.weight": (hidden,),
            p + "post_attention_layernorm.weight": (hidden,),
        })
    return shapes
