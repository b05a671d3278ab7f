#!/usr/bin/env python3
"""Export torchvision classification models with random weights to ONNX.

No pretrained weights are used or downloaded: every model is built with
weights=None after torch.manual_seed(0); BatchNorm running statistics and
affine parameters are then randomized (seeded) unless --plain-bn. For each model NAME this writes to
--out (default target/zoo/, not committed — these are large):

    NAME.onnx          opset 13, static input [1,3,224,224], constant folding on,
                       leftover static shape arithmetic (Shape/Gather/...) folded
    NAME.input.npy     seeded float32 input [1,3,224,224]
    NAME.calib.npy     seeded float32 calibration/agreement set [CALIB_SAMPLES,3,224,224]
    NAME.output.npy    onnxruntime (CPU, graph optimisations off) output [1,1000]

and OUT/MANIFEST.json with sizes, sha256, op types and timings.

Usage:
    bash scripts/setup_python.sh
    target/pyenv/bin/python scripts/export_torchvision.py [--out DIR] [--models a,b]
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    TARGET,
    fold_static_shapes,
    ort_run,
    save_npy,
    seed_everything,
    sha256_file,
    versions,
    write_json,
)

MODELS = [
    "resnet18",
    "mobilenet_v2",
    "mobilenet_v3_small",
    "alexnet",
    "densenet121",
    "squeezenet1_0",
    "vgg11",
    "shufflenet_v2_x0_5",
]
INPUT_SHAPE = (1, 3, 224, 224)
CALIB_SAMPLES = 16
OPSET = 13


def randomize_batchnorm(model, seed: int) -> None:
    """Give BatchNorm layers non-trivial affine parameters and running stats
    (freshly built models have weight=1, bias=0, mean=0, var=1, which folds
    into all-zero conv biases)."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            c = m.num_features
            with torch.no_grad():
                if m.affine:
                    m.weight.copy_(torch.rand(c, generator=gen) * 0.5 + 0.75)
                    m.bias.copy_(torch.randn(c, generator=gen) * 0.1)
                m.running_mean.copy_(torch.randn(c, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(c, generator=gen) * 0.5 + 0.75)


def export_one(name: str, out_dir: Path, plain_bn: bool = False) -> dict:
    import onnx
    import torch
    import torchvision

    seed_everything(0)
    t0 = time.time()
    model = getattr(torchvision.models, name)(weights=None)
    if not plain_bn:
        randomize_batchnorm(model, seed=1)
    model.eval()
    onnx_path = out_dir / f"{name}.onnx"
    buf = io.BytesIO()
    with torch.no_grad():
        torch.onnx.export(model, (torch.zeros(*INPUT_SHAPE),), buf,
                          opset_version=OPSET, do_constant_folding=True,
                          input_names=["input"], output_names=["output"],
                          export_params=True, keep_initializers_as_inputs=False)
    m = fold_static_shapes(onnx.load_from_string(buf.getvalue()))
    del buf
    onnx.save(m, str(onnx_path))
    t_export = time.time() - t0
    ops = {}
    for n in m.graph.node:
        ops[n.op_type] = ops.get(n.op_type, 0) + 1
    n_params = int(sum(int(np.prod(i.dims)) for i in m.graph.initializer))
    del m

    x = np.random.default_rng(0).standard_normal(INPUT_SHAPE).astype(np.float32)
    t1 = time.time()
    y = ort_run(onnx_path, x)
    t_ort = time.time() - t1
    with torch.no_grad():
        y_torch = model(torch.from_numpy(x)).numpy()
    max_diff = float(np.abs(y - y_torch).max())
    assert np.all(np.isfinite(y)), name

    in_path, out_path = out_dir / f"{name}.input.npy", out_dir / f"{name}.output.npy"
    save_npy(in_path, x)
    save_npy(out_path, y)
    # Calibration and agreement set for random-weight models: seeded inputs of the same law.
    calib_path = out_dir / f"{name}.calib.npy"
    calib = np.random.default_rng(1).standard_normal((CALIB_SAMPLES,) + INPUT_SHAPE[1:]).astype(np.float32)
    save_npy(calib_path, calib)
    files = {"onnx": onnx_path.name, "input": in_path.name, "output": out_path.name,
             "calib": calib_path.name}
    return {
        "name": name,
        "opset": OPSET,
        "input_shape": list(INPUT_SHAPE),
        "output_shape": list(y.shape),
        "params": n_params,
        "randomized_bn": not plain_bn,
        "onnx_bytes": onnx_path.stat().st_size,
        "op_counts": dict(sorted(ops.items())),
        "max_abs_diff_torch_vs_ort": max_diff,
        "export_seconds": round(t_export, 2),
        "ort_seconds": round(t_ort, 2),
        "files": files,
        "sha256": {k: sha256_file(out_dir / v) for k, v in files.items()},
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--out", type=Path, default=TARGET / "zoo")
    ap.add_argument("--models", default=",".join(MODELS),
                    help=f"comma separated, from: {','.join(MODELS)}")
    ap.add_argument("--plain-bn", action="store_true",
                    help="keep torchvision's default BatchNorm init (folds to zero biases)")
    args = ap.parse_args(argv)

    names = [s for s in args.models.split(",") if s]
    for s in names:
        if s not in MODELS:
            ap.error(f"unknown model {s!r}; choose from {MODELS}")
    out_dir: Path = args.out
    out_dir.mkdir(parents=True, exist_ok=True)

    manifest_path = out_dir / "MANIFEST.json"
    entries = {}
    if manifest_path.exists():
        with open(manifest_path) as f:
            entries = {e["name"]: e for e in json.load(f).get("models", [])}

    for name in names:
        e = export_one(name, out_dir, plain_bn=args.plain_bn)
        entries[name] = e
        print(f"{name:20s} {e['onnx_bytes'] / 1e6:8.1f} MB  params {e['params']:>10,d}  "
              f"export {e['export_seconds']:5.1f}s  ort {e['ort_seconds']:5.2f}s  "
              f"|torch-ort| {e['max_abs_diff_torch_vs_ort']:.1e}  ops {','.join(e['op_counts'])}")
        write_json(manifest_path, {
            "description": "torchvision models with random weights (torch.manual_seed(0), "
                           "weights=None, BatchNorm stats randomized unless --plain-bn), "
                           "exported by scripts/export_torchvision.py",
            "versions": versions(),
            "models": [entries[n] for n in MODELS if n in entries],
        })
    return 0


if __name__ == "__main__":
    sys.exit(main())
