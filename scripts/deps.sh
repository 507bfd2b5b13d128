#!/usr/bin/env bash
# deps.sh - installs everything profgate builds, tests and benchmarks with, from Debian.
set -euo pipefail
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
  build-essential cmake pkg-config clang-format \
  libevent-dev libyaml-dev libprotobuf-c-dev protobuf-c-compiler libcurl4-openssl-dev \
  libpcre2-dev libsqlite3-dev zlib1g-dev libjansson-dev libcmocka-dev \
  golang-go prometheus python3 ca-certificates curl >/dev/null
