//! `Resize`: nearest-neighbour upsampling by integer factors (wiring).

use serde::{Deserialize, Serialize};

/// Spec: `y[.., i, ..] = x[.., i / scale, ..]` per axis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resize {
    /// Integer factor per axis (1 for unchanged axes).
    pub scales: Vec<usize>,
}

impl super::QOpDef for Resize {
    fn check(&self, inputs: &[&crate::QNode], node: &crate::QNode) -> Result<Vec<usize>, String> {
        super::expect_arity(inputs, 1)?;
        super::expect_same_bits(inputs[0], node)?;
        let x = &inputs[0].shape;
        if self.scales.len() != x.len() || self.scales.contains(&0) {
            return Err(format!(
                "scales {:?} must be positive, one per axis of {x:?}",
                self.scales
            ));
        }
        x.iter()
            .zip(&self.scales)
            .map(|(&d, &s)| {
                d.checked_mul(s)
                    .ok_or_else(|| "resized size overflows".to_string())
            })
            .collect()
    }
}
