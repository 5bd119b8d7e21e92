#!/usr/bin/env python3
"""benchmarks/gpu_report.py on benchmark JSON shaped as Google Benchmark writes it, and on a
Catch2 JUnit file: the figures of scripts/gpu-run's report are right before a GPU ever runs them.

    gpu_report_test.py [CATCH2_TEST]   (a Catch2 test binary, run with -r junit for a real file)
"""
import json
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPORT = os.path.join(HERE, "..", "benchmarks", "gpu_report.py")
sys.path.insert(0, os.path.dirname(REPORT))
import gpu_report  # noqa: E402


def bench(name, real_time, unit, bytes_per_second=None, **counters):
    b = {"name": name, "run_type": "iteration", "real_time": real_time, "time_unit": unit}
    if bytes_per_second is not None:
        b["bytes_per_second"] = bytes_per_second
    b.update(counters)
    return b


def write(path, benchmarks):
    with open(path, "w") as f:
        json.dump({"context": {"date": "2026-12-03"}, "benchmarks": benchmarks}, f)


def main():
    failures = []

    def check(what, got, want, tol=1e-9):
        if abs(got - want) > tol * max(1.0, abs(want)):
            failures.append("%s: got %r, want %r" % (what, got, want))

    with tempfile.TemporaryDirectory() as d:
        write(os.path.join(d, "device_bench.json"), [
            # a 1 GiB copy at 1.5e12 bytes/s: 3.0e12 bytes/s of memory traffic
            bench("BM_d2d_copy/1073741824/manual_time", 0.716, "ms", 1.5e12),
            bench("BM_state_dict<th::tree, th::as_stored>/manual_time", 16.0, "ms", 0.96e12,
                  launches=3),
            # 0.6e12 bytes/s of BF16 hashed: 1.2e12 bytes/s of F32 read
            bench("BM_tile_path<th::to_bf16, false>/manual_time", 2.0, "ms", 0.6e12),
            bench("BM_state_dict<th::exact, th::as_stored, th::blake3>/manual_time", 7.0, "ms",
                  2.2e12),
            bench("BM_small_tensors<th::tree>/10000/manual_time", 80.0, "us", 0.5e12),
            bench("BM_small_tensors<th::exact>/10000/manual_time", 150.0, "us", 0.27e12),
            bench("BM_sglang_state_dict/manual_time", 12.0, "ms", 1.27e12),
            {"name": "BM_leaf_variant<x>/manual_time", "run_type": "iteration",
             "error_occurred": True, "error_message": "not enough device memory"},
        ])
        write(os.path.join(d, "hybrid_bench.json"), [
            bench("BM_d2d_copy_state_dict/manual_time", 10.0, "ms", 1.52e12),
            bench("BM_hybrid_exact/iterations:5/manual_time", 0.8, "s", 19e9),
            bench("BM_cpu_hashlib_baseline/iterations:1/manual_time", 12000.0, "ms", 1.27e9),
        ])
        with open(os.path.join(d, "sglang_loop.json"), "w") as f:
            json.dump({"tensors": 339, "bytes": 15.2e9, "seconds": 0.3}, f)

        found, missing = gpu_report.figures(d)
        figs = {f["name"]: f for f in found}
        if missing:
            failures.append("missing figures: %r" % missing)
        copy = figs["device-to-device copy, 1 GiB (memory traffic: read + write)"]
        check("copy traffic", copy["value"], 3.0)
        tree = figs["tree, 7B-shaped BF16 dict"]
        check("tree TB/s", tree["value"], 0.96)
        check("tree vs copy", tree["ratio"], 0.32)
        if tree["met"] is not True:
            failures.append("0.96 TB/s meets the 0.9 TB/s goal")
        tile = figs["tree, 1 GiB of F32 hashed as BF16 (tile path; TB/s of BF16)"]
        check("tile path vs copy (bytes read)", tile["ratio"], 0.4)
        small = figs["tree, 10 000 x 4 KiB tensors"]
        check("10 000 x 4 KiB in us", small["value"], 80.0)
        if small["met"] is not True:
            failures.append("80 us meets the 100 us goal")
        if figs["exact, 10 000 x 4 KiB tensors"]["met"] is not None:
            failures.append("exact small tensors have no goal")
        hybrid = figs["hybrid exact, 7B-shaped dict"]
        check("hybrid s", hybrid["value"], 0.8)
        check("hybrid vs its copy", hybrid["ratio"], 19e9 / 3.04e12)
        speed = figs["hybrid exact vs .cpu() + hashlib loop (12.00 s)"]
        check("hybrid speedup", speed["value"], 15.0)
        if speed["met"] is not True:
            failures.append("15x meets the 15x goal")
        sglang = figs["SGLang batched vs SGLang's own per-tensor loop (300.0 ms wall)"]
        check("SGLang speedup", sglang["value"], 25.0)
        if any("leaf_variant" in n for n in figs):
            failures.append("a benchmark that did not run is no figure")
        md = gpu_report.figures_markdown(found, ["hybrid exact"], "H200", "abc")
        if "| tree, 7B-shaped BF16 dict | 0.960 TB/s | 0.32 | >= 0.9 TB/s | yes |" not in md:
            failures.append("figures table row:\n" + md)
        if "| hybrid exact | missing (did not run) |" not in md:
            failures.append("a missing figure is listed:\n" + md)

        # a benchmark file cut short by a timeout keeps the runs written before
        whole = os.path.join(d, "device_bench.json")
        with open(whole) as f:
            text = json.dumps(json.load(f), indent=2)
        cut = os.path.join(d, "cut.json")
        with open(cut, "w") as f:
            f.write(text[:text.index("BM_small_tensors<th::exact>") + 10])
        kept = gpu_report.rows(gpu_report.load(cut))
        if sorted(kept) != sorted(["BM_d2d_copy/1073741824",
                                   "BM_state_dict<th::tree, th::as_stored>",
                                   "BM_tile_path<th::to_bf16, false>",
                                   "BM_state_dict<th::exact, th::as_stored, th::blake3>",
                                   "BM_small_tensors<th::tree>/10000"]):
            failures.append("cut file: %r" % sorted(kept))
        if gpu_report.errors(whole) != "BM_leaf_variant<x>/manual_time (not enough device memory)":
            failures.append("errors: %r" % gpu_report.errors(whole))

        steps = os.path.join(d, "steps.tsv")
        with open(steps, "w") as f:
            f.write("nvidia-smi\tPASS\t1\ndevice_test\tFAIL (exit 1)\t40\n")
        out = os.path.join(d, "report.json")
        subprocess.run([sys.executable, REPORT, "json", "--steps", steps, "--bench", d,
                        "--out", out, "--gpu", "H200, 580.1", "--commit", "abc"], check=True)
        with open(out) as f:
            report = json.load(f)
        if [s["result"] for s in report["steps"]] != ["PASS", "FAIL (exit 1)"] or \
                len(report["figures"]) != len(figs) or report["gpu"] != "H200, 580.1" or \
                report["missing_figures"]:
            failures.append("report.json: %r" % report)

        junit = os.path.join(d, "junit.xml")
        with open(junit, "w") as f:
            f.write('<testsuites><testsuite name="t" errors="0" failures="1" tests="7" '
                    'time="1.5"><testcase name="a"/><testcase name="b"><failure '
                    'message="x"/></testcase><testcase name="c"/></testsuite></testsuites>')
        if gpu_report.junit(junit) != "3 test cases/sections (7 assertions), 1 failed, 1.5 s: b":
            failures.append("junit: %r" % gpu_report.junit(junit))
        if len(sys.argv) > 1:  # what Catch2 itself writes
            real = os.path.join(d, "real.xml")
            subprocess.run([sys.argv[1], "-r", "junit", "-o", real], check=True,
                           stdout=subprocess.DEVNULL)
            line = gpu_report.junit(real)
            if ", 0 failed, " not in line or not re.match(r"[1-9][0-9]* test cases/sections", line):
                failures.append("junit of a passing Catch2 run: %r" % line)

        # verify: a whole bundle of this tree's sources passes; a damaged file or a changed
        # source does not
        tree, bundle = os.path.join(d, "tree"), os.path.join(d, "bundle")
        os.makedirs(os.path.join(tree, "include", "tensorhash"))
        os.makedirs(os.path.join(bundle, "files"))
        for path, text in [("CMakeLists.txt", "project(x)\n"),
                           ("include/tensorhash/a.hpp", "#pragma once\n")]:
            with open(os.path.join(tree, path), "w") as f:
                f.write(text)
        packed = os.path.join(bundle, "bundle.tar.gz")
        with open(packed, "wb") as f:
            f.write(b"packed")
        with open(os.path.join(bundle, "files", "bin"), "wb") as f:
            f.write(b"binary")
        info = {"packed": {"path": "bundle.tar.gz", "sha256": gpu_report.sha256_of(packed)},
                "files": [{"path": "bin", "sha256": gpu_report.sha256_of(
                    os.path.join(bundle, "files", "bin"))}],
                "sources": gpu_report.sources(tree)}
        with open(os.path.join(bundle, "BUNDLE.json"), "w") as f:
            json.dump(info, f)
        unpacked = os.path.join(bundle, "files")
        if gpu_report.verify(bundle, tree, None) or gpu_report.verify(bundle, tree, unpacked):
            failures.append("verify of a whole bundle: %r" % gpu_report.verify(bundle, tree, None))
        with open(os.path.join(unpacked, "bin"), "ab") as f:
            f.write(b"!")
        if "bin differs" not in (gpu_report.verify(bundle, tree, unpacked) or ""):
            failures.append("a damaged unpacked file passes")
        with open(os.path.join(tree, "include", "tensorhash", "a.hpp"), "a") as f:
            f.write("// changed\n")
        if "bundle stale" not in (gpu_report.verify(bundle, tree, None) or ""):
            failures.append("a changed source passes: %r" % gpu_report.verify(bundle, tree, None))

    for f in failures:
        print("FAIL:", f)
    print("%d passed, %d failed" % (1 if not failures else 0, 1 if failures else 0))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
