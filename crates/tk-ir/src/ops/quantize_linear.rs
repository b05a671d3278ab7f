//! `QuantizeLinear`: float to 8-bit integers, kept as integral F32 values.

use ndarray::ArrayD;

use super::{OpDef, checked_fact, expect_f32, expect_inputs};
use crate::{Fact, OpError, Tensor, op_bail};

/// The integer type a quantized tensor stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QType {
    /// `0..=255`.
    U8,
    /// `-128..=127`.
    I8,
}

impl QType {
    /// Smallest representable value.
    pub fn min(self) -> f32 {
        match self {
            QType::U8 => 0.0,
            QType::I8 => -128.0,
        }
    }

    /// Largest representable value.
    pub fn max(self) -> f32 {
        match self {
            QType::U8 => 255.0,
            QType::I8 => 127.0,
        }
    }
}

/// Checks the shapes of the scale and zero point of a (de)quantization of `x`.
///
/// With `axis == None` each parameter holds exactly one element (rank 0 or 1) and applies to
/// the whole tensor; with `Some(a)` each has shape `[x.shape[a]]` and applies per slice along
/// `a`.
pub fn check_param_facts(x: &Fact, axis: Option<usize>, params: &[&Fact]) -> Result<(), OpError> {
    let per_axis = match axis {
        None => None,
        Some(a) => match x.shape.get(a) {
            Some(&d) => Some(vec![d]),
            None => op_bail!("axis {a} out of range for {x}"),
        },
    };
    for p in params {
        let ok = match &per_axis {
            None => p.rank() <= 1 && p.volume()? == 1,
            Some(shape) => &p.shape == shape,
        };
        if !ok {
            op_bail!("scale/zero point {p} does not match x {x} with axis {axis:?}");
        }
    }
    Ok(())
}

/// For every element of a tensor of `shape` (row-major), the index into the parameter vectors
/// of a (de)quantization with the given axis (see [`check_param_facts`]).
pub fn param_indices(shape: &[usize], axis: Option<usize>) -> impl Iterator<Item = usize> + use<> {
    let volume: usize = shape.iter().product();
    let (inner, dim) = match axis {
        Some(a) if a < shape.len() => (shape[a + 1..].iter().product::<usize>().max(1), shape[a].max(1)),
        _ => (usize::MAX, 1),
    };
    (0..volume).map(move |i| (i / inner) % dim)
}

/// `y = clamp(round_half_to_even(x / scale) + zero_point, qtype.min, qtype.max)`.
/// Inputs (F32): `x`, `scale` (positive, finite), optional `zero_point` (integral, inside the
/// qtype range; 0 when absent), shaped as [`check_param_facts`] describes. Output has the fact of `x`
/// and holds integral values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuantizeLinear {
    /// Per-tensor (`None`) or the per-channel axis, resolved to `0..rank`.
    pub axis: Option<usize>,
    /// Output integer type, which sets the saturation bounds.
    pub qtype: QType,
}

impl OpDef for QuantizeLinear {
    fn name(&self) -> &'static str {
        "QuantizeLinear"
    }

    fn output_fact(&self, inputs: &[&Fact]) -> Result<Fact, OpError> {
        expect_inputs(inputs, 2, 3)?;
        for (fact, what) in inputs.iter().zip(["x", "scale", "zero_point"]) {
            expect_f32(fact, what)?;
        }
        check_param_facts(inputs[0], self.axis, &inputs[1..])?;
        Ok(inputs[0].clone())
    }

    fn eval(&self, inputs: &[&Tensor]) -> Result<Tensor, OpError> {
        checked_fact(self, inputs)?;
        let x = inputs[0].as_f32()?;
        let scale: Vec<f32> = inputs[1].as_f32()?.iter().copied().collect();
        let zp: Vec<f32> = match inputs.get(2) {
            Some(z) => z.as_f32()?.iter().copied().collect(),
            None => vec![0.0; scale.len()],
        };
        check_params(&scale, &zp, self.qtype)?;
        let data: Vec<f32> = x
            .iter()
            .zip(param_indices(x.shape(), self.axis))
            .map(|(&v, i)| ((v / scale[i]).round_ties_even() + zp[i]).clamp(self.qtype.min(), self.qtype.max()))
            .collect();
        ArrayD::from_shape_vec(x.raw_dim(), data).map(Tensor::F32).map_err(|e| OpError::new(e.to_string()))
    }
}

/// Checks scales are positive and finite and zero points integral and inside `qtype`.
pub fn check_params(scale: &[f32], zero_point: &[f32], qtype: QType) -> Result<(), OpError> {
    if let Some(s) = scale.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
        op_bail!("scale {s} must be positive and finite");
    }
    if let Some(z) = zero_point.iter().find(|z| z.fract() != 0.0 || **z < qtype.min() || **z > qtype.max()) {
        op_bail!("zero point {z} is not an integer in the {qtype:?} range");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_half_to_even_and_saturates() {
        let x = Tensor::from_f32(&[6], vec![0.0, 2.0, 3.0, 1000.0, -254.0, -1000.0]).unwrap();
        let s = Tensor::from_f32(&[], vec![2.0]).unwrap();
        let z = Tensor::from_f32(&[], vec![128.0]).unwrap();
        let y = QuantizeLinear { axis: None, qtype: QType::U8 }.eval(&[&x, &s, &z]).unwrap();
        assert_eq!(y.as_f32().unwrap().as_slice().unwrap(), &[128.0, 129.0, 130.0, 255.0, 1.0, 0.0]);
        let y = QuantizeLinear { axis: None, qtype: QType::I8 }.eval(&[&x, &s]).unwrap();
        assert_eq!(y.as_f32().unwrap().as_slice().unwrap(), &[0.0, 1.0, 2.0, 127.0, -127.0, -128.0]);
    }

    #[test]
    fn per_axis() {
        let x = Tensor::from_f32(&[2, 2], vec![1.0, 1.0, 1.0, 1.0]).unwrap();
        let s = Tensor::from_f32(&[2], vec![1.0, 0.5]).unwrap();
        let y = QuantizeLinear { axis: Some(0), qtype: QType::I8 }.eval(&[&x, &s]).unwrap();
        assert_eq!(y.as_f32().unwrap().as_slice().unwrap(), &[1.0, 1.0, 2.0, 2.0]);
        let bad = Tensor::from_f32(&[3], vec![1.0; 3]).unwrap();
        assert!(QuantizeLinear { axis: Some(0), qtype: QType::I8 }.eval(&[&x, &bad]).is_err());
        let zero = Tensor::from_f32(&[2], vec![0.0, 1.0]).unwrap();
        assert!(QuantizeLinear { axis: Some(0), qtype: QType::I8 }.eval(&[&x, &zero]).is_err());
    }
}
