//! `Conv`, `Gemm`, `MatMul`, `BatchNormalization`, and the window attributes shared with the
//! pooling converters.

use crate::onnx::context::ImportCtx;
use crate::onnx::node::OnnxNode;
use crate::ops::{BatchNormalization, Conv, Gemm, MatMul, Squeeze, Unsqueeze};
use crate::{IrResult, OutletId};

/// The window attributes of a 1-D or 2-D convolution or pool, as 2-D values (a 1-D window
/// becomes `1 x k` on an input with a unit height axis inserted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Window {
    pub kernel: [usize; 2],
    pub strides: [usize; 2],
    pub pads: [usize; 4],
    pub dilations: [usize; 2],
    /// Whether the ONNX op was 1-D (so input and output need a unit axis at 2).
    pub one_d: bool,
}

/// Reads `strides`, `dilations`, `pads` and `auto_pad` for a window of `kernel` (1 or 2 spatial
/// dims) over the spatial dims `input` of the input. Spatial ranks other than 1 and 2 are
/// unsupported.
pub(super) fn window(
    node: &OnnxNode,
    kernel: &[usize],
    input: &[usize],
    ceil_mode: bool,
) -> IrResult<Window> {
    let r = kernel.len();
    if r != 1 && r != 2 {
        return Err(node.unsupported(format!("{r}-D window (only 1-D and 2-D)")));
    }
    if input.len() != r {
        return Err(node.invalid(format!(
            "kernel {kernel:?} does not match spatial dims {input:?}"
        )));
    }
    let list = |name: &str, default: usize, len: usize| -> IrResult<Vec<usize>> {
        let v = node.get_usizes(name)?.unwrap_or_else(|| vec![default; len]);
        if v.len() != len {
            return Err(node.invalid(format!("{name} has {} values, expected {len}", v.len())));
        }
        Ok(v)
    };
    let strides = list("strides", 1, r)?;
    let dilations = list("dilations", 1, r)?;
    if strides.contains(&0) || dilations.contains(&0) || kernel.contains(&0) {
        return Err(node.invalid("kernel, strides and dilations must be positive"));
    }
    let auto_pad = node.string_or("auto_pad", "NOTSET")?;
    let pads = match auto_pad.as_str() {
        "NOTSET" => list("pads", 0, 2 * r)?,
        "VALID" => vec![0; 2 * r],
        "SAME_UPPER" | "SAME_LOWER" => {
            let mut pads = vec![0; 2 * r];
            for i in 0..r {
                let span = dilations[i]
                    .checked_mul(kernel[i] - 1)
                    .and_then(|v| v.checked_add(1))
                    .ok_or_else(|| node.invalid("kernel span overflows"))?;
                let out = input[i].div_ceil(strides[i]);
                let needed = out
                    .saturating_sub(1)
                    .saturating_mul(strides[i])
                    .saturating_add(span);
                let total = needed.saturating_sub(input[i]);
                let small = total / 2;
                let (begin, end) = if auto_pad == "SAME_UPPER" {
                    (small, total - small)
                } else {
                    (total - small, small)
                };
                pads[i] = begin;
                pads[i + r] = end;
            }
            // ONNX computes SAME padding without ceil mode; a ceil-mode SAME pool is unusual
            // enough to refuse rather than guess.
            if ceil_mode {
                return Err(node.unsupported("auto_pad SAME with ceil_mode"));
            }
            pads
        }
        other => return Err(node.invalid(format!("unknown auto_pad {other:?}"))),
    };
    Ok(if r == 2 {
        Window {
            kernel: [kernel[0], kernel[1]],
            strides: [strides[0], strides[1]],
            pads: [pads[0], pads[1], pads[2], pads[3]],
            dilations: [dilations[0], dilations[1]],
            one_d: false,
        }
    } else {
        Window {
            kernel: [1, kernel[0]],
            strides: [1, strides[0]],
            pads: [0, pads[0], 0, pads[1]],
            dilations: [1, dilations[0]],
            one_d: true,
        }
    })
}

/// Inserts the unit height axis that turns `[N, C, L]` into `[N, C, 1, L]`.
pub(super) fn to_2d(
    ctx: &mut ImportCtx,
    node: &OnnxNode,
    suffix: &str,
    x: OutletId,
) -> IrResult<OutletId> {
    ctx.add_aux(node, suffix, Unsqueeze { axes: vec![2] }, &[x])
}

