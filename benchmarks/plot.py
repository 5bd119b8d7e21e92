#!/usr/bin/env python3
"""Plots CPU (host_bench) and, when given, GPU (device_bench) benchmark JSON as a PNG.

    plot.py --cpu benchmarks/results/cpu-2026-11-22.json [--gpu gpu.json] -o docs/img/perf.png

Needs matplotlib (pip install matplotlib); not part of the build or the tests.
"""
import argparse
import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def rates(path):
    with open(path) as f:
        data = json.load(f)
    aggregated = any(b.get("aggregate_name") == "median" for b in data["benchmarks"])
    out = {}
    for b in data["benchmarks"]:
        keep = b.get("aggregate_name") == "median" if aggregated else b["run_type"] == "iteration"
        if keep and not b.get("error_occurred"):
            out[b["run_name"].replace("/real_time", "").replace("/manual_time", "")] = \
                b["bytes_per_second"] / 1e9
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cpu", required=True)
    parser.add_argument("--gpu")
    parser.add_argument("-o", "--output", required=True)
    args = parser.parse_args()
    cpu = rates(args.cpu)
    sizes = [1, 16, 256, 1024]
    series = {
        "OpenSSL SHA-256 (1 core)": ["BM_openssl_sha256/%d" % (m << 20) for m in sizes],
        "tensorhash exact (1 core)": ["BM_exact/%d" % (m << 20) for m in sizes],
        "tensorhash tree (1 thread)": ["BM_tree/%d/1/16384" % (m << 20) for m in sizes],
        "tensorhash tree (2 threads)": ["BM_tree/%d/2/16384" % (m << 20) for m in sizes],
    }
    panels = 2 if args.gpu else 1
    fig, axes = plt.subplots(1, panels, figsize=(6 * panels, 4), squeeze=False)
    ax = axes[0][0]
    for label, keys in series.items():
        ax.plot(sizes, [cpu.get(k, float("nan")) for k in keys], marker="o", label=label)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("tensor size (MiB)")
    ax.set_ylabel("GB/s of tensor bytes")
    ax.set_title("CPU backend")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    if args.gpu:
        gpu = rates(args.gpu)
        ax = axes[0][1]
        names = sorted(gpu)
        ax.barh(names, [gpu[n] / 1e3 for n in names])
        ax.set_xlabel("TB/s of tensor bytes")
        ax.set_title("GPU backend")
    fig.tight_layout()
    fig.savefig(args.output, dpi=120)


if __name__ == "__main__":
    main()
