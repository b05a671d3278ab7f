//! `BatchNormalization` in inference form.

use ndarray::{ArrayD, Axis};

use super::{OpDef, checked_fact, expect_f32, expect_inputs};
use crate::{Fact, OpError, Tensor, op_bail};

/// `y = (x - mean) / sqrt(var + epsilon) * scale + bias`, per channel (axis 1).
/// Inputs, all F32: `x [N, C, ...]` (rank at least 2), then `scale`, `bias`, `mean`, `var`,
/// each `[C]`. Output fact equals the fact of `x`. Training mode does not exist here.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchNormalization {
    /// Added to the variance; finite and non-negative.
    pub epsilon: f32,
}

impl BatchNormalization {
    /// The per-channel affine map `(multiplier, offset)` such that `y = x * m + o`.
    pub fn fold(&self, scale: f32, bias: f32, mean: f32, var: f32) -> (f32, f32) {
        let m = scale / (var + self.epsilon).sqrt();
        (m, bias - mean * m)
    }
}

impl OpDef for BatchNormalization {
    fn name(&self) -> &'static str {
        "BatchNormalization"
    }

    fn output_fact(&self, inputs: &[&Fact]) -> Result<Fact, OpError> {
        expect_inputs(inputs, 5, 5)?;
        for (fact, what) in inputs.iter().zip(["x", "scale", "bias", "mean", "var"]) {
            expect_f32(fact, what)?;
        }
        if !self.epsilon.is_finite() || self.epsilon < 0.0 {
            op_bail!("epsilon {} must be finite and non-negative", self.epsilon);
        }
        let x = inputs[0];
        if x.rank() < 2 {
            op_bail!("x {:?} must have rank at least 2", x.shape);
        }
        let c = x.shape[1];
        for (fact, what) in inputs[1..].iter().zip(["scale", "bias", "mean", "var"]) {
            if fact.shape != [c] {
                op_bail!("{what} shape {:?} must be [{c}]", fact.shape);
            }
        }
        Ok(x.clone())
    }

    fn eval(&self, inputs: &[&Tensor]) -> Result<Tensor, OpError> {
        checked_fact(self, inputs)?;
        let x = inputs[0].as_f32()?;
        let p: Vec<&ArrayD<f32>> =
            inputs[1..].iter().map(|t| t.as_f32()).collect::<Result<_, _>>()?;
        let mut y = x.clone();
        for (c, mut channel) in y.axis_iter_mut(Axis(1)).enumerate() {
            let (m, o) = self.fold(p[0][[c]], p[1][[c]], p[2][[c]], p[3][[c]]);
            channel.mapv_inplace(|v| v * m + o);
        }
        Ok(Tensor::F32(y))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_per_channel() {
        let x = Tensor::from_f32(&[1, 2, 2], vec![1.0, 3.0, 10.0, 20.0]).unwrap();
        let v = |a: [f32; 2]| Tensor::from_f32(&[2], a.to_vec()).unwrap();
        let (scale, bias, mean, var) = (v([2.0, 1.0]), v([0.5, 0.0]), v([2.0, 10.0]), v([4.0, 100.0]));
        let y = BatchNormalization { epsilon: 0.0 }.eval(&[&x, &scale, &bias, &mean, &var]).unwrap();
        assert_eq!(y.as_f32().unwrap().as_slice().unwrap(), &[-0.5, 1.5, 0.0, 1.0]);
        let bad = Fact::f32([3]);
        let x = Fact::f32([1, 2, 2]);
        assert!(BatchNormalization { epsilon: 1e-5 }.output_fact(&[&x, &bad, &bad, &bad, &bad]).is_err());
    }
}
