#!/usr/bin/env bash
# deb.sh [BUILD_DIR] - builds profgate's Debian package and installs it on THIS machine,
# then removes and purges it. It changes the system (a package, the profgate user, a unit),
# so .ci/run runs it on CI's throwaway machine and tests/run.sh does not. Needs root.
#
# Checks, in order:
#   - scripts/package-deb.sh builds a .deb whose Depends come from dpkg-shlibdeps (libc6,
#     libcurl4, ...) plus adduser, with the two conffiles and the maintainer scripts;
#   - dpkg -i installs it; `profgate version` runs from PATH; `profgate check
#     /etc/profgate/profgate.yml` passes; the profgate user exists and owns
#     /var/lib/profgate (0750); the man page, completion and docs are in place;
#   - systemd-analyze verify accepts the installed unit (no message about it), and
#     `systemd-analyze security --offline=true` prints its exposure;
#   - where systemd runs (PID 1), the service is active and ready and `systemctl reload`
#     keeps it running; elsewhere (a container) the unit's ExecStart command line runs as
#     the profgate user, must become ready on a free port and write its buffer in
#     /var/lib/profgate, and must exit 0 on SIGTERM;
#   - a second dpkg -i of the same .deb (the upgrade path) succeeds;
#   - dpkg -r removes the program and the unit, keeps the conffiles (state config-files);
#   - dpkg -P removes the config, the buffer directory and systemd's enablement links.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build-test-pkg}
if [ "$(id -u)" != 0 ]; then
  echo "deb.sh: needs root (it installs the package)" >&2
  exit 1
fi
if dpkg-query -W -f='${Status}' profgate 2>/dev/null | grep -q installed; then
  echo "deb.sh: a profgate package is installed already; not touching it" >&2
  exit 1
fi
fail() {
  echo "FAIL: $*" >&2
  exit 1
}
pid=
cleanup() {
  [ -z "$pid" ] || kill "$pid" 2>/dev/null || true
  dpkg -P profgate >/dev/null 2>&1 || true
}
trap cleanup EXIT

echo "-- package-deb.sh"
deb=$(bash scripts/package-deb.sh "$build" | tail -1)
dpkg-deb -f "$deb" Package Version Depends
depends=$(dpkg-deb -f "$deb" Depends)
for d in adduser libc6 libcurl4 libevent-2.1-7 libsqlite3-0 libprotobuf-c1 zlib1g; do
  grep -q "\(^\|, \)$d\( \|,\|$\)" <<<"$depends" || fail "Depends lacks $d: $depends"
done
ctl=$(mktemp -d)
dpkg-deb -e "$deb" "$ctl"
[ "$(cat "$ctl/conffiles")" = "$(printf '/etc/profgate/profgate.yml\n/etc/default/profgate')" ] ||
  fail "conffiles: $(cat "$ctl/conffiles")"
for s in postinst prerm postrm; do
  [ -x "$ctl/$s" ] || fail "maintainer script $s missing or not executable"
  sh -n "$ctl/$s"
done
rm -rf "$ctl"

echo "-- dpkg -i"
dpkg -i "$deb"
[ "$(command -v profgate)" = /usr/bin/profgate ] || fail "profgate not on PATH"
profgate version
profgate check /etc/profgate/profgate.yml
getent passwd profgate >/dev/null || fail "no profgate user"
[ "$(stat -c '%U:%G %a' /var/lib/profgate)" = "profgate:profgate 750" ] ||
  fail "/var/lib/profgate: $(stat -c '%U:%G %a' /var/lib/profgate)"
for f in /usr/share/man/man1/profgate.1.gz /usr/share/bash-completion/completions/profgate \
  /usr/share/doc/profgate/docs/install.md /usr/share/doc/profgate/examples/basic.yml; do
  [ -s "$f" ] || fail "$f missing"
done
unit=/usr/lib/systemd/system/profgate.service

echo "-- systemd-analyze verify"
out=$(systemd-analyze verify "$unit" 2>&1) || fail "systemd-analyze verify exit $?: $out"
if grep -i profgate <<<"$out"; then
  fail "systemd-analyze verify complained about the unit"
fi
[ -z "$out" ] || echo "(messages about other units, not profgate's: $out)"
systemd-analyze security --offline=true "$unit" 2>&1 | tail -1

echo "-- run"
if [ -d /run/systemd/system ]; then
  # systemd is PID 1: postinst started the service
  systemctl is-active --quiet profgate || fail "profgate.service is not active"
  curl -sf http://127.0.0.1:4100/-/ready >/dev/null || fail "service not ready"
  systemctl reload profgate
  sleep 1
  systemctl is-active --quiet profgate || fail "not active after reload"
else
  # no systemd: the unit's ExecStart as its user, on a free port
  log=$(mktemp)
  (cd /var/lib/profgate && exec setpriv --reuid=profgate --regid=profgate --init-groups \
    /usr/bin/profgate run \
    /etc/profgate/profgate.yml --web.listen-address=127.0.0.1:0) >"$log" 2>&1 &
  pid=$!
  port=
  for _ in $(seq 200); do
    port=$(sed -n 's/.*address=127\.0\.0\.1:\([0-9]*\) msg="listening".*/\1/p' "$log")
    [ -n "$port" ] && curl -sf "http://127.0.0.1:$port/-/ready" >/dev/null && break
    kill -0 "$pid" 2>/dev/null || break
    port=
    sleep 0.1
  done
  [ -n "$port" ] || fail "not ready: $(cat "$log")"
  kill -HUP "$pid"
  sleep 0.5
  curl -sf "http://127.0.0.1:$port/-/ready" >/dev/null || fail "not ready after SIGHUP"
  kill -TERM "$pid"
  rc=0
  wait "$pid" || rc=$?
  pid=
  [ "$rc" = 0 ] || fail "exit $rc after SIGTERM: $(cat "$log")"
  grep -q 'msg="SIGHUP: reloading config"' "$log" || fail "SIGHUP not seen: $(cat "$log")"
  [ "$(stat -c %U /var/lib/profgate/buffer.db)" = profgate ] || fail "buffer.db not profgate's"
  rm -f "$log"
fi

echo "-- dpkg -i again (upgrade path)"
dpkg -i "$deb" >/dev/null

echo "-- dpkg -r"
dpkg -r profgate
[ ! -e /usr/bin/profgate ] || fail "/usr/bin/profgate left after dpkg -r"
[ ! -e "$unit" ] || fail "$unit left after dpkg -r"
[ "$(dpkg-query -W -f='${Status}' profgate)" = "deinstall ok config-files" ] ||
  fail "status after dpkg -r: $(dpkg-query -W -f='${Status}' profgate)"
[ -e /etc/profgate/profgate.yml ] || fail "dpkg -r removed the conffile"

echo "-- dpkg -P"
dpkg -P profgate
for p in /etc/profgate /etc/default/profgate /var/lib/profgate \
  /etc/systemd/system/multi-user.target.wants/profgate.service \
  /etc/systemd/system/profgate.service; do
  [ ! -e "$p" ] && [ ! -L "$p" ] || fail "$p left after dpkg -P"
done
if dpkg-query -W profgate >/dev/null 2>&1; then
  fail "dpkg still knows profgate after purge"
fi
echo "deb package: OK"
