#!/usr/bin/env bash
# bench/chain/run.sh - indexer throughput: replaying N licence purchases from a
# local anvil into a fresh node, beside one plain eth_getLogs of the same range;
# then buy-to-unlock latency (bench/chain/unlock.py: from `agora buy` returning to
# the node serving the file, automine and 1-second blocks, beside ethers' buy).
#
#   bench/chain/run.sh [N] [RUNS]    (default 10000 purchases, 7 unlock runs per mode)
#   BENCH_ONLY=unlock bench/chain/run.sh   (only the unlock latency)
# Environment: AGORA_BIN (an agora binary; default: a Release build made in
# $BUILD, default /tmp/agora-bench-chain), BENCH_DIR (default a fresh /tmp dir).
#
# purchases.mjs fills the chain (2 transactions per purchase, buyWithPermit),
# then times ethers fetching every log of the three contracts in one
# eth_getLogs (best of 3). The node is started on a fresh data directory with
# --chain-poll-ms 50 and timed from "serving on" until /api/v1/chain reports
# the head indexed (best of 2): it fetches the same logs in bounded ranges,
# checks block hashes, decodes every event and commits them to SQLite.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
n=${1:-10000}
. "$here/../lib.sh"
bin=$(agora_bin "$src" "${BUILD:-/tmp/agora-bench-chain}")
dir=${BENCH_DIR:-$(mktemp -d /tmp/agora-chain-bench.XXXXXX)}
mkdir -p "$dir" "$src/bench/out"
if [[ "${BENCH_ONLY:-}" == unlock ]]; then
  /usr/bin/python3 "$here/unlock.py" "$bin" "$src" "$dir/unlock" "${2:-7}" 2>"$dir/unlock.json" |
    tee "$src/bench/out/chain-unlock.txt"
  exit 0
fi
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
rpc=http://127.0.0.1:$port
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

"$src/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil" --host 127.0.0.1 --port "$port" \
  --silent --gas-limit 2000000000 &
pids+=($!)
for _ in $(seq 100); do
  curl -sf -o /dev/null -H 'Content-Type: application/json' \
    -d '{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}' "$rpc" && break
  sleep 0.1
done
(umask 077 && echo 0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80 >"$dir/key")
"$bin" chain deploy --chain-rpc "$rpc" --key-file "$dir/key" --data-dir "$dir/deploy" \
  --contracts-dir "$src/contracts" >/dev/null
manifest=$dir/deploy/chain.json
echo "filling the chain with $n purchases..."
(cd "$src" && node bench/chain/purchases.mjs fill "$rpc" "$manifest" "$n")

ref_ms=
for _ in 1 2 3; do
  r=$(cd "$src" && node bench/chain/purchases.mjs getlogs "$rpc" "$manifest")
  ms=$(echo "$r" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["ms"])')
  logs=$(echo "$r" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["logs"])')
  ref_ms=$(/usr/bin/python3 -c "print(min(float(x) for x in '$ref_ms $ms'.split()))")
done

# the same request with curl: the transport and the node alone, no JSON parsing
curl_ms=
filter=$(/usr/bin/python3 -c "
import json; m = json.load(open('$manifest'))
print(json.dumps({'jsonrpc': '2.0', 'id': 1, 'method': 'eth_getLogs', 'params': [{'fromBlock': hex(m['block']),
  'toBlock': 'latest', 'address': [m['contracts'][c]['address'] for c in ('AgoraToken', 'ModelRegistry', 'Marketplace')]}]}))")
for _ in 1 2 3; do
  s=$(curl -s -o /dev/null -w '%{time_total}' -H 'Content-Type: application/json' -d "$filter" "$rpc")
  curl_ms=$(/usr/bin/python3 -c "print(min(float(x) for x in '$curl_ms $(/usr/bin/python3 -c "print($s*1000)")'.split()))")
done

ours_ms=
for run in 1 2; do
  data=$dir/node$run
  out=$(AGORA_LOG_LEVEL=warn /usr/bin/python3 - "$bin" "$data" "$rpc" "$manifest" <<'PY'
import json, subprocess, sys, time, urllib.request
bin_, data, rpc, manifest = sys.argv[1:]
p = subprocess.Popen([bin_, "serve", "--listen", "127.0.0.1:0", "--rate-ip", "0", "--data-dir", data, "--chain-rpc", rpc,
                      "--chain-manifest", manifest, "--chain-poll-ms", "50"], stdout=subprocess.PIPE)
line = p.stdout.readline().decode()
t0 = time.monotonic()
url = line.split("serving on ", 1)[1].strip()
head = json.load(urllib.request.urlopen(urllib.request.Request(rpc, json.dumps(
    {"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []}).encode(),
    {"Content-Type": "application/json"})))["result"]
head = int(head, 16)
while True:
    st = json.load(urllib.request.urlopen(url + "/api/v1/chain"))
    if st.get("indexed_block") == head:
        break
    time.sleep(0.005)
ms = (time.monotonic() - t0) * 1000
p.terminate(); p.wait()
print(json.dumps({"ms": ms, "events": st["events_indexed"]}))
PY
)
  ms=$(echo "$out" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["ms"])')
  events=$(echo "$out" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["events"])')
  ours_ms=$(/usr/bin/python3 -c "print(min(float(x) for x in '$ours_ms $ms'.split()))")
done

/usr/bin/python3 - "$n" "$logs" "$ref_ms" "$events" "$ours_ms" "$curl_ms" <<'PY' | tee "$src/bench/out/chain.txt"
import sys
n, logs, ref, events, ours = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
crl = float(sys.argv[6])
print("chain indexer, %d purchases (%d logs) on anvil" % (n, logs))
print("  %-44s %9.0f ms  %9.0f logs/s" % ("plain eth_getLogs of the range (ethers)", ref, logs / ref * 1000))
print("  %-44s %9.0f ms  %9.0f logs/s" % ("plain eth_getLogs of the range (curl)", crl, logs / crl * 1000))
print("  %-44s %9.0f ms  %9.0f events/s" % ("agora indexer, fresh node to caught up", ours, events / ours * 1000))
print("  ratio (indexer / plain fetch, ethers)        %9.2fx" % (ours / ref))
print("  ratio (indexer / plain fetch, curl)          %9.2fx" % (ours / crl))
PY

/usr/bin/python3 "$here/unlock.py" "$bin" "$src" "$dir/unlock" "${2:-7}" 2>"$dir/unlock.json" |
  tee "$src/bench/out/chain-unlock.txt"
