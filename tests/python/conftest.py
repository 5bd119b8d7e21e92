"""Shared fixtures of the Python package tests.

These tests exercise the *installed* `tensorhash` (``pip install .``); nothing here puts the
source tree's python/ on sys.path. The standard-library reference, python/tensorhash_ref.py, is
loaded by file path.
"""

import importlib.util
import os
import random

import pytest

import tensorhash

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
REF_PATH = os.environ.get("TENSORHASH_REF", os.path.join(ROOT, "python", "tensorhash_ref.py"))


def _load_reference():
    spec = importlib.util.spec_from_file_location("tensorhash_ref_under_test", REF_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def ref():
    """python/tensorhash_ref.py, the format's stdlib-only reference implementation."""
    if not os.path.exists(REF_PATH):
        pytest.skip("python/tensorhash_ref.py not found (set TENSORHASH_REF)")
    return _load_reference()


@pytest.fixture
def rng():
    return random.Random(20260101)


def pytest_report_header(config):
    info = tensorhash.build_info()
    return ["tensorhash %s from %s" % (tensorhash.__version__, os.path.dirname(tensorhash.__file__)),
            "build: cuda=%s (devices %d), sglang=%s, sha_ni=%s, avx512=%s, threads=%d" % (
                info["cuda"], info["cuda_devices"], info["sglang"], info["sha_ni"],
                info["avx512"], info["hardware_threads"])]
