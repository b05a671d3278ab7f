//! `Add`, `Sub`, `Mul`, `Div` (the IR's `Binary`): dispatch to [`super::add`],
//! [`super::mul`] and [`super::div`].

use tk_ir::Node;
use tk_ir::ops::Binary;
use tk_ir::ops::binary::BinaryKind;

use crate::QuantResult;
use crate::convert::{Converter, QValue};

pub(super) fn convert(cx: &mut Converter, node: &Node, op: &Binary) -> QuantResult<QValue> {
    match op.kind {
        BinaryKind::Add => super::add::convert(cx, node, false),
        BinaryKind::Sub => super::add::convert(cx, node, true),
        BinaryKind::Mul => super::mul::convert(cx, node),
        BinaryKind::Div => super::div::convert(cx, node),
    }
}
