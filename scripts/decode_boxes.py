#!/usr/bin/env python3
"""Decode the raw head outputs of the detectors from export_detectors.py into
boxes, outside the ONNX graph (as MRT keeps decoding and NMS outside), in numpy.

  YOLOv3: per head (stride 32, 16, 8) and anchor a, channel a*85 + k:
          bx = (sigmoid(tx) + col) * stride,  by = (sigmoid(ty) + row) * stride,
          bw = anchor_w * exp(tw),            bh = anchor_h * exp(th)
          (anchors in pixels at 416, scaled by S/416), score = sigmoid(obj) * sigmoid(cls).
  SSD:    softmax over the 21 logits (class 0 = background); with the anchors
          (cx,cy,w,h in [0,1]) from NAME.anchors.npy and variances (0.1,0.1,0.2,0.2):
          cx = acx + tx*0.1*aw, cy = acy + ty*0.1*ah, w = aw*exp(tw*0.2), h = ah*exp(th*0.2),
          times the image size.
  Then score threshold, per-class greedy NMS (IoU 0.45), top-k.

The weights are random, so the boxes mean nothing; this shows the pipeline and
gives the shapes/values a Rust-side decoder can be checked against.

Usage:
    target/pyenv/bin/python scripts/decode_boxes.py [--out DIR] [--score 0.3] [--topk 10]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import TARGET  # noqa: E402


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def nms(boxes, scores, iou_thresh):
    """Greedy NMS on (x1,y1,x2,y2); returns kept indices, best first."""
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size:
        i = order[0]
        keep.append(int(i))
        rest = order[1:]
        xx1 = np.maximum(boxes[i, 0], boxes[rest, 0])
        yy1 = np.maximum(boxes[i, 1], boxes[rest, 1])
        xx2 = np.minimum(boxes[i, 2], boxes[rest, 2])
        yy2 = np.minimum(boxes[i, 3], boxes[rest, 3])
        inter = np.clip(xx2 - xx1, 0, None) * np.clip(yy2 - yy1, 0, None)
        area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])  # noqa: E731
        iou = inter / (area(boxes[i]) + area(boxes[rest]) - inter + 1e-9)
        order = rest[iou <= iou_thresh]
    return keep


def per_class_nms(boxes, scores, classes, iou_thresh, topk):
    keep = []
    for c in np.unique(classes):
        idx = np.nonzero(classes == c)[0]
        keep += [int(idx[k]) for k in nms(boxes[idx], scores[idx], iou_thresh)]
    keep.sort(key=lambda i: -scores[i])
    return keep[:topk]


def decode_yolo(outs, meta, size):
    anchors = np.asarray(meta["anchors_px_at_416"], np.float32) * (size / 416.0)
    nc = meta["num_classes"]
    all_boxes, all_scores, all_cls = [], [], []
    for y, mask, stride in zip(outs, meta["masks"], meta["strides"]):
        _, _, h, w = y.shape
        p = y.reshape(3, 5 + nc, h, w)
        rows, cols = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
        for a, ai in enumerate(mask):
            bx = (sigmoid(p[a, 0]) + cols) * stride
            by = (sigmoid(p[a, 1]) + rows) * stride
            bw = anchors[ai, 0] * np.exp(p[a, 2])
            bh = anchors[ai, 1] * np.exp(p[a, 3])
            score = sigmoid(p[a, 4])[None] * sigmoid(p[a, 5:])          # [nc,h,w]
            cls = score.argmax(0)
            best = score.max(0)
            all_boxes.append(np.stack([bx - bw / 2, by - bh / 2, bx + bw / 2, by + bh / 2], -1)
                             .reshape(-1, 4))
            all_scores.append(best.reshape(-1))
            all_cls.append(cls.reshape(-1))
    return np.concatenate(all_boxes), np.concatenate(all_scores), np.concatenate(all_cls)


def decode_ssd(cls_preds, box_preds, anchors, meta, size):
    v = meta["box_variances"]
    logits = cls_preds[0].astype(np.float64)
    prob = np.exp(logits - logits.max(1, keepdims=True))
    prob /= prob.sum(1, keepdims=True)
    t = box_preds[0]
    cx = anchors[:, 0] + t[:, 0] * v[0] * anchors[:, 2]
    cy = anchors[:, 1] + t[:, 1] * v[1] * anchors[:, 3]
    w = anchors[:, 2] * np.exp(t[:, 2] * v[2])
    h = anchors[:, 3] * np.exp(t[:, 3] * v[3])
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], -1) * size
    fg = prob[:, 1:]
    return boxes, fg.max(1), fg.argmax(1) + 1


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--out", type=Path, default=TARGET / "zoo",
                    help="directory written by export_detectors.py")
    ap.add_argument("--score", type=float, default=0.3)
    ap.add_argument("--iou", type=float, default=0.45)
    ap.add_argument("--topk", type=int, default=10)
    args = ap.parse_args(argv)

    with open(args.out / "MANIFEST_detectors.json") as f:
        models = json.load(f)["models"]
    for e in models:
        size = e["input_shape"][2]
        outs = [np.load(args.out / o["file"]) for o in e["outputs"]]
        if e["kind"] == "yolov3":
            boxes, scores, classes = decode_yolo(outs, e["decode"], size)
        else:
            anchors = np.load(args.out / e["files"]["anchors"])
            boxes, scores, classes = decode_ssd(outs[0], outs[1], anchors, e["decode"], size)
        sel = np.nonzero(scores >= args.score)[0]
        keep = per_class_nms(boxes[sel], scores[sel], classes[sel], args.iou, args.topk)
        print(f"{e['name']}: {len(scores)} candidate boxes, {len(sel)} with score >= "
              f"{args.score}, {len(keep)} after NMS (top {args.topk}):")
        for k in keep:
            i = sel[k]
            x1, y1, x2, y2 = boxes[i]
            print(f"    class {int(classes[i]):3d}  score {scores[i]:.3f}  "
                  f"box ({x1:7.1f},{y1:7.1f})-({x2:7.1f},{y2:7.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
