#!/usr/bin/env bash
# ASan + UBSan (default) or TSan build of the engine and its tests, then ctest on it (docs/reliability.md).
#   scripts/sanitize.sh [address|thread] [ctest args...]     e.g. scripts/sanitize.sh address -R 'Safetensors|Tokenizer'
# CUDA off; niced; its own build directory (build-asan / build-tsan). Any sanitizer report fails the test it
# happens in (halt_on_error, UBSan aborts), so a green ctest means a clean run.
set -euo pipefail
cd "$(dirname "$0")/.."
KIND="${1:-address}"
shift || true
case "$KIND" in
  address) BUILD="${BUILD_DIR:-build-asan}"; FLAG=ON ;;
  thread) BUILD="${BUILD_DIR:-build-tsan}"; FLAG=thread ;;
  *) echo "usage: $0 [address|thread] [ctest args...]" >&2; exit 2 ;;
esac
LAUNCH=()
command -v ccache >/dev/null && LAUNCH=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
nice -n 19 cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DIA_CUDA=OFF -DIA_SANITIZE="$FLAG" \
  "${LAUNCH[@]}" >/dev/null
nice -n 19 cmake --build "$BUILD" -j "${JOBS:-2}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}"
nice -n 19 ctest --test-dir "$BUILD" --output-on-failure -j "${JOBS:-2}" "$@"
