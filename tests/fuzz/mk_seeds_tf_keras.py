#!/usr/bin/env python3
"""Write the seed corpora of the TensorFlow and Keras fuzz targets (tests/fuzz/README.md).

Run with the TensorFlow venv:  .venv-tf/bin/python tests/fuzz/mk_seeds_tf_keras.py

Writes (all inputs below 8 KiB, the -max_len of run_fuzz.sh):
  corpus/fuzz_tf_savedmodel/*.pb   saved_model.pb of one tf.Module saved once per signature
                                   (dense, conv, ...), stripped to what tf_subset.proto declares
                                   and to the nodes/functions the signature reaches
  corpus/fuzz_tf_bundle/*.bin      u32 LE length of variables.index, the index, then
                                   variables.data-00000-of-00001
  fuzz_tf_fixture.h                the fixed files: the module's variables/ (read by
                                   fuzz_tf_savedmodel) and its saved_model.pb of the signature
                                   that reads every variable (beside the bundles of fuzz_tf_bundle)
  corpus/fuzz_keras/*.h5|*.keras   small Keras 2 (tf-keras) and Keras 3 models, .h5 and .keras,
                                   rewritten compactly with h5py (fixed-length strings, compact
                                   datasets, new-style groups) so that they stay small
  corpus/fuzz_keras_config/*.json  "2" + each Keras 2 model's model_config; "3", a letter
                                   naming the model's weights (a = first) + each Keras 3 config.json
  fuzz_keras_fixture.h             the weights of all Keras 2 models in one .h5 (its model_config
                                   is the input), each Keras 3 model's model.weights.h5
Each stripped GraphDef is checked to import into TensorFlow (tf.graph_util.import_graph_def).
"""
import io
import json
import os
import re
import shutil
import struct
import sys
import tempfile
import zipfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
MAX_SEED = 8192

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow.core.protobuf import saved_model_pb2  # noqa: E402


# ---- stripping saved_model.pb to tf_subset.proto ----

def subset_fields():
    """{'NodeDef': {1, 2, ...}, 'TensorShapeProto.Dim': {...}} from tf_subset.proto."""
    text = open(os.path.join(REPO, "src/import/tf/tf_subset.proto")).read()
    text = re.sub(r"//[^\n]*", "", text)
    out, stack = {}, []
    for tok in re.finditer(r"message\s+(\w+)\s*\{|oneof\s+\w+\s*\{|\}|=\s*(\d+)\s*;", text):
        if tok.group(0).startswith("message"):
            stack.append(tok.group(1))
            out.setdefault(".".join(stack), set())
        elif tok.group(0).startswith("oneof"):
            stack.append(None)
        elif tok.group(0) == "}":
            stack.pop()
        else:
            names = [s for s in stack if s]
            out[".".join(names)].add(int(tok.group(2)))
    return out


SUBSET = subset_fields()


def strip(msg):
    """Clear the fields of msg (a tensorflow.* message) that tf_subset.proto does not declare."""
    name = msg.DESCRIPTOR.full_name.split(".", 1)[1]
    keep = SUBSET.get(name)
    if keep is None:
        raise SystemExit("no subset message for " + msg.DESCRIPTOR.full_name)
    for fd, val in list(msg.ListFields()):
        if fd.number not in keep:
            msg.ClearField(fd.name)
            continue
        if fd.type != fd.TYPE_MESSAGE:
            continue
        if fd.message_type.GetOptions().map_entry:
            vfd = fd.message_type.fields_by_name["value"]
            if vfd.type == vfd.TYPE_MESSAGE:
                for k in val:
                    strip(val[k])
        elif fd.is_repeated:
            for v in val:
                strip(v)
        else:
            strip(val)
    msg.DiscardUnknownFields()


def node_of(ref):
    return ref.lstrip("^").split(":")[0]


def funcs_in_attrs(nd):
    out = []
    for a in nd.attr.values():
        if a.HasField("func"):
            out.append(a.func.name)
        for f in a.list.func:
            out.append(f.name)
    return out


