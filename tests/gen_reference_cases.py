#!/usr/bin/env python3
"""Writes random tensor cases and conversion tables with digests from python/tensorhash_ref.py.

    gen_reference_cases.py OUT_DIR [--count N] [--seed S]

OUT_DIR/reference_cases.txt, one case a line:
    MODE CHUNK CANON DTYPE RANK SHAPE... STRIDES... OFFSET BUFFER_HEX DIGEST
    (CANON is "-" for as stored; strides and offset in elements)
OUT_DIR/layout_cases.txt, one engine shard a line:
    LAYOUT TP RANK MODE DTYPE VOCAB HEADS KV_HEADS HEAD_DIM N (ROWS COLS HEX)xN DIGEST
    (N full row-major tensors; DIGEST of the rank's shard, tree mode 1 KiB chunks or exact)
OUT_DIR/blake3_cases.txt: as reference_cases.txt, MODE "blake3" (CHUNK unused);
OUT_DIR/conversions.txt, one element a line:
    DTYPE CANON IN_HEX OUT_HEX   (little-endian bytes)
The C++ tests read both and must reproduce every digest and every converted element.
"""

import argparse
import os
import random
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
import tensorhash_ref as ref  # noqa: E402

DTYPES = list(ref.DTYPE_SIZES)
CANONS = [None, "BF16", "F32"]


def f32_specials():
    values = [0x00000000, 0x80000000, 0x00000001, 0x80000001, 0x00008000, 0x00018000,
              0x0000FFFF, 0x007FFFFF, 0x00800000, 0x3F800000, 0x3F808000, 0x3F818000,
              0x3F80FFFF, 0x3F817FFF, 0x7F7FFFFF, 0x7F7F7FFF, 0x7F7F8000, 0xFF7FFFFF,
              0x7F800000, 0xFF800000, 0x7FC00000, 0xFFC00000, 0x7F800001, 0xFF800001,
              0x7FBFFFFF, 0x7FC12345, 0xFFFFFFFF, 0x4049_0FDB]
    return values


def f64_specials():
    tiny = struct.unpack("<Q", struct.pack("<d", 2.0 ** -149))[0]
    values = [0, 1 << 63, 1, (1 << 63) | 1, 0x7FF0000000000000, 0xFFF0000000000000,
              0x7FF8000000000000, 0x7FF0000000000001, 0xFFF4000000000001, 0x7FFFFFFFFFFFFFFF,
              0x47EFFFFFE0000000, 0x47EFFFFFF0000000, 0x47EFFFFFEFFFFFFF, 0x47F0000000000000,
              0x7FEFFFFFFFFFFFFF, tiny, tiny - 1, tiny + 1, tiny - (1 << 52), tiny - (1 << 51),
              0x3810000000000000, 0x380FFFFFFFFFFFFF, 0x36A0000000000000, 0x3690000000000000,
              0x3690000000000001, 0x3FF0000010000000, 0x3FF0000030000000, 0x3FF0000010000001]
    for e in range(0x340, 0x3A0):
        values.append((e << 52) | 0x8000000000000)
        values.append((e << 52) | 0x0000000001)
    return values


def special_element(dtype, rng):
    """A float bit pattern at a rounding or range edge, as little-endian bytes."""
    size = ref.DTYPE_SIZES[dtype]
    if dtype == "F32":
        bits = rng.choice(f32_specials())
    elif dtype == "F64":
        bits = rng.choice(f64_specials())
    elif dtype in ("F16", "BF16"):
        bits = rng.choice([0x0000, 0x8000, 0x0001, 0x03FF, 0x0400, 0x7BFF, 0x7C00, 0xFC00,
                           0x7C01, 0x7E00, 0xFD55, 0x7F80, 0x7FC0, 0xFF81, 0x3C01, 0x3C03])
    else:
        bits = rng.choice([0x00, 0x80, 0x01, 0x07, 0x08, 0x7F, 0xFF, 0x7C, 0xFC, 0x7E, 0x77])
    return bits.to_bytes(size, "little")


def make_shape(kind, canon_size, chunk, rng):
    if kind == "scalar":
        return []
    if kind == "empty":
        shape = [rng.randint(0, 4) for _ in range(rng.randint(1, 4))]
        shape[rng.randrange(len(shape))] = 0
        return shape
    if kind == "ones":
        return [1] * rng.randint(1, 5)
    if kind == "boundary":
        per_chunk = chunk // canon_size
        return [rng.choice([per_chunk - 1, per_chunk, per_chunk + 1, 2 * per_chunk + 1])]
    if kind == "leaves":
        per_chunk = chunk // canon_size
        leaves = rng.randint(1, 8)
        return [(leaves - 1) * per_chunk + rng.randint(1, per_chunk)]
    return [rng.randint(1, 12) for _ in range(rng.randint(1, 4))]


def make_strides(kind, shape, rng):
    rank = len(shape)
    if kind == "contiguous" or rank == 0:
        strides, acc = [], 1
        for extent in reversed(shape):
            strides.insert(0, acc)
            acc *= max(extent, 1)
        return strides
    if kind == "transposed":
        order = list(range(rank))
        rng.shuffle(order)
        strides, acc = [0] * rank, 1
        for d in reversed(order):
            strides[d] = acc
            acc *= max(shape[d], 1)
        return strides
    if kind == "sliced":
        strides, acc = [], 1
        for extent in reversed(shape):
            step = rng.randint(1, 3)
            strides.insert(0, acc * step)
            acc *= max(extent, 1) * step + rng.randint(0, 2)
        return strides
    if kind == "broadcast":
        strides = make_strides("contiguous", shape, rng)
        for d in range(rank):
            if rng.random() < 0.5:
                strides[d] = 0
        return strides
    return [rng.randint(-20, 20) for _ in range(rank)]


