//! Layout ops: `Reshape`, `Flatten`, `Transpose`, `Squeeze`, `Unsqueeze`, `Concat`, `Slice`,
//! `Pad`, and `Gather` (folded on constants, lowered to slices for constant indices).

use crate::onnx::context::ImportCtx;
use crate::onnx::node::OnnxNode;
use crate::ops::reshape::resolve_reshape;
use crate::ops::slice::SliceAxis;
use crate::ops::{
    Concat, Flatten, OpDef, Pad, Reshape, Slice, Squeeze, Transpose, Unsqueeze, normalize_axis,
};
use crate::{IrResult, OutletId, Tensor};

/// Most indices a `Gather` with run-time data may select (each becomes one slice node).
const MAX_GATHER_INDICES: usize = 1024;

/// Normalizes possibly negative axes against `rank`, sorted, rejecting duplicates.
fn sorted_axes(node: &OnnxNode, axes: &[i64], rank: usize) -> IrResult<Vec<usize>> {
    let mut out = axes
        .iter()
        .map(|&a| normalize_axis(a, rank).map_err(|e| node.invalid(e.to_string())))
        .collect::<IrResult<Vec<usize>>>()?;
    out.sort_unstable();
    if out.windows(2).any(|w| w[0] == w[1]) {
        return Err(node.invalid(format!("repeated axis in {axes:?}")));
    }
    Ok(out)
}

/// `Reshape` with the target shape as an attribute (opset < 5) or a constant input.
pub fn reshape(ctx: &mut ImportCtx, node: &OnnxNode) -> IrResult<Vec<OutletId>> {
    let x = ctx.input(node, 0)?;
    let spec = if ctx.opset < 5 {
        node.get_ints("shape")?
            .ok_or_else(|| node.invalid("missing shape"))?
    } else {
        ctx.const_ints(node, 1, "shape")?
            .ok_or_else(|| node.invalid("missing shape input"))?
    };
    let allow_zero = node.flag("allowzero", false)?;
    let input = ctx.fact(x)?.shape.clone();
    let shape =
        resolve_reshape(&input, &spec, allow_zero).map_err(|e| node.invalid(e.to_string()))?;
    Ok(vec![ctx.add(node, Reshape { shape }, &[x])?])
}

/// `Flatten` (`axis` in `-rank..=rank`, default 1).
pub fn flatten(ctx: &mut ImportCtx, node: &OnnxNode) -> IrResult<Vec<OutletId>> {
    let x = ctx.input(node, 0)?;
    let rank = ctx.fact(x)?.rank();
    let axis = node.int_or("axis", 1)?;
    let axis = if axis == rank as i64 {
        rank
    } else {
        normalize_axis(axis, rank).map_err(|e| node.invalid(e.to_string()))?
    };
    Ok(vec![ctx.add(node, Flatten { axis }, &[x])?])
}

/// `Transpose` (`perm` defaults to reversed axes).
pub fn transpose(ctx: &mut ImportCtx, node: &OnnxNode) -> IrResult<Vec<OutletId>> {
    let x = ctx.input(node, 0)?;
    let rank = ctx.fact(x)?.rank();
    let perm = node
        .get_usizes("perm")?
        .unwrap_or_else(|| (0..rank).rev().collect());
    Ok(vec![ctx.add(node, Transpose { perm }, &[x])?])
}

/// `Squeeze`: axes from the attribute (opset < 13) or a constant input; none means every
/// unit axis.
pub fn squeeze(ctx: &mut ImportCtx, node: &OnnxNode) -> IrResult<Vec<OutletId>> {
    let x = ctx.input(node, 0)?;
    let shape = ctx.fact(x)?.shape.clone();
    let axes = if ctx.opset < 13 {
        node.get_ints("axes")?
    } else {
        ctx.const_ints(node, 1, "axes")?
    };
    let axes = match axes {
        Some(axes) => sorted_axes(node, &axes, shape.len())?,
        None => shape
            .iter()
            .enumerate()
            .filter(|(_, d)| **d == 1)
            .map(|(i, _)| i)
            .collect(),
    };
    Ok(vec![ctx.add(node, Squeeze { axes }, &[x])?])
}

/// `Unsqueeze`: axes (output positions) from the attribute (opset < 13) or a constant input.
pub fn unsqueeze(ctx: &mut ImportCtx, node: &OnnxNode) -> IrResult<Vec<OutletId>> {
    let x = ctx.input(node, 0)?;
    let rank = ctx.fact(x)?.rank();
    let axes = if ctx.opset < 13 {
        node.get_ints("axes")?
    } else {
        ctx.const_ints(node, 1, "axes")?
    };
    let axes = axes.ok_or_else(|| node.invalid("missing axes"))?;
    let axes = sorted_axes(node, &axes, rank + axes.len())?;
    Ok(vec![ctx.add(node, Unsqueeze { axes }, &[x])?])
}

