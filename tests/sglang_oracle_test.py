#!/usr/bin/env python3
"""`tensorhash expect --engine sglang` judged by SGLang itself: its models, loader and checker.

    sglang_oracle_test.py PATH/TO/tensorhash [CACHE_DIR]

Tiny random BF16 checkpoints (model.safetensors + config.json, a vocabulary that is not a
multiple of 64 so that SGLang pads it): Llama (tied embeddings), Qwen2 (q/k/v biases, untied
lm_head), Qwen3 (q_norm/k_norm, a head_dim of its own), Qwen3-MoE with every layer sparse, and
Qwen3-MoE with a dense layer (mlp_only_layers). For tp 1, 2, 4 and, for the MoE models, ep 1, 2,
every rank is built as SGLang's model runner builds it: ServerArgs published for that rank,
ModelConfig, SGLang's load config, and its DefaultModelLoader reading the checkpoint from disk
into SGLang's own model class. SGLang's WeightChecker then gives its `checksum` reply twice: as
on a CPU engine (tensor_hash's CPU branch: `expect --mode sglang-cpu`), and with tensor_hash's
GPU branch, SGLang's Triton kernel, run on the CPU tensors by Triton's interpreter (`expect
--mode sglang`). Each reply must equal what `tensorhash expect` wrote for that rank, name by name
both ways (nothing missing, nothing extra, same digest), in per_gpu_checksum and in placement
(tp, dp, pp). An engine SGLang refuses, or builds but loads leaving parameters unwritten (its
reply would hash leftover memory, not the checkpoint), `expect` must refuse too.

Nothing of SGLang is kept in this repository: the sglang wheel is fetched as
tests/sglang_kernel_test.py fetches it, unpacked into the cache directory and imported from
there, unchanged. No process group is created: each rank's groups are stand-ins holding SGLang's
own rank and size for that rank, which is all that building and loading read. tvm_ffi,
torchvision and vllm, imported by SGLang for kernels and processors that do not run here, are
stub modules whose members raise when called; availability probes (importlib.util.find_spec)
still find them absent. PyTorch's deterministic mode fills fresh memory with NaN, so a parameter
SGLang's loader never writes is reported as such rather than hashed as leftover memory.

Not covered: weight transforms SGLang applies after loading on other devices only (AMX packing
on CPU engines, AMD's MoE shuffle), and parallelism_info's world rank and size (torch.distributed
is not initialised here).

The cache directory is $TENSORHASH_SGLANG_CACHE, else CACHE_DIR, else build/sglang-cache in this
checkout. Exit code 77 (skipped): torch, triton, numpy, safetensors or transformers is not
importable, the wheel cannot be had, or its code does not import (a package it needs is missing;
scripts/sglang-oracle-env makes a virtual environment that has them).
"""
import contextlib
import importlib.abc
import importlib.machinery
import importlib.util
import io
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import types
import unittest
import warnings
import zipfile
from unittest import mock

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import sglang_kernel_test as kernel_test  # noqa: E402  (fetch_wheel, load_kernel_module, skip)

SGLANG_VERSION = kernel_test.SGLANG_VERSION
MODES = ("sglang", "sglang-cpu")
TP_SIZES = (1, 2, 4)
EP_SIZES = (1, 2)  # MoE models only
STUBBED = ("tvm_ffi", "torchvision", "vllm")

_BASE = {"hidden_size": 32, "num_attention_heads": 8, "num_key_value_heads": 2,
         "num_hidden_layers": 2, "intermediate_size": 48, "vocab_size": 100,
         "max_position_embeddings": 64, "rms_norm_eps": 1e-6, "rope_theta": 10000.0,
         "hidden_act": "silu", "torch_dtype": "bfloat16"}
_MOE = dict(_BASE, architectures=["Qwen3MoeForCausalLM"], model_type="qwen3_moe", head_dim=8,
            tie_word_embeddings=False, num_experts=4, num_experts_per_tok=2,
            moe_intermediate_size=16, decoder_sparse_step=1, mlp_only_layers=[],
            norm_topk_prob=True)
