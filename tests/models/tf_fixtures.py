#!/usr/bin/env python3
"""Write the TensorFlow/Keras whole-model fixtures and TensorFlow's own outputs for them.

Run with the TensorFlow venv (.venv-tf, made by scripts/setup.sh from scripts/requirements-tf.txt):

    .venv-tf/bin/python tests/models/tf_fixtures.py [--out DIR] [--only NAME[,NAME...]] [--force]

For every model below (random weights: weights=None, nothing can be downloaded; fixed seeds), into
DIR/<model>/ (default .cache/tf_fixtures/):
    input.npy                 the fixed random input, NHWC (or [batch, tokens, features])
    k2_savedmodel/            tf-keras (Keras 2) model.save(dir): the TF 2 SavedModel of TFModelQuantizer's users
    k2.h5                     tf-keras model.save("k2.h5")
    k3_export/                Keras 3 model.export(dir): a SavedModel with a "serve" endpoint
    k3.keras                  Keras 3 model.save("k3.keras")
    k3.h5                     Keras 3 model.save("k3.h5") (its legacy HDF5 writer)
    <format>.out.npy          TensorFlow's output for that file: the file loaded back by TensorFlow
                              (tf.saved_model.load / load_model) and run on input.npy
The Keras 2 and Keras 3 models are built separately (their weights differ); each file's reference
is checked against the in-memory model that wrote it. BatchNormalization (and Normalization)
statistics and scales are randomised, so that a layer that mixes them up cannot pass.
DIR/manifest.json lists every (model, format, path, input, reference). A model is written again only
when its DIR/<model>/stamp differs from the hash of this script and the TF/Keras versions.

Models: the Keras applications ResNet50, MobileNetV2, EfficientNetB0 and DenseNet121 at 96x96
(classifier_activation=None: logits, which a test can compare more sharply than near-uniform
softmax probabilities), and two small functional transformer blocks on [1, 16, 64]: one with
MultiHeadAttention, one whose attention is built from Dense, Dot, Softmax and Concatenate.
"""
import argparse
import hashlib
import json
import os
import shutil
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SEED = 0
SIZE = 96
MODELS = ("resnet50", "mobilenet_v2", "efficientnet_b0", "densenet121", "transformer_mha",
          "transformer_dot")
FORMATS = ("k2_savedmodel", "k2.h5", "k3_export", "k3.keras", "k3.h5")
# The reload must reproduce the in-memory model this closely (same library, same kernels).
RELOAD_RTOL = 1e-5


def make_input(name, np):
    rng = np.random.default_rng(SEED)
    if name.startswith("transformer"):
        return rng.standard_normal((1, 16, 64)).astype(np.float32)
    if name == "efficientnet_b0":  # the model rescales 0..255 pixels itself
        return rng.uniform(0.0, 255.0, (1, SIZE, SIZE, 3)).astype(np.float32)
    return rng.standard_normal((1, SIZE, SIZE, 3)).astype(np.float32)


def build(K, name, np):
    """The model `name` built with Keras module K (tf_keras or keras), BN statistics randomised."""
    K.utils.set_random_seed(SEED)
    A = K.applications
    shape = (SIZE, SIZE, 3)
    if name == "resnet50":
        m = A.ResNet50(weights=None, input_shape=shape, classifier_activation=None)
    elif name == "mobilenet_v2":
        m = A.MobileNetV2(weights=None, input_shape=shape, classifier_activation=None)
    elif name == "efficientnet_b0":
        m = A.EfficientNetB0(weights=None, input_shape=shape, classifier_activation=None)
    elif name == "densenet121":
        m = A.DenseNet121(weights=None, input_shape=shape, classifier_activation=None)
    elif name.startswith("transformer"):
        inp = K.layers.Input(shape=(16, 64), batch_size=1, name="tokens")
        m = transformer(K, inp, name == "transformer_mha")
    else:
        raise ValueError(name)
    rng = np.random.default_rng(SEED + 1)
    for layer in m.layers:
        cls = type(layer).__name__
        if cls == "BatchNormalization":
            w = layer.get_weights()  # gamma, beta, moving_mean, moving_variance
            n = w[0].shape
            layer.set_weights([rng.uniform(0.5, 1.5, n).astype(np.float32),
                               rng.normal(0.0, 0.1, n).astype(np.float32),
                               rng.normal(0.0, 0.1, n).astype(np.float32),
                               rng.uniform(0.5, 1.5, n).astype(np.float32)])
        elif cls == "LayerNormalization":
            w = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, w[0].shape).astype(np.float32),
                               rng.normal(0.0, 0.1, w[1].shape).astype(np.float32)])
        elif cls == "Normalization":
            w = layer.get_weights()  # mean, variance, count
            if len(w) == 3:
                layer.set_weights([rng.uniform(0.3, 0.6, w[0].shape).astype(np.float32),
                                   rng.uniform(0.04, 0.08, w[1].shape).astype(np.float32), w[2]])
                if hasattr(layer, "finalize_state"):  # Keras 3 recomputes its mean/std there
                    layer.finalize_state()
    return m


