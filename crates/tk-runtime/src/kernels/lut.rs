//! `Lut` kernel: element-wise table lookup.

use tk_quant::QTensor;
use tk_quant::ops::Lut;

use super::{Ctx, dot};
use crate::RuntimeError;

/// Spec: `y = table[x - in_lo]`; the table has `2^b` entries (`1 <= b <= 16`) and
/// `in_lo = -2^(b-1)`. An input outside the table's domain is an error.
pub(crate) fn run(ctx: &Ctx<'_>, op: &Lut, x: &QTensor) -> Result<QTensor, RuntimeError> {
    let len = op.table.len();
    if !len.is_power_of_two() || !(2..=1 << 16).contains(&len) {
        return Err(ctx.param("table", "must have 2^b entries, 1 <= b <= 16"));
    }
    // len <= 2^16, so these fit an i64 and an i32.
    let half = (len / 2) as i64;
    if i64::from(op.in_lo) != -half {
        return Err(ctx.param("in_lo", "must be -len(table) / 2"));
    }
    ctx.expect_shape(&x.shape)?;
    // One vectorised pass proves every index in range; the checked path below only runs to
    // name the culprit.
    let (lo, hi) = dot::vectorized(dot::MinMax(&x.data));
    if i64::from(lo) >= -half && i64::from(hi) < half {
        let offset = half as i32;
        let data = x
            .data
            .iter()
            .map(|&v| op.table[(v + offset) as usize])
            .collect();
        return Ok(QTensor {
            shape: x.shape.clone(),
            data,
        });
    }
    let data = x
        .data
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let offset = i64::from(v) + half;
            usize::try_from(offset)
                .ok()
                .and_then(|o| op.table.get(o).copied())
                .ok_or(RuntimeError::InputOutOfRange {
                    node: ctx.node.id,
                    input: 0,
                    index: i,
                    value: i64::from(v),
                    lo: -half,
                    hi: half - 1,
                })
        })
        .collect::<Result<_, _>>()?;
    Ok(QTensor {
        shape: x.shape.clone(),
        data,
    })
}
