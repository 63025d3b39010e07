#!/usr/bin/env python3
"""Whole-model tests: tfmq's outputs against ONNX Runtime's on real and generated models.

Run with the project venv (onnxruntime 1.30, made by scripts/setup.sh):

    .venv/bin/python tests/models/compare_ort.py --tfmq build/tfmq [--shared ../shared]
                                                 [--only NAME[,NAME...]] [--keep DIR] [-v]

For every model below, the script makes inputs, saves them as .npy, runs ONNX Runtime and
`tfmq run MODEL --input NAME=FILE.npy ... --output-dir DIR --force`, and compares every output:
relative L2 error ||tfmq - ort|| / ||ort|| <= 1e-4, and on the photos the same top-1 class.

  - the models of ../shared/models (README there): the ImageNet MobileNets get the real photos of
    ../shared/data/images (RGB, resized by bilinear interpolation, (p - 127.5) / 127.5, NCHW); the
    others random normal data with a fixed seed (a dynamic batch dimension gets 2);
  - Silero VAD v5 and legacy: 8 consecutive 512-sample chunks of each clip of ../shared/data/audio
    (16 kHz, stereo mixed to mono), around where the speech starts; v5 gets the 64 previous samples
    prepended ([1, 576]); the state output is fed into the next chunk (tfmq's own state into tfmq,
    ORT's into ORT) and outputs and state are compared at every chunk;
  - the PyTorch fixtures of tests/models/fixtures.py (ResNet-50, MobileNetV2, a 4-layer
    TransformerEncoder), exported by Debian's /usr/bin/python3 into .cache/fixtures/ when missing.

Prints one line per model and last "N passed, M failed"; exits 1 when any failed. When the shared
folder is absent, says so and skips those models (exit 0 if the rest pass); when it exists, a
missing model file is a failure.
"""
import argparse
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time
import wave

try:
    import numpy as np
except ImportError:  # reported by main(): wrong Python
    np = None

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RTOL = 1e-4
SEED = 0


# ----------------------------------------------------------------------------- inputs

def load_photo(path, size):
    """Decode an image (Pillow: reference path only), RGB, bilinear resize to size x size, NCHW,
    (p - 127.5) / 127.5 as the shared README prescribes for the ImageNet MobileNets."""
    from PIL import Image
    with Image.open(path) as im:
        rgb = np.asarray(im.convert("RGB"), dtype=np.float32)
    x = resize_bilinear(rgb, size, size)
    x = (x - 127.5) / 127.5
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None], dtype=np.float32)


def resize_bilinear(img, out_h, out_w):
    """Bilinear resize of an HxWxC array with half-pixel centres (no antialiasing)."""
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


def read_wav_mono(path):
    """16-bit PCM WAV -> float32 mono in [-1, 1) (channels averaged)."""
    with wave.open(path, "rb") as w:
        n_ch, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
        raw = w.readframes(w.getnframes())
    if width != 2:
        raise ValueError("%s: %d-byte samples, expected 16-bit PCM" % (path, width))
    if rate != 16000:
        raise ValueError("%s: %d Hz, expected 16000" % (path, rate))
    a = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    return a.reshape(-1, n_ch).mean(axis=1).astype(np.float32)


def random_feeds(sess, rng, batch_for_dynamic=2):
    """Random normal inputs for every input of an ORT session (float32 only)."""
    feeds = {}
    for i in sess.get_inputs():
        if i.type != "tensor(float)":
            raise ValueError("input %s has type %s: no random generator for it" % (i.name, i.type))
        shape = [d if isinstance(d, int) and d > 0 else batch_for_dynamic for d in i.shape]
        feeds[i.name] = rng.standard_normal(shape).astype(np.float32)
    return feeds


# ----------------------------------------------------------------------------- runners

class TfmqError(Exception):
    pass


