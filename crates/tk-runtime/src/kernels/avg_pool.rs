//! `AvgPool` kernel (also `GlobalAveragePool`).

use tk_quant::QTensor;
use tk_quant::ops::AvgPool;

use super::Ctx;
use super::pool::Windows;
use crate::RuntimeError;
use crate::arith::{MAX_SHIFT, acc_in_bound, requant};

/// Spec: `sum = Σ window` (padding reads 0), `y = requant(sum; M[count], shift, lo, hi)`
/// where `count` is the number of in-bounds positions, or `kh * kw` when
/// `count_include_pad`. `multipliers` has `kh * kw + 1` entries (index 0 unused).
pub(crate) fn run(ctx: &Ctx<'_>, op: &AvgPool, x: &QTensor) -> Result<QTensor, RuntimeError> {
    let win = Windows::new(ctx, &op.geometry, x)?;
    let full = op.geometry.kernel[0]
        .checked_mul(op.geometry.kernel[1])
        .filter(|&k| k < 1 << 31)
        .ok_or_else(|| {
            ctx.param(
                "geometry.kernel",
                "window must hold fewer than 2^31 positions",
            )
        })?;
    if op.multipliers.len() != full + 1 {
        return Err(ctx.param("multipliers", "must have kh * kw + 1 entries"));
    }
    if op.multipliers[1..].iter().any(|&m| m < 1) {
        return Err(ctx.param("multipliers", "must be in 1..2^31"));
    }
    if op.shift > MAX_SHIFT {
        return Err(ctx.param("shift", "must be in 0..=62"));
    }
    let [n, c, h, w] = win.input;
    let [oh, ow] = win.out;
    let mut data = Vec::with_capacity(n * c * oh * ow);
    for plane in 0..n * c {
        let input = &x.data[plane * h * w..(plane + 1) * h * w];
        for oy in 0..oh {
            for ox in 0..ow {
                let ([r0, r1], [c0, c1]) = win.window(oy, ox);
                // At most 2^31 terms of magnitude at most 2^31: the sum fits an i64.
                let sum: i64 = (r0..r1)
                    .flat_map(|iy| input[iy * w + c0..iy * w + c1].iter())
                    .map(|&v| i64::from(v))
                    .sum();
                let count = if op.count_include_pad {
                    full
                } else {
                    (r1 - r0) * (c1 - c0)
                };
                if count == 0 {
                    return Err(RuntimeError::EmptyWindow {
                        node: ctx.node.id,
                        index: data.len(),
                    });
                }
                if !acc_in_bound(i128::from(sum)) {
                    return Err(ctx.overflow(data.len(), i128::from(sum)));
                }
                data.push(requant(
                    sum,
                    op.multipliers[count],
                    op.shift,
                    ctx.lo,
                    ctx.hi,
                ));
            }
        }
    }
    Ok(QTensor {
        shape: ctx.node.shape.clone(),
        data,
    })
}
