//! `Pad`: wiring with zero padding.

use serde::{Deserialize, Serialize};

/// Spec: constant padding with 0 (the quantized zero). `pads` is `[begin_0.., end_0..]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pad {
    /// Begin pads for every axis, then end pads.
    pub pads: Vec<usize>,
}

impl super::QOpDef for Pad {
    fn check(&self, inputs: &[&crate::QNode], node: &crate::QNode) -> Result<Vec<usize>, String> {
        super::expect_arity(inputs, 1)?;
        super::expect_same_bits(inputs[0], node)?;
        let x = &inputs[0].shape;
        if self.pads.len() != 2 * x.len() {
            return Err(format!("{} pads for rank {}", self.pads.len(), x.len()));
        }
        x.iter()
            .enumerate()
            .map(|(k, &d)| {
                d.checked_add(self.pads[k])
                    .and_then(|v| v.checked_add(self.pads[k + x.len()]))
                    .ok_or_else(|| "padded size overflows".to_string())
            })
            .collect()
    }
}
