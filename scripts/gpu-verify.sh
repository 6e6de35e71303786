#!/usr/bin/env bash
# GPU verification of the CUDA backend (issue 8), in one run on a machine with an NVIDIA GPU:
#   1. build with CUDA (or use a prebuilt bundle),
#   2. `ipfs-accelerate test-backend-ops --device cuda` (every op vs CPU: NMSE, NaN/Inf, guard bytes),
#   3. the CUDA unit tests (allocator reuse, OOM report, kernel-detected index errors, backend-op test),
#   4. `ipfs-accelerate conformance --device cuda --no-fallback --atol 1e-3` on every case in tests/data/conformance,
#      then the model suite on cpu and cuda (`test --all --device all`: both backends' results and their agreement),
#   5. benchmarks against PyTorch + transformers on the same GPU: BERT-base seq128 batch 1 and 32, and a ~1B
#      Llama-shaped model (prefill 512, decode tok/s at batch 1).
# Every step runs even when an earlier one failed; the exit status is non-zero if any step failed.
#
# Usage:
#   scripts/gpu-verify.sh [--prebuilt DIR] [--skip-bench] [--build-dir DIR]
#   scripts/gpu-verify.sh --bundle DIR    # on the build machine: copy the binaries and the non-system shared
#                                         # libraries they need into DIR (for a GPU machine without the build deps)
# Logs go to $OUT (default: ./gpu-verify-out), 10 files: summary.txt build.log backend_ops.log unit.log
# conformance.log suite.log results.db bench.jsonl torch_bench.jsonl env.txt.
#
# The device tool (docs/cuda.md has the exact call): the GPU machine has CMake, ninja, nvcc, PyTorch and
# transformers but no package registry. When the project's build dependencies are missing there, build here
# with `ninja -C build-cuda ipfs-accelerate ia_unit_tests`, run `scripts/gpu-verify.sh --bundle .gpu-bundle`,
# and carry .gpu-bundle (ignored by git) with `--prebuilt .gpu-bundle`.
set -uo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="${OUT:-$ROOT/gpu-verify-out}"
PREBUILT=""
BUILD_DIR="$ROOT/build-gpu"
SKIP_BENCH=0

bundle() {  # one compressed tarball: the working tree travels with a 64 MiB limit
  local dir="$1" build="${BUILD:-$ROOT/build-cuda}" stage
  stage="$(mktemp -d)"
  mkdir -p "$stage/lib" "$dir"
  cp "$build/ipfs-accelerate" "$stage/"
  [ -x "$build/tests/ia_unit_tests" ] && cp "$build/tests/ia_unit_tests" "$stage/"
  # Libraries outside the base system (glibc, libstdc++, libgcc are on any x86-64 Linux with a GPU driver).
  ldd "$stage"/ipfs-accelerate "$stage"/ia_unit_tests 2>/dev/null | awk '/=> \//{print $3}' | sort -u |
    grep -Ev '/(libc|libm|libdl|librt|libpthread|libstdc\+\+|libgcc_s|ld-linux[^/]*)\.so' |
    while read -r lib; do cp -L "$lib" "$stage/lib/"; done
  strip "$stage"/ipfs-accelerate "$stage"/ia_unit_tests 2>/dev/null || true
  tar -C "$stage" -cJf "$dir/bundle.tar.xz" .
  rm -rf "$stage"
  du -sh "$dir/bundle.tar.xz"
  echo "bundle ready: carry '$dir' and run scripts/gpu-verify.sh --prebuilt $dir"
}

while [ $# -gt 0 ]; do
  case "$1" in
    --prebuilt) PREBUILT="$2"; shift 2 ;;
    --build-dir) BUILD_DIR="$2"; shift 2 ;;
    --skip-bench) SKIP_BENCH=1; shift ;;
    --bundle) bundle "$2"; exit $? ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "gpu-verify: unknown argument $1" >&2; exit 2 ;;
  esac
done

mkdir -p "$OUT"
SUMMARY="$OUT/summary.txt"
: > "$SUMMARY"
FAILED=0
note() { echo "$*" | tee -a "$SUMMARY"; }
step() {  # step NAME LOG CMD...: runs CMD with output into LOG, records the status
  local name="$1" log="$2"; shift 2
  local t0=$SECONDS
  "$@" >> "$log" 2>&1
  local rc=$?
  note "$(printf '%-28s %s (%ds, exit %d)' "$name" "$([ $rc -eq 0 ] && echo ok || echo FAILED)" $((SECONDS - t0)) $rc)"
  [ $rc -eq 0 ] || FAILED=1
  return $rc
}

{
  date -u
  nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used --format=csv 2>&1
  nvcc --version 2>&1 | tail -2
  python3 -c 'import torch, transformers; print("torch", torch.__version__, "cuda", torch.version.cuda, "transformers", transformers.__version__)' 2>&1
  nproc
} > "$OUT/env.txt" 2>&1
note "gpu-verify on $(nvidia-smi -L 2>/dev/null | head -1 || true) ($(date -u +%FT%TZ))"