def prune(sm, sig_name):
    """Keep the serve meta graph, the signature sig_name, and what its outputs reach."""
    mg = sm.meta_graphs[0]
    for k in list(mg.signature_def):
        if k != sig_name:
            del mg.signature_def[k]
    sig = mg.signature_def[sig_name]
    gd = mg.graph_def
    lib = {f.signature.name: f for f in gd.library.function}
    by_name = {n.name: n for n in gd.node}
    todo = [node_of(t.name) for t in sig.outputs.values()]
    todo += [node_of(t.name) for t in sig.inputs.values()]
    seen, fns = set(), set()
    fn_todo = []
    while todo:
        n = todo.pop()
        if n in seen or n not in by_name:
            continue
        seen.add(n)
        nd = by_name[n]
        todo += [node_of(i) for i in nd.input]
        fn_todo += funcs_in_attrs(nd) + ([nd.op] if nd.op in lib else [])
    while fn_todo:
        f = fn_todo.pop()
        if f in fns or f not in lib:
            continue
        fns.add(f)
        for nd in lib[f].node_def:
            fn_todo += funcs_in_attrs(nd) + ([nd.op] if nd.op in lib else [])
    kept = [n for n in gd.node if n.name in seen]
    del gd.node[:]
    gd.node.extend(kept)
    kept_f = [f for f in gd.library.function if f.signature.name in fns]
    del gd.library.function[:]
    gd.library.function.extend(kept_f)
    og = mg.object_graph_def
    for k in list(og.concrete_functions):
        if k not in fns:
            del og.concrete_functions[k]
    del sm.meta_graphs[1:]
    strip(sm)


# ---- the TF module: one set of variables, one signature per op family ----

