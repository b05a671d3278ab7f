#!/usr/bin/env python3
"""Generate the tiny fixtures of the `tk` CLI tests (crates/tk-cli/tests/fixtures/).

Needs only Debian's python3-onnx and python3-numpy (no onnxruntime: the expected output of
tiny_gemm is computed with numpy). Deterministic: the same onnx/numpy versions give
byte-identical files.

    /usr/bin/python3 scripts/make_cli_fixtures.py [--out crates/tk-cli/tests/fixtures]

| file | what |
| --- | --- |
| tiny_gemm.onnx | x f32 [1, 4] -> Gemm (W [3, 4], transB) -> Relu -> y [1, 3] |
| tiny_gemm.x.npy | one sample [1, 4] |
| tiny_gemm.batch.npy | three samples [3, 4] |
| tiny_gemm.expected.npy | numpy's output for the three samples [3, 3] |
| unsupported_op.onnx | x f32 [1, 4] -> Cos -> y (an op the importer does not know) |
| two_inputs.onnx | a + b, both f32 [1, 4] (tk run feeds exactly one input) |
| x_f64.npy | [1, 4] float64 (wrong dtype) |
| x_i64.npy | [1, 4] int64 (wrong dtype) |
| x_wrong_shape.npy | [1, 5] float32 (wrong shape) |
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parent.parent
OPSET = 13


def model(name: str, nodes, inputs, outputs, initializers=()) -> onnx.ModelProto:
    graph = helper.make_graph(list(nodes), name, list(inputs), list(outputs), list(initializers))
    m = helper.make_model(
        graph,
        producer_name="tachikoma-cli-fixtures",
        opset_imports=[helper.make_opsetid("", OPSET)],
    )
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


def f32(name: str, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "crates/tk-cli/tests/fixtures")
    args = ap.parse_args()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)

    w = rng.uniform(-1, 1, size=(3, 4)).astype(np.float32)
    b = rng.uniform(-0.2, 0.2, size=(3,)).astype(np.float32)
    gemm = model(
        "tiny_gemm",
        [
            helper.make_node("Gemm", ["x", "w", "b"], ["h"], name="fc", transB=1),
            helper.make_node("Relu", ["h"], ["y"], name="relu"),
        ],
        [f32("x", [1, 4])],
        [f32("y", [1, 3])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")],
    )
    onnx.save(gemm, out / "tiny_gemm.onnx")
    batch = rng.uniform(-1, 1, size=(3, 4)).astype(np.float32)
    np.save(out / "tiny_gemm.x.npy", batch[:1])
    np.save(out / "tiny_gemm.batch.npy", batch)
    np.save(out / "tiny_gemm.expected.npy", np.maximum(batch @ w.T + b, 0).astype(np.float32))

    cos = model(
        "unsupported_op",
        [helper.make_node("Cos", ["x"], ["y"], name="cos")],
        [f32("x", [1, 4])],
        [f32("y", [1, 4])],
    )
    onnx.save(cos, out / "unsupported_op.onnx")

    two = model(
        "two_inputs",
        [helper.make_node("Add", ["a", "b"], ["y"], name="add")],
        [f32("a", [1, 4]), f32("b", [1, 4])],
        [f32("y", [1, 4])],
    )
    onnx.save(two, out / "two_inputs.onnx")

    np.save(out / "x_f64.npy", batch[:1].astype(np.float64))
    np.save(out / "x_i64.npy", np.arange(4, dtype=np.int64).reshape(1, 4))
    np.save(out / "x_wrong_shape.npy", np.zeros((1, 5), dtype=np.float32))
    for p in sorted(out.iterdir()):
        print(f"{p.relative_to(ROOT)}: {p.stat().st_size} B")


if __name__ == "__main__":
    main()
