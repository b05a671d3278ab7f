//! An activation fused into its producer's requantization (integer standard version 2,
//! `Requant::clamp`): the fused model proves exactly the values of the unfused one, its
//! requant slots reject values outside the fused bounds, and a real proof verifies.

mod common;

use common::*;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use tk_circuit::field::fe;
use tk_circuit::prelude::*;
use tk_quant::ops::{Add, Clip, QOp};
use tk_quant::{QModel, QTensor};

fn gemm(k: usize, n: usize, seed: u64) -> QOp {
    gemm_op(k, n, seed, 37)
}

/// x [1, 16] -> fc1 (8) -> clip(lo, hi) -> fc2 (4), unfused.
fn mlp(lo: i32, hi: i32) -> (QModel, Vec<QTensor>) {
    let mut b = Builder::default();
    let x = b.input(&[1, 16], 8);
    let h = b.op("fc1", gemm(16, 8, 1), &[x], &[1, 8], 8);
    let r = b.op("act", QOp::Clip(Clip { lo, hi }), &[h], &[1, 8], 8);
    let y = b.op("fc2", gemm(8, 4, 5), &[r], &[1, 4], 8);
    b.output(y);
    (b.build(), vec![tensor(&[1, 16], values(16, -128, 127, 9))])
}

/// Builds the circuit of `m` on `values` without the witness check and asserts that the
/// constraint `constraint` fails in a region whose name contains `region`.
fn assert_constraint_fails(m: &QModel, values: &[QTensor], constraint: &str, region: &str) {
    let c = ModelCircuit::new_unchecked(m, &witnesses(m, values), &PlanOptions::default()).unwrap();
    let f = failures(&c);
    assert!(
        f.iter()
            .any(|f| f.contains(constraint) && f.contains(region)),
        "{f:#?}"
    );
}

/// Node ids: unfused (x, fc1, act, fc2), fused (x, fc1, fc2).
const FC1: usize = 1;
const ACT: usize = 2;
const FUSED_FC2: usize = 2;

/// The unfused and fused models, their values, and the inputs.
fn fused(lo: i32, hi: i32) -> (QModel, Vec<QTensor>, Vec<QTensor>, Vec<QTensor>) {
    let (mut unfused, x) = mlp(lo, hi);
    unfused.scales = (0..4)
        .map(|node| tk_quant::NodeScale { node, scale: 0.5 })
        .collect();
    unfused.validate().unwrap();
    let m = tk_quant::fuse_clamps(unfused.clone());
    m.validate().unwrap();
    assert_eq!(m.graph.nodes.len(), 3);
    assert_eq!(m.graph.nodes[FC1].op.fused_clamp(), Some([lo, hi]));
    let (before, after) = (execute(&unfused, &x), execute(&m, &x));
    // The fused fc1 holds the activation's values; the output is unchanged.
    assert_eq!(after[FC1], before[ACT]);
    assert_eq!(after[FUSED_FC2], before[3]);
    (m, x, before, after)
}

#[test]
fn a_fused_relu_is_proven_in_the_producers_slots() {
    let (m, x, before, after) = fused(0, 127);
    let e = before[FC1].data.iter().position(|&v| v < 0).unwrap();
    let mut c = circuit(&m, &x);
    assert_eq!(c.ops()[FC1].fold, None);
    assert_satisfied(&c);
    let job = requant_job(&mut c, FC1, e);
    assert_eq!((job.params.lo, job.params.hi), (0, 127));
    assert_eq!(job.witness.y, fe(after[FC1].data[e].into()));
    assert_eq!(after[FC1].data[e], 0);
}

#[test]
fn values_below_the_fused_lower_bound_are_rejected() {
    let (m, _, before, after) = fused(0, 127);
    let e = before[FC1].data.iter().position(|&v| v < 0).unwrap();
    let mut values = after.clone();
    values[FC1].data[e] = before[FC1].data[e];
    // The checked constructor compares the witness with the integer standard.
    let err = ModelCircuit::new(&m, &witnesses(&m, &values), &PlanOptions::default()).unwrap_err();
    assert!(
        matches!(err, CircuitError::WitnessMismatch { node: FC1, index, .. } if index == e),
        "{err}"
    );
    // The constraints alone reject it too.
    assert_constraint_fails(&m, &values, "b_lo * (y - lo) = 0", "fc1: requant");
}

