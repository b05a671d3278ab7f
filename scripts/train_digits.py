#!/usr/bin/env python3
"""Train two tiny classifiers on the 8x8 "digits" data set that ships inside the
scikit-learn wheel (sklearn.datasets.load_digits reads a file bundled with the
package; nothing is downloaded) and export them to ONNX.

Outputs (all under models/):
    digits_mlp.onnx                 64 -> 32 -> ReLU -> 10, input [1,64]
    digits_cnn.onnx                 conv-relu-conv(s2)-relu-avgpool-flatten-linear, input [1,1,8,8]
    digits/test_x_flat.npy          [360,64]      float32 in [0,1]
    digits/test_x_img.npy           [360,1,8,8]   float32
    digits/test_y.npy               [360]         int64
    digits/calib_x_flat.npy         [256,64]      first 256 training samples
    digits/calib_x_img.npy          [256,1,8,8]
    digits/sample0_flat.npy         [1,64]        = test_x_flat[0:1]
    digits/sample0_img.npy          [1,1,8,8]
    digits/expected_mlp.npy         [360,10]      onnxruntime logits, one sample at a time
    digits/expected_cnn.npy         [360,10]
    digits/README.md                accuracies, command, versions
and updates models/MANIFEST.json.

Usage:
    bash scripts/setup_python.sh
    target/pyenv/bin/python scripts/train_digits.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    MODELS,
    ort_run_batched_one_by_one,
    rel,
    record_model_info,
    save_npy,
    seed_everything,
    sha256_file,
    versions,
)

SEED = 0
N_TEST = 360
N_CALIB = 256
OPSET = 13
COMMAND = "target/pyenv/bin/python scripts/train_digits.py"


def load_split():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = (d.data.astype(np.float32) / 16.0).astype(np.float32)  # pixels 0..16 -> [0,1]
    y = d.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=N_TEST, stratify=y, random_state=SEED, shuffle=True)
    return x_tr, y_tr, x_te, y_te


def build_mlp():
    from torch import nn

    return nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))


def build_cnn():
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(1, 8, kernel_size=3, stride=1, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 16, kernel_size=3, stride=2, padding=1),  # 8x8 -> 4x4
        nn.ReLU(),
        # count_include_pad=False (no padding anyway) keeps torch from emitting a zero Pad
        nn.AvgPool2d(kernel_size=2, stride=2, count_include_pad=False),  # 4x4 -> 2x2
        nn.Flatten(1),
        nn.Linear(16 * 2 * 2, 10),
    )


def train(model, x, y, *, epochs, lr, batch, seed):
    import torch

    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    loss_fn = torch.nn.CrossEntropyLoss()
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(xt.shape[0], generator=gen)
        for i in range(0, xt.shape[0], batch):
            idx = perm[i : i + batch]
            opt.zero_grad()
            loss = loss_fn(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
        sched.step()
    model.eval()
    return float(loss.detach())


def torch_accuracy(model, x, y) -> float:
    import torch

    with torch.no_grad():
        pred = model(torch.from_numpy(x)).argmax(1).numpy()
    return float((pred == y).mean())


def export(model, input_shape, path: Path):
    import torch

    model.eval()
    dummy = torch.zeros(*input_shape)
    with torch.no_grad():
        torch.onnx.export(model, (dummy,), str(path), opset_version=OPSET,
                          do_constant_folding=True, input_names=["input"],
                          output_names=["output"], export_params=True,
                          keep_initializers_as_inputs=False)
    import onnx

    m = onnx.load(str(path))
    onnx.checker.check_model(m, full_check=True)
    for n in m.graph.node:  # the Rust importer wants explicit strides on Conv
        if n.op_type == "Conv":
            assert any(a.name == "strides" for a in n.attribute), n.name
    return [n.op_type for n in m.graph.node]


def main() -> int:
    import torch

    t0 = time.time()
    seed_everything(SEED)
    x_tr, y_tr, x_te, y_te = load_split()
    assert x_tr.shape == (1437, 64) and x_te.shape == (360, 64), (x_tr.shape, x_te.shape)

    out = MODELS / "digits"
    out.mkdir(parents=True, exist_ok=True)
    img = lambda a: a.reshape(-1, 1, 8, 8).astype(np.float32)  # noqa: E731
    save_npy(out / "test_x_flat.npy", x_te)
    save_npy(out / "test_x_img.npy", img(x_te))
    save_npy(out / "test_y.npy", y_te)
    save_npy(out / "calib_x_flat.npy", x_tr[:N_CALIB])
    save_npy(out / "calib_x_img.npy", img(x_tr[:N_CALIB]))
    save_npy(out / "sample0_flat.npy", x_te[:1])
    save_npy(out / "sample0_img.npy", img(x_te[:1]))

    results = {}
    specs = [
        ("mlp", build_mlp, x_tr, x_te, (1, 64), dict(epochs=60, lr=1e-2, batch=64)),
        ("cnn", build_cnn, img(x_tr), img(x_te), (1, 1, 8, 8),
         dict(epochs=100, lr=1e-2, batch=64)),
    ]
    for i, (name, build, xtr, xte, shape, hp) in enumerate(specs):
        seed_everything(SEED + 1 + i)
        model = build()
        t1 = time.time()
        loss = train(model, xtr, y_tr, seed=SEED + 1 + i, **hp)
        acc_torch = torch_accuracy(model, xte, y_te)
        onnx_path = MODELS / f"digits_{name}.onnx"
        ops = export(model, shape, onnx_path)
        logits = ort_run_batched_one_by_one(onnx_path, xte)
        save_npy(out / f"expected_{name}.npy", logits)
        acc = float((logits.argmax(1) == y_te).mean())
        with torch.no_grad():
            ref = model(torch.from_numpy(xte)).numpy()
        max_diff = float(np.abs(ref - logits).max())
        print(f"{name}: final train loss {loss:.4f}, test top-1 torch {acc_torch:.4f} "
              f"onnxruntime {acc:.4f} (max |torch-ort| {max_diff:.2e}), "
              f"{time.time() - t1:.1f}s, ops {sorted(set(ops))}")
        results[name] = dict(acc=acc, acc_torch=acc_torch, ops=ops, hp=hp,
                             onnx=onnx_path, input_shape=list(shape))

    vers = versions()
    lines = [
        "# digits (8x8) models",
        "",
        "Generated by `scripts/train_digits.py`; do not edit by hand.",
        "",
        "Data: `sklearn.datasets.load_digits()` (1797 images bundled in the scikit-learn",
        "package, no download), pixels divided by 16 to [0,1]; stratified split",
        f"`train_test_split(test_size={N_TEST}, stratify=y, random_state={SEED})` ->",
        f"1437 train / {N_TEST} test. Calibration set = first {N_CALIB} training samples.",
        "",
        "Regenerate:",
        "",
        "```",
        "bash scripts/setup_python.sh",
        COMMAND,
        "```",
        "",
        "| model | file | input | float top-1 (onnxruntime, 360 test) | ops |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, r in results.items():
        lines.append(f"| {name} | `{rel(r['onnx'])}` | {r['input_shape']} | "
                     f"{r['acc'] * 100:.2f}% | {', '.join(sorted(set(r['ops'])))} |")
    lines += [
        "",
        "Architectures: MLP = Linear(64,32)-ReLU-Linear(32,10); CNN = Conv(1->8,3x3,p1)-ReLU-",
        "Conv(8->16,3x3,p1,s2)-ReLU-AvgPool(2)-Flatten-Linear(64,10). Both output logits",
        "(no softmax). Trained with Adam + cosine LR, seeded; exported with opset 13,",
        "static batch 1, constant folding on.",
        "",
        "Files in `models/digits/`:",
        "",
        "| file | shape | dtype |",
        "| --- | --- | --- |",
    ]
    for p in sorted(out.glob("*.npy")):
        a = np.load(p)
        lines.append(f"| `{p.name}` | {list(a.shape)} | {a.dtype} |")
    lines += [
        "",
        "`expected_*.npy` are the onnxruntime (CPU, graph optimisations off) logits of",
        "the test set, each sample run alone with batch 1, stacked to [360,10].",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in vers.items()),
        "",
    ]
    (out / "README.md").write_text("\n".join(lines))

    for name, r in results.items():
        record_model_info(f"digits_{name}", {
            "onnx": rel(r["onnx"]),
            "sha256": sha256_file(r["onnx"]),
            "input_shape": r["input_shape"],
            "dataset": "sklearn load_digits, 360-sample stratified test split (seed 0)",
            "float_top1_test": round(r["acc"], 6),
            "command": COMMAND,
            "versions": vers,
        })
    print(f"done in {time.time() - t0:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
