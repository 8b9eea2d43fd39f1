#!/usr/bin/env bash
# run.sh - bench/http: wrk against the node's model detail, list and search
# over 100,000 listings, beside nginx (a static JSON file of the same size:
# the ceiling) and the seed's stack (Flask under gunicorn on the same SQLite
# file with the same SQL), all in the same run. Prints requests/s, p50 and
# p99 per case and the ratios, and writes the table to bench/out/http.md.
#
# Environment (all optional):
#   BUILD                  build directory holding `agora` (default: build)
#   BENCH_LISTINGS         listings to generate (default 100000)
#   BENCH_DURATION         wrk duration per case (default 10s)
#   BENCH_CONNECTIONS      connection counts to run (default "8 64")
#   BENCH_THREADS          wrk threads (default 2)
#   BENCH_GUNICORN_WORKERS gunicorn sync workers (default 2: one per core)
#   BENCH_NGINX_WORKERS    nginx worker processes (default 2: one per core)
#   BENCH_KEEP=1           keep the temporary directory (data, logs) afterwards
#   BENCH_REUSE=DIR        copy the data and paths of a directory kept by
#                          BENCH_KEEP=1 instead of generating them again
# Every process this script starts is stopped on exit, however it exits.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) BUILD_DIR=$BUILD ;; *) BUILD_DIR=$ROOT/$BUILD ;; esac
AGORA=$BUILD_DIR/agora
. "$HERE/../lib.sh"
PY=/usr/bin/python3
LISTINGS=${BENCH_LISTINGS:-100000}
DURATION=${BENCH_DURATION:-10s}
CONNECTIONS=${BENCH_CONNECTIONS:-8 64}
THREADS=${BENCH_THREADS:-2}
GUNICORN_WORKERS=${BENCH_GUNICORN_WORKERS:-2}
NGINX_WORKERS=${BENCH_NGINX_WORKERS:-2}
WARMUP=${BENCH_WARMUP:-2s}
OUT_DIR=$ROOT/bench/out

