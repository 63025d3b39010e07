#!/usr/bin/env python3
"""Whole-model tests: tfmq's outputs against TensorFlow's on SavedModels and Keras files.

    python tests/models/compare_tf.py --tfmq build/tfmq [--only MODEL[/FORMAT],...] [--keep DIR] [-v]

Needs only numpy (run with .venv-tf/bin/python or .venv/bin/python). The fixtures and TensorFlow's
outputs come from tests/models/tf_fixtures.py, which this script runs with .venv-tf/bin/python
(it writes .cache/tf_fixtures/ and does nothing when that is up to date). For every model and
format of its manifest (Keras applications and transformer blocks; SavedModels written by tf-keras
model.save and Keras 3 model.export, .h5 and .keras files), `tfmq run FILE --input input.npy
--output-dir DIR --force` on the same NHWC input, and the relative L2 error
||tfmq - tf|| / ||tf|| must be <= 1e-4.

Prints one line per model/format and last "N passed, M failed"; exits 1 when any failed, 77 (with
the reason) when .venv-tf is missing (scripts/setup.sh makes it unless TFMQ_TF_TESTS=0).
"""
import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

try:
    import numpy as np
except ImportError:  # reported by main(): wrong Python
    np = None

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RTOL = 1e-4
SKIP = 77


def rel_l2(got, want):
    a = np.asarray(got, np.float64).ravel()
    b = np.asarray(want, np.float64).ravel()
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def run_one(tfmq, fixtures, e, work, verbose):
    """-> (ok, text)."""
    model = os.path.join(fixtures, e["path"])
    x = os.path.join(fixtures, e["input"])
    want = np.load(os.path.join(fixtures, e["reference"]))
    out = os.path.join(work, "out")
    cmd = [tfmq, "run", model, "--input", x, "--output-dir", out, "--force"]
    if verbose:
        print("  $ " + " ".join(cmd), flush=True)
    t0 = time.time()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    dt = time.time() - t0
    if p.returncode != 0:
        msg = (p.stderr.strip() or p.stdout.strip() or "exit %d" % p.returncode).splitlines()
        return False, "tfmq run failed (exit %d): %s" % (p.returncode, msg[-1][:300])
    files = sorted(glob.glob(os.path.join(out, "*.npy")))
    if len(files) != 1:
        return False, "expected one output .npy, got %d" % len(files)
    got = np.load(files[0])
    if got.shape != want.shape:
        return False, "output shape %s, TensorFlow's %s" % (got.shape, want.shape)
    if not np.all(np.isfinite(got)):
        return False, "output has NaN or Inf"
    err = rel_l2(got, want)
    ok = err <= RTOL
    return ok, "rel L2 %.2g%s, %.1f s" % (err, "" if ok else " > %g" % RTOL, dt)


def main():
    ap = argparse.ArgumentParser(description="tfmq vs TensorFlow on SavedModels and Keras files")
    ap.add_argument("--tfmq", required=True, help="path to the tfmq CLI")
    ap.add_argument("--fixtures", default=os.path.join(REPO, ".cache", "tf_fixtures"))
    ap.add_argument("--venv-tf", default=os.path.join(REPO, ".venv-tf"),
                    help="the TensorFlow venv that runs tests/models/tf_fixtures.py")
    ap.add_argument("--no-generate", action="store_true",
                    help="use the fixtures as they are (no .venv-tf needed)")
    ap.add_argument("--only", default="", help="comma-separated MODEL or MODEL/FORMAT")
    ap.add_argument("--keep", default="", help="keep the outputs of failures under this dir")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    if np is None:
        print("compare_tf: numpy is missing: run with .venv-tf/bin/python or .venv/bin/python")
        return 1
    if not args.no_generate:
        py = os.path.join(args.venv_tf, "bin", "python")
        if not os.access(py, os.X_OK):
            print("compare_tf: SKIP: %s missing (run scripts/setup.sh; TFMQ_TF_TESTS=0 skips it)"
                  % py)
            return SKIP
        models = sorted({o.split("/")[0] for o in args.only.split(",") if o})
        cmd = [py, os.path.join(REPO, "tests", "models", "tf_fixtures.py"), "--out",
               args.fixtures] + (["--only", ",".join(models)] if models else [])
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if p.returncode != 0:
            print(p.stdout[-4000:])
            print("compare_tf: tf_fixtures.py failed (exit %d)" % p.returncode)
            return 1
        for line in p.stdout.splitlines():  # its own lines, not TensorFlow's log
            if line.startswith("tf_fixtures:"):
                print(line, flush=True)
    man = os.path.join(args.fixtures, "manifest.json")
    if not os.path.exists(man):
        print("compare_tf: %s missing (tests/models/tf_fixtures.py writes it)" % man)
        return 1
    with open(man) as f:
        entries = json.load(f)
    only = [o for o in args.only.split(",") if o]
    if only:
        entries = [e for e in entries if e["model"] in only
                   or "%s/%s" % (e["model"], e["format"]) in only]
    if not entries:
        print("compare_tf: no fixture matches --only '%s'" % args.only)
        return 1
    n_pass = n_fail = 0
    tmp = tempfile.mkdtemp(prefix="compare_tf.")
    try:
        for i, e in enumerate(entries):
            work = os.path.join(tmp, "r%03d" % i)
            os.makedirs(work)
            ok, text = run_one(args.tfmq, args.fixtures, e, work, args.verbose)
            name = "%s/%s" % (e["model"], e["format"])
            print("%-36s %s  %s" % (name, "PASS" if ok else "FAIL", text), flush=True)
            if ok:
                n_pass += 1
            else:
                n_fail += 1
                if args.keep:
                    dst = os.path.join(args.keep, name.replace("/", "__"))
                    shutil.rmtree(dst, ignore_errors=True)
                    shutil.copytree(work, dst)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (n_pass, n_fail))
    return 1 if n_fail else 0


if __name__ == "__main__":
    sys.exit(main())
