//! Real-to-integer helpers of the quantizer: round half up and requantization multipliers
//! (spec sections 2 and 3). Floats live here and in the rules only; the integer semantics
//! are in [`crate::reference`].

use crate::{QuantError, QuantResult};

/// `round_half_up(v) = floor(v + 1/2)`, computed without the rounding error of `v + 0.5`.
pub fn round_half_up(v: f64) -> f64 {
    let f = v.floor();
    if v - f >= 0.5 { f + 1.0 } else { f }
}

/// Symmetric quantization of one real value: `clamp(round_half_up(x / scale), lo, hi)`
/// (spec section 5). NaN maps to 0.
pub fn quantize_value(x: f64, scale: f64, lo: i32, hi: i32) -> i32 {
    let q = round_half_up(x / scale);
    if q.is_nan() {
        0
    } else {
        q.clamp(lo as f64, hi as f64) as i32
    }
}

/// `2^e` for `-1074 <= e <= 1023` (exact).
fn pow2(e: i32) -> f64 {
    2f64.powi(e)
}

/// `floor(log2(v))` for a positive finite `v`, exact (no `log2` rounding at powers of two).
fn floor_log2(v: f64) -> i32 {
    let mut e = v.log2().floor() as i32;
    while pow2(e) > v {
        e -= 1;
    }
    while pow2(e + 1) <= v {
        e += 1;
    }
    e
}

/// The requantization multiplier `(M, s)` of a real ratio `r > 0` (spec section 3):
/// `s = 30 - floor(log2 r)` clamped to `[0, 62]`, `M = round_half_up(r * 2^s)`.
///
/// When rounding reaches `M = 2^31` the pair is renormalised to `(2^30, s - 1)`, which is the
/// same value. So `2^30 <= M < 2^31` and `|M / 2^s - r| <= 2^-31 r` whenever `2^-32 <= r < 2^31`;
/// smaller ratios lose precision (`s` is capped at 62).
///
/// Errors with [`QuantError::Multiplier`] when `r` is not positive and finite, `r >= 2^31 - 1/2`
/// (no `M < 2^31` with `s = 0`) or `r < 2^-63` (`M` would round to 0).
///
/// ```
/// let (m, s) = tk_quant::quantize_multiplier(0.5).unwrap();
/// assert_eq!((m, s), (1 << 30, 31));
/// ```
pub fn quantize_multiplier(ratio: f64) -> QuantResult<(i32, u8)> {
    let err = || QuantError::Multiplier { ratio };
    if !(ratio.is_finite() && ratio > 0.0) {
        return Err(err());
    }
    let mut s = (30 - floor_log2(ratio)).clamp(0, 62);
    let mut m = round_half_up(ratio * pow2(s));
    if m == pow2(31) && s > 0 {
        m = pow2(30);
        s -= 1;
    }
    if !(1.0..pow2(31)).contains(&m) {
        return Err(err());
    }
    Ok((m as i32, s as u8))
}

