"""test_infer.py - POST .../versions/{version}/infer end to end: a real node runs pushed ONNX files.

Models are built here with Debian's python3-onnx (onnx.helper) and one comes
from the ONNX backend test data (/usr/share/libonnx-testdata); expected
outputs are computed independently with numpy or are the test data's own
reference outputs. Covers JSON and .npy inputs and outputs, the access
policy (paid: owner yes, others no), input validation, hostile model files,
the memory cap, the time limit, the concurrency bound (503) and the rate
limit of free-model calls (429), and `agora infer`.
"""
import base64
import hashlib
import http.client
import io
import json
import os
import socket
import sys
import tempfile
import threading
import time
import unittest

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(__file__))
from node import Node, register  # noqa: E402

NPY = "application/x-npy"
TESTDATA = "/usr/share/libonnx-testdata/data/node"
RNG = np.random.default_rng(5)
W = RNG.standard_normal((4, 3)).astype(np.float32)
B = RNG.standard_normal(3).astype(np.float32)


def model_bytes(nodes, inputs, outputs, inits=(), opset=17):
    g = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m.SerializeToString()


def gemm_model():
    """Y = relu(X @ W + B), X: float32 [N, 4]."""
    return model_bytes(
        [helper.make_node("Gemm", ["X", "W", "B"], ["H"]), helper.make_node("Relu", ["H"], ["Y"])],
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["N", 3])],
        [numpy_helper.from_array(W, "W"), numpy_helper.from_array(B, "B")])


def two_io_model():
    """S = A + float(K), D = K + K; A: float32 [N, 3], K: int64 [N, 3]."""
    return model_bytes(
        [helper.make_node("Cast", ["K"], ["Kf"], to=TensorProto.FLOAT),
         helper.make_node("Add", ["A", "Kf"], ["S"]),
         helper.make_node("Add", ["K", "K"], ["D"])],
        [helper.make_tensor_value_info("A", TensorProto.FLOAT, ["N", 3]),
         helper.make_tensor_value_info("K", TensorProto.INT64, ["N", 3])],
        [helper.make_tensor_value_info("S", TensorProto.FLOAT, ["N", 3]),
         helper.make_tensor_value_info("D", TensorProto.INT64, ["N", 3])])


def log_model():
    return model_bytes([helper.make_node("Log", ["X"], ["Y"])],
                       [helper.make_tensor_value_info("X", TensorProto.FLOAT, [3])],
                       [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [3])])


def typed_model():
    """H = X + X in float16, I = identity of an int8 input, B = not of a bool input."""
    return model_bytes(
        [helper.make_node("Add", ["X", "X"], ["H"]), helper.make_node("Identity", ["Q"], ["I"]),
         helper.make_node("Not", ["P"], ["B"])],
        [helper.make_tensor_value_info("X", TensorProto.FLOAT16, [3]),
         helper.make_tensor_value_info("Q", TensorProto.INT8, [2]),
         helper.make_tensor_value_info("P", TensorProto.BOOL, [2])],
        [helper.make_tensor_value_info("H", TensorProto.FLOAT16, [3]),
         helper.make_tensor_value_info("I", TensorProto.INT8, [2]),
         helper.make_tensor_value_info("B", TensorProto.BOOL, [2])])


def huge_model():
    """Expands one float to 16384 x 16384 (1 GiB): past any small memory cap."""
    shape = numpy_helper.from_array(np.array([16384, 16384], dtype=np.int64), "shape")
    return model_bytes([helper.make_node("Expand", ["X", "shape"], ["Y"])],
                       [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1])],
                       [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [16384, 16384])], [shape])


def slow_model():
    """A Loop of 10^9 iterations of a 64x64 MatMul + Tanh: only a deadline stops it."""
    wl = numpy_helper.from_array((np.eye(64) * 0.5).astype(np.float32), "Wl")
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]),
         helper.make_node("MatMul", ["x_in", "Wl"], ["m"]),
         helper.make_node("Tanh", ["m"], ["x_out"])],
        "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("x_in", TensorProto.FLOAT, [64, 64])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("x_out", TensorProto.FLOAT, [64, 64])])
    trip = numpy_helper.from_array(np.array(10**9, dtype=np.int64), "trip")
    cond = numpy_helper.from_array(np.array(True), "cond")
    return model_bytes(
        [helper.make_node("Loop", ["trip", "cond", "X"], ["Y"], body=body)],
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [64, 64])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [64, 64])], [wl, trip, cond])


