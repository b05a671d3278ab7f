//! `Concat`: wiring along an axis.

use serde::{Deserialize, Serialize};

/// Spec: concatenation; all inputs share scale and bit width.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Concat {
    /// Axis, non-negative.
    pub axis: usize,
}
