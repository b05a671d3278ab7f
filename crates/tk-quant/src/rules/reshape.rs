//! `Reshape`, `Flatten`, `Squeeze`, `Unsqueeze` -> `Reshape` (wiring, the input's scale).

use tk_ir::Node;

use crate::QuantResult;
use crate::convert::{Converter, QValue};
use crate::ops::{QOp, Reshape};
use crate::scales::ActScale;

pub(super) fn convert(cx: &mut Converter, node: &Node) -> QuantResult<QValue> {
    let x = cx.value(node, 0)?;
    let act = ActScale {
        scale: x.scale,
        bits: x.bits,
    };
    Ok(cx.push(
        node,
        "",
        QOp::Reshape(Reshape {}),
        vec![x.id],
        node.fact.shape.clone(),
        act,
    ))
}
