#!/usr/bin/env bash
# Accuracy of every quantization stage (float, sim, clip, round, quantized) on every model,
# printed as a markdown table. `cargo xtask accuracy` (xtask/src/accuracy.rs) measures the
# same and also writes target/accuracy/report.{json,md}; prefer it.
#
#   cargo build --release -p tk-cli
#   bash scripts/accuracy_table.sh                       # default options (8-bit, maxabs)
#   TK_FLAGS="--mixed-sqnr 40" bash scripts/accuracy_table.sh
#   MODELS="resnet18 lenet5_mnist" bash scripts/accuracy_table.sh
#
# Trained models (models/*.onnx) are scored by top-1 / top-5 on their labelled test sets (the
# full 10,000-image MNIST / Fashion-MNIST test sets when scripts/train_*.py left them in
# target/data/, the committed subsets otherwise). Random-weight models (target/zoo/, written by
# scripts/export_torchvision.py and scripts/export_detectors.py) have no labels: each stage
# is compared with the float model on NAME.calib.npy (used for calibration too), as top-1
# agreement and output SQNR. The detectors are scored on their first raw head output
# (YOLOv3 output0, SSD cls_preds) on the first DETECTOR_SAMPLES calibration samples (box
# decoding and NMS stay outside the graph). Per-model JSON goes to target/accuracy/.
#
# Environment: TK (binary, default target/release/tk), TK_FLAGS (extra quantize flags),
# MODELS (space-separated subset), DETECTOR_SAMPLES (default 4).
set -euo pipefail
cd "$(dirname "$0")/.."

TK=${TK:-target/release/tk}
TK_FLAGS=${TK_FLAGS:-}
DETECTOR_SAMPLES=${DETECTOR_SAMPLES:-4}
OUT=target/accuracy
ZOO=target/zoo
mkdir -p "$OUT"

ALL="digits_mlp digits_cnn lenet5_mnist fashion_cnn resnet18 mobilenet_v2 mobilenet_v3_small \
squeezenet1_0 shufflenet_v2_x0_5 densenet121 alexnet vgg11 yolov3_darknet53_416 ssd_resnet50_512"
MODELS=${MODELS:-$ALL}

# MRT's published float -> quantized top-1/top-5 (pretrained ImageNet / MNIST models).
mrt() {
  case $1 in
    resnet18) echo "77.50/94.69 -> 75.31/94.06" ;;
    alexnet) echo "66.88/88.44 -> 66.56/89.06" ;;
    densenet121) echo "83.75/96.56 -> 50.31/81.25" ;;
    squeezenet1_0) echo "70.31/91.56 -> 59.38/85.94" ;;
    vgg11) echo "79.06/95.00 -> 77.50/95.94" ;;
    shufflenet_v2_x0_5) echo "73.12/90.00 -> 0.94/4.38" ;;
    lenet5_mnist) echo "99.00 -> 98.96 (MNIST CNN)" ;;
    *) echo "" ;;
  esac
}

# The first N samples of an .npy file, written once under $OUT.
head_samples() {
  local src=$1 n=$2 dst=$OUT/$(basename "${1%.npy}").first$2.npy
  if [ ! -f "$dst" ]; then
    "${PYTHON:-python3}" - "$src" "$n" "$dst" <<'EOF'
import sys
import numpy as np
a = np.load(sys.argv[1], mmap_mode="r")
np.save(sys.argv[3], np.ascontiguousarray(a[: int(sys.argv[2])]))
EOF
  fi
  echo "$dst"
}

# Prefer the full test set left in target/data/ by the training scripts.
full_or() {
  if [ -f "$1" ]; then echo "$1"; else echo "$2"; fi
}

eval_model() {
  local name=$1 onnx calib data labels=""
  case $name in
    digits_mlp)
      onnx=models/digits_mlp.onnx calib=models/digits/calib_x_flat.npy
      data=models/digits/test_x_flat.npy labels=models/digits/test_y.npy ;;
    digits_cnn)
      onnx=models/digits_cnn.onnx calib=models/digits/calib_x_img.npy
      data=models/digits/test_x_img.npy labels=models/digits/test_y.npy ;;
    lenet5_mnist | fashion_cnn)
      local d=mnist; [ "$name" = fashion_cnn ] && d=fashion
      onnx=models/$name.onnx calib=models/$d/calib_x_128.npy
      data=$(full_or target/data/$d/test_x_10000.npy models/$d/test_x_200.npy)
      labels=$(full_or target/data/$d/test_y_10000.npy models/$d/test_y_200.npy) ;;
    yolov3_* | ssd_*)
      onnx=$ZOO/$name.onnx calib=$ZOO/$name.calib.npy
      data=$(head_samples "$calib" "$DETECTOR_SAMPLES") ;;
    *)
      onnx=$ZOO/$name.onnx calib=$ZOO/$name.calib.npy data=$calib ;;
  esac
  if [ ! -f "$onnx" ] || [ ! -f "$calib" ]; then
    echo "| $name | missing $onnx or $calib (see scripts/README.md) | | | | | | |"
    return
  fi
  # shellcheck disable=SC2086
  "$TK" --metrics "$OUT/$name.metrics.json" eval "$onnx" --calib "$calib" --data "$data" \
    ${labels:+--labels "$labels"} $TK_FLAGS --json >"$OUT/$name.json" 2>/dev/null
  python3 - "$OUT/$name.json" "$OUT/$name.metrics.json" "$name" "$(mrt "$name")" <<'EOF'
import json, sys
doc = json.load(open(sys.argv[1]))
wall = json.load(open(sys.argv[2]))["wall_s"]
name, ref = sys.argv[3], sys.argv[4]
stages = {s["stage"]: s for s in doc["stages"]}
cells = []
labelled = stages["float"]["top1"] is not None
for st in ["float", "sim", "clip", "round", "quantized"]:
    s = stages[st]
    if labelled:
        top5 = "" if s["top5"] is None else f" / {100 * s['top5']:.2f}"
        cells.append(f"{100 * s['top1']:.2f}{top5}")
    else:
        db = "inf" if s["sqnr_db"] is None or s["sqnr_db"] > 1e6 else f"{s['sqnr_db']:.1f}"
        cells.append(f"{100 * s['agreement']:.2f} / {db}")
metric = "top-1 / top-5 %" if labelled else "agree % / SQNR dB"
print(f"| {name} | {doc['samples']} | {metric} | " + " | ".join(cells) + f" | {ref} | {wall:.0f} s |")
EOF
}

echo "| model | samples | metric | float | sim | clip | round | quantized | MRT reference | time |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for m in $MODELS; do
  eval_model "$m"
done
