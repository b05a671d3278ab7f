//! The softmax chip: agreement with the runtime kernel, a satisfied circuit, one negative test
//! per constraint (naming the constraint that fails), the canonical alternatives of the
//! rounded division, and a real key generation, proof and verification.

mod common;

use common::*;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use tk_circuit::OpKind;
use tk_circuit::chips::lut::LutTable;
use tk_circuit::chips::softmax::{SoftmaxElem, SoftmaxParams, SoftmaxShape, SoftmaxWitness};
use tk_circuit::field::{Fr, fe};
use tk_circuit::prelude::*;
use tk_quant::ops::{QOp, Softmax};
use tk_quant::{QModel, QTensor};

/// `exp[d] = floor(2^15 (7/8)^d)` (floored step by step) down to its first 0: a
/// non-increasing table of 71 entries, shorter than the 256 differences of an 8-bit input, so
/// large differences are clamped to its last entry.
fn exp_table() -> Vec<i32> {
    let mut t = vec![1 << 15];
    while *t.last().unwrap() > 0 {
        let v = *t.last().unwrap();
        t.push(v * 7 / 8);
    }
    t
}

fn softmax(axis: usize, frac_bits: u8) -> QOp {
    QOp::Softmax(Softmax {
        axis,
        exp_table: exp_table(),
        frac_bits,
    })
}

/// The difference `d` with `div_round(2^15 * 2^7, 2^15 + exp[d]) = 127`: a row `[0, -d]`
/// has `q = hi` on its first element.
fn d_at_hi() -> i32 {
    let t = exp_table();
    (0..t.len())
        .find(|&d| {
            let (e, s) = (1i128 << 15, (1i128 << 15) + i128::from(t[d]));
            (2 * (e << 7) + s).div_euclid(2 * s) == 127
        })
        .unwrap() as i32
}

/// x [3, 4] (8 bits) -> softmax along axis 1 ("rows", node 1) and along axis 0 ("cols",
/// node 2), both with `F = 7` into 8 bits (`hi = 127 < 2^F`, so probability 1 is clamped).
fn model() -> (QModel, Vec<QTensor>) {
    let mut b = Builder::default();
    let x = b.input(&[3, 4], 8);
    let r = b.op("rows", softmax(1, 7), &[x], &[3, 4], 8);
    let c = b.op("cols", softmax(0, 7), &[x], &[3, 4], 8);
    b.output(r);
    b.output(c);
    let d = d_at_hi();
    #[rustfmt::skip]
    let data = vec![
        127, -128, -128, -128, // one certain class: q = 2^F > hi, and clamped differences
        0, -d, -128, -128,     // q = hi exactly on element 0
        5, 30, 30, -7,         // a tie for the maximum
    ];
    (b.build(), vec![tensor(&[3, 4], data)])
}

const ROWS: usize = 1;

fn elem(c: &mut ModelCircuit, node: usize, row: usize, j: usize) -> &mut SoftmaxElem {
    match &mut c.ops_mut()[node].kind {
        OpKind::Softmax { rows, .. } => &mut rows[row].witness.elems[j],
        other => panic!("node {node} is not a softmax: {other:?}"),
    }
}

fn shape(c: &ModelCircuit) -> SoftmaxShape {
    c.params().softmax.expect("softmax shape")
}

fn params_and_table(c: &ModelCircuit, node: usize) -> (SoftmaxParams, u64) {
    match &c.ops()[node].kind {
        OpKind::Softmax { params, tag, .. } => (*params, *tag),
        _ => unreachable!(),
    }
}

/// The loaded (padded) table of `node`.
fn table(c: &ModelCircuit, node: usize) -> LutTable {
    let (_, tag) = params_and_table(c, node);
    let input_bits = 8;
    let t = exp_table();
    LutTable {
        tag,
        in_lo: 0,
        values: (0..1usize << input_bits)
            .map(|d| i64::from(t[d.min(t.len() - 1)]))
            .collect(),
    }
}

/// Replaces row `row` of `node` by `w`, and the public outputs by the witness's `y`.
fn set_row(c: &mut ModelCircuit, node: usize, row: usize, w: SoftmaxWitness) -> Vec<Fr> {
    let outputs = match &mut c.ops_mut()[node].kind {
        OpKind::Softmax { rows, .. } => {
            rows[row].witness = w.clone();
            rows[row].outputs.clone()
        }
        _ => unreachable!(),
    };
    let mut inst = c.instance().to_vec();
    let base = 12 + 12 * (node - 1);
    for (at, e) in outputs.iter().zip(&w.elems) {
        inst[base + at] = e.y;
    }
    inst
}

