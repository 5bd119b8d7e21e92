#!/usr/bin/env python3
"""tensorhash_ref's SGLang hashes against SGLang's own code, run on the CPU.

    sglang_kernel_test.py [CACHE_DIR]

SGLang's weight checker reports, per parameter, f"{tensor_hash(t):016x}" (on a GPU a Triton
kernel, on the CPU the first 8 bytes of SHA-256) and, per rank, SHA-256 over the sorted names
each followed by its 16 hex digits. This test fetches the sglang wheel once
(`pip download sglang==VERSION --no-deps`) into a cache directory, takes from it, at test time,
the kernel file and the few host functions involved, and runs them unchanged except for the
`assert t.is_cuda` lines: the kernels run under Triton's CPU interpreter (TRITON_INTERPRET=1) on
CPU tensors. Nothing of SGLang is kept in this repository.

The cache directory is $TENSORHASH_SGLANG_CACHE, else CACHE_DIR (the build tree passes one),
else build/sglang-cache in this checkout. Exit code 77 (skipped): torch, triton or numpy is not
importable, or the wheel cannot be had. With $TENSORHASH_CLI naming the tensorhash executable,
`tensorhash hash FILE --mode sglang` is checked too (skipped while the CLI rejects the mode).
"""
import os

os.environ["TRITON_INTERPRET"] = "1"  # before anything imports triton

import ast  # noqa: E402
import hashlib  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import typing  # noqa: E402
import unittest  # noqa: E402
import zipfile  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))
import tensorhash_ref as ref  # noqa: E402

SGLANG_VERSION = os.environ.get("TENSORHASH_SGLANG_VERSION", "0.5.23")
KERNEL_FILE = "sglang/kernels/ops/memory/gpu_tensor_hash.py"
# Files the host functions are taken from: (path in the wheel, function names).
HOST_FUNCTIONS = [
    ("sglang/srt/managers/mm_utils.py", ["tensor_hash"]),
    ("sglang/srt/utils/weight_checker.py", ["overall_checksum", "_hash_tensor"]),
    ("sglang/srt/utils/common.py", ["flatten_nested_list"]),
]
# sha256 of KERNEL_FILE in sglang 0.5.23 (what tensorhash_ref.sglang_hash64 was written from).
KNOWN_KERNEL_SHA256 = "9333bd424b35c8dc62af454efee8f3417f083b19c79b636de1775114e42ce44d"
SKIP = 77

torch = None
sg = None  # the SGLang code under test, filled by load_sglang()


def skip(why):
    print("SKIP: " + why)
    sys.exit(SKIP)


# ---------------------------------------------------------------------------------------------
# Fetching and loading SGLang's code

def find_wheel(cache):
    prefix = "sglang-%s-" % SGLANG_VERSION
    for name in sorted(os.listdir(cache)):
        if name.startswith(prefix) and name.endswith(".whl"):
            return os.path.join(cache, name)
    return None


def fetch_wheel(cache):
    """The cached wheel, downloaded with pip on first use; None when pip cannot get it."""
    os.makedirs(cache, exist_ok=True)
    wheel = find_wheel(cache)
    if wheel:
        return wheel
    base = [sys.executable, "-m", "pip", "download", "sglang==" + SGLANG_VERSION, "--no-deps",
            "--disable-pip-version-check", "--retries", "1", "--timeout", "30", "-d", cache]
    # The wheel is built for one CPython; the files used here are plain Python, so when this
    # interpreter is another version, ask for that wheel by name.
    attempts = [base, base + ["--only-binary=:all:", "--implementation", "cp",
                              "--python-version", "3.11", "--platform", "manylinux_2_34_x86_64"]]
    for cmd in attempts:
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as e:
            print("pip download failed: %s" % e)
            continue
        wheel = find_wheel(cache)
        if wheel:
            return wheel
        print("pip download failed (%d): %s" % (r.returncode, r.stderr.strip()[-500:]))
    return None


class _ForCpu(ast.NodeTransformer):
    """Drops `assert ...is_cuda...` and turns `from sglang... import x` into stubs."""

    def __init__(self):
        self.asserts_dropped = 0

    def visit_Assert(self, node):
        if "is_cuda" in ast.unparse(node.test):
            self.asserts_dropped += 1
            return None
        return node

    def visit_ImportFrom(self, node):
        if not (node.module or "").startswith("sglang"):
            return node
        return [ast.parse("%s = _sglang_stub(%r)" % (a.asname or a.name, a.name)).body[0]
                for a in node.names]


