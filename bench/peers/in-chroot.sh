#!/usr/bin/env bash
# Runs a command inside the peers chroot (bench/peers/make-chroot.sh) with /proc mounted (ONNX Runtime and
# PyTorch read /proc/cpuinfo; /sys is deliberately not bound in), the directory WORK bind-mounted at the same
# path, a clean environment and THREADS for OpenMP. Unmounts what it mounted. Not part of CI.
# Usage: CHROOT=/work/peers-chroot WORK=DIR bench/peers/in-chroot.sh THREADS cmd args...
set -euo pipefail
chroot_dir=${CHROOT:-/work/peers-chroot}
work=${WORK:?set WORK to the directory the command needs (bind-mounted at the same path)}
threads=${1:?threads}; shift
mounted=()
cleanup() { for ((i=${#mounted[@]}-1; i>=0; i--)); do umount "${mounted[$i]}" || true; done; }
trap cleanup EXIT
if ! mountpoint -q "$chroot_dir/proc"; then mount -t proc proc "$chroot_dir/proc"; mounted+=("$chroot_dir/proc"); fi
mkdir -p "$chroot_dir$work"
if ! mountpoint -q "$chroot_dir$work"; then mount --bind "$work" "$chroot_dir$work"; mounted+=("$chroot_dir$work"); fi
chroot "$chroot_dir" /usr/bin/env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 PYTHONUNBUFFERED=1 \
  OMP_NUM_THREADS="$threads" MKL_NUM_THREADS="$threads" OPENBLAS_NUM_THREADS="$threads" TMPDIR=/tmp \
  /bin/sh -c 'cd "$0" && exec "$@"' "$work" "$@"
