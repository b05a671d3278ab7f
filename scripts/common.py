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


# ----------------------------------------------------------------------------
# static shape folding for torch exports
# ----------------------------------------------------------------------------
#
# torch.onnx.export leaves some shape arithmetic in the graph even for fully
# static inputs (e.g. torchvision's ShuffleNetV2 `chunk` becomes
# Shape->Gather->Add->Div->Mul->Slice). The Rust importer wants static graphs,
# so we fold: Shape of a statically-shaped tensor becomes a constant, then any
# node of a small "shape arithmetic" op set whose inputs are all constants is
# evaluated with numpy and replaced by an initializer. Dead nodes and unused
# initializers are removed afterwards.

_FOLD_MAX_ELEMS = 1 << 16


def _int_div(a, b):
    if np.issubdtype(a.dtype, np.integer):
        q = np.abs(a) // np.abs(b)
        return (q * np.sign(a) * np.sign(b)).astype(a.dtype)  # C-style truncation
    return (a / b).astype(a.dtype)


def _norm_axes(axes, rank):
    return [int(a) + rank if int(a) < 0 else int(a) for a in axes]


def _eval_node(node, ins, attrs, opset):
    """numpy evaluation of a constant node; returns list of outputs or None."""
    op = node.op_type
    if op == "Identity":
        return [ins[0]]
    if op in ("Add", "Sub", "Mul"):
        f = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply}[op]
        return [f(ins[0], ins[1]).astype(ins[0].dtype)]
    if op == "Div":
        return [_int_div(ins[0], ins[1])]
    if op == "Gather":
        axis = attrs.get("axis", 0)
        return [np.take(ins[0], ins[1], axis=axis)]
    if op == "Concat":
        return [np.concatenate(ins, axis=attrs["axis"])]
    if op == "Cast":
        from onnx import helper as _h

        return [ins[0].astype(_h.tensor_dtype_to_np_dtype(attrs["to"]))]
    if op == "Unsqueeze":
        axes = attrs["axes"] if opset < 13 else ins[1].tolist()
        out = ins[0]
        rank = out.ndim + len(axes)
        for a in sorted(_norm_axes(axes, rank)):
            out = np.expand_dims(out, a)
        return [out]
    if op == "Squeeze":
        axes = attrs.get("axes") if opset < 13 else (ins[1].tolist() if len(ins) > 1 else None)
        if axes is None:
            return [np.squeeze(ins[0])]
        return [np.squeeze(ins[0], axis=tuple(_norm_axes(axes, ins[0].ndim)))]
    if op == "Reshape":
        shape = [int(s) for s in ins[1]]
        shape = [ins[0].shape[i] if s == 0 else s for i, s in enumerate(shape)]
        return [ins[0].reshape(shape)]
    if op == "Slice" and opset >= 10:
        data, starts, ends = ins[0], ins[1], ins[2]
        axes = ins[3] if len(ins) > 3 and ins[3] is not None else np.arange(len(starts))
        steps = ins[4] if len(ins) > 4 and ins[4] is not None else np.ones(len(starts), np.int64)
        sl = [slice(None)] * data.ndim
        for s, e, a, st in zip(starts, ends, _norm_axes(axes, data.ndim), steps):
            dim = data.shape[a]
            s, e, st = int(s), int(e), int(st)
            s = max(-dim - 1, min(dim, s))
            e = max(-dim - 1, min(dim, e))
            sl[a] = slice(s, e, st)
        return [data[tuple(sl)]]
    if op in ("Floor", "Ceil", "Neg", "Sqrt"):
        f = {"Floor": np.floor, "Ceil": np.ceil, "Neg": np.negative, "Sqrt": np.sqrt}[op]
        return [f(ins[0]).astype(ins[0].dtype)]
    if op == "Range":
        return [np.arange(ins[0], ins[1], ins[2]).astype(ins[0].dtype)]
    if op == "ConstantOfShape":
        val = attrs.get("value")
        fill = numpy_helper_to_array(val) if val is not None else np.zeros(1, np.float32)
        return [np.full([int(s) for s in ins[0]], fill.reshape(-1)[0], dtype=fill.dtype)]
    if op == "Equal":
        return [np.equal(ins[0], ins[1])]
    if op == "Where":
        return [np.where(ins[0], ins[1], ins[2])]
    return None


