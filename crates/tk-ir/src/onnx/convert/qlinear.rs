//! Operators of models that their framework already quantized (onnxruntime's QOperator and
//! dynamic formats), expressed with float IR ops so that evaluation reproduces onnxruntime
//! and `tk-quant` reads the scales from the `QuantizeLinear -> DequantizeLinear` pairs:
//!
//! | ONNX | float IR |
//! |---|---|
//! | `QLinearConv(x, xs, xz, w, ws, wz, ys, yz, B)` | `QuantizeLinear(Conv(DequantizeLinear(x, xs, xz), w', b'), ys, yz)`, `w' = (w - wz) * ws`, `b' = B * xs * ws` |
//! | `QLinearMatMul(a, as, az, b, bs, bz, ys, yz)` | `QuantizeLinear(MatMul(DequantizeLinear(a, as, az), DequantizeLinear(b, bs, bz)), ys, yz)` |
//! | `ConvInteger(x, w, xz, wz)` | `Conv(x - xz, w - wz)` |
//! | `MatMulInteger(a, b, az, bz)` | `MatMul(a - az, b - bz)` |
//! | `DynamicQuantizeLinear(x)` | one [`DynamicQuantizeLinear`] IR op per output (`y`, `y_scale`, `y_zero_point`) |
//!
//! Constant operands (weights, biases) fold to float constants at import. `x - xz` is a
//! `DequantizeLinear` with scale 1 (its zero point may be computed at run time, as
//! `DynamicQuantizeLinear`'s is), left out when the zero point is a constant 0. 8-bit values
//! and the int32 results of `ConvInteger`/`MatMulInteger` are held as integral F32 (exact
//! while partial sums stay below 2^24); the `Cast` of those results to float is an `Identity`.
//!
//! Every imported value is the one ONNX defines. Evaluation differs from onnxruntime's
//! integer kernels only by float rounding: a value that lands within float error of a
//! rounding boundary of an output `QuantizeLinear` may come out one quantization step away.
//! The scales `DynamicQuantizeLinear` computes at run time are replaced by calibrated static
//! ones in `tk-quant`, which recognises the patterns `quantize_dynamic` emits.

use tract_onnx::pb::tensor_proto::DataType;

use super::nn::conv_of;
use crate::onnx::context::ImportCtx;
use crate::onnx::node::OnnxNode;
use crate::onnx::tensor::elem_type_name;
use crate::ops::dynamic_quantize_linear::DynamicOutput;
use crate::ops::quantize_linear::QType;
use crate::ops::{DequantizeLinear, DynamicQuantizeLinear, MatMul, QuantizeLinear};
use crate::{DType, IrResult, OutletId, Tensor};

/// The 8-bit type of a quantized operand (`what` names it in errors).
fn qtype(ctx: &ImportCtx, node: &OnnxNode, outlet: OutletId, what: &str) -> IrResult<QType> {
    match ctx.elem_type(outlet).map(DataType::try_from) {
        Some(Ok(DataType::Uint8)) => Ok(QType::U8),
        Some(Ok(DataType::Int8)) => Ok(QType::I8),
        Some(_) | None => {
            let t = ctx
                .elem_type(outlet)
                .map_or("unknown".to_string(), elem_type_name);
            Err(node.unsupported(format!("{what} of type {t} (expected uint8 or int8)")))
        }
    }
}

/// Checks that a zero point has the type of the tensor it applies to.
fn check_zero_point(
    ctx: &ImportCtx,
    node: &OnnxNode,
    tensor: QType,
    zero_point: Option<OutletId>,
    what: &str,
) -> IrResult<()> {
    match zero_point {
        Some(z) if qtype(ctx, node, z, what)? != tensor => Err(node.invalid(format!(
            "{what} type differs from the type of the tensor it applies to"
        ))),
        _ => Ok(()),
    }
}

/// Number of elements of an outlet's value.
fn volume(ctx: &ImportCtx, node: &OnnxNode, outlet: OutletId) -> IrResult<usize> {
    ctx.fact(outlet)?
        .volume()
        .map_err(|e| node.invalid(e.to_string()))
}

