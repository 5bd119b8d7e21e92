#!/usr/bin/env python3
"""The command lines on a checkpoint on disk (page cache warm): wall time of `tensorhash hash`,
C++ and Python, in exact and tree mode and with BLAKE3, beside `b3sum` of the same files (with
as many threads) when it is installed.

    cli_bench.py --cli build/tools/tensorhash [--py-cli tensorhash] [--shape qwen|qwen-0.5b|large]
                 [--dir DIR] [--repeat 3] [--threads N] [--json out.json]

Checkpoints (bytes pseudo-random, written once into DIR, default build/cli-bench-SHAPE, reused):
- qwen: Qwen2.5-1.5B-shaped (BF16, 338 tensors, 3.09 GB, tied embeddings, two shards);
- qwen-0.5b: Qwen2.5-0.5B-shaped (BF16, 290 tensors, 0.99 GB, two shards);
- large: four F32 [151936, 2048] tensors (4.98 GB: embeddings and lm_heads of Qwen2.5-3B in
  F32), where exact mode's one chain per tensor decides: the C++ command line once hashed in
  batches of about 1 GiB for its progress bar, each such tensor a batch of its own on one
  thread (1.57 GB/s here against 4.27 GB/s in one call, 2 cores, 2026-12-03; see
  docs/performance.md).
Each command runs once untimed (the page cache), then --repeat times; the best is kept.
"""
import argparse
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import time

from qwen_shapes import qwen2_5_shapes


def shapes(kind):
    if kind == "large":  # embeddings and lm_heads of Qwen2.5-3B, in F32
        return {"model.%d.weight" % i: ("F32", (151936, 2048)) for i in range(4)}
    size = "0.5B" if kind == "qwen-0.5b" else "1.5B"
    return {name: ("BF16", shape) for name, shape in qwen2_5_shapes(size).items()}


def write_shard(path, tensors, rng):
    header, offset = {}, 0
    for name, (dtype, shape) in tensors:
        n = {"BF16": 2, "F32": 4}[dtype]
        for d in shape:
            n *= d
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + n]}
        offset += n
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    block = rng.randbytes(1 << 24)
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        left = offset
        while left:
            f.write(block[:min(left, len(block))])
            left -= min(left, len(block))
            block = block[1:] + block[:1]  # not one repeated block
    os.replace(path + ".tmp", path)


def checkpoint(directory, kind):
    done = os.path.join(directory, "DONE")
    if not os.path.exists(done):
        os.makedirs(directory, exist_ok=True)
        items = sorted(shapes(kind).items())
        half = len(items) // 2
        rng = random.Random(2026)
        write_shard(os.path.join(directory, "model-00001-of-00002.safetensors"), items[:half], rng)
        write_shard(os.path.join(directory, "model-00002-of-00002.safetensors"), items[half:], rng)
        open(done, "w").close()
    return sorted(os.path.join(directory, f) for f in os.listdir(directory)
                  if f.endswith(".safetensors"))


def best_of(cmd, repeat):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    best = None
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        took = time.perf_counter() - start
        best = took if best is None else min(best, took)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cli", required=True, help="the C++ tensorhash binary")
    parser.add_argument("--py-cli", help="the Python package's tensorhash command")
    parser.add_argument("--shape", choices=["qwen", "qwen-0.5b", "large"], default="qwen")
    parser.add_argument("--dir")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--json")
    args = parser.parse_args()
    args.dir = args.dir or os.path.join("build", "cli-bench-" + args.shape)
    files = checkpoint(args.dir, args.shape)
    size = sum(os.path.getsize(f) for f in files)
    runs = []
    for how in (["--mode", "exact"], ["--mode", "tree"], ["--hasher", "blake3"]):
        for label, cli in (("C++", args.cli), ("Python", args.py_cli)):
            if cli:
                out = os.path.join(args.dir, "manifest.json")
                cmd = [cli, "hash", args.dir] + how + ["--threads", str(args.threads), "-o", out]
                runs.append(("tensorhash hash %s (%s)" % (" ".join(how), label),
                             best_of(cmd, args.repeat)))
    b3sum = shutil.which("b3sum")
    if b3sum:
        threads = ["--num-threads", str(args.threads)] if args.threads else []
        runs.append(("b3sum (BLAKE3)", best_of([b3sum] + threads + files, args.repeat)))
    print("%s: %d files, %.2f GB, best of %d, page cache warm, threads %s"
          % (args.shape, len(files), size / 1e9, args.repeat, args.threads or "all"))
    for name, s in runs:
        print("  %-40s %7.3f s  %6.2f GB/s" % (name, s, size / 1e9 / s))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"shape": args.shape, "bytes": size, "files": len(files),
                       "threads": args.threads,
                       "runs": [{"name": n, "seconds": s} for n, s in runs]}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
