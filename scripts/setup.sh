#!/usr/bin/env bash
# setup.sh - install everything Agora needs to build, run and test.
# Idempotent: packages already present are skipped, so a second run is quick.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages, grouped by what needs them.
PKGS=(
  # build
  build-essential cmake pkg-config clang-format clang libclang-rt-14-dev
  # node: HTTP server and client, JSON, database, crypto, markdown
  libmicrohttpd-dev libjansson-dev libsqlite3-dev sqlite3 libsodium-dev
  libcurl4-openssl-dev libssl-dev nettle-dev libsecp256k1-dev libcmark-dev
  # ONNX engine: schema, BLAS, reference test data
  protobuf-c-compiler libprotobuf-c-dev libopenblas-dev libopenblas0-pthread
  libonnx-testdata python3-onnx python3-numpy python3-torch
  # tests, benchmarks and their reference peers
  python3 curl wrk nginx-light gunicorn python3-flask
  # browser tests: Debian's chromium driven by playwright-core
  chromium
)
# Node.js and npm: Debian's, unless the machine already has a Node.js with npm
# (NodeSource's nodejs bundles npm and conflicts with Debian's npm package).
command -v npm >/dev/null 2>&1 || PKGS+=(nodejs npm)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm packages: exact versions from package-lock.json, no install scripts.
if [ -f package-lock.json ]; then
  stamp=node_modules/.agora-lock
  if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
    echo "setup: npm ci"
    npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
    cp package-lock.json "$stamp"
  fi
fi
