//! `Const`: an integer constant tensor.

use serde::{Deserialize, Serialize};

use crate::QTensor;

/// A constant activation-like tensor (e.g. an added constant), at the node's scale and bits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Const {
    /// The value.
    pub value: QTensor,
}

impl super::QOpDef for Const {
    fn check(&self, inputs: &[&crate::QNode], node: &crate::QNode) -> Result<Vec<usize>, String> {
        super::expect_arity(inputs, 0)?;
        super::check_tensor(&self.value, "value")?;
        if let Some(v) = self
            .value
            .data
            .iter()
            .find(|&&v| v < node.lo() || v > node.hi())
        {
            return Err(format!("value {v} outside the output range"));
        }
        Ok(self.value.shape.clone())
    }
}
