#!/usr/bin/env python3
"""The GPU run's report and checks (scripts/gpu-run, scripts/build-bundle).

    gpu_report.py junit FILE.xml                 one line: test cases, failures, time, failing names
    gpu_report.py table BENCH.json               Markdown table of one Google Benchmark JSON
    gpu_report.py errors BENCH.json              the benchmarks that could not run (one line)
    gpu_report.py figures --bench DIR [--gpu NAME] [--commit SHA]
                                                 the headline figures, Markdown
    gpu_report.py json --steps steps.tsv --bench DIR --out report.json [--gpu NAME] [--commit SHA]
    gpu_report.py sources ROOT                   sha256 of the sources a bundle is built from (JSON)
    gpu_report.py verify BUNDLE ROOT [--unpacked DIR]
                                                 bundle.tar.gz (or the unpacked files) as
                                                 BUNDLE.json says, built from ROOT's sources
    gpu_report.py commit BUNDLE                  the bundle's commit, for the report
    gpu_report.py preflight                      what the module build and Triton need, one line

DIR holds what gpu-run's benchmark steps wrote: device_bench.json, hybrid_bench.json (Google
Benchmark JSON, possibly cut short by a timeout: the runs written before are read) and
sglang_loop.json (benchmarks/sglang_gpu_bench.py). Every throughput is set against the
device-to-device copy of the same run. A copy of N bytes reads N and writes N, so "vs copy"
divides the bytes a hash reads per second by the copy's memory traffic (2N per second): a hash
that reads its input once at the copy's bandwidth scores 1.0.
"""
import argparse
import glob
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import xml.etree.ElementTree as ET

UNIT = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}


