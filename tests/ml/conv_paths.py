#!/usr/bin/python3
"""conv_paths.py - every convolution path against a float64 NumPy reference.

Usage: conv_paths.py AGORA_ONNX WORKDIR

Each case is one model with two Conv nodes on the same input: one whose
weights are an initializer (packed at load for the AVX2 kernel, reading the
padded, stride-phase-split input in place, or through im2col panels for
strides past 4; weights past 320 KB swap the loops, or with strides past 4
go to BLAS; BatchNormalization and Relu are folded in when asked) and one whose weights arrive as a graph input (im2col +
BLAS). Both outputs must match the reference within 1e-4. The cases cover
the shapes that stress the kernel's edges: 1x1, asymmetric pads, strides,
dilations, groups, channel counts that are not multiples of 6, outputs
narrower than a 16-column panel, batches.
"""
import os
import subprocess
import sys

import numpy as np
from onnx import TensorProto, helper, numpy_helper
import onnx

TOL = 1e-4
RNG = np.random.default_rng(11)

# (N, C, H, W, M, KH, KW, stride, dilation, pads (t, l, b, r), group, bias, bn+relu)
CASES = [
    (1, 3, 64, 64, 16, 3, 3, 1, 1, (1, 1, 1, 1), 1, True, True),
    (1, 16, 32, 32, 32, 3, 3, 1, 1, (1, 1, 1, 1), 1, False, True),
    (2, 8, 7, 5, 10, 3, 3, 1, 1, (1, 1, 1, 1), 1, True, False),
    (1, 64, 4, 4, 64, 3, 3, 1, 1, (1, 1, 1, 1), 1, True, True),
    (1, 12, 9, 11, 20, 1, 1, 1, 1, (0, 0, 0, 0), 1, True, False),
    (1, 6, 13, 17, 8, 5, 5, 1, 1, (2, 1, 0, 3), 1, True, True),
    (1, 6, 15, 15, 12, 3, 3, 2, 1, (1, 1, 1, 1), 1, True, True),
    (2, 5, 16, 16, 7, 1, 1, 2, 1, (0, 0, 0, 0), 1, False, False),
    (1, 4, 12, 12, 9, 3, 3, 1, 2, (2, 2, 2, 2), 1, True, False),
    (1, 8, 10, 10, 16, 3, 3, 1, 1, (1, 1, 1, 1), 2, True, True),
    (1, 3, 1, 40, 8, 1, 3, 1, 1, (0, 1, 0, 1), 1, True, False),
    (1, 32, 3, 3, 64, 3, 3, 1, 1, (0, 0, 0, 0), 1, True, True),
    (1, 3, 32, 32, 16, 7, 7, 2, 1, (3, 3, 3, 3), 1, True, True),
    (1, 5, 17, 19, 6, 3, 3, 3, 1, (1, 0, 2, 1), 1, True, False),
    (1, 4, 20, 20, 8, 3, 3, 2, 2, (2, 2, 2, 2), 1, False, True),
    (2, 4, 23, 21, 9, 2, 2, 5, 1, (0, 0, 0, 0), 1, True, False),
    (1, 8, 9, 9, 8, 3, 3, 2, 1, (1, 1, 1, 1), 2, True, True),
    # Weights past 320 KB: weight panels outside, output panels inside.
    (1, 128, 8, 8, 130, 3, 3, 1, 1, (1, 1, 1, 1), 1, True, True),
    (1, 64, 13, 14, 256, 3, 3, 2, 1, (1, 1, 1, 1), 1, False, True),
    # ... and with a stride past 4: im2col + BLAS.
    (1, 128, 20, 20, 160, 2, 2, 5, 1, (0, 0, 0, 0), 1, True, False),
]


def reference(x, w, b, stride, dil, pads, group):
    n, c, h, wd = x.shape
    m, cg, kh, kw = w.shape
    pt, pl, pb, pr = pads
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    oh = (h + pt + pb - (dil * (kh - 1) + 1)) // stride + 1
    ow = (wd + pl + pr - (dil * (kw - 1) + 1)) // stride + 1
    y = np.zeros((n, m, oh, ow))
    mg = m // group
    for g in range(group):
        for i in range(kh):
            for j in range(kw):
                patch = xp[:, g * cg:(g + 1) * cg, i * dil:i * dil + stride * (oh - 1) + 1:stride,
                           j * dil:j * dil + stride * (ow - 1) + 1:stride]
                y[:, g * mg:(g + 1) * mg] += np.einsum("nchw,mc->nmhw", patch,
                                                       w[g * mg:(g + 1) * mg, :, i, j].astype(np.float64))
    if b is not None:
        y += b.reshape(1, -1, 1, 1)
    return y


