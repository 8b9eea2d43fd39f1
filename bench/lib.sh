# lib.sh - what the bench/*/run.sh scripts share; source it after `set -euo pipefail`.

# agora_bin SRC BUILD_DIR: prints the agora binary to measure: $AGORA_BIN
# when set, else an optimized (Release) build made in BUILD_DIR.
agora_bin() {
  local src=$1 build=$2
  if [[ -n "${AGORA_BIN:-}" ]]; then
    printf '%s\n' "$AGORA_BIN"
    return
  fi
  [[ "$build" = /* ]] || build=$src/$build
  cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -Wno-dev >/dev/null
  cmake --build "$build" --target agora -j2 >/dev/null
  printf '%s\n' "$build/agora"
}

# agora_start BIN DATA_DIR LOG_DIR [SERVE_ARGS...]: starts `BIN serve` on a
# free loopback port with DATA_DIR, waits (up to 30 s) until GET /healthz
# answers 200, and sets NODE_PID, NODE_PORT and NODE_URL; the pid is also
# appended to the caller's PIDS array for its cleanup. The node's stdout goes
# to LOG_DIR/node.out, its stderr is appended to LOG_DIR/node.err. Variables
# set before the call (AGORA_PWHASH=min agora_start ...) reach the node. On
# failure it prints the node's stderr and returns 1.
agora_start() {
  local bin=$1 data=$2 logs=$3 i port=""
  shift 3
  : >"$logs/node.out"
  AGORA_LOG_LEVEL=warn "$bin" serve --listen 127.0.0.1:0 --data-dir "$data" \
    "$@" >"$logs/node.out" 2>>"$logs/node.err" &
  NODE_PID=$!
  PIDS+=("$NODE_PID")
  for ((i = 0; i < 300; i++)); do
    port=$(sed -n 's|.*serving on http://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$logs/node.out" | head -1)
    [ -n "$port" ] && break
    if ! kill -0 "$NODE_PID" 2>/dev/null; then
      cat "$logs/node.err" >&2
      printf 'agora_start: the node exited at start\n' >&2
      return 1
    fi
    sleep 0.1
  done
  if [ -z "$port" ]; then
    printf "agora_start: the node did not print 'serving on' within 30 s\n" >&2
    return 1
  fi
  NODE_PORT=$port
  NODE_URL=http://127.0.0.1:$port
  for ((i = 0; i < 300; i++)); do
    [ "$(curl -s -o /dev/null --max-time 2 -w '%{http_code}' "$NODE_URL/healthz" || true)" = 200 ] &&
      return 0
    sleep 0.1
  done
  printf 'agora_start: %s/healthz did not answer 200 within 30 s\n' "$NODE_URL" >&2
  return 1
}
