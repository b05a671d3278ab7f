//! `Resize` (nearest, integer factors) -> `Resize` (wiring).

use tk_ir::Node;

use crate::QuantResult;
use crate::convert::{Converter, QValue};
use crate::ops::{QOp, Resize};
use crate::scales::ActScale;

pub(super) fn convert(
    cx: &mut Converter,
    node: &Node,
    op: &tk_ir::ops::Resize,
) -> QuantResult<QValue> {
    let x = cx.value(node, 0)?;
    let act = ActScale {
        scale: x.scale,
        bits: x.bits,
    };
    let q = Resize {
        scales: op.scales.clone(),
    };
    Ok(cx.push(
        node,
        "",
        QOp::Resize(q),
        vec![x.id],
        node.fact.shape.clone(),
        act,
    ))
}
