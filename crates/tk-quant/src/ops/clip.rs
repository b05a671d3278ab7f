//! `Clip`: clamp to integer bounds (`Relu` is `Clip { lo: 0, .. }`).

use serde::{Deserialize, Serialize};

/// Spec: `y = clamp(x, lo, hi)`; input and output share scale and bit width.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Clip {
    /// Lower bound.
    pub lo: i32,
    /// Upper bound, `>= lo`.
    pub hi: i32,
}
