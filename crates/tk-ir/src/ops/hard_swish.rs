//! `HardSwish`: `x * max(0, min(1, x / 6 + 1 / 2))`.

use super::{OpDef, checked_fact, unary_f32_fact};
use crate::{Fact, OpError, Tensor};

/// Hard swish (MobileNetV3), element-wise; output fact equals input fact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HardSwish;

impl HardSwish {
    /// Applies the function to one value.
    pub fn apply(x: f32) -> f32 {
        x * (x / 6.0 + 0.5).clamp(0.0, 1.0)
    }
}

impl OpDef for HardSwish {
    fn name(&self) -> &'static str {
        "HardSwish"
    }

    fn output_fact(&self, inputs: &[&Fact]) -> Result<Fact, OpError> {
        unary_f32_fact(inputs)
    }

    fn eval(&self, inputs: &[&Tensor]) -> Result<Tensor, OpError> {
        checked_fact(self, inputs)?;
        Ok(Tensor::F32(inputs[0].as_f32()?.mapv(HardSwish::apply)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_definition() {
        assert_eq!(HardSwish::apply(-4.0), 0.0);
        assert_eq!(HardSwish::apply(4.0), 4.0);
        assert_eq!(HardSwish::apply(0.0), 0.0);
        assert!((HardSwish::apply(1.0) - 1.0 * (1.0 / 6.0 + 0.5)).abs() < 1e-7);
    }
}
