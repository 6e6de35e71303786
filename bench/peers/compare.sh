#!/usr/bin/env bash
# Same-run comparison of ipfs-accelerate against ONNX Runtime and PyTorch (Debian trixie packages in a chroot,
# bench/peers/make-chroot.sh) on the same random-weight checkpoints, shapes and thread counts. Not part of CI:
# a benchmark, run by hand on a quiet machine. Prints a markdown table with ratios and keeps every JSON record.
#
# Usage: bench/peers/compare.sh [--threads "1 2"] [--reps N] [--only bert|decode] [--shapes "1x128 8x128 1x512"]
#                               [--build DIR]   (BERT shapes: batch x sequence; PyTorch runs the first one only)
# Env:   PEERS_DATA (default /work/peers-data: checkpoints, ONNX files, results), CHROOT (default /work/peers-chroot)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
data=${PEERS_DATA:-/work/peers-data}
export CHROOT=${CHROOT:-/work/peers-chroot}
threads="1 2"
shapes="1x128"
reps=10
only=""
build="$repo/build"
while [ $# -gt 0 ]; do
  case $1 in
    --threads) threads=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    --shapes) shapes=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "compare.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
ia="$build/ipfs-accelerate"
[ -x "$ia" ] || { echo "compare.sh: $ia not built" >&2; exit 1; }
# Builds without load-time weight dtypes (--dtype) run only the rows that need none. Our --dtype applies to every
# linear layer: BERT rows in bf16 and w8a8 (int8 weights, activations quantized per row) beside fp32.
has_dtype=0
"$ia" bench --help 2>/dev/null | grep -q -- '--dtype' && has_dtype=1
[ -f "$CHROOT/.peers-ready" ] || { echo "compare.sh: no peers chroot at $CHROOT (run bench/peers/make-chroot.sh)" >&2; exit 1; }
mkdir -p "$data"
results="$data/results-$(date -u +%Y%m%dT%H%M%SZ).jsonl"
# The chroot sees only $data (bind-mounted at the same path): the peer scripts are copied there.
rm -rf "$data/py" && cp -r "$here/py" "$data/py"
peer() { WORK="$data" "$here/in-chroot.sh" "$1" python3 "$data/py/peer_bench.py" "${@:2}"; }
# ours TAG THREADS SUBCOMMAND ARGS...: our JSON record plus the tag, as one line.
ours() {
  local tag=$1 t=$2; shift 2
  "$ia" --threads "$t" "$@" --json | python3 -c 'import json,sys; j=json.loads(sys.stdin.read()); j["tag"]=sys.argv[1]; print(json.dumps(j))' "$tag"
}
ckpt() {  # config name, dir, make-checkpoint flags...
  [ -f "$data/$2/model.safetensors" ] || "$ia" make-checkpoint "$repo/bench/configs/$1.json" -o "$data/$2" "${@:3}" >&2
}
{
  echo "{\"what\": \"machine\", \"cpu\": \"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')\", \"cores\": $(nproc), \"flags\": \"$(grep -m1 flags /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx2|fma|avx512f|avx512_vnni|avx512_bf16|avx_vnni|amx_int8)$' | tr '\n' ' ')\", \"loadavg\": \"$(cut -d' ' -f1-3 /proc/loadavg)\"}"
  if [ -z "$only" ] || [ "$only" = bert ]; then
    ckpt bert-base-uncased bert-base --class BertModel
    [ -f "$data/onnx/bert_opt_int8.onnx" ] || peer 2 export --ckpt "$data/bert-base" --out "$data/onnx"
    for shape in $shapes; do
      b=${shape%x*} sq=${shape#*x}
      for t in $threads; do
        peak=""
        "$ia" bench --help 2>/dev/null | grep -q -- '--peak' && peak=--peak
        ours "ours fp32" "$t" bench "$data/bert-base" --class BertModel --batch "$b" --seq "$sq" --reps "$reps" $peak
        if [ $has_dtype = 1 ]; then
          for dt in bf16 w8a8; do
            ours "ours $dt" "$t" bench "$data/bert-base" --class BertModel --batch "$b" --seq "$sq" --reps "$reps" \
              --dtype "$dt"
          done
        fi
        for be in ort ort-int8 torch; do
          peer "$t" bert --backend "$be" --ckpt "$data/bert-base" --onnx "$data/onnx" --threads "$t" --batch "$b" \
            --seq "$sq" --reps "$reps"
        done
      done
    done
  fi
  if [ -z "$only" ] || [ "$only" = decode ]; then
    ckpt llama-1b llama-1b-bf16 --dtype bf16
    ckpt gpt2-125m gpt2
    t=$(echo "$threads" | awk '{print $NF}')
    if [ $has_dtype = 1 ]; then
      for dt in bf16 int8 w8a8; do
        ours "ours $dt" "$t" bench-generate "$data/llama-1b-bf16" --dtype "$dt" --prompt-len 128 --gen 32 --reps 2
      done
    else
      ours "ours bf16" "$t" bench-generate "$data/llama-1b-bf16" --prompt-len 128 --gen 32 --reps 2
    fi
    peer "$t" decode --threads "$t" --ckpt "$data/llama-1b-bf16" --dtype bf16 --prompt 128 --gen 32 --reps 2 --warmup 1
    ours "ours fp32" "$t" bench-generate "$data/gpt2" --prompt-len 128 --gen 64 --reps 3
    peer "$t" decode --threads "$t" --ckpt "$data/gpt2" --dtype fp32 --prompt 128 --gen 64 --reps 3 --warmup 1
  fi
} | tee "$results"
python3 "$here/py/table.py" "$results"
echo "records: $results"