class Net(tf.Module):
    def __init__(self):
        super().__init__()
        r = np.random.default_rng(0)

        def var(name, *shape):
            return tf.Variable(r.standard_normal(shape).astype(np.float32), name=name)
        self.w = var("w", 4, 3)
        self.b = var("b", 3)
        self.k = var("k", 3, 3, 2, 4)
        self.kb = var("kb", 4)
        self.dw = var("dw", 3, 3, 2, 1)
        self.gamma = var("gamma", 2)
        self.beta = var("beta", 2)
        self.mean = var("mean", 2)
        self.var = tf.Variable(np.abs(r.standard_normal(2)).astype(np.float32) + 0.5, name="var")

    @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32)])
    def dense(self, x):
        return {"y": tf.nn.relu(tf.nn.bias_add(tf.matmul(x, self.w), self.b))}

    @tf.function(input_signature=[tf.TensorSpec([1, 8, 8, 2], tf.float32)])
    def conv(self, x):
        y = tf.nn.relu6(tf.nn.bias_add(tf.nn.conv2d(x, self.k, 1, "SAME"), self.kb))
        y = tf.nn.max_pool2d(y, 2, 2, "VALID")
        y = tf.nn.avg_pool2d(y, 2, 1, "SAME")
        return {"y": tf.reduce_mean(y, axis=[1, 2])}

    @tf.function(input_signature=[tf.TensorSpec([1, 8, 8, 2], tf.float32)])
    def dwbn(self, x):
        y = tf.nn.depthwise_conv2d(x, self.dw, [1, 2, 2, 1], "VALID")
        y, _, _, _, _, _ = tf.raw_ops.FusedBatchNormV3(
            x=y, scale=self.gamma, offset=self.beta, mean=self.mean, variance=self.var,
            epsilon=1e-3, is_training=False)
        y = tf.nn.leaky_relu(y, 0.2)
        y = tf.reshape(y, [1, -1])
        return {"y": tf.nn.softmax(y), "z": tf.nn.log_softmax(y)}

    @tf.function(input_signature=[tf.TensorSpec([2, 3, 4], tf.float32)])
    def shapes(self, x):
        a = tf.transpose(x, [0, 2, 1])
        c = tf.concat([x, x * 2.0], axis=1)
        p = tf.pad(x, [[0, 0], [1, 1], [0, 2]])
        mp = tf.pad(x, [[0, 0], [1, 1], [1, 1]], mode="REFLECT")
        s = x[:, 1:, ::2]
        e = tf.squeeze(tf.expand_dims(x, 1), [1])
        g = tf.gather(x, [2, 0], axis=2)
        st = tf.stack([x, x], axis=0)
        f = tf.reshape(x, [tf.shape(x)[0], -1])
        return {"a": a, "c": c, "p": p, "mp": mp, "s": s, "e": e, "g": g, "st": st, "f": f}

    @tf.function(input_signature=[tf.TensorSpec([2, 3, 4], tf.float32)])
    def elementwise(self, x):
        y = tf.sigmoid(x) + tf.tanh(x) - tf.exp(-tf.abs(x)) * tf.math.erf(x)
        y = tf.maximum(y, tf.minimum(x, 0.5)) / (tf.square(x) + 1.0)
        y = y + tf.math.rsqrt(tf.square(x) + 1.0) + tf.math.squared_difference(x, y)
        y = y + tf.cast(tf.cast(x, tf.int32), tf.float32) + tf.stop_gradient(tf.nn.elu(x))
        y = y + tf.pow(tf.abs(x) + 1.0, 0.5) + tf.math.softplus(x) + tf.math.erfc(x)
        return {"y": y,
                "r": tf.reduce_sum(y, 1) + tf.reduce_max(y, 1) + tf.reduce_min(y, 1) +
                tf.reduce_prod(y, 1)}

    @tf.function(input_signature=[tf.TensorSpec([2, 3, 4], tf.float32),
                                  tf.TensorSpec([2, 4, 5], tf.float32)])
    def matmuls(self, x, y):
        return {"bm": tf.matmul(x, y), "es": tf.einsum("bij,bjk->bik", x, y),
                "d": tf.einsum("bij,jk->bik", x, self.w)}

    @tf.function
    def inner(self, x):
        return tf.nn.relu(tf.matmul(x, self.w))

    @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32)])
    def nested(self, x):
        return {"y": self.inner(x) + self.b}

    @tf.function(input_signature=[tf.TensorSpec([1, 8, 8, 2], tf.float32),
                                  tf.TensorSpec([None, 4], tf.float32)])
    def all(self, x, v):
        c = tf.nn.conv2d(x, self.k, 2, "VALID") + self.kb
        d = tf.nn.depthwise_conv2d(x, self.dw, [1, 1, 1, 1], "SAME")
        d, _, _, _, _, _ = tf.raw_ops.FusedBatchNormV3(
            x=d, scale=self.gamma, offset=self.beta, mean=self.mean, variance=self.var,
            is_training=False)
        return {"c": c, "d": d, "m": tf.matmul(v, self.w) + self.b}


SIGS = ("dense", "conv", "dwbn", "shapes", "elementwise", "matmuls", "nested", "all")


def saved_pb(module, sig, tmp):
    d = os.path.join(tmp, sig)
    tf.saved_model.save(module, d, signatures={"serving_default": getattr(module, sig)})
    sm = saved_model_pb2.SavedModel()
    sm.ParseFromString(open(os.path.join(d, "saved_model.pb"), "rb").read())
    prune(sm, "serving_default")
    with tf.Graph().as_default():  # the stripped graph must still import into TensorFlow
        tf.graph_util.import_graph_def(sm.meta_graphs[0].graph_def, name="")
    return d, sm.SerializeToString(deterministic=True)


