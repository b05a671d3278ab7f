//! `Const` kernel: yields the stored constant.

use tk_quant::QTensor;
use tk_quant::ops::Const;

use super::Ctx;
use crate::RuntimeError;

/// Returns the constant; its shape must be the node's and its data well formed (the range
/// is checked against the node's bits like every output).
pub(crate) fn run(ctx: &Ctx<'_>, op: &Const) -> Result<QTensor, RuntimeError> {
    ctx.well_formed(&op.value)?;
    ctx.expect_shape(&op.value.shape)?;
    Ok(op.value.clone())
}
