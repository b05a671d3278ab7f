//! `Lut`: element-wise function by table lookup (Sigmoid, HardSwish, LeakyRelu, ...).

use serde::{Deserialize, Serialize};

/// Spec: `y = table[x - in_lo]`; `table.len() == 2^b_in`, `in_lo == -2^(b_in - 1)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lut {
    /// The float function this table approximates (`"Sigmoid"`, `"HardSwish"`, ...), for reports.
    pub function: String,
    /// Smallest input value, `-2^(b_in - 1)`.
    pub in_lo: i32,
    /// Output for every input `in_lo ..= in_lo + len - 1`.
    pub table: Vec<i32>,
}
