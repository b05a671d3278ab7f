//! `Const`: a constant tensor (weights, biases, shapes).

use super::OpDef;
use crate::{Fact, OpError, Tensor};

/// A constant value stored in the graph.
#[derive(Debug, Clone, PartialEq)]
pub struct Const {
    /// The value.
    pub value: Tensor,
}

impl OpDef for Const {
    fn name(&self) -> &'static str {
        "Const"
    }

    fn output_fact(&self, inputs: &[&Fact]) -> Result<Fact, OpError> {
        super::expect_inputs(inputs, 0, 0)?;
        Ok(self.value.fact())
    }

    fn eval(&self, _inputs: &[&Tensor]) -> Result<Tensor, OpError> {
        Ok(self.value.clone())
    }
}
