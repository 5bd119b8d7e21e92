#!/usr/bin/env python3
"""SGLang's own GPU weight hash on a real GPU: checked against tensorhash_ref, then timed the way
SGLang's weight checker runs it, one tensor at a time, over a Qwen2.5-7B-shaped BF16 state dict.

    sglang_gpu_bench.py [--json out.json] [--repeat 3] [--cache DIR]

SGLang's code comes from the sglang wheel as tests/sglang_kernel_test.py loads it (the cache
directory: --cache, else $TENSORHASH_SGLANG_CACHE, else build/sglang-cache; scripts/build-bundle
puts a wheel holding only the files used into BUNDLE/sglang-cache for machines without a
registry). Here Triton compiles the kernel for the GPU; nothing is interpreted.

1. Correctness: `_hash_tensor(t)` of CUDA tensors (every dtype, empty, 1-7 bytes, the 8192-word
   tile boundary, several tiles; the cases of tests/sglang_kernel_test.py) equals
   `tensorhash_ref.sglang_hash64` of the tensor's bytes. Exit 1 on any difference. (Large
   tensors: tests/sglang_device_test.cu checks tensorhash's device path against its host path,
   which the CPU test proves against this kernel.)
2. Timing: SGLang's checksum loop (`{name: _hash_tensor(p)}`: one kernel launch, a reduction and a
   `.item()` sync per tensor) over the 339 tensors, wall time after `torch.cuda.synchronize()`,
   best of --repeat. `device_bench`'s BM_sglang_state_dict hashes the same shapes in two launches;
   `gpu_report.py figures` (scripts/gpu-run) sets the two side by side.

Exit 77 (skipped) without torch, triton, a CUDA device or the wheel.
"""
import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
sys.path.insert(0, os.path.join(HERE, "..", "python"))
import sglang_kernel_test as kt  # noqa: E402
import tensorhash_ref as ref  # noqa: E402
from qwen_shapes import qwen2_5_shapes  # noqa: E402

SKIP = 77


def check(sg, torch):
    """SGLang's GPU hash of CUDA tensors against the reference; returns the number of cases."""
    cases = [(label, t.contiguous()) for label, t in kt.cases()]
    bad = 0
    for label, t in cases:
        got = sg.hash_tensor_gpu(t.cuda())
        want = "%016x" % ref.sglang_hash64(bytes(t.reshape(-1).view(torch.uint8).tolist()))
        if got != want:
            print("MISMATCH %s: SGLang on the GPU %s, reference %s" % (label, got, want))
            bad += 1
    return len(cases), bad


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--json")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cache", default=os.environ.get("TENSORHASH_SGLANG_CACHE") or
                        os.path.join(HERE, "..", "build", "sglang-cache"))
    args = parser.parse_args()
    try:
        import torch
    except Exception as e:
        print("SKIP: torch: %s" % e)
        return SKIP
    if not torch.cuda.is_available():
        print("SKIP: no CUDA device")
        return SKIP
    try:
        sg = kt.load_sglang(os.path.abspath(args.cache), need_numpy=False)
    except SystemExit as e:  # load_sglang exits 77 without triton or the wheel
        return e.code
    try:
        # Triton's first GPU launch builds its C launcher: it needs a C compiler, Python.h and
        # libcuda, which a bare machine may lack.
        sg.hash_tensor_gpu(torch.zeros(4, dtype=torch.uint8, device="cuda"))
    except Exception as e:
        print("SKIP: Triton cannot launch SGLang's kernel here: %s" % e)
        return SKIP
    count, bad = check(sg, torch)
    print("SGLang's kernel on %s: %d cases, %d mismatches against tensorhash_ref"
          % (torch.cuda.get_device_name(), count, bad))
    if bad:
        return 1

    shapes = qwen2_5_shapes("7B")
    params = {name: torch.empty(shape, dtype=torch.bfloat16, device="cuda").random_()
              for name, shape in shapes.items()}
    total = sum(p.numel() * p.element_size() for p in params.values())
    for p in params.values():  # warm-up: Triton compiles once per specialisation
        sg.hash_tensor_gpu(p)
    best = None
    for _ in range(args.repeat):
        torch.cuda.synchronize()
        start = time.perf_counter()
        checksums = {name: sg.hash_tensor_gpu(p) for name, p in params.items()}
        sg.overall_checksum(checksums)
        torch.cuda.synchronize()
        elapsed = time.perf_counter() - start
        best = elapsed if best is None else min(best, elapsed)
    print("SGLang's checksum loop: %d tensors, %.2f GB, %.1f ms (%.3f TB/s)"
          % (len(params), total / 1e9, best * 1e3, total / best / 1e12))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"gpu": torch.cuda.get_device_name(), "tensors": len(params),
                       "bytes": total, "seconds": best, "cases_checked": count}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
