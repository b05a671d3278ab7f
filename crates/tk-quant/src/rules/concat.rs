//! `Concat` -> `Rescale` of every input whose scale differs from the output's, then `Concat`.

use tk_ir::Node;

use crate::QuantResult;
use crate::convert::{Converter, QValue};
use crate::ops::{Concat, QOp};

pub(super) fn convert(
    cx: &mut Converter,
    node: &Node,
    op: &tk_ir::ops::Concat,
) -> QuantResult<QValue> {
    let out = cx.target(node)?;
    let mut ids = Vec::with_capacity(node.inputs.len());
    for k in 0..node.inputs.len() {
        let v = cx.value(node, k)?;
        ids.push(cx.rescale(node, v, out, &format!("rescale{k}"))?.id);
    }
    Ok(cx.push(
        node,
        "",
        QOp::Concat(Concat { axis: op.axis }),
        ids,
        node.fact.shape.clone(),
        out,
    ))
}
