//! `HardSigmoid`: `max(0, min(1, alpha * x + beta))`.

use super::{OpDef, checked_fact, unary_f32_fact};
use crate::{Fact, OpError, Tensor};

/// Piecewise-linear sigmoid, element-wise; output fact equals input fact.
/// ONNX defaults are `alpha = 0.2`, `beta = 0.5`; PyTorch exports `alpha = 1/6`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HardSigmoid {
    /// Slope.
    pub alpha: f32,
    /// Offset.
    pub beta: f32,
}

impl HardSigmoid {
    /// Applies the function to one value.
    pub fn apply(&self, x: f32) -> f32 {
        (self.alpha * x + self.beta).clamp(0.0, 1.0)
    }
}

impl OpDef for HardSigmoid {
    fn name(&self) -> &'static str {
        "HardSigmoid"
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
    fn clamps_the_line() {
        let op = HardSigmoid { alpha: 0.2, beta: 0.5 };
        assert_eq!(op.apply(-10.0), 0.0);
        assert_eq!(op.apply(0.0), 0.5);
        assert_eq!(op.apply(10.0), 1.0);
    }
}
