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

impl super::QOpDef for Conv {
    fn check(&self, inputs: &[&crate::QNode], node: &crate::QNode) -> Result<Vec<usize>, String> {
        super::expect_arity(inputs, 1)?;
        let x = &inputs[0].shape;
        super::check_tensor(&self.weight, "weight")?;
        let w = &self.weight.shape;
        if x.len() != 4 || w.len() != 4 {
            return Err(format!("input {x:?} and weight {w:?} must be 4-D"));
        }
        if self.strides.contains(&0) || self.dilations.contains(&0) || self.group == 0 {
            return Err("strides, dilations and group must be positive".into());
        }
        let (c, m) = (x[1], w[0]);
        if c % self.group != 0 || m % self.group != 0 || w[1].checked_mul(self.group) != Some(c) {
            return Err(format!(
                "group {} does not fit input {x:?} and weight {w:?}",
                self.group
            ));
        }
        let dim = |i: usize| {
            tk_ir::ops::Conv::output_dim(
                x[2 + i],
                w[2 + i],
                self.strides[i],
                self.dilations[i],
                self.pads[i],
                self.pads[i + 2],
            )
            .map_err(|e| e.to_string())
        };
        let (oh, ow) = (dim(0)?, dim(1)?);
        if self.bias.len() != m {
            return Err(format!(
                "{} biases for {m} output channels",
                self.bias.len()
            ));
        }
        self.requant.check(m, node)?;
        let per_channel = self.weight.data.len() / m.max(1);
        for (ch, (row, &b)) in self
            .weight
            .data
            .chunks(per_channel.max(1))
            .zip(&self.bias)
            .enumerate()
        {
            super::check_accumulator(b, row, inputs[0].bits, ch)?;
        }
        Ok(vec![x[0], m, oh, ow])
    }
}
