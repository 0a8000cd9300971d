#!/usr/bin/env python3
"""Turn the C++ benchmark JSON and the Python reference JSON into a Markdown summary.

Rates use CPU time, as Google Benchmark reports them, so that other processes on a shared
machine do not count against either side. Wall-clock rates are listed beside them.

    python3 benchmarks/projection/summarize.py results/cpp.json results/python.json
"""

import json
import sys

PROMPTS = 1000
STEPS = 32


def main():
    cpp = json.load(open(sys.argv[1]))
    python = json.load(open(sys.argv[2]))
    runs = {b["name"].split("/min_time")[0].split("/iterations")[0]: b for b in cpp["benchmarks"]}

    def seconds(run, key):
        scale = {"ms": 1e-3, "us": 1e-6, "ns": 1e-9, "s": 1.0}[run["time_unit"]]
        return run[key] * scale

    triad = runs["BM_Triad"]
    triad_cpu = triad["bytes_per_second"] / 1e9
    triad_wall = 3 * (1 << 25) * 4 / seconds(triad, "real_time") / 1e9
    context = cpp["context"]
    print(f"Machine: {context['host_name']}, {context['num_cpus']} CPUs at {context['mhz_per_cpu']} MHz, "
          f"load average at start {', '.join(f'{x:.1f}' for x in context.get('load_avg', []))}")
    print(f"Python reference: torch {python['torch']} with {python['torch_threads']} threads, "
          f"Python {python['python']}")
    print()
    print(f"STREAM-style triad, one thread: {triad_cpu:.2f} GB/s (CPU time), {triad_wall:.2f} GB/s (wall)")
    print()
    print("| D | library kernel | GB/s (CPU) | share of triad | GB/s (wall) | naive libtorch loop | "
          "reference Python | vs libtorch loop | vs Python |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for hidden in (576, 4096):
        kernel = runs[f"BM_LibraryKernel/{hidden}"]
        naive = runs[f"BM_NaiveLibtorch/{hidden}"]
        reference = next(r for r in python["results"] if r["hidden"] == hidden)
        kernel_s = seconds(kernel, "cpu_time")
        naive_s = seconds(naive, "cpu_time")
        kernel_wall = seconds(kernel, "real_time")
        bytes_read = PROMPTS * STEPS * hidden * 4
        gbps = bytes_read / kernel_s / 1e9
        print(f"| {hidden} | {kernel_s * 1e3:.1f} ms | {gbps:.2f} | {gbps / triad_cpu:.0%} | "
              f"{bytes_read / kernel_wall / 1e9:.2f} | {naive_s:.2f} s | {reference['seconds']:.2f} s (wall) | "
              f"{naive_s / kernel_s:.0f}x | {reference['seconds'] / kernel_wall:.0f}x (wall) |")
    print()
    print("| D | center accumulation GB/s (CPU) |")
    print("| --- | --- |")
    for hidden in (576, 4096):
        run = runs[f"BM_CenterAccumulation/{hidden}"]
        print(f"| {hidden} | {run['bytes_per_second'] / 1e9:.2f} |")


if __name__ == "__main__":
    main()
