//! `QuantizeLinear` and `DequantizeLinear` (8-bit integers held as F32, int32 constants folded).

use tract_onnx::pb::tensor_proto::DataType;

use crate::onnx::context::ImportCtx;
use crate::onnx::node::OnnxNode;
use crate::onnx::tensor::elem_type_name;
use crate::ops::quantize_linear::{QType, check_param_facts, param_indices};
use crate::ops::{DequantizeLinear, QuantizeLinear, normalize_axis};
use crate::{IrResult, OutletId, Tensor};

/// Per-tensor when the scale holds one element (rank 0 or 1), else per-axis along `axis`
/// (default 1). Blocked quantization (opset 21 `block_size`) is unsupported.
fn axis_of(
    ctx: &ImportCtx,
    node: &OnnxNode,
    x: OutletId,
    scale: OutletId,
) -> IrResult<Option<usize>> {
    if node.int_or("block_size", 0)? != 0 {
        return Err(node.unsupported("blocked quantization"));
    }
    let scale = ctx.fact(scale)?;
    if scale.rank() <= 1 && scale.volume().map_err(|e| node.invalid(e.to_string()))? == 1 {
        return Ok(None);
    }
    let rank = ctx.fact(x)?.rank();
    normalize_axis(node.int_or("axis", 1)?, rank)
        .map(Some)
        .map_err(|e| node.invalid(e.to_string()))
}

fn qtype(node: &OnnxNode, elem_type: i32) -> IrResult<QType> {
    match DataType::try_from(elem_type) {
        Ok(DataType::Uint8) => Ok(QType::U8),
        Ok(DataType::Int8) => Ok(QType::I8),
        _ => Err(node.unsupported(format!("quantized type {}", elem_type_name(elem_type)))),
    }
}

/// `QuantizeLinear`: the output type is the zero point's type (uint8 when absent), or the
/// opset 21 `output_dtype` attribute.
pub fn quantize_linear(ctx: &mut ImportCtx, node: &OnnxNode) -> IrResult<Vec<OutletId>> {
    let x = ctx.input(node, 0)?;
    let scale = ctx.input(node, 1)?;
    let zero_point = ctx.opt_input(node, 2)?;
    let declared = node.int_or("output_dtype", 0)?;
    let elem_type = if declared != 0 {
        declared as i32
    } else {
        match zero_point {
            Some(z) => ctx
                .elem_type(z)
                .ok_or_else(|| node.unsupported("zero point of unknown integer type"))?,
            None => DataType::Uint8 as i32,
        }
    };
    let op = QuantizeLinear {
        axis: axis_of(ctx, node, x, scale)?,
        qtype: qtype(node, elem_type)?,
    };
    let mut inputs = vec![x, scale];
    inputs.extend(zero_point);
    let y = ctx.add(node, op, &inputs)?;
    ctx.set_elem_type(y, elem_type);
    Ok(vec![y])
}

/// `DequantizeLinear` of 8-bit integers, or of a constant int32 tensor (a bias quantized at
/// `scale_x * scale_w`), which is folded at import.
pub fn dequantize_linear(ctx: &mut ImportCtx, node: &OnnxNode) -> IrResult<Vec<OutletId>> {
    let x = ctx.input(node, 0)?;
    let scale = ctx.input(node, 1)?;
    let zero_point = ctx.opt_input(node, 2)?;
    if ctx.elem_type(x) == Some(DataType::Int32 as i32) {
        return dequantize_int32(ctx, node, x, scale, zero_point).map(|y| vec![y]);
    }
    for t in [Some(x), zero_point]
        .into_iter()
        .flatten()
        .filter_map(|o| ctx.elem_type(o))
    {
        qtype(node, t)?;
    }
    let op = DequantizeLinear {
        axis: axis_of(ctx, node, x, scale)?,
    };
    let mut inputs = vec![x, scale];
    inputs.extend(zero_point);
    Ok(vec![ctx.add(node, op, &inputs)?])
}

/// `f32(x - zero_point) * scale` for a constant int32 `x`, as onnxruntime computes it (the
/// difference is exact in i64, then rounded once to f32).
fn dequantize_int32(
    ctx: &mut ImportCtx,
    node: &OnnxNode,
    x: OutletId,
    scale: OutletId,
    zero_point: Option<OutletId>,
) -> IrResult<OutletId> {
    let Some(Tensor::I64(values)) = ctx.const_value(x).cloned() else {
        return Err(node.unsupported("int32 input computed at run time"));
    };
    let axis = axis_of(ctx, node, x, scale)?;
    let zp: Vec<i64> = match zero_point {
        None => vec![0],
        Some(z) => {
            let Some(Tensor::I64(value)) = ctx.const_value(z) else {
                return Err(node.unsupported("int32 zero point computed at run time"));
            };
            if ctx.elem_type(z) != Some(DataType::Int32 as i32) {
                return Err(node.invalid("the zero point of an int32 input must be int32"));
            }
            check_param_facts(ctx.fact(x)?, axis, &[ctx.fact(z)?])
                .map_err(|e| node.invalid(e.to_string()))?;
            value.iter().copied().collect()
        }
    };
    let centred: Vec<f32> = values
        .iter()
        .zip(param_indices(values.shape(), axis))
        .map(|(&v, i)| (v - zp.get(i).or(zp.first()).copied().unwrap_or(0)) as f32)
        .collect();
    let centred =
        Tensor::from_f32(values.shape(), centred).map_err(|e| node.invalid(e.to_string()))?;
    let centred = ctx.add_const(node, "centred", centred)?;
    ctx.add(node, DequantizeLinear { axis }, &[centred, scale])
}
