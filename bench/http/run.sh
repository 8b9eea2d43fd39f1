#!/usr/bin/env bash
# run.sh - bench/http: wrk against the node's model detail, list and search
# over 100,000 listings, beside nginx (a static JSON file of the same size:
# the ceiling) and the seed's stack (Flask under gunicorn on the same SQLite
# file with the same SQL), all in the same run. Prints requests/s, p50 and
# p99 per case and the ratios, and writes the table to bench/out/http.md.
#
# The node runs in two configurations, one after the other on the same data
# (stopped and started again in between):
#   uncached  `agora serve --cache-ms 0`: every request computes its answer.
#             The issue's goals are judged on these figures.
#   cached    the node's default: the 2-second micro-cache of anonymous reads.
#             Reported beside them, for information.
# After each start, run.sh waits until the node's in-memory search index is
# built (/healthz: search_index.state "ready") before measuring, and reports
# the index's state, its build time and the node's RSS.
#
# Environment (all optional):
#   BUILD                  build directory holding `agora` (default: build)
#   BENCH_LISTINGS         listings to generate (default 100000)
#   BENCH_DURATION         wrk duration per case (default 10s)
#   BENCH_CONNECTIONS      connection counts to run (default "8 64")
#   BENCH_THREADS          wrk threads (default 2)
#   BENCH_GUNICORN_WORKERS gunicorn sync workers (default 2: one per core)
#   BENCH_NGINX_WORKERS    nginx worker processes (default 2: one per core)
#   BENCH_AGORA_MODES      node configurations to run, in this order
#                          (default "uncached cached")
#   BENCH_INDEX_WAIT       seconds to wait for the search index after each
#                          start of the node (default 120)
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
# shellcheck source=SCRIPTDIR/../lib.sh disable=SC1091
. "$HERE/../lib.sh"
PY=/usr/bin/python3
LISTINGS=${BENCH_LISTINGS:-100000}
DURATION=${BENCH_DURATION:-10s}
CONNECTIONS=${BENCH_CONNECTIONS:-8 64}
THREADS=${BENCH_THREADS:-2}
GUNICORN_WORKERS=${BENCH_GUNICORN_WORKERS:-2}
NGINX_WORKERS=${BENCH_NGINX_WORKERS:-2}
WARMUP=${BENCH_WARMUP:-2s}
INDEX_WAIT=${BENCH_INDEX_WAIT:-120}
OUT_DIR=$ROOT/bench/out

say() { printf 'bench/http: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

MODES=()
for mode in ${BENCH_AGORA_MODES:-uncached cached}; do
  case "$mode" in
    uncached | cached) [[ " ${MODES[*]} " = *" $mode "* ]] || MODES+=("$mode") ;;
    *) die "BENCH_AGORA_MODES: unknown configuration '$mode' (uncached, cached)" ;;
  esac
done
[[ "$INDEX_WAIT" =~ ^[0-9]+$ ]] || die "BENCH_INDEX_WAIT must be a number of seconds"
# The configurations are run.sh's to choose: the cached one is the node's default.
unset AGORA_CACHE_MS

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

# start_node MODE DATA_DIR: starts `agora serve` on a free port (bench/lib.sh)
# in configuration MODE (uncached: --cache-ms 0; cached or setup: the node's
# default); sets NODE_PID, NODE_URL and NODE_T0 (start time, ms).
start_node() {
  local mode=$1 data=$2 args=(--max-connections-per-ip 0)
  [ "$mode" = uncached ] && args+=(--cache-ms 0)
  NODE_T0=$(now_ms)
  # wrk from one address is far past the default per-address rate limit and
  # connection cap: off.
  AGORA_RATE_IP=0 AGORA_RATE_ACCOUNT=0 agora_start "$AGORA" "$data" "$TMP" "${args[@]}" ||
    die "the node did not start"
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# rss_kb PID: the process's anonymous resident memory (RssAnon: its heap,
# stacks and the search index, without the database file's pages that SQLite
# maps and the kernel can drop) in KiB, 0 when unknown.
rss_kb() {
  local kb
  kb=$(awk '$1 == "RssAnon:" { print $2 }' "/proc/$1/status" 2>/dev/null || true)
  echo "${kb:-0}"
}

# index_state URL: prints "STATE LISTINGS NOTE" from GET URL/healthz's
# search_index ("- - unreachable" when no JSON answers; "off - missing" when
# the node does not report a search index: a build from before it). The
# object is flat, so bash's regexes read it: a poll costs one curl, no more,
# beside a node building its index on a small machine.
index_state() {
  local body re si state=off listings=-
  body=$(curl -s --max-time 5 "$1/healthz" 2>/dev/null || true)
  if [[ ! "$body" =~ ^[[:space:]]*\{.*\}[[:space:]]*$ ]]; then
    echo "- - unreachable"
    return
  fi
  re='"search_index"[[:space:]]*:[[:space:]]*\{([^}]*)\}'
  if [[ ! "$body" =~ $re ]]; then
    echo "off - missing"
    return
  fi
  si=${BASH_REMATCH[1]}
  re='"state"[[:space:]]*:[[:space:]]*"([A-Za-z_-]+)"'
  [[ "$si" =~ $re ]] && state=${BASH_REMATCH[1]}
  re='"listings"[[:space:]]*:[[:space:]]*([0-9]+)'
  [[ "$si" =~ $re ]] && listings=${BASH_REMATCH[1]}
  echo "$state $listings -"
}

# wait_index MODE: up to INDEX_WAIT seconds for the node's search index to be
# built (state ready; off or failed end the wait with a warning); records the
# state, the time from start to the end of the wait and the RSS then in
# NODE_INFO ($TMP/nodes.tsv gets the row after the runs, with the final RSS).
wait_index() {
  local mode=$1 state listings note deadline elapsed
  deadline=$(($(now_ms) + INDEX_WAIT * 1000))
  while :; do
    read -r state listings note < <(index_state "$NODE_URL")
    case "$state" in ready | off | failed) break ;; esac
    kill -0 "$NODE_PID" 2>/dev/null || { cat "$TMP/node.err" >&2; die "the node exited"; }
    if (($(now_ms) >= deadline)); then
      say "warning: the search index is still '$state' after $INDEX_WAIT s: measuring anyway"
      state="$state-after-${INDEX_WAIT}s"
      break
    fi
    sleep 0.1
  done
  elapsed=$(($(now_ms) - NODE_T0))
  case "$state" in
    ready) say "node ($mode): search index ready ($listings listings) $((elapsed / 1000)).$(printf '%03d' $((elapsed % 1000))) s after start" ;;
    off) if [ "$note" = missing ]; then
           say "warning: node ($mode): /healthz reports no search index (an older build?): taking it as off"
         else
           say "warning: node ($mode): the search index is off: SQL answers every search"
         fi ;;
    failed) say "warning: node ($mode): the search index failed to build: SQL answers every search"
            tail -5 "$TMP/node.err" >&2 ;;
  esac
  NODE_INFO=$(printf '%s\t%s\t%s\t%s\t%s\t%s' "$mode" "$state" "$listings" "$note" "$elapsed" \
    "$(rss_kb "$NODE_PID")")
}

