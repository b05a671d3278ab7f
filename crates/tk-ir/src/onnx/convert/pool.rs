//! `MaxPool`, `AveragePool`, `GlobalAveragePool` (1-D inputs get a unit height axis).

use super::nn::{from_2d, to_2d, window};
use crate::onnx::context::ImportCtx;
use crate::onnx::node::OnnxNode;
use crate::ops::pool::PoolGeometry;
use crate::ops::{AveragePool, GlobalAveragePool, MaxPool, Op};
use crate::{IrResult, OutletId};

fn geometry(ctx: &ImportCtx, node: &OnnxNode, x: OutletId) -> IrResult<(PoolGeometry, bool)> {
    let shape = ctx.fact(x)?.shape.clone();
    let kernel = node
        .get_usizes("kernel_shape")?
        .ok_or_else(|| node.invalid("missing kernel_shape"))?;
    if shape.len() != kernel.len() + 2 {
        if kernel.len() > 2 {
            return Err(node.unsupported(format!("{}-D pooling (only 1-D and 2-D)", kernel.len())));
        }
        return Err(node.invalid(format!(
            "kernel_shape {kernel:?} does not match input {shape:?}"
        )));
    }
    let ceil_mode = node.flag("ceil_mode", false)?;
    let w = window(node, &kernel, &shape[2..], ceil_mode)?;
    let geometry = PoolGeometry {
        kernel: w.kernel,
        strides: w.strides,
        pads: w.pads,
        dilations: w.dilations,
        ceil_mode,
    };
    Ok((geometry, w.one_d))
}

fn pool(
    ctx: &mut ImportCtx,
    node: &OnnxNode,
    x: OutletId,
    op: Op,
    one_d: bool,
) -> IrResult<Vec<OutletId>> {
    if !one_d {
        return Ok(vec![ctx.add(node, op, &[x])?]);
    }
    let x2 = to_2d(ctx, node, "x_2d", x)?;
    let y = ctx.add_aux(node, "pool_2d", op, &[x2])?;
    Ok(vec![from_2d(ctx, node, y)?])
}

/// `MaxPool`. Only the values output is produced; a model using the indices output fails.
pub fn max_pool(ctx: &mut ImportCtx, node: &OnnxNode) -> IrResult<Vec<OutletId>> {
    let x = ctx.input(node, 0)?;
    let (geometry, one_d) = geometry(ctx, node, x)?;
    pool(ctx, node, x, MaxPool { geometry }.into(), one_d)
}

/// `AveragePool` (`count_include_pad` defaults to 0).
pub fn average_pool(ctx: &mut ImportCtx, node: &OnnxNode) -> IrResult<Vec<OutletId>> {
    let x = ctx.input(node, 0)?;
    let (geometry, one_d) = geometry(ctx, node, x)?;
    let count_include_pad = node.flag("count_include_pad", false)?;
    pool(
        ctx,
        node,
        x,
        AveragePool {
            geometry,
            count_include_pad,
        }
        .into(),
        one_d,
    )
}

/// `GlobalAveragePool` on `[N, C, H, W]` or `[N, C, L]`.
pub fn global_average_pool(ctx: &mut ImportCtx, node: &OnnxNode) -> IrResult<Vec<OutletId>> {
    let x = ctx.input(node, 0)?;
    match ctx.fact(x)?.rank() {
        4 => pool(ctx, node, x, GlobalAveragePool.into(), false),
        3 => pool(ctx, node, x, GlobalAveragePool.into(), true),
        r => Err(node.unsupported(format!("rank-{r} input (only 1-D and 2-D spatial)"))),
    }
}
