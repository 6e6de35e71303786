#!/usr/bin/env bash
# ThreadSanitizer on the thread pool: builds src/core/thread_pool.cpp with its unit tests under clang -fsanitize=thread
# (a whole-engine TSan build is scripts/sanitize.sh thread) and runs them; any data race fails (halt_on_error).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${BUILD_DIR:-build-tsan-pool}"
mkdir -p "$OUT"
CXX="${CXX:-clang++-14}"
"$CXX" -std=c++20 -O1 -g -fsanitize=thread -fopenmp -fno-omit-frame-pointer -Isrc $(pkg-config --cflags openblas) \
  src/core/thread_pool.cpp tests/unit/core/thread_pool_test.cpp -o "$OUT/thread_pool_tsan" \
  -lgtest -lgtest_main $(pkg-config --libs openblas) -lpthread
TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}" "$OUT/thread_pool_tsan" "$@"
