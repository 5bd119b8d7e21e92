#!/usr/bin/env python3
"""Self-test of python/tensorhash_ref.py against values nobody here computed (RFC 6962 data)."""
import hashlib
import json
import os
import struct
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))
import tensorhash_ref as ref  # noqa: E402


class ReferenceTest(unittest.TestCase):
    def test_rfc6962_roots(self):
        with open(os.path.join(HERE, "data", "ct-reference.json")) as f:
            data = json.load(f)
        leaves = [ref.leaf_hash(bytes.fromhex(x)) for x in data["leaf_inputs_hex"]]
        self.assertEqual([x.hex() for x in leaves], data["leaf_hashes_hex"])
        for n, root in enumerate(data["root_hashes_by_tree_size_hex"]):
            self.assertEqual(ref.merkle_root(leaves[:n]).hex(), root)

    def test_exact_is_hashlib(self):
        import hashlib
        raw = bytes(range(256)) * 5
        self.assertEqual(ref.digest(raw, "U8", (1280,), mode="exact"),
                         hashlib.sha256(raw).hexdigest())

    def test_views_and_conversions(self):
        raw = bytes(range(24))
        # A transposed 2x3 view of int32 storage: columns first.
        self.assertEqual(ref.canonical_bytes(raw, "I32", (3, 2), (1, 3)),
                         raw[0:4] + raw[12:16] + raw[4:8] + raw[16:20] + raw[8:12] + raw[20:24])
        self.assertEqual(ref.f32_to_bf16_bits(0x3F808000), 0x3F80)
        self.assertEqual(ref.f32_to_bf16_bits(0x3F818000), 0x3F82)
        self.assertEqual(ref.f32_to_bf16_bits(0x7F7FFFFF), 0x7F80)
        self.assertEqual(ref.f32_to_bf16_bits(0xFFC12345), 0x7FC0)
        self.assertEqual(ref.canonical_bytes(b"\x01\x02", "U8", ()), b"\x01")
        self.assertEqual(ref.canonical_bytes(b"", "F32", (2, 0)), b"")

    def test_sglang_hash64(self):
        # Values from SGLang 0.5.23's own kernel (sglang/kernels/ops/memory/gpu_tensor_hash.py)
        # and tensor_hash's CPU branch (sglang/srt/managers/mm_utils.py), run on uint8 tensors
        # of these bytes under Triton's CPU interpreter by tests/sglang_kernel_test.py's loader.
        cases = [  # message, GPU hash, CPU hash
            (b"", "0000000000000000", "e3b0c44298fc1c14"),
            (b"\x00", "3d93a6540b54ef2a", "6e340b9cffb37a98"),
            (b"abc", "d8af575884d43b13", "ba7816bf8f01cfea"),
            (bytes(range(4)), "d5c10aceba95ba56", "054edec1d0211f62"),
            (bytes(range(7)), "d9e9661b18c29da2", "57355ac3303c148f"),
            (bytes(range(256)) * 128, "668122ab2b04f371", "e11360251d117365"),  # one tile
            (bytes(range(256)) * 129 + b"xyz", "10e7a43449c32915", "c900fee1c80373ad"),
        ]
        for message, gpu, cpu in cases:
            self.assertEqual("%016x" % ref.sglang_hash64(message), gpu)
            self.assertEqual("%016x" % ref.sglang_cpu_hash64(message), cpu)
            self.assertEqual(ref.digest(message, "U8", (len(message),), mode="sglang"), gpu)
            self.assertEqual(ref.digest(message, "U8", (len(message),), mode="sglang-cpu"), cpu)
        # Zero padding to whole words: trailing zero bytes in the last word do not count.
        self.assertEqual(ref.sglang_hash64(b"\x00"), ref.sglang_hash64(b"\x00" * 4))
        # torch.arange(6, dtype=torch.float32).reshape(2, 3).t(), hashed contiguous, same source.
        raw = b"".join(struct.pack("<f", x) for x in range(6))
        self.assertEqual(ref.digest(raw, "F32", (3, 2), (1, 3), mode="sglang"), "851ba375603cf6d0")
        self.assertEqual(ref.digest(raw, "F32", (3, 2), (1, 3), mode="sglang-cpu"),
                         "0c9d0bb54e4f5a01")

    def test_sglang_manifest(self):
        tensors = {"b.weight": ("BF16", (2, 3), bytes(range(12))), "a": ("U8", (0,), b""),
                   "\u00e9": ("F32", (), b"\x00\x00\x80\x3f")}
        for mode, algorithm in [("sglang", "sglang-hash64"), ("sglang-cpu", "sha256-prefix64")]:
            doc = ref.manifest(tensors, mode=mode)
            self.assertEqual(doc["algorithm"], algorithm)
            self.assertNotIn("chunk_bytes", doc)
            digests = {name: e["digest"] for name, e in doc["tensors"].items()}
            self.assertEqual(digests["a"], "0000000000000000" if mode == "sglang"
                             else "e3b0c44298fc1c14")
            # SGLang's per_gpu_checksum (weight_checker.overall_checksum): name, then 16 hex.
            h = hashlib.sha256()
            for name in sorted(digests):
                h.update(name.encode())
                h.update(digests[name].encode())
            self.assertEqual(doc["aggregate"], h.hexdigest())

    def test_errors(self):
        with self.assertRaises(ValueError):
            ref.tree_digest(b"", 1000)
        with self.assertRaises(ValueError):
            ref.canonical_bytes(b"", "F128", (1,))


if __name__ == "__main__":
    unittest.main()
