#!/usr/bin/env bash
# run.sh - `make run`: start a local chain (anvil) and deploy the contracts on
# first start, seed the demo marketplace, then serve it on
# http://127.0.0.1:8080 following the chain until Ctrl-C. Everything it
# starts stops with it.
#
# AGORA_CHAIN_RPC=URL uses another EVM JSON-RPC endpoint instead of a local
# anvil (its deployment manifest must then exist: `agora chain deploy`);
# AGORA_CHAIN=off serves without a chain.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
AGORA="$BUILD/agora"
ANVIL=${ANVIL:-$PWD/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil}
export AGORA_DATA_DIR=${AGORA_DATA_DIR:-$PWD/data}
export AGORA_LISTEN=${AGORA_LISTEN:-127.0.0.1:8080}
ANVIL_PORT=${ANVIL_PORT:-8545}
# anvil's first development account: a well-known key, for the local chain only
DEV_KEY=0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80

pids=()
cleanup() {
  trap - INT TERM EXIT
  # the node first, then the chain (anvil writes its state file on SIGTERM)
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -TERM "${pids[i]}" 2>/dev/null || true
    wait "${pids[i]}" 2>/dev/null || true
  done
}
trap cleanup INT TERM EXIT

mkdir -p "$AGORA_DATA_DIR"
"$AGORA" demo seed --data-dir "$AGORA_DATA_DIR"

if [[ ${AGORA_CHAIN:-on} != off && -z ${AGORA_CHAIN_RPC:-} ]]; then
  # A local development chain whose state persists in the data directory.
  export AGORA_CHAIN_RPC="http://127.0.0.1:$ANVIL_PORT"
  "$ANVIL" --host 127.0.0.1 --port "$ANVIL_PORT" --silent \
    --state "$AGORA_DATA_DIR/anvil-state.json" --state-interval 10 &
  pids+=($!)
  for _ in $(seq 100); do
    curl -sf -o /dev/null -H 'Content-Type: application/json' \
      -d '{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}' "$AGORA_CHAIN_RPC" && break
    sleep 0.1
  done
  # first start, or the chain state was lost: (re)deploy
  if [[ ! -f $AGORA_DATA_DIR/chain.json || ! -f $AGORA_DATA_DIR/anvil-state.json ]]; then
    keyfile=$(mktemp)
    printf '%s\n' "$DEV_KEY" >"$keyfile"
    echo "agora: deploying the contracts to the local chain"
    "$AGORA" chain deploy --chain-rpc "$AGORA_CHAIN_RPC" --key-file "$keyfile" \
      --data-dir "$AGORA_DATA_DIR" --force || { rm -f "$keyfile"; exit 1; }
    rm -f "$keyfile"
  fi
fi

echo "agora: data in $AGORA_DATA_DIR; press Ctrl-C to stop"
if [[ ${AGORA_CHAIN:-on} == off ]]; then
  unset AGORA_CHAIN_RPC
fi
"$AGORA" serve &
pids+=($!)
wait "${pids[@]}"