#[test]
fn values_above_the_fused_upper_bound_are_rejected() {
    let (m, x, before, after) = fused(-5, 20);
    let e = before[FC1].data.iter().position(|&v| v > 20).unwrap();
    assert_eq!(after[FC1].data[e], 20);
    assert_satisfied(&circuit(&m, &x));
    let mut values = after.clone();
    values[FC1].data[e] = before[FC1].data[e];
    assert_constraint_fails(&m, &values, "b_hi * (y - hi) = 0", "fc1: requant");
}

#[test]
fn an_empty_or_out_of_range_fused_clamp_is_refused() {
    let (m, x, _, _) = fused(0, 127);
    for clamp in [[5, 4], [-129, 0], [0, 128]] {
        let mut bad = m.clone();
        if let Some(slot) = bad.graph.nodes[FC1].op.fused_clamp_slot() {
            *slot = Some(clamp);
        }
        let values = execute(&m, &x);
        let err =
            ModelCircuit::new_unchecked(&bad, &witnesses(&bad, &values), &PlanOptions::default())
                .err()
                .unwrap_or_else(|| panic!("{clamp:?} accepted"));
        assert!(
            matches!(err, CircuitError::InvalidModel { node: FC1, .. }),
            "{clamp:?}: {err}"
        );
    }
}

/// a [1, 2, 3, 3] + b [1, 2, 1, 1] -> relu, fused into the Add (unfused: x, y, add, relu).
fn residual() -> (QModel, QModel, Vec<QTensor>) {
    let mut b = Builder::default();
    let x = b.input(&[1, 2, 3, 3], 8);
    let y = b.input(&[1, 2, 1, 1], 8);
    let op = QOp::Add(Add {
        ma: 1_000_000_000,
        mb: -700_000_000,
        shift: 30,
        clamp: None,
    });
    let s = b.op("add", op, &[x, y], &[1, 2, 3, 3], 8);
    let r = b.op(
        "relu",
        QOp::Clip(Clip { lo: 0, hi: 127 }),
        &[s],
        &[1, 2, 3, 3],
        8,
    );
    b.output(r);
    let mut unfused = b.build();
    unfused.scales = (0..4)
        .map(|node| tk_quant::NodeScale { node, scale: 0.5 })
        .collect();
    unfused.validate().unwrap();
    let m = tk_quant::fuse_clamps(unfused.clone());
    assert_eq!(m.graph.nodes.len(), 3);
    assert_eq!(m.graph.nodes[2].op.fused_clamp(), Some([0, 127]));
    let inputs = vec![
        tensor(&[1, 2, 3, 3], values(18, -128, 127, 21)),
        tensor(&[1, 2, 1, 1], vec![90, -60]),
    ];
    (unfused, m, inputs)
}

#[test]
fn a_relu_fused_into_an_add_is_proven_and_checked() {
    let (unfused, m, x) = residual();
    let (before, after) = (execute(&unfused, &x), execute(&m, &x));
    assert_eq!(after[2], before[3]);
    let e = before[2].data.iter().position(|&v| v < 0).unwrap();
    assert_satisfied(&circuit(&m, &x));
    // The unclamped (negative) sum claimed as the fused Add's output.
    let mut values = after.clone();
    values[2].data[e] = before[2].data[e];
    assert_constraint_fails(&m, &values, "b_lo * (y - lo) = 0", "add");
}

#[test]
fn a_fused_clamp_proves_and_verifies() {
    let (m, x, _, _) = fused(0, 127);
    let (_, add, add_inputs) = residual();
    for (m, x, out) in [(&m, &x, FUSED_FC2), (&add, &add_inputs, 2)] {
        let c = circuit(m, x);
        let params = setup_params(c.k(), 1);
        let pk = keygen(&params, &c).expect("keygen");
        let proof = prove(&params, &pk, &c, ChaCha20Rng::seed_from_u64(7)).expect("prove");
        verify(&params, &pk.vk(), c.instance(), &proof).expect("verify");
        // Another claimed output does not verify.
        let y = execute(m, x)[out].data[0];
        let wrong = instance_with_output(&c, m, 0, i64::from(y) + 1);
        assert!(verify(&params, &pk.vk(), &wrong, &proof).is_err());
    }
}