# 1. Build.
if [ -n "$PREBUILT" ]; then
  PREBUILT="$(cd "$PREBUILT" && pwd)"
  if [ -f "$PREBUILT/bundle.tar.xz" ]; then
    mkdir -p /tmp/ia-bundle && tar -C /tmp/ia-bundle -xJf "$PREBUILT/bundle.tar.xz" && PREBUILT=/tmp/ia-bundle
  fi
  CLI="$PREBUILT/ipfs-accelerate"
  UNIT="$PREBUILT/ia_unit_tests"
  export LD_LIBRARY_PATH="$PREBUILT/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  note "build                        prebuilt bundle $PREBUILT"
else
  step "build (cmake + ninja)" "$OUT/build.log" bash -c "
    cmake -S '$ROOT' -B '$BUILD_DIR' -G Ninja -DIA_CUDA=ON -DCMAKE_BUILD_TYPE=Release \
      -DIA_CUDA_ARCHITECTURES='90-real' &&
    /usr/bin/time -v ninja -C '$BUILD_DIR' ipfs-accelerate ia_unit_tests" ||
    note "  (build failed: see build.log; without the build deps use --bundle here and --prebuilt there)"
  CLI="$BUILD_DIR/ipfs-accelerate"
  UNIT="$BUILD_DIR/tests/ia_unit_tests"
fi
export IA_CLI="$CLI"
if [ ! -x "$CLI" ]; then
  note "no ipfs-accelerate binary: stopping"
  exit 1
fi
"$CLI" hardware >> "$OUT/env.txt" 2>&1

# 2. Backend-op test.
step "test-backend-ops cuda" "$OUT/backend_ops.log" "$CLI" test-backend-ops --device cuda -v
grep -E '^cuda:0: ' "$OUT/backend_ops.log" | sed 's/^/  /' | tee -a "$SUMMARY"

# 3. CUDA unit tests.
step "unit tests (cuda)" "$OUT/unit.log" "$UNIT" \
  --gtest_filter='BackendOps.*:CudaDevice.*:CudaBuild.*:CachingAllocator.*:CudaThreadBodies.*'
grep -E '^\[  (PASSED|FAILED)  \]|^\[  SKIPPED \] [0-9]+ test|^\[  FAILED  \] [A-Z]' "$OUT/unit.log" | sed 's/^/  /' |
  tee -a "$SUMMARY"

