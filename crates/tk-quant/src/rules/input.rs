//! `Input` -> `Input` at the calibrated (or QDQ) input scale.

use tk_ir::{DType, Node};

use crate::QuantResult;
use crate::convert::{Converter, QValue, unsupported};
use crate::ops::{Input, QOp};

pub(super) fn convert(cx: &mut Converter, node: &Node) -> QuantResult<QValue> {
    if node.fact.dtype != DType::F32 {
        return Err(unsupported(
            node,
            "only float inputs can be quantized".into(),
        ));
    }
    let target = cx.target(node)?;
    Ok(cx.push(
        node,
        "",
        QOp::Input(Input {}),
        vec![],
        node.fact.shape.clone(),
        target,
    ))
}
