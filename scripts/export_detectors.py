#!/usr/bin/env python3
"""Export two object detectors with random weights to ONNX (raw head tensors only).

Both are built in plain torch from their published layer definitions; no
pretrained weights are used or downloaded. Every model is built after
torch.manual_seed(0) with torch's default init; BatchNorm running statistics and
affine parameters are then randomized (seeded), as in export_torchvision.py, and
by default (--bn calibrated) the running statistics are then re-set to the
per-channel mean/variance each BN layer sees on a seeded random batch, plus a
seeded jitter: without that the 75 random layers of YOLOv3 make its output
independent of the input (vanishing activations) and SSD's activations grow
large. --bn random keeps export_torchvision.py's purely random statistics.
Box decoding, anchor generation and NMS are NOT in the graphs: they stay
outside, as MRT does (see scripts/decode_boxes.py).

  yolov3_darknet53_S   YOLOv3 (Redmon & Farhadi 2018): Darknet-53 backbone
                       (Conv-BN-LeakyReLU(0.1) blocks, stride-2 3x3 downsampling,
                       residual stages 1-2-8-8-4), three detection heads
                       (5-conv sets, 3x3 + 1x1 output conv with bias), routes
                       with 1x1 conv, nearest Upsample x2 and Concat with the
                       backbone's stride-16 / stride-8 features. 80 classes,
                       3 anchors per scale. Outputs (raw, no sigmoid/exp):
                         output0 [1,255,S/32,S/32]  (anchors 6,7,8)
                         output1 [1,255,S/16,S/16]  (anchors 3,4,5)
                         output2 [1,255,S/8, S/8 ]  (anchors 0,1,2)
                       channel = anchor*85 + (tx,ty,tw,th,obj,cls0..79).
                       S must be a multiple of 32 (default 416).
  ssd_resnet50_S       SSD (Liu et al. 2016) with a ResNet-50 backbone, laid out
                       like GluonCV's ssd_512_resnet50_v1: torchvision resnet50
                       trunk, features after layer3 (1024ch, S/16) and layer4
                       (2048ch, S/32), four extra layers (1x1 conv-BN-ReLU to
                       max(128,f/2) channels, 3x3 stride-2 conv-BN-ReLU to f,
                       f = 512,512,256,256), per-feature-map 3x3 class and box
                       convs (4,6,6,6,4,4 anchors), each Transpose(NCHW->NHWC)
                       + Flatten, Concat, Reshape. 20 classes + background.
                       Outputs (raw logits / box offsets):
                         cls_preds [1,A,21]   box_preds [1,A,4]
                       A = 6132 for S = 512. Default S = 512.

For each model NAME this writes to --out (default target/zoo/, not committed):

    NAME.onnx            opset 13, static shapes, constant folding on, leftover
                         static shape arithmetic folded (common.fold_static_shapes)
    NAME.input.npy       seeded float32 input [1,3,S,S] (standard normal, seed 0)
    NAME.<output>.npy    onnxruntime (CPU, 1 thread, graph optimisations off)
                         output, one file per graph output, in graph order
    NAME.anchors.npy     (SSD only) anchors [A,4] (cx,cy,w,h) normalised to [0,1],
                         computed outside the graph for decode_boxes.py

and OUT/MANIFEST_detectors.json with sizes, sha256, op counts and timings
(a separate file so export_torchvision.py's OUT/MANIFEST.json is left alone).

Usage:
    bash scripts/setup_python.sh
    target/pyenv/bin/python scripts/export_detectors.py [--out DIR] [--models yolov3,ssd]
                                                        [--input-size 256]
    target/pyenv/bin/python scripts/decode_boxes.py [--out DIR]
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from collections import OrderedDict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    TARGET,
    fold_static_shapes,
    ort_session,
    save_npy,
    seed_everything,
    sha256_file,
    versions,
    write_json,
)
from export_torchvision import randomize_batchnorm  # noqa: E402

OPSET = 13
MODELS = ["yolov3", "ssd"]
DEFAULT_SIZE = {"yolov3": 416, "ssd": 512}

# YOLOv3 (COCO) anchors in pixels at 416x416, and which anchors each head uses
YOLO_ANCHORS = [(10, 13), (16, 30), (33, 23), (30, 61), (62, 45), (59, 119),
                (116, 90), (156, 198), (373, 326)]
YOLO_MASKS = [[6, 7, 8], [3, 4, 5], [0, 1, 2]]   # output0 (stride 32), output1, output2
YOLO_STRIDES = [32, 16, 8]
YOLO_CLASSES = 80

# SSD-512 ResNet-50 (GluonCV ssd_512_resnet50_v1 layout)
SSD_CLASSES = 20                                 # + 1 background
SSD_EXTRA_FILTERS = [512, 512, 256, 256]
SSD_SIZES = [51.2, 102.4, 189.4, 276.4, 363.52, 450.6, 492.0]   # at 512x512
SSD_RATIOS = [[1, 2, 0.5]] + [[1, 2, 0.5, 3, 1.0 / 3]] * 3 + [[1, 2, 0.5]] * 2
SSD_VARIANCES = (0.1, 0.1, 0.2, 0.2)


# ----------------------------------------------------------------------------
# YOLOv3 / Darknet-53
# ----------------------------------------------------------------------------


def _yolo_modules():
    from torch import nn

    def cbl(cin, cout, k, s=1):
        """Darknet 'convolutional' layer: conv (no bias) - BN - LeakyReLU(0.1)."""
        return nn.Sequential(OrderedDict(
            conv=nn.Conv2d(cin, cout, k, s, (k - 1) // 2, bias=False),
            bn=nn.BatchNorm2d(cout),
            act=nn.LeakyReLU(0.1),
        ))

    class Residual(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.conv1 = cbl(c, c // 2, 1)
            self.conv2 = cbl(c // 2, c, 3)

        def forward(self, x):
            return x + self.conv2(self.conv1(x))

    class Darknet53(nn.Module):
        """52 conv layers (the 53rd, the classifier, is dropped for detection)."""

        def __init__(self):
            super().__init__()
            self.stem = cbl(3, 32, 3)
            stages, cin = [], 32
            for cout, n in [(64, 1), (128, 2), (256, 8), (512, 8), (1024, 4)]:
                blocks = [cbl(cin, cout, 3, 2)] + [Residual(cout) for _ in range(n)]
                stages.append(nn.Sequential(*blocks))
                cin = cout
            self.stages = nn.ModuleList(stages)

        def forward(self, x):
            x = self.stem(x)
            feats = []
            for st in self.stages:
                x = st(x)
                feats.append(x)
            return feats[2], feats[3], feats[4]   # stride 8 (256), 16 (512), 32 (1024)

    def conv_set(cin, c):
        return nn.Sequential(cbl(cin, c, 1), cbl(c, 2 * c, 3), cbl(2 * c, c, 1),
                             cbl(c, 2 * c, 3), cbl(2 * c, c, 1))

    class YOLOv3(nn.Module):
        def __init__(self, num_classes=YOLO_CLASSES):
            super().__init__()
            no = 3 * (5 + num_classes)
            self.backbone = Darknet53()
            self.set1 = conv_set(1024, 512)
            self.out1 = nn.Sequential(cbl(512, 1024, 3), nn.Conv2d(1024, no, 1, bias=True))
            self.route1 = cbl(512, 256, 1)
            self.set2 = conv_set(256 + 512, 256)
            self.out2 = nn.Sequential(cbl(256, 512, 3), nn.Conv2d(512, no, 1, bias=True))
            self.route2 = cbl(256, 128, 1)
            self.set3 = conv_set(128 + 256, 128)
            self.out3 = nn.Sequential(cbl(128, 256, 3), nn.Conv2d(256, no, 1, bias=True))
            self.up = nn.Upsample(scale_factor=2, mode="nearest")

        def forward(self, x):
            c3, c4, c5 = self.backbone(x)
            p5 = self.set1(c5)
            y0 = self.out1(p5)
            p4 = self.set2(torch_cat([self.up(self.route1(p5)), c4]))
            y1 = self.out2(p4)
            p3 = self.set3(torch_cat([self.up(self.route2(p4)), c3]))
            y2 = self.out3(p3)
            return y0, y1, y2

    return YOLOv3


def torch_cat(xs):
    import torch

    return torch.cat(xs, dim=1)


# ----------------------------------------------------------------------------
# SSD / ResNet-50
# ----------------------------------------------------------------------------


def ssd_anchors_per_location():
    return [2 + len(r) - 1 for r in SSD_RATIOS[:6]]


def _ssd_module():
    import torch
    import torchvision
    from torch import nn

    class SSDResNet50(nn.Module):
        def __init__(self, num_classes=SSD_CLASSES):
            super().__init__()
            r = torchvision.models.resnet50(weights=None)
            self.trunk = nn.Sequential(r.conv1, r.bn1, r.relu, r.maxpool,
                                       r.layer1, r.layer2, r.layer3)   # 1024ch, stride 16
            self.layer4 = r.layer4                                     # 2048ch, stride 32
            extras, cin = [], 2048
            for f in SSD_EXTRA_FILTERS:
                mid = max(128, f // 2)
                extras.append(nn.Sequential(
                    nn.Conv2d(cin, mid, 1, bias=False), nn.BatchNorm2d(mid), nn.ReLU(inplace=True),
                    nn.Conv2d(mid, f, 3, 2, 1, bias=False), nn.BatchNorm2d(f),
                    nn.ReLU(inplace=True),
                ))
                cin = f
            self.extras = nn.ModuleList(extras)
            chans = [1024, 2048] + SSD_EXTRA_FILTERS
            na = ssd_anchors_per_location()
            self.nc = num_classes + 1
            self.cls_heads = nn.ModuleList(nn.Conv2d(c, a * self.nc, 3, padding=1)
                                           for c, a in zip(chans, na))
            self.box_heads = nn.ModuleList(nn.Conv2d(c, a * 4, 3, padding=1)
                                           for c, a in zip(chans, na))

        def features(self, x):
            f1 = self.trunk(x)
            feats = [f1, self.layer4(f1)]
            for e in self.extras:
                feats.append(e(feats[-1]))
            return feats

        def forward(self, x):
            feats = self.features(x)
            cls = [h(f).permute(0, 2, 3, 1).flatten(1) for h, f in zip(self.cls_heads, feats)]
            box = [h(f).permute(0, 2, 3, 1).flatten(1) for h, f in zip(self.box_heads, feats)]
            cls = torch.cat(cls, dim=1).reshape(x.shape[0], -1, self.nc)
            box = torch.cat(box, dim=1).reshape(x.shape[0], -1, 4)
            return cls, box

    return SSDResNet50


def ssd_anchors(feature_sizes) -> np.ndarray:
    """SSD anchors as GluonCV's SSDAnchorGenerator lays them out (row-major over
    the feature map, anchors of one location contiguous), (cx,cy,w,h) in [0,1].
    Sizes are the 512x512 ones scaled to the input size."""
    out = []
    for k, (fh, fw) in enumerate(feature_sizes):
        s0, s1 = SSD_SIZES[k] / 512.0, SSD_SIZES[k + 1] / 512.0
        ratios = SSD_RATIOS[k]
        wh = [(s0, s0), (np.sqrt(s0 * s1), np.sqrt(s0 * s1))]
        for r in ratios[1:]:
            sr = np.sqrt(r)
            wh.append((s0 * sr, s0 / sr))
        for i in range(fh):
            for j in range(fw):
                cx, cy = (j + 0.5) / fw, (i + 0.5) / fh
                for w, h in wh:
                    out.append((cx, cy, w, h))
    return np.asarray(out, dtype=np.float32)


# ----------------------------------------------------------------------------
# export
# ----------------------------------------------------------------------------


def calibrate_batchnorm(model, shape, seed: int) -> None:
    """Replace the BatchNorm running statistics by the per-channel mean/variance
    that each BN layer actually sees on a seeded random batch (one eval-mode
    forward; each layer is set from its input before it runs, so later layers
    see already-normalised activations), with a seeded +-jitter so they are not
    exact. The randomized affine parameters are kept. Without this, 75 random
    conv layers drive the activations to zero (YOLOv3: output independent of the
    input to 1e-5) or blow them up, which makes useless quantization tests."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(4, *shape[1:], generator=gen)

    def pre_hook(m, inp):
        t = inp[0].double()
        mean = t.mean(dim=(0, 2, 3))
        var = t.var(dim=(0, 2, 3), unbiased=False)
        c = m.num_features
        jit_m = torch.randn(c, generator=gen).double() * 0.1
        jit_v = torch.rand(c, generator=gen).double() * 0.4 + 0.8
        m.running_mean.copy_((mean + jit_m * var.sqrt()).float())
        # floor: near-constant channels (1x1 maps, dead ReLUs) must not be blown up
        var = torch.maximum(var, 0.1 * var.mean()).clamp_min(1e-4)
        m.running_var.copy_((var * jit_v).float())

    hooks = [m.register_forward_pre_hook(pre_hook) for m in model.modules()
             if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    model.eval()
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()


def build(kind: str, size: int, bn: str = "calibrated"):
    seed_everything(0)
    if kind == "yolov3":
        model = _yolo_modules()()
        outputs = ["output0", "output1", "output2"]
    else:
        model = _ssd_module()()
        outputs = ["cls_preds", "box_preds"]
    randomize_batchnorm(model, seed=1)
    model.eval()
    if bn == "calibrated":
        calibrate_batchnorm(model, (1, 3, size, size), seed=2)
    return model, outputs


def export_one(kind: str, size: int, out_dir: Path, bn: str = "calibrated") -> dict:
    import onnx
    import torch

    name = f"yolov3_darknet53_{size}" if kind == "yolov3" else f"ssd_resnet50_{size}"
    shape = (1, 3, size, size)
    t0 = time.time()
    model, out_names = build(kind, size, bn)
    onnx_path = out_dir / f"{name}.onnx"
    buf = io.BytesIO()
    with torch.no_grad():
        torch.onnx.export(model, (torch.zeros(*shape),), buf,
                          opset_version=OPSET, do_constant_folding=True,
                          input_names=["input"], output_names=out_names,
                          export_params=True, keep_initializers_as_inputs=False)
    m = fold_static_shapes(onnx.load_from_string(buf.getvalue()))
    del buf
    onnx.save(m, str(onnx_path))
    t_export = time.time() - t0
    ops = {}
    for n in m.graph.node:
        ops[n.op_type] = ops.get(n.op_type, 0) + 1
    n_params = int(sum(int(np.prod(i.dims)) for i in m.graph.initializer))
    graph_outs = [o.name for o in m.graph.output]
    assert graph_outs == out_names, graph_outs
    del m

    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    t1 = time.time()
    sess = ort_session(onnx_path)
    t_load = time.time() - t1
    t2 = time.time()
    ys = [np.asarray(y, dtype=np.float32) for y in sess.run(None, {"input": x})]
    t_run = time.time() - t2
    del sess
    with torch.no_grad():
        ys_torch = [t.numpy() for t in model(torch.from_numpy(x))]
    max_diff = max(float(np.abs(a - b).max()) for a, b in zip(ys, ys_torch))

    files = {"onnx": onnx_path.name}
    in_path = out_dir / f"{name}.input.npy"
    save_npy(in_path, x)
    files["input"] = in_path.name
    out_info = []
    for oname, y in zip(out_names, ys):
        assert np.all(np.isfinite(y)), (name, oname)
        p = out_dir / f"{name}.{oname}.npy"
        save_npy(p, y)
        files[oname] = p.name
        out_info.append({"name": oname, "shape": list(y.shape), "file": p.name,
                         "abs_mean": float(np.abs(y).mean()), "abs_max": float(np.abs(y).max())})
    extra = {}
    if kind == "ssd":
        with torch.no_grad():
            fs = [tuple(f.shape[2:]) for f in model.features(torch.zeros(*shape))]
        anchors = ssd_anchors(fs)
        assert anchors.shape[0] == ys[0].shape[1], (anchors.shape, ys[0].shape)
        p = out_dir / f"{name}.anchors.npy"
        save_npy(p, anchors)
        files["anchors"] = p.name
        extra = {"feature_maps": [list(f) for f in fs],
                 "anchors_per_location": ssd_anchors_per_location(),
                 "num_classes_with_background": SSD_CLASSES + 1,
                 "box_variances": list(SSD_VARIANCES)}
    else:
        extra = {"anchors_px_at_416": [list(a) for a in YOLO_ANCHORS], "masks": YOLO_MASKS,
                 "strides": YOLO_STRIDES, "num_classes": YOLO_CLASSES}
    return {
        "name": name,
        "kind": kind,
        "opset": OPSET,
        "input_shape": list(shape),
        "outputs": out_info,
        "params": n_params,
        "bn_stats": bn,
        "onnx_bytes": onnx_path.stat().st_size,
        "op_counts": dict(sorted(ops.items())),
        "max_abs_diff_torch_vs_ort": max_diff,
        "export_seconds": round(t_export, 2),
        "ort_load_seconds": round(t_load, 2),
        "ort_run_seconds": round(t_run, 2),
        "decode": extra,
        "files": files,
        "sha256": {k: sha256_file(out_dir / v) for k, v in files.items()},
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--out", type=Path, default=TARGET / "zoo")
    ap.add_argument("--models", default=",".join(MODELS), help="comma separated, from: yolov3,ssd")
    ap.add_argument("--input-size", type=int, default=None,
                    help="square input size for both models (default: yolov3 416, ssd 512)")
    ap.add_argument("--yolo-size", type=int, default=None, help="overrides --input-size for yolov3")
    ap.add_argument("--ssd-size", type=int, default=None, help="overrides --input-size for ssd")
    ap.add_argument("--bn", choices=["calibrated", "random"], default="calibrated",
                    help="BatchNorm running stats: 'calibrated' (default) = measured on a seeded "
                         "random batch + seeded jitter; 'random' = export_torchvision.py's "
                         "random stats only (activations vanish/explode in these deep nets)")
    args = ap.parse_args(argv)

    kinds = [s for s in args.models.split(",") if s]
    for s in kinds:
        if s not in MODELS:
            ap.error(f"unknown model {s!r}; choose from {MODELS}")
    sizes = {k: args.input_size or DEFAULT_SIZE[k] for k in MODELS}
    if args.yolo_size:
        sizes["yolov3"] = args.yolo_size
    if args.ssd_size:
        sizes["ssd"] = args.ssd_size
    if "yolov3" in kinds and sizes["yolov3"] % 32:
        ap.error("yolov3 input size must be a multiple of 32")
    if "ssd" in kinds and sizes["ssd"] < 128:
        ap.error("ssd input size must be at least 128")

    out_dir: Path = args.out
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest_path = out_dir / "MANIFEST_detectors.json"
    entries = {}
    if manifest_path.exists():
        with open(manifest_path) as f:
            entries = {e["name"]: e for e in json.load(f).get("models", [])}

    for kind in kinds:
        e = export_one(kind, sizes[kind], out_dir, args.bn)
        entries[e["name"]] = e
        outs = " ".join(f"{o['name']}{o['shape']}" for o in e["outputs"])
        print(f"{e['name']:22s} {e['onnx_bytes'] / 1e6:7.1f} MB  params {e['params']:>10,d}  "
              f"export {e['export_seconds']:5.1f}s  ort load {e['ort_load_seconds']:4.1f}s "
              f"run {e['ort_run_seconds']:5.2f}s  "
              f"|torch-ort| {e['max_abs_diff_torch_vs_ort']:.1e}\n"
              f"    outputs {outs}\n    ops {e['op_counts']}")
        write_json(manifest_path, {
            "description": "detectors with random weights (torch.manual_seed(0), torch default "
                           "init, BatchNorm affine randomized, running stats calibrated on a "
                           "seeded random batch unless bn_stats is 'random'), raw head outputs "
                           "only (no box decoding / NMS in the graph), exported by "
                           "scripts/export_detectors.py",
            "versions": versions(),
            "models": [entries[n] for n in sorted(entries)],
        })
    return 0


if __name__ == "__main__":
    sys.exit(main())
