#!/usr/bin/python3
"""einsum_ellipsis.py - Einsum equations with "..." against numpy.einsum.

Usage: einsum_ellipsis.py AGORA_ONNX WORKDIR

The backend suite has one ellipsis case (a batch diagonal); these add
broadcasting ellipses of different ranks, implicit outputs, an ellipsis in
the middle of the subscripts and one moved in the output.
"""
import os
import subprocess
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper

CASES = [
    ("...ij,...jk->...ik", [(2, 3, 4, 5), (3, 5, 2)]),
    ("...ij,...jk", [(1, 4, 5), (2, 5, 3)]),
    ("i...j->j...i", [(2, 3, 4, 5)]),
    ("b...d,b...d->...b", [(2, 3, 4), (2, 3, 4)]),
    ("...i,i", [(3, 4), (4,)]),
    ("a...->...", [(3, 2, 2)]),
]


def main():
    agora, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    rng = np.random.default_rng(5)
    failed = 0
    for n, (eq, shapes) in enumerate(CASES):
        xs = [rng.standard_normal(s).astype(np.float32) for s in shapes]
        names = [f"x{i}" for i in range(len(xs))]
        g = helper.make_graph([helper.make_node("Einsum", names, ["y"], equation=eq)], "e",
                              [helper.make_tensor_value_info(nm, TensorProto.FLOAT, x.shape)
                               for nm, x in zip(names, xs)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 12)])
        m.ir_version = 8
        p = os.path.join(work, f"einsum{n}.onnx")
        onnx.save(m, p)
        args = [agora, "onnx", "run", p, "--output-dir", os.path.join(work, f"out{n}")]
        for nm, x in zip(names, xs):
            np.save(os.path.join(work, f"{nm}_{n}.npy"), x)
            args += ["--input", f"{nm}={work}/{nm}_{n}.npy"]
        r = subprocess.run(args, capture_output=True, text=True, timeout=120)
        want = np.einsum(eq, *[x.astype(np.float64) for x in xs])
        ok = r.returncode == 0
        if ok:
            got = np.load(os.path.join(work, f"out{n}", "y.npy"))
            ok = got.shape == want.shape and np.allclose(got, want, atol=1e-5, rtol=1e-5)
        failed += 0 if ok else 1
        print(f"{'PASS' if ok else 'FAIL'} {eq}{'' if r.returncode == 0 else ': ' + r.stderr.strip()}")
    print(f"{len(CASES) - failed} of {len(CASES)} equations match numpy.einsum")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
