//! `Mul` kernel: element-wise product with numpy broadcasting, requantized.

use tk_quant::QTensor;
use tk_quant::ops::Mul;

use super::Ctx;
use super::dot::{self, RowParams};
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
    let p = RowParams {
        bias: 0,
        m: op.m,
        s: op.shift,
        lo: ctx.lo,
        hi: ctx.hi,
    };
    let mut data = vec![0i32; a.len()];
    // Products in blocks, requantized by the vectorised epilogue (exact, see `apply_all`);
    // a product beyond the bound falls through to the checked path below.
    let fast = dot::vectorized(Products {
        a: &a,
        b: &b,
        p,
        out: &mut data,
    });
    if fast {
        return Ok(QTensor { shape, data });
    }
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

/// `out = requant(a * b)` element-wise; `false` when a product breaks the `2^40` bound
/// (`out` then partly written).
struct Products<'a> {
    a: &'a [i32],
    b: &'a [i32],
    p: RowParams,
    out: &'a mut [i32],
}

impl dot::Kernel for Products<'_> {
    type Output = bool;

    #[inline(always)]
    fn run(self) -> bool {
        const BLOCK: usize = 256;
        let mut products = [0i64; BLOCK];
        for ((a, b), out) in self
            .a
            .chunks(BLOCK)
            .zip(self.b.chunks(BLOCK))
            .zip(self.out.chunks_mut(BLOCK))
        {
            for ((p, &x), &y) in products.iter_mut().zip(a).zip(b) {
                *p = i64::from(x) * i64::from(y);
            }
            if self.p.apply_all(&products[..a.len()], out).is_err() {
                return false;
            }
        }
        true
    }
}
