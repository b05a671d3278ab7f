//! `Mul` -> `Rescale` when one side is a positive scalar or per-channel constant, else `Mul`
//! (with the constant quantized into a `Const` node when there is one).

use tk_ir::Node;

use crate::convert::{Converter, QValue};
use crate::fold::per_channel;
use crate::ops::{Mul, QOp, Requant, Rescale};
use crate::{QuantResult, quantize_multiplier};

/// `x * c` by requantization when `c` is positive and scalar or per-channel (axis 1) and does
/// not broadcast `x` to a larger shape; `None` otherwise.
pub(super) fn by_constant(
    cx: &mut Converter,
    node: &Node,
    x_input: usize,
    c: &[f32],
    c_shape: &[usize],
) -> QuantResult<Option<QValue>> {
    let x = cx.value(node, x_input)?;
    let shape = node.fact.shape.clone();
    if cx.shape(x) != shape.as_slice() {
        return Ok(None);
    }
    let values = if c.len() == 1 {
        vec![c[0]]
    } else {
        let t = tk_ir::Tensor::from_f32(c_shape, c.to_vec())?;
        match per_channel(&t, &shape) {
            Some(v) => v,
            None => return Ok(None),
        }
    };
    if values.iter().any(|&v| !(v > 0.0 && v.is_finite())) {
        return Ok(None);
    }
    let out = cx.target(node)?;
    let pairs: Vec<(i32, u8)> = values
        .iter()
        .map(|&v| quantize_multiplier(x.scale * f64::from(v) / out.scale))
        .collect::<QuantResult<_>>()?;
    let requant = if pairs.windows(2).all(|p| p[0] == p[1]) {
        Requant {
            multipliers: vec![pairs[0].0],
            shifts: vec![pairs[0].1],
            clamp: None,
        }
    } else {
        Requant {
            multipliers: pairs.iter().map(|p| p.0).collect(),
            shifts: pairs.iter().map(|p| p.1).collect(),
            clamp: None,
        }
    };
    Ok(Some(cx.push(
        node,
        "",
        QOp::Rescale(Rescale { requant }),
        vec![x.id],
        shape,
        out,
    )))
}

pub(super) fn convert(cx: &mut Converter, node: &Node) -> QuantResult<QValue> {
    for (x, c) in [(0, 1), (1, 0)] {
        let Some(k) = cx.konst(node, c).cloned() else {
            continue;
        };
        if cx.konst(node, x).is_some() {
            break;
        }
        let flat: Vec<f32> = k.iter().copied().collect();
        if let Some(v) = by_constant(cx, node, x, &flat, k.shape())? {
            return Ok(v);
        }
    }
    let a = cx.value(node, 0)?;
    let b = cx.value(node, 1)?;
    let out = cx.target(node)?;
    let (m, shift) = quantize_multiplier(a.scale * b.scale / out.scale)?;
    Ok(cx.push(
        node,
        "",
        QOp::Mul(Mul { m, shift }),
        vec![a.id, b.id],
        node.fact.shape.clone(),
        out,
    ))
}
