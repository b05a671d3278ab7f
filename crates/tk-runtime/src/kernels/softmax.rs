//! `Softmax` kernel: integer softmax along one axis with an exponential table.

use tk_quant::QTensor;
use tk_quant::ops::Softmax;

use super::Ctx;
use crate::RuntimeError;
use crate::arith::{MAX_SHIFT, div_round};

/// Spec: `d_i = max_j x_j - x_i` clamped to `[0, len(exp) - 1]`, `e_i = exp[d_i]`,
/// `S = Σ e_i`, `y_i = min(div_round(e_i * 2^F, S), hi)`.
///
/// The table must be non-empty with `exp[0] >= 1` and no negative entry, so `S >= 1`.
pub(crate) fn run(ctx: &Ctx<'_>, op: &Softmax, x: &QTensor) -> Result<QTensor, RuntimeError> {
    let table = &op.exp_table;
    if table.first().is_none_or(|&e| e < 1) || table.iter().any(|&e| e < 0) {
        return Err(ctx.param(
            "exp_table",
            "must be non-empty, non-negative, with exp[0] >= 1",
        ));
    }
    if op.frac_bits > MAX_SHIFT {
        return Err(ctx.param("frac_bits", "must be in 0..=62"));
    }
    let Some(&len) = x.shape.get(op.axis) else {
        return Err(ctx.input_shape(0, &x.shape, "has no softmax axis"));
    };
    ctx.expect_shape(&x.shape)?;
    let inner: usize = x.shape[op.axis + 1..].iter().product();
    let outer: usize = x.shape[..op.axis].iter().product();
    let last = table.len() - 1;
    let mut data = vec![0i32; x.data.len()];
    let mut e = vec![0i128; len];
    for o in 0..outer {
        for i in 0..inner {
            let at = |j: usize| (o * len + j) * inner + i;
            let max = (0..len)
                .map(|j| i64::from(x.data[at(j)]))
                .max()
                .unwrap_or(0);
            for (j, e) in e.iter_mut().enumerate() {
                let d = usize::try_from(max - i64::from(x.data[at(j)]))
                    .unwrap_or(0)
                    .min(last);
                *e = i128::from(table[d]);
            }
            let sum: i128 = e.iter().sum();
            for (j, &e) in e.iter().enumerate() {
                let y = div_round(e << op.frac_bits, sum).min(i128::from(ctx.hi));
                // 0 <= y <= hi, so it fits an i32.
                data[at(j)] = y as i32;
            }
        }
    }
    Ok(QTensor {
        shape: x.shape.clone(),
        data,
    })
}
