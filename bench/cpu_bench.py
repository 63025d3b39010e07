#!/usr/bin/env python3
"""tfmq's CPU backend against ONNX Runtime: latency on the same models, inputs and thread counts.

    make bench-cpu [BENCH_ARGS="--quick"]
    .venv/bin/python bench/cpu_bench.py [--tfmq build/tfmq] [--models LIST] [--batches 1,8]
        [--threads 1,2] [--precisions fp32,bf16,int8] [--min-time 1.0] [--reps 3] [--quick]

Models (names for --models):
  resnet50             torchvision ResNet-50 (random weights)        calib: photos, --preprocess torch
  mobilenet_v2         torchvision MobileNetV2 (random weights)      calib: photos, --preprocess torch
  shared_mobilenet_v2  ../shared/models/mobilenet_v2_1.0_224        calib: photos, --preprocess tf
  shared_resnet20      ../shared/models/resnet20_cifar10 (CIFAR-10) calib: photos at 32x32, torch
  transformer          nn.TransformerEncoder, 4 layers, d 256, [B,16,256]   calib: random normal .npy
The torchvision models and the encoder are tests/models/fixtures.py's (its build(), same seeds and
weights), exported again here by Debian's /usr/bin/python3 with a dynamic batch dimension; the
shared MobileNetV2 (fixed batch 1) gets a dynamic-batch copy (input/output dim 0 symbolic, its one
Reshape [1,1001] -> [-1,1001]), checked against ONNX Runtime on the original at prepare time.

Precisions: fp32 (tfmq bench on the FP32 model) and bf16 (tfmq bench --precisions bf16, quantized
in memory) are compared with ORT on the FP32 model; int8 is an engine from `tfmq quantize
--precision int8` (percentile, the calibration data above), timed by tfmq bench, and ORT runs the
QDQ model `tfmq export` writes from that engine. ORT: intra_op_num_threads = T, inter 1,
sequential, ORT_ENABLE_ALL, CPUExecutionProvider; random normal inputs (seed 0) of the same shape;
2 warm-ups, then runs until >= 10 and --min-time s (at most 200), median: tfmq bench's protocol.
For each (model, batch, threads) every measurement (ORT fp32, tfmq fp32, tfmq bf16, ORT int8,
tfmq int8) runs back to back, and the whole round --reps times; a row is the median of the rounds'
medians. Two guards keep a run of slow kernels bounded (both say so in the row's note, never
silently): a measurement whose first round took longer than --long-s seconds is not repeated, and
one whose estimated run time (a smaller batch's median scaled by the batch) exceeds --max-run-s
is not timed ("too slow").

Exports, engines and QDQ models are cached in .cache/bench-cpu/ (keyed by the model file's
SHA-256, the quantize options, `tfmq --version` and the tfmq binary's SHA-256); results go to .cache/bench-cpu/out/
(cpu_bench.json and cpu_bench.md, ready for bench/RESULTS.md). The last line printed is
    cpu-bench: resnet50 b1 t2 fp32 X.XXx int8 X.XXx bf16 X.XXx vs ort-fp32; int8 X.XXx vs ort-int8
(ORT ms / tfmq ms: > 1 means tfmq is faster; n/a where not measured). A failed step prints its
command and stderr and marks its rows "error"; the exit status is then 1.

Internal mode, run by /usr/bin/python3 (PyTorch): cpu_bench.py --export-torch DIR.
"""
import argparse
import datetime
import hashlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.path.join(REPO, ".cache", "bench-cpu")
TORCH_PY = "/usr/bin/python3"
EXPORT_VERSION = "1"          # bump when the export below changes
TORCH_MODELS = {"resnet50": "resnet50", "mobilenet_v2": "mobilenet_v2",
                "transformer": "transformer_encoder"}   # our name -> fixtures.py name
ALL_MODELS = ["resnet50", "mobilenet_v2", "shared_mobilenet_v2", "shared_resnet20", "transformer"]
ALL_PRECISIONS = ["fp32", "bf16", "int8"]
MAX_RUNS = 200                # tfmq bench's cap, used for ORT too
CALIB_BATCH = 8               # 24 photos = 3 batches (a last partial batch is dropped)
EVAL_SAMPLES = 8              # the quantize fidelity report (kept in the JSON as a sanity check)
INT8_ACT = "u8"               # --int8-activations


# ============================================================================ torch export mode

def export_torch(out_dir):
    """Run by Debian's python3: export fixtures.py's models with a dynamic batch dimension."""
    sys.path.insert(0, os.path.join(REPO, "tests", "models"))
    import fixtures
    import torch
    import onnx
    torch.set_num_threads(1)
    os.makedirs(out_dir, exist_ok=True)
    for ours, theirs in TORCH_MODELS.items():
        path = os.path.join(out_dir, ours + ".onnx")
        if os.path.exists(path):
            continue
        model, example = fixtures.build(theirs)
        tmp = "%s.tmp%d" % (path, os.getpid())
        # Not under torch.no_grad(), as fixtures.export: the encoder's fused fast path has no export.
        torch.onnx.export(model, example, tmp, opset_version=fixtures.OPSET, input_names=["input"],
                          output_names=["output"], do_constant_folding=True,
                          dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
        onnx.checker.check_model(tmp)
        os.replace(tmp, path)
        print("cpu-bench: exported %s (%.1f MB)" % (os.path.relpath(path, REPO),
                                                     os.path.getsize(path) / 1e6))
    return 0


# ============================================================================ helpers

DISPLAY = {}                  # the pinned tfmq copy -> the path it was copied from


def show_cmd(cmd):
    return " ".join(DISPLAY.get(c, c) for c in cmd)


class StepError(Exception):
    """A failed step: what ran and what it said."""


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def sha256_file(path, h=None):
    h = h or hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h


def short_hash(*parts):
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode() if isinstance(p, str) else p)
        h.update(b"\0")
    return h.hexdigest()[:16]