def unknown_op_model():
    g = helper.make_graph([helper.make_node("NoSuchOperator", ["X"], ["Y"])], "g",
                          [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1])],
                          [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    return m.SerializeToString()


def npy_bytes(a):
    f = io.BytesIO()
    np.save(f, a, allow_pickle=False)
    return f.getvalue()


def from_npy(b):
    return np.load(io.BytesIO(b.encode("latin-1") if isinstance(b, str) else b), allow_pickle=False)


def multipart(parts):
    """parts: [(name, bytes)] -> (content type, body)."""
    boundary = "agoraTestBoundary%d" % RNG.integers(1 << 30)
    out = b""
    for name, data in parts:
        out += (b"--%s\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"%s.npy\"\r\n"
                b"Content-Type: application/x-npy\r\n\r\n" % (boundary.encode(), name.encode(),
                                                             name.encode()))
        out += data + b"\r\n"
    out += b"--%s--\r\n" % boundary.encode()
    return "multipart/form-data; boundary=" + boundary, out


def publish(node, token, owner, slug, version, files, price="0"):
    """Creates listing owner/slug (if new) and publishes `version` with `files` {name: bytes}."""
    node.request("POST", "/api/v1/models", {"slug": slug, "title": slug, "price": price}, token=token)
    s, _, b = node.request("POST", "/api/v1/models/%s/%s/versions" % (owner, slug),
                           {"version": version}, token=token)
    assert s == 201, (s, b)
    for name, data in files.items():
        s, _, up = node.request("POST", "/api/v1/models/%s/%s/versions/%s/uploads" % (owner, slug, version),
                                {"name": name, "size": len(data),
                                 "sha256": hashlib.sha256(data).hexdigest()}, token=token)
        assert s == 201, (s, up)
        s, _, f = node.request("PATCH", "/api/v1/uploads/" + up["id"], raw=data, content_type=None,
                               headers={"Upload-Offset": "0",
                                        "Content-Type": "application/offset+octet-stream"},
                               token=token)
        assert s == 200, (s, f)
    s, _, b = node.request("POST", "/api/v1/models/%s/%s/versions/%s/publish" % (owner, slug, version),
                           token=token)
    assert s == 200, (s, b)


def stop_clean(node):
    """Stops the node: no memory error or undefined behaviour in its log, and
    no leak that inference code (src/api/infer.c, src/market/infer.c,
    src/ml/) allocated. (A leak elsewhere is not this test's to judge.)"""
    code = node.stop()
    with open(os.path.join(node.dir, "node.log"), errors="replace") as f:
        logs = f.read()
    node.cleanup()
    assert "ERROR: AddressSanitizer" not in logs and "runtime error" not in logs, logs[-5000:]
    leaks = logs.split("ERROR: LeakSanitizer", 1)[1] if "ERROR: LeakSanitizer" in logs else ""
    for ours in ("/infer.c", "/src/ml/"):
        assert ours not in leaks, leaks[:5000]
    assert code == 0 or leaks, (code, logs[-5000:])


def url(owner, slug, version, query=""):
    return "/api/v1/models/%s/%s/versions/%s/infer%s" % (owner, slug, version, query)


class Infer(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = Node(args=["--rate-ip", "0", "--rate-account", "0",
                              "--infer-rate", "0", "--infer-max-memory", str(64 << 20),
                              "--infer-timeout-ms", "1500", "--infer-max-body", str(1 << 20)])
        n = cls.node
        cls.alice = register(n, "alice")
        cls.bob = register(n, "bob")
        publish(n, cls.alice, "alice", "gemm", "1.0.0", {"model.onnx": gemm_model(), "README.md": b"hi"})
        publish(n, cls.alice, "alice", "twoio", "1.0.0", {"model.onnx": two_io_model()})
        publish(n, cls.alice, "alice", "logs", "1.0.0", {"log.onnx": log_model()})
        publish(n, cls.alice, "alice", "typed", "1.0.0", {"typed.onnx": typed_model()})
        publish(n, cls.alice, "alice", "multi", "1.0.0", {"a.onnx": gemm_model(), "b.onnx": log_model()})
        publish(n, cls.alice, "alice", "paid", "1.0.0", {"model.onnx": gemm_model()}, price="1000")
        g = gemm_model()
        publish(n, cls.alice, "alice", "hostile", "1.0.0",
                {"truncated.onnx": g[:len(g) // 2], "unknown.onnx": unknown_op_model(),
                 "huge.onnx": huge_model(), "slow.onnx": slow_model(), "junk.onnx": RNG.bytes(3000)})
        conv = os.path.join(TESTDATA, "test_conv_with_strides_padding")
        if os.path.isdir(conv):
            with open(os.path.join(conv, "model.onnx"), "rb") as f:
                publish(n, cls.alice, "alice", "conv", "1.0.0", {"model.onnx": f.read()})

    @classmethod
    def tearDownClass(cls):
        stop_clean(cls.node)

    def infer(self, path, body=None, token=None, raw=None, ctype="application/json", headers=None):
        return self.node.request("POST", path, body=body, token=token, raw=raw, content_type=ctype,
                                 headers=headers)

    def assertError(self, resp, status, code=None, field=None, words=()):
        s, h, b = resp
        self.assertEqual(s, status, b)
        self.assertIsInstance(b, dict, b)
        if code:
            self.assertEqual(b["error"]["code"], code, b)
        if field:
            self.assertEqual(b["error"].get("field"), field, b)
        for w in words:
            self.assertIn(w, b["error"]["message"])
        self.assertTrue(b["error"]["request_id"])

    # ---- results --------------------------------------------------------------

    def test_json_flat_and_nested(self):
        x = RNG.standard_normal((2, 4)).astype(np.float32)
        want = np.maximum(x @ W + B, 0)
        for inp in ({"dtype": "float32", "shape": [2, 4], "data": x.ravel().tolist()},
                    {"data": x.tolist()},
                    x.tolist()):
            s, h, b = self.infer(url("alice", "gemm", "1.0.0"), {"inputs": {"X": inp}})
            self.assertEqual(s, 200, b)
            self.assertEqual(h["content-type"], "application/json")
            y = b["outputs"]["Y"]
            self.assertEqual(y["dtype"], "float32")
            self.assertEqual(y["shape"], [2, 3])
            got = np.array(y["data"], dtype=np.float32).reshape(2, 3)
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
            self.assertEqual(b["model"]["file"], "model.onnx")
        # "latest" resolves like a download does; a second call uses the cached model.
        s, _, b = self.infer(url("alice", "gemm", "latest"), {"inputs": {"X": x.tolist()}})
        self.assertEqual(s, 200, b)
        self.assertTrue(b["model"]["cached"])

    def test_npy_in_and_out(self):
        x = RNG.standard_normal((5, 4)).astype(np.float32)
        want = np.maximum(x @ W + B, 0)
        s, h, b = self.node.request("POST", url("alice", "gemm", "1.0.0"), raw=npy_bytes(x),
                                    content_type=NPY)
        self.assertEqual(s, 200, b)
        np.testing.assert_allclose(np.array(b["outputs"]["Y"]["data"]).reshape(5, 3), want,
                                   rtol=1e-5, atol=1e-6)
        s, _, b = self.node.request("POST", url("alice", "gemm", "1.0.0", "?input=X"),
                                    raw=npy_bytes(x), content_type=NPY)
        self.assertEqual(s, 200, b)
        self.assertError(self.node.request("POST", url("alice", "gemm", "1.0.0", "?input=Z"),
                                           raw=npy_bytes(x), content_type=NPY), 400, field="Z")
        # .npy back: exactly the model's float32 result.
        s, h, b = self.raw_post(url("alice", "gemm", "1.0.0"), npy_bytes(x), NPY, accept=NPY)
        self.assertEqual(s, 200, b)
        self.assertEqual(h["content-type"], NPY)
        y = np.load(io.BytesIO(b), allow_pickle=False)
        self.assertEqual(y.dtype, np.float32)
        self.assertEqual(y.shape, (5, 3))
        np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-6)

    def raw_post(self, path, data, ctype, accept=None, token=None):
        import http.client
        c = http.client.HTTPConnection(self.node.host, self.node.port, timeout=30)
        h = {"Content-Type": ctype}
        if accept:
            h["Accept"] = accept
        if token:
            h["Authorization"] = "Bearer " + token
        try:
            c.request("POST", path, body=data, headers=h)
            r = c.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            c.close()

    def test_multipart_two_inputs_two_outputs(self):
        a = RNG.standard_normal((3, 3)).astype(np.float32)
        k = RNG.integers(-1000, 1000, (3, 3)).astype(np.int64)
        ctype, body = multipart([("A", npy_bytes(a)), ("K", npy_bytes(k))])
        s, _, b = self.node.request("POST", url("alice", "twoio", "1.0.0"), raw=body, content_type=ctype)
        self.assertEqual(s, 200, b)
        np.testing.assert_allclose(np.array(b["outputs"]["S"]["data"], dtype=np.float32).reshape(3, 3),
                                   a + k.astype(np.float32), rtol=1e-6)
        self.assertEqual(b["outputs"]["D"]["dtype"], "int64")
        self.assertEqual(np.array(b["outputs"]["D"]["data"]).reshape(3, 3).tolist(), (2 * k).tolist())
        # JSON with the dtypes defaulted from the model, raw bytes back.
        s, _, b = self.infer(url("alice", "twoio", "1.0.0", "?encoding=base64url"),
                             {"inputs": {"A": a.tolist(), "K": k.tolist()}})
        self.assertEqual(s, 200, b)
        d = b["outputs"]["D"]["data_base64url"]
        got = np.frombuffer(base64.urlsafe_b64decode(d + "=" * (-len(d) % 4)), dtype="<i8")
        self.assertEqual(got.reshape(3, 3).tolist(), (2 * k).tolist())
        # One output of several: ?output=, as .npy.
        s, h, raw = self.raw_post(url("alice", "twoio", "1.0.0", "?output=D"), body, ctype, accept=NPY)
        self.assertEqual(s, 200, raw)
        self.assertEqual(np.load(io.BytesIO(raw)).tolist(), (2 * k).tolist())
        s, h, raw = self.raw_post(url("alice", "twoio", "1.0.0"), body, ctype, accept=NPY)
        self.assertEqual(s, 400, raw)
        self.assertIn(b"?output=", raw)
        # Every output at once as a .npz, read by numpy itself (CRCs checked).
        s, h, raw = self.raw_post(url("alice", "twoio", "1.0.0"), body, ctype,
                                  accept="application/x-npz")
        self.assertEqual(s, 200, raw)
        self.assertEqual(h["content-type"], "application/x-npz")
        with np.load(io.BytesIO(raw), allow_pickle=False) as z:
            self.assertEqual(sorted(z.files), ["D", "S"])
            self.assertEqual(z["S"].dtype, np.float32)
            np.testing.assert_array_equal(z["S"], a + k.astype(np.float32))
            np.testing.assert_array_equal(z["D"], 2 * k)

    def test_nan_and_infinity(self):
        s, _, b = self.infer(url("alice", "logs", "1.0.0"), {"inputs": {"X": [0, -1, 1]}})
        self.assertEqual(s, 200, b)
        self.assertEqual(b["outputs"]["Y"]["data"], ["-Infinity", "NaN", 0])
        # The same strings are accepted as inputs.
        s, _, b = self.infer(url("alice", "logs", "1.0.0"), {"inputs": {"X": ["Infinity", "NaN", 1]}})
        self.assertEqual(s, 200, b)
        self.assertEqual(b["outputs"]["Y"]["data"], ["Infinity", "NaN", 0])

    def test_float16_int8_bool(self):
        u = url("alice", "typed", "1.0.0")
        body = {"inputs": {"X": [1.5, 30000, -0.0001], "Q": [-128, 127], "P": [True, 0]}}
        s, _, b = self.infer(u, body)
        self.assertEqual(s, 200, b)
        want = np.array([1.5, 30000, -0.0001], np.float16) * 2
        self.assertEqual(b["outputs"]["H"]["dtype"], "float16")
        # The decimals name the float16 values exactly (9 digits round-trip any float32).
        got = np.array(b["outputs"]["H"]["data"], dtype=np.float32).astype(np.float16)
        np.testing.assert_array_equal(got, want)
        self.assertEqual(b["outputs"]["I"]["data"], [-128, 127])
        self.assertEqual(b["outputs"]["B"]["data"], [False, True])
        # float16 overflows to infinity like numpy; the .npz keeps the dtypes.
        body["inputs"]["X"] = [40000, 1, 1]
        s, h, raw = self.raw_post(u, json.dumps(body).encode(), "application/json",
                                  accept="application/x-npz")
        self.assertEqual(s, 200, raw)
        with np.load(io.BytesIO(raw)) as z:
            self.assertEqual(z["H"].dtype, np.float16)
            with np.errstate(over="ignore"):
                want = np.array([40000, 1, 1], np.float16) * 2
            self.assertTrue(np.isinf(want[0]))
            np.testing.assert_array_equal(z["H"], want)
            self.assertEqual(z["I"].dtype, np.int8)
            self.assertEqual(z["B"].dtype, np.bool_)
        # Out of range for the declared type: 400 naming the input.
        self.assertError(self.infer(u, {"inputs": {"X": [1, 1, 1], "Q": [128, 0], "P": [1, 0]}}),
                         400, field="Q", words=["out of range", "int8"])
        self.assertError(self.infer(u, {"inputs": {"X": [1, 1, 1], "Q": [1, 0], "P": [2, 0]}}),
                         400, field="P")

    def test_backend_testdata_conv(self):
        case = os.path.join(TESTDATA, "test_conv_with_strides_padding")
        if not os.path.isdir(case):
            self.skipTest("libonnx-testdata is not installed")
        m = onnx.load(os.path.join(case, "model.onnx"))
        names = [i.name for i in m.graph.input]
        ds = os.path.join(case, "test_data_set_0")
        ins = [numpy_helper.to_array(onnx.load_tensor(os.path.join(ds, "input_%d.pb" % i)))
               for i in range(len(names))]
        want = numpy_helper.to_array(onnx.load_tensor(os.path.join(ds, "output_0.pb")))
        ctype, body = multipart([(n, npy_bytes(a)) for n, a in zip(names, ins)])
        s, _, raw = self.raw_post(url("alice", "conv", "1.0.0"), body, ctype, accept=NPY)
        self.assertEqual(s, 200, raw)
        got = np.load(io.BytesIO(raw))
        self.assertEqual(got.shape, want.shape)
        np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-7)

    def test_choosing_the_file(self):
        self.assertError(self.infer(url("alice", "multi", "1.0.0"), {"inputs": {}}), 400,
                         field="file", words=["a.onnx", "b.onnx", "?file="])
        s, _, b = self.infer(url("alice", "multi", "1.0.0", "?file=b.onnx"), {"inputs": {"X": [1, 1, 1]}})
        self.assertEqual(s, 200, b)
        self.assertEqual(b["outputs"]["Y"]["data"], [0, 0, 0])
        self.assertError(self.infer(url("alice", "multi", "1.0.0", "?file=nope.onnx"), {"inputs": {}}), 404)
        self.assertError(self.infer(url("alice", "nosuch", "1.0.0"), {"inputs": {}}), 404)
        self.assertError(self.infer(url("alice", "gemm", "9.9.9"), {"inputs": {}}), 404)

    # ---- access ---------------------------------------------------------------

    def test_paid_model(self):
        x = RNG.standard_normal((1, 4)).astype(np.float32)
        body = {"inputs": {"X": x.tolist()}}
        self.assertError(self.infer(url("alice", "paid", "1.0.0"), body), 401)
        self.assertError(self.infer(url("alice", "paid", "1.0.0"), body, token=self.bob), 403)
        s, _, b = self.infer(url("alice", "paid", "1.0.0"), body, token=self.alice)
        self.assertEqual(s, 200, b)
        np.testing.assert_allclose(np.array(b["outputs"]["Y"]["data"]).reshape(1, 3),
                                   np.maximum(x @ W + B, 0), rtol=1e-5, atol=1e-6)
        # The refusal comes before the body is read: even a malformed one.
        self.assertError(self.infer(url("alice", "paid", "1.0.0"), raw=b"{", token=self.bob), 403)

    # ---- bad inputs -------------------------------------------------------------

    def test_bad_inputs(self):
        u = url("alice", "gemm", "1.0.0")
        self.assertError(self.infer(u, {"inputs": {"Z": [[1, 2, 3, 4]]}}), 400, field="Z",
                         words=['"X"'])
        self.assertError(self.infer(u, {"inputs": {}}), 400, field="X", words=["missing"])
        self.assertError(self.infer(u, {"inputs": {"X": {"dtype": "int64", "data": [[1, 2, 3, 4]]}}}),
                         400, field="X", words=["float32", "int64"])
        self.assertError(self.infer(u, {"inputs": {"X": [[1, 2, 3]]}}), 400, field="X",
                         words=["dimension 1 must be 4"])
        self.assertError(self.infer(u, {"inputs": {"X": [1, 2, 3, 4]}}), 400, field="X",
                         words=["rank 2"])
        self.assertError(self.infer(u, {"inputs": {"X": [[1, 2], [3]]}}), 400, field="X",
                         words=["ragged"])
        self.assertError(self.infer(u, {"inputs": {"X": [[1, "a", 3, 4]]}}), 400, field="X")
        self.assertError(self.infer(u, {"inputs": {"X": {"shape": [2, 4], "data": [1, 2, 3]}}}), 400,
                         field="X", words=["3 elements"])
        self.assertError(self.infer(u, {"inputs": {"X": {"shape": [-1, 4], "data": [1, 2, 3, 4]}}}),
                         400, field="X")
        self.assertError(self.infer(u, {"inputs": {"X": {"dtype": "float99", "data": [1]}}}), 400,
                         field="X")
        self.assertError(self.infer(u, {"inputs": {"X": [[1, 2, 3, 4]]}, "extra": 1}), 400)
        self.assertError(self.infer(u, raw=b'{"inputs": {"X": [[1, 2, 3, 4]]'), 400, code="bad_json")
        self.assertError(self.infer(u, raw=b"[1, 2]"), 400)
        self.assertError(self.infer(u, raw=b"x", ctype="text/plain"), 415)
        # .npy: wrong dtype, wrong shape, not a .npy at all, Fortran order.
        self.assertError(self.node.request("POST", u, raw=npy_bytes(np.zeros((1, 4))), content_type=NPY),
                         400, field="X", words=["float32", "float64"])
        self.assertError(self.node.request("POST", u, raw=npy_bytes(np.zeros((1, 5), np.float32)),
                                           content_type=NPY), 400, field="X")
        self.assertError(self.node.request("POST", u, raw=b"not an npy file", content_type=NPY), 400)
        self.assertError(self.node.request("POST", u, raw=npy_bytes(np.asfortranarray(
            np.zeros((2, 4), np.float32))), content_type=NPY), 400)
        # A two-input model cannot take a single .npy; multipart needs names and a boundary.
        self.assertError(self.node.request("POST", url("alice", "twoio", "1.0.0"),
                                           raw=npy_bytes(np.zeros((1, 3), np.float32)),
                                           content_type=NPY), 400, words=["multipart"])
        self.assertError(self.node.request("POST", u, raw=b"--x\r\n\r\nabc\r\n--x--",
                                           content_type="multipart/form-data; boundary=x"), 400)
        self.assertError(self.node.request("POST", u, raw=b"--x--", content_type="multipart/form-data"), 400)
        # The body cap (1 MiB on this node): 413 from the headers alone, before
        # a byte of the body is sent.
        with socket.create_connection((self.node.host, self.node.port), timeout=30) as sk:
            sk.sendall(b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                       b"Content-Length: %d\r\n\r\n" % (u.encode(), 2 << 20))
            head = sk.recv(65536)
        self.assertTrue(head.startswith(b"HTTP/1.1 413"), head)
        self.assertIn(b"too_large", head)

    # ---- hostile models and limits ---------------------------------------------

    def test_hostile_model_files(self):
        for f in ("truncated.onnx", "unknown.onnx", "junk.onnx"):
            self.assertError(self.infer(url("alice", "hostile", "1.0.0", "?file=" + f),
                                        {"inputs": {"X": [1]}}), 422, field="file", words=[f])
        # Still serving.
        s, _, b = self.infer(url("alice", "logs", "1.0.0"), {"inputs": {"X": [1, 1, 1]}})
        self.assertEqual(s, 200, b)

    def test_memory_cap(self):
        self.assertError(self.infer(url("alice", "hostile", "1.0.0", "?file=huge.onnx"),
                                    {"inputs": {"X": [1]}}), 413, words=["memory limit"])

    def test_time_limit(self):
        x = np.ones((64, 64), np.float32)
        self.assertError(self.infer(url("alice", "hostile", "1.0.0", "?file=slow.onnx"),
                                    {"inputs": {"X": x.tolist()}}), 408, code="timeout",
                         words=["time limit"])
        s, _, b = self.infer(url("alice", "logs", "1.0.0"), {"inputs": {"X": [1, 1, 1]}})
        self.assertEqual(s, 200, b)

    # ---- the CLI ----------------------------------------------------------------

    def test_cli(self):
        d = tempfile.mkdtemp(dir=self.node.dir)
        a = RNG.standard_normal((2, 3)).astype(np.float32)
        k = RNG.integers(-5, 5, (2, 3)).astype(np.int64)
        np.save(os.path.join(d, "a.npy"), a)
        np.save(os.path.join(d, "k.npy"), k)
        out = os.path.join(d, "out")
        r = self.node.cli("infer", "alice/twoio@1.0.0", "--input", "A=" + os.path.join(d, "a.npy"),
                          "--input", "K=" + os.path.join(d, "k.npy"), "--output-dir", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        s = np.load(os.path.join(out, "S.npy"))
        self.assertEqual(s.dtype, np.float32)
        np.testing.assert_array_equal(s, a + k.astype(np.float32))
        dd = np.load(os.path.join(out, "D.npy"))
        self.assertEqual(dd.dtype, np.int64)
        np.testing.assert_array_equal(dd, 2 * k)
        # Errors are the node's, with the input named; a bad argument is a usage error.
        r = self.node.cli("infer", "alice/twoio@1.0.0", "--input", "Q=" + os.path.join(d, "a.npy"),
                          "--output-dir", out)
        self.assertEqual(r.returncode, 1)
        self.assertIn("Q", r.stderr)
        r = self.node.cli("infer", "alice/twoio@1.0.0", "--input", "nofile", "--output-dir", out)
        self.assertEqual(r.returncode, 2, r.stderr)
        # A paid model for its owner, through the stored login.
        r = self.node.cli("infer", "alice/paid@1.0.0", "--input", "X=" + os.path.join(d, "a.npy"),
                          "--output-dir", out, env={"AGORA_TOKEN": self.bob})
        self.assertEqual(r.returncode, 1)
        np.save(os.path.join(d, "x.npy"), np.ones((1, 4), np.float32))
        r = self.node.cli("infer", "alice/paid@1.0.0", "--input", "X=" + os.path.join(d, "x.npy"),
                          "--output-dir", out, env={"AGORA_TOKEN": self.alice})
        self.assertEqual(r.returncode, 0, r.stderr)
        np.testing.assert_allclose(np.load(os.path.join(out, "Y.npy")),
                                   np.maximum(np.ones((1, 4), np.float32) @ W + B, 0), rtol=1e-5,
                                   atol=1e-6)


class Limits(unittest.TestCase):
    """A node with one inference slot and a tight rate limit for free models."""

    @classmethod
    def setUpClass(cls):
        # The node-wide limits (--rate-ip, --rate-account) are off: only the
        # inference limits are under test here.
        cls.node = Node(args=["--rate-ip", "0", "--rate-account", "0",
                              "--infer-rate", "0.01:4", "--infer-concurrency", "1",
                              "--infer-timeout-ms", "4000", "--threads", "4",
                              "--infer-max-body", "65536", "--infer-cache-models", "1"])
        cls.alice = register(cls.node, "alice")
        publish(cls.node, cls.alice, "alice", "logs", "1.0.0", {"log.onnx": log_model()})
        publish(cls.node, cls.alice, "alice", "slow", "1.0.0", {"slow.onnx": slow_model()})
        publish(cls.node, cls.alice, "alice", "gemm", "1.0.0", {"model.onnx": gemm_model()})

    @classmethod
    def tearDownClass(cls):
        stop_clean(cls.node)

    def test_rate_limit_then_owner_unlimited(self):
        u = url("alice", "logs", "1.0.0")
        statuses = []
        for _ in range(6):
            s, h, b = self.node.request("POST", u, {"inputs": {"X": [1, 2, 3]}})
            statuses.append(s)
            if s == 429:
                self.assertEqual(b["error"]["code"], "rate_limited")
                self.assertGreaterEqual(int(h["retry-after"]), 1)
        self.assertEqual(statuses[:4], [200] * 4, statuses)
        self.assertEqual(statuses[4:], [429, 429], statuses)
        # The owner is not limited by the free-model rate.
        for _ in range(6):
            s, _, b = self.node.request("POST", u, {"inputs": {"X": [1, 2, 3]}}, token=self.alice)
            self.assertEqual(s, 200, b)

    def test_model_cache_keeps_the_most_recent(self):
        # This node keeps one loaded model: a second model evicts the first.
        def cached(slug, inp):
            s, _, b = self.node.request("POST", url("alice", slug, "1.0.0"), {"inputs": inp},
                                        token=self.alice)
            self.assertEqual(s, 200, b)
            return b["model"]["cached"]
        logs, gemm = {"X": [1, 2, 3]}, {"X": [[1, 2, 3, 4]]}
        cached("logs", logs)
        self.assertTrue(cached("logs", logs))
        self.assertFalse(cached("gemm", gemm))
        self.assertTrue(cached("gemm", gemm))
        self.assertFalse(cached("logs", logs))

    def test_bodies_being_read_have_a_budget(self):
        # One slot and 64 KiB bodies: (2 x 1 + 2) x 64 KiB may be read at once.
        u = url("alice", "logs", "1.0.0")
        socks = []
        try:
            # A request of an earlier test may still hold part of the budget
            # for a moment: a holder refused with 503 is opened again.
            deadline = time.time() + 20
            while len(socks) < 4 and time.time() < deadline:
                sk = socket.create_connection((self.node.host, self.node.port), timeout=30)
                sk.sendall(b"POST %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                           b"Content-Type: application/json\r\nContent-Length: 65536\r\n\r\n{"
                           % (u.encode(), self.alice.encode()))
                time.sleep(0.2)
                sk.setblocking(False)
                try:
                    early = sk.recv(4096)
                except BlockingIOError:
                    early = None
                sk.setblocking(True)
                if early is None:
                    socks.append(sk)
                else:
                    sk.close()
                    time.sleep(0.2)
            self.assertEqual(len(socks), 4, "could not hold four bodies open")
            deadline = time.time() + 10
            seen = []
            while True:  # the node reads the headers of all four in its own time
                s, h, b = self.node.request("POST", u, {"inputs": {"X": [1, 2, 3]}}, token=self.alice)
                seen.append(s)
                if s == 503 or time.time() > deadline:
                    break
                time.sleep(0.05)
            self.assertEqual(s, 503, (seen, b))
            self.assertIn("reading too many", b["error"]["message"])
            self.assertGreaterEqual(int(h["retry-after"]), 1)
        finally:
            for sk in socks:
                sk.close()
        # Closed connections give their reservations back.
        deadline = time.time() + 10
        while True:
            s, _, b = self.node.request("POST", u, {"inputs": {"X": [1, 2, 3]}}, token=self.alice)
            if s == 200 or time.time() > deadline:
                break
            time.sleep(0.05)
        self.assertEqual(s, 200, b)

    def test_saturated_node_answers_503(self):
        x = np.ones((64, 64), np.float32).tolist()
        slow = {}

        def run():
            # The probes below may hold the one slot just as this arrives: then
            # it is refused too, and asks again until it runs (to its 408).
            for _ in range(50):
                slow["r"] = self.node.request("POST", url("alice", "slow", "1.0.0"),
                                              {"inputs": {"X": x}}, token=self.alice)
                if slow["r"][0] != 503:
                    break
                time.sleep(0.05)

        t = threading.Thread(target=run)
        t.start()
        got = None
        while t.is_alive() and got is None:
            # Runs have threads of their own (http_defer()), but a connection
            # may still be slow to be served on a loaded machine: give up on a
            # slow answer and try a new connection.
            c = http.client.HTTPConnection(self.node.host, self.node.port, timeout=0.5)
            try:
                c.request("POST", url("alice", "logs", "1.0.0"), body=b'{"inputs": {"X": [1, 2, 3]}}',
                          headers={"Content-Type": "application/json",
                                   "Authorization": "Bearer " + self.alice})
                r = c.getresponse()
                s, b = r.status, r.read()
                if s == 503:
                    got = (s, {k.lower(): v for k, v in r.getheaders()}, json.loads(b))
                else:
                    self.assertEqual(s, 200, b)
                    time.sleep(0.01)
            except (TimeoutError, OSError):
                pass
            finally:
                c.close()
        t.join()
        self.assertIsNotNone(got, ("no request saw the node saturated", slow.get("r")))
        self.assertEqual(got[2]["error"]["code"], "unavailable")
        self.assertGreaterEqual(int(got[1]["retry-after"]), 1)
        self.assertEqual(slow["r"][0], 408, slow["r"])
        # The slot is free again.
        s, _, b = self.node.request("POST", url("alice", "logs", "1.0.0"), {"inputs": {"X": [1, 2, 3]}},
                                    token=self.alice)
        self.assertEqual(s, 200, b)


class OneWorker(unittest.TestCase):
    """A long run does not hold the HTTP worker thread it arrived on."""

    def test_other_requests_are_served_during_a_run(self):
        # One HTTP worker thread: before runs were deferred, /healthz waited
        # for the run's 408.
        node = Node(args=["--threads", "1", "--infer-timeout-ms", "8000"])
        try:
            alice = register(node, "alice")
            publish(node, alice, "alice", "slow", "1.0.0", {"slow.onnx": slow_model()})
            x = np.ones((64, 64), np.float32).tolist()
            got = {}

            def run():
                got["r"] = node.request("POST", url("alice", "slow", "1.0.0"), {"inputs": {"X": x}},
                                        token=alice)

            t = threading.Thread(target=run)
            t.start()
            # Wait until the run holds its slot (the metric of running inferences
            # is not exposed: the request's own log line is written at its end,
            # so poll /healthz and the model page while the run is in flight).
            time.sleep(0.5)
            served = 0
            for path in ("/healthz", "/api/v1/models/alice/slow", "/api/v1/models?q=slow"):
                c = http.client.HTTPConnection(node.host, node.port, timeout=30)
                c.request("GET", path)
                r = c.getresponse()
                r.read()
                c.close()
                self.assertEqual(r.status, 200, path)
                if t.is_alive():
                    served += 1
            t.join()
            self.assertEqual(got["r"][0], 408, got["r"])
            self.assertGreaterEqual(served, 1, "no request was answered while the run went on")
        finally:
            stop_clean(node)


class Shutdown(unittest.TestCase):
    def test_sigterm_stops_a_long_run(self):
        node = Node(args=["--infer-timeout-ms", "600000"])
        try:
            alice = register(node, "alice")
            publish(node, alice, "alice", "slow", "1.0.0", {"slow.onnx": slow_model()})
            x = np.ones((64, 64), np.float32).tolist()
            got = {}

            def run():
                try:
                    got["r"] = node.request("POST", url("alice", "slow", "1.0.0"),
                                            {"inputs": {"X": x}}, token=alice)
                except OSError as e:  # SIGTERM came before the request was read
                    got["r"] = (0, {}, str(e))

            t = threading.Thread(target=run)
            t.start()
            time.sleep(1)
            node.proc.send_signal(15)
            # The run stops at its next node: the node exits by itself (node.stop()
            # would kill it after 30 s otherwise) long before the 10-minute limit.
            node.proc.wait(timeout=60)
            t.join()
            self.assertIn(got["r"][0], (503, 0), got["r"])
            if got["r"][0] == 503:
                self.assertIn("shutting down", got["r"][2]["error"]["message"])
        finally:
            stop_clean(node)


if __name__ == "__main__":
    unittest.main()
