#!/usr/bin/env bash
# run.sh - the whole test suite: a normal build and an ASan+UBSan build, each running
# every CTest test (cmocka unit tests and end-to-end tests), then a Release (-O3) build
# that must compile without warnings (gcc warns differently when optimising). Exits
# non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
for variant in plain asan; do
  dir=build-test-$variant
  extra=()
  [ "$variant" = asan ] && extra=(-DPG_SANITIZE=ON)
  echo "== build ($variant)"
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Debug "${extra[@]}" >/dev/null
  cmake --build "$dir" -j"$jobs"
  echo "== test ($variant)"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir "$dir" --output-on-failure -j"$jobs"
done
echo "== build (release, -O3: warnings only)"
cmake -S . -B build-test-release -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-test-release -j"$jobs"

# ---- fuzzing (issue 15; owner: fuzz harnesses, tests/fuzz/) -------------------------
# Builds every libFuzzer harness with clang (build-fuzz-ci, -DPG_FUZZ=ON), replays the
# regression corpus (tests/fuzz/regressions/, incl. the issue 15 reproducers) and the
# seeds, then fuzzes each harness for PG_FUZZ_SECONDS (default 20). Any finding fails.
# Set PG_SKIP_FUZZ=1 to skip (e.g. a machine without clang).
if [ -z "${PG_SKIP_FUZZ:-}" ]; then
  echo "== fuzz (clang, libFuzzer + ASan + UBSan)"
  bash tests/fuzz/ci.sh
fi
# ---- end fuzzing ------------------------------------------------------------------
