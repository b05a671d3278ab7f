//! Import of models their framework already quantized: `QLinearConv`, `QLinearMatMul`,
//! `ConvInteger`, `MatMulInteger`, `DynamicQuantizeLinear` and int32 `DequantizeLinear`,
//! checked against integer reference semantics on hand-built models and against the
//! onnxruntime outputs stored with `models/qdq/`.

mod common;

use common::build::{Dim, bytes, f32_init, int, ints, model, node, typed_value, value};
use common::workspace_root;
use tk_ir::onnx::{ImportOptions, import_onnx, import_onnx_bytes};
use tk_ir::ops::Op;
use tk_ir::{IrError, Tensor};
use tract_onnx::pb;

const UINT8: i32 = 2;
const INT8: i32 = 3;
const INT32: i32 = 6;

/// An integer initializer of ONNX type `data_type` (uint8, int8 or int32).
fn int_init(name: &str, data_type: i32, dims: &[i64], data: Vec<i32>) -> pb::TensorProto {
    pb::TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type,
        int32_data: data,
        ..Default::default()
    }
}

fn scalar(name: &str, v: f32) -> pb::TensorProto {
    f32_init(name, &[], vec![v])
}

fn zp(name: &str, data_type: i32, v: i32) -> pb::TensorProto {
    int_init(name, data_type, &[], vec![v])
}

/// Deterministic values in `[-1, 1)` that avoid exact ties after scaling.
fn values(n: usize, seed: u32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (s >> 8) as f32 / (1u32 << 23) as f32 - 1.0 + 1e-4
        })
        .collect()
}

fn eval(m: &pb::ModelProto, inputs: &[Tensor]) -> Vec<Vec<f32>> {
    let imported = import_onnx_bytes(&bytes(m), &ImportOptions::default()).unwrap();
    tk_ir::eval::eval(&imported.graph, inputs)
        .unwrap()
        .iter()
        .map(|t| t.as_f32().unwrap().iter().copied().collect())
        .collect()
}

fn import_err(m: &pb::ModelProto) -> IrError {
    import_onnx_bytes(&bytes(m), &ImportOptions::default()).unwrap_err()
}

/// onnxruntime's `QuantizeLinear`: `clamp(round_half_even(x / s) + z, lo, hi)`.
fn quantize(x: f32, s: f32, z: i32, lo: i32, hi: i32) -> i32 {
    ((x / s).round_ties_even() as i32 + z).clamp(lo, hi)
}

/// onnxruntime's requantization of an int32 accumulator to uint8.
fn requantize(acc: i32, multiplier: f32, z: i32) -> i32 {
    ((acc as f32 * multiplier).round_ties_even() as i32 + z).clamp(0, 255)
}

#[test]
fn qlinear_matmul_matches_integer_semantics() {
    // uint8 activations (zero point 100), int8 weights per column, uint8 output.
    let (xs, xz, ys, yz) = (0.01f32, 100, 0.02f32, 120);
    let w: Vec<i32> = (0..12).map(|i| (i * 37 % 200) - 100).collect();
    let ws = [0.004f32, 0.003, 0.005];
    let m = model(
        13,
        vec![
            node("QuantizeLinear", "q", &["x", "xs", "xz"], &["xq"], vec![]),
            node(
                "QLinearMatMul",
                "mm",
                &["xq", "xs", "xz", "w", "ws", "wz", "ys", "yz"],
                &["yq"],
                vec![],
            ),
            node(
                "DequantizeLinear",
                "dq",
                &["yq", "ys", "yz"],
                &["y"],
                vec![],
            ),
        ],
        vec![value("x", &[Dim::N(2), Dim::N(4)])],
        vec![value("y", &[])],
        vec![
            scalar("xs", xs),
            zp("xz", UINT8, xz),
            int_init("w", INT8, &[4, 3], w.clone()),
            f32_init("ws", &[3], ws.to_vec()),
            int_init("wz", INT8, &[3], vec![0; 3]),
            scalar("ys", ys),
            zp("yz", UINT8, yz),
        ],
    );
    let x = values(8, 1);
    let got = &eval(&m, &[Tensor::from_f32(&[2, 4], x.clone()).unwrap()])[0];
    let xq: Vec<i32> = x.iter().map(|&v| quantize(v, xs, xz, 0, 255)).collect();
    for r in 0..2 {
        for c in 0..3 {
            let acc: i32 = (0..4).map(|k| (xq[r * 4 + k] - xz) * w[k * 3 + c]).sum();
            let want = (requantize(acc, xs * ws[c] / ys, yz) - yz) as f32 * ys;
            let have = got[r * 3 + c];
            assert!((have - want).abs() < 1e-6, "[{r},{c}] {have} vs {want}");
        }
    }
}