class Runner:
    def __init__(self, tfmq, workdir, verbose):
        self.tfmq = tfmq
        self.workdir = workdir
        self.verbose = verbose
        self.n = 0
        self.tfmq_seconds = 0.0

    def tfmq_run(self, model, feeds, output_names):
        """Save feeds as .npy, run `tfmq run`, load DIR/<output>.npy for each output name."""
        self.n += 1
        d = os.path.join(self.workdir, "run%05d" % self.n)
        os.makedirs(d)
        cmd = [self.tfmq, "run", model]
        for name, arr in feeds.items():
            path = os.path.join(d, "in%d.npy" % len(cmd))
            np.save(path, arr)
            cmd += ["--input", "%s=%s" % (name, path)]
        out_dir = os.path.join(d, "out")
        cmd += ["--output-dir", out_dir, "--force"]
        if self.verbose:
            print("  $ " + " ".join(cmd), flush=True)
        t0 = time.time()
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           errors="replace")
        self.tfmq_seconds += time.time() - t0
        if p.returncode != 0:
            msg = (p.stderr.strip() or p.stdout.strip() or "(no message)").splitlines()
            raise TfmqError("tfmq run exited with %d: %s" % (p.returncode, " | ".join(msg[-3:])))
        outs = {}
        for name in output_names:
            path = os.path.join(out_dir, name + ".npy")
            if not os.path.exists(path):
                raise TfmqError("tfmq run wrote no %s.npy (found: %s)"
                                % (name, ", ".join(sorted(os.listdir(out_dir)))
                                   if os.path.isdir(out_dir) else "no output dir"))
            outs[name] = np.load(path)
        shutil.rmtree(d, ignore_errors=True)
        return outs


def ort_session(path):
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    # Plain ONNX semantics, no fused approximations: the reference is the model as written.
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


