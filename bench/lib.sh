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
