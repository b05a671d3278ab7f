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
