//! `Input`: the quantized model input.

use serde::{Deserialize, Serialize};

/// The model input; its shape and bit width are those of the node. Values are quantized
/// outside the integer graph (spec section 5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Input {}

impl super::QOpDef for Input {
    fn check(&self, inputs: &[&crate::QNode], node: &crate::QNode) -> Result<Vec<usize>, String> {
        super::expect_arity(inputs, 0)?;
        Ok(node.shape.clone())
    }
}
