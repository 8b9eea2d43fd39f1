#!/usr/bin/env bash
# bench/load/run.sh - the node under load (issue 7). Not a test: it prints and
# records figures, and exits 1 only when a hard requirement fails (a 5xx, a
# wrong upload, the 10,000 connections neither held nor answered 503).
#
#  1. Mixed reads: wrk with 1,000 connections for 60 s over model details,
#     lists, searches and static files (LOAD_LISTINGS listings), while 50
#     clients upload files back to back through the resumable upload API.
#     Counts answers by status class (5xx must be 0), samples the node's RSS
#     every second (start, end, max: flat means no growth), p50/p99.
#     Beside it, in the same run: the node and nginx (the static-file
#     ceiling) serving the same static files at 1,000 connections.
#  2. Idle keep-alive: 10,000 connections each with one request, held open
#     for LOAD_HOLD seconds, then asked again; the node's RSS while holding.
#  3. The cap: with --max-connections 1000, 2,000 connections: those past the
#     cap are answered 503 with Retry-After, not dropped.
# Writes bench/out/load.md.
#
# Environment (all optional): AGORA_BIN (else a Release build in $BUILD,
# default /tmp/agora-bench-load), LOAD_LISTINGS (5000), LOAD_DURATION (60),
# LOAD_CONNECTIONS (1000), LOAD_UPLOADERS (50), LOAD_UPLOAD_KIB (1024),
# LOAD_REF_DURATION (15), LOAD_IDLE (10000), LOAD_HOLD (20), LOAD_KEEP=1
# keeps the temporary directory.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
. "$HERE/../lib.sh"
PY=/usr/bin/python3
LISTINGS=${LOAD_LISTINGS:-5000}
DURATION=${LOAD_DURATION:-60}
CONNS=${LOAD_CONNECTIONS:-1000}
UPLOADERS=${LOAD_UPLOADERS:-50}
UPLOAD_KIB=${LOAD_UPLOAD_KIB:-1024}
REF_DURATION=${LOAD_REF_DURATION:-15}
IDLE=${LOAD_IDLE:-10000}
HOLD=${LOAD_HOLD:-20}
OUT=$ROOT/bench/out/load.md

