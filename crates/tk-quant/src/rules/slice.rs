//! `Slice` -> `Slice` with a start and step for every axis (wiring).

use tk_ir::Node;

use crate::QuantResult;
use crate::convert::{Converter, QValue, unsupported};
use crate::ops::{QOp, Slice};
use crate::scales::ActScale;

pub(super) fn convert(
    cx: &mut Converter,
    node: &Node,
    op: &tk_ir::ops::Slice,
) -> QuantResult<QValue> {
    let x = cx.value(node, 0)?;
    let rank = cx.shape(x).len();
    let mut starts = vec![0usize; rank];
    let mut steps = vec![1i64; rank];
    for a in &op.axes {
        if a.is_empty() || a.start < 0 {
            return Err(unsupported(node, "empty slice".into()));
        }
        starts[a.axis] = a.start as usize;
        steps[a.axis] = a.step;
    }
    let act = ActScale {
        scale: x.scale,
        bits: x.bits,
    };
    Ok(cx.push(
        node,
        "",
        QOp::Slice(Slice { starts, steps }),
        vec![x.id],
        node.fact.shape.clone(),
        act,
    ))
}
