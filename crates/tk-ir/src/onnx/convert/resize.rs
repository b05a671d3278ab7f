//! `Resize` and `Upsample`, imported only as nearest-neighbour integer upsampling.
//!
//! The importer computes, for every output coordinate, the input coordinate ONNX would pick
//! (coordinate transformation mode, then nearest rounding mode) and accepts the node only if
//! that equals `output / factor` for an integer factor on every axis; everything else
//! (linear, cubic, downsampling, fractional factors, modes that shift pixels) is
//! [`crate::IrError::Unsupported`].

use crate::onnx::context::ImportCtx;
use crate::onnx::node::OnnxNode;
use crate::ops::{Resize, normalize_axis};
use crate::{IrResult, OutletId};

/// How output coordinates map back to input coordinates.
struct Modes {
    coordinate: String,
    nearest: String,
}

impl Modes {
    /// The input index ONNX picks for output index `x` on an axis of `input -> output` with
    /// scale `scale`, or `None` for an unknown mode.
    fn source(&self, x: usize, input: usize, output: usize, scale: f64) -> Option<i64> {
        let xf = x as f64;
        let orig = match self.coordinate.as_str() {
            "half_pixel" => (xf + 0.5) / scale - 0.5,
            "pytorch_half_pixel" => {
                if output > 1 {
                    (xf + 0.5) / scale - 0.5
                } else {
                    0.0
                }
            }
            "align_corners" => {
                if output == 1 {
                    0.0
                } else {
                    xf * (input as f64 - 1.0) / (output as f64 - 1.0)
                }
            }
            "asymmetric" => xf / scale,
            "tf_half_pixel_for_nn" => (xf + 0.5) / scale,
            _ => return None,
        };
        let picked = match self.nearest.as_str() {
            "round_prefer_floor" => {
                if orig.fract() == 0.5 {
                    orig.floor()
                } else {
                    orig.round()
                }
            }
            "round_prefer_ceil" => {
                if orig.fract() == 0.5 {
                    orig.ceil()
                } else {
                    orig.round()
                }
            }
            "floor" => orig.floor(),
            "ceil" => orig.ceil(),
            _ => return None,
        };
        Some((picked as i64).clamp(0, input as i64 - 1))
    }
}

/// Largest output axis of a `Resize`: every output coordinate of an axis is checked at import.
const MAX_RESIZE_AXIS: usize = 1 << 20;

/// Checks per-axis `(input, output, scale)` triples and returns the integer factors.
fn integer_factors(
    node: &OnnxNode,
    axes: &[(usize, usize, f64)],
    modes: &Modes,
) -> IrResult<Vec<usize>> {
    // The coordinates are checked one by one below: bound every axis and the output first (a
    // declared size of 2^60 would otherwise loop for ever, even next to an axis of size 0).
    if let Some((axis, &(_, output, _))) =
        axes.iter().enumerate().find(|(_, a)| a.1 > MAX_RESIZE_AXIS)
    {
        return Err(node.invalid(format!(
            "output axis {axis} of {output} elements exceeds the resize limit of {MAX_RESIZE_AXIS}"
        )));
    }
    let volume = axes
        .iter()
        .try_fold(1usize, |v, &(_, output, _)| v.checked_mul(output));
    if volume.is_none_or(|v| v > crate::limits::MAX_TENSOR_ELEMENTS) {
        return Err(node.invalid(format!(
            "output shape {:?} exceeds the tensor limit",
            axes.iter().map(|a| a.1).collect::<Vec<_>>()
        )));
    }
    let mut factors = Vec::with_capacity(axes.len());
    for (axis, &(input, output, scale)) in axes.iter().enumerate() {
        if input == 0 || output % input != 0 || output < input {
            return Err(node.unsupported(format!(
                "resize of axis {axis} from {input} to {output} (only integer upsampling)"
            )));
        }
        let factor = output / input;
        if (scale - factor as f64).abs() > 1e-6 * factor as f64 {
            return Err(node.unsupported(format!(
                "scale {scale} on axis {axis} (only integer factors)"
            )));
        }
        if factor > 1 {
            for x in 0..output {
                match modes.source(x, input, output, scale) {
                    Some(s) if s == (x / factor) as i64 => {}
                    Some(_) => {
                        return Err(node.unsupported(format!(
                            "coordinate mode {:?} with nearest mode {:?} (not pixel replication)",
                            modes.coordinate, modes.nearest
                        )));
                    }
                    None => {
                        return Err(node.unsupported(format!(
                            "coordinate mode {:?} / nearest mode {:?}",
                            modes.coordinate, modes.nearest
                        )));
                    }
                }
            }
        }
        factors.push(factor);
    }
    Ok(factors)
}

/// `floor(input * scale)` as ONNX computes output sizes from scales.
fn scaled(node: &OnnxNode, input: usize, scale: f32) -> IrResult<usize> {
    if !(scale.is_finite() && scale > 0.0) {
        return Err(node.invalid(format!("scale {scale} must be positive")));
    }
    let out = (input as f64 * scale as f64).floor();
    if out > crate::limits::MAX_TENSOR_ELEMENTS as f64 {
        return Err(node.invalid(format!("scale {scale} gives a too large output")));
    }
    Ok(out as usize)
}

