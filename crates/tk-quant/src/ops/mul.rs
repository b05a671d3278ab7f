//! `Mul`: element-wise product of two tensors, requantized.

use serde::{Deserialize, Serialize};

/// Spec: `y = requant(a * b; m, shift, lo, hi)` with numpy broadcasting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mul {
    /// Multiplier `M`.
    pub m: i32,
    /// Shift `s`.
    pub shift: u8,
}

impl super::QOpDef for Mul {
    fn check(&self, inputs: &[&crate::QNode], _node: &crate::QNode) -> Result<Vec<usize>, String> {
        super::expect_arity(inputs, 2)?;
        super::check_multiplier(self.m, self.shift)?;
        tk_ir::ops::broadcast::broadcast_shapes(&inputs[0].shape, &inputs[1].shape)
            .map_err(|e| e.to_string())
    }
}
