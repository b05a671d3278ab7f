//! The integer primitives of spec sections 2 and 3: `round_shift`, `div_round`, `requant`.
//!
//! Everything is exact: products of an accumulator and a multiplier are formed in `i128`.

/// Accumulator bound of spec section 1: every accumulator satisfies `|acc| < 2^ACC_BITS`.
pub const ACC_BITS: u32 = 40;

/// Largest shift the standard allows (spec section 3).
pub const MAX_SHIFT: u8 = 62;

/// `round_shift(v, s) = floor((v + 2^(s-1)) / 2^s)` for `s >= 1`, `v` for `s = 0`:
/// division by `2^s` rounding half up (towards +inf).
///
/// Requires `s <= 126` and `|v| < 2^126` (always true for values the standard allows:
/// `|acc * M| < 2^72`, `s <= 62`).
///
/// ```
/// use tk_runtime::arith::round_shift;
/// assert_eq!(round_shift(5, 1), 3);
/// assert_eq!(round_shift(-5, 1), -2);
/// assert_eq!(round_shift(-6, 2), -1);
/// assert_eq!(round_shift(-7, 0), -7);
/// ```
#[inline]
pub fn round_shift(v: i128, s: u8) -> i128 {
    if s == 0 {
        v
    } else {
        (v + (1i128 << (s - 1))) >> s
    }
}

/// `div_round(v, d) = floor((2v + d) / (2d))` for `d >= 1`: division rounding half up.
///
/// Requires `d >= 1` and `|v| < 2^125`.
///
/// ```
/// use tk_runtime::arith::div_round;
/// assert_eq!(div_round(3, 2), 2);
/// assert_eq!(div_round(-3, 2), -1);
/// assert_eq!(div_round(7, 3), 2);
/// ```
#[inline]
pub fn div_round(v: i128, d: i128) -> i128 {
    (2 * v + d).div_euclid(2 * d)
}

/// `clamp(v, lo, hi) = min(max(v, lo), hi)`, requires `lo <= hi`.
#[inline]
pub fn clamp(v: i128, lo: i32, hi: i32) -> i32 {
    // The result lies in [lo, hi], so it fits an i32.
    v.clamp(i128::from(lo), i128::from(hi)) as i32
}

/// Whether `|acc| < 2^ACC_BITS`.
#[inline]
pub fn acc_in_bound(acc: i128) -> bool {
    acc.unsigned_abs() < 1u128 << ACC_BITS
}

/// `requant(acc; m, s, lo, hi) = clamp(round_shift(acc * m, s), lo, hi)` (spec section 3).
///
/// The caller checks the accumulator bound ([`acc_in_bound`]) and that `1 <= m`, `s <= 62`;
/// then `|acc * m| < 2^71` and the computation is exact.
///
/// ```
/// use tk_runtime::arith::requant;
/// // 100 * 3 / 8 = 37.5, rounds half up to 38
/// assert_eq!(requant(100, 3, 3, -128, 127), 38);
/// assert_eq!(requant(-100, 3, 3, -128, 127), -37);
/// assert_eq!(requant(1 << 20, 1, 0, -128, 127), 127);
/// ```
#[inline(always)]
pub fn requant(acc: i64, m: i32, s: u8, lo: i32, hi: i32) -> i32 {
    if acc.unsigned_abs() < 1 << 31 {
        // |acc * m| < 2^62 and the rounding term is at most 2^61: exact in i64.
        let v = acc * i64::from(m);
        let r = if s == 0 {
            v
        } else {
            (v + (1i64 << (s - 1))) >> s
        };
        r.clamp(i64::from(lo), i64::from(hi)) as i32
    } else {
        requant_wide(acc, m, s, lo, hi)
    }
}

/// [`requant`] of an accumulator of at least `2^31` in magnitude, in `i128`.
#[cold]
#[inline(never)]
fn requant_wide(acc: i64, m: i32, s: u8, lo: i32, hi: i32) -> i32 {
    clamp(round_shift(i128::from(acc) * i128::from(m), s), lo, hi)
}

/// Range `[lo, hi]` of a `bits`-bit signed value, for `1 <= bits <= 32`.
#[inline]
pub fn bit_range(bits: u8) -> (i64, i64) {
    let half = 1i64 << (bits - 1);
    (-half, half - 1)
}
