//! `Rescale`: requantize a tensor to a new scale (also division or multiplication by a constant).

use serde::{Deserialize, Serialize};

use super::Requant;

/// Spec: `y = requant(x; M, s, lo, hi)`; per-tensor, or per-channel along axis 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rescale {
    /// Parameters.
    pub requant: Requant,
}

impl super::QOpDef for Rescale {
    fn check(&self, inputs: &[&crate::QNode], node: &crate::QNode) -> Result<Vec<usize>, String> {
        super::expect_arity(inputs, 1)?;
        let shape = &inputs[0].shape;
        let channels = if self.requant.multipliers.len() == 1 {
            1
        } else {
            *shape
                .get(1)
                .ok_or("per-channel rescaling needs rank at least 2")?
        };
        self.requant.check(channels, node)?;
        Ok(shape.clone())
    }
}