def tf1_const_pb():
    """A TF1-style graph: Placeholder, Const weights, no variables."""
    g = tf.Graph()
    with g.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, 4], name="x")
        w = tf.constant(np.arange(12, dtype=np.float32).reshape(4, 3), name="w")
        y = tf.identity(tf.nn.sigmoid(tf.matmul(x, w) + 1.0), name="y")
    sm = saved_model_pb2.SavedModel()
    mg = sm.meta_graphs.add()
    mg.meta_info_def.tags.append("serve")
    mg.graph_def.CopyFrom(g.as_graph_def())
    sig = mg.signature_def["serving_default"]
    sig.inputs["x"].name = x.name
    sig.inputs["x"].dtype = 1
    sig.inputs["x"].tensor_shape.CopyFrom(x.shape.as_proto())
    sig.outputs["y"].name = y.name
    sig.outputs["y"].dtype = 1
    strip(sm)
    return sm.SerializeToString(deterministic=True)


def c_array(name, data):
    lines = ["__attribute__((unused)) static const unsigned char %s[%d] = {" % (name, len(data))]
    for i in range(0, len(data), 24):
        lines.append("    " + ",".join("%d" % b for b in data[i:i + 24]) + ",")
    lines.append("};")
    return "\n".join(lines)


def write(path, data):
    if len(data) > MAX_SEED:
        print("warning: %s: %d bytes, more than %d" % (path, len(data), MAX_SEED))
    with open(path, "wb") as f:
        f.write(data)


def bundle_seed(vdir):
    idx = open(os.path.join(vdir, "variables.index"), "rb").read()
    dat = open(os.path.join(vdir, "variables.data-00000-of-00001"), "rb").read()
    return struct.pack("<I", len(idx)) + idx + dat


def make_tf(tmp):
    smd = os.path.join(HERE, "corpus/fuzz_tf_savedmodel")
    bd = os.path.join(HERE, "corpus/fuzz_tf_bundle")
    for d in (smd, bd):
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
    net = Net()
    pbs = {}
    for sig in SIGS:
        d, data = saved_pb(net, sig, tmp)
        pbs[sig] = (d, data)
        write(os.path.join(smd, sig + ".pb"), data)
    write(os.path.join(smd, "tf1_const.pb"), tf1_const_pb())
    vdir = os.path.join(pbs["all"][0], "variables")
    for sig in SIGS:  # every save wrote the same checkpoint
        for f in ("variables.index", "variables.data-00000-of-00001"):
            a = open(os.path.join(vdir, f), "rb").read()
            b = open(os.path.join(pbs[sig][0], "variables", f), "rb").read()
            if a != b:
                raise SystemExit("variables of %s differ from those of 'all'" % sig)
    write(os.path.join(bd, "tf2_object_graph.bin"), bundle_seed(vdir))
    # TF1-style bundle: no object graph, keys are the variables' own (shared) names
    names = {}
    sm = saved_model_pb2.SavedModel.FromString(pbs["all"][1])
    for n in sm.meta_graphs[0].graph_def.node:
        if n.op == "VarHandleOp":
            names[n.attr["shared_name"].s.decode()] = n.name
    keys = sorted(names)
    # map shared name -> tensor through the module's variables (their names are unique here)
    by_var = {v.name.split(":")[0]: v.numpy() for v in net.variables}
    tf1 = os.path.join(tmp, "tf1")
    os.makedirs(tf1)
    vals = [by_var[k] if k in by_var else by_var[k.rsplit("_", 1)[0]] for k in keys]
    tf.raw_ops.SaveV2(prefix=os.path.join(tf1, "variables"), tensor_names=keys,
                      shape_and_slices=[""] * len(keys), tensors=vals)
    write(os.path.join(bd, "tf1_names.bin"), bundle_seed(tf1))
    # the same plus tensors of every dtype and enough keys for several restart points
    extra = {"x/f64": np.arange(3, dtype=np.float64), "x/i32": np.arange(4, dtype=np.int32),
             "x/i64": np.arange(2, dtype=np.int64), "x/u8": np.arange(5, dtype=np.uint8),
             "x/i8": np.arange(3, dtype=np.int8), "x/i16": np.arange(2, dtype=np.int16),
             "x/u16": np.arange(2, dtype=np.uint16), "x/f16": np.ones(3, np.float16),
             "x/bool": np.array([True, False]), "x/u32": np.arange(2, dtype=np.uint32),
             "x/u64": np.arange(2, dtype=np.uint64), "x/scalar": np.float32(2.5),
             "x/str": np.array([b"ab", b"c"]), "x/r5": np.zeros((1, 1, 2, 1, 1), np.float32)}
    for i in range(40):
        extra["y/layer_%02d/kernel" % i] = np.full((1,), i, np.float32)
    extra["x/bf16"] = tf.constant([1.0, 2.0], tf.bfloat16)
    tf1x = os.path.join(tmp, "tf1x")
    os.makedirs(tf1x)
    ks = keys + sorted(extra)
    tf.raw_ops.SaveV2(prefix=os.path.join(tf1x, "variables"), tensor_names=ks,
                      shape_and_slices=[""] * len(ks), tensors=vals + [extra[k] for k in ks[len(keys):]])
    write(os.path.join(bd, "tf1_dtypes.bin"), bundle_seed(tf1x))
    hdr = ["/* fuzz_tf_fixture.h: written by mk_seeds_tf_keras.py (do not edit): the fixed files "
           "of the TF fuzz targets.",
           " * fuzz_tf_index/fuzz_tf_data: variables/ of the seeds' tf.Module (beside each "
           "fuzz_tf_savedmodel input);",
           " * fuzz_tf_pb: its saved_model.pb for the signature that reads every variable "
           "(beside each fuzz_tf_bundle input). */",
           "#ifndef TFMQ_FUZZ_TF_FIXTURE_H", "#define TFMQ_FUZZ_TF_FIXTURE_H", "",
           c_array("fuzz_tf_index", open(os.path.join(vdir, "variables.index"), "rb").read()),
           c_array("fuzz_tf_data",
                   open(os.path.join(vdir, "variables.data-00000-of-00001"), "rb").read()),
           c_array("fuzz_tf_pb", pbs["all"][1]), "", "#endif", ""]
    with open(os.path.join(HERE, "fuzz_tf_fixture.h"), "w") as f:
        f.write("\n".join(hdr))


