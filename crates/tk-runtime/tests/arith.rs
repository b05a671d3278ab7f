//! Boundary and property tests of the spec primitives.

mod common;

use proptest::prelude::*;
use tk_runtime::arith::{ACC_BITS, acc_in_bound, div_round, requant, round_shift};

#[test]
fn round_shift_examples_from_the_spec() {
    assert_eq!(round_shift(5, 1), 3);
    assert_eq!(round_shift(-5, 1), -2);
    assert_eq!(round_shift(-6, 2), -1);
}

#[test]
fn round_shift_negative_ties_round_up() {
    // -x.5 rounds towards +inf.
    assert_eq!(round_shift(-1, 1), 0);
    assert_eq!(round_shift(-3, 1), -1);
    assert_eq!(round_shift(-2, 2), 0);
    assert_eq!(round_shift(-6, 2), -1);
    assert_eq!(round_shift(-10, 2), -2);
    // Just below a tie rounds down.
    assert_eq!(round_shift(-7, 2), -2);
    assert_eq!(round_shift(-(1 << 40) - (1 << 19), 20), -(1 << 20));
}

#[test]
fn round_shift_zero_is_identity() {
    for v in [-(1i128 << 71), -7, -1, 0, 1, 7, (1 << 71) - 1] {
        assert_eq!(round_shift(v, 0), v);
    }
}

#[test]
fn requant_at_the_extremes() {
    let m = i32::MAX;
    let max_acc = (1i64 << ACC_BITS) - 1;
    // |acc * M| just below 2^71 is exact.
    assert_eq!(
        requant(max_acc, m, 62, i32::MIN, i32::MAX),
        common::round_shift(i128::from(max_acc) * i128::from(m), 62) as i32
    );
    assert_eq!(
        requant(-max_acc, m, 62, i32::MIN, i32::MAX),
        common::round_shift(-i128::from(max_acc) * i128::from(m), 62) as i32
    );
    assert_eq!(requant(max_acc, m, 0, -128, 127), 127);
    assert_eq!(requant(-max_acc, m, 0, -128, 127), -128);
    // Values exactly at lo and hi pass through unchanged with M = 1, s = 0.
    assert_eq!(requant(127, 1, 0, -128, 127), 127);
    assert_eq!(requant(-128, 1, 0, -128, 127), -128);
    assert_eq!(requant(128, 1, 0, -128, 127), 127);
    assert_eq!(requant(-129, 1, 0, -128, 127), -128);
    // M = 2^31 - 1, s = 31: almost the identity, ties resolved upwards.
    assert_eq!(requant(100, m, 31, -128, 127), 100);
    assert_eq!(requant(-100, m, 31, -128, 127), -100);
}

#[test]
fn accumulator_bound_is_strict() {
    assert!(acc_in_bound((1 << 40) - 1));
    assert!(acc_in_bound(-(1 << 40) + 1));
    assert!(!acc_in_bound(1 << 40));
    assert!(!acc_in_bound(-(1 << 40)));
}

#[test]
fn div_round_rounds_half_up() {
    assert_eq!(div_round(1, 2), 1);
    assert_eq!(div_round(-1, 2), 0);
    assert_eq!(div_round(5, 10), 1);
    assert_eq!(div_round(4, 10), 0);
    assert_eq!(div_round(0, 7), 0);
}

proptest! {
    #[test]
    fn round_shift_is_floor_of_half_up(v in -(1i128 << 72)..(1i128 << 72), s in 0u8..=62) {
        prop_assert_eq!(round_shift(v, s), common::round_shift(v, u32::from(s)));
    }

    #[test]
    fn requant_matches_spec(acc in -(1i64 << 40) + 1..(1i64 << 40), m in 1i32..=i32::MAX, s in 0u8..=62, bits in 2u8..=16) {
        let (lo, hi) = common::range(bits);
        prop_assert_eq!(requant(acc, m, s, lo, hi), common::requant(i128::from(acc), i64::from(m), u32::from(s), lo, hi));
    }

    #[test]
    fn div_round_matches_spec(v in -(1i128 << 90)..(1i128 << 90), d in 1i128..(1i128 << 40)) {
        // y is the unique integer with 2v + d = y * 2d + r, 0 <= r < 2d.
        let y = div_round(v, d);
        let r = 2 * v + d - y * 2 * d;
        prop_assert!((0..2 * d).contains(&r));
    }
}
