//! The requant slot: every constraint of the gate, its range checks, and the canonical
//! alternative witnesses (remainder >= 2^s, `q - 1` with `r + 2^s`, a quotient that only holds
//! modulo p, a missing clamp). Driven through Clip (s = 0) and Rescale models.

mod common;

use common::*;
use tk_circuit::field::{Fr, fe, pow2};
use tk_quant::ops::{Clip, QOp, Requant, Rescale};

/// x [1, 8] (8 bits) -> Clip[-20, 30].
fn clip_model() -> (tk_quant::QModel, Vec<tk_quant::QTensor>) {
    let mut b = Builder::default();
    let x = b.input(&[1, 8], 8);
    let y = b.op(
        "clip",
        QOp::Clip(Clip { lo: -20, hi: 30 }),
        &[x],
        &[1, 8],
        8,
    );
    b.output(y);
    (
        b.build(),
        vec![tensor(&[1, 8], vec![-128, -20, 0, 30, 127, 5, -21, 31])],
    )
}

const CLIP: usize = 1;
const REGION: &str = "clip: requant";

#[test]
fn clip_is_satisfied() {
    let (m, x) = clip_model();
    let c = circuit(&m, &x);
    eprintln!("clip plan: {:?}", c.report());
    assert_satisfied(&c);
}

fn set_y(c: &mut tk_circuit::ModelCircuit, e: usize, y: i64) {
    let (lo, hi) = (-20i64, 30i64);
    let n_d = c.params().requant.unwrap().n_d;
    let d1 = limbs(c, (y - lo) as u128, n_d);
    let d2 = limbs(c, (hi - y) as u128, n_d);
    let j = requant_job(c, CLIP, e);
    j.witness.y = fe(y.into());
    j.witness.d1 = d1;
    j.witness.d2 = d2;
}

#[test]
fn b_lo_must_be_boolean() {
    // q = y = lo: b_lo = -5 with t = 5 satisfies every other constraint.
    let (m, x) = clip_model();
    let mut c = circuit(&m, &x);
    let n_t = c.params().requant.unwrap().n_t;
    let t = limbs(&c, 5, n_t);
    let j = requant_job(&mut c, CLIP, 1);
    j.witness.b_lo = fe(-5);
    j.witness.t = t;
    assert_fails_exactly(&failures(&c), &[&["b_lo * (1 - b_lo) = 0", REGION]]);
}

#[test]
fn b_hi_must_be_boolean() {
    let (m, x) = clip_model();
    let mut c = circuit(&m, &x);
    let n_t = c.params().requant.unwrap().n_t;
    let t = limbs(&c, 5, n_t);
    let j = requant_job(&mut c, CLIP, 3);
    j.witness.b_hi = fe(-5);
    j.witness.t = t;
    assert_fails_exactly(&failures(&c), &[&["b_hi * (1 - b_hi) = 0", REGION]]);
}

#[test]
fn clamped_low_output_must_be_lo() {
    let (m, x) = clip_model();
    let mut c = circuit(&m, &x);
    set_y(&mut c, 0, -19);
    let inst = instance_with_output(&c, &m, 0, -19);
    assert_fails_exactly(
        &failures_with(&c, inst),
        &[&["b_lo * (y - lo) = 0", REGION]],
    );
}

#[test]
fn clamped_high_output_must_be_hi() {
    let (m, x) = clip_model();
    let mut c = circuit(&m, &x);
    set_y(&mut c, 4, 29);
    let inst = instance_with_output(&c, &m, 4, 29);
    assert_fails_exactly(
        &failures_with(&c, inst),
        &[&["b_hi * (y - hi) = 0", REGION]],
    );
}

#[test]
fn unclamped_output_must_be_q() {
    let (m, x) = clip_model();
    let mut c = circuit(&m, &x);
    set_y(&mut c, 5, 6);
    let inst = instance_with_output(&c, &m, 5, 6);
    assert_fails_exactly(
        &failures_with(&c, inst),
        &[&["(1 - b_lo - b_hi) * (y - q) = 0", REGION]],
    );
}

#[test]
fn clamp_excess_must_match() {
    let (m, x) = clip_model();
    let mut c = circuit(&m, &x);
    let j = requant_job(&mut c, CLIP, 0);
    j.witness.t[0] += Fr::one();
    assert_fails_exactly(
        &failures(&c),
        &[&["t = b_lo*(lo - 1 - q) + b_hi*(q - hi - 1)", REGION]],
    );
}

