#!/usr/bin/env python3
"""Verify tensor-parallel engine shards against the trainer's weights with torch.distributed.

Each rank plays an inference-engine TP rank: it loads its shards of a small Qwen-shaped model
(fused qkv_proj and gate_up_proj, row-parallel o_proj/down_proj, vocab-parallel embed_tokens and
lm_head padded to a multiple of 64, replicated norms) as BF16, the way engines slice and fuse HF
weights, and hashes them. Only digests (hex strings) cross the wire (all_gather_object). Rank 0
plays the trainer: from the full F32 weights it computes, with tensorhash's layout helpers and
``as_dtype="BF16"``, the digest every rank should have, without slicing or copying anything,
and checks. Mismatches are located to a chunk from tree leaves, which only the mismatching ranks
send, for the mismatching tensors only. Per-rank and per-engine aggregates (SGLang's checksums)
are printed, and the embedding's full digest is composed from the ranks' leaves.

    torchrun --nproc-per-node 2 examples/torch_distributed/verify_tp.py [--plant RANK]
    python examples/torch_distributed/verify_tp.py --nproc 2 [--plant RANK]   # mp.spawn

gloo on the CPU; NCCL when CUDA is available (shards then live on the GPU and are hashed there
when tensorhash was built with CUDA). Exit code 0 when the outcome is the expected one: no
mismatch without --plant, exactly the planted (tensor, rank, chunk) with it; 1 otherwise.
"""

import argparse
import os
import sys

import torch
import torch.distributed as dist

import tensorhash
from tensorhash import Layout

# A small Qwen2-shaped model: grouped-query attention with biases on q/k/v, untied lm_head.
HIDDEN, INTER, LAYERS, HEADS, KV_HEADS, HEAD_DIM, VOCAB = 256, 512, 2, 8, 2, 32, 1000
PAD_TO = 64
PLANTED = "model.layers.1.mlp.gate_up_proj.weight"
PLANTED_ELEMENT = 100000


def trainer_weights():
    """The trainer's full HF-format weights (F32 master copy), identical on every rank."""
    g = torch.Generator().manual_seed(1234)
    shapes = {"model.embed_tokens.weight": (VOCAB, HIDDEN), "model.norm.weight": (HIDDEN,),
              "lm_head.weight": (VOCAB, HIDDEN)}
    for i in range(LAYERS):
        p = "model.layers.%d." % i
        shapes.update({
            p + "self_attn.q_proj.weight": (HEADS * HEAD_DIM, HIDDEN),
            p + "self_attn.q_proj.bias": (HEADS * HEAD_DIM,),
            p + "self_attn.k_proj.weight": (KV_HEADS * HEAD_DIM, HIDDEN),
            p + "self_attn.k_proj.bias": (KV_HEADS * HEAD_DIM,),
            p + "self_attn.v_proj.weight": (KV_HEADS * HEAD_DIM, HIDDEN),
            p + "self_attn.v_proj.bias": (KV_HEADS * HEAD_DIM,),
            p + "self_attn.o_proj.weight": (HIDDEN, HEADS * HEAD_DIM),
            p + "mlp.gate_proj.weight": (INTER, HIDDEN),
            p + "mlp.up_proj.weight": (INTER, HIDDEN),
            p + "mlp.down_proj.weight": (HIDDEN, INTER),
            p + "input_layernorm.weight": (HIDDEN,),
            p + "post_attention_layernorm.weight": (HIDDEN,),
        })
    return {n: torch.randn(s, generator=g) * 0.02 for n, s in shapes.items()}


def engine_plan(tp, rank):
    """Engine parameter name -> (layout for `rank`, names of the full trainer tensors)."""
    vocab = Layout.vocab_parallel(tp, rank, vocab_size=VOCAB, pad_to=PAD_TO)
    plan = {"model.embed_tokens.weight": (vocab, ["model.embed_tokens.weight"]),
            "lm_head.weight": (vocab, ["lm_head.weight"]),
            "model.norm.weight": (Layout.replicated(tp, rank), ["model.norm.weight"])}
    qkv = Layout.fused_qkv(tp, rank, num_heads=HEADS, num_kv_heads=KV_HEADS, head_dim=HEAD_DIM)
    for i in range(LAYERS):
        p = "model.layers.%d." % i
        a = p + "self_attn."
        plan.update({
            a + "qkv_proj.weight": (qkv, [a + "q_proj.weight", a + "k_proj.weight",
                                          a + "v_proj.weight"]),
            a + "qkv_proj.bias": (qkv, [a + "q_proj.bias", a + "k_proj.bias", a + "v_proj.bias"]),
            a + "o_proj.weight": (Layout.row_parallel(tp, rank), [a + "o_proj.weight"]),
            p + "mlp.gate_up_proj.weight": (Layout.fused_gate_up(tp, rank),
                                            [p + "mlp.gate_proj.weight", p + "mlp.up_proj.weight"]),
            p + "mlp.down_proj.weight": (Layout.row_parallel(tp, rank), [p + "mlp.down_proj.weight"]),
            p + "input_layernorm.weight": (Layout.replicated(tp, rank),
                                           [p + "input_layernorm.weight"]),
            p + "post_attention_layernorm.weight": (Layout.replicated(tp, rank),
                                                    [p + "post_attention_layernorm.weight"]),
        })
    return plan


