#!/usr/bin/env python3
"""Canonicalisation against PyTorch itself, end to end through the command line.

    torch_canonical_test.py PATH/TO/tensorhash

For every float dtype torch has (all 2^16 F16 values, every FP8 code, random F32/F64/BF16 with
NaNs of both signs and many payloads, infinities, subnormals and rounding ties), the CLI's exact
digests with `--as BF16 --nan-rule R` and `--as F32` must equal hashlib of torch's own
`.to(dtype)` bytes, where R is the rule that reproduces the torch path that produced them:
`torch-cpu` for ATen's vectorised CPU kernels (AVX2, AVX-512), `canonical` for its scalar path
(ATEN_CPU_CAPABILITY=default). Exits 77 (ctest: Skipped) when torch is not installed.
"""
import hashlib
import os
import random
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))
import tensorhash_ref as ref  # noqa: E402

SKIP = 77


def sources(torch):
    """{name: tensor} of stored values to convert, the same in every process (fixed seed)."""
    rng = random.Random(20261122)
    out = {}
    out["f16.all"] = torch.arange(0, 1 << 16, dtype=torch.int32).to(torch.int16).view(
        torch.float16)
    codes = torch.arange(0, 256, dtype=torch.int32).to(torch.uint8)
    out["f8e4m3.all"] = codes.view(torch.float8_e4m3fn)
    out["f8e5m2.all"] = codes.view(torch.float8_e5m2)

    def f32_bits():
        k = rng.randrange(8)
        if k == 0:  # NaN: either sign, quiet or signalling, any payload
            return (rng.getrandbits(1) << 31) | 0x7F800000 | rng.randrange(1, 1 << 23)
        if k == 1:  # infinities and zeros
            return rng.choice([0x7F800000, 0xFF800000, 0, 0x80000000])
        if k == 2:  # subnormals
            return (rng.getrandbits(1) << 31) | rng.randrange(1, 1 << 23)
        if k == 3:  # exact BF16 rounding ties, odd and even
            return (rng.getrandbits(16) << 16) | 0x8000
        return rng.getrandbits(32)
    # A multiple of 64 elements: ATen's vectorised loops then have no scalar tail (see below).
    f32 = [f32_bits() for _ in range(64 * 1600)]
    out["f32.mixed"] = torch.tensor(f32, dtype=torch.int64).to(torch.int32).view(torch.float32)

    def f64_bits():
        k = rng.randrange(8)
        if k == 0:
            return (rng.getrandbits(1) << 63) | 0x7FF0000000000000 | rng.randrange(1, 1 << 52)
        if k == 1:
            return rng.choice([0x7FF0000000000000, 0xFFF0000000000000, 0, 1 << 63])
        if k == 2:  # around F32's subnormal and overflow ranges
            e = rng.choice([rng.randrange(850, 900), rng.randrange(1140, 1160)])
            return (rng.getrandbits(1) << 63) | (e << 52) | rng.getrandbits(52)
        return rng.getrandbits(64)
    f64 = [f64_bits() for _ in range(64 * 800)]
    out["f64.mixed"] = torch.tensor([b - (1 << 64) if b >> 63 else b for b in f64],
                                    dtype=torch.int64).view(torch.float64)
    bf16 = [rng.getrandbits(16) for _ in range(64 * 400)]
    out["bf16.mixed"] = torch.tensor(bf16, dtype=torch.int32).to(torch.int16).view(
        torch.bfloat16)
    return out


SAFETENSORS = {"torch.float16": "F16", "torch.float32": "F32", "torch.float64": "F64",
               "torch.bfloat16": "BF16", "torch.float8_e4m3fn": "F8_E4M3",
               "torch.float8_e5m2": "F8_E5M2"}


def raw(t):
    import torch
    return t.contiguous().view(torch.uint8).numpy().tobytes()


def converted_digests():
    """Runs in a child process: hashlib of torch's .to(bfloat16) and .to(float32) bytes."""
    import torch
    result = {}
    for name, t in sources(torch).items():
        result[name] = {"BF16": hashlib.sha256(raw(t.to(torch.bfloat16))).hexdigest(),
                        "F32": hashlib.sha256(raw(t.to(torch.float32))).hexdigest(),
                        "capability": torch.backends.cpu.get_cpu_capability()}
    return result


def torch_digests(capability):
    env = dict(os.environ)
    env.pop("ATEN_CPU_CAPABILITY", None)
    if capability:
        env["ATEN_CPU_CAPABILITY"] = capability
    code = ("import json, sys; sys.path.insert(0, %r); import torch_canonical_test as t; "
            "print(json.dumps(t.converted_digests()))" % HERE)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True)
    return __import__("json").loads(out.stdout)


def cli_digests(cli, path, *args):
    out = subprocess.run([cli, "hash", path, "--mode", "exact", "--device", "cpu"] + list(args),
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError("tensorhash %s: %s" % (" ".join(args), out.stderr))
    doc = __import__("json").loads(out.stdout)
    return {name: e["digest"] for name, e in doc["tensors"].items()}


def main():
    cli = sys.argv[1]
    try:
        import torch
    except ImportError:
        print("torch is not installed: skipped")
        return SKIP
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "sources.safetensors")
        tensors = {name: (SAFETENSORS[str(t.dtype)], tuple(t.shape), raw(t))
                   for name, t in sources(torch).items()}
        ref.write_safetensors(path, tensors)
        f32 = cli_digests(cli, path, "--as", "F32")
        rules = {r: cli_digests(cli, path, "--as", "BF16", "--nan-rule", r)
                 for r in ("canonical", "torch-cpu", "torch-cuda")}
        # (ATen capability, the rule that must reproduce it); "" is torch's own choice here.
        runs = [("default", "canonical"), ("", "torch-cpu")]
        if torch.backends.cpu.get_cpu_capability() == "AVX512":
            runs.append(("avx2", "torch-cpu"))
        for capability, rule in runs:
            want = torch_digests(capability)
            for name in tensors:
                got_cap = want[name]["capability"]
                for target, got in (("F32", f32[name]), ("BF16", rules[rule][name])):
                    ok = got == want[name][target]
                    failures += not ok
                    print("%s  %-10s -> %-4s torch %-7s rule %-9s" % (
                        "ok  " if ok else "FAIL", name, target, got_cap,
                        rule if target == "BF16" else "-"))
        # The rules differ exactly where NaNs meet BF16: F32/F64 sources hold NaNs here.
        assert rules["canonical"]["f32.mixed"] != rules["torch-cpu"]["f32.mixed"]
        assert rules["torch-cuda"]["f32.mixed"] not in (rules["canonical"]["f32.mixed"],
                                                         rules["torch-cpu"]["f32.mixed"])
    print("%d passed, %d failed" % (len(runs) * len(tensors) * 2 - failures, failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