/// Whether a constant holds only `value`.
fn all_const(ctx: &ImportCtx, outlet: OutletId, value: f32) -> bool {
    matches!(ctx.const_value(outlet), Some(Tensor::F32(a)) if a.iter().all(|&v| v == value))
}

/// A quantization parameter as a vector of `len` elements along the quantized axis: kept
/// when it already has them, repeated when it holds one (it must then be a constant).
fn param(
    ctx: &mut ImportCtx,
    node: &OnnxNode,
    p: OutletId,
    len: usize,
    suffix: &str,
) -> IrResult<OutletId> {
    let n = volume(ctx, node, p)?;
    if n == len {
        return Ok(p);
    }
    match ctx.const_value(p) {
        Some(Tensor::F32(a)) if n == 1 => {
            let v = a.iter().next().copied().unwrap_or_default();
            let value =
                Tensor::from_f32(&[len], vec![v; len]).map_err(|e| node.invalid(e.to_string()))?;
            let elem_type = ctx.elem_type(p);
            let out = ctx.add_const(node, suffix, value)?;
            if let Some(t) = elem_type {
                ctx.set_elem_type(out, t);
            }
            Ok(out)
        }
        _ => Err(node.invalid(format!("{suffix} has {n} elements, expected 1 or {len}"))),
    }
}

/// `(x - zero_point) * scale`, per tensor when both parameters hold one element, else along
/// `axis`; `x` itself when the scale is a constant 1 and the zero point absent or 0.
fn dequantize(
    ctx: &mut ImportCtx,
    node: &OnnxNode,
    what: &str,
    x: OutletId,
    scale: OutletId,
    zero_point: Option<OutletId>,
    axis: usize,
) -> IrResult<OutletId> {
    if all_const(ctx, scale, 1.0) && zero_point.is_none_or(|z| all_const(ctx, z, 0.0)) {
        return Ok(x);
    }
    let len = match zero_point {
        Some(z) => volume(ctx, node, scale)?.max(volume(ctx, node, z)?),
        None => volume(ctx, node, scale)?,
    };
    let mut inputs = vec![param(ctx, node, scale, len, &format!("{what}_scale"))?];
    if let Some(z) = zero_point {
        inputs.push(param(ctx, node, z, len, &format!("{what}_zero_point"))?);
    }
    inputs.insert(0, x);
    let axis = (len > 1).then_some(axis);
    ctx.add_aux(
        node,
        &format!("{what}_dequantized"),
        DequantizeLinear { axis },
        &inputs,
    )
}

/// `x - zero_point` (a `DequantizeLinear` with scale 1), `x` when the zero point is absent
/// or a constant 0. A zero point with several elements applies along `axis`.
fn centre(
    ctx: &mut ImportCtx,
    node: &OnnxNode,
    what: &str,
    x: OutletId,
    zero_point: Option<OutletId>,
    axis: usize,
) -> IrResult<OutletId> {
    let Some(z) = zero_point else {
        return Ok(x);
    };
    let tensor = qtype(ctx, node, x, what)?;
    check_zero_point(ctx, node, tensor, Some(z), &format!("{what} zero point"))?;
    let one = Tensor::from_f32(&[], vec![1.0]).map_err(|e| node.invalid(e.to_string()))?;
    let one = ctx.add_const(node, &format!("{what}_unit_scale"), one)?;
    dequantize(ctx, node, what, x, one, Some(z), axis)
}

/// `QuantizeLinear(y, scale, zero_point)` per tensor, as the node's output.
fn quantize(
    ctx: &mut ImportCtx,
    node: &OnnxNode,
    y: OutletId,
    scale: OutletId,
    zero_point: OutletId,
) -> IrResult<OutletId> {
    let qtype = qtype(ctx, node, zero_point, "output zero point")?;
    if volume(ctx, node, scale)? != 1 || volume(ctx, node, zero_point)? != 1 {
        return Err(node.unsupported("per-axis output quantization"));
    }
    let elem_type = ctx.elem_type(zero_point);
    let q = ctx.add_aux(
        node,
        "quantize",
        QuantizeLinear { axis: None, qtype },
        &[y, scale, zero_point],
    )?;
    if let Some(t) = elem_type {
        ctx.set_elem_type(q, t);
    }
    Ok(q)
}