/// Removes the unit height axis again, as the node's final output.
pub(super) fn from_2d(ctx: &mut ImportCtx, node: &OnnxNode, y: OutletId) -> IrResult<OutletId> {
    ctx.add(node, Squeeze { axes: vec![2] }, &[y])
}

/// `Conv`: 1-D or 2-D, grouped, with `auto_pad`. The weights (and bias) stay separate
/// constant inputs of the IR node.
pub fn conv(ctx: &mut ImportCtx, node: &OnnxNode) -> IrResult<Vec<OutletId>> {
    let x = ctx.input(node, 0)?;
    let w = ctx.input(node, 1)?;
    let b = ctx.opt_input(node, 2)?;
    Ok(vec![conv_of(ctx, node, x, w, b)?])
}

/// The IR of a convolution of `x` by `w` (plus `b`) with `node`'s `Conv` attributes; shared
/// with the quantized convolutions, whose float inputs are computed first.
pub(super) fn conv_of(
    ctx: &mut ImportCtx,
    node: &OnnxNode,
    x: OutletId,
    w: OutletId,
    b: Option<OutletId>,
) -> IrResult<OutletId> {
    let x_shape = ctx.fact(x)?.shape.clone();
    let w_shape = ctx.fact(w)?.shape.clone();
    if w_shape.len() < 3 || x_shape.len() != w_shape.len() {
        return Err(node.unsupported(format!("convolution of x {x_shape:?} with w {w_shape:?}")));
    }
    let kernel = &w_shape[2..];
    if let Some(k) = node.get_usizes("kernel_shape")?
        && k != kernel
    {
        return Err(node.invalid(format!(
            "kernel_shape {k:?} does not match weights {w_shape:?}"
        )));
    }
    let win = window(node, kernel, &x_shape[2..], false)?;
    let group =
        usize::try_from(node.int_or("group", 1)?).map_err(|_| node.invalid("negative group"))?;
    let op = Conv {
        strides: win.strides,
        pads: win.pads,
        dilations: win.dilations,
        group,
    };
    let mut inputs = vec![x, w];
    if win.one_d {
        inputs = vec![to_2d(ctx, node, "x_2d", x)?, to_2d(ctx, node, "w_2d", w)?];
    }
    inputs.extend(b);
    if win.one_d {
        let y = ctx.add_aux(node, "conv_2d", op, &inputs)?;
        return from_2d(ctx, node, y);
    }
    ctx.add(node, op, &inputs)
}

/// `Gemm`.
pub fn gemm(ctx: &mut ImportCtx, node: &OnnxNode) -> IrResult<Vec<OutletId>> {
    let a = ctx.input(node, 0)?;
    let b = ctx.input(node, 1)?;
    let c = ctx.opt_input(node, 2)?;
    let op = Gemm {
        alpha: node.float_or("alpha", 1.0)?,
        beta: node.float_or("beta", 1.0)?,
        trans_a: node.flag("transA", false)?,
        trans_b: node.flag("transB", false)?,
    };
    let mut inputs = vec![a, b];
    inputs.extend(c);
    Ok(vec![ctx.add(node, op, &inputs)?])
}

/// `MatMul` (numpy semantics).
pub fn matmul(ctx: &mut ImportCtx, node: &OnnxNode) -> IrResult<Vec<OutletId>> {
    let a = ctx.input(node, 0)?;
    let b = ctx.input(node, 1)?;
    Ok(vec![ctx.add(node, MatMul, &[a, b])?])
}

/// `BatchNormalization` in inference form; training mode (opset 14 attribute, or the extra
/// statistics outputs being used) is unsupported.
pub fn batch_norm(ctx: &mut ImportCtx, node: &OnnxNode) -> IrResult<Vec<OutletId>> {
    if node.flag("training_mode", false)? {
        return Err(node.unsupported("training_mode 1 (batch statistics)"));
    }
    if ctx.opset < 7 && !node.flag("is_test", true)? {
        return Err(node.unsupported("is_test 0 (batch statistics)"));
    }
    if !node.flag("spatial", true)? {
        return Err(node.unsupported("spatial 0 (per-element statistics)"));
    }
    let inputs = (0..5)
        .map(|i| ctx.input(node, i))
        .collect::<IrResult<Vec<_>>>()?;
    let epsilon = node.float_or("epsilon", 1e-5)?;
    Ok(vec![ctx.add(
        node,
        BatchNormalization { epsilon },
        &inputs,
    )?])
}
