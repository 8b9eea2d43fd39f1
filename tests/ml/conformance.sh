#!/bin/sh
# conformance.sh - runs `agora onnx test` over an ONNX backend-test suite and
# fails if it crashes, prints no summary, or passes fewer cases than recorded.
#
# usage: conformance.sh AGORA_ONNX SUITE_DIR MIN_PASSED_FILE|NUMBER
set -u
bin=$1 suite=$2 min=$3
[ -f "$min" ] && min=$(tr -dc 0-9 < "$min")
out=$(mktemp)
trap 'rm -f "$out"' EXIT
# Exit status 1 just means some case failed; a signal (>128) is a crash.
timeout 540 "$bin" onnx test "$suite" > "$out" 2>&1
rc=$?
if [ $rc -gt 1 ]; then
    tail -20 "$out"
    echo "conformance: agora onnx test exited with status $rc (crash or hang)"
    exit 1
fi
summary=$(tail -1 "$out")
echo "$summary"
grep '^FAIL' "$out" | head -40
passed=$(echo "$summary" | sed -n 's/^\([0-9][0-9]*\) passed, [0-9]* failed, [0-9]* skipped$/\1/p')
if [ -z "$passed" ]; then
    echo "conformance: no summary line"
    exit 1
fi
if [ "$passed" -lt "$min" ]; then
    echo "conformance: $passed passed, fewer than the recorded $min"
    exit 1
fi
echo "conformance: $passed passed (recorded minimum $min)"
