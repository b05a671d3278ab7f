//! `Concat`: wiring along an axis.

use serde::{Deserialize, Serialize};

/// Spec: concatenation; all inputs share scale and bit width.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Concat {
    /// Axis, non-negative.
    pub axis: usize,
}

impl super::QOpDef for Concat {
    fn check(&self, inputs: &[&crate::QNode], node: &crate::QNode) -> Result<Vec<usize>, String> {
        let Some(first) = inputs.first() else {
            return Err("concat needs at least one input".into());
        };
        if self.axis >= first.shape.len() {
            return Err(format!(
                "axis {} out of range for {:?}",
                self.axis, first.shape
            ));
        }
        let mut shape = first.shape.clone();
        shape[self.axis] = 0;
        for x in inputs {
            super::expect_same_bits(x, node)?;
            let same_rest = x.shape.len() == shape.len()
                && x.shape
                    .iter()
                    .zip(&shape)
                    .enumerate()
                    .all(|(i, (a, b))| i == self.axis || a == b);
            if !same_rest {
                return Err(format!(
                    "input {:?} does not match {:?} outside axis {}",
                    x.shape, first.shape, self.axis
                ));
            }
            shape[self.axis] = shape[self.axis]
                .checked_add(x.shape[self.axis])
                .ok_or("concatenated size overflows")?;
        }
        Ok(shape)
    }
}
