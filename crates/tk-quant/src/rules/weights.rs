//! Shared by `Conv` and `Gemm`: symmetric weight quantization, 32-bit biases at
//! `scale_x * scale_w[c]`, per-channel requantization and the accumulator bound.

use ndarray::{ArrayD, Axis};
use tk_ir::{Node, Tensor};

use crate::convert::{Converter, QValue};
use crate::ops::{Requant, check_accumulator};
use crate::scales::ActScale;
use crate::{QTensor, QuantError, QuantResult, quantize_multiplier, round_half_up};

/// Integer weights, biases and requantization of a layer with output channels on axis 0 of
/// its weight.
pub(super) struct Layer {
    pub weight: QTensor,
    pub bias: Vec<i32>,
    pub requant: Requant,
}

/// Quantizes `w` (output channels on axis 0) and `b` for input `x` and output `out` at the
/// node's weight width ([`Converter::weight_bits`]), checks the bias fits 32 bits and the
/// worst-case accumulator stays below `2^40`, and records the rounded weights (inputs 1 and 2
/// of `node`) for the `Round` stage.
///
/// A node widened beyond `QuantOptions::weight_bits` by mixed precision whose bias or
/// accumulator would not fit gets the widest width that fits, one bit narrower at a time;
/// at the base width such an overflow is an error.
pub(super) fn quantize_layer(
    cx: &mut Converter,
    node: &Node,
    x: QValue,
    w: &ArrayD<f32>,
    b: &ArrayD<f32>,
    out: ActScale,
) -> QuantResult<Layer> {
    let base = cx.options.weight_bits;
    let mut bits = cx.weight_bits(node).max(base);
    let (layer, rounded_w, rounded_b) = loop {
        match quantize_at(cx, node, x, w, b, out, bits) {
            Err(QuantError::Overflow { .. }) if bits > base => bits -= 1,
            result => break result?,
        }
    };
    cx.record_weight_bits(node, bits);
    cx.record_rounded(node, 1, Tensor::from_f32(w.shape(), rounded_w)?);
    cx.record_rounded(node, 2, Tensor::from_f32(b.shape(), rounded_b)?);
    Ok(layer)
}

/// [`quantize_layer`] at `bits`-bit weights; also returns the dequantized weights and biases.
fn quantize_at(
    cx: &Converter,
    node: &Node,
    x: QValue,
    w: &ArrayD<f32>,
    b: &ArrayD<f32>,
    out: ActScale,
    bits: u8,
) -> QuantResult<(Layer, Vec<f32>, Vec<f32>)> {
    let qmax = (1i32 << (bits - 1)) - 1;
    let channels = w.shape()[0];
    let maxes: Vec<f64> = w
        .axis_iter(Axis(0))
        .map(|row| f64::from(row.fold(0f32, |m, v| m.max(v.abs()))))
        .collect();
    let scale_of = |max: f64| {
        if max > 0.0 {
            max / f64::from(qmax)
        } else {
            1.0
        }
    };
    let sw: Vec<f64> = if cx.options.per_channel {
        maxes.iter().map(|&m| scale_of(m)).collect()
    } else {
        vec![scale_of(maxes.iter().fold(0f64, |a, &m| a.max(m))); channels]
    };
    let per_row = w.len() / channels.max(1);
    let data: Vec<i32> = w
        .iter()
        .enumerate()
        .map(|(i, &v)| crate::quantize_value(f64::from(v), sw[i / per_row], -qmax, qmax))
        .collect();
    let mut bias = Vec::with_capacity(channels);
    for (c, &bv) in b.iter().enumerate() {
        let q = round_half_up(f64::from(bv) / (x.scale * sw[c]));
        if !(f64::from(i32::MIN)..=f64::from(i32::MAX)).contains(&q) {
            return Err(QuantError::Overflow {
                node: node.name.clone(),
                what: "bias",
                value: format!("{q} (channel {c})"),
                bound: "32 bits".into(),
            });
        }
        bias.push(q as i32);
    }
    for (c, (row, &bq)) in data.chunks(per_row.max(1)).zip(&bias).enumerate() {
        check_accumulator(bq, row, x.bits, c).map_err(|reason| QuantError::Overflow {
            node: node.name.clone(),
            what: "accumulator bound",
            value: reason,
            bound: "2^40".into(),
        })?;
    }
    let pairs: Vec<(i32, u8)> = sw
        .iter()
        .map(|s| quantize_multiplier(x.scale * s / out.scale))
        .collect::<QuantResult<_>>()?;
    let requant = if pairs.windows(2).all(|p| p[0] == p[1]) {
        Requant {
            multipliers: vec![pairs[0].0],
            shifts: vec![pairs[0].1],
            clamp: None,
        }
    } else {
        Requant {
            multipliers: pairs.iter().map(|p| p.0).collect(),
            shifts: pairs.iter().map(|p| p.1).collect(),
            clamp: None,
        }
    };
    let rounded_w: Vec<f32> = data
        .iter()
        .enumerate()
        .map(|(i, &q)| (f64::from(q) * sw[i / per_row]) as f32)
        .collect();
    let rounded_b: Vec<f32> = bias
        .iter()
        .enumerate()
        .map(|(c, &q)| (f64::from(q) * x.scale * sw[c]) as f32)
        .collect();
    let layer = Layer {
        weight: QTensor {
            shape: w.shape().to_vec(),
            data,
        },
        bias,
        requant,
    };
    Ok((layer, rounded_w, rounded_b))
}
