#!/usr/bin/python3
"""Fashion-MNIST helpers for the demo and the training script (numpy only; no torch).

    fashion_mnist_data.py images OUT_DIR [--count N]
        writes the first N test images as 8-bit grey PNG files OUT_DIR/test_XXXX.png and their
        true class names in OUT_DIR/truth.tsv (file <TAB> class name)
    fashion_mnist_data.py batches OUT_DIR [--batch B]
        writes the 10,000 test images as OUT_DIR/test_batch_XX.npy, float32 [B,1,28,28] = pixel/255
        (the bundled model's input), and their labels as OUT_DIR/test_labels.npy
    fashion_mnist_data.py accuracy OUT_DIR LOGITS.npy...
        prints the accuracy of the argmax of the concatenated logits against test_labels.npy
"""
import argparse
import gzip
import os
import struct
import sys
import zlib

import numpy as np

DATA_DIR = "/usr/share/datasets/fashion-mnist"
LABELS = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
          "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def read_idx(path):
    """Read an unsigned-byte IDX file (optionally gzipped) into a numpy array."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != 0x08:
        raise ValueError("%s: not an unsigned-byte IDX file" % path)
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(dims)):
        raise ValueError("%s: size mismatch" % path)
    return arr.reshape(dims)


def load_split(split, data_dir=DATA_DIR):
    """(images uint8 [N,28,28], labels uint8 [N]) of 'train' or 'test'."""
    prefix = "train" if split == "train" else "t10k"
    x = read_idx(os.path.join(data_dir, prefix + "-images-idx3-ubyte.gz"))
    y = read_idx(os.path.join(data_dir, prefix + "-labels-idx1-ubyte.gz"))
    return x, y


def write_png_gray(path, img):
    """Minimal PNG writer: 8-bit greyscale, one zlib stream, filter 0 on every row."""
    img = np.ascontiguousarray(img, dtype=np.uint8)
    h, w = img.shape

    def chunk(tag, data):
        body = tag + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xffffffff)

    raw = b"".join(b"\x00" + img[r].tobytes() for r in range(h))
    png = (b"\x89PNG\r\n\x1a\n"
           + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw, 9))
           + chunk(b"IEND", b""))
    with open(path, "wb") as f:
        f.write(png)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("images")
    p.add_argument("out_dir")
    p.add_argument("--count", type=int, default=8)
    p = sub.add_parser("batches")
    p.add_argument("out_dir")
    p.add_argument("--batch", type=int, default=1000)
    p = sub.add_parser("accuracy")
    p.add_argument("out_dir")
    p.add_argument("logits", nargs="+")
    args = ap.parse_args()

    if args.cmd == "images":
        x, y = load_split("test")
        os.makedirs(args.out_dir, exist_ok=True)
        with open(os.path.join(args.out_dir, "truth.tsv"), "w") as f:
            for i in range(args.count):
                name = "test_%04d.png" % i
                write_png_gray(os.path.join(args.out_dir, name), x[i])
                f.write("%s\t%s\n" % (name, LABELS[y[i]]))
    elif args.cmd == "batches":
        x, y = load_split("test")
        os.makedirs(args.out_dir, exist_ok=True)
        for k, i in enumerate(range(0, len(x), args.batch)):
            xb = (x[i:i + args.batch].astype(np.float32) / 255.0)[:, None]
            np.save(os.path.join(args.out_dir, "test_batch_%02d.npy" % k), xb)
        np.save(os.path.join(args.out_dir, "test_labels.npy"), y.astype(np.int64))
    elif args.cmd == "accuracy":
        y = np.load(os.path.join(args.out_dir, "test_labels.npy"))
        logits = np.concatenate([np.load(p) for p in args.logits])
        if logits.shape != (len(y), len(LABELS)):
            print("accuracy: logits have shape %s, expected %s" % (logits.shape, (len(y), 10)))
            return 1
        print("%.2f" % (100.0 * float(np.mean(logits.argmax(1) == y))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