def _sglang_stub(name):
    def stub(*args, **kwargs):
        raise RuntimeError("stubbed SGLang import %s called" % name)
    return stub


def load_kernel_module(source, directory):
    """SGLang's kernel file, is_cuda asserts dropped, written to disk (triton.jit reads the
    source of its kernels from their file) and imported."""
    tree = ast.parse(source)
    transformer = _ForCpu()
    tree = ast.fix_missing_locations(transformer.visit(tree))
    path = os.path.join(directory, "sglang_gpu_tensor_hash_cpu.py")
    with open(path, "w") as f:
        f.write("# Generated by tests/sglang_kernel_test.py from sglang %s %s\n"
                % (SGLANG_VERSION, KERNEL_FILE))
        f.write(ast.unparse(tree) + "\n")
    spec = importlib.util.spec_from_file_location("sglang_gpu_tensor_hash_cpu", path)
    module = importlib.util.module_from_spec(spec)
    module._sglang_stub = _sglang_stub
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module, transformer.asserts_dropped


def extract_functions(source, names, namespace):
    """Defines the named top-level functions of `source` in `namespace`, their code unchanged."""
    tree = ast.parse(source)
    found = [node for node in tree.body
             if isinstance(node, ast.FunctionDef) and node.name in names]
    missing = set(names) - {node.name for node in found}
    if missing:
        raise RuntimeError("functions %s not found" % sorted(missing))
    for node in found:
        node.decorator_list = []
    exec(compile(ast.Module(body=found, type_ignores=[]), "<sglang>", "exec"), namespace)


class SGLang:
    pass


def load_sglang(cache):
    global torch
    try:
        import numpy  # noqa: F401  (SGLang's CPU branch calls .numpy())
        import torch as torch_module
        import triton  # noqa: F401
    except Exception as e:  # ImportError, or a broken install
        skip("torch, triton and numpy are needed: %s" % e)
    torch = torch_module
    wheel = fetch_wheel(cache)
    if wheel is None:
        skip("the sglang %s wheel cannot be downloaded into %s" % (SGLANG_VERSION, cache))
    with zipfile.ZipFile(wheel) as z:
        sources = {path: z.read(path).decode("utf-8")
                   for path in [KERNEL_FILE] + [p for p, _ in HOST_FUNCTIONS]}
    s = SGLang()
    s.wheel = wheel
    s.kernel_sha256 = hashlib.sha256(sources[KERNEL_FILE].encode("utf-8")).hexdigest()
    workdir = os.path.join(cache, "sglang-%s-cpu" % SGLANG_VERSION)
    os.makedirs(workdir, exist_ok=True)
    s.kernel, s.asserts_dropped = load_kernel_module(sources[KERNEL_FILE], workdir)

    # SGLang's host functions, exactly as written: tensor_hash takes its CPU branch for CPU
    # tensors; its GPU branch is gpu_tensor_hash(t.cuda()), which the kernel module's
    # gpu_tensor_hash computes here on the CPU tensor itself.
    common = {name: getattr(typing, name) for name in typing.__all__}  # annotations
    common.update(torch=torch, hashlib=hashlib)
    for path, names in HOST_FUNCTIONS:
        if path.endswith("common.py"):
            extract_functions(sources[path], names, common)
    cpu = dict(common, gpu_tensor_hash=s.kernel.gpu_tensor_hash)
    for path, names in HOST_FUNCTIONS:
        if not path.endswith("common.py"):
            extract_functions(sources[path], names, cpu)
    gpu = dict(cpu, tensor_hash=s.kernel.gpu_tensor_hash)
    extract_functions(sources["sglang/srt/utils/weight_checker.py"], ["_hash_tensor"], gpu)
    s.tensor_hash_cpu = cpu["tensor_hash"]
    s.hash_tensor_cpu = cpu["_hash_tensor"]        # f"{tensor_hash(t):016x}", CPU branch
    s.hash_tensor_gpu = gpu["_hash_tensor"]        # f"{tensor_hash(t):016x}", GPU branch
    s.overall_checksum = cpu["overall_checksum"]   # the per_gpu_checksum
    return s


# ---------------------------------------------------------------------------------------------
# Tensors

def dtype_names():
    t = torch
    return {t.float64: "F64", t.float32: "F32", t.float16: "F16", t.bfloat16: "BF16",
            t.float8_e4m3fn: "F8_E4M3", t.float8_e5m2: "F8_E5M2", t.int64: "I64",
            t.int32: "I32", t.int16: "I16", t.int8: "I8", t.uint8: "U8", t.bool: "BOOL"}


