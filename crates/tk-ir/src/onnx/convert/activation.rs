//! Element-wise activations, `Softmax`, `Identity` and inference-mode `Dropout`.

use crate::onnx::context::ImportCtx;
use crate::onnx::node::OnnxNode;
use crate::ops::{
    Clip, HardSigmoid, HardSwish, Identity, LeakyRelu, Relu, Reshape, Sigmoid, Softmax,
    normalize_axis,
};
use crate::{IrResult, OutletId, Tensor};

/// `Relu`.
pub fn relu(ctx: &mut ImportCtx, node: &OnnxNode) -> IrResult<Vec<OutletId>> {
    let x = ctx.input(node, 0)?;
    Ok(vec![ctx.add(node, Relu, &[x])?])
}

/// `Clip`: bounds from attributes (opset < 11) or constant inputs 1 and 2 (opset >= 11).
pub fn clip(ctx: &mut ImportCtx, node: &OnnxNode) -> IrResult<Vec<OutletId>> {
    let x = ctx.input(node, 0)?;
    let (min, max) = if ctx.opset < 11 {
        (
            node.float_or("min", f32::NEG_INFINITY)?,
            node.float_or("max", f32::INFINITY)?,
        )
    } else {
        (
            ctx.const_scalar(node, 1, "min")?
                .unwrap_or(f32::NEG_INFINITY),
            ctx.const_scalar(node, 2, "max")?.unwrap_or(f32::INFINITY),
        )
    };
    Ok(vec![ctx.add(node, Clip { min, max }, &[x])?])
}

/// `LeakyRelu` (`alpha` defaults to 0.01).
pub fn leaky_relu(ctx: &mut ImportCtx, node: &OnnxNode) -> IrResult<Vec<OutletId>> {
    let x = ctx.input(node, 0)?;
    let alpha = node.float_or("alpha", 0.01)?;
    Ok(vec![ctx.add(node, LeakyRelu { alpha }, &[x])?])
}

/// `Sigmoid`.
pub fn sigmoid(ctx: &mut ImportCtx, node: &OnnxNode) -> IrResult<Vec<OutletId>> {
    let x = ctx.input(node, 0)?;
    Ok(vec![ctx.add(node, Sigmoid, &[x])?])
}

/// `HardSigmoid` (`alpha` 0.2, `beta` 0.5 by default).
pub fn hard_sigmoid(ctx: &mut ImportCtx, node: &OnnxNode) -> IrResult<Vec<OutletId>> {
    let x = ctx.input(node, 0)?;
    let op = HardSigmoid {
        alpha: node.float_or("alpha", 0.2)?,
        beta: node.float_or("beta", 0.5)?,
    };
    Ok(vec![ctx.add(node, op, &[x])?])
}

/// `HardSwish`.
pub fn hard_swish(ctx: &mut ImportCtx, node: &OnnxNode) -> IrResult<Vec<OutletId>> {
    let x = ctx.input(node, 0)?;
    Ok(vec![ctx.add(node, HardSwish, &[x])?])
}

/// `Softmax`. From opset 13 it normalizes along `axis` (default -1). Before, the input is
/// coerced to 2-D at `axis` (default 1) and normalized over the whole inner block; that is
/// imported as `Reshape -> Softmax(axis 1) -> Reshape`, or a plain `Softmax` when `axis` is the
/// last axis (the two coincide then).
pub fn softmax(ctx: &mut ImportCtx, node: &OnnxNode) -> IrResult<Vec<OutletId>> {
    let x = ctx.input(node, 0)?;
    let shape = ctx.fact(x)?.shape.clone();
    let rank = shape.len();
    let legacy = ctx.opset < 13;
    let axis = node.int_or("axis", if legacy { 1 } else { -1 })?;
    let axis = normalize_axis(axis, rank).map_err(|e| node.invalid(e.to_string()))?;
    if !legacy || axis + 1 == rank {
        return Ok(vec![ctx.add(node, Softmax { axis }, &[x])?]);
    }
    let outer = crate::checked_volume(&shape[..axis]).map_err(|e| node.invalid(e.to_string()))?;
    let inner = crate::checked_volume(&shape[axis..]).map_err(|e| node.invalid(e.to_string()))?;
    let flat = ctx.add_aux(
        node,
        "coerce_2d",
        Reshape {
            shape: vec![outer, inner],
        },
        &[x],
    )?;
    let y = ctx.add_aux(node, "softmax_2d", Softmax { axis: 1 }, &[flat])?;
    Ok(vec![ctx.add(node, Reshape { shape }, &[y])?])
}

/// `Identity`.
pub fn identity(ctx: &mut ImportCtx, node: &OnnxNode) -> IrResult<Vec<OutletId>> {
    let x = ctx.input(node, 0)?;
    Ok(vec![ctx.add(node, Identity, &[x])?])
}

/// `Dropout` in inference mode: `Identity`, and an all-true mask (I64 ones) when the optional
/// mask output is requested. A constant true `training_mode` with a non-zero ratio is
/// unsupported (it is random); a non-constant one too.
pub fn dropout(ctx: &mut ImportCtx, node: &OnnxNode) -> IrResult<Vec<OutletId>> {
    let x = ctx.input(node, 0)?;
    if ctx.opset >= 12 {
        let training = ctx
            .const_ints(node, 2, "training_mode")?
            .is_some_and(|v| v.iter().any(|&t| t != 0));
        let ratio = ctx.const_scalar(node, 1, "ratio")?.unwrap_or(0.5);
        if training && ratio != 0.0 {
            return Err(node.unsupported("training-mode dropout (random masks)"));
        }
    }
    let y = ctx.add(node, Identity, &[x])?;
    let mut outputs = vec![y];
    if node.proto.output.get(1).is_some_and(|s| !s.is_empty()) {
        let shape = ctx.fact(x)?.shape.clone();
        ctx.check_folded(&node.name, &shape)?;
        let n = crate::checked_volume(&shape).map_err(|e| node.invalid(e.to_string()))?;
        let mask = Tensor::from_i64(&shape, vec![1; n]).map_err(|e| node.invalid(e.to_string()))?;
        outputs.push(ctx.add_const(node, "mask", mask)?);
    }
    Ok(outputs)
}
