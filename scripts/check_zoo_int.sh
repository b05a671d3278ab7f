#!/usr/bin/env bash
# Every zoo model end to end on the integer path: quantize with its calibration set, run
# integer-only on its sample input with a trace, and replay the trace with `tk check`.
# Prints one markdown row per model: ops, trace records and bytes, and the check verdict.
#
#   cargo build --release -p tk-cli
#   bash scripts/check_zoo_int.sh            # every model in target/zoo (see scripts/README.md)
#   MODELS="resnet18 vgg11" bash scripts/check_zoo_int.sh
set -euo pipefail
cd "$(dirname "$0")/.."
TK=${TK:-target/release/tk}
ZOO=target/zoo
OUT=target/zoo-int
mkdir -p "$OUT"
ALL="resnet18 mobilenet_v2 mobilenet_v3_small squeezenet1_0 shufflenet_v2_x0_5 densenet121 \
alexnet vgg11 yolov3_darknet53_416 ssd_resnet50_512"
MODELS=${MODELS:-$ALL}
echo "| model | integer ops | trace records | trace bytes | quantize (s) | run+trace (s) | check (s) | tk check |"
echo "|---|---|---|---|---|---|---|---|"
for m in $MODELS; do
  onnx=$ZOO/$m.onnx calib=$ZOO/$m.calib.npy input=$ZOO/$m.input.npy
  if [ ! -f "$onnx" ] || [ ! -f "$calib" ] || [ ! -f "$input" ]; then
    echo "| $m | missing $onnx, $calib or $input | | | | | | |"
    continue
  fi
  q=$OUT/$m.tkq t=$OUT/$m.tkt
  "$TK" --metrics "$OUT/$m.quantize.json" quantize "$onnx" --calib "$calib" --output "$q" >/dev/null
  "$TK" --metrics "$OUT/$m.run.json" run "$q" --input "$input" --output "$OUT/$m.y.npy" \
    --trace "$t" >/dev/null
  if verdict=$("$TK" --metrics "$OUT/$m.check.json" check "$t" --model "$q" 2>&1); then :; fi
  python3 - "$OUT" "$m" "$verdict" <<'PY'
import json, os, sys
out, m, verdict = sys.argv[1:4]
w = lambda s: json.load(open(f"{out}/{m}.{s}.json"))
q = w("quantize")
ops = q.get("details", {}).get("integer_ops", "?")
size = os.path.getsize(f"{out}/{m}.tkt")
records = verdict.split()[1] if verdict.startswith("ok:") else "?"
print(f"| {m} | {ops} | {records} | {size} | {q['wall_s']:.1f} | {w('run')['wall_s']:.1f} | "
      f"{w('check')['wall_s']:.1f} | {verdict.splitlines()[-1][:60]} |")
PY
done
