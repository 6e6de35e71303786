#!/usr/bin/env bash
# Builds the Debian trixie chroot that hosts the peers of bench/peers/compare.sh: ONNX Runtime
# (python3-onnxruntime) and PyTorch (python3-torch) from Debian's own packages. Not part of CI.
# Needs root, debootstrap and the Debian mirror apt already uses on this host.
# python3-torch links libblas.so.3, which without an optimized BLAS is the reference netlib one
# (BERT-base then takes seconds): libopenblas0-openmp provides it, on the OpenMP runtime torch uses.
# The PyTorch peer is plain torch code in bench/peers/py/peer_models.py (transformers is not packaged by Debian).
# Usage: bench/peers/make-chroot.sh [DIR]   (DIR: chroot directory, default /work/peers-chroot, outside the repo)
set -euo pipefail
dir=/work/peers-chroot
case ${1:-} in
  -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
  "") ;;
  *) dir=$1 ;;
esac
here=$(cd "$(dirname "$0")" && pwd)

# The mirror apt uses here: deb822 "URIs:" lines or one-line "deb URL suite" entries, security excluded.
mirror=$(grep -rhoE '^(URIs:|deb)[[:space:]]+(\[[^]]*\][[:space:]]+)?https?://[^[:space:]]+' \
           /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null \
         | grep -oE 'https?://[^[:space:]]+/debian/?$' | grep -v security | head -1 || true)
[ -n "$mirror" ] || { echo "make-chroot: no Debian mirror found in /etc/apt/sources.list*" >&2; exit 1; }
command -v debootstrap >/dev/null || { apt-get update -qq; apt-get install -y -qq debootstrap; }

if [ ! -x "$dir/usr/bin/python3" ] || [ ! -f "$dir/.peers-ready" ] \
   || [ ! -e "$dir/usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3" ]; then
  [ -x "$dir/bin/sh" ] || debootstrap --variant=minbase trixie "$dir" "$mirror"
  chroot "$dir" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive sh -c '
    apt-get update -qq &&
    apt-get install -y -qq --no-install-recommends python3 python3-numpy python3-torch python3-onnxruntime \
      python3-onnx python3-safetensors python3-packaging python3-yaml python3-filelock python3-regex \
      python3-tqdm python3-requests python3-fsspec python3-typing-extensions libopenblas0-openmp'
  touch "$dir/.peers-ready"
fi

CHROOT=$dir WORK=/tmp "$here/in-chroot.sh" 1 python3 -c \
  'import torch, onnxruntime; print("torch", torch.__version__, "onnxruntime", onnxruntime.__version__)'
echo "peers chroot ready: $dir"
