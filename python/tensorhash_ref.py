"""Reference implementation of the tensorhash digest format (docs/format.md).

Standard library only (hashlib, struct, math): a trainer without a GPU, or without tensorhash,
reproduces every digest from this file. It is written for clarity, not speed, and on purpose
independently of the C++ code: the Merkle root uses RFC 6962's recursive split, float
conversions use `struct` where Python's C runtime does them, and rounding to BF16 compares
distances instead of adding a bias.

    from tensorhash_ref import digest
    digest(raw_bytes, "BF16", shape=(4096, 4096))                       # tree, 16 KiB chunks
    digest(raw_bytes, "F32", shape=(3, 5), mode="exact", canon="BF16")  # == hashlib of BF16 bytes
    digest(raw_bytes, "BF16", shape=(4096, 4096), mode="sglang")        # SGLang's 16 hex digits
"""

import hashlib
import json
import itertools
import math
import struct

DTYPE_SIZES = {
    "F64": 8, "F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "F8_E5M2": 1,
    "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U64": 8, "U32": 4, "U16": 2, "U8": 1, "BOOL": 1,
}
FLOATING = {"F64", "F32", "F16", "BF16", "F8_E4M3", "F8_E5M2"}
DEFAULT_CHUNK_BYTES = 16384
MIN_CHUNK_BYTES = 1 << 10
MAX_CHUNK_BYTES = 1 << 24


# ---------------------------------------------------------------------------------------------
# Canonical bytes (format.md §3)

def canonical_elements(buf, dtype, shape, strides=None, offset=0):
    """Yields the stored bytes of each element in row-major order of `shape`.

    `strides` and `offset` are in elements (None: row-major contiguous); `buf` holds the storage.
    """
    size = DTYPE_SIZES[dtype]
    shape = tuple(shape)
    if strides is None:
        strides, acc = [], 1
        for extent in reversed(shape):
            strides.insert(0, acc)
            acc *= extent
    for index in itertools.product(*(range(n) for n in shape)):
        pos = offset + sum(i * s for i, s in zip(index, strides))
        if pos < 0 or (pos + 1) * size > len(buf):
            raise ValueError("view addresses element %d outside the buffer" % pos)
        yield bytes(buf[pos * size:(pos + 1) * size])


# ---------------------------------------------------------------------------------------------
# Float conversions (format.md §4)

def _f32_bits(value):
    """F32 bits of a finite double, rounded to nearest even; overflow gives infinity."""
    try:
        return struct.unpack("<I", struct.pack("<f", value))[0]
    except OverflowError:
        return 0xFF800000 if value < 0 else 0x7F800000


def _f32_value(bits):
    return struct.unpack("<f", struct.pack("<I", bits))[0]


def f64_to_f32_bits(bits):
    sign = (bits >> 32) & 0x80000000
    if (bits >> 52) & 0x7FF == 0x7FF and bits & ((1 << 52) - 1):
        return sign | 0x7FC00000 | ((bits & ((1 << 52) - 1)) >> 29)
    return _f32_bits(struct.unpack("<d", struct.pack("<Q", bits))[0])


def f16_to_f32_bits(bits):
    sign = (bits & 0x8000) << 16
    if (bits >> 10) & 0x1F == 0x1F and bits & 0x3FF:
        return sign | 0x7FC00000 | ((bits & 0x3FF) << 13)
    return _f32_bits(struct.unpack("<e", struct.pack("<H", bits))[0])


def f8e5m2_to_f32_bits(bits):
    return f16_to_f32_bits(bits << 8)


def f8e4m3_to_f32_bits(bits):
    sign = (bits & 0x80) << 24
    exp, mant = (bits >> 3) & 0xF, bits & 0x7
    if exp == 0xF and mant == 0x7:
        return sign | 0x7FF00000
    value = math.ldexp(mant, -9) if exp == 0 else math.ldexp(8 + mant, exp - 10)
    return sign | _f32_bits(value)


def bf16_to_f32_bits(bits):
    return bits << 16


