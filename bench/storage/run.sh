#!/usr/bin/env bash
# bench/storage/run.sh - upload and download throughput through a running node,
# beside `cp`/`cat` of the same file on the same disk and the JS importer.
#
#   bench/storage/run.sh [SIZE_MB]        (default 512)
# Environment: AGORA_BIN (an agora binary; default: a Release build made in
# $BUILD, default /tmp/agora-bench-storage), BENCH_DIR (where the file, the
# node's data dir and the copies go; default a fresh /tmp directory).
#
# Download is also measured beside nginx (sendfile on) serving the same
# bytes from the same disk, with the same curl, in the same run.
#
# Upload = one PATCH of the whole file with curl, timed until the node's
# answer, which comes after the import into the blockstore (chunking,
# hashing, fsynced blocks): compared with `cp FILE COPY && sync` (the same
# bytes written durably) and with the JS reference importer hashing the same
# file (no writes at all). Download = GET of the published file with curl to
# /dev/null (every block read back and verified) beside `cat FILE >/dev/null`.
# All figures come from this one run; each is the best of 3.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
size_mb=${1:-512}
. "$here/../lib.sh"
bin=$(agora_bin "$src" "${BUILD:-/tmp/agora-bench-storage}")
dir=${BENCH_DIR:-$(mktemp -d /tmp/agora-storage-bench.XXXXXX)}
file=$dir/input.bin
size=$((size_mb << 20))
[[ -f $file && $(stat -c %s "$file") -eq $size ]] || head -c "$size" /dev/urandom >"$file"
cat "$file" >/dev/null

now() { date +%s.%N; }
calc() { awk "BEGIN { print $* }"; }
mbps() { awk "BEGIN { printf \"%d\", $size_mb * 1.048576 / $1 }"; }
ratio() { awk "BEGIN { printf \"%.2f\", $1 / $2 }"; }

# The node.
rm -rf "$dir/data"
AGORA_PWHASH=min AGORA_LOG_LEVEL=warn "$bin" serve --listen 127.0.0.1:0 --data-dir "$dir/data" \
  >"$dir/node.out" 2>"$dir/node.log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do grep -q "serving on" "$dir/node.out" 2>/dev/null && break; sleep 0.1; done
url=$(sed -n 's/.*serving on //p' "$dir/node.out")
api() { curl -sf -H "Authorization: Bearer $tok" -H 'Content-Type: application/json' "$@"; }
curl -sf -XPOST "$url/api/v1/auth/register" -H 'Content-Type: application/json' \
  -d '{"username":"bench","email":"b@x.org","password":"correct horse battery"}' >/dev/null
