#!/usr/bin/env bash
# Installs the Debian packages that building and testing sri needs. Safe to run again: it calls
# apt-get only when a package is missing.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git python3 python3-venv python3-pip
  libtorch-dev libopenblas0-pthread
  libeigen3-dev libfmt-dev nlohmann-json3-dev libpcre2-dev libcairo2-dev fonts-dejavu-core
  doctest-dev libcli11-dev libbenchmark-dev
  unzip
)

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done

if ((${#missing[@]} > 0)); then
  echo "install-deps: installing ${missing[*]}"
  sudo_cmd=()
  if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install-deps: all ${#packages[@]} packages already installed"
fi
