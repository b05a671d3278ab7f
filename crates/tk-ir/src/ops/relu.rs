//! `Relu`: `max(x, 0)`.

use super::{OpDef, expect_f32, expect_inputs};
use crate::{Fact, OpError, Tensor};

/// Rectified linear unit, element-wise; output fact equals input fact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Relu;

impl OpDef for Relu {
    fn name(&self) -> &'static str {
        "Relu"
    }

    fn output_fact(&self, inputs: &[&Fact]) -> Result<Fact, OpError> {
        expect_inputs(inputs, 1, 1)?;
        expect_f32(inputs[0], "x")?;
        Ok(inputs[0].clone())
    }

    fn eval(&self, inputs: &[&Tensor]) -> Result<Tensor, OpError> {
        Ok(Tensor::F32(inputs[0].as_f32()?.mapv(|v| v.max(0.0))))
    }
}