#[test]
fn interval_limbs_must_match() {
    let (m, x) = clip_model();
    let mut c = circuit(&m, &x);
    requant_job(&mut c, CLIP, 5).witness.d1[0] += Fr::one();
    assert_fails_exactly(&failures(&c), &[&["d1 = y - lo", REGION]]);
    let mut c = circuit(&m, &x);
    requant_job(&mut c, CLIP, 5).witness.d2[0] += Fr::one();
    assert_fails_exactly(&failures(&c), &[&["d2_on * (d2 - (hi - y)) = 0", REGION]]);
}

#[test]
fn missing_clamp_fails_the_range_check() {
    // Claim y = q = -128 (no clamp) in the middle case: y - lo is negative.
    let (m, x) = clip_model();
    let mut c = circuit(&m, &x);
    let n_d = c.params().requant.unwrap().n_d;
    let d2 = limbs(&c, 30 + 128, n_d);
    let j = requant_job(&mut c, CLIP, 0);
    j.witness.b_lo = fe(0);
    j.witness.t = vec![fe(0); j.witness.t.len()];
    j.witness.y = fe(-128);
    let mut d1 = vec![fe(0); n_d];
    d1[0] = fe(-128 + 20);
    j.witness.d1 = d1;
    j.witness.d2 = d2;
    let inst = instance_with_output(&c, &m, 0, -128);
    assert_fails_exactly(
        &failures_with(&c, inst),
        &[&["Lookup range lane", "range lanes"]],
    );
}

/// x [1, 8] -> Rescale(M=3, s=4) and, to force three remainder limbs, x -> Rescale(M=5, s=12).
fn rescale_model() -> (tk_quant::QModel, Vec<tk_quant::QTensor>) {
    let mut b = Builder::default();
    let x = b.input(&[1, 8], 8);
    let rq = |m, s| {
        QOp::Rescale(Rescale {
            requant: Requant {
                multipliers: vec![m],
                shifts: vec![s],
                clamp: None,
            },
        })
    };
    let y = b.op("small", rq(3, 4), &[x], &[1, 8], 8);
    let z = b.op("wide", rq(4097, 12), &[x], &[1, 8], 8);
    b.output(y);
    b.output(z);
    (
        b.build(),
        vec![tensor(&[1, 8], vec![-128, -37, -5, 0, 7, 21, 90, 127])],
    )
}

/// Rows of 2^8 give limbs of 6 bits, so `r + 16` still fits limb 0 of the 4-bit remainder.
fn rescale_circuit() -> (tk_quant::QModel, tk_circuit::ModelCircuit) {
    let (m, x) = rescale_model();
    let c = circuit_with(
        &m,
        &x,
        &tk_circuit::PlanOptions {
            min_k: 8,
            ..Default::default()
        },
    );
    (m, c)
}

const SMALL: usize = 1;

/// An element of `small` whose quotient is in the middle case, with its (q, r).
fn middle(c: &mut tk_circuit::ModelCircuit, e: usize) -> (i128, i128) {
    let x = [-128i128, -37, -5, 0, 7, 21, 90, 127][e];
    let vh = 3 * x + 8;
    let q = vh.div_euclid(16);
    let j = requant_job(c, SMALL, e);
    assert_eq!(j.witness.q, fe(q));
    (q, vh - 16 * q)
}

#[test]
fn rescale_is_satisfied() {
    let (_, c) = rescale_circuit();
    eprintln!("rescale plan: {:?}", c.params());
    assert!(
        c.params().requant.unwrap().n_r >= 2,
        "the wide shift needs several remainder limbs"
    );
    assert_satisfied(&c);
}

#[test]
fn remainder_equation_must_hold() {
    let (_, mut c) = rescale_circuit();
    let (_, r) = middle(&mut c, 5);
    let j = requant_job(&mut c, SMALL, 5);
    j.witness.r[0] = fe(r ^ 1);
    assert_fails_exactly(
        &failures(&c),
        &[&["m1*u1 + m2*u2 + m3*u1*u2 + h = q*2^s + r", "small: requant"]],
    );
}

