//! `Add`/`Sub` -> `Add`: `y = clamp(round_shift(a * ma + b * mb, s))` with
//! `ma / 2^s = scale_a / scale_y`, `mb / 2^s = ±scale_b / scale_y`.

use tk_ir::Node;

use crate::convert::{Converter, QValue};
use crate::ops::{Add, QOp};
use crate::{QuantResult, add_multipliers};

pub(super) fn convert(cx: &mut Converter, node: &Node, subtract: bool) -> QuantResult<QValue> {
    let a = cx.value(node, 0)?;
    let b = cx.value(node, 1)?;
    let out = cx.target(node)?;
    let sign = if subtract { -1.0 } else { 1.0 };
    let (ma, mb, shift) = add_multipliers(
        a.scale / out.scale,
        sign * b.scale / out.scale,
        a.bits,
        b.bits,
    )?;
    Ok(cx.push(
        node,
        "",
        QOp::Add(Add {
            ma,
            mb,
            shift,
            clamp: None,
        }),
        vec![a.id, b.id],
        node.fact.shape.clone(),
        out,
    ))
}