say() { printf 'bench/load: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }
for tool in wrk curl; do command -v $tool >/dev/null || die "$tool is missing: run scripts/setup.sh"; done

# 10,000 client sockets here and as many in the node: raise the descriptor limit.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
need=$((IDLE + 1000))
[ "$(ulimit -n)" -ge "$need" ] || die "ulimit -n is $(ulimit -n) (hard $(ulimit -Hn)); $need needed"

AGORA=$(agora_bin "$ROOT" "${BUILD:-/tmp/agora-bench-load}")
TMP=$(mktemp -d /tmp/agora-bench-load.XXXXXX)
chmod 755 "$TMP"
PIDS=()
stop() {
  local pid=$1 i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local rc=$? pid
  trap - EXIT INT TERM
  for pid in "${PIDS[@]}"; do stop "$pid"; done
  if [ "${LOAD_KEEP:-0}" = 1 ]; then say "kept $TMP"; else rm -rf "$TMP"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The web UI's built files (index.html, app.js, app.css) for the static share.
WEB=""
for d in "$(dirname "$AGORA")/web" "$ROOT/build/web"; do
  [ -f "$d/index.html" ] && { WEB=$d; break; }
done
if [ -z "$WEB" ]; then
  WEB=$TMP/web
  mkdir -p "$WEB"
  cp "$ROOT/web/index.html" "$ROOT/web/favicon.svg" "$WEB/"
  say "no built web UI found: static share uses web/index.html and favicon.svg only"
fi

# start_node DATA ARGS...: starts the node (bench/lib.sh); sets NODE_PID,
# NODE_PORT and NODE_URL. Every client here comes from 127.0.0.1: the
# per-address connection cap is off.
start_node() {
  local data=$1
  shift
  AGORA_PWHASH=min agora_start "$AGORA" "$data" "$TMP" --web-dir "$WEB" \
    --max-connections-per-ip 0 "$@" || die "the node did not start"
}

# ---- data: listings created through the node's own API --------------------
DATA=$TMP/data
mkdir -p "$DATA"
start_node "$DATA" --rate-ip 0 --rate-account 0
say "creating $LISTINGS listings through the API"
$PY "$HERE/seed.py" "$NODE_URL" "$LISTINGS" "$TMP/paths"
stop "$NODE_PID"

# The mixed workload, by share of requests: 40% details, 20% lists, 20%
# searches (half selective, half broad), 20% static files.
$PY - "$TMP/paths" "$WEB" >"$TMP/mix.txt" <<'EOF'
import os, random, sys
d, web = sys.argv[1], sys.argv[2]
read = lambda f: [l.strip() for l in open(os.path.join(d, f)) if l.strip()]
static = ["/" + f for f in ("index.html", "favicon.svg", "app.css", "app.js")
          if os.path.exists(os.path.join(web, f))]
pools = [(read("detail_paths.txt"), 40), (read("list.txt"), 20),
         (read("search_selective.txt"), 10), (read("search_broad.txt"), 10), (static, 20)]
rnd = random.Random(7)
out = []
for pool, share in pools:
    out += [rnd.choice(pool) for _ in range(share * 100)]
rnd.shuffle(out)
print("\n".join(out))
EOF
printf '%s\n' /index.html /favicon.svg /app.css /app.js | while read -r p; do
  [ -f "$WEB$p" ] && echo "$p"
done >"$TMP/static.txt"

# ---- 1. mixed reads with uploads ---------------------------------------------
start_node "$DATA" --rate-ip 0 --rate-account 0 --max-connections $((CONNS + 500)) --timeout 60
say "node: $NODE_URL (pid $NODE_PID)"
curl -sf -XPOST "$NODE_URL/api/v1/auth/register" -H 'Content-Type: application/json' \
  -d '{"username":"loader","email":"loader@example.org","password":"correct horse battery"}' >/dev/null
TOKEN=$(curl -sf -XPOST "$NODE_URL/api/v1/auth/login" -H 'Content-Type: application/json' \
  -d '{"login":"loader","password":"correct horse battery","token_name":"load"}' |
  $PY -c 'import json,sys; print(json.load(sys.stdin)["token"])')
curl -sf -XPOST "$NODE_URL/api/v1/models" -H "Authorization: Bearer $TOKEN" \
  -H 'Content-Type: application/json' -d '{"slug":"uploads","title":"Load uploads"}' >/dev/null

# RSS every second, from before the load to after it.
( while kill -0 "$NODE_PID" 2>/dev/null; do
    awk '/^VmRSS:/ { print $2 }' "/proc/$NODE_PID/status" 2>/dev/null || true
    sleep 1
  done ) >>"$TMP/rss.txt" &
RSS_PID=$!
PIDS+=("$RSS_PID")
# A warm-up, so the first samples are of a node that has served each kind.
wrk -t2 -c50 -d3s --timeout 10s -s "$HERE/mix.lua" "$NODE_URL" -- "$TMP/mix.txt" >/dev/null
RSS_BEFORE=$(awk '/^VmRSS:/ { print $2 }' "/proc/$NODE_PID/status")
RSS_SKIP=$(wc -l <"$TMP/rss.txt")
say "mixed reads: $CONNS connections for ${DURATION}s with $UPLOADERS uploaders of ${UPLOAD_KIB} KiB files"
$PY "$HERE/uploads.py" "$NODE_URL" "$TOKEN" loader uploads "$UPLOADERS" "$DURATION" "$UPLOAD_KIB" \
  >"$TMP/uploads.json" 2>"$TMP/uploads.err" &
UP_PID=$!
sleep 1   # the uploaders make their draft versions first
wrk -t2 -c"$CONNS" -d"${DURATION}s" --timeout 10s -s "$HERE/mix.lua" "$NODE_URL" -- "$TMP/mix.txt" \
  >"$TMP/wrk-mixed.txt" 2>&1 || die "wrk failed: $(cat "$TMP/wrk-mixed.txt")"
wait "$UP_PID" || die "the upload clients failed: $(cat "$TMP/uploads.err")"
sleep 2
tail -n +"$((RSS_SKIP + 1))" "$TMP/rss.txt" >"$TMP/rss-mixed.txt"
MIXED=$(grep '^WRKSTATS ' "$TMP/wrk-mixed.txt") || die "no wrk result: $(cat "$TMP/wrk-mixed.txt")"
say "mixed: $MIXED"
say "uploads: $(cat "$TMP/uploads.json")"
NODE_ERRS=$(grep -c ' error ' "$TMP/node.err" || true)

# The static share alone, node and nginx, same connections, same files.
wrk -t2 -c"$CONNS" -d"${REF_DURATION}s" --timeout 10s -s "$HERE/mix.lua" "$NODE_URL" -- \
  "$TMP/static.txt" >"$TMP/wrk-node-static.txt" 2>&1
NODE_STATIC=$(grep '^WRKSTATS ' "$TMP/wrk-node-static.txt" || echo "WRKSTATS failed")
stop "$NODE_PID"
kill "$RSS_PID" 2>/dev/null || true
NGINX_STATIC="WRKSTATS nginx-missing"
if command -v nginx >/dev/null; then
  NGX=$TMP/nginx
  mkdir -p "$NGX/html" "$NGX/tmp"
  cp -r "$WEB"/. "$NGX/html/"
  NGINX_PORT=$($PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  sed -e "s|@PREFIX@|$NGX|g" -e "s|@PORT@|$NGINX_PORT|g" -e "s|@WORKERS@|2|g" \
    "$ROOT/bench/http/nginx.conf.in" >"$NGX/nginx.conf"
  NGINX_CMD=(nginx -p "$NGX/" -c "$NGX/nginx.conf" -e "$NGX/error.log")
  if [ "$(id -u)" = 0 ]; then
    chown -R nobody:nogroup "$NGX"
    NGINX_CMD=(setpriv --reuid=nobody --regid=nogroup --clear-groups -- "${NGINX_CMD[@]}")
  fi
  "${NGINX_CMD[@]}" >"$TMP/nginx.out" 2>&1 &
  NGINX_PID=$!
  PIDS+=("$NGINX_PID")
  for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$NGINX_PORT/index.html" && break; sleep 0.1; done
  wrk -t2 -c"$CONNS" -d"${REF_DURATION}s" --timeout 10s -s "$HERE/mix.lua" \
    "http://127.0.0.1:$NGINX_PORT" -- "$TMP/static.txt" >"$TMP/wrk-nginx-static.txt" 2>&1
  NGINX_STATIC=$(grep '^WRKSTATS ' "$TMP/wrk-nginx-static.txt" || echo "WRKSTATS failed")
  stop "$NGINX_PID"
fi
say "static, node:  $NODE_STATIC"
say "static, nginx: $NGINX_STATIC"

# ---- 2. idle keep-alive connections --------------------------------------------
start_node "$DATA" --rate-ip 0 --max-connections $((IDLE + 500)) --timeout $((HOLD + 60))
RSS_IDLE_BEFORE=$(awk '/^VmRSS:/ { print $2 }' "/proc/$NODE_PID/status")
say "idle: $IDLE keep-alive connections held ${HOLD}s"
IDLE_JSON=$($PY "$HERE/idle.py" 127.0.0.1 "$NODE_PORT" "$IDLE" "$HOLD" /healthz "$NODE_PID")
say "idle: $IDLE_JSON"
stop "$NODE_PID"

# ---- 3. the configured cap ------------------------------------------------------
start_node "$DATA" --rate-ip 0 --max-connections 1000 --timeout 60
say "cap: 2000 connections against --max-connections 1000"
CAP_JSON=$($PY "$HERE/idle.py" 127.0.0.1 "$NODE_PORT" 2000 2 /healthz "$NODE_PID")
say "cap: $CAP_JSON"
stop "$NODE_PID"

# ---- report ---------------------------------------------------------------------
mkdir -p "$(dirname "$OUT")"
$PY - "$OUT" <<EOF
import json, re, statistics, sys
def stats(line):
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", line)}
mixed, ns, xs = stats("""$MIXED"""), stats("""$NODE_STATIC"""), stats("""$NGINX_STATIC""")
up = json.load(open("$TMP/uploads.json"))
rss = [int(x) for x in open("$TMP/rss-mixed.txt").read().split()]
idle, cap = json.loads('''$IDLE_JSON'''), json.loads('''$CAP_JSON''')
k = max(1, min(5, len(rss) // 4))
start, end = statistics.median(rss[:k]), statistics.median(rss[-k:])
rps = lambda s: s["requests"] * 1e6 / s["duration_us"] if s.get("duration_us") else 0
ms = lambda us: "%.1f" % (us / 1000)
fail = []
if mixed.get("s5xx", 1) or up["s5xx"] or ns.get("s5xx", 0):
    fail.append("5xx answers")
if up["bad_sha"]:
    fail.append("uploads stored wrong bytes")
# Memory flat: the last seconds' RSS within 25% + 16 MiB of the first seconds'
# (caches fill early; a leak per request or per upload grows all along).
if end > start * 1.25 + 16 * 1024:
    fail.append("memory grew under load: RSS %d MiB at the start, %d at the end" % (start // 1024, end // 1024))
held_ok = idle["held"] == idle["connections"] and idle["after_hold"].get("ok", 0) == idle["held"]
if not held_ok:
    fail.append("idle connections neither held nor answered 503")
if cap["first"].get("503-bare") or cap["first"].get("closed") or cap["first"].get("refused"):
    fail.append("connections past the cap not answered 503 + Retry-After")
lines = [
 "# bench/load: the node under load (issue 7)", "",
 "Measured by \`bench/load/run.sh\` on $(nproc) cores, $(date -u +%Y-%m-%d), binary \`$AGORA\`;",
 "wrk and the clients run on the same machine as the node.", "",
 "## Mixed reads with concurrent uploads", "",
 "| | value |", "| --- | --- |",
 "| connections (wrk, 2 threads) | $CONNS for ${DURATION} s, $LISTINGS listings |",
 "| mix | 40% detail, 20% list, 20% search, 20% static files |",
 "| requests/s | %.0f |" % rps(mixed),
 "| p50 / p90 / p99 / max | %s / %s / %s / %s ms |" % (ms(mixed["p50_us"]), ms(mixed["p90_us"]), ms(mixed["p99_us"]), ms(mixed["max_us"])),
 "| answers 2xx / 3xx / 4xx / 5xx | %d / %d / %d / **%d** |" % (mixed["s2xx"], mixed["s3xx"], mixed["s4xx"], mixed["s5xx"]),
 "| socket errors connect / read / write / timeout | %d / %d / %d / %d |" % (mixed["connect"], mixed["read"], mixed["write"], mixed["timeout"]),
 "| uploads ($UPLOADERS clients, $UPLOAD_KIB KiB each, create + PATCH) | %d done, %.1f MiB/s, p50 %s ms, p99 %s ms, 5xx %d, wrong bytes %d |" % (up["uploads"], up["mib_per_s"], up["upload_p50_ms"], up["upload_p99_ms"], up["s5xx"], up["bad_sha"]),
 "| node RSS before / start / end / max | %d / %d / %d / %d MiB (%d samples, one a second) |" % ($RSS_BEFORE // 1024, start // 1024, end // 1024, max(rss) // 1024, len(rss)),
 "| error lines in the node's log | $NODE_ERRS |", "",
 "## Static files at $CONNS connections, node beside nginx (same files, same run)", "",
 "| server | requests/s | p50 ms | p99 ms | 5xx |", "| --- | --- | --- | --- | --- |",
 "| agora | %.0f | %s | %s | %d |" % (rps(ns), ms(ns.get("p50_us", 0)), ms(ns.get("p99_us", 0)), ns.get("s5xx", 0)),
 "| nginx (2 workers) | %.0f | %s | %s | %d |" % (rps(xs), ms(xs.get("p50_us", 0)), ms(xs.get("p99_us", 0)), xs.get("s5xx", 0)),
 "",
 "## Idle keep-alive connections", "",
 "%d connections opened (%.1f s), %d held for %d s, then asked again: %s; node RSS %d MiB before, %d MiB holding them." % (idle["connections"], idle["open_s"], idle["held"], idle["hold_s"], json.dumps(idle["after_hold"]), $RSS_IDLE_BEFORE // 1024, (idle["rss_kib_held"] or 0) // 1024),
 "",
 "## The connection cap", "",
 "2,000 connections against \`--max-connections 1000\`: first answers %s (\"503\" = 503 with Retry-After, then closed)." % json.dumps(cap["first"]),
 "", "Result: " + ("**FAIL**: " + "; ".join(fail) if fail else "pass (no 5xx, uploads intact, memory flat, connections held, the cap answered)"), ""]
open(sys.argv[1], "w").write("\n".join(lines))
print("\n".join(lines))
sys.exit(1 if fail else 0)
EOF
