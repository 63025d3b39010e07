#!/usr/bin/python3
"""Write the demo's data (numpy only): Fashion-MNIST as the bundled model takes it.

    make_demo_data.py data OUT_DIR [--calib N] [--images K]
        OUT_DIR/calib.npy    float32 [N,1,28,28] = pixel/255: the first N training images
                             (calibration data for int8; default N = 500)
        OUT_DIR/test_x.npy   float32 [10000,1,28,28]: all test images
        OUT_DIR/test_y.npy   int64 [10000]: their classes
        OUT_DIR/test_KKKK.png the first K test images as 8-bit grey PNG (default K = 3), with
                             their true class names in OUT_DIR/truth.tsv
    make_demo_data.py accuracy OUT_DIR LOGITS.npy
        prints the top-1 accuracy (percent, two decimals) of LOGITS [10000,10] against test_y.npy
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fashion_mnist_data import LABELS, load_split, write_png_gray  # noqa: E402


def write_data(out_dir, n_calib, n_images):
    os.makedirs(out_dir, exist_ok=True)
    xtr, _ = load_split("train")
    xte, yte = load_split("test")
    np.save(os.path.join(out_dir, "calib.npy"),
            (xtr[:n_calib].astype(np.float32) / 255.0)[:, None])
    np.save(os.path.join(out_dir, "test_x.npy"), (xte.astype(np.float32) / 255.0)[:, None])
    np.save(os.path.join(out_dir, "test_y.npy"), yte.astype(np.int64))
    with open(os.path.join(out_dir, "truth.tsv"), "w") as f:
        for i in range(n_images):
            name = "test_%04d.png" % i
            write_png_gray(os.path.join(out_dir, name), xte[i])
            f.write("%s\t%s\n" % (name, LABELS[yte[i]]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("data")
    p.add_argument("out_dir")
    p.add_argument("--calib", type=int, default=500)
    p.add_argument("--images", type=int, default=3)
    p = sub.add_parser("accuracy")
    p.add_argument("out_dir")
    p.add_argument("logits")
    args = ap.parse_args()
    if args.cmd == "data":
        write_data(args.out_dir, args.calib, args.images)
        return 0
    y = np.load(os.path.join(args.out_dir, "test_y.npy"))
    logits = np.load(args.logits)
    if logits.shape != (len(y), len(LABELS)):
        print("accuracy: logits have shape %s, expected %s" % (logits.shape, (len(y), 10)),
              file=sys.stderr)
        return 1
    print("%.2f" % (100.0 * float(np.mean(logits.argmax(1) == y))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
