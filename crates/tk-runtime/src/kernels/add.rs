//! `Add` kernel (also `Sub`): rescaled element-wise sum with numpy broadcasting.

use tk_quant::QTensor;
use tk_quant::ops::Add;

use super::index::{broadcast_shape, broadcast_to};
use super::{CHUNK, Ctx, PARALLEL_ELEMENTS, first_failure};
use crate::RuntimeError;
use crate::arith::{MAX_SHIFT, acc_in_bound};

/// Spec: `y = clamp(round_shift(a * ma + b * mb, shift), lo, hi)`; `|ma|, |mb| < 2^31`.
/// The sum is an accumulator (bounded by `2^40` like every other, as the quantizer
/// guarantees); it is formed in `i64`, exact for any `i32` inputs since `|ma|, |mb| < 2^31`.
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
    let (ma, mb) = (i64::from(op.ma), i64::from(op.mb));
    let mut data = vec![0i32; a.len()];
    let parallel = data.len() >= PARALLEL_ELEMENTS;
    let task = |(c, y): (usize, &mut [i32])| {
        let start = c * CHUNK;
        let (a, b) = (&a[start..start + y.len()], &b[start..start + y.len()]);
        for (j, ((y, &x), &z)) in y.iter_mut().zip(a).zip(b).enumerate() {
            // |x * ma|, |z * mb| < 2^62, so the sum is exact in i64.
            let acc = i64::from(x) * ma + i64::from(z) * mb;
            if !acc_in_bound(i128::from(acc)) {
                return Some((start + j, i128::from(acc)));
            }
            // |acc| < 2^40 and the rounding term is at most 2^61: exact in i64.
            let r = if op.shift == 0 {
                acc
            } else {
                (acc + (1i64 << (op.shift - 1))) >> op.shift
            };
            *y = r.clamp(i64::from(ctx.lo), i64::from(ctx.hi)) as i32;
        }
        None
    };
    if let Some((i, acc)) = first_failure(&mut data, CHUNK, parallel, task) {
        return Err(ctx.overflow(i, acc));
    }
    Ok(QTensor { shape, data })
}
