//! Ops that exist only at import: `Constant`, `Shape`, `Cast`, `ConstantOfShape`, `Range`.
//!
//! Their results are computed from constants (shapes are static in the IR), so they add
//! `Const` nodes. `Cast` of run-time data is accepted only when it does not change the IR
//! dtype (it becomes `Identity`).

use ndarray::ArrayD;
use tract_onnx::pb::tensor_proto::DataType;

use crate::onnx::context::ImportCtx;
use crate::onnx::node::OnnxNode;
use crate::onnx::tensor::{dtype_of, elem_type_name, tensor_from_proto};
use crate::ops::Identity;
use crate::{DType, IrResult, OutletId, Tensor, limits};

/// `Constant` from `value`, `value_float(s)` or `value_int(s)`.
pub fn constant(ctx: &mut ImportCtx, node: &OnnxNode) -> IrResult<Vec<OutletId>> {
    let (value, elem_type) = if let Some(t) = node.get_tensor("value")? {
        (tensor_from_proto(t)?, t.data_type)
    } else if let Some(v) = node.get_int("value_int")? {
        (
            Tensor::from_i64(&[], vec![v]).map_err(|e| node.invalid(e.to_string()))?,
            DataType::Int64 as i32,
        )
    } else if let Some(v) = node.get_ints("value_ints")? {
        (
            Tensor::from_i64(&[v.len()], v).map_err(|e| node.invalid(e.to_string()))?,
            DataType::Int64 as i32,
        )
    } else if node.has_attr("value_float") {
        let v = node.float_or("value_float", 0.0)?;
        (
            Tensor::from_f32(&[], vec![v]).map_err(|e| node.invalid(e.to_string()))?,
            DataType::Float as i32,
        )
    } else if let Some(v) = node.get_floats("value_floats")? {
        (
            Tensor::from_f32(&[v.len()], v).map_err(|e| node.invalid(e.to_string()))?,
            DataType::Float as i32,
        )
    } else {
        return Err(node.unsupported("Constant without a numeric value (sparse or string)"));
    };
    let out = ctx.add_const(node, "", value)?;
    ctx.set_elem_type(out, elem_type);
    Ok(vec![out])
}

/// `Shape` (with the opset 15 `start`/`end` attributes), always a constant.
pub fn shape(ctx: &mut ImportCtx, node: &OnnxNode) -> IrResult<Vec<OutletId>> {
    let x = ctx.input(node, 0)?;
    let shape = ctx.fact(x)?.shape.clone();
    let rank = shape.len() as i64;
    let clamp = |v: i64| (if v < 0 { v + rank } else { v }).clamp(0, rank) as usize;
    let start = clamp(node.int_or("start", 0)?);
    let end = clamp(node.int_or("end", rank)?);
    let dims: Vec<i64> = shape
        .get(start..end.max(start))
        .unwrap_or(&[])
        .iter()
        .map(|&d| d as i64)
        .collect();
    let value = Tensor::from_i64(&[dims.len()], dims).map_err(|e| node.invalid(e.to_string()))?;
    let out = ctx.add_const(node, "", value)?;
    ctx.set_elem_type(out, DataType::Int64 as i32);
    Ok(vec![out])
}

/// Converts a constant to ONNX element type `to`: float types give F32, integer types I64
/// (floats truncate toward zero), bool gives 0/1.
fn cast_value(node: &OnnxNode, value: &Tensor, to: i32) -> IrResult<Tensor> {
    let target =
        dtype_of(to).ok_or_else(|| node.unsupported(format!("cast to {}", elem_type_name(to))))?;
    let is_bool = to == DataType::Bool as i32;
    Ok(match (value, target) {
        (Tensor::F32(a), DType::F32) => {
            let range = match DataType::try_from(to) {
                Ok(DataType::Int8) => Some((-128.0, 127.0)),
                Ok(DataType::Uint8) => Some((0.0, 255.0)),
                _ => None,
            };
            match range {
                None => Tensor::F32(a.clone()),
                Some((lo, hi)) => {
                    if a.iter().any(|v| !(lo..=hi).contains(&v.trunc())) {
                        return Err(node
                            .unsupported(format!("out-of-range cast to {}", elem_type_name(to))));
                    }
                    Tensor::F32(a.mapv(f32::trunc))
                }
            }
        }
        (Tensor::I64(a), DType::F32) => Tensor::F32(a.mapv(|v| v as f32)),
        (Tensor::F32(a), DType::I64) => {
            if a.iter().any(|v| !v.is_finite() || v.abs() >= 9.2e18) {
                return Err(node.invalid("cast of a non-finite or huge float to an integer"));
            }
            Tensor::I64(a.mapv(|v| {
                if is_bool {
                    i64::from(v != 0.0)
                } else {
                    v.trunc() as i64
                }
            }))
        }
        (Tensor::I64(a), DType::I64) => Tensor::I64(if is_bool {
            a.mapv(|v| i64::from(v != 0))
        } else {
            a.clone()
        }),
    })
}

