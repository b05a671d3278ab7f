//! `Identity`: the input, unchanged (ONNX `Identity`, inference-mode `Dropout`).

use super::{OpDef, checked_fact, expect_inputs};
use crate::{Fact, OpError, Tensor};

/// Passes its single input through. Any dtype; output fact equals input fact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity;

impl OpDef for Identity {
    fn name(&self) -> &'static str {
        "Identity"
    }

    fn output_fact(&self, inputs: &[&Fact]) -> Result<Fact, OpError> {
        expect_inputs(inputs, 1, 1)?;
        Ok(inputs[0].clone())
    }

    fn eval(&self, inputs: &[&Tensor]) -> Result<Tensor, OpError> {
        checked_fact(self, inputs)?;
        Ok(inputs[0].clone())
    }
}
