//! Mul: `y = clamp(round_shift(a*b*M, s), lo, hi)` with numpy broadcasting.
//!
//! Proven by a [`requant`](super::requant) slot with `u1 = a`, `u2 = b`, `m3 = M`
//! (`m1 = m2 = 0`), the product term of the slot's first constraint. `|a b M| < 2^61` for
//! 16-bit inputs. Uniqueness: as for the requant slot.

use super::requant::RequantParams;

/// Slot parameters of a Mul whose output range is `[lo, hi]`.
pub fn params(op: &tk_quant::ops::Mul, lo: i64, hi: i64) -> RequantParams {
    RequantParams {
        m1: 0,
        m2: 0,
        m3: op.m.into(),
        shift: op.shift,
        lo,
        hi,
    }
}
