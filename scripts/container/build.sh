#!/usr/bin/env bash
# build.sh SRC BUILD STAGE - the Dockerfile's build stage, step 2: a Release build of
# profgate installed under /usr into STAGE/root (DESTDIR), plus what the runtime stage
# needs next to it:
#   STAGE/root/              the installed tree: /usr/bin/profgate, /etc/profgate/profgate.yml,
#                            the man page, docs, examples, bash completion, systemd unit
#   STAGE/runtime-packages   the Debian packages of the libraries the binary links
#                            (dpkg-shlibdeps), one per line, plus ca-certificates
#   STAGE/install.sh         the runtime stage's step (scripts/container/install.sh)
# CI runs it in a scratch directory (tests/packaging/container.sh). PG_GIT_REVISION (env)
# is the revision `profgate version` reports when SRC has no .git; an empty
# SOURCE_DATE_EPOCH is ignored. Same configuration as scripts/package-deb.sh (keep the
# two in step).
set -euo pipefail
if [ $# -ne 3 ]; then
  echo "usage: build.sh SRC BUILD STAGE" >&2
  exit 2
fi
src=$1 build=$2 stage=$3
[ -n "${SOURCE_DATE_EPOCH:-}" ] || unset SOURCE_DATE_EPOCH
# Debian's hardening flags, as a Debian package is built with (stack protector, fortify,
# full RELRO and BIND_NOW; -ffile-prefix-map keeps the source path out of the binary)
flags() { (cd "$src" && DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --get "$1"); }
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
  -DPG_TESTS=OFF -DPG_GIT_REVISION="${PG_GIT_REVISION:-}" \
  -DCMAKE_C_FLAGS="$(flags CFLAGS) $(flags CPPFLAGS)" \
  -DCMAKE_EXE_LINKER_FLAGS="$(flags LDFLAGS)" >/dev/null
cmake --build "$build" -j"$(nproc)"
rm -rf "$stage"
mkdir -p "$stage/root"
DESTDIR=$(cd "$stage/root" && pwd) cmake --install "$build" --strip >/dev/null

# the run-time packages: dpkg-shlibdeps wants a debian/control to sit next to
deps=$(mktemp -d)
trap 'rm -rf "$deps"' EXIT
mkdir "$deps/debian"
touch "$deps/debian/control"
bin=$(cd "$stage/root/usr/bin" && pwd)/profgate
# (its warning that the binary is not inside a package's directory is expected here)
(cd "$deps" && dpkg-shlibdeps -O "$bin" 2> >(grep -v 'should already be installed' >&2)) |
  sed -n 's/^shlibs:Depends=//p' | tr ',' '\n' | sed 's/^ *//; s/[ |(].*//' | sort -u \
    >"$stage/runtime-packages"
echo ca-certificates >>"$stage/runtime-packages"
grep -q . "$stage/runtime-packages"
cp "$src/scripts/container/install.sh" "$stage/install.sh"