fn limbs_of(c: &ModelCircuit, v: i128, n: usize) -> Vec<Fr> {
    limbs(c, u128::try_from(v).expect("non-negative"), n)
}

fn int(v: Fr) -> i128 {
    tk_circuit::field::to_i128(v).expect("small value")
}

#[test]
fn softmax_is_satisfied() {
    let (m, x) = model();
    let mut c = circuit(&m, &x);
    eprintln!("softmax plan: {:?} {:?}", c.params(), c.report().chips);
    assert_satisfied(&c);
    // Row 0: certain class, clamped to hi; the others' differences are clamped to exp's end.
    let c2 = &mut c;
    assert_eq!(elem(c2, ROWS, 0, 0).b, fe(1));
    assert_eq!(elem(c2, ROWS, 0, 0).y, fe(127));
    assert_eq!(elem(c2, ROWS, 0, 0).q, fe(128));
    assert_eq!(elem(c2, ROWS, 0, 1).e, fe(0));
    // Row 1: q = hi exactly, not clamped.
    assert_eq!(elem(c2, ROWS, 1, 0).q, fe(127));
    assert_eq!(elem(c2, ROWS, 1, 0).b, fe(0));
}

/// The circuit's reference, the runtime kernel and the test's spec executor agree bit for bit,
/// on random rows, on every output width regime, along every axis.
#[test]
fn agrees_with_the_runtime_kernel() {
    // (input bits, output bits, F): F = bits - 1 (the quantizer's choice, clamp at
    // probability 1), 2^F <= hi (never clamped), and 2^F far above hi (often clamped).
    for (in_bits, out_bits, frac_bits) in [(8, 8, 7), (8, 16, 10), (6, 4, 7), (4, 8, 7)] {
        for axis in 0..3 {
            let mut b = Builder::default();
            let x = b.input(&[2, 3, 5], in_bits);
            let y = b.op("sm", softmax(axis, frac_bits), &[x], &[2, 3, 5], out_bits);
            b.output(y);
            let m = b.build();
            let lim = 1i32 << (in_bits - 1);
            for seed in 0..8 {
                let data = if seed == 0 {
                    // Extremes: the largest differences, and ties.
                    (0..30)
                        .map(|i| if i % 4 == 0 { lim - 1 } else { -lim })
                        .collect()
                } else {
                    values(30, -lim, lim - 1, seed * 31 + u64::from(in_bits))
                };
                let xs = tensor(&[2, 3, 5], data);
                let runtime = tk_runtime::execute_node(&m.graph.nodes[1], &[&xs]).unwrap();
                let spec = execute(&m, std::slice::from_ref(&xs));
                assert_eq!(runtime.data, spec[1].data, "axis {axis} seed {seed}");
                // ModelCircuit::new checks the recorded output against the chip's reference.
                let w = witnesses(&m, &[xs.clone(), runtime]);
                ModelCircuit::new(&m, &w, &PlanOptions::default()).unwrap_or_else(|e| {
                    panic!("bits {in_bits}->{out_bits} F={frac_bits} axis {axis} seed {seed}: {e}")
                });
            }
        }
    }
}

#[test]
fn small_widths_are_satisfied() {
    let mut b = Builder::default();
    let x = b.input(&[2, 3], 4);
    let y = b.op("sm", softmax(1, 7), &[x], &[2, 3], 4);
    b.output(y);
    let m = b.build();
    let c = circuit(&m, &[tensor(&[2, 3], vec![7, -8, 0, 3, 3, 3])]);
    assert_satisfied(&c);
}

#[test]
fn several_slots_per_row_are_satisfied() {
    // 9 elements on 2 slots per row: rows of a softmax straddle layout rows, and the last
    // layout row has an unused slot.
    let mut b = Builder::default();
    let x = b.input(&[3, 3], 8);
    let y = b.op("sm", softmax(1, 7), &[x], &[3, 3], 8);
    b.output(y);
    let m = b.build();
    let opts = PlanOptions {
        softmax_slots: Some(2),
        ..PlanOptions::default()
    };
    let c = circuit_with(&m, &[tensor(&[3, 3], values(9, -128, 127, 3))], &opts);
    assert_eq!(c.params().softmax.map(|s| s.slots), Some(2));
    assert_eq!(
        c.report()
            .chips
            .iter()
            .find(|r| r.chip == "softmax")
            .unwrap()
            .rows,
        5
    );
    assert_satisfied(&c);
}

