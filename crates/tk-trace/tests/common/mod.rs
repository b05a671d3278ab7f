//! Fixtures for the trace tests: a tiny hand-built model (Conv + Clip + Reshape + Gemm) and
//! helpers to decode and re-encode traces.
#![allow(dead_code)]

use sha2::{Digest, Sha256};
use tk_quant::ops::{Clip, Conv, Gemm, Input, QOp, Requant, Reshape};
use tk_quant::{INTEGER_SPEC_VERSION, NodeScale, QGraph, QModel, QNode, QTensor};
use tk_trace::{Footer, Frame, Header, Kind, ModelDigest, TraceReader, write_trace};

fn node(id: usize, name: &str, op: QOp, inputs: Vec<usize>, shape: Vec<usize>) -> QNode {
    QNode {
        id,
        name: name.into(),
        ir_node: Some(id),
        op,
        inputs,
        shape,
        bits: 8,
    }
}

fn tensor(shape: Vec<usize>, data: Vec<i32>) -> QTensor {
    QTensor::new(shape, data).expect("well-formed fixture tensor")
}

/// Deterministic values in `[lo, hi]`.
pub fn pseudo(seed: u64, len: usize, lo: i32, hi: i32) -> Vec<i32> {
    let mut state = seed;
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let span = (i64::from(hi) - i64::from(lo) + 1) as u64;
            (i64::from(lo) + ((state >> 33) % span) as i64) as i32
        })
        .collect()
}

/// Input `[1, c, hw, hw]` -> Conv 3x3 pad 1 (`k` channels) -> Clip -> Reshape -> Gemm (`n`,
/// with a fused clamp `[-100, 100]`).
pub fn cnn(c: usize, hw: usize, k: usize, n: usize) -> QModel {
    let flat = k * hw * hw;
    let conv = Conv {
        strides: [1, 1],
        pads: [1; 4],
        dilations: [1, 1],
        group: 1,
        weight: tensor(vec![k, c, 3, 3], pseudo(1, k * c * 9, -127, 127)),
        bias: pseudo(2, k, -500, 500),
        requant: Requant {
            multipliers: pseudo(3, k, 1 << 30, i32::MAX),
            shifts: vec![39; k],
            clamp: None,
        },
    };
    let gemm = Gemm {
        weight: tensor(vec![n, flat], pseudo(4, n * flat, -127, 127)),
        bias: pseudo(5, n, -1000, 1000),
        requant: Requant {
            multipliers: vec![1_500_000_000],
            shifts: vec![41],
            clamp: Some([-100, 100]),
        },
    };
    QModel {
        spec_version: INTEGER_SPEC_VERSION,
        producer: "tk-trace tests".into(),
        source_digest: "0".repeat(64),
        graph: QGraph {
            nodes: vec![
                node(0, "input", QOp::Input(Input {}), vec![], vec![1, c, hw, hw]),
                node(1, "conv1", QOp::Conv(conv), vec![0], vec![1, k, hw, hw]),
                node(
                    2,
                    "relu1",
                    QOp::Clip(Clip { lo: 0, hi: 127 }),
                    vec![1],
                    vec![1, k, hw, hw],
                ),
                node(
                    3,
                    "flatten",
                    QOp::Reshape(Reshape {}),
                    vec![2],
                    vec![1, flat],
                ),
                node(4, "fc", QOp::Gemm(gemm), vec![3], vec![1, n]),
            ],
            inputs: vec![0],
            outputs: vec![4],
        },
        scales: vec![
            NodeScale {
                node: 0,
                scale: 0.0078125,
            },
            NodeScale {
                node: 4,
                scale: 0.25,
            },
        ],
    }
}

/// The golden model: 1 input channel, 4x4, 2 conv channels, 3 outputs.
pub fn tiny_model() -> QModel {
    cnn(1, 4, 2, 3)
}

/// The golden input.
pub fn tiny_input() -> QTensor {
    tensor(vec![1, 1, 4, 4], pseudo(9, 16, -128, 127))
}

/// Stand-in for the `.tkq` digest (the `.tkq` encoder belongs to tk-quant).
pub fn digest() -> ModelDigest {
    ModelDigest::of_bytes(b"tachikoma golden model v1")
}

/// The tiny model's trace.
pub fn tiny_trace() -> Vec<u8> {
    write_trace(&tiny_model(), &digest(), &[tiny_input()], Vec::new())
        .expect("trace")
        .1
}

/// Every frame of a well-formed trace, re-encodable by [`encode`].
pub struct Decoded {
    pub header: Header,
    pub frames: Vec<Frame>,
}

/// Decodes a trace that must be well formed.
pub fn decode(bytes: &[u8]) -> Decoded {
    let mut reader = TraceReader::new(bytes).expect("header");
    let frames = reader
        .by_ref()
        .collect::<Result<Vec<_>, _>>()
        .expect("frames");
    Decoded {
        header: reader.header().clone(),
        frames,
    }
}

/// Re-encodes frames into a trace with a correct footer, so only semantic checks can reject it.
pub fn encode(d: &Decoded) -> Vec<u8> {
    let mut out = b"TKTRACE\0".to_vec();
    out.extend(1u32.to_le_bytes());
    let put = |out: &mut Vec<u8>, bytes: Vec<u8>| {
        out.extend((bytes.len() as u32).to_le_bytes());
        out.extend(bytes);
    };
    put(&mut out, rmp_serde::to_vec_named(&d.header).unwrap());
    let (mut records, mut inputs) = (0, 0);
    for f in &d.frames {
        match f {
            Frame::Input(i) => {
                inputs += 1;
                put(&mut out, rmp_serde::to_vec_named(i).unwrap());
            }
            Frame::Record(r) => {
                records += 1;
                put(&mut out, rmp_serde::to_vec_named(r).unwrap());
            }
        }
    }
    let digest: [u8; 32] = Sha256::digest(&out).into();
    let digest = digest.iter().map(|b| format!("{b:02x}")).collect();
    let footer = Footer {
        kind: Kind::Footer,
        record_count: records,
        input_count: inputs,
        digest,
    };
    put(&mut out, rmp_serde::to_vec_named(&footer).unwrap());
    out
}