/// `x [1, 2, 4, 4]` by `w [3, 2, 3, 3]`, padding 1: the integer accumulator with zero points.
fn conv_acc(x: &[i32], xz: i32, w: &[i32], wz: &[i32], m: usize, oy: usize, ox: usize) -> i32 {
    let mut acc = 0;
    for c in 0..2 {
        for i in 0..3 {
            for j in 0..3 {
                let (y, x_) = (oy as i64 + i as i64 - 1, ox as i64 + j as i64 - 1);
                if !(0..4).contains(&y) || !(0..4).contains(&x_) {
                    continue;
                }
                let xv = x[c * 16 + y as usize * 4 + x_ as usize] - xz;
                acc += xv * (w[((m * 2 + c) * 3 + i) * 3 + j] - wz[m]);
            }
        }
    }
    acc
}

#[test]
fn qlinear_conv_matches_integer_semantics() {
    let (xs, xz, ys, yz) = (0.008f32, 128, 0.03f32, 10);
    let w: Vec<i32> = (0..54).map(|i| (i * 53 % 255) - 127).collect();
    let ws = [0.002f32, 0.004, 0.003];
    let bias = [300, -2000, 45];
    let pads = ints("pads", &[1, 1, 1, 1]);
    let m = model(
        13,
        vec![
            node("QuantizeLinear", "q", &["x", "xs", "xz"], &["xq"], vec![]),
            node(
                "QLinearConv",
                "conv",
                &["xq", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"],
                &["yq"],
                vec![pads, ints("kernel_shape", &[3, 3])],
            ),
            node(
                "DequantizeLinear",
                "dq",
                &["yq", "ys", "yz"],
                &["y"],
                vec![],
            ),
        ],
        vec![value("x", &[Dim::N(1), Dim::N(2), Dim::N(4), Dim::N(4)])],
        vec![value("y", &[])],
        vec![
            scalar("xs", xs),
            zp("xz", UINT8, xz),
            int_init("w", INT8, &[3, 2, 3, 3], w.clone()),
            f32_init("ws", &[3], ws.to_vec()),
            int_init("wz", INT8, &[3], vec![0; 3]),
            scalar("ys", ys),
            zp("yz", UINT8, yz),
            int_init("b", INT32, &[3], bias.to_vec()),
        ],
    );
    let x = values(32, 2);
    let got = &eval(&m, &[Tensor::from_f32(&[1, 2, 4, 4], x.clone()).unwrap()])[0];
    let xq: Vec<i32> = x.iter().map(|&v| quantize(v, xs, xz, 0, 255)).collect();
    let mut saturated = 0;
    for c in 0..3 {
        for p in 0..16 {
            let acc = conv_acc(&xq, xz, &w, &[0; 3], c, p / 4, p % 4) + bias[c];
            let q = requantize(acc, xs * ws[c] / ys, yz);
            let want = (q - yz) as f32 * ys;
            let have = got[c * 16 + p];
            assert!((have - want).abs() < 1e-6, "[{c},{p}] {have} vs {want}");
            saturated += usize::from(q == 0 || q == 255);
        }
    }
    // The uint8 saturation at -zero point is covered too.
    assert!(saturated > 0);
}

#[test]
fn conv_integer_subtracts_zero_points() {
    // uint8 activations with zero point 7 and uint8 weights with per-channel zero points.
    let w: Vec<i32> = (0..36).map(|i| i * 29 % 256).collect();
    let wz = [120, 3];
    let m = model(
        13,
        vec![
            node("QuantizeLinear", "q", &["x", "xs", "xz"], &["xq"], vec![]),
            node(
                "ConvInteger",
                "conv",
                &["xq", "w", "xz", "wz"],
                &["acc"],
                vec![ints("pads", &[1, 1, 1, 1])],
            ),
            node("Cast", "cast", &["acc"], &["y"], vec![int("to", 1)]),
        ],
        vec![value("x", &[Dim::N(1), Dim::N(2), Dim::N(4), Dim::N(4)])],
        vec![value("y", &[])],
        vec![
            scalar("xs", 0.01),
            zp("xz", UINT8, 7),
            int_init("w", UINT8, &[2, 2, 3, 3], w.clone()),
            int_init("wz", UINT8, &[2], wz.to_vec()),
        ],
    );
    let x = values(32, 3);
    let got = &eval(&m, &[Tensor::from_f32(&[1, 2, 4, 4], x.clone()).unwrap()])[0];
    let xq: Vec<i32> = x.iter().map(|&v| quantize(v, 0.01, 7, 0, 255)).collect();
    for c in 0..2 {
        for p in 0..16 {
            let want = conv_acc(&xq, 7, &w, &wz, c, p / 4, p % 4) as f32;
            assert_eq!(got[c * 16 + p], want, "[{c},{p}]");
        }
    }
}

/// onnxruntime's `DynamicQuantizeLinear` parameters, computed independently.
fn dynamic_params(x: &[f32]) -> (f32, i32) {
    let lo = x.iter().fold(0f32, |m, &v| m.min(v));
    let hi = x.iter().fold(0f32, |m, &v| m.max(v));
    let scale = (hi - lo) / 255.0;
    (
        scale,
        (-lo / scale).round_ties_even().clamp(0.0, 255.0) as i32,
    )
}

#[test]
fn dynamic_quantization_chain_matches_integer_semantics() {
    // What quantize_dynamic emits for a MatMul: DynamicQuantizeLinear, MatMulInteger, Cast,
    // and the product of the two scales; plus a DequantizeLinear of the dynamic tensor.
    let w: Vec<i32> = (0..8).map(|i| i * 31 % 256).collect();
    let ws = 0.02f32;
    let m = model(
        13,
        vec![
            node(
                "DynamicQuantizeLinear",
                "dql",
                &["x"],
                &["xq", "xs", "xz"],
                vec![],
            ),
            node("Mul", "scales", &["xs", "ws"], &["s"], vec![]),
            node(
                "MatMulInteger",
                "mm",
                &["xq", "w", "xz", "wz"],
                &["acc"],
                vec![],
            ),
            node("Cast", "cast", &["acc"], &["accf"], vec![int("to", 1)]),
            node("Mul", "rescale", &["accf", "s"], &["y"], vec![]),
            node(
                "DequantizeLinear",
                "dq",
                &["xq", "xs", "xz"],
                &["xr"],
                vec![],
            ),
        ],
        vec![value("x", &[Dim::N(1), Dim::N(4)])],
        vec![value("y", &[]), value("xr", &[])],
        vec![
            int_init("w", UINT8, &[4, 2], w.clone()),
            scalar("ws", ws),
            zp("wz", UINT8, 130),
        ],
    );
    let x = vec![-0.7f32, 0.31, 1.9, 0.05];
    let got = eval(&m, &[Tensor::from_f32(&[1, 4], x.clone()).unwrap()]);
    let (s, z) = dynamic_params(&x);
    let xq: Vec<i32> = x.iter().map(|&v| quantize(v, s, z, 0, 255)).collect();
    for (k, &q) in xq.iter().enumerate() {
        let want = (q - z) as f32 * s;
        assert!((got[1][k] - want).abs() < 1e-6, "xr[{k}]");
    }
    for c in 0..2 {
        let acc: i32 = (0..4).map(|k| (xq[k] - z) * (w[k * 2 + c] - 130)).sum();
        let want = acc as f32 * (s * ws);
        assert!(
            (got[0][c] - want).abs() <= 1e-5 * want.abs().max(1.0),
            "y[{c}] {} vs {want}",
            got[0][c]
        );
    }
    let imported = import_onnx_bytes(&bytes(&m), &ImportOptions::default()).unwrap();
    let ops: Vec<&str> = imported
        .graph
        .nodes()
        .iter()
        .filter(|n| !matches!(n.op, Op::Const(_)))
        .map(|n| n.op.as_def().name())
        .collect();
    // The three outputs of DynamicQuantizeLinear are three nodes; `xq - xz` is a
    // DequantizeLinear with scale 1 and a run-time zero point.
    assert_eq!(
        ops,
        [
            "Input",
            "DynamicQuantizeLinear",
            "DynamicQuantizeLinear",
            "DynamicQuantizeLinear",
            "Mul",
            "DequantizeLinear",
            "MatMul",
            "Identity",
            "Mul",
            "DequantizeLinear"
        ]
    );
}

#[test]
fn int32_dequantize_linear_is_folded() {
    let m = model(
        13,
        vec![
            node(
                "DequantizeLinear",
                "bias_dq",
                &["b", "bs", "bz"],
                &["bias"],
                vec![int("axis", 0)],
            ),
            node("Add", "add", &["x", "bias"], &["y"], vec![]),
        ],
        vec![value("x", &[Dim::N(3)])],
        vec![value("y", &[])],
        vec![
            int_init("b", INT32, &[3], vec![-2_000_000_000, 5, 1_000_003]),
            f32_init("bs", &[3], vec![1e-9, 0.5, 0.25]),
            int_init("bz", INT32, &[3], vec![0, 1, 3]),
        ],
    );
    let imported = import_onnx_bytes(&bytes(&m), &ImportOptions::default()).unwrap();
    assert!(
        imported
            .graph
            .nodes()
            .iter()
            .all(|n| !matches!(n.op, Op::DequantizeLinear(_)))
    );
    let got = &eval(&m, &[Tensor::from_f32(&[3], vec![0.0; 3]).unwrap()])[0];
    assert_eq!(got, &[-2_000_000_000f32 * 1e-9, 2.0, 250_000.0]);
}

/// `QLinearMatMul` of a `[1, 2]` input of ONNX type `x_type` by a constant int8 `[2, 2]`
/// matrix, with activation scale `a_scale`.
fn small_qlinear_matmul(x_type: i32, a_scale: pb::TensorProto) -> pb::ModelProto {
    model(
        13,
        vec![node(
            "QLinearMatMul",
            "mm",
            &["x", "as", "az", "w", "ws", "wz", "ys", "yz"],
            &["y"],
            vec![],
        )],
        vec![typed_value("x", x_type, &[Dim::N(1), Dim::N(2)])],
        vec![typed_value("y", UINT8, &[])],
        vec![
            a_scale,
            zp("az", UINT8, 0),
            int_init("w", INT8, &[2, 2], vec![1, 2, 3, 4]),
            scalar("ws", 0.1),
            zp("wz", INT8, 0),
            scalar("ys", 0.1),
            zp("yz", UINT8, 0),
        ],
    )
}

#[test]
fn unsupported_forms_are_refused_naming_the_node() {
    let per_tensor = scalar("as", 0.1);
    // A float tensor where a quantized one is expected.
    let err = import_err(&small_qlinear_matmul(1, per_tensor.clone()));
    assert!(
        matches!(&err, IrError::Unsupported { node, feature, .. }
            if node == "mm" && feature.contains("FLOAT")),
        "{err}"
    );
    // Per-row activation scales.
    let err = import_err(&small_qlinear_matmul(
        UINT8,
        f32_init("as", &[2], vec![0.1, 0.2]),
    ));
    assert!(
        matches!(&err, IrError::Unsupported { node, feature, .. }
            if node == "mm" && feature.contains("per axis")),
        "{err}"
    );
    // The well-formed model imports.
    let ok = small_qlinear_matmul(UINT8, per_tensor);
    import_onnx_bytes(&bytes(&ok), &ImportOptions::default()).unwrap();
    // An int32 DequantizeLinear of run-time data.
    let m = model(
        13,
        vec![node("DequantizeLinear", "dq", &["x", "s"], &["y"], vec![])],
        vec![typed_value("x", INT32, &[Dim::N(2)])],
        vec![value("y", &[])],
        vec![scalar("s", 0.5)],
    );
    let err = import_err(&m);
    assert!(
        matches!(&err, IrError::Unsupported { node, .. } if node == "dq"),
        "{err}"
    );
}

#[derive(serde::Deserialize)]
struct Manifest {
    models: Vec<Entry>,
}

#[derive(serde::Deserialize)]
struct Entry {
    name: String,
    files: Files,
    top1: Option<Top1>,
}

#[derive(serde::Deserialize)]
struct Files {
    onnx: String,
    input: String,
    output: String,
}

#[derive(serde::Deserialize)]
struct Top1 {
    quantized: f64,
}

fn manifest() -> Manifest {
    let path = workspace_root().join("models/qdq/MANIFEST.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn argmax(v: &[f32]) -> usize {
    (0..v.len()).fold(0, |best, i| if v[i] > v[best] { i } else { best })
}

/// Every pre-quantized model imports and its float evaluation reproduces onnxruntime on the
/// stored sample: same top-1 class, and at most one output quantization step of difference
/// (the only divergence is a float rounding landing on the other side of a tie).
#[test]
fn qdq_models_match_onnxruntime() {
    let dir = workspace_root().join("models/qdq");
    for e in manifest().models {
        let m = import_onnx(&dir.join(&e.files.onnx), &ImportOptions::default())
            .unwrap_or_else(|err| panic!("{}: {err}", e.name));
        let x = tk_ir::npy::read_npy(&dir.join(&e.files.input)).unwrap();
        let want = tk_ir::npy::read_npy(&dir.join(&e.files.output)).unwrap();
        let got = tk_ir::eval::eval(&m.graph, &[x]).unwrap();
        assert_eq!(got[0].shape(), want.shape(), "{}", e.name);
        let (got, want) = (common::values(&got[0]), common::values(&want));
        let err = got
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        let range = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        println!(
            "{:<24} max |tk - ort| {err:.2e} (outputs up to {range:.2})",
            e.name
        );
        // One step of a uint8 grid over the output range.
        assert!(err <= range / 127.0, "{}: error {err}", e.name);
        if want.len() == 10 {
            let (g, w): (Vec<f32>, Vec<f32>) = got
                .iter()
                .zip(&want)
                .map(|(&a, &b)| (a as f32, b as f32))
                .unzip();
            assert_eq!(argmax(&g), argmax(&w), "{}: top-1", e.name);
        }
    }
}

/// On the digits test set, the imported graphs of the digits models have exactly the top-1
/// accuracy onnxruntime measured for the quantized models (recorded in the manifest).
#[test]
fn digits_models_have_onnxruntime_accuracy() {
    let root = workspace_root().join("models");
    let labels = tk_ir::npy::read_npy(&root.join("digits/test_y.npy"))
        .unwrap()
        .to_i64_vec()
        .unwrap();
    for e in manifest()
        .models
        .into_iter()
        .filter(|e| e.name.starts_with("digits_"))
    {
        let m = import_onnx(
            &root.join("qdq").join(&e.files.onnx),
            &ImportOptions::default(),
        )
        .unwrap();
        let test = if e.name.contains("mlp") {
            "flat"
        } else {
            "img"
        };
        let x = tk_ir::npy::read_npy(&root.join(format!("digits/test_x_{test}.npy"))).unwrap();
        let x = x.as_f32().unwrap();
        let mut shape = x.shape().to_vec();
        shape[0] = 1;
        let mut correct = 0;
        for (xi, &label) in x.outer_iter().zip(&labels) {
            let xi = Tensor::from_f32(&shape, xi.iter().copied().collect()).unwrap();
            let y = tk_ir::eval::eval(&m.graph, &[xi]).unwrap();
            let y: Vec<f32> = y[0].as_f32().unwrap().iter().copied().collect();
            correct += usize::from(argmax(&y) as i64 == label);
        }
        let top1 = correct as f64 / labels.len() as f64;
        let ort = e.top1.unwrap().quantized;
        println!("{:<16} top-1 {top1:.6} (onnxruntime {ort:.6})", e.name);
        assert!((top1 - ort).abs() < 0.5 / labels.len() as f64, "{}", e.name);
    }
}
