#!/usr/bin/python3
"""make_corpus.py: generate the bad-input corpus for the tfmq CLI.

Writes malformed and hostile model files, plus .npy inputs that misuse a valid model, into
OUTDIR (a build directory, never the repository), and a manifest OUTDIR/cases.tsv that
run_badinput.sh executes. Each manifest line is tab-separated:
    case-id  allowed-exit-codes(comma list)  needle(s) the stderr must contain ('|' = any of)  argv...
argv paths are relative to OUTDIR. Needs Debian's python3 with onnx (1.12) and numpy.

usage: make_corpus.py OUTDIR [--conformance-data DIR]
"""
import argparse
import os
import random
import shutil
import struct
import sys
import zlib

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def model_bytes(graph, opset=13, ir_version=8, extra_opsets=()):
    opsets = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, v) for d, v in extra_opsets]
    m = helper.make_model(graph, opset_imports=opsets, producer_name="tfmq-badinput")
    m.ir_version = ir_version
    return m.SerializeToString()


def vi(name, dtype, shape):
    return helper.make_tensor_value_info(name, dtype, shape)


def relu_graph(in_shape=(2, 3), dtype=TensorProto.FLOAT, name="relu"):
    node = helper.make_node("Relu", ["X"], ["Y"], name="relu0")
    return helper.make_graph([node], name, [vi("X", dtype, list(in_shape))],
                             [vi("Y", dtype, list(in_shape))])


def raw_initializer(name, dims, raw, dtype=TensorProto.FLOAT):
    t = TensorProto()
    t.name = name
    t.data_type = dtype
    t.dims.extend(dims)
    t.raw_data = raw
    return t


def add_with_init(init, init_shape_for_io=(2, 2)):
    """Y = X + W, with W given by `init`."""
    node = helper.make_node("Add", ["X", init.name], ["Y"], name="add0")
    return helper.make_graph([node], "add_init", [vi("X", TensorProto.FLOAT, list(init_shape_for_io))],
                             [vi("Y", TensorProto.FLOAT, None)], initializer=[init])


def external_initializer(name, dims, location, offset=None, length=None):
    t = TensorProto()
    t.name = name
    t.data_type = TensorProto.FLOAT
    t.dims.extend(dims)
    t.data_location = TensorProto.EXTERNAL
    e = t.external_data.add()
    e.key, e.value = "location", location
    if offset is not None:
        e = t.external_data.add()
        e.key, e.value = "offset", str(offset)
    if length is not None:
        e = t.external_data.add()
        e.key, e.value = "length", str(length)
    return t


def parses(data):
    try:
        m = onnx.ModelProto()
        m.ParseFromString(data)
        return True
    except Exception:  # noqa: BLE001 - any decode error means "does not parse"
        return False


def tiny_png():
    raw = b"".join(b"\x00" + bytes([x * 40, 255 - x * 40, 128] * 4) for x in range(4))
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def tiny_jpeg_header():
    # SOI, APP0/JFIF, a quantisation table and EOI: what `file` calls JPEG image data.
    app0 = b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    dqt = bytes([0]) + bytes(range(1, 65))
    return (b"\xff\xd8" + b"\xff\xe0" + struct.pack(">H", len(app0) + 2) + app0
            + b"\xff\xdb" + struct.pack(">H", len(dqt) + 2) + dqt + b"\xff\xd9")


