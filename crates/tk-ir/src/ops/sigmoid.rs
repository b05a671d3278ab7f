//! `Sigmoid`: `1 / (1 + exp(-x))`.

use super::{OpDef, checked_fact, unary_f32_fact};
use crate::{Fact, OpError, Tensor};

/// Logistic function, element-wise; output fact equals input fact. Output is in `[0, 1]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sigmoid;

impl Sigmoid {
    /// Applies the function to one value without overflow for large `|x|`.
    pub fn apply(x: f32) -> f32 {
        if x >= 0.0 {
            1.0 / (1.0 + (-x).exp())
        } else {
            let e = x.exp();
            e / (1.0 + e)
        }
    }
}

impl OpDef for Sigmoid {
    fn name(&self) -> &'static str {
        "Sigmoid"
    }

    fn output_fact(&self, inputs: &[&Fact]) -> Result<Fact, OpError> {
        unary_f32_fact(inputs)
    }

    fn eval(&self, inputs: &[&Tensor]) -> Result<Tensor, OpError> {
        checked_fact(self, inputs)?;
        Ok(Tensor::F32(inputs[0].as_f32()?.mapv(Sigmoid::apply)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saturates_without_nan() {
        assert_eq!(Sigmoid::apply(0.0), 0.5);
        assert_eq!(Sigmoid::apply(-1000.0), 0.0);
        assert_eq!(Sigmoid::apply(1000.0), 1.0);
        assert!((Sigmoid::apply(1.0) - 0.731_058_6).abs() < 1e-6);
    }
}
