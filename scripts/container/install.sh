#!/usr/bin/env bash
# install.sh STAGE [ROOT] - the Dockerfile's runtime stage (debian:bookworm-slim): installs
# what scripts/container/build.sh staged in STAGE into ROOT (default /):
#   1. the run-time libraries listed in STAGE/runtime-packages (apt-get);
#   2. the profgate user and group, uid and gid 10001 (fixed, so that Kubernetes'
#      runAsNonRoot and securityContext can name them);
#   3. the staged tree (/usr/bin/profgate, /etc/profgate/profgate.yml, ...);
#   4. /var/lib/profgate (the buffer, storage.path of the default config), owned by profgate,
#      mode 0750.
# With ROOT other than / (CI's scratch run, tests/packaging/container.sh) it changes nothing
# outside ROOT: step 1 only checks that the packages are installed on this machine (where
# the staged binary then runs), step 2 adds the user to copies of passwd/group in ROOT/etc
# (useradd --prefix), step 4 chowns to the numeric ids when run as root.
set -euo pipefail
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: install.sh STAGE [ROOT]" >&2
  exit 2
fi
stage=$1 root=${2:-/}
uid=10001
mapfile -t packages <"$stage/runtime-packages"

if [ "$root" = / ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
  rm -rf /var/lib/apt/lists/*
  groupadd --gid "$uid" profgate
  useradd --uid "$uid" --gid profgate --home-dir /var/lib/profgate --no-create-home \
    --shell /usr/sbin/nologin --comment "profgate continuous-profiling collector" profgate
else
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || {
      echo "install.sh: run-time package $p is not installed" >&2
      exit 1
    }
  done
  # a minimal passwd database in ROOT (root only, no password), as an image has
  mkdir -p "$root/etc"
  [ -e "$root/etc/login.defs" ] || cp /etc/login.defs "$root/etc/login.defs"
  [ -e "$root/etc/passwd" ] || echo "root:x:0:0:root:/root:/bin/bash" >"$root/etc/passwd"
  [ -e "$root/etc/group" ] || echo "root:x:0:" >"$root/etc/group"
  [ -e "$root/etc/shadow" ] || echo "root:*:19000:0:99999:7:::" >"$root/etc/shadow"
  [ -e "$root/etc/gshadow" ] || echo "root:*::" >"$root/etc/gshadow"
  chmod 0640 "$root/etc/shadow" "$root/etc/gshadow"
  groupadd --prefix "$root" --gid "$uid" profgate
  useradd --prefix "$root" --uid "$uid" --gid profgate --home-dir /var/lib/profgate \
    --no-create-home --shell /usr/sbin/nologin \
    --comment "profgate continuous-profiling collector" profgate
fi

# tar, not cp -a: directories that exist already (/etc, /usr) keep their owner and mode
tar -C "$stage/root" -cf - . | tar -C "$root" -xf - --no-overwrite-dir --no-same-owner
install -d -m 0750 "$root/var/lib/profgate"
if [ "$(id -u)" = 0 ]; then
  chown "$uid:$uid" "$root/var/lib/profgate"
fi
