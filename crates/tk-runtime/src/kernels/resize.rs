//! `Resize` kernel: nearest-neighbour upsampling by integer factors.

use tk_quant::QTensor;
use tk_quant::ops::Resize;

use super::index::gather;
use super::{Ctx, strides};
use crate::RuntimeError;

/// Spec: `y[.., i, ..] = x[.., i / scale, ..]` per axis; output dim is `in * scale`,
/// every scale at least 1.
pub(crate) fn run(ctx: &Ctx<'_>, op: &Resize, x: &QTensor) -> Result<QTensor, RuntimeError> {
    let rank = x.shape.len();
    if op.scales.len() != rank || op.scales.contains(&0) {
        return Err(ctx.param("scales", "must hold one positive factor per input axis"));
    }
    let shape = (0..rank)
        .map(|k| x.shape[k].checked_mul(op.scales[k]))
        .collect::<Option<Vec<usize>>>()
        .ok_or_else(|| ctx.param("scales", "overflow"))?;
    ctx.expect_shape(&shape)?;
    ctx.volume(&shape)?;
    let in_strides = strides(&x.shape);
    let tables: Vec<Vec<Option<usize>>> = (0..rank)
        .map(|k| {
            (0..shape[k])
                .map(|i| Some(i / op.scales[k] * in_strides[k]))
                .collect()
        })
        .collect();
    let data = gather(&x.data, &shape, &tables);
    Ok(QTensor { shape, data })
}
