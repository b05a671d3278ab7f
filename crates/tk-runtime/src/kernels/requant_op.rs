//! `Rescale` kernel: requantize a tensor, per tensor or per channel (axis 1).

use tk_quant::QTensor;
use tk_quant::ops::Rescale;

use super::dot::{self, RowParams};
use super::{CHUNK, Ctx, PARALLEL_ELEMENTS, for_each_chunk};
use crate::RuntimeError;

/// Spec: `y = requant(x; M[c], s[c], lo, hi)` with `c` the index along axis 1 when there is
/// one pair per channel. The accumulator is `x` itself (an `i32`, always within `2^40`).
pub(crate) fn run(ctx: &Ctx<'_>, op: &Rescale, x: &QTensor) -> Result<QTensor, RuntimeError> {
    let channels = x.shape.get(1).copied().unwrap_or(1);
    ctx.requant(&op.requant, channels)?;
    if op.requant.multipliers.len() != 1 && x.shape.len() < 2 {
        return Err(ctx.input_shape(0, &x.shape, "per-channel rescale needs rank >= 2"));
    }
    ctx.expect_shape(&x.shape)?;
    let inner: usize = x.shape.iter().skip(2).product();
    let params = |m: i32, s: u8| RowParams {
        bias: 0,
        m,
        s,
        lo: ctx.lo,
        hi: ctx.hi,
    };
    let mut data = vec![0i32; x.data.len()];
    let parallel = data.len() >= PARALLEL_ELEMENTS;
    if op.requant.multipliers.len() == 1 {
        let (m, s) = op.requant.for_channel(0);
        let task = |(c, y): (usize, &mut [i32])| {
            let src = &x.data[c * CHUNK..c * CHUNK + y.len()];
            dot::vectorized(dot::Requant {
                x: src,
                p: params(m, s),
                out: y,
            });
        };
        for_each_chunk(&mut data, CHUNK, parallel, task);
    } else {
        // One plane of `inner` elements per (batch item, channel).
        let task = |(p, y): (usize, &mut [i32])| {
            let (m, s) = op.requant.for_channel(p % channels);
            let src = &x.data[p * inner..p * inner + y.len()];
            dot::vectorized(dot::Requant {
                x: src,
                p: params(m, s),
                out: y,
            });
        };
        for_each_chunk(&mut data, inner, parallel, task);
    }
    Ok(QTensor {
        shape: x.shape.clone(),
        data,
    })
}