def transformer(K, inp, use_mha):
    """One post-norm transformer encoder block and a small classifier head: [1,16,64] -> [1,10]."""
    L = K.layers
    d, heads, dk, ff = 64, 4, 16, 128
    x = inp
    if use_mha:
        a = L.MultiHeadAttention(num_heads=heads, key_dim=dk, name="mha")(x, x)
    else:
        outs = []
        for h in range(heads):
            q = L.Dense(dk, name="q%d" % h)(x)
            k = L.Dense(dk, name="k%d" % h)(x)
            v = L.Dense(dk, name="v%d" % h)(x)
            s = L.Dot(axes=(2, 2), name="qk%d" % h)([q, k])
            s = L.Rescaling(1.0 / dk ** 0.5, name="scale%d" % h)(s)
            p = L.Softmax(axis=-1, name="softmax%d" % h)(s)
            outs.append(L.Dot(axes=(2, 1), name="pv%d" % h)([p, v]))
        a = L.Concatenate(axis=-1, name="heads")(outs)
        a = L.Dense(d, name="attn_out")(a)
    x = L.LayerNormalization(epsilon=1e-6, name="ln1")(L.Add(name="res1")([x, a]))
    f = L.Dense(ff, activation="gelu" if use_mha else "relu", name="ff1")(x)
    f = L.Dense(d, name="ff2")(f)
    x = L.LayerNormalization(epsilon=1e-6, name="ln2")(L.Add(name="res2")([x, f]))
    x = L.GlobalAveragePooling1D(name="pool")(x)
    y = L.Dense(10, name="logits")(x)
    return K.Model(inp, y, name="transformer")


def rel_l2(a, b, np):
    a = np.asarray(a, np.float64).ravel()
    b = np.asarray(b, np.float64).ravel()
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def run_savedmodel(tf, path, x):
    """Load a SavedModel with TensorFlow and call its serving signature (one input, one output)."""
    obj = tf.saved_model.load(path)
    sig = obj.signatures["serving_default"]
    _, kw = sig.structured_input_signature
    (in_name,) = kw.keys()
    out = sig(**{in_name: tf.constant(x)})
    (val,) = out.values()
    return val.numpy(), in_name, list(out.keys())[0]


