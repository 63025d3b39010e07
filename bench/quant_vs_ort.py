#!/usr/bin/env python3
"""quant_vs_ort.py: tfmq INT8 quantization fidelity next to ONNX Runtime's quantize_static.

One command (from the repository root, with the project venv):

    .venv/bin/python bench/quant_vs_ort.py [--out /tmp/tfmq-quant-bench] [--md bench/QUANT_RESULTS.md]

It builds libtfmq.a (cmake, Release, tests off) and bench/quant_eval.c, then for each shared model
that both tools can quantize:
  - preprocesses the calibration/evaluation inputs (one .npy per sample) -- the SAME set is used
    for calibration and evaluation, as the shared README's reference numbers are;
  - runs the FP32 model with ONNX Runtime (the reference for every column);
  - runs bench/quant_eval (tfmq's reference executor): FP32, FP16 and INT8 with each calibration
    method (minmax, entropy, percentile, mse), each also with bias correction ("+bc"),
    writing report JSON, engine and QDQ export;
  - quantizes with ONNX Runtime quantize_static (QDQ, per-channel, QInt8 weights and activations,
    ActivationSymmetric/WeightSymmetric, MinMax/Entropy/Percentile) and runs it with ONNX Runtime;
  - prints top-1 agreement with FP32 and the output SQNR (dB) over all outputs, side by side.
For MobileNetV2 it also checks INT8 top-1 agreement >= 0.95 and tfmq's fallback with tolerance
"top1=1.0" (layers kept in float, from the report JSON's fallback_layers). Last, the image
models' INT8 QDQ models of both tools are scored on 288 held-out views of the photos
(bench/quant_views.py; "in tfmq" columns need the CLI at build/tfmq).

Needs: numpy, onnx, onnxruntime (1.30), pillow (the project venv, scripts/requirements.txt), cmake,
a C11 compiler and the libraries libtfmq.a links (read from the CMake build).
"""
import argparse
import concurrent.futures as cf
import contextlib
import datetime
import glob
import io
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import threading
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared")
TFMQ_BASE_METHODS = ["minmax", "entropy", "percentile", "mse"]
# "+bc": the same method with bias correction (tfmq_quantize_options.bias_correction)
TFMQ_METHODS = TFMQ_BASE_METHODS + [m + "+bc" for m in TFMQ_BASE_METHODS]
ORT_METHODS = ["MinMax", "Entropy", "Percentile"]
LOCK = threading.Lock()
# QUANT_RESULTS.md: everything from this line on is hand-written and kept across runs
NOTES_MARK = "<!-- hand-written notes below: kept by quant_vs_ort.py when it rewrites this file -->"


def log(msg):
    with LOCK:
        print(msg, flush=True)


# ----------------------------------------------------------------------------- inputs

def resize_bilinear(img, out_h, out_w):
    """Bilinear resize of an HxWxC array with half-pixel centres (no antialiasing), in numpy."""
    in_h, in_w = img.shape[:2]

    def coords(n_out, n_in):
        src = (np.arange(n_out, dtype=np.float64) + 0.5) * (n_in / n_out) - 0.5
        src = np.clip(src, 0, n_in - 1)
        i0 = np.floor(src).astype(np.int64)
        i1 = np.minimum(i0 + 1, n_in - 1)
        return i0, i1, (src - i0).astype(np.float32)

    y0, y1, fy = coords(out_h, in_h)
    x0, x1, fx = coords(out_w, in_w)
    img = img.astype(np.float32)
    top = img[y0][:, x0] * (1 - fx)[None, :, None] + img[y0][:, x1] * fx[None, :, None]
    bot = img[y1][:, x0] * (1 - fx)[None, :, None] + img[y1][:, x1] * fx[None, :, None]
    return top * (1 - fy)[:, None, None] + bot * fy[:, None, None]


def photo_paths():
    exts = (".bmp", ".jpg", ".jpeg", ".png")
    d = os.path.join(SHARED, "data", "images")
    return sorted(p for p in glob.glob(os.path.join(d, "*")) if p.lower().endswith(exts))


def load_rgb(path):
    from PIL import Image  # decoding only
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.float32)


