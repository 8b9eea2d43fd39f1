#!/usr/bin/env bash
# run.sh - runs every benchmark: each bench/*/run.sh in turn (`make bench`).
# BUILD names the build directory (default: build). A failing benchmark is
# reported and the others still run; the exit status is 1 if any failed.
set -uo pipefail
cd "$(dirname "$0")"
export BUILD=${BUILD:-build}
failed=()
found=0
for script in */run.sh; do
  [ -f "$script" ] || continue
  found=1
  echo "== bench/${script%/run.sh}"
  bash "./$script" || failed+=("${script%/run.sh}")
done
[ "$found" = 1 ] || { echo "bench: no bench/*/run.sh found" >&2; exit 1; }
if [ ${#failed[@]} -gt 0 ]; then
  echo "bench: failed: ${failed[*]}" >&2
  exit 1
fi
echo "bench: results in bench/out/"
