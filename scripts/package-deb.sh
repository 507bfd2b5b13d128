#!/usr/bin/env bash
# package-deb.sh [BUILD_DIR] - builds profgate's Debian package: a Release build installed
# under /usr (the config in /etc, the buffer in /var/lib/profgate), then CPack's DEB
# generator (cmake/packaging.cmake: run-time dependencies from dpkg-shlibdeps, the
# maintainer scripts in packaging/deb/). Prints the path of the .deb on its last line.
#
#   bash scripts/package-deb.sh && sudo dpkg -i build-pkg/profgate_*.deb
#
# Needs what scripts/container/build-deps.sh installs (dpkg-dev comes with build-essential)
# plus `file`, which CPack uses to find the binaries to run dpkg-shlibdeps on.
# The same configuration as the container build (scripts/container/build.sh; keep the two
# in step).
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build-pkg}
# Debian's hardening flags (stack protector, fortify, full RELRO and BIND_NOW)
flags() { (cd "$src" && DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --get "$1"); }
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
  -DPG_TESTS=OFF -DCMAKE_C_FLAGS="$(flags CFLAGS) $(flags CPPFLAGS)" \
  -DCMAKE_EXE_LINKER_FLAGS="$(flags LDFLAGS)" >/dev/null
cmake --build "$build" -j"$(nproc)"
rm -f "$build"/profgate_*.deb
(cd "$build" && cpack -G DEB >/dev/null)
deb=$(ls "$build"/profgate_*.deb)
echo "$deb"
