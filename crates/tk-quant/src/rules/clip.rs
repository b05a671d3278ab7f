//! `Clip(min, max)` -> `Clip` with bounds `round_half_up(bound / scale)` clamped to the
//! input's range (an infinite bound is the range end).

use tk_ir::Node;

use crate::convert::{Converter, QValue};
use crate::ops::{Clip, QOp};
use crate::scales::ActScale;
use crate::{QuantResult, quantize_value};

pub(super) fn convert(
    cx: &mut Converter,
    node: &Node,
    op: &tk_ir::ops::Clip,
) -> QuantResult<QValue> {
    let x = cx.value(node, 0)?;
    let act = ActScale {
        scale: x.scale,
        bits: x.bits,
    };
    let bound = |v: f32| quantize_value(f64::from(v), act.scale, act.lo(), act.hi());
    let (lo, hi) = (bound(op.min), bound(op.max));
    let shape = cx.shape(x).to_vec();
    Ok(cx.push(node, "", QOp::Clip(Clip { lo, hi }), vec![x.id], shape, act))
}