/// `Cast`: folded on constants; on run-time data only a cast that keeps the IR dtype (and is
/// not to an 8-bit or bool type) is accepted, as `Identity`.
pub fn cast(ctx: &mut ImportCtx, node: &OnnxNode) -> IrResult<Vec<OutletId>> {
    let x = ctx.input(node, 0)?;
    let to = i32::try_from(
        node.get_int("to")?
            .ok_or_else(|| node.invalid("missing to"))?,
    )
    .map_err(|_| node.invalid("bad to"))?;
    if let Some(value) = ctx.const_value(x) {
        let value = cast_value(node, &value.clone(), to)?;
        let out = ctx.add_const(node, "", value)?;
        ctx.set_elem_type(out, to);
        return Ok(vec![out]);
    }
    let same_class = match (ctx.dtype(x)?, DataType::try_from(to)) {
        (DType::F32, Ok(DataType::Float | DataType::Double)) => ctx
            .elem_type(x)
            .is_none_or(|t| t == DataType::Float as i32 || t == DataType::Double as i32),
        (DType::I64, Ok(DataType::Int64 | DataType::Int32)) => true,
        _ => false,
    };
    if !same_class {
        return Err(node.unsupported(format!("run-time cast to {}", elem_type_name(to))));
    }
    Ok(vec![ctx.add(node, Identity, &[x])?])
}

/// `ConstantOfShape`: a constant filled with the one-element `value` (float 0 by default).
pub fn constant_of_shape(ctx: &mut ImportCtx, node: &OnnxNode) -> IrResult<Vec<OutletId>> {
    let dims = ctx
        .const_ints(node, 0, "shape")?
        .ok_or_else(|| node.invalid("missing shape"))?;
    if dims.len() > limits::MAX_RANK {
        return Err(node.invalid(format!("rank {} exceeds {}", dims.len(), limits::MAX_RANK)));
    }
    let shape = dims
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| node.invalid(format!("negative dimension {d}"))))
        .collect::<IrResult<Vec<usize>>>()?;
    ctx.check_folded(&node.name, &shape)?;
    let (fill, elem_type) = match node.get_tensor("value")? {
        Some(t) => (tensor_from_proto(t)?, t.data_type),
        None => (
            Tensor::from_f32(&[1], vec![0.0]).map_err(|e| node.invalid(e.to_string()))?,
            DataType::Float as i32,
        ),
    };
    let value = match &fill {
        Tensor::F32(a) if a.len() == 1 => Tensor::F32(ArrayD::from_elem(shape, first(a))),
        Tensor::I64(a) if a.len() == 1 => Tensor::I64(ArrayD::from_elem(shape, first(a))),
        _ => return Err(node.invalid("value must hold exactly one element")),
    };
    let out = ctx.add_const(node, "", value)?;
    ctx.set_elem_type(out, elem_type);
    Ok(vec![out])
}

/// `Range` over constant scalars: `start, start + delta, ...` while before `limit`.
pub fn range(ctx: &mut ImportCtx, node: &OnnxNode) -> IrResult<Vec<OutletId>> {
    let inputs: Vec<Tensor> = (0..3)
        .map(|i| {
            ctx.const_input(node, i, ["start", "limit", "delta"][i])?
                .ok_or_else(|| node.invalid("missing input"))
        })
        .collect::<IrResult<_>>()?;
    if inputs.iter().any(|t| t.fact().volume().ok() != Some(1)) {
        return Err(node.invalid("start, limit and delta must be scalars"));
    }
    let out = match (&inputs[0], &inputs[1], &inputs[2]) {
        (Tensor::I64(s), Tensor::I64(l), Tensor::I64(d)) => {
            let (s, l, d) = (first(s), first(l), first(d));
            if d == 0 {
                return Err(node.invalid("delta is zero"));
            }
            let n = count((l as f64 - s as f64) / d as f64)
                .ok_or_else(|| node.invalid("range too long"))?;
            let v: Vec<i64> = (0..n as i64).map(|i| s + i * d).collect();
            Tensor::from_i64(&[n], v)
        }
        (Tensor::F32(s), Tensor::F32(l), Tensor::F32(d)) => {
            let (s, l, d) = (first(s), first(l), first(d));
            if d == 0.0 || !(s.is_finite() && l.is_finite() && d.is_finite()) {
                return Err(node.invalid("delta is zero or a bound is not finite"));
            }
            let n = count(f64::from(l - s) / f64::from(d))
                .ok_or_else(|| node.invalid("range too long"))?;
            let v: Vec<f32> = (0..n).map(|i| s + i as f32 * d).collect();
            Tensor::from_f32(&[n], v)
        }
        _ => return Err(node.invalid("start, limit and delta must share one type")),
    }
    .map_err(|e| node.invalid(e.to_string()))?;
    let elem_type = ctx.opt_input(node, 0)?.and_then(|o| ctx.elem_type(o));
    let out = ctx.add_const(node, "", out)?;
    if let Some(t) = elem_type {
        ctx.set_elem_type(out, t);
    }
    Ok(vec![out])
}

fn first<T: Copy + Default>(a: &ArrayD<T>) -> T {
    a.iter().next().copied().unwrap_or_default()
}

/// `max(ceil(steps), 0)` as a length within the tensor limit.
fn count(steps: f64) -> Option<usize> {
    let n = steps.ceil().max(0.0);
    (n <= limits::MAX_FOLDED_ELEMENTS as f64).then_some(n as usize)
}
