//! `Flatten`: collapse to 2-D around an axis.

use super::{OpDef, expect_inputs};
use crate::{Fact, OpError, Tensor, op_bail};

/// Reshapes `[d0, .., dn]` to `[d0 * .. * d(axis-1), d(axis) * .. * dn]`. Any dtype.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flatten {
    /// Split point, in `0..=rank` (the importer resolves negative axes).
    pub axis: usize,
}

impl Flatten {
    fn target(&self, shape: &[usize]) -> Result<Vec<usize>, OpError> {
        if self.axis > shape.len() {
            op_bail!("axis {} out of range for rank {}", self.axis, shape.len());
        }
        let outer = crate::checked_volume(&shape[..self.axis])?;
        let inner = crate::checked_volume(&shape[self.axis..])?;
        Ok(vec![outer, inner])
    }
}

impl OpDef for Flatten {
    fn name(&self) -> &'static str {
        "Flatten"
    }

    fn output_fact(&self, inputs: &[&Fact]) -> Result<Fact, OpError> {
        expect_inputs(inputs, 1, 1)?;
        Ok(Fact { dtype: inputs[0].dtype, shape: self.target(&inputs[0].shape)? })
    }

    fn eval(&self, inputs: &[&Tensor]) -> Result<Tensor, OpError> {
        let shape = self.target(inputs[0].shape())?;
        super::Reshape { shape }.eval(inputs)
    }
}
