//! `Pad` with value 0 -> `Pad` (wiring; 0 is the quantized zero).

use tk_ir::Node;

use crate::QuantResult;
use crate::convert::{Converter, QValue, unsupported};
use crate::ops::{Pad, QOp};
use crate::scales::ActScale;

pub(super) fn convert(
    cx: &mut Converter,
    node: &Node,
    op: &tk_ir::ops::Pad,
) -> QuantResult<QValue> {
    if op.value != 0.0 {
        return Err(unsupported(
            node,
            format!("padding with {} (only 0 is supported)", op.value),
        ));
    }
    let x = cx.value(node, 0)?;
    let pads = op
        .pads
        .iter()
        .map(|p| p[0])
        .chain(op.pads.iter().map(|p| p[1]))
        .collect();
    let act = ActScale {
        scale: x.scale,
        bits: x.bits,
    };
    Ok(cx.push(
        node,
        "",
        QOp::Pad(Pad { pads }),
        vec![x.id],
        node.fact.shape.clone(),
        act,
    ))
}
