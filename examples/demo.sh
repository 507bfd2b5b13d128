#!/usr/bin/env bash
# demo.sh - the README's main-job demo: build the Go demo app (examples/demoapp), run it,
# run `profgate run examples/demo.yml` against it for DEMO_SECONDS (default 25), then show
# what was collected: target health from /api/v1/targets, the pprof files the local file
# backend wrote under ./data/profiles, and the top of the newest CPU profile.
# Needs: a built ./build/profgate (or PROFGATE=path) and golang-go. Nothing external.
set -euo pipefail
cd "$(dirname "$0")/.."
profgate=${PROFGATE:-./build/profgate}
seconds=${DEMO_SECONDS:-25}
web=127.0.0.1:4100
[ -x "$profgate" ] || { echo "demo: $profgate not found; build first (see README)" >&2; exit 1; }

gopath=$(mktemp -d /tmp/profgate-demo-go.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$gopath"
}
trap cleanup EXIT

echo "== building the Go demo app (examples/demoapp)"
GO111MODULE=off GOPATH="$gopath" GOCACHE="$gopath/cache" GOFLAGS= \
  go build -o build/demoapp ./examples/demoapp/main.go

echo "== starting demoapp on 127.0.0.1:6060"
./build/demoapp -listen 127.0.0.1:6060 &
pids+=($!)
for _ in $(seq 50); do
  curl -sf http://127.0.0.1:6060/debug/pprof/ >/dev/null 2>&1 && break
  sleep 0.1
done

rm -rf data/profiles
echo "== running: $profgate run examples/demo.yml --web.listen-address $web (${seconds}s)"
"$profgate" run examples/demo.yml --web.listen-address "$web" &
pg=$!
pids+=($pg)
sleep "$seconds"

echo "== targets (GET http://$web/api/v1/targets)"
curl -sf "http://$web/api/v1/targets?state=active" | python3 -c '
import json, sys
for t in json.load(sys.stdin)["data"]["activeTargets"]:
    err = (" lastError=" + t["lastError"]) if t["lastError"] else ""
    print("  %-12s %-5s %s%s" % (t["profileType"], t["health"], t["scrapeUrl"], err))'

kill -TERM "$pg"
wait "$pg" || { echo "demo: profgate exited with an error" >&2; exit 1; }

n=$(find data/profiles -name '*.pb.gz' 2>/dev/null | wc -l)
echo "== $n profiles written by the file backend under $(pwd)/data/profiles:"
find data/profiles -name '*.pb.gz' | sort | tail -n 8 | sed 's/^/  /'
[ "$n" -gt 0 ] || { echo "demo: no profiles were collected" >&2; exit 1; }
cpu=$(find data/profiles -name 'process_cpu-*.pb.gz' | sort | tail -n 1)
if [ -n "$cpu" ]; then
  echo "== top of the newest CPU profile ($cpu):"
  go tool pprof -top -nodecount=8 "$cpu" 2>/dev/null | sed 's/^/  /' || true
fi
echo "== done. Each .pb.gz is a pprof file (its labels are in the .json next to it);"
echo "   open one with: go tool pprof -http=: $(pwd)/${cpu:-data/profiles/...}"
