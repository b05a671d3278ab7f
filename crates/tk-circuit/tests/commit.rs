//! Boundary commitments in the circuit: a committed input and output are packed, hashed in
//! the Poseidon lanes and bound to the instance by their digests. Every constraint of the
//! pack and Poseidon chips has a tampered witness that must fail, the signed range check
//! refuses an input that packs to the same element as the honest one, and a real
//! keygen/prove/verify round trip passes.

mod common;

use std::collections::BTreeSet;

use common::*;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use tk_circuit::chips::poseidon::PERMUTATION_ROWS;
use tk_circuit::commit;
use tk_circuit::prelude::*;
use tk_circuit::{CommitOverrides, PlanOptions};
use tk_quant::ops::QOp;
use tk_quant::{QModel, QTensor};

const LEN: usize = 40;

fn honest() -> (QModel, Vec<QTensor>, ModelCircuit) {
    let (m, x, opts) = committed_clip_model();
    let c = circuit_with(&m, &x, &opts);
    (m, x, c)
}

fn tampered(overrides: CommitOverrides) -> Vec<String> {
    let (_, _, mut c) = honest();
    c.tamper_commitment(overrides);
    failures(&c)
}

fn hash_cell(row: usize, col: usize, v: impl Fn(Fr) -> Fr) -> CommitOverrides {
    // The honest value is not needed: any other value breaks the gate.
    let mut o = CommitOverrides::default();
    o.hash.insert((row, 0, col), v(Fr::from(12345)));
    o
}

fn assert_some_failure(fails: &[String], needles: &[&str]) {
    assert!(
        fails.iter().any(|f| needles.iter().all(|n| f.contains(n))),
        "no failure mentions {needles:?}; failures:\n{}",
        fails.join("\n")
    );
}

#[test]
fn the_instance_holds_digests_not_values() {
    let (m, x, c) = honest();
    assert_satisfied(&c);
    let vals = execute(&m, &x);
    let out = *m.graph.outputs.first().unwrap();
    let mut expected = commit::commit(&x[0].data).unwrap();
    expected.extend(commit::commit(&vals[out].data).unwrap());
    assert_eq!(c.instance(), expected.as_slice());
    assert_eq!(c.instance().len(), 2 * commit::digest_count(LEN));
    let shape = c.params().commit.clone().expect("commitment chips");
    assert_eq!(shape.signed, vec![8]);
}

#[test]
fn another_digest_fails_the_instance_copy() {
    let (_, _, c) = honest();
    let mut inst = c.instance().to_vec();
    inst[0] += Fr::one();
    assert_some_failure(&failures_with(&c, inst.clone()), &["Instance"]);
    let last = inst.len() - 1;
    inst[0] -= Fr::one();
    inst[last] += Fr::one();
    assert_some_failure(&failures_with(&c, inst), &["Instance"]);
}

#[test]
fn a_wrong_packed_element_fails_the_pack_gate() {
    let mut o = CommitOverrides::default();
    o.pack.insert((0, commit::VALUES_PER_ELEMENT), Fr::from(7));
    let fails = tampered(o);
    assert_some_failure(&fails, &["pack slot 0"]);
}

#[test]
fn a_wrong_value_in_a_pack_slot_fails_its_copy_and_the_gate() {
    let mut o = CommitOverrides::default();
    o.pack.insert((1, 3), Fr::from(99));
    let fails = tampered(o);
    assert_some_failure(&fails, &["pack slot"]);
    assert_some_failure(&fails, &["Equality"]);
}

#[test]
fn an_input_aliasing_the_packed_element_fails_the_signed_range_check() {
    let (m, x, mut c) = honest();
    // x0 + 2^16 and x1 - 1 pack to the same element as x0 and x1, so the digests and the
    // pack gate cannot tell them apart: only the range check of committed inputs can.
    let mut forged = x[0].data.clone();
    forged[0] += 1 << 16;
    forged[1] -= 1;
    let e = |v: &[i32]| -> Fr {
        v.iter()
            .take(commit::VALUES_PER_ELEMENT)
            .enumerate()
            .map(|(i, &v)| {
                (Fr::from((i64::from(v) + (1 << 15)) as u64))
                    * tk_circuit::field::pow2(16 * i as u32)
            })
            .sum()
    };
    assert_eq!(e(&forged), e(&x[0].data));
    let input = m.graph.inputs[0];
    match &mut c.ops_mut()[input].kind {
        tk_circuit::OpKind::Input { witness, .. } => {
            witness[0] += Fr::from(1 << 16);
            witness[1] -= Fr::one();
        }
        other => panic!("{other:?}"),
    }
    let mut o = CommitOverrides::default();
    o.pack
        .insert((0, 0), tk_circuit::field::fe(forged[0].into()));
    o.pack
        .insert((0, 1), tk_circuit::field::fe(forged[1].into()));
    c.tamper_commitment(o);
    let fails = failures(&c);
    assert_some_failure(&fails, &["Lookup", "range lane"]);
    // No gate of the commitment fails, nor the digests' instance copies (the equality
    // failures are the clip's own copy of the honest x0, which a cheating prover would change
    // too).
    assert!(
        !fails
            .iter()
            .any(|f| f.contains("gate") || f.contains("Instance")),
        "{fails:#?}"
    );
}

