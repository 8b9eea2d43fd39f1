#!/usr/bin/python3
"""hostile.py - hostile models and inputs must give a clear error, never a crash.

Usage: hostile.py AGORA_ONNX WORKDIR

Each case runs `agora onnx run` (or `info`) and expects exit status 1, a
message on stderr containing the expected words, and no sanitizer report.
"""
import os
import subprocess
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def model(nodes, inputs, outputs, inits=(), opset=17):
    g = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def vi(n, t=TensorProto.FLOAT, s=None):
    return helper.make_tensor_value_info(n, t, s)


def main():
    agora, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    x = os.path.join(work, "x.npy")
    np.save(x, np.ones((2, 2), np.float32))
    cases = []

    def add(name, m, expect, inputs=("x",), raw=None, cmd="run"):
        p = os.path.join(work, name + ".onnx")
        if raw is not None:
            open(p, "wb").write(raw)
        else:
            onnx.save(m, p)
        cases.append((name, p, expect, inputs, cmd))

    ok = model([helper.make_node("Relu", ["x"], ["y"])], [vi("x", s=[2, 2])], [vi("y")])
    okb = ok.SerializeToString()
    add("truncated", None, "not a valid ONNX model", raw=okb[: len(okb) // 2])
    add("garbage", None, "not a valid ONNX model", raw=os.urandom(4096))
    add("empty", None, "", raw=b"")
    add("unknown_op", model([helper.make_node("FrobnicateX", ["x"], ["y"])], [vi("x", s=[2, 2])],
                            [vi("y")]), "unsupported operator")
    add("cycle", model([helper.make_node("Relu", ["b"], ["a"]), helper.make_node("Relu", ["a"], ["b"])],
                       [vi("x", s=[2, 2])], [vi("a")]), "topological order")
    add("old_opset", model([helper.make_node("Upsample", ["x"], ["y"], scales=[1.0, 2.0])],
                           [vi("x", s=[2, 2])], [vi("y")], opset=5), "before opset 7")
    b3 = numpy_helper.from_array(np.ones((2, 3), np.float32), "b3")
    add("old_binary_broadcast", model([helper.make_node("Add", ["x", "b3"], ["y"], broadcast=1, axis=1)],
                                      [vi("x", s=[2, 2])], [vi("y")], [b3], opset=6), "broadcast axis")
    shape = numpy_helper.from_array(np.array([1 << 20, 1 << 20, 1 << 20], np.int64), "shape")
    add("absurd_dims", model([helper.make_node("ConstantOfShape", ["shape"], ["y"])],
                             [vi("x", s=[2, 2])], [vi("y")], [shape]), "too large")
    shape2 = numpy_helper.from_array(np.array([1 << 15, 1 << 15, 2, 2], np.int64), "shape")
    add("memory_cap", model([helper.make_node("Expand", ["x", "shape"], ["y"])],
                            [vi("x", s=[2, 2])], [vi("y")], [shape2]), "memory limit")
    big = onnx.TensorProto()
    big.name, big.data_type = "w", TensorProto.FLOAT
    big.dims.extend([1 << 30, 1 << 30])
    add("init_no_data", model([helper.make_node("Add", ["x", "w"], ["y"])], [vi("x", s=[2, 2])],
                              [vi("y")], [big]), "")
    ext = onnx.TensorProto()
    ext.name, ext.data_type = "w", TensorProto.FLOAT
    ext.dims.extend([2, 2])
    ext.data_location = TensorProto.EXTERNAL
    for k, v in (("location", "../../../etc/passwd"), ("offset", "0"), ("length", "16")):
        e = ext.external_data.add()
        e.key, e.value = k, v
    add("external_escape", model([helper.make_node("Add", ["x", "w"], ["y"])], [vi("x", s=[2, 2])],
                                 [vi("y")], [ext]), "")
    ext2 = onnx.TensorProto()
    ext2.CopyFrom(ext)
    ext2.external_data[0].value = "/etc/passwd"
    add("external_absolute", model([helper.make_node("Add", ["x", "w"], ["y"])],
                                   [vi("x", s=[2, 2])], [vi("y")], [ext2]), "absolute")
    add("bad_reshape", model([helper.make_node("Reshape", ["x", "s"], ["y"])], [vi("x", s=[2, 2])],
                             [vi("y")], [numpy_helper.from_array(np.array([3, 5], np.int64), "s")]),
        "reshape")
    add("gather_oob", model([helper.make_node("Gather", ["x", "i"], ["y"])], [vi("x", s=[2, 2])],
                            [vi("y")], [numpy_helper.from_array(np.array([7], np.int64), "i")]),
        "out of range")
    # Bad .npy inputs to a good model.
    good = os.path.join(work, "good.onnx")
    onnx.save(ok, good)
    fort = os.path.join(work, "fortran.npy")
    np.save(fort, np.asfortranarray(np.ones((2, 3), np.float32)))
    trunc = os.path.join(work, "trunc.npy")
    open(trunc, "wb").write(open(x, "rb").read()[:-5])
    wrongtype = os.path.join(work, "int.npy")
    np.save(wrongtype, np.ones((2, 2), np.int32))
    cases.append(("npy_fortran", good, "Fortran order", (fort,), "run"))
    cases.append(("npy_truncated", good, "truncated", (trunc,), "run"))
    cases.append(("npy_wrong_type", good, "must be float32", (wrongtype,), "run"))

    failed = 0
    for name, path, expect, inputs, cmd in cases:
        args = [agora, "onnx", cmd, path]
        if cmd == "run":
            for inp in inputs:
                args += ["--input", "x=" + (inp if inp.endswith(".npy") else x)]
            args += ["--output-dir", os.path.join(work, "out_" + name), "--mem-limit", "256"]
        r = subprocess.run(args, capture_output=True, text=True, timeout=120)
        err = r.stderr
        bad = r.returncode != 1 or "Sanitizer" in err or "runtime error" in err or \
            (expect and expect.lower() not in err.lower()) or not err.strip()
        print(f"{'FAIL' if bad else 'PASS'} {name}: exit {r.returncode}: {err.strip()[:200]}")
        failed += bad
    print(f"{len(cases) - failed} of {len(cases)} hostile cases rejected cleanly")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
