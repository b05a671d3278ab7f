//! `Add`: rescaled element-wise sum of two tensors (also `Sub`).

use serde::{Deserialize, Serialize};

/// Spec: `y = clamp(round_shift(a * ma + b * mb, shift), lo, hi)` with numpy broadcasting.
/// `ma`, `mb` are signed with magnitude below `2^31`; `Sub` has `mb < 0`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Add {
    /// Multiplier of the first input.
    pub ma: i32,
    /// Multiplier of the second input.
    pub mb: i32,
    /// Common rounding shift.
    pub shift: u8,
}
