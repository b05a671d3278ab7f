#!/usr/bin/env bash
# Measures setup, prove and verify of some segments of a segmented model, one process per step.
# Usage: scripts/measure_segments.sh MODEL.onnx CALIB.npy INPUT.npy OUTDIR SEGMENT...
# Needs the release `tk` (cargo build --release -p tk-cli). Writes OUTDIR/m_{setup,prove,verify}_I.json
# (wall time, peak RSS) and deletes each segment's proving key after use to save disk.
set -euo pipefail
[ $# -ge 5 ] || { sed -n 2,5p "$0"; exit 2; }
root="$(cd "$(dirname "$0")/.." && pwd)"
tk="${TK:-$root/target/release/tk}"
onnx=$1 calib=$2 input=$3 out=$4
shift 4
mkdir -p "$out"
cd "$out"
[ -f model.tkq ] || "$tk" quantize "$onnx" --calib "$calib" --output model.tkq
[ -f model.tkt ] || "$tk" run model.tkq --input "$input" --output y.npy --trace model.tkt
budget="${MAX_MEMORY:-8GiB}"
for i in "$@"; do
    echo "=== segment $i $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
    "$tk" --metrics "m_setup_$i.json" setup model.tkq --keys keys --segments auto --max-memory "$budget" --segment "$i"
    "$tk" --metrics "m_prove_$i.json" prove model.tkq model.tkt --keys keys --output proofs --segment "$i"
    "$tk" --metrics "m_verify_$i.json" verify proofs --keys keys --segment "$i"
    rm -f "keys/seg-$(printf %04d "$i")/pk.bin"
done