/// Checks that an activation is quantized per tensor.
fn per_tensor(ctx: &ImportCtx, node: &OnnxNode, params: &[OutletId], what: &str) -> IrResult<()> {
    for &p in params {
        if volume(ctx, node, p)? != 1 {
            return Err(node.unsupported(format!("{what} quantized per axis")));
        }
    }
    Ok(())
}

/// The real bias `B * x_scale * w_scale[m]` of a `QLinearConv`, as a constant.
fn conv_bias(
    ctx: &mut ImportCtx,
    node: &OnnxNode,
    b: OutletId,
    x_scale: OutletId,
    w_scale: OutletId,
    channels: usize,
) -> IrResult<OutletId> {
    if ctx.elem_type(b) != Some(DataType::Int32 as i32) {
        return Err(node.invalid("bias B must be int32"));
    }
    let (Some(Tensor::I64(bias)), Some(Tensor::F32(xs)), Some(Tensor::F32(ws))) = (
        ctx.const_value(b),
        ctx.const_value(x_scale),
        ctx.const_value(w_scale),
    ) else {
        return Err(node.unsupported("bias or scales computed at run time"));
    };
    if bias.shape() != [channels] {
        return Err(node.invalid(format!(
            "bias B has shape {:?}, expected [{channels}]",
            bias.shape()
        )));
    }
    let xs = xs.iter().next().copied().unwrap_or_default();
    let ws: Vec<f32> = ws.iter().copied().collect();
    let real: Vec<f32> = bias
        .iter()
        .enumerate()
        .map(|(c, &v)| v as f32 * (xs * ws.get(c).or(ws.first()).copied().unwrap_or(1.0)))
        .collect();
    let value = Tensor::from_f32(&[channels], real).map_err(|e| node.invalid(e.to_string()))?;
    ctx.add_const(node, "bias", value)
}

/// `QLinearConv`: see the module docs. Activations per tensor, weights per tensor or per
/// output channel, optional int32 bias.
pub fn qlinear_conv(ctx: &mut ImportCtx, node: &OnnxNode) -> IrResult<Vec<OutletId>> {
    let [x, xs, xz, w, ws, wz, ys, yz] = inputs(ctx, node)?;
    let b = ctx.opt_input(node, 8)?;
    let xt = qtype(ctx, node, x, "input x")?;
    check_zero_point(ctx, node, xt, Some(xz), "x_zero_point")?;
    let wt = qtype(ctx, node, w, "weight w")?;
    check_zero_point(ctx, node, wt, Some(wz), "w_zero_point")?;
    per_tensor(ctx, node, &[xs, xz], "input x")?;
    let channels = *ctx
        .fact(w)?
        .shape
        .first()
        .ok_or_else(|| node.invalid("weight w has rank 0"))?;
    let xf = dequantize(ctx, node, "x", x, xs, Some(xz), 0)?;
    let wf = dequantize(ctx, node, "w", w, ws, Some(wz), 0)?;
    let bias = match b {
        Some(b) => Some(conv_bias(ctx, node, b, xs, ws, channels)?),
        None => None,
    };
    let y = conv_of(ctx, node, xf, wf, bias)?;
    Ok(vec![quantize(ctx, node, y, ys, yz)?])
}

/// `QLinearMatMul`: see the module docs. `a` per tensor; `b` per tensor or, when 2-D, per
/// column.
pub fn qlinear_matmul(ctx: &mut ImportCtx, node: &OnnxNode) -> IrResult<Vec<OutletId>> {
    let [a, a_scale, az, b, b_scale, bz, ys, yz] = inputs(ctx, node)?;
    let at = qtype(ctx, node, a, "input a")?;
    check_zero_point(ctx, node, at, Some(az), "a_zero_point")?;
    let bt = qtype(ctx, node, b, "input b")?;
    check_zero_point(ctx, node, bt, Some(bz), "b_zero_point")?;
    per_tensor(ctx, node, &[a_scale, az], "input a")?;
    let b_rank = ctx.fact(b)?.rank();
    if b_rank != 2 && (volume(ctx, node, b_scale)? != 1 || volume(ctx, node, bz)? != 1) {
        return Err(node.unsupported(format!("per-column quantization of a rank {b_rank} b")));
    }
    let af = dequantize(ctx, node, "a", a, a_scale, Some(az), 0)?;
    let bf = dequantize(ctx, node, "b", b, b_scale, Some(bz), 1)?;
    let y = ctx.add(node, MatMul, &[af, bf])?;
    Ok(vec![quantize(ctx, node, y, ys, yz)?])
}