ARCHS = {
    "llama": dict(_BASE, architectures=["LlamaForCausalLM"], model_type="llama",
                  tie_word_embeddings=True),
    "qwen2": dict(_BASE, architectures=["Qwen2ForCausalLM"], model_type="qwen2",
                  tie_word_embeddings=False, vocab_size=130),
    "qwen3": dict(_BASE, architectures=["Qwen3ForCausalLM"], model_type="qwen3", head_dim=8,
                  tie_word_embeddings=False, vocab_size=200),
    "qwen3-moe": _MOE,
    "qwen3-moe-dense0": dict(_MOE, num_experts=8, mlp_only_layers=[0]),
}

torch = None
sg = None  # SGLang's code, filled by load_sglang()
CLI = None


# ---------------------------------------------------------------------------------------------
# SGLang's code, from the wheel

class _Stub(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports of STUBBED packages get empty modules whose every member is a class that raises
    when instantiated or called; importlib.util.find_spec still answers None for them."""

    def find_spec(self, fullname, path, target=None):
        if fullname.split(".")[0] not in STUBBED:
            return None
        if sys._getframe(2).f_code is importlib.util.find_spec.__code__:
            return None  # an availability probe, not an import
        return importlib.machinery.ModuleSpec(fullname, self, is_package=True)

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        def member(name):
            if name.startswith("__"):
                raise AttributeError(name)
            qualname = module.__name__ + "." + name

            def called(self, *args, **kwargs):
                raise RuntimeError("%s is a stub (tests/sglang_oracle_test.py)" % qualname)
            return type(name, (), {"__init__": called, "__module__": module.__name__})
        module.__getattr__ = member


def unpacked(wheel, cache):
    """The wheel's files, unpacked once into `cache`."""
    target = os.path.join(cache, "sglang-%s-site" % SGLANG_VERSION)
    if not os.path.isdir(target):
        staging = tempfile.mkdtemp(prefix="unpack-", dir=cache)
        with zipfile.ZipFile(wheel) as z:
            z.extractall(staging)
        os.replace(staging, target)
    return target


def load_sglang(cache):
    """SGLang's model-building, loading and checking code; exits 77 when it cannot be had."""
    global torch
    try:
        import numpy  # noqa: F401
        import safetensors  # noqa: F401
        import torch as torch_module
        import transformers  # noqa: F401
        import triton  # noqa: F401
    except Exception as e:  # ImportError, or a broken install
        kernel_test.skip("torch, triton, numpy, safetensors and transformers are needed: %s" % e)
    torch = torch_module
    wheel = kernel_test.fetch_wheel(cache)
    if wheel is None:
        kernel_test.skip("the sglang %s wheel cannot be downloaded into %s"
                         % (SGLANG_VERSION, cache))
    sys.path.insert(0, unpacked(wheel, cache))
    sys.meta_path.insert(0, _Stub())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SGLang's notes on kernels this CPU lacks
        try:
            from sglang.srt.configs.device_config import DeviceConfig
            from sglang.srt.configs.model_config import ModelConfig
            from sglang.srt.model_executor.model_runner_components.load_model_utils import (
                build_load_config)
            from sglang.srt.model_loader import get_model_loader
            from sglang.srt.runtime_context import (SpawnRanks, get_parallel, publish,
                                                    reset_context)
            from sglang.srt.server_args import ServerArgs
            from sglang.srt.utils import weight_checker
        except ImportError as e:
            kernel_test.skip("the sglang %s wheel's code does not import here: %s"
                             % (SGLANG_VERSION, e))
    logging.getLogger("sglang").setLevel(logging.ERROR)
    s = types.SimpleNamespace(
        DeviceConfig=DeviceConfig, ModelConfig=ModelConfig, build_load_config=build_load_config,
        get_model_loader=get_model_loader, SpawnRanks=SpawnRanks, get_parallel=get_parallel,
        publish=publish, reset_context=reset_context, ServerArgs=ServerArgs,
        weight_checker=weight_checker, wheel=wheel)
    with zipfile.ZipFile(wheel) as z:
        source = z.read(kernel_test.KERNEL_FILE).decode("utf-8")
    workdir = os.path.join(cache, "sglang-%s-oracle" % SGLANG_VERSION)
    os.makedirs(workdir, exist_ok=True)
    kernel, _ = kernel_test.load_kernel_module(source, workdir)
    s.gpu_tensor_hash = memoised(kernel.gpu_tensor_hash)
    return s


def memoised(kernel_hash):
    """`kernel_hash` computed once per distinct byte string (the kernel reads bytes only):
    replicated parameters recur on every rank, and the interpreter takes ~0.15 s a tensor."""
    values = {}

    def tensor_hash(t):
        key = t.detach().contiguous().view(-1).view(torch.uint8).numpy().tobytes()
        if key not in values:
            values[key] = kernel_hash(t)
        return values[key]
    return tensor_hash


class Group:
    """A process group as SGLang's layers read it while being built and loaded: the rank's
    place in it and no communicator (nothing communicates here)."""
    cpu_group = device_group = None

    def __init__(self, rank, size):
        self.rank_in_group, self.world_size = rank, size
        self.is_first_rank, self.is_last_rank = rank == 0, rank == size - 1


def load_rank(path, tp, ep, rank):
    """SGLang's model as rank `rank` of an engine (tp, ep) loads the checkpoint at `path`, or
    the error with which SGLang refuses that engine."""
    sg.reset_context()
    try:
        args = sg.ServerArgs(model_path=path, tp_size=tp, ep_size=ep, device="cpu")
        sg.publish(args, role="test", ranks=sg.SpawnRanks(world_rank=rank))
    except (AssertionError, ValueError) as e:
        return None, e
    parallel = sg.get_parallel()  # the ranks SGLang derived for this world rank
    groups = {name + "_group": Group(getattr(parallel, name + "_rank"),
                                     getattr(parallel, name + "_size"))
              for name in ("tp", "attn_tp", "attn_cp", "pp", "moe_ep", "moe_tp", "moe_dp")}
    parallel.override_permanently(world_group=Group(rank, tp), **groups)
    model_config = sg.ModelConfig.from_server_args(args)
    load_config = sg.build_load_config(
        server_args=args, tp_rank=rank, remote_instance_weight_transporter_engine=None,
        remote_instance_weight_transporter_session_id=None, draft_model_idx=None,
        weight_cache_mode="off", weight_cache_socket=None)
    loader = sg.get_model_loader(load_config=load_config, model_config=model_config)
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):  # progress bars
        warnings.simplefilter("ignore")
        model = loader.load_model(model_config=model_config,
                                  device_config=sg.DeviceConfig("cpu"))
    return model, None