#[test]
fn a_wrong_recorded_output_is_refused() {
    let (m, x) = model();
    let mut values = execute(&m, &x);
    values[ROWS].data[5] += 1;
    let err = ModelCircuit::new(&m, &witnesses(&m, &values), &PlanOptions::default()).unwrap_err();
    assert!(
        matches!(
            err,
            CircuitError::WitnessMismatch {
                node: ROWS,
                index: 5,
                ..
            }
        ),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------
// One negative test per constraint.

#[test]
fn running_product_must_hold() {
    // Row 2 = [5, 30, 30, -7]: change p on element 1 and carry it consistently to the end
    // (the maximum's zero difference still ends the product at 0).
    let (m, x) = model();
    let mut c = circuit(&m, &x);
    let p1 = elem(&mut c, ROWS, 2, 1).p + Fr::one();
    elem(&mut c, ROWS, 2, 1).p = p1;
    elem(&mut c, ROWS, 2, 2).p_prev = p1;
    elem(&mut c, ROWS, 2, 2).p = Fr::zero();
    assert_fails_exactly(
        &failures(&c),
        &[&["p = (p_prev + first) * (m - x)", "rows: softmax"]],
    );
}

#[test]
fn running_sum_must_hold() {
    let (m, x) = model();
    let mut c = circuit(&m, &x);
    elem(&mut c, ROWS, 2, 0).s += Fr::one();
    elem(&mut c, ROWS, 2, 1).s_prev += Fr::one();
    let f = failures(&c);
    assert_eq!(f.len(), 2, "{f:?}");
    assert_fails_exactly(&f, &[&["s = s_prev + e", "rows: softmax"]]);
}

/// An element of row 2 whose remainder leaves room above it (`r <= 2S - 2`).
fn roomy(c: &mut ModelCircuit) -> usize {
    (0..4)
        .find(|&j| {
            let r = remainder(c, j);
            r <= 2 * int(elem(c, ROWS, 2, j).sum) - 2
        })
        .unwrap()
}

fn int_limbs(l: &[Fr], bits: u32) -> i128 {
    l.iter().rev().fold(0i128, |acc, &v| (acc << bits) + int(v))
}

fn remainder(c: &mut ModelCircuit, j: usize) -> i128 {
    let bits = c.params().range_bits;
    int_limbs(&elem(c, ROWS, 2, j).r, bits)
}

#[test]
fn division_must_hold() {
    // r + 1 and r2 - 1: both still in range and r2 = 2S - 1 - r still holds.
    let (m, x) = model();
    let mut c = circuit(&m, &x);
    let j = roomy(&mut c);
    let n_r = shape(&c).n_r;
    let r = remainder(&mut c, j);
    let s = int(elem(&mut c, ROWS, 2, j).sum);
    elem(&mut c, ROWS, 2, j).r = limbs_of(&c, r + 1, n_r);
    elem(&mut c, ROWS, 2, j).r2 = limbs_of(&c, 2 * s - 2 - r, n_r);
    assert_fails_exactly(
        &failures(&c),
        &[&["2*e*2^F + S = q*2*S + r", "rows: softmax"]],
    );
}

#[test]
fn upper_remainder_must_match() {
    let (m, x) = model();
    let mut c = circuit(&m, &x);
    let j = roomy(&mut c);
    let n_r = shape(&c).n_r;
    let r = remainder(&mut c, j);
    let s = int(elem(&mut c, ROWS, 2, j).sum);
    elem(&mut c, ROWS, 2, j).r2 = limbs_of(&c, 2 * s - 2 - r, n_r);
    assert_fails_exactly(&failures(&c), &[&["r2 = 2*S - 1 - r", "rows: softmax"]]);
}

#[test]
fn clamp_flag_must_be_boolean() {
    // Row 1 element 0 has q = hi: then b = -t satisfies every other clamp constraint.
    let (m, x) = model();
    let mut c = circuit(&m, &x);
    let n_t = shape(&c).n_t;
    let t = 5;
    elem(&mut c, ROWS, 1, 0).b = fe(-t);
    elem(&mut c, ROWS, 1, 0).t = limbs_of(&c, t, n_t);
    assert_fails_exactly(&failures(&c), &[&["b * (1 - b) = 0", "rows: softmax"]]);
}

#[test]
fn clamped_output_must_be_hi() {
    // Row 0 element 0 is clamped (b = 1); claim y = 126.
    let (m, x) = model();
    let mut c = circuit(&m, &x);
    let n_y = shape(&c).n_y;
    elem(&mut c, ROWS, 0, 0).y = fe(126);
    elem(&mut c, ROWS, 0, 0).y_limbs = limbs_of(&c, 126, n_y);
    let inst = instance_with_output(&c, &m, 0, 126);
    assert_fails_exactly(
        &failures_with(&c, inst),
        &[&["b * (y - hi) = 0", "rows: softmax"]],
    );
}

#[test]
fn unclamped_output_must_be_q() {
    // Row 2 element 1 (one of the tied maxima) is not clamped; claim y + 1.
    let (m, x) = model();
    let mut c = circuit(&m, &x);
    let n_y = shape(&c).n_y;
    let y = int(elem(&mut c, ROWS, 2, 1).y) + 1;
    elem(&mut c, ROWS, 2, 1).y = fe(y);
    elem(&mut c, ROWS, 2, 1).y_limbs = limbs_of(&c, y, n_y);
    let inst = instance_with_output(&c, &m, 9, y as i64);
    assert_fails_exactly(
        &failures_with(&c, inst),
        &[&["(1 - b) * (y - q) = 0", "rows: softmax"]],
    );
}

#[test]
fn clamp_excess_must_match() {
    let (m, x) = model();
    let mut c = circuit(&m, &x);
    let n_t = shape(&c).n_t;
    let bits = c.params().range_bits;
    let t = int_limbs(&elem(&mut c, ROWS, 2, 0).t, bits);
    elem(&mut c, ROWS, 2, 0).t = limbs_of(&c, t + 1, n_t);
    assert_fails_exactly(
        &failures(&c),
        &[&["t = b*(q - hi - 1) + (1 - b)*(hi - q)", "rows: softmax"]],
    );
}

#[test]
fn output_must_match_its_limbs() {
    let (m, x) = model();
    let mut c = circuit(&m, &x);
    let n_y = shape(&c).n_y;
    let y = int(elem(&mut c, ROWS, 2, 0).y);
    elem(&mut c, ROWS, 2, 0).y_limbs = limbs_of(&c, y + 1, n_y);
    assert_fails_exactly(&failures(&c), &[&["y = sum y_i 2^(R i)", "rows: softmax"]]);
}

#[test]
fn exponentials_must_come_from_the_table() {
    // A consistent witness for a table whose entry 25 is larger: only the lookup of row 2's
    // element 0 (difference 30 - 5 = 25) fails.
    let (m, x) = model();
    let mut c = circuit(&m, &x);
    let (params, _) = params_and_table(&c, ROWS);
    let mut fake = table(&c, ROWS);
    fake.values[25] += 1000;
    let w = SoftmaxWitness::compute(
        &params,
        &fake,
        &[5, 30, 30, -7],
        None,
        &shape(&c),
        c.params().range_bits,
    );
    let inst = set_row(&mut c, ROWS, 2, w);
    assert_fails_exactly(
        &failures_with(&c, inst),
        &[&["Lookup softmax slot", "(tag, m - x, e) in lut table"]],
    );
}

#[test]
fn maximum_above_every_element_fails_the_product() {
    let (m, x) = model();
    let mut c = circuit(&m, &x);
    let (params, _) = params_and_table(&c, ROWS);
    let w = SoftmaxWitness::compute_with_max(
        &params,
        &table(&c, ROWS),
        &[5, 30, 30, -7],
        31,
        None,
        &shape(&c),
        c.params().range_bits,
    );
    let inst = set_row(&mut c, ROWS, 2, w);
    // The running product ends at (31-5)(1)(1)(38) != 0: its copy to the zero cell fails.
    assert_fails_exactly(&failures_with(&c, inst), &[&["Equality constraint"]]);
}

#[test]
fn maximum_below_an_element_fails_the_lookup() {
    // m = 5 equals an element (the product is zero) but 5 - 30 < 0 is not a table difference.
    let (m, x) = model();
    let mut c = circuit(&m, &x);
    let (params, _) = params_and_table(&c, ROWS);
    let w = SoftmaxWitness::compute_with_max(
        &params,
        &table(&c, ROWS),
        &[5, 30, 30, -7],
        5,
        None,
        &shape(&c),
        c.params().range_bits,
    );
    let inst = set_row(&mut c, ROWS, 2, w);
    assert_fails_exactly(
        &failures_with(&c, inst),
        &[&["Lookup softmax slot", "(tag, m - x, e) in lut table"]],
    );
}

#[test]
fn elements_are_copies_of_the_input() {
    let (m, x) = model();
    let mut c = circuit(&m, &x);
    let (params, _) = params_and_table(&c, ROWS);
    let w = SoftmaxWitness::compute(
        &params,
        &table(&c, ROWS),
        &[5, 30, 29, -7],
        None,
        &shape(&c),
        c.params().range_bits,
    );
    let inst = set_row(&mut c, ROWS, 2, w);
    assert_fails_exactly(&failures_with(&c, inst), &[&["Equality constraint"]]);
}

// ---------------------------------------------------------------------------------------
// Canonical alternatives of the rounded division.

#[test]
fn quotient_minus_one_with_remainder_plus_2s_fails_the_upper_range() {
    // y - 1 with r + 2S satisfies the division, but then r >= 2S: r2 = 2S - 1 - r < 0.
    let (m, x) = model();
    let mut c = circuit(&m, &x);
    let sh = shape(&c);
    let bits = c.params().range_bits;
    let j = 1;
    let e = elem(&mut c, ROWS, 2, j).clone();
    let (q, s) = (int(e.q), int(e.sum));
    let r = remainder(&mut c, j) + 2 * s;
    assert!(r < 1 << (sh.n_r as u32 * bits), "r still fits its limbs");
    let e = elem(&mut c, ROWS, 2, j);
    e.q = fe(q - 1);
    e.y = fe(q - 1);
    e.t = limbs_of_bits(127 - (q - 1), sh.n_t, bits);
    e.y_limbs = limbs_of_bits(q - 1, sh.n_y, bits);
    e.r = limbs_of_bits(r, sh.n_r, bits);
    // The raw negative value, as the only limb: the limb sum holds, its range check fails.
    let mut r2 = vec![Fr::zero(); sh.n_r];
    r2[0] = fe(2 * s - 1 - r);
    e.r2 = r2;
    let inst = instance_with_output(&c, &m, 9, (q - 1) as i64);
    assert_fails_exactly(
        &failures_with(&c, inst),
        &[&["Lookup range lane", "range lanes"]],
    );
}

#[test]
fn quotient_plus_one_with_negative_remainder_fails_the_lower_range() {
    let (m, x) = model();
    let mut c = circuit(&m, &x);
    let sh = shape(&c);
    let bits = c.params().range_bits;
    let j = 3;
    let e = elem(&mut c, ROWS, 2, j).clone();
    let (q, s) = (int(e.q), int(e.sum));
    let r = remainder(&mut c, j) - 2 * s;
    let e = elem(&mut c, ROWS, 2, j);
    e.q = fe(q + 1);
    e.y = fe(q + 1);
    e.t = limbs_of_bits(127 - (q + 1), sh.n_t, bits);
    e.y_limbs = limbs_of_bits(q + 1, sh.n_y, bits);
    let mut rl = vec![Fr::zero(); sh.n_r];
    rl[0] = fe(r);
    e.r = rl;
    e.r2 = limbs_of_bits(2 * s - 1 - r, sh.n_r, bits);
    let inst = instance_with_output(&c, &m, 11, (q + 1) as i64);
    assert_fails_exactly(
        &failures_with(&c, inst),
        &[&["Lookup range lane", "range lanes"]],
    );
}

fn limbs_of_bits(v: i128, n: usize, bits: u32) -> Vec<Fr> {
    tk_circuit::chips::decompose(u128::try_from(v).unwrap(), n, bits).expect("fits")
}

// ---------------------------------------------------------------------------------------
// Real proof.

#[test]
fn softmax_proves_and_verifies() {
    let (m, x) = model();
    let values = execute(&m, &x);
    let c = circuit(&m, &x);
    let params = time(&format!("softmax: params k={}", c.k()), || {
        setup_params(c.k(), 1)
    });
    let pk = time("softmax: keygen", || keygen(&params, &c)).unwrap();
    let proof = time("softmax: prove", || {
        prove(&params, &pk, &c, ChaCha20Rng::seed_from_u64(7))
    })
    .unwrap();
    let outputs = [values[1].clone(), values[2].clone()];
    let public = public_instance(&m, &x, &outputs).unwrap();
    assert_eq!(public, c.instance());
    verify(&params, &pk.vk(), &public, &proof).unwrap();
    // The verifying key depends on the model only.
    let keygen_circuit = ModelCircuit::for_keygen(&m, &PlanOptions::default()).unwrap();
    let pk2 = keygen(&params, &keygen_circuit).unwrap();
    assert_eq!(pk.vk().to_bytes().unwrap(), pk2.vk().to_bytes().unwrap());
    // Another output does not verify.
    let mut other = outputs.clone();
    other[0].data[8] = 0;
    let wrong = public_instance(&m, &x, &other).unwrap();
    assert!(verify(&params, &pk.vk(), &wrong, &proof).is_err());
}