/// Replaces the witness of `small[e]` by `y = q' = q - k`, `r' = r + k 2^s`.
fn shifted_quotient(c: &mut tk_circuit::ModelCircuit, e: usize, k: i128) -> i64 {
    let (q, r) = middle(c, e);
    let shape = c.params().requant.unwrap();
    let bits = c.params().range_bits;
    let y = q - k;
    let r_limbs = tk_circuit::chips::decompose((r + (k << 4)) as u128, shape.n_r, bits).unwrap();
    let d1 = limbs(c, (y + 128) as u128, shape.n_d);
    // [-128, 127] spans a power of two: the d2 limbs are copies of the zero cell.
    let d2 = limbs(c, 0, shape.n_d);
    let j = requant_job(c, SMALL, e);
    j.witness.q = fe(y);
    j.witness.y = fe(y);
    j.witness.r = r_limbs;
    j.witness.d1 = d1;
    j.witness.d2 = d2;
    y as i64
}

#[test]
fn q_minus_one_with_remainder_plus_2s_fails_the_range_check() {
    let (m, mut c) = rescale_circuit();
    assert!(c.params().range_bits > 4, "r + 16 must stay inside limb 0");
    let y = shifted_quotient(&mut c, 5, 1);
    let inst = instance_with_output(&c, &m, 5, y);
    assert_fails_exactly(
        &failures_with(&c, inst),
        &[&["Lookup range lane", "range lanes"]],
    );
}

#[test]
fn remainder_spilling_into_a_zero_limb_fails_the_copy() {
    // r + 2^(R+1) puts a 1 in limb 1, whose tag is 0: the limb is a copy of the zero cell.
    let (m, mut c) = rescale_circuit();
    let bits = c.params().range_bits;
    let k = 1i128 << (bits + 1 - 4);
    let y = shifted_quotient(&mut c, 5, k);
    let inst = instance_with_output(&c, &m, 5, y);
    let f = failures_with(&c, inst);
    // The flagged cells are the tampered limb and its neighbour in the zero cell's cycle.
    assert_fails_exactly(
        &f,
        &[
            &["Equality constraint", "small: requant"],
            &["Equality constraint"],
        ],
    );
}

#[test]
fn quotient_modulo_p_fails_the_range_check() {
    // r' = r + 1 and q' = q - 1/2^s satisfy the first constraint in the field; with y = hi and
    // b_hi = 1 the clamp excess t = q' - hi - 1 is a huge field element.
    let (m, mut c) = rescale_circuit();
    let (q, r) = middle(&mut c, 5);
    let shape = c.params().requant.unwrap();
    let bits = c.params().range_bits;
    let q2 = fe(q) - pow2(4).invert().unwrap();
    let mut t = vec![fe(0); shape.n_t];
    t[0] = q2 - fe(127) - fe(1);
    let r_limbs = tk_circuit::chips::decompose((r + 1) as u128, shape.n_r, bits).unwrap();
    let d1 = limbs(&c, 255, shape.n_d);
    let d2 = limbs(&c, 0, shape.n_d);
    let j = requant_job(&mut c, SMALL, 5);
    j.witness.q = q2;
    j.witness.r = r_limbs;
    j.witness.y = fe(127);
    j.witness.b_hi = fe(1);
    j.witness.t = t;
    j.witness.d1 = d1;
    j.witness.d2 = d2;
    let inst = instance_with_output(&c, &m, 5, 127);
    assert_fails_exactly(
        &failures_with(&c, inst),
        &[&["Lookup range lane", "range lanes"]],
    );
}

#[test]
fn operand_copy_is_enforced() {
    let (_, mut c) = rescale_circuit();
    requant_job(&mut c, SMALL, 2).witness.u1 += Fr::one();
    let f = failures(&c);
    assert_fails_exactly(
        &f,
        &[
            &["Equality constraint", "small: requant"],
            &["Equality constraint"],
            &["m1*u1 + m2*u2 + m3*u1*u2 + h = q*2^s + r", "small: requant"],
        ],
    );
}

#[test]
fn power_of_two_range_pins_the_upper_limbs_to_zero() {
    // [-128, 127]: `y - lo < 2^8` already bounds y, d2_on = 0 and the d2 limbs are zero copies.
    let (_, mut c) = rescale_circuit();
    requant_job(&mut c, SMALL, 2).witness.d2[0] = fe(3);
    assert_fails_exactly(
        &failures(&c),
        &[
            &["Equality constraint", "small: requant"],
            &["Equality constraint"],
        ],
    );
}
