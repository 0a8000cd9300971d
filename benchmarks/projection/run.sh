#!/usr/bin/env bash
# Builds and runs the projection benchmark and the reference Python timing, then writes
# results/summary.md with the ratios. Usage: benchmarks/projection/run.sh [build-dir]
set -euo pipefail
cd "$(dirname "$0")/../.."
build_dir="${1:-build-bench}"
results=benchmarks/projection/results
mkdir -p "$results"

cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSRI_BUILD_BENCHMARKS=ON \
  -DSRI_BUILD_TESTS=OFF -DSRI_BUILD_EXAMPLES=OFF -DSRI_WITH_TORCH=ON
cmake --build "$build_dir" --target sri_bench_projection
"$build_dir/benchmarks/projection/sri_bench_projection" \
  --benchmark_out="$results/cpp.json" --benchmark_out_format=json
/usr/bin/python3 benchmarks/projection/reference_create_signal.py > "$results/python.json"
/usr/bin/python3 benchmarks/projection/summarize.py "$results/cpp.json" "$results/python.json" > "$results/summary.md"
cat "$results/summary.md"
