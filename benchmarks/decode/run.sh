#!/usr/bin/env bash
# Runs the sri and transformers decode benchmarks one after the other on the same GGUF file and
# prints both JSON lines and the speed ratios.
#
#   benchmarks/decode/run.sh BUILD_DIR [MODEL.gguf] [THREADS]
#
# BUILD_DIR must contain benchmarks/decode/sri_decode_bench (configure with -DSRI_BUILD_BENCHMARKS=ON).
set -euo pipefail
build_dir=${1:?usage: run.sh BUILD_DIR [MODEL.gguf] [THREADS]}
model=${2:-$HOME/.cache/sri/models/SmolLM2-135M-Instruct.Q4_1.gguf}
threads=${3:-2}
python=${SRI_REF_PYTHON:-/opt/sri-ref/bin/python}
here=$(cd "$(dirname "$0")" && pwd)

echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
sri_line=$("$build_dir/benchmarks/decode/sri_decode_bench" "$model" --threads "$threads")
hf_line=$("$python" "$here/hf_decode_bench.py" "$model" --threads "$threads" 2>/dev/null | tail -n 1)
echo "$sri_line"
echo "$hf_line"
"$python" - "$sri_line" "$hf_line" <<'PY'
import json, sys
sri, hf = json.loads(sys.argv[1]), json.loads(sys.argv[2])
for key in ("prefill_tokens_per_second", "decode_tokens_per_second"):
    print(f"{key}: sri {sri[key]:.1f}, transformers {hf[key]:.1f}, ratio {sri[key] / hf[key]:.2f}x")
PY
echo "machine load after: $(cut -d' ' -f1-3 /proc/loadavg)"