say() { printf 'bench/http: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

for tool in wrk nginx gunicorn curl; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is missing: run scripts/setup.sh"
done
$PY -c 'import flask' 2>/dev/null || die "python3-flask is missing: run scripts/setup.sh"

TMP=$(mktemp -d /tmp/agora-bench-http.XXXXXX)
chmod 755 "$TMP"   # nginx's unprivileged workers read their document root from here
PIDS=()

# stop PID: SIGTERM, up to 10 s for a graceful exit, then SIGKILL.
stop() {
  local pid=$1 i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    say "pid $pid did not stop in 10 s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$? pid
  trap - EXIT INT TERM
  for pid in "${PIDS[@]}"; do stop "$pid"; done
  if [ "${BENCH_KEEP:-0}" = 1 ]; then say "kept $TMP"; else rm -rf "$TMP"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
  $PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_http URL: up to 30 s for URL to answer at all.
wait_http() {
  local i
  for ((i = 0; i < 300; i++)); do
    curl -s -o /dev/null --max-time 2 "$1" && return 0
    sleep 0.1
  done
  return 1
}

# start_node DATA_DIR: starts `agora serve` on a free port (bench/lib.sh);
# sets NODE_PID, NODE_URL.
start_node() {
  # wrk from one address is far past the default per-address rate limit and
  # connection cap: off.
  AGORA_RATE_IP=0 AGORA_RATE_ACCOUNT=0 agora_start "$AGORA" "$1" "$TMP" \
    --max-connections-per-ip 0 || die "the node did not start"
}

# ---- the data: schema from the node itself, then 100,000 listings ---------
DATA=$TMP/data
mkdir -p "$DATA"
HAVE_NODE=0
[ -x "$AGORA" ] && HAVE_NODE=1
if [ -n "${BENCH_REUSE:-}" ]; then
  [ -f "$BENCH_REUSE/data/agora.db" ] && [ -f "$BENCH_REUSE/paths/dataset.json" ] ||
    die "BENCH_REUSE=$BENCH_REUSE holds no data/agora.db and paths/ from an earlier run"
  say "reusing the listings of $BENCH_REUSE"
  cp "$BENCH_REUSE"/data/agora.db* "$DATA/"
  cp -r "$BENCH_REUSE/paths" "$TMP/paths"
elif [ "$HAVE_NODE" = 1 ]; then
  start_node "$DATA"           # applies the migrations
  stop "$NODE_PID"
  say "generating $LISTINGS listings into $DATA/agora.db (about a minute per 100,000)"
  $PY "$HERE/gen_listings.py" "$DATA/agora.db" "$LISTINGS" "$TMP/paths" >&2
else
  say "no node at $AGORA (build it, or set BUILD): running the references only"
  say "generating $LISTINGS listings into $DATA/agora.db (about a minute per 100,000)"
  $PY "$HERE/gen_listings.py" "$DATA/agora.db" "$LISTINGS" "$TMP/paths" \
    --migrations "$ROOT/src/store/migrations" >&2
fi

# ---- the three servers ----------------------------------------------------
if [ "$HAVE_NODE" = 1 ]; then
  start_node "$DATA"
  say "node: $NODE_URL (pid $NODE_PID)"
fi

FLASK_PORT=$(free_port)
AGORA_BENCH_DB=$DATA/agora.db gunicorn --chdir "$HERE" --workers "$GUNICORN_WORKERS" \
  --worker-class sync --bind "127.0.0.1:$FLASK_PORT" --log-level warning \
  --pid "$TMP/gunicorn.pid" flask_app:app >"$TMP/gunicorn.log" 2>&1 &
FLASK_PID=$!
PIDS+=("$FLASK_PID")
FLASK_URL=http://127.0.0.1:$FLASK_PORT
wait_http "$FLASK_URL/api/v1/models?limit=1" || { cat "$TMP/gunicorn.log" >&2; die "gunicorn did not start"; }
say "flask: $FLASK_URL (gunicorn, $GUNICORN_WORKERS sync workers)"

# nginx serves the node's own detail response for one listing (the Flask
# app's when there is no node): the same bytes, so the same size.
FIRST_DETAIL=$(head -1 "$TMP/paths/detail_paths.txt")
NGX=$TMP/nginx
mkdir -p "$NGX/html" "$NGX/tmp"
if [ "$HAVE_NODE" = 1 ]; then DETAIL_SRC=$NODE_URL; else DETAIL_SRC=$FLASK_URL; fi
for ((try = 0; try < 5; try++)); do   # a first request may be slow on a busy machine
  status=$(curl -s --max-time 30 -o "$NGX/html/model.json" -w '%{http_code}' "$DETAIL_SRC$FIRST_DETAIL" || true)
  [ "$status" = 200 ] && break
  sleep 1
done
if [ "$status" != 200 ]; then
  head -c 600 "$NGX/html/model.json" >&2 2>/dev/null || true
  die "GET $DETAIL_SRC$FIRST_DETAIL answered ${status:-nothing}, not 200"
fi
NGINX_PORT=$(free_port)
sed -e "s|@PREFIX@|$NGX|g" -e "s|@PORT@|$NGINX_PORT|g" -e "s|@WORKERS@|$NGINX_WORKERS|g" \
  "$HERE/nginx.conf.in" >"$NGX/nginx.conf"
NGINX_CMD=(nginx -p "$NGX/" -c "$NGX/nginx.conf" -e "$NGX/error.log")
if [ "$(id -u)" = 0 ]; then
  # Unprivileged even when run as root: nginx never needs root on a high port.
  chown -R nobody:nogroup "$NGX"
  NGINX_CMD=(setpriv --reuid=nobody --regid=nogroup --clear-groups -- "${NGINX_CMD[@]}")
fi
"${NGINX_CMD[@]}" >"$TMP/nginx.out" 2>&1 &
NGINX_PID=$!
PIDS+=("$NGINX_PID")
NGINX_URL=http://127.0.0.1:$NGINX_PORT
wait_http "$NGINX_URL/model.json" || { cat "$TMP/nginx.out" "$NGX/error.log" >&2 || true; die "nginx did not start"; }
echo /model.json >"$TMP/paths/static.txt"
say "nginx: $NGINX_URL/model.json ($(stat -c %s "$NGX/html/model.json") bytes, $NGINX_WORKERS workers)"

# ---- same answers? ---------------------------------------------------------
if [ "$HAVE_NODE" = 1 ]; then
  $PY "$HERE/report.py" shape "$NODE_URL" "$FLASK_URL" "$TMP/paths" >&2 ||
    say "warning: the node and the Flask app answer differently (see above)"
fi

# ---- wrk --------------------------------------------------------------------
RESULTS=$TMP/results.tsv
: >"$RESULTS"
# Other work on the machine lowers every figure: say so, and record it.
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
if awk -v l="${LOAD_BEFORE%% *}" -v n="$(nproc)" 'BEGIN { exit !(l > n / 2) }'; then
  say "warning: the machine is busy (load average $LOAD_BEFORE on $(nproc) cores): figures will be low"
fi
# drain URL: when wrk stops, the server still works through the requests
# queued on the connections it closed (seconds of work for slow cases at 64
# connections). Each measurement must start on an idle server: wait (up to
# 3 minutes) until a cheap request, queued behind that work, answers quickly.
drain() {
  local url=$1$(head -1 "$TMP/paths/detail_paths.txt") i t
  for ((i = 0; i < 180; i++)); do
    t=$(curl -s -o /dev/null --max-time 60 -w '%{time_total}' "$url" || echo 60)
    awk -v t="$t" 'BEGIN { exit !(t < 0.2) }' && return 0
    sleep 1
  done
  say "warning: $1 is still busy after 3 minutes"
}

# measure STACK CASE URL PATHS_FILE: a warm-up, then one run per connection count.
measure() {
  local stack=$1 case_=$2 url=$3 paths=$4 c line
  drain "$url"
  wrk -t"$THREADS" -c8 -d"$WARMUP" --timeout 10s -s "$HERE/paths.lua" "$url" -- "$paths" >/dev/null
  for c in $CONNECTIONS; do
    drain "$url"
    line=$(wrk -t"$THREADS" -c"$c" -d"$DURATION" --timeout 10s -s "$HERE/paths.lua" "$url" -- "$paths" |
      grep '^WRKSTATS ') || die "wrk failed on $stack $case_"
    printf '%s\t%s\t%s\t%s\n' "$stack" "$case_" "$c" "$line" >>"$RESULTS"
    say "$(printf '%-6s %-16s c=%-3s %s' "$stack" "$case_" "$c" "$line")"
  done
}

measure nginx static "$NGINX_URL" "$TMP/paths/static.txt"
for stack in node flask; do
  if [ "$stack" = node ]; then
    [ "$HAVE_NODE" = 1 ] || continue
    url=$NODE_URL
  else
    url=$FLASK_URL
  fi
  measure "$stack" detail "$url" "$TMP/paths/detail_paths.txt"
  measure "$stack" list "$url" "$TMP/paths/list.txt"
  measure "$stack" search-selective "$url" "$TMP/paths/search_selective.txt"
  measure "$stack" search-broad "$url" "$TMP/paths/search_broad.txt"
done

mkdir -p "$OUT_DIR"
$PY "$HERE/report.py" table "$RESULTS" "$TMP/paths/dataset.json" "$OUT_DIR/http.md" \
  --static-bytes "$(stat -c %s "$NGX/html/model.json")" --threads "$THREADS" \
  --duration "$DURATION" --gunicorn-workers "$GUNICORN_WORKERS" --nginx-workers "$NGINX_WORKERS" \
  --agora "$AGORA" --load "$LOAD_BEFORE / $(cut -d' ' -f1-3 /proc/loadavg)" \
  $([ "$HAVE_NODE" = 1 ] || echo --no-node)
say "wrote $OUT_DIR/http.md"
