//! `Transpose`: wiring by an axis permutation.

use serde::{Deserialize, Serialize};

/// Spec: `y[i_perm[0], ..] = x[i_0, ..]`, output dim `k` is input dim `perm[k]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transpose {
    /// Permutation of `0..rank`.
    pub perm: Vec<usize>,
}