def checksum_replies(model):
    """{mode: SGLang's WeightChecker `checksum` reply} for this model."""
    checker = sg.weight_checker.WeightChecker(get_model=lambda: model)
    cpu = checker.handle("checksum", role="target")
    with mock.patch.object(sg.weight_checker, "tensor_hash", sg.gpu_tensor_hash):
        gpu = checker.handle("checksum", role="target")
    return {"sglang": gpu, "sglang-cpu": cpu}


# ---------------------------------------------------------------------------------------------
# Checkpoints

def is_sparse(cfg, layer):
    """transformers' rule (Qwen3MoeDecoderLayer) for a layer with a sparse MoE block."""
    return (cfg.get("num_experts", 0) > 0 and layer not in cfg["mlp_only_layers"]
            and (layer + 1) % cfg["decoder_sparse_step"] == 0)


def hf_tensors(cfg, gen):
    """{HF name: BF16 tensor} of a model of config `cfg`, as transformers names them."""
    hidden, heads, kv = (cfg[k] for k in ("hidden_size", "num_attention_heads",
                                          "num_key_value_heads"))
    head_dim = cfg.get("head_dim", hidden // heads)

    def t(*shape):
        return torch.randn(shape, generator=gen).to(torch.bfloat16)

    def mlp(prefix, inter):
        out[prefix + "gate_proj.weight"] = t(inter, hidden)
        out[prefix + "up_proj.weight"] = t(inter, hidden)
        out[prefix + "down_proj.weight"] = t(hidden, inter)

    out = {"model.embed_tokens.weight": t(cfg["vocab_size"], hidden),
           "model.norm.weight": t(hidden)}
    if not cfg["tie_word_embeddings"]:
        out["lm_head.weight"] = t(cfg["vocab_size"], hidden)
    for layer in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d." % layer
        for proj, rows in (("q", heads), ("k", kv), ("v", kv)):
            out[p + "self_attn.%s_proj.weight" % proj] = t(rows * head_dim, hidden)
            if cfg["model_type"] == "qwen2":
                out[p + "self_attn.%s_proj.bias" % proj] = t(rows * head_dim)
        out[p + "self_attn.o_proj.weight"] = t(hidden, heads * head_dim)
        if cfg["model_type"].startswith("qwen3"):
            out[p + "self_attn.q_norm.weight"] = t(head_dim)
            out[p + "self_attn.k_norm.weight"] = t(head_dim)
        out[p + "input_layernorm.weight"] = t(hidden)
        out[p + "post_attention_layernorm.weight"] = t(hidden)
        if is_sparse(cfg, layer):
            out[p + "mlp.gate.weight"] = t(cfg["num_experts"], hidden)
            for e in range(cfg["num_experts"]):
                mlp(p + "mlp.experts.%d." % e, cfg["moe_intermediate_size"])
        else:
            mlp(p + "mlp.", cfg["intermediate_size"])
    return out


# ---------------------------------------------------------------------------------------------
# Tests

def generic(name):
    return re.sub(r"\.\d+\.", ".*.", name)


def differences(got, want, model):
    """One line per name on which SGLang's checksums `got` and tensorhash's `want` differ."""
    state = dict(model.named_buffers())
    state.update(model.named_parameters())
    lines = []
    for name in sorted(set(got) | set(want)):
        if got.get(name) == want.get(name):
            continue
        t = state.get(name)
        held = "" if t is None else "; SGLang holds %s %s" % (
            str(t.dtype).replace("torch.", ""), list(t.shape))
        if name not in got:
            lines.append("  only expected by tensorhash: %s%s" % (name, held))
        elif name not in want:
            lines.append("  only reported by SGLang:     %s%s" % (name, held))
        else:
            lines.append("  digests differ:              %s (SGLang %s, tensorhash %s)%s"
                         % (name, got[name], want[name], held))
    return lines


def never_written(t):
    return t.is_floating_point() and t.numel() > 0 and bool(torch.isnan(t.float()).all())


class SGLangOracleTest(unittest.TestCase):
    summary = []

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="tensorhash-oracle-")
        cls.paths = {}
        gen = torch.Generator().manual_seed(20240611)
        from safetensors.torch import save_file
        for arch, cfg in ARCHS.items():
            path = os.path.join(cls.dir, arch)
            os.makedirs(path)
            save_file(hf_tensors(cfg, gen), os.path.join(path, "model.safetensors"),
                      metadata={"format": "pt"})
            with open(os.path.join(path, "config.json"), "w") as f:
                json.dump(cfg, f)
            cls.paths[arch] = path

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir)
        print("\nCompared with SGLang %s (%s):" % (SGLANG_VERSION, os.path.basename(sg.wheel)))
        for line in cls.summary:
            print("  " + line)

    def expect(self, arch, tp, ep, mode):
        out = os.path.join(self.dir, "%s-tp%d-ep%d-%s.json" % (arch, tp, ep, mode))
        r = subprocess.run([CLI, "expect", self.paths[arch], "--engine", "sglang", "--tp",
                            str(tp), "--ep", str(ep), "--mode", mode, "-o", out],
                           capture_output=True, text=True)
        if r.returncode != 0:
            return r
        with open(out) as f:
            return json.load(f)

    def check(self, arch):
        sparse = ARCHS[arch].get("num_experts", 0) > 0
        for tp in TP_SIZES:
            for ep in EP_SIZES if sparse else (1,):
                with self.subTest(arch=arch, tp=tp, ep=ep):
                    self.check_engine(arch, tp, ep)

    def check_engine(self, arch, tp, ep):
        """Every rank's replies equal `expect`'s; or SGLang refuses the engine, or loads it
        leaving parameters unwritten (its reply would hash leftover memory), and `expect`
        refuses it too."""
        label = "%-16s tp %d ep %d:" % (arch, tp, ep)
        expected = {mode: self.expect(arch, tp, ep, mode) for mode in MODES}
        problems = {}  # difference lines -> the (mode, rank) replies that have them
        equal, names, skipped = 0, set(), set()
        for rank in range(tp):
            model, refusal = load_rank(self.paths[arch], tp, ep, rank)
            unwritten = [] if model is None else \
                [n for n, p in model.named_parameters() if never_written(p)]
            if refusal is not None or unwritten:
                if refusal is not None:
                    why = "SGLang refuses it (%s)" % " ".join(
                        line.strip() for line in str(refusal).splitlines())
                else:
                    why = "SGLang's loader leaves %s unwritten" % ", ".join(unwritten)
                for mode, want in expected.items():
                    if isinstance(want, dict):
                        self.fail("%s %s, yet `expect --mode %s` predicts a reply"
                                  % (label, why, mode))
                    self.assertEqual(want.returncode, 2, want.stderr)
                self.summary.append("%s %s; tensorhash refuses it: %s"
                                    % (label, why, expected["sglang"].stderr.strip()
                                       .replace(self.paths[arch] + os.sep, "")))
                return
            for mode, want in expected.items():
                if not isinstance(want, dict):
                    self.fail("%s SGLang builds and loads this engine; `expect --mode %s` "
                              "fails: %s" % (label, mode, want.stderr.strip()))
            state = [n for n, _ in model.named_parameters()] + \
                [n for n, _ in model.named_buffers()]
            for mode, got in checksum_replies(model).items():
                want = expected[mode]["ranks"][rank]
                lines = differences(got["checksums"], want["checksums"], model)
                if got["per_gpu_checksum"] != want["per_gpu_checksum"]:
                    lines.append("  per_gpu_checksum differs")
                for key, value in got["parallelism_info"].items():
                    if key not in ("rank", "size") and want["parallelism_info"][0][key] != value:
                        lines.append("  parallelism_info %s: SGLang %r, tensorhash %r"
                                     % (key, value, want["parallelism_info"][0][key]))
                if lines:
                    problems.setdefault("\n".join(lines), []).append("%s/%d" % (mode, rank))
                equal += sum(got["checksums"].get(n) == h for n, h in want["checksums"].items())
                names.update(got["checksums"])
                skipped.update(generic(n) for n in state if n not in got["checksums"])
        self.summary.append(
            "%s %d rank(s) x %d names x 2 modes: %d digests equal%s%s"
            % (label, tp, len(names), equal,
               ", %d rank-mode replies DIFFER" % sum(map(len, problems.values()))
               if problems else "",
               "; not hashed by SGLang: %s" % ", ".join(sorted(skipped)) if skipped else ""))
        if problems:
            self.fail("SGLang's replies differ from `tensorhash expect`:\n" + "\n".join(
                "%s (mode/rank) %s\n%s" % (label, " ".join(where), lines)
                for lines, where in problems.items()))

    def test_llama_tied_embeddings(self):
        self.check("llama")

    def test_qwen2_biases(self):
        self.check("qwen2")

    def test_qwen3_qk_norm(self):
        self.check("qwen3")

    def test_qwen3_moe_all_sparse(self):
        self.check("qwen3-moe")

    def test_qwen3_moe_with_a_dense_layer(self):
        self.check("qwen3-moe-dense0")


