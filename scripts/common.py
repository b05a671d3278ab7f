"""Shared helpers for the model-generation scripts (tachikoma).

All scripts are meant to be run with the venv built by scripts/setup_python.sh:

    target/pyenv/bin/python scripts/<name>.py
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"
TARGET = ROOT / "target"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def seed_everything(seed: int = 0) -> None:
    """Seed python, numpy and torch, and ask torch for deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed)
    os.environ.setdefault("PYTHONHASHSEED", str(seed))
    try:
        import torch
    except ImportError:  # pragma: no cover
        return
    torch.manual_seed(seed)
    torch.set_num_threads(2)
    torch.use_deterministic_algorithms(True)
    if hasattr(torch.backends, "cudnn"):
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


def ort_session(model_path: Path):
    """A single-threaded onnxruntime CPU session with graph optimisations off,
    so the reference output is the plain semantics of the stored graph."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.log_severity_level = 3
    return ort.InferenceSession(str(model_path), so, providers=["CPUExecutionProvider"])


def ort_run(model_path: Path, x: np.ndarray) -> np.ndarray:
    sess = ort_session(model_path)
    name = sess.get_inputs()[0].name
    (y,) = sess.run(None, {name: x})
    return np.asarray(y, dtype=np.float32)


def ort_run_batched_one_by_one(model_path: Path, xs: np.ndarray) -> np.ndarray:
    """Run each sample of xs (leading axis) separately with batch 1 and stack."""
    sess = ort_session(model_path)
    name = sess.get_inputs()[0].name
    outs = []
    for i in range(xs.shape[0]):
        (y,) = sess.run(None, {name: xs[i : i + 1]})
        outs.append(np.asarray(y, dtype=np.float32)[0])
    return np.stack(outs).astype(np.float32)


def versions() -> dict:
    out = {"python": sys.version.split()[0], "numpy": np.__version__}
    for mod in ("torch", "torchvision", "onnx", "onnxruntime", "sklearn"):
        try:
            out[mod] = __import__(mod).__version__
        except ImportError:
            pass
    return out


def write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=False)
        f.write("\n")


def rel(path: Path) -> str:
    return str(Path(path).resolve().relative_to(ROOT))


def save_npy(path: Path, arr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, np.ascontiguousarray(arr))


def onnx_op_types(model_path: Path) -> list:
    import onnx

    m = onnx.load(str(model_path))
    seen = []
    for n in m.graph.node:
        if n.op_type not in seen:
            seen.append(n.op_type)
    return seen


def onnx_opset(model_path: Path) -> int:
    import onnx

    m = onnx.load(str(model_path))
    for o in m.opset_import:
        if o.domain in ("", "ai.onnx"):
            return int(o.version)
    return -1


def update_models_manifest() -> Path:
    """(Re)write models/MANIFEST.json: sha256 and size of every file under
    models/ (except the manifest itself), sorted by path."""
    files = []
    for p in sorted(MODELS.rglob("*")):
        if not p.is_file() or (p.name == "MANIFEST.json" and p.parent == MODELS):
            continue
        entry = {"path": str(p.relative_to(MODELS)), "bytes": p.stat().st_size,
                 "sha256": sha256_file(p)}
        files.append(entry)
    manifest_path = MODELS / "MANIFEST.json"
    old = {}
    if manifest_path.exists():
        with open(manifest_path) as f:
            old = json.load(f)
    obj = {
        "description": "Files under models/ with sha256; regenerate with the scripts in scripts/.",
        "models": old.get("models", {}),
        "files": files,
    }
    write_json(manifest_path, obj)
    return manifest_path


def record_model_info(key: str, info: dict) -> None:
    """Store per-model metadata (accuracy, command, versions) in
    models/MANIFEST.json under "models"."""
    manifest_path = MODELS / "MANIFEST.json"
    obj = {"models": {}, "files": []}
    if manifest_path.exists():
        with open(manifest_path) as f:
            obj = json.load(f)
    obj.setdefault("models", {})[key] = info
    obj["models"] = dict(sorted(obj["models"].items()))
    write_json(manifest_path, obj)
    update_models_manifest()