def f32_to_bf16_bits(bits, nan=0x7FC0):
    """Nearest BF16, ties to even; every NaN becomes `nan` (0x7FC0 under the canonical rule)."""
    if bits & 0x7FFFFFFF > 0x7F800000:
        return nan
    sign, magnitude = bits & 0x80000000, bits & 0x7FFFFFFF
    low = magnitude >> 16
    if magnitude == low << 16:
        return (sign >> 16) | low
    value = _f32_value(magnitude)
    below = _f32_value(low << 16)
    above = math.ldexp(1.0, 128) if low + 1 == 0x7F80 else _f32_value((low + 1) << 16)
    if value - below < above - value or (value - below == above - value and low % 2 == 0):
        chosen = low
    else:
        chosen = low + 1
    return (sign >> 16) | chosen


_TO_F32 = {
    "F64": f64_to_f32_bits, "F16": f16_to_f32_bits, "BF16": bf16_to_f32_bits,
    "F8_E4M3": f8e4m3_to_f32_bits, "F8_E5M2": f8e5m2_to_f32_bits, "F32": lambda b: b,
}


# The BF16 of a NaN, by source dtype, under each NaN rule (format.md §3.3).
NAN_RULES = {
    "canonical": lambda source: 0x7FC0,
    "torch-cpu": lambda source: 0xFFFF if source in ("F32", "F64") else 0x7FC0,
    "torch-cuda": lambda source: 0x7FFF,
}


def canonical_dtype(dtype, canon):
    """The dtype whose bytes are hashed: `canon` (None, "BF16", "F32") for floating dtypes."""
    if canon is None or dtype not in FLOATING:
        return dtype
    return canon


def convert_element(raw, dtype, canon, nan_rule="canonical"):
    """Canonical bytes of one element stored as `raw` (little-endian)."""
    target = canonical_dtype(dtype, canon)
    if target == dtype:
        return raw
    bits = int.from_bytes(raw, "little")
    f32 = _TO_F32[dtype](bits)
    if target == "F32":
        return f32.to_bytes(4, "little")
    return f32_to_bf16_bits(f32, NAN_RULES[nan_rule](dtype)).to_bytes(2, "little")


def canonical_bytes(buf, dtype, shape, strides=None, offset=0, canon=None, nan_rule="canonical"):
    """The message a tensor's digest is computed over (format.md §3–4)."""
    if dtype not in DTYPE_SIZES:
        raise ValueError("unknown dtype %r" % (dtype,))
    if canon not in (None, "BF16", "F32"):
        raise ValueError("unknown canonical dtype %r" % (canon,))
    if nan_rule not in NAN_RULES or (nan_rule != "canonical" and canon != "BF16"):
        raise ValueError("nan_rule %r: one of %s, and not canonical with canon='BF16' only"
                         % (nan_rule, sorted(NAN_RULES)))
    return b"".join(convert_element(e, dtype, canon, nan_rule)
                    for e in canonical_elements(buf, dtype, shape, strides, offset))


# ---------------------------------------------------------------------------------------------
# Modes (format.md §5)

def leaf_hash(chunk):
    return hashlib.sha256(b"\x00" + chunk).digest()


