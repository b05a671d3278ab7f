//! `Relu` -> `Clip { lo: 0, hi }` at the input's scale and bit width.

use tk_ir::Node;

use crate::QuantResult;
use crate::convert::{Converter, QValue};
use crate::ops::{Clip, QOp};
use crate::scales::ActScale;

pub(super) fn convert(cx: &mut Converter, node: &Node) -> QuantResult<QValue> {
    let x = cx.value(node, 0)?;
    let act = ActScale {
        scale: x.scale,
        bits: x.bits,
    };
    let shape = cx.shape(x).to_vec();
    Ok(cx.push(
        node,
        "",
        QOp::Clip(Clip {
            lo: 0,
            hi: act.hi(),
        }),
        vec![x.id],
        shape,
        act,
    ))
}