def make_case(rng, modes=("exact", "tree")):
    dtype = rng.choice(DTYPES)
    canon = rng.choice(CANONS)
    mode = rng.choice(modes)
    chunk = rng.choice([1024, 1024, 2048, 4096, 16384])
    canon_size = ref.DTYPE_SIZES[ref.canonical_dtype(dtype, canon)]
    shape_kind = rng.choice(["scalar", "empty", "ones", "boundary", "boundary", "leaves",
                             "random", "random", "random"])
    shape = make_shape(shape_kind, canon_size, chunk, rng)
    layout = rng.choice(["contiguous", "transposed", "sliced", "broadcast", "random"])
    if shape_kind in ("boundary", "leaves") and layout == "random":
        layout = "sliced"
    strides = make_strides(layout, shape, rng)
    low = sum(min(0, (n - 1) * s) for n, s in zip(shape, strides) if n > 0)
    high = sum(max(0, (n - 1) * s) for n, s in zip(shape, strides) if n > 0)
    offset = -low + rng.randint(0, 3)
    elements = offset + high + 1 + rng.randint(0, 3)
    size = ref.DTYPE_SIZES[dtype]
    if dtype in ref.FLOATING and rng.random() < 0.4:
        buf = b"".join(special_element(dtype, rng) if rng.random() < 0.5
                       else rng.randbytes(size) for _ in range(elements))
    else:
        buf = rng.randbytes(elements * size)
    d = ref.digest(buf, dtype, shape, strides, offset, mode, chunk, canon)
    fields = [mode, str(chunk), canon or "-", dtype, str(len(shape))]
    fields += [str(n) for n in shape] + [str(s) for s in strides]
    fields += [str(offset), buf.hex() or "-", d]
    return " ".join(fields)


def conversion_lines(rng):
    def line(dtype, canon, bits):
        raw = bits.to_bytes(ref.DTYPE_SIZES[dtype], "little")
        return "%s %s %s %s" % (dtype, canon, raw.hex(), ref.convert_element(raw, dtype, canon).hex())

    for canon in ("BF16", "F32"):
        for bits in range(1 << 16):
            yield line("F16", canon, bits)
        for dtype in ("F8_E4M3", "F8_E5M2"):
            for bits in range(256):
                yield line(dtype, canon, bits)
        for bits in f64_specials() + [rng.getrandbits(64) for _ in range(20000)]:
            yield line("F64", canon, bits)
    for bits in range(1 << 16):
        yield line("BF16", "F32", bits)
    for bits in f32_specials() + [rng.getrandbits(32) for _ in range(20000)]:
        yield line("F32", "BF16", bits)


def layout_lines(rng):
    """Random full tensors per layout and TP size, with the digest of each rank's shard."""
    def tensor(dtype, rows, cols):
        return (dtype, (rows, cols), rng.randbytes(rows * cols * ref.DTYPE_SIZES[dtype]))

    for _ in range(12):
        dtype = rng.choice(["BF16", "F32", "F16", "I8"])
        tp = rng.choice([1, 2, 4, 8])
        mode = rng.choice(["tree", "exact"])
        cols = rng.choice([8, 24, 40])
        heads, kv, head_dim = 8, rng.choice([1, 2, 4, 8]), 4
        vocab = rng.choice([100, 128, 250])
        setups = {
            "replicated": [tensor(dtype, rng.randint(1, 9), cols)],
            "column_parallel": [tensor(dtype, 8 * rng.randint(1, 6), cols)],
            "row_parallel": [tensor(dtype, rng.randint(1, 9), 8 * rng.randint(1, 5))],
            "vocab_parallel": [tensor(dtype, vocab, cols)],
            "fused_qkv": [tensor(dtype, heads * head_dim, cols), tensor(dtype, kv * head_dim, cols),
                          tensor(dtype, kv * head_dim, cols)],
            "fused_gate_up": [tensor(dtype, 8 * 3, cols), tensor(dtype, 8 * 3, cols)],
        }
        for layout, full in setups.items():
            for rank in range(tp):
                arg = full if len(full) > 1 else full[0]
                got = ref.shard(layout, tp, rank, arg, vocab_size=vocab, pad_to=64,
                                num_heads=heads, num_kv_heads=kv, head_dim=head_dim)
                d = ref.digest(got[2], got[0], got[1], mode=mode, chunk_bytes=1024)
                fields = [layout, tp, rank, mode, dtype, vocab, heads, kv, head_dim, len(full)]
                for t in full:
                    fields += [t[1][0], t[1][1], t[2].hex()]
                yield " ".join(str(f) for f in fields + [d])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir")
    parser.add_argument("--count", type=int, default=1200)
    parser.add_argument("--seed", type=int, default=20261122)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    os.makedirs(args.out_dir, exist_ok=True)
    with open(os.path.join(args.out_dir, "reference_cases.txt"), "w") as f:
        for _ in range(args.count):
            f.write(make_case(rng) + "\n")
    with open(os.path.join(args.out_dir, "layout_cases.txt"), "w") as f:
        for text in layout_lines(rng):
            f.write(text + "\n")
    with open(os.path.join(args.out_dir, "conversions.txt"), "w") as f:
        for text in conversion_lines(rng):
            f.write(text + "\n")
    blake3_rng = random.Random(args.seed + 3)  # its own stream: the files above stay as they were
    with open(os.path.join(args.out_dir, "blake3_cases.txt"), "w") as f:
        for _ in range(args.count // 4):
            f.write(make_case(blake3_rng, ("blake3",)) + "\n")
    print("wrote %d cases (seed %d) to %s" % (args.count, args.seed, args.out_dir))


if __name__ == "__main__":
    main()