def photos(size, norm):
    """The 24 photos: RGB, bilinear resize to size x size, `norm` applied to HWC pixels 0..255,
    NCHW float32 with batch 1."""
    out = []
    for p in photo_paths():
        x = norm(resize_bilinear(load_rgb(p), size, size))
        out.append((os.path.splitext(os.path.basename(p))[0],
                    np.ascontiguousarray(x.transpose(2, 0, 1)[None], dtype=np.float32)))
    return out


def random_normal(shape, n, seed=0):
    rng = np.random.default_rng(seed)
    return [("rand%02d" % i, rng.standard_normal(shape).astype(np.float32)) for i in range(n)]


IMAGENET_NORM = lambda x: (x - 127.5) / 127.5  # noqa: E731
CIFAR_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
CIFAR_STD = np.array([0.229, 0.224, 0.225], np.float32)
CIFAR_NORM = lambda x: (x / 255.0 - CIFAR_MEAN) / CIFAR_STD  # noqa: E731

# name, model path (relative to shared/models), inputs, data description, classifier?
MODELS = [
    ("mobilenet_v2_1.0_224", "mobilenet_v2_1.0_224/model.onnx",
     lambda: photos(224, IMAGENET_NORM), "24 photos, 224x224, (p-127.5)/127.5", True),
    ("mobilenet_v1_0.25_128", "mobilenet_v1_0.25_128/model.onnx",
     lambda: photos(128, IMAGENET_NORM), "24 photos, 128x128, (p-127.5)/127.5", True),
    ("resnet20_cifar10", "resnet20_cifar10/model.onnx",
     lambda: photos(32, CIFAR_NORM), "24 photos, 32x32, /255 then mean/std (no CIFAR data here)",
     True),
    ("resnet32_cifar10", "resnet32_cifar10/model.onnx",
     lambda: photos(32, CIFAR_NORM), "24 photos, 32x32, /255 then mean/std (no CIFAR data here)",
     True),
    ("resnet8_cifar10", "resnet8_cifar10/model.onnx",
     lambda: photos(32, lambda x: x), "24 photos, 32x32, raw pixels 0..255", True),
    ("vww96_mobilenet", "vww96_mobilenet/model.onnx",
     lambda: photos(96, lambda x: x / 255.0), "24 photos, 96x96, RGB/255", True),
    ("kws_dscnn", "kws_dscnn/model_dequant.onnx",
     lambda: random_normal((1, 1, 49, 10), 24, seed=1),
     "24 random N(0,1) inputs, seed 1 (no MFCC data here)", True),
    ("ad01_autoencoder", "ad01_autoencoder/model.onnx",
     lambda: random_normal((1, 640), 24, seed=2),
     "24 random N(0,1) inputs, seed 2 (no log-mel data here)", False),
]
SKIPPED = [("silero_vad", "stateful audio model (If + LSTM, carried state): skipped")]


# ----------------------------------------------------------------------------- metrics

def metrics(ref, got, classifier):
    """ref, got: lists (per sample) of lists (per output) of arrays."""
    r = np.concatenate([np.asarray(o, np.float64).ravel() for s in ref for o in s])
    g = np.concatenate([np.asarray(o, np.float64).ravel() for s in got for o in s])
    noise = np.sum((r - g) ** 2)
    sqnr = float("inf") if noise == 0 else 10 * np.log10(np.sum(r ** 2) / noise)
    top1 = None
    if classifier:
        top1 = float(np.mean([np.argmax(a[0]) == np.argmax(b[0]) for a, b in zip(ref, got)]))
    return {"top1": top1, "sqnr_db": float(sqnr)}


# ----------------------------------------------------------------------------- ONNX Runtime

def ort_session(path):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def ort_run(path, samples):
    s = ort_session(path)
    name = s.get_inputs()[0].name
    return [s.run(None, {name: x}) for _, x in samples]


def ort_quantize(model_path, out_path, samples, method):
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat,
                                          QuantType, quantize_static)
    import onnxruntime as ort
    name = ort_session(model_path).get_inputs()[0].name

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter([{name: x} for _, x in samples])

        def get_next(self):
            return next(self.it, None)

    ort.set_default_logger_severity(3)
    logging.getLogger().setLevel(logging.ERROR)  # "consider pre-processing" warnings
    with contextlib.redirect_stdout(io.StringIO()):  # the calibrators print their progress
        quantize_static(model_path, out_path, Reader(), quant_format=QuantFormat.QDQ,
                        per_channel=True, weight_type=QuantType.QInt8,
                        activation_type=QuantType.QInt8,
                        calibrate_method=getattr(CalibrationMethod, method),
                        extra_options={"ActivationSymmetric": True, "WeightSymmetric": True})


