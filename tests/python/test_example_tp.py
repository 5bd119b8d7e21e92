"""examples/torch_distributed/verify_tp.py with 2 processes (gloo on the CPU; NCCL on a GPU):
exit 0 with no mismatch, and with --plant exactly the planted tensor, rank and chunk."""

import os
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torch.distributed")

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "torch_distributed",
                      "verify_tp.py")
pytestmark = pytest.mark.skipif(not os.path.exists(SCRIPT), reason="source tree example absent")


def run(*args):
    return subprocess.run([sys.executable, SCRIPT, "--nproc", "2"] + list(args),
                          capture_output=True, text=True, timeout=300)


def test_all_shards_match():
    r = run()
    assert r.returncode == 0, r.stdout + r.stderr
    assert "RESULT: as expected" in r.stdout
    assert "MISMATCH" not in r.stdout
    assert "(matches)" in r.stdout


@pytest.mark.parametrize("rank", [0, 1])
def test_planted_bit_flip_is_located(rank):
    r = run("--plant", str(rank))
    assert r.returncode == 0, r.stdout + r.stderr
    assert ("MISMATCH model.layers.1.mlp.gate_up_proj.weight on rank %d: chunk 12" % rank
            in r.stdout)
    assert r.stdout.count("MISMATCH ") == 1


def test_plant_outside_the_ranks_is_a_usage_error():
    assert run("--plant", "2").returncode == 2
