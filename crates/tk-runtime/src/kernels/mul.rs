//! `Mul` kernel: element-wise product with numpy broadcasting, requantized.

use tk_quant::QTensor;
use tk_quant::ops::Mul;

use super::Ctx;
use super::index::{broadcast_shape, broadcast_to};
use crate::RuntimeError;
use crate::arith::{MAX_SHIFT, acc_in_bound, requant};

/// Spec: `y = requant(a * b; m, shift, lo, hi)`; the product is the accumulator and must
/// satisfy `|a * b| < 2^40`.
pub(crate) fn run(
    ctx: &Ctx<'_>,
    op: &Mul,
    a: &QTensor,
    b: &QTensor,
) -> Result<QTensor, RuntimeError> {
    if op.m < 1 {
        return Err(ctx.param("m", "must be in 1..2^31"));
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
    let data = a
        .iter()
        .zip(b.iter())
        .enumerate()
        .map(|(i, (&x, &y))| {
            let acc = i64::from(x) * i64::from(y);
            if acc_in_bound(i128::from(acc)) {
                Ok(requant(acc, op.m, op.shift, ctx.lo, ctx.hi))
            } else {
                Err(ctx.overflow(i, i128::from(acc)))
            }
        })
        .collect::<Result<_, _>>()?;
    Ok(QTensor { shape, data })
}
