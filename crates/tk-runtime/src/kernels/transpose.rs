//! `Transpose` kernel: wiring by an axis permutation.

use tk_quant::QTensor;
use tk_quant::ops::Transpose;

use super::index::gather;
use super::{Ctx, strides};
use crate::RuntimeError;

/// Spec: output axis `k` is input axis `perm[k]`; `perm` is a permutation of `0..rank`.
pub(crate) fn run(ctx: &Ctx<'_>, op: &Transpose, x: &QTensor) -> Result<QTensor, RuntimeError> {
    let rank = x.shape.len();
    let mut seen = vec![false; rank];
    for &p in &op.perm {
        match seen.get_mut(p) {
            Some(s) if !*s => *s = true,
            _ => return Err(ctx.param("perm", "must be a permutation of the input axes")),
        }
    }
    if op.perm.len() != rank {
        return Err(ctx.param("perm", "must be a permutation of the input axes"));
    }
    let shape: Vec<usize> = op.perm.iter().map(|&p| x.shape[p]).collect();
    ctx.expect_shape(&shape)?;
    let in_strides = strides(&x.shape);
    let tables: Vec<Vec<Option<usize>>> = op
        .perm
        .iter()
        .map(|&p| (0..x.shape[p]).map(|i| Some(i * in_strides[p])).collect())
        .collect();
    let data = gather(&x.data, &shape, &tables);
    Ok(QTensor { shape, data })
}