/// `Resize` (opset 10+).
pub fn resize(ctx: &mut ImportCtx, node: &OnnxNode) -> IrResult<Vec<OutletId>> {
    let x = ctx.input(node, 0)?;
    let shape = ctx.fact(x)?.shape.clone();
    let rank = shape.len();
    let mode = node.string_or("mode", "nearest")?;
    if mode != "nearest" {
        return Err(node.unsupported(format!("mode {mode:?} (only nearest)")));
    }
    let modes = if ctx.opset < 11 {
        Modes {
            coordinate: "asymmetric".into(),
            nearest: "floor".into(),
        }
    } else {
        Modes {
            coordinate: node.string_or("coordinate_transformation_mode", "half_pixel")?,
            nearest: node.string_or("nearest_mode", "round_prefer_floor")?,
        }
    };
    let policy = node.string_or("keep_aspect_ratio_policy", "stretch")?;
    let axes = match node.get_ints("axes")? {
        Some(a) => a
            .iter()
            .map(|&a| normalize_axis(a, rank).map_err(|e| node.invalid(e.to_string())))
            .collect::<IrResult<Vec<_>>>()?,
        None => (0..rank).collect(),
    };
    let (scales_ix, sizes_ix) = if ctx.opset < 11 {
        (1, usize::MAX)
    } else {
        (2, 3)
    };
    let scales = ctx
        .const_input(node, scales_ix, "scales")?
        .filter(|t| !t.shape().contains(&0));
    let sizes = if sizes_ix == usize::MAX {
        None
    } else {
        ctx.const_ints(node, sizes_ix, "sizes")?
    };
    let mut triples: Vec<(usize, usize, f64)> = shape.iter().map(|&d| (d, d, 1.0)).collect();
    match (scales, sizes) {
        (Some(scales), None) => {
            let scales: Vec<f32> = match &scales {
                crate::Tensor::F32(a) => a.iter().copied().collect(),
                crate::Tensor::I64(_) => return Err(node.invalid("scales must be float")),
            };
            if scales.len() != axes.len() {
                return Err(node.invalid(format!(
                    "{} scales for {} axes",
                    scales.len(),
                    axes.len()
                )));
            }
            for (&a, &s) in axes.iter().zip(&scales) {
                triples[a] = (shape[a], scaled(node, shape[a], s)?, f64::from(s));
            }
        }
        (None, Some(sizes)) => {
            if policy != "stretch" {
                return Err(node.unsupported(format!("keep_aspect_ratio_policy {policy:?}")));
            }
            if sizes.len() != axes.len() {
                return Err(node.invalid(format!("{} sizes for {} axes", sizes.len(), axes.len())));
            }
            for (&a, &s) in axes.iter().zip(&sizes) {
                let out =
                    usize::try_from(s).map_err(|_| node.invalid(format!("negative size {s}")))?;
                let scale = if shape[a] == 0 {
                    1.0
                } else {
                    out as f64 / shape[a] as f64
                };
                triples[a] = (shape[a], out, scale);
            }
        }
        (Some(_), Some(_)) => return Err(node.invalid("both scales and sizes given")),
        (None, None) => return Err(node.invalid("neither scales nor sizes given")),
    }
    let factors = integer_factors(node, &triples, &modes)?;
    Ok(vec![ctx.add(node, Resize { scales: factors }, &[x])?])
}

/// `Upsample` (deprecated; opset 7 attribute or opset 9 input scales), nearest mode only.
pub fn upsample(ctx: &mut ImportCtx, node: &OnnxNode) -> IrResult<Vec<OutletId>> {
    let x = ctx.input(node, 0)?;
    let shape = ctx.fact(x)?.shape.clone();
    let mode = node.string_or("mode", "nearest")?;
    if mode != "nearest" {
        return Err(node.unsupported(format!("mode {mode:?} (only nearest)")));
    }
    let scales: Vec<f32> = match node.get_floats("scales")? {
        Some(s) => s,
        None => match ctx.const_input(node, 1, "scales")? {
            Some(crate::Tensor::F32(a)) => a.iter().copied().collect(),
            _ => return Err(node.invalid("missing float scales")),
        },
    };
    if scales.len() != shape.len() {
        return Err(node.invalid(format!("{} scales for rank {}", scales.len(), shape.len())));
    }
    let triples = shape
        .iter()
        .zip(&scales)
        .map(|(&d, &s)| Ok((d, scaled(node, d, s)?, f64::from(s))))
        .collect::<IrResult<Vec<_>>>()?;
    let modes = Modes {
        coordinate: "asymmetric".into(),
        nearest: "floor".into(),
    };
    let factors = integer_factors(node, &triples, &modes)?;
    Ok(vec![ctx.add(node, Resize { scales: factors }, &[x])?])
}
