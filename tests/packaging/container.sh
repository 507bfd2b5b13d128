#!/usr/bin/env bash
# container.sh [BUILD_DIR] - runs the Dockerfile's steps in a scratch directory, without a
# container engine, and starts what they installed (tests/run.sh runs it; it changes
# nothing outside the scratch directory and BUILD_DIR, default build-test-pkg):
#   1. scripts/container/build-deps.sh --check: the build stage's packages are installed
#      (their names are real Debian packages);
#   2. scripts/container/build.sh: Release build, `cmake --install` into STAGE/root, the
#      run-time package list from dpkg-shlibdeps;
#   3. STAGE/install.sh STAGE ROOT: the runtime stage into ROOT (packages checked, the
#      profgate user added to ROOT/etc/passwd, the tree copied, ROOT/var/lib/profgate);
#   4. the installed binary: `version`; `check` on the installed default config; then
#      `run` on it as in the image (CMD) but on 127.0.0.1 port 0, with storage.path moved
#      into ROOT, as uid 10001 when run as root (the image's USER): /-/ready must answer
#      200 within 20 s, /metrics must answer, SIGTERM must exit 0, and the buffer must exist.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build-test-pkg}
scratch=$(mktemp -d "${TMPDIR:-/tmp}/pg_container.XXXXXX")
pid=
cleanup() {
  [ -z "$pid" ] || kill "$pid" 2>/dev/null || true
  rm -rf "$scratch"
}
trap cleanup EXIT
chmod 0755 "$scratch" # the unprivileged run below must reach ROOT
stage=$scratch/stage root=$scratch/root

echo "-- build-deps.sh --check"
bash scripts/container/build-deps.sh --check
echo "-- build.sh"
bash scripts/container/build.sh "$PWD" "$build" "$stage" >/dev/null
echo "-- install.sh (runtime packages: $(tr '\n' ' ' <"$stage/runtime-packages"))"
bash "$stage/install.sh" "$stage" "$root"
grep -q '^profgate:x:10001:10001:' "$root/etc/passwd"
[ "$(stat -c %a "$root/var/lib/profgate")" = 750 ]

bin=$root/usr/bin/profgate config=$root/etc/profgate/profgate.yml
"$bin" version | head -1
"$bin" check "$config"
grep -q '^  path: /var/lib/profgate$' "$config"
for f in usr/share/man/man1/profgate.1.gz usr/share/bash-completion/completions/profgate \
  usr/share/doc/profgate/docs/install.md usr/lib/systemd/system/profgate.service; do
  [ -s "$root/$f" ] || { echo "missing $f" >&2; exit 1; }
done

echo "-- run"
as=()
if [ "$(id -u)" = 0 ]; then
  as=(setpriv --reuid=10001 --regid=10001 --clear-groups --)
fi
log=$scratch/run.log
(cd "$root/var/lib/profgate" &&
  exec "${as[@]}" "$bin" run "$config" --web.listen-address=127.0.0.1:0 \
    --storage.path="$root/var/lib/profgate") >"$log" 2>&1 &
pid=$!
port=
for _ in $(seq 200); do
  port=$(sed -n 's/.*component=web address=127\.0\.0\.1:\([0-9]*\) msg="listening".*/\1/p' "$log")
  [ -z "$port" ] || break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
ready=
for _ in $(seq 200); do
  [ -z "$port" ] && break
  if [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/-/ready")" = 200 ]; then
    ready=1
    break
  fi
  sleep 0.1
done
if [ -z "$ready" ]; then
  echo "profgate did not become ready; its log:" >&2
  cat "$log" >&2
  exit 1
fi
curl -sf "http://127.0.0.1:$port/metrics" | grep -q '^profgate_'
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
pid=
if [ "$rc" != 0 ]; then
  echo "profgate exited $rc after SIGTERM; its log:" >&2
  cat "$log" >&2
  exit 1
fi
[ -s "$root/var/lib/profgate/buffer.db" ]
echo "container steps: OK (ready on 127.0.0.1:$port as uid $(stat -c %u "$root/var/lib/profgate/buffer.db"))"
