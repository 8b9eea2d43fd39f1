#!/usr/bin/python3
"""sequences_cli.py - sequences and optionals through `agora onnx run`, against NumPy.

Usage: sequences_cli.py AGORA_ONNX WORKDIR

A model splits x into a sequence (SplitToSequence with uneven sizes), erases
and inserts elements, stacks a sequence input (ConcatFromSequence with
new_axis), and reports whether an optional input holds a value. The CLI must
write the sequence output as <name>_<i>.npy per element, read one --input
per element of a sequence input, and pass an optional input that is left
out as empty; the values must equal NumPy's exactly. Bad positions and
inputs of the wrong kind must fail with status 1 and a clear message.
"""
import glob
import os
import subprocess
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper


def seq_type(dtype):
    return helper.make_sequence_type_proto(helper.make_tensor_type_proto(dtype, None))


def opt_type(dtype):
    return helper.make_optional_type_proto(helper.make_tensor_type_proto(dtype, None))


def model(path):
    nodes = [
        helper.make_node("Constant", [], ["split"],
                         value=helper.make_tensor("split", TensorProto.INT64, [3], [1, 3, 2])),
        helper.make_node("SplitToSequence", ["x", "split"], ["parts"], axis=1),
        helper.make_node("Constant", [], ["one"],
                         value=helper.make_tensor("one", TensorProto.INT64, [], [1])),
        helper.make_node("SequenceErase", ["parts", "one"], ["erased"]),
        helper.make_node("SequenceInsert", ["erased", "x"], ["inserted"]),
        helper.make_node("SequenceAt", ["parts", "pos"], ["picked"]),
        helper.make_node("ConcatFromSequence", ["q"], ["stacked"], axis=-1, new_axis=1),
        helper.make_node("SequenceLength", ["q"], ["qlen"]),
        helper.make_node("OptionalHasElement", ["o"], ["has"]),
    ]
    g = helper.make_graph(
        nodes, "seq",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 6]),
         helper.make_tensor_value_info("pos", TensorProto.INT64, []),
         helper.make_value_info("q", seq_type(TensorProto.INT32)),
         helper.make_value_info("o", opt_type(TensorProto.FLOAT))],
        [helper.make_value_info("inserted", seq_type(TensorProto.FLOAT)),
         helper.make_tensor_value_info("picked", TensorProto.FLOAT, None),
         helper.make_tensor_value_info("stacked", TensorProto.INT32, None),
         helper.make_tensor_value_info("qlen", TensorProto.INT64, []),
         helper.make_tensor_value_info("has", TensorProto.BOOL, [])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)])
    m.ir_version = 8
    onnx.save(m, path)


def run(agora, args):
    return subprocess.run([agora, "onnx", "run"] + args, capture_output=True, text=True)


def main():
    agora, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    mp = os.path.join(work, "seq.onnx")
    model(mp)
    x = np.arange(12, dtype=np.float32).reshape(2, 6) * 0.5 - 2
    q = [np.array([[1, 2], [3, 4]], np.int32), np.array([[5, 6], [7, 8]], np.int32),
         np.array([[-1, 0], [9, 10]], np.int32)]
    np.save(os.path.join(work, "x.npy"), x)
    for i, t in enumerate(q):
        np.save(os.path.join(work, "q%d.npy" % i), t)
    failures = 0

    def check(cond, what):
        nonlocal failures
        if not cond:
            failures += 1
            print("FAIL", what)

    for pos, with_opt in ((-1, False), (2, True)):
        np.save(os.path.join(work, "pos.npy"), np.array(pos, np.int64))
        out = os.path.join(work, "out_%d" % pos)
        args = [mp, "--input", "x=" + os.path.join(work, "x.npy"),
                "--input", "pos=" + os.path.join(work, "pos.npy"), "--output-dir", out]
        for i in range(3):
            args += ["--input", "q=" + os.path.join(work, "q%d.npy" % i)]
        if with_opt:
            args += ["--input", "o=" + os.path.join(work, "x.npy")]
        r = run(agora, args)
        check(r.returncode == 0, "run (pos %d): %s" % (pos, r.stderr.strip()))
        if r.returncode:
            continue
        parts = [x[:, 0:1], x[:, 1:4], x[:, 4:6]]
        want = [parts[0], parts[2], x]
        files = sorted(glob.glob(os.path.join(out, "inserted_*.npy")))
        check(len(files) == 3, "inserted has %d files, not 3" % len(files))
        for i, w in enumerate(want):
            got = np.load(os.path.join(out, "inserted_%d.npy" % i))
            check(got.dtype == np.float32 and np.array_equal(got, w), "inserted_%d" % i)
        check(np.array_equal(np.load(os.path.join(out, "picked.npy")), parts[pos]), "picked")
        check(np.array_equal(np.load(os.path.join(out, "stacked.npy")), np.stack(q, axis=-1)),
              "stacked")
        check(int(np.load(os.path.join(out, "qlen.npy"))) == 3, "qlen")
        check(bool(np.load(os.path.join(out, "has.npy"))) == with_opt, "has (%s)" % with_opt)

    # A position past the end, and a sequence input that is missing.
    np.save(os.path.join(work, "pos.npy"), np.array(3, np.int64))
    base = [mp, "--input", "x=" + os.path.join(work, "x.npy"),
            "--input", "pos=" + os.path.join(work, "pos.npy"),
            "--output-dir", os.path.join(work, "bad")]
    r = run(agora, base + ["--input", "q=" + os.path.join(work, "q0.npy")])
    check(r.returncode == 1 and "out of range" in r.stderr, "bad position: %s" % r.stderr.strip())
    np.save(os.path.join(work, "pos.npy"), np.array(0, np.int64))
    r = run(agora, base)
    check(r.returncode == 1 and "missing --input q" in r.stderr, "missing q: %s" % r.stderr.strip())
    # Elements of the wrong type in a sequence input.
    r = run(agora, base + ["--input", "q=" + os.path.join(work, "x.npy")])
    check(r.returncode == 1 and "sequence of int32" in r.stderr, "wrong type: %s" % r.stderr.strip())
    if failures:
        sys.exit(1)
    print("sequences through the CLI: all checks passed")


if __name__ == "__main__":
    main()
