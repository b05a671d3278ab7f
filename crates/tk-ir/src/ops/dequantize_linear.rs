//! `DequantizeLinear`: integral F32 values back to floats.

use ndarray::ArrayD;

use super::quantize_linear::{check_param_facts, param_indices};
use super::{OpDef, checked_fact, expect_f32, expect_inputs};
use crate::{Fact, OpError, Tensor, op_bail};

/// `y = (x - zero_point) * scale`. Inputs (F32): `x` (integral values of some 8-bit type),
/// `scale` (positive, finite), optional integral `zero_point` (0 when absent), shaped as
/// [`check_param_facts`] describes. Output has the fact of `x`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DequantizeLinear {
    /// Per-tensor (`None`) or the per-channel axis, resolved to `0..rank`.
    pub axis: Option<usize>,
}

impl OpDef for DequantizeLinear {
    fn name(&self) -> &'static str {
        "DequantizeLinear"
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
        if let Some(s) = scale.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
            op_bail!("scale {s} must be positive and finite");
        }
        if let Some(z) = zp.iter().find(|z| z.fract() != 0.0) {
            op_bail!("zero point {z} is not an integer");
        }
        let data: Vec<f32> =
            x.iter().zip(param_indices(x.shape(), self.axis)).map(|(&v, i)| (v - zp[i]) * scale[i]).collect();
        ArrayD::from_shape_vec(x.raw_dim(), data).map(Tensor::F32).map_err(|e| OpError::new(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_tensor_and_per_axis() {
        let x = Tensor::from_f32(&[4], vec![0.0, 3.0, 128.0, 255.0]).unwrap();
        let s = Tensor::from_f32(&[], vec![2.0]).unwrap();
        let z = Tensor::from_f32(&[], vec![128.0]).unwrap();
        let y = DequantizeLinear { axis: None }.eval(&[&x, &s, &z]).unwrap();
        assert_eq!(y.as_f32().unwrap().as_slice().unwrap(), &[-256.0, -250.0, 0.0, 254.0]);
        let x = Tensor::from_f32(&[2, 2], vec![1.0, 2.0, 3.0, 4.0]).unwrap();
        let s = Tensor::from_f32(&[2], vec![1.0, 10.0]).unwrap();
        let y = DequantizeLinear { axis: Some(1) }.eval(&[&x, &s]).unwrap();
        assert_eq!(y.as_f32().unwrap().as_slice().unwrap(), &[1.0, 20.0, 3.0, 40.0]);
    }
}
