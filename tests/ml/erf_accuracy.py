#!/usr/bin/python3
"""erf_accuracy.py - our single-precision Erf (vectorized and scalar tails)
against math.erf in double precision over [-10, 10], infinities and NaN.

Usage: erf_accuracy.py AGORA_ONNX WORKDIR

The largest absolute error must stay under 2e-7 (float32 rounding of values
near 1 is 6e-8), and the relative error under 1e-6 for tiny inputs.
"""
import math
import os
import subprocess
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper


def main():
    agora, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    x = np.concatenate([np.linspace(-10, 10, 400001), np.geomspace(1e-30, 0.5, 1001),
                        -np.geomspace(1e-30, 0.5, 1001),
                        np.array([np.inf, -np.inf, np.nan, 0.0, -0.0, 0.5, -0.5])]).astype(np.float32)
    g = helper.make_graph([helper.make_node("Erf", ["x"], ["y"])], "erf",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [len(x)])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [len(x)])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.save(m, os.path.join(work, "erf.onnx"))
    np.save(os.path.join(work, "x.npy"), x)
    worst_abs = worst_rel = 0.0
    for threads in ("1", "2"):
        subprocess.run([agora, "onnx", "run", os.path.join(work, "erf.onnx"), "--input",
                        f"x={work}/x.npy", "--output-dir", os.path.join(work, "out"), "--threads",
                        threads], check=True, timeout=120)
        y = np.load(os.path.join(work, "out", "y.npy")).astype(np.float64)
        ref = np.array([math.erf(v) if not math.isnan(v) else math.nan for v in x.astype(np.float64)])
        if not np.array_equal(np.isnan(y), np.isnan(ref)):
            print("FAIL: NaN handling differs")
            return 1
        ok = ~np.isnan(ref)
        err = np.abs(y[ok] - ref[ok])
        rel = err / np.maximum(np.abs(ref[ok]), 1e-300)
        worst_abs = max(worst_abs, float(err.max()))
        worst_rel = max(worst_rel, float(rel[np.abs(x[ok]) < 0.5].max()))
    good = worst_abs < 2e-7 and worst_rel < 1e-6
    print(f"{'PASS' if good else 'FAIL'}: largest absolute error {worst_abs:.3g}, "
          f"largest relative error below 0.5 {worst_rel:.3g}")
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
