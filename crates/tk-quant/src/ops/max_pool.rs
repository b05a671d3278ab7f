//! `MaxPool`: window maximum.

use serde::{Deserialize, Serialize};

use super::PoolGeometry;

/// Spec: max over each window; padded positions are never selected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaxPool {
    /// Window geometry.
    pub geometry: PoolGeometry,
}

impl super::QOpDef for MaxPool {
    fn check(&self, inputs: &[&crate::QNode], node: &crate::QNode) -> Result<Vec<usize>, String> {
        super::expect_arity(inputs, 1)?;
        super::expect_same_bits(inputs[0], node)?;
        self.geometry.output_shape(&inputs[0].shape)
    }
}
