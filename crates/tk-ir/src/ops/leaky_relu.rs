//! `LeakyRelu`: `x` for `x >= 0`, `alpha * x` otherwise.

use super::{OpDef, checked_fact, unary_f32_fact};
use crate::{Fact, OpError, Tensor};

/// Leaky rectifier, element-wise; output fact equals input fact.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LeakyRelu {
    /// Slope for negative inputs (ONNX default 0.01).
    pub alpha: f32,
}

impl LeakyRelu {
    /// Applies the function to one value.
    pub fn apply(&self, x: f32) -> f32 {
        if x >= 0.0 { x } else { self.alpha * x }
    }
}

impl OpDef for LeakyRelu {
    fn name(&self) -> &'static str {
        "LeakyRelu"
    }

    fn output_fact(&self, inputs: &[&Fact]) -> Result<Fact, OpError> {
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
    fn scales_negative_side() {
        let x = Tensor::from_f32(&[3], vec![-2.0, 0.0, 3.0]).unwrap();
        let y = LeakyRelu { alpha: 0.1 }.eval(&[&x]).unwrap();
        assert_eq!(y.as_f32().unwrap().as_slice().unwrap(), &[-0.2, 0.0, 3.0]);
    }
}
