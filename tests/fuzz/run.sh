#!/usr/bin/env bash
# run.sh HARNESS [MINUTES] - runs one libFuzzer harness (tests/fuzz/fuzz_HARNESS.c) for
# MINUTES (default 10) in JOBS processes (default 1), building build-fuzz with clang
# first if needed. New inputs go to build-fuzz/corpus/HARNESS (seeded from
# tests/fuzz/corpus/HARNESS and tests/fuzz/regressions/HARNESS, which are only read);
# crashes, leaks, timeouts and OOMs go to build-fuzz/artifacts/HARNESS/. A finding exits
# non-zero: copy the artifact into tests/fuzz/regressions/HARNESS/ once fixed.
# Further arguments go to libFuzzer as they are (e.g. -runs=10000000 to stop at 10 M
# executions, -max_len=8192); PG_FUZZ_CORPUS names a different corpus directory.
set -euo pipefail
cd "$(dirname "$0")/../.."
# absolute paths: the config harness works in its own scratch directory
root=$PWD
h=${1:?usage: tests/fuzz/run.sh HARNESS [MINUTES]}
min=${2:-10}
b=$root/${PG_FUZZ_BUILD:-build-fuzz}
if [ ! -x "$b/tests/fuzz/fuzz_$h" ] || [ -z "${PG_FUZZ_NO_BUILD:-}" ]; then
  CC=clang cmake -S . -B "$b" -DPG_FUZZ=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
  cmake --build "$b" --target "fuzz_$h" -j"${JOBS:-2}" >"$b/build-$h.log" 2>&1 ||
    { tail -40 "$b/build-$h.log"; exit 1; }
fi
corpus=${PG_FUZZ_CORPUS:-$b/corpus/$h}
mkdir -p "$corpus" "$b/artifacts/$h"
seeds=()
for d in "$root/tests/fuzz/corpus/$h" "$root/tests/fuzz/regressions/$h"; do [ -d "$d" ] && seeds+=("$d"); done
dict=()
[ -f "$root/tests/fuzz/$h.dict" ] && dict=(-dict="$root/tests/fuzz/$h.dict")
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
par=()
# JOBS>1: that many fuzzing processes sharing the corpus (logs: $b/fuzz-N.log)
[ "${JOBS:-1}" -gt 1 ] && par=(-jobs="$JOBS" -workers="$JOBS")
cd "$b"
exec "$b/tests/fuzz/fuzz_$h" "${dict[@]}" -max_total_time=$((min * 60)) -timeout=10 \
  -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 "${par[@]}" \
  -artifact_prefix="$b/artifacts/$h/" "${@:3}" "$corpus" "${seeds[@]}"
