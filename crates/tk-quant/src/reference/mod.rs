//! A slow, obviously-correct interpreter of a [`QModel`], written straight from
//! `docs/spec/integer-ops.md` with `i128` arithmetic and no floats.
//!
//! It exists to check the quantizer (tests compare its dequantized outputs with the float
//! graph) and to cross-check the fast runtime bit for bit. Every op is a direct loop over
//! output elements; nothing is optimised.

mod linear;
mod pointwise;
mod pool;
mod softmax;
mod wiring;

use crate::ops::QOp;
use crate::{QModel, QNode, QTensor, QuantError, QuantResult};

/// `round_shift(v, s) = floor((v + 2^(s-1)) / 2^s)` for `s >= 1`, `v` for `s = 0` (spec
/// section 2: round half up).
///
/// ```
/// use tk_quant::reference::round_shift;
/// assert_eq!(round_shift(5, 1), 3);
/// assert_eq!(round_shift(-5, 1), -2);
/// assert_eq!(round_shift(-6, 2), -1);
/// ```
pub fn round_shift(v: i128, s: u8) -> i128 {
    if s == 0 {
        v
    } else {
        (v + (1i128 << (s - 1))) >> s
    }
}

/// `div_round(v, d) = floor((2v + d) / (2d))` for `d > 0` (spec section 2).
pub fn div_round(v: i128, d: i128) -> i128 {
    (2 * v + d).div_euclid(2 * d)
}

/// `clamp(v, lo, hi)` as an `i32` (`lo <= hi`).
pub fn clamp(v: i128, lo: i32, hi: i32) -> i32 {
    v.clamp(i128::from(lo), i128::from(hi)) as i32
}

/// `requant(acc; M, s, lo, hi) = clamp(round_shift(acc * M, s), lo, hi)` (spec section 3).
pub fn requant(acc: i128, m: i32, s: u8, lo: i32, hi: i32) -> i32 {
    clamp(round_shift(acc * i128::from(m), s), lo, hi)
}

/// Runs `model` on `inputs` (one per graph input, in order) and returns the graph outputs.
///
/// Validates the model first. Errors with [`QuantError::Value`] when an input has the wrong
/// shape or holds a value outside its node's bit range.
pub fn run(model: &QModel, inputs: &[QTensor]) -> QuantResult<Vec<QTensor>> {
    model.validate()?;
    let nodes = &model.graph.nodes;
    if inputs.len() != model.graph.inputs.len() {
        return Err(QuantError::Value {
            index: inputs.len(),
            reason: format!(
                "{} inputs given, the model has {}",
                inputs.len(),
                model.graph.inputs.len()
            ),
        });
    }
    let mut values: Vec<Option<QTensor>> = vec![None; nodes.len()];
    for (index, (&id, value)) in model.graph.inputs.iter().zip(inputs).enumerate() {
        let node = &nodes[id];
        let bad = |reason: String| QuantError::Value { index, reason };
        if value.shape != node.shape
            || value.data.len() != crate::ops::volume(&node.shape).map_err(bad)?
        {
            return Err(bad(format!(
                "shape {:?}, expected {:?}",
                value.shape, node.shape
            )));
        }
        if let Some(v) = value.data.iter().find(|&&v| v < node.lo() || v > node.hi()) {
            return Err(bad(format!(
                "value {v} outside the {}-bit range",
                node.bits
            )));
        }
        values[id] = Some(value.clone());
    }
    for node in nodes {
        if matches!(node.op, QOp::Input(_)) {
            continue;
        }
        let args: Vec<&QTensor> = node
            .inputs
            .iter()
            .map(|&j| {
                values[j]
                    .as_ref()
                    .expect("inputs are earlier nodes, evaluated already")
            })
            .collect();
        values[node.id] = Some(eval_node(node, &args));
    }
    Ok(model
        .graph
        .outputs
        .iter()
        .map(|&o| values[o].clone().expect("every node is evaluated"))
        .collect())
}

/// Evaluates one validated node on its input values.
fn eval_node(node: &QNode, x: &[&QTensor]) -> QTensor {
    let data = match &node.op {
        QOp::Input(_) => unreachable!("inputs are fed, not evaluated"),
        QOp::Const(c) => c.value.data.clone(),
        QOp::Conv(op) => linear::conv(op, node, x[0]),
        QOp::Gemm(op) => linear::gemm(op, node, x[0]),
        QOp::Add(op) => pointwise::add(op, node, x[0], x[1]),
        QOp::Mul(op) => pointwise::mul(op, node, x[0], x[1]),
        QOp::Rescale(op) => pointwise::rescale(op, node, x[0]),
        QOp::Clip(op) => x[0].data.iter().map(|&v| v.clamp(op.lo, op.hi)).collect(),
        QOp::Lut(op) => x[0]
            .data
            .iter()
            .map(|&v| op.table[(v - op.in_lo) as usize])
            .collect(),
        QOp::MaxPool(op) => pool::max_pool(op, node, x[0]),
        QOp::AvgPool(op) => pool::avg_pool(op, node, x[0]),
        QOp::Softmax(op) => softmax::softmax(op, node, x[0]),
        QOp::Concat(op) => wiring::concat(op, node, x),
        QOp::Reshape(_) => x[0].data.clone(),
        QOp::Transpose(op) => wiring::transpose(op, node, x[0]),
        QOp::Slice(op) => wiring::slice(op, node, x[0]),
        QOp::Pad(op) => wiring::pad(op, node, x[0]),
        QOp::Resize(op) => wiring::resize(op, node, x[0]),
    };
    QTensor {
        shape: node.shape.clone(),
        data,
    }
}

/// Row-major strides of a shape.
fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for k in (0..shape.len().saturating_sub(1)).rev() {
        s[k] = s[k + 1] * shape[k + 1];
    }
    s
}

/// The multi-index of flat position `flat` in `shape`.
fn unravel(mut flat: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for k in (0..shape.len()).rev() {
        idx[k] = flat % shape[k];
        flat /= shape[k];
    }
    idx
}

/// Flat position in an input of shape `input` (right-aligned, numpy broadcasting) that
/// output multi-index `idx` reads.
fn broadcast_offset(idx: &[usize], input: &[usize]) -> usize {
    let skip = idx.len() - input.len();
    let st = strides(input);
    input
        .iter()
        .enumerate()
        .map(|(k, &d)| if d == 1 { 0 } else { idx[skip + k] * st[k] })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_examples() {
        assert_eq!(round_shift(5, 1), 3);
        assert_eq!(round_shift(-5, 1), -2);
        assert_eq!(round_shift(-6, 2), -1);
        assert_eq!(round_shift(7, 0), 7);
        assert_eq!(div_round(5, 2), 3);
        assert_eq!(div_round(-5, 2), -2);
        assert_eq!(div_round(4, 3), 1);
        assert_eq!(div_round(1, 2), 1);
        assert_eq!(requant(1000, 1 << 30, 31, -128, 127), 127);
        assert_eq!(requant(-3, 1 << 30, 31, -128, 127), -1);
    }

    #[test]
    fn index_helpers() {
        assert_eq!(strides(&[2, 3, 4]), vec![12, 4, 1]);
        assert_eq!(unravel(23, &[2, 3, 4]), vec![1, 2, 3]);
        assert_eq!(broadcast_offset(&[1, 2, 3], &[3, 1]), 2);
        assert_eq!(broadcast_offset(&[1, 2, 3], &[2, 3, 4]), 12 + 8 + 3);
    }
}
