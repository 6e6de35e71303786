#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/, clang + ASan + UBSan) and runs each for a fixed time on a seed corpus
# made from tests/data. Not part of ctest/CI (too slow for it); results go to docs/reliability.md by hand.
#   scripts/fuzz.sh [SECONDS_PER_TARGET=60] [TARGET...]
# Crashes land in build-fuzz/crashes/<target>/; a crash input becomes a regression test under tests/unit.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS="${1:-60}"
shift || true
BUILD="${FUZZ_BUILD_DIR:-build-fuzz}"
if [ -z "${FUZZ_NO_BUILD:-}" ]; then  # FUZZ_NO_BUILD=1: run what is already built
  CXX="${CXX:-clang++-14}" CC="${CC:-clang-14}" nice -n 19 cmake -S fuzz -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  nice -n 19 cmake --build "$BUILD" -j "${JOBS:-2}"
fi
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(safetensors config tokenizer sentencepiece chat_template image hub car)
D=tests/data
seed() {  # seed <target> <files...>: copy existing files into the target's seed corpus
  local t=$1; shift
  mkdir -p "$BUILD/seeds/$t"
  for f in "$@"; do [ -f "$f" ] && cp "$f" "$BUILD/seeds/$t/$(echo "$f" | tr '/' '_')"; done
  return 0
}
# Seeds: the real files of each kind that tests/data holds (small ones; big files are cut to 64 KiB).
for f in $(find $D -name '*.safetensors' -size -64k | head -20); do seed safetensors "$f"; done
for f in $(find $D -name 'config.json' | head -40); do seed config "$f"; done
for f in $(find $D -name 'tokenizer.json' -size -2M | head -12); do seed tokenizer "$f"; done
for f in $(find $D -name '*.model' -size -2M | head -8); do seed sentencepiece "$f"; done
for f in $(find $D -name 'tokenizer_config.json' | head -40); do
  mkdir -p "$BUILD/seeds/chat_template"
  python3 -c 'import json,sys; t=json.load(open(sys.argv[1])).get("chat_template"); t=t if isinstance(t,str) else ""; sys.stdout.write(t)' "$f" \
    > "$BUILD/seeds/chat_template/$(echo "$f" | tr '/' '_').jinja" 2>/dev/null || true
done
for f in $(find $D -name '*.png' -o -name '*.jpg' -o -name '*.jpeg' | head -30); do seed image "$f"; done
for f in $(find $D -name '*.index.json' -o -name 'model_index.json' | head -10); do seed hub "$f"; done
mkdir -p "$BUILD/seeds/hub"
echo '{"id":"org/m","sha":"0123456789abcdef0123456789abcdef01234567","siblings":[{"rfilename":"config.json"},{"rfilename":"model.safetensors"}]}' \
  > "$BUILD/seeds/hub/listing.json"
for f in $(find $D -name '*.car' | head -10); do seed car "$f"; done
if [ -x build/ipfs-accelerate ] && [ -d $D/conformance/bert ]; then
  mkdir -p "$BUILD/seeds/car"
  build/ipfs-accelerate cid $D/conformance/bert/config.json --car "$BUILD/seeds/car/bert-config.car" >/dev/null 2>&1 || true
fi
for t in "${TARGETS[@]}"; do
  mkdir -p "$BUILD/corpus/$t" "$BUILD/crashes/$t" "$BUILD/seeds/$t"
  echo "== fuzz_$t: ${SECS}s"
  # -rss_limit_mb bounds each input's memory; -timeout flags a single input running over 10 s as a hang.
  nice -n 19 "$BUILD/fuzz_$t" "$BUILD/corpus/$t" "$BUILD/seeds/$t" -max_total_time="$SECS" -rss_limit_mb=2048 \
    -timeout=10 -max_len=65536 -artifact_prefix="$BUILD/crashes/$t/" -print_final_stats=1 2>&1 |
    tee "$BUILD/fuzz_$t.log" | grep -E '^(stat::number_of_executed_units|stat::new_units_added|==[0-9]+==ERROR|SUMMARY)' || true
  echo "   crashes: $(ls "$BUILD/crashes/$t" | wc -l)"
done
