#!/usr/bin/env python3
"""Turns Google Benchmark JSON from host_bench into a Markdown table with the ratios we track.

    report.py cpu.json > benchmarks/results/cpu-YYYY-MM-DD.md
"""
import json
import sys


def main():
    with open(sys.argv[1]) as f:
        data = json.load(f)
    ctx = data["context"]
    rates = {}
    # Medians when the run had repetitions, else the single iteration result.
    aggregated = any(b.get("aggregate_name") == "median" for b in data["benchmarks"])
    for b in data["benchmarks"]:
        if (b.get("aggregate_name") == "median") if aggregated else b["run_type"] == "iteration":
            rates[b["run_name"].replace("/real_time", "")] = b["bytes_per_second"] / 1e9
    print("# CPU benchmark: tensorhash host backend vs OpenSSL SHA-256\n")
    print("- host: %s, %d CPUs at %s MHz, date %s" % (
        ctx.get("host_name", "?"), ctx.get("num_cpus", 0), ctx.get("mhz_per_cpu", "?"),
        ctx.get("date", "?")))
    print("- BF16 tensors of random bytes; GB/s = 10^9 tensor bytes per second%s\n" % (
        "; median of %d repetitions" % data["benchmarks"][0].get("repetitions", 1)
        if aggregated else ""))
    print("| size | OpenSSL GB/s | exact GB/s | exact / OpenSSL | tree 1T GB/s | "
          "tree 2T GB/s | tree 2T / 1T |")
    print("|---|---|---|---|---|---|---|")
    for mib in (1, 16, 256, 1024):
        n = mib << 20
        ossl = rates.get("BM_openssl_sha256/%d" % n)
        exact = rates.get("BM_exact/%d" % n)
        t1 = rates.get("BM_tree/%d/1/16384" % n)
        t2 = rates.get("BM_tree/%d/2/16384" % n)
        if None in (ossl, exact, t1, t2):
            continue
        print("| %d MiB | %.3f | %.3f | %.1f %% | %.3f | %.3f | %.2fx |" % (
            mib, ossl, exact, 100 * exact / ossl, t1, t2, t2 / t1))
    print("\nTree chunk size on 256 MiB, one thread (overhead against exact on the same size):\n")
    print("| chunk | tree GB/s | tree / exact |")
    print("|---|---|---|")
    exact256 = rates.get("BM_exact/%d" % (256 << 20))
    sweep = sorted((int(name.split("/")[3]), rate) for name, rate in rates.items()
                   if name.startswith("BM_tree_chunk_sweep/"))
    for chunk, rate in sweep:
        print("| %d KiB | %.3f | %.1f %% |" % (chunk >> 10, rate, 100 * rate / exact256))
    print("\nThe goals of the CPU backend (256 MiB; ratios within this run):\n")
    ossl = rates.get("BM_openssl_sha256/%d" % (256 << 20))
    rows = [
        ("tree, 1 thread / OpenSSL", "BM_tree/268435456/1/16384", ossl, ">= 1.8x"),
        ("tree, 2 threads / OpenSSL (one core)", "BM_tree/268435456/2/16384", ossl, ">= 3.4x"),
        ("exact batch of 1 MiB tensors, 1 thread / OpenSSL over the same tensors",
         "BM_exact_batch/268435456/1", rates.get("BM_openssl_batch/268435456"), ">= 1.6x"),
        ("exact batch, 2 threads / OpenSSL over the same tensors",
         "BM_exact_batch/268435456/2", rates.get("BM_openssl_batch/268435456"), ""),
        ("exact, one tensor / OpenSSL", "BM_exact/268435456", ossl, "1x (one chain)"),
        ("F32 stored hashed as BF16 / the same F32 as stored", "BM_exact_f32_to_bf16/268435456",
         rates.get("BM_exact_f32_as_stored/268435456"), ">= 1x"),
        ("F16 stored hashed as F32 / BF16 as stored (same input bytes)",
         "BM_exact_f16_to_f32/268435456", exact256, ""),
        ("transposed BF16 view / contiguous", "BM_exact_transposed/268435456", exact256,
         ">= 0.5x"),
    ]
    print("| measure | GB/s | ratio | goal |")
    print("|---|---|---|---|")
    for label, key, base, goal in rows:
        if key in rates and base:
            print("| %s | %.3f | %.2fx | %s |" % (label, rates[key], rates[key] / base, goal))
    print("\nTree mode, one thread, per SHA-256 implementation and streams (host_tuning<0> picks "
          "2 SHA-NI streams where the CPU has SHA-NI, else 16 AVX-512 lanes):\n")
    print("| implementation | streams | GB/s | / OpenSSL |")
    print("|---|---|---|---|")
    for name, rate in sorted(rates.items()):
        if name.startswith("BM_tree_streams<") and ossl:
            impl = "SHA-NI" if "shani" in name else "AVX-512"
            streams = name.split(", ")[1].split(">")[0]
            print("| %s | %s | %.3f | %.2fx |" % (impl, streams, rate, rate / ossl))
    print("\nBLAKE3 (exact mode) on 256 MiB per hash_many path and thread count, against OpenSSL's "
          "SHA-256 (one core) and the SHA-256 tree on as many threads (skipped paths: the CPU "
          "lacks them):\n")
    print("| path | threads | GB/s | / OpenSSL | / SHA-256 tree |")
    print("|---|---|---|---|---|")
    for name, rate in sorted(rates.items()):
        if name.startswith("BM_blake3<") and ossl:
            impl = name.split("::")[-1].split(">")[0]
            threads = name.split("/")[-1]
            tree = rates.get("BM_tree/268435456/%s/16384" % threads)
            print("| %s | %s | %.3f | %.2fx | %s |" % (
                impl, threads, rate, rate / ossl, "%.2fx" % (rate / tree) if tree else "-"))
    print("\nSGLang's 64-bit hash (`sglang64`) on 256 MiB, per word loop, against a plain read of "
          "the same bytes on as many threads (skipped loops: the CPU lacks them):\n")
    print("| word loop | threads | GB/s | / memory read | goal |")
    print("|---|---|---|---|---|")
    for impl, label in ((1, "scalar"), (2, "AVX2"), (3, "AVX-512")):
        for threads in (1, 2):
            key = "BM_sglang64/268435456/%d/%d" % (impl, threads)
            read = rates.get("BM_memory_read/268435456/%d" % threads)
            if key in rates and read:
                goal = ">= 8 GB/s per core" if threads == 1 and impl > 1 else (
                    "near memory bandwidth" if impl > 1 else "")
                print("| %s | %d | %.3f | %.2fx | %s |" % (label, threads, rates[key],
                                                         rates[key] / read, goal))
    cpu64 = rates.get("BM_sglang_cpu64/268435456")
    if cpu64 and ossl:
        print("\nSGLang's CPU recipe (`sglang_cpu64`, SHA-256 prefix), one thread: %.3f GB/s, "
              "%.2fx OpenSSL" % (cpu64, cpu64 / ossl))

if __name__ == "__main__":
    main()
