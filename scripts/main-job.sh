#!/usr/bin/env bash
# Runs the main job on a fresh machine: installs the Debian packages, downloads the default model
# (SmolLM2-135M-Instruct) into the cache, builds the sri tool and runs `sri run` on the built-in
# prompt sets. Extra arguments go to `sri run`, e.g. scripts/main-job.sh --harmful FILE -n 400.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
bash scripts/fetch-models.sh

build_dir="${SRI_BUILD_DIR:-build}"
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSRI_BUILD_TESTS=OFF -DSRI_BUILD_EXAMPLES=ON
cmake --build "$build_dir" --target sri --parallel "${SRI_JOBS:-$(nproc)}"
"$build_dir/examples/sri/sri" run "$@"
