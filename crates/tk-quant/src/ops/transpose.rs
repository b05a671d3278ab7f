//! `Transpose`: wiring by an axis permutation.

use serde::{Deserialize, Serialize};

/// Spec: `y[i_perm[0], ..] = x[i_0, ..]`, output dim `k` is input dim `perm[k]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transpose {
    /// Permutation of `0..rank`.
    pub perm: Vec<usize>,
}

impl super::QOpDef for Transpose {
    fn check(&self, inputs: &[&crate::QNode], node: &crate::QNode) -> Result<Vec<usize>, String> {
        super::expect_arity(inputs, 1)?;
        super::expect_same_bits(inputs[0], node)?;
        let shape = &inputs[0].shape;
        let mut seen = vec![false; shape.len()];
        if self.perm.len() != shape.len() {
            return Err(format!(
                "perm {:?} does not match rank {}",
                self.perm,
                shape.len()
            ));
        }
        for &p in &self.perm {
            match seen.get_mut(p) {
                Some(s) if !*s => *s = true,
                _ => return Err(format!("perm {:?} is not a permutation", self.perm)),
            }
        }
        Ok(self.perm.iter().map(|&p| shape[p]).collect())
    }
}