/// `Concat` (`axis` required, may be negative).
pub fn concat(ctx: &mut ImportCtx, node: &OnnxNode) -> IrResult<Vec<OutletId>> {
    let inputs = ctx.inputs(node)?;
    let first = *inputs.first().ok_or_else(|| node.invalid("no inputs"))?;
    let rank = ctx.fact(first)?.rank();
    let axis = node
        .get_int("axis")?
        .ok_or_else(|| node.invalid("missing axis"))?;
    let axis = normalize_axis(axis, rank).map_err(|e| node.invalid(e.to_string()))?;
    Ok(vec![ctx.add(node, Concat { axis }, &inputs)?])
}

/// `Slice`: `starts`, `ends`, `axes`, `steps` from attributes (opset < 10) or constant inputs,
/// resolved against the input shape with ONNX clamping.
pub fn slice(ctx: &mut ImportCtx, node: &OnnxNode) -> IrResult<Vec<OutletId>> {
    let x = ctx.input(node, 0)?;
    let shape = ctx.fact(x)?.shape.clone();
    let (starts, ends, axes, steps) = if ctx.opset < 10 {
        (
            node.get_ints("starts")?
                .ok_or_else(|| node.invalid("missing starts"))?,
            node.get_ints("ends")?
                .ok_or_else(|| node.invalid("missing ends"))?,
            node.get_ints("axes")?,
            None,
        )
    } else {
        (
            ctx.const_ints(node, 1, "starts")?
                .ok_or_else(|| node.invalid("missing starts"))?,
            ctx.const_ints(node, 2, "ends")?
                .ok_or_else(|| node.invalid("missing ends"))?,
            ctx.const_ints(node, 3, "axes")?,
            ctx.const_ints(node, 4, "steps")?,
        )
    };
    let n = starts.len();
    let axes = axes.unwrap_or_else(|| (0..n as i64).collect());
    let steps = steps.unwrap_or_else(|| vec![1; n]);
    if ends.len() != n || axes.len() != n || steps.len() != n {
        return Err(node.invalid("starts, ends, axes and steps differ in length"));
    }
    let mut resolved = Vec::with_capacity(n);
    for i in 0..n {
        let axis = normalize_axis(axes[i], shape.len()).map_err(|e| node.invalid(e.to_string()))?;
        let s = SliceAxis::from_onnx(axis, shape[axis], starts[i], ends[i], steps[i])
            .map_err(|e| node.invalid(e.to_string()))?;
        resolved.push(s);
    }
    Ok(vec![ctx.add(node, Slice { axes: resolved }, &[x])?])
}

/// `Pad` in constant mode, pads from the attribute (opset < 11) or constant inputs, with the
/// optional `axes` input of opset 18. Negative pads and other modes are unsupported.
pub fn pad(ctx: &mut ImportCtx, node: &OnnxNode) -> IrResult<Vec<OutletId>> {
    let x = ctx.input(node, 0)?;
    let rank = ctx.fact(x)?.rank();
    let mode = node.string_or("mode", "constant")?;
    if mode != "constant" {
        return Err(node.unsupported(format!("mode {mode:?}")));
    }
    let (raw, value, axes) = if ctx.opset < 11 {
        let pads = node.get_ints(if ctx.opset < 2 { "paddings" } else { "pads" })?;
        (
            pads.ok_or_else(|| node.invalid("missing pads"))?,
            node.float_or("value", 0.0)?,
            None,
        )
    } else {
        (
            ctx.const_ints(node, 1, "pads")?
                .ok_or_else(|| node.invalid("missing pads"))?,
            ctx.const_scalar(node, 2, "constant_value")?.unwrap_or(0.0),
            ctx.const_ints(node, 3, "axes")?,
        )
    };
    let axes = match axes {
        Some(a) => a
            .iter()
            .map(|&a| normalize_axis(a, rank).map_err(|e| node.invalid(e.to_string())))
            .collect::<IrResult<Vec<_>>>()?,
        None => (0..rank).collect(),
    };
    if raw.len() != 2 * axes.len() {
        return Err(node.invalid(format!("{} pads for {} axes", raw.len(), axes.len())));
    }
    if raw.iter().any(|&p| p < 0) {
        return Err(node.unsupported("negative pads (cropping)"));
    }
    let mut pads = vec![[0usize; 2]; rank];
    for (i, &a) in axes.iter().enumerate() {
        let begin = usize::try_from(raw[i]).map_err(|_| node.invalid("pad too large"))?;
        let end =
            usize::try_from(raw[i + axes.len()]).map_err(|_| node.invalid("pad too large"))?;
        pads[a] = [begin, end];
    }
    Ok(vec![ctx.add(node, Pad { pads, value }, &[x])?])
}

