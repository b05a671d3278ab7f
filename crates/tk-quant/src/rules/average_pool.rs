//! `AveragePool` -> `AvgPool`: window sum, then `requant(sum; M[count], s)` with
//! `M[count] / 2^s = scale_in / (count * scale_out)`.

use tk_ir::Node;

use crate::convert::{Converter, QValue, unsupported};
use crate::ops::{AvgPool, PoolGeometry, QOp};
use crate::{QuantResult, quantize_multiplier, round_half_up};

/// Pushes an `AvgPool` of `x` with the given integer geometry.
pub(super) fn push(
    cx: &mut Converter,
    node: &Node,
    x: QValue,
    geometry: PoolGeometry,
    count_include_pad: bool,
) -> QuantResult<QValue> {
    let out = cx.target(node)?;
    let ratio = x.scale / out.scale;
    let (_, shift) = quantize_multiplier(ratio)?;
    let window = geometry.kernel[0] * geometry.kernel[1];
    let mut multipliers = vec![0];
    for count in 1..=window {
        let m = round_half_up(ratio / count as f64 * 2f64.powi(i32::from(shift)));
        if !(1.0..2f64.powi(31)).contains(&m) {
            return Err(crate::QuantError::Multiplier {
                ratio: ratio / count as f64,
            });
        }
        multipliers.push(m as i32);
    }
    let q = AvgPool {
        geometry,
        count_include_pad,
        multipliers,
        shift,
    };
    Ok(cx.push(
        node,
        "",
        QOp::AvgPool(q),
        vec![x.id],
        node.fact.shape.clone(),
        out,
    ))
}

pub(super) fn convert(
    cx: &mut Converter,
    node: &Node,
    op: &tk_ir::ops::AveragePool,
) -> QuantResult<QValue> {
    let x = cx.value(node, 0)?;
    let input = cx.shape(x).to_vec();
    let (geometry, extended) = super::max_pool::geometry(node, &op.geometry, &input)?;
    if extended && op.count_include_pad {
        return Err(unsupported(node, "ceil mode with count_include_pad".into()));
    }
    push(cx, node, x, geometry, op.count_include_pad)
}
