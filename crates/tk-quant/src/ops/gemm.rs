//! `Gemm`: integer fully connected layer.

use serde::{Deserialize, Serialize};

use super::Requant;
use crate::QTensor;

/// Spec: `acc[r, n] = bias[n] + Σ_k x[r, k] * w[n, k]`, `y = requant(acc; M[n], s[n], lo, hi)`.
/// Input `x [R, K]`, weight `[N, K]`, bias `[N]`, output `[R, N]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gemm {
    /// Weights `[N, K]`.
    pub weight: QTensor,
    /// Bias per output column.
    pub bias: Vec<i32>,
    /// Per-column (or per-tensor) requantization.
    pub requant: Requant,
}