/// `Gather`. Constant data and indices fold; run-time data with constant indices becomes one
/// `Slice` per index, a `Concat` and a `Reshape`; run-time indices are unsupported.
pub fn gather(ctx: &mut ImportCtx, node: &OnnxNode) -> IrResult<Vec<OutletId>> {
    let data = ctx.input(node, 0)?;
    let shape = ctx.fact(data)?.shape.clone();
    let axis = normalize_axis(node.int_or("axis", 0)?, shape.len())
        .map_err(|e| node.invalid(e.to_string()))?;
    let indices = ctx
        .const_input(node, 1, "indices")?
        .ok_or_else(|| node.invalid("missing indices"))?;
    let dim = shape[axis] as i64;
    let flat: Vec<usize> = indices
        .to_i64_vec()
        .map_err(|e| node.invalid(e.to_string()))?
        .into_iter()
        .map(|i| {
            let j = if i < 0 { i + dim } else { i };
            if (0..dim).contains(&j) {
                Ok(j as usize)
            } else {
                Err(node.invalid(format!("index {i} out of range for dimension {dim}")))
            }
        })
        .collect::<IrResult<_>>()?;
    let mut out_shape = shape[..axis].to_vec();
    out_shape.extend_from_slice(indices.shape());
    out_shape.extend_from_slice(&shape[axis + 1..]);
    if let Some(value) = ctx.const_value(data) {
        ctx.check_folded(&node.name, &out_shape)?;
        let gathered = match value {
            Tensor::F32(a) => Tensor::F32(
                a.select(ndarray::Axis(axis), &flat)
                    .as_standard_layout()
                    .into_owned(),
            ),
            Tensor::I64(a) => Tensor::I64(
                a.select(ndarray::Axis(axis), &flat)
                    .as_standard_layout()
                    .into_owned(),
            ),
        };
        let gathered = Reshape { shape: out_shape }
            .eval(&[&gathered])
            .map_err(|e| node.invalid(e.to_string()))?;
        return Ok(vec![ctx.add_const(node, "", gathered)?]);
    }
    if flat.is_empty() || flat.len() > MAX_GATHER_INDICES {
        return Err(node.unsupported(format!(
            "gather of {} indices from run-time data",
            flat.len()
        )));
    }
    let mut parts = Vec::with_capacity(flat.len());
    for (k, &i) in flat.iter().enumerate() {
        let s = SliceAxis {
            axis,
            start: i as i64,
            end: i as i64 + 1,
            step: 1,
        };
        parts.push(ctx.add_aux(
            node,
            &format!("index_{k}"),
            Slice { axes: vec![s] },
            &[data],
        )?);
    }
    let joined = if parts.len() == 1 {
        parts[0]
    } else {
        ctx.add_aux(node, "concat", Concat { axis }, &parts)?
    };
    Ok(vec![ctx.add(
        node,
        Reshape { shape: out_shape },
        &[joined],
    )?])
}

