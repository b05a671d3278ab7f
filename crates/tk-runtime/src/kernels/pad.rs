//! `Pad` kernel: constant zero padding.

use tk_quant::QTensor;
use tk_quant::ops::Pad;

use super::index::gather;
use super::{Ctx, strides};
use crate::RuntimeError;

/// Spec: output dim `k` is `begin[k] + in[k] + end[k]`; positions outside the input hold 0.
/// `pads` is `[begin_0, .., begin_{r-1}, end_0, .., end_{r-1}]`.
pub(crate) fn run(ctx: &Ctx<'_>, op: &Pad, x: &QTensor) -> Result<QTensor, RuntimeError> {
    let rank = x.shape.len();
    if op.pads.len() != 2 * rank {
        return Err(ctx.param("pads", "must have a begin and an end per input axis"));
    }
    let shape = (0..rank)
        .map(|k| {
            x.shape[k]
                .checked_add(op.pads[k])
                .and_then(|d| d.checked_add(op.pads[rank + k]))
        })
        .collect::<Option<Vec<usize>>>()
        .ok_or_else(|| ctx.param("pads", "overflow"))?;
    ctx.expect_shape(&shape)?;
    ctx.volume(&shape)?;
    let in_strides = strides(&x.shape);
    let tables: Vec<Vec<Option<usize>>> = (0..rank)
        .map(|k| {
            (0..shape[k])
                .map(|i| {
                    i.checked_sub(op.pads[k])
                        .filter(|&j| j < x.shape[k])
                        .map(|j| j * in_strides[k])
                })
                .collect()
        })
        .collect();
    let data = gather(&x.data, &shape, &tables);
    Ok(QTensor { shape, data })
}
