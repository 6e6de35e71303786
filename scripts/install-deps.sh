#!/usr/bin/env bash
# Installs the Debian packages ipfs-accelerate builds and tests with. Idempotent, non-interactive.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  libopenblas-dev libdnnl-dev
  nlohmann-json3-dev libcli11-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libsqlite3-dev libcurl4-openssl-dev zlib1g-dev
  libonig-dev libutf8proc-dev nettle-dev
  libpng-dev libjpeg-dev libsndfile1-dev libsoxr-dev
  libfaiss-dev
  clang-14 libclang-rt-14-dev
  python3 chromium
)

# The cid tests recompute their reference CIDs with the JavaScript IPFS importer when node and npm exist
# (npm registry only; the committed vectors are checked either way).
NPM_CID_DIR="$(dirname "$0")/../tests/servers/npm-cid"
if command -v npm >/dev/null 2>&1 && [ ! -d "$NPM_CID_DIR/node_modules/ipfs-unixfs-importer" ]; then
  (cd "$NPM_CID_DIR" && timeout 300 npm ci --no-audit --no-fund --loglevel=error) ||
    echo "install-deps: npm ci in tests/servers/npm-cid failed; CidNpm tests will be skipped"
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