def load(path):
    """A JSON file; a Google Benchmark file cut short keeps the runs it had written."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return None
    try:
        return json.loads(text)
    except ValueError:
        pass
    # Google Benchmark writes each run as it ends: close the list after the last whole run.
    end = text.rfind("\n    }")
    while end != -1:
        try:
            return json.loads(text[:end + 6] + "\n  ]\n}")
        except ValueError:
            end = text.rfind("\n    }", 0, end)
    return None


def rows(data):
    """name (without /manual_time and /iterations:N) -> benchmark entry, errors left out."""
    out = {}
    for b in (data or {}).get("benchmarks", []):
        if b.get("run_type", "iteration") != "iteration" or b.get("error_occurred"):
            continue
        name = "/".join(p for p in b["name"].split("/")
                        if p != "manual_time" and not p.startswith("iterations:"))
        out[name] = b
    return out


def seconds(b):
    return b["real_time"] * UNIT[b["time_unit"]]


def figures(bench_dir):
    """The headline figures: a list of dicts with name, value, unit, ratio, goal, met."""
    dev = rows(load(os.path.join(bench_dir, "device_bench.json")))
    hyb = rows(load(os.path.join(bench_dir, "hybrid_bench.json")))
    loop = load(os.path.join(bench_dir, "sglang_loop.json"))
    out, missing = [], []
    copy = dev.get("BM_d2d_copy/1073741824")
    traffic = 2 * copy["bytes_per_second"] if copy else None

    def add(name, value, unit, ratio=None, goal=None, met=None):
        out.append({"name": name, "value": value, "unit": unit, "ratio": ratio, "goal": goal,
                    "met": met})

    if copy:
        add("device-to-device copy, 1 GiB (memory traffic: read + write)", traffic / 1e12, "TB/s",
            1.0)
    else:
        missing.append("device-to-device copy")
    # (benchmark, label, goal in TB/s of hashed bytes, bytes read per byte hashed)
    for key, label, goal_tbs, read in [
            ("BM_state_dict<th::tree, th::as_stored>", "tree, 7B-shaped BF16 dict", 0.9, 1),
            ("BM_tile_path<th::to_bf16, false>",
             "tree, 1 GiB of F32 hashed as BF16 (tile path; TB/s of BF16)", None, 2)]:
        b = dev.get(key)
        if b:
            tbs = b["bytes_per_second"] / 1e12
            add(label, tbs, "TB/s", read * tbs * 1e12 / traffic if traffic else None,
                ">= %.1f TB/s" % goal_tbs if goal_tbs else None,
                tbs >= goal_tbs if goal_tbs else None)
        else:
            missing.append(label)
    b3 = dev.get("BM_state_dict<th::exact, th::as_stored, th::blake3>")
    label = "BLAKE3 (b3sum's digest per tensor), 7B-shaped BF16 dict"
    if b3:
        tbs = b3["bytes_per_second"] / 1e12
        # goal: 0.7x the bytes a copy moves per second (issue 22), i.e. 0.35x its traffic
        add(label, tbs, "TB/s", b3["bytes_per_second"] / traffic if traffic else None,
            ">= 0.7x the copy's bytes/s",
            b3["bytes_per_second"] >= 0.35 * traffic if traffic else None)
    else:
        missing.append(label)
    for mode in ("tree", "exact"):
        b = dev.get("BM_small_tensors<th::%s>/10000" % mode)
        if b:
            us = seconds(b) * 1e6
            goal = mode == "tree"
            add("%s, 10 000 x 4 KiB tensors" % mode, us, "us",
                b["bytes_per_second"] / traffic if traffic else None,
                "<= 100 us" if goal else None, us <= 100 if goal else None)
        else:
            missing.append("%s, 10 000 x 4 KiB tensors" % mode)
    hybrid, base = hyb.get("BM_hybrid_exact"), hyb.get("BM_cpu_hashlib_baseline")
    hcopy = hyb.get("BM_d2d_copy_state_dict")
    if hybrid:
        s = seconds(hybrid)
        add("hybrid exact, 7B-shaped dict", s, "s",
            hybrid["bytes_per_second"] / (2 * hcopy["bytes_per_second"]) if hcopy else None,
            "<= 1 s", s <= 1.0)
        if base:
            speedup = seconds(base) / s
            add("hybrid exact vs .cpu() + hashlib loop (%.2f s)" % seconds(base), speedup, "x",
                None, ">= 15x", speedup >= 15)
        else:
            missing.append(".cpu() + hashlib loop")
    else:
        missing.append("hybrid exact")
    ours = dev.get("BM_sglang_state_dict")
    if ours:
        add("SGLang hash, batched, 7B-shaped dict", seconds(ours) * 1e3, "ms",
            ours["bytes_per_second"] / traffic if traffic else None)
        if loop:
            # the loop's wall time (Python, a sync per tensor) against the batch's CUDA-event time
            speedup = loop["seconds"] / seconds(ours)
            add("SGLang batched vs SGLang's own per-tensor loop (%.1f ms wall)"
                % (loop["seconds"] * 1e3), speedup, "x", None, ">= 10x", speedup >= 10)
        else:
            missing.append("SGLang's own loop")
    else:
        missing.append("SGLang batched")
    return out, missing


def figures_markdown(figs, missing, gpu, commit):
    lines = ["", "## Figures (%s, commit %s)" % (gpu, commit), "",
             "| figure | value | vs copy | goal | met |", "|---|---|---|---|---|"]
    lines += ["| %s | missing (did not run) | - | - | - |" % m for m in missing]
    for f in figs:
        lines.append("| %s | %.3f %s | %s | %s | %s |" % (
            f["name"], f["value"], f["unit"],
            "-" if f["ratio"] is None else "%.2f" % f["ratio"], f["goal"] or "-",
            {True: "yes", False: "**no**", None: "-"}[f["met"]]))
    return "\n".join(lines) + "\n"


def table(data):
    lines = ["", "| benchmark | time | tensor GB/s | launches |", "|---|---|---|---|"]
    for name, b in rows(data).items():
        lines.append("| %s | %.3f %s | %.1f | %s |" % (
            name, b["real_time"], b["time_unit"], b.get("bytes_per_second", 0) / 1e9,
            int(b["launches"]) if "launches" in b else "-"))
    return "\n".join(lines) + "\n"


def junit(path):
    """Catch2 v2 writes a <testcase> per test case and section leaf; its suite's `tests` and
    `failures` attributes count assertions."""
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    cases = list(root.iter("testcase"))
    failed = sorted({c.get("name") for c in cases
                     if c.find("failure") is not None or c.find("error") is not None})
    assertions = sum(int(s.get("tests", 0)) for s in suites)
    time = sum(float(s.get("time", 0)) for s in suites)
    line = "%d test cases/sections (%d assertions), %d failed, %.1f s" % (
        len(cases), assertions, len(failed), time)
    if failed:
        line += ": " + "; ".join(failed[:8]) + (" ..." if len(failed) > 8 else "")
    return line


def errors(path):
    """The benchmarks of a JSON file that could not run (SkipWithError), with their reasons."""
    data = load(path)
    if data is None:
        return "no readable %s" % os.path.basename(path)
    return "; ".join("%s (%s)" % (b["name"], b.get("error_message", "?"))
                     for b in data.get("benchmarks", []) if b.get("error_occurred"))


SOURCE_DIRS = ("include", "bindings", "tools", "tests", "benchmarks")
SOURCE_EXTS = (".hpp", ".cuh", ".cu", ".cpp", ".h", ".txt", ".cmake")


def sources(root):
    """sha256 of what the bundle's binaries and device library are compiled from."""
    out = {}
    for top in SOURCE_DIRS:
        for d, dirs, names in os.walk(os.path.join(root, top)):
            dirs[:] = sorted(x for x in dirs if x not in ("__pycache__", "data"))
            for n in sorted(names):
                if n.endswith(SOURCE_EXTS):
                    p = os.path.join(d, n)
                    out[os.path.relpath(p, root)] = sha256_of(p)
    out["CMakeLists.txt"] = sha256_of(os.path.join(root, "CMakeLists.txt"))
    return out


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify(bundle, root, unpacked):
    """None when the bundle is whole and built from ROOT's sources, else what is wrong."""
    info = load(os.path.join(bundle, "BUNDLE.json"))
    if info is None:
        return "BUNDLE.json cannot be read"
    if unpacked:
        for f in info["files"]:
            p = os.path.join(unpacked, f["path"])
            if not os.path.isfile(p) or sha256_of(p) != f["sha256"]:
                return "%s differs from BUNDLE.json" % f["path"]
        return None
    if sha256_of(os.path.join(bundle, info["packed"]["path"])) != info["packed"]["sha256"]:
        return "bundle.tar.gz differs from BUNDLE.json (a damaged copy)"
    here = sources(root)
    stale = sorted(p for p in set(here) | set(info["sources"])
                   if here.get(p) != info["sources"].get(p))
    if stale:
        return ("bundle stale: built from other sources than this tree's (%s%s): run "
                "scripts/build-bundle again" % (", ".join(stale[:5]), " ..." if len(stale) > 5
                                                 else ""))
    return None