tok=$(curl -sf -XPOST "$url/api/v1/auth/login" -H 'Content-Type: application/json' \
  -d '{"login":"bench","password":"correct horse battery","token_name":"b"}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
api -XPOST "$url/api/v1/models" -d '{"slug":"m","title":"bench"}' >/dev/null

T_up=999999
for i in 1 2 3; do
  api -XPOST "$url/api/v1/models/bench/m/versions" -d "{\"version\":\"1.0.$i\"}" >/dev/null
  id=$(api -XPOST "$url/api/v1/models/bench/m/versions/1.0.$i/uploads" \
    -d "{\"name\":\"w.bin\",\"size\":$size}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  rm -rf "$dir/data/blocks"/[A-Z0-9]* 2>/dev/null || true   # a fresh import each time
  sync
  t0=$(now)
  curl -sf -XPATCH "$url/api/v1/uploads/$id" -H "Authorization: Bearer $tok" -H 'Expect:' \
    -H 'Content-Type: application/offset+octet-stream' -H 'Upload-Offset: 0' \
    -T "$file" -o "$dir/up.json"
  t1=$(now)
  t=$(calc "$t1 - $t0"); T_up=$(calc "($t < $T_up) ? $t : $T_up")
done
cid=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["cid"])' "$dir/up.json")
api -XPOST "$url/api/v1/models/bench/m/versions/1.0.3/publish" >/dev/null
r_up=$(mbps "$T_up")

T_cp=999999
for _ in 1 2 3; do
  rm -f "$dir/copy.bin"; sync
  t0=$(now); cp "$file" "$dir/copy.bin"; sync; t1=$(now)
  t=$(calc "$t1 - $t0"); T_cp=$(calc "($t < $T_cp) ? $t : $T_cp")
done
rm -f "$dir/copy.bin"
r_cp=$(mbps "$T_cp")

T_js=999999
for _ in 1 2 3; do
  t0=$(now); cid_js=$(node "$src/tests/ipfs/reference.mjs" --buffer 1048576 "$file"); t1=$(now)
  t=$(calc "$t1 - $t0"); T_js=$(calc "($t < $T_js) ? $t : $T_js")
done
r_js=$(mbps "$T_js")

# nginx serving the same bytes (a hard link in its root), one worker, as we
# run: no master process, so nothing changes user and nothing outside $dir.
mkdir -p "$dir/nginx/html" "$dir/nginx/tmp"
ln -f "$file" "$dir/nginx/html/w.bin" 2>/dev/null || cp "$file" "$dir/nginx/html/w.bin"
nport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$dir/nginx/nginx.conf" <<NGINX
daemon off;
master_process off;
worker_processes 1;
pid $dir/nginx/nginx.pid;
error_log $dir/nginx/error.log warn;
events { worker_connections 64; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    client_body_temp_path $dir/nginx/tmp;
    proxy_temp_path $dir/nginx/tmp;
    fastcgi_temp_path $dir/nginx/tmp;
    uwsgi_temp_path $dir/nginx/tmp;
    scgi_temp_path $dir/nginx/tmp;
    default_type application/octet-stream;
    server { listen 127.0.0.1:$nport; root $dir/nginx/html; }
}
NGINX
/usr/sbin/nginx -p "$dir/nginx" -c "$dir/nginx/nginx.conf" 2>"$dir/nginx/stderr" &
npid=$!
trap 'kill $pid $npid 2>/dev/null; wait $pid $npid 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -sf -o /dev/null -r 0-0 "http://127.0.0.1:$nport/w.bin" && break; sleep 0.1; done
# Alternate the two so that a burst of load hits both alike; best of 5 each.
T_dl=999999; T_ng=999999
for _ in 1 2 3 4 5; do
  t0=$(now); curl -sf "http://127.0.0.1:$nport/w.bin" -o /dev/null; t1=$(now)
  t=$(calc "$t1 - $t0"); T_ng=$(calc "($t < $T_ng) ? $t : $T_ng")
  t0=$(now); curl -sf "$url/api/v1/models/bench/m/versions/1.0.3/files/w.bin" -o /dev/null; t1=$(now)
  t=$(calc "$t1 - $t0"); T_dl=$(calc "($t < $T_dl) ? $t : $T_dl")
done
r_dl=$(mbps "$T_dl")
r_ng=$(mbps "$T_ng")

T_cat=999999
for _ in 1 2 3; do
  t0=$(now); cat "$file" >/dev/null; t1=$(now)
  t=$(calc "$t1 - $t0"); T_cat=$(calc "($t < $T_cat) ? $t : $T_cat")
done
r_cat=$(mbps "$T_cat")

printf 'file: %d MiB, %s, %s cores; CIDs %s\n\n' "$size_mb" "$(uname -m)" "$(nproc)" \
  "$([[ $cid == "$cid_js" ]] && echo "agree with the JS importer" || echo "DIFFER: $cid vs $cid_js")"
printf '%-52s %6s MB/s\n' "upload: PATCH through the node (import, fsync)" "$r_up"
printf '%-52s %6s MB/s  node/cp %s\n' "cp FILE + sync (same disk)" "$r_cp" "$(ratio "$r_up" "$r_cp")"
printf '%-52s %6s MB/s  node/js %s\n' "JS ipfs-unixfs-importer, hash only (1 MiB reads)" "$r_js" \
  "$(ratio "$r_up" "$r_js")"
printf '%-52s %6s MB/s  node/nginx %s\n' "download: GET through the node (verified reads)" "$r_dl" \
  "$(ratio "$r_dl" "$r_ng")"
printf '%-52s %6s MB/s\n' "nginx, same bytes from disk (sendfile)" "$r_ng"
printf '%-52s %6s MB/s  node/cat %s\n' "cat FILE > /dev/null (page cache)" "$r_cat" \
  "$(ratio "$r_dl" "$r_cat")"
[[ $cid == "$cid_js" ]]
