//! Element-wise non-linear functions (`Sigmoid`, `HardSigmoid`, `HardSwish`, `LeakyRelu`)
//! -> `Lut`, with `table[k] = clamp(round_half_up(f((k + x_lo) * scale_in) / scale_out))`
//! (spec section 4), `f` evaluated in `f64`.

use tk_ir::Node;

use crate::convert::{Converter, QValue};
use crate::ops::{Lut, QOp};
use crate::{QuantResult, quantize_value};

/// The logistic function, without overflow.
pub(super) fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        x.exp() / (1.0 + x.exp())
    }
}

pub(super) fn convert(
    cx: &mut Converter,
    node: &Node,
    function: &str,
    f: impl Fn(f64) -> f64,
) -> QuantResult<QValue> {
    let x = cx.value(node, 0)?;
    let out = cx.target(node)?;
    let in_lo = -(1i32 << (x.bits - 1));
    let table = (0..1i32 << x.bits)
        .map(|k| {
            quantize_value(
                f(f64::from(k + in_lo) * x.scale) / out.scale,
                1.0,
                out.lo(),
                out.hi(),
            )
        })
        .collect();
    let shape = cx.shape(x).to_vec();
    Ok(cx.push(
        node,
        "",
        QOp::Lut(Lut {
            function: function.into(),
            in_lo,
            table,
        }),
        vec![x.id],
        shape,
        out,
    ))
}
