//! `Clip` kernel (also `Relu`).

use tk_quant::QTensor;
use tk_quant::ops::Clip;

use super::Ctx;
use crate::RuntimeError;

/// Spec: `y = clamp(x, lo, hi)` with the op's integer bounds, `lo <= hi`.
pub(crate) fn run(ctx: &Ctx<'_>, op: &Clip, x: &QTensor) -> Result<QTensor, RuntimeError> {
    if op.lo > op.hi {
        return Err(ctx.param("lo", "must not exceed hi"));
    }
    ctx.expect_shape(&x.shape)?;
    let data = x.data.iter().map(|&v| v.clamp(op.lo, op.hi)).collect();
    Ok(QTensor {
        shape: x.shape.clone(),
        data,
    })
}