# ---- Keras ----

TRIM_KEYS = ("trainable", "build_config", "compile_config", "module", "registered_name", "seed",
             "synchronized", "sparse", "ragged", "optional")


def trim(j):
    """Drop what the importer never reads (initializers, regularizers, ...): smaller seeds."""
    if isinstance(j, list):
        return [trim(v) for v in j]
    if not isinstance(j, dict):
        return j
    out = {}
    for k, v in j.items():
        if k in TRIM_KEYS or k.endswith(("_initializer", "_regularizer", "_constraint")):
            continue
        if k == "dtype" and isinstance(v, dict):
            continue
        out[k] = trim(v)
    return out


TRIM = False


def conv_attr(v):
    """Strings as fixed-length bytes (VL strings cost a 4 KiB global heap), JSON minified."""
    if isinstance(v, (str, bytes)):
        s = v.decode() if isinstance(v, bytes) else v
        try:
            j = json.loads(s)
            s = json.dumps(trim(j) if TRIM else j, separators=(",", ":"))
        except ValueError:
            pass
        return np.bytes_(s.encode())
    if isinstance(v, np.ndarray) and v.dtype == object:
        if not v.size:
            return np.zeros((0,), "S1")
        return np.array([x.encode() if isinstance(x, str) else x for x in v], dtype="S")
    return v


def has_data(g):
    import h5py
    return any(not isinstance(o, h5py.Group) or has_data(o) for o in g.values())


def copy_attrs(sg, dg, vl, split):
    for k, v in sg.attrs.items():
        v = v if vl else conv_attr(v)
        if split and k == "weight_names" and len(v) > 1:
            dg.attrs["weight_names0"] = v[:1]
            dg.attrs["weight_names1"] = v[1:]
            continue
        dg.attrs[k] = v


