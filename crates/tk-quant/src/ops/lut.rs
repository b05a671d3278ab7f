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

impl super::QOpDef for Lut {
    fn check(&self, inputs: &[&crate::QNode], node: &crate::QNode) -> Result<Vec<usize>, String> {
        super::expect_arity(inputs, 1)?;
        let x = inputs[0];
        if self.table.len() != 1usize << x.bits {
            return Err(format!(
                "table has {} entries, input of {} bits needs {}",
                self.table.len(),
                x.bits,
                1usize << x.bits
            ));
        }
        if self.in_lo != x.lo() {
            return Err(format!("in_lo {} must be {}", self.in_lo, x.lo()));
        }
        if let Some(v) = self.table.iter().find(|&&v| v < node.lo() || v > node.hi()) {
            return Err(format!("table entry {v} outside the output range"));
        }
        if self.function.len() > tk_ir::limits::MAX_NAME_BYTES {
            return Err("function name too long".into());
        }
        Ok(x.shape.clone())
    }
}
