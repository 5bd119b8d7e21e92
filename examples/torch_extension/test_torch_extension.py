#!/usr/bin/env python3
"""Builds the tensorhash PyTorch extension (JIT) and checks it against hashlib on real tensors.

    python3 examples/torch_extension/test_torch_extension.py

Needs torch (and a CUDA device for the GPU half); a lent GPU machine has both.
"""
import hashlib
import os
import sys

import torch
from torch.utils.cpp_extension import load

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
sys.path.insert(0, os.path.join(ROOT, "python"))
import tensorhash_ref as ref  # noqa: E402

load(name="tensorhash_torch", sources=[os.path.join(HERE, "tensorhash_torch.cu")],
     extra_include_paths=[os.path.join(ROOT, "include")],
     extra_cuda_cflags=["-arch=sm_90"], is_python_module=False, verbose=False)


def hexes(t):
    return [bytes(row.tolist()).hex() for row in t.cpu()]


def main():
    torch.manual_seed(0)
    tensors = [torch.randn(64, 300, dtype=torch.bfloat16), torch.randn(7, dtype=torch.float32),
               torch.arange(10, dtype=torch.int64), torch.randn(16, 8).t(),
               torch.tensor(3.5, dtype=torch.float16), torch.zeros(0, 4)]
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        ts = [t.to(device) for t in tensors]
        got = hexes(torch.ops.tensorhash.digests(ts, "exact", 0, ""))
        want = [hashlib.sha256(t.contiguous().cpu().reshape(-1).view(torch.uint8).numpy().tobytes())
                .hexdigest() for t in tensors]
        assert got == want, (device, got, want)
        got = hexes(torch.ops.tensorhash.digests(ts, "tree", 1024, "BF16"))
        # Canonicalisation applies to floating-point tensors; integers are hashed as stored.
        as_bf16 = [t.to(torch.bfloat16) if t.is_floating_point() else t for t in tensors]
        want = [ref.tree_digest(t.contiguous().cpu().reshape(-1).view(torch.uint8).numpy()
                                .tobytes(), 1024) for t in as_bf16]
        assert got == want, (device, got, want)
        print("%s: exact == hashlib, tree(BF16) == reference on %d tensors" % (device, len(ts)))


if __name__ == "__main__":
    main()