def random_tensor(dtype, shape, gen):
    """Random bits (NaNs included) in a fresh contiguous tensor."""
    if dtype == torch.bool:
        return torch.randint(0, 2, shape, generator=gen).bool()
    n = 1
    for extent in shape:
        n *= extent
    size = torch.empty((), dtype=dtype).element_size()
    raw = torch.randint(0, 256, (n * size,), dtype=torch.uint8, generator=gen)
    return raw.view(dtype).reshape(shape)


def storage_bytes(t):
    return torch.empty(0, dtype=torch.uint8).set_(t.untyped_storage()).numpy().tobytes()


def reference_view(t):
    """(raw storage, dtype name, shape, strides, offset) of t, for tensorhash_ref."""
    return (storage_bytes(t), dtype_names()[t.dtype], tuple(t.shape), tuple(t.stride()),
            t.storage_offset())


def cases():
    """[(label, tensor)]: every dtype contiguous, transposed and 0-dim; empty; 1-7 bytes; the
    8192-word tile boundary; several tiles."""
    gen = torch.Generator().manual_seed(20240611)
    out = []
    for dtype, name in dtype_names().items():
        t = random_tensor(dtype, (5, 7), gen)
        out.append(("%s 5x7" % name, t))
        out.append(("%s 5x7 transposed" % name, t.t()))
        out.append(("%s 0-dim" % name, random_tensor(dtype, (), gen)))
    for name, dtype, shape in [("F32", torch.float32, (0,)), ("BF16", torch.bfloat16, (3, 0)),
                               ("U8", torch.uint8, (0, 4, 2))]:
        out.append(("%s empty %s" % (name, shape), random_tensor(dtype, shape, gen)))
    for n in range(1, 8):
        out.append(("U8 %d bytes" % n, random_tensor(torch.uint8, (n,), gen)))
    out.append(("I16 6 bytes", random_tensor(torch.int16, (3,), gen)))
    out.append(("F16 2 bytes", random_tensor(torch.float16, (1,), gen)))
    for n in (32764, 32768, 32772):  # 8192 words - 1, 8192, 8192 + 1
        out.append(("U8 %d bytes" % n, random_tensor(torch.uint8, (n,), gen)))
    out.append(("U8 32766 bytes (padded to 8192 words)", random_tensor(torch.uint8, (32766,), gen)))
    out.append(("U8 32769 bytes", random_tensor(torch.uint8, (32769,), gen)))
    out.append(("BF16 2x8192", random_tensor(torch.bfloat16, (2, 8192), gen)))
    out.append(("F32 8193", random_tensor(torch.float32, (8193,), gen)))
    many = random_tensor(torch.bfloat16, (50, 1000), gen)  # 100000 bytes: 3 tiles + 1696 bytes
    out.append(("BF16 50x1000 (3 tiles + partial)", many))
    out.append(("BF16 50x1000 transposed", many.t()))
    out.append(("U8 98307 bytes (3 tiles + 3 bytes)", random_tensor(torch.uint8, (98307,), gen)))
    out.append(("F32 3x128x70 sliced", random_tensor(torch.float32, (3, 128, 70), gen)[:, ::2, 5:]))
    return out


# ---------------------------------------------------------------------------------------------
# Tests

class SGLangKernelTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cases = cases()

    def test_loaded_what_was_read(self):
        self.assertEqual(sg.asserts_dropped, 2, "the kernel file's is_cuda asserts changed")
        if sg.kernel_sha256 != KNOWN_KERNEL_SHA256:
            print("note: %s differs from sglang 0.5.23's (%s)" % (KERNEL_FILE, sg.kernel_sha256))

    def test_gpu_hash(self):
        for label, t in self.cases:
            with self.subTest(label):
                raw, dtype, shape, strides, offset = reference_view(t)
                message = ref.canonical_bytes(raw, dtype, shape, strides, offset)
                reported = sg.hash_tensor_gpu(t)  # f"{gpu_tensor_hash(t):016x}"
                expected = int(reported, 16)
                self.assertEqual(len(reported), 16)
                self.assertEqual(ref.sglang_hash64(message), expected)
                self.assertEqual(ref.digest(raw, dtype, shape, strides, offset, mode="sglang"),
                                 reported)
                if t.numel() == 0:
                    self.assertEqual(expected, 0)

    def test_cpu_hash(self):
        # SGLang's own tensor_hash (CPU branch), taken from mm_utils.py, on the same tensors.
        for label, t in self.cases:
            with self.subTest(label):
                raw, dtype, shape, strides, offset = reference_view(t)
                message = ref.canonical_bytes(raw, dtype, shape, strides, offset)
                expected = sg.tensor_hash_cpu(t)
                self.assertEqual(ref.sglang_cpu_hash64(message), expected)
                self.assertEqual(ref.digest(raw, dtype, shape, strides, offset,
                                            mode="sglang-cpu"), "%016x" % expected)
                self.assertEqual(sg.hash_tensor_cpu(t), "%016x" % expected)

    def test_multi_pass_reduction(self):
        # The tile sums are reduced 1024 at a time; smaller chunks force several passes, whose
        # u64 additions wrap: the value must not depend on the reduction's shape.
        gen = torch.Generator().manual_seed(5)
        t = random_tensor(torch.float32, (4 * 8192 + 77,), gen)  # 5 tiles
        expected = ref.sglang_hash64(storage_bytes(t))
        for chunk in (2, 3):  # 5 -> 3 -> 2 -> 1 and 5 -> 2 -> 1 partial sums
            with self.subTest(reduce_chunk=chunk):
                self.assertEqual(sg.kernel.gpu_tensor_hash(t, reduce_chunk=chunk), expected)
        values = torch.randint(-2 ** 63, 2 ** 63 - 1, (2500,), dtype=torch.int64, generator=gen)
        partial = torch.empty(3, dtype=torch.uint64)
        sg.kernel.add_tree_reduce_u64_kernel[(3,)](values.view(torch.uint64), partial, 2500,
                                                   CHUNK=1024)
        total = sum(int(v) & ref._M64 for v in partial.view(torch.int64).tolist()) & ref._M64
        self.assertEqual(total, sum(int(v) & ref._M64 for v in values.tolist()) & ref._M64)

    def test_whole_message_length_in_every_tile(self):
        # One tile of a longer message: each tile XORs 4 * (all words) mod 2**32, not its own
        # length. n_u32 past 2**29 overflows int32 in `n_u32 * 4`, past 2**31 it is an int64.
        gen = torch.Generator().manual_seed(9)
        words = random_tensor(torch.int32, (8192,), gen).view(torch.uint32)
        tile_only = ref.sglang_hash64(storage_bytes(words))  # tile 0 with n = 8192
        for n in (8192, 8193, 2 ** 29 + 7, 2 ** 30, 2 ** 31 - 1, 2 ** 31 + 5, 2 ** 32 + 3):
            with self.subTest(n_u32=n):
                out = torch.zeros(1, dtype=torch.uint64)
                k = sg.kernel
                k.hash_tiles32_kernel_blocked[(1,)](
                    words, out, n, seed1=0x243F6A88,
                    seed2=((0x243F6A88 * 0x9E3779B1) ^ 0xDEADBEEF) & 0xFFFFFFFF,
                    FM_C1=k.FMIX32_C1, FM_C2=k.FMIX32_C2, POS_A=k.POS_C1, POS_B=k.POS_C2,
                    TILE=8192, BLOCK=256, USE_CG=True)
                got = int(out.view(torch.int64).item()) & ref._M64
                self.assertEqual(got, tile_value(storage_bytes(words), n))
        self.assertEqual(ref._splitmix64_finalise(tile_value(storage_bytes(words), 8192)),
                         tile_only)

    def test_misaligned_view_is_refused_by_sglang(self):
        # A contiguous view whose bytes start off a 4-byte boundary and whose length needs no
        # padding: SGLang's GPU path cannot view it as uint32 and raises (no digest to match).
        base = torch.arange(16, dtype=torch.uint8)
        with self.assertRaises(RuntimeError):
            sg.kernel.gpu_tensor_hash(base[1:9])
        self.assertEqual(sg.kernel.gpu_tensor_hash(base[1:8]),  # padded: a fresh buffer
                         ref.sglang_hash64(bytes(range(1, 8))))

    def test_rank_aggregate_is_per_gpu_checksum(self):
        gen = torch.Generator().manual_seed(3)
        tensors = {
            "model.layers.0.self_attn.qkv_proj.weight": random_tensor(torch.bfloat16, (24, 16), gen),
            "model.layers.0.self_attn.qkv_proj.bias": random_tensor(torch.bfloat16, (24,), gen),
            "model.embed_tokens.weight": random_tensor(torch.bfloat16, (64, 16), gen),
            "model.norm.weight": random_tensor(torch.float32, (16,), gen),
            "lm_head.weight": random_tensor(torch.bfloat16, (64, 16), gen),
            "model.layers.10.mlp.down_proj.weight": random_tensor(torch.float16, (16, 3), gen),
            "model.layers.9.mlp.down_proj.weight": random_tensor(torch.float16, (16, 3), gen),
            "\u00e9mbed.\u6f22\u5b57": random_tensor(torch.uint8, (5,), gen),
            "Z.upper": random_tensor(torch.int8, (0,), gen),
        }
        as_ref = {name: (dtype_names()[t.dtype], tuple(t.shape), storage_bytes(t))
                  for name, t in tensors.items()}
        for mode, algorithm, hash_tensor in [("sglang", "sglang-hash64", sg.hash_tensor_gpu),
                                             ("sglang-cpu", "sha256-prefix64", sg.hash_tensor_cpu)]:
            with self.subTest(mode=mode):
                checksums = {name: hash_tensor(t) for name, t in tensors.items()}
                doc = ref.manifest(as_ref, mode=mode)
                self.assertEqual(doc["algorithm"], algorithm)
                self.assertNotIn("chunk_bytes", doc)
                self.assertEqual({n: e["digest"] for n, e in doc["tensors"].items()}, checksums)
                self.assertEqual(doc["aggregate"], sg.overall_checksum(checksums))

    def test_cli(self):
        cli = os.environ.get("TENSORHASH_CLI")
        if not cli:
            self.skipTest("TENSORHASH_CLI not set")
        tensors = {}
        for label, t in self.cases:
            c = t.contiguous()
            tensors[label.replace(" ", "_")] = (dtype_names()[c.dtype], tuple(c.shape),
                                                storage_bytes(c.clone()))
        with tempfile.TemporaryDirectory(prefix="tensorhash-sglang-") as tmp:
            path = os.path.join(tmp, "model.safetensors")
            ref.write_safetensors(path, tensors)
            for mode, algorithm, hash_tensor in [
                    ("sglang", "sglang-hash64", sg.hash_tensor_gpu),
                    ("sglang-cpu", "sha256-prefix64", sg.hash_tensor_cpu)]:
                out = os.path.join(tmp, mode + ".json")
                r = subprocess.run([cli, "hash", path, "--mode", mode, "-o", out],
                                   capture_output=True, text=True)
                self.assertEqual(r.returncode, 0, r.stderr)
                with open(out) as f:
                    doc = json.load(f)
                # SGLang's own per-tensor hashes (its kernel, its CPU branch), and its aggregate.
                want = {label.replace(" ", "_"): hash_tensor(t) for label, t in self.cases}
                self.assertEqual(doc["algorithm"], algorithm)
                self.assertEqual({n: e["digest"] for n, e in doc["tensors"].items()}, want)
                self.assertEqual(doc["aggregate"], sg.overall_checksum(want))