def build(case, path):
    n, c, h, wd, m, kh, kw, stride, dil, pads, group, bias, bnrelu = case
    x = RNG.standard_normal((n, c, h, wd)).astype(np.float32)
    w = (RNG.standard_normal((m, c // group, kh, kw)) * 0.3).astype(np.float32)
    b = (RNG.standard_normal(m) * 0.1).astype(np.float32) if bias else None
    attrs = dict(kernel_shape=[kh, kw], strides=[stride] * 2, dilations=[dil] * 2,
                 pads=[pads[0], pads[1], pads[2], pads[3]], group=group)
    inits = [numpy_helper.from_array(w, "w_const")]
    ins = ["x", "w_const"]
    if bias:
        inits.append(numpy_helper.from_array(b, "b"))
        ins.append("b")
    nodes = [helper.make_node("Conv", ins, ["c1"], **attrs)]
    want = reference(x, w, b, stride, dil, pads, group)
    out1 = "c1"
    if bnrelu:
        sc = RNG.uniform(0.5, 1.5, m).astype(np.float32)
        sh = (RNG.standard_normal(m) * 0.1).astype(np.float32)
        mu = (RNG.standard_normal(m) * 0.1).astype(np.float32)
        var = RNG.uniform(0.5, 1.5, m).astype(np.float32)
        for nm, v in (("sc", sc), ("sh", sh), ("mu", mu), ("var", var)):
            inits.append(numpy_helper.from_array(v, nm))
        nodes += [helper.make_node("BatchNormalization", ["c1", "sc", "sh", "mu", "var"], ["bn"]),
                  helper.make_node("Relu", ["bn"], ["y1"])]
        out1 = "y1"
        k = (sc / np.sqrt(var.astype(np.float64) + 1e-5)).reshape(1, -1, 1, 1)
        bn_ref = (want - mu.reshape(1, -1, 1, 1)) * k + sh.reshape(1, -1, 1, 1)
        want1 = np.maximum(bn_ref, 0)
    else:
        want1 = want
    nodes.append(helper.make_node("Conv", ["x", "w_in"] + (["b"] if bias else []), ["y2"], **attrs))
    g = helper.make_graph(nodes, "conv", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x.shape),
                                          helper.make_tensor_value_info("w_in", TensorProto.FLOAT, w.shape)],
                          [helper.make_tensor_value_info(out1, TensorProto.FLOAT, None),
                           helper.make_tensor_value_info("y2", TensorProto.FLOAT, None)], inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return x, w, {out1: want1, "y2": want}


def main():
    agora, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    failed = 0
    for i, case in enumerate(CASES):
        d = os.path.join(work, f"case{i}")
        os.makedirs(d, exist_ok=True)
        x, w, want = build(case, os.path.join(d, "model.onnx"))
        np.save(os.path.join(d, "x.npy"), x)
        np.save(os.path.join(d, "w.npy"), w)
        for threads in (1, 2):
            r = subprocess.run([agora, "onnx", "run", os.path.join(d, "model.onnx"), "--input",
                                f"x={d}/x.npy", "--input", f"w_in={d}/w.npy", "--output-dir",
                                os.path.join(d, "out"), "--threads", str(threads)],
                               capture_output=True, text=True, timeout=300)
            if r.returncode:
                print(f"FAIL case {i} {case}: exit {r.returncode}: {r.stderr.strip()}")
                failed += 1
                continue
            worst = 0.0
            for name, ref in want.items():
                got = np.load(os.path.join(d, "out", name + ".npy"))
                if got.shape != ref.shape:
                    worst = float("inf")
                    break
                worst = max(worst, float(np.max(np.abs(got - ref))))
            ok = worst <= TOL
            failed += 0 if ok else 1
            print(f"{'PASS' if ok else 'FAIL'} case {i} threads {threads}: largest difference {worst:.3g}")
    print(f"{2 * len(CASES) - failed} of {2 * len(CASES)} convolution runs match the reference")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
