#!/usr/bin/env python3
"""gpu_bench.py: tfmq's CUDA backend against PyTorch, in one run on one GPU.

    python3 bench/gpu_bench.py --tfmq-run BUILD/tfmq_gpu_run [--out DIR] [--quick]
                               [--compile fp16,bf16] [--models LIST] [--batches LIST]
                               [--precisions LIST]

Runs where PyTorch and torchvision see a GPU (the GPU machine's own python3). For each model it
  1. builds the network with fixed seeds and random weights (torchvision ResNet-50 and
     MobileNetV2, the 4-layer transformer encoder of tests/models/fixtures.py) and exports it to
     ONNX with a dynamic batch dimension;
  2. checks tfmq against PyTorch FP32 (TF32 off) on one batch of 8 random inputs: relative L2
     error of the outputs at every precision (limits: fp32 1e-4; tf32, fp16, bf16 1e-2; int8
     reported only: random weights, calibrated on 8 random normal batches by gpu_run.c), top-1
     agreement and SQNR;
  3. times, at the batches of PLAN below (ResNet-50: 1, 32, 256 at every precision; MobileNetV2
     and the transformer at fewer; --quick: ResNet-50 at 1 and 256), device time only
     (inputs already on the GPU, CUDA events, median of 5 measurements of N replays):
       torch eager, channels_last: fp32 (TF32 off), tf32, fp16, bf16
       torch CUDA graph of the same
       torch.compile(mode="reduce-overhead") for ResNet-50 at the precisions --compile names
       (e.g. --compile fp16,bf16; minutes of compiling each) and batches 1 and 256
       tfmq (bench/gpu_run.c: the session's kernels replayed as one CUDA graph) at each
       precision, int8 included (its "torch" columns are torch fp16's, the nearest PyTorch
       has), with a plan cache file (--plan-cache, default DIR/plan_cache.txt), as a
       deployment keeps one: the first session of a shape autotunes (INT8: the wide search,
       docs/CUDA_BACKEND.md) and records its choices, later ones load them.
Prints a table (img/s, ms, tfmq over the best PyTorch of the same precision) and, last, one
summary line per model. Writes DIR/gpu_bench.json and DIR/gpu_bench.md (default
.cache/gpu-bench/).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TFMQ_ENV = dict(os.environ)  # tfmq_gpu_run's environment (main sets the plan cache)
PRECS = ("fp32", "tf32", "fp16", "bf16", "int8")
# int8: reported, not limited (random weights, calibration on random normal batches)
LIMITS = {"fp32": 1e-4, "tf32": 1e-2, "fp16": 1e-2, "bf16": 1e-2, "int8": None}
TORCH_OF = {"int8": "fp16"}  # torch has no int8 row: int8 is compared with torch fp16
# What each model is checked and timed at (device time is short on a lent GPU): ResNet-50 at
# every precision and batch, the others where they say something new.
PLAN = {"resnet50": (PRECS, (1, 32, 256)),
        "mobilenet_v2": (("fp32", "fp16", "int8"), (1, 256)),
        "transformer": (("fp32", "tf32", "fp16", "bf16"), (1, 32))}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def build(name):
    import torch
    torch.manual_seed(0)
    if name == "resnet50":
        import torchvision
        return torchvision.models.resnet50(weights=None).eval(), (3, 224, 224)
    if name == "mobilenet_v2":
        import torchvision
        return torchvision.models.mobilenet_v2(weights=None).eval(), (3, 224, 224)
    if name == "transformer":
        layer = torch.nn.TransformerEncoderLayer(d_model=256, nhead=4, dim_feedforward=1024,
                                                 dropout=0.1, batch_first=True)
        model = torch.nn.TransformerEncoder(layer, num_layers=4, enable_nested_tensor=False)
        return model.eval(), (16, 256)
    raise ValueError(name)


def export(name, model, shape, path):
    import torch
    if os.path.exists(path):
        return
    x = torch.randn(2, *shape)  # not 1: torch.export specializes dimensions of size 1
    tmp = path + ".tmp"
    kw = dict(opset_version=13, input_names=["input"], output_names=["output"],
              dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
              do_constant_folding=True)
    try:  # the TorchScript exporter (deprecated in torch 2.9+, what tests/models uses)
        torch.onnx.export(model, x, tmp, dynamo=False, **kw)
    except Exception as e:  # noqa: BLE001 - fall back to the dynamo exporter
        log("gpu-bench: TorchScript export of %s failed (%s); trying dynamo=True" % (name, e))
        kw["opset_version"] = 18
        del kw["dynamic_axes"]
        torch.onnx.export(model, (x,), tmp, dynamo=True, external_data=False,
                          dynamic_shapes=({0: torch.export.Dim("batch", max=4096)},), **kw)
    os.replace(tmp, path)


def torch_dtype(prec):
    import torch
    return {"fp32": torch.float32, "tf32": torch.float32, "fp16": torch.float16,
            "bf16": torch.bfloat16}[prec]


def set_tf32(on):
    import torch
    torch.backends.cuda.matmul.allow_tf32 = on
    torch.backends.cudnn.allow_tf32 = on


def time_fn(fn, iters):
    """Median over 5 measurements of `iters` calls, device time per call in ms."""
    import torch
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    ms = []
    for _ in range(5):
        e0.record()
        for _ in range(iters):
            fn()
        e1.record()
        e1.synchronize()
        ms.append(e0.elapsed_time(e1) / iters)
    return statistics.median(ms)


def iters_for(batch):
    return 50 if batch <= 1 else (20 if batch <= 32 else 6)


def torch_rows(name, model, shape, batch, prec, do_compile):
    import copy
    import torch
    set_tf32(prec == "tf32")
    m = copy.deepcopy(model).cuda().to(torch_dtype(prec))
    x = torch.randn(batch, *shape, device="cuda").to(torch_dtype(prec))
    if len(shape) == 3:
        m = m.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    out = {}
    with torch.inference_mode():
        out["eager"] = time_fn(lambda: m(x), iters_for(batch))
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            for _ in range(3):
                m(x)
        torch.cuda.current_stream().wait_stream(s)
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            m(x)
        out["graph"] = time_fn(g.replay, iters_for(batch))
        del g
        if do_compile and prec in ("fp16", "bf16"):
            t0 = time.time()
            cm = torch.compile(m, mode="reduce-overhead")
            for _ in range(3):
                cm(x)
            log("gpu-bench: torch.compile %s %s b%d: %.0f s to compile" %
                (name, prec, batch, time.time() - t0))
            out["compile"] = time_fn(lambda: cm(x), iters_for(batch))
    del m, x
    torch.cuda.empty_cache()
    return out


def run_tfmq(exe, model_path, prec, batch, inp=None, outp=None, iters=None):
    cmd = [exe, model_path, "--precision", prec, "--batch", str(batch),
           "--runs", "5", "--iters", str(iters or iters_for(batch))]
    if inp:
        cmd += ["--input", inp, "--output", outp, "--runs", "1", "--iters", "1"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=TFMQ_ENV)
    if r.returncode != 0:
        return None, (r.stderr.strip() or r.stdout.strip())[-600:]
    return json.loads(r.stdout.strip().splitlines()[-1]), None


def write_results(out, card, torch_version, checks, rows):
    """gpu_bench.json and gpu_bench.md in out (after every model: a cut run keeps its rows)."""
    with open(os.path.join(out, "gpu_bench.json"), "w") as f:
        json.dump(dict(card=card, torch=torch_version, checks=checks, rows=rows), f, indent=1)
    lines = ["card: %s; torch %s; device time per batch, median of 5 x N replays" %
             (card, torch_version), "",
             "| model | batch | prec | torch eager ms | torch graph ms | torch.compile ms | "
             "tfmq ms | tfmq img/s | tfmq / eager | tfmq / best torch |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        f = lambda v: ("%.3f" % v) if v else "-"
        lines.append("| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            r["model"], r["batch"], r["precision"], f(r["torch_eager_ms"]),
            f(r["torch_graph_ms"]), f(r["torch_compile_ms"]), f(r["tfmq_ms"]),
            ("%.0f" % (r["batch"] * 1000.0 / r["tfmq_ms"])) if r["tfmq_ms"] else "-",
            ("%.2fx" % r["vs_torch_eager"]) if r["vs_torch_eager"] else "-",
            ("%.2fx" % r["vs_best_torch"]) if r["vs_best_torch"] else "-"))
    lines += ["(int8 rows: the torch columns are torch fp16)", "",
              "| model | prec | rel L2 vs torch fp32 | SQNR dB | top-1 | ok |",
              "|---|---|---|---|---|---|"]
    for c in checks:
        lines.append("| %s | %s | %s | %s | %s | %s |" % (
            c["model"], c["precision"], ("%.2e" % c["rel_l2"]) if "rel_l2" in c else "-",
            ("%.1f" % c["sqnr_db"]) if "sqnr_db" in c else "-",
            ("%.3f" % c["top1"]) if "top1" in c else "-",
            ("ok" if c.get("limit") else "report") if c["ok"] else "FAIL"))
    md = "\n".join(lines) + "\n"
    with open(os.path.join(out, "gpu_bench.md"), "w") as f:
        f.write(md)
    return md


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tfmq-run", required=True, help="the tfmq_gpu_run binary (bench/gpu_run.c)")
    ap.add_argument("--out", default=os.path.join(REPO, ".cache", "gpu-bench"))
    ap.add_argument("--quick", action="store_true", help="ResNet-50 only, batch 1 and 256")
    ap.add_argument("--compile", default="",
                    help="precisions to time torch.compile(mode='reduce-overhead') at, for "
                         "ResNet-50 (e.g. fp16,bf16; minutes of compiling each)")
    ap.add_argument("--plan-cache", default=None,
                    help="tfmq's plan cache file (default DIR/plan_cache.txt; '' for none)")
    ap.add_argument("--models", default="resnet50,mobilenet_v2,transformer")
    ap.add_argument("--compile-batches", default="1,256",
                    help="batch sizes torch.compile is timed at (default 1,256)")
    ap.add_argument("--batches", default="", help="batch sizes (default: each model's PLAN)")
    ap.add_argument("--precisions", default="",
                    help="only these of each model's PLAN precisions (e.g. fp32)")
    args = ap.parse_args()

    import numpy as np
    import torch
    assert torch.cuda.is_available(), "gpu-bench: PyTorch sees no GPU"
    card = torch.cuda.get_device_name(0)
    os.makedirs(os.path.join(args.out, "models"), exist_ok=True)
    pc = os.path.join(args.out, "plan_cache.txt") if args.plan_cache is None else args.plan_cache
    TFMQ_ENV["TFMQ_CUDA_PLAN_CACHE"] = pc
    log("gpu-bench: tfmq plan cache: %s" % (pc or "none"))
    models = ["resnet50"] if args.quick else args.models.split(",")
    compile_precs = set(p for p in args.compile.split(",") if p)
    compile_batches = set(int(b) for b in args.compile_batches.split(",") if b)
    log("gpu-bench: %s, torch %s, cuDNN %s" % (card, torch.__version__,
                                                torch.backends.cudnn.version()))
    checks, rows = [], []
    for name in models:
        model, shape = build(name)
        path = os.path.join(args.out, "models", name + ".onnx")
        export(name, model, shape, path)
        # correctness against PyTorch FP32 (TF32 off) on one batch of 8
        torch.manual_seed(1)
        x = torch.randn(8, *shape)
        set_tf32(False)
        with torch.inference_mode():
            ref = model.cuda().float()(x.cuda()).float().cpu().numpy()
        model.cpu()
        xin = os.path.join(args.out, name + "_x.npy")
        np.save(xin, x.numpy())
        precs = [p for p in PLAN[name][0]
                 if not args.precisions or p in args.precisions.split(",")]
        batches = ([1, 256] if args.quick else
                   [int(b) for b in args.batches.split(",")] if args.batches else PLAN[name][1])
        for prec in precs:
            yout = os.path.join(args.out, "%s_%s_y.npy" % (name, prec))
            res, err = run_tfmq(args.tfmq_run, path, prec, 8, xin, yout)
            if err:
                checks.append(dict(model=name, precision=prec, ok=False, error=err))
                log("gpu-bench: CHECK %s %s FAILED: %s" % (name, prec, err))
                continue
            y = np.load(yout).astype(np.float64)
            rel = float(np.linalg.norm(y - ref) / max(np.linalg.norm(ref), 1e-30))
            sqnr = float(-20.0 * np.log10(rel)) if rel > 0 else float("inf")
            top1 = float(np.mean(np.argmax(y.reshape(8, -1), 1) == np.argmax(ref.reshape(8, -1), 1)))
            lim = LIMITS[prec]
            if prec == "fp16" and float(np.abs(ref).max()) < 6.1e-5:
                # random weights can shrink activations below FP16's normal range (torchvision
                # MobileNetV2: outputs ~1e-9): they underflow to 0 in any FP16 engine
                lim = None
                log("gpu-bench: %s: FP32 outputs at most %.1e, below FP16's range: fp16 check "
                    "reported only" % (name, float(np.abs(ref).max())))
            ok = bool(np.isfinite(rel) and (lim is None or rel <= lim))
            checks.append(dict(model=name, precision=prec, rel_l2=rel, sqnr_db=sqnr, top1=top1,
                               ok=ok, limit=lim, host_fallback=res["host_fallback"]))
            log("gpu-bench: check %-12s %-4s rel L2 %.2e (%s) SQNR %.1f dB top-1 %.3f "
                "fallback %d %s" %
                (name, prec, rel, ("limit %.0e" % lim) if lim else "report only", sqnr, top1,
                 res["host_fallback"], "ok" if ok else "FAIL"))
        # timing
        for batch in batches:
            torch_by_prec = {}
            for prec in precs:
                if prec in TORCH_OF:
                    tp = TORCH_OF[prec]
                    if tp not in torch_by_prec:  # e.g. --precisions int8 alone
                        torch_by_prec[tp] = torch_rows(name, model, shape, batch, tp, False)
                    tr = torch_by_prec[tp]
                else:
                    tr = torch_rows(name, model, shape, batch, prec,
                                    name == "resnet50" and prec in compile_precs and
                                    batch in compile_batches)
                    torch_by_prec[prec] = tr
                res, err = run_tfmq(args.tfmq_run, path, prec, batch)
                row = dict(model=name, batch=batch, precision=prec, card=card,
                           torch_precision=TORCH_OF.get(prec, prec),
                           torch_eager_ms=tr["eager"], torch_graph_ms=tr["graph"],
                           torch_compile_ms=tr.get("compile"),
                           tfmq_ms=res["gpu_ms"] if res else None,
                           tfmq_e2e_ms=res["e2e_ms"] if res else None,
                           tfmq_create_ms=res["create_ms"] if res else None,
                           tfmq_graph=res["graph"] if res else None,
                           tfmq_fallback=res["host_fallback"] if res else None, error=err)
                best = min(v for v in (tr["eager"], tr["graph"], tr.get("compile")) if v)
                row["vs_best_torch"] = best / row["tfmq_ms"] if row["tfmq_ms"] else None
                row["vs_torch_eager"] = tr["eager"] / row["tfmq_ms"] if row["tfmq_ms"] else None
                rows.append(row)
                log("gpu-bench: %-12s b%-3d %-4s torch%s eager %8.3f graph %8.3f%s | tfmq %s" %
                    (name, batch, prec,
                     (" " + TORCH_OF[prec]) if prec in TORCH_OF else "", tr["eager"], tr["graph"],
                     (" compile %8.3f" % tr["compile"]) if tr.get("compile") else "",
                     ("%8.3f ms (%.2fx eager, %.2fx best)" %
                      (row["tfmq_ms"], row["vs_torch_eager"], row["vs_best_torch"]))
                     if res else "FAILED: " + err))
                write_results(args.out, card, torch.__version__, checks, rows)
    md = write_results(args.out, card, torch.__version__, checks, rows)
    print(md)
    bad = [c for c in checks if not c["ok"]]
    print("gpu-bench: %d checks, %d failed; %s" % (len(checks), len(bad), card))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