def main():
    global sg, CLI
    if len(sys.argv) < 2 or sys.argv[1].startswith("-"):
        sys.exit("usage: sglang_oracle_test.py PATH/TO/tensorhash [CACHE_DIR] [unittest args]")
    CLI = os.path.abspath(sys.argv.pop(1))
    default = os.path.join(HERE, "..", "build", "sglang-cache")
    if len(sys.argv) > 1 and not sys.argv[1].startswith("-"):
        default = sys.argv.pop(1)
    cache = os.path.abspath(os.environ.get("TENSORHASH_SGLANG_CACHE") or default)
    # Before triton is imported: its CPU interpreter runs SGLang's hash kernel. SGLang's CPU
    # engine (SGLANG_USE_CPU_ENGINE=1) takes other code paths, with sgl_kernel's CPU build;
    # this test builds the models as for GPUs, on the CPU.
    os.environ["TRITON_INTERPRET"] = "1"
    os.environ["SGLANG_USE_CPU_ENGINE"] = "0"
    start = time.time()
    sg = load_sglang(cache)
    torch.use_deterministic_algorithms(True)  # fresh memory is NaN: unwritten parameters show
    print("sglang %s from %s; loaded in %.1f s" % (SGLANG_VERSION, sg.wheel, time.time() - start))
    unittest.main(verbosity=2)


if __name__ == "__main__":
    main()
