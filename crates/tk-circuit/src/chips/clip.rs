//! Clip and ReLU: `y = clamp(x, lo, hi)`.
//!
//! Proven by a [`requant`](super::requant) slot with `v = x` (`m1 = 1`, `m2 = m3 = 0`,
//! `s = 0`): the remainder is 0 (its limbs all have tag 0 and are copied to the zero cell),
//! `q = x`, and the clamp part of the slot proves `y = clamp(x, lo, hi)` with both `y - lo` and
//! `hi - y` range-checked, so bounds need not span a power of two. Uniqueness: as for the
//! requant slot.

use super::requant::RequantParams;

/// Slot parameters of a Clip (`Relu` is `lo = 0`).
pub fn params(op: &tk_quant::ops::Clip) -> RequantParams {
    RequantParams {
        m1: 1,
        m2: 0,
        m3: 0,
        shift: 0,
        lo: op.lo.into(),
        hi: op.hi.into(),
    }
}
