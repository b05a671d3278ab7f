//! `Conv` -> `Conv`: per-channel symmetric weights, 32-bit bias, per-channel requantization.

use tk_ir::Node;

use super::weights::quantize_layer;
use crate::QuantResult;
use crate::convert::{Converter, QValue, unsupported};
use crate::ops::QOp;

pub(super) fn convert(
    cx: &mut Converter,
    node: &Node,
    op: &tk_ir::ops::Conv,
) -> QuantResult<QValue> {
    let x = cx.value(node, 0)?;
    let w = cx
        .konst(node, 1)
        .ok_or_else(|| unsupported(node, "non-constant weights".into()))?
        .clone();
    let b = match cx.konst(node, 2) {
        Some(b) => b.clone(),
        None if node.inputs.len() == 2 => ndarray::ArrayD::zeros(ndarray::IxDyn(&[w.shape()[0]])),
        None => return Err(unsupported(node, "non-constant bias".into())),
    };
    let out = cx.target(node)?;
    let layer = quantize_layer(cx, node, x, &w, &b, out)?;
    let q = crate::ops::Conv {
        strides: op.strides,
        pads: op.pads,
        dilations: op.dilations,
        group: op.group,
        weight: layer.weight,
        bias: layer.bias,
        requant: layer.requant,
    };
    Ok(cx.push(
        node,
        "",
        QOp::Conv(q),
        vec![x.id],
        node.fact.shape.clone(),
        out,
    ))
}
