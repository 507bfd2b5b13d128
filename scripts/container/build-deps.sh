#!/usr/bin/env bash
# build-deps.sh [--check] - the Dockerfile's build stage, step 1: installs (apt-get) what
# building profgate needs on debian:bookworm, without the test suite's tools. With --check
# it installs nothing and fails unless every package is installed (CI runs it so: the
# package names must stay real Debian packages; scripts/deps.sh installs a superset).
set -euo pipefail
packages=(
  build-essential cmake pkg-config
  libevent-dev libyaml-dev libprotobuf-c-dev protobuf-c-compiler libcurl4-openssl-dev
  libpcre2-dev libsqlite3-dev zlib1g-dev libjansson-dev libdeflate-dev libxxhash-dev
  libssl-dev libcrypt-dev
)
if [ "${1:-}" = --check ]; then
  missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
      missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "build-deps.sh: not installed: ${missing[*]}" >&2
    exit 1
  fi
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
rm -rf /var/lib/apt/lists/*
