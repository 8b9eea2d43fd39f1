#!/usr/bin/python3
"""gen_torch_models.py - real PyTorch modules exported with torch.onnx.export, for the parity test.

Usage: gen_torch_models.py OUTDIR
       gen_torch_models.py --fixtures FIXTURE_DIR

Writes OUTDIR/torch_<name>/model.onnx, input_<k>.npy and inputs.txt (the
layout gen_models.py uses): MLP, CNN, ResNet-style blocks, transformer
encoder with embedding, LSTM, GRU, depthwise convolutions, logistic
regression. Needs Debian's python3-torch; exits 77 (skip) without it.

With --fixtures it writes the committed parity fixtures instead:
FIXTURE_DIR/<name>/ with the same files plus expected/<output>.npy, the
outputs of onnxruntime-node 1.30 (tests/ml/ort_run.js) on those inputs, so
that `make test` checks our engine against them without torch or node
(CTest ml.parity_fixtures). To regenerate them, from the repository root:

    /usr/bin/python3 tests/ml/gen_torch_models.py --fixtures tests/ml/fixtures

Seeds are fixed, but another PyTorch version may export other graphs or
weights: regenerate all of them together and commit the result. Every model
is kept under about 1 MB.
"""
import os
import shutil
import subprocess
import sys

import numpy as np

try:
    import torch
    from torch import nn
except ImportError:
    print("gen_torch_models: python3-torch is not installed", file=sys.stderr)
    sys.exit(77)

torch.manual_seed(7)
OPSET = 17


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.down = None if stride == 1 and cin == cout else nn.Sequential(
            nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = torch.relu(self.b1(self.c1(x)))
        y = self.b2(self.c2(y))
        return torch.relu(y + (x if self.down is None else self.down(x)))


class ResNetish(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1), nn.BatchNorm2d(16), nn.ReLU())
        self.blocks = nn.Sequential(Block(16, 16, 1), Block(16, 32, 2), Block(32, 64, 2))
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(self.blocks(self.stem(x)), 1), 1))


class Encoder(nn.Module):
    def __init__(self, vocab=500, d=64, heads=4, layers=2, seq=16):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.pos = nn.Parameter(torch.randn(1, seq, d) * 0.1)
        layer = nn.TransformerEncoderLayer(d, heads, 128, dropout=0.0, batch_first=True)
        self.enc = nn.TransformerEncoder(layer, layers)
        self.head = nn.Linear(d, 3)

    def forward(self, tokens):
        return self.head(self.enc(self.emb(tokens) + self.pos).mean(dim=1))


class Recurrent(nn.Module):
    def __init__(self, cell):
        super().__init__()
        self.rnn = cell(16, 32, batch_first=True, num_layers=2, bidirectional=cell is nn.GRU)
        self.fc = nn.Linear(64 if cell is nn.GRU else 32, 4)

    def forward(self, x):
        y, _ = self.rnn(x)
        return self.fc(y[:, -1])


def models():
    # Small enough to commit (109k parameters); the benchmark has the 784-512-512-10 one.
    yield "mlp", nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(),
                               nn.Linear(64, 10)), {"x": torch.randn(8, 784)}
    yield "cnn", nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(64, 10)), {"x": torch.randn(2, 3, 32, 32)}
    yield "resnet", ResNetish(), {"x": torch.randn(1, 3, 32, 32)}
    yield "transformer", Encoder(), {"tokens": torch.randint(0, 500, (2, 16))}
    yield "lstm", Recurrent(nn.LSTM), {"x": torch.randn(3, 10, 16)}
    yield "gru", Recurrent(nn.GRU), {"x": torch.randn(3, 10, 16)}
    yield "depthwise", nn.Sequential(
        nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.BatchNorm2d(8), nn.ReLU6(),
        nn.Conv2d(8, 16, 1), nn.BatchNorm2d(16), nn.Hardswish(),
        nn.ConvTranspose2d(16, 4, 2, stride=2), nn.Sigmoid()), {"x": torch.randn(2, 8, 16, 16)}
    yield "logreg", nn.Sequential(nn.Linear(20, 1), nn.Sigmoid()), {"x": torch.randn(50, 20)}


HERE = os.path.dirname(os.path.abspath(__file__))


def reference_outputs(d):
    """Runs the model in d with onnxruntime-node into d/expected/."""
    feeds = [l.strip() for l in open(os.path.join(d, "inputs.txt")) if l.strip()]
    feeds = [f"{f.split('=', 1)[0]}={os.path.join(d, f.split('=', 1)[1])}" for f in feeds]
    exp = os.path.join(d, "expected")
    shutil.rmtree(exp, ignore_errors=True)
    subprocess.run(["node", os.path.join(HERE, "ort_run.js"), os.path.join(d, "model.onnx"),
                    "--output-dir", exp] + feeds, check=True, timeout=600)


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    fixtures = sys.argv[1] == "--fixtures"
    out = sys.argv[2] if fixtures else sys.argv[1]
    for name, model, inputs in models():
        model.eval()
        # Give BatchNorm layers non-trivial running statistics.
        for mod in model.modules():
            if isinstance(mod, nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.5, 0.5)
                mod.running_var.uniform_(0.5, 1.5)
        d = os.path.join(out, name if fixtures else "torch_" + name)
        os.makedirs(d, exist_ok=True)
        # Exported with autograd on: under no_grad PyTorch 1.13 takes the fused
        # "fast path" of nn.TransformerEncoderLayer, which has no ONNX export.
        torch.onnx.export(model, tuple(inputs.values()), os.path.join(d, "model.onnx"),
                          input_names=list(inputs), output_names=["y"], opset_version=OPSET)
        with open(os.path.join(d, "inputs.txt"), "w") as f:
            for k, (nm, t) in enumerate(inputs.items()):
                np.save(os.path.join(d, f"input_{k}.npy"), t.detach().numpy())
                f.write(f"{nm}=input_{k}.npy\n")
        if fixtures:
            reference_outputs(d)
            size = os.path.getsize(os.path.join(d, "model.onnx"))
            print(f"{name}: model.onnx {size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