def preflight():
    """What building the module and Triton's launcher need on this machine, one line."""
    include = sysconfig.get_paths()["include"]
    facts = ["Python %s, Python.h %s" % (sysconfig.get_python_version(), "found" if os.path.exists(
        os.path.join(include, "Python.h")) else "MISSING (%s)" % include)]
    cxx = shutil.which("g++") or shutil.which("c++")
    facts.append(subprocess.run([cxx, "-dumpfullversion"], capture_output=True, text=True)
                 .stdout.strip().join(["g++ ", ""]) if cxx else "g++ MISSING")
    nvcc = shutil.which("nvcc")
    cuda = os.path.dirname(os.path.dirname(nvcc)) if nvcc else "/usr/local/cuda"
    facts.append("libcudart_static.a %s" % ("found" if glob.glob(
        os.path.join(cuda, "**", "libcudart_static.a"), recursive=True) else "MISSING"))
    for module in ("numpy", "torch", "triton", "nanobind", "scikit_build_core", "pytest"):
        found = importlib.util.find_spec(module) is not None  # found, not imported: no seconds
        facts.append(module if found else module + " MISSING")
    return "; ".join(facts)


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="what", required=True)
    for name in ("junit", "table", "errors"):
        sub.add_parser(name).add_argument("file")
    sub.add_parser("sources").add_argument("root")
    sub.add_parser("commit").add_argument("bundle")
    sub.add_parser("preflight")
    p = sub.add_parser("verify")
    p.add_argument("bundle")
    p.add_argument("root")
    p.add_argument("--unpacked")
    for name in ("figures", "json"):
        p = sub.add_parser(name)
        p.add_argument("--bench", required=True)
        p.add_argument("--gpu", default="?")
        p.add_argument("--commit", default="?")
        if name == "json":
            p.add_argument("--steps", required=True)
            p.add_argument("--out", required=True)
    args = parser.parse_args()
    if args.what == "junit":
        print(junit(args.file))
    elif args.what == "table":
        print(table(load(args.file)), end="")
    elif args.what == "errors":
        print(errors(args.file))
    elif args.what == "sources":
        json.dump(sources(args.root), sys.stdout, indent=1)
    elif args.what == "commit":
        info = load(os.path.join(args.bundle, "BUNDLE.json"))
        print(info["commit"][:12] + (" (with local changes)" if info["local_changes"] else ""))
    elif args.what == "preflight":
        print(preflight())
    elif args.what == "verify":
        problem = verify(args.bundle, args.root, args.unpacked)
        if problem:
            sys.exit("gpu-run: " + problem)
    elif args.what == "figures":
        print(figures_markdown(*figures(args.bench), args.gpu, args.commit), end="")
    else:
        steps = []
        with open(args.steps) as f:
            for line in f:
                name, result, secs = line.rstrip("\n").split("\t")
                steps.append({"name": name, "result": result, "seconds": int(secs)})
        figs, missing = figures(args.bench)
        report = {"gpu": args.gpu, "commit": args.commit, "steps": steps, "figures": figs,
                  "missing_figures": missing}
        tmp = args.out + ".tmp"
        with open(tmp, "w") as f:
            json.dump(report, f, indent=1)
        os.replace(tmp, args.out)


if __name__ == "__main__":
    main()
