//! `Softmax` -> `Softmax` with `exp_table[d] = round_half_up(2^E exp(-d scale_in))`, output
//! fraction bits `F = bits - 1` (output scale `2^-F`) and `E = min(30, F + 8)`.

use tk_ir::Node;

use crate::convert::{Converter, QValue};
use crate::ops::{QOp, Softmax};
use crate::scales::ActScale;
use crate::{QuantResult, round_half_up};

pub(super) fn convert(
    cx: &mut Converter,
    node: &Node,
    op: &tk_ir::ops::Softmax,
) -> QuantResult<QValue> {
    let x = cx.value(node, 0)?;
    let bits = cx.options.bits;
    let frac_bits = bits - 1;
    let e = (u32::from(frac_bits) + 8).min(30);
    let one = f64::from(1u32 << e);
    let mut exp_table = Vec::new();
    for d in 0..1usize << x.bits {
        let v = round_half_up(one * (-(d as f64) * x.scale).exp()) as i32;
        exp_table.push(v);
        if v == 0 {
            break;
        }
    }
    let out = ActScale {
        scale: 0.5f64.powi(i32::from(frac_bits)),
        bits,
    };
    let shape = cx.shape(x).to_vec();
    let q = Softmax {
        axis: op.axis,
        exp_table,
        frac_bits,
    };
    Ok(cx.push(node, "", QOp::Softmax(q), vec![x.id], shape, out))
}
