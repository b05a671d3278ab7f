//! `Clip`: clamp to `[min, max]` (also ONNX `Relu6` patterns).

use super::{OpDef, checked_fact, unary_f32_fact};
use crate::{Fact, OpError, Tensor, op_bail};

/// Element-wise `min(max(x, min), max)`. Bounds may be infinite (an absent ONNX bound);
/// `min <= max` is required and NaN bounds are rejected. Output fact equals input fact.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Clip {
    /// Lower bound (`f32::NEG_INFINITY` when absent).
    pub min: f32,
    /// Upper bound (`f32::INFINITY` when absent).
    pub max: f32,
}

impl Clip {
    /// Applies the clamp to one value; NaN inputs stay NaN.
    pub fn apply(&self, x: f32) -> f32 {
        if x < self.min {
            self.min
        } else if x > self.max {
            self.max
        } else {
            x
        }
    }
}

impl OpDef for Clip {
    fn name(&self) -> &'static str {
        "Clip"
    }

    fn output_fact(&self, inputs: &[&Fact]) -> Result<Fact, OpError> {
        if self.min.is_nan() || self.max.is_nan() || self.min > self.max {
            op_bail!("invalid bounds [{}, {}]", self.min, self.max);
        }
        unary_f32_fact(inputs)
    }

    fn eval(&self, inputs: &[&Tensor]) -> Result<Tensor, OpError> {
        checked_fact(self, inputs)?;
        Ok(Tensor::F32(inputs[0].as_f32()?.mapv(|v| self.apply(v))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clamps_and_checks_bounds() {
        let x = Tensor::from_f32(&[4], vec![-7.0, 0.5, 6.0, 9.0]).unwrap();
        let y = Clip { min: 0.0, max: 6.0 }.eval(&[&x]).unwrap();
        assert_eq!(y.as_f32().unwrap().as_slice().unwrap(), &[0.0, 0.5, 6.0, 6.0]);
        assert!(Clip { min: 1.0, max: 0.0 }.output_fact(&[&Fact::f32([1])]).is_err());
        let open = Clip { min: f32::NEG_INFINITY, max: f32::INFINITY };
        assert_eq!(open.apply(-1e30), -1e30);
    }
}