def node_hash(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def merkle_root(leaf_hashes):
    """RFC 6962 §2.1 MTH over already hashed leaves, by the recursive split."""
    n = len(leaf_hashes)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaf_hashes[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return node_hash(merkle_root(leaf_hashes[:k]), merkle_root(leaf_hashes[k:]))


def tree_digest(message, chunk_bytes=DEFAULT_CHUNK_BYTES):
    """Lowercase hex tree digest of `message` cut into `chunk_bytes` chunks."""
    if chunk_bytes < MIN_CHUNK_BYTES or chunk_bytes > MAX_CHUNK_BYTES or \
            chunk_bytes & (chunk_bytes - 1):
        raise ValueError("chunk_bytes must be a power of two from 1024 to 16777216")
    leaves = [leaf_hash(message[i:i + chunk_bytes])
              for i in range(0, len(message), chunk_bytes)]
    return merkle_root(leaves).hex()


def exact_digest(message):
    """Lowercase hex exact digest: plain SHA-256 of the message."""
    return hashlib.sha256(message).hexdigest()


# ---------------------------------------------------------------------------------------------
# BLAKE3 (format.md §4.3a), hash mode, from the paper (O'Connor, Aumasson, Neves, Wilcox-O'Hearn,
# "BLAKE3: one function, fast everywhere", 2020, §2): slow, exact, standard library only.

BLAKE3_IV = (0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A,
             0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19)
BLAKE3_PERMUTATION = (2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8)
_CHUNK_START, _CHUNK_END, _PARENT, _ROOT = 1, 2, 4, 8


def _blake3_g(v, a, b, c, d, x, y):
    def rotr(w, n):
        return ((w >> n) | (w << (32 - n))) & _M32
    v[a] = (v[a] + v[b] + x) & _M32
    v[d] = rotr(v[d] ^ v[a], 16)
    v[c] = (v[c] + v[d]) & _M32
    v[b] = rotr(v[b] ^ v[c], 12)
    v[a] = (v[a] + v[b] + y) & _M32
    v[d] = rotr(v[d] ^ v[a], 8)
    v[c] = (v[c] + v[d]) & _M32
    v[b] = rotr(v[b] ^ v[c], 7)


def blake3_compress(cv, block, counter, block_len, flags):
    """The 16 output words of compressing one 64-byte block (§2.2)."""
    m = list(struct.unpack("<16I", block.ljust(64, b"\x00")))
    v = list(cv) + list(BLAKE3_IV[:4]) + [counter & _M32, counter >> 32, block_len, flags]
    for r in range(7):
        for i, (a, b, c, d) in enumerate([(0, 4, 8, 12), (1, 5, 9, 13), (2, 6, 10, 14),
                                          (3, 7, 11, 15), (0, 5, 10, 15), (1, 6, 11, 12),
                                          (2, 7, 8, 13), (3, 4, 9, 14)]):
            _blake3_g(v, a, b, c, d, m[2 * i], m[2 * i + 1])
        if r < 6:
            m = [m[BLAKE3_PERMUTATION[i]] for i in range(16)]
    return [v[i] ^ v[i + 8] for i in range(8)] + [v[i + 8] ^ cv[i] for i in range(8)]


def _blake3_chunk_node(chunk, index):
    """(cv, last block, its length, flags) of a chunk of at most 1024 bytes: its last block is
    compressed by the caller, as a CV or as the root."""
    cv, flags = list(BLAKE3_IV), _CHUNK_START
    blocks = [chunk[i:i + 64] for i in range(0, len(chunk), 64)] or [b""]
    for block in blocks[:-1]:
        cv = blake3_compress(cv, block, index, 64, flags)[:8]
        flags = 0
    return cv, blocks[-1], index, len(blocks[-1]), flags | _CHUNK_END


def _blake3_node(message, first_chunk):
    """The node over `message` (chunks from `first_chunk`), left subtree the largest power of
    two of chunks smaller than the whole (§2.1)."""
    chunks = max(1, (len(message) + 1023) // 1024)
    if chunks == 1:
        return _blake3_chunk_node(message, first_chunk)
    left = 1
    while left * 2 < chunks:
        left *= 2
    l_node = _blake3_node(message[:1024 * left], first_chunk)
    r_node = _blake3_node(message[1024 * left:], first_chunk + left)
    block = b"".join(struct.pack("<8I", *blake3_compress(*n[:4], n[4])[:8])
                     for n in (l_node, r_node))
    return list(BLAKE3_IV), block, 0, 64, _PARENT


def blake3_digest(message, length=32):
    """Lowercase hex of the first `length` bytes of BLAKE3(message) (b3sum's output)."""
    cv, block, counter, block_len, flags = _blake3_node(message, 0)
    out = b""
    t = 0
    while len(out) < length:  # the root's output blocks, by the output counter (§2.6)
        out += struct.pack("<16I", *blake3_compress(cv, block, t, block_len, flags | _ROOT))
        t += 1
    return out[:length].hex()


BLAKE3_LEAF_BYTES = 1 << 20  # a BLAKE3 manifest leaf: an aligned subtree of 1024 chunks


def blake3_leaves(message):
    """Leaves of a BLAKE3 manifest entry (format.md §4.3a), hex: none for an empty message, the
    digest for one of at most 1 MiB, else each 1 MiB subtree's chaining value (not the root)."""
    if not message:
        return []
    if len(message) <= BLAKE3_LEAF_BYTES:
        return [blake3_digest(message)]
    out = []
    for j in range(0, len(message), BLAKE3_LEAF_BYTES):
        node = _blake3_node(message[j:j + BLAKE3_LEAF_BYTES], j // 1024)
        out.append(struct.pack("<8I", *blake3_compress(*node[:4], node[4])[:8]).hex())
    return out


def blake3_root(leaves):
    """The BLAKE3 digest from its leaves (`blake3_leaves`): aligned subtrees of equal size but
    the last, so BLAKE3's tree over them splits at the largest power of two, as RFC 6962 does."""
    if not leaves:
        return blake3_digest(b"")
    if len(leaves) == 1:
        return leaves[0]

    def cv_of(cvs):  # the chaining value of the subtree over cvs
        if len(cvs) == 1:
            return cvs[0]
        n = node(cvs)
        return struct.pack("<8I", *blake3_compress(*n[:4], n[4])[:8])

    def node(cvs):  # (cv, block, counter, block_len, flags) of the parent over cvs
        left = 1
        while left * 2 < len(cvs):
            left *= 2
        return list(BLAKE3_IV), cv_of(cvs[:left]) + cv_of(cvs[left:]), 0, 64, _PARENT

    cv, block, counter, block_len, flags = node([bytes.fromhex(x) for x in leaves])
    return struct.pack("<8I", *blake3_compress(cv, block, counter, block_len,
                                                flags | _ROOT)[:8]).hex()


def digest(buf, dtype, shape, strides=None, offset=0, mode="tree",
           chunk_bytes=DEFAULT_CHUNK_BYTES, canon=None, nan_rule="canonical"):
    """Digest of a tensor view as tensorhash computes it.

    mode "exact", "tree" and "blake3" (exact with BLAKE3) give 64 hex digits;
    "sglang" and "sglang-cpu" give the 16 hex digits
    SGLang's weight checker reports for the view on a GPU resp. on the CPU (chunk_bytes unused).
    """
    message = canonical_bytes(buf, dtype, shape, strides, offset, canon, nan_rule)
    if mode == "exact":
        return exact_digest(message)
    if mode == "tree":
        return tree_digest(message, chunk_bytes)
    if mode == "blake3":
        return blake3_digest(message)
    if mode == "sglang":
        return "%016x" % sglang_hash64(message)
    if mode == "sglang-cpu":
        return "%016x" % sglang_cpu_hash64(message)
    raise ValueError("mode must be 'exact', 'tree', 'blake3', 'sglang' or 'sglang-cpu'")


# ---------------------------------------------------------------------------------------------
# SGLang's 64-bit tensor hash (the weight checker's "checksum" action)
#
# sglang.srt.managers.mm_utils.tensor_hash(t): on a GPU, the Triton kernel of
# sglang/kernels/ops/memory/gpu_tensor_hash.py; on the CPU, the first 8 bytes of SHA-256. Both
# hash t.contiguous()'s row-major bytes; the weight checker prints the int as 16 hex digits.

SGLANG_SEED = 0x243F6A88
SGLANG_TILE_WORDS = 8192
_M32 = 0xFFFFFFFF
_M64 = 0xFFFFFFFFFFFFFFFF


def _fmix32(x):
    """MurmurHash3's 32-bit finaliser."""
    x ^= x >> 16
    x = (x * 0x85EBCA6B) & _M32
    x ^= x >> 13
    x = (x * 0xC2B2AE35) & _M32
    return x ^ (x >> 16)


def _rotl32(x, r):
    return ((x << r) | (x >> (32 - r))) & _M32


def _splitmix64_finalise(x):
    x ^= x >> 30
    x = (x * 0xBF58476D1CE4E5B9) & _M64
    x ^= x >> 27
    x = (x * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


def sglang_hash64(message):
    """SGLang's GPU tensor hash of `message`, as an int in [0, 2**64).

    The message is zero-padded to a multiple of 4 bytes and read as n little-endian 32-bit words
    w[i]. Each word is keyed by its index twice, p1 = (i*0x27D4EB2D + s1) ^ rotl32(i, 15) and
    p2 = (i*0x165667B1 + s2) ^ rotl32(i, 13), then mixed: k = fmix32(w[i] ^ p); all mod 2**32.
    Tiles of 8192 words sum their k1 and k2 mod 2**32; each sum is XORed with the padded length
    of the WHOLE message, 4*n mod 2**32 (the same for every tile), and finalised with fmix32; the
    tile value is h1 << 32 | h2. The tile values are summed mod 2**64 and the sum finalised with
    splitmix64's mixer. An empty message gives 0. The keys are s1 = seed and
    s2 = (seed * 0x9E3779B1) ^ 0xDEADBEEF mod 2**32, with SGLang's default seed 0x243F6A88.

    SGLang's kernel indexes words with 32-bit signed ints, so it is defined only up to 2**31
    words (8 GiB); i is taken mod 2**32 here, which below that size is what the kernel computes.
    """
    n_bytes = len(message)
    if n_bytes == 0:
        return 0
    padded = bytes(message) + b"\x00" * (-n_bytes % 4)
    n = len(padded) // 4
    words = struct.unpack("<%dI" % n, padded)
    s1 = SGLANG_SEED & _M32
    s2 = ((SGLANG_SEED * 0x9E3779B1) ^ 0xDEADBEEF) & _M32
    length = (4 * n) & _M32
    total = 0
    for start in range(0, n, SGLANG_TILE_WORDS):
        h1 = h2 = 0
        for i in range(start, min(start + SGLANG_TILE_WORDS, n)):
            w, iu = words[i], i & _M32
            p1 = ((iu * 0x27D4EB2D + s1) & _M32) ^ _rotl32(iu, 15)
            p2 = ((iu * 0x165667B1 + s2) & _M32) ^ _rotl32(iu, 13)
            h1 += _fmix32(w ^ p1)
            h2 += _fmix32(w ^ p2)
        h1 = _fmix32((h1 & _M32) ^ length)
        h2 = _fmix32((h2 & _M32) ^ length)
        total = (total + ((h1 << 32) | h2)) & _M64
    return _splitmix64_finalise(total)


def sglang_cpu_hash64(message):
    """SGLang's CPU tensor hash: the first 8 bytes of SHA-256(message) as a big-endian int."""
    return int.from_bytes(hashlib.sha256(message).digest()[:8], "big")


# ---------------------------------------------------------------------------------------------
# safetensors files, manifests and aggregates (docs/format.md §6–7)

def write_safetensors(path, tensors, metadata=None):
    """Writes {name: (dtype, shape, raw_bytes)} as a safetensors file, tensors in name order."""
    header, offset, blobs = {}, 0, []
    if metadata:
        header["__metadata__"] = metadata
    for name in sorted(tensors):
        dtype, shape, raw = tensors[name]
        header[name] = {"dtype": dtype, "shape": list(shape),
                        "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        blobs.append(raw)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def read_safetensors(path):
    """{name: (dtype, shape, raw_bytes)} of a (trusted) safetensors file."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    header.pop("__metadata__", None)
    base = 8 + n
    return {name: (info["dtype"], tuple(info["shape"]),
                   data[base + info["data_offsets"][0]:base + info["data_offsets"][1]])
            for name, info in header.items()}


def rank_aggregate(digests):
    """SGLang's per-rank checksum: SHA-256 over name then hex digest, names in code-point order."""
    h = hashlib.sha256()
    for name in sorted(digests):
        h.update(name.encode("utf-8"))
        h.update(digests[name].encode("ascii"))
    return h.hexdigest()


def engine_aggregate(rank_hexes):
    """SGLang's per-engine checksum: SHA-256 over the per-rank hex digests in rank order."""
    return hashlib.sha256("".join(rank_hexes).encode("ascii")).hexdigest()


def manifest(tensors, mode="tree", chunk_bytes=DEFAULT_CHUNK_BYTES, canon=None,
             nan_rule="canonical", leaves=False):
    """The manifest document of {name: (dtype, shape, raw_bytes)} (contiguous tensors); with
    `leaves` (tree, blake3) each tensor's leaves too (format.md §4.2, §4.3a)."""
    algorithms = {"exact": "sha256", "tree": "sha256-tree", "blake3": "blake3",
                  "sglang": "sglang-hash64", "sglang-cpu": "sha256-prefix64"}
    if mode not in algorithms:
        raise ValueError("mode must be 'exact', 'tree', 'blake3', 'sglang' or 'sglang-cpu'")
    if leaves and mode not in ("tree", "blake3"):
        raise ValueError("leaves exist in mode 'tree' and 'blake3' only")
    doc = {"format": "tensorhash.manifest/1", "algorithm": algorithms[mode]}
    if mode == "tree":
        doc["chunk_bytes"] = chunk_bytes
    doc["canonical_dtype"] = canon
    if nan_rule != "canonical":
        doc["nan_rule"] = nan_rule
    entries = {}
    for name in sorted(tensors):
        dtype, shape, raw = tensors[name]
        if leaves:  # the digest from the leaves: each byte hashed once (pure Python is slow)
            message = canonical_bytes(raw, dtype, shape, None, 0, canon, nan_rule)
            hexes = blake3_leaves(message) if mode == "blake3" else [
                leaf_hash(message[i:i + chunk_bytes]).hex()
                for i in range(0, len(message), chunk_bytes)]
            root = blake3_root(hexes) if mode == "blake3" else tree_digest(message, chunk_bytes)
            entries[name] = {"dtype": dtype, "shape": list(shape), "digest": root}
            if hexes:
                entries[name]["leaves"] = hexes
            continue
        entries[name] = {"dtype": dtype, "shape": list(shape),
                         "digest": digest(raw, dtype, shape, mode=mode, chunk_bytes=chunk_bytes,
                                          canon=canon, nan_rule=nan_rule)}
    doc["tensors"] = entries
    doc["aggregate"] = rank_aggregate({n: e["digest"] for n, e in entries.items()})
    return doc


TORCH_DTYPE_NAMES = {
    "F64": "torch.float64", "F32": "torch.float32", "F16": "torch.float16",
    "BF16": "torch.bfloat16", "F8_E4M3": "torch.float8_e4m3fn", "F8_E5M2": "torch.float8_e5m2",
    "I64": "torch.int64", "I32": "torch.int32", "I16": "torch.int16", "I8": "torch.int8",
    "U64": "torch.uint64", "U32": "torch.uint32", "U16": "torch.uint16", "U8": "torch.uint8",
    "BOOL": "torch.bool",
}


def sglang_diffusion_digest(raw, dtype, shape, canon=None):
    """SHA-256(str(dtype) || repr(tuple(shape)) || canonical bytes), SGLang-diffusion's check."""
    message = canonical_bytes(raw, dtype, shape, canon=canon)
    prefix = TORCH_DTYPE_NAMES[canonical_dtype(dtype, canon)] + repr(tuple(shape))
    return hashlib.sha256(prefix.encode("ascii") + message).hexdigest()


def sglang_weights_checksum(tensors, canon=None):
    """One SHA-256 over name then canonical bytes, names in code-point order (SGLang)."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        dtype, shape, raw = tensors[name]
        h.update(name.encode("utf-8"))
        h.update(canonical_bytes(raw, dtype, shape, canon=canon))
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------
# Tensor-parallel layouts (docs/layouts.md): what an engine rank holds, from full tensors

def _rows(tensor, begin, count):
    dtype, shape, raw = tensor
    row = len(raw) // shape[0] if shape[0] else 0
    return dtype, (count,) + tuple(shape[1:]), raw[begin * row:(begin + count) * row]


def _cols(tensor, begin, count):
    dtype, shape, raw = tensor
    size = DTYPE_SIZES[dtype]
    rows, cols = shape[0], shape[1]
    inner = len(raw) // (rows * cols) if rows * cols else size
    out = b"".join(raw[(r * cols + begin) * inner:(r * cols + begin + count) * inner]
                   for r in range(rows))
    return dtype, (rows, count) + tuple(shape[2:]), out


def _cat_rows(parts):
    dtype = parts[0][0]
    return (dtype, (sum(p[1][0] for p in parts),) + tuple(parts[0][1][1:]),
            b"".join(p[2] for p in parts))


def shard(layout, tp, rank, full, vocab_size=0, pad_to=64, num_heads=0, num_kv_heads=0,
          head_dim=0):
    """(dtype, shape, raw) of the bytes rank `rank` of `tp` holds, from full row-major tensors.

    `full` is one (dtype, shape, raw) tensor, or [q, k, v] for "fused_qkv", or [gate, up] for
    "fused_gate_up". For "vocab_parallel" only the rows of real tokens are returned.
    """
    if layout == "replicated":
        return full
    if layout == "column_parallel":
        n = full[1][0] // tp
        return _rows(full, rank * n, n)
    if layout == "row_parallel":
        n = full[1][1] // tp
        return _cols(full, rank * n, n)
    if layout == "vocab_parallel":
        per = -(-vocab_size // pad_to) * pad_to // tp
        begin, end = min(rank * per, vocab_size), min((rank + 1) * per, vocab_size)
        return _rows(full, begin, end - begin)
    if layout == "fused_qkv":
        q, k, v = full
        qh = num_heads // tp
        kv_count = num_kv_heads // tp if num_kv_heads >= tp else 1
        kv_first = rank * kv_count if num_kv_heads >= tp else rank // (tp // num_kv_heads)
        return _cat_rows([_rows(q, rank * qh * head_dim, qh * head_dim),
                          _rows(k, kv_first * head_dim, kv_count * head_dim),
                          _rows(v, kv_first * head_dim, kv_count * head_dim)])
    if layout == "fused_gate_up":
        gate, up = full
        n = gate[1][0] // tp
        return _cat_rows([_rows(gate, rank * n, n), _rows(up, rank * n, n)])
    raise ValueError("unknown layout %r" % (layout,))


# ---------------------------------------------------------------------------------------------
# SGLang's weight-checker reply predicted from full HF tensors (docs/format.md §4.5)

def _sglang_vocab_rows(full, tp, rank):
    """Rank `rank`'s rows of a vocab-parallel parameter with SGLang's zero padding rows."""
    vocab = full[1][0]
    pad_to = 64 if (-(-vocab // 64) * 64) % tp == 0 else 64 * tp
    per = -(-vocab // pad_to) * pad_to // tp
    dtype, shape, raw = shard("vocab_parallel", tp, rank, full, vocab_size=vocab, pad_to=pad_to)
    row = len(full[2]) // vocab if vocab else 0
    return dtype, (per,) + tuple(shape[1:]), raw + b"\x00" * ((per - shape[0]) * row)


def _sglang_experts(tensors, prefix, experts, tp, ep, rank):
    """FusedMoE's w13_weight and w2_weight of rank `rank` (tp `tp`, ep `ep`) for the MoE layer
    whose experts are named `prefix` + "<e>.{gate,up,down}_proj.weight": the EP rank's contiguous
    share of the experts stacked, each split over moe_tp = tp / ep (gate rows then up rows;
    down_proj columns)."""
    moe_tp = tp // ep
    local = experts // ep
    first = rank // moe_tp * local
    w13, w2 = [], []
    for e in range(first, first + local):
        part = ["%s%d.%s.weight" % (prefix, e, m) for m in ("gate_proj", "up_proj", "down_proj")]
        w13.append(shard("fused_gate_up", moe_tp, rank % moe_tp, [tensors[part[0]],
                                                                   tensors[part[1]]]))
        w2.append(shard("row_parallel", moe_tp, rank % moe_tp, tensors[part[2]]))
    return {prefix + "w13_weight": (w13[0][0], (local,) + tuple(w13[0][1]),
                                    b"".join(t[2] for t in w13)),
            prefix + "w2_weight": (w2[0][0], (local,) + tuple(w2[0][1]),
                                   b"".join(t[2] for t in w2))}


def sglang_rank_parameters(tensors, config, tp, rank, ep=1):
    """{SGLang name: (dtype, shape, raw)} that rank `rank` of a tp-`tp` (expert-parallel `ep`)
    SGLang engine holds of a Llama/Qwen2/Qwen3/Qwen3-MoE model given as {HF name: (dtype, shape,
    raw)} and its HF config dict."""
    heads = config["num_attention_heads"]
    kv = config.get("num_key_value_heads") or heads
    head_dim = config.get("head_dim") or config["hidden_size"] // heads
    tied = bool(config.get("tie_word_embeddings", False))
    experts = config.get("num_experts") or 0
    out = {}
    for name, full in tensors.items():
        if "rotary_emb.inv_freq" in name:
            continue
        base, _, param = name.rpartition(".")
        parent, _, module = base.rpartition(".")
        if ".mlp.experts." in name:
            prefix = name[:name.index(".mlp.experts.") + len(".mlp.experts.")]
            if prefix + "w13_weight" not in out:
                out.update(_sglang_experts(tensors, prefix, experts, tp, ep, rank))
        elif name.endswith(".mlp.gate.weight"):
            out[name] = full  # the router, replicated
        elif module == "q_proj":
            group = [tensors["%s.%s.%s" % (parent, m, param)] for m in ("q_proj", "k_proj", "v_proj")]
            out["%s.qkv_proj.%s" % (parent, param)] = shard(
                "fused_qkv", tp, rank, group, num_heads=heads, num_kv_heads=kv, head_dim=head_dim)
        elif module == "gate_proj":
            group = [tensors["%s.%s.%s" % (parent, m, param)] for m in ("gate_proj", "up_proj")]
            out["%s.gate_up_proj.%s" % (parent, param)] = shard("fused_gate_up", tp, rank, group)
        elif module in ("k_proj", "v_proj", "up_proj"):
            continue  # fused above
        elif module in ("o_proj", "down_proj"):
            out[name] = shard("row_parallel", tp, rank, full) if param == "weight" else full
        elif name in ("model.embed_tokens.weight", "lm_head.weight"):
            if name == "lm_head.weight" and tied:
                continue
            out[name] = _sglang_vocab_rows(full, tp, rank)
        elif name.endswith("norm.weight"):
            out[name] = full
        else:
            raise ValueError("%s is not a parameter of SGLang's Llama/Qwen2/Qwen3 models" % name)
    return out


def sglang_expected(tensors, config, tp, mode="sglang", canon=None, nan_rule="canonical", ep=1):
    """The reply of SGLang's /weights_checker "checksum" action from a tp-`tp` (expert-parallel
    `ep`) engine (target model only) that loaded these HF tensors: {"success", "message", "ranks",
    "per_engine_checksum"}. `mode` is "sglang" (engine on GPUs) or "sglang-cpu" (engine on
    CPUs)."""
    ranks = []
    for rank in range(tp):
        params = sglang_rank_parameters(tensors, config, tp, rank, ep)
        checksums = {name: digest(raw, dtype, shape, mode=mode, canon=canon, nan_rule=nan_rule)
                     for name, (dtype, shape, raw) in sorted(params.items())}
        ranks.append({"checksums": checksums, "per_gpu_checksum": rank_aggregate(checksums),
                      "parallelism_info": [{"role": "target", "tp_rank": rank, "tp_size": tp,
                                            "dp_rank": 0, "dp_size": 1, "pp_rank": 0,
                                            "pp_size": 1, "rank": rank, "size": tp}]})
    return {"success": True, "message": "Success.", "ranks": ranks,
            "per_engine_checksum": engine_aggregate([r["per_gpu_checksum"] for r in ranks])}
