#!/usr/bin/env bash
# run.sh - `make run`: seed the demo marketplace on first start, then serve
# it on http://127.0.0.1:8080 until Ctrl-C. Everything it starts stops with it.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
AGORA="$BUILD/agora"
export AGORA_DATA_DIR=${AGORA_DATA_DIR:-$PWD/data}
export AGORA_LISTEN=${AGORA_LISTEN:-127.0.0.1:8080}

pids=()
cleanup() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup INT TERM EXIT

"$AGORA" demo seed --data-dir "$AGORA_DATA_DIR"

echo "agora: data in $AGORA_DATA_DIR; press Ctrl-C to stop"
"$AGORA" serve &
pids+=($!)
wait "${pids[@]}"
