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


if __name__ == "__main__":
    main()
