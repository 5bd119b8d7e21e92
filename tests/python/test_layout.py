"""Tensor-parallel layout helpers: the expected shard digest a trainer computes from full tensors
equals the digest of the shard an engine rank holds (built by plain slicing and concatenation),
and equals python/tensorhash_ref.py's shard(); shapes that do not fit are refused."""

import numpy as np
import pytest

import tensorhash
from tensorhash import Layout

TPS = (1, 2, 4, 8)


def bf16(shape, seed):
    gen = np.random.default_rng(seed)
    return gen.integers(0, 1 << 16, shape, dtype=np.uint16)  # BF16 bit patterns (2 bytes)


def as_ref(a, dtype="BF16"):
    return (dtype, a.shape, np.ascontiguousarray(a).tobytes())


@pytest.mark.parametrize("mode,chunk", [("tree", 1024), ("exact", 16384), ("tree", 16384)])
def test_column_and_row_parallel(mode, chunk):
    w = bf16((64, 48), 1)
    for tp in TPS:
        for r in range(tp):
            rows = w[r * 64 // tp:(r + 1) * 64 // tp]
            cols = np.ascontiguousarray(w[:, r * 48 // tp:(r + 1) * 48 // tp])
            assert tensorhash.expected_shard_digest(Layout.column_parallel(tp, r), w, mode,
                                                    chunk) == tensorhash.digest(rows, mode, chunk)
            assert tensorhash.expected_shard_digest(Layout.row_parallel(tp, r), w, mode,
                                                    chunk) == tensorhash.digest(cols, mode, chunk)
    assert tensorhash.expected_shard_digest(Layout.replicated(), w) == tensorhash.digest(w)


def test_fused_qkv_with_grouped_query_attention():
    heads, kv, d, hidden = 8, 2, 4, 40
    q, k, v = bf16((heads * d, hidden), 2), bf16((kv * d, hidden), 3), bf16((kv * d, hidden), 4)
    for tp in TPS:
        for r in range(tp):
            qh = heads // tp
            kv_first = r * (kv // tp) if kv >= tp else r // (tp // kv)
            kv_count = kv // tp if kv >= tp else 1
            shard = np.concatenate([q[r * qh * d:(r + 1) * qh * d],
                                    k[kv_first * d:(kv_first + kv_count) * d],
                                    v[kv_first * d:(kv_first + kv_count) * d]])
            layout = Layout.fused_qkv(tp, r, num_heads=heads, num_kv_heads=kv, head_dim=d)
            for mode in ("tree", "exact"):
                assert tensorhash.expected_shard_digest(layout, (q, k, v), mode, 1024) == \
                    tensorhash.digest(shard, mode, 1024)
            assert tensorhash.expected_shard_leaves(layout, [q, k, v], 1024) == \
                tensorhash.leaves(shard, 1024)


def test_fused_gate_up():
    gate, up = bf16((96, 32), 5), bf16((96, 32), 6)
    for tp in TPS:
        for r in range(tp):
            n = 96 // tp
            shard = np.concatenate([gate[r * n:(r + 1) * n], up[r * n:(r + 1) * n]])
            assert tensorhash.expected_shard_digest(Layout.fused_gate_up(tp, r), [gate, up],
                                                    chunk_bytes=1024) == \
                tensorhash.digest(shard, chunk_bytes=1024)


def test_vocab_parallel_covers_real_rows_only():
    vocab, hidden = 1000, 16
    embed = bf16((vocab, hidden), 7)
    for tp in TPS:
        per = 1024 // tp
        for r in range(tp):
            real = max(0, min(per, vocab - r * per))
            start = min(r * per, vocab)
            garbage = bf16((per - real, hidden), 100 + r)
            shard = np.concatenate([embed[start:start + real], garbage])  # what the engine holds
            layout = Layout.vocab_parallel(tp, r, vocab_size=vocab, pad_to=64)
            assert layout.real_rows() == real
            covered = tensorhash.covered_part(layout, shard)
            assert covered.shape == (real, hidden)
            assert tensorhash.shard_digest(layout, shard, chunk_bytes=1024) == \
                tensorhash.expected_shard_digest(layout, embed, chunk_bytes=1024)
            with pytest.raises(tensorhash.Error):
                tensorhash.covered_part(layout, shard[:-1])


def test_matches_reference_shard(ref):
    full = {"replicated": [bf16((16, 8), 1)], "column_parallel": [bf16((16, 8), 2)],
            "row_parallel": [bf16((8, 16), 3)], "vocab_parallel": [bf16((100, 8), 4)],
            "fused_qkv": [bf16((32, 8), 5), bf16((8, 8), 6), bf16((8, 8), 7)],
            "fused_gate_up": [bf16((16, 8), 8), bf16((16, 8), 9)]}
    for kind, parts in full.items():
        for tp in (1, 2, 4):
            for r in range(tp):
                layout = Layout(kind, tp, r, vocab_size=100, pad_to=64, num_heads=8,
                                num_kv_heads=2, head_dim=4)
                ref_full = [as_ref(p) for p in parts]
                want = ref.shard(kind, tp, r, ref_full if len(parts) > 1 else ref_full[0],
                                 vocab_size=100, pad_to=64, num_heads=8, num_kv_heads=2,
                                 head_dim=4)
                for mode in ("tree", "exact"):
                    assert tensorhash.expected_shard_digest(layout, parts, mode, 1024) == \
                        ref.digest(want[2], "BF16", want[1], mode=mode, chunk_bytes=1024), \
                        (kind, tp, r, mode)


def test_batch_of_layouts_is_one_call():
    torch = pytest.importorskip("torch")
    w = torch.randn(64, 32).to(torch.bfloat16)
    q, k, v = torch.randn(32, 16), torch.randn(8, 16), torch.randn(8, 16)
    items = {"o_proj.weight": (Layout.row_parallel(2, 1), w),
             "qkv_proj.weight": (Layout.fused_qkv(2, 0, num_heads=8, num_kv_heads=2, head_dim=4),
                                 (q, k, v))}
    got = tensorhash.expected_shard_digests(items, as_dtype="BF16")
    assert list(got) == list(items)
    assert got["o_proj.weight"] == tensorhash.digest(w[:, 16:], as_dtype="BF16")
    fused = torch.cat([q[:16], k[:4], v[:4]])
    assert got["qkv_proj.weight"] == tensorhash.digest(fused, as_dtype="BF16")
    assert tensorhash.expected_shard_digests(list(items.values()), as_dtype="BF16") == \
        list(got.values())


def test_shapes_that_do_not_fit_are_refused():
    w, k = bf16((30, 20), 1), bf16((8, 20), 2)
    bad = [(Layout.column_parallel(4, 0), w), (Layout.row_parallel(3, 0), w),
           (Layout.fused_gate_up(2, 0), w),
           (Layout.fused_qkv(2, 0, num_heads=6, num_kv_heads=4, head_dim=5), (w, k, k)),
           (Layout.vocab_parallel(7, 0, vocab_size=30), w),
           (Layout.vocab_parallel(2, 0, vocab_size=31), w),
           (Layout.vocab_parallel(2, 0, vocab_size=30, pad_to=0), w)]  # was a SIGFPE
    for layout, full in bad:
        with pytest.raises(tensorhash.Error) as e:
            tensorhash.expected_shard_digest(layout, full)
        assert e.value.code == "invalid_argument", (layout, e.value)
        assert "layout" in e.value.message
    for make in (lambda: Layout.column_parallel(2, 2), lambda: Layout("diagonal", 2, 0),
                 lambda: Layout.column_parallel(0, 0), lambda: Layout("row_parallel", 2, 1.0)):
        with pytest.raises(tensorhash.Error) as e:
            make()
        assert e.value.code == "invalid_argument"
    with pytest.raises(tensorhash.Error) as e:
        tensorhash.expected_shard_digest(Layout.fused_gate_up(2, 0), w)
    assert "takes 2 full tensor(s), got 1" in e.value.message
    assert Layout.column_parallel(4, 1).for_rank(3) == Layout.column_parallel(4, 3)