# 4. Conformance on CUDA, every case.
pass=0; fail=0; failed_cases=""
for case in "$ROOT"/tests/data/conformance/*/; do
  [ -f "$case/case.json" ] || continue
  if "$CLI" conformance "$case" --device cuda --no-fallback --atol 1e-3 >> "$OUT/conformance.log" 2>&1; then
    pass=$((pass + 1))
  else
    fail=$((fail + 1)); failed_cases="$failed_cases $(basename "$case")"
  fi
done
note "$(printf '%-28s %d passed, %d failed%s' "conformance cuda atol 1e-3" $pass $fail "${failed_cases:+:$failed_cases}")"
[ $fail -eq 0 ] || FAILED=1

# 4b. The suite on every backend: cpu and cuda results in one DB, the cross-backend agreement check for real.
step "suite cpu+cuda" "$OUT/suite.log" timeout 420 "$CLI" test --all --device all --jobs 8 --timeout 120 \
  --results "$OUT/results.db"
grep -E 'passed|failed|agree' "$OUT/suite.log" | tail -8 | sed 's/^/  /' | tee -a "$SUMMARY"

# 5. Benchmarks: ours (fp32 default math, then tf32) and PyTorch eager on the same shapes and random weights.
if [ $SKIP_BENCH -eq 0 ]; then
  WORK="$(mktemp -d)"
  cat > "$WORK/llama-1b.json" <<'EOF'
{"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 2048, "intermediate_size": 8192,
 "num_hidden_layers": 16, "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 64,
 "vocab_size": 128256, "max_position_embeddings": 4096, "rms_norm_eps": 1e-5, "rope_theta": 500000.0,
 "hidden_act": "silu", "tie_word_embeddings": true, "bos_token_id": 1, "eos_token_id": 2,
 "torch_dtype": "bfloat16"}
EOF
  BERT="$ROOT/bench/configs/bert-base-uncased.json"
  ours() {  # ours LABEL MATH ARGS...
    local label="$1" math="$2"; shift 2
    local j
    j=$(IA_CUDA_MATH="$math" "$CLI" bench "$@" --device cuda --no-fallback --json 2>>"$OUT/bench.jsonl" | tr -d '\n')
    echo "{\"engine\":\"ipfs-accelerate\",\"label\":\"$label\",\"math\":\"$math\",\"result\":${j:-null}}" >> "$OUT/bench.jsonl"
  }
  for math in fp32 tf32; do
    ours bert-b1 $math --config "$BERT" --seq 128 --batch 1 --warmup 10 --reps 100
    ours bert-b32 $math --config "$BERT" --seq 128 --batch 32 --warmup 3 --reps 20
  done
  # Llama ~1B with bf16 weights (kept 16-bit on the GPU): prefill through bench, decode through generate.
  "$CLI" make-checkpoint "$WORK/llama-1b.json" -o "$WORK/llama1b" --dtype bf16 >> "$OUT/bench.jsonl" 2>&1
  IDS=$(python3 -c 'import random; random.seed(0); print(",".join(str(random.randrange(3, 30000)) for _ in range(512)))')
  for math in fp32 bf16; do
    ours llama1b-prefill512 $math "$WORK/llama1b" --seq 512 --batch 1 --warmup 2 --reps 10
    j=$(IA_CUDA_MATH=$math "$CLI" generate "$WORK/llama1b" --input-ids "$IDS" --max-new-tokens 128 --greedy --no-eos \
        --device cuda --json 2>>"$OUT/bench.jsonl" | python3 -c 'import json,sys; j=json.loads(sys.stdin.read()); print(json.dumps({"prefill_ms": j["prefill_ms"], "tok_per_s": j["decode_tok_per_s"], "p50_ms": 1000.0 / j["decode_tok_per_s"] if j["decode_tok_per_s"] else None}))')
    echo "{\"engine\":\"ipfs-accelerate\",\"label\":\"llama1b-decode\",\"math\":\"$math\",\"result\":${j:-null}}" >> "$OUT/bench.jsonl"
  done
  step "pytorch baseline" "$OUT/torch_bench.jsonl" python3 - "$BERT" "$WORK/llama-1b.json" <<'EOF'
import json, sys, time
import torch
from transformers import AutoConfig, AutoModel, AutoModelForCausalLM

def timed(fn, warmup, reps):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    ts = []
    for _ in range(reps):
        t = time.perf_counter(); fn(); torch.cuda.synchronize(); ts.append((time.perf_counter() - t) * 1e3)
    ts.sort()
    return {"p50_ms": ts[len(ts) // 2], "min_ms": ts[0], "mean_ms": sum(ts) / len(ts)}

def emit(label, math, r):
    print(json.dumps({"engine": "pytorch-eager", "label": label, "math": math, "torch": torch.__version__, "result": r}), flush=True)

def emit_llama(math):
    if math == "tf32":
        return
    for dtype, label in ((torch.float32, "fp32"), (torch.bfloat16, "bf16")):
        llama = AutoModelForCausalLM.from_config(llama_cfg, torch_dtype=dtype).cuda().eval()
        ids = torch.randint(3, 30000, (1, 512), device="cuda")
        emit("llama1b-prefill512", label, timed(lambda: llama(input_ids=ids, use_cache=False), 2, 10))
        def decode():
            llama.generate(ids, max_new_tokens=128, min_new_tokens=128, do_sample=False)
        r = timed(decode, 1, 3)
        r["tok_per_s"] = 128 * 1000.0 / r["p50_ms"]
        r["p50_ms"] = 1000.0 / r["tok_per_s"]  # per token, comparable with ours
        emit("llama1b-decode", label, r)
        del llama
        torch.cuda.empty_cache()

bert_cfg = AutoConfig.from_pretrained(sys.argv[1])
llama_cfg = AutoConfig.from_pretrained(sys.argv[2])
for math in ("fp32", "tf32"):
    torch.backends.cuda.matmul.allow_tf32 = math == "tf32"
    torch.backends.cudnn.allow_tf32 = math == "tf32"
    with torch.inference_mode():
        bert = AutoModel.from_config(bert_cfg).cuda().eval()
        for b, reps in ((1, 100), (32, 20)):
            ids = torch.randint(3, 30000, (b, 128), device="cuda")
            mask = torch.ones_like(ids)
            r = timed(lambda: bert(input_ids=ids, attention_mask=mask), 10 if b == 1 else 3, reps)
            r["seq_per_s"] = b * 1000.0 / r["p50_ms"]
            emit(f"bert-b{b}", math, r)
        del bert
        emit_llama(math)
        torch.cuda.empty_cache()
EOF
  python3 - "$OUT/bench.jsonl" "$OUT/torch_bench.jsonl" <<'EOF' | tee -a "$SUMMARY"
import json, sys
def load(path):
    rows = {}
    for line in open(path):
        line = line.strip()
        if line.startswith("{"):
            try:
                j = json.loads(line)
            except ValueError:
                continue
            if "label" in j:
                rows[(j["label"], j.get("math", "fp32"))] = j.get("result")
    return rows
ours, torch = load(sys.argv[1]), load(sys.argv[2])
print("benchmark (p50 ms; ratio = PyTorch time / ours, > 1 means faster than PyTorch eager)")
for key in sorted(set(ours) | set(torch)):
    o, t = ours.get(key), torch.get(key)
    om = o.get("p50_ms") if o else None
    tm = t.get("p50_ms") if t else None
    ratio = f"{tm / om:.2f}x" if om and tm else "n/a"
    print(f"  {key[0]:<22} {key[1]:<5} ours {om if om is not None else 'n/a'!s:>10}  pytorch {tm if tm is not None else 'n/a'!s:>10}  ratio {ratio}")
EOF
  rm -rf "$WORK"
fi

note "result: $([ $FAILED -eq 0 ] && echo 'all steps passed' || echo 'some steps FAILED')"
exit $FAILED
