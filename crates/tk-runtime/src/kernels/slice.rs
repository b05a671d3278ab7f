//! `Slice` kernel: wiring of a strided sub-range.

use tk_quant::QTensor;
use tk_quant::ops::Slice;

use super::index::gather;
use super::{Ctx, strides};
use crate::RuntimeError;

/// Spec: along axis `k`, output index `i` reads input index `starts[k] + i * steps[k]`; the
/// output shape is the node's shape (same rank as the input) and every read index MUST lie
/// inside the input.
pub(crate) fn run(ctx: &Ctx<'_>, op: &Slice, x: &QTensor) -> Result<QTensor, RuntimeError> {
    let rank = x.shape.len();
    if op.starts.len() != rank || op.steps.len() != rank {
        return Err(ctx.param("starts", "must have one start and one step per input axis"));
    }
    if op.steps.contains(&0) {
        return Err(ctx.param("steps", "must be non-zero"));
    }
    let shape = ctx.node.shape.clone();
    if shape.len() != rank {
        return Err(ctx.input_shape(0, &x.shape, "has a different rank than the node"));
    }
    ctx.volume(&shape)?;
    let in_strides = strides(&x.shape);
    let mut tables = Vec::with_capacity(rank);
    for k in 0..rank {
        let (start, step, dim) = (
            op.starts[k] as i128,
            i128::from(op.steps[k]),
            x.shape[k] as i128,
        );
        let index = |i: usize| start + i as i128 * step;
        if shape[k] > 0
            && [index(0), index(shape[k] - 1)]
                .iter()
                .any(|&v| v < 0 || v >= dim)
        {
            return Err(ctx.param("starts", "slice reads outside the input"));
        }
        // Both ends lie in [0, dim), so every index does and fits a usize.
        tables.push(
            (0..shape[k])
                .map(|i| Some(index(i) as usize * in_strides[k]))
                .collect::<Vec<_>>(),
        );
    }
    let data = gather(&x.data, &shape, &tables);
    Ok(QTensor { shape, data })
}
