//! Shared fixtures of the criterion benches: synthetic integer nodes and the repo's models.
#![deny(missing_docs)]

use std::path::{Path, PathBuf};

use tk_quant::ops::{Conv, Gemm, QOp, Requant, Rescale};
use tk_quant::{QModel, QNode, QTensor, QuantOptions};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A deterministic pseudo-random 8-bit tensor (xorshift; no RNG dependency needed).
pub fn tensor_i8(shape: &[usize], seed: u64) -> QTensor {
    let n: usize = shape.iter().product();
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let data = (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % 255) as i32 - 127
        })
        .collect();
    QTensor {
        shape: shape.to_vec(),
        data,
    }
}

fn requant(channels: usize) -> Requant {
    Requant {
        multipliers: vec![1 << 30; channels],
        shifts: vec![40; channels],
        clamp: None,
    }
}

/// A 3x3, stride 1, pad 1 convolution node over `[1, c_in, hw, hw]` to `c_out` channels.
pub fn conv_node(c_in: usize, c_out: usize, hw: usize, group: usize) -> QNode {
    QNode {
        id: 1,
        name: "conv".into(),
        ir_node: None,
        op: QOp::Conv(Conv {
            strides: [1, 1],
            pads: [1, 1, 1, 1],
            dilations: [1, 1],
            group,
            weight: tensor_i8(&[c_out, c_in / group, 3, 3], 7),
            bias: vec![100; c_out],
            requant: requant(c_out),
        }),
        inputs: vec![0],
        shape: vec![1, c_out, hw, hw],
        bits: 8,
    }
}

/// A 1x1 convolution node `[1, c_in, hw, hw] -> [1, c_out, hw, hw]` (stride 1, no padding).
pub fn pointwise_node(c_in: usize, c_out: usize, hw: usize) -> QNode {
    QNode {
        id: 1,
        name: "pointwise".into(),
        ir_node: None,
        op: QOp::Conv(Conv {
            strides: [1, 1],
            pads: [0, 0, 0, 0],
            dilations: [1, 1],
            group: 1,
            weight: tensor_i8(&[c_out, c_in, 1, 1], 7),
            bias: vec![100; c_out],
            requant: requant(c_out),
        }),
        inputs: vec![0],
        shape: vec![1, c_out, hw, hw],
        bits: 8,
    }
}

/// A fully connected node `[rows, k] -> [rows, n]`.
pub fn gemm_node(rows: usize, k: usize, n: usize) -> QNode {
    QNode {
        id: 1,
        name: "gemm".into(),
        ir_node: None,
        op: QOp::Gemm(Gemm {
            weight: tensor_i8(&[n, k], 11),
            bias: vec![0; n],
            requant: requant(n),
        }),
        inputs: vec![0],
        shape: vec![rows, n],
        bits: 8,
    }
}

/// A per-tensor requantization node over `shape`.
pub fn rescale_node(shape: &[usize]) -> QNode {
    QNode {
        id: 1,
        name: "rescale".into(),
        ir_node: None,
        op: QOp::Rescale(Rescale {
            requant: Requant {
                multipliers: vec![1_518_500_250],
                shifts: vec![31],
                clamp: None,
            },
        }),
        inputs: vec![0],
        shape: shape.to_vec(),
        bits: 8,
    }
}

/// One of the repo's trained models, quantized with its calibration set, and one input.
pub fn repo_model(onnx: &str, calib: &str, sample: &str) -> (QModel, Vec<QTensor>) {
    let root = root();
    let imported =
        tk_ir::onnx::import_onnx(&root.join(onnx), &Default::default()).expect("model imports");
    let calib = tk_ir::npy::read_npy(&root.join(calib)).expect("calibration data");
    let q =
        tk_quant::quantize(&imported.graph, &[calib], &QuantOptions::default()).expect("quantizes");
    let x = tk_ir::npy::read_npy(&root.join(sample)).expect("sample");
    let inputs = tk_quant::quantize_inputs(&q.model, &[x]).expect("input quantizes");
    (q.model, inputs)
}