def numpy_helper_to_array(t):
    from onnx import numpy_helper

    return numpy_helper.to_array(t)


def fold_static_shapes(model):
    """Return a copy of `model` with static shape arithmetic folded away (see above)."""
    import onnx
    from onnx import helper, numpy_helper, shape_inference

    model = onnx.ModelProto.FromString(model.SerializeToString())
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 13)
    g = model.graph

    consts = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    new_inits = {}

    def static_shapes():
        inferred = shape_inference.infer_shapes(model)
        shapes = {}
        for vi in list(inferred.graph.value_info) + list(inferred.graph.input) + \
                list(inferred.graph.output):
            t = vi.type.tensor_type
            if t.HasField("shape") and all(d.HasField("dim_value") for d in t.shape.dim):
                shapes[vi.name] = [d.dim_value for d in t.shape.dim]
        return shapes

    changed = True
    while changed:
        changed = False
        shapes = static_shapes()
        keep = []
        for node in g.node:
            attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
            outs = None
            if node.op_type == "Constant" and "value" in attrs:
                outs = [numpy_helper.to_array(attrs["value"])]
            elif node.op_type == "Shape" and node.input[0] in shapes and opset < 15:
                outs = [np.array(shapes[node.input[0]], dtype=np.int64)]
            elif node.op_type != "Constant" and all(
                    (i == "" or i in consts) for i in node.input) and len(node.input) > 0:
                ins = [consts[i] if i else None for i in node.input]
                if all(a is None or a.size <= _FOLD_MAX_ELEMS for a in ins):
                    # Identity of an initializer: keep (it only aliases weights)
                    if node.op_type != "Identity":
                        outs = _eval_node(node, ins, attrs, opset)
            if outs is not None and len(outs) == len(node.output):
                for name, arr in zip(node.output, outs):
                    arr = np.asarray(arr)
                    consts[name] = arr
                    new_inits[name] = arr
                changed = True
            else:
                keep.append(node)
        if changed:
            del g.node[:]
            g.node.extend(keep)
            for name, arr in new_inits.items():
                if not any(i.name == name for i in g.initializer):
                    g.initializer.append(numpy_helper.from_array(arr, name))
            new_inits.clear()

    # Identity of an initializer (torch uses it to share deduplicated weights):
    # point the consumers at the initializer itself
    graph_outputs = {o.name for o in g.output}
    # and drop no-op Pads (all pads zero, as torch emits before AveragePool when
    # count_include_pad=True), pointing their consumers at the Pad input
    alias = {}
    for node in g.node:
        if node.output[0] in graph_outputs:
            continue
        if node.op_type == "Identity" and node.input[0] in consts:
            alias[node.output[0]] = node.input[0]
        elif node.op_type == "Pad" and opset >= 11 and len(node.input) > 1 \
                and node.input[1] in consts and not np.any(consts[node.input[1]]):
            alias[node.output[0]] = node.input[0]
    if alias:
        def resolve(name):
            while name in alias:
                name = alias[name]
            return name

        for node in g.node:
            for k, name in enumerate(node.input):
                if name in alias:
                    node.input[k] = resolve(name)

    # dead code elimination
    needed = {o.name for o in g.output}
    live = []
    for node in reversed(list(g.node)):
        if any(o in needed for o in node.output):
            live.append(node)
            needed.update(i for i in node.input if i)
    live.reverse()
    del g.node[:]
    g.node.extend(live)
    inits = [i for i in g.initializer if i.name in needed]
    del g.initializer[:]
    g.initializer.extend(inits)
    vis = [v for v in g.value_info if v.name in needed]
    del g.value_info[:]
    g.value_info.extend(vis)
    onnx.checker.check_model(model)
    return model
