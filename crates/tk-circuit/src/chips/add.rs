//! Add (and Sub): `y = clamp(round_shift(a*Ma + b*Mb, s), lo, hi)` with numpy broadcasting.
//!
//! Proven by a [`requant`](super::requant) slot with `u1 = a`, `u2 = b`, `m1 = Ma`, `m2 = Mb`,
//! `m3 = 0`; both operands are copies of the producers' cells, chosen by
//! [`broadcast_index`](super::wiring::broadcast_index). `|a Ma + b Mb| < 2^47` for 16-bit
//! inputs, far inside the field. Uniqueness: as for the requant slot.

use super::requant::RequantParams;

/// Slot parameters of an Add whose output range is `[lo, hi]`.
pub fn params(op: &tk_quant::ops::Add, lo: i64, hi: i64) -> RequantParams {
    RequantParams {
        m1: op.ma.into(),
        m2: op.mb.into(),
        m3: 0,
        shift: op.shift,
        lo,
        hi,
    }
}
