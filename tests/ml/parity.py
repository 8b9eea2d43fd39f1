#!/usr/bin/python3
"""parity.py - our engine against onnxruntime-node on real models.

Usage: parity.py AGORA_ONNX WORKDIR [--torch] [MODEL...]

Generates the fixtures (gen_models.py, or with --torch the PyTorch exports of
gen_torch_models.py) into WORKDIR, runs each with
`agora onnx run` (the AGORA_ONNX binary) and with onnxruntime-node
(ort_run.js) on the same .npy inputs, and fails if any output differs by
more than 1e-4 (absolute) or differs in dtype or shape.
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
    names = [a for a in sys.argv[3:] if not a.startswith("--")]
    if use_torch:
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
    models = names or sorted(d for d in os.listdir(work) if os.path.isfile(os.path.join(work, d, "model.onnx")))
    for name in models:
        d = os.path.join(work, name)
        feeds = [l.strip() for l in open(os.path.join(d, "inputs.txt")) if l.strip()]
        feeds_abs = [f"{f.split('=', 1)[0]}={os.path.join(d, f.split('=', 1)[1])}" for f in feeds]
        ours, ref = os.path.join(d, "out_agora"), os.path.join(d, "out_ort")
        try:
            args = [agora, "onnx", "run", os.path.join(d, "model.onnx"), "--output-dir", ours]
            for f in feeds_abs:
                args += ["--input", f]
            run(args)
            run(["node", os.path.join(HERE, "ort_run.js"), os.path.join(d, "model.onnx"),
                 "--output-dir", ref] + feeds_abs)
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
    print(f"{len(models) - failed} of {len(models)} models match onnxruntime within {TOL}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
