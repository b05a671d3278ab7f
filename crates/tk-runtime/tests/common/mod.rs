//! Shared helpers for the runtime tests: node builders and the spec formulas written out
//! naively (exact `i128` arithmetic, direct index formulas), independent of the kernels.
#![allow(dead_code)]

use proptest::prelude::*;
use tk_quant::ops::{Input, QOp};
use tk_quant::{INTEGER_SPEC_VERSION, NodeScale, QGraph, QModel, QNode, QTensor};

/// A node with the given op, inputs, shape and bits.
pub fn node(id: usize, op: QOp, inputs: Vec<usize>, shape: Vec<usize>, bits: u8) -> QNode {
    QNode {
        id,
        name: format!("n{id}"),
        ir_node: None,
        op,
        inputs,
        shape,
        bits,
    }
}

/// A tensor (panics on a length mismatch: tests build them correctly).
pub fn tensor(shape: Vec<usize>, data: Vec<i32>) -> QTensor {
    QTensor::new(shape, data).expect("well-formed test tensor")
}

/// A model over the given nodes; `Input` nodes are the graph inputs.
pub fn model(nodes: Vec<QNode>, outputs: Vec<usize>) -> QModel {
    let inputs: Vec<usize> = nodes
        .iter()
        .filter(|n| matches!(n.op, QOp::Input(_)))
        .map(|n| n.id)
        .collect();
    let mut scaled: Vec<usize> = inputs.iter().chain(&outputs).copied().collect();
    scaled.sort_unstable();
    scaled.dedup();
    // `QModel::validate` wants a (metadata-only) scale for every input and output; the
    // conversion from an integer keeps float syntax out of this crate.
    let scales = scaled
        .into_iter()
        .map(|node| NodeScale {
            node,
            scale: 1u8.into(),
        })
        .collect();
    QModel {
        spec_version: INTEGER_SPEC_VERSION,
        producer: "tk-runtime tests".into(),
        source_digest: String::new(),
        graph: QGraph {
            nodes,
            inputs,
            outputs,
        },
        scales,
    }
}

/// An `Input` node.
pub fn input(id: usize, shape: Vec<usize>, bits: u8) -> QNode {
    node(id, QOp::Input(Input {}), vec![], shape, bits)
}

/// `[lo, hi]` of `bits` bits.
pub fn range(bits: u8) -> (i32, i32) {
    (-(1 << (bits - 1)), (1 << (bits - 1)) - 1)
}

/// Spec `round_shift`, written as floor division of the exact value.
pub fn round_shift(v: i128, s: u32) -> i128 {
    if s == 0 {
        v
    } else {
        (v + (1i128 << (s - 1))).div_euclid(1i128 << s)
    }
}

/// Spec `requant`.
pub fn requant(acc: i128, m: i64, s: u32, lo: i32, hi: i32) -> i32 {
    round_shift(acc * i128::from(m), s).clamp(i128::from(lo), i128::from(hi)) as i32
}

/// Row-major multi-index of flat index `i`.
pub fn unravel(mut i: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for k in (0..shape.len()).rev() {
        idx[k] = i % shape[k];
        i /= shape[k];
    }
    idx
}

/// Flat index of a multi-index.
pub fn ravel(idx: &[usize], shape: &[usize]) -> usize {
    idx.iter().zip(shape).fold(0, |acc, (&i, &d)| acc * d + i)
}

/// Values uniformly in `[lo, hi]`.
pub fn values(len: usize, lo: i32, hi: i32) -> impl Strategy<Value = Vec<i32>> {
    proptest::collection::vec(lo..=hi, len)
}

/// A shift that mostly keeps requantized values away from the clamps, sometimes any shift.
pub fn shift() -> impl Strategy<Value = u8> {
    prop_oneof![3 => 26u8..=42, 1 => 0u8..=62]
}

/// A choice of fused clamp: `None` (the output range) or two fractions that
/// [`clamp_in`] maps into a range.
pub fn clamp_choice() -> impl Strategy<Value = Option<(u16, u16)>> {
    prop_oneof![1 => Just(None), 2 => any::<(u16, u16)>().prop_map(Some)]
}