def rel_l2(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    nb = np.linalg.norm(b.ravel())
    nd = np.linalg.norm((a - b).ravel())
    if nb == 0.0:
        return 0.0 if nd == 0.0 else float("inf")
    return float(nd / nb)


class Mismatch(Exception):
    pass


def check_outputs(got, want, where, rtol=RTOL):
    """Shapes equal, finite, rel L2 <= rtol for every output. Returns the worst error."""
    worst = 0.0
    for name, w in want.items():
        g = got[name]
        if g.shape != w.shape:
            raise Mismatch("%s: output %s has shape %s, ORT %s" % (where, name, list(g.shape),
                                                                  list(w.shape)))
        if g.dtype != w.dtype:
            raise Mismatch("%s: output %s has dtype %s, ORT %s" % (where, name, g.dtype, w.dtype))
        if not np.all(np.isfinite(g)) and np.all(np.isfinite(w)):
            raise Mismatch("%s: output %s has non-finite values" % (where, name))
        e = rel_l2(g, w)
        if not e <= rtol:
            raise Mismatch("%s: output %s rel L2 error %.3g > %g (max abs diff %.3g)"
                           % (where, name, e, rtol,
                              float(np.max(np.abs(g.astype(np.float64) - w)))))
        worst = max(worst, e)
    return worst


# ----------------------------------------------------------------------------- test kinds

def test_random(runner, path, n_inputs=1, rtol=RTOL):
    sess = ort_session(path)
    names = [o.name for o in sess.get_outputs()]
    rng = np.random.default_rng(SEED)
    worst = 0.0
    for k in range(n_inputs):
        feeds = random_feeds(sess, rng)
        want = dict(zip(names, sess.run(names, feeds)))
        got = runner.tfmq_run(path, feeds, names)
        worst = max(worst, check_outputs(got, want, "input %d" % k, rtol))
    shapes = ",".join("x".join(str(d) for d in f.shape) for f in feeds.values())
    return "%d random input%s [%s], max rel L2 %.2g" % (n_inputs, "s" * (n_inputs > 1), shapes,
                                                         worst)


def test_photos(runner, path, photos, max_photos_if_slow, slow_s, rtol=RTOL):
    sess = ort_session(path)
    inp = sess.get_inputs()[0]
    size = inp.shape[2]
    names = [o.name for o in sess.get_outputs()]
    worst, agree, n = 0.0, 0, 0
    t0 = time.time()
    k = 0
    while k < len(photos):
        photo = photos[k]
        x = load_photo(photo, size)
        want = dict(zip(names, sess.run(names, {inp.name: x})))
        got = runner.tfmq_run(path, {inp.name: x}, names)
        where = os.path.basename(photo)
        worst = max(worst, check_outputs(got, want, where, rtol))
        t1, t2 = int(np.argmax(want[names[0]])), int(np.argmax(got[names[0]]))
        if t1 != t2:
            raise Mismatch("%s: top-1 %d, ORT %d" % (where, t2, t1))
        agree += 1
        n += 1
        if k == 0 and time.time() - t0 > slow_s:   # slow kernels: a subset of the photos
            photos = photos[:max_photos_if_slow]
        k += 1
    return "%d photos, top-1 identical %d/%d, max rel L2 %.2g" % (n, agree, n, worst)


def test_qdq(runner, path, photos, size):
    """A QDQ model quantized by ONNX Runtime, which tfmq runs on its integer kernels.

    Requantization rounds ties and accumulates in a different order than ORT's float QDQ path,
    and a one-step difference early on propagates, so bit-exactness is not expected. The bound
    is ORT's own: ORT with graph optimizations (its integer kernels) differs from ORT without
    them (float QDQ) by a median relative L2 of a few percent on MobileNetV2. Pass: the same
    top-1 as ORT on every photo, and a median relative L2 error against the closer of ORT's two
    modes within max(1e-2, the median error between ORT's two modes). (tfmq's fast CPU backend
    requantizes in float32 as ORT's integer kernels do; its reference kernels in double.)"""
    import onnxruntime as ort
    ref = ort_session(path)
    o = ort.SessionOptions()
    o.intra_op_num_threads = 1
    o.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opt = ort.InferenceSession(path, o, providers=["CPUExecutionProvider"])
    inp = ref.get_inputs()[0]
    names = [x.name for x in ref.get_outputs()]
    errs, ort_errs = [], []
    for photo in photos:
        x = load_photo(photo, size)
        want = ref.run(names, {inp.name: x})[0]
        other = opt.run(names, {inp.name: x})[0]
        got = runner.tfmq_run(path, {inp.name: x}, names)[names[0]]
        if got.shape != want.shape:
            raise Mismatch("%s: shape %s, ORT %s" % (photo, got.shape, want.shape))
        if int(np.argmax(got)) != int(np.argmax(want)):
            raise Mismatch("%s: top-1 %d, ORT %d" % (os.path.basename(photo),
                                                     int(np.argmax(got)), int(np.argmax(want))))
        errs.append(min(rel_l2(got, want), rel_l2(got, other)))
        ort_errs.append(rel_l2(other, want))
    bound = max(1e-2, float(np.median(ort_errs)))
    med = float(np.median(errs))
    if not med <= bound:
        raise Mismatch("median rel L2 %.3g > %.3g (ORT optimized vs not: %.3g)"
                       % (med, bound, float(np.median(ort_errs))))
    return ("%d photos, top-1 identical %d/%d, rel L2 median %.2g max %.2g "
            "(ORT optimized vs not: median %.2g max %.2g)"
            % (len(photos), len(photos), len(photos), med, max(errs),
               float(np.median(ort_errs)), max(ort_errs)))


def speech_window(audio, chunk, n_chunks):
    """Start (in samples) of n_chunks chunks that begin a little before the speech onset."""
    n_all = len(audio) // chunk
    rms = np.sqrt(np.mean(audio[:n_all * chunk].reshape(n_all, chunk) ** 2, axis=1))
    onset = int(np.argmax(rms > 0.25 * rms.max()))
    start = max(0, min(onset - 3, n_all - n_chunks))
    return start * chunk


def test_vad(runner, path, clips, n_chunks=8):
    sess = ort_session(path)
    ins = {i.name: i for i in sess.get_inputs()}
    names = [o.name for o in sess.get_outputs()]
    sr = np.array(16000, dtype=np.int64)
    if "state" in ins:                 # v5: input [1, 64 + 512], state [2, 1, 128] -> stateN
        context, state_in = 64, {"state": "stateN"}
        state0 = {"state": np.zeros((2, 1, 128), np.float32)}
    elif "h" in ins and "c" in ins:    # legacy (v4): input [1, 512], h, c [2, 1, 64] -> hn, cn
        context, state_in = 0, {"h": "hn", "c": "cn"}
        state0 = {"h": np.zeros((2, 1, 64), np.float32), "c": np.zeros((2, 1, 64), np.float32)}
    else:
        raise ValueError("unknown Silero VAD interface: inputs %s" % sorted(ins))
    worst, n = 0.0, 0
    for clip in clips:
        audio = read_wav_mono(clip)
        start = speech_window(audio, 512, n_chunks)
        st_ort, st_tfmq = dict(state0), dict(state0)
        prev = np.zeros(context, np.float32)
        for k in range(n_chunks):
            chunk = audio[start + 512 * k:start + 512 * (k + 1)]
            x = np.concatenate([prev, chunk])[None].astype(np.float32)
            if context:
                prev = chunk[-context:]
            want = dict(zip(names, sess.run(names, dict(input=x, sr=sr, **st_ort))))
            got = runner.tfmq_run(path, dict(input=x, sr=sr, **st_tfmq), names)
            where = "%s chunk %d" % (os.path.basename(clip), k)
            worst = max(worst, check_outputs(got, want, where))
            st_ort = {i: want[o] for i, o in state_in.items()}
            st_tfmq = {i: got[o] for i, o in state_in.items()}
            n += 1
    return ("%d clips x %d chunks, state carried, max rel L2 %.2g"
            % (len(clips), n_chunks, worst))


# ----------------------------------------------------------------------------- the list

def model_list(shared, fixtures_dir, photos, clips):
    """(name, path, test function, args). Paths under shared are only used when shared exists."""
    sm = os.path.join(shared, "models")
    lst = [
        ("mobilenet_v2_1.0_224", os.path.join(sm, "mobilenet_v2_1.0_224", "model.onnx"),
         test_photos, dict(photos=photos, max_photos_if_slow=6, slow_s=2.0)),
        ("mobilenet_v1_0.25_128", os.path.join(sm, "mobilenet_v1_0.25_128", "model.onnx"),
         test_photos, dict(photos=photos, max_photos_if_slow=6, slow_s=2.0)),
        ("resnet8_cifar10", os.path.join(sm, "resnet8_cifar10", "model.onnx"), test_random, {}),
        ("vww96_mobilenet", os.path.join(sm, "vww96_mobilenet", "model.onnx"), test_random, {}),
        ("ad01_autoencoder", os.path.join(sm, "ad01_autoencoder", "model.onnx"), test_random, {}),
        ("kws_dscnn", os.path.join(sm, "kws_dscnn", "model_dequant.onnx"), test_random, {}),
        ("resnet20_cifar10", os.path.join(sm, "resnet20_cifar10", "model.onnx"), test_random, {}),
        ("resnet32_cifar10", os.path.join(sm, "resnet32_cifar10", "model.onnx"), test_random, {}),
        # QDQ models written by ONNX Runtime's quantize_static: tfmq lowers them onto its
        # integer kernels; rounding ties resolved differently anywhere upstream move a value by
        # one quantization step, hence the looser bound (the issue's: 1e-2 and the same top-1).
        ("mobilenet_v2_qdq_ort", os.path.join(sm, "mobilenet_v2_1.0_224", "model_qdq_ort.onnx"),
         test_qdq, dict(photos=photos, size=224)),
        ("resnet20_qdq_ort", os.path.join(sm, "resnet20_cifar10", "model_qdq_ort.onnx"),
         test_qdq, dict(photos=photos, size=32)),
        ("silero_vad_v5", os.path.join(sm, "silero_vad", "silero_vad_v5.onnx"), test_vad,
         dict(clips=clips)),
        ("silero_vad_legacy", os.path.join(sm, "silero_vad", "silero_vad_legacy.onnx"), test_vad,
         dict(clips=clips)),
    ]
    shared_names = [x[0] for x in lst]
    lst += [
        ("torch_resnet50", os.path.join(fixtures_dir, "resnet50.onnx"), test_random, {}),
        ("torch_mobilenet_v2", os.path.join(fixtures_dir, "mobilenet_v2.onnx"), test_random, {}),
        ("torch_transformer_encoder", os.path.join(fixtures_dir, "transformer_encoder.onnx"),
         test_random, {}),
    ]
    return lst, shared_names


def main():
    ap = argparse.ArgumentParser(description="tfmq vs ONNX Runtime on whole models")
    ap.add_argument("--tfmq", required=True, help="path to the tfmq CLI")
    ap.add_argument("--shared", default=os.path.join(REPO, "..", "shared"),
                    help="the shared reference folder (default: ../shared beside the repository)")
    ap.add_argument("--only", default="", help="comma-separated model names (see --list)")
    ap.add_argument("--fixtures", default=os.path.join(REPO, ".cache", "fixtures"),
                    help="where tests/models/fixtures.py writes the PyTorch exports")
    ap.add_argument("--list", action="store_true", help="list the model names and exit")
    ap.add_argument("--keep", default="", help="keep the .npy files of failures under this dir")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every tfmq command")
    args = ap.parse_args()

    try:
        import onnxruntime  # noqa: F401
        assert np is not None
    except (ImportError, AssertionError):
        print("compare_ort: onnxruntime or numpy is missing: run with .venv/bin/python (made by "
              "scripts/setup.sh)")
        return 2

    shared = os.path.abspath(args.shared)
    photos = sorted(p for p in glob.glob(os.path.join(shared, "data", "images", "*"))
                    if p.lower().endswith((".bmp", ".jpg", ".jpeg", ".png")))
    clips = sorted(glob.glob(os.path.join(shared, "data", "audio", "*.wav")))
    models, shared_names = model_list(shared, args.fixtures, photos, clips)
    if args.list:
        print("\n".join(m[0] for m in models))
        return 0
    only = [s for s in args.only.split(",") if s]
    unknown = [s for s in only if s not in [m[0] for m in models]]
    if unknown:
        print("compare_ort: unknown model name(s): %s (see --list)" % ", ".join(unknown))
        return 2
    if only:
        models = [m for m in models if m[0] in only]

    tfmq = os.path.abspath(args.tfmq)
    if not os.access(tfmq, os.X_OK):
        print("compare_ort: %s is not an executable" % args.tfmq)
        return 2

    if not os.path.isdir(shared):
        print("SKIP shared models: %s is absent" % shared)
        models = [m for m in models if m[0] not in shared_names]
    else:
        if not photos:
            print("compare_ort: no photos in %s/data/images" % shared)
        if not clips:
            print("compare_ort: no WAV clips in %s/data/audio" % shared)

    if any(m[1].startswith(os.path.abspath(args.fixtures)) for m in models):
        p = subprocess.run(["/usr/bin/python3", os.path.join(REPO, "tests", "models", "fixtures.py"),
                            "--out", args.fixtures], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
        if p.returncode != 0:
            print("compare_ort: fixtures.py failed:\n" + p.stdout.strip())

    passed = failed = 0
    workdir = tempfile.mkdtemp(prefix="tfmq-compare-")
    try:
        for name, path, fn, kw in models:
            t0 = time.time()
            if not os.path.exists(path):
                print("FAIL %-26s missing model file %s" % (name, path), flush=True)
                failed += 1
                continue
            runner = Runner(tfmq, workdir, args.verbose)
            try:
                detail = fn(runner, path, **kw)
                print("PASS %-26s %s (%.1f s, tfmq %.1f s)"
                      % (name, detail, time.time() - t0, runner.tfmq_seconds), flush=True)
                passed += 1
            except (TfmqError, Mismatch) as e:
                print("FAIL %-26s %s" % (name, e), flush=True)
                failed += 1
                if args.keep:
                    os.makedirs(args.keep, exist_ok=True)
                    keep = os.path.join(args.keep, name)
                    shutil.rmtree(keep, ignore_errors=True)
                    shutil.copytree(workdir, keep)
            except Exception as e:  # a bug of this script or ORT: still one line, still a failure
                print("FAIL %-26s %s: %s" % (name, type(e).__name__, e), flush=True)
                failed += 1
            for d in os.listdir(workdir):
                shutil.rmtree(os.path.join(workdir, d), ignore_errors=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