def write_model(name, mdir, np, tf, tf_keras, keras):
    if os.path.isdir(mdir):
        shutil.rmtree(mdir)
    os.makedirs(mdir)
    x = make_input(name, np)
    np.save(os.path.join(mdir, "input.npy"), x)
    entries = []

    def check(fmt, got, want):
        err = rel_l2(got, want, np)
        if not np.all(np.isfinite(got)) or err > RELOAD_RTOL:
            raise RuntimeError("%s %s: TensorFlow's reload differs from the model: rel L2 %.3g"
                               % (name, fmt, err))
        np.save(os.path.join(mdir, fmt + ".out.npy"), got.astype(np.float32))
        entries.append(dict(model=name, format=fmt, path=os.path.join(name, fmt),
                            input=os.path.join(name, "input.npy"),
                            reference=os.path.join(name, fmt + ".out.npy")))

    # ---- Keras 2 (tf-keras) ----
    m2 = build(tf_keras, name, np)
    y2 = m2(x, training=False).numpy()
    p = os.path.join(mdir, "k2_savedmodel")
    m2.save(p, save_format="tf")
    check("k2_savedmodel", run_savedmodel(tf, p, x)[0], y2)
    p = os.path.join(mdir, "k2.h5")
    m2.save(p, save_format="h5")
    check("k2.h5", tf_keras.models.load_model(p, compile=False)(x, training=False).numpy(), y2)
    del m2
    tf_keras.backend.clear_session()

    # ---- Keras 3 ----
    m3 = build(keras, name, np)
    y3 = np.asarray(m3(x, training=False))
    p = os.path.join(mdir, "k3_export")
    m3.export(p, format="tf_saved_model", verbose=False)
    check("k3_export", run_savedmodel(tf, p, x)[0], y3)
    p = os.path.join(mdir, "k3.keras")
    m3.save(p)
    check("k3.keras", np.asarray(keras.saving.load_model(p, compile=False)(x, training=False)), y3)
    p = os.path.join(mdir, "k3.h5")
    m3.save(p)
    check("k3.h5", np.asarray(keras.saving.load_model(p, compile=False)(x, training=False)), y3)
    keras.backend.clear_session()
    return entries


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(REPO, ".cache", "tf_fixtures"))
    ap.add_argument("--only", default="", help="comma-separated model names")
    ap.add_argument("--force", action="store_true", help="write even when up to date")
    args = ap.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # exact, reproducible CPU kernels
    import numpy as np
    import tensorflow as tf
    import tf_keras
    import keras
    names = [n for n in args.only.split(",") if n] or list(MODELS)
    for n in names:
        if n not in MODELS:
            sys.exit("tf_fixtures: unknown model '%s' (models: %s)" % (n, ", ".join(MODELS)))
    h = hashlib.sha256()
    with open(os.path.abspath(__file__), "rb") as f:
        h.update(f.read())
    h.update(("%s %s %s %s" % (tf.__version__, tf_keras.__version__, keras.__version__,
                               np.__version__)).encode())
    os.makedirs(args.out, exist_ok=True)
    man_path = os.path.join(args.out, "manifest.json")
    manifest = {}
    if os.path.exists(man_path):
        with open(man_path) as f:
            manifest = {(e["model"], e["format"]): e for e in json.load(f)}
    for n in names:
        mdir = os.path.join(args.out, n)
        stamp = os.path.join(mdir, "stamp")
        want = h.hexdigest() + " " + n
        have = open(stamp).read().strip() if os.path.exists(stamp) else ""
        if have == want and not args.force:
            continue
        print("tf_fixtures: writing %s" % n, flush=True)
        for k in [k for k in manifest if k[0] == n]:
            del manifest[k]
        for e in write_model(n, mdir, np, tf, tf_keras, keras):
            manifest[(e["model"], e["format"])] = e
        with open(stamp, "w") as f:
            f.write(want + "\n")
        order = {m: i for i, m in enumerate(MODELS)}
        with open(man_path + ".tmp", "w") as f:
            json.dump(sorted(manifest.values(), key=lambda e: (order.get(e["model"], 99),
                                                               FORMATS.index(e["format"]))),
                      f, indent=1)
        os.replace(man_path + ".tmp", man_path)
    # The real SavedModel of ../shared (written by Keras with TF 2.3): TensorFlow's own outputs on
    # seeded MFCC-like inputs. (Its ONNX twin, model_dequant.onnx, holds other weights: it is no
    # reference for this file.)
    kws = os.path.normpath(os.path.join(REPO, "..", "shared", "models", "kws_dscnn", "saved_model"))
    if os.path.isdir(kws) and not args.only:
        kdir = os.path.join(args.out, "shared_kws_dscnn")
        os.makedirs(kdir, exist_ok=True)
        x = (np.random.default_rng(7).standard_normal((4, 49, 10, 1)) * 10).astype(np.float32)
        np.save(os.path.join(kdir, "input.npy"), x)
        y = run_savedmodel(tf, kws, x)[0]
        np.save(os.path.join(kdir, "k2_savedmodel.out.npy"), np.asarray(y, np.float32))
        manifest[("shared_kws_dscnn", "k2_savedmodel")] = dict(
            model="shared_kws_dscnn", format="k2_savedmodel", path=kws,
            input=os.path.join("shared_kws_dscnn", "input.npy"),
            reference=os.path.join("shared_kws_dscnn", "k2_savedmodel.out.npy"))
        order = {m: i for i, m in enumerate(MODELS)}
        with open(man_path + ".tmp", "w") as f:
            json.dump(sorted(manifest.values(), key=lambda e: (order.get(e["model"], 99),
                                                               FORMATS.index(e["format"]))),
                      f, indent=1)
        os.replace(man_path + ".tmp", man_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
