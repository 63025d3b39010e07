#!/usr/bin/python3
"""Export the whole-model test fixtures made with PyTorch (run with Debian's /usr/bin/python3).

    /usr/bin/python3 tests/models/fixtures.py [--out DIR] [--force]

Writes into DIR (default .cache/fixtures/ in the repository), with fixed seeds and random weights:
    resnet50.onnx             torchvision ResNet-50 (weights=None), input [1,3,224,224]
    mobilenet_v2.onnx         torchvision MobileNetV2 (weights=None), input [1,3,224,224]
    transformer_encoder.onnx  nn.TransformerEncoder: 4 layers, d_model 256, 4 heads, FF 1024,
                              batch_first, input [1,16,256]
Each is in eval mode, ONNX opset 13, input "input", output "output". The files are made again only
when one is missing or this script (or the torch, torchvision or onnx version) changed: DIR/stamp holds that hash.
Prints one line per exported model, nothing when all is up to date.
"""
import argparse
import hashlib
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OPSET = 13
MODELS = ("resnet50", "mobilenet_v2", "transformer_encoder")


def build(name):
    import torch
    torch.manual_seed(0)
    if name == "resnet50":
        import torchvision
        return torchvision.models.resnet50(weights=None).eval(), torch.randn(1, 3, 224, 224)
    if name == "mobilenet_v2":
        import torchvision
        return torchvision.models.mobilenet_v2(weights=None).eval(), torch.randn(1, 3, 224, 224)
    if name == "transformer_encoder":
        layer = torch.nn.TransformerEncoderLayer(d_model=256, nhead=4, dim_feedforward=1024,
                                                 dropout=0.1, batch_first=True)
        model = torch.nn.TransformerEncoder(layer, num_layers=4, enable_nested_tensor=False)
        return model.eval(), torch.randn(1, 16, 256)
    raise ValueError(name)


def export(name, path):
    import torch
    model, example = build(name)
    tmp = "%s.tmp%d" % (path, os.getpid())
    # Not under torch.no_grad(): with grad off, nn.TransformerEncoderLayer takes its fused "fast
    # path" (aten::_transformer_encoder_layer_fwd), which has no ONNX export.
    torch.onnx.export(model, example, tmp, opset_version=OPSET, input_names=["input"],
                      output_names=["output"], do_constant_folding=True)
    import onnx
    onnx.checker.check_model(tmp)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(REPO, ".cache", "fixtures"))
    ap.add_argument("--force", action="store_true", help="export even when up to date")
    args = ap.parse_args()

    import importlib.metadata
    h = hashlib.sha256()
    with open(os.path.abspath(__file__), "rb") as f:
        h.update(f.read())
    for pkg in ("torch", "torchvision", "onnx"):   # without importing torch: that takes seconds
        h.update(("%s %s\n" % (pkg, importlib.metadata.version(pkg))).encode())
    want = h.hexdigest()

    os.makedirs(args.out, exist_ok=True)
    stamp = os.path.join(args.out, "stamp")
    paths = [os.path.join(args.out, n + ".onnx") for n in MODELS]
    have = open(stamp).read().strip() if os.path.exists(stamp) else ""
    if not args.force and have == want and all(os.path.exists(p) for p in paths):
        return 0
    if os.path.exists(stamp):
        os.remove(stamp)
    import torch
    torch.set_num_threads(1)
    for name, path in zip(MODELS, paths):
        export(name, path)
        print("fixtures: wrote %s (%.1f MB)" % (os.path.relpath(path), os.path.getsize(path) / 1e6))
    with open(stamp, "w") as f:
        f.write(want + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