def run_cmd(cmd, what, timeout=None):
    """Run a command; StepError with the command and its stderr when it fails."""
    t0 = time.time()
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           errors="replace", timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise StepError("%s failed: %s\n  $ %s" % (what, e, show_cmd(cmd)))
    if p.returncode != 0:
        err = (p.stderr.strip() or p.stdout.strip() or "(no output)")
        raise StepError("%s failed (exit %d)\n  $ %s\n%s" % (
            what, p.returncode, show_cmd(cmd), "\n".join("  | " + l for l in err.splitlines()[-20:])))
    return p, time.time() - t0


def atomic_write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = "%s.tmp%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def fmt_ms(v):
    if v is None:
        return "-"
    return "%.3f" % v if v < 100 else "%.1f" % v


def fmt_ratio(v, digits=False):
    """X.XXx; in tables, three significant digits below 0.1 (the reference kernels)."""
    if v is None:
        return "n/a"
    return "%.3gx" % v if digits and v < 0.1 else "%.2fx" % v


# ============================================================================ machine facts

def machine_info(tfmq):
    info = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
    try:
        out = subprocess.run(["lscpu"], stdout=subprocess.PIPE, text=True).stdout
        m = re.search(r"^Model name:\s*(.+)$", out, re.M)
        info["cpu"] = m.group(1).strip() if m else "unknown"
        m = re.search(r"^CPU\(s\):\s*(\d+)", out, re.M)
        info["cpus"] = int(m.group(1)) if m else os.cpu_count()
        m = re.search(r"^Flags:\s*(.+)$", out, re.M)
        flags = set(m.group(1).split()) if m else set()
    except OSError:
        info["cpu"], info["cpus"], flags = "unknown", os.cpu_count(), set()
    if not flags and os.path.exists("/proc/cpuinfo"):
        m = re.search(r"^flags\s*:\s*(.+)$", open("/proc/cpuinfo").read(), re.M)
        flags = set(m.group(1).split()) if m else set()
    info["flags"] = {f: f in flags for f in ("avx2", "avx512f", "avx512_vnni", "avx512_bf16",
                                             "amx_bf16", "amx_int8")}
    try:
        info["load_avg_start"] = list(os.getloadavg())
    except OSError:
        pass
    p = subprocess.run([tfmq, "--version"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, errors="replace")
    info["tfmq_version"] = p.stdout.strip()
    git = subprocess.run(["git", "-C", REPO, "rev-parse", "--short=12", "HEAD"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    commit = git.stdout.strip() or "unknown"
    dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
    info["tfmq_commit"] = commit + ("+dirty" if dirty.strip() else "")
    import numpy
    import onnxruntime
    info["onnxruntime"] = onnxruntime.__version__
    info["numpy"] = numpy.__version__
    info["python"] = platform.python_version()
    return info


# ============================================================================ models

class Model:
    def __init__(self, name, desc):
        self.name = name
        self.desc = desc
        self.fp32 = None          # path of the FP32 ONNX model (dynamic batch)
        self.calib = []           # tfmq quantize --calib/--preprocess arguments
        self.engine = None        # INT8 engine
        self.qdq = None           # its QDQ export
        self.report = None        # quantize fidelity summary
        self.error = None         # preparing the FP32 model failed: every row errors
        self.int8_error = None    # preparing INT8 failed: int8 rows error


def photos_dir(shared):
    d = os.path.join(shared, "data", "images")
    if not os.path.isdir(d):
        raise StepError("no photos: %s is missing (calibration data for the ImageNet models)" % d)
    return d


def prepare_torch(models, shared):
    """Export the PyTorch models (cached by fixtures.py, this export's version and torch's)."""
    h = sha256_file(os.path.join(REPO, "tests", "models", "fixtures.py"))
    h.update(EXPORT_VERSION.encode())
    try:
        vers = subprocess.run([TORCH_PY, "-c", "import importlib.metadata as m; print(*(m.version(p)"
                               " for p in ('torch', 'torchvision', 'onnx')))"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        h.update(vers.stdout.encode())
    except OSError as e:
        raise StepError("%s: %s (Debian python3-torch is needed for the PyTorch models)"
                        % (TORCH_PY, e))
    d = os.path.join(CACHE, "torch", h.hexdigest()[:16])
    want = [os.path.join(d, n + ".onnx") for n in models]
    if not all(os.path.exists(p) for p in want):
        log("cpu-bench: exporting %s with %s (PyTorch, once)" % (", ".join(models), TORCH_PY))
        p, _ = run_cmd([TORCH_PY, os.path.abspath(__file__), "--export-torch", d], "PyTorch export")
        if p.stdout.strip():
            log(p.stdout.strip())
    for n, p in zip(models, want):
        check_dynamic_batch(p, p)
    return dict(zip(models, want))


def check_dynamic_batch(path, reference, batch=3):
    """ORT on `path` at batch `batch` must give, sample by sample, what ORT on `reference` gives at
    batch 1 (the reference may have a fixed batch of 1). Checked once: a stamp file records it."""
    stamp = os.path.join(CACHE, "checks", "batch-%s.ok" % short_hash(
        sha256_file(path).hexdigest(), sha256_file(reference).hexdigest(), str(batch)))
    if os.path.exists(stamp):
        return
    import numpy as np
    s = ort_session(path, 1)
    r = ort_session(reference, 1) if reference != path else s
    rng = np.random.default_rng(1)
    inp = s.get_inputs()
    if len(inp) != 1:
        raise StepError("%s: %d inputs; this bench feeds one" % (path, len(inp)))
    shape = [batch] + [d for d in inp[0].shape[1:]]
    if not all(isinstance(d, int) and d > 0 for d in shape):
        raise StepError("%s: input shape %s has symbolic dimensions other than the batch"
                        % (path, inp[0].shape))
    x = rng.standard_normal(shape).astype(np.float32)
    got = s.run(None, {inp[0].name: x})[0]
    for k in range(batch):
        want = r.run(None, {r.get_inputs()[0].name: x[k:k + 1]})[0]
        err = float(np.linalg.norm(got[k:k + 1] - want) / max(np.linalg.norm(want), 1e-30))
        if got.shape[0] != batch or not err <= 1e-4:
            raise StepError("%s: batch %d output differs from batch 1 (sample %d, rel L2 %.3g, "
                            "shape %s)" % (path, batch, k, err, list(got.shape)))
    atomic_write(stamp, "%s: batch %d = batch 1 of %s\n" % (path, batch, reference))


def dynamic_copy_of_shared_mobilenet(src):
    """A dynamic-batch copy of the shared MobileNetV2 (fixed [1,3,224,224], Reshape to [1,1001])."""
    import onnx
    from onnx import numpy_helper
    key = sha256_file(src).hexdigest()[:16]
    dst = os.path.join(CACHE, "models", "shared_mobilenet_v2-%s.onnx" % key)
    if not os.path.exists(dst):
        m = onnx.load(src)
        for v in list(m.graph.input) + list(m.graph.output):
            d = v.type.tensor_type.shape.dim[0]
            d.ClearField("dim_value")
            d.dim_param = "N"
        del m.graph.value_info[:]
        inits = {t.name: t for t in m.graph.initializer}
        changed = 0
        for n in m.graph.node:
            if n.op_type == "Reshape" and n.input[1] in inits:
                a = numpy_helper.to_array(inits[n.input[1]])
                if a.ndim == 1 and a.size >= 1 and a[0] == 1:
                    b = a.copy()
                    b[0] = -1
                    inits[n.input[1]].CopyFrom(numpy_helper.from_array(b.astype(a.dtype),
                                                                       n.input[1]))
                    changed += 1
        if changed != 1:
            raise StepError("%s: expected one Reshape to [1, ...] to make the batch dynamic, "
                            "found %d" % (src, changed))
        onnx.checker.check_model(m)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        tmp = dst + ".tmp%d" % os.getpid()
        onnx.save(m, tmp)
        os.replace(tmp, dst)
    check_dynamic_batch(dst, src)
    return dst


def transformer_calib():
    import numpy as np
    path = os.path.join(CACHE, "calib", "transformer_normal_32x16x256_seed1.npy")
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        a = np.random.default_rng(1).standard_normal((32, 16, 256)).astype(np.float32)
        tmp = path + ".tmp%d.npy" % os.getpid()
        np.save(tmp, a)
        os.replace(tmp, path)
    return path


def prepare_models(names, shared):
    models = {}
    descs = {
        "resnet50": "torchvision ResNet-50 (random weights), [B,3,224,224]",
        "mobilenet_v2": "torchvision MobileNetV2 (random weights), [B,3,224,224]",
        "shared_mobilenet_v2": "shared MobileNetV2 1.0 224 (Coral), [B,3,224,224]",
        "shared_resnet20": "shared ResNet-20 CIFAR-10, [B,3,32,32]",
        "transformer": "TransformerEncoder 4 layers d256 h4 ff1024, [B,16,256]",
    }
    for n in names:
        models[n] = Model(n, descs[n])
    torch_names = [n for n in names if n in TORCH_MODELS]
    if torch_names:
        try:
            paths = prepare_torch(torch_names, shared)
            for n in torch_names:
                models[n].fp32 = paths[n]
        except StepError as e:
            log("cpu-bench: ERROR %s" % e)
            for n in torch_names:
                models[n].error = str(e)
    for n in names:
        m = models[n]
        try:
            if n == "shared_mobilenet_v2":
                src = os.path.join(shared, "models", "mobilenet_v2_1.0_224", "model.onnx")
                if not os.path.exists(src):
                    raise StepError("missing model file %s" % src)
                m.fp32 = dynamic_copy_of_shared_mobilenet(src)
            elif n == "shared_resnet20":
                src = os.path.join(shared, "models", "resnet20_cifar10", "model.onnx")
                if not os.path.exists(src):
                    raise StepError("missing model file %s" % src)
                check_dynamic_batch(src, src)
                m.fp32 = src
        except StepError as e:
            log("cpu-bench: ERROR %s: %s" % (n, e))
            m.error = str(e)
        except Exception as e:  # onnx or numpy trouble: still a reported error
            log("cpu-bench: ERROR %s: %s: %s" % (n, type(e).__name__, e))
            m.error = "%s: %s" % (type(e).__name__, e)
        try:   # calibration data: only INT8 needs it
            if n in ("resnet50", "mobilenet_v2"):
                m.calib = ["--calib", photos_dir(shared), "--preprocess", "torch"]
            elif n == "shared_mobilenet_v2":
                m.calib = ["--calib", photos_dir(shared), "--preprocess", "tf"]
            elif n == "shared_resnet20":
                # No CIFAR images in ../shared: the photos, resized to the model's 32x32 and
                # normalised as it was trained (/255, ImageNet mean and std: the torch preset).
                m.calib = ["--calib", photos_dir(shared), "--preprocess", "torch"]
            elif n == "transformer":
                m.calib = ["--calib", transformer_calib()]
        except StepError as e:
            m.int8_error = "calibration data: %s" % e
    return models


def prune_int8_cache(name, key):
    """Remove the cached INT8 files of `name` made under other keys (other tfmq builds or
    options): each rebuild of tfmq made new ones, ~100 MB per ResNet-50, and none went away."""
    d = os.path.join(CACHE, "int8")
    keep = "%s-%s." % (name, key)
    for f in os.listdir(d):
        if f.startswith(name + "-") and not f.startswith(keep) and \
                len(f.split(".", 1)[0]) == len(name) + 1 + len(key):
            try:
                os.remove(os.path.join(d, f))
            except OSError:
                pass


def prepare_int8(m, tfmq, tfmq_version):
    """tfmq quantize -> engine, tfmq export -> QDQ ONNX; cached by model hash and options."""
    if m.error:
        m.int8_error = m.error
        return
    if m.int8_error:
        log("cpu-bench: ERROR %s: %s" % (m.name, m.int8_error))
        return
    args = ["--precision", "int8"] + m.calib + ["--batch", str(CALIB_BATCH),
                                                "--eval-samples", str(EVAL_SAMPLES)]
    if INT8_ACT == "u8":   # uint8 activations: ONNX Runtime's fast U8S8 path on x86
        args.append("--asymmetric")
    calib_id = []
    for a in m.calib:   # hash calibration files by content, directories by their listing
        if os.path.isfile(a):
            calib_id.append(sha256_file(a).hexdigest())
        elif os.path.isdir(a):
            calib_id.append("\n".join("%s %d" % (f, os.path.getsize(os.path.join(a, f)))
                                      for f in sorted(os.listdir(a))))
        else:
            calib_id.append(a)
    # the binary's own hash too: `tfmq --version` does not change when the quantizer does
    key = short_hash(sha256_file(m.fp32).hexdigest(), " ".join(args), *calib_id, tfmq_version,
                     sha256_file(tfmq).hexdigest())
    base = os.path.join(CACHE, "int8", "%s-%s" % (m.name, key))
    engine, qdq, report = base + ".tfmq", base + ".qdq.onnx", base + ".report.json"
    try:
        if not (os.path.exists(engine) and os.path.exists(report)):
            os.makedirs(os.path.dirname(base), exist_ok=True)
            log("cpu-bench: quantizing %s to int8 (once; cached in %s)"
                % (m.name, os.path.relpath(os.path.dirname(base), REPO)))
            cmd = [tfmq, "quantize", m.fp32] + args + ["-o", engine, "--report", report, "--force"]
            _, secs = run_cmd(cmd, "tfmq quantize (%s)" % m.name)
            log("cpu-bench:   %.0f s" % secs)
        if not os.path.exists(qdq):
            run_cmd([tfmq, "export", engine, "-o", qdq, "--force"], "tfmq export (%s)" % m.name)
        m.engine, m.qdq = engine, qdq
        prune_int8_cache(m.name, key)
        try:
            r = json.load(open(report))
            fid, cal = r.get("fidelity") or {}, r.get("calibration") or {}
            m.report = {"calib_samples": cal.get("samples"), "eval_samples": fid.get("samples"),
                        "top1_agreement": fid.get("top1_agreement"),
                        "output_sqnr_db": fid.get("output_sqnr_db")}
        except (OSError, ValueError, AttributeError):
            m.report = None
    except StepError as e:
        log("cpu-bench: ERROR %s" % e)
        m.int8_error = str(e)


# ============================================================================ timing

def ort_session(path, threads):
    import onnxruntime as ort
    o = ort.SessionOptions()
    o.intra_op_num_threads = threads
    o.inter_op_num_threads = 1
    o.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    o.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    o.log_severity_level = 3
    return ort.InferenceSession(path, o, providers=["CPUExecutionProvider"])


def ort_feeds(sess, batch):
    import numpy as np
    rng = np.random.default_rng(0)
    feeds = {}
    for i in sess.get_inputs():
        if i.type != "tensor(float)":
            raise StepError("input %s has type %s: no random generator for it" % (i.name, i.type))
        d0 = i.shape[0]
        if isinstance(d0, int) and d0 > 0 and d0 != batch:
            raise StepError("input %s has a fixed batch of %d" % (i.name, d0))
        shape = [batch] + list(i.shape[1:])
        if not all(isinstance(d, int) and d > 0 for d in shape):
            raise StepError("input %s has symbolic dimensions %s" % (i.name, i.shape))
        feeds[i.name] = rng.standard_normal(shape).astype(np.float32)
    return feeds


def time_ort(sess, feeds, min_time):
    """tfmq bench's protocol: 2 warm-ups, then >= 10 runs and >= min_time s (at most 200)."""
    for _ in range(2):
        sess.run(None, feeds)
    times = []
    start = time.perf_counter()
    while len(times) < MAX_RUNS and (len(times) < 10 or time.perf_counter() - start < min_time):
        t0 = time.perf_counter()
        sess.run(None, feeds)
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times), len(times)


def time_tfmq(tfmq, model_path, precision, batch, threads, min_time, workdir, engine):
    js = os.path.join(workdir, "tfmq_bench.json")
    cmd = [tfmq, "bench", model_path, "--batch", str(batch), "--threads", str(threads),
           "--min-time", repr(min_time), "--fidelity-samples", "0", "--json", js, "--force"]
    if not engine:
        cmd[3:3] = ["--precisions", precision]
    p, _ = run_cmd(cmd, "tfmq bench")
    try:
        doc = json.load(open(js))
    except (OSError, ValueError) as e:
        raise StepError("tfmq bench wrote no readable JSON (%s)\n  $ %s" % (e, show_cmd(cmd)))
    for r in doc.get("rows", []):
        if r.get("precision") == precision and r.get("batch") == batch:
            if r.get("median_ms") is None:
                break
            return float(r["median_ms"]), int(r.get("repeats") or 0)
    raise StepError("tfmq bench has no %s row at batch %d (notes: %s; rows: %s)\n  $ %s\n%s" % (
        precision, batch, doc.get("notes") or "none",
        ", ".join("%s b%s" % (r.get("precision"), r.get("batch")) for r in doc.get("rows", [])),
        show_cmd(cmd), p.stdout.strip() + "\n" + p.stderr.strip()))


class Measure:
    """One measured thing of a (model, batch, threads) group, over the rounds."""

    def __init__(self, label, fn):
        self.label = label        # e.g. "ort fp32", "tfmq int8"
        self.fn = fn              # () -> (median ms, runs)
        self.medians, self.runs = [], []
        self.error = None
        self.note = ""
        self.done = False         # not to be repeated (error, too slow, long)

    def value(self):
        return statistics.median(self.medians) if self.medians else None


def run_group(m, batch, threads, precisions, args, tfmq, workdir, known):
    """All measurements of one (model, batch, threads), interleaved over args.reps rounds."""
    ms = {}
    need_ort_fp32 = True                      # the reference for every tfmq precision
    sessions = {}

    def ort_fn(kind, path):
        def f():
            if kind not in sessions:
                s = ort_session(path, threads)
                sessions[kind] = (s, ort_feeds(s, batch))
            s, feeds = sessions[kind]
            return time_ort(s, feeds, args.min_time)
        return f

    def tfmq_fn(prec):
        def f():
            if prec == "int8":
                return time_tfmq(tfmq, m.engine, "int8", batch, threads, args.min_time, workdir,
                                 True)
            return time_tfmq(tfmq, m.fp32, prec, batch, threads, args.min_time, workdir, False)
        return f

    order = []
    if need_ort_fp32:
        order.append(("ort fp32", ort_fn("fp32", m.fp32)))
    for p in precisions:
        if p == "int8":
            order.append(("ort int8", ort_fn("int8", m.qdq)))
        order.append(("tfmq " + p, tfmq_fn(p)))
    for label, fn in order:
        ms[label] = Measure(label, fn)
        if m.error:
            ms[label].error, ms[label].done = "model: " + m.error.splitlines()[0], True
        elif label.endswith("int8") and m.int8_error:
            ms[label].error, ms[label].done = "int8 prepare: " + m.int8_error.splitlines()[0], True

    # "too slow" guard: an estimate from a smaller batch of the same measurement
    for label, x in ms.items():
        if x.done:
            continue
        est = None
        for (mn, lab, b, t), v in known.items():
            if mn == m.name and lab == label and b < batch and (t == threads or est is None):
                est = v * batch / b
        if est is not None and est > args.max_run_s * 1e3:
            x.done = True
            x.note = "too slow: est. %.3g s/run > --max-run-s %g" % (est / 1e3, args.max_run_s)

    for rnd in range(args.reps):
        for label, x in ms.items():
            if x.done:
                continue
            log("cpu-bench:   %s b%d t%d round %d/%d: %s" % (m.name, batch, threads, rnd + 1,
                                                             args.reps, label))
            t0 = time.time()
            try:
                med, runs = x.fn()
                x.medians.append(med)
                x.runs.append(runs)
                known[(m.name, label, batch, threads)] = med
            except StepError as e:
                log("cpu-bench: ERROR %s b%d t%d %s: %s" % (m.name, batch, threads, label, e))
                x.error, x.done = str(e), True
            except Exception as e:   # ORT's own errors (bad model, ...)
                log("cpu-bench: ERROR %s b%d t%d %s: %s: %s" % (m.name, batch, threads, label,
                                                               type(e).__name__, e))
                x.error, x.done = "%s: %s" % (type(e).__name__, e), True
            wall = time.time() - t0
            if not x.done and rnd == 0 and args.reps > 1 and wall > args.long_s:
                x.done = True
                x.note = "1 round: took %.1f s > --long-s %g" % (wall, args.long_s)
    sessions.clear()
    return ms


def make_rows(m, batch, threads, precisions, ms):
    rows = []
    ort32 = ms["ort fp32"]
    for p in precisions:
        t = ms["tfmq " + p]
        ref = ms["ort int8"] if p == "int8" else ort32
        tv, rv, r32 = t.value(), ref.value(), ort32.value()
        errors = [("tfmq: " + t.error) if t.error else None,
                  ("ORT %s: %s" % ("int8" if p == "int8" else "fp32", ref.error))
                  if ref.error and ref.error != t.error else None]
        if t.error and t.error == ref.error:   # one cause (the model or its INT8 engine)
            errors = [t.error]
        errors = [e for e in errors if e]
        status = "error" if errors else ("ok" if tv is not None and rv is not None else "skipped")
        notes = [n for n in (t.note, ref.note and "ORT: " + ref.note) if n]
        rows.append({
            "model": m.name, "batch": batch, "threads": threads, "precision": p,
            "tfmq_ms": tv, "ort_precision": "int8 (QDQ)" if p == "int8" else "fp32", "ort_ms": rv,
            "ratio": (rv / tv) if (tv and rv) else None,
            "ort_fp32_ms": r32, "ratio_vs_ort_fp32": (r32 / tv) if (tv and r32) else None,
            "tfmq_round_medians_ms": t.medians, "ort_round_medians_ms": ref.medians,
            "tfmq_runs": t.runs, "ort_runs": ref.runs,
            "status": status, "error": "; ".join(errors) or None, "note": "; ".join(notes) or None,
        })
    return rows


# ============================================================================ output

HEADER = ["model", "batch", "threads", "precision", "tfmq ms", "ORT", "ORT ms", "ORT/tfmq",
          "ORT fp32/tfmq", "note"]


def short_error(text, width=130):
    """The first line of an error and the last line of the stderr it quotes."""
    lines = text.splitlines()
    said = [l.strip()[2:] for l in lines if l.strip().startswith("| ")]
    msg = lines[0] + (": " + said[-1] if said else "")
    msg = re.sub(r"/tmp/tfmq-cpu-bench-[^/\s]+/", "", msg.replace(REPO + "/", ""))
    msg = re.sub(r"(\.cache/bench-cpu/\w+/)[0-9a-f]{16}/", r"\1", msg)
    msg = msg.replace(": tfmq: ", ": ")
    return msg if len(msg) <= width else msg[:width - 3] + "..."


def row_cells(r):
    if r["status"] == "error":
        tail = ["error", "error", short_error(r["error"])]
    else:
        tail = [fmt_ratio(r["ratio"], True), fmt_ratio(r["ratio_vs_ort_fp32"], True),
                r["note"] or ""]
    return [r["model"], str(r["batch"]), str(r["threads"]), r["precision"],
            fmt_ms(r["tfmq_ms"]), r["ort_precision"], fmt_ms(r["ort_ms"])] + tail


def text_table(rows):
    cells = [HEADER] + [row_cells(r) for r in rows]
    w = [max(len(c[i]) for c in cells) for i in range(len(HEADER))]
    out = []
    for c in cells:
        out.append("  ".join(c[i].ljust(w[i]) if i in (0, 3, 5, 9) else c[i].rjust(w[i])
                             for i in range(len(HEADER))).rstrip())
    return "\n".join(out)


def md_doc(rows, info, models, args, argv, elapsed):
    f = info["flags"]
    lines = [
        "Measured %s on %s (%s CPUs; avx512_vnni %s, avx512_bf16 %s), tfmq %s (%s), "
        "ONNX Runtime %s; load average at start %s, at the end %s."
        % (info["date"], info["cpu"], info["cpus"], "yes" if f["avx512_vnni"] else "no",
           "yes" if f["avx512_bf16"] else "no", info["tfmq_commit"],
           info["tfmq_version"].splitlines()[-1] if info["tfmq_version"] else "?",
           info["onnxruntime"],
           " ".join("%.2f" % x for x in info.get("load_avg_start", [])) or "?",
           " ".join("%.2f" % x for x in info.get("load_avg_end", [])) or "?"),
        "Command: `make bench-cpu%s` (%.0f min): median of %d rounds of medians, >= 10 runs and "
        "%g s per measurement. Ratio = ORT ms / tfmq ms (> 1: tfmq faster); BF16 rows compare "
        "with ORT FP32 (ORT has no BF16 CPU path); INT8 rows with ORT running the QDQ model "
        "`tfmq export` wrote from the same engine."
        % ((" BENCH_ARGS='%s'" % " ".join(argv)) if argv else "", elapsed / 60, args.reps,
           args.min_time),
        "",
        "| " + " | ".join(HEADER) + " |",
        "|" + "|".join("---" if i in (0, 3, 5, 9) else "---:" for i in range(len(HEADER))) + "|",
    ]
    for r in rows:
        lines.append("| " + " | ".join(c.replace("|", "/") for c in row_cells(r)) + " |")
    q = [(n, m.report) for n, m in models.items() if m.report]
    if q:
        lines += ["", "INT8 engines (`tfmq quantize --precision int8`%s, percentile calibration; "
                  % (" --asymmetric: uint8 activations" if INT8_ACT == "u8" else
                     ": symmetric int8 activations") +
                      "fidelity against FP32 on the first calibration samples): " + "; ".join(
                          "%s top-1 %s, SQNR %s dB (%s calibration, %s eval samples)" % (
                              n, "-" if r["top1_agreement"] is None
                              else "%.1f %%" % (100 * r["top1_agreement"]),
                              "-" if r["output_sqnr_db"] is None else "%.1f" % r["output_sqnr_db"],
                              r["calib_samples"], r["eval_samples"]) for n, r in q) + "."]
    return "\n".join(lines) + "\n"


def summary_line(rows):
    def get(prec, key):
        for r in rows:
            if (r["model"], r["batch"], r["threads"], r["precision"]) == ("resnet50", 1, 2, prec):
                return r[key] if r["status"] == "ok" else None
        return None
    return ("cpu-bench: resnet50 b1 t2 fp32 %s int8 %s bf16 %s vs ort-fp32; int8 %s vs ort-int8"
            % (fmt_ratio(get("fp32", "ratio_vs_ort_fp32")), fmt_ratio(get("int8", "ratio_vs_ort_fp32")),
               fmt_ratio(get("bf16", "ratio_vs_ort_fp32")), fmt_ratio(get("int8", "ratio"))))


# ============================================================================ main

def int_list(s):
    try:
        v = [int(x) for x in s.split(",") if x]
    except ValueError:
        raise argparse.ArgumentTypeError("not a list of integers: %r" % s)
    if not v or any(x < 1 for x in v):
        raise argparse.ArgumentTypeError("want positive integers: %r" % s)
    return v


def name_list(allowed):
    def parse(s):
        v = [x for x in s.split(",") if x]
        bad = [x for x in v if x not in allowed]
        if bad or not v:
            raise argparse.ArgumentTypeError("unknown %s (choose from %s)"
                                             % (", ".join(bad) or "empty list", ",".join(allowed)))
        return v
    return parse


def main(argv):
    if "--export-torch" in argv:
        return export_torch(argv[argv.index("--export-torch") + 1])
    ap = argparse.ArgumentParser(description="tfmq vs ONNX Runtime CPU latency (make bench-cpu)")
    ap.add_argument("--tfmq", default=os.path.join(REPO, "build", "tfmq"))
    ap.add_argument("--shared", default=os.path.join(REPO, "..", "shared"))
    ap.add_argument("--models", type=name_list(ALL_MODELS), default=list(ALL_MODELS),
                    help="comma-separated, from " + ",".join(ALL_MODELS))
    ap.add_argument("--batches", type=int_list, default=[1, 8])
    ap.add_argument("--threads", type=int_list, default=[1, 2])
    ap.add_argument("--precisions", type=name_list(ALL_PRECISIONS), default=list(ALL_PRECISIONS))
    ap.add_argument("--min-time", type=float, default=1.0, help="seconds per measurement (1.0)")
    ap.add_argument("--reps", type=int, default=3, help="interleaved rounds (3)")
    ap.add_argument("--long-s", type=float, default=45.0,
                    help="a measurement whose first round took longer is not repeated (45)")
    ap.add_argument("--max-run-s", type=float, default=10.0,
                    help="skip a measurement whose estimated run time is longer (10)")
    ap.add_argument("--int8-activations", choices=["u8", "s8"], default="u8",
                    help="INT8 activation type of both engines: u8 (asymmetric, ONNX Runtime's "
                         "fast U8S8 path; default) or s8 (symmetric, tfmq's default)")
    ap.add_argument("--quick", action="store_true",
                    help="resnet50 only, batch 1, threads 1,2 (for development)")
    ap.add_argument("--out", default=os.path.join(CACHE, "out"),
                    help="folder for cpu_bench.json and cpu_bench.md (.cache/bench-cpu/out)")
    args = ap.parse_args(argv)
    global INT8_ACT
    INT8_ACT = args.int8_activations
    if args.quick:
        args.models, args.batches, args.threads = ["resnet50"], [1], [1, 2]
    if args.reps < 1 or args.min_time < 0:
        ap.error("--reps must be >= 1 and --min-time >= 0")
    try:
        import numpy  # noqa: F401
        import onnxruntime  # noqa: F401
        import onnx  # noqa: F401
    except ImportError as e:
        print("cpu-bench: %s: run with .venv/bin/python (made by scripts/setup.sh)" % e)
        return 2
    tfmq = os.path.abspath(args.tfmq)
    if not os.access(tfmq, os.X_OK):
        print("cpu-bench: %s is not an executable (make build)" % args.tfmq)
        return 2
    shared = os.path.abspath(args.shared)
    if any(n.startswith("shared_") for n in args.models) or \
            any(n in ("resnet50", "mobilenet_v2") for n in args.models):
        if not os.path.isdir(shared):
            log("cpu-bench: %s is absent: the shared models and the photos are errors" % shared)

    t_start = time.time()
    info = machine_info(tfmq)
    # Others may rebuild build/tfmq while this runs: time one binary, a private copy of it.
    workdir = tempfile.mkdtemp(prefix="tfmq-cpu-bench-")
    pinned = os.path.join(workdir, "tfmq")
    shutil.copy2(tfmq, pinned)
    info["tfmq_binary"] = {"path": os.path.relpath(tfmq, REPO),
                           "sha256": sha256_file(pinned).hexdigest()[:16],
                           "mtime": datetime.datetime.fromtimestamp(
                               os.path.getmtime(tfmq), datetime.timezone.utc).strftime(
                                   "%Y-%m-%d %H:%M:%S UTC")}
    DISPLAY[pinned] = tfmq
    tfmq = pinned
    try:
        return bench(args, argv, tfmq, shared, info, workdir, t_start)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def bench(args, argv, tfmq, shared, info, workdir, t_start):
    log("cpu-bench: %s, %s; tfmq %s; ONNX Runtime %s" % (
        info["cpu"], ", ".join("%s %s" % (k, "yes" if v else "no")
                               for k, v in info["flags"].items() if k.startswith("avx512_")),
        info["tfmq_commit"], info["onnxruntime"]))
    log("cpu-bench: models %s; batches %s; threads %s; precisions %s; >= 10 runs and %g s; "
        "%d rounds" % (",".join(args.models), args.batches, args.threads,
                       ",".join(args.precisions), args.min_time, args.reps))

    rows, known, models = [], {}, {}
    try:
        models = prepare_models(args.models, shared)
        if "int8" in args.precisions:
            for m in models.values():
                prepare_int8(m, tfmq, info["tfmq_version"])
        groups = [(n, b, t) for n in args.models for b in sorted(args.batches)
                  for t in args.threads]
        for k, (n, b, t) in enumerate(groups):
            log("cpu-bench: [%d/%d] %s batch %d threads %d (%.0f s so far)"
                % (k + 1, len(groups), n, b, t, time.time() - t_start))
            ms = run_group(models[n], b, t, args.precisions, args, tfmq, workdir, known)
            new = make_rows(models[n], b, t, args.precisions, ms)
            for r in new:
                log("cpu-bench:   -> " + "  ".join(row_cells(r)))
            rows += new
    except KeyboardInterrupt:
        log("cpu-bench: interrupted: writing the rows measured so far")
        rows.append({"model": "(interrupted)", "batch": 0, "threads": 0, "precision": "-",
                     "tfmq_ms": None, "ort_precision": "-", "ort_ms": None, "ratio": None,
                     "ort_fp32_ms": None, "ratio_vs_ort_fp32": None, "status": "error",
                     "error": "interrupted", "note": None})

    elapsed = time.time() - t_start
    try:
        info["load_avg_end"] = list(os.getloadavg())
    except OSError:
        pass
    doc = {"info": info, "argv": argv,
           "settings": {"models": args.models, "batches": args.batches, "threads": args.threads,
                        "precisions": args.precisions, "min_time_s": args.min_time,
                        "reps": args.reps, "long_s": args.long_s, "max_run_s": args.max_run_s,
                        "ort": "intra_op_num_threads=T, inter_op_num_threads=1, ORT_SEQUENTIAL, "
                               "ORT_ENABLE_ALL, CPUExecutionProvider"},
           "models": {n: {"desc": m.desc, "fp32": m.fp32 and os.path.relpath(m.fp32, REPO),
                          "calib": m.calib, "int8_engine": m.engine and os.path.relpath(m.engine, REPO),
                          "qdq": m.qdq and os.path.relpath(m.qdq, REPO), "int8_report": m.report}
                      for n, m in models.items()},
           "elapsed_s": round(elapsed, 1), "rows": rows}
    summary = summary_line(rows)
    doc["summary"] = summary
    out_json = os.path.join(args.out, "cpu_bench.json")
    out_md = os.path.join(args.out, "cpu_bench.md")
    atomic_write(out_json, json.dumps(doc, indent=1) + "\n")
    shown = []
    for a in argv:
        if shown and shown[-1] == "--tfmq":
            shown.pop()
        elif not a.startswith("--tfmq="):
            shown.append(a)
    md = md_doc(rows, info, models, args, shown, elapsed)
    atomic_write(out_md, md)

    n_err = sum(r["status"] == "error" for r in rows)
    print("cpu-bench: %s; tfmq %s; ONNX Runtime %s; %s; %.0f s" % (
        info["cpu"], info["tfmq_commit"], info["onnxruntime"],
        ", ".join("%s %s" % (k, "yes" if v else "no") for k, v in info["flags"].items()
                  if k in ("avx512_vnni", "avx512_bf16")), elapsed))
    print(text_table(rows))
    print("wrote %s and %s (markdown for bench/RESULTS.md)" % (os.path.relpath(out_json, REPO),
                                                               os.path.relpath(out_md, REPO)))
    if n_err:
        print("cpu-bench: %d of %d rows errored (their commands and messages are above)"
              % (n_err, len(rows)))
    print(summary, flush=True)
    return 1 if n_err else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
