#!/usr/bin/env bash
# Seeds the fuzz corpora, fuzz/corpus/<target>/ (gitignored), from real files:
#   - the small ONNX models and .npy files in models/;
#   - a tk pipeline run: quantize the op models and the digits models, run the digits MLP with a
#     trace, set up keys and prove it;
#   - the genuine files the context-dependent targets build for themselves (the digits MLP's
#     .tkq and trace, the tiny model's keys and proof), written by running each target once
#     with TK_FUZZ_SEED_DIR set (see fuzz/src/lib.rs).
# Needs cargo-fuzz and a nightly toolchain. Re-running adds to the corpora.
set -euo pipefail
cd "$(dirname "$0")/.."

corpus=fuzz/corpus
work=target/fuzz-seeds
mkdir -p "$work"
for t in onnx_import npy_read tkq_decode tkt_read_and_check proof_decode_verify keys_decode; do
    mkdir -p "$corpus/$t"
done

# Files at most 64 KiB: every seed costs time on every mutation round.
small() { find "$@" -type f -size -64k; }

echo "== models/: ONNX and .npy seeds"
small models -name '*.onnx' | while read -r f; do
    cp "$f" "$corpus/onnx_import/$(echo "${f#models/}" | tr / _)"
done
small models -name '*.npy' | while read -r f; do
    cp "$f" "$corpus/npy_read/$(echo "${f#models/}" | tr / _)"
done

echo "== tk pipeline"
cargo build --release --quiet -p tk-cli
tk=target/release/tk
# One .tkq per op model (each exercises other integer ops), calibrated on its own input.
for onnx in models/ops/*.onnx; do
    name=$(basename "$onnx" .onnx)
    input="models/ops/$name.input.npy"
    [ -f "$input" ] || continue
    if "$tk" quantize "$onnx" --calib "$input" --output "$work/$name.tkq" >/dev/null 2>&1; then
        cp "$work/$name.tkq" "$corpus/tkq_decode/op_$name.tkq"
        # A trace of another model still exercises the reader and the header checks.
        if "$tk" run "$work/$name.tkq" --input "$input" --output "$work/$name.out.npy" \
            --trace "$work/$name.tkt" >/dev/null 2>&1; then
            small "$work/$name.tkt" | xargs -r -I{} cp {} "$corpus/tkt_read_and_check/op_$name.tkt"
        fi
    fi
done
"$tk" quantize models/digits_cnn.onnx --calib models/digits/calib_x_img.npy \
    --output "$work/digits_cnn.tkq" >/dev/null
cp "$work/digits_cnn.tkq" "$corpus/tkq_decode/"
"$tk" quantize models/digits_mlp.onnx --calib models/digits/calib_x_flat.npy \
    --output "$work/digits_mlp.tkq" >/dev/null
cp "$work/digits_mlp.tkq" "$corpus/tkq_decode/cli_digits_mlp.tkq"
"$tk" run "$work/digits_mlp.tkq" --input models/digits/sample0_flat.npy \
    --output "$work/digits_mlp.out.npy" --trace "$work/digits_mlp.tkt" >/dev/null
cp "$work/digits_mlp.tkt" "$corpus/tkt_read_and_check/cli_digits_mlp.tkt"
"$tk" setup "$work/digits_mlp.tkq" --keys "$work/keys" >/dev/null 2>&1
"$tk" prove "$work/digits_mlp.tkq" "$work/digits_mlp.tkt" --keys "$work/keys" \
    --output "$work/digits_mlp.tkp" >/dev/null
cp "$work/digits_mlp.tkp" "$corpus/proof_decode_verify/cli_digits_mlp.tkp"
cp "$work/keys/vk.bin" "$corpus/keys_decode/cli_digits_mlp.vk"
small "$work/keys/pk.bin" | xargs -r -I{} cp {} "$corpus/keys_decode/cli_digits_mlp.pk"

echo "== context seeds from the targets"
cargo +nightly fuzz build
ctx="$work/context"
rm -rf "$ctx"
: >"$work/empty"
for t in tkt_read_and_check proof_decode_verify; do
    TK_FUZZ_SEED_DIR="$ctx" cargo +nightly fuzz run "$t" "$work/empty" >/dev/null 2>&1
done
cp "$ctx/digits_mlp.tkq" "$ctx/tiny.tkq" "$corpus/tkq_decode/"
cp "$ctx/digits_mlp.tkt" "$ctx/tiny.tkt" "$corpus/tkt_read_and_check/"
cp "$ctx/tiny.tkp" "$corpus/proof_decode_verify/"
cp "$ctx/tiny.vk" "$ctx/tiny.pk" "$corpus/keys_decode/"
if cmp -s "$ctx/digits_mlp.tkq" "$work/digits_mlp.tkq"; then
    echo "the CLI's digits_mlp.tkq is the tkt target's context model: its trace is a valid seed"
else
    echo "note: the CLI's digits_mlp.tkq differs from the tkt target's context model"
fi
for t in onnx_import npy_read tkq_decode tkt_read_and_check proof_decode_verify keys_decode; do
    printf '%-22s %4d seeds\n' "$t" "$(find "$corpus/$t" -type f | wc -l)"
done
