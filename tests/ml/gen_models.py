#!/usr/bin/python3
"""gen_models.py - builds the real-model fixtures for the onnxruntime parity test and the benchmark.

Usage: gen_models.py OUTDIR [--torch]

Writes OUTDIR/<name>/model.onnx and OUTDIR/<name>/input_<k>.npy (plus inputs.txt
listing NAME=FILE pairs). With --torch (and Debian's python3-torch installed)
the models are PyTorch modules exported with torch.onnx.export; otherwise the
same architectures are assembled with onnx.helper (MLP, CNN, ResNet-style
blocks, transformer encoder with embedding, LSTM, GRU, depthwise conv,
logistic regression). Weights and inputs are seeded, so runs are repeatable.
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

RNG = np.random.default_rng(1234)
OPSET = 17


def rand(*shape, scale=None):
    fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else shape[0]
    s = scale if scale is not None else 1.0 / np.sqrt(max(fan_in, 1))
    return (RNG.standard_normal(shape) * s).astype(np.float32)


class G:
    """A small graph builder around onnx.helper."""

    def __init__(self):
        self.nodes, self.inits, self.n = [], [], 0

    def name(self, p):
        self.n += 1
        return f"{p}_{self.n}"

    def const(self, arr, p="w"):
        nm = self.name(p)
        self.inits.append(numpy_helper.from_array(np.asarray(arr), nm))
        return nm

    def op(self, op, ins, n_out=1, **attrs):
        outs = [self.name(op.lower()) for _ in range(n_out)]
        self.nodes.append(helper.make_node(op, ins, outs, **attrs))
        return outs[0] if n_out == 1 else outs

    def conv_bn_relu(self, x, cin, cout, k=3, stride=1, group=1, relu=True):
        w = self.const(rand(cout, cin // group, k, k))
        y = self.op("Conv", [x, w], kernel_shape=[k, k], pads=[k // 2] * 4, strides=[stride] * 2,
                    group=group)
        bn = [self.const(RNG.uniform(0.5, 1.5, cout).astype(np.float32)),
              self.const(rand(cout, scale=0.1)), self.const(rand(cout, scale=0.1)),
              self.const(RNG.uniform(0.5, 1.5, cout).astype(np.float32))]
        y = self.op("BatchNormalization", [y] + bn, epsilon=1e-5)
        return self.op("Relu", [y]) if relu else y

    def linear(self, x, fin, fout):
        return self.op("Gemm", [x, self.const(rand(fout, fin)), self.const(rand(fout, scale=0.1))],
                       transB=1)

    def model(self, inputs, outputs, path):
        g = helper.make_graph(self.nodes, "g", inputs, outputs, self.inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="agora-tests")
        m.ir_version = 8
        onnx.checker.check_model(m)
        onnx.save(m, path)


def vi(name, dtype, shape):
    return helper.make_tensor_value_info(name, dtype, shape)


def mlp(d, batch=64):
    g = G()
    h = g.op("Relu", [g.linear("x", 784, 512)])
    h = g.op("Relu", [g.linear(h, 512, 512)])
    y = g.op("Identity", [g.linear(h, 512, 10)])
    g.nodes[-1].output[0] = "y"
    g.model([vi("x", TensorProto.FLOAT, [batch, 784])], [vi("y", TensorProto.FLOAT, [batch, 10])],
            f"{d}/model.onnx")
    return {"x": RNG.standard_normal((batch, 784)).astype(np.float32)}


def cnn(d):
    """5 conv-BN-ReLU layers on 3x64x64 (16, 32, 32, 64, 64 channels), 2x2 max pooling after
    the second and the fourth: about 58 million multiply-adds, 1.5-2 ms in onnxruntime on one
    core here, the weight of the CNN the issue measured (pooling after every layer, as before,
    left 11 million: a benchmark of overheads more than of convolution)."""
    g = G()
    h, c = "x", 3
    for i, cout in enumerate((16, 32, 32, 64, 64)):
        h = g.conv_bn_relu(h, c, cout)
        if i in (1, 3):
            h = g.op("MaxPool", [h], kernel_shape=[2, 2], strides=[2, 2])
        c = cout
    h = g.op("GlobalAveragePool", [h])
    h = g.op("Flatten", [h])
    g.nodes.append(helper.make_node("Gemm", [h, g.const(rand(10, 64)), g.const(rand(10))], ["y"],
                                    transB=1))
    g.model([vi("x", TensorProto.FLOAT, [1, 3, 64, 64])], [vi("y", TensorProto.FLOAT, [1, 10])],
            f"{d}/model.onnx")
    return {"x": RNG.standard_normal((1, 3, 64, 64)).astype(np.float32)}


def resnet(d, blocks=(64, 128, 256, 512), size=64):
    """ResNet-18 style: stem, 4 stages of 2 basic blocks, global pool, fc."""
    g = G()
    w = g.const(rand(64, 3, 7, 7))
    h = g.op("Conv", ["x", w, g.const(rand(64, scale=0.1))], kernel_shape=[7, 7], pads=[3] * 4,
             strides=[2, 2])
    h = g.op("Relu", [h])
    h = g.op("MaxPool", [h], kernel_shape=[3, 3], pads=[1] * 4, strides=[2, 2])
    c = 64
    for si, cout in enumerate(blocks):
        for bi in range(2):
            stride = 2 if (bi == 0 and si > 0) else 1
            y = g.conv_bn_relu(h, c, cout, stride=stride)
            y = g.conv_bn_relu(y, cout, cout, relu=False)
            sc = h
            if stride != 1 or c != cout:
                ws = g.const(rand(cout, c, 1, 1))
                sc = g.op("Conv", [h, ws], kernel_shape=[1, 1], strides=[stride] * 2)
            h = g.op("Relu", [g.op("Add", [y, sc])])
            c = cout
    h = g.op("Flatten", [g.op("GlobalAveragePool", [h])])
    g.nodes.append(helper.make_node("Gemm", [h, g.const(rand(10, c)), g.const(rand(10))], ["y"],
                                    transB=1))
    g.model([vi("x", TensorProto.FLOAT, [1, 3, size, size])], [vi("y", TensorProto.FLOAT, [1, 10])],
            f"{d}/model.onnx")
    return {"x": RNG.standard_normal((1, 3, size, size)).astype(np.float32)}


def transformer(d, vocab=1000, seq=32, dm=128, heads=4, ff=512, layers=2):
    g = G()
    emb = g.const(rand(vocab, dm, scale=0.5))
    pos = g.const(rand(1, seq, dm, scale=0.1))
    h = g.op("Add", [g.op("Gather", [emb, "tokens"], axis=0), pos])
    dh = dm // heads
    shp = g.const(np.array([1, seq, heads, dh], np.int64))
    back = g.const(np.array([1, seq, dm], np.int64))
    for _ in range(layers):
        def proj(x):
            return g.op("Add", [g.op("MatMul", [x, g.const(rand(dm, dm))]), g.const(rand(dm, scale=0.1))])
        def split_heads(x):
            return g.op("Transpose", [g.op("Reshape", [x, shp])], perm=[0, 2, 1, 3])
        q, k, v = split_heads(proj(h)), split_heads(proj(h)), split_heads(proj(h))
        kt = g.op("Transpose", [k], perm=[0, 1, 3, 2])
        s = g.op("Mul", [g.op("MatMul", [q, kt]), g.const(np.array(1.0 / np.sqrt(dh), np.float32))])
        a = g.op("MatMul", [g.op("Softmax", [s], axis=-1), v])
        a = g.op("Reshape", [g.op("Transpose", [a], perm=[0, 2, 1, 3]), back])
        h = g.op("Add", [h, proj(a)])
        h = g.op("LayerNormalization", [h, g.const(np.ones(dm, np.float32)),
                                        g.const(np.zeros(dm, np.float32))], axis=-1, epsilon=1e-5)
        f = g.op("Add", [g.op("MatMul", [h, g.const(rand(dm, ff))]), g.const(rand(ff, scale=0.1))])
        # GELU as PyTorch exports it: 0.5 * x * (1 + erf(x / sqrt(2)))
        e = g.op("Erf", [g.op("Div", [f, g.const(np.array(np.sqrt(2.0), np.float32))])])
        f = g.op("Mul", [g.op("Mul", [f, g.op("Add", [e, g.const(np.array(1.0, np.float32))])]),
                         g.const(np.array(0.5, np.float32))])
        f = g.op("Add", [g.op("MatMul", [f, g.const(rand(ff, dm))]), g.const(rand(dm, scale=0.1))])
        h = g.op("Add", [h, f])
        h = g.op("LayerNormalization", [h, g.const(np.ones(dm, np.float32)),
                                        g.const(np.zeros(dm, np.float32))], axis=-1, epsilon=1e-5)
    g.nodes.append(helper.make_node("ReduceMean", [h], ["y"], axes=[1], keepdims=0))
    g.model([vi("tokens", TensorProto.INT64, [1, seq])], [vi("y", TensorProto.FLOAT, [1, dm])],
            f"{d}/model.onnx")
    return {"tokens": RNG.integers(0, vocab, (1, seq)).astype(np.int64)}


def recurrent(d, op="LSTM", bidir=False, seq=20, batch=4, fin=32, hid=64):
    g = G()
    gates = {"LSTM": 4, "GRU": 3, "RNN": 1}[op]
    dirs = 2 if bidir else 1
    W = g.const(rand(dirs, gates * hid, fin))
    R = g.const(rand(dirs, gates * hid, hid))
    B = g.const(rand(dirs, 2 * gates * hid, scale=0.1))
    attrs = {"hidden_size": hid, "direction": "bidirectional" if bidir else "forward"}
    if op == "GRU":
        attrs["linear_before_reset"] = 1
    outs = g.op(op, ["x", W, R, B], n_out=2, **attrs)
    yh = g.op("Reshape", [outs[1], g.const(np.array([batch, -1], np.int64))]) if dirs == 2 else \
        g.op("Squeeze", [outs[1], g.const(np.array([0], np.int64))])
    g.nodes.append(helper.make_node("Gemm", [yh, g.const(rand(5, dirs * hid)), g.const(rand(5))],
                                    ["y"], transB=1))
    g.model([vi("x", TensorProto.FLOAT, [seq, batch, fin])], [vi("y", TensorProto.FLOAT, [batch, 5])],
            f"{d}/model.onnx")
    return {"x": RNG.standard_normal((seq, batch, fin)).astype(np.float32)}


def depthwise(d):
    g = G()
    h = g.conv_bn_relu("x", 3, 32, stride=2)
    h = g.conv_bn_relu(h, 32, 32, group=32)        # depthwise 3x3
    h = g.conv_bn_relu(h, 32, 64, k=1)             # pointwise
    h = g.conv_bn_relu(h, 64, 64, stride=2, group=64)
    h = g.conv_bn_relu(h, 64, 128, k=1)
    h = g.op("Flatten", [g.op("GlobalAveragePool", [h])])
    g.nodes.append(helper.make_node("Gemm", [h, g.const(rand(10, 128)), g.const(rand(10))], ["y"],
                                    transB=1))
    g.model([vi("x", TensorProto.FLOAT, [2, 3, 32, 32])], [vi("y", TensorProto.FLOAT, [2, 10])],
            f"{d}/model.onnx")
    return {"x": RNG.standard_normal((2, 3, 32, 32)).astype(np.float32)}


def logreg(d):
    g = G()
    z = g.op("Add", [g.op("MatMul", ["x", g.const(rand(20, 1))]), g.const(rand(1))])
    g.nodes.append(helper.make_node("Sigmoid", [z], ["y"]))
    g.model([vi("x", TensorProto.FLOAT, [100, 20])], [vi("y", TensorProto.FLOAT, [100, 1])],
            f"{d}/model.onnx")
    return {"x": RNG.standard_normal((100, 20)).astype(np.float32)}


BUILDERS = {
    "mlp": mlp,
    "cnn": cnn,
    "resnet": lambda d: resnet(d),
    "resnet18": lambda d: resnet(d, size=224),
    "transformer": transformer,
    "lstm": lambda d: recurrent(d, "LSTM"),
    "gru_bidir": lambda d: recurrent(d, "GRU", bidir=True),
    "rnn": lambda d: recurrent(d, "RNN"),
    "depthwise": depthwise,
    "logreg": logreg,
}


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    out = sys.argv[1]
    names = [a for a in sys.argv[2:] if not a.startswith("-")] or \
        [n for n in BUILDERS if n != "resnet18"]
    for name in names:
        d = os.path.join(out, name)
        os.makedirs(d, exist_ok=True)
        inputs = BUILDERS[name](d)
        with open(os.path.join(d, "inputs.txt"), "w") as f:
            for k, (nm, arr) in enumerate(inputs.items()):
                np.save(os.path.join(d, f"input_{k}.npy"), arr)
                f.write(f"{nm}=input_{k}.npy\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
