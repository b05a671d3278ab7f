//! `Add` kernel (also `Sub`): rescaled element-wise sum with numpy broadcasting.

use tk_quant::QTensor;
use tk_quant::ops::Add;

use super::Ctx;
use super::index::{broadcast_shape, broadcast_to};
use crate::RuntimeError;
use crate::arith::{MAX_SHIFT, acc_in_bound, clamp, round_shift};

/// Spec: `y = clamp(round_shift(a * ma + b * mb, shift), lo, hi)`; `|ma|, |mb| < 2^31`.
/// The sum is an accumulator (bounded by `2^40` like every other, as the quantizer
/// guarantees); it is formed in `i128`, so it is exact for any `i32` inputs.
pub(crate) fn run(
    ctx: &Ctx<'_>,
    op: &Add,
    a: &QTensor,
    b: &QTensor,
) -> Result<QTensor, RuntimeError> {
    if op.ma == i32::MIN {
        return Err(ctx.param("ma", "must have magnitude below 2^31"));
    }
    if op.mb == i32::MIN {
        return Err(ctx.param("mb", "must have magnitude below 2^31"));
    }
    if op.shift > MAX_SHIFT {
        return Err(ctx.param("shift", "must be in 0..=62"));
    }
    let shape = broadcast_shape(&a.shape, &b.shape)
        .ok_or_else(|| ctx.input_shape(1, &b.shape, "does not broadcast with input 0"))?;
    ctx.expect_shape(&shape)?;
    ctx.volume(&shape)?;
    let a = broadcast_to(&a.data, &a.shape, &shape);
    let b = broadcast_to(&b.data, &b.shape, &shape);
    let (ma, mb) = (i128::from(op.ma), i128::from(op.mb));
    let data = a
        .iter()
        .zip(&b)
        .enumerate()
        .map(|(i, (&x, &y))| {
            let acc = i128::from(x) * ma + i128::from(y) * mb;
            if acc_in_bound(acc) {
                Ok(clamp(round_shift(acc, op.shift), ctx.lo, ctx.hi))
            } else {
                Err(ctx.overflow(i, acc))
            }
        })
        .collect::<Result<_, _>>()?;
    Ok(QTensor { shape, data })
}