/// Signed multipliers `(ma, mb, s)` with `ma / 2^s ~ ra`, `mb / 2^s ~ rb` for an `Add` whose
/// inputs have `bits_a` and `bits_b` bits, chosen so that `|a * ma| + |b * mb| < 2^40`
/// (the accumulator bound) and `|ma|, |mb| < 2^31`: the larger magnitude is just below
/// `2^min(31, 40 - max(bits_a, bits_b))`.
pub fn add_multipliers(ra: f64, rb: f64, bits_a: u8, bits_b: u8) -> QuantResult<(i32, i32, u8)> {
    let rmax = ra.abs().max(rb.abs());
    if !(rmax.is_finite() && rmax > 0.0) {
        return Err(QuantError::Multiplier { ratio: rmax });
    }
    let limit_bits = 31.min(40 - i32::from(bits_a.max(bits_b)));
    // The largest s with round_half_up(rmax * 2^s) < 2^limit_bits.
    let mut s = (limit_bits - 1 - floor_log2(rmax)).clamp(0, 62);
    while s > 0 && round_half_up(rmax * pow2(s)) >= pow2(limit_bits) {
        s -= 1;
    }
    let ma = round_half_up(ra * pow2(s));
    let mb = round_half_up(rb * pow2(s));
    if ma.abs() >= pow2(limit_bits) || mb.abs() >= pow2(limit_bits) {
        return Err(QuantError::Multiplier { ratio: rmax });
    }
    Ok((ma as i32, mb as i32, s as u8))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rounds_half_up() {
        assert_eq!(round_half_up(2.5), 3.0);
        assert_eq!(round_half_up(-2.5), -2.0);
        assert_eq!(round_half_up(-2.6), -3.0);
        assert_eq!(round_half_up(0.499_999_999_999_999_94), 0.0);
        assert_eq!(quantize_value(1000.0, 1.0, -128, 127), 127);
        assert_eq!(quantize_value(-0.5, 1.0, -128, 127), 0);
        assert_eq!(quantize_value(f64::NAN, 1.0, -128, 127), 0);
    }

    #[test]
    fn multiplier_examples() {
        assert_eq!(quantize_multiplier(1.0).unwrap(), (1 << 30, 30));
        assert_eq!(quantize_multiplier(0.75).unwrap(), (3 << 29, 31));
        assert_eq!(quantize_multiplier(3.0).unwrap(), (3 << 29, 29));
        // Just below a power of two: M would round to 2^31.
        let r = 1.0 - 1e-12;
        assert_eq!(quantize_multiplier(r).unwrap(), (1 << 30, 30));
        // Large ratios clamp s at 0.
        assert_eq!(quantize_multiplier(5.0e8).unwrap(), (2_000_000_000, 2));
        assert_eq!(quantize_multiplier(1.5e9).unwrap(), (1_500_000_000, 0));
        assert!(quantize_multiplier(2.2e9).is_err());
        // Tiny ratios clamp s at 62 and lose precision.
        assert_eq!(quantize_multiplier(pow2(-40)).unwrap(), (1 << 22, 62));
        assert!(quantize_multiplier(1e-30).is_err());
        assert!(quantize_multiplier(0.0).is_err());
        assert!(quantize_multiplier(-1.0).is_err());
        assert!(quantize_multiplier(f64::NAN).is_err());
    }

    #[test]
    fn add_multipliers_respect_bound() {
        let (ma, mb, s) = add_multipliers(0.5, -0.25, 8, 8).unwrap();
        assert_eq!((ma, mb, s), (1 << 30, -(1 << 29), 31));
        let (ma, mb, s) = add_multipliers(1.5, 0.5, 16, 8).unwrap();
        assert!((1 << 23..1 << 24).contains(&ma), "{ma}");
        assert_eq!(f64::from(ma) / pow2(i32::from(s)), 1.5);
        assert_eq!(f64::from(mb) / pow2(i32::from(s)), 0.5);
    }

    proptest! {
        #[test]
        fn multiplier_is_accurate(mant in 1.0f64..2.0, exp in -32i32..31) {
            let r = mant * pow2(exp);
            prop_assume!(r < pow2(31) - 1.0);
            let (m, s) = quantize_multiplier(r).unwrap();
            prop_assert!((1..=62).contains(&s) || s == 0);
            prop_assert!(m >= 1 << 30 || s == 0);
            let approx = f64::from(m) / pow2(i32::from(s));
            prop_assert!(((approx - r) / r).abs() <= pow2(-30), "r {r} m {m} s {s}");
        }

        #[test]
        fn add_multipliers_are_accurate(ra in -4.0f64..4.0, rb in -4.0f64..4.0, bits in 2u8..=16) {
            prop_assume!(ra.abs().max(rb.abs()) > 1e-3);
            let (ma, mb, s) = add_multipliers(ra, rb, bits, bits).unwrap();
            let lim = pow2(40 - i32::from(bits) );
            prop_assert!(f64::from(ma).abs() < lim.min(pow2(31)) && f64::from(mb).abs() < lim.min(pow2(31)));
            let tol = pow2(-i32::from(s));
            prop_assert!((f64::from(ma) * tol - ra).abs() <= tol);
            prop_assert!((f64::from(mb) * tol - rb).abs() <= tol);
        }
    }
}
