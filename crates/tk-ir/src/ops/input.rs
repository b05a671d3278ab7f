//! `Input`: a value fed to the graph.

use super::OpDef;
use crate::{Fact, OpError, Tensor};

/// A graph input of a fixed fact. Evaluation never reaches it: the evaluator feeds the value.
#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    /// The type every fed value must have.
    pub fact: Fact,
}

impl OpDef for Input {
    fn name(&self) -> &'static str {
        "Input"
    }

    fn output_fact(&self, inputs: &[&Fact]) -> Result<Fact, OpError> {
        super::expect_inputs(inputs, 0, 0)?;
        if self.fact.rank() > crate::limits::MAX_RANK {
            crate::op_bail!("rank {} exceeds {}", self.fact.rank(), crate::limits::MAX_RANK);
        }
        Ok(self.fact.clone())
    }

    fn eval(&self, _inputs: &[&Tensor]) -> Result<Tensor, OpError> {
        Err(OpError::new("an Input node has no value unless one is fed"))
    }
}
