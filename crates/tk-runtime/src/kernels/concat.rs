//! `Concat` kernel: wiring along an axis.

use tk_quant::QTensor;
use tk_quant::ops::Concat;

use super::Ctx;
use crate::RuntimeError;

/// Spec: concatenation along `axis`; all inputs have the same rank and equal dimensions
/// except along `axis`.
pub(crate) fn run(
    ctx: &Ctx<'_>,
    op: &Concat,
    inputs: &[&QTensor],
) -> Result<QTensor, RuntimeError> {
    let first = inputs[0];
    if op.axis >= first.shape.len() {
        return Err(ctx.param("axis", "must be below the input rank"));
    }
    let mut shape = first.shape.clone();
    shape[op.axis] = 0;
    for (i, t) in inputs.iter().enumerate() {
        let same_rank = t.shape.len() == first.shape.len();
        if !same_rank
            || t.shape
                .iter()
                .zip(&first.shape)
                .enumerate()
                .any(|(k, (a, b))| k != op.axis && a != b)
        {
            return Err(ctx.input_shape(
                i,
                &t.shape,
                "differs from input 0 outside the concat axis",
            ));
        }
        shape[op.axis] = shape[op.axis]
            .checked_add(t.shape[op.axis])
            .ok_or_else(|| ctx.input_shape(i, &t.shape, "makes the concat axis overflow"))?;
    }
    ctx.expect_shape(&shape)?;
    let outer: usize = shape[..op.axis].iter().product();
    let inner: usize = shape[op.axis + 1..].iter().product();
    let mut data = Vec::with_capacity(ctx.volume(&shape)?);
    for o in 0..outer {
        for t in inputs {
            let chunk = t.shape[op.axis] * inner;
            data.extend_from_slice(&t.data[o * chunk..(o + 1) * chunk]);
        }
    }
    Ok(QTensor { shape, data })
}
