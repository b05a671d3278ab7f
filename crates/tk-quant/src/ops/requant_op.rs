//! `Rescale`: requantize a tensor to a new scale (also division or multiplication by a constant).

use serde::{Deserialize, Serialize};

use super::Requant;

/// Spec: `y = requant(x; M, s, lo, hi)`; per-tensor, or per-channel along axis 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rescale {
    /// Parameters.
    pub requant: Requant,
}