def load_engine_shards(full, tp, rank, device):
    """What an engine rank holds: BF16 shards sliced and fused with plain torch ops (as weight
    loaders do), vocabulary padded with rows that hold no token (left uninitialised here)."""
    def rows(t, n_parts, r):
        n = t.shape[0] // n_parts
        return t[r * n:(r + 1) * n]

    shards = {}
    for name, (layout, sources) in engine_plan(tp, rank).items():
        parts = [full[s].to(torch.bfloat16) for s in sources]
        kind = layout.kind
        if kind == "replicated":
            shard = parts[0]
        elif kind == "row_parallel":
            n = parts[0].shape[1] // tp
            shard = parts[0][:, rank * n:(rank + 1) * n]
        elif kind == "fused_gate_up":
            shard = torch.cat([rows(parts[0], tp, rank), rows(parts[1], tp, rank)])
        elif kind == "fused_qkv":
            q, k, v = parts
            qh = HEADS // tp
            kv_first = rank * (KV_HEADS // tp) if KV_HEADS >= tp else rank // (tp // KV_HEADS)
            kv_count = KV_HEADS // tp if KV_HEADS >= tp else 1
            shard = torch.cat([q[rank * qh * HEAD_DIM:(rank + 1) * qh * HEAD_DIM],
                               k[kv_first * HEAD_DIM:(kv_first + kv_count) * HEAD_DIM],
                               v[kv_first * HEAD_DIM:(kv_first + kv_count) * HEAD_DIM]])
        elif kind == "vocab_parallel":
            per = layout.padded_vocab // tp
            shard = torch.empty((per,) + tuple(parts[0].shape[1:]), dtype=torch.bfloat16)
            real = layout.real_rows()
            start = min(rank * per, VOCAB)
            shard[:real] = parts[0][start:start + real]
        else:
            raise ValueError(kind)
        shards[name] = shard.contiguous().to(device)
    return shards


def plant_bit_flip(shards):
    flat = shards[PLANTED].view(-1).view(torch.int16)
    flat[PLANTED_ELEMENT] ^= 1 << 3
    return PLANTED_ELEMENT * 2 // tensorhash.DEFAULT_CHUNK_BYTES


def run(args, rank, world):
    use_cuda = torch.cuda.is_available()
    backend = "nccl" if use_cuda else "gloo"
    if use_cuda:
        torch.cuda.set_device(rank % torch.cuda.device_count())
    dist.init_process_group(backend, rank=rank, world_size=world)
    device = torch.device("cuda", torch.cuda.current_device()) if use_cuda else torch.device("cpu")
    on_device = use_cuda and tensorhash.build_info()["cuda"]

    full = trainer_weights()
    shards = load_engine_shards(full, world, rank, device)
    if args.plant == rank:
        chunk = plant_bit_flip(shards)
        print("[rank %d] planted a flipped bit in %s, element %d (chunk %d)"
              % (rank, PLANTED, PLANTED_ELEMENT, chunk), flush=True)
    plan = engine_plan(world, rank)

    # --- each rank: digests of what it holds (BF16 is hashed as stored under as_dtype="BF16")
    covered = {n: tensorhash.covered_part(plan[n][0], t) for n, t in shards.items()}
    hashable = covered if on_device else {n: t.cpu() for n, t in covered.items()}
    mine = tensorhash.digests(hashable, as_dtype="BF16")
    embed = covered["model.embed_tokens.weight"].cpu()
    embed_leaves = (embed.numel() * 2, tensorhash.leaves(embed, as_dtype="BF16"))
    gathered = [None] * world
    dist.all_gather_object(gathered, {"digests": mine, "embed_leaves": embed_leaves})

    # --- rank 0, the trainer: expected digests of every rank's shards from the full weights
    mismatches = []
    if rank == 0:
        items = {}
        for r in range(world):
            for name, (layout, sources) in engine_plan(world, r).items():
                items["%d|%s" % (r, name)] = (layout, [full[s] for s in sources])
        expected = tensorhash.expected_shard_digests(items, as_dtype="BF16")
        rank_expected, rank_actual = [], []
        for r in range(world):
            want = {n: expected["%d|%s" % (r, n)] for n in engine_plan(world, r)}
            got = gathered[r]["digests"]
            rank_expected.append(tensorhash.sglang_rank_aggregate(want))
            rank_actual.append(tensorhash.sglang_rank_aggregate(got))
            bad = sorted(n for n in want if got.get(n) != want[n])
            mismatches += [(r, n) for n in bad]
            print("[rank %d] %d tensors, %d mismatched; aggregate expected %s actual %s"
                  % (r, len(want), len(bad), rank_expected[-1][:16], rank_actual[-1][:16]))
        print("engine aggregate: expected %s actual %s" % (
            tensorhash.sglang_engine_aggregate(rank_expected),
            tensorhash.sglang_engine_aggregate(rank_actual)))
        composed = tensorhash.compose_tree([g["embed_leaves"] for g in gathered])
        full_embed = tensorhash.digest(full["model.embed_tokens.weight"], as_dtype="BF16")
        print("embed_tokens full digest composed from %d ranks' leaves: %s (%s)" % (
            world, composed[:16], "matches" if composed == full_embed else "DIFFERS"))
        if composed != full_embed:
            mismatches.append((-1, "model.embed_tokens.weight (composed)"))

    # --- locate: only the mismatching ranks send leaves, of the mismatching tensors only
    box = [mismatches]
    dist.broadcast_object_list(box, src=0)
    mismatches = box[0]
    wanted = [n for r, n in mismatches if r == rank]
    my_leaves = {n: (covered[n].numel(), tensorhash.leaves(covered[n].cpu(), as_dtype="BF16"))
                 for n in wanted}
    all_leaves = [None] * world
    dist.all_gather_object(all_leaves, my_leaves)

    ok = True
    if rank == 0:
        located = []
        for r, name in mismatches:
            if r < 0:
                continue
            layout, sources = engine_plan(world, r)[name]
            expected_leaves = tensorhash.expected_shard_leaves(layout, [full[s] for s in sources],
                                                               as_dtype="BF16")
            numel, actual_leaves = all_leaves[r][name]
            diffs = tensorhash.diff_leaves(expected_leaves, actual_leaves,
                                           tensorhash.DEFAULT_CHUNK_BYTES, 2 * numel, 2)
            for d in diffs:
                located.append((name, r, d.chunk))
                print("MISMATCH %s on rank %d: chunk %d (BF16 elements [%d, %d))"
                      % (name, r, d.chunk, d.element_begin, d.element_end))
        if args.plant is None:
            ok = not mismatches
        else:
            want_chunk = PLANTED_ELEMENT * 2 // tensorhash.DEFAULT_CHUNK_BYTES
            ok = mismatches == [(args.plant, PLANTED)] and located == [
                (PLANTED, args.plant, want_chunk)]
        print("RESULT: %s" % ("as expected" if ok else "UNEXPECTED"))
    box = [ok]
    dist.broadcast_object_list(box, src=0)
    dist.destroy_process_group()
    return 0 if box[0] else 1


def _spawned(rank, args, world, port):
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ["MASTER_PORT"] = str(port)
    code = run(args, rank, world)
    if code:
        sys.exit(code)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plant", type=int, default=None, metavar="RANK",
                        help="flip one bit in this rank's %s shard" % PLANTED)
    parser.add_argument("--nproc", type=int, default=2,
                        help="processes to spawn when not started by torchrun (default 2)")
    args = parser.parse_args()
    world = int(os.environ.get("WORLD_SIZE", args.nproc))
    if args.plant is not None and not 0 <= args.plant < world:
        parser.error("--plant %d: there are ranks 0 to %d" % (args.plant, world - 1))
    if "RANK" in os.environ:  # torchrun
        return run(args, int(os.environ["RANK"]), world)
    import socket

    import torch.multiprocessing as mp
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    try:
        mp.spawn(_spawned, args=(args, args.nproc, port), nprocs=args.nproc, join=True)
    except mp.ProcessExitedException as e:
        return e.exit_code or 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
