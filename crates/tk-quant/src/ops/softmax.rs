//! `Softmax`: integer softmax along one axis with an exponential table.

use serde::{Deserialize, Serialize};

/// Spec: `d = max - x` clamped to the table, `e = exp_table[d]`, `S = Σ e`,
/// `y = min(div_round(e * 2^frac_bits, S), hi)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Softmax {
    /// Axis, resolved to non-negative.
    pub axis: usize,
    /// `exp_table[d] = round(2^E * exp(-d * scale_in))`, non-increasing, `exp_table[0] = 2^E`.
    pub exp_table: Vec<i32>,
    /// Output fraction bits `F`: output `2^F` is probability 1.
    pub frac_bits: u8,
}
