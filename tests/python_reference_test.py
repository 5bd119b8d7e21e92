#!/usr/bin/env python3
"""Self-test of python/tensorhash_ref.py against values nobody here computed (RFC 6962 data)."""
import json
import os
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

    def test_errors(self):
        with self.assertRaises(ValueError):
            ref.tree_digest(b"", 1000)
        with self.assertRaises(ValueError):
            ref.canonical_bytes(b"", "F128", (1,))


if __name__ == "__main__":
    unittest.main()