# ---- the data: schema from the node itself, then 100,000 listings ---------
DATA=$TMP/data
mkdir -p "$DATA"
HAVE_NODE=0
[ -x "$AGORA" ] && HAVE_NODE=1
if [ -n "${BENCH_REUSE:-}" ]; then
  if [ ! -f "$BENCH_REUSE/data/agora.db" ] || [ ! -f "$BENCH_REUSE/paths/dataset.json" ]; then
    die "BENCH_REUSE=$BENCH_REUSE holds no data/agora.db and paths/ from an earlier run"
  fi
  say "reusing the listings of $BENCH_REUSE"
  cp "$BENCH_REUSE"/data/agora.db* "$DATA/"
  cp -r "$BENCH_REUSE/paths" "$TMP/paths"
elif [ "$HAVE_NODE" = 1 ]; then
  start_node setup "$DATA"     # applies the migrations
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
# The node starts in its first configuration; later ones start after it.
NODES=$TMP/nodes.tsv
: >"$NODES"
[ "${#MODES[@]}" -gt 0 ] || HAVE_NODE=0
if [ "$HAVE_NODE" = 1 ]; then
  start_node "${MODES[0]}" "$DATA"
  say "node (${MODES[0]}): $NODE_URL (pid $NODE_PID)"
  wait_index "${MODES[0]}"
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
# check_shape MODE: the node (as configured now) against the Flask app.
check_shape() {
  $PY "$HERE/report.py" shape "$NODE_URL" "$FLASK_URL" "$TMP/paths" >&2 ||
    say "warning: the node ($1) and the Flask app answer differently (see above)"
}
if [ "$HAVE_NODE" = 1 ]; then check_shape "${MODES[0]}"; fi

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
  local url i t
  url=$1$(head -1 "$TMP/paths/detail_paths.txt")
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
    say "$(printf '%-12s %-16s c=%-3s %s' "$stack" "$case_" "$c" "$line")"
  done
}

# measure_api STACK URL: the four API cases.
measure_api() {
  measure "$1" detail "$2" "$TMP/paths/detail_paths.txt"
  measure "$1" list "$2" "$TMP/paths/list.txt"
  measure "$1" search-selective "$2" "$TMP/paths/search_selective.txt"
  measure "$1" search-broad "$2" "$TMP/paths/search_broad.txt"
}

measure nginx static "$NGINX_URL" "$TMP/paths/static.txt"
if [ "$HAVE_NODE" = 1 ]; then
  for i in "${!MODES[@]}"; do
    mode=${MODES[$i]}
    if [ "$i" -gt 0 ]; then
      stop "$NODE_PID"   # before the next start: one node on the data at a time
      start_node "$mode" "$DATA"
      say "node ($mode): $NODE_URL (pid $NODE_PID)"
      wait_index "$mode"
      check_shape "$mode"
    fi
    # Result rows: "agora" is the uncached node, "agora-cached" the default.
    if [ "$mode" = uncached ]; then stack=agora; else stack=agora-cached; fi
    measure_api "$stack" "$NODE_URL"
    printf '%s\t%s\n' "$NODE_INFO" "$(rss_kb "$NODE_PID")" >>"$NODES"
    say "node ($mode): anonymous RSS $(($(rss_kb "$NODE_PID") / 1024)) MiB after its runs"
  done
  stop "$NODE_PID"   # Flask runs alone, as nginx did
fi
measure_api flask "$FLASK_URL"

mkdir -p "$OUT_DIR"
REPORT_ARGS=(--static-bytes "$(stat -c %s "$NGX/html/model.json")" --threads "$THREADS"
  --duration "$DURATION" --gunicorn-workers "$GUNICORN_WORKERS" --nginx-workers "$NGINX_WORKERS"
  --agora "$AGORA" --nodes "$NODES" --load "$LOAD_BEFORE / $(cut -d' ' -f1-3 /proc/loadavg)")
[ "$HAVE_NODE" = 1 ] || REPORT_ARGS+=(--no-node)
$PY "$HERE/report.py" table "$RESULTS" "$TMP/paths/dataset.json" "$OUT_DIR/http.md" "${REPORT_ARGS[@]}"
say "wrote $OUT_DIR/http.md"
