#!/usr/bin/env bash
# run.sh - `make run`: start a local chain (anvil, or Ganache) and deploy the contracts on
# first start, seed the demo marketplace, then serve it on
# http://127.0.0.1:8080 following the chain until Ctrl-C. Everything it
# starts stops with it.
#
# AGORA_CHAIN picks the chain: anvil (default, chain id 31337), ganache
# (npm ganache 7.9, chain id 1337; its data directory defaults to ./data-ganache
# so the two chains' indexes never mix) or off (serve without a chain).
# AGORA_CHAIN_RPC=URL uses another EVM JSON-RPC endpoint instead of a local
# chain (its deployment manifest must then exist: `agora chain deploy`).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
AGORA="$BUILD/agora"
CHAIN=${AGORA_CHAIN:-anvil}
case $CHAIN in
  on | anvil) CHAIN=anvil ;;
  ganache | off) ;;
  *) echo "run.sh: AGORA_CHAIN must be anvil, ganache or off, not $CHAIN" >&2; exit 2 ;;
esac
ANVIL=${ANVIL:-$PWD/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil}
GANACHE=${GANACHE:-$PWD/node_modules/ganache/dist/node/cli.js}
if [[ $CHAIN == ganache ]]; then
  export AGORA_DATA_DIR=${AGORA_DATA_DIR:-$PWD/data-ganache}
else
  export AGORA_DATA_DIR=${AGORA_DATA_DIR:-$PWD/data}
fi
export AGORA_LISTEN=${AGORA_LISTEN:-127.0.0.1:8080}
CHAIN_PORT=${CHAIN_PORT:-${ANVIL_PORT:-8545}}
# Both chains fund the ten accounts of this well-known development mnemonic; the
# first deploys the contracts (`agora chain deploy` with no key uses the node's
# first unlocked account, on development chains only).
DEV_MNEMONIC="test test test test test test test test test test test junk"

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

if [[ $CHAIN != off && -z ${AGORA_CHAIN_RPC:-} ]]; then
  # A local development chain whose state persists in the data directory.
  export AGORA_CHAIN_RPC="http://127.0.0.1:$CHAIN_PORT"
  if [[ $CHAIN == ganache ]]; then
    state=$AGORA_DATA_DIR/ganache-db
    fresh=$([[ -d $state ]] && echo no || echo yes)
    mkdir -p "$state"
    node "$GANACHE" --server.host 127.0.0.1 --server.port "$CHAIN_PORT" --chain.chainId 1337 \
      --chain.hardfork shanghai --wallet.mnemonic "$DEV_MNEMONIC" --wallet.defaultBalance 10000 \
      --database.dbPath "$state" --logging.quiet >"$AGORA_DATA_DIR/ganache.log" &
  else
    state=$AGORA_DATA_DIR/anvil-state.json
    fresh=$([[ -f $state ]] && echo no || echo yes)
    "$ANVIL" --host 127.0.0.1 --port "$CHAIN_PORT" --silent \
      --mnemonic "$DEV_MNEMONIC" --state "$state" --state-interval 10 &
  fi
  pids+=($!)
  for _ in $(seq 300); do
    curl -sf -o /dev/null -H 'Content-Type: application/json' \
      -d '{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}' "$AGORA_CHAIN_RPC" && break
    sleep 0.1
  done
  # first start, or the chain state was lost: (re)deploy
  if [[ ! -f $AGORA_DATA_DIR/chain.json || $fresh == yes ]]; then
    echo "agora: deploying the contracts to the local $CHAIN chain"
    "$AGORA" chain deploy --chain-rpc "$AGORA_CHAIN_RPC" --data-dir "$AGORA_DATA_DIR" --force
  fi
  # The deployer (the mnemonic's first account) is the Marketplace's pricing signer: the
  # node signs price quotes with its well-known dev key, on this local chain only.
  if [[ -z ${AGORA_PRICING_KEY:-} ]]; then
    export AGORA_PRICING_KEY=$AGORA_DATA_DIR/pricing-dev.key
    (umask 077 && echo 0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80 \
      >"$AGORA_PRICING_KEY")
    chmod 600 "$AGORA_PRICING_KEY"
  fi
fi

echo "agora: data in $AGORA_DATA_DIR; press Ctrl-C to stop"
if [[ $CHAIN == off ]]; then
  unset AGORA_CHAIN_RPC
fi
"$AGORA" serve &
pids+=($!)
wait "${pids[@]}"
