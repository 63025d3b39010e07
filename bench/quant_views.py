#!/usr/bin/env python3
"""quant_views.py: the INT8 models of a bench/quant_vs_ort.py run (calibrated on the 24 shared
photos), scored on 288 other views of those photos, to tell near-ties from real differences.

    .venv/bin/python bench/quant_vs_ort.py --out /tmp/q
    .venv/bin/python bench/quant_views.py --out /tmp/q [--models a,b] [--tfmq build/tfmq]

Views per photo: the whole photo and five 80 % crops (four corners, centre), each also mirrored
(12 views, 288 in all), resized and normalized as quant_vs_ort.py does for the model. Every
model is run by ONNX Runtime (CPU, 1 thread): FP32 (the reference), ORT's QDQ models
(ort_*.onnx) and tfmq's QDQ exports (tfmq/int8_*/model_qdq.onnx), so both tools' quantization
decisions run on one runtime; for models with a dynamic batch, tfmq's engines
(tfmq/int8_*/model.tfmq) also run in tfmq itself (`tfmq run`, one batch of 288). Prints top-1
agreement with FP32 and output SQNR (dB) over all views, and per model the best method of
each tool (highest top-1, then SQNR). Image models only (kws_dscnn and ad01 have no such data)."""
import argparse
import glob
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import quant_vs_ort as Q  # noqa: E402


