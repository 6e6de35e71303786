#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/, clang + ASan + UBSan) and runs each for a fixed time on a seed corpus
# made from tests/data; results go to docs/reliability.md by hand.
#   scripts/fuzz.sh [SECONDS_PER_TARGET=60] [TARGET...]
# Crashes land in build-fuzz/crashes/<target>/; a crash input becomes a regression test under tests/unit.
# CI's smoke run (.ci/run): FUZZ_RUNS=N (at most N inputs per target, -seed=1, so a run is repeatable up to the
# time limit) and FUZZ_FAIL_ON_CRASH=1 (exit 1 when any target crashed).
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
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(safetensors config tokenizer sentencepiece chat_template image image_processor audio hub car)
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
# Targets with modes take a leading mode byte (see each fuzz_*.cpp): prefixed <target> <byte> <name> <file>.
prefixed() {
  mkdir -p "$BUILD/seeds/$1"
  { printf "\\x$2"; cat "$4"; } > "$BUILD/seeds/$1/$3"
}
for f in $(find $D/images -name '*.png' -o -name '*.jpg' | head -10); do prefixed image_processor 00 "img_$(basename "$f")" "$f"; done
for f in $D/processors/*.json; do
  python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["preprocessor_config"]))' "$f" > "$BUILD/cfg.json"
  prefixed image_processor 01 "cfg_$(basename "$f")" "$BUILD/cfg.json"
done
# Audio: short clips cut from the test recordings (16 kHz mono, 8 kHz stereo for resampling and down-mixing),
# raw PCM, and the extractor configs.
python3 - "$D/speech/audio/jfk.wav" "$BUILD" <<'PY'
import sys, wave, struct
src, build = sys.argv[1], sys.argv[2]
with wave.open(src) as w:
    rate = w.getframerate(); frames = w.readframes(rate // 2)
def write(name, data, rate, channels):
    with wave.open(f"{build}/{name}", "wb") as o:
        o.setnchannels(channels); o.setsampwidth(2); o.setframerate(rate); o.writeframes(data)
write("a16k.wav", frames, rate, 1)
s = struct.unpack(f"<{len(frames)//2}h", frames)[::2]
write("a8k_stereo.wav", struct.pack(f"<{2*len(s)}h", *[v for x in s for v in (x, -x)]), 8000, 2)
open(f"{build}/a16k.pcm", "wb").write(frames[:8000])
PY
prefixed audio 00 a16k.wav "$BUILD/a16k.wav"
prefixed audio 00 a8k_stereo.wav "$BUILD/a8k_stereo.wav"
prefixed audio 01 a16k.pcm "$BUILD/a16k.pcm"
for f in $D/speech/processors/*/preprocessor_config.json; do
  prefixed audio 02 "cfg_$(basename "$(dirname "$f")").json" "$f"
done
for f in $(find $D -name '*.index.json' -o -name 'model_index.json' | head -10); do seed hub "$f"; done
mkdir -p "$BUILD/seeds/hub"
echo '{"id":"org/m","sha":"0123456789abcdef0123456789abcdef01234567","siblings":[{"rfilename":"config.json"},{"rfilename":"model.safetensors"}]}' \
  > "$BUILD/seeds/hub/listing.json"
for f in $(find $D -name '*.car' | head -10); do seed car "$f"; done
if [ -x build/ipfs-accelerate ] && [ -d $D/conformance/bert ]; then
  mkdir -p "$BUILD/seeds/car"
  build/ipfs-accelerate cid $D/conformance/bert/config.json --car "$BUILD/seeds/car/bert-config.car" >/dev/null 2>&1 || true
fi
LIMITS=(-max_total_time="$SECS")
[ -n "${FUZZ_RUNS:-}" ] && LIMITS+=(-runs="$FUZZ_RUNS" -seed=1)
total_crashes=0
for t in "${TARGETS[@]}"; do
  mkdir -p "$BUILD/corpus/$t" "$BUILD/crashes/$t" "$BUILD/seeds/$t"
  echo "== fuzz_$t: ${SECS}s${FUZZ_RUNS:+, at most $FUZZ_RUNS inputs}"
  # -rss_limit_mb bounds each input's memory; -timeout flags a single input running over 10 s as a hang.
  nice -n 19 "$BUILD/fuzz_$t" "$BUILD/corpus/$t" "$BUILD/seeds/$t" "${LIMITS[@]}" -rss_limit_mb=2048 \
    -timeout=10 -max_len=65536 -artifact_prefix="$BUILD/crashes/$t/" -print_final_stats=1 2>&1 |
    tee "$BUILD/fuzz_$t.log" | grep -E '^(stat::number_of_executed_units|stat::new_units_added|==[0-9]+==ERROR|SUMMARY)' || true
  # crash-, leak-, oom- and timeout- inputs are failures; slow-unit- files only report slow inputs.
  n=$(find "$BUILD/crashes/$t" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'oom-*' -o -name 'timeout-*' \) | wc -l)
  echo "   crashes: $n"
  total_crashes=$((total_crashes + n))
done
if [ -n "${FUZZ_FAIL_ON_CRASH:-}" ] && [ "$total_crashes" -gt 0 ]; then
  echo "fuzz: $total_crashes crashing input(s) under $BUILD/crashes" >&2
  exit 1
fi
