//! `AvgPool`: window average as a sum and a requantization (also `GlobalAveragePool`).

use serde::{Deserialize, Serialize};

use super::PoolGeometry;

/// Spec: `sum = Σ window` (padding reads 0), `y = requant(sum; multipliers[count], shift, lo, hi)`
/// where `count` is the number of in-bounds positions, or the full window when
/// `count_include_pad`. `multipliers.len() == kh * kw + 1` (index 0 unused).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AvgPool {
    /// Window geometry.
    pub geometry: PoolGeometry,
    /// Whether padded positions count in the divisor.
    pub count_include_pad: bool,
    /// Multiplier per divisor count.
    pub multipliers: Vec<i32>,
    /// Common shift.
    pub shift: u8,
}