def copy_group(sg, dg, compact=True, vl=False, split=False, merge=False, attrs_last=False):
    """Copy group sg into dg: attributes, then children (groups without datasets below them are
    left out). merge: dg may already hold groups of other models (a name held twice is an
    error). attrs_last: attributes after the children (they land in continuation chunks)."""
    import h5py
    if not attrs_last:
        copy_attrs(sg, dg, vl, split)
    for k in sg:
        o = sg[k]
        if isinstance(o, h5py.Group):
            if not has_data(o):
                continue  # a weightless layer's group: the importer never opens it
            if merge and k in dg:
                copy_group(o, dg[k], compact, vl, split, merge)
                continue
            gcpl = h5py.h5p.create(h5py.h5p.GROUP_CREATE)  # new-style (compact) group
            gcpl.set_link_creation_order(h5py.h5p.CRT_ORDER_TRACKED)
            copy_group(o, h5py.Group(h5py.h5g.create(dg.id, k.encode(), gcpl=gcpl)), compact, vl,
                       split, merge, attrs_last)
            continue
        if k in dg:
            raise SystemExit("%s: two models hold dataset %s" % (dg.file.filename, o.name))
        data = np.ascontiguousarray(o[()])
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        if compact:
            dcpl.set_layout(h5py.h5d.COMPACT)
        dsid = h5py.h5d.create(dg.id, k.encode(), h5py.h5t.py_create(data.dtype),
                               h5py.h5s.create_simple(data.shape) if data.shape else
                               h5py.h5s.create(h5py.h5s.SCALAR), dcpl=dcpl)
        dsid.write(h5py.h5s.ALL, h5py.h5s.ALL, data)
        ds = h5py.Dataset(dsid)
        for a, v in o.attrs.items():
            ds.attrs[a] = conv_attr(v)
    if attrs_last:
        copy_attrs(sg, dg, vl, split)


def repack_h5(src, dst_file, compact=True, vl=False, split=False, v2=False):
    """Copy src into a compact HDF5 file. vl: keep strings variable-length (as h5py writes
    them); split: weight_names as Keras writes attributes over 64 KiB, in chunks weight_names0,
    weight_names1; v2: version 2 object headers ("OHDR", checksummed, creation order tracked),
    attributes written last so that headers continue in "OCHK" chunks."""
    import h5py
    with h5py.File(src, "r") as s, h5py.File(dst_file, "w", libver="latest" if v2 else "earliest",
                                             track_order=v2) as d:
        copy_group(s, d, compact, vl, split, attrs_last=v2)


# fuzz_keras_config's Keras 2 file: every model's weights, and a model_config attribute (fixed
# length, NUL padded) that starts with CONFIG_MARK, which the target overwrites with its input.
CONFIG_MARK = b"@@TFMQ_KERAS_CONFIG@@"
CONFIG_BYTES = 8192


def union_k2(srcs, dst):
    import h5py
    with h5py.File(dst, "w", libver="earliest") as d:
        d.attrs["backend"] = np.bytes_(b"tensorflow")
        d.attrs["model_config"] = np.array(CONFIG_MARK + b"\0" * (CONFIG_BYTES - len(CONFIG_MARK)),
                                           dtype="S%d" % CONFIG_BYTES)
        w = d.create_group("model_weights")
        for src in srcs:
            with h5py.File(src, "r") as s:
                d.attrs["keras_version"] = conv_attr(s.attrs["keras_version"])
                copy_group(s["model_weights"], w, merge=True)


def k3_weights(src, dst, tmp):
    """The model.weights.h5 of the .keras src, repacked compactly."""
    p = os.path.join(tmp, "w_k3.h5")
    with open(p, "wb") as f:
        f.write(zipfile.ZipFile(src).read("model.weights.h5"))
    repack_h5(p, dst)


