//! `FakeQuant`: float simulation of symmetric quantization (used by tk-quant's staged graphs).

use super::{OpDef, checked_fact, unary_f32_fact};
use crate::{Fact, OpError, Tensor, op_bail};

/// Element-wise `y = r(c(x / scale)) * scale`, where `c` clamps to `[lo, hi]` when `clip`
/// (identity otherwise) and `r` rounds half up (`floor(v + 0.5)`) when `round` (identity
/// otherwise). `lo`/`hi` are in units of `scale` (integer grid bounds such as `-128`, `127`).
/// `scale` must be positive and finite, `lo <= hi`. Output fact equals input fact.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FakeQuant {
    /// Real value of one integer step.
    pub scale: f32,
    /// Lowest grid value.
    pub lo: f32,
    /// Highest grid value.
    pub hi: f32,
    /// Whether to round to the integer grid.
    pub round: bool,
    /// Whether to clamp to `[lo, hi]`.
    pub clip: bool,
}

impl FakeQuant {
    /// Applies the simulation to one value.
    pub fn apply(&self, x: f32) -> f32 {
        let mut v = x / self.scale;
        if self.clip {
            v = v.clamp(self.lo, self.hi);
        }
        if self.round {
            v = (v + 0.5).floor();
        }
        v * self.scale
    }
}

impl OpDef for FakeQuant {
    fn name(&self) -> &'static str {
        "FakeQuant"
    }

    fn output_fact(&self, inputs: &[&Fact]) -> Result<Fact, OpError> {
        if !(self.scale.is_finite() && self.scale > 0.0) {
            op_bail!("scale must be positive and finite, got {}", self.scale);
        }
        if self.lo.is_nan() || self.hi.is_nan() || self.lo > self.hi {
            op_bail!("invalid grid bounds [{}, {}]", self.lo, self.hi);
        }
        unary_f32_fact(inputs)
    }

    fn eval(&self, inputs: &[&Tensor]) -> Result<Tensor, OpError> {
        checked_fact(self, inputs)?;
        Ok(Tensor::F32(inputs[0].as_f32()?.mapv(|v| self.apply(v))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clips_and_rounds_half_up() {
        let q = FakeQuant { scale: 0.5, lo: -4.0, hi: 3.0, round: true, clip: true };
        assert_eq!(q.apply(0.25), 0.5);
        assert_eq!(q.apply(-0.25), 0.0);
        assert_eq!(q.apply(10.0), 1.5);
        assert_eq!(q.apply(-10.0), -2.0);
        let sim = FakeQuant { round: false, clip: false, ..q };
        assert_eq!(sim.apply(10.0), 10.0);
        let bad = FakeQuant { scale: 0.0, ..q };
        assert!(bad.output_fact(&[&Fact::f32([1])]).is_err());
    }
}
