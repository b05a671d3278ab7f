//! Element-wise arithmetic: `Add`, `Mul` (with numpy broadcasting) and `Rescale`.

use super::{broadcast_offset, clamp, requant, round_shift, unravel};
use crate::ops::{Add, Mul, Rescale};
use crate::{QNode, QTensor};

/// Applies `f(a, b)` to every output element, reading broadcast inputs.
fn binary(node: &QNode, a: &QTensor, b: &QTensor, f: impl Fn(i128, i128) -> i32) -> Vec<i32> {
    let len: usize = node.shape.iter().product();
    (0..len)
        .map(|flat| {
            let idx = unravel(flat, &node.shape);
            let va = a.data[broadcast_offset(&idx, &a.shape)];
            let vb = b.data[broadcast_offset(&idx, &b.shape)];
            f(i128::from(va), i128::from(vb))
        })
        .collect()
}

pub(super) fn add(op: &Add, node: &QNode, a: &QTensor, b: &QTensor) -> Vec<i32> {
    let (ma, mb) = (i128::from(op.ma), i128::from(op.mb));
    let (lo, hi) = node.clamp_bounds();
    binary(node, a, b, |x, y| {
        clamp(round_shift(x * ma + y * mb, op.shift), lo, hi)
    })
}

pub(super) fn mul(op: &Mul, node: &QNode, a: &QTensor, b: &QTensor) -> Vec<i32> {
    binary(node, a, b, |x, y| {
        requant(x * y, op.m, op.shift, node.lo(), node.hi())
    })
}

pub(super) fn rescale(op: &Rescale, node: &QNode, x: &QTensor) -> Vec<i32> {
    let (lo, hi) = node.clamp_bounds();
    x.data
        .iter()
        .enumerate()
        .map(|(flat, &v)| {
            let c = if op.requant.multipliers.len() == 1 {
                0
            } else {
                unravel(flat, &x.shape)[1]
            };
            let (m, s) = op.requant.for_channel(c);
            requant(i128::from(v), m, s, lo, hi)
        })
        .collect()
}
