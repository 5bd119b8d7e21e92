#!/usr/bin/env python3
"""Benchmark: tensorhash.digests (exact, tree) against Miles' per-tensor hashlib loop on a
Qwen2.5-0.5B-shaped BF16 state dict held in memory (290 tensors, 0.99 GB).

    python benchmarks/python_bench.py [--repeat 3] [--threads N] [--json out.json]

Needs torch (CPU is fine).
Every method is timed `--repeat` times after one warm-up pass; the best time is reported.
"""

import argparse
import hashlib
import json
import os
import platform
import sys
import time

import torch

import tensorhash
from qwen_shapes import qwen2_5_shapes


def make_state_dict(seed=0):
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for name, shape in qwen2_5_shapes("0.5B").items():
        t = torch.empty(shape, dtype=torch.bfloat16)
        t.view(torch.int16).random_(-(1 << 15), 1 << 15, generator=g)  # random bit patterns
        sd[name] = t
    return sd


def miles(sd):
    """Miles' loop, verbatim: one hashlib SHA-256 per tensor on the calling thread."""
    return {name: hashlib.sha256(t.contiguous().view(torch.uint8).numpy()).hexdigest()
            for name, t in sd.items()}


def best_of(f, repeat):
    f()  # warm-up: page faults, thread start, caches
    times = []
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = f()
        times.append(time.perf_counter() - start)
    return min(times), result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="tensorhash threads")
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args()

    start = time.perf_counter()
    sd = make_state_dict()
    nbytes = sum(t.numel() * t.element_size() for t in sd.values())
    print("state dict: %d tensors, %.3f GB BF16, built in %.1f s" % (
        len(sd), nbytes / 1e9, time.perf_counter() - start))
    info = tensorhash.build_info()
    print("tensorhash %s: cuda=%s sha_ni=%s avx512=%s host_streams=%d, %d hardware threads; %s"
          % (tensorhash.__version__, info["cuda"], info["sha_ni"], info["avx512"],
             info["host_streams"], info["hardware_threads"], platform.processor() or
             platform.machine()))

    t_miles, ref = best_of(lambda: miles(sd), args.repeat)
    t_exact, exact = best_of(lambda: tensorhash.digests(sd, mode="exact", threads=args.threads),
                             args.repeat)
    t_tree, _ = best_of(lambda: tensorhash.digests(sd, mode="tree", threads=args.threads),
                        args.repeat)
    t_tree1, _ = best_of(lambda: tensorhash.digests(sd, mode="tree", threads=1), args.repeat)
    assert exact == ref, "tensorhash exact digests differ from hashlib"

    rows = [("hashlib loop (Miles)", t_miles), ("tensorhash exact", t_exact),
            ("tensorhash tree, 1 thread", t_tree1), ("tensorhash tree", t_tree)]
    print("%-28s %9s %9s %9s" % ("method", "seconds", "GB/s", "speed-up"))
    for label, t in rows:
        print("%-28s %9.3f %9.2f %8.2fx" % (label, t, nbytes / 1e9 / t, t_miles / t))
    results = {"tensors": len(sd), "bytes": nbytes, "cpu_count": os.cpu_count(),
               "build": info, "seconds": {label: t for label, t in rows},
               "speedup_tree_vs_hashlib": t_miles / t_tree,
               "speedup_exact_vs_hashlib": t_miles / t_exact}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
