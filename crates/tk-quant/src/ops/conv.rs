//! `Conv`: integer 2-D grouped convolution with per-channel requantization.

use serde::{Deserialize, Serialize};

use super::Requant;
use crate::QTensor;

/// Spec: `acc = bias[m] + Σ w * x` (zero padding), `y = requant(acc; M[m], s[m], lo, hi)`.
/// Input `x [N, C, H, W]`, weight `[M, C / group, KH, KW]`, bias `[M]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conv {
    /// `[sh, sw]`.
    pub strides: [usize; 2],
    /// `[top, left, bottom, right]`.
    pub pads: [usize; 4],
    /// `[dh, dw]`.
    pub dilations: [usize; 2],
    /// Groups; divides C and M.
    pub group: usize,
    /// Weights, `bw`-bit signed.
    pub weight: QTensor,
    /// Bias per output channel, at scale `scale_x * scale_w[m]`.
    pub bias: Vec<i32>,
    /// Per-channel (or per-tensor) requantization.
    pub requant: Requant,
}
