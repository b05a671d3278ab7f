//! `Reshape`: wiring to a new shape (also Flatten, Squeeze, Unsqueeze).

use serde::{Deserialize, Serialize};

/// Spec: same elements in row-major order, new shape (the node's shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reshape {}

impl super::QOpDef for Reshape {
    fn check(&self, inputs: &[&crate::QNode], node: &crate::QNode) -> Result<Vec<usize>, String> {
        super::expect_arity(inputs, 1)?;
        super::expect_same_bits(inputs[0], node)?;
        if super::volume(&inputs[0].shape)? != super::volume(&node.shape)? {
            return Err(format!(
                "cannot reshape {:?} to {:?}",
                inputs[0].shape, node.shape
            ));
        }
        Ok(node.shape.clone())
    }
}
