//! `Clip` kernel (also `Relu`).

use tk_quant::QTensor;
use tk_quant::ops::Clip;

use super::{Ctx, dot};
use crate::RuntimeError;

/// Spec: `y = clamp(x, lo, hi)` with the op's integer bounds, `lo <= hi`.
pub(crate) fn run(ctx: &Ctx<'_>, op: &Clip, x: &QTensor) -> Result<QTensor, RuntimeError> {
    if op.lo > op.hi {
        return Err(ctx.param("lo", "must not exceed hi"));
    }
    ctx.expect_shape(&x.shape)?;
    let data = dot::vectorized(Clamp {
        x: &x.data,
        lo: op.lo,
        hi: op.hi,
    });
    Ok(QTensor {
        shape: x.shape.clone(),
        data,
    })
}

/// `clamp(x, lo, hi)` element-wise.
struct Clamp<'a> {
    x: &'a [i32],
    lo: i32,
    hi: i32,
}

impl dot::Kernel for Clamp<'_> {
    type Output = Vec<i32>;

    #[inline(always)]
    fn run(self) -> Vec<i32> {
        self.x
            .iter()
            .map(|&v| v.max(self.lo).min(self.hi))
            .collect()
    }
}
