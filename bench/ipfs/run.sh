#!/usr/bin/env bash
# bench/ipfs/run.sh - hashing/import speed of `agora ipfs add` beside OpenSSL, the JS
# importer and the disk's own durable-write speed.
#
#   bench/ipfs/run.sh [SIZE_MB]          (default 256)
# Environment: AGORA_IPFS_BIN (an agora binary; default: $AGORA_BIN or a
# Release build made in $BUILD, default /tmp/agora-bench-ipfs), BENCH_DIR
# (where the test file and data dir go; default a fresh /tmp directory).
# All figures come from this one run, on the same cached file. The disk
# ceiling is `dd conv=fsync` of the same file to the same directory, through
# the page cache (bs=1M) and around it (bs=4M oflag=direct, as the import
# writes its leaves): the fastest the bytes can be made durable there, with
# no hashing and a single file.
# Nothing is deleted until every run is done: on ext4 without a journal (as
# here) a file created within a minute or more of many deletes in the same
# block group pays for skipping each recently deleted inode (ext4's
# recently_deleted()), which made a rm -rf between runs cost the next import
# seconds of system time.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
size_mb=${1:-256}
build=${BUILD:-/tmp/agora-bench-ipfs}

. "$here/../lib.sh"
if [[ -z "${AGORA_IPFS_BIN:-}" ]]; then
  AGORA_IPFS_BIN=$(agora_bin "$src" "$build")
fi
bin=$AGORA_IPFS_BIN
sub=()
[[ "$(basename "$bin")" == agora ]] && sub=(ipfs)

dir=${BENCH_DIR:-$(mktemp -d /tmp/agora-ipfs-bench.XXXXXX)}
file=$dir/input.bin
if [[ ! -f $file || $(stat -c %s "$file") -ne $((size_mb << 20)) ]]; then
  head -c $((size_mb << 20)) /dev/urandom >"$file"
fi
cat "$file" >/dev/null   # into the page cache: every contender reads it from memory

now() { date +%s.%N; }
calc() { awk "BEGIN { print $* }"; }
# best: runs a command 3 times; T = the best time in seconds, OUT = its stdout.
best() {
  local t0 t1 t
  T=999999
  for _ in 1 2 3; do
    t0=$(now); OUT=$("$@"); t1=$(now)
    t=$(calc "$t1 - $t0")
    T=$(calc "($t < $T) ? $t : $T")
  done
}
mbps() { awk "BEGIN { printf \"%d\", $size_mb * 1.048576 / $1 }"; }

printf 'file: %d MiB, %s, %s cores\n\n' "$size_mb" "$(uname -m)" "$(nproc)"
best openssl dgst -sha256 "$file"; r_ssl=$(mbps "$T")
best "$bin" "${sub[@]}" add --only-hash "$file"; cid_ours=$OUT; r_hash=$(mbps "$T")
# (best runs its command in a subshell: each run names its own fresh output.)
imp() { "$bin" "${sub[@]}" add --data-dir "$(mktemp -d "$dir/data.XXXXXX")" "$file"; }
best imp; r_imp=$(mbps "$T")
ddw() { dd if="$file" of="$(mktemp "$dir/dd.XXXXXX")" bs=1M conv=fsync status=none; }
best ddw; r_dd=$(mbps "$T")
ddd() { dd if="$file" of="$(mktemp "$dir/dd.XXXXXX")" bs=4M oflag=direct conv=fsync status=none; }
best ddd; r_ddd=$(mbps "$T")
best node "$src/tests/ipfs/reference.mjs" "$file"; cid_js=$OUT; r_js=$(mbps "$T")
best node "$src/tests/ipfs/reference.mjs" --buffer 1048576 "$file"; r_js1=$(mbps "$T")

ratio() { awk "BEGIN { printf \"%.2f\", $1 / $2 }"; }
printf '%-44s %8s MB/s\n' "openssl dgst -sha256 (one stream, SHA-NI)" "$r_ssl"
printf '%-44s %8s MB/s  %sx openssl\n' "agora ipfs add --only-hash" "$r_hash" "$(ratio "$r_hash" "$r_ssl")"
printf '%-44s %8s MB/s  %sx openssl, %sx dd, %sx dd direct\n' "agora ipfs add (blockstore, durable)" \
  "$r_imp" "$(ratio "$r_imp" "$r_ssl")" "$(ratio "$r_imp" "$r_dd")" "$(ratio "$r_imp" "$r_ddd")"
printf '%-44s %8s MB/s  %sx openssl\n' "disk: dd bs=1M conv=fsync (page cache)" "$r_dd" "$(ratio "$r_dd" "$r_ssl")"
printf '%-44s %8s MB/s  %sx openssl\n' "disk: dd bs=4M oflag=direct conv=fsync" "$r_ddd" "$(ratio "$r_ddd" "$r_ssl")"
printf '%-44s %8s MB/s\n' "JS ipfs-unixfs-importer (64 KiB reads)" "$r_js"
printf '%-44s %8s MB/s\n' "JS ipfs-unixfs-importer (1 MiB reads)" "$r_js1"
best_js=$(( r_js > r_js1 ? r_js : r_js1 ))
printf 'agora --only-hash vs best JS: %sx; full import vs best JS: %sx\n' \
  "$(ratio "$r_hash" "$best_js")" "$(ratio "$r_imp" "$best_js")"
if [[ "$cid_ours" != "$cid_js" ]]; then
  echo "MISMATCH: agora $cid_ours, JS $cid_js" >&2
  exit 1
fi
echo "same root CID: $cid_ours"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
rm -rf "$dir"/data.* "$dir"/dd.*
[[ -z "${BENCH_DIR:-}" ]] && rm -rf "$dir"
exit 0
