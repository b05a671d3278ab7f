#!/usr/bin/env bash
# Float agreement of `tk run` with onnxruntime on the torchvision zoo and the detectors.
# Needs the exports in target/zoo (scripts/export_torchvision.py, scripts/export_detectors.py).
# Prints one line per model: time, max relative error, argmax equality; exits non-zero on a miss.
set -uo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p tk-cli || exit 1
PY=${PY:-/usr/bin/python3}
status=0
for m in resnet18 mobilenet_v2 mobilenet_v3_small squeezenet1_0 shufflenet_v2_x0_5 densenet121 alexnet vgg11; do
    [ -f "target/zoo/$m.onnx" ] || { echo "$m: missing (run scripts/export_torchvision.py)"; continue; }
    start=$(date +%s.%N)
    if ! ./target/release/tk run "target/zoo/$m.onnx" --input "target/zoo/$m.input.npy" --output "target/zoo/$m.tk.npy"; then
        echo "$m: tk run failed"; status=1; continue
    fi
    end=$(date +%s.%N)
    printf '%-20s %6.2f s  ' "$m" "$(echo "$end - $start" | bc)"
    $PY scripts/compare_outputs.py "target/zoo/$m.tk.npy" "target/zoo/$m.output.npy" --tol 1e-4 || status=1
done
exit $status
