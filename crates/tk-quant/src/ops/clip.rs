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

impl super::QOpDef for Clip {
    fn check(&self, inputs: &[&crate::QNode], node: &crate::QNode) -> Result<Vec<usize>, String> {
        super::expect_arity(inputs, 1)?;
        super::expect_same_bits(inputs[0], node)?;
        if !(node.lo() <= self.lo && self.lo <= self.hi && self.hi <= node.hi()) {
            return Err(format!(
                "bounds [{}, {}] must be ordered and within the output range",
                self.lo, self.hi
            ));
        }
        Ok(inputs[0].shape.clone())
    }
}