# ----------------------------------------------------------------------------- tfmq driver

def build(build_dir, exe):
    """Build libtfmq.a (Release, warnings not fatal: a benchmark must not stop on a warning in
    code it does not measure) and the driver. Returns a note for the results file."""
    note = "libtfmq.a built from the working tree"
    # CUDA off: the benchmark runs the reference executor, and a CUDA build would need the
    # CUDA runtime (and C++) libraries on quant_eval's link line
    subprocess.run(["cmake", "-S", ROOT, "-B", build_dir, "-DTFMQ_BUILD_TESTS=OFF",
                    "-DTFMQ_WERROR=OFF", "-DTFMQ_CUDA=OFF", "-DCMAKE_BUILD_TYPE=Release"],
                   check=True,
                   stdout=subprocess.DEVNULL)
    p = subprocess.run(["cmake", "--build", build_dir, "-j2", "--target", "tfmq_static"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lib = os.path.join(build_dir, "libtfmq.a")
    if p.returncode != 0:
        if not os.path.exists(lib):
            sys.exit("build failed:\n" + p.stderr[-3000:])
        err = [ln for ln in p.stderr.splitlines() if "error" in ln][:1]
        note = "**library build failed (%s); an earlier libtfmq.a was used**" % (
            err[0].strip() if err else "see cmake")
        log("WARNING: " + note)
    subprocess.run(["cc", "-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", "-I",
                    os.path.join(ROOT, "include"), os.path.join(ROOT, "bench", "quant_eval.c"),
                    lib] + link_libs(build_dir) + ["-o", exe], check=True)
    return note


def link_libs(build_dir):
    """The libraries libtfmq.a needs, as CMake links them into the CLI (everything after
    libtfmq.a on its link line); -lprotobuf-c -lm when that line is not there."""
    try:
        with open(os.path.join(build_dir, "CMakeFiles", "tfmq_cli.dir", "link.txt")) as f:
            toks = f.read().split()
        return [t for t in toks[toks.index("libtfmq.a") + 1:]
                if t.startswith("-l") or t.endswith((".so", ".a")) or ".so." in t]
    except (OSError, ValueError):
        return ["-lprotobuf-c", "-lm"]


def run_driver(exe, model, in_dir, out_dir, configs):
    t0 = time.time()
    p = subprocess.run([exe, model, in_dir, out_dir] + configs, capture_output=True, text=True)
    if p.stderr.strip():
        log(p.stderr.rstrip())
    return time.time() - t0


def load_tfmq(out_dir, cfg, stems):
    d = os.path.join(out_dir, cfg.replace(":", "_").replace("=", "_"))
    info = {}
    try:
        with open(os.path.join(d, "driver.json")) as f:
            info["driver"] = json.load(f)
    except (OSError, ValueError):
        return None, {"driver": {"status": "no driver.json"}}
    try:
        with open(os.path.join(d, "report.json")) as f:
            info["report"] = json.load(f)
    except (OSError, ValueError):
        pass
    if info["driver"]["status"] != "ok":
        return None, info
    outs = []
    for s in stems:
        files = sorted(glob.glob(os.path.join(d, "out", s + ".o*.npy")))
        outs.append([np.load(f) for f in files])
    return outs, info


# ----------------------------------------------------------------------------- main

def fmt(v, kind):
    if v is None:
        return "n/a"
    if kind == "top1":
        return "%.3f" % v
    return "inf" if v == float("inf") else "%.1f" % v


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--out", default="/tmp/tfmq-quant-bench", help="work folder")
    ap.add_argument("--build", default="/tmp/build-bench", help="tfmq build folder")
    ap.add_argument("--md", default=os.path.join(ROOT, "bench", "QUANT_RESULTS.md"),
                    help="results file to write ('' for none)")
    ap.add_argument("--models", default="", help="comma-separated subset of model names")
    ap.add_argument("--methods", default="",
                    help="comma-separated subset of tfmq INT8 methods (%s)" % ",".join(TFMQ_METHODS))
    ap.add_argument("--jobs", type=int, default=2, help="parallel tfmq driver processes")
    args = ap.parse_args()
    if args.methods:
        bad = [m for m in args.methods.split(",") if m not in TFMQ_METHODS]
        if bad:
            sys.exit("unknown method(s): " + ",".join(bad))
        TFMQ_METHODS[:] = args.methods.split(",")

    t_start = time.time()
    os.makedirs(args.out, exist_ok=True)
    exe = os.path.join(args.out, "quant_eval")
    log("building libtfmq.a and bench/quant_eval.c ...")
    build_note = build(args.build, exe)

    chosen = [m for m in MODELS if not args.models or m[0] in args.models.split(",")]
    data = {}
    for name, rel, gen, desc, cls in chosen:
        samples = gen()
        in_dir = os.path.join(args.out, name, "inputs")
        shutil.rmtree(in_dir, ignore_errors=True)
        os.makedirs(in_dir)
        for stem, x in samples:
            np.save(os.path.join(in_dir, stem + ".npy"), x)
        data[name] = samples

    # tfmq jobs: one driver process per (model, config); biggest first; the MobileNetV2
    # tolerance run last (it uses the best per-method result).
    jobs = []
    for name, rel, gen, desc, cls in chosen:
        for cfg in ["int8:%s" % m for m in TFMQ_METHODS] + ["fp16", "fp32"]:
            jobs.append((name, rel, cfg))
    weight = {"mobilenet_v2_1.0_224": 100, "mobilenet_v1_0.25_128": 10, "resnet32_cifar10": 6,
              "resnet20_cifar10": 4}
    jobs.sort(key=lambda j: -(weight.get(j[0], 1) * (1 if j[2].startswith("int8") else 0.3)))
    pool = cf.ThreadPoolExecutor(max_workers=args.jobs)
    futs = {}
    for name, rel, cfg in jobs:
        futs[(name, cfg)] = pool.submit(run_driver, exe, os.path.join(SHARED, "models", rel),
                                        os.path.join(args.out, name, "inputs"),
                                        os.path.join(args.out, name, "tfmq"), [cfg])

    # ONNX Runtime (in this thread, beside the drivers)
    results = {}
    for name, rel, gen, desc, cls in chosen:
        samples = data[name]
        model = os.path.join(SHARED, "models", rel)
        ref = ort_run(model, samples)
        res = {"desc": desc, "classifier": cls, "ref": ref, "ort": {}}
        for m in ORT_METHODS:
            qpath = os.path.join(args.out, name, "ort_%s.onnx" % m.lower())
            t0 = time.time()
            try:
                ort_quantize(model, qpath, samples, m)
                res["ort"][m] = metrics(ref, ort_run(qpath, samples), cls)
            except Exception as e:  # noqa: BLE001 - report, do not stop
                res["ort"][m] = {"error": "%s: %s" % (type(e).__name__, str(e)[:200])}
            log("  ORT %-22s %-10s %6.1f s  %s" % (name, m, time.time() - t0, res["ort"][m]))
        results[name] = res

    # the MobileNetV2 tolerance run: on the method with the best SQNR among those that do not
    # already reach top-1 agreement 1.0 (so the fallback has work to do); else the best method.
    mv2 = "mobilenet_v2_1.0_224"
    tol_cfg = None
    if mv2 in data:
        cand = []
        # among the methods without bias correction (as before "+bc" existed), where run
        tol_methods = [m for m in TFMQ_METHODS if m in TFMQ_BASE_METHODS] or TFMQ_METHODS
        for m in tol_methods:
            futs[(mv2, "int8:" + m)].result()
            outs, _ = load_tfmq(os.path.join(args.out, mv2, "tfmq"), "int8:" + m,
                                [s for s, _ in data[mv2]])
            if outs is not None:
                mm = metrics(results[mv2]["ref"], outs, True)
                cand.append((mm["top1"] < 1.0, mm["sqnr_db"], m))
        if cand:
            tol_cfg = "int8:%s:top1=1.0" % max(cand)[2]
            mv2_rel = [m for m in chosen if m[0] == mv2][0][1]
            futs[(mv2, tol_cfg)] = pool.submit(
                run_driver, exe, os.path.join(SHARED, "models", mv2_rel),
                os.path.join(args.out, mv2, "inputs"), os.path.join(args.out, mv2, "tfmq"),
                [tol_cfg])
    pool.shutdown(wait=True)

    for name, rel, gen, desc, cls in chosen:
        res = results[name]
        res["tfmq"] = {}
        stems = [s for s, _ in data[name]]
        cfgs = ["int8:%s" % m for m in TFMQ_METHODS] + ["fp16", "fp32"]
        if name == mv2 and tol_cfg:
            cfgs.append(tol_cfg)
        for cfg in cfgs:
            outs, info = load_tfmq(os.path.join(args.out, name, "tfmq"), cfg, stems)
            if outs is None:
                r = {"error": info["driver"].get("error") or info["driver"]["status"]}
            else:
                r = metrics(res["ref"], outs, cls)
            r["info"] = info
            res["tfmq"][cfg] = r
        # tfmq's QDQ export run by ONNX Runtime: separates tfmq's quantization decisions
        # (ranges, where Q/DQ go) from its executor
        res["tfmq_export_ort"] = {}
        for m in TFMQ_METHODS:
            qdq = os.path.join(args.out, name, "tfmq", "int8_" + m, "model_qdq.onnx")
            try:
                res["tfmq_export_ort"][m] = metrics(res["ref"], ort_run(qdq, data[name]), cls)
            except Exception as e:  # noqa: BLE001 - report, do not stop
                res["tfmq_export_ort"][m] = {"error": "%s: %s" % (type(e).__name__,
                                                                   str(e)[:200])}

    # the same INT8 models on 288 held-out views of the photos (bench/quant_views.py)
    import quant_views as QV
    tfmq_cli = os.path.join(ROOT, "build", "tfmq")
    views = {}
    for name, *_ in chosen:
        if name in QV.SIZES:
            t0 = time.time()
            views[name] = QV.evaluate(args.out, name, tfmq_cli)
            log("  views %-22s %6.1f s  best %s" % (name, time.time() - t0, views[name][2]))
    text = report(results, chosen, tol_cfg, build_note, time.time() - t_start)
    if views:
        text += "\n" + "\n".join(QV.report_md(views)) + "\n"
        if not os.path.exists(tfmq_cli):
            text += "\n(`in tfmq` needs the tfmq CLI at build/tfmq: `make build`.)\n"

    print(text)
    if args.md:
        notes = ""
        try:
            with open(args.md) as f:
                old = f.read()
            if NOTES_MARK in old:
                notes = old[old.index(NOTES_MARK):]
        except OSError:
            pass
        with open(args.md, "w") as f:
            f.write(text + "\n" + (notes or NOTES_MARK + "\n"))


def cpu_model():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def git_rev():
    p = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                       text=True)
    dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    return p.stdout.strip() + (" + uncommitted changes" if dirty else "")


def best_of(d, keys):
    """Best (top1, sqnr) entry among d[k] for k in keys: by top1, then SQNR."""
    best = None
    for k in keys:
        r = d.get(k, {})
        if "sqnr_db" not in r:
            continue
        key = (r["top1"] if r["top1"] is not None else 0, r["sqnr_db"])
        if best is None or key > best[0]:
            best = (key, k, r)
    return best


def report(results, chosen, tol_cfg, build_note, elapsed):
    import onnxruntime
    L = []
    L.append("# tfmq INT8 quantization vs ONNX Runtime quantize_static\n")
    L.append("Generated by `bench/quant_vs_ort.py` on %s (%s, %d cores visible; %.0f s for the "
             "whole run).\n" % (datetime.date.today().isoformat(), cpu_model(), os.cpu_count(),
                                elapsed))
    L.append("Build: %s (git %s).\n" % (build_note, git_rev()))
    L.append("Command (repository root):\n\n```\n.venv/bin/python bench/quant_vs_ort.py\n```\n")
    L.append("What is compared, per model: top-1 agreement with the FP32 model (argmax of the "
             "first output, same model run by ONNX Runtime %s FP32) and output SQNR in dB "
             "(10 log10 sum(ref^2) / sum((ref - q)^2) over all outputs of all samples). "
             "**The evaluation set is the calibration set** (as in the shared README's reference "
             "numbers). tfmq: `tfmq_quantize` (per-channel symmetric int8 weights, per-tensor "
             "symmetric int8 activations, int32 bias, QDQ graph; percentile 99.999), run by "
             "tfmq's reference executor through `bench/quant_eval.c`. ORT: `quantize_static`, "
             "QDQ, per_channel=True, QInt8 weights and activations, ActivationSymmetric and "
             "WeightSymmetric, its default Entropy/Percentile settings (percentile 99.999), "
             "run by ONNX Runtime (CPU, 1 thread). `fp32` is tfmq's own FP32 run against ORT's "
             "(a sanity check of the executor).\n" % onnxruntime.__version__)
    L.append("Data: " + "; ".join("%s: %s" % (r[0], r[3]) for r in chosen) + ". Skipped: " +
             "; ".join("%s: %s" % s for s in SKIPPED) + ".\n")
    cols = ["tfmq " + m for m in TFMQ_METHODS] + ["ORT " + m for m in ORT_METHODS] + \
        ["tfmq fp16", "tfmq fp32"]
    for kind, title in (("top1", "Top-1 agreement with FP32"), ("sqnr_db", "Output SQNR (dB)")):
        L.append("\n## %s\n" % title)
        L.append("| model | " + " | ".join(cols) + " |")
        L.append("|---" * (len(cols) + 1) + "|")
        for name, *_ in chosen:
            res = results[name]
            cells = []
            for c in cols:
                tool, m = c.split(" ")
                r = res["tfmq"].get("int8:" + m if m in TFMQ_METHODS else m) if tool == "tfmq" \
                    else res["ort"].get(m)
                if r is None or "error" in r:
                    cells.append("fail")
                else:
                    cells.append(fmt(r[kind], kind))
            L.append("| %s | %s |" % (name, " | ".join(cells)))

    L.append("\n## tfmq's INT8 QDQ export run by ONNX Runtime (top-1 / SQNR dB)\n")
    L.append("The same tfmq-quantized models, exported with `tfmq_model_export_onnx` and run by "
             "ONNX Runtime instead of tfmq's executor: where this differs from the tables above, "
             "the executor (integer kernels, rounding) is the cause; where it matches, the "
             "quantization decisions are.\n")
    L.append("| model | " + " | ".join("tfmq %s via ORT" % m for m in TFMQ_METHODS) + " |")
    L.append("|---" * (len(TFMQ_METHODS) + 1) + "|")
    for name, *_ in chosen:
        cells = []
        for m in TFMQ_METHODS:
            r = results[name].get("tfmq_export_ort", {}).get(m, {})
            cells.append("fail: " + r["error"] if "error" in r else
                         "%s / %s" % (fmt(r.get("top1"), "top1"), fmt(r.get("sqnr_db"), "s")))
        L.append("| %s | %s |" % (name, " | ".join(cells)))

    bc = [m for m in TFMQ_BASE_METHODS if m in TFMQ_METHODS and m + "+bc" in TFMQ_METHODS]
    if bc:
        L.append("\n## Bias correction: change from each method to method+bc (top-1 / SQNR dB)\n")
        L.append("`+bc`: `tfmq_quantize_options.bias_correction` (`--bias-correction`): each "
                 "quantized Conv/Gemm's bias less the mean per-channel output error its int8 "
                 "weights cause on the calibration data.\n")
        L.append("| model | " + " | ".join(bc) + " |")
        L.append("|---" * (len(bc) + 1) + "|")
        for name, *_ in chosen:
            cells = []
            for m in bc:
                a = results[name]["tfmq"].get("int8:" + m, {})
                b = results[name]["tfmq"].get("int8:" + m + "+bc", {})
                if "sqnr_db" not in a or "sqnr_db" not in b:
                    cells.append("fail")
                    continue
                t1 = ("%+.3f" % (b["top1"] - a["top1"])) if a["top1"] is not None else "n/a"
                cells.append("%s / %+.1f" % (t1, b["sqnr_db"] - a["sqnr_db"]))
            L.append("| %s | %s |" % (name, " | ".join(cells)))

    L.append("\n## Reading: tfmq's best INT8 method vs ORT's best\n")
    L.append("Target: tfmq's best has at least ORT's best top-1 agreement and a higher output "
             "SQNR. Best = highest top-1, then highest SQNR.\n")
    L.append("| model | tfmq best | top-1 | SQNR | ORT best | top-1 | SQNR | met? | gap |")
    L.append("|---|---|---|---|---|---|---|---|---|")
    for name, *_ in chosen:
        res = results[name]
        tb = best_of(res["tfmq"], ["int8:" + m for m in TFMQ_METHODS])
        ob = best_of(res["ort"], ORT_METHODS)
        if not tb or not ob:
            L.append("| %s | %s | | | %s | | | no data | |" % (
                name, tb[1] if tb else "fail", ob[1] if ob else "fail"))
            continue
        t, o = tb[2], ob[2]
        t1_ok = t["top1"] is None or t["top1"] >= o["top1"] - 1e-9
        sq_ok = t["sqnr_db"] > o["sqnr_db"]
        gap = []
        if not t1_ok:
            gap.append("top-1 %+.3f" % (t["top1"] - o["top1"]))
        if not sq_ok:
            gap.append("SQNR %+.1f dB" % (t["sqnr_db"] - o["sqnr_db"]))
        L.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            name, tb[1].split(":")[1], fmt(t["top1"], "top1"), fmt(t["sqnr_db"], "s"), ob[1],
            fmt(o["top1"], "top1"), fmt(o["sqnr_db"], "s"), "yes" if t1_ok and sq_ok else "no",
            ", ".join(gap) if gap else "SQNR %+.1f dB" % (t["sqnr_db"] - o["sqnr_db"])))

    mv2 = "mobilenet_v2_1.0_224"
    if mv2 in results:
        res = results[mv2]
        L.append("\n## MobileNetV2: INT8 top-1 agreement >= 0.95, and tolerance top1=1.0\n")
        ok = [m for m in TFMQ_METHODS
              if "top1" in res["tfmq"]["int8:" + m] and res["tfmq"]["int8:" + m]["top1"] >= 0.95]
        L.append("- tfmq methods reaching top-1 agreement >= 0.95 on the 24 photos: %s." %
                 (", ".join(ok) if ok else "**none**"))
        if tol_cfg:
            r = res["tfmq"].get(tol_cfg, {})
            rep = r.get("info", {}).get("report", {})
            fb = rep.get("fallback_layers", [])
            L.append("- `%s` (tolerance \"top1=1.0\" on the method with the best SQNR among "
                     "those below top-1 1.0, without bias correction, so that the fallback has work "
                     "to do): top-1 "
                     "agreement %s, "
                     "output SQNR %s dB (vs ORT FP32); the report's own fidelity: top-1 %s, "
                     "SQNR %s dB; %d layer(s) kept in float by the fallback:" % (
                         tol_cfg, fmt(r.get("top1"), "top1"), fmt(r.get("sqnr_db"), "s"),
                         rep.get("fidelity", {}).get("top1_agreement"),
                         rep.get("fidelity", {}).get("output_sqnr_db"), len(fb)))
            for f in fb:
                L.append("  - `%s`: %s" % (f.get("name"), f.get("reason")) if isinstance(f, dict)
                         else "  - `%s`" % f)
            if "error" in r:
                L.append("  - error: %s" % r["error"])

    L.append("\n## tfmq engine and export per run\n")
    L.append("| model | config | quantize s | run s | engine saved+reloaded | reloaded engine "
             "same output | QDQ export | report top-1 / SQNR (vs tfmq FP32) |")
    L.append("|---|---|---|---|---|---|---|---|")
    for name, *_ in chosen:
        for cfg, r in results[name]["tfmq"].items():
            d = r.get("info", {}).get("driver", {})
            rep = r.get("info", {}).get("report", {}).get("fidelity", {})
            yn = {1: "yes", 0: "**no**", -1: "-"}
            L.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
                name, cfg, d.get("quantize_s", ""), d.get("run_s", ""),
                yn.get(d.get("engine_ok"), "?") + (" " + d["engine_error"]
                                                   if d.get("engine_error") else ""),
                yn.get(d.get("engine_same_output"), "?"),
                yn.get(d.get("export_ok"), "?") + (" " + d["export_error"]
                                                   if d.get("export_error") else ""),
                "%s / %s" % (rep.get("top1_agreement", "-"), rep.get("output_sqnr_db", "-"))
                if rep else (r.get("error", "-"))))
    return "\n".join(L) + "\n"


if __name__ == "__main__":
    sys.exit(main())
