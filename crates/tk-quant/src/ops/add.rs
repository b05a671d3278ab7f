//! `Add`: rescaled element-wise sum of two tensors (also `Sub`).

use serde::{Deserialize, Serialize};

/// Spec: `y = clamp(round_shift(a * ma + b * mb, shift), lo, hi)` with numpy broadcasting, and
/// `[lo, hi]` the fused clamp when there is one. `ma`, `mb` are signed with magnitude below
/// `2^31`; `Sub` has `mb < 0`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Add {
    /// Multiplier of the first input.
    pub ma: i32,
    /// Multiplier of the second input.
    pub mb: i32,
    /// Common rounding shift.
    pub shift: u8,
    /// Fused clamp bounds `[lo, hi]` (a Relu after the sum), replacing the output range
    /// (integer spec version 2); see [`super::Requant::clamp`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clamp: Option<[i32; 2]>,
}

impl super::QOpDef for Add {
    fn check(&self, inputs: &[&crate::QNode], node: &crate::QNode) -> Result<Vec<usize>, String> {
        super::expect_arity(inputs, 2)?;
        super::check_clamp(self.clamp, node)?;
        if self.ma == i32::MIN || self.mb == i32::MIN {
            return Err("multipliers must be above -2^31".into());
        }
        if self.shift > 62 {
            return Err(format!("shift {} exceeds 62", self.shift));
        }
        let bound = u128::from(self.ma.unsigned_abs()) * super::max_magnitude(inputs[0].bits)
            + u128::from(self.mb.unsigned_abs()) * super::max_magnitude(inputs[1].bits);
        if bound >= 1u128 << super::ACC_BITS {
            return Err(format!(
                "worst-case sum {bound} reaches 2^{}",
                super::ACC_BITS
            ));
        }
        tk_ir::ops::broadcast::broadcast_shapes(&inputs[0].shape, &inputs[1].shape)
            .map_err(|e| e.to_string())
    }
}