#[test]
fn an_input_outside_its_bits_fails_the_signed_range_check() {
    let (m, _, mut c) = honest();
    let input = m.graph.inputs[0];
    match &mut c.ops_mut()[input].kind {
        tk_circuit::OpKind::Input { witness, .. } => witness[5] = Fr::from(200),
        other => panic!("{other:?}"),
    }
    let mut o = CommitOverrides::default();
    o.pack.insert((0, 5), Fr::from(200));
    c.tamper_commitment(o);
    assert_some_failure(&failures(&c), &["Lookup", "range lane"]);
}

#[test]
fn a_wrong_capacity_fails_the_init_gate() {
    let fails = tampered(hash_cell(0, 2, |v| v));
    assert_some_failure(&fails, &["poseidon init", "initial s2"]);
}

#[test]
fn a_wrong_absorbed_state_fails_the_absorb_gate() {
    let fails = tampered(hash_cell(1, 0, |v| v));
    assert_some_failure(&fails, &["poseidon absorb", "s0' = s0 + x0"]);
}

#[test]
fn a_wrong_absorbed_element_fails_its_copy() {
    let fails = tampered(hash_cell(0, 3, |v| v));
    assert_some_failure(&fails, &["Equality"]);
    assert_some_failure(&fails, &["poseidon absorb"]);
}

#[test]
fn a_wrong_square_fails_the_full_round() {
    let fails = tampered(hash_cell(1, 3, |v| v));
    assert_some_failure(&fails, &["poseidon full round", "x0 = (s0 + c0)^2"]);
}

#[test]
fn a_wrong_state_after_a_full_round_fails_its_mix() {
    let fails = tampered(hash_cell(2, 1, |v| v));
    assert_some_failure(&fails, &["poseidon full round", "s1' = M S(s + c)"]);
}

#[test]
fn a_wrong_square_fails_the_partial_round() {
    // Rounds 0..4 are full; row 1 + 4 holds the first partial round.
    let fails = tampered(hash_cell(5, 3, |v| v));
    assert_some_failure(&fails, &["poseidon partial round", "x0 = (s0 + c0)^2"]);
}

#[test]
fn a_wrong_state_after_a_partial_round_fails_its_mix() {
    let fails = tampered(hash_cell(7, 2, |v| v));
    assert_some_failure(&fails, &["poseidon partial round", "s2' = M S(s + c)"]);
}

#[test]
fn a_wrong_digest_cell_fails() {
    // The digest of lane 0's chunk (one permutation) sits in s0 of row 66.
    let fails = tampered(hash_cell(PERMUTATION_ROWS, 0, |v| v));
    assert_some_failure(&fails, &["poseidon full round"]);
}

#[test]
fn committed_circuit_proves_and_verifies() {
    let (m, _, c) = honest();
    let (_, _, opts) = committed_clip_model();
    let params = setup_params(c.k(), 11);
    let pk = keygen(&params, &ModelCircuit::for_keygen(&m, &opts).unwrap()).unwrap();
    let proof = prove(&params, &pk, &c, ChaCha20Rng::seed_from_u64(1)).unwrap();
    verify(&params, &pk.vk(), c.instance(), &proof).expect("honest proof verifies");
    let mut other = c.instance().to_vec();
    other[1] += Fr::one();
    assert!(verify(&params, &pk.vk(), &other, &proof).is_err());
}

#[test]
fn a_long_dot_product_never_plans_a_row_wider_than_the_key_format_allows() {
    // A 1 x 600 Gemm: packing whole products would ask for rows of 2 * 601 columns. With the
    // input committed the instance is tiny, so only the width limit stops the planner.
    let mut b = Builder::default();
    let x = b.input(&[1, 600], 8);
    let op = tk_quant::ops::Gemm {
        weight: tensor(&[2, 600], values(1200, -127, 127, 9)),
        bias: vec![0, 1],
        requant: tk_quant::ops::Requant {
            multipliers: vec![1 << 30, 1 << 30],
            shifts: vec![40, 40],
            clamp: None,
        },
    };
    let y = b.op("gemm", QOp::Gemm(op), &[x], &[1, 2], 8);
    b.output(y);
    let m = b.build();
    let opts = PlanOptions {
        commit: BTreeSet::from([x]),
        ..PlanOptions::default()
    };
    let c = circuit_with(&m, &[tensor(&[1, 600], values(600, -128, 127, 4))], &opts);
    assert!(
        c.params().width <= tk_circuit::plan::MAX_WIDTH,
        "{:?}",
        c.params()
    );
    c.params().validate().expect("a shape key files accept");
    assert_satisfied(&c);
}
