//! `Gemm` kernel: one dot-core row per output column, split over columns with rayon.

use rayon::prelude::*;
use tk_quant::QTensor;
use tk_quant::ops::Gemm;

use super::dot::{self, RowParams};
use super::{Ctx, checked_volume};
use crate::RuntimeError;

/// Spec: `acc[r, n] = bias[n] + Σ_k x[r, k] * w[n, k]`, `y = requant(acc; M[n], s[n], lo, hi)`.
/// Input `[R, K]`, weight `[N, K]`, output `[R, N]`.
pub(crate) fn run(ctx: &Ctx<'_>, op: &Gemm, x: &QTensor) -> Result<QTensor, RuntimeError> {
    let [r, k] = <[usize; 2]>::try_from(x.shape.as_slice())
        .map_err(|_| ctx.input_shape(0, &x.shape, "must be rank 2 [R, K]"))?;
    let [n, wk] = <[usize; 2]>::try_from(op.weight.shape.as_slice())
        .map_err(|_| ctx.param("weight", "must be rank 2 [N, K]"))?;
    if checked_volume(&op.weight.shape) != Some(op.weight.data.len()) {
        return Err(ctx.param("weight", "data length differs from its shape"));
    }
    if wk != k {
        return Err(ctx.input_shape(0, &x.shape, "inner dimension differs from the weight's"));
    }
    if op.bias.len() != n {
        return Err(ctx.param("bias", "must have one entry per output column"));
    }
    ctx.requant(&op.requant, n)?;
    ctx.expect_shape(&[r, n])?;
    let width = dot::width(dot::max_abs(&x.data), &op.weight.data, k, &op.bias);
    // Column-major result: column `j` holds output `[.., j]` for every row.
    let volume = ctx.volume(&[r, n])?;
    let mut by_column = vec![0i32; volume];
    let failures: Vec<Option<(usize, i128)>> = by_column
        .par_chunks_mut(r.max(1))
        .enumerate()
        .map(|(j, column)| {
            let (m, s) = op.requant.for_channel(j);
            let p = RowParams {
                bias: op.bias[j],
                m,
                s,
                lo: ctx.lo,
                hi: ctx.hi,
            };
            dot::row(
                &op.weight.data[j * k..(j + 1) * k],
                &x.data,
                p,
                width,
                column,
            )
            .map(|(row, acc)| (row * n + j, acc))
        })
        .collect();
    if let Some((index, acc)) = failures.into_iter().flatten().min_by_key(|&(i, _)| i) {
        return Err(ctx.overflow(index, acc));
    }
    let mut data = vec![0i32; volume];
    for (j, column) in by_column.chunks(r.max(1)).enumerate() {
        for (row, &v) in column.iter().enumerate() {
            data[row * n + j] = v;
        }
    }
    Ok(QTensor {
        shape: vec![r, n],
        data,
    })
}