def tile_value(raw_words, n_u32):
    """Tile 0 of a message of n_u32 words whose first 8192 words are raw_words, as the kernel
    forms it (h1 << 32 | h2), written out here from the kernel's text."""
    m = ref._M32
    s1, s2 = 0x243F6A88, ((0x243F6A88 * 0x9E3779B1) ^ 0xDEADBEEF) & m
    words = memoryview(raw_words).cast("I")
    h1 = h2 = 0
    for i in range(min(len(words), n_u32)):
        p1 = ((i * 0x27D4EB2D + s1) & m) ^ ref._rotl32(i, 15)
        p2 = ((i * 0x165667B1 + s2) & m) ^ ref._rotl32(i, 13)
        h1 += ref._fmix32(words[i] ^ p1)
        h2 += ref._fmix32(words[i] ^ p2)
    length = (n_u32 * 4) & m
    return (ref._fmix32((h1 & m) ^ length) << 32) | ref._fmix32((h2 & m) ^ length)


def main():
    global sg
    default = sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith("-") else \
        os.path.join(HERE, "..", "build", "sglang-cache")
    if len(sys.argv) > 1 and not sys.argv[1].startswith("-"):
        del sys.argv[1]
    cache = os.path.abspath(os.environ.get("TENSORHASH_SGLANG_CACHE") or default)
    start = time.time()
    sg = load_sglang(cache)
    print("sglang %s from %s; kernel sha256 %s; loaded in %.1f s"
          % (SGLANG_VERSION, sg.wheel, sg.kernel_sha256[:16], time.time() - start))
    unittest.main(verbosity=2)


if __name__ == "__main__":
    main()