/// `ReduceMean` over a contiguous block of axes, lowered to pooling (no reduction op exists
/// in the IR): axes `[2, 3]` of a 4-D input become `GlobalAveragePool`, any other contiguous
/// block `a..b` becomes `Reshape [P, 1, R, Q] -> AveragePool (R x 1) -> Reshape`. Axes come
/// from the attribute (opset < 18) or a constant input; non-contiguous axes are unsupported.
pub fn reduce_mean(ctx: &mut ImportCtx, node: &OnnxNode) -> IrResult<Vec<OutletId>> {
    use crate::ops::pool::PoolGeometry;
    use crate::ops::{AveragePool, GlobalAveragePool, Identity};
    let x = ctx.input(node, 0)?;
    let shape = ctx.fact(x)?.shape.clone();
    let rank = shape.len();
    let keep = node.flag("keepdims", true)?;
    let axes = if ctx.opset < 18 {
        node.get_ints("axes")?
    } else {
        ctx.const_ints(node, 1, "axes")?
    };
    let axes = match axes {
        Some(a) if !a.is_empty() => sorted_axes(node, &a, rank)?,
        _ if node.flag("noop_with_empty_axes", false)? => {
            return Ok(vec![ctx.add(node, Identity, &[x])?]);
        }
        _ => (0..rank).collect(),
    };
    let (Some(&a), Some(&last)) = (axes.first(), axes.last()) else {
        return Err(node.invalid("no axes"));
    };
    if last + 1 - a != axes.len() {
        return Err(node.unsupported(format!("mean over non-contiguous axes {axes:?}")));
    }
    let b = last + 1;
    let out_shape: Vec<usize> = if keep {
        shape
            .iter()
            .enumerate()
            .map(|(i, &d)| if axes.contains(&i) { 1 } else { d })
            .collect()
    } else {
        shape
            .iter()
            .enumerate()
            .filter(|(i, _)| !axes.contains(i))
            .map(|(_, &d)| d)
            .collect()
    };
    let vol = |s: &[usize]| crate::checked_volume(s).map_err(|e| node.invalid(e.to_string()));
    let (p, r, q) = (vol(&shape[..a])?, vol(&shape[a..b])?, vol(&shape[b..])?);
    if r == 0 {
        return Err(node.invalid("mean over an empty axis"));
    }
    if rank == 4 && axes == [2, 3] {
        if keep {
            return Ok(vec![ctx.add(node, GlobalAveragePool, &[x])?]);
        }
        let y = ctx.add_aux(node, "global_average_pool", GlobalAveragePool, &[x])?;
        return Ok(vec![ctx.add(node, Reshape { shape: out_shape }, &[y])?]);
    }
    let x4 = ctx.add_aux(
        node,
        "to_nchw",
        Reshape {
            shape: vec![p, 1, r, q],
        },
        &[x],
    )?;
    let pool = AveragePool {
        geometry: PoolGeometry::with_kernel([r, 1]),
        count_include_pad: false,
    };
    let y = ctx.add_aux(node, "average_pool", pool, &[x4])?;
    Ok(vec![ctx.add(node, Reshape { shape: out_shape }, &[y])?])
}

/// `Split` along `axis` into one `Slice` per output. Sizes come from the `split` attribute
/// (opset < 13) or constant input; without them the axis is split evenly into as many parts as
/// there are outputs (`num_outputs` in opset 18, where the last part may be smaller).
pub fn split(ctx: &mut ImportCtx, node: &OnnxNode) -> IrResult<Vec<OutletId>> {
    let x = ctx.input(node, 0)?;
    let shape = ctx.fact(x)?.shape.clone();
    let axis = normalize_axis(node.int_or("axis", 0)?, shape.len())
        .map_err(|e| node.invalid(e.to_string()))?;
    let dim = shape[axis];
    let sizes = if ctx.opset < 13 {
        node.get_ints("split")?
    } else {
        ctx.const_ints(node, 1, "split")?
    };
    let parts = match node.get_int("num_outputs")? {
        Some(n) => usize::try_from(n).map_err(|_| node.invalid("negative num_outputs"))?,
        None => node.proto.output.len(),
    };
    let sizes: Vec<usize> = match sizes {
        Some(s) => s
            .iter()
            .map(|&v| {
                usize::try_from(v).map_err(|_| node.invalid(format!("negative split size {v}")))
            })
            .collect::<IrResult<_>>()?,
        None => {
            if parts == 0 {
                return Err(node.invalid("no outputs"));
            }
            let chunk = dim.div_ceil(parts);
            if ctx.opset < 18 && dim % parts != 0 {
                return Err(node.invalid(format!(
                    "axis of size {dim} does not split into {parts} equal parts"
                )));
            }
            (0..parts)
                .map(|i| chunk.min(dim.saturating_sub(i * chunk)))
                .collect()
        }
    };
    if sizes.iter().try_fold(0usize, |acc, &s| acc.checked_add(s)) != Some(dim)
        || sizes.len() != node.proto.output.len()
    {
        return Err(node.invalid(format!(
            "split sizes {sizes:?} do not cover axis of size {dim} with {} outputs",
            node.proto.output.len()
        )));
    }
    let mut start = 0usize;
    let mut outputs = Vec::with_capacity(sizes.len());
    for (k, &size) in sizes.iter().enumerate() {
        let s = SliceAxis {
            axis,
            start: start as i64,
            end: (start + size) as i64,
            step: 1,
        };
        outputs.push(ctx.add_aux(node, &format!("output_{k}"), Slice { axes: vec![s] }, &[x])?);
        start += size;
    }
    Ok(outputs)
}