def repack_keras(src, dst, tmp):
    zin = zipfile.ZipFile(src)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zo:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename.endswith(".json"):
                j = json.loads(data)
                data = json.dumps(trim(j) if TRIM else j, separators=(",", ":")).encode()
            elif info.filename.endswith(".h5"):
                p = os.path.join(tmp, "w_in.h5")
                open(p, "wb").write(data)
                repack_h5(p, os.path.join(tmp, "w_out.h5"))
                data = open(os.path.join(tmp, "w_out.h5"), "rb").read()
            zi = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            zo.writestr(zi, data)
    write(dst, out.getvalue())


def keras_models(K):
    L = K.layers
    models = {}
    models["dense"] = K.Sequential([K.Input((4,)), L.Dense(3, activation="relu"), L.Dense(2)])
    x = K.Input((6, 6, 2))
    y = L.Conv2D(3, 3, padding="same", activation="relu")(x)
    y = L.MaxPooling2D(2)(L.BatchNormalization()(y))
    models["cnn"] = K.Model(x, y)
    x = K.Input((6, 6, 2))
    y = L.GlobalAveragePooling2D()(L.DepthwiseConv2D(2, padding="valid")(x))
    models["dw"] = K.Model(x, L.Dense(2, activation="softmax")(y))
    x = K.Input((6, 6, 2))
    a = L.SeparableConv2D(2, 3, padding="same")(x)
    m = L.Concatenate()([L.Add()([a, x]), L.Multiply()([a, x])])
    y = L.GlobalMaxPooling2D()(L.LeakyReLU()(m))
    models["merge"] = K.Model(x, y)
    x = K.Input((6, 6, 2))
    b = L.ZeroPadding2D(1)(L.AveragePooling2D(2)(x))
    b = L.Conv2D(2, 1)(L.MaxPooling2D(2, strides=1)(b))
    g = L.Activation("tanh")(L.Reshape((2, 16))(L.Dropout(0.5)(L.Flatten()(b))))
    models["pool"] = K.Model(x, L.Subtract()([g, L.Maximum()([g, g])]))
    x = K.Input((5, 4))
    y = L.LayerNormalization()(x)
    y = L.Dense(4, activation="gelu")(y)
    a = L.Softmax()(L.Dot(axes=(2, 2))([y, y]))
    y = L.Dot(axes=(2, 1))([a, y])
    y = L.Average()([y, L.Minimum()([y, x])])
    y = L.GlobalAveragePooling1D()(L.ELU()(y))
    models["seq"] = K.Model(x, y)
    x = K.Input((3, 4))
    y = L.MultiHeadAttention(num_heads=1, key_dim=2)(x, x)
    models["mha"] = K.Model(x, L.ReLU(max_value=6.0)(y))
    return models