/// The fused clamp `[lo', hi']` a [`clamp_choice`] picks inside the range of `bits` bits:
/// `lo'` anywhere in the range, `hi'` anywhere from `lo'` to the top (a Relu is `lo' = 0`).
pub fn clamp_in(choice: Option<(u16, u16)>, bits: u8) -> Option<[i32; 2]> {
    let (lo, hi) = range(bits);
    choice.map(|(a, b)| {
        let l = lo + (i32::from(a) % (hi - lo + 1));
        [l, l + (i32::from(b) % (hi - l + 1))]
    })
}

/// A multiplier `M` in `1..2^31`, mostly normalised (`>= 2^30`).
pub fn multiplier() -> impl Strategy<Value = i32> {
    prop_oneof![3 => (1i32 << 30)..=i32::MAX, 1 => 1i32..=i32::MAX]
}

/// Deterministic pseudo-random values in `[lo, hi]` (splitmix64 of `seed`).
pub fn pseudo(seed: u64, len: usize, lo: i32, hi: i32) -> Vec<i32> {
    let mut state = seed;
    (0..len)
        .map(|_| {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            let span = (i64::from(hi) - i64::from(lo) + 1) as u64;
            (i64::from(lo) + (z % span) as i64) as i32
        })
        .collect()
}

/// A small CNN: Input `[1, c, hw, hw]` -> Conv 3x3 pad 1 (`k` channels) -> Clip -> MaxPool 2
/// -> Reshape -> Gemm (10) -> Add (a Const) -> Softmax.
pub fn cnn(c: usize, hw: usize, k: usize, seed: u64) -> QModel {
    use tk_quant::ops::{
        Add, Clip, Const, Conv, Gemm, MaxPool, PoolGeometry, Requant, Reshape, Softmax,
    };
    let half = hw / 2;
    let flat = k * half * half;
    let conv = Conv {
        strides: [1, 1],
        pads: [1; 4],
        dilations: [1, 1],
        group: 1,
        weight: tensor(vec![k, c, 3, 3], pseudo(seed, k * c * 9, -127, 127)),
        bias: pseudo(seed + 1, k, -2000, 2000),
        requant: Requant {
            multipliers: pseudo(seed + 2, k, 1 << 30, i32::MAX),
            shifts: vec![40; k],
            clamp: None,
        },
    };
    let gemm = Gemm {
        weight: tensor(vec![10, flat], pseudo(seed + 3, 10 * flat, -127, 127)),
        bias: pseudo(seed + 4, 10, -5000, 5000),
        requant: Requant {
            multipliers: vec![1 << 30],
            shifts: vec![42],
            clamp: None,
        },
    };
    let exp_table: Vec<i32> = (0..64).map(|d| (1 << 14) >> (d / 4)).collect();
    let nodes = vec![
        input(0, vec![1, c, hw, hw], 8),
        node(1, QOp::Conv(conv), vec![0], vec![1, k, hw, hw], 8),
        node(
            2,
            QOp::Clip(Clip { lo: 0, hi: 127 }),
            vec![1],
            vec![1, k, hw, hw],
            8,
        ),
        node(
            3,
            QOp::MaxPool(MaxPool {
                geometry: PoolGeometry {
                    kernel: [2, 2],
                    strides: [2, 2],
                    pads: [0; 4],
                },
            }),
            vec![2],
            vec![1, k, half, half],
            8,
        ),
        node(4, QOp::Reshape(Reshape {}), vec![3], vec![1, flat], 8),
        node(5, QOp::Gemm(gemm), vec![4], vec![1, 10], 8),
        node(
            6,
            QOp::Const(Const {
                value: tensor(vec![10], pseudo(seed + 5, 10, -20, 20)),
            }),
            vec![],
            vec![10],
            8,
        ),
        node(
            7,
            QOp::Add(Add {
                ma: 1 << 20,
                mb: 1 << 19,
                shift: 20,
                clamp: None,
            }),
            vec![5, 6],
            vec![1, 10],
            8,
        ),
        node(
            8,
            QOp::Softmax(Softmax {
                axis: 1,
                exp_table,
                frac_bits: 14,
            }),
            vec![7],
            vec![1, 10],
            16,
        ),
    ];
    model(nodes, vec![8, 5])
}
