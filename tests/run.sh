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
