#!/usr/bin/env bash
# Installs what the tests need (Debian packages, the real models into the cache), builds every
# suite and runs them with CTest. Usage: scripts/test.sh [extra ctest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
bash scripts/fetch-models.sh

build_dir="${SRI_BUILD_DIR:-build}"
jobs="${SRI_JOBS:-$(nproc)}"
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSRI_BUILD_TESTS=ON -DSRI_BUILD_EXAMPLES=ON
cmake --build "$build_dir" --parallel "$jobs"
ctest --test-dir "$build_dir" --output-on-failure --parallel "$jobs" "$@"
