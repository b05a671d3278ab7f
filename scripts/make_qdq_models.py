#!/usr/bin/env python3
"""Pre-quantized ONNX test models, made with onnxruntime.quantization from the
small float models in models/.

Three flavours (all standard-domain ONNX ops, opset 13, no com.microsoft ops):

  *_qdq   quantize_static, QuantFormat.QDQ: QuantizeLinear/DequantizeLinear pairs
          around float ops. Activations and weights QInt8, symmetric
          (extra_options ActivationSymmetric / WeightSymmetric, so every zero
          point is 0), per-channel weights (DequantizeLinear with axis), int32
          biases. MinMax calibration.
  *_qop   quantize_static, QuantFormat.QOperator: QLinearConv / QLinearMatMul
          between QuantizeLinear and DequantizeLinear. Activations QUInt8
          asymmetric (non-zero zero points), weights QInt8 symmetric, per-channel
          for Conv. Only Conv and MatMul are quantized (op_types_to_quantize) so
          that no contrib op (QGemm, QLinearAdd, QLinearAveragePool) appears; Gemm
          is first rewritten to MatMul + Add (ORT's ONNXModel.replace_gemm_with_matmul).
  *_dyn   quantize_dynamic: DynamicQuantizeLinear + MatMulInteger / ConvInteger,
          Cast, Mul (scales), Add (bias). Weights QInt8 for MatMul, QUInt8 for Conv
          (onnxruntime's CPU ConvInteger takes uint8 weights only).

Calibration data: models/digits/calib_x_{flat,img}.npy (256 samples) for the
digits models, models/fashion/calib_x_128.npy for the Fashion-MNIST CNN, and 32
seeded standard-normal samples for the models/ops cases (their inputs are
standard normal too).

For each model NAME this writes to models/qdq/:
    NAME.onnx, NAME.input.npy (the source's committed sample / op input),
    NAME.output.npy (onnxruntime, CPU, 1 thread, graph optimisations off)
and models/qdq/MANIFEST.json with op types, quantization settings, the
difference to the float model on that input, top-1 on the committed test sets
for the classifiers, and sha256 of every file; then models/MANIFEST.json.

onnxruntime 1.17's quantization tool needs onnx >= 1.14 (onnx.reference and
the float8 types), newer than Debian's onnx 1.12 used by the torch exports, so
this script runs in its own venv target/pyenv-quant (scripts/requirements-quant.txt),
which scripts/setup_python.sh also creates. Run train_digits.py and
train_fashion.py first (their outputs are committed, so normally nothing to do).

Usage:
    bash scripts/setup_python.sh
    target/pyenv-quant/bin/python scripts/make_qdq_models.py [--list] [--only a,b]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    MODELS,
    ort_run,
    rel,
    save_npy,
    sha256_file,
    update_models_manifest,
    versions,
    write_json,
)

OUT = MODELS / "qdq"
N_OP_CALIB = 32


# ----------------------------------------------------------------------------
# sources: name -> (float model, committed input, calibration array, test set)
# ----------------------------------------------------------------------------


def _digits(kind):
    d = MODELS / "digits"
    return {
        "model": MODELS / f"digits_{kind}.onnx",
        "input": np.load(d / f"sample0_{'flat' if kind == 'mlp' else 'img'}.npy"),
        "calib": np.load(d / f"calib_x_{'flat' if kind == 'mlp' else 'img'}.npy"),
        "calib_desc": f"models/digits/calib_x_{'flat' if kind == 'mlp' else 'img'}.npy (256)",
        "test": (np.load(d / f"test_x_{'flat' if kind == 'mlp' else 'img'}.npy"),
                 np.load(d / "test_y.npy"), "models/digits test split (360)"),
    }


def _fashion():
    d = MODELS / "fashion"
    return {
        "model": MODELS / "fashion_cnn.onnx",
        "input": np.load(d / "sample0.npy"),
        "calib": np.load(d / "calib_x_128.npy"),
        "calib_desc": "models/fashion/calib_x_128.npy (128)",
        "test": (np.load(d / "test_x_200.npy"), np.load(d / "test_y_200.npy"),
                 "models/fashion/test_x_200.npy (200)"),
    }


def _op(name):
    x = np.load(MODELS / "ops" / f"{name}.input.npy")
    rng = np.random.default_rng(1000)
    calib = rng.standard_normal((N_OP_CALIB,) + x.shape[1:]).astype(np.float32)
    return {
        "model": MODELS / "ops" / f"{name}.onnx",
        "input": x,
        "calib": calib,
        "calib_desc": f"{N_OP_CALIB} standard-normal samples, numpy default_rng(1000)",
        "test": None,
    }


SOURCES = {
    "digits_mlp": lambda: _digits("mlp"),
    "digits_cnn": lambda: _digits("cnn"),
    "fashion_cnn": _fashion,
    "conv": lambda: _op("conv"),
    "residual": lambda: _op("residual"),
    "net_tiny_cnn": lambda: _op("net_tiny_cnn"),
    "net_mobilenet_block": lambda: _op("net_mobilenet_block"),
}

# (output name, source, flavour)
CASES = [
    ("digits_mlp_qdq", "digits_mlp", "qdq"),
    ("digits_cnn_qdq", "digits_cnn", "qdq"),
    ("fashion_cnn_qdq", "fashion_cnn", "qdq"),
    ("conv_qdq", "conv", "qdq"),
    ("residual_qdq", "residual", "qdq"),
    ("net_tiny_cnn_qdq", "net_tiny_cnn", "qdq"),
    ("net_mobilenet_block_qdq", "net_mobilenet_block", "qdq"),
    ("digits_mlp_qop", "digits_mlp", "qop"),
    ("digits_cnn_qop", "digits_cnn", "qop"),
    ("fashion_cnn_qop", "fashion_cnn", "qop"),
    ("conv_qop", "conv", "qop"),
    ("residual_qop", "residual", "qop"),
    ("digits_mlp_dyn", "digits_mlp", "dyn"),
    ("digits_cnn_dyn", "digits_cnn", "dyn"),
]


# ----------------------------------------------------------------------------
# quantization
# ----------------------------------------------------------------------------


def _reader(xs):
    from onnxruntime.quantization import CalibrationDataReader

    class Reader(CalibrationDataReader):
        def __init__(self):
            self._it = iter([{"input": xs[i : i + 1]} for i in range(xs.shape[0])])

        def get_next(self):
            return next(self._it, None)

    return Reader()


def _gemm_to_matmul(src: Path, dst: Path) -> None:
    import onnx
    from onnxruntime.quantization.onnx_model import ONNXModel

    m = ONNXModel(onnx.load(str(src)))
    m.replace_gemm_with_matmul()
    m.topological_sort()
    onnx.save(m.model, str(dst))


def quantize(flavour: str, src: dict, dst: Path, tmp: Path) -> dict:
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )

    model = src["model"]
    if flavour == "qdq":
        settings = dict(quant_format=QuantFormat.QDQ, activation_type=QuantType.QInt8,
                        weight_type=QuantType.QInt8, per_channel=True,
                        calibrate_method=CalibrationMethod.MinMax,
                        extra_options={"ActivationSymmetric": True, "WeightSymmetric": True})
        quantize_static(str(model), str(dst), _reader(src["calib"]), **settings)
        desc = {"format": "QDQ", "activations": "int8 symmetric", "weights": "int8 symmetric",
                "per_channel": True, "calibration": "MinMax, " + src["calib_desc"]}
    elif flavour == "qop":
        mm = tmp / f"{model.stem}.matmul.onnx"
        _gemm_to_matmul(model, mm)
        settings = dict(quant_format=QuantFormat.QOperator, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8, per_channel=True,
                        op_types_to_quantize=["Conv", "MatMul"],
                        calibrate_method=CalibrationMethod.MinMax,
                        extra_options={"ActivationSymmetric": False, "WeightSymmetric": True})
        quantize_static(str(mm), str(dst), _reader(src["calib"]), **settings)
        desc = {"format": "QOperator", "activations": "uint8 asymmetric",
                "weights": "int8 symmetric", "per_channel": True,
                "quantized_op_types": ["Conv", "MatMul"],
                "preprocess": "Gemm -> MatMul + Add",
                "calibration": "MinMax, " + src["calib_desc"]}
    elif flavour == "dyn":
        has_conv = any(n.op_type == "Conv" for n in _load(model).graph.node)
        wt = QuantType.QUInt8 if has_conv else QuantType.QInt8
        quantize_dynamic(str(model), str(dst), weight_type=wt, per_channel=False,
                         op_types_to_quantize=["Conv", "MatMul"])
        desc = {"format": "dynamic (IntegerOps)", "activations": "uint8 asymmetric, dynamic",
                "weights": f"{'uint8' if has_conv else 'int8'} asymmetric",
                "per_channel": False, "quantized_op_types": ["Conv", "MatMul"],
                "preprocess": "Gemm -> MatMul + Add (done by quantize_dynamic)",
                "calibration": None}
    else:
        raise ValueError(flavour)
    return desc


def _load(path):
    import onnx

    return onnx.load(str(path))


def op_types(path: Path) -> list:
    seen = []
    for n in _load(path).graph.node:
        t = n.op_type if n.domain in ("", "ai.onnx") else f"{n.domain}.{n.op_type}"
        if t not in seen:
            seen.append(t)
    return seen


def top1(path: Path, xs: np.ndarray, ys: np.ndarray) -> float:
    from common import ort_session

    sess = ort_session(path)
    pred = [int(np.argmax(sess.run(None, {"input": xs[i : i + 1]})[0])) for i in range(len(xs))]
    return float((np.asarray(pred) == ys).mean())


def make_case(name: str, src_name: str, flavour: str, tmp: Path) -> dict:
    import onnx

    src = SOURCES[src_name]()
    onnx_path = OUT / f"{name}.onnx"
    desc = quantize(flavour, src, onnx_path, tmp)
    m = onnx.load(str(onnx_path))
    onnx.checker.check_model(m, full_check=True)
    domains = sorted({n.domain or "ai.onnx" for n in m.graph.node})
    opset = {o.domain or "ai.onnx": int(o.version) for o in m.opset_import}

    x = src["input"].astype(np.float32)
    y = ort_run(onnx_path, x)
    y_float = ort_run(src["model"], x)
    in_path, out_path = OUT / f"{name}.input.npy", OUT / f"{name}.output.npy"
    save_npy(in_path, x)
    save_npy(out_path, y)
    entry = {
        "name": name,
        "source": rel(src["model"]),
        **desc,
        "opset": opset,
        "domains": domains,
        "op_types": op_types(onnx_path),
        "input_shape": list(x.shape),
        "output_shape": list(y.shape),
        "max_abs_diff_vs_float": round(float(np.abs(y - y_float).max()), 6),
        "max_abs_float_output": round(float(np.abs(y_float).max()), 6),
    }
    if src["test"] is not None:
        xs, ys, tdesc = src["test"]
        entry["top1"] = {"test_set": tdesc, "float": round(top1(src["model"], xs, ys), 6),
                         "quantized": round(top1(onnx_path, xs, ys), 6)}
    files = {"onnx": onnx_path.name, "input": in_path.name, "output": out_path.name}
    entry["files"] = files
    entry["bytes"] = {k: (OUT / v).stat().st_size for k, v in files.items()}
    entry["sha256"] = {k: sha256_file(OUT / v) for k, v in files.items()}
    return entry


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--list", action="store_true", help="list the cases and exit")
    ap.add_argument("--only", default="", help="comma separated case names")
    args = ap.parse_args(argv)

    if args.list:
        for name, src, fl in CASES:
            print(f"{name:26s} {fl:4s} from {src}")
        return 0
    import onnx

    if tuple(int(v) for v in onnx.__version__.split(".")[:2]) < (1, 14):
        raise SystemExit(f"onnx {onnx.__version__} is too old for onnxruntime.quantization; run "
                         "with target/pyenv-quant/bin/python (bash scripts/setup_python.sh)")
    logging.getLogger().setLevel(logging.ERROR)   # quantizer's "run pre-processing" hints

    only = {s for s in args.only.split(",") if s}
    unknown = only - {c[0] for c in CASES}
    if unknown:
        ap.error(f"unknown case(s) {sorted(unknown)}; see --list")
    OUT.mkdir(parents=True, exist_ok=True)
    manifest_path = OUT / "MANIFEST.json"
    old = {}
    if only and manifest_path.exists():
        import json

        with open(manifest_path) as f:
            old = {e["name"]: e for e in json.load(f).get("models", [])}
    entries = dict(old)
    t0 = time.time()
    with tempfile.TemporaryDirectory() as td:
        for name, src_name, fl in CASES:
            if only and name not in only:
                continue
            e = make_case(name, src_name, fl, Path(td))
            entries[name] = e
            acc = ""
            if "top1" in e:
                acc = f"  top1 float {e['top1']['float']:.4f} quant {e['top1']['quantized']:.4f}"
            print(f"{name:26s} {e['bytes']['onnx']:6d} B  |q-f| {e['max_abs_diff_vs_float']:.4f}"
                  f"{acc}\n    ops {','.join(e['op_types'])}")
    if not only:
        known = {c[0] for c in CASES}
        for p in OUT.iterdir():   # drop files of cases no longer listed
            if p.name != "MANIFEST.json" and p.name.split(".")[0] not in known:
                p.unlink()
    write_json(manifest_path, {
        "description": "pre-quantized ONNX models made with onnxruntime.quantization "
                       "(quantize_static QDQ / QOperator, quantize_dynamic) by "
                       "scripts/make_qdq_models.py; outputs from onnxruntime CPU with graph "
                       "optimisations off",
        "command": "target/pyenv-quant/bin/python scripts/make_qdq_models.py",
        "versions": versions(),
        "models": [entries[c[0]] for c in CASES if c[0] in entries],
    })
    update_models_manifest()
    total = sum(p.stat().st_size for p in OUT.iterdir())
    print(f"models/qdq: {len(list(OUT.iterdir()))} files, {total / 1024:.1f} KiB, "
          f"{time.time() - t0:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
