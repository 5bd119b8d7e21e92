#!/usr/bin/env python3
"""Markdown summary of device_bench JSON: TB/s of tensor bytes, G compressions/s, ratios.

    gpu_report.py gpu.json [--gpu NAME] [--commit SHA]
"""
import argparse
import json


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("json")
    parser.add_argument("--gpu", default="?")
    parser.add_argument("--commit", default="?")
    parser.add_argument("--sglang", help="JSON of benchmarks/sglang_gpu_bench.py (same run)")
    args = parser.parse_args()
    with open(args.json) as f:
        data = json.load(f)
    rows = {}
    for b in data["benchmarks"]:
        if b.get("run_type") != "iteration" or b.get("error_occurred"):
            continue
        rows[b["name"].replace("/manual_time", "")] = b
    copy = rows.get("BM_d2d_copy/1073741824")
    print("# GPU benchmark: tensorhash device backend\n")
    print("- GPU: %s; commit %s; run %s" % (args.gpu, args.commit, data["context"].get("date")))
    print("- time per call from CUDA events around `device_plan::hash` (plan built beforehand)\n")
    print("| benchmark | time | tensor TB/s | G compressions/s | vs D2D copy | launches |")
    print("|---|---|---|---|---|---|")
    for name, b in rows.items():
        tbs = b.get("bytes_per_second", 0) / 1e12
        comp = b.get("compressions", 0) / 1e9
        ratio = "%.2f" % (tbs / (copy["bytes_per_second"] / 1e12)) if copy else "-"
        print("| %s | %.3f %s | %.3f | %.2f | %s | %s |" % (
            name, b["real_time"], b["time_unit"], tbs, comp, ratio,
            int(b["launches"]) if "launches" in b else "-"))
    ours = rows.get("BM_sglang_state_dict")
    if args.sglang and ours:
        try:
            with open(args.sglang) as f:
                loop = json.load(f)
        except (OSError, ValueError):
            loop = None
        if loop:
            mine = ours["real_time"] / {"ms": 1e3, "us": 1e6, "ns": 1e9, "s": 1}[ours["time_unit"]]
            print("\nSGLang's weight checksum of the 7B-shaped dict (%d tensors, %.2f GB): SGLang's "
                  "per-tensor loop %.1f ms, tensorhash's batch (2 launches) %.2f ms: %.1fx "
                  "(goal >= 10x)" % (loop["tensors"], loop["bytes"] / 1e9, loop["seconds"] * 1e3,
                                     mine * 1e3, loop["seconds"] / mine))


if __name__ == "__main__":
    main()
