#!/usr/bin/env python3
"""Train a small CNN on Fashion-MNIST and export it to ONNX.

Fashion-MNIST comes from the Debian package `dataset-fashion-mnist`, which
installs the four gzipped IDX files under /usr/share/datasets/fashion-mnist/
(their sha256 are pinned below). If the files are missing and we are root, the
script runs `apt-get install -y dataset-fashion-mnist`; nothing else is fetched.

CNN: Conv(1->8,3x3,pad1)-ReLU-MaxPool2-Conv(8->16,3x3,pad1)-ReLU-MaxPool2-Flatten-
FC10, input [1,1,28,28], pixels in [0,1].

Outputs:
    models/fashion_cnn.onnx
    models/fashion/test_x_200.npy     [200,1,28,28] float32  first 200 test images
    models/fashion/test_y_200.npy     [200] int64
    models/fashion/calib_x_128.npy    [128,1,28,28] float32  first 128 training images
    models/fashion/sample0.npy        [1,1,28,28]   float32  = test_x_200[0:1]
    models/fashion/expected_200.npy   [200,10]      onnxruntime logits, one sample at a time
    models/fashion/README.md
    target/data/fashion/{test_x_10000,test_y_10000,expected_10000,calib_x_256}.npy
        (full test set, not committed)
and updates models/MANIFEST.json.

Usage:
    apt-get install -y dataset-fashion-mnist     # if not installed
    bash scripts/setup_python.sh
    target/pyenv/bin/python scripts/train_fashion.py [--epochs 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    MODELS,
    TARGET,
    ort_run_batched_one_by_one,
    record_model_info,
    rel,
    save_npy,
    seed_everything,
    sha256_file,
    versions,
)
from train_mnist import parse_idx, train  # noqa: E402

DEB_PACKAGE = "dataset-fashion-mnist"
DEB_VERSION = "0.0~git20200523.55506a9-1"
DATA_DIR = Path("/usr/share/datasets/fashion-mnist")
IDX_FILES = {  # name -> (file, sha256)
    "train_x": ("train-images-idx3-ubyte.gz",
                "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7"),
    "train_y": ("train-labels-idx1-ubyte.gz",
                "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056"),
    "test_x": ("t10k-images-idx3-ubyte.gz",
               "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa"),
    "test_y": ("t10k-labels-idx1-ubyte.gz",
               "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05"),
}
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]

SEED = 0
OPSET = 13
N_TEST_COMMIT = 200
N_CALIB_COMMIT = 128
COMMAND = "target/pyenv/bin/python scripts/train_fashion.py"


def ensure_package() -> None:
    if all((DATA_DIR / f).exists() for f, _ in IDX_FILES.values()):
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print(f"installing Debian package {DEB_PACKAGE}")
        subprocess.run(["apt-get", "install", "-y", DEB_PACKAGE], check=True,
                       stdout=subprocess.DEVNULL)
    if not all((DATA_DIR / f).exists() for f, _ in IDX_FILES.values()):
        raise SystemExit(f"{DATA_DIR} missing; install with: apt-get update && "
                         f"apt-get install -y {DEB_PACKAGE}")


def load_fashion():
    ensure_package()
    out = {}
    for key, (fname, digest) in IDX_FILES.items():
        path = DATA_DIR / fname
        got = sha256_file(path)
        if got != digest:
            raise SystemExit(f"sha256 mismatch for {path}: {got} != {digest}")
        out[key] = parse_idx(path.read_bytes())
    assert out["train_x"].shape == (60000, 28, 28) and out["test_x"].shape == (10000, 28, 28)
    to_x = lambda a: (a.astype(np.float32) / 255.0).reshape(-1, 1, 28, 28)  # noqa: E731
    return (to_x(out["train_x"]), out["train_y"].astype(np.int64),
            to_x(out["test_x"]), out["test_y"].astype(np.int64))


def build_cnn():
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(1, 8, kernel_size=3, padding=1),    # 28
        nn.ReLU(),
        nn.MaxPool2d(2),                              # 14
        nn.Conv2d(8, 16, kernel_size=3, padding=1),   # 14
        nn.ReLU(),
        nn.MaxPool2d(2),                              # 7
        nn.Flatten(1),
        nn.Linear(16 * 7 * 7, 10),
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--lr", type=float, default=5e-3)
    ap.add_argument("--batch", type=int, default=64)
    args = ap.parse_args(argv)

    import onnx
    import torch

    t_start = time.time()
    seed_everything(SEED)
    x_tr, y_tr, x_te, y_te = load_fashion()
    print(f"Fashion-MNIST from Debian {DEB_PACKAGE}: train {x_tr.shape}, test {x_te.shape}")

    data_dir = TARGET / "data" / "fashion"
    save_npy(data_dir / "test_x_10000.npy", x_te)
    save_npy(data_dir / "test_y_10000.npy", y_te)
    save_npy(data_dir / "calib_x_256.npy", x_tr[:256])

    seed_everything(SEED + 1)
    model = build_cnn()
    t_train = time.time()
    train(model, x_tr, y_tr, epochs=args.epochs, lr=args.lr, batch=args.batch, seed=SEED + 1)
    train_s = time.time() - t_train

    with torch.no_grad():
        logits_torch = torch.cat([model(torch.from_numpy(x_te[i : i + 1000]))
                                  for i in range(0, len(x_te), 1000)]).numpy()
    acc_torch = float((logits_torch.argmax(1) == y_te).mean())

    onnx_path = MODELS / "fashion_cnn.onnx"
    with torch.no_grad():
        torch.onnx.export(model, (torch.zeros(1, 1, 28, 28),), str(onnx_path),
                          opset_version=OPSET, do_constant_folding=True,
                          input_names=["input"], output_names=["output"],
                          export_params=True, keep_initializers_as_inputs=False)
    m = onnx.load(str(onnx_path))
    onnx.checker.check_model(m, full_check=True)
    ops = sorted({n.op_type for n in m.graph.node})

    logits_ort = ort_run_batched_one_by_one(onnx_path, x_te)  # full 10k, batch 1
    acc = float((logits_ort.argmax(1) == y_te).mean())
    max_diff = float(np.abs(logits_ort - logits_torch).max())
    save_npy(data_dir / "expected_10000.npy", logits_ort)
    per_class = [float((logits_ort.argmax(1)[y_te == c] == c).mean()) for c in range(10)]
    print(f"Fashion CNN: test top-1 (10k) torch {acc_torch:.4f} onnxruntime {acc:.4f} "
          f"(max |torch-ort| {max_diff:.2e}); train {train_s:.1f}s; ops {ops}")

    out = MODELS / "fashion"
    out.mkdir(parents=True, exist_ok=True)
    for p in out.glob("*.npy"):
        p.unlink()
    save_npy(out / f"test_x_{N_TEST_COMMIT}.npy", x_te[:N_TEST_COMMIT])
    save_npy(out / f"test_y_{N_TEST_COMMIT}.npy", y_te[:N_TEST_COMMIT])
    save_npy(out / f"calib_x_{N_CALIB_COMMIT}.npy", x_tr[:N_CALIB_COMMIT])
    save_npy(out / "sample0.npy", x_te[:1])
    save_npy(out / f"expected_{N_TEST_COMMIT}.npy", logits_ort[:N_TEST_COMMIT])
    acc_sub = float((logits_ort[:N_TEST_COMMIT].argmax(1) == y_te[:N_TEST_COMMIT]).mean())

    vers = versions()
    lines = [
        "# Fashion-MNIST CNN",
        "",
        "Generated by `scripts/train_fashion.py`; do not edit by hand.",
        "",
        f"Data: the gzipped IDX files of the Debian package `{DEB_PACKAGE}`",
        f"(version `{DEB_VERSION}`, installed under `{DATA_DIR}/`; sha256 of each",
        "file pinned in the script). Pixels divided by 255 to [0,1], shape [N,1,28,28].",
        "Classes: " + ", ".join(f"{i} {c}" for i, c in enumerate(CLASSES)) + ".",
        "",
        "Regenerate:",
        "",
        "```",
        f"apt-get install -y {DEB_PACKAGE}   # the script does this itself when run as root",
        "bash scripts/setup_python.sh",
        COMMAND + (f" --epochs {args.epochs}" if args.epochs != 5 else ""),
        "```",
        "",
        "Model `models/fashion_cnn.onnx` (opset 13, static batch 1, input `input`",
        "[1,1,28,28], output `output` [1,10] logits): Conv(1->8,3x3,pad1)-ReLU-MaxPool2-",
        "Conv(8->16,3x3,pad1)-ReLU-MaxPool2-Flatten-FC10.",
        f"ONNX ops: {', '.join(ops)}.",
        "",
        f"Training: {args.epochs} epochs, Adam with one-cycle LR (max {args.lr}), batch "
        f"{args.batch}, seeded, CPU with 2 threads (about 30 s on an idle 2-core machine).",
        "",
        "| metric | value |",
        "| --- | --- |",
        f"| float top-1, full 10,000 test set (onnxruntime) | {acc * 100:.2f}% |",
        f"| float top-1, first {N_TEST_COMMIT} test images (committed subset) | "
        f"{acc_sub * 100:.2f}% |",
        "",
        "Per-class top-1 (10k test): " + ", ".join(
            f"{c} {a * 100:.1f}%" for c, a in zip(CLASSES, per_class)) + ".",
        "",
        "Files in `models/fashion/` (the full test set is too big to commit; the script",
        "writes it to `target/data/fashion/test_x_10000.npy`, `test_y_10000.npy`,",
        "`expected_10000.npy`, plus `calib_x_256.npy`):",
        "",
        "| file | shape | dtype |",
        "| --- | --- | --- |",
    ]
    for p in sorted(out.glob("*.npy")):
        a = np.load(p)
        lines.append(f"| `{p.name}` | {list(a.shape)} | {a.dtype} |")
    lines += [
        "",
        f"`expected_{N_TEST_COMMIT}.npy` holds the onnxruntime (CPU, graph optimisations",
        "off) logits, each image run alone with batch 1.",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in vers.items()),
        "",
    ]
    (out / "README.md").write_text("\n".join(lines))

    record_model_info("fashion_cnn", {
        "onnx": rel(onnx_path),
        "sha256": sha256_file(onnx_path),
        "input_shape": [1, 1, 28, 28],
        "dataset": f"Fashion-MNIST from Debian {DEB_PACKAGE} {DEB_VERSION}",
        "float_top1_test": round(acc, 6),
        "float_top1_test_subset": {"n": N_TEST_COMMIT, "top1": round(acc_sub, 6)},
        "epochs": args.epochs,
        "command": COMMAND,
        "versions": vers,
    })
    print(f"done in {time.time() - t_start:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
