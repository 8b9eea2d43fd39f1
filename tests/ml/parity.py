#!/usr/bin/python3
"""parity.py - our engine against onnxruntime-node on real models.

Usage: parity.py AGORA_ONNX WORKDIR [--threads N] [--gemm PATH] [--torch] [MODEL...]
       parity.py AGORA_ONNX WORKDIR [--threads N] [--gemm PATH] --fixtures FIXTURE_DIR

Generates the fixtures (gen_models.py, or with --torch the PyTorch exports of
gen_torch_models.py) into WORKDIR, runs each with
`agora onnx run` (the AGORA_ONNX binary) and with onnxruntime-node
(ort_run.js) on the same .npy inputs, and fails if any output differs by
more than 1e-4 (absolute) or differs in dtype or shape.

--gemm PATH (auto, openblas, own) is passed to `agora onnx run`: with own,
every single-precision GEMM runs on the engine's AVX2/FMA kernel.

With --fixtures it runs the committed fixtures instead (FIXTURE_DIR/<name>/,
written by `gen_torch_models.py --fixtures`) and compares our outputs with
their expected/ outputs from onnxruntime-node: no torch and no node needed.
"""
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
TOL = 1e-4


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])}...: exit {r.returncode}: {r.stderr.strip()}")
    return r.stdout


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    agora, work = sys.argv[1], sys.argv[2]
    use_torch = "--torch" in sys.argv[3:]
    threads = "1"
    if "--threads" in sys.argv[3:-1]:
        threads = sys.argv[sys.argv.index("--threads") + 1]
        del sys.argv[sys.argv.index("--threads"):sys.argv.index("--threads") + 2]
    gemm = []
    if "--gemm" in sys.argv[3:-1]:
        gemm = ["--gemm", sys.argv[sys.argv.index("--gemm") + 1]]
        del sys.argv[sys.argv.index("--gemm"):sys.argv.index("--gemm") + 2]
    fixtures = sys.argv[4] if len(sys.argv) > 4 and sys.argv[3] == "--fixtures" else None
    names = [a for a in sys.argv[3:] if not a.startswith("--")] if not fixtures else []
    if fixtures:
        os.makedirs(work, exist_ok=True)
    elif use_torch:
        r = subprocess.run(["/usr/bin/python3", os.path.join(HERE, "gen_torch_models.py"), work],
                           capture_output=True, text=True, timeout=900)
        if r.returncode == 77:
            print("SKIP: python3-torch is not installed")
            return 77
        if r.returncode:
            print(r.stderr[-2000:])
            return 1
    else:
        run(["/usr/bin/python3", os.path.join(HERE, "gen_models.py"), work] + names)
    failed = 0
    src = fixtures or work
    models = names or sorted(d for d in os.listdir(src) if os.path.isfile(os.path.join(src, d, "model.onnx")))
    if not models:
        print(f"FAIL: no models in {src}")
        return 1
    for name in models:
        d = os.path.join(src, name)
        feeds = [l.strip() for l in open(os.path.join(d, "inputs.txt")) if l.strip()]
        feeds_abs = [f"{f.split('=', 1)[0]}={os.path.join(d, f.split('=', 1)[1])}" for f in feeds]
        ours = os.path.join(work, name, "out_agora")
        ref = os.path.join(d, "expected") if fixtures else os.path.join(d, "out_ort")
        try:
            args = [agora, "onnx", "run", os.path.join(d, "model.onnx"), "--output-dir", ours,
                    "--threads", threads] + gemm
            for f in feeds_abs:
                args += ["--input", f]
            run(args)
            if not fixtures:
                run(["node", os.path.join(HERE, "ort_run.js"), os.path.join(d, "model.onnx"),
                     "--output-dir", ref] + feeds_abs)
            elif not os.path.isdir(ref) or not os.listdir(ref):
                raise RuntimeError(f"{ref} holds no expected outputs")
            info = run([agora, "onnx", "info", os.path.join(d, "model.onnx")])
            for want in ("inputs:", "outputs:", "opsets:", "operators (", "parameters: "):
                if want not in info:
                    raise RuntimeError(f"`agora onnx info` lacks \"{want}\"")
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            print(f"FAIL {name}: {e}")
            failed += 1
            continue
        worst = 0.0
        ok = True
        if sorted(os.listdir(ours)) != sorted(os.listdir(ref)):
            print(f"FAIL {name}: outputs {sorted(os.listdir(ours))}, expected {sorted(os.listdir(ref))}")
            failed += 1
            continue
        for f in sorted(os.listdir(ref)):
            a, b = np.load(os.path.join(ours, f)), np.load(os.path.join(ref, f))
            if a.dtype != b.dtype or a.shape != b.shape:
                print(f"FAIL {name}: {f} is {a.dtype}{a.shape}, onnxruntime {b.dtype}{b.shape}")
                ok = False
                continue
            diff = float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))) if a.size else 0.0
            worst = max(worst, diff)
            if not diff <= TOL:
                ok = False
        print(f"{'PASS' if ok else 'FAIL'} {name}: largest absolute difference {worst:.3g}")
        failed += 0 if ok else 1
    what = "the recorded onnxruntime outputs" if fixtures else "onnxruntime"
    print(f"{len(models) - failed} of {len(models)} models match {what} within {TOL}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
