//! `AvgPool`: window average as a sum and a requantization (also `GlobalAveragePool`).

use serde::{Deserialize, Serialize};

use super::PoolGeometry;

/// Spec: `sum = Σ window` (padding reads 0), `y = requant(sum; multipliers[count], shift, lo, hi)`
/// where `count` is the number of in-bounds positions, or the full window when
/// `count_include_pad`. `multipliers.len() == kh * kw + 1` (index 0 unused).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AvgPool {
    /// Window geometry.
    pub geometry: PoolGeometry,
    /// Whether padded positions count in the divisor.
    pub count_include_pad: bool,
    /// Multiplier per divisor count.
    pub multipliers: Vec<i32>,
    /// Common shift.
    pub shift: u8,
}

impl super::QOpDef for AvgPool {
    fn check(&self, inputs: &[&crate::QNode], _node: &crate::QNode) -> Result<Vec<usize>, String> {
        super::expect_arity(inputs, 1)?;
        let shape = self.geometry.output_shape(&inputs[0].shape)?;
        let window = self.geometry.kernel[0]
            .checked_mul(self.geometry.kernel[1])
            .ok_or("window size overflows")?;
        if self.multipliers.len() != window + 1 {
            return Err(format!(
                "{} multipliers for a window of {window}",
                self.multipliers.len()
            ));
        }
        for &m in &self.multipliers[1..] {
            super::check_multiplier(m, self.shift)?;
        }
        let bound = (window as u128) * super::max_magnitude(inputs[0].bits);
        if bound >= 1u128 << super::ACC_BITS {
            return Err(format!(
                "worst-case window sum {bound} reaches 2^{}",
                super::ACC_BITS
            ));
        }
        Ok(shape)
    }
}
