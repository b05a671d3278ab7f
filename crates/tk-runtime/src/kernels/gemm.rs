//! `Gemm` kernel: output column `n` is the dot of weight row `n` with every input row, on the
//! `i16` fast path of [`dot`] when the operands fit (weights packed once per model, see
//! [`pack`]; the generic path otherwise); rayon splits the output columns in blocks.

use tk_quant::QTensor;
use tk_quant::ops::Gemm;

use super::dot::{self, Fast, Lane, RowParams};
use super::{Ctx, PARALLEL_MACS, checked_volume, first_failure};
use crate::RuntimeError;

/// Weights of a `Gemm` prepared once per model for the fast path: rows of `i16` lanes and
/// their largest magnitude.
#[derive(Debug, Clone)]
pub(crate) struct Packed {
    weight: Vec<Lane>,
    max_abs: u64,
}

/// Packs `op`'s weights, or `None` when one does not fit an `i16` or the shape is not 2-D.
pub(crate) fn pack(op: &Gemm) -> Option<Packed> {
    let [_, k] = <[usize; 2]>::try_from(op.weight.shape.as_slice()).ok()?;
    Some(Packed {
        weight: dot::pack_rows(&op.weight.data, k)?,
        max_abs: dot::max_abs(&op.weight.data),
    })
}

/// Spec: `acc[r, n] = bias[n] + Σ_k x[r, k] * w[n, k]`, `y = requant(acc; M[n], s[n], lo, hi)`.
/// Input `[R, K]`, weight `[N, K]`, output `[R, N]`.
///
/// `packed` is [`pack`]`(op)` when the caller has it; it is computed here otherwise.
pub(crate) fn run(
    ctx: &Ctx<'_>,
    op: &Gemm,
    x: &QTensor,
    packed: Option<&Packed>,
) -> Result<QTensor, RuntimeError> {
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
    let volume = ctx.volume(&[r, n])?;
    let max_x = dot::max_abs(&x.data);
    let params = |j: usize| {
        let (m, s) = op.requant.for_channel(j);
        RowParams {
            bias: op.bias[j],
            m,
            s,
            lo: ctx.lo,
            hi: ctx.hi,
        }
    };
    let parallel = r.saturating_mul(n).saturating_mul(k) >= PARALLEL_MACS;
    let columns = if parallel {
        n.div_ceil(4 * rayon::current_num_threads().max(1))
            .next_multiple_of(4)
    } else {
        n.max(1)
    };
    // Column-major result: column `j` holds output `[.., j]` for every row.
    let mut by_column = vec![0i32; volume];
    let local;
    let packed = match packed {
        Some(p) => Some(p),
        None => {
            local = pack(op);
            local.as_ref()
        }
    };
    let kl = dot::lanes(k);
    let x16 = packed
        .filter(|_| k > 0)
        .and_then(|_| dot::pack_rows(&x.data, k));
    let fast = packed
        .zip(x16.as_ref())
        .filter(|(p, _)| p.weight.len() == n * kl)
        .and_then(|(p, x16)| Fast::new(max_x, p.max_abs, k).map(|f| (f, p, x16)));
    let failure = match fast {
        Some((fast, p, x16)) => {
            let task = |(b, block): (usize, &mut [i32])| {
                let j0 = b * columns;
                let count = block.len() / r.max(1);
                let mut acc = vec![0i64; block.len()];
                fast.dots(&p.weight[j0 * kl..(j0 + count) * kl], x16, kl, &mut acc);
                let mut first: Option<(usize, i128)> = None;
                for (i, (column, acc)) in block
                    .chunks_mut(r.max(1))
                    .zip(acc.chunks(r.max(1)))
                    .enumerate()
                {
                    let j = j0 + i;
                    let p_j = params(j);
                    for (row, (y, &a)) in column.iter_mut().zip(acc).enumerate() {
                        match p_j.apply(i64::from(p_j.bias) + a) {
                            Ok(v) => *y = v,
                            Err(a) => {
                                if first.is_none_or(|f| row * n + j < f.0) {
                                    first = Some((row * n + j, a));
                                }
                                break;
                            }
                        }
                    }
                }
                first
            };
            first_failure(&mut by_column, columns * r, parallel, task)
        }
        None => {
            let width = dot::width(max_x, &op.weight.data, k, &op.bias);
            let task = |(b, block): (usize, &mut [i32])| {
                block
                    .chunks_mut(r.max(1))
                    .enumerate()
                    .filter_map(|(i, column)| {
                        let j = b * columns + i;
                        let w = &op.weight.data[j * k..(j + 1) * k];
                        dot::row(w, &x.data, params(j), width, column)
                            .map(|(row, acc)| (row * n + j, acc))
                    })
                    .min_by_key(|f| f.0)
            };
            first_failure(&mut by_column, columns * r, parallel, task)
        }
    };
    if let Some((index, acc)) = failure {
        return Err(ctx.overflow(index, acc));
    }
    let data = if r == 1 {
        by_column
    } else {
        let mut data = vec![0i32; volume];
        for (j, column) in by_column.chunks(r.max(1)).enumerate() {
            for (row, &v) in column.iter().enumerate() {
                data[row * n + j] = v;
            }
        }
        data
    };
    Ok(QTensor {
        shape: vec![r, n],
        data,
    })
}
