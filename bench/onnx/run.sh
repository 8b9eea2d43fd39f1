#!/bin/sh
# run.sh - latency of our ONNX engine beside onnxruntime-node, same models,
# same inputs, same run, at 1 and 2 threads; prints a table with the ratio.
#
# usage: bench/onnx/run.sh [ITERS [ROUNDS]]      (from the repository root)
# Builds an optimized, unsanitized agora_onnx in build-ml-bench/, generates the
# models (MLP 784-512-512-10 at batch 64, 5-layer CNN on 3x64x64, ResNet-18
# style on 3x224x224, transformer encoder) with tests/ml/gen_models.py, then
# times each with `agora onnx run --repeat` and ort_run.js --bench (medians of
# ITERS runs). The two alternate ROUNDS times (default 3) and each side keeps
# its best median: on a machine shared with other builds the load comes and
# goes, and the best of a few alternating rounds is the steadiest estimate of
# both engines' speed on an idle machine.
set -eu
iters=${1:-50}
rounds=${2:-3}
root=$(cd "$(dirname "$0")/../.." && pwd)
bd=$root/build-ml-bench
cmake -S "$root" -B "$bd" -DCMAKE_BUILD_TYPE=Release -DAGORA_SANITIZE=OFF -Wno-dev >/dev/null
cmake --build "$bd" --target agora_onnx -j2 >/dev/null
models=$bd/bench-models
/usr/bin/python3 "$root/tests/ml/gen_models.py" "$models" mlp cnn resnet18 transformer >/dev/null

# min A B: the smaller of two decimal numbers, B alone when A is empty.
min() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b + 0 < a + 0) print b; else print a }'; }

echo "BLAS: $(cd /tmp && "$bd/agora_onnx" onnx info "$models/mlp/model.onnx" >/dev/null && echo OpenBLAS)"
printf '%-12s %7s %10s %10s %6s   %12s %12s %6s\n' model threads agora_ms ort_ms ratio \
  agora_cpu_ms ort_cpu_ms ratio
for threads in 1 2; do
  for m in mlp cnn resnet18 transformer; do
    d=$models/$m
    feeds=""
    while IFS= read -r l; do feeds="$feeds ${l%%=*}=$d/${l#*=}"; done < "$d/inputs.txt"
    n=$iters
    [ "$m" = resnet18 ] && n=$(( iters / 5 + 1 ))
    inputs=""
    for f in $feeds; do inputs="$inputs --input $f"; done
    ours=; ocpu=; ref=; rcpu=
    round=0
    while [ $round -lt "$rounds" ]; do
      round=$((round + 1))
      # shellcheck disable=SC2086
      o=$("$bd/agora_onnx" onnx run "$d/model.onnx" $inputs --output-dir "$d/out" \
             --threads $threads --repeat $n 2>&1 >/dev/null)
      # shellcheck disable=SC2086
      r=$(node "$root/tests/ml/ort_run.js" "$d/model.onnx" --threads $threads --bench $n $feeds)
      ours=$(min "$ours" "$(echo "$o" | sed -n 's/^agora_ms //p')")
      ocpu=$(min "$ocpu" "$(echo "$o" | sed -n 's/^agora_cpu_ms //p')")
      ref=$(min "$ref" "$(echo "$r" | sed -n 's/^ort_ms //p')")
      rcpu=$(min "$rcpu" "$(echo "$r" | sed -n 's/^ort_cpu_ms //p')")
    done
    ratio=$(awk -v a="$ours" -v b="$ref" 'BEGIN { printf "%.2f", a / b }')
    cratio=$(awk -v a="$ocpu" -v b="$rcpu" 'BEGIN { printf "%.2f", a / b }')
    printf '%-12s %7s %10s %10s %6s   %12s %12s %6s\n' "$m" "$threads" "$ours" "$ref" "$ratio" \
      "$ocpu" "$rcpu" "$cratio"
  done
done
