#!/usr/bin/env python3
"""ONNX export against ONNX Runtime: the models tests/unit/test_export.c exports (Fashion-MNIST,
resnet20 plain and fused, resnet20 QDQ lowered to integer ops and re-expanded, the If/Loop
conformance models) are checked with onnx.checker (Debian's /usr/bin/python3, onnx 1.12) and run
by ONNX Runtime and by `tfmq run` on the same inputs; outputs must agree within relative L2 1e-5
(the QDQ model: 1e-2, since ONNX Runtime runs QDQ with its own integer kernels and rounding).

    .venv/bin/python tests/models/test_export_ort.py --tfmq BUILD/tfmq \\
        --test-export BUILD/tests/unit/test_export [--keep DIR] [-v]

Exits 0 when all pass, 1 on a failure, 77 (skip, reason printed) without numpy/onnxruntime.
"""
import argparse
import glob
import os
import shutil
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import onnxruntime as ort
except ImportError as e:  # pragma: no cover
    print(f"test_export_ort: SKIP: {e} (run with the project .venv)")
    sys.exit(77)

ort.set_default_logger_severity(3)
CHECKER_PY = "/usr/bin/python3"
CONF = "/usr/include/onnx/backend/test/data/node"
ONNX_TO_NP = {1: np.float32, 2: np.uint8, 3: np.int8, 4: np.uint16, 5: np.int16, 6: np.int32,
              7: np.int64, 9: np.bool_, 10: np.float16, 11: np.float64, 12: np.uint32,
              13: np.uint64}
ORT_TO_NP = {"tensor(float)": np.float32, "tensor(int64)": np.int64, "tensor(bool)": np.bool_,
             "tensor(int32)": np.int32, "tensor(double)": np.float64, "tensor(uint8)": np.uint8,
             "tensor(int8)": np.int8, "tensor(float16)": np.float16}


def conf_inputs(name):
    """Inputs of a conformance test's data set 0, read with Debian's onnx (numpy_helper)."""
    d = os.path.join(CONF, name, "test_data_set_0")
    code = ("import sys, onnx, numpy as np\nfrom onnx import numpy_helper\n"
            "import glob, os\n"
            "d, out = sys.argv[1], sys.argv[2]\n"
            "for p in sorted(glob.glob(os.path.join(d, 'input_*.pb'))):\n"
            "    t = onnx.TensorProto(); t.ParseFromString(open(p, 'rb').read())\n"
            "    np.save(os.path.join(out, t.name + '.npy'), numpy_helper.to_array(t))\n")
    return d, code


def rel_l2(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    den = np.linalg.norm(b.ravel())
    num = np.linalg.norm((a - b).ravel())
    return num / den if den > 0 else num


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tfmq", required=True)
    ap.add_argument("--test-export", required=True)
    ap.add_argument("--keep")
    ap.add_argument("-v", action="store_true")
    args = ap.parse_args()

    work = args.keep or tempfile.mkdtemp(prefix="tfmq_export_ort_")
    os.makedirs(work, exist_ok=True)
    exp_dir = os.path.join(work, "exports")
    os.makedirs(exp_dir, exist_ok=True)
    env = dict(os.environ, TFMQ_EXPORT_DIR=exp_dir)
    r = subprocess.run([args.test_export], env=env, capture_output=True, text=True)
    if r.returncode != 0:
        print(r.stdout + r.stderr)
        print("test_export_ort: FAIL: test_export failed")
        return 1
    models = sorted(glob.glob(os.path.join(exp_dir, "*.onnx")))
    if not models:
        print("test_export_ort: FAIL: test_export exported nothing")
        return 1
    rng = np.random.default_rng(1234)
    n_pass = n_fail = 0
    for path in models:
        name = os.path.splitext(os.path.basename(path))[0]
        tol = 1e-2 if name.endswith("_q") else 1e-5
        mdir = os.path.join(work, name)
        shutil.rmtree(mdir, ignore_errors=True)
        os.makedirs(os.path.join(mdir, "in"))
        # 1. onnx.checker (full check: also runs ONNX shape inference)
        r = subprocess.run([CHECKER_PY, "-c",
                            "import sys, onnx; onnx.checker.check_model(onnx.load(sys.argv[1]), "
                            "full_check=True)", path], capture_output=True, text=True)
        if r.returncode != 0:
            print(f"FAIL {name}: onnx.checker: {r.stderr.strip().splitlines()[-1:]}")
            n_fail += 1
            continue
        # 2. inputs: the conformance data set, else random normal data (symbolic dims = 1)
        try:
            sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        except Exception as e:  # noqa: BLE001 (ORT raises its own types)
            print(f"FAIL {name}: ONNX Runtime refuses the model: {e}")
            n_fail += 1
            continue
        feeds = {}
        if os.path.isdir(os.path.join(CONF, name)):
            d, code = conf_inputs(name)
            subprocess.run([CHECKER_PY, "-c", code, d, os.path.join(mdir, "in")], check=True)
            for i in sess.get_inputs():
                feeds[i.name] = np.load(os.path.join(mdir, "in", i.name + ".npy"))
        else:
            for i in sess.get_inputs():
                shape = [d if isinstance(d, int) and d > 0 else 1 for d in i.shape]
                dt = ORT_TO_NP.get(i.type, np.float32)
                feeds[i.name] = rng.standard_normal(shape).astype(dt)
        cmd = [args.tfmq, "run", path, "--output-dir", os.path.join(mdir, "out"), "--force"]
        for k, v in feeds.items():
            f = os.path.join(mdir, "in", k + ".npy")
            np.save(f, v)
            cmd += ["--input", f"{k}={f}"]
        # 3. ONNX Runtime and tfmq on the export
        ort_out = sess.run(None, feeds)
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            print(f"FAIL {name}: tfmq run: {r.stderr.strip()}")
            n_fail += 1
            continue
        worst = 0.0
        ok = True
        for o, ref in zip(sess.get_outputs(), ort_out):
            safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in o.name)
            got = np.load(os.path.join(mdir, "out", safe + ".npy"))
            if got.shape != np.asarray(ref).shape:
                print(f"FAIL {name}: output {o.name}: shape {got.shape} vs ORT {ref.shape}")
                ok = False
                continue
            e = rel_l2(got, ref)
            worst = max(worst, e)
            if not e <= tol:
                print(f"FAIL {name}: output {o.name}: rel L2 {e:.3g} > {tol:g}")
                ok = False
        if ok:
            print(f"ok   {name}: onnx.checker passed; tfmq vs ORT rel L2 {worst:.3g}")
            n_pass += 1
        else:
            n_fail += 1
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{n_pass} passed, {n_fail} failed")
    return 1 if n_fail else 0


if __name__ == "__main__":
    sys.exit(main())
