#!/usr/bin/python3
"""scan_axes.py - Scan with scan axes and directions other than the defaults.

Usage: scan_axes.py AGORA_ONNX WORKDIR

The backend suite's Scan cases only sum along axis 0 forwards; here a
running sum scans x of shape (2, 5, 3) along axis 1, forwards or backwards,
and writes the scan output on axis 0, 1, 2 or -1, forwards or backwards; the
result must equal NumPy's cumulative sum exactly (small integers in float).
"""
import os
import subprocess
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper


def model(path, in_dir, out_axis, out_dir):
    body = helper.make_graph(
        [helper.make_node("Add", ["s_in", "xt"], ["s_out"]),
         helper.make_node("Identity", ["s_out"], ["scan_out"])], "body",
        [helper.make_tensor_value_info("s_in", TensorProto.FLOAT, [2, 3]),
         helper.make_tensor_value_info("xt", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("s_out", TensorProto.FLOAT, [2, 3]),
         helper.make_tensor_value_info("scan_out", TensorProto.FLOAT, [2, 3])])
    node = helper.make_node("Scan", ["init", "x"], ["final", "ys"], body=body, num_scan_inputs=1,
                            scan_input_axes=[1], scan_input_directions=[in_dir],
                            scan_output_axes=[out_axis], scan_output_directions=[out_dir])
    g = helper.make_graph([node], "scan", [helper.make_tensor_value_info("init", TensorProto.FLOAT, [2, 3]),
                                           helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 5, 3])],
                          [helper.make_tensor_value_info("final", TensorProto.FLOAT, None),
                           helper.make_tensor_value_info("ys", TensorProto.FLOAT, None)])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 16)])
    m.ir_version = 8
    onnx.save(m, path)


def main():
    agora, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    x = np.arange(30, dtype=np.float32).reshape(2, 5, 3)
    init = np.ones((2, 3), np.float32)
    np.save(os.path.join(work, "x.npy"), x)
    np.save(os.path.join(work, "init.npy"), init)
    failed = 0
    for in_dir in (0, 1):
        for out_axis in (0, 1, 2, -1):
            for out_dir in (0, 1):
                p = os.path.join(work, f"scan_{in_dir}{out_axis}{out_dir}.onnx")
                model(p, in_dir, out_axis, out_dir)
                xs = x[:, ::-1] if in_dir else x
                steps = init[:, None, :] + np.cumsum(xs, axis=1)      # (2, 5, 3), iteration on axis 1
                it = np.moveaxis(steps, 1, 0)                          # (5, 2, 3), iteration first
                if out_dir:
                    it = it[::-1]
                want = np.moveaxis(it, 0, out_axis)
                out = os.path.join(work, "out")
                r = subprocess.run([agora, "onnx", "run", p, "--input", f"init={work}/init.npy",
                                    "--input", f"x={work}/x.npy", "--output-dir", out],
                                   capture_output=True, text=True, timeout=120)
                ok = r.returncode == 0
                if ok:
                    ys, final = np.load(os.path.join(out, "ys.npy")), np.load(os.path.join(out, "final.npy"))
                    ok = ys.shape == want.shape and np.array_equal(ys, want) and \
                        np.array_equal(final, steps[:, -1])
                failed += 0 if ok else 1
                print(f"{'PASS' if ok else 'FAIL'} in_dir={in_dir} out_axis={out_axis} out_dir={out_dir}"
                      f"{'' if r.returncode == 0 else ': ' + r.stderr.strip()}")
    print(f"{16 - failed} of 16 Scan variants match NumPy")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
