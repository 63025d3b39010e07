#!/usr/bin/python3
"""Train tfmq's bundled default model: a small CNN on Fashion-MNIST.

Run with Debian's Python (it has python3-torch 1.13, CPU):

    /usr/bin/python3 scripts/train_fashion_mnist.py

Reads the IDX files of Debian's dataset-fashion-mnist package, trains with a fixed seed on one CPU
thread, and writes into models/:
    fashion_mnist_cnn.onnx    ONNX opset 13, input "input" [batch,1,28,28] float32 = pixel/255,
                              output "logits" [batch,10]
    fashion_mnist_labels.txt  the 10 class names, one per line (index = class id)
    fashion_mnist_cnn.json    what was measured (test accuracy by PyTorch) and how it was trained
    README.md                 the same, for people
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "scripts"))
from fashion_mnist_data import DATA_DIR, LABELS, load_split  # noqa: E402  (numpy-only helpers)


class FashionCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(32)
        self.conv3 = nn.Conv2d(32, 64, 3, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(64)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)   # 16 x 14 x 14
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)   # 32 x 7 x 7
        x = F.relu(self.bn3(self.conv3(x)))                    # 64 x 7 x 7
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)      # 64
        return self.fc(x)


def evaluate(model, x, y, batch=1000):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            logits = model(x[i:i + batch])
            correct += int((logits.argmax(1) == y[i:i + batch]).sum())
    return correct / len(x)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data-dir", default=DATA_DIR)
    ap.add_argument("--out-dir", default=os.path.join(REPO, "models"))
    args = ap.parse_args()

    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    t0 = time.time()

    xtr, ytr = load_split("train", args.data_dir)
    xte, yte = load_split("test", args.data_dir)
    xtr = torch.from_numpy(xtr.astype(np.float32) / 255.0).unsqueeze(1)
    xte = torch.from_numpy(xte.astype(np.float32) / 255.0).unsqueeze(1)
    ytr = torch.from_numpy(ytr.astype(np.int64))
    yte = torch.from_numpy(yte.astype(np.int64))

    model = FashionCNN()
    steps_per_epoch = (len(xtr) + args.batch - 1) // args.batch
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, nesterov=True,
                          weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr * 10,
                                                total_steps=args.epochs * steps_per_epoch)
    gen = torch.Generator().manual_seed(args.seed)
    for epoch in range(args.epochs):
        model.train()
        perm = torch.randperm(len(xtr), generator=gen)
        total_loss = 0.0
        for s in range(steps_per_epoch):
            idx = perm[s * args.batch:(s + 1) * args.batch]
            xb = xtr[idx]
            # light augmentation: random horizontal flip (garments are left/right symmetric)
            flip = torch.rand(len(idx), generator=gen) < 0.5
            xb = torch.where(flip[:, None, None, None], xb.flip(3), xb)
            loss = F.cross_entropy(model(xb), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total_loss += float(loss) * len(idx)
        acc = evaluate(model, xte, yte)
        print("epoch %d: train loss %.4f, test accuracy %.2f %% (%.0f s)"
              % (epoch + 1, total_loss / len(xtr), 100 * acc, time.time() - t0), flush=True)

    model.eval()
    acc = evaluate(model, xte, yte)
    train_s = time.time() - t0

    os.makedirs(args.out_dir, exist_ok=True)
    onnx_path = os.path.join(args.out_dir, "fashion_mnist_cnn.onnx")
    tmp_path = onnx_path + ".tmp"
    torch.onnx.export(model, torch.zeros(1, 1, 28, 28), tmp_path, opset_version=13,
                      input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                      do_constant_folding=True)
    os.replace(tmp_path, onnx_path)

    import onnx
    onnx.checker.check_model(onnx.load(onnx_path))

    with open(os.path.join(args.out_dir, "fashion_mnist_labels.txt"), "w") as f:
        f.write("\n".join(LABELS) + "\n")

    meta = {
        "model": "fashion_mnist_cnn.onnx",
        "test_accuracy": round(acc, 4),
        "test_images": int(len(xte)),
        "epochs": args.epochs, "batch": args.batch, "lr": args.lr, "seed": args.seed,
        "torch": torch.__version__,
        "train_seconds": round(train_s, 1),
    }
    with open(os.path.join(args.out_dir, "fashion_mnist_cnn.json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")

    size_kb = os.path.getsize(onnx_path) / 1024
    with open(os.path.join(args.out_dir, "README.md"), "w") as f:
        f.write(README % dict(acc=100 * acc, n=len(xte), size_kb=size_kb, epochs=args.epochs,
                              seed=args.seed, torch=torch.__version__, secs=train_s))
    print("test accuracy %.2f %% (PyTorch, %d images); wrote %s (%.0f KB) in %.0f s"
          % (100 * acc, len(xte), onnx_path, size_kb, train_s))


README = """# Bundled models

## fashion_mnist_cnn.onnx

tfmq's default model for the demo (`make demo`) and the quick tests: a small CNN trained on
Fashion-MNIST (MIT licence; Debian package `dataset-fashion-mnist`).

| | |
|---|---|
| input | `input` float32 [batch, 1, 28, 28], grey pixel / 255 (0 = black background) |
| output | `logits` float32 [batch, 10]: raw scores, class id = row index of `fashion_mnist_labels.txt` |
| architecture | 3 x (Conv 3x3 pad 1, BatchNorm, ReLU), MaxPool 2 after the first two (16, 32, 64 channels), global average pool, Linear 64 -> 10 |
| format | ONNX opset 13, dynamic batch dimension named `batch`, BatchNorm folded into Conv by the exporter; %(size_kb).0f KB |
| test accuracy | **%(acc).2f %%** on the %(n)d test images, measured by PyTorch %(torch)s after training |
| training | %(epochs)d epochs, SGD + Nesterov momentum, one-cycle LR, random horizontal flips, seed %(seed)d, one CPU thread: %(secs).0f s |

`fashion_mnist_labels.txt` holds the 10 class names (T-shirt/top ... Ankle boot), one per line.
`fashion_mnist_cnn.json` holds the measured accuracy in machine-readable form (the demo prints it
beside tfmq's own accuracy).

To re-train (deterministic for a given machine and torch build; writes all four files here):

    /usr/bin/python3 scripts/train_fashion_mnist.py

This needs Debian's `python3-torch`, `python3-onnx` and `dataset-fashion-mnist` (all installed by
`scripts/setup.sh`).
"""

if __name__ == "__main__":
    sys.exit(main())