class Corpus:
    def __init__(self, out):
        self.out = out
        self.lines = []
        os.makedirs(os.path.join(out, "models"), exist_ok=True)
        os.makedirs(os.path.join(out, "inputs"), exist_ok=True)

    def write(self, rel, data):
        path = os.path.join(self.out, rel)
        with open(path, "wb") as f:
            f.write(data)
        return rel

    def case(self, cid, codes, needles, *argv):
        self.lines.append("\t".join([cid, codes, needles] + list(argv)))

    def bad_model(self, name, data, inspect_codes="1", run_codes="1", run_args=()):
        """A model file that `inspect` and `run` must reject (or, where a code list allows 0,
        may accept) with a message naming it."""
        rel = self.write("models/" + name, data)
        self.case("inspect:" + name, inspect_codes, name, "inspect", rel)
        if not run_args:
            run_args = ("--output-dir", "out/" + name)
        self.case("run:" + name, run_codes, name, "run", rel, *run_args)

    def save(self):
        with open(os.path.join(self.out, "cases.tsv"), "w") as f:
            f.write("\n".join(self.lines) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("outdir")
    ap.add_argument("--conformance-data", default="/usr/include/onnx/backend/test/data")
    args = ap.parse_args()
    out = args.outdir
    if os.path.isdir(out):
        shutil.rmtree(out)
    c = Corpus(out)
    rng = random.Random(20240601)
    F = TensorProto.FLOAT

    # ---- not models at all ----
    c.bad_model("empty.onnx", b"")
    c.bad_model("random_4k.onnx", bytes(rng.getrandbits(8) for _ in range(4096)))
    c.bad_model("random_17.onnx", bytes(rng.getrandbits(8) for _ in range(17)))
    c.bad_model("zeros_1k.onnx", bytes(1024))
    c.bad_model("ff_1k.onnx", b"\xff" * 1024)
    c.bad_model("image.png", tiny_png())
    c.bad_model("photo.jpg", tiny_jpeg_header())
    c.bad_model("notes.txt", b"This is a text file, not an ONNX model.\nline two\n")
    m = onnx.ModelProto()
    m.ir_version = 8
    m.opset_import.extend([helper.make_opsetid("", 13)])
    c.bad_model("no_graph.onnx", m.SerializeToString())
    m = onnx.ModelProto()
    m.ir_version = 8
    c.bad_model("only_ir_version.onnx", m.SerializeToString())

    # ---- truncated real models: cut points that no longer parse ----
    sources = [os.path.join(args.conformance_data, "pytorch-converted/test_Conv2d/model.onnx"),
               os.path.join(args.conformance_data,
                            "node/test_layer_normalization_4d_axis_negative_1_expanded/model.onnx")]
    for si, src in enumerate(sources):
        if os.path.exists(src):
            data = open(src, "rb").read()
        else:  # no conformance data: a generated model with a weight tensor instead
            w = np.arange(64, dtype=np.float32).reshape(8, 8)
            data = model_bytes(add_with_init(numpy_helper.from_array(w, "W"), (8, 8)))
        n = len(data)
        cuts = sorted({1, 2, 7, n // 5, n // 3, n // 2, (2 * n) // 3, n - 9, n - 1})
        for cut in cuts:
            if 0 < cut < n and not parses(data[:cut]):
                c.bad_model("trunc%d_%d.onnx" % (si, cut), data[:cut])
        # corrupt a length prefix in the middle: flip bytes into 0xff
        bad = bytearray(data)
        for k in range(n // 4, n // 4 + 4):
            bad[k] = 0xff
        if not parses(bytes(bad)):
            c.bad_model("corrupt%d.onnx" % si, bytes(bad))

    # ---- structurally invalid graphs ----
    node = helper.make_node("Add", ["X", "nowhere"], ["Y"], name="add_dangling")
    c.bad_model("dangling.onnx", model_bytes(helper.make_graph(
        [node], "g", [vi("X", F, [2])], [vi("Y", F, [2])])))
    nodes = [helper.make_node("Add", ["X", "b"], ["a"], name="cyc_a"),
             helper.make_node("Relu", ["a"], ["b"], name="cyc_b"),
             helper.make_node("Neg", ["b"], ["Y"], name="cyc_out")]
    c.bad_model("cycle.onnx", model_bytes(helper.make_graph(
        nodes, "g", [vi("X", F, [2])], [vi("Y", F, [2])])))
    nodes = [helper.make_node("Relu", ["X"], ["Y"], name="p1"),
             helper.make_node("Neg", ["X"], ["Y"], name="p2")]
    c.bad_model("dup_producer.onnx", model_bytes(helper.make_graph(
        nodes, "g", [vi("X", F, [2])], [vi("Y", F, [2])])))
    c.bad_model("output_unproduced.onnx", model_bytes(helper.make_graph(
        [helper.make_node("Relu", ["X"], ["Y"])], "g", [vi("X", F, [2])],
        [vi("Y", F, [2]), vi("Ghost", F, [2])])))
    c.bad_model("wrong_arity.onnx", model_bytes(helper.make_graph(
        [helper.make_node("Relu", ["X", "X"], ["Y"], name="relu2")], "g", [vi("X", F, [2])],
        [vi("Y", F, [2])])))
    c.bad_model("bad_attr_type.onnx", model_bytes(helper.make_graph(
        [helper.make_node("LeakyRelu", ["X"], ["Y"], name="lr", alpha="not a number")], "g",
        [vi("X", F, [2])], [vi("Y", F, [2])])))
    c.bad_model("conv_bad_kernel.onnx", model_bytes(helper.make_graph(
        [helper.make_node("Conv", ["X", "W"], ["Y"], name="conv", kernel_shape=[3, 3, 3, 3, 3])],
        "g", [vi("X", F, [1, 1, 4, 4])], [vi("Y", F, None)],
        initializer=[numpy_helper.from_array(np.ones((1, 1, 3, 3), np.float32), "W")])))

    # ---- hostile shapes and tensors ----
    c.bad_model("absurd_init.onnx", model_bytes(add_with_init(
        raw_initializer("W", [1000000, 1000000], b""))))                      # 1e12 elements
    c.bad_model("overflow_init.onnx", model_bytes(add_with_init(
        raw_initializer("W", [1 << 62, 1 << 62, 4], b""))))                   # product > int64
    c.bad_model("neg_dims_init.onnx", model_bytes(add_with_init(
        raw_initializer("W", [-1, 4], b"\x00" * 16))))
    c.bad_model("short_raw.onnx", model_bytes(add_with_init(
        raw_initializer("W", [4, 4], b"\x00" * 8))))
    c.bad_model("long_raw.onnx", model_bytes(add_with_init(
        raw_initializer("W", [2, 2], b"\x00" * 64))))
    w = TensorProto(name="W", data_type=F, dims=[3, 3])
    w.float_data.extend([1.0, 2.0])                                            # 2 of 9 values
    c.bad_model("short_float_data.onnx", model_bytes(add_with_init(w, (3, 3))))
    c.bad_model("string_init.onnx", model_bytes(add_with_init(
        helper.make_tensor("W", TensorProto.STRING, [2], [b"a", b"b"]))))
    c.bad_model("complex_input.onnx", model_bytes(helper.make_graph(
        [helper.make_node("Identity", ["X"], ["Y"])], "g", [vi("X", TensorProto.COMPLEX64, [2])],
        [vi("Y", TensorProto.COMPLEX64, [2])])))
    # absurd but well-formed shapes of inputs and computed tensors: loading may succeed, running
    # must fail cleanly (the run gets a small input, or none)
    np.save(os.path.join(out, "inputs", "x_1x1.npy"), np.zeros((1, 1), np.float32))
    c.bad_model("absurd_input.onnx", model_bytes(relu_graph((1000000, 1000000))), inspect_codes="0,1",
                run_args=("--input", "X=inputs/x_1x1.npy", "--output-dir", "out/absurd_input"))
    c.bad_model("overflow_input.onnx", model_bytes(relu_graph((1 << 62, 1 << 62))), inspect_codes="0,1",
                run_args=("--input", "X=inputs/x_1x1.npy", "--output-dir", "out/overflow_input"))
    c.bad_model("neg_dims_input.onnx", model_bytes(relu_graph((-5, 3))), inspect_codes="0,1",
                run_args=("--input", "X=inputs/x_1x1.npy", "--output-dir", "out/neg_dims_input"))
    shape = numpy_helper.from_array(np.array([1000000, 1000000], np.int64), "shape")
    c.bad_model("absurd_constant_of_shape.onnx", model_bytes(helper.make_graph(
        [helper.make_node("ConstantOfShape", ["shape"], ["Y"], name="cos")], "g", [],
        [vi("Y", F, None)], initializer=[shape])), inspect_codes="0,1",
        run_args=("--output-dir", "out/absurd_cos"))
    shape = numpy_helper.from_array(np.array([1 << 40, 1 << 40], np.int64), "shape")
    c.bad_model("overflow_expand.onnx", model_bytes(helper.make_graph(
        [helper.make_node("Expand", ["X", "shape"], ["Y"], name="expand")], "g",
        [vi("X", F, [1, 1])], [vi("Y", F, None)], initializer=[shape])), inspect_codes="0,1",
        run_args=("--input", "X=inputs/x_1x1.npy", "--output-dir", "out/overflow_expand"))
    c.bad_model("rank20_input.onnx", model_bytes(relu_graph((1,) * 20)))

    # ---- external data ----
    c.write("secret.bin", b"\x00" * 64)                       # exists, but outside models/
    open(os.path.join(out, "models", "weights.bin"), "wb").write(b"\x00" * 16)
    c.bad_model("ext_missing.onnx", model_bytes(add_with_init(
        external_initializer("W", [2, 2], "missing_weights.bin"))))
    c.bad_model("ext_dotdot.onnx", model_bytes(add_with_init(
        external_initializer("W", [2, 2], "../secret.bin"))))
    c.bad_model("ext_dotdot_nested.onnx", model_bytes(add_with_init(
        external_initializer("W", [2, 2], "sub/../../secret.bin"))))
    c.bad_model("ext_absolute.onnx", model_bytes(add_with_init(
        external_initializer("W", [2, 2], os.path.abspath(os.path.join(out, "secret.bin"))))))
    c.bad_model("ext_etc_passwd.onnx", model_bytes(add_with_init(
        external_initializer("W", [2, 2], "/etc/passwd"))))
    c.bad_model("ext_past_end.onnx", model_bytes(add_with_init(
        external_initializer("W", [2, 2], "weights.bin", offset=8, length=16))))
    c.bad_model("ext_huge_offset.onnx", model_bytes(add_with_init(
        external_initializer("W", [2, 2], "weights.bin", offset=(1 << 63) - 1, length=16))))
    c.bad_model("ext_short_file.onnx", model_bytes(add_with_init(
        external_initializer("W", [4, 4], "weights.bin"))))    # needs 64 bytes, file has 16

    # ---- unsupported or too new ----
    c.bad_model("unknown_op.onnx", model_bytes(helper.make_graph(
        [helper.make_node("FrobnicateTensor", ["X"], ["Y"], name="frob")], "g",
        [vi("X", F, [2])], [vi("Y", F, [2])])))
    c.bad_model("unknown_domain.onnx", model_bytes(helper.make_graph(
        [helper.make_node("Relu", ["X"], ["Y"], name="r", domain="com.example.unknown")], "g",
        [vi("X", F, [2])], [vi("Y", F, [2])]), extra_opsets=[("com.example.unknown", 1)]))
    c.bad_model("new_opset.onnx", model_bytes(relu_graph(), opset=999))
    c.bad_model("new_ir_version.onnx", model_bytes(relu_graph(), ir_version=99))
    c.bad_model("zero_opset.onnx", model_bytes(relu_graph(), opset=0))

    # ---- run-time misuse of a valid model (Relu, X float32 [2,3] -> Y) ----
    good = c.write("models/good.onnx", model_bytes(relu_graph()))
    x = np.array([[-1, 2, -3], [4, -5, 6]], np.float32)
    np.save(os.path.join(out, "inputs", "x.npy"), x)
    np.save(os.path.join(out, "inputs", "x_3x2.npy"), x.reshape(3, 2))
    np.save(os.path.join(out, "inputs", "x_rank1.npy"), x.reshape(6))
    np.save(os.path.join(out, "inputs", "x_rank3.npy"), x.reshape(1, 2, 3))
    np.save(os.path.join(out, "inputs", "x_int64.npy"), x.astype(np.int64))
    np.save(os.path.join(out, "inputs", "x_float64.npy"), x.astype(np.float64))
    np.save(os.path.join(out, "inputs", "x_fortran.npy"), np.asfortranarray(x))
    np.save(os.path.join(out, "inputs", "x_empty.npy"), np.zeros((0, 3), np.float32))
    np.save(os.path.join(out, "inputs", "x_bigendian.npy"), x.astype(">f4"))
    np.save(os.path.join(out, "inputs", "x_object.npy"), np.array([1, "a"], dtype=object),
            allow_pickle=True)
    npy = open(os.path.join(out, "inputs", "x.npy"), "rb").read()
    c.write("inputs/x_truncated.npy", npy[: len(npy) - 7])
    c.write("inputs/x_header_only.npy", npy[:20])
    c.write("inputs/not_npy.npy", b"hello, I am not a numpy file\n")
    hdr = b"{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, 1000000), }"
    hdr += b" " * (118 - len(hdr)) + b"\n"
    c.write("inputs/x_huge_header.npy", b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) + hdr
            + b"\x00" * 16)
    hdr = b"{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 8), }"
    hdr += b" " * (118 - len(hdr)) + b"\n"
    c.write("inputs/x_overflow_header.npy", b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr))
            + hdr + b"\x00" * 16)

    def run(cid, codes, needles, *inputs):
        argv = ["run", good]
        for i in inputs:
            argv += ["--input", i]
        argv += ["--output-dir", "out/" + cid]
        c.case("run:" + cid, codes, needles, *argv)

    run("control_ok", "0", "-", "X=inputs/x.npy")                # the control: must succeed
    run("wrong_name", "1", "nosuch", "nosuch=inputs/x.npy")
    run("missing_input", "1", "X")
    run("duplicate_input", "1", "X", "X=inputs/x.npy", "X=inputs/x.npy")
    run("wrong_shape", "1", "x_3x2.npy|'X'|X:", "X=inputs/x_3x2.npy")
    run("wrong_rank1", "1", "x_rank1.npy|'X'|X:", "X=inputs/x_rank1.npy")
    run("wrong_rank3", "1", "x_rank3.npy|'X'|X:", "X=inputs/x_rank3.npy")
    run("wrong_dtype_int64", "1", "x_int64.npy|'X'|X:", "X=inputs/x_int64.npy")
    run("wrong_dtype_float64", "1", "x_float64.npy|'X'|X:", "X=inputs/x_float64.npy")
    run("empty_tensor", "1", "x_empty.npy|'X'|X:", "X=inputs/x_empty.npy")
    run("fortran_order", "1", "x_fortran.npy", "X=inputs/x_fortran.npy")
    run("object_npy", "1", "x_object.npy", "X=inputs/x_object.npy")
    run("truncated_npy", "1", "x_truncated.npy", "X=inputs/x_truncated.npy")
    run("header_only_npy", "1", "x_header_only.npy", "X=inputs/x_header_only.npy")
    run("not_npy", "1", "not_npy.npy", "X=inputs/not_npy.npy")
    run("huge_npy_header", "1", "x_huge_header.npy", "X=inputs/x_huge_header.npy")
    run("overflow_npy_header", "1", "x_overflow_header.npy", "X=inputs/x_overflow_header.npy")
    run("missing_npy", "1", "does_not_exist.npy", "X=inputs/does_not_exist.npy")
    run("bare_file_one_input", "0", "-", "inputs/x.npy")         # documented: one input
    run("big_endian", "1", "x_bigendian.npy", "X=inputs/x_bigendian.npy")
    # an output file that exists is kept unless --force is given
    os.makedirs(os.path.join(out, "existing_out"), exist_ok=True)
    np.save(os.path.join(out, "existing_out", "Y.npy"), np.zeros(1, np.float32))
    c.case("run:existing_output", "1", "Y.npy|existing_out", "run", good, "--input",
           "X=inputs/x.npy", "--output-dir", "existing_out")
    c.case("run:existing_output_force", "0", "-", "run", good, "--input", "X=inputs/x.npy",
           "--output-dir", "existing_out", "--force")
    c.write("a_file", b"not a directory\n")
    c.case("run:output_dir_is_file", "1", "a_file", "run", good, "--input", "X=inputs/x.npy",
           "--output-dir", "a_file")
    # a model with two inputs needs NAME=FILE
    g2 = helper.make_graph([helper.make_node("Add", ["A", "B"], ["C"], name="add")], "two",
                           [vi("A", F, [2, 3]), vi("B", F, [2, 3])], [vi("C", F, [2, 3])])
    two = c.write("models/two_inputs.onnx", model_bytes(g2))
    c.case("run:no_equals_two_inputs", "1", "inputs/x.npy", "run", two, "--input", "inputs/x.npy",
           "--output-dir", "out/no_equals")
    c.case("run:one_of_two_inputs", "1", "'B'|B", "run", two, "--input", "A=inputs/x.npy",
           "--output-dir", "out/one_of_two")
    c.case("run:two_inputs_ok", "0", "-", "run", two, "--input", "A=inputs/x.npy", "--input",
           "B=inputs/x.npy", "--output-dir", "out/two_ok")
    run("empty_name", "1", "=inputs/x.npy|input", "=inputs/x.npy")
    c.case("run:missing_model", "1", "no_such_model.onnx", "run", "models/no_such_model.onnx",
           "--input", "X=inputs/x.npy", "--output-dir", "out/missing_model")
    c.case("inspect:missing_model", "1", "no_such_model.onnx", "inspect", "models/no_such_model.onnx")
    c.case("inspect:directory", "1", "models", "inspect", "models")
    c.case("inspect:good_json", "0", "-", "inspect", good, "--json")
    # planning an engine on a GPU (--device cuda): options checked before any work; without a
    # usable GPU (or CUDA backend) a clear error and no engine file
    c.case("quantize:plan_batch_without_device", "1", "--device cuda", "quantize", good,
           "--precision", "fp16", "-o", "out/q1.tfmq", "--plan-batch", "1")
    c.case("quantize:bad_device", "1", "tpu", "quantize", good, "--precision", "fp16", "-o",
           "out/q2.tfmq", "--device", "tpu")
    c.case("quantize:bad_plan_batch", "1", "1..65536", "quantize", good, "--precision", "fp16",
           "-o", "out/q3.tfmq", "--device", "cuda", "--plan-batch", "1,0")
    c.case("quantize:cuda_unavailable", "1,2", "cuda", "quantize", good, "--precision", "fp16",
           "-o", "out/q4.tfmq", "--device", "cuda:1023")
    c.save()
    print("make_corpus: %d cases in %s" % (len(c.lines), os.path.join(out, "cases.tsv")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
