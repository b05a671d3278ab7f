//! `Add`, `Sub`, `Mul`, `Div`: float arithmetic at run time, integer arithmetic only when folded.

use ndarray::{ArrayD, IxDyn, Zip};

use crate::onnx::context::ImportCtx;
use crate::onnx::node::OnnxNode;
use crate::onnx::tensor::{elem_type_name, is_integer};
use crate::ops::Binary;
use crate::ops::binary::BinaryKind;
use crate::ops::broadcast::broadcast_shapes;
use crate::{DType, IrResult, OpError, OutletId, Tensor};

/// `Add`.
pub fn add(ctx: &mut ImportCtx, node: &OnnxNode) -> IrResult<Vec<OutletId>> {
    binary(ctx, node, BinaryKind::Add)
}

/// `Sub`.
pub fn sub(ctx: &mut ImportCtx, node: &OnnxNode) -> IrResult<Vec<OutletId>> {
    binary(ctx, node, BinaryKind::Sub)
}

/// `Mul`.
pub fn mul(ctx: &mut ImportCtx, node: &OnnxNode) -> IrResult<Vec<OutletId>> {
    binary(ctx, node, BinaryKind::Mul)
}

/// `Div`.
pub fn div(ctx: &mut ImportCtx, node: &OnnxNode) -> IrResult<Vec<OutletId>> {
    binary(ctx, node, BinaryKind::Div)
}

fn binary(ctx: &mut ImportCtx, node: &OnnxNode, kind: BinaryKind) -> IrResult<Vec<OutletId>> {
    let a = ctx.input(node, 0)?;
    let b = ctx.input(node, 1)?;
    if ctx.opset < 7 && node.flag("broadcast", false)? && node.has_attr("axis") {
        return Err(node.unsupported("legacy broadcast with an explicit axis"));
    }
    // Integer arithmetic (wrap-around, truncating division) is only evaluated on constants.
    let integer = [a, b]
        .iter()
        .find_map(|&o| ctx.elem_type(o).filter(|&t| is_integer(t)));
    let both_const = ctx.const_value(a).is_some() && ctx.const_value(b).is_some();
    if ctx.dtype(a)? == DType::I64 || ctx.dtype(b)? == DType::I64 {
        if let (Some(x), Some(y)) = (ctx.const_value(a), ctx.const_value(b)) {
            let value = fold_int(kind, x, y).map_err(|e| node.invalid(e.to_string()))?;
            return Ok(vec![ctx.add_const(node, "", value)?]);
        }
        return Err(node.unsupported("integer arithmetic at run time"));
    }
    if let Some(t) = integer.filter(|_| !both_const) {
        return Err(node.unsupported(format!("{} arithmetic at run time", elem_type_name(t))));
    }
    Ok(vec![ctx.add(node, Binary { kind }, &[a, b])?])
}

/// Integer `a <op> b` with broadcasting; division truncates toward zero (as C and
/// onnxruntime do) and overflow or division by zero is an error.
pub fn fold_int(kind: BinaryKind, a: &Tensor, b: &Tensor) -> Result<Tensor, OpError> {
    let (a, b) = (a.as_i64()?, b.as_i64()?);
    let shape = broadcast_shapes(a.shape(), b.shape())?;
    let dim = IxDyn(&shape);
    let a = a
        .broadcast(dim.clone())
        .ok_or_else(|| OpError::new("a does not broadcast"))?;
    let b = b
        .broadcast(dim.clone())
        .ok_or_else(|| OpError::new("b does not broadcast"))?;
    let mut out = ArrayD::<i64>::zeros(dim);
    let mut failed = false;
    Zip::from(&mut out).and(&a).and(&b).for_each(|o, &x, &y| {
        let r = match kind {
            BinaryKind::Add => x.checked_add(y),
            BinaryKind::Sub => x.checked_sub(y),
            BinaryKind::Mul => x.checked_mul(y),
            BinaryKind::Div => x.checked_div(y),
        };
        match r {
            Some(v) => *o = v,
            None => failed = true,
        }
    });
    if failed {
        crate::op_bail!("integer {kind:?} overflows or divides by zero");
    }
    Ok(Tensor::I64(out))
}