def views(size, norm):
    out = []
    for p in Q.photo_paths():
        img = Q.load_rgb(p)
        h, w = img.shape[:2]
        ch, cw = int(h * 0.8), int(w * 0.8)
        crops = [img] + [img[y:y + ch, x:x + cw] for y, x in
                         [(0, 0), (0, w - cw), (h - ch, 0), (h - ch, w - cw),
                          ((h - ch) // 2, (w - cw) // 2)]]
        for c in crops:
            for f in (c, c[:, ::-1]):
                x = norm(Q.resize_bilinear(np.ascontiguousarray(f), size, size))
                out.append(np.ascontiguousarray(x.transpose(2, 0, 1)[None], dtype=np.float32))
    return out


SIZES = {"mobilenet_v2_1.0_224": (224, Q.IMAGENET_NORM),
         "mobilenet_v1_0.25_128": (128, Q.IMAGENET_NORM),
         "resnet20_cifar10": (32, Q.CIFAR_NORM), "resnet32_cifar10": (32, Q.CIFAR_NORM),
         "resnet8_cifar10": (32, lambda x: x), "vww96_mobilenet": (96, lambda x: x / 255.0)}


def score(ref, got):
    top1 = float(np.mean([a.argmax() == b.argmax() for a, b in zip(ref, got)]))
    sq = 10 * np.log10(sum((a.astype(np.float64) ** 2).sum() for a in ref) /
                       sum(((a.astype(np.float64) - b) ** 2).sum() for a, b in zip(ref, got)))
    return top1, float(sq)


def run_tfmq(tfmq, engine, xs, work):
    """tfmq's engine on all views as one batch; None when the model's batch is fixed."""
    import subprocess
    import tempfile
    with tempfile.TemporaryDirectory(dir=work) as d:
        x = os.path.join(d, "x.npy")
        np.save(x, np.concatenate(xs, axis=0))
        p = subprocess.run([tfmq, "run", engine, "--input", x, "-o", d], capture_output=True,
                           text=True)
        outs = sorted(f for f in os.listdir(d) if f != "x.npy")
        if p.returncode != 0 or not outs:
            return None
        y = np.load(os.path.join(d, outs[0]))
        return [r.ravel() for r in y.reshape(len(xs), -1)]


def run(path, xs):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.log_severity_level = 3
    s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    name = s.get_inputs()[0].name
    return [s.run(None, {name: x})[0].ravel() for x in xs]


def evaluate(out, model, tfmq=None):
    """Rows (name, top1, sqnr, tfmq executor (top1, sqnr) or None) of one model of a
    quant_vs_ort.py run in `out`, and the best of each tool {"tfmq"|"ORT": (top1, sqnr, name)}."""
    size, norm = SIZES[model]
    d = os.path.join(out, model)
    xs = views(size, norm)
    paths = sorted(glob.glob(os.path.join(d, "ort_*.onnx"))) + \
        sorted(glob.glob(os.path.join(d, "tfmq", "int8_*", "model_qdq.onnx")))
    if not paths:
        raise FileNotFoundError("no QDQ models under %s (run quant_vs_ort.py first)" % d)
    ref = run(os.path.join(Q.SHARED, "models", model, "model.onnx"), xs)
    rows, best = [], {}
    for p in paths:
        t1, sq = score(ref, run(p, xs))
        name = os.path.relpath(p, d)
        own = None
        engine = os.path.join(os.path.dirname(p), "model.tfmq")
        if name.startswith("tfmq") and tfmq and os.path.exists(engine) and os.path.exists(tfmq):
            got = run_tfmq(tfmq, engine, xs, out)
            own = score(ref, got) if got is not None else None
        rows.append((name, t1, sq, own))
        tool = "ORT" if name.startswith("ort_") else "tfmq"
        if tool not in best or (t1, sq) > best[tool][:2]:
            best[tool] = (t1, sq, name)
    return len(xs), rows, best


def met(best):
    return ("tfmq" in best and "ORT" in best and best["tfmq"][0] >= best["ORT"][0] and
            best["tfmq"][1] > best["ORT"][1])


def report_md(results):
    """The markdown section quant_vs_ort.py appends: results {model: evaluate(...)}."""
    L = ["\n## Held-out views: tfmq's best INT8 method vs ORT's best (288 views per model)\n",
         "The same INT8 models (calibrated on the 24 photos), evaluated on 288 other views of "
         "the photos: the whole photo and five 80 % crops (corners, centre), each also mirrored, "
         "resized and normalized per model as above (`bench/quant_views.py`). Both tools' QDQ "
         "models run in ONNX Runtime (one runtime: the quantization decisions are compared); "
         "\"in tfmq\": tfmq's engine run by tfmq (`tfmq run`, models with a dynamic batch "
         "only). Best = highest top-1, then highest SQNR. kws_dscnn and ad01_autoencoder have no "
         "such data.\n",
         "| model | tfmq best | top-1 | SQNR | in tfmq | ORT best | top-1 | SQNR | met? |",
         "|---|---|---|---|---|---|---|---|---|"]
    for model, (n, rows, best) in results.items():
        if "tfmq" not in best or "ORT" not in best:
            continue
        tb, ob = best["tfmq"], best["ORT"]
        own = [r[3] for r in rows if r[0] == tb[2]][0]
        L.append("| %s | %s | %.3f | %.2f | %s | %s | %.3f | %.2f | %s |" % (
            model, tb[2].split("/")[1][5:], tb[0], tb[1],
            "%.3f / %.2f" % own if own else "-", ob[2][:-5], ob[0], ob[1],
            "yes" if met(best) else "no"))
    return L


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--out", required=True, help="the --out folder of a quant_vs_ort.py run")
    ap.add_argument("--models", default=",".join(SIZES))
    ap.add_argument("--tfmq", default=os.path.join(Q.ROOT, "build", "tfmq"),
                    help="tfmq CLI for the engines (skipped when missing)")
    args = ap.parse_args()
    for model in args.models.split(","):
        if model not in SIZES:
            sys.exit("quant_views.py: %s: not one of %s" % (model, ",".join(SIZES)))
        try:
            n, rows, best = evaluate(args.out, model, args.tfmq)
        except FileNotFoundError as e:
            sys.exit("quant_views.py: %s" % e)
        print("%s: %d views" % (model, n))
        for name, t1, sq, own in rows:
            extra = "   in tfmq: top-1 %.3f  SQNR %.2f dB" % own if own else ""
            print("  %-40s top-1 %.3f  SQNR %.2f dB%s" % (name, t1, sq, extra))
        if len(best) == 2:
            print("  best: tfmq %s %.3f / %.2f dB; ORT %s %.3f / %.2f dB; tfmq >= ORT top-1 and "
                  "higher SQNR: %s" % (best["tfmq"][2], best["tfmq"][0], best["tfmq"][1],
                                       best["ORT"][2], best["ORT"][0], best["ORT"][1],
                                       "yes" if met(best) else "no"))


if __name__ == "__main__":
    main()
