//! `Reshape` kernel (also Flatten, Squeeze, Unsqueeze).

use tk_quant::QTensor;
use tk_quant::ops::Reshape;

use super::Ctx;
use crate::RuntimeError;

/// Spec: the same elements in row-major order under the node's shape; volumes must agree.
pub(crate) fn run(ctx: &Ctx<'_>, _op: &Reshape, x: &QTensor) -> Result<QTensor, RuntimeError> {
    if ctx.volume(&ctx.node.shape)? != x.data.len() {
        return Err(ctx.input_shape(0, &x.shape, "has a different element count than the node"));
    }
    Ok(QTensor {
        shape: ctx.node.shape.clone(),
        data: x.data.clone(),
    })
}