/// `ConvInteger`: the int32 accumulator of a convolution of 8-bit tensors, held as F32.
pub fn conv_integer(ctx: &mut ImportCtx, node: &OnnxNode) -> IrResult<Vec<OutletId>> {
    let x = ctx.input(node, 0)?;
    let w = ctx.input(node, 1)?;
    let (xz, wz) = (ctx.opt_input(node, 2)?, ctx.opt_input(node, 3)?);
    integer_operands(ctx, node, x, w)?;
    if let Some(z) = xz {
        per_tensor(ctx, node, &[z], "input x")?;
    }
    let xc = centre(ctx, node, "x", x, xz, 0)?;
    let wc = centre(ctx, node, "w", w, wz, 0)?;
    Ok(vec![conv_of(ctx, node, xc, wc, None)?])
}

/// `MatMulInteger`: the int32 product of 8-bit matrices, held as F32.
pub fn matmul_integer(ctx: &mut ImportCtx, node: &OnnxNode) -> IrResult<Vec<OutletId>> {
    let a = ctx.input(node, 0)?;
    let b = ctx.input(node, 1)?;
    let (az, bz) = (ctx.opt_input(node, 2)?, ctx.opt_input(node, 3)?);
    integer_operands(ctx, node, a, b)?;
    if let Some(z) = az {
        per_tensor(ctx, node, &[z], "input a")?;
    }
    let b_rank = ctx.fact(b)?.rank();
    if let Some(z) = bz
        && b_rank != 2
        && volume(ctx, node, z)? != 1
    {
        return Err(node.unsupported(format!("per-column zero point of a rank {b_rank} b")));
    }
    let ac = centre(ctx, node, "a", a, az, 0)?;
    let bc = centre(ctx, node, "b", b, bz, 1)?;
    Ok(vec![ctx.add(node, MatMul, &[ac, bc])?])
}

/// `DynamicQuantizeLinear`: three IR nodes on `x`, named `<node>`, `<node>/scale` and
/// `<node>/zero_point`.
pub fn dynamic_quantize_linear(ctx: &mut ImportCtx, node: &OnnxNode) -> IrResult<Vec<OutletId>> {
    let x = ctx.input(node, 0)?;
    if ctx.dtype(x)? != DType::F32 {
        return Err(node.invalid("input must be float"));
    }
    let op = |output| DynamicQuantizeLinear { output };
    let y = ctx.add(node, op(DynamicOutput::Quantized), &[x])?;
    let scale = ctx.add_aux(node, "scale", op(DynamicOutput::Scale), &[x])?;
    let zero_point = ctx.add_aux(node, "zero_point", op(DynamicOutput::ZeroPoint), &[x])?;
    ctx.set_elem_type(y, DataType::Uint8 as i32);
    ctx.set_elem_type(scale, DataType::Float as i32);
    ctx.set_elem_type(zero_point, DataType::Uint8 as i32);
    Ok(vec![y, scale, zero_point])
}

/// The eight required inputs of `QLinearConv`/`QLinearMatMul`.
fn inputs(ctx: &ImportCtx, node: &OnnxNode) -> IrResult<[OutletId; 8]> {
    let mut out = [OutletId::new(0); 8];
    for (i, o) in out.iter_mut().enumerate() {
        *o = ctx.input(node, i)?;
    }
    Ok(out)
}

/// Checks the two operands of `ConvInteger`/`MatMulInteger` are 8-bit integers.
fn integer_operands(ctx: &ImportCtx, node: &OnnxNode, a: OutletId, b: OutletId) -> IrResult<()> {
    qtype(ctx, node, a, "first input")?;
    qtype(ctx, node, b, "second input")?;
    Ok(())
}