def make_keras(tmp):
    global TRIM
    import keras
    import tf_keras
    kd = os.path.join(HERE, "corpus/fuzz_keras")
    shutil.rmtree(kd, ignore_errors=True)
    os.makedirs(kd)
    keras.utils.set_random_seed(0)
    names2, names3 = [], []
    for name, m in keras_models(tf_keras).items():
        names2.append(name)
        TRIM = name != "dense"
        p = os.path.join(tmp, "k2_%s.h5" % name)
        m.save(p)
        repack_h5(p, os.path.join(kd, "k2_%s.h5" % name), compact=(name != "dense"))
        if name == "pool":
            repack_h5(p, os.path.join(kd, "k2_pool_vlstr.h5"), vl=True)
            repack_h5(p, os.path.join(kd, "k2_pool_split.h5"), split=True)
        if name == "dw":
            repack_h5(p, os.path.join(kd, "k2_dw_v2headers.h5"), v2=True)
    keras.utils.set_random_seed(0)
    for name, m in keras_models(keras).items():
        names3.append(name)
        TRIM = name != "dense"
        p = os.path.join(tmp, "k3_%s.h5" % name)
        m.save(p)
        repack_h5(p, os.path.join(kd, "k3_%s.h5" % name))
        p = os.path.join(tmp, "k3_%s.keras" % name)
        m.save(p)
        repack_keras(p, os.path.join(kd, "k3_%s.keras" % name), tmp)
    for f in sorted(os.listdir(kd)):
        s = os.path.getsize(os.path.join(kd, f))
        if s > MAX_SEED:
            print("warning: %s: %d bytes" % (f, s))
    # fuzz_keras_config: "2" + a Keras 2 model_config, "3" + a Keras 3 config.json, read beside
    # the fixed weights of every model (fuzz_keras_fixture.h)
    cd = os.path.join(HERE, "corpus/fuzz_keras_config")
    shutil.rmtree(cd, ignore_errors=True)
    os.makedirs(cd)
    import h5py
    for name in names2:
        with h5py.File(os.path.join(tmp, "k2_%s.h5" % name), "r") as f:
            j = json.loads(f.attrs["model_config"])
        write(os.path.join(cd, "k2_%s.json" % name), b"2" + json.dumps(j).encode())
    for i, name in enumerate(names3):
        j = json.loads(zipfile.ZipFile(os.path.join(tmp, "k3_%s.keras" % name)).read("config.json"))
        write(os.path.join(cd, "k3_%s.json" % name), b"3" + bytes([97 + i]) + json.dumps(j).encode())
    u2 = os.path.join(tmp, "union2.h5")
    union_k2([os.path.join(tmp, "k2_%s.h5" % n) for n in names2], u2)
    arrays = [c_array("fuzz_keras_k2_h5", open(u2, "rb").read())]
    for i, name in enumerate(names3):
        p = os.path.join(tmp, "w3_%d.h5" % i)
        k3_weights(os.path.join(tmp, "k3_%s.keras" % name), p, tmp)
        arrays.append(c_array("fuzz_keras_k3_w%d" % i, open(p, "rb").read()))
    arrays.append("__attribute__((unused)) static const struct {\n    const unsigned char *p;\n"
                  "    size_t n;\n} fuzz_keras_k3_weights[%d] = {\n" % len(names3) +
                  "".join("    {fuzz_keras_k3_w%d, sizeof(fuzz_keras_k3_w%d)}, /* %s */\n"
                          % (i, i, n) for i, n in enumerate(names3)) + "};")
    meta = zipfile.ZipFile(os.path.join(tmp, "k3_dense.keras")).read("metadata.json")
    arrays.append(c_array("fuzz_keras_k3_meta", meta))
    hdr = ["/* fuzz_keras_fixture.h: written by mk_seeds_tf_keras.py (do not edit): the fixed "
           "files of fuzz_keras_config.",
           " * fuzz_keras_k2_h5: a Keras 2 .h5 with the weights of every seed model and a "
           "model_config of %d bytes" % CONFIG_BYTES,
           " * starting with FUZZ_KERAS_CONFIG_MARK, overwritten with the input; "
           "fuzz_keras_k3_weights: the",
           " * model.weights.h5 of each Keras 3 seed model (in seed order); fuzz_keras_k3_meta: "
           "a metadata.json. */",
           "#ifndef TFMQ_FUZZ_KERAS_FIXTURE_H", "#define TFMQ_FUZZ_KERAS_FIXTURE_H", "",
           "#include <stddef.h>", "",
           "#define FUZZ_KERAS_CONFIG_MARK \"%s\"" % CONFIG_MARK.decode(),
           "#define FUZZ_KERAS_CONFIG_BYTES %d" % CONFIG_BYTES, ""] + arrays + ["", "#endif", ""]
    with open(os.path.join(HERE, "fuzz_keras_fixture.h"), "w") as f:
        f.write("\n".join(hdr))


def main():
    with tempfile.TemporaryDirectory() as tmp:
        make_tf(tmp)
    with tempfile.TemporaryDirectory() as tmp:
        make_keras(tmp)


if __name__ == "__main__":
    main()
