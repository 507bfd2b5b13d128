#!/usr/bin/env bash
# deps.sh - installs everything profgate builds, tests and benchmarks with, from Debian.
set -euo pipefail
# libssl-dev and libcrypt-dev: TLS on the HTTP listeners (with libevent-dev's
# libevent_openssl) and bcrypt for --web.config.file; openssl: the TLS tests make their
# certificates with it.
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
  build-essential cmake pkg-config clang-format clang libclang-rt-dev \
  libevent-dev libyaml-dev libprotobuf-c-dev protobuf-c-compiler libcurl4-openssl-dev \
  libpcre2-dev libsqlite3-dev zlib1g-dev libjansson-dev libcmocka-dev libdeflate-dev libxxhash-dev \
  libssl-dev libcrypt-dev openssl \
  golang-go prometheus python3 python3-dnslib ca-certificates curl >/dev/null
# Headless chromium (and a font for its screenshots) for tests/e2e/test_web_ui.py, which
# drives the web UI in a real browser (--dump-dom after the pages' JS ran, --screenshot).
$SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
# Packaging (tests/packaging/, tests/e2e/test_cli_docs.py): `file` for CPack's
# dpkg-shlibdeps step (dpkg-dev comes with build-essential), groff to lint the man page,
# man-db and systemd for `systemd-analyze verify` (which also runs `man profgate`;
# installing systemd does not start it), adduser and procps (/bin/kill) for the package's
# postinst and unit.
$SUDO apt-get install -y -qq --no-install-recommends \
  file groff-base man-db systemd adduser procps >/dev/null
# Node.js and npm for tests/e2e/test_sdk_nodejs.py (the Pyroscope Node.js SDK is installed
# from the npm registry by the test). Only when missing: a Node.js from elsewhere (nvm,
# NodeSource) is kept, and Debian's npm would conflict with it.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  $SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
