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

impl super::QOpDef for Gemm {
    fn check(&self, inputs: &[&crate::QNode], node: &crate::QNode) -> Result<Vec<usize>, String> {
        super::expect_arity(inputs, 1)?;
        super::check_tensor(&self.weight, "weight")?;
        let (x, w) = (&inputs[0].shape, &self.weight.shape);
        let (&[r, k], &[n, kw]) = (x.as_slice(), w.as_slice()) else {
            return Err(format!("input {x:?} and weight {w:?} must be 2-D"));
        };
        if k != kw {
            return Err(format!("input {x:?} does not match weight {w:?}"));
        }
        if self.bias.len() != n {
            return Err(format!("{} biases for {n} output columns", self.bias.len()));
        }
        self.requant.check(n, node)?;
        for (col, (row, &b)) in self
            .weight
            .data
            .chunks(k.max(1))
            .zip(&self.bias)
            .enumerate()
        {
            super::check_accumulator(b, row, inputs[0].bits, col)?;
        }
        Ok(vec![r, n])
    }
}
