#!/usr/bin/env bash
# bench/eth/run.sh - keccak256 MB/s and secp256k1 signs/s: agora_eth (C) beside ethers 6 (node), same run.
#
# Environment: BUILD, a build directory holding agora_eth (default: a
# Release build without sanitizers made in /tmp/agora-bench-eth).
# Prints a Markdown table with both figures and the ratio.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
build=${BUILD:-/tmp/agora-bench-eth}
[[ "$build" = /* ]] || build=$src/$build

if [[ -z "${BUILD:-}" ]]; then
  cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DAGORA_SANITIZE=OFF -Wno-dev >/dev/null
fi
cmake --build "$build" --target agora_eth -j2 >/dev/null
# Link flags follow the build: a sanitizer build needs the sanitizer runtime.
extra=()
grep -q 'AGORA_SANITIZE:BOOL=ON' "$build/CMakeCache.txt" && extra=(-fsanitize=address,undefined)
cc -O2 -std=gnu17 "${extra[@]}" -I"$src/src" "$here/eth_bench.c" -o "$build/eth_bench" \
   "$build/src/eth/libagora_eth.a" "$build/src/core/libagora_core.a" \
   $(pkg-config --libs nettle libsecp256k1 libsodium libcurl libcrypto jansson) -lpthread -lm
c=$("$build/eth_bench")
js=$(cd "$src" && node "$here/eth_bench.mjs")
node -e '
const c = JSON.parse(process.argv[1]), j = JSON.parse(process.argv[2]);
const rows = [["keccak256, 16 MiB buffers (MB/s)", "keccak_mb_s"], ["keccak256, 64-byte inputs (hashes/s)", "keccak64_per_s"],
  ["secp256k1 sign (signs/s)", "sign_per_s"], ["secp256k1 recover address (recovers/s)", "recover_per_s"]];
console.log("| measure | agora_eth (C) | ethers 6 (node) | ratio C/ethers |");
console.log("| --- | ---: | ---: | ---: |");
for (const [label, k] of rows) console.log(`| ${label} | ${c[k]} | ${j[k]} | ${(c[k] / j[k]).toFixed(1)}x |`);
' "$c" "$js"
