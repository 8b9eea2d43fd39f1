#!/usr/bin/env bash
# bench/ipfs/run.sh - hashing/import speed of `agora ipfs add` beside OpenSSL and the JS importer.
#
#   bench/ipfs/run.sh [SIZE_MB]          (default 256)
# Environment: AGORA_IPFS_BIN (an agora binary; default: $AGORA_BIN or a
# Release build made in $BUILD, default /tmp/agora-bench-ipfs), BENCH_DIR
# (where the test file and data dir go; default a fresh /tmp directory).
# All figures come from this one run, on the same cached file.
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
imp() { rm -rf "$dir/data"; "$bin" "${sub[@]}" add --data-dir "$dir/data" "$file"; }
best imp; r_imp=$(mbps "$T")
best node "$src/tests/ipfs/reference.mjs" "$file"; cid_js=$OUT; r_js=$(mbps "$T")
best node "$src/tests/ipfs/reference.mjs" --buffer 1048576 "$file"; r_js1=$(mbps "$T")

ratio() { awk "BEGIN { printf \"%.2f\", $1 / $2 }"; }
printf '%-44s %8s MB/s\n' "openssl dgst -sha256 (one stream, SHA-NI)" "$r_ssl"
printf '%-44s %8s MB/s  %sx openssl\n' "agora ipfs add --only-hash" "$r_hash" "$(ratio "$r_hash" "$r_ssl")"
printf '%-44s %8s MB/s  %sx openssl\n' "agora ipfs add (blockstore, fsync)" "$r_imp" "$(ratio "$r_imp" "$r_ssl")"
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
[[ -z "${BENCH_DIR:-}" ]] && rm -rf "$dir"
exit 0
