//! `Div` by a constant -> multiplication by its reciprocal (`Rescale`, or `Mul` by a `Const`).

use tk_ir::Node;

use crate::convert::{Converter, QValue, unsupported};
use crate::ops::{Mul, QOp};
use crate::scales::ActScale;
use crate::{QTensor, QuantResult, quantize_multiplier, quantize_value};

pub(super) fn convert(cx: &mut Converter, node: &Node) -> QuantResult<QValue> {
    let c = cx
        .konst(node, 1)
        .ok_or_else(|| unsupported(node, "division by a non-constant".into()))?
        .clone();
    if c.iter().any(|&v| v == 0.0 || !v.is_finite()) {
        return Err(unsupported(
            node,
            "division by zero or a non-finite constant".into(),
        ));
    }
    let inv: Vec<f32> = c.iter().map(|v| 1.0 / v).collect();
    if let Some(v) = super::mul::by_constant(cx, node, 0, &inv, c.shape())? {
        return Ok(v);
    }
    // Negative or broadcasting divisors: multiply by the quantized reciprocal.
    let x = cx.value(node, 0)?;
    let max = inv.iter().fold(0f32, |m, v| m.max(v.abs()));
    let act = ActScale::from_threshold(f64::from(max), cx.options.bits);
    let data = inv
        .iter()
        .map(|&v| quantize_value(f64::from(v), act.scale, act.lo(), act.hi()))
        .collect();
    let konst = QOp::Const(crate::ops::Const {
        value: QTensor {
            shape: c.shape().to_vec(),
            data,
        },
    });
    let k = cx.push(node, "reciprocal", konst, vec![], c.shape().to_vec(), act);
    let out = cx.target(node)?;
    let (m, shift) = quantize_multiplier(x.scale * k.scale / out.scale)?;
    Ok(cx.push(
        node,
        "",
        QOp::Mul(Mul { m, shift }),
        vec![x.id, k.id],
        node.fact.shape.clone(),
        out,
    ))
}
