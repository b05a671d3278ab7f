//! `Transpose` -> `Transpose` (wiring).

use tk_ir::Node;

use crate::QuantResult;
use crate::convert::{Converter, QValue};
use crate::ops::{QOp, Transpose};
use crate::scales::ActScale;

pub(super) fn convert(
    cx: &mut Converter,
    node: &Node,
    op: &tk_ir::ops::Transpose,
) -> QuantResult<QValue> {
    let x = cx.value(node, 0)?;
    let act = ActScale {
        scale: x.scale,
        bits: x.bits,
    };
    let q = Transpose {
        perm: op.perm.clone(),
    };
    Ok(cx.push(
        node,
        "",
        QOp::Transpose(q),
        vec![x.id],
        node.fact.shape.clone(),
        act,
    ))
}
