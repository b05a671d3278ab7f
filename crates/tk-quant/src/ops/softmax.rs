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

/// Most entries an exponential table may have (every difference of two 16-bit values).
pub const MAX_EXP_TABLE: usize = 1 << 16;

impl super::QOpDef for Softmax {
    fn check(&self, inputs: &[&crate::QNode], _node: &crate::QNode) -> Result<Vec<usize>, String> {
        super::expect_arity(inputs, 1)?;
        let shape = &inputs[0].shape;
        if self.axis >= shape.len() {
            return Err(format!("axis {} out of range for {shape:?}", self.axis));
        }
        let Some(&first) = self.exp_table.first() else {
            return Err("empty exponential table".into());
        };
        if self.exp_table.len() > MAX_EXP_TABLE {
            return Err(format!(
                "exponential table of {} entries exceeds {MAX_EXP_TABLE}",
                self.exp_table.len()
            ));
        }
        if first <= 0 || first.count_ones() != 1 || first > 1 << 30 {
            return Err(format!(
                "exp_table[0] = {first} must be a power of two at most 2^30"
            ));
        }
        if let Some(v) = self.exp_table.iter().find(|&&v| v < 0 || v > first) {
            return Err(format!("table entry {v} outside [0, exp_table[0]]"));
        }
        if self.frac_bits > 30 {
            return Err(format!("frac_bits {} exceeds 30", self.frac_bits));
        }
        Ok(shape.clone())
    }
}
