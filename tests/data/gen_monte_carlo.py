#!/usr/bin/env python3
"""Writes sha256_monte.txt: the SHAVS Monte Carlo checkpoints (SHAVS §6.4) computed by hashlib.

For j in 0..99: MD0 = MD1 = MD2 = Seed; MDi = SHA-256(MD(i-3) || MD(i-2) || MD(i-1)) for
i = 3..1002; checkpoint j = Seed = MD1002. The seed is the one of NIST's SHA256Monte.rsp.
"""
import hashlib
import os

SEED = "6d1e72ad03ddeb5de891e572e2396f8da015d899ef0e79503152d6010a3fe691"

seed = bytes.fromhex(SEED)
lines = ["Seed = " + SEED]
for j in range(100):
    md = [seed, seed, seed]
    for _ in range(3, 1003):
        md = [md[1], md[2], hashlib.sha256(md[0] + md[1] + md[2]).digest()]
    seed = md[2]
    lines.append("COUNT = %d MD = %s" % (j, seed.hex()))
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "sha256_monte.txt"), "w") as f:
    f.write("\n".join(lines) + "\n")
